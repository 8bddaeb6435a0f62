// The MCP bridge driven by the official clients: REST tools (the config, as written),
// OpenAPI-generated tools, tools proxied from a reference MCP server, every transport and
// revision, bad input, sessions, API keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { copyFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { gatewayConfig, startGateway, waitFor } from './lib/harness.mjs';
import { startRest } from './fixtures/rest_service.mjs';
import { startUpstream } from './fixtures/mcp_upstream.mjs';

const CHANNEL = '  - {name: none, type: openai, base_url: "http://127.0.0.1:9/v1"}';
const MODELS = '  - {name: chat, channel: none}';

let rest, upstream, gw;

// The configuration, with the test's ports, and keys for the permission tests.
function mcpSection(restPort, upstreamPort) {
  return `mcp:
  servers:
    - name: crm
      path: /mcp/crm
      tools:
        - name: get_customer
          description: Look up a customer by id
          input_schema:
            type: object
            properties: { id: { type: string } }
            required: [id]
          request: { method: GET, url: "http://127.0.0.1:${restPort}/api/customers/{id}" }
        - name: create_ticket
          description: Open a support ticket
          input_schema:
            type: object
            properties: { customer: { type: string }, text: { type: string } }
            required: [customer, text]
          request: { method: POST, url: "http://127.0.0.1:${restPort}/api/tickets", body: json }
        - name: customer_email
          description: A customer's email, extracted
          input_schema:
            type: object
            properties: { id: { type: string, pattern: "^c-[0-9]+$" } }
            required: [id]
            additionalProperties: false
          request: { method: GET, url: "http://127.0.0.1:${restPort}/api/customers/{id}" }
          result: { template: "{name} <{email}>" }
        - name: search
          description: Search, with the query in the query string
          input_schema:
            type: object
            properties: { q: { type: string, maxLength: 20 }, limit: { type: integer, minimum: 1, maximum: 10 } }
            required: [q]
          request: { method: GET, url: "http://127.0.0.1:${restPort}/api/search" }
          result: { field: /hits/1/title }
      auth: { bearer: \${CRM_TOKEN} }
    - name: petstore
      path: /mcp/petstore
      openapi: { file: petstore.yaml, base_url: "http://127.0.0.1:${restPort}/v3", operations: [getPetById, addPet] }
    - name: all
      path: /mcp/all
      proxy: [ { name: docs, url: "http://127.0.0.1:${upstreamPort}/mcp", allow: [search, add, fail] } ]
`;
}

before(async () => {
  rest = await startRest();
  upstream = await startUpstream('docs');
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS, extra: mcpSection(rest.port, upstream.port) });
  copyFileSync(path.join(import.meta.dirname, 'fixtures/petstore.yaml'), path.join(cfg.dir, 'petstore.yaml'));
  gw = await startGateway(cfg, { env: { CRM_TOKEN: 'secret-crm-token' } });
});

after(async () => {
  await gw?.stop();
  await rest?.close();
  await upstream?.close();
});

async function sessionClient(p) {
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${p}`)));
  return client;
}

const text = (r) => r.content.map((c) => c.text).join('');

test('REST tools over Streamable HTTP with a session (SDK 1.x): list, call, errors as isError', async () => {
  const client = await sessionClient('/mcp/crm');
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name), ['get_customer', 'create_ticket', 'customer_email', 'search']);
  assert.deepEqual(tools[0].inputSchema.required, ['id']);
  assert.equal(tools[0].description, 'Look up a customer by id');

  const ok = await client.callTool({ name: 'get_customer', arguments: { id: 'c-1' } });
  assert.equal(ok.isError, false);
  assert.equal(JSON.parse(text(ok)).name, 'Ada Lovelace');
  const seen = rest.requests.at(-1);
  assert.equal(seen.path, '/api/customers/c-1');
  assert.equal(seen.headers.authorization, 'Bearer secret-crm-token');

  const missing = await client.callTool({ name: 'get_customer', arguments: { id: 'nobody/../x' } });
  assert.equal(missing.isError, true);
  assert.match(text(missing), /^HTTP 404 Not Found: .*no customer nobody\/\.\.\/x/);
  assert.equal(rest.requests.at(-1).path, '/api/customers/nobody%2F..%2Fx'); // one path segment

  const broken = await client.callTool({ name: 'get_customer', arguments: { id: 'boom' } });
  assert.equal(broken.isError, true);
  assert.match(text(broken), /HTTP 500/);

  const ticket = await client.callTool({ name: 'create_ticket', arguments: { customer: 'c-1', text: 'help' } });
  assert.equal(ticket.isError, false);
  assert.equal(JSON.parse(text(ticket)).ticket, 't-42');
  assert.deepEqual(JSON.parse(rest.requests.at(-1).body), { customer: 'c-1', text: 'help' });
  assert.equal(rest.requests.at(-1).headers['content-type'], 'application/json');

  const email = await client.callTool({ name: 'customer_email', arguments: { id: 'c-1' } });
  assert.equal(text(email), 'Ada Lovelace <ada@example.com>');
  const found = await client.callTool({ name: 'search', arguments: { q: 'a b&c', limit: 3 } });
  assert.equal(text(found), 'second');
  assert.equal(rest.requests.at(-1).query, '?q=a%20b%26c&limit=3');
  await client.close();
});

test('arguments failing the schema: isError for 2025-11-25, -32602 for earlier revisions', async () => {
  const client = await sessionClient('/mcp/crm');
  const before = rest.requests.length;
  for (const [args, why] of [
    [{}, /missing required property 'id'/],
    [{ id: 7 }, /\/id: expected a string, found a number/],
    [{ id: 'x-1' }, /must match the pattern/],
    [{ id: 'c-1', extra: 1 }, /unexpected property 'extra'/],
  ]) {
    const r = await client.callTool({ name: 'customer_email', arguments: args });
    assert.equal(r.isError, true);
    assert.match(text(r), why);
  }
  const long = await client.callTool({ name: 'search', arguments: { q: 'x'.repeat(21) } });
  assert.match(text(long), /at most 20 characters/);
  const big = await client.callTool({ name: 'search', arguments: { q: 'x', limit: 11 } });
  assert.match(text(big), /at most 10/);
  assert.equal(rest.requests.length, before, 'nothing invalid reached the REST API');
  await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), (e) => e.code === -32602 && /Unknown tool/.test(e.message));
  await client.close();

  // 2025-06-18: the same failure is a protocol error
  const init = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  assert.equal(init.body.result.protocolVersion, '2025-06-18');
  const sid = init.headers.get('mcp-session-id');
  const bad = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_customer', arguments: {} } }, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
  assert.equal(bad.body.error.code, -32602);
  assert.match(bad.body.error.message, /missing required property 'id'/);
});

test('OpenAPI import: the allowed operations as tools, $refs resolved, called against the API', async () => {
  const client = await sessionClient('/mcp/petstore');
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), ['addPet', 'getPetById']);
  const add = tools.find((t) => t.name === 'addPet');
  assert.deepEqual(add.inputSchema.required, ['name', 'photoUrls']);
  assert.equal(add.inputSchema.properties.category.properties.name.type, 'string'); // $ref inlined
  const get = tools.find((t) => t.name === 'getPetById');
  assert.equal(get.inputSchema.properties.petId.type, 'integer');
  assert.deepEqual(get.inputSchema.required, ['petId']);

  const rex = await client.callTool({ name: 'getPetById', arguments: { petId: 1, 'X-Request-Tag': 'mcp' } });
  assert.equal(JSON.parse(text(rex)).name, 'Rex');
  assert.equal(rest.requests.at(-1).path, '/v3/pet/1');
  assert.equal(rest.requests.at(-1).headers['x-request-tag'], 'mcp');
  assert.equal(rest.requests.at(-1).headers.authorization, undefined, 'no credentials configured here');
  const none = await client.callTool({ name: 'getPetById', arguments: { petId: 999 } });
  assert.equal(none.isError, true);
  assert.match(text(none), /HTTP 404.*Pet not found/);

  const fido = await client.callTool({ name: 'addPet', arguments: { name: 'Fido', photoUrls: [], status: 'pending' } });
  assert.equal(JSON.parse(text(fido)).name, 'Fido');
  assert.deepEqual(JSON.parse(rest.requests.at(-1).body), { name: 'Fido', photoUrls: [], status: 'pending' });
  const wrong = await client.callTool({ name: 'addPet', arguments: { name: 'Fido', photoUrls: [], status: 'lost' } });
  assert.equal(wrong.isError, true);
  assert.match(text(wrong), /status: expected one of/);
  await assert.rejects(client.callTool({ name: 'deletePet', arguments: { petId: 1 } }), /Unknown tool/);
  await client.close();
});

test('proxying: an upstream MCP server\'s tools, prefixed and allow-listed', async () => {
  const client = await sessionClient('/mcp/all');
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), ['docs_add', 'docs_fail', 'docs_search']);
  for (const t of tools) assert.match(t.name, /^[a-zA-Z0-9_-]{1,64}$/);
  const r = await client.callTool({ name: 'docs_search', arguments: { query: 'gateways' } });
  assert.equal(text(r), 'docs results for gateways');
  const sum = await client.callTool({ name: 'docs_add', arguments: { a: 2, b: 40 } });
  assert.equal(text(sum), '42');
  const failed = await client.callTool({ name: 'docs_fail', arguments: {} });
  assert.equal(failed.isError, true);
  assert.equal(text(failed), 'upstream says no');
  await assert.rejects(client.callTool({ name: 'docs_admin_reset', arguments: {} }), /Unknown tool/);
  // the upstream forgets its sessions: the gateway initializes again and the call goes through
  upstream.forgetSessions();
  const again = await client.callTool({ name: 'docs_search', arguments: { query: 'again' } });
  assert.equal(text(again), 'docs results for again');
  await client.close();
});

test('legacy HTTP+SSE (2024-11-05) at <path>/sse: list and call', async () => {
  const client = new Client({ name: 'legacy', version: '1.0.0' });
  await client.connect(new SSEClientTransport(new URL(`${gw.url}/mcp/crm/sse`)));
  const { tools } = await client.listTools();
  assert.equal(tools.length, 4);
  const r = await client.callTool({ name: 'get_customer', arguments: { id: 'c-1' } });
  assert.equal(JSON.parse(text(r)).email, 'ada@example.com');
  const proxied = new Client({ name: 'legacy', version: '1.0.0' });
  await proxied.connect(new SSEClientTransport(new URL(`${gw.url}/mcp/all/sse`)));
  assert.equal(text(await proxied.callTool({ name: 'docs_add', arguments: { a: 1, b: 1 } })), '2');
  await proxied.close();
  await client.close();
});

test('stateless 2026-07-28 with the 2.x client: discover, list, call on any worker', async () => {
  const client = new Client2({ name: 'modern', version: '2.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new Transport2(new URL(`${gw.url}/mcp/crm`)));
  const { tools } = await client.listTools();
  assert.equal(tools.length, 4);
  for (let i = 0; i < 6; i++) { // new connections: different workers answer
    const r = await client.callTool({ name: 'get_customer', arguments: { id: 'c-1' } });
    assert.equal(JSON.parse(text(r)).id, 'c-1');
  }
  const proxied = new Client2({ name: 'modern', version: '2.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await proxied.connect(new Transport2(new URL(`${gw.url}/mcp/all`)));
  assert.equal(text(await proxied.callTool({ name: 'docs_add', arguments: { a: 3, b: 4 } })), '7');
  await proxied.close();
  await client.close();
});

async function mcpPost(p, body, headers = {}) {
  const res = await fetch(`${gw.url}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const t = await res.text();
  return { status: res.status, headers: res.headers, body: t ? JSON.parse(t) : null };
}

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const MODERN = { 'mcp-protocol-version': '2026-07-28' };

test('stateless revision: server/discover, header checks, versions, 404 for unknown methods', async () => {
  const d = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: META } }, { ...MODERN, 'mcp-method': 'server/discover' });
  assert.equal(d.status, 200);
  assert.deepEqual(d.body.result.supportedVersions, ['2026-07-28']);
  assert.equal(d.body.result.resultType, 'complete');
  assert.equal(d.body.result._meta['io.modelcontextprotocol/serverInfo'].name, 'crm');

  const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { _meta: META, name: 'get_customer', arguments: { id: 'c-1' } } };
  const ok = await mcpPost('/mcp/crm', call, { ...MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'get_customer' });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.result.resultType, 'complete');
  const b64 = await mcpPost('/mcp/crm', call, { ...MODERN, 'mcp-method': 'tools/call', 'mcp-name': `=?base64?${Buffer.from('get_customer').toString('base64')}?=` });
  assert.equal(b64.status, 200);
  for (const headers of [
    { ...MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'create_ticket' },
    { ...MODERN, 'mcp-method': 'tools/list', 'mcp-name': 'get_customer' },
    { ...MODERN, 'mcp-method': 'tools/call' },
    { 'mcp-method': 'tools/call', 'mcp-name': 'get_customer' },
  ]) {
    const r = await mcpPost('/mcp/crm', call, headers);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, -32020);
  }
  const future = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } }, { 'mcp-protocol-version': '2099-01-01', 'mcp-method': 'tools/list' });
  assert.equal(future.status, 400);
  assert.equal(future.body.error.code, -32022);
  assert.deepEqual(future.body.error.data, { supported: ['2026-07-28'], requested: '2099-01-01' });
  const unknown = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 3, method: 'resources/list', params: { _meta: META } }, { ...MODERN, 'mcp-method': 'resources/list' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, -32601);
  const get = await fetch(`${gw.url}/mcp/crm`, { headers: { accept: 'text/event-stream' } });
  assert.equal(get.status, 405);
  await get.text();
});

test('bad input: -32700, -32600, -32601, -32602, each with the caller\'s id where it has one', async () => {
  const malformed = await mcpPost('/mcp/crm', '{"jsonrpc":"2.0","id":1,');
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.error.code, -32700);
  assert.equal(malformed.body.id, null);
  for (const bad of [
    { id: 5, method: 'tools/list' },
    { jsonrpc: '1.0', id: 5, method: 'tools/list' },
    { jsonrpc: '2.0', id: 5, method: 7 },
    { jsonrpc: '2.0', id: null, method: 'tools/list' },
    { jsonrpc: '2.0', id: 5, method: 'tools/list', params: [1] },
    [{ jsonrpc: '2.0', id: 5, method: 'tools/list' }],
  ]) {
    const r = await mcpPost('/mcp/crm', bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.body.error.code, -32600, JSON.stringify(bad));
  }
  const init = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  const sid = { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': '2025-11-25' };
  const nomethod = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 'x', method: 'prompts/list' }, sid);
  assert.equal(nomethod.body.error.code, -32601);
  assert.equal(nomethod.body.id, 'x');
  const noname = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { arguments: {} } }, sid);
  assert.equal(noname.body.error.code, -32602);
  const badargs = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'get_customer', arguments: 'x' } }, sid);
  assert.equal(badargs.body.error.code, -32602);
  const nosession = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 1, method: 'tools/list' });
  assert.equal(nosession.status, 400);
  const ping = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 'p', method: 'ping' }, sid);
  assert.deepEqual(ping.body, { jsonrpc: '2.0', id: 'p', result: {} });
});

test('sessions: DELETE ends one, an unknown id is 404, each call logged', async () => {
  const init = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  const id = init.headers.get('mcp-session-id');
  assert.match(id, /^[0-9a-f]{48}$/);
  const list = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': id });
  assert.equal(list.body.result.tools.length, 4);
  // another server's path does not know this session
  const other = await mcpPost('/mcp/petstore', { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': id });
  assert.equal(other.status, 404);
  const del = await fetch(`${gw.url}/mcp/crm`, { method: 'DELETE', headers: { 'mcp-session-id': id } });
  assert.equal(del.status, 200);
  const after = await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': id });
  assert.equal(after.status, 404);
  const forged = id.slice(0, 16) + '0'.repeat(32);
  assert.equal((await mcpPost('/mcp/crm', { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': forged })).status, 404);
  await waitFor('mcp_call lines', () => gw.lines().some((l) => l.event === 'mcp_call' && l.tool === 'get_customer' && l.status === 'ok' && l.upstream_status === 200));
  const line = await waitFor('the docs_search line', () => gw.lines().find((l) => l.event === 'mcp_call' && l.tool === 'docs_search'));
  assert.equal(line.upstream, 'docs');
  assert.ok(!gw.stdout.includes('secret-crm-token'), 'the upstream credential is never logged');
});
