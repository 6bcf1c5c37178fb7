// A file system for tests whose fdatasync completes on a later event-loop turn.
import type { MemFs } from "../src/vfs/mem_fs.ts";
import type { OpenMode, Vfs, VfsFile } from "../src/vfs/vfs.ts";

/**
 * MemFs whose fdatasync takes until the next event-loop turn, as a real one (on the thread
 * pool) does; MemFs's own completes within the same turn, so code that does not wait for it
 * would still find its bytes synced.
 */
export class SlowSyncFs implements Vfs {
  constructor(readonly mem: MemFs) {}
  open(path: string, mode: OpenMode): VfsFile {
    const f = this.mem.open(path, mode);
    return {
      path: f.path,
      size: () => f.size(),
      read: (buf, positionBytes) => f.read(buf, positionBytes),
      append: (data) => f.append(data),
      truncate: (sizeBytes) => f.truncate(sizeBytes),
      datasync: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        await f.datasync();
      },
      close: () => f.close(),
    };
  }
  readFile = (path: string) => this.mem.readFile(path);
  exists = (path: string) => this.mem.exists(path);
  stat = (path: string) => this.mem.stat(path);
  list = (dir: string) => this.mem.list(dir);
  mkdirp = (dir: string) => this.mem.mkdirp(dir);
  rename = (fromPath: string, toPath: string) => this.mem.rename(fromPath, toPath);
  remove = (path: string) => this.mem.remove(path);
  syncDir = (dir: string) => this.mem.syncDir(dir);
}
