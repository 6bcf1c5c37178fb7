// A small client for a node's HTTP API (used by the CLI; usable from any Bun program).

import type { Value } from "../codec/columns.ts";
import type { Point } from "../engine/db.ts";

export class ClientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "ClientError";
  }
}

export interface ClientOptions {
  token?: string;
  timeoutMs?: number;
}

export class CityHallClient {
  private readonly base: string;
  constructor(
    readonly addr: string,
    private readonly options: ClientOptions = {},
  ) {
    this.base = addr.startsWith("http://") || addr.startsWith("https://") ? addr.replace(/\/$/, "") : `http://${addr}`;
  }

  private async request(method: string, path: string, body?: unknown, allow404 = false): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (e) {
      const err = e as Error & { code?: string };
      const why =
        err.name === "TimeoutError"
          ? `no answer within ${this.options.timeoutMs ?? 10_000} ms`
          : err.code === "ConnectionRefused" || /refused/i.test(err.message)
            ? "connection refused"
            : err.message;
      throw new ClientError(`cannot reach the node at ${this.addr} (${why}); is \`cityhall leader\` running there? (pick another with --addr)`);
    }
    if (res.ok || (allow404 && res.status === 404)) return res;
    let message = `${res.status} ${res.statusText}`;
    try {
      const j = (await res.json()) as { error?: string };
      if (j.error) message = j.error;
    } catch {
      // not JSON: keep the status line
    }
    throw new ClientError(message, res.status);
  }

  async putMany(points: { key: string; value: Value; ts?: number }[]): Promise<{ seq: number; points: number }> {
    return (await (await this.request("POST", "/v1/write", points)).json()) as { seq: number; points: number };
  }

  async put(key: string, value: Value, ts?: number): Promise<{ seq: number }> {
    return this.putMany([{ key, value, ts }]);
  }

  async get(key: string): Promise<Point | null> {
    const res = await this.request("GET", `/v1/get?key=${encodeURIComponent(key)}`, undefined, true);
    if (res.status === 404) return null;
    return (await res.json()) as Point;
  }

  async del(key: string, from?: number, to?: number): Promise<{ seq: number }> {
    return (await (await this.request("POST", "/v1/delete", { key, from, to })).json()) as { seq: number };
  }

  async *range(key: string, o: { from?: number; to?: number; limit?: number; reverse?: boolean } = {}): AsyncGenerator<Point> {
    const q = new URLSearchParams({ key, format: "ndjson" });
    if (o.from !== undefined) q.set("from", String(o.from));
    if (o.to !== undefined) q.set("to", String(o.to));
    if (o.limit !== undefined) q.set("limit", String(o.limit));
    if (o.reverse) q.set("reverse", "true");
    const res = await this.request("GET", `/v1/range?${q}`);
    const decoder = new TextDecoder();
    let buf = "";
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      let r: Awaited<ReturnType<typeof reader.read>>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new ClientError(`the node aborted the range mid-stream (${(e as Error).message}); see the node's log`);
      }
      if (r.done) break;
      buf += decoder.decode(r.value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const item = JSON.parse(line) as Point | { error: string };
        // A read error after streaming began arrives as a last {"error": ...} line.
        if ("error" in item) throw new ClientError(item.error, 500);
        yield item;
      }
    }
  }

  async keys(prefix = ""): Promise<string[]> {
    return ((await (await this.request("GET", `/v1/keys?prefix=${encodeURIComponent(prefix)}`)).json()) as { keys: string[] }).keys;
  }

  async metrics(): Promise<string> {
    return (await this.request("GET", "/metrics")).text();
  }

  async replicas(): Promise<unknown[]> {
    return ((await (await this.request("GET", "/v1/replicas")).json()) as { replicas: unknown[] }).replicas;
  }

  async forgetReplica(replicaId: string): Promise<void> {
    await this.request("POST", "/v1/replicas/forget", { id: replicaId });
  }

  async status(): Promise<Record<string, unknown>> {
    return (await (await this.request("GET", "/v1/status")).json()) as Record<string, unknown>;
  }
}
