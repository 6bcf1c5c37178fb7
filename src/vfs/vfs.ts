// The file-system interface every byte of CityHall's storage goes through.
//
// Why an interface: tests swap in `MemFs`, which remembers what was synced and can
// simulate a power cut (drop every byte and directory entry not yet made durable) or
// fail an operation with ENOSPC/EIO. Product code never checks which one it has.
//
// Durability contract (the same one POSIX gives, stated conservatively):
// - bytes written to a file survive a power cut only after `datasync()` on that file;
// - a created, renamed or removed directory entry (a new directory included) survives only
//   after `syncDir()` on its parent directory (see `mkdirpDurable`).

export interface VfsFile {
  readonly path: string;
  /** Current length in bytes, including bytes not yet synced. */
  size(): number;
  /** Reads up to `buf.length` bytes at `positionBytes`; returns how many were read. */
  read(buf: Uint8Array, positionBytes: number): number;
  /** Appends all of `data` at the end of the file (handed to the OS, not yet durable). */
  append(data: Uint8Array): void;
  /** Cuts the file to `sizeBytes` (used to drop a torn WAL tail or a failed append). */
  truncate(sizeBytes: number): void;
  /** Makes every appended byte durable. Runs off the event loop for the real file system. */
  datasync(): Promise<void>;
  close(): void;
}

export type OpenMode =
  | "read" // existing file, read only
  | "append" // existing file, reads and appends
  | "create"; // new or truncated file, reads and appends

export interface Vfs {
  open(path: string, mode: OpenMode): VfsFile;
  /** Whole-file read; throws ENOENT like the OS when the file is missing. */
  readFile(path: string): Uint8Array;
  exists(path: string): boolean;
  /** Size and last modification time; throws ENOENT like the OS when missing. */
  stat(path: string): { sizeBytes: number; mtimeMs: number };
  /** Names (not paths) of the entries in `dir`, unsorted. */
  list(dir: string): string[];
  mkdirp(dir: string): void;
  rename(fromPath: string, toPath: string): void;
  remove(path: string): void;
  /** Makes the entries of `dir` (creations, renames, removals) durable. */
  syncDir(dir: string): void;
}

/**
 * Replaces `path` atomically: write a temp file, sync it, rename it over `path`, sync the
 * directory. After a crash at any instant the file holds either the old or the new bytes.
 */
export async function writeFileAtomic(vfs: Vfs, path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmpPath = `${path}.tmp`;
  const f = vfs.open(tmpPath, "create");
  try {
    f.append(data);
    await f.datasync();
  } finally {
    f.close();
  }
  vfs.rename(tmpPath, path);
  vfs.syncDir(dir);
}

/**
 * `mkdirp` that survives a power cut: a new directory's entry lives in its parent, so the
 * parent of every directory this call creates is synced (POSIX promises nothing otherwise).
 */
export function mkdirpDurable(vfs: Vfs, dir: string): void {
  const created: string[] = [];
  for (let d = dir; d !== "/" && d !== "." && d !== "" && !vfs.exists(d); d = dirname(d)) created.push(d);
  vfs.mkdirp(dir);
  // Deepest first is fine: each sync covers one entry, and all are done before we return.
  for (const d of created) vfs.syncDir(dirname(d));
}

export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  if (i === 0) return "/";
  return path.slice(0, i);
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}
