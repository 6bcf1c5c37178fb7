import { describe, expect, test } from "bun:test";
import { CorruptionError } from "../../src/errors.ts";
import { encodeCheckedCbor } from "../../src/codec/checked_cbor.ts";
import { MANIFEST_FORMAT_VERSION, MANIFEST_HEADER_BYTES, MANIFEST_MAGIC, decodeManifest, encodeManifest } from "../../src/manifest/format.ts";
import type { ManifestData } from "../../src/manifest/format.ts";
import { loadManifest, saveManifest } from "../../src/manifest/store.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { mkdirpDurable } from "../../src/vfs/vfs.ts";

const m: ManifestData = {
  nextFileNo: 9,
  flushedSeq: 1234,
  tables: [{ fileNo: 3, sizeBytes: 4096, points: 100, tombstones: 1, minTs: -5, maxTs: 1_767_225_600_000, minSeq: 1, maxSeq: 1234 }],
};

describe("MANIFEST", () => {
  test("round trip", () => {
    expect(decodeManifest(encodeManifest(m))).toEqual(m);
  });
  test("ChecksumMismatch", () => {
    const b = encodeManifest(m);
    b[MANIFEST_HEADER_BYTES + 3]! ^= 1;
    expect(() => decodeManifest(b)).toThrow(/checksum mismatch in MANIFEST/);
  });
  test("BadMagic", () => {
    const b = encodeManifest(m);
    b[0] = 0x7b;
    expect(() => decodeManifest(b)).toThrow(/bad magic/);
  });
  test("TruncatedFile", () => {
    const b = encodeManifest(m);
    expect(() => decodeManifest(b.subarray(0, b.length - 1))).toThrow(CorruptionError);
    expect(() => decodeManifest(b.subarray(0, 3))).toThrow(/too short/);
  });
  test("MissingField: a well-formed payload without the required fields", () => {
    const bad = { nextFileNo: 1, flushedSeq: 0, tables: [{ fileNo: 1 } as never] };
    const b = encodeCheckedCbor(MANIFEST_MAGIC, MANIFEST_FORMAT_VERSION, bad);
    expect(() => decodeManifest(b)).toThrow(/lacks sizeBytes/);
    // ... and the writer refuses to produce one (it would stop the next open).
    expect(() => encodeManifest(bad)).toThrow(/could not be read back: table entry lacks sizeBytes/);
  });
  test("atomic replace: a power cut during a save leaves the old or the new manifest, never a mix", async () => {
    let fs = new MemFs();
    mkdirpDurable(fs, "/d"); // durable, or a power cut takes the directory
    await saveManifest(fs, "/d", m);
    // The rename is not made durable: a power cut brings back the old manifest.
    fs.failNext({ op: "syncDir", errno: "EIO" });
    await expect(saveManifest(fs, "/d", { ...m, flushedSeq: 99999 })).rejects.toThrow(/cannot replace MANIFEST/);
    fs = fs.powerCut();
    expect(loadManifest(fs, "/d")).toEqual(m);
    await saveManifest(fs, "/d", { ...m, flushedSeq: 5 });
    fs = fs.powerCut();
    expect(loadManifest(fs, "/d")?.flushedSeq).toBe(5);
  });
});
