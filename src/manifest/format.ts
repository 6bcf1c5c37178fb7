// MANIFEST on-disk format. FROZEN numbers; the CBOR payload may gain fields (readers ignore
// unknown ones) but never change the meaning of existing ones.
//
// File `<dataDir>/MANIFEST`, replaced atomically (MANIFEST.tmp, fsync, rename, fsync dir):
//   u32 magic          MANIFEST_MAGIC, bytes "CHMF"
//   u16 version        MANIFEST_FORMAT_VERSION
//   u16 reserved       0
//   u32 payloadBytes
//   u32 crc32          CRC-32 (IEEE) of the payload
//   payload            CBOR map, see `ManifestData`

import { decode, encode } from "cborg";
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
  const payload = encode(m);
  const out = new Uint8Array(MANIFEST_HEADER_BYTES + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, MANIFEST_MAGIC, true);
  v.setUint16(4, MANIFEST_FORMAT_VERSION, true);
  v.setUint16(6, 0, true);
  v.setUint32(8, payload.length, true);
  v.setUint32(12, Bun.hash.crc32(payload), true);
  out.set(payload, MANIFEST_HEADER_BYTES);
  return out;
}

function isSafeInt(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x);
}

export function decodeManifest(bytes: Uint8Array, file = MANIFEST_FILE): ManifestData {
  const bad = (msg: string): never => {
    throw new CorruptionError("manifest", msg, file, 0);
  };
  if (bytes.length < MANIFEST_HEADER_BYTES) bad("file too short");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== MANIFEST_MAGIC) bad("bad magic number (not a CityHall manifest)");
  if (v.getUint16(4, true) !== MANIFEST_FORMAT_VERSION) bad(`unsupported version ${v.getUint16(4, true)}`);
  const len = v.getUint32(8, true);
  if (MANIFEST_HEADER_BYTES + len !== bytes.length) bad("payload length does not match file size");
  const payload = bytes.subarray(MANIFEST_HEADER_BYTES);
  if (Bun.hash.crc32(payload) !== v.getUint32(12, true)) bad("checksum mismatch");
  let m: unknown;
  try {
    m = decode(payload);
  } catch {
    bad("payload is not valid CBOR");
  }
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
