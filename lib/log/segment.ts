/**
 * The segment object: what one flush writes to the object store. Pure.
 *
 *   offset             size   field
 *   0                  n0     chunk 0: Kafka RecordBatch v2 batches of one partition, baseOffset 0
 *   n0                 n1     chunk 1 …
 *   Σn                 f      footer: UTF-8 JSON { version: 1, writer, createdMs, chunks: [ChunkEntry] }
 *   Σn + f             4      f, uint32 big-endian
 *   Σn + f + 4         4      magic "SPL1"
 *
 * Batches are stored as produced, with relative offsets: their offsets are assigned at commit, and a
 * reader patches each batch's baseOffset (which the CRC does not cover) from the batch row. So a
 * commit conflict never forces a re-upload, and a Kafka fetch costs no re-encoding. Readers and
 * maintenance never need the footer (batch rows hold each chunk's position); it makes every object
 * self-describing for inspection and recovery (which topic, partition and records each chunk holds).
 */
import { SpoolError } from '../errors.js';

export const segmentMagic = Buffer.from('SPL1', 'ascii');
const trailerBytes = 8;

export interface ChunkEntry {
  readonly topicId: string;
  readonly topic: string;
  readonly partition: number;
  readonly position: number;
  readonly sizeBytes: number;
  readonly recordCount: number;
  readonly maxTimestampMs: number;
}

export interface SegmentFooter {
  readonly version: 1;
  readonly writer: string;
  readonly createdMs: number;
  readonly chunks: readonly ChunkEntry[];
}

export interface ChunkInput {
  readonly topicId: string;
  readonly topic: string;
  readonly partition: number;
  readonly bytes: readonly Buffer[];
  readonly recordCount: number;
  readonly maxTimestampMs: number;
}

/** Lays the chunks out in order and appends the footer. Returns the object and each chunk's entry. */
export function buildSegment(chunks: readonly ChunkInput[], writer: string, createdMs: number): { body: Buffer; entries: ChunkEntry[] } {
  const entries: ChunkEntry[] = [];
  const parts: Buffer[] = [];
  let position = 0;
  for (const chunk of chunks) {
    const sizeBytes = chunk.bytes.reduce((sum, part) => sum + part.length, 0);
    entries.push({
      topicId: chunk.topicId,
      topic: chunk.topic,
      partition: chunk.partition,
      position,
      sizeBytes,
      recordCount: chunk.recordCount,
      maxTimestampMs: chunk.maxTimestampMs,
    });
    parts.push(...chunk.bytes);
    position += sizeBytes;
  }
  const footer: SegmentFooter = { version: 1, writer, createdMs, chunks: entries };
  const footerBytes = Buffer.from(JSON.stringify(footer), 'utf8');
  const trailer = Buffer.alloc(trailerBytes);
  trailer.writeUInt32BE(footerBytes.length, 0);
  segmentMagic.copy(trailer, 4);
  return { body: Buffer.concat([...parts, footerBytes, trailer]), entries };
}

/** Reads the footer of a whole segment object. */
export function readSegmentFooter(body: Buffer): SegmentFooter {
  if (body.length < trailerBytes || !body.subarray(body.length - 4).equals(segmentMagic)) {
    throw new SpoolError('CORRUPT_RECORD', `segment object must end with magic "SPL1", got ${body.length} bytes without it`);
  }
  const footerLength = body.readUInt32BE(body.length - trailerBytes);
  const start = body.length - trailerBytes - footerLength;
  if (start < 0) throw new SpoolError('CORRUPT_RECORD', `segment footer length ${footerLength} exceeds the object (${body.length} bytes)`);
  try {
    return JSON.parse(body.toString('utf8', start, start + footerLength)) as SegmentFooter;
  } catch (cause) {
    throw new SpoolError('CORRUPT_RECORD', 'segment footer is not valid JSON', { cause });
  }
}
