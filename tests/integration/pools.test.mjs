// Bounded upstream pools: after a burst a worker keeps at most `keepalive` idle connections to a
// channel (reused by the next requests), and none once they have been idle for
// keepalive_timeout_ms, also when the gateway serves nothing more. The connections are counted
// from outside: the gateway's sockets (/proc/PID/fd) that /proc/net/tcp shows ESTABLISHED to
// the simulator's port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { startSim, startGateway, gatewayConfig, waitFor, SLOW } from './lib/harness.mjs';

let kept, brief, gw;

before(async () => {
  kept = await startSim();
  brief = await startSim();
  const config = await gatewayConfig({
    channels: `  - name: kept
    base_url: ${kept.url}/v1
    forward_headers: ["x-sim-*"]
    keepalive: 4
    keepalive_timeout_ms: 600000
  - name: brief
    base_url: ${brief.url}/v1
    forward_headers: ["x-sim-*"]
    keepalive: 2
    keepalive_timeout_ms: 300`,
    models: `  - {name: kept-model, channel: kept, upstream_model: sim-model}
  - {name: brief-model, channel: brief, upstream_model: sim-model}`,
  });
  // one worker: the cap is per worker, so with one it is the process's
  writeFileSync(config.file, config.yaml.replace('workers: 2', 'workers: 1'));
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
  await kept?.stop();
  await brief?.stop();
});

// Local ports of the gateway's established connections to `port`.
function upstreamConnections(pid, port) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const ports = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01' || !inodes.has(f[9])) continue;
      if (parseInt(f[2].split(':').pop(), 16) === port) ports.push(parseInt(f[1].split(':').pop(), 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

function chat(model, delayMs) {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-sim-first-token-ms': String(delayMs) },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }),
  }).then(async (res) => {
    await res.text();
    return res.status;
  });
}

// `count` requests at once, each held by the engine long enough for all to be upstream together.
async function burst(model, sim, count) {
  const answers = Promise.all(Array.from({ length: count }, () => chat(model, 1500 * SLOW)));
  await waitFor(`${count} upstream connections at once`, () => upstreamConnections(gw.pid, sim.port).length === count);
  assert.deepEqual(await answers, Array(count).fill(200));
}

test('after a burst the pool keeps keepalive idle connections, and reuses them', async () => {
  await burst('kept-model', kept, 16);
  // the excess is closed as each transfer ends, before its answer goes out
  await waitFor('the pool to shrink to its cap', () => upstreamConnections(gw.pid, kept.port).length <= 4);
  const idle = upstreamConnections(gw.pid, kept.port);
  assert.equal(idle.length, 4, 'keepalive: 4 idle connections stay open');
  // the next requests take the kept connections: no new one is opened
  for (let i = 0; i < 3; i++) assert.equal(await chat('kept-model', 0), 200);
  assert.deepEqual(upstreamConnections(gw.pid, kept.port), idle);
  // two at once also fit in the pool
  assert.deepEqual(await Promise.all([chat('kept-model', 50), chat('kept-model', 50)]), [200, 200]);
  assert.deepEqual(upstreamConnections(gw.pid, kept.port), idle);
});

test('idle connections are closed after keepalive_timeout_ms, with nothing else running', async () => {
  await burst('brief-model', brief, 8);
  // keepalive: 2 first, then none once idle for 300 ms: a timer of the worker closes them, as
  // nothing else reaches the gateway meanwhile
  await waitFor('the idle connections to be closed', () => upstreamConnections(gw.pid, brief.port).length === 0);
  // the other channel's pool is its own: its connections are still there
  assert.equal(upstreamConnections(gw.pid, kept.port).length, 4);
  // and the channel works again with a fresh pool
  assert.equal(await chat('brief-model', 0), 200);
  assert.ok(upstreamConnections(gw.pid, brief.port).length <= 1);
});
