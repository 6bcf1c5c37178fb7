// bench/workload.ts must yield exactly the points of the shared workload definition
// (../shared/workloads/sensors.ts, which the project was specified against), so figures and
// the scale tests are measured on the same data as everyone else's.
//
// The shared file is not part of this repository and is absent on most machines (a CI
// clone, a user's checkout), so the reference is pinned here as SHA-256 digests of each
// workload's output, taken from the shared definition. Where ../shared exists, the test
// also compares point for point and checks that the pinned digests are the shared file's
// own: a pin can never drift from the original unnoticed. Nothing is skipped either way.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as ours from "../../bench/workload.ts";

const SHARED = join(import.meta.dir, "..", "..", "..", "shared", "workloads", "sensors.ts");
const haveShared = existsSync(SHARED);

type Gen = typeof ours;
/** Each case: a name, how to render its output as text lines, and the pinned digest. */
const CASES: { name: string; lines: (w: Gen) => Iterable<string>; sha256: string }[] = [
  { name: "factory 100 sensors x 1,000 s", lines: (w) => map(w.factory({ sensors: 100, seconds: 1000 }), pointLine), sha256: "f66554c0baa1637898f0830ecc0ddf14d34bdd3a7d58aa740350f92acf8fdb22" },
  { name: "factory 7 sensors x 100 s, seed 3", lines: (w) => map(w.factory({ sensors: 7, seconds: 100, seed: 3 }), pointLine), sha256: "8a13ebbed5d152fa48c5bd96cc804fd93883f045564d98b5ed9119a7bd858100" },
  { name: "retail 10,000 transactions", lines: (w) => map(w.retail({}), pointLine), sha256: "e5b0b17b54e449ef3cc30574afcac57c0e4f995ba7a7974b05a1b5889736ca79" },
  { name: "gateway 10 hosts x 360 intervals", lines: (w) => map(w.gateway({}), (l) => w.lineToLineProtocol(l)), sha256: "8be6b084df6ab31cf6bb122055c9ef937b9e1793ea94eb401a7311b756406f40" },
  { name: "gateway 3 hosts x 50 intervals, seed 5", lines: (w) => map(w.gateway({ hosts: 3, intervals: 50, seed: 5 }), (l) => w.lineToLineProtocol(l)), sha256: "9368993a617b6ba1be8f354f9c826b4785ed1e3891215e2a5738ebeb5da5b235" },
  { name: "factory as line protocol", lines: (w) => map(w.factory({ sensors: 10, seconds: 100 }), (p) => w.toLineProtocol(p)), sha256: "b85c90449cf954a07bd1d9396212516f099b832de9cb8b00fd66008473f91f51" },
];

function* map<T>(it: Iterable<T>, f: (x: T) => string): Generator<string> {
  for (const x of it) yield f(x);
}
function pointLine(p: ours.Point): string {
  return JSON.stringify([p.key, p.ts, p.value]);
}
function digest(lines: Iterable<string>): string {
  const h = new Bun.CryptoHasher("sha256");
  for (const l of lines) h.update(l + "\n");
  return h.digest("hex");
}

describe("bench/workload.ts", () => {
  for (const c of CASES) {
    test(`${c.name}: matches the pinned digest of the shared definition`, () => {
      expect(digest(c.lines(ours))).toBe(c.sha256);
    });
  }

  test(`is point for point the shared definition (${haveShared ? "../shared present" : "../shared absent: the pinned digests above stand in for it"})`, async () => {
    if (!haveShared) return; // the digests above are the shared file's (checked below wherever it exists)
    const ref = (await import(SHARED)) as Gen;
    for (const c of CASES) {
      const a = c.lines(ours)[Symbol.iterator]();
      const b = c.lines(ref)[Symbol.iterator]();
      for (let n = 0; ; n++) {
        const x = a.next();
        const y = b.next();
        if (x.done !== y.done || x.value !== y.value) throw new Error(`${c.name}: differs at point ${n}: ${x.value} vs ${y.value}`);
        if (x.done) break;
      }
      expect(digest(c.lines(ref))).toBe(c.sha256);
    }
  });

  test("gateway lines map to 18 series points per host and interval, integers as numbers", () => {
    const lines = [...ours.gateway({ hosts: 2, intervals: 3 })];
    const points = lines.flatMap((l) => ours.linePoints(l));
    expect(points.length).toBe(2 * 3 * ours.GATEWAY_POINTS_PER_HOST_INTERVAL);
    expect(new Set(points.map((p) => p.key)).size).toBe(2 * ours.GATEWAY_POINTS_PER_HOST_INTERVAL);
    expect(points.every((p) => typeof p.value === "number" && Number.isFinite(p.value))).toBe(true);
    expect(points.find((p) => p.key === "disk.used,host=gw0,path=/var/lib/cityhall")!.value).toBe(Number(lines.find((l) => l.measurement === "disk")!.fields.used));
  });

  test("precise: full-precision finite doubles, increasing times within each series", () => {
    const last = new Map<string, number>();
    let fractional = 0;
    let n = 0;
    for (const p of ours.precise({ series: 10, seconds: 200 })) {
      n++;
      const v = p.value as number;
      expect(Number.isFinite(v)).toBe(true);
      if (String(v).replace(/^-/, "").replace(/e.*$/, "").replace(".", "").length >= 15) fractional++;
      expect(p.ts).toBeGreaterThan(last.get(p.key) ?? 0);
      last.set(p.key, p.ts);
    }
    expect(n).toBe(2000);
    expect(fractional).toBeGreaterThan(n * 0.7); // most values need 15-17 significant digits
  });
});
