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

export function encodeManifest(m: ManifestData): Uint8Array {
  return encodeCheckedCbor(MANIFEST_MAGIC, MANIFEST_FORMAT_VERSION, m);
}

function isSafeInt(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x);
}

export function decodeManifest(bytes: Uint8Array, file = MANIFEST_FILE): ManifestData {
  const bad = (msg: string): never => {
    throw new CorruptionError("manifest", msg, file, 0);
  };
  const m = decodeCheckedCbor(bytes, MANIFEST_MAGIC, MANIFEST_FORMAT_VERSION, "manifest", file, "manifest");
  const o = m as Partial<ManifestData>;
  if (!o || typeof o !== "object" || !isSafeInt(o.nextFileNo) || !isSafeInt(o.flushedSeq) || !Array.isArray(o.tables)) {
    bad("payload lacks nextFileNo, flushedSeq or tables");
  }
  const tables: TableMeta[] = [];
  for (const t of o.tables as unknown[]) {
    const x = t as TableMeta;
    for (const f of ["fileNo", "sizeBytes", "points", "tombstones", "minTs", "maxTs", "minSeq", "maxSeq"] as const) {
      if (!isSafeInt(x?.[f])) bad(`table entry lacks ${f}`);
    }
    tables.push({ fileNo: x.fileNo, sizeBytes: x.sizeBytes, points: x.points, tombstones: x.tombstones, minTs: x.minTs, maxTs: x.maxTs, minSeq: x.minSeq, maxSeq: x.maxSeq });
  }
  return { nextFileNo: o.nextFileNo!, flushedSeq: o.flushedSeq!, tables };
}
