// Small statistics helpers shared by the benchmarks.

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/**
 * Peak RSS in bytes. Samples on a timer every `everyMs`, and whenever `sample()` is called:
 * a loop that never yields to the event loop (bun:sqlite's synchronous transactions) never
 * lets the timer run, so ingest loops call `sample()` after every batch.
 */
export function rssSampler(everyMs = 5): { sample: () => void; stop: () => number; samples: () => number } {
  let peak = process.memoryUsage.rss();
  let n = 1;
  const sample = () => {
    const r = process.memoryUsage.rss();
    n++;
    if (r > peak) peak = r;
  };
  const t = setInterval(sample, everyMs);
  return {
    sample,
    samples: () => n,
    stop() {
      clearInterval(t);
      sample();
      return peak;
    },
  };
}

/** Median per-call latency in µs: times `calls` calls in groups of `group`, median over groups. */
export function medianLatencyUs(calls: number, group: number, fn: (i: number) => void): number {
  const per: number[] = [];
  for (let g = 0; g < calls / group; g++) {
    const t0 = performance.now();
    for (let i = 0; i < group; i++) fn(g * group + i);
    per.push(((performance.now() - t0) * 1000) / group);
  }
  return median(per);
}

export function dirBytes(path: string): number {
  const { readdirSync, statSync } = require("node:fs") as typeof import("node:fs");
  let total = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = `${path}/${e.name}`;
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
