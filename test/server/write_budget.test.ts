// The write budget's record estimate is an upper bound of what the WAL encoder writes.
import { describe, expect, test } from "bun:test";
import { RECORD_HEADER_BYTES } from "../../src/wal/format.ts";
import { encodePutBatch, groupPoints } from "../../src/wal/batch.ts";
import { WriteBudget } from "../../src/server/write_budget.ts";
import { rng } from "../helpers.ts";

describe("write budget", () => {
  test("the record estimate bounds encodePutBatch from above, for random and extreme batches", () => {
    const r = rng(42);
    const MAX_TS = 2 ** 49;
    const tsOf = [() => 1767225600000 + Math.floor(r() * 1e6), () => (r() < 0.5 ? -MAX_TS : MAX_TS), () => Math.floor((r() - 0.5) * 2 * MAX_TS)];
    const valueOf = [
      () => Math.round(r() * 1000) / 10,
      () => r() * 1e300 * (r() < 0.5 ? -1 : 1),
      () => (r() < 0.5 ? -0 : Number.MIN_VALUE),
      () => "é".repeat(Math.floor(r() * 300)),
      () => "",
      () => 2 ** 50 + 1,
    ];
    let worstRatio = 0;
    for (let n = 0; n < 300; n++) {
      const nKeys = 1 + Math.floor(r() * 20);
      const keys = Array.from({ length: nKeys }, (_, i) => (r() < 0.2 ? "ü".repeat(1 + Math.floor(r() * 500)) : `k${i}`) + i);
      const points = Array.from({ length: 1 + Math.floor(r() * 400) }, () => ({
        key: keys[Math.floor(r() * nKeys)]!,
        ts: tsOf[Math.floor(r() * tsOf.length)]!(),
        value: valueOf[Math.floor(r() * valueOf.length)]!(),
      }));
      const budget = new WriteBudget({ maxPoints: Infinity, maxKeyBytes: Infinity, maxRecordBytes: Infinity });
      points.forEach((p, i) => budget.add(p.key, p.value, "point", i));
      const payloadBytes = encodePutBatch(2 ** 40, groupPoints(points)).length - RECORD_HEADER_BYTES;
      expect(budget.recordBytes).toBeGreaterThanOrEqual(payloadBytes);
      worstRatio = Math.max(worstRatio, payloadBytes / budget.recordBytes);
    }
    // A bound, but not a wild one: the worst case comes within a few percent.
    expect(worstRatio).toBeGreaterThan(0.5);
  });
});
