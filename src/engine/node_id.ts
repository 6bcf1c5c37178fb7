// Every data directory has an identity, NODE_ID: a leader's id (replicas check they follow
// the leader they started with) and a replica's default replica id. Created once,
// atomically; never changed.

import { InvalidArgumentError } from "../errors.ts";
import { joinPath, writeFileAtomic } from "../vfs/vfs.ts";
import type { Vfs } from "../vfs/vfs.ts";

const NODE_ID_FILE = "NODE_ID";

export async function readOrCreateNodeId(vfs: Vfs, dir: string): Promise<string> {
  const path = joinPath(dir, NODE_ID_FILE);
  if (vfs.exists(path)) {
    const id = new TextDecoder().decode(vfs.readFile(path)).trim();
    if (/^[0-9a-f]{16,64}$/.test(id)) return id;
    throw new InvalidArgumentError("db", `${path} does not hold a node id; restore it from a backup or remove it to make a new identity`);
  }
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  const id = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  await writeFileAtomic(vfs, path, new TextEncoder().encode(id + "\n"));
  return id;
}
