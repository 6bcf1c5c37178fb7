// Turning CLI text into values and values into CLI text.

import type { Value } from "../codec/columns.ts";
import { UsageError } from "./dispatch.ts";

const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A numeric argument is stored as a number, anything else as a string. */
export function parseValueArg(text: string): Value {
  return NUMERIC.test(text.trim()) && Number.isFinite(Number(text)) ? Number(text) : text;
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
