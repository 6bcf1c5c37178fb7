// Replication benchmark on the factory workload, real processes on loopback:
//  - catch-up: a replica that was following goes down; the leader takes the 8-hour factory
//    outage (100 sensors x 28,800 s = 2,880,000 points, line protocol, 5,000-point
//    batches); the replica restarts: time until everything is applied, and the bytes
//    counted on its socket per point (against the original's claims: 4 minutes and 1.8 KB
//    per entry; Prometheus remote write spends about 50 B a sample);
//  - live latency: 1,000 single-point writes a second to the leader; from the moment each
//    write is sent, the time to the leader's acknowledgement and, separately, the time to
//    the point being readable on the replica (p50, p99; negatives counted, never clamped);
//  - ten replicas attached: the leader's ingest rate against the same run with none. The
//    leader is pinned to one core and everything else (client, replicas) to the other, so
//    the figure is the leader's own cost of serving replicas, not CPU contention on this
//    2-core machine.
//
//   bun bench/replication.ts [--runs 3] [--seconds 28800] [--parts catchup,live,ten]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, median, percentile } from "./stats.ts";
import { EPOCH_MS, factory, toLineProtocol } from "./workload.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 3);
const SECONDS = arg("seconds", 28_800);
const POINTS = SECONDS * 100;
const MAIN = join(import.meta.dir, "..", "src", "cli", "main.ts");
const hasTaskset = !!Bun.which("taskset");

interface Node {
  proc: Bun.Subprocess;
  port: number;
  replicationPort: number;
  dir: string;
}

const dirs: string[] = [];
function tmp(label: string): string {
  const d = mkdtempSync(join(tmpdir(), `cityhall-replbench-${label}-`));
  dirs.push(d);
  return d;
}

async function start(args: string[], cpu?: number, niceness = 0): Promise<Node> {
  const dir = args[args.indexOf("--data-dir") + 1]!;
  let full = [process.execPath, MAIN, ...args, "--port", "0", "--quiet"];
  if (hasTaskset && cpu !== undefined) full = ["taskset", "-c", String(cpu), ...full];
  if (niceness) full = ["nice", "-n", String(niceness), ...full];
  const proc = Bun.spawn(full, { stdout: "ignore", stderr: "pipe" });
  const reader = proc.stderr.getReader();
  let text = "";
  // --quiet hides the ready line; find the port from /proc instead: poll the health endpoint
  // on ports the process listens on.
  for (let i = 0; i < 400; i++) {
    const ports = listeningPorts(proc.pid);
    for (const port of ports) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/health`);
        if (r.ok) {
          const repl = ports.find((p) => p !== port) ?? 0;
          void (async () => {
            for (;;) {
              const c = await reader.read();
              if (c.done) return;
              text += new TextDecoder().decode(c.value);
              if (text.length > 100_000) text = text.slice(-50_000);
            }
          })();
          return { proc, port, replicationPort: repl, dir };
        }
      } catch {
        // not HTTP
      }
    }
    await Bun.sleep(25);
  }
  throw new Error(`node did not start: ${text}`);
}

/** TCP ports a process listens on (from /proc/net/tcp and its socket inodes). */
function listeningPorts(pid: number): number[] {
  const fs = require("node:fs") as typeof import("node:fs");
  const inodes = new Set<string>();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const l = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(l);
        if (m) inodes.add(m[1]!);
      } catch {
        // fd closed meanwhile
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let lines: string[] = [];
    try {
      lines = fs.readFileSync(file, "utf8").split("\n").slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "0A") continue; // LISTEN
      if (inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(":")[1]!, 16));
    }
  }
  return ports;
}

async function stop(n: Node): Promise<void> {
  n.proc.kill("SIGTERM");
  await n.proc.exited;
}

async function status(n: Node): Promise<Record<string, any>> {
  return (await (await fetch(`http://127.0.0.1:${n.port}/v1/status`)).json()) as Record<string, any>;
}

function lpBatches(seconds: number, start = EPOCH_MS): string[] {
  const out: string[] = [];
  let lines: string[] = [];
  for (const p of factory({ sensors: 100, seconds, start })) {
    lines.push(toLineProtocol(p));
    if (lines.length === 5000) {
      out.push(lines.join("\n"));
      lines = [];
    }
  }
  if (lines.length) out.push(lines.join("\n"));
  return out;
}

async function ingest(n: Node, bodies: string[]): Promise<number> {
  const t0 = performance.now();
  for (const body of bodies) {
    const r = await fetch(`http://127.0.0.1:${n.port}/write?precision=ms`, { method: "POST", body });
    if (r.status !== 204) throw new Error(`write: ${r.status} ${await r.text()}`);
  }
  return (performance.now() - t0) / 1000;
}

async function waitApplied(replica: Node, seq: number, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while ((await status(replica)).db.lastSeq < seq) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`replica did not reach ${seq} in ${timeoutMs} ms`);
    await Bun.sleep(5);
  }
}

async function catchUp(outage: string[]) {
  const leader = await start(["leader", "--data-dir", tmp("leader"), "--replication-port", "0"]);
  const rdir = tmp("replica");
  const replicaArgs = ["replica", "--leader", `127.0.0.1:${leader.replicationPort}`, "--data-dir", rdir];
  try {
    let replica = await start(replicaArgs);
    // Follow for a moment (so the leader knows the replica and keeps its WAL), then go down.
    await ingest(leader, lpBatches(10, EPOCH_MS - 20_000));
    await waitApplied(replica, (await status(leader)).db.lastSeq, 30_000);
    await stop(replica);
    await ingest(leader, outage);
    const target = (await status(leader)).db.lastSeq;
    const before = (await import("../src/replication/status.ts")).readReplicaState(new (await import("../src/vfs/real_fs.ts")).RealFs(), rdir)!;
    const t0 = performance.now();
    replica = await start(replicaArgs);
    await waitApplied(replica, target, 300_000);
    const seconds = (performance.now() - t0) / 1000;
    const st = (await status(replica)).replication;
    await stop(replica);
    return {
      seconds,
      pointsPerSec: POINTS / seconds,
      wireBytesPerPoint: (st.wireBytesReceived - before.wireBytesReceived) / POINTS,
      walBytesPerPoint: (st.bytesReceived - before.bytesReceived) / POINTS,
    };
  } finally {
    await stop(leader);
  }
}

/**
 * 1,000 single-point writes a second to the leader. For each write, from the moment the
 * client sends it (timestamp taken before the request is issued): until the leader's
 * acknowledgement arrives, and until the point is readable on the replica (seen by a
 * poller that reads the newest point there back to back, so visibility is seen at most one
 * HTTP round trip late). Nothing is clamped: a negative latency would be a measurement or
 * ordering bug, and is counted and reported.
 */
async function liveLatency(writes = 5000, perSecond = 1000) {
  const leader = await start(["leader", "--data-dir", tmp("leader"), "--replication-port", "0"]);
  const replica = await start(["replica", "--leader", `127.0.0.1:${leader.replicationPort}`, "--data-dir", tmp("replica")]);
  try {
    const sentAt = new Array<number>(writes).fill(NaN);
    const ackAt = new Array<number>(writes).fill(NaN);
    const visibleAt = new Array<number>(writes).fill(NaN);
    let seen = -1;
    let done = false;
    let beforeSend = 0;
    const poller = (async () => {
      while (!done) {
        const r = await fetch(`http://127.0.0.1:${replica.port}/v1/get?key=latency.probe`);
        const now = performance.now();
        if (r.status === 200) {
          const i = ((await r.json()) as { ts: number }).ts - EPOCH_MS;
          for (let k = seen + 1; k <= i && k < writes; k++) {
            if (Number.isNaN(sentAt[k]!)) beforeSend++; // visible before it was sent: a bug
            visibleAt[k] = now;
          }
          seen = Math.max(seen, i);
        } else await r.arrayBuffer();
      }
    })();
    const t0 = performance.now();
    for (let i = 0; i < writes; i++) {
      const due = t0 + (i * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 1) await Bun.sleep(wait);
      sentAt[i] = performance.now();
      const r = await fetch(`http://127.0.0.1:${leader.port}/v1/write`, {
        method: "POST",
        body: JSON.stringify([{ key: "latency.probe", ts: EPOCH_MS + i, value: i }]),
      });
      ackAt[i] = performance.now();
      if (r.status !== 204 && r.status !== 200) throw new Error(`write ${i}: ${r.status} ${await r.text()}`);
      await r.arrayBuffer();
    }
    const t1 = Date.now();
    while (seen < writes - 1 && Date.now() - t1 < 10_000) await Bun.sleep(5);
    done = true;
    await poller;
    const ack: number[] = [];
    const visible: number[] = [];
    let negative = 0;
    let neverVisible = 0;
    for (let i = 0; i < writes; i++) {
      const a = ackAt[i]! - sentAt[i]!;
      const v = visibleAt[i]! - sentAt[i]!;
      ack.push(a);
      if (a < 0) negative++;
      if (Number.isNaN(v)) neverVisible++;
      else {
        visible.push(v);
        if (v < 0) negative++;
      }
    }
    return {
      ackP50: percentile(ack, 50),
      ackP99: percentile(ack, 99),
      visibleP50: percentile(visible, 50),
      visibleP99: percentile(visible, 99),
      visibleMax: Math.max(...visible),
      samples: visible.length,
      negative: negative + beforeSend,
      neverVisible,
    };
  } finally {
    await stop(replica);
    await stop(leader);
  }
}

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const f = (require("node:fs") as typeof import("node:fs")).readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function tenReplicas(bodies: string[]) {
  const rate = async (replicas: number) => {
    const leader = await start(["leader", "--data-dir", tmp("leader"), "--replication-port", "0"], 0);
    const rs: Node[] = [];
    try {
      // Replicas run niced on the client's core, so they do not starve the client that
      // feeds the leader; they catch up right after the ingest.
      for (let i = 0; i < replicas; i++) rs.push(await start(["replica", "--leader", `127.0.0.1:${leader.replicationPort}`, "--data-dir", tmp("r")], 1, 19));
      await Bun.sleep(300);
      const cpu0 = cpuSeconds(leader.proc.pid);
      const seconds = await ingest(leader, bodies);
      const target = (await status(leader)).db.lastSeq;
      for (const r of rs) await waitApplied(r, target, 120_000);
      // Leader CPU for the ingest and for serving every replica until all are caught up.
      const cpu = cpuSeconds(leader.proc.pid) - cpu0;
      return { wall: (bodies.length * 5000) / seconds, perCpu: (bodies.length * 5000) / cpu };
    } finally {
      for (const r of rs) await stop(r);
      await stop(leader);
    }
  };
  const none = await rate(0);
  const ten = await rate(10);
  return { none: none.wall, ten: ten.wall, drop: 1 - ten.wall / none.wall, cpuNone: none.perCpu, cpuTen: ten.perCpu, cpuDrop: 1 - ten.perCpu / none.perCpu };
}

if (hasTaskset) {
  // The client (this process) stays off the leader's core.
  Bun.spawnSync(["taskset", "-p", "-c", "1", String(process.pid)]);
}
const PARTS = new Set((process.argv.includes("--parts") ? process.argv[process.argv.indexOf("--parts") + 1]! : "catchup,live,ten").split(","));
const outage = PARTS.has("catchup") ? lpBatches(SECONDS) : [];
const ingestBodies = PARTS.has("ten") ? lpBatches(20_000, EPOCH_MS + 100_000_000) : [];
const cu: Awaited<ReturnType<typeof catchUp>>[] = [];
const lv: Awaited<ReturnType<typeof liveLatency>>[] = [];
const tr: Awaited<ReturnType<typeof tenReplicas>>[] = [];
try {
  for (let run = 0; run < RUNS; run++) {
    const parts: string[] = [];
    if (PARTS.has("catchup")) {
      const c = await catchUp(outage);
      cu.push(c);
      parts.push(`catch-up ${c.seconds.toFixed(2)} s (${fmt(c.pointsPerSec)} points/s, ${c.wireBytesPerPoint.toFixed(2)} B/point)`);
    }
    if (PARTS.has("live")) {
      const l = await liveLatency();
      lv.push(l);
      parts.push(
        `live: leader ack p50 ${l.ackP50.toFixed(2)} p99 ${l.ackP99.toFixed(2)} ms, replica-visible p50 ${l.visibleP50.toFixed(2)} p99 ${l.visibleP99.toFixed(2)} max ${l.visibleMax.toFixed(1)} ms (${l.samples} samples, ${l.negative} negative, ${l.neverVisible} never visible)`,
      );
    }
    if (PARTS.has("ten")) {
      const t = await tenReplicas(ingestBodies);
      tr.push(t);
      parts.push(`ten replicas ${(t.drop * 100).toFixed(1)}% drop (leader CPU per point: ${(t.cpuDrop * 100).toFixed(1)}% more)`);
    }
    console.error(`run ${run + 1}/${RUNS}: ${parts.join(", ")}`);
  }
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
const m = <T>(xs: T[], f: (x: T) => number) => median(xs.map(f));
const rows: string[] = [];
if (cu.length) {
  rows.push(
    `| catch-up of the 8-hour outage (${fmt(POINTS)} points), s | ${m(cu, (x) => x.seconds).toFixed(2)} | 240 (4 min) | <= 10 |`,
    `| catch-up rate, points/s | ${fmt(m(cu, (x) => x.pointsPerSec))} | 3,000 | >= 300,000 |`,
    `| bytes on the wire per point (counted on the replica's socket) | ${m(cu, (x) => x.wireBytesPerPoint).toFixed(2)} | 1,800 (Prometheus remote write: ~50) | <= 3 |`,
    `| WAL bytes per point (uncompressed) | ${m(cu, (x) => x.walBytesPerPoint).toFixed(2)} | | |`,
  );
}
if (lv.length) {
  rows.push(
    `| live, 1,000 writes/s: send to leader ack, p50, ms | ${m(lv, (x) => x.ackP50).toFixed(2)} | | |`,
    `| live, 1,000 writes/s: send to leader ack, p99, ms | ${m(lv, (x) => x.ackP99).toFixed(2)} | | |`,
    `| live, 1,000 writes/s: send to readable on the replica, p50, ms | ${m(lv, (x) => x.visibleP50).toFixed(2)} | 70 (average) | <= 5 |`,
    `| live, 1,000 writes/s: send to readable on the replica, p99, ms | ${m(lv, (x) => x.visibleP99).toFixed(2)} | 140 (max seen) | <= 20 |`,
    `| live: negative latencies (bugs), writes never seen on the replica (sum over runs) | ${lv.reduce((n, x) => n + x.negative, 0)}, ${lv.reduce((n, x) => n + x.neverVisible, 0)} | | 0, 0 |`,
  );
}
if (tr.length) {
  rows.push(
    `| leader ingest with 0 replicas, points/s | ${fmt(m(tr, (x) => x.none))} | | |`,
    `| leader ingest with 10 replicas, points/s | ${fmt(m(tr, (x) => x.ten))} | | |`,
    `| ingest drop with 10 replicas (wall clock; replicas share the client's core) | ${(m(tr, (x) => x.drop) * 100).toFixed(1)}% | | <= 15% |`,
    `| leader ingest per CPU-second, 0 replicas | ${fmt(m(tr, (x) => x.cpuNone))} | | |`,
    `| leader ingest per CPU-second, 10 replicas (serving them included) | ${fmt(m(tr, (x) => x.cpuTen))} | | |`,
    `| leader CPU cost of 10 replicas | ${(m(tr, (x) => x.cpuDrop) * 100).toFixed(1)}% | | <= 15% |`,
  );
}
console.log(
  [
    `Replication, factory workload, median of ${RUNS} runs (processes on loopback${hasTaskset ? "; leader on core 0, client and replicas on core 1 for the ten-replica figure" : ""})`,
    "",
    "| metric | CityHall | original claim | target |",
    "|---|---:|---:|---|",
    ...rows,
  ].join("\n"),
);
