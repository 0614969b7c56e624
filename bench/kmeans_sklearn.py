"""scikit-learn's KMeans on the benchmark table, the data already in a NumPy array: the
table's f1..f20 are read (psql COPY, pandas) and standardized with the population standard
deviation as profenrich does, untimed; then KMeans(n_clusters=8, n_init=1) is fitted and
timed, the fastest of two fits (seeds 0 and 1). Prints "ms iterations inertia" of the
faster fit. Needs Debian's python3-sklearn and python3-pandas (run with /usr/bin/python3)."""
import os
import subprocess
import sys
import tempfile
import time

import pandas as pd
from sklearn.cluster import KMeans

db = sys.argv[1]
cols = ", ".join(f"f{i}" for i in range(1, 21))
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "data.csv")
    subprocess.run(["psql", "-X", "-q", "-d", db, "-c",
                    f"\\copy (SELECT {cols} FROM bench.t) TO '{path}' CSV HEADER"], check=True)
    x = pd.read_csv(path).to_numpy()
x = (x - x.mean(axis=0)) / x.std(axis=0)
best = None
for seed in (0, 1):
    t0 = time.perf_counter()
    km = KMeans(n_clusters=8, n_init=1, random_state=seed).fit(x)
    elapsed = (time.perf_counter() - t0) * 1000
    if best is None or elapsed < best[0]:
        best = (elapsed, km.n_iter_, km.inertia_)
print(f"{best[0]:.1f} {best[1]} {best[2]:.1f}")
