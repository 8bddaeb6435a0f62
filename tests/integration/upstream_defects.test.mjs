// What crosses the gateway to an engine and back: which headers are forwarded, how long names
// survive, what a caller may learn of a failure (nothing internal), and the bounds on what the
// gateway holds of an answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import net from 'node:net';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, freePort, closedPort, waitFor, rawExchange } from './lib/harness.mjs';

let sim, anySim, picky, fake, gw, client;
const longName = `m-${'x'.repeat(1500)}-"quoted"-\u00e9`;
const messages = [{ role: 'user', content: 'hello' }];

// A minimal engine of our own for answers aigw-sim does not give: a numeric error code, a huge
// stream event. It speaks HTTP on loopback like any engine.
function startFakeEngine() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const mode = req.headers['x-fake'];
      if (mode === 'numeric-code') {
        res.writeHead(429, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"slow down","type":"rate_limit","param":null,"code":42}}');
      } else if (mode === 'big-event' || mode === 'big-first-event') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const content = 'y'.repeat(4000);
        if (mode === 'big-event') res.write('data: {"id":"1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n');
        res.write(`data: {"id":"1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"${content}"}}]}\n\n`);
        res.end('data: [DONE]\n\n');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'x', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'z'.repeat(5000) }, finish_reason: 'stop' }] }));
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// A port that accepts no connection and refuses none: a listener whose process never accepts,
// its backlog filled, so further SYNs are dropped and a connect waits until its timeout.
async function startBlackhole() {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', `
    const net = require('node:net');
    net.createServer().listen({ port: ${port}, host: '127.0.0.1', backlog: 1 }, () => {
      console.log('ready');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const fillers = [];
  // fill the accept queue; once connects stop completing, the hole is ready
  for (let i = 0; i < 8; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      fillers.push(s);
      const timer = setTimeout(() => resolve(false), 300);
      s.on('connect', () => { clearTimeout(timer); resolve(true); });
      s.on('error', () => { clearTimeout(timer); resolve(false); });
    });
    if (!ok) break;
  }
  return { port, close: () => { fillers.forEach((s) => s.destroy()); child.kill('SIGKILL'); } };
}

let hole, deadPort;
before(async () => {
  deadPort = await closedPort(); // nothing listens there
  sim = await startSim();
  picky = await startSim(['--models', 'served-a']);
  anySim = await startSim(['--models', '*']);
  fake = await startFakeEngine();
  hole = await startBlackhole();
  const channels = `${simChannel(sim)}
  - name: every-header
    base_url: ${sim.url}/v1
    forward_headers: ["*"]
  - name: every-header-curl
    base_url: ${sim.url}/v1
    forward_headers: ["*"]
    http_client: curl
  - name: picky
    base_url: ${picky.url}/v1
  - name: any
    base_url: ${anySim.url}/v1
  - name: fake
    base_url: http://127.0.0.1:${fake.address().port}/v1
    forward_headers: ["x-fake"]
  - name: hole
    base_url: http://127.0.0.1:${hole.port}/v1
    timeouts: {connect_ms: 300}
  - name: dead
    base_url: http://127.0.0.1:${deadPort}/v1
  - name: slow
    base_url: ${sim.url}/v1
    forward_headers: ["x-sim-*"]
    timeouts: {first_byte_ms: 300, idle_ms: 300}`;
  const models = `${standardModels}
  - {name: star, channel: every-header, upstream_model: sim-model}
  - {name: star-curl, channel: every-header-curl, upstream_model: sim-model}
  - {name: long, channel: any, upstream_model: ${JSON.stringify(longName)}}
  - {name: missing, channel: picky, upstream_model: not-served-here}
  - {name: fake, channel: fake}
  - {name: hole, channel: hole}
  - {name: dead, channel: dead}
  - {name: slow, channel: slow, upstream_model: sim-model}`;
  gw = await startGateway(await gatewayConfig({
    channels, models,
    server: '  max_response_bytes: 4096\n  max_event_bytes: 2048',
  }));
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'caller-secret', maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
  await sim?.stop();
  await picky?.stop();
  await anySim?.stop();
  fake?.close();
  hole?.close();
});

test('forward_headers ["*"] never forwards framing, hop-by-hop or credential headers', async () => {
  // a rewritten body is shorter than the caller's: a forwarded Content-Length would cut it
  for (let i = 0; i < 3; i++) {
    const res = await client.chat.completions.create({ model: 'star', messages, max_tokens: 2 },
      { headers: { 'x-custom': 'kept', 'accept-encoding': 'gzip', te: 'trailers' } });
    assert.equal(res.model, 'star');
  }
  const seen = await sim.lastRequest();
  assert.equal(seen.headers['x-custom'], 'kept');
  assert.notEqual(seen.headers.authorization, 'Bearer caller-secret', 'the caller\'s key stays at the gateway');
  assert.equal(seen.headers['accept-encoding'], undefined);
  assert.equal(seen.headers.te, undefined);
  assert.equal(Number(seen.headers['content-length']), Buffer.byteLength(JSON.stringify(seen.body)));
  assert.equal(seen.body.model, 'sim-model');
});

test('forwarded headers reach the engine the same through the own client and through curl', async () => {
  const caller = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
  const sent = {};
  for (const model of ['star', 'star-curl']) {
    await client.chat.completions.create({ model, messages, max_tokens: 1 }, {
      headers: { 'x-one': 'first', 'x-two': 'second', traceparent: caller,
        'proxy-authorization': 'Basic c2VjcmV0' },
    });
    const seen = await sim.lastRequest();
    sent[model] = seen.headers;
    assert.equal(seen.headers['x-one'], 'first', model);
    assert.equal(seen.headers['x-two'], 'second', model);
    assert.equal(seen.headers['content-type'], 'application/json', model);
    assert.equal(seen.headers['proxy-authorization'], undefined, model);
    // the engine's parent is the gateway's span, in the caller's trace
    assert.match(seen.headers.traceparent, /^00-0123456789abcdef0123456789abcdef-[0-9a-f]{16}-01$/, model);
    assert.notEqual(seen.headers.traceparent, caller, model);
  }
  const names = (h) => Object.keys(h).filter((n) => n.startsWith('x-')).sort();
  assert.deepEqual(names(sent.star), names(sent['star-curl']));
});

test('a forwarded header over 1 KiB arrives whole', async () => {
  const value = 'v'.repeat(3000);
  await client.chat.completions.create({ model: 'star', messages, max_tokens: 1 }, { headers: { 'x-long': value } });
  assert.equal((await sim.lastRequest()).headers['x-long'], value);
});

test('a model name of 1.5 KiB with quotes is sent whole and every access line parses', async () => {
  const res = await client.chat.completions.create({ model: 'long', messages, max_tokens: 1 });
  assert.equal(res.model, 'long');
  assert.equal((await anySim.lastRequest()).body.model, longName);
  const weird = `"}{\\${'q'.repeat(3000)}`;
  await assert.rejects(client.chat.completions.create({ model: weird, messages }), (e) => e.status === 404);
  await waitFor('the access lines', () => gw.stdout.includes('"status":404'));
  for (const line of gw.stdout.split('\n').filter(Boolean)) JSON.parse(line); // throws on a cut line
});

test('an engine\'s 404 for the model reads as the upstream refusing it, not as an unknown model', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'missing', messages }), (err) => {
    assert.equal(err.status, 502);
    assert.equal(err.code, 'upstream_model_not_found');
    assert.match(err.message, /`missing` is configured/);
    assert.ok(!err.message.includes('not-served-here'), 'the upstream name stays internal');
    return true;
  });
});

test('502 and 504 bodies name no channel and no address; the log has the detail', async () => {
  for (const [model, status, port] of [['dead', 502, deadPort], ['hole', 504, hole.port]]) {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages }),
    });
    const body = await res.text();
    assert.equal(res.status, status);
    assert.ok(!body.includes('127.0.0.1') && !body.includes(String(port)), body);
    assert.ok(!body.includes(`'${model}'`) && !/channel/.test(body), body);
    const id = res.headers.get('x-request-id');
    assert.ok(body.includes(id), 'the caller gets the request id to quote');
    const logged = await waitFor('the upstream_failed line', () =>
      gw.lines().find((l) => l.event === 'upstream_failed' && l.request_id === id));
    assert.equal(logged.channel, model);
    assert.match(logged.url, new RegExp(`127\\.0\\.0\\.1:${port}`));
  }
});

test('a connect that never completes ends at connect_ms with 504 upstream_timeout', async () => {
  const started = Date.now();
  await assert.rejects(client.chat.completions.create({ model: 'hole', messages }), (err) => {
    assert.equal(err.status, 504);
    assert.equal(err.code, 'upstream_timeout');
    assert.equal(err.type, 'timeout_error');
    assert.match(err.message, /connect_ms \(300 ms\)/);
    return true;
  });
  assert.ok(Date.now() - started < 5000);
});

test('upstream_timeout has one type, in a body and in a stream error event', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-fault': 'hang' },
    body: JSON.stringify({ model: 'slow', messages }),
  });
  assert.equal(res.status, 504);
  assert.equal((await res.json()).error.type, 'timeout_error');
  const text = await (await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-inter-token-ms': '3000' },
    body: JSON.stringify({ model: 'slow', messages, stream: true, max_tokens: 3 }),
  })).text();
  const event = text.split('\n\n').map((e) => e.replace(/^data: /, '')).find((e) => e.includes('"error"'));
  assert.ok(event, text);
  const { error } = JSON.parse(event);
  assert.equal(error.code, 'upstream_timeout');
  assert.equal(error.type, 'timeout_error');
});

test('headers then silence: first_byte_ms still runs, and the caller gets a 504, not a 200', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-fault': 'stall' },
    body: JSON.stringify({ model: 'slow', messages, stream: true }),
  });
  assert.equal(res.status, 504);
  assert.match((await res.json()).error.message, /first_byte_ms \(300 ms\)/); // prefill after the head: still the first-byte timeout
});

test('an engine\'s numeric error code stays a number', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-fake': 'numeric-code' },
    body: JSON.stringify({ model: 'fake', messages }),
  });
  assert.equal(res.status, 429);
  const body = await res.json();
  assert.equal(body.error.code, 42);
  assert.equal(body.error.message, 'slow down');
});

test('a buffered answer over max_response_bytes is a clear 502', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'fake', messages }), (err) => {
    assert.equal(err.status, 502);
    assert.equal(err.code, 'upstream_response_too_large');
    return true;
  });
});

test('a stream event over max_event_bytes ends the stream with an error event', async () => {
  const stream = await client.chat.completions.create({ model: 'fake', messages, stream: true },
    { headers: { 'x-fake': 'big-event' } });
  let content = '';
  await assert.rejects(async () => {
    for await (const c of stream) content += c.choices[0]?.delta?.content ?? '';
  }, /stream event larger than the gateway accepts/);
  assert.equal(content, 'a', 'the event before it was delivered');
});

test('a stream that fails before its first event is answered whole: a 502, not a 200', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'fake', messages, stream: true },
    { headers: { 'x-fake': 'big-first-event' } }), (err) => {
    assert.equal(err.status, 502);
    assert.equal(err.code, 'upstream_event_too_large');
    return true;
  });
});

test('answers the chain never saw (413, 404, 405) are access-logged once each', async () => {
  await rawExchange(gw.config.ports.http, 'GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await rawExchange(gw.config.ports.http, 'GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await rawExchange(gw.config.ports.http,
    'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nConnection: close\r\n\r\n');
  const access = () => gw.lines().filter((l) => l.event === 'access');
  await waitFor('three access lines', () =>
    access().some((l) => l.path === '/nowhere' && l.status === 404) &&
    access().some((l) => l.path === '/v1/chat/completions' && l.status === 405) &&
    access().some((l) => l.status === 413));
  assert.equal(access().filter((l) => l.path === '/nowhere').length, 1);
});

test('an engine that resets mid-stream: the stream ends with an error event after the tokens it had', async () => {
  const raw = await (await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-fault': 'reset:2' },
    body: JSON.stringify({ model: 'chat', messages, stream: true, max_tokens: 6 }),
  })).text();
  assert.match(raw, /"content":/, 'the tokens before the reset were delivered');
  assert.match(raw, /data: \{"error":\{"message":"the upstream connection broke before the stream was complete \(request id [^)]+\)","type":"server_error","param":null,"code":"upstream_stream_cut"\}\}\n\ndata: \[DONE\]\n\n$/);
});
