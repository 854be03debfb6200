#!/usr/bin/env bash
# PostgreSQL benchmark: lifeboat database backup/restore vs pg_dump/pg_restore.
#
#   sudo bench/db_bench.sh [--scale 50] [--jsonb-rows 1000000] [--workdir DIR] [--runs N]
#                          [--lifeboat BIN | --no-build]
#
# See bench/README.md. Runs as root (drops the page cache, installs packages).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
SCALE=50
JSONB_ROWS=1000000
RUNS=1
WORKDIR=/var/tmp/lifeboat-dbbench
LIFEBOAT_BIN=""
BUILD=1
DB="${BENCH_DB:-lb_bench}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --workdir) WORKDIR="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --jsonb-rows) JSONB_ROWS="$2"; shift 2 ;;
    --lifeboat) LIFEBOAT_BIN="$2"; BUILD=0; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$SCALE" =~ ^[0-9]+$ && "$SCALE" -ge 1 ]] || { echo "--scale must be a positive integer" >&2; exit 2; }
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 1 ]] || { echo "--runs must be a positive integer" >&2; exit 2; }

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
[[ -x /usr/bin/time ]] || { log "installing GNU time"; apt_install time; }
command -v gzip >/dev/null || { log "installing gzip"; apt_install gzip; }
command -v jq >/dev/null || { log "installing jq"; apt_install jq; }
/usr/bin/time -f "%e %M" true 2>/dev/null || die "/usr/bin/time is not GNU time"
command -v python3 >/dev/null || die "python3 is required"
for t in psql pg_dump pg_restore pgbench createdb dropdb; do
  command -v "$t" >/dev/null || die "$t not found (install postgresql-client)"
done
psql -X -d postgres -Atc 'select 1' >/dev/null 2>&1 \
  || die "PostgreSQL is not reachable at $PGUSER@$PGHOST:$PGPORT (start it: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start)"

if [[ $BUILD -eq 1 ]]; then
  log "building lifeboat (cargo build --release in $REPO_ROOT)"
  (cd "$REPO_ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
fi
if [[ -z "$LIFEBOAT_BIN" ]]; then
  LIFEBOAT_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/lifeboat"
fi
[[ -x "$LIFEBOAT_BIN" ]] || die "lifeboat binary not found: $LIFEBOAT_BIN"
LIFEBOAT_BIN="$(cd "$(dirname "$LIFEBOAT_BIN")" && pwd)/$(basename "$LIFEBOAT_BIN")"

# ---------------------------------------------------------------- workdir
mkdir -p "$WORKDIR"
WORKDIR="$(cd "$WORKDIR" && pwd)"
W="$WORKDIR"
log "cleaning $W"
rm -rf -- "${W:?}"/*
mkdir -p "$W/logs"
RESULTS="$W/results.tsv"
: > "$RESULTS"

q() { psql -X -v ON_ERROR_STOP=1 -d "${2:-postgres}" -Atc "$1"; }
db_exists() { [[ "$(q "select count(*) from pg_database where datname = '$1'")" == 1 ]]; }
drop_db() { db_exists "$1" && dropdb --force "$1" || true; }

# ---------------------------------------------------------------- database
have_scale() {
  db_exists "$DB" || return 1
  local n
  n="$(q "select count(*) from pgbench_branches" "$DB" 2>/dev/null)" || return 1
  [[ "$n" == "$SCALE" ]] || return 1
  # accounts must be complete too (an interrupted -i leaves it short)
  [[ "$(q "select count(*) from pgbench_accounts" "$DB" 2>/dev/null)" == "$((SCALE * 100000))" ]] || return 1
  [[ "$(q "select count(*) from docs" "$DB" 2>/dev/null)" == "$JSONB_ROWS" ]]
}
if have_scale; then
  log "reusing database $DB (pgbench scale $SCALE)"
else
  log "creating database $DB with pgbench -i -s $SCALE"
  drop_db "$DB"
  createdb "$DB"
  pgbench -i -q -s "$SCALE" "$DB" > "$W/logs/pgbench-init.log" 2>&1 \
    || { cat "$W/logs/pgbench-init.log" >&2; die "pgbench -i failed"; }
  # The Panel app keeps documents as jsonb: a table of them beside pgbench's.
  log "adding $JSONB_ROWS jsonb documents (table docs)"
  psql -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL || die "creating the jsonb table failed"
CREATE TABLE docs (id bigint PRIMARY KEY, doc jsonb NOT NULL);
INSERT INTO docs
SELECT i, jsonb_build_object(
    'user', 'user' || (i % 5000), 'created', now() - (i || ' seconds')::interval,
    'tags', jsonb_build_array('t' || (i % 17), 't' || (i % 31)),
    'body', md5(i::text) || md5((i * 7)::text) || md5((i * 13)::text),
    'score', (i % 1000) / 10.0, 'nested', jsonb_build_object('a', i, 'b', i % 3 = 0))
FROM generate_series(1, $JSONB_ROWS) AS i;
CREATE INDEX docs_user ON docs ((doc->>'user'));
ANALYZE docs;
SQL
fi
DB_SIZE=$(q "select pg_database_size('$DB')")
DB_SIZE_PRETTY=$(q "select pg_size_pretty(pg_database_size('$DB'))")
log "database $DB: $DB_SIZE_PRETTY"
[[ $DB_SIZE -ge $((500 * 1000 * 1000)) ]] || log "WARNING: database is smaller than 500 MB (the issue asks for at least -s 40)"

TABLES=(pgbench_accounts pgbench_branches pgbench_tellers pgbench_history docs)
counts() {
  local db="$1" t out=""
  for t in "${TABLES[@]}"; do out+="$t=$(q "select count(*) from $t" "$db") "; done
  echo "${out% }"
}
REF_COUNTS="$(counts "$DB")"
log "row counts: $REF_COUNTS"

# ---------------------------------------------------------------- lifeboat config
CFG="$W/lifeboat.toml"
cat > "$CFG" <<EOF
[repository]
path = "$W/repo"
[catalog]
path = "$W/catalog.db"
[encryption]
key_file = "$W/key"
encrypt = true
[compression]
algorithm = "zstd"
[sources.database]
url = "postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
EOF
# The same with pg_dump reading every table itself (no parallel ranges).
CFG1="$W/lifeboat-jobs1.toml"
sed 's/^url = .*/&\njobs = 1/' "$CFG" > "$CFG1"
"$LIFEBOAT_BIN" --config "$CFG" key generate > "$W/logs/key-generate.log" 2>&1 \
  || { cat "$W/logs/key-generate.log" >&2; die "lifeboat key generate failed"; }

# ---------------------------------------------------------------- measuring
DROP_METHOD=""
cold() {
  q "CHECKPOINT" >/dev/null
  sync
  if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    DROP_METHOD="CHECKPOINT; sync; echo 3 > /proc/sys/vm/drop_caches"
  else
    DROP_METHOD="CHECKPOINT; sync (drop_caches not permitted: page cache stays warm)"
  fi
}

# Per-process CPU sampler: every 0.5 s, utime+stime of every thread of the
# processes involved (lifeboat, pg_dump, pg_restore, psql, gzip, postgres
# backends); at the end, CPU seconds per process/thread name. Threads that
# exit between two samples lose at most 0.5 s of CPU.
cat > "$W/sampler.py" <<'EOF'
import os, sys, time, signal
out = sys.argv[1]
hz = os.sysconf("SC_CLK_TCK")
WATCH = {"lifeboat", "pg_dump", "pg_restore", "psql", "gzip", "postgres"}
seen = {}   # (pid, tid) -> (label, ticks)
stop = False
def h(*_):
    global stop; stop = True
signal.signal(signal.SIGTERM, h)
ME = os.getpid()
ROOT = os.getppid()          # the benchmark script: measured commands are its children
DBS = set(sys.argv[2:])      # backends of these databases count as the server's share
def ppid(pid):
    try:
        st = open(f"/proc/{pid}/stat").read()
        return int(st[st.rindex(")")+2:].split()[1])
    except (OSError, ValueError):
        return 0
anc = {}
def ours(pid):
    if pid in anc: return anc[pid]
    p, n = int(pid), 0
    while p > 1 and n < 50:
        p = ppid(p); n += 1
        if p == ROOT:
            anc[pid] = int(pid) != ME; return anc[pid]
    anc[pid] = False
    return False
def label(pid, comm, tcomm):
    if comm == "postgres":
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
        if cmd.startswith("postgres: ") and "(" in cmd:   # client backend: "postgres: 15/main: USER DB HOST(PORT) ..."
            parts = cmd.split()
            db = parts[3] if len(parts) > 3 else ""
            return "postgres backend" if db in DBS else None
        return "postgres (checkpointer/walwriter/bgwriter)" if any(k in cmd for k in ("checkpointer", "walwriter", "background writer")) else None
    return comm if ours(pid) else None
def sample():
    for pid in os.listdir("/proc"):
        if not pid.isdigit(): continue
        try:
            comm = open(f"/proc/{pid}/comm").read().strip()
        except OSError:
            continue
        if comm not in WATCH: continue
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                st = open(f"/proc/{pid}/task/{tid}/stat").read()
                tcomm = st[st.index("(")+1:st.rindex(")")]
                f = st[st.rindex(")")+2:].split()
                ticks = int(f[11]) + int(f[12])
            except (OSError, ValueError):
                continue
            lb = label(pid, comm, tcomm)
            if lb is None: continue
            if comm == "lifeboat":
                lb = f"lifeboat[{tcomm}]"
            key = (pid, tid)
            if key not in seen:
                # present at the start: count from here; new since: from zero
                seen[key] = [lb, ticks if first else 0, ticks]
            else:
                seen[key][2] = ticks
start = time.time()
first = True
sample()
first = False
while not stop:
    time.sleep(0.5)
    sample()
wall = time.time() - start
agg = {}
for lb, t0, t1 in seen.values():
    agg[lb] = agg.get(lb, 0) + (t1 - t0) / hz
with open(out, "w") as fh:
    for lb, s in sorted(agg.items(), key=lambda x: -x[1]):
        if s >= 0.05:
            fh.write(f"{lb}\t{s:.1f}\t{100*s/wall:.0f}\n")
EOF

# measure ID STEP TOOL OUTPUT_FILE_OR_- CMD...  -> appends a line to $RESULTS
# Wall time and peak RSS from GNU time (%M: the largest single process among
# the command and its children, e.g. lifeboat or pg_dump, not the sum; the
# PostgreSQL server's backends are not included).
measure() {
  local id="$1" step="$2" tool="$3" out="$4"; shift 4
  cold
  log "run $RUN: $step: $tool"
  python3 "$W/sampler.py" "$W/logs/$id.cpu" "$DB" postgres r1 r2 r3 r4 & local sp=$!
  local rc=0
  /usr/bin/time -f "%e %M %U %S" -o "$W/logs/$id.time" "$@" \
    > "$W/logs/$id.stdout" 2> "$W/logs/$id.stderr" || rc=$?
  kill -TERM "$sp"; wait "$sp" || true
  if [[ $rc -ne 0 ]]; then
    log "FAILED ($rc): $*"; tail -n 5 "$W/logs/$id.stderr" >&2
    printf '%s\t%s\t%s\t%s\tFAIL\t\t\t\t%s\n' "$RUN" "$id" "$step" "$tool" "exit $rc" >> "$RESULTS"
    return 1
  fi
  local wall rss usr sys size=""
  read -r wall rss usr sys < <(tail -n 1 "$W/logs/$id.time")
  [[ "$out" == "-" ]] || size=$(stat -c %s "$out")
  local cpu; cpu="$(awk -F'\t' '{printf "%s%s %ss (%s%%)", (NR>1?"; ":""), $1, $2, $3}' "$W/logs/$id.cpu" 2>/dev/null || true)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$RUN" "$id" "$step" "$tool" "$wall" "$((rss / 1024))" "$size" "$cpu" "" >> "$RESULTS"
  log "  ${wall}s, peak RSS $((rss / 1024)) MiB${size:+, $size bytes}"
}

VERIFY=()
verify_counts() {
  local tool="$1" db="$2" got
  got="$(counts "$db")"
  if [[ "$got" == "$REF_COUNTS" ]]; then
    VERIFY+=("run $RUN, $tool → $db: row counts match ($got)")
  else
    VERIFY+=("run $RUN, $tool → $db: ROW COUNTS DIFFER: got $got, expected $REF_COUNTS")
    log "row counts differ in $db: $got (expected $REF_COUNTS)"
  fi
}

LB_SIZE=""
for RUN in $(seq 1 "$RUNS"); do
  R="$W/run$RUN"; mkdir -p "$R"
  for d in r1 r2 r3 r4; do drop_db "$d"; done

  # ---- backups
  measure "b-pgdump-fc-$RUN" backup "pg_dump -Fc" "$R/out.dump" \
    pg_dump -Fc -f "$R/out.dump" "$DB" || true
  measure "b-pgdump-gz-$RUN" backup "pg_dump -Fp | gzip" "$R/out.sql.gz" \
    bash -c "set -o pipefail; pg_dump -Fp '$DB' | gzip > '$R/out.sql.gz'" || true
  rm -f "$R/out.sql.gz"
  if measure "b-lifeboat-$RUN" backup "lifeboat (zstd, encrypted)" - \
      "$LIFEBOAT_BIN" --config "$CFG" --json backup --type database; then
    LB_ID="$(jq -r '.id' "$W/logs/b-lifeboat-$RUN.stdout")"
    LB_FILE="$(jq -r '.file' "$W/logs/b-lifeboat-$RUN.stdout")"
    [[ -f "$LB_FILE" ]] || LB_FILE="$(ls -t "$W/repo/database/"*.enc | head -n 1)"
    LB_SIZE=$(stat -c %s "$LB_FILE")
    # fill in the stored artifact's size
    python3 - "$RESULTS" "b-lifeboat-$RUN" "$LB_SIZE" <<'EOF'
import sys
p, id_, size = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(p)]
for r in rows:
    if r[1] == id_: r[6] = size
open(p, "w").write("".join("\t".join(r) + "\n" for r in rows))
EOF
    log "  lifeboat backup $LB_ID: $LB_FILE ($LB_SIZE bytes)"
  else
    LB_ID=""
  fi
  if measure "b-lifeboat1-$RUN" backup "lifeboat jobs = 1 (pg_dump reads every table)" - \
      "$LIFEBOAT_BIN" --config "$CFG1" --json backup --type database; then
    LB1_ID="$(jq -r '.id' "$W/logs/b-lifeboat1-$RUN.stdout")"
    LB1_FILE="$(jq -r '.file' "$W/logs/b-lifeboat1-$RUN.stdout")"
    python3 - "$RESULTS" "b-lifeboat1-$RUN" "$(stat -c %s "$LB1_FILE")" <<'EOF'
import sys
p, id_, size = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(p)]
for r in rows:
    if r[1] == id_: r[6] = size
open(p, "w").write("".join("\t".join(r) + "\n" for r in rows))
EOF
  else
    LB1_ID=""
  fi

  # ---- restores (the timed command creates the target database, as lifeboat does)
  if [[ -f "$R/out.dump" ]]; then
    measure "r-pgrestore-1-$RUN" restore "pg_restore" - \
      bash -c "createdb r1 && pg_restore --exit-on-error -d r1 '$R/out.dump'" && verify_counts "pg_restore" r1 || true
    drop_db r1
    measure "r-pgrestore-2-$RUN" restore "pg_restore -j 2" - \
      bash -c "createdb r2 && pg_restore --exit-on-error -j 2 -d r2 '$R/out.dump'" && verify_counts "pg_restore -j 2" r2 || true
    drop_db r2
  fi
  if [[ -n "$LB_ID" ]]; then
    measure "r-lifeboat-2-$RUN" restore "lifeboat (parallel payload, 2 sessions)" - \
      "$LIFEBOAT_BIN" --config "$CFG" restore --type database --id "$LB_ID" --target-db r3 \
      && verify_counts "lifeboat (parallel payload)" r3 || true
    drop_db r3
  fi
  if [[ -n "$LB1_ID" ]]; then
    measure "r-lifeboat-1-$RUN" restore "lifeboat, jobs = 1 payload (streaming pg_restore, single transaction)" - \
      "$LIFEBOAT_BIN" --config "$CFG1" restore --type database --id "$LB1_ID" --target-db r4 --jobs 1 \
      && verify_counts "lifeboat jobs = 1 payload" r4 || true
    drop_db r4
  fi
  rm -f "$R/out.dump"
done

# ---------------------------------------------------------------- report
mkdir -p "$SCRIPT_DIR/results"
OUT="$SCRIPT_DIR/results/db-$(date +%Y-%m-%d-%H%M).md"
LB_VERSION="$("$LIFEBOAT_BIN" --version 2>/dev/null | head -n 1 | sed 's/^lifeboat //' || echo '?')"
LB_VERSION+=" (${BENCH_LIFEBOAT_REV:-$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo '?')})"
export SCALE JSONB_ROWS DB DB_SIZE DB_SIZE_PRETTY DROP_METHOD LB_VERSION REF_COUNTS RUNS
export SERVER_VERSION="$(q 'show server_version')" SHARED_BUFFERS="$(q 'show shared_buffers')"
export PGDUMP_VERSION="$(pg_dump --version)" LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
VERIFY_TXT="$(printf '%s\n' "${VERIFY[@]}")"
export VERIFY_TXT
python3 - "$RESULTS" > "$OUT" <<'EOF'
import os, sys, datetime, platform
E = os.environ
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
def mib(b): return f"{int(b)/1048576:.1f} MiB" if b else ""
def cpu_model():
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"): return l.split(":", 1)[1].strip()
    except OSError: pass
    return "?"
p = print
p(f"# PostgreSQL benchmark — {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}")
p()
p(f"- database: `{E['DB']}`, `pgbench -i -s {E['SCALE']}` plus a jsonb table `docs` of {E['JSONB_ROWS']} rows, pg_database_size {E['DB_SIZE_PRETTY']} ({int(E['DB_SIZE'])} bytes); rows: {E['REF_COUNTS']}")
p(f"- server: PostgreSQL {E['SERVER_VERSION']} (shared_buffers {E['SHARED_BUFFERS']}) on the same machine; {E['PGDUMP_VERSION']}")
p(f"- machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()}; load average at the end {E['LOAD_END']}")
p(f"- lifeboat {E['LIFEBOAT_VERSION'] if 'LIFEBOAT_VERSION' in E else E['LB_VERSION']}: zstd (default level), encrypted")
p(f"- before every measured step: {E['DROP_METHOD']}")
p(f"- wall time and peak RSS from GNU time (`%e %M`); peak RSS is the largest single process of the command (lifeboat or its pg_dump/pg_restore child; gzip or pg_dump for the pipe), the PostgreSQL backend is not counted")
p(f"- restores: the timed command includes creating the target database (`createdb rN && pg_restore ...`), as lifeboat creates its own")
p()
p("Ratios: backups against `pg_dump -Fc` (target ≤ 0.8× wall time and an output no larger), restores against `pg_restore -j 2` (target ≤ 1.0×).")
p()
runs = sorted({r[0] for r in rows}, key=int)
for run in runs:
    rr = [r for r in rows if r[0] == run]
    ref_b = next((r for r in rr if r[1].startswith("b-pgdump-fc") and r[4] != "FAIL"), None)
    ref_r = next((r for r in rr if r[1].startswith("r-pgrestore-2") and r[4] != "FAIL"), None)
    if len(runs) > 1: p(f"## Run {run}\n")
    p("| step | tool | wall s | peak RSS MiB | output size | ratio vs reference | target met? |")
    p("|---|---|---:|---:|---:|---|---|")
    for r in rr:
        _, id_, step, tool, wall, rss, size, cpu, err = (r + [""] * 9)[:9]
        if wall == "FAIL":
            tool = tool.replace("|", "\\|")
            p(f"| {step} | {tool} | FAILED ({err}) | | | | no |"); continue
        ratio, met = "", ""
        if step == "backup" and ref_b:
            if id_ == ref_b[1]: ratio = "reference"
            else:
                t = float(wall) / float(ref_b[4]); ratio = f"{t:.2f}× time"
                if size and ref_b[6]:
                    s = int(size) / int(ref_b[6]); ratio += f", {s:.2f}× size"
                if id_.startswith("b-lifeboat-"):
                    ok_t = t <= 0.8; ok_s = bool(size) and int(size) <= int(ref_b[6])
                    met = "yes" if ok_t and ok_s else "no (" + ", ".join(x for x, ok in (("time > 0.8×", ok_t), ("larger output", ok_s)) if not ok) + ")"
        if step == "restore" and ref_r:
            if id_ == ref_r[1]: ratio = "reference"
            else:
                t = float(wall) / float(ref_r[4]); ratio = f"{t:.2f}× time"
                if id_.startswith("r-lifeboat-2"):
                    met = "yes" if t <= 1.0 else "no (> 1.0×)"
        tool = tool.replace("|", "\\|")
        p(f"| {step} | {tool} | {float(wall):.1f} | {rss} | {mib(size)} | {ratio} | {met} |")
    p()
    p("CPU seconds per process during each step (sampled from /proc every 0.5 s; % of the step's wall time, 100% = one core):")
    p()
    for r in rr:
        cpu = (r + [""] * 9)[7]
        if cpu: p(f"- {r[3]}: {cpu}")
    p()
p("## Row counts after restore")
p()
for l in E.get("VERIFY_TXT", "").splitlines():
    if l.strip(): p(f"- {l}")
p()
EOF
cat "$OUT"
log "report written to $OUT; logs in $W/logs/"
