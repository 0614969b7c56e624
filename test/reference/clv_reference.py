"""Independent reference implementation of the BG/NBD, Pareto/NBD and Gamma-Gamma models on the
CDNOW sample, used to check profenrich's CLV functions.

Sources (formulas written from the papers, not from any package):
  * Fader, Hardie & Lee (2005) "Counting your customers the easy way: an alternative to the
    Pareto/NBD model" (BG/NBD likelihood, E[Y(t)|x,t_x,T], P(alive)).
  * Schmittlein, Morrison & Colombo (1987); Fader & Hardie (2005) "A Note on Deriving the
    Pareto/NBD Model and Related Expressions" (likelihood via 2F1, P(alive), E[Y(t)|...]).
  * Fader, Hardie & Lee (2005) "RFM and CLV: Using Iso-Value Curves for Customer Base
    Analysis" (Gamma-Gamma spend model).

Run with Debian's python3 (numpy, scipy; mpmath optional for a hyp2f1 cross-check):
    /usr/bin/python3 test/reference/clv_reference.py > test/reference/clv_reference.txt
"""
import datetime as dt
import sys

import numpy as np
from scipy import optimize
from scipy.special import betaln, gammaln, hyp2f1

DATA = "/work/shared/data/cdnow/CDNOW_sample.txt"
CAL_END = dt.date(1997, 9, 30)
K_MONTH = 30.0 / 7.0
HORIZON = 12
DISCOUNT = 0.01

PUB_BG = (0.2426, 4.4136, 0.7929, 2.4259)
PUB_PN = (0.5533, 10.578, 0.6062, 11.669)
PUB_GG = (6.2496, 3.7442, 15.4435)
PUB_LL = {"BG/NBD": -9582.43, "Pareto/NBD": -9594.98, "Gamma-Gamma": -4055.92}

TEST_CUSTOMERS = [(0, 0.0, 38.86, 0.0), (2, 30.43, 38.86, 25.0), (7, 35.0, 38.0, 40.0),
                  (1, 2.0, 32.0, 15.0), (25, 37.0, 38.5, 30.0)]


# ----------------------------------------------------------------------------- data
def load_cdnow(path=DATA):
    """Per-customer (x, t_x, T, m) on the calibration period, same-day purchases merged."""
    days = {}  # (cust, date) -> dollars
    with open(path) as fh:
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            cust = int(parts[1])
            d = dt.date(int(parts[2][:4]), int(parts[2][4:6]), int(parts[2][6:8]))
            days[(cust, d)] = days.get((cust, d), 0.0) + float(parts[4])
    per = {}
    for (cust, d), amt in days.items():
        per.setdefault(cust, []).append((d, amt))
    ids = sorted(per)
    x, tx, T, m = [], [], [], []
    for cust in ids:
        rows = sorted(per[cust])
        first = rows[0][0]
        cal = [(d, a) for d, a in rows if d <= CAL_END]
        # every customer's first purchase is in Q1 1997, so cal is never empty
        n = len(cal) - 1
        x.append(n)
        tx.append((cal[-1][0] - first).days / 7.0)
        T.append((CAL_END - first).days / 7.0)
        m.append(sum(a for _, a in cal[1:]) / n if n > 0 else 0.0)
    return np.array(ids), np.array(x, float), np.array(tx), np.array(T), np.array(m)


# ----------------------------------------------------------------------------- BG/NBD
def bgnbd_ll_i(params, x, tx, T):
    r, alpha, a, b = params
    ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    ln_a2 = betaln(a, b + x) - betaln(a, b)  # = lnG(a+b)+lnG(b+x)-lnG(b)-lnG(a+b+x)
    ln_a3 = -(r + x) * np.log(alpha + T)
    pos = x > 0
    ln_a4 = np.where(pos, np.log(a) - np.log(np.where(pos, b + x - 1, 1.0))
                     - (r + x) * np.log(alpha + tx), -np.inf)
    return ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)


def bgnbd_palive(params, x, tx, T):
    r, alpha, a, b = params
    x = np.asarray(x, float)
    pos = x > 0
    ratio = np.where(pos, a / np.where(pos, b + x - 1, 1.0)
                     * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + tx))), 0.0)
    return 1.0 / (1.0 + ratio)


def bgnbd_expected(params, t, x, tx, T):
    """E[Y(t) | x, t_x, T] (FHL 2005 eq. 10)."""
    r, alpha, a, b = params
    if t == 0:
        return 0.0 * np.asarray(x, float)
    x = np.asarray(x, float)
    z = t / (alpha + T + t)
    f = hyp2f1(r + x, b + x, a + b + x - 1, z)
    num = (a + b + x - 1) / (a - 1) * (1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * f)
    return num * bgnbd_palive(params, x, tx, T)


def bgnbd_expected_euler(params, t, x, tx, T):
    """Same quantity via Euler's transformation 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z):
    ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)
      = ((alpha+T)/(alpha+T+t))^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),
    which does not overflow for large x (the direct 2F1 alone overflows near x ~ 1000)."""
    r, alpha, a, b = params
    x = np.asarray(x, float)
    z = t / (alpha + T + t)
    f = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    num = (a + b + x - 1) / (a - 1) * (1.0 - ((alpha + T) / (alpha + T + t)) ** (a - 1) * f)
    return num * bgnbd_palive(params, x, tx, T)


# ----------------------------------------------------------------------------- Pareto/NBD
def _log_diff_exp(u1, u2):
    """log(exp(u1) - exp(u2)) for u1 >= u2 (returns -inf when equal)."""
    with np.errstate(divide="ignore"):
        return u1 + np.log1p(-np.exp(u2 - u1))


def pareto_log_a0(params, x, tx, T):
    """log A0 of the Fader-Hardie note (alpha >= beta and alpha < beta cases)."""
    r, alpha, s, beta = params
    rsx = r + s + x
    if alpha >= beta:
        b2, big = s + 1.0, alpha
        w = alpha - beta
    else:
        b2, big = r + x, beta
        w = beta - alpha
    u1 = np.log(hyp2f1(rsx, b2, rsx + 1, w / (big + tx))) - rsx * np.log(big + tx)
    u2 = np.log(hyp2f1(rsx, b2, rsx + 1, w / (big + T))) - rsx * np.log(big + T)
    return _log_diff_exp(u1, u2)


def pareto_ll_i(params, x, tx, T):
    r, alpha, s, beta = params
    x = np.asarray(x, float)
    base = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    t1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    t2 = np.log(s / (r + s + x)) + pareto_log_a0(params, x, tx, T)
    return base + np.logaddexp(t1, t2)


def pareto_palive(params, x, tx, T):
    r, alpha, s, beta = params
    x = np.asarray(x, float)
    lr = (np.log(s / (r + s + x)) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
          + pareto_log_a0(params, x, tx, T))
    return 1.0 / (1.0 + np.exp(lr))


def pareto_expected(params, t, x, tx, T):
    r, alpha, s, beta = params
    if t == 0:
        return 0.0 * np.asarray(x, float)
    x = np.asarray(x, float)
    e = ((r + x) * (beta + T) / ((alpha + T) * (s - 1))
         * (1.0 - ((beta + T) / (beta + T + t)) ** (s - 1)))
    return e * pareto_palive(params, x, tx, T)


# ----------------------------------------------------------------------------- Gamma-Gamma
def gg_ll_i(params, x, m):
    p, q, g = params
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g) + (px - 1) * np.log(m)
            + px * np.log(x) - (px + q) * np.log(g + m * x))


def gg_expected(params, x, m):
    p, q, g = params
    if x == 0:
        return p * g / (q - 1)
    return p * (g + x * m) / (p * x + q - 1)


# ----------------------------------------------------------------------------- CLV
def clv(expected, params, x, tx, T, spend):
    total = 0.0
    prev = 0.0
    for i in range(1, HORIZON + 1):
        cur = float(expected(params, i * K_MONTH, x, tx, T))
        total += (cur - prev) * spend / (1.0 + DISCOUNT) ** i
        prev = cur
    return total


# ----------------------------------------------------------------------------- fitting
def fit(total_ll, x0):
    """Maximise total_ll over log-parameters: Nelder-Mead, then BFGS, then Newton polish."""
    f = lambda th: -total_ll(np.exp(th))
    res = optimize.minimize(f, np.log(x0), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20000,
                                     "maxfev": 40000})
    res = optimize.minimize(f, res.x, method="BFGS", options={"gtol": 1e-8})
    th = res.x
    for _ in range(8):  # Newton steps on log-parameters with a numerical Hessian
        g = grad(f, th)
        H = hessian(f, th)
        step = np.linalg.solve(H, g)
        if f(th - step) <= f(th) + 1e-12:
            th = th - step
        if np.max(np.abs(step)) < 1e-12:
            break
    return np.exp(th), -f(th)


def grad(f, th, rel=1e-4):
    """5-point central differences (error O(h^4))."""
    th = np.asarray(th, float)
    g = np.zeros_like(th)
    for i in range(th.size):
        h = rel * max(1.0, abs(th[i]))
        e = np.zeros_like(th)
        e[i] = h
        g[i] = (-f(th + 2 * e) + 8 * f(th + e) - 8 * f(th - e) + f(th - 2 * e)) / (12 * h)
    return g


def hessian(f, th, rel=1e-3):
    """Central differences of the 5-point gradient, symmetrised."""
    th = np.asarray(th, float)
    n = th.size
    H = np.zeros((n, n))
    for i in range(n):
        h = rel * max(1.0, abs(th[i]))
        e = np.zeros(n)
        e[i] = h
        H[i] = (-grad(f, th + 2 * e) + 8 * grad(f, th + e) - 8 * grad(f, th - e)
                + grad(f, th - 2 * e)) / (12 * h)
    return 0.5 * (H + H.T)


def std_errors(total_ll, params):
    """SEs of the natural parameters from the inverse Hessian of -LL (natural scale)."""
    f = lambda p: -total_ll(np.asarray(p))
    H = np.zeros((len(params), len(params)))
    params = np.asarray(params, float)
    n = params.size
    # step relative to each parameter's own size (parameters differ by orders of magnitude)
    for i in range(n):
        h = 1e-3 * params[i]
        e = np.zeros(n)
        e[i] = h
        gfun = lambda p: grad_nat(f, p)
        H[i] = (-gfun(params + 2 * e) + 8 * gfun(params + e) - 8 * gfun(params - e)
                + gfun(params - 2 * e)) / (12 * h)
    H = 0.5 * (H + H.T)
    return np.sqrt(np.diag(np.linalg.inv(H)))


def grad_nat(f, p, rel=1e-4):
    p = np.asarray(p, float)
    g = np.zeros_like(p)
    for i in range(p.size):
        h = rel * p[i]
        e = np.zeros_like(p)
        e[i] = h
        g[i] = (-f(p + 2 * e) + 8 * f(p + e) - 8 * f(p - e) + f(p - 2 * e)) / (12 * h)
    return g


def sig(v, n=10):
    return f"{v:#.{n}g}".rstrip(".") if n < 10 else f"{v:.{n}g}"


def main():
    out = sys.stdout
    ids, x, tx, T, m = load_cdnow()
    pos = x > 0
    print("# clv_reference.py: BG/NBD, Pareto/NBD, Gamma-Gamma on CDNOW_sample "
          "(calibration to 1997-09-30, weeks)", file=out)
    print("## (a) CDNOW summary", file=out)
    print(f"customers={len(ids)} repeaters(x>0)={int(pos.sum())} sum_x={int(x.sum())} "
          f"sum_tx={sig(tx.sum())} sum_T={sig(T.sum())} "
          f"mean_m(x>0)={sig(m[pos].mean())}", file=out)

    bg_ll = lambda p: float(np.sum(bgnbd_ll_i(p, x, tx, T)))
    pn_ll = lambda p: float(np.sum(pareto_ll_i(p, x, tx, T)))
    gg_ll = lambda p: float(np.sum(gg_ll_i(p, x[pos], m[pos])))

    bg_hat, bg_max = fit(bg_ll, np.array([1.0, 1.0, 1.0, 1.0]))
    pn_hat, pn_max = fit(pn_ll, np.array([1.0, 1.0, 1.0, 1.0]))
    gg_hat, gg_max = fit(gg_ll, np.array([1.0, 1.0, 1.0]))

    def match(hat, pub, ll, pub_ll):
        ok = all(abs(h - q) <= 0.5 * 10 ** (np.floor(np.log10(abs(q))) - 3) * 1.0001
                 or abs(round(h, len(str(q).split('.')[1])) - q) < 1e-12
                 for h, q in zip(hat, pub)) and abs(round(ll, 2) - pub_ll) < 0.011
        return "MATCHES published (to published rounding)" if ok else "DIFFERS from published"

    print("## (b) maximum likelihood estimates", file=out)
    print("BG/NBD      r=%s alpha=%s a=%s b=%s LL=%s  %s" % (
        *(sig(v) for v in bg_hat), sig(bg_max, 12),
        match(bg_hat, PUB_BG, bg_max, PUB_LL["BG/NBD"])), file=out)
    print("Pareto/NBD  r=%s alpha=%s s=%s beta=%s LL=%s  %s" % (
        *(sig(v) for v in pn_hat), sig(pn_max, 12),
        match(pn_hat, PUB_PN, pn_max, PUB_LL["Pareto/NBD"])), file=out)
    print("Gamma-Gamma p=%s q=%s gamma=%s LL=%s  %s" % (
        *(sig(v) for v in gg_hat), sig(gg_max, 12),
        match(gg_hat, PUB_GG, gg_max, PUB_LL["Gamma-Gamma"])), file=out)

    print("## (c) log-likelihood at the published parameter values", file=out)
    print(f"BG/NBD      LL(0.2426,4.4136,0.7929,2.4259)={sig(bg_ll(PUB_BG), 12)}", file=out)
    print(f"Pareto/NBD  LL(0.5533,10.578,0.6062,11.669)={sig(pn_ll(PUB_PN), 12)}", file=out)
    print(f"Gamma-Gamma LL(6.2496,3.7442,15.4435)={sig(gg_ll(PUB_GG), 12)}", file=out)

    for title, BG, PN, GG in (("(d) test customers at the published parameters", PUB_BG, PUB_PN, PUB_GG),
                              ("(f) test customers at the fitted MLEs of (b)", bg_hat, pn_hat, gg_hat)):
        print(f"## {title} (10 significant digits)", file=out)
        print("x,t_x,T,m,bg_ey39,bg_ey52,bg_palive,pn_ey39,pn_ey52,pn_palive,gg_em,"
              "clv_bg_gg,clv_pn_gg", file=out)
        for cx, ctx, cT, cm in TEST_CUSTOMERS:
            em = gg_expected(GG, cx, cm)
            vals = [float(bgnbd_expected(BG, 39, cx, ctx, cT)),
                    float(bgnbd_expected(BG, 52, cx, ctx, cT)),
                    float(bgnbd_palive(BG, cx, ctx, cT)),
                    float(pareto_expected(PN, 39, cx, ctx, cT)),
                    float(pareto_expected(PN, 52, cx, ctx, cT)),
                    float(pareto_palive(PN, cx, ctx, cT)),
                    em,
                    clv(bgnbd_expected, BG, cx, ctx, cT, em),
                    clv(pareto_expected, PN, cx, ctx, cT, em)]
            print(f"{cx},{ctx},{cT},{cm}," + ",".join(sig(v) for v in vals), file=out)

    print("## (e) standard errors (inverse numerical Hessian of -LL, natural parameters, "
          "at the MLE)", file=out)
    se = std_errors(bg_ll, bg_hat)
    print("BG/NBD      se_r=%s se_alpha=%s se_a=%s se_b=%s" % tuple(sig(v, 4) for v in se),
          file=out)
    se = std_errors(pn_ll, pn_hat)
    print("Pareto/NBD  se_r=%s se_alpha=%s se_s=%s se_beta=%s" % tuple(sig(v, 4) for v in se),
          file=out)
    se = std_errors(gg_ll, gg_hat)
    print("Gamma-Gamma se_p=%s se_q=%s se_gamma=%s" % tuple(sig(v, 4) for v in se), file=out)

    # optional cross-check of scipy's hyp2f1 against mpmath on the arguments used above
    try:
        import mpmath
    except ImportError:
        print("## hyp2f1 cross-check skipped (mpmath not installed)", file=out)
        return
    mpmath.mp.dps = 40
    worst = 0.0
    args = []
    r, alpha, a, b = PUB_BG
    for cx, ctx, cT, _ in TEST_CUSTOMERS:
        for t in [39, 52] + [i * K_MONTH for i in range(1, HORIZON + 1)]:
            args.append((r + cx, b + cx, a + b + cx - 1, t / (alpha + cT + t)))
    r, alpha, s, beta = PUB_PN
    for cx, ctx, cT, _ in TEST_CUSTOMERS:
        rsx = r + s + cx
        for tt in (ctx, cT):
            args.append((rsx, r + cx, rsx + 1, (beta - alpha) / (beta + tt)))
    # the large-x / z near 1 regime of the BG/NBD conditional expectation
    for cx in (50, 200, 300):
        args.append((PUB_BG[0] + cx, PUB_BG[3] + cx, PUB_BG[2] + PUB_BG[3] + cx - 1, 0.9))
    for a1, b1, c1, z in args:
        ref = float(mpmath.hyp2f1(a1, b1, c1, z))
        got = hyp2f1(a1, b1, c1, z)
        if not np.isfinite(got):
            worst = np.inf
        else:
            worst = max(worst, abs(got - ref) / abs(ref))
    print(f"## hyp2f1 cross-check vs mpmath: {len(args)} evaluations, "
          f"max relative error {worst:.3g}", file=out)
    # BG/NBD E[Y(t)]: direct 2F1 form vs Euler-transformed form (test customers + large x)
    worst = 0.0
    for cx, ctx, cT, _ in TEST_CUSTOMERS:
        for t in (39, 52):
            d1 = float(bgnbd_expected(PUB_BG, t, cx, ctx, cT))
            d2 = float(bgnbd_expected_euler(PUB_BG, t, cx, ctx, cT))
            worst = max(worst, abs(d1 - d2) / abs(d1))
    print(f"## BG/NBD E[Y(t)] direct vs Euler form on test customers: max relative "
          f"difference {worst:.3g}", file=out)
    with np.errstate(all="ignore"):
        for cx in (300, 1000):
            d1 = float(bgnbd_expected(PUB_BG, 52, cx, 38.0, 38.5))
            d2 = float(bgnbd_expected_euler(PUB_BG, 52, cx, 38.0, 38.5))
            print(f"## large x={cx}, t_x=38, T=38.5, E[Y(52)]: direct={sig(d1)} "
                  f"euler={sig(d2)}", file=out)


if __name__ == "__main__":
    main()
