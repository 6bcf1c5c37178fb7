import { describe, expect, test } from "bun:test";
import { LineProtocolError, parseLineProtocol, parsePrecision } from "../../src/server/line_protocol.ts";

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
      { key: "my meas.f,t,ag=a b", ts: NOW, value: 1 },
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
    for (const [body, re] of cases) {
      let err: unknown;
      try {
        parseLineProtocol(body, "ns", NOW);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LineProtocolError);
      expect(String(err)).toMatch(re);
    }
  });
  test("a key over 1024 bytes is refused with its line", () => {
    expect(() => parseLineProtocol(`${"k".repeat(1030)} v=1`, "ns", NOW)).toThrow(/line 1: key is longer than 1024 bytes/);
  });
  test("the per-request point limit", () => {
    expect(() => parseLineProtocol("a v=1\nb v=2\nc v=3", "ns", NOW, 2)).toThrow(/more than 2 points/);
  });
});
