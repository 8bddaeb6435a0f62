// guards.words: sensitive words in requests and in answers, streams included, also when a word
// is split across two stream chunks (the simulator streams a word a chunk: "The", " quick",
// " brown", " fox", ...). The caller never receives the word, not even its first half.
// guards.pii: personal data in requests (block, mask, restore) and, with on: [response], in what
// the model writes, a value split across 1-3 byte chunks included. Every text of an answer is
// guarded on its own: each choice, its reasoning and each tool call's arguments (the simulator
// scripts them with x-sim-reasoning and x-sim-tool-args), through OpenAI's and Anthropic's APIs.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { BUILD, startSim, startGateway, gatewayConfig, simChannel, standardModels } from './lib/harness.mjs';

let sim;
before(async () => { sim = await startSim(); });
after(async () => { await sim?.stop(); });

async function gatewayWith(words) {
  const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels, extra: words });
  writeFileSync(path.join(config.dir, 'words.txt'), '# one word a line\n敏感词\n\nforbidden phrase\n');
  const gw = await startGateway(config);
  return { gw, client: new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 }) };
}

const ask = (content, extra = {}) => ({ model: 'chat', messages: [{ role: 'user', content }], ...extra });

async function streamText(client, body) {
  let text = '';
  try {
    for await (const chunk of await client.chat.completions.create({ ...body, stream: true })) text += chunk.choices[0]?.delta?.content ?? '';
  } catch (err) {
    return { text, err };
  }
  return { text, err: null };
}

describe('block', () => {
  let gw, client;
  before(async () => {
    ({ gw, client } = await gatewayWith(`guards:
  words: { files: [words.txt], list: [brown fox], action: block, on: [request, response] }`));
  });
  after(async () => { await gw?.stop(); });

  test('a request with a listed word is refused, case and Chinese alike, without quoting it', async () => {
    for (const content of ['tell me about the 敏感词 please', 'a Forbidden Phrase here', 'the BROWN FOX']) {
      const before = (await sim.stats()).requests;
      await assert.rejects(client.chat.completions.create(ask(content)), (err) => {
        assert.equal(err.status, 400, content);
        assert.equal(err.code, 'content_filter');
        assert.doesNotMatch(err.message, /敏感词|forbidden|brown/i);
        return true;
      });
      assert.equal((await sim.stats()).requests, before, 'no engine saw it');
    }
    // text parts are read too
    await assert.rejects(client.chat.completions.create(
      { model: 'chat', messages: [{ role: 'user', content: [{ type: 'text', text: 'x 敏感词 y' }] }] }), (err) => err.status === 400);
  });

  test('an answer with a listed word: refused whole, and a stream ends with an error before the word', async () => {
    const clean = await client.chat.completions.create(ask('hello', { max_tokens: 3 }));
    assert.equal(clean.choices[0].message.content, 'The quick brown'); // a prefix alone passes
    await assert.rejects(client.chat.completions.create(ask('hello', { max_tokens: 6 })), (err) => {
      assert.equal(err.status, 400);
      assert.equal(err.code, 'content_filter');
      return true;
    });
    const { text, err } = await streamText(client, ask('hello', { max_tokens: 6 }));
    assert.ok(err, 'the stream ended with an error');
    assert.match(String(err.message), /does not pass/);
    assert.equal(text, 'The quick ', 'released up to the word, and not one byte of it');
  });

  test('a Chinese word split across two chunks: the caller gets the text before it, not a byte of it', async () => {
    const headers = {
      'x-sim-text': encodeURIComponent('这是敏感词的测试'), 'x-sim-text-encoding': 'percent', 'x-sim-chunk-bytes': '7',
    }; // pieces of whole characters: 这是敏 | 感词的 | 测试
    let text = '', failed = null;
    try {
      const stream = await client.chat.completions.create({ ...ask('hello', { max_tokens: 50 }), stream: true }, { headers });
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    } catch (err) {
      failed = err;
    }
    assert.ok(failed, 'the stream ended with an error');
    assert.equal(text, '这是');
  });

  test('on /v1/messages the stream ends with Anthropic\'s error event', async () => {
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0 });
    let text = '';
    const stream = anthropic.messages.stream({ model: 'chat', max_tokens: 6, messages: [{ role: 'user', content: 'hello' }] });
    stream.on('text', (t) => { text += t; });
    await assert.rejects(stream.finalMessage());
    assert.doesNotMatch(text, /brown/);
  });
});

describe('mask', () => {
  let gw, client;
  before(async () => {
    ({ gw, client } = await gatewayWith(`guards:
  words: { list: [brown fox, quick], action: mask, on: [response] }`));
  });
  after(async () => { await gw?.stop(); });

  test('the answer is masked a star per character, whole and streamed alike; the request is not checked', async () => {
    const whole = await client.chat.completions.create(ask('the quick question', { max_tokens: 6 }));
    assert.equal(whole.choices[0].message.content, 'The ***** ********* jumps over');
    const { text, err } = await streamText(client, ask('the quick question', { max_tokens: 6 }));
    assert.equal(err, null);
    assert.equal(text, whole.choices[0].message.content);
    const last = await sim.lastRequest();
    assert.match(JSON.stringify(last.body), /the quick question/, 'on: [response] leaves the request alone');
  });
});

describe('every choice is guarded', () => {
  let gw, client;
  before(async () => {
    ({ gw, client } = await gatewayWith(`guards:
  words: { list: [brown fox, quick], action: mask, on: [response] }`));
  });
  after(async () => { await gw?.stop(); });

  test('n choices, whole and streamed, each its own text; a stream of more than 8 is refused', async () => {
    const whole = await client.chat.completions.create(ask('hi', { max_tokens: 6, n: 3 }));
    assert.deepEqual(whole.choices.map((c) => c.message.content), Array(3).fill('The ***** ********* jumps over'));
    const texts = [];
    const stream = await client.chat.completions.create({ ...ask('hi', { max_tokens: 100, n: 3 }), stream: true },
      { headers: { 'x-sim-chunk-bytes': '2', 'x-sim-text': 'the quick brown fox jumps over' } });
    for await (const chunk of stream)
      for (const c of chunk.choices) texts[c.index] = (texts[c.index] ?? '') + (c.delta?.content ?? '');
    assert.deepEqual(texts, Array(3).fill('the ***** ********* jumps over'));
    const { err } = await streamText(client, ask('hi', { max_tokens: 6, n: 9 }));
    assert.ok(err, 'the stream ended with an error');
    assert.match(String(err.message), /at most 8 choices/);
  });
});

describe('mask on requests', () => {
  let gw, client;
  before(async () => {
    ({ gw, client } = await gatewayWith(`guards:
  words: { list: [secret project], action: mask, on: [request] }`));
  });
  after(async () => { await gw?.stop(); });

  test('the engine sees the words masked', async () => {
    await client.chat.completions.create(ask('about the Secret Project x', { max_tokens: 1 }));
    const body = (await sim.lastRequest()).body;
    assert.equal(body.messages[0].content, 'about the ************** x');
  });
});

// A valid China resident id from its first 17 digits (ISO 7064 MOD 11-2), and a card number
// that passes Luhn, computed here so the test does not trust the code it tests.
function chinaId(first17) {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((s, d, i) => s + Number(d) * weights[i], 0);
  return first17 + '10X98765432'[sum % 11];
}
function luhnCard(first15) {
  const digits = [...first15].map(Number);
  let sum = 0;
  for (let i = 0; i < 15; i++) {
    let d = digits[14 - i];
    if (i % 2 === 0) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return first15 + String((10 - (sum % 10)) % 10);
}

describe('pii', () => {
  let gw, client;
  before(async () => {
    ({ gw, client } = await gatewayWith(`guards:
  pii: { email: mask, china_id: block, bank_card: block, phone: restore }`));
  });
  after(async () => { await gw?.stop(); });

  test('an id number or a card is refused, naming the kind and never the value', async () => {
    const id = chinaId('11010519491231002');
    const card = luhnCard('622202123456789');
    for (const [content, kind, value] of [[`我的身份证号是${id}谢谢`, 'china_id', id], [`card ${card.match(/.{4}/g).join(' ')}`, 'bank_card', card]]) {
      await assert.rejects(client.chat.completions.create(ask(content)), (err) => {
        assert.equal(err.status, 400);
        assert.equal(err.code, 'pii_detected');
        assert.match(err.message, new RegExp(kind));
        for (let i = 0; i + 4 <= value.length; i += 4)
          assert.ok(!err.message.includes(value.slice(i, i + 4)), 'no part of the value');
        return true;
      });
    }
    // one digit off the checksum: not an id, it passes
    const wrong = id.slice(0, 17) + (id[17] === '0' ? '1' : '0');
    await client.chat.completions.create(ask(`number ${wrong}`, { max_tokens: 1 }));
  });

  test('an email is masked for the model; a phone number goes as a placeholder and comes back', async () => {
    await client.chat.completions.create(ask('mail alice@example.com or call 13812345678 please', { max_tokens: 1 }));
    const sent = (await sim.lastRequest()).body.messages[0].content;
    assert.equal(sent, 'mail [EMAIL] or call [[PII_PHONE_1]] please');
    // the model answers with the placeholder: the caller reads the number, whole and streamed,
    // also when the placeholder comes split over chunks of 4 bytes
    const headers = { 'x-sim-text': 'Sure, I will call [[PII_PHONE_1]] today.' };
    const whole = await client.chat.completions.create(ask('call 13812345678', { max_tokens: 50 }), { headers });
    assert.equal(whole.choices[0].message.content, 'Sure, I will call 13812345678 today.');
    let text = '';
    const stream = await client.chat.completions.create(ask('call 13812345678', { max_tokens: 50, stream: true }),
      { headers: { ...headers, 'x-sim-chunk-bytes': '4' } });
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'Sure, I will call 13812345678 today.');
    // through Anthropic's API too
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0 });
    const msg = await anthropic.messages.stream({ model: 'chat', max_tokens: 50, messages: [{ role: 'user', content: 'call 13812345678' }] },
      { headers: { ...headers, 'x-sim-chunk-bytes': '3' } }).finalMessage();
    assert.equal(msg.content[0].text, 'Sure, I will call 13812345678 today.');
  });
});

// ---- the model's own text: PII detected in answers (guards.pii.on: [request, response]) ----

// Every text of a streamed answer, as the OpenAI SDK hands it over: content, reasoning and the
// joined arguments of each tool call; err when the stream ended with an error.
async function streamParts(client, body, headers = {}) {
  const parts = { content: '', reasoning: '', args: [], order: [], err: null };
  try {
    const stream = await client.chat.completions.create({ ...body, stream: true }, { headers });
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta ?? {};
      if (d.reasoning_content) { parts.reasoning += d.reasoning_content; parts.order.push('reasoning'); }
      if (d.content) { parts.content += d.content; parts.order.push('content'); }
      for (const call of d.tool_calls ?? []) {
        parts.args[call.index] = (parts.args[call.index] ?? '') + (call.function?.arguments ?? '');
        parts.order.push('tool');
      }
    }
  } catch (err) {
    parts.err = err;
  }
  return parts;
}

const percentText = (text, extra = {}) => ({ 'x-sim-text': encodeURIComponent(text), 'x-sim-text-encoding': 'percent', ...extra });

describe('pii in answers', () => {
  let gw, client, anthropic;
  const id = chinaId('11010519491231002');
  before(async () => {
    ({ gw, client } = await gatewayWith(`guards:
  pii: { email: mask, phone: restore, china_id: block, secret: mask, on: [request, response] }`));
    anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => { await gw?.stop(); });

  const said = 'Mail bob.smith@example.org, call [[PII_PHONE_1]] (yours) or 13912345678, key sk-Ab12Cd34Ef56Gh78Ij90Kl, 手机13700001111。';
  const expected = 'Mail [EMAIL], call 13812345678 (yours) or 139****5678, key [SECRET], 手机137****1111。';

  test('what the model writes is masked; the caller\'s own values come back as they were', async () => {
    const whole = await client.chat.completions.create(ask('call 13812345678', { max_tokens: 200 }), { headers: percentText(said) });
    assert.equal(whole.choices[0].message.content, expected);
    for (const bytes of ['1', '2', '3', '7']) {
      const { content, err } = await streamParts(client, ask('call 13812345678', { max_tokens: 500 }), percentText(said, { 'x-sim-chunk-bytes': bytes }));
      assert.equal(err, null);
      assert.equal(content, expected, `chunks of ${bytes} bytes`);
    }
    const msg = await anthropic.messages.stream({ model: 'chat', max_tokens: 500, messages: [{ role: 'user', content: 'call 13812345678' }] },
      { headers: percentText(said, { 'x-sim-chunk-bytes': '2' }) }).finalMessage();
    assert.equal(msg.content[0].text, expected);
  });

  test('a blocked kind ends the answer naming the kind, never the value, whole and streamed', async () => {
    const text = `Your id is ${id}, keep it safe.`;
    await assert.rejects(client.chat.completions.create(ask('hello', { max_tokens: 50 }), { headers: percentText(text) }), (err) => {
      assert.equal(err.status, 400);
      assert.equal(err.code, 'pii_detected');
      assert.match(err.message, /china_id/);
      assert.ok(!err.message.includes(id.slice(0, 6)), 'no part of the value');
      return true;
    });
    for (const bytes of ['1', '2', '3']) {
      const { content, err } = await streamParts(client, ask('hello', { max_tokens: 500 }), percentText(text, { 'x-sim-chunk-bytes': bytes }));
      assert.ok(err, 'the stream ended with an error');
      assert.match(String(err.message), /china_id/);
      assert.ok('Your id is '.startsWith(content), `released only text before the value: ${JSON.stringify(content)}`);
    }
    let got = '';
    const stream = anthropic.messages.stream({ model: 'chat', max_tokens: 500, messages: [{ role: 'user', content: 'hello' }] },
      { headers: percentText(text, { 'x-sim-chunk-bytes': '3' }) });
    stream.on('text', (t) => { got += t; });
    await assert.rejects(stream.finalMessage(), /china_id/);
    assert.ok(!got.includes('1101'));
  });
});

describe('pii in answers is off by default', () => {
  let gw, client;
  before(async () => {
    ({ gw, client } = await gatewayWith(`guards:
  pii: { email: mask }`));
  });
  after(async () => { await gw?.stop(); });

  test('without on: [response] the model\'s text is not scanned', async () => {
    const whole = await client.chat.completions.create(ask('hi', { max_tokens: 10 }), { headers: { 'x-sim-text': 'mail bob@example.org' } });
    assert.equal(whole.choices[0].message.content, 'mail bob@example.org');
  });
});

// ---- reasoning and tool-call arguments pass the response guards too ----

const tools = [{ type: 'function', function: { name: 'dial', parameters: { type: 'object', properties: { phone: { type: 'string' } } } } }];
const anthropicTools = [{ name: 'dial', input_schema: { type: 'object', properties: { phone: { type: 'string' } } } }];

describe('reasoning and tool arguments: restore and masked words', () => {
  let gw, client, anthropic;
  before(async () => {
    ({ gw, client } = await gatewayWith(`guards:
  words: { list: [brown fox], action: mask, on: [response] }
  pii:
    phone: restore
    custom:
      - { name: nick, pattern: "NICK<[^>]*>", action: restore }`));
    anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => { await gw?.stop(); });

  test('a tool call made with a placeholder reaches the caller with the value, whole and streamed', async () => {
    const body = ask('please dial 13812345678', { tools, max_tokens: 100 });
    const headers = { 'x-sim-tool-args': '{"phone":"[[PII_PHONE_1]]","note":"brown fox"}' };
    const whole = await client.chat.completions.create(body, { headers });
    const call = whole.choices[0].message.tool_calls[0];
    assert.deepEqual(JSON.parse(call.function.arguments), { phone: '13812345678', note: '*********' });
    assert.equal((await sim.lastRequest()).body.messages[0].content, 'please dial [[PII_PHONE_1]]');
    for (const bytes of ['1', '2', '3', '5']) {
      const parts = await streamParts(client, body, { ...headers, 'x-sim-chunk-bytes': bytes });
      assert.equal(parts.err, null);
      assert.deepEqual(JSON.parse(parts.args[0]), { phone: '13812345678', note: '*********' }, `pieces of ${bytes} bytes`);
    }
    // Anthropic's tool_use input, whole and streamed
    const req = { model: 'chat', max_tokens: 100, tools: anthropicTools, messages: [{ role: 'user', content: 'please dial 13812345678' }] };
    const msg = await anthropic.messages.create(req, { headers });
    assert.deepEqual(msg.content.find((b) => b.type === 'tool_use').input, { phone: '13812345678', note: '*********' });
    const streamed = await anthropic.messages.stream(req, { headers: { ...headers, 'x-sim-chunk-bytes': '2' } }).finalMessage();
    assert.deepEqual(streamed.content.find((b) => b.type === 'tool_use').input, { phone: '13812345678', note: '*********' });
  });

  test('a restored value is escaped for the arguments\' JSON', async () => {
    const nick = 'NICK<say "hi" \\ bye>';
    const body = ask(`my nick is ${nick}`, { tools, max_tokens: 100 });
    const headers = { 'x-sim-tool-args': '{"phone":"[[PII_NICK_1]]"}' };
    const whole = await client.chat.completions.create(body, { headers });
    assert.deepEqual(JSON.parse(whole.choices[0].message.tool_calls[0].function.arguments), { phone: nick });
    const parts = await streamParts(client, body, { ...headers, 'x-sim-chunk-bytes': '3' });
    assert.deepEqual(JSON.parse(parts.args[0]), { phone: nick });
  });

  test('reasoning is restored and masked as its own text, and all of it comes before the content', async () => {
    const reasoning = 'The number is [[PII_PHONE_1]], a brown fox said: the brown';
    const headers = percentText('Calling now, brown fox.', { 'x-sim-reasoning': encodeURIComponent(reasoning) });
    const body = ask('call 13812345678', { max_tokens: 100 });
    const whole = await client.chat.completions.create(body, { headers });
    assert.equal(whole.choices[0].message.reasoning_content, 'The number is 13812345678, a ********* said: the brown');
    assert.equal(whole.choices[0].message.content, 'Calling now, *********.');
    for (const bytes of ['1', '3']) {
      const parts = await streamParts(client, body, { ...headers, 'x-sim-chunk-bytes': bytes });
      assert.equal(parts.err, null);
      assert.equal(parts.reasoning, 'The number is 13812345678, a ********* said: the brown');
      assert.equal(parts.content, 'Calling now, *********.');
      // the held "brown" (it could begin "brown fox") went out before the content began
      assert.ok(parts.order.lastIndexOf('reasoning') < parts.order.indexOf('content'), parts.order.join(','));
    }
    const msg = await anthropic.messages.stream({ model: 'chat', max_tokens: 100, messages: [{ role: 'user', content: 'call 13812345678' }] },
      { headers: { ...headers, 'x-sim-chunk-bytes': '2' } }).finalMessage();
    assert.deepEqual(msg.content.map((b) => b.type), ['thinking', 'text']);
    assert.equal(msg.content[0].thinking, 'The number is 13812345678, a ********* said: the brown');
    assert.equal(msg.content[1].text, 'Calling now, *********.');
  });
});

describe('reasoning and tool arguments: blocked words', () => {
  let gw, client, anthropic;
  before(async () => {
    ({ gw, client } = await gatewayWith(`guards:
  words: { list: [brown fox, 敏感词], action: block, on: [response] }`));
    anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => { await gw?.stop(); });

  test('a word in the reasoning ends the answer before any byte of it', async () => {
    const headers = { 'x-sim-text': 'fine', 'x-sim-reasoning': encodeURIComponent('I think the 敏感词 is here'), 'x-sim-text-encoding': 'percent' };
    await assert.rejects(client.chat.completions.create(ask('hi', { max_tokens: 10 }), { headers }), (err) => err.status === 400 && err.code === 'content_filter');
    for (const bytes of ['1', '2', '3']) {
      const parts = await streamParts(client, ask('hi', { max_tokens: 10 }), { ...headers, 'x-sim-chunk-bytes': bytes });
      assert.ok(parts.err, 'the stream ended with an error');
      assert.equal(parts.content, '');
      assert.ok('I think the '.startsWith(parts.reasoning), JSON.stringify(parts.reasoning));
    }
    let thinking = '';
    const stream = anthropic.messages.stream({ model: 'chat', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      { headers: { ...headers, 'x-sim-chunk-bytes': '3' } });
    stream.on('thinking', (t) => { thinking += t; });
    await assert.rejects(stream.finalMessage());
    assert.ok(!thinking.includes('敏'));
  });

  test('a word in a tool call\'s arguments ends the answer', async () => {
    const headers = { 'x-sim-tool-args': '{"phone":"the brown fox"}' };
    await assert.rejects(client.chat.completions.create(ask('hi', { tools }), { headers }), (err) => err.status === 400 && err.code === 'content_filter');
    const parts = await streamParts(client, ask('hi', { tools }), { ...headers, 'x-sim-chunk-bytes': '2' });
    assert.ok(parts.err);
    assert.ok(!(parts.args[0] ?? '').includes('brown f'));
    await assert.rejects(anthropic.messages.create({ model: 'chat', max_tokens: 10, tools: anthropicTools, messages: [{ role: 'user', content: 'hi' }] }, { headers }),
      (err) => err.status === 400);
  });
});

// Hyperscan (and the C++ runtime inside it) is opened by the first config with words: a
// gateway without them never maps it, a reload that adds words opens it, and a config with
// words where the library cannot be opened is refused with the reason.
describe('the Hyperscan library', () => {
  const mapped = (gw) => readFileSync(`/proc/${gw.child.pid}/maps`, 'utf8');

  test('is mapped only once a config has words, and a reload can be the first', async () => {
    const { gw, client } = await gatewayWith('');
    try {
      assert.doesNotMatch(mapped(gw), /libhs\.so/);
      // the sanitizers' runtimes bring the C++ runtime of their own
      if (process.env.AIGW_SANITIZED !== '1') assert.doesNotMatch(mapped(gw), /libstdc\+\+/);
      assert.equal((await client.chat.completions.create(ask('the brown fox', { max_tokens: 1 }))).choices.length, 1);
      writeFileSync(gw.config.file, `${gw.config.yaml}\nguards:\n  words: { list: [brown fox], on: [request] }\n`);
      const reload = await fetch(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
      assert.equal(reload.status, 200, await reload.text());
      assert.match(mapped(gw), /libhs\.so/);
      await assert.rejects(client.chat.completions.create(ask('the brown fox')), (err) => err.status === 400 && err.code === 'content_filter');
    } finally {
      await gw.stop();
    }
  });

  test('AIGW_HYPERSCAN_LIBRARY naming a missing file: a config with words is refused, one without runs', async () => {
    const config = await gatewayConfig({ channels: simChannel(sim), models: standardModels, extra: 'guards:\n  words: { list: [brown fox] }' });
    const env = { ...process.env, AIGW_HYPERSCAN_LIBRARY: path.join(config.dir, 'no-such-libhs.so') };
    const refused = spawnSync(path.join(BUILD, 'aigw'), ['check', '-c', config.file], { env, cwd: config.dir });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr.toString(), /guards\.words: cannot load Hyperscan: .*no-such-libhs\.so: cannot open .*apt-get install libhyperscan5/);
    const plain = await gatewayConfig({ channels: simChannel(sim), models: standardModels });
    const fine = spawnSync(path.join(BUILD, 'aigw'), ['check', '-c', plain.file], { env, cwd: plain.dir });
    assert.equal(fine.status, 0, fine.stderr.toString());
  });
});
