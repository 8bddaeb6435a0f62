// DNS discovery against a real DNS server (dnsmasq on loopback): engines added to and removed
// from the records join and leave the channel under load, and no request fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, freePort, waitFor } from './lib/harness.mjs';

const DNSMASQ = '/usr/sbin/dnsmasq';
let dir, dns, dnsPort, simPort, simA, simB, gw, client;

function writeHosts(ips) {
  writeFileSync(path.join(dir, 'hosts'), ips.map((ip) => `${ip} vllm.internal\n`).join(''));
}

async function startDns() {
  dnsPort = await freePort();
  dns = spawn(DNSMASQ, ['--no-daemon', '--no-resolv', '--no-hosts', '--conf-file=/dev/null',
    `--addn-hosts=${path.join(dir, 'hosts')}`, `--port=${dnsPort}`, '--listen-address=127.0.0.1',
    '--bind-interfaces', '--local-ttl=1', '--local=/internal/', '--pid-file'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  dns.stderr.on('data', (d) => { log += d; });
  await waitFor('dnsmasq to start', () => {
    if (dns.exitCode !== null) throw new Error(`dnsmasq exited: ${log}`);
    return /started, version/.test(log);
  });
}

const statsOf = async (host) => (await (await fetch(`http://${host}:${simPort}/sim/stats`)).json()).requests;
const channels = async () => (await (await fetch(`${gw.adminUrl}/admin/channels`, {
  headers: { authorization: 'Bearer test-admin-token' },
})).json()).channels.find((c) => c.name === 'pool');

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-dns-'));
  writeHosts(['127.0.0.2']);
  await startDns();
  simPort = await freePort();
  simA = await startSim(['--host', '127.0.0.2', '--port', String(simPort), '--models', '*']);
  simB = await startSim(['--host', '127.0.0.3', '--port', String(simPort), '--models', '*']);
  const config = await gatewayConfig({
    channels: `  - name: pool
    type: openai
    discovery: { dns: vllm.internal, port: ${simPort}, resolvers: ["127.0.0.1:${dnsPort}"] }`,
    models: '  - name: pool-chat\n    targets: [ { channel: pool } ]',
  });
  gw = await startGateway(config);
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
  await simA?.stop();
  await simB?.stop();
  dns?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('endpoints follow the DNS records under load, with no failed request', async () => {
  await waitFor('the first resolution', async () => (await channels()).endpoints.length === 1);
  assert.equal((await channels()).source, 'dns');
  assert.equal((await channels()).endpoints[0].url, `http://127.0.0.2:${simPort}/v1`);

  let stop = false;
  let done = 0;
  const doneBy = [0, 0, 0, 0, 0, 0];
  const failures = [];
  const workers = Array.from({ length: 6 }, async (_, i) => {
    while (!stop) {
      try {
        if (i % 2) {
          const s = await client.chat.completions.create({ model: 'pool-chat', messages: [{ role: 'user', content: 'x' }], max_tokens: 3, stream: true });
          let n = 0;
          for await (const c of s) n += c.choices[0]?.delta?.content ? 1 : 0;
          assert.equal(n, 3);
        } else {
          await client.chat.completions.create({ model: 'pool-chat', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 });
        }
        done++;
        doneBy[i]++;
      } catch (err) {
        failures.push(err.message);
      }
    }
  });

  // an engine joins: the record is added
  writeHosts(['127.0.0.2', '127.0.0.3']);
  dns.kill('SIGHUP');
  await waitFor('the new engine to take traffic', async () => (await statsOf('127.0.0.3')) > 10, { timeoutMs: 15000 });

  // an engine leaves: its record is removed while requests run on it
  writeHosts(['127.0.0.3']);
  dns.kill('SIGHUP');
  await waitFor('the set to drop the old engine', async () => {
    const eps = (await channels()).endpoints;
    return eps.length === 1 && eps[0].url.includes('127.0.0.3');
  }, { timeoutMs: 15000 });
  // every worker finishes what it had begun before the change, then runs on
  const mark = [...doneBy];
  await waitFor('each worker past the change', () => doneBy.every((n, i) => n >= mark[i] + 2));
  const left = await statsOf('127.0.0.2');
  const again = [...doneBy];
  await waitFor('more traffic after the change', () => doneBy.every((n, i) => n >= again[i] + 5));
  stop = true;
  await Promise.all(workers);
  assert.equal(await statsOf('127.0.0.2'), left, 'nothing new went to the removed engine');
  assert.deepEqual(failures, []);
  assert.ok(gw.lines().some((l) => l.event === 'endpoints_discovered' && l.endpoints === 2));
});
