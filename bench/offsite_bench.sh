#!/usr/bin/env bash
# Offsite copies: lifeboat vs rclone against the same S3 server (moto), in
# one run. The same ~1 GiB backup artifact is uploaded by `lifeboat copy`
# and by `rclone copy`, then brought back by `lifeboat catalog rebuild
# --from` (into an empty repository, every byte hashed against the
# manifest) and by `rclone copy` (into an empty directory). Then the files
# are restored straight from the bucket (`lifeboat restore --from`:
# streamed, nothing downloaded first), against `rclone copy` of the
# artifact alone. Wall time and peak RSS of each, and the ratios.
#
#   bench/offsite_bench.sh [--mib 1024] [--runs 1] [--lifeboat BIN]
#
# Needs moto_server (pip install 'moto[server]') and rclone (apt install
# rclone). Builds the release binary unless --lifeboat is given.
set -euo pipefail

MIB=1024
RUNS=1
BIN=""
while [ $# -gt 0 ]; do
    case "$1" in
        --mib) MIB="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --lifeboat) BIN="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
command -v moto_server >/dev/null || { echo "moto_server is not installed: pip install 'moto[server]'" >&2; exit 1; }
command -v rclone >/dev/null || { echo "rclone is not installed: apt install rclone" >&2; exit 1; }
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "$BIN" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lifeboat"
fi

WORK="$(mktemp -d /var/tmp/lifeboat-offsite.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO=$!
cleanup() { kill "$MOTO" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
ENDPOINT="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
# rclone's AWS SDK refuses a custom CA bundle with its own HTTP transport;
# the endpoint is plain HTTP on loopback, so none is needed.
unset AWS_CA_BUNDLE
export RCLONE_CONFIG_MOTO_TYPE=s3 RCLONE_CONFIG_MOTO_PROVIDER=Other
export RCLONE_CONFIG_MOTO_ENDPOINT="$ENDPOINT" RCLONE_CONFIG_MOTO_REGION=us-east-1
export RCLONE_CONFIG_MOTO_ACCESS_KEY_ID=bench RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY=bench-secret

# The source: incompressible files, backed up once without compression so
# the artifact is ~MIB MiB; the config has no target yet (no copy on backup).
mkdir -p "$WORK/app/uploads" "$WORK/app/logs"
python3 - "$WORK/app/uploads" "$MIB" <<'EOF'
import os, sys
d, mib = sys.argv[1], int(sys.argv[2])
per = 64
for i in range((mib + per - 1) // per):
    with open(os.path.join(d, f"blob{i:03}.bin"), "wb") as f:
        for _ in range(per):
            f.write(os.urandom(1 << 20))
EOF
config() {  # config FILE REPO CATALOG [BUCKET]
    cat >"$1" <<EOF
[repository]
path = "$2"
[catalog]
path = "$3"
[encryption]
key_file = "$WORK/keys/lifeboat.key"
encrypt = false
[compression]
algorithm = "none"
[sources.filesystem]
paths = ["$WORK/app/uploads", "$WORK/app/logs"]
EOF
    if [ -n "${4:-}" ]; then
        cat >>"$1" <<EOF
[[targets]]
name = "bench"
kind = "s3"
bucket = "$4"
region = "us-east-1"
endpoint = "$ENDPOINT"
EOF
        # Left out, lifeboat's defaults are measured.
        if [ -n "${LB_CONCURRENCY:-}" ]; then echo "concurrency = $LB_CONCURRENCY" >>"$1"; fi
        if [ -n "${LB_PART_MB:-}" ]; then echo "part_size_mb = $LB_PART_MB" >>"$1"; fi
    fi
}
config "$WORK/local.toml" "$WORK/repo" "$WORK/catalog.db"
"$BIN" --config "$WORK/local.toml" backup --type filesystem >/dev/null
ART="$(ls "$WORK"/repo/filesystem/*.tar | head -1)"
SIZE=$(stat -c %s "$ART")
ID="$("$BIN" --config "$WORK/local.toml" --json list | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"

measure() {  # measure CMD...: prints "seconds maxrss_kib"
    /usr/bin/time -o "$WORK/time.out" -f '%e %M' "$@" >/dev/null 2>"$WORK/err.log" \
        || { cat "$WORK/err.log" >&2; echo "FAILED: $*" >&2; exit 1; }
    tail -1 "$WORK/time.out"
}

echo "artifact: $(basename "$ART"), $((SIZE / 1048576)) MiB; moto on $ENDPOINT; $RUNS run(s)"
printf '%-8s %-28s %9s %10s\n' run what seconds "peak RSS"
for run in $(seq 1 "$RUNS"); do
    lb_bucket="lb-$run"; rc_bucket="rc-$run"
    curl -s -X PUT "$ENDPOINT/$lb_bucket" >/dev/null
    curl -s -X PUT "$ENDPOINT/$rc_bucket" >/dev/null
    config "$WORK/up.toml" "$WORK/repo" "$WORK/catalog.db" "$lb_bucket"
    # Named, so a second run copies again (the catalog remembers copies).
    # The order alternates between runs: moto (one Python process) slows as it fills.
    lb_up() { read -r lb_up_s lb_up_kb < <(measure "$BIN" --config "$WORK/up.toml" copy "$ID"); }
    rc_up() { read -r rc_up_s rc_up_kb < <(measure rclone copy --s3-upload-concurrency 4 --s3-chunk-size 8M "$WORK/repo/filesystem" "moto:$rc_bucket/filesystem"); }
    if [ $((run % 2)) -eq 1 ]; then lb_up; rc_up; else rc_up; lb_up; fi
    rm -rf "$WORK/back" "$WORK/back-rc"; mkdir -p "$WORK/back-rc"
    config "$WORK/down.toml" "$WORK/back/repo" "$WORK/back/catalog.db" "$lb_bucket"
    lb_dn() { read -r lb_dn_s lb_dn_kb < <(measure "$BIN" --config "$WORK/down.toml" catalog rebuild --from bench); }
    rc_dn() { read -r rc_dn_s rc_dn_kb < <(measure rclone copy "moto:$rc_bucket/filesystem" "$WORK/back-rc"); }
    if [ $((run % 2)) -eq 1 ]; then lb_dn; rc_dn; else rc_dn; lb_dn; fi
    rm -rf "$WORK/streamed"
    read -r lb_st_s lb_st_kb < <(measure "$BIN" --config "$WORK/up.toml" restore --id "$ID" --from bench --target "$WORK/streamed")
    diff -r "$WORK/app/uploads" "$WORK/streamed$WORK/app/uploads"
    rm -rf "$WORK/streamed"
    cmp "$ART" "$WORK/back/repo/filesystem/$(basename "$ART")"
    cmp "$ART" "$WORK/back-rc/$(basename "$ART")"
    printf '%-8s %-28s %9s %7s MiB\n' "$run" "upload lifeboat copy" "$lb_up_s" $((lb_up_kb / 1024))
    printf '%-8s %-28s %9s %7s MiB\n' "$run" "upload rclone copy" "$rc_up_s" $((rc_up_kb / 1024))
    printf '%-8s %-28s %9s %7s MiB\n' "$run" "restore lifeboat --from" "$lb_dn_s" $((lb_dn_kb / 1024))
    printf '%-8s %-28s %9s %7s MiB\n' "$run" "restore rclone copy" "$rc_dn_s" $((rc_dn_kb / 1024))
    printf '%-8s %-28s %9s %7s MiB\n' "$run" "restore files --from (stream)" "$lb_st_s" $((lb_st_kb / 1024))
    python3 -c "print(f'{\"$run\":8} ratio lifeboat/rclone: upload {$lb_up_s/$rc_up_s:.2f}x, restore {$lb_dn_s/$rc_dn_s:.2f}x, files streamed {$lb_st_s/$rc_dn_s:.2f}x')"
    rclone purge "moto:$lb_bucket" 2>/dev/null || true
    rclone purge "moto:$rc_bucket" 2>/dev/null || true
done
