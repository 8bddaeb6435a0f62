# shellcheck shell=bash
# The "production" pipeline the bench scripts give aigw (BENCH_PIPELINE / PROFILE_PIPELINE):
# what a production config runs on every request. Sourced by compare.sh and profile.sh.

# production_config API_KEY DB_PATH: YAML to append to a config whose models and channels are
# set: an API key on every request (auth), a per-key limit on requests and tokens far above the
# load (so every request's tokens are estimated and reserved, none refused), and metering to
# SQLite with a price for every model (the request log and its rollups).
production_config() {
  cat <<YAML
auth:
  mode: api_key
  keys:
    - {name: bench, tenant: acme, project: search, key: "$1", models: ["*"]}
store: {path: "$2"}
limits:
  - {by: key, rpm: 1000000000, tpm: 1000000000000}
metering:
  store: "$2"
  prices:
    "*": {input: 1.0, output: 2.0}
YAML
}
