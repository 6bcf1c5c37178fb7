// One process per data directory. The LOCK file holds the owner's pid; a lock whose owner
// is gone (killed, power cut) is taken over. This guards against the common mistake of
// starting two daemons on one directory, which would interleave WAL writes.

import { CityHallError } from "../errors.ts";
import { joinPath } from "../vfs/vfs.ts";
import type { Vfs } from "../vfs/vfs.ts";

const LOCK_FILE = "LOCK";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}

export function acquireLock(vfs: Vfs, dir: string): void {
  const path = joinPath(dir, LOCK_FILE);
  if (vfs.exists(path)) {
    let owner = NaN;
    try {
      owner = Number(new TextDecoder().decode(vfs.readFile(path)).trim());
    } catch {
      // Unreadable lock: treat as stale.
    }
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new CityHallError(
        "IO",
        "db",
        `data directory ${dir} is in use by process ${owner}; stop that process or pick another --data-dir`,
      );
    }
  }
  const f = vfs.open(path, "create");
  try {
    f.append(new TextEncoder().encode(`${process.pid}\n`));
  } finally {
    f.close();
  }
}

export function releaseLock(vfs: Vfs, dir: string): void {
  try {
    vfs.remove(joinPath(dir, LOCK_FILE));
  } catch {
    // Nothing to release.
  }
}
