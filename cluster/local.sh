#!/usr/bin/env bash
# A multi-node Ray cluster on 127.0.0.1 for development and tests: one head and N worker nodes,
# each with fake GPUs, started with `ray start --block` in the background.
#
#   cluster/local.sh up [N_WORKERS]     start a head and N workers (default 2)
#   cluster/local.sh status             nodes, their PIDs and whether each is alive; the address
#   cluster/local.sh address            print only the address (for --address / ray.init)
#   cluster/local.sh kill-worker I      stop worker I (1-based) only, to simulate a lost node
#   cluster/local.sh down               stop exactly the recorded PIDs (TERM, then KILL) and clean up
#
# Settings (environment):
#   RAYTUNE_LLM_CLUSTER_DIR   state directory (default /tmp/raytune-llm-cluster): PIDs, logs, Ray temp dir
#   RAYTUNE_LLM_CLUSTER_PORT  GCS port of the head (default: the first free port from 6390)
#   NUM_CPUS / NUM_GPUS       logical CPUs / fake GPUs per node (default 2 / 2)
#   OBJECT_STORE_MB           object store per node in MB (default 100)
#   DASHBOARD=1               start the dashboard (for `ray job submit`; needs `pip install "ray[default]"`)
#   RAY                       the `ray` executable (default: next to this repo's .venv, else on PATH)
#   STOP_TIMEOUT              seconds between TERM and KILL in `down` (default 15)
#
# Token authentication: every `ray start` and every driver needs RAY_AUTH_MODE=token and the token.
# This script uses RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH when set, else Ray's default token file
# ~/.ray/auth_token (created with `ray get-auth-token --generate` if missing). Drivers then need
# only `export RAY_AUTH_MODE=token` (plus the same token variable when one was set).
set -euo pipefail

STATE="${RAYTUNE_LLM_CLUSTER_DIR:-/tmp/raytune-llm-cluster}"
NUM_CPUS="${NUM_CPUS:-2}"
NUM_GPUS="${NUM_GPUS:-2}"
OBJECT_STORE_MB="${OBJECT_STORE_MB:-100}"
STOP_TIMEOUT="${STOP_TIMEOUT:-15}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
if [[ -z "${RAY:-}" ]]; then
  if [[ -x "$REPO/.venv/bin/ray" ]]; then RAY="$REPO/.venv/bin/ray"; else RAY="$(command -v ray || true)"; fi
fi
PYTHON="$(dirname "${RAY:-/usr/bin/ray}")/python"
[[ -x "$PYTHON" ]] || PYTHON="$(command -v python3)"
export RAY_AUTH_MODE=token
SETSID="$(command -v setsid || true)"  # util-linux; without it (macOS) nodes share our process group

die() { echo "local.sh: $*" >&2; exit 1; }

free_port() {  # free_port START: first port >= START that nobody listens on (127.0.0.1)
  "$PYTHON" - "$1" <<'EOF'
import socket, sys
port = int(sys.argv[1])
while port < 65000:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port)); print(port); break
        except OSError:
            port += 1
EOF
}

alive() { kill -0 "$1" 2>/dev/null; }

# clean_state: remove only what this script writes (never the whole directory: it may be user-chosen)
clean_state() {
  rm -rf "$STATE/logs" "$STATE/ray"
  rm -f "$STATE/nodes" "$STATE/nodes.tmp" "$STATE/address" "$STATE/dashboard"
  rmdir "$STATE" 2>/dev/null || true
}

ensure_token() {
  if [[ -n "${RAY_AUTH_TOKEN:-}" ]]; then return; fi
  if [[ -n "${RAY_AUTH_TOKEN_PATH:-}" ]]; then
    [[ -s "$RAY_AUTH_TOKEN_PATH" ]] || die "RAY_AUTH_TOKEN_PATH=$RAY_AUTH_TOKEN_PATH is empty or missing; unset it or write a token there"
    return
  fi
  if [[ ! -s "$HOME/.ray/auth_token" ]]; then
    "$RAY" get-auth-token --generate >/dev/null
  fi
}

# start_node NAME ARGS...: `ray start --block ARGS` in the background; records "NAME PID" in $STATE/nodes
start_node() {
  local name="$1"; shift
  local log="$STATE/logs/$name.log"
  # setsid: the node's processes form their own group, untouched by signals sent to the caller's group;
  # PYTHONUNBUFFERED: the "Ray runtime started." line reaches the log while the node blocks
  PYTHONUNBUFFERED=1 $SETSID "$RAY" start --block --disable-usage-stats --num-cpus "$NUM_CPUS" --num-gpus "$NUM_GPUS" \
    --object-store-memory $((OBJECT_STORE_MB * 1024 * 1024)) \
    --dashboard-agent-listen-port "$(free_port $((RANDOM % 2000 + 52400)))" "$@" >"$log" 2>&1 < /dev/null &
  local pid=$!
  echo "$name $pid" >>"$STATE/nodes"
}

# wait_started NAME: until NAME's `ray start` says the node runs (0), or its process exits (1)
wait_started() {
  local name="$1" pid deadline=$((SECONDS + 150))
  pid="$(awk -v n="$name" '$1 == n {print $2}' "$STATE/nodes" | tail -1)"
  while (( SECONDS < deadline )); do
    grep -q "Ray runtime started" "$STATE/logs/$name.log" 2>/dev/null && return 0
    alive "$pid" || return 1
    sleep 0.5
  done
  echo "local.sh: node $name did not start within 150 s; log: $STATE/logs/$name.log" >&2
  return 1
}

# start_and_wait NAME ARGS...: start a node and wait for it; on a loaded machine Ray's fixed 30 s
# registration timeout can expire, so a node whose start failed is tried again (3 attempts in all)
start_and_wait() {
  local name="$1" attempt pid
  for attempt in 1 2 3; do
    start_node "$@"
    if wait_started "$name"; then return 0; fi
    pid="$(awk -v n="$name" '$1 == n {print $2}' "$STATE/nodes" | tail -1)"
    stop_pids "$pid"
    echo "local.sh: node $name failed to start (attempt $attempt); log tail:" >&2
    tail -3 "$STATE/logs/$name.log" >&2
    cp "$STATE/logs/$name.log" "$STATE/logs/$name.attempt$attempt.log"
    awk -v n="$name" '$1 != n' "$STATE/nodes" >"$STATE/nodes.tmp" && mv "$STATE/nodes.tmp" "$STATE/nodes"
  done
  return 1
}

count_nodes() {  # alive nodes as the GCS sees them
  "$PYTHON" - "$(cat "$STATE/address")" <<'EOF' 2>/dev/null || echo 0
import sys
import ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
print(sum(1 for n in ray.nodes() if n["Alive"]))
EOF
}

fail_up() {  # fail_up MESSAGE: stop the nodes started so far, keep their logs, exit 1
  local pids=() name pid
  while read -r name pid; do pids+=("$pid"); done <"$STATE/nodes"
  ((${#pids[@]})) && stop_pids "${pids[@]}"
  rm -f "$STATE/nodes" "$STATE/address" "$STATE/dashboard"
  die "$1; node logs in $STATE/logs"
}

cmd_up() {
  local workers="${1:-2}"
  [[ "$workers" =~ ^[0-9]+$ ]] || die "N_WORKERS must be a whole number, got '$workers'"
  [[ -n "$RAY" && -x "$RAY" ]] || die "the ray executable was not found; set RAY=/path/to/ray or activate the venv"
  if [[ -f "$STATE/nodes" ]]; then
    while read -r name pid; do
      alive "$pid" && die "a cluster is already running from $STATE (node $name, pid $pid); run '$0 down' first"
    done <"$STATE/nodes"
    clean_state
  fi
  mkdir -p "$STATE/logs"
  ensure_token
  local port="${RAYTUNE_LLM_CLUSTER_PORT:-$(free_port 6390)}"
  local client_port; client_port="$(free_port $((port + 1)))"
  local address="127.0.0.1:$port"
  echo "$address" >"$STATE/address"
  : >"$STATE/nodes"
  local dash=(--include-dashboard false)
  if [[ "${DASHBOARD:-0}" == 1 ]]; then
    local dport; dport="$(free_port 8265)"
    dash=(--include-dashboard true --dashboard-host 127.0.0.1 --dashboard-port "$dport")
    echo "http://127.0.0.1:$dport" >"$STATE/dashboard"
  fi
  start_and_wait head --head --node-ip-address 127.0.0.1 --port "$port" --ray-client-server-port "$client_port" \
    --temp-dir "$STATE/ray" "${dash[@]}" || fail_up "the head node did not start"
  local i
  for ((i = 1; i <= workers; i++)); do  # one at a time: concurrent starts overload a small machine
    start_and_wait "worker$i" --address "$address" --node-ip-address 127.0.0.1 \
      || fail_up "worker$i did not start"
  done
  local n; n="$(count_nodes)"
  [[ "$n" == $((workers + 1)) ]] || fail_up "the cluster has $n alive nodes, expected $((workers + 1))"
  cmd_status
}

cmd_status() {
  if [[ ! -f "$STATE/nodes" ]]; then echo "no local cluster recorded in $STATE"; return 0; fi
  printf '%-10s %-8s %s\n' NODE PID STATE
  local name pid
  while read -r name pid; do
    if alive "$pid"; then s=alive; else s=dead; fi
    printf '%-10s %-8s %s\n' "$name" "$pid" "$s"
  done <"$STATE/nodes"
  echo "address: $(cat "$STATE/address")"
  [[ -f "$STATE/dashboard" ]] && echo "dashboard: $(cat "$STATE/dashboard")"
  echo "drivers: export RAY_AUTH_MODE=token; ray.init(address=\"$(cat "$STATE/address")\") or --address $(cat "$STATE/address")"
}

group_alive() { [[ -n "$SETSID" ]] && kill -0 -- "-$1" 2>/dev/null; }

# stop_pids PID...: TERM each recorded `ray start --block` process (it stops its node's processes),
# KILL it after STOP_TIMEOUT seconds; then stop what is left of its process group (setsid made the
# recorded PID the group's leader, so the group holds only that node's processes).
stop_pids() {
  local pid
  for pid in "$@"; do alive "$pid" && kill -TERM "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + STOP_TIMEOUT))
  for pid in "$@"; do
    while alive "$pid" && (( SECONDS < deadline )); do sleep 0.3; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  for pid in "$@"; do
    group_alive "$pid" || continue
    kill -TERM -- "-$pid" 2>/dev/null || true
    local until=$((SECONDS + 5))
    while group_alive "$pid" && (( SECONDS < until )); do sleep 0.3; done
    group_alive "$pid" && kill -KILL -- "-$pid" 2>/dev/null || true
  done
}

cmd_kill_worker() {
  local i="${1:-}"
  [[ "$i" =~ ^[0-9]+$ ]] || die "usage: $0 kill-worker I (1-based worker number, see '$0 status')"
  [[ -f "$STATE/nodes" ]] || die "no local cluster recorded in $STATE"
  local pid; pid="$(awk -v n="worker$i" '$1 == n {print $2}' "$STATE/nodes")"
  [[ -n "$pid" ]] || die "no worker$i in $STATE/nodes; see '$0 status'"
  alive "$pid" || die "worker$i (pid $pid) is not running"
  stop_pids "$pid"
  echo "stopped worker$i (pid $pid)"
}

cmd_down() {
  if [[ ! -f "$STATE/nodes" ]]; then echo "no local cluster recorded in $STATE"; return 0; fi
  local pids=() name pid
  # workers first, the head last
  while read -r name pid; do [[ "$name" != head ]] && pids+=("$pid"); done <"$STATE/nodes"
  ((${#pids[@]})) && stop_pids "${pids[@]}"
  pid="$(awk '$1 == "head" {print $2}' "$STATE/nodes")"
  [[ -n "$pid" ]] && stop_pids "$pid"
  clean_state
  echo "local cluster stopped"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  address) [[ -f "$STATE/address" ]] || die "no local cluster recorded in $STATE"; cat "$STATE/address" ;;
  kill-worker) shift; cmd_kill_worker "$@" ;;
  *) echo "usage: $0 up [N_WORKERS] | down | status | address | kill-worker I" >&2; exit 2 ;;
esac
