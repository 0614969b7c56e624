"""Simulated transaction log for profenrich's CLV benchmarks (BG/NBD purchase process,
Gamma-Gamma spend).  Usage:
    clv_sim.py N SEED            -> stdout CSV `customer_id,day,amount` (no header)
    clv_sim.py N SEED --summary  -> stdout CSV `customer_id,frequency,recency,t,monetary`
The summary is computed from exactly the transactions the first form prints (same N and SEED),
as of 2025-12-31, in weeks, same-day purchases merged (dollars summed), frequency = distinct
purchase days - 1, recency = (last day - first day)/7, t = (2025-12-31 - first day)/7,
monetary = mean spend of the repeat days (first day excluded), 0 when frequency = 0.

Model: first purchase day uniform over the 84 days from 2025-01-01; rate lambda ~ Gamma(shape
0.25, rate 4.4) per week; dropout p ~ Beta(0.8, 2.4) after each repeat purchase; exponential
interpurchase times (weeks) until 2025-12-31, floored to days; per-customer mean nu ~ Gamma(3.7,
rate 15.4), per-transaction spend ~ Gamma(shape 6.25, rate nu), rounded to cents, min 0.01.
Vectorized: given lambda, the repeat-purchase times in the window are the sorted points of a
Poisson process (Poisson count, uniform order statistics); the customer survives the first
D - 1 of them, D ~ Geometric(p).  Run with Debian's python3 (/usr/bin/python3)."""
import datetime as dt
import sys

import numpy as np

START = dt.date(2025, 1, 1)
LAST_DAY = (dt.date(2025, 12, 31) - START).days  # 364


def simulate(n, seed):
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 84, n)                       # day index of the first purchase
    window = (LAST_DAY + 1 - first) / 7.0                # weeks until the end of 2025-12-31
    lam = rng.gamma(0.25, 1.0 / 4.4, n)
    p = np.maximum(rng.beta(0.8, 2.4, n), 1e-12)
    dies_after = rng.geometric(p)                        # >= 1 repeat purchases before dropout
    k = rng.poisson(lam * window)                        # Poisson-process points in the window
    nrep = np.minimum(k, dies_after)
    cust = np.repeat(np.arange(n), k)
    u = rng.random(cust.size) * window[cust]
    order = np.lexsort((u, cust))
    cust, u = cust[order], u[order]
    start = np.cumsum(k) - k
    rank = np.arange(cust.size) - start[cust]
    keep = rank < nrep[cust]
    cust, u = cust[keep], u[keep]
    rday = np.minimum(first[cust] + np.floor(u * 7.0).astype(np.int64), LAST_DAY)
    # all transactions, first purchase first, sorted by (customer, day)
    tc = np.concatenate([np.arange(n), cust])
    td = np.concatenate([first, rday])
    order = np.lexsort((td, tc))                         # stable: keeps first purchase first
    tc, td = tc[order], td[order]
    nu = rng.gamma(3.7, 1.0 / 15.4, n)
    spend = rng.gamma(6.25, 1.0, tc.size) / nu[tc]
    cents = np.maximum(np.rint(spend * 100.0).astype(np.int64), 1)
    return first, tc, td, cents


def write_transactions(tc, td, cents, out):
    dates = np.array([(START + dt.timedelta(days=i)).isoformat() for i in range(LAST_DAY + 1)],
                     dtype=object)
    frac = np.array([f"{i:02d}" for i in range(100)], dtype=object)
    ids = (tc + 1).astype(str).astype(object)
    amt = (cents // 100).astype(str).astype(object) + "." + frac[cents % 100]
    chunk = 500_000
    for lo in range(0, tc.size, chunk):
        hi = lo + chunk
        rows = ids[lo:hi] + "," + dates[td[lo:hi]] + "," + amt[lo:hi]
        out.write("\n".join(rows.tolist()))
        out.write("\n")


def write_summary(n, first, tc, td, cents, out):
    key = tc * (LAST_DAY + 1) + td
    newday = np.empty(key.size, bool)
    newday[0] = True
    newday[1:] = key[1:] != key[:-1]
    idx = np.flatnonzero(newday)
    dcust, dday = tc[idx], td[idx]
    dcents = np.add.reduceat(cents, idx)                 # same-day purchases merged
    ndays = np.bincount(dcust, minlength=n)
    freq = ndays - 1
    last = np.zeros(n, np.int64)
    last[dcust] = dday                                   # rows sorted: last write is the max
    firstpos = np.cumsum(ndays) - ndays
    total = np.bincount(dcust, weights=dcents, minlength=n)
    repeat = total - dcents[firstpos]
    monetary = np.where(freq > 0, repeat / np.maximum(freq, 1) / 100.0, 0.0)
    recency = (last - first) / 7.0
    t = (LAST_DAY - first) / 7.0
    cols = [np.arange(1, n + 1).astype(str).astype(object), freq.astype(str).astype(object)]
    cols += [np.array(list(map(repr, c.tolist())), dtype=object) for c in (recency, t, monetary)]
    rows = cols[0] + "," + cols[1] + "," + cols[2] + "," + cols[3] + "," + cols[4]
    out.write("\n".join(rows.tolist()))
    out.write("\n")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit("usage: clv_sim.py N SEED [--summary]")
    n, seed = int(args[0]), int(args[1])
    first, tc, td, cents = simulate(n, seed)
    if "--summary" in sys.argv[1:]:
        write_summary(n, first, tc, td, cents, sys.stdout)
    else:
        write_transactions(tc, td, cents, sys.stdout)


if __name__ == "__main__":
    main()
