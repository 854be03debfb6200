#!/usr/bin/env bash
# backup --all against the sum of the single-type backups on the same data
# (the parallelism gain on this machine), plus the overhead of the job
# machinery on a no-op job.
#
#   sudo bench/full_bench.sh [--workdir DIR] [--lifeboat BIN] [--db NAME]
#
# Data: the filesystem tree of fs_bench.sh (generated if missing, scale 1.0),
# the pgbench database of db_bench.sh (lb_bench, created at scale 40 if
# missing), and a few configuration files. Page cache dropped before each run.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
WORKDIR=/var/tmp/lifeboat-bench
LB=""
DB=lb_bench
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workdir) WORKDIR="$2"; shift 2 ;;
    --lifeboat) LB="$2"; shift 2 ;;
    --db) DB="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $EUID -eq 0 ]] || { echo "run as root (drops the page cache)" >&2; exit 1; }
if [[ -z "$LB" ]]; then
  (cd "$REPO_ROOT" && cargo build --release >&2)
  LB="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/lifeboat"
fi
PSQL=(psql -h 127.0.0.1 -U postgres -qAt)
TREE="$WORKDIR/tree-s1.0-seed42"
mkdir -p "$WORKDIR"
if [[ ! -f "$TREE.gen.json" ]]; then
  python3 "$SCRIPT_DIR/gen_tree.py" "$TREE" --seed 42 --scale 1.0 >&2
fi
if [[ "$("${PSQL[@]}" -d "$DB" -c 'select count(*) from pgbench_branches' 2>/dev/null || true)" != "40" ]]; then
  "${PSQL[@]}" -d postgres -c "drop database if exists $DB" -c "create database $DB"
  pgbench -h 127.0.0.1 -U postgres -i -s 40 -q "$DB" >&2
fi
W="$WORKDIR/full"
rm -rf "$W"; mkdir -p "$W/app"
printf 'DEBUG = False\n' > "$W/app/config.py"
printf 'PANEL_SECRET_KEY=bench\n' > "$W/app/.env"
cat > "$W/lifeboat.toml" <<TOML
[repository]
path = "$W/repo"
[catalog]
path = "$W/catalog.db"
[encryption]
key_file = "$W/key"
encrypt = true
[sources.filesystem]
paths = ["$TREE"]
[sources.configuration]
files = ["$W/app/config.py"]
env_files = ["$W/app/.env"]
[sources.database]
url = "postgres://postgres@127.0.0.1:5432/$DB"
TOML
"$LB" --config "$W/lifeboat.toml" key generate >/dev/null
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; "${PSQL[@]}" -d postgres -c checkpoint >/dev/null; }
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); python3 -c "print(round($t1 - $t0, 3))"; }
declare -A single
total=0
for t in configuration database filesystem; do
  cold
  single[$t]=$(timed "$LB" --config "$W/lifeboat.toml" backup --type "$t" --full)
  total=$(python3 -c "print(round($total + ${single[$t]}, 3))")
done
cold
all=$(timed "$LB" --config "$W/lifeboat.toml" backup --all --full)
echo "| backup | wall s |"
echo "|---|---:|"
for t in configuration database filesystem; do printf '| %s alone | %.2f |\n' "$t" "${single[$t]}"; done
printf '| sum of the three | %.2f |\n' "$total"
printf '| backup --all (parallel) | %.2f |\n' "$all"
printf '\nbackup --all / sum = %.2f\n' "$(python3 -c "print($all / $total)")"
echo
(cd "$REPO_ROOT" && cargo bench --bench job_overhead 2>/dev/null | grep 'no-op')
