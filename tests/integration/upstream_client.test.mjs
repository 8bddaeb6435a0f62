// Which client carries an upstream request: the gateway's own HTTP/1.1 client for plain http to
// a literal address, libcurl for a channel that asks for it (http_client: curl) and for every
// upstream when the environment names a proxy. Both must serve the SDKs the same, streamed and
// whole; and a pooled connection the engine closed as the request arrived costs the caller
// nothing: the request goes again on a new connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, waitFor } from './lib/harness.mjs';

let sim, gw;
const messages = [{ role: 'user', content: 'hello there' }];

function clientFor(gateway) {
  return new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}

// The client each request went out on, from the debug log's upstream_start lines.
function clientsUsed(gateway) {
  const used = {};
  for (const line of gateway.lines()) {
    if (line.event === 'upstream_start') used[line.channel] = line.client;
  }
  return used;
}

before(async () => {
  sim = await startSim();
  const config = await gatewayConfig({
    channels: `  - {name: own, base_url: "${sim.url}/v1"}
  - {name: viacurl, base_url: "${sim.url}/v1", http_client: curl}`,
    models: `  - {name: own-model, channel: own, upstream_model: sim-model}
  - {name: curl-model, channel: viacurl, upstream_model: sim-model}`,
    extra: 'log: {level: debug}',
  });
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
  await sim?.stop();
});

test('a literal plain-http endpoint goes through the own client, http_client: curl through curl; both serve the SDK', async () => {
  const client = clientFor(gw);
  for (const model of ['own-model', 'curl-model']) {
    const whole = await client.chat.completions.create({ model, messages, max_tokens: 5 });
    assert.equal(whole.model, model);
    assert.ok(whole.choices[0].message.content.length > 0);
    assert.equal(whole.usage.completion_tokens, 5);
    const stream = await client.chat.completions.create({ model, messages, max_tokens: 6, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0, `${model} streamed text`);
  }
  await waitFor('both upstream_start lines', () => Object.keys(clientsUsed(gw)).length === 2);
  assert.deepEqual(clientsUsed(gw), { own: 'own', viacurl: 'curl' });
});

test('an unknown http_client is refused with its place in the file', async () => {
  const config = await gatewayConfig({
    channels: `  - {name: odd, base_url: "${sim.url}/v1", http_client: fast}`,
    models: '  - {name: m, channel: odd}',
  });
  const { spawnSync } = await import('node:child_process');
  const { BUILD } = await import('./lib/harness.mjs');
  const out = spawnSync(`${BUILD}/aigw`, ['check', '-c', config.file], { encoding: 'utf8' });
  assert.notEqual(out.status, 0);
  assert.match(out.stdout + out.stderr, /aigw\.yaml:\d+:\d+: .*expected auto or curl for a channel's http_client, found 'fast'/);
});

test('with http_proxy in the environment every upstream goes through curl and the proxy', async () => {
  const seen = [];
  // a forward proxy: curl sends it the absolute URL; it passes the exchange on
  const proxy = http.createServer((req, res) => {
    seen.push(req.url);
    const upstream = http.request(req.url, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(upstream);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const config = await gatewayConfig({
    channels: `  - {name: own, base_url: "${sim.url}/v1"}`,
    models: '  - {name: own-model, channel: own, upstream_model: sim-model}',
    extra: 'log: {level: debug}',
  });
  const proxied = await startGateway(config, {
    env: { http_proxy: `http://127.0.0.1:${proxy.address().port}`, no_proxy: '', NO_PROXY: '' },
  });
  try {
    const answer = await clientFor(proxied).chat.completions.create({ model: 'own-model', messages, max_tokens: 3 });
    assert.equal(answer.usage.completion_tokens, 3);
    assert.deepEqual(seen, [`${sim.url}/v1/chat/completions`]);
    await waitFor('the upstream_start line', () => clientsUsed(proxied).own !== undefined);
    assert.equal(clientsUsed(proxied).own, 'curl');
  } finally {
    await proxied.stop();
    proxy.close();
  }
});

// An engine that keeps connections alive, then drops one as its second request arrives (as an
// engine restarting, or timing out idle connections, does): no answer, no error to the caller.
function startDroppingEngine() {
  const state = { connections: 0, requests: 0 };
  const body = JSON.stringify({
    id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'sim-model',
    choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
  });
  const server = net.createServer((socket) => {
    const id = ++state.connections;
    let served = 0;
    let buffered = '';
    socket.on('data', (data) => {
      buffered += data.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number((buffered.slice(0, end).match(/content-length:\s*(\d+)/i) || [0, 0])[1]);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        state.requests++;
        if (++served === 2 && id === 1) {
          socket.destroy(); // the kept connection dies under the request
          return;
        }
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      }
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, state })));
}

test('a kept connection the engine drops as the request arrives: the request goes again on a new one', async () => {
  const { server, state } = await startDroppingEngine();
  const config = await gatewayConfig({
    channels: `  - {name: flaky, base_url: "http://127.0.0.1:${server.address().port}/v1", health: {failures: 1000}}`,
    models: '  - {name: flaky-model, channel: flaky, upstream_model: sim-model}',
  });
  // one worker, so every request meets the same pool
  (await import('node:fs')).writeFileSync(config.file, config.yaml.replace('workers: 2', 'workers: 1'));
  const single = await startGateway(config);
  try {
    const client = clientFor(single);
    for (let i = 0; i < 3; i++) {
      const answer = await client.chat.completions.create({ model: 'flaky-model', messages });
      assert.equal(answer.choices[0].message.content, 'hi');
    }
    // the second request met the dropped connection and went again on a second one; the third
    // reused that one
    assert.equal(state.requests, 4);
    assert.equal(state.connections, 2);
  } finally {
    await single.stop();
    server.close();
  }
});
