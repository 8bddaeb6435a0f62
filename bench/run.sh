#!/usr/bin/env bash
# One run, one box: wrk against the simulator directly, through nginx as a plain reverse proxy,
# and through aigw (which parses every body and rewrites the model name both ways), for a
# ~1 KB non-streaming chat request and for a 64-token stream. Prints a Markdown table.
# Usage: bench/run.sh BUILD_DIR   (make bench)
set -euo pipefail
build=${1:?usage: bench/run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
duration=${BENCH_DURATION:-10s}
conns=${BENCH_CONNECTIONS:-32}
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

sim_port=$(free_port); nginx_port=$(free_port); aigw_port=$(free_port); admin_port=$(free_port)
dead_port=$(free_port) # nothing listens: every connect to it is refused at once

"$build/aigw-sim" --port "$sim_port" --threads 1 > "$tmp/sim.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$sim_port/health"

mkdir -p "$tmp/nginx/logs"
cat > "$tmp/nginx/nginx.conf" <<NGINX
worker_processes 1;
error_log $tmp/nginx/logs/error.log;
pid $tmp/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body; proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fcgi; uwsgi_temp_path $tmp/nginx/uwsgi; scgi_temp_path $tmp/nginx/scgi;
  upstream sim { server 127.0.0.1:$sim_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
/usr/sbin/nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_http "http://127.0.0.1:$nginx_port/health"
nginx_pid=$(pgrep -P "${pids[-1]}" -f "nginx: worker" || true)
[ -n "$nginx_pid" ] || nginx_pid=${pids[-1]}

cat > "$tmp/aigw.yaml" <<YAML
server:
  workers: 1
  http: {listen: "127.0.0.1:$aigw_port"}
  https: {listen: "off"}
  admin: {listen: "127.0.0.1:$admin_port", token: bench}
log:
  access: "off"
channels:
  - {name: sim, type: openai, base_url: "http://127.0.0.1:$sim_port/v1"}
  - {name: sim-b, type: openai, base_url: "http://127.0.0.1:$sim_port/v1"}
  # never ejected for long, so nearly every request tries it first and fails over
  - name: dead
    type: openai
    base_url: "http://127.0.0.1:$dead_port/v1"
    health: {failures: 1000000}
models:
  - {name: bench-model, channel: sim, upstream_model: sim-model}
  # weights, tiers and three rules that do not match: the whole routing path on every request
  - name: bench-routed
    upstream_model: sim-model
    targets: [{channel: sim, weight: 3}, {channel: sim-b, weight: 1}]
    rules:
      - {when: {header: {name: x-tenant, equals: finance}}, targets: [{channel: sim}]}
      - {when: {last_user_message: {matches: "(?i)invoice|refund"}}, targets: [{channel: sim}]}
      - {when: {prompt_tokens: {over: 100000}}, targets: [{channel: sim-b}]}
  - name: bench-failover
    upstream_model: sim-model
    targets: [{channel: dead}, {channel: sim, tier: 1}]
YAML
"$build/aigw" serve -c "$tmp/aigw.yaml" > "$tmp/aigw.log" 2>&1 &
pids+=($!)
aigw_pid=${pids[-1]}
wait_http "http://127.0.0.1:$admin_port/readyz"

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# target_name url model stream proxy_pid|- [wrk script, default chat.lua]
measure() {
  local name=$1 url=$2 model=$3 stream=$4 pid=$5 script=$here/${6:-chat.lua}
  MODEL=$model STREAM=$stream wrk -t2 -c"$conns" -d2s -s "$script" "$url" > /dev/null # warm-up
  local before=0
  [ "$pid" != - ] && before=$(cpu_ticks "$pid")
  local out
  out=$(MODEL=$model STREAM=$stream wrk -t2 -c"$conns" -d"$duration" --latency -s "$script" "$url")
  local rps p50 p99 reqs errors non2xx cpu_us=- rss=-
  rps=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
  p50=$(awk '$1 == "50%" {print $2}' <<< "$out")
  p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
  reqs=$(awk '/requests in/ {print $1}' <<< "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<< "$out")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<< "$out")
  if [ "$pid" != - ]; then
    local after
    after=$(cpu_ticks "$pid")
    cpu_us=$(awk -v d=$((after - before)) -v t="$ticks" -v n="$reqs" 'BEGIN {printf "%.1f", d / t * 1e6 / n}')
    rss=$(( $(rss_kb "$pid") / 1024 ))
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "$cpu_us" \
    "$rss" "${non2xx:-0}" "${errors:-0}"
  echo "$name $rps" >> "$tmp/rps"
}

echo "aigw bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
echo "wrk -t2 -c$conns -d$duration, one worker each for nginx and aigw, $(date -u +%Y-%m-%d)"
echo
for stream in 0 1; do
  kind=$([ "$stream" = 1 ] && echo "stream, 64 tokens" || echo "non-stream, 1 KB body")
  echo "### $kind"
  echo
  echo "| target | req/s | p50 | p99 | proxy CPU us/req | proxy RSS MB | non-2xx | socket errors |"
  echo "|---|---|---|---|---|---|---|---|"
  : > "$tmp/rps"
  measure "simulator direct" "http://127.0.0.1:$sim_port/v1/chat/completions" sim-model "$stream" -
  measure "nginx -> simulator" "http://127.0.0.1:$nginx_port/v1/chat/completions" sim-model "$stream" "$nginx_pid"
  measure "aigw -> simulator" "http://127.0.0.1:$aigw_port/v1/chat/completions" bench-model "$stream" "$aigw_pid"
  awk '/^nginx/ {n = $NF} /^aigw/ {a = $NF} END {printf "\naigw / nginx requests/s: %.2f\n\n", a / n}' "$tmp/rps"
done

echo "### routing, non-stream, aigw only"
echo
echo "| target | req/s | p50 | p99 | proxy CPU us/req | proxy RSS MB | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|---|---|"
: > "$tmp/rps"
measure "aigw single channel" "http://127.0.0.1:$aigw_port/v1/chat/completions" bench-model 0 "$aigw_pid"
measure "aigw weights + 3 rules" "http://127.0.0.1:$aigw_port/v1/chat/completions" bench-routed 0 "$aigw_pid"
measure "aigw one failover" "http://127.0.0.1:$aigw_port/v1/chat/completions" bench-failover 0 "$aigw_pid"
awk '/^aigw single/ {s = $NF} /^aigw weights/ {r = $NF} /^aigw one/ {f = $NF}
     END {printf "\nrouted / single requests/s: %.2f; failover / single: %.2f\n", r / s, f / s}' "$tmp/rps"

# The same conversation in Anthropic's Messages API (POST /v1/messages): converted to the
# canonical OpenAI request, sent to the same OpenAI-compatible engine, and its answer (or every
# stream chunk) converted back into Anthropic's shape.
for stream in 0 1; do
  kind=$([ "$stream" = 1 ] && echo "stream, 64 tokens" || echo "non-stream, 1 KB body")
  echo
  echo "### Anthropic in, OpenAI engine out, $kind, aigw only"
  echo
  echo "| target | req/s | p50 | p99 | proxy CPU us/req | proxy RSS MB | non-2xx | socket errors |"
  echo "|---|---|---|---|---|---|---|---|"
  : > "$tmp/rps"
  measure "aigw /v1/chat/completions" "http://127.0.0.1:$aigw_port/v1/chat/completions" bench-model "$stream" "$aigw_pid"
  measure "aigw /v1/messages" "http://127.0.0.1:$aigw_port/v1/messages" bench-model "$stream" "$aigw_pid" messages.lua
  awk '/^aigw \/v1\/chat/ {p = $NF} /^aigw \/v1\/messages/ {m = $NF}
       END {printf "\nmessages / chat completions requests/s: %.2f\n", m / p}' "$tmp/rps"
done

# The whole security chain against the bare path: a second gateway on the same simulator with
# 100,000 API keys in its key store, 5,000 sensitive words on requests and answers, the PII
# guard, two rate limits that never refuse, and an address allow list; one worker each. It
# takes RS256 JWTs too, for the last table.
sec_port=$(free_port); sec_admin=$(free_port)
{
  sed -e "s/127.0.0.1:$aigw_port/127.0.0.1:$sec_port/" -e "s/127.0.0.1:$admin_port/127.0.0.1:$sec_admin/" "$tmp/aigw.yaml"
  cat <<YAML
auth: { mode: api_key_or_jwt, jwt: { jwks_file: $tmp/jwks.json, cache_size: 10000 } }
store: { path: $tmp/keys.db }
access:
  allow: [127.0.0.0/8]
guards:
  words: { files: [$tmp/words.txt], action: block, on: [request, response] }
  pii: { email: mask, china_id: block, bank_card: block, phone: restore }
limits:
  - { by: key, rpm: 100000000, tpm: 100000000000 }
  - { by: tenant, tpm: 100000000000 }
YAML
} > "$tmp/aigw-sec.yaml"
node -e '
const crypto = require("crypto"), fs = require("fs"), dir = process.argv[1];
const rows = ["BEGIN;"];
for (let i = 0; i < 99999; i++) {
  const hash = crypto.createHash("sha256").update("sk-bench-key-" + i).digest("hex");
  rows.push(`INSERT INTO keys (id, name, tenant, project, models, created, updated, secret_hash, secret_prefix) VALUES (\x27key_bench${i}\x27, \x27k${i}\x27, \x27t${i % 100}\x27, \x27\x27, \x27["*"]\x27, 0, 0, X\x27${hash}\x27, \x27sk-bench\x27);`);
}
rows.push("COMMIT;");
fs.writeFileSync(dir + "/keys.sql", rows.join("\n") + "\n");
const words = [];
for (let i = 0; i < 5000; i++) words.push(`forbidden${i} term${i * 7919 % 10007}`);
fs.writeFileSync(dir + "/words.txt", words.join("\n") + "\n");
// an RS256 key in a JWKS file, and a token it signed (valid for a day), as an IdP would
const { publicKey, privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
fs.writeFileSync(dir + "/jwks.json", JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid: "bench", alg: "RS256", use: "sig" }] }));
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const data = b64({ alg: "RS256", kid: "bench", typ: "JWT" }) + "." +
  b64({ sub: "bench-user", tenant: "acme", project: "bench", iat: now, exp: now + 86400 });
fs.writeFileSync(dir + "/jwt.txt", data + "." + crypto.sign("sha256", Buffer.from(data), privateKey).toString("base64url"));
' "$tmp"
# the store made by aigw keys (its schema, the key the bench sends), then 99,999 more in one
# transaction: creating them one by one would fsync each
bench_key=$("$build/aigw" keys -c "$tmp/aigw-sec.yaml" create --name bench --tenant acme --models '*' |
  node -e 'let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => console.log(JSON.parse(s).key))')
sqlite3 "$tmp/keys.db" < "$tmp/keys.sql"
"$build/aigw" serve -c "$tmp/aigw-sec.yaml" > "$tmp/aigw-sec.log" 2>&1 &
pids+=($!)
sec_pid=${pids[-1]}
wait_http "http://127.0.0.1:$sec_admin/readyz"
keys_in_store=$(sqlite3 "$tmp/keys.db" "SELECT count(*) FROM keys")
for stream in 0 1; do
  kind=$([ "$stream" = 1 ] && echo "stream, 64 tokens" || echo "non-stream, 1 KB body")
  echo
  echo "### the security chain ($keys_in_store keys, 5,000 words), $kind, aigw only"
  echo
  echo "| target | req/s | p50 | p99 | proxy CPU us/req | proxy RSS MB | non-2xx | socket errors |"
  echo "|---|---|---|---|---|---|---|---|"
  : > "$tmp/rps"
  measure "aigw bare" "http://127.0.0.1:$aigw_port/v1/chat/completions" bench-model "$stream" "$aigw_pid"
  AUTH=$bench_key measure "aigw security chain" "http://127.0.0.1:$sec_port/v1/chat/completions" bench-model "$stream" "$sec_pid"
  awk '/^aigw bare/ {b = $NF} /^aigw security/ {c = $NF}
       END {printf "\nsecurity chain / bare requests/s: %.2f\n", c / b}' "$tmp/rps"
done

# The same chain authenticated by an RS256 JWT instead of an API key: each worker verifies the
# token once and keeps the verdict (auth.jwt.cache_size); then, after a reload with the cache off,
# every request verifies the signature.
echo
echo "### the security chain with an RS256 JWT, non-stream, aigw only"
echo
echo "| target | req/s | p50 | p99 | proxy CPU us/req | proxy RSS MB | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|---|---|"
: > "$tmp/rps"
jwt=$(cat "$tmp/jwt.txt")
AUTH=$bench_key measure "aigw API key" "http://127.0.0.1:$sec_port/v1/chat/completions" bench-model 0 "$sec_pid"
AUTH=$jwt measure "aigw JWT, cached" "http://127.0.0.1:$sec_port/v1/chat/completions" bench-model 0 "$sec_pid"
sed -i 's/cache_size: 10000/cache_size: 0/' "$tmp/aigw-sec.yaml"
curl -sf -X POST -H 'Authorization: Bearer bench' "http://127.0.0.1:$sec_admin/admin/reload" > /dev/null
AUTH=$jwt measure "aigw JWT, verified each time" "http://127.0.0.1:$sec_port/v1/chat/completions" bench-model 0 "$sec_pid"
awk '/^aigw API key/ {k = $NF} /^aigw JWT, cached/ {c = $NF} /^aigw JWT, verified/ {v = $NF}
     END {printf "\nJWT cached / API key requests/s: %.2f; JWT verified / API key: %.2f\n", c / k, v / k}' "$tmp/rps"

# PII detection on answers (guards.pii.on: [request, response]): the same chain on a third
# gateway whose detectors also read the model's text, every stream event through the window of
# pii_stream.c (255 bytes with email on), against the chain that reads requests only.
pii_port=$(free_port); pii_admin=$(free_port)
sed -e "s/127.0.0.1:$sec_port/127.0.0.1:$pii_port/" -e "s/127.0.0.1:$sec_admin/127.0.0.1:$pii_admin/" \
  -e 's/phone: restore }/phone: restore, on: [request, response] }/' "$tmp/aigw-sec.yaml" > "$tmp/aigw-pii.yaml"
grep -q 'on: \[request, response\] }$' "$tmp/aigw-pii.yaml"
"$build/aigw" serve -c "$tmp/aigw-pii.yaml" > "$tmp/aigw-pii.log" 2>&1 &
pids+=($!)
pii_pid=${pids[-1]}
wait_http "http://127.0.0.1:$pii_admin/readyz"
for stream in 0 1; do
  kind=$([ "$stream" = 1 ] && echo "stream, 64 tokens" || echo "non-stream, 1 KB body")
  echo
  echo "### PII detection on answers, $kind, aigw only"
  echo
  echo "| target | req/s | p50 | p99 | proxy CPU us/req | proxy RSS MB | non-2xx | socket errors |"
  echo "|---|---|---|---|---|---|---|---|"
  : > "$tmp/rps"
  AUTH=$bench_key measure "aigw security chain" "http://127.0.0.1:$sec_port/v1/chat/completions" bench-model "$stream" "$sec_pid"
  AUTH=$bench_key measure "aigw chain + PII on answers" "http://127.0.0.1:$pii_port/v1/chat/completions" bench-model "$stream" "$pii_pid"
  awk '/^aigw security/ {c = $NF} /^aigw chain \+ PII/ {p = $NF}
       END {printf "\nPII on answers / chain requests/s: %.2f\n", p / c}' "$tmp/rps"
done
