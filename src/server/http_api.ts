// The client API on Bun.serve (routes in docs/http_api.md):
//   /v1/write /v1/get /v1/range /v1/keys /v1/delete /v1/status   JSON and NDJSON
//   /write /api/v2/write /query /ping                              InfluxDB compatibility
//   /metrics                                                       Prometheus text format
//   /health                                                        probes
//
// Every failure is an HTTP status with a JSON body {"error": "..."} that says what to do;
// no request can take the node down. Limits: body size, points per request, concurrent
// requests and an idle timeout per connection.

import { timingSafeEqual } from "node:crypto";
import type { Server } from "bun";
import type { Db, PointWrite } from "../engine/db.ts";
import type { Logger } from "../engine/options.ts";
import { CityHallError, CorruptionError, InvalidArgumentError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { BodyTooLargeError, gunzipBounded } from "./gunzip.ts";
import { KeyCache, LineProtocolError, parseLineProtocol, parsePrecision } from "./line_protocol.ts";
import type { Registry } from "./metrics.ts";

export interface HttpLimits {
  /** Largest request body accepted, compressed or not (and after gunzip). */
  maxBodyBytes: number;
  maxPointsPerRequest: number;
  /** Requests served at once; more get 503. */
  maxConcurrentRequests: number;
  /** Seconds a connection may sit idle (Bun's idleTimeout, max 255). */
  idleTimeoutSec: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxBodyBytes: 32 * 1024 * 1024,
  maxPointsPerRequest: 1_000_000,
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
  ) {
    super(message);
  }
}

const JSON_HEADERS = { "content-type": "application/json" };

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ab.length !== bb.length) return false;
  return timingSafeEqual(ab, bb);
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
    this.requests = metrics.counter("cityhall_http_requests_total", "HTTP requests by route and status code.");
    this.duration = metrics.histogram("cityhall_http_request_duration_seconds", "HTTP request latency by route.", [
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
    ]);
    this.pointsWritten = metrics.counter("cityhall_points_written_total", "Points accepted by write requests.");
    this.pointsRead = metrics.counter("cityhall_points_read_total", "Points returned by get and range requests.");
    metrics.collect("cityhall_http_requests_in_flight", "HTTP requests being served now.", "gauge", () => this.inFlight);
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
    if (this.inFlight >= this.limits.maxConcurrentRequests) {
      res = json({ error: `too many concurrent requests (limit ${this.limits.maxConcurrentRequests}); retry shortly` }, 503);
      res.headers.set("retry-after", "1");
    } else {
      this.inFlight++;
      try {
        res = await this.route(req, url);
      } catch (e) {
        res = this.errorResponse(e, req, url);
      } finally {
        this.inFlight--;
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
    if (e instanceof HttpError) return json({ error: e.message }, e.status);
    if (e instanceof BodyTooLargeError) return json({ error: e.message }, 413);
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
    if (!constantTimeEqual(given, token)) throw new HttpError(401, "wrong token");
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

  private async readBody(req: Request): Promise<string> {
    const declared = Number(req.headers.get("content-length") ?? "0");
    if (declared > this.limits.maxBodyBytes) throw new BodyTooLargeError(this.limits.maxBodyBytes);
    const raw = new Uint8Array(await req.arrayBuffer());
    if (raw.length > this.limits.maxBodyBytes) throw new BodyTooLargeError(this.limits.maxBodyBytes);
    const enc = (req.headers.get("content-encoding") ?? "").toLowerCase();
    let bytes: Uint8Array = raw;
    if (enc === "gzip" || enc === "x-gzip") bytes = gunzipBounded(raw, this.limits.maxBodyBytes);
    else if (enc !== "" && enc !== "identity") throw new HttpError(415, `content-encoding "${enc}" is not supported; use gzip or none`);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new HttpError(400, "request body is not valid UTF-8");
    }
  }

  private async write(points: PointWrite[]): Promise<{ seq: number; points: number }> {
    if (points.length > this.limits.maxPointsPerRequest) {
      throw new HttpError(413, `${points.length} points in one request; the limit is ${this.limits.maxPointsPerRequest}, split the batch`);
    }
    const r = await this.db.putMany(points);
    this.pointsWritten.inc(undefined, r.points);
    return r;
  }

  private async v1Write(req: Request): Promise<Response> {
    this.checkWritable();
    const text = await this.readBody(req);
    const ctype = req.headers.get("content-type") ?? "";
    let items: unknown[];
    if (ctype.includes("ndjson") || ctype.includes("jsonlines")) {
      items = [];
      let n = 0;
      for (const line of text.split("\n")) {
        n++;
        if (line.trim() === "") continue;
        try {
          items.push(JSON.parse(line));
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
    const points: PointWrite[] = items.map((it, i) => {
      if (!it || typeof it !== "object") throw new HttpError(400, `point ${i} is not an object like {"key": "...", "value": 1.5, "ts": 1767225600000}`);
      const p = it as Record<string, unknown>;
      if (typeof p.key !== "string") throw new HttpError(400, `point ${i}: "key" must be a string`);
      if (typeof p.value !== "number" && typeof p.value !== "string") throw new HttpError(400, `point ${i}: "value" must be a number or a string`);
      if (p.ts !== undefined && p.ts !== null && typeof p.ts !== "number") throw new HttpError(400, `point ${i}: "ts" must be milliseconds since the epoch`);
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
    let points: PointWrite[];
    try {
      points = parseLineProtocol(body, precision, Date.now(), this.limits.maxPointsPerRequest, this.lineProtocolKeys);
    } catch (e) {
      if (e instanceof LineProtocolError && /more than \d+ points/.test(e.message)) throw new HttpError(413, e.message);
      throw e;
    }
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
