// Two more workloads for the bytes-per-point figures, beside bench/workload.ts's factory
// and retail:
//
//   gateway  LOCAL COPY of the `gateway` generator of ../shared/workloads/sensors.ts
//            (Telegraf-style lines: tags, several fields, integers and full-precision
//            floats, every 10 s with a few ms of jitter), kept line-for-line identical
//            (checked by bench/check_workload.ts). Remove it here once bench/workload.ts
//            carries `gateway` itself. Lines become CityHall points through the product's
//            own line-protocol mapping (src/server/line_protocol.ts), as the HTTP API
//            stores them.
//   floats   100 sensors once a second with up to +-50 ms of jitter on every timestamp and
//            full-precision (float64) random-walk values: the worst case for the column
//            encodings (no decimal scaling, irregular deltas-of-deltas).

import { parseLineProtocol } from "../src/server/line_protocol.ts";
import { EPOCH_MS, prng } from "./workload.ts";
import type { Point } from "./workload.ts";

// ---- gateway: copied from ../shared/workloads/sensors.ts (do not edit here) ----

export interface GatewayOptions {
  hosts?: number;
  /** number of 10-second reporting intervals */
  intervals?: number;
  start?: number;
  seed?: number;
}

/** One Telegraf-style line: measurement, sorted tags, fields (integers carry Influx's `i`). */
export interface Line {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, number | bigint>;
  ts: number; // milliseconds since the Unix epoch
}

/** System metrics of `hosts` gateways, 4 CPUs each, every 10 s with a few ms of jitter. */
export function* gateway(o: GatewayOptions = {}): Generator<Line> {
  const hosts = o.hosts ?? 10;
  const intervals = o.intervals ?? 360;
  const start = o.start ?? EPOCH_MS;
  const rnd = prng(o.seed ?? 11);
  const st = Array.from({ length: hosts }, () => ({
    busy: Array.from({ length: 4 }, () => 0.05 + rnd() * 0.3),
    memUsed: 300e6 + Math.floor(rnd() * 200e6),
    diskUsed: 4e9 + Math.floor(rnd() * 8e9),
    rx: Math.floor(rnd() * 1e9),
    tx: Math.floor(rnd() * 1e8),
    milliC: 42000 + Math.floor(rnd() * 10000),
  }));
  const MEM_TOTAL = 1_000_000_000 - 7 * 1024 * 1024;
  for (let k = 0; k < intervals; k++) {
    for (let h = 0; h < hosts; h++) {
      const s = st[h]!;
      const host = `gw${h}`;
      const ts = start + k * 10_000 + Math.floor(rnd() * 40) - 20;
      for (let c = 0; c < 4; c++) {
        s.busy[c] = Math.min(0.98, Math.max(0.01, s.busy[c]! + (rnd() - 0.5) * 0.04));
        // ratios of jiffies over the interval, as an agent computes them: full precision
        const jiffies = 1000 + Math.floor(rnd() * 3);
        const user = Math.floor(jiffies * s.busy[c]! * 0.7);
        const system = Math.floor(jiffies * s.busy[c]! * 0.3);
        yield {
          measurement: "cpu",
          tags: { cpu: `cpu${c}`, host },
          fields: { usage_user: (100 * user) / jiffies, usage_system: (100 * system) / jiffies, usage_idle: (100 * (jiffies - user - system)) / jiffies },
          ts,
        };
      }
      s.memUsed = Math.min(MEM_TOTAL - 50e6, Math.max(200e6, s.memUsed + Math.floor((rnd() - 0.5) * 4e6)));
      yield { measurement: "mem", tags: { host }, fields: { used: BigInt(s.memUsed), available_percent: (100 * (MEM_TOTAL - s.memUsed)) / MEM_TOTAL }, ts };
      s.diskUsed += Math.floor(rnd() * 64) * 4096;
      yield { measurement: "disk", tags: { host, path: "/var/lib/cityhall" }, fields: { used: BigInt(s.diskUsed) }, ts };
      s.rx += Math.floor(rnd() * 200_000);
      s.tx += Math.floor(rnd() * 20_000);
      yield { measurement: "net", tags: { host, interface: "eth0" }, fields: { bytes_recv: BigInt(s.rx), bytes_sent: BigInt(s.tx) }, ts };
      s.milliC = Math.min(85000, Math.max(30000, s.milliC + Math.floor((rnd() - 0.5) * 600)));
      yield { measurement: "temp", tags: { host, sensor: "soc" }, fields: { celsius: s.milliC / 1000 }, ts };
    }
  }
}

/** InfluxDB line protocol for one `gateway` line, timestamp in ms. */
export function lineToLineProtocol(l: Line): string {
  const esc = (x: string) => x.replace(/[ ,=\\]/g, (c) => "\\" + c);
  const tags = Object.keys(l.tags).sort().map((k) => `,${esc(k)}=${esc(l.tags[k]!)}`).join("");
  const fields = Object.entries(l.fields).map(([k, v]) => `${esc(k)}=${typeof v === "bigint" ? `${v}i` : String(v)}`).join(",");
  return `${esc(l.measurement)}${tags} ${fields} ${l.ts}`;
}

// ---- end of the copy ----

/** Fields (points) in one gateway reporting interval of one host: 4 x 3 cpu + 2 + 1 + 2 + 1. */
export const GATEWAY_POINTS_PER_HOST_INTERVAL = 18;

/** Gateway points as the HTTP API stores them (line protocol, precision ms). */
export function* gatewayPoints(o: GatewayOptions = {}): Generator<Point> {
  let lines: string[] = [];
  const emit = function* (): Generator<Point> {
    for (const p of parseLineProtocol(lines.join("\n"), "ms", 0)) yield { key: p.key, ts: p.ts!, value: p.value };
    lines = [];
  };
  for (const l of gateway(o)) {
    lines.push(lineToLineProtocol(l));
    if (lines.length === 1000) yield* emit();
  }
  if (lines.length) yield* emit();
}

export interface FloatsOptions {
  sensors?: number;
  seconds?: number;
  start?: number;
  seed?: number;
}

/** Full-precision float64 random walks, one reading a second per sensor, +-50 ms jitter. */
export function* floats(o: FloatsOptions = {}): Generator<Point> {
  const sensors = o.sensors ?? 100;
  const seconds = o.seconds ?? 60;
  const start = o.start ?? EPOCH_MS;
  const rnd = prng(o.seed ?? 5);
  const level = Array.from({ length: sensors }, () => 15 + rnd() * 20);
  const keys = Array.from({ length: sensors }, (_, i) => `lab.probe_${i}.celsius`);
  for (let s = 0; s < seconds; s++) {
    for (let i = 0; i < sensors; i++) {
      level[i]! += (rnd() - 0.5) * 0.1;
      yield { key: keys[i]!, ts: start + s * 1000 + Math.floor(rnd() * 101) - 50, value: level[i]! };
    }
  }
}
