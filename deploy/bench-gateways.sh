#!/usr/bin/env bash
# Third-party OpenAI-compatible gateways for `make bench-gateways`, in front of the provider simulator.
#
#   deploy/bench-gateways.sh up        install (once, cached) and start LiteLLM proxy and Portkey gateway
#   deploy/bench-gateways.sh down      stop them (SIGTERM to the process group, wait, SIGKILL); fine if nothing runs
#   deploy/bench-gateways.sh status    show what runs; exit 0 only if every selected gateway is up and answers
#   deploy/bench-gateways.sh versions  print the pinned versions on one line (for the report's --note)
#   deploy/bench-gateways.sh targets   print `--target ...` flags of the running gateways for switchyard bench-gateways
#
# Both listen on loopback only and forward to $SIM_URL (default http://127.0.0.1:8400, `switchyard sim`).
# Installs, configs, pid files and logs live in $SERVICES_DIR/bench-gateways (default <repo>/.services,
# git-ignored). Neither gateway gets a database, and what phones home is switched off (see below).
# Variables: GATEWAYS (litellm,portkey), SIM_URL, LITELLM_HOST/PORT (127.0.0.1:4000), LITELLM_WORKERS (1),
# PORTKEY_HOST/PORT (127.0.0.1:8787), BENCH_MODEL (gpt-4o-mini), LITELLM_MASTER_KEY, SIM_KEY, READY_TIMEOUT.
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Pinned versions. LiteLLM 1.106.12 is the newest whose `litellm[proxy]` extra resolves on PyPI
# here: from 1.108 on it pins litellm-proxy-extras builds (0.4.110.post1, 0.4.113) or a
# `litellm-proxy` package that the registry does not serve.
LITELLM_VERSION=1.106.12
PORTKEY_VERSION=1.15.2
# The gateway declares @hono/node-server ^1.3.3 and publishes no lockfile, so npm takes the newest
# 1.x, whose Response keeps a fetched response's immutable headers: every streamed completion then
# fails with "TypeError: immutable" (Portkey-AI/gateway issues 1389 and 1550). 1.14.1 is the last
# release that copies them.
HONO_NODE_SERVER_VERSION=1.14.1

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

SERVICES_DIR=$(realpath -m "${SERVICES_DIR:-$REPO_ROOT/.services}")
BG_DIR=$SERVICES_DIR/bench-gateways

GATEWAYS=${GATEWAYS:-litellm,portkey}
SIM_URL=${SIM_URL:-http://127.0.0.1:8400}
SIM_URL=${SIM_URL%/}
BENCH_MODEL=${BENCH_MODEL:-gpt-4o-mini}
SIM_KEY=${SIM_KEY:-sk-sim}
PYTHON=${PYTHON:-python3}
NODE=${NODE:-node}

LITELLM_HOST=${LITELLM_HOST:-127.0.0.1}
LITELLM_PORT=${LITELLM_PORT:-4000}
LITELLM_WORKERS=${LITELLM_WORKERS:-1}
LITELLM_MASTER_KEY=${LITELLM_MASTER_KEY:-sk-bench}
PORTKEY_HOST=${PORTKEY_HOST:-127.0.0.1}
PORTKEY_PORT=${PORTKEY_PORT:-8787}

READY_TIMEOUT=${READY_TIMEOUT:-120}
STOP_TIMEOUT=${STOP_TIMEOUT:-20}

LITELLM_HOME=$BG_DIR/litellm-$LITELLM_VERSION
PORTKEY_HOME=$BG_DIR/portkey-$PORTKEY_VERSION
PORTKEY_JS=$PORTKEY_HOME/node_modules/@portkey-ai/gateway/build/start-server.js
ALL_GATEWAYS="litellm portkey"

# Output, timing and process helpers (say, warn, err, die, show_logs, now, since, is_alive,
# cmdline_has, port_open), shared with deploy/services.sh.
LOG_TAG=bench-gateways
# shellcheck source=deploy/lib.sh
source "$SCRIPT_DIR/lib.sh"

# ---------------------------------------------------------------------------------------------
# Processes. Each gateway is started with setsid, so its pid is also its process group and its
# workers (if any) stop with it. A marker in the command line, unique to $BG_DIR, tells our
# process from a recycled pid or another stack's.

marker() {
    case $1 in
        litellm) printf '%s' "--config $BG_DIR/litellm.yaml" ;;
        portkey) printf '%s' "$BG_DIR/portkey-loopback.cjs" ;;
    esac
}
pidfile() { printf '%s' "$BG_DIR/$1.pid"; }
logfile() { printf '%s' "$BG_DIR/$1.log"; }

# find_pid GATEWAY: print the pid of the running gateway (its session leader), or nothing (exit 1).
find_pid() { find_marked_pid "$(pidfile "$1")" "$(marker "$1")" leader; }

# tree_rss_mb PID: resident memory of the process and all its descendants.
tree_rss_mb() {
    local pids p total=0 kb
    pids=$(tree_pids "$1")
    for p in $pids; do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
        total=$((total + ${kb:-0}))
    done
    printf '%d MB (%d processes)' "$((total / 1024))" "$(wc -w <<<"$pids")"
}
tree_pids() {
    local root=$1 d pid ppid
    declare -A kids=()
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        ppid=$(awk '{ sub(/^.*\) /, ""); print $2 }' "$d/stat" 2>/dev/null) || continue
        [[ -n $ppid ]] && kids[$ppid]+="$pid "
    done
    local queue=("$root") out=()
    while ((${#queue[@]})); do
        pid=${queue[0]}
        queue=("${queue[@]:1}")
        out+=("$pid")
        # shellcheck disable=SC2206
        [[ -n ${kids[$pid]:-} ]] && queue+=(${kids[$pid]})
    done
    printf '%s\n' "${out[@]}"
}

require_free_port() {
    if port_open "$2" "$3"; then
        err "$1: port $2:$3 is already in use by another process (not this stack, BG_DIR=$BG_DIR)."
        if command -v ss >/dev/null 2>&1; then err "listener: $(ss -Hltnp "sport = :$3" 2>/dev/null | head -n 1)"; fi
        die "$1: free the port or choose another one ($4)."
    fi
}

# start_bg GATEWAY WORKDIR CMD...: start CMD detached in its own session, record its pid.
start_bg() {
    local gw=$1 wd=$2 pid
    shift 2
    (cd "$wd" && exec setsid "$@" </dev/null >>"$(logfile "$gw")" 2>&1 9>&-) &
    pid=$!
    printf '%s\n' "$pid" >"$(pidfile "$gw")"
    STARTED_PID=$pid
}

stop_gateway() {
    local gw=$1 pid t0 i
    if ! pid=$(find_pid "$gw"); then
        say "$gw: not running"
        return 0
    fi
    t0=$(now)
    say "$gw: stopping pid $pid and its process group (SIGTERM, up to ${STOP_TIMEOUT}s)..."
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
        is_alive "$pid" || break
        sleep 0.2
    done
    if is_alive "$pid"; then
        warn "$gw: pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL to its group"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            is_alive "$pid" || break
            sleep 0.2
        done
        is_alive "$pid" && die "$gw: pid $pid survived SIGKILL"
    fi
    # Workers that outlived the leader share its process group.
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$(pidfile "$gw")"
    say "$gw: stopped in $(since "$t0")s"
}

# ---------------------------------------------------------------------------------------------
# Readiness: a real chat completion through the gateway to the simulator, checked for content.

gw_url() {
    case $1 in
        litellm) printf 'http://%s:%s/v1' "$LITELLM_HOST" "$LITELLM_PORT" ;;
        portkey) printf 'http://%s:%s/v1' "$PORTKEY_HOST" "$PORTKEY_PORT" ;;
    esac
}

# chat GATEWAY: print the body of one chat completion through it (curl fails on non-2xx).
chat() {
    local gw=$1 hdr=()
    case $gw in
        litellm) hdr=(-H "Authorization: Bearer $LITELLM_MASTER_KEY") ;;
        portkey) hdr=(-H "Authorization: Bearer $SIM_KEY" -H 'x-portkey-provider: openai'
                      -H "x-portkey-custom-host: $SIM_URL/v1") ;;
    esac
    curl -sf --max-time 10 -X POST "$(gw_url "$gw")/chat/completions" -H 'Content-Type: application/json' "${hdr[@]}" \
        --data "{\"model\":\"$BENCH_MODEL\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"ready?\"}]}"
}
answers() { chat "$1" 2>/dev/null | grep -q '"content": *"[^"]'; }
litellm_ready() { answers litellm; }
portkey_ready() { answers portkey; }

# wait_ready GATEWAY PID: poll a real completion until it answers; on death or timeout show the
# log, stop the half-started process and fail.
wait_ready() {
    local gw=$1 pid=$2 t0
    t0=$(now)
    while true; do
        if "${gw}_ready"; then
            READY_SECS=$(since "$t0")
            return 0
        fi
        if ! is_alive "$pid"; then
            err "$gw: process $pid exited during start-up."
            show_logs "$(logfile "$gw")"
            rm -f "$(pidfile "$gw")"
            die "$gw: failed to start (log above)."
        fi
        if awk -v s="$t0" -v e="$(now)" -v t="$READY_TIMEOUT" 'BEGIN { exit !(e - s > t) }'; then
            err "$gw: no chat completion through $(gw_url "$gw") within ${READY_TIMEOUT}s. Last attempt:"
            chat "$gw" >&2 || err "(curl exit $?)"
            show_logs "$(logfile "$gw")"
            stop_gateway "$gw" || true
            die "$gw: not ready within ${READY_TIMEOUT}s (log above). Is the simulator up at $SIM_URL?"
        fi
        sleep 0.5
    done
}

sim_check() {
    curl -sf --max-time 5 -X POST "$SIM_URL/v1/chat/completions" -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $SIM_KEY" \
        --data "{\"model\":\"$BENCH_MODEL\",\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
        >/dev/null 2>&1 || die "the simulator does not answer at $SIM_URL/v1/chat/completions (start it: switchyard sim --latency 0 --jitter 0)."
}

# ---------------------------------------------------------------------------------------------
# LiteLLM proxy: PyPI litellm[proxy] in its own venv, one model forwarded to the simulator.

ensure_litellm() {
    local t0 stamp=$LITELLM_HOME/.complete
    if [[ -f $stamp && -x $LITELLM_HOME/bin/litellm ]]; then
        say "litellm: litellm[proxy]==$LITELLM_VERSION cached in ${LITELLM_HOME#"$REPO_ROOT"/}"
        return 0
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "litellm: $PYTHON not found (set PYTHON=/path/to/python3.10+)."
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        die "litellm: LiteLLM $LITELLM_VERSION needs Python 3.10+, $PYTHON is $("$PYTHON" --version 2>&1)."
    say "litellm: installing litellm[proxy]==$LITELLM_VERSION from PyPI into ${LITELLM_HOME#"$REPO_ROOT"/} (first run only, about a minute)..."
    t0=$(now)
    rm -rf "$LITELLM_HOME"
    mkdir -p "$BG_DIR"
    if ! { "$PYTHON" -m venv "$LITELLM_HOME" &&
        "$LITELLM_HOME/bin/pip" install -q --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"; } \
        >"$BG_DIR/pip-install.log" 2>&1; then
        show_logs "$BG_DIR/pip-install.log"
        rm -rf "$LITELLM_HOME"
        die "litellm: pip install failed (log above)."
    fi
    printf '%s\n' "$LITELLM_VERSION" >"$stamp"
    say "litellm: installed in $(since "$t0")s ($(du -sh "$LITELLM_HOME" | cut -f1))"
}

write_litellm_config() {
    # Only litellm_params that forward to an OpenAI-compatible endpoint; no database, no callbacks,
    # no cost tracking writes. master_key is checked per request, as a real deployment would.
    cat >"$BG_DIR/litellm.yaml.tmp" <<EOF
# Written by deploy/bench-gateways.sh; edits are overwritten.
model_list:
  - model_name: $BENCH_MODEL
    litellm_params:
      model: openai/$BENCH_MODEL
      api_base: $SIM_URL/v1
      api_key: $SIM_KEY
litellm_settings:
  drop_params: true
  request_timeout: 60
  turn_off_message_logging: true
general_settings:
  master_key: $LITELLM_MASTER_KEY
  disable_spend_logs: true
  disable_error_logs: true
EOF
    mv "$BG_DIR/litellm.yaml.tmp" "$BG_DIR/litellm.yaml"
}

# Remote fetches LiteLLM makes at start-up (model cost map and friends) are switched to the
# copies bundled in the wheel; its --telemetry flag is a no-op in this version. One overloaded run
# here saw the proxy segfault inside libpython; the fault handler leaves a Python traceback in
# litellm.log should it happen again.
litellm_env() {
    printf '%s\n' LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS=True \
        LITELLM_LOCAL_BLOG_POSTS=True LITELLM_LOCAL_POLICY_TEMPLATES=True LITELLM_LOCAL_AUTOROUTER_PRESETS=True \
        LITELLM_LOG=ERROR HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false DO_NOT_TRACK=1 PYTHONFAULTHANDLER=1
}

start_litellm() {
    local pid envs=()
    if pid=$(find_pid litellm); then
        say "litellm: already running (pid $pid), checking that it answers..."
        wait_ready litellm "$pid"
        return 0
    fi
    ensure_litellm
    require_free_port litellm "$LITELLM_HOST" "$LITELLM_PORT" "LITELLM_PORT"
    write_litellm_config
    mapfile -t envs < <(litellm_env)
    say "litellm: starting LiteLLM proxy $LITELLM_VERSION on $LITELLM_HOST:$LITELLM_PORT ($LITELLM_WORKERS worker), upstream $SIM_URL/v1"
    printf '\n===== %s start =====\n' "$(date -Is)" >>"$(logfile litellm)"
    start_bg litellm "$BG_DIR" env -u DATABASE_URL "${envs[@]}" \
        "$LITELLM_HOME/bin/litellm" --config "$BG_DIR/litellm.yaml" \
        --host "$LITELLM_HOST" --port "$LITELLM_PORT" --num_workers "$LITELLM_WORKERS"
    wait_ready litellm "$STARTED_PID"
    say "litellm: answers in ${READY_SECS}s (pid $STARTED_PID, RSS $(tree_rss_mb "$STARTED_PID"))"
}

# ---------------------------------------------------------------------------------------------
# Portkey gateway: npm @portkey-ai/gateway under its own prefix. Its server binds every interface
# and has no host flag; a preloaded module makes its listen() bind $PORTKEY_HOST instead.

ensure_portkey() {
    local t0 stamp=$PORTKEY_HOME/.complete want="$PORTKEY_VERSION @hono/node-server@$HONO_NODE_SERVER_VERSION"
    if [[ -f $stamp && $(<"$stamp") == "$want" && -f $PORTKEY_JS ]]; then
        say "portkey: @portkey-ai/gateway@$PORTKEY_VERSION cached in ${PORTKEY_HOME#"$REPO_ROOT"/}"
        return 0
    fi
    command -v npm >/dev/null 2>&1 || die "portkey: npm not found (apt-get install nodejs npm)."
    command -v "$NODE" >/dev/null 2>&1 || die "portkey: node not found (NODE=$NODE)."
    say "portkey: installing @portkey-ai/gateway@$PORTKEY_VERSION (with @hono/node-server@$HONO_NODE_SERVER_VERSION) from npm into ${PORTKEY_HOME#"$REPO_ROOT"/} (first run only)..."
    t0=$(now)
    rm -rf "$PORTKEY_HOME"
    mkdir -p "$PORTKEY_HOME"
    cat >"$PORTKEY_HOME/package.json" <<EOF
{
  "private": true,
  "description": "Written by deploy/bench-gateways.sh",
  "dependencies": { "@portkey-ai/gateway": "$PORTKEY_VERSION" },
  "overrides": { "@hono/node-server": "$HONO_NODE_SERVER_VERSION" }
}
EOF
    # --ignore-scripts: its postinstall runs patch-package on patches the published package does not ship.
    if ! (cd "$PORTKEY_HOME" && npm install --no-audit --no-fund --ignore-scripts) >"$BG_DIR/npm-install.log" 2>&1; then
        show_logs "$BG_DIR/npm-install.log"
        rm -rf "$PORTKEY_HOME"
        die "portkey: npm install failed (log above)."
    fi
    [[ -f $PORTKEY_JS ]] || die "portkey: $PORTKEY_JS missing after npm install."
    printf '%s\n' "$want" >"$stamp"
    say "portkey: installed in $(since "$t0")s ($(du -sh "$PORTKEY_HOME" | cut -f1))"
}

write_portkey_preload() {
    cat >"$BG_DIR/portkey-loopback.cjs.tmp" <<'EOF'
// Written by deploy/bench-gateways.sh. The Portkey gateway's server listens on every interface
// and has no flag for the address; bind it to PORTKEY_BIND_HOST (loopback) instead.
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const host = process.env.PORTKEY_BIND_HOST || '127.0.0.1';
  if (args[0] !== null && typeof args[0] === 'object') {
    args[0] = { ...args[0], host };
  } else if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    if (typeof args[1] === 'function') args.splice(1, 0, host);
    else args[1] = host;
  }
  return listen.apply(this, args);
};
EOF
    mv "$BG_DIR/portkey-loopback.cjs.tmp" "$BG_DIR/portkey-loopback.cjs"
}

start_portkey() {
    local pid
    if pid=$(find_pid portkey); then
        say "portkey: already running (pid $pid), checking that it answers..."
        wait_ready portkey "$pid"
        return 0
    fi
    command -v "$NODE" >/dev/null 2>&1 || die "portkey: node not found (NODE=$NODE)."
    ensure_portkey
    require_free_port portkey "$PORTKEY_HOST" "$PORTKEY_PORT" "PORTKEY_PORT"
    write_portkey_preload
    say "portkey: starting Portkey gateway $PORTKEY_VERSION (node $("$NODE" --version)) on $PORTKEY_HOST:$PORTKEY_PORT, headless, upstream via x-portkey-custom-host: $SIM_URL/v1"
    printf '\n===== %s start =====\n' "$(date -Is)" >>"$(logfile portkey)"
    # NODE_ENV=production and --headless: no console UI, no log stream endpoint.
    start_bg portkey "$BG_DIR" env NODE_ENV=production PORTKEY_BIND_HOST="$PORTKEY_HOST" \
        "$NODE" -r "$BG_DIR/portkey-loopback.cjs" "$PORTKEY_JS" --port="$PORTKEY_PORT" --headless
    wait_ready portkey "$STARTED_PID"
    say "portkey: answers in ${READY_SECS}s (pid $STARTED_PID, RSS $(tree_rss_mb "$STARTED_PID"))"
}

# ---------------------------------------------------------------------------------------------
# Commands.

selected() {
    local g list=""
    for g in ${GATEWAYS//,/ }; do
        [[ " $ALL_GATEWAYS " == *" $g "* ]] || die "unknown gateway '$g' in GATEWAYS (known: $ALL_GATEWAYS)"
        list+="$g "
    done
    printf '%s' "${list% }"
}

lock() {
    mkdir -p "$BG_DIR"
    exec 9>"$BG_DIR/.lock"
    if ! flock -n 9; then
        say "another bench-gateways.sh holds $BG_DIR/.lock; waiting (up to 600s)..."
        flock -w 600 9 || die "could not take $BG_DIR/.lock within 600s"
    fi
}

versions() {
    local py="?" node="?"
    [[ -x $LITELLM_HOME/bin/python ]] && py=$("$LITELLM_HOME/bin/python" -c 'import platform; print(platform.python_version())')
    command -v "$NODE" >/dev/null 2>&1 && node=$("$NODE" --version)
    printf 'LiteLLM proxy %s (PyPI litellm[proxy], Python %s, %s uvicorn worker); Portkey gateway %s (npm @portkey-ai/gateway, @hono/node-server %s, node %s)\n' \
        "$LITELLM_VERSION" "$py" "$LITELLM_WORKERS" "$PORTKEY_VERSION" "$HONO_NODE_SERVER_VERSION" "${node#v}"
}

cmd_up() {
    local gws t0 g
    gws=$(selected)
    t0=$(now)
    lock
    say "up: $gws (BG_DIR=$BG_DIR, upstream $SIM_URL)"
    command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install curl)."
    sim_check
    for g in $gws; do "start_$g"; done
    say "up: done in $(since "$t0")s; $(versions)"
    for g in $gws; do say "  $(printf '%-8s' "$g") $(gw_url "$g")  pid $(find_pid "$g")  log ${BG_DIR#"$REPO_ROOT"/}/$g.log"; done
}

cmd_down() {
    local g
    lock
    say "down: $ALL_GATEWAYS (BG_DIR=$BG_DIR)"
    for g in $ALL_GATEWAYS; do stop_gateway "$g"; done
    say "down: done"
}

cmd_status() {
    local gws g pid ok=0 state
    gws=$(selected)
    say "status (BG_DIR=$BG_DIR, upstream $SIM_URL): $(versions)"
    for g in $gws; do
        if pid=$(find_pid "$g"); then
            if "${g}_ready"; then state=answers; else state="NOT ANSWERING"; ok=1; fi
            say "  $(printf '%-8s' "$g") running  pid $pid  RSS $(tree_rss_mb "$pid")  $state  $(gw_url "$g")"
        else
            say "  $(printf '%-8s' "$g") stopped"
            ok=1
        fi
    done
    return "$ok"
}

# The flags switchyard bench-gateways needs to reach each running gateway (one per line).
cmd_targets() {
    local gws g pid
    gws=$(selected)
    for g in $gws; do
        pid=$(find_pid "$g") || die "$g is not running (deploy/bench-gateways.sh up)"
        case $g in
            litellm) printf -- '--target litellm=%s,key=%s,model=%s,pid=%s\n' "$(gw_url litellm)" "$LITELLM_MASTER_KEY" "$BENCH_MODEL" "$pid" ;;
            portkey) printf -- '--target portkey=%s,key=%s,model=%s,header=x-portkey-provider:openai,header=x-portkey-custom-host:%s/v1,pid=%s\n' \
                         "$(gw_url portkey)" "$SIM_KEY" "$BENCH_MODEL" "$SIM_URL" "$pid" ;;
        esac
    done
}

usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
    case ${1:-} in
        up | start)     cmd_up ;;
        down | stop)    cmd_down ;;
        status)         cmd_status ;;
        versions)       versions ;;
        targets)        cmd_targets ;;
        -h | --help | help) usage ;;
        *)              usage >&2; exit 2 ;;
    esac
}

main "$@"
