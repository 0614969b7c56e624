"""Reference figures for profenrich.holdout_check on CDNOW: the holdout validation of Fader,
Hardie & Lee (2005), figure 4 and its table ("conditional expectations"), computed
independently of profenrich with the SciPy implementation of clv_reference.py.

Calibration: purchases up to 1997-09-30 (weeks; same-day purchases are one transaction).
Holdout: 1997-10-01 .. 1998-06-30, 39 weeks. For each customer, the actual number of
transactions (distinct purchase days) in the holdout, and the conditional expectation
E[Y(39) | x, t_x, T] of the BG/NBD and Pareto/NBD models fitted by maximum likelihood on the
calibration period; their means by calibration frequency x = 0, 1, ..., 6 and 7+, and over all.

Run with Debian's python3 (numpy, scipy):
    /usr/bin/python3 test/reference/holdout_reference.py > test/reference/holdout_reference.txt
"""
import datetime as dt
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clv_reference as ref  # noqa: E402  (its data loader, likelihoods, fit and expectations)

HOLDOUT_END = dt.date(1998, 6, 30)
PERIODS = 39.0


def holdout_counts(path=ref.DATA):
    """Distinct purchase days per customer in (CAL_END, HOLDOUT_END]."""
    days = {}
    with open(path) as fh:
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            d = dt.date(int(parts[2][:4]), int(parts[2][4:6]), int(parts[2][6:8]))
            if ref.CAL_END < d <= HOLDOUT_END:
                days.setdefault(int(parts[1]), set()).add(d)
    return {c: len(s) for c, s in days.items()}


def main():
    ids, x, tx, T, _ = ref.load_cdnow()
    counts = holdout_counts()
    actual = np.array([counts.get(c, 0) for c in ids], float)
    bg_hat, _ = ref.fit(lambda p: float(np.sum(ref.bgnbd_ll_i(p, x, tx, T))),
                        np.array([1.0, 1.0, 1.0, 1.0]))
    pn_hat, _ = ref.fit(lambda p: float(np.sum(ref.pareto_ll_i(p, x, tx, T))),
                        np.array([1.0, 1.0, 1.0, 1.0]))
    bg = np.asarray(ref.bgnbd_expected(bg_hat, PERIODS, x, tx, T), float)
    pn = np.array([float(ref.pareto_expected(pn_hat, PERIODS, cx, ctx, cT))
                   for cx, ctx, cT in zip(x, tx, T)])
    print("# holdout_reference.py: CDNOW_sample, calibration to 1997-09-30, holdout "
          "1997-10-01..1998-06-30 (39 weeks)")
    print("# BG/NBD r=%s alpha=%s a=%s b=%s; Pareto/NBD r=%s alpha=%s s=%s beta=%s"
          % tuple(ref.sig(v) for v in list(bg_hat) + list(pn_hat)))
    print(f"# holdout transactions: {int(actual.sum())} by {int((actual > 0).sum())} customers")
    print("frequency,customers,actual_mean,bgnbd_expected_mean,paretonbd_expected_mean")
    group = np.minimum(x, 7)
    for g in list(range(8)) + [None]:
        sel = np.ones(len(x), bool) if g is None else group == g
        print("%s,%d,%s,%s,%s" % ("total" if g is None else g, sel.sum(),
                                  ref.sig(actual[sel].mean()), ref.sig(bg[sel].mean()),
                                  ref.sig(pn[sel].mean())))


if __name__ == "__main__":
    main()
