// Tool calls metered like model calls: each one a request record (GET /admin/requests and
// /admin/requests/{id}), counted in the usage rollups (GET /admin/usage) and in Prometheus'
// aigw_requests_total under model="mcp:<server>/<tool>", with the caller's key, tenant and
// project, its trace continued (and sent on to the REST API and the upstream MCP server), and
// the status of what went wrong: a refusal, an upstream that cannot be reached, a tool error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { gatewayConfig, startGateway, waitFor } from './lib/harness.mjs';
import { startRest } from './fixtures/rest_service.mjs';
import { startUpstream } from './fixtures/mcp_upstream.mjs';

const CHANNEL = '  - {name: none, type: openai, base_url: "http://127.0.0.1:9/v1"}';
const MODELS = '  - {name: chat, channel: none}';
const KEY = 'sk-mcp-metering-0123456789abcdef';
const NARROW = 'sk-mcp-narrow-0123456789abcdef01';
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };

let rest, upstream, gw;

before(async () => {
  rest = await startRest();
  upstream = await startUpstream('docs');
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS, extra: `auth:
  mode: api_key
  keys:
    - { name: agent, tenant: acme, project: support, key: "${KEY}", models: ["mcp:*"] }
    - { name: narrow, tenant: beta, project: bots, key: "${NARROW}", models: ["mcp:crm/get_customer"] }
metering:
  store: var/aigw.db
mcp:
  servers:
    - name: crm
      path: /mcp/crm
      tools:
        - name: get_customer
          input_schema: { type: object, properties: { id: { type: string } }, required: [id] }
          request: { method: GET, url: "http://127.0.0.1:${rest.port}/api/customers/{id}" }
        - name: create_ticket
          input_schema: { type: object, properties: { customer: { type: string }, text: { type: string } }, required: [customer, text] }
          request: { method: POST, url: "http://127.0.0.1:${rest.port}/api/tickets", body: json }
        - name: offline
          request: { method: GET, url: "http://127.0.0.1:9/api/nothing" }
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

const admin = async (p) => {
  const res = await fetch(`${gw.adminUrl}${p}`, { headers: { authorization: 'Bearer test-admin-token' } });
  const text = await res.text();
  assert.equal(res.status, 200, `${p}: ${text}`);
  return p.startsWith('/metrics') ? text : JSON.parse(text);
};

async function call(p, name, args, key = KEY, headers = {}) {
  const res = await fetch(`${gw.url}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call', 'mcp-name': name, ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { _meta: META, name, arguments: args } }),
  });
  return { status: res.status, body: await res.json() };
}

const records = async (model) => (await admin(`/admin/requests?model=${encodeURIComponent(model)}&limit=100`)).data;

test('each tool call is a request record: identity, model mcp:<server>/<tool>, channel, status, trace', async () => {
  const client = new Client({ name: 'agent', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/crm`),
    { requestInit: { headers: { authorization: `Bearer ${KEY}` } } }));
  for (let i = 0; i < 3; i++) {
    const r = await client.callTool({ name: 'get_customer', arguments: { id: 'c-1' } });
    assert.equal(r.isError, false);
  }
  await client.close();

  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const caller = `00-${traceId}-b7ad6b7169203331-01`;
  const traced = await call('/mcp/crm', 'create_ticket', { customer: 'c-1', text: 'hi' }, KEY, { traceparent: caller, 'x-request-id': 'agent-req-1' });
  assert.equal(traced.status, 200);
  // the REST API got the trace: the caller's trace id, the gateway's span as the parent
  const sent = rest.requests.at(-1).headers.traceparent;
  assert.match(sent, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  assert.notEqual(sent.split('-')[2], 'b7ad6b7169203331');

  const rows = await waitFor('the records', async () => { const d = await records('mcp:crm/get_customer'); return d.length >= 3 && d; });
  const row = rows[0];
  assert.equal(row.model, 'mcp:crm/get_customer');
  assert.equal(row.status, 200);
  assert.equal(row.tenant, 'acme');
  assert.equal(row.project, 'support');
  assert.equal(row.channel, `127.0.0.1:${rest.port}`);
  assert.equal(row.prompt_tokens, 0);
  assert.equal(row.completion_tokens, 0);

  const [ticket] = await waitFor('the traced record', async () => { const d = await records('mcp:crm/create_ticket'); return d.length && d; });
  assert.equal(ticket.id, 'agent-req-1');
  assert.equal(ticket.trace_id, traceId);
  const full = await admin(`/admin/requests/${ticket.id}`);
  assert.equal(full.trace.parent_id, 'b7ad6b7169203331');
  assert.equal(full.trace.span_id, sent.split('-')[2], 'the span the REST API was told is the record\'s');
  assert.equal(full.request.path, '/mcp/crm');
  assert.equal(full.request.protocol, 'mcp');
  assert.equal(full.identity.key, (await admin('/admin/requests?model=mcp%3Acrm%2Fcreate_ticket')).data[0].key);
  assert.equal(full.attempts.length, 1);
  assert.equal(full.attempts[0].status, 201);
  assert.equal(full.usage.estimated, false);
});

test('failures carry their status: tool errors 200, refusals 403, an unreachable API 502', async () => {
  const boom = await call('/mcp/crm', 'get_customer', { id: 'boom' });
  assert.equal(boom.body.result.isError, true);
  const refused = await call('/mcp/crm', 'create_ticket', { customer: 'c', text: 't' }, NARROW);
  assert.equal(refused.status, 403);
  const offline = await call('/mcp/crm', 'offline', {});
  assert.equal(offline.body.result.isError, true);

  const errs = await waitFor('the error records', async () => {
    const d = (await admin('/admin/requests?limit=100')).data;
    const find = (pred) => d.find(pred);
    const tool = find((r) => r.model === 'mcp:crm/get_customer' && r.error === 'tool_error');
    const forbidden = find((r) => r.model === 'mcp:crm/create_ticket' && r.status === 403);
    const down = find((r) => r.model === 'mcp:crm/offline');
    return tool && forbidden && down && { tool, forbidden, down };
  });
  assert.equal(errs.tool.status, 200);
  assert.equal(errs.forbidden.error, 'model_not_allowed');
  assert.equal(errs.forbidden.tenant, 'beta');
  assert.equal(errs.down.status, 502);
  assert.equal(errs.down.error, 'upstream_unreachable');
});

test('proxied tools: the upstream MCP server is the channel, and gets the trace', async () => {
  const traceId = '11111111111111112222222222222222';
  const r = await call('/mcp/all', 'docs_search', { query: 'metering' }, KEY, { traceparent: `00-${traceId}-3333333333333333-00` });
  assert.equal(r.body.result.content[0].text, 'docs results for metering');
  const [row] = await waitFor('the proxied record', async () => { const d = await records('mcp:all/docs_search'); return d.length && d; });
  assert.equal(row.channel, 'docs');
  assert.equal(row.trace_id, traceId);
  const full = await admin(`/admin/requests/${row.id}`);
  assert.equal(full.route.upstream_model, 'search');
});

test('usage counts tool calls as requests; Prometheus labels them by tool', async () => {
  const usage = await waitFor('usage rows', async () => {
    const u = await admin('/admin/usage?group_by=tenant,model');
    const row = u.data.find((d) => d.model === 'mcp:crm/get_customer' && d.tenant === 'acme');
    return row && row.requests >= 4 && u;
  });
  const gc = usage.data.find((d) => d.model === 'mcp:crm/get_customer' && d.tenant === 'acme');
  assert.equal(gc.requests, 4); // three ok, one tool error
  assert.equal(gc.total_tokens, 0);
  const off = usage.data.find((d) => d.model === 'mcp:crm/offline');
  assert.equal(off.errors, 1);

  const metrics = await admin('/metrics');
  const count = (model, status) => {
    const m = new RegExp(`^aigw_requests_total\\{model="${model.replace(/[/.*+?^${}()|[\]\\]/g, '\\$&')}",channel="[^"]*",status="${status}"\\} (\\d+)`, 'm').exec(metrics);
    return m ? Number(m[1]) : 0;
  };
  assert.equal(count('mcp:crm/get_customer', 200), 4);
  assert.equal(count('mcp:crm/create_ticket', 403), 1);
  assert.equal(count('mcp:crm/offline', 502), 1);
  assert.equal(count('mcp:all/docs_search', 200), 1);
  assert.match(metrics, /aigw_refusals_total\{reason="model_access"\} 1/);
});
