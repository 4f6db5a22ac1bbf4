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
 *  - committed group offsets never move backwards.
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
  /** Records read back and checked. */
  readonly records: number;
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
  partitions.forEach((stored, partition) => {
    stored.forEach((record, index) => {
      records++;
      if (record.offset !== index)
        violations.add(`partition ${partition}: offset ${record.offset} at position ${index}: offsets are not dense from 0`);
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
  return { figures: { records, acknowledged: acks.length, duplicates, unacknowledgedVisible }, violations: violations.done() };
}

/** Consumers' deliveries against the final log. */
export function checkDeliveries(deliveries: readonly Delivery[], partitions: readonly (readonly StoredRecord[])[]): string[] {
  const violations = new Violations();
  const owner = new Map<string, string>();
  for (const delivery of deliveries) {
    const stored = partitions[delivery.partition]?.[delivery.offset];
    if (stored?.value !== delivery.value) {
      violations.add(
        `${delivery.member} got ${delivery.value} at ${delivery.partition}/${delivery.offset}, where the log holds ${stored === undefined ? 'nothing' : stored.value}`,
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
