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
  [multinomial] Pipeline(StandardScaler, SoftmaxRidge(l2)) predicting plan (3
             classes, bronze the reference) from x1, x2, flag, y: profenrich's
             multinomial objective (defined below, solved by Newton's method);
             scoring 'neg_log_loss'; 5 folds, seed 0, test_fraction 0.2; the grid
             l2 = 0, 1, 10, 100.
  [gbdt]     XGBRegressor (xgboost 1.7, hist, 30 rounds, learning_rate 0.1)
             predicting x1 from x2, flag, plan's one-hot slots and y, as profenrich
             encodes them; scoring 'neg_root_mean_squared_error'; 4 folds, seed 3,
             test_fraction 0.25; the grid max_depth = 1, 2, 4.

For each grid point: mean_test_score (negated: log loss, RMSE) and
std_test_score (population sd), as profenrich.tune() reports metric and sd,
and the point GridSearchCV picks (best_params_).  Must run with Debian's
/usr/bin/python3 (scikit-learn, python3-xgboost).
"""
import csv
import os
import sys

import numpy as np
import sklearn
import xgboost as xgb
from sklearn.base import BaseEstimator, ClassifierMixin
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


class SoftmaxRidge(BaseEstimator, ClassifierMixin):
    """profenrich's multinomial objective, solved by Newton's method in numpy: the softmax
    model with the first class (in sort order) as reference, maximizing the log-likelihood
    minus l2/2 times the squared slopes of every non-reference class (the intercepts are not
    penalized); in a Pipeline after StandardScaler the slopes are the standardized ones, as
    profenrich penalizes them."""

    def __init__(self, l2=0.0):
        self.l2 = l2

    def fit(self, X, y):
        self.classes_, yi = np.unique(y, return_inverse=True)
        n, p = X.shape
        x = np.column_stack([np.ones(n), X])
        m = len(self.classes_) - 1
        onehot = np.zeros((n, m + 1))
        onehot[np.arange(n), yi] = 1.0
        pen = np.ones((m, p + 1))
        pen[:, 0] = 0.0
        theta = np.zeros((m, p + 1))
        for _ in range(200):
            pr = self._probs(x, theta)
            grad = (onehot[:, 1:] - pr[:, 1:]).T @ x - self.l2 * pen * theta
            hess = np.zeros((m * (p + 1), m * (p + 1)))
            for k in range(m):
                for j in range(m):
                    c = pr[:, 1 + k] * ((k == j) - pr[:, 1 + j])
                    hess[k * (p + 1):(k + 1) * (p + 1), j * (p + 1):(j + 1) * (p + 1)] = (x * c[:, None]).T @ x
            hess += np.diag(self.l2 * pen.ravel())
            step = np.linalg.solve(hess, grad.ravel()).reshape(m, p + 1)
            theta += step
            if np.max(np.abs(step)) < 1e-14 * max(1.0, np.max(np.abs(theta))):
                break
        self.theta_ = theta
        return self

    @staticmethod
    def _probs(x, theta):
        eta = np.hstack([np.zeros((x.shape[0], 1)), x @ theta.T])
        eta -= eta.max(axis=1, keepdims=True)
        pr = np.exp(eta)
        return pr / pr.sum(axis=1, keepdims=True)

    def predict_proba(self, X):
        return self._probs(np.column_stack([np.ones(X.shape[0]), X]), self.theta_)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


XM = np.column_stack([x1, x2, flag, y])
print("[multinomial] StandardScaler + the softmax ridge above (Newton in numpy) predicting plan "
      "(bronze the reference) from x1, x2, flag, y; neg_log_loss")
search("multinomial", XM, np.array(plan), SoftmaxRidge(), [0.0, 1.0, 10.0, 100.0], 5, 0, 0.2,
       "neg_log_loss", ("l2", lambda v: v))


def levels_by_frequency(values):
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sorted(counts, key=lambda v: (-counts[v], v.encode()))


def search_trees(tag, X, target, estimator, grid, key, k, seed, test_fraction, scoring):
    """GridSearchCV of an XGBoost estimator (no scaling: trees) over profenrich's folds"""
    f = folds(ids, k, seed, test_fraction)
    train = f >= 0
    gs = GridSearchCV(estimator, {key: grid}, scoring=scoring, cv=PredefinedSplit(f[train]),
                      refit=False)
    gs.fit(X[train], target[train])
    kv(f"{tag}.folds", k)
    kv(f"{tag}.fold_rows", ", ".join(str(int((f == j).sum())) for j in range(k)))
    for j, v in enumerate(grid):
        kv(f"{tag}.{key}[{v}].metric", g(-gs.cv_results_["mean_test_score"][j]))
        kv(f"{tag}.{key}[{v}].sd", g(gs.cv_results_["std_test_score"][j]))
    best = int(np.argmin(gs.cv_results_["rank_test_score"]))
    kv(f"{tag}.chosen_{key}", grid[best])
    print()


# profenrich's gbdt slots: the features in the order given, a category one-hot over its levels
# by frequency (ties in byte order), a boolean 0/1; XGBoost 1.7's defaults otherwise
# (base_score 0.5), every round boosted (a fold does not stop early)
plan_levels = levels_by_frequency(plan)
XG = np.column_stack([x2, flag] + [np.array([float(p == lv) for p in plan]) for lv in plan_levels] + [y])
print("[gbdt] xgboost %s XGBRegressor(tree_method='hist', n_estimators=30, learning_rate=0.1, "
      "max_bin=256, base_score=0.5, nthread 1) predicting x1 from x2, flag, plan (slots %s), y; "
      "neg_root_mean_squared_error" % (xgb.__version__, ", ".join(plan_levels)))
search_trees("gbdt", XG, x1,
             xgb.XGBRegressor(tree_method="hist", n_estimators=30, learning_rate=0.1, max_bin=256,
                              base_score=0.5, subsample=1, colsample_bytree=1, min_child_weight=1,
                              reg_lambda=1, reg_alpha=0, random_state=0, n_jobs=1),
             [1, 2, 4], "max_depth", 4, 3, 0.25, "neg_root_mean_squared_error")
