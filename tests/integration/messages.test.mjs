// Anthropic's Messages API on the gateway (POST /v1/messages), driven by the official
// @anthropic-ai/sdk, served by engines that speak no Anthropic at all: an OpenAI-compatible
// engine (vLLM) and Huawei MindIE (its OpenAI route, and its native TGI-style route).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startSim, startGateway, gatewayConfig, waitFor } from './lib/harness.mjs';

const weatherTool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

const backends = [
  { name: 'vllm', sim: ['--engine', 'vllm'], yaml: () => 'type: vllm', tools: true },
  {
    name: 'mindie', sim: ['--engine', 'mindie', '--management-port', '0'],
    yaml: (s) => `type: mindie\n    management_url: ${s.managementUrl}`, tools: true,
  },
  {
    name: 'mindie-native', sim: ['--engine', 'mindie', '--management-port', '0'],
    yaml: (s) => `type: mindie\n    api: native\n    chat_template: qwen\n    management_url: ${s.managementUrl}`, tools: false,
  },
];

for (const backend of backends) {
  describe(`/v1/messages served by ${backend.name}`, () => {
    let sim, gw, client;
    before(async () => {
      sim = await startSim(backend.sim);
      const channels = `  - name: up
    base_url: ${sim.url}
    ${backend.yaml(sim)}
    forward_headers: ["x-sim-*"]
`;
      gw = await startGateway(await gatewayConfig({ channels, models: '  - {name: claude-like, channel: up, upstream_model: sim-model}' }));
      client = new Anthropic({ baseURL: gw.url, apiKey: 'caller-key', maxRetries: 0 });
    });
    after(async () => {
      await gw?.stop();
      await sim?.stop();
    });

    test('a message with a system prompt: text, stop reason and usage', async () => {
      const msg = await client.messages.create({
        model: 'claude-like', max_tokens: 5, system: 'You are terse.',
        messages: [{ role: 'user', content: 'hello there' }],
      });
      assert.equal(msg.type, 'message');
      assert.equal(msg.role, 'assistant');
      assert.equal(msg.model, 'claude-like');
      assert.match(msg.id, /^msg_/);
      assert.equal(msg.content[0].type, 'text');
      assert.ok(msg.content[0].text.length > 0);
      assert.equal(msg.stop_reason, 'max_tokens');
      assert.equal(msg.usage.output_tokens, 5);
      assert.ok(msg.usage.input_tokens > 0);
      // the system prompt reached the engine
      const last = await sim.lastRequest();
      const body = typeof last.body === 'string' ? JSON.parse(last.body) : last.body;
      const sent = JSON.stringify(body);
      assert.match(sent, /You are terse\./);
    });

    test('a stream: the SDK assembles the same message from the events', async () => {
      const whole = await client.messages.create({
        model: 'claude-like', max_tokens: 6, messages: [{ role: 'user', content: 'stream please' }],
      });
      const stream = client.messages.stream({
        model: 'claude-like', max_tokens: 6, messages: [{ role: 'user', content: 'stream please' }],
      });
      let text = '';
      const events = [];
      stream.on('text', (t) => { text += t; });
      stream.on('streamEvent', (e) => events.push(e.type));
      const final = await stream.finalMessage();
      assert.equal(text, whole.content[0].text);
      assert.equal(final.content[0].text, whole.content[0].text);
      assert.equal(final.stop_reason, 'max_tokens');
      assert.equal(final.usage.output_tokens, 6);
      const id = stream.response?.headers.get('x-request-id') ?? (await stream.withResponse()).response.headers.get('x-request-id');
      const line = await waitFor('the access line', () => gw.lines().find((l) => l.event === 'access' && l.request_id === id));
      assert.equal(line.path, '/v1/messages');
      assert.equal(line.usage?.completion_tokens, 6, JSON.stringify(line));
      assert.equal(events[0], 'message_start');
      assert.equal(events.at(-1), 'message_stop');
      assert.ok(events.includes('content_block_delta'));
      assert.ok(events.includes('message_delta'));
    });

    if (backend.tools) {
      test('tool use, whole and streamed, and the tool result back', async () => {
        const ask = { model: 'claude-like', max_tokens: 100, tools: [weatherTool], messages: [{ role: 'user', content: 'Weather in Paris?' }] };
        const msg = await client.messages.create(ask);
        assert.equal(msg.stop_reason, 'tool_use');
        const use = msg.content.find((b) => b.type === 'tool_use');
        assert.ok(use, JSON.stringify(msg.content));
        assert.equal(use.name, 'get_weather');
        assert.deepEqual(use.input, { city: 'sim' });
        const final = await client.messages.stream(ask).finalMessage();
        assert.equal(final.stop_reason, 'tool_use');
        const streamed = final.content.find((b) => b.type === 'tool_use');
        assert.equal(streamed.name, 'get_weather');
        assert.deepEqual(streamed.input, { city: 'sim' });
        const next = await client.messages.create({
          ...ask,
          messages: [...ask.messages, { role: 'assistant', content: msg.content },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] }],
        });
        assert.equal(next.stop_reason, 'end_turn');
        assert.equal(next.content[0].type, 'text');
      });
    }

    test('errors in Anthropic\'s shape: a bad request, an unknown model, an engine failure', async () => {
      await assert.rejects(client.messages.create({ model: 'claude-like', messages: [{ role: 'user', content: 'x' }] }), (err) => {
        assert.equal(err.status, 400);
        assert.equal(err.error?.type, 'error');
        assert.equal(err.error?.error?.type, 'invalid_request_error');
        assert.match(err.error.error.message, /max_tokens/);
        return true;
      });
      await assert.rejects(client.messages.create({ model: 'nosuch', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }), (err) => {
        assert.equal(err.status, 404);
        assert.equal(err.error?.error?.type, 'not_found_error');
        return true;
      });
      await assert.rejects(client.messages.create(
        { model: 'claude-like', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] },
        { headers: { 'x-sim-fault': 'status:500' } }), (err) => {
        assert.equal(err.status, 500);
        assert.equal(err.error?.error?.type, 'api_error');
        return true;
      });
      await assert.rejects(client.messages.create(
        { model: 'claude-like', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] },
        { headers: { 'x-sim-fault': 'status:429' } }), (err) => {
        assert.equal(err.status, 429);
        assert.equal(err.error?.error?.type, 'rate_limit_error');
        return true;
      });
    });

    test('a stream the engine cuts ends with an error event the SDK raises', async () => {
      const stream = client.messages.stream(
        { model: 'claude-like', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] },
        { headers: { 'x-sim-fault': 'cut:2' } });
      await assert.rejects(stream.finalMessage(), (err) => {
        assert.match(String(err.message), /before it was complete|broke|stream/);
        return true;
      });
    });
  });
}
