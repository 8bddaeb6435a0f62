// Streams under stress: a client that stops reading must pause the upstream (memory stays
// bounded, nothing is lost), and a client that leaves must cancel the upstream at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, waitFor, rawExchange } from './lib/harness.mjs';

let sim, gw, client;

before(async () => {
  sim = await startSim();
  gw = await startGateway(await gatewayConfig({ channels: simChannel(sim), models: standardModels }));
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
  await sim?.stop();
});

function rssBytes(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]) * 1024;
}

test('a slow client pauses the upstream: memory stays bounded and every byte arrives', async () => {
  const tokens = 100000; // ~15 MB of SSE, far more than socket buffers hold
  const body = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'go' }], max_tokens: tokens, stream: true });
  const sock = net.connect(gw.config.ports.http, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const chunks = [];
  let received = 0;
  sock.on('data', (d) => { chunks.push(d); received += d.length; });
  sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  await waitFor('the first bytes', () => received > 0);
  sock.pause();
  const statsBefore = await sim.stats();
  const rssStart = rssBytes(gw.pid);
  // Observe for a while with the client reading nothing. Without backpressure the gateway
  // would take the whole stream from the engine at once (it is produced in well under this
  // window), so the engine would finish and the gateway's memory would grow by ~15 MB.
  let rssMax = rssStart;
  for (let i = 0; i < 25; i++) {
    await new Promise((r) => setTimeout(r, 40));
    rssMax = Math.max(rssMax, rssBytes(gw.pid));
  }
  const statsPaused = await sim.stats();
  assert.equal(statsPaused.streams_completed, statsBefore.streams_completed, 'the engine must be held back');
  // ASan keeps freed memory in quarantine (and maps shadow memory), and valgrind's RSS holds
  // the code it translates as new paths run (the pause, the held output): their RSS says less
  // about us. The engine held back (above) is the check that holds everywhere.
  const instrumented = process.env.AIGW_SANITIZED === '1' || process.env.AIGW_VALGRIND === '1';
  const bound = (instrumented ? 32 : 8) * 1024 * 1024;
  assert.ok(rssMax - rssStart < bound, `gateway memory grew by ${rssMax - rssStart} bytes`);
  sock.resume();
  await waitFor('the whole stream', () => Buffer.concat(chunks).includes('data: [DONE]\n\n'), { timeoutMs: 60000 });
  sock.destroy();
  const text = Buffer.concat(chunks).toString();
  const contentEvents = text.match(/"delta":\{"content":"[^"]+"\}/g) ?? [];
  assert.equal(contentEvents.length, tokens, 'no token lost');
  assert.ok(!text.includes('"error"'));
});

test('a client that aborts mid-stream cancels the upstream transfer at once', async () => {
  const before = await sim.stats();
  const controller = new AbortController();
  const stream = await client.chat.completions.create(
    { model: 'chat', messages: [{ role: 'user', content: 'go' }], max_tokens: 1000, stream: true },
    { headers: { 'x-sim-inter-token-ms': '20' }, signal: controller.signal });
  let seen = 0;
  try {
    for await (const _ of stream) {
      if (++seen === 3) controller.abort();
    }
  } catch (err) {
    assert.equal(err.name, 'APIUserAbortError'); // the SDK may also just end the iteration
  }
  assert.equal(seen, 3, 'nothing arrives after the abort');
  await waitFor('the simulator to see the cancel', async () => (await sim.stats()).streams_cancelled > before.streams_cancelled);
  const line = await waitFor('the access line', () => gw.lines().find((l) => l.event === 'access' && l.status === 499));
  assert.equal(line.error, 'client_closed');
});

test('a client that leaves while the engine is still thinking cancels it too', async () => {
  const before = await sim.stats();
  const controller = new AbortController();
  const pending = client.chat.completions.create(
    { model: 'chat', messages: [{ role: 'user', content: 'go' }] },
    { headers: { 'x-sim-fault': 'hang' }, signal: controller.signal });
  await waitFor('the request to reach the engine', async () => (await sim.stats()).active > before.active);
  controller.abort();
  await assert.rejects(pending);
  await waitFor('the simulator to see the cancel', async () => (await sim.stats()).streams_cancelled > before.streams_cancelled);
});

test('pipelined requests on one connection are answered in order', async () => {
  const req = (n, last) => {
    const body = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'w '.repeat(n).trim() }], max_tokens: 1, stream: n === 2 });
    return `POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n` +
      `X-Request-Id: pipe-${n}\r\n${last ? 'Connection: close\r\n' : ''}Content-Length: ${body.length}\r\n\r\n${body}`;
  };
  const reply = await rawExchange(gw.config.ports.http, req(1) + req(2) + req(3, true));
  const ids = [...reply.matchAll(/x-request-id: (pipe-\d)/gi)].map((m) => m[1]);
  assert.deepEqual(ids, ['pipe-1', 'pipe-2', 'pipe-3']);
  assert.match(reply, /"prompt_tokens":1,/);
  assert.match(reply, /data: \[DONE\]/);
  assert.match(reply, /"prompt_tokens":3,/);
});

// A whole plain request is read at once (core/h1_request_head.h); anything else by http-parser,
// which also reads the rest of a request it began. Both on one connection, in every order.
test('one connection: a request split across reads, a whole one, a chunked one, two pipelined', async () => {
  const sock = net.connect(gw.config.ports.http, '127.0.0.1');
  let got = '';
  sock.on('data', (d) => { got += d; });
  const closed = new Promise((resolve) => sock.on('close', resolve));
  const body = (n) => JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'w '.repeat(n).trim() }], max_tokens: 1 });
  const head = (id, extra) => `POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nX-Request-Id: ${id}\r\n${extra}`;
  const answers = () => (got.match(/HTTP\/1\.1 200 OK\r\n/g) ?? []).length;
  try {
    // split: the head, then (once the gateway has read it and said 100 Continue) the body
    sock.write(head('split', `Expect: 100-continue\r\nContent-Length: ${body(1).length}\r\n\r\n`));
    await waitFor('100 Continue', () => got.includes('HTTP/1.1 100 Continue\r\n'));
    sock.write(body(1));
    await waitFor('the split request\'s answer', () => answers() === 1);
    sock.write(head('whole', `Content-Length: ${body(2).length}\r\n\r\n`) + body(2));
    await waitFor('the whole request\'s answer', () => answers() === 2);
    const b3 = body(3);
    sock.write(head('chunked', 'Transfer-Encoding: chunked\r\n\r\n') +
      `${(10).toString(16)}\r\n${b3.slice(0, 10)}\r\n${(b3.length - 10).toString(16)}\r\n${b3.slice(10)}\r\n0\r\n\r\n`);
    await waitFor('the chunked request\'s answer', () => answers() === 3);
    sock.write(head('pipe-a', `Content-Length: ${body(4).length}\r\n\r\n`) + body(4) +
      head('pipe-b', `Connection: close\r\nContent-Length: ${body(5).length}\r\n\r\n`) + body(5));
    await closed;
  } finally {
    sock.destroy();
  }
  const ids = [...got.matchAll(/x-request-id: ([a-z-]+)/gi)].map((m) => m[1]);
  assert.deepEqual(ids, ['split', 'whole', 'chunked', 'pipe-a', 'pipe-b']);
  const prompts = [...got.matchAll(/"prompt_tokens":(\d+),/g)].map((m) => Number(m[1]));
  assert.deepEqual(prompts, [1, 2, 3, 4, 5], 'each body reached the engine whole');
});

test('HTTP/1.0 clients get a close-delimited stream', async () => {
  const body = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'go' }], max_tokens: 3, stream: true });
  const reply = await rawExchange(gw.config.ports.http,
    `POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  assert.match(reply, /^HTTP\/1\.1 200 /);
  assert.ok(!/transfer-encoding: chunked/i.test(reply));
  assert.ok(reply.endsWith('data: [DONE]\n\n'));
});
