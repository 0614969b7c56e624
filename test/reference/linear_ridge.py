#!/usr/bin/python3
"""Ridge reference for profenrich (scikit-learn), variant A of linear_data.csv.

Features x1, x2, flag (0/1), plan=gold, plan=silver, plan=bronze (no x3),
standardised with StandardScaler (population sd, ddof=0), then
Ridge(alpha=2.5, fit_intercept=True); coefficients mapped back to the
original scale. Must run with Debian's /usr/bin/python3 (has sklearn).
Prints figures on stdout (see regenerate.sh).
"""
import csv
import os
import sys

import numpy as np
import sklearn
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

ALPHA = 2.5
here = os.path.dirname(os.path.abspath(__file__))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "linear_data.csv")

with open(path, newline="") as fh:
    rows = list(csv.DictReader(fh))
assert len(rows) == 40, len(rows)
rows.sort(key=lambda r: int(r["id"]))
assert [int(r["id"]) for r in rows] == list(range(1, 41))

# The decimal strings must parse (correctly rounded, as PostgreSQL does) to
# exactly R's in-memory doubles, given bit-exactly by the *_hex columns.
for r in rows:
    for c in ("x1", "x3", "y"):
        if float(r[c]) != float.fromhex(r[c + "_hex"]):
            sys.exit(f"round-trip mismatch id={r['id']} {c}={r[c]} hex={r[c + '_hex']}")

names = ["x1", "x2", "flag", "plan=gold", "plan=silver", "plan=bronze"]
X = np.array([[float(r["x1"]), float(int(r["x2"])), float(int(r["flag"])),
               float(r["plan"] == "gold"), float(r["plan"] == "silver"),
               float(r["plan"] == "bronze")] for r in rows])
y = np.array([float(r["y"]) for r in rows])

scaler = StandardScaler()            # ddof=0
Z = scaler.fit_transform(X)
model = Ridge(alpha=ALPHA, fit_intercept=True).fit(Z, y)

mean, sd = scaler.mean_, scaler.scale_
coef_orig = model.coef_ / sd
intercept_orig = model.intercept_ - np.sum(coef_orig * mean)
pred_orig = intercept_orig + X @ coef_orig

# Independent check: closed form on centred standardised data,
# (Zc'Zc + alpha I) b = Zc'(y - ybar), intercept = ybar (Z has mean 0).
Zc = Z - Z.mean(axis=0)
b = np.linalg.solve(Zc.T @ Zc + ALPHA * np.eye(Z.shape[1]), Zc.T @ (y - y.mean()))
assert np.allclose(b, model.coef_, rtol=1e-12, atol=1e-12), (b, model.coef_)
assert np.allclose(pred_orig, model.predict(Z), rtol=1e-12, atol=1e-12)
assert np.allclose(sd, X.std(axis=0, ddof=0), rtol=1e-14)

g = lambda v: "%.17g" % v
print(f"[ridge] sklearn Ridge(alpha={ALPHA}, fit_intercept=True) on StandardScaler "
      "(ddof=0) features x1, x2, flag, plan=gold, plan=silver, plan=bronze; full data")
print(f"# scikit-learn {sklearn.__version__}, numpy {np.__version__}; objective "
      "||y - Zw - b||^2 + alpha*||w||^2 (alpha not scaled by n)")
print("ridge.n = %d" % len(y))
for j, nm in enumerate(names):
    print(f"ridge.feature[{nm}].mean = {g(mean[j])}")
    print(f"ridge.feature[{nm}].sd_pop = {g(sd[j])}")
print(f"ridge.std.intercept = {g(model.intercept_)}")
for j, nm in enumerate(names):
    print(f"ridge.std.coef[{nm}] = {g(model.coef_[j])}")
print(f"ridge.orig.intercept = {g(intercept_orig)}")
for j, nm in enumerate(names):
    print(f"ridge.orig.coef[{nm}] = {g(coef_orig[j])}")
for i in range(3):
    print(f"ridge.predict[id={i + 1}] = {g(pred_orig[i])}")
