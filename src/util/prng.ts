// mulberry32: a small, fast, seedable PRNG. Deterministic for a seed, so a seeded run (MemFs
// power cuts, benchmark workloads, property tests) replays exactly. Never for anything secret
// (nonces and secrets come from node:crypto). The sequence for a seed is pinned: the benchmark
// workloads' digests (test/bench/workload.test.ts) depend on it.

/** Numbers in [0, 1), the same sequence for the same seed (taken modulo 2^32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
