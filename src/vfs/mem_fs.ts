// An in-memory file system that knows what is durable. It exists so tests can
//  - simulate a power cut: `powerCut()` keeps only what the durability contract of `Vfs`
//    promises (bytes covered by a finished `datasync()`, directory entries and directories
//    covered by a `syncDir()` of their parent), plus, like a real disk whose page cache was
//    partly written back, a random prefix of the bytes appended since the last sync (torn
//    tails);
//  - simulate a process crash: `crash()` keeps everything the OS had (every written byte and
//    entry) but nothing of the process;
//  - cut at an exact point: every operation is counted and reported to `onOp` after it took
//    effect, so a test can call `powerCut()` or `crash()` from there ("after the k-th append
//    to a .wal file");
//  - inject faults: `failNext({ op, errno })` makes the next matching operation throw the
//    error the OS would (ENOSPC, EIO, ...), optionally after writing part of the data.
// `datasync()` is genuinely asynchronous, like fdatasync on the thread pool: it makes durable
// the bytes present when it STARTED and completes a seeded random number of event-loop turns
// later; a cut in between leaves the file at its previous durable state (plus a torn tail).
// It is a complete implementation of `Vfs`, not a mock: the engine runs on it unchanged.

import { mulberry32 } from "../util/prng.ts";
import { dirname } from "./vfs.ts";
import type { OpenMode, Vfs, VfsFile } from "./vfs.ts";

interface Inode {
  data: Uint8Array; // capacity >= sizeBytes
  sizeBytes: number;
  mtimeMs?: number;
  synced: Uint8Array; // the bytes a power cut leaves behind (never mutated in place)
  /** Generation of the newest sync started / made durable: an older sync never wins. */
  syncStarted: number;
  syncDurable: number;
}

export type FaultOp = "open" | "append" | "datasync" | "rename" | "remove" | "syncDir" | "read";

/** Every operation, as reported to `MemFs.onOp` once it has taken effect. */
export type OpKind =
  | "open"
  | "read"
  | "exists"
  | "stat"
  | "list"
  | "mkdirp"
  | "append"
  | "truncate"
  /** a datasync started: the bytes it will make durable are fixed, none is durable yet */
  | "datasync"
  /** one event-loop turn of a datasync in flight */
  | "datasync-wait"
  /** a datasync finished: its bytes are durable; its caller has not yet resumed */
  | "datasync-done"
  | "rename"
  | "remove"
  | "syncDir"
  | "close";

export interface OpEvent {
  kind: OpKind;
  path: string;
  /** Operations so far on this instance, this one included (1-based). */
  n: number;
  /** For "open": the mode. */
  mode?: OpenMode;
}

export interface MemFsOptions {
  /** Seeds sync delays and torn tails; the same seed and the same calls give the same runs. */
  seed?: number;
  /** A datasync completes after 1..maxSyncTurns event-loop turns (default 3). */
  maxSyncTurns?: number;
  /** Whether a power cut keeps a random prefix (whole sectors) of unsynced appended bytes (default true). */
  tornTails?: boolean;
}

export interface Fault {
  op: FaultOp;
  errno: string;
  /** Only paths containing this string match. */
  pathIncludes?: string;
  /** For `append`: bytes written before the error (a short write). */
  partialBytes?: number;
  /** How many matching operations fail; default 1. */
  times?: number;
}

function osError(errno: string, op: string, path: string): Error {
  const e = new Error(`${errno}: ${op} '${path}'`) as Error & { code: string };
  e.code = errno;
  return e;
}

function newInode(): Inode {
  return { data: new Uint8Array(0), sizeBytes: 0, synced: new Uint8Array(0), syncStarted: 0, syncDurable: 0 };
}

/** The unit in which unsynced bytes reach the disk on their own (a torn tail ends on it). */
const SECTOR_BYTES = 512;

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

class MemFile implements VfsFile {
  readonly path: string;
  private closed = false;
  constructor(
    private readonly fs: MemFs,
    path: string,
    private readonly inode: Inode,
    private readonly writable: boolean,
  ) {
    this.path = path;
  }
  size(): number {
    return this.inode.sizeBytes;
  }
  read(buf: Uint8Array, positionBytes: number): number {
    this.fs.checkFault("read", this.path);
    const n = Math.max(0, Math.min(buf.length, this.inode.sizeBytes - positionBytes));
    buf.set(this.inode.data.subarray(positionBytes, positionBytes + n));
    this.fs.emit("read", this.path);
    return n;
  }
  append(data: Uint8Array): void {
    if (!this.writable || this.closed) throw osError("EBADF", "write", this.path);
    const fault = this.fs.takeFault("append", this.path);
    const n = fault ? Math.min(fault.partialBytes ?? 0, data.length) : data.length;
    const ino = this.inode;
    if (ino.sizeBytes + n > ino.data.length) {
      const grown = new Uint8Array(Math.max(ino.sizeBytes + n, ino.data.length * 2, 4096));
      grown.set(ino.data.subarray(0, ino.sizeBytes));
      ino.data = grown;
    }
    ino.data.set(data.subarray(0, n), ino.sizeBytes);
    ino.sizeBytes += n;
    ino.mtimeMs = Date.now();
    if (fault) throw osError(fault.errno, "write", this.path);
    this.fs.emit("append", this.path);
  }
  truncate(sizeBytes: number): void {
    this.fs.checkAlive("truncate", this.path);
    this.inode.sizeBytes = Math.min(sizeBytes, this.inode.sizeBytes);
    this.fs.emit("truncate", this.path);
  }
  async datasync(): Promise<void> {
    const ino = this.inode;
    this.fs.checkAlive("datasync", this.path);
    // Like fdatasync: what it makes durable is what was written when it was called.
    const snapshot = ino.data.slice(0, ino.sizeBytes);
    const gen = ++ino.syncStarted;
    this.fs.emit("datasync", this.path);
    const turns = this.fs.syncTurns();
    for (let i = 0; i < turns; i++) {
      await nextTurn();
      this.fs.checkAlive("datasync", this.path); // the power went out while the disk worked
      if (i < turns - 1) this.fs.emit("datasync-wait", this.path);
    }
    this.fs.checkFault("datasync", this.path);
    if (gen > ino.syncDurable) {
      ino.synced = snapshot;
      ino.syncDurable = gen;
    }
    this.fs.emit("datasync-done", this.path);
  }
  close(): void {
    this.closed = true;
    if (this.fs.alive) this.fs.emit("close", this.path);
  }
}

export class MemFs implements Vfs {
  /** What a running process sees. */
  private entries = new Map<string, Inode>();
  /** What survives a power cut: path -> inode, per the last syncDir of each parent. */
  private durableEntries = new Map<string, Inode>();
  private dirs = new Set<string>(["/", "."]);
  /** Directories whose entry in their parent was synced ("/" and "." always are). */
  private durableDirs = new Set<string>(["/", "."]);
  private faults: Fault[] = [];
  private readonly options: Required<MemFsOptions>;
  private readonly random: () => number;
  private dead = false;
  /** Operations so far (see `OpEvent.n`). */
  opCount = 0;
  /**
   * Called after every operation took effect. A test may cut the power (or crash) from
   * here: the operation itself completes, every later one fails with EIO.
   */
  onOp: ((e: OpEvent) => void) | undefined;

  constructor(options: MemFsOptions = {}) {
    this.options = { seed: options.seed ?? 1, maxSyncTurns: Math.max(1, options.maxSyncTurns ?? 3), tornTails: options.tornTails ?? true };
    this.random = mulberry32(this.options.seed);
  }

  get alive(): boolean {
    return !this.dead;
  }

  failNext(fault: Fault): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** @internal used by MemFile */
  emit(kind: OpKind, path: string, mode?: OpenMode): void {
    this.opCount++;
    this.onOp?.({ kind, path, n: this.opCount, mode });
  }

  /** @internal how many event-loop turns the next datasync takes */
  syncTurns(): number {
    return 1 + Math.floor(this.random() * this.options.maxSyncTurns);
  }

  /** @internal used by MemFile */
  takeFault(op: FaultOp, path: string): Fault | undefined {
    this.checkAlive(op, path);
    const i = this.faults.findIndex((f) => f.op === op && (f.pathIncludes === undefined || path.includes(f.pathIncludes)));
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) this.faults.splice(i, 1);
    return f;
  }

  /** @internal */
  checkFault(op: FaultOp, path: string): void {
    const f = this.takeFault(op, path);
    if (f) throw osError(f.errno, op, path);
  }

  /** @internal */
  checkAlive(op: string, path: string): void {
    if (this.dead) throw osError("EIO", `${op} after power cut`, path);
  }

  /** A directory survives a cut only if it and every ancestor were made durable. */
  private survives(dir: string): boolean {
    for (let d = dir; ; d = dirname(d)) {
      if (!this.durableDirs.has(d)) return false;
      if (d === "/" || d === ".") return true;
    }
  }

  /**
   * Simulates losing power. Returns the file system as it comes back: every file at its last
   * synced bytes (plus, with torn tails on, a random prefix of what was appended after them),
   * every directory at its last synced entries; a directory whose own entry was never
   * synced is gone with everything in it. This instance (and every handle it gave out) is
   * dead afterwards: each operation fails with EIO, the way a process that lost power does
   * nothing more.
   */
  powerCut(): MemFs {
    const after = new MemFs({ ...this.options, seed: Math.floor(this.random() * 2 ** 32) });
    for (const d of this.durableDirs) if (this.survives(d)) after.dirs.add(d);
    after.durableDirs = new Set(after.dirs);
    const copies = new Map<Inode, Uint8Array>();
    for (const [path, ino] of this.durableEntries) {
      if (!after.dirs.has(dirname(path))) continue;
      let data = copies.get(ino);
      if (!data) {
        data = this.survivingBytes(ino);
        copies.set(ino, data);
      }
      const copy = data.slice();
      after.entries.set(path, { data: copy, sizeBytes: copy.length, synced: copy.slice(), syncStarted: 0, syncDurable: 0 });
    }
    after.durableEntries = new Map(after.entries);
    this.dead = true;
    return after;
  }

  /** The synced bytes, then (torn tail) a random prefix of the bytes appended since. */
  private survivingBytes(ino: Inode): Uint8Array {
    const synced = ino.synced;
    const extra = ino.sizeBytes - synced.length;
    if (!this.options.tornTails || extra <= 0) return synced;
    // Only an append-only file can show part of its unsynced tail: after a truncate and a
    // rewrite the on-disk layout is unknown, so keep the synced bytes (conservative).
    const current = ino.data.subarray(0, synced.length);
    if (Buffer.compare(current, synced) !== 0) return synced;
    // Disks write whole sectors: what survives ends at a sector boundary past the synced
    // bytes, or at the end of the file.
    // Half the time a sector boundary inside the unsynced bytes (when there is one), else
    // none or all of them.
    const firstBoundary = Math.floor(synced.length / SECTOR_BYTES) * SECTOR_BYTES + SECTOR_BYTES;
    const inside: number[] = [];
    for (let b = firstBoundary; b < ino.sizeBytes; b += SECTOR_BYTES) inside.push(b);
    const x = this.random();
    const end =
      inside.length > 0 && x < 0.5 ? inside[Math.floor((x / 0.5) * inside.length)]! : x < 0.75 ? synced.length : ino.sizeBytes;
    return ino.data.slice(0, end);
  }

  /**
   * Simulates the process being killed (SIGKILL, OOM): the OS keeps every byte written and
   * every directory change, durable or not, but the process loses everything it held.
   * Returns the file system the next process sees; this instance is dead, like `powerCut`.
   * Durability is tracked on: a later `powerCut()` of the result still drops what was never
   * synced.
   */
  crash(): MemFs {
    const after = new MemFs({ ...this.options, seed: Math.floor(this.random() * 2 ** 32) });
    const copies = new Map<Inode, Inode>();
    const copy = (ino: Inode): Inode => {
      let c = copies.get(ino);
      if (!c) {
        c = { data: ino.data.slice(0, ino.sizeBytes), sizeBytes: ino.sizeBytes, mtimeMs: ino.mtimeMs, synced: ino.synced, syncStarted: 0, syncDurable: 0 };
        copies.set(ino, c);
      }
      return c;
    };
    for (const [p, ino] of this.entries) after.entries.set(p, copy(ino));
    for (const [p, ino] of this.durableEntries) after.durableEntries.set(p, copy(ino));
    after.dirs = new Set(this.dirs);
    after.durableDirs = new Set(this.durableDirs);
    this.dead = true;
    return after;
  }

  open(path: string, mode: OpenMode): VfsFile {
    this.checkFault("open", path);
    let ino = this.entries.get(path);
    if (mode === "create") {
      if (!this.dirs.has(dirname(path))) throw osError("ENOENT", "open", path);
      if (ino) {
        ino.sizeBytes = 0;
      } else {
        ino = newInode();
        this.entries.set(path, ino);
      }
    } else if (!ino) {
      throw osError("ENOENT", "open", path);
    }
    const f = new MemFile(this, path, ino, mode !== "read");
    this.emit("open", path, mode);
    return f;
  }
  readFile(path: string): Uint8Array {
    this.checkFault("read", path);
    const ino = this.entries.get(path);
    if (!ino) throw osError("ENOENT", "open", path);
    this.emit("read", path);
    return ino.data.slice(0, ino.sizeBytes);
  }
  stat(path: string): { sizeBytes: number; mtimeMs: number } {
    this.checkAlive("stat", path);
    const ino = this.entries.get(path);
    if (!ino) throw osError("ENOENT", "stat", path);
    this.emit("stat", path);
    return { sizeBytes: ino.sizeBytes, mtimeMs: ino.mtimeMs ?? 0 };
  }
  exists(path: string): boolean {
    this.checkAlive("exists", path);
    this.emit("exists", path);
    return this.entries.has(path) || this.dirs.has(path);
  }
  list(dir: string): string[] {
    this.checkAlive("list", dir);
    if (!this.dirs.has(dir)) throw osError("ENOENT", "scandir", dir);
    const prefix = dir.endsWith("/") ? dir : dir + "/";
    const names = new Set<string>();
    for (const p of [...this.entries.keys(), ...this.dirs]) {
      if (p.startsWith(prefix) && p.length > prefix.length) names.add(p.slice(prefix.length).split("/")[0]!);
    }
    this.emit("list", dir);
    return [...names];
  }
  mkdirp(dir: string): void {
    this.checkAlive("mkdir", dir);
    // A new directory is not durable: its entry in the parent needs a syncDir of the parent.
    let d = dir;
    while (d && d !== "/" && d !== ".") {
      this.dirs.add(d);
      d = dirname(d);
    }
    this.emit("mkdirp", dir);
  }
  rename(fromPath: string, toPath: string): void {
    this.checkFault("rename", fromPath);
    const ino = this.entries.get(fromPath);
    if (!ino) throw osError("ENOENT", "rename", fromPath);
    if (!this.dirs.has(dirname(toPath))) throw osError("ENOENT", "rename", toPath);
    this.entries.delete(fromPath);
    this.entries.set(toPath, ino);
    this.emit("rename", fromPath);
  }
  remove(path: string): void {
    this.checkFault("remove", path);
    this.entries.delete(path);
    this.emit("remove", path);
  }
  syncDir(dir: string): void {
    this.checkFault("syncDir", dir);
    if (!this.dirs.has(dir)) throw osError("ENOENT", "open", dir);
    for (const path of [...this.durableEntries.keys()]) {
      if (dirname(path) === dir && !this.entries.has(path)) this.durableEntries.delete(path);
    }
    for (const [path, ino] of this.entries) {
      if (dirname(path) === dir) this.durableEntries.set(path, ino);
    }
    // Subdirectories are entries of `dir` too.
    for (const d of this.dirs) if (d !== dir && dirname(d) === dir) this.durableDirs.add(d);
    this.emit("syncDir", dir);
  }
  /** Test helper: overwrite bytes in place (simulates bit rot); not part of `Vfs`. */
  corrupt(path: string, offsetBytes: number, bytes: Uint8Array): void {
    const ino = this.entries.get(path);
    if (!ino) throw osError("ENOENT", "corrupt", path);
    ino.data.set(bytes, offsetBytes);
    ino.synced = ino.data.slice(0, ino.sizeBytes);
  }
}
