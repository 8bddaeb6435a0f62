// Limits of the HTTP layer: the process-wide connection cap, file descriptors (the cap lowered to
// fit them, accept backing off when they run out), the request deadline against slow clients,
// 431 answers, and a client that leaves an HTTPS stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import OpenAI from 'openai';
import {
  BUILD, SLOW, startSim, startGateway, gatewayConfig, simChannel, standardModels, waitFor, rawExchange,
} from './lib/harness.mjs';

const messages = [{ role: 'user', content: 'x' }];

function assertOpenAIError(json, code, type) {
  assert.deepEqual(Object.keys(json), ['error']);
  assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(json.error.code, code);
  assert.equal(json.error.type, type);
  assert.equal(json.error.param, null);
  assert.equal(typeof json.error.message, 'string');
}

// Splits a raw HTTP/1.1 answer with a Content-Length body.
function parseReply(reply) {
  const end = reply.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no head in ${JSON.stringify(reply.slice(0, 200))}`);
  const [statusLine, ...lines] = reply.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
  }));
  return { status: Number(statusLine.split(' ')[1]), headers, body: reply.slice(end + 4) };
}

// A client connection that records what arrives and whether the server closed it.
function openIdle(port) {
  const conn = { data: '', closed: false };
  conn.sock = net.connect(port, '127.0.0.1');
  conn.sock.setEncoding('latin1');
  conn.sock.on('data', (d) => { conn.data += d; });
  conn.sock.on('error', () => { conn.closed = true; });
  conn.sock.on('close', () => { conn.closed = true; });
  conn.connected = new Promise((resolve) => conn.sock.once('connect', resolve));
  return conn;
}

// One request on an open connection; resolves with the raw answer once its body is whole.
function requestOn(conn, bytes) {
  const from = conn.data.length;
  conn.sock.write(bytes);
  return waitFor('an answer on the held connection', () => {
    const reply = conn.data.slice(from);
    const m = reply.match(/content-length: (\d+)/i);
    const end = reply.indexOf('\r\n\r\n');
    return m && end > 0 && reply.length >= end + 4 + Number(m[1]) && reply;
  });
}

// Starts aigw under `prlimit --nofile=N:N` (util-linux): the limit must hold from exec on, before
// aigw sizes its connection cap, and the harness's startGateway runs the binary directly. Stops
// with the harness's checks: exit 0, no sanitizer report.
async function startGatewayWithFdLimit(config, nofile) {
  const child = spawn('prlimit', [`--nofile=${nofile}:${nofile}`, path.join(BUILD, 'aigw'), 'serve', '-c', config.file],
    { cwd: config.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const gw = {
    child, config, stdout: '', stderr: '',
    url: `http://127.0.0.1:${config.ports.http}`,
    adminUrl: `http://127.0.0.1:${config.ports.admin}`,
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
    lines() { return this.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)); },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000 * SLOW);
      const { code, signal } = await this.exited;
      clearTimeout(timer);
      assert.ok(!/ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/.test(this.stderr), `aigw reported a memory error:\n${this.stderr.slice(-4000)}`);
      assert.equal(signal, null, `aigw died of ${signal}:\n${this.stderr.slice(-2000)}`);
      assert.equal(code, 0, `aigw exited ${code}:\n${this.stderr.slice(-2000)}`);
      rmSync(config.dir, { recursive: true, force: true });
    },
  };
  child.stdout.on('data', (d) => { gw.stdout += d; });
  child.stderr.on('data', (d) => { gw.stderr += d; });
  await waitFor('aigw to become ready', async () => {
    if (child.exitCode !== null) throw new Error(`aigw exited ${child.exitCode}: ${gw.stderr}${gw.stdout}`);
    return (await fetch(`${gw.adminUrl}/readyz`)).status === 200;
  }, { timeoutMs: 15000 });
  return gw;
}

const noValgrind = process.env.AIGW_VALGRIND === '1' ? 'valgrind keeps descriptors of its own' : false;

test('past server.max_connections (over all workers) a connection gets 503 too_many_connections', async () => {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({
    channels: simChannel(sim), models: standardModels, server: '  max_connections: 4',
  }));
  const conns = [];
  try {
    // two workers share the cap: of five connections exactly one is refused, whichever it is
    for (let i = 0; i < 5; i++) conns.push(openIdle(gw.config.ports.http));
    await Promise.all(conns.map((c) => c.connected));
    await waitFor('one connection to be refused', () => conns.some((c) => c.closed));
    const refused = conns.filter((c) => c.closed);
    assert.equal(refused.length, 1);
    const { status, headers, body } = parseReply(refused[0].data);
    assert.equal(status, 503);
    assert.equal(headers.connection, 'close');
    assert.equal(headers['content-type'], 'application/json');
    const json = JSON.parse(body);
    assertOpenAIError(json, 'too_many_connections', 'server_error');
    assert.equal(json.error.message, 'the gateway is at its connection limit (server.max_connections)');

    const held = conns.filter((c) => !c.closed);
    for (const c of held) {
      const reply = await requestOn(c, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(parseReply(reply).status, 200);
    }
    assert.equal((await fetch(`${gw.adminUrl}/readyz`)).status, 200, 'the admin port has its own cap');
    const warning = await waitFor('the connection_limit warning', () => gw.lines().find((l) => l.event === 'connection_limit'));
    assert.equal(warning.level, 'warn');
    assert.equal(warning.max_connections, 4);

    held[0].sock.destroy();
    await waitFor('a place to come free', async () => {
      const reply = await rawExchange(gw.config.ports.http, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      return parseReply(reply).status === 200;
    });
  } finally {
    for (const c of conns) c.sock.destroy();
    await gw.stop();
    await sim.stop();
  }
});

test('few file descriptors: the cap is lowered to fit them and the gateway keeps serving', { skip: noValgrind }, async () => {
  const sim = await startSim();
  const gw = await startGatewayWithFdLimit(await gatewayConfig({ channels: simChannel(sim), models: standardModels }), 256);
  const conns = [];
  try {
    const lowered = gw.lines().find((l) => l.event === 'connection_limit_lowered');
    assert.ok(lowered, `no connection_limit_lowered line in:\n${gw.stdout}`);
    assert.equal(lowered.configured, 10000);
    assert.equal(lowered.fd_limit, 256);
    // every client may need an upstream socket too, and the admin port keeps a reserve
    assert.ok(lowered.effective > 0 && lowered.effective * 2 < 256 - 64, `effective ${lowered.effective}`);

    // more idle clients than the process has descriptors
    for (let i = 0; i < 300; i++) conns.push(openIdle(gw.config.ports.http));
    await Promise.all(conns.map((c) => c.connected));
    await waitFor('every connection over the cap to be closed',
      () => conns.filter((c) => c.closed).length === conns.length - lowered.effective);
    const answered = conns.filter((c) => c.data);
    assert.ok(answered.length > 0);
    for (const c of answered) assert.match(c.data, /^HTTP\/1\.1 503 [^]*"code":"too_many_connections"/);

    const admin = await fetch(`${gw.adminUrl}/readyz`);
    assert.equal(admin.status, 200, 'the admin port still answers');
    assert.equal(gw.lines().filter((l) => l.event === 'accept_failed').length, 0, 'descriptors never ran out');
    assert.ok(gw.stdout.split('\n').length < 100, `the log grew to ${gw.stdout.split('\n').length} lines`);
    assert.ok(!/accept/i.test(gw.stderr), gw.stderr.slice(-2000));

    for (const c of conns) c.sock.destroy();
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    await waitFor('requests to be served again', async () => {
      const r = await client.chat.completions.create({ model: 'chat', messages, max_tokens: 2 });
      return r.usage.completion_tokens === 2;
    });
  } finally {
    for (const c of conns) c.sock.destroy();
    await gw.stop();
    await sim.stop();
  }
});

// The kernel's descriptor table, as /proc/PID/status's FDSize shows it.
function fdTableSize(pid) {
  const m = /^FDSize:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `no FDSize for ${pid}`);
  return Number(m[1]);
}

// A table that grows under a burst stalls the worker that grows it (an RCU grace period per
// doubling in a process of several threads); it is sized once, before any client, to what
// max_connections clients and their upstream sockets need, and never past the limit.
test('the descriptor table is sized at startup for server.max_connections, within the limit', { skip: noValgrind }, async () => {
  const sim = await startSim();
  const roomy = await startGatewayWithFdLimit(await gatewayConfig({
    channels: simChannel(sim), models: standardModels, server: '  max_connections: 3000',
  }), 20000);
  const tight = await startGatewayWithFdLimit(await gatewayConfig({ channels: simChannel(sim), models: standardModels }), 256);
  try {
    const size = fdTableSize(roomy.child.pid);
    assert.ok(size >= 2 * 3000, `FDSize ${size}: no room for 3000 clients and their upstream sockets`);
    assert.ok(size <= 20000, `FDSize ${size} is over the limit of 20000`);
    assert.ok(fdTableSize(tight.child.pid) <= 256, 'the table stays within a tight limit');
    assert.equal(roomy.lines().filter((l) => l.event === 'fd_table').length, 0, 'no warning');
    const client = new OpenAI({ baseURL: `${roomy.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'chat', messages, max_tokens: 2 });
    assert.equal(r.usage.completion_tokens, 2);
  } finally {
    await roomy.stop();
    await tight.stop();
    await sim.stop();
  }
});

test('out of descriptors: accept rests instead of spinning, logs rarely, and recovers', { skip: noValgrind }, async () => {
  const sim = await startSim();
  // so few descriptors that the admin port (capped at 64 connections) runs out of them first
  const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels });
  writeFileSync(config.file, config.yaml.replace('workers: 2', 'workers: 1'));
  const gw = await startGatewayWithFdLimit(config, 64);
  const conns = [];
  try {
    for (let i = 0; i < 80; i++) conns.push(openIdle(config.ports.admin));
    await Promise.all(conns.map((c) => c.connected));
    const failures = () => gw.lines().filter((l) => l.event === 'accept_failed');
    const first = await waitFor('accept to fail', () => failures()[0]);
    assert.equal(first.level, 'warn');
    assert.equal(first.errno, 24);
    assert.match(first.error, /too many open files/i);
    assert.equal(first.port, config.ports.admin);
    // the listener keeps retrying while the backlog waits: a second line comes a second later,
    // having held back the failures between (a busy loop would fail millions of times)
    const second = await waitFor('a second accept_failed line', () => failures()[1], { timeoutMs: 20000 });
    assert.ok(second.suppressed >= 1 && second.suppressed < 100, `suppressed ${second.suppressed}`);
    assert.ok(gw.stdout.split('\n').length < 100, `the log grew to ${gw.stdout.split('\n').length} lines`);
    assert.ok(!/accept/i.test(gw.stderr), gw.stderr.slice(-2000));

    for (const c of conns) c.sock.destroy();
    await waitFor('the admin port to answer again', async () => (await fetch(`${gw.adminUrl}/readyz`)).status === 200);
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    await waitFor('requests to be served again', async () => {
      const r = await client.chat.completions.create({ model: 'chat', messages, max_tokens: 2 });
      return r.usage.completion_tokens === 2;
    });
  } finally {
    for (const c of conns) c.sock.destroy();
    await gw.stop();
    await sim.stop();
  }
});

// A connection that sends `bytes` one byte at a time, `everyMs` apart, until the server closes it.
function trickle(port, bytes, everyMs) {
  const conn = openIdle(port);
  let i = 0;
  const timer = setInterval(() => { if (i < bytes.length && !conn.closed) conn.sock.write(bytes[i++]); }, everyMs);
  conn.sock.on('close', () => clearInterval(timer));
  conn.stop = () => { clearInterval(timer); conn.sock.destroy(); };
  return conn;
}

test('a request must arrive whole within request_timeout_ms: a trickling client gets 408 (after a reload)', async () => {
  const sim = await startSim();
  const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels });
  const gw = await startGateway(config);
  const idle = openIdle(config.ports.http);
  const slow = [];
  try {
    // applied on reload, like every setting of the HTTP layer
    writeFileSync(config.file, config.yaml.replace('server:\n', 'server:\n  request_timeout_ms: 1000\n'));
    const res = await fetch(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
    assert.equal(res.status, 200);
    await idle.connected;

    // a byte every 100 ms: far inside keepalive_timeout_ms between reads, never done
    const slowHead = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(10000)}\r\n\r\n`;
    const body = JSON.stringify({ model: 'chat', messages });
    const slowBody = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length + 10000}\r\n\r\n${body}${' '.repeat(10000)}`;
    slow.push(trickle(config.ports.http, slowHead, 100), trickle(config.ports.http, slowBody, 20));
    await waitFor('both slow requests to be cut', () => slow.every((c) => c.closed));
    for (const { data } of slow) {
      const { status, headers, body: json } = parseReply(data);
      assert.equal(status, 408);
      assert.equal(headers.connection, 'close');
      assertOpenAIError(JSON.parse(json), 'request_timeout', 'invalid_request_error');
      assert.match(JSON.parse(json).error.message, /server\.request_timeout_ms \(1000 ms\)/);
    }
    // a connection idle before its first byte is governed by keepalive_timeout_ms, not the deadline
    assert.equal(idle.closed, false);
    const reply = await requestOn(idle, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(parseReply(reply).status, 200);
  } finally {
    for (const c of slow) c.stop();
    idle.sock.destroy();
    await gw.stop();
    await sim.stop();
  }
});

test('431 in OpenAI shape: headers over max_header_bytes, and too many headers', async () => {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({
    channels: simChannel(sim), models: standardModels, server: '  max_header_bytes: 4096',
  }));
  try {
    // a client sends its whole request at once, a large body included: the answer must reach it
    // although the gateway reads none of the rest (closing on unread input would reset it)
    const body = JSON.stringify({ model: 'chat', messages, padding: 'p'.repeat(1000000) });
    const tail = `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const big = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(8000)}\r\n${tail}`;
    let many = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n';
    for (let i = 0; i < 101; i++) many += `X-H${i}: v\r\n`;
    many += tail;
    const cases = [[big, /larger than the limit/], [many, /too many request headers/]];
    for (const [request, message] of [...cases, ...cases, ...cases]) {
      const reply = parseReply(await rawExchange(gw.config.ports.http, request));
      assert.equal(reply.status, 431);
      assert.equal(reply.headers.connection, 'close');
      assert.equal(reply.headers['content-type'], 'application/json');
      const json = JSON.parse(reply.body);
      assertOpenAIError(json, 'headers_too_large', 'invalid_request_error');
      assert.match(json.error.message, message);
    }
  } finally {
    await gw.stop();
    await sim.stop();
  }
});

test('up to 100 request headers are read, also on a connection whose requests carry more, then fewer', async () => {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({ channels: simChannel(sim), models: standardModels }));
  const conn = openIdle(gw.config.ports.http);
  try {
    await conn.connected;
    const body = JSON.stringify({ model: 'chat', messages });
    // the connection keeps room for a few dozen headers: these go past it, to the limit, and back
    for (const count of [10, 30, 100, 60, 5]) {
      let request = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`;
      request += `Content-Length: ${body.length}\r\n`;
      for (let i = 0; i < count - 4; i++) request += `X-Filler-${i}: ${i}\r\n`;
      request += `X-Request-Id: headers-${count}\r\n\r\n${body}`; // the last header
      const reply = parseReply(await requestOn(conn, request));
      assert.equal(reply.status, 200, reply.body);
      assert.equal(reply.headers['x-request-id'], `headers-${count}`);
      assert.equal(JSON.parse(reply.body).object, 'chat.completion');
    }
    assert.equal(conn.closed, false);
  } finally {
    conn.sock.destroy();
    await gw.stop();
    await sim.stop();
  }
});

test('a client that aborts an HTTPS stream cancels the upstream transfer at once', async () => {
  const sim = await startSim();
  const gw = await startGateway(await gatewayConfig({ channels: simChannel(sim), models: standardModels }));
  try {
    const before = await sim.stats();
    const body = JSON.stringify({ model: 'chat', messages, max_tokens: 1000, stream: true });
    let events = 0;
    let status;
    const req = https.request(`${gw.httpsUrl}/v1/chat/completions`, {
      method: 'POST',
      rejectUnauthorized: false, // the gateway's self-signed pair
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-sim-inter-token-ms': '20' },
    }, (res) => {
      status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        events += (chunk.match(/"content":"/g) ?? []).length;
        if (events >= 3) req.destroy();
      });
    });
    req.on('error', () => {}); // the abort
    req.end(body);
    await waitFor('three stream events', () => events >= 3);
    assert.equal(status, 200);
    await waitFor('the simulator to see the cancel', async () => (await sim.stats()).streams_cancelled > before.streams_cancelled);
    const line = await waitFor('the access line', () => gw.lines().find((l) => l.event === 'access' && l.status === 499));
    assert.equal(line.error, 'client_closed');
    assert.equal(line.scheme, 'https');
  } finally {
    await gw.stop();
    await sim.stop();
  }
});
