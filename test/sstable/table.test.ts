import { describe, expect, test } from "bun:test";
import type { Value } from "../../src/codec/columns.ts";
import { CorruptionError } from "../../src/errors.ts";
import { BlockCache } from "../../src/sstable/block_cache.ts";
import { bloomHash } from "../../src/sstable/bloom.ts";
import { FOOTER_BYTES } from "../../src/sstable/format.ts";
import { TableBuilder } from "../../src/sstable/table_builder.ts";
import { TableReader } from "../../src/sstable/table_reader.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";

const PATH = "/t/000000000001.sst";

async function build(series: Record<string, [number[], Value[]]>, opts = { blockTargetBytes: 256 }) {
  const fs = new MemFs();
  fs.mkdirp("/t");
  const f = fs.open(PATH, "create");
  const b = new TableBuilder(f, opts);
  for (const key of Object.keys(series).sort()) await b.addSeries(key, series[key]![0], series[key]![1]);
  b.addTombstone("gone", 5, 10);
  const summary = await b.finish();
  f.close();
  return { fs, summary };
}

function collect(t: TableReader, key: string, from: number, to: number, reverse = false): [number, Value][] {
  const out: [number, Value][] = [];
  for (const r of t.runs(key, from, to, reverse)) {
    if (reverse) for (let i = r.end - 1; i >= r.start; i--) out.push([r.ts[i]!, r.vals[i]!]);
    else for (let i = r.start; i < r.end; i++) out.push([r.ts[i]!, r.vals[i]!]);
  }
  return out;
}

const ts = (n: number, step = 1000) => Array.from({ length: n }, (_, i) => 1_000_000 + i * step);

describe("SSTable", () => {
  const data: Record<string, [number[], Value[]]> = {
    "sensor.a": [ts(2000), ts(2000).map((_, i) => (200 + (i % 13)) / 10)],
    "sensor.b": [ts(3), ["x", "y", "z"]],
    "sensor.c": [ts(500, 7), ts(500).map((_, i) => (i % 3 ? i * 1.25 : `s${i}`))],
  };

  test("round trip: ranges forward and backward across many blocks", async () => {
    const { fs, summary } = await build(data);
    expect(summary.points).toBe(2503);
    expect(summary.keys).toBe(3);
    const t = TableReader.open(fs, PATH, 1, new BlockCache(1 << 20));
    expect(t.index.length).toBeGreaterThan(3);
    for (const key of Object.keys(data)) {
      const [k_ts, k_vals] = data[key]!;
      const all = collect(t, key, -Infinity, Infinity);
      expect(all.map((p) => p[0])).toEqual(k_ts);
      expect(all.map((p) => p[1])).toEqual(k_vals);
      const from = k_ts[Math.floor(k_ts.length / 3)]!;
      const to = k_ts[Math.floor((2 * k_ts.length) / 3)]!;
      const slice = collect(t, key, from, to);
      expect(slice[0]![0]).toBe(from);
      expect(slice[slice.length - 1]![0]).toBe(to);
      expect(collect(t, key, from, to, true)).toEqual(slice.reverse());
    }
    expect(collect(t, "sensor.bb", -Infinity, Infinity)).toEqual([]);
    expect(collect(t, "nothing", -Infinity, Infinity)).toEqual([]);
    expect(t.keys().map((k) => k.key)).toEqual(["sensor.a", "sensor.b", "sensor.c"]);
    expect(t.keys()[0]).toEqual({ key: "sensor.a", points: 2000, minTs: 1_000_000, maxTs: 1_000_000 + 1999 * 1000 });
    expect(t.tombstonesFor("gone")).toEqual([{ key: "gone", fromTs: 5, toTs: 10 }]);
    t.close();
  });

  test("bloom filter: no false negatives, few false positives", async () => {
    const keys: Record<string, [number[], Value[]]> = {};
    for (let i = 0; i < 1000; i++) keys[`k${i}`] = [[1], [i]];
    const { fs } = await build(keys, { blockTargetBytes: 4096 });
    const t = TableReader.open(fs, PATH, 1, new BlockCache(0));
    for (const k of Object.keys(keys)) expect(t.mayContain(bloomHash(k))).toBe(true);
    expect(t.mayContain(bloomHash("gone"))).toBe(true); // tombstone keys are in the filter
    let fp = 0;
    for (let i = 0; i < 10000; i++) if (t.mayContain(bloomHash(`absent${i}`))) fp++;
    expect(fp).toBeLessThan(300);
  });

  test("BadMagic: a file that is not an SSTable is refused with its name", async () => {
    const { fs } = await build(data);
    const size = fs.readFile(PATH).length;
    fs.corrupt(PATH, size - 4, new Uint8Array([0, 0, 0, 0]));
    expect(() => TableReader.open(fs, PATH, 1, new BlockCache(0))).toThrow(/bad magic number in footer .*in 000000000001.sst at offset/);
  });

  test("TruncatedFile: shorter than a footer", async () => {
    const fs = new MemFs();
    fs.mkdirp("/t");
    const f = fs.open(PATH, "create");
    f.append(new Uint8Array(FOOTER_BYTES - 1));
    expect(() => TableReader.open(fs, PATH, 1, new BlockCache(0))).toThrow(CorruptionError);
  });

  test("ChecksumMismatch: a flipped byte in a data block fails reads of that block only", async () => {
    const { fs } = await build(data);
    const t0 = TableReader.open(fs, PATH, 1, new BlockCache(0));
    const victim = t0.index[1]!; // a block in the middle of sensor.a
    t0.close();
    fs.corrupt(PATH, victim.offsetBytes + 3, new Uint8Array([0xff ^ fs.readFile(PATH)[victim.offsetBytes + 3]!]));
    const t = TableReader.open(fs, PATH, 1, new BlockCache(0));
    let err: unknown;
    try {
      collect(t, "sensor.a", -Infinity, Infinity);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as CorruptionError).file).toBe("000000000001.sst");
    expect((err as CorruptionError).offsetBytes).toBe(victim.offsetBytes);
    expect(String(err)).toMatch(/block checksum mismatch/);
    expect(collect(t, "sensor.b", -Infinity, Infinity).length).toBe(3);
    expect(collect(t, "sensor.c", -Infinity, Infinity).length).toBe(500);
  });

  test("TruncatedBlock: a handle pointing past the data is refused", async () => {
    const { fs } = await build(data);
    const bytes = fs.readFile(PATH);
    // Point the index handle (third handle in the footer) past the end of the data region.
    const footer = bytes.length - FOOTER_BYTES;
    const v = new DataView(bytes.buffer);
    v.setUint32(footer + 24 + 8, 1 << 30, true);
    fs.corrupt(PATH, footer, bytes.subarray(footer));
    expect(() => TableReader.open(fs, PATH, 1, new BlockCache(0))).toThrow(/block handle out of range/);
  });

  test("random byte flips anywhere never crash the reader", async () => {
    const { fs } = await build(data);
    const clean = fs.readFile(PATH);
    for (let i = 0; i < 300; i++) {
      const at = (i * 7919) % clean.length;
      fs.corrupt(PATH, 0, clean);
      fs.corrupt(PATH, at, new Uint8Array([clean[at]! ^ (1 << (i % 8))]));
      try {
        const t = TableReader.open(fs, PATH, 1, new BlockCache(0));
        for (const k of ["sensor.a", "sensor.b", "sensor.c"]) collect(t, k, -Infinity, Infinity);
        t.keys();
        t.close();
      } catch (e) {
        expect(e).toBeInstanceOf(CorruptionError);
      }
    }
  });
});
