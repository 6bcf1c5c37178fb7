// Storage-engine benchmark: CityHall against bun:sqlite on the factory workload
// (100 sensors x 10,000 s = 1,000,000 points), several alternating runs, each system in its
// own process; prints the medians and the ratios.
//
//   bun bench/engine.ts [--runs 3] [--points 1000000]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, median } from "./stats.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 3);
const POINTS = arg("points", 1_000_000);

type Result = Record<string, number | string>;
const results: Record<string, Result[]> = { cityhall: [], sqlite: [] };

for (let run = 0; run < RUNS; run++) {
  for (const system of run % 2 ? ["sqlite", "cityhall"] : ["cityhall", "sqlite"]) {
    const dir = mkdtempSync(join(tmpdir(), `cityhall-bench-${system}-`));
    try {
      const p = Bun.spawnSync([process.execPath, join(import.meta.dir, "engine_run.ts"), system, dir, "--points", String(POINTS)], {
        stderr: "inherit",
      });
      if (p.exitCode !== 0) throw new Error(`${system} run failed with exit code ${p.exitCode}`);
      const r = JSON.parse(p.stdout.toString().trim().split("\n").pop()!) as Result;
      results[system]!.push(r);
      console.error(`run ${run + 1}/${RUNS} ${system}: ${fmt(r.ingestPointsPerSec as number)} points/s`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const med = (system: string, field: string) => median(results[system]!.map((r) => r[field] as number));
interface Row {
  label: string;
  field: string;
  digits: number;
  higherIsBetter: boolean;
  target: string;
}
const rows: Row[] = [
  { label: "durable ingest, points/s (1,000-point batches)", field: "ingestPointsPerSec", digits: 0, higherIsBetter: true, target: ">= 4x SQLite" },
  { label: "bytes per point on disk", field: "bytesPerPoint", digits: 2, higherIsBetter: false, target: "<= 3" },
  { label: "newest-point get, median µs", field: "getMedianUs", digits: 2, higherIsBetter: false, target: "<= SQLite" },
  { label: "3,600-point range, median µs", field: "rangeMedianUs", digits: 0, higherIsBetter: false, target: "<= SQLite" },
  { label: "get of a missing key, median µs", field: "missMedianUs", digits: 2, higherIsBetter: false, target: "< 2 µs" },
  { label: "p99 write (100 pts) during compaction, ms", field: "writeP99DuringCompactionMs", digits: 2, higherIsBetter: false, target: "low" },
  { label: "peak RSS during ingest, MB", field: "peakRssMB", digits: 1, higherIsBetter: false, target: "< 100" },
];
const lines = [
  `Factory workload, ${fmt(POINTS)} points, median of ${RUNS} runs (each system in its own process)`,
  "",
  "| metric | CityHall | bun:sqlite | ratio | target |",
  "|---|---:|---:|---:|---|",
];
for (const r of rows) {
  const c = med("cityhall", r.field);
  const s = med("sqlite", r.field);
  const ratio = r.higherIsBetter ? c / s : s / c;
  lines.push(`| ${r.label} | ${fmt(c, r.digits)} | ${fmt(s, r.digits)} | ${fmt(ratio, 1)}x | ${r.target} |`);
}
lines.push("");
lines.push(`ratio: how many times better CityHall is (>1 = CityHall better). SQLite: WAL mode, synchronous=FULL, 1,000-point transactions, WITHOUT ROWID table (series, ts, v).`);
lines.push(`CityHall writes during compaction: median ${fmt(med("cityhall", "writesDuringCompaction"))} batches over a ${fmt(med("cityhall", "compactionMs"))} ms compaction; SQLite's figure is its plain 100-point write p99.`);
console.log(lines.join("\n"));
