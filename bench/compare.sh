#!/usr/bin/env bash
# Issue 12's comparison in one run on one box: the upstream directly, nginx as a plain reverse
# proxy, and aigw (the full pipeline its config has), one worker each, in the same run:
# - requests/s at 64 connections and CPU per request, against an nginx "echo mock" (every POST
#   answered with a fixed chat completion: the upstream costs next to nothing);
# - latency p50/p99 at 1 connection, in interleaved rounds (direct, nginx, aigw, again...), and
#   what each proxy adds over direct (the median of the per-round differences);
# - streams: N concurrent streams of 32 events 100 ms apart from the simulator (bench/streams.c),
#   N rising through BENCH_STREAMS; a stream stalls when its first event or a gap between two
#   comes later than 1 s; the most concurrent stall-free streams, first-event time, inter-event
#   gap, CPU per stream event;
# - RSS of aigw idle, at its peak (VmHWM) and after the streams, watched for BENCH_AFTER_S.
# Prints Markdown tables with ratios. Needs wrk and nginx-light: AIGW_BENCH=1 scripts/install-deps.sh
# Usage: bench/compare.sh BUILD_DIR
# Environment (defaults): BENCH_DURATION (10s) per throughput run; BENCH_ROUNDS (5) latency
# rounds of BENCH_LAT_DURATION (3s); BENCH_STREAMS ("1000 2000 4000 6000 8000 10000");
# BENCH_AFTER_S (60); BENCH_LOG (1: both proxies write an access log to a file; 0: neither);
# BENCH_SIM_THREADS (2); BENCH_WORKERS (1: one worker each; 2 for issue 12's "10,000 streams on 2
# cores": nginx worker_processes and aigw server.workers, CPU summed over nginx's workers).
set -euo pipefail
build=$(cd "${1:?usage: bench/compare.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-5}
lat_duration=${BENCH_LAT_DURATION:-3s}
levels=${BENCH_STREAMS:-1000 2000 4000 6000 8000 10000}
after_s=${BENCH_AFTER_S:-60}
log_on=${BENCH_LOG:-1}
sim_threads=${BENCH_SIM_THREADS:-2}
workers=${BENCH_WORKERS:-1}
for tool in wrk /usr/sbin/nginx cc node curl; do
  command -v "$tool" > /dev/null || { echo "compare: $tool is missing (AIGW_BENCH=1 scripts/install-deps.sh)" >&2; exit 1; }
done
max_streams=0
for n in $levels; do [ "$n" -gt "$max_streams" ] && max_streams=$n; done
ulimit -n "$(ulimit -Hn)" 2> /dev/null || true
if [ "$(ulimit -n)" -lt $((2 * max_streams + 2000)) ]; then
  echo "compare: warning: $(ulimit -n) descriptors; a proxy needs two per stream: raise the hard limit (ulimit -Hn) above $((2 * max_streams + 2000))" >&2
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_http() { # url: bounded wait for any HTTP answer
  for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "compare: $1 did not come up" >&2; exit 1
}
ticks=$(getconf CLK_TCK)
cpu_ticks() { # pid, or several separated by commas: utime + stime summed
  local t=0 p
  for p in ${1//,/ }; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; } # pid VmRSS|VmHWM
json() { node -e 'const j = JSON.parse(process.argv[1]); const v = process.argv[2].split(".").reduce((o, k) => o[k], j); console.log(v)' "$1" "$2"; }

cc -O2 -o "$tmp/streams" "$here/streams.c"
mock_port=$(free_port); sim_port=$(free_port); nginx_port=$(free_port); nginx_stream_port=$(free_port)
aigw_port=$(free_port); admin_port=$(free_port)
conns=$((2 * max_streams + 1000))

# The echo mock: nginx answering every POST at once with a fixed chat completion.
completion='{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"sim-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":190,"completion_tokens":9,"total_tokens":199}}'
mkdir -p "$tmp/mock/logs" "$tmp/nginx/logs"
cat > "$tmp/mock/nginx.conf" <<NGINX
worker_processes 1;
error_log $tmp/mock/logs/error.log;
pid $tmp/mock/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/mock/body;
  server {
    listen 127.0.0.1:$mock_port backlog=4096;
    keepalive_requests 1000000;
    location / { default_type application/json; return 200 '$completion'; }
  }
}
NGINX
/usr/sbin/nginx -p "$tmp/mock" -c "$tmp/mock/nginx.conf" -g 'daemon off;' &
pids+=($!)
"$build/aigw-sim" --port "$sim_port" --threads "$sim_threads" > "$tmp/sim.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$mock_port/"
wait_http "http://127.0.0.1:$sim_port/health"

nginx_log="access_log off;"
aigw_log='"off"'
if [ "$log_on" = 1 ]; then
  nginx_log="access_log $tmp/nginx/access.log combined buffer=64k flush=1s;"
  aigw_log="\"$tmp/aigw-access.log\""
fi
cat > "$tmp/nginx/nginx.conf" <<NGINX
worker_processes $workers;
worker_rlimit_nofile $conns;
error_log $tmp/nginx/logs/error.log;
pid $tmp/nginx/nginx.pid;
events { worker_connections $conns; }
http {
  $nginx_log
  client_body_temp_path $tmp/nginx/body; proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fcgi; uwsgi_temp_path $tmp/nginx/uwsgi; scgi_temp_path $tmp/nginx/scgi;
  upstream mock { server 127.0.0.1:$mock_port; keepalive 32; keepalive_requests 1000000; }
  upstream sim { server 127.0.0.1:$sim_port; keepalive 32; }
  server {
    listen 127.0.0.1:$nginx_port backlog=4096;
    keepalive_requests 1000000;
    location / { proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$nginx_stream_port backlog=4096;
    location / {
      proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
/usr/sbin/nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
nginx_master=${pids[-1]}
wait_http "http://127.0.0.1:$nginx_port/"
for _ in $(seq 1 50); do [ "$(pgrep -c -P "$nginx_master" -f "nginx: worker")" -ge "$workers" ] && break; sleep 0.1; done
nginx_pids=$(pgrep -d, -P "$nginx_master" -f "nginx: worker" || true) # CPU: every worker
[ -n "$nginx_pids" ] || nginx_pids=$nginx_master
nginx_pid=${nginx_pids%%,*} # RSS: one worker

cat > "$tmp/aigw.yaml" <<YAML
server:
  workers: $workers
  http: {listen: "127.0.0.1:$aigw_port"}
  https: {listen: "off"}
  admin: {listen: "127.0.0.1:$admin_port", token: bench}
  max_connections: $((max_streams + 1000))
log:
  access: $aigw_log
channels:
  - {name: mock, type: openai, base_url: "http://127.0.0.1:$mock_port/v1", max_connections: 100000}
  - name: sim
    type: openai
    base_url: "http://127.0.0.1:$sim_port/v1"
    max_connections: 100000
    forward_headers: ["x-sim-*"]
models:
  - {name: bench-model, channel: mock, upstream_model: sim-model}
  - {name: bench-stream, channel: sim, upstream_model: sim-model}
YAML
"$build/aigw" serve -c "$tmp/aigw.yaml" > "$tmp/aigw.log" 2>&1 &
pids+=($!)
aigw_pid=${pids[-1]}
wait_http "http://127.0.0.1:$admin_port/readyz"
sleep 1
rss_idle=$(status_kb "$aigw_pid" VmRSS)
nginx_rss_idle=$(status_kb "$nginx_pid" VmRSS)

url_direct="http://127.0.0.1:$mock_port/v1/chat/completions"
url_nginx="http://127.0.0.1:$nginx_port/v1/chat/completions"
url_aigw="http://127.0.0.1:$aigw_port/v1/chat/completions"
pid_of() { case $1 in nginx) echo "$nginx_pids" ;; aigw) echo "$aigw_pid" ;; *) echo - ;; esac; }
url_of() { case $1 in nginx) echo "$url_nginx" ;; aigw) echo "$url_aigw" ;; *) echo "$url_direct" ;; esac; }
model_of() { [ "$1" = aigw ] && echo bench-model || echo sim-model; }
to_us() { awk '{ v = $1; if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /s$/) m = 1000000; else m = 1
                 sub(/[a-z]+$/, "", v); printf "%.0f\n", v * m }' <<< "$1"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "aigw compare: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
echo "$workers worker(s) each (nginx, aigw); upstream: an nginx echo mock (requests) and aigw-sim with $sim_threads threads (streams);"
echo "access logs: $([ "$log_on" = 1 ] && echo "to files on both proxies (nginx buffer=64k)" || echo off); the clients run on the same cores"
echo

# --- throughput: wrk at 64 connections -------------------------------------------------------
declare -A rps cpu_us
for target in direct nginx aigw; do
  url=$(url_of $target); pid=$(pid_of $target)
  MODEL=$(model_of $target) STREAM=0 wrk -t2 -c64 -d2s -s "$here/chat.lua" "$url" > /dev/null # warm-up
  before=0; [ "$pid" != - ] && before=$(cpu_ticks "$pid")
  out=$(MODEL=$(model_of $target) STREAM=0 wrk -t2 -c64 -d"$duration" -s "$here/chat.lua" "$url")
  rps[$target]=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
  reqs=$(awk '/requests in/ {print $1}' <<< "$out")
  bad=$(awk '/Non-2xx|Socket errors/' <<< "$out")
  [ -n "$bad" ] && echo "compare: $target: $bad" >&2
  cpu_us[$target]=-
  if [ "$pid" != - ]; then
    after=$(cpu_ticks "$pid")
    cpu_us[$target]=$(awk -v d=$((after - before)) -v t="$ticks" -v n="$reqs" 'BEGIN {printf "%.1f", d / t * 1e6 / n}')
  fi
done

# --- latency at 1 connection: interleaved rounds ---------------------------------------------
declare -A p50s p99s added50 added99
for r in $(seq 1 "$rounds"); do
  declare -A round50 round99
  for target in direct nginx aigw; do
    out=$(MODEL=$(model_of $target) STREAM=0 wrk -t1 -c1 -d"$lat_duration" --latency -s "$here/chat.lua" "$(url_of $target)")
    round50[$target]=$(to_us "$(awk '$1 == "50%" {print $2}' <<< "$out")")
    round99[$target]=$(to_us "$(awk '$1 == "99%" {print $2}' <<< "$out")")
    p50s[$target]+=" ${round50[$target]}"
    p99s[$target]+=" ${round99[$target]}"
  done
  for target in nginx aigw; do
    added50[$target]+=" $((round50[$target] - round50[direct]))"
    added99[$target]+=" $((round99[$target] - round99[direct]))"
  done
done
declare -A lat50 lat99 add50 add99
for target in direct nginx aigw; do
  lat50[$target]=$(median <<< "${p50s[$target]}")
  lat99[$target]=$(median <<< "${p99s[$target]}")
done
for target in nginx aigw; do
  add50[$target]=$(median <<< "${added50[$target]}")
  add99[$target]=$(median <<< "${added99[$target]}")
done

# --- streams ---------------------------------------------------------------------------------
stream_port_of() { case $1 in nginx) echo "$nginx_stream_port" ;; aigw) echo "$aigw_port" ;; *) echo "$sim_port" ;; esac; }
stream_model_of() { [ "$1" = aigw ] && echo bench-stream || echo sim-model; }
open_fds() { local n=0 p; for p in ${1//,/ }; do n=$((n + $(ls "/proc/$p/fd" 2> /dev/null | wc -l))); done; echo "$n"; }
declare -A best stalled_at last_json cpu_event
for target in direct nginx aigw; do best[$target]=0; stalled_at[$target]=; done
stream_rows=()
for n in $levels; do
  for target in direct nginx aigw; do
    [ -n "${stalled_at[$target]}" ] && continue # stalled at a lower level already
    pid=$(pid_of $target)
    [ "$pid" = - ] && pid=${pids[1]} # the simulator
    before=$(cpu_ticks "$pid")
    result=$("$tmp/streams" --port "$(stream_port_of $target)" --model "$(stream_model_of $target)" \
      --streams "$n" --events 32 --interval-ms 100 --ramp 100 --stall-ms 1000 --timeout-s 60)
    after=$(cpu_ticks "$pid")
    cpu_s=$(awk -v d=$((after - before)) -v t="$ticks" 'BEGIN {printf "%.2f", d / t}')
    events=$(json "$result" events)
    per_event=$(awk -v c="$cpu_s" -v e="$events" 'BEGIN {printf "%.1f", e ? c * 1e6 / e : 0}')
    completed=$(json "$result" completed); stalled=$(json "$result" stalled)
    last_json[$target]=$result
    cpu_event[$target]=$per_event
    if [ "$completed" = "$n" ] && [ "$stalled" = 0 ]; then best[$target]=$n; else stalled_at[$target]=$n; fi
    stream_rows+=("| $n | $target | $completed | $(json "$result" failed) | $stalled ($(json "$result" stalled_first) first, $(json "$result" stalled_gap) gap) | $(json "$result" first_event_ms.p50) / $(json "$result" first_event_ms.p99) | $(json "$result" gap_ms.p50) / $(json "$result" gap_ms.p99) / $(json "$result" gap_ms.max) | $cpu_s | $per_event |")
    # the next run starts once the proxy has let go of this one's connections (bounded)
    if [ "$target" != direct ]; then
      for _ in $(seq 1 300); do [ "$(open_fds "$pid")" -lt 200 ] && break; sleep 0.1; done
    fi
  done
done
rss_peak=$(status_kb "$aigw_pid" VmHWM)
nginx_rss_peak=$(status_kb "$nginx_pid" VmHWM)

# --- RSS after the burst ---------------------------------------------------------------------
rss_after_1=$(status_kb "$aigw_pid" VmRSS)
under_50=-
for s in $(seq 1 "$after_s"); do
  sleep 1
  rss_now=$(status_kb "$aigw_pid" VmRSS)
  if [ "$under_50" = - ] && [ "$rss_now" -lt 51200 ]; then under_50=$s; fi
done
rss_after=$(status_kb "$aigw_pid" VmRSS)
nginx_rss_after=$(status_kb "$nginx_pid" VmRSS)
dropped=$(grep -c '"event":"log_lines_dropped"' "$tmp/aigw.log" || true)

mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0 || a == "-") print "-"; else printf "%.2f", a / b}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.3f", u / 1000}'; }
echo "### summary"
echo
echo "| measure | direct | nginx | aigw | aigw / nginx | goal |"
echo "|---|---|---|---|---|---|"
echo "| requests/s, 64 connections | ${rps[direct]} | ${rps[nginx]} | ${rps[aigw]} | $(ratio "${rps[aigw]}" "${rps[nginx]}") | >= 0.90 |"
echo "| CPU per request (us) | - | ${cpu_us[nginx]} | ${cpu_us[aigw]} | $(ratio "${cpu_us[aigw]}" "${cpu_us[nginx]}") | |"
echo "| latency p50 / p99 at 1 connection (ms) | $(ms "${lat50[direct]}") / $(ms "${lat99[direct]}") | $(ms "${lat50[nginx]}") / $(ms "${lat99[nginx]}") | $(ms "${lat50[aigw]}") / $(ms "${lat99[aigw]}") | | |"
echo "| added over direct, p50 / p99 (us, median of $rounds rounds) | - | ${add50[nginx]} / ${add99[nginx]} | ${add50[aigw]} / ${add99[aigw]} | | p99 <= 100 |"
echo "| most concurrent stall-free streams (of: $levels) | ${best[direct]} | ${best[nginx]} | ${best[aigw]} | $(ratio "${best[aigw]}" "${best[nginx]}") | 10000 |"
echo "| CPU per stream event at the last level run (us) | - | ${cpu_event[nginx]} | ${cpu_event[aigw]} | $(ratio "${cpu_event[aigw]}" "${cpu_event[nginx]}") | <= 1.00 |"
echo "| RSS idle (MB) | - | $(mb "$nginx_rss_idle") | $(mb "$rss_idle") | | aigw < 15 |"
echo "| RSS at peak, VmHWM (MB) | - | $(mb "$nginx_rss_peak") | $(mb "$rss_peak") | | aigw < 1024 |"
echo "| RSS after the streams: at once / after ${after_s} s (MB) | - | - / $(mb "$nginx_rss_after") | $(mb "$rss_after_1") / $(mb "$rss_after") | | aigw < 50 within 60 s |"
echo "| seconds until aigw's RSS was under 50 MB | - | - | $under_50 | | <= 60 |"
echo
echo "### streams: 32 events 100 ms apart, each level in turn (a target stops after its first stall)"
echo
echo "| streams | target | completed | failed | stalled > 1 s | first event p50 / p99 (ms) | gap p50 / p99 / max (ms) | CPU (s) | CPU per event (us) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${stream_rows[@]}"
echo
echo "direct = aigw-sim itself (its CPU); aigw log_lines_dropped warnings: $dropped"
