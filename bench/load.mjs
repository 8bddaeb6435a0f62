// A fixed number of chat requests (the ~1 KB body of chat.lua) over keep-alive connections, for
// measurements that divide by a request count (callgrind, strace): wrk runs for a time, not a
// count. Exits 1 when any answer is not a 200.
// Usage: node bench/load.mjs URL MODEL REQUESTS [CONCURRENCY=4] [STREAM=0]
// LOAD_API_KEY, when set, is sent as the bearer token.
import http from 'node:http';

const [url, model, countArg, concArg = '4', streamArg = '0'] = process.argv.slice(2);
if (!url || !model || !countArg) {
  console.error('usage: node bench/load.mjs URL MODEL REQUESTS [CONCURRENCY] [STREAM]');
  process.exit(2);
}
const total = Number(countArg);
const concurrency = Math.min(Number(concArg), total);
const stream = streamArg === '1';
const body = JSON.stringify({
  model,
  max_tokens: stream ? 64 : 16,
  ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  messages: [
    { role: 'system', content: 'You are a helpful assistant that answers briefly.' },
    { role: 'user', content: 'lorem ipsum dolor sit amet '.repeat(34) },
  ],
});
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const target = new URL(url);

function one() {
  return new Promise((resolve, reject) => {
    const req = http.request(target, {
      method: 'POST', agent,
      headers: {
        'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        ...(process.env.LOAD_API_KEY ? { authorization: `Bearer ${process.env.LOAD_API_KEY}` } : {}),
      },
    }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let started = 0, failed = 0;
async function lane() {
  while (started < total) {
    started++;
    const status = await one();
    if (status !== 200) failed++;
  }
}
const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: concurrency }, lane));
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
agent.destroy();
console.log(JSON.stringify({ requests: total, failed, ms: Math.round(ms) }));
process.exit(failed ? 1 : 0);
