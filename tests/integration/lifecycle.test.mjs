// Reloads and shutdown never cost a request: a reload under load fails nothing, a bad config
// is refused with its errors while the old one serves on, and SIGTERM lets streams finish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, simChannel, standardModels, waitFor } from './lib/harness.mjs';

const admin = (gw, path, init = {}) => fetch(`${gw.adminUrl}${path}`, {
  method: 'POST', ...init, headers: { authorization: 'Bearer test-admin-token', ...(init.headers ?? {}) },
});

test('reload under load: every request succeeds and the new config takes effect', async () => {
  const sim = await startSim();
  const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels });
  const gw = await startGateway(config);
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  try {
    let stop = false;
    let done = 0;
    const failures = [];
    const worker = async (i) => {
      while (!stop) {
        try {
          if (i % 2) {
            const s = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }], max_tokens: 5, stream: true });
            let n = 0;
            for await (const c of s) n += c.choices[0]?.delta?.content ? 1 : 0;
            assert.equal(n, 5);
          } else {
            const r = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 });
            assert.equal(r.usage.completion_tokens, 2);
          }
          done++;
        } catch (err) {
          failures.push(err.message);
        }
      }
    };
    const workers = Array.from({ length: 6 }, (_, i) => worker(i));
    for (let round = 1; round <= 6; round++) {
      const extra = `  - {name: extra-${round}, channel: sim, upstream_model: sim-model}`;
      writeFileSync(config.file, config.yaml.replace(standardModels, `${standardModels}\n${extra}`));
      if (round % 2) {
        const res = await admin(gw, '/admin/reload');
        assert.equal(res.status, 200);
        assert.equal((await res.json()).generation, round + 1);
      } else {
        gw.child.kill('SIGHUP');
        await waitFor('the SIGHUP reload', () => gw.lines().some((l) => l.event === 'reloaded' && l.generation === round + 1));
      }
      await waitFor(`extra-${round} to be served`, async () => {
        const r = await client.chat.completions.create({ model: `extra-${round}`, messages: [{ role: 'user', content: 'x' }], max_tokens: 1 });
        return r.model === `extra-${round}`;
      });
      const startDone = done;
      await waitFor('traffic between reloads', () => done >= startDone + 10);
    }
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, []);
    assert.ok(done > 60, `only ${done} requests ran`);
  } finally {
    await gw.stop();
    await sim.stop();
  }
});

test('a bad config is rejected with file:line:column errors and the old one keeps serving', async () => {
  const sim = await startSim();
  const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels });
  const gw = await startGateway(config);
  try {
    const unauthorized = await admin(gw, '/admin/reload', { headers: { authorization: 'Bearer wrong' } });
    assert.equal(unauthorized.status, 401);
    assert.equal((await unauthorized.json()).error.type, 'authentication_error');

    writeFileSync(config.file, config.yaml.replace('channel: sim, upstream_model', 'channel: nope, upstream_model'));
    const res = await admin(gw, '/admin/reload');
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.error.code, 'invalid_config');
    assert.match(body.error.details[0], /aigw\.yaml:\d+:\d+: model 'chat' names channel 'nope', which is not defined/);

    gw.child.kill('SIGHUP');
    await waitFor('the rejected SIGHUP reload', () => gw.lines().some((l) => l.event === 'reload_rejected'));
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 });
    assert.equal(r.model, 'chat');
  } finally {
    await gw.stop();
    await sim.stop();
  }
});

test('reload applies log.level at once and says what waits for a restart', async () => {
  const sim = await startSim();
  const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels });
  const gw = await startGateway(config);
  try {
    writeFileSync(config.file, `${config.yaml}\nlog: {level: warn, access: stderr}\n`);
    assert.equal((await admin(gw, '/admin/reload')).status, 200);
    // the log target waits for a restart: the warning still goes to stdout
    await waitFor('the reload_partial warning', () => gw.lines().some((l) => l.event === 'reload_partial' && l.restart_required.includes('log.access')));
    assert.ok(!gw.lines().some((l) => l.event === 'reloaded' && l.generation === 2), 'info is below the new level');
    const res = await admin(gw, '/admin/reload');
    const answer = await res.json();
    assert.equal(answer.generation, 3);
    assert.deepEqual(answer.restart_required, ['log.access'], 'the answer names what waits for a restart');
    assert.ok(!gw.lines().some((l) => l.event === 'reloaded'), 'no info line after the level went to warn');
  } finally {
    await gw.stop();
    await sim.stop();
  }
});


test('a reload reads the TLS pair again: a rotated certificate serves without a restart', async () => {
  const { execFileSync } = await import('node:child_process');
  const tls = await import('node:tls');
  const sim = await startSim();
  const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels });
  const gw = await startGateway(config);
  const fingerprint = () => new Promise((resolve, reject) => {
    const sock = tls.connect({ port: config.ports.https, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      const fp = sock.getPeerCertificate().fingerprint256;
      sock.end();
      resolve(fp);
    });
    sock.on('error', reject);
  });
  try {
    const before = await fingerprint();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', `${config.dir}/key.pem`, '-out', `${config.dir}/cert.pem`, '-days', '2', '-subj', '/CN=rotated'],
    { stdio: 'ignore' });
    const res = await admin(gw, '/admin/reload');
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).restart_required, []);
    const after = await fingerprint();
    assert.notEqual(after, before);
    // a pair that does not load rejects the reload, and the running one keeps serving
    writeFileSync(`${config.dir}/key.pem`, 'not a key');
    const bad = await admin(gw, '/admin/reload');
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.details[0], /server\.https/);
    assert.equal(await fingerprint(), after);
  } finally {
    await gw.stop();
    await sim.stop();
  }
});
