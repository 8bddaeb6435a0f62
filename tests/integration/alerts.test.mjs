// Alerts: the gateway reads a metering database pre-filled with known usage rollups and, as the
// settable clock moves, fires budget thresholds (50/80/100, each once, also across a restart),
// a cost anomaly for a spike and none for steady traffic, an error-rate spike, and endpoint and
// channel down/up when the engine stops and comes back; every alert reaches a webhook receiver
// on loopback (which fails its first delivery, so a retry must bring it), and the history is
// on the admin API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startSim, startGateway, gatewayConfig, freePort, closedPort, waitFor, BUILD } from './lib/harness.mjs';

// 2030-03-15T12:00:30Z: the gateway's clock is moved there, and the rollups are laid out
// around it
const T0 = Date.UTC(2030, 2, 15, 12, 0, 30) / 1000;
const MINUTE = T0 - 30;
const HOUR = MINUTE; // 12:00 is also an hour's start
const TODAY = Date.UTC(2030, 2, 15) / 1000;
const MONTH = Date.UTC(2030, 2, 1) / 1000;

let sim, gw, config, receiver, dataDir, db;
let offset; // seconds: T0 minus the real time when the test began
const received = []; // deliveries the receiver accepted: {headers, body}
const refused = []; // the one it answered 500

function sql(statements) {
  execFileSync('sqlite3', [db], { input: `.timeout 5000\n${statements}\n` });
}

function rollup(bucket, t, tenant, model, { requests = 1, errors = 0, cost = 0 } = {}) {
  return `INSERT INTO usage_rollup VALUES ('${bucket}', ${t}, '${tenant}', 'default', 'key_1', '${model}', `
    + `${requests}, ${errors}, 100, 50, 0, 0, ${cost}, 0)`
    + ' ON CONFLICT DO UPDATE SET requests = requests + excluded.requests,'
    + ' errors = errors + excluded.errors, cost = cost + excluded.cost;';
}

function prefill() {
  // the metering store's own schema, made by its real writer (no records), then known rollups
  const empty = path.join(path.dirname(db), 'none.jsonl');
  writeFileSync(empty, '');
  execFileSync(path.join(BUILD, 'test_meter_store'), ['--fill', db, empty]);
  const rows = ['BEGIN;'];
  // acme: 20 a day over the first ten days of the month (200 of its 500), and 1000 last month
  rows.push(rollup('day', MONTH - 86400, 'acme', 'chat', { cost: 1000 }));
  for (let d = 0; d < 10; d++) rows.push(rollup('day', MONTH + d * 86400, 'acme', 'chat', { requests: 100, cost: 20 }));
  // steady and spiky: a week of hours at 1.0 each; in the latest hour steady spends 1.0 as
  // always, spiky 10
  for (let t = HOUR - 7 * 86400 - 3600; t < HOUR - 3600; t += 3600) {
    rows.push(rollup('hour', t, 'steady', 'chat', { requests: 60, cost: 1 }));
    rows.push(rollup('hour', t, 'spiky', 'chat', { requests: 60, cost: 1 }));
  }
  for (let t = MINUTE - 3600; t < MINUTE; t += 60) {
    rows.push(rollup('minute', t, 'steady', 'chat', { cost: 1 / 60 }));
    rows.push(rollup('minute', t, 'spiky', 'chat', { cost: 10 / 60 }));
  }
  // errors: 30 of 100 requests to model flaky two minutes ago; 2 of 100 to chat
  rows.push(rollup('minute', MINUTE - 120, 'svc', 'flaky', { requests: 100, errors: 30 }));
  rows.push(rollup('minute', MINUTE - 120, 'svc', 'chat', { requests: 100, errors: 2 }));
  rows.push('COMMIT;');
  sql(rows.join('\n'));
}

const admin = (method, p, body) => fetch(`${gw.adminUrl}${p}`, {
  method,
  headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
  body: body === undefined ? undefined : JSON.stringify(body),
});
const history = async (query = '') => {
  const res = await admin('GET', `/admin/alerts${query}`);
  assert.equal(res.status, 200);
  return res.json();
};
const deliveredOf = (type) => received.map((r) => r.body).filter((b) => b.type === type);

// Moves the gateway's clock to T0 + seconds and waits for the evaluation that ran at that time.
async function evaluateAt(seconds) {
  const before = (await history('?limit=1')).stats.evaluations;
  const res = await admin('POST', '/admin/clock', { offset_s: offset + seconds });
  assert.equal(res.status, 200);
  await waitFor(`an evaluation at T0+${seconds}`, async () => {
    const { stats } = await history('?limit=1');
    return stats.evaluations > before && Date.parse(stats.last_evaluation) / 1000 >= T0 + seconds;
  });
}

async function startReceiver() {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      const entry = { headers: req.headers, body: JSON.parse(data) };
      if (refused.length === 0) { // the first delivery fails: a retry must follow
        refused.push(entry);
        res.writeHead(500).end('try again');
        return;
      }
      received.push(entry);
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  server.url = `http://127.0.0.1:${port}/hooks/aigw`;
  return server;
}

async function startWithAlerts() {
  return startGateway(config, { env: { AIGW_TEST_CLOCK: '1' } });
}

before(async () => {
  offset = T0 - Math.floor(Date.now() / 1000);
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'aigw-alerts-'));
  db = path.join(dataDir, 'metering.db');
  prefill();
  receiver = await startReceiver();
  sim = await startSim();
  const nobody = await closedPort(); // nothing listens there
  config = await gatewayConfig({
    channels: `  - name: checked
    base_url: ${sim.url}/v1
    health: {path: /health, interval_ms: 100, timeout_ms: 500, failures: 1, backoff_ms: 600000, max_backoff_ms: 600000}
  - name: passive
    base_url: http://127.0.0.1:${nobody}/v1
    health: {failures: 1, backoff_ms: 600000, max_backoff_ms: 600000}`,
    models: `  - {name: chat, channel: checked, upstream_model: sim-model}
  - {name: lost, channel: passive}`,
    extra: `metering:
  store: ${db}
  alerts:
    webhooks:
      - url: ${receiver.url}
        headers: {X-Hook-Token: s3cret}
        backoff_ms: 50
        max_retries: 3
    budgets: [ { tenant: acme, monthly: 500, at: [50, 80, 100] } ]
    anomaly: { window_minutes: 60, baseline_days: 7, factor: 3, min_cost: 2 }
    error_rate: { window_minutes: 5, threshold: 0.2, min_requests: 20 }
    evaluate_every_ms: 60000`,
  });
  gw = await startWithAlerts();
});

after(async () => {
  await gw?.stop();
  await sim?.stop();
  receiver?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('the history needs the admin token and takes only known filters', async () => {
  assert.equal((await fetch(`${gw.adminUrl}/admin/alerts`)).status, 401);
  assert.equal((await fetch(`${gw.adminUrl}/admin/alerts/test`, { method: 'POST' })).status, 401);
  assert.equal((await admin('GET', '/admin/alerts?type=bogus')).status, 400);
  assert.equal((await admin('GET', '/admin/alerts?limit=0')).status, 400);
  assert.equal((await admin('GET', '/admin/alerts?from=yesterday')).status, 400);
  assert.equal((await admin('POST', '/admin/alerts')).status, 405);
  assert.equal((await admin('GET', '/admin/alerts/test')).status, 405);
});

test('a spike fires an anomaly and steady traffic none; an error-rate spike fires; a failed delivery is retried', async () => {
  await evaluateAt(0);
  const { data } = await history();
  const anomalies = data.filter((a) => a.type === 'cost_anomaly');
  assert.deepEqual(anomalies.map((a) => a.subject), [{ tenant: 'spiky' }]);
  const spike = anomalies[0];
  assert.equal(spike.severity, 'warning');
  assert.ok(Math.abs(spike.values.cost - 10) < 1e-6, `cost ${spike.values.cost}`);
  assert.ok(Math.abs(spike.values.baseline_mean - 1) < 1e-6);
  assert.equal(spike.values.baseline_windows, 168);
  assert.equal(spike.thresholds.factor, 3);
  const errors = data.filter((a) => a.type === 'error_rate');
  assert.deepEqual(errors.map((a) => a.subject), [{ model: 'flaky' }]);
  assert.equal(errors[0].values.errors, 30);
  assert.equal(errors[0].values.requests, 100);
  assert.equal(data.filter((a) => a.type === 'budget').length, 0, 'acme is at 40%');

  // both reach the webhook; the first attempt got a 500 and was retried
  await waitFor('both alerts delivered', () => deliveredOf('cost_anomaly').length === 1 && deliveredOf('error_rate').length === 1);
  const body = deliveredOf('cost_anomaly')[0];
  assert.deepEqual(Object.keys(body).sort(), ['id', 'message', 'severity', 'subject', 'thresholds', 'time', 'type', 'values']);
  assert.match(body.time, /^2030-03-15T12:00:\d\dZ$/, 'the gateway\'s clock');
  const hook = received[0].headers;
  assert.equal(hook['x-hook-token'], 's3cret');
  assert.equal(hook['content-type'], 'application/json');
  assert.match(hook['x-aigw-alert-id'], /^alr_[0-9a-f]{16}$/);
  assert.equal(refused.length, 1);
  const retried = refused[0].body.id;
  assert.ok(received.some((r) => r.body.id === retried), 'the refused alert came again');
  await waitFor('the retried delivery recorded', async () => {
    const entry = (await history()).data.find((a) => a.id === retried);
    return entry.delivery.status === 'delivered' && entry.delivery.attempts === 2;
  });
  // a minute later the spike is still in the window: not again
  await evaluateAt(60);
  assert.equal((await history('?type=cost_anomaly')).data.length, 1);
  assert.equal((await history('?type=error_rate')).data.length, 1);
});

test('budgets fire at 50, 80 and 100 percent, each once, also after a restart', async () => {
  // acme spends today (minute rollups): 260, 410, 510 of 500 as the clock moves a minute each
  const steps = [[60, 120, 50], [150, 180, 80], [100, 240, 100]];
  for (const [cost, at, pct] of steps) {
    sql(rollup('minute', TODAY + 60 + at, 'acme', 'chat', { cost }));
    await evaluateAt(at);
    await waitFor(`the ${pct}% alert delivered`, () => deliveredOf('budget').some((b) => b.thresholds.percent === pct));
  }
  await evaluateAt(300); // nothing new spent: nothing new said
  const budgets = (await history('?type=budget')).data;
  assert.deepEqual(budgets.map((b) => b.thresholds.percent), [100, 80, 50], 'newest first, each once');
  assert.deepEqual(budgets.map((b) => b.severity), ['critical', 'warning', 'info']);
  const last = budgets[0];
  assert.deepEqual(last.subject, { tenant: 'acme' });
  assert.equal(last.values.spend, 510);
  assert.equal(last.values.budget, 500);
  assert.equal(last.values.period, 'monthly');
  assert.equal(last.values.period_start, '2030-03-01T00:00:00Z');
  assert.equal(last.thresholds.amount, 500);
  assert.deepEqual(deliveredOf('budget').map((b) => b.thresholds.percent).sort(), [100, 50, 80]);
  // filters: a time range holds only the 80% one (raised at T0+180 and a moment)
  const range = (await history(`?type=budget&from=${T0 + 160}&to=${new Date((T0 + 230) * 1000).toISOString().replace('.000', '')}`)).data;
  assert.deepEqual(range.map((b) => b.thresholds.percent), [80]);
  assert.equal((await history('?limit=1')).data.length, 1);

  // a restart reads what fired from the table: the same period does not fire again
  const evaluations = (await history('?limit=1')).stats.evaluations;
  assert.ok(evaluations >= 5);
  gw.tmpDir = null; // the config's directory outlives this process
  await gw.stop();
  gw = await startWithAlerts();
  await evaluateAt(360);
  assert.equal((await history('?type=budget')).data.length, 3);
  assert.equal((await history('?type=cost_anomaly')).data.length, 1, 'the anomaly is still cooling down');
  gw.tmpDir = config.dir;
  assert.equal(deliveredOf('budget').length, 3);
});

test('an engine that stops is an endpoint and a channel down, and up again when it returns', async () => {
  const port = sim.port;
  await sim.stop();
  sim = null;
  const checked = (type) => deliveredOf(type).filter((b) => b.subject.channel === 'checked');
  await waitFor('endpoint and channel down delivered', () => checked('endpoint_down').length === 1 && checked('channel_down').length === 1);
  const down = checked('endpoint_down')[0];
  assert.deepEqual(down.subject, { channel: 'checked', endpoint: `http://127.0.0.1:${port}/v1` });
  assert.equal(down.values.reason, 'health_check_failed');
  assert.equal(down.severity, 'warning');
  const channel = checked('channel_down')[0];
  assert.equal(channel.severity, 'critical');
  assert.deepEqual(channel.values, { endpoints: 1, endpoints_down: 1 });
  assert.ok(channel.time.startsWith('2030-03-15'), 'the gateway\'s clock');

  sim = await startSim(['--port', String(port)]);
  await waitFor('endpoint and channel up delivered', () => checked('endpoint_up').length === 1 && checked('channel_up').length === 1);
  assert.equal(checked('endpoint_down').length, 1, 'told once');
  const types = (await history('?limit=4')).data.map((a) => a.type);
  assert.deepEqual(types.sort(), ['channel_down', 'channel_up', 'endpoint_down', 'endpoint_up']);
});

test('an endpoint ejected by a request\'s failure is told from the worker that saw it', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'lost', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 502);
  const passive = (type) => deliveredOf(type).filter((b) => b.subject.channel === 'passive');
  await waitFor('endpoint and channel down delivered', () => passive('endpoint_down').length === 1 && passive('channel_down').length === 1);
  assert.match(passive('endpoint_down')[0].values.reason, /^upstream_/);
});

test('a reload changes the alerts at once', async () => {
  const budgets = 'budgets: [ { tenant: acme, monthly: 500, at: [50, 80, 100] } ]';
  assert.ok(config.yaml.includes(budgets));
  writeFileSync(config.file, config.yaml.replace(budgets,
    'budgets: [ { tenant: acme, monthly: 500, at: [50, 80, 100] }, { tenant: steady, daily: 1, at: [100] } ]'));
  assert.equal((await admin('POST', '/admin/reload')).status, 200);
  await evaluateAt(420); // steady spent 1.0 today, in its latest hour
  const steady = (await history('?type=budget')).data.filter((b) => b.subject.tenant === 'steady');
  assert.equal(steady.length, 1);
  assert.equal(steady[0].values.period, 'daily');
  assert.equal(steady[0].values.period_start, '2030-03-15T00:00:00Z');
  await waitFor('the daily budget delivered', () => deliveredOf('budget').some((b) => b.subject.tenant === 'steady'));
});

test('a test alert goes to every webhook', async () => {
  const res = await admin('POST', '/admin/alerts/test');
  assert.equal(res.status, 202);
  const { id } = await res.json();
  await waitFor('the test alert delivered', () => received.some((r) => r.body.id === id));
  const body = received.find((r) => r.body.id === id).body;
  assert.equal(body.type, 'test');
  assert.equal(body.severity, 'info');
  await waitFor('recorded as delivered', async () => (await history('?type=test')).data[0]?.delivery.status === 'delivered');
  await waitFor('the audit line', () => gw.lines().some((l) => l.event === 'audit' && l.action === 'alerts.test'));
});
