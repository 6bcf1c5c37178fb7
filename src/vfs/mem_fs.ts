// An in-memory file system that knows what is durable. It exists so tests can
//  - simulate a power cut: `powerCut()` throws away every byte not covered by a
//    `datasync()` and every directory change not covered by a `syncDir()`;
//  - inject faults: `failNext({ op, errno })` makes the next matching operation throw the
//    error the OS would (ENOSPC, EIO, ...), optionally after writing part of the data.
// It is a complete implementation of `Vfs`, not a mock: the engine runs on it unchanged.

import { dirname } from "./vfs.ts";
import type { OpenMode, Vfs, VfsFile } from "./vfs.ts";

interface Inode {
  data: Uint8Array; // capacity >= sizeBytes
  sizeBytes: number;
  mtimeMs?: number;
  synced: Uint8Array; // the bytes a power cut leaves behind
}

export type FaultOp = "open" | "append" | "datasync" | "rename" | "remove" | "syncDir" | "read";

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
  }
  truncate(sizeBytes: number): void {
    this.fs.checkAlive("truncate", this.path);
    this.inode.sizeBytes = Math.min(sizeBytes, this.inode.sizeBytes);
  }
  async datasync(): Promise<void> {
    await Promise.resolve();
    this.fs.checkFault("datasync", this.path);
    this.inode.synced = this.inode.data.slice(0, this.inode.sizeBytes);
  }
  close(): void {
    this.closed = true;
  }
}

export class MemFs implements Vfs {
  /** What a running process sees. */
  private entries = new Map<string, Inode>();
  /** What survives a power cut: path -> inode, per the last syncDir of each parent. */
  private durableEntries = new Map<string, Inode>();
  private dirs = new Set<string>(["/", "."]);
  private faults: Fault[] = [];

  failNext(fault: Fault): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
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

  /**
   * Simulates losing power. Returns the file system as it comes back: every file at its last
   * synced bytes, every directory at its last synced entries. This instance (and every
   * handle it gave out) is dead afterwards: each operation fails with EIO, the way a
   * process that lost power does nothing more.
   */
  powerCut(): MemFs {
    const after = new MemFs();
    for (const [path, ino] of this.durableEntries) {
      const data = ino.synced.slice();
      after.entries.set(path, { data, sizeBytes: data.length, synced: data.slice() });
    }
    after.durableEntries = new Map(after.entries);
    after.dirs = new Set(this.dirs);
    this.dead = true;
    return after;
  }

  private dead = false;

  /** @internal */
  checkAlive(op: string, path: string): void {
    if (this.dead) throw osError("EIO", `${op} after power cut`, path);
  }

  open(path: string, mode: OpenMode): VfsFile {
    this.checkFault("open", path);
    let ino = this.entries.get(path);
    if (mode === "create") {
      if (!this.dirs.has(dirname(path))) throw osError("ENOENT", "open", path);
      if (ino) {
        ino.sizeBytes = 0;
      } else {
        ino = { data: new Uint8Array(0), sizeBytes: 0, synced: new Uint8Array(0) };
        this.entries.set(path, ino);
      }
    } else if (!ino) {
      throw osError("ENOENT", "open", path);
    }
    return new MemFile(this, path, ino, mode !== "read");
  }
  readFile(path: string): Uint8Array {
    this.checkFault("read", path);
    const ino = this.entries.get(path);
    if (!ino) throw osError("ENOENT", "open", path);
    return ino.data.slice(0, ino.sizeBytes);
  }
  stat(path: string): { sizeBytes: number; mtimeMs: number } {
    this.checkAlive("stat", path);
    const ino = this.entries.get(path);
    if (!ino) throw osError("ENOENT", "stat", path);
    return { sizeBytes: ino.sizeBytes, mtimeMs: ino.mtimeMs ?? 0 };
  }
  exists(path: string): boolean {
    this.checkAlive("exists", path);
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
    return [...names];
  }
  mkdirp(dir: string): void {
    this.checkAlive("mkdir", dir);
    // Directories are treated as durable once made: the engine syncs their parent anyway.
    let d = dir;
    while (d && d !== "/" && d !== ".") {
      this.dirs.add(d);
      d = dirname(d);
    }
  }
  rename(fromPath: string, toPath: string): void {
    this.checkFault("rename", fromPath);
    const ino = this.entries.get(fromPath);
    if (!ino) throw osError("ENOENT", "rename", fromPath);
    this.entries.delete(fromPath);
    this.entries.set(toPath, ino);
  }
  remove(path: string): void {
    this.checkFault("remove", path);
    this.entries.delete(path);
  }
  syncDir(dir: string): void {
    this.checkFault("syncDir", dir);
    for (const path of [...this.durableEntries.keys()]) {
      if (dirname(path) === dir && !this.entries.has(path)) this.durableEntries.delete(path);
    }
    for (const [path, ino] of this.entries) {
      if (dirname(path) === dir) this.durableEntries.set(path, ino);
    }
  }
  /** Test helper: overwrite bytes in place (simulates bit rot); not part of `Vfs`. */
  corrupt(path: string, offsetBytes: number, bytes: Uint8Array): void {
    const ino = this.entries.get(path);
    if (!ino) throw osError("ENOENT", "corrupt", path);
    ino.data.set(bytes, offsetBytes);
    ino.synced = ino.data.slice(0, ino.sizeBytes);
  }
}
