// Merges the points of one series from several sources (memtables and SSTables), newest
// source first, into one time-ordered stream.
//
// Rules (the LSM contract):
// - For equal timestamps the newest source wins (last write wins).
// - A tombstone in source i hides points of every OLDER source (index > i). Points in the
//   same source were already removed when the delete was applied or merged.
// - Points older than the retention cutoff are never returned.

import type { Value } from "../codec/columns.ts";
import type { Tombstone } from "../memtable/memtable.ts";
import type { Run } from "../sstable/table_reader.ts";

export interface MergeSource {
  runs: Iterator<Run>;
  /** Tombstones of every source newer than this one (they hide this source's points). */
  hiddenBy: readonly Tombstone[];
}

function covered(tombs: readonly Tombstone[], ts: number): boolean {
  for (let i = 0; i < tombs.length; i++) {
    const t = tombs[i]!;
    if (ts >= t.fromTs && ts <= t.toTs) return true;
  }
  return false;
}

export interface SeriesPoint {
  key: string;
  ts: number;
  value: Value;
}

/**
 * Yields at most `limit` points of `key` in ascending (or, with reverse, descending) time
 * order; calls `onDone` when finished or abandoned (iterator return), never twice.
 */
export function* mergeSeries(
  key: string,
  sources: readonly MergeSource[],
  reverse: boolean,
  cutoffTs: number,
  limit = Infinity,
  onDone?: () => void,
): Generator<SeriesPoint> {
  try {
    if (limit > 0) yield* merge(key, sources, reverse, cutoffTs, limit);
  } finally {
    onDone?.();
  }
}

function* merge(key: string, sources: readonly MergeSource[], reverse: boolean, cutoffTs: number, limit: number): Generator<SeriesPoint> {
  let emitted = 0;
  const n = sources.length;
  if (n === 1 && sources[0]!.hiddenBy.length === 0) {
    // Fast path: one source, nothing to hide. Whole runs are turned into points in a tight
    // loop and handed out from an array, which costs far less than a yield per point.
    for (let r = sources[0]!.runs.next(); !r.done; r = sources[0]!.runs.next()) {
      const { ts, vals, start, end } = r.value;
      const out: SeriesPoint[] = [];
      if (!reverse) {
        for (let i = start; i < end && emitted + out.length < limit; i++) {
          if (ts[i]! >= cutoffTs) out.push({ key, ts: ts[i]!, value: vals[i]! });
        }
      } else {
        for (let i = end - 1; i >= start && emitted + out.length < limit && ts[i]! >= cutoffTs; i--) {
          out.push({ key, ts: ts[i]!, value: vals[i]! });
        }
      }
      emitted += out.length;
      yield* out;
      if (emitted >= limit || (reverse && start < end && ts[start]! < cutoffTs)) return;
    }
    return;
  }
  const runs: (Run | null)[] = new Array(n).fill(null);
  const pos: number[] = new Array(n).fill(0);
  const load = (i: number): void => {
    for (;;) {
      const r = sources[i]!.runs.next();
      if (r.done) {
        runs[i] = null;
        return;
      }
      const run = r.value;
      if (run.end > run.start) {
        runs[i] = run;
        pos[i] = reverse ? run.end - 1 : run.start;
        return;
      }
    }
  };
  for (let i = 0; i < n; i++) load(i);
  const step = (i: number): void => {
    const run = runs[i]!;
    if (reverse) {
      if (--pos[i]! < run.start) load(i);
    } else if (++pos[i]! >= run.end) load(i);
  };


  for (;;) {
    let best = -1;
    let bestTs = 0;
    for (let i = 0; i < n; i++) {
      const run = runs[i];
      if (!run) continue;
      const ts = run.ts[pos[i]!]!;
      if (best < 0 || (reverse ? ts > bestTs : ts < bestTs)) {
        best = i;
        bestTs = ts;
      }
    }
    if (best < 0) return;
    if (reverse && bestTs < cutoffTs) return;
    const value = runs[best]!.vals[pos[best]!]!;
    const visible = bestTs >= cutoffTs && !covered(sources[best]!.hiddenBy, bestTs);
    for (let i = best; i < n; i++) {
      const run = runs[i];
      if (run && run.ts[pos[i]!] === bestTs) step(i);
    }
    if (visible) {
      yield { key, ts: bestTs, value };
      if (++emitted >= limit) return;
    }
  }
}
