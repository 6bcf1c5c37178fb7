// Checks on what callers hand the engine (data model in DESIGN.md): a key is 1..1024 bytes
// of UTF-8 without control characters (U+0000-U+001F, U+007F: they would make one-key-a-line
// listings such as `cityhall client keys` ambiguous); a timestamp is an integer number of ms
// within ±2^49; a value is a finite float64 (NaN and ±Infinity are refused: JSON cannot carry
// them back, so they would be read as null) or a string of at most 64 KiB of UTF-8.

import { utf8Length } from "../codec/bytes.ts";
import { MAX_ABS_TS_MS } from "../codec/columns.ts";
import type { Value } from "../codec/columns.ts";
import { InvalidArgumentError } from "../errors.ts";

export const MAX_KEY_BYTES = 1024;
export const MAX_STRING_VALUE_BYTES = 64 * 1024;

// eslint-disable-next-line no-control-regex
const CONTROL_CHAR = /[\u0000-\u001f\u007f]/;

/**
 * `purpose` "write" (the default: every path that creates a series) also refuses control
 * characters; "lookup" (get, range, delete) does not, so a series written before that rule
 * can still be read and deleted.
 */
export function checkKey(key: unknown, purpose: "write" | "lookup" = "write"): asserts key is string {
  if (typeof key !== "string") throw new InvalidArgumentError("db", `key must be a string, got ${typeof key}`);
  if (key.length === 0) throw new InvalidArgumentError("db", "key must not be empty");
  if (key.length > MAX_KEY_BYTES || utf8Length(key) > MAX_KEY_BYTES) {
    throw new InvalidArgumentError("db", `key is longer than ${MAX_KEY_BYTES} bytes of UTF-8`);
  }
  if (key.includes("\u0000")) throw new InvalidArgumentError("db", "key must not contain a NUL character");
  if (purpose === "write") {
    const m = CONTROL_CHAR.exec(key);
    if (m) {
      const code = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
      throw new InvalidArgumentError(
        "db",
        `key ${JSON.stringify(key.length > 80 ? key.slice(0, 80) + "..." : key)} contains the control character U+${code} at character ${m.index}; keys must not contain U+0000-U+001F or U+007F (newlines, tabs, ...): remove or replace it`,
      );
    }
  }
  if (!key.isWellFormed()) throw new InvalidArgumentError("db", "key is not valid Unicode (lone surrogate)");
}

export function checkTs(ts: unknown, what = "timestamp"): asserts ts is number {
  if (typeof ts !== "number" || !Number.isInteger(ts) || Math.abs(ts) > MAX_ABS_TS_MS) {
    throw new InvalidArgumentError("db", `${what} must be an integer number of milliseconds within ±2^49, got ${String(ts)}`);
  }
}

/** `index`, when given, names the point of a batch in the error. */
export function checkValue(value: unknown, index?: number): asserts value is Value {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new InvalidArgumentError(
        "db",
        `${index === undefined ? "" : `point ${index}: `}value must be a finite number, got ${String(value)} (NaN and ±Infinity cannot be stored; a JSON number beyond ±1.8e308 overflows to Infinity)`,
      );
    }
    return;
  }
  if (typeof value === "string") {
    if (value.length > MAX_STRING_VALUE_BYTES / 3 && utf8Length(value) > MAX_STRING_VALUE_BYTES) {
      throw new InvalidArgumentError("db", `string value is longer than ${MAX_STRING_VALUE_BYTES} bytes of UTF-8`);
    }
    if (!value.isWellFormed()) throw new InvalidArgumentError("db", "string value is not valid Unicode (lone surrogate)");
    return;
  }
  throw new InvalidArgumentError("db", `value must be a number or a string, got ${value === null ? "null" : typeof value}`);
}
