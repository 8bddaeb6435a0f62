// W3C trace context: the gateway continues a caller's trace (or begins one), names its own span
// as the parent of every upstream attempt, and logs the trace id with the request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, waitFor } from './lib/harness.mjs';

let sim, gw, client;
const messages = [{ role: 'user', content: 'trace me' }];
const lastRequest = async () => (await fetch(`${sim.url}/sim/last-request`)).json();
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

before(async () => {
  sim = await startSim();
  gw = await startGateway(await gatewayConfig({ channels: simChannel(sim), models: standardModels }));
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await gw?.stop();
  await sim?.stop();
});

test("a caller's traceparent is continued: same trace, the gateway's span as the parent", async () => {
  const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const callerSpan = '00f067aa0ba902b7';
  await client.chat.completions.create({ model: 'chat', messages, max_tokens: 1 },
    { headers: { traceparent: `00-${callerTrace}-${callerSpan}-01` } });
  const sent = (await lastRequest()).headers.traceparent;
  const m = TRACEPARENT.exec(sent);
  assert.ok(m, `traceparent sent upstream: ${sent}`);
  assert.equal(m[1], callerTrace);
  assert.notEqual(m[2], callerSpan, "the engine's parent is the gateway's span, not the caller's");
  assert.equal(m[3], '01');
});

test('without a traceparent, or with a malformed one, a new trace begins per request', async () => {
  const ids = new Set();
  for (const header of [undefined, 'garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`]) {
    await client.chat.completions.create({ model: 'chat', messages, max_tokens: 1 },
      header ? { headers: { traceparent: header } } : {});
    const m = TRACEPARENT.exec((await lastRequest()).headers.traceparent);
    assert.ok(m);
    assert.notEqual(m[1], '0'.repeat(32));
    ids.add(m[1]);
  }
  assert.equal(ids.size, 3, 'each request its own trace');
});

test('the access log names the trace id of each request', async () => {
  const callerTrace = 'aaaabbbbccccddddeeeeffff00001111';
  const res = await client.chat.completions.create({ model: 'chat', messages, max_tokens: 1 },
    { headers: { traceparent: `00-${callerTrace}-1111222233334444-00` } }).withResponse();
  const id = res.response.headers.get('x-request-id');
  const line = await waitFor('the access line', () =>
    gw.lines().find((l) => l.event === 'access' && l.request_id === id));
  assert.equal(line.trace_id, callerTrace);
});
