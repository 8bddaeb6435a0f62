// The metering store as the admin API reads it. Thousands of request records, made here with
// known values, go through the real store writer (build/test_meter_store --fill: the writer's
// own queue, batches and rollups, from several threads) into a SQLite file; the real gateway
// then serves that file, and every answer of /admin/usage (totals, Top-N, timelines, CSV) and
// /admin/requests (search with a cursor, the full chain, replay at its pace, the merged view)
// is checked against sums computed here from the records themselves. A store locked by another
// process (the sqlite3 CLI in BEGIN EXCLUSIVE) neither blocks the writer's submits (it drops
// and counts) nor the admin API's reads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUILD, SLOW, startGateway, gatewayConfig, waitFor } from './lib/harness.mjs';

const FILL = path.join(BUILD, 'test_meter_store');
const T0 = 1717200000; // 2024-06-01T00:00:00Z
const DAY = 86400;
const COUNT = 3000;

// --- the records ---

function prng(seed) { // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const tenants = ['acme', 'globex', 'initech', 'umbrella, "ltd"'];
const projects = ['search', 'chatbot', '=cmd'];
const models = ['chat', 'smart', 'embed', 'reasoner', 'tiny'];
const statuses = [200, 200, 200, 200, 200, 200, 429, 502, 504, 499, 0];

const sse = (o) => `data: ${JSON.stringify(o)}\n\n`;
// the captured answers: OpenAI and Anthropic streams and whole answers, events at known times
const captures = {
  openaiStream: {
    path: '/v1/chat/completions', stream: 1,
    response: [
      [150000, sse({ id: 'chatcmpl-1', model: 'chat', choices: [{ index: 0, delta: { role: 'assistant', reasoning_content: 'Think' } }] })],
      [250000, sse({ id: 'chatcmpl-1', model: 'chat', choices: [{ index: 0, delta: { reasoning_content: 'ing.' } }] })],
      [400000, sse({ id: 'chatcmpl-1', model: 'chat', choices: [{ index: 0, delta: { content: 'Hello, ' } }] })],
      [550000, sse({ id: 'chatcmpl-1', model: 'chat', choices: [{ index: 0, delta: { content: 'wörld' } }] })],
      [700000, sse({ id: 'chatcmpl-1', model: 'chat', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'lookup', arguments: '{"q":' } }] } }] })],
      [750000, sse({ id: 'chatcmpl-1', model: 'chat', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"x"}' } }, { index: 1, id: 'call_b', function: { name: 'now', arguments: '{}' } }] }, finish_reason: 'tool_calls' }] })],
      [800000, `${sse({ id: 'chatcmpl-1', model: 'chat', choices: [], usage: { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16 } })}data: [DONE]\n\n`],
    ],
  },
  anthropicStream: {
    path: '/v1/messages', stream: 1,
    response: [
      [100000, `event: message_start\n${sse({ type: 'message_start', message: { id: 'msg_1', model: 'smart', usage: { input_tokens: 5, output_tokens: 1 } } })}`],
      [120000, `event: content_block_start\n${sse({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } })}`],
      [140000, `event: content_block_delta\n${sse({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Hmm.' } })}`],
      [160000, `event: content_block_start\n${sse({ type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } })}`],
      [180000, `event: content_block_delta\n${sse({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hi ' } })}`],
      [200000, `event: content_block_delta\n${sse({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'there' } })}`],
      [220000, `event: content_block_start\n${sse({ type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } })}`],
      [240000, `event: content_block_delta\n${sse({ type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"city":"Par' } })}`],
      [260000, `event: content_block_delta\n${sse({ type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: 'is"}' } })}`],
      [280000, `event: message_delta\n${sse({ type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 12 } })}`],
      [300000, `event: message_stop\n${sse({ type: 'message_stop' })}`],
    ],
  },
  openaiWhole: {
    path: '/v1/chat/completions', stream: 0,
    response: [[90000, JSON.stringify({ id: 'chatcmpl-2', model: 'chat', choices: [{ index: 0, message: { role: 'assistant', content: 'Whole answer', reasoning_content: 'why' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2 } })]],
  },
  anthropicWhole: {
    path: '/v1/messages', stream: 0,
    response: [[80000, JSON.stringify({ id: 'msg_2', type: 'message', model: 'smart', content: [{ type: 'text', text: 'Sure.' }, { type: 'tool_use', id: 'toolu_2', name: 'calc', input: { x: 1 } }], stop_reason: 'tool_use', usage: { input_tokens: 4, output_tokens: 6 } })]],
  },
};

function makeRecords() {
  const rand = prng(20240601);
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const records = [];
  for (let i = 0; i < COUNT; i++) {
    const prompt = Math.floor(rand() * 4000);
    const cached = Math.floor(rand() * prompt * 0.5);
    const completion = Math.floor(rand() * 1500);
    const status = pick(statuses);
    const attempts = [];
    const tries = 1 + Math.floor(rand() * 3);
    for (let a = 0; a < tries; a++) {
      attempts.push({
        channel: `ch-${a}`, endpoint: `127.0.0.1:${8000 + a}`, upstream_model: 'sim-model',
        status: a + 1 < tries ? 503 : status, error: a + 1 < tries ? 'status' : '',
        start_us: a * 1000, first_byte_us: a + 1 < tries ? -1 : a * 1000 + 500, end_us: a * 1000 + 900,
      });
    }
    records.push({
      id: `req_it${String(i).padStart(6, '0')}`,
      // three days, and a few records exactly on minute, hour and day boundaries
      time_ms: i % 97 === 0 ? (T0 + DAY * (1 + (i % 2)) + 3600 * (i % 5)) * 1000
        : T0 * 1000 + Math.floor(rand() * 3 * DAY * 1000),
      trace_id: (i.toString(16).padStart(8, '0')).repeat(4),
      span_id: (i.toString(16).padStart(8, '0')).repeat(2),
      parent_id: i % 3 ? '' : 'a'.repeat(16),
      tenant: pick(tenants),
      project: pick(projects),
      key_id: `key_${Math.floor(rand() * 7)}`,
      client_ip: '127.0.0.1',
      path: '/v1/chat/completions',
      protocol: 'openai',
      model: pick(models),
      upstream_model: 'sim-model',
      channel: attempts[attempts.length - 1].channel,
      endpoint: attempts[attempts.length - 1].endpoint,
      stream: i % 2,
      status,
      error_code: status >= 400 || status === 0 ? 'upstream_failed' : '',
      usage: {
        prompt_tokens: prompt, completion_tokens: completion, cached_tokens: cached,
        reasoning_tokens: Math.floor(completion / 4), known: i % 13 ? 1 : 0,
      },
      estimated: i % 13 ? 0 : 1,
      cost: Math.round(rand() * 1e6) / 1e9,
      currency: 'USD',
      first_token_us: 1000 + i,
      latency_us: 50000 + i,
      stream_events: i % 50,
      max_gap_us: 700,
      attempts,
    });
  }
  // the captured ones
  const captured = Object.entries(captures);
  captured.forEach(([name, c], k) => {
    const r = records[k * 11 + 1];
    r.id = `req_cap_${name}`;
    r.path = c.path;
    r.protocol = c.path === '/v1/messages' ? 'anthropic' : 'openai';
    r.stream = c.stream;
    r.request_body = JSON.stringify({ model: r.model, messages: [{ role: 'user', content: `hi ${name}` }] });
    r.response = c.response;
  });
  return records;
}

const records = makeRecords();

// --- sums over the records, as the API should answer them ---

const dimOf = { tenant: (r) => r.tenant, project: (r) => r.project, key: (r) => r.key_id, model: (r) => r.model };
const minuteOf = (r) => Math.floor(r.time_ms / 60000) * 60;

function sumUp(list) {
  const s = {
    requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cached_tokens: 0,
    reasoning_tokens: 0, cost: 0, estimated_requests: 0,
  };
  for (const r of list) {
    s.requests++;
    s.errors += r.status >= 500 || r.status === 0 ? 1 : 0;
    s.prompt_tokens += r.usage.prompt_tokens;
    s.completion_tokens += r.usage.completion_tokens;
    s.total_tokens += r.usage.prompt_tokens + r.usage.completion_tokens;
    s.cached_tokens += r.usage.cached_tokens;
    s.reasoning_tokens += r.usage.reasoning_tokens;
    s.cost += r.cost;
    s.estimated_requests += r.estimated;
  }
  return s;
}

function groupSums(list, dims) {
  const groups = new Map();
  for (const r of list) {
    const k = JSON.stringify(dims.map((d) => dimOf[d](r)));
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  return [...groups].map(([k, rs]) => {
    const values = JSON.parse(k);
    return { ...Object.fromEntries(dims.map((d, i) => [d, values[i]])), ...sumUp(rs) };
  });
}

const inRange = (fromS, toS) => records.filter((r) => minuteOf(r) >= fromS && minuteOf(r) < toS);

function assertRows(actual, expected, dims, what) {
  const keyOf = (row) => JSON.stringify(dims.map((d) => row[d]));
  const want = new Map(expected.map((e) => [keyOf(e), e]));
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} rows, expected ${expected.length}`);
  for (const row of actual) {
    const e = want.get(keyOf(row));
    assert.ok(e, `${what}: unexpected group ${keyOf(row)}`);
    for (const [k, v] of Object.entries(e)) {
      if (k === 'cost') assert.ok(Math.abs(row.cost - v) < 1e-9, `${what} ${keyOf(row)}: cost ${row.cost} != ${v}`);
      else assert.equal(row[k], v, `${what} ${keyOf(row)}: ${k}`);
    }
  }
}

// --- the gateway on the filled store ---

let gw, config, dbPath, fillResult;
const admin = (p) => fetch(`${gw.adminUrl}${p}`, { headers: { authorization: 'Bearer test-admin-token' } });
const adminJson = async (p, status = 200) => {
  const res = await admin(p);
  const text = await res.text();
  assert.equal(res.status, status, `${p}: ${text}`);
  return JSON.parse(text);
};

const meteringYaml = (store) => `metering:
  store: ${store}
  prices:
    chat: { input: 0.15, output: 0.60, cached_input: 0.075, currency: USD }
  retention: { days: 0, max_mb: 0, minute_rollup_days: 0 }
`;

function fill(db, list, args = []) {
  const file = `${db}.records.jsonl`;
  writeFileSync(file, list.map((r) => JSON.stringify(r)).join('\n'));
  const out = execFileSync(FILL, ['--fill', db, file, ...args], { encoding: 'utf8', timeout: 120000 * SLOW });
  return JSON.parse(out.trim().split('\n').pop());
}

before(async () => {
  config = await gatewayConfig({
    channels: '  - {name: nowhere, type: openai, base_url: "http://127.0.0.1:9/v1"}',
    models: '  - {name: chat, channel: nowhere}',
    extra: meteringYaml('usage.db'),
  });
  dbPath = path.join(config.dir, 'usage.db');
  fillResult = fill(dbPath, records, ['--threads', '4', '--batch', '128']);
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
});

test('the writer took every record from four threads and wrote it', () => {
  assert.equal(fillResult.records, COUNT);
  assert.equal(fillResult.submitted, COUNT);
  assert.equal(fillResult.dropped, 0);
  assert.equal(fillResult.rows, COUNT);
});

test('totals over the whole range, grouped by every dimension and by none', async () => {
  const all = records;
  const from = T0, to = T0 + 3 * DAY + 60;
  const groupings = [[], ['tenant'], ['model'], ['key'], ['tenant', 'project', 'key', 'model'], ['model', 'tenant']];
  for (const dims of groupings) {
    const q = `/admin/usage?from=${from}&to=${to}${dims.length ? `&group_by=${dims.join(',')}` : ''}`;
    const body = await adminJson(q);
    assert.equal(body.object, 'usage');
    assert.deepEqual(body.group_by, dims);
    assert.equal(body.currency, 'USD');
    assert.equal(body.truncated, false);
    assertRows(body.data, groupSums(all, dims), dims, q);
    // every row names exactly its group's dimensions
    for (const row of body.data) for (const d of ['tenant', 'project', 'key', 'model']) assert.equal(d in row, dims.includes(d));
  }
});

test('ranges are exact to the minute: days, hours and minutes combined, RFC 3339 or unix seconds', async () => {
  const ranges = [
    [T0 + DAY + 13 * 3600 + 7 * 60, T0 + 2 * DAY + 5 * 3600 + 31 * 60], // minutes, hours, a day... no: hours and minutes
    [T0 + 3600 * 5 + 60 * 59, T0 + 2 * DAY + 3600 * 2 + 60], // minutes, hours, one whole day, hours, minutes
    [T0 + DAY, T0 + 2 * DAY], // exactly one day
    [T0 + DAY + 600, T0 + DAY + 1800], // minutes within one hour
    [T0 + DAY + 3600, T0 + DAY + 7 * 3600], // whole hours
  ];
  for (const [from, to] of ranges) {
    const iso = (s) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');
    for (const q of [`from=${from}&to=${to}`, `from=${iso(from)}&to=${iso(to)}`,
      `from=${encodeURIComponent(new Date(from * 1000 + 8 * 3600000).toISOString().replace('Z', '').replace('.000', ''))}%2B08:00&to=${to}`]) {
      const body = await adminJson(`/admin/usage?${q}&group_by=model`);
      assertRows(body.data, groupSums(inRange(from, to), ['model']), ['model'], q);
    }
  }
  // a from inside a minute counts that whole minute; a to inside one counts it too
  const body = await adminJson(`/admin/usage?from=${T0 + DAY + 30}&to=${T0 + DAY + 3600 - 30}`);
  assertRows(body.data, [sumUp(inRange(T0 + DAY, T0 + DAY + 3600))], [], 'rounded');
});

test('CSV: the same rows, a header, quoting and defused formulas', async () => {
  const from = T0, to = T0 + 3 * DAY + 60;
  const res = await admin(`/admin/usage?from=${from}&to=${to}&group_by=tenant,project&format=csv`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/csv/);
  const text = await res.text();
  const lines = text.split('\r\n').filter(Boolean);
  assert.equal(lines[0], 'tenant,project,requests,errors,prompt_tokens,completion_tokens,total_tokens,cached_tokens,reasoning_tokens,cost,estimated_requests');
  // a minimal CSV reader: quoted fields with doubled quotes
  const parse = (line) => {
    const out = [];
    let i = 0;
    while (i <= line.length) {
      if (line[i] === '"') {
        let v = '';
        i++;
        for (;;) {
          if (line[i] === '"' && line[i + 1] === '"') { v += '"'; i += 2; } else if (line[i] === '"') { i++; break; } else v += line[i++];
        }
        out.push(v);
        i++;
      } else {
        const j = line.indexOf(',', i);
        out.push(line.slice(i, j < 0 ? line.length : j));
        i = j < 0 ? line.length + 1 : j + 1;
      }
    }
    return out;
  };
  const header = parse(lines[0]);
  const rows = lines.slice(1).map((l) => {
    const f = parse(l);
    assert.equal(f.length, header.length, l);
    const row = Object.fromEntries(header.map((h, i) => [h, i < 2 ? f[i] : Number(f[i])]));
    row.project = row.project.replace(/^'/, ''); // a defused formula
    return row;
  });
  assertRows(rows, groupSums(records, ['tenant', 'project']), ['tenant', 'project'], 'csv');
  assert.ok(text.includes('"umbrella, ""ltd"""'), 'a field with a comma and quotes is quoted');
  assert.ok(text.includes(",\"'=cmd\","), 'a leading = is defused');
});

test('Top-N by each dimension and metric', async () => {
  const from = T0, to = T0 + 3 * DAY + 60;
  const metricOf = { tokens: (s) => s.total_tokens, cost: (s) => s.cost, requests: (s) => s.requests };
  for (const by of ['model', 'tenant', 'project', 'key']) {
    for (const metric of ['tokens', 'cost', 'requests']) {
      const body = await adminJson(`/admin/usage/top?by=${by}&metric=${metric}&n=3&from=${from}&to=${to}`);
      assert.equal(body.by, by);
      assert.equal(body.metric, metric);
      const expected = groupSums(records, [by])
        .sort((a, b) => metricOf[metric](b) - metricOf[metric](a) || (a[by] < b[by] ? -1 : 1))
        .slice(0, 3);
      assert.deepEqual(body.data.map((r) => r[by]), expected.map((r) => r[by]), `${by} by ${metric}`);
      assertRows(body.data, expected, [by], `top ${by} ${metric}`);
    }
  }
  // the defaults: by model, tokens, 10
  const body = await adminJson(`/admin/usage/top?from=${from}&to=${to}`);
  assert.equal(body.by, 'model');
  assert.equal(body.metric, 'tokens');
  assert.equal(body.data.length, models.length);
});

test('timelines at a minute, an hour and a day, grouped and not', async () => {
  const cases = [
    ['hour', T0 + DAY, T0 + 2 * DAY, ['model']],
    ['minute', T0 + DAY + 3 * 3600, T0 + DAY + 4 * 3600, []],
    ['day', T0, T0 + 3 * DAY, ['tenant']],
  ];
  for (const [bucket, from, to, dims] of cases) {
    const size = { minute: 60, hour: 3600, day: DAY }[bucket];
    const body = await adminJson(`/admin/usage/timeline?bucket=${bucket}&from=${from}&to=${to}${dims.length ? `&group_by=${dims}` : ''}`);
    assert.equal(body.bucket, bucket);
    const list = records.filter((r) => Math.floor(r.time_ms / 1000) >= from && Math.floor(r.time_ms / 1000) < to);
    const byBucket = new Map();
    for (const r of list) {
      const t = Math.floor(r.time_ms / 1000 / size) * size;
      if (!byBucket.has(t)) byBucket.set(t, []);
      byBucket.get(t).push(r);
    }
    const expected = [...byBucket].flatMap(([t, rs]) => groupSums(rs, dims).map((g) => ({ t, ...g })));
    assertRows(body.data, expected, ['t', ...dims], `timeline ${bucket}`);
    // in time order, each with its time written out
    for (let i = 1; i < body.data.length; i++) assert.ok(body.data[i].t >= body.data[i - 1].t);
    for (const p of body.data) assert.equal(p.time, new Date(p.t * 1000).toISOString().replace('.000Z', 'Z'));
  }
});

test('request search: filters, newest first, every page through the cursor once', async () => {
  const filters = [
    ['', () => true],
    ['tenant=acme', (r) => r.tenant === 'acme'],
    [`tenant=${encodeURIComponent('umbrella, "ltd"')}&model=chat`, (r) => r.tenant === 'umbrella, "ltd"' && r.model === 'chat'],
    ['key=key_3&status=5xx', (r) => r.key_id === 'key_3' && r.status >= 500 && r.status <= 599],
    ['status=429', (r) => r.status === 429],
    [`from=${T0 + DAY}&to=${new Date((T0 + DAY + 7200) * 1000).toISOString()}`, (r) => r.time_ms >= (T0 + DAY) * 1000 && r.time_ms < (T0 + DAY + 7200) * 1000],
  ];
  for (const [q, keep] of filters) {
    const want = records.filter(keep);
    const seen = [];
    let cursor = null, pages = 0;
    do {
      const body = await adminJson(`/admin/requests?limit=97${q ? `&${q}` : ''}${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(body.object, 'list');
      assert.ok(body.data.length <= 97);
      seen.push(...body.data);
      cursor = body.next_cursor;
      assert.equal(body.has_more, cursor !== null);
      pages++;
    } while (cursor && pages < 100);
    assert.equal(seen.length, want.length, `search ${q}`);
    assert.equal(new Set(seen.map((r) => r.id)).size, seen.length, 'no request twice');
    assert.deepEqual(new Set(seen.map((r) => r.id)), new Set(want.map((r) => r.id)));
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].time_ms <= seen[i - 1].time_ms, 'newest first');
  }
  // a summary carries what a list needs
  const body = await adminJson('/admin/requests?limit=1&model=chat');
  const row = body.data[0];
  const rec = records.find((r) => r.id === row.id);
  assert.equal(row.tenant, rec.tenant);
  assert.equal(row.key, rec.key_id);
  assert.equal(row.prompt_tokens, rec.usage.prompt_tokens);
  assert.equal(row.status, rec.status);
  assert.equal(row.attempts, rec.attempts.length);
  assert.equal(row.time, new Date(rec.time_ms).toISOString().replace('.000Z', 'Z'));
  assert.equal((await adminJson('/admin/requests?limit=1000')).data.length, 1000);
});

test('one request: the full chain, every attempt, trace context; 404 for an unknown id', async () => {
  const rec = records.find((r) => r.attempts.length === 3 && r.parent_id);
  const body = await adminJson(`/admin/requests/${rec.id}`);
  assert.equal(body.id, rec.id);
  assert.equal(body.time_ms, rec.time_ms);
  assert.equal(body.trace.trace_id, rec.trace_id);
  assert.equal(body.trace.span_id, rec.span_id);
  assert.equal(body.trace.parent_id, rec.parent_id);
  assert.equal(body.trace.traceparent, `00-${rec.trace_id}-${rec.span_id}-01`);
  assert.deepEqual(body.identity, { tenant: rec.tenant, project: rec.project, key: rec.key_id, client_ip: '127.0.0.1' });
  assert.deepEqual(body.route, { upstream_model: 'sim-model', channel: rec.channel, endpoint: rec.endpoint });
  assert.equal(body.status, rec.status);
  assert.equal(body.usage.prompt_tokens, rec.usage.prompt_tokens);
  assert.equal(body.usage.cached_tokens, rec.usage.cached_tokens);
  assert.equal(body.usage.estimated, rec.estimated === 1);
  assert.equal(body.timings.first_token_ms, rec.first_token_us / 1000);
  assert.equal(body.timings.latency_ms, rec.latency_us / 1000);
  assert.equal(body.attempts.length, 3);
  body.attempts.forEach((a, i) => {
    const e = rec.attempts[i];
    assert.equal(a.n, i + 1);
    for (const k of ['channel', 'endpoint', 'upstream_model', 'status', 'error', 'start_us', 'first_byte_us', 'end_us']) assert.equal(a[k], e[k], `attempt ${i} ${k}`);
  });
  assert.equal(body.capture, null);
  const cap = await adminJson('/admin/requests/req_cap_openaiStream');
  assert.equal(cap.capture.request_body, records.find((r) => r.id === 'req_cap_openaiStream').request_body);
  assert.equal(cap.capture.response_events, captures.openaiStream.response.length);
  const missing = await adminJson('/admin/requests/req_nope', 404);
  assert.equal(missing.error.code, 'request_not_found');
  assert.equal((await adminJson('/admin/requests/a%20b', 404)).error.code, 'request_not_found');
});

// Reads an SSE replay, noting when each event arrived.
async function readReplay(p) {
  const started = performance.now();
  const res = await admin(p);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const arrivals = [];
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    text += decoder.decode(chunk, { stream: true });
    const events = text.split('\n\n').length - 1;
    while (arrivals.length < events) arrivals.push(performance.now() - started);
  }
  return { text, arrivals, total: performance.now() - started };
}

test('replay: the stream as the caller got it, at its pace, faster, or at once', async () => {
  const c = captures.openaiStream;
  const want = c.response.map(([, d]) => d).join('');
  const original = await readReplay('/admin/requests/req_cap_openaiStream/replay');
  assert.equal(original.text, want);
  // no event earlier than its time (the last one: 800 ms after the request)
  const eventTimes = c.response.flatMap(([t, d]) => Array(d.split('\n\n').length - 1).fill(t / 1000));
  original.arrivals.forEach((ms, i) => assert.ok(ms >= eventTimes[i] - 5, `event ${i} at ${ms} ms, due at ${eventTimes[i]}`));
  const fast = await readReplay('/admin/requests/req_cap_openaiStream/replay?speed=4');
  assert.equal(fast.text, want);
  assert.ok(fast.total >= 800 / 4 - 5, `speed=4 took ${fast.total} ms`);
  assert.ok(fast.total < original.total, `speed=4 (${fast.total} ms) is faster than 1 (${original.total} ms)`);
  const now = await readReplay('/admin/requests/req_cap_openaiStream/replay?speed=0');
  assert.equal(now.text, want);
  assert.ok(now.total < fast.total, `speed=0 (${now.total} ms) is at once`);
  // an Anthropic stream, verbatim, event names included
  const anth = await readReplay('/admin/requests/req_cap_anthropicStream/replay?speed=0');
  assert.equal(anth.text, captures.anthropicStream.response.map(([, d]) => d).join(''));
  // a whole answer is answered whole
  const whole = await admin('/admin/requests/req_cap_openaiWhole/replay');
  assert.equal(whole.status, 200);
  assert.equal(await whole.text(), captures.openaiWhole.response[0][1]);
  // nothing captured
  const none = records.find((r) => !r.response);
  assert.equal((await adminJson(`/admin/requests/${none.id}/replay`, 404)).error.code, 'no_capture');
});

test('replay view=merged: content, reasoning and tool calls assembled', async () => {
  const o = await adminJson('/admin/requests/req_cap_openaiStream/replay?view=merged');
  assert.equal(o.object, 'request.merged');
  assert.equal(o.content, 'Hello, wörld');
  assert.equal(o.reasoning, 'Thinking.');
  assert.deepEqual(o.tool_calls, [
    { id: 'call_a', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } },
    { id: 'call_b', type: 'function', function: { name: 'now', arguments: '{}' } },
  ]);
  assert.equal(o.finish_reason, 'tool_calls');
  assert.deepEqual(o.usage, { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16 });
  assert.equal(o.model, 'chat');
  assert.equal(o.events, 7);
  const a = await adminJson('/admin/requests/req_cap_anthropicStream/replay?view=merged');
  assert.equal(a.content, 'Hi there');
  assert.equal(a.reasoning, 'Hmm.');
  assert.deepEqual(a.tool_calls, [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
  assert.equal(a.finish_reason, 'tool_use');
  assert.equal(a.response_id, 'msg_1');
  const w = await adminJson('/admin/requests/req_cap_openaiWhole/replay?view=merged');
  assert.equal(w.content, 'Whole answer');
  assert.equal(w.reasoning, 'why');
  assert.equal(w.finish_reason, 'stop');
  const aw = await adminJson('/admin/requests/req_cap_anthropicWhole/replay?view=merged');
  assert.equal(aw.content, 'Sure.');
  assert.deepEqual(aw.tool_calls, [{ id: 'toolu_2', type: 'function', function: { name: 'calc', arguments: '{"x":1}' } }]);
});

test('bad parameters: 400 in OpenAI\'s shape naming the parameter; the admin token is required', async () => {
  const cases = [
    ['/admin/usage?from=yesterday', 'from'],
    ['/admin/usage?to=2024-13-01T00:00:00Z', 'to'],
    [`/admin/usage?from=${T0 + 60}&to=${T0}`, 'from'],
    ['/admin/usage?group_by=tenant,colour', 'group_by'],
    ['/admin/usage?group_by=model,model', 'group_by'],
    ['/admin/usage?format=xml', 'format'],
    ['/admin/usage?groupby=model', 'groupby'],
    ['/admin/usage?from=1&from=2', 'from'],
    ['/admin/usage/top?by=colour', 'by'],
    ['/admin/usage/top?metric=joy', 'metric'],
    ['/admin/usage/top?n=0', 'n'],
    ['/admin/usage/top?n=1001', 'n'],
    ['/admin/usage/top?group_by=model', 'group_by'],
    ['/admin/usage/timeline?bucket=week', 'bucket'],
    [`/admin/usage/timeline?bucket=minute&from=${T0}&to=${T0 + 8 * DAY}`, 'bucket'],
    ['/admin/requests?status=999', 'status'],
    ['/admin/requests?limit=0', 'limit'],
    ['/admin/requests?limit=5000', 'limit'],
    ['/admin/requests?cursor=abc', 'cursor'],
    ['/admin/requests?colour=red', 'colour'],
    ['/admin/requests/req_cap_openaiStream/replay?speed=-1', 'speed'],
    ['/admin/requests/req_cap_openaiStream/replay?speed=fast', 'speed'],
    ['/admin/requests/req_cap_openaiStream/replay?view=diff', 'view'],
  ];
  for (const [p, param] of cases) {
    const body = await adminJson(p, 400);
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'], p);
    assert.equal(body.error.type, 'invalid_request_error', p);
    assert.equal(body.error.param, param, p);
    assert.ok(body.error.message.includes(param), `${p}: ${body.error.message}`);
  }
  assert.equal((await fetch(`${gw.adminUrl}/admin/usage`)).status, 401);
  assert.equal((await fetch(`${gw.adminUrl}/admin/requests`)).status, 401);
  const post = await fetch(`${gw.adminUrl}/admin/usage`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
  assert.equal(post.status, 405);
  assert.equal((await adminJson('/admin/usage/nope', 404)).error.code, 'unknown_url');
});

// The sqlite3 CLI holding a write lock on a file, as another process would.
async function lockStore(file) {
  const cli = spawn('sqlite3', [file], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  cli.stdout.on('data', (d) => { out += d; });
  // .timeout: the CLI waits for a lock the gateway's writer holds for a moment, instead of
  // failing BEGIN at once and printing 'locked' without holding anything (.bail: an error ends it)
  cli.stdin.write(".bail on\n.timeout 10000\nBEGIN EXCLUSIVE;\nINSERT INTO meter_schema SELECT version FROM meter_schema WHERE 0;\nSELECT 'locked';\n");
  await waitFor('sqlite3 to hold the lock', () => out.includes('locked'));
  return {
    release: () => new Promise((resolve) => {
      cli.on('exit', resolve);
      cli.stdin.end('COMMIT;\n.quit\n');
    }),
  };
}

test('a store locked by another process: submits never wait (the queue fills, then drops are counted), reads go on', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-meter-lock-'));
  try {
    const db = path.join(dir, 'locked.db');
    fill(db, records.slice(0, 10)); // makes the file and its tables
    const lock = await lockStore(db);
    let result;
    try {
      // a small queue, a short stop: everything the queue took is lost at stop, the rest dropped
      result = fill(db, records.slice(0, 2000), ['--queue', '16', '--batch', '4', '--threads', '4', '--stop-ms', '300']);
    } finally {
      await lock.release();
    }
    assert.equal(result.records, 2000);
    assert.equal(result.submitted + result.dropped, 2000);
    assert.ok(result.dropped >= 2000 - 16 - 4 * 2, `dropped ${result.dropped}`);
    assert.equal(result.refused, result.dropped, 'every refused submit is counted as dropped');
    assert.ok(result.store_busy > 0, 'the writer met the lock');
    assert.equal(result.rows, 10, 'nothing was written while the lock held');
    assert.ok(result.stop_ms < 300 + 2000, `stop took ${result.stop_ms} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // the gateway's own store, locked: the admin API still answers from its read connection
  const lock = await lockStore(dbPath);
  try {
    const body = await adminJson(`/admin/usage?from=${T0}&to=${T0 + 3 * DAY + 60}`);
    assert.equal(body.data[0].requests, COUNT);
  } finally {
    await lock.release();
  }
});

test('a reload that moves the store waits for a restart; without a metering section the API says so', async () => {
  writeFileSync(config.file, `${config.yaml.replace('store: usage.db', 'store: other.db')}`);
  const res = await fetch(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.ok(body.restart_required.includes('metering.store'));
  // still reading the store it started with
  assert.equal((await adminJson(`/admin/usage?from=${T0}&to=${T0 + 3 * DAY + 60}`)).data[0].requests, COUNT);
  writeFileSync(config.file, config.yaml);

  const plain = await gatewayConfig({
    channels: '  - {name: nowhere, type: openai, base_url: "http://127.0.0.1:9/v1"}',
    models: '  - {name: chat, channel: nowhere}',
  });
  const off = await startGateway(plain);
  try {
    const r = await fetch(`${off.adminUrl}/admin/usage`, { headers: { authorization: 'Bearer test-admin-token' } });
    assert.equal(r.status, 409);
    assert.equal((await r.json()).error.code, 'metering_off');
  } finally {
    await off.stop();
  }
});
