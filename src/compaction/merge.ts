// Merges adjacent SSTables (oldest first) into one stream of series for a new table.
// Same rules as reads (engine/read_merge.ts): the newer table wins equal timestamps, a
// newer table's tombstones remove older tables' points, retention drops old points.
// Tombstones are carried into the output unless the merge includes the oldest table.

import type { Value } from "../codec/columns.ts";
import { compareKeys } from "../memtable/memtable.ts";
import type { Tombstone } from "../memtable/memtable.ts";
import type { TableReader } from "../sstable/table_reader.ts";

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
 * Yields merged series in key order. `tables` oldest first.
 * REQUIRES: each table's chunks come in key order, a key's chunks adjacent and time-ordered.
 */
export function* mergeTables(tables: readonly TableReader[], cutoffTs: number): Generator<MergedSeries> {
  const cursors: Cursor[] = tables.map((t) => {
    const c: Cursor = { it: t.chunks(), cur: null };
    advance(c);
    return c;
  });
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
      let tTs: number[] = [];
      let tVals: Value[] = [];
      while (c.cur && c.cur.key === minKey) {
        tTs = tTs.length ? tTs.concat(c.cur.ts) : c.cur.ts;
        tVals = tVals.length ? tVals.concat(c.cur.vals) : c.cur.vals;
        advance(c);
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
