// limits: requests and tokens per window by key and model, schedules that switch limits at
// their boundary and windows that deny, read from a settable clock (POST /admin/clock, enabled
// by AIGW_TEST_CLOCK=1) rather than waited for.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels } from './lib/harness.mjs';

const K1 = 'sk-limit-k1-0123456789abcdef';
const K2 = 'sk-limit-k2-0123456789abcdef';
let sim;
before(async () => { sim = await startSim(); });
after(async () => { await sim?.stop(); });

async function gatewayWith(limits) {
  const config = await gatewayConfig({
    channels: simChannel(sim),
    models: standardModels,
    extra: `auth:
  mode: api_key
  keys:
    - { name: k1, tenant: acme, key: "${K1}", models: ["*"] }
    - { name: k2, tenant: acme, key: "${K2}", models: ["*"] }
limits:
${limits}`,
  });
  return startGateway(config, { env: { AIGW_TEST_CLOCK: '1' } });
}

const call = (gw, key, body = {}) => fetch(`${gw.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1, ...body }),
});

// Moves the gateway's wall clock forward to the next `hour`:00:30 UTC on a day with `weekday`
// (0 Sunday), after the last time set: as a real clock, it never goes back.
let clockBase = Date.now();
async function setClock(gw, { hour, weekday }) {
  const target = new Date(clockBase);
  target.setUTCHours(hour, 0, 30, 0);
  while (target.getTime() <= clockBase || (weekday !== undefined && target.getUTCDay() !== weekday))
    target.setUTCDate(target.getUTCDate() + 1);
  clockBase = target.getTime();
  const res = await fetch(`${gw.adminUrl}/admin/clock`, {
    method: 'POST', headers: { authorization: 'Bearer test-admin-token' },
    body: JSON.stringify({ offset_s: Math.round((target.getTime() - Date.now()) / 1000) }),
  });
  assert.equal(res.status, 200);
}

describe('requests per key', () => {
  let gw;
  before(async () => { gw = await gatewayWith('  - { by: key, rpm: 3 }'); });
  after(async () => { await gw?.stop(); });

  test('the fourth request in a minute is refused with 429, Retry-After and the x-ratelimit headers', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await call(gw, K1);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-ratelimit-limit-requests'), '3');
      assert.equal(res.headers.get('x-ratelimit-remaining-requests'), String(2 - i));
      assert.match(res.headers.get('x-ratelimit-reset-requests'), /^(\d+h)?(\d+m)?(\d+(\.\d+)?(ms|s))?$/);
    }
    const refused = await call(gw, K1);
    assert.equal(refused.status, 429);
    const body = await refused.json();
    assert.equal(body.error.code, 'rate_limit_exceeded');
    const retry = Number(refused.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 20, `retry-after ${retry}`);
    assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
    // another key has its own allowance
    assert.equal((await call(gw, K2)).status, 200);
  });
});

describe('tokens per model', () => {
  let gw;
  before(async () => { gw = await gatewayWith('  - { by: model, tpm: 100 }'); });
  after(async () => { await gw?.stop(); });

  test('tokens are reserved from the estimate and settled with the engine\'s usage', async () => {
    const ok1 = await call(gw, K1, { max_tokens: 40 });
    assert.equal(ok1.status, 200);
    assert.equal(ok1.headers.get('x-ratelimit-limit-tokens'), '100');
    assert.equal((await call(gw, K2, { max_tokens: 40 })).status, 200, 'the model\'s budget, whatever the key');
    const third = await call(gw, K1, { max_tokens: 40 });
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers.get('x-ratelimit-remaining-tokens')) < 40);
    const huge = await call(gw, K1, { max_tokens: 500 });
    assert.equal(huge.status, 429);
    assert.match((await huge.json()).error.message, /more tokens than limit/);
  });
});

describe('schedules', () => {
  let gw;
  before(async () => {
    gw = await gatewayWith(`  - { by: tenant, rpm: 1, schedule: { days: mon-sun, hours: "09:00-18:00", tz: UTC }, otherwise: { rpm: 1000 } }
  - { by: model, deny: true, schedule: { days: sat-sun, tz: Asia/Shanghai } }`);
  });
  after(async () => { await gw?.stop(); });

  test('business hours have one limit, the rest of the day another; a weekend window denies', async () => {
    await setClock(gw, { hour: 10, weekday: 3 }); // a Wednesday 10:00 UTC: one a minute
    assert.equal((await call(gw, K1)).status, 200);
    assert.equal((await call(gw, K2)).status, 429, 'the tenant\'s one request was taken');
    await setClock(gw, { hour: 20, weekday: 3 }); // 20:00: a thousand a minute
    for (let i = 0; i < 5; i++) assert.equal((await call(gw, K1)).status, 200);
    await setClock(gw, { hour: 6, weekday: 6 }); // Saturday 14:00 in Shanghai
    const denied = await call(gw, K1);
    assert.equal(denied.status, 429);
    assert.match((await denied.json()).error.message, /not accepted at this time/);
    assert.ok(Number(denied.headers.get('retry-after')) > 3600, 'until the window closes');
    await setClock(gw, { hour: 20, weekday: 3 }); // the next Wednesday evening
    assert.equal((await call(gw, K1)).status, 200);
  });
});

describe('limits kept with a key in the key store', () => {
  let gw;
  before(async () => {
    const config = await gatewayConfig({
      channels: simChannel(sim), models: standardModels, extra: 'auth: { mode: api_key }\nstore: { path: keys.db }',
    });
    gw = await startGateway(config);
  });
  after(async () => { await gw?.stop(); });

  test('a key created with limits is held to them', async () => {
    const res = await fetch(`${gw.adminUrl}/admin/keys`, {
      method: 'POST', headers: { authorization: 'Bearer test-admin-token' },
      body: JSON.stringify({ name: 'small', models: ['*'], limits: { requests: { minute: 2 } } }),
    });
    const { key } = await res.json();
    let first = 0;
    // the workers take the new key at their next request: the first success starts the count
    for (let i = 0; i < 10 && first !== 200; i++) first = (await call(gw, key)).status;
    assert.equal(first, 200);
    assert.equal((await call(gw, key)).status, 200);
    const third = await call(gw, key);
    assert.equal(third.status, 429);
    assert.match((await third.json()).error.message, /key requests per minute/);
  });

  test('a key created with a quota is held to it, in its time zone', async () => {
    const res = await fetch(`${gw.adminUrl}/admin/keys`, {
      method: 'POST', headers: { authorization: 'Bearer test-admin-token' },
      body: JSON.stringify({ name: 'budgeted', models: ['*'], quota: { tokens: 30, period: 'day', tz: 'Asia/Shanghai' } }),
    });
    const { key } = await res.json();
    let first = 0;
    for (let i = 0; i < 10 && first !== 200; i++) first = (await call(gw, key, { max_tokens: 20 })).status;
    assert.equal(first, 200); // 21 tokens spent
    assert.equal((await call(gw, key, { max_tokens: 20 })).status, 200); // under 30 when it began
    const spent = await call(gw, key, { max_tokens: 20 });
    assert.equal(spent.status, 429);
    assert.equal((await spent.json()).error.code, 'insufficient_quota');
  });
});

describe('quotas', () => {
  let gw;
  before(async () => {
    const config = await gatewayConfig({
      channels: simChannel(sim),
      models: standardModels,
      extra: `auth:
  mode: api_key
  keys:
    - { name: k1, tenant: acme, key: "${K1}", models: ["*"] }
    - { name: k2, tenant: acme, key: "${K2}", models: ["*"] }
quotas:
  - { by: tenant, tokens: 50, period: day, tz: UTC }`,
    });
    gw = await startGateway(config, { env: { AIGW_TEST_CLOCK: '1' } });
  });
  after(async () => { await gw?.stop(); });

  const quota = async (method = 'GET', body) => (await fetch(`${gw.adminUrl}/admin/quotas/tenant/acme`, {
    method, headers: { authorization: 'Bearer test-admin-token' }, body: body && JSON.stringify(body),
  })).json();

  test('a spent budget refuses with insufficient_quota until the admin raises it or the day turns', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(gw, i % 2 ? K2 : K1, { max_tokens: 20 })).status);
    assert.deepEqual(statuses.slice(0, 2), [200, 200]);
    assert.ok(statuses.includes(429), `statuses ${statuses}`);
    const refused = await call(gw, K1, { max_tokens: 20 });
    assert.equal(refused.status, 429);
    const body = await refused.json();
    assert.equal(body.error.code, 'insufficient_quota');
    assert.equal(body.error.type, 'insufficient_quota');
    // exact usage was counted: the simulator's prompt "hi" is 1 token, each answer 20
    const seen = await quota();
    assert.equal(seen.budget, 50);
    assert.equal(seen.spent % 21, 0, `spent ${seen.spent}`);
    assert.ok(seen.spent >= 50);
    // the admin raises the budget, then gives the tenant a fresh start
    await quota('PATCH', { budget: 1000 });
    assert.equal((await call(gw, K1, { max_tokens: 20 })).status, 200);
    const reset = await quota('PATCH', { spent: 0, budget: null });
    assert.equal(reset.spent, 0);
    assert.equal(reset.budget, 50);
    for (let i = 0; i < 3; i++) await call(gw, K1, { max_tokens: 20 });
    assert.equal((await call(gw, K1, { max_tokens: 20 })).status, 429);
    // the next day the budget renews
    await setClock(gw, { hour: 1 });
    assert.equal((await call(gw, K1, { max_tokens: 20 })).status, 200);
  });
});
