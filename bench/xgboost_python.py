"""The baselines of the gbdt benchmark, in the same run: Python's xgboost.train (Debian's
python3-xgboost 1.7) with the parameters profenrich's bench passes (binary:logistic, 100
rounds of depth 6, eta 0.1, tree_method hist, max_bin 256, nthread 1), on bench.t.
  numpy:    the data already in a NumPy array; timed: DMatrix(X, y, nthread=1) + xgboost.train,
            the faster of two runs
  pipeline: end to end: psql COPY of the columns to CSV, pandas read_csv, DMatrix, xgboost.train
Prints "numpy_ms=<ms> pipeline_ms=<ms> train_ms=<ms>" (train_ms: xgboost.train alone).
Run with /usr/bin/python3 (Debian's, which has xgboost and pandas)."""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import xgboost as xgb

PARAMS = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 6, "eta": 0.1,
          "subsample": 1, "colsample_bytree": 1, "min_child_weight": 1, "lambda": 1, "alpha": 0,
          "max_bin": 256, "seed": 0, "nthread": 1, "verbosity": 0}
ROUNDS = 100
COLS = [f"f{i}" for i in range(1, 21)]


def export(db, path):
    subprocess.run(["psql", "-X", "-q", "-d", db, "-c",
                    f"\\copy (SELECT {', '.join(COLS)}, label::int AS label FROM bench.t ORDER BY id) "
                    f"TO '{path}' CSV HEADER"], check=True)


def boost(x, y):
    t0 = time.perf_counter()
    d = xgb.DMatrix(x, label=y, nthread=1)
    t1 = time.perf_counter()
    xgb.train(PARAMS, d, ROUNDS)
    t2 = time.perf_counter()
    return (t2 - t0) * 1000, (t2 - t1) * 1000


def main():
    db = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.csv")
        export(db, path)
        frame = pd.read_csv(path)
        x = np.ascontiguousarray(frame[COLS].to_numpy(dtype=np.float64))
        y = frame["label"].to_numpy(dtype=np.float64)
        del frame
        # the faster of two runs, as the bench takes profenrich's
        numpy_ms, train_ms = min(boost(x, y), boost(x, y))
        del x, y
        t0 = time.perf_counter()
        export(db, path)
        frame = pd.read_csv(path)
        boost(frame[COLS].to_numpy(dtype=np.float64), frame["label"].to_numpy(dtype=np.float64))
        pipeline_ms = (time.perf_counter() - t0) * 1000
    print(f"numpy_ms={numpy_ms:.1f} pipeline_ms={pipeline_ms:.1f} train_ms={train_ms:.1f}")


if __name__ == "__main__":
    main()
