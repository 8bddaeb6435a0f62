// What the log says at each level, and where a fatal start goes: log.level applies to every
// line, access lines included; debug shows routing and upstream decisions; a gateway that
// cannot start says why on stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, BUILD } from './lib/harness.mjs';

const messages = [{ role: 'user', content: 'x' }];

async function withLevel(level, fn) {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({
    channels: simChannel(sim), models: standardModels, extra: `log: {level: ${level}}`,
  }));
  try {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    await client.chat.completions.create({ model: 'chat', messages, max_tokens: 1 });
    await fetch(`${gw.url}/nowhere`);
    await gw.stop();
    return fn(gw.lines());
  } finally {
    await gw.stop();
    await sim.stop();
  }
}

test('log.level warn: no info lines, access lines included', async () => {
  await withLevel('warn', (lines) => {
    assert.deepEqual(lines.filter((l) => l.level === 'info' || l.level === 'debug'), []);
    assert.ok(!lines.some((l) => l.event === 'access'));
  });
});

test('log.level debug: routing and upstream decisions are shown', async () => {
  await withLevel('debug', (lines) => {
    const route = lines.find((l) => l.event === 'route');
    assert.equal(route.model, 'chat');
    assert.equal(route.channel, 'sim');
    assert.ok(lines.some((l) => l.event === 'upstream_start' && l.request_id === route.request_id));
    assert.ok(lines.some((l) => l.event === 'upstream_done' && l.status === 200));
    assert.ok(lines.some((l) => l.event === 'access' && l.status === 404));
  });
});

test('log.level info: access lines, no debug lines', async () => {
  await withLevel('info', (lines) => {
    assert.ok(lines.some((l) => l.event === 'access' && l.status === 200));
    assert.ok(!lines.some((l) => l.level === 'debug'));
  });
});

test('admin connections leave no libevent warnings: the control loop reserves no descriptors', async () => {
  // The control loop serves the admin API without libevent's changelist; reserving descriptor
  // records there (as the workers do) made an epoll_ctl of each number 0-1023, and a thousand
  // "[warn] Epoll ADD" lines on stderr at the first admin connection (a readiness probe).
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({ channels: simChannel(sim), models: standardModels }));
  try {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${gw.adminUrl}/readyz`);
      assert.equal(res.status, 200);
    }
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    await client.chat.completions.create({ model: 'chat', messages, max_tokens: 1 });
    await gw.stop();
    assert.ok(!/\[(warn|err)\]|epoll/i.test(gw.stderr), gw.stderr.slice(0, 500));
    assert.deepEqual(gw.lines().filter((l) => l.event === 'libevent'), []);
  } finally {
    await gw.stop();
    await sim.stop();
  }
});

test('a gateway that cannot start says why on stderr, not in the access log', async () => {
  const sim = await startSim();
  const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels });
  const holder = net.createServer();
  await new Promise((resolve) => holder.listen(config.ports.http, '127.0.0.1', resolve));
  try {
    const run = spawnSync(path.join(BUILD, 'aigw'), ['serve', '-c', config.file], { cwd: config.dir, encoding: 'utf8', timeout: 30000 });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /"event":"start_failed".*Address already in use/);
    assert.ok(!/start_failed/.test(run.stdout), run.stdout);
  } finally {
    holder.close();
    await sim.stop();
  }
});
