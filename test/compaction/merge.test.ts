// The LSM rules in the two places that apply them: compaction (compaction/merge.ts, over real
// SSTables) and reads (engine/read_merge.ts). For equal (key, ts) the newer source wins; a
// tombstone hides points of OLDER sources only. Guarded by the
// `compaction-newest-wins-reversed`, `compaction-ignores-tombstones` and
// `read-newest-wins-reversed` mutants of bench/mutants.
import { describe, expect, test } from "bun:test";
import type { Value } from "../../src/codec/columns.ts";
import { carriedTombstones, mergeTables } from "../../src/compaction/merge.ts";
import { mergeSeries } from "../../src/engine/read_merge.ts";
import type { MergeSource } from "../../src/engine/read_merge.ts";
import type { Tombstone } from "../../src/memtable/memtable.ts";
import { BlockCache } from "../../src/sstable/block_cache.ts";
import { sstFileName } from "../../src/sstable/format.ts";
import { TableBuilder } from "../../src/sstable/table_builder.ts";
import { TableReader } from "../../src/sstable/table_reader.ts";
import type { Run } from "../../src/sstable/table_reader.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";

interface TableSpec {
  series: Record<string, [number, Value][]>;
  tombstones?: [string, number, number][];
}

/** Builds one real SSTable per spec (oldest first) and opens it. */
async function tables(specs: TableSpec[]): Promise<TableReader[]> {
  const fs = new MemFs();
  fs.mkdirp("/sst");
  const cache = new BlockCache(1 << 20);
  const out: TableReader[] = [];
  for (let i = 0; i < specs.length; i++) {
    const path = `/sst/${sstFileName(i + 1)}`;
    const f = fs.open(path, "create");
    const b = new TableBuilder(f, { blockTargetBytes: 64 });
    const spec = specs[i]!;
    for (const key of Object.keys(spec.series).sort()) {
      const pts = spec.series[key]!;
      await b.addSeries(key, pts.map((p) => p[0]), pts.map((p) => p[1]));
    }
    for (const [key, from, to] of spec.tombstones ?? []) b.addTombstone(key, from, to);
    await b.finish();
    f.close();
    out.push(TableReader.open(fs, path, i + 1, cache));
  }
  return out;
}

async function merged(ts: TableReader[], cutoffTs = -Infinity): Promise<Record<string, [number, Value][]>> {
  const out: Record<string, [number, Value][]> = {};
  for await (const s of mergeTables(ts, cutoffTs)) out[s.key] = s.ts.map((t, i) => [t, s.vals[i]!]);
  return out;
}

describe("compaction merge (over real SSTables, oldest first)", () => {
  test("the newer table wins equal timestamps, for every pair of tables", async () => {
    const ts = await tables([
      { series: { k: [[1, "t0"], [2, "t0"], [3, "t0"], [4, "t0"]], j: [[1, "t0"]] } },
      { series: { k: [[2, "t1"], [3, "t1"]] } },
      { series: { k: [[3, "t2"], [5, "t2"]], j: [[1, "t2"]] } },
    ]);
    expect(await merged(ts)).toEqual({
      j: [[1, "t2"]],
      k: [[1, "t0"], [2, "t1"], [3, "t2"], [4, "t0"], [5, "t2"]],
    });
    // And with two tables only (the common size-tiered merge of the two newest).
    expect(await merged(ts.slice(0, 2))).toEqual({ j: [[1, "t0"]], k: [[1, "t0"], [2, "t1"], [3, "t1"], [4, "t0"]] });
  });

  test("a tombstone hides older tables' points, never its own table's newer writes or newer tables'", async () => {
    const ts = await tables([
      { series: { k: [[1, 0], [5, 0], [6, 0], [9, 0]], other: [[5, 0]] } },
      { series: { k: [[7, 1]] }, tombstones: [["k", 6, 7]] },
      { series: { k: [[6, 2]] }, tombstones: [["k", 5, 5]] },
    ]);
    // k@5 of table 0 is hidden by table 2's tombstone; k@6 of table 0 by table 1's, while
    // table 2's k@6 is newer than it and stays. A table's own points were already cleared
    // of its tombstones when the delete ran, so k@7 of table 1 (written after) stays too.
    expect(await merged(ts)).toEqual({ k: [[1, 0], [6, 2], [7, 1], [9, 0]], other: [[5, 0]] });
    // Tombstones go on into the output unless the merge includes the oldest table.
    const carried = carriedTombstones(ts.slice(1), false, -Infinity).map((t: Tombstone) => [t.key, t.fromTs, t.toTs]);
    expect(carried.sort()).toEqual([["k", 5, 5], ["k", 6, 7]]);
    expect(carriedTombstones(ts, true, -Infinity)).toEqual([]);
  });

  test("retention drops points older than the cutoff from the merged output", async () => {
    const ts = await tables([{ series: { k: [[1, "a"], [10, "b"]] } }, { series: { k: [[2, "c"], [11, "d"]] } }]);
    expect(await merged(ts, 10)).toEqual({ k: [[10, "b"], [11, "d"]] });
  });
});

describe("read merge (sources newest first)", () => {
  const run = (pts: [number, Value][]): Run => ({ ts: pts.map((p) => p[0]), vals: pts.map((p) => p[1]), start: 0, end: pts.length });
  const sources = (hiddenBy: Tombstone[][] = [[], [], []]): MergeSource[] => [
    { runs: [run([[2, "new"], [4, "new"]])][Symbol.iterator](), hiddenBy: hiddenBy[0]! },
    { runs: [run([[2, "mid"], [3, "mid"], [4, "mid"]])][Symbol.iterator](), hiddenBy: hiddenBy[1]! },
    { runs: [run([[1, "old"], [2, "old"], [3, "old"], [4, "old"]])][Symbol.iterator](), hiddenBy: hiddenBy[2]! },
  ];
  const points = (it: Iterable<{ ts: number; value: Value }>): [number, Value][] => [...it].map((p) => [p.ts, p.value]);

  test("the newest source wins equal timestamps, forward and reverse", () => {
    expect(points(mergeSeries("k", sources(), false, -Infinity))).toEqual([[1, "old"], [2, "new"], [3, "mid"], [4, "new"]]);
    expect(points(mergeSeries("k", sources(), true, -Infinity))).toEqual([[4, "new"], [3, "mid"], [2, "new"], [1, "old"]]);
  });

  test("a newer source's tombstone hides an older source's point", () => {
    const tomb: Tombstone = { key: "k", fromTs: 3, toTs: 3 };
    // The tombstone is in the newest source, so it hides ts 3 of the two older ones.
    expect(points(mergeSeries("k", sources([[], [tomb], [tomb]]), false, -Infinity))).toEqual([[1, "old"], [2, "new"], [4, "new"]]);
  });
});
