// MCP sessions bounded in number and idle time, an idle event stream that does not hold
// shutdown, and the gateway's API keys, permissions and rate limits around tool calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { gatewayConfig, startGateway, waitFor } from './lib/harness.mjs';
import { startRest } from './fixtures/rest_service.mjs';

const CHANNEL = '  - {name: none, type: openai, base_url: "http://127.0.0.1:9/v1"}';
const MODELS = '  - {name: chat, channel: none}';

function crm(restPort, extra = '') {
  return `    - name: crm
      path: /mcp/crm
      tools:
        - name: get_customer
          input_schema: { type: object, properties: { id: { type: string } }, required: [id] }
          request: { method: GET, url: "http://127.0.0.1:${restPort}/api/customers/{id}" }
        - name: slow
          request: { method: GET, url: "http://127.0.0.1:${restPort}/api/slow", timeout_ms: 300 }
${extra}`;
}

async function post(gw, body, headers = {}) {
  const res = await fetch(`${gw.url}/mcp/crm`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
  const t = await res.text();
  return { status: res.status, headers: res.headers, body: t ? JSON.parse(t) : null };
}

const initialize = (gw, headers) => post(gw, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }, headers);

test('sessions are bounded in number (mcp.max_sessions) and in idle time (session_idle_ms)', async () => {
  const rest = await startRest();
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS,
    extra: `mcp:\n  max_sessions: 3\n  session_idle_ms: 60000\n  servers:\n${crm(rest.port)}` });
  const gw = await startGateway(cfg, { env: { AIGW_TEST_CLOCK: '1' } });
  try {
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const r = await initialize(gw);
      assert.equal(r.status, 200);
      ids.push(r.headers.get('mcp-session-id'));
    }
    const full = await initialize(gw);
    assert.equal(full.status, 503);
    assert.equal(full.body.error.code, -32002);
    // a stateless request needs no session: still served
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    const modern = await post(gw, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: meta } }, { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' });
    assert.equal(modern.status, 200);
    // DELETE frees a place
    await fetch(`${gw.url}/mcp/crm`, { method: 'DELETE', headers: { 'mcp-session-id': ids[0] } });
    const again = await waitFor('a freed session slot', async () => { const r = await initialize(gw); return r.status === 200 && r; });
    ids[0] = again.headers.get('mcp-session-id');
    // 61 s later (the test clock) every session is idle, ended and its place free
    const clock = await fetch(`${gw.adminUrl}/admin/clock`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' }, body: JSON.stringify({ offset_s: 61 }) });
    assert.equal(clock.status, 200);
    await waitFor('idle sessions to end', async () => (await post(gw, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': ids[1] })).status === 404);
    for (const id of ids) assert.equal((await post(gw, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': id })).status, 404);
    // their places come back as the workers sweep (every 500 ms)
    for (let i = 0; i < 3; i++) await waitFor('a free place', async () => (await initialize(gw)).status === 200);
    assert.equal((await initialize(gw)).status, 503);
  } finally {
    await gw.stop();
    await rest.close();
  }
});

test('an idle GET event stream ends at shutdown without waiting for the drain deadline', async () => {
  const rest = await startRest();
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS, server: '  shutdown_timeout_ms: 30000',
    extra: `mcp:\n  servers:\n${crm(rest.port)}` });
  const gw = await startGateway(cfg);
  try {
    const client = new Client({ name: 't', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/crm`));
    await client.connect(transport);
    // the SDK opens the session's GET stream after initialize; a raw one too, on its own session
    const init = await initialize(gw);
    const sid = init.headers.get('mcp-session-id');
    const stream = await fetch(`${gw.url}/mcp/crm`, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } });
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get('content-type'), 'text/event-stream');
    const second = await fetch(`${gw.url}/mcp/crm`, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } });
    assert.equal(second.status, 409);
    await second.text();
    const ended = stream.text();
    const t0 = Date.now();
    await gw.stop();
    assert.ok(Date.now() - t0 < 10000, `shutdown took ${Date.now() - t0} ms with idle streams open`);
    await ended; // the stream ended cleanly (chunked end), not cut
    await client.close().catch(() => {});
  } finally {
    await rest.close();
  }
});

test('API keys: a key names its MCP servers and tools (mcp:<server>/<tool> globs); limits per key', async () => {
  const rest = await startRest();
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS,
    extra: `auth:
  mode: api_key
  keys:
    - { name: all, key: "sk-all-0123456789abcdef", models: ["*"] }
    - { name: crm-reader, key: "sk-reader-0123456789abcdef", models: [chat, "mcp:crm/get_*"] }
    - { name: chat-only, key: "sk-chat-0123456789abcdef", models: [chat] }
mcp:
  servers:
${crm(rest.port, '      rate_limit: { calls: 3, per: minute, by: key }')}` });
  const gw = await startGateway(cfg);
  const connect = async (key) => {
    const client = new Client({ name: 't', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/crm`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
    return client;
  };
  try {
    const anon = await initialize(gw);
    assert.equal(anon.status, 401);
    assert.equal((await initialize(gw, { authorization: 'Bearer sk-wrong' })).status, 401);

    const all = await connect('sk-all-0123456789abcdef');
    assert.deepEqual((await all.listTools()).tools.map((t) => t.name), ['get_customer', 'slow']);
    const reader = await connect('sk-reader-0123456789abcdef');
    assert.deepEqual((await reader.listTools()).tools.map((t) => t.name), ['get_customer']);
    assert.equal((await reader.callTool({ name: 'get_customer', arguments: { id: 'c-1' } })).isError, false);
    await assert.rejects(reader.callTool({ name: 'slow', arguments: {} }), /may not call the tool slow/);
    const chat = await connect('sk-chat-0123456789abcdef');
    assert.deepEqual((await chat.listTools()).tools, []);

    // 3 calls a minute per key: the reader used 1; two more, then refused; another key is not
    await reader.callTool({ name: 'get_customer', arguments: { id: 'c-1' } });
    await reader.callTool({ name: 'get_customer', arguments: { id: 'c-1' } });
    await assert.rejects(reader.callTool({ name: 'get_customer', arguments: { id: 'c-1' } }), /Rate limit exceeded/);
    assert.equal((await all.callTool({ name: 'get_customer', arguments: { id: 'c-1' } })).isError, false);

    // a REST API that does not answer in time: a tool error, not a hang
    const slow = await all.callTool({ name: 'slow', arguments: {} });
    assert.equal(slow.isError, true);
    assert.match(slow.content[0].text, /did not answer in time/);
    assert.ok(!slow.content[0].text.includes('127.0.0.1'), 'no internal address reaches the caller');
    await waitFor('the refused call in the log', () => gw.lines().some((l) => l.event === 'mcp_call' && l.status === 'refused' && l.key === 'crm-reader'));
    for (const c of [all, reader, chat]) await c.close();
  } finally {
    await gw.stop();
    await rest.close();
  }
});

test('config errors carry file:line:column', async () => {
  const { spawnSync } = await import('node:child_process');
  const { BUILD } = await import('./lib/harness.mjs');
  const path = await import('node:path');
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS,
    extra: `mcp:
  servers:
    - name: bad
      path: /mcp/bad
      tools:
        - name: "bad name"
          request: { method: GET, url: "http://x/{id" }
        - name: t2
          input_schema: { type: object, properties: { a: { type: string, pattern: "(" } } }
          request: { method: FETCH, url: "http://x/" }
      openapi: { file: missing.yaml, base_url: "http://x" }
` });
  const r = spawnSync(path.join(BUILD, 'aigw'), ['check', '-c', cfg.file], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  const out = r.stderr + r.stdout;
  assert.match(out, /aigw\.yaml:\d+:\d+: server 'bad': a tool needs a name/);
  assert.match(out, /aigw\.yaml:\d+:\d+: tool 't2': input_schema at \/properties\/a: pattern: missing closing parenthesis/);
  assert.match(out, /aigw\.yaml:\d+:\d+: expected GET, POST, PUT, PATCH, DELETE or HEAD for request\.method, found 'FETCH'/);
  assert.match(out, /aigw\.yaml:\d+:\d+: cannot open the OpenAPI document .*missing\.yaml/);
});
