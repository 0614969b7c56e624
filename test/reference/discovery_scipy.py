"""Independent reference figures for profenrich's feature_report on the IBM Telco churn data
(../shared/data/churn/Telco-Customer-Churn.csv), written from the definitions, with SciPy:

  * numeric target MonthlyCharges: Pearson's r (scipy.stats.pearsonr) and Spearman's rho
    (scipy.stats.spearmanr, average ranks for ties) over the pairs where the feature is
    present; the correlation ratio eta = sqrt(SS_between / SS_total) for categories.
  * binary target Churn == 'Yes': the univariate AUC as the Mann-Whitney U of the positives over
    (positives x negatives) (scipy.stats.mannwhitneyu), over rows where a number is present; for a
    category, each row scored by its category's positive rate.  The information value
    sum((g_i - b_i) ln(g_i / b_i)), g_i and b_i the shares of negatives ("goods") and positives
    ("bads") in bin i, a count of 0 taken as 0.5; numbers in bins (e_{k-1}, e_k] with edges at the
    deciles as percentile_disc takes them (the value of 1-based rank ceil(q n)), repeated edges
    merged, a last bin above the last edge and a bin of the missing values; categories one bin each.

Run with Debian's python3 (numpy, pandas, scipy):
    /usr/bin/python3 test/reference/discovery_scipy.py > test/reference/discovery_reference.txt
"""
import math
import sys

import numpy as np
import pandas as pd
from scipy import stats

DATA = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/churn/Telco-Customer-Churn.csv"
DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def fmt(v):
    return "%.17g" % v


def woe_iv(good, bad, G, B):
    g = (good if good > 0 else 0.5) / G
    b = (bad if bad > 0 else 0.5) / B
    return (g - b) * math.log(g / b)


def numeric_iv(x, pos):
    """Information value of a number over decile bins plus a missing bin."""
    present = ~np.isnan(x)
    v = np.sort(x[present])
    n = len(v)
    edges = []
    for q in DECILES:
        e = v[max(1, int(math.ceil(q * n))) - 1]
        if not edges or e != edges[-1]:
            edges.append(e)
    G, B = float((~pos).sum()), float(pos.sum())
    iv, lower = 0.0, -math.inf
    for e in edges + [math.inf]:
        inbin = present & (x > lower) & (x <= e)
        if inbin.sum() > 0:
            iv += woe_iv(float((inbin & ~pos).sum()), float((inbin & pos).sum()), G, B)
        lower = e
    if (~present).sum() > 0:
        iv += woe_iv(float((~present & ~pos).sum()), float((~present & pos).sum()), G, B)
    return iv


def category_iv(c, pos):
    G, B = float((~pos).sum()), float(pos.sum())
    return sum(woe_iv(float(((c == k) & ~pos).sum()), float(((c == k) & pos).sum()), G, B)
               for k in np.unique(c))


def auc(score, pos):
    u = stats.mannwhitneyu(score[pos], score[~pos], alternative="two-sided").statistic
    return u / (pos.sum() * (~pos).sum())


def main():
    df = pd.read_csv(DATA)
    df["TotalCharges"] = pd.to_numeric(df["TotalCharges"].replace(" ", np.nan))
    print("# discovery_scipy.py: feature_report figures on Telco-Customer-Churn.csv (%d rows), SciPy %s"
          % (len(df), __import__("scipy").__version__))
    y = df["MonthlyCharges"].to_numpy(float)
    print("## numeric target monthly_charges")
    for col, name in [("tenure", "tenure"), ("TotalCharges", "total_charges"),
                      ("SeniorCitizen", "senior_citizen")]:
        x = df[col].to_numpy(float)
        m = ~np.isnan(x)
        r = stats.pearsonr(x[m], y[m])[0]
        rho = stats.spearmanr(x[m], y[m])[0]
        print("%s pearson=%s spearman=%s n=%d" % (name, fmt(r), fmt(rho), m.sum()))
    for col, name in [("Contract", "contract"), ("PaymentMethod", "payment_method")]:
        grand = y.mean()
        between = sum(len(g) * (g.mean() - grand) ** 2 for _, g in df.groupby(col)["MonthlyCharges"])
        total = ((y - grand) ** 2).sum()
        print("%s eta=%s" % (name, fmt(math.sqrt(between / total))))
    print("## binary target churn (positive: Yes)")
    pos = (df["Churn"] == "Yes").to_numpy()
    for col, name in [("tenure", "tenure"), ("TotalCharges", "total_charges"),
                      ("MonthlyCharges", "monthly_charges")]:
        x = df[col].to_numpy(float)
        m = ~np.isnan(x)
        print("%s auc=%s iv=%s" % (name, fmt(auc(x[m], pos[m])), fmt(numeric_iv(x, pos))))
    for col, name in [("Contract", "contract"), ("PaymentMethod", "payment_method")]:
        c = df[col].to_numpy()
        rate = df.groupby(col)["Churn"].apply(lambda s: (s == "Yes").mean())
        score = np.array([rate[k] for k in c])
        print("%s auc=%s iv=%s" % (name, fmt(auc(score, pos)), fmt(category_iv(c, pos))))


if __name__ == "__main__":
    main()
