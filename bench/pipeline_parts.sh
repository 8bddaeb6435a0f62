#!/usr/bin/env bash
# What each part of the production pipeline adds to a request at one connection: the upstream
# directly, nginx as a plain proxy, and aigw four times over, each a gateway of its own started
# together: plain (no filter a config must turn on), auth (an API key on every request), limits
# (the key and a per-key request and token limit) and production (those and metering to SQLite,
# as bench/pipeline.sh gives compare.sh). Every round measures each target once, in a shuffled
# order, with bench/latency.c (a fixed count of requests on one kept connection, after a
# warm-up); per target it prints the median over the rounds of what it adds over the round's
# direct p50 and p99, and the minor page faults its workers took per request (the median of
# the rounds: a gateway's first pass through its metering queue, 4,096 records as shipped,
# faults the queue's pages in once, so the first rounds of `production` show faults).
# Needs nginx-light and a C compiler (AIGW_BENCH=1 scripts/install-deps.sh).
# Usage: bench/pipeline_parts.sh BUILD_DIR
# Environment (default):
#   PARTS_ROUNDS (30)       rounds
#   PARTS_REQUESTS (2000)   counted requests per target and round, after 200 not counted
#   PARTS_PAUSE_S (0)       seconds of quiet before each aigw target's turn (a caller's think
#                           time: what an idle gateway does in a pause shows here); a target
#                           then sits idle for the four pauses of a round and the other turns
set -euo pipefail
build=$(cd "${1:?usage: bench/pipeline_parts.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
rounds=${PARTS_ROUNDS:-30}
requests=${PARTS_REQUESTS:-2000}
pause=${PARTS_PAUSE_S:-0}
parts="plain auth limits production"
key=sk-bench-parts-0123456789abcdef
for tool in /usr/sbin/nginx cc node curl shuf; do
  command -v "$tool" > /dev/null || { echo "pipeline_parts: $tool is missing (AIGW_BENCH=1 scripts/install-deps.sh)" >&2; exit 1; }
done

# shellcheck source=bench/lib.sh
. "$here/lib.sh"
worker_faults() { # pid: minor faults of its worker threads (aigw-w*) so far
  local t sum=0
  for t in /proc/"$1"/task/*; do
    case $(cat "$t/comm") in aigw-w*) sum=$((sum + $(awk '{print $10}' "$t/stat"))) ;; esac
  done
  echo "$sum"
}

cc -O2 -o "$tmp/latency" "$here/latency.c"
# shellcheck source=bench/echo_mock.sh
. "$here/echo_mock.sh"
# shellcheck source=bench/pipeline.sh
. "$here/pipeline.sh"

# The same echo mock and nginx as bench/compare.sh: every POST answered at once.
mock_port=$(free_port); nginx_port=$(free_port)
echo_mock_config "$tmp/mock" "$mock_port" 1024
mkdir -p "$tmp/nginx/logs"
cat > "$tmp/nginx/nginx.conf" <<NGINX
worker_processes 2;
error_log $tmp/nginx/logs/error.log warn;
pid $tmp/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log $tmp/nginx/access.log combined buffer=64k flush=1s;
  client_body_temp_path $tmp/nginx/body; proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fcgi; uwsgi_temp_path $tmp/nginx/uwsgi; scgi_temp_path $tmp/nginx/scgi;
  upstream mock { server 127.0.0.1:$mock_port; keepalive 32; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$nginx_port;
    keepalive_requests 1000000;
    location / { proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
/usr/sbin/nginx -p "$tmp/mock" -c "$tmp/mock/nginx.conf" -g 'daemon off;' &
pids+=($!)
/usr/sbin/nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' 2> /dev/null &
pids+=($!)
wait_http "http://127.0.0.1:$mock_port/"
wait_http "http://127.0.0.1:$nginx_port/"

declare -A port pid
port[direct]=$mock_port
port[nginx]=$nginx_port
for part in $parts; do
  port[$part]=$(free_port)
  admin=$(free_port)
  {
    cat <<YAML
server:
  workers: 2
  http: {listen: "127.0.0.1:${port[$part]}"}
  https: {listen: "off"}
  admin: {listen: "127.0.0.1:$admin", token: bench}
log: {access: "$tmp/$part-access.log"}
channels:
  - {name: mock, type: openai, base_url: "http://127.0.0.1:$mock_port/v1", max_connections: 100000}
models:
  - {name: bench-model, channel: mock, upstream_model: sim-model}
YAML
    case $part in
      plain) ;;
      auth)
        printf 'auth:\n  mode: api_key\n  keys:\n    - {name: bench, tenant: acme, project: search, key: "%s", models: ["*"]}\n' "$key" ;;
      limits)
        printf 'auth:\n  mode: api_key\n  keys:\n    - {name: bench, tenant: acme, project: search, key: "%s", models: ["*"]}\n' "$key"
        printf 'store: {path: "%s"}\nlimits:\n  - {by: key, rpm: 1000000000, tpm: 1000000000000}\n' "$tmp/$part.db" ;;
      production) production_config "$key" "$tmp/$part.db" ;;
    esac
  } > "$tmp/$part.yaml"
  # in its own folder: a config with keys and no store path keeps its store in ./aigw.db
  (cd "$tmp" && exec "$build/aigw" serve -c "$tmp/$part.yaml" > "$tmp/$part.log" 2>&1) &
  pids+=($!)
  pid[$part]=$!
  wait_http "http://127.0.0.1:$admin/readyz"
done

echo "aigw pipeline parts: $(nproc) cores, $(date -u +%Y-%m-%d); $rounds rounds of $requests requests at one connection;"
echo "upstream: an nginx echo mock; access logs on (nginx buffer=64k); a pause of ${pause} s before each aigw turn"
echo
declare -A add50 add99 faults_per
targets="direct nginx $parts"
for _ in $(seq 1 "$rounds"); do
  declare -A p50 p99
  for target in $(tr ' ' '\n' <<< "$targets" | shuf); do
    model=sim-model bearer=()
    case $target in direct | nginx) ;; *) model=bench-model ;; esac
    case $target in direct | nginx | plain) ;; *) bearer=(--bearer "$key") ;; esac
    before=0
    if [ -n "${pid[$target]:-}" ]; then
      [ "$pause" != 0 ] && sleep "$pause"
      before=$(worker_faults "${pid[$target]}")
    fi
    out=$("$tmp/latency" --port "${port[$target]}" --model "$model" "${bearer[@]}" --requests "$requests" --warmup 200)
    read -r r50 r99 bad < <(node -e 'const j = JSON.parse(process.argv[1]); console.log(j.p50_us, j.p99_us, j.not_ok_status + j.errors)' "$out")
    [ "$bad" = 0 ] || echo "pipeline_parts: $target: $out" >&2
    p50[$target]=$r50
    p99[$target]=$r99
    if [ -n "${pid[$target]:-}" ]; then
      faults_per[$target]+=" $(awk -v d=$(($(worker_faults "${pid[$target]}") - before)) -v n=$((requests + 200)) 'BEGIN {printf "%.3f", d / n}')"
    fi
  done
  for target in nginx $parts; do
    add50[$target]+=" $(awk -v a="${p50[$target]}" -v b="${p50[direct]}" 'BEGIN {print a - b}')"
    add99[$target]+=" $(awk -v a="${p99[$target]}" -v b="${p99[direct]}" 'BEGIN {print a - b}')"
  done
done
echo "| target | added p50 over direct, median (us) | added p99 over direct, median (us) | workers' minor faults a request, median |"
echo "|---|---|---|---|"
for target in nginx $parts; do
  f=-
  [ -n "${faults_per[$target]:-}" ] && f=$(median <<< "${faults_per[$target]}")
  echo "| $target | $(median <<< "${add50[$target]}") | $(median <<< "${add99[$target]}") | $f |"
done
