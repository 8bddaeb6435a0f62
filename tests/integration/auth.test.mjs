// auth: API keys bound to models (declared in the config file), in every header style the SDKs
// use, and JWTs (RS256, ES256) checked against a JWKS file: signature, expiry, audience.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, waitFor, BUILD } from './lib/harness.mjs';

const TEAM_A = 'sk-team-a-0123456789abcdef0123';
const TEAM_B = 'sk-team-b-abcdefabcdefabcdef01';
let sim, gw, rsa, ec;

const b64url = (buf) => Buffer.from(buf).toString('base64url');
function jwt(claims, { key = rsa, kid = 'rsa-1', alg = 'RS256' } = {}) {
  const head = b64url(JSON.stringify({ alg, kid, typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const data = `${head}.${body}`;
  const sig = alg === 'ES256'
    ? crypto.sign('sha256', Buffer.from(data), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
    : crypto.sign('sha256', Buffer.from(data), key.privateKey);
  return `${data}.${b64url(sig)}`;
}
const now = () => Math.floor(Date.now() / 1000);
const good = () => ({ iss: 'https://idp.test', aud: 'aigw', exp: now() + 600, sub: 'user-1', tenant: 'acme', project: 'search' });

before(async () => {
  rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  sim = await startSim();
  const config = await gatewayConfig({
    channels: simChannel(sim),
    models: standardModels,
    extra: `auth:
  mode: api_key_or_jwt
  jwt: { jwks_file: jwks.json, issuer: https://idp.test, audience: aigw }
  keys:
    - { name: team-a, tenant: acme, project: search, key: "\${TEAM_A_KEY}", models: [chat] }
    - { name: team-b, tenant: beta, key_sha256: ${crypto.createHash('sha256').update(TEAM_B).digest('hex')}, models: ["sim-*"] }`,
  });
  const jwks = { keys: [
    { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ] };
  writeFileSync(path.join(config.dir, 'jwks.json'), JSON.stringify(jwks));
  gw = await startGateway(config, { env: { TEAM_A_KEY: TEAM_A } });
});

after(async () => {
  await gw?.stop();
  await sim?.stop();
});

const openai = (apiKey, headers = {}) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey, maxRetries: 0, defaultHeaders: headers });
const chat = (model = 'chat') => ({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });

test('no key, or a wrong one: 401 invalid_api_key, with nothing that helps a guesser', async () => {
  for (const key of ['', 'sk-wrong-0123456789abcdef0123', TEAM_A.slice(0, -1)]) {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', body: JSON.stringify(chat()),
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    });
    assert.equal(res.status, 401);
    const body = await res.json();
    assert.equal(body.error.code, 'invalid_api_key');
    assert.match(body.error.message, /^Incorrect API key provided/);
    assert.doesNotMatch(JSON.stringify(body), /team|acme|sk-/);
  }
  const before = (await sim.stats()).requests;
  await assert.rejects(openai('sk-nope-0123456789abcdef0123').chat.completions.create(chat()), (err) => err.status === 401);
  assert.equal((await sim.stats()).requests, before, 'no engine was asked');
});

test('a key calls its models only: 403 on another', async () => {
  const a = openai(TEAM_A);
  assert.equal((await a.chat.completions.create(chat('chat'))).model, 'chat');
  await assert.rejects(a.chat.completions.create(chat('sim-model')), (err) => {
    assert.equal(err.status, 403);
    assert.equal(err.code, 'model_not_allowed');
    return true;
  });
  // a glob: team-b may call sim-* only
  const b = openai(TEAM_B);
  assert.equal((await b.chat.completions.create(chat('sim-model'))).model, 'sim-model');
  await assert.rejects(b.chat.completions.create(chat('chat')), (err) => err.status === 403);
});

test('x-api-key (Anthropic\'s SDK) and api-key (Azure\'s) are read too; errors in the caller\'s protocol', async () => {
  const anthropic = new Anthropic({ baseURL: gw.url, apiKey: TEAM_B, maxRetries: 0 });
  const msg = await anthropic.messages.create({ model: 'sim-model', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(msg.type, 'message');
  await assert.rejects(anthropic.messages.create({ model: 'chat', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] }), (err) => {
    assert.equal(err.status, 403);
    assert.equal(err.error?.error?.type, 'permission_error');
    return true;
  });
  const wrong = new Anthropic({ baseURL: gw.url, apiKey: 'sk-ant-nope-0123456789abcdef', maxRetries: 0 });
  await assert.rejects(wrong.messages.create({ model: 'chat', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] }), (err) => {
    assert.equal(err.status, 401);
    assert.equal(err.error?.error?.type, 'authentication_error');
    return true;
  });
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', body: JSON.stringify(chat()), headers: { 'content-type': 'application/json', 'api-key': TEAM_A },
  });
  assert.equal(res.status, 200);
});

test('a JWT from the identity provider: RS256 and ES256 pass; a bad signature, an expired one, another audience do not', async () => {
  assert.equal((await openai(jwt(good())).chat.completions.create(chat())).model, 'chat');
  assert.equal((await openai(jwt(good(), { key: ec, kid: 'ec-1', alg: 'ES256' })).chat.completions.create(chat())).model, 'chat');
  const token = jwt(good());
  const tampered = token.slice(0, -4) + (token.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA');
  const bad = [
    tampered,
    jwt({ ...good(), exp: now() - 3600 }),
    jwt({ ...good(), aud: 'someone-else' }),
    jwt({ ...good(), iss: 'https://evil.test' }),
    jwt(good(), { key: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) }), // signed by another key
  ];
  for (const t of bad)
    await assert.rejects(openai(t).chat.completions.create(chat()), (err) => {
      assert.equal(err.status, 401);
      assert.equal(err.code, 'invalid_api_key');
      return true;
    });
});

test('authentication off on an address beyond loopback is said loudly at startup', async () => {
  const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels });
  const open = config.yaml.replace(/http: \{listen: "127\.0\.0\.1:(\d+)"\}/, 'http: {listen: "0.0.0.0:$1"}');
  writeFileSync(config.file, open);
  const loud = await startGateway(config);
  try {
    await waitFor('the auth_off warning', () => loud.lines().some((l) => l.event === 'auth_off' && l.level === 'warn'));
  } finally {
    await loud.stop();
  }
  const quiet = await startGateway(await gatewayConfig({ channels: simChannel(sim), models: standardModels }));
  await quiet.stop();
  assert.ok(!quiet.lines().some((l) => l.event === 'auth_off'), 'no warning on loopback');
});

test('the access-control config of the issue that asked for it, as written, checks and serves', async () => {
  const config = await gatewayConfig({
    channels: simChannel(sim),
    models: standardModels,
    extra: `auth:
  mode: api_key                    # off | api_key | jwt | api_key_or_jwt
  jwt: { jwks_file: /etc/aigw/jwks.json, issuer: https://idp.example, audience: aigw }
access:
  allow: [10.0.0.0/8, "::1/128", 127.0.0.0/8]
  deny: [10.6.6.0/24]
  trusted_proxies: [10.0.0.1/32]
guards:
  pii: { email: mask, china_id: block, bank_card: block, phone: restore }
  words: { files: [words.txt], list: [forbidden phrase], action: block, on: [request, response] }
limits:
  - { by: key, rpm: 600, tpm: 200000 }
  - { by: tenant, tpm: 1000000, schedule: { days: mon-fri, hours: "09:00-18:00", tz: Asia/Shanghai } }`,
  });
  writeFileSync(path.join(config.dir, 'words.txt'), 'forbidden word\n');
  const check = spawnSync(path.join(BUILD, 'aigw'), ['check', '-c', config.file], { cwd: config.dir });
  assert.equal(check.status, 0, check.stderr.toString());
  const served = await startGateway(config);
  try {
    const created = await (await fetch(`${served.adminUrl}/admin/keys`, {
      method: 'POST', headers: { authorization: 'Bearer test-admin-token' },
      body: JSON.stringify({ name: 'team-a', tenant: 'acme', project: 'search', models: ['chat', 'embed*'] }),
    })).json();
    const c = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: created.key, maxRetries: 0 });
    let res = null;
    for (let i = 0; i < 10 && !res; i++) res = await c.chat.completions.create(chat()).catch(() => null);
    assert.equal(res?.model, 'chat');
    await assert.rejects(c.chat.completions.create({ ...chat(), messages: [{ role: 'user', content: 'a forbidden phrase' }] }),
      (err) => err.status === 400 && err.code === 'content_filter');
  } finally {
    await served.stop();
  }
});

test('verified JWTs are cached per worker, but a cached token still expires, a bad signature is never cached, and a reload forgets', async () => {
  const config = await gatewayConfig({
    channels: simChannel(sim),
    models: standardModels,
    extra: `auth:
  mode: jwt
  jwt: { jwks_file: jwks.json, issuer: https://idp.test, audience: aigw, leeway_s: 60, cache_size: 100 }
log: { level: debug }`,
  });
  const jwksFile = path.join(config.dir, 'jwks.json');
  const rsaJwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  const ecJwk = { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1', alg: 'ES256', use: 'sig' };
  writeFileSync(jwksFile, JSON.stringify({ keys: [rsaJwk, ecJwk] }));
  const cached = await startGateway(config, { env: { AIGW_TEST_CLOCK: '1' } });
  const client = (token) => new OpenAI({ baseURL: `${cached.url}/v1`, apiKey: token, maxRetries: 0 });
  // the status and, from the debug line auth_jwt, whether the verdict came from the cache
  const send = async (token) => {
    try {
      const { response } = await client(token).chat.completions.create(chat()).withResponse();
      const id = response.headers.get('x-request-id');
      const line = await waitFor('the auth_jwt line', () => cached.lines().find((l) => l.event === 'auth_jwt' && l.request_id === id));
      return line.cached ? 'cached' : 'verified';
    } catch (err) {
      return err.status;
    }
  };
  const setClock = async (offset) => {
    const res = await fetch(`${cached.adminUrl}/admin/clock`, {
      method: 'POST', headers: { authorization: 'Bearer test-admin-token' }, body: JSON.stringify({ offset_s: offset }),
    });
    assert.equal(res.status, 200);
  };
  try {
    const token = jwt({ ...good(), exp: now() + 120 });
    // two workers: each verifies once, then serves from its cache
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(await send(token));
    assert.equal(seen[0], 'verified');
    assert.ok(seen.filter((s) => s === 'verified').length <= 2, `each worker verifies once: ${seen}`);
    assert.ok(seen.includes('cached'), `${seen}`);
    // the same header and payload with another signature: another key, verified and refused,
    // every time (a failure is never cached)
    const tampered = token.slice(0, -4) + (token.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA');
    for (let i = 0; i < 4; i++) assert.equal(await send(tampered), 401);
    // the log is written by its own thread: wait for the lines, then count them exactly
    const badSignature = () => cached.lines().filter((l) => l.event === 'auth_refused' && l.reason === 'bad_signature');
    await waitFor('four bad_signature lines', () => badSignature().length >= 4);
    assert.equal(badSignature().length, 4);
    assert.equal(await send(token), 'cached', 'the good token is unaffected');
    // past exp + leeway on the gateway's clock: the cached verdict is not served
    await setClock(120 + 61);
    for (let i = 0; i < 4; i++) assert.equal(await send(token), 401);
    await waitFor('an expired refusal logged', () => cached.lines().some((l) => l.event === 'auth_refused' && l.reason === 'expired'));
    await setClock(0);
    // a reload with a JWKS that no longer has the RSA key: a token cached before is refused
    const fresh = jwt(good());
    for (let i = 0; i < 4; i++) assert.notEqual(await send(fresh), 401);
    writeFileSync(jwksFile, JSON.stringify({ keys: [ecJwk] }));
    const reload = await fetch(`${cached.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
    assert.equal(reload.status, 200);
    for (let i = 0; i < 4; i++) assert.equal(await send(fresh), 401);
    assert.equal(await send(jwt(good(), { key: ec, kid: 'ec-1', alg: 'ES256' })), 'verified');
  } finally {
    await cached.stop();
  }
});
