// The in-memory write buffer: one time-ordered array pair per series.
//
// Why not a skip list: time-series writes arrive in time order per series, so the common
// case is an append (O(1)); out-of-order points fall back to a binary-search insert. Keys
// are sorted once, when the table is flushed.
//
// Invariants: for every series, `ts` is strictly increasing and `vals[i]` belongs to
// `ts[i]`. A delete removes covered points from this table at once and is also kept as a
// tombstone, because it must hide points in older tables too.

import type { Value } from "../codec/columns.ts";

export interface Series {
  ts: number[];
  vals: Value[];
}

export interface Tombstone {
  key: string;
  fromTs: number;
  toTs: number;
}

/**
 * Memory cost of a point as measured in Bun (RSS growth over 1M factory points, no flush):
 * two 8-byte array slots, up to 2x spare capacity from array growth, and GC headroom.
 */
const POINT_OVERHEAD_BYTES = 48;
const SERIES_OVERHEAD_BYTES = 120;

/** First index i with ts[i] >= t (ts ascending). */
export function lowerBound(ts: ArrayLike<number>, t: number, lo = 0, hi = ts.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index i with ts[i] > t (ts ascending). */
export function upperBound(ts: ArrayLike<number>, t: number, lo = 0, hi = ts.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemTable {
  readonly series = new Map<string, Series>();
  readonly tombstones: Tombstone[] = [];
  /** Tombstones by key, for reads. */
  private readonly tombsByKey = new Map<string, Tombstone[]>();
  sizeBytes = 0;
  points = 0;
  /** Lowest and highest sequence numbers applied; 0 when empty. */
  minSeq = 0;
  maxSeq = 0;

  noteSeq(seq: number): void {
    if (this.minSeq === 0) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  isEmpty(): boolean {
    return this.points === 0 && this.tombstones.length === 0;
  }

  /** Inserts or overwrites points of one series (arrays parallel, any order). */
  putSeries(key: string, ts: readonly number[], vals: readonly Value[]): void {
    let s = this.series.get(key);
    if (s === undefined) {
      s = { ts: [], vals: [] };
      this.series.set(key, s);
      this.sizeBytes += SERIES_OVERHEAD_BYTES + key.length * 2;
    }
    const sts = s.ts;
    const svals = s.vals;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      const v = vals[i]!;
      const n = sts.length;
      if (n === 0 || t > sts[n - 1]!) {
        sts.push(t);
        svals.push(v);
        this.points++;
        this.sizeBytes += POINT_OVERHEAD_BYTES + (typeof v === "string" ? v.length * 2 : 0);
      } else {
        const j = lowerBound(sts, t);
        if (sts[j] === t) {
          const old = svals[j]!;
          this.sizeBytes += (typeof v === "string" ? v.length * 2 : 0) - (typeof old === "string" ? old.length * 2 : 0);
          svals[j] = v;
        } else {
          sts.splice(j, 0, t);
          svals.splice(j, 0, v);
          this.points++;
          this.sizeBytes += POINT_OVERHEAD_BYTES + (typeof v === "string" ? v.length * 2 : 0);
        }
      }
    }
  }

  deleteRange(key: string, fromTs: number, toTs: number): void {
    const tomb = { key, fromTs, toTs };
    this.tombstones.push(tomb);
    let list = this.tombsByKey.get(key);
    if (!list) this.tombsByKey.set(key, (list = []));
    list.push(tomb);
    this.sizeBytes += SERIES_OVERHEAD_BYTES + key.length * 2;
    const s = this.series.get(key);
    if (!s) return;
    const a = lowerBound(s.ts, fromTs);
    const b = upperBound(s.ts, toTs);
    if (b <= a) return;
    for (let i = a; i < b; i++) {
      const v = s.vals[i]!;
      this.sizeBytes -= POINT_OVERHEAD_BYTES + (typeof v === "string" ? v.length * 2 : 0);
    }
    s.ts.splice(a, b - a);
    s.vals.splice(a, b - a);
    this.points -= b - a;
  }

  tombstonesFor(key: string): readonly Tombstone[] {
    return this.tombsByKey.get(key) ?? [];
  }

  /** Series keys in byte order of their UTF-8 encoding (the SSTable order). */
  sortedKeys(): string[] {
    return [...this.series.keys()].sort(compareKeys);
  }
}

/**
 * Orders keys by their UTF-8 bytes. For strings without surrogate pairs, UTF-16 code-unit
 * order equals code-point order equals UTF-8 byte order; with surrogates we compare code
 * points explicitly.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) {
      if (ca >= 0xd800 && ca <= 0xdfff || cb >= 0xd800 && cb <= 0xdfff) {
        const pa = a.codePointAt(i)!;
        const pb = b.codePointAt(i)!;
        if (pa !== pb) return pa < pb ? -1 : 1;
      }
      return ca < cb ? -1 : 1;
    }
  }
  return a.length - b.length;
}
