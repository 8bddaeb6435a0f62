// Every failure reaches the caller in OpenAI's error shape with the right status, so the
// official SDK raises the right error class with a message that says what to fix.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, closedPort, rawExchange } from './lib/harness.mjs';

let sim, gw, client;

before(async () => {
  sim = await startSim();
  const deadPort = await closedPort(); // nothing listens there
  const channels = `${simChannel(sim)}
  - name: dead
    base_url: http://127.0.0.1:${deadPort}/v1
  - name: slow
    base_url: ${sim.url}/v1
    forward_headers: ["x-sim-*"]
    timeouts: {first_byte_ms: 300, idle_ms: 300}
  - name: patient
    base_url: ${sim.url}/v1
    forward_headers: ["x-sim-*"]
    timeouts: {first_byte_ms: 1500, idle_ms: 250}
  - name: short
    base_url: ${sim.url}/v1
    forward_headers: ["x-sim-*"]
    timeouts: {total_ms: 400}`;
  const models = `${standardModels}
  - {name: dead-model, channel: dead}
  - {name: slow-model, channel: slow, upstream_model: sim-model}
  - {name: patient-model, channel: patient, upstream_model: sim-model}
  - {name: short-model, channel: short, upstream_model: sim-model}`;
  gw = await startGateway(await gatewayConfig({ channels, models, server: '  max_body_bytes: 65536' }));
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
  await sim?.stop();
});

const messages = [{ role: 'user', content: 'hello' }];

async function post(path, body, headers = {}) {
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body,
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { assert.fail(`not JSON (${res.status}): ${text}`); }
  return { status: res.status, json, headers: res.headers };
}

function assertOpenAIError(json) {
  assert.equal(typeof json.error, 'object');
  assert.equal(typeof json.error.message, 'string');
  assert.equal(typeof json.error.type, 'string');
  assert.ok('param' in json.error && 'code' in json.error);
}

test('malformed JSON: 400 naming the byte position', async () => {
  const { status, json } = await post('/v1/chat/completions', '{"model":"chat","messages":[}');
  assert.equal(status, 400);
  assertOpenAIError(json);
  assert.equal(json.error.code, 'invalid_json');
  assert.match(json.error.message, /at byte 28/); // the '}' where a value should be
});

test('trailing garbage after the JSON value is refused', async () => {
  const { status, json } = await post('/v1/chat/completions', '{"model":"chat","messages":[]} x');
  assert.equal(status, 400);
  assert.match(json.error.message, /at byte 31/);
});

test('missing and wrong-typed fields: 400 naming the field', async () => {
  const cases = [
    [{ messages }, 'model', 'missing_required_parameter'],
    [{ model: 'chat' }, 'messages', 'missing_required_parameter'],
    [{ model: 'chat', messages: 'hi' }, 'messages', 'invalid_type'],
    [{ model: 'chat', messages: [{ content: 'x' }] }, 'messages[0].role', 'missing_required_parameter'],
    [{ model: 'chat', messages, stream: 'yes' }, 'stream', 'invalid_type'],
    [{ model: 'chat', messages, max_tokens: 1.5 }, 'max_tokens', 'invalid_type'],
    [{ model: 'chat', messages, temperature: 'hot' }, 'temperature', 'invalid_type'],
    [{ model: 'chat', messages, stream: true, stream_options: { include_usage: 1 } }, 'stream_options.include_usage', 'invalid_type'],
    [{ model: 7, messages }, 'model', 'invalid_type'],
  ];
  for (const [body, param, code] of cases) {
    const { status, json } = await post('/v1/chat/completions', JSON.stringify(body));
    assert.equal(status, 400, JSON.stringify(body));
    assertOpenAIError(json);
    assert.equal(json.error.param, param, JSON.stringify(body));
    assert.equal(json.error.code, code, JSON.stringify(body));
  }
  const noPrompt = await post('/v1/completions', JSON.stringify({ model: 'chat' }));
  assert.equal(noPrompt.json.error.param, 'prompt');
  const noInput = await post('/v1/embeddings', JSON.stringify({ model: 'chat', input: [] }));
  assert.equal(noInput.json.error.param, 'input');
});

test('a body naming model twice is refused, even through an escaped key', async () => {
  for (const body of ['{"model":"chat","messages":[],"model":"x"}', '{"model":"chat","mod\\u0065l":"x","messages":[]}']) {
    const { status, json } = await post('/v1/chat/completions', body);
    assert.equal(status, 400);
    assert.match(json.error.message, /more than once/);
  }
});

test('unknown model: 404 model_not_found through the SDK', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'gpt-nope', messages }), (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'model_not_found');
    assert.match(err.message, /gpt-nope/);
    return true;
  });
});

test('body over the limit: 413 in OpenAI shape', async () => {
  const big = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x'.repeat(70000) }] });
  const { status, json } = await post('/v1/chat/completions', big);
  assert.equal(status, 413);
  assertOpenAIError(json);
  assert.equal(json.error.code, 'request_too_large');
});

test('wrong method: 405 with Allow; unknown path: 404; both OpenAI-shaped', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions`);
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'POST');
  assertOpenAIError(await res.json());
  for (const method of ['PATCH', 'OPTIONS', 'DELETE']) {
    const r = await fetch(`${gw.url}/v1/embeddings`, { method });
    assert.equal(r.status, 405, method);
    assertOpenAIError(await r.json());
  }
  const missing = await fetch(`${gw.url}/v1/nothing-here`, { method: 'POST', body: '{}' });
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, 'unknown_url');
});

test('a malformed HTTP request gets a 400 JSON answer and the connection closes', async () => {
  const reply = await rawExchange(gw.config.ports.http, 'GARBAGE / NOT-HTTP\r\n\r\n');
  assert.match(reply, /^HTTP\/1\.1 400 /);
  assert.match(reply, /"type":"invalid_request_error"/);
});

test('a chunked body with large trailers is served; the trailers are ignored', async () => {
  const body = JSON.stringify({ model: 'chat', messages, max_tokens: 2 });
  const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\nX-Trailer: ${'t'.repeat(6000)}\r\n\r\n`;
  const reply = await rawExchange(gw.config.ports.http,
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Sim-Output-Tokens: 2\r\nConnection: close\r\n` +
    `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`);
  assert.match(reply, /^HTTP\/1\.1 200 /);
  assert.match(reply, /"model":"chat"/);
});

test('upstream unreachable: 502', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'dead-model', messages }), (err) => {
    assert.equal(err.status, 502);
    assert.equal(err.code, 'upstream_unreachable');
    return true;
  });
});

test('upstream silent past first_byte_ms: 504; the hung transfer is cancelled', async () => {
  const before = await sim.stats();
  await assert.rejects(
    client.chat.completions.create({ model: 'slow-model', messages }, { headers: { 'x-sim-fault': 'hang' } }),
    (err) => {
      assert.equal(err.status, 504);
      assert.equal(err.code, 'upstream_timeout');
      assert.match(err.message, /first_byte_ms/);
      return true;
    });
  const { waitFor } = await import('./lib/harness.mjs');
  await waitFor('the simulator to see the cancel', async () => (await sim.stats()).streams_cancelled > before.streams_cancelled);
});

test('upstream stalls between chunks past idle_ms: the stream ends with an error event', async () => {
  const stream = await client.chat.completions.create(
    { model: 'slow-model', messages, stream: true, max_tokens: 3 },
    { headers: { 'x-sim-inter-token-ms': '2000' } });
  await assert.rejects(async () => { for await (const _ of stream) { /* drain */ } }, (err) => {
    assert.match(err.message, /idle_ms/);
    return true;
  });
});

test('idle_ms shorter than first_byte_ms: a late first token is waited for, silence is first_byte_ms', async () => {
  const stream = await client.chat.completions.create(
    { model: 'patient-model', messages, stream: true, max_tokens: 3 },
    { headers: { 'x-sim-first-token-ms': '700' } });
  let tokens = 0;
  for await (const c of stream) tokens += c.choices[0]?.delta?.content ? 1 : 0;
  assert.equal(tokens, 3);
  await assert.rejects(
    client.chat.completions.create({ model: 'patient-model', messages }, { headers: { 'x-sim-fault': 'hang' } }),
    (err) => {
      assert.equal(err.status, 504);
      assert.match(err.message, /first_byte_ms \(1500 ms\)/);
      return true;
    });
  const stalled = await client.chat.completions.create(
    { model: 'patient-model', messages, stream: true, max_tokens: 3 },
    { headers: { 'x-sim-inter-token-ms': '1000' } });
  await assert.rejects(async () => { for await (const _ of stalled) { /* drain */ } }, (err) => {
    assert.match(err.message, /idle_ms \(250 ms\)/);
    return true;
  });
});

test('a stream longer than total_ms ends with an error event naming the limit', async () => {
  const stream = await client.chat.completions.create(
    { model: 'short-model', messages, stream: true, max_tokens: 50 },
    { headers: { 'x-sim-inter-token-ms': '50' } });
  let tokens = 0;
  await assert.rejects(async () => {
    for await (const c of stream) tokens += c.choices[0]?.delta?.content ? 1 : 0;
  }, /timeouts\.total_ms \(400 ms\)/);
  assert.ok(tokens > 0 && tokens < 50, `${tokens} tokens before the limit`);
});

test('upstream errors of every shape come back normalized with the status kept', async () => {
  const shapes = { openai: 'simulated', flat: 'simulated', tgi: 'simulated', empty: 'HTTP 503' };
  for (const [shape, text] of Object.entries(shapes)) {
    const { status, json } = await post('/v1/chat/completions', JSON.stringify({ model: 'chat', messages }),
      { 'x-sim-fault': 'status:503', 'x-sim-error-shape': shape });
    assert.equal(status, 503, shape);
    assertOpenAIError(json);
    assert.match(json.error.message, new RegExp(text, 'i'), `${shape}: ${json.error.message}`);
  }
  const { status } = await post('/v1/chat/completions', JSON.stringify({ model: 'chat', messages }),
    { 'x-sim-fault': 'status:429', 'x-sim-error-shape': 'tgi' });
  assert.equal(status, 429);
});

test('the SDK raises the right class for a normalized upstream error', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'chat', messages }, { headers: { 'x-sim-fault': 'status:500', 'x-sim-error-shape': 'flat' } }),
    (err) => err instanceof OpenAI.InternalServerError && err.status === 500);
});

test('upstream resets the connection: 502', async () => {
  const { status, json } = await post('/v1/chat/completions', JSON.stringify({ model: 'chat', messages }), { 'x-sim-fault': 'reset' });
  assert.equal(status, 502);
  assertOpenAIError(json);
});

test('upstream returns malformed JSON: 502 rather than a broken body', async () => {
  const { status, json } = await post('/v1/chat/completions', JSON.stringify({ model: 'chat', messages }), { 'x-sim-fault': 'malformed' });
  assert.equal(status, 502);
  assert.equal(json.error.code, 'upstream_malformed_response');
});

async function streamError(headers) {
  const stream = await client.chat.completions.create({ model: 'chat', messages, stream: true, max_tokens: 6 }, { headers });
  let text = '';
  try {
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  } catch (err) {
    return { err, text };
  }
  return { err: null, text };
}

test('a stream cut after its first byte ends with an explicit error event, never silently', async () => {
  const { err, text } = await streamError({ 'x-sim-fault': 'cut:2' });
  assert.ok(err, 'the SDK must raise');
  assert.match(err.message, /before (it|the stream) was complete/);
  assert.ok(text.length > 0, 'the tokens before the cut were delivered');
  const raw = await (await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-fault': 'cut:2' },
    body: JSON.stringify({ model: 'chat', messages, stream: true, max_tokens: 6 }),
  })).text();
  assert.match(raw, /data: \{"error":\{"message":"[^"]+","type":"server_error","param":null,"code":"upstream_(stream_cut|unreachable)"\}\}\n\ndata: \[DONE\]\n\n$/);
});

test('a malformed stream event becomes an error event', async () => {
  const { err } = await streamError({ 'x-sim-fault': 'malformed' });
  assert.ok(err);
  assert.match(err.message, /malformed stream event/);
});

test('an engine error mid-stream reaches the SDK as an error', async () => {
  const { err } = await streamError({ 'x-sim-fault': 'mid-error' });
  assert.ok(err);
  assert.match(err.message, /simulated engine failure/);
});
