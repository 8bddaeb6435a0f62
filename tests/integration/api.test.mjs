// The OpenAI API through the real gateway, driven by the official openai SDK: what the caller
// gets must equal what the engine produced, except the model name, which is the caller's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, waitFor } from './lib/harness.mjs';

let sim, gw, client, direct;

before(async () => {
  sim = await startSim();
  gw = await startGateway(await gatewayConfig({ channels: simChannel(sim), models: standardModels }));
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  direct = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
  await sim?.stop();
});

// the three counts billing depends on; engines add optional detail fields around them
const counts = (u) => u && { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.total_tokens };

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello to the gateway please' },
];

test('chat: the caller sees its model name, exact usage and the engine its own name', async () => {
  const res = await client.chat.completions.create({ model: 'chat', messages, max_tokens: 7, seed: 12345678901234 });
  assert.equal(res.model, 'chat');
  assert.equal(res.object, 'chat.completion');
  assert.deepEqual(counts(res.usage), { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16 });
  assert.equal(res.choices[0].finish_reason, 'length');
  const seen = await sim.lastRequest();
  assert.equal(seen.body.model, 'sim-model');
  assert.equal(seen.body.seed, 12345678901234, 'numbers pass through exactly');
  assert.deepEqual(seen.body.messages, messages);
  const engine = await direct.chat.completions.create({ model: 'sim-model', messages, max_tokens: 7 });
  assert.equal(res.choices[0].message.content, engine.choices[0].message.content);
});

test('chat: unknown fields reach the engine untouched', async () => {
  await client.chat.completions.create({ model: 'chat', messages, max_tokens: 2, top_k: 5, chat_template_kwargs: { enable_thinking: false } });
  const seen = await sim.lastRequest();
  assert.equal(seen.body.top_k, 5);
  assert.deepEqual(seen.body.chat_template_kwargs, { enable_thinking: false });
});

test('chat stream with include_usage: every chunk carries the caller model; usage exact', async () => {
  const stream = await client.chat.completions.create({
    model: 'chat', messages, max_tokens: 12, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.model, 'chat');
    if (chunk.usage) usage = chunk.usage;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.ok(chunks >= 13, `expected a chunk per token, got ${chunks}`);
  assert.deepEqual(counts(usage), { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 });
  const whole = await client.chat.completions.create({ model: 'chat', messages, max_tokens: 12 });
  assert.equal(text, whole.choices[0].message.content);
});

test('stream responses carry the SSE headers and a request id', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'trace-abc-123' },
    body: JSON.stringify({ model: 'chat', messages, max_tokens: 2, stream: true }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  assert.equal(res.headers.get('x-accel-buffering'), 'no');
  assert.equal(res.headers.get('x-request-id'), 'trace-abc-123');
  const body = await res.text();
  assert.ok(body.trimEnd().endsWith('data: [DONE]'));
});

test('completions, streamed and not', async () => {
  const res = await client.completions.create({ model: 'chat', prompt: 'one two three', max_tokens: 4 });
  assert.equal(res.model, 'chat');
  assert.deepEqual(counts(res.usage), { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
  const stream = await client.completions.create({ model: 'chat', prompt: 'one two three', max_tokens: 4, stream: true });
  let text = '';
  for await (const chunk of stream) {
    assert.equal(chunk.model, 'chat');
    text += chunk.choices[0]?.text ?? '';
  }
  assert.equal(text, res.choices[0].text);
});

test('embeddings: the SDK default (base64) and floats pass through identical to the engine', async () => {
  const input = ['alpha beta', 'gamma'];
  const viaGateway = await client.embeddings.create({ model: 'chat', input });
  const fromEngine = await direct.embeddings.create({ model: 'sim-model', input });
  assert.equal(viaGateway.model, 'chat');
  assert.deepEqual(viaGateway.data, fromEngine.data);
  assert.equal(viaGateway.usage.prompt_tokens, 3);
  assert.equal(viaGateway.usage.total_tokens, 3);
  assert.equal((await sim.lastRequest()).body.encoding_format, 'base64');
  const floats = await client.embeddings.create({ model: 'chat', input: 'alpha', encoding_format: 'float', dimensions: 8 });
  assert.equal(floats.data[0].embedding.length, 8);
  assert.equal(typeof floats.data[0].embedding[0], 'number');
});

test('models lists the virtual names', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ['chat', 'sim-model']);
  const one = await client.models.retrieve('chat');
  assert.equal(one.id, 'chat');
  await assert.rejects(client.models.retrieve('nope'), (err) => err.status === 404 && err.code === 'model_not_found');
});

test('the HTTPS port serves the same API with the self-signed certificate', async () => {
  const ca = readFileSync(path.join(gw.config.dir, 'cert.pem'));
  const agent = new https.Agent({ ca });
  const body = JSON.stringify({ model: 'chat', messages, max_tokens: 3 });
  const { status, json } = await new Promise((resolve, reject) => {
    const req = https.request(`${gw.httpsUrl}/v1/chat/completions`, {
      method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(data) }));
    });
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(status, 200);
  assert.equal(json.model, 'chat');
  assert.equal(json.usage.completion_tokens, 3);
  agent.destroy();
});

test('keep-alive: many requests share connections and all succeed', async () => {
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: `n ${i}` }], max_tokens: 1 })));
  for (const r of results) assert.equal(r.usage.prompt_tokens, 2);
});

test('the access log has one JSON line per request with model, channel and timings', async () => {
  await client.chat.completions.create({ model: 'chat', messages, max_tokens: 1 }, { headers: { 'x-request-id': 'log-check-1' } });
  // the line is written as the response leaves; the pipe to this process may lag behind it
  const line = await waitFor('the access line', () => gw.lines().find((l) => l.event === 'access' && l.request_id === 'log-check-1'));
  assert.equal(line.model, 'chat');
  assert.equal(line.served_model, 'sim-model');
  assert.match(line.client, /^127\.0\.0\.1:\d+$/);
  assert.equal(line.scheme, 'http');
  assert.equal(line.channel, 'sim');
  assert.equal(line.status, 200);
  assert.ok(line.total_ms >= line.first_byte_ms && line.first_byte_ms >= 0);
  assert.ok(line.bytes_out > 0 && line.bytes_in > 0);
  assert.ok(line.time && line.level === 'info');
});
