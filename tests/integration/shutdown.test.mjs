// Shutdown as a load balancer and a caller see it: readiness drops on every port while the
// gateway still answers, running streams finish whole, what outlives the drain deadline ends
// with an explicit error (never silently, never logged as the client's fault), and a second
// signal stops at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  startSim, startGateway, gatewayConfig, simChannel, standardModels, waitFor, rawExchange, SLOW,
} from './lib/harness.mjs';

const messages = [{ role: 'user', content: 'x' }];

async function consume(stream) {
  let n = 0;
  for await (const c of stream) n += c.choices[0]?.delta?.content ? 1 : 0;
  return n;
}

test('SIGTERM: readiness drops on both ports, new requests are still served, streams finish whole', async () => {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({ channels: simChannel(sim), models: standardModels }));
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  try {
    const tokens = 40;
    let started = 0;
    const streams = Array.from({ length: 3 }, async () => {
      const s = await client.chat.completions.create(
        { model: 'chat', messages, max_tokens: tokens, stream: true },
        { headers: { 'x-sim-inter-token-ms': '50' } });
      let n = 0;
      let first = true;
      for await (const c of s) {
        if (first) { started++; first = false; }
        n += c.choices[0]?.delta?.content ? 1 : 0;
      }
      return n;
    });
    // should an assertion below fail, the streams cut by the cleanup must not hide it as
    // unhandled rejections (Promise.all still sees their failures)
    for (const s of streams) s.catch(() => {});
    await waitFor('three streams to start', () => started === 3);
    gw.child.kill('SIGTERM');
    await waitFor('readiness to drop on the admin port', async () => (await fetch(`${gw.adminUrl}/readyz`)).status === 503);
    // a load balancer probing the API port sees the same, and is not refused
    const ready = await fetch(`${gw.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { status: 'draining' });
    assert.equal(ready.headers.get('connection'), 'close');
    // a request that arrives while the load balancer catches up is served, on a closing connection
    const late = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', messages, max_tokens: 2 }),
    });
    assert.equal(late.status, 200);
    assert.equal(late.headers.get('connection'), 'close');
    assert.deepEqual(await Promise.all(streams), [tokens, tokens, tokens]);
    await gw.stop(); // asserts exit code 0
  } finally {
    await gw.stop();
    await sim.stop();
  }
});

// Each worker listens on the port through SO_REUSEPORT, and the kernel spreads new connections
// over the group's sockets. A worker with nothing to serve that closed its socket at once, while
// another still served a stream, reset the connections the kernel had queued on it: new requests
// during a drain failed ("fetch failed"). Here a stream keeps one worker busy while fresh
// connections arrive through the whole drain, from just before the signal to the stream's end.
test('during a drain every new connection is answered, on every worker, until the last request ends', async () => {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({ channels: simChannel(sim), models: standardModels }));
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  try {
    let tokens = 0;
    const stream = (async () => {
      const s = await client.chat.completions.create(
        { model: 'chat', messages, max_tokens: 12, stream: true },
        { headers: { 'x-sim-inter-token-ms': '50' } });
      for await (const c of s) tokens += c.choices[0]?.delta?.content ? 1 : 0;
      return tokens;
    })();
    stream.catch(() => {});
    await waitFor('the stream to start', () => tokens > 0);
    // until 100 ms before the stream's end: the last worker's sockets close when it ends, and a
    // connection the kernel queued just then is reset by the process's exit, as with any server
    const outcomes = [];
    const probe = () => rawExchange(gw.config.ports.http, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      .then((reply) => reply.split('\r\n')[0], (e) => `failed: ${e.code || e.message}`);
    let signalled = false;
    while (tokens < 10) {
      const batch = Array.from({ length: 8 }, probe);
      if (!signalled) { gw.child.kill('SIGTERM'); signalled = true; }
      outcomes.push(...await Promise.all(batch));
    }
    assert.equal(await stream, 12, 'the stream finished whole');
    const failed = outcomes.filter((o) => !o.startsWith('HTTP/1.1 '));
    assert.deepEqual(failed, [], `${failed.length} of ${outcomes.length} connections got no answer: ${JSON.stringify(failed.slice(0, 5))}`);
    assert.ok(outcomes.length >= 16, `only ${outcomes.length} connections were tried`);
    await gw.stop(); // asserts exit code 0
  } finally {
    await gw.stop();
    await sim.stop();
  }
});

test('a stream outliving the drain deadline ends with an error event and is logged as cut by the server', async () => {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({
    channels: simChannel(sim), models: standardModels, server: '  shutdown_timeout_ms: 300',
  }));
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  try {
    const stream = await client.chat.completions.create(
      { model: 'chat', messages, max_tokens: 1000, stream: true },
      { headers: { 'x-sim-inter-token-ms': '50' } });
    let tokens = 0;
    const reading = (async () => {
      for await (const c of stream) tokens += c.choices[0]?.delta?.content ? 1 : 0;
    })();
    await waitFor('the first tokens', () => tokens > 0);
    gw.child.kill('SIGTERM');
    await assert.rejects(reading, /shutting down/);
    assert.ok(tokens > 0 && tokens < 1000);
    await gw.stop();
    const line = gw.lines().find((l) => l.event === 'access' && l.stream);
    assert.equal(line.status, 200, 'the stream had begun: not a 499');
    assert.equal(line.error, 'server_shutdown');
  } finally {
    await gw.stop();
    await sim.stop();
  }
});

test('a request still waiting on its engine at the deadline gets a 503', async () => {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({
    channels: simChannel(sim), models: standardModels, server: '  shutdown_timeout_ms: 300',
  }));
  try {
    const pending = fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-fault': 'hang' },
      body: JSON.stringify({ model: 'chat', messages }),
    });
    await waitFor('the engine to hold the request', async () => (await sim.stats()).requests > 0);
    gw.child.kill('SIGTERM');
    const res = await pending;
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.error.code, 'server_shutdown');
    await gw.stop();
  } finally {
    await gw.stop();
    await sim.stop();
  }
});

test('a second SIGTERM stops at once, without waiting for the drain deadline', async () => {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({
    channels: simChannel(sim), models: standardModels, server: '  shutdown_timeout_ms: 600000',
  }));
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  try {
    const stream = await client.chat.completions.create(
      { model: 'chat', messages, max_tokens: 5000, stream: true },
      { headers: { 'x-sim-inter-token-ms': '50' } });
    const reading = consume(stream).catch((err) => err);
    gw.child.kill('SIGTERM');
    await waitFor('the drain to begin', () => gw.lines().some((l) => l.event === 'shutdown'));
    const t0 = Date.now();
    gw.child.kill('SIGTERM');
    const { code } = await gw.exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 5000 * SLOW, 'no wait for the 10-minute deadline');
    const err = await reading;
    assert.match(String(err?.message), /shutting down/);
    await gw.stop();
  } finally {
    await gw.stop();
    await sim.stop();
  }
});
