// One measurement run of one system (cityhall | sqlite) on the factory workload, in its own
// process so that its RSS is its own. Prints one JSON line. Driven by bench/engine.ts.
//
//   bun bench/engine_run.ts cityhall|sqlite DIR [--points 1000000]

import { Database } from "bun:sqlite";
import { Db } from "../src/engine/db.ts";
import { dirBytes, median, medianLatencyUs, percentile, rssSampler } from "./stats.ts";
import { EPOCH_MS, factory } from "./workload.ts";
import type { Point } from "./workload.ts";

const [system, dir] = process.argv.slice(2);
const pointsArg = process.argv.indexOf("--points");
const SENSORS = 100;
const TOTAL = pointsArg > 0 ? Number(process.argv[pointsArg + 1]) : 1_000_000;
const SECONDS = TOTAL / SENSORS;
const BATCH = 1000;

interface Store {
  writeBatch(points: Point[]): Promise<void> | void;
  finishIngest(): Promise<void> | void;
  newest(key: string): unknown;
  range(key: string, from: number, to: number): unknown[];
  close(): Promise<void> | void;
  /** Only CityHall has a background compaction; returns its promise. */
  startCompaction?(): Promise<void>;
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
    startCompaction: () => db.compact(),
  };
}

function openSqlite(): Store {
  const db = new Database(`${dir}/bench.sqlite`, { create: true });
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  db.exec("CREATE TABLE IF NOT EXISTS points (series TEXT NOT NULL, ts INTEGER NOT NULL, v, PRIMARY KEY (series, ts)) WITHOUT ROWID");
  const ins = db.prepare("INSERT OR REPLACE INTO points (series, ts, v) VALUES (?, ?, ?)");
  const tx = db.transaction((ps: Point[]) => {
    for (const p of ps) ins.run(p.key, p.ts, p.value);
  });
  const newest = db.prepare("SELECT ts, v FROM points WHERE series = ? ORDER BY ts DESC LIMIT 1");
  const range = db.prepare("SELECT ts, v FROM points WHERE series = ? AND ts BETWEEN ? AND ? ORDER BY ts");
  return {
    writeBatch: (p) => void tx(p),
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
// Durable ingest: 1,000-point batches, each acknowledged (synced) before the next.
const ingestLatMs: number[] = [];
let batch: Point[] = [];
const t0 = performance.now();
for (const p of factory({ sensors: SENSORS, seconds: SECONDS })) {
  batch.push(p);
  if (batch.length === BATCH) {
    const b0 = performance.now();
    await store.writeBatch(batch);
    ingestLatMs.push(performance.now() - b0);
    batch = [];
  }
}
const ingestMs = performance.now() - t0;
const peakRss = sampler.stop();
// Writes while a compaction runs: CityHall starts a full compaction of the tables the
// ingest left and keeps writing 100-point batches; SQLite (no compaction) writes the same
// batches. Latencies of writes that overlapped the compaction are kept.
const EXTRA_BATCHES = 2000;
const compactLatMs: number[] = [];
let compactionMs = 0;
{
  const more = factory({ sensors: SENSORS, seconds: EXTRA_BATCHES, start: EPOCH_MS + SECONDS * 1000 });
  let running = false;
  let compaction: Promise<void> | undefined;
  if (store.startCompaction) {
    running = true;
    const c0 = performance.now();
    compaction = store.startCompaction().then(() => {
      running = false;
      compactionMs = performance.now() - c0;
    });
  }
  for (let i = 0; i < EXTRA_BATCHES; i++) {
    const b: Point[] = [];
    for (let j = 0; j < 100; j++) b.push(more.next().value as Point);
    const overlapped = running;
    const b0 = performance.now();
    await store.writeBatch(b);
    if (overlapped || !store.startCompaction) compactLatMs.push(performance.now() - b0);
  }
  await compaction;
}
const extraPoints = EXTRA_BATCHES * 100;
await store.finishIngest();
const bytesOnDisk = dirBytes(dir!);

// Reads: newest point, 3,600-point range, bloom-filter miss.
const keys = Array.from({ length: SENSORS }, (_, i) => `sensor.temp.line_${i}`);
for (let i = 0; i < 2000; i++) store.newest(keys[i % SENSORS]!); // warm caches
const getUs = medianLatencyUs(50_000, 500, (i) => store.newest(keys[(i * 37) % SENSORS]!));
const missUs = medianLatencyUs(50_000, 500, (i) => store.newest(`absent.key.${i}`));
const hourStart = EPOCH_MS + Math.floor(SECONDS / 2) * 1000;
let rangeLen = 0;
const rangeUs: number[] = [];
for (let i = 0; i < 300; i++) {
  const k = keys[(i * 13) % SENSORS]!;
  const r0 = performance.now();
  rangeLen = store.range(k, hourStart, hourStart + 3599_000).length;
  rangeUs.push((performance.now() - r0) * 1000);
}

await store.close();

console.log(
  JSON.stringify({
    system,
    points: TOTAL,
    ingestPointsPerSec: TOTAL / (ingestMs / 1000),
    ingestBatchP99Ms: percentile(ingestLatMs, 99),
    bytesPerPoint: bytesOnDisk / (TOTAL + extraPoints),
    bytesOnDisk,
    getMedianUs: getUs,
    missMedianUs: missUs,
    rangeMedianUs: median(rangeUs),
    rangePoints: rangeLen,
    writeP99DuringCompactionMs: percentile(compactLatMs, 99),
    writesDuringCompaction: compactLatMs.length,
    compactionMs,
    peakRssMB: peakRss / 1048576,
    rssBeforeMB: rssBefore / 1048576,
  }),
);
