# What every bench script starts with; sourced after `set -euo pipefail`:
# - $tmp, a fresh folder, and pids, the processes the script starts (append each one's $!):
#   on exit the processes are stopped and waited for, then the folder is removed;
# - bench_before_stop and bench_after_stop, when the script defines them, run on exit before
#   the processes are stopped (to let go of a lock they hold) and after (to keep their logs or
#   dumps, complete only once they have ended);
# - free_port: a port the kernel gives on 127.0.0.1 now, for a server the script starts;
# - wait_http URL [TRIES]: waits until anything answers HTTP there, 0.1 s a try (100 tries
#   unless said), or ends the script with a message;
# - median: the median of the numbers on standard input, separated by spaces or lines.
# shellcheck shell=bash
bench_name=$(basename "$0" .sh)
tmp=$(mktemp -d)
pids=()
bench_exit() {
  if declare -F bench_before_stop > /dev/null; then bench_before_stop || true; fi
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  if declare -F bench_after_stop > /dev/null; then bench_after_stop || true; fi
  rm -rf "$tmp"
}
trap bench_exit EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

wait_http() {
  for _ in $(seq 1 "${2:-100}"); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$bench_name: $1 did not come up" >&2
  exit 1
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
