// Which WAL segments may be deleted: a pure function, tested on its own.
//
// A segment may go when (1) it is not the one being written, (2) every write in it is in
// an SSTable (maxSeq <= flushedSeq), and (3) nothing else still needs it: `holdFromSegmentNo`
// is the oldest segment some other party (a replica) has not yet received.

export interface SegmentStat {
  segmentNo: number;
  /** Highest sequence number in the segment; 0 for a segment with no records. */
  maxSeq: number;
}

export function segmentsToDelete(
  segments: readonly SegmentStat[],
  activeSegmentNo: number,
  flushedSeq: number,
  holdFromSegmentNo?: number,
): number[] {
  const out: number[] = [];
  for (const s of segments) {
    if (s.segmentNo >= activeSegmentNo) continue;
    if (s.maxSeq > flushedSeq) continue;
    if (holdFromSegmentNo !== undefined && s.segmentNo >= holdFromSegmentNo) continue;
    out.push(s.segmentNo);
  }
  return out;
}
