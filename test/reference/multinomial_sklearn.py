"""Reference figures for profenrich's multinomial regression besides R's nnet::multinom:
an independent Newton solve of the same likelihoods (numpy), which checks that the nnet figures
are the maximum to 1e-9; the ridge fit (numpy Newton, no other tool uses profenrich's
reference-class penalty); and scikit-learn's multi-class metrics on the recorded predictions
of multinomial_metric_sample.csv.

    /usr/bin/python3 multinomial_sklearn.py DIR [R_OUTPUT [TELCO_CSV]]

DIR holds multinomial_data.csv and multinomial_metric_sample.csv (multinomial_nnet.R writes
them); R_OUTPUT is that script's output, whose figures the check.* lines compare with the
Newton solution; TELCO_CSV the Telco churn file for the same check on [telco]. Prints
`key = value` lines, 17 significant digits. Needs Debian's /usr/bin/python3 (scikit-learn 1.2).
"""
import csv
import math
import os
import sys

import numpy as np
from scipy.stats import norm
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, log_loss,
                             precision_recall_fscore_support, roc_auc_score)

CLASSES = ["dormant", "loyal", "occasional", "regular"]


def kv(key, value):
    print(f"{key} = {value}")


def f17(v):
    return "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.17g}"


def newton(x, y, nclasses, weights=None, l2=0.0, penalized=None, iters=100):
    """Maximize sum_i w_i log p_i[y_i] - l2/2 |theta[penalized]|^2 for the softmax model with
    the first class as reference; x includes the intercept column. Returns theta (K-1 x p),
    the Hessian of the objective at theta (for standard errors), and the log-likelihood."""
    n, p = x.shape
    m = nclasses - 1
    w = np.ones(n) if weights is None else weights
    onehot = np.zeros((n, nclasses))
    onehot[np.arange(n), y] = 1.0
    pen = np.zeros((m, p))
    if penalized is not None:
        pen[:, penalized] = 1.0
    theta = np.zeros((m, p))
    for _ in range(iters):
        eta = np.hstack([np.zeros((n, 1)), x @ theta.T])
        eta -= eta.max(axis=1, keepdims=True)
        pr = np.exp(eta)
        pr /= pr.sum(axis=1, keepdims=True)
        grad = ((onehot[:, 1:] - pr[:, 1:]) * w[:, None]).T @ x - l2 * pen * theta
        hess = np.zeros((m * p, m * p))
        for k in range(m):
            for l in range(m):
                c = pr[:, 1 + k] * ((k == l) - pr[:, 1 + l]) * w
                hess[k * p:(k + 1) * p, l * p:(l + 1) * p] = (x * c[:, None]).T @ x
        hess += np.diag(l2 * pen.ravel())
        step = np.linalg.solve(hess, grad.ravel()).reshape(m, p)
        theta += step
        if np.max(np.abs(step)) < 1e-15 * max(1.0, np.max(np.abs(theta))):
            break
    eta = np.hstack([np.zeros((n, 1)), x @ theta.T])
    lse = np.log(np.exp(eta - eta.max(axis=1, keepdims=True)).sum(axis=1)) + eta.max(axis=1)
    loglik = float(np.sum(w * (eta[np.arange(n), y] - lse)))
    probs = np.exp(eta - lse[:, None])
    return theta, hess, loglik, probs


def read_r(path):
    """key = value lines of the R output"""
    out = {}
    if path and os.path.exists(path):
        for line in open(path):
            if " = " in line:
                k, v = line.rstrip("\n").split(" = ", 1)
                out[k] = v
    return out


def check(prefix, theta, hess, loglik, colnames, classes, r, aliased_ok=False):
    """Print the Newton figures and their largest relative difference from R's"""
    cov = np.linalg.inv(hess)
    m, p = theta.shape
    worst = 0.0
    for k in range(m):
        for j in range(p):
            b = theta[k, j]
            se = math.sqrt(cov[k * p + j, k * p + j])
            z = b / se
            kv(f"{prefix}.newton.{classes[k + 1]}.{colnames[j]}.coef", f17(b))
            kv(f"{prefix}.newton.{classes[k + 1]}.{colnames[j]}.se", f17(se))
            kv(f"{prefix}.newton.{classes[k + 1]}.{colnames[j]}.z", f17(z))
            kv(f"{prefix}.newton.{classes[k + 1]}.{colnames[j]}.p", f17(float(2 * norm.sf(abs(z)))))
            for what, v in (("coef", b), ("se", se)):
                key = f"{prefix}.{classes[k + 1]}.{colnames[j]}.{what}"
                if key in r:
                    worst = max(worst, abs(float(r[key]) - v) / max(abs(v), 1e-300))
    kv(f"{prefix}.newton.loglik", f17(loglik))
    if f"{prefix}.loglik" in r:
        kv(f"check.{prefix}.loglik_rel", f17(abs(float(r[f"{prefix}.loglik"]) - loglik) / abs(loglik)))
        kv(f"check.{prefix}.coef_se_max_rel", f17(worst))


def synthetic(directory, r):
    rows = list(csv.DictReader(open(os.path.join(directory, "multinomial_data.csv"))))
    x1 = np.array([float(t["x1"]) for t in rows])
    assert all(float.fromhex(t["x1_hex"]) == float(t["x1"]) for t in rows)
    x2 = np.array([float(t["x2"]) for t in rows])
    flag = np.array([float(t["flag"]) for t in rows])
    plan = [t["plan"] for t in rows]
    gold = np.array([p == "gold" for p in plan], dtype=float)
    silver = np.array([p == "silver" for p in plan], dtype=float)
    bronze = np.array([p == "bronze" for p in plan], dtype=float)
    y = np.array([CLASSES.index(t["cls"]) for t in rows])
    n = len(rows)
    one = np.ones(n)
    cols = ["(intercept)", "x1", "x2", "flag", "plan=silver", "plan=bronze"]
    x = np.column_stack([one, x1, x2, flag, silver, bronze])

    print("[newton]")
    theta, hess, loglik, probs = newton(x, y, 4)
    check("mle", theta, hess, loglik, cols, CLASSES, r)
    # the full design's fitted probabilities (R: mn_fitted) are the non-aliased design's
    if "full.fitted.1" in r:
        got = np.array([float(v) for v in r["full.fitted.1"].split()])
        kv("check.full.fitted1_max_abs", f17(float(np.max(np.abs(got - probs[0])))))
        kv("check.full.loglik_rel", f17(abs(float(r["full.loglik"]) - loglik) / abs(loglik)))

    counts = np.bincount(y, minlength=4)
    bw = n / (4 * counts[y])
    theta_b, hess_b, loglik_b, _ = newton(x, y, 4, weights=bw)
    check("balanced", theta_b, hess_b, loglik_b, cols, CLASSES, r)
    _, _, raw_b, _ = newton_at(x, y, theta_b)
    kv("balanced.newton.loglik_raw", f17(raw_b))

    # ridge: slots x1, x2, flag, plan=gold, plan=silver, plan=bronze standardized with the
    # population sd, minimize -loglik + l2/2 sum of the squared standardized slopes of every
    # non-reference class (intercepts not penalized); back to the original scale
    print("[ridge]")
    l2 = 2.5
    raw = np.column_stack([x1, x2, flag, gold, silver, bronze])
    mean = raw.mean(axis=0)
    sd = raw.std(axis=0)
    z = np.column_stack([one, (raw - mean) / sd])
    theta_r, _, loglik_r, _ = newton(z, y, 4, l2=l2, penalized=list(range(1, 7)))
    rcols = ["(intercept)", "x1", "x2", "flag", "plan=gold", "plan=silver", "plan=bronze"]
    kv("ridge.l2", l2)
    for k in range(3):
        b = theta_r[k, 1:] / sd
        b0 = theta_r[k, 0] - float(np.sum(b * mean))
        for j, v in enumerate([b0] + list(b)):
            kv(f"ridge.{CLASSES[k + 1]}.{rcols[j]}.coef", f17(float(v)))
    kv("ridge.loglik", f17(loglik_r))


def newton_at(x, y, theta):
    """log-likelihood (unweighted) at theta"""
    n = x.shape[0]
    eta = np.hstack([np.zeros((n, 1)), x @ theta.T])
    lse = np.log(np.exp(eta - eta.max(axis=1, keepdims=True)).sum(axis=1)) + eta.max(axis=1)
    return None, None, float(np.sum(eta[np.arange(n), y] - lse)), None


def metrics(directory):
    rows = list(csv.DictReader(open(os.path.join(directory, "multinomial_metric_sample.csv"))))
    probs = np.array([[float(t[f"p_{c}"]) for c in CLASSES] for t in rows])
    y = np.array([CLASSES.index(t["actual"]) for t in rows])
    labels = list(range(4))
    pred = np.argmax(probs, axis=1)      # the first of equals
    print("[metrics]")
    kv("metrics.n", len(rows))
    kv("metrics.ties_in_argmax", int(np.sum(np.sum(probs == probs.max(axis=1, keepdims=True), axis=1) > 1)))
    kv("metrics.logloss", f17(log_loss(y, probs, labels=labels)))
    kv("metrics.accuracy", f17(accuracy_score(y, pred)))
    kv("metrics.macro_f1", f17(f1_score(y, pred, labels=labels, average="macro", zero_division=0)))
    kv("metrics.weighted_f1", f17(f1_score(y, pred, labels=labels, average="weighted", zero_division=0)))
    kv("metrics.auc", f17(roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=labels)))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    for k, c in enumerate(CLASSES):
        kv(f"metrics.{c}.precision", f17(float(p[k])))
        kv(f"metrics.{c}.recall", f17(float(r[k])))
        kv(f"metrics.{c}.f1", f17(float(f[k])))
        kv(f"metrics.{c}.support", int(s[k]))
        kv(f"metrics.{c}.auc", f17(roc_auc_score((y == k).astype(int), probs[:, k])))
    kv("metrics.confusion", " ".join(str(v) for v in confusion_matrix(y, pred, labels=labels).ravel()))


def telco(path, r):
    print("[telco.newton]")
    if not path or not os.path.exists(path):
        kv("telco.newton", f"skipped: {path} not found")
        return
    rows = list(csv.DictReader(open(path)))
    levels = sorted({t["Contract"] for t in rows})
    y = np.array([levels.index(t["Contract"]) for t in rows])
    cols = ["(intercept)", "tenure", "monthly_charges", "senior_citizen"]
    xs = [np.ones(len(rows)), [float(t["tenure"]) for t in rows],
          [float(t["MonthlyCharges"]) for t in rows], [float(t["SeniorCitizen"]) for t in rows]]
    for v, snake in (("InternetService", "internet_service"), ("PaymentMethod", "payment_method"),
                     ("PaperlessBilling", "paperless_billing")):
        values = [t[v] for t in rows]
        freq = sorted(set(values), key=lambda l: (-values.count(l), l))
        for l in freq[1:]:             # the most frequent level is the reference
            xs.append([1.0 if t == l else 0.0 for t in values])
            cols.append(f"{snake}={l}")
    x = np.column_stack(xs)
    theta, hess, loglik, probs = newton(x, y, len(levels))
    check("telco", theta, hess, loglik, cols, levels, r)
    worst = 0.0
    for i in range(10):
        key = f"telco.fitted.{rows[i]['customerID']}"
        if key in r:
            got = np.array([float(v) for v in r[key].split()])
            worst = max(worst, float(np.max(np.abs(got - probs[i]))))
    kv("check.telco.fitted_max_abs", f17(worst))


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    r = read_r(sys.argv[2] if len(sys.argv) > 2 else None)
    telco_csv = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
        directory, "..", "..", "..", "shared", "data", "churn", "Telco-Customer-Churn.csv")
    import sklearn
    kv("sklearn.version", sklearn.__version__)
    kv("numpy.version", np.__version__)
    synthetic(directory, r)
    metrics(directory)
    telco(telco_csv, r)


if __name__ == "__main__":
    main()
