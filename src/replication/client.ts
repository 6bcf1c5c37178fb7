// The replica's side of replication: connects to the leader (Bun.connect, optionally TLS),
// proves the shared secret, names its position, and applies what it receives: WAL bytes
// (copied byte for byte into its own WAL, then applied) or a snapshot of the leader's
// SSTables. Reconnects with exponential backoff and full jitter; detects a silent link with
// heartbeats; persists its state atomically (replication/state_format.ts).
//
// A disagreement that retrying cannot fix (another leader, a replica ahead of its leader,
// an unknown protocol version, a wrong secret) stops replication with a clear message and
// leaves the data as it is; the node keeps serving reads.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Socket } from "bun";
import type { Db } from "../engine/db.ts";
import type { Logger } from "../engine/options.ts";
import { CorruptionError } from "../errors.ts";
import type { Registry } from "../server/metrics.ts";
import { BlockCache } from "../sstable/block_cache.ts";
import { sstFileName } from "../sstable/format.ts";
import { TableReader } from "../sstable/table_reader.ts";
import { joinPath, mkdirpDurable } from "../vfs/vfs.ts";
import type { Vfs, VfsFile } from "../vfs/vfs.ts";
import { PositionMismatchError } from "../wal/follower.ts";
import { decodeEntry } from "../wal/batch.ts";
import { SEGMENT_HEADER_BYTES, parseSegmentFileName, segmentFileName } from "../wal/format.ts";
import { scanRecords } from "../wal/record.ts";
import { backoffDelayMs, madeProgress } from "./backoff.ts";
import {
  FRAME_DATA,
  FRAME_ERROR,
  FRAME_HEARTBEAT,
  FRAME_HELLO,
  FRAME_SERVER_HELLO,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_CHUNK,
  FRAME_SNAPSHOT_END,
  FRAME_WELCOME,
  DEFAULT_REPLICATION_PORT,
  REPLICATION_PROTOCOL_VERSION,
  proofMessage,
} from "./format.ts";
import type { ErrorCode, Position } from "./format.ts";
import { FrameDecoder, ProtocolError } from "./frame_codec.ts";
import {
  decodeControl,
  decodeData,
  decodeSnapshotChunk,
  encodeAck,
  encodeControl,
  parseError,
  parseHeartbeat,
  parseServerHello,
  parseSnapshotBegin,
  parseSnapshotEnd,
  parseWelcome,
} from "./messages.ts";
import {
  REPLICA_STATE_FILE,
  REPLICA_STATE_MAGIC,
  decodeReplicaState,
  emptyReplicaState,
  loadStateFile,
  saveStateFile,
} from "./state_format.ts";
import type { ReplicaState } from "./state_format.ts";
import { lagSecondsOf } from "./status.ts";

export interface ReplicationClientOptions {
  leaderHost: string;
  leaderPort: number;
  replicaId?: string;
  secret?: Uint8Array;
  /** PEM of the CA that signed the leader's certificate; enables TLS. */
  tlsCa?: string;
  heartbeatMs?: number;
  /** No frame from the leader for this long: the link is dead, reconnect. */
  timeoutMs?: number;
  /** How often the state file is rewritten at most while data flows. */
  saveEveryMs?: number;
  log: Logger;
  metrics?: Registry;
  /** Random source for backoff jitter (tests). */
  random?: () => number;
}

const FATAL: ReadonlySet<ErrorCode> = new Set(["VERSION", "AUTH", "WRONG_LEADER", "AHEAD", "FORGOTTEN"]);
const SNAPSHOT_DIR = "snapshot";
/** ACKs are sent at most this long after the frame they acknowledge. */
const ACK_DELAY_MS = 50;

class FatalError extends Error {}

/** The leader sent a record whose sequence number skips some: this copy cannot go on from its WAL. */
class SequenceGapError extends Error {}

/** Sent when the "leader" stays silent after connecting, to make an HTTP server say so. */
const HTTP_PROBE = new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n");

/** The sequence number of a WAL record (both record types start with u64 seq; wal/batch.ts). */
function recordSeq(payload: Uint8Array): number {
  return Number(new DataView(payload.buffer, payload.byteOffset, 8).getBigUint64(0, true));
}

export class ReplicationClient {
  state!: ReplicaState;
  connected = false;
  private stopped = false;
  private socket: Socket<undefined> | null = null;
  private attempt = 0;
  private wakeBackoff: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private dirty = false;
  private saving: Promise<void> = Promise.resolve();
  private saveTimer: ReturnType<typeof setInterval> | null = null;
  private readonly heartbeatMs: number;
  private readonly timeoutMs: number;
  private snapshotFiles = new Map<number, VfsFile>();
  private readonly leaderAddress: string;
  /** What the last session achieved, for the backoff (see backoff.ts madeProgress). */
  private sessionProgress = { appliedBytes: 0, welcomedMs: 0 };

  constructor(
    private readonly db: Db,
    private readonly vfs: Vfs,
    private readonly dataDir: string,
    private readonly opts: ReplicationClientOptions,
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.leaderAddress = `${opts.leaderHost}:${opts.leaderPort}`;
    const m = opts.metrics;
    if (m) {
      const s = () => this.state;
      m.collect("cityhall_replication_connected", "1 while connected to the leader.", "gauge", () => (this.connected ? 1 : 0));
      m.collect("cityhall_replication_applied_sequence", "Newest leader write batch applied here.", "gauge", () => s().appliedSeq);
      m.collect("cityhall_replication_leader_sequence", "Newest write batch the leader reported.", "gauge", () => s().leaderSeq);
      m.collect("cityhall_replication_lag_sequences", "Write batches behind the leader.", "gauge", () => this.lagSequences());
      m.collect("cityhall_replication_lag_seconds", "Seconds since this replica last had everything the leader reported.", "gauge", () => this.lagSeconds());
      m.collect("cityhall_replication_entries_applied_total", "Points applied from the leader.", "counter", () => s().entriesApplied);
      m.collect("cityhall_replication_received_bytes_total", "WAL bytes received (uncompressed).", "counter", () => s().bytesReceived);
      m.collect("cityhall_replication_wire_bytes_total", "Bytes received on the replication socket.", "counter", () => s().wireBytesReceived);
      m.collect("cityhall_replication_reconnects_total", "Reconnections to the leader.", "counter", () => s().reconnects);
      m.collect("cityhall_replication_snapshots_total", "Snapshots received from the leader.", "counter", () => s().snapshots);
      m.collect("cityhall_replication_last_contact_timestamp_seconds", "When the leader was last heard from.", "gauge", () => s().lastContactMs / 1000);
    }
  }

  private get log(): Logger {
    return this.opts.log;
  }

  lagSequences(): number {
    return Math.max(0, this.state.leaderSeq - this.state.appliedSeq);
  }

  lagSeconds(): number {
    return lagSecondsOf(this.state, Date.now());
  }

  async start(): Promise<void> {
    const loaded = loadStateFile(this.vfs, this.dataDir, REPLICA_STATE_FILE, decodeReplicaState);
    const replicaId = this.opts.replicaId ?? loaded?.replicaId ?? this.db.nodeId;
    this.state = loaded ?? emptyReplicaState(this.leaderAddress, replicaId);
    if (loaded && loaded.leaderAddress !== this.leaderAddress) {
      this.log.info(`cityhall/replication: leader address changed from ${loaded.leaderAddress} to ${this.leaderAddress}; the leader id is still checked`);
    }
    this.state.leaderAddress = this.leaderAddress;
    this.state.replicaId = replicaId;
    this.state.createdMs ??= Date.now(); // files written before the field: lag counts from now
    // The WAL is the authority on position; the state file only lags behind it.
    const walPos = this.db.replicaPosition();
    if (walPos) {
      // The state file is saved a little after each apply: a crash between the two leaves
      // records in the WAL (applied again by the engine's replay) that its counters lack.
      if (!this.state.snapshot) this.countUnsavedRecords(this.state.position, walPos);
      this.state.position = walPos;
    }
    this.state.appliedSeq = Math.max(this.state.appliedSeq, this.db.dataSequence);
    this.state.state = "connecting";
    await this.save();
    this.saveTimer = setInterval(() => void this.saveIfDirty(), this.opts.saveEveryMs ?? 200);
    (this.saveTimer as { unref?: () => void }).unref?.();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeBackoff?.();
    this.socket?.end();
    await this.loop;
    if (this.saveTimer) clearInterval(this.saveTimer);
    for (const f of this.snapshotFiles.values()) f.close();
    this.snapshotFiles.clear();
    if (!this.state.state.startsWith("stopped")) this.state.state = "stopped: replica shut down";
    await this.save();
    // save() logs and swallows its error (a running replica retries); at stop, say so.
    if (this.dirty) {
      this.stopFailures.push(
        "the replica state file could not be saved (see the error above); the next start recounts from its WAL and may fetch some records again",
      );
    }
  }

  /** What `stop()` could not save; empty after a clean stop. */
  readonly stopFailures: string[] = [];

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.session();
      } catch (e) {
        if (e instanceof FatalError) {
          this.state.state = `stopped: ${e.message}`;
          this.state.lastError = e.message;
          this.log.error(`cityhall/replication: ${e.message}; replication stopped (reads still served)`);
          await this.save(); // cron's `replica status` must see this at once
          return;
        }
        this.state.lastError = (e as Error).message;
        this.dirty = true;
        if (!this.stopped) this.log.warn(`cityhall/replication: ${(e as Error).message}`);
      }
      if (this.stopped) return;
      this.connected = false;
      this.state.state = "connecting";
      // Only progress resets the backoff (bytes applied, a snapshot installed, or a session
      // that stayed up): a WELCOME followed by a refusal or bad data is no progress, and a
      // replica that kept reconnecting at once would hammer its leader forever.
      if (madeProgress(this.sessionProgress)) this.attempt = 0;
      const delay = backoffDelayMs(this.attempt++, this.opts.random);
      this.log.info(`cityhall/replication: reconnecting to ${this.leaderAddress} in ${(delay / 1000).toFixed(1)} s`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wakeBackoff = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeBackoff = null;
      this.state.reconnects++;
      this.dirty = true;
    }
  }

  /** One connection, from connect to close. Resolves on a normal close, rejects on errors. */
  private session(): Promise<void> {
    this.sessionProgress = { appliedBytes: 0, welcomedMs: 0 };
    return new Promise<void>((resolve, reject) => {
      const decoder = new FrameDecoder();
      let serverHelloSeen = false;
      let probeDeadlineMs = 0;
      let welcomedAtMs = 0;
      const nonce = randomBytes(16).toString("hex");
      let serverNonce = "";
      let welcomed = false;
      let lastHeardMs = Date.now();
      let processing: Promise<void> = Promise.resolve();
      let settled = false;
      let timer: ReturnType<typeof setInterval> | null = null;
      let ackTimer: ReturnType<typeof setTimeout> | null = null;
      let pendingAck: { segment: number; offset: number; seq: number } | null = null;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (timer) clearInterval(timer);
        if (ackTimer) clearTimeout(ackTimer);
        if (welcomedAtMs) this.sessionProgress.welcomedMs = Date.now() - welcomedAtMs;
        this.connected = false;
        this.socket?.end();
        this.socket = null;
        if (err) reject(err);
        else resolve();
      };
      const send = (frame: Uint8Array) => {
        this.socket?.write(frame);
      };
      const handle = async (type: number, payload: Uint8Array): Promise<void> => {
        switch (type) {
          case FRAME_SERVER_HELLO: {
            serverHelloSeen = true;
            const sh = parseServerHello(decodeControl(payload));
            if (sh.protocol !== REPLICATION_PROTOCOL_VERSION) {
              throw new FatalError(`the leader speaks replication protocol ${sh.protocol}, this replica ${REPLICATION_PROTOCOL_VERSION}; upgrade the older node`);
            }
            if (this.state.leaderId && sh.leaderId !== this.state.leaderId) {
              throw new FatalError(`${this.leaderAddress} is leader ${sh.leaderId}, but this replica follows leader ${this.state.leaderId}; point it at its own leader or give it a fresh --data-dir`);
            }
            if (sh.authRequired && !this.opts.secret) throw new FatalError("the leader requires a shared secret; start the replica with --secret-file");
            serverNonce = sh.nonce;
            const snap = this.state.snapshot;
            send(
              encodeControl(FRAME_HELLO, {
                protocol: REPLICATION_PROTOCOL_VERSION,
                replicaId: this.state.replicaId,
                leaderId: this.state.leaderId,
                position: this.db.replicaPosition() ?? this.state.position,
                nonce,
                ...(this.opts.secret ? { proof: this.proof("replica", serverNonce) } : {}),
                ...(snap ? { snapshot: { id: snap.id, have: this.snapshotHave() } } : {}),
                ...(this.state.snapshotWanted && !snap ? { wantSnapshot: this.state.snapshotWanted } : {}),
              }),
            );
            return;
          }
          case FRAME_WELCOME: {
            const w = parseWelcome(decodeControl(payload));
            if (this.opts.secret) {
              const want = Buffer.from(this.proof("leader", nonce), "hex");
              const got = Buffer.from(w.proof ?? "", "hex");
              if (got.length !== want.length || !timingSafeEqual(got, want)) {
                throw new FatalError(`${this.leaderAddress} could not prove the shared secret; check --secret-file on both nodes`);
              }
            }
            if (!this.state.leaderId) this.state.leaderId = w.leaderId;
            this.state.leaderSeq = Math.max(this.state.leaderSeq, w.lastSeq);
            this.noteCaughtUp();
            welcomed = true;
            welcomedAtMs = Date.now();
            this.connected = true;
            this.state.state = "following";
            this.state.lastError = null;
            this.dirty = true;
            await this.save();
            this.log.info(`cityhall/replication: following leader ${w.leaderId} at ${this.leaderAddress}`);
            return;
          }
          case FRAME_ERROR: {
            const e = parseError(decodeControl(payload));
            if (FATAL.has(e.code)) throw new FatalError(`leader refused: ${e.message}`);
            if (e.code === "DUPLICATE_ID") {
              // Not fatal: the other copy may be retired; the backoff keeps growing meanwhile.
              this.log.error(`cityhall/replication: leader ${this.leaderAddress} refused this replica: ${e.message}`);
              throw new Error(`leader refused: ${e.message}`);
            }
            throw new Error(`leader closed the connection: ${e.message}`);
          }
          case FRAME_HEARTBEAT: {
            const hb = parseHeartbeat(decodeControl(payload));
            if (hb.lastSeq !== undefined) this.state.leaderSeq = Math.max(this.state.leaderSeq, hb.lastSeq);
            this.noteCaughtUp();
            this.dirty = true;
            return;
          }
          case FRAME_DATA: {
            if (!welcomed) throw new ProtocolError("DATA before WELCOME");
            const d = decodeData(payload);
            this.checkContinuity(d.segment, d.offset, d.raw);
            const r = await this.db.applyReplicated(d.segment, d.offset, d.raw);
            this.sessionProgress.appliedBytes += d.raw.length;
            this.state.position = { segment: d.segment, offset: d.offset + d.raw.length };
            this.state.appliedSeq = r.lastSeq;
            this.state.leaderSeq = Math.max(this.state.leaderSeq, r.lastSeq);
            this.state.entriesApplied += r.points;
            this.state.bytesReceived += d.raw.length;
            this.noteCaughtUp();
            this.dirty = true;
            // Delayed acknowledgement: one ACK covers every frame applied in the next few ms.
            pendingAck = { segment: d.segment, offset: d.offset + d.raw.length, seq: r.lastSeq };
            if (!ackTimer) {
              ackTimer = setTimeout(() => {
                ackTimer = null;
                if (pendingAck && !settled) send(encodeAck(pendingAck));
                pendingAck = null;
              }, ACK_DELAY_MS);
            }
            return;
          }
          case FRAME_SNAPSHOT_BEGIN:
            await this.snapshotBegin(parseSnapshotBegin(decodeControl(payload)));
            return;
          case FRAME_SNAPSHOT_CHUNK:
            await this.snapshotChunk(decodeSnapshotChunk(payload));
            return;
          case FRAME_SNAPSHOT_END:
            await this.snapshotEnd(parseSnapshotEnd(decodeControl(payload)).id);
            return;
          default:
            throw new ProtocolError(`unexpected frame type ${type} from the leader`);
        }
      };
      const onFrames = () => {
        processing = processing.then(async () => {
          if (settled) return;
          try {
            for (let f = decoder.next(); f && !settled; f = decoder.next()) await handle(f.type, f.payload);
          } catch (e) {
            if (e instanceof SequenceGapError) {
              this.state.snapshotWanted = e.message;
              this.log.error(`cityhall/replication: ${e.message}; nothing more is applied from the WAL, asking the leader for a snapshot`);
              await this.save();
              finish(e);
            } else if (e instanceof PositionMismatchError) finish(new Error(`${e.message}; resynchronising`));
            else if (e instanceof FatalError) finish(e);
            else if (e instanceof ProtocolError && !serverHelloSeen) finish(new Error(this.notReplicationPort(`its first bytes are not a replication frame: ${e.message}`)));
            else if (e instanceof ProtocolError || e instanceof CorruptionError) finish(new Error(`bad data from the leader: ${e.message}`));
            else finish(e as Error);
          }
        });
      };
      const connectTimer = setTimeout(() => finish(new Error(`no connection to ${this.leaderAddress} within ${this.timeoutMs} ms`)), this.timeoutMs);
      Bun.connect<undefined>({
        hostname: this.opts.leaderHost,
        port: this.opts.leaderPort,
        ...(this.opts.tlsCa ? { tls: { ca: this.opts.tlsCa, serverName: this.opts.leaderHost } } : {}),
        socket: {
          open: (socket) => {
            clearTimeout(connectTimer);
            if (settled || this.stopped) {
              socket.end();
              return;
            }
            this.socket = socket;
            lastHeardMs = Date.now();
            timer = setInterval(() => {
              if (!serverHelloSeen && Date.now() - lastHeardMs > this.timeoutMs) {
                // A leader greets at once. Silence may be a stopped leader, or a server of
                // another protocol waiting for a request: ask it something it will answer.
                if (!probeDeadlineMs) {
                  probeDeadlineMs = Date.now() + Math.min(1000, this.timeoutMs);
                  send(HTTP_PROBE);
                } else if (Date.now() > probeDeadlineMs) {
                  finish(
                    new Error(
                      `${this.leaderAddress} accepted the connection but sent no greeting within ${this.timeoutMs} ms: it is not a CityHall replication port (the leader's --replication-port, ${DEFAULT_REPLICATION_PORT} by default), or the leader is stopped`,
                    ),
                  );
                }
                return;
              }
              if (Date.now() - lastHeardMs > this.timeoutMs) {
                finish(new Error(`the leader was silent for ${this.timeoutMs} ms (half-open link?)`));
                return;
              }
              if (welcomed) send(encodeControl(FRAME_HEARTBEAT, { timeMs: Date.now(), position: this.db.replicaPosition() ?? undefined }));
            }, this.heartbeatMs);
          },
          data: (_socket, chunk) => {
            lastHeardMs = Date.now();
            this.state.wireBytesReceived += chunk.length;
            if (!serverHelloSeen && decoder.pendingBytes === 0 && startsWithHttp(chunk)) {
              finish(new Error(this.notReplicationPort("it answered like an HTTP server")));
              return;
            }
            try {
              decoder.push(chunk);
            } catch (e) {
              finish(e as Error);
              return;
            }
            onFrames();
          },
          close: () => {
            clearTimeout(connectTimer);
            processing.then(() => finish(welcomed ? new Error("the leader closed the connection") : new Error(`connection to ${this.leaderAddress} closed during the handshake`)));
          },
          error: (_socket, err) => finish(new Error(`connection to ${this.leaderAddress} failed: ${err.message}`)),
          connectError: (_socket, err) => {
            clearTimeout(connectTimer);
            finish(new Error(`cannot connect to ${this.leaderAddress}: ${err.message}`));
          },
        },
      }).catch((e: Error) => {
        clearTimeout(connectTimer);
        finish(new Error(`cannot connect to ${this.leaderAddress}: ${e.message}`));
      });
    });
  }

  private notReplicationPort(how: string): string {
    return `the leader address ${this.leaderAddress} is not a CityHall replication port (${how}); point --leader at the leader's --replication-port (${DEFAULT_REPLICATION_PORT} by default), not its HTTP port`;
  }

  /**
   * Checks that the records in a DATA frame continue this replica's sequence: the first
   * record above the newest applied one must be exactly the next. A record that skips
   * sequence numbers means the leader's WAL and this copy disagree (a leader whose WAL was
   * cut or rewritten): applying it would leave a hole that no later record fills.
   * Records at or below the newest applied sequence (after a snapshot) are skipped by the
   * engine and not checked.
   */
  private checkContinuity(segment: number, offset: number, raw: Uint8Array): void {
    const scan = scanRecords(raw, offset === 0 ? Math.min(SEGMENT_HEADER_BYTES, raw.length) : 0);
    let last = this.db.dataSequence;
    for (const rec of scan.records) {
      if (rec.payload.length < 8) continue; // the follower rejects it with the cause
      const seq = recordSeq(rec.payload);
      if (seq <= last) continue;
      if (seq !== last + 1) {
        throw new SequenceGapError(
          `sequence gap from the leader: ${segmentFileName(segment)} offset ${offset + rec.offsetBytes} holds write ${seq} right after write ${last} (${seq - last === 2 ? `write ${last + 1} is` : `writes ${last + 1}..${seq - 1} are`} missing: the leader's WAL was cut or rewritten)`,
        );
      }
      last = seq;
    }
  }

  /**
   * Adds to the counters the records of the local WAL between `from` (the saved position)
   * and `to` (the WAL's end), with sequence numbers above the saved appliedSeq: they were
   * applied before a crash but the state file was not saved after them.
   */
  private countUnsavedRecords(from: Position | null, to: Position): void {
    const start = from ?? { segment: 0, offset: 0 };
    if (start.segment > to.segment || (start.segment === to.segment && start.offset >= to.offset)) return;
    const dir = this.db.walDirectory;
    const segments = this.vfs
      .list(dir)
      .map(parseSegmentFileName)
      .filter((n): n is number => n !== undefined && n >= start.segment && n <= to.segment)
      .sort((a, b) => a - b);
    let points = 0;
    let bytes = 0;
    for (const segment of segments) {
      const path = joinPath(dir, segmentFileName(segment));
      let data: Uint8Array;
      try {
        data = this.vfs.readFile(path);
      } catch (e) {
        this.log.warn(`cityhall/replication: cannot recount ${path} for the counters: ${(e as Error).message}`);
        continue;
      }
      const from = segment === start.segment ? Math.max(start.offset, SEGMENT_HEADER_BYTES) : SEGMENT_HEADER_BYTES;
      const end = segment === to.segment ? Math.min(to.offset, data.length) : data.length;
      if (from >= end) continue;
      const scan = scanRecords(data.subarray(0, end), from);
      for (const rec of scan.records) {
        const entry = decodeEntry(rec.type, rec.payload, path, rec.offsetBytes);
        if (entry.seq <= this.state.appliedSeq) continue;
        if (entry.kind === "put") for (const g of entry.groups) points += g.ts.length;
      }
      bytes += end - (segment === start.segment ? start.offset : 0);
    }
    if (points || bytes) {
      this.log.info(`cityhall/replication: counted ${points} points (${bytes} WAL bytes) applied before the last stop but not yet in the state file`);
      this.state.entriesApplied += points;
      this.state.bytesReceived += bytes;
    }
  }

  private proof(side: "replica" | "leader", nonce: string): string {
    return createHmac("sha256", this.opts.secret!).update(proofMessage(side, nonce, this.state.replicaId)).digest("hex");
  }

  private noteCaughtUp(): void {
    if (this.state.appliedSeq >= this.state.leaderSeq) this.state.caughtUpMs = Date.now();
    this.state.lastContactMs = Date.now();
  }

  // ---------------------------------------------------------------- snapshots

  private snapshotDir(): string {
    return joinPath(this.dataDir, SNAPSHOT_DIR);
  }

  /** Bytes of each staged file that are safely on disk (what the leader may resume from). */
  private snapshotHave(): Record<string, number> {
    const snap = this.state.snapshot!;
    const have: Record<string, number> = {};
    for (const t of snap.tables) {
      const path = joinPath(this.snapshotDir(), sstFileName(t.fileNo));
      let size = 0;
      try {
        size = this.vfs.stat(path).sizeBytes;
      } catch {
        size = 0;
      }
      have[String(t.fileNo)] = Math.min(size, snap.have[String(t.fileNo)] ?? 0);
    }
    return have;
  }

  private async snapshotBegin(b: { id: string; flushedSeq: number; tables: import("../manifest/format.ts").TableMeta[]; follow: Position }): Promise<void> {
    const dir = this.snapshotDir();
    const resuming = this.state.snapshot?.id === b.id;
    for (const f of this.snapshotFiles.values()) f.close();
    this.snapshotFiles.clear();
    if (!resuming) {
      if (this.vfs.exists(dir)) for (const name of this.vfs.list(dir)) this.vfs.remove(joinPath(dir, name));
      this.state.snapshot = { id: b.id, flushedSeq: b.flushedSeq, tables: b.tables, follow: b.follow, have: {} };
    }
    mkdirpDurable(this.vfs, dir); // the staged files are worth nothing if the directory is lost
    const have = resuming ? this.snapshotHave() : {};
    for (const t of b.tables) {
      const path = joinPath(dir, sstFileName(t.fileNo));
      const f = this.vfs.open(path, this.vfs.exists(path) ? "append" : "create");
      f.truncate(have[String(t.fileNo)] ?? 0); // drop anything past what was recorded as durable
      this.snapshotFiles.set(t.fileNo, f);
    }
    this.vfs.syncDir(dir);
    this.state.snapshot!.have = have;
    this.state.state = "snapshot";
    await this.save();
    this.log.info(`cityhall/replication: ${resuming ? "resuming" : "receiving"} snapshot ${b.id} (${b.tables.length} tables)`);
  }

  private async snapshotChunk(c: { fileNo: number; offset: number; raw: Uint8Array }): Promise<void> {
    const snap = this.state.snapshot;
    const f = this.snapshotFiles.get(c.fileNo);
    if (!snap || !f) throw new ProtocolError(`snapshot chunk for unknown file ${c.fileNo}`);
    if (c.offset !== f.size()) throw new ProtocolError(`snapshot chunk for ${sstFileName(c.fileNo)} at ${c.offset}, expected ${f.size()}`);
    const meta = snap.tables.find((t) => t.fileNo === c.fileNo)!;
    if (c.offset + c.raw.length > meta.sizeBytes) throw new ProtocolError(`snapshot chunk runs past the end of ${sstFileName(c.fileNo)}`);
    f.append(c.raw);
    await f.datasync();
    snap.have[String(c.fileNo)] = f.size();
    this.dirty = true;
  }

  private async snapshotEnd(id: string): Promise<void> {
    const snap = this.state.snapshot;
    if (!snap || snap.id !== id) throw new ProtocolError(`SNAPSHOT_END for ${id}, which is not the snapshot in progress`);
    const dir = this.snapshotDir();
    for (const t of snap.tables) {
      const f = this.snapshotFiles.get(t.fileNo)!;
      if (f.size() !== t.sizeBytes) throw new ProtocolError(`snapshot file ${sstFileName(t.fileNo)} has ${f.size()} of ${t.sizeBytes} bytes`);
      f.close();
      // Check every table opens (footer, index, bloom filter) before switching to it.
      TableReader.open(this.vfs, joinPath(dir, sstFileName(t.fileNo)), t.fileNo, new BlockCache(0)).close();
    }
    this.snapshotFiles.clear();
    await this.db.installSnapshot(dir, snap.tables, snap.flushedSeq);
    this.state.position = { ...snap.follow };
    this.state.appliedSeq = snap.flushedSeq;
    this.state.entriesApplied += snap.tables.reduce((n, t) => n + t.points, 0);
    this.state.snapshots++;
    this.state.snapshot = null;
    this.state.snapshotWanted = null;
    this.sessionProgress.appliedBytes += 1;
    this.state.state = "following";
    await this.save();
    this.log.info(`cityhall/replication: snapshot ${id} installed; following the WAL from segment ${snap.follow.segment}`);
  }

  // ---------------------------------------------------------------- state file

  private async saveIfDirty(): Promise<void> {
    if (this.dirty) await this.save();
  }

  /** Rewrites the state file atomically; writes are serialised. */
  save(): Promise<void> {
    this.dirty = false;
    this.state.updatedMs = Date.now();
    const doc = structuredClone(this.state);
    this.saving = this.saving
      .then(() => saveStateFile(this.vfs, this.dataDir, REPLICA_STATE_FILE, REPLICA_STATE_MAGIC, doc))
      .catch((e) => {
        this.dirty = true;
        this.log.error(`cityhall/replication: cannot save replica state: ${(e as Error).message}`);
      });
    return this.saving;
  }
}

function startsWithHttp(chunk: Uint8Array): boolean {
  const sig = "HTTP/";
  if (chunk.length < sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (chunk[i] !== sig.charCodeAt(i)) return false;
  return true;
}
