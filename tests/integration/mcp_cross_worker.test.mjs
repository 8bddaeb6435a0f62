// A legacy HTTP+SSE session's answers reach its event stream whichever worker took the POST:
// the stream lives on one worker, each POST comes on a new connection (the kernel spreads those
// over the workers' SO_REUSEPORT listeners), and an answer made on another worker travels
// through the stream worker's inbox and the eventfd that wakes it (src/core/wake.c): the
// workers' event loops take no lock, so nothing else may reach them. A lost wake-up leaves an
// answer unsent and the test waiting for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gatewayConfig, startGateway, waitFor } from './lib/harness.mjs';
import { startRest } from './fixtures/rest_service.mjs';

const CHANNEL = '  - {name: none, type: openai, base_url: "http://127.0.0.1:9/v1"}';
const MODELS = '  - {name: chat, channel: none}';
const CALLS = 60;

// One POST on a connection of its own (no keep-alive agent): each may land on any worker.
function postAlone(url, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(url, { method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), connection: 'close' } },
    (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end(data);
  });
}

test('legacy SSE answers made on any worker reach the stream (2 workers, new connection per POST)', async () => {
  const rest = await startRest();
  const cfg = await gatewayConfig({ channels: CHANNEL, models: MODELS,
    extra: `mcp:\n  servers:\n    - name: crm\n      path: /mcp/crm\n      tools:\n        - name: get_customer\n          input_schema: { type: object, properties: { id: { type: string } }, required: [id] }\n          request: { method: GET, url: "http://127.0.0.1:${rest.port}/api/customers/{id}" }\n` });
  const gw = await startGateway(cfg);
  const stream = new AbortController();
  try {
    const res = await fetch(`${gw.url}/mcp/crm/sse`, { headers: { accept: 'text/event-stream' }, signal: stream.signal });
    assert.equal(res.status, 200);
    const answers = new Map();
    let endpoint = null;
    let buffered = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        buffered += decoder.decode(chunk, { stream: true });
        let cut;
        while ((cut = buffered.indexOf('\n\n')) >= 0) {
          const event = buffered.slice(0, cut);
          buffered = buffered.slice(cut + 2);
          const kind = /^event: (.*)$/m.exec(event)?.[1];
          const data = /^data: (.*)$/m.exec(event)?.[1];
          if (kind === 'endpoint') endpoint = data;
          else if (kind === 'message') { const m = JSON.parse(data); answers.set(m.id, m); }
        }
      }
    })().catch(() => {});
    await waitFor('the endpoint event', async () => endpoint);
    const url = new URL(endpoint, gw.url).toString();
    assert.equal(await postAlone(url, { jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 't', version: '1' } } }), 202);
    await waitFor('the initialize answer', async () => answers.has(0));
    assert.equal(await postAlone(url, { jsonrpc: '2.0', method: 'notifications/initialized' }), 202);
    // all at once: several land on the other worker together, and its posts coalesce
    const statuses = await Promise.all(Array.from({ length: CALLS }, (_, i) => postAlone(url,
      { jsonrpc: '2.0', id: i + 1, method: 'tools/call', params: { name: 'get_customer', arguments: { id: 'c-1' } } })));
    assert.deepEqual(new Set(statuses), new Set([202]));
    await waitFor(`all ${CALLS} answers on the stream`, async () => {
      for (let i = 1; i <= CALLS; i++) if (!answers.has(i)) return false;
      return true;
    });
    for (let i = 1; i <= CALLS; i++) {
      const text = answers.get(i).result.content[0].text;
      assert.equal(JSON.parse(text).id, 'c-1');
    }
    stream.abort();
    await reading;
  } finally {
    stream.abort();
    await gw.stop();
    await rest.close();
  }
});
