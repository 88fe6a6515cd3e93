#!/usr/bin/env python3
"""Markdown results table from conformance runner logs.
usage: results-table.py 'runc 1.1.5=runc.log' 'crun 1.8.1=crun.log' 'bulkhead=bh.log'"""
import re, sys

runs = [a.split('=', 1) for a in sys.argv[1:]]
res, order, fails, devs, totals = {}, [], [], [], []
for rt, f in runs:
    lines = open(f).read().splitlines()
    totals.append(f'- {rt}: `{lines[-1]}` ({lines[-2].lstrip("# ")})')
    for i, l in enumerate(lines):
        m = re.match(r'^(ok|not ok) (\d+) - (\S+)(.*)$', l)
        if not m:
            continue
        st, _, name, rest = m.groups()
        if name not in order:
            order.append(name)
        if st == 'ok':
            v = 'skip' if '# skip' in rest else 'pass'
        elif 'deviates:' in rest:
            v = 'deviation'
            devs.append(f'- {rt} `{name}`: {rest.split("deviates: ", 1)[1]}')
        else:
            v = '**FAIL**'
            fails.append(f'- {rt} `{name}`: ' + lines[i + 1].replace('#   reason: ', '').strip()[:220].replace('|', '\\|'))
        res[(rt, name)] = v
print('| case | ' + ' | '.join(r for r, _ in runs) + ' |')
print('|---|' + '---|' * len(runs))
for n in order:
    print(f'| `{n}` | ' + ' | '.join(res.get((rt, n), '-') for rt, _ in runs) + ' |')
print('\nTotals:\n\n' + '\n'.join(totals))
if devs:
    print('\nDocumented deviations (`DEVIATIONS` in `src/cases.rs`), as observed:\n\n' + '\n'.join(devs))
if fails:
    print('\nFailures (reasons as printed):\n\n' + '\n'.join(fails))
