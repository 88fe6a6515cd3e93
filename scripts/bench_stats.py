"""How far a ratio of bench.py's medians can be trusted: a bootstrap interval.

A ratio such as bulkhead/crun exec comes from two medians of ~30 samples each, and a goal
like "exec <= 0.25x crun" can sit inside its noise. The interval says how much: resample
the iterations with replacement, take the ratio of the medians each time, and report the
middle 95% of those ratios. The samples of one iteration were taken side by side (bench.py
rotates the runtimes within each iteration), so they are resampled together, which keeps
the host's slow and fast phases paired. bench.py drops a failed sample, so lists of equal
length are taken as aligned by iteration (a failure in each list at different iterations
would pair them one off, which only widens the interval a little); lists of unequal length
are resampled independently.
"""
import random
import statistics


def ratio_interval(ours, theirs, resamples=2000, level=0.95, seed=16):
    """(low, high) of median(ours)/median(theirs), or None without samples."""
    if not ours or not theirs:
        return None
    rnd = random.Random(seed)  # the same samples give the same interval
    n, m = len(ours), len(theirs)
    ratios = []
    for _ in range(resamples):
        if n == m:
            idx = [rnd.randrange(n) for _ in range(n)]
            a, b = [ours[i] for i in idx], [theirs[i] for i in idx]
        else:
            a = [ours[rnd.randrange(n)] for _ in range(n)]
            b = [theirs[rnd.randrange(m)] for _ in range(m)]
        ratios.append(statistics.median(a) / statistics.median(b))
    ratios.sort()
    tail = (1 - level) / 2
    return ratios[int(tail * resamples)], ratios[int((1 - tail) * resamples) - 1]


def interval_line(name, ours, theirs, ops):
    """One printable line of intervals for `ops`, and the intervals by op."""
    got = {op: ratio_interval(ours[op], theirs[op]) for op in ops}
    cells = ["%s %.2f-%.2fx" % (op, *got[op]) for op in ops if got[op]]
    return "  95%% interval bulkhead/%-5s %s" % (name, "  ".join(cells)), got
