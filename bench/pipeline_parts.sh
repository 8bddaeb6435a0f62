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
# faults the queue's pages in once, so the first rounds of `production` show faults), and
# their CPU and migrations between cores per request (/proc/PID/task/TID/schedstat and sched).
# A gateway process keeps a bias of its own for as long as it runs (where the scheduler puts
# it, the mock and the client), so a difference between two gateways is only worth something
# across trials: PARTS_TRIALS starts every gateway afresh for each trial, and the table gives
# each trial's median beside the median of all rounds.
# Needs nginx-light and a C compiler (AIGW_BENCH=1 scripts/install-deps.sh).
# Usage: bench/pipeline_parts.sh BUILD_DIR
# Environment (default):
#   PARTS_ROUNDS (30)       rounds a trial
#   PARTS_TRIALS (1)        trials, each with every gateway started afresh
#   PARTS_REQUESTS (2000)   counted requests per target and round, after 200 not counted
#   PARTS_PAUSE_S (0)       seconds of quiet before each aigw target's turn (a caller's think
#                           time: what an idle gateway does in a pause shows here); a target
#                           then sits idle for the other aigw targets' pauses and turns
#   PARTS_LIST (plain auth limits production)   the aigw targets, any of those four
#   PARTS_BUILDS (none)     "LABEL=BUILD_DIR ...": more production gateways, each from another
#                           build (an experiment's A/B against BUILD_DIR's production)
set -euo pipefail
build=$(cd "${1:?usage: bench/pipeline_parts.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
rounds=${PARTS_ROUNDS:-30}
trials=${PARTS_TRIALS:-1}
requests=${PARTS_REQUESTS:-2000}
pause=${PARTS_PAUSE_S:-0}
parts=${PARTS_LIST:-plain auth limits production}
declare -A binary
for part in $parts; do
  case $part in plain | auth | limits | production) binary[$part]=$build/aigw ;;
    *) echo "pipeline_parts: PARTS_LIST takes plain, auth, limits, production, not $part" >&2; exit 2 ;; esac
done
for entry in ${PARTS_BUILDS:-}; do
  label=${entry%%=*} dir=${entry#*=}
  case $label in plain | auth | limits | production | direct | nginx | "" | *[!a-z0-9_-]*)
    echo "pipeline_parts: PARTS_BUILDS: \"$entry\" is not LABEL=BUILD_DIR with a new lower-case label" >&2; exit 2 ;; esac
  [ -x "$dir/aigw" ] || { echo "pipeline_parts: PARTS_BUILDS: $dir/aigw is not there" >&2; exit 2; }
  binary[$label]=$(cd "$dir" && pwd)/aigw
  parts+=" $label"
done
key=sk-bench-parts-0123456789abcdef
for tool in /usr/sbin/nginx cc node curl shuf; do
  command -v "$tool" > /dev/null || { echo "pipeline_parts: $tool is missing (AIGW_BENCH=1 scripts/install-deps.sh)" >&2; exit 1; }
done

# shellcheck source=bench/lib.sh
. "$here/lib.sh"
workers_counters() { # pid: "minor faults, on-CPU ns, migrations" of its worker threads so far
  local t faults=0 ns=0 migrations=0
  for t in /proc/"$1"/task/*; do
    case $(cat "$t/comm") in
      aigw-w*)
        faults=$((faults + $(awk '{print $10}' "$t/stat")))
        ns=$((ns + $(awk '{print $1}' "$t/schedstat")))
        migrations=$((migrations + $(awk '$1 == "se.nr_migrations" {print $3}' "$t/sched"))) ;;
    esac
  done
  echo "$faults $ns $migrations"
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

declare -A port pid add50 add99 trial50 trial99 faults_per cpu_per migrations_per
port[direct]=$mock_port
port[nginx]=$nginx_port
start_gateways() { # trial: every aigw target afresh, in a folder of the trial's own
  local part admin dir=$tmp/trial-$1
  mkdir -p "$dir"
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
log: {access: "$dir/$part-access.log"}
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
          printf 'store: {path: "%s"}\nlimits:\n  - {by: key, rpm: 1000000000, tpm: 1000000000000}\n' "$dir/$part.db" ;;
        *) production_config "$key" "$dir/$part.db" ;;
      esac
    } > "$dir/$part.yaml"
    # in its own folder: a config with keys and no store path keeps its store in ./aigw.db
    (cd "$dir" && exec "${binary[$part]}" serve -c "$dir/$part.yaml" > "$dir/$part.log" 2>&1) &
    pids+=($!)
    pid[$part]=$!
    wait_http "http://127.0.0.1:$admin/readyz"
  done
}
stop_gateways() {
  local part
  for part in $parts; do kill "${pid[$part]}" 2> /dev/null || true; done
  for part in $parts; do wait "${pid[$part]}" 2> /dev/null || true; done
}

echo "aigw pipeline parts: $(nproc) cores, $(date -u +%Y-%m-%d); $trials trial(s) of $rounds rounds of $requests requests at one connection;"
echo "upstream: an nginx echo mock; access logs on (nginx buffer=64k); a pause of ${pause} s before each aigw turn"
for part in $parts; do
  case $part in plain | auth | limits | production) ;; *) echo "$part: the production pipeline, built in ${binary[$part]%/aigw}" ;; esac
done
echo
targets="direct nginx $parts"
for trial in $(seq 1 "$trials"); do
  start_gateways "$trial"
  declare -A t50=() t99=()
  for _ in $(seq 1 "$rounds"); do
    declare -A p50 p99
    for target in $(tr ' ' '\n' <<< "$targets" | shuf); do
      model=sim-model bearer=()
      case $target in direct | nginx) ;; *) model=bench-model ;; esac
      case $target in direct | nginx | plain) ;; *) bearer=(--bearer "$key") ;; esac
      before=
      if [ -n "${pid[$target]:-}" ]; then
        [ "$pause" != 0 ] && sleep "$pause"
        before=$(workers_counters "${pid[$target]}")
      fi
      out=$("$tmp/latency" --port "${port[$target]}" --model "$model" "${bearer[@]}" --requests "$requests" --warmup 200)
      read -r r50 r99 bad < <(node -e 'const j = JSON.parse(process.argv[1]); console.log(j.p50_us, j.p99_us, j.not_ok_status + j.errors)' "$out")
      [ "$bad" = 0 ] || echo "pipeline_parts: $target: $out" >&2
      p50[$target]=$r50
      p99[$target]=$r99
      if [ -n "$before" ]; then
        read -r f0 c0 m0 <<< "$before"
        read -r f1 c1 m1 <<< "$(workers_counters "${pid[$target]}")"
        n=$((requests + 200))
        faults_per[$target]+=" $(awk -v d=$((f1 - f0)) -v n=$n 'BEGIN {printf "%.3f", d / n}')"
        cpu_per[$target]+=" $(awk -v d=$((c1 - c0)) -v n=$n 'BEGIN {printf "%.1f", d / n / 1000}')"
        migrations_per[$target]+=" $(awk -v d=$((m1 - m0)) -v n=$n 'BEGIN {printf "%.3f", d / n}')"
      fi
    done
    for target in nginx $parts; do
      a50=$(awk -v a="${p50[$target]}" -v b="${p50[direct]}" 'BEGIN {print a - b}')
      a99=$(awk -v a="${p99[$target]}" -v b="${p99[direct]}" 'BEGIN {print a - b}')
      add50[$target]+=" $a50" add99[$target]+=" $a99"
      t50[$target]+=" $a50" t99[$target]+=" $a99"
    done
  done
  stop_gateways
  for target in nginx $parts; do
    trial50[$target]+="${trial50[$target]:+ / }$(median <<< "${t50[$target]}")"
    trial99[$target]+="${trial99[$target]:+ / }$(median <<< "${t99[$target]}")"
  done
done
echo "| target | added p50 over direct, median (us); by trial | added p99 over direct, median (us); by trial | workers' minor faults a request | workers' CPU a request (us) | workers' migrations a request |"
echo "|---|---|---|---|---|---|"
for target in nginx $parts; do
  f=- c=- m=-
  if [ -n "${faults_per[$target]:-}" ]; then
    f=$(median <<< "${faults_per[$target]}") c=$(median <<< "${cpu_per[$target]}") m=$(median <<< "${migrations_per[$target]}")
  fi
  by50= by99=
  [ "$trials" -gt 1 ] && by50="; ${trial50[$target]}" by99="; ${trial99[$target]}"
  echo "| $target | $(median <<< "${add50[$target]}")$by50 | $(median <<< "${add99[$target]}")$by99 | $f | $c | $m |"
done
echo
echo "(medians of the rounds; workers: the aigw-w* threads)"
