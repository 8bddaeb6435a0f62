// API keys in the key store (SQLite): created, changed, rotated and revoked through the admin
// API and `aigw keys`, each change holding from the next request on, on every worker, without
// a reload; the secret is shown once and never stored.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, waitFor, BUILD } from './lib/harness.mjs';

let sim, gw, config;

before(async () => {
  sim = await startSim();
  config = await gatewayConfig({
    channels: simChannel(sim),
    models: standardModels,
    extra: 'auth: { mode: api_key }\nstore: { path: keys.db }',
  });
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
  await sim?.stop();
});

const admin = (method, p, body) => fetch(`${gw.adminUrl}${p}`, {
  method, headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
  body: body === undefined ? undefined : JSON.stringify(body),
});
const client = (key) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
const call = async (key, model = 'chat') => {
  try {
    await client(key).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
    return 200;
  } catch (err) {
    return err.status;
  }
};
// the workers take a new snapshot at their next request: a few calls reach every one of them
const settles = async (key, status, model) => {
  for (let i = 0; i < 4; i++) assert.equal(await call(key, model), status);
};

test('create through the admin API: the secret once, the key works at once for its models', async () => {
  assert.equal((await fetch(`${gw.adminUrl}/admin/keys`)).status, 401, 'the admin token is required');
  const res = await admin('POST', '/admin/keys', { name: 'team-a', tenant: 'acme', project: 'search', models: ['chat'] });
  assert.equal(res.status, 201);
  const created = await res.json();
  assert.match(created.key, /^sk-aigw-[A-Za-z0-9]{40}$/);
  assert.equal(created.name, 'team-a');
  await settles(created.key, 200);
  await settles(created.key, 403, 'sim-model');
  // shown once: neither the list nor the key's page has it, nor the database file
  const list = await (await admin('GET', '/admin/keys')).json();
  const listed = list.data.find((k) => k.id === created.id);
  assert.ok(listed);
  assert.equal(listed.key, undefined);
  assert.equal((await (await admin('GET', `/admin/keys/${created.id}`)).json()).key, undefined);
  const db = readFileSync(path.join(config.dir, 'keys.db')).toString('latin1') +
    readFileSync(path.join(config.dir, 'keys.db-wal')).toString('latin1');
  assert.ok(!db.includes(created.key.slice(8)), 'the secret is not in the database');
});

test('disable, enable, new models, rotate, revoke: each holds from the next request', async () => {
  const { id, key } = await (await admin('POST', '/admin/keys', { name: 'team-b', models: ['chat'] })).json();
  await settles(key, 200);
  assert.equal((await admin('PATCH', `/admin/keys/${id}`, { disabled: true })).status, 200);
  await settles(key, 401);
  await admin('PATCH', `/admin/keys/${id}`, { disabled: false, models: ['chat', 'sim-*'] });
  await settles(key, 200, 'sim-model');
  const rotated = await (await admin('POST', `/admin/keys/${id}/rotate`)).json();
  assert.notEqual(rotated.key, key);
  await settles(key, 401);
  await settles(rotated.key, 200);
  const revoked = await admin('DELETE', `/admin/keys/${id}`);
  assert.equal(revoked.status, 200);
  await settles(rotated.key, 401);
  assert.equal((await admin('PATCH', `/admin/keys/${id}`, { disabled: false })).status, 409, 'a revoked key stays revoked');
  assert.equal((await admin('GET', '/admin/keys/key_nosuch')).status, 404);
  const bad = await admin('POST', '/admin/keys', { name: 'x', models: 'chat' });
  assert.equal(bad.status, 400);
});

test('aigw keys on the same database: the server notices within a second', async () => {
  const cli = (...args) => JSON.parse(execFileSync(path.join(BUILD, 'aigw'), ['keys', '-c', config.file, ...args], { cwd: config.dir }).toString());
  const created = cli('create', '--name', 'from-cli', '--models', 'chat');
  assert.match(created.key, /^sk-aigw-/);
  await waitFor('the new key to work', async () => (await call(created.key)) === 200);
  cli('revoke', created.id);
  await waitFor('the revoked key to be refused', async () => (await call(created.key)) === 401);
  await settles(created.key, 401);
});

test('switches turn a model or a tenant off everywhere at once; every admin action is audited', async () => {
  const { key } = await (await admin('POST', '/admin/keys', { name: 'switchy', tenant: 'acme', models: ['*'] })).json();
  await settles(key, 200);
  const off = await admin('POST', '/admin/switches', { model: 'chat', disabled: true });
  assert.equal(off.status, 200);
  assert.deepEqual((await off.json()).disabled_models, ['chat']);
  const refused = await client(key).chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] })
    .catch((err) => err);
  assert.equal(refused.status, 403);
  assert.equal(refused.code, 'model_disabled');
  await settles(key, 403);
  await settles(key, 200, 'sim-model');
  await admin('POST', '/admin/switches', { model: 'chat', disabled: false });
  await settles(key, 200);
  await admin('POST', '/admin/switches', { tenant: 'acme', disabled: true });
  await settles(key, 403, 'sim-model');
  const listed = await (await admin('GET', '/admin/switches')).json();
  assert.deepEqual(listed, { disabled_tenants: ['acme'], disabled_models: [] });
  await admin('POST', '/admin/switches', { tenant: 'acme', disabled: false });
  await settles(key, 200);
  assert.equal((await admin('POST', '/admin/switches', { tenant: 'acme' })).status, 400);
  // the audit log: who did what, never a secret
  // the log is written by its own thread: wait until every action's line is there
  const actions = ['key.create', 'key.update', 'key.rotate', 'key.revoke', 'model.disable', 'model.enable', 'tenant.disable'];
  const audited = () => gw.lines().filter((l) => l.event === 'audit');
  await waitFor('every action audited', () => actions.every((a) => audited().some((l) => l.action === a)));
  const audit = audited();
  assert.ok(audit.every((l) => l.client.startsWith('127.0.0.1')));
  assert.ok(!JSON.stringify(audit).includes('sk-aigw-'), 'no secret in the audit log');
});
