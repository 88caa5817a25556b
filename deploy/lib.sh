# shellcheck shell=bash
# Shell helpers shared by deploy/services.sh and deploy/bench-gateways.sh. Source it after
# setting LOG_TAG (the prefix of every message, e.g. "services").

# Output.
say()  { printf '[%s] %s\n' "$LOG_TAG" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$LOG_TAG" "$*" >&2; }
err()  { printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2; }
die()  { err "$*"; exit 1; }

# show_logs FILE...: print the tail of every given file that exists (to stderr).
show_logs() {
    local f
    for f in "$@"; do
        if [[ -s $f ]]; then
            printf '[%s] ----- last 40 lines of %s -----\n' "$LOG_TAG" "$f" >&2
            tail -n 40 "$f" >&2 || true
            printf '[%s] ----- end of %s -----\n' "$LOG_TAG" "$f" >&2
        fi
    done
}

now() { date +%s.%N; }
# since START: seconds elapsed, one decimal.
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

# is_alive PID: the process exists and is not a zombie (PID 1 of a container may never reap).
is_alive() {
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

# cmdline_has PID MARKER
cmdline_has() {
    local cmd
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
    [[ $cmd == *"$2"* ]]
}

# find_marked_pid PIDFILE MARKER [leader]: print the pid of the running process whose command
# line holds MARKER, or nothing (exit 1). The pid file is the fast path; when it is missing or
# stale, /proc is scanned and the pid file rewritten. With "leader", only a session leader
# counts (a worker's parent may carry the marker too).
find_marked_pid() {
    local pf=$1 m=$2 leader=${3:-} pid d
    if [[ -f $pf ]]; then
        pid=$(<"$pf")
        if [[ $pid =~ ^[0-9]+$ ]] && is_alive "$pid" && cmdline_has "$pid" "$m"; then
            printf '%s' "$pid"
            return 0
        fi
    fi
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        if ! cmdline_has "$pid" "$m" || ! is_alive "$pid"; then continue; fi
        if [[ -n $leader && $(awk '{ sub(/^.*\) /, ""); print $4 }' "/proc/$pid/stat" 2>/dev/null) != "$pid" ]]; then
            continue
        fi
        if [[ -d $(dirname "$pf") ]]; then printf '%s\n' "$pid" >"$pf"; fi
        printf '%s' "$pid"
        return 0
    done
    [[ -f $pf ]] && rm -f "$pf"
    return 1
}

# port_open HOST PORT: something accepts TCP connections there.
# shellcheck disable=SC2016  # $1/$2 expand in the inner bash
port_open() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }
