// MANIFEST on-disk format. FROZEN numbers; the CBOR payload may gain fields (readers ignore
// unknown ones) but never change the meaning of existing ones.
//
// File `<dataDir>/MANIFEST`, replaced atomically (MANIFEST.tmp, fsync, rename, fsync dir),
// in the checked CBOR container of codec/checked_cbor.ts:
//   u32 magic          MANIFEST_MAGIC, bytes "CHMF"
//   u16 version        MANIFEST_FORMAT_VERSION
//   u16 reserved       0
//   u32 payloadBytes
//   u32 crc32          CRC-32 (IEEE) of the payload
//   payload            CBOR map, see `ManifestData`

import { decodeCheckedCbor, encodeCheckedCbor } from "../codec/checked_cbor.ts";
import { CorruptionError } from "../errors.ts";

export const MANIFEST_MAGIC = 0x464d4843; // FROZEN: "CHMF" as little-endian u32
export const MANIFEST_FORMAT_VERSION = 1; // FROZEN
export const MANIFEST_HEADER_BYTES = 16; // FROZEN
export const MANIFEST_FILE = "MANIFEST";

export interface TableMeta {
  fileNo: number;
  sizeBytes: number;
  points: number;
  tombstones: number;
  minTs: number;
  maxTs: number;
  /** Sequence numbers of the writes this table holds. */
  minSeq: number;
  maxSeq: number;
}

export interface ManifestData {
  /** Next number for a new SSTable file. */
  nextFileNo: number;
  /** Every write with seq <= flushedSeq is in an SSTable; WAL replay starts after it. */
  flushedSeq: number;
  /** Live tables, oldest first: a newer table's points and tombstones win over older ones. */
  tables: TableMeta[];
}

const TABLE_FIELDS = ["fileNo", "sizeBytes", "points", "tombstones", "minTs", "maxTs", "minSeq", "maxSeq"] as const;

function isSafeInt(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x);
}

/** What makes `o` not a manifest the reader accepts, or undefined. */
function manifestProblem(o: Partial<ManifestData> | null | undefined): string | undefined {
  if (!o || typeof o !== "object" || !isSafeInt(o.nextFileNo) || !isSafeInt(o.flushedSeq) || !Array.isArray(o.tables)) {
    return "payload lacks nextFileNo, flushedSeq or tables";
  }
  for (const t of o.tables as unknown[]) {
    const x = t as TableMeta;
    for (const f of TABLE_FIELDS) if (!isSafeInt(x?.[f])) return `table entry lacks ${f}`;
  }
  return undefined;
}

/**
 * Refuses (RangeError) a manifest the reader would refuse: written, it would stop the next
 * open. Checking here costs a loop over a few hundred tables at most.
 */
export function encodeManifest(m: ManifestData): Uint8Array {
  const problem = manifestProblem(m);
  if (problem) throw new RangeError(`refusing to write a MANIFEST that could not be read back: ${problem}`);
  return encodeCheckedCbor(MANIFEST_MAGIC, MANIFEST_FORMAT_VERSION, m);
}

export function decodeManifest(bytes: Uint8Array, file = MANIFEST_FILE): ManifestData {
  const m = decodeCheckedCbor(bytes, MANIFEST_MAGIC, MANIFEST_FORMAT_VERSION, "manifest", file, "manifest");
  const o = m as Partial<ManifestData>;
  const problem = manifestProblem(o);
  if (problem) throw new CorruptionError("manifest", problem, file, 0);
  const tables: TableMeta[] = [];
  for (const x of o.tables as TableMeta[]) {
    tables.push({ fileNo: x.fileNo, sizeBytes: x.sizeBytes, points: x.points, tombstones: x.tombstones, minTs: x.minTs, maxTs: x.maxTs, minSeq: x.minSeq, maxSeq: x.maxSeq });
  }
  return { nextFileNo: o.nextFileNo!, flushedSeq: o.flushedSeq!, tables };
}
