#!/usr/bin/python3
"""k-means reference figures for test/kmeans_reference.sql (scikit-learn KMeans).

Usage: /usr/bin/python3 kmeans_reference.py OUTDIR [Churn_Modelling.csv]

Writes OUTDIR/kmeans_data.sql (table kmeans_data: 600 rows in 4 planted clusters) and
prints the figures, key = value with 17 significant digits:

- synthetic: the data encoded as profenrich encodes them (x1, x2, x3 numeric, x2 with 6
  NULLs imputed by the mean of the observed values, flag boolean as 0/1, channel one-hot
  with its levels by frequency, ties by value), every slot standardized with its mean and
  population standard deviation (StandardScaler, ddof 0); KMeans(n_clusters=4, n_init=10,
  random_state=0) recovers the planted clusters exactly (checked here), its inertia;
  silhouette_score of the planted clusters; for k = 2..8 the best inertia of n_init=10 and
  the silhouette of its labels.
- bank churn (when the CSV is given): its numeric columns credit_score, age, tenure,
  balance, num_of_products, has_cr_card, is_active_member, estimated_salary (not the ids,
  not the exited label), standardized the same way; for k = 3, 4 and 6 the lowest inertia
  of KMeans(n_init=1, random_state=s) over the seeds s = 0..199, and the median.
"""
import csv
import sys

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

SEED = 20261201
SIZES = [260, 170, 110, 60]


def fmt(v):
    return repr(float(v)) if isinstance(v, (float, np.floating)) else str(v)


def make_data():
    """The 600 rows: cluster, x1, x2 (NaN where NULL), x3, flag, channel; shuffled."""
    rng = np.random.default_rng(SEED)
    centers = np.array([[0.0, 0.0, 40.0], [12.0, 3.0, 25.0], [3.0, 14.0, 60.0], [-10.0, 9.0, 30.0]])
    spread = np.array([0.6, 0.7, 2.0])
    flag_p = np.array([1.0, 0.0, 1.0, 0.0])
    channel_p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    channels = np.array(['web', 'store', 'app'])
    truth = np.repeat(np.arange(4), SIZES)
    truth = truth[rng.permutation(truth.size)]
    n = truth.size
    x1 = np.round(centers[truth, 0] + spread[0] * rng.normal(size=n), 4)
    x2 = np.round(centers[truth, 1] + spread[1] * rng.normal(size=n), 4)
    x3 = np.round(centers[truth, 2] + spread[2] * rng.normal(size=n)).astype(int)
    flag = rng.random(n) < flag_p[truth]
    channel = np.array([channels[rng.choice(3, p=channel_p[c])] for c in truth])
    x2[rng.choice(n, 6, replace=False)] = np.nan
    return truth, x1, x2, x3, flag, channel


def write_sql(path, truth, x1, x2, x3, flag, channel):
    with open(path, 'w') as f:
        f.write('-- 600 rows in 4 planted clusters (test/reference/kmeans_reference.py, seed %d)\n' % SEED)
        f.write('CREATE TABLE kmeans_data (id int PRIMARY KEY, truth int, x1 float8, x2 float8, '
                'x3 int, flag boolean, channel text);\n')
        f.write('INSERT INTO kmeans_data VALUES\n')
        rows = []
        for i in range(truth.size):
            rows.append(' (%d, %d, %s, %s, %d, %s, %s)' % (
                i + 1, truth[i], repr(float(x1[i])),
                'NULL' if np.isnan(x2[i]) else repr(float(x2[i])), x3[i],
                'true' if flag[i] else 'false', "'%s'" % channel[i]))
        f.write(',\n'.join(rows) + ';\n')


def standardize(cols):
    """Columns as profenrich puts them on the clustering scale: (v - mean) / population sd."""
    x = np.column_stack(cols).astype(float)
    mean = x.mean(axis=0)
    sd = x.std(axis=0)
    z = np.where(sd > 0, (x - mean) / np.where(sd > 0, sd, 1), 0.0)
    return z


def encode(x1, x2, x3, flag, channel):
    x2 = np.where(np.isnan(x2), np.nanmean(x2), x2)
    levels, counts = np.unique(channel, return_counts=True)
    order = sorted(zip(levels, counts), key=lambda lc: (-lc[1], lc[0].encode()))
    onehot = [(channel == lev).astype(float) for lev, _ in order]
    return standardize([x1, x2, x3, flag.astype(float)] + onehot), [lev for lev, _ in order]


def same_partition(a, b):
    pairs = set(zip(a, b))
    return len(pairs) == len(set(a)) == len(set(b))


def synthetic(outdir):
    truth, x1, x2, x3, flag, channel = make_data()
    write_sql(outdir + '/kmeans_data.sql', truth, x1, x2, x3, flag, channel)
    z, levels = encode(x1, x2, x3, flag, channel)
    print('[synthetic]')
    print('levels = %s' % ','.join(levels))
    print('sizes = %s' % ','.join(str(s) for s in SIZES))
    km = KMeans(n_clusters=4, n_init=10, random_state=0).fit(z)
    assert same_partition(km.labels_, truth), 'KMeans did not recover the planted clusters'
    print('k4.recovers_truth = true')
    print('k4.inertia = %.17g' % km.inertia_)
    print('k4.iterations = %d' % km.n_iter_)
    print('k4.silhouette_truth = %.17g' % silhouette_score(z, truth))
    for k in range(2, 9):
        km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(z)
        print('k%d.best_inertia = %.17g' % (k, km.inertia_))
        print('k%d.silhouette = %.17g' % (k, silhouette_score(z, km.labels_)))


def bank(path):
    cols = ['CreditScore', 'Age', 'Tenure', 'Balance', 'NumOfProducts', 'HasCrCard',
            'IsActiveMember', 'EstimatedSalary']
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    z = standardize([np.array([float(r[c]) for r in rows]) for c in cols])
    print('[bank]')
    print('rows = %d' % len(rows))
    for k in (3, 4, 6):
        inertias = [KMeans(n_clusters=k, n_init=1, random_state=s).fit(z).inertia_ for s in range(200)]
        print('k%d.best_inertia = %.17g' % (k, min(inertias)))
        print('k%d.median_inertia = %.17g' % (k, float(np.median(inertias))))


def main():
    outdir = sys.argv[1]
    print('# scikit-learn %s, numpy %s' % (sklearn.__version__, np.__version__))
    synthetic(outdir)
    if len(sys.argv) > 2:
        try:
            bank(sys.argv[2])
        except FileNotFoundError:
            print('[bank]\nskipped = %s not found' % sys.argv[2])


if __name__ == '__main__':
    main()
