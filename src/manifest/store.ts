// Loads and atomically replaces the MANIFEST file.

import { IoError } from "../errors.ts";
import { joinPath, writeFileAtomic } from "../vfs/vfs.ts";
import type { Vfs } from "../vfs/vfs.ts";
import { MANIFEST_FILE, decodeManifest, encodeManifest } from "./format.ts";
import type { ManifestData } from "./format.ts";

export function emptyManifest(): ManifestData {
  return { nextFileNo: 1, flushedSeq: 0, tables: [] };
}

/** The manifest in `dir`, or undefined when the directory has none (a new database). */
export function loadManifest(vfs: Vfs, dir: string): ManifestData | undefined {
  const path = joinPath(dir, MANIFEST_FILE);
  if (!vfs.exists(path)) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = vfs.readFile(path);
  } catch (e) {
    throw new IoError("manifest", `cannot read ${path}`, e);
  }
  return decodeManifest(bytes, path);
}

export async function saveManifest(vfs: Vfs, dir: string, m: ManifestData): Promise<void> {
  try {
    await writeFileAtomic(vfs, joinPath(dir, MANIFEST_FILE), encodeManifest(m));
  } catch (e) {
    throw new IoError("manifest", "cannot replace MANIFEST", e);
  }
}
