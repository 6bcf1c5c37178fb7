// Limits of the HTTP API against a real daemon process: slow uploads over raw sockets, the
// node-wide in-flight byte budget (its RSS read from /proc), probes that answer while the
// request limit is reached, requests that would expand into oversized WAL records, and
// non-finite numbers and control characters on every input path.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { join } from "node:path";
import { cli, startNode } from "../daemon_helpers.ts";
import type { RunningNode } from "../daemon_helpers.ts";
import { tempDir } from "../helpers.ts";

const cleanups: (() => void | Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function leader(args: string[] = [], env: Record<string, string> = {}): Promise<{ node: RunningNode; url: string; dir: string }> {
  const d = tempDir("limits");
  // A loaded machine can take tens of seconds to start a process.
  const node = await startNode("leader", ["--data-dir", d.path, ...args], env, undefined, { readyTimeoutMs: 90_000 });
  cleanups.push(d.cleanup, () => node.kill());
  return { node, url: `http://127.0.0.1:${node.port}`, dir: d.path };
}

const MiB = 1024 * 1024;
/** Per test: each starts one to three daemon processes. */
const SLOW_MS = 180_000;

/** VmRSS and VmHWM (peak RSS) of a process, in bytes (Linux). */
function memoryOf(pid: number): { rssBytes: number; peakBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024;
  return { rssBytes: kb("VmRSS"), peakBytes: kb("VmHWM") };
}

interface SlowUpload {
  socket: Socket;
  /** Everything the server sent back so far. */
  answer(): string;
  /** Bytes of body written so far. */
  sentBytes(): number;
  /** True once the connection is closed (by either side). */
  closed(): boolean;
  /** Resolves when the server closed the connection or the body was all sent. */
  done: Promise<void>;
}

/**
 * A POST /v1/write whose body trickles in: `chunkBytes` every `intervalMs`, `totalBytes` in
 * all, with a content-length or chunked. Stops sending as soon as the server answers.
 */
function slowUpload(port: number, opts: { totalBytes: number; chunkBytes: number; intervalMs: number; chunked: boolean }): SlowUpload {
  const socket = connect(port, "127.0.0.1");
  let answer = "";
  let sent = 0;
  let closed = false;
  socket.on("data", (d) => (answer += d.toString("latin1")));
  socket.on("error", () => {});
  const done = new Promise<void>((resolve) => {
    socket.on("close", () => {
      closed = true;
      resolve();
    });
    socket.on("connect", async () => {
      const head = [
        "POST /v1/write HTTP/1.1",
        "host: 127.0.0.1",
        "content-type: application/json",
        opts.chunked ? "transfer-encoding: chunked" : `content-length: ${opts.totalBytes}`,
        "",
        "",
      ].join("\r\n");
      socket.write(head);
      const chunk = Buffer.alloc(opts.chunkBytes, 0x20); // spaces: valid JSON whitespace
      while (sent < opts.totalBytes && !closed && answer === "") {
        const n = Math.min(opts.chunkBytes, opts.totalBytes - sent);
        const piece = n === chunk.length ? chunk : chunk.subarray(0, n);
        if (opts.chunked) socket.write(`${n.toString(16)}\r\n`);
        socket.write(piece);
        if (opts.chunked) socket.write("\r\n");
        sent += n;
        await Bun.sleep(opts.intervalMs);
      }
      if (opts.chunked && sent === opts.totalBytes && !closed) socket.write("0\r\n\r\n");
      resolve();
    });
  });
  return { socket, answer: () => answer, sentBytes: () => sent, closed: () => closed, done };
}

async function status(url: string): Promise<Record<string, any>> {
  return (await (await fetch(`${url}/v1/status`)).json()) as Record<string, any>;
}

describe("request limits", () => {
  test("/health and /ping answer while --max-concurrent requests are busy with slow bodies", async () => {
    const { node, url } = await leader(["--max-concurrent", "2"]);
    const uploads = Array.from({ length: 4 }, () => slowUpload(node.port, { totalBytes: 4 * MiB, chunkBytes: 1024, intervalMs: 200, chunked: false }));
    try {
      await Bun.sleep(500);
      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { status: string }).status).toBe("ok");
      expect((await fetch(`${url}/ping`)).status).toBe(204);
      // The limit still holds for everything else.
      const busy = await fetch(`${url}/v1/status`);
      expect(busy.status).toBe(503);
      expect(busy.headers.get("retry-after")).toBe("1");
      expect(((await busy.json()) as { error: string }).error).toMatch(/too many concurrent requests \(limit 2, --max-concurrent\); retry shortly/);
    } finally {
      for (const u of uploads) u.socket.destroy();
    }
  }, SLOW_MS);

  test("slow uploads (content-length and chunked) hold at most --max-inflight-bytes; the rest get 503 with Retry-After; RSS stays bounded; /health stays 200", async () => {
    const { node, url } = await leader(["--max-inflight-bytes", "32MiB"]);
    const pid = node.proc.pid;
    await fetch(`${url}/health`);
    const before = memoryOf(pid);
    // 24 uploads of 16 MiB (384 MiB in all), half of them chunked, 256 KiB every 25 ms.
    const uploads = Array.from({ length: 24 }, (_, i) =>
      slowUpload(node.port, { totalBytes: 16 * MiB, chunkBytes: 256 * 1024, intervalMs: 25, chunked: i % 2 === 1 }),
    );
    let healthChecks = 0;
    const probing = (async () => {
      while (uploads.some((u) => u.answer() === "" && !u.closed() && u.sentBytes() < 16 * MiB)) {
        const t0 = performance.now();
        const r = await fetch(`${url}/health`);
        expect(r.status).toBe(200);
        expect(performance.now() - t0).toBeLessThan(10_000); // generous: the machine running the tests may be loaded
        healthChecks++;
        await Bun.sleep(100);
      }
    })();
    await Promise.all(uploads.map((u) => u.done));
    await probing;
    // Uploads sent whole are answered once the node has read them.
    for (let i = 0; i < 600 && uploads.some((u) => u.answer() === "" && !u.closed()); i++) await Bun.sleep(100);
    // Every upload gets an answer: refused (503), or read whole and found not to be JSON (400).
    // None is cut off without one.
    for (const u of uploads) expect(u.answer()).toMatch(/^HTTP\/1\.1 (503|400)/);
    const refused = uploads.filter((u) => u.answer().startsWith("HTTP/1.1 503"));
    const after = memoryOf(pid);
    const growthBytes = after.peakBytes - before.rssBytes;
    console.log(`slow uploads: ${refused.length}/24 refused, RSS ${Math.round(before.rssBytes / MiB)} -> peak ${Math.round(after.peakBytes / MiB)} MiB`);
    // Without the budget the node would hold 384 MiB of bodies.
    expect(growthBytes).toBeLessThan(160 * MiB);
    // 32 MiB of budget holds two bodies of 16 MiB at most: most of the 24 are refused.
    expect(refused.length).toBeGreaterThanOrEqual(16);
    for (const u of refused) {
      expect(u.answer()).toMatch(/retry-after: 1/i);
      expect(u.answer()).toMatch(/holding its limit of 33554432 bytes of request bodies \(--max-inflight-bytes\); retry shortly/);
    }
    expect(healthChecks).toBeGreaterThan(3);
    for (const u of uploads) u.socket.destroy();
    // Every byte is given back: the node takes a body of 12 MiB again (counted twice, bytes
    // and text: 24 of the 32 MiB), and the gauge is 0.
    await Bun.sleep(200);
    const big = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ key: "after", ts: 1767225600000 + i, value: i }))) + " ".repeat(12 * MiB);
    const w = await fetch(`${url}/v1/write`, { method: "POST", body: big });
    expect(w.status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^cityhall_http_inflight_body_bytes 0$/m);
  }, SLOW_MS);

  test("one body larger than the whole budget can allow gets 413 at once, not a useless 503", async () => {
    const { url } = await leader(["--max-inflight-bytes", "16MiB"]);
    const r = await fetch(`${url}/v1/write`, { method: "POST", body: " ".repeat(9 * MiB) });
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: string }).error).toMatch(/needs twice that .* \(--max-inflight-bytes 16777216\); send smaller batches/);
  }, SLOW_MS);

  test("gzip output and decoded text count against the in-flight budget", async () => {
    const { url } = await leader(["--max-inflight-bytes", "16MiB"]);
    const plain = JSON.stringify([{ key: "g", ts: 1767225600000, value: 1 }]) + " ".repeat(20 * MiB);
    const gz = Bun.gzipSync(new TextEncoder().encode(plain));
    expect(gz.length).toBeLessThan(1 * MiB);
    const r = await fetch(`${url}/v1/write`, { method: "POST", headers: { "content-encoding": "gzip" }, body: gz });
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: string }).error).toMatch(/--max-inflight-bytes/);
    // The gunzipped bytes count as they are made, then their text: 10 MiB of output needs
    // 20 MiB of the 16 (with only the text counted, it would fit).
    const tenMiB = Bun.gzipSync(new TextEncoder().encode(JSON.stringify([{ key: "g", ts: 1767225600000, value: 1 }]) + " ".repeat(10 * MiB)));
    const both = await fetch(`${url}/v1/write`, { method: "POST", headers: { "content-encoding": "gzip" }, body: tenMiB });
    expect(both.status).toBe(503);
    expect(((await both.json()) as { error: string }).error).toMatch(/--max-inflight-bytes/);
    // The decoded text counts as well as the bytes: a chunked (undeclared) body of 10 MiB
    // needs 20 MiB of the 16.
    const chunked = (bytes: number) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode(JSON.stringify([{ key: "c", ts: 1767225600000, value: 1 }])));
          for (let sent = 0; sent < bytes; sent += MiB) c.enqueue(new Uint8Array(MiB).fill(0x20));
          c.close();
        },
      });
    const tooMuch = await fetch(`${url}/v1/write`, { method: "POST", body: chunked(10 * MiB) });
    expect(tooMuch.status).toBe(503);
    expect((await fetch(`${url}/v1/write`, { method: "POST", body: chunked(6 * MiB) })).status).toBe(200);
    // Within the budget, the same kind of body goes through.
    const small = Bun.gzipSync(new TextEncoder().encode(JSON.stringify([{ key: "g", ts: 1767225600000, value: 1 }]) + " ".repeat(4 * MiB)));
    expect((await fetch(`${url}/v1/write`, { method: "POST", headers: { "content-encoding": "gzip" }, body: small })).status).toBe(200);
  }, SLOW_MS);

  test("a line-protocol body that would expand to a 100 MB WAL record gets 413 before it is encoded, and uses no sequence number", async () => {
    const { node, url } = await leader();
    const pid = node.proc.pid;
    const first = await fetch(`${url}/v1/write`, { method: "POST", body: JSON.stringify({ key: "a", ts: 1767225600000, value: 1 }) });
    const seqBefore = ((await first.json()) as { seq: number }).seq;
    const before = memoryOf(pid);
    const fields = Array.from({ length: 100_000 }, (_, i) => `f${i}=1`).join(",");
    const body = `m,t=${"x".repeat(1000)} ${fields} 1767225600000`;
    expect(body.length).toBeGreaterThan(850_000);
    const r = await fetch(`${url}/write?precision=ms`, { method: "POST", body });
    expect(r.status).toBe(413);
    const err = ((await r.json()) as { error: string }).error;
    expect(err).toMatch(/line 1: the series keys of this request add up to more than 16777216 bytes .* split the body into smaller requests/);
    const after = memoryOf(pid);
    console.log(`expanding body: RSS ${Math.round(before.rssBytes / MiB)} -> peak ${Math.round(after.peakBytes / MiB)} MiB`);
    expect(after.peakBytes - before.rssBytes).toBeLessThan(200 * MiB);
    expect((await status(url)).db.lastSeq).toBe(seqBefore);
    const next = await fetch(`${url}/v1/write`, { method: "POST", body: JSON.stringify({ key: "a", ts: 1767225600001, value: 2 }) });
    expect(((await next.json()) as { seq: number }).seq).toBe(seqBefore + 1);
    expect(node.log()).not.toMatch(/exceeds|internal error/);
  }, SLOW_MS);

  test("a JSON body past the WAL record bound gets 413 naming the point (--max-body raised)", async () => {
    const { url } = await leader(["--max-body", "80MiB", "--max-inflight-bytes", "200MiB"]);
    const big = "s".repeat(60_000);
    const lines = Array.from({ length: 900 }, (_, i) => JSON.stringify({ key: "big", ts: 1767225600000 + i, value: big })).join("\n");
    const r = await fetch(`${url}/v1/write`, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: lines });
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: string }).error).toMatch(/line \d+: this request would make a write-ahead log record of more than 50331648 bytes .*split the body/);
    expect((await status(url)).db.lastSeq).toBe(0);
  }, SLOW_MS);
});

describe("input that cannot be stored exactly is refused", () => {
  test("NaN and ±Infinity: 400 naming the point, on JSON, NDJSON and line protocol; nothing written", async () => {
    const { url } = await leader();
    const post = (path: string, body: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { method: "POST", body, headers });
    const cases: [Promise<Response>, RegExp][] = [
      [post("/v1/write", '{"key":"a","value":1e309}'), /^point 0: "value" is beyond the range of a float64/],
      [post("/v1/write", '[{"key":"a","value":1},{"key":"a","value":-1e999}]'), /^point 1: "value" is beyond the range/],
      [post("/v1/write", '{"points":[{"key":"a","value":1,"ts":1e400}]}'), /^point 0: "ts" must be milliseconds/],
      [post("/v1/write", '{"key":"a","value":1}\n\n{"key":"a","value":1e309}\n', { "content-type": "application/x-ndjson" }), /^NDJSON line 3: "value" is beyond the range/],
      [post("/write", "m v=1\nm v=1e309"), /line 2: field "v": 1e309 is beyond the range of a float64/],
      [post("/api/v2/write", "m v=9223372036854775807i"), /line 1: field "v": integer "9223372036854775807i" is outside/],
      [post("/write", "m v=-5u"), /line 1: field "v": unsigned integer "-5u" is negative/],
      [post("/write", "m,host=a,host=b v=1"), /line 1: duplicate tag "host"/],
      [post("/v1/write", '{"key":"a\\nb","value":1}'), /contains the control character U\+000A/],
      [post("/write", "m\tx v=1"), /line 1: key "m\\tx" contains the control character U\+0009/],
    ];
    for (const [res, re] of cases) {
      const r = await res;
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(re);
    }
    expect((await status(url)).db.lastSeq).toBe(0);
    expect(((await (await fetch(`${url}/v1/keys`)).json()) as { keys: string[] }).keys).toEqual([]);
  }, SLOW_MS);

  test("`client put` refuses 1e309, NaN and Infinity with one clear line; --text stores the word", async () => {
    const { node } = await leader();
    for (const v of ["1e309", "1e400", "NaN", "Infinity", "inf"]) {
      const r = await cli(["client", "put", "k", v, "--addr", node.addr]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/float64|not a finite number/);
      expect(r.stderr).toMatch(/--text/);
      expect(r.stderr.trim().split("\n").length).toBe(1);
    }
    expect((await cli(["client", "get", "k", "--addr", node.addr])).stdout).toBe("NOT_FOUND\n");
    expect((await cli(["client", "put", "k", "NaN", "--text", "--addr", node.addr])).code).toBe(0);
    expect((await cli(["client", "get", "k", "--addr", node.addr])).stdout).toBe("VALUE NaN\n");
    expect((await cli(["client", "put", "n", "1.5e308", "--addr", node.addr])).code).toBe(0);
    expect((await cli(["client", "get", "n", "--addr", node.addr])).stdout).toBe("VALUE 1.5e+308\n");
  }, SLOW_MS);
});

describe("tokens", () => {
  test("--token-file and CITYHALL_TOKEN keep the token off the command line; --token works but is warned about", async () => {
    const d = tempDir("token");
    cleanups.push(d.cleanup);
    const file = join(d.path, "token");
    const token = "s3cret-token-0123456789abcdef";
    writeFileSync(file, token + "\n", { mode: 0o600 });
    const fromFile = await leader(["--token-file", file]);
    const cmdline = readFileSync(`/proc/${fromFile.node.proc.pid}/cmdline`, "utf8");
    expect(cmdline).not.toContain(token);
    expect(fromFile.node.log()).not.toMatch(/visible to every user/);
    const auth = { authorization: `Bearer ${token}` };
    expect((await fetch(`${fromFile.url}/v1/status`, { headers: auth })).status).toBe(200);
    for (const wrong of ["", "s3cret", token + "x", token.slice(0, -1) + "X", "x".repeat(10_000)]) {
      expect((await fetch(`${fromFile.url}/v1/status`, { headers: { authorization: `Bearer ${wrong}` } })).status).toBe(401);
    }
    // The client reads the same file.
    const put = await cli(["client", "put", "k", "1", "--addr", fromFile.node.addr, "--token-file", file]);
    expect(put.code).toBe(0);
    const noToken = await cli(["client", "get", "k", "--addr", fromFile.node.addr]);
    expect(noToken.code).toBe(2);

    const fromEnv = await leader([], { CITYHALL_TOKEN: token });
    expect((await fetch(`${fromEnv.url}/v1/status`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${fromEnv.url}/v1/status`)).status).toBe(401);
    expect(fromEnv.node.log()).not.toMatch(/visible to every user/);

    const fromFlag = await leader(["--token", token]);
    expect((await fetch(`${fromFlag.url}/v1/status`, { headers: auth })).status).toBe(200);
    expect(fromFlag.node.log()).toMatch(/--token on the command line is visible to every user of this machine \(ps\); use --token-file PATH or the CITYHALL_TOKEN environment variable/);

    const both = await cli(["leader", "--data-dir", d.path, "--port", "0", "--token", token, "--token-file", file]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--token-file or --token, not both/);
    const missing = await cli(["leader", "--data-dir", d.path, "--port", "0", "--token-file", join(d.path, "nope")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read --token-file/);
    expect(existsSync(join(d.path, "nope"))).toBe(false);
  }, SLOW_MS);
});
