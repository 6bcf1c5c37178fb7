// Checks on what callers hand the engine (data model in DESIGN.md): a key is 1..1024 bytes
// of UTF-8 without NUL; a timestamp is an integer number of ms within ±2^49; a value is a
// float64 or a string of at most 64 KiB of UTF-8.

import { utf8Length } from "../codec/bytes.ts";
import { MAX_ABS_TS_MS } from "../codec/columns.ts";
import type { Value } from "../codec/columns.ts";
import { InvalidArgumentError } from "../errors.ts";

export const MAX_KEY_BYTES = 1024;
export const MAX_STRING_VALUE_BYTES = 64 * 1024;

export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== "string") throw new InvalidArgumentError("db", `key must be a string, got ${typeof key}`);
  if (key.length === 0) throw new InvalidArgumentError("db", "key must not be empty");
  if (key.length > MAX_KEY_BYTES || utf8Length(key) > MAX_KEY_BYTES) {
    throw new InvalidArgumentError("db", `key is longer than ${MAX_KEY_BYTES} bytes of UTF-8`);
  }
  if (key.includes("\u0000")) throw new InvalidArgumentError("db", "key must not contain a NUL character");
  if (!key.isWellFormed()) throw new InvalidArgumentError("db", "key is not valid Unicode (lone surrogate)");
}

export function checkTs(ts: unknown, what = "timestamp"): asserts ts is number {
  if (typeof ts !== "number" || !Number.isInteger(ts) || Math.abs(ts) > MAX_ABS_TS_MS) {
    throw new InvalidArgumentError("db", `${what} must be an integer number of milliseconds within ±2^49, got ${String(ts)}`);
  }
}

export function checkValue(value: unknown): asserts value is Value {
  if (typeof value === "number") return;
  if (typeof value === "string") {
    if (value.length > MAX_STRING_VALUE_BYTES / 3 && utf8Length(value) > MAX_STRING_VALUE_BYTES) {
      throw new InvalidArgumentError("db", `string value is longer than ${MAX_STRING_VALUE_BYTES} bytes of UTF-8`);
    }
    if (!value.isWellFormed()) throw new InvalidArgumentError("db", "string value is not valid Unicode (lone surrogate)");
    return;
  }
  throw new InvalidArgumentError("db", `value must be a number or a string, got ${value === null ? "null" : typeof value}`);
}
