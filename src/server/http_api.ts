// The client API on Bun.serve (routes in docs/http_api.md):
//   /v1/write /v1/get /v1/range /v1/keys /v1/delete /v1/status   JSON and NDJSON
//   /write /api/v2/write /query /ping                              InfluxDB compatibility
//   /metrics                                                       Prometheus text format
//   /health                                                        probes
//
// Every failure is an HTTP status with a JSON body {"error": "..."} that says what to do;
// no request can take the node down. Limits: body size, points, series-key bytes and WAL
// record size per request (counted while parsing, before anything is encoded), request-body
// bytes held by the whole node (counted as they arrive), concurrent requests (not /health and
// /ping, so probes answer while uploads wait) and an idle timeout per connection.

import { createHash, timingSafeEqual } from "node:crypto";
import type { Server } from "bun";
import type { Db, PointWrite } from "../engine/db.ts";
import type { Logger } from "../engine/options.ts";
import { CityHallError, CorruptionError, InvalidArgumentError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { BodyTooLargeError, gunzipBounded } from "./gunzip.ts";
import { InflightBytes, defaultInflightBytes } from "./inflight_bytes.ts";
import type { InflightAccount } from "./inflight_bytes.ts";
import { KeyCache, parseLineProtocol, parsePrecision } from "./line_protocol.ts";
import type { Registry } from "./metrics.ts";
import { RequestTooLargeError, WriteBudget } from "./write_budget.ts";

export interface HttpLimits {
  /** Largest request body accepted, compressed or not (and after gunzip). */
  maxBodyBytes: number;
  maxPointsPerRequest: number;
  /** Bytes (UTF-8) of the distinct series keys one write request may name. */
  maxKeyBytesPerRequest: number;
  /**
   * Upper bound of the WAL record one write request may produce; well below the format's
   * MAX_RECORD_PAYLOAD_BYTES (64 MiB), so no request can reach the encoder's hard stop.
   */
  maxRecordBytesPerRequest: number;
  /** Request-body bytes the whole node holds at once (as received and after gunzip); more get 503. */
  maxInflightBytes: number;
  /** Requests served at once (not counting /health and /ping); more get 503. */
  maxConcurrentRequests: number;
  /** Seconds a connection may sit idle (Bun's idleTimeout, max 255). */
  idleTimeoutSec: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxBodyBytes: 32 * 1024 * 1024,
  maxPointsPerRequest: 1_000_000,
  maxKeyBytesPerRequest: 16 * 1024 * 1024,
  maxRecordBytesPerRequest: 48 * 1024 * 1024,
  maxInflightBytes: defaultInflightBytes(),
  maxConcurrentRequests: 256,
  idleTimeoutSec: 30,
};

export interface HttpApiOptions {
  host: string;
  port: number;
  /** When set, every request must carry it (Bearer/Token header, Basic password, or ?p=). */
  token?: string;
  limits?: Partial<HttpLimits>;
  /** When set, writes are refused with this explanation (a replica names its leader). */
  readOnlyReason?: string;
  role: string;
  dataDir: string;
  /** Extra status fields (e.g. replication) merged into /v1/status. */
  extraStatus?: () => Record<string, unknown>;
  /** On a leader: the replicas it serves (/v1/replicas). */
  replicas?: { list(): unknown[]; forget(replicaId: string): Promise<boolean> };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}


const JSON_HEADERS = { "content-type": "application/json" };

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/**
 * Compares fixed-length digests, so the time taken says nothing about the expected token,
 * not even its length (a plain compare returns early when the lengths differ).
 */
function tokenMatches(given: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(sha256(given), expectedDigest);
}

/** Bodies of a declared length up to this are read in one call (see readBody). */
const SMALL_BODY_BYTES = 256 * 1024;

/** Routes that answer probes: never refused for load, and never read a body. */
function isProbe(path: string): boolean {
  return path === "/health" || path === "/ping";
}

function intParam(url: URL, name: string, dflt: number | undefined): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return dflt;
  if (!/^-?\d+$/.test(v)) throw new HttpError(400, `query parameter ${name}="${v}" is not an integer`);
  return Number(v);
}

export class HttpApi {
  private server: Server<undefined> | null = null;
  private inFlight = 0;
  private readonly lineProtocolKeys = new KeyCache();
  private readonly limits: HttpLimits;
  private readonly inflightBytes: InflightBytes;
  /** The body bytes each request in progress holds. */
  private readonly accounts = new WeakMap<Request, InflightAccount>();
  private readonly tokenDigest: Buffer | null;
  private readonly startedMs = Date.now();
  private readonly requests;
  private readonly duration;
  private readonly pointsWritten;
  private readonly pointsRead;

  constructor(
    private readonly db: Db,
    private readonly opts: HttpApiOptions,
    private readonly metrics: Registry,
    private readonly log: Logger,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.inflightBytes = new InflightBytes(this.limits.maxInflightBytes);
    this.tokenDigest = opts.token ? sha256(opts.token) : null;
    this.requests = metrics.counter("cityhall_http_requests_total", "HTTP requests by route and status code.");
    this.duration = metrics.histogram("cityhall_http_request_duration_seconds", "HTTP request latency by route.", [
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
    ]);
    this.pointsWritten = metrics.counter("cityhall_points_written_total", "Points accepted by write requests.");
    this.pointsRead = metrics.counter("cityhall_points_read_total", "Points returned by get and range requests.");
    metrics.collect("cityhall_http_requests_in_flight", "HTTP requests being served now.", "gauge", () => this.inFlight);
    metrics.collect("cityhall_http_inflight_body_bytes", "Request-body bytes held now (limit: --max-inflight-bytes).", "gauge", () => this.inflightBytes.held);
  }

  get port(): number {
    return this.server?.port ?? this.opts.port;
  }

  get uptimeSeconds(): number {
    return (Date.now() - this.startedMs) / 1000;
  }

  start(): void {
    this.server = Bun.serve({
      hostname: this.opts.host,
      port: this.opts.port,
      // Bun's own limit answers with an empty 413; ours (in readBody) explains itself, so
      // Bun's is only the hard stop for bodies far past ours.
      maxRequestBodySize: this.limits.maxBodyBytes * 2 + 1024 * 1024,
      idleTimeout: Math.min(255, Math.max(1, this.limits.idleTimeoutSec)),
      fetch: (req) => this.handle(req),
      error: (err) => {
        this.log.error(`cityhall/http: ${err.message}`);
        return json({ error: "internal error; see the node's log" }, 500);
      },
    });
  }

  /** Stops accepting connections; waits for requests in flight unless `force`. */
  async stop(force = false): Promise<void> {
    if (!this.server) return;
    const s = this.server;
    this.server = null;
    await s.stop(force);
  }

  private async handle(req: Request): Promise<Response> {
    const t0 = performance.now();
    const url = new URL(req.url);
    const route = this.routeName(url.pathname);
    let res: Response;
    if (isProbe(url.pathname)) {
      // Probes bypass the request limit: a node busy with uploads is still alive.
      try {
        res = await this.route(req, url);
      } catch (e) {
        res = this.errorResponse(e, req, url);
      }
    } else if (this.inFlight >= this.limits.maxConcurrentRequests) {
      res = json({ error: `too many concurrent requests (limit ${this.limits.maxConcurrentRequests}, --max-concurrent); retry shortly` }, 503);
      res.headers.set("retry-after", "1");
    } else {
      this.inFlight++;
      const account = this.inflightBytes.open();
      this.accounts.set(req, account);
      try {
        res = await this.route(req, url);
      } catch (e) {
        res = this.errorResponse(e, req, url);
      } finally {
        this.inFlight--;
        if (this.inflightBytes.collectionDue(account.release(), performance.now())) Bun.gc(true);
      }
    }
    this.requests.inc({ route, code: String(res.status) });
    this.duration.observe((performance.now() - t0) / 1000, { route });
    return res;
  }

  private routeName(path: string): string {
    switch (path) {
      case "/v1/write":
      case "/v1/get":
      case "/v1/range":
      case "/v1/keys":
      case "/v1/delete":
      case "/v1/status":
      case "/v1/replicas":
      case "/v1/replicas/forget":
      case "/write":
      case "/api/v2/write":
      case "/query":
      case "/ping":
      case "/metrics":
      case "/health":
        return path;
      default:
        return "other";
    }
  }

  private errorResponse(e: unknown, req: Request, url: URL): Response {
    if (e instanceof HttpError) return new Response(JSON.stringify({ error: e.message }), { status: e.status, headers: { ...JSON_HEADERS, ...e.headers } });
    if (e instanceof BodyTooLargeError || e instanceof RequestTooLargeError) return json({ error: e.message }, 413);
    if (e instanceof InvalidArgumentError) return json({ error: e.message }, 400);
    if (e instanceof CityHallError) {
      if (e.code === "READ_ONLY") return json({ error: e.message }, 403);
      if (e.code === "CLOSED" || e.code === "UNAVAILABLE") return json({ error: e.message }, 503);
      if (e instanceof CorruptionError) this.log.error(e.message);
      else this.log.error(`${req.method} ${url.pathname}: ${e.message}`);
      const status = e.code === "IO" && /ENOSPC|EDQUOT|disk is full/.test(e.message) ? 507 : 500;
      return json({ error: e.message }, status);
    }
    // One line: the message and where it came from, never a stack or a source dump.
    const where = ((e as Error)?.stack ?? "").split("\n").find((l) => /^\s+at /.test(l))?.trim() ?? "";
    this.log.error(`cityhall/http: ${req.method} ${url.pathname} failed: ${String((e as Error)?.message ?? e).split("\n")[0]!.slice(0, 500)}${where ? ` (${where.slice(0, 200)})` : ""}`);
    return json({ error: "internal error; see the node's log" }, 500);
  }

  private checkAuth(req: Request, url: URL): void {
    const token = this.opts.token;
    if (!token) return;
    const h = req.headers.get("authorization") ?? "";
    let given: string | null = null;
    const m = /^(Bearer|Token)\s+(.+)$/i.exec(h);
    if (m) given = m[2]!.trim();
    else if (/^Basic\s+/i.test(h)) {
      const decoded = Buffer.from(h.replace(/^Basic\s+/i, ""), "base64").toString();
      given = decoded.slice(decoded.indexOf(":") + 1);
    } else given = url.searchParams.get("p");
    if (given === null) throw new HttpError(401, "this node requires a token: send 'Authorization: Bearer <token>'");
    if (!tokenMatches(given, this.tokenDigest!)) throw new HttpError(401, "wrong token");
  }

  private async route(req: Request, url: URL): Promise<Response> {
    this.checkAuth(req, url);
    const m = req.method;
    const need = (...methods: string[]) => {
      if (!methods.includes(m)) throw new HttpError(405, `${m} is not allowed on ${url.pathname}; use ${methods.join(" or ")}`);
    };
    switch (url.pathname) {
      case "/health":
        need("GET", "HEAD");
        return json({ status: "ok", role: this.opts.role, version: VERSION });
      case "/ping":
        need("GET", "HEAD");
        return new Response(null, { status: 204, headers: { "x-influxdb-version": `cityhall-${VERSION}` } });
      case "/metrics":
        need("GET");
        return new Response(this.metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
      case "/v1/write":
        need("POST");
        return this.v1Write(req);
      case "/v1/get":
        need("GET");
        return this.v1Get(url);
      case "/v1/range":
        need("GET");
        return this.v1Range(req, url);
      case "/v1/keys":
        need("GET");
        return json({ keys: this.db.keys(url.searchParams.get("prefix") ?? "") });
      case "/v1/delete":
        need("POST");
        return this.v1Delete(req);
      case "/v1/status":
        need("GET");
        return json(this.status());
      case "/v1/replicas":
        need("GET");
        if (!this.opts.replicas) throw new HttpError(404, "this node is not a leader; ask its leader for /v1/replicas");
        return json({ replicas: this.opts.replicas.list() });
      case "/v1/replicas/forget": {
        need("POST");
        if (!this.opts.replicas) throw new HttpError(404, "this node is not a leader");
        let body: { id?: unknown };
        try {
          body = JSON.parse(await this.readBody(req)) as { id?: unknown };
        } catch {
          throw new HttpError(400, 'send {"id": "<replica id>"}');
        }
        if (typeof body?.id !== "string") throw new HttpError(400, 'send {"id": "<replica id>"}');
        const known = await this.opts.replicas.forget(body.id);
        if (!known) return json({ error: `no replica ${body.id}`, id: body.id }, 404);
        return json({ ok: true, forgotten: body.id });
      }
      case "/write":
      case "/api/v2/write":
        need("POST");
        return this.influxWrite(req, url);
      case "/query":
        return this.influxQuery(url, req);
      default:
        throw new HttpError(404, `no route ${m} ${url.pathname}; see docs/http_api.md for the API`);
    }
  }

  status(): Record<string, unknown> {
    return {
      role: this.opts.role,
      version: VERSION,
      dataDir: this.opts.dataDir,
      uptimeSeconds: Math.round(this.uptimeSeconds),
      http: { port: this.port, inFlight: this.inFlight },
      db: this.db.stats(),
      ...(this.opts.extraStatus?.() ?? {}),
    };
  }

  private checkWritable(): void {
    if (this.opts.readOnlyReason) throw new CityHallError("READ_ONLY", "http", this.opts.readOnlyReason);
  }

  /**
   * Reads and drops the rest of a refused body in the background, holding none of it, and
   * returns `answer`. Why not close the connection instead: many clients read the answer only
   * after sending the whole body, and closing a socket with unread data makes TCP reset it,
   * so they would see "connection reset" instead of the reason.
   */
  private refuseBody(req: Request, reader: { read(): Promise<{ done: boolean }> } | null, answer: HttpError): HttpError {
    const r = reader ?? (req.body && !req.bodyUsed ? req.body.getReader() : null);
    if (r) {
      void (async () => {
        for (;;) if ((await r.read()).done) return;
      })().catch(() => {});
    }
    return answer;
  }

  private inflightFull(): HttpError {
    return new HttpError(
      503,
      `the node is holding its limit of ${this.limits.maxInflightBytes} bytes of request bodies (--max-inflight-bytes); retry shortly, or send smaller bodies`,
      { "retry-after": "1" },
    );
  }

  /**
   * Reads the body chunk by chunk as it arrives, counting every chunk against --max-body and
   * the node-wide --max-inflight-bytes before keeping it (chunked bodies included), then
   * gunzips and decodes with the same counts. The account is released when the request is
   * answered (in handle).
   */
  private async readBody(req: Request): Promise<string> {
    const maxBody = this.limits.maxBodyBytes;
    const declared = Number(req.headers.get("content-length") ?? "0");
    if (declared > maxBody) throw this.refuseBody(req, null, new HttpError(413, new BodyTooLargeError(maxBody).message));
    // A body is counted twice: its bytes and its decoded text.
    if (declared * 2 > this.limits.maxInflightBytes) {
      throw this.refuseBody(
        req,
        null,
        new HttpError(
          413,
          `a request body of ${declared} bytes needs twice that (its bytes and its text) of what the node holds for all requests together (--max-inflight-bytes ${this.limits.maxInflightBytes}); send smaller batches`,
        ),
      );
    }
    const enc = (req.headers.get("content-encoding") ?? "").toLowerCase();
    const gzip = enc === "gzip" || enc === "x-gzip";
    if (!gzip && enc !== "" && enc !== "identity") {
      throw this.refuseBody(req, null, new HttpError(415, `content-encoding "${enc}" is not supported; use gzip or none`));
    }
    const account = this.accounts.get(req);
    if (!account) throw new Error("readBody called outside a counted request");
    const chunks: Uint8Array[] = [];
    let total = 0;
    const lengthHeader = req.headers.get("content-length");
    if (lengthHeader !== null && declared <= SMALL_BODY_BYTES && !req.headers.has("transfer-encoding")) {
      // Small body of a declared length (most requests): reserve it up front and read it in
      // one call, which is cheaper than a stream; Bun stops the body at the declared length.
      if (!account.reserve(declared)) throw this.refuseBody(req, null, this.inflightFull());
      chunks.push(new Uint8Array(await req.arrayBuffer()));
      total = chunks[0]!.length;
    } else if (req.body) {
      const reader = req.body.getReader();
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        total += r.value.length;
        let refusal: HttpError | null = null;
        if (total > maxBody) refusal = new HttpError(413, new BodyTooLargeError(maxBody).message);
        else if (!account.reserve(r.value.length)) refusal = this.inflightFull();
        if (refusal) throw this.refuseBody(req, reader, refusal);
        chunks.push(r.value);
      }
    }
    let parts: Uint8Array[] = chunks;
    if (gzip) {
      parts = gunzipBounded(chunks, maxBody, (n) => {
        if (!account.reserve(n)) throw this.inflightFull();
      });
    }
    // The text is held as long as the bytes: count it too (one byte a character for ASCII;
    // fewer characters than bytes otherwise). Decoding piece by piece avoids joining the
    // bytes into one more copy.
    let textBytes = 0;
    for (const p of parts) textBytes += p.length;
    if (!account.reserve(textBytes)) throw this.inflightFull();
    const decoder = new TextDecoder("utf-8", { fatal: true });
    try {
      if (parts.length === 1) return decoder.decode(parts[0]);
      const pieces: string[] = [];
      for (const p of parts) pieces.push(decoder.decode(p, { stream: true }));
      pieces.push(decoder.decode());
      return pieces.join("");
    } catch {
      throw new HttpError(400, "request body is not valid UTF-8");
    }
  }

  /** The limits one write request is parsed against (413 past any of them). */
  private writeBudget(): WriteBudget {
    return new WriteBudget({
      maxPoints: this.limits.maxPointsPerRequest,
      maxKeyBytes: this.limits.maxKeyBytesPerRequest,
      maxRecordBytes: this.limits.maxRecordBytesPerRequest,
    });
  }

  /** REQUIRES: `points` passed a writeBudget() (so the WAL record stays within its bound). */
  private async write(points: PointWrite[]): Promise<{ seq: number; points: number }> {
    const r = await this.db.putMany(points);
    this.pointsWritten.inc(undefined, r.points);
    return r;
  }

  private async v1Write(req: Request): Promise<Response> {
    this.checkWritable();
    const text = await this.readBody(req);
    const ctype = req.headers.get("content-type") ?? "";
    let items: unknown[];
    /** For NDJSON, the line of each item, so errors name the line. */
    let lineOf: number[] | null = null;
    if (ctype.includes("ndjson") || ctype.includes("jsonlines")) {
      items = [];
      lineOf = [];
      let n = 0;
      for (const line of text.split("\n")) {
        n++;
        if (line.trim() === "") continue;
        try {
          items.push(JSON.parse(line));
          lineOf.push(n);
        } catch {
          throw new HttpError(400, `NDJSON line ${n} is not valid JSON`);
        }
      }
    } else {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new HttpError(400, "request body is not valid JSON; send a point, an array of points or {\"points\": [...]}");
      }
      items = Array.isArray(body) ? body : body && typeof body === "object" && Array.isArray((body as { points?: unknown }).points) ? (body as { points: unknown[] }).points : [body];
    }
    const budget = this.writeBudget();
    const unit = lineOf ? "line" : "point";
    const whereOf = (i: number) => (lineOf ? `NDJSON line ${lineOf[i]}` : `point ${i}`);
    const points: PointWrite[] = items.map((it, i) => {
      if (!it || typeof it !== "object") throw new HttpError(400, `${whereOf(i)} is not an object like {"key": "...", "value": 1.5, "ts": 1767225600000}`);
      const p = it as Record<string, unknown>;
      if (typeof p.key !== "string") throw new HttpError(400, `${whereOf(i)}: "key" must be a string`);
      if (typeof p.value !== "number" && typeof p.value !== "string") throw new HttpError(400, `${whereOf(i)}: "value" must be a number or a string`);
      // JSON.parse turns a number past ±1.8e308 (say 1e309) into Infinity, which JSON cannot
      // give back: it would be read as null.
      if (typeof p.value === "number" && !Number.isFinite(p.value)) {
        throw new HttpError(400, `${whereOf(i)}: "value" is beyond the range of a float64 (±1.8e308); send a finite number, or the text as a string`);
      }
      if (p.ts !== undefined && p.ts !== null && (typeof p.ts !== "number" || !Number.isFinite(p.ts))) {
        throw new HttpError(400, `${whereOf(i)}: "ts" must be milliseconds since the epoch`);
      }
      budget.add(p.key, p.value, unit, lineOf ? lineOf[i]! : i);
      return { key: p.key, value: p.value, ts: (p.ts ?? undefined) as number | undefined };
    });
    const r = await this.write(points);
    return json({ ok: true, seq: r.seq, points: r.points });
  }

  private v1Get(url: URL): Response {
    const key = url.searchParams.get("key");
    if (!key) throw new HttpError(400, "missing query parameter key");
    const p = this.db.get(key);
    if (!p) return json({ error: "not found", key }, 404);
    this.pointsRead.inc();
    return json(p);
  }

  private v1Range(req: Request, url: URL): Response {
    const key = url.searchParams.get("key");
    if (!key) throw new HttpError(400, "missing query parameter key");
    const from = intParam(url, "from", undefined);
    const to = intParam(url, "to", undefined);
    const limit = intParam(url, "limit", undefined);
    if (limit !== undefined && limit < 0) throw new HttpError(400, "limit must be >= 0");
    const reverse = url.searchParams.get("reverse") === "true" || url.searchParams.get("reverse") === "1";
    const ndjson = url.searchParams.get("format") === "ndjson" || (req.headers.get("accept") ?? "").includes("ndjson");
    const it = this.db.range(key, from, to, { limit, reverse });
    const enc = new TextEncoder();
    let first = true;
    let done = false;
    const counter = this.pointsRead;
    const log = this.log;
    const batch = (): string => {
      let out = first && !ndjson ? "[" : "";
      let n = 0;
      for (; n < 2000; n++) {
        const r = it.next();
        if (r.done) {
          done = true;
          break;
        }
        const line = JSON.stringify(r.value);
        out += ndjson ? line + "\n" : (first ? "" : ",") + line;
        first = false;
      }
      counter.inc(undefined, n);
      if (done && !ndjson) out += "]";
      return out;
    };
    // The first batch is read before the status is sent: a damaged block there is a 500 with
    // a JSON error like any other failure.
    const head = batch();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        if (head) controller.enqueue(enc.encode(head));
        if (done) controller.close();
      },
      pull(controller) {
        let out: string;
        try {
          out = batch();
        } catch (e) {
          // Mid-stream (docs/http_api.md): NDJSON ends with an {"error": ...} line; a JSON
          // array cannot carry one, so the response is aborted. Logged in one line.
          const msg = e instanceof CityHallError ? e.message : `cityhall/http: /v1/range failed: ${(e as Error)?.message ?? String(e)}`;
          log.error(`GET /v1/range key=${JSON.stringify(key)}: aborted mid-stream: ${msg}`);
          if (ndjson) {
            controller.enqueue(enc.encode(JSON.stringify({ error: msg }) + "\n"));
            controller.close();
          } else controller.error(new Error(msg));
          return;
        }
        if (out) controller.enqueue(enc.encode(out));
        if (done) controller.close();
      },
      cancel() {
        it.return?.();
      },
    });
    return new Response(stream, { headers: { "content-type": ndjson ? "application/x-ndjson" : "application/json" } });
  }

  private async v1Delete(req: Request): Promise<Response> {
    this.checkWritable();
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(await this.readBody(req)) as Record<string, unknown>;
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(400, 'request body is not valid JSON; send {"key": "...", "from": ms, "to": ms}');
    }
    if (!body || typeof body.key !== "string") throw new HttpError(400, '"key" must be a string');
    for (const f of ["from", "to"] as const) {
      if (body[f] !== undefined && body[f] !== null && typeof body[f] !== "number") throw new HttpError(400, `"${f}" must be milliseconds since the epoch`);
    }
    const r = await this.db.delete(body.key, (body.from ?? undefined) as number | undefined, (body.to ?? undefined) as number | undefined);
    return json({ ok: true, seq: r.seq });
  }

  private async influxWrite(req: Request, url: URL): Promise<Response> {
    this.checkWritable();
    const precision = parsePrecision(url.searchParams.get("precision"));
    const body = await this.readBody(req);
    const points = parseLineProtocol(body, precision, undefined, this.writeBudget(), this.lineProtocolKeys);
    if (points.length) await this.write(points);
    return new Response(null, { status: 204 });
  }

  /** Enough of InfluxDB's /query for clients that create their database first (Telegraf). */
  private async influxQuery(url: URL, req: Request): Promise<Response> {
    let q = url.searchParams.get("q");
    if (q === null && req.method === "POST") q = new URLSearchParams(await this.readBody(req)).get("q");
    if (q && /^\s*CREATE\s+DATABASE\b/i.test(q)) return json({ results: [{ statement_id: 0 }] });
    if (q && /^\s*SHOW\s+DATABASES\b/i.test(q)) {
      return json({ results: [{ statement_id: 0, series: [{ name: "databases", columns: ["name"], values: [["cityhall"]] }] }] });
    }
    throw new HttpError(400, "CityHall does not run InfluxQL queries; read with /v1/range or `cityhall client range`");
  }
}
