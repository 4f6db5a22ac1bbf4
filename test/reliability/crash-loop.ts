/**
 * The crash loop: one agent process (`npm start`'s entry, bin/agent.ts) on one data directory is
 * killed with SIGKILL at seeded random moments and started again, on the same ports, while
 *  - two HTTP producers send sequence-numbered keyed records with acks=all (POST /v1/topics/{t}/records),
 *    resending a request that got no answer (they are not idempotent: a resend may duplicate); one
 *    record in 10 of http-1's is delayed (deliver_after_ms, 200 to 1500 ms: share groups get it no
 *    sooner, other readers at once), its due time noted (no later than the first attempt's send
 *    plus the delay);
 *  - two kafkajs producers do the same over the Kafka protocol, one idempotent (its retries must
 *    never duplicate), one not;
 *  - two members of an HTTP consumer group poll throughout (the group lives in the store, so its
 *    members carry on across restarts), now and then leaving and joining again (a rebalance), and
 *    every record handed to them is noted with the member and generation;
 *  - two kafkajs consumers of one Kafka consumer group (auto-commit after each batch) read the same
 *    topic throughout, every record noted with the member and generation. An agent that lives a
 *    round (0.3 to 0.8 s) is too short-lived for the group to change: kafkajs ends a consumer whose
 *    only broker drops its connection mid-request (KafkaJSNoBrokerAvailableError, kafkajs PR 1402;
 *    or a connection lost in JoinGroup), and restarts it as a new member, which the group
 *    takes in only after a rebalance that waits out the member it replaces (2 s, the rebalance
 *    timeout). So the agent of every fifth round (and the first) is killed only once the group has
 *    both members in one generation again (a settle), and then once more after one member has left
 *    and a new consumer has taken its place (partitions move); the kills land while it consumes;
 *  - a sampler reads both groups' committed offsets (GET /v1/groups/{g}) over and over;
 *  - a kafkajs transactional producer (transaction.timeout.ms 5 s) sends transactions of one record
 *    on each of two or three partitions of the same topic, committing three in four and aborting the
 *    fourth on purpose, and notes per transaction what it asked for and what it was told (committed,
 *    aborted, or unknown: a kill cut the end short); after a failure it starts a new producer, whose
 *    InitProducerId ends what the last one left open. It runs until the last round, where it stops
 *    (its id's transactions all decided) and another transactional id opens a transaction on two
 *    partitions and drops it: the last kill lands while it is open, and only the agents' sweep (every
 *    10 s) can abort it. (One transactional producer at a time, so no two producers' transactions
 *    overlap: kafkajs's read_committed filter handles aborted transactions only in first-offset
 *    order, one per record, where Kafka, and Spool, list them in marker order.) The Kafka group reads
 *    read_committed, kafkajs's default, throughout;
 *  - two HTTP receivers of a share group (`crash-queue`: share.auto.offset.reset=earliest, set before
 *    the first record is written; a 2 s lock; delivery limit 5; dead letters to `dlq.crash`, two
 *    partitions, opted in, with the records' keys and values copied) receive the same topic throughout
 *    (long polls of 250 ms, 1 to 20 records) and settle each record as a seeded draw picks: accept
 *    (85 in 100), release (12: delivered again) or reject (3: dead). In one batch of 20 a receiver
 *    settles nothing (a receiver that crashed: the locks expire), in 3 of 100 it waits past the lock
 *    first (a slow one: its acknowledgements must settle nothing). A receive that gets no answer is
 *    made again (what a kill cut short stays locked until the lock ends); an acknowledgement is sent
 *    again until answered, for twice the lock. Every delivery is noted (receiver, partition, offset,
 *    value, delivery count, when the receive was answered), and every answer to an acknowledgement
 *    (ok, already_settled, lock_expired, invalid), or `unknown` for an attempt that got none (a
 *    connection refused never reached an agent: nothing);
 *  - with `kafkaShareMember` (the interop suite's test/interop/share-crash-loop.test.ts), two Kafka
 *    share consumers (KafkaShareConsumer, each a JVM of its own) join the same share group and
 *    settle records the same way, explicitly acknowledged, their acknowledgement commit callbacks
 *    noted as answers; one of them is killed with SIGKILL every fourth round, at a moment of the
 *    load, and a new one takes its place (a consumer crash). kafkajs has no share consumer, and the
 *    Java client needs the interop suite's build, hence the option.
 * After the last round the agent stays up until every producer's last record is acknowledged, the
 * last stable offset of every partition has reached its high watermark (the dropped transaction
 * aborted), the Kafka group has consumed every acknowledged record, and the share group's members
 * have settled every partition to its end (the group describes each with its start offset at the
 * log's end, nothing acquired, available or delayed, and so none Archiving: every dead letter
 * written, a kill's unwritten one taken over once its 30 s claim ran out; they stop then, and the
 * group is described once more, and dlq.crash read to its end);
 * then two read_committed readers read the whole topic, a fresh kafkajs consumer and the HTTP API
 * (?isolation=read_committed), and the agent stops cleanly, and the data directory is opened in this
 * process, read with its transaction markers, and checked (checker.ts; the share group by
 * checkShareGroup: no record accepted twice, or handed out again once settled; every delivery the
 * log's record, with a delivery count of its own; every record settled at the end, and the dead
 * count within what the answers allow; by checkDeadLetters, every record rejected or surely dead at
 * the limit has a dead letter (at least once) naming and copying it, no accepted one has, and each
 * partition's dead count is its lettered records'; by checkDelayedDeliveries, no delayed record
 * handed to a receive answered before its due time).
 *
 * As a script (longer than CI's run):
 *   node --import tsx test/reliability/crash-loop.ts --rounds 50 --seed 7
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel, type ConsumerCommitOffsetsEvent, type ConsumerHeartbeatEvent, type Producer, type Transaction } from 'kafkajs';
import { startAgentProcess, withLog, type AgentProcess } from '../support/agent-process.js';
import { freePort } from '../support/services.js';
import { tempDir } from '../support/stores.js';
import { deadLetterClaimMs } from '../../lib/queues/share-partition.js';
import {
  checkCommits,
  checkConsumed,
  checkDeadLetters,
  checkDelayedDeliveries,
  checkDeliveries,
  checkLog,
  checkReadCommitted,
  checkShareGroup,
  checkTransactions,
  type Acknowledged,
  type ClientTransaction,
  type CommitSample,
  type DeadLetter,
  type DeadLetterFigures,
  type DelayedRecord,
  type DelayFigures,
  type Delivery,
  type LogFigures,
  type ReadRecord,
  type ShareAck,
  type ShareAckStatus,
  type ShareDelivery,
  type ShareFigures,
  type SharePartitionEnd,
  type TimedShareDelivery,
  type TransactionFigures,
} from './checker.js';
import { choices, numberFlags, readPartitionsWithMarkers, sleep } from './support.js';

export interface CrashLoopOptions {
  /** How many times the agent is killed (and started again). */
  readonly rounds: number;
  readonly seed: number;
  /** Load between an agent's start and its SIGKILL, drawn in [minLoadMs, maxLoadMs]. @default 300, 800 */
  readonly minLoadMs?: number;
  readonly maxLoadMs?: number;
  /** Every this many rounds (and in the first), the agent lives until the Kafka group has settled. @default 5 */
  readonly kafkaSettleEvery?: number;
  /** Progress lines. @default none */
  readonly progress?: (line: string) => void;
  /**
   * Kafka share-group members: the command that runs one in a process of its own, a
   * KafkaShareConsumer printing one JSON event a line (the interop suite's kip848 ShareCrashMember,
   * whose comment gives the events; test/interop/share-crash-loop.test.ts). Two run throughout in the
   * share group beside the HTTP receivers, and one is killed with SIGKILL every fourth round.
   * @default none: the share group's members are the HTTP receivers only
   */
  readonly kafkaShareMember?: (args: KafkaShareMemberArgs) => string[];
}

export interface KafkaShareMemberArgs {
  readonly bootstrap: string;
  readonly topic: string;
  readonly group: string;
  /** Its client id, one per process: `kafka-share-<slot>#<incarnation>`. */
  readonly member: string;
  readonly seed: number;
  /** The group's share.record.lock.duration.ms. */
  readonly lockMs: number;
}

export interface CrashLoopReport {
  readonly seed: number;
  readonly crashes: number;
  /** Acknowledged records per producer. */
  readonly acknowledged: Record<string, number>;
  readonly figures: LogFigures;
  /** Records handed to the HTTP group's members, and in how many distinct generations. */
  readonly deliveries: number;
  readonly generations: number;
  readonly commitSamples: number;
  readonly kafkaGroup: KafkaGroupFigures;
  readonly transactions: TransactionReport;
  readonly shareGroup: ShareGroupReport;
  /** Answers that were not acknowledgements (a producer then resends), by cause; `txn …`: a transaction that failed. */
  readonly failedSends: Record<string, number>;
  readonly durationMs: number;
  readonly violations: string[];
}

/** What the kafkajs consumer group did. */
export interface KafkaGroupFigures {
  /** Records handed to its members, and of them while it settled, in rounds' load (before a kill), and in the final catch-up. */
  readonly deliveries: number;
  readonly deliveriesByPhase: Record<Phase, number>;
  /** Deliveries of a record already handed out before (after a rebalance or a crash, from the last commit). */
  readonly redeliveries: number;
  /** Deliveries whose generation the member never named (no heartbeat or commit before its next join). */
  readonly deliveriesWithoutGeneration: number;
  /** Distinct generations records were handed out in, and GROUP_JOIN events (a member joining a generation). */
  readonly generations: number;
  readonly joins: number;
  readonly commitSamples: number;
  /** Members kafkajs stopped for good after a FindCoordinator the kill cut, replaced by new ones. */
  readonly replacedStopped: number;
  /** kafkajs consumer crashes (each restarts the consumer as a new member), by error. */
  readonly crashes: Record<string, number>;
  /** How long each settle took (the first includes forming the group; after the first, the agent's start and a member's replacement are each settled); after the producers stopped, until every acknowledged record was consumed. */
  readonly settleMs: number[];
  readonly catchUpMs: number;
}

/** What the transactional producers did, and what read_committed readers saw. */
export interface TransactionReport {
  /** By what the producer was told, as the kafkajs reader saw them. */
  readonly figures: TransactionFigures;
  /** Transactional records acknowledged. */
  readonly acknowledged: number;
  /** Records of the dropped transaction acknowledged (2: it was open when the last kill landed). */
  readonly droppedAcknowledged: number;
  /** After the producers stopped, until every partition's last stable offset was at its high watermark. */
  readonly stableMs: number;
  /** Records each read_committed reader was handed, and how long it took to read the topic. */
  readonly kafkaReader: { readonly records: number; readonly ms: number };
  readonly httpReader: { readonly records: number; readonly ms: number };
}

/** What the share group's members did, and the group at the end. */
export interface ShareGroupReport {
  readonly figures: ShareFigures;
  /** Deliveries while the Kafka group settled, in rounds' load, and while the receivers drained the group after the producers stopped. */
  readonly deliveriesByPhase: Record<Phase, number>;
  /** By member (`http-receiver-0`, `kafka-share-1`: every incarnation of the slot): deliveries, of them in a round (not the drain), and `ok` answers to its acknowledgements. */
  readonly members: Record<string, { readonly deliveries: number; readonly beforeDrain: number; readonly ok: number }>;
  /** Batches an HTTP receiver dropped without acknowledging them (a receiver that crashed: the locks expire). */
  readonly abandoned: number;
  /** Batches an HTTP receiver settled only after their locks had ended (a slow receiver). */
  readonly late: number;
  /** Receives that got no answer or an error, by cause (the agent was down). */
  readonly failedReceives: Record<string, number>;
  /**
   * Kafka share members started (incarnations) and killed with SIGKILL; their errors by class (`ack …`:
   * an acknowledgement's, as the callback reported it); and callback reports of offsets no
   * acknowledge() asked for: the client's own releases of records it acquired but never handed over.
   */
  readonly kafkaMembers: {
    readonly started: number;
    readonly killed: number;
    readonly errors: Record<string, number>;
    readonly unpaired: number;
  };
  /** After the producers stopped and every transaction was decided, until the group had every partition settled to its end. */
  readonly drainMs: number;
  readonly end: readonly SharePartitionEnd[];
  /** The dead letters read back from the group's dead-letter topic (`dlq.crash`) at the end. */
  readonly deadLetters: DeadLetterFigures;
  /** http-1's delayed records (deliver_after_ms) and the HTTP receivers' deliveries of them. */
  readonly delays: DelayFigures;
}

type Phase = 'settle' | 'load' | 'catchUp';

const topic = 'crash';
const group = 'crash-readers';
const kafkaGroup = 'crash-kafka-readers';
const partitions = 4;
const leaseMs = 1000;
/** After the last start, how long a producer may take to get its last record acknowledged (and the Kafka group to consume it). */
const drainMs = 60_000;
/** How long the Kafka group may take to settle (both members in one generation). */
const settleMs = 20_000;
/** The transactional producers' transaction.timeout.ms (kafkajs's default is 60 s): a transaction left open is aborted soon. */
const transactionTimeoutMs = 5000;
/** The agents' transaction sweep interval (the agent's default, Kafka's). */
const sweepIntervalMs = 10_000;
/** After the producers stopped, the last stable offset reaches the high watermark within this: the open transaction times out, and a sweep aborts it. */
const stableWithinMs = transactionTimeoutMs + 2 * sweepIntervalMs;
/** How long a read_committed reader may take to read the whole topic. */
const readWithinMs = 20_000;
const transactionalId = 'crash-txn';
const droppedTransactionalId = 'crash-txn-dropped';
const shareGroup = 'crash-queue';
/**
 * The share group's lock (share.record.lock.duration.ms, the Kafka members', and the visibility of
 * the HTTP receives): short, so that records a killed agent's sessions, a killed member or a
 * receiver that dropped them held come back soon.
 */
const shareLockMs = 2000;
/** share.delivery.count.limit (the default). */
const shareDeliveryLimit = 5;
/**
 * How long the share group's members may take to settle every partition to its end once the
 * producers stopped: a record a kill left Archiving (its dead letter unwritten) is taken over only
 * once its writer's claim (deadLetterClaimMs, 30 s) has run out.
 */
const shareDrainWithinMs = deadLetterClaimMs + 15_000;
/** The share group's dead-letter topic (copy.record.enable on): a partition count other than the topic's, so letters land in partition mod 2. */
const deadLetterTopic = 'dlq.crash';
const deadLetterPartitions = 2;
/** One record in this many of http-1's is delayed (deliver_after_ms), by deliverAfterMs ms. */
const delayEvery = 10;
const deliverAfterMs = { min: 200, max: 1500 } as const;
/** A receive answered this long before a delayed record's due time may still be handed it: the agent's clock is this process's, read at other instants. */
const delayToleranceMs = 50;

export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopReport> {
  const started = Date.now();
  const random = choices(options.seed);
  const progress = options.progress ?? (() => undefined);
  const dataDir = tempDir('spool-crash-');
  const [httpPort, kafkaPort] = [await freePort(), await freePort()];
  // Fixed ports, so clients find the agent again after each restart, as they would behind a service address.
  // The Kafka group forms at once rather than waiting 3 s for more members (the first settle's cost).
  const env = {
    SPOOL_DATA_DIR: dataDir,
    SPOOL_HTTP_PORT: String(httpPort),
    SPOOL_KAFKA_PORT: String(kafkaPort),
    SPOOL_LEASE_MS: String(leaseMs),
    SPOOL_BATCH_INTERVAL_MS: '5',
    SPOOL_KAFKA_INITIAL_REBALANCE_DELAY_MS: '0',
  };
  const url = `http://127.0.0.1:${httpPort}`;
  let agent = await start(env);

  const violations: string[] = [];
  const acks: Acknowledged[] = [];
  const sent = new Set<string>();
  const deliveries: Delivery[] = [];
  const samples: CommitSample[] = [];
  const kafkaSamples: CommitSample[] = [];
  const failedSends: Record<string, number> = {};
  const failed = (cause: string) => (failedSends[cause] = (failedSends[cause] ?? 0) + 1);
  let stopping = false;
  let stoppedAtMs = Infinity;
  let phase: Phase = 'settle';
  let sampling = true;
  const transactions: { -readonly [K in keyof ClientTransaction]: ClientTransaction[K] }[] = [];
  const txnAcks: Acknowledged[] = [];
  let transacting = true;
  let stoppedTransactingAtMs = Infinity;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as any) };
  };
  const created = await call('POST', '/v1/topics', { name: topic, partitions });
  if (created.status !== 201) throw new Error(`could not create the topic: ${created.status} ${JSON.stringify(created.body)}`);
  // The share group reads from the topic's first record (set before any is written), with a short lock.
  // Its dead letters go to a topic of their own, opted in, with the records' keys and values.
  const createdDlq = await call('POST', '/v1/topics', {
    name: deadLetterTopic,
    partitions: deadLetterPartitions,
    config: { errors_deadletterqueue_group_enable: true },
  });
  if (createdDlq.status !== 201)
    throw new Error(`could not create the dead-letter topic: ${createdDlq.status} ${JSON.stringify(createdDlq.body)}`);
  const configured = await call('PATCH', `/v1/queues/${shareGroup}`, {
    config: {
      share_auto_offset_reset: 'earliest',
      share_record_lock_duration_ms: shareLockMs,
      share_delivery_count_limit: shareDeliveryLimit,
      errors_deadletterqueue_topic_name: deadLetterTopic,
      errors_deadletterqueue_copy_record_enable: true,
    },
  });
  if (configured.status !== 200)
    throw new Error(`could not configure the share group: ${configured.status} ${JSON.stringify(configured.body)}`);

  /** Resends `attempt` until it is acknowledged; gives up only long after the producers were told to stop. */
  const untilAcknowledged = async (name: string, attempt: () => Promise<boolean>) => {
    while (!(await attempt())) {
      if (Date.now() - stoppedAtMs > drainMs) {
        violations.push(`${name}: a record was still not acknowledged ${drainMs} ms after the last restart`);
        return false;
      }
      await sleep(30);
    }
    return true;
  };

  /** Records sent with deliver_after_ms, each with a time no later than its due time (the first attempt's send, plus the delay). */
  const delayedRecords: DelayedRecord[] = [];
  /** With `delaying`, one record in delayEvery is sent with deliver_after_ms (share groups get it no sooner; other readers at once). */
  const httpProducer = async (name: string, delaying = false) => {
    for (let sequence = 0; !stopping; ) {
      const values = Array.from({ length: random.int(1, 3) }, () => `${name}:${sequence++}`);
      for (const value of values) sent.add(value);
      const firstSentMs = Date.now(); // every attempt, and so every copy's time of receipt, comes after
      const body = {
        records: values.map((value) => {
          const key = `key-${random.int(0, 49)}`;
          if (!delaying || random.int(1, delayEvery) !== 1) return { key, value };
          const afterMs = random.int(deliverAfterMs.min, deliverAfterMs.max);
          delayedRecords.push({ value, notBeforeMs: firstSentMs + afterMs });
          return { key, value, deliver_after_ms: afterMs };
        }),
      };
      const acknowledged = await untilAcknowledged(name, async () => {
        try {
          const answer = await call('POST', `/v1/topics/${topic}/records?acks=all`, body);
          if (answer.status === 200) {
            for (const [i, { partition, offset }] of (answer.body.offsets as { partition: number; offset: number }[]).entries())
              acks.push({ producer: name, idempotent: false, value: values[i]!, partition, offset });
            return true;
          }
          if (answer.status < 500 && answer.status !== 429)
            violations.push(`${name}: unexpected answer ${answer.status} ${JSON.stringify(answer.body)}`);
          failed(`http ${answer.status} ${answer.body?.error?.code ?? ''}`.trim());
        } catch (error) {
          failed(httpFailure(error));
        }
        return false;
      });
      if (!acknowledged) return;
    }
  };

  const kafka = new Kafka({
    clientId: 'crash-loop',
    brokers: [`127.0.0.1:${kafkaPort}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  const kafkaProducer = async (name: string, producer: Producer, idempotent: boolean) => {
    await untilAcknowledged(name, () =>
      producer.connect().then(
        () => true,
        () => false,
      ),
    );
    for (let sequence = 0; !stopping; ) {
      const value = `${name}:${sequence++}`;
      const key = `key-${random.int(0, 49)}`;
      sent.add(value);
      // The same message again after a failure: an idempotent producer reuses its sequence number.
      const acknowledged = await untilAcknowledged(name, async () => {
        try {
          const [result] = await producer.send({ topic, acks: -1, messages: [{ key, value }] });
          if (result === undefined) {
            // kafkajs sent a Produce without this partition (its metadata names two brokers at one address).
            failed('kafka send answered for no partition');
            return false;
          }
          acks.push({ producer: name, idempotent, value, partition: result!.partition, offset: Number(result!.baseOffset) });
          return true;
        } catch (error) {
          // kafkajs's own errors by name; anything else (a bug on either side) with its message too.
          const { name: kind, message } = error as Error;
          failed(kind.startsWith('KafkaJS') ? `kafka ${kind}` : `kafka ${kind}: ${message.slice(0, 100)}`);
          return false;
        }
      });
      if (!acknowledged) break;
    }
    await producer.disconnect().catch(() => undefined);
  };

  const kafkaFailure = (error: unknown) => {
    const { name: kind, message } = error as Error;
    return kind.startsWith('KafkaJS') ? `kafka ${kind}` : `kafka ${kind}: ${message.slice(0, 100)}`;
  };
  // The agent is down most of each round: retried often (every 250 ms at most), a transactional
  // producer is ready when it is back. A patient one (about 3 s of retries, some restarts' length)
  // often carries a transaction cut short by a kill on to the next agent, its end retried there; an
  // impatient one fails at once, its outcome unknown if the kill cut its end short. Each new
  // producer is either, at random.
  const transactionalClient = (retries: number) =>
    new Kafka({
      clientId: `crash-loop-txn-${retries}`,
      brokers: [`127.0.0.1:${kafkaPort}`],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 5000,
      retry: { retries, initialRetryTime: 50, maxRetryTime: 250 },
    });
  const transactionalClients = [transactionalClient(15), transactionalClient(2)];
  const transactionalProducer = (id: string, client = random.pick(transactionalClients)) =>
    client.producer({
      transactionalId: id,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: transactionTimeoutMs,
    });
  /** Opens transaction `n` of `id` and sends one record to each partition of it; its end is the caller's. */
  const openTransaction = async (producer: Producer, id: string, n: number, partitionsOf: number[]) => {
    const txn: (typeof transactions)[number] = {
      id: `${id}#${n}`,
      records: partitionsOf.map((partition) => ({ partition, value: `${id}:${n}-${partition}` })),
      asked: 'none',
      told: 'unknown',
    };
    transactions.push(txn);
    for (const { value } of txn.records) sent.add(value);
    const transaction = await producer.transaction();
    try {
      for (const { partition, value } of txn.records) {
        const [result] = await transaction.send({ topic, acks: -1, messages: [{ key: `key-${random.int(0, 49)}`, value, partition }] });
        // kafkajs sent a Produce without this partition: the record may not be in the transaction, which must not commit.
        if (result === undefined) throw new Error('kafka send answered for no partition');
        txnAcks.push({ producer: id, idempotent: true, value, partition: result.partition, offset: Number(result.baseOffset) });
      }
    } catch (error) {
      await end(txn, transaction, 'abort').catch(() => undefined);
      throw error;
    }
    return { txn, transaction };
  };
  const end = async (txn: (typeof transactions)[number], transaction: Transaction, asked: 'commit' | 'abort') => {
    txn.asked = asked;
    if (asked === 'commit') await transaction.commit();
    else await transaction.abort();
    txn.told = asked === 'commit' ? 'committed' : 'aborted';
  };
  /** Distinct partitions, two or three. */
  const somePartitions = () => {
    const all = Array.from({ length: partitions }, (_, p) => p);
    for (let i = all.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return all.slice(0, random.int(2, 3)).sort((a, b) => a - b);
  };
  const transactor = async () => {
    for (let n = 0; ; ) {
      // A new producer after any failure: its InitProducerId aborts what the last one left open (or waits for its end to be carried out).
      const producer = transactionalProducer(transactionalId);
      try {
        await producer.connect();
        if (!transacting) {
          // Done: a last InitProducerId, so no transaction of this id is left open.
          await (await producer.transaction()).abort();
          await producer.disconnect();
          return;
        }
        while (transacting) {
          const id = n++;
          const { txn, transaction } = await openTransaction(producer, transactionalId, id, somePartitions());
          await end(txn, transaction, id % 4 === 3 ? 'abort' : 'commit');
        }
      } catch (error) {
        failed(`txn ${kafkaFailure(error)}`);
        if (Date.now() - stoppedTransactingAtMs > drainMs) {
          violations.push(`${transactionalId}: could not end its transactions ${drainMs} ms after it was told to stop`);
          return;
        }
      }
      await producer.disconnect().catch(() => undefined);
      await sleep(30);
    }
  };
  /** A transaction opened on two partitions and dropped (no EndTxn): only its timeout and the sweep end it. */
  let droppedAcknowledged = 0;
  const dropTransaction = async () => {
    const producer = transactionalProducer(droppedTransactionalId, transactionalClients[0]);
    const acknowledgedBefore = txnAcks.length;
    try {
      await producer.connect();
      await openTransaction(producer, droppedTransactionalId, 0, somePartitions().slice(0, 2));
    } catch (error) {
      failed(`txn dropped ${kafkaFailure(error)}`);
    }
    droppedAcknowledged = txnAcks.length - acknowledgedBefore;
    await producer.disconnect().catch(() => undefined);
  };

  const consumer = async (member: string) => {
    let joined = false;
    while (!stopping) {
      try {
        if (!joined) {
          const join = await call('POST', `/v1/groups/${group}/members`, {
            topics: [topic],
            member_id: member,
            session_timeout_ms: 10_000,
            auto_offset_reset: 'earliest',
          });
          joined = join.status === 200;
          if (!joined) await sleep(50);
          continue;
        }
        const polled = await call('GET', `/v1/groups/${group}/members/${member}/records?max_records=200&wait_ms=100`);
        if (polled.status === 200) {
          for (const record of polled.body.records)
            deliveries.push({
              member,
              generation: polled.body.generation,
              partition: record.partition,
              offset: record.offset,
              value: record.value,
            });
          // Now and then a member leaves and joins again: the group rebalances under load too.
          if (random.next() < 0.03 && (await call('DELETE', `/v1/groups/${group}/members/${member}`)).status === 204) joined = false;
        } else if (polled.status === 404) {
          joined = false; // expired while the agent was down: join again
        } else {
          await sleep(50);
        }
      } catch {
        await sleep(50); // the agent is down
      }
    }
    await call('DELETE', `/v1/groups/${group}/members/${member}`).catch(() => undefined); // commits what it consumed
  };

  // kafkajs names a member's generation only in its heartbeats and commits (the HEARTBEAT and
  // COMMIT_OFFSETS events carry it; GROUP_JOIN does not), so records are noted per join (a tenure),
  // and a tenure takes the generation its heartbeats and commits name: kafkajs fetches, heartbeats
  // and commits only between a GROUP_JOIN and its next JoinGroup, all in the generation it joined.
  interface Tenure {
    readonly memberId: string;
    generation: number | null;
  }
  const kafkaReceived: { tenure: Tenure; phase: Phase; partition: number; offset: number; value: string | null }[] = [];
  const kafkaConsumed = new Set<string>();
  const kafkaCrashes: Record<string, number> = {};
  let kafkaJoins = 0;
  // The agent is down most of each round (its restart takes longer than the load between kills), so
  // kafkajs must try again often (every 500 ms at most) and for long. A consumer rides through every
  // restart in one generation, and kafkajs counts its fetch loop's retries from the last rebalance,
  // not from the last success (some 5 to 10 per restart here): with few, it crashes after a dozen
  // restarts and comes back as a new member, which the group then waits for.
  const consumerRetry = { retries: 10_000, initialRetryTime: 100, maxRetryTime: 500 };
  const kafkaMember = (name: string) => {
    const consumer = new Kafka({
      clientId: name,
      brokers: [`127.0.0.1:${kafkaPort}`],
      retry: consumerRetry,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 5000,
    }).consumer({
      groupId: kafkaGroup,
      sessionTimeout: 6000, // the agent's minimum: a crashed consumer's old member is gone soonest
      rebalanceTimeout: 2000, // a rebalance waits this long for a member that crashed
      heartbeatInterval: 500,
      maxWaitTimeInMs: 250,
      retry: consumerRetry,
    });
    let tenure: Tenure | undefined;
    let stopped = false;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      tenure = { memberId: payload.memberId, generation: null };
      kafkaJoins++;
    });
    const named = ({ payload }: ConsumerHeartbeatEvent | ConsumerCommitOffsetsEvent) => {
      if (tenure === undefined || payload.memberId !== tenure.memberId) return;
      if (tenure.generation === null) tenure.generation = payload.groupGenerationId;
      else if (tenure.generation !== payload.groupGenerationId)
        violations.push(`${tenure.memberId} named generations ${tenure.generation} and ${payload.groupGenerationId} within one join`);
    };
    consumer.on(consumer.events.HEARTBEAT, named);
    consumer.on(consumer.events.COMMIT_OFFSETS, named);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      const { name: kind, message } = payload.error;
      const cause = kind.startsWith('KafkaJS') ? kind : `${kind}: ${message.slice(0, 100)}`;
      kafkaCrashes[cause] = (kafkaCrashes[cause] ?? 0) + 1;
      tenure = undefined; // it comes back as a new member
      // kafkajs makes a FindCoordinator that met the kill's connection reset non-retriable and never
      // restarts the consumer after it (it asks restartOnFailure only of retriable errors): such a
      // member is replaced by a new one (settle), as a crashed one comes back. A coordinator Spool
      // never named would still show: the group would not settle. Any other stop is a violation.
      // kafkajs's retrier wraps the same failure as KafkaJSNonRetriableError when it meets it inside a
      // retried step (retry/index.js): the message is KafkaJSGroupCoordinatorNotFound's own.
      const coordinatorNotFound =
        kind === 'KafkaJSGroupCoordinatorNotFound' ||
        (kind === 'KafkaJSNonRetriableError' && message === 'Failed to find group coordinator');
      if (!payload.restart && coordinatorNotFound) stopped = true;
      else if (!payload.restart) violations.push(`${name} stopped for good after ${kind}: ${message}`);
    });
    const running = (async () => {
      for (const step of [() => consumer.connect(), () => consumer.subscribe({ topics: [topic], fromBeginning: true })]) {
        while (
          !(await step().then(
            () => true,
            () => false,
          ))
        ) {
          if (Date.now() - started > settleMs) throw new Error(`no connection within ${settleMs} ms`);
          await sleep(100);
        }
      }
      // Auto-commit: after each batch, the batch's offsets.
      await consumer.run({
        eachBatch: async ({ batch }) => {
          const current = tenure!;
          for (const message of batch.messages) {
            const offset = Number(message.offset);
            kafkaReceived.push({
              tenure: current,
              phase,
              partition: batch.partition,
              offset,
              value: message.value?.toString('utf8') ?? null,
            });
            kafkaConsumed.add(`${batch.partition}/${offset}`);
          }
        },
      });
    })().catch((error: unknown) => violations.push(`${name} could not start: ${(error as Error).message}`));
    return { consumer, running, generation: () => tenure?.generation ?? null, stopped: () => stopped };
  };

  /** A fresh kafkajs consumer (read_committed, kafkajs's default) reads every partition from 0 until it has fetched past `ends`. */
  const readCommittedOverKafka = async (ends: readonly number[]): Promise<ReadRecord[]> => {
    const view: ReadRecord[] = [];
    const fetchedTo = ends.map(() => 0); // the next offset to read, past markers and aborted records too
    const reader = new Kafka({
      clientId: 'crash-read-committed',
      brokers: [`127.0.0.1:${kafkaPort}`],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 5000,
    }).consumer({ groupId: 'crash-read-committed', readUncommitted: false, maxWaitTimeInMs: 100, heartbeatInterval: 500 });
    reader.on(reader.events.END_BATCH_PROCESS, ({ payload }) => {
      fetchedTo[payload.partition] = Math.max(fetchedTo[payload.partition]!, Number(payload.lastOffset) + 1);
    });
    const fromMs = Date.now();
    await reader.connect();
    await reader.subscribe({ topics: [topic], fromBeginning: true });
    await reader.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages)
          view.push({ partition: batch.partition, offset: Number(message.offset), value: message.value?.toString('utf8') ?? null });
      },
    });
    while (fetchedTo.some((to, p) => to < ends[p]!) && Date.now() - fromMs < readWithinMs) await sleep(50);
    if (fetchedTo.some((to, p) => to < ends[p]!))
      violations.push(`the kafkajs read_committed reader read only to ${fetchedTo.join(', ')} of ${ends.join(', ')} in ${readWithinMs} ms`);
    await reader.disconnect();
    return view;
  };
  /** GET …/records?isolation=read_committed from 0 until `ends`, each partition. */
  const readCommittedOverHttp = async (ends: readonly number[]): Promise<ReadRecord[]> => {
    const view: ReadRecord[] = [];
    for (let partition = 0; partition < partitions; partition++) {
      for (let offset = 0; offset < ends[partition]!; ) {
        const answer = await call(
          'GET',
          `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&isolation=read_committed&max_records=10000`,
        );
        if (answer.status !== 200 || answer.body.next_offset <= offset) {
          violations.push(
            `the HTTP read_committed reader got ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)} at ${partition}/${offset}`,
          );
          break;
        }
        for (const record of answer.body.records as { offset: number; value: string | null }[])
          view.push({ partition, offset: record.offset, value: record.value });
        offset = answer.body.next_offset;
      }
    }
    return view;
  };

  /** The dead-letter topic, every partition from 0 to its high watermark (GET …/records), once the share group is drained. */
  const readDeadLetters = async (): Promise<DeadLetter[]> => {
    const letters: DeadLetter[] = [];
    for (let partition = 0; partition < deadLetterPartitions; partition++) {
      for (let offset = 0; ; ) {
        const answer = await call(
          'GET',
          `/v1/topics/${deadLetterTopic}/partitions/${partition}/records?offset=${offset}&max_records=10000`,
        );
        if (answer.status !== 200) {
          violations.push(
            `reading ${deadLetterTopic} got ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)} at ${partition}/${offset}`,
          );
          break;
        }
        type Letter = { offset: number; key: string | null; value: string | null; headers: Record<string, string | null> };
        for (const record of answer.body.records as Letter[])
          letters.push({ partition, offset: record.offset, key: record.key, value: record.value, headers: record.headers });
        if (answer.body.next_offset >= answer.body.high_watermark || answer.body.next_offset <= offset) break;
        offset = answer.body.next_offset;
      }
    }
    return letters;
  };

  const sampleCommits = async (name: string, into: CommitSample[]) => {
    const answer = await call('GET', `/v1/groups/${name}`).catch(() => undefined);
    if (answer?.status !== 200) return;
    for (const p of answer.body.partitions)
      if (p.committed_offset !== null) into.push({ atMs: Date.now(), partition: p.partition, committed: p.committed_offset });
  };
  const sampler = async () => {
    while (sampling) {
      await Promise.all([sampleCommits(group, samples), sampleCommits(kafkaGroup, kafkaSamples)]);
      await sleep(100);
    }
  };

  // The share group: HTTP receivers and, when given, Kafka share members, all noting every delivery and every answer to an acknowledgement.
  const shareDeliveries: (ShareDelivery & { readonly phase: Phase; readonly answeredAtMs?: number })[] = [];
  const shareAcks: ShareAck[] = [];
  const failedReceives: Record<string, number> = {};
  let abandoned = 0;
  let late = 0;
  let shareStopping = false;
  const pickOutcome = (): ShareAck['outcome'] => {
    const pick = random.next();
    return pick < 0.85 ? 'accept' : pick < 0.97 ? 'release' : 'reject';
  };

  /**
   * Sends a batch's acknowledgements until they are answered, or for twice the lock (the records
   * come again after it anyway: late answers are lock_expired), noting each answer, and `unknown` for each entry of an attempt
   * that got none or an error (a kill may have cut it short after it settled some). An attempt
   * refused a connection never reached an agent: it settled nothing.
   */
  const settleShare = async (
    name: string,
    entries: readonly { delivery: ShareDelivery; receipt: string; outcome: ShareAck['outcome'] }[],
    afterLock: boolean,
  ) => {
    const note = (entry: (typeof entries)[number], status: ShareAckStatus) =>
      shareAcks.push({
        receiver: name,
        partition: entry.delivery.partition,
        offset: entry.delivery.offset,
        deliveryCount: entry.delivery.deliveryCount,
        outcome: entry.outcome,
        status,
        late: afterLock,
      });
    const untilMs = Date.now() + 2 * shareLockMs;
    for (;;) {
      try {
        const answer = await call('POST', `/v1/queues/${shareGroup}/topics/${topic}/ack`, {
          acks: entries.map(({ receipt, outcome }) => ({ receipt, outcome })),
        });
        if (answer.status === 200) {
          for (const [i, result] of (answer.body.results as { status: ShareAckStatus }[]).entries()) note(entries[i]!, result.status);
          return;
        }
        if (answer.status < 500 && answer.status !== 429) {
          violations.push(`${name}: an acknowledgement answered ${answer.status} ${JSON.stringify(answer.body)}`);
          return;
        }
        for (const entry of entries) note(entry, 'unknown');
      } catch (error) {
        if (httpFailure(error) !== 'http ECONNREFUSED') for (const entry of entries) note(entry, 'unknown');
      }
      if (Date.now() >= untilMs) return;
      await sleep(50);
    }
  };
  /**
   * An HTTP receiver of the share group: receives throughout (a long poll, locked for shareLockMs)
   * and settles each record as pickOutcome chooses; in one batch of 20 it settles nothing, as a
   * receiver that crashed: the locks expire and the records come again; in 3 of 100 it waits past
   * the lock first, as a slow one: its acknowledgements must settle nothing.
   */
  const shareReceiver = async (name: string) => {
    while (!shareStopping) {
      let answer: Awaited<ReturnType<typeof call>>;
      try {
        answer = await call('POST', `/v1/queues/${shareGroup}/topics/${topic}/receive`, {
          max_records: random.int(1, 20),
          visibility_ms: shareLockMs,
          wait_ms: 250,
        });
      } catch (error) {
        tally(failedReceives, httpFailure(error));
        await sleep(50);
        continue;
      }
      if (answer.status !== 200) {
        if (answer.status < 500 && answer.status !== 429)
          violations.push(`${name}: a receive answered ${answer.status} ${JSON.stringify(answer.body)}`);
        tally(failedReceives, `http ${answer.status} ${answer.body?.error?.code ?? ''}`.trim());
        await sleep(50);
        continue;
      }
      // What it was handed was acquired before this (a delayed record due by then), after the request was sent (a long poll waits: no bound).
      const answeredAtMs = Date.now();
      type Received = { partition: number; offset: number; value: string | null; delivery_count: number; receipt: string };
      const batch = (answer.body.records as Received[]).map((record) => {
        const delivery: ShareDelivery = {
          receiver: name,
          partition: record.partition,
          offset: record.offset,
          value: record.value,
          deliveryCount: record.delivery_count,
        };
        shareDeliveries.push({ ...delivery, phase, answeredAtMs });
        return { delivery, receipt: record.receipt, outcome: pickOutcome() };
      });
      if (batch.length === 0) continue;
      const fate = random.next();
      if (fate < 0.05) {
        abandoned++;
        continue;
      }
      const slow = fate < 0.08;
      if (slow) {
        // A slow receiver: its acknowledgements come after its locks ended (they began before the answer came).
        late++;
        await sleep(shareLockMs + random.int(0, 500));
      }
      await settleShare(name, batch, slow);
    }
  };

  const kafkaShare = { started: 0, killed: 0, errors: {} as Record<string, number>, unpaired: 0 };
  /**
   * A Kafka share member (options.kafkaShareMember) in a process of its own: its `delivery` events
   * are noted as deliveries, and each `acked` (the acknowledgement commit callback) answers the
   * oldest `ack` of that offset not yet answered: no error is `ok`, INVALID_RECORD_STATE `refused`
   * (the agent settled nothing), any other error `unknown` (a request cut short may have settled
   * them: the client reports a ShareFetch that carried acknowledgements and failed on the way as
   * UnknownServerException). What is left unanswered when the process ends is `unknown` too. The
   * callback also reports the client's own releases (records it acquired but never handed over):
   * an offset with no `ack` waiting is such a release, and is only counted.
   */
  const kafkaShareMember = (slot: number, command: (args: KafkaShareMemberArgs) => string[]) => {
    const member = `kafka-share-${slot}#${kafkaShare.started}`;
    const [program, ...args] = command({
      bootstrap: `127.0.0.1:${kafkaPort}`,
      topic,
      group: shareGroup,
      member,
      seed: options.seed + kafkaShare.started++,
      lockMs: shareLockMs,
    });
    const child = spawn(program!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    child.stdin!.on('error', () => undefined); // gone already: its exit says why
    const asked = new Map<string, { deliveryCount: number; outcome: ShareAck['outcome']; late: boolean }[]>();
    const answer = (partition: number, offset: number, status: ShareAckStatus) => {
      const [first, ...rest] = asked.get(`${partition}/${offset}`) ?? [];
      if (first === undefined) return false;
      if (rest.length === 0) asked.delete(`${partition}/${offset}`);
      else asked.set(`${partition}/${offset}`, rest);
      shareAcks.push({ receiver: member, partition, offset, ...first, status });
      return true;
    };
    const lines = createInterface({ input: child.stdout! });
    const closed = new Promise<void>((resolve) => lines.once('close', resolve));
    lines.on('line', (line) => {
      let event: any;
      try {
        event = JSON.parse(line);
      } catch {
        violations.push(`${member} printed ${line.slice(0, 200)}`);
        return;
      }
      if (event.event === 'delivery') {
        const { partition, offset, value, deliveryCount } = event;
        shareDeliveries.push({ receiver: member, partition, offset, value, deliveryCount, phase });
      } else if (event.event === 'ack') {
        const at = `${event.partition}/${event.offset}`;
        asked.set(at, [...(asked.get(at) ?? []), { deliveryCount: event.deliveryCount, outcome: event.type, late: event.late }]);
      } else if (event.event === 'acked') {
        if (event.error !== null) tally(kafkaShare.errors, `ack ${event.error}`);
        const status = event.error === null ? 'ok' : event.error === 'InvalidRecordStateException' ? 'refused' : 'unknown';
        if (!answer(event.partition, event.offset, status)) kafkaShare.unpaired++;
      } else if (event.event === 'error') {
        tally(kafkaShare.errors, event.error);
      }
    });
    const ended = Promise.all([new Promise<number | null>((resolve) => child.once('exit', resolve)), closed]).then(([code]) => {
      for (const at of [...asked.keys()]) {
        const [partition, offset] = at.split('/').map(Number);
        while (answer(partition!, offset!, 'unknown'));
      }
      return code;
    });
    child.once('error', (error) => violations.push(`${member} could not start: ${error.message}`));
    return {
      /** Closes its stdin: it closes the consumer (sending what is left to acknowledge) and exits. */
      stop: async () => {
        child.stdin!.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        const code = await ended;
        clearTimeout(timer);
        if (code !== 0) violations.push(`${member} exited with ${code ?? child.signalCode}: ${stderr.slice(-1000)}`);
      },
      /** SIGKILL: a consumer crash; what it held stays locked until its session's connection closes. */
      kill: async () => {
        child.kill('SIGKILL');
        await ended;
        kafkaShare.killed++;
      },
    };
  };
  const shareReceivers = [shareReceiver('http-receiver-0'), shareReceiver('http-receiver-1')];
  const kafkaShareMembers = options.kafkaShareMember ? [0, 1].map((slot) => kafkaShareMember(slot, options.kafkaShareMember!)) : [];
  const describeShareGroup = async (): Promise<SharePartitionEnd[]> => {
    const answer = await call('GET', `/v1/queues/${shareGroup}?topic=${topic}`);
    if (answer.status !== 200) throw new Error(`GET /v1/queues/${shareGroup} answered ${answer.status} ${JSON.stringify(answer.body)}`);
    type Described = {
      partition: number;
      start_offset: number;
      log_end_offset: number;
      acquired: number;
      available: number;
      dead: number;
      delayed: number;
    };
    return (answer.body.partitions as Described[]).map((p) => ({
      partition: p.partition,
      startOffset: p.start_offset,
      logEndOffset: p.log_end_offset,
      acquired: p.acquired,
      available: p.available,
      dead: p.dead,
      delayed: p.delayed,
    }));
  };
  /**
   * The share group's members go on until every partition is settled to `ends` (start offset there,
   * nothing acquired, available or delayed; none Archiving, as the start offset stays before such a
   * record: every dead letter written) or the time is up; then they stop (the Kafka members close),
   * and the group is described once more.
   */
  const drainShareGroup = async (ends: readonly number[]) => {
    const fromMs = Date.now();
    const drained = (described: readonly SharePartitionEnd[]) =>
      ends.every((end, partition) =>
        described.some(
          (p) => p.partition === partition && p.startOffset === end && p.acquired === 0 && p.available === 0 && p.delayed === 0,
        ),
      );
    while (Date.now() - fromMs < shareDrainWithinMs && !drained(await describeShareGroup().catch(() => []))) await sleep(200);
    const drainMs = Date.now() - fromMs;
    shareStopping = true;
    await Promise.all(shareReceivers);
    await Promise.all(kafkaShareMembers.map((m) => m.stop()));
    return { drainMs, end: await describeShareGroup() };
  };

  const producers = [
    httpProducer('http-0'),
    httpProducer('http-1', true),
    kafkaProducer('kafka-idempotent', kafka.producer({ idempotent: true, maxInFlightRequests: 1 }), true),
    kafkaProducer('kafka-plain', kafka.producer({ allowAutoTopicCreation: false }), false),
  ];
  const transacted = transactor();
  const readers = [consumer('member-0'), consumer('member-1')];
  const sampled = sampler();

  const kafkaMembers = [kafkaMember('kafka-member-0'), kafkaMember('kafka-member-1')];
  const settled = () =>
    kafkaMembers[0]!.generation() !== null && kafkaMembers.every((m) => m.generation() === kafkaMembers[0]!.generation());
  const settles: number[] = [];
  /** Members kafkajs stopped for good after a FindCoordinator the kill cut (see kafkaMember) are replaced. */
  let replacedStopped = 0;
  const replaceStopped = () => {
    kafkaMembers.forEach((member, i) => {
      if (!member.stopped()) return;
      kafkaMembers[i] = kafkaMember(`kafka-member-${i}`);
      replacedStopped++;
    });
  };
  const settle = async (round: number, after: string) => {
    const fromMs = Date.now();
    while (!settled() && Date.now() - fromMs < settleMs) {
      replaceStopped();
      await sleep(50);
    }
    if (!settled()) violations.push(`round ${round}: the Kafka group had no generation with both members ${settleMs} ms after ${after}`);
    settles.push(Date.now() - fromMs);
  };

  const settleEvery = options.kafkaSettleEvery ?? 5;
  let crashes = 0;
  for (let round = 1; round <= options.rounds; round++) {
    if ((round - 1) % settleEvery === 0) {
      phase = 'settle';
      await settle(round, 'the agent started');
      if (round > 1) {
        // One member leaves and a new consumer takes its place: a rebalance, and partitions move.
        const leaving = ((round - 1) / settleEvery) % 2;
        await kafkaMembers[leaving]!.consumer.disconnect().catch(() => undefined);
        kafkaMembers[leaving] = kafkaMember(`kafka-member-${leaving}`);
        await settle(round, 'a member left and another joined');
      }
    }
    phase = 'load';
    if (round === options.rounds) {
      // The last kill lands while a transaction is open that no producer will end.
      transacting = false;
      stoppedTransactingAtMs = Date.now();
      await transacted;
      await dropTransaction();
    }
    const loadMs = random.int(options.minLoadMs ?? 300, options.maxLoadMs ?? 800);
    // Every fourth round a Kafka share member is killed at a moment of the load, and another takes its place.
    const memberKilled =
      round % 4 === 0 && kafkaShareMembers.length > 0
        ? sleep(random.int(0, loadMs)).then(async () => {
            const slot = (round / 4) % kafkaShareMembers.length;
            await kafkaShareMembers[slot]!.kill();
            kafkaShareMembers[slot] = kafkaShareMember(slot, options.kafkaShareMember!);
          })
        : undefined;
    await sleep(loadMs);
    await memberKilled;
    await agent.kill();
    crashes++;
    agent = await start(env);
    progress(
      `round ${round}: killed and restarted; ${acks.length} records acknowledged, ${deliveries.length} delivered over HTTP, ${kafkaReceived.length} over Kafka`,
    );
  }
  phase = 'catchUp';
  // The last agent lives: let the clients find it, then drain.
  await sleep(2 * leaseMs);
  stopping = true;
  stoppedAtMs = Date.now();
  transacting = false;
  stoppedTransactingAtMs = Math.min(stoppedTransactingAtMs, stoppedAtMs);
  await Promise.all([...producers, ...readers, transacted]);
  // With no producer left, every transaction is decided within its timeout and a sweep: the last stable offset reaches the high watermark.
  const ends = await withLog(dataDir, async (log) => {
    for (;;) {
      const ranges = await Promise.all(Array.from({ length: partitions }, (_, p) => log.offsetRange(topic, p)));
      if (ranges.every((r) => r.lastStable === r.latest)) return ranges.map((r) => r.latest);
      if (Date.now() - stoppedAtMs > stableWithinMs) {
        violations.push(
          `the last stable offset did not reach the high watermark within ${stableWithinMs} ms: ${ranges.map((r, p) => `${p}: ${r.lastStable} of ${r.latest}`).join(', ')}`,
        );
        return ranges.map((r) => r.lastStable);
      }
      await sleep(100);
    }
  });
  const stableMs = Date.now() - stoppedAtMs;
  // The Kafka group reads on until it has consumed every acknowledged record (or the drain time is up).
  // And the share group's members until they have settled every record (at the same time).
  const catchUpFromMs = Date.now();
  const consumedAll = () => acks.every((ack) => kafkaConsumed.has(`${ack.partition}/${ack.offset}`));
  const [catchUpMs, shareDrained] = await Promise.all([
    (async () => {
      while (!consumedAll() && Date.now() - stoppedAtMs < drainMs) await sleep(100);
      return Date.now() - catchUpFromMs;
    })(),
    drainShareGroup(ends),
  ]);
  await Promise.all(kafkaMembers.map((m) => m.running));
  await Promise.all(kafkaMembers.map((m) => m.consumer.disconnect().catch(() => undefined)));
  sampling = false;
  await sampled;
  await Promise.all([sampleCommits(group, samples), sampleCommits(kafkaGroup, kafkaSamples)]);
  // Two read_committed readers of the whole topic, now that every transaction is decided: kafkajs (the client skips aborted transactions) and the HTTP API (the agent does).
  const kafkaReader = await timed(() => readCommittedOverKafka(ends));
  const httpReader = await timed(() => readCommittedOverHttp(ends));
  const deadLetters = await readDeadLetters();
  await agent.stop();

  const stored = await withLog(dataDir, (log) => readPartitionsWithMarkers(log, topic, partitions));
  const checked = checkLog([...acks, ...txnAcks], stored, sent, new Set(['kafka-idempotent', transactionalId, droppedTransactionalId]));
  const shareChecked = checkShareGroup(shareGroup, shareDeliveries, shareAcks, stored, {
    deliveryLimit: shareDeliveryLimit,
    end: shareDrained.end,
  });
  const deadLettersChecked = checkDeadLetters(shareGroup, topic, deadLetters, shareAcks, stored, {
    deliveryLimit: shareDeliveryLimit,
    deadLetterPartitions,
    end: shareDrained.end,
  });
  // The HTTP receivers' deliveries only: a Kafka share member's poll is not timed.
  const timedDeliveries = shareDeliveries.filter((d): d is TimedShareDelivery & { phase: Phase } => d.answeredAtMs !== undefined);
  const delaysChecked = checkDelayedDeliveries(shareGroup, delayedRecords, timedDeliveries, delayToleranceMs);
  const transactionsChecked = checkTransactions('the kafkajs read_committed reader', transactions, kafkaReader.result, stored);
  const kafkaDeliveries: Delivery[] = kafkaReceived.map(({ tenure, partition, offset, value }) => ({
    member: tenure.memberId,
    generation: tenure.generation,
    partition,
    offset,
    value,
  }));
  violations.push(
    ...checked.violations,
    ...checkDeliveries(deliveries, stored),
    ...checkCommits(samples),
    ...checkDeliveries(kafkaDeliveries, stored),
    ...checkConsumed(kafkaGroup, acks, kafkaDeliveries),
    ...checkCommits(kafkaSamples).map((violation) => `${kafkaGroup}: ${violation}`),
    // The Kafka group reads read_committed (kafkajs's default) throughout: never an aborted or open transaction's record.
    ...checkReadCommitted(kafkaGroup, kafkaDeliveries, stored),
    ...checkReadCommitted('the kafkajs read_committed reader', kafkaReader.result, stored, { complete: true }),
    ...checkReadCommitted('the HTTP read_committed reader', httpReader.result, stored, { complete: true }),
    ...transactionsChecked.violations,
    ...checkTransactions('the HTTP read_committed reader', transactions, httpReader.result, stored).violations,
    ...shareChecked.violations,
    ...deadLettersChecked.violations,
    ...delaysChecked.violations,
  );
  const shareMembers: Record<string, { deliveries: number; beforeDrain: number; ok: number }> = {};
  const shareMember = (receiver: string) => (shareMembers[receiver.split('#')[0]!] ??= { deliveries: 0, beforeDrain: 0, ok: 0 });
  for (const d of shareDeliveries) {
    shareMember(d.receiver).deliveries++;
    if (d.phase !== 'catchUp') shareMember(d.receiver).beforeDrain++;
  }
  for (const ack of shareAcks) if (ack.status === 'ok') shareMember(ack.receiver).ok++;
  const acknowledged: Record<string, number> = {};
  for (const ack of acks) acknowledged[ack.producer] = (acknowledged[ack.producer] ?? 0) + 1;
  return {
    seed: options.seed,
    crashes,
    acknowledged,
    figures: checked.figures,
    deliveries: deliveries.length,
    generations: new Set(deliveries.map((d) => d.generation)).size,
    commitSamples: samples.length,
    kafkaGroup: {
      deliveries: kafkaDeliveries.length,
      deliveriesByPhase: {
        settle: count(kafkaReceived, 'settle'),
        load: count(kafkaReceived, 'load'),
        catchUp: count(kafkaReceived, 'catchUp'),
      },
      redeliveries: kafkaDeliveries.length - kafkaConsumed.size,
      deliveriesWithoutGeneration: kafkaDeliveries.filter((d) => d.generation === null).length,
      generations: new Set(kafkaDeliveries.flatMap((d) => (d.generation === null ? [] : [d.generation]))).size,
      joins: kafkaJoins,
      commitSamples: kafkaSamples.length,
      crashes: kafkaCrashes,
      replacedStopped,
      settleMs: settles,
      catchUpMs,
    },
    transactions: {
      figures: transactionsChecked.figures,
      acknowledged: txnAcks.length,
      droppedAcknowledged,
      stableMs,
      kafkaReader: { records: kafkaReader.result.length, ms: kafkaReader.ms },
      httpReader: { records: httpReader.result.length, ms: httpReader.ms },
    },
    shareGroup: {
      figures: shareChecked.figures,
      deliveriesByPhase: {
        settle: count(shareDeliveries, 'settle'),
        load: count(shareDeliveries, 'load'),
        catchUp: count(shareDeliveries, 'catchUp'),
      },
      members: shareMembers,
      abandoned,
      late,
      failedReceives,
      kafkaMembers: kafkaShare,
      drainMs: shareDrained.drainMs,
      end: shareDrained.end,
      deadLetters: deadLettersChecked.figures,
      delays: delaysChecked.figures,
    },
    failedSends,
    durationMs: Date.now() - started,
    violations,
  };
}

const count = (received: readonly { phase: Phase }[], phase: Phase) => received.filter((r) => r.phase === phase).length;

const tally = (into: Record<string, number>, cause: string) => (into[cause] = (into[cause] ?? 0) + 1);

/** Why a fetch got no answer: the network error's code (ECONNREFUSED: nothing was sent), or the error's name (TimeoutError). */
const httpFailure = (error: unknown) =>
  `http ${(error as Error).cause ? String(((error as Error).cause as { code?: string }).code ?? 'network') : (error as Error).name}`;

async function timed<T>(run: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const fromMs = Date.now();
  const result = await run();
  return { result, ms: Date.now() - fromMs };
}

/** Starts the agent, again if the first try fails (the old process's port may linger for a moment). */
async function start(env: Record<string, string>): Promise<AgentProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAgentProcess(env);
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(200 * attempt);
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const flags = numberFlags(process.argv.slice(2), {
    rounds: 50,
    seed: 20261121,
    'min-load-ms': 300,
    'max-load-ms': 800,
    'kafka-settle-every': 5,
  });
  const report = await runCrashLoop({
    rounds: flags.rounds,
    seed: flags.seed,
    minLoadMs: flags['min-load-ms'],
    maxLoadMs: flags['max-load-ms'],
    kafkaSettleEvery: flags['kafka-settle-every'],
    progress: (line) => console.error(line),
  });
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = report.violations.length === 0 ? 0 : 1;
}
