// Human units for flags and config: durations (`500ms`, `30s`, `15m`, `2h`, `7d`) and sizes
// (`512KB`, `64MB`, `1GiB`; KB = 1000 bytes, KiB = 1024 bytes, a bare number is bytes).

import { InvalidArgumentError } from "../errors.ts";

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const SIZE_BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};

/** Parses `30s`, `1.5h`, `7d`, `250ms` (a bare number is seconds) into milliseconds. */
export function parseDurationMs(text: string, what = "duration"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/i.exec(text);
  if (!m) throw new InvalidArgumentError("flags", `${what} "${text}" is not a duration; use e.g. 500ms, 30s, 15m, 2h, 7d`);
  const ms = Number(m[1]) * DURATION_MS[(m[2] ?? "s").toLowerCase()]!;
  if (!Number.isFinite(ms)) throw new InvalidArgumentError("flags", `${what} "${text}" is out of range`);
  return Math.round(ms);
}

/** Parses `64MB`, `512KiB`, `1g`, `4096` into bytes. */
export function parseSizeBytes(text: string, what = "size"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_BYTES[(m[2] || "b").toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError("flags", `${what} "${text}" is not a size; use e.g. 4096, 512KB, 64MB, 1GiB`);
  const n = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError("flags", `${what} "${text}" is out of range`);
  return n;
}

export function formatDurationMs(ms: number): string {
  if (!Number.isFinite(ms)) return "never";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)}h${Math.round((ms % 3_600_000) / 60_000)}m`;
  return `${Math.floor(ms / 86_400_000)}d${Math.round((ms % 86_400_000) / 3_600_000)}h`;
}

/** Parses `host:port` (or `[v6]:port`, or `:port` = 127.0.0.1); port 1..65535. */
export function parseHostPort(text: string, defaultPort?: number): { host: string; port: number } {
  let host = text;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
  } else {
    const i = text.lastIndexOf(":");
    if (i >= 0) {
      host = text.slice(0, i);
      portText = text.slice(i + 1);
    }
  }
  if (host === "") host = "127.0.0.1";
  const port = portText === undefined ? defaultPort : Number(portText);
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError("flags", `address "${text}" needs a port from 1 to 65535, e.g. 127.0.0.1:7878`);
  }
  return { host, port };
}

export function parsePort(text: string, what = "port"): number {
  const port = Number(text);
  if (!/^\d+$/.test(text.trim()) || port < 0 || port > 65535) {
    throw new InvalidArgumentError("flags", `${what} "${text}" is not a port number (0..65535)`);
  }
  return port;
}
