/**
 * The reliability checker: given what producers were told (acknowledgements, in the order each
 * producer got them), what they sent, what consumers were handed and what the log holds at the end,
 * it lists every broken promise. Pure; shared by the fault, crash-loop and zombie tests and the
 * longer scripts. Values are `<producer>:<sequence>`, unique per send (a retry resends the same value).
 *
 * Promises checked:
 *  - offsets of each partition are dense from 0 (nothing visible breaks density);
 *  - every acknowledged record is at the offset it was acknowledged with;
 *  - an idempotent producer's record is visible exactly once (acknowledged) or at most once (not);
 *  - per partition, each producer's acknowledged offsets grow in the order it was acknowledged;
 *  - nothing visible was never sent;
 *  - consumers: a record handed out is the one the log holds at that offset, and no (partition,
 *    offset) goes to two members in one generation;
 *  - a group that read to the end consumed every acknowledged record (at least once: a record read
 *    again in a later generation, as after a rebalance, is allowed);
 *  - committed group offsets never move backwards;
 *  - transactions (checkReadCommitted, checkTransactions), against the log read with its markers
 *    (support.ts's readPartitionsWithMarkers): a read_committed reader is handed no marker and no
 *    record of a transaction aborted or still open in the log, and, reading everything once it is
 *    all decided, every other record once; each transaction is visible to it all or nothing across
 *    its partitions, fully if its producer was told it committed, not at all if it was told it
 *    aborted or never asked to commit, each record at most once; its markers agree, and none is
 *    left open at the end;
 *  - share groups (checkShareGroup), from the deliveries and the answers to acknowledgements their
 *    receivers noted: no record settled twice, nor handed out again once settled, nor settled by an
 *    acknowledgement sent after its lock ended; each delivery the log's record, with a delivery count
 *    of its own that grows; once drained, every record settled (accepted once, dead, or accepted
 *    with the answer lost), the dead count within what the answers allow; their dead letters
 *    (checkDeadLetters): every record rejected or surely dead at the limit has one (at least once)
 *    naming it and copying it, no accepted record has one, and each partition's dead count is its
 *    lettered records'; delayed records (checkDelayedDeliveries) are handed to no receive answered
 *    before their due time.
 */

export interface Acknowledged {
  readonly producer: string;
  readonly idempotent: boolean;
  readonly value: string;
  readonly partition: number;
  readonly offset: number;
}

export interface StoredRecord {
  readonly offset: number;
  /** null: a record without a key (absent: not read; checkLog does not look at keys). */
  readonly key?: string | null;
  readonly value: string | null;
  /** Its batch's producer id (-1: none) and transactional flag (absent: not read, as in a read without markers). */
  readonly producerId?: number;
  readonly transactional?: boolean;
  /** A transaction marker (a control record, key and value null here): the end it writes. Absent: a data record. */
  readonly control?: 'commit' | 'abort' | 'unknown';
}

export interface Delivery {
  readonly member: string;
  /** null: the member could not tell (the delivery is then checked against the log, not against other members). */
  readonly generation: number | null;
  readonly partition: number;
  readonly offset: number;
  readonly value: string | null;
}

export interface CommitSample {
  readonly atMs: number;
  readonly partition: number;
  readonly committed: number;
}

export interface LogFigures {
  /** Records read back and checked (data records: markers are counted apart). */
  readonly records: number;
  /** Transaction markers in the log (each takes an offset). */
  readonly markers: number;
  readonly acknowledged: number;
  /** Visible copies beyond the first of non-idempotent producers' values (retries after a lost answer). */
  readonly duplicates: number;
  /** Sent values never acknowledged but visible (a lost answer, not retried with success). */
  readonly unacknowledgedVisible: number;
}

const maxReported = 25;

class Violations {
  readonly list: string[] = [];
  private dropped = 0;
  add(message: string): void {
    if (this.list.length < maxReported) this.list.push(message);
    else this.dropped++;
  }
  done(): string[] {
    return this.dropped > 0 ? [...this.list, `… and ${this.dropped} more`] : this.list;
  }
}

/** `partitions[p]` is partition p's records, in offset order, as read from offset 0. */
export function checkLog(
  acks: readonly Acknowledged[],
  partitions: readonly (readonly StoredRecord[])[],
  sent: ReadonlySet<string>,
  idempotentProducers: ReadonlySet<string>,
): { figures: LogFigures; violations: string[] } {
  const violations = new Violations();
  const seen = new Map<string, { partition: number; offset: number }[]>();
  let records = 0;
  let markers = 0;
  partitions.forEach((stored, partition) => {
    stored.forEach((record, index) => {
      if (record.offset !== index)
        violations.add(`partition ${partition}: offset ${record.offset} at position ${index}: offsets are not dense from 0`);
      if (record.control !== undefined) {
        markers++;
        if (record.control === 'unknown')
          violations.add(`partition ${partition} offset ${record.offset}: a control record of no known type`);
        return;
      }
      records++;
      const value = record.value ?? '<null>';
      if (!sent.has(value)) violations.add(`partition ${partition} offset ${record.offset}: ${value} was never sent`);
      const places = seen.get(value) ?? [];
      places.push({ partition, offset: record.offset });
      seen.set(value, places);
    });
  });

  const lastOffset = new Map<string, { offset: number; value: string }>();
  const acknowledgedValues = new Set<string>();
  for (const ack of acks) {
    acknowledgedValues.add(ack.value);
    const at = partitions[ack.partition]?.[ack.offset];
    if (at?.value !== ack.value) {
      violations.add(
        `${ack.value} was acknowledged at ${ack.partition}/${ack.offset}, which holds ${at === undefined ? 'nothing' : at.value}`,
      );
    }
    const key = `${ack.producer}#${ack.partition}`;
    const previous = lastOffset.get(key);
    if (previous && previous.offset >= ack.offset) {
      violations.add(
        `${ack.producer} on partition ${ack.partition}: ${ack.value} acknowledged at ${ack.offset}, after ${previous.value} at ${previous.offset}`,
      );
    }
    lastOffset.set(key, { offset: ack.offset, value: ack.value });
  }

  let duplicates = 0;
  let unacknowledgedVisible = 0;
  for (const [value, places] of seen) {
    const producer = value.slice(0, value.lastIndexOf(':'));
    if (idempotentProducers.has(producer) && places.length > 1) {
      violations.add(
        `${value} of idempotent producer ${producer} is visible ${places.length} times: ${places.map((p) => `${p.partition}/${p.offset}`).join(', ')}`,
      );
    }
    duplicates += places.length - 1;
    if (!acknowledgedValues.has(value)) unacknowledgedVisible++;
  }
  return { figures: { records, markers, acknowledged: acks.length, duplicates, unacknowledgedVisible }, violations: violations.done() };
}

/** Consumers' deliveries against the final log. */
export function checkDeliveries(deliveries: readonly Delivery[], partitions: readonly (readonly StoredRecord[])[]): string[] {
  const violations = new Violations();
  const owner = new Map<string, string>();
  for (const delivery of deliveries) {
    const stored = partitions[delivery.partition]?.[delivery.offset];
    if (stored?.value !== delivery.value || stored.control !== undefined) {
      violations.add(
        `${delivery.member} got ${delivery.value} at ${delivery.partition}/${delivery.offset}, where the log holds ${held(stored)}`,
      );
    }
    if (delivery.generation === null) continue;
    const key = `${delivery.generation}#${delivery.partition}#${delivery.offset}`;
    const first = owner.get(key);
    if (first !== undefined && first !== delivery.member) {
      violations.add(
        `${delivery.partition}/${delivery.offset} went to ${first} and ${delivery.member} in generation ${delivery.generation}`,
      );
    }
    owner.set(key, delivery.member);
  }
  return violations.done();
}

const held = (stored: StoredRecord | undefined) =>
  stored === undefined ? 'nothing' : stored.control !== undefined ? `a ${stored.control} marker` : stored.value;

/** At least once: every acknowledged record was handed to some member of `group`, in any generation, any number of times. */
export function checkConsumed(group: string, acks: readonly Acknowledged[], deliveries: readonly Delivery[]): string[] {
  const violations = new Violations();
  const delivered = new Set(deliveries.map((d) => `${d.partition}/${d.offset}`));
  for (const ack of acks) {
    if (!delivered.has(`${ack.partition}/${ack.offset}`))
      violations.add(`${group}: ${ack.value}, acknowledged at ${ack.partition}/${ack.offset}, was never consumed`);
  }
  return violations.done();
}

/** Samples in the order they were taken. */
export function checkCommits(samples: readonly CommitSample[]): string[] {
  const violations = new Violations();
  const last = new Map<number, CommitSample>();
  for (const sample of samples) {
    const previous = last.get(sample.partition);
    if (previous && sample.committed < previous.committed) {
      violations.add(
        `partition ${sample.partition}: committed offset went from ${previous.committed} to ${sample.committed} (${sample.atMs - previous.atMs} ms later)`,
      );
    }
    last.set(sample.partition, sample);
  }
  return violations.done();
}

/** A transaction as its producer saw it. */
export interface ClientTransaction {
  /** Names it in reports: `<transactional id>#<n>`. */
  readonly id: string;
  /** Every record the producer sent in it, answered or not, each with a value of its own. */
  readonly records: readonly { readonly partition: number; readonly value: string }[];
  /** The end the producer last asked for; none: it asked for none (a failure came first, or it dropped the transaction). */
  readonly asked: 'commit' | 'abort' | 'none';
  /** What it was told of the end; unknown: the request failed, or none was made. */
  readonly told: 'committed' | 'aborted' | 'unknown';
}

/** A record a reader was handed. */
export interface ReadRecord {
  readonly partition: number;
  readonly offset: number;
  readonly value: string | null;
}

export interface TransactionFigures {
  readonly transactions: number;
  /** By what the producer was told. */
  readonly committed: number;
  readonly aborted: number;
  readonly unknown: number;
  /** Of the unknown, those that asked to commit, and of them those the reader saw (their commit landed). */
  readonly unknownCommits: number;
  readonly unknownCommitsVisible: number;
  /** Transactions whose records the reader saw. */
  readonly visible: number;
}

interface Fate {
  readonly fate: 'committed' | 'aborted' | 'open';
  /** The offset of the marker that decided it. */
  readonly marker?: number;
}

/**
 * Each transactional record's fate, by `<partition>/<offset>`, as the log's markers decide it: its
 * producer's next marker in its partition (COMMIT or ABORT); none after it: still open.
 */
export function transactionFates(partitions: readonly (readonly StoredRecord[])[]): Map<string, Fate> {
  const fates = new Map<string, Fate>();
  partitions.forEach((stored, partition) => {
    const pending = new Map<number, string[]>(); // producer id → its transactional records since its last marker
    for (const record of stored) {
      const producerId = record.producerId ?? -1;
      if (record.control !== undefined) {
        const fate = record.control === 'commit' ? 'committed' : 'aborted';
        for (const at of pending.get(producerId) ?? []) fates.set(at, { fate, marker: record.offset });
        pending.delete(producerId);
      } else if (record.transactional === true) {
        const at = `${partition}/${record.offset}`;
        fates.set(at, { fate: 'open' });
        pending.set(producerId, [...(pending.get(producerId) ?? []), at]);
      }
    }
  });
  return fates;
}

const fateOf = (fate: Fate | undefined) =>
  fate === undefined ? 'not transactional' : fate.marker === undefined ? fate.fate : `${fate.fate} by the marker at ${fate.marker}`;

/**
 * A read_committed reader's view (records in the order handed) against the log read with its
 * markers: it was handed data records of the log at their offsets, no marker, and no record of a
 * transaction that the log has aborted (an ABORT marker after it) or still open (no marker after
 * it). `complete`: the reader read every partition from 0 to the end once every transaction was
 * decided (the last stable offset at the high watermark): it was handed every other record (plain,
 * or of a committed transaction) exactly once.
 */
export function checkReadCommitted(
  reader: string,
  view: readonly ReadRecord[],
  partitions: readonly (readonly StoredRecord[])[],
  options: { readonly complete?: boolean } = {},
): string[] {
  const violations = new Violations();
  const fates = transactionFates(partitions);
  const handed = new Map<string, number>();
  for (const record of view) {
    const at = `${record.partition}/${record.offset}`;
    handed.set(at, (handed.get(at) ?? 0) + 1);
    const stored = partitions[record.partition]?.[record.offset];
    if (stored === undefined || stored.control !== undefined || stored.value !== record.value) {
      violations.add(`${reader} was handed ${record.value} at ${at}, where the log holds ${held(stored)}`);
      continue;
    }
    const fate = fates.get(at);
    if (fate !== undefined && fate.fate !== 'committed')
      violations.add(`${reader} was handed ${record.value} at ${at}, a record of a transaction ${fateOf(fate)}`);
  }
  if (options.complete) {
    partitions.forEach((stored, partition) => {
      for (const record of stored) {
        const at = `${partition}/${record.offset}`;
        const fate = fates.get(at);
        if (record.control !== undefined || (fate !== undefined && fate.fate !== 'committed')) continue;
        const times = handed.get(at) ?? 0;
        if (times !== 1) violations.add(`${reader} was handed ${record.value} at ${at} (${fateOf(fate)}) ${times} times`);
      }
    });
  }
  return violations.done();
}

/**
 * Each transaction, from what its producer was told and what a read_committed reader saw once
 * everything was decided (a complete view, as in checkReadCommitted), with the log read with its
 * markers as evidence. Promises checked, per transaction:
 *  (a) all or nothing: its records are visible on all its partitions or on none;
 *  (b) told committed: visible, all of it;
 *  (c) told aborted, or never asked to commit: not visible at all;
 *  (d) unknown after asking to commit: either, by (a);
 *  (e) each record visible at most once, on the partition it was sent to, and in the log at most once;
 *  and in the log: the markers that decide its records agree (all COMMIT or all ABORT), and none of
 *  its records is left without a marker (a transaction still open at the end would hold the last
 *  stable offset back for ever).
 */
export function checkTransactions(
  reader: string,
  transactions: readonly ClientTransaction[],
  view: readonly ReadRecord[],
  partitions: readonly (readonly StoredRecord[])[],
): { figures: TransactionFigures; violations: string[] } {
  const violations = new Violations();
  const fates = transactionFates(partitions);
  const places = (records: Iterable<ReadRecord>) => {
    const out = new Map<string, ReadRecord[]>();
    for (const record of records) if (record.value !== null) out.set(record.value, [...(out.get(record.value) ?? []), record]);
    return out;
  };
  const inLog = places(
    partitions.flatMap((stored, partition) => stored.filter((r) => r.control === undefined).map((r) => ({ ...r, partition }))),
  );
  const seen = places(view);
  const whereInLog = (value: string) => {
    const at = inLog.get(value) ?? [];
    return at.length === 0
      ? 'not in the log'
      : at.map((r) => `at ${r.partition}/${r.offset}, ${fateOf(fates.get(`${r.partition}/${r.offset}`))}`).join('; ');
  };
  const describe = (records: ClientTransaction['records']) =>
    records.map((r) => `${r.partition} (${r.value} ${whereInLog(r.value)})`).join(', ');
  let unknownCommits = 0;
  let unknownCommitsVisible = 0;
  let visibleTransactions = 0;
  for (const txn of transactions) {
    const name = `transaction ${txn.id} (asked ${txn.asked}, told ${txn.told})`;
    const visible = txn.records.filter((r) => seen.has(r.value));
    const hidden = txn.records.filter((r) => !seen.has(r.value));
    if (visible.length > 0) visibleTransactions++;
    if (txn.told === 'unknown' && txn.asked === 'commit') {
      unknownCommits++;
      if (visible.length > 0) unknownCommitsVisible++;
    }
    if (visible.length > 0 && hidden.length > 0)
      violations.add(`${name} is partly visible to ${reader}: on partitions ${describe(visible)}; not on ${describe(hidden)}`);
    if (txn.told === 'committed' && hidden.length > 0)
      violations.add(`${name} committed, but ${reader} did not see it on partitions ${describe(hidden)}`);
    if ((txn.told === 'aborted' || txn.asked !== 'commit') && visible.length > 0)
      violations.add(`${name} never committed, but ${reader} saw it on partitions ${describe(visible)}`);
    for (const record of txn.records) {
      const handed = seen.get(record.value) ?? [];
      if (handed.length > 1 || handed.some((r) => r.partition !== record.partition))
        violations.add(
          `${record.value} of transaction ${txn.id}, sent to partition ${record.partition}, was handed to ${reader} at ${handed.map((r) => `${r.partition}/${r.offset}`).join(', ')}`,
        );
      const stored = inLog.get(record.value) ?? [];
      if (stored.length > 1)
        violations.add(`${record.value} of transaction ${txn.id} is in the log ${stored.length} times: ${whereInLog(record.value)}`);
      for (const r of stored) {
        if (fates.get(`${r.partition}/${r.offset}`)?.fate === 'open')
          violations.add(`${name} is still open at the end: ${record.value} at ${r.partition}/${r.offset} has no marker after it`);
      }
    }
    const decided = new Set(
      txn.records.flatMap((r) =>
        (inLog.get(r.value) ?? []).map((s) => fates.get(`${s.partition}/${s.offset}`)?.fate ?? 'not transactional'),
      ),
    );
    if (decided.size > 1) violations.add(`${name}: the log's markers disagree: ${describe(txn.records)}`);
  }
  const told = (outcome: ClientTransaction['told']) => transactions.filter((t) => t.told === outcome).length;
  return {
    figures: {
      transactions: transactions.length,
      committed: told('committed'),
      aborted: told('aborted'),
      unknown: told('unknown'),
      unknownCommits,
      unknownCommitsVisible,
      visible: visibleTransactions,
    },
    violations: violations.done(),
  };
}

/** A record of a compacted topic (which refuses records without a key) as read back. Tombstones have value null. */
export interface KeyedRecord extends StoredRecord {
  readonly key: string;
}

export interface CompactedAck extends KeyedRecord {
  readonly partition: number;
}

/**
 * A compacted topic (cleanup.policy=compact) at the end of a run, after the log cleaner worked on it
 * throughout. `sent` maps every value sent to its key. Promises checked, per partition:
 *  - offsets only grow (they are sparse once cleaned, never renumbered);
 *  - a record kept was sent with that key (a tombstone: some tombstone of that key was sent);
 *  - an acknowledged record is either where it was acknowledged, or gone because a later
 *    acknowledged record of its key exists, or it is a tombstone (removed once past its time);
 *  - a deleted key stays deleted: a value kept below a tombstone that is its key's last record means
 *    that tombstone is kept too (the cleaner removes the values a tombstone deletes before the
 *    tombstone; with a later record of the key, an older value may outlive a tombstone between two
 *    passes, which no reader can tell from a key written again);
 *  - settled (fault-free passes ran after the last write, each past delete.retention.ms): one record
 *    per key at most: whatever the faults cut short, cleaning converges.
 */
export function checkCompacted(
  acks: readonly CompactedAck[],
  stored: readonly (readonly StoredRecord[])[],
  sent: ReadonlyMap<string, string>,
  tombstonedKeys: ReadonlySet<string>,
  /** settled: fault-free passes ran after the last write, past delete.retention.ms: each key has one record left, at most. */
  options: { readonly settled?: boolean } = {},
): { figures: { acknowledged: number; kept: number }; violations: string[] } {
  const violations = new Violations();
  const partitions = stored.map((records, partition) =>
    records.filter((record): record is KeyedRecord => {
      if (typeof record.key !== 'string') violations.add(`compacted ${partition}/${record.offset}: a record without a key`);
      return typeof record.key === 'string';
    }),
  );
  const byOffset = partitions.map((records) => new Map(records.map((record) => [record.offset, record])));
  partitions.forEach((records, partition) => {
    records.forEach((record, index) => {
      if (index > 0 && record.offset <= records[index - 1]!.offset)
        violations.add(`compacted partition ${partition}: offset ${record.offset} after ${records[index - 1]!.offset}`);
      if (record.value === null ? !tombstonedKeys.has(record.key) : sent.get(record.value) !== record.key)
        violations.add(`compacted ${partition}/${record.offset}: ${record.key}=${record.value} was never sent`);
    });
  });
  const latestAck = new Map<string, CompactedAck>(); // by partition#key: the highest acknowledged offset
  for (const ack of acks) {
    const id = `${ack.partition}#${ack.key}`;
    if ((latestAck.get(id)?.offset ?? -1) < ack.offset) latestAck.set(id, ack);
  }
  for (const ack of acks) {
    const kept = byOffset[ack.partition]?.get(ack.offset);
    if (kept !== undefined) {
      if (kept.key !== ack.key || kept.value !== ack.value)
        violations.add(`compacted ${ack.partition}/${ack.offset}: acknowledged ${ack.key}=${ack.value}, holds ${kept.key}=${kept.value}`);
      continue;
    }
    const superseded = partitions[ack.partition]!.some((record) => record.key === ack.key && record.offset > ack.offset);
    if (ack.value !== null && !superseded && latestAck.get(`${ack.partition}#${ack.key}`)!.offset === ack.offset)
      violations.add(`compacted ${ack.partition}/${ack.offset}: ${ack.key}=${ack.value}, the key's latest acknowledged value, is gone`);
  }
  for (const ack of acks) {
    if (ack.value !== null || byOffset[ack.partition]!.has(ack.offset)) continue;
    // Only a deletion that stands: a later record of the key (acknowledged or kept) supersedes what came before it anyway.
    const later = (record: KeyedRecord) => record.key === ack.key && record.offset > ack.offset;
    if (latestAck.get(`${ack.partition}#${ack.key}`)!.offset !== ack.offset || partitions[ack.partition]!.some(later)) continue;
    for (const record of partitions[ack.partition]!) {
      if (record.offset < ack.offset && record.key === ack.key && record.value !== null)
        violations.add(
          `compacted ${ack.partition}: ${record.key}=${record.value} at ${record.offset} outlived the tombstone acknowledged at ${ack.offset}`,
        );
    }
  }
  if (options.settled) {
    partitions.forEach((records, partition) => {
      const offsets = new Map<string, number[]>();
      for (const record of records) offsets.set(record.key, [...(offsets.get(record.key) ?? []), record.offset]);
      for (const [key, at] of offsets)
        if (at.length > 1)
          violations.add(`compacted partition ${partition}: key ${key} still has ${at.length} records (${at.join(', ')}) once settled`);
    });
  }
  return {
    figures: { acknowledged: acks.length, kept: partitions.reduce((sum, records) => sum + records.length, 0) },
    violations: violations.done(),
  };
}

/** A record a share group handed to one of its receivers (an HTTP receive, or a Kafka share consumer's poll). */
export interface ShareDelivery {
  /** The receiver, one name per incarnation: its deliveries are listed in the order it was handed them. */
  readonly receiver: string;
  readonly partition: number;
  readonly offset: number;
  readonly value: string | null;
  /** The delivery count it was handed with (this delivery included). */
  readonly deliveryCount: number;
}

/**
 * What a receiver was answered to one record's acknowledgement: the HTTP API's statuses (`ok`,
 * `already_settled`, `lock_expired`, `invalid`); `refused`, Kafka's INVALID_RECORD_STATE (nothing
 * settled: already settled, or the lock ended; it does not say which); `unknown`, no answer (a kill
 * cut the request short, or the consumer died first: it may or may not have been applied).
 */
export type ShareAckStatus = 'ok' | 'already_settled' | 'lock_expired' | 'invalid' | 'refused' | 'unknown';

export interface ShareAck {
  readonly receiver: string;
  readonly partition: number;
  readonly offset: number;
  /** The delivery it settles, by its delivery count. */
  readonly deliveryCount: number;
  readonly outcome: 'accept' | 'release' | 'reject';
  readonly status: ShareAckStatus;
  /** Sent once the delivery's lock had surely ended (its receiver waited out the lock after it was handed the record). */
  readonly late?: boolean;
}

/** A share partition as the group described it (GET /v1/queues/{group}) once its receivers had drained it. */
export interface SharePartitionEnd {
  readonly partition: number;
  readonly startOffset: number;
  readonly logEndOffset: number;
  readonly acquired: number;
  readonly available: number;
  readonly dead: number;
  /** Records deferred (delayed delivery) and not due yet: none once drained. Absent: not described. */
  readonly delayed?: number;
}

export interface ShareFigures {
  readonly deliveries: number;
  /** Deliveries with a count above 1: the record was released, its lock expired, or a receive's answer was lost. */
  readonly redeliveries: number;
  /** Records accepted (an `ok` to an accept) and rejected (an `ok` to a reject). */
  readonly accepted: number;
  readonly rejected: number;
  /** Records never answered `ok` to an accept or reject, but one whose answer was lost (settled by it, or dead at the limit). */
  readonly settledUnanswered: number;
  /** Records the group counted dead at the end (absent: no end given). */
  readonly dead?: number;
  /** Acknowledgements by outcome and status: `accept ok`, `release lock_expired`, … */
  readonly acks: Record<string, number>;
}

/**
 * A share group's deliveries and acknowledgements, as its receivers saw them, against the log
 * (read with its markers) and, once the receivers drained the group, its description at the end.
 * The group reads every partition from offset 0 (share.auto.offset.reset=earliest, set before the
 * first record was written). Promises checked:
 *  (a) no record is settled twice: no (partition, offset) is answered `ok` to two accepts (or
 *      rejects), from two deliveries or the same one;
 *  (b) each delivery is of the record the log holds at that offset (no marker, no other value);
 *  (c) at the end, every record is settled: the group's start offset is at the log's end with
 *      nothing acquired, available or delayed, and every record was answered `ok` to exactly one accept, or
 *      is dead (rejected, or delivered `deliveryLimit` times), or an accept's answer was lost. Which
 *      records died at the limit no client can tell (a receive whose answer a kill cut short counts
 *      a delivery unseen), so per partition the dead count must lie between the records surely dead
 *      (rejected, or neither accepted nor answered lost) and those possibly dead (also those whose
 *      accept's answer was lost);
 *  (d) a record's delivery counts grow: each delivery of it has a count of its own (two deliveries
 *      with one count are two holders of one acquisition), in 1..deliveryLimit, rising in the order
 *      each receiver was handed it;
 *  (e) of one holder at a time, what a client can see: a record accepted or rejected (`ok`) at
 *      delivery n is never delivered again (no delivery above n): an acknowledgement that settled a
 *      record another holder had since acquired would show so; an acknowledgement sent after its
 *      lock ended settles nothing (never `ok`); and one of a record handed out is never `invalid`
 *      (it names a holder, a partition and an offset the group gave).
 */
export function checkShareGroup(
  group: string,
  deliveries: readonly ShareDelivery[],
  acks: readonly ShareAck[],
  partitions: readonly (readonly StoredRecord[])[],
  options: { readonly deliveryLimit: number; readonly end?: readonly SharePartitionEnd[] },
): { figures: ShareFigures; violations: string[] } {
  const violations = new Violations();
  const at = (r: { partition: number; offset: number }) => `${r.partition}/${r.offset}`;
  const handed = new Map<string, ShareDelivery[]>();
  const lastCount = new Map<string, number>(); // receiver#partition/offset
  for (const d of deliveries) {
    const record = at(d);
    const stored = partitions[d.partition]?.[d.offset];
    if (stored === undefined || stored.control !== undefined || stored.value !== d.value)
      violations.add(`${group}: ${d.receiver} was handed ${d.value} at ${record}, where the log holds ${held(stored)}`);
    if (!Number.isSafeInteger(d.deliveryCount) || d.deliveryCount < 1 || d.deliveryCount > options.deliveryLimit)
      violations.add(`${group}: ${d.receiver} was handed ${record} at delivery ${d.deliveryCount}, outside 1 to ${options.deliveryLimit}`);
    const earlier = handed.get(record) ?? [];
    const own = lastCount.get(`${d.receiver}#${record}`);
    const twin = earlier.find((e) => e.deliveryCount === d.deliveryCount);
    if (own !== undefined && own >= d.deliveryCount)
      violations.add(`${group}: ${d.receiver} was handed ${record} at delivery ${d.deliveryCount}, after delivery ${own}`);
    else if (twin !== undefined)
      violations.add(`${group}: ${record} was handed to ${twin.receiver} and to ${d.receiver} at delivery ${d.deliveryCount}: two holders`);
    lastCount.set(`${d.receiver}#${record}`, d.deliveryCount);
    handed.set(record, [...earlier, d]);
  }

  const ackCounts: Record<string, number> = {};
  const settled = new Map<string, ShareAck[]>(); // `ok` to an accept or a reject
  const lost = new Set<string>(); // an accept or reject answered nothing
  for (const ack of acks) {
    const record = at(ack);
    const name = `${ack.receiver}'s ${ack.outcome} of ${record} (delivery ${ack.deliveryCount})`;
    ackCounts[`${ack.outcome} ${ack.status}`] = (ackCounts[`${ack.outcome} ${ack.status}`] ?? 0) + 1;
    if (!handed.get(record)?.some((d) => d.receiver === ack.receiver && d.deliveryCount === ack.deliveryCount))
      violations.add(`${group}: ${name} acknowledges a delivery it was never handed`);
    if (ack.status === 'invalid') violations.add(`${group}: ${name}, a record it was handed, was answered invalid`);
    if (ack.status === 'ok' && ack.late === true) violations.add(`${group}: ${name}, sent after its lock ended, was answered ok`);
    if (ack.outcome === 'release') continue;
    if (ack.status === 'ok') settled.set(record, [...(settled.get(record) ?? []), ack]);
    if (ack.status === 'unknown') lost.add(record);
  }
  const describe = (ack: ShareAck) => `${ack.outcome} by ${ack.receiver} (delivery ${ack.deliveryCount})`;
  let accepted = 0;
  let rejected = 0;
  for (const [record, oks] of settled) {
    if (oks.length > 1) violations.add(`${group}: ${record} was settled ${oks.length} times: ${oks.map(describe).join(', ')}`);
    if (oks.some((ack) => ack.outcome === 'accept')) accepted++;
    else rejected++;
    const first = Math.min(...oks.map((ack) => ack.deliveryCount));
    const again = (handed.get(record) ?? []).filter((d) => d.deliveryCount > first);
    if (again.length > 0)
      violations.add(
        `${group}: ${record} was settled (${oks.map(describe).join(', ')}) and handed out again: ${again.map((d) => `to ${d.receiver} at delivery ${d.deliveryCount}`).join(', ')}`,
      );
  }

  let settledUnanswered = 0;
  let dead: number | undefined;
  if (options.end !== undefined) {
    dead = 0;
    const ends = new Map(options.end.map((end) => [end.partition, end]));
    partitions.forEach((stored, partition) => {
      const end = ends.get(partition);
      const data = stored.filter((record) => record.control === undefined);
      if (end === undefined) {
        if (data.length > 0) violations.add(`${group}: partition ${partition} holds ${data.length} records, and the group never read it`);
        return;
      }
      dead! += end.dead;
      if (end.startOffset !== stored.length || end.acquired !== 0 || end.available !== 0 || (end.delayed ?? 0) !== 0)
        violations.add(
          `${group}: partition ${partition} is not settled to the end of its log (${stored.length}): start offset ${end.startOffset}, log end ${end.logEndOffset}, ${end.acquired} acquired, ${end.available} available${end.delayed ? `, ${end.delayed} delayed` : ''}`,
        );
      let rejectedHere = 0;
      const unanswered: number[] = [];
      const unsettled: number[] = []; // neither accepted nor rejected, and no answer lost: dead at the limit, or lost
      for (const record of data) {
        const oks = settled.get(at({ partition, offset: record.offset })) ?? [];
        if (oks.some((ack) => ack.outcome === 'accept')) continue;
        if (oks.length > 0) rejectedHere++;
        else if (lost.has(at({ partition, offset: record.offset }))) unanswered.push(record.offset);
        else unsettled.push(record.offset);
      }
      settledUnanswered += unanswered.length;
      const least = rejectedHere + unsettled.length;
      const most = least + unanswered.length;
      const offsets = (list: number[]) => `${list.slice(0, 10).join(', ')}${list.length > 10 ? ', …' : ''}`;
      if (end.dead < least)
        violations.add(
          `${group}: partition ${partition}: ${rejectedHere} records were rejected and ${unsettled.length} neither accepted nor rejected with no answer lost${unsettled.length > 0 ? ` (${offsets(unsettled)})` : ''}, but the group counts ${end.dead} dead: a record was lost`,
        );
      if (end.dead > most)
        violations.add(
          `${group}: partition ${partition}: the group counts ${end.dead} dead, but at most ${most} records were not accepted: an accepted record counted dead`,
        );
    });
  }
  return {
    figures: {
      deliveries: deliveries.length,
      redeliveries: deliveries.filter((d) => d.deliveryCount > 1).length,
      accepted,
      rejected,
      settledUnanswered,
      ...(dead === undefined ? {} : { dead }),
      acks: ackCounts,
    },
    violations: violations.done(),
  };
}

/** A dead letter as read back from a dead-letter topic: where it is there, its copied key and value, and its headers by name. */
export interface DeadLetter {
  /** Its partition and offset in the dead-letter topic. */
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string | null>>;
}

/** Kafka 4.4's dead-letter messages (KIP-1191), by cause: no HTTP reject of the crash loop gives its own. */
const deadLetterMessages = { rejected: 'Offset rejected by client.', limit: 'Offset delivery count exceeded the threshold.' } as const;

export interface DeadLetterFigures {
  readonly letters: number;
  /** Records with at least one dead letter, and letters beyond each record's first (written again after a crash: at least once). */
  readonly records: number;
  readonly duplicates: number;
  /** Lettered records whose accept or reject was answered nothing (dead, or the answer lost). */
  readonly unanswered: number;
}

/**
 * A share group's dead letters (its dead-letter topic read to the end once the group was drained,
 * `copy.record.enable` on) against the acknowledgements its receivers noted, the source topic's log
 * (with markers) and the group's description at the end. Promises checked:
 *  (a) each letter names, in its `__dlq.errors.*` headers, the group, the topic and a record the log
 *      holds at that partition and offset (no marker), copies its key and value, lies in partition
 *      source partition mod `deadLetterPartitions`, and has a delivery count in 1..deliveryLimit and
 *      Kafka's message for its cause;
 *  (b) every record rejected (an `ok` to a reject) has a letter, each with the rejecting delivery's
 *      count and the reject's message; every record neither accepted nor rejected with no answer lost
 *      (dead at the limit: checkShareGroup's surely dead) has one, each at the limit with its message;
 *  (c) no record accepted (an `ok` to an accept) has a letter;
 *  (d) at the end, each partition's dead count is the number of its records with a letter: a record
 *      counted dead without one (a crash between Archiving and the letter, never taken over) shows.
 * A record may have several letters (at least once); a record whose accept's or reject's answer was
 * lost may have one or not.
 */
export function checkDeadLetters(
  group: string,
  topic: string,
  letters: readonly DeadLetter[],
  acks: readonly ShareAck[],
  partitions: readonly (readonly StoredRecord[])[],
  options: { readonly deliveryLimit: number; readonly deadLetterPartitions: number; readonly end?: readonly SharePartitionEnd[] },
): { figures: DeadLetterFigures; violations: string[] } {
  const violations = new Violations();
  const at = (partition: number, offset: number) => `${partition}/${offset}`;
  const accepted = new Set<string>();
  const rejectedAt = new Map<string, number>(); // record -> the delivery count of its reject `ok`
  const lost = new Set<string>(); // an accept or a reject answered nothing
  const rejectLost = new Set<string>(); // a reject answered nothing (it may have killed the record)
  for (const ack of acks) {
    if (ack.outcome === 'release') continue;
    const record = at(ack.partition, ack.offset);
    if (ack.status === 'ok' && ack.outcome === 'accept') accepted.add(record);
    if (ack.status === 'ok' && ack.outcome === 'reject') rejectedAt.set(record, ack.deliveryCount);
    if (ack.status === 'unknown') lost.add(record);
    if (ack.status === 'unknown' && ack.outcome === 'reject') rejectLost.add(record);
  }
  const lettered = new Map<string, number>(); // record -> letters
  for (const letter of letters) {
    const name = `${group}: dead letter ${letter.partition}/${letter.offset}`;
    const header = (key: string) => letter.headers[`__dlq.errors.${key}`];
    const number = (key: string) => {
      const text = header(key);
      return text !== null && text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
    };
    const partition = number('partition');
    const offset = number('offset');
    const deliveryCount = number('delivery.count');
    if (header('group') !== group || header('topic') !== topic || partition === undefined || offset === undefined) {
      violations.add(
        `${name} names group ${header('group')}, topic ${header('topic')}, partition ${header('partition')}, offset ${header('offset')}: not a record of ${group} on ${topic}`,
      );
      continue;
    }
    const record = at(partition, offset);
    const stored = partitions[partition]?.find((r) => r.offset === offset);
    if (stored === undefined || stored.control !== undefined) {
      violations.add(`${name} names ${record}, where the log holds ${held(stored)}`);
      continue;
    }
    lettered.set(record, (lettered.get(record) ?? 0) + 1);
    if (letter.value !== stored.value || (stored.key !== undefined && letter.key !== stored.key))
      violations.add(
        `${name} of ${record} copies key ${letter.key} and value ${letter.value}, where the log holds key ${stored.key} and value ${stored.value}`,
      );
    if (letter.partition !== partition % options.deadLetterPartitions)
      violations.add(`${name} of ${record} is in partition ${letter.partition}, not ${partition % options.deadLetterPartitions}`);
    const message = header('message');
    if (accepted.has(record)) violations.add(`${name} is of ${record}, which was accepted (answered ok)`);
    else if (rejectedAt.has(record)) {
      if (deliveryCount !== rejectedAt.get(record) || message !== deadLetterMessages.rejected)
        violations.add(
          `${name} of ${record}, rejected at delivery ${rejectedAt.get(record)}, says delivery count ${header('delivery.count')} and ${JSON.stringify(message)}`,
        );
    } else if (
      deliveryCount === undefined ||
      deliveryCount < 1 ||
      deliveryCount > options.deliveryLimit ||
      !(
        (message === deadLetterMessages.limit && deliveryCount === options.deliveryLimit) ||
        (message === deadLetterMessages.rejected && rejectLost.has(record))
      )
    )
      violations.add(
        `${name} of ${record} says delivery count ${header('delivery.count')} and ${JSON.stringify(message)}: ${rejectLost.has(record) ? 'neither a reject nor' : 'not'} a death at the limit (${options.deliveryLimit})`,
      );
  }
  for (const [record, count] of rejectedAt)
    if (!lettered.has(record)) violations.add(`${group}: ${record} was rejected (delivery ${count}), and has no dead letter`);
  let unanswered = 0;
  partitions.forEach((stored, partition) => {
    let letteredHere = 0;
    const missing: number[] = [];
    for (const record of stored) {
      if (record.control !== undefined) continue;
      const key = at(partition, record.offset);
      if (lettered.has(key)) {
        letteredHere++;
        if (lost.has(key) && !rejectedAt.has(key)) unanswered++;
      } else if (options.end !== undefined && !accepted.has(key) && !rejectedAt.has(key) && !lost.has(key)) missing.push(record.offset);
    }
    if (missing.length > 0)
      violations.add(
        `${group}: ${missing.length} records of partition ${partition} neither accepted nor rejected with no answer lost (dead at the limit) have no dead letter (${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''})`,
      );
    const end = options.end?.find((e) => e.partition === partition);
    if (end !== undefined && end.dead !== letteredHere)
      violations.add(
        `${group}: partition ${partition}: the group counts ${end.dead} dead, but ${letteredHere} of its records have a dead letter`,
      );
  });
  return {
    figures: {
      letters: letters.length,
      records: lettered.size,
      duplicates: [...lettered.values()].reduce((a, b) => a + b, 0) - lettered.size,
      unanswered,
    },
    violations: violations.done(),
  };
}

/** A record produced to be delivered to share groups no sooner than `notBeforeMs` (its due time, or a time surely before it). */
export interface DelayedRecord {
  readonly value: string;
  readonly notBeforeMs: number;
}

/**
 * A share-group delivery with the time its receive was answered: the record was acquired before
 * then (and after the receive was sent, but a long poll may wait: the send time bounds nothing).
 */
export interface TimedShareDelivery extends ShareDelivery {
  readonly answeredAtMs: number;
}

export interface DelayFigures {
  /** Delayed records produced, and deliveries of them. */
  readonly delayed: number;
  readonly deliveries: number;
  /** Of the first deliveries of delayed records, how long after the due time their receives were answered: the least and the most. */
  readonly earliestMs?: number;
  readonly latestMs?: number;
}

/**
 * Delayed delivery (deliver_after_ms, the spool.deliver.at.ms header): no share-group delivery of
 * a delayed record (by value: a resent produce's copies are all due no sooner) came from a receive
 * answered before its due time less `toleranceMs` (the agent and the receiver share a clock, but
 * not an instant): such a record was acquired before it was due. That each is delivered at all,
 * and settled, is checkShareGroup's end check.
 */
export function checkDelayedDeliveries(
  group: string,
  delayed: readonly DelayedRecord[],
  deliveries: readonly TimedShareDelivery[],
  toleranceMs: number,
): { figures: DelayFigures; violations: string[] } {
  const violations = new Violations();
  const due = new Map(delayed.map((d) => [d.value, d.notBeforeMs]));
  let count = 0;
  const firsts = new Map<string, number>(); // value -> the earliest answer of a receive that handed it, less the due time
  for (const d of deliveries) {
    const notBeforeMs = d.value === null ? undefined : due.get(d.value);
    if (notBeforeMs === undefined) continue;
    count++;
    const early = notBeforeMs - d.answeredAtMs;
    if (early > toleranceMs)
      violations.add(
        `${group}: ${d.receiver} was handed ${d.value} (${d.partition}/${d.offset}, delivery ${d.deliveryCount}) by a receive answered ${early} ms before it was due`,
      );
    firsts.set(d.value!, Math.min(firsts.get(d.value!) ?? Infinity, d.answeredAtMs - notBeforeMs));
  }
  const lateness = [...firsts.values()];
  return {
    figures: {
      delayed: delayed.length,
      deliveries: count,
      ...(lateness.length > 0 ? { earliestMs: Math.min(...lateness), latestMs: Math.max(...lateness) } : {}),
    },
    violations: violations.done(),
  };
}
