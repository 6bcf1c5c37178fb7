// Write latency across flushes and compactions: a long durable ingest (10,000,000 factory
// points by default, 1,000-point batches as bench/engine.ts writes them), CityHall against
// bun:sqlite, each system in its own process, several alternating runs.
//
// Every batch is timed from the call to the resolve of its write (CityHall: `putMany`,
// acknowledged after fdatasync; SQLite: one synchronous=FULL transaction). Alongside, a 1 ms
// timer measures how late the event loop runs it: a stall there is time in which a server
// built on the engine answers nobody (HTTP, replication, /health). Both loops give the event
// loop one turn (setImmediate) after each batch, so the timer can run between SQLite's
// synchronous transactions too.
//
// Reported for each system: p50, p99 and max write latency over every batch, the same over
// the batches that overlapped a flush or a compaction (CityHall), event-loop lateness p99
// and max, and how many flushes and compactions completed during the measured writes.
//
//   bun bench/write_latency.ts [--runs 3] [--points 10000000]
//   bun bench/write_latency.ts --child cityhall|sqlite DIR --points N   (one run, JSON line)

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Db } from "../src/engine/db.ts";
import { openSqliteBaseline } from "./sqlite_baseline.ts";
import { fmt, median, percentile } from "./stats.ts";
import { factory } from "./workload.ts";
import type { Point } from "./workload.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const POINTS = arg("points", 10_000_000);
const SENSORS = 100;
const BATCH = 1000;

interface RunResult {
  system: string;
  points: number;
  batches: number;
  pointsPerSec: number;
  writeP50Ms: number;
  writeP99Ms: number;
  writeMaxMs: number;
  /** Batches that started or ended while a flush or compaction was running (CityHall). */
  busyBatches: number;
  busyP99Ms: number;
  busyMaxMs: number;
  lagSamples: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  flushes: number;
  compactions: number;
  /** Set by the driver: lateness of the same timer in an idle process during the run. */
  idleLagP99Ms?: number;
  idleLagMaxMs?: number;
}

/** Lateness of a 1 ms timer, re-armed each time it fires. */
function lagMonitor(): { stop: () => number[] } {
  const late: number[] = [];
  let stopped = false;
  let due = performance.now() + 1;
  const tick = () => {
    if (stopped) return;
    const now = performance.now();
    late.push(Math.max(0, now - due)); // timers never fire early by more than clock noise
    due = now + 1;
    setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  return {
    stop() {
      stopped = true;
      return late;
    },
  };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

async function child(system: string, dir: string): Promise<RunResult> {
  let write: (b: Point[]) => Promise<unknown> | unknown;
  let counters: () => { flushes: number; compactions: number; busy: boolean } = () => ({ flushes: 0, compactions: 0, busy: false });
  let close: () => Promise<void> | void;
  if (system === "cityhall") {
    const db = await Db.open(dir);
    write = (b) => db.putMany(b);
    counters = () => {
      const s = db.stats();
      // A flush is running while an immutable memtable exists.
      return { flushes: s.flushes, compactions: s.compactions, busy: s.compactionRunning || s.immutableMemtablePoints > 0 };
    };
    close = () => db.close();
  } else {
    const { db, writeBatch } = openSqliteBaseline(dir);
    write = writeBatch;
    close = () => db.close();
  }
  const lat: number[] = [];
  const busyLat: number[] = [];
  const c0 = counters();
  const lag = lagMonitor();
  let batch: Point[] = [];
  const t0 = performance.now();
  for (const p of factory({ sensors: SENSORS, seconds: POINTS / SENSORS })) {
    batch.push(p);
    if (batch.length < BATCH) continue;
    const before = counters();
    const b0 = performance.now();
    await write(batch);
    const ms = performance.now() - b0;
    const after = counters();
    lat.push(ms);
    if (before.busy || after.busy || after.flushes !== before.flushes || after.compactions !== before.compactions) busyLat.push(ms);
    batch = [];
    await turn();
  }
  const elapsedMs = performance.now() - t0;
  const late = lag.stop();
  const c1 = counters();
  await close();
  return {
    system,
    points: POINTS,
    batches: lat.length,
    pointsPerSec: POINTS / (elapsedMs / 1000),
    writeP50Ms: percentile(lat, 50),
    writeP99Ms: percentile(lat, 99),
    writeMaxMs: Math.max(...lat),
    busyBatches: busyLat.length,
    busyP99Ms: busyLat.length ? percentile(busyLat, 99) : NaN,
    busyMaxMs: busyLat.length ? Math.max(...busyLat) : NaN,
    lagSamples: late.length,
    lagP50Ms: percentile(late, 50),
    lagP99Ms: percentile(late, 99),
    lagMaxMs: Math.max(...late),
    flushes: c1.flushes - c0.flushes,
    compactions: c1.compactions - c0.compactions,
  };
}

// Control for machine noise: an idle process that only runs the same 1 ms timer, alongside
// each measured run. Its lateness is what the shared machine alone costs any process.
if (process.argv.includes("--noise")) {
  const lag = lagMonitor();
  process.on("SIGTERM", () => {
    const late = lag.stop();
    console.log(JSON.stringify({ lagP50Ms: percentile(late, 50), lagP99Ms: percentile(late, 99), lagMaxMs: Math.max(...late) }));
    process.exit(0);
  });
  await new Promise(() => {});
}

const childAt = process.argv.indexOf("--child");
if (childAt > 0) {
  const r = await child(process.argv[childAt + 1]!, process.argv[childAt + 2]!);
  console.log(JSON.stringify(r));
  process.exit(0);
}

const RUNS = arg("runs", 3);
const results: Record<string, RunResult[]> = { cityhall: [], sqlite: [] };
for (let run = 0; run < RUNS; run++) {
  for (const system of run % 2 ? ["sqlite", "cityhall"] : ["cityhall", "sqlite"]) {
    const dir = mkdtempSync(join(tmpdir(), `cityhall-latbench-${system}-`));
    try {
      const noise = Bun.spawn([process.execPath, import.meta.path, "--noise"], { stdout: "pipe", stderr: "inherit" });
      const p = Bun.spawnSync([process.execPath, import.meta.path, "--child", system, dir, "--points", String(POINTS)], { stderr: "inherit" });
      noise.kill("SIGTERM");
      const idle = JSON.parse((await new Response(noise.stdout).text()).trim()) as { lagP99Ms: number; lagMaxMs: number };
      if (p.exitCode !== 0) throw new Error(`${system} run failed with exit code ${p.exitCode}`);
      // JSON has no NaN: a figure that does not apply (SQLite has no flushes) comes back null.
      const r = JSON.parse(p.stdout.toString().trim().split("\n").pop()!, (_k, v) => (v === null ? NaN : v)) as RunResult;
      r.idleLagP99Ms = idle.lagP99Ms;
      r.idleLagMaxMs = idle.lagMaxMs;
      results[system]!.push(r);
      console.error(
        `run ${run + 1}/${RUNS} ${system}: write p50 ${r.writeP50Ms.toFixed(2)} p99 ${r.writeP99Ms.toFixed(2)} max ${r.writeMaxMs.toFixed(1)} ms over ${r.batches} batches` +
          ` (busy ${r.busyBatches}: p99 ${r.busyP99Ms.toFixed(2)} max ${r.busyMaxMs.toFixed(1)}), loop lag p99 ${r.lagP99Ms.toFixed(2)} max ${r.lagMaxMs.toFixed(1)} ms,` +
          ` ${r.flushes} flushes, ${r.compactions} compactions, ${fmt(r.pointsPerSec)} points/s; idle process lag p99 ${idle.lagP99Ms.toFixed(2)} max ${idle.lagMaxMs.toFixed(1)} ms`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const med = (system: string, f: keyof RunResult) => median(results[system]!.map((r) => r[f] as number));
const rows: [string, keyof RunResult, number][] = [
  ["write latency p50, ms", "writeP50Ms", 2],
  ["write latency p99, ms", "writeP99Ms", 2],
  ["write latency max, ms", "writeMaxMs", 1],
  ["event-loop lateness of a 1 ms timer, p99, ms", "lagP99Ms", 2],
  ["event-loop lateness of a 1 ms timer, max, ms", "lagMaxMs", 1],
  ["durable ingest, points/s", "pointsPerSec", 0],
];
const lines = [
  `Write latency, factory workload, ${fmt(POINTS)} points in ${fmt(POINTS / BATCH)} batches of ${fmt(BATCH)}, median of ${RUNS} runs (each system in its own process)`,
  "",
  "| metric | CityHall | bun:sqlite | ratio |",
  "|---|---:|---:|---:|",
];
for (const [label, f, d] of rows) {
  const c = med("cityhall", f);
  const s = med("sqlite", f);
  const ratio = f === "pointsPerSec" ? c / s : s / c;
  lines.push(`| ${label} | ${fmt(c, d)} | ${fmt(s, d)} | ${fmt(ratio, 1)}x |`);
}
lines.push(
  `| the same timer in an idle process during the run (machine noise), p99, max, ms | ${fmt(med("cityhall", "idleLagP99Ms"), 2)}, ${fmt(med("cityhall", "idleLagMaxMs"), 1)} | ${fmt(med("sqlite", "idleLagP99Ms"), 2)}, ${fmt(med("sqlite", "idleLagMaxMs"), 1)} | |`,
  `| CityHall batches overlapping a flush or compaction: count, p99, max (ms) | ${fmt(med("cityhall", "busyBatches"))}, ${fmt(med("cityhall", "busyP99Ms"), 2)}, ${fmt(med("cityhall", "busyMaxMs"), 1)} | | |`,
  `| flushes, compactions completed during the measured writes | ${fmt(med("cityhall", "flushes"))}, ${fmt(med("cityhall", "compactions"))} | | |`,
);
lines.push("", "ratio: how many times better CityHall is (>1 = CityHall better). Medians over runs of each run's percentile.");
console.log(lines.join("\n"));
