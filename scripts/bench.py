#!/usr/bin/env python3
"""Container start-up benchmark: bulkhead vs runc vs crun and the floor (driven by scripts/bench.sh).

Sequential part, for each iteration, runtime by runtime (order rotated every iteration):
  floor:     `unshare -m -u -i -n -p -f ROOTFS/bin/true` with the namespaces of the config (what
             any runtime must at least pay: the namespaces, a fork, an exec of the same
             payload), once per iteration
  exec floor: `nsenter -t PID -m -u -i -n -p -r -w /bin/true` into the exec container's init
  payload:   the rootfs's /bin/true run directly, no namespaces: what every figure pays for the
             program itself (busybox's static glibc start-up is slow in a VM), printed so that
             exec can be compared above it
  run:       `RT --root R run --bundle B ID` of /bin/true, unique cgroupsPath per run
  run-nocg:  the same without linux.cgroupsPath (each runtime's default cgroup)
  lifecycle: `create --bundle B --pid-file P ID`, `start ID`, wait until the container
             process has exited (pidfd), `delete ID`
  exec:      `exec ID /bin/true` into a `sleep` container each runtime started once
  run-sc, exec-sc: with --seccomp FILE, run and exec with that profile (bench_seccomp.py)
Each is timed with time.perf_counter_ns() in a worker process. Runtimes listed in
--ns-runtimes (crun on a hybrid host: it refuses one) get workers started inside `unshare -m`
with /sys/fs/cgroup/unified unmounted, so the namespace set-up is not part of any timing.
Peak RSS is GNU time's %M of each runtime invocation (the runtime and what it reaped).

Parallel part: for each count in --workers, W workers per runtime run containers (`run`,
unique ID and cgroupsPath) back to back for --par-seconds; containers/s = containers that
succeeded / wall time. Failures are counted, and afterwards nothing may be left: no state
directory under the runtime's root, no cgroup directory and no process of those containers.

Everything measured (every sample) goes to --out (default DIR/results.json).
"""
import argparse
import json
import math
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

import bench_seccomp
import bench_stats


# ---------------------------------------------------------------- worker side
TIME = os.environ.get("BENCH_TIME", "/usr/bin/time")  # GNU time, for peak RSS


def _run(argv, errf, limit_s=60):
    """Run argv to its end; return its exit status.

    Waits on a pidfd, never with subprocess's `timeout=`: that polls with sleeps of
    1, 2, 4, 8 ms..., so a command that took 1.8 ms was seen to end at about 3.4 ms and
    every figure was rounded up to the next poll (first `make bench` of session 4)."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
    pidfd = os.pidfd_open(p.pid)
    try:
        if not select.select([pidfd], [], [], limit_s)[0]:
            p.kill()
    finally:
        os.close(pidfd)
    return p.wait()


def _spawn(argv, errf, rss=False):
    """Run argv; return (rc, peak RSS in KiB or 0).

    With rss=True the command runs under GNU time (-f %M): ru_maxrss of a child
    forked from this Python process would include Python's own RSS (the
    high-water mark survives exec), so a small parent is needed. The floor this
    adds (GNU time's own RSS) is reported by the driver.
    stdin and stdout are /dev/null: a detached container keeps what it inherits,
    and a pipe kept open by it would make the caller wait forever."""
    if not rss:
        return _run(argv, errf), 0
    with tempfile.NamedTemporaryFile("r") as out:
        rc = _run([TIME, "-f", "%M", "-o", out.name] + argv, errf)
        lines = out.read().split()
        kib = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    return rc, kib


def _err_tail(errf):
    errf.seek(0)
    return errf.read().decode(errors="replace").strip()[-500:]


def worker_run(req, errf):
    errf = subprocess.DEVNULL if req.get("quiet") else errf
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


def worker_loop(req, errf):
    """Parallel phase: `run` containers back to back until the deadline (own bundle dir)."""
    bundle, template, prefix = req["bundle"], req["template"], req["prefix"]
    os.makedirs(bundle, exist_ok=True)
    deadline = time.monotonic() + req["seconds"]
    ok, failed, samples, first_err, n = 0, 0, [], "", 0
    t0 = time.perf_counter_ns()
    while time.monotonic() < deadline:
        n += 1
        cid = "%s-%d" % (prefix, n)
        write_config(template, bundle, "/" + cid)
        errf.seek(0)
        errf.truncate()
        s = time.perf_counter_ns()
        rc, _ = _spawn([req["rt"], "--root", req["root"], "run", "--bundle", bundle, cid], errf)
        samples.append(time.perf_counter_ns() - s)
        if rc == 0:
            ok += 1
        else:
            failed += 1
            if not first_err:
                first_err = "rc=%d %s" % (rc, _err_tail(errf))
            subprocess.run([req["rt"], "--root", req["root"], "delete", "--force", cid],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"rc": 0, "ok": ok, "failed": failed, "ns": time.perf_counter_ns() - t0,
            "samples_ns": samples, "err": first_err, "step": ""}


def worker_main():
    ops = {"run": worker_run, "lifecycle": worker_lifecycle, "loop": worker_loop}
    for line in sys.stdin:
        req = json.loads(line)
        with tempfile.TemporaryFile() as errf:
            try:
                res = ops[req["op"]](req, errf)
            except Exception as e:  # report, never die mid-benchmark
                res = {"rc": 1, "step": "worker: %r" % e, "rss": 0}
            if res["rc"] != 0 and "err" not in res:
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

    def send(self, req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()

    def recv(self):
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("bench worker died")
        return json.loads(line)

    def call(self, req):
        self.send(req)
        return self.recv()

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        except Exception:
            self.p.kill()


def write_config(template, bundle, cgpath):
    cfg = json.loads(json.dumps(template))
    if cgpath:
        cfg.setdefault("linux", {})["cgroupsPath"] = cgpath
    else:
        cfg.setdefault("linux", {}).pop("cgroupsPath", None)
    tmp = os.path.join(bundle, "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(cfg, f)
    os.replace(tmp, os.path.join(bundle, "config.json"))


UNSHARE_FLAGS = {"mount": "-m", "uts": "-u", "ipc": "-i", "network": "-n", "pid": "-p",
                 "cgroup": "-C", "user": "-U", "time": "-T"}


def floor_argv(template):
    """`unshare` of the config's new namespaces, fork, exec the rootfs's /bin/true: the floor.

    The same /bin/true as the containers run (busybox: ~1 ms here, twice the host's
    coreutils `true`), so the payload is in the floor as it is in every runtime's figure."""
    flags = []
    for ns in template.get("linux", {}).get("namespaces", []):
        if not ns.get("path") and ns.get("type") in UNSHARE_FLAGS:
            flags.append(UNSHARE_FLAGS[ns["type"]])
    if "-p" in flags:
        flags.append("-f")
    return ["unshare"] + flags + [os.path.join(template["root"]["path"], "bin", "true")]


def exec_floor_argv(pid):
    """`nsenter` into the namespaces, root and cwd of the container's init, fork, exec
    /bin/true: what any `exec` must at least pay (it also joins the cgroups)."""
    return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "/bin/true"]


def leftovers(rt, prefix, cg_roots=("/sys/fs/cgroup",)):
    """State dirs, cgroup dirs and processes of containers named PREFIX* that are still there."""
    left = []
    try:
        left += ["state %s" % d for d in os.listdir(rt["root"]) if d.startswith(prefix)]
    except FileNotFoundError:
        pass
    for top in cg_roots:
        for dirpath, dirnames, _ in os.walk(top):
            if dirpath.count("/") - top.count("/") >= 4:
                dirnames[:] = []
            for d in list(dirnames):
                if d.startswith(prefix):
                    left.append("cgroup %s" % os.path.join(dirpath, d))
                    dirnames.remove(d)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cgroup" % pid) as f:
                if prefix in f.read():
                    left.append("process %s" % pid)
        except OSError:
            pass
    return left


def med_ms(v):
    return statistics.median(v) / 1e6 if v else float("nan")


OPS = ("run", "run-nocg", "lifecycle", "exec")


def sequential(args, rts, template, workers, tag):
    have_time = os.access(TIME, os.X_OK)
    seq = 0
    tty = sys.stderr.isatty()
    floor = {"samples_ns": [], "exec_samples_ns": [], "payload_samples_ns": []}
    fargv = floor_argv(template)
    pargv = fargv[-1:]
    eargv = None

    def one(rt, op, rss):
        nonlocal seq
        seq += 1
        cid = "bhb-%s-%d-%d" % (rt["name"], tag, seq)
        w = workers[rt["ns"]]
        if op in ("exec", "exec-sc"):
            req = {"op": "run", "rss": rss, "argv": [rt["path"], "--root", rt["root"], "exec",
                                                      rt["exec_id"] + op[4:], "/bin/true"]}
        elif op in ("run", "run-nocg", "run-sc"):
            write_config(template if op != "run-sc" else sc_template, rt["bundle"], "/" + cid if op != "run-nocg" else None)
            req = {"op": "run", "rss": rss, "argv": [rt["path"], "--root", rt["root"], "run",
                                                      "--bundle", rt["bundle"], cid]}
        else:
            write_config(template, rt["bundle"], "/" + cid)
            req = {"op": "lifecycle", "rss": rss, "rt": rt["path"], "root": rt["root"],
                   "bundle": rt["bundle"], "id": cid,
                   "pidfile": os.path.join(os.path.dirname(rt["root"]), "pid")}
        res = w.call(req)
        if res["rc"] != 0:
            rt[bench_seccomp.fail_key(op)] = "%s%s: rc=%s %s" % (
                op, (" " + res["step"]) if res["step"] else "", res["rc"], res.get("err", ""))
            if not op.startswith("exec"):
                w.call({"op": "run", "argv": [rt["path"], "--root", rt["root"], "delete", "--force", cid]})
        return res

    sc_template = bench_seccomp.with_profile(template, args.profile) if args.profile else None
    ops = OPS + (bench_seccomp.OPS if args.profile else ())
    # The long-running containers `exec` goes into (own bundle dirs, same rootfs): ID, ID-sc.
    exec_ids = [(rt, "", template) for rt in rts] + [(rt, "-sc", sc_template) for rt in rts if sc_template]
    for rt, suffix, tmpl in exec_ids:
        ebundle = os.path.join(args.dir, rt["name"], "exec-bundle" + suffix)
        os.makedirs(ebundle, exist_ok=True)
        ecfg = json.loads(json.dumps(tmpl))
        ecfg["process"]["args"] = ["sleep", "100000"]
        ecfg.setdefault("linux", {})["cgroupsPath"] = "/" + rt["exec_id"] + suffix
        with open(os.path.join(ebundle, "config.json"), "w") as f:
            json.dump(ecfg, f)
        res = workers[rt["ns"]].call({"op": "run", "quiet": True, "argv": [
            rt["path"], "--root", rt["root"], "run", "-d", "--bundle", ebundle, rt["exec_id"] + suffix]})
        if res["rc"] != 0:
            rt[bench_seccomp.fail_key("exec" + suffix)] = "run -d (for exec%s): rc=%s" % (suffix, res["rc"])
        elif eargv is None and not rt["ns"] and not suffix:
            st = subprocess.run([rt["path"], "--root", rt["root"], "state", rt["exec_id"]], capture_output=True)
            try:
                eargv = exec_floor_argv(json.loads(st.stdout)["pid"])
            except (ValueError, KeyError):
                pass
    floor["exec_argv"] = eargv
    rss_n = args.rss_iterations if have_time else 0
    total = args.warmup + args.iterations + rss_n
    try:
        for it in range(total):
            phase = "warmup" if it < args.warmup else "time" if it < args.warmup + args.iterations else "rss"
            k = it % len(rts)
            order = rts[k:] + rts[:k]
            if phase == "time":
                res = workers[False].call({"op": "run", "argv": fargv})
                if res["rc"] == 0:
                    floor["samples_ns"].append(res["ns"])
                else:
                    floor["failed"] = "%s: rc=%s %s" % (" ".join(fargv), res["rc"], res.get("err", ""))
                if eargv:
                    res = workers[False].call({"op": "run", "argv": eargv})
                    if res["rc"] == 0:
                        floor["exec_samples_ns"].append(res["ns"])
                res = workers[False].call({"op": "run", "argv": pargv})
                if res["rc"] == 0:
                    floor["payload_samples_ns"].append(res["ns"])
            for op in ops:
                for rt in order:
                    if rt["failed"] or rt.get(bench_seccomp.fail_key(op)):
                        continue
                    res = one(rt, op, phase == "rss")
                    if res["rc"] != 0:
                        continue
                    if phase == "time":
                        rt["t"][op].append(res["ns"])
                    elif phase == "rss":
                        bench_seccomp.note_rss(rt, op, res["rss"])
            if tty:
                sys.stderr.write("\rbench: iteration %d/%d (%s)  " % (it + 1, total, phase))
                sys.stderr.flush()
            elif (it + 1) % 10 == 0 or it + 1 == total:
                print("bench: iteration %d/%d" % (it + 1, total), flush=True)
        if tty:
            sys.stderr.write("\n")
    finally:
        for rt, suffix, _ in exec_ids:
            workers[rt["ns"]].call({"op": "run", "quiet": True, "argv": [
                rt["path"], "--root", rt["root"], "delete", "--force", rt["exec_id"] + suffix]})
    rss_floor = 0
    if have_time:
        with tempfile.TemporaryFile() as errf:
            rss_floor = _spawn(["/bin/true"], errf, True)[1]
    return floor, rss_n, rss_floor


def parallel(args, rts, template, tag):
    """containers/s with W concurrent `run` loops per runtime, failures, leftovers."""
    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    out = {}
    if not counts or args.par_seconds <= 0:
        return out
    pool = {}  # (ns, i) -> Worker, reused across counts and runtimes
    try:
        for w in counts:
            for rt in rts:
                if rt["failed"]:
                    continue
                prefix = "bhb-%s-%d-p%d" % (rt["name"], tag, w)
                ws = []
                for i in range(w):
                    key = (rt["ns"], i)
                    if key not in pool:
                        pool[key] = Worker(rt["ns"])
                    ws.append(pool[key])
                for i, wk in enumerate(ws):
                    wk.send({"op": "loop", "rt": rt["path"], "root": rt["root"], "template": template,
                             "bundle": os.path.join(args.dir, rt["name"], "par-%d" % i),
                             "prefix": "%s-w%d" % (prefix, i), "seconds": args.par_seconds})
                res = [wk.recv() for wk in ws]
                ok = sum(r.get("ok", 0) for r in res)
                failed = sum(r.get("failed", 0) for r in res) + sum(1 for r in res if r["rc"] != 0)
                wall = max(r.get("ns", 0) for r in res) or 1
                errs = [r.get("err") or r.get("step") for r in res if r.get("err") or r["rc"] != 0]
                left = leftovers(rt, prefix)
                out.setdefault(rt["name"], {})[str(w)] = {
                    "per_s": ok / (wall / 1e9), "ok": ok, "failed": failed, "wall_ns": wall,
                    "leftovers": left[:20], "first_error": errs[0] if errs else "",
                    "samples_ns": [s for r in res for s in r.get("samples_ns", [])]}
                r = out[rt["name"]][str(w)]
                print("bench: %2d workers %-8s %7.1f containers/s  failed %d  left %d" % (
                    w, rt["name"], r["per_s"], failed, len(left)), flush=True)
    finally:
        for wk in pool.values():
            wk.close()
    return out


def report(args, rts, floor, rss_n, rss_floor, par):
    fl = med_ms(floor["samples_ns"])
    print()
    print("bench: medians over %d iterations (+%d warm-up); peak RSS over %d more (GNU time %%M, "
          "max over all invocations; time's own: %s KiB)" % (args.iterations, args.warmup, rss_n,
                                                             rss_floor or "n/a"))
    print("  floor     = `%s` (the config's namespaces, fork, exec): %.2f ms%s" % (
        " ".join(floor_argv(json.load(open(args.template)))), fl,
        "  FAILED: " + floor["failed"] if floor.get("failed") else ""))
    efl = med_ms(floor["exec_samples_ns"])
    if floor.get("exec_argv"):
        print("  exec floor = `%s` into the exec container: %.2f ms" % (" ".join(floor["exec_argv"]), efl))
    pay = med_ms(floor.get("payload_samples_ns", []))
    print("  payload   = `%s` alone, no namespaces: %.2f ms" % (floor_argv(json.load(open(args.template)))[-1], pay))
    print("  run       = `run --bundle B ID` of /bin/true, unique cgroupsPath; run-nocg: none")
    print("  lifecycle = create + start + wait until stopped + delete")
    print("  exec      = `exec ID /bin/true` into a running container")
    print("%-10s %11s %11s %11s %11s %12s" % ("runtime", "run", "run-nocg", "lifecycle", "exec", "peak RSS"))
    med = {}
    results = {"iterations": args.iterations, "rss_floor_kib": rss_floor,
               "floor": dict(floor, median_ns=statistics.median(floor["samples_ns"]) if floor["samples_ns"] else None,
                             argv=floor_argv(json.load(open(args.template)))),
               "runtimes": {}, "parallel": par}
    for rt in rts:
        if rt["failed"]:
            print("%s: failed (%s)" % (rt["name"], rt["failed"].strip().replace("\n", " ")[:300]))
            results["runtimes"][rt["name"]] = {"failed": rt["failed"]}
            if not any(rt["t"].values()):
                continue
        m = {op: med_ms(v) for op, v in rt["t"].items()}
        med[rt["name"]] = m
        rss = ("%8d KiB" % rt["rss"]) if rt["rss"] else "%12s" % "n/a"
        print("%-10s %8.2f ms %8.2f ms %8.2f ms %8.2f ms %s" % (
            rt["name"], m["run"], m["run-nocg"], m["lifecycle"], m["exec"], rss))
        results["runtimes"][rt["name"]] = dict(results["runtimes"].get(rt["name"], {}), **{
            "median_ns": {op: statistics.median(v) if v else None for op, v in rt["t"].items()},
            "peak_rss_kib": rt["rss"], "peak_rss_kib_sc": rt.get("rss_sc"), "samples_ns": rt["t"], "path": rt["path"]})
    print()
    b = med.get("bulkhead")
    if b:
        print("ratio bulkhead/floor  run %.2fx  run-nocg %.2fx  exec %.2fx (of the exec floor)" % (
            b["run"] / fl, b["run-nocg"] / fl, b["exec"] / efl))
        for other in ("crun", "runc"):
            o = med.get(other)
            if not o:
                print("ratio bulkhead/%-5s n/a" % other)
                continue
            ours, theirs = (next(rt["rss"] for rt in rts if rt["name"] == n) for n in ("bulkhead", other))
            # No GNU time (the node VM): no peak RSS, so no ratio either.
            rss = "%.2fx" % (ours / theirs) if ours and theirs else "n/a"
            print("ratio bulkhead/%-5s run %.2fx  run-nocg %.2fx  lifecycle %.2fx  exec %.2fx  peak RSS %s" % (
                other, b["run"] / o["run"], b["run-nocg"] / o["run-nocg"], b["lifecycle"] / o["lifecycle"],
                b["exec"] / o["exec"], rss))
            samples = {rt["name"]: rt["t"] for rt in rts}
            line, got = bench_stats.interval_line(other, samples["bulkhead"], samples[other], OPS)
            print(line)
            results.setdefault("ratio_intervals_95", {})["bulkhead/" + other] = got
    for name, m in med.items():
        if name != "bulkhead":
            print("ratio %-8s/floor  run %.2fx  run-nocg %.2fx  exec %.2fx (of the exec floor)" % (
                name, m["run"] / fl, m["run-nocg"] / fl, m["exec"] / efl))
    # What each runtime adds above the floor (its own cost, without the kernel's share and the
    # payload that every runtime pays alike).
    if b:
        for other in ("crun", "runc"):
            o = med.get(other)
            if not o or o["run"] <= fl or o["run-nocg"] <= fl:
                continue
            line = "above the floor, bulkhead/%-5s run %.2fx  run-nocg %.2fx" % (
                other, (b["run"] - fl) / (o["run"] - fl), (b["run-nocg"] - fl) / (o["run-nocg"] - fl))
            if b["exec"] <= efl:
                line += "  exec: bulkhead under the exec floor"
            elif o["exec"] > efl:
                line += "  exec %.2fx" % ((b["exec"] - efl) / (o["exec"] - efl))
            print(line)
        # exec's own cost without the program's: each runtime's exec minus the payload alone.
        for other in ("crun", "runc"):
            o = med.get(other)
            if o and not math.isnan(pay) and b["exec"] > pay and o["exec"] > pay:
                print("above the payload, bulkhead/%-5s exec %.2fx (%.2f ms vs %.2f ms)" % (
                    other, (b["exec"] - pay) / (o["exec"] - pay), b["exec"] - pay, o["exec"] - pay))
    bench_seccomp.report(args, med, rts, bench_stats.interval_line, results)
    if par:
        counts = sorted({int(w) for v in par.values() for w in v})
        print()
        print("parallel: containers/s (`run`, unique cgroupsPath) for %.1f s per point; failed, left behind" % args.par_seconds)
        print("%-8s" % "workers" + "".join("%24s" % n for n in par))
        for w in counts:
            cells = []
            for n in par:
                r = par[n].get(str(w))
                cells.append("%24s" % ("%.1f/s (%d, %d)" % (r["per_s"], r["failed"], len(r["leftovers"])) if r else "-"))
            line = "%-8d" % w + "".join(cells)
            if "bulkhead" in par and str(w) in par["bulkhead"]:
                for other in ("crun", "runc"):
                    if other in par and str(w) in par[other] and par[other][str(w)]["per_s"]:
                        line += "   bulkhead/%s %.2fx" % (other, par["bulkhead"][str(w)]["per_s"] / par[other][str(w)]["per_s"])
            print(line)
        for n, v in par.items():
            for w, r in v.items():
                if r["first_error"] or r["leftovers"]:
                    print("parallel %s %s workers: %s %s" % (n, w, r["first_error"][:200], " ".join(r["leftovers"][:5])))
    out = args.out or os.path.join(args.dir, "results.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print("bench: raw samples in %s" % out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--dir", help="bench directory (bundles)")
    ap.add_argument("--state-dir", help="where each runtime's --root goes (default DIR)")
    ap.add_argument("--template", help="config.json template")
    ap.add_argument("--runtime", action="append", default=[], help="NAME=PATH")
    ap.add_argument("--optional", action="append", default=[], help="runtime that may fail")
    ap.add_argument("--ns-runtimes", default="crun")
    ap.add_argument("-n", "--iterations", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rss-iterations", type=int, default=3)
    ap.add_argument("--workers", default="1,2,4,8,16", help="parallel worker counts ('' = none)")
    ap.add_argument("--par-seconds", type=float, default=3.0, help="seconds per parallel point")
    ap.add_argument("--out", help="results JSON (default DIR/results.json)")
    ap.add_argument("--seccomp", help="an engine's default seccomp profile: run-sc, exec-sc (bench_seccomp)")
    args = ap.parse_args()
    if args.worker:
        return worker_main()

    with open(args.template) as f:
        template = json.load(f)
    caps = template.get("process", {}).get("capabilities", {}).get("bounding", [])
    args.profile = bench_seccomp.oci_profile(args.seccomp, caps) if args.seccomp else None
    ns_set = set(args.ns_runtimes.split(",")) if args.ns_runtimes else set()
    rts = []
    tag = os.getpid()
    for spec in args.runtime:
        name, path = spec.split("=", 1)
        rts.append({"name": name, "path": path, "ns": name in ns_set,
                    "bundle": os.path.join(args.dir, name, "bundle"),
                    "root": os.path.join(args.state_dir or args.dir, name, "root"),
                    "failed": None, "t": {op: [] for op in OPS + (bench_seccomp.OPS if args.seccomp else ())}, "rss": 0,
                    "exec_id": "bhb-%s-%d-exec" % (name, tag)})
    workers = {False: Worker(False)}
    try:
        for rt in rts:
            os.makedirs(rt["bundle"], exist_ok=True)
            os.makedirs(rt["root"], exist_ok=True)
            if rt["ns"] not in workers:
                workers[rt["ns"]] = Worker(rt["ns"])
        floor, rss_n, rss_floor = sequential(args, rts, template, workers, tag)
    finally:
        for w in workers.values():
            w.close()
    par = parallel(args, rts, template, tag)
    report(args, rts, floor, rss_n, rss_floor, par)
    # the reference runtimes must work; bulkhead is optional until it does
    bad = [rt["name"] for rt in rts if rt["failed"] and rt["name"] not in args.optional]
    bad += [n for n, v in par.items() for r in v.values() if n not in args.optional and (r["failed"] or r["leftovers"])]
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        if "--worker" not in sys.argv:
            print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
