// The deterministic workloads every CityHall figure is measured on. A copy, kept
// point-for-point identical, of the shared workload definition the project was specified
// against (same mulberry32 PRNG, seeds, random walk and key names); `bench/check_workload.ts`
// verifies that against the original when it is available.
//
//   factory  100 sensors read once a second; each value a one-decimal random walk.
//   retail   point-of-sale transactions with JSON string values.

export interface Point {
  key: string;
  ts: number; // milliseconds since the Unix epoch
  value: number | string;
}

/** 2026-01-01T00:00:00Z. */
export const EPOCH_MS = 1_767_225_600_000;

/** mulberry32: small, fast, good enough for test data; never for anything secret. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

/** InfluxDB line protocol for one point (measurement = key, field v, timestamp in ms). */
export function toLineProtocol(p: Point): string {
  const key = p.key.replace(/[ ,=\\]/g, (c) => "\\" + c);
  const v = typeof p.value === "number" ? String(p.value) : JSON.stringify(p.value);
  return `${key} v=${v} ${p.ts}`;
}
