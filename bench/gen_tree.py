#!/usr/bin/env python3
"""Deterministic generator of a Panel-like application file tree for benchmarks.

    gen_tree.py DIR [--seed 42] [--scale 1.0]
    gen_tree.py DIR [--seed 42] [--scale 1.0] --mutate-percent 1

At scale 1.0 the tree is about 1 GiB in about 20,000 files:

    uploads/   ~15,000 small text/JSON/CSV files (1-20 KiB, compressible)
               ~1,500 random-bytes "images" (50-400 KiB, incompressible)
    logs/      5 large log files, ~250 MiB of compressible log lines in total
    static/    ~3,000 small css/js-like text files
    media/     5 random-bytes "media" files of 20-80 MiB

--scale multiplies file counts and the sizes of the large files (logs, media);
small-file sizes stay realistic. Every file's content comes from its own
random.Random seeded with (seed, path), so the output is byte-identical across
runs and machines (Python >= 3.9).

--mutate-percent P changes about P% of the files of an existing tree, also
deterministically (same seed -> same files, same edits): text files get lines
appended or are rewritten, binary files get a 4 KiB region overwritten, one log
file grows by ~1 MiB (x scale), and P/10 % new upload files appear. Nothing is
deleted. It refuses to run twice on the same tree (see the marker file) unless
--force is given.

A marker file DIR.gen.json next to the tree records the parameters and whether
the tree was mutated; fs_bench.sh uses it to decide whether to reuse the tree.
"""

import argparse
import json
import os
import random
import sys
import time

KIB = 1024
MIB = 1024 * 1024

SYLLABLES = [
    "ka", "lo", "mi", "ne", "ra", "to", "su", "vi", "de", "an", "el", "or", "in",
    "ur", "ba", "co", "fi", "ge", "ho", "ju", "pe", "qu", "si", "te", "we", "zo",
    "ster", "ment", "tion", "ing", "al", "er", "ly", "ex", "pro", "con", "re",
]
LEVELS = ["INFO"] * 12 + ["DEBUG"] * 6 + ["WARNING"] * 2 + ["ERROR"]
MODULES = [
    "panel.app", "panel.auth", "panel.api.users", "panel.api.orders",
    "panel.api.uploads", "panel.db", "panel.cache", "panel.jobs.mailer",
    "panel.jobs.reports", "werkzeug", "gunicorn.access", "sqlalchemy.engine",
]
HTTP_PATHS = [
    "/api/v1/users", "/api/v1/orders", "/api/v1/uploads", "/login", "/logout",
    "/dashboard", "/api/v1/reports", "/static/app.js", "/healthz", "/api/v1/search",
]


def make_vocab(seed):
    rng = random.Random(f"{seed}:vocab")
    words = set()
    while len(words) < 4000:
        n = rng.choice((1, 2, 2, 3, 3, 4))
        words.add("".join(rng.choice(SYLLABLES) for _ in range(n)))
    words = sorted(words)
    rng.shuffle(words)
    # Zipf-like weights: a few very common words, a long tail.
    cum, total = [], 0.0
    for i in range(len(words)):
        total += 1.0 / (i + 1)
        cum.append(total)
    return words, cum


class Gen:
    def __init__(self, seed):
        self.seed = seed
        self.words, self.cum = make_vocab(seed)

    def rng(self, *parts):
        return random.Random(":".join([str(self.seed)] + [str(p) for p in parts]))

    # --- content generators -------------------------------------------------

    def words_n(self, rng, n):
        return rng.choices(self.words, cum_weights=self.cum, k=n)

    def prose(self, rng, size):
        """Sentences/paragraphs of pseudo-words, about `size` bytes."""
        out, n = [], 0
        while n < size:
            k = rng.randint(40, 160)
            ws = self.words_n(rng, k)
            # sentence breaks
            for i in range(0, k, rng.randint(8, 18)):
                ws[i] = ws[i].capitalize()
                if i:
                    ws[i - 1] += "."
            para = " ".join(ws) + ".\n\n"
            out.append(para)
            n += len(para)
        return "".join(out)[:size]

    def json_records(self, rng, size):
        recs, n = [], 0
        while n < size:
            w = self.words_n(rng, 12)
            rec = {
                "id": rng.randint(1, 10_000_000),
                "name": f"{w[0].capitalize()} {w[1].capitalize()}",
                "email": f"{w[2]}.{w[3]}@{w[4]}.example.com",
                "created_at": "2026-%02d-%02dT%02d:%02d:%02dZ" % (
                    rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                    rng.randint(0, 59), rng.randint(0, 59)),
                "status": rng.choice(["active", "pending", "disabled", "active"]),
                "tags": w[5:5 + rng.randint(0, 4)],
                "score": round(rng.random() * 100, 2),
                "note": " ".join(w[8:]),
            }
            s = json.dumps(rec, indent=2)
            recs.append(s)
            n += len(s) + 2
        return "[\n" + ",\n".join(recs) + "\n]\n"

    def csv_rows(self, rng, size):
        out = ["id,user,amount,currency,status,created\n"]
        n = len(out[0])
        while n < size:
            w = self.words_n(rng, 2)
            line = "%d,%s_%s,%.2f,%s,%s,2026-%02d-%02d\n" % (
                rng.randint(1, 999999), w[0], w[1], rng.random() * 1000,
                rng.choice(("EUR", "USD", "GBP")), rng.choice(("paid", "open", "void")),
                rng.randint(1, 12), rng.randint(1, 28))
            out.append(line)
            n += len(line)
        return "".join(out)

    def css(self, rng, size):
        out, n = [], 0
        while n < size:
            w = self.words_n(rng, 3)
            block = ".%s-%s .%s {\n  color: #%06x;\n  margin: %dpx %dpx;\n  padding: %dpx;\n  display: %s;\n}\n" % (
                w[0], w[1], w[2], rng.getrandbits(24), rng.randint(0, 32),
                rng.randint(0, 32), rng.randint(0, 16),
                rng.choice(("block", "flex", "grid", "inline-block", "none")))
            out.append(block)
            n += len(block)
        return "".join(out)

    def js(self, rng, size):
        out, n = [], 0
        while n < size:
            w = self.words_n(rng, 6)
            fn = ("function %s%s(%s, %s) {\n  const %s = %s.map((x) => x * %d);\n"
                  "  if (%s.length > %d) { return %s.filter(Boolean); }\n"
                  "  return fetch('/api/v1/%s').then((r) => r.json());\n}\n\n") % (
                w[0], w[1].capitalize(), w[2], w[3], w[4], w[2], rng.randint(2, 9),
                w[4], rng.randint(1, 50), w[4], w[5])
            out.append(fn)
            n += len(fn)
        return "".join(out)

    def log_lines(self, rng, size, t0):
        """Write-friendly generator of log text chunks (~1 MiB each)."""
        templates = []
        for _ in range(300):
            w = self.words_n(rng, rng.randint(3, 10))
            templates.append(" ".join(w))
        written = 0
        t = t0
        while written < size:
            lines = []
            chunk = 0
            k = 8000
            lv = rng.choices(LEVELS, k=k)
            md = rng.choices(MODULES, k=k)
            tp = rng.choices(templates, k=k)
            hp = rng.choices(HTTP_PATHS, k=k)
            for i in range(k):
                t += rng.random() * 0.05
                sec = int(t)
                ms = int((t - sec) * 1000)
                if md[i] == "gunicorn.access":
                    line = '%s.%03d %s [%s] 10.0.%d.%d "GET %s HTTP/1.1" %d %d %dms\n' % (
                        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec)), ms, lv[i], md[i],
                        rng.randint(0, 255), rng.randint(1, 254), hp[i],
                        rng.choice((200, 200, 200, 304, 404, 500)), rng.randint(100, 90000),
                        rng.randint(1, 900))
                else:
                    line = "%s.%03d %s [%s] %s request_id=%08x user_id=%d duration_ms=%d\n" % (
                        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec)), ms, lv[i], md[i],
                        tp[i], rng.getrandbits(32), rng.randint(1, 5000), rng.randint(0, 2000))
                lines.append(line)
                chunk += len(line)
            data = "".join(lines).encode()
            if written + len(data) > size:
                data = data[: size - written]
            written += len(data)
            yield data, t

    # --- tree layout --------------------------------------------------------

    def plan(self, scale):
        """List of (relpath, kind, size). Deterministic."""
        rng = self.rng("plan")
        files = []
        n_text = max(1, round(15490 * scale))
        n_img = max(1, round(1500 * scale))
        n_static = max(1, round(3000 * scale))
        n_users = max(1, round(400 * scale))
        for i in range(n_text):
            user = rng.randrange(n_users)
            month = rng.randint(1, 12)
            kind = rng.choices(("txt", "json", "csv", "md"), weights=(40, 35, 15, 10))[0]
            size = int(KIB * (1 + 19 * rng.random() ** 1.5))
            files.append((f"uploads/u{user:04d}/2026/{month:02d}/doc_{i:06d}.{kind}", kind, size))
        for i in range(n_img):
            user = rng.randrange(n_users)
            month = rng.randint(1, 12)
            ext = rng.choice(("jpg", "png", "webp"))
            size = rng.randint(50 * KIB, 400 * KIB)
            files.append((f"uploads/u{user:04d}/2026/{month:02d}/img_{i:06d}.{ext}", "bin", size))
        pkgs = [f"pkg{j:03d}" for j in range(max(1, round(60 * scale)))]
        for i in range(n_static):
            kind = rng.choice(("css", "js", "js"))
            pkg = rng.choice(pkgs)
            size = int(KIB * (0.5 + 15.5 * rng.random() ** 2))
            files.append((f"static/vendor/{pkg}/{'css' if kind == 'css' else 'js'}/f{i:05d}.{kind}", kind, size))
        log_sizes = [100, 60, 45, 30, 15]  # MiB, ~250 total
        for i, s in enumerate(log_sizes):
            files.append((f"logs/panel{'' if i == 0 else '.' + str(i)}.log", "log", int(s * MIB * scale)))
        media_sizes = [80, 64, 48, 40, 24]  # MiB, ~256 total
        for i, s in enumerate(media_sizes):
            ext = ("mp4", "mov", "zip", "mp4", "pdf")[i]
            files.append((f"media/asset_{i:02d}.{ext}", "bin", max(1, int(s * MIB * scale))))
        return files

    def content(self, relpath, kind, size, salt=""):
        rng = self.rng("file", relpath, salt)
        if kind == "bin":
            return None  # streamed by caller
        if kind == "txt":
            return self.prose(rng, size).encode()
        if kind == "md":
            return ("# " + " ".join(self.words_n(rng, 4)).title() + "\n\n" + self.prose(rng, size)).encode()[:size]
        if kind == "json":
            return self.json_records(rng, size).encode()
        if kind == "csv":
            return self.csv_rows(rng, size).encode()
        if kind == "css":
            return self.css(rng, size).encode()
        if kind == "js":
            return self.js(rng, size).encode()
        raise ValueError(kind)

    def write_file(self, root, relpath, kind, size, salt=""):
        path = os.path.join(root, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            if kind == "bin":
                rng = self.rng("file", relpath, salt)
                left = size
                while left > 0:
                    n = min(left, 8 * MIB)
                    f.write(rng.randbytes(n))
                    left -= n
            elif kind == "log":
                rng = self.rng("file", relpath, salt)
                for data, _ in self.log_lines(rng, size, 1_780_000_000.0):
                    f.write(data)
            else:
                f.write(self.content(relpath, kind, size, salt))


def marker_path(root):
    return os.path.normpath(root) + ".gen.json"


def generate(root, seed, scale):
    g = Gen(seed)
    plan = g.plan(scale)
    t0 = time.time()
    total = 0
    os.makedirs(root, exist_ok=True)
    for i, (rel, kind, size) in enumerate(plan):
        g.write_file(root, rel, kind, size)
        total += size
        if (i + 1) % 5000 == 0:
            print(f"  {i + 1}/{len(plan)} files, {total / MIB:.0f} MiB", file=sys.stderr)
    with open(marker_path(root), "w") as f:
        json.dump({"seed": seed, "scale": scale, "files": len(plan), "bytes": total,
                   "mutated": False, "complete": True}, f)
    print(f"generated {len(plan)} files, {total / MIB:.1f} MiB in {root} "
          f"({time.time() - t0:.1f} s)")


def mutate(root, seed, scale, percent, force):
    mp = marker_path(root)
    try:
        with open(mp) as f:
            marker = json.load(f)
    except FileNotFoundError:
        marker = {}
    if marker.get("mutated") and not force:
        sys.exit(f"{root} was already mutated (see {mp}); use --force to mutate again")
    g = Gen(seed)
    plan = g.plan(scale)
    rng = g.rng("mutate", percent)
    n = max(1, round(len(plan) * percent / 100.0))
    chosen = sorted(rng.sample(range(len(plan)), n))
    changed_bytes = 0
    for idx in chosen:
        rel, kind, size = plan[idx]
        path = os.path.join(root, rel)
        frng = g.rng("mutate-file", rel)
        if kind == "bin":
            cur = os.path.getsize(path)
            off = frng.randrange(max(1, cur - 4 * KIB))
            with open(path, "r+b") as f:
                f.seek(off)
                f.write(frng.randbytes(min(4 * KIB, cur)))
            changed_bytes += 4 * KIB
        elif kind == "log":
            add = max(KIB, int(MIB * scale))
            with open(path, "ab") as f:
                for data, _ in g.log_lines(frng, add, 1_790_000_000.0):
                    f.write(data)
            changed_bytes += add
        elif frng.random() < 0.5:
            extra = g.content(rel, kind, frng.randint(256, 4 * KIB), salt="append")
            with open(path, "ab") as f:
                f.write(extra)
            changed_bytes += len(extra)
        else:
            new = g.content(rel, kind, size, salt="rewrite")
            with open(path, "wb") as f:
                f.write(new)
            changed_bytes += len(new)
    # Logs grow between backups: always append to the main log.
    logs = [p for p in plan if p[1] == "log"]
    if logs:
        rel = logs[0][0]
        add = max(KIB, int(MIB * scale))
        with open(os.path.join(root, rel), "ab") as f:
            for data, _ in g.log_lines(g.rng("mutate-log", rel), add, 1_790_000_000.0):
                f.write(data)
        changed_bytes += add
    # A few new uploads.
    n_new = max(1, round(len(plan) * percent / 1000.0))
    for i in range(n_new):
        kind = "json" if i % 2 else "txt"
        rel = f"uploads/new/doc_new_{i:05d}.{kind}"
        g.write_file(root, rel, kind, rng.randint(KIB, 20 * KIB), salt="new")
        changed_bytes += os.path.getsize(os.path.join(root, rel))
    marker["mutated"] = True
    marker["mutated_files"] = len(chosen) + 1 + n_new
    with open(mp, "w") as f:
        json.dump(marker, f)
    print(f"mutated {len(chosen)} files (+1 log append, +{n_new} new files), "
          f"~{changed_bytes / MIB:.1f} MiB written")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--mutate-percent", type=float, default=None,
                    help="mutate ~P%% of the files of an existing tree instead of generating")
    ap.add_argument("--force", action="store_true", help="allow mutating an already mutated tree")
    a = ap.parse_args()
    if a.mutate_percent is not None:
        if not os.path.isdir(a.dir):
            sys.exit(f"{a.dir}: no such tree")
        mutate(a.dir, a.seed, a.scale, a.mutate_percent, a.force)
    else:
        if os.path.exists(a.dir) and os.listdir(a.dir):
            sys.exit(f"{a.dir} exists and is not empty; remove it first")
        generate(a.dir, a.seed, a.scale)


if __name__ == "__main__":
    main()
