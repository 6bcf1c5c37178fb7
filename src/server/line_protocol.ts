// InfluxDB line protocol -> CityHall points. Pure functions, no I/O.
//
//   <measurement>[,<tag>=<value>...] <field>=<value>[,<field>=<value>...] [<timestamp>]
//
// Mapping to series keys (documented in docs/http_api.md):
//   key = <measurement>[.<field>][,<tag>=<value>...]   tags sorted by tag key
// where the field part is left out for a field named `v` or `value`, so the line
// `sensor.temp.line_7 v=23.4 1767225600000` writes the series `sensor.temp.line_7`.
// Within each part (measurement, field, tag key, tag value) the characters `\`, `,` and `=`
// are written with a backslash before them, so the tag structure of a key is never
// ambiguous: `coll\,host=a v=1` (a measurement named "coll,host=a") writes `coll\,host\=a`
// while `coll,host=a v=1` writes `coll,host=a`. Parts without those characters (the
// common case) appear as sent. Dots are not escaped: a key is a dotted path by design.
// Field values: floats and integers (`12i`, `12u`) become numbers, booleans become 1 or 0,
// quoted strings become strings. Integers must be within ±(2^53-1), which a float64 holds
// exactly; unsigned integers must not be negative; a tag key may appear once per line.
// Timestamps are converted to milliseconds from the request precision (ns by default, as
// InfluxDB does); a line without one gets the node's clock.

import { InvalidArgumentError } from "../errors.ts";
import type { PointWrite } from "../engine/db.ts";
import { checkKey } from "../engine/validate.ts";
import { WriteBudget } from "./write_budget.ts";

export type Precision = "ns" | "us" | "ms" | "s" | "m" | "h";

/** Accepts the v1 (`n`, `u`, `ms`, `s`, `m`, `h`) and v2 (`ns`, `us`, `ms`, `s`) spellings. */
export function parsePrecision(p: string | null): Precision {
  switch (p ?? "ns") {
    case "ns":
    case "n":
    case "":
      return "ns";
    case "us":
    case "u":
    case "µ":
      return "us";
    case "ms":
      return "ms";
    case "s":
      return "s";
    case "m":
      return "m";
    case "h":
      return "h";
    default:
      throw new LineProtocolError(0, `unknown precision "${p}"; use ns, us, ms, s, m or h`);
  }
}

export class LineProtocolError extends InvalidArgumentError {
  readonly line: number;
  constructor(line: number, message: string) {
    super("line-protocol", line > 0 ? `line ${line}: ${message}` : message);
    this.line = line;
  }
}

/** Only digits, sign, point and exponent (what Number() parses beyond that is not allowed). */
function isDecimalText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || c === 46 || c === 45 || c === 43 || c === 101 || c === 69)) return false;
  }
  return true;
}
const SPACE = 32;
const COMMA = 44;
const EQUALS = 61;
const BACKSLASH = 92;
const QUOTE = 34;
const HASH = 35;

const DIVISOR_NS: Record<Precision, bigint> = { ns: 1_000_000n, us: 1_000n, ms: 1n, s: 1n, m: 1n, h: 1n };
const MULTIPLIER: Record<Precision, number> = { ns: 1, us: 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** True when `s` is an optional minus sign followed by 1..19 decimal digits. */
function isIntegerText(s: string): boolean {
  const n = s.length;
  let i = s.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  if (n - i < 1 || n - i > 19) return false;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function toMs(digits: string, precision: Precision, line: number): number {
  if (!isIntegerText(digits)) throw new LineProtocolError(line, `bad timestamp "${digits}"`);
  let ms: number;
  if (precision === "ns" || precision === "us") {
    const div = DIVISOR_NS[precision];
    const big = BigInt(digits);
    let q = big / div;
    if (big < 0n && q * div !== big) q -= 1n; // floor, not truncation
    ms = Number(q);
  } else {
    ms = Number(digits) * MULTIPLIER[precision];
  }
  if (!Number.isSafeInteger(ms)) throw new LineProtocolError(line, `timestamp "${digits}" out of range`);
  return ms;
}

/** Parses one token up to an unescaped stop character, un-escaping `\x` pairs. */
function readToken(s: string, start: number, end: number, stops: (c: number) => boolean): [string, number] {
  let i = start;
  let escaped = false;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH && i + 1 < end) {
      escaped = true;
      i += 2;
      continue;
    }
    if (stops(c)) break;
    i++;
  }
  const raw = s.slice(start, i);
  return [escaped ? raw.replace(/\\([\s\S])/g, (m, ch: string) => (ch === "\\" || ch === "," || ch === " " || ch === "=" || ch === '"' ? ch : m)) : raw, i];
}

const measurementStop = (c: number) => c === COMMA || c === SPACE;
const tagKeyStop = (c: number) => c === EQUALS || c === COMMA || c === SPACE;
const tagValueStop = (c: number) => c === COMMA || c === SPACE;
const fieldKeyStop = (c: number) => c === EQUALS || c === COMMA || c === SPACE;
const fieldValueStop = (c: number) => c === COMMA || c === SPACE;

function parseFieldValue(raw: string, line: number, field: string): number | string {
  const last = raw.charCodeAt(raw.length - 1);
  if (last === 105 /* i */ || last === 117 /* u */) {
    const body = raw.slice(0, -1);
    if (!/^-?\d+$/.test(body)) throw new LineProtocolError(line, `field "${field}": bad integer "${raw}"`);
    if (last === 117 && body.charCodeAt(0) === 45 /* - */) {
      throw new LineProtocolError(line, `field "${field}": unsigned integer "${raw}" is negative; write a signed integer (${body}i)`);
    }
    const n = Number(body);
    // Beyond 2^53 a float64 rounds: 9223372036854775807i would be stored as ...808.
    if (!Number.isSafeInteger(n)) {
      throw new LineProtocolError(
        line,
        `field "${field}": integer "${raw}" is outside ±(2^53-1) = ±9007199254740991, the integers CityHall stores exactly (as float64); send it as a float to accept rounding, or as a quoted string`,
      );
    }
    return n === 0 ? 0 : n; // -0i is the integer 0
  }
  switch (raw) {
    case "t":
    case "T":
    case "true":
    case "True":
    case "TRUE":
      return 1;
    case "f":
    case "F":
    case "false":
    case "False":
    case "FALSE":
      return 0;
  }
  const n = Number(raw);
  // Number() also accepts hex/binary/octal literals and "Infinity"; line protocol does not.
  if (raw === "" || Number.isNaN(n) || !isDecimalText(raw)) {
    throw new LineProtocolError(line, `field "${field}": "${raw}" is not a number, boolean or quoted string`);
  }
  if (!Number.isFinite(n)) {
    throw new LineProtocolError(line, `field "${field}": ${raw} is beyond the range of a float64 (±1.8e308); NaN and ±Infinity cannot be stored`);
  }
  return n;
}

/**
 * Parses a whole request body. Throws LineProtocolError naming the first bad line; nothing
 * of a request with a bad line is written (the caller rejects the request). `limit` is a
 * point count or a WriteBudget; passing it throws RequestTooLargeError at the line that did.
 * `nowMs` is the ts of lines without one; undefined leaves their ts unset, so the database
 * stamps them (and knows it chose them: engine/retention.ts).
 */
export function parseLineProtocol(
  body: string,
  precision: Precision,
  nowMs: number | undefined,
  limit: number | WriteBudget = Infinity,
  keys: KeyCache = new KeyCache(),
): PointWrite[] {
  const budget = typeof limit === "number" ? WriteBudget.points(limit) : limit;
  const out: PointWrite[] = [];
  let lineNo = 0;
  let pos = 0;
  const len = body.length;
  while (pos < len) {
    let end = body.indexOf("\n", pos);
    if (end < 0) end = len;
    lineNo++;
    let lineEnd = end;
    if (lineEnd > pos && body.charCodeAt(lineEnd - 1) === 13) lineEnd--; // CRLF
    let i = pos;
    while (i < lineEnd && (body.charCodeAt(i) === SPACE || body.charCodeAt(i) === 9)) i++;
    const start = i;
    pos = end + 1;
    if (start >= lineEnd || body.charCodeAt(start) === HASH) continue;
    const lineText = body.slice(start, lineEnd);
    // The budget counts each point as it is made: one line can hold 100,000 fields.
    if (!parseSimpleLine(lineText, lineNo, precision, nowMs, out, keys, budget)) parseLine(lineText, lineNo, precision, nowMs, out, budget);
  }
  return out;
}

/**
 * Series keys already built and checked, by "<measurement and tags as sent>\0<field>".
 * A gateway writes the same few thousand series again and again; building and validating
 * their keys once is most of the parsing cost saved.
 */
export class KeyCache {
  private readonly bySeries = new Map<string, Map<string, string>>();
  private entries = 0;
  constructor(private readonly maxEntries = 100_000) {}
  /** Keys held now. */
  get size(): number {
    return this.entries;
  }
  get(seriesPart: string, field: string, lineNo: number): string {
    let byField = this.bySeries.get(seriesPart);
    let key = byField?.get(field);
    if (key === undefined) {
      key = buildKey(seriesPart, field, lineNo);
      if (this.entries >= this.maxEntries) {
        this.bySeries.clear();
        this.entries = 0;
        byField = undefined;
      }
      if (!byField) this.bySeries.set(seriesPart, (byField = new Map()));
      byField.set(field, key);
      this.entries++;
    }
    return key;
  }
}

/** True for the characters a key part escapes: backslash, comma, equals sign. */
function needsEscape(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH || c === COMMA || c === EQUALS) return true;
  }
  return false;
}

/** A measurement, field, tag key or tag value as it appears in a series key. */
export function escapeKeyPart(s: string): string {
  return needsEscape(s) ? s.replace(/[\\,=]/g, "\\$&") : s;
}

/** `,k1=v1,k2=v2` of tags (unescaped, as the line meant them): sorted, escaped, no key twice. */
function tagPartOf(tags: [string, string][], lineNo: number): string {
  let tagPart = "";
  tags.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let i = 0; i < tags.length; i++) {
    const [k, v] = tags[i]!;
    if (i > 0 && tags[i - 1]![0] === k) throw new LineProtocolError(lineNo, `duplicate tag "${k}"; a tag key may appear once per line`);
    tagPart += `,${escapeKeyPart(k)}=${escapeKeyPart(v)}`;
  }
  return tagPart;
}

/** The series key of a measurement and field (unescaped) and a tag part (from tagPartOf). */
function composeKey(measurement: string, field: string, tagPart: string, lineNo: number): string {
  const m = escapeKeyPart(measurement);
  const key = field === "v" || field === "value" ? m + tagPart : `${m}.${escapeKeyPart(field)}${tagPart}`;
  try {
    checkKey(key);
  } catch (e) {
    throw new LineProtocolError(lineNo, (e as Error).message.replace(/^cityhall\/db: /, ""));
  }
  return key;
}

/** Key for a series part without escapes (`meas` or `meas,t1=a,t2=b`) and a field. */
function buildKey(seriesPart: string, field: string, lineNo: number): string {
  const parts = seriesPart.split(",");
  const measurement = parts[0]!;
  if (measurement === "") throw new LineProtocolError(lineNo, "missing measurement");
  const tags = parts.slice(1).map((t) => {
    const eq = t.indexOf("=");
    if (eq <= 0 || eq === t.length - 1 || t.indexOf("=", eq + 1) >= 0) throw new LineProtocolError(lineNo, "bad tag: expected key=value");
    return [t.slice(0, eq), t.slice(eq + 1)] as [string, string];
  });
  return composeKey(measurement, field, tagPartOf(tags, lineNo), lineNo);
}

/**
 * The common case: no backslash and no quote anywhere in the line. Returns false to hand
 * the line to the full parser.
 */
function parseSimpleLine(
  s: string,
  lineNo: number,
  precision: Precision,
  nowMs: number | undefined,
  out: PointWrite[],
  keys: KeyCache,
  budget: WriteBudget,
): boolean {
  if (s.indexOf("\\") >= 0 || s.indexOf('"') >= 0) return false;
  const sp1 = s.indexOf(" ");
  if (sp1 <= 0) return false;
  let fStart = sp1 + 1;
  while (s.charCodeAt(fStart) === SPACE) fStart++;
  let sp2 = s.indexOf(" ", fStart);
  if (sp2 < 0) sp2 = s.length;
  if (sp2 === fStart) return false;
  const seriesPart = s.slice(0, sp1);
  let ts = nowMs;
  if (sp2 < s.length) {
    const rest = s.slice(sp2 + 1).trim();
    if (rest !== "") ts = toMs(rest, precision, lineNo);
  }
  let i = fStart;
  while (i < sp2) {
    let comma = s.indexOf(",", i);
    if (comma < 0 || comma > sp2) comma = sp2;
    const eq = s.indexOf("=", i);
    if (eq <= i || eq >= comma) throw new LineProtocolError(lineNo, "bad field: expected key=value");
    const field = s.slice(i, eq);
    const key = keys.get(seriesPart, field, lineNo);
    const value = parseFieldValue(s.slice(eq + 1, comma), lineNo, field);
    budget.add(key, value, "line", lineNo);
    out.push({ key, ts, value });
    i = comma + 1;
  }
  return true;
}

function parseLine(s: string, lineNo: number, precision: Precision, nowMs: number | undefined, out: PointWrite[], budget: WriteBudget): void {
  const end = s.length;
  const [measurement, afterM] = readToken(s, 0, end, measurementStop);
  if (measurement === "") throw new LineProtocolError(lineNo, "missing measurement");
  let i = afterM;
  const tags: [string, string][] = [];
  while (i < end && s.charCodeAt(i) === COMMA) {
    const [k, afterK] = readToken(s, i + 1, end, tagKeyStop);
    if (s.charCodeAt(afterK) !== EQUALS || k === "") throw new LineProtocolError(lineNo, "bad tag: expected key=value");
    const [v, afterV] = readToken(s, afterK + 1, end, tagValueStop);
    if (v === "") throw new LineProtocolError(lineNo, `tag "${k}" has no value`);
    tags.push([k, v]);
    i = afterV;
  }
  if (i >= end || s.charCodeAt(i) !== SPACE) throw new LineProtocolError(lineNo, "missing fields after the measurement and tags");
  while (i < end && s.charCodeAt(i) === SPACE) i++;
  const fields: [string, number | string][] = [];
  for (;;) {
    const [k, afterK] = readToken(s, i, end, fieldKeyStop);
    if (k === "" || s.charCodeAt(afterK) !== EQUALS) throw new LineProtocolError(lineNo, "bad field: expected key=value");
    i = afterK + 1;
    if (s.charCodeAt(i) === QUOTE) {
      let j = i + 1;
      let str = "";
      let from = j;
      for (;;) {
        if (j >= end) throw new LineProtocolError(lineNo, `field "${k}": unterminated string`);
        const c = s.charCodeAt(j);
        if (c === BACKSLASH && j + 1 < end && (s.charCodeAt(j + 1) === QUOTE || s.charCodeAt(j + 1) === BACKSLASH)) {
          str += s.slice(from, j);
          from = j + 1;
          j += 2;
          continue;
        }
        if (c === QUOTE) break;
        j++;
      }
      str += s.slice(from, j);
      fields.push([k, str]);
      i = j + 1;
    } else {
      const [raw, afterV] = readToken(s, i, end, fieldValueStop);
      fields.push([k, parseFieldValue(raw, lineNo, k)]);
      i = afterV;
    }
    if (i < end && s.charCodeAt(i) === COMMA) {
      i++;
      continue;
    }
    break;
  }
  while (i < end && s.charCodeAt(i) === SPACE) i++;
  let ts = nowMs;
  if (i < end) {
    const rest = s.slice(i).trimEnd();
    ts = toMs(rest, precision, lineNo);
  }
  const tagPart = tagPartOf(tags, lineNo);
  for (const [field, value] of fields) {
    const key = composeKey(measurement, field, tagPart, lineNo);
    budget.add(key, value, "line", lineNo);
    out.push({ key, ts, value });
  }
}
