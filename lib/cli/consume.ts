/**
 * `spool consume`: prints records of a topic. Without a group it reads the partitions directly (from
 * the latest offset, or the earliest with --from-beginning, or --partition/--offset) and stops at the
 * end of the log unless --follow. With --group it joins the group, polls (the group commits as it
 * goes), and leaves at the end, which commits what it printed. A group with nothing committed for
 * the topic starts at the latest offset (auto_offset_reset latest) unless --from-beginning: a hint on
 * stderr says so, since such a consumer otherwise waits in silence for records that already exist.
 * It stops on SIGINT or SIGTERM, and when its output's reader has gone (`| head`).
 */
import type { ClientRecord, SpoolClient } from '../client.js';
import { SpoolError } from '../errors.js';
import type { Output } from './output.js';

export interface ConsumeOptions {
  readonly fromBeginning?: boolean;
  readonly partition?: number;
  readonly offset?: number;
  readonly group?: string;
  readonly maxMessages?: number;
  readonly timeoutMs?: number;
  readonly follow?: boolean;
  readonly format: 'text' | 'json';
  readonly printKey?: boolean;
}

const pollWaitMs = 1000;
const maxPerRequest = 1000;

export async function consume(client: SpoolClient, out: Output, topic: string, options: ConsumeOptions): Promise<void> {
  const print = (record: ClientRecord & { topic?: string }) => {
    if (options.format === 'json') {
      out.line(
        JSON.stringify({
          topic,
          partition: record.partition,
          offset: record.offset,
          timestamp: record.timestamp,
          key: record.key,
          value: record.value,
          headers: record.headers,
        }),
      );
    } else out.line(options.printKey ? `${record.key ?? 'null'}\t${record.value ?? 'null'}` : (record.value ?? 'null'));
  };
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  out.closed.addEventListener('abort', onSignal, { once: true });
  if (out.closed.aborted) stop.abort();
  let printed = 0;
  let lastRecordMs = Date.now();
  const remaining = () => (options.maxMessages === undefined ? maxPerRequest : Math.min(maxPerRequest, options.maxMessages - printed));
  const done = () =>
    stop.signal.aborted ||
    (options.maxMessages !== undefined && printed >= options.maxMessages) ||
    (options.timeoutMs !== undefined && Date.now() - lastRecordMs >= options.timeoutMs);
  const waitMs = () => (options.follow || options.timeoutMs !== undefined ? Math.min(pollWaitMs, options.timeoutMs ?? pollWaitMs) : 0);
  const take = (records: readonly ClientRecord[]) => {
    for (const record of records.slice(0, remaining())) {
      print(record);
      printed++;
      lastRecordMs = Date.now();
    }
  };

  try {
    if (options.group !== undefined) {
      if (!options.fromBeginning && !(await hasCommittedOffsets(client, options.group, topic))) {
        out.info(
          `group ${options.group} has no committed offsets for ${topic}: it starts at the latest offset and prints only new records (--from-beginning starts it at the earliest)`,
        );
      }
      const member = await client.join(options.group, {
        topics: [topic],
        auto_offset_reset: options.fromBeginning ? 'earliest' : 'latest',
      });
      // --timeout-ms counts from here: a join slower than it must still poll (and so commit a position).
      lastRecordMs = Date.now();
      try {
        while (!done()) {
          const { records } = await client
            .poll(options.group, member.member_id, { max_records: remaining(), wait_ms: waitMs() }, stop.signal)
            .catch((error) => {
              if (stop.signal.aborted) return { records: [] };
              throw error;
            });
          take(records);
          if (records.length === 0 && !options.follow && options.timeoutMs === undefined) break;
        }
      } finally {
        await client.leave(options.group, member.member_id).catch(() => undefined);
      }
    } else {
      const partitions =
        options.partition !== undefined ? [options.partition] : (await client.describeTopic(topic)).partitions.map((p) => p.partition);
      const next = new Map<number, number | string>(
        partitions.map((p) => [p, options.offset !== undefined ? options.offset : options.fromBeginning ? 'earliest' : 'latest']),
      );
      lastRecordMs = Date.now(); // --timeout-ms counts from the first fetch
      while (!done()) {
        let got = 0;
        let atEnd = true;
        for (const partition of partitions) {
          if (done()) break;
          const fetched = await client.fetch(topic, partition, { offset: next.get(partition)!, max_records: remaining() });
          take(fetched.records.map((r) => ({ ...r, partition })));
          got += fetched.records.length;
          next.set(partition, fetched.next_offset);
          if (fetched.next_offset < fetched.high_watermark) atEnd = false;
        }
        if (got > 0 || done()) continue;
        if (atEnd && !options.follow && options.timeoutMs === undefined) break;
        // At the end of every partition: long-poll them all until one has something (or the wait ends).
        const waiting = new AbortController();
        const abortWaits = () => waiting.abort();
        stop.signal.addEventListener('abort', abortWaits, { once: true });
        await Promise.all(
          partitions.map((partition) =>
            client
              .fetch(topic, partition, { offset: next.get(partition)!, max_records: 1, wait_ms: waitMs() }, waiting.signal)
              .then((fetched) => fetched.records.length > 0 && waiting.abort())
              .catch(() => undefined),
          ),
        );
        stop.signal.removeEventListener('abort', abortWaits);
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    out.closed.removeEventListener('abort', onSignal);
  }
  out.info(`consumed ${printed} records`);
}

/** Whether the group has committed an offset of the topic. When it cannot be told (no permission, no server), it is assumed to have: no hint then, and joining reports a real problem. */
async function hasCommittedOffsets(client: SpoolClient, group: string, topic: string): Promise<boolean> {
  try {
    return (await client.groupOffsets(group)).offsets.some((o) => o.topic === topic);
  } catch (error) {
    return !(error instanceof SpoolError && error.code === 'GROUP_NOT_FOUND');
  }
}
