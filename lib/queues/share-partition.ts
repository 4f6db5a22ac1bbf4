/**
 * A share partition's state (KIP-932): which records of one partition a share group has in flight,
 * and how acquiring, acknowledging and lock expiry change it, as pure functions. The records below
 * the share-partition start offset (SPSO) are done; those from it to the end offset (SPEO, the next
 * offset never yet acquired) are in flight, each Available, Acquired by one member until its lock
 * expires, Acknowledged or Archived, with the number of times it was delivered. The state is held
 * as ranges of offsets alike (one per batch of records acquired together, not one per record), so
 * a state item stays small and an acknowledgement of a batch is one change, whatever its size.
 *
 * The state is stored with a compare-and-set (a later layer), so any agent may serve any member,
 * as the transaction coordinator does; these functions decide, given the state as read.
 *
 * Delayed records (a deliver-at time in the future, found when they are first read) are Deferred:
 * done for the start offset's sake, and kept, with their due time, in a time-ordered index outside
 * the state (a later layer's); when due they come back (`returnDue`) as Available ranges, below the
 * start offset if it has moved past them. So a delay costs nothing while it lasts, whatever its
 * length, and holds up no other record.
 *
 * Invariants (each proved by test/queues/share-partition.test.ts, with fast-check):
 *  1. The ranges cover [startOffset, endOffset) exactly, in order, without overlap, after the
 *     records come back from the delay index below the start offset (in order, none done);
 *     adjacent ranges differ (else they are one), and the first at or after the start is not done
 *     (else the start moves past it).
 *  2. At most one member holds a record at a time: a record is acquired only while Available (or
 *     Acquired under a lock that has expired), and a member acknowledges only records it holds
 *     under a live lock (else INVALID_RECORD_STATE, and nothing changes).
 *  3. A record accepted or rejected is never delivered again, nor acknowledged again.
 *  4. A record is delivered at most `deliveryLimit` times: one released, or whose lock expires,
 *     at the limit is archived; one acquired but never handed over (UNREAD) does not count as
 *     delivered.
 *  6. With a dead-letter topic (Kafka 4.4's DLQ), a record rejected, or released or expired at the
 *     limit, is Archiving, not Archived: not done (the start offset stays before it), never handed
 *     out again, claimed until `lockedUntilMs` by the writer of its dead letter, which then
 *     archives it (written or not, as Kafka). A claim that ends first is taken by the next change
 *     (`claimDeadLetters`), so a writer's crash delays a dead letter but never loses one: dead
 *     letters are written at least once.
 *  5. The start offset never moves back, and every offset below it is done (acknowledged or
 *     archived), gone from the log, in the delay index, or back from it (a range below the start);
 *     records in flight from the start are at most `maxInFlight` (Kafka's
 *     group.share.partition.max.record.locks), and those back from the delay index at most what
 *     one return brings.
 */

/** A record's state in flight (Kafka's RecordState; ACKNOWLEDGED and ARCHIVED are both done). */
export type RecordState = 'available' | 'acquired' | 'acknowledged' | 'archiving' | 'archived' | 'deferred';

/** Why a record is dead: a REJECT, or its delivery count at the limit (the dead letter's message says which). */
export type DeathCause = 'rejected' | 'limit';

/** How long a dead letter's writer has before another may take the write over. */
export const deadLetterClaimMs = 30_000;

/**
 * How a member acknowledges (Kafka's AcknowledgeType): GAP names an offset it was handed that holds
 * no record (a compacted topic's, a marker's); RENEW keeps the records and locks them for another
 * lock duration from now (KIP-1222; the HTTP API's `extend`). UNREAD is the server's own, never a
 * client's: records acquired but not handed over after all (not readable yet, or past a response's
 * byte budget) are available again as if this delivery had not happened (its count taken back,
 * never archived). DEFER is the server's too: records not due yet are Deferred until `dueMs`, their
 * delivery not counted either.
 */
export type AckType = 'accept' | 'release' | 'reject' | 'gap' | 'renew' | 'unread' | 'defer';

export interface InFlightRange {
  readonly first: number;
  /** Inclusive. */
  readonly last: number;
  readonly state: RecordState;
  /** Times the records were handed to a member. */
  readonly deliveryCount: number;
  /** Acquired only: the holder. */
  readonly member?: string;
  /** Acquired: when the holder's lock ends; Archiving: when its dead letter's writer's claim ends. */
  readonly lockedUntilMs?: number;
  /** Archiving only. */
  readonly cause?: DeathCause;
}

export interface SharePartitionState {
  /** The SPSO: every offset below it is done, but those in the delay index or back from it (ranges below it). */
  readonly startOffset: number;
  /** The SPEO: the next offset never acquired yet. */
  readonly endOffset: number;
  readonly ranges: readonly InFlightRange[];
  /** Records archived by a REJECT or at the delivery limit since the share partition began (not GAPs, nor records gone from the log). */
  readonly deadRecords: number;
  /** Records deferred to the delay index, not come back yet. */
  readonly delayedRecords: number;
  /** The earliest due time in the delay index (absent: none). */
  readonly nextDueMs?: number;
  /** Which delay index entries are this state's: those written since it began (a reset begins another). */
  readonly delayEpoch: number;
}

/** Records deferred together, as the delay index holds them: due at `dueMs`, delivered `deliveryCount` times before. */
export interface DelayedRange {
  readonly first: number;
  readonly last: number;
  readonly deliveryCount: number;
  readonly dueMs: number;
}

/** A batch of records handed to a member (Kafka's AcquiredRecords). */
export interface AcquiredRecords {
  readonly first: number;
  readonly last: number;
  readonly deliveryCount: number;
}

export interface AcquireRequest {
  readonly member: string;
  readonly maxRecords: number;
  readonly nowMs: number;
  /** share.record.lock.duration.ms. */
  readonly lockMs: number;
  /** share.delivery.count.limit. */
  readonly deliveryLimit: number;
  /** group.share.partition.max.record.locks: offsets in flight at most. */
  readonly maxInFlight: number;
  /** The log's start: records below it are gone (retention, DeleteRecords), and leave the share partition. */
  readonly logStartOffset: number;
  /** The end of what may be read (the high watermark, or the last stable offset for read_committed). */
  readonly logEndOffset: number;
  /** Whether the group has a dead-letter topic: dead records are Archiving, for their dead letters (invariant 6). */
  readonly deadLetters?: boolean;
}

export interface Acknowledgement {
  readonly first: number;
  readonly last: number;
  readonly type: AckType;
  /** DEFER: when the records are due. */
  readonly dueMs?: number;
}

/** What an acknowledgement is judged with: the time, share.delivery.count.limit, and the lock a RENEW grants. */
export interface AckContext {
  readonly nowMs: number;
  readonly deliveryLimit: number;
  readonly lockMs: number;
  /** Whether the group has a dead-letter topic (invariant 6). */
  readonly deadLetters?: boolean;
  /** DEFER: the delay index entries one change may write; records past them are given back UNREAD instead. @default no bound */
  readonly maxDeferred?: number;
}

/** What decides a record's death: when, the limit, and whether it gets a dead letter. */
interface Death {
  readonly nowMs: number;
  readonly deliveryLimit: number;
  readonly deadLetters?: boolean;
}

/**
 * The state of a share partition first read (or reset) at `startOffset` (share.auto.offset.reset:
 * earliest or latest), its delay index entries those of `delayEpoch` (unique per beginning).
 */
export function initialState(startOffset: number, delayEpoch = 0): SharePartitionState {
  return { startOffset, endOffset: startOffset, ranges: [], deadRecords: 0, delayedRecords: 0, delayEpoch };
}

/**
 * Expired locks released: records whose lock ended by `death.nowMs` are Available again, or dead
 * (Archived, or Archiving for a dead letter) if delivered `deliveryLimit` times. Nothing else changes.
 */
export function expireLocks(state: SharePartitionState, death: Death): SharePartitionState {
  const ranges = state.ranges.map((range) =>
    range.state === 'acquired' && range.lockedUntilMs! <= death.nowMs ? released(range, death) : range,
  );
  return normalised({ ...state, ranges, deadRecords: state.deadRecords + newlyDead(state.ranges, ranges) });
}

/**
 * Hands `member` up to `maxRecords` records: Available ones in flight first, in offset order (they
 * are redeliveries), then new offsets from the end offset, while the records in flight stay within
 * `maxInFlight`; none at or past `logEndOffset`. Each is delivered once more and locked for `lockMs`.
 */
export function acquire(
  state: SharePartitionState,
  request: AcquireRequest,
): { readonly next: SharePartitionState; readonly acquired: readonly AcquiredRecords[] } {
  const current = pastLogStart(expireLocks(state, request), request.logStartOffset);
  let budget = Math.max(0, request.maxRecords);
  const lock = { member: request.member, lockedUntilMs: request.nowMs + request.lockMs };
  const ranges: InFlightRange[] = [];
  const acquired: AcquiredRecords[] = [];
  let died = 0;
  // Only what may be read now is handed out: records in flight at or past the end read to (the
  // stable offset, after a switch to read_committed) wait, as new offsets do.
  const readable = current.ranges.flatMap((range) =>
    range.state === 'available' && range.first < request.logEndOffset && range.last >= request.logEndOffset
      ? [
          { ...range, last: request.logEndOffset - 1 },
          { ...range, first: request.logEndOffset },
        ]
      : [range],
  );
  for (const range of readable) {
    if (range.state !== 'available' || budget === 0 || range.first >= request.logEndOffset) {
      ranges.push(range);
      continue;
    }
    // Delivered as often as the limit allows (it was lowered since): archived, not handed out again.
    if (range.deliveryCount >= request.deliveryLimit) {
      ranges.push(dead(range, 'limit', request));
      died += size(range);
      continue;
    }
    const taken = Math.min(budget, size(range));
    const takenLast = range.first + taken - 1;
    const deliveryCount = range.deliveryCount + 1;
    ranges.push({ first: range.first, last: takenLast, state: 'acquired', deliveryCount, ...lock });
    acquired.push({ first: range.first, last: takenLast, deliveryCount });
    if (takenLast < range.last) ranges.push({ ...range, first: takenLast + 1 });
    budget -= taken;
  }
  const room = current.startOffset + request.maxInFlight - current.endOffset;
  const fresh = Math.min(budget, room, request.logEndOffset - current.endOffset);
  let endOffset = current.endOffset;
  if (fresh > 0) {
    const last = endOffset + fresh - 1;
    ranges.push({ first: endOffset, last, state: 'acquired', deliveryCount: 1, ...lock });
    acquired.push({ first: endOffset, last, deliveryCount: 1 });
    endOffset = last + 1;
  }
  return {
    next: normalised({ ...current, endOffset, ranges, deadRecords: current.deadRecords + died }),
    acquired: merged(acquired),
  };
}

/** Why an acknowledgement was refused (Kafka's INVALID_RECORD_STATE), by the range asked for. */
export interface AckRefusal {
  readonly first: number;
  readonly last: number;
  readonly reason: string;
}

/**
 * A member's acknowledgements of one partition, all or nothing (as Kafka's share partition takes a
 * request's batches): every record they name must be Acquired by `member` under a lock live at
 * `nowMs`. ACCEPT acknowledges, GAP archives, REJECT kills (Archived, or Archiving for a dead
 * letter), RELEASE makes the records Available again (dead at the delivery limit), RENEW locks them
 * again for `lockMs` from now, DEFER defers them until `dueMs`: answered as the delay index is to
 * hold them (`deferred`). If any is
 * refused, nothing changes and the refusals are answered.
 */
export function acknowledge(
  state: SharePartitionState,
  member: string,
  acks: readonly Acknowledgement[],
  context: AckContext,
): { readonly next: SharePartitionState; readonly refused: readonly AckRefusal[]; readonly deferred: readonly DelayedRange[] } {
  const { nowMs } = context;
  let ranges = [...state.ranges];
  let died = 0;
  let nextDueMs = state.nextDueMs;
  const deferred: DelayedRange[] = [];
  const refused: AckRefusal[] = [];
  for (const ack of acks) {
    const reason = refusal(state, ranges, member, ack, nowMs);
    if (reason !== undefined) {
      refused.push({ first: ack.first, last: ack.last, reason });
      continue;
    }
    ranges = ranges.flatMap((range) => {
      if (range.last < ack.first || range.first > ack.last || range.state !== 'acquired') return [range];
      const inside = { ...range, first: Math.max(range.first, ack.first), last: Math.min(range.last, ack.last) };
      const type = ack.type === 'defer' && deferred.length >= (context.maxDeferred ?? Number.POSITIVE_INFINITY) ? 'unread' : ack.type;
      const after = settled(inside, type, context);
      if (isDead(after) && ack.type !== 'gap') died += size(inside);
      if (after.state === 'deferred') {
        deferred.push({ first: after.first, last: after.last, deliveryCount: after.deliveryCount, dueMs: ack.dueMs! });
        nextDueMs = Math.min(nextDueMs ?? Number.POSITIVE_INFINITY, ack.dueMs!);
      }
      return [
        ...(range.first < inside.first ? [{ ...range, last: inside.first - 1 }] : []),
        after,
        ...(inside.last < range.last ? [{ ...range, first: inside.last + 1 }] : []),
      ];
    });
  }
  if (refused.length > 0) return { next: state, refused, deferred: [] };
  const delayed = deferred.reduce((sum, range) => sum + size(range), 0);
  const next = { ...state, ranges, deadRecords: state.deadRecords + died, delayedRecords: state.delayedRecords + delayed };
  return { next: normalised(nextDueMs === undefined ? next : { ...next, nextDueMs }), refused, deferred };
}

/** Records below the log's start are gone: the share partition starts at it (Kafka archives them). */
function pastLogStart(state: SharePartitionState, logStartOffset: number): SharePartitionState {
  if (!state.ranges.some((range) => range.first < logStartOffset) && logStartOffset <= state.startOffset) return state;
  const ranges = state.ranges.flatMap((range) =>
    range.last < logStartOffset ? [] : [range.first < logStartOffset ? { ...range, first: logStartOffset } : range],
  );
  return normalised({
    ...state,
    startOffset: Math.max(state.startOffset, logStartOffset),
    endOffset: Math.max(state.endOffset, logStartOffset),
    ranges,
  });
}

/**
 * Records come back from the delay index, due: Available again (with the deliveries they had),
 * where the state still holds them Deferred, or below the start offset where it has moved past
 * them; offsets the state holds otherwise (an entry come back twice) are left alone. The index's
 * next due time is `nextDueMs` (absent: none left).
 */
export function returnDue(
  state: SharePartitionState,
  entries: readonly DelayedRange[],
  nextDueMs: number | undefined,
): SharePartitionState {
  let ranges = [...state.ranges];
  let returned = 0;
  for (const entry of entries) {
    returned += size(entry);
    const back = (first: number, last: number): InFlightRange => ({ first, last, state: 'available', deliveryCount: entry.deliveryCount });
    // In flight: Deferred records are Available again.
    ranges = ranges.flatMap((range) => {
      if (range.state !== 'deferred' || range.last < entry.first || range.first > entry.last) return [range];
      const first = Math.max(range.first, entry.first);
      const last = Math.min(range.last, entry.last);
      return [
        ...(range.first < first ? [{ ...range, last: first - 1 }] : []),
        back(first, last),
        ...(last < range.last ? [{ ...range, first: last + 1 }] : []),
      ];
    });
    // Below the start: what no range covers comes back.
    let from = entry.first;
    const to = Math.min(entry.last, state.startOffset - 1);
    for (const range of ranges) {
      if (from > to) break;
      if (range.last < from) continue;
      if (range.first > to) break;
      if (range.first > from) ranges.push(back(from, range.first - 1));
      from = range.last + 1;
    }
    if (from <= to) ranges.push(back(from, to));
    ranges.sort((a, b) => a.first - b.first);
  }
  const { nextDueMs: _, ...rest } = state;
  const next = { ...rest, ranges, delayedRecords: Math.max(0, state.delayedRecords - returned) };
  return normalised(nextDueMs === undefined ? next : { ...next, nextDueMs });
}

/** A dead letter to write: records of one death, and how many times they were delivered. */
export interface DeadLetterRange {
  readonly first: number;
  readonly last: number;
  readonly deliveryCount: number;
  readonly cause: DeathCause;
}

/**
 * Claims the dead letters to write after a change from `before` to `after`: the Archiving records
 * `after` made, and those whose writer's claim ended by `nowMs` (claimed again, until
 * `nowMs + deadLetterClaimMs`). A record Archiving in `before` under the same claim is another's to write.
 */
export function claimDeadLetters(
  before: SharePartitionState | undefined,
  after: SharePartitionState,
  nowMs: number,
): { readonly next: SharePartitionState; readonly claimed: readonly DeadLetterRange[] } {
  const claimed: DeadLetterRange[] = [];
  const ranges = after.ranges.map((range) => {
    if (range.state !== 'archiving') return range;
    const claim = range.lockedUntilMs! <= nowMs ? { ...range, lockedUntilMs: nowMs + deadLetterClaimMs } : range;
    // Mine: the offsets not Archiving under this same claim before (ranges alike merge, so by offset).
    let from = claim.first;
    const theirs = (before?.ranges ?? []).filter(
      (b) => b.state === 'archiving' && b.lockedUntilMs === claim.lockedUntilMs && b.last >= claim.first && b.first <= claim.last,
    );
    const mine = (first: number, last: number) => {
      if (first <= last) claimed.push({ first, last, deliveryCount: claim.deliveryCount, cause: claim.cause! });
    };
    for (const b of theirs) {
      mine(from, b.first - 1);
      from = Math.max(from, b.last + 1);
    }
    mine(from, claim.last);
    return claim;
  });
  return { next: claimed.length === 0 ? after : normalised({ ...after, ranges }), claimed };
}

/** Records Archiving among `letters` Archived: their dead letters are written (or given up on, as Kafka does). */
export function deadLettered(state: SharePartitionState, letters: readonly { first: number; last: number }[]): SharePartitionState {
  const ranges = state.ranges.flatMap((range) => {
    if (range.state !== 'archiving') return [range];
    const parts: InFlightRange[] = [];
    let from = range.first;
    for (const letter of [...letters].sort((a, b) => a.first - b.first)) {
      const first = Math.max(from, letter.first);
      const last = Math.min(range.last, letter.last);
      if (first > last) continue;
      if (from < first) parts.push({ ...range, first: from, last: first - 1 });
      parts.push(done({ ...range, first, last }, 'archived'));
      from = last + 1;
    }
    if (from <= range.last) parts.push({ ...range, first: from });
    return parts;
  });
  return normalised({ ...state, ranges });
}

/** Counts for a describe: records in flight by state. */
export function counts(state: SharePartitionState): Record<RecordState, number> {
  const out: Record<RecordState, number> = { available: 0, acquired: 0, acknowledged: 0, archiving: 0, archived: 0, deferred: 0 };
  for (const range of state.ranges) out[range.state] += size(range);
  return out;
}

function refusal(
  state: SharePartitionState,
  ranges: readonly InFlightRange[],
  member: string,
  ack: Acknowledgement,
  nowMs: number,
): string | undefined {
  if (!Number.isSafeInteger(ack.first) || !Number.isSafeInteger(ack.last) || ack.first > ack.last)
    return `an acknowledged range needs first <= last, whole offsets; got ${ack.first}-${ack.last}`;
  if (ack.last >= state.endOffset) return `offsets up to ${ack.last} were never acquired (the end offset is ${state.endOffset})`;
  for (const range of ranges) {
    if (range.last < ack.first || range.first > ack.last) continue;
    if (range.state !== 'acquired' || range.member !== member)
      return `offsets ${Math.max(range.first, ack.first)}-${Math.min(range.last, ack.last)} are ${range.state}${range.member ? ` by another member` : ''}, not acquired by this member`;
    if (range.lockedUntilMs! <= nowMs) return `the lock on offsets ${range.first}-${range.last} expired`;
  }
  // Below the start, what no range holds is done.
  let inFlight = 0;
  for (const range of ranges) inFlight += Math.max(0, Math.min(range.last, ack.last) - Math.max(range.first, ack.first) + 1);
  if (inFlight < ack.last - ack.first + 1) return `offsets below ${state.startOffset} are done`;
  return undefined;
}

function settled(range: InFlightRange, type: AckType, context: AckContext): InFlightRange {
  switch (type) {
    case 'renew':
      return { ...range, lockedUntilMs: context.nowMs + context.lockMs };
    case 'accept':
      return done(range, 'acknowledged');
    case 'reject':
      return dead(range, 'rejected', context);
    case 'gap':
      return done(range, 'archived');
    case 'release':
      return released(range, context);
    case 'unread':
      return { first: range.first, last: range.last, state: 'available', deliveryCount: range.deliveryCount - 1 };
    case 'defer':
      return { first: range.first, last: range.last, state: 'deferred', deliveryCount: range.deliveryCount - 1 };
  }
}

function released(range: InFlightRange, death: Death): InFlightRange {
  return range.deliveryCount >= death.deliveryLimit ? dead(range, 'limit', death) : done(range, 'available');
}

/** A dead record: Archived, or Archiving under a claim from now when it gets a dead letter (invariant 6). */
function dead(range: InFlightRange, cause: DeathCause, { nowMs, deadLetters }: Death): InFlightRange {
  if (!deadLetters) return done(range, 'archived');
  return {
    first: range.first,
    last: range.last,
    state: 'archiving',
    deliveryCount: range.deliveryCount,
    lockedUntilMs: nowMs + deadLetterClaimMs,
    cause,
  };
}

const isDead = (range: InFlightRange) => range.state === 'archived' || range.state === 'archiving';

function done(range: InFlightRange, state: RecordState): InFlightRange {
  return { first: range.first, last: range.last, state, deliveryCount: range.deliveryCount };
}

/** Done as far as the start offset is concerned (a Deferred record is the delay index's until it comes back). */
const isDone = (range: InFlightRange) => range.state === 'acknowledged' || range.state === 'archived' || range.state === 'deferred';

/**
 * Invariant 1: adjacent alike ranges are one, done ranges at the start move the start past them,
 * and ranges come back below the start leave once done.
 */
function normalised(state: SharePartitionState): SharePartitionState {
  const merged: InFlightRange[] = [];
  for (const range of state.ranges) {
    const previous = merged.at(-1);
    if (previous && alike(previous, range) && previous.last + 1 === range.first)
      merged[merged.length - 1] = { ...previous, last: range.last };
    else merged.push(range);
  }
  let startOffset = state.startOffset;
  const below = merged.filter((range) => range.last < startOffset && !isDone(range));
  const rest = merged.filter((range) => range.last >= startOffset);
  while (rest.length > 0 && isDone(rest[0]!)) startOffset = rest.shift()!.last + 1;
  return { ...state, startOffset, ranges: [...below, ...rest] };
}

const size = (range: { readonly first: number; readonly last: number }) => range.last - range.first + 1;

/** Records Archived in `after` that were not in `before` (the same offsets, one state change apart). */
function newlyDead(before: readonly InFlightRange[], after: readonly InFlightRange[]): number {
  let died = 0;
  for (const [i, range] of after.entries()) if (isDead(range) && !isDead(before[i]!)) died += size(range);
  return died;
}

function alike(a: InFlightRange, b: InFlightRange): boolean {
  return (
    a.state === b.state &&
    a.deliveryCount === b.deliveryCount &&
    a.member === b.member &&
    a.lockedUntilMs === b.lockedUntilMs &&
    a.cause === b.cause
  );
}

function merged(acquired: readonly AcquiredRecords[]): AcquiredRecords[] {
  const out: AcquiredRecords[] = [];
  for (const batch of acquired) {
    const previous = out.at(-1);
    if (previous && previous.last + 1 === batch.first && previous.deliveryCount === batch.deliveryCount)
      out[out.length - 1] = { ...previous, last: batch.last };
    else out.push(batch);
  }
  return out;
}
