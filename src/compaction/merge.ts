// Merges adjacent SSTables (oldest first) into one stream of series for a new table.
// Same rules as reads (engine/read_merge.ts): the newer table wins equal timestamps, a
// newer table's tombstones remove older tables' points, retention drops old points.
// Tombstones are carried into the output unless the merge includes the oldest table.
//
// The merge runs on the event loop, next to the write path and the servers: it decodes one
// block at a time and hands the loop back (util/time_slice.ts) whenever a slice has run for
// its budget, so no merge step stalls writes, replication or /health for longer than about
// one slice plus one block decode. Slicing changes only when the work runs, never its order,
// so the LSM rules above hold exactly as in a merge that never yields.

import type { Value } from "../codec/columns.ts";
import { compareKeys } from "../memtable/memtable.ts";
import type { Tombstone } from "../memtable/memtable.ts";
import type { TableReader } from "../sstable/table_reader.ts";
import { DEFAULT_SLICE_MS, TimeSlicer } from "../util/time_slice.ts";

export interface MergedSeries {
  key: string;
  ts: number[];
  vals: Value[];
}

interface Cursor {
  it: Iterator<{ key: string; ts: number[]; vals: Value[] }>;
  cur: { key: string; ts: number[]; vals: Value[] } | null;
}

function advance(c: Cursor): void {
  const r = c.it.next();
  c.cur = r.done ? null : r.value;
}

/** Removes points covered by `tombs` from parallel arrays, returning new arrays. */
function without(ts: number[], vals: Value[], tombs: readonly Tombstone[]): [number[], Value[]] {
  if (tombs.length === 0) return [ts, vals];
  const outTs: number[] = [];
  const outVals: Value[] = [];
  outer: for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    for (const tb of tombs) if (t >= tb.fromTs && t <= tb.toTs) continue outer;
    outTs.push(t);
    outVals.push(vals[i]!);
  }
  return [outTs, outVals];
}

/** Merges two ascending series; `b` wins equal timestamps. */
function overlay(aTs: number[], aVals: Value[], bTs: number[], bVals: Value[]): [number[], Value[]] {
  if (aTs.length === 0) return [bTs, bVals];
  if (bTs.length === 0) return [aTs, aVals];
  if (aTs[aTs.length - 1]! < bTs[0]!) return [aTs.concat(bTs), aVals.concat(bVals)];
  const ts: number[] = [];
  const vals: Value[] = [];
  let i = 0;
  let j = 0;
  while (i < aTs.length || j < bTs.length) {
    if (j >= bTs.length || (i < aTs.length && aTs[i]! < bTs[j]!)) {
      ts.push(aTs[i]!);
      vals.push(aVals[i++]!);
    } else {
      if (i < aTs.length && aTs[i] === bTs[j]) i++;
      ts.push(bTs[j]!);
      vals.push(bVals[j++]!);
    }
  }
  return [ts, vals];
}

/**
 * Yields merged series in key order. `tables` oldest first. Gives the event loop a turn
 * whenever `sliceMs` of work has run since the last one.
 * REQUIRES: each table's chunks come in key order, a key's chunks adjacent and time-ordered;
 * the tables stay open (pinned) until the generator finishes.
 */
export async function* mergeTables(
  tables: readonly TableReader[],
  cutoffTs: number,
  sliceMs: number = DEFAULT_SLICE_MS,
): AsyncGenerator<MergedSeries> {
  const slicer = new TimeSlicer(sliceMs);
  const cursors: Cursor[] = [];
  for (const t of tables) {
    const c: Cursor = { it: t.chunks(), cur: null };
    advance(c); // decodes the table's first block
    cursors.push(c);
    if (slicer.due()) await slicer.yield();
  }
  for (;;) {
    let minKey: string | null = null;
    for (const c of cursors) {
      if (c.cur && (minKey === null || compareKeys(c.cur.key, minKey) < 0)) minKey = c.cur.key;
    }
    if (minKey === null) return;
    let ts: number[] = [];
    let vals: Value[] = [];
    for (let i = 0; i < cursors.length; i++) {
      const c = cursors[i]!;
      // This table's tombstones hide what the older tables contributed so far.
      [ts, vals] = without(ts, vals, tables[i]!.tombstonesFor(minKey));
      // Appended point by point: concatenating chunk after chunk would copy a long series
      // once per block. Fresh arrays: a decoded block may be shared with the block cache.
      const tTs: number[] = [];
      const tVals: Value[] = [];
      while (c.cur && c.cur.key === minKey) {
        const cTs = c.cur.ts;
        const cVals = c.cur.vals;
        for (let k = 0; k < cTs.length; k++) {
          tTs.push(cTs[k]!);
          tVals.push(cVals[k]!);
        }
        advance(c); // may decode the next block
        if (slicer.due()) await slicer.yield();
      }
      [ts, vals] = overlay(ts, vals, tTs, tVals);
    }
    if (ts.length > 0 && ts[0]! < cutoffTs) {
      let k = 0;
      while (k < ts.length && ts[k]! < cutoffTs) k++;
      ts = ts.slice(k);
      vals = vals.slice(k);
    }
    if (ts.length > 0) yield { key: minKey, ts, vals };
    if (slicer.due()) await slicer.yield();
  }
}

/** Tombstones to carry into the merged table (none when nothing older remains). */
export function carriedTombstones(tables: readonly TableReader[], dropAll: boolean, cutoffTs: number): Tombstone[] {
  if (dropAll) return [];
  const seen = new Set<string>();
  const out: Tombstone[] = [];
  for (const t of tables) {
    for (const tb of t.tombstones) {
      if (tb.toTs < cutoffTs) continue; // hides only points retention drops anyway
      const id = `${tb.key}\u0000${tb.fromTs}\u0000${tb.toTs}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(tb);
    }
  }
  return out;
}
