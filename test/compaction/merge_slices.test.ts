import { describe, expect, test } from "bun:test";
import type { Value } from "../../src/codec/columns.ts";
import { mergeTables } from "../../src/compaction/merge.ts";
import type { MergedSeries } from "../../src/compaction/merge.ts";
import { BlockCache } from "../../src/sstable/block_cache.ts";
import { TableBuilder } from "../../src/sstable/table_builder.ts";
import { TableReader } from "../../src/sstable/table_reader.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { rng } from "../helpers.ts";

const MIN_TS = -(2 ** 49);

/** Builds one table per element of `tables` (oldest first) in a MemFs; small blocks. */
async function buildTables(tables: Record<string, [number[], Value[]]>[]): Promise<TableReader[]> {
  const fs = new MemFs();
  fs.mkdirp("/t");
  const cache = new BlockCache(0);
  const readers: TableReader[] = [];
  for (let i = 0; i < tables.length; i++) {
    const path = `/t/${String(i + 1).padStart(12, "0")}.sst`;
    const f = fs.open(path, "create");
    const b = new TableBuilder(f, { blockTargetBytes: 512, blockMaxPoints: 64 });
    const series = tables[i]!;
    for (const key of Object.keys(series).sort()) await b.addSeries(key, series[key]![0], series[key]![1]);
    await b.finish();
    f.close();
    readers.push(TableReader.open(fs, path, i + 1, cache));
  }
  return readers;
}

/** Three overlapping tables of random series (same timestamps rewritten by newer tables). */
async function randomTables(seed: number): Promise<TableReader[]> {
  const r = rng(seed);
  const tables: Record<string, [number[], Value[]]>[] = [];
  for (let t = 0; t < 3; t++) {
    const series: Record<string, [number[], Value[]]> = {};
    for (let k = 0; k < 12; k++) {
      if (r() < 0.2) continue;
      const start = Math.floor(r() * 500);
      const n = 1 + Math.floor(r() * 400);
      const ts = Array.from({ length: n }, (_, i) => 1_767_225_600_000 + (start + i) * 1000);
      series[`s.${k}`] = [ts, ts.map(() => (t === 1 && r() < 0.3 ? `t${t}` : Math.round(r() * 1000) / 10))];
    }
    tables.push(series);
  }
  return buildTables(tables);
}

async function collect(it: AsyncGenerator<MergedSeries>): Promise<MergedSeries[]> {
  const out: MergedSeries[] = [];
  for await (const s of it) out.push({ key: s.key, ts: [...s.ts], vals: [...s.vals] });
  return out;
}

describe("mergeTables", () => {
  test("newer tables win equal timestamps; the merged series are the union, in key order", async () => {
    const ts = [1000, 2000, 3000];
    const [a, b] = await buildTables([{ k: [ts, [1, 2, 3]], only_old: [[5], [5]] }, { k: [[2000, 4000], [20, 40]] }]);
    const out = await collect(mergeTables([a!, b!], MIN_TS));
    expect(out).toEqual([
      { key: "k", ts: [1000, 2000, 3000, 4000], vals: [1, 20, 3, 40] },
      { key: "only_old", ts: [5], vals: [5] },
    ]);
  });

  test("time slicing changes nothing: the same output with a slice of 0 ms and of forever", async () => {
    for (let seed = 1; seed <= 5; seed++) {
      const tables = await randomTables(seed);
      const sliced = await collect(mergeTables(tables, MIN_TS, 0));
      const whole = await collect(mergeTables(tables, MIN_TS, Infinity));
      expect(sliced.length).toBeGreaterThan(0);
      expect(sliced).toEqual(whole);
    }
  });

  test("the merge hands the event loop back while it runs (timers and I/O are not starved)", async () => {
    const tables = await randomTables(9);
    const blocks = tables.reduce((n, t) => n + t.index.length, 0);
    expect(blocks).toBeGreaterThan(20);
    // Count turns of the event loop (setImmediate runs once per turn) during the merge.
    let turns = 0;
    let running = true;
    const spin = () => {
      if (!running) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    // A slice of 0 ms: every step of the merge ends its slice, so the loop turns at least
    // once per block decoded. A merge that never yields would leave `turns` at 0.
    await collect(mergeTables(tables, MIN_TS, 0));
    running = false;
    expect(turns).toBeGreaterThanOrEqual(blocks);
  });
});
