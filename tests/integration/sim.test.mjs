// aigw-sim driven by the official openai SDK: exact usage, vLLM's stream order, embeddings in
// both encodings, errors in every shape, and a client that leaves mid-stream being counted;
// and, with raw sockets, the transport faults (resets, stalls) and instance-wide faults.
// Run: AIGW_BUILD=build node --test tests/integration/sim.test.mjs (falls back to /tmp/aigw-sim).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import OpenAI from 'openai';

const binary = `${process.env.AIGW_BUILD || '/tmp'}/aigw-sim`;
const slow = Boolean(process.env.AIGW_VALGRIND || process.env.AIGW_SANITIZED);
const startTimeoutMs = slow ? 60000 : 10000;

let sim;
let baseURL;
let client;

// Starts the simulator on an ephemeral port; `url` resolves with its URL from the line it prints,
// and by then `control` holds the control port's URL when --control-port was given.
function startSim(args) {
    const argv = ['--port', '0', '--threads', '2', ...args];
    const command = process.env.AIGW_VALGRIND ? 'valgrind' : binary;
    const commandArgs = process.env.AIGW_VALGRIND
        ? ['--quiet', '--leak-check=full', '--errors-for-leak-kinds=definite',
            '--error-exitcode=99', binary, ...argv]
        : argv;
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    const started = { child, control: null };
    started.url = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('aigw-sim did not start in time')),
            startTimeoutMs);
        const lines = createInterface({ input: child.stdout });
        lines.on('line', (line) => {
            const control = /^aigw-sim control on (http:\/\/\S+)$/.exec(line);
            if (control) started.control = control[1];
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
    return started;
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

// Sends raw bytes on a fresh connection and resolves, once it closes, with what came back, the
// socket error (an RST shows as ECONNRESET) and whether the server closed cleanly (a FIN: 'end').
function rawExchange(port, request) {
    return new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        let data = '';
        let error = null;
        let ended = false;
        socket.setEncoding('utf8');
        socket.on('connect', () => socket.write(request));
        socket.on('data', (chunk) => { data += chunk; });
        socket.on('end', () => { ended = true; });
        socket.on('error', (err) => { error = err; });
        socket.on('close', () => resolve({ data, error, ended }));
    });
}

// `connection: close`, so that an ordinary answer (such as a 400) ends the exchange too.
function rawPost(path, headers, body) {
    const text = JSON.stringify(body);
    const lines = Object.entries({ host: 'sim', connection: 'close',
        'content-type': 'application/json', ...headers,
        'content-length': Buffer.byteLength(text) }).map(([name, value]) => `${name}: ${value}\r\n`);
    return `POST ${path} HTTP/1.1\r\n${lines.join('')}\r\n${text}`;
}

// Resolves with 'connected' or the connect error's code (ECONNREFUSED when nothing listens).
function connectOutcome(port) {
    return new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.once('connect', () => {
            socket.destroy();
            resolve('connected');
        });
        socket.once('error', (err) => resolve(err.code));
    });
}

// One request on a connection of its own (no keep-alive pool), so that with several worker
// threads successive requests land on different workers' listeners.
function freshRequest(url, { method = 'GET', headers = {}, body } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, headers, agent: false }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk) => { text += chunk; });
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
        });
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
    });
}

// The "nothing more arrives" proof for a stall: no byte of the body within SILENCE_MS. Without
// the fault the answer would follow at once (no delay is configured), so 300 ms is ample.
const SILENCE_MS = 300;

// Returns the still pending read (wrapped: an async function would wait for a bare promise).
async function assertSilent(response) {
    const reader = response.body.getReader();
    const pending = reader.read();
    const outcome = await Promise.race([pending, delay(SILENCE_MS).then(() => 'silent')]);
    assert.equal(outcome, 'silent', `data arrived: ${JSON.stringify(outcome)}`);
    return { pending };
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

describe('transport faults: reset:N and stall', () => {
    const port = () => new URL(baseURL).port;
    const streamBody = { messages: user('hi'), stream: true, max_tokens: 10 };

    test('reset:N sends N token chunks of a stream, then a TCP reset', async () => {
        // The RST comes when the next token is due: with a gap, the chunks are read before it
        // (libuv reports an RST arriving with unread data as a clean end).
        const result = await rawExchange(port(), rawPost('/v1/chat/completions',
            { 'x-sim-fault': 'reset:3', 'x-sim-inter-token-ms': '50' }, streamBody));
        assert.match(result.data, /^HTTP\/1\.1 200 OK\r\n/);
        assert.match(result.data, /content-type: text\/event-stream/i);
        const tokens = result.data.match(/"delta":\{"content":"[^"]+"\}/g) ?? [];
        assert.equal(tokens.length, 3, result.data);
        assert.ok(!result.data.includes('[DONE]'));
        assert.equal(result.error?.code, 'ECONNRESET', 'an RST, not a clean close');
        assert.equal(result.ended, false, 'no FIN before the reset');
    });

    test('reset:N on a request that does not stream resets before any answer', async () => {
        const result = await rawExchange(port(), rawPost('/v1/chat/completions',
            { 'x-sim-fault': 'reset:3' }, { messages: user('hi') }));
        assert.equal(result.data, '');
        assert.equal(result.error?.code, 'ECONNRESET');
    });

    test('stall on a stream: the SSE head, then nothing until the client leaves', async () => {
        await resetStats();
        const controller = new AbortController();
        const res = await fetch(`${baseURL}/v1/chat/completions`, {
            method: 'POST', headers: { 'x-sim-fault': 'stall' },
            body: JSON.stringify(streamBody), signal: controller.signal,
        });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
        const { pending } = await assertSilent(res);
        controller.abort();
        await pending.catch(() => {});
        // Freed when the client went (under ASan a leak would fail the exit code in after()).
        const after = await waitForStats((s) => s.streams_cancelled === 1 && s.active === 0);
        assert.equal(after.streams_started, 1);
    });

    test('stall without a stream: a head with Content-Length, never the body', async () => {
        await resetStats();
        const controller = new AbortController();
        const res = await fetch(`${baseURL}/v1/chat/completions`, {
            method: 'POST', headers: { 'x-sim-fault': 'stall' },
            body: JSON.stringify({ messages: user('hi') }), signal: controller.signal,
        });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'application/json');
        assert.ok(Number(res.headers.get('content-length')) > 0);
        const { pending } = await assertSilent(res);
        controller.abort();
        await pending.catch(() => {});
        await waitForStats((s) => s.streams_cancelled === 1 && s.active === 0);
    });

    test('a stall still open at shutdown is freed, and the exit is clean', async () => {
        const started = startSim([]);
        const controller = new AbortController();
        try {
            const url = await started.url;
            const res = await fetch(`${url}/v1/chat/completions`, {
                method: 'POST', headers: { 'x-sim-fault': 'stall' },
                body: JSON.stringify(streamBody), signal: controller.signal,
            });
            assert.equal(res.status, 200);
            const stats = await (await fetch(`${url}/sim/stats`)).json();
            assert.equal(stats.active, 1);
            // Exit 0 under ASan too: the stalled request and its connection were freed.
            assert.equal(await stopSim(started.child), 0);
        } finally {
            await stopSim(started.child);
            controller.abort();
        }
    });
});

describe('instance-wide faults: /sim/fault', () => {
    let engine;
    let url;
    let control;
    const chat = (headers = {}) => freshRequest(`${url}/v1/chat/completions`,
        { method: 'POST', headers, body: { messages: user('hi'), max_tokens: 2 } });
    const setFault = (base, setting) =>
        freshRequest(`${base}/sim/fault`, { method: 'POST', body: setting });
    const cleared = { fault: 'none', error_shape: null, first_token_ms: null,
        inter_token_ms: null };

    before(async () => {
        const started = startSim(['--threads', '3', '--control-port', '0']);
        engine = started.child;
        url = await started.url;
        control = started.control;
        assert.match(control ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    });

    after(async () => {
        assert.equal(await stopSim(engine), 0);
    });

    test('a fault set for the instance fails every plain request until "none"', async () => {
        const set = await setFault(url, { fault: 'status:503', error_shape: 'tgi' });
        assert.equal(set.status, 200);
        const expected = { ...cleared, fault: 'status:503', error_shape: 'tgi' };
        assert.deepEqual(JSON.parse(set.text), expected);
        assert.deepEqual(JSON.parse((await freshRequest(`${url}/sim/fault`)).text), expected);
        // Fresh connections, so the three workers' listeners all take some.
        for (let i = 0; i < 6; i++) {
            const failed = await chat();
            assert.equal(failed.status, 503);
            assert.equal(JSON.parse(failed.text).error_type, 'unhealthy');
        }
        assert.equal((await chat({ 'x-sim-fault': 'none' })).status, 200, 'headers override');

        assert.deepEqual(JSON.parse((await setFault(url, { fault: 'none' })).text), cleared);
        for (let i = 0; i < 6; i++) assert.equal((await chat()).status, 200);
    });

    test('instance timing and a mid-stream reset', async () => {
        await setFault(url, { fault: 'reset:2', inter_token_ms: 50 });
        const result = await rawExchange(new URL(url).port, rawPost('/v1/chat/completions', {},
            { messages: user('hi'), stream: true }));
        assert.equal((result.data.match(/"delta":\{"content":"[^"]+"\}/g) ?? []).length, 2);
        assert.equal(result.error?.code, 'ECONNRESET');
        await setFault(url, { fault: 'none' });
    });

    test('invalid settings are a 400 and change nothing', async () => {
        for (const setting of [{ fault: 'sometimes' }, { fault: 'status:200' }, { fault: 7 },
            { fault: 'hang', colour: 'red' }, { error_shape: 'xml' }, { first_token_ms: -1 }]) {
            const res = await setFault(url, setting);
            assert.equal(res.status, 400, JSON.stringify(setting));
            assert.equal(JSON.parse(res.text).error.code, 400);
        }
        const header = await chat({ 'x-sim-fault': 'refuse' });
        assert.equal(header.status, 400, 'refuse is for the whole instance only');
        assert.deepEqual(JSON.parse((await freshRequest(`${url}/sim/fault`)).text), cleared);
    });

    test('refuse: connects are refused, open connections reset, until "none"', async () => {
        const port = new URL(url).port;
        // A connection opened before the refusal, as a gateway's pool would hold.
        const pooled = net.connect(port, '127.0.0.1');
        await new Promise((resolve) => pooled.once('connect', resolve));

        const set = await setFault(url, { fault: 'refuse' });
        assert.equal(set.status, 200);
        assert.equal(JSON.parse(set.text).fault, 'refuse');
        for (let i = 0; i < 4; i++) assert.equal(await connectOutcome(port), 'ECONNREFUSED');
        const reset = new Promise((resolve) => pooled.once('error', (err) => resolve(err.code)));
        pooled.write('GET /health HTTP/1.1\r\nhost: sim\r\n\r\n');
        assert.equal(await reset, 'ECONNRESET');

        // The control port stays open to bring the engine back, on the same port.
        assert.equal(JSON.parse((await freshRequest(`${control}/sim/fault`)).text).fault,
            'refuse');
        assert.deepEqual(JSON.parse((await setFault(control, { fault: 'none' })).text), cleared);
        for (let i = 0; i < 6; i++) assert.equal((await chat()).status, 200);
    });

    test('POST /sim/reset clears the instance fault, refuse included', async () => {
        await setFault(control, { fault: 'refuse' });
        assert.equal(await connectOutcome(new URL(url).port), 'ECONNREFUSED');
        const reset = await freshRequest(`${control}/sim/reset`, { method: 'POST' });
        assert.equal(reset.status, 200);
        assert.equal(JSON.parse(reset.text).requests, 0);
        assert.deepEqual(JSON.parse((await freshRequest(`${url}/sim/fault`)).text), cleared);
        assert.equal((await chat()).status, 200);
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
