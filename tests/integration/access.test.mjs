// access: allow and deny lists of client addresses, and X-Forwarded-For from trusted proxies.
// Clients are told apart by the loopback address they connect from (the whole of 127.0.0.0/8
// is local on Linux): 127.0.0.1 is allowed, 127.0.0.2 denied, 127.0.0.4 in no list, and
// 127.0.0.3 a trusted proxy whose X-Forwarded-For names the client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels } from './lib/harness.mjs';

let sim, gw;

before(async () => {
  sim = await startSim();
  gw = await startGateway(await gatewayConfig({
    channels: simChannel(sim),
    models: `${standardModels}
  - { name: internal, channel: sim, upstream_model: sim-model, access: { allow: [127.0.0.1/32] } }`,
    extra: `access:
  allow: [127.0.0.1/32, 127.0.0.3, 10.0.0.0/8]
  deny: [127.0.0.2/32, 10.6.6.0/24]
  trusted_proxies: [127.0.0.3/32]`,
  }));
});

after(async () => {
  await gw?.stop();
  await sim?.stop();
});

// One request from a chosen local address; resolves with status, headers and the parsed body.
function post(path, body, { from, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, gw.url);
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress: from,
      headers: { 'content-type': 'application/json', ...headers },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const chat = { model: 'chat', messages: [{ role: 'user', content: 'hello' }], max_tokens: 2 };

test('an allowed client is served', async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const res = await client.chat.completions.create(chat);
  assert.equal(res.model, 'chat');
  assert.equal((await post('/v1/chat/completions', chat, { from: '127.0.0.1' })).status, 200);
});

test('a denied address, and one no allow entry covers, get 403 before their request is read', async () => {
  for (const from of ['127.0.0.2', '127.0.0.4']) {
    const res = await post('/v1/chat/completions', chat, { from });
    assert.equal(res.status, 403, from);
    assert.equal(res.body.error.code, 'address_denied');
    assert.doesNotMatch(JSON.stringify(res.body), /127\.0\.0/, 'the answer names no address');
  }
  const before = (await sim.stats()).requests;
  await post('/v1/chat/completions', chat, { from: '127.0.0.2' });
  assert.equal((await sim.stats()).requests, before, 'no engine was asked');
});

test('behind a trusted proxy, X-Forwarded-For names the client; what the client forged is ignored', async () => {
  const via = (xff, path = '/v1/chat/completions', body = chat) =>
    post(path, body, { from: '127.0.0.3', headers: xff === null ? {} : { 'x-forwarded-for': xff } });
  assert.equal((await via('10.1.2.3')).status, 200);
  assert.equal((await via('10.6.6.9')).status, 403);
  // the proxy appends the address it saw: the rightmost untrusted entry is the client
  assert.equal((await via('10.6.6.9, 10.1.2.3')).status, 200, 'a forged deny entry on the left is ignored');
  assert.equal((await via('10.1.2.3, 10.6.6.9')).status, 403, 'a forged allowed entry on the left does not help');
  assert.equal((await via('192.168.1.1')).status, 403, 'in no allow entry');
  assert.equal((await via(null)).status, 200, 'the proxy itself, with no header, is its own client');
  // in the caller's protocol: Anthropic's error on /v1/messages
  const messages = await via('10.6.6.9', '/v1/messages', { model: 'chat', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(messages.status, 403);
  assert.equal(messages.body.type, 'error');
  assert.equal(messages.body.error.type, 'permission_error');
});

test('two X-Forwarded-For lines are read as one list: the proxy\'s own line decides', async () => {
  const res = await new Promise((resolve, reject) => {
    const url = new URL('/v1/chat/completions', gw.url);
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress: '127.0.0.3',
      headers: [['content-type', 'application/json'], ['x-forwarded-for', '10.1.2.3'], ['x-forwarded-for', '10.6.6.9']],
    }, (r) => { r.resume(); r.on('end', () => resolve(r.statusCode)); });
    req.on('error', reject);
    req.end(JSON.stringify(chat));
  });
  assert.equal(res, 403);
  // however long the client's own line, the proxy's appended one still decides
  const forged = Array.from({ length: 600 }, (_, i) => `10.1.${i % 250}.${i % 200}`).join(', ');
  const long = await new Promise((resolve, reject) => {
    const url = new URL('/v1/chat/completions', gw.url);
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress: '127.0.0.3',
      headers: [['content-type', 'application/json'], ['x-forwarded-for', forged], ['x-forwarded-for', '10.6.6.9']],
    }, (r) => { r.resume(); r.on('end', () => resolve(r.statusCode)); });
    req.on('error', reject);
    req.end(JSON.stringify(chat));
  });
  assert.equal(long, 403);
});

test('a model\'s own lists: only the addresses it allows reach it, behind the proxy too', async () => {
  const internal = { ...chat, model: 'internal' };
  assert.equal((await post('/v1/chat/completions', internal, { from: '127.0.0.1' })).status, 200);
  const via = await post('/v1/chat/completions', internal, { from: '127.0.0.3', headers: { 'x-forwarded-for': '10.1.2.3' } });
  assert.equal(via.status, 403);
  assert.equal(via.body.error.code, 'address_denied');
  assert.match(via.body.error.message, /model `internal`/);
  // the other models still serve that client
  assert.equal((await post('/v1/chat/completions', chat, { from: '127.0.0.3', headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 200);
});
