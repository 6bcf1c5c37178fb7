import { describe, expect, test } from "bun:test";
import { parseDurationMs, parseHostPort, parseSizeBytes } from "../../src/util/units.ts";

describe("human units", () => {
  test("durations", () => {
    expect(parseDurationMs("30s")).toBe(30_000);
    expect(parseDurationMs("15m")).toBe(900_000);
    expect(parseDurationMs("7d")).toBe(604_800_000);
    expect(parseDurationMs("250ms")).toBe(250);
    expect(parseDurationMs("1.5h")).toBe(5_400_000);
    expect(parseDurationMs("10")).toBe(10_000);
    expect(() => parseDurationMs("soon", "--max-lag")).toThrow(/--max-lag "soon" is not a duration; use e.g. 500ms/);
  });
  test("sizes", () => {
    expect(parseSizeBytes("64MB")).toBe(64_000_000);
    expect(parseSizeBytes("64MiB")).toBe(64 * 1024 * 1024);
    expect(parseSizeBytes("16m")).toBe(16 * 1024 * 1024);
    expect(parseSizeBytes("4096")).toBe(4096);
    expect(() => parseSizeBytes("lots")).toThrow(/is not a size/);
    expect(() => parseSizeBytes("5XB")).toThrow(/is not a size/);
  });
  test("addresses", () => {
    expect(parseHostPort("10.0.0.5:7879")).toEqual({ host: "10.0.0.5", port: 7879 });
    expect(parseHostPort("[::1]:7879")).toEqual({ host: "::1", port: 7879 });
    expect(parseHostPort("gateway", 7879)).toEqual({ host: "gateway", port: 7879 });
    expect(() => parseHostPort("host:99999")).toThrow(/port from 1 to 65535/);
  });
});
