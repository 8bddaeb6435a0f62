// Prometheus metrics: traffic through the official openai SDK (plain answers, streams, a
// failover, an unknown model, a bad key, a rate limit) is counted exactly in GET /metrics on the
// admin listener; promtool accepts the exposition; a real Prometheus scrapes the gateway and
// every query of the Grafana dashboard in deploy/ returns data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, freePort, waitFor, SLOW } from './lib/harness.mjs';

const KEYS = { acme: 'sk-metrics-acme-0123456789abcdef', beta: 'sk-metrics-beta-0123456789abcdef', slow: 'sk-metrics-slow-0123456789abcdef' };
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');
const DASHBOARD = path.resolve(import.meta.dirname, '../../deploy/grafana/aigw-dashboard.json');

let sim, broken, gw, prom;

// The config, with `metrics` as given (a reload swaps it).
const extra = (metrics) => `auth:
  mode: api_key
  keys:
    - { name: acme, tenant: acme, key_sha256: ${sha(KEYS.acme)}, models: ["*"] }
    - { name: beta, tenant: beta, key_sha256: ${sha(KEYS.beta)}, models: ["*"] }
    - { name: slow, tenant: gamma, project: slow, key_sha256: ${sha(KEYS.slow)}, models: ["*"] }
limits:
  - { by: project, rpm: 1 }
metrics: ${metrics}
metering:
  store: var/metering.db
  prices:
    chat: { input: 0.15, output: 0.60, currency: USD }
    fo: { input: 1.0, output: 2.0, currency: USD }
log: { access: "off" }`;

before(async () => {
  [sim, broken] = await Promise.all([startSim(), startSim(['--models', '*', '--control-port', '0'])]);
  await broken.setFault('status:500');
  const config = await gatewayConfig({
    channels: `  - name: sim
    base_url: ${sim.url}/v1
    forward_headers: ["x-sim-*"]
  - name: broken
    base_url: ${broken.url}/v1
    health: { failures: 1000 }`,
    models: `  - {name: chat, channel: sim, upstream_model: sim-model}
  - name: fo
    targets:
      - { channel: broken }
      - { channel: sim, tier: 1, upstream_model: sim-model }
    failover: { on: [connect, 5xx], attempts: 2 }`,
    extra: extra('{ tenant_label: true }'),
  });
  gw = await startGateway(config);
  prom = await startPrometheus(gw.config.ports.admin);
});

after(async () => {
  await prom?.stop();
  await gw?.stop();
  await Promise.all([sim?.stop(), broken?.stop()]);
});

// --- Prometheus' text format, parsed: [{name, labels, value}] and the HELP/TYPE of each family
function parseExposition(text) {
  const samples = [];
  const types = new Map();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const t = line.match(/^# TYPE (\S+) (\S+)$/);
    if (t) { types.set(t[1], t[2]); continue; }
    if (line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = {};
    if (m[2]) {
      const body = m[2].slice(1, -1);
      let i = 0;
      while (i < body.length) {
        const eq = body.indexOf('=', i);
        const name = body.slice(i, eq);
        assert.equal(body[eq + 1], '"');
        let v = '';
        let k = eq + 2;
        for (; body[k] !== '"'; k++) {
          if (body[k] === '\\') { k++; v += body[k] === 'n' ? '\n' : body[k]; } else v += body[k];
        }
        labels[name] = v;
        i = k + 1;
        if (body[i] === ',') i++;
      }
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

// The value of the one sample with exactly these labels (0 when there is none).
function value(parsed, name, labels) {
  const hit = parsed.samples.filter((s) => s.name === name &&
    Object.keys(labels).length === Object.keys(s.labels).length &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(hit.length <= 1, `${name} ${JSON.stringify(labels)} appears ${hit.length} times`);
  return hit.length ? hit[0].value : 0;
}

async function scrape(headers = {}) {
  const res = await fetch(`${gw.adminUrl}/metrics`, { headers });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return res.text();
}

// --- traffic: what the callers saw, to compare with what the gateway counted
const seen = { requests: {}, tokens: {}, streamEvents: 0, limited: 0 };
const bump = (key, n = 1) => { seen.requests[key] = (seen.requests[key] || 0) + n; };
const addTokens = (key, usage) => {
  const t = (seen.tokens[key] ||= { prompt: 0, completion: 0 });
  t.prompt += usage.prompt_tokens;
  t.completion += usage.completion_tokens;
};
const client = (key) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
const messages = (n) => [{ role: 'user', content: `count these ${'words '.repeat(n)}please` }];

async function traffic() {
  for (let i = 0; i < 5; i++) { // plain answers
    const r = await client(KEYS.acme).chat.completions.create({ model: 'chat', messages: messages(i), max_tokens: 3 + i });
    bump('chat|sim|acme|200');
    addTokens('chat|sim|acme', r.usage);
  }
  for (let i = 0; i < 3; i++) { // streams, paced so every event is its own write
    const stream = await client(KEYS.beta).chat.completions.create(
      { model: 'chat', messages: messages(i + 2), max_tokens: 4, stream: true, stream_options: { include_usage: true } },
      { headers: { 'x-sim-inter-token-ms': '15' } });
    let usage;
    for await (const chunk of stream) { if (chunk.usage) usage = chunk.usage; seen.streamEvents++; }
    bump('chat|sim|beta|200');
    addTokens('chat|sim|beta', usage);
  }
  for (let i = 0; i < 2; i++) { // the broken channel answers 500: every request fails over once
    const { data, response } = await client(KEYS.acme).chat.completions.create(
      { model: 'fo', messages: messages(1), max_tokens: 2 }).withResponse();
    assert.equal(response.headers.get('x-aigw-attempts'), '2');
    bump('fo|sim|acme|200');
    addTokens('fo|sim|acme', data.usage);
  }
  await assert.rejects(client(KEYS.acme).chat.completions.create({ model: 'no-such-model', messages: messages(1) }),
    (e) => e.status === 404);
  bump('||acme|404');
  await assert.rejects(client('sk-wrong-key-0000000000000000').chat.completions.create({ model: 'chat', messages: messages(1) }),
    (e) => e.status === 401);
  bump('|||401');
  for (let i = 0; i < 3; i++) { // one a minute for project slow
    try {
      await client(KEYS.slow).chat.completions.create({ model: 'chat', messages: messages(1), max_tokens: 2 });
      bump('chat|sim|gamma|200');
    } catch (e) {
      assert.equal(e.status, 429);
      bump('chat||gamma|429');
      seen.limited++;
    }
  }
  assert.ok(seen.limited >= 1, 'the rate limit refused some');
}

function checkCounts(parsed) {
  for (const [key, n] of Object.entries(seen.requests)) {
    const [model, channel, tenant, status] = key.split('|');
    const labels = { model, channel, status, ...(tenant ? { tenant } : {}) };
    assert.equal(value(parsed, 'aigw_requests_total', labels), n, `requests ${key}`);
  }
  const total = parsed.samples.filter((s) => s.name === 'aigw_requests_total').reduce((a, s) => a + s.value, 0);
  const expected = Object.values(seen.requests).reduce((a, n) => a + n, 0);
  assert.equal(total, expected, 'no request counted twice or elsewhere');
  for (const [key, t] of Object.entries(seen.tokens)) {
    const [model, channel, tenant] = key.split('|');
    assert.equal(value(parsed, 'aigw_tokens_total', { model, channel, tenant, type: 'prompt' }), t.prompt, `prompt ${key}`);
    assert.equal(value(parsed, 'aigw_tokens_total', { model, channel, tenant, type: 'completion' }), t.completion, `completion ${key}`);
  }
  // the failover: one attempt at each channel per request, the broken one failed over
  const fo = seen.requests['fo|sim|acme|200'];
  assert.equal(value(parsed, 'aigw_attempts_total', { model: 'fo', channel: 'broken', tenant: 'acme' }), fo);
  assert.equal(value(parsed, 'aigw_failovers_total', { model: 'fo', channel: 'broken', tenant: 'acme' }), fo);
  assert.equal(value(parsed, 'aigw_attempts_total', { model: 'fo', channel: 'sim', tenant: 'acme' }), fo);
  assert.equal(value(parsed, 'aigw_failovers_total', { model: 'fo', channel: 'sim', tenant: 'acme' }), 0);
  assert.equal(value(parsed, 'aigw_refusals_total', { reason: 'auth' }), seen.requests['|||401']);
  assert.equal(value(parsed, 'aigw_refusals_total', { reason: 'rate_limit' }), seen.limited);
  // histograms: one duration per request; cumulative buckets end at +Inf = _count
  const acme = { model: 'chat', channel: 'sim', tenant: 'acme' };
  assert.equal(value(parsed, 'aigw_request_duration_seconds_count', acme), seen.requests['chat|sim|acme|200']);
  assert.equal(value(parsed, 'aigw_request_duration_seconds_bucket', { ...acme, le: '+Inf' }), seen.requests['chat|sim|acme|200']);
  assert.equal(value(parsed, 'aigw_first_token_seconds_count', acme), seen.requests['chat|sim|acme|200']);
  const beta = { model: 'chat', channel: 'sim', tenant: 'beta' };
  const gaps = value(parsed, 'aigw_inter_token_gap_seconds_count', beta);
  assert.ok(gaps >= seen.requests['chat|sim|beta|200'] && gaps < seen.streamEvents, `gaps ${gaps} of ${seen.streamEvents} events`);
  // paced at 15 ms: the gaps are measured between events, so few fall in the 5 ms bucket (the
  // simulator keeps a schedule: one step it sends late is followed by one on time, which the
  // gateway may read in the same turn on a loaded machine)
  const short = value(parsed, 'aigw_inter_token_gap_seconds_bucket', { ...beta, le: '0.005' });
  assert.ok(short <= gaps / 10, `${short} of ${gaps} gaps under 5 ms`);
  for (const name of ['aigw_request_duration_seconds', 'aigw_first_token_seconds', 'aigw_inter_token_gap_seconds']) {
    const byKey = new Map();
    for (const s of parsed.samples.filter((x) => x.name === `${name}_bucket`)) {
      const { le, ...rest } = s.labels;
      const k = JSON.stringify(rest);
      if (!byKey.has(k)) byKey.set(k, []);
      byKey.get(k).push([le === '+Inf' ? Infinity : Number(le), s.value]);
    }
    for (const [k, buckets] of byKey) {
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(buckets[i][0] > buckets[i - 1][0] && buckets[i][1] >= buckets[i - 1][1], `${name} ${k} cumulative`);
      }
      assert.equal(buckets.at(-1)[0], Infinity);
      assert.equal(buckets.at(-1)[1], value(parsed, `${name}_count`, JSON.parse(k)));
    }
  }
  // what every worker started adds up to the requests that ran the chain
  const started = parsed.samples.filter((s) => s.name === 'aigw_worker_requests_total').reduce((a, s) => a + s.value, 0);
  assert.equal(started, expected);
  assert.equal(value(parsed, 'aigw_endpoint_up', { channel: 'sim', endpoint: `${sim.url}/v1` }), 1);
  assert.equal(value(parsed, 'aigw_endpoint_failures_total', { channel: 'broken', endpoint: `${broken.url}/v1` }), fo);
  assert.equal(value(parsed, 'aigw_build_info', { version: '0.1.0' }), 1);
  assert.ok(value(parsed, 'process_resident_memory_bytes', {}) > 1e6);
  assert.ok(value(parsed, 'process_open_fds', {}) > 5);
  const start = value(parsed, 'process_start_time_seconds', {});
  assert.ok(Math.abs(start - Date.now() / 1000) < 3600, `start time ${start}`);
  assert.equal(value(parsed, 'aigw_store_queue_dropped_total', {}), 0);
  // every family is typed, and every sample belongs to a typed family
  for (const s of parsed.samples) {
    const family = parsed.types.has(s.name) ? s.name : s.name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(parsed.types.has(family), `${s.name} has no TYPE`);
  }
}

// --- a real Prometheus on loopback, with its own temp config and storage
async function startPrometheus(adminPort) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-prom-'));
  const port = await freePort();
  writeFileSync(path.join(dir, 'prometheus.yml'), `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: aigw
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:${adminPort}"]
`);
  const child = spawn('prometheus', [
    `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  await waitFor('prometheus to be ready', async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
    return (await fetch(`${url}/-/ready`)).status === 200;
  }, { timeoutMs: 30000 });
  return {
    url,
    query: async (q) => {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = await res.json();
      if (body.status !== 'success') throw new Error(`${q}: ${JSON.stringify(body)}`);
      return body.data.result;
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Every expr of the dashboard, with Grafana's variables as "All" would set them.
function dashboardQueries() {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  const vars = { __rate_interval: '1m', __interval: '15s', __range: '5m', job: '.*', model: '.*', channel: '.*' };
  for (const v of dash.templating.list) if (v.type === 'query') assert.ok(v.name in vars, `variable ${v.name} substituted`);
  const sub = (e) => e.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_, a, b) => {
    const name = a || b;
    assert.ok(name in vars, `unknown variable $${name} in ${e}`);
    return vars[name];
  });
  const out = [];
  const walk = (panels) => {
    for (const p of panels || []) {
      for (const t of p.targets || []) out.push({ panel: p.title, expr: sub(t.expr) });
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating.list) if (v.type === 'query') out.push({ panel: `variable ${v.name}`, expr: sub(v.query.query), variable: true });
  return out;
}

// A variable's label_values(series, label) is Grafana's: Prometheus answers it through its
// label values API.
async function runQuery(q) {
  const lv = q.variable && q.expr.match(/^label_values\((.*),\s*(\w+)\)$/);
  if (!lv) return prom.query(q.expr);
  const res = await fetch(`${prom.url}/api/v1/label/${lv[2]}/values?match[]=${encodeURIComponent(lv[1])}`);
  const body = await res.json();
  return body.data.map((v) => ({ value: [0, v === '' ? 'NaN' : '1'] }));
}

test('traffic is counted exactly, promtool accepts it, and every dashboard query returns data in a real Prometheus', async (t) => {
  // Prometheus has scraped the idle gateway once: rates will have a sample before the traffic
  await waitFor('a first scrape', async () => (await prom.query('up{job="aigw"} == 1')).length === 1, { timeoutMs: 30000 });
  await traffic();
  // a scrape that saw the first round, then a second round: every series then rises between
  // two samples, so each rate and quantile has something to say
  const firstRound = Object.values(seen.requests).reduce((a, n) => a + n, 0);
  await waitFor('the first round scraped', async () => {
    const r = await prom.query('sum(aigw_requests_total)');
    return r.length && Number(r[0].value[1]) >= firstRound;
  }, { timeoutMs: 30000 });
  await traffic();

  const text = await scrape();
  checkCounts(parseExposition(text));

  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);
  assert.equal((lint.stdout + lint.stderr).trim(), '', 'promtool found nothing to say');

  const total = Object.values(seen.requests).reduce((a, n) => a + n, 0);
  await waitFor('Prometheus to scrape all traffic', async () => {
    const r = await prom.query('sum(aigw_requests_total{job="aigw"})');
    return r.length && Number(r[0].value[1]) === total;
  }, { timeoutMs: 30000 });
  // cost series exist once a model has a price (metering.prices); until then only the cost
  // panel is left out, and said so
  const hasCost = text.includes('\naigw_cost_total{');
  assert.ok(hasCost, 'priced models have cost series');
  const queries = dashboardQueries();
  let checked = 0;
  for (const q of queries) {
    if (!hasCost && q.expr.includes('aigw_cost_total')) {
      t.diagnostic(`not checked (no price configured, no cost series): ${q.panel}`);
      continue;
    }
    const result = await waitFor(`data for "${q.panel}": ${q.expr}`, async () => {
      const r = await runQuery(q);
      return r.some((s) => Number.isFinite(Number(s.value[1]))) && r;
    }, { timeoutMs: 20000 });
    assert.ok(result.length > 0, q.panel);
    checked++;
  }
  assert.ok(checked >= queries.length - 1 && checked > 30, `${checked} of ${queries.length} queries checked`);
});

test('/metrics is open by default; metrics.require_token asks for the admin token after a reload, and no count goes back', async () => {
  const before = parseExposition(await scrape());
  const key = { model: 'chat', channel: 'sim', tenant: 'acme', status: '200' };
  const config = gw.config;
  writeFileSync(config.file, config.yaml.replace('{ tenant_label: true }', '{ tenant_label: true, require_token: true }'));
  const res = await fetch(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
  assert.equal(res.status, 200, await res.text());
  const refused = await fetch(`${gw.adminUrl}/metrics`);
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error.code, 'invalid_admin_token');
  await client(KEYS.acme).chat.completions.create({ model: 'chat', messages: messages(1), max_tokens: 1 });
  const after = parseExposition(await scrape({ authorization: 'Bearer test-admin-token' }));
  assert.equal(value(after, 'aigw_requests_total', key), value(before, 'aigw_requests_total', key) + 1);
  const post = await fetch(`${gw.adminUrl}/metrics`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
  assert.equal(post.status, 405);
  // the API port does not serve it
  const api = await fetch(`${gw.url}/metrics`);
  assert.equal(api.status, 404);
  writeFileSync(config.file, config.yaml);
  const back = await fetch(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
  assert.equal(back.status, 200);
  assert.equal((await fetch(`${gw.adminUrl}/metrics`)).status, 200);
});
