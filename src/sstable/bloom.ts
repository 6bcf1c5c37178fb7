// Bloom filter over series keys (layout and hash in sstable/format.ts). With 10 bits a key
// and 7 probes the false-positive rate is about 0.8%.

import { ByteReader, ByteWriter } from "../codec/bytes.ts";

export function bloomHash(key: string): number {
  return Bun.hash.murmur32v3(key) >>> 0;
}

/** The bloom block contents (a copy); written after whatever `w`, if given, holds. */
export function buildBloom(hashes: readonly number[], bitsPerKey: number, into?: ByteWriter): Uint8Array {
  const probes = Math.max(1, Math.min(30, Math.round(bitsPerKey * 0.69)));
  const nBits = Math.max(64, hashes.length * bitsPerKey);
  const bits = new Uint8Array(Math.ceil(nBits / 8));
  for (const h0 of hashes) {
    let h = h0;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < probes; j++) {
      const bit = h % nBits;
      bits[bit >>> 3]! |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }
  const w = into ?? new ByteWriter(bits.length + 16);
  const start = w.lengthBytes;
  w.u8(probes);
  w.uvarint(nBits);
  w.raw(bits);
  return w.bytesSince(start).slice();
}

export class BloomFilter {
  private readonly probes: number;
  private readonly nBits: number;
  private readonly bits: Uint8Array;
  constructor(contents: Uint8Array, file?: string) {
    const r = new ByteReader(contents, "sstable", file);
    this.probes = r.u8();
    this.nBits = r.uvarint();
    if (this.probes < 1 || this.probes > 30 || this.nBits < 1) r.fail("bad bloom filter parameters");
    this.bits = r.bytes(Math.ceil(this.nBits / 8));
  }
  mayContain(hash: number): boolean {
    let h = hash;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < this.probes; j++) {
      const bit = h % this.nBits;
      if ((this.bits[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
      h = (h + delta) >>> 0;
    }
    return true;
  }
}
