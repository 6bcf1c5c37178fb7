// The production file system: node:fs as implemented by Bun. Reads and appends are
// synchronous (they hit the page cache and take microseconds); `datasync` runs on Bun's
// thread pool so the event loop keeps taking writes while a group commit is syncing.

import * as fs from "node:fs";
import type { OpenMode, Vfs, VfsFile } from "./vfs.ts";

class RealFile implements VfsFile {
  readonly path: string;
  private fd: number;
  private sizeBytes: number;
  private readonly readOnly: boolean;
  constructor(path: string, mode: OpenMode) {
    this.path = path;
    this.readOnly = mode === "read";
    const flags = mode === "read" ? "r" : mode === "append" ? "r+" : "w+";
    this.fd = fs.openSync(path, flags, 0o644);
    this.sizeBytes = fs.fstatSync(this.fd).size;
  }
  size(): number {
    // A read-only handle may watch a file another handle appends to (a WAL segment being
    // shipped to replicas): ask the OS. A writable handle knows its own size.
    return this.readOnly ? fs.fstatSync(this.fd).size : this.sizeBytes;
  }
  read(buf: Uint8Array, positionBytes: number): number {
    return fs.readSync(this.fd, buf, 0, buf.length, positionBytes);
  }
  append(data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const n = fs.writeSync(this.fd, data, done, data.length - done, this.sizeBytes + done);
      done += n;
    }
    this.sizeBytes += data.length;
  }
  truncate(sizeBytes: number): void {
    fs.ftruncateSync(this.fd, sizeBytes);
    this.sizeBytes = sizeBytes;
  }
  datasync(): Promise<void> {
    return new Promise((resolve, reject) => fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
  }
  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

export class RealFs implements Vfs {
  open(path: string, mode: OpenMode): VfsFile {
    return new RealFile(path, mode);
  }
  readFile(path: string): Uint8Array {
    return new Uint8Array(fs.readFileSync(path));
  }
  exists(path: string): boolean {
    return fs.existsSync(path);
  }
  stat(path: string): { sizeBytes: number; mtimeMs: number } {
    const st = fs.statSync(path);
    return { sizeBytes: st.size, mtimeMs: st.mtimeMs };
  }
  list(dir: string): string[] {
    return fs.readdirSync(dir);
  }
  mkdirp(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
  }
  rename(fromPath: string, toPath: string): void {
    fs.renameSync(fromPath, toPath);
  }
  remove(path: string): void {
    fs.rmSync(path, { force: true });
  }
  syncDir(dir: string): void {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}
