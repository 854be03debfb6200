#!/usr/bin/env bash
# How long the one way to launch work costs: the console queues a request
# and starts `lifeboat worker --job ID` for it, where it used to start the
# verb as a child. Measured on the demo's backups, same run, same binary:
#
#   direct   lifeboat verify ID                       (the old child)
#   queued   lifeboat verify ID --queue; lifeboat worker --job N
#
# Usage: bench/launch_bench.sh [--runs N] [--lifeboat BIN]
# Prints a Markdown table (median and p90 wall time, ratio) and writes it
# to bench/results/launch-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=30
bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --lifeboat) bin="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  cargo build --release -q
  bin="${CARGO_TARGET_DIR:-target}/release/lifeboat"
fi
bin="$(realpath "$bin")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$bin" demo --no-console >/dev/null 2>&1
cfg="$work/var/demo/lifeboat.toml"
id="$("$bin" --config "$cfg" --json list | python3 -c 'import json,sys; print([b["id"] for b in json.load(sys.stdin) if b["type"]=="configuration"][0])')"

ms() { python3 -c 'import time; print(time.monotonic_ns()//1000)'; }
direct=()
queued=()
for _ in $(seq 1 "$runs"); do
  t0=$(ms); "$bin" --config "$cfg" verify "$id" >/dev/null 2>>"$work/stderr.log"; t1=$(ms)
  direct+=($((t1 - t0)))
  t0=$(ms)
  job="$("$bin" --config "$cfg" --json verify "$id" --queue | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')"
  "$bin" --config "$cfg" worker --job "$job" >/dev/null 2>>"$work/stderr.log"
  t1=$(ms)
  queued+=($((t1 - t0)))
done
report="$(python3 - "${direct[*]}" "${queued[*]}" "$runs" "$(git -C "$OLDPWD" describe --always --dirty 2>/dev/null || echo '?')" <<'PY'
import sys, statistics
d = sorted(int(x) for x in sys.argv[1].split())
q = sorted(int(x) for x in sys.argv[2].split())
runs, rev = sys.argv[3], sys.argv[4]
def p90(v): return v[min(len(v) - 1, int(len(v) * 0.9))]
md, mq = statistics.median(d) / 1000, statistics.median(q) / 1000
print(f"Launch overhead, lifeboat {rev}, {runs} runs each (verify of the demo's configuration backup)\n")
print("| path | median ms | p90 ms |")
print("|---|---:|---:|")
print(f"| direct: `lifeboat verify ID` (the console's old child) | {md:.1f} | {p90(d)/1000:.1f} |")
print(f"| queued: `verify --queue` + `worker --job N` (the console's way now) | {mq:.1f} | {p90(q)/1000:.1f} |")
print(f"\nqueued / direct: {mq/md:.2f}x (the queued path runs two processes: enqueue, then the worker)")
PY
)"
echo "$report"
mkdir -p "$OLDPWD/bench/results"
echo "$report" > "$OLDPWD/bench/results/launch-$(date +%Y-%m-%d-%H%M).md"
