// A replica: the engine in replica mode, the HTTP API read-only, and the replication client
// following a leader.

import { Db } from "../engine/db.ts";
import type { Logger } from "../engine/options.ts";
import { ReplicationClient } from "../replication/client.ts";
import { judgeReplica } from "../replication/status.ts";
import { RealFs } from "../vfs/real_fs.ts";
import { registerEngineMetrics } from "./engine_metrics.ts";
import { HttpApi } from "./http_api.ts";
import type { HttpLimits } from "./http_api.ts";
import { requireTokenOffLoopback, startParts, stopParts } from "./node_lifecycle.ts";
import { Registry } from "./metrics.ts";

export interface ReplicaOptions {
  dataDir: string;
  leaderHost: string;
  leaderPort: number;
  host: string;
  port: number;
  token?: string;
  replicaId?: string;
  secret?: Uint8Array;
  tlsCa?: string;
  heartbeatMs?: number;
  timeoutMs?: number;
  memtableBytes?: number;
  limits?: Partial<HttpLimits>;
  logger: Logger;
}

export class ReplicaNode {
  private stopping: Promise<void> | null = null;
  private constructor(
    readonly db: Db,
    readonly http: HttpApi,
    readonly replication: ReplicationClient,
    private readonly log: Logger,
  ) {}

  static async start(o: ReplicaOptions): Promise<ReplicaNode> {
    requireTokenOffLoopback("replica", o.host, o.token);
    const startedMs = Date.now();
    const vfs = new RealFs();
    const db = await Db.open(o.dataDir, { role: "replica", memtableBytes: o.memtableBytes, logger: o.logger, vfs });
    const metrics = new Registry();
    registerEngineMetrics(metrics, db, startedMs, "replica");
    const leader = `${o.leaderHost}:${o.leaderPort}`;
    const replication = new ReplicationClient(db, vfs, o.dataDir, {
      leaderHost: o.leaderHost,
      leaderPort: o.leaderPort,
      replicaId: o.replicaId,
      secret: o.secret,
      tlsCa: o.tlsCa,
      heartbeatMs: o.heartbeatMs,
      timeoutMs: o.timeoutMs,
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
        role: "replica",
        dataDir: o.dataDir,
        readOnlyReason: `this node is a read-only replica of ${leader}; send writes to the leader`,
        extraStatus: () => {
          const s = judgeReplica(replication.state, {}, Date.now());
          return {
            replication: {
              leader,
              connected: replication.connected,
              ...replication.state,
              lagSequences: s.lagSequences,
              lagSeconds: s.lagSeconds,
            },
          };
        },
      },
      metrics,
      o.logger,
    );
    await startParts(db, http, replication);
    return new ReplicaNode(db, http, replication, o.logger);
  }

  shutdown(): Promise<void> {
    if (!this.stopping) {
      this.stopping = stopParts(this.db, this.http, this.replication, this.log, "replica");
    }
    return this.stopping;
  }
}
