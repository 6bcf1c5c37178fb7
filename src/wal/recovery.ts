// Reads every WAL segment in order at start-up and hands each valid entry to the caller.
//
// A crash can leave a torn record at the end of the newest segment; a bad disk can damage
// any record. Either way recovery keeps every record before the first bad one, cuts the
// segment there (so later appends never sit behind garbage) and reports what it dropped.
// A segment whose header is damaged is renamed to `<name>.corrupt` and skipped.

import { CorruptionError, IoError } from "../errors.ts";
import { joinPath } from "../vfs/vfs.ts";
import type { Vfs } from "../vfs/vfs.ts";
import { decodeEntry } from "./batch.ts";
import type { WalEntry } from "./batch.ts";
import { SEGMENT_HEADER_BYTES, parseSegmentFileName, segmentFileName } from "./format.ts";
import { checkSegmentHeader, scanRecords } from "./record.ts";
import type { ScanProblem } from "./record.ts";

export interface RecoveryReport {
  file: string;
  offsetBytes: number;
  droppedBytes: number;
  kind: ScanProblem | "BadPayload";
}

export interface RecoveredSegment {
  segmentNo: number;
  sizeBytes: number;
  /** Highest sequence number in the segment, 0 when it holds no record. */
  maxSeq: number;
}

export interface RecoveryResult {
  segments: RecoveredSegment[];
  reports: RecoveryReport[];
}

/** Segment numbers present in `dir`, ascending. */
export function listSegments(vfs: Vfs, dir: string): number[] {
  const out: number[] = [];
  for (const name of vfs.list(dir)) {
    const no = parseSegmentFileName(name);
    if (no !== undefined) out.push(no);
  }
  return out.sort((a, b) => a - b);
}

export async function recoverWal(vfs: Vfs, dir: string, onEntry: (e: WalEntry) => void): Promise<RecoveryResult> {
  const segments: RecoveredSegment[] = [];
  const reports: RecoveryReport[] = [];
  for (const segmentNo of listSegments(vfs, dir)) {
    const name = segmentFileName(segmentNo);
    const path = joinPath(dir, name);
    let bytes: Uint8Array;
    try {
      bytes = vfs.readFile(path);
    } catch (e) {
      throw new IoError("wal", `cannot read ${name}`, e);
    }
    if (checkSegmentHeader(bytes, segmentNo)) {
      reports.push({ file: name, offsetBytes: 0, droppedBytes: bytes.length, kind: "BadSegmentHeader" });
      if (bytes.length < SEGMENT_HEADER_BYTES) {
        vfs.remove(path); // created but never written: nothing to keep
      } else {
        vfs.rename(path, `${path}.corrupt`);
      }
      vfs.syncDir(dir);
      continue;
    }
    const scan = scanRecords(bytes, SEGMENT_HEADER_BYTES);
    let validEnd = scan.validEndBytes;
    let problem: RecoveryReport["kind"] | undefined = scan.problem?.kind;
    let maxSeq = 0;
    for (const rec of scan.records) {
      let entry: WalEntry;
      try {
        entry = decodeEntry(rec.type, rec.payload, name, rec.offsetBytes);
      } catch (e) {
        if (!(e instanceof CorruptionError)) throw e;
        validEnd = rec.offsetBytes;
        problem = "BadPayload";
        break;
      }
      maxSeq = Math.max(maxSeq, entry.seq);
      onEntry(entry);
    }
    if (problem !== undefined) {
      reports.push({ file: name, offsetBytes: validEnd, droppedBytes: bytes.length - validEnd, kind: problem });
      const f = vfs.open(path, "append");
      try {
        f.truncate(validEnd);
        await f.datasync();
      } finally {
        f.close();
      }
    }
    segments.push({ segmentNo, sizeBytes: validEnd, maxSeq });
  }
  return { segments, reports };
}
