# shellcheck shell=bash
# The echo mock the bench scripts measure proxies against: nginx answering every POST at once
# with a fixed chat completion, so that the upstream costs next to nothing. Sourced by
# compare.sh and pipeline_parts.sh.

# echo_mock_config DIR PORT CONNECTIONS: DIR/nginx.conf (and DIR/logs) for a mock on
# 127.0.0.1:PORT; run it with nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'.
echo_mock_config() {
  local dir=$1 port=$2 connections=$3
  local completion='{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"sim-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":190,"completion_tokens":9,"total_tokens":199}}'
  mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
error_log $dir/logs/error.log;
pid $dir/nginx.pid;
events { worker_connections $connections; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  server {
    listen 127.0.0.1:$port backlog=4096;
    keepalive_requests 1000000;
    location / { default_type application/json; return 200 '$completion'; }
  }
}
NGINX
}
