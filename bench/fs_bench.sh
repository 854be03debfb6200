#!/usr/bin/env bash
# Filesystem benchmark: lifeboat vs tar|zstd -T0, tar|gzip and restic.
#
#   sudo bench/fs_bench.sh [--scale S] [--workdir DIR] [--seed N]
#                          [--lifeboat BIN] [--no-build] [--no-lifeboat] [--runs N]
#
# See bench/README.md. Runs as root (drops the page cache, installs packages).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
SCALE=1.0
SEED=42
WORKDIR=/var/tmp/lifeboat-bench
LIFEBOAT_BIN=""
BUILD=1
RUN_LIFEBOAT=1
RUNS=3

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --workdir) WORKDIR="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --lifeboat) LIFEBOAT_BIN="$2"; BUILD=0; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-lifeboat) RUN_LIFEBOAT=0; BUILD=0; shift ;;
    --runs) RUNS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (needs to drop the page cache and install packages)"

# ---------------------------------------------------------------- tools
APT_UPDATED=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y "$@" >/dev/null 2>&1; then
    if [[ $APT_UPDATED -eq 0 ]]; then apt-get update >/dev/null; APT_UPDATED=1; fi
    apt-get install -y "$@" >/dev/null
  fi
}
command -v zstd >/dev/null || { log "installing zstd"; apt_install zstd; }
command -v gzip >/dev/null || { log "installing gzip"; apt_install gzip; }
[[ -x /usr/bin/time ]] || { log "installing GNU time"; apt_install time; }
command -v restic >/dev/null || { log "installing restic"; apt_install restic; }
command -v python3 >/dev/null || die "python3 is required"
/usr/bin/time -f "%e %M" true 2>/dev/null || die "/usr/bin/time is not GNU time"

if [[ $RUN_LIFEBOAT -eq 1 ]]; then
  if [[ $BUILD -eq 1 ]]; then
    log "building lifeboat (cargo build --release in $REPO_ROOT)"
    (cd "$REPO_ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
  fi
  if [[ -z "$LIFEBOAT_BIN" ]]; then
    LIFEBOAT_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/lifeboat"
  fi
  [[ -x "$LIFEBOAT_BIN" ]] || die "lifeboat binary not found: $LIFEBOAT_BIN"
  LIFEBOAT_BIN="$(cd "$(dirname "$LIFEBOAT_BIN")" && pwd)/$(basename "$LIFEBOAT_BIN")"
fi

# ---------------------------------------------------------------- workdir
mkdir -p "$WORKDIR"
WORKDIR="$(cd "$WORKDIR" && pwd)"
W="$WORKDIR"
TREE="$W/tree-s${SCALE}-seed${SEED}"
MARKER="$TREE.gen.json"

log "cleaning $W (keeping tree caches)"
shopt -s nullglob dotglob
for p in "$W"/*; do
  case "$p" in
    "$W"/tree-s*) ;;   # generated tree caches (and their markers)
    *) rm -rf -- "$p" ;;
  esac
done
shopt -u nullglob dotglob
mkdir -p "$W/logs"

tree_ok() {
  [[ -d "$TREE" && -f "$MARKER" ]] || return 1
  python3 - "$MARKER" "$SEED" "$SCALE" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
ok = m.get("complete") and not m.get("mutated") and m.get("seed") == int(sys.argv[2]) \
    and abs(m.get("scale", -1) - float(sys.argv[3])) < 1e-9
sys.exit(0 if ok else 1)
EOF
}
if tree_ok; then
  log "reusing generated tree $TREE"
else
  log "generating tree $TREE (seed $SEED, scale $SCALE)"
  rm -rf -- "$TREE" "$MARKER"
  python3 "$SCRIPT_DIR/gen_tree.py" "$TREE" --seed "$SEED" --scale "$SCALE" >&2
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if python3 -c 'import os,sys; sys.exit(0 if os.getloadavg()[0] > 0.5 else 1)'; then
  log "WARNING: load average is $LOAD_START; other work on this machine will make the numbers noisy"
fi
TREE_FILES=$(find "$TREE" -type f | wc -l)
TREE_BYTES=$(du -sb "$TREE" | cut -f1)
log "tree: $TREE_FILES files, $((TREE_BYTES / 1048576)) MiB"

# ---------------------------------------------------------------- measuring
DROP_METHOD=""
drop_caches() {
  sync
  if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    [[ -n "$DROP_METHOD" ]] || { DROP_METHOD="drop_caches"; log "page cache: sync; echo 3 > /proc/sys/vm/drop_caches"; }
  else
    [[ -n "$DROP_METHOD" ]] || { DROP_METHOD="fadvise"; log "page cache: drop_caches not permitted, falling back to posix_fadvise(DONTNEED) walk over $W"; }
    python3 - "$W" <<'EOF'
import os, sys
for root, dirs, files in os.walk(sys.argv[1]):
    for name in files:
        p = os.path.join(root, name)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            os.fdatasync(fd)
        except OSError:
            pass
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
EOF
  fi
}

# measure LABEL CMD: drop caches, run CMD under GNU time. Sets WALL and RSS_KIB.
# Returns CMD's exit status; stdout/stderr go to $W/logs/LABEL.{out,err}.
WALL=""; RSS_KIB=""
measure() {
  local label="$1" cmd="$2" rc=0
  drop_caches
  log "run $label: $cmd"
  /usr/bin/time -f "%e %M" -o "$W/logs/$label.time" bash -c "set -o pipefail; $cmd" \
    >"$W/logs/$label.out" 2>"$W/logs/$label.err" || rc=$?
  read -r WALL RSS_KIB < <(tail -n 1 "$W/logs/$label.time")
  if [[ $rc -ne 0 ]]; then
    log "  FAILED (exit $rc) after ${WALL}s; last lines of $W/logs/$label.err:"
    tail -n 15 "$W/logs/$label.err" | sed 's/^/    /' >&2
  else
    log "  ${WALL}s, peak RSS $((RSS_KIB / 1024)) MiB"
  fi
  return $rc
}

dusize() { local t=0 s; for p in "$@"; do [[ -e "$p" ]] && { s=$(du -sb "$p" | cut -f1); t=$((t + s)); }; done; echo "$t"; }

# Results: one line per step, tab-separated: key step tool wall rss_kib bytes note
RESULTS="$W/results.tsv"
: > "$RESULTS"
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RESULTS"; }
record_fail() { record "$1" "$2" "$3" "FAILED" "" "" "${4:-see $W/logs/$1.err}"; }

VERIFY=()
verify() { # verify NAME SRC RESTORED
  local name="$1" src="$2" dst="$3"
  if [[ -d "$dst" ]] && diff -r --no-dereference -q "$src" "$dst" > "$W/logs/verify-$name.diff" 2>&1; then
    VERIFY+=("$name: restored tree is byte-identical to the source (diff -r)")
    log "verify $name: identical"
  else
    VERIFY+=("$name: MISMATCH — see $W/logs/verify-$name.diff ($(wc -l < "$W/logs/verify-$name.diff" 2>/dev/null || echo '?') differences)")
    log "verify $name: MISMATCH"; head -n 5 "$W/logs/verify-$name.diff" >&2 || true
  fi
}

# ---------------------------------------------------------------- D/E: restic and lifeboat
export RESTIC_PASSWORD="lifeboat-bench-password"
export RESTIC_REPOSITORY="$W/restic-repo"
export RESTIC_CACHE_DIR="$W/restic-cache"
restic init >"$W/logs/restic-init.out" 2>&1 || die "restic init failed (see $W/logs/restic-init.out)"
RESTIC_FMT=$(restic cat config 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("version","?"))' || echo "?")
rsize() { dusize "$RESTIC_REPOSITORY"; }

CFG="$W/lifeboat.toml"
LB_OK=0
lb_ids() { # prints the ids of all filesystem backups, one per line
  "$LIFEBOAT_BIN" --config "$CFG" --json list --type filesystem 2>"$W/logs/lb-list.err" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
ids = []
def walk(x):
    if isinstance(x, dict):
        if "id" in x and isinstance(x["id"], (str, int)):
            ids.append(str(x["id"]))
            return
        for v in x.values(): walk(v)
    elif isinstance(x, list):
        for v in x: walk(v)
walk(doc)
print("\n".join(ids))'
}
new_id() { # new_id BEFORE_FILE: the id that is in the current list and not in BEFORE_FILE
  lb_ids > "$W/ids.after" || return 1
  grep -vxF -f "$1" "$W/ids.after" | tail -n 1
}
lsize() { dusize "$W/lb-repo" "$W/lb-catalog.db"; }

if [[ $RUN_LIFEBOAT -eq 1 ]]; then
  cat > "$CFG" <<EOF
[repository]
path = "$W/lb-repo"

[catalog]
path = "$W/lb-catalog.db"

[encryption]
key_file = "$W/lb.key"
encrypt = true

[compression]
algorithm = "zstd"

[sources.filesystem]
paths = ["$TREE"]
EOF
  if "$LIFEBOAT_BIN" --config "$CFG" key generate >"$W/logs/lb-keygen.out" 2>&1; then
    LB_OK=1
  else
    log "lifeboat key generate failed:"; sed 's/^/    /' "$W/logs/lb-keygen.out" >&2
    record_fail lb_keygen "key generate" lifeboat "$W/logs/lb-keygen.out"
  fi
fi

# full backups: tar | zstd -T0 and lifeboat alternate, $RUNS times each (the
# report takes the median); then tar | gzip and restic once.
LB_FULL_ID=""; LB_INC_ID=""
for ((run = 1; run <= RUNS; run++)); do
  rm -f "$W/out.tar.zst"
  measure tar_zstd "tar -cf - -C '$TREE' . | zstd -T0 -q -o '$W/out.tar.zst'" || die "tar | zstd failed"
  record tar_zstd "full backup" 'tar -cf - | zstd -T0' "$WALL" "$RSS_KIB" "$(dusize "$W/out.tar.zst")" ""
  if [[ $LB_OK -eq 1 ]]; then
    : > "$W/ids.before"; lb_ids > "$W/ids.before" 2>/dev/null || : > "$W/ids.before"
    s0=$(lsize)
    if measure lb_full "'$LIFEBOAT_BIN' --config '$CFG' backup --type filesystem --full"; then
      record lb_full "full backup" "lifeboat (zstd, encrypted)" "$WALL" "$RSS_KIB" "$(( $(lsize) - s0 ))" ""
      LB_FULL_ID=$(new_id "$W/ids.before" || true)
      log "  lifeboat full backup id: ${LB_FULL_ID:-?}"
    else
      record_fail lb_full "full backup" "lifeboat (zstd, encrypted)"; LB_OK=0
    fi
  fi
done
rm -f "$W/out.tar.zst"

measure tar_gzip "tar -cf - -C '$TREE' . | gzip > '$W/out.tar.gz'" || die "tar | gzip failed"
record tar_gzip "full backup" 'tar -cf - | gzip' "$WALL" "$RSS_KIB" "$(dusize "$W/out.tar.gz")" ""
rm -f "$W/out.tar.gz"

s0=$(rsize)
measure restic_full "restic backup '$TREE'" || die "restic backup failed"
record restic_full "full backup" restic "$WALL" "$RSS_KIB" "$(( $(rsize) - s0 ))" ""

# no-change incrementals
s0=$(rsize)
measure restic_nochange "restic backup '$TREE'" || die "restic backup (no change) failed"
record restic_nochange "no-change incremental" restic "$WALL" "$RSS_KIB" "$(( $(rsize) - s0 ))" ""

if [[ $LB_OK -eq 1 ]]; then
  lb_ids > "$W/ids.before" 2>/dev/null || : > "$W/ids.before"
  s0=$(lsize)
  if measure lb_nochange "'$LIFEBOAT_BIN' --config '$CFG' backup --type filesystem"; then
    record lb_nochange "no-change incremental" "lifeboat (zstd, encrypted)" "$WALL" "$RSS_KIB" "$(( $(lsize) - s0 ))" ""
  else
    record_fail lb_nochange "no-change incremental" "lifeboat (zstd, encrypted)"
  fi
fi

# mutate 1 %
log "mutating ~1% of the files"
python3 "$SCRIPT_DIR/gen_tree.py" "$TREE" --seed "$SEED" --scale "$SCALE" --mutate-percent 1 >&2
MUTATED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("mutated_files","?"))' "$MARKER")

s0=$(rsize)
measure restic_inc "restic backup '$TREE'" || die "restic backup (1% changed) failed"
record restic_inc "incremental, 1% changed" restic "$WALL" "$RSS_KIB" "$(( $(rsize) - s0 ))" ""

if [[ $LB_OK -eq 1 ]]; then
  lb_ids > "$W/ids.before" 2>/dev/null || : > "$W/ids.before"
  s0=$(lsize)
  if measure lb_inc "'$LIFEBOAT_BIN' --config '$CFG' backup --type filesystem"; then
    record lb_inc "incremental, 1% changed" "lifeboat (zstd, encrypted)" "$WALL" "$RSS_KIB" "$(( $(lsize) - s0 ))" ""
    LB_INC_ID=$(new_id "$W/ids.before" || true)
    log "  lifeboat incremental id: ${LB_INC_ID:-?}"
  else
    record_fail lb_inc "incremental, 1% changed" "lifeboat (zstd, encrypted)"
  fi
fi

# restores, all of the latest state (the mutated tree): the reference
# restores a tar | zstd -T0 archive of that tree, made here (not measured);
# lifeboat restores its chain (full + two incrementals). The two alternate,
# $RUNS times each, then restic once. Every restore goes to a new directory
# and none is removed before the last one is measured: on a filesystem
# without a journal (like this machine's ext4) inodes freed by a large
# `rm -rf` are skipped by the allocator for a minute or more, which would
# slow down whichever restore came next.
log "archiving the mutated tree for the reference restore (not measured)"
tar -cf - -C "$TREE" . | zstd -T0 -q -o "$W/final.tar.zst"
LB_RESTORE_ID=""
if [[ $LB_OK -eq 1 ]]; then
  LB_RESTORE_ID="${LB_INC_ID:-$LB_FULL_ID}"
  if [[ -z "$LB_RESTORE_ID" ]]; then
    LB_RESTORE_ID=$(lb_ids 2>/dev/null | tail -n 1 || true)
  fi
  if [[ -z "$LB_RESTORE_ID" ]]; then
    log "could not find a lifeboat backup id (see $W/logs/lb-list.err)"
    record_fail lb_restore "restore" "lifeboat (zstd, encrypted)" "no backup id from 'lifeboat --json list'"
  fi
fi
for ((run = 1; run <= RUNS; run++)); do
  mkdir -p "$W/restore-tar-$run"
  measure tar_restore "zstd -dc '$W/final.tar.zst' | tar -xf - -C '$W/restore-tar-$run'" || die "zstd -dc | tar -x failed"
  record tar_restore "restore" 'zstd -dc | tar -x' "$WALL" "$RSS_KIB" "$(dusize "$W/restore-tar-$run")" ""
  verify "tar|zstd (run $run)" "$TREE" "$W/restore-tar-$run"
  if [[ -n "$LB_RESTORE_ID" ]]; then
    if measure lb_restore "'$LIFEBOAT_BIN' --config '$CFG' restore --type filesystem --id '$LB_RESTORE_ID' --target '$W/restore-lb-$run'"; then
      record lb_restore "restore" "lifeboat (zstd, encrypted)" "$WALL" "$RSS_KIB" "$(dusize "$W/restore-lb-$run")" "id $LB_RESTORE_ID"
      verify "lifeboat (run $run)" "$TREE" "$W/restore-lb-$run$TREE"
    else
      record_fail lb_restore "restore" "lifeboat (zstd, encrypted)"
    fi
  fi
done
mkdir -p "$W/restore-restic"
measure restic_restore "restic restore latest --target '$W/restore-restic'" || die "restic restore failed"
record restic_restore "restore" restic "$WALL" "$RSS_KIB" "$(dusize "$W/restore-restic")" ""
verify restic "$TREE" "$W/restore-restic$TREE"
log "removing the restored trees"
rm -rf "$W"/restore-* "$W/final.tar.zst"

# ---------------------------------------------------------------- report
mkdir -p "$SCRIPT_DIR/results"
OUT="$SCRIPT_DIR/results/fs-$(date +%Y-%m-%d-%H%M).md"
LB_VERSION="not run"
if [[ $RUN_LIFEBOAT -eq 1 ]]; then
  LB_VERSION="$("$LIFEBOAT_BIN" --version 2>/dev/null | head -n 1 | sed 's/^lifeboat //' || echo '?')"
  LB_VERSION+=" (${BENCH_LIFEBOAT_REV:-$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo '?')})"
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
export LOAD_START LOAD_END TREE_FILES TREE_BYTES SCALE SEED DROP_METHOD MUTATED LB_VERSION RESTIC_FMT
VERIFY_TXT="$(printf '%s\n' "${VERIFY[@]}")"
export VERIFY_TXT
python3 - "$RESULTS" > "$OUT" <<'EOF'
import os, platform, subprocess, sys, datetime

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except Exception:
        return "?"

# A step run several times (--runs) has one line per run: the table shows
# the median wall time, every run's time, and the largest RSS.
runs = {}
order = []
for line in open(sys.argv[1]):
    key, step, tool, wall, rss, size, note = line.rstrip("\n").split("\t")
    if key not in runs:
        runs[key] = []
        order.append(key)
    runs[key].append(dict(step=step, tool=tool, wall=None if wall == "FAILED" else float(wall),
                          rss=int(rss) if rss else None, size=int(size) if size else None, note=note))
rows = {}
for key, rs in runs.items():
    failed = [r for r in rs if r["wall"] is None]
    if failed:
        rows[key] = failed[0]
        continue
    walls = sorted(r["wall"] for r in rs)
    rows[key] = dict(rs[-1], wall=walls[len(walls) // 2],
                     rss=max((r["rss"] for r in rs if r["rss"] is not None), default=None),
                     runs=[r["wall"] for r in rs])

def wall(k):
    return rows[k]["wall"] if k in rows and rows[k]["wall"] is not None else None

def mib(b):
    if b is None: return "—"
    if b < 1024: return f"{b} B"
    if b < 1024 * 1024: return f"{b / 1024:.0f} KiB"
    if b < 10 * 1024 * 1024: return f"{b / 1048576:.2f} MiB"
    return f"{b / 1048576:.0f} MiB"

def cell(x):
    return str(x).replace("|", "\\|")

ref_full, ref_nochange, ref_restore, ref_inc = wall("tar_zstd"), wall("restic_nochange"), wall("tar_restore"), wall("restic_inc")
ref_of = {
    "tar_zstd": (ref_full, "tar|zstd"), "tar_gzip": (ref_full, "tar|zstd"),
    "restic_full": (ref_full, "tar|zstd"), "lb_full": (ref_full, "tar|zstd"),
    "restic_nochange": (ref_nochange, "restic 2nd"), "lb_nochange": (ref_nochange, "restic 2nd"),
    "restic_inc": (ref_inc, "restic incr."), "lb_inc": (ref_inc, "restic incr."),
    "tar_restore": (ref_restore, "zstd -dc|tar -x"), "restic_restore": (ref_restore, "zstd -dc|tar -x"),
    "lb_restore": (ref_restore, "zstd -dc|tar -x"),
}
targets = {"lb_full": 1.0, "lb_nochange": 1 / 3, "lb_restore": 1.0}
names = {"lb_full": "Full backup", "lb_nochange": "No-change incremental", "lb_restore": "Restore"}
target_txt = {"lb_full": "≤ 1.0× tar|zstd -T0", "lb_nochange": "≤ 0.33× restic", "lb_restore": "≤ 1.0× zstd -dc|tar -x"}

out = []
p = out.append
p(f"# Filesystem benchmark — {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}")
p("")
tb = int(os.environ["TREE_BYTES"])
p(f"- Tree: {os.environ['TREE_FILES']} files, {tb / 1048576:.0f} MiB (bench/gen_tree.py, seed {os.environ['SEED']}, scale {os.environ['SCALE']}); "
  f"incremental after changing {os.environ.get('MUTATED', '?')} files (~1%).")
p(f"- Machine: {os.cpu_count()} CPUs, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, Linux {platform.release()}.")
p(f"- Page cache dropped before every step ({os.environ.get('DROP_METHOD') or '?'}). "
  f"Load average at start {os.environ.get('LOAD_START')}, at end {os.environ.get('LOAD_END')} (other load makes the numbers noisy).")
p(f"- Versions: lifeboat {os.environ.get('LB_VERSION')}; {sh('restic version')} (repo format v{os.environ.get('RESTIC_FMT')}); "
  f"{sh('zstd --version').strip('* ')}; {sh('gzip --version')}; {sh('tar --version')}.")
p("- Wall time and peak RSS from GNU time (`%e %M`; for pipelines, the largest process). "
  "Steps run more than once alternate with their reference; the table shows the median wall time (all runs in the last column) and the largest RSS.")
p("- Restores are of the latest (mutated) tree: the reference restores a `tar | zstd -T0` archive of it; lifeboat restores its chain (full + no-change incremental + 1% incremental). "
  "No restore directory is removed until all restores are done (on this journal-less ext4, inodes freed by a big `rm -rf` slow the next restore's file creation).")
p("")
summary = []
p("| Step | Tool | Wall s | Peak RSS MiB | Output size | Ratio | Target | Runs (s) |")
p("|---|---|---:|---:|---:|---|---|---|")
for k in order:
    r = rows[k]
    if r["wall"] is None:
        p("| " + " | ".join(cell(c) for c in (r['step'], r['tool'], "FAILED", "—", "—", "—", (('**not met** (' + target_txt[k] + ') ') if k in targets else '') + r['note'], "")) + " |")
        if k in targets:
            summary.append(f"- {names[k]}: lifeboat FAILED ({r['note']})")
        continue
    ref, refname = ref_of.get(k, (None, ""))
    ratio = f"{r['wall'] / ref:.2f}× {refname}" if ref else "—"
    tgt = ""
    rss_mib = r["rss"] / 1024 if r["rss"] is not None else None
    if k in targets and ref:
        ok = r["wall"] / ref <= targets[k]
        tgt = ("met" if ok else "**not met**") + f" ({target_txt[k]})"
    if k.startswith("lb_") and rss_mib is not None:
        tgt += ("; " if tgt else "") + ("RSS < 100 MiB met" if rss_mib < 100 else "**RSS < 100 MiB not met**")
    size = mib(r["size"])
    if r["note"]:
        size += f" ({r['note']})" if not r["note"].startswith("id ") else ""
    allruns = " / ".join(f"{w:.2f}" for w in r.get("runs", [])) if len(r.get("runs", [])) > 1 else ""
    p("| " + " | ".join(cell(c) for c in (r['step'], r['tool'], f"{r['wall']:.2f}", f"{rss_mib:.1f}", size, ratio, tgt, allruns)) + " |")
    if k in targets and ref:
        summary.append(f"- {names[k]}: lifeboat {r['wall']:.2f} s vs {ref:.2f} s = {r['wall'] / ref:.2f}× (target {target_txt[k]}): {'met' if r['wall'] / ref <= targets[k] else 'NOT met'}")
p("")
lb_rss = [rows[k]["rss"] / 1024 for k in order if k.startswith("lb_") and rows[k]["rss"] is not None]
if lb_rss:
    summary.append(f"- Peak memory: lifeboat max {max(lb_rss):.1f} MiB over all steps (target < 100 MiB): {'met' if max(lb_rss) < 100 else 'NOT met'}")
if summary:
    p("Targets:")
    p("")
    out.extend(summary)
    p("")
p("Output size: archive size for tar; growth of the repository (plus catalog, for lifeboat) for backups; restored bytes for restores.")
p("")
p("Restore verification:")
p("")
for v in os.environ.get("VERIFY_TXT", "").splitlines():
    if v: p(f"- {v}")
print("\n".join(out))
EOF
cat "$OUT"
log "results written to $OUT"
