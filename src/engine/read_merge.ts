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

/** Yields [ts, value] pairs in ascending (or, with reverse, descending) time order. */
export function* mergeSeries(
  sources: readonly MergeSource[],
  reverse: boolean,
  cutoffTs: number,
): Generator<[number, Value]> {
  const n = sources.length;
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

  if (n === 1 && sources[0]!.hiddenBy.length === 0) {
    // Fast path: one source, nothing to hide.
    while (runs[0]) {
      const run = runs[0];
      const p = pos[0]!;
      const ts = run.ts[p]!;
      if (reverse ? ts < cutoffTs : false) return;
      if (ts >= cutoffTs) yield [ts, run.vals[p]!];
      step(0);
    }
    return;
  }

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
    if (visible) yield [bestTs, value];
  }
}
