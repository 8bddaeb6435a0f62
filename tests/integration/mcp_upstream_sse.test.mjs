// Proxying an upstream MCP server that speaks the legacy HTTP+SSE transport (2024-11-05), built
// with the official SDK 1.x's SSEServerTransport, aggregated beside a Streamable HTTP upstream:
// tools of both listed and called through both official clients, the gateway's traceparent sent
// on, one upstream session per worker however many calls, reconnection when the stream is lost
// or the session forgotten, answers that come too late, and the bound on calls in flight.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { gatewayConfig, startGateway, waitFor } from './lib/harness.mjs';
import { startUpstream } from './fixtures/mcp_upstream.mjs';
import { startSseUpstream } from './fixtures/mcp_sse_upstream.mjs';

const CHANNEL = '  - {name: none, type: openai, base_url: "http://127.0.0.1:9/v1"}';
const MODELS = '  - {name: chat, channel: none}';
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };

let modern, legacy, gw;

function section(modernPort, legacyUrl) {
  return `mcp:
  servers:
    - name: agg
      path: /mcp/agg
      proxy:
        - { name: docs, url: "http://127.0.0.1:${modernPort}/mcp", allow: [search, add] }
        - { name: legacy, url: "${legacyUrl}", transport: sse, allow: [lookup, slow, trace, broken] }
    - name: quick
      path: /mcp/quick
      proxy:
        - { name: legacy, url: "${legacyUrl}", transport: sse, timeout_ms: 300 }
`;
}

before(async () => {
  modern = await startUpstream('docs');
  legacy = await startSseUpstream('legacy');
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS, extra: section(modern.port, legacy.url) });
  gw = await startGateway(cfg);
});

after(async () => {
  await gw?.stop();
  await modern?.close();
  await legacy?.close();
});

const text = (r) => r.content.map((c) => c.text).join('');

// A tools/call of the stateless revision, raw (one fresh connection each: any worker answers).
async function call(p, name, args = {}, headers = {}) {
  const res = await fetch(`${gw.url}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name, connection: 'close', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { _meta: META, name, arguments: args } }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.result;
}

test('an SSE upstream beside a Streamable HTTP one: listed and called (SDK 1.x, sessions)', async () => {
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/agg`)));
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(),
    ['docs_add', 'docs_search', 'legacy_broken', 'legacy_lookup', 'legacy_slow', 'legacy_trace']);
  assert.equal(tools.find((t) => t.name === 'legacy_lookup').inputSchema.properties.word.type, 'string');
  assert.equal(text(await client.callTool({ name: 'legacy_lookup', arguments: { word: 'gateway' } })), 'legacy defines gateway');
  assert.equal(text(await client.callTool({ name: 'docs_add', arguments: { a: 20, b: 22 } })), '42');
  const no = await client.callTool({ name: 'legacy_broken', arguments: {} });
  assert.equal(no.isError, true);
  assert.equal(text(no), 'legacy says no');
  await assert.rejects(client.callTool({ name: 'legacy_admin_reset', arguments: {} }), /Unknown tool/);
  // the upstream checks arguments itself: its verdict comes back as it said it
  const bad = await client.callTool({ name: 'legacy_lookup', arguments: { word: 7 } });
  assert.equal(bad.isError, true);
  assert.match(text(bad), /Input validation error/);
  await client.close();
});

test('the same through the legacy SSE client and the 2.x stateless client', async () => {
  const old = new Client({ name: 'legacy-client', version: '1.0.0' });
  await old.connect(new SSEClientTransport(new URL(`${gw.url}/mcp/agg/sse`)));
  assert.equal((await old.listTools()).tools.length, 6);
  assert.equal(text(await old.callTool({ name: 'legacy_lookup', arguments: { word: 'stream' } })), 'legacy defines stream');
  assert.equal(text(await old.callTool({ name: 'docs_search', arguments: { query: 'x' } })), 'docs results for x');
  await old.close();
  const client = new Client2({ name: 'modern', version: '2.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new Transport2(new URL(`${gw.url}/mcp/agg`)));
  assert.equal(text(await client.callTool({ name: 'legacy_lookup', arguments: { word: 'stateless' } })), 'legacy defines stateless');
  await client.close();
});

test('one upstream session per worker, however many calls; the caller\'s trace goes on', async () => {
  const before = legacy.sessions();
  const results = await Promise.all(Array.from({ length: 60 }, (_, i) => call('/mcp/agg', 'legacy_lookup', { word: `w${i}` })));
  results.forEach((r, i) => assert.equal(text(r), `legacy defines w${i}`));
  assert.ok(legacy.sessions() <= 2, `at most one session per worker (2 workers), made ${legacy.sessions()} (${before} before)`);
  assert.ok(legacy.openStreams() <= 2);

  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const r = await call('/mcp/agg', 'legacy_trace', {}, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
  const [version, trace, span, flags] = text(r).split('-');
  assert.equal(version, '00');
  assert.equal(trace, traceId, 'the upstream sees the caller\'s trace');
  assert.match(span, /^[0-9a-f]{16}$/);
  assert.notEqual(span, '00f067aa0ba902b7', 'the parent is the gateway\'s span');
  assert.equal(flags, '01');
  assert.ok(legacy.posts.filter((p) => p.method === 'tools/call').every((p) => /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/.test(p.traceparent)));
});

test('a lost stream or a forgotten session: the gateway connects again', async () => {
  const made = legacy.sessions();
  legacy.dropStreams();
  await waitFor('the gateway to notice', () => gw.lines().some((l) => l.event === 'mcp_upstream_stream_ended'));
  for (let i = 0; i < 4; i++)
    assert.equal(text(await call('/mcp/agg', 'legacy_lookup', { word: `again${i}` })), `legacy defines again${i}`);
  assert.ok(legacy.sessions() > made);
  // the server forgets its sessions but its streams stay: a POST gets 404, and is sent again
  legacy.forgetSessions();
  for (let i = 0; i < 4; i++)
    assert.equal(text(await call('/mcp/agg', 'legacy_lookup', { word: `more${i}` })), `legacy defines more${i}`);
});

test('an answer later than timeout_ms is a tool error; the late answer is dropped', async () => {
  const r = await call('/mcp/quick', 'legacy_slow', { tag: 'late' });
  assert.equal(r.isError, true);
  assert.match(text(r), /did not answer in time/);
  legacy.releaseSlow();
  assert.equal(text(await call('/mcp/quick', 'legacy_lookup', { word: 'after' })), 'legacy defines after');
  await waitFor('the call logged', () => gw.lines().some((l) => l.event === 'mcp_call' && l.tool === 'legacy_slow' && l.error_code === 'upstream_timeout' && l.http_status === 504));
});

test('a reload that drops the SSE upstream closes the sessions the workers held', async () => {
  assert.ok(legacy.openStreams() >= 1);
  const yaml = gw.config.yaml.replace(/    - name: agg[\s\S]*$/, `    - name: agg
      path: /mcp/agg
      proxy:
        - { name: docs, url: "http://127.0.0.1:${modern.port}/mcp" }
`);
  writeFileSync(gw.config.file, yaml);
  const res = await fetch(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
  assert.equal(res.status, 200, await res.text());
  await waitFor('the upstream streams closed', () => legacy.openStreams() === 0);
  const r = await call('/mcp/agg', 'docs_add', { a: 1, b: 2 });
  assert.equal(text(r), '3');
});

test('an SSE upstream that cannot be reached, or names another origin, fails the call clearly', async () => {
  const { createServer } = await import('node:http');
  const evil = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('event: endpoint\ndata: http://169.254.169.254/messages?sessionId=x\n\n');
  });
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS, extra: `mcp:
  servers:
    - name: bad
      path: /mcp/bad
      proxy:
        - { name: gone, url: "http://127.0.0.1:9/sse", transport: sse, timeout_ms: 2000 }
        - { name: evil, url: "http://127.0.0.1:${evil.address().port}/sse", transport: sse, timeout_ms: 2000 }
` });
  const g = await startGateway(cfg);
  try {
    const gone = await callOn(g, '/mcp/bad', 'gone_x');
    assert.equal(gone.isError, true);
    assert.match(gone.content[0].text, /could not be reached/);
    const other = await callOn(g, '/mcp/bad', 'evil_x');
    assert.equal(other.isError, true);
    assert.match(other.content[0].text, /another origin/);
    assert.ok(!JSON.stringify(other).includes('169.254'), 'no address in the answer');
  } finally {
    await g.stop();
    evil.closeAllConnections();
    evil.close();
  }
});

async function callOn(g, p, name) {
  const res = await fetch(`${g.url}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { _meta: META, name, arguments: {} } }),
  });
  return (await res.json()).result;
}

test('at most 128 calls in flight to an SSE upstream per worker; the rest wait their turn', async () => {
  const up = await startSseUpstream('bounded');
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS, extra: `mcp:
  servers:
    - name: one
      path: /mcp/one
      proxy: [ { name: b, url: "${up.url}", transport: sse, timeout_ms: 60000 } ]
` });
  writeFileSync(cfg.file, cfg.yaml.replace('workers: 2', 'workers: 1'));
  const g = await startGateway(cfg);
  try {
    const calls = Array.from({ length: 150 }, (_, i) => callOn2(g, i));
    await waitFor('128 calls waiting at the upstream', () => up.waitingSlow() === 128, { timeoutMs: 20000 });
    // the others wait in the gateway: none more reaches the upstream while 128 are out
    const more = await fetch(`${g.url}/mcp/one`, { method: 'POST', headers: { 'content-type': 'application/json', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' }, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'server/discover', params: { _meta: META } }) });
    assert.equal(more.status, 200);
    await more.text();
    assert.equal(up.waitingSlow(), 128);
    assert.equal(up.sessions(), 1);
    up.releaseSlow();
    await waitFor('the rest reached the upstream', () => up.waitingSlow() === 22, { timeoutMs: 20000 });
    up.releaseSlow();
    const results = await Promise.all(calls);
    results.forEach((r, i) => assert.equal(r.content[0].text, `slow t${i} done`));
  } finally {
    await g.stop();
    await up.close();
  }
});

async function callOn2(g, i) {
  const res = await fetch(`${g.url}/mcp/one`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'b_slow' },
    body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { _meta: META, name: 'b_slow', arguments: { tag: `t${i}` } } }),
  });
  return (await res.json()).result;
}
