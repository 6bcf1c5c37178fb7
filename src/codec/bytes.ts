// Byte-level building blocks shared by every format: little-endian fixed-width integers,
// LEB128 varints that stay exact up to 2^53 (JavaScript's safe integers), zigzag for signed
// values, and length-prefixed UTF-8. Readers bounds-check everything and throw
// `CorruptionError` instead of reading past the end: no input can crash a node.

import { CorruptionError } from "../errors.ts";

const TWO_32 = 4294967296;
const TWO_52 = 2 ** 52;
/** Bytes of the longest uvarint: 2^53-1 needs ceil(53 / 7) = 8. */
export const MAX_UVARINT_BYTES = 8;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

export function utf8Encode(s: string): Uint8Array {
  return textEncoder.encode(s);
}

export function utf8Length(s: string): number {
  // Fast path: ASCII strings (series keys almost always are).
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return textEncoder.encode(s).length;
  }
  return n;
}

/**
 * Growable output buffer.
 *
 * INVARIANT (the 2026-11 silent-zero bug): `buf` and `view` are replaced whenever the buffer
 * grows, that is on any `ensure`, `u8`...`f64`, `uvarint`, `svarint`, `raw` or `str`. Never
 * keep `buf`, `view`, or a `bytes()`/`bytesSince()` view across one of those calls: take them
 * again after the last write. A view returned by `bytes()` also shares memory with later
 * writes after `reset()` or a rollback of `lengthBytes`: copy it (`.slice()`) before the
 * writer is reused, or give the writer up.
 */
export class ByteWriter {
  buf: Uint8Array;
  view: DataView;
  lengthBytes = 0;
  constructor(initialCapacityBytes = 1024) {
    this.buf = new Uint8Array(initialCapacityBytes);
    this.view = new DataView(this.buf.buffer);
  }
  reset(): void {
    this.lengthBytes = 0;
  }
  ensure(extraBytes: number): void {
    const need = this.lengthBytes + extraBytes;
    if (need <= this.buf.length) return;
    // max(1, ...): a writer created with capacity 0 would otherwise double 0 forever.
    let cap = Math.max(1, this.buf.length * 2);
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.lengthBytes));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  /** A view of what was written so far (shares memory; copy before reuse). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.lengthBytes);
  }
  /**
   * A view of what was written from `startBytes` on (shares memory; copy before reuse): what
   * an encoder wrote into a writer that already held something, such as a caller's prefix.
   */
  bytesSince(startBytes: number): Uint8Array {
    return this.buf.subarray(startBytes, this.lengthBytes);
  }
  u8(v: number): void {
    if (!(v >= 0 && v <= 0xff) || !Number.isInteger(v)) throw new RangeError(`u8: ${v} is not an integer in 0..255`);
    this.ensure(1);
    this.buf[this.lengthBytes++] = v;
  }
  u16(v: number): void {
    if (!(v >= 0 && v <= 0xffff) || !Number.isInteger(v)) throw new RangeError(`u16: ${v} is not an integer in 0..65535`);
    this.ensure(2);
    this.view.setUint16(this.lengthBytes, v, true);
    this.lengthBytes += 2;
  }
  u32(v: number): void {
    if (!(v >= 0 && v < TWO_32) || !Number.isInteger(v)) throw new RangeError(`u32: ${v} is not an integer in 0..2^32-1`);
    this.ensure(4);
    this.view.setUint32(this.lengthBytes, v, true);
    this.lengthBytes += 4;
  }
  /** Unsigned integer up to 2^53-1 as 8 bytes little-endian. */
  u64(v: number): void {
    if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(v)) throw new RangeError(`u64: ${v} is not an integer in 0..2^53-1`);
    this.ensure(8);
    this.view.setUint32(this.lengthBytes, v % TWO_32, true);
    this.view.setUint32(this.lengthBytes + 4, Math.floor(v / TWO_32), true);
    this.lengthBytes += 8;
  }
  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.lengthBytes, v, true);
    this.lengthBytes += 8;
  }
  /**
   * Unsigned LEB128; exact for 0..2^53-1, which takes at most 8 bytes (ceil(53 / 7)).
   * INVARIANT: the buffer is grown once, before `b` is taken; nothing below may grow it
   * again, or the bytes would land in the old buffer (the 2026-11 silent-zero bug).
   */
  uvarint(v: number): void {
    if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(v)) {
      throw new RangeError(`uvarint: ${v} is not an integer in 0..2^53-1`);
    }
    this.ensure(MAX_UVARINT_BYTES);
    const b = this.buf;
    let p = this.lengthBytes;
    if (v < 0x80) {
      b[p++] = v;
    } else if (v < 0x80000000) {
      while (v >= 0x80) {
        b[p++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[p++] = v;
    } else {
      while (v >= 0x80) {
        b[p++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
      b[p++] = v;
    }
    this.lengthBytes = p;
  }
  /** Zigzag-encoded signed varint; exact for -2^52..2^52-1 (others throw RangeError). */
  svarint(v: number): void {
    // Checked here, not only in uvarint: zigzag maps 0.5 to 1, which would read back as -1.
    if (!Number.isInteger(v) || v < -TWO_52 || v >= TWO_52) throw new RangeError(`svarint: ${v} is not an integer in -2^52..2^52-1`);
    this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }
  raw(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.lengthBytes);
    this.lengthBytes += data.length;
  }
  /**
   * uvarint byte length, then UTF-8 bytes.
   * INVARIANT: one `ensure` covers the worst case (3 UTF-8 bytes per UTF-16 unit, plus the
   * longest length prefix) before `this.buf` is used; the long-string path copies the bytes
   * out (`tmp`) before calling `uvarint`/`raw`, which may grow and replace `this.buf`.
   */
  str(s: string): void {
    this.ensure(s.length * 3 + MAX_UVARINT_BYTES + 1);
    // Reserve one byte for the length; most strings here are < 128 bytes.
    const start = this.lengthBytes + 1;
    const { written } = textEncoder.encodeInto(s, this.buf.subarray(start));
    if (written < 0x80) {
      this.buf[this.lengthBytes] = written;
      this.lengthBytes = start + written;
    } else {
      const tmp = this.buf.slice(start, start + written);
      this.uvarint(written);
      this.raw(tmp);
    }
  }
}

/** Bounds-checked reader over a byte range. */
export class ByteReader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos: number;
  readonly end: number;
  /** For error messages: what is being read and where it sits in its file. */
  private readonly what: string;
  private readonly file: string | undefined;
  private readonly baseOffsetBytes: number;
  constructor(buf: Uint8Array, what = "data", file?: string, baseOffsetBytes = 0) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = 0;
    this.end = buf.length;
    this.what = what;
    this.file = file;
    this.baseOffsetBytes = baseOffsetBytes;
  }
  remaining(): number {
    return this.end - this.pos;
  }
  fail(message: string): never {
    throw new CorruptionError(this.what, message, this.file, this.baseOffsetBytes + this.pos);
  }
  need(n: number): void {
    if (this.pos + n > this.end) this.fail(`truncated ${this.what}: need ${n} bytes, ${this.end - this.pos} left`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    if (hi > 0x1fffff) this.fail("64-bit value exceeds 2^53");
    this.pos += 8;
    return hi * TWO_32 + lo;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  uvarint(): number {
    const b = this.buf;
    let p = this.pos;
    if (p >= this.end) this.fail(`truncated ${this.what}: varint past end`);
    let byte = b[p++]!;
    if (byte < 0x80) {
      this.pos = p;
      return byte;
    }
    let result = byte & 0x7f;
    let mul = 128;
    for (let i = 1; i < 8; i++) {
      if (p >= this.end) this.fail(`truncated ${this.what}: varint past end`);
      byte = b[p++]!;
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) {
        this.pos = p;
        if (result > Number.MAX_SAFE_INTEGER) this.fail("varint exceeds 2^53");
        return result;
      }
      mul *= 128;
    }
    this.fail("varint longer than 8 bytes");
  }
  svarint(): number {
    const z = this.uvarint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  str(): string {
    const n = this.uvarint();
    const bytes = this.bytes(n);
    try {
      return textDecoder.decode(bytes);
    } catch {
      this.fail("invalid UTF-8 in string");
    }
  }
}
