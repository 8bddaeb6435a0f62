// The commands as a new user meets them: version, check with file:line:column errors, and
// `aigw serve` with no config answering the openai SDK at once from the built-in simulator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { BUILD, gatewayConfig, startGateway, waitFor } from './lib/harness.mjs';

const aigw = path.join(BUILD, 'aigw');

test('version', () => {
  assert.match(execFileSync(aigw, ['version']).toString(), /^aigw \d+\.\d+\.\d+\n$/);
});

test('check: ok for a good file, file:line:column errors for a bad one', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-check-'));
  const good = path.join(dir, 'good.yaml');
  writeFileSync(good, execFileSync(aigw, ['default-config']));
  assert.match(execFileSync(aigw, ['check', '-c', good]).toString(), /ok \(1 channel, 2 models\)/);

  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'server:\n  http: {listen: "nowhere"}\nchannels:\n  - name: a\n    base_url: http://h/v1\n    timeouts: {idle_ms: -5}\nmodels: []\n');
  const r = spawnSync(aigw, ['check', '-c', bad]);
  assert.equal(r.status, 1);
  const err = r.stderr.toString();
  assert.match(err, new RegExp(`${bad}:2:18: expected host:port \\(or off\\) for listen, found 'nowhere'`));
  assert.match(err, new RegExp(`${bad}:6:25: expected an integer from 1 to 3600000 for timeouts.idle_ms, found '-5'`));
  assert.match(err, /at least one model is needed/);
  assert.equal(spawnSync(aigw, ['serve', '-c', bad]).status, 1, 'serve refuses it too');
  assert.equal(spawnSync(aigw, ['frobnicate']).status, 2);
  rmSync(dir, { recursive: true, force: true });
});

test('a port already in use is reported, not ignored', async () => {
  const cfg = await gatewayConfig({ channels: '  - {name: s, base_url: builtin:sim}', models: '  - {name: chat, channel: s}' });
  const first = await startGateway(cfg);
  try {
    // the workers bind with SO_REUSEPORT, which would let a second gateway share the port
    // silently and split its traffic: it must refuse to start instead
    const second = spawnSync(aigw, ['serve', '-c', cfg.file], { timeout: 10000, cwd: cfg.dir });
    assert.equal(second.status, 1);
    assert.match(second.stdout.toString(), /cannot listen on 127\.0\.0\.1:\d+: Address already in use \(is another aigw running\?\)/);
  } finally {
    await first.stop();
  }
});

test('log.access to a file: startup and access lines land there as JSON', async () => {
  const cfg = await gatewayConfig({
    channels: '  - {name: s, base_url: builtin:sim}', models: '  - {name: chat, channel: s}',
    extra: 'log: {access: access.log}',
  });
  const gw = await startGateway(cfg);
  try {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 });
    await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-request-id': 'to-file-1' } });
    const file = path.join(cfg.dir, 'access.log');
    const lines = () => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const access = await waitFor('the access line in the file', () => lines().find((l) => l.request_id === 'to-file-1'));
    assert.equal(access.event, 'access');
    assert.equal(access.status, 200);
    assert.ok(lines().some((l) => l.event === 'started'));
    assert.ok(!gw.stdout.includes('to-file-1'), 'nothing of it on stdout');
  } finally {
    await gw.stop();
  }
});

test('first run as a new user: `aigw serve` alone answers the openai SDK at once', async () => {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'aigw-first-run-'));
  const cfgPorts = await gatewayConfig({ channels: '', models: '' }); // only for free ports
  rmSync(cfgPorts.dir, { recursive: true, force: true });
  // the embedded default, with its ports moved so the test never collides with a running aigw
  const yaml = execFileSync(aigw, ['default-config']).toString()
    .replace('0.0.0.0:8080', `127.0.0.1:${cfgPorts.ports.http}`)
    .replace('0.0.0.0:8443', `127.0.0.1:${cfgPorts.ports.https}`)
    .replace('127.0.0.1:9090', `127.0.0.1:${cfgPorts.ports.admin}`);
  const file = path.join(cwd, 'aigw.yaml');
  writeFileSync(file, yaml);
  const gw = await startGateway({ file, dir: cwd, ports: cfgPorts.ports });
  try {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'anything', maxRetries: 0 });
    const reply = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'Hello there' }] });
    assert.equal(reply.model, 'chat');
    assert.ok(reply.choices[0].message.content.length > 0);
    assert.equal(reply.usage.prompt_tokens, 2);
    const stream = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, reply.choices[0].message.content);
    const emb = await client.embeddings.create({ model: 'embed', input: 'hello' });
    assert.ok(emb.data[0].embedding.length > 0);
    // the self-signed pair was made on first run and serves HTTPS
    const cert = path.join(cwd, 'var/tls/cert.pem');
    assert.ok(existsSync(cert) && existsSync(path.join(cwd, 'var/tls/key.pem')));
    const status = await new Promise((resolve, reject) => {
      https.get(`${gw.httpsUrl}/v1/models`, { ca: readFileSync(cert) }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
    });
    assert.equal(status, 200);
    const token = gw.lines().find((l) => l.event === 'admin_token')?.token;
    assert.match(token, /^[0-9a-f]{32}$/, 'a random admin token is printed when none is configured');
    // the printed token stays valid across reloads (each reload frees the previous config)
    for (const generation of [2, 3]) {
      const res = await fetch(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).generation, generation);
    }
  } finally {
    await gw.stop();
  }
});
