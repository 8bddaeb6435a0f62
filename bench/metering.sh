#!/usr/bin/env bash
# The cost of metering on throughput, and that a stalled store does not slow requests. One run,
# one box: wrk against aigw (one worker, access log off) to the simulator, the same request
# through five gateways that differ only in their metering section:
#   off          no metering section
#   on           prices, the request log and rollups, no capture
#   captures     the same, and request bodies and stream events captured (masked for PII on
#                the writer: redact_pii, the default)
#   captures raw the same with redact_pii: false (what the masking costs the writer)
#   stalled      metering on while another process holds the store locked (the sqlite3 CLI in
#                BEGIN EXCLUSIVE, kept open through a fifo): the writer waits, its queue fills,
#                records are dropped and counted (aigw_store_queue_dropped_total)
# for a ~1 KB non-streaming chat request and a 64-token stream, in rounds (each gateway once a
# round, in turn, so a noisy neighbour's drift hits them alike). Prints Markdown tables: req/s
# and aigw CPU per request (the whole process, and the store writer's thread alone) as ratios
# to "off", p99, and the writer's written and dropped records (from GET /metrics).
# Usage: bench/metering.sh BUILD_DIR   (make bench runs it after bench/run.sh)
set -euo pipefail
build=${1:?usage: bench/metering.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
duration=${BENCH_DURATION:-5s}
warmup=${BENCH_WARMUP:-1s}
rounds=${BENCH_ROUNDS:-3} # every gateway measured once a round, in turn: drift hits them alike
conns=${BENCH_CONNECTIONS:-32}
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
lock_fd=
bench_before_stop() { # the store's lock goes before the sqlite3 holding it is stopped
  [ -n "$lock_fd" ] && { echo 'ROLLBACK;' >&"$lock_fd" 2>/dev/null || true; exec {lock_fd}>&- || true; }
}

sim_port=$(free_port)
"$build/aigw-sim" --port "$sim_port" --threads 1 > "$tmp/sim.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$sim_port/health"

names=(off on captures captures-raw stalled)
declare -A port admin pid
# name metering-section: one gateway
start_gateway() {
  local name=$1 metering=$2
  port[$name]=$(free_port); admin[$name]=$(free_port)
  cat > "$tmp/$name.yaml" <<YAML
server:
  workers: 1
  http: {listen: "127.0.0.1:${port[$name]}"}
  https: {listen: "off"}
  admin: {listen: "127.0.0.1:${admin[$name]}", token: bench}
log:
  access: "off"
store: {path: $tmp/$name-keys.db}
channels:
  - {name: sim, type: openai, base_url: "http://127.0.0.1:$sim_port/v1"}
models:
  - {name: bench-model, channel: sim, upstream_model: sim-model}
$metering
YAML
  "$build/aigw" serve -c "$tmp/$name.yaml" > "$tmp/$name.log" 2>&1 &
  pids+=($!)
  pid[$name]=${pids[-1]}
  wait_http "http://127.0.0.1:${admin[$name]}/readyz"
}

metering() { # store, capture line
  cat <<YAML
metering:
  store: $tmp/$1.db
  prices:
    bench-model: { input: 0.15, output: 0.60, cached_input: 0.075, currency: USD }
${2:-}
YAML
}
start_gateway off ""
start_gateway on "$(metering on)"
start_gateway captures "$(metering captures '  capture: { bodies: true, streams: true }')"
start_gateway captures-raw "$(metering captures-raw '  capture: { bodies: true, streams: true, redact_pii: false }')"
start_gateway stalled "$(metering stalled)"

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { # name gateway: a counter of its /metrics, 0 when absent
  curl -s "http://127.0.0.1:${admin[$2]}/metrics" | awk -v m="$1" '$1 == m {print $2; f = 1} END {if (!f) print 0}'
}

# Another process takes the stalled gateway's store: BEGIN EXCLUSIVE in the sqlite3 CLI, which
# then waits on a fifo for its next line, holding the lock until the bench ends.
mkfifo "$tmp/lock.fifo"
sqlite3 "$tmp/stalled.db" < "$tmp/lock.fifo" > "$tmp/lock.log" 2>&1 &
pids+=($!)
exec {lock_fd}>"$tmp/lock.fifo"
echo "BEGIN EXCLUSIVE; SELECT 'locked', count(*) FROM requests;" >&"$lock_fd"
for _ in $(seq 1 100); do grep -q locked "$tmp/lock.log" && break; sleep 0.1; done
grep -q locked "$tmp/lock.log" || { echo "bench: the store lock was not taken: $(cat "$tmp/lock.log")" >&2; exit 1; }

# The CPU ticks of the store writer's thread (named aigw-meter), 0 without metering.
writer_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = aigw-meter ] && { awk '{print $14 + $15}' "$t/stat"; return; }
  done
  echo 0
}

# name stream: one measurement, a line of $tmp/rows
measure() {
  local name=$1 stream=$2 url="http://127.0.0.1:${port[$1]}/v1/chat/completions"
  MODEL=bench-model STREAM=$stream wrk -t2 -c"$conns" -d"$warmup" -s "$here/chat.lua" "$url" > /dev/null
  local before wbefore written0 dropped0
  before=$(cpu_ticks "${pid[$name]}"); wbefore=$(writer_ticks "${pid[$name]}")
  written0=$(metric aigw_store_written_total "$name"); dropped0=$(metric aigw_store_queue_dropped_total "$name")
  local out
  out=$(MODEL=bench-model STREAM=$stream wrk -t2 -c"$conns" -d"$duration" --latency -s "$here/chat.lua" "$url")
  local after wafter rps p99 reqs non2xx errors written dropped
  after=$(cpu_ticks "${pid[$name]}"); wafter=$(writer_ticks "${pid[$name]}")
  rps=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
  p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
  reqs=$(awk '/requests in/ {print $1}' <<< "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<< "$out")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<< "$out")
  # what the writer wrote of the run: once its queue is empty (a stalled one never is)
  if [ "$name" != off ] && [ "$name" != stalled ]; then
    for _ in $(seq 1 100); do [ "$(metric aigw_store_queue_depth "$name")" = 0 ] && break; sleep 0.1; done
  fi
  written=$(( $(metric aigw_store_written_total "$name") - written0 ))
  dropped=$(( $(metric aigw_store_queue_dropped_total "$name") - dropped0 ))
  # name req/s all-CPU-us/req writer-CPU-us/req p99 requests non2xx+errors written dropped
  awk -v n="$name" -v r="$rps" -v d=$((after - before)) -v w=$((wafter - wbefore)) -v t="$ticks" \
      -v q="$reqs" -v p="$p99" -v e=$(( ${non2xx:-0} + ${errors:-0} )) -v wr="$written" -v dr="$dropped" \
      'BEGIN {printf "%s %s %.2f %.2f %s %s %s %s %s\n", n, r, d / t * 1e6 / q, w / t * 1e6 / q, p, q, e, wr, dr}' \
      >> "$tmp/rows"
}

# The rows of every round as one table: medians of req/s and CPU, sums of the counts.
table() {
  echo "| gateway | req/s | req/s vs off | p99 (median) | CPU us/req | CPU vs off | of which the writer | requests | written | dropped | non-2xx + errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for name in "${names[@]}"; do
    awk -v n="$name" '$1 == n' "$tmp/rows" > "$tmp/one"
    local rps cpu wcpu p99 reqs errs written dropped
    rps=$(cut -d' ' -f2 "$tmp/one" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
    cpu=$(cut -d' ' -f3 "$tmp/one" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
    wcpu=$(cut -d' ' -f4 "$tmp/one" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
    p99=$(cut -d' ' -f5 "$tmp/one" | sed 's/ms$//' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)] " ms"}')
    read -r reqs errs written dropped < <(awk '{q += $6; e += $7; w += $8; d += $9} END {print q, e, w, d}' "$tmp/one")
    [ "$name" = off ] && { off_rps=$rps; off_cpu=$cpu; written=-; dropped=-; }
    awk -v n="$name" -v r="$rps" -v c="$cpu" -v w="$wcpu" -v p="$p99" -v q="$reqs" -v e="$errs" \
        -v wr="$written" -v dr="$dropped" -v r0="$off_rps" -v c0="$off_cpu" \
        'BEGIN {printf "| %s | %.0f | %.2f | %s | %.1f | %.2f | %.1f | %d | %s | %s | %d |\n", n, r, r / r0, p, c, c / c0, w, q, wr, dr, e}'
  done
}

echo "aigw metering bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
echo "wrk -t2 -c$conns -d$duration after a $warmup warm-up, each gateway once a round, $rounds rounds,"
echo "one aigw worker, $(date -u +%Y-%m-%d); medians of the rounds, counts summed"
for stream in 0 1; do
  kind=$([ "$stream" = 1 ] && echo "stream, 64 tokens" || echo "non-stream, 1 KB body")
  : > "$tmp/rows"
  for round in $(seq 1 "$rounds"); do
    for name in "${names[@]}"; do measure "$name" "$stream"; done
  done
  echo
  echo "### metering, $kind ($rounds rounds)"
  echo
  table
done
echo
echo "stalled store: the writer waited on the lock $(metric aigw_store_written_total stalled | awk '{print ($1 == 0) ? "throughout (nothing written)" : "but wrote " $1 " records"}');"
echo "its queue holds $(metric aigw_store_queue_capacity stalled) records; $(grep -c meter_store_busy "$tmp/stalled.log" || true) meter_store_busy warnings logged."
