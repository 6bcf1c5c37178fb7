// Which block compression: measured on SSTable data blocks of the factory workload
// (1,000,000 points, built with the real block builder and column encodings), Bun's built-in
// zstd against fflate's deflate, and against compressing naive 16-byte (ts, f64) rows.
// Prints bytes per point and compression speed (MB/s of uncompressed block bytes).
//
//   bun bench/compression.ts

import { deflateSync, inflateSync } from "fflate";
import { DataBlockBuilder } from "../src/sstable/block_builder.ts";
import { DEFAULT_BLOCK_MAX_POINTS, DEFAULT_BLOCK_TARGET_BYTES } from "../src/sstable/format.ts";
import { fmt, median } from "./stats.ts";
import { factory } from "./workload.ts";

const SECONDS = 10_000;
const POINTS = SECONDS * 100;

// Per-series arrays, as a memtable flush sees them.
const series = new Map<string, { ts: number[]; vals: number[] }>();
for (const p of factory({ sensors: 100, seconds: SECONDS })) {
  let s = series.get(p.key);
  if (!s) series.set(p.key, (s = { ts: [], vals: [] }));
  s.ts.push(p.ts);
  s.vals.push(p.value as number);
}
const blocks: Uint8Array[] = [];
let b = new DataBlockBuilder();
for (const key of [...series.keys()].sort()) {
  const s = series.get(key)!;
  for (let start = 0; start < s.ts.length; start += DEFAULT_BLOCK_MAX_POINTS) {
    b.add(key, s.ts, s.vals, start, Math.min(s.ts.length, start + DEFAULT_BLOCK_MAX_POINTS));
    if (b.sizeBytes >= DEFAULT_BLOCK_TARGET_BYTES || b.points >= DEFAULT_BLOCK_MAX_POINTS) {
      blocks.push(b.finish());
      b = new DataBlockBuilder();
    }
  }
}
if (b.chunks) blocks.push(b.finish());
// Naive rows for comparison: (u64 ts, f64 value) per point, in the same 2,048-point blocks.
const rows: Uint8Array[] = [];
for (const s of series.values()) {
  for (let start = 0; start < s.ts.length; start += DEFAULT_BLOCK_MAX_POINTS) {
    const n = Math.min(DEFAULT_BLOCK_MAX_POINTS, s.ts.length - start);
    const buf = new Uint8Array(n * 16);
    const v = new DataView(buf.buffer);
    for (let i = 0; i < n; i++) {
      v.setFloat64(i * 16, s.ts[start + i]!, true);
      v.setFloat64(i * 16 + 8, s.vals[start + i]!, true);
    }
    rows.push(buf);
  }
}

type Codec = [string, (b: Uint8Array) => Uint8Array, (b: Uint8Array) => Uint8Array];
const codecs: Codec[] = [
  ["none", (x) => x, (x) => x],
  ["zstd 1 (Bun)", (x) => Bun.zstdCompressSync(x, { level: 1 }), (x) => Bun.zstdDecompressSync(x)],
  ["zstd 3 (Bun, default)", (x) => Bun.zstdCompressSync(x, { level: 3 }), (x) => Bun.zstdDecompressSync(x)],
  ["zstd 9 (Bun)", (x) => Bun.zstdCompressSync(x, { level: 9 }), (x) => Bun.zstdDecompressSync(x)],
  ["deflate 1 (fflate)", (x) => deflateSync(x, { level: 1 }), (x) => inflateSync(x)],
  ["deflate 6 (fflate)", (x) => deflateSync(x, { level: 6 }), (x) => inflateSync(x)],
];

function measure(input: Uint8Array[], c: Codec) {
  const raw = input.reduce((n, x) => n + x.length, 0);
  const times: number[] = [];
  const dtimes: number[] = [];
  let out = 0;
  for (let run = 0; run < 3; run++) {
    out = 0;
    const t0 = performance.now();
    const packed = input.map((x) => c[1](x));
    times.push(performance.now() - t0);
    for (const p of packed) out += p.length;
    const t1 = performance.now();
    for (const p of packed) c[2](p);
    dtimes.push(performance.now() - t1);
  }
  return { bytesPerPoint: out / POINTS, mbps: raw / 1e6 / (median(times) / 1000), dmbps: raw / 1e6 / (median(dtimes) / 1000) };
}

const lines = [
  `Block compression on the factory workload (${fmt(POINTS)} points, ${blocks.length} data blocks; median of 3)`,
  "",
  "| input | codec | bytes/point | compress MB/s | decompress MB/s |",
  "|---|---|---:|---:|---:|",
];
for (const [label, input] of [
  ["CityHall column blocks", blocks],
  ["naive (ts, f64) rows", rows],
] as const) {
  for (const c of codecs) {
    const r = measure(input, c);
    lines.push(`| ${label} | ${c[0]} | ${r.bytesPerPoint.toFixed(3)} | ${c[0] === "none" ? "-" : fmt(r.mbps)} | ${c[0] === "none" ? "-" : fmt(r.dmbps)} |`);
  }
}
console.log(lines.join("\n"));
