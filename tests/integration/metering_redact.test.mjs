// Captures are masked before they are stored (metering.capture.redact_pii, on by default). With
// guards.pii restoring phones and emails, the caller gets its own values back in the answer, and
// that answer is what a capture keeps: the store writer masks it. Through the official openai
// and Anthropic packages: a whole answer and streams with the restored values, a stream whose
// model-written phone number comes 2 bytes an event (masked across events), and a request with
// an address the guard lets through. Neither the request log (GET /admin/requests/{id}), nor its
// replay (as SSE and merged), nor the database file holds an original value; with
// redact_pii: false the same traffic leaves them there, which shows the switch does the work.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, waitFor } from './lib/harness.mjs';

const PHONE = '13812345678';
const EMAIL = 'alice.liddell@example.com';
const MODEL_PHONE = '13700001111'; // written by the model itself, never seen by a guard
const ADDRESS = '10.20.30.40'; // guards.pii does not look for addresses here: it goes upstream
const ORIGINALS = [PHONE, EMAIL, MODEL_PHONE, ADDRESS];

let sim;
before(async () => { sim = await startSim(); });
after(async () => { await sim?.stop(); });

async function gatewayWith(capture) {
  const config = await gatewayConfig({
    channels: simChannel(sim), models: standardModels, extra: `guards:
  pii: { phone: restore, email: restore }
metering:
  store: var/aigw.db
  capture: ${capture}`,
  });
  return startGateway(config);
}

const ask = (content, extra = {}) => ({ model: 'chat', messages: [{ role: 'user', content }], ...extra });

// Drives the same traffic through gw; returns what the callers read.
async function traffic(gw) {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const prompt = `call ${PHONE} or mail ${EMAIL}, my host is ${ADDRESS}`;
  await client.chat.completions.create(ask(prompt, { max_tokens: 1 }));
  // the placeholders the model saw, answered back: the caller reads its values
  const sent = (await sim.lastRequest()).body.messages[0].content;
  const placeholders = sent.match(/\[\[PII_[A-Z]+_\d+\]\]/g);
  assert.equal(placeholders.length, 2, sent);
  assert.ok(sent.includes(ADDRESS), 'the address went upstream as it was');
  const answer = `Noted ${placeholders[0]} and ${placeholders[1]}.`;
  const seen = [];
  const whole = await client.chat.completions.create(ask(prompt, { max_tokens: 60 }), { headers: { 'x-sim-text': answer } });
  seen.push(whole.choices[0].message.content);
  let text = '';
  for await (const chunk of await client.chat.completions.create(ask(prompt, { max_tokens: 60, stream: true }),
    { headers: { 'x-sim-text': answer, 'x-sim-chunk-bytes': '3' } })) text += chunk.choices[0]?.delta?.content ?? '';
  seen.push(text);
  // the model's own number, two bytes an event
  text = '';
  for await (const chunk of await client.chat.completions.create(ask('hello', { max_tokens: 60, stream: true }),
    { headers: { 'x-sim-text': `my number is ${MODEL_PHONE} ok`, 'x-sim-chunk-bytes': '2' } })) text += chunk.choices[0]?.delta?.content ?? '';
  seen.push(text);
  const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0 });
  const msg = await anthropic.messages.stream({ model: 'chat', max_tokens: 60, messages: [{ role: 'user', content: prompt }] },
    { headers: { 'x-sim-text': answer, 'x-sim-chunk-bytes': '4' } }).finalMessage();
  seen.push(msg.content[0].text);
  // the callers got their values: this is what the captures start from
  assert.equal(seen[0], `Noted ${PHONE} and ${EMAIL}.`);
  assert.equal(seen[1], seen[0]);
  assert.equal(seen[2], `my number is ${MODEL_PHONE} ok`);
  assert.equal(seen[3], seen[0]);
  return 5;
}

const admin = (gw, p) => fetch(`${gw.adminUrl}${p}`, { headers: { authorization: 'Bearer test-admin-token' } });
const adminJson = async (gw, p) => {
  const res = await admin(gw, p);
  const text = await res.text();
  assert.equal(res.status, 200, `${p}: ${text}`);
  return JSON.parse(text);
};

// Everything the admin API says of each captured request, as text.
async function readBack(gw, count) {
  const list = await waitFor(`${count} requests in the log`, async () => {
    const body = await adminJson(gw, '/admin/requests?limit=100');
    return body.data.length === count && body.data;
  });
  const out = [];
  for (const r of list) {
    const detail = await adminJson(gw, `/admin/requests/${r.id}`);
    assert.ok(detail.capture, `${r.id} was captured`);
    const replay = await (await admin(gw, `/admin/requests/${r.id}/replay?speed=0`)).text();
    const merged = await adminJson(gw, `/admin/requests/${r.id}/replay?view=merged`);
    out.push({ id: r.id, stream: r.stream, detail, replay, merged });
  }
  return out;
}

// The store's files once the gateway stopped (its last batch and the WAL on disk).
async function stopAndReadStore(gw) {
  const dir = gw.tmpDir;
  gw.tmpDir = null; // kept until read
  await gw.stop();
  const db = path.join(dir, 'var', 'aigw.db');
  const bytes = Buffer.concat([db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
  rmSync(dir, { recursive: true, force: true });
  return bytes;
}

describe('redact_pii (the default)', () => {
  let gw, seen;
  before(async () => {
    gw = await gatewayWith('{ bodies: true, streams: true }');
    const count = await traffic(gw);
    seen = await readBack(gw, count);
  });
  after(async () => { await gw?.stop(); });

  test('the request log and the replays hold no original value', () => {
    for (const r of seen) {
      const all = JSON.stringify(r.detail) + r.replay + JSON.stringify(r.merged);
      for (const v of ORIGINALS) assert.ok(!all.includes(v), `${r.id} holds ${v}: ${all}`);
    }
    // the masks stand where the values were, and every stream replays as valid SSE
    const bodies = seen.map((r) => r.detail.capture.request_body).filter(Boolean);
    assert.ok(bodies.some((b) => { const c = JSON.parse(b).messages[0].content; return typeof c === 'string' && c.endsWith('my host is [IP]'); }), bodies.join('\n'));
    const contents = seen.map((r) => r.merged.content);
    assert.ok(contents.includes('my number is 137****1111 ok'), contents.join('\n'));
    assert.equal(contents.filter((c) => c === 'Noted 138****5678 and [EMAIL].').length, 3, contents.join('\n'));
    for (const r of seen.filter((x) => x.stream)) {
      const events = r.replay.split('\n\n').filter(Boolean);
      for (const ev of events) {
        const data = ev.split('\n').find((l) => l.startsWith('data: ')).slice(6);
        if (data !== '[DONE]') JSON.parse(data);
      }
    }
  });

  test('the database file holds no original value', async () => {
    const bytes = await stopAndReadStore(gw);
    assert.ok(bytes.includes('138****5678'), 'the masks are stored');
    for (const v of ORIGINALS) assert.ok(!bytes.includes(v), `the store holds ${v}`);
    gw = null;
  });
});

describe('redact_pii: false', () => {
  let gw, seen;
  before(async () => {
    gw = await gatewayWith('{ bodies: true, streams: true, redact_pii: false }');
    const count = await traffic(gw);
    seen = await readBack(gw, count);
  });
  after(async () => { await gw?.stop(); });

  test('the captures keep what the callers got, and the store holds it', async () => {
    const all = seen.map((r) => JSON.stringify(r.detail) + r.replay + JSON.stringify(r.merged)).join('');
    for (const v of ORIGINALS) assert.ok(all.includes(v), `the log shows ${v}`);
    assert.ok(seen.some((r) => r.merged.content === `my number is ${MODEL_PHONE} ok`));
    const bytes = await stopAndReadStore(gw);
    for (const v of [PHONE, EMAIL, ADDRESS]) assert.ok(bytes.includes(v), `the store holds ${v}`);
    gw = null;
  });
});
