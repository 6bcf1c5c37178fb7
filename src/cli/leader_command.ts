// `cityhall leader` (alias `serve`): parses flags and runs a LeaderNode until a signal.

import { defineCommand } from "citty";
import { LeaderNode, stopOnSignals } from "../server/leader_node.ts";
import { createLogger } from "../server/logger.ts";
import { parseDurationMs, parsePort, parseSizeBytes } from "../util/units.ts";
import { parseSyncMode } from "../engine/options.ts";
import { DEFAULT_HTTP_PORT, DEFAULT_REPLICATION_PORT, dataDirArg, defaultDataDir } from "./common_args.ts";
import { VERSION } from "../version.ts";
import { UsageError } from "./dispatch.ts";
import { readPemFile, readSecretFile, resolveToken } from "./secrets.ts";
import { addrArgs } from "./common_args.ts";
import { CityHallClient } from "../client/http_client.ts";
import { formatDurationMs } from "../util/units.ts";

function tlsPair(cert: string | undefined, key: string | undefined): { cert: string; key: string } | undefined {
  if (!cert && !key) return undefined;
  if (!cert || !key) throw new UsageError("--tls-cert and --tls-key go together");
  return { cert: readPemFile(cert, "--tls-cert")!, key: readPemFile(key, "--tls-key")! };
}

const replicasCommand = defineCommand({
  meta: { name: "replicas", description: "List the replicas a running leader serves (position, lag, last contact); --forget ID drops one" },
  args: {
    forget: { type: "string", description: "stop keeping WAL for this replica id" },
    json: { type: "boolean", description: "print JSON" },
    ...addrArgs,
  },
  async run({ args }) {
    const client = new CityHallClient(args.addr, { token: resolveToken(args) });
    if (args.forget) {
      await client.forgetReplica(args.forget);
      console.log(`OK forgot ${args.forget}`);
      return;
    }
    const list = (await client.replicas()) as Array<Record<string, unknown>>;
    if (args.json) {
      console.log(JSON.stringify(list, null, 2));
      return;
    }
    if (list.length === 0) {
      console.log("no replicas");
      return;
    }
    for (const r of list) {
      const pos = r.position as { segment: number; offset: number } | null;
      const contact = r.lastContactMs ? `${formatDurationMs(Date.now() - (r.lastContactMs as number))} ago` : "never";
      console.log(
        `${r.replicaId}  ${r.connected ? "connected" : "disconnected"}  ${r.address}  position ${pos ? `${pos.segment}:${pos.offset}` : "-"}  lag ${r.lagSequences} batches  last contact ${contact}${r.needsSnapshot ? "  needs snapshot" : ""}`,
      );
    }
  },
});

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new UsageError(`${flag} must be a positive whole number, got "${text}"`);
  return n;
}

export const leaderArgs = {
  ...dataDirArg,
  host: { type: "string", description: "address the HTTP API binds (a non-loopback address needs --token)", default: "127.0.0.1" },
  port: { type: "string", description: "HTTP API port", default: String(DEFAULT_HTTP_PORT) },
  "replication-host": { type: "string", description: "address the replication port binds (default: --host)" },
  "replication-port": { type: "string", description: "replication port (raw TCP)", default: String(DEFAULT_REPLICATION_PORT) },
  token: { type: "string", description: "bearer token required on every HTTP request (visible in ps: prefer --token-file or CITYHALL_TOKEN)" },
  "token-file": { type: "string", description: "file holding the bearer token required on every HTTP request", valueHint: "path" },
  sync: { type: "string", description: "when writes are acknowledged: always (fdatasync first), interval:<ms>, none", default: "always" },
  "memtable-size": { type: "string", description: "memtable size before a flush, e.g. 16MiB", default: "16MiB" },
  "wal-segment-size": { type: "string", description: "WAL segment size, e.g. 16MiB", default: "16MiB" },
  retention: { type: "string", description: "drop points older than this, e.g. 30d (default: keep forever)" },
  "max-body": { type: "string", description: "largest HTTP request body, e.g. 32MB", default: "32MiB" },
  "max-points": { type: "string", description: "most points in one write request", default: "1000000" },
  "max-concurrent": { type: "string", description: "HTTP requests served at once (not /health, /ping); more get 503", default: "256" },
  "max-inflight-bytes": {
    type: "string",
    description: "request-body bytes all requests together may hold, e.g. 128MiB; more get 503 (default: 1/8 of RAM, at most 256MiB)",
  },
  "idle-timeout": { type: "string", description: "close an idle HTTP connection after this long (max 255s)", default: "30s" },
  "secret-file": { type: "string", description: "file with the replication shared secret (required off loopback)" },
  "tls-cert": { type: "string", description: "PEM certificate for TLS on the replication port" },
  "tls-key": { type: "string", description: "PEM private key for --tls-cert" },
  "wal-retention-bytes": { type: "string", description: "most WAL kept for lagging replicas, e.g. 1GiB; beyond it they get a snapshot", default: "1GiB" },
  "wal-retention-age": { type: "string", description: "oldest WAL kept for lagging replicas, e.g. 7d", default: "7d" },
  "replication-heartbeat": { type: "string", description: "heartbeat interval on replication links", default: "1s" },
  "replication-timeout": { type: "string", description: "drop a replica silent for this long", default: "10s" },
  salvage: {
    type: "boolean",
    description: "start despite damage in the middle of the write-ahead log: keep every valid record, move the damaged segment aside, report what was lost",
  },
  quiet: { type: "boolean", description: "log warnings and errors only" },
} as const;

export const leaderCommand = defineCommand({
  meta: { name: "leader", description: "Run the write node: HTTP API on --port, replicas served on --replication-port" },
  args: leaderArgs,
  subCommands: { replicas: replicasCommand },
  async run({ args }) {
    const log = createLogger(args.quiet ? 1 : 3);
    const host = args.host;
    const token = resolveToken(args, (m) => log.warn(m));
    const dataDir = args["data-dir"] || defaultDataDir();
    parseSyncMode(args.sync);
    const node = await LeaderNode.start({
      dataDir,
      host,
      port: parsePort(args.port, "--port"),
      replicationHost: args["replication-host"] || host,
      replicationPort: parsePort(args["replication-port"], "--replication-port"),
      token,
      secret: readSecretFile(args["secret-file"]),
      tls: tlsPair(args["tls-cert"], args["tls-key"]),
      walRetentionBytes: parseSizeBytes(args["wal-retention-bytes"], "--wal-retention-bytes"),
      walRetentionAgeMs: parseDurationMs(args["wal-retention-age"], "--wal-retention-age"),
      heartbeatMs: parseDurationMs(args["replication-heartbeat"], "--replication-heartbeat"),
      replicationTimeoutMs: parseDurationMs(args["replication-timeout"], "--replication-timeout"),
      sync: args.sync,
      memtableBytes: parseSizeBytes(args["memtable-size"], "--memtable-size"),
      walSegmentBytes: parseSizeBytes(args["wal-segment-size"], "--wal-segment-size"),
      retentionMs: args.retention ? parseDurationMs(args.retention, "--retention") : undefined,
      salvage: args.salvage === true,
      limits: {
        maxBodyBytes: parseSizeBytes(args["max-body"], "--max-body"),
        maxPointsPerRequest: positiveInt(args["max-points"], "--max-points"),
        maxConcurrentRequests: positiveInt(args["max-concurrent"], "--max-concurrent"),
        ...(args["max-inflight-bytes"] ? { maxInflightBytes: parseSizeBytes(args["max-inflight-bytes"], "--max-inflight-bytes") } : {}),
        idleTimeoutSec: Math.ceil(parseDurationMs(args["idle-timeout"], "--idle-timeout") / 1000),
      },
      logger: log,
    });
    // Handlers first: whoever reads "ready" may send SIGTERM at once.
    stopOnSignals(() => node.shutdown(), log);
    const readOnly = node.db.stats().readOnlyReason;
    log.info(
      `cityhall ${VERSION} leader ready: http://${host}:${node.http.port} (replication on port ${node.replicationPort}), data in ${dataDir}, sync ${args.sync}${readOnly ? " (READ-ONLY: the disk is full; writes get 503 until a restart with free space)" : ""}`,
    );
    await new Promise(() => {}); // run until a signal
  },
});
