#!/usr/bin/env bash
# The cost of a tool call through the MCP bridge: wrk calling the REST service's
# GET /api/customers/c-1 directly, then the same lookup as a stateless MCP tools/call through
# aigw (parse, header checks, schema validation, the REST request on the worker's curl multi,
# the result wrapped as a tool result), and once more with metering on (each call a request
# record for the store writer and the metrics). Prints a Markdown table.
# Usage: bench/mcp.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: bench/mcp.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
duration=${BENCH_DURATION:-10s}
conns=${BENCH_CONNECTIONS:-32}
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
rest_port=$(free_port); aigw_port=$(free_port); admin_port=$(free_port)
metered_port=$(free_port); metered_admin=$(free_port)
# the REST service: a fixed JSON answer from a one-thread Node server (the same for both runs)
cat > "$tmp/rest.mjs" <<JS
import http from 'node:http';
const body = JSON.stringify({ id: 'c-1', name: 'Ada Lovelace', email: 'ada@example.com' });
http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); })
  .listen($rest_port, '127.0.0.1');
JS
node "$tmp/rest.mjs" & pids+=($!)
wait_http "http://127.0.0.1:$rest_port/api/customers/c-1"
cat > "$tmp/aigw.yaml" <<YAML
server:
  workers: 1
  http: {listen: "127.0.0.1:$aigw_port"}
  admin: {listen: "127.0.0.1:$admin_port"}
log: {access: "off"}
channels:
  - {name: none, type: openai, base_url: "http://127.0.0.1:9/v1"}
models:
  - {name: chat, channel: none}
mcp:
  servers:
    - name: crm
      path: /mcp/crm
      tools:
        - name: get_customer
          input_schema: { type: object, properties: { id: { type: string } }, required: [id] }
          request: { method: GET, url: "http://127.0.0.1:$rest_port/api/customers/{id}" }
YAML
"$build/aigw" serve -c "$tmp/aigw.yaml" > "$tmp/aigw.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$admin_port/readyz"
mkdir -p "$tmp/metered"
sed -e "s/127.0.0.1:$aigw_port/127.0.0.1:$metered_port/" -e "s/127.0.0.1:$admin_port/127.0.0.1:$metered_admin/" \
  "$tmp/aigw.yaml" > "$tmp/metered/aigw.yaml"
printf 'metering:\n  store: %s/metered/aigw.db\n' "$tmp" >> "$tmp/metered/aigw.yaml"
"$build/aigw" serve -c "$tmp/metered/aigw.yaml" > "$tmp/metered/aigw.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$metered_admin/readyz"
run() { wrk -t1 -c"$conns" -d"$duration" --latency "$@" 2>&1; }
row() { # label, wrk output
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$2")
  p50=$(awk '$1=="50%" {print $2}' <<<"$2")
  p99=$(awk '$1=="99%" {print $2}' <<<"$2")
  echo "| $1 | $rps | $p50 | $p99 |"
}
direct=$(run "http://127.0.0.1:$rest_port/api/customers/c-1")
mcp=$(run -s "$here/mcp_call.lua" "http://127.0.0.1:$aigw_port/mcp/crm")
metered=$(run -s "$here/mcp_call.lua" "http://127.0.0.1:$metered_port/mcp/crm")
if ! grep -q '"isError":false' < <(curl -s -X POST "http://127.0.0.1:$aigw_port/mcp/crm" \
  -H 'content-type: application/json' -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' \
  -H 'mcp-name: get_customer' --data "$(sed -n 's/^wrk.body = .\(.*\).$/\1/p' "$here/mcp_call.lua")"); then
  echo "bench: the tool call did not succeed" >&2; exit 1
fi
echo "| path ($conns connections, $duration) | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
row "REST API directly" "$direct"
row "tools/call through aigw (1 worker)" "$mcp"
row "the same with metering on" "$metered"
