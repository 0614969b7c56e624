"""The pipeline a data scientist would run instead of profenrich.train('logistic'), timed end
to end in the same benchmark run: psql COPY of the columns to CSV, pandas read_csv, and
scikit-learn LogisticRegression(penalty=None) with its defaults. Prints the milliseconds.
Needs Debian's python3-sklearn and python3-pandas (run with /usr/bin/python3)."""
import os
import subprocess
import sys
import tempfile
import time
import warnings

import pandas as pd
from sklearn.linear_model import LogisticRegression

db = sys.argv[1]
cols = ", ".join(f"f{i}" for i in range(1, 21))
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "data.csv")
    t0 = time.perf_counter()
    subprocess.run(["psql", "-X", "-q", "-d", db, "-c",
                    f"\\copy (SELECT {cols}, label::int AS label FROM bench.t) TO '{path}' CSV HEADER"],
                   check=True)
    frame = pd.read_csv(path)
    x = frame[[f"f{i}" for i in range(1, 21)]].to_numpy()
    y = frame["label"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LogisticRegression(penalty=None).fit(x, y)
    elapsed = (time.perf_counter() - t0) * 1000
print(f"{elapsed:.1f}")
