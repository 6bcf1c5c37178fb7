// A leader: the engine, the HTTP API and the replication listener in one process, with an
// orderly shutdown (stop accepting, finish requests in flight, flush, close files).

import { Db } from "../engine/db.ts";
import type { Logger } from "../engine/options.ts";
import { InvalidArgumentError } from "../errors.ts";
import { registerEngineMetrics } from "./engine_metrics.ts";
import { HttpApi } from "./http_api.ts";
import type { HttpLimits } from "./http_api.ts";
import { Registry } from "./metrics.ts";

export interface LeaderOptions {
  dataDir: string;
  host: string;
  port: number;
  replicationHost: string;
  replicationPort: number;
  token?: string;
  sync?: string;
  memtableBytes?: number;
  walSegmentBytes?: number;
  retentionMs?: number;
  limits?: Partial<HttpLimits>;
  logger: Logger;
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export class LeaderNode {
  private stopping: Promise<void> | null = null;
  private replicationListener: import("bun").TCPSocketListener<undefined> | null = null;

  private constructor(
    readonly db: Db,
    readonly http: HttpApi,
    private readonly log: Logger,
  ) {}

  static async start(o: LeaderOptions): Promise<LeaderNode> {
    if (!isLoopback(o.host) && !o.token) {
      throw new InvalidArgumentError(
        "leader",
        `--host ${o.host} exposes the API beyond this machine; set a token with --token or CITYHALL_TOKEN (or bind 127.0.0.1)`,
      );
    }
    const startedMs = Date.now();
    const db = await Db.open(o.dataDir, {
      sync: o.sync,
      memtableBytes: o.memtableBytes,
      walSegmentBytes: o.walSegmentBytes,
      retentionMs: o.retentionMs,
      logger: o.logger,
    });
    const metrics = new Registry();
    registerEngineMetrics(metrics, db, startedMs, "leader");
    const http = new HttpApi(db, { host: o.host, port: o.port, token: o.token, limits: o.limits, role: "leader", dataDir: o.dataDir }, metrics, o.logger);
    const node = new LeaderNode(db, http, o.logger);
    try {
      http.start();
      // The replication port is reserved so that nothing else takes it; replicas are served
      // by the replication module when it is enabled.
      node.replicationListener = Bun.listen({
        hostname: o.replicationHost,
        port: o.replicationPort,
        socket: {
          open(socket) {
            socket.end();
          },
          data() {},
        },
      });
    } catch (e) {
      await http.stop(true);
      await db.close();
      throw e;
    }
    return node;
  }

  get replicationPort(): number {
    return this.replicationListener?.port ?? 0;
  }

  /** Orderly stop; calling it again returns the same promise. */
  shutdown(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        this.replicationListener?.stop(true);
        await this.http.stop(false);
        await this.db.close();
        this.log.info("cityhall: stopped cleanly; all data is on disk");
      })();
    }
    return this.stopping;
  }
}

/**
 * SIGINT/SIGTERM start an orderly shutdown; a second signal exits at once (the WAL holds
 * every acknowledged write, so nothing is lost, only the flush is skipped).
 */
export function stopOnSignals(shutdown: () => Promise<void>, log: Logger): void {
  let signalled = false;
  const onSignal = (sig: string) => {
    if (signalled) {
      log.warn(`cityhall: second ${sig}, exiting now; the write-ahead log has every acknowledged write`);
      process.exit(130);
    }
    signalled = true;
    log.info(`cityhall: ${sig} received, shutting down (send it again to exit at once)`);
    shutdown().then(
      () => process.exit(0),
      (e) => {
        log.error(`cityhall: shutdown failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
}
