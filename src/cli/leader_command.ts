// `cityhall leader` (alias `serve`): parses flags and runs a LeaderNode until a signal.

import { defineCommand } from "citty";
import { LeaderNode, stopOnSignals } from "../server/leader_node.ts";
import { createLogger } from "../server/logger.ts";
import { parseDurationMs, parsePort, parseSizeBytes } from "../util/units.ts";
import { parseSyncMode } from "../engine/options.ts";
import { DEFAULT_HTTP_PORT, DEFAULT_REPLICATION_PORT, dataDirArg, defaultDataDir } from "./common_args.ts";
import { VERSION } from "../version.ts";
import { UsageError } from "./dispatch.ts";

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
  token: { type: "string", description: "bearer token required on every HTTP request (or CITYHALL_TOKEN)" },
  sync: { type: "string", description: "when writes are acknowledged: always (fdatasync first), interval:<ms>, none", default: "always" },
  "memtable-size": { type: "string", description: "memtable size before a flush, e.g. 16MiB", default: "16MiB" },
  "wal-segment-size": { type: "string", description: "WAL segment size, e.g. 16MiB", default: "16MiB" },
  retention: { type: "string", description: "drop points older than this, e.g. 30d (default: keep forever)" },
  "max-body": { type: "string", description: "largest HTTP request body, e.g. 32MB", default: "32MiB" },
  "max-points": { type: "string", description: "most points in one write request", default: "1000000" },
  "max-concurrent": { type: "string", description: "HTTP requests served at once; more get 503", default: "256" },
  "idle-timeout": { type: "string", description: "close an idle HTTP connection after this long (max 255s)", default: "30s" },
  quiet: { type: "boolean", description: "log warnings and errors only" },
} as const;

export const leaderCommand = defineCommand({
  meta: { name: "leader", description: "Run the write node: HTTP API on --port, replicas served on --replication-port" },
  args: leaderArgs,
  async run({ args }) {
    const log = createLogger(args.quiet ? 1 : 3);
    const host = args.host;
    const token = args.token || process.env.CITYHALL_TOKEN || undefined;
    const dataDir = args["data-dir"] || defaultDataDir();
    parseSyncMode(args.sync);
    const node = await LeaderNode.start({
      dataDir,
      host,
      port: parsePort(args.port, "--port"),
      replicationHost: args["replication-host"] || host,
      replicationPort: parsePort(args["replication-port"], "--replication-port"),
      token,
      sync: args.sync,
      memtableBytes: parseSizeBytes(args["memtable-size"], "--memtable-size"),
      walSegmentBytes: parseSizeBytes(args["wal-segment-size"], "--wal-segment-size"),
      retentionMs: args.retention ? parseDurationMs(args.retention, "--retention") : undefined,
      limits: {
        maxBodyBytes: parseSizeBytes(args["max-body"], "--max-body"),
        maxPointsPerRequest: positiveInt(args["max-points"], "--max-points"),
        maxConcurrentRequests: positiveInt(args["max-concurrent"], "--max-concurrent"),
        idleTimeoutSec: Math.ceil(parseDurationMs(args["idle-timeout"], "--idle-timeout") / 1000),
      },
      logger: log,
    });
    const rec = node.db.stats().recovery;
    for (const r of rec) log.warn(`recovered ${r.file}: dropped ${r.droppedBytes} damaged or torn bytes at offset ${r.offsetBytes} (${r.kind})`);
    log.info(
      `cityhall ${VERSION} leader ready: http://${host}:${node.http.port} (replication on port ${node.replicationPort}), data in ${dataDir}, sync ${args.sync}`,
    );
    stopOnSignals(() => node.shutdown(), log);
    await new Promise(() => {}); // run until a signal
  },
});
