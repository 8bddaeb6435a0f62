#!/usr/bin/env bash
# Cost of one request inside aigw, in counts that repeat on a busy machine: instructions and
# heap allocations per request (valgrind's callgrind), and system calls per request (strace -c),
# for a ~1 KB non-streamed chat request or a 64-token stream, one worker, access log to a file.
# Usage: bench/profile.sh BUILD_DIR [stream=0|1] [requests=2000]
# PROFILE_PIPELINE=production adds what a production config has on every request: an API key
# (auth), a per-key limit on requests and tokens, and metering to SQLite (prices, the request
# log; its writer is a thread of its own and is counted too). Default: plain (none of them).
# Prints a Markdown summary; the callgrind dump is copied to $PROFILE_KEEP when that is set.
set -euo pipefail
build=${1:?usage: bench/profile.sh BUILD_DIR [stream] [requests]}
stream=${2:-0}
requests=${3:-2000}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
bench_after_stop() {
  if [ -n "${PROFILE_KEEP:-}" ]; then cp "$tmp"/cg.out.* "$PROFILE_KEEP"/ 2>/dev/null || true; fi
}

sim_port=$(free_port); aigw_port=$(free_port); admin_port=$(free_port)
"$build/aigw-sim" --port "$sim_port" --threads 1 > "$tmp/sim.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$sim_port/health"

cat > "$tmp/aigw.yaml" <<YAML
server:
  workers: 1
  http: {listen: "127.0.0.1:$aigw_port"}
  https: {listen: "off"}
  admin: {listen: "127.0.0.1:$admin_port", token: bench}
log:
  access: "$tmp/access.log"
channels:
  - {name: sim, type: openai, base_url: "http://127.0.0.1:$sim_port/v1"}
models:
  - {name: bench-model, channel: sim, upstream_model: sim-model}
YAML
pipeline=${PROFILE_PIPELINE:-plain}
# shellcheck source=bench/pipeline.sh
. "$here/pipeline.sh"
if [ "$pipeline" = production ]; then
  export LOAD_API_KEY=sk-bench-profile-0123456789abcdef
  production_config "$LOAD_API_KEY" "$tmp/aigw.db" >> "$tmp/aigw.yaml"
fi
url="http://127.0.0.1:$aigw_port/v1/chat/completions"
load() { node "$here/load.mjs" "$url" bench-model "$1" 4 "$stream" > /dev/null; }

# instructions and allocations: callgrind, counters zeroed after a warm-up
valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$tmp/cg.out" "$build/aigw" serve -c "$tmp/aigw.yaml" \
  > "$tmp/aigw-cg.log" 2>&1 &
pids+=($!)
cg_pid=${pids[-1]}
wait_http "http://127.0.0.1:$admin_port/readyz" 600
load 200
callgrind_control -z "$cg_pid" > /dev/null 2>&1
load "$requests"
callgrind_control -d "$cg_pid" > /dev/null 2>&1
kill "$cg_pid"; wait "$cg_pid" 2>/dev/null || true
dump=$(ls "$tmp"/cg.out.* | head -1)
ir=$(awk '/^summary:/ {print $2}' "$dump")
# calls into the allocator, from the call records (a name is written once, then its "(id)")
allocs=$(awk '/^cfn=/ { callee = substr($0, 5) }
  /^calls=/ { c = $0; sub(/^calls=/, "", c); sub(/ .*/, "", c); n[callee] += c }
  END { for (f in n) if (f ~ /^(malloc|calloc|realloc)$/) s += n[f]; print s + 0 }' "$dump")

# system calls: strace on every thread of a native run
"$build/aigw" serve -c "$tmp/aigw.yaml" > "$tmp/aigw.log" 2>&1 &
pids+=($!)
aigw_pid=${pids[-1]}
wait_http "http://127.0.0.1:$admin_port/readyz"
load 200
tasks=()
for t in /proc/"$aigw_pid"/task/*; do tasks+=(-p "${t##*/}"); done
strace -f -c -o "$tmp/strace.txt" "${tasks[@]}" 2> /dev/null &
strace_pid=$!
for _ in $(seq 1 50); do grep -q '^TracerPid:[[:space:]]*[1-9]' "/proc/$aigw_pid/status" && break; sleep 0.1; done
load "$requests"
kill -INT "$strace_pid"; wait "$strace_pid" 2>/dev/null || true

kind=$([ "$stream" = 1 ] && echo "stream of 64 tokens" || echo "non-stream, 1 KB body")
echo "### aigw per request: $kind ($requests requests, 4 connections, one worker, access log to a file, pipeline $pipeline)"
echo
awk -v ir="$ir" -v al="$allocs" -v n="$requests" 'BEGIN {
  printf "| instructions | heap allocations |\n|---|---|\n| %.0f | %.1f |\n\n", ir / n, al / n }'
echo "| system call | per request |"
echo "|---|---|"
awk -v n="$requests" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" && $4 / n >= 0.01 {
    printf "| %s | %.2f |\n", $NF, $4 / n }
  $NF == "total" { printf "| **total** | **%.2f** |\n", $4 / n }' "$tmp/strace.txt"
echo
echo "Top functions by own instructions per request (callgrind):"
echo
# own cost per function: cost lines, except the one after each calls= (that is the callee's)
awk '/^ob=/ { ob = $0; sub(/^.*\//, "", ob) } /^fn=/ { fn = substr($0, 4); if (fn ~ /^0x/) fn = fn " (" ob ")" }
  /^calls=/ { skip = 1; next } /^[0-9+-]/ { if (skip) skip = 0; else self[fn] += $2 }
  END { for (f in self) print self[f], f }' "$dump" | sort -rn | head -20 |
  awk -v n="$requests" '{ printf "    %8.0f  %s\n", $1 / n, substr($0, index($0, " ") + 1) }'
