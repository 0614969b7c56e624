#!/usr/bin/python3
"""scikit-learn reference figures for profenrich.tune() and cross_validate().

    /usr/bin/python3 tune_sklearn.py [DIR]

DIR holds logistic_data.csv (written by logistic_glm.R; default: this
script's folder).  Prints `key = value` figures (17 significant digits).

The folds are profenrich's: a row's split hash is PostgreSQL's
hashint4extended(id, seed) (Bob Jenkins' lookup3 hash_bytes_uint32_extended,
ported below and checked against values PostgreSQL printed); the row is in the
test split when the low 32 bits fall below floor(test_fraction * 2^32), and
otherwise in fold ((high 32 bits) * k) >> 32 of the training split.  The test
split takes part in no fold.  GridSearchCV runs on the training split with a
PredefinedSplit of those folds:

  [logistic] Pipeline(StandardScaler, LogisticRegression(penalty='l2', C=1/l2,
             solver='newton-cholesky', tol=1e-12)) on x1, x2, flag and plan's
             three 0/1 dummies, y; scoring 'neg_log_loss'; 5 folds, seed 0,
             test_fraction 0.2; the grid l2 = 0.01, 1, 10, 30, 100.
             (A ridge fit keeps every dummy: nothing is aliased.)
  [linear]   Pipeline(StandardScaler, Ridge(alpha=l2)) predicting x1 from x2,
             flag, plan's dummies and y (as 0/1); scoring
             'neg_root_mean_squared_error'; 4 folds, seed 3, test_fraction
             0.25; the grid l2 = 0.01, 3, 10, 30, 300.

For each grid point: mean_test_score (negated: log loss, RMSE) and
std_test_score (population sd), as profenrich.tune() reports metric and sd,
and the point GridSearchCV picks (best_params_).  Must run with Debian's
/usr/bin/python3 (scikit-learn).
"""
import csv
import os
import sys

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

M32 = 0xFFFFFFFF


def rot(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


def mix(a, b, c):
    a = (a - c) & M32; a ^= rot(c, 4); c = (c + b) & M32
    b = (b - a) & M32; b ^= rot(a, 6); a = (a + c) & M32
    c = (c - b) & M32; c ^= rot(b, 8); b = (b + a) & M32
    a = (a - c) & M32; a ^= rot(c, 16); c = (c + b) & M32
    b = (b - a) & M32; b ^= rot(a, 19); a = (a + c) & M32
    c = (c - b) & M32; c ^= rot(b, 4); b = (b + a) & M32
    return a, b, c


def final(a, b, c):
    c ^= b; c = (c - rot(b, 14)) & M32
    a ^= c; a = (a - rot(c, 11)) & M32
    b ^= a; b = (b - rot(a, 25)) & M32
    c ^= b; c = (c - rot(b, 16)) & M32
    a ^= c; a = (a - rot(c, 4)) & M32
    b ^= a; b = (b - rot(a, 14)) & M32
    c ^= b; c = (c - rot(b, 24)) & M32
    return a, b, c


def hash_uint32_extended(k, seed):
    """PostgreSQL's hash_bytes_uint32_extended (common/hashfn.c), as an unsigned 64-bit value"""
    a = b = c = (0x9e3779b9 + 4 + 3923095) & M32
    if seed != 0:
        a = (a + ((seed >> 32) & M32)) & M32
        b = (b + (seed & M32)) & M32
        a, b, c = mix(a, b, c)
    a = (a + (k & M32)) & M32
    a, b, c = final(a, b, c)
    return (b << 32) | c


def signed64(u):
    return u - (1 << 64) if u >= 1 << 63 else u


# hashint4extended(i, 0) and (i, 7) as PostgreSQL 15 printed them, i = 1, 2, 3
PG = {(1, 0): -3670598878359251130, (2, 0): 3647684041653542134, (3, 0): -6566953864026435689,
      (1, 7): -6563890024097284161, (2, 7): -5655441220663813854, (3, 7): -2688544301605215345}
for (i, seed), v in PG.items():
    if signed64(hash_uint32_extended(i, seed)) != v:
        sys.exit(f"the lookup3 port disagrees with PostgreSQL at ({i}, {seed})")


def folds(ids, k, seed, test_fraction):
    """Each row's fold (-1: the test split, in no fold)"""
    threshold = int(np.floor(test_fraction * 4294967296.0))
    out = []
    for i in ids:
        h = hash_uint32_extended(int(i), seed)
        out.append(-1 if (h & M32) < threshold else ((h >> 32) * k) >> 32)
    return np.array(out)


def g(v):
    return "%.17g" % v


def kv(k, v):
    print(f"{k} = {v}")


d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(d, "logistic_data.csv")) as fh:
    rows = list(csv.DictReader(fh))
ids = np.array([int(r["id"]) for r in rows])
x1 = np.array([float.fromhex(r["x1_hex"]) for r in rows])
x2 = np.array([float(r["x2"]) for r in rows])
flag = np.array([float(r["flag"]) for r in rows])
plan = [r["plan"] for r in rows]
gold = np.array([float(p == "gold") for p in plan])
silver = np.array([float(p == "silver") for p in plan])
bronze = np.array([float(p == "bronze") for p in plan])
y = np.array([float(r["y"]) for r in rows])

print("# profenrich tune()/cross_validate() reference: scikit-learn %s GridSearchCV over "
      "profenrich's folds (17 significant digits)" % sklearn.__version__)
print()


def search(tag, X, target, estimator, grid, k, seed, test_fraction, scoring, to_param):
    f = folds(ids, k, seed, test_fraction)
    train = f >= 0
    gs = GridSearchCV(Pipeline([("scale", StandardScaler()), ("m", estimator)]),
                      {"m__" + to_param[0]: [to_param[1](v) for v in grid]},
                      scoring=scoring, cv=PredefinedSplit(f[train]), refit=False)
    gs.fit(X[train], target[train])
    kv(f"{tag}.folds", k)
    kv(f"{tag}.seed", seed)
    kv(f"{tag}.test_fraction", test_fraction)
    kv(f"{tag}.training_rows", int(train.sum()))
    kv(f"{tag}.fold_rows", ", ".join(str(int((f == j).sum())) for j in range(k)))
    for j, v in enumerate(grid):
        kv(f"{tag}.l2[{g(v)}].metric", g(-gs.cv_results_["mean_test_score"][j]))
        kv(f"{tag}.l2[{g(v)}].sd", g(gs.cv_results_["std_test_score"][j]))
    best = int(np.argmin(gs.cv_results_["rank_test_score"]))
    kv(f"{tag}.chosen_l2", g(grid[best]))
    print()


X = np.column_stack([x1, x2, flag, gold, silver, bronze])
print("[logistic] StandardScaler + LogisticRegression(C=1/l2, solver='newton-cholesky', "
      "tol=1e-12); neg_log_loss")
search("logistic", X, y,
       LogisticRegression(penalty="l2", solver="newton-cholesky", tol=1e-12, max_iter=100000),
       [0.01, 1.0, 10.0, 30.0, 100.0], 5, 0, 0.2, "neg_log_loss", ("C", lambda v: 1.0 / v))
XL = np.column_stack([x2, flag, gold, silver, bronze, y])
print("[linear] StandardScaler + Ridge(alpha=l2); neg_root_mean_squared_error; target x1")
search("linear", XL, x1, Ridge(), [0.01, 3.0, 10.0, 30.0, 300.0], 4, 3, 0.25,
       "neg_root_mean_squared_error", ("alpha", lambda v: v))
