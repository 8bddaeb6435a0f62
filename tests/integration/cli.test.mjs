// The commands as a new user meets them: version, check with file:line:column errors and the
// files and engines a config names, and `aigw serve` with no config answering the openai SDK at
// once from the built-in simulator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { BUILD, SLOW, freePort, freePorts, gatewayConfig, startGateway, startSim, waitFor } from './lib/harness.mjs';

const aigw = path.join(BUILD, 'aigw');

// A matching P-256 certificate and key (self-signed, valid until 2126), for these tests only.
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUSj3UDHPQbEl7OfICL2KU4iUztdAwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJYWlndy10ZXN0MCAXDTI2MTIwMjAzMTkyNFoYDzIxMjYxMTA4
MDMxOTI0WjAUMRIwEAYDVQQDDAlhaWd3LXRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAS+5lUC6b7PEdPw8z7GcnQnbpuYLHgMMG0G4Z+LJzutY6A9GibqkdjD
0puD4WyGcPkp3QR3ZQ7FyylvfJ1IpeHVo1MwUTAdBgNVHQ4EFgQULzbSUirnH/S1
rQGIcRHgNCk1FzwwHwYDVR0jBBgwFoAULzbSUirnH/S1rQGIcRHgNCk1FzwwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA6cgyZwser3/PBMONdzRH
35DW28Iqt/kAiBIcvRyzeywCIGmPOLMz+RQvzMSjCx9TCmazGWgD3I6jeteQsPSW
8VLn
-----END CERTIFICATE-----
`;
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvJ6I5k84sDNjYMqQ
2jgezLY4mpKHBnBWFSEDfPgHP6+hRANCAAS+5lUC6b7PEdPw8z7GcnQnbpuYLHgM
MG0G4Z+LJzutY6A9GibqkdjD0puD4WyGcPkp3QR3ZQ7FyylvfJ1IpeHV
-----END PRIVATE KEY-----
`;

// A config in `dir` with free ports, the given server.https and log blocks, and one model on the
// built-in simulator; file paths in it are relative to `dir`, where check and serve run.
async function writeConfig(dir, { https = '{listen: "off"}', log = '{access: stdout}', httpPort } = {}) {
  const file = path.join(dir, 'aigw.yaml');
  // distinct from each other and from a port the caller chose (two listeners on one port are
  // refused)
  const chosen = [...`${https}`.matchAll(/:(\d+)"/g)].map((m) => Number(m[1]));
  if (httpPort) chosen.push(httpPort);
  const [freeHttp, adminPort] = await freePorts(2, chosen);
  writeFileSync(file, `server:
  http: {listen: "127.0.0.1:${httpPort ?? freeHttp}"}
  https: ${https}
  admin: {listen: "127.0.0.1:${adminPort}", token: t}
log: ${log}
channels:
  - {name: local, base_url: builtin:sim}
models:
  - {name: chat, channel: local}
`);
  return file;
}

const run = (args, dir) => {
  const r = spawnSync(aigw, args, { cwd: dir, timeout: 10000 * SLOW });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

// serve must refuse what check refuses (it exits at once; a serve that started would be killed
// by the timeout and fail the status assertion)
const serveRefuses = (file, dir) => run(['serve', '-c', file], dir).status === 1;

test('version', () => {
  assert.match(execFileSync(aigw, ['version']).toString(), /^aigw \d+\.\d+\.\d+\n$/);
});

test('check: ok for a good file, file:line:column errors for a bad one', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-check-'));
  const good = path.join(dir, 'good.yaml');
  writeFileSync(good, execFileSync(aigw, ['default-config']));
  assert.match(execFileSync(aigw, ['check', '-c', good], { cwd: dir }).toString(), /ok \(1 channel, 2 models\)/);

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
    const second = spawnSync(aigw, ['serve', '-c', cfg.file], { timeout: 10000 * SLOW, cwd: cfg.dir });
    assert.equal(second.status, 1);
    // under valgrind the first gateway's process name is valgrind's tool
    const name = process.env.AIGW_VALGRIND === '1' ? '(another aigw|memcheck\\S*)' : 'another aigw';
    assert.match(`${second.stdout}${second.stderr}`,
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:\\d+: Address already in use \\(held by ${name}, pid ${first.pid}\\)`));
  } finally {
    await first.stop();
  }
});

test('a port that is the local end of a connection: the message says so, and how to avoid it', async () => {
  // no process listens there: the kernel gave the port to an outgoing connection (or it is in
  // TIME_WAIT after one), which "held by a process this user cannot see" misdescribed
  const server = net.createServer((socket) => socket.on('error', () => {}));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = net.connect({ port: server.address().port, host: '127.0.0.1' });
  client.on('error', () => {});
  await new Promise((resolve) => client.on('connect', resolve));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-port-'));
  try {
    const file = await writeConfig(dir, { httpPort: client.localPort });
    const r = run(['serve', '-c', file], dir);
    assert.equal(r.status, 1);
    const range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).join('-');
    // the count is at least this one connection: the kernel may also have given the same port to
    // a connection elsewhere (another destination) or left one of an earlier test in TIME_WAIT
    const escaped = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(`${r.stdout}${r.stderr}`, new RegExp(escaped(
      `cannot listen on 127.0.0.1:${client.localPort}: Address already in use (the local port of `) +
      '(1 connection|([2-9]|[1-9]\\d+) connections), ' + escaped(
      `outgoing or closing (TIME_WAIT); a port outside net.ipv4.ip_local_port_range (${range}) is never given to one)`)));
  } finally {
    client.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a port held by another program: the message names that program and its pid', async () => {
  const holder = net.createServer();
  await new Promise((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-port-'));
  try {
    const file = await writeConfig(dir, { httpPort: holder.address().port });
    const r = run(['serve', '-c', file], dir);
    assert.equal(r.status, 1);
    const comm = readFileSync('/proc/self/comm', 'utf8').trim(); // "node"
    assert.ok(`${r.stdout}${r.stderr}`.includes(
      `cannot listen on 127.0.0.1:${holder.address().port}: Address already in use (held by ${comm}, pid ${process.pid})`),
    `${r.stdout}${r.stderr}`);
  } finally {
    holder.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check verifies the TLS pair serve loads: each problem names the field, the file and why', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-check-tls-'));
  try {
    writeFileSync(path.join(dir, 'cert.pem'), TEST_CERT);
    writeFileSync(path.join(dir, 'key.pem'), TEST_KEY);
    const port = await freePort();
    const https = (cert, key, selfSigned = false) =>
      `{listen: "127.0.0.1:${port}", cert: ${cert}, key: ${key}, self_signed: ${selfSigned}}`;

    let file = await writeConfig(dir, { https: https('cert.pem', 'key.pem') });
    let r = run(['check', '-c', file], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok \(1 channel, 1 model\)/);

    // a valid key, but not the certificate's
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    writeFileSync(path.join(dir, 'other-key.pem'), privateKey);
    file = await writeConfig(dir, { https: https('cert.pem', 'other-key.pem') });
    r = run(['check', '-c', file], dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^${file}: server\\.https\\.key: other-key\\.pem: does not match the certificate \\(.+\\)$`, 'm'));
    assert.ok(serveRefuses(file, dir));

    // every problem is printed, not only the first
    writeFileSync(path.join(dir, 'garbage.pem'), 'not a certificate\n');
    file = await writeConfig(dir, { https: https('garbage.pem', 'missing-key.pem') });
    r = run(['check', '-c', file], dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^${file}: server\\.https\\.cert: garbage\\.pem: not a PEM certificate \\(no start line\\)$`, 'm'));
    assert.match(r.stderr, new RegExp(`^${file}: server\\.https\\.key: missing-key\\.pem: cannot read: No such file or directory$`, 'm'));
    assert.match(r.stderr, /: 2 errors$/m);
    assert.ok(serveRefuses(file, dir));

    // self_signed makes a pair only when both files are missing: the certificate that exists is
    // kept, not overwritten by a new pair
    file = await writeConfig(dir, { https: https('cert.pem', 'missing-key.pem', true) });
    r = run(['check', '-c', file], dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /server\.https\.key: missing-key\.pem: cannot read: No such file or directory \(self_signed makes a pair only when both files are missing\)/);
    assert.ok(serveRefuses(file, dir));
    assert.equal(readFileSync(path.join(dir, 'cert.pem'), 'utf8'), TEST_CERT);
    assert.ok(!existsSync(path.join(dir, 'missing-key.pem')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check with self_signed and no pair yet: says where serve will make it, and that it can', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-check-self-'));
  try {
    const listen = `listen: "127.0.0.1:${await freePort()}"`;
    let file = await writeConfig(dir, { https: `{${listen}, cert: var/tls/cert.pem, key: var/tls/key.pem, self_signed: true}` });
    let r = run(['check', '-c', file], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${file}: server\\.https: will create a self-signed pair at var/tls/cert\\.pem and var/tls/key\\.pem$`, 'm'));
    assert.ok(!existsSync(path.join(dir, 'var')), 'check itself creates nothing');

    // a file where serve would make a directory
    writeFileSync(path.join(dir, 'blocker'), '');
    file = await writeConfig(dir, { https: `{${listen}, cert: blocker/tls/cert.pem, key: var/tls/key.pem, self_signed: true}` });
    r = run(['check', '-c', file], dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^${file}: server\\.https\\.cert: blocker/tls/cert\\.pem: cannot create: blocker is not a directory$`, 'm'));
    assert.doesNotMatch(r.stderr, /server\.https\.key/);
    assert.ok(serveRefuses(file, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check verifies log.access opens for appending, and leaves no file behind', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-check-log-'));
  try {
    mkdirSync(path.join(dir, 'logs'));
    let file = await writeConfig(dir, { log: '{access: logs/access.log}' });
    let r = run(['check', '-c', file], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!existsSync(path.join(dir, 'logs/access.log')), 'no empty log file made by check');

    writeFileSync(path.join(dir, 'logs/access.log'), '{"event":"earlier"}\n');
    r = run(['check', '-c', file], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(dir, 'logs/access.log'), 'utf8'), '{"event":"earlier"}\n');

    file = await writeConfig(dir, { log: '{access: no-such-dir/access.log}' });
    r = run(['check', '-c', file], dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^${file}: log\\.access: no-such-dir/access\\.log: cannot open for appending: No such file or directory$`, 'm'));
    assert.ok(serveRefuses(file, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check --probe: warns about models an engine does not serve and engines it cannot ask; --strict fails', async () => {
  const sim = await startSim(['--models', 'a,b']);
  const unreachable = await freePort(); // nobody listens there
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-check-probe-'));
  try {
    const file = path.join(dir, 'aigw.yaml');
    writeFileSync(file, `channels:
  - {name: engine, base_url: "${sim.url}/v1/", api_key: sk-probe}
  - {name: gone, base_url: "http://127.0.0.1:${unreachable}/v1"}
  - {name: local, base_url: builtin:sim}
models:
  - {name: chat, channel: engine, upstream_model: a}
  - {name: qwen, channel: engine, upstream_model: Qwen/Qwen2.5-7B-Instruct}
  - {name: other, channel: gone}
  - {name: anything, channel: local}
`);
    let r = run(['check', '--probe', '-c', file], dir);
    assert.equal(r.status, 0, 'warnings alone do not fail the check');
    const warnings = r.stderr.split('\n').filter((l) => l.includes('warning:'));
    assert.equal(warnings.length, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^${file}: warning: model 'qwen' -> channel 'engine' serves no model 'Qwen/Qwen2\\.5-7B-Instruct' \\(it serves: a, b\\)$`, 'm'));
    assert.match(r.stderr, new RegExp(`^${file}: warning: channel 'gone': cannot list models: .*${unreachable}`, 'm'));
    assert.match(r.stdout, /ok \(3 channels, 4 models\) with warnings/);
    const seen = await sim.lastRequest();
    assert.equal(seen.method, 'GET');
    assert.equal(seen.path, '/v1/models');
    assert.equal(seen.headers.authorization, 'Bearer sk-probe');

    r = run(['check', '--probe', '--strict', '-c', file], dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /: 2 warnings \(failing: --strict\)$/m);

    // without --probe no engine is asked (the unreachable one would warn)
    r = run(['check', '-c', file], dir);
    assert.equal(r.status, 0);
    assert.doesNotMatch(r.stderr, /warning/);
    assert.equal(run(['serve', '--probe'], dir).status, 2, '--probe is only for check');
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
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
    const token = (await waitFor('the admin_token line', () => gw.lines().find((l) => l.event === 'admin_token')))?.token;
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
