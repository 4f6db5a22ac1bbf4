/**
 * The agent as users run it: the HTTP API on a real Node server over loopback, and its graceful
 * shutdown (stop accepting, end long-polls, flush and commit what was accepted).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../lib/agent.js';
import { loadConfig } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { openRuntime } from '../../lib/runtime.js';
import { tempDir } from '../support/stores.js';

describe('agent > HTTP server', () => {
  const agents: Agent[] = [];
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.close();
  });

  async function start(dataDir = tempDir(), env: Record<string, string> = {}) {
    const config = loadConfig({
      SPOOL_DATA_DIR: dataDir,
      SPOOL_HTTP_PORT: '0',
      SPOOL_KAFKA_PORT: '0',
      SPOOL_BATCH_INTERVAL_MS: '20',
      ...env,
    });
    const agent = await startAgent(config, { logger: silentLogger });
    agents.push(agent);
    return { agent, dataDir, config };
  }

  it('serves the API over HTTP on the configured host', async () => {
    const { agent } = await start();
    expect(agent.httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${agent.httpUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    const produced = await fetch(`${agent.httpUrl}/v1/topics/web/records`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'one\ntwo\n',
    });
    expect(await produced.json()).toEqual({
      offsets: [
        { partition: 0, offset: 0 },
        { partition: 0, offset: 1 },
      ],
    });
    const fetched = (await (await fetch(`${agent.httpUrl}/v1/topics/web/partitions/0/records`)).json()) as { records: { value: string }[] };
    expect(fetched.records.map((r: { value: string }) => r.value)).toEqual(['one', 'two']);
  });

  it('on shutdown ends long-polls, refuses new connections, and commits what it accepted', async () => {
    const { agent, dataDir, config } = await start();
    const url = agent.httpUrl;
    await fetch(`${url}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'jobs' }),
    });
    // acks=0: answered before the commit, so only a clean shutdown can make these durable.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(`${url}/v1/topics/jobs/records?acks=0`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ records: [{ value: `job-${i}` }] }),
        }),
      ),
    );
    expect(answers.every((r) => r.status === 200)).toBe(true);
    const longPoll = fetch(`${url}/v1/topics/jobs/partitions/0/records?offset=latest&wait_ms=30000`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await agent.close();
    expect((await longPoll).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    const reopened = await openRuntime(config);
    const { records } = await reopened.log.fetch('jobs', 0, 0, { maxRecords: 100 });
    expect(records.map((r) => r.value!.toString()).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `job-${i}`).sort());
    await reopened.close();
    expect(dataDir).toBeTruthy();
  });

  it('describes the cluster: itself registered, the partitions it leads, and what its storage calls cost', async () => {
    const { agent } = await start();
    await fetch(`${agent.httpUrl}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'led', partitions: 3 }),
    });
    // The HTTP API writes leaderless; Kafka produce leads: as its first produce to a partition does, take two leases.
    for (const partition of [0, 1]) await agent.runtime.log.acquireLeadership('led', partition);
    await fetch(`${agent.httpUrl}/v1/topics/led/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: [{ value: 'x' }, { value: 'y' }] }),
    });
    const cluster = (await (await fetch(`${agent.httpUrl}/v1/cluster`)).json()) as any;
    expect(cluster.agents).toEqual([
      expect.objectContaining({ node_id: 1, port: Number(agent.kafkaBootstrap!.split(':')[1]), writer_id: cluster.writer_id, live: true }),
    ]);
    expect(cluster.agents[0].partitions_led).toBe(2);
    expect(cluster.leadership).toMatchObject({
      partitions: 3,
      partitions_read: 3,
      without_leader: 1,
      by_writer: { [cluster.writer_id]: 2 },
    });
    expect(cluster.cost_last_hour.requests.s3_puts).toBeGreaterThanOrEqual(1);
    expect(cluster.cost_last_hour.requests.dynamodb_write_units).toBeGreaterThan(0);
    expect(cluster.cost_last_hour.total_usd).toBeGreaterThan(0);
    expect(cluster.cost_last_hour.total_usd).toBeCloseTo(cluster.cost_last_hour.s3_usd + cluster.cost_last_hour.dynamodb_usd, 12);
  });

  it('refuses to start on invalid configuration, naming the variable', () => {
    expect(() => loadConfig({ SPOOL_HTTP_PORT: 'eighty' })).toThrow(/SPOOL_HTTP_PORT must be an integer in \[0, 65535\], got "eighty"/);
  });
});
