// Every engine type, driven by the official openai SDK through the gateway: the simulator speaks
// each engine's own wire format (paths, headers, framing, error shapes, quirks) and the caller
// sees OpenAI's API whatever answers. What the gateway sent upstream is checked too.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSim, startGateway, gatewayConfig, waitFor } from './lib/harness.mjs';

const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city', 'days'] },
  },
};

// name, simulator flags, the channel's YAML (after name/base_url), whether it can call tools
const engines = [
  { name: 'openai', sim: ['--engine', 'openai'], base: (s) => `${s.url}/v1`, yaml: 'type: openai', tools: true },
  { name: 'vllm', sim: ['--engine', 'vllm'], base: (s) => s.url, yaml: 'type: vllm', tools: true },
  { name: 'sglang', sim: ['--engine', 'sglang'], base: (s) => s.url, yaml: 'type: sglang', tools: true },
  { name: 'sglang-native', sim: ['--engine', 'sglang'], base: (s) => s.url, yaml: 'type: sglang\n    api: native\n    chat_template: qwen', tools: false },
  {
    name: 'mindie', sim: ['--engine', 'mindie', '--management-port', '0'], base: (s) => s.url,
    yaml: (s) => `type: mindie\n    management_url: ${s.managementUrl}`, tools: true,
  },
  {
    name: 'mindie-native', sim: ['--engine', 'mindie', '--management-port', '0'], base: (s) => s.url,
    yaml: (s) => `type: mindie\n    api: native\n    chat_template: qwen\n    management_url: ${s.managementUrl}`, tools: false,
  },
  { name: 'tgi', sim: ['--engine', 'tgi'], base: (s) => s.url, yaml: 'type: tgi\n    chat_template: llama-3', tools: false },
  { name: 'anthropic', sim: ['--engine', 'anthropic'], base: (s) => s.url, yaml: 'type: anthropic\n    api_key: sk-ant-test', tools: true },
  {
    name: 'azure', sim: ['--engine', 'azure'], base: (s) => s.url,
    yaml: 'type: azure\n    deployment: gpt-4o\n    api_version: "2024-10-21"\n    api_key: az-test', tools: true,
  },
];

const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'hello there engine' }];

for (const engine of engines) {
  describe(`engine ${engine.name}`, () => {
    let sim, gw, client;
    before(async () => {
      sim = await startSim(engine.sim);
      const yaml = typeof engine.yaml === 'function' ? engine.yaml(sim) : engine.yaml;
      const channels = `  - name: up
    base_url: ${engine.base(sim)}
    ${yaml}
    forward_headers: ["x-sim-*"]
`;
      const models = '  - {name: m, channel: up, upstream_model: sim-model}\n  - {name: m-once, channel: up, upstream_model: sim-model}';
      gw = await startGateway(await gatewayConfig({ channels, models }));
      client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    });
    after(async () => {
      await gw?.stop();
      await sim?.stop();
    });

    test('chat: the answer, the caller model name and exact usage', async () => {
      const res = await client.chat.completions.create({ model: 'm', messages, max_tokens: 5 });
      assert.equal(res.model, 'm');
      assert.equal(res.object, 'chat.completion');
      const choice = res.choices[0];
      assert.equal(choice.message.role, 'assistant');
      assert.ok(typeof choice.message.content === 'string' && choice.message.content.length > 0);
      assert.equal(choice.finish_reason, 'length');
      assert.equal(res.usage.completion_tokens, 5);
      assert.ok(res.usage.prompt_tokens > 0);
      assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + res.usage.completion_tokens);
    });

    test('stream with usage: the same text, then one usage chunk', async () => {
      const whole = await client.chat.completions.create({ model: 'm', messages, max_tokens: 6 });
      const stream = await client.chat.completions.create({
        model: 'm', messages, max_tokens: 6, stream: true, stream_options: { include_usage: true },
      });
      let text = '', finish = null, usage = null, chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        assert.equal(chunk.model, 'm');
        if (chunk.usage) usage = chunk.usage;
        for (const c of chunk.choices) {
          text += c.delta?.content ?? '';
          if (c.finish_reason) finish = c.finish_reason;
        }
      }
      assert.ok(chunks >= 3);
      assert.equal(text, whole.choices[0].message.content);
      assert.equal(finish, 'length');
      assert.ok(usage, 'a usage chunk came');
      assert.equal(usage.completion_tokens, 6);
      assert.equal(usage.prompt_tokens, whole.usage.prompt_tokens);
    });

    test('stream without include_usage: no usage chunk reaches the caller, the log has it', async () => {
      const { data: stream, response } = await client.chat.completions
        .create({ model: 'm', messages, max_tokens: 3, stream: true }).withResponse();
      for await (const chunk of stream) {
        assert.ok(!chunk.usage, `unexpected usage: ${JSON.stringify(chunk)}`);
        assert.ok(chunk.choices.length > 0, 'no empty-choices chunk');
      }
      const id = response.headers.get('x-request-id');
      const line = await waitFor('the access line', () => gw.lines().find((l) => l.event === 'access' && l.request_id === id));
      assert.equal(line.usage?.completion_tokens, 3, JSON.stringify(line));
      assert.ok(line.usage.prompt_tokens > 0);
    });

    if (engine.tools) {
      test('tool calls, whole and streamed', async () => {
        const res = await client.chat.completions.create({ model: 'm', messages, tools: [weather] });
        const call = res.choices[0].message.tool_calls[0];
        assert.equal(res.choices[0].finish_reason, 'tool_calls');
        assert.equal(call.type, 'function');
        assert.equal(call.function.name, 'get_weather');
        assert.deepEqual(JSON.parse(call.function.arguments), { city: 'sim', days: 1 });
        const stream = await client.chat.completions.create({ model: 'm', messages, tools: [weather], stream: true });
        const calls = [];
        let finish = null;
        for await (const chunk of stream) {
          for (const c of chunk.choices) {
            for (const t of c.delta?.tool_calls ?? []) {
              calls[t.index] ??= { id: '', name: '', args: '' };
              if (t.id) calls[t.index].id = t.id;
              if (t.function?.name) calls[t.index].name += t.function.name;
              if (t.function?.arguments) calls[t.index].args += t.function.arguments;
            }
            if (c.finish_reason) finish = c.finish_reason;
          }
        }
        assert.equal(finish, 'tool_calls');
        assert.equal(calls.length, 1);
        assert.ok(calls[0].id);
        assert.equal(calls[0].name, 'get_weather');
        assert.deepEqual(JSON.parse(calls[0].args), { city: 'sim', days: 1 });
        // the tool's result goes back and the model answers in text
        const next = await client.chat.completions.create({
          model: 'm',
          tools: [weather],
          messages: [...messages, res.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'sunny' }],
        });
        assert.equal(next.choices[0].finish_reason, 'stop');
        assert.ok(next.choices[0].message.content.length > 0);
      });
    } else {
      test('tools: a clear 400, since the native protocol cannot call them', async () => {
        await assert.rejects(client.chat.completions.create({ model: 'm', messages, tools: [weather] }), (err) => {
          assert.equal(err.status, 400);
          assert.match(err.message, /tool/);
          return true;
        });
      });
    }

    test('engine errors arrive in OpenAI\'s shape with their status', async () => {
      for (const [fault, status] of [['status:400', 400], ['status:500', 500], ['status:429', 429]]) {
        await assert.rejects(
          client.chat.completions.create({ model: 'm-once', messages }, { headers: { 'x-sim-fault': fault } }),
          (err) => {
            assert.equal(err.status, status, `${fault}: ${err.message}`);
            assert.ok(err.error?.message, `${fault}: a message`);
            assert.ok(err.error?.type, `${fault}: a type`);
            return true;
          });
      }
    });

    test('a stream cut by the engine ends with an explicit error, never silently', async () => {
      const stream = await client.chat.completions.create(
        { model: 'm', messages, max_tokens: 8, stream: true }, { headers: { 'x-sim-fault': 'cut:2' } });
      await assert.rejects(async () => {
        for await (const chunk of stream) void chunk; // eslint-disable-line no-unused-vars
      }, (err) => {
        assert.match(err.message, /before it was complete|broke|stream/);
        return true;
      });
    });
  });
}

// What went upstream: each adapter's path, authentication style and body quirks.
describe('upstream requests', () => {
  const started = [];
  after(async () => { for (const p of started.reverse()) await p.stop(); });

  async function pair(simArgs, yaml) {
    const sim = await startSim(simArgs);
    started.push(sim);
    const channels = `  - name: up
    base_url: ${sim.url}
    ${typeof yaml === 'function' ? yaml(sim) : yaml}
`;
    const gw = await startGateway(await gatewayConfig({ channels, models: '  - {name: m, channel: up, upstream_model: sim-model}' }));
    started.push(gw);
    return { sim, gw, client: new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'caller-key', maxRetries: 0 }) };
  }

  test('anthropic: /v1/messages with x-api-key and anthropic-version, the caller key never', async () => {
    const { sim, client } = await pair(['--engine', 'anthropic'], 'type: anthropic\n    api_key: sk-ant-1');
    await client.chat.completions.create({ model: 'm', messages, temperature: 1.5, stop: 'END' });
    const last = await sim.lastRequest();
    assert.equal(last.path, '/v1/messages');
    assert.equal(last.headers['x-api-key'], 'sk-ant-1');
    assert.equal(last.headers['anthropic-version'], '2023-06-01');
    assert.equal(last.headers.authorization, undefined);
    const body = typeof last.body === 'string' ? JSON.parse(last.body) : last.body;
    assert.equal(body.model, 'sim-model');
    assert.equal(body.system, 'You are terse.');
    assert.equal(body.max_tokens, 4096);
    assert.equal(body.temperature, 1);
    assert.deepEqual(body.stop_sequences, ['END']);
  });

  test('azure: the deployment URL, api-version and the api-key header', async () => {
    const { sim, client } = await pair(['--engine', 'azure'], 'type: azure\n    deployment: gpt-4o\n    api_version: "2024-10-21"\n    api_key: az-1');
    await client.chat.completions.create({ model: 'm', messages });
    const last = await sim.lastRequest();
    assert.equal(last.path, '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21');
    assert.equal(last.headers['api-key'], 'az-1');
    assert.equal(last.headers.authorization, undefined);
  });

  test('mindie: max_completion_tokens becomes max_tokens, which is all MindIE reads', async () => {
    const { sim, client } = await pair(['--engine', 'mindie', '--management-port', '0'],
      (s) => `type: mindie\n    management_url: ${s.managementUrl}`);
    const res = await client.chat.completions.create({ model: 'm', messages, max_completion_tokens: 3 });
    assert.equal(res.usage.completion_tokens, 3);
    const last = await sim.lastRequest();
    const body = typeof last.body === 'string' ? JSON.parse(last.body) : last.body;
    assert.equal(body.max_tokens, 3);
    assert.equal(body.max_completion_tokens, undefined);
  });

  test('vllm: extras pass untouched, and a stream asks for usage for metering', async () => {
    const { sim, client } = await pair(['--engine', 'vllm'], 'type: vllm');
    const extras = { top_k: 5, repetition_penalty: 1.05, chat_template_kwargs: { enable_thinking: false }, min_p: 0.1 };
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true, ...extras });
    for await (const chunk of stream) void chunk; // eslint-disable-line no-unused-vars
    const last = await sim.lastRequest();
    const body = typeof last.body === 'string' ? JSON.parse(last.body) : last.body;
    for (const [k, v] of Object.entries(extras)) assert.deepEqual(body[k], v, k);
    assert.deepEqual(body.stream_options, { include_usage: true });
    assert.equal(last.path, '/v1/chat/completions');
  });

  test('a caller that says include_usage: false gets no usage chunk, yet the engine is asked for one', async () => {
    const { sim, client } = await pair(['--engine', 'vllm'], 'type: vllm');
    const stream = await client.chat.completions.create({
      model: 'm', messages, stream: true, max_tokens: 3,
      stream_options: { include_usage: false, continuous_usage_stats: false },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length > 0);
    assert.ok(chunks.every((c) => !c.usage), 'no usage reached the caller');
    const last = await sim.lastRequest();
    const body = typeof last.body === 'string' ? JSON.parse(last.body) : last.body;
    assert.deepEqual(body.stream_options, { include_usage: true, continuous_usage_stats: false });
  });

  test('tgi: /generate with a llama-3 prompt; temperature 0 is greedy, as TGI wants it', async () => {
    const { sim, client } = await pair(['--engine', 'tgi'], 'type: tgi\n    chat_template: llama-3');
    await client.chat.completions.create({ model: 'm', messages, temperature: 0, max_tokens: 4 });
    const last = await sim.lastRequest();
    assert.equal(last.path, '/generate');
    const body = typeof last.body === 'string' ? JSON.parse(last.body) : last.body;
    assert.match(body.inputs, /<\|start_header_id\|>system<\|end_header_id\|>\n\nYou are terse\.<\|eot_id\|>/);
    assert.match(body.inputs, /<\|start_header_id\|>assistant<\|end_header_id\|>\n\n$/);
    assert.equal(body.parameters.do_sample, false);
    assert.equal(body.parameters.temperature, undefined);
    assert.equal(body.parameters.max_new_tokens, 4);
  });
});

// The configuration of the issue that asked for these adapters, as it was written (only the
// addresses are the simulators'), served to both SDKs' kinds of callers.
describe('the documented multi-engine config', () => {
  const sims = {};
  let gw;
  before(async () => {
    [sims.claude, sims.ascend, sims.tgi, sims.az] = await Promise.all([
      startSim(['--engine', 'anthropic', '--models', 'claude-sonnet-4-5']),
      startSim(['--engine', 'mindie', '--management-port', '0', '--models', 'qwen']),
      startSim(['--engine', 'tgi']),
      startSim(['--engine', 'azure']),
    ]);
    const channels = `      - name: claude
        type: anthropic
        base_url: http://127.0.0.1:8010
        api_key: \${ANTHROPIC_KEY}
      - name: ascend
        type: mindie
        base_url: http://127.0.0.1:1025
        management_url: http://127.0.0.1:1026
        api: native                    # or openai
        chat_template: qwen
      - name: tgi
        type: tgi
        base_url: http://127.0.0.1:8080
        chat_template: llama-3
      - name: az
        type: azure
        base_url: http://127.0.0.1:8011
        deployment: gpt-4o
        api_version: "2024-10-21"
        api_key: \${AZURE_KEY}`
      .replace('http://127.0.0.1:8010', sims.claude.url)
      .replace('http://127.0.0.1:1025', sims.ascend.url)
      .replace('http://127.0.0.1:1026', sims.ascend.managementUrl)
      .replace('http://127.0.0.1:8080', sims.tgi.url)
      .replace('http://127.0.0.1:8011', sims.az.url)
      .replace(/^ {4}/gm, '');
    const models = `  - { name: sonnet, channel: claude, upstream_model: claude-sonnet-4-5 }
  - { name: qwen, channel: ascend }
  - { name: llama, channel: tgi }
  - { name: gpt-4o, channel: az }`;
    gw = await startGateway(await gatewayConfig({ channels, models }), { env: { ANTHROPIC_KEY: 'sk-ant-doc', AZURE_KEY: 'az-doc' } });
  });
  after(async () => {
    await gw?.stop();
    for (const s of Object.values(sims)) await s.stop();
  });

  test('every channel answers the openai SDK, streams included', async () => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    for (const model of ['sonnet', 'qwen', 'llama', 'gpt-4o']) {
      const res = await client.chat.completions.create({ model, messages, max_tokens: 4 });
      assert.equal(res.model, model);
      assert.equal(res.usage.completion_tokens, 4, model);
      const stream = await client.chat.completions.create({ model, messages, max_tokens: 4, stream: true, stream_options: { include_usage: true } });
      let text = '', usage = null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? '';
        usage = chunk.usage ?? usage;
      }
      assert.equal(text, res.choices[0].message.content, model);
      assert.equal(usage?.completion_tokens, 4, model);
    }
    assert.equal((await sims.claude.lastRequest()).headers['x-api-key'], 'sk-ant-doc');
    assert.equal((await sims.az.lastRequest()).headers['api-key'], 'az-doc');
    assert.equal((await sims.ascend.lastRequest()).path, '/generate_stream');
  });
});
