// aigw-sim driven by the official openai SDK: exact usage, vLLM's stream order, embeddings in
// both encodings, errors in every shape, and a client that leaves mid-stream being counted.
// Run: AIGW_BUILD=build node --test tests/integration/sim.test.mjs (falls back to /tmp/aigw-sim).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import OpenAI from 'openai';

const binary = `${process.env.AIGW_BUILD || '/tmp'}/aigw-sim`;
const slow = Boolean(process.env.AIGW_VALGRIND || process.env.AIGW_SANITIZED);
const startTimeoutMs = slow ? 60000 : 10000;

let sim;
let baseURL;
let client;

// Starts the simulator on an ephemeral port and resolves with its URL from the one line it prints.
function startSim(args) {
    const argv = ['--port', '0', '--threads', '2', ...args];
    const command = process.env.AIGW_VALGRIND ? 'valgrind' : binary;
    const commandArgs = process.env.AIGW_VALGRIND
        ? ['--quiet', '--leak-check=full', '--errors-for-leak-kinds=definite',
            '--error-exitcode=99', binary, ...argv]
        : argv;
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    const url = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('aigw-sim did not start in time')),
            startTimeoutMs);
        const lines = createInterface({ input: child.stdout });
        lines.on('line', (line) => {
            const match = /^aigw-sim listening on (http:\/\/\S+)$/.exec(line);
            if (match) {
                clearTimeout(timer);
                resolve(match[1]);
            }
        });
        child.on('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`aigw-sim exited early with ${code}`));
        });
    });
    return { child, url };
}

async function stopSim(child) {
    if (child.exitCode !== null) return child.exitCode;
    const exited = new Promise((resolve) => {
        child.on('exit', (code, signal) => resolve(code ?? signal));
    });
    child.kill('SIGTERM');
    return exited;
}

async function getJSON(path, init) {
    const res = await fetch(`${baseURL}${path}`, init);
    assert.equal(res.status, 200, `${path} answered ${res.status}`);
    return res.json();
}

const stats = () => getJSON('/sim/stats');
const resetStats = () => getJSON('/sim/reset', { method: 'POST' });

// Polls /sim/stats until pred holds: bounded, never a fixed sleep.
async function waitForStats(pred, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
        last = await stats();
        if (pred(last)) return last;
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.fail(`stats never matched: ${JSON.stringify(last)}`);
}

const words = (text) => text.split(/\s+/).filter(Boolean).length;
const user = (content) => [{ role: 'user', content }];

before(async () => {
    const started = startSim(['--models', 'sim-model,other-model', '--output-tokens', '16']);
    sim = started.child;
    baseURL = await started.url;
    client = new OpenAI({ apiKey: 'unused', baseURL: `${baseURL}/v1`, maxRetries: 0 });
});

after(async () => {
    if (sim) {
        const code = await stopSim(sim);
        assert.equal(code, 0, 'aigw-sim must exit 0 on SIGTERM (clean stop, no leak report)');
    }
});

describe('chat completions', () => {
    test('usage is exact and finish_reason follows max_tokens', async () => {
        const limited = await client.chat.completions.create({
            model: 'sim-model',
            messages: [
                { role: 'system', content: 'four five' },
                { role: 'user', content: [{ type: 'text', text: ' one  two\nthree ' }] },
            ],
            max_tokens: 7,
        });
        assert.match(limited.id, /^chatcmpl-/);
        assert.equal(limited.object, 'chat.completion');
        assert.equal(limited.model, 'sim-model');
        assert.deepEqual(limited.usage && {
            prompt_tokens: limited.usage.prompt_tokens,
            completion_tokens: limited.usage.completion_tokens,
            total_tokens: limited.usage.total_tokens,
        }, { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
        assert.equal(limited.choices[0].finish_reason, 'length');
        assert.equal(limited.choices[0].message.role, 'assistant');
        assert.equal(words(limited.choices[0].message.content), 7);

        const free = await client.chat.completions.create({
            model: 'other-model', messages: user('hi'),
        });
        assert.equal(free.model, 'other-model');
        assert.equal(free.usage.prompt_tokens, 1);
        assert.equal(free.usage.completion_tokens, 16);
        assert.equal(free.choices[0].finish_reason, 'stop');

        const overridden = await client.chat.completions.create(
            { model: 'sim-model', messages: user('a b c') },
            { headers: { 'x-sim-output-tokens': '3' } });
        assert.equal(overridden.usage.completion_tokens, 3);
        assert.equal(overridden.usage.total_tokens, 6);
    });

    test('a stream with include_usage follows vLLM and matches the non-stream text', async () => {
        const request = { model: 'sim-model', messages: user('tell me a story'), max_tokens: 9 };
        const whole = await client.chat.completions.create(request);
        const stream = await client.chat.completions.create({
            ...request, stream: true, stream_options: { include_usage: true },
        });
        const chunks = [];
        for await (const chunk of stream) chunks.push(chunk);

        assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
        const usageChunk = chunks.at(-1);
        assert.deepEqual(usageChunk.choices, []);
        assert.deepEqual(usageChunk.usage,
            { prompt_tokens: 4, completion_tokens: 9, total_tokens: 13 });
        for (const chunk of chunks.slice(0, -1)) {
            assert.equal(chunk.object, 'chat.completion.chunk');
            assert.equal(chunk.usage, null);
        }
        const finish = chunks.at(-2).choices[0];
        assert.deepEqual(finish.delta, {});
        assert.equal(finish.finish_reason, 'length');
        const tokenChunks = chunks.slice(1, -2);
        assert.equal(tokenChunks.length, 9);
        const text = tokenChunks.map((c) => c.choices[0].delta.content).join('');
        assert.equal(text, whole.choices[0].message.content);
        assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
    });

    test('SSE framing is exactly `data: {json}\\n\\n` up to `data: [DONE]`', async () => {
        const res = await fetch(`${baseURL}/v1/chat/completions`, {
            method: 'POST',
            body: JSON.stringify({ messages: user('hi'), max_tokens: 3, stream: true }),
        });
        assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
        const frames = (await res.text()).split('\n\n');
        assert.equal(frames.pop(), '');
        assert.equal(frames.pop(), 'data: [DONE]');
        assert.equal(frames.length, 1 + 3 + 1);
        for (const frame of frames) {
            assert.ok(frame.startsWith('data: {'), JSON.stringify(frame));
            JSON.parse(frame.slice(6));
        }
    });

    test('the last request is recorded with lowercased headers and the parsed body', async () => {
        await client.chat.completions.create(
            { model: 'sim-model', messages: user('recorded'), max_tokens: 1 },
            { headers: { 'X-Custom-Header': 'Value-1' } });
        const last = await getJSON('/sim/last-request');
        assert.equal(last.method, 'POST');
        assert.equal(last.path, '/v1/chat/completions');
        assert.equal(last.headers['x-custom-header'], 'Value-1');
        assert.equal(last.headers.authorization, 'Bearer unused');
        assert.deepEqual(last.body.messages, user('recorded'));
    });
});

describe('completions, embeddings, models', () => {
    test('completions with a string and with several prompts', async () => {
        const one = await client.completions.create({
            model: 'sim-model', prompt: 'a b c', max_tokens: 4,
        });
        assert.match(one.id, /^cmpl-/);
        assert.equal(one.object, 'text_completion');
        assert.equal(words(one.choices[0].text), 4);
        const { prompt_tokens, completion_tokens, total_tokens } = one.usage;
        assert.deepEqual([prompt_tokens, completion_tokens, total_tokens], [3, 4, 7]);

        const many = await client.completions.create({
            model: 'sim-model', prompt: ['one two', 'three'], max_tokens: 20,
        });
        assert.deepEqual(many.choices.map((c) => c.index), [0, 1]);
        assert.equal(many.choices[0].finish_reason, 'stop');
        assert.deepEqual([many.usage.prompt_tokens, many.usage.completion_tokens], [3, 40]);

        const stream = await client.completions.create({
            model: 'sim-model', prompt: 'x', max_tokens: 4, stream: true,
            stream_options: { include_usage: true },
        });
        let text = '';
        let usage;
        for await (const chunk of stream) {
            if (chunk.usage) usage = chunk.usage;
            for (const choice of chunk.choices) text += choice.text;
        }
        assert.equal(text, one.choices[0].text);
        assert.equal(usage.completion_tokens, 4);
    });

    test('embeddings as floats and as the SDK default base64 carry the same vectors', async () => {
        const input = ['hello embedding world', 'second'];
        const floats = await client.embeddings.create({
            model: 'sim-model', input, encoding_format: 'float',
        });
        assert.equal(floats.object, 'list');
        assert.equal(floats.data.length, 2);
        assert.deepEqual(floats.usage, { prompt_tokens: 4, total_tokens: 4, completion_tokens: 0,
            prompt_tokens_details: null });
        for (const item of floats.data) {
            assert.equal(item.embedding.length, 16);
            const norm = Math.hypot(...item.embedding);
            assert.ok(Math.abs(norm - 1) < 1e-5, `unit vector, norm ${norm}`);
        }
        assert.notDeepEqual(floats.data[0].embedding, floats.data[1].embedding);

        const decoded = await client.embeddings.create({ model: 'sim-model', input });
        const last = await getJSON('/sim/last-request');
        assert.equal(last.body.encoding_format, 'base64');
        for (let i = 0; i < 2; i++)
            assert.deepEqual(decoded.data[i].embedding, floats.data[i].embedding.map(Math.fround));

        const sized = await client.embeddings.create({
            model: 'sim-model', input: [[1, 2, 3]], dimensions: 5, encoding_format: 'float',
        });
        assert.equal(sized.data[0].embedding.length, 5);
        assert.equal(sized.usage.prompt_tokens, 3);
    });

    test('models lists every served name', async () => {
        const models = [];
        for await (const model of client.models.list()) models.push(model);
        assert.deepEqual(models.map((m) => m.id), ['sim-model', 'other-model']);
        assert.equal(models[0].owned_by, 'vllm');
        assert.equal(models[0].object, 'model');
        assert.equal(models[0].max_model_len, 8192);
        assert.equal(models[0].parent, null);
    });

    test('health and metrics', async () => {
        const health = await fetch(`${baseURL}/health`);
        assert.equal(health.status, 200);
        assert.equal(await health.text(), '');
        const metrics = await (await fetch(`${baseURL}/metrics`)).text();
        for (const name of ['vllm:num_requests_running', 'vllm:num_requests_waiting',
            'vllm:kv_cache_usage_perc', 'vllm:prompt_tokens_total', 'vllm:generation_tokens_total',
            'vllm:request_success_total']) {
            const sample = new RegExp(`^${name}\\{.*model_name="sim-model".*\\} \\S+$`, 'm');
            assert.match(metrics, sample);
        }
    });
});

describe('errors and faults', () => {
    test('an unknown model is a 404 in OpenAI shape', async () => {
        await assert.rejects(
            client.chat.completions.create({ model: 'missing', messages: user('hi') }),
            (err) => {
                assert.ok(err instanceof OpenAI.NotFoundError);
                assert.equal(err.status, 404);
                assert.equal(err.error.message, 'The model `missing` does not exist.');
                assert.equal(err.error.type, 'NotFoundError');
                assert.equal(err.error.param, 'model');
                assert.equal(err.error.code, 404);
                return true;
            });
    });

    test('a malformed body is a 400', async () => {
        const res = await fetch(`${baseURL}/v1/chat/completions`, {
            method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":',
        });
        assert.equal(res.status, 400);
        const body = await res.json();
        assert.equal(body.error.type, 'BadRequestError');
        assert.equal(body.error.code, 400);
    });

    for (const shape of ['openai', 'flat', 'tgi', 'empty']) {
        test(`status:503 in the ${shape} shape`, async () => {
            await assert.rejects(
                client.chat.completions.create({ model: 'sim-model', messages: user('hi') },
                    { headers: { 'x-sim-fault': 'status:503', 'x-sim-error-shape': shape } }),
                (err) => {
                    assert.ok(err instanceof OpenAI.APIError);
                    assert.equal(err.status, 503);
                    return true;
                });
            const raw = await fetch(`${baseURL}/v1/chat/completions`, {
                method: 'POST',
                headers: { 'x-sim-fault': 'status:503', 'x-sim-error-shape': shape },
                body: JSON.stringify({ messages: user('hi') }),
            });
            const text = await raw.text();
            if (shape === 'empty') return assert.equal(text, '');
            const body = JSON.parse(text);
            if (shape === 'openai') assert.equal(body.error.code, 503);
            if (shape === 'flat') assert.deepEqual([body.object, body.code], ['error', 503]);
            if (shape === 'tgi') assert.equal(typeof body.error_type, 'string');
        });
    }

    test('mid-error ends a stream with vLLM error event', async () => {
        const stream = await client.chat.completions.create(
            { model: 'sim-model', messages: user('hi'), stream: true },
            { headers: { 'x-sim-fault': 'mid-error' } });
        const seen = [];
        await assert.rejects(async () => {
            for await (const chunk of stream) seen.push(chunk);
        }, (err) => err instanceof OpenAI.APIError && /simulated engine failure/.test(err.message));
        assert.equal(seen.length, 2); // the role chunk and one token
    });

    test('cut closes a stream without finish or [DONE]', async () => {
        const res = await fetch(`${baseURL}/v1/chat/completions`, {
            method: 'POST', headers: { 'x-sim-fault': 'cut:3' },
            body: JSON.stringify({ messages: user('hi'), stream: true }),
        });
        let text = '';
        try {
            text = await res.text();
        } catch {
            // undici rejects a chunked body that ends early: that is the point.
        }
        assert.ok(!text.includes('[DONE]'));
        assert.ok(!text.includes('finish_reason":"stop'));
    });

    test('a client that aborts a stream is counted in streams_cancelled', async () => {
        await resetStats();
        const controller = new AbortController();
        const stream = await client.chat.completions.create(
            { model: 'sim-model', messages: user('hi'), stream: true, max_tokens: 1000 },
            { headers: { 'x-sim-inter-token-ms': '50' }, signal: controller.signal });
        let received = 0;
        try {
            for await (const chunk of stream) {
                if (chunk.choices[0]?.delta?.content && ++received === 2) controller.abort();
            }
        } catch {
            // Depending on timing the SDK ends the loop quietly or rejects with an abort error.
        }
        assert.equal(received, 2);
        const after = await waitForStats((s) => s.streams_cancelled >= 1 && s.active === 0);
        assert.equal(after.streams_started, 1);
        assert.equal(after.streams_completed, 0);
    });

    test('a client that gives up on a hang is counted too', async () => {
        await resetStats();
        await assert.rejects(client.chat.completions.create(
            { model: 'sim-model', messages: user('hi') },
            { headers: { 'x-sim-fault': 'hang' }, timeout: 300 }));
        await waitForStats((s) => s.streams_cancelled >= 1 && s.active === 0);
    });
});

describe('a wildcard model list (the gateway\'s built-in channel)', () => {
    let wildcard;
    let wildcardClient;

    before(async () => {
        const started = startSim(['--models', '*']);
        wildcard = started.child;
        wildcardClient = new OpenAI({ apiKey: 'unused', baseURL: `${await started.url}/v1`,
            maxRetries: 0 });
    });

    after(async () => {
        assert.equal(await stopSim(wildcard), 0);
    });

    test('serves any model name and echoes it', async () => {
        const chat = await wildcardClient.chat.completions.create({
            model: 'any/model "quoted"', messages: user('a b'), max_tokens: 2,
        });
        assert.equal(chat.model, 'any/model "quoted"');
        assert.equal(chat.usage.total_tokens, 4);
        const embedding = await wildcardClient.embeddings.create({ model: 'embedder', input: 'x' });
        assert.equal(embedding.model, 'embedder');
        assert.equal(embedding.data[0].embedding.length, 16);
    });
});
