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
import OpenAI, { AzureOpenAI } from 'openai';

const binary = `${process.env.AIGW_BUILD || '/tmp'}/aigw-sim`;
const slow = Boolean(process.env.AIGW_VALGRIND || process.env.AIGW_SANITIZED);
const startTimeoutMs = slow ? 60000 : 10000;

let sim;
let baseURL;
let client;

// Starts the simulator on an ephemeral port; `url` resolves with its URL from the line it prints,
// and by then `control` holds the control port's URL when --control-port was given (and
// `management` MindIE's management port URL in mindie mode).
function startSim(args) {
    const argv = ['--port', '0', '--threads', '2', ...args];
    const command = process.env.AIGW_VALGRIND ? 'valgrind' : binary;
    const commandArgs = process.env.AIGW_VALGRIND
        ? ['--quiet', '--leak-check=full', '--errors-for-leak-kinds=definite',
            '--error-exitcode=99', binary, ...argv]
        : argv;
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    const started = { child, control: null, management: null };
    started.url = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('aigw-sim did not start in time')),
            startTimeoutMs);
        const lines = createInterface({ input: child.stdout });
        lines.on('line', (line) => {
            const control = /^aigw-sim control on (http:\/\/\S+)$/.exec(line);
            if (control) started.control = control[1];
            const management = /^aigw-sim management on (http:\/\/\S+)\/$/.exec(line);
            if (management) started.management = management[1];
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
        // Listened for from the start: the reset may come as soon as the fault is set, before
        // the write below (an error with no listener failed the run once).
        const reset = new Promise((resolve) => pooled.on('error', (err) => resolve(err.code)));
        await new Promise((resolve) => pooled.once('connect', resolve));

        const set = await setFault(url, { fault: 'refuse' });
        assert.equal(set.status, 200);
        assert.equal(JSON.parse(set.text).fault, 'refuse');
        for (let i = 0; i < 4; i++) assert.equal(await connectOutcome(port), 'ECONNREFUSED');
        if (!pooled.destroyed) pooled.write('GET /health HTTP/1.1\r\nhost: sim\r\n\r\n');
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

// ---- Engine modes (--engine): each engine's wire format, errors and quirks. ----

// A simulator in `args` for one describe block; `state.url` etc. are set in its before().
function engineSim(args) {
    const state = {};
    before(async () => {
        const started = startSim(args);
        state.child = started.child;
        state.url = await started.url;
        state.control = started.control;
        state.management = started.management;
    });
    after(async () => {
        assert.equal(await stopSim(state.child), 0);
    });
    return state;
}

// POSTs JSON (or a raw string) and resolves with the status, headers and text of the answer.
async function post(url, body, headers = {}) {
    const res = await fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
}

// SSE frames of a complete stream: every frame ends with a blank line.
function frames(text) {
    const list = text.split('\n\n');
    assert.equal(list.pop(), '', `the stream ends with a whole frame: ${JSON.stringify(text)}`);
    return list;
}

const weatherTool = {
    type: 'function',
    function: {
        name: 'get_weather',
        parameters: {
            type: 'object',
            properties: {
                city: { type: 'string' }, days: { type: 'integer' }, metric: { type: 'boolean' },
                hours: { type: 'array' }, note: { type: 'string' },
            },
            required: ['city', 'days', 'metric', 'hours'],
        },
    },
};
const weatherArgs = { city: 'sim', days: 1, metric: true, hours: null };

describe('tool calls (OpenAI-style modes)', () => {
    test('a request with tools gets a deterministic call; after a tool message, text', async () => {
        const call = await client.chat.completions.create({
            model: 'sim-model', messages: user('weather in Paris?'), tools: [weatherTool],
        });
        const choice = call.choices[0];
        assert.equal(choice.finish_reason, 'tool_calls');
        assert.equal(choice.message.content, null);
        assert.equal(choice.message.tool_calls.length, 1);
        const [toolCall] = choice.message.tool_calls;
        assert.deepEqual({ id: toolCall.id, type: toolCall.type, name: toolCall.function.name },
            { id: 'call_sim_1', type: 'function', name: 'get_weather' });
        assert.deepEqual(JSON.parse(toolCall.function.arguments), weatherArgs);
        const pieces = Math.max(2, Math.ceil(toolCall.function.arguments.length / 8));
        assert.equal(call.usage.completion_tokens, pieces);

        const answered = await client.chat.completions.create({
            model: 'sim-model', tools: [weatherTool], max_tokens: 4,
            messages: [...user('weather in Paris?'), choice.message,
                { role: 'tool', tool_call_id: toolCall.id, content: 'sunny' }],
        });
        assert.equal(answered.choices[0].finish_reason, 'length');
        assert.equal(words(answered.choices[0].message.content), 4);

        const none = await client.chat.completions.create({
            model: 'sim-model', messages: user('hi'), tools: [weatherTool], tool_choice: 'none',
            max_tokens: 2,
        });
        assert.equal(none.choices[0].finish_reason, 'length');

        const named = await client.chat.completions.create({
            model: 'sim-model', messages: user('hi'),
            tools: [weatherTool, { type: 'function', function: { name: 'other' } }],
            tool_choice: { type: 'function', function: { name: 'other' } },
        });
        assert.equal(named.choices[0].message.tool_calls[0].function.name, 'other');
        assert.equal(named.choices[0].message.tool_calls[0].function.arguments, '{}');

        const bad = await post(`${baseURL}/v1/chat/completions`,
            { messages: user('hi'), tools: [weatherTool], tool_choice: { type: 'function',
                function: { name: 'missing' } } });
        assert.equal(bad.status, 400);
    });

    test('a streamed tool call: role, header with id and name, 2+ argument pieces, finish', async () => {
        const request = { model: 'sim-model', messages: user('weather?'), tools: [weatherTool] };
        const whole = await client.chat.completions.create(request);
        const stream = await client.chat.completions.create({
            ...request, stream: true, stream_options: { include_usage: true },
        });
        const chunks = [];
        for await (const chunk of stream) chunks.push(chunk);
        assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
        assert.deepEqual(chunks[1].choices[0].delta.tool_calls, [{ index: 0, id: 'call_sim_1',
            type: 'function', function: { name: 'get_weather', arguments: '' } }]);
        const pieces = chunks.slice(2, -2);
        assert.ok(pieces.length >= 2);
        for (const piece of pieces) {
            assert.deepEqual(Object.keys(piece.choices[0].delta), ['tool_calls']);
            assert.equal(piece.choices[0].delta.tool_calls[0].index, 0);
        }
        const args = pieces.map((c) => c.choices[0].delta.tool_calls[0].function.arguments).join('');
        assert.equal(args, whole.choices[0].message.tool_calls[0].function.arguments);
        assert.equal(chunks.at(-2).choices[0].finish_reason, 'tool_calls');
        assert.equal(chunks.at(-1).usage.completion_tokens, pieces.length);
        assert.equal(whole.usage.completion_tokens, pieces.length);
    });

    test('the last request keeps the query string', async () => {
        await fetch(`${baseURL}/v1/models?limit=2&x=%20y`);
        const last = await getJSON('/sim/last-request');
        assert.equal(last.path, '/v1/models?limit=2&x=%20y');
        assert.equal(last.query, 'limit=2&x=%20y');
        await fetch(`${baseURL}/v1/models`);
        assert.equal((await getJSON('/sim/last-request')).query, null);
    });
});

describe('bad engine flags', () => {
    for (const args of [['--engine', 'llama.cpp'], ['--management-port', '0']]) {
        test(`${args.join(' ')} is refused`, async () => {
            const child = spawn(binary, ['--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
            let stderr = '';
            child.stderr.on('data', (d) => { stderr += d; });
            const code = await new Promise((resolve) => child.on('exit', resolve));
            assert.equal(code, 1);
            assert.match(stderr, /engine|management/);
        });
    }
});

describe('engine vllm', () => {
    const e = engineSim(['--engine', 'vllm']);

    test('prompt_tokens_details, reasoning_content and vLLM include_usage order', async () => {
        const vllm = new OpenAI({ apiKey: 'x', baseURL: `${e.url}/v1`, maxRetries: 0 });
        const res = await vllm.chat.completions.create({
            model: 'sim-model', messages: user('a b'), max_tokens: 3,
        });
        assert.deepEqual(res.usage, { prompt_tokens: 2, total_tokens: 5, completion_tokens: 3,
            prompt_tokens_details: { cached_tokens: 0 } });
        assert.equal(res.choices[0].message.reasoning_content, null);

        const raw = await post(`${e.url}/v1/chat/completions`, { messages: user('a b'),
            max_tokens: 3, stream: true, stream_options: { include_usage: true } });
        const list = frames(raw.text);
        assert.equal(list.pop(), 'data: [DONE]');
        const chunks = list.map((f) => JSON.parse(f.slice(6)));
        assert.deepEqual(chunks.at(-1).choices, []);
        assert.deepEqual(chunks.at(-1).usage, { prompt_tokens: 2, total_tokens: 5,
            completion_tokens: 3, prompt_tokens_details: { cached_tokens: 0 } });
        assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
        for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.usage, null);

        const health = await fetch(`${e.url}/health`);
        assert.equal(health.status, 200);
        assert.equal(await health.text(), '');
    });
});

describe('engine sglang', () => {
    const e = engineSim(['--engine', 'sglang', '--models', 'qwen']);

    test('OpenAI routes answer errors in the flat shape', async () => {
        const missing = await post(`${e.url}/v1/chat/completions`,
            { model: 'nope', messages: user('x') });
        assert.equal(missing.status, 404);
        assert.deepEqual(JSON.parse(missing.text), { object: 'error',
            message: 'The model `nope` does not exist.', type: 'NotFoundError', param: 'model',
            code: 404 });
        const fault = await post(`${e.url}/v1/chat/completions`, { messages: user('x') },
            { 'x-sim-fault': 'status:503' });
        assert.equal(fault.status, 503);
        assert.equal(JSON.parse(fault.text).object, 'error');
        const ok = await post(`${e.url}/v1/chat/completions`, { model: 'qwen', messages: user('x') });
        assert.equal(ok.status, 200);
    });

    test('native /generate: text, meta_info and finish reasons', async () => {
        const limited = JSON.parse((await post(`${e.url}/generate`,
            { text: 'a b c', sampling_params: { max_new_tokens: 3, temperature: 0 } })).text);
        assert.equal(limited.text, 'The quick brown');
        assert.match(limited.meta_info.id, /^[0-9a-f]{32}$/);
        assert.deepEqual({ ...limited.meta_info, id: 0 }, { id: 0,
            finish_reason: { type: 'length', length: 3 }, prompt_tokens: 3,
            completion_tokens: 3, cached_tokens: 0 });

        const stopped = JSON.parse((await post(`${e.url}/generate`,
            { input_ids: [1, 2], rid: 'req-1', sampling_params: { stop: ['fox'] } })).text);
        assert.equal(stopped.text, 'The quick brown');
        assert.equal(stopped.meta_info.id, 'req-1');
        assert.deepEqual(stopped.meta_info.finish_reason, { type: 'stop', matched: 'fox' });
        assert.deepEqual([stopped.meta_info.prompt_tokens, stopped.meta_info.completion_tokens],
            [2, 3]);

        const natural = JSON.parse((await post(`${e.url}/generate`, { text: 'x' })).text);
        assert.equal(words(natural.text), 16);
        assert.deepEqual(natural.meta_info.finish_reason, { type: 'stop', matched: 2 });

        const invalid = await post(`${e.url}/generate`, { text: 'x', sampling_params: { top_p: 0 } });
        assert.equal(invalid.status, 400);
        assert.deepEqual(JSON.parse(invalid.text),
            { error: { message: 'top_p must be in (0, 1], got 0.' } });
        const neither = await post(`${e.url}/generate`, { sampling_params: {} });
        assert.equal(neither.status, 400);
    });

    test('native stream: cumulative text, finish_reason only at the end, [DONE]', async () => {
        const res = await post(`${e.url}/generate`,
            { text: 'a b c', stream: true, sampling_params: { max_new_tokens: 4 } });
        assert.equal(res.headers.get('content-type'), 'text/event-stream');
        const list = frames(res.text);
        assert.equal(list.pop(), 'data: [DONE]');
        const events = list.map((f) => {
            assert.ok(f.startsWith('data: {'), f);
            return JSON.parse(f.slice(6));
        });
        const finished = events.pop();
        assert.equal(events.length, 4);
        events.forEach((ev, i) => {
            assert.equal(words(ev.text), i + 1, 'the text is cumulative');
            assert.equal(ev.meta_info.completion_tokens, i + 1);
            assert.equal(ev.meta_info.finish_reason, null);
        });
        assert.equal(finished.text, 'The quick brown fox');
        assert.deepEqual(finished.meta_info.finish_reason, { type: 'length', length: 4 });
        assert.equal(finished.meta_info.completion_tokens, 4);
        assert.equal(new Set([...events, finished].map((ev) => ev.meta_info.id)).size, 1);

        const failed = frames((await post(`${e.url}/generate`, { text: 'x', stream: true },
            { 'x-sim-fault': 'mid-error' })).text);
        assert.deepEqual(failed.slice(1), ['data: {"error":{"message":"simulated engine failure"}}',
            'data: [DONE]']);
    });

    test('health, health_generate and SGLang metric names', async () => {
        assert.equal((await fetch(`${e.url}/health`)).status, 200);
        assert.equal((await fetch(`${e.url}/health_generate`)).status, 200);
        const metrics = await (await fetch(`${e.url}/metrics`)).text();
        for (const name of ['sglang:num_running_reqs', 'sglang:num_queue_reqs', 'sglang:token_usage',
            'sglang:cache_hit_rate'])
            assert.match(metrics, new RegExp(`^${name}\\{model_name="qwen"\\} \\S+$`, 'm'));
    });
});

describe('engine mindie', () => {
    const e = engineSim(['--engine', 'mindie', '--models', 'llama', '--control-port', '0']);
    const chatURL = () => `${e.url}/v1/chat/completions`;

    test('health only on the management port, reflecting an instance fault', async () => {
        assert.match(e.management ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
        const business = await fetch(`${e.url}/health`);
        assert.equal(business.status, 404);
        assert.deepEqual(await business.json(), { error: 'Not Found', error_type: 'NotFoundError' });
        for (const path of ['/health', '/v2/health/live', '/v2/health/ready']) {
            const res = await fetch(`${e.management}${path}`);
            assert.equal(res.status, 200, path);
            assert.equal(await res.text(), '');
        }
        await setFaultAt(e.control, { fault: 'status:503' });
        try {
            const health = await fetch(`${e.management}/health`);
            assert.equal(health.status, 503);
            assert.equal(await health.text(), '', 'an unhealthy MindIE answers 503 without a body');
            assert.equal((await fetch(`${e.management}/v2/health/ready`)).status, 503);
            assert.equal((await fetch(`${e.management}/v2/health/live`)).status, 200);
            const failed = await post(chatURL(), { model: 'llama', messages: user('x') });
            assert.equal(failed.status, 503);
            assert.deepEqual(JSON.parse(failed.text),
                { error: 'Simulated failure (status 503).', error_type: 'Service Unavailable' });
        } finally {
            await setFaultAt(e.control, { fault: 'none' });
        }
        assert.equal((await fetch(`${e.management}/health`)).status, 200);
    });

    test('the model must be served; validation is 422; max_completion_tokens is ignored', async () => {
        const other = await post(chatURL(), { model: 'gpt', messages: user('x') });
        assert.equal(other.status, 404);
        assert.equal(JSON.parse(other.text).error_type, 'NotFoundError');
        const none = await post(chatURL(), { messages: user('x') });
        assert.equal(none.status, 422);
        assert.equal(JSON.parse(none.text).error_type, 'Input Validation Error');
        const broken = await post(chatURL(), '{"model":');
        assert.deepEqual([broken.status, JSON.parse(broken.text).error_type], [400, 'Bad Request']);

        const ignored = JSON.parse((await post(chatURL(),
            { model: 'llama', messages: user('x'), max_completion_tokens: 2 })).text);
        assert.equal(ignored.usage.completion_tokens, 16);
        const read = JSON.parse((await post(chatURL(),
            { model: 'llama', messages: user('x'), max_tokens: 2 })).text);
        assert.equal(read.usage.completion_tokens, 2);
        const models = JSON.parse((await (await fetch(`${e.url}/v1/models`)).text()));
        assert.equal(models.data[0].owned_by, 'MindIE Server');
        assert.equal((await post(`${e.url}/v1/embeddings`, { input: 'x' })).status, 404);
    });

    test('streams repeat the role and carry usage in the finish chunk, stream_options or not', async () => {
        for (const streamOptions of [undefined, { include_usage: true }]) {
            const res = await post(chatURL(), { model: 'llama', messages: user('a b'),
                max_tokens: 3, stream: true, stream_options: streamOptions });
            const list = frames(res.text);
            assert.equal(list.pop(), 'data: [DONE]');
            const chunks = list.map((f) => JSON.parse(f.slice(6)));
            assert.equal(chunks.length, 3, 'one chunk per token, the last one finishing');
            for (const chunk of chunks) assert.equal(chunk.choices[0].delta.role, 'assistant');
            assert.equal(chunks.map((c) => c.choices[0].delta.content).join(''), 'The quick brown');
            assert.equal(chunks[2].choices[0].finish_reason, 'length');
            assert.deepEqual(chunks[2].usage,
                { prompt_tokens: 2, total_tokens: 5, completion_tokens: 3 });
            for (const chunk of chunks.slice(0, 2)) assert.ok(!('usage' in chunk));
        }
        const failed = await post(chatURL(), { model: 'llama', messages: user('x'), stream: true },
            { 'x-sim-fault': 'mid-error' });
        const list = frames(failed.text);
        assert.ok(!failed.text.includes('[DONE]'), 'a failed MindIE stream just ends');
        const last = JSON.parse(list.at(-1).slice(6));
        assert.equal(last.choices[0].finish_reason, 'stop');
        assert.equal(last.usage.completion_tokens, 1);
    });

    test('native /generate (TGI and vLLM styles) and /generate_stream', async () => {
        const tgi = JSON.parse((await post(`${e.url}/generate`,
            { inputs: 'a b', parameters: { max_new_tokens: 2, details: true, seed: 7 } })).text);
        assert.deepEqual(tgi, { generated_text: 'The quick', details: { prompt_tokens: 2,
            finish_reason: 'length', generated_tokens: 2, seed: 7 } });
        const plain = JSON.parse((await post(`${e.url}/generate`, { inputs: 'a b' })).text);
        assert.deepEqual(Object.keys(plain), ['generated_text']);

        const stream = await post(`${e.url}/generate_stream`,
            { inputs: 'a b', parameters: { max_new_tokens: 3 } });
        const list = frames(stream.text);
        assert.ok(!stream.text.includes('[DONE]'));
        const events = list.map((f) => {
            assert.ok(f.startsWith('data: {'), 'MindIE writes a space after data:');
            return JSON.parse(f.slice(6));
        });
        assert.equal(events.length, 3);
        assert.deepEqual(events[0], { token: { id: 1000, text: 'The', logprob: null, special: null },
            generated_text: null, details: null });
        assert.equal(events[2].generated_text, 'The quick brown');
        assert.deepEqual(events[2].details, { prompt_tokens: 2, finish_reason: 'length',
            generated_tokens: 3, seed: null });

        const legacy = JSON.parse((await post(`${e.url}/generate`,
            { prompt: 'a b', max_tokens: 2 })).text);
        assert.deepEqual(legacy, { text: ['a b The quick'] });
        const raw = await post(`${e.url}/generate`, { prompt: 'a b', max_tokens: 3, stream: true });
        const objects = raw.text.split('\0');
        assert.equal(objects.pop(), '', 'each object is ended by a NUL byte');
        assert.deepEqual(objects.map((o) => JSON.parse(o).text[0]), ['The', ' quick', ' brown']);
        assert.equal((await post(`${e.url}/generate`, {})).status, 422);
    });
});

async function setFaultAt(base, setting) {
    const res = await post(`${base}/sim/fault`, setting);
    assert.equal(res.status, 200, res.text);
}

describe('engine tgi', () => {
    const e = engineSim(['--engine', 'tgi', '--models', 'bigscience/bloom']);

    test('/generate: details only when asked, prefill with decoder_input_details', async () => {
        const bare = JSON.parse((await post(`${e.url}/generate`,
            { inputs: 'a b c', parameters: { max_new_tokens: 2 } })).text);
        assert.deepEqual(bare, { generated_text: 'The quick' });
        const full = JSON.parse((await post(`${e.url}/generate`, { inputs: 'a b c',
            parameters: { max_new_tokens: 2, details: true, decoder_input_details: true, seed: 42,
                do_sample: true, repetition_penalty: 1.1, top_k: 10, top_p: 0.9 } })).text);
        assert.equal(full.generated_text, 'The quick');
        const { details } = full;
        assert.deepEqual([details.finish_reason, details.generated_tokens, details.seed],
            ['length', 2, 42]);
        assert.deepEqual(details.prefill.map((t) => t.text), ['a', 'b', 'c']);
        assert.equal(details.prefill[0].logprob, null);
        assert.equal(typeof details.prefill[1].logprob, 'number');
        assert.deepEqual(details.tokens.map((t) => [t.text, t.special]),
            [['The', false], [' quick', false]]);
        const noPrefill = JSON.parse((await post(`${e.url}/generate`,
            { inputs: 'a', parameters: { details: true } })).text);
        assert.deepEqual(noPrefill.details.prefill, []);
        assert.equal(noPrefill.details.finish_reason, 'eos_token');
        assert.equal(noPrefill.details.generated_tokens, 16);
        const stopped = JSON.parse((await post(`${e.url}/generate`,
            { inputs: 'a', parameters: { stop: ['fox'], details: true } })).text);
        assert.equal(stopped.generated_text, 'The quick brown fox', 'TGI keeps the stop sequence');
        assert.deepEqual([stopped.details.finish_reason, stopped.details.generated_tokens],
            ['stop_sequence', 4]);
    });

    test('validation errors are 422 in TGI shape', async () => {
        const cases = [
            [{ inputs: 'x', parameters: { temperature: 0 } },
                'Input validation error: `temperature` must be strictly positive'],
            [{ inputs: 'x', parameters: { top_p: 1 } },
                'Input validation error: `top_p` must be > 0.0 and < 1.0'],
            [{ inputs: 'x', parameters: { stop: ['a', 'b', 'c', 'd', 'e'] } },
                'Input validation error: `stop` supports up to 4 stop sequences. Given: 5'],
            [{ inputs: '' }, 'Input validation error: `inputs` cannot be empty'],
            [{ inputs: 'x', parameters: { max_new_tokens: 9000 } },
                'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8192. ' +
                'Given: 1 `inputs` tokens and 9000 `max_new_tokens`'],
        ];
        for (const [body, message] of cases) {
            const res = await post(`${e.url}/generate`, body);
            assert.equal(res.status, 422, JSON.stringify(body));
            assert.deepEqual(JSON.parse(res.text), { error: message, error_type: 'validation' });
        }
        const streamed = await post(`${e.url}/generate_stream`,
            { inputs: 'x', parameters: { decoder_input_details: true } });
        assert.equal(streamed.status, 422);
        assert.match(JSON.parse(streamed.text).error, /decoder_input_details/);
    });

    test('/generate_stream: `data:` without a space, no [DONE], details in the last event', async () => {
        const res = await post(`${e.url}/generate_stream`,
            { inputs: 'a b c', parameters: { max_new_tokens: 3, seed: 5 } });
        assert.equal(res.headers.get('content-type'), 'text/event-stream');
        const events = frames(res.text).map((f) => {
            assert.ok(f.startsWith('data:{'), f);
            return JSON.parse(f.slice(5));
        });
        assert.ok(!res.text.includes('[DONE]'));
        assert.deepEqual(events.map((ev) => ev.index), [1, 2, 3]);
        assert.deepEqual(events[0].token, { id: 1000, text: 'The', logprob: -0.0625, special: false });
        for (const ev of events.slice(0, 2)) assert.deepEqual([ev.generated_text, ev.details], [null, null]);
        assert.equal(events[2].generated_text, 'The quick brown');
        assert.deepEqual(events[2].details,
            { finish_reason: 'length', generated_tokens: 3, seed: 5, input_length: 3 });

        let cut = '';
        try {
            cut = await (await fetch(`${e.url}/generate_stream`, { method: 'POST',
                headers: { 'x-sim-fault': 'cut:3' },
                body: JSON.stringify({ inputs: 'x', parameters: { max_new_tokens: 3 } }) })).text();
        } catch {
            // undici rejects a chunked body that ends early
        }
        assert.ok(!cut.includes('"details":{'), 'a cut stream never looks finished');

        const failed = frames((await post(`${e.url}/generate_stream`, { inputs: 'x' },
            { 'x-sim-fault': 'mid-error' })).text);
        assert.deepEqual(failed.slice(1),
            ['data:{"error":"simulated engine failure","error_type":"generation"}']);
    });

    test('OpenAI routes: one model whatever the body says, `data:` framing the SDK reads', async () => {
        const tgiClient = new OpenAI({ apiKey: 'x', baseURL: `${e.url}/v1`, maxRetries: 0 });
        const stream = await tgiClient.chat.completions.create(
            { model: 'tgi', messages: user('x'), max_tokens: 2, stream: true });
        let text = '';
        for await (const chunk of stream) {
            assert.equal(chunk.model, 'bigscience/bloom');
            text += chunk.choices[0]?.delta?.content ?? '';
        }
        assert.equal(text, 'The quick');
        const raw = await post(`${e.url}/v1/chat/completions`,
            { messages: user('x'), max_tokens: 1, stream: true });
        assert.ok(raw.text.endsWith('data:[DONE]\n\n'));
        const invalid = await post(`${e.url}/v1/chat/completions`, { messages: [] });
        assert.equal(invalid.status, 422);
    });

    test('health reflects an instance fault; /info names the model', async () => {
        const health = await fetch(`${e.url}/health`);
        assert.deepEqual([health.status, await health.text()], [200, '']);
        const info = await (await fetch(`${e.url}/info`)).json();
        assert.equal(info.model_id, 'bigscience/bloom');
        assert.equal(info.max_total_tokens, 8192);
        await setFaultAt(e.url, { fault: 'status:429' });
        try {
            const sick = await fetch(`${e.url}/health`);
            assert.equal(sick.status, 503);
            assert.deepEqual(await sick.json(), { error: 'unhealthy', error_type: 'healthcheck' });
            const busy = await post(`${e.url}/generate`, { inputs: 'x' });
            assert.equal(busy.status, 429);
            assert.equal(JSON.parse(busy.text).error_type, 'overloaded');
        } finally {
            await setFaultAt(e.url, { fault: 'none' });
        }
    });
});

describe('engine anthropic', () => {
    const e = engineSim(['--engine', 'anthropic', '--models', 'claude-sim']);
    const headers = { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' };
    const messages = (body, extra = {}) => post(`${e.url}/v1/messages`, body, { ...headers, ...extra });
    const ask = (content, more = {}) => ({ model: 'claude-sim', max_tokens: 1024,
        messages: [{ role: 'user', content }], ...more });
    const weather = { name: 'get_weather', description: 'Weather',
        input_schema: weatherTool.function.parameters };

    test('headers are required: x-api-key (401) and anthropic-version (400)', async () => {
        const noKey = await post(`${e.url}/v1/messages`, ask('hi'),
            { 'anthropic-version': '2023-06-01' });
        assert.equal(noKey.status, 401);
        assert.deepEqual(JSON.parse(noKey.text), { type: 'error', error: {
            type: 'authentication_error', message: 'x-api-key header is required' } });
        const noVersion = await post(`${e.url}/v1/messages`, ask('hi'), { 'x-api-key': 'k' });
        assert.equal(noVersion.status, 400);
        assert.equal(JSON.parse(noVersion.text).error.type, 'invalid_request_error');
        assert.match(noKey.headers.get('request-id'), /^req_/);
    });

    test('the body is validated as Anthropic does', async () => {
        const cases = [
            [{ model: 'claude-sim', messages: [{ role: 'user', content: 'x' }] }, 400, /max_tokens/],
            [ask('x', { n: 2 }), 400, /n: Extra inputs are not permitted/],
            [{ ...ask('x'), messages: [{ role: 'assistant', content: 'x' }] }, 400, /first message/],
            [{ ...ask('x'), messages: [{ role: 'system', content: 'x' }] }, 400, /role/],
            [ask([{ type: 'image_url', image_url: { url: 'x' } }]), 400, /image_url/],
            [ask([{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'x' } }]),
                400, /media_type/],
            [ask('x', { temperature: 1.5 }), 400, /temperature/],
            [ask('x', { tools: [{ name: 'f' }] }), 400, /input_schema/],
            [{ ...ask('x'), model: 'gpt-4o' }, 404, /model: gpt-4o/],
        ];
        for (const [body, status, message] of cases) {
            const res = await messages(body);
            assert.equal(res.status, status, JSON.stringify(body));
            const error = JSON.parse(res.text);
            assert.equal(error.type, 'error');
            assert.equal(error.error.type, status === 404 ? 'not_found_error' : 'invalid_request_error');
            assert.match(error.error.message, message);
        }
        const fine = await messages(ask([
            { type: 'text', text: 'look' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBOR' } },
        ], { system: [{ type: 'text', text: 'be brief' }], metadata: { user_id: 'u1' },
            stop_sequences: ['\n\nHuman:'], temperature: 0.5, top_p: 0.9, top_k: 5 }));
        assert.equal(fine.status, 200, fine.text);
    });

    test('a message: usage with the prompt cache, end_turn or max_tokens', async () => {
        const long = JSON.parse((await messages(ask('one two three four five six seven eight nine ten',
            { system: 'sys' }))).text);
        assert.match(long.id, /^msg_/);
        assert.deepEqual([long.type, long.role, long.model], ['message', 'assistant', 'claude-sim']);
        assert.equal(long.stop_reason, 'end_turn');
        assert.equal(long.stop_sequence, null);
        assert.equal(long.content.length, 1);
        assert.equal(long.content[0].type, 'text');
        assert.equal(words(long.content[0].text), 16);
        // 11 prompt words: 4 read from the cache, the rest billed as input.
        assert.deepEqual(long.usage, { input_tokens: 7, cache_creation_input_tokens: 0,
            cache_read_input_tokens: 4, output_tokens: 16 });
        const short = JSON.parse((await messages({ ...ask('hi'), max_tokens: 5 })).text);
        assert.equal(short.stop_reason, 'max_tokens');
        assert.deepEqual(short.usage, { input_tokens: 1, cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0, output_tokens: 5 });
        const stopped = JSON.parse((await messages(ask('hi', { stop_sequences: ['brown'] }))).text);
        assert.deepEqual([stopped.content[0].text, stopped.stop_reason, stopped.stop_sequence,
            stopped.usage.output_tokens], ['The quick', 'stop_sequence', 'brown', 2]);
    });

    test('a stream: Anthropic events, no [DONE], the same text as the message', async () => {
        const whole = JSON.parse((await messages({ ...ask('tell me'), max_tokens: 6 })).text);
        const res = await messages({ ...ask('tell me'), max_tokens: 6, stream: true });
        assert.match(res.headers.get('content-type'), /^text\/event-stream/);
        assert.ok(!res.text.includes('[DONE]'));
        const events = frames(res.text).map((f) => {
            const m = /^event: (\w+)\ndata: (.*)$/s.exec(f);
            assert.ok(m, JSON.stringify(f));
            const data = JSON.parse(m[2]);
            assert.equal(data.type, m[1]);
            return data;
        });
        assert.deepEqual(events.map((ev) => ev.type), ['message_start', 'ping',
            'content_block_start', ...Array(6).fill('content_block_delta'), 'content_block_stop',
            'message_delta', 'message_stop']);
        assert.deepEqual(events[0].message.content, []);
        assert.equal(events[0].message.usage.output_tokens, 1);
        assert.equal(events[0].message.usage.input_tokens, 2);
        const text = events.filter((ev) => ev.type === 'content_block_delta')
            .map((ev) => ev.delta.text).join('');
        assert.equal(text, whole.content[0].text);
        assert.deepEqual(events.at(-2).delta, { stop_reason: 'max_tokens', stop_sequence: null });
        assert.deepEqual(events.at(-2).usage, { output_tokens: 6 });
    });

    test('tool use: text then tool_use, in a message and in a stream; text after the result', async () => {
        const call = JSON.parse((await messages(ask('weather?', { tools: [weather] }))).text);
        assert.equal(call.stop_reason, 'tool_use');
        assert.equal(call.content[0].type, 'text');
        assert.deepEqual(call.content[1], { type: 'tool_use', id: 'toolu_sim_1', name: 'get_weather',
            input: weatherArgs });

        const res = await messages(ask('weather?', { tools: [weather], stream: true }));
        const events = frames(res.text).map((f) => JSON.parse(f.split('\ndata: ')[1]));
        const start = events.find((ev) => ev.type === 'content_block_start' && ev.index === 1);
        assert.deepEqual(start.content_block, { type: 'tool_use', id: 'toolu_sim_1',
            name: 'get_weather', input: {} });
        const pieces = events.filter((ev) => ev.delta?.type === 'input_json_delta');
        assert.ok(pieces.length >= 2);
        assert.deepEqual(JSON.parse(pieces.map((ev) => ev.delta.partial_json).join('')), weatherArgs);
        const textDeltas = events.filter((ev) => ev.delta?.type === 'text_delta');
        const end = events.find((ev) => ev.type === 'message_delta');
        assert.equal(end.delta.stop_reason, 'tool_use');
        assert.equal(end.usage.output_tokens, textDeltas.length + pieces.length);
        assert.equal(call.usage.output_tokens, end.usage.output_tokens);
        assert.deepEqual(events.filter((ev) => ev.type === 'content_block_stop').map((ev) => ev.index),
            [0, 1]);

        const after = JSON.parse((await messages({ ...ask('x'), tools: [weather], messages: [
            { role: 'user', content: 'weather?' },
            { role: 'assistant', content: call.content },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_sim_1',
                content: 'sunny and warm' }] },
        ] })).text);
        assert.equal(after.stop_reason, 'end_turn');
        assert.deepEqual(after.content.map((b) => b.type), ['text']);

        const none = JSON.parse((await messages(ask('x', { tools: [weather],
            tool_choice: { type: 'none' } }))).text);
        assert.equal(none.stop_reason, 'end_turn');
        const named = JSON.parse((await messages(ask('x', {
            tools: [weather, { name: 'lookup', input_schema: { type: 'object' } }],
            tool_choice: { type: 'tool', name: 'lookup' } }))).text);
        assert.deepEqual(named.content[1].input, {});
        assert.equal(named.content[1].name, 'lookup');
    });

    test('faults: Anthropic error types, and mid-error as an error event', async () => {
        for (const [status, type] of [[429, 'rate_limit_error'], [529, 'overloaded_error'],
            [500, 'api_error']]) {
            const res = await messages(ask('x'), { 'x-sim-fault': `status:${status}` });
            assert.equal(res.status, status);
            assert.equal(JSON.parse(res.text).error.type, type);
        }
        const res = await messages(ask('x', { stream: true }), { 'x-sim-fault': 'mid-error' });
        const list = frames(res.text);
        assert.equal(list.at(-2).split('\n')[0], 'event: content_block_delta');
        assert.equal(list.at(-1), 'event: error\ndata: {"type":"error","error":' +
            '{"type":"overloaded_error","message":"Overloaded"}}');
    });

    test('the last request records the Anthropic headers', async () => {
        await messages(ask('recorded'));
        const last = JSON.parse((await (await fetch(`${e.url}/sim/last-request`)).text()));
        assert.equal(last.path, '/v1/messages');
        assert.equal(last.headers['x-api-key'], 'sk-ant-test');
        assert.equal(last.headers['anthropic-version'], '2023-06-01');
        assert.equal(last.headers['content-type'], 'application/json');
        assert.equal(last.body.messages[0].content, 'recorded');
        assert.equal((await fetch(`${e.url}/v1/chat/completions`)).status, 404);
    });
});

describe('engine azure', () => {
    const e = engineSim(['--engine', 'azure', '--models', 'gpt-4o-deploy,embedder']);
    const apiVersion = '2024-10-21';

    test('the AzureOpenAI client: the deployment names the model', async () => {
        const azure = new AzureOpenAI({ endpoint: e.url, apiKey: 'azure-key', apiVersion,
            deployment: 'gpt-4o-deploy', maxRetries: 0 });
        const res = await azure.chat.completions.create({ model: 'ignored', messages: user('a b'),
            max_tokens: 3 });
        assert.equal(res.model, 'gpt-4o-deploy');
        assert.equal(res.usage.completion_tokens, 3);
        const last = JSON.parse((await (await fetch(`${e.url}/sim/last-request`)).text()));
        assert.equal(last.path,
            `/openai/deployments/gpt-4o-deploy/chat/completions?api-version=${apiVersion}`);
        assert.equal(last.query, `api-version=${apiVersion}`);
        assert.equal(last.headers['api-key'], 'azure-key');

        const stream = await azure.chat.completions.create({ model: 'x', messages: user('a'),
            max_tokens: 2, stream: true, stream_options: { include_usage: true } });
        let text = '';
        let usage;
        for await (const chunk of stream) {
            text += chunk.choices[0]?.delta?.content ?? '';
            usage = chunk.usage ?? usage;
        }
        assert.deepEqual([text, usage.completion_tokens], ['The quick', 2]);

        const embedder = new AzureOpenAI({ endpoint: e.url, apiKey: 'k', apiVersion,
            deployment: 'embedder', maxRetries: 0 });
        const vectors = await embedder.embeddings.create({ model: 'x', input: 'a b' });
        assert.equal(vectors.model, 'embedder');
        assert.equal(vectors.data[0].embedding.length, 16);
    });

    test('Azure errors: api-version, api-key, no /v1 routes; any deployment name', async () => {
        const base = `${e.url}/openai/deployments/gpt-4o-deploy/chat/completions`;
        const body = { messages: user('x') };
        const noVersion = await post(base, body, { 'api-key': 'k' });
        assert.equal(noVersion.status, 404);
        assert.deepEqual(JSON.parse(noVersion.text),
            { error: { code: '404', message: 'Resource not found' } });
        const noKey = await post(`${base}?api-version=${apiVersion}`, body);
        assert.equal(noKey.status, 401);
        assert.equal(JSON.parse(noKey.text).error.code, '401');
        assert.match(JSON.parse(noKey.text).error.message, /^Access denied due to invalid subscription key/);
        const other = await post(
            `${e.url}/openai/deployments/my%20gpt/chat/completions?api-version=${apiVersion}`,
            { model: 'ignored', messages: user('x') }, { 'api-key': 'k' });
        assert.equal(other.status, 200);
        assert.equal(JSON.parse(other.text).model, 'my gpt');
        const v1 = await post(`${e.url}/v1/chat/completions`, body, { 'api-key': 'k' });
        assert.equal(v1.status, 404);
        const fault = await post(`${base}?api-version=${apiVersion}`, body,
            { 'api-key': 'k', 'x-sim-fault': 'status:429' });
        assert.deepEqual([fault.status, JSON.parse(fault.text).error.code], [429, '429']);
    });
});

// ---- Scripted answers (x-sim-text): every engine mode says exactly the text it is given. ----

const scriptPlain = 'Hello [[PII_PHONE_1]], call me at noon.';
const plainWords = ['Hello', ' [[PII_PHONE_1]],', ' call', ' me', ' at', ' noon.'];
// A quote, a backslash, a newline, a tab, a control character and Chinese: all must come back
// through every engine's JSON as they were.
const trickyText = 'say "hi" \\ back\nthen\t你好世界 x\u0001y done';
const trickyWords = ['say', ' "hi"', ' \\', ' back', '\nthen', '\t你好世界', ' x\u0001y', ' done'];
const percent = (text) => ({ 'x-sim-text': encodeURIComponent(text), 'x-sim-text-encoding': 'percent' });
// [headers, max tokens, the pieces a stream must send (joined: the whole text), finish]
const scriptCases = [
    [{ 'x-sim-text': scriptPlain }, undefined, plainWords, 'stop'],
    [{ 'x-sim-text': scriptPlain }, 2, plainWords.slice(0, 2), 'length'],
    [{ 'x-sim-text': scriptPlain }, 100, plainWords, 'stop'],
    [percent(trickyText), undefined, trickyWords, 'stop'],
    // a sensitive word split across chunks, and pieces that stretch to a character's end
    [{ ...percent('my password is secret'), 'x-sim-chunk-bytes': '5' }, undefined,
        ['my pa', 'sswor', 'd is ', 'secre', 't'], 'stop'],
    [{ ...percent('abc你好def'), 'x-sim-chunk-bytes': '4' }, 2, ['abc你', '好d'], 'length'],
    // raw UTF-8 bytes in the header (fetch sends a latin1 string's characters as bytes)
    [{ 'x-sim-text': Buffer.from('raw 你好 "q"').toString('latin1') }, undefined,
        ['raw', ' 你好', ' "q"'], 'stop'],
];
const finishKind = { length: 'length', max_tokens: 'length', stop: 'stop', end_turn: 'stop',
    eos_token: 'stop' };

// SSE data frames, with or without a space after `data:`, [DONE] left out.
const sseData = (text) => frames(text).filter((f) => !/^data: ?\[DONE\]$/.test(f))
    .map((f) => JSON.parse(f.replace(/^data: ?/, '')));

async function postOK(url, body, headers) {
    const res = await post(url, body, headers);
    assert.equal(res.status, 200, res.text);
    return res;
}

// An OpenAI-style chat or completions route; url() is read once the simulator is up.
function openaiRoute(label, url, { chat, model, headers = {} }) {
    const request = (max, stream) => {
        const body = chat ? { model, messages: user('a b') } : { model, prompt: 'a b' };
        if (max !== undefined) body.max_tokens = max;
        if (stream) Object.assign(body, { stream: true, stream_options: { include_usage: true } });
        return body;
    };
    return {
        label,
        async whole(h, max) {
            const json = JSON.parse((await postOK(url(), request(max, false), { ...headers, ...h })).text);
            const choice = json.choices[0];
            return { text: chat ? choice.message.content : choice.text,
                completion: json.usage.completion_tokens, finish: choice.finish_reason };
        },
        async stream(h, max) {
            const res = await postOK(url(), request(max, true), { ...headers, ...h });
            const out = { pieces: [] };
            for (const chunk of sseData(res.text)) {
                const choice = chunk.choices?.[0];
                const piece = chat ? choice?.delta?.content : choice?.text;
                if (piece) out.pieces.push(piece); // the role chunk's "" is no token
                if (choice?.finish_reason) out.finish = choice.finish_reason;
                if (chunk.usage) out.completion = chunk.usage.completion_tokens;
            }
            return out;
        },
    };
}

// TGI's /generate and /generate_stream (also MindIE's TGI-style ones).
function tgiRoute(label, url) {
    const request = (max) => ({ inputs: 'a b',
        parameters: { details: true, ...(max === undefined ? {} : { max_new_tokens: max }) } });
    return {
        label,
        async whole(h, max) {
            const json = JSON.parse((await postOK(`${url()}/generate`, request(max), h)).text);
            return { text: json.generated_text, completion: json.details.generated_tokens,
                finish: json.details.finish_reason };
        },
        async stream(h, max) {
            const events = sseData((await postOK(`${url()}/generate_stream`, request(max), h)).text);
            const last = events.at(-1);
            assert.equal(last.generated_text, events.map((e) => e.token.text).join(''));
            return { pieces: events.map((e) => e.token.text),
                completion: last.details.generated_tokens, finish: last.details.finish_reason };
        },
    };
}

// SGLang's native /generate: a stream's events carry the text so far.
function sglangNativeRoute(url) {
    const request = (max, stream) => ({ text: 'a b', stream,
        sampling_params: max === undefined ? {} : { max_new_tokens: max } });
    const outcome = (event) => ({ completion: event.meta_info.completion_tokens,
        finish: event.meta_info.finish_reason.type });
    return {
        label: 'sglang /generate',
        async whole(h, max) {
            const json = JSON.parse((await postOK(`${url()}/generate`, request(max, false), h)).text);
            return { text: json.text, ...outcome(json) };
        },
        async stream(h, max) {
            const events = sseData((await postOK(`${url()}/generate`, request(max, true), h)).text);
            const pieces = [];
            let sofar = '';
            for (const event of events) {
                assert.ok(event.text.startsWith(sofar), 'the text is cumulative');
                if (event.text.length > sofar.length) pieces.push(event.text.slice(sofar.length));
                sofar = event.text;
            }
            return { pieces, ...outcome(events.at(-1)) };
        },
    };
}

// MindIE's vLLM-style /generate: the prompt, a space, then the text; no usage or finish.
function mindieLegacyRoute(url) {
    const request = (max, stream) => ({ prompt: 'a b', stream,
        ...(max === undefined ? {} : { max_tokens: max }) });
    return {
        label: 'mindie /generate (vLLM style)',
        async whole(h, max) {
            const text = JSON.parse((await postOK(`${url()}/generate`, request(max, false), h)).text).text[0];
            assert.ok(text.startsWith('a b '), text);
            return { text: text.slice(4) };
        },
        async stream(h, max) {
            const objects = (await postOK(`${url()}/generate`, request(max, true), h)).text.split('\0');
            assert.equal(objects.pop(), '');
            return { pieces: objects.map((o) => JSON.parse(o).text[0]) };
        },
    };
}

function anthropicRoute(url) {
    const headers = { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' };
    const request = (max, stream) => ({ model: 'claude-sim', max_tokens: max ?? 1024, stream,
        messages: user('a b') });
    return {
        label: 'anthropic /v1/messages',
        async whole(h, max) {
            const json = JSON.parse((await postOK(`${url()}/v1/messages`, request(max, false),
                { ...headers, ...h })).text);
            return { text: json.content.map((b) => b.text).join(''),
                completion: json.usage.output_tokens, finish: json.stop_reason };
        },
        async stream(h, max) {
            const res = await postOK(`${url()}/v1/messages`, request(max, true), { ...headers, ...h });
            const out = { pieces: [] };
            for (const frame of frames(res.text)) {
                const data = JSON.parse(frame.split('\n')[1].replace(/^data: /, ''));
                if (data.type === 'content_block_delta') out.pieces.push(data.delta.text);
                if (data.type === 'message_delta') {
                    out.finish = data.delta.stop_reason;
                    out.completion = data.usage.output_tokens;
                }
            }
            return out;
        },
    };
}

async function checkScripted(route) {
    for (const [headers, max, pieces, finish] of scriptCases) {
        const what = `${route.label}, ${JSON.stringify(headers)}, max ${max}`;
        for (const answer of [await route.whole(headers, max), await route.stream(headers, max)]) {
            if (answer.pieces) assert.deepEqual(answer.pieces, pieces, `${what}: stream pieces`);
            assert.equal(answer.text ?? answer.pieces.join(''), pieces.join(''), what);
            if (answer.completion !== undefined) assert.equal(answer.completion, pieces.length, what);
            if (answer.finish !== undefined) assert.equal(finishKind[answer.finish], finish, what);
        }
    }
}

function scriptedEngine(name, args, routes) {
    describe(`scripted answers (x-sim-text): ${name}`, () => {
        const e = engineSim(args);
        for (const route of routes(() => e.url)) {
            test(`${route.label}: the exact text, whole and streamed`, () => checkScripted(route));
        }
        if (name === 'openai') {
            test('bad script headers are refused; tool calls are unaffected', async () => {
                const url = `${e.url}/v1/chat/completions`;
                const body = { model: 'sim-model', messages: user('x') };
                for (const headers of [
                    { 'x-sim-text': 'a', 'x-sim-chunk-bytes': '0' },
                    { 'x-sim-text': 'a', 'x-sim-chunk-bytes': '4097' },
                    { 'x-sim-text': 'a%zz', 'x-sim-text-encoding': 'percent' },
                    { 'x-sim-text': 'a%ff', 'x-sim-text-encoding': 'percent' }, // not UTF-8
                    { 'x-sim-text': 'a', 'x-sim-text-encoding': 'base64' },
                    { 'x-sim-text': 'x'.repeat(16 * 1024 + 1) },
                ]) {
                    const res = await post(url, body, headers);
                    assert.equal(res.status, 400, JSON.stringify(headers).slice(0, 80));
                    assert.match(JSON.parse(res.text).error.message, /x-sim-(text|chunk)/);
                }
                const big = await post(url, body, { 'x-sim-text': 'x'.repeat(16 * 1024) });
                assert.equal(JSON.parse(big.text).choices[0].message.content.length, 16 * 1024);
                const tool = JSON.parse((await postOK(url, { ...body, tools: [weatherTool] },
                    { 'x-sim-text': scriptPlain })).text);
                assert.equal(tool.choices[0].finish_reason, 'tool_calls');
                assert.equal(tool.choices[0].message.content, null);
                // two choices each say the whole text; usage counts both
                const two = JSON.parse((await postOK(url, { ...body, n: 2 },
                    { 'x-sim-text': scriptPlain })).text);
                assert.deepEqual(two.choices.map((c) => c.message.content), [scriptPlain, scriptPlain]);
                assert.equal(two.usage.completion_tokens, 2 * plainWords.length);
            });
        }
    });
}

// Chat and completions under `prefix` (Azure's deployment path takes an api-version).
const openaiPair = (url, model, prefix = '/v1', headers = {}) => {
    const query = prefix === '/v1' ? '' : '?api-version=2024-10-21';
    return [
        openaiRoute(`chat (${model})`, () => `${url()}${prefix}/chat/completions${query}`,
            { chat: true, model, headers }),
        openaiRoute(`completions (${model})`, () => `${url()}${prefix}/completions${query}`,
            { chat: false, model, headers }),
    ];
};
scriptedEngine('openai', [], (url) => openaiPair(url, 'sim-model'));
scriptedEngine('vllm', ['--engine', 'vllm'], (url) => openaiPair(url, 'sim-model'));
scriptedEngine('sglang', ['--engine', 'sglang', '--models', 'qwen'],
    (url) => [...openaiPair(url, 'qwen'), sglangNativeRoute(url)]);
scriptedEngine('mindie', ['--engine', 'mindie', '--models', 'llama'], (url) => [
    ...openaiPair(url, 'llama'), tgiRoute('mindie /generate (TGI style)', url), mindieLegacyRoute(url)]);
scriptedEngine('tgi', ['--engine', 'tgi', '--models', 'bigscience/bloom'],
    (url) => [...openaiPair(url, 'tgi'), tgiRoute('tgi /generate', url)]);
scriptedEngine('anthropic', ['--engine', 'anthropic', '--models', 'claude-sim'],
    (url) => [anthropicRoute(url)]);
scriptedEngine('azure', ['--engine', 'azure', '--models', 'gpt-4o-deploy'],
    (url) => openaiPair(url, 'x', '/openai/deployments/gpt-4o-deploy', { 'api-key': 'k' }));
