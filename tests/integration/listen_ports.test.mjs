// Two listeners of one gateway on one port are refused when the config is read. Every listening
// socket is bound with SO_REUSEPORT (that is how the workers share a port), so the kernel used
// to take the second bind without a word and spread the port's connections over both
// listeners: with http and https on one port, the plain connections handed to the TLS listener
// were reset and their clients saw undici's "fetch failed" (the harness's free ports can
// coincide, which made tests fail now and then). Now check and serve name both places.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUILD, SLOW, freePorts } from './lib/harness.mjs';

const aigw = path.join(BUILD, 'aigw');

function withConfig(server, fn) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-ports-'));
  try {
    const file = path.join(dir, 'aigw.yaml');
    writeFileSync(file, `server:
${server}
channels:
  - {name: local, base_url: builtin:sim}
models:
  - {name: chat, channel: local}
`);
    return fn(file, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A serve that started would run until the timeout kills it: status null, not 1.
const run = (args, dir) => {
  const r = spawnSync(aigw, args, { cwd: dir, timeout: 10000 * SLOW });
  return { status: r.status, stderr: r.stderr.toString() };
};

test('http and https on one port: refused, by check and by serve, at the second listen', async () => {
  const [port, admin] = await freePorts(2);
  withConfig(`  http: {listen: "127.0.0.1:${port}"}
  https: {listen: "127.0.0.1:${port}", cert: cert.pem, key: key.pem, self_signed: true}
  admin: {listen: "127.0.0.1:${admin}", token: t}`, (file, dir) => {
    const want = new RegExp(`${file}:3:19: server\\.https\\.listen 127\\.0\\.0\\.1:${port} overlaps ` +
      `server\\.http\\.listen 127\\.0\\.0\\.1:${port}: each listener needs a port of its own`);
    const check = run(['check', '-c', file], dir);
    assert.equal(check.status, 1, check.stderr);
    assert.match(check.stderr, want);
    const serve = run(['serve', '-c', file], dir);
    assert.equal(serve.status, 1, serve.stderr);
    assert.match(serve.stderr, want);
  });
});

test('admin on the port http listens on everywhere (the default address): refused', async () => {
  const [port] = await freePorts(1);
  withConfig(`  http: {listen: ":${port}"}
  https: {listen: "off"}
  admin: {listen: "127.0.0.1:${port}", token: t}`, (file, dir) => {
    const r = run(['serve', '-c', file], dir);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${file}:4:19: server\\.admin\\.listen 127\\.0\\.0\\.1:${port} ` +
      `overlaps server\\.http\\.listen 0\\.0\\.0\\.0:${port}`));
  });
});

test('one port on two different addresses is not an overlap', async () => {
  const [port] = await freePorts(1);
  withConfig(`  http: {listen: "127.0.0.1:${port}"}
  https: {listen: "off"}
  admin: {listen: "127.0.0.2:${port}", token: t}`, (file, dir) => {
    const r = run(['check', '-c', file], dir);
    assert.equal(r.status, 0, r.stderr);
  });
});
