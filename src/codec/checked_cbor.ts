// A small checked container for CBOR documents on disk (the manifest and the replication
// state files). Layout, little-endian:
//   u32 magic | u16 version | u16 reserved (0) | u32 payloadBytes | u32 crc32(payload) | CBOR payload
// Each user fixes its own magic and version in its format.ts and marks them frozen.
// Documents hold integers, strings, booleans, null, arrays and maps; cborg writes integral
// floats as CBOR integers, so a -0 reads back as 0 (NaN and ±Infinity survive).

import { decode, encode } from "cborg";
import { CorruptionError } from "../errors.ts";

export const CHECKED_CBOR_HEADER_BYTES = 16;

export function encodeCheckedCbor(magic: number, version: number, doc: unknown): Uint8Array {
  const payload = encode(doc);
  const out = new Uint8Array(CHECKED_CBOR_HEADER_BYTES + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, magic, true);
  v.setUint16(4, version, true);
  v.setUint16(6, 0, true);
  v.setUint32(8, payload.length, true);
  v.setUint32(12, Bun.hash.crc32(payload), true);
  out.set(payload, CHECKED_CBOR_HEADER_BYTES);
  return out;
}

/** Checks the container and returns the decoded CBOR value (untyped: callers validate). */
export function decodeCheckedCbor(bytes: Uint8Array, magic: number, version: number, component: string, file: string, what: string): unknown {
  const bad = (msg: string): never => {
    throw new CorruptionError(component, msg, file, 0);
  };
  if (bytes.length < CHECKED_CBOR_HEADER_BYTES) bad("file too short");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== magic) bad(`bad magic number (not a CityHall ${what})`);
  if (v.getUint16(4, true) !== version) bad(`unsupported version ${v.getUint16(4, true)}`);
  const len = v.getUint32(8, true);
  if (CHECKED_CBOR_HEADER_BYTES + len !== bytes.length) bad("payload length does not match file size");
  const payload = bytes.subarray(CHECKED_CBOR_HEADER_BYTES);
  if (Bun.hash.crc32(payload) !== v.getUint32(12, true)) bad("checksum mismatch");
  try {
    return decode(payload);
  } catch {
    return bad("payload is not valid CBOR");
  }
}
