// Reads every WAL segment in order at start-up and hands each valid entry to the caller.
//
// Two kinds of damage, told apart because they mean different things:
// - A torn tail: a crash mid-append leaves a partial record (or zeros, or garbage) at the
//   end of the NEWEST segment (the last one holding a valid record; later segments hold
//   none) with no valid record after it. Nothing acknowledged is in it (a write is
//   acknowledged only once its record is durable), so it is cut off and reported.
// - A torn last write: damage in the newest segment followed by valid records, where the
//   damage and every record after it fit in the final MAX_GROUP_COMMIT_BYTES of the segment
//   (the writer never writes more at once), AND the damaged bytes hold an unwritten page: a
//   power cut during the fdatasync of the last write can persist a later page and not an
//   earlier one, and the file was growing, so the page never written back reads as zeros
//   (at least one UNWRITTEN_BLOCK_BYTES-aligned block of them). A flipped bit, or a record
//   whose CRC matches but whose payload does not decode (BadPayload), leaves no such mark and
//   is never taken for one. Nothing in that write was acknowledged, so it is cut at the
//   damage as well, but a copy of the whole segment is kept first (`<name>.torn-<time>`,
//   never deleted) and the dropped seqs are reported (at ERROR by the engine: the cut could
//   still be wrong). With --sync interval or none, writes after the last sync were
//   acknowledged without durability by that mode's contract: such damage (zeros included)
//   in the newest segment is cut the same way whatever its distance from the end.
// - Corruption: anything else, i.e. a bad record followed by valid ones outside that window
//   or without an unwritten (zero) block in the damage,
//   a bad record anywhere in an older segment, or a damaged segment header. The bad bytes
//   held acknowledged writes. Recovery then refuses (WalCorruptionError, naming file,
//   offset, bytes and the fix) unless told to salvage: then every valid record before and
//   after the damage is replayed, and the segment is left in place for the caller to move
//   aside (`<name>.corrupt-<time>`, never deleted) once the replayed writes are flushed.
//   Damage in a segment whose every record, lost ones included, is at or below the
//   manifest's flushedSeq (already in SSTables) loses nothing: it does not refuse, the
//   segment is moved aside the same way and reported at WARN.
// - A newest segment with a bad header and no recognisable record (e.g. written by a newer
//   format): removed only when it cannot hold anything (at most a header, or all zeros);
//   otherwise moved aside as `<name>.corrupt-<time>`, its number never reused.
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
  MAX_GROUP_COMMIT_BYTES,
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
  /**
   * "torn-tail": cut (a crash mid-append). "torn-write": damage holding an unwritten (zero)
   * page with valid records after it, all inside the last unsynced write (cut; a copy kept in
   * `copiedTo`). "corruption": damage
   * with valid records after it that were acknowledged. "unreadable-segment": the newest
   * segment has a bad header and no recognisable record (moved aside, `movedTo`).
   */
  damage: "torn-tail" | "torn-write" | "corruption" | "unreadable-segment";
  /**
   * Sequence numbers of the write batches that were in the damaged bytes, as far as the
   * records around the damage tell: `from` is unknown when no record precedes it, `to` when
   * none follows it.
   */
  lostSeqs?: { from?: number; to?: number };
  /** Where the damaged segment was moved (salvage), relative to the WAL directory. */
  movedTo?: string;
  /** Torn write: where the whole segment was copied before the cut, relative to the WAL directory. */
  copiedTo?: string;
  /** Corruption in a segment whose every write is already in SSTables: nothing lost, no refusal. */
  alreadyFlushed?: boolean;
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
  /** The lowest number a new segment may take (above every kept or moved-aside segment). */
  nextSegmentNo: number;
}

export interface RecoveryOptions {
  /** Replay around corruption instead of refusing to start. */
  salvage?: boolean;
  /** Writes at or below it are in SSTables: losing their records loses nothing. */
  flushedSeq?: number;
  /** What to tell the user to do when refusing (default: restart with --salvage). */
  fix?: string;
  /**
   * The sync mode the node runs with (default "always"). With "interval" or "none", writes
   * after the last sync were acknowledged without durability: damage holding an unwritten
   * (zero) page anywhere in the newest segment followed by valid records is a torn last write,
   * not corruption.
   */
  syncKind?: "always" | "interval" | "none";
  /** Clock for the `.torn-` / `.corrupt-` names (tests). */
  nowMs?: number;
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
  const what =
    r.damage === "torn-tail" ? "torn tail cut" : r.damage === "torn-write" ? "torn last write cut" : r.damage === "unreadable-segment" ? "unreadable newest segment" : "corruption";
  let seqs = "";
  if (r.damage === "torn-write") {
    const { from, to } = r.lostSeqs ?? {};
    seqs =
      `, write batches seq ${from ?? "?"}..${to ?? "?"} dropped (an unwritten page in one power-cut write: never acknowledged under --sync always; ` +
      `acknowledged without durability under --sync interval/none; if they were acknowledged and durable, the copy below still holds their bytes)`;
  } else if (r.damage === "unreadable-segment") {
    seqs = ", no recognisable record in it (a newer format, or garbage); moved aside, not deleted";
  } else if (r.damage === "torn-tail") {
    // A torn record was never acknowledged (with --sync always): a crash cut its append.
    if (r.lostSeqs?.from !== undefined) seqs = `, a partial write from seq ${r.lostSeqs.from} (never acknowledged under --sync always)`;
  } else if (r.lostSeqs) {
    const { from, to } = r.lostSeqs;
    if (from !== undefined && to !== undefined && from > to) seqs = ", no whole write batch lost";
    else if (to !== undefined && to <= flushedSeq) seqs = `, write batches up to seq ${to} (already in SSTables, nothing lost)`;
    else seqs = `, write batches seq ${from ?? "?"}..${to ?? "?"} lost`;
  }
  const moved = (r.movedTo ? `, segment moved to wal/${r.movedTo}` : "") + (r.copiedTo ? `, whole segment as found kept in wal/${r.copiedTo}` : "");
  return `${what} in ${r.file} at offset ${r.offsetBytes}: ${r.droppedBytes} bytes (${r.kind})${seqs}${moved}`;
}

/** Segment numbers present in `dir`, ascending. */
/** A segment kept aside: `<12 digits>.wal.` followed by `corrupt`/`torn` and a suffix. */
const ASIDE_NAME = /^(\d{12})\.wal\.(?:corrupt|torn)/;

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

/**
 * Size and alignment of the zero block that marks a page never written back: the smallest
 * sector a disk writes whole, so an unwritten page (4096 bytes, or the sector itself) of a
 * growing file always holds one. Not an on-disk format number: only recovery's evidence.
 */
export const UNWRITTEN_BLOCK_BYTES = 512;

/**
 * True when [fromBytes, toBytes) shows the mark a torn write leaves and bit rot does not:
 * either an UNWRITTEN_BLOCK_BYTES-aligned block (file offset a multiple of it) of zero bytes,
 * or zeros from `fromBytes` (where the damaged record, and so the unsynced write, starts) up
 * to the next sector boundary inside the region: the unwritten rest of the page the write
 * began in, which is shorter than a sector when the write began in that page's last sector.
 */
function holdsUnwrittenBlock(bytes: Uint8Array, fromBytes: number, toBytes: number): boolean {
  const end = Math.min(toBytes, bytes.length);
  const sectorEnd = (Math.floor(fromBytes / UNWRITTEN_BLOCK_BYTES) + 1) * UNWRITTEN_BLOCK_BYTES;
  if (sectorEnd <= end) {
    let zero = true;
    for (let i = fromBytes; i < sectorEnd && zero; i++) zero = bytes[i] === 0;
    if (zero) return true;
  }
  for (let b = Math.ceil(fromBytes / UNWRITTEN_BLOCK_BYTES) * UNWRITTEN_BLOCK_BYTES; b + UNWRITTEN_BLOCK_BYTES <= end; b += UNWRITTEN_BLOCK_BYTES) {
    let zero = true;
    for (let i = b; i < b + UNWRITTEN_BLOCK_BYTES && zero; i++) zero = bytes[i] === 0;
    if (zero) return true;
  }
  return false;
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


/** Sequence number of a scanned record, or -1. */
function seqOf(bytes: Uint8Array, rec: ScannedRecord): number {
  return peekSeq(bytes, rec.offsetBytes + RECORD_HEADER_BYTES, rec.endBytes - rec.offsetBytes - RECORD_HEADER_BYTES);
}

export async function recoverWal(vfs: Vfs, dir: string, onEntry: (e: WalEntry) => void, options: RecoveryOptions = {}): Promise<RecoveryResult> {
  const salvage = options.salvage ?? false;
  const flushedSeq = options.flushedSeq ?? 0;
  const syncKind = options.syncKind ?? "always";
  const nowMs = options.nowMs ?? Date.now();
  const segments: RecoveredSegment[] = [];
  const reports: RecoveryReport[] = [];
  const salvaged: number[] = [];
  const list = listSegments(vfs, dir);
  const read = (no: number): Uint8Array => {
    try {
      return vfs.readFile(joinPath(dir, segmentFileName(no)));
    } catch (e) {
      throw new IoError("wal", `cannot read ${segmentFileName(no)}`, e);
    }
  };
  // The newest segment is the last one holding a valid record: a roll creates N+1 before N's
  // last write may be durable (--sync none before this rule) and a power cut can leave N+1
  // with only a header, or nothing valid at all. Damage at the end of N is then still a tear.
  let newest: number | undefined;
  const analyzed = new Map<number, { bytes: Uint8Array; records: ScannedRecord[]; regions: Region[] }>();
  for (let i = list.length - 1; i >= 0 && newest === undefined; i--) {
    const no = list[i]!;
    const bytes = read(no);
    if (bytes.length < SEGMENT_HEADER_BYTES) continue;
    const a = analyzeSegment(bytes, SEGMENT_HEADER_BYTES);
    if (a.records.length > 0) {
      newest = no;
      analyzed.set(no, { bytes, ...a });
    }
  }
  let prevSeq: number | undefined;
  /** Reports whose lost range ends just before the next record seen. */
  let awaitingNext: RecoveryReport[] = [];
  const cuts: { path: string; name: string; atBytes: number; bytes: Uint8Array; report: RecoveryReport; copy: boolean }[] = [];
  const removals: string[] = [];
  const asides: { no: number; report: RecoveryReport }[] = [];
  /** Damaged segments (kept whole) with their highest seq and their corruption reports. */
  const damagedSegs: { no: number; maxSeq: number; reports: RecoveryReport[] }[] = [];

  const noteDamage = (r: RecoveryReport): void => {
    r.lostSeqs = { from: prevSeq === undefined ? undefined : prevSeq + 1 };
    reports.push(r);
    if (r.damage !== "torn-write") awaitingNext.push(r);
  };
  const noteSeq = (seq: number): void => {
    for (const r of awaitingNext) r.lostSeqs!.to = seq - 1;
    awaitingNext = [];
    prevSeq = seq;
  };

  for (const segmentNo of list) {
    const name = segmentFileName(segmentNo);
    const path = joinPath(dir, name);
    /** The newest segment or one after it (those hold no valid record). */
    const isTail = newest === undefined || segmentNo >= newest;
    const cached = analyzed.get(segmentNo);
    const bytes = cached?.bytes ?? read(segmentNo);
    let damaged = false;
    const segReports: RecoveryReport[] = [];
    if (bytes.length < SEGMENT_HEADER_BYTES) {
      // Created but its header never reached the disk: it holds no record.
      reports.push({ file: name, offsetBytes: 0, droppedBytes: bytes.length, kind: "BadSegmentHeader", damage: "torn-tail" });
      removals.push(path);
      continue;
    }
    const { records, regions } = cached ?? analyzeSegment(bytes, SEGMENT_HEADER_BYTES);
    if (checkSegmentHeader(bytes, segmentNo)) {
      if (isTail && records.length === 0) {
        if (bytes.length <= SEGMENT_HEADER_BYTES || allZero(bytes)) {
          // Its header never made durable and nothing written after it (e.g. a size extended
          // over zeros): a torn creation. Nothing is in it to keep.
          reports.push({ file: name, offsetBytes: 0, droppedBytes: bytes.length, kind: "BadSegmentHeader", damage: "torn-tail" });
          removals.push(path);
        } else {
          // Bytes we cannot read (a newer format version, or garbage): never delete them.
          const r: RecoveryReport = { file: name, offsetBytes: 0, droppedBytes: bytes.length, kind: "BadSegmentHeader", damage: "unreadable-segment" };
          reports.push(r);
          asides.push({ no: segmentNo, report: r });
        }
        continue;
      }
      // A header is durable before any record is written: a bad one with records is damage.
      damaged = true;
      const r: RecoveryReport = { file: name, offsetBytes: 0, droppedBytes: SEGMENT_HEADER_BYTES, kind: "BadSegmentHeader", damage: "corruption" };
      segReports.push(r);
      noteDamage(r);
    }
    const lastValidEnd = records.length ? records[records.length - 1]!.endBytes : SEGMENT_HEADER_BYTES;
    /**
     * Damage at `offsetBytes` in the newest segment with valid records after it: could it and
     * everything after it be one unsynced last write (see MAX_GROUP_COMMIT_BYTES)? Only the
     * window: the caller also asks for the unwritten page (holdsUnwrittenBlock).
     */
    const tornWrite = (offsetBytes: number): boolean =>
      isTail && (syncKind !== "always" || lastValidEnd - offsetBytes <= MAX_GROUP_COMMIT_BYTES);
    let cutAt: number | undefined;
    /** A torn last write was found: nothing after it is replayed. */
    let stop = false;
    let maxSeq = 0;
    let ri = 0;
    const cutTornWrite = (offsetBytes: number, kind: RecoveryReport["kind"], firstDropped: number): void => {
      let to: number | undefined;
      for (let j = firstDropped; j < records.length; j++) {
        const s = seqOf(bytes, records[j]!);
        if (s > 0) to = Math.max(to ?? 0, s);
      }
      const r: RecoveryReport = { file: name, offsetBytes, droppedBytes: bytes.length - offsetBytes, kind, damage: "torn-write" };
      noteDamage(r);
      if (r.lostSeqs && to !== undefined) r.lostSeqs.to = to;
      if (!damaged) {
        cutAt = offsetBytes;
        cuts.push({ path, name, atBytes: offsetBytes, bytes, report: r, copy: true });
      }
      stop = true;
    };
    const regionAt = (g: Region): void => {
      // Inside the window is not enough: a bit flip in an acknowledged, synced record there
      // looks the same. Only a page never written back (zeros) tells a power cut.
      if (isTail && g.followedByValid && tornWrite(g.offsetBytes) && holdsUnwrittenBlock(bytes, g.offsetBytes, g.endBytes)) {
        return cutTornWrite(g.offsetBytes, g.kind, g.beforeRecord);
      }
      const torn = isTail && !g.followedByValid;
      if (torn) cutAt = g.offsetBytes;
      else damaged = true;
      const r: RecoveryReport = { file: name, offsetBytes: g.offsetBytes, droppedBytes: g.endBytes - g.offsetBytes, kind: g.kind, damage: torn ? "torn-tail" : "corruption" };
      if (!torn) segReports.push(r);
      noteDamage(r);
    };
    for (let i = 0; i < records.length && !stop; i++) {
      while (ri < regions.length && regions[ri]!.beforeRecord === i && !stop) regionAt(regions[ri++]!);
      if (stop) break;
      const rec = records[i]!;
      let entry: WalEntry;
      try {
        entry = decodeEntry(rec.type, rec.payload, name, rec.offsetBytes);
      } catch (e) {
        if (!(e instanceof CorruptionError)) throw e;
        // The CRC matched but the payload does not decode: damage all the same. Its bytes are
        // exactly the ones written, so no power cut made it (an unwritten page fails the CRC):
        // with valid records after it, it is never a torn write, only corruption (or a bug).
        // Last with nothing valid after it, it is cut as a torn tail like any other.
        const last = i === records.length - 1 && ri === regions.length;
        const torn = isTail && last;
        if (torn) cutAt = rec.offsetBytes;
        else damaged = true;
        const r: RecoveryReport = { file: name, offsetBytes: rec.offsetBytes, droppedBytes: rec.endBytes - rec.offsetBytes, kind: "BadPayload", damage: torn ? "torn-tail" : "corruption" };
        if (!torn) segReports.push(r);
        noteDamage(r);
        continue;
      }
      noteSeq(entry.seq);
      maxSeq = Math.max(maxSeq, entry.seq);
      onEntry(entry);
    }
    while (ri < regions.length && !stop) regionAt(regions[ri++]!);
    if (damaged) {
      // Kept whole, bytes untouched: the caller moves it aside once its writes are flushed.
      salvaged.push(segmentNo);
      damagedSegs.push({ no: segmentNo, maxSeq, reports: segReports });
      segments.push({ segmentNo, sizeBytes: bytes.length, maxSeq });
      continue;
    }
    if (cutAt !== undefined && !cuts.some((c) => c.path === path)) {
      const r = reports[reports.length - 1]!;
      cuts.push({ path, name, atBytes: cutAt, bytes, report: r, copy: false });
    }
    segments.push({ segmentNo, sizeBytes: cutAt ?? bytes.length, maxSeq });
  }

  // Refuse unless salvaging, or unless every write the damaged segment held, lost ones
  // included, is already in SSTables (then nothing is lost: the segment is moved aside).
  let refusing = false;
  for (const d of damagedSegs) {
    const flushed = d.maxSeq <= flushedSeq && d.reports.every((r) => r.lostSeqs?.to !== undefined && r.lostSeqs.to <= flushedSeq);
    if (flushed) for (const r of d.reports) r.alreadyFlushed = true;
    else if (!salvage) refusing = true;
  }
  const corruption = reports.filter((r) => r.damage === "corruption" && !r.alreadyFlushed);
  if (refusing) throw new WalCorruptionError(corruption, flushedSeq, options.fix);

  for (const c of cuts) {
    if (c.copy) {
      // Keep the whole segment before cutting a torn write off it: the cut may be wrong
      // (damage that only looks like a torn write), and these bytes are the only copy.
      const copiedTo = asideName(vfs, dir, c.name, "torn", nowMs);
      const f = vfs.open(joinPath(dir, copiedTo), "create");
      try {
        f.append(c.bytes);
        await f.datasync();
      } finally {
        f.close();
      }
      vfs.syncDir(dir);
      c.report.copiedTo = copiedTo;
    }
    const f = vfs.open(c.path, "append");
    try {
      f.truncate(c.atBytes);
      await f.datasync();
    } finally {
      f.close();
    }
  }
  for (const p of removals) vfs.remove(p);
  for (const a of asides) {
    const movedTo = asideName(vfs, dir, a.report.file, "corrupt", nowMs);
    vfs.rename(joinPath(dir, a.report.file), joinPath(dir, movedTo));
    a.report.movedTo = movedTo;
  }
  if (removals.length || asides.length) vfs.syncDir(dir);
  let nextSegmentNo = 1;
  for (const s of segments) nextSegmentNo = Math.max(nextSegmentNo, s.segmentNo + 1);
  for (const a of asides) nextSegmentNo = Math.max(nextSegmentNo, a.no + 1);
  // Segments moved aside by an earlier open (`<name>.corrupt-<time>`, `.torn-<time>`) keep
  // their numbers too: a crash right after that open must not let the next one reuse them.
  for (const name of vfs.list(dir)) {
    const m = ASIDE_NAME.exec(name);
    if (m) nextSegmentNo = Math.max(nextSegmentNo, Number(m[1]) + 1);
  }
  return { segments, reports, salvaged, nextSegmentNo };
}

/**
 * Renames salvaged segments to `<name>.corrupt-<YYYYMMDDTHHMMSSZ>` (kept for inspection,
 * never deleted; not a segment name, so nothing reads or removes them) and notes it in
 * their reports. REQUIRES: their valid records are durable elsewhere (flushed).
 */
export function moveSegmentsAside(vfs: Vfs, dir: string, segmentNos: number[], reports: RecoveryReport[], nowMs = Date.now()): void {
  for (const no of segmentNos) {
    const name = segmentFileName(no);
    const movedTo = asideName(vfs, dir, name, "corrupt", nowMs);
    vfs.rename(joinPath(dir, name), joinPath(dir, movedTo));
    for (const r of reports) if (r.file === name) r.movedTo = movedTo;
  }
  if (segmentNos.length) vfs.syncDir(dir);
}

/** `<name>.<what>-<YYYYMMDDTHHMMSSZ>`, with a `-<n>` suffix if that name is taken. */
function asideName(vfs: Vfs, dir: string, name: string, what: string, nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  let out = `${name}.${what}-${stamp}`;
  for (let n = 2; vfs.exists(joinPath(dir, out)); n++) out = `${name}.${what}-${stamp}-${n}`;
  return out;
}

/** True when every byte is zero (a file extended but never written). */
function allZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
