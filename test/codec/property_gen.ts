// Generators and case sweeps for the codec property tests (test/*/properties.test.ts).
//
// Every encoder is run into a ByteWriter started at each initial capacity 1..64 that already
// holds a random prefix of 0..64 bytes, so every write lands at every distance from the end
// of the buffer: the 2026-11 uvarint bug (bytes written into a buffer that had just been
// replaced) showed only when a write straddled a growth. Seeded: a failure names its case.

import { ByteWriter } from "../../src/codec/bytes.ts";
import type { Value } from "../../src/codec/columns.ts";
import { MAX_ABS_TS_MS } from "../../src/codec/columns.ts";
import { rng } from "../helpers.ts";

export type Rand = () => number;

export const MAX_CAPACITY_BYTES = 64;
export const MAX_PREFIX_BYTES = 64;
/** 2026-01-01T00:00:00Z, a real epoch-ms timestamp (>= 2^31, so a multi-byte uvarint). */
export const EPOCH_MS = 1_767_225_600_000;

/** Integer in [lo, hi]. */
export function int(r: Rand, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export function pick<T>(r: Rand, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

export function shuffle<T>(r: Rand, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

export interface WriterCase {
  /** Seeded PRNG for this case only. */
  r: Rand;
  capacityBytes: number;
  prefixBytes: number;
  /** A name for failure messages. */
  label: string;
}

/**
 * Capacities 1..64, each with `prefixesPerCapacity` prefix lengths: "all" gives every length
 * 0..64; a number gives 0, 64 and random lengths in between.
 */
export function* writerCases(seed: number, prefixesPerCapacity: number | "all"): Generator<WriterCase> {
  const top = rng(seed);
  for (let cap = 1; cap <= MAX_CAPACITY_BYTES; cap++) {
    let prefixes: number[];
    if (prefixesPerCapacity === "all") prefixes = Array.from({ length: MAX_PREFIX_BYTES + 1 }, (_, i) => i);
    else {
      prefixes = [0, MAX_PREFIX_BYTES];
      while (prefixes.length < prefixesPerCapacity) prefixes.push(int(top, 1, MAX_PREFIX_BYTES - 1));
      prefixes.length = prefixesPerCapacity;
    }
    for (const p of prefixes) {
      const caseSeed = (top() * 2 ** 32) >>> 0;
      yield { r: rng(caseSeed), capacityBytes: cap, prefixBytes: p, label: `capacity ${cap}, prefix ${p} (seed ${seed}/${caseSeed})` };
    }
  }
}

export function randomBytes(r: Rand, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/** A writer at `c.capacityBytes` already holding `c.prefixBytes` random bytes (by raw or by u8). */
export function prefixedWriter(c: WriterCase): { w: ByteWriter; prefix: Uint8Array } {
  const w = new ByteWriter(c.capacityBytes);
  const prefix = randomBytes(c.r, c.prefixBytes);
  if (c.r() < 0.5) w.raw(prefix);
  else for (const b of prefix) w.u8(b);
  return { w, prefix };
}

/** A writer factory for builders: each writer gets a capacity and a prefix from `r`. */
export function prefixedWriterFactory(r: Rand, capacityBytes: number): (capacityHint: number) => ByteWriter {
  return () => prefixedWriter({ r, capacityBytes, prefixBytes: int(r, 0, MAX_PREFIX_BYTES), label: "" }).w;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The prefix must survive everything written after it. */
export function prefixIntact(w: ByteWriter, prefix: Uint8Array): boolean {
  return w.lengthBytes >= prefix.length && sameBytes(w.buf.subarray(0, prefix.length), prefix);
}

/** Object.is element-wise: -0, NaN and every string exact. */
export function sameValues(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

export function show(v: unknown): string {
  if (typeof v === "string") return v.length > 40 ? `${JSON.stringify(v.slice(0, 40))}... (${v.length} chars)` : JSON.stringify(v);
  if (Object.is(v, -0)) return "-0";
  if (Array.isArray(v)) return `[${v.slice(0, 6).map(show).join(", ")}${v.length > 6 ? `, ... ${v.length} items` : ""}]`;
  return String(v);
}

/** Collects failures so a sweep of thousands of cases reports the first few precisely. */
export class Failures {
  readonly list: string[] = [];
  count = 0;
  add(message: string): void {
    this.count++;
    if (this.list.length < 8) this.list.push(message);
  }
  /** Call at the end: `expect(f.report()).toBe("")`. */
  report(): string {
    return this.count === 0 ? "" : `${this.count} failures, first ${this.list.length}:\n${this.list.join("\n")}`;
  }
}

// ------------------------------------------------------------------ boundary values

const pow2 = (k: number) => 2 ** k;

/** 0..2^53-1: every 2^k - 1, 2^k, 2^k + 1, the varint byte edges 128^k +- 1, epoch-ms times. */
export const UNSIGNED_BOUNDARIES: readonly number[] = (() => {
  const s = new Set<number>([0, 1, 2, 3590600000000, EPOCH_MS, MAX_ABS_TS_MS, Number.MAX_SAFE_INTEGER, 2 ** 53 - 2]);
  for (let k = 1; k <= 53; k++) for (const v of [pow2(k) - 1, pow2(k), pow2(k) + 1]) if (v <= Number.MAX_SAFE_INTEGER) s.add(v);
  for (let k = 1; k <= 7; k++) for (const v of [128 ** k - 1, 128 ** k, 128 ** k + 1]) if (v <= Number.MAX_SAFE_INTEGER) s.add(v);
  return [...s].sort((a, b) => a - b);
})();

/** -2^52..2^52-1 (the svarint range). */
export const SIGNED_BOUNDARIES: readonly number[] = (() => {
  const s = new Set<number>([-(2 ** 52), 2 ** 52 - 1]);
  for (const v of UNSIGNED_BOUNDARIES) {
    if (v < 2 ** 52) s.add(v);
    if (v <= 2 ** 52) s.add(-v);
  }
  s.delete(-0);
  s.add(0);
  return [...s].sort((a, b) => a - b);
})();

export const U32_BOUNDARIES: readonly number[] = UNSIGNED_BOUNDARIES.filter((v) => v <= 0xffffffff);

export const F64_SPECIALS: readonly number[] = [
  0, -0, NaN, Infinity, -Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE,
  Number.EPSILON, 0.1, -0.1, 1 / 3, 2.5e-308, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 2 ** 64, 1e21, 123.456, -273.15,
  Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 3590600000000.5,
];

/** Any float64 bit pattern (NaN payloads included). */
export function randomF64(r: Rand): number {
  const v = new DataView(new ArrayBuffer(8));
  v.setUint32(0, (r() * 2 ** 32) >>> 0);
  v.setUint32(4, (r() * 2 ** 32) >>> 0);
  return v.getFloat64(0);
}

/** Unsigned integer with a random magnitude (so every varint length is common). */
export function randomUnsigned(r: Rand, maxBits = 53): number {
  return Math.floor(r() * 2 ** int(r, 0, maxBits)) % (Number.MAX_SAFE_INTEGER + 1);
}

export function randomSigned(r: Rand, maxBits = 52): number {
  const v = Math.floor(r() * 2 ** int(r, 0, maxBits));
  return r() < 0.5 && v !== 0 ? -v : Math.min(v, 2 ** maxBits - 1);
}

// ------------------------------------------------------------------ strings

/** Code point ranges: ASCII, Latin-1, combining marks, Greek, CJK, Hangul, emoji, private use. */
const CODE_POINT_RANGES: readonly [number, number][] = [
  [0x20, 0x7e], [0x20, 0x7e], [0x01, 0x1f], [0xa0, 0xff], [0x300, 0x36f], [0x391, 0x3c9], [0x4e00, 0x9fff],
  [0xac00, 0xd7a3], [0x1f300, 0x1f64f], [0x1f900, 0x1f9ff], [0xe000, 0xf8ff], [0x10000, 0x10ffff],
];

export const STRING_SAMPLES: readonly string[] = [
  "", "a", "é", "e\u0301", "\u0000", "😀", "東京", "👩‍👩‍👧", "Ελλάδα", "한국어", "a\u0308\u0304",
  "x".repeat(127), "x".repeat(128), "x".repeat(129), "x".repeat(255), "x".repeat(300),
  "東".repeat(42), "東".repeat(43), "😀".repeat(31), "😀".repeat(32), "😀".repeat(33), "ü".repeat(63), "ü".repeat(64),
  "sensor.温度.😀.e\u0301".repeat(9), "y".repeat(16_384), "z".repeat(16_385),
];

/** A well-formed string of up to `maxCodePoints` code points from mixed scripts. */
export function randomString(r: Rand, maxCodePoints: number): string {
  const n = r() < 0.2 ? int(r, 0, 3) : int(r, 0, maxCodePoints);
  const range = pick(r, CODE_POINT_RANGES);
  let s = "";
  for (let i = 0; i < n; i++) {
    const [lo, hi] = r() < 0.7 ? range : pick(r, CODE_POINT_RANGES);
    s += String.fromCodePoint(int(r, lo, hi));
  }
  return s;
}

export function randomKey(r: Rand): string {
  return r() < 0.3 ? pick(r, STRING_SAMPLES.filter((s) => s.length > 0 && s.length < 1000)) : randomString(r, 80) || "k";
}

// ------------------------------------------------------------------ series

/** Timestamps of one series: regular, jittered, unsorted, or at the ±2^49 extremes. */
export function randomTimestamps(r: Rand, n: number, ascending: boolean): number[] {
  const kind = int(r, 0, 3);
  let t: number[];
  if (kind === 0) {
    const start = EPOCH_MS + int(r, 0, 1e9);
    const step = pick(r, [1, 1000, 10_000, 60_000]);
    t = Array.from({ length: n }, (_, i) => start + i * step);
  } else if (kind === 1) {
    let x = EPOCH_MS + int(r, -1e12, 1e12);
    t = Array.from({ length: n }, () => (x += int(r, 1, 5000)));
  } else if (kind === 2) {
    t = Array.from({ length: n }, () => (r() < 0.3 ? pick(r, [MAX_ABS_TS_MS, -MAX_ABS_TS_MS, 0, 1, -1, EPOCH_MS, 2 ** 31, 2 ** 32]) : int(r, -MAX_ABS_TS_MS, MAX_ABS_TS_MS)));
  } else {
    t = Array.from({ length: n }, () => int(r, -MAX_ABS_TS_MS, MAX_ABS_TS_MS));
  }
  if (!ascending) return t;
  const sorted = [...new Set(t)].sort((a, b) => a - b);
  // Strictly increasing, same length: fill any duplicates removed by the set.
  while (sorted.length < n) sorted.push(sorted[sorted.length - 1]! + 1);
  return sorted;
}

export type ValueKind = "decimal" | "float" | "string" | "mixed";

export function randomValues(r: Rand, n: number, kind: ValueKind = pick(r, ["decimal", "float", "string", "mixed"] as const)): Value[] {
  switch (kind) {
    case "decimal": {
      const d = int(r, 0, 6);
      const p = 10 ** d;
      let x = int(r, -1e6, 1e6);
      return Array.from({ length: n }, () => {
        x += r() < 0.1 ? int(r, -(2 ** 40), 2 ** 40) : int(r, -50, 50);
        if (r() < 0.05) return pick(r, [0, 1, -1, 2 ** 50 / p, -(2 ** 50) / p, 0.5, 2 ** 31, 2 ** 32 + 1]);
        return x / p;
      });
    }
    case "float":
      return Array.from({ length: n }, () => (r() < 0.3 ? pick(r, F64_SPECIALS) : r() < 0.5 ? randomF64(r) : r() * 1000 - 500));
    case "string":
      return Array.from({ length: n }, () => (r() < 0.2 ? pick(r, STRING_SAMPLES.filter((s) => s.length < 1000)) : randomString(r, 70)));
    case "mixed":
      return Array.from({ length: n }, () => (r() < 0.5 ? randomString(r, 50) : r() < 0.3 ? pick(r, F64_SPECIALS) : randomF64(r)));
  }
}
