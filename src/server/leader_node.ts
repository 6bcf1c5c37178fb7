// A leader: the engine, the HTTP API and the replication server in one process, with an
// orderly shutdown (stop accepting, finish requests in flight, flush, close files).

import { Db } from "../engine/db.ts";
import type { Logger } from "../engine/options.ts";
import { InvalidArgumentError } from "../errors.ts";
import { registerEngineMetrics } from "./engine_metrics.ts";
import { HttpApi } from "./http_api.ts";
import type { HttpLimits } from "./http_api.ts";
import { Registry } from "./metrics.ts";
import { isLoopback, requireTokenOffLoopback, startParts, stopParts } from "./node_lifecycle.ts";
import { ReplicationServer } from "../replication/server.ts";
import { RealFs } from "../vfs/real_fs.ts";

export interface LeaderOptions {
  dataDir: string;
  host: string;
  port: number;
  replicationHost: string;
  replicationPort: number;
  token?: string;
  /** Replication shared secret; required when the replication port is not on loopback. */
  secret?: Uint8Array;
  tls?: { cert: string; key: string };
  walRetentionBytes?: number;
  walRetentionAgeMs?: number;
  heartbeatMs?: number;
  replicationTimeoutMs?: number;
  sync?: string;
  memtableBytes?: number;
  walSegmentBytes?: number;
  retentionMs?: number;
  /** Start despite mid-log WAL damage, keeping every valid record (see wal/recovery.ts). */
  salvage?: boolean;
  limits?: Partial<HttpLimits>;
  logger: Logger;
}

export class LeaderNode {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly db: Db,
    readonly http: HttpApi,
    readonly replication: ReplicationServer,
    private readonly log: Logger,
  ) {}

  static async start(o: LeaderOptions): Promise<LeaderNode> {
    requireTokenOffLoopback("leader", o.host, o.token);
    if (!isLoopback(o.replicationHost) && !o.secret) {
      throw new InvalidArgumentError(
        "leader",
        `--replication-host ${o.replicationHost} accepts replicas from other machines; give a shared secret with --secret-file (or bind 127.0.0.1)`,
      );
    }
    const startedMs = Date.now();
    const vfs = new RealFs();
    const db = await Db.open(o.dataDir, {
      vfs,
      sync: o.sync,
      memtableBytes: o.memtableBytes,
      walSegmentBytes: o.walSegmentBytes,
      retentionMs: o.retentionMs,
      salvage: o.salvage,
      logger: o.logger,
    });
    const readOnly = db.stats().readOnlyReason;
    const metrics = new Registry();
    registerEngineMetrics(metrics, db, startedMs, "leader");
    const replication = new ReplicationServer(db, vfs, o.dataDir, {
      host: o.replicationHost,
      port: o.replicationPort,
      secret: o.secret,
      tls: o.tls,
      retentionBytes: o.walRetentionBytes,
      retentionAgeMs: o.walRetentionAgeMs,
      heartbeatMs: o.heartbeatMs,
      timeoutMs: o.replicationTimeoutMs,
      log: o.logger,
      metrics,
    });
    const http = new HttpApi(
      db,
      {
        host: o.host,
        port: o.port,
        token: o.token,
        limits: o.limits,
        role: "leader",
        dataDir: o.dataDir,
        replicas: {
          list: () => replication.replicas(),
          forget: (id) => replication.forget(id),
        },
        extraStatus: () => ({ replication: { port: replication.port, replicas: replication.replicas() } }),
      },
      metrics,
      o.logger,
    );
    // A leader without a writable WAL (full disk) has nothing to ship: it serves reads only.
    await startParts(db, http, readOnly ? { start: async () => {}, stop: () => replication.stop(), stopFailures: replication.stopFailures } : replication);
    return new LeaderNode(db, http, replication, o.logger);
  }

  get replicationPort(): number {
    return this.replication.port;
  }

  /** Orderly stop; calling it again returns the same promise. */
  shutdown(): Promise<void> {
    if (!this.stopping) {
      this.stopping = stopParts(this.db, this.http, this.replication, this.log, "leader");
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
