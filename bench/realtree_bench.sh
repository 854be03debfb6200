#!/usr/bin/env bash
# Real-tree benchmark and fidelity check: lifeboat vs GNU tar + zstd on a copy
# of a real system tree (shared libraries, /usr/bin, docs) plus a sparse file.
#
#   sudo bench/realtree_bench.sh [--workdir DIR] [--runs N] [--lifeboat BIN | --no-build]
#                                [--src DIR]...
#
# See bench/README.md. Runs as root (drops the page cache, copies system files).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
WORKDIR=/var/tmp/lifeboat-realtree
RUNS=3
LIFEBOAT_BIN=""
BUILD=1
SRCS=()

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workdir) WORKDIR="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --lifeboat) LIFEBOAT_BIN="$2"; BUILD=0; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --src) SRCS+=("$2"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ ${#SRCS[@]} -gt 0 ]] || SRCS=(/usr/lib/x86_64-linux-gnu /usr/bin /usr/share/doc)
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 1 ]] || { echo "--runs must be a positive integer" >&2; exit 2; }

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (drops the page cache, keeps owners and setuid bits)"
for t in tar zstd python3; do command -v $t >/dev/null || die "$t is required"; done
/usr/bin/time -f "%e %M" true 2>/dev/null || die "/usr/bin/time (GNU time) is required"

if [[ $BUILD -eq 1 ]]; then
  log "building lifeboat (cargo build --release)"
  (cd "$REPO_ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
fi
[[ -n "$LIFEBOAT_BIN" ]] || LIFEBOAT_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/lifeboat"
[[ -x "$LIFEBOAT_BIN" ]] || die "lifeboat binary not found: $LIFEBOAT_BIN"

mkdir -p "$WORKDIR"; W="$(cd "$WORKDIR" && pwd)"
log "cleaning $W"
find "$W" -mindepth 1 -maxdepth 1 ! -name tree -exec rm -rf {} +
mkdir -p "$W/logs"
TREE="$W/tree"

# ------------------------------------------------------------------ the tree
# A copy keeps the measurement off the live system and lets us add what a
# system tree lacks: a sparse file, xattrs, an ACL, a capability, a FIFO.
if [[ ! -f "$TREE/.complete" ]]; then
  rm -rf "$TREE"; mkdir -p "$TREE"
  for s in "${SRCS[@]}"; do
    log "copying $s (cp -a keeps hard links, symlinks, modes, owners, xattrs)"
    mkdir -p "$TREE$(dirname "$s")"
    cp -a "$s" "$TREE$(dirname "$s")/"
  done
  mkdir -p "$TREE/extra"
  # 2 GiB apparent, 3 x 64 KiB of data: start, middle, end.
  python3 - "$TREE/extra/sparse.img" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o640)
size = 2 << 30
os.ftruncate(fd, size)
for off in (0, size // 2, size - 65536):
    os.pwrite(fd, os.urandom(65536), off)
os.close(fd)
EOF
  head -c $((8 << 20)) /dev/zero > "$TREE/extra/dense-zeros.bin"
  mkfifo "$TREE/extra/fifo"
  echo data > "$TREE/extra/xattr.txt"
  python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.lifeboat", b"bench\0value")' "$TREE/extra/xattr.txt" 2>/dev/null \
    || log "note: this filesystem does not take user.* xattrs"
  # An access ACL granting nobody (65534) read, as setfacl -m u:nobody:r writes it.
  python3 - "$TREE/extra/xattr.txt" <<'EOF' || log "note: this filesystem does not take POSIX ACLs"
import os, struct, sys
e = lambda tag, perm, uid: struct.pack("<HHI", tag, perm, uid)
acl = struct.pack("<I", 2) + e(1, 6, 0xFFFFFFFF) + e(2, 4, 65534) + e(4, 4, 0xFFFFFFFF) \
    + e(0x10, 4, 0xFFFFFFFF) + e(0x20, 4, 0xFFFFFFFF)
os.setxattr(sys.argv[1], "system.posix_acl_access", acl)
EOF
  command -v setcap >/dev/null && cp /usr/bin/true "$TREE/extra/cap-true" && setcap cap_net_bind_service+ep "$TREE/extra/cap-true" \
    || log "note: no setcap, no capability in the tree"
  touch "$TREE/.complete"
fi
FILES=$(find "$TREE" -type f | wc -l)
APPARENT=$(du -sb --apparent-size "$TREE" | cut -f1)
ALLOC=$(du -sB1 "$TREE" | cut -f1)
log "tree: $FILES files, $((APPARENT >> 20)) MiB apparent, $((ALLOC >> 20)) MiB allocated"

# ------------------------------------------------------------------ measuring
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
WALL=""; RSS=""
measure() { # measure LABEL CMD [OK_EXIT_CODES]
  local label="$1" cmd="$2" ok="${3:-0}" rc=0
  drop_caches
  log "run $label"
  /usr/bin/time -f "%e %M" -o "$W/logs/$label.time" bash -c "set -o pipefail; $cmd" \
    >"$W/logs/$label.out" 2>"$W/logs/$label.err" || rc=$?
  read -r WALL RSS < <(tail -n 1 "$W/logs/$label.time")
  RSS=$((RSS / 1024))
  [[ " $ok " == *" $rc "* ]] || { tail -n 20 "$W/logs/$label.err" >&2; die "$label failed (exit $rc)"; }
  [[ $rc -eq 0 ]] || log "  exit $rc; warnings in $W/logs/$label.err"
  log "  ${WALL}s, peak RSS ${RSS} MiB"
}

# What a restore must give back: type, mode, owner, group, size, mtime,
# symlink target, link count, xattrs (incl. ACLs and capabilities), and
# allocated blocks for sparse files (du would show a hole filled).
listing() { # listing DIR OUT
  # (a directory's size is the filesystem's business, not the tree's)
  (cd "$1" && { find . -type d -printf '%P %y %m %U %G %T@\n'
                find . ! -type d -printf '%P %y %m %U %G %s %T@ %n %l\n'; } | LC_ALL=C sort) > "$2.find"
  python3 - "$1" > "$2.xattr" <<'EOF'
import os, sys
root = sys.argv[1]
out = []
for d, dirs, files in os.walk(root):
    for n in [d] + [os.path.join(d, f) for f in files + dirs]:
        try:
            names = os.listxattr(n, follow_symlinks=False)
        except OSError:
            continue
        for a in names:
            v = os.getxattr(n, a, follow_symlinks=False)
            out.append(f"{os.path.relpath(n, root)} {a} {v.hex()}")
print("\n".join(sorted(set(out))))
EOF
  du -sB1 "$1/extra/sparse.img" "$1/extra/dense-zeros.bin" | awk '{print $1}' > "$2.du"
}
CFG="$W/lifeboat.toml"
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
"$LIFEBOAT_BIN" --config "$CFG" key generate >"$W/logs/keygen.out" 2>&1 || die "key generate failed"
listing "$TREE" "$W/src"

declare -a TB TR LB LR TBM TRM LBM LRM
for ((run = 1; run <= RUNS; run++)); do
  rm -f "$W/out.tar.zst"; rm -rf "$W/tar-restore" "$W/lb-restore"
  measure "tar-backup-$run" "tar --xattrs --xattrs-include='*' --acls -S -cpf - -C '$TREE' . | zstd -T0 -q -o '$W/out.tar.zst'"
  TB+=("$WALL"); TBM+=("$RSS")
  measure "lb-backup-$run" "'$LIFEBOAT_BIN' --config '$CFG' backup --type filesystem --full" "0 3"
  LB+=("$WALL"); LBM+=("$RSS")
  ID=$("$LIFEBOAT_BIN" --config "$CFG" --json list --type filesystem | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  mkdir "$W/tar-restore"
  measure "tar-restore-$run" "zstd -dc '$W/out.tar.zst' | tar --xattrs --xattrs-include='*' --acls -S -xpf - -C '$W/tar-restore'"
  TR+=("$WALL"); TRM+=("$RSS")
  measure "lb-restore-$run" "'$LIFEBOAT_BIN' --config '$CFG' restore --id '$ID' --target '$W/lb-restore' --yes"
  LR+=("$WALL"); LRM+=("$RSS")
  TAR_SIZE=$(stat -c %s "$W/out.tar.zst")
done
LB_SIZE=$(stat -c %s "$("$LIFEBOAT_BIN" --config "$CFG" --json list --type filesystem | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["file"])')")

# Fidelity: the last restores against the source. lifeboat restores the
# absolute roots under the target, as tar stores ./ relative paths.
LB_ROOT="$W/lb-restore$TREE"
listing "$LB_ROOT" "$W/lb"
listing "$W/tar-restore" "$W/tar"
fidelity() { # fidelity NAME PREFIX RESTORED
  local d=0
  for k in find xattr du; do
    if ! diff -q "$W/src.$k" "$2.$k" >/dev/null; then
      d=1; diff "$W/src.$k" "$2.$k" | head -n 8 | sed "s/^/    $1 $k: /" >&2
    fi
  done
  # (diff cannot compare FIFOs; the listing above covers them)
  diff -r --no-dereference --exclude=fifo -q "$TREE" "$3" > "$W/logs/diff-$1" 2>&1 || d=1
  [[ $d -eq 0 ]] && echo "identical" || echo "DIFFERS (see $W/logs/diff-$1 and the listings $2.*)"
}
LB_FID=$(fidelity lifeboat "$W/lb" "$LB_ROOT")
TAR_FID=$(fidelity tar "$W/tar" "$W/tar-restore")

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
max() { printf '%s\n' "$@" | sort -g | tail -n 1; }
mTB=$(median "${TB[@]}"); mLB=$(median "${LB[@]}"); mTR=$(median "${TR[@]}"); mLR=$(median "${LR[@]}")
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
OUT="$SCRIPT_DIR/results/realtree-$(date +%Y-%m-%d-%H%M).md"
{
  echo "# Real-tree benchmark — $(date '+%Y-%m-%d %H:%M')"
  echo
  echo "- tree: ${SRCS[*]} copied with cp -a, plus a 2 GiB sparse file (192 KiB data), 8 MiB of dense zeros, a FIFO, a user.* xattr, an access ACL and a file capability"
  echo "- $FILES files, $((APPARENT >> 20)) MiB apparent, $((ALLOC >> 20)) MiB allocated"
  echo "- machine: $(nproc) CPUs, $(uname -r); lifeboat $(cd "$REPO_ROOT" && git describe --always --dirty); $(tar --version | head -n 1); $(zstd --version)"
  echo "- cold cache before every step (sync; echo 3 > drop_caches); median of $RUNS runs; peak RSS is the largest single process"
  echo
  echo "| step | tar --xattrs --acls -S \| zstd -T0 | lifeboat (zstd, encrypted) | ratio | target |"
  echo "|---|---:|---:|---:|---|"
  echo "| full backup, s | $mTB | $mLB | $(ratio "$mLB" "$mTB")× | ≤ 1.0× |"
  echo "| restore, s | $mTR | $mLR | $(ratio "$mLR" "$mTR")× | ≤ 1.0× |"
  echo "| backup peak RSS, MiB | $(max "${TBM[@]}") | $(max "${LBM[@]}") | | < 100 |"
  echo "| restore peak RSS, MiB | $(max "${TRM[@]}") | $(max "${LRM[@]}") | | < 100 |"
  echo "| output size, MiB | $((TAR_SIZE >> 20)) | $((LB_SIZE >> 20)) | $(ratio "$LB_SIZE" "$TAR_SIZE")× | |"
  echo
  echo "Runs (s): tar backup ${TB[*]}; lifeboat backup ${LB[*]}; tar restore ${TR[*]}; lifeboat restore ${LR[*]}"
  echo
  echo "Fidelity against the source (find -printf '%P %y %m %U %G %s %T@ %n %l', every xattr by listxattr, du of the sparse and dense files, diff -r):"
  echo "- lifeboat: $LB_FID"
  echo "- tar: $TAR_FID"
} | tee "$OUT"
log "report written to $OUT"
