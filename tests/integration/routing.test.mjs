// Smart routing as a caller sees it: a virtual model over weighted and primary-backup channels,
// rules that pick targets, and failover before the first byte, so that a caller never notices
// an engine that is killed, hangs or fails while a backup lives.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, waitFor, SLOW } from './lib/harness.mjs';

const messages = [{ role: 'user', content: 'hello there' }];
let a, b, backup, gw, client;

const channel = (name, sim, extra = '') => `  - name: ${name}
    base_url: ${sim.url}/v1
    forward_headers: ["x-sim-*"]
    timeouts: {first_byte_ms: 1000, idle_ms: 1000}
    health: {failures: 2, backoff_ms: 300, max_backoff_ms: 1000}
${extra}`;

before(async () => {
  [a, b, backup] = await Promise.all([
    startSim(['--models', '*', '--control-port', '0']),
    startSim(['--models', '*', '--control-port', '0']),
    startSim(['--models', '*', '--control-port', '0']),
  ]);
  const channels = [channel('gpu-a', a), channel('gpu-b', b), channel('cloud', backup)].join('');
  const models = `  - name: chat
    targets:
      - { channel: gpu-a, weight: 3 }
      - { channel: gpu-b, weight: 1 }
      - { channel: cloud, tier: 1, upstream_model: gpt-4o-mini }
    rules:
      - when: { prompt_tokens: { over: 200 } }
        targets: [ { channel: cloud } ]
      - when: { header: { name: x-tenant, equals: finance } }
        targets: [ { channel: gpu-b } ]
      - when: { last_user_message: { matches: "(?i)invoice|refund" } }
        targets: [ { channel: gpu-a } ]
      - when: { field: { path: metadata.scenario, equals: billing } }
        targets: [ { channel: gpu-b } ]
    failover: { on: [connect, timeout, 5xx, 429], attempts: 3, deadline_ms: 60000 }
  - name: primary-backup
    targets:
      - { channel: gpu-a }
      - { channel: cloud, tier: 1 }
    failover: { attempts: 3 }
  - name: short-deadline
    targets:
      - { channel: gpu-a }
      - { channel: gpu-b }
    failover: { attempts: 3, deadline_ms: 600 }
  - name: single
    channel: gpu-b`;
  gw = await startGateway(await gatewayConfig({ channels, models }));
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
  await Promise.all([a, b, backup].map((s) => s?.stop()));
});

async function resetAll() {
  await Promise.all([a, b, backup].map(async (s) => {
    await s.setFault('none');
    await fetch(`${s.controlUrl}/sim/reset`, { method: 'POST' });
  }));
}

const served = async (sim) => (await sim.stats()).requests;

// An endpoint a fault ejected comes back through one probe request once its back-off is over:
// until then the primary-backup model skips it, whatever the next test wants of it.
async function primaryServing() {
  await waitFor('gpu-a serving again', async () => (await ask('primary-backup')).channel === 'gpu-a',
    { timeoutMs: 10000 });
}

async function ask(model, extra = {}, headers = {}) {
  const { data, response } = await client.chat.completions.create(
    { model, messages, max_tokens: 2, ...extra }, { headers }).withResponse();
  return { data, channel: response.headers.get('x-aigw-channel'), attempts: response.headers.get('x-aigw-attempts') };
}

async function askStream(model) {
  const stream = await client.chat.completions.create({ model, messages, max_tokens: 3, stream: true });
  let n = 0;
  for await (const c of stream) n += c.choices[0]?.delta?.content ? 1 : 0;
  return n;
}

// Runs `total` requests, `width` at a time, and returns how many failed.
async function load(total, width, fn) {
  let next = 0;
  const failures = [];
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < total) {
      next++;
      try { await fn(); } catch (err) { failures.push(err.message); }
    }
  }));
  return failures;
}

test('weights split the traffic: gpu-a 3, gpu-b 1, within 2 points over 10,000 requests', async () => {
  await resetAll();
  const total = SLOW > 1 ? 1000 : 10000;
  const failures = await load(total, 32, () => client.chat.completions.create({ model: 'chat', messages, max_tokens: 1 }));
  assert.deepEqual(failures, []);
  const [na, nb, nc] = [await served(a), await served(b), await served(backup)];
  assert.equal(na + nb, total);
  assert.equal(nc, 0, 'the tier-1 backup is not used while tier 0 is healthy');
  const share = na / total;
  assert.ok(Math.abs(share - 0.75) <= 0.02, `gpu-a served ${(share * 100).toFixed(2)}%`);
});

test('responses say who served and how many attempts it took', async () => {
  await resetAll();
  const { channel: ch, attempts } = await ask('single');
  assert.equal(ch, 'gpu-b');
  assert.equal(attempts, '1');
});

for (const [kind, fault] of [['answering 500', 'status:500'], ['answering 429', 'status:429'], ['hanging', 'hang'], ['killed', 'refuse']]) {
  test(`the primary ${kind}: no request fails while the backup lives, streams included`, async () => {
    await resetAll();
    await a.setFault(fault);
    const failures = await load(SLOW > 1 ? 10 : 30, 4, async () => {
      const { data, channel: ch } = await ask('primary-backup');
      assert.equal(data.model, 'primary-backup');
      assert.equal(ch, 'cloud');
    });
    assert.deepEqual(failures, []);
    assert.equal(await askStream('primary-backup'), 3);
    // the access log keeps how many tries a request took and who served it
    await waitFor('an access line of a failover', () => gw.lines().some((l) =>
      l.event === 'access' && l.model === 'primary-backup' && l.attempts === 2 && l.channel === 'cloud'));
    await a.setFault('none');
  });
}

test('after the primary recovers, traffic returns to it', async () => {
  await resetAll();
  await primaryServing();
  await a.setFault('status:503');
  for (let i = 0; i < 4; i++) assert.equal((await ask('primary-backup')).channel, 'cloud');
  const channels = await (await fetch(`${gw.adminUrl}/admin/channels`, { headers: { authorization: 'Bearer test-admin-token' } })).json();
  const gpuA = channels.channels.find((c) => c.name === 'gpu-a').endpoints[0];
  assert.equal(gpuA.state, 'ejected');
  assert.equal(gpuA.last_error, 'upstream_error');
  // a reload that keeps the channel keeps what its endpoints have been through
  const reload = await fetch(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
  assert.equal(reload.status, 200);
  const after = await (await fetch(`${gw.adminUrl}/admin/channels`, { headers: { authorization: 'Bearer test-admin-token' } })).json();
  assert.ok(after.generation > channels.generation);
  assert.equal(after.channels.find((c) => c.name === 'gpu-a').endpoints[0].state, 'ejected');
  await a.setFault('none');
  await waitFor('traffic back on gpu-a', async () => (await ask('primary-backup')).channel === 'gpu-a', { timeoutMs: 10000 });
  await waitFor('gpu-a healthy again', async () => {
    const now = await (await fetch(`${gw.adminUrl}/admin/channels`, { headers: { authorization: 'Bearer test-admin-token' } })).json();
    return now.channels.find((c) => c.name === 'gpu-a').endpoints[0].state === 'healthy';
  });
});

test('a 400 is the caller\'s: not retried on another channel', async () => {
  await resetAll();
  await primaryServing();
  const before = await served(backup);
  await assert.rejects(
    client.chat.completions.create({ model: 'primary-backup', messages }, { headers: { 'x-sim-fault': 'status:400' } }),
    (err) => err.status === 400);
  assert.equal(await served(backup), before, 'the backup never saw it');
});

test('the failover deadline holds however many channels hang', async () => {
  await resetAll();
  await a.setFault('hang');
  await b.setFault('hang');
  const t0 = Date.now();
  await assert.rejects(client.chat.completions.create({ model: 'short-deadline', messages }), (err) => {
    assert.equal(err.status, 504);
    assert.match(err.message, /deadline_ms \(600 ms\)|first_byte_ms/);
    return true;
  });
  assert.ok(Date.now() - t0 < 600 * 3 * SLOW, `took ${Date.now() - t0} ms`);
  await resetAll();
});

test('rules route by prompt length, header, last user message and body field', async () => {
  await resetAll();
  const long = [{ role: 'user', content: 'word '.repeat(400) }];
  assert.equal((await ask('chat', { messages: long })).channel, 'cloud');
  assert.equal((await ask('chat', {}, { 'x-tenant': 'finance' })).channel, 'gpu-b');
  assert.equal((await ask('chat', { messages: [{ role: 'user', content: 'About my INVOICE' }] })).channel, 'gpu-a');
  assert.equal((await ask('chat', { metadata: { scenario: 'billing' } })).channel, 'gpu-b');
  // the rule's target keeps its own name for the model: cloud's upstream_model is unset there
  const seen = await backup.lastRequest();
  assert.equal(seen.body.model, 'chat');
});

test('a stream cut after its first byte is not retried: it ends with an error event', async () => {
  await resetAll();
  const before = await served(backup);
  const stream = await client.chat.completions.create({ model: 'primary-backup', messages, max_tokens: 5, stream: true },
    { headers: { 'x-sim-fault': 'cut:2' } });
  await assert.rejects(async () => { for await (const _ of stream) { /* drain */ } }, /before (it|the stream) was complete/);
  assert.equal(await served(backup), before);
});

test('the admin API adds and removes endpoints of a channel at once', async () => {
  await resetAll();
  const change = (method, url) => fetch(`${gw.adminUrl}/admin/channels/gpu-b/endpoints`, {
    method, headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
    body: JSON.stringify({ url }),
  });
  const added = await change('POST', `${a.url}/v1`);
  assert.equal(added.status, 200);
  const gpuB = (await added.json()).channels.find((c) => c.name === 'gpu-b');
  assert.deepEqual(gpuB.endpoints.map((e) => e.url), [`${b.url}/v1`, `${a.url}/v1`]);
  for (let i = 0; i < 20; i++) await ask('single');
  assert.ok(await served(a) > 0 && await served(b) > 0, 'both endpoints of gpu-b serve');

  assert.equal((await change('POST', `${a.url}/v1`)).status, 409, 'present already');
  assert.equal((await change('DELETE', `${b.url}/v1`)).status, 200);
  const before = await served(b);
  for (let i = 0; i < 10; i++) await ask('single');
  assert.equal(await served(b), before, 'the removed endpoint gets nothing');
  assert.equal((await change('DELETE', `${b.url}/v1`)).status, 404);
  assert.equal((await change('POST', 'ftp://nowhere')).status, 400);
  const unknown = await fetch(`${gw.adminUrl}/admin/channels/nope/endpoints`, {
    method: 'POST', headers: { authorization: 'Bearer test-admin-token' }, body: '{"url":"http://127.0.0.1:1/v1"}',
  });
  assert.equal(unknown.status, 404);
  // back as the config has it
  assert.equal((await change('POST', `${b.url}/v1`)).status, 200);
  assert.equal((await change('DELETE', `${a.url}/v1`)).status, 200);
});

test('max_connections caps a channel over all workers: the next channel takes the rest', async () => {
  const sim = await startSim(['--models', '*']);
  const spare = await startSim(['--models', '*']);
  const capped = await startGateway(await gatewayConfig({
    channels: `  - name: small
    base_url: ${sim.url}/v1
    forward_headers: ["x-sim-*"]
    max_connections: 2
  - name: spare
    base_url: ${spare.url}/v1
    forward_headers: ["x-sim-*"]`,
    models: `  - name: overflow
    targets: [ { channel: small }, { channel: spare, tier: 1 } ]
  - name: only-small
    channel: small`,
  }));
  const c = new OpenAI({ baseURL: `${capped.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const slow = { headers: { 'x-sim-first-token-ms': String(600 * SLOW) } };
  try {
    const answers = await Promise.all(Array.from({ length: 4 }, () =>
      c.chat.completions.create({ model: 'overflow', messages, max_tokens: 1 }, slow).withResponse()));
    const by = answers.map(({ response }) => response.headers.get('x-aigw-channel')).sort();
    assert.deepEqual(by, ['small', 'small', 'spare', 'spare']);

    const results = await Promise.allSettled(Array.from({ length: 3 }, () =>
      c.chat.completions.create({ model: 'only-small', messages, max_tokens: 1 }, slow)));
    const refused = results.filter((res) => res.status === 'rejected');
    assert.equal(refused.length, 1);
    assert.equal(refused[0].reason.status, 503);
    assert.equal(refused[0].reason.code, 'channel_saturated');
  } finally {
    await capped.stop();
    await sim.stop();
    await spare.stop();
  }
});
