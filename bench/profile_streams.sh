#!/usr/bin/env bash
# The cost of concurrent streams, in counts that repeat on a busy machine, for aigw or for nginx
# as a plain reverse proxy (proxy_buffering off, upstream keepalive 32): N streams of 32 events
# 100 ms apart from aigw-sim, opened as bench/compare.sh opens them (bench/streams.c: a new
# client connection per stream, 100 new every 10 ms), so each stream pays its accept, its
# upstream connection (past the 32 kept ones) and its close, and each event arrives on its own.
# Runs the proxy (one worker) under valgrind's callgrind, zeroes the counters after a warm-up
# round, and divides the instructions and the calls into malloc/calloc/realloc by the streams
# and by the events delivered; then runs it natively under `strace -c -f` for the system calls
# per event.
# Usage: bench/profile_streams.sh BUILD_DIR [aigw|nginx] [streams=200]
# PROFILE_PIPELINE=production gives aigw what a production config has on every stream: an API key,
# a per-key limit on requests and tokens, and metering to SQLite (bench/pipeline.sh); its writer's
# and checkpointer's instructions are counted too. Default: plain (none of them).
# Prints a Markdown summary; the callgrind dump is copied to $PROFILE_KEEP when that is set.
set -euo pipefail
build=$(cd "${1:?usage: bench/profile_streams.sh BUILD_DIR [aigw|nginx] [streams]}" && pwd)
target=${2:-aigw}
streams=${3:-200}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
bearer=()
bench_after_stop() {
  if [ -n "${PROFILE_KEEP:-}" ]; then cp "$tmp"/cg.out* "$PROFILE_KEEP"/ 2>/dev/null || true; fi
}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

json() { node -e 'const j = JSON.parse(process.argv[1]); console.log(j[process.argv[2]])' "$1" "$2"; }

cc -O2 -o "$tmp/streams" "$here/streams.c"
sim_port=$(free_port); port=$(free_port); admin_port=$(free_port)
"$build/aigw-sim" --port "$sim_port" --threads 2 > "$tmp/sim.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$sim_port/health"

if [ "$target" = nginx ]; then
  mkdir -p "$tmp/nginx/logs"
  cat > "$tmp/nginx/nginx.conf" <<NGINX
master_process off;
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $tmp/nginx/logs/error.log;
pid $tmp/nginx/nginx.pid;
events { worker_connections 10000; }
http {
  access_log $tmp/nginx/access.log combined buffer=64k flush=1s;
  client_body_temp_path $tmp/nginx/body; proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fcgi; uwsgi_temp_path $tmp/nginx/uwsgi; scgi_temp_path $tmp/nginx/scgi;
  upstream sim { server 127.0.0.1:$sim_port; keepalive 32; }
  server {
    listen 127.0.0.1:$port backlog=4096;
    location / {
      proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffering off;
    }
    location = /ready { return 200; }
  }
}
NGINX
  cmd=(/usr/sbin/nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf")
  ready="http://127.0.0.1:$port/ready"
  model=sim-model
else
  cat > "$tmp/aigw.yaml" <<YAML
server:
  workers: 1
  http: {listen: "127.0.0.1:$port"}
  https: {listen: "off"}
  admin: {listen: "127.0.0.1:$admin_port", token: bench}
  max_connections: 20000
log:
  access: "$tmp/access.log"
channels:
  - name: sim
    type: openai
    base_url: "http://127.0.0.1:$sim_port/v1"
    max_connections: 100000
    forward_headers: ["x-sim-*"]
models:
  - {name: bench-stream, channel: sim, upstream_model: sim-model}
YAML
  if [ "${PROFILE_PIPELINE:-plain}" = production ]; then
    # shellcheck source=bench/pipeline.sh
    . "$here/pipeline.sh"
    bearer=(--bearer sk-bench-profile-0123456789abcdef)
    production_config "${bearer[1]}" "$tmp/aigw.db" >> "$tmp/aigw.yaml"
  fi
  cmd=("$build/aigw" serve -c "$tmp/aigw.yaml")
  ready="http://127.0.0.1:$admin_port/readyz"
  model=bench-stream
fi
run_streams() {
  "$tmp/streams" --port "$port" --model "$model" --streams "$1" --events 32 --interval-ms 100 \
    --ramp 100 --stall-ms 1000 --timeout-s 120 "${bearer[@]}"
}

# instructions and allocations: callgrind, counters zeroed after a warm-up round
valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$tmp/cg.out" "${cmd[@]}" \
  > "$tmp/cg.log" 2>&1 &
pids+=($!)
cg_pid=${pids[-1]}
wait_http "$ready" 600
run_streams 50 > /dev/null
callgrind_control -z "$cg_pid" > /dev/null 2>&1
result=$(run_streams "$streams")
callgrind_control -d "$cg_pid" > /dev/null 2>&1
kill "$cg_pid"; wait "$cg_pid" 2>/dev/null || true
dump=$(ls "$tmp"/cg.out.* | head -1)
events=$(json "$result" events)
ir=$(awk '/^summary:/ {print $2}' "$dump")
allocs=$(awk '/^cfn=/ { callee = substr($0, 5) }
  /^calls=/ { c = $0; sub(/^calls=/, "", c); sub(/ .*/, "", c); n[callee] += c }
  END { for (f in n) if (f ~ /^(malloc|calloc|realloc)$/) s += n[f]; print s + 0 }' "$dump")

# system calls: strace on every thread of a native run
"${cmd[@]}" > "$tmp/native.log" 2>&1 &
pids+=($!)
native_pid=${pids[-1]}
wait_http "$ready"
run_streams 50 > /dev/null
tasks=()
for t in /proc/"$native_pid"/task/*; do tasks+=(-p "${t##*/}"); done
strace -f -c -o "$tmp/strace.txt" "${tasks[@]}" 2> /dev/null &
strace_pid=$!
for _ in $(seq 1 50); do grep -q '^TracerPid:[[:space:]]*[1-9]' "/proc/$native_pid/status" && break; sleep 0.1; done
native=$(run_streams "$streams")
kill -INT "$strace_pid"; wait "$strace_pid" 2>/dev/null || true
native_events=$(json "$native" events)

echo "### $target${bearer[*]:+ (production pipeline)}: $streams concurrent streams of 32 events 100 ms apart (a new connection each; one worker)"
echo
echo "under callgrind: $result"
echo
if [ "$(json "$result" stalled)" != 0 ]; then
  echo "**warning:** the proxy fell behind under callgrind (stalls): events came several to a read,"
  echo "so the counts per event are lower than on a proxy that keeps up; run again when the machine is quieter."
  echo
fi
awk -v ir="$ir" -v al="$allocs" -v n="$streams" -v e="$events" 'BEGIN {
  printf "| instructions per stream | per event | heap allocations per stream | per event |\n|---|---|---|---|\n"
  printf "| %.0f | %.0f | %.1f | %.2f |\n\n", ir / n, ir / e, al / n, al / e }'
echo "| system call (native run, $native_events events) | per event |"
echo "|---|---|"
awk -v n="$native_events" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" && $4 / n >= 0.005 {
    printf "| %s | %.3f |\n", $NF, $4 / n }
  $NF == "total" { printf "| **total** | **%.3f** |\n", $4 / n }' "$tmp/strace.txt"
echo
echo "Top functions by own instructions per event (callgrind):"
echo
awk '/^ob=/ { ob = $0; sub(/^.*\//, "", ob) } /^fn=/ { fn = substr($0, 4); if (fn ~ /^0x/) fn = fn " (" ob ")" }
  /^calls=/ { skip = 1; next } /^[0-9+-]/ { if (skip) skip = 0; else self[fn] += $2 }
  END { for (f in self) print self[f], f }' "$dump" | sort -rn | head -25 |
  awk -v n="$events" '{ printf "    %8.0f  %s\n", $1 / n, substr($0, index($0, " ") + 1) }'
