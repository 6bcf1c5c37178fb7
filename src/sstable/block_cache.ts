// LRU cache of decoded data blocks, shared by all tables of a database. Keyed by
// (fileNo, block index); bounded by the decoded blocks' approximate memory cost.

import type { DecodedBlock } from "./block_reader.ts";

export class BlockCache {
  private readonly map = new Map<string, DecodedBlock>();
  private usedBytes = 0;
  hits = 0;
  misses = 0;
  constructor(private readonly capacityBytes: number) {}

  get(fileNo: number, blockIndex: number): DecodedBlock | undefined {
    const k = `${fileNo}:${blockIndex}`;
    const b = this.map.get(k);
    if (b === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Re-insert to mark as most recently used (Map keeps insertion order).
    this.map.delete(k);
    this.map.set(k, b);
    return b;
  }

  put(fileNo: number, blockIndex: number, block: DecodedBlock): void {
    if (block.sizeBytes > this.capacityBytes) return;
    const k = `${fileNo}:${blockIndex}`;
    const old = this.map.get(k);
    if (old) {
      this.usedBytes -= old.sizeBytes;
      this.map.delete(k);
    }
    this.map.set(k, block);
    this.usedBytes += block.sizeBytes;
    for (const [key, b] of this.map) {
      if (this.usedBytes <= this.capacityBytes) break;
      this.map.delete(key);
      this.usedBytes -= b.sizeBytes;
    }
  }

  evictFile(fileNo: number): void {
    const prefix = `${fileNo}:`;
    for (const [key, b] of this.map) {
      if (key.startsWith(prefix)) {
        this.map.delete(key);
        this.usedBytes -= b.sizeBytes;
      }
    }
  }

  get sizeBytes(): number {
    return this.usedBytes;
  }
}
