// The deterministic workloads every CityHall figure is measured on. A copy, kept
// point-for-point identical, of the shared workload definition the project was specified
// against (same mulberry32 PRNG, seeds, random walk and key names); `test/bench/workload.test.ts`
// pins digests of every workload and compares point for point with the original when
// `../shared` is present.
//
//   factory  100 sensors read once a second; each value a one-decimal random walk.
//   retail   point-of-sale transactions with JSON string values.
//   gateway  Telegraf-style system metrics every 10 s (jittered by a few ms): lines with tags
//            and several fields, full-precision ratios, integer gauges and counters.
//   precise  (this project's own, not in the shared file) full-precision floats of every
//            magnitude at jittered timestamps: the worst case for the value codecs.
//   floats   (this project's own) 100 sensors once a second, every timestamp jittered by up
//            to +-50 ms, full-precision (float64) random-walk values: a realistic sensor
//            without decimal scaling (irregular deltas-of-deltas, no decimal columns).
// `gatewayPoints` turns gateway lines into CityHall points through the product's own
// line-protocol mapping (src/server/line_protocol.ts), as the HTTP API stores them.

import { parseLineProtocol } from "../src/server/line_protocol.ts";
import { mulberry32 } from "../src/util/prng.ts";

export interface Point {
  key: string;
  ts: number; // milliseconds since the Unix epoch
  value: number | string;
}

/** 2026-01-01T00:00:00Z. */
export const EPOCH_MS = 1_767_225_600_000;

/** mulberry32 (src/util/prng.ts): small, fast, good enough for test data; never for anything secret. */
export const prng = mulberry32;

export interface FactoryOptions {
  sensors?: number;
  seconds?: number;
  start?: number;
  seed?: number;
  prefix?: string;
}

/** Time-ordered points: for each second, one reading of every sensor. */
export function* factory(o: FactoryOptions = {}): Generator<Point> {
  const sensors = o.sensors ?? 100;
  const seconds = o.seconds ?? 60;
  const start = o.start ?? EPOCH_MS;
  const prefix = o.prefix ?? "sensor.temp.line_";
  const rnd = prng(o.seed ?? 42);
  const level = Array.from({ length: sensors }, () => 180 + Math.floor(rnd() * 120)); // tenths of a degree
  const keys = Array.from({ length: sensors }, (_, i) => `${prefix}${i}`);
  for (let s = 0; s < seconds; s++) {
    const ts = start + s * 1000;
    for (let i = 0; i < sensors; i++) {
      const r = rnd();
      if (r < 0.2) level[i]!--;
      else if (r > 0.8) level[i]!++;
      yield { key: keys[i]!, ts, value: level[i]! / 10 };
    }
  }
}

export interface RetailOptions {
  stores?: number;
  tills?: number;
  transactions?: number;
  start?: number;
  seed?: number;
}

/** Point-of-sale transactions with JSON string values, roughly 150-250 bytes each. */
export function* retail(o: RetailOptions = {}): Generator<Point> {
  const stores = o.stores ?? 50;
  const tills = o.tills ?? 4;
  const n = o.transactions ?? 10_000;
  const rnd = prng(o.seed ?? 7);
  const skus = ["maize-flour-2kg", "sugar-1kg", "milk-500ml", "bread-400g", "rice-5kg", "cooking-oil-1l", "soap-bar", "airtime-100"];
  let ts = o.start ?? EPOCH_MS;
  for (let i = 0; i < n; i++) {
    ts += 1 + Math.floor(rnd() * 400);
    const store = Math.floor(rnd() * stores);
    const till = Math.floor(rnd() * tills);
    const lines = 1 + Math.floor(rnd() * 4);
    const items = Array.from({ length: lines }, () => ({
      sku: skus[Math.floor(rnd() * skus.length)]!,
      qty: 1 + Math.floor(rnd() * 3),
      cents: 50 + Math.floor(rnd() * 5000),
    }));
    const total = items.reduce((sum, it) => sum + it.qty * it.cents, 0);
    yield {
      key: `store.${store}.till.${till}.sale`,
      ts,
      value: JSON.stringify({ id: `s${store}-t${till}-${i}`, items, total, currency: "KES" }),
    };
  }
}

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

/** Points (series keys in CityHall's line-protocol mapping) per host and interval. */
export const GATEWAY_POINTS_PER_HOST_INTERVAL = 18;

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

/**
 * The CityHall points a `gateway` line becomes (docs/http_api.md): one series per field,
 * `<measurement>.<field>,<tag>=<value>...` with tags sorted; integers become numbers.
 * Tag and field names of this workload need no escaping.
 */
export function linePoints(l: Line): Point[] {
  const tags = Object.keys(l.tags).sort().map((k) => `,${k}=${l.tags[k]!}`).join("");
  return Object.entries(l.fields).map(([f, v]) => ({ key: `${l.measurement}.${f}${tags}`, ts: l.ts, value: Number(v) }));
}

export interface PreciseOptions {
  series?: number;
  seconds?: number;
  start?: number;
  seed?: number;
}

/**
 * Full-precision floats at jittered timestamps (this project's own workload): for each
 * second, one reading of every series, taken 0..999 ms into that second (so times stay
 * increasing within a series but are irregular), each value a random double: all 52
 * mantissa bits, exponents from 2^-60 to 2^60, both signs, with an exact integer, a
 * one-decimal value or a repeat mixed in now and then (what a real sensor interleaves).
 */
export function* precise(o: PreciseOptions = {}): Generator<Point> {
  const series = o.series ?? 100;
  const seconds = o.seconds ?? 60;
  const start = o.start ?? EPOCH_MS;
  const rnd = prng(o.seed ?? 23);
  const keys = Array.from({ length: series }, (_, i) => `lab.precise.ch${i}`);
  const last = new Array<number>(series).fill(0);
  for (let s = 0; s < seconds; s++) {
    for (let i = 0; i < series; i++) {
      const ts = start + s * 1000 + Math.floor(rnd() * 1000);
      const kind = rnd();
      let v: number;
      if (kind < 0.05) v = Math.floor(rnd() * 2 ** 53) - 2 ** 52; // an exact integer
      else if (kind < 0.1) v = Math.round(rnd() * 10_000) / 10; // one decimal
      else if (kind < 0.15) v = last[i]!; // a repeat
      else {
        // 32 + 21 random bits: every mantissa bit set at random
        const mantissa = 1 + (Math.floor(rnd() * 2 ** 32) * 2 ** 21 + Math.floor(rnd() * 2 ** 21)) / 2 ** 53;
        v = (rnd() < 0.5 ? -1 : 1) * mantissa * 2 ** (Math.floor(rnd() * 121) - 60);
      }
      last[i] = v;
      yield { key: keys[i]!, ts, value: v };
    }
  }
}

/** InfluxDB line protocol for one point (measurement = key, field v, timestamp in ms). */
export function toLineProtocol(p: Point): string {
  const key = p.key.replace(/[ ,=\\]/g, (c) => "\\" + c);
  const v = typeof p.value === "number" ? String(p.value) : JSON.stringify(p.value);
  return `${key} v=${v} ${p.ts}`;
}


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
