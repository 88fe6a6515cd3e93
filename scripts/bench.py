#!/usr/bin/env python3
"""Container start-up benchmark: bulkhead vs runc vs crun (driven by scripts/bench.sh).

For each iteration, runtime by runtime (order rotated every iteration):
  (a) run:       `RT --root R run --bundle B ID` of /bin/true
  (b) lifecycle: `create --bundle B --pid-file P ID`, `start ID`, wait until the
                 container process has exited (pidfd), `delete ID`
  (c) exec:      `exec ID /bin/true` into a `sleep` container each runtime started once
Each is timed with time.perf_counter_ns() in a worker process. Runtimes listed
in --ns-runtimes (crun: it refuses this hybrid cgroup host) get a worker started
once inside `unshare -m` with /sys/fs/cgroup/unified unmounted, so the
namespace set-up is not part of any timing. Peak RSS is ru_maxrss from wait4()
of each runtime invocation (covers the runtime and the descendants it reaped).
"""
import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time


# ---------------------------------------------------------------- worker side
TIME = "/usr/bin/time"


def _spawn(argv, errf, rss=False):
    """Run argv; return (rc, peak RSS in KiB or 0).

    With rss=True the command runs under GNU time (-f %M): ru_maxrss of a child
    forked from this Python process would include Python's own RSS (the
    high-water mark survives exec), so a small parent is needed. The floor this
    adds (GNU time's own RSS) is reported by the driver."""
    if not rss:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf, timeout=60)
        return p.returncode, 0
    with tempfile.NamedTemporaryFile("r") as out:
        p = subprocess.run([TIME, "-f", "%M", "-o", out.name] + argv,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf, timeout=60)
        lines = out.read().split()
        kib = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    return p.returncode, kib


def _err_tail(errf):
    errf.seek(0)
    return errf.read().decode(errors="replace").strip()[-500:]


def worker_run(req, errf):
    t0 = time.perf_counter_ns()
    rc, rss = _spawn(req["argv"], errf, req.get("rss", False))
    t1 = time.perf_counter_ns()
    return {"ns": t1 - t0, "rc": rc, "rss": rss, "step": ""}


def worker_lifecycle(req, errf):
    rt, root, bundle, cid, pidfile = req["rt"], req["root"], req["bundle"], req["id"], req["pidfile"]
    base = [rt, "--root", root]
    want_rss = req.get("rss", False)
    rss = 0
    t0 = time.perf_counter_ns()
    rc, r = _spawn(base + ["create", "--bundle", bundle, "--pid-file", pidfile, cid], errf, want_rss)
    rss = max(rss, r)
    if rc != 0:
        return {"rc": rc, "step": "create", "rss": rss}
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        pidfd = os.pidfd_open(pid)
    except (OSError, ValueError) as e:
        return {"rc": 1, "step": "pid-file/pidfd_open: %s" % e, "rss": rss}
    try:
        rc, r = _spawn(base + ["start", cid], errf, want_rss)
        rss = max(rss, r)
        if rc != 0:
            return {"rc": rc, "step": "start", "rss": rss}
        if not select.select([pidfd], [], [], 10)[0]:
            return {"rc": 1, "step": "wait (container still running after 10s)", "rss": rss}
    finally:
        os.close(pidfd)
    rc, r = _spawn(base + ["delete", cid], errf, want_rss)
    rss = max(rss, r)
    if rc != 0:
        # the runtime may not see it as stopped yet: poll `state`, then retry
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            out = subprocess.run(base + ["state", cid], capture_output=True)
            try:
                if json.loads(out.stdout).get("status") == "stopped":
                    break
            except ValueError:
                pass
        rc, r = _spawn(base + ["delete", cid], errf, want_rss)
        rss = max(rss, r)
        if rc != 0:
            return {"rc": rc, "step": "delete", "rss": rss}
    t1 = time.perf_counter_ns()
    return {"ns": t1 - t0, "rc": 0, "rss": rss, "step": "lifecycle"}


def worker_main():
    for line in sys.stdin:
        req = json.loads(line)
        with tempfile.TemporaryFile() as errf:
            try:
                res = (worker_run if req["op"] == "run" else worker_lifecycle)(req, errf)
            except Exception as e:  # report, never die mid-benchmark
                res = {"rc": 1, "step": "worker: %r" % e, "rss": 0}
            if res["rc"] != 0:
                res["err"] = _err_tail(errf)
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


# ---------------------------------------------------------------- driver side
class Worker:
    def __init__(self, in_ns):
        self.in_ns = in_ns
        me = os.path.abspath(__file__)
        argv = [sys.executable, me, "--worker"]
        if in_ns:
            argv = ["unshare", "-m", "sh", "-c",
                    'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', "sh"] + argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def call(self, req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("bench worker died")
        return json.loads(line)

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        except Exception:
            self.p.kill()


def write_config(template, bundle, cgpath):
    cfg = json.loads(json.dumps(template))
    cfg.setdefault("linux", {})["cgroupsPath"] = cgpath
    tmp = os.path.join(bundle, "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(cfg, f)
    os.replace(tmp, os.path.join(bundle, "config.json"))


def fmt_ms(ns):
    return "%8.2f ms" % (ns / 1e6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--dir", help="bench directory (bundles, roots)")
    ap.add_argument("--template", help="config.json template")
    ap.add_argument("--runtime", action="append", default=[], help="NAME=PATH")
    ap.add_argument("--optional", action="append", default=[], help="runtime that may fail")
    ap.add_argument("--ns-runtimes", default="crun")
    ap.add_argument("-n", "--iterations", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rss-iterations", type=int, default=3)
    args = ap.parse_args()
    if args.worker:
        return worker_main()

    with open(args.template) as f:
        template = json.load(f)
    ns_set = set(args.ns_runtimes.split(",")) if args.ns_runtimes else set()
    have_time = os.access(TIME, os.X_OK)
    rts = []
    for spec in args.runtime:
        name, path = spec.split("=", 1)
        rts.append({"name": name, "path": path, "ns": name in ns_set,
                    "bundle": os.path.join(args.dir, name, "bundle"),
                    "root": os.path.join(args.dir, name, "root"),
                    "failed": None, "t": {"run": [], "lifecycle": [], "exec": []}, "rss": 0,
                    "exec_id": "bhb-%s-%d-exec" % (name, os.getpid())})
    workers = {}
    tag = os.getpid()
    seq = 0
    tty = sys.stderr.isatty()

    def one(rt, op, rss):
        nonlocal seq
        seq += 1
        cid = "bhb-%s-%d-%d" % (rt["name"], tag, seq)
        write_config(template, rt["bundle"], "/" + cid)
        w = workers[rt["ns"]]
        if op == "exec":
            req = {"op": "run", "rss": rss, "argv": [rt["path"], "--root", rt["root"], "exec",
                                                      rt["exec_id"], "/bin/true"]}
            res = workers[rt["ns"]].call(req)
            if res["rc"] != 0:
                rt["failed"] = "exec: rc=%s %s" % (res["rc"], res.get("err", ""))
            return res
        if op == "run":
            req = {"op": "run", "rss": rss, "argv": [rt["path"], "--root", rt["root"], "run",
                                                      "--bundle", rt["bundle"], cid]}
        else:
            req = {"op": "lifecycle", "rss": rss, "rt": rt["path"], "root": rt["root"],
                   "bundle": rt["bundle"], "id": cid,
                   "pidfile": os.path.join(args.dir, rt["name"], "pid")}
        res = w.call(req)
        if res["rc"] != 0:
            rt["failed"] = "%s%s: rc=%s %s" % (op, (" " + res["step"]) if res["step"] else "",
                                               res["rc"], res.get("err", ""))
            w.call({"op": "run", "argv": [rt["path"], "--root", rt["root"], "delete", "--force", cid]})
        return res

    try:
        for rt in rts:
            os.makedirs(rt["bundle"], exist_ok=True)
            os.makedirs(rt["root"], exist_ok=True)
            if rt["ns"] not in workers:
                workers[rt["ns"]] = Worker(rt["ns"])
            # The long-running container `exec` goes into (its own bundle dir, same rootfs).
            ebundle = os.path.join(args.dir, rt["name"], "exec-bundle")
            os.makedirs(ebundle, exist_ok=True)
            ecfg = json.loads(json.dumps(template))
            ecfg["process"]["args"] = ["sleep", "100000"]
            ecfg.setdefault("linux", {})["cgroupsPath"] = "/" + rt["exec_id"]
            with open(os.path.join(ebundle, "config.json"), "w") as f:
                json.dump(ecfg, f)
            res = workers[rt["ns"]].call({"op": "run", "argv": [rt["path"], "--root", rt["root"], "run", "-d",
                                                                "--bundle", ebundle, rt["exec_id"]]})
            if res["rc"] != 0:
                rt["failed"] = "run -d (for exec): rc=%s %s" % (res["rc"], res.get("err", ""))
        rss_n = args.rss_iterations if have_time else 0
        total = args.warmup + args.iterations + rss_n
        for it in range(total):
            phase = "warmup" if it < args.warmup else "time" if it < args.warmup + args.iterations else "rss"
            k = it % len(rts)
            order = rts[k:] + rts[:k]
            for op in ("run", "lifecycle", "exec"):
                for rt in order:
                    if rt["failed"]:
                        continue
                    res = one(rt, op, phase == "rss")
                    if res["rc"] != 0:
                        continue
                    if phase == "time":
                        rt["t"][op].append(res["ns"])
                    elif phase == "rss":
                        rt["rss"] = max(rt["rss"], res["rss"])
            if tty:
                sys.stderr.write("\rbench: iteration %d/%d (%s)  " % (it + 1, total, phase))
                sys.stderr.flush()
            elif (it + 1) % 10 == 0 or it + 1 == total:
                print("bench: iteration %d/%d" % (it + 1, total), flush=True)
        if tty:
            sys.stderr.write("\n")
    finally:
        for rt in rts:
            if rt["ns"] in workers:
                try:
                    workers[rt["ns"]].call({"op": "run", "argv": [rt["path"], "--root", rt["root"], "delete",
                                                                   "--force", rt["exec_id"]]})
                except Exception:
                    pass
        for w in workers.values():
            w.close()

    floor = 0
    if have_time:
        with tempfile.TemporaryFile() as errf:
            floor = _spawn(["/bin/true"], errf, True)[1]

    # ---- report
    print()
    print("bench: median wall time per container over %d iterations (+%d warm-up); "
          "peak RSS of the runtime processes over %d more (GNU time %%M, max over all "
          "invocations; floor %s KiB = time's own)" % (args.iterations, args.warmup, rss_n,
                                                     floor or "n/a"))
    print("  run       = `run --bundle B ID` of /bin/true")
    print("  lifecycle = create + start + wait until stopped + delete")
    print("  exec      = `exec ID /bin/true` into a running container")
    print("%-10s %12s %12s %12s %14s" % ("runtime", "run", "lifecycle", "exec", "peak RSS"))
    med = {}
    results = {"iterations": args.iterations, "rss_floor_kib": floor, "runtimes": {}}
    for rt in rts:
        if rt["failed"]:
            print("%s: failed (%s)" % (rt["name"], rt["failed"].strip().replace("\n", " ")[:300]))
            results["runtimes"][rt["name"]] = {"failed": rt["failed"]}
            continue
        m = {op: statistics.median(v) for op, v in rt["t"].items()}
        med[rt["name"]] = m
        rss = ("%10d KiB" % rt["rss"]) if rt["rss"] else "%14s" % "n/a"
        print("%-10s %12s %12s %12s %s" % (rt["name"], fmt_ms(m["run"]), fmt_ms(m["lifecycle"]), fmt_ms(m["exec"]), rss))
        results["runtimes"][rt["name"]] = {
            "median_ns": m, "min_ns": {op: min(v) for op, v in rt["t"].items()},
            "max_ns": {op: max(v) for op, v in rt["t"].items()},
            "peak_rss_kib": rt["rss"], "samples_ns": rt["t"], "path": rt["path"]}
    print()
    for other in ("runc", "crun"):
        if "bulkhead" in med and other in med:
            print("ratio bulkhead/%-5s run %.2fx  lifecycle %.2fx  exec %.2fx" % (
                other, med["bulkhead"]["run"] / med[other]["run"],
                med["bulkhead"]["lifecycle"] / med[other]["lifecycle"],
                med["bulkhead"]["exec"] / med[other]["exec"]))
        else:
            print("ratio bulkhead/%-5s n/a" % other)
    out = os.path.join(args.dir, "results.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print("bench: raw samples in %s" % out)
    # the reference runtimes must work; bulkhead is optional until it does
    bad = [rt["name"] for rt in rts if rt["failed"] and rt["name"] not in args.optional]
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        if "--worker" not in sys.argv:
            print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
