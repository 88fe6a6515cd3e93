"""bench.py's runs with a container engine's default seccomp profile (`--seccomp FILE`).

Every container docker, podman or containerd starts has their default profile: ~370 allowed
syscalls, argument rules for clone, personality and socket. A runtime compiles it at create
and installs it in the init and in every exec'd process, so the bench's plain config (from
`runc spec`, no seccomp) leaves that cost out. FILE is such a profile in the engines' own
format (containers-common's /usr/share/containers/seccomp.json, moby's default.json): it is
expanded here as the engines do for an x86_64 host and the config's capabilities. Two more
ops then run in the same rotation as the others:
  run-sc:  `run --bundle B ID` of /bin/true with the profile, unique cgroupsPath
  exec-sc: `exec ID /bin/true` into a `sleep` container started once with the profile
Their peak RSS is kept apart from the main table's (note_rss) and printed with them.
"""
import json
import os
import re

OPS = ("run-sc", "exec-sc")


def fail_key(op):
    """Where bench.py records a failure of `op`: one of these two ops (or the container
    exec-sc goes into) fails only them, not the runtime's other columns."""
    return "sc_failed" if op in OPS else "failed"


def note_rss(rt, op, kib):
    """A peak RSS sample of `op`: the plain ops' peak is the main table's column, as before
    these ops existed; theirs (a profile parsed and compiled, libseccomp for crun and runc)
    is printed with them."""
    key = "rss_sc" if op in OPS else "rss"
    rt[key] = max(rt.get(key, 0), kib)


def _kernel_at_least(version):
    """Is the running kernel at least `version` ("4.8")? As the engines' minKernel."""
    def nums(v):
        return tuple(int(x) for x in re.findall(r"\d+", v)[:2])
    return nums(os.uname().release) >= nums(version)


def oci_profile(path, caps):
    """linux.seccomp for x86_64 from the engines' profile at `path`, for a process whose
    bounding set is `caps`: entries for other arches, for capabilities it lacks (or excluded
    for ones it has) and for kernels newer than this one (minKernel) are left out, as the
    engines leave them."""
    with open(path) as f:
        src = json.load(f)
    out = {"defaultAction": src["defaultAction"],
           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": []}
    if "defaultErrnoRet" in src:
        out["defaultErrnoRet"] = src["defaultErrnoRet"]
    caps = set(caps)
    for sc in src.get("syscalls", []):
        inc, exc = sc.get("includes") or {}, sc.get("excludes") or {}
        if inc.get("arches") and "amd64" not in inc["arches"]:
            continue
        if exc.get("arches") and "amd64" in exc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= caps:
            continue
        if exc.get("caps") and set(exc["caps"]) & caps:
            continue
        if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"]):
            continue
        e = {"names": sc["names"], "action": sc["action"]}
        for k in ("args", "errnoRet"):
            if sc.get(k) is not None:
                e[k] = sc[k]
        out["syscalls"].append(e)
    return out


def with_profile(template, profile):
    cfg = json.loads(json.dumps(template))
    cfg.setdefault("linux", {})["seccomp"] = profile
    return cfg


def report(args, med, rts, interval_line, results):
    """The two ops' medians and bulkhead's ratios, after bench.py's main table; their
    intervals go into `results` with the others'."""
    if not args.seccomp:
        return
    print()
    print("with the engines' default seccomp profile (%s, expanded for x86_64):" % args.seccomp)
    print("  run-sc = run as above with it; exec-sc = exec into a container started with it")
    print("%-10s %11s %11s %12s" % ("runtime", "run-sc", "exec-sc", "peak RSS"))
    peak = {rt["name"]: rt.get("rss_sc") for rt in rts}
    for name, m in med.items():
        rss = ("%8d KiB" % peak[name]) if peak.get(name) else "%12s" % "n/a"
        print("%-10s %8.2f ms %8.2f ms %s" % (name, m["run-sc"], m["exec-sc"], rss))
    for rt in rts:
        if rt.get("sc_failed"):
            print("%s: run-sc/exec-sc failed (%s)" % (rt["name"], rt["sc_failed"].strip().replace("\n", " ")[:300]))
    b = med.get("bulkhead")
    samples = {rt["name"]: rt["t"] for rt in rts}
    for other in ("crun", "runc"):
        o = med.get(other)
        if b and o:
            rss = "  peak RSS %.2fx" % (peak["bulkhead"] / peak[other]) if peak.get("bulkhead") and peak.get(other) else ""
            print("ratio bulkhead/%-5s run-sc %.2fx  exec-sc %.2fx%s" % (
                other, b["run-sc"] / o["run-sc"], b["exec-sc"] / o["exec-sc"], rss))
            line, got = interval_line(other, samples["bulkhead"], samples[other], OPS)
            print(line)
            results.setdefault("ratio_intervals_95", {}).setdefault("bulkhead/" + other, {}).update(got)
