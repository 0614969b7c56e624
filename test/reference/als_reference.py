#!/usr/bin/python3
"""Reference figures for profenrich's implicit-feedback ALS ('als').

An independent NumPy implementation of Hu, Koren & Volinsky (2008): the loss
is computed densely over every (user, item) pair, each row's system is
formed explicitly and solved by numpy.linalg.solve (solver "cholesky") or by
conjugate-gradient steps on the explicit matrix (solver "cg"), nothing of
the Y'Y trick.  Writes the fixture (als_data.sql: the interactions and the
starting factors both sides start from) and prints the figures the test
test/als_reference.sql holds.

    /usr/bin/python3 test/reference/als_reference.py test/reference > test/reference/als_reference.txt
"""
import json
import os
import sys

import numpy as np

FACTORS = 5
WIDE = 8            # a second fit at a width that is a multiple of 8 (profenrich's dense item solves)
ALPHA = 2.5
L2 = 0.3
ITERATIONS = 6
CG_STEPS = 3
CG_EPSILON = 1e-20


def build_data():
    """The interactions: (user, item, weight) rows, weight None for a NULL."""
    rng = np.random.default_rng(20261201)
    rows = []
    for u in range(1, 41):
        n = int(rng.integers(2, 11))
        for i in rng.choice(25, size=n, replace=False) + 1:
            rows.append((f"u{u:02d}", f"i{int(i):02d}", int(rng.integers(1, 6))))
    # a repeated pair (its weights add up), a NULL weight (skipped), a pair of weight 0
    # (left out), a user and an item whose only rows weigh 0 (no interaction)
    rows.append(("u03", next(r[1] for r in rows if r[0] == "u03"), 2))
    rows.append(("u05", "i02", None))
    rows.append(("u06", "i03", 0))
    rows.append(("u41", "i04", 0))
    rows.append(("u07", "i26", 0))
    return rows


def matrix(rows):
    """Sorted keys (byte order) and the matrix of summed weights."""
    kept = [r for r in rows if r[2] is not None]
    users = sorted({r[0] for r in kept})
    items = sorted({r[1] for r in kept})
    w = np.zeros((len(users), len(items)))
    for u, i, x in kept:
        w[users.index(u), items.index(i)] += x
    return users, items, w


def start(users, items, factors=FACTORS, seed=7):
    """Starting factors, 6 decimals, as both sides read them."""
    rng = np.random.default_rng(seed)
    x0 = np.round(rng.uniform(0, 0.1, (len(users), factors)), 6)
    y0 = np.round(rng.uniform(0, 0.1, (len(items), factors)), 6)
    return x0, y0


def solve_side(a, b, w, exact, cholesky):
    """Every row of a given the other side b; w holds the rows' summed weights."""
    conf = ALPHA * w                     # confidence minus one, 0 where nothing was seen
    pref = (w > 0).astype(float)
    gram = b.T @ b + L2 * np.eye(b.shape[1])
    out = a.copy()
    for r in range(a.shape[0]):
        c = conf[r]
        m = gram + b.T @ (c[:, None] * b)  # Y' C_u Y + l2 I, C_u = I + diag(c)
        rhs = b.T @ ((1 + c) * pref[r])
        if exact or cholesky:
            out[r] = np.linalg.solve(m, rhs)
            continue
        x = out[r].copy()
        res = rhs - m @ x
        p = res.copy()
        rs = res @ res
        if rs < CG_EPSILON:
            continue
        for _ in range(CG_STEPS):
            ap = m @ p
            pq = p @ ap
            if not pq > 0:
                break
            step = rs / pq
            x += step * p
            res -= step * ap
            rsnew = res @ res
            if rsnew < CG_EPSILON:
                break
            p = res + (rsnew / rs) * p
            rs = rsnew
        out[r] = x
    return out


def loss(w, x, y):
    """sum over every pair of c (p - x'y)^2, plus l2 (|X|^2 + |Y|^2)."""
    c = 1 + ALPHA * w
    p = (w > 0).astype(float)
    return float(np.sum(c * (p - x @ y.T) ** 2) + L2 * (np.sum(x * x) + np.sum(y * y)))


def fit(w, x0, y0, cholesky):
    """Items then users each iteration; the last user step exact."""
    x, y = x0.copy(), y0.copy()
    losses = []
    for it in range(ITERATIONS):
        y = solve_side(y, x, w.T, False, cholesky)
        x = solve_side(x, y, w, it == ITERATIONS - 1, cholesky)
        losses.append(loss(w, x, y))
    return x, y, losses


def top(x, y, w, u, k):
    """The k best unseen items of user u (ties by key)."""
    s = y @ x[u]
    order = sorted((i for i in range(y.shape[0]) if w[u, i] <= 0), key=lambda i: (-s[i], i))
    return order[:k], s


def init_json(users, items, x0, y0):
    return json.dumps({"users": {k: [float(v) for v in x0[n]] for n, k in enumerate(users)},
                       "items": {k: [float(v) for v in y0[n]] for n, k in enumerate(items)}})


def write_fixture(path, rows, users, items, x0, y0, x8, y8):
    with open(os.path.join(path, "als_data.sql"), "w") as f:
        f.write("-- Written by als_reference.py: the interactions and the starting factors of\n"
                "-- test/als_reference.sql.\n")
        f.write("CREATE TABLE als_events (customer text, product text, qty integer);\n")
        f.write("INSERT INTO als_events VALUES\n")
        f.write(",\n".join("  ('%s', '%s', %s)" % (u, i, "NULL" if x is None else x)
                           for u, i, x in rows) + ";\n")
        f.write("CREATE TABLE als_init AS SELECT '%s'::jsonb AS init;\n"
                % init_json(users, items, x0, y0))
        f.write("CREATE TABLE als_init8 AS SELECT '%s'::jsonb AS init;\n"
                % init_json(users, items, x8, y8))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "."
    rows = build_data()
    users, items, w = matrix(rows)
    x0, y0 = start(users, items)
    x8, y8 = start(users, items, WIDE, 8)
    write_fixture(path, rows, users, items, x0, y0, x8, y8)
    print("# numpy %s; factors %d, alpha %s, l2 %s, iterations %d, cg_steps %d"
          % (np.__version__, FACTORS, ALPHA, L2, ITERATIONS, CG_STEPS))
    print("users = %d" % len(users))
    print("items = %d" % len(items))
    print("interactions = %d" % int(np.sum(w > 0)))
    for solver in ("cg", "cholesky"):
        x, y, losses = fit(w, x0, y0, solver == "cholesky")
        for it, value in enumerate(losses, 1):
            print("%s.loss.%d = %.17g" % (solver, it, value))
        for u in ("u01", "u17"):
            best, s = top(x, y, w, users.index(u), 5)
            print("%s.top.%s = %s" % (solver, u, ",".join(items[i] for i in best)))
            print("%s.scores.%s = %s" % (solver, u, ",".join("%.17g" % s[i] for i in best)))
        print("%s.x.u01 = %s" % (solver, ",".join("%.17g" % v for v in x[users.index("u01")])))
        print("%s.y.i01 = %s" % (solver, ",".join("%.17g" % v for v in y[items.index("i01")])))
    x, y, losses = fit(w, x8, y8, False)
    for it, value in enumerate(losses, 1):
        print("cg%d.loss.%d = %.17g" % (WIDE, it, value))
    print("cg%d.y.i01 = %s" % (WIDE, ",".join("%.17g" % v for v in y[items.index("i01")])))


if __name__ == "__main__":
    main()
