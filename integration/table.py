#!/usr/bin/env python3
"""Markdown step table from two run.sh outputs: table.py RUNC_OUT BULKHEAD_OUT."""
import re
import sys


def parse(path):
    res = {}
    for line in open(path, errors="replace"):
        m = re.match(r"^(ok|not ok|skip) ([^:]+): (.*?)(?:: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, client, step, reason = m.groups()
        if kind == "ok":
            # "ok" lines have no reason: the step name may contain ': '
            step = line.rstrip("\n").split(": ", 1)[1]
            reason = None
        res[(client, step)] = (kind, reason or "")
    return res


def cell(r):
    if r is None:
        return "-"
    kind, reason = r
    if kind == "ok":
        return "ok"
    reason = re.sub(r"/\S*/(bulkhead|runc)\b", r"\1", reason).replace("|", "/")
    if len(reason) > 110:
        reason = reason[:107] + "..."
    return "**%s**: %s" % ("FAIL" if kind == "not ok" else "skip", reason)


runc, bh = parse(sys.argv[1]), parse(sys.argv[2])
keys = list(runc) + [k for k in bh if k not in runc]
print("| client | step | runc | bulkhead |")
print("| --- | --- | --- | --- |")
for k in keys:
    print("| %s | %s | %s | %s |" % (k[0], k[1], cell(runc.get(k)), cell(bh.get(k))))
