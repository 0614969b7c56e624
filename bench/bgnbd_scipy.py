"""Baseline for profenrich's BG/NBD fit: what a data scientist would run with SciPy.
Reads CSV lines `frequency,recency,t` (no header) from stdin into NumPy arrays, then times
(best of 5, time.perf_counter) scipy.optimize.minimize(negll, x0=zeros(4), method='L-BFGS-B')
with numerical gradients on the BG/NBD negative log-likelihood (Fader, Hardie & Lee 2005)
over log-parameters. Vectorized NumPy, one row per customer (no compression of identical rows).
Prints: scipy_ms=<best ms> r=.. alpha=.. a=.. b=.. ll=..
Run with Debian's python3 (/usr/bin/python3)."""
import sys
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

data = np.loadtxt(sys.stdin, delimiter=",", ndmin=2)
x, tx, T = data[:, 0].copy(), data[:, 1].copy(), data[:, 2].copy()
pos = x > 0
bx1 = np.where(pos, x - 1.0, 0.0)


def negll(theta):
    r, alpha, a, b = np.exp(theta)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.where(pos, np.log(a) - np.log(b + bx1) - (r + x) * np.log(alpha + tx), -np.inf)
    return -np.sum(a1 + a2 + np.logaddexp(a3, a4))


best = float("inf")
res = None
for _ in range(5):
    t0 = time.perf_counter()
    res = minimize(negll, x0=np.zeros(4), method="L-BFGS-B")
    best = min(best, time.perf_counter() - t0)
r, alpha, a, b = np.exp(res.x)
print(f"scipy_ms={best * 1000:.1f} r={r:.6g} alpha={alpha:.6g} a={a:.6g} b={b:.6g} "
      f"ll={-res.fun:.6f}")
