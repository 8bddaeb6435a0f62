// Bounded upstream pools: after a burst a worker keeps at most `keepalive` idle connections to a
// channel (reused by the next requests), and none once they have been idle for
// keepalive_timeout_ms, also when the gateway serves nothing more. The connections are counted
// from outside: the gateway's sockets (/proc/PID/fd) that /proc/net/tcp shows ESTABLISHED to
// the simulator's port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { startSim, startGateway, gatewayConfig, waitFor, SLOW } from './lib/harness.mjs';

let kept, brief, restarting, gw;

before(async () => {
  kept = await startSim();
  brief = await startSim();
  restarting = await startSim();
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
    keepalive_timeout_ms: 300
  - name: restarting
    base_url: ${restarting.url}/v1
    health: {failures: 1000}`,
    models: `  - {name: kept-model, channel: kept, upstream_model: sim-model}
  - {name: brief-model, channel: brief, upstream_model: sim-model}
  - {name: restarting-model, channel: restarting, upstream_model: sim-model}`,
  });
  // one worker: the cap is per worker, so with one it is the process's
  writeFileSync(config.file, config.yaml.replace('workers: 2', 'workers: 1'));
  gw = await startGateway(config);
});

after(async () => {
  await gw?.stop();
  await kept?.stop();
  await brief?.stop();
  await restarting?.stop();
});

// Local ports of the gateway's connections to `port` in a TCP state (01 established, 08 close
// wait: the engine closed its side).
function upstreamConnections(pid, port, state = '01') {
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
      if (f.length < 10 || f[3] !== state || !inodes.has(f[9])) continue;
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

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

test('an engine that closes its idle pooled connection: the worker lets it go, and the next request reconnects', async () => {
  assert.equal(await chat('restarting-model', 0), 200);
  assert.equal(upstreamConnections(gw.pid, restarting.port).length, 1, 'one idle connection kept');
  // the engine goes away: the idle connection's socket turns readable (end of stream) in the
  // gateway while no transfer uses it, and the gateway closes its end (curl's connections, which
  // notice it at their next use, would sit in CLOSE_WAIT until then: either is let go)
  const port = restarting.port;
  await restarting.stop();
  await waitFor('the gateway to see the close', () => upstreamConnections(gw.pid, port, '01').length === 0);
  // a socket left registered after its end of stream would wake the worker in a loop
  const before = cpuTicks(gw.pid);
  for (let i = 0; i < 25; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cpuTicks(gw.pid) - before < 10 * SLOW, `the gateway burned ${cpuTicks(gw.pid) - before} ticks while idle`);
  // the engine comes back on the same port: the dead pooled connection is not used
  restarting = await startSim(['--port', String(port)]);
  assert.equal(await chat('restarting-model', 0), 200);
  assert.equal(upstreamConnections(gw.pid, port).length, 1);
  assert.equal(upstreamConnections(gw.pid, port, '08').length, 0, 'the dead connection was closed');
});
