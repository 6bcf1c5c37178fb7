// Reads every WAL segment in order at start-up and hands each valid entry to the caller.
//
// Two kinds of damage, told apart because they mean different things:
// - A torn tail: a crash mid-append leaves a partial record (or zeros, or garbage) at the
//   end of the NEWEST segment with no valid record after it. Nothing acknowledged is in it
//   (a write is acknowledged only once its record is durable), so it is cut off and
//   reported.
// - Corruption: a bad record FOLLOWED BY VALID ONES (in the same segment or in a later
//   one), a bad record anywhere in an older segment, or a damaged segment header. The bad
//   bytes held acknowledged writes. Recovery then refuses (WalCorruptionError, naming file,
//   offset, bytes and the fix) unless told to salvage: then every valid record before and
//   after the damage is replayed, and the segment is left in place for the caller to move
//   aside (`<name>.corrupt-<time>`, never deleted) once the replayed writes are flushed.
//
// After damage the scan resynchronises on the next offset that holds a whole valid record
// (length in range, known type, CRC match, a plausible sequence number). Sequence numbers
// are consecutive, so the gap between the last good record before the damage and the first
// one after it is exactly the writes lost (reported as `lostSeqs`).
//
// Nothing is modified on disk before the decision to start is made: a refusal leaves
// every byte as it was.

import { CorruptionError, IoError } from "../errors.ts";
import { joinPath } from "../vfs/vfs.ts";
import type { Vfs } from "../vfs/vfs.ts";
import { decodeEntry } from "./batch.ts";
import type { WalEntry } from "./batch.ts";
import {
  MAX_RECORD_PAYLOAD_BYTES,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  isKnownRecordType,
  parseSegmentFileName,
  segmentFileName,
} from "./format.ts";
import { checkSegmentHeader, scanRecords } from "./record.ts";
import type { ScanProblem, ScannedRecord } from "./record.ts";

export interface RecoveryReport {
  file: string;
  offsetBytes: number;
  droppedBytes: number;
  kind: ScanProblem | "BadPayload";
  /** "torn-tail": cut (a crash mid-append). "corruption": damage with valid records after it. */
  damage: "torn-tail" | "corruption";
  /**
   * Sequence numbers of the write batches that were in the damaged bytes, as far as the
   * records around the damage tell: `from` is unknown when no record precedes it, `to` when
   * none follows it.
   */
  lostSeqs?: { from?: number; to?: number };
  /** Where the damaged segment was moved (salvage), relative to the WAL directory. */
  movedTo?: string;
}

export interface RecoveredSegment {
  segmentNo: number;
  sizeBytes: number;
  /** Highest sequence number in the segment, 0 when it holds no record. */
  maxSeq: number;
}

export interface RecoveryResult {
  /** Every segment left in the WAL directory, including the salvaged ones. */
  segments: RecoveredSegment[];
  reports: RecoveryReport[];
  /** Salvaged segments: their valid records were replayed; move them aside once flushed. */
  salvaged: number[];
}

export interface RecoveryOptions {
  /** Replay around corruption instead of refusing to start. */
  salvage?: boolean;
  /** Writes at or below it are in SSTables: losing their records loses nothing. */
  flushedSeq?: number;
  /** What to tell the user to do when refusing (default: restart with --salvage). */
  fix?: string;
}

export const SALVAGE_FIX =
  "Keep a copy of the data directory, then restart with --salvage (DbOptions.salvage): every valid record before and after the damage is kept, " +
  "the damaged segment is moved aside as <name>.corrupt-<time>, and what was lost is reported";

/** Mid-log damage found and salvage not asked for: the node must not start. */
export class WalCorruptionError extends CorruptionError {
  readonly reports: RecoveryReport[];
  constructor(reports: RecoveryReport[], flushedSeq: number, fix: string = SALVAGE_FIX) {
    const first = reports[0]!;
    const lines = reports.map((r) => describeRecoveryReport(r, flushedSeq)).join("; ");
    super(
      "wal",
      `the write-ahead log is damaged in the middle, not just at its end (${lines}); refusing to start so nothing is lost silently. ${fix}`,
      first.file,
      first.offsetBytes,
    );
    this.name = "WalCorruptionError";
    this.reports = reports;
  }
}

/** One line for the log: where, how much, which writes. */
export function describeRecoveryReport(r: RecoveryReport, flushedSeq: number): string {
  const what = r.damage === "torn-tail" ? "torn tail cut" : "corruption";
  let seqs = "";
  if (r.damage === "torn-tail") {
    // A torn record was never acknowledged (with --sync always): a crash cut its append.
    if (r.lostSeqs?.from !== undefined) seqs = `, a partial write from seq ${r.lostSeqs.from} (never acknowledged under --sync always)`;
  } else if (r.lostSeqs) {
    const { from, to } = r.lostSeqs;
    if (from !== undefined && to !== undefined && from > to) seqs = ", no whole write batch lost";
    else if (to !== undefined && to <= flushedSeq) seqs = `, write batches up to seq ${to} (already in SSTables, nothing lost)`;
    else seqs = `, write batches seq ${from ?? "?"}..${to ?? "?"} lost`;
  }
  const moved = r.movedTo ? `, segment moved to wal/${r.movedTo}` : "";
  return `${what} in ${r.file} at offset ${r.offsetBytes}: ${r.droppedBytes} bytes (${r.kind})${seqs}${moved}`;
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

/** Sequence number of a record (the first 8 payload bytes of every record type), or -1. */
function peekSeq(bytes: Uint8Array, payloadAt: number, payloadBytes: number): number {
  if (payloadBytes < 8) return -1;
  const v = new DataView(bytes.buffer, bytes.byteOffset + payloadAt, 8);
  const hi = v.getUint32(4, true);
  if (hi > 0x1fffff) return -1; // beyond 2^53: not a sequence number
  return v.getUint32(0, true) + hi * 4294967296;
}

/** True when a whole valid record starts at `p` (the same checks as scanRecords). */
function validRecordAt(bytes: Uint8Array, v: DataView, p: number): boolean {
  if (bytes.length - p < RECORD_HEADER_BYTES) return false;
  const len = v.getUint32(p + 4, true);
  if (len > MAX_RECORD_PAYLOAD_BYTES || p + RECORD_HEADER_BYTES + len > bytes.length) return false;
  if (!isKnownRecordType(bytes[p + 8]!)) return false;
  // Cheap filter before the CRC: every record starts with a sequence number >= 1.
  if (peekSeq(bytes, p + RECORD_HEADER_BYTES, len) < 1) return false;
  return Bun.hash.crc32(bytes.subarray(p + 8, p + RECORD_HEADER_BYTES + len)) === v.getUint32(p, true);
}

interface Region {
  offsetBytes: number;
  endBytes: number;
  kind: ScanProblem;
  /** Index in `records` of the first record after the region. */
  beforeRecord: number;
  followedByValid: boolean;
}

/** Records and damaged regions of one segment, resynchronising after each region. */
function analyzeSegment(bytes: Uint8Array, startBytes: number): { records: ScannedRecord[]; regions: Region[] } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: ScannedRecord[] = [];
  const regions: Region[] = [];
  let p = startBytes;
  for (;;) {
    const scan = scanRecords(bytes, p);
    for (const r of scan.records) records.push(r);
    if (!scan.problem) return { records, regions };
    const bad = scan.validEndBytes;
    let q = bad + 1;
    while (q < bytes.length && !validRecordAt(bytes, v, q)) q++;
    const found = q < bytes.length;
    regions.push({ offsetBytes: bad, endBytes: found ? q : bytes.length, kind: scan.problem.kind, beforeRecord: records.length, followedByValid: found });
    if (!found) return { records, regions };
    p = q;
  }
}

export async function recoverWal(vfs: Vfs, dir: string, onEntry: (e: WalEntry) => void, options: RecoveryOptions = {}): Promise<RecoveryResult> {
  const salvage = options.salvage ?? false;
  const flushedSeq = options.flushedSeq ?? 0;
  const segments: RecoveredSegment[] = [];
  const reports: RecoveryReport[] = [];
  const salvaged: number[] = [];
  const list = listSegments(vfs, dir);
  // The newest segment that holds more than a header-less stub (a stub is removed below).
  let newest: number | undefined;
  for (const no of list) if (vfs.stat(joinPath(dir, segmentFileName(no))).sizeBytes >= SEGMENT_HEADER_BYTES) newest = no;
  /** Damage found and salvage not asked for: keep scanning (for the report), apply nothing. */
  let refusing = false;
  let prevSeq: number | undefined;
  /** Reports whose lost range ends just before the next record seen. */
  let awaitingNext: RecoveryReport[] = [];
  const cuts: { path: string; atBytes: number }[] = [];
  const removals: string[] = [];

  const noteDamage = (r: RecoveryReport): void => {
    r.lostSeqs = { from: prevSeq === undefined ? undefined : prevSeq + 1 };
    reports.push(r);
    awaitingNext.push(r);
    if (r.damage === "corruption" && !salvage) refusing = true;
  };
  const noteSeq = (seq: number): void => {
    for (const r of awaitingNext) r.lostSeqs!.to = seq - 1;
    awaitingNext = [];
    prevSeq = seq;
  };

  for (const segmentNo of list) {
    const name = segmentFileName(segmentNo);
    const path = joinPath(dir, name);
    const isNewest = segmentNo === newest;
    let bytes: Uint8Array;
    try {
      bytes = vfs.readFile(path);
    } catch (e) {
      throw new IoError("wal", `cannot read ${name}`, e);
    }
    let damaged = false;
    if (bytes.length < SEGMENT_HEADER_BYTES) {
      // Created but its header never reached the disk: it holds no record.
      reports.push({ file: name, offsetBytes: 0, droppedBytes: bytes.length, kind: "BadSegmentHeader", damage: "torn-tail" });
      removals.push(path);
      continue;
    }
    const { records, regions } = analyzeSegment(bytes, SEGMENT_HEADER_BYTES);
    if (checkSegmentHeader(bytes, segmentNo)) {
      if (isNewest && records.length === 0) {
        // The newest segment, its header never made durable and no record in it: a torn
        // creation (e.g. a size extended over zeros). Nothing is in it to keep.
        reports.push({ file: name, offsetBytes: 0, droppedBytes: bytes.length, kind: "BadSegmentHeader", damage: "torn-tail" });
        removals.push(path);
        continue;
      }
      // A header is durable before any record is written: a bad one with records is damage.
      damaged = true;
      noteDamage({ file: name, offsetBytes: 0, droppedBytes: SEGMENT_HEADER_BYTES, kind: "BadSegmentHeader", damage: "corruption" });
    }
    let cutAt: number | undefined;
    let maxSeq = 0;
    let ri = 0;
    const regionAt = (g: Region): void => {
      const torn = isNewest && !g.followedByValid;
      if (torn) cutAt = g.offsetBytes;
      else damaged = true;
      noteDamage({ file: name, offsetBytes: g.offsetBytes, droppedBytes: g.endBytes - g.offsetBytes, kind: g.kind, damage: torn ? "torn-tail" : "corruption" });
    };
    for (let i = 0; i < records.length; i++) {
      while (ri < regions.length && regions[ri]!.beforeRecord === i) regionAt(regions[ri++]!);
      const rec = records[i]!;
      let entry: WalEntry;
      try {
        entry = decodeEntry(rec.type, rec.payload, name, rec.offsetBytes);
      } catch (e) {
        if (!(e instanceof CorruptionError)) throw e;
        // The CRC matched but the payload does not decode: damage all the same.
        const last = i === records.length - 1 && ri === regions.length;
        const torn = isNewest && last;
        if (torn) cutAt = rec.offsetBytes;
        else damaged = true;
        noteDamage({ file: name, offsetBytes: rec.offsetBytes, droppedBytes: rec.endBytes - rec.offsetBytes, kind: "BadPayload", damage: torn ? "torn-tail" : "corruption" });
        continue;
      }
      noteSeq(entry.seq);
      maxSeq = Math.max(maxSeq, entry.seq);
      if (!refusing) onEntry(entry);
    }
    while (ri < regions.length) regionAt(regions[ri++]!);
    if (damaged) {
      // Kept whole, bytes untouched: the caller moves it aside once its writes are flushed.
      salvaged.push(segmentNo);
      segments.push({ segmentNo, sizeBytes: bytes.length, maxSeq });
      continue;
    }
    if (cutAt !== undefined) cuts.push({ path, atBytes: cutAt });
    segments.push({ segmentNo, sizeBytes: cutAt ?? bytes.length, maxSeq });
  }

  const corruption = reports.filter((r) => r.damage === "corruption");
  if (refusing) throw new WalCorruptionError(corruption, flushedSeq, options.fix);

  for (const c of cuts) {
    const f = vfs.open(c.path, "append");
    try {
      f.truncate(c.atBytes);
      await f.datasync();
    } finally {
      f.close();
    }
  }
  for (const p of removals) vfs.remove(p);
  if (removals.length) vfs.syncDir(dir);
  return { segments, reports, salvaged };
}

/**
 * Renames salvaged segments to `<name>.corrupt-<YYYYMMDDTHHMMSSZ>` (kept for inspection,
 * never deleted; not a segment name, so nothing reads or removes them) and notes it in
 * their reports. REQUIRES: their valid records are durable elsewhere (flushed).
 */
export function moveSegmentsAside(vfs: Vfs, dir: string, segmentNos: number[], reports: RecoveryReport[], nowMs = Date.now()): void {
  const stamp = new Date(nowMs).toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  for (const no of segmentNos) {
    const name = segmentFileName(no);
    const movedTo = `${name}.corrupt-${stamp}`;
    vfs.rename(joinPath(dir, name), joinPath(dir, movedTo));
    for (const r of reports) if (r.file === name) r.movedTo = movedTo;
  }
  if (segmentNos.length) vfs.syncDir(dir);
}
