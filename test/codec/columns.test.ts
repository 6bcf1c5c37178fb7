import { describe, expect, test } from "bun:test";
import { ByteReader, ByteWriter } from "../../src/codec/bytes.ts";
import {
  VALUES_DECIMAL,
  VALUES_FLOAT64,
  VALUES_MIXED,
  VALUES_STRING,
  decodeTimestamps,
  decodeValues,
  encodeTimestamps,
  encodeValues,
} from "../../src/codec/columns.ts";
import type { Value } from "../../src/codec/columns.ts";
import { CorruptionError } from "../../src/errors.ts";

function roundTripValues(vals: Value[]): { out: Value[]; mode: number; bytes: number } {
  const w = new ByteWriter(16);
  encodeValues(w, vals, 0, vals.length);
  const bytes = w.bytes().slice();
  const out: Value[] = [];
  const r = new ByteReader(bytes);
  decodeValues(r, vals.length, out);
  expect(r.remaining()).toBe(0);
  return { out, mode: bytes[0]!, bytes: bytes.length };
}

describe("varints", () => {
  test("round-trip across the safe-integer range", () => {
    const samples = [1, 127, 128, 300, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 2 ** 52, Number.MAX_SAFE_INTEGER];
    const w = new ByteWriter(4);
    for (const v of samples) {
      w.uvarint(v);
      w.svarint(Math.min(v, 2 ** 52 - 1));
      w.svarint(-Math.min(v, 2 ** 52 - 1));
    }
    const r = new ByteReader(w.bytes());
    for (const v of samples) {
      expect(r.uvarint()).toBe(v);
      expect(r.svarint()).toBe(Math.min(v, 2 ** 52 - 1));
      expect(r.svarint()).toBe(-Math.min(v, 2 ** 52 - 1));
    }
  });
  test("zero", () => {
    const w = new ByteWriter(4);
    w.uvarint(0);
    w.svarint(0);
    const r = new ByteReader(w.bytes());
    expect(r.uvarint()).toBe(0);
    expect(r.svarint()).toBe(0);
  });
  test("TruncatedVarint: a varint cut short is a CorruptionError, not a crash", () => {
    const r = new ByteReader(new Uint8Array([0x80, 0x80]));
    expect(() => r.uvarint()).toThrow(CorruptionError);
  });
  test("OverlongVarint: more than 8 bytes is rejected", () => {
    const r = new ByteReader(new Uint8Array(10).fill(0xff));
    expect(() => r.uvarint()).toThrow(/longer than 8 bytes|exceeds/);
  });
  test("BadUtf8: invalid UTF-8 in a string is rejected", () => {
    const r = new ByteReader(new Uint8Array([2, 0xc3, 0x28]));
    expect(() => r.str()).toThrow(/UTF-8/);
  });
});

describe("timestamp column", () => {
  test("regular series cost about one byte a point", () => {
    const ts = Array.from({ length: 1000 }, (_, i) => 1_767_225_600_000 + i * 1000);
    const w = new ByteWriter();
    encodeTimestamps(w, ts, 0, ts.length);
    expect(w.lengthBytes).toBeLessThan(1010);
    const out: number[] = [];
    decodeTimestamps(new ByteReader(w.bytes()), ts.length, out);
    expect(out).toEqual(ts);
  });
  test("irregular, unsorted and negative timestamps round-trip", () => {
    const ts = [5, -1000, 2 ** 49, -(2 ** 49), 0, 17, 17];
    const w = new ByteWriter();
    encodeTimestamps(w, ts, 0, ts.length);
    const out: number[] = [];
    decodeTimestamps(new ByteReader(w.bytes()), ts.length, out);
    expect(out).toEqual(ts);
  });
});

describe("value column", () => {
  test("one-decimal readings use the decimal mode and come back bit-identical", () => {
    const vals = Array.from({ length: 500 }, (_, i) => (180 + ((i * 7) % 50)) / 10);
    const { out, mode, bytes } = roundTripValues(vals);
    expect(mode).toBe(VALUES_DECIMAL);
    expect(bytes).toBeLessThan(vals.length * 2);
    expect(out).toEqual(vals);
  });
  test("values without a short decimal form fall back to float64", () => {
    const vals = [Math.PI, 1e300, NaN, Infinity, -Infinity, 5e-324];
    const { out, mode } = roundTripValues(vals);
    expect(mode).toBe(VALUES_FLOAT64);
    expect(out.length).toBe(vals.length);
    out.forEach((v, i) => expect(Object.is(v, vals[i])).toBe(true));
  });
  test("negative zero keeps its sign", () => {
    const { out } = roundTripValues([1, -0, 2]);
    expect(Object.is(out[1], -0)).toBe(true);
  });
  test("strings and mixed columns", () => {
    const s = roundTripValues(["a", "", "ünïcødé ✓", "x".repeat(300)]);
    expect(s.mode).toBe(VALUES_STRING);
    expect(s.out).toEqual(["a", "", "ünïcødé ✓", "x".repeat(300)]);
    const m = roundTripValues([1.5, "two", 3]);
    expect(m.mode).toBe(VALUES_MIXED);
    expect(m.out).toEqual([1.5, "two", 3]);
  });
  test("UnknownMode: an unknown value mode is a CorruptionError", () => {
    expect(() => decodeValues(new ByteReader(new Uint8Array([9])), 1, [])).toThrow(/unknown value column mode 9/);
  });
  test("BadDecimalDigits: digits out of range are rejected", () => {
    expect(() => decodeValues(new ByteReader(new Uint8Array([VALUES_DECIMAL, 40, 2])), 1, [])).toThrow(/out of range/);
  });
});
