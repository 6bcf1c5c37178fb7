// Opening the manifest's SSTables at start-up, with damaged ones quarantined.
//
// A table whose footer, index, tombstone or bloom block fails its checks cannot be read at
// all; refusing to start for it would make every other table unreadable too. So the file
// is renamed to `sst/<name>.quarantined` (never deleted: it may still be repaired or
// inspected), the manifest stops naming it, and the loss is reported loudly: its points
// are no longer readable, and the WAL no longer holds them (they were flushed).
//
// The steps are rename, sync the directory, save the manifest. A crash between the rename
// and the manifest save leaves the manifest naming a file that is gone with its
// `.quarantined` copy beside it: the next open finishes that quarantine (drops the table
// from the manifest, reports it) instead of refusing to start. The manifest is NOT saved
// first: the open deletes every .sst file the manifest does not name, so a crash after such
// a save would delete the damaged table instead of keeping it. A listed table missing with
// no quarantined copy is real data loss: the open stops and says so.

import type { Logger } from "./options.ts";
import { CorruptionError } from "../errors.ts";
import type { ManifestData, TableMeta } from "../manifest/format.ts";
import { saveManifest } from "../manifest/store.ts";
import type { BlockCache } from "../sstable/block_cache.ts";
import { sstFileName } from "../sstable/format.ts";
import { TableReader } from "../sstable/table_reader.ts";
import { joinPath } from "../vfs/vfs.ts";
import type { Vfs } from "../vfs/vfs.ts";

export const QUARANTINE_SUFFIX = ".quarantined";

export interface QuarantineReport {
  file: string;
  movedTo: string;
  reason: string;
  /** What the manifest knew of the table: now unreadable. */
  points: number;
  minTs: number;
  maxTs: number;
  minSeq: number;
  maxSeq: number;
}

export interface OpenedTables {
  manifest: ManifestData;
  tables: TableReader[];
  quarantined: QuarantineReport[];
}

/** Opens every table the manifest lists; quarantines the damaged ones (see above). */
export async function openTables(vfs: Vfs, dir: string, sstDir: string, manifest: ManifestData, cache: BlockCache, log: Logger): Promise<OpenedTables> {
  const tables: TableReader[] = [];
  const kept: TableMeta[] = [];
  const quarantined: QuarantineReport[] = [];
  try {
    for (const t of manifest.tables) {
      const name = sstFileName(t.fileNo);
      const path = joinPath(sstDir, name);
      const movedTo = name + QUARANTINE_SUFFIX;
      if (!vfs.exists(path)) {
        if (!vfs.exists(joinPath(sstDir, movedTo))) throw missingTable(sstDir, name, t);
        // A crash fell between an earlier quarantine's rename and its manifest save.
        const r: QuarantineReport = { file: name, movedTo, reason: "quarantined by an earlier start that stopped before updating the manifest", points: t.points, minTs: t.minTs, maxTs: t.maxTs, minSeq: t.minSeq, maxSeq: t.maxSeq };
        quarantined.push(r);
        log.error(describeQuarantine(r));
        continue;
      }
      try {
        tables.push(TableReader.open(vfs, path, t.fileNo, cache));
        kept.push(t);
      } catch (e) {
        if (!(e instanceof CorruptionError)) throw e;
        vfs.rename(path, joinPath(sstDir, movedTo));
        const r: QuarantineReport = { file: name, movedTo, reason: e.message, points: t.points, minTs: t.minTs, maxTs: t.maxTs, minSeq: t.minSeq, maxSeq: t.maxSeq };
        quarantined.push(r);
        log.error(describeQuarantine(r));
      }
    }
  } catch (e) {
    for (const t of tables) t.close();
    throw e;
  }
  if (quarantined.length === 0) return { manifest, tables, quarantined };
  vfs.syncDir(sstDir);
  const next = { ...manifest, tables: kept };
  try {
    await saveManifest(vfs, dir, next);
  } catch (e) {
    for (const t of tables) t.close();
    throw e;
  }
  return { manifest: next, tables, quarantined };
}

export function describeQuarantine(r: QuarantineReport): string {
  return (
    `cityhall/sstable: DATA LOSS: ${r.file} is damaged (${r.reason}); moved to sst/${r.movedTo} and dropped from the manifest so the node can start. ` +
    `Its ${r.points} points (ts ${r.minTs}..${r.maxTs}, write batches seq ${r.minSeq}..${r.maxSeq}) are no longer readable here; ` +
    `restore them from a replica or a backup. The file is kept, never deleted.`
  );
}

/** Not caught by the quarantine above: it is thrown outside the per-table try. */
function missingTable(sstDir: string, name: string, t: TableMeta): CorruptionError {
  return new CorruptionError(
    "sstable",
    `DATA LOSS: the manifest lists ${joinPath(sstDir, name)} (${t.points} points, ts ${t.minTs}..${t.maxTs}, write batches seq ${t.minSeq}..${t.maxSeq}) but the file is missing ` +
      `and there is no ${name}${QUARANTINE_SUFFIX} beside it; the node will not start without it. Put the file back (from a backup or a copy of this directory), ` +
      `or, to accept the loss, move this data directory aside and restore it from a replica or a backup`,
  );
}
