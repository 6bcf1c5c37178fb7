// A real daemon process on a free port, driven over HTTP and through the CLI.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { cli, startNode } from "../daemon_helpers.ts";
import type { RunningNode } from "../daemon_helpers.ts";
import { tempDir } from "../helpers.ts";

let node: RunningNode;
let dir: { path: string; cleanup: () => void };
let base: string;

beforeAll(async () => {
  dir = tempDir("daemon");
  node = await startNode("leader", ["--data-dir", dir.path, "--max-body", "64KiB", "--max-points", "5000"]);
  base = `http://${node.addr}`;
});
afterAll(async () => {
  await node.kill();
  dir.cleanup();
});

const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) => fetch(base + path, { method: "POST", body, headers });

describe("CLI against a running leader", () => {
  test("put, get, range, keys, del, status, metrics", async () => {
    const a = ["--addr", node.addr];
    expect(await cli(["client", "put", "sensor.temp.line_1", "23.5", ...a])).toEqual({ code: 0, stdout: "OK\n", stderr: "" });
    expect((await cli(["client", "put", "note", "pump 3 serviced", "--ts", "1767225600000", ...a])).stdout).toBe("OK\n");
    expect((await cli(["client", "put", "sensor.temp.line_1", "24", "--ts", "1767225600000", ...a])).code).toBe(0);
    const got = await cli(["client", "get", "sensor.temp.line_1", ...a]);
    expect(got).toEqual({ code: 0, stdout: "VALUE 23.5\n", stderr: "" });
    expect((await cli(["client", "get", "note", ...a])).stdout).toBe("VALUE pump 3 serviced\n");
    expect(await cli(["client", "get", "no.such.key", ...a])).toEqual({ code: 1, stdout: "NOT_FOUND\n", stderr: "" });
    const range = await cli(["client", "range", "sensor.temp.line_1", ...a]);
    const lines = range.stdout.trim().split("\n");
    expect(lines.length).toBe(2);
    expect(lines[0]).toBe("1767225600000 24");
    const json = await cli(["client", "range", "sensor.temp.line_1", "--json", "--limit", "1", ...a]);
    expect(JSON.parse(json.stdout)).toEqual({ key: "sensor.temp.line_1", ts: 1767225600000, value: 24 });
    expect((await cli(["client", "keys", "sensor.", ...a])).stdout).toBe("sensor.temp.line_1\n");
    expect((await cli(["client", "del", "note", ...a])).stdout).toBe("OK\n");
    expect((await cli(["client", "get", "note", ...a])).code).toBe(1);
    const status = await cli(["client", "status", ...a]);
    expect(status.stdout).toContain("Role: leader");
    const metrics = await cli(["client", "metrics", ...a]);
    expect(metrics.stdout).toMatch(/^cityhall_points_written_total \d+$/m);
  });

  test("a loop of 100 `client put` processes, as in the seeds' demo", async () => {
    for (let i = 1; i <= 100; i++) {
      const r = await cli(["client", "put", `demo.line_${i}`, `${20 + (i % 10)}.5`, "--addr", node.addr]);
      expect(r.stdout).toBe("OK\n");
    }
    expect((await cli(["client", "keys", "demo.", "--addr", node.addr])).stdout.trim().split("\n").length).toBe(100);
  }, 60_000);

  test("user errors: one clear line, non-zero exit, no stack trace", async () => {
    const cases: [string[], RegExp][] = [
      [["client", "get", "x", "--bogus"], /^cityhall: unknown flag --bogus/],
      [["client", "put", "x", "1", "--ts", "soon", "--addr", node.addr], /^cityhall: --ts must be an integer/],
      [["client", "get", "x", "--addr", "127.0.0.1:1"], /^cityhall: cannot reach the node at 127.0.0.1:1 \(connection refused\)/],
      [["client", "put"], /^cityhall: missing KEY/],
      [["frobnicate"], /^cityhall: unknown command "frobnicate"/],
      [["leader", "--port", "http"], /^cityhall: flags: --port "http" is not a port number/],
      [["leader", "--sync", "sometimes", "--data-dir", join(dir.path, "x")], /unknown sync mode "sometimes"/],
      [["client", "put", "k".repeat(1100), "1", "--addr", node.addr], /key is longer than 1024 bytes/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      expect(r.code).toBeGreaterThan(0);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(r.stderr).not.toContain("    at ");
    }
  });

  test("--help and --version", async () => {
    const v = await cli(["--version"]);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const h = await cli(["client", "put", "--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("--ts");
    expect((await cli(["leader", "--help"])).stdout).toContain("--replication-port");
  });
});

describe("HTTP API", () => {
  test("JSON and NDJSON writes and reads", async () => {
    let r = await post("/v1/write", JSON.stringify([{ key: "j.a", ts: 1000, value: 1.5 }, { key: "j.a", ts: 2000, value: "two" }]), {
      "content-type": "application/json",
    });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { points: number }).points).toBe(2);
    r = await post("/v1/write", '{"key":"j.b","ts":5,"value":5}\n{"key":"j.b","ts":6,"value":6}\n', { "content-type": "application/x-ndjson" });
    expect(r.status).toBe(200);
    expect(await (await fetch(`${base}/v1/get?key=j.a`)).json()).toEqual({ key: "j.a", ts: 2000, value: "two" });
    expect(await (await fetch(`${base}/v1/range?key=j.b`)).json()).toEqual([
      { key: "j.b", ts: 5, value: 5 },
      { key: "j.b", ts: 6, value: 6 },
    ]);
    const nd = await (await fetch(`${base}/v1/range?key=j.b&format=ndjson&reverse=true`)).text();
    expect(nd).toBe('{"key":"j.b","ts":6,"value":6}\n{"key":"j.b","ts":5,"value":5}\n');
    expect(await (await fetch(`${base}/v1/range?key=j.b&from=6&to=6`)).json()).toEqual([{ key: "j.b", ts: 6, value: 6 }]);
    expect(await (await fetch(`${base}/v1/range?key=nothing`)).json()).toEqual([]);
    expect(await (await fetch(`${base}/v1/keys?prefix=j.`)).json()).toEqual({ keys: ["j.a", "j.b"] });
    r = await post("/v1/delete", JSON.stringify({ key: "j.b", from: 6, to: 6 }));
    expect(r.status).toBe(200);
    expect(await (await fetch(`${base}/v1/range?key=j.b`)).json()).toEqual([{ key: "j.b", ts: 5, value: 5 }]);
    expect((await (await fetch(`${base}/v1/get?key=nothing`)).json()) as object).toEqual({ error: "not found", key: "nothing" });
    const st = (await (await fetch(`${base}/v1/status`)).json()) as { role: string; db: { lastSeq: number } };
    expect(st.role).toBe("leader");
    expect(st.db.lastSeq).toBeGreaterThan(0);
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  test("InfluxDB line protocol on /write and /api/v2/write, gzip, precision; reads back through /v1 and the CLI", async () => {
    let r = await post("/write?db=telegraf&precision=ms", "plant.boiler,site=nairobi temp=81.5,pressure=2.25 1767225600000\n");
    expect(r.status).toBe(204);
    r = await post("/api/v2/write?org=o&bucket=b&precision=s", gzipSync("plant.boiler,site=nairobi temp=82 1767225601\n"), { "content-encoding": "gzip" });
    expect(r.status).toBe(204);
    r = await post("/api/v2/write?bucket=b", "sensor.temp.line_9 v=19.5 1767225602000000000");
    expect(r.status).toBe(204);
    expect(await (await fetch(`${base}/v1/range?key=${encodeURIComponent("plant.boiler.temp,site=nairobi")}`)).json()).toEqual([
      { key: "plant.boiler.temp,site=nairobi", ts: 1767225600000, value: 81.5 },
      { key: "plant.boiler.temp,site=nairobi", ts: 1767225601000, value: 82 },
    ]);
    expect((await cli(["client", "get", "sensor.temp.line_9", "--ts", "--addr", node.addr])).stdout).toBe("VALUE 19.5 1767225602000\n");
    expect((await fetch(`${base}/ping`)).status).toBe(204);
    expect((await post("/query", "q=CREATE+DATABASE+telegraf", { "content-type": "application/x-www-form-urlencoded" })).status).toBe(200);
  });

  test("bad input gets a 4xx with a clear message, and the node keeps serving", async () => {
    const expectError = async (res: Response, status: number, re: RegExp) => {
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: string }).error).toMatch(re);
    };
    await expectError(await post("/write", "ok v=1\nthis is not line protocol\n"), 400, /line 2/);
    await expectError(await post("/v1/write", "{not json"), 400, /not valid JSON/);
    await expectError(await post("/v1/write", JSON.stringify([{ key: "", value: 1 }])), 400, /key must not be empty/);
    await expectError(await post("/v1/write", JSON.stringify([{ key: "k", value: { nested: true } }])), 400, /"value" must be a number or a string/);
    await expectError(await post("/v1/write", "x".repeat(100 * 1024)), 413, /larger than 65536 bytes/);
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, "a"));
    await expectError(await post("/write", bomb, { "content-encoding": "gzip" }), 413, /after decompression/);
    await expectError(await post("/write", "not gzip at all", { "content-encoding": "gzip" }), 400, /not valid gzip/);
    const many = Array.from({ length: 5001 }, () => "m v=1").join("\n");
    await expectError(await post("/write?precision=ms", many), 413, /more than 5000 points/);
    await expectError(await fetch(`${base}/v1/nope`), 404, /no route GET \/v1\/nope/);
    await expectError(await fetch(`${base}/v1/write`), 405, /use POST/);
    await expectError(await fetch(`${base}/v1/range?key=k&from=yesterday`), 400, /from="yesterday" is not an integer/);
    await expectError(await post("/write?precision=fortnight", "m v=1"), 400, /unknown precision/);
    await expectError(await post("/query", "q=SELECT+*+FROM+x", { "content-type": "application/x-www-form-urlencoded" }), 400, /does not run InfluxQL/);
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  test("/metrics is Prometheus exposition", async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain("# TYPE cityhall_http_requests_total counter");
    expect(text).toMatch(/^cityhall_wal_bytes \d+$/m);
  });

  const promtool = Bun.which("promtool");
  test.skipIf(!promtool)(`/metrics is valid Prometheus exposition (promtool check metrics)${promtool ? "" : " (skipped: promtool is missing; install the Debian package prometheus, as .ci/run does)"}`, async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const p = Bun.spawnSync([promtool!, "check", "metrics"], { stdin: new TextEncoder().encode(text) });
    expect(p.stderr.toString() + p.stdout.toString()).toBe("");
    expect(p.exitCode).toBe(0);
  });
});

describe("tokens and binding", () => {
  test("a non-loopback address without a token is refused at start", async () => {
    const d = tempDir("bind");
    try {
      const r = await cli(["leader", "--host", "0.0.0.0", "--port", "0", "--replication-port", "0", "--data-dir", d.path]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/exposes the API beyond this machine; set a token with --token or CITYHALL_TOKEN/);
    } finally {
      d.cleanup();
    }
  });

  test("with a token, every request must carry it", async () => {
    const d = tempDir("token");
    const n = await startNode("leader", ["--data-dir", d.path], { CITYHALL_TOKEN: "s3cret" });
    try {
      const b = `http://${n.addr}`;
      expect((await fetch(`${b}/v1/get?key=k`)).status).toBe(401);
      expect((await fetch(`${b}/v1/get?key=k`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      expect((await fetch(`${b}/v1/get?key=k`, { headers: { authorization: "Bearer s3cret" } })).status).toBe(404);
      expect((await fetch(`${b}/write?p=s3cret`, { method: "POST", body: "m v=1" })).status).toBe(204);
      expect((await fetch(`${b}/api/v2/write`, { method: "POST", body: "m v=2", headers: { authorization: "Token s3cret" } })).status).toBe(204);
      const bad = await cli(["client", "get", "m", "--addr", n.addr]);
      expect(bad.stderr).toMatch(/requires a token/);
      expect((await cli(["client", "get", "m", "--addr", n.addr, "--token", "s3cret"])).stdout).toBe("VALUE 2\n");
    } finally {
      await n.kill();
      d.cleanup();
    }
  });
});

describe("shutdown", () => {
  test("SIGTERM: stops cleanly, flushes, and the data is there after a restart", async () => {
    const d = tempDir("term");
    try {
      let n = await startNode("leader", ["--data-dir", d.path]);
      const pts = Array.from({ length: 500 }, (_, i) => ({ key: `t.${i % 5}`, ts: i, value: i }));
      expect((await fetch(`http://${n.addr}/v1/write`, { method: "POST", body: JSON.stringify(pts) })).status).toBe(200);
      expect(await n.stop()).toBe(0);
      expect(n.log()).toContain("stopped cleanly");
      expect(readdirSync(join(d.path, "sst")).some((f) => f.endsWith(".sst"))).toBe(true);
      expect(existsSync(join(d.path, "LOCK"))).toBe(false);
      n = await startNode("leader", ["--data-dir", d.path]);
      expect((await (await fetch(`http://${n.addr}/v1/range?key=t.3`)).json() as unknown[]).length).toBe(100);
      await n.stop();
    } finally {
      d.cleanup();
    }
  }, 30_000);

  test("SIGKILL mid-stream: every acknowledged write is there after a restart", async () => {
    const d = tempDir("kill");
    try {
      let n = await startNode("leader", ["--data-dir", d.path]);
      const acked: number[] = [];
      let stop = false;
      const writer = (async () => {
        for (let b = 0; !stop; b++) {
          const body = Array.from({ length: 50 }, (_, j) => ({ key: `k.${b % 3}`, ts: b * 100 + j, value: b }));
          try {
            const r = await fetch(`http://${n.addr}/v1/write`, { method: "POST", body: JSON.stringify(body) });
            if (r.status === 200) acked.push(b);
          } catch {
            return;
          }
        }
      })();
      await Bun.sleep(400);
      await n.kill();
      stop = true;
      await writer;
      expect(acked.length).toBeGreaterThan(5);
      n = await startNode("leader", ["--data-dir", d.path]);
      for (const b of acked) {
        const pts = (await (await fetch(`http://${n.addr}/v1/range?key=k.${b % 3}&from=${b * 100}&to=${b * 100 + 49}`)).json()) as unknown[];
        expect(pts.length).toBe(50);
      }
      await n.stop();
    } finally {
      d.cleanup();
    }
  }, 30_000);
});
