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
    await waitFor('the reload_partial warning', () => gw.lines().some((l) => l.event === 'reload_partial' && /log\.access/.test(l.message)));
    assert.ok(!gw.lines().some((l) => l.event === 'reloaded' && l.generation === 2), 'info is below the new level');
    const res = await admin(gw, '/admin/reload');
    assert.equal((await res.json()).generation, 3);
    assert.ok(!gw.lines().some((l) => l.event === 'reloaded'), 'no info line after the level went to warn');
  } finally {
    await gw.stop();
    await sim.stop();
  }
});

test('SIGTERM: readiness drops, new connections are refused, running streams finish whole', async () => {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({ channels: simChannel(sim), models: standardModels }));
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  try {
    const tokens = 40;
    let started = 0;
    const streams = Array.from({ length: 3 }, async () => {
      const s = await client.chat.completions.create(
        { model: 'chat', messages: [{ role: 'user', content: 'x' }], max_tokens: tokens, stream: true },
        { headers: { 'x-sim-inter-token-ms': '50' } });
      let n = 0;
      let first = true;
      for await (const c of s) {
        if (first) { started++; first = false; }
        n += c.choices[0]?.delta?.content ? 1 : 0;
      }
      return n;
    });
    await waitFor('three streams to start', () => started === 3);
    gw.child.kill('SIGTERM');
    await waitFor('readiness to drop', async () => (await fetch(`${gw.adminUrl}/readyz`)).status === 503);
    await waitFor('new connections to be refused', () => new Promise((resolve) => {
      const sock = net.connect(gw.config.ports.http, '127.0.0.1');
      sock.on('connect', () => { sock.destroy(); resolve(false); });
      sock.on('error', () => resolve(true));
    }));
    assert.deepEqual(await Promise.all(streams), [tokens, tokens, tokens]);
    await gw.stop(); // asserts exit code 0
  } finally {
    await gw.stop();
    await sim.stop();
  }
});
