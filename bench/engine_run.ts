// One measurement run of one system (cityhall | sqlite) on one workload, in its own process
// so that its RSS is its own. Prints one JSON line. Driven by bench/engine.ts.
//
//   bun bench/engine_run.ts cityhall|sqlite DIR [--points 1000000] [--workload factory|retail|gateway|floats]
//
// Every workload: durable ingest in 1,000-point batches (each acknowledged before the next),
// peak and final RSS, bytes per point on disk after a flush and a full compaction (CityHall)
// or a WAL checkpoint (SQLite). The factory workload adds the read latencies. Write latency
// across flushes and compactions is measured by bench/write_latency.ts.

import { Db } from "../src/engine/db.ts";
import { openSqliteBaseline } from "./sqlite_baseline.ts";
import { dirBytes, median, medianLatencyUs, percentile, rssSampler } from "./stats.ts";
import { EPOCH_MS, GATEWAY_POINTS_PER_HOST_INTERVAL, factory, floats, gatewayPoints, retail } from "./workload.ts";
import type { Point } from "./workload.ts";

const [system, dir] = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const SENSORS = 100;
const TOTAL = Number(flag("points") ?? 1_000_000);
const WORKLOAD = flag("workload") ?? "factory";
const SECONDS = TOTAL / SENSORS;
const BATCH = 1000;
const GATEWAY_HOSTS = 10;

function points(): Iterable<Point> {
  switch (WORKLOAD) {
    case "factory":
      return factory({ sensors: SENSORS, seconds: SECONDS });
    case "retail":
      return retail({ transactions: TOTAL });
    case "gateway":
      return gatewayPoints({ hosts: GATEWAY_HOSTS, intervals: Math.ceil(TOTAL / (GATEWAY_HOSTS * GATEWAY_POINTS_PER_HOST_INTERVAL)) });
    case "floats":
      return floats({ sensors: SENSORS, seconds: SECONDS });
    default:
      throw new Error(`unknown workload ${WORKLOAD}; use factory, retail, gateway or floats`);
  }
}

interface Store {
  writeBatch(points: Point[]): Promise<void> | void;
  finishIngest(): Promise<void> | void;
  newest(key: string): unknown;
  range(key: string, from: number, to: number): unknown[];
  close(): Promise<void> | void;
}

async function openCityHall(): Promise<Store> {
  const db = await Db.open(dir!);
  return {
    async writeBatch(p) {
      await db.putMany(p);
    },
    async finishIngest() {
      await db.compact();
    },
    newest: (k) => db.get(k),
    range: (k, f, t) => [...db.range(k, f, t)],
    close: () => db.close(),
  };
}

function openSqlite(): Store {
  const { db, writeBatch } = openSqliteBaseline(dir);
  const newest = db.prepare("SELECT ts, v FROM points WHERE series = ? ORDER BY ts DESC LIMIT 1");
  const range = db.prepare("SELECT ts, v FROM points WHERE series = ? AND ts BETWEEN ? AND ? ORDER BY ts");
  return {
    writeBatch,
    finishIngest() {
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    },
    newest: (k) => newest.get(k),
    range: (k, f, t) => range.all(k, f, t),
    close: () => db.close(),
  };
}

const store = system === "sqlite" ? openSqlite() : await openCityHall();
const rssBefore = process.memoryUsage.rss();
const sampler = rssSampler();
// Durable ingest: 1,000-point batches, each acknowledged (synced) before the next. RSS is
// sampled after every batch as well as on the timer (SQLite's loop never yields to it).
const ingestLatMs: number[] = [];
let batch: Point[] = [];
let written = 0;
const t0 = performance.now();
for (const p of points()) {
  if (written + batch.length >= TOTAL) break;
  batch.push(p);
  if (batch.length === BATCH) {
    const b0 = performance.now();
    await store.writeBatch(batch);
    ingestLatMs.push(performance.now() - b0);
    sampler.sample();
    written += batch.length;
    batch = [];
  }
}
if (batch.length) {
  await store.writeBatch(batch);
  written += batch.length;
}
const ingestMs = performance.now() - t0;
const rssSamples = sampler.samples();
const peakRss = sampler.stop();
const rssAfterIngest = process.memoryUsage.rss();
await store.finishIngest();
const bytesOnDisk = dirBytes(dir!);

// Reads (factory only): newest point, 3,600-point range, bloom-filter miss.
let getUs = NaN;
let missUs = NaN;
let rangeLen = 0;
const rangeUs: number[] = [];
if (WORKLOAD === "factory") {
const keys = Array.from({ length: SENSORS }, (_, i) => `sensor.temp.line_${i}`);
for (let i = 0; i < 2000; i++) store.newest(keys[i % SENSORS]!); // warm caches
getUs = medianLatencyUs(50_000, 500, (i) => store.newest(keys[(i * 37) % SENSORS]!));
missUs = medianLatencyUs(50_000, 500, (i) => store.newest(`absent.key.${i}`));
const hourStart = EPOCH_MS + Math.floor(SECONDS / 2) * 1000;
for (let i = 0; i < 300; i++) {
  const k = keys[(i * 13) % SENSORS]!;
  const r0 = performance.now();
  rangeLen = store.range(k, hourStart, hourStart + 3599_000).length;
  rangeUs.push((performance.now() - r0) * 1000);
}
}
const rssFinal = process.memoryUsage.rss();

await store.close();

console.log(
  JSON.stringify({
    system,
    workload: WORKLOAD,
    points: written,
    ingestPointsPerSec: written / (ingestMs / 1000),
    ingestBatchP99Ms: percentile(ingestLatMs, 99),
    bytesPerPoint: bytesOnDisk / written,
    bytesOnDisk,
    getMedianUs: getUs,
    missMedianUs: missUs,
    rangeMedianUs: median(rangeUs),
    rangePoints: rangeLen,
    peakRssMB: peakRss / 1048576,
    rssAfterIngestMB: rssAfterIngest / 1048576,
    rssFinalMB: rssFinal / 1048576,
    rssBeforeMB: rssBefore / 1048576,
    rssSamples,
  }),
);
