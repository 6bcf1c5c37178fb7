// Frame encoding and incremental decoding (layout in replication/format.ts). The decoder
// accepts bytes in whatever pieces TCP delivers and never trusts a length before checking
// it against MAX_FRAME_PAYLOAD_BYTES, so a hostile peer cannot make it allocate gigabytes.

import { CityHallError } from "../errors.ts";
import { FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES } from "./format.ts";

export class ProtocolError extends CityHallError {
  constructor(message: string) {
    super("CORRUPTION", "replication", message);
    this.name = "ProtocolError";
  }
}

export interface Frame {
  type: number;
  payload: Uint8Array;
}

/** Builds a frame around `payload` (copied). */
export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME_PAYLOAD_BYTES) throw new RangeError(`frame payload of ${payload.length} bytes exceeds the maximum`);
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, payload.length, true);
  out[8] = type;
  out.set(payload, FRAME_HEADER_BYTES);
  v.setUint32(4, Bun.hash.crc32(out.subarray(8)), true);
  return out;
}

export class FrameDecoder {
  private buf = new Uint8Array(64 * 1024);
  private start = 0;
  private end = 0;
  /**
   * The largest payload accepted. The leader lowers it to PREAUTH_MAX_FRAME_PAYLOAD_BYTES
   * until a peer's HELLO passed, so neither a length header nor buffered bytes can make it
   * allocate more than that for an unauthenticated peer.
   */
  maxPayloadBytes = MAX_FRAME_PAYLOAD_BYTES;

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    if (this.end - this.start + chunk.length > FRAME_HEADER_BYTES + this.maxPayloadBytes + FRAME_HEADER_BYTES) {
      // More bytes than one frame of the allowed size (and the next header) can hold: check
      // the pending header first, so the error names the real cause.
      this.checkPendingLength();
      if (this.maxPayloadBytes < MAX_FRAME_PAYLOAD_BYTES) {
        throw new ProtocolError(`${this.end - this.start + chunk.length} bytes sent before the handshake completed (at most ${this.maxPayloadBytes} are accepted)`);
      }
    }
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start;
      if (live + chunk.length <= this.buf.length && this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        let cap = this.buf.length;
        while (cap < live + chunk.length) cap *= 2;
        const next = new Uint8Array(cap);
        next.set(this.buf.subarray(this.start, this.end));
        this.buf = next;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** The next complete frame, or null if more bytes are needed. Throws ProtocolError. */
  next(): Frame | null {
    const avail = this.end - this.start;
    if (avail < FRAME_HEADER_BYTES) return null;
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.start, FRAME_HEADER_BYTES);
    const len = v.getUint32(0, true);
    if (len > this.maxPayloadBytes) throw new ProtocolError(`frame length ${len} exceeds the maximum of ${this.maxPayloadBytes}`);
    if (avail < FRAME_HEADER_BYTES + len) return null;
    const crc = v.getUint32(4, true);
    const type = this.buf[this.start + 8]!;
    if (Bun.hash.crc32(this.buf.subarray(this.start + 8, this.start + FRAME_HEADER_BYTES + len)) !== crc) {
      throw new ProtocolError(`frame checksum mismatch (type ${type}, ${len} bytes)`);
    }
    // Copy: the buffer is reused for later frames.
    const payload = this.buf.slice(this.start + FRAME_HEADER_BYTES, this.start + FRAME_HEADER_BYTES + len);
    this.start += FRAME_HEADER_BYTES + len;
    if (this.start === this.end) this.start = this.end = 0;
    return { type, payload };
  }

  private checkPendingLength(): void {
    if (this.end - this.start < 4) return;
    const len = new DataView(this.buf.buffer, this.buf.byteOffset + this.start, 4).getUint32(0, true);
    if (len > this.maxPayloadBytes) throw new ProtocolError(`frame length ${len} exceeds the maximum of ${this.maxPayloadBytes}`);
  }

  /** Bytes received but not yet returned as frames. */
  get pendingBytes(): number {
    return this.end - this.start;
  }
}
