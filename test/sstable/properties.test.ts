// Property tests of the SSTable codecs: data blocks (block_builder / block_reader), block
// framing, the bloom block, and whole tables (keys, tombstone and index blocks, footer)
// through TableBuilder/TableReader on MemFs. Every ByteWriter involved starts at each
// capacity 1..64 behind a random prefix (test/codec/property_gen.ts), and the bytes must
// equal those built with the product's own writers.

import { describe, expect, test } from "bun:test";
import { MAX_ABS_TS_MS } from "../../src/codec/columns.ts";
import type { Value } from "../../src/codec/columns.ts";
import { compareKeys } from "../../src/memtable/memtable.ts";
import { DataBlockBuilder, frameBlock } from "../../src/sstable/block_builder.ts";
import { decodeDataBlock, unframeBlock } from "../../src/sstable/block_reader.ts";
import { BlockCache } from "../../src/sstable/block_cache.ts";
import { BloomFilter, bloomHash, buildBloom } from "../../src/sstable/bloom.ts";
import { TableBuilder } from "../../src/sstable/table_builder.ts";
import type { TableBuilderOptions } from "../../src/sstable/table_builder.ts";
import { TableReader } from "../../src/sstable/table_reader.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { rng } from "../helpers.ts";
import {
  Failures,
  MAX_CAPACITY_BYTES,
  SIGNED_BOUNDARIES,
  int,
  pick,
  prefixedWriter,
  prefixedWriterFactory,
  randomKey,
  randomTimestamps,
  randomValues,
  sameBytes,
  sameValues,
  show,
  writerCases,
} from "../codec/property_gen.ts";
import type { Rand } from "../codec/property_gen.ts";

interface Series {
  key: string;
  ts: number[];
  vals: Value[];
}

/** Distinct keys in compareKeys order, each with strictly increasing timestamps. */
function randomSeriesSet(r: Rand, maxSeries: number, maxPoints: number): Series[] {
  const keys = [...new Set(Array.from({ length: int(r, 1, maxSeries) }, () => randomKey(r)))].sort(compareKeys);
  return keys.map((key) => {
    const n = int(r, 1, r() < 0.9 ? maxPoints : maxPoints * 10);
    return { key, ts: randomTimestamps(r, n, true), vals: randomValues(r, n) };
  });
}

describe("SSTable block properties", () => {
  test("data blocks round-trip through build, frame (zstd or none), unframe and decode at every capacity", async () => {
    const f = new Failures();
    for (const c of writerCases(71, 3)) {
      const series = randomSeriesSet(c.r, 8, 40);
      const b = new DataBlockBuilder(prefixedWriterFactory(c.r, c.capacityBytes));
      const fresh = new DataBlockBuilder();
      for (const s of series) {
        // Sometimes a sub-range, as the table builder cuts long series.
        const start = c.r() < 0.3 ? int(c.r, 0, s.ts.length - 1) : 0;
        const end = c.r() < 0.3 ? int(c.r, start + 1, s.ts.length) : s.ts.length;
        b.add(s.key, s.ts, s.vals, start, end);
        fresh.add(s.key, s.ts, s.vals, start, end);
        s.ts = s.ts.slice(start, end);
        s.vals = s.vals.slice(start, end);
      }
      if (b.sizeBytes !== fresh.sizeBytes) f.add(`${c.label}: sizeBytes ${b.sizeBytes}, fresh writer ${fresh.sizeBytes}`);
      const contents = b.finish();
      if (!sameBytes(contents, fresh.finish())) f.add(`${c.label}: block bytes differ from a fresh writer's`);
      const framed = await frameBlock(contents, c.r() < 0.5, 1);
      let block;
      try {
        block = decodeDataBlock(unframeBlock(framed, "t.sst", 0), "t.sst", 0);
      } catch (e) {
        f.add(`${c.label}: did not decode: ${(e as Error).message}`);
        continue;
      }
      if (!sameValues(block.keys, series.map((s) => s.key))) f.add(`${c.label}: keys ${show(series.map((s) => s.key))} read back as ${show(block.keys)}`);
      for (let i = 0; i < series.length; i++) {
        if (!sameValues(block.ts[i] ?? [], series[i]!.ts)) f.add(`${c.label}: chunk ${i} timestamps differ`);
        if (!sameValues(block.vals[i] ?? [], series[i]!.vals)) f.add(`${c.label}: chunk ${i} values ${show(series[i]!.vals)} read back as ${show(block.vals[i])}`);
      }
    }
    expect(f.report()).toBe("");
  });

  test("bloom blocks: same bytes at every capacity, and every added key is admitted", () => {
    const f = new Failures();
    for (const c of writerCases(72, 2)) {
      const keys = Array.from({ length: int(c.r, 0, 300) }, () => randomKey(c.r));
      const hashes = keys.map(bloomHash);
      const bits = pick(c.r, [1, 2, 10, 16]);
      const { w } = prefixedWriter(c);
      const contents = buildBloom(hashes, bits, w);
      if (!sameBytes(contents, buildBloom(hashes, bits))) f.add(`${c.label}: bloom bytes differ from a fresh writer's`);
      const bloom = new BloomFilter(contents);
      for (const h of hashes) if (!bloom.mayContain(h)) f.add(`${c.label}: an added key is not admitted`);
    }
    expect(f.report()).toBe("");
  });
});

async function buildTable(series: Series[], tombs: { key: string; fromTs: number; toTs: number }[], options: TableBuilderOptions): Promise<{ fs: MemFs; bytes: Uint8Array }> {
  const fs = new MemFs();
  fs.mkdirp("/t");
  const file = fs.open("/t/000000000001.sst", "create");
  const b = new TableBuilder(file, options);
  for (const s of series) await b.addSeries(s.key, s.ts, s.vals);
  for (const t of tombs) b.addTombstone(t.key, t.fromTs, t.toTs);
  await b.finish();
  file.close();
  return { fs, bytes: fs.readFile("/t/000000000001.sst") };
}

describe("SSTable table properties", () => {
  test("the issue's workload: 300 series of one point at epoch-ms times, keys() lists every one, at every capacity", async () => {
    const f = new Failures();
    const series: Series[] = Array.from({ length: 300 }, (_, i) => ({ key: `sensor.${String(i).padStart(3, "0")}`, ts: [1_767_225_600_000 + i * 1000], vals: [i / 10] }));
    for (let cap = 1; cap <= MAX_CAPACITY_BYTES; cap++) {
      const { fs } = await buildTable(series, [], { compress: false, newWriter: prefixedWriterFactory(rng(cap), cap) });
      const t = TableReader.open(fs, "/t/000000000001.sst", 1, new BlockCache(1 << 20));
      try {
        const keys = t.keys();
        const wrong = keys.findIndex((k, i) => k.key !== series[i]!.key || k.minTs !== series[i]!.ts[0] || k.maxTs !== series[i]!.ts[0]);
        if (keys.length !== 300 || wrong >= 0) f.add(`capacity ${cap}: keys() has ${keys.length} keys, first wrong at ${wrong}`);
      } catch (e) {
        f.add(`capacity ${cap}: keys() failed: ${(e as Error).message}`);
      }
      t.close();
    }
    expect(f.report()).toBe("");
  });

  test("whole tables (data, keys, tombstone, index, bloom blocks, footer) read back exactly; same bytes at every capacity", async () => {
    const f = new Failures();
    const top = rng(73);
    const tsBoundaries = SIGNED_BOUNDARIES.filter((v) => Math.abs(v) <= MAX_ABS_TS_MS);
    for (let cap = 1; cap <= MAX_CAPACITY_BYTES; cap++) {
      const r = rng((top() * 2 ** 32) >>> 0);
      const label = `capacity ${cap}`;
      const series = randomSeriesSet(r, 12, 60);
      const tombs = Array.from({ length: int(r, 0, 4) }, () => {
        const a = pick(r, tsBoundaries);
        const b = pick(r, tsBoundaries);
        return { key: r() < 0.5 ? pick(r, series).key : randomKey(r), fromTs: Math.min(a, b), toTs: Math.max(a, b) };
      });
      const base: TableBuilderOptions = { blockTargetBytes: pick(r, [64, 256, 4096]), blockMaxPoints: pick(r, [16, 100, 2048]), compress: r() < 0.5, zstdLevel: 1 };
      const built = await buildTable(series, tombs, { ...base, newWriter: prefixedWriterFactory(r, cap) });
      const reference = await buildTable(series, tombs, base);
      if (!sameBytes(built.bytes, reference.bytes)) f.add(`${label}: table bytes differ from those built with fresh writers`);
      let t: TableReader;
      try {
        t = TableReader.open(built.fs, "/t/000000000001.sst", 1, new BlockCache(1 << 20));
      } catch (e) {
        f.add(`${label}: did not open: ${(e as Error).message}`);
        continue;
      }
      const keys = t.keys();
      const wantKeys = series.map((s) => ({ key: s.key, points: s.ts.length, minTs: s.ts[0]!, maxTs: s.ts[s.ts.length - 1]! }));
      if (JSON.stringify(keys) !== JSON.stringify(wantKeys)) f.add(`${label}: keys() ${show(keys.map((k) => k.key))} want ${show(wantKeys.map((k) => k.key))}`);
      for (const s of series) {
        if (!t.mayContain(bloomHash(s.key))) f.add(`${label}: bloom rejects ${show(s.key)}`);
        const ts: number[] = [];
        const vals: Value[] = [];
        for (const run of t.runs(s.key, -Infinity, Infinity, false)) {
          for (let i = run.start; i < run.end; i++) {
            ts.push(run.ts[i]!);
            vals.push(run.vals[i]!);
          }
        }
        if (!sameValues(ts, s.ts)) f.add(`${label}: ${show(s.key)} timestamps ${show(s.ts)} read back as ${show(ts)}`);
        if (!sameValues(vals, s.vals)) f.add(`${label}: ${show(s.key)} values ${show(s.vals)} read back as ${show(vals)}`);
      }
      const gotTombs = t.tombstones.map((x) => ({ key: x.key, fromTs: x.fromTs, toTs: x.toTs }));
      if (JSON.stringify(gotTombs) !== JSON.stringify(tombs)) f.add(`${label}: tombstones ${JSON.stringify(tombs)} read back as ${JSON.stringify(gotTombs)}`);
      for (const x of tombs) if (!t.mayContain(bloomHash(x.key))) f.add(`${label}: bloom rejects tombstone key ${show(x.key)}`);
      t.close();
    }
    expect(f.report()).toBe("");
  });
});
