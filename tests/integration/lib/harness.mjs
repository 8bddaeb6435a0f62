// Starts the real aigw and aigw-sim binaries for integration tests and stops them checking
// that they exited cleanly (exit 0, no sanitizer or valgrind report). Waits on conditions,
// never on fixed sleeps.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';

export const BUILD = process.env.AIGW_BUILD || path.resolve(import.meta.dirname, '../../../build');
const VALGRIND = process.env.AIGW_VALGRIND === '1';
// valgrind and sanitizers slow everything down: give conditions more time, not the tests
export const SLOW = VALGRIND ? 20 : process.env.AIGW_SANITIZED === '1' ? 4 : 1;

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(what, check, { timeoutMs = 10000, intervalMs = 20 } = {}) {
  const deadline = Date.now() + timeoutMs * SLOW;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// Writes raw bytes on a new connection and resolves with everything read until the server
// closes it: for what an HTTP client library would not send.
export function rawExchange(port, bytes) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.on('data', (d) => { data += d; });
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
    sock.write(bytes);
  });
}

class Proc {
  constructor(name, child) {
    this.name = name;
    this.child = child;
    this.stdout = '';
    this.stderr = '';
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    child.stdout.on('data', (d) => { this.stdout += d; });
    child.stderr.on('data', (d) => { this.stderr += d; });
  }

  get pid() { return this.child.pid; }

  lines() {
    return this.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  }

  // Stops with SIGTERM and asserts a clean exit: a leak or a sanitizer report fails the test.
  async stop({ timeoutMs = 20000 } = {}) {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs * SLOW);
    const { code, signal } = await this.exited;
    clearTimeout(timer);
    const report = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|definitely lost: [1-9]|Invalid (read|write)/;
    assert.ok(!report.test(this.stderr), `${this.name} reported a memory error:\n${this.stderr.slice(-4000)}`);
    assert.equal(signal, null, `${this.name} died of ${signal}:\n${this.stderr.slice(-2000)}`);
    assert.equal(code, 0, `${this.name} exited ${code}:\n${this.stderr.slice(-2000)}`);
    if (this.tmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

function launch(name, bin, args, opts = {}) {
  const cmd = VALGRIND && name === 'aigw'
    ? ['valgrind', ['--quiet', '--leak-check=full', '--errors-for-leak-kinds=definite', '--error-exitcode=99', bin, ...args]]
    : [bin, args];
  const child = spawn(cmd[0], cmd[1], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  return new Proc(name, child);
}

// The simulator on an ephemeral port; resolves once it prints its listening line.
export async function startSim(args = []) {
  const proc = launch('aigw-sim', path.join(BUILD, 'aigw-sim'), ['--port', '0', ...args]);
  const port = await waitFor('aigw-sim to listen', () => {
    const m = proc.stdout.match(/listening on http:\/\/[^:]+:(\d+)/);
    if (proc.child.exitCode !== null) throw new Error(`aigw-sim exited: ${proc.stderr}`);
    return m && Number(m[1]);
  });
  proc.port = port;
  proc.url = `http://127.0.0.1:${port}`;
  const control = proc.stdout.match(/aigw-sim control on (http:\/\/[^\s]+)/);
  proc.controlUrl = control ? control[1].replace(/\/$/, '') : proc.url;
  // --engine mindie: its management port (/health), a listener of its own as MindIE's is
  const management = proc.stdout.match(/aigw-sim management on (http:\/\/[^\s]+)/);
  proc.managementUrl = management ? management[1].replace(/\/$/, '') : null;
  // an instance-wide fault (status:500, hang, refuse, none...): the whole engine misbehaves
  proc.setFault = async (fault, extra = {}) => {
    const res = await fetch(`${proc.controlUrl}/sim/fault`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fault, ...extra }),
    });
    if (res.status !== 200) throw new Error(`sim fault ${fault}: ${res.status} ${await res.text()}`);
  };
  proc.stats = async () => (await fetch(`${proc.url}/sim/stats`)).json();
  proc.lastRequest = async () => (await fetch(`${proc.url}/sim/last-request`)).json();
  return proc;
}

// A port nothing listens on, for an upstream that refuses: below the kernel's ephemeral range
// (32768 up), so no outgoing socket is given it as its own port meanwhile. A freePort() port
// is an ephemeral one, and a connect to it that drew the same port as its own connected to
// itself: a 504 after seconds instead of the refusal (seen once under ASan).
export async function closedPort() {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.unref();
      srv.on('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

// Distinct free ports: each freePort's port is free again when it returns, so two calls can
// hand out the same one (about 1 gateway start in 2,000 here), and a gateway refuses two
// listeners on one port.
export async function freePorts(count, taken = []) {
  const ports = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port) && !taken.includes(port)) ports.push(port);
  }
  return ports;
}

// A config with fresh ports. `channels` and `models` are YAML fragments (lists).
export async function gatewayConfig({ channels, models, server = '', extra = '' }) {
  const [http, https, admin] = await freePorts(3);
  const ports = { http, https, admin };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-test-'));
  const yaml = `server:
  workers: 2
  http: {listen: "127.0.0.1:${ports.http}"}
  https: {listen: "127.0.0.1:${ports.https}", cert: ${dir}/cert.pem, key: ${dir}/key.pem, self_signed: true}
  admin: {listen: "127.0.0.1:${ports.admin}", token: test-admin-token}
${server}
channels:
${channels}
models:
${models}
${extra}`;
  const file = path.join(dir, 'aigw.yaml');
  writeFileSync(file, yaml);
  return { file, dir, ports, yaml };
}

export async function startGateway(config, { env = {} } = {}) {
  const proc = launch('aigw', path.join(BUILD, 'aigw'), ['serve', '-c', config.file], {
    cwd: config.dir, env: { ...process.env, ...env },
  });
  proc.config = config;
  proc.tmpDir = config.dir;
  proc.url = `http://127.0.0.1:${config.ports.http}`;
  proc.httpsUrl = `https://127.0.0.1:${config.ports.https}`;
  proc.adminUrl = `http://127.0.0.1:${config.ports.admin}`;
  await waitFor('aigw to become ready', async () => {
    if (proc.child.exitCode !== null) throw new Error(`aigw exited ${proc.child.exitCode}: ${proc.stderr}${proc.stdout}`);
    const res = await fetch(`${proc.adminUrl}/readyz`);
    return res.status === 200;
  }, { timeoutMs: 15000 });
  return proc;
}

// One channel to the simulator, and the model names tests use.
export function simChannel(sim, extra = '') {
  return `  - name: sim
    type: openai
    base_url: ${sim.url}/v1
    forward_headers: ["x-sim-*"]
${extra}`;
}

export const standardModels = `  - {name: chat, channel: sim, upstream_model: sim-model}
  - {name: sim-model, channel: sim}`;
