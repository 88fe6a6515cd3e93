#!/usr/bin/env python3
"""make reliability: never wedge, never leak (issue 15).

Drives any runc-compatible runtime through its CLI (RUNTIME=/usr/sbin/runc runs it against
runc) and checks, after every trial, that nothing is left: no entry under --root, no cgroup
directory in any hierarchy, no mount naming the suite's directory, no process in the suite's
cgroups. Suites:

  kill       SIGKILL of create, start, exec and delete at random moments, then
             `delete --force` must succeed and leave nothing, and the ID must be usable again
  lifecycle  concurrent create/start/state/kill/delete lifecycles
  race       processes racing `create` on one ID: exactly one wins, state stays readable
  exec       concurrent `exec` into one container
  killdel    `kill` racing `delete --force`
  fuzz       config.json mutants: no panic, no hang, no leak, and every rejection names the
             field or path it is about

Settings (environment): RUNTIME (the binary), TRIALS (kill trials per operation, 50),
LIFECYCLES (100), RACERS (10), EXECS (20), MUTANTS (2000), SEED, SUITES (comma list),
TIMEOUT (seconds for one runtime call, 30). Exit status 1 if any check failed.
"""

import concurrent.futures as cf
import copy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

RUNTIME = os.environ.get("RUNTIME") or sys.exit("reliability: set RUNTIME to the runtime binary")
TIMEOUT = float(os.environ.get("TIMEOUT", "30"))
SEED = int(os.environ.get("SEED", str(int(time.time()))))
PREFIX = f"rel{os.getpid()}"

failures = []


def fail(what):
    failures.append(what)
    print(f"FAIL: {what}", flush=True)


class Run:
    """One runtime call's outcome; `hung` when it passed TIMEOUT (and was killed)."""

    def __init__(self, args, rc, out, err, hung):
        self.args, self.rc, self.out, self.err, self.hung = args, rc, out, err, hung

    @property
    def ok(self):
        return self.rc == 0

    @property
    def panicked(self):
        # A Rust panic exits 101; a crash dies by a signal we did not send.
        return "panicked at" in self.err or self.rc == 101 or (self.rc is not None and self.rc < 0)

    def __str__(self):
        return f"{' '.join(self.args[3:])}: rc={self.rc}{' (hung)' if self.hung else ''} {self.err.strip()[:400]}"


class World:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=f"bulkhead-{PREFIX}-")
        self.root = os.path.join(self.dir, "root")
        self.bundle = os.path.join(self.dir, "bundle")
        make_rootfs(os.path.join(self.bundle, "rootfs"))
        spec = subprocess.run([RUNTIME, "spec", "--bundle", self.dir], capture_output=True, text=True, timeout=TIMEOUT)
        if spec.returncode != 0:
            sys.exit(f"reliability: {RUNTIME} spec failed: {spec.stderr}")
        with open(os.path.join(self.dir, "config.json")) as f:
            self.base = json.load(f)
        os.remove(os.path.join(self.dir, "config.json"))
        self.base["process"]["terminal"] = False
        self.base["process"]["args"] = ["sleep", "1000"]
        self.base["linux"]["resources"] = {"pids": {"limit": 100}, "memory": {"limit": 256 << 20}}
        # One rootfs for every bundle, named by its absolute path (runc refuses a rootfs
        # reached through a symlink).
        self.rootfs = os.path.join(self.bundle, "rootfs")
        self.base["root"]["path"] = self.rootfs
        self.ids = set()

    def cgroup(self, cid):
        return f"/{PREFIX}-{cid}"

    def config(self, cid, args=None):
        c = copy.deepcopy(self.base)
        c["linux"]["cgroupsPath"] = self.cgroup(cid)
        if args:
            c["process"]["args"] = args
        return c

    def bundle_for(self, cid, config):
        """A bundle dir per container sharing the rootfs (configs differ per container)."""
        b = os.path.join(self.dir, "b", cid)
        os.makedirs(b, exist_ok=True)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(config, f)
        return b

    def rt(self, *args, timeout=TIMEOUT):
        # Output goes to files, not pipes: a created container's init inherits stdout and
        # stderr, and a pipe would then never reach EOF.
        argv = [RUNTIME, "--root", self.root, *args]
        with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, start_new_session=True)
            try:
                p.wait(timeout=timeout)
                rc, hung = p.returncode, False
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                rc, hung = None, True
            fo.seek(0)
            fe.seek(0)
            return Run(argv, rc, fo.read().decode(errors="replace"), fe.read().decode(errors="replace"), hung)

    def spawn(self, *args):
        argv = [RUNTIME, "--root", self.root, *args]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def create(self, cid, config=None, args=None):
        self.ids.add(cid)
        b = self.bundle_for(cid, config or self.config(cid, args))
        return self.rt("create", "--bundle", b, cid)

    def delete_force(self, cid, what):
        r = self.rt("delete", "--force", cid)
        if r.hung or r.panicked or not r.ok:
            fail(f"{what}: delete --force {cid}: {r}")
        return r

    def leaks(self, cid):
        """What container `cid` left behind; [] when nothing."""
        left = []
        if os.path.lexists(os.path.join(self.root, cid)):
            left.append(f"state dir {os.path.join(self.root, cid)}")
        rel = self.cgroup(cid).lstrip("/")
        for m in cgroup_mounts():
            if os.path.isdir(os.path.join(m, rel)):
                left.append(f"cgroup {os.path.join(m, rel)}")
        for pid in pids_in_cgroups(self.cgroup(cid)):
            left.append(f"process {pid} ({cmdline(pid)})")
        for line in open("/proc/self/mountinfo"):
            if self.dir in line:
                left.append(f"mount {line.split()[4]}")
        return left

    def check_clean(self, cid, what):
        # An exiting process may need a moment to leave its cgroup.
        deadline = time.monotonic() + 5
        while (left := self.leaks(cid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if left:
            fail(f"{what}: {cid} left {left}")
            return False
        return True

    def cleanup(self):
        for cid in sorted(self.ids):
            self.rt("delete", "--force", cid, timeout=60)
            rel = self.cgroup(cid).lstrip("/")
            for m in cgroup_mounts():
                d = os.path.join(m, rel)
                if os.path.isdir(d):
                    for pid in pids_in_cgroups(self.cgroup(cid)):
                        try_kill(pid)
                    for sub, _, _ in sorted(os.walk(d), key=lambda w: -len(w[0])):
                        try:
                            os.rmdir(sub)
                        except OSError:
                            pass
        for line in open("/proc/self/mountinfo"):
            if self.dir in line:
                subprocess.run(["umount", "-l", line.split()[4]], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def make_rootfs(r):
    os.makedirs(os.path.join(r, "bin"))
    for d in ["dev", "etc", "proc", "sys", "tmp", "run", "root"]:
        os.makedirs(os.path.join(r, d))
    shutil.copy("/bin/busybox", os.path.join(r, "bin", "busybox"))
    for a in ["sh", "sleep", "true", "cat", "echo", "ls"]:
        os.symlink("busybox", os.path.join(r, "bin", a))


def cgroup_mounts():
    out = []
    for line in open("/proc/self/mountinfo"):
        pre, _, post = line.partition(" - ")
        if post.split()[0] in ("cgroup", "cgroup2"):
            out.append(pre.split()[4])
    return out


def pids_in_cgroups(path):
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cgroup") as f:
                    if any(line.rstrip("\n").split(":", 2)[2].startswith(path) for line in f):
                        found.append(int(p))
            except (OSError, IndexError):
                pass
    return found


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def try_kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def timed(w, fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


# --- suites -----------------------------------------------------------------------------

def suite_kill(w, rng):
    trials = int(os.environ.get("TRIALS", "50"))
    # How long each operation takes here, to spread the kills over all of it.
    probe = "kprobe"
    d_create = timed(w, lambda: w.create(probe))
    d_start = timed(w, lambda: w.rt("start", probe))
    d_exec = timed(w, lambda: w.rt("exec", probe, "true"))
    d_delete = timed(w, lambda: w.rt("delete", "--force", probe))
    w.check_clean(probe, "kill probe")
    counts = {}

    def killed(proc, span):
        time.sleep(rng.uniform(0, span * 1.2))
        proc.kill()
        proc.wait()

    for op, span in [("create", d_create), ("start", d_start), ("exec", d_exec), ("delete", d_delete)]:
        for i in range(trials):
            cid = f"k{op}{i}"
            w.ids.add(cid)
            if op != "create":
                r = w.create(cid)
                if not r.ok:
                    fail(f"kill {op}: setup create {cid}: {r}")
                    continue
                if op in ("exec", "delete"):
                    w.rt("start", cid)
            if op == "create":
                b = w.bundle_for(cid, w.config(cid))
                killed(w.spawn("create", "--bundle", b, cid), span)
            elif op == "start":
                killed(w.spawn("start", cid), span)
            elif op == "exec":
                killed(w.spawn("exec", cid, "sh", "-c", "sleep 0.05"), span)
            else:
                killed(w.spawn("delete", "--force", cid), span)
            w.delete_force(cid, f"kill {op} #{i}")
            if w.check_clean(cid, f"kill {op} #{i}") and op == "create":
                r = w.create(cid)  # the ID is usable again
                if not r.ok:
                    fail(f"kill create #{i}: create again after delete --force: {r}")
                w.delete_force(cid, f"kill create #{i} (again)")
            counts[op] = counts.get(op, 0) + 1
    return f"{sum(counts.values())} SIGKILL trials ({', '.join(f'{k} {v}' for k, v in counts.items())})"


def suite_lifecycle(w, rng):
    n = int(os.environ.get("LIFECYCLES", "100"))

    def one(i):
        cid = f"lc{i}"
        r = w.create(cid)
        if not r.ok:
            return f"create {cid}: {r}"
        for step in (("start", cid), ("state", cid), ("kill", cid, "KILL")):
            r = w.rt(*step)
            if not r.ok:
                return f"{step[0]} {cid}: {r}"
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            st = w.rt("state", cid)
            if st.ok and json.loads(st.out).get("status") == "stopped":
                break
            time.sleep(0.02)
        r = w.rt("delete", cid)
        if not r.ok:
            return f"delete {cid}: {r}"
        return None

    with cf.ThreadPoolExecutor(max_workers=n) as ex:
        for err in ex.map(one, range(n)):
            if err:
                fail(f"lifecycle: {err}")
    for i in range(n):
        w.check_clean(f"lc{i}", "lifecycle")
    return f"{n} concurrent lifecycles"


def suite_race(w, rng):
    n = int(os.environ.get("RACERS", "10"))
    cid = "race"
    w.ids.add(cid)
    b = w.bundle_for(cid, w.config(cid))
    with cf.ThreadPoolExecutor(max_workers=n) as ex:
        runs = list(ex.map(lambda _: w.rt("create", "--bundle", b, cid), range(n)))
    wins = [r for r in runs if r.ok]
    if len(wins) != 1:
        fail(f"race: {len(wins)} of {n} creates of one ID succeeded")
    for r in runs:
        if r.hung or r.panicked or (not r.ok and not r.err.strip()):
            fail(f"race: {r}")
    st = w.rt("state", cid)
    try:
        if json.loads(st.out)["status"] != "created":
            fail(f"race: state after the race: {st.out}")
    except (ValueError, KeyError):
        fail(f"race: state unreadable: {st}")
    w.delete_force(cid, "race")
    w.check_clean(cid, "race")
    return f"{n} racing creates of one ID"


def suite_exec(w, rng):
    n = int(os.environ.get("EXECS", "20"))
    cid = "execs"
    if not w.create(cid).ok or not w.rt("start", cid).ok:
        fail("exec: setup failed")
        return "exec: setup failed"
    with cf.ThreadPoolExecutor(max_workers=n) as ex:
        runs = list(ex.map(lambda i: (i, w.rt("exec", cid, "echo", f"exec-{i}")), range(n)))
    for i, r in runs:
        if not r.ok or r.out.strip() != f"exec-{i}":
            fail(f"exec #{i}: {r} stdout={r.out!r}")
    w.delete_force(cid, "exec")
    w.check_clean(cid, "exec")
    return f"{n} concurrent execs"


def suite_killdel(w, rng):
    trials = max(5, int(os.environ.get("TRIALS", "50")) // 5)
    for i in range(trials):
        cid = f"kd{i}"
        if not w.create(cid).ok or not w.rt("start", cid).ok:
            fail(f"killdel #{i}: setup failed")
            continue
        with cf.ThreadPoolExecutor(max_workers=4) as ex:
            kills = [ex.submit(w.rt, "kill", cid, "TERM") for _ in range(3)]
            dele = ex.submit(w.rt, "delete", "--force", cid)
            runs = [k.result() for k in kills]
            d = dele.result()
        if not d.ok or d.hung or d.panicked:
            fail(f"killdel #{i}: delete --force: {d}")
        for k in runs:
            if k.hung or k.panicked or (not k.ok and not k.err.strip()):
                fail(f"killdel #{i}: kill: {k}")
        w.check_clean(cid, f"killdel #{i}")
    return f"{trials} kill/delete --force races"


# --- config.json mutation fuzzing ---------------------------------------------------------

ODD_VALUES = [None, True, False, 0, -1, 1, 2**31, -(2**31) - 1, 2**63, 2**64, 1.5, "", "x" * 5000,
              "../../etc", "relative/path", "/", "/nonexistent/x", "a\nb", "\u00e9\u4e2d", [], {}, [1, "a"], {"k": "v"}]
PROTECTED = {("linux", "cgroupsPath"), ("root", "path")}


def paths(v, pre=()):
    yield pre
    if isinstance(v, dict):
        for k, x in v.items():
            yield from paths(x, pre + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from paths(x, pre + (i,))


def get(v, p):
    for k in p:
        v = v[k]
    return v


def mutate(cfg, rng):
    """Applies 1-3 random mutations; returns the paths touched."""
    touched = []
    for _ in range(rng.randint(1, 3)):
        ps = [p for p in paths(cfg) if p and p[:2] not in PROTECTED]
        p = rng.choice(ps)
        parent, key = get(cfg, p[:-1]), p[-1]
        op = rng.random()
        if op < 0.25:
            del parent[key]
        elif op < 0.7:
            parent[key] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif op < 0.85 and isinstance(parent[key], list) and parent[key]:
            parent[key].append(copy.deepcopy(rng.choice(parent[key])))
        elif isinstance(parent[key], dict):
            parent[key]["fuzz" + str(rng.randint(0, 9))] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif isinstance(parent[key], str):
            parent[key] = parent[key] + rng.choice(["/..", "\x00", "/x", "=", ","])
        else:
            parent[key] = copy.deepcopy(rng.choice(ODD_VALUES))
        touched.append(p)
    # Never let a mutant reach beyond its own world: its own cgroup, its own rootfs, a mount
    # namespace (without one, mounts would land on the host).
    ns = cfg.get("linux", {}).get("namespaces") if isinstance(cfg.get("linux"), dict) else None
    if isinstance(ns, list):
        cfg["linux"]["namespaces"] = [n for n in ns if not (isinstance(n, dict) and n.get("type") == "mount")] + [{"type": "mount"}]
    return touched


def names_field(err, touched, cfg):
    """Does the error name one of the mutated fields (or a path value they hold)?"""
    low = err.lower()
    for p in touched:
        words = [str(k).lower() for k in p if isinstance(k, str)]
        if any(w in low for w in words[-2:]):
            return True
        try:
            v = get(cfg, p)
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(v, str) and v and v.lower() in low:
            return True
    return "config.json" in low and ("line" in low or "column" in low)


def suite_fuzz(w, rng):
    n = int(os.environ.get("MUTANTS", "2000"))
    stats = {"rejected": 0, "created": 0}
    unnamed = []
    for i in range(n):
        cid = f"fz{i}"
        cfg = w.config(cid)
        touched = mutate(cfg, rng)
        cfg["linux"] = cfg.get("linux") if isinstance(cfg.get("linux"), dict) else {}
        cfg["linux"]["cgroupsPath"] = w.cgroup(cid)
        if isinstance(cfg.get("root"), dict) and cfg["root"].get("path") != w.rootfs:
            cfg["root"]["path"] = w.rootfs
        r = w.create(cid, config=cfg)
        what = f"fuzz #{i} (mutated {['.'.join(map(str, p)) for p in touched]})"
        if r.hung or r.panicked:
            fail(f"{what}: {r}")
        if r.ok:
            stats["created"] += 1
            w.delete_force(cid, what)
        else:
            stats["rejected"] += 1
            if not names_field(r.err, touched, cfg):
                unnamed.append(f"{what}: {r.err.strip()[:300]}")
        w.check_clean(cid, what)
    for u in unnamed[:20]:
        fail(f"rejection names no field or path: {u}")
    if len(unnamed) > 20:
        fail(f"... and {len(unnamed) - 20} more rejections that name no field or path")
    return f"{n} mutants (seed {SEED}): {stats['rejected']} rejected ({len(unnamed)} without the field named), {stats['created']} created"


SUITES = {"kill": suite_kill, "lifecycle": suite_lifecycle, "race": suite_race, "exec": suite_exec,
          "killdel": suite_killdel, "fuzz": suite_fuzz}


def main():
    if os.geteuid() != 0:
        sys.exit("reliability: needs root")
    names = [s for s in os.environ.get("SUITES", ",".join(SUITES)).split(",") if s]
    rng = random.Random(SEED)
    w = World()
    print(f"reliability: {RUNTIME}, seed {SEED}, suites {','.join(names)}", flush=True)
    try:
        for name in names:
            t = time.monotonic()
            before = len(failures)
            summary = SUITES[name](w, rng)
            status = "ok" if len(failures) == before else f"{len(failures) - before} failures"
            print(f"reliability: {name}: {summary}: {status} ({time.monotonic() - t:.1f}s)", flush=True)
    finally:
        w.cleanup()
    print(f"reliability: {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
