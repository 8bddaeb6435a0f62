#!/usr/bin/env bash
# Issue 12's comparison in one run on one box: the upstream directly, nginx as a plain reverse
# proxy, and aigw (the full pipeline its config has), in the same run:
# - requests/s at 64 connections and CPU per request, against an nginx "echo mock" (every POST
#   answered with a fixed chat completion: the upstream costs next to nothing);
# - latency p50/p99 at 1 connection (bench/latency.c: a fixed number of requests on one kept
#   connection, after a warm-up), in interleaved rounds (direct, nginx, aigw, direct, ...): per
#   target the median over the rounds of p50 and of p99, and what each proxy adds over direct:
#   the median over the rounds of (the proxy's p99 - the direct p99 of the same round);
# - streams: N concurrent streams of 32 events 100 ms apart from the simulator (bench/streams.c),
#   every target opened with the same ramp, N rising through BENCH_STREAMS; a stream stalls when
#   its first event or a gap between two comes later than 1 s; the most concurrent stall-free
#   streams, first-event time, inter-event gap, CPU per stream event;
# - descriptors: each process may hold RLIMIT_NOFILE descriptors, and a proxied stream holds two
#   (its client's socket and its upstream's). From the limit and what each process holds when
#   idle the script works out the most streams each target can hold (aigw is one process: half
#   of what its limit leaves, and no more than its own server.max_connections cap; nginx: that
#   per worker process; aigw-sim, which every stream reaches: its limit less its own), adds that
#   "fd ceiling" as a level, and says so in place of a run when a level is above a target's
#   ceiling. The stream client is split over several processes when one would run out;
# - RSS of aigw idle, at its peak (VmHWM) and after the streams, watched for BENCH_AFTER_S;
# - with the production pipeline: the metering records dropped and written by then (a writer
#   that fell behind and dropped records would flatter the throughput).
# Prints Markdown tables with ratios to nginx. Needs wrk and nginx-light (AIGW_BENCH=1
# scripts/install-deps.sh) and a C compiler (the two clients are built into a temporary folder).
# Usage: bench/compare.sh BUILD_DIR
# Environment (default):
#   BENCH_DURATION (10s)       each throughput run (wrk, 64 connections)
#   BENCH_TPUT_ROUNDS (3)      throughput rounds of BENCH_DURATION each; each runs direct, nginx
#                              and aigw in turn; requests/s and CPU per request are the medians,
#                              the ratio the median of the rounds' own ratios
#   BENCH_LAT_ROUNDS (15)      latency rounds; each measures direct, nginx and aigw in turn
#                              (BENCH_ROUNDS, its former name, is read when it is unset)
#   BENCH_LAT_REQUESTS (2000)  requests per target and round, counted (p99 = the 20th slowest)
#   BENCH_LAT_WARMUP (200)     requests per target and round sent first and not counted
#   BENCH_STREAMS ("1000 2000 4000 6000 8000 10000")  concurrent stream levels, run in order
#   BENCH_FD_CEILING (auto)    1: add the fd ceiling (the lowest target's) as a level; 0: never;
#                              auto: add it when a level is 10000 or more
#   BENCH_FD_LIMIT (the hard RLIMIT_NOFILE)  a lower limit for every process of the run (soft
#                              and hard): the descriptor logic at a small scale
#   BENCH_CLIENT_STREAMS (the limit less 64)  most streams one client process opens; a level
#                              above it is split over several processes started together
#   BENCH_RAMP (100)           new streams every 10 ms, the same for every target; "all": the
#                              whole level at once (then compare the first-event times)
#   BENCH_AFTER_S (60)         seconds aigw's RSS is watched after the streams
#   BENCH_LOG (1)              1: both proxies write an access log to a file; 0: neither
#   BENCH_PIPELINE (plain)     plain: aigw with no filter a config must turn on; production: an
#                              API key on every request (auth), a per-key limit on requests and
#                              tokens (every request estimated and counted), metering to SQLite
#                              (prices, the request log, rollups); nginx stays a plain proxy
#   BENCH_SIM_THREADS (2)      aigw-sim's threads
#   BENCH_KEEP (unset)         a folder the run's configs and logs are copied to at its end
#   BENCH_WORKERS (1)          nginx worker_processes and aigw server.workers (2 for issue 12's
#                              "10,000 streams on 2 cores"; CPU summed over nginx's workers)
set -euo pipefail
build=$(cd "${1:?usage: bench/compare.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
duration=${BENCH_DURATION:-10s}
lat_rounds=${BENCH_LAT_ROUNDS:-${BENCH_ROUNDS:-15}}
tput_rounds=${BENCH_TPUT_ROUNDS:-3}
lat_requests=${BENCH_LAT_REQUESTS:-2000}
lat_warmup=${BENCH_LAT_WARMUP:-200}
levels=${BENCH_STREAMS:-1000 2000 4000 6000 8000 10000}
fd_ceiling_level=${BENCH_FD_CEILING:-auto}
ramp_setting=${BENCH_RAMP:-100}
after_s=${BENCH_AFTER_S:-60}
log_on=${BENCH_LOG:-1}
pipeline=${BENCH_PIPELINE:-plain}
case $pipeline in plain | production) ;; *) echo "compare: BENCH_PIPELINE is plain or production" >&2; exit 2 ;; esac
bench_key=sk-bench-compare-0123456789abcdef
sim_threads=${BENCH_SIM_THREADS:-2}
workers=${BENCH_WORKERS:-1}
for tool in wrk /usr/sbin/nginx cc node curl; do
  command -v "$tool" > /dev/null || { echo "compare: $tool is missing (AIGW_BENCH=1 scripts/install-deps.sh)" >&2; exit 1; }
done
case $fd_ceiling_level in 0 | 1 | auto) ;; *) echo "compare: BENCH_FD_CEILING is 0, 1 or auto" >&2; exit 2 ;; esac
case $ramp_setting in all | [1-9]*) ;; *) echo "compare: BENCH_RAMP is a count per 10 ms or all" >&2; exit 2 ;; esac
max_streams=0
for n in $levels; do [ "$n" -gt "$max_streams" ] && max_streams=$n; done

# Descriptors: every process of the run (proxies, simulator, clients) inherits this shell's
# limit; the hard limit can be lowered here but not raised (not even by root in a container).
hard_limit=$(ulimit -Hn)
[ "$hard_limit" = unlimited ] && hard_limit=$(cat /proc/sys/fs/nr_open)
fd_limit=${BENCH_FD_LIMIT:-$hard_limit}
if [ "$fd_limit" -gt "$hard_limit" ]; then
  echo "compare: BENCH_FD_LIMIT=$fd_limit is above the hard limit $hard_limit, which cannot be raised: $hard_limit it is" >&2
  fd_limit=$hard_limit
fi
ulimit -n "$fd_limit" # the soft limit first: a hard limit under the soft one is refused
ulimit -Hn "$fd_limit"
client_streams=${BENCH_CLIENT_STREAMS:-$((fd_limit - 64))}

# shellcheck source=bench/lib.sh
. "$here/lib.sh"
bench_after_stop() {
  if [ -n "${BENCH_KEEP:-}" ]; then mkdir -p "$BENCH_KEEP" && cp -r "$tmp"/. "$BENCH_KEEP"/; fi
}
ticks=$(getconf CLK_TCK)
cpu_ticks() { # pid, or several separated by commas: utime + stime summed
  local t=0 p
  for p in ${1//,/ }; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; } # pid VmRSS|VmHWM
json() { node -e 'const j = JSON.parse(process.argv[1]); const v = process.argv[2].split(".").reduce((o, k) => o[k], j); console.log(v)' "$1" "$2"; }
fd_count() { ls -U "/proc/$1/fd" 2> /dev/null | wc -l; }       # pid
fd_sockets() { find "/proc/$1/fd" -lname 'socket:*' 2> /dev/null | wc -l; } # pid
fd_soft() { awk '/^Max open files/ {print $4}' "/proc/$1/limits"; } # pid: its own soft limit
fd_max_of() { local m=0 p n; for p in ${1//,/ }; do n=$(fd_count "$p"); [ "$n" -gt "$m" ] && m=$n; done; echo "$m"; }
# A background sampler of the most descriptors one of the pids held, until the file PATH.stop
# exists; the peak is written to PATH. Every 0.5 s: a stream level's plateau lasts 3.2 s.
fd_watch() { # path pids
  local out=$1 peak=0 n
  while [ ! -e "$out.stop" ]; do
    n=$(fd_max_of "$2"); [ "$n" -gt "$peak" ] && peak=$n
    echo "$peak" > "$out"; sleep 0.5
  done
}
quantile() { # q (0..1) of the numbers on stdin, by the nearest rank
  tr ' ' '\n' | grep -v '^$' | sort -g | awk -v q="$1" '{ a[NR] = $1 } END { i = int(q * (NR - 1) + 1.5); print a[i] }'
}
us() { awk -v v="$1" 'BEGIN {printf "%.0f", v}'; }

cc -O2 -o "$tmp/streams" "$here/streams.c"
cc -O2 -o "$tmp/latency" "$here/latency.c"
mock_port=$(free_port); sim_port=$(free_port); nginx_port=$(free_port); nginx_stream_port=$(free_port)
aigw_port=$(free_port); admin_port=$(free_port)

# The echo mock: nginx answering every POST at once with a fixed chat completion.
# shellcheck source=bench/echo_mock.sh
. "$here/echo_mock.sh"
echo_mock_config "$tmp/mock" "$mock_port" $((fd_limit < 4096 ? fd_limit : 4096))
mkdir -p "$tmp/nginx/logs"
/usr/sbin/nginx -p "$tmp/mock" -c "$tmp/mock/nginx.conf" -g 'daemon off;' &
pids+=($!)
"$build/aigw-sim" --port "$sim_port" --threads "$sim_threads" > "$tmp/sim.log" 2>&1 &
pids+=($!)
sim_pid=${pids[-1]}
wait_http "http://127.0.0.1:$mock_port/"
wait_http "http://127.0.0.1:$sim_port/health"

# aigw writes its own lines (warnings: the connection cap, accept failures) where its access
# lines go; without access lines it still writes its warnings there (level warn).
nginx_log="access_log off;"
aigw_lines=$tmp/aigw-lines.log
aigw_log="{access: \"$aigw_lines\", level: warn}"
if [ "$log_on" = 1 ]; then
  nginx_log="access_log $tmp/nginx/access.log combined buffer=64k flush=1s;"
  aigw_log="{access: \"$aigw_lines\"}"
fi
# worker_connections above the descriptors, so that the descriptor limit is the one that binds:
# once fewer than 1/16 of its connections are free, nginx closes connections that wait for their
# request ("worker_connections are not enough, reusing connections"), which with
# worker_connections = the limit cut streams (reset) at about 15/16 of it.
# Past 65,536 (an unlimited hard limit is fs.nr_open, a million) sized for the levels asked
# instead: nginx allocates its connections up front. nginx_slots bounds its ceiling below.
nginx_slots=$fd_limit
if [ "$fd_limit" -gt 65536 ] && [ "$fd_limit" -gt $((2 * max_streams + 2048)) ]; then nginx_slots=$((2 * max_streams + 2048)); fi
nginx_connections=$((nginx_slots * 16 / 15 + 64))
cat > "$tmp/nginx/nginx.conf" <<NGINX
worker_processes $workers;
worker_rlimit_nofile $fd_limit;
error_log $tmp/nginx/logs/error.log warn; # warn: "reusing connections" is one
pid $tmp/nginx/nginx.pid;
events { worker_connections $nginx_connections; }
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
/usr/sbin/nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' 2> "$tmp/nginx/logs/startup.log" & # warns: worker_connections over the limit
pids+=($!)
nginx_master=${pids[-1]}
wait_http "http://127.0.0.1:$nginx_port/"
for _ in $(seq 1 50); do [ "$(pgrep -c -P "$nginx_master" -f "nginx: worker")" -ge "$workers" ] && break; sleep 0.1; done
nginx_pids=$(pgrep -d, -P "$nginx_master" -f "nginx: worker" || true) # CPU: every worker
[ -n "$nginx_pids" ] || nginx_pids=$nginx_master
nginx_pid=${nginx_pids%%,*} # RSS: one worker

# server.max_connections as high as the limit: aigw lowers it to what its descriptors allow
# (src/core/fd_limit.c) and says so in its log, which is read below.
cat > "$tmp/aigw.yaml" <<YAML
server:
  workers: $workers
  http: {listen: "127.0.0.1:$aigw_port"}
  https: {listen: "off"}
  admin: {listen: "127.0.0.1:$admin_port", token: bench}
  max_connections: $fd_limit
log: $aigw_log
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
# shellcheck source=bench/pipeline.sh
. "$here/pipeline.sh"
if [ "$pipeline" = production ]; then production_config "$bench_key" "$tmp/aigw.db" >> "$tmp/aigw.yaml"; fi
"$build/aigw" serve -c "$tmp/aigw.yaml" > "$tmp/aigw.log" 2>&1 &
pids+=($!)
aigw_pid=${pids[-1]}
wait_http "http://127.0.0.1:$admin_port/readyz"
sleep 1
# aigw caps its client connections to what its descriptors allow (src/core/fd_limit.c) and says
# so at startup: that cap is one of its limits below.
aigw_cap=$(grep -o '"connection_limit_lowered".*' "$aigw_lines" | grep -o '"effective":[0-9]*' | head -1 | cut -d: -f2 || true)
aigw_cap=${aigw_cap:-$fd_limit}
rss_idle=$(status_kb "$aigw_pid" VmRSS)
nginx_rss_idle=$(status_kb "$nginx_pid" VmRSS)

url_direct="http://127.0.0.1:$mock_port/v1/chat/completions"
url_nginx="http://127.0.0.1:$nginx_port/v1/chat/completions"
url_aigw="http://127.0.0.1:$aigw_port/v1/chat/completions"
pid_of() { case $1 in nginx) echo "$nginx_pids" ;; aigw) echo "$aigw_pid" ;; *) echo - ;; esac; }
url_of() { case $1 in nginx) echo "$url_nginx" ;; aigw) echo "$url_aigw" ;; *) echo "$url_direct" ;; esac; }
port_of() { case $1 in nginx) echo "$nginx_port" ;; aigw) echo "$aigw_port" ;; *) echo "$mock_port" ;; esac; }
model_of() { [ "$1" = aigw ] && echo bench-model || echo sim-model; }
# the API key, for the clients: aigw's production pipeline takes one
key_of() { [ "$1" = aigw ] && [ "$pipeline" = production ] && echo "$bench_key" || true; }
bearer_of() { [ -n "$(key_of "$1")" ] && echo "--bearer $bench_key" || true; }

echo "aigw compare: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
echo "$workers worker(s) each (nginx, aigw); upstream: an nginx echo mock (requests) and aigw-sim with $sim_threads threads (streams);"
echo "access logs: $([ "$log_on" = 1 ] && echo "to files on both proxies (nginx buffer=64k)" || echo off); the clients run on the same cores;"
echo "aigw's pipeline: $pipeline$([ "$pipeline" = production ] && echo " (an API key, a per-key request and token limit, metering to SQLite)")"
echo "RLIMIT_NOFILE $fd_limit per process (hard limit $(ulimit -Hn))"
echo

# --- throughput: wrk at 64 connections, in interleaved rounds ---------------------------------
# As with latency, each round runs direct, nginx and aigw back to back, and the ratio is the
# median of the rounds' own ratios: one run per target swung the ratio from 0.72 to 1.02 on
# this box, with a noisy minute landing on one target only.
declare -A rps cpu_us rps_rounds cpu_rounds
tput_ratios=""
for target in direct nginx aigw; do
  AUTH=$(key_of $target) MODEL=$(model_of $target) STREAM=0 wrk -t2 -c64 -d2s -s "$here/chat.lua" "$(url_of $target)" > /dev/null # warm-up
done
for round in $(seq 1 "$tput_rounds"); do
  for target in direct nginx aigw; do
    url=$(url_of $target); pid=$(pid_of $target)
    before=0; [ "$pid" != - ] && before=$(cpu_ticks "$pid")
    out=$(AUTH=$(key_of $target) MODEL=$(model_of $target) STREAM=0 wrk -t2 -c64 -d"$duration" -s "$here/chat.lua" "$url")
    r=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
    rps_rounds[$target]+=" $r"
    reqs=$(awk '/requests in/ {print $1}' <<< "$out")
    bad=$(awk '/Non-2xx|Socket errors/' <<< "$out")
    [ -n "$bad" ] && echo "compare: $target: $bad" >&2
    if [ "$pid" != - ]; then
      after=$(cpu_ticks "$pid")
      cpu_rounds[$target]+=" $(awk -v d=$((after - before)) -v t="$ticks" -v n="$reqs" 'BEGIN {printf "%.1f", d / t * 1e6 / n}')"
    fi
  done
  last_nginx=$(awk '{print $NF}' <<< "${rps_rounds[nginx]}"); last_aigw=$(awk '{print $NF}' <<< "${rps_rounds[aigw]}")
  tput_ratios+=" $(awk -v a="$last_aigw" -v b="$last_nginx" 'BEGIN {printf "%.3f", a / b}')"
done
for target in direct nginx aigw; do
  rps[$target]=$(median <<< "${rps_rounds[$target]}")
  cpu_us[$target]=-
  [ -n "${cpu_rounds[$target]:-}" ] && cpu_us[$target]=$(median <<< "${cpu_rounds[$target]}")
done
tput_ratio=$(awk '{printf "%.2f", $0}' <<< "$(median <<< "$tput_ratios")")

# --- latency at 1 connection: interleaved rounds of a fixed request count ---------------------
# One round measures direct, nginx and aigw back to back, so a noisy moment of the box lands on
# the round's direct figure as much as on its proxies'; the per-round differences and their
# median cancel what the rounds share.
declare -A p50s p99s added50 added99
for _ in $(seq 1 "$lat_rounds"); do
  declare -A round50 round99
  for target in direct nginx aigw; do
    # shellcheck disable=SC2046 # bearer_of is empty or two words
    out=$("$tmp/latency" --port "$(port_of $target)" --model "$(model_of $target)" $(bearer_of $target) \
      --requests "$lat_requests" --warmup "$lat_warmup") || { echo "compare: latency $target: $out" >&2; exit 1; }
    [ "$(json "$out" not_ok_status)" = 0 ] || echo "compare: latency $target: $out" >&2
    round50[$target]=$(json "$out" p50_us)
    round99[$target]=$(json "$out" p99_us)
    p50s[$target]+=" ${round50[$target]}"
    p99s[$target]+=" ${round99[$target]}"
  done
  for target in nginx aigw; do
    added50[$target]+=" $(awk -v a="${round50[$target]}" -v b="${round50[direct]}" 'BEGIN {print a - b}')"
    added99[$target]+=" $(awk -v a="${round99[$target]}" -v b="${round99[direct]}" 'BEGIN {print a - b}')"
  done
done
declare -A lat50 lat99 lat99_lo lat99_hi add50 add99 add99_q1 add99_q3 add99_ok
for target in direct nginx aigw; do
  lat50[$target]=$(median <<< "${p50s[$target]}")
  lat99[$target]=$(median <<< "${p99s[$target]}")
  lat99_lo[$target]=$(quantile 0 <<< "${p99s[$target]}")
  lat99_hi[$target]=$(quantile 1 <<< "${p99s[$target]}")
done
for target in nginx aigw; do
  add50[$target]=$(median <<< "${added50[$target]}")
  add99[$target]=$(median <<< "${added99[$target]}")
  add99_q1[$target]=$(quantile 0.25 <<< "${added99[$target]}")
  add99_q3[$target]=$(quantile 0.75 <<< "${added99[$target]}")
  add99_ok[$target]=$(tr ' ' '\n' <<< "${added99[$target]}" | awk 'NF && $1 <= 100 {n++} END {print n + 0}')
done

# --- metering: a throughput figure counts only if every request's record was kept ------------
# A full metering queue drops records (and counts them) rather than slow a request: a writer
# that fell behind would make the production pipeline look faster than it is.
metered=-
if [ "$pipeline" = production ]; then
  metric() { curl -s "http://127.0.0.1:$admin_port/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
  metered="$(metric aigw_store_queue_dropped_total) dropped, $(metric aigw_store_written_total) written"
fi

# --- descriptors: the most streams each target can hold ---------------------------------------
# Counted at idle, after the runs above: what a process holds besides its streams' sockets
# (listeners, epoll, eventfds, logs, SQLite, and the upstream connections its pools kept, which
# a stream may reuse: counting them errs low by at most a pool).
# The simulator holds one socket per stream, whoever opened it, and besides its own the idle
# connections both proxies keep to it after their first stream level (nginx's upstream
# keepalive 32 and aigw's channel keepalive 32, per worker), which a level through the other
# target cannot reuse.
proxy_pool=$((32 * workers))
sim_limit=$(fd_soft "$sim_pid"); sim_own=$(fd_count "$sim_pid")
sim_fit=$((sim_limit - sim_own - 2 * proxy_pool))
aigw_limit=$(fd_soft "$aigw_pid"); aigw_own=$(fd_count "$aigw_pid"); aigw_own_sockets=$(fd_sockets "$aigw_pid")
aigw_fd_fit=$(((aigw_limit - aigw_own) / 2))
nginx_fit=0; nginx_own=""
for p in ${nginx_pids//,/ }; do
  own=$(fd_count "$p"); nginx_own+="${nginx_own:+, }$own"
  nginx_fit=$((nginx_fit + ((nginx_slots < $(fd_soft "$p") ? nginx_slots : $(fd_soft "$p")) - own) / 2))
done
declare -A ceiling why
ceiling_note=
ceiling[direct]=$sim_fit
why[direct]="aigw-sim: limit $sim_limit less its $sim_own own descriptors and the proxies' idle connections to it (2 x $proxy_pool), one per stream"
ceiling[nginx]=$nginx_fit
why[nginx]="nginx: $workers worker(s), each (limit $fd_limit less its own: $nginx_own) / 2"
[ "$workers" -gt 1 ] && why[nginx]+=", summed: if the workers share the connections evenly"
if [ "$aigw_cap" -lt "$aigw_fd_fit" ]; then
  ceiling[aigw]=$aigw_cap
  why[aigw]="aigw: its server.max_connections, lowered by aigw itself to $aigw_cap for the limit $aigw_limit (its descriptors alone: ($aigw_limit - $aigw_own own) / 2 = $aigw_fd_fit)"
else
  ceiling[aigw]=$aigw_fd_fit
  why[aigw]="aigw: one process, (limit $aigw_limit less its $aigw_own own descriptors, $aigw_own_sockets of them sockets) / 2"
fi
for target in nginx aigw; do # every proxied stream also holds a socket in the simulator
  if [ "$sim_fit" -lt "${ceiling[$target]}" ]; then
    ceiling[$target]=$sim_fit
    why[$target]+="; the simulator holds fewer: $sim_fit"
  fi
done
min_ceiling=${ceiling[direct]}; min_target=direct
for target in nginx aigw; do
  [ "${ceiling[$target]}" -lt "$min_ceiling" ] && { min_ceiling=${ceiling[$target]}; min_target=$target; }
done
if [ "$fd_ceiling_level" = 1 ] || { [ "$fd_ceiling_level" = auto ] && [ "$max_streams" -ge 10000 ] && [ "$min_ceiling" -lt "$max_streams" ]; }; then
  levels="$levels $min_ceiling"
  ceiling_note="- the level $min_ceiling is the fd ceiling of $min_target, the lowest of the three: every target can run it"
fi
levels=$(tr ' ' '\n' <<< "$levels" | grep -v '^$' | sort -n -u | tr '\n' ' ')
levels=${levels% }
max_streams=0
for n in $levels; do [ "$n" -gt "$max_streams" ] && max_streams=$n; done
client_procs_max=$(((max_streams + client_streams - 1) / client_streams))
if [ "$client_streams" -lt 1 ] || [ "$client_procs_max" -gt 64 ]; then
  echo "compare: BENCH_CLIENT_STREAMS=$client_streams cannot open $max_streams streams in at most 64 processes" >&2; exit 2
fi

# --- streams ---------------------------------------------------------------------------------
stream_port_of() { case $1 in nginx) echo "$nginx_stream_port" ;; aigw) echo "$aigw_port" ;; *) echo "$sim_port" ;; esac; }
stream_model_of() { [ "$1" = aigw ] && echo bench-stream || echo sim-model; }
# Descriptor trouble in the logs: aigw's accept_failed (out of descriptors) and connection_limit
# (over its max_connections, answered 503); nginx's "Too many open files" and "worker_connections
# are not enough"; the simulator's "Too many open files". log_file names the file, log_size its
# size before a level, and fd_log_lines counts the lines written since.
log_file() { case $1 in aigw) echo "$aigw_lines" ;; nginx) echo "$tmp/nginx/logs/error.log" ;; *) echo "$tmp/sim.log" ;; esac; }
log_size() { stat -c %s "$(log_file "$1")" 2> /dev/null || echo 0; }
fd_log_lines() { # target size
  tail -c +$(($2 + 1)) "$(log_file "$1")" 2> /dev/null |
    grep -c -e '"accept_failed"' -e '"connection_limit"' -e 'Too many open files' -e 'worker_connections are not enough' || true
}
# One level for one target: the client split over as many processes as its descriptors need,
# started together, each with its share of the ramp; their samples merged.
run_streams() { # target n
  local target=$1 n=$2 procs share ramp i part_n rc=0
  procs=$(((n + client_streams - 1) / client_streams))
  if [ "$ramp_setting" = all ]; then ramp=$n; else ramp=$(((ramp_setting + procs - 1) / procs)); fi
  if [ "$procs" = 1 ]; then
    # shellcheck disable=SC2046 # bearer_of is empty or two words
    "$tmp/streams" --port "$(stream_port_of "$target")" --model "$(stream_model_of "$target")" $(bearer_of "$target") \
      --streams "$n" --events 32 --interval-ms 100 --ramp "$ramp" --stall-ms 1000 --timeout-s 60
    return
  fi
  local parts=() part_pids=()
  for i in $(seq 1 "$procs"); do
    share=$((n / procs + (i <= n % procs ? 1 : 0)))
    part_n=$tmp/part.$i
    # shellcheck disable=SC2046 # bearer_of is empty or two words
    "$tmp/streams" --port "$(stream_port_of "$target")" --model "$(stream_model_of "$target")" $(bearer_of "$target") \
      --streams "$share" --events 32 --interval-ms 100 --ramp "$ramp" --stall-ms 1000 \
      --timeout-s 60 --dump "$part_n" &
    part_pids+=($!); parts+=("$part_n")
  done
  for i in "${part_pids[@]}"; do wait "$i" || rc=1; done
  [ "$rc" = 0 ] || { echo "compare: a stream client process failed" >&2; exit 1; }
  "$tmp/streams" --merge "${parts[@]}"
  rm -f "${parts[@]}"
}
declare -A best stopped cpu_event first_at idle_fds split_noted
for target in direct nginx aigw; do best[$target]=0; stopped[$target]=; cpu_event[$target]=-; done
idle_fds[direct]=$sim_own
idle_fds[nginx]=$(fd_max_of "$nginx_pids")
idle_fds[aigw]=$aigw_own
stream_rows=()
notes=()
for n in $levels; do
  for target in direct nginx aigw; do
    [ -n "${stopped[$target]}" ] && continue # stalled, or out of descriptors, at a lower level
    if [ "$n" -gt "${ceiling[$target]}" ]; then
      stopped[$target]=fd
      stream_rows+=("| $n | $target | not run: above the descriptors (at most ${ceiling[$target]}) | - | - | - | - | - | - | - |")
      notes+=("- $n streams through $target: not run, its descriptors allow at most ${ceiling[$target]} (${why[$target]}).")
      continue
    fi
    pid=$(pid_of $target)
    [ "$pid" = - ] && pid=$sim_pid
    log_before=$(log_size $target)
    rm -f "$tmp/fdpeak" "$tmp/fdpeak.stop"
    fd_watch "$tmp/fdpeak" "$pid" &
    watcher=$!
    before=$(cpu_ticks "$pid")
    result=$(run_streams "$target" "$n")
    after=$(cpu_ticks "$pid")
    touch "$tmp/fdpeak.stop"; wait "$watcher" || true
    peak=$(cat "$tmp/fdpeak" 2> /dev/null || echo 0)
    fd_errors=$(fd_log_lines $target "$log_before")
    cpu_s=$(awk -v d=$((after - before)) -v t="$ticks" 'BEGIN {printf "%.2f", d / t}')
    events=$(json "$result" events)
    per_event=$(awk -v c="$cpu_s" -v e="$events" 'BEGIN {printf "%.1f", e ? c * 1e6 / e : 0}')
    completed=$(json "$result" completed); stalled=$(json "$result" stalled)
    cpu_event[$target]=$per_event
    first_at[$n,$target]="$(json "$result" first_event_ms.p50) / $(json "$result" first_event_ms.p99)"
    if [ "$completed" = "$n" ] && [ "$stalled" = 0 ]; then best[$target]=$n; else stopped[$target]=stall; fi
    failed="$(json "$result" failed)"
    [ "$failed" != 0 ] && failed+=" ($(json "$result" not_ok_status) not 200, $(json "$result" no_answer) no answer, $(json "$result" timed_out) timed out)"
    procs=$(((n + client_streams - 1) / client_streams))
    stream_rows+=("| $n | $target | $completed | $failed | $stalled ($(json "$result" stalled_first) first, $(json "$result" stalled_gap) gap) | ${first_at[$n,$target]} | $(json "$result" gap_ms.p50) / $(json "$result" gap_ms.p99) / $(json "$result" gap_ms.max) | $peak / $fd_limit | $cpu_s | $per_event |")
    if [ "$procs" -gt 1 ] && [ -z "${split_noted[$n]:-}" ]; then
      split_noted[$n]=1
      notes+=("- $n streams: the client ran as $procs processes (at most $client_streams streams each), started together, each with its share of the ramp.")
    fi
    [ "$(json "$result" client_no_fd)" != 0 ] && notes+=("- $n streams through $target: the CLIENT ran out of descriptors for $(json "$result" client_no_fd) streams: lower BENCH_CLIENT_STREAMS.")
    [ "$fd_errors" -gt 0 ] && notes+=("- $n streams through $target: $fd_errors log line(s) about descriptors or the connection cap: it ran out of descriptors, its failures and stalls above come from that.")
    # the next run starts once the target (and, behind a proxy, the simulator) has let go of
    # this one's connections (bounded)
    let_go=
    for _ in $(seq 1 300); do
      if [ "$(fd_max_of "$pid")" -le $((idle_fds[$target] + proxy_pool + 64)) ] &&
        [ "$(fd_count "$sim_pid")" -le $((sim_own + 2 * proxy_pool + 64)) ]; then let_go=1; break; fi
      sleep 0.1
    done
    [ -n "$let_go" ] || notes+=("- after $n streams through $target: $target or the simulator still held $(fd_max_of "$pid") / $(fd_count "$sim_pid") descriptors 30 s later; the next run started anyway.")
  done
done
rss_peak=$(status_kb "$aigw_pid" VmHWM)
nginx_rss_peak=$(status_kb "$nginx_pid" VmHWM)
# the highest level every target ran: first-event times side by side
common=-
for n in $levels; do [ -n "${first_at[$n,direct]:-}" ] && [ -n "${first_at[$n,nginx]:-}" ] && [ -n "${first_at[$n,aigw]:-}" ] && common=$n; done

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
dropped=$(grep -c '"log_lines_dropped"' "$aigw_lines" || true)

mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0 || a == "-") print "-"; else printf "%.2f", a / b}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.3f", u / 1000}'; }
ramp_text=$([ "$ramp_setting" = all ] && echo "all at once" || echo "$ramp_setting new every 10 ms")
echo "### summary"
echo
echo "| measure | direct | nginx | aigw | aigw / nginx | goal |"
echo "|---|---|---|---|---|---|"
echo "| requests/s, 64 connections (medians of $tput_rounds rounds; ratio: median of the rounds' ratios) | ${rps[direct]} | ${rps[nginx]} | ${rps[aigw]} | $tput_ratio | >= 0.90 |"
echo "| CPU per request (us) | - | ${cpu_us[nginx]} | ${cpu_us[aigw]} | $(ratio "${cpu_us[aigw]}" "${cpu_us[nginx]}") | |"
[ "$metered" != - ] && echo "| metering records after the throughput and latency runs | - | - | $metered | | none dropped |"
echo "| latency p50 / p99 at 1 connection (ms, medians of $lat_rounds rounds) | $(ms "${lat50[direct]}") / $(ms "${lat99[direct]}") | $(ms "${lat50[nginx]}") / $(ms "${lat99[nginx]}") | $(ms "${lat50[aigw]}") / $(ms "${lat99[aigw]}") | | |"
echo "| added over direct, p50 / p99 (us, median of $lat_rounds per-round differences) | - | $(us "${add50[nginx]}") / $(us "${add99[nginx]}") | $(us "${add50[aigw]}") / $(us "${add99[aigw]}") | | p99 <= 100 |"
echo "| streams its descriptors allow (RLIMIT_NOFILE $fd_limit) | ${ceiling[direct]} | ${ceiling[nginx]} | ${ceiling[aigw]} | $(ratio "${ceiling[aigw]}" "${ceiling[nginx]}") | |"
echo "| most concurrent stall-free streams (of: $levels) | ${best[direct]} | ${best[nginx]} | ${best[aigw]} | $(ratio "${best[aigw]}" "${best[nginx]}") | 10000 |"
[ "$common" != - ] && echo "| first event p50 / p99 at $common streams, $ramp_text (ms) | ${first_at[$common,direct]} | ${first_at[$common,nginx]} | ${first_at[$common,aigw]} | | |"
echo "| CPU per stream event at the last level run (us) | - | ${cpu_event[nginx]} | ${cpu_event[aigw]} | $(ratio "${cpu_event[aigw]}" "${cpu_event[nginx]}") | <= 1.00 |"
echo "| RSS idle (MB) | - | $(mb "$nginx_rss_idle") | $(mb "$rss_idle") | | aigw < 15 |"
echo "| RSS at peak, VmHWM (MB) | - | $(mb "$nginx_rss_peak") | $(mb "$rss_peak") | | aigw < 1024 |"
echo "| RSS after the streams: at once / after ${after_s} s (MB) | - | - / $(mb "$nginx_rss_after") | $(mb "$rss_after_1") / $(mb "$rss_after") | | aigw < 50 within 60 s |"
echo "| seconds until aigw's RSS was under 50 MB | - | - | $under_50 | | <= 60 |"
echo
echo "### throughput at 64 connections: $tput_rounds interleaved rounds of $duration"
echo
echo "| target | requests/s each round | CPU per request each round (us) |"
echo "|---|---|---|"
for target in direct nginx aigw; do
  echo "| $target |$(sed 's/ / \/ /g; s/^ \/ / /' <<< "${rps_rounds[$target]}") |$(sed 's/ / \/ /g; s/^ \/ / /' <<< "${cpu_rounds[$target]:- -}") |"
done
echo "| aigw / nginx |$(sed 's/ / \/ /g; s/^ \/ / /' <<< "$tput_ratios") | |"
echo
echo "### latency at 1 connection: $lat_rounds interleaved rounds of $lat_requests requests (after $lat_warmup not counted)"
echo
echo "| target | p50, median (us) | p99, median (us) | p99, lowest / highest round (us) | added p50, median (us) | added p99, median (us) | added p99, quartiles (us) | rounds with added p99 <= 100 us |"
echo "|---|---|---|---|---|---|---|---|"
echo "| direct | $(us "${lat50[direct]}") | $(us "${lat99[direct]}") | $(us "${lat99_lo[direct]}") / $(us "${lat99_hi[direct]}") | - | - | - | - |"
for target in nginx aigw; do
  echo "| $target | $(us "${lat50[$target]}") | $(us "${lat99[$target]}") | $(us "${lat99_lo[$target]}") / $(us "${lat99_hi[$target]}") | $(us "${add50[$target]}") | $(us "${add99[$target]}") | $(us "${add99_q1[$target]}") / $(us "${add99_q3[$target]}") | ${add99_ok[$target]} of $lat_rounds |"
done
echo
echo "### streams: 32 events 100 ms apart, $ramp_text, each level in turn (a target stops after its first stall)"
echo
echo "| streams | target | completed | failed | stalled > 1 s | first event p50 / p99 (ms) | gap p50 / p99 / max (ms) | peak descriptors / limit | CPU (s) | CPU per event (us) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${stream_rows[@]}"
echo
echo "direct = aigw-sim itself (its CPU, its descriptors); peak descriptors: the most one process held (sampled every 0.5 s); aigw log_lines_dropped warnings: $dropped"
echo
echo "Descriptor ceilings (RLIMIT_NOFILE $fd_limit; a proxied stream holds a client and an upstream socket):"
for target in direct nginx aigw; do echo "- $target: ${ceiling[$target]}: ${why[$target]}"; done
echo "- the stream client: at most $client_streams streams per process, more are split over processes"
[ -n "$ceiling_note" ] && echo "$ceiling_note"
[ "${#notes[@]}" -gt 0 ] && printf '%s\n' "${notes[@]}"
exit 0
