"""The pipeline a data scientist would run instead of profenrich.train('multinomial'), timed end
to end in the same benchmark run: psql COPY of the columns to CSV, pandas read_csv, and
scikit-learn LogisticRegression(multi_class='multinomial', penalty=None) with its other defaults
(lbfgs, max_iter 100). Prints the milliseconds, then the fit's iterations and training accuracy.
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
names = [f"f{i}" for i in range(1, 21)]
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "data.csv")
    t0 = time.perf_counter()
    subprocess.run(["psql", "-X", "-q", "-d", db, "-c",
                    f"\\copy (SELECT {', '.join(names)}, segment FROM bench.m) TO '{path}' CSV HEADER"],
                   check=True)
    frame = pd.read_csv(path)
    x = frame[names].to_numpy()
    y = frame["segment"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(multi_class="multinomial", penalty=None).fit(x, y)
    elapsed = (time.perf_counter() - t0) * 1000
print(f"{elapsed:.1f}")
print(f"iterations {int(model.n_iter_[0])}, training accuracy {model.score(x, y):.4f}", file=sys.stderr)
