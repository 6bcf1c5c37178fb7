// HTTP benchmark: line-protocol ingest of the factory workload (1,000,000 points in
// 5,000-point batches, from 1 and from 4 concurrent senders) into a CityHall leader and into InfluxDB 1.x
// (Debian's `influxdb` package), each started by this script on loopback with its data in a
// temp directory; several alternating runs, medians and ratios. Also: the seeds' loop of
// 100 `cityhall client put` processes, the daemon's idle RSS and its start-to-ready time.
//
//   bun bench/http.ts [--runs 3] [--points 1000000]

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, median } from "./stats.ts";
import { factory, toLineProtocol } from "./workload.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 3);
const POINTS = arg("points", 1_000_000);
const BATCH = 5000;
const SENDER_COUNTS = [1, 4];
const MAIN = join(import.meta.dir, "..", "src", "cli", "main.ts");

function batches(): string[] {
  const out: string[] = [];
  let lines: string[] = [];
  for (const p of factory({ sensors: 100, seconds: POINTS / 100 })) {
    lines.push(toLineProtocol(p));
    if (lines.length === BATCH) {
      out.push(lines.join("\n"));
      lines = [];
    }
  }
  if (lines.length) out.push(lines.join("\n"));
  return out;
}

async function waitFor(url: string, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return performance.now() - t0;
    } catch {
      // not up yet
    }
    await Bun.sleep(5);
  }
  throw new Error(`${url} did not come up within ${timeoutMs} ms`);
}

async function ingest(url: string, bodies: string[], senders: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const r = await fetch(url, { method: "POST", body });
        if (r.status !== 204) throw new Error(`${url}: ${r.status} ${await r.text()}`);
      }
    }),
  );
  return POINTS / ((performance.now() - t0) / 1000);
}

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

function rssMB(pid: number): number {
  const status = require("node:fs").readFileSync(`/proc/${pid}/status`, "utf8") as string;
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function runCityHall(bodies: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "cityhall-httpbench-"));
  const port = freePort();
  const t0 = performance.now();
  const proc = Bun.spawn([process.execPath, MAIN, "leader", "--data-dir", dir, "--port", String(port), "--replication-port", "0", "--quiet"], {
    stderr: "inherit",
  });
  try {
    await waitFor(`http://127.0.0.1:${port}/health`, 10_000);
    const readyMs = performance.now() - t0;
    await Bun.sleep(300);
    const idleRss = rssMB(proc.pid);
    const rates = [];
    for (const n of SENDER_COUNTS) rates.push(await ingest(`http://127.0.0.1:${port}/write?precision=ms`, bodies, n));
    const afterRss = rssMB(proc.pid);
    // The seeds' demo: 100 separate client processes.
    const l0 = performance.now();
    for (let i = 1; i <= 100; i++) {
      const p = Bun.spawnSync([process.execPath, MAIN, "client", "put", `sensor.temp.line_${i}`, `${20 + (i % 10)}.5`, "--addr", `127.0.0.1:${port}`]);
      if (p.exitCode !== 0) throw new Error(`client put failed: ${p.stderr}`);
    }
    const loopMs = performance.now() - l0;
    return { rates, readyMs, idleRss, afterRss, loopMs };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runInflux(bodies: string[]) {
  const influxd = Bun.which("influxd");
  if (!influxd) throw new Error("influxd not found: apt-get install influxdb");
  const dir = mkdtempSync(join(tmpdir(), "influx-httpbench-"));
  const port = freePort();
  const rpc = freePort();
  writeFileSync(
    join(dir, "influxdb.conf"),
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`,
  );
  const proc = Bun.spawn([influxd, "-config", join(dir, "influxdb.conf")], { stdout: "ignore", stderr: "ignore" });
  try {
    await waitFor(`http://127.0.0.1:${port}/ping`, 20_000);
    await fetch(`http://127.0.0.1:${port}/query?q=CREATE+DATABASE+bench`, { method: "POST" });
    await Bun.sleep(300);
    const idleRss = rssMB(proc.pid);
    const rates = [];
    for (const n of SENDER_COUNTS) rates.push(await ingest(`http://127.0.0.1:${port}/write?db=bench&precision=ms`, bodies, n));
    return { rates, idleRss };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const bodies = batches();
const ch: Awaited<ReturnType<typeof runCityHall>>[] = [];
const ix: Awaited<ReturnType<typeof runInflux>>[] = [];
for (let run = 0; run < RUNS; run++) {
  if (run % 2 === 0) {
    ch.push(await runCityHall(bodies));
    ix.push(await runInflux(bodies));
  } else {
    ix.push(await runInflux(bodies));
    ch.push(await runCityHall(bodies));
  }
  console.error(`run ${run + 1}/${RUNS}: cityhall ${ch[ch.length - 1]!.rates.map((r) => fmt(r))} points/s, influxdb ${ix[ix.length - 1]!.rates.map((r) => fmt(r))} points/s`);
}
const m = <T>(xs: T[], f: (x: T) => number) => median(xs.map(f));
console.log(
  [
    `HTTP ingest, factory workload: ${fmt(POINTS)} points as line protocol in ${fmt(BATCH)}-point batches (the same points written again for the second sender count); median of ${RUNS} runs`,
    "",
    "| metric | CityHall | InfluxDB 1.6 | ratio |",
    "|---|---:|---:|---:|",
    ...SENDER_COUNTS.map((n, i) => {
      const c = m(ch, (x) => x.rates[i]!);
      const f = m(ix, (x) => x.rates[i]!);
      return `| ingest, points/s, ${n} sender${n > 1 ? "s" : ""} | ${fmt(c)} | ${fmt(f)} | ${fmt(c / f, 2)}x |`;
    }),
    `| idle RSS, MB | ${fmt(m(ch, (x) => x.idleRss), 1)} | ${fmt(m(ix, (x) => x.idleRss), 1)} | |`,
    `| RSS after the ingest, MB | ${fmt(m(ch, (x) => x.afterRss), 1)} | | |`,
    `| start to ready, ms | ${fmt(m(ch, (x) => x.readyMs))} | | |`,
    `| 100 \`cityhall client put\` processes, total ms | ${fmt(m(ch, (x) => x.loopMs))} | | |`,
  ].join("\n"),
);
