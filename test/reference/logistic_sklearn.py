#!/usr/bin/python3
"""scikit-learn reference figures for profenrich's logistic regression.

    /usr/bin/python3 logistic_sklearn.py [DIR [R_OUTPUT]]

DIR holds logistic_data.csv and logistic_data.sql (written by logistic_glm.R;
default: this script's folder). Prints `key = value` figures (17 significant
digits) on stdout:

  [ridge]    LogisticRegression(penalty='l2', C=1/2.5) on StandardScaler
             features x1, x2, flag, plan=gold, plan=silver, plan=bronze,
             carried back to the original scale; cross-checked against a
             Newton solve of the same objective written here in numpy, on the
             original scale: -loglik + (l2/2) * sum_j (sd_j * b_j)^2.
  [balanced] LogisticRegression(penalty=None, class_weight='balanced') on raw
             x1, x2, flag, plan=silver, plan=bronze (plan=gold, the most
             frequent level, left out by hand: scikit-learn does not alias
             collinear columns; profenrich aliases it); cross-checked against a
             weighted Newton solve; and the calibrated probabilities profenrich
             scores by default: the intercept offset c with mean(sigmoid(eta_i +
             c)) = the positive rate, solved here by bisection.

Solvers. The reference figures come from solver='newton-cholesky' (tol 1e-12),
which reaches the optimum to rounding (gradient ~1e-14). solver='lbfgs' with
tol=1e-12 is also run and printed under `.lbfgs.`, but it is NOT accurate:
scikit-learn 1.2.1 passes only gtol to scipy's L-BFGS-B, whose default
ftol (factr 1e7, i.e. 2.2e-9 relative decrease of the loss) stops it after a
few iterations, 1e-6..1e-4 (relative) away from the optimum.
  [metrics]  roc_auc_score, log_loss, brier_score_loss, accuracy, precision,
             recall, f1 (positive when score >= 0.5) on table metric_sample.

If R_OUTPUT (the stdout of logistic_glm.R) is given, the R glm estimates are
re-derived by an unweighted, unpenalised Newton solve and the R metric figures
(AUC as a Mann-Whitney statistic) are compared with scikit-learn's; any
disagreement is an error. Must run with Debian's /usr/bin/python3 (sklearn).
"""
import csv
import math
import os
import re
import sys
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, brier_score_loss, f1_score,
                             log_loss, precision_score, recall_score,
                             roc_auc_score)
from sklearn.preprocessing import StandardScaler

L2 = 2.5
NEWTON_TOL = 1e-9          # required agreement, sklearn newton-cholesky vs. Newton (relative)
LBFGS_TOL = 1e-3           # lbfgs only has to be near the optimum (see above)

warnings.simplefilter("error", ConvergenceWarning)

here = os.path.dirname(os.path.abspath(__file__))
data_dir = sys.argv[1] if len(sys.argv) > 1 else here
r_output = sys.argv[2] if len(sys.argv) > 2 else None


def g(v):
    return "%.17g" % v


def kv(key, value):
    print(f"{key} = {value}")


def rel_diff(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0)))


# ------------------------------------------------------------------ data ---
with open(os.path.join(data_dir, "logistic_data.csv"), newline="") as fh:
    rows = list(csv.DictReader(fh))
rows.sort(key=lambda r: int(r["id"]))
assert [int(r["id"]) for r in rows] == list(range(1, 301)), "ids must be 1..300"
for r in rows:                      # decimal strings parse to R's exact doubles
    for c in ("x1", "x3"):
        if float(r[c]) != float.fromhex(r[c + "_hex"]):
            sys.exit(f"round-trip mismatch id={r['id']} {c}={r[c]} hex={r[c + '_hex']}")

x1 = np.array([float(r["x1"]) for r in rows])
x2 = np.array([float(int(r["x2"])) for r in rows])
flag = np.array([float(int(r["flag"])) for r in rows])
plan = [r["plan"] for r in rows]
y = np.array([float(int(r["y"])) for r in rows])
gold = np.array([float(p == "gold") for p in plan])
silver = np.array([float(p == "silver") for p in plan])
bronze = np.array([float(p == "bronze") for p in plan])
x3 = np.array([float(r["x3"]) for r in rows])
assert np.array_equal(x3, x1 - 0.5 * x2)

with open(os.path.join(data_dir, "logistic_data.sql")) as fh:
    sql = fh.read()
ms = re.search(r"INSERT INTO metric_sample \(i, score, label\) VALUES\n(.*?);\n", sql, re.S)
pairs = re.findall(r"\((\d+), ([0-9.]+), (true|false)\)", ms.group(1))
assert [int(p[0]) for p in pairs] == list(range(1, 41)), "metric_sample must be i = 1..40"
score = np.array([float(p[1]) for p in pairs])
label = np.array([p[2] == "true" for p in pairs])


# ---------------------------------------------------------------- Newton ---
def newton_logit(A, y, w=None, pen=None, tol=1e-15, maxit=100):
    """Minimise -sum w_i loglik_i + 0.5 * b' diag(pen) b by Newton's method.

    A includes the intercept column. Returns (b, iterations, |gradient|_max).
    """
    n, p = A.shape
    w = np.ones(n) if w is None else w
    pen = np.zeros(p) if pen is None else pen
    b = np.zeros(p)
    for it in range(1, maxit + 1):
        eta = A @ b
        mu = 1.0 / (1.0 + np.exp(-eta))
        grad = A.T @ (w * (mu - y)) + pen * b
        hess = (A * (w * mu * (1.0 - mu))[:, None]).T @ A + np.diag(pen)
        step = np.linalg.solve(hess, grad)
        b = b - step
        if np.max(np.abs(step) / np.maximum(np.abs(b), 1.0)) < tol:
            break
    else:
        raise RuntimeError("Newton did not converge")
    mu = 1.0 / (1.0 + np.exp(-(A @ b)))
    grad = A.T @ (w * (mu - y)) + pen * b
    return b, it, float(np.max(np.abs(grad)))


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


print("# scikit-learn %s, numpy %s" % (sklearn.__version__, np.__version__))
print()

# ----------------------------------------------------------------- ridge ---
names = ["x1", "x2", "flag", "plan=gold", "plan=silver", "plan=bronze"]
X = np.column_stack([x1, x2, flag, gold, silver, bronze])
scaler = StandardScaler()                       # population sd (ddof=0)
Z = scaler.fit_transform(X)
mean, sd = scaler.mean_, scaler.scale_
assert np.allclose(sd, X.std(axis=0, ddof=0), rtol=1e-14)
ridge = LogisticRegression(penalty="l2", C=1.0 / L2, solver="newton-cholesky",
                           tol=1e-12, max_iter=100000).fit(Z, y)
ridge_lb = LogisticRegression(penalty="l2", C=1.0 / L2, solver="lbfgs", tol=1e-12,
                              max_iter=100000).fit(Z, y)
coef_lb = ridge_lb.coef_[0] / sd
intercept_lb = ridge_lb.intercept_[0] - np.sum(coef_lb * mean)
w_std, b_std = ridge.coef_[0], ridge.intercept_[0]
coef = w_std / sd
intercept = b_std - np.sum(coef * mean)
proba = ridge.predict_proba(Z)[:, 1]
assert np.allclose(proba, sigmoid(intercept + X @ coef), rtol=1e-12, atol=0)

# Newton on the original scale, objective -loglik + (l2/2) sum (sd_j b_j)^2.
A = np.column_stack([np.ones(len(y)), X])
bn, it_n, gmax_n = newton_logit(A, y, pen=np.concatenate([[0.0], L2 * sd ** 2]))
d_ridge = rel_diff(np.concatenate([[intercept], coef]), bn)
d_ridge_p = float(np.max(np.abs(proba - sigmoid(A @ bn))))
if d_ridge > NEWTON_TOL:
    sys.exit(f"ridge: sklearn and Newton differ by {d_ridge:.3g} (relative)")
d_ridge_lb = rel_diff(np.concatenate([[intercept_lb], coef_lb]), bn)
if d_ridge_lb > LBFGS_TOL:
    sys.exit(f"ridge: sklearn lbfgs is {d_ridge_lb:.3g} (relative) from the optimum")

print(f"[ridge] sklearn LogisticRegression(penalty='l2', C=1/{L2}, solver='newton-cholesky', "
      "tol=1e-12) on StandardScaler features x1, x2, flag, plan=gold, plan=silver, "
      "plan=bronze; y of logit_data")
print(f"# objective: -loglik(b0, b) + ({L2}/2) * sum_j (sd_j * b_j)^2, sd_j population sd, "
      "intercept not penalised; orig = carried back to the original scale")
kv("ridge.l2", g(L2))
kv("ridge.n", len(y))
kv("ridge.sklearn_iterations", int(ridge.n_iter_[0]))
kv("ridge.min_objective", g(float(
    -np.sum(y * np.log(proba) + (1 - y) * np.log1p(-proba))
    + L2 / 2 * np.sum((sd * coef) ** 2))))
for j, nm in enumerate(names):
    kv(f"ridge.feature[{nm}].mean", g(mean[j]))
    kv(f"ridge.feature[{nm}].sd_pop", g(sd[j]))
kv("ridge.std.intercept", g(b_std))
for j, nm in enumerate(names):
    kv(f"ridge.std.coef[{nm}]", g(w_std[j]))
kv("ridge.orig.intercept", g(intercept))
for j, nm in enumerate(names):
    kv(f"ridge.orig.coef[{nm}]", g(coef[j]))
for i in range(3):
    kv(f"ridge.predict_proba[id={i + 1}]", g(proba[i]))
kv("ridge.newton.intercept", g(bn[0]))
for j, nm in enumerate(names):
    kv(f"ridge.newton.coef[{nm}]", g(bn[j + 1]))
kv("ridge.newton.iterations", it_n)
kv("ridge.newton.max_abs_gradient", "%.3g" % gmax_n)
kv("ridge.sklearn_vs_newton.max_rel_diff_coef", "%.3g" % d_ridge)
kv("ridge.sklearn_vs_newton.max_abs_diff_proba", "%.3g" % d_ridge_p)
print("# solver='lbfgs', tol=1e-12 (stops early, see the header of logistic_sklearn.py)")
kv("ridge.lbfgs.iterations", int(ridge_lb.n_iter_[0]))
kv("ridge.lbfgs.intercept", g(intercept_lb))
for j, nm in enumerate(names):
    kv(f"ridge.lbfgs.coef[{nm}]", g(coef_lb[j]))
kv("ridge.lbfgs_vs_newton.max_rel_diff_coef", "%.3g" % d_ridge_lb)
print()

# -------------------------------------------------------------- balanced ---
bnames = ["x1", "x2", "flag", "plan=silver", "plan=bronze"]
XB = np.column_stack([x1, x2, flag, silver, bronze])
bal = LogisticRegression(penalty=None, class_weight="balanced", solver="newton-cholesky",
                         tol=1e-12, max_iter=100000).fit(XB, y)
bal_lb = LogisticRegression(penalty=None, class_weight="balanced", solver="lbfgs",
                            tol=1e-12, max_iter=100000).fit(XB, y)
n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
w_pos, w_neg = len(y) / (2.0 * n_pos), len(y) / (2.0 * n_neg)
wts = np.where(y == 1, w_pos, w_neg)
AB = np.column_stack([np.ones(len(y)), XB])
bb, it_b, gmax_b = newton_logit(AB, y, w=wts)
bal_coef = np.concatenate([[bal.intercept_[0]], bal.coef_[0]])
d_bal = rel_diff(bal_coef, bb)
if d_bal > NEWTON_TOL:
    sys.exit(f"balanced: sklearn and Newton differ by {d_bal:.3g} (relative)")
bal_lb_coef = np.concatenate([[bal_lb.intercept_[0]], bal_lb.coef_[0]])
d_bal_lb = rel_diff(bal_lb_coef, bb)
if d_bal_lb > LBFGS_TOL:
    sys.exit(f"balanced: sklearn lbfgs is {d_bal_lb:.3g} (relative) from the optimum")
bal_proba = bal.predict_proba(XB)[:, 1]
mu_b = sigmoid(AB @ bb)
wll = float(np.sum(wts * (y * np.log(mu_b) + (1 - y) * np.log1p(-mu_b))))

print("[balanced] sklearn LogisticRegression(penalty=None, class_weight='balanced', "
      "solver='newton-cholesky', tol=1e-12) on raw x1, x2, flag, plan=silver, plan=bronze")
print("# plan=gold is left out by hand: scikit-learn has no aliasing (with it the "
      "unpenalised fit is not identifiable); in profenrich it is the aliased slot, the "
      "most frequent level")
print("# case weights n / (2 * n_class): y=true -> w_pos, y=false -> w_neg")
kv("balanced.n_pos", n_pos)
kv("balanced.n_neg", n_neg)
kv("balanced.w_pos", g(w_pos))
kv("balanced.w_neg", g(w_neg))
kv("balanced.sklearn_iterations", int(bal.n_iter_[0]))
kv("balanced.intercept", g(bal.intercept_[0]))
for j, nm in enumerate(bnames):
    kv(f"balanced.coef[{nm}]", g(bal.coef_[0][j]))
kv("balanced.coef[plan=gold]", "NA")
for i in range(3):
    kv(f"balanced.predict_proba[id={i + 1}]", g(bal_proba[i]))
# the calibration offset: mean(sigmoid(eta + c)) = the positive rate, by bisection (monotone)
eta_b = AB @ bb
lo, hi = -30.0, 30.0
for _ in range(200):
    mid = (lo + hi) / 2
    if np.mean(sigmoid(eta_b + mid)) < y.mean():
        lo = mid
    else:
        hi = mid
cal = (lo + hi) / 2
print("# calibrated: the offset c with mean(sigmoid(eta_i + c)) = positive rate (bisection)")
kv("balanced.calibrated.offset", g(cal))
for i in range(3):
    kv(f"balanced.calibrated.predict_proba[id={i + 1}]", g(sigmoid(eta_b[i] + cal)))
kv("balanced.weighted_loglik", g(wll))
kv("balanced.newton.intercept", g(bb[0]))
for j, nm in enumerate(bnames):
    kv(f"balanced.newton.coef[{nm}]", g(bb[j + 1]))
kv("balanced.newton.iterations", it_b)
kv("balanced.newton.max_abs_gradient", "%.3g" % gmax_b)
kv("balanced.sklearn_vs_newton.max_rel_diff_coef", "%.3g" % d_bal)
print("# solver='lbfgs', tol=1e-12 (stops early, see the header of logistic_sklearn.py)")
kv("balanced.lbfgs.iterations", int(bal_lb.n_iter_[0]))
kv("balanced.lbfgs.intercept", g(bal_lb.intercept_[0]))
for j, nm in enumerate(bnames):
    kv(f"balanced.lbfgs.coef[{nm}]", g(bal_lb.coef_[0][j]))
kv("balanced.lbfgs_vs_newton.max_rel_diff_coef", "%.3g" % d_bal_lb)
print()

# --------------------------------------------------------------- metrics ---
pred = score >= 0.5
m = {
    "roc_auc": roc_auc_score(label, score),
    "log_loss": log_loss(label, score),
    "brier": brier_score_loss(label, score),
    "accuracy": accuracy_score(label, pred),
    "precision": precision_score(label, pred),
    "recall": recall_score(label, pred),
    "f1": f1_score(label, pred),
}
print("[metrics] scikit-learn metrics on metric_sample (40 rows; label true = positive; "
      "log_loss natural log, mean; threshold: positive when score >= 0.5)")
for k, v in m.items():
    kv(f"metrics.{k}", g(v))
kv("metrics.threshold", "0.5")

# ------------------------------------------------------ checks against R ---
if r_output:
    with open(r_output) as fh:
        rv = dict(re.findall(r"^(\S+) = (.*)$", fh.read(), re.M))
    pairs_r = {"roc_auc": "auc_mann_whitney", "log_loss": "log_loss", "brier": "brier",
               "accuracy": "accuracy", "precision": "precision", "recall": "recall",
               "f1": "f1"}
    worst = 0.0
    for k, rk in pairs_r.items():
        d = abs(m[k] - float(rv["metrics.R." + rk])) / abs(m[k])
        if d > 1e-14:
            sys.exit(f"metrics.{k}: sklearn {m[k]!r} vs R {rv['metrics.R.' + rk]}")
        worst = max(worst, d)
    # R glm (aliased plan=gold and x3 dropped) vs. an unweighted Newton solve.
    glm_names = ["(Intercept)", "x1", "x2", "flag", "plan=silver", "plan=bronze"]
    bg, _, _ = newton_logit(AB, y)
    r_est = [float(rv[f"glm.coef[{nm}].estimate"]) for nm in glm_names]
    d_glm = rel_diff(r_est, bg)
    if d_glm > 1e-10:
        sys.exit(f"glm: R and Newton differ by {d_glm:.3g} (relative)")
    print()
    print("[check] R vs. this script")
    kv("check.metrics_R_vs_sklearn.max_rel_diff", "%.3g" % worst)
    kv("check.glm_R_vs_newton.max_rel_diff_coef", "%.3g" % d_glm)
