// JSON-RPC batches: the 2025-03-26 revision has servers take an array of messages on one POST
// (and the legacy 2024-11-05 transport, on its message endpoint); 2025-06-18 removed them. The
// SDKs never batch, so these are raw POSTs with an array body.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayConfig, startGateway, waitFor } from './lib/harness.mjs';
import { startRest } from './fixtures/rest_service.mjs';
import { startUpstream } from './fixtures/mcp_upstream.mjs';

const CHANNEL = '  - {name: none, type: openai, base_url: "http://127.0.0.1:9/v1"}';
const MODELS = '  - {name: chat, channel: none}';

let rest, upstream, gw;

before(async () => {
  rest = await startRest();
  upstream = await startUpstream('docs');
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS, extra: `mcp:
  servers:
    - name: crm
      path: /mcp/crm
      tools:
        - name: get_customer
          input_schema: { type: object, properties: { id: { type: string } }, required: [id] }
          request: { method: GET, url: "http://127.0.0.1:${rest.port}/api/customers/{id}" }
        - name: slow
          request: { method: GET, url: "http://127.0.0.1:${rest.port}/api/slow", timeout_ms: 20000 }
    - name: all
      path: /mcp/all
      proxy: [ { name: docs, url: "http://127.0.0.1:${upstream.port}/mcp" } ]
` });
  gw = await startGateway(cfg);
});

after(async () => {
  await gw?.stop();
  await rest?.close();
  await upstream?.close();
});

async function post(p, body, headers = {}) {
  const res = await fetch(`${gw.url}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const t = await res.text();
  const json = /json/.test(res.headers.get('content-type') ?? '');
  return { status: res.status, headers: res.headers, body: t && json ? JSON.parse(t) : null, text: t };
}

async function session(p, version) {
  const init = await post(p, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  assert.equal(init.body.result.protocolVersion, version);
  const sid = init.headers.get('mcp-session-id');
  await post(p, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sid });
  return sid;
}

const byId = (answers) => Object.fromEntries(answers.map((a) => [JSON.stringify(a.id), a]));

test('2025-03-26: a batch is answered with an array, one answer per request, errors in place', async () => {
  const sid = await session('/mcp/crm', '2025-03-26');
  const r = await post('/mcp/crm', [
    { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    { jsonrpc: '2.0', id: 'call', method: 'tools/call', params: { name: 'get_customer', arguments: { id: 'c-1' } } },
    { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } },
    { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'nope', arguments: {} } },
    { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'get_customer', arguments: {} } },
    42,
    { jsonrpc: '2.0', id: 5, method: 'ping' },
    { jsonrpc: '2.0', id: 6, method: 'initialize', params: {} },
  ], { 'mcp-session-id': sid });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /application\/json/);
  assert.ok(Array.isArray(r.body));
  assert.equal(r.body.length, 7, 'every request and every invalid element, no notification');
  const a = byId(r.body);
  assert.deepEqual(a['1'].result.tools.map((t) => t.name), ['get_customer', 'slow']);
  assert.equal(JSON.parse(a['"call"'].result.content[0].text).name, 'Ada Lovelace');
  assert.equal(a['3'].error.code, -32602);
  assert.equal(a['4'].error.code, -32602, '2025-03-26: invalid arguments are a protocol error');
  assert.equal(a.null.error.code, -32600);
  assert.deepEqual(a['5'].result, {});
  assert.equal(a['6'].error.code, -32600);
  assert.match(a['6'].error.message, /initialize must not be part of a batch/);
});

test('a batch of notifications only is accepted with 202 and no body', async () => {
  const sid = await session('/mcp/crm', '2025-03-26');
  const r = await post('/mcp/crm', [
    { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } },
    { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 9 } },
  ], { 'mcp-session-id': sid });
  assert.equal(r.status, 202);
  assert.equal(r.text, '');
});

test('proxied calls in one batch run at once', async () => {
  const sid = await session('/mcp/all', '2025-03-26');
  const r = await post('/mcp/all', Array.from({ length: 10 }, (_, i) => (
    { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'docs_add', arguments: { a: i, b: 100 } } })), { 'mcp-session-id': sid });
  assert.equal(r.status, 200);
  const a = byId(r.body);
  for (let i = 0; i < 10; i++) assert.equal(a[String(i)].result.content[0].text, String(i + 100));
  await waitFor('each call logged', () => gw.lines().filter((l) => l.event === 'mcp_call' && l.tool === 'docs_add').length >= 10);
});

test('2024-11-05 over Streamable HTTP takes batches too', async () => {
  const sid = await session('/mcp/crm', '2024-11-05');
  const r = await post('/mcp/crm', [{ jsonrpc: '2.0', id: 1, method: 'ping' }], { 'mcp-session-id': sid });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, [{ jsonrpc: '2.0', id: 1, result: {} }]);
});

test('later revisions refuse batches with -32600', async () => {
  for (const version of ['2025-06-18', '2025-11-25']) {
    const sid = await session('/mcp/crm', version);
    const r = await post('/mcp/crm', [{ jsonrpc: '2.0', id: 1, method: 'ping' }], { 'mcp-session-id': sid, 'mcp-protocol-version': version });
    assert.equal(r.status, 400, version);
    assert.equal(r.body.error.code, -32600);
    assert.equal(r.body.id, null);
    assert.match(r.body.error.message, new RegExp(`not part of protocol revision ${version}`));
  }
  const stateless = await post('/mcp/crm', [{ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } }],
    { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' });
  assert.equal(stateless.status, 400);
  assert.equal(stateless.body.error.code, -32600);
  // no session: there is no revision that takes it
  const none = await post('/mcp/crm', [{ jsonrpc: '2.0', id: 1, method: 'ping' }]);
  assert.equal(none.status, 400);
  assert.equal(none.body.error.code, -32600);
});

test('an empty batch and one too large are refused', async () => {
  const sid = await session('/mcp/crm', '2025-03-26');
  const empty = await post('/mcp/crm', [], { 'mcp-session-id': sid });
  assert.equal(empty.status, 400);
  assert.equal(empty.body.error.code, -32600);
  const big = await post('/mcp/crm', Array.from({ length: 65 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })), { 'mcp-session-id': sid });
  assert.equal(big.status, 400);
  assert.match(big.body.error.message, /at most 64/);
  const full = await post('/mcp/crm', Array.from({ length: 64 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })), { 'mcp-session-id': sid });
  assert.equal(full.body.length, 64);
});

// A legacy SSE session read by hand: the stream's events as they come.
async function legacySession(p) {
  const ctl = new AbortController();
  const res = await fetch(`${gw.url}${p}/sse`, { headers: { accept: 'text/event-stream' }, signal: ctl.signal });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const events = [];
  const pump = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const raw = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = { event: 'message', data: '' };
          for (const line of raw.split('\n')) {
            if (line.startsWith('event: ')) ev.event = line.slice(7);
            if (line.startsWith('data: ')) ev.data += line.slice(6);
          }
          events.push(ev);
        }
      }
    } catch { /* aborted */ }
  })();
  const endpoint = await waitFor('the endpoint event', () => events.find((e) => e.event === 'endpoint')?.data);
  const next = async (n) => waitFor(`message ${n}`, () => events.filter((e) => e.event === 'message')[n]);
  return { endpoint, next, close: async () => { ctl.abort(); await pump; } };
}

test('legacy HTTP+SSE: a batch posted to the message endpoint is answered on the stream as one array', async () => {
  const s = await legacySession('/mcp/crm');
  const init = await post(s.endpoint, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  assert.equal(init.status, 202);
  assert.equal(JSON.parse((await s.next(0)).data).result.protocolVersion, '2024-11-05');
  const r = await post(s.endpoint, [
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_customer', arguments: { id: 'c-1' } } },
    { jsonrpc: '2.0', id: 2, method: 'tools/list' },
  ]);
  assert.equal(r.status, 202);
  const answers = JSON.parse((await s.next(1)).data);
  assert.ok(Array.isArray(answers));
  const a = byId(answers);
  assert.equal(JSON.parse(a['1'].result.content[0].text).email, 'ada@example.com');
  assert.equal(a['2'].result.tools.length, 2);
  const empty = await post(s.endpoint, []);
  assert.equal(empty.status, 400, 'a refused batch is answered on the POST');
  await s.close();
});

test('a client that leaves during a batch: its calls are cancelled and logged as client_gone', async () => {
  const sid = await session('/mcp/crm', '2025-03-26');
  const ctl = new AbortController();
  const before = rest.requests.filter((q) => q.path === '/api/slow').length;
  const pending = fetch(`${gw.url}/mcp/crm`, {
    method: 'POST', signal: ctl.signal,
    headers: { 'content-type': 'application/json', 'mcp-session-id': sid },
    body: JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: {} } },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_customer', arguments: { id: 'c-1' } } },
    ]),
  }).catch((e) => e);
  await waitFor('the slow call at the REST API', () => rest.requests.filter((q) => q.path === '/api/slow').length > before);
  ctl.abort();
  await pending;
  await waitFor('the call logged as client_gone', () => gw.lines().some((l) => l.event === 'mcp_call' && l.tool === 'slow' && l.status === 'client_gone' && l.http_status === 499));
  // the session goes on
  const r = await post('/mcp/crm', [{ jsonrpc: '2.0', id: 1, method: 'ping' }], { 'mcp-session-id': sid });
  assert.equal(r.status, 200);
});
