#!/usr/bin/env python3
"""Randomized kill -9 soak for lifeboat's commit protocol (not part of cargo test).

Each trial starts one operation (filesystem or configuration backup, a
restore over an existing directory, a restore into a new directory, a
database backup or in-place database restore when PostgreSQL is reachable,
a prune), kills it with SIGKILL after a random delay, then lets the next
start settle it and checks what an operator relies on:

  - lost:    a backup committed before the trial is gone
  - false:   a row says succeeded but its payload does not verify
  - hidden:  a committed manifest is not listed as a good backup
  - leftover: a .partial file, a stray restore temp file, or plaintext
              scratch (.restore-tmp) is left
  - unmarked: a restore target was changed but carries no marker
  - norerun: running the same operation again fails

Usage: bench/crash_soak.py [--trials N] [--binary PATH] [--seed S] [--no-db]
Prints one line per trial and a tally; exits 1 if any trial broke a rule.
"""
import argparse, json, os, random, shutil, signal, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--trials", type=int, default=200)
ap.add_argument("--binary", default="target/release/lifeboat")
ap.add_argument("--seed", type=int, default=int(time.time()))
ap.add_argument("--no-db", action="store_true")
ap.add_argument("--max-delay", type=float, default=1.5, help="seconds")
ap.add_argument("--keep", action="store_true", help="keep the sandbox (printed) for inspection")
args = ap.parse_args()
rng = random.Random(args.seed)
BIN = os.path.abspath(args.binary)
PG = "postgres://postgres@127.0.0.1:5432"


def pg_ok():
    if args.no_db or not shutil.which("psql"):
        return False
    return subprocess.run(["psql", PG + "/postgres", "-qAtc", "select 1"],
                          capture_output=True).returncode == 0


def psql(db, sql):
    return subprocess.run(["psql", f"{PG}/{db}", "-qAtc", sql], capture_output=True, text=True)


class Sandbox:
    def __init__(self, root, db):
        self.root = root
        self.app = os.path.join(root, "app")
        self.repo = os.path.join(root, "repo")
        self.db = db
        for d in ("uploads/docs", "uploads/avatars", "logs"):
            os.makedirs(os.path.join(self.app, d), exist_ok=True)
        for i in range(200):
            with open(os.path.join(self.app, f"uploads/avatars/u{i}.json"), "w") as f:
                f.write(f'{{"user": {i}}}\n' * (i + 1))
        with open(os.path.join(self.app, "uploads/docs/big.bin"), "wb") as f:
            f.write(os.urandom(24 << 20))
        with open(os.path.join(self.app, "logs/panel.log"), "w") as f:
            f.write("GET /api 200\n" * 200_000)
        with open(os.path.join(self.app, "config.py"), "w") as f:
            f.write("DEBUG = False\n")
        with open(os.path.join(self.app, ".env"), "w") as f:
            f.write("SECRET=x\n")
        cfg = f"""[repository]
path = "{self.repo}"
[catalog]
path = "{root}/state/catalog.db"
[encryption]
key_file = "{root}/keys/lifeboat.key"
[compression]
level = 9
[retention]
min_keep = 2
[retention.filesystem]
keep_days = 1
[sources.filesystem]
paths = ["{self.app}/uploads", "{self.app}/logs"]
[sources.configuration]
files = ["{self.app}/config.py"]
env_files = ["{self.app}/.env"]
"""
        if db:
            cfg += f'[sources.database]\nurl = "{PG}/{db}"\n'
        self.config = os.path.join(root, "lifeboat.toml")
        with open(self.config, "w") as f:
            f.write(cfg)

    def cmd(self, *a, env=None):
        e = dict(os.environ)
        for k in ("LIFEBOAT_CONFIG", "LIFEBOAT_CRASH_AT", "RUST_LOG"):
            e.pop(k, None)
        e.update(env or {})
        return [BIN, "--config", self.config, *a], e

    def run(self, *a, env=None):
        c, e = self.cmd(*a, env=env)
        return subprocess.run(c, env=e, capture_output=True, text=True, cwd=self.root)

    def json(self, *a):
        r = self.run("--json", *a)
        if r.returncode != 0:
            raise RuntimeError(f"{a}: {r.stderr}")
        return json.loads(r.stdout)


def committed(sb):
    ids = set()
    for dp, _, files in os.walk(sb.repo):
        for f in files:
            if f.endswith(".manifest.json"):
                with open(os.path.join(dp, f)) as fh:
                    ids.add(json.load(fh)["id"])
    return ids


def stray(sb, targets):
    bad = []
    for dp, _, files in os.walk(sb.repo):
        bad += [os.path.join(dp, f) for f in files if f.startswith(".partial.")]
    scratch = os.path.join(sb.repo, ".restore-tmp")
    for dp, _, files in os.walk(scratch):
        bad += [os.path.join(dp, f) for f in files]
    for t in targets:
        for dp, _, files in os.walk(t):
            bad += [os.path.join(dp, f) for f in files
                    if f.startswith(".lifeboat-") and f.endswith(".tmp")]
    return bad


VERIFIED = set()  # committed payloads never change: verify each good row once


def check(sb, before, targets):
    """Problems found after the next start, as (rule, detail) pairs."""
    probs = []
    rows = sb.json("list")
    now = committed(sb)
    for i in before - now:
        probs.append(("lost", i))
    good = {r["id"]: r for r in rows if r["status"] in ("succeeded", "succeeded_with_warnings")}
    for i, r in good.items():
        if not os.path.exists(r["file"]):
            probs.append(("false", i))
        elif i not in VERIFIED:
            if sb.run("verify", i).returncode != 0:
                probs.append(("false", i))
            else:
                VERIFIED.add(i)
    for i in now - set(good):
        probs.append(("hidden", i))
    for p in stray(sb, targets):
        probs.append(("leftover", p))
    return probs


def tree(d):
    out = {}
    for dp, _, files in os.walk(d):
        for f in files:
            if f == ".lifeboat-restore-incomplete":
                continue
            p = os.path.join(dp, f)
            if os.path.islink(p):
                out[p] = "l" + os.readlink(p)
            else:
                st = os.stat(p)
                out[p] = (st.st_size, st.st_mtime_ns)
    return out


def main():
    tally = {k: 0 for k in ("trials", "killed", "finished", "lost", "false", "hidden",
                            "leftover", "unmarked", "norerun")}
    use_db = pg_ok()
    db = None
    base = tempfile.mkdtemp(prefix="lifeboat-soak-")
    if use_db:
        db = f"lb_soak_{os.getpid()}"
        psql("postgres", f"DROP DATABASE IF EXISTS {db}")
        psql("postgres", f"CREATE DATABASE {db}")
        psql(db, "CREATE TABLE t (id int PRIMARY KEY, v text); "
                 "INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 200000) g")
    sb = Sandbox(base, db)
    sb.run("key", "generate")
    for t in ("filesystem", "configuration") + (("database",) if db else ()):
        if sb.run("backup", "--type", t).returncode != 0:
            sys.exit(f"setup backup of {t} failed")
    ops = ["backup-fs", "backup-config", "restore-existing", "restore-new", "prune"]
    if db:
        ops += ["backup-db", "restore-db-in-place"]
    print(f"seed {args.seed}, {args.trials} trials, ops: {', '.join(ops)}", flush=True)
    for n in range(args.trials):
        op = rng.choice(ops)
        good = [r for r in sb.json("list", "--type", "filesystem")
                if r["status"] == "succeeded" and r.get("name") != "pre_restore"]
        targets = []
        env = {}
        if op == "backup-fs":
            with open(os.path.join(sb.app, f"uploads/t{n}.txt"), "w") as f:
                f.write(f"trial {n}\n" * 1000)
            a = ["backup", "--type", "filesystem"]
        elif op == "backup-config":
            a = ["backup", "--type", "configuration"]
        elif op == "backup-db":
            a = ["backup", "--type", "database"]
        elif op == "restore-db-in-place":
            dbs = [r for r in sb.json("list", "--type", "database") if r["status"] == "succeeded"]
            a = ["restore", "--id", dbs[0]["id"], "--in-place", "--yes"]
        elif op == "prune":
            env = {"LIFEBOAT_NOW": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                 time.gmtime(time.time() + 3 * 86400))}
            a = ["prune", "--yes", "--force"]
        elif op == "restore-new":
            t = os.path.join(base, f"new{n}")
            targets = [t]
            a = ["restore", "--id", rng.choice(good)["id"], "--target", t]
        else:
            t = os.path.join(base, "existing")
            targets = [t]
            if not os.path.exists(t):
                sb.run("restore", "--id", good[0]["id"], "--target", t)
            # The operator edits the copy: the restore must save these first.
            for dp, _, files in os.walk(t):
                for f in files[:3]:
                    if not f.startswith(".lifeboat"):
                        with open(os.path.join(dp, f), "a") as fh:
                            fh.write(f"edit {n}\n")
            a = ["restore", "--id", rng.choice(good)["id"], "--target", t, "--yes"]
        before = committed(sb)
        snap = {t: tree(t) for t in targets}
        c, e = sb.cmd(*a, env=env)
        p = subprocess.Popen(c, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=base)
        delay = rng.uniform(0, args.max_delay)
        try:
            p.wait(timeout=delay)
            killed = False
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            killed = True
        tally["trials"] += 1
        tally["killed" if killed else "finished"] += 1
        probs = check(sb, before if op != "prune" else set(), targets)
        after_kill = {t: tree(t) for t in targets}
        marked = {t: os.path.exists(os.path.join(t, ".lifeboat-restore-incomplete")) for t in targets}
        rerun = sb.run(*(a + ["--yes"] if op == "restore-new" else a), env=env)
        for t in targets:
            # Changed by the killed run, but neither untouched nor complete
            # (as the rerun leaves it), and not marked: half-written silently.
            if killed and os.path.exists(t) and after_kill[t] != snap[t] \
                    and after_kill[t] != tree(t) and not marked[t]:
                probs.append(("unmarked", t))
        if rerun.returncode != 0 and op != "prune":
            probs.append(("norerun", rerun.stderr.strip().splitlines()[-1:]))
        for rule, detail in probs:
            tally[rule] += 1
        print(f"trial {n:4d} {op:20s} {'killed' if killed else 'done  '} after {delay:5.2f}s: "
              + ("ok" if not probs else "; ".join(f"{r}: {d}" for r, d in probs)), flush=True)
        for t in targets:
            if t.endswith(f"new{n}"):
                shutil.rmtree(t, ignore_errors=True)
    print("\ntally: " + ", ".join(f"{k} {v}" for k, v in tally.items()))
    if db:
        for name in psql("postgres", f"SELECT datname FROM pg_database WHERE datname LIKE '{db}%'").stdout.split():
            psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if args.keep:
        print(f"sandbox kept: {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    bad = sum(tally[k] for k in ("lost", "false", "hidden", "leftover", "unmarked", "norerun"))
    sys.exit(1 if bad else 0)


main()
