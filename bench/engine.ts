// Storage-engine benchmark: CityHall against bun:sqlite, several alternating runs, each
// system in its own process (bench/engine_run.ts); prints the medians and the ratios.
// Workloads: factory (the full table: ingest, size, reads, RSS), then retail (JSON strings),
// gateway (Telegraf-style tags and fields, integers and full-precision floats) and floats
// (full-precision values, jittered timestamps): ingest, bytes per point, RSS.
//
//   bun bench/engine.ts [--runs 3] [--points 1000000] [--workloads factory,retail,gateway,floats]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, median } from "./stats.ts";

const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(flag("runs") ?? 3);
const POINTS = Number(flag("points") ?? 1_000_000);
const WORKLOADS = (flag("workloads") ?? "factory,retail,gateway,floats").split(",");

type Result = Record<string, number | string>;
/** results[workload][system] */
const results: Record<string, Record<string, Result[]>> = {};

for (let run = 0; run < RUNS; run++) {
  for (const workload of WORKLOADS) {
    const byWorkload = (results[workload] ??= { cityhall: [], sqlite: [] });
    for (const system of run % 2 ? ["sqlite", "cityhall"] : ["cityhall", "sqlite"]) {
      const dir = mkdtempSync(join(tmpdir(), `cityhall-bench-${system}-`));
      try {
        const p = Bun.spawnSync(
          [process.execPath, join(import.meta.dir, "engine_run.ts"), system, dir, "--points", String(POINTS), "--workload", workload],
          { stderr: "inherit" },
        );
        if (p.exitCode !== 0) throw new Error(`${system} run on ${workload} failed with exit code ${p.exitCode}`);
        const r = JSON.parse(p.stdout.toString().trim().split("\n").pop()!) as Result;
        byWorkload[system]!.push(r);
        console.error(
          `run ${run + 1}/${RUNS} ${workload} ${system}: ${fmt(r.ingestPointsPerSec as number)} points/s, ${(r.bytesPerPoint as number).toFixed(2)} B/point, peak RSS ${(r.peakRssMB as number).toFixed(1)} MB (${r.rssSamples} samples)`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

const med = (workload: string, system: string, field: string) => median(results[workload]![system]!.map((r) => r[field] as number));
const lines: string[] = [];
if (results.factory) {
  const rows: [string, string, number, boolean, string][] = [
    ["durable ingest, points/s (1,000-point batches)", "ingestPointsPerSec", 0, true, ">= 4x SQLite"],
    ["bytes per point on disk", "bytesPerPoint", 2, false, "<= 3"],
    ["newest-point get, median µs", "getMedianUs", 2, false, "<= SQLite"],
    ["3,600-point range, median µs", "rangeMedianUs", 0, false, "<= SQLite"],
    ["get of a missing key, median µs", "missMedianUs", 2, false, "< 2 µs"],
    ["peak RSS during ingest, MB", "peakRssMB", 1, false, "< 100"],
    ["RSS at the end (after compaction and reads), MB", "rssFinalMB", 1, false, ""],
  ];
  lines.push(
    `Factory workload, ${fmt(POINTS)} points, median of ${RUNS} runs (each system in its own process)`,
    "",
    "| metric | CityHall | bun:sqlite | ratio | target |",
    "|---|---:|---:|---:|---|",
  );
  for (const [label, f, digits, higherIsBetter, target] of rows) {
    const c = med("factory", "cityhall", f);
    const s = med("factory", "sqlite", f);
    lines.push(`| ${label} | ${fmt(c, digits)} | ${fmt(s, digits)} | ${fmt(higherIsBetter ? c / s : s / c, 1)}x | ${target} |`);
  }
  lines.push("");
}
lines.push(
  `Every workload, ${fmt(POINTS)} points each, median of ${RUNS} runs; bytes on disk after a flush and a full compaction (SQLite: after a WAL checkpoint)`,
  "",
  "| workload | B/point CityHall | B/point bun:sqlite | ratio | ingest points/s CityHall | bun:sqlite | ratio | peak RSS MB CityHall | bun:sqlite |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
);
for (const w of WORKLOADS) {
  const cb = med(w, "cityhall", "bytesPerPoint");
  const sb = med(w, "sqlite", "bytesPerPoint");
  const ci = med(w, "cityhall", "ingestPointsPerSec");
  const si = med(w, "sqlite", "ingestPointsPerSec");
  lines.push(
    `| ${w} | ${fmt(cb, 2)} | ${fmt(sb, 2)} | ${fmt(sb / cb, 1)}x | ${fmt(ci)} | ${fmt(si)} | ${fmt(ci / si, 1)}x | ${fmt(med(w, "cityhall", "peakRssMB"), 1)} | ${fmt(med(w, "sqlite", "peakRssMB"), 1)} |`,
  );
}
lines.push(
  "",
  "ratio: how many times better CityHall is (>1 = CityHall better). SQLite: WAL mode, synchronous=FULL, 1,000-point transactions, WITHOUT ROWID table (series, ts, v). " +
    "RSS is sampled after every batch (and every 5 ms while the event loop runs) in both systems.",
);
console.log(lines.join("\n"));
