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
  test("a collection is due after each quarter of the budget given back", () => {
    const pool = new InflightBytes(400);
    expect(pool.collectionDue(60)).toBe(false);
    expect(pool.collectionDue(40)).toBe(true);
    expect(pool.collectionDue(99)).toBe(false);
    expect(pool.collectionDue(1)).toBe(true);
  });
});
