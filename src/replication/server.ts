// The leader's side of replication: a Bun.listen TCP server (optionally TLS) that serves
// each replica its WAL from the position the replica names, then pushes new WAL bytes as
// they commit (live tail), or first a snapshot of the SSTables when the replica's position
// is no longer in the WAL. Protocol: replication/format.ts, docs/replication_protocol.md.
//
// Invariants:
// - Only durable WAL bytes are shipped (at most the WAL writer's durableEndBytes), whole
//   records at a time, so a replica never holds bytes the leader could still lose.
// - The leader persists each replica's acknowledged position and keeps every segment from
//   it on (replication/hold_policy.ts), within the retention bound.
// - One misbehaving replica (bad frames, silence) is disconnected; the others go on.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Socket, TCPSocketListener } from "bun";
import type { Db } from "../engine/db.ts";
import type { Logger } from "../engine/options.ts";
import type { Registry } from "../server/metrics.ts";
import { sstFileName } from "../sstable/format.ts";
import { joinPath } from "../vfs/vfs.ts";
import type { Vfs, VfsFile } from "../vfs/vfs.ts";
import { SEGMENT_HEADER_BYTES, parseSegmentFileName, segmentFileName } from "../wal/format.ts";
import { scanRecords } from "../wal/record.ts";
import {
  FRAME_ACK,
  FRAME_ERROR,
  FRAME_HEARTBEAT,
  FRAME_HELLO,
  FRAME_SERVER_HELLO,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_END,
  FRAME_WELCOME,
  HANDSHAKE_DEADLINE_MS,
  MAX_FRAME_PAYLOAD_BYTES,
  MAX_UNAUTHENTICATED_CONNECTIONS,
  PREAUTH_MAX_FRAME_PAYLOAD_BYTES,
  REPLICATION_PROTOCOL_VERSION,
  proofMessage,
} from "./format.ts";
import type { ErrorCode, Position } from "./format.ts";
import { FrameDecoder, ProtocolError } from "./frame_codec.ts";
import { walHold } from "./hold_policy.ts";
import type { SegmentStat } from "./hold_policy.ts";
import {
  decodeControl,
  encodeControl,
  encodeData,
  encodeSnapshotChunk,
  decodeAck,
  parseHeartbeat,
  parseHello,
} from "./messages.ts";
import type { Hello } from "./messages.ts";
import { isRecordBoundary, readWholeRecords } from "./segment_reader.ts";
import { LEADER_STATE_FILE, LEADER_STATE_MAGIC, decodeLeaderState, loadStateFile, saveStateFile } from "./state_format.ts";
import type { ReplicaRecord } from "./state_format.ts";

export interface ReplicationServerOptions {
  host: string;
  port: number;
  /** Shared secret; when set, replicas must prove it (HMAC-SHA256 challenge-response). */
  secret?: Uint8Array;
  tls?: { cert: string; key: string };
  heartbeatMs?: number;
  /** A replica silent this long is disconnected. */
  timeoutMs?: number;
  /** WAL kept for replicas at most: beyond it a lagging replica gets a snapshot. */
  retentionBytes?: number;
  retentionAgeMs?: number;
  /** Largest raw WAL chunk in one DATA frame. */
  chunkBytes?: number;
  log: Logger;
  metrics?: Registry;
}

const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const WINDOW_BYTES = 16 * 1024 * 1024;
const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
const SNAPSHOT_PIN_GRACE_MS = 10 * 60_000;
const FRAME_CACHE_BYTES = 32 * 1024 * 1024;

interface SocketData {
  session?: Session;
}

interface PinnedSnapshot {
  id: string;
  tables: import("../manifest/format.ts").TableMeta[];
  flushedSeq: number;
  follow: Position;
  sstDir: string;
  release: () => void;
  timer?: ReturnType<typeof setTimeout>;
}

export class ReplicationServer {
  private listener: TCPSocketListener<SocketData> | null = null;
  private readonly sessions = new Set<Session>();
  readonly records = new Map<string, ReplicaRecord>();
  private dirty = false;
  private saveTimer: ReturnType<typeof setInterval> | null = null;
  private holdFrom: number | undefined;
  private unsubscribe: (() => void) | null = null;
  private readonly pins = new Map<string, PinnedSnapshot>();
  /** Recently built DATA frames (or builds under way) by "segment:offset", shared by all sessions. */
  private readonly frameCache = new Map<string, Promise<{ frame: Uint8Array; rawBytes: number }>>();
  private readonly frameCacheSizes = new Map<string, number>();
  private frameCacheBytes = 0;
  readonly heartbeatMs: number;
  readonly timeoutMs: number;
  readonly chunkBytes: number;
  /** Connections that have not completed the handshake (see MAX_UNAUTHENTICATED_CONNECTIONS). */
  unauthenticated = 0;
  refusedConnections = 0;
  private lastRefusalLogMs = 0;
  private refusalsSinceLog = 0;
  bytesSent = 0;
  framesSent = 0;
  acksReceived = 0;
  snapshotsSent = 0;

  constructor(
    readonly db: Db,
    readonly vfs: Vfs,
    readonly dataDir: string,
    readonly opts: ReplicationServerOptions,
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.chunkBytes = opts.chunkBytes ?? 2 * 1024 * 1024;
    const m = opts.metrics;
    if (m) {
      m.collect("cityhall_replication_replicas_connected", "Replicas connected to this leader.", "gauge", () => this.sessions.size);
      m.collect("cityhall_replication_replicas_known", "Replicas this leader keeps WAL for.", "gauge", () => this.records.size);
      m.collect("cityhall_replication_sent_bytes_total", "Bytes sent to replicas (frames, on the socket).", "counter", () => this.bytesSent);
      m.collect("cityhall_replication_frames_sent_total", "Frames sent to replicas.", "counter", () => this.framesSent);
      m.collect("cityhall_replication_acks_received_total", "Acknowledgements received from replicas.", "counter", () => this.acksReceived);
      m.collect("cityhall_replication_snapshots_sent_total", "Snapshots sent to replicas.", "counter", () => this.snapshotsSent);
      m.collect("cityhall_replication_replica_lag_sequences", "Write batches a replica has not acknowledged.", "gauge", () =>
        [...this.records.values()].map((r) => [{ replica: r.replicaId }, Math.max(0, this.db.dataSequence - r.ackedSeq)] as [Record<string, string>, number]),
      );
      m.collect("cityhall_replication_replica_last_contact_seconds", "Seconds since a replica was last heard from.", "gauge", () =>
        [...this.records.values()].map((r) => [{ replica: r.replicaId }, r.lastContactMs ? (Date.now() - r.lastContactMs) / 1000 : -1] as [Record<string, string>, number]),
      );
    }
  }

  /** Logs refused connections at most once a second (a flood must not flood the log too). */
  logRefusal(address: string): void {
    this.refusalsSinceLog++;
    const now = Date.now();
    if (now - this.lastRefusalLogMs < 1000) return;
    this.opts.log.warn(
      `cityhall/replication: refused ${this.refusalsSinceLog} connection(s) (latest from ${address}): ${MAX_UNAUTHENTICATED_CONNECTIONS} connections are already in the handshake; a peer gets ${HANDSHAKE_DEADLINE_MS} ms to complete it`,
    );
    this.lastRefusalLogMs = now;
    this.refusalsSinceLog = 0;
  }

  get port(): number {
    return this.listener?.port ?? this.opts.port;
  }

  async start(): Promise<void> {
    const state = loadStateFile(this.vfs, this.dataDir, LEADER_STATE_FILE, decodeLeaderState);
    for (const r of state?.replicas ?? []) this.records.set(r.replicaId, r);
    this.recomputeHold();
    this.db.setWalHold(() => this.holdFrom);
    this.unsubscribe = this.db.onWalCommit(() => {
      for (const s of this.sessions) s.wake();
    });
    const server = this;
    this.listener = Bun.listen<SocketData>({
      hostname: this.opts.host,
      port: this.opts.port,
      ...(this.opts.tls ? { tls: { cert: this.opts.tls.cert, key: this.opts.tls.key } } : {}),
      socket: {
        open(socket) {
          // Pre-auth bound: connections still in the handshake are capped, so a flood of
          // idle or slow peers cannot hold memory or crowd out real replicas for long.
          if (server.unauthenticated >= MAX_UNAUTHENTICATED_CONNECTIONS) {
            server.refusedConnections++;
            server.logRefusal(socket.remoteAddress);
            socket.data = {};
            socket.end();
            return;
          }
          const s = new Session(server, socket);
          socket.data = { session: s };
          server.sessions.add(s);
          s.start();
        },
        data(socket, chunk) {
          socket.data.session?.onData(chunk);
        },
        drain(socket) {
          socket.data.session?.onDrain();
        },
        close(socket) {
          socket.data.session?.onClose();
        },
        error(socket, err) {
          server.opts.log.warn(`cityhall/replication: socket error from ${socket.remoteAddress}: ${err.message}`);
          socket.data.session?.onClose();
        },
      },
    });
    this.saveTimer = setInterval(() => void this.saveIfDirty(), 1000);
    (this.saveTimer as { unref?: () => void }).unref?.();
  }

  async stop(): Promise<void> {
    if (this.saveTimer) clearInterval(this.saveTimer);
    this.unsubscribe?.();
    for (const s of [...this.sessions]) s.fail("SHUTDOWN", "the leader is shutting down; reconnect later");
    this.listener?.stop(true);
    this.listener = null;
    for (const p of this.pins.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.release();
    }
    this.pins.clear();
    await this.saveIfDirty(true);
    if (this.dirty) {
      this.stopFailures.push(
        "the replicas' positions could not be saved (see the error above); after a restart they resume from the last saved positions and may be sent some records again",
      );
    }
  }

  /** What `stop()` could not save; empty after a clean stop. */
  readonly stopFailures: string[] = [];

  /**
   * The DATA frame for WAL bytes starting at (segment, offset), built once and shared by
   * every session: `read` supplies the raw bytes when no frame (or build) exists yet.
   */
  frameAt(segment: number, offset: number, read: () => Uint8Array | null): Promise<{ frame: Uint8Array; rawBytes: number } | null> {
    const key = `${segment}:${offset}`;
    const hit = this.frameCache.get(key);
    if (hit) return hit;
    const raw = read();
    if (!raw) return Promise.resolve(null);
    const build = (raw.length > 64 ? Bun.zstdCompress(raw, { level: 3 }) : Promise.resolve(null)).then((z) => ({
      frame: encodeData(segment, offset, raw, z),
      rawBytes: raw.length,
    }));
    this.frameCache.set(key, build);
    this.frameCacheBytes += raw.length;
    for (const [k] of this.frameCache) {
      if (this.frameCacheBytes <= FRAME_CACHE_BYTES) break;
      this.frameCache.delete(k);
      this.frameCacheBytes -= this.frameCacheSizes.get(k) ?? 0;
      this.frameCacheSizes.delete(k);
    }
    this.frameCacheSizes.set(key, raw.length);
    build.catch(() => this.frameCache.delete(key));
    return build;
  }

  removeSession(s: Session): void {
    this.sessions.delete(s);
  }

  /**
   * Another registered session of `replicaId` that is live (heard from within two
   * heartbeats), or undefined. A replica that reconnects after a dead link was silent far
   * longer than that; a live one means two processes use the same id.
   */
  liveSessionOf(replicaId: string, except: Session): Session | undefined {
    const now = Date.now();
    for (const s of this.sessions) if (s !== except && s.replicaId === replicaId && s.isLive(now)) return s;
    return undefined;
  }

  /** A replica reconnected before its old (silent) connection timed out: close the old one. */
  dropOtherSessions(keep: Session, replicaId: string): void {
    for (const s of [...this.sessions]) if (s !== keep && s.replicaId === replicaId) s.fail("PROTOCOL", "replaced by a newer connection from the same replica");
  }

  touch(record: ReplicaRecord): void {
    record.lastContactMs = Date.now();
    this.dirty = true;
  }

  markDirty(): void {
    this.dirty = true;
  }

  private async saveIfDirty(force = false): Promise<void> {
    if (!this.dirty && !force) return;
    this.dirty = false;
    this.recomputeHold();
    try {
      await saveStateFile(this.vfs, this.dataDir, LEADER_STATE_FILE, LEADER_STATE_MAGIC, { replicas: [...this.records.values()] });
    } catch (e) {
      this.dirty = true;
      this.opts.log.error(`cityhall/replication: cannot save replica positions: ${(e as Error).message}`);
      return;
    }
    this.db.pruneWal();
  }

  /** Segments on disk with sizes and last write times, ascending. */
  segmentStats(): SegmentStat[] {
    const dir = this.db.walDirectory;
    const out: SegmentStat[] = [];
    for (const name of this.vfs.list(dir)) {
      const segment = parseSegmentFileName(name);
      if (segment === undefined) continue;
      try {
        const st = this.vfs.stat(joinPath(dir, name));
        out.push({ segment, sizeBytes: st.sizeBytes, lastWriteMs: st.mtimeMs });
      } catch {
        // removed meanwhile
      }
    }
    return out.sort((a, b) => a.segment - b.segment);
  }

  recomputeHold(): void {
    const decision = walHold(
      this.segmentStats(),
      [...this.records.values()].filter((r) => !r.needsSnapshot),
      this.opts.retentionBytes ?? 1024 ** 3,
      this.opts.retentionAgeMs ?? 7 * 86_400_000,
      Date.now(),
    );
    for (const id of decision.abandoned) {
      const r = this.records.get(id);
      if (r && !r.needsSnapshot) {
        r.needsSnapshot = true;
        this.dirty = true;
        this.opts.log.warn(`cityhall/replication: replica ${id} fell behind the WAL retention bound; it will bootstrap from a snapshot`);
      }
    }
    this.holdFrom = decision.holdFromSegment;
  }

  record(replicaId: string, address: string): ReplicaRecord {
    let r = this.records.get(replicaId);
    if (!r) {
      r = { replicaId, address, position: null, ackedSeq: 0, firstSeenMs: Date.now(), lastContactMs: Date.now(), needsSnapshot: false };
      this.records.set(replicaId, r);
    }
    r.address = address;
    this.dirty = true;
    return r;
  }

  /** Forgets a replica: its WAL is no longer kept; a connected one is disconnected. */
  async forget(replicaId: string): Promise<boolean> {
    const known = this.records.delete(replicaId);
    for (const s of this.sessions) if (s.replicaId === replicaId) s.fail("FORGOTTEN", "this leader was told to forget this replica; restart it to join again");
    const pin = this.pins.get(replicaId);
    if (pin) {
      if (pin.timer) clearTimeout(pin.timer);
      pin.release();
      this.pins.delete(replicaId);
    }
    this.dirty = true;
    await this.saveIfDirty();
    return known;
  }

  /** Status of every known replica, for the API and `cityhall leader replicas`. */
  replicas(): Array<ReplicaRecord & { connected: boolean; lagSequences: number }> {
    const connected = new Set([...this.sessions].map((s) => s.replicaId));
    return [...this.records.values()].map((r) => ({
      ...r,
      connected: connected.has(r.replicaId),
      lagSequences: Math.max(0, this.db.dataSequence - r.ackedSeq),
    }));
  }

  proof(side: "replica" | "leader", nonce: string, replicaId: string): string {
    return createHmac("sha256", this.opts.secret!).update(proofMessage(side, nonce, replicaId)).digest("hex");
  }

  /** A snapshot for `replicaId`, reusing a pinned one it was receiving. */
  snapshotFor(replicaId: string): PinnedSnapshot {
    const old = this.pins.get(replicaId);
    if (old) {
      if (old.timer) clearTimeout(old.timer);
      old.timer = undefined;
      return old;
    }
    const pin = this.db.pinTables();
    const segs = this.segmentStats();
    const follow = { segment: segs.length ? segs[0]!.segment : this.db.walActive().segmentNo, offset: 0 };
    const snap: PinnedSnapshot = {
      id: `${pin.flushedSeq}-${pin.tables.map((t) => t.fileNo).join(".")}`,
      tables: pin.tables,
      flushedSeq: pin.flushedSeq,
      follow,
      sstDir: pin.sstDir,
      release: pin.release,
    };
    this.pins.set(replicaId, snap);
    return snap;
  }

  /** Drops a pinned snapshot of `replicaId` (the next one is taken afresh). */
  releaseSnapshot(replicaId: string): void {
    const p = this.pins.get(replicaId);
    if (!p) return;
    if (p.timer) clearTimeout(p.timer);
    p.release();
    this.pins.delete(replicaId);
  }

  /** Keeps a snapshot pinned for a while after its replica went away, so it can resume. */
  parkSnapshot(replicaId: string, done: boolean): void {
    const p = this.pins.get(replicaId);
    if (!p) return;
    if (done) {
      p.release();
      this.pins.delete(replicaId);
      return;
    }
    p.timer = setTimeout(() => {
      p.release();
      this.pins.delete(replicaId);
    }, SNAPSHOT_PIN_GRACE_MS);
    (p.timer as { unref?: () => void }).unref?.();
  }
}

class Session {
  private readonly decoder = new FrameDecoder();
  /** Counted in server.unauthenticated until the HELLO passed or the connection closed. */
  private inHandshake = true;
  private readonly openedMs = Date.now();
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private closed = false;
  private readonly nonce = randomBytes(16).toString("hex");
  replicaId = "";
  private record: ReplicaRecord | null = null;
  private pos: Position | null = null;
  /** Raw WAL bytes sent but not acknowledged, by frame. */
  private inFlight: { segment: number; end: number; bytes: number }[] = [];
  private inFlightHead = 0;
  private inFlightBytes = 0;
  private wakeUp: (() => void) | null = null;
  private wokenEarly = false;
  private lastHeardMs = Date.now();
  private lastSentMs = Date.now();
  private timer: ReturnType<typeof setInterval> | null = null;
  private file: { segment: number; f: VfsFile } | null = null;
  private snapshotDone = true;

  constructor(
    private readonly server: ReplicationServer,
    private readonly socket: Socket<SocketData>,
  ) {}

  private get log(): Logger {
    return this.server.opts.log;
  }

  start(): void {
    this.server.unauthenticated++;
    this.decoder.maxPayloadBytes = PREAUTH_MAX_FRAME_PAYLOAD_BYTES;
    this.send(
      encodeControl(FRAME_SERVER_HELLO, {
        protocol: REPLICATION_PROTOCOL_VERSION,
        leaderId: this.server.db.nodeId,
        nonce: this.nonce,
        authRequired: !!this.server.opts.secret,
      }),
    );
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.floor(this.server.heartbeatMs / 2)));
  }

  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    if (this.inHandshake && now - this.openedMs > HANDSHAKE_DEADLINE_MS) {
      this.log.warn(`cityhall/replication: ${this.socket.remoteAddress} did not complete the handshake within ${HANDSHAKE_DEADLINE_MS} ms; disconnecting it`);
      this.fail("PROTOCOL", `no valid HELLO within ${HANDSHAKE_DEADLINE_MS} ms`);
      return;
    }
    if (now - this.lastHeardMs > this.server.timeoutMs) {
      this.log.warn(`cityhall/replication: replica ${this.replicaId || this.socket.remoteAddress} silent for ${this.server.timeoutMs} ms; disconnecting`);
      this.close();
      return;
    }
    if (this.replicaId && now - this.lastSentMs >= this.server.heartbeatMs) {
      this.send(encodeControl(FRAME_HEARTBEAT, { timeMs: now, lastSeq: this.server.db.dataSequence }));
    }
    this.wake(); // safety net: a pump never waits longer than this tick for a missed wake-up
  }

  onData(chunk: Uint8Array): void {
    if (this.closed) return;
    this.lastHeardMs = Date.now();
    try {
      this.decoder.push(chunk);
      for (let f = this.decoder.next(); f; f = this.decoder.next()) {
        this.handle(f.type, f.payload);
        if (this.closed) return;
      }
    } catch (e) {
      if (e instanceof ProtocolError) {
        this.log.warn(`cityhall/replication: ${this.replicaId || this.socket.remoteAddress}: ${e.message}; disconnecting it`);
        this.fail("PROTOCOL", e.message);
      } else {
        this.log.error(`cityhall/replication: ${(e as Error).stack ?? String(e)}`);
        this.fail("PROTOCOL", "internal error");
      }
    }
  }

  private handle(type: number, payload: Uint8Array): void {
    if (!this.replicaId) {
      if (type !== FRAME_HELLO) throw new ProtocolError(`expected HELLO, got frame type ${type}`);
      this.onHello(parseHello(decodeControl(payload)));
      return;
    }
    switch (type) {
      case FRAME_ACK:
        this.onAck(decodeAck(payload));
        return;
      case FRAME_HEARTBEAT:
        parseHeartbeat(decodeControl(payload));
        if (this.record) this.server.touch(this.record);
        return;
      default:
        throw new ProtocolError(`unexpected frame type ${type} from a replica`);
    }
  }

  private onHello(h: Hello): void {
    const srv = this.server;
    if (h.protocol !== REPLICATION_PROTOCOL_VERSION) {
      return this.fail("VERSION", `protocol version ${h.protocol} is not supported (this leader speaks ${REPLICATION_PROTOCOL_VERSION}); upgrade the older node`);
    }
    if (srv.opts.secret) {
      const want = Buffer.from(srv.proof("replica", this.nonce, h.replicaId), "hex");
      const got = Buffer.from(h.proof ?? "", "hex");
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        this.log.warn(`cityhall/replication: replica ${h.replicaId} at ${this.socket.remoteAddress} failed the secret check; refused`);
        return this.fail("AUTH", "wrong or missing replication secret; check --secret-file on both nodes");
      }
    }
    if (h.leaderId && h.leaderId !== srv.db.nodeId) {
      return this.fail("WRONG_LEADER", `this replica follows leader ${h.leaderId}, but this is leader ${srv.db.nodeId}; point it at its own leader or give it a fresh --data-dir`);
    }
    const segs = srv.segmentStats();
    const active = srv.db.walActive();
    let needSnapshot = false;
    if (!h.position) {
      needSnapshot = !(segs.length && segs[0]!.segment === 1);
      this.pos = needSnapshot ? null : { segment: 1, offset: 0 };
    } else {
      const p = h.position;
      const seg = segs.find((s) => s.segment === p.segment);
      const end = p.segment === active.segmentNo ? active.durableEndBytes : seg?.sizeBytes;
      if (p.segment > active.segmentNo || (end !== undefined && p.offset > end)) {
        return this.fail("AHEAD", `the replica claims ${segmentFileName(p.segment)} offset ${p.offset}, past this leader's WAL; it followed a different history: give it a fresh --data-dir`);
      }
      if (!seg) needSnapshot = true;
      else if (!this.onRecordBoundary(p)) {
        // Not where a record of this leader's segment ends: the replica's copy was cut from
        // another version of this segment (this leader's WAL was cut or rewritten). Shipping
        // from there would send garbage or nothing while holding WAL: replace its data instead.
        this.log.warn(
          `cityhall/replication: replica ${h.replicaId} claims ${segmentFileName(p.segment)} offset ${p.offset}, which is not a record boundary of this leader's segment (its copy diverged); sending it a snapshot`,
        );
        needSnapshot = true;
      } else this.pos = { ...p };
    }
    if (h.wantSnapshot && !needSnapshot) {
      this.log.warn(`cityhall/replication: replica ${h.replicaId} asks for a snapshot (${h.wantSnapshot}); sending one`);
      needSnapshot = true;
      this.pos = null;
    }
    const other = srv.liveSessionOf(h.replicaId, this);
    if (other) {
      const why = `two replicas share id ${h.replicaId}: was a data directory copied? remove NODE_ID on the copy (or give it --replica-id)`;
      this.log.error(`cityhall/replication: refused ${this.socket.remoteAddress}: ${why}; the connection from ${other.remoteAddress} is live`);
      return this.fail("DUPLICATE_ID", why);
    }
    // Only a replica that passed every check is registered (and may hold WAL).
    this.leaveHandshake();
    this.decoder.maxPayloadBytes = MAX_FRAME_PAYLOAD_BYTES;
    srv.dropOtherSessions(this, h.replicaId);
    this.replicaId = h.replicaId;
    const record = srv.record(h.replicaId, this.socket.remoteAddress);
    this.record = record;
    if (this.pos) {
      // The replica holds everything before its position: keep the WAL from there on.
      record.position = { ...this.pos };
      srv.markDirty();
      srv.recomputeHold();
    }
    this.send(
      encodeControl(FRAME_WELCOME, {
        leaderId: srv.db.nodeId,
        ...(srv.opts.secret ? { proof: srv.proof("leader", h.nonce, h.replicaId) } : {}),
        segments: segs.map((s) => ({ segment: s.segment, sizeBytes: s.segment === active.segmentNo ? active.durableEndBytes : s.sizeBytes })),
        lastSeq: srv.db.dataSequence,
      }),
    );
    this.log.info(
      `cityhall/replication: replica ${h.replicaId} connected from ${this.socket.remoteAddress}, ${needSnapshot ? "needs a snapshot" : `resuming at ${segmentFileName(this.pos!.segment)} offset ${this.pos!.offset}`}`,
    );
    void this.run(needSnapshot, h).catch((e) => {
      if (!this.closed) {
        this.log.error(`cityhall/replication: streaming to ${this.replicaId} failed: ${(e as Error).message}`);
        this.fail("PROTOCOL", `the leader could not serve its WAL: ${(e as Error).message}`);
      }
    });
  }

  /** Whether `p` (in a segment this leader has) is a record boundary of it. */
  private onRecordBoundary(p: Position): boolean {
    const active = this.server.db.walActive();
    const f = this.openSegment(p.segment);
    if (!f) return false;
    if (p.segment === active.segmentNo && p.offset > active.durableEndBytes) return false;
    return isRecordBoundary(f, p.offset);
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress;
  }

  /** Heard from within two heartbeats: a replica sends a heartbeat or an ACK at least every heartbeat. */
  isLive(nowMs: number): boolean {
    return !this.closed && nowMs - this.lastHeardMs < 2 * this.server.heartbeatMs;
  }

  private onAck(a: { segment: number; offset: number; seq: number }): void {
    const r = this.record!;
    this.server.acksReceived++;
    // Acknowledgements may only cover what was sent.
    if (this.pos && (a.segment > this.pos.segment || (a.segment === this.pos.segment && a.offset > this.pos.offset))) {
      throw new ProtocolError(`ACK for ${segmentFileName(a.segment)} offset ${a.offset}, beyond what was sent`);
    }
    let freed = 0;
    let head = this.inFlightHead;
    while (head < this.inFlight.length) {
      const f = this.inFlight[head]!;
      if (f.segment < a.segment || (f.segment === a.segment && f.end <= a.offset)) {
        freed += f.bytes;
        head++;
      } else break;
    }
    // Drop acknowledged entries in bulk, not one shift() at a time.
    if (head > 1024 || head === this.inFlight.length) {
      this.inFlight = this.inFlight.slice(head);
      head = 0;
    }
    this.inFlightHead = head;
    const wasBlocked = this.inFlightBytes > WINDOW_BYTES;
    this.inFlightBytes -= freed;
    r.position = { segment: a.segment, offset: a.offset };
    r.ackedSeq = Math.max(r.ackedSeq, a.seq);
    r.needsSnapshot = false;
    this.server.touch(r);
    // Only a pump held back by the window needs waking; commits wake the others.
    if (wasBlocked && this.inFlightBytes <= WINDOW_BYTES) this.wake();
  }

  /** Wakes the pump; a wake-up while it is busy is remembered for its next sleep. */
  wake(): void {
    const w = this.wakeUp;
    if (!w) {
      this.wokenEarly = true;
      return;
    }
    this.wakeUp = null;
    w();
  }

  /**
   * Waits for a wake-up (a commit, a drained socket, an acknowledgement that reopens the
   * window) with no timer of its own: tick() wakes every pump each heartbeat as a safety net.
   */
  private sleep(): Promise<void> {
    if (this.wokenEarly) {
      this.wokenEarly = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.wakeUp = resolve;
    });
  }

  private async run(needSnapshot: boolean, h: Hello): Promise<void> {
    if (needSnapshot) {
      await this.sendSnapshot(h);
      if (this.closed) return;
    }
    await this.pump();
  }

  private async sendSnapshot(h: Hello): Promise<void> {
    const srv = this.server;
    this.snapshotDone = false;
    if (h.wantSnapshot) {
      // The replica found a sequence gap in this WAL. A gap may be genuine (a write that
      // failed on a full disk used a sequence number): flush first, so the snapshot holds
      // everything up to now and the WAL it follows after it has no gap above its tables.
      srv.releaseSnapshot(this.replicaId);
      try {
        await srv.db.flush();
      } catch (e) {
        this.log.warn(`cityhall/replication: flush before a snapshot for ${this.replicaId} failed (${(e as Error).message}); sending the tables as they are`);
      }
      if (this.closed) return;
    }
    const snap = srv.snapshotFor(this.replicaId);
    const have = h.snapshot && h.snapshot.id === snap.id ? h.snapshot.have : {};
    this.record!.position = { ...snap.follow };
    this.record!.needsSnapshot = false;
    srv.markDirty();
    srv.recomputeHold();
    this.send(encodeControl(FRAME_SNAPSHOT_BEGIN, { id: snap.id, flushedSeq: snap.flushedSeq, tables: snap.tables, follow: snap.follow }));
    this.log.info(`cityhall/replication: sending snapshot ${snap.id} (${snap.tables.length} tables) to ${this.replicaId}`);
    for (const t of snap.tables) {
      const f = srv.vfs.open(joinPath(snap.sstDir, sstFileName(t.fileNo)), "read");
      try {
        for (let off = Math.min(have[String(t.fileNo)] ?? 0, t.sizeBytes); off < t.sizeBytes; ) {
          while (!this.closed && this.queuedBytes > HIGH_WATER_BYTES) await this.sleep();
          if (this.closed) return;
          const buf = new Uint8Array(Math.min(SNAPSHOT_CHUNK_BYTES, t.sizeBytes - off));
          const n = f.read(buf, off);
          if (n <= 0) throw new Error(`short read of ${sstFileName(t.fileNo)}`);
          this.send(encodeSnapshotChunk(t.fileNo, off, buf.subarray(0, n)));
          off += n;
        }
      } finally {
        f.close();
      }
    }
    this.send(encodeControl(FRAME_SNAPSHOT_END, { id: snap.id }));
    this.snapshotDone = true;
    srv.snapshotsSent++;
    srv.parkSnapshot(this.replicaId, true);
    this.pos = { ...snap.follow };
  }

  private openSegment(segment: number): VfsFile | null {
    if (this.file?.segment === segment) return this.file.f;
    this.file?.f.close();
    this.file = null;
    try {
      const f = this.server.vfs.open(joinPath(this.server.db.walDirectory, segmentFileName(segment)), "read");
      this.file = { segment, f };
      return f;
    } catch {
      return null;
    }
  }

  private async pump(): Promise<void> {
    const srv = this.server;
    while (!this.closed) {
      if (this.queuedBytes > HIGH_WATER_BYTES || this.inFlightBytes > WINDOW_BYTES) {
        await this.sleep();
        continue;
      }
      const pos = this.pos!;
      const active = srv.db.walActive();
      const f = this.openSegment(pos.segment);
      if (!f) {
        // Deleted under us (retention): only a snapshot can help now.
        this.log.warn(`cityhall/replication: ${segmentFileName(pos.segment)} is gone; replica ${this.replicaId} must bootstrap from a snapshot`);
        this.fail("PROTOCOL", "the WAL this replica needs was removed; reconnect to receive a snapshot");
        return;
      }
      const end = pos.segment === active.segmentNo ? active.durableEndBytes : f.size();
      if (pos.offset < end) {
        // Sessions woken by the same commit ask for the same frame at the same moment: the
        // first builds it (read + compress), the others await that same build.
        const chunk = await srv.frameAt(pos.segment, pos.offset, () => {
          const raw = readWholeRecords(f, pos.offset, end, srv.chunkBytes);
          if (raw.length === 0) return null;
          // Check what is shipped: a damaged record would only be refused by every replica,
          // which would reconnect and be refused again. Ship the good records before it,
          // then say where the damage is.
          const scan = scanRecords(raw, pos.offset === 0 ? Math.min(SEGMENT_HEADER_BYTES, raw.length) : 0);
          if (scan.problem) {
            if (scan.validEndBytes > (pos.offset === 0 ? SEGMENT_HEADER_BYTES : 0)) return raw.subarray(0, scan.validEndBytes);
            throw new Error(
              `this leader's WAL is damaged: ${segmentFileName(pos.segment)} offset ${pos.offset + scan.problem.offsetBytes} (${scan.problem.kind}); replica ${this.replicaId} cannot be served past it (restart the leader to recover its WAL)`,
            );
          }
          return raw;
        });
        if (chunk) {
          if (this.closed) return;
          this.send(chunk.frame);
          this.inFlight.push({ segment: pos.segment, end: pos.offset + chunk.rawBytes, bytes: chunk.rawBytes });
          this.inFlightBytes += chunk.rawBytes;
          pos.offset += chunk.rawBytes;
          continue;
        }
      }
      if (pos.segment < active.segmentNo && pos.offset >= f.size()) {
        const next = srv.segmentStats().find((s) => s.segment > pos.segment);
        if (next) {
          this.pos = { segment: next.segment, offset: 0 };
          continue;
        }
      }
      await this.sleep();
    }
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.lastSentMs = Date.now();
    this.server.bytesSent += frame.length;
    this.server.framesSent++;
    if (this.queue.length === 0) {
      const n = this.socket.write(frame);
      if (n === frame.length) return;
      frame = frame.subarray(Math.max(0, n));
    }
    this.queue.push(frame);
    this.queuedBytes += frame.length;
  }

  onDrain(): void {
    while (this.queue.length && !this.closed) {
      const head = this.queue[0]!;
      const n = this.socket.write(head);
      if (n === head.length) {
        this.queue.shift();
        this.queuedBytes -= head.length;
      } else {
        if (n > 0) {
          this.queue[0] = head.subarray(n);
          this.queuedBytes -= n;
        }
        return;
      }
    }
    this.wake();
  }

  fail(code: ErrorCode, message: string): void {
    if (this.closed) return;
    this.send(encodeControl(FRAME_ERROR, { code, message }));
    this.socket.flush();
    this.close();
  }

  private leaveHandshake(): void {
    if (!this.inHandshake) return;
    this.inHandshake = false;
    this.server.unauthenticated--;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.leaveHandshake();
    this.wake();
    if (this.timer) clearInterval(this.timer);
    this.file?.f.close();
    this.file = null;
    this.socket.end();
    if (this.replicaId && !this.snapshotDone) this.server.parkSnapshot(this.replicaId, false);
    this.server.removeSession(this);
  }

  onClose(): void {
    if (!this.closed && this.replicaId) this.log.info(`cityhall/replication: replica ${this.replicaId} disconnected`);
    this.close();
  }
}

