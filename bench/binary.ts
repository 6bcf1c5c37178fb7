// Size, start-up time and idle memory of the compiled executables (run `bun build.ts` first):
// x64 natively, arm64 under qemu-user (emulated: its times are not a Raspberry Pi's).
//
//   bun bench/binary.ts [--runs 5]

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, median } from "./stats.ts";

const RUNS = (() => {
  const i = process.argv.indexOf("--runs");
  return i > 0 ? Number(process.argv[i + 1]) : 5;
})();
const DIST = join(import.meta.dir, "..", "dist");
const QEMU = Bun.which("qemu-aarch64");

function rssMB(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024;
}

async function measure(cmd: string[]): Promise<{ readyMs: number; idleRssMB: number }> {
  const dir = mkdtempSync(join(tmpdir(), "cityhall-binbench-"));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const t0 = performance.now();
  const proc = Bun.spawn([...cmd, "leader", "--data-dir", dir, "--port", String(port), "--replication-port", "0", "--quiet"], { stderr: "ignore" });
  try {
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
      } catch {
        // not yet
      }
      if (performance.now() - t0 > 60_000) throw new Error(`${cmd.join(" ")} did not start`);
      await Bun.sleep(2);
    }
    const readyMs = performance.now() - t0;
    await Bun.sleep(1000);
    // Under qemu the process is qemu itself; its RSS includes the emulator.
    return { readyMs, idleRssMB: rssMB(proc.pid) };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: string[] = ["| build | binary | .gz download | .xz download | start to ready (median) | idle RSS (median) |", "|---|---:|---:|---:|---:|---:|"];
for (const [name, cmd, label] of [
  ["linux-x64", [join(DIST, "cityhall-linux-x64")], "x64 (native)"],
  ["linux-x64-baseline", [join(DIST, "cityhall-linux-x64-baseline")], "x64 baseline (native)"],
  ["linux-arm64", QEMU ? [QEMU, "-L", "/usr/aarch64-linux-gnu", join(DIST, "cityhall-linux-arm64")] : [], "arm64 (emulated under qemu-user)"],
] as const) {
  const bin = join(DIST, `cityhall-${name}`);
  if (!existsSync(bin) || cmd.length === 0) continue;
  const size = (f: string) => (existsSync(f) ? `${(statSync(f).size / 1048576).toFixed(1)} MiB` : "-");
  const res = [];
  for (let i = 0; i < RUNS; i++) res.push(await measure([...cmd]));
  rows.push(
    `| ${label} | ${size(bin)} | ${size(`${bin}.gz`)} | ${size(`${bin}.xz`)} | ${fmt(median(res.map((r) => r.readyMs)))} ms | ${median(res.map((r) => r.idleRssMB)).toFixed(1)} MB |`,
  );
}
console.log(`Compiled executables, ${RUNS} starts each\n\n${rows.join("\n")}`);
