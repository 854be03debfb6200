#!/usr/bin/env bash
# Idle CPU of the real console: start `lifeboat` (no verb) in a detached
# tmux session on a demo sandbox, leave it alone for 60 s, and read the
# process's utime+stime from /proc/PID/stat.
#
#   bench/console_idle.sh [--seconds N] [--lifeboat BIN]
#
# Builds the release binary unless --lifeboat is given. Needs tmux.
set -euo pipefail

SECONDS_IDLE=60
BIN=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_IDLE="$2"; shift 2 ;;
        --lifeboat) BIN="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

command -v tmux >/dev/null || { echo "tmux is not installed" >&2; exit 1; }
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "$BIN" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lifeboat"
fi

WORK="$(mktemp -d)"
SOCKET="lifeboat-idle-$$"
cleanup() { tmux -L "$SOCKET" kill-server 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# A sandbox with real backups, jobs and audit rows.
(cd "$WORK" && "$BIN" demo --no-console >/dev/null)
CONFIG="$WORK/var/demo/lifeboat.toml"

tmux -L "$SOCKET" new-session -d -s idle -x 120 -y 40 -c "$WORK" "exec '$BIN' --config '$CONFIG'"
sleep 2
PANE_PID="$(tmux -L "$SOCKET" list-panes -t idle -F '#{pane_pid}')"
PID="$PANE_PID"
if [ "$(cat /proc/$PID/comm)" != "lifeboat" ]; then
    PID="$(pgrep -P "$PANE_PID" -x lifeboat | head -1)"
fi
grep -q Dashboard <(tmux -L "$SOCKET" capture-pane -p -t idle) || {
    echo "the console did not draw its dashboard:" >&2
    tmux -L "$SOCKET" capture-pane -p -t idle >&2
    exit 1
}

ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ="$(getconf CLK_TCK)"
START="$(ticks)"
sleep "$SECONDS_IDLE"
END="$(ticks)"
tmux -L "$SOCKET" send-keys -t idle q

USED=$((END - START))
awk -v t="$USED" -v hz="$HZ" -v s="$SECONDS_IDLE" 'BEGIN {
    cpu = t / hz
    printf "idle console over %d s: %.2f s CPU (utime+stime, %d ticks at %d Hz) = %.3f%% of one core\n", s, cpu, t, hz, 100 * cpu / s
}'
