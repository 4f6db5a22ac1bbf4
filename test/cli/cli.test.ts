/**
 * The `spool` command as users run it: each command a real child process (`node bin/spool.ts`)
 * against an agent this test starts (and restarts) on a temporary embedded store.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../lib/agent.js';
import { loadConfig } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { tempDir } from '../support/stores.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function spool(url: string, args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'bin/spool.ts', '--url', url, ...args],
      { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

/** Children still running when their test ended (it failed or timed out): killed after each test. */
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

/**
 * Runs a command whose stdout goes to a reader that leaves early, as `| head` does: it reads until it
 * has `keepBytes` (0: nothing at all), then closes its end of the pipe.
 */
async function spoolIntoLeavingReader(url: string, args: string[], keepBytes: number): Promise<Run & { signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/spool.ts', '--url', url, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const leave = () => child.stdout!.destroy();
  if (keepBytes === 0) leave();
  else {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.length >= keepBytes) leave();
    });
  }
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (...exit) => resolve(exit)),
  );
  return { code: code ?? -1, signal, stdout, stderr };
}

describe('cli > spool command', () => {
  const dataDir = tempDir('spool-cli-');
  let agent: Agent;
  let url: string;
  const start = async () => {
    agent = await startAgent(
      loadConfig({ SPOOL_DATA_DIR: dataDir, SPOOL_HTTP_PORT: '0', SPOOL_KAFKA_PORT: '0', SPOOL_MAINTENANCE_INTERVAL_MS: '0' }),
      { logger: silentLogger },
    );
    url = agent.httpUrl;
  };
  beforeAll(start);
  afterAll(async () => agent?.close());
  const name = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

  it('creates, lists, describes, alters and deletes a topic', async () => {
    const topic = name('cli');
    expect(await spool(url, ['topics', 'create', topic, '--partitions', '3', '--config', 'retention.ms=3600000'])).toMatchObject({
      code: 0,
    });
    const listed = await spool(url, ['topics', 'list']);
    expect(listed.stdout.split('\n')[0]).toBe('TOPIC\tPARTITIONS');
    expect(listed.stdout).toContain(`${topic}\t3`);
    const described = await spool(url, ['topics', 'describe', topic]);
    expect(described.stdout).toContain('PARTITION\tEARLIEST\tHIGH-WATERMARK\n0\t0\t0\n1\t0\t0\n2\t0\t0');
    expect(described.stdout).toContain('retention.ms\t3600000');
    // Booleans, decimals and text typed by the config's rule, as the HTTP API takes them.
    const altered = await spool(url, [
      'topics',
      'alter',
      topic,
      '--partitions',
      '5',
      '--config',
      'preallocate=true',
      '--config',
      'min.cleanable.dirty.ratio=0.25',
      '--config',
      'message.format.version=3.0',
    ]);
    expect(altered).toMatchObject({ code: 0 });
    const after = (await spool(url, ['topics', 'describe', topic])).stdout;
    expect(after).toContain('\n4\t0\t0');
    expect(after).toContain('preallocate\ttrue');
    expect(after).toContain('min.cleanable.dirty.ratio\t0.25');
    expect(await spool(url, ['topics', 'delete', topic])).toMatchObject({ code: 0 });
    const missing = await spool(url, ['topics', 'describe', topic]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`spool: TOPIC_NOT_FOUND: topic ${topic} does not exist`);
  }, 60_000); // eight child processes, each loading TypeScript: slow on a loaded machine

  it('produces 10,000 lines and consumes them back from the beginning in per-partition order', async () => {
    const topic = name('bulk');
    await spool(url, ['topics', 'create', topic, '--partitions', '4']);
    const lines = Array.from({ length: 10_000 }, (_, i) => `key-${i % 13}:${i}`).join('\n');
    const produced = await spool(url, ['produce', topic, '--key-separator', ':', '--batch-records', '700'], `${lines}\n`);
    expect(produced.code).toBe(0);
    expect(produced.stdout).toBe('');
    expect(produced.stderr).toMatch(/produced 10000 records/);
    const consumed = await spool(url, ['consume', topic, '--from-beginning', '--max-messages', '10000', '--format', 'json']);
    expect(consumed.code).toBe(0);
    const records = consumed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { partition: number; offset: number; key: string; value: string });
    expect(records).toHaveLength(10_000);
    expect(new Set(records.map((r) => r.value)).size).toBe(10_000);
    const byPartition = new Map<number, number[]>();
    for (const r of records) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), Number(r.value)]);
    expect(byPartition.size).toBeGreaterThan(1);
    for (const values of byPartition.values()) expect(values).toEqual([...values].sort((a, b) => a - b)); // input order kept per partition
    const keyed = await spool(url, ['consume', topic, '--partition', '0', '--offset', '0', '--max-messages', '2', '--print-key']);
    expect(keyed.stdout.split('\n')[0]).toMatch(/^key-\d+\t\d+$/);
  }, 60_000);

  it('names the input line of a bad record, and says what was produced before it', async () => {
    const topic = name('badline');
    const bad = await spool(url, ['produce', topic, '--key-separator', ':', '--batch-records', '2'], 'a:1\nb:2\nc:3\nd\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('line 4: expected a key separated by ":", got none (2 records before it were produced)');
    const badJson = await spool(url, ['produce', topic, '--format', 'ndjson'], '{"value":"ok"}\n{"value":7}\n');
    expect(badJson.stderr).toContain('record 2: value must be a string or null');
  }, 60_000);

  it('receives from a share group, acknowledges by receipt, and describes, alters and deletes it', async () => {
    const topic = name('queue');
    const group = name('share');
    expect((await spool(url, ['topics', 'create', topic])).code).toBe(0);
    expect((await spool(url, ['produce', topic], 'one\ntwo\nthree\n')).code).toBe(0);
    const altered = await spool(url, [
      'queues',
      'alter',
      group,
      '--config',
      'share.auto.offset.reset=earliest',
      '--config',
      'share.delivery.count.limit=3',
    ]);
    expect(altered.stdout).toContain('share.delivery.count.limit\t3');
    const received = await spool(url, ['queues', 'receive', group, '--topic', topic, '--max-records', '2']);
    const rows = received.stdout.trim().split('\n');
    expect(rows[0]).toBe('PARTITION\tOFFSET\tDELIVERY\tKEY\tVALUE\tRECEIPT');
    expect(rows.slice(1).map((row) => row.split('\t').slice(0, 5))).toEqual([
      ['0', '0', '1', '-', 'one'],
      ['0', '1', '1', '-', 'two'],
    ]);
    const receipts = rows.slice(1).map((row) => row.split('\t')[5]!);
    const acked = await spool(url, ['queues', 'ack', group, '--topic', topic, '--outcome', 'release', receipts[0]!]);
    expect(acked.code).toBe(0);
    expect(acked.stdout.split('\n')[1]).toBe(`${receipts[0]}\tok\t-`);
    // Released, it is no longer this receipt's: settling it again settles nothing (exit 1, the status per receipt).
    const stale = await spool(url, ['queues', 'ack', group, '--topic', topic, receipts[0]!]);
    expect([stale.code, stale.stdout.split('\n')[1]]).toEqual([1, expect.stringMatching(/^\S+\tlock_expired\t/)]);
    // Released: handed out again (a second delivery), then accepted with the rest by --ack.
    const again = await spool(url, ['queues', 'receive', group, '--topic', topic, '--ack', 'accept']);
    expect(
      again.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((row) => row.split('\t').slice(1, 5)),
    ).toEqual([
      ['0', '2', '-', 'one'],
      ['2', '1', '-', 'three'],
    ]);
    expect(again.stderr).toContain('accepted 2 of 2 record(s)');
    // Accepted by the later receive: the first receipt's acknowledgement finds it settled.
    const settled = await spool(url, ['queues', 'ack', group, '--topic', topic, receipts[0]!]);
    expect([settled.code, settled.stdout.split('\n')[1]]).toEqual([0, expect.stringMatching(/^\S+\talready_settled\t/)]);
    const described = await spool(url, ['queues', 'describe', group]);
    expect(described.stderr).toContain('share.delivery.count.limit=3');
    expect(described.stdout.split('\n').slice(0, 2)).toEqual([
      'TOPIC\tPARTITION\tSTART-OFFSET\tEND-OFFSET\tLOG-END-OFFSET\tACQUIRED\tAVAILABLE\tDEAD\tDELAYED',
      `${topic}\t0\t1\t3\t3\t1\t0\t0\t0`,
    ]);
    const locked = await spool(url, ['queues', 'delete', group]);
    expect([locked.code, locked.stderr]).toEqual([1, expect.stringContaining('GROUP_NOT_EMPTY')]);
    expect((await spool(url, ['queues', 'ack', group, '--topic', topic, receipts[1]!])).code).toBe(0);
    expect((await spool(url, ['queues', 'delete', group])).code).toBe(0);
    expect((await spool(url, ['queues', 'receive', group, '--topic', topic, '--ack', 'nope'])).code).toBe(2);
  }, 60_000);

  it('redrives dead letters of a share group back to their topic, and the next redrive goes on from there', async () => {
    const topic = name('redriven');
    const dlq = name('dlq.redrive');
    const group = name('share');
    expect((await spool(url, ['topics', 'create', topic, '--partitions', '2'])).code).toBe(0);
    expect((await spool(url, ['topics', 'create', dlq])).code).toBe(0);
    // Dead letters as Kafka 4.4 writes them: KIP-1191's headers, in its order.
    const letter = (of: string, partition: number, value: string) =>
      JSON.stringify({
        key: `k-${value}`,
        value,
        headers: {
          '__dlq.errors.topic': topic,
          '__dlq.errors.partition': String(partition),
          '__dlq.errors.offset': '0',
          '__dlq.errors.group': of,
          '__dlq.errors.delivery.count': '3',
          '__dlq.errors.message': 'Offset delivery count exceeded the threshold.',
        },
      });
    const letters = [letter(group, 1, 'one'), letter('other', 0, 'theirs'), letter(group, 0, 'two')];
    expect((await spool(url, ['produce', dlq, '--format', 'ndjson'], `${letters.join('\n')}\n`)).code).toBe(0);
    const first = await spool(url, ['queues', 'redrive', group, '--dead-letter-topic', dlq, '--max-records', '2']);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(`moved 1 dead letter(s) of ${group} from ${dlq} back to their topics; passed over 1 of other groups`);
    expect(first.stderr).toContain(`more remain: run it again (the position is consumer group spool-redrive.${group})`);
    expect(first.stdout.trim().split('\n')).toEqual(['PARTITION\tPOSITION\tEND-OFFSET\tREMAINING', '0\t2\t3\t1']);
    const second = await spool(url, ['queues', 'redrive', group, '--dead-letter-topic', dlq]);
    expect(second.stderr).toContain('moved 1 dead letter(s)');
    expect(second.stderr).not.toContain('more remain');
    expect(second.stdout.trim().split('\n')[1]).toBe('0\t3\t3\t0');
    const consumed = await spool(url, ['consume', topic, '--from-beginning', '--print-key']);
    expect(consumed.stdout.trim().split('\n').sort()).toEqual(['k-one\tone', 'k-two\ttwo']);
    const position = await spool(url, ['groups', 'describe', `spool-redrive.${group}`]);
    expect(position.stdout.split('\n')[1]).toBe(`${dlq}\t0\t3\t3\t0\t-`);
    const unset = await spool(url, ['queues', 'redrive', group]);
    expect([unset.code, unset.stderr]).toEqual([1, expect.stringContaining('INVALID_ARGUMENT: share group')]);
    expect((await spool(url, ['queues', 'redrive', group, '--max-records', '0'])).code).toBe(2);
  }, 120_000);

  it('resumes a group from its committed offsets after the consumer and the server restart', async () => {
    const topic = name('resume');
    const group = name('grp');
    await spool(url, ['topics', 'create', topic, '--partitions', '2']);
    await spool(url, ['produce', topic], `${Array.from({ length: 100 }, (_, i) => `m${i}`).join('\n')}\n`);
    const first = await spool(url, ['consume', topic, '--group', group, '--from-beginning', '--max-messages', '40']);
    expect(first.stdout.trim().split('\n')).toHaveLength(40);
    await agent.close();
    await start(); // same data directory
    const second = await spool(url, ['consume', topic, '--group', group, '--from-beginning']);
    const all = [...first.stdout.trim().split('\n'), ...second.stdout.trim().split('\n')];
    expect(all).toHaveLength(100);
    expect(new Set(all).size).toBe(100);
    const described = await spool(url, ['groups', 'describe', group]);
    expect(described.stdout.split('\n')[0]).toBe('TOPIC\tPARTITION\tCOMMITTED\tHIGH-WATERMARK\tLAG\tMEMBER');
    expect(described.stdout).toMatch(new RegExp(`${topic}\\t0\\t(\\d+)\\t\\1\\t0\\t-`));
    expect((await spool(url, ['groups', 'list'])).stdout).toContain(`${group}\tempty`);
  }, 60_000);

  it('shows a reset as a dry run, changing nothing, and applies it with --execute', async () => {
    const topic = name('reset');
    const group = name('grp');
    await spool(url, ['topics', 'create', topic, '--partitions', '1']);
    await spool(url, ['produce', topic], 'a\nb\nc\n');
    await spool(url, ['consume', topic, '--group', group, '--from-beginning']);
    const dry = await spool(url, ['groups', 'reset-offsets', group, '--topic', topic, '--to-earliest']);
    expect(dry.stdout).toContain(`${topic}\t0\t3\t0`);
    expect(dry.stderr).toContain('dry run: nothing changed');
    expect((await spool(url, ['groups', 'describe', group])).stdout).toContain(`${topic}\t0\t3\t3\t0`);
    const applied = await spool(url, ['groups', 'reset-offsets', group, '--topic', topic, '--to-offset', '1', '--execute']);
    expect(applied.code).toBe(0);
    expect((await spool(url, ['groups', 'describe', group])).stdout).toContain(`${topic}\t0\t1\t3\t2`);
    expect((await spool(url, ['consume', topic, '--group', group])).stdout).toBe('b\nc\n');
    expect(await spool(url, ['groups', 'delete', group])).toMatchObject({ code: 0 });
  }, 60_000);

  it('serves the agent with flags for the SPOOL_ settings, and stops cleanly on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bin/spool.ts',
        'serve',
        '--http-port',
        '0',
        '--kafka-port',
        '0',
        '--data-dir',
        tempDir('spool-serve-'),
        '--default-partitions',
        '3',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    const served = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /HTTP API\s+(http:\/\/[^/\s]+)\/v1\/topics/.exec(stdout);
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    expect(await spool(served, ['produce', 'auto'], 'x\n')).toMatchObject({ code: 0 });
    const partitions = (await spool(served, ['topics', 'describe', 'auto'])).stdout.split('\n').filter((line) => /^\d+\t/.test(line));
    expect(partitions).toHaveLength(3); // --default-partitions 3
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);

  it('exits quietly with status 0 when the reader of its output leaves early (| head)', async () => {
    const topic = name('head');
    const value = 'v'.repeat(1000);
    await spool(url, ['topics', 'create', topic, '--partitions', '2']);
    // 2 MB: far more than a pipe holds, so the command is still writing when the reader leaves.
    expect(await spool(url, ['produce', topic], `${Array.from({ length: 2000 }, (_, i) => `${i}${value}`).join('\n')}\n`)).toMatchObject({
      code: 0,
    });
    const direct = await spoolIntoLeavingReader(url, ['consume', topic, '--from-beginning'], 1);
    expect(direct).toMatchObject({ code: 0, signal: null });
    expect(direct.stderr).not.toMatch(/EPIPE|Error/);
    // --follow never reaches an end: only the reader leaving stops it. As a group member it leaves the
    // group on the way out (so the group is empty at once, not after a session timeout).
    const group = name('grp');
    const following = await spoolIntoLeavingReader(url, ['consume', topic, '--group', group, '--from-beginning', '--follow'], 1);
    expect(following).toMatchObject({ code: 0, signal: null });
    expect(following.stderr).not.toMatch(/EPIPE|Error/);
    expect((await spool(url, ['groups', 'list'])).stdout).toContain(`${group}\tempty`);
    for (const args of [['--help'], ['consume', '--help'], ['--version'], ['topics', 'list']]) {
      const gone = await spoolIntoLeavingReader(url, args, 0);
      expect({ args, code: gone.code, stderr: gone.stderr }).toEqual({ args, code: 0, stderr: '' });
    }
  }, 60_000);

  it('says that a group with nothing committed starts at the latest offset, naming --from-beginning', async () => {
    const topic = name('hint');
    const group = name('grp');
    await spool(url, ['produce', topic], 'old-1\nold-2\n');
    const fresh = await spool(url, ['consume', topic, '--group', group, '--timeout-ms', '200']);
    expect(fresh).toMatchObject({ code: 0, stdout: '' });
    expect(fresh.stderr).toContain(`group ${group} has no committed offsets for ${topic}: it starts at the latest offset`);
    expect(fresh.stderr).toContain('--from-beginning');
    const fromStart = await spool(url, ['consume', topic, '--group', name('grp'), '--from-beginning']);
    expect(fromStart.stdout).toBe('old-1\nold-2\n');
    expect(fromStart.stderr).not.toContain('no committed offsets');
    await spool(url, ['produce', topic], 'new-1\n');
    const resumed = await spool(url, ['consume', topic, '--group', group]); // committed at the end of the first run
    expect(resumed.stdout).toBe('new-1\n');
    expect(resumed.stderr).not.toContain('no committed offsets');
  }, 60_000);

  it('prints the package version with --version', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) expect(await spool(url, [flag])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  }, 60_000);

  it('prints help and exits 2 on bad usage', async () => {
    const missing = await spool(url, ['topics', 'create']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("error: missing required argument 'name'");
    expect(missing.stderr).toContain('Usage: spool topics create [options] <name>');
    const unknown = await spool(url, ['consume', 'x', '--frm-beginning']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--frm-beginning'");
    const badNumber = await spool(url, ['topics', 'create', 'x', '--partitions', 'many']);
    expect(badNumber).toMatchObject({ code: 2 });
    expect(badNumber.stderr).toContain('--partitions must be an integer ≥ 1, got "many"');
    const badCombination = await spool(url, ['consume', 'x', '--offset', '5']);
    expect(badCombination).toMatchObject({ code: 2 });
    expect(badCombination.stderr).toContain('--offset needs --partition');
    expect((await spool(url, ['groups', 'reset-offsets', 'g', '--topic', 't'])).code).toBe(2);
    expect((await spool(url, ['topics'])).code).toBe(2); // a missing subcommand
    const badUrl = await spool('notaurl', ['topics', 'list']);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('--url must be an http(s) URL, got "notaurl"');
    const help = await spool(url, ['produce', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
  }, 60_000);
});

describe('cli > spool command against an API with keys', () => {
  it('sends --token (or SPOOL_TOKEN) as the bearer token', async () => {
    const token = `root-${randomUUID()}`;
    const agent = await startAgent(
      loadConfig({
        SPOOL_DATA_DIR: tempDir('spool-cli-auth-'),
        SPOOL_HTTP_PORT: '0',
        SPOOL_KAFKA_PORT: '0',
        SPOOL_AUTH_TOKEN: token,
        SPOOL_MAINTENANCE_INTERVAL_MS: '0',
      }),
      {
        logger: silentLogger,
      },
    );
    try {
      const refused = await spool(agent.httpUrl, ['topics', 'list']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('spool: UNAUTHENTICATED');
      expect(await spool(agent.httpUrl, ['--token', token, 'topics', 'create', 'secured'])).toMatchObject({ code: 0 });
      expect((await spool(agent.httpUrl, ['--token', token, 'topics', 'list'])).stdout).toContain('secured\t1');
    } finally {
      await agent.close();
    }
  }, 60_000);
});
