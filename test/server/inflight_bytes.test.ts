// The node-wide body budget's bookkeeping (the daemon behaviour is in limits.test.ts).
import { describe, expect, test } from "bun:test";
import { InflightBytes, defaultInflightBytes } from "../../src/server/inflight_bytes.ts";

const MiB = 1024 * 1024;

describe("in-flight bytes", () => {
  test("default: 1/8 of RAM, at most 256 MiB, at least 16 MiB", () => {
    expect(defaultInflightBytes(24 * 1024 * MiB)).toBe(256 * MiB);
    expect(defaultInflightBytes(1024 * MiB)).toBe(128 * MiB);
    expect(defaultInflightBytes(512 * MiB)).toBe(64 * MiB);
    expect(defaultInflightBytes(64 * MiB)).toBe(16 * MiB);
  });
  test("accounts take up to the limit, refuse past it, and give everything back once", () => {
    const pool = new InflightBytes(100);
    const a = pool.open();
    const b = pool.open();
    expect(a.reserve(60)).toBe(true);
    expect(b.reserve(41)).toBe(false); // nothing taken on refusal
    expect(pool.held).toBe(60);
    expect(b.reserve(40)).toBe(true);
    expect(pool.held).toBe(100);
    expect(a.release()).toBe(60);
    expect(a.release()).toBe(0);
    expect(a.reserve(1)).toBe(false); // a released account takes nothing more
    expect(pool.held).toBe(40);
    b.release();
    expect(pool.held).toBe(0);
  });
  test("a forced collection is due only near the budget (held + given back >= 3/4), after a quarter given back, at most once a second unless at twice the budget", () => {
    const pool = new InflightBytes(400);
    const held = pool.open();
    // Far from the budget: a quarter and more given back, nothing held: not due.
    expect(pool.collectionDue(100, 0)).toBe(false);
    expect(pool.collectionDue(150, 10)).toBe(false); // 250 < 300
    expect(held.reserve(50)).toBe(true); // 50 held + 250 given back = 300: near the budget
    expect(pool.collectionDue(0, 20)).toBe(true);
    // Due again (near the budget, a quarter given back), but not within a second of the last.
    expect(held.reserve(250)).toBe(true);
    expect(pool.collectionDue(100, 500)).toBe(false);
    expect(pool.collectionDue(0, 1019)).toBe(false);
    expect(pool.collectionDue(0, 1020)).toBe(true); // stayed due: runs once the second is over
    // Near the budget but less than a quarter given back since: not due.
    expect(pool.collectionDue(99, 5000)).toBe(false);
    expect(pool.collectionDue(1, 5001)).toBe(true);
    // Within the second, but held + given back reach twice the budget: the memory bound wins.
    expect(pool.collectionDue(400, 5002)).toBe(false); // 300 + 400 = 700 < 800
    expect(pool.collectionDue(100, 5003)).toBe(true); // 800
    held.release();
  });
});
