import { describe, expect, test } from "bun:test";
import { KeyCache, LineProtocolError, parseLineProtocol, parsePrecision } from "../../src/server/line_protocol.ts";
import { RequestTooLargeError, WriteBudget } from "../../src/server/write_budget.ts";
import { rng } from "../helpers.ts";

const NOW = 1_767_225_600_000;

describe("line protocol", () => {
  test("the workload's lines map to their series keys", () => {
    expect(parseLineProtocol("sensor.temp.line_7 v=23.4 1767225600000", "ms", NOW)).toEqual([
      { key: "sensor.temp.line_7", ts: 1767225600000, value: 23.4 },
    ]);
  });
  test("tags sorted into the key, one series per field, value/v fields unnamed", () => {
    const pts = parseLineProtocol("cpu,region=eu,host=a usage_idle=99.5,value=3i,ok=true,msg=\"hi\" 1767225600000000000", "ns", NOW);
    expect(pts).toEqual([
      { key: "cpu.usage_idle,host=a,region=eu", ts: 1767225600000, value: 99.5 },
      { key: "cpu,host=a,region=eu", ts: 1767225600000, value: 3 },
      { key: "cpu.ok,host=a,region=eu", ts: 1767225600000, value: 1 },
      { key: "cpu.msg,host=a,region=eu", ts: 1767225600000, value: "hi" },
    ]);
  });
  test("escapes, comments, blank lines, CRLF, missing timestamps", () => {
    const body = '# comment\n\nmy\\ meas,t\\,ag=a\\ b f=1\r\nlog msg="say \\"hi\\" \\\\ ok"\n';
    expect(parseLineProtocol(body, "ns", NOW)).toEqual([
      { key: "my meas.f,t\\,ag=a b", ts: NOW, value: 1 },
      { key: "log.msg", ts: NOW, value: 'say "hi" \\ ok' },
    ]);
  });
  test("precisions convert to milliseconds exactly, negative timestamps floor", () => {
    expect(parseLineProtocol("m v=1 1767225600123456789", "ns", 0)[0]!.ts).toBe(1767225600123);
    expect(parseLineProtocol("m v=1 1767225600123456", "us", 0)[0]!.ts).toBe(1767225600123);
    expect(parseLineProtocol("m v=1 1767225600", "s", 0)[0]!.ts).toBe(1767225600000);
    expect(parseLineProtocol("m v=1 2", "h", 0)[0]!.ts).toBe(7_200_000);
    expect(parseLineProtocol("m v=1 -1500000", "ns", 0)[0]!.ts).toBe(-2);
    expect(parsePrecision("u")).toBe("us");
    expect(() => parsePrecision("fortnight")).toThrow(/unknown precision/);
  });
  test("bad lines are named by number", () => {
    const cases: [string, RegExp][] = [
      ["m v=1\nbad", /line 2: missing fields/],
      ["m", /line 1: missing fields/],
      ["m v=", /line 1: field "v": "" is not a number/],
      ["m v=abc", /is not a number, boolean or quoted string/],
      ['m v="open', /unterminated string/],
      ["m v=1 12x", /bad timestamp/],
      ["m v=1.5i", /bad integer/],
      [",t=1 v=1", /missing measurement/],
      ["m,t v=1", /bad tag/],
      ["m v=1 99999999999999999999", /bad timestamp/],
    ];
    for (const [body, re] of cases) refused(body, re);
  });
  test("a key over 1024 bytes is refused with its line", () => {
    expect(() => parseLineProtocol(`${"k".repeat(1030)} v=1`, "ns", NOW)).toThrow(/line 1: key is longer than 1024 bytes/);
  });

  test("the per-request point limit", () => {
    expect(() => parseLineProtocol("a v=1\nb v=2\nc v=3", "ns", NOW, 2)).toThrow(/line 3: more than 2 points/);
  });
});

/** Throws unless parsing `body` fails with a message matching `re`. */
function refused(body: string, re: RegExp): void {
  let err: unknown;
  try {
    parseLineProtocol(body, "ns", NOW);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(LineProtocolError);
  expect(String(err)).toMatch(re);
}

/** The inverse of the documented key mapping: head (`measurement[.field]`) and tags. */
function decodeKey(key: string): { head: string; tags: [string, string][] } {
  const parts: string[] = [];
  let cur = "";
  const eqAt: number[] = [];
  let eq = -1;
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!;
    if (c === "\\") {
      cur += key[++i]!;
      continue;
    }
    if (c === ",") {
      parts.push(cur);
      eqAt.push(eq);
      cur = "";
      eq = -1;
      continue;
    }
    if (c === "=" && parts.length > 0 && eq < 0) eq = cur.length;
    else if (c === "=") throw new Error(`unescaped = in ${key}`);
    cur += c;
  }
  parts.push(cur);
  eqAt.push(eq);
  return { head: parts[0]!, tags: parts.slice(1).map((t, i) => [t.slice(0, eqAt[i + 1]!), t.slice(eqAt[i + 1]! + 1)] as [string, string]) };
}

describe("line protocol: keys are reversible", () => {
  test("an escaped comma in the measurement is not a tag", () => {
    const [a] = parseLineProtocol("coll\\,host=a v=1", "ns", NOW);
    const [b] = parseLineProtocol("coll,host=a v=1", "ns", NOW);
    expect(a!.key).toBe("coll\\,host\\=a");
    expect(b!.key).toBe("coll,host=a");
    const [c] = parseLineProtocol("m,t=a\\,b\\=c v=1", "ns", NOW);
    const [d] = parseLineProtocol("m,b\\=c=1,t=a v=1", "ns", NOW);
    expect(c!.key).toBe("m,t=a\\,b\\=c");
    expect(d!.key).toBe("m,b\\=c=1,t=a");
    expect(parseLineProtocol("back\\\\slash,t=x\\\\ v=1", "ns", NOW)[0]!.key).toBe("back\\\\slash,t=x\\\\");
    // `=` in a measurement is allowed unescaped by line protocol (fast path too).
    expect(parseLineProtocol("a=b,t=1 v=1", "ns", NOW)[0]!.key).toBe("a\\=b,t=1");
  });
  test("keys without backslash, comma or equals sign in their parts are unchanged (the common case)", () => {
    expect(parseLineProtocol("gw.sensors,site=plant-1,device=d_7 temp=21.5,hum=40i 1767225600000", "ms", NOW).map((p) => p.key)).toEqual([
      "gw.sensors.temp,device=d_7,site=plant-1",
      "gw.sensors.hum,device=d_7,site=plant-1",
    ]);
  });
  test("random parts with special characters: decoding the key gives the parts back, and different parts give different keys", () => {
    const r = rng(8);
    const alphabet = ["a", "b", ",", "=", "\\", " ", "é", '"', "x"];
    const word = (min: number) => {
      let w = "";
      const n = min + Math.floor(r() * 5);
      for (let i = 0; i < n; i++) w += alphabet[Math.floor(r() * alphabet.length)]!;
      return w;
    };
    // Line protocol escaping: measurement , and space; tag keys/values and field keys , = space.
    const lpEsc = (s: string, chars: string) => s.replace(/\\/g, "\\\\").replace(new RegExp(`[${chars}]`, "g"), "\\$&");
    const seen = new Map<string, string>();
    for (let n = 0; n < 2000; n++) {
      const measurement = word(1).replace(/^[#\s]+/, "m");
      const nTags = Math.floor(r() * 3);
      const tags = new Map<string, string>();
      for (let i = 0; i < nTags; i++) tags.set(word(1), word(1));
      const field = word(1);
      if (field === "v" || field === "value") continue;
      const tagText = [...tags].map(([k, v]) => `,${lpEsc(k, ", =")}=${lpEsc(v, ", =")}`).join("");
      const line = `${lpEsc(measurement, ", ")}${tagText} ${lpEsc(field, ", =")}=1`;
      let pts;
      try {
        pts = parseLineProtocol(line, "ns", NOW);
      } catch (e) {
        // Values ending in a backslash are not representable by every line protocol spelling.
        if (/bad tag|bad field|missing/.test(String(e))) continue;
        throw e;
      }
      const key = pts[0]!.key;
      const d = decodeKey(key);
      expect(d.head).toBe(`${measurement}.${field}`);
      expect(d.tags).toEqual([...tags].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
      const identity = JSON.stringify([measurement, field, d.tags]);
      const before = seen.get(key);
      if (before !== undefined && !measurement.includes(".") && !field.includes(".")) expect(before).toBe(identity);
      seen.set(key, identity);
    }
    expect(seen.size).toBeGreaterThan(700);
  });
});

describe("line protocol: numbers and tags InfluxDB refuses", () => {
  test("integers beyond ±(2^53-1) are refused instead of rounded", () => {
    refused("m v=9223372036854775807i", /line 1: field "v": integer "9223372036854775807i" is outside ±\(2\^53-1\)/);
    refused("m v=1\nm v=9007199254740992i", /line 2: .*outside/);
    refused("m v=-9007199254740992i", /outside/);
    refused("m v=18446744073709551615u", /outside/);
    expect(parseLineProtocol("m v=9007199254740991i\nm v=-9007199254740991i\nm v=9007199254740991u\nm v=-0i", "ns", NOW).map((p) => p.value)).toEqual([
      9007199254740991, -9007199254740991, 9007199254740991, 0,
    ]);
    expect(Object.is(parseLineProtocol("m v=-0i", "ns", NOW)[0]!.value, 0)).toBe(true);
  });
  test("a negative unsigned integer is refused", () => {
    refused("m v=-5u", /line 1: field "v": unsigned integer "-5u" is negative/);
    refused('m s="x",v=-0u', /unsigned integer "-0u" is negative/);
    expect(parseLineProtocol("m v=5u", "ns", NOW)[0]!.value).toBe(5);
  });
  test("a tag key twice on one line is refused, on both parsing paths", () => {
    refused("m v=1\nm,host=a,host=b v=1", /line 2: duplicate tag "host"/);
    refused('m,host=a,x=1,host=a s="quoted goes the slow way"', /line 1: duplicate tag "host"/);
    refused("m,h\\ st=a,h\\ st=b v=1", /duplicate tag "h st"/);
  });
  test("floats beyond float64 are refused, naming the line", () => {
    refused("m v=1\nm v=1e309", /line 2: field "v": 1e309 is beyond the range of a float64/);
    refused("m v=-1e400", /beyond the range/);
    refused("m v=NaN", /is not a number/);
    refused("m v=Infinity", /is not a number/);
    refused("m v=inf", /is not a number/);
  });
});

describe("line protocol: the request budget stops the expansion while parsing", () => {
  test("100,000 fields on a 1 KB tag (an 890 KB body) stop at the key limit, long before 100 MB of keys", () => {
    const fields = Array.from({ length: 100_000 }, (_, i) => `f${i}=1`).join(",");
    const body = `m,t=${"x".repeat(1000)} ${fields}`;
    expect(body.length).toBeGreaterThan(850_000);
    const budget = new WriteBudget({ maxPoints: 1_000_000, maxKeyBytes: 16 * 1024 * 1024, maxRecordBytes: 48 * 1024 * 1024 });
    const keys = new KeyCache(1_000_000);
    let err: unknown;
    try {
      parseLineProtocol(body, "ns", NOW, budget, keys);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RequestTooLargeError);
    expect(String(err)).toMatch(/line 1: the series keys of this request add up to more than 16777216 bytes .*split the body/);
    expect(budget.keyBytes).toBeLessThan(16 * 1024 * 1024 + 2048);
    // The parse stopped at the field that passed the limit: about 16,500 keys were built, not 100,000.
    expect(keys.size).toBeLessThan(17_000);
  });
  test("the record bound stops many large strings", () => {
    const line = `m s="${"y".repeat(60_000)}"`;
    const body = Array.from({ length: 40 }, () => line).join("\n");
    const budget = new WriteBudget({ maxPoints: 1_000_000, maxKeyBytes: 1 << 24, maxRecordBytes: 1_000_000 });
    expect(() => parseLineProtocol(body, "ns", NOW, budget)).toThrow(/line 17: this request would make a write-ahead log record of more than 1000000 bytes/);
  });
});
