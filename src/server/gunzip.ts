// Gzip request bodies, decompressed with a ceiling. fflate's streaming Gunzip lets us stop
// as soon as the output passes the limit, so a small "zip bomb" cannot make the node
// allocate gigabytes (Bun.gunzipSync has no output limit).

import { Gunzip } from "fflate";
import { InvalidArgumentError } from "../errors.ts";

const CHUNK_BYTES = 64 * 1024;

export class BodyTooLargeError extends InvalidArgumentError {
  constructor(limitBytes: number) {
    super("http", `request body is larger than ${limitBytes} bytes (after decompression); send smaller batches or raise --max-body`);
  }
}

/**
 * Decompresses `data` (one buffer, or the pieces of a body as they arrived), refusing output
 * past `maxOutputBytes`, and returns the output in pieces (joining them would copy it once
 * more). `onOutput` sees the size of each piece as it is made and may throw to stop (the
 * node-wide in-flight budget does); its error, like BodyTooLargeError, is rethrown as is.
 */
export function gunzipBounded(data: Uint8Array | readonly Uint8Array[], maxOutputBytes: number, onOutput?: (bytes: number) => void): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let total = 0;
  let stop: unknown = null;
  const g = new Gunzip((chunk) => {
    total += chunk.length;
    try {
      if (total > maxOutputBytes) throw new BodyTooLargeError(maxOutputBytes);
      onOutput?.(chunk.length);
    } catch (e) {
      stop = e;
      throw e;
    }
    parts.push(chunk);
  });
  const inputs = data instanceof Uint8Array ? [data] : data;
  try {
    for (let k = 0; k < inputs.length; k++) {
      const input = inputs[k]!;
      const last = k === inputs.length - 1;
      for (let i = 0; i < input.length; i += CHUNK_BYTES) {
        g.push(input.subarray(i, Math.min(input.length, i + CHUNK_BYTES)), last && i + CHUNK_BYTES >= input.length);
      }
      if (last && input.length === 0) g.push(new Uint8Array(0), true);
    }
    if (inputs.length === 0) g.push(new Uint8Array(0), true);
  } catch (e) {
    if (stop !== null) throw stop;
    throw new InvalidArgumentError("http", `request body is not valid gzip: ${(e as Error).message}`);
  }
  return parts;
}
