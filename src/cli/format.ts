// Turning CLI text into values and values into CLI text.

import type { Value } from "../codec/columns.ts";
import { UsageError } from "./dispatch.ts";

const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

const NON_FINITE_WORD = /^[-+]?(nan|inf|infinity)$/i;

/**
 * A numeric argument is stored as a number, anything else as a string (all of it as a string
 * with `asText`). A number beyond float64 (1e309) or the words NaN and Infinity are refused:
 * storing them as text would surprise whoever meant a number.
 */
export function parseValueArg(text: string, asText = false): Value {
  if (asText) return text;
  const t = text.trim();
  if (NUMERIC.test(t)) {
    const n = Number(t);
    if (!Number.isFinite(n)) {
      throw new UsageError(`value ${t} is beyond the range of a float64 (±1.8e308), so it cannot be stored as a number; pass --text to store it as text`);
    }
    return n;
  }
  if (NON_FINITE_WORD.test(t)) throw new UsageError(`value "${t}" is not a finite number (NaN and ±Infinity cannot be stored); pass --text to store the word as text`);
  return text;
}

export function formatValue(v: Value): string {
  return typeof v === "number" ? String(v) : v;
}

/** Integer flag (milliseconds, counts); undefined when absent. */
export function intFlag(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const s = String(v);
  if (!/^-?\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new UsageError(`--${name} must be an integer, got "${s}"`);
  return Number(s);
}
