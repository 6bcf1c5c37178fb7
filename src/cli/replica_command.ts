// `cityhall replica` (follow a leader) and `cityhall replica status` (read the persisted
// state without a daemon; exit 0 healthy, 1 a bound is passed, 2 the state cannot be read).

import { defineCommand } from "citty";
import { ReplicaNode } from "../server/replica_node.ts";
import { stopOnSignals } from "../server/leader_node.ts";
import { createLogger } from "../server/logger.ts";
import { judgeReplica, readReplicaState } from "../replication/status.ts";
import { RealFs } from "../vfs/real_fs.ts";
import { formatDurationMs, parseDurationMs, parseHostPort, parsePort, parseSizeBytes } from "../util/units.ts";
import { VERSION } from "../version.ts";
import { DEFAULT_REPLICA_HTTP_PORT, DEFAULT_REPLICATION_PORT, dataDirArg, defaultDataDir } from "./common_args.ts";
import { ExitCode, UsageError } from "./dispatch.ts";
import { readPemFile, readSecretFile, resolveToken } from "./secrets.ts";

const statusCommand = defineCommand({
  meta: { name: "status", description: "Replication status from the data directory (no daemon needed); exits 1 past --max-lag/--max-silence, 2 if unreadable" },
  args: {
    ...dataDirArg,
    json: { type: "boolean", description: "print JSON" },
    "max-lag": { type: "string", description: "unhealthy when further behind the leader than this, e.g. 5m" },
    "max-silence": { type: "string", description: "unhealthy when the leader was last heard from longer ago than this, e.g. 15m" },
  },
  async run({ args }) {
    const dataDir = args["data-dir"] || defaultDataDir();
    const bounds = {
      maxLagMs: args["max-lag"] ? parseDurationMs(args["max-lag"], "--max-lag") : undefined,
      maxSilenceMs: args["max-silence"] ? parseDurationMs(args["max-silence"], "--max-silence") : undefined,
    };
    let state;
    try {
      state = readReplicaState(new RealFs(), dataDir);
    } catch (e) {
      process.stderr.write(`cityhall: cannot read the replica state in ${dataDir}: ${(e as Error).message}\n`);
      throw new ExitCode(2);
    }
    if (!state) {
      process.stderr.write(`cityhall: ${dataDir} holds no replica state; is it the --data-dir of a \`cityhall replica\`?\n`);
      throw new ExitCode(2);
    }
    const now = Date.now();
    const s = judgeReplica(state, bounds, now);
    if (args.json) {
      console.log(JSON.stringify({ ...state, lagSequences: s.lagSequences, lagSeconds: s.lagSeconds, healthy: s.healthy, problems: s.problems }, null, 2));
    } else {
      const st = state;
      const contact = st.lastContactMs ? `${new Date(st.lastContactMs).toISOString()} (${formatDurationMs(now - st.lastContactMs)} ago)` : "never";
      console.log(`Leader: ${st.leaderAddress}${st.leaderId ? ` (id ${st.leaderId})` : ""}`);
      console.log(`State: ${st.state}`);
      console.log(`Last synced segment: ${st.position ? st.position.segment : 0}`);
      console.log(`Position: ${st.position ? `segment ${st.position.segment}, offset ${st.position.offset}` : "none yet"}`);
      console.log(`Total entries: ${st.entriesApplied}`);
      console.log(`Applied sequence: ${st.appliedSeq} (leader reported ${st.leaderSeq})`);
      console.log(`Last contact: ${contact}`);
      console.log(`Lag: ${s.lagSequences} write batches, ${s.lagSeconds.toFixed(1)} s`);
      console.log(`Bytes received: ${st.bytesReceived} of WAL, ${st.wireBytesReceived} on the wire`);
      console.log(`Reconnects: ${st.reconnects}, snapshots: ${st.snapshots}`);
      if (st.lastError) console.log(`Last error: ${st.lastError}`);
      for (const p of s.problems) console.log(`UNHEALTHY: ${p}`);
    }
    if (!s.healthy) throw new ExitCode(1);
  },
});

export const replicaCommand = defineCommand({
  meta: { name: "replica", description: "Follow a leader: copy its WAL, serve reads (read-only) on --port" },
  args: {
    leader: { type: "string", description: "the leader's replication address, host:port", valueHint: "host:7879" },
    ...dataDirArg,
    host: { type: "string", description: "address the HTTP API binds (a non-loopback address needs --token)", default: "127.0.0.1" },
    port: { type: "string", description: "HTTP API port", default: String(DEFAULT_REPLICA_HTTP_PORT) },
    token: { type: "string", description: "bearer token required on every HTTP request (visible in ps: prefer --token-file or CITYHALL_TOKEN)" },
    "token-file": { type: "string", description: "file holding the bearer token required on every HTTP request", valueHint: "path" },
    "secret-file": { type: "string", description: "file with the replication shared secret" },
    "tls-ca": { type: "string", description: "PEM of the CA that signed the leader's certificate (enables TLS)" },
    "replica-id": { type: "string", description: "name of this replica at the leader (default: this data directory's id)" },
    "memtable-size": { type: "string", description: "memtable size before a flush", default: "16MiB" },
    heartbeat: { type: "string", description: "heartbeat interval", default: "1s" },
    timeout: { type: "string", description: "reconnect when the leader is silent this long", default: "5s" },
    quiet: { type: "boolean", description: "log warnings and errors only" },
  },
  subCommands: { status: statusCommand },
  async run({ args }) {
    if (!args.leader) throw new UsageError("missing --leader HOST:PORT (the leader's replication port, 7879 by default)");
    const leader = parseHostPort(args.leader, DEFAULT_REPLICATION_PORT);
    const log = createLogger(args.quiet ? 1 : 3);
    const dataDir = args["data-dir"] || defaultDataDir();
    const replicaId = args["replica-id"];
    if (replicaId !== undefined && !/^[A-Za-z0-9._:-]{1,128}$/.test(replicaId)) {
      throw new UsageError("--replica-id takes 1-128 of A-Z a-z 0-9 . _ : -");
    }
    const node = await ReplicaNode.start({
      dataDir,
      leaderHost: leader.host,
      leaderPort: leader.port,
      host: args.host,
      port: parsePort(args.port, "--port"),
      token: resolveToken(args, (m) => log.warn(m)),
      replicaId,
      secret: readSecretFile(args["secret-file"]),
      tlsCa: readPemFile(args["tls-ca"], "--tls-ca"),
      heartbeatMs: parseDurationMs(args.heartbeat, "--heartbeat"),
      timeoutMs: parseDurationMs(args.timeout, "--timeout"),
      memtableBytes: parseSizeBytes(args["memtable-size"], "--memtable-size"),
      logger: log,
    });
    // Handlers first: whoever reads "ready" may send SIGTERM at once.
    stopOnSignals(() => node.shutdown(), log);
    log.info(`cityhall ${VERSION} replica ready: http://${args.host}:${node.http.port} (read-only), following ${args.leader}, data in ${dataDir}`);
    await new Promise(() => {});
  },
});
