// What outlives a restart in the store (SQLite): quota spent counts and budget overrides, the
// operator's switches and the audit trail of admin actions. The gateway is stopped and started
// again on the same database (and once killed, to show the once-a-second save); the counts, the
// switches and the entries are still there, and the next period still starts at 0. When the store
// is off (no store.path, no API keys, no quotas), nothing is written to disk.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, waitFor } from './lib/harness.mjs';

const K1 = 'sk-persist-k1-0123456789abcdef';
const K2 = 'sk-persist-k2-0123456789abcdef';
let sim;
before(async () => { sim = await startSim(); });
after(async () => { await sim?.stop(); });

const adminOf = (gw) => (method, p, body) => fetch(`${gw.adminUrl}${p}`, {
  method, headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
  body: body === undefined ? undefined : JSON.stringify(body),
});

// One chat completion with the official SDK: its status (200, or the error's).
async function call(gw, key, model = 'chat', maxTokens = 20) {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
  try {
    await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: maxTokens });
    return 200;
  } catch (err) {
    return err.status;
  }
}

// Stops the gateway and keeps its directory (the database) for the next start.
async function stopKeeping(gw) {
  gw.tmpDir = null;
  await gw.stop();
}

// Kills it: no shutdown, no last save; only what the once-a-second save wrote survives.
async function kill(gw) {
  gw.tmpDir = null;
  gw.child.kill('SIGKILL');
  await gw.exited;
}

describe('quotas, switches and the audit trail across restarts', () => {
  let config;
  const env = { AIGW_TEST_CLOCK: '1' };
  before(async () => {
    config = await gatewayConfig({
      channels: simChannel(sim),
      models: standardModels,
      extra: `auth:
  mode: api_key
  keys:
    - { name: k1, tenant: acme, key: "${K1}", models: ["*"] }
    - { name: k2, tenant: beta, key: "${K2}", models: ["*"] }
quotas:
  - { by: tenant, tokens: 50, period: day, tz: UTC }
store: { path: state.db }
log: { level: debug }`,
    });
  });
  after(() => { rmSync(config.dir, { recursive: true, force: true }); });

  test('a quota keeps its count when the list is reordered: it is known by what it counts', async () => {
    const dir = config.dir;
    const reordered = await gatewayConfig({
      channels: simChannel(sim),
      models: standardModels,
      extra: `auth:
  mode: api_key
  keys:
    - { name: k1, tenant: acme, project: p1, key: "${K1}", models: ["*"] }
quotas:
  - { by: project, tokens: 1000, period: day, tz: UTC }
  - { by: tenant, tokens: 50, period: day, tz: UTC }
store: { path: ${path.join(dir, 'reorder.db')} }`,
    });
    const first = await gatewayConfig({
      channels: simChannel(sim),
      models: standardModels,
      extra: reordered.yaml.slice(reordered.yaml.indexOf('auth:')).replace(
        '  - { by: project, tokens: 1000, period: day, tz: UTC }\n', ''),
    });
    let gw = await startGateway(first, { env });
    try {
      assert.equal(await call(gw, K1), 200);
      assert.equal((await (await adminOf(gw)('GET', '/admin/quotas/tenant/acme')).json()).spent, 21);
    } finally {
      await gw.stop();
    }
    gw = await startGateway(reordered, { env });
    try {
      assert.equal((await (await adminOf(gw)('GET', '/admin/quotas/tenant/acme')).json()).spent, 21,
        'the tenant quota, now second in the list, kept its count');
    } finally {
      await gw.stop();
    }
  });

  test('spent counts, PATCHed values, switches and audit entries are there after a restart', async () => {
    let gw = await startGateway(config, { env });
    let admin = adminOf(gw);
    // acme spends 21 tokens (1 prompt + 20 answer) of its 50
    assert.equal(await call(gw, K1), 200);
    assert.equal((await (await admin('GET', '/admin/quotas/tenant/acme')).json()).spent, 21);
    // the admin sets beta's count and budget
    assert.equal((await admin('PATCH', '/admin/quotas/tenant/beta', { spent: 7, budget: 1000 })).status, 200);
    // a model turned off
    assert.equal((await admin('POST', '/admin/switches', { model: 'sim-model', disabled: true })).status, 200);
    assert.equal(await call(gw, K1, 'sim-model'), 403);
    // an endpoint with credentials in its URL: the audit trail never shows them
    const withPassword = 'http://ops:hunter2@127.0.0.1:9/v1';
    assert.equal((await admin('POST', '/admin/channels/sim/endpoints', { url: withPassword })).status, 200);
    assert.equal((await admin('DELETE', '/admin/channels/sim/endpoints', { url: withPassword })).status, 200);
    await stopKeeping(gw);

    gw = await startGateway(config, { env });
    admin = adminOf(gw);
    const acme = await (await admin('GET', '/admin/quotas/tenant/acme')).json();
    assert.equal(acme.spent, 21, 'the spent count came back');
    const beta = await (await admin('GET', '/admin/quotas/tenant/beta')).json();
    assert.equal(beta.spent, 7);
    assert.equal(beta.budget, 1000);
    assert.equal(beta.budget_set, true);
    // acme has 29 tokens left, not a fresh 50: two requests pass (the second begins at 42),
    // the third is refused
    assert.equal(await call(gw, K1), 200);
    assert.equal(await call(gw, K1), 200);
    const refused = await new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: K1, maxRetries: 0 }).chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 })
      .catch((err) => err);
    assert.equal(refused.status, 429);
    assert.equal(refused.code, 'insufficient_quota');
    // the switch holds: in the list, and on every worker from the first request
    assert.deepEqual((await (await admin('GET', '/admin/switches')).json()).disabled_models, ['sim-model']);
    for (let i = 0; i < 4; i++) assert.equal(await call(gw, K2, 'sim-model', 1), 403);
    // the audit trail of the first run, newest first
    const audit = await (await admin('GET', '/admin/audit?limit=10')).json();
    assert.equal(audit.object, 'list');
    const actions = audit.data.map((e) => `${e.action} ${e.target} ${e.status}`);
    assert.deepEqual(actions.slice(0, 4), [
      'endpoint.remove http://127.0.0.1:9/v1 200',
      'endpoint.add http://127.0.0.1:9/v1 200',
      'model.disable sim-model 200',
      'quota.update tenant/beta 200',
    ]);
    assert.match(audit.data[0].client, /^127\.0\.0\.1:\d+$/);
    assert.ok(audit.data[0].id > audit.data[1].id);
    assert.ok(Math.abs(audit.data[0].time - Date.now() / 1000) < 600);
    assert.ok(!JSON.stringify(audit).includes('hunter2'), 'no password in the audit trail');
    const file = readFileSync(path.join(config.dir, 'state.db')).toString('latin1') +
      (existsSync(path.join(config.dir, 'state.db-wal')) ? readFileSync(path.join(config.dir, 'state.db-wal')).toString('latin1') : '');
    assert.ok(!file.includes('hunter2'), 'nor in the database');

    // PATCH again (the budget back to the configured one, the count forgiven), turn the model
    // on: the next start sees that too
    assert.equal((await admin('PATCH', '/admin/quotas/tenant/beta', { budget: null })).status, 200);
    assert.equal((await admin('PATCH', '/admin/quotas/tenant/acme', { spent: 0 })).status, 200);
    assert.equal((await admin('POST', '/admin/switches', { model: 'sim-model', disabled: false })).status, 200);
    await stopKeeping(gw);

    gw = await startGateway(config, { env });
    admin = adminOf(gw);
    const beta2 = await (await admin('GET', '/admin/quotas/tenant/beta')).json();
    assert.equal(beta2.budget, 50);
    assert.equal(beta2.budget_set, false);
    assert.equal((await (await admin('GET', '/admin/quotas/tenant/acme')).json()).spent, 0);
    assert.deepEqual((await (await admin('GET', '/admin/switches')).json()).disabled_models, []);
    assert.equal(await call(gw, K1, 'sim-model', 1), 200);
    await stopKeeping(gw);
  });

  test('a count from an earlier period is not carried into the next', async () => {
    let gw = await startGateway(config, { env });
    let admin = adminOf(gw);
    assert.equal(await call(gw, K2), 200);
    const before = (await (await admin('GET', '/admin/quotas/tenant/beta')).json()).spent;
    assert.ok(before >= 21);
    await stopKeeping(gw);
    gw = await startGateway(config, { env });
    admin = adminOf(gw);
    assert.equal((await (await admin('GET', '/admin/quotas/tenant/beta')).json()).spent, before);
    // the next day (UTC): a new period, whatever was saved
    const res = await admin('POST', '/admin/clock', { offset_s: 86400 });
    assert.equal(res.status, 200);
    const tomorrow = await (await admin('GET', '/admin/quotas/tenant/beta')).json();
    assert.equal(tomorrow.spent, 0);
    assert.ok(tomorrow.period_start * 1000 > Date.now());
    await stopKeeping(gw);
  });

  test('counts are saved within a second, not only at shutdown: a killed gateway keeps them', async () => {
    let gw = await startGateway(config, { env });
    let admin = adminOf(gw);
    await admin('PATCH', '/admin/quotas/tenant/acme', { spent: 0 });
    assert.equal(await call(gw, K1), 200);
    // the timer's save of acme's settled count (a save may also catch the reservation first)
    await waitFor('the count to be saved', () => gw.lines().some((l) => l.event === 'quota_saved' && l.rows === 1 && l.tokens === 21));
    await kill(gw);
    gw = await startGateway(config, { env });
    admin = adminOf(gw);
    assert.equal((await (await admin('GET', '/admin/quotas/tenant/acme')).json()).spent, 21);
    await stopKeeping(gw);
  });
});

describe('the audit endpoint', () => {
  let gw;
  before(async () => {
    const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels, extra: 'store: { path: audit.db }' });
    gw = await startGateway(config);
  });
  after(async () => { await gw?.stop(); });

  test('pages newest first, filters by time, refuses bad queries, needs the admin token', async () => {
    const admin = adminOf(gw);
    for (const tenant of ['t1', 't2', 't3', 't4', 't5'])
      assert.equal((await admin('POST', '/admin/switches', { tenant, disabled: true })).status, 200);
    const first = await (await admin('GET', '/admin/audit?limit=2')).json();
    assert.deepEqual(first.data.map((e) => e.target), ['t5', 't4']);
    assert.equal(first.has_more, true);
    const next = await (await admin('GET', `/admin/audit?limit=2&before=${first.data[1].id}`)).json();
    assert.deepEqual(next.data.map((e) => e.target), ['t3', 't2']);
    const all = await (await admin('GET', '/admin/audit')).json();
    assert.equal(all.data.length, 5);
    assert.equal(all.has_more, false);
    // since: a time after all of them finds none
    const later = Math.floor(Date.now() / 1000) + 3600;
    assert.deepEqual((await (await admin('GET', `/admin/audit?since=${later}`)).json()).data, []);
    const since = Math.floor(Date.now() / 1000) - 3600;
    assert.equal((await (await admin('GET', `/admin/audit?since=${since}&limit=1000`)).json()).data.length, 5);
    for (const q of ['limit=0', 'limit=1001', 'limit=x', 'since=-1', 'before=1e3'])
      assert.equal((await admin('GET', `/admin/audit?${q}`)).status, 400, q);
    assert.equal((await fetch(`${gw.adminUrl}/admin/audit`)).status, 401);
    assert.equal((await admin('POST', '/admin/audit')).status, 405);
  });
});

test('without store.path, API keys or quotas, nothing is written to disk', async () => {
  const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels });
  const gw = await startGateway(config);
  const admin = adminOf(gw);
  try {
    // a switch still works, for this process's life
    assert.equal((await admin('POST', '/admin/switches', { model: 'sim-model', disabled: true })).status, 200);
    assert.equal(await call(gw, 'unused', 'sim-model', 1), 403);
    const res = await admin('GET', '/admin/audit');
    assert.equal(res.status, 409);
    assert.equal((await res.json()).error.code, 'store_off');
    assert.ok(!existsSync(path.join(config.dir, 'aigw.db')));
    await waitFor('the store_off line', () => gw.lines().some((l) => l.event === 'store_off'));
  } finally {
    await gw.stop();
  }
});
