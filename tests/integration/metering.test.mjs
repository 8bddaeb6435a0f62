// Metering is exact to the token: thousands of mixed requests (streamed or not, with or without a
// usage chunk asked for, three keys, two models) through the official openai package, and the
// usage the gateway stored per key and model equals what the engine itself counted. Streams cut
// by the engine are recorded as estimated, never as zero. The writer's queue gives its memory
// back once a burst is over; the writer runs at idle priority while it keeps up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, waitFor, SLOW } from './lib/harness.mjs';

const KEYS = {
  'team-a': 'sk-metering-team-a-0123456789abcdef',
  'team-b': 'sk-metering-team-b-0123456789abcdef',
  'team-c': 'sk-metering-team-c-0123456789abcdef',
};
const PRICES = { chat: { input: 0.15, output: 0.6, cached_input: 0.075 }, code: { input: 3, output: 15 } };
const PROMPTS = [
  'hello',
  'summarize the quarterly report in three bullet points please',
  '把这段话翻译成英文，谢谢',
  'a '.repeat(200).trim(),
  'what is 2 + 2?',
];
const REQUESTS = Math.round(3000 / SLOW);
const CONCURRENCY = 16;

let sim, gw, admin;

const adminGet = async (path) => {
  const res = await fetch(`${gw.adminUrl}${path}`, { headers: { authorization: 'Bearer test-admin-token' } });
  const text = await res.text();
  assert.equal(res.status, 200, `${path}: ${text}`);
  return path.includes('format=csv') ? text : JSON.parse(text);
};

// The engine's own counters (vLLM's /metrics), per served model name.
async function engineTokens() {
  const text = await (await fetch(`${sim.url}/metrics`)).text();
  const read = (name, model) => Number(new RegExp(`^vllm:${name}_total\\{model_name="${model}"\\} (\\S+)`, 'm').exec(text)[1]);
  const out = {};
  for (const m of ['sim-chat', 'sim-code', 'sim-cut'])
    out[m] = { prompt: read('prompt_tokens', m), completion: read('generation_tokens', m) };
  return out;
}

before(async () => {
  sim = await startSim(['--engine', 'vllm', '--threads', '2', '--models', 'sim-chat,sim-code,sim-cut']);
  const config = await gatewayConfig({
    channels: `  - name: sim
    type: vllm
    base_url: ${sim.url}
    forward_headers: ["x-sim-*"]`,
    models: `  - { name: chat, targets: [ { channel: sim, upstream_model: sim-chat } ] }
  - { name: code, targets: [ { channel: sim, upstream_model: sim-code } ] }
  - { name: cut, targets: [ { channel: sim, upstream_model: sim-cut } ] }`,
    extra: `auth:
  mode: api_key
  keys:
    - { name: team-a, tenant: acme, project: search, key: "${KEYS['team-a']}", models: ["*"] }
    - { name: team-b, tenant: acme, project: ads, key: "${KEYS['team-b']}", models: ["*"] }
    - { name: team-c, tenant: beta, project: bots, key: "${KEYS['team-c']}", models: ["*"] }
metering:
  store: var/aigw.db
  queue_size: 1024
  prices:
    chat: { input: ${PRICES.chat.input}, output: ${PRICES.chat.output}, cached_input: ${PRICES.chat.cached_input}, currency: USD }
    code: { input: ${PRICES.code.input}, output: ${PRICES.code.output}, currency: USD }`,
  });
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
  await sim?.stop();
});

test('stored usage per key and model equals the engine\'s count, to the token', async () => {
  const before = await engineTokens();
  const clients = Object.fromEntries(Object.entries(KEYS).map(([name, key]) =>
    [name, new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 })]));
  const expected = {}; // "key|model" -> { requests, prompt, completion }
  const seenByCaller = { prompt: 0, completion: 0 };
  let n = 0;
  const one = async (i) => {
    const keyName = Object.keys(KEYS)[i % 3];
    const model = i % 5 < 3 ? 'chat' : 'code';
    const prompt = PROMPTS[i % PROMPTS.length];
    const maxTokens = 1 + (i % 7);
    const mode = i % 4; // 0 whole, 1 stream with usage, 2 stream without, 3 stream saying false
    const params = { model, messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens };
    let usage = null;
    if (mode === 0) {
      usage = (await clients[keyName].chat.completions.create(params)).usage;
    } else {
      if (mode === 1) params.stream_options = { include_usage: true };
      if (mode === 3) params.stream_options = { include_usage: false };
      const stream = await clients[keyName].chat.completions.create({ ...params, stream: true });
      for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
      assert.equal(usage !== null, mode === 1, 'a usage chunk only for a caller that asked');
    }
    const k = `${keyName}|${model}`;
    expected[k] ??= { requests: 0 };
    expected[k].requests++;
    if (usage) {
      seenByCaller.prompt += usage.prompt_tokens;
      seenByCaller.completion += usage.completion_tokens;
    }
  };
  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (n < REQUESTS) await one(n++);
  });
  await Promise.all(workers);

  const after = await engineTokens();
  const engine = {
    chat: { prompt: after['sim-chat'].prompt - before['sim-chat'].prompt, completion: after['sim-chat'].completion - before['sim-chat'].completion },
    code: { prompt: after['sim-code'].prompt - before['sim-code'].prompt, completion: after['sim-code'].completion - before['sim-code'].completion },
  };
  assert.ok(engine.chat.completion > 0 && engine.code.completion > 0);

  // the writer is off the request path: wait until every record is stored
  const stored = await waitFor('every request stored', async () => {
    const res = await adminGet('/admin/usage?from=0&group_by=key,model');
    const total = res.data.reduce((s, row) => s + row.requests, 0);
    return total >= REQUESTS && res;
  }, { timeoutMs: 30000 * SLOW });

  const rows = stored.data;
  const byModel = {};
  for (const row of rows) {
    const want = expected[`${row.key}|${row.model}`];
    assert.ok(want, `an unexpected group ${row.key}|${row.model}`);
    assert.equal(row.requests, want.requests, `requests of ${row.key}|${row.model}`);
    assert.equal(row.estimated_requests, 0, 'the engine reported usage for every request');
    byModel[row.model] ??= { prompt: 0, completion: 0, cost: 0 };
    byModel[row.model].prompt += row.prompt_tokens;
    byModel[row.model].completion += row.completion_tokens;
    byModel[row.model].cost += row.cost;
  }
  assert.equal(rows.length, Object.keys(expected).length);
  for (const model of ['chat', 'code']) {
    assert.equal(byModel[model].prompt, engine[model].prompt, `prompt tokens of ${model}`);
    assert.equal(byModel[model].completion, engine[model].completion, `completion tokens of ${model}`);
    const cost = (engine[model].prompt * PRICES[model].input + engine[model].completion * PRICES[model].output) / 1e6;
    assert.ok(Math.abs(byModel[model].cost - cost) <= 1e-9 * Math.max(1, cost), `cost of ${model}: ${byModel[model].cost} vs ${cost}`);
  }
  // what callers saw is a part of it: streams that did not ask were still counted
  assert.ok(seenByCaller.completion < engine.chat.completion + engine.code.completion);

  // grouped by tenant: the two acme keys together
  const tenants = (await adminGet('/admin/usage?from=0&group_by=tenant')).data;
  const acme = tenants.find((t) => t.tenant === 'acme');
  const acmeExpected = Object.entries(expected).filter(([k]) => !k.startsWith('team-c'))
    .reduce((s, [, v]) => s + v.requests, 0);
  assert.equal(acme.requests, acmeExpected);

  // top models by tokens: the one with more tokens first
  const top = (await adminGet('/admin/usage/top?from=0&by=model&metric=tokens&n=1')).data;
  assert.equal(top.length, 1);
  const tokens = (m) => engine[m].prompt + engine[m].completion;
  assert.equal(top[0].model, tokens('chat') >= tokens('code') ? 'chat' : 'code');

  // CSV: a header and one line per group
  const csv = await adminGet('/admin/usage?from=0&group_by=model&format=csv');
  const lines = csv.trim().split('\n');
  assert.match(lines[0], /model/);
  assert.equal(lines.length, 1 + 2);
});

test('a stream the engine cuts is recorded as estimated, never as zero tokens', async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEYS['team-a'], maxRetries: 0 });
  const cuts = 5;
  for (let i = 0; i < cuts; i++) {
    const stream = await client.chat.completions.create(
      { model: 'cut', messages: [{ role: 'user', content: 'tell me a long story' }], max_tokens: 12, stream: true },
      { headers: { 'x-sim-fault': 'cut:3' } });
    await assert.rejects(async () => { for await (const chunk of stream) void chunk; });
  }
  const row = await waitFor('the cut streams stored', async () => {
    const res = await adminGet('/admin/usage?from=0&group_by=model');
    const r = res.data.find((x) => x.model === 'cut');
    return r && r.requests >= cuts && r;
  }, { timeoutMs: 30000 * SLOW });
  assert.equal(row.requests, cuts);
  assert.equal(row.estimated_requests, cuts);
  assert.ok(row.prompt_tokens >= cuts, 'the prompt is estimated');
  assert.ok(row.completion_tokens >= cuts, 'what was generated before the cut is estimated');
});

function rssKb(pid) {
  return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]);
}

async function storeCounters() {
  const text = await (await fetch(`${gw.adminUrl}/metrics`, { headers: { authorization: 'Bearer test-admin-token' } })).text();
  const read = (name) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)[1]);
  return { written: read('aigw_store_written_total'), dropped: read('aigw_store_queue_dropped_total') };
}

// A burst passes through every slot of the queue (1,024 records of 5.3 KiB: 5.4 MB); ten seconds
// after the last record the writer gives those pages back. Under ASan or valgrind RSS is theirs.
const instrumented = process.env.AIGW_SANITIZED === '1' || process.env.AIGW_VALGRIND === '1';
test('after a burst the writer\'s queue gives its memory back', { skip: instrumented && 'RSS under instrumentation' }, async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEYS['team-b'], maxRetries: 0 });
  const start = await storeCounters();
  const burst = 1300;
  let n = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (n++ < burst)
      await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
  }));
  // read at once: every record is in the queue's pages by now, and the release waits for ten
  // seconds without one
  const peak = rssKb(gw.pid);
  await waitFor('the burst stored', async () => (await storeCounters()).written >= start.written + burst);
  const end = await storeCounters();
  assert.equal(end.dropped, start.dropped, 'no record dropped');
  await waitFor('the queue released', () => rssKb(gw.pid) < peak - 3000, { timeoutMs: 25000 });
  // and the queue still works after the release
  await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'again' }], max_tokens: 1 });
  await waitFor('the next record stored', async () => (await storeCounters()).written >= end.written + 1);
});

// Minor page faults of the workers (threads aigw-w*) so far.
function workerFaults(pid) {
  let sum = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const dir = `/proc/${pid}/task/${tid}`;
    if (!readFileSync(`${dir}/comm`, 'utf8').startsWith('aigw-w')) continue;
    const stat = readFileSync(`${dir}/stat`, 'utf8');
    sum += Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]); // minflt, field 10
  }
  return sum;
}

// A pause of a couple of seconds is no reason to give the queue's pages back: the next push
// into a released page faults it in on the worker, in the request's time. The pause is the
// scenario itself (a caller's think time), not a wait for something to happen.
test('a pause of two seconds leaves the queue resident: the requests after it fault no page in', { skip: instrumented && 'page faults under instrumentation' }, async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEYS['team-b'], maxRetries: 0 });
  const send = async (count) => {
    let n = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (n++ < count)
        await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
    }));
  };
  const start = await storeCounters();
  await send(1100); // past every slot of the 1,024-record queue: all of it resident
  await waitFor('the burst stored', async () => (await storeCounters()).written >= start.written + 1100);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const before = workerFaults(gw.pid);
  await send(300);
  const faults = workerFaults(gw.pid) - before;
  // a released queue costs 1.5 faults a record (5.3 KiB slots): 450 here; what remains is
  // the first touch of the log's and the heap's pages
  assert.ok(faults < 150, `the workers faulted ${faults} pages in for 300 requests`);
});

// The writer gives way to the workers while it keeps up: it runs under SCHED_IDLE where the
// process may raise it again (CAP_SYS_NICE, or RLIMIT_NICE of 30 or more), SCHED_BATCH where
// not, and says which when it starts; the WAL is checkpointed by a thread of its own. Read from
// the kernel (/proc/PID/task/TID/stat, field 41: the policy). Under valgrind the threads are
// its own.
const SCHED_BATCH = 3, SCHED_IDLE = 5;
function threadPolicies(pid) {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    out[name] = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]);
  }
  return out;
}
function mayRaise() {
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]}`);
  const nice = /^Max nice priority\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))[1];
  return (capEff & (1n << 23n)) !== 0n || nice === 'unlimited' || Number(nice) >= 30;
}
test('the writer runs at idle priority where it can be raised again, and checkpoints run apart', { skip: process.env.AIGW_VALGRIND === '1' && 'threads under valgrind' }, () => {
  const policies = threadPolicies(gw.pid);
  const idle = mayRaise();
  assert.equal(policies['aigw-meter'], idle ? SCHED_IDLE : SCHED_BATCH, JSON.stringify(policies));
  assert.equal(policies['aigw-checkpoint'], SCHED_BATCH, JSON.stringify(policies));
  const started = gw.lines().find((l) => l.event === 'metering_started');
  assert.equal(started?.writer_priority, idle ? 'idle' : 'batch');
});
