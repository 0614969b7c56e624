/*-------------------------------------------------------------------------
 * clv.c
 *	  The "buy till you die" family: BG/NBD (Fader, Hardie & Lee 2005),
 *	  Pareto/NBD (Schmittlein, Morrison & Colombo 1987) and the Gamma-Gamma
 *	  spend model; their log-likelihoods with analytic gradients, a
 *	  quasi-Newton fit on log-parameters, and the conditional expectations
 *	  that scoring needs.
 *
 * Every likelihood runs over distinct histories with weights, so its cost
 * follows the number of distinct summaries, not of customers.  Frequency
 * is a whole number, so the gamma-function ratios Gamma(r+x)/Gamma(r) are
 * running products, computed once per evaluation for every x up to the
 * largest, and read per row.
 *
 * Pareto/NBD: the likelihood's Gaussian hypergeometric terms are the
 * closed form of one integral over the time of death,
 *	  s * int_{t_x}^{T} (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau,
 * and the closed form is a difference of two nearly equal numbers when
 * t_x is close to T (a recent buyer), with 2F1 arguments near 1 when alpha
 * and beta are far apart.  The integral itself has a smooth, positive,
 * decreasing integrand: Gauss-Legendre panels in log(tau + min(alpha,
 * beta)) evaluate it to machine precision over any parameter range,
 * without cancellation, and give the gradient from the same nodes.
 *
 * Plain C over arrays: no SPI, no catalog.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"
#include "utils/timestamp.h"

#include "clv.h"
#include "lazylib.h"
#include "linalg.h"

#define GL_NODES 16
#define MAX_PANELS 256
#define NOTICE_MS 3000
#define WARM_ROWS 8192
#define SERIES_RATIOS 256
#define EXP_BLOCK 256			/* rows per vectorized exp and log1p */		/* term ratios precomputed per frequency */		/* histories of the warm-start subsample */

static double GlNode[GL_NODES];
static double GlWeight[GL_NODES];
static bool GlReady = false;

static const char *const BgnbdNames[] = {"r", "alpha", "a", "b"};
static const char *const ParetoNames[] = {"r", "alpha", "s", "beta"};
static const char *const SpendNames[] = {"p", "q", "gamma"};

/* The name of parameter i of a family */
const char *
ClvParamName(ClvFamily family, int i)
{
	switch (family)
	{
		case CLV_BGNBD:
			return BgnbdNames[i];
		case CLV_PARETONBD:
			return ParetoNames[i];
		case CLV_GAMMAGAMMA:
			return SpendNames[i];
		default:
			return "?";
	}
}

/* How many parameters a family has */
int
ClvParamCount(ClvFamily family)
{
	return family == CLV_GAMMAGAMMA ? 3 : family == CLV_NONE ? 0 : 4;
}

/*
 * The error for a purchase history no model can read: frequency negative
 * or not finite, recency outside [0, t], t negative, or, for training, not
 * positive (a customer must have been observed for some time).
 */
void
ClvRefuseHistory(double x, double tx, double T, bool training)
{
	if (!isfinite(x) || !isfinite(tx) || !isfinite(T))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("customer summary holds NaN or infinity"),
				 errhint("Filter such rows out; frequency, recency and t must be finite.")));
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("frequency must not be negative, got %g", x),
				 errhint("frequency counts repeat purchases: distinct purchase days minus one.")));
	if (x > CLV_MAX_FREQUENCY)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("frequency must be at most %d, got %g", CLV_MAX_FREQUENCY, x),
				 errhint("frequency counts repeat purchases: distinct purchase days minus one.")));
	if (training ? !(T > 0) : T < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("t must be %s, got %g", training ? "positive" : "0 or more", T),
				 errhint("t is the time from the first purchase to the end of the period; leave out customers whose first purchase is on the as_of day.")));
	if (tx < 0 || tx > T)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("recency must be between 0 and t, got recency %g and t %g", tx, T),
				 errhint("recency is the time from the first to the last purchase, so it cannot exceed t; check that both use the same unit.")));
	elog(ERROR, "customer history (%g, %g, %g) refused without a reason", x, tx, T);
}

/* The error for a repeat customer's mean spend the spend model cannot read */
void
ClvRefuseSpend(double x, double m)
{
	if (!isfinite(m))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("monetary value holds NaN or infinity"),
				 errhint("Filter such rows out; monetary must be finite.")));
	if (x > 0 && !(m > 0))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a repeat customer's monetary value must be positive, got %g", m),
				 errhint("The Gamma-Gamma model reads the mean spend of repeat purchases; leave out customers whose repeat purchases sum to 0 or less (returns).")));
	elog(ERROR, "monetary value %g refused without a reason", m);
}

/*
 * Digamma for x > 0: the recurrence up to 6, then the asymptotic series
 * (error below 1e-15 from there).
 */
static double
Digamma(double x)
{
	double		acc = 0.0;
	double		f;

	while (x < 6.0)
	{
		acc -= 1.0 / x;
		x += 1.0;
	}
	f = 1.0 / (x * x);
	return acc + log(x) - 0.5 / x -
		f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

/* Trigamma for x > 0: the recurrence up to 6, then the asymptotic series */
static double
Trigamma(double x)
{
	double		acc = 0.0;
	double		f;

	while (x < 6.0)
	{
		acc += 1.0 / (x * x);
		x += 1.0;
	}
	f = 1.0 / (x * x);
	return acc + 1.0 / x + 0.5 * f +
		f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30))));
}

/* Gauss-Legendre nodes and weights on [-1, 1], by Newton on P_n */
static void
GlInit(void)
{
	int			n = GL_NODES;

	for (int i = 0; i < n; i++)
	{
		double		z = cos(M_PI * (i + 0.75) / (n + 0.5));
		double		dp = 1.0;

		for (int it = 0; it < 100; it++)
		{
			double		p0 = 1.0,
						p1 = z,
						step;

			for (int k = 2; k <= n; k++)
			{
				double		p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;

				p0 = p1;
				p1 = p2;
			}
			dp = n * (z * p1 - p0) / (z * z - 1.0);
			step = p1 / dp;
			z -= step;
			if (fabs(step) < 1e-16)
				break;
		}
		GlNode[i] = z;
		GlWeight[i] = 2.0 / ((1.0 - z * z) * dp * dp);
	}
	GlReady = true;
}

/*
 * Running sums for the gamma ratios of whole x: lg[k] = sum_{j<k} log(s+j)
 * (= lgamma(s+k) - lgamma(s)) and dg[k] = sum_{j<k} 1/(s+j) (the digamma
 * difference), for k = 0..max_x.
 */
static void
RisingLog(double s, int max_x, double *lg, double *dg)
{
	lg[0] = 0.0;
	dg[0] = 0.0;
	for (int k = 1; k <= max_x; k++)
	{
		lg[k] = lg[k - 1] + log(s + k - 1);
		dg[k] = dg[k - 1] + 1.0 / (s + k - 1);
	}
}

/*
 * The Pareto/NBD integral of one history, scaled by exp(-k0), the
 * integrand's largest value (at tau = t_x):
 *	 I = int_{t_x}^{T} (alpha+tau)^-p (beta+tau)^-q dtau, p = r+x, q = s+1,
 * and, for the gradient, the same integral weighted by log(alpha+tau),
 * 1/(alpha+tau), log(beta+tau), 1/(beta+tau) (j[0..3]).
 */
static double
ParetoIntegral(double alpha, double beta, double p, double q, double tx, double T,
			   double k0, double *j)
{
	double		c = Min(alpha, beta),
				v0 = log(c + tx),
				v1 = log(c + T),
				total = 0.0;
	int			panels;

	if (j)
		j[0] = j[1] = j[2] = j[3] = 0.0;
	if (!(T > tx))
		return 0.0;
	panels = (int) ceil((p + q) * (v1 - v0) / 4.0);
	panels = Max(1, Min(panels, MAX_PANELS));
	for (int k = 0; k < panels; k++)
	{
		double		lo = v0 + (v1 - v0) * k / panels,
					half = (v1 - v0) / panels / 2.0,
					mid = lo + half;

		for (int i = 0; i < GL_NODES; i++)
		{
			double		v = mid + half * GlNode[i],
						ev = exp(v),
						tau = ev - c,
						ua = c == alpha ? ev : alpha + tau,
						ub = c == beta ? ev : beta + tau,
						lua = c == alpha ? v : log(ua),
						lub = c == beta ? v : log(ub),
						f = GlWeight[i] * half * ev * exp(-p * lua - q * lub - k0);

			total += f;
			if (j)
			{
				j[0] += f * lua;
				j[1] += f / ua;
				j[2] += f * lub;
				j[3] += f / ub;
			}
		}
	}
	return total;
}

/*
 * Per history of the Pareto/NBD: log of (alpha+T)^-(r+x) (beta+T)^-s +
 * s I, and its partial derivatives in (r, alpha, s, beta) when d is not
 * NULL (those of the log-likelihood's other terms are the caller's).
 */
static double
ParetoLogZ(double r, double alpha, double s, double beta, double x, double tx, double T,
		   double *d, double *palive)
{
	double		p = r + x,
				q = s + 1.0,
				lat = log(alpha + T),
				lbt = log(beta + T),
				k0 = -p * log(alpha + tx) - q * log(beta + tx),
				A = exp(-p * lat - s * lbt - k0),
				jj[4],
				I = ParetoIntegral(alpha, beta, p, q, tx, T, k0, d ? jj : NULL),
				Z = A + s * I;

	if (palive)
		*palive = A / Z;
	if (d)
	{
		d[0] = (-A * lat - s * jj[0]) / Z;
		d[1] = (-A * p / (alpha + T) - s * p * jj[1]) / Z;
		d[2] = (-A * lbt + I - s * jj[2]) / Z;
		d[3] = (-A * s / (beta + T) - s * q * jj[3]) / Z;
	}
	return k0 + log(Z);
}

/*
 * Pareto/NBD log-likelihood at lp = log(r, alpha, s, beta), gradient in lp:
 *	 LL = log G(r+x)/G(r) + r log alpha + s log beta + log Z.
 */
static double
ParetoLogLik(const ClvHistories *h, const double *lp, double *grad)
{
	double		r = exp(lp[0]),
				alpha = exp(lp[1]),
				s = exp(lp[2]),
				beta = exp(lp[3]);
	int			mx = h->max_x;
	double	   *lr = palloc(sizeof(double) * 2 * (mx + 1));
	double	   *dr = lr + mx + 1;
	double		ll = 0,
				g[4] = {0, 0, 0, 0},
				la = log(alpha),
				lb = log(beta);

	if (!GlReady)
		GlInit();
	RisingLog(r, mx, lr, dr);
	for (int64 i = 0; i < h->n; i++)
	{
		int			x = (int) h->x[i];
		double		w = h->w[i],
					d[4];
		double		lz = ParetoLogZ(r, alpha, s, beta, x, h->tx[i], h->T[i],
									grad ? d : NULL, NULL);

		ll += w * (lr[x] + r * la + s * lb + lz);
		if (grad)
		{
			g[0] += w * (dr[x] + la + d[0]);
			g[1] += w * (r / alpha + d[1]);
			g[2] += w * (lb + d[2]);
			g[3] += w * (s / beta + d[3]);
		}
		if ((i & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
	}
	if (grad)
	{
		grad[0] = g[0] * r;
		grad[1] = g[1] * alpha;
		grad[2] = g[2] * s;
		grad[3] = g[3] * beta;
	}
	pfree(lr);
	return ll;
}

/*
 * The objective the BFGS fit (Pareto/NBD) minimizes: minus the mean
 * log-likelihood per customer, so tolerances do not depend on the data
 * size; +inf where the likelihood is not finite.
 */
static double
Objective(ClvFamily family, const void *data, double wsum, int np, const double *lp,
		  double *grad)
{
	double		ll = ParetoLogLik((const ClvHistories *) data, lp, grad);

	Assert(family == CLV_PARETONBD);
	for (int i = 0; i < np && grad; i++)
	{
		grad[i] = -grad[i] / wsum;
		if (!isfinite(grad[i]))
			return INFINITY;
	}
	return isfinite(ll) ? -ll / wsum : INFINITY;
}

/* Largest absolute component */
static double
MaxAbs(const double *v, int n)
{
	double		m = 0;

	for (int i = 0; i < n; i++)
		m = Max(m, fabs(v[i]));
	return m;
}

/* The end of a fit: its estimates and log-likelihood, converged if the gradient is small */
static void
FitFinish(ClvFit *fit, const double *lp, double f, const double *g, double tol, double wsum)
{
	if (!fit->converged && isfinite(f) && MaxAbs(g, fit->nparams) < tol)
		fit->converged = true;
	for (int i = 0; i < fit->nparams; i++)
		fit->par[i] = exp(lp[i]);
	fit->loglik = -f * wsum;
}

/* Invert a small symmetric positive definite matrix in place; false if not definite */
static bool
SmallSpdInverse(double *a, int n)
{
	double		l[CLV_MAX_PARAMS * CLV_MAX_PARAMS] = {0},
				inv[CLV_MAX_PARAMS * CLV_MAX_PARAMS] = {0};

	for (int j = 0; j < n; j++)
	{
		double		d = a[j * n + j];

		for (int k = 0; k < j; k++)
			d -= l[j * n + k] * l[j * n + k];
		if (!(d > 0))
			return false;
		l[j * n + j] = sqrt(d);
		for (int i = j + 1; i < n; i++)
		{
			double		v = a[i * n + j];

			for (int k = 0; k < j; k++)
				v -= l[i * n + k] * l[j * n + k];
			l[i * n + j] = v / l[j * n + j];
		}
	}
	/* columns of the inverse: solve L L' x = e_c */
	for (int c = 0; c < n; c++)
	{
		double		y[CLV_MAX_PARAMS];

		for (int i = 0; i < n; i++)
		{
			double		v = i == c ? 1.0 : 0.0;

			for (int k = 0; k < i; k++)
				v -= l[i * n + k] * y[k];
			y[i] = v / l[i * n + i];
		}
		for (int i = n - 1; i >= 0; i--)
		{
			double		v = y[i];

			for (int k = i + 1; k < n; k++)
				v -= l[k * n + i] * inv[k * n + c];
			inv[i * n + c] = v / l[i * n + i];
		}
	}
	memcpy(a, inv, sizeof(double) * n * n);
	return true;
}

/*
 * Standard errors from the inverse Hessian of -LL at the optimum: the
 * Hessian in log-parameters by central differences of the analytic
 * gradient, then the delta method (exact at a stationary point).
 */
static void
StandardErrors(ClvFamily family, const void *data, double wsum, ClvFit *fit, const double *lp)
{
	int			np = fit->nparams;
	double		hess[CLV_MAX_PARAMS * CLV_MAX_PARAMS];
	double		h = 1e-5;

	for (int j = 0; j < np; j++)
	{
		double		up[CLV_MAX_PARAMS],
					dn[CLV_MAX_PARAMS],
					gu[CLV_MAX_PARAMS],
					gd[CLV_MAX_PARAMS];

		memcpy(up, lp, sizeof(double) * np);
		memcpy(dn, lp, sizeof(double) * np);
		up[j] += h;
		dn[j] -= h;
		Objective(family, data, wsum, np, up, gu);
		Objective(family, data, wsum, np, dn, gd);
		for (int i = 0; i < np; i++)
			hess[i * np + j] = (gu[i] - gd[i]) / (2 * h) * wsum;
	}
	for (int i = 0; i < np; i++)
		for (int j = 0; j < i; j++)
			hess[i * np + j] = hess[j * np + i] = 0.5 * (hess[i * np + j] + hess[j * np + i]);
	if (!SmallSpdInverse(hess, np))
	{
		for (int i = 0; i < np; i++)
			fit->se[i] = get_float8_nan();
		return;
	}
	for (int i = 0; i < np; i++)
		fit->se[i] = fit->par[i] * sqrt(Max(hess[i * np + i], 0.0));
}

/* The total weight of the data, and refuse a family with no data */
static double
DataWeight(ClvFamily family, const void *data)
{
	double		wsum = 0;
	const double *w;
	int64		n;

	if (family == CLV_GAMMAGAMMA)
	{
		w = ((const ClvSpends *) data)->w;
		n = ((const ClvSpends *) data)->n;
		if (w == NULL)
			return (double) n;
	}
	else
	{
		w = ((const ClvHistories *) data)->w;
		n = ((const ClvHistories *) data)->n;
	}
	for (int64 i = 0; i < n; i++)
		wsum += w[i];
	return wsum;
}

/* Backtracking line search along d from lp; false when no decrease is found */
static bool
LineSearch(ClvFamily family, const void *data, double wsum, int np, double *lp,
		   double *f, double *g, const double *d)
{
	double		slope = 0,
				step = 1.0,
				dmax = MaxAbs(d, np);

	for (int i = 0; i < np; i++)
		slope += g[i] * d[i];
	if (!(slope < 0))
		return false;
	/* never move a log-parameter by more than 3 (a factor of 20) at once */
	if (dmax > 3.0)
		step = 3.0 / dmax;
	for (int tries = 0; tries < 60; tries++)
	{
		double		trial[CLV_MAX_PARAMS],
					gt[CLV_MAX_PARAMS],
					ft;

		for (int i = 0; i < np; i++)
			trial[i] = lp[i] + step * d[i];
		ft = MaxAbs(trial, np) < 25.0 ?
			Objective(family, data, wsum, np, trial, gt) : INFINITY;
		if (isfinite(ft) && ft <= *f + 1e-4 * step * slope)
		{
			memcpy(lp, trial, sizeof(double) * np);
			memcpy(g, gt, sizeof(double) * np);
			*f = ft;
			return true;
		}
		step *= isfinite(ft) ? 0.5 : 0.1;
	}
	return false;
}

/* The BFGS update of the inverse Hessian approximation hi with step s, change y */
static void
BfgsUpdate(double *hi, int np, const double *s, const double *y, bool first)
{
	double		sy = 0,
				yy = 0,
				hy[CLV_MAX_PARAMS],
				yhy = 0;

	for (int i = 0; i < np; i++)
	{
		sy += s[i] * y[i];
		yy += y[i] * y[i];
	}
	if (!(sy > 1e-16 * sqrt(yy) * MaxAbs(s, np) * np))
		return;
	if (first)
		for (int i = 0; i < np; i++)
			for (int j = 0; j < np; j++)
				hi[i * np + j] = i == j ? sy / yy : 0.0;
	for (int i = 0; i < np; i++)
	{
		hy[i] = 0;
		for (int j = 0; j < np; j++)
			hy[i] += hi[i * np + j] * y[j];
		yhy += y[i] * hy[i];
	}
	for (int i = 0; i < np; i++)
		for (int j = 0; j < np; j++)
			hi[i * np + j] += ((sy + yhy) * s[i] * s[j]) / (sy * sy) -
				(hy[i] * s[j] + s[i] * hy[j]) / sy;
}

/* ---------------------------------------------------------------------
 * Newton's method for BG/NBD and Gamma-Gamma, whose Hessians are cheap:
 * one pass over the rows gives the log-likelihood, its gradient and its
 * Hessian, and Newton needs a handful of passes where BFGS needs dozens
 * of gradient evaluations.
 * ---------------------------------------------------------------------
 */

/* Running sums of 1/(s+j) and 1/(s+j)^2, j < k, for k = 0..max_x */
static void
RisingInverse(double s, int max_x, double *d1, double *d2)
{
	d1[0] = 0.0;
	d2[0] = 0.0;
	for (int k = 1; k <= max_x; k++)
	{
		double		v = 1.0 / (s + k - 1);

		d1[k] = d1[k - 1] + v;
		d2[k] = d2[k - 1] + v * v;
	}
}

/* Gradient and Hessian in natural parameters -> in log-parameters */
static void
ToLogScale(int np, const double *par, double *g, double *h)
{
	for (int i = 0; i < np; i++)
		for (int j = 0; j < np; j++)
			h[i * np + j] *= par[i] * par[j];
	for (int i = 0; i < np; i++)
	{
		g[i] *= par[i];
		h[i * np + i] += g[i];
	}
}

/*
 * The distinct values of v[0..n) and each element's index among them (in
 * order of first appearance), through an open-addressing hash of the
 * values' bits.  Customers' ages and recencies take few distinct values
 * (whole days, in some unit), so a fit computes log(alpha + T) once per
 * value instead of once per history.
 */
static void
ValueIndex(const double *v, int64 n, int32 **index, double **uniq, int *nuniq)
{
	int			bits = 10;
	int64		cap = 512;
	int32	   *slots = palloc0(sizeof(int32) << bits);
	double	   *u = palloc(sizeof(double) * cap);
	int32	   *idx = palloc_extended(sizeof(int32) * Max(n, 1), MCXT_ALLOC_HUGE);
	int			nu = 0;

	for (int64 i = 0; i < n; i++)
	{
		uint64		key;
		uint64		h;
		uint64		mask = (UINT64CONST(1) << bits) - 1;

		memcpy(&key, &v[i], 8);
		/* Fibonacci hashing: the top bits of the product */
		for (h = (key * UINT64CONST(0x9E3779B97F4A7C15)) >> (64 - bits);; h = (h + 1) & mask)
		{
			int32		e = slots[h];

			if (e == 0)
			{
				if (nu == cap)
				{
					cap *= 2;
					u = repalloc_huge(u, sizeof(double) * cap);
				}
				u[nu++] = v[i];
				slots[h] = nu;
				idx[i] = nu - 1;
				break;
			}
			if (memcmp(&u[e - 1], &v[i], 8) == 0)
			{
				idx[i] = e - 1;
				break;
			}
		}
		if ((int64) nu * 2 > (INT64CONST(1) << bits))
		{
			/* grow fourfold and re-place every value */
			bits += 2;
			mask = (UINT64CONST(1) << bits) - 1;
			pfree(slots);
			slots = palloc_extended(sizeof(int32) << bits, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
			for (int k = 0; k < nu; k++)
			{
				memcpy(&key, &u[k], 8);
				for (h = (key * UINT64CONST(0x9E3779B97F4A7C15)) >> (64 - bits); slots[h] != 0;
					 h = (h + 1) & mask)
					;
				slots[h] = k + 1;
			}
		}
	}
	pfree(slots);
	*index = idx;
	*uniq = u;
	*nuniq = nu;
}

/* Give h the value indexes of T and t_x (once) */
void
ClvIndexHistories(ClvHistories *h)
{
	if (h->iT != NULL)
		return;
	ValueIndex(h->T, h->n, &h->iT, &h->uT, &h->nuT);
	ValueIndex(h->tx, h->n, &h->itx, &h->utx, &h->nutx);
}

/*
 * A Horvitz-Thompson subsample of about target customers' histories: a
 * history of weight w is kept with probability min(1, w / c), with weight
 * max(w, c), so its log-likelihood estimates the whole one's without bias
 * and its maximum lies near the whole one's: a warm start.  The choice is
 * a hash of the row number, so the fit is deterministic.
 */
static ClvHistories
HistoriesSubsample(const ClvHistories *h, double wsum, double target)
{
	ClvHistories s = *h;
	double		c = wsum / target;
	int64		k = 0;

	s.x = palloc_extended(sizeof(double) * Max(h->n, 1) * 4, MCXT_ALLOC_HUGE);
	s.tx = s.x + h->n;
	s.T = s.tx + h->n;
	s.w = s.T + h->n;
	s.iT = s.itx = NULL;
	for (int64 i = 0; i < h->n; i++)
	{
		uint64		z = (uint64) i * UINT64CONST(0x9E3779B97F4A7C15);
		double		u;

		z ^= z >> 31;
		z *= UINT64CONST(0xBF58476D1CE4E5B9);
		z ^= z >> 29;
		u = (double) (z >> 11) / 9007199254740992.0;
		if (h->w[i] >= c || u * c < h->w[i])
		{
			s.x[k] = h->x[i];
			s.tx[k] = h->tx[i];
			s.T[k] = h->T[i];
			s.w[k] = Max(h->w[i], c);
			k++;
		}
	}
	s.n = k;
	return s;
}

/*
 * e[i] = exp(e[i]) and l[i] = log1p(exp(e[i])) for the n values of e: with
 * glibc's AVX2 vector functions (libmvec) where the CPU has AVX2 and FMA,
 * four at a time, else one by one.  The likelihood passes spend most of
 * their time here.  libmvec is opened at the first call (lazylib.c), not
 * linked: a backend that never fits a lifetime-value model never maps it.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("avx2,fma")
typedef __m256d (*VecMathFn) (__m256d x);

static VecMathFn VecExp;
static VecMathFn VecLog1p;

/* Four at a time with libmvec's AVX2 functions; returns how many it did */
__attribute__((target("avx2,fma")))
static int
ExpLog1pAvx2(double *e, double *l, int n)
{
	int			i = 0;

	for (; i + 4 <= n; i += 4)
	{
		__m256d		v = VecExp(_mm256_loadu_pd(&e[i]));

		_mm256_storeu_pd(&e[i], v);
		_mm256_storeu_pd(&l[i], VecLog1p(v));
	}
	return i;
}
#pragma GCC pop_options

static const LazySymbol MvecSymbols[] = {
	{"_ZGVdN4v_exp", (void **) &VecExp},
	{"_ZGVdN4v_log1p", (void **) &VecLog1p},
};

static LazyLibrary Mvec = {
	.label = "glibc vector math",
	.symbols = MvecSymbols,
	.nsymbols = lengthof(MvecSymbols),
};

static int	HaveAvx2 = -1;
#endif

/* See above: the vector path for multiples of four, scalar for the rest */
static void
ClvExpLog1p(double *e, double *l, int n)
{
	int			i = 0;

#if defined(__x86_64__) && defined(__GNUC__)
	if (HaveAvx2 < 0)
		HaveAvx2 = LinalgCpuHasAvx2Fma() &&	/* not __builtin_cpu_supports: see linalg.h */
			LazyLibraryTryOpen(&Mvec, "libmvec.so.1");	/* else one by one */
	if (HaveAvx2)
		i = ExpLog1pAvx2(e, l, n);
#endif
	for (; i < n; i++)
	{
		e[i] = exp(e[i]);
		l[i] = log1p(e[i]);
	}
}

/*
 * BG/NBD log-likelihood with its gradient and Hessian in log-parameters.
 * Per row the mixture log(e^c1 + e^c2) has gradient w1 dc1 + w2 dc2 and
 * Hessian w1 d2c1 + w2 d2c2 + w1 w2 (dc1 - dc2)(dc1 - dc2)'.
 */
static double
BgnbdNewtonTerms(const ClvHistories *h, const double *lp, double *grad, double *hess)
{
	double		r = exp(lp[0]),
				alpha = exp(lp[1]),
				a = exp(lp[2]),
				b = exp(lp[3]),
				par[4] = {r, alpha, a, b};
	int			mx = h->max_x;
	double	   *buf = palloc0(sizeof(double) * 12 * (mx + 1));
	double	   *lr = buf, *dr = lr + mx + 1, *dr2 = dr + mx + 1,
			   *lb = dr2 + mx + 1, *db = lb + mx + 1, *db2 = db + mx + 1,
			   *lab = db2 + mx + 1, *dab = lab + mx + 1, *dab2 = dab + mx + 1,
			   *wx = dab2 + mx + 1, *c2x = wx + mx + 1, *ibx = c2x + mx + 1;
	long double tll = 0,
				tg[4] = {0, 0, 0, 0};
	double		ll = 0,
				g[4] = {0, 0, 0, 0},
				H[16] = {0},
				la = log(alpha),
				lna = log(a),
				ia2 = 1.0 / (a * a);
	double	   *lTv = NULL,
			   *iTv = NULL,
			   *ltv = NULL,
			   *itv = NULL;

	RisingLog(r, mx, lr, dr);
	RisingInverse(r, mx, dr, dr2);
	RisingLog(b, mx, lb, db);
	RisingInverse(b, mx, db, db2);
	RisingLog(a + b, mx, lab, dab);
	RisingInverse(a + b, mx, dab, dab2);
	for (int x = 1; x <= mx; x++)
	{
		c2x[x] = lna - log(b + x - 1);
		ibx[x] = 1.0 / (b + x - 1);
	}
	if (h->iT)
	{
		/* log(alpha + v) and 1/(alpha + v) once per distinct age and recency */
		lTv = palloc(sizeof(double) * 2 * (h->nuT + h->nutx));
		iTv = lTv + h->nuT;
		ltv = iTv + h->nuT;
		itv = ltv + h->nutx;
		for (int k = 0; k < h->nuT; k++)
		{
			lTv[k] = log(alpha + h->uT[k]);
			iTv[k] = 1.0 / (alpha + h->uT[k]);
		}
		for (int k = 0; k < h->nutx; k++)
		{
			ltv[k] = log(alpha + h->utx[k]);
			itv[k] = 1.0 / (alpha + h->utx[k]);
		}
	}
	for (int64 start = 0; start < h->n; start += EXP_BLOCK)
	{
		int64		end = Min(start + EXP_BLOCK, h->n);
		double		ex[EXP_BLOCK],
					lg[EXP_BLOCK];
		int			k = 0;

		/* the block's mixture exponents, for one vectorized exp and log1p */
		for (int64 i = start; i < end; i++)
		{
			int			x = (int) h->x[i];

			if (x > 0)
			{
				double		lT = lTv ? lTv[h->iT[i]] : log(alpha + h->T[i]),
							lt = lTv ? ltv[h->itx[i]] : log(alpha + h->tx[i]);

				ex[k++] = -fabs(c2x[x] - (r + x) * lt + (r + x) * lT);
			}
		}
		ClvExpLog1p(ex, lg, k);
		k = 0;
		for (int64 i = start; i < end; i++)
		{
			int			x = (int) h->x[i];
			double		w = h->w[i],
						rx = r + x,
						lT = lTv ? lTv[h->iT[i]] : log(alpha + h->T[i]),
						iT = lTv ? iTv[h->iT[i]] : 1.0 / (alpha + h->T[i]),
						c1 = -rx * lT;

			wx[x] += w;
			if (x == 0)
			{
				ll += w * c1;
				g[0] -= w * lT;
				g[1] -= w * rx * iT;
				H[1] -= w * iT;
				H[5] += w * rx * iT * iT;
			}
			else
			{
				double		lt = lTv ? ltv[h->itx[i]] : log(alpha + h->tx[i]),
							it = lTv ? itv[h->itx[i]] : 1.0 / (alpha + h->tx[i]),
							ib = ibx[x],
							c2 = c2x[x] - rx * lt,
							e = ex[k],
							w1,
							w2,
							row,
							d[4],
							ww;

				/* log(e^c1 + e^c2) = max + log1p(exp(-|c1 - c2|)) */
				if (c1 >= c2)
				{
					row = c1 + lg[k];
					w2 = e / (1.0 + e);
					w1 = 1.0 - w2;
				}
				else
				{
					row = c2 + lg[k];
					w1 = e / (1.0 + e);
					w2 = 1.0 - w1;
				}
				k++;
				ll += w * row;
				g[0] -= w * (w1 * lT + w2 * lt);
				g[1] -= w * rx * (w1 * iT + w2 * it);
				g[2] += w * w2 / a;
				g[3] -= w * w2 * ib;
				H[1] -= w * (w1 * iT + w2 * it);
				H[5] += w * rx * (w1 * iT * iT + w2 * it * it);
				H[10] -= w * w2 * ia2;
				H[15] += w * w2 * ib * ib;
				d[0] = -lT + lt;
				d[1] = -rx * (iT - it);
				d[2] = -1.0 / a;
				d[3] = ib;
				ww = w * w1 * w2;
				for (int j = 0; j < 4; j++)
					for (int m = j; m < 4; m++)
						H[j * 4 + m] += ww * d[j] * d[m];
			}
		}
		/* blocked summation: the long sums keep their precision */
		tll += ll;
		ll = 0;
		for (int j = 0; j < 4; j++)
		{
			tg[j] += g[j];
			g[j] = 0;
		}
	}
	tll += ll;
	for (int j = 0; j < 4; j++)
		tg[j] += g[j];
	/* the terms that depend on the history through x only, once per x */
	for (int x = 0; x <= mx; x++)
	{
		double		w = wx[x];

		if (w == 0)
			continue;
		tll += w * (lr[x] + r * la + lb[x] - lab[x]);
		tg[0] += w * (dr[x] + la);
		tg[1] += w * r / alpha;
		tg[2] -= w * dab[x];
		tg[3] += w * (db[x] - dab[x]);
		H[0] -= w * dr2[x];
		H[1] += w / alpha;
		H[5] -= w * r / (alpha * alpha);
		H[10] += w * dab2[x];
		H[11] += w * dab2[x];
		H[15] += w * (dab2[x] - db2[x]);
	}
	for (int j = 0; j < 4; j++)
		g[j] = (double) tg[j];
	for (int j = 0; j < 4; j++)
		for (int k = 0; k < j; k++)
			H[j * 4 + k] = H[k * 4 + j];
	ToLogScale(4, par, g, H);
	memcpy(grad, g, sizeof(g));
	memcpy(hess, H, sizeof(H));
	pfree(buf);
	if (lTv)
		pfree(lTv);
	return (double) tll;
}

/*
 * What a Gamma-Gamma fit computes once.  The sums that do not depend on
 * the parameters; and, since every other row term is a function of
 * u = gamma + a with a = m x, the rows binned by a (SpendBinsInit), with
 * the moments sum w d^k and sum w x d^k (k = 0..4)
 * of d = a - (bin centre).  The sums of log u, 1/u, 1/u^2 then follow from
 * the Taylor series in d/u, truncated at d^5 (below 2e-13 relative), in
 * time proportional to the bins, not the customers.
 */
#define MAX_BINS (1 << 18)
#define NMOM 5

typedef struct SpendConstants
{
	double		n;				/* total weight */
	double		lm;				/* sum w log m */
	double		xlmx;			/* sum w x (log m + log x) */
	double	   *nx;				/* weight per frequency */
	int			nbins;			/* 0: no bins (sum over the rows) */
	double	   *centre;
	double	   *mom;			/* per bin: NMOM moments by w, then NMOM by w x */
} SpendConstants;

/* A positive double's bits, which order as the doubles do */
static inline uint64
PositiveKey(double v)
{
	uint64		k;

	memcpy(&k, &v, 8);
	return k;
}

/* The positive double whose bits are k */
static inline double
KeyValue(uint64 k)
{
	double		v;

	memcpy(&v, &k, 8);
	return v;
}

/*
 * Bin the rows by a = m x: bins are runs of 2^43 consecutive double bit
 * patterns (512 per octave, a relative width of at most 2^-9, where the
 * series is exact to 2e-13), at most MAX_BINS of them, so no logarithm is
 * taken per row.  The constants
 * sum w log m and sum w x log(m x) come from the bins' moments as well.
 */
static void
SpendBinsInit(const ClvSpends *sp, SpendConstants *c, double amin, double amax)
{
	uint64		kmin = PositiveKey(amin),
				kmax = PositiveKey(amax);
	int			shift,
				nb;
	double	   *lgx = palloc(sizeof(double) * (sp->max_x + 1));

	/* beyond 1e60 the fourth moments of the bins could overflow: sum over the rows */
	if (!(amin > 0) || !(amax < 1e60))
		return;
	/* the widest bins the series allows (2^-9 relative): the fewest bins to visit */
	shift = 52 - 9;
	if (((kmax - kmin) >> shift) >= MAX_BINS)
		return;					/* a range too wide to bin finely: sum over the rows */
	nb = (int) ((kmax - kmin) >> shift) + 1;
	c->nbins = nb;
	c->centre = palloc_extended(sizeof(double) * nb, MCXT_ALLOC_HUGE);
	c->mom = palloc_extended(sizeof(double) * 2 * NMOM * nb, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int b = 0; b < nb; b++)
		c->centre[b] = KeyValue(kmin + ((uint64) b << shift) + ((UINT64CONST(1) << shift) >> 1));
	for (int x = 1; x <= sp->max_x; x++)
		lgx[x] = log((double) x);
	for (int64 i = 0; i < sp->n; i++)
	{
		double		w = sp->w ? sp->w[i] : 1.0,
					x = sp->x[i],
					a = sp->m[i] * x;
		int			b = (int) ((PositiveKey(a) - kmin) >> shift);
		double	   *mo = &c->mom[(int64) b * 2 * NMOM],
					d = a - c->centre[b],
					d2 = d * d;

		mo[0] += w;
		mo[1] += w * d;
		mo[2] += w * d2;
		mo[3] += w * d2 * d;
		mo[4] += w * d2 * d2;
		mo[NMOM] += w * x;
		mo[NMOM + 1] += w * x * d;
		mo[NMOM + 2] += w * x * d2;
		mo[NMOM + 3] += w * x * d2 * d;
		mo[NMOM + 4] += w * x * d2 * d2;
		c->nx[(int) x] += w;
	}
	/* sum w log a and sum w x log a by the series of log(c + d) in d/c */
	for (int b = 0; b < nb; b++)
	{
		const double *mo = &c->mom[(int64) b * 2 * NMOM];
		double		ic = 1.0 / c->centre[b],
					lc = log(c->centre[b]);

		if (mo[0] == 0)
			continue;
		c->n += mo[0];
		c->lm += mo[0] * lc + mo[1] * ic - mo[2] * ic * ic / 2 + mo[3] * ic * ic * ic / 3 -
			mo[4] * ic * ic * ic * ic / 4;
		c->xlmx += mo[NMOM] * lc + mo[NMOM + 1] * ic - mo[NMOM + 2] * ic * ic / 2 +
			mo[NMOM + 3] * ic * ic * ic / 3 - mo[NMOM + 4] * ic * ic * ic * ic / 4;
	}
	/* sum w log m = sum w log a - sum w log x */
	for (int x = 1; x <= sp->max_x; x++)
		c->lm -= c->nx[x] * lgx[x];
	pfree(lgx);
}

/* The constants of a Gamma-Gamma fit: bins when the spends allow, else sums over the rows */
static void
SpendConstantsInit(const ClvSpends *sp, SpendConstants *c)
{
	double		amin = INFINITY,
				amax = 0;

	memset(c, 0, sizeof(SpendConstants));
	c->nx = palloc0(sizeof(double) * (sp->max_x + 1));
	for (int64 i = 0; i < sp->n; i++)
	{
		double		a = sp->m[i] * sp->x[i];

		amin = Min(amin, a);
		amax = Max(amax, a);
	}
	SpendBinsInit(sp, c, amin, amax);
	if (c->nbins > 0)
		return;
	memset(c->nx, 0, sizeof(double) * (sp->max_x + 1));
	for (int64 i = 0; i < sp->n; i++)
	{
		double		w = sp->w ? sp->w[i] : 1.0,
					x = sp->x[i],
					lm = log(sp->m[i]);

		c->n += w;
		c->lm += w * lm;
		c->xlmx += w * x * (lm + log(x));
		c->nx[(int) x] += w;
	}
}

/*
 * The six sums over customers at gamma: of log u, x log u, 1/u, x/u,
 * 1/u^2, x/u^2 with u = gamma + m x; from the bins when there are.
 */
static void
SpendSums(const ClvSpends *sp, const SpendConstants *c, double gam, double *sum)
{
	memset(sum, 0, sizeof(double) * 6);
	if (c->nbins > 0)
	{
		for (int b = 0; b < c->nbins; b++)
		{
			const double *mo = &c->mom[(int64) b * 2 * NMOM];
			double		u,
						iu,
						lu,
						e2,
						e3,
						e4;

			if (mo[0] == 0)
				continue;
			u = gam + c->centre[b];
			iu = 1.0 / u;
			lu = log(u);
			e2 = iu * iu;
			e3 = e2 * iu;
			e4 = e3 * iu;
			for (int k = 0; k < 2; k++)
			{
				const double *M = mo + k * NMOM;

				sum[k] += M[0] * lu + M[1] * iu - M[2] * e2 / 2 + M[3] * e3 / 3 - M[4] * e4 / 4;
				sum[2 + k] += iu * (M[0] - M[1] * iu + M[2] * e2 - M[3] * e3 + M[4] * e4);
				sum[4 + k] += e2 * (M[0] - 2 * M[1] * iu + 3 * M[2] * e2 - 4 * M[3] * e3 +
									5 * M[4] * e4);
			}
		}
		return;
	}
	for (int64 i = 0; i < sp->n; i++)
	{
		double		w = sp->w ? sp->w[i] : 1.0,
					x = sp->x[i],
					u = gam + sp->m[i] * x,
					lu = log(u),
					iu = w / u;

		sum[0] += w * lu;
		sum[1] += w * x * lu;
		sum[2] += iu;
		sum[3] += x * iu;
		sum[4] += iu / u;
		sum[5] += x * iu / u;
	}
}

/*
 * Gamma-Gamma log-likelihood, gradient and Hessian in log-parameters.
 * Per customer LL = lgamma(px+q) - lgamma(px) - lgamma(q) + q log gamma
 * + (px-1) log m + px log x - (px+q) log u: the row terms are linear in
 * SpendSums; the rest runs over the distinct frequencies.
 */
static double
SpendNewtonTerms(const ClvSpends *sp, const SpendConstants *c, const double *lp, double *grad,
				 double *hess)
{
	double		p = exp(lp[0]),
				q = exp(lp[1]),
				gam = exp(lp[2]),
				par[3] = {p, q, gam};
	double		sum[6],
				g[3],
				H[9],
				ll,
				lg = log(gam),
				fx = 0,
				fp = 0,
				fq = 0,
				fpp = 0,
				fpq = 0,
				fqq = 0;

	SpendSums(sp, c, gam, sum);
	for (int x = 1; x <= sp->max_x; x++)
	{
		double		nx = c->nx[x],
					a1,
					a2,
					t1,
					t2;

		if (nx == 0)
			continue;
		a1 = Digamma(p * x + q);
		a2 = Digamma(p * x);
		t1 = Trigamma(p * x + q);
		t2 = Trigamma(p * x);
		fx += nx * (lgamma(p * x + q) - lgamma(p * x));
		fp += nx * x * (a1 - a2);
		fq += nx * a1;
		fpp += nx * x * x * (t1 - t2);
		fpq += nx * x * t1;
		fqq += nx * t1;
	}
	ll = fx - c->n * lgamma(q) + q * c->n * lg + p * c->xlmx - c->lm - p * sum[1] - q * sum[0];
	g[0] = fp + c->xlmx - sum[1];
	g[1] = fq - c->n * Digamma(q) + c->n * lg - sum[0];
	g[2] = q * c->n / gam - p * sum[3] - q * sum[2];
	H[0] = fpp;
	H[1] = H[3] = fpq;
	H[4] = fqq - c->n * Trigamma(q);
	H[2] = H[6] = -sum[3];
	H[5] = H[7] = c->n / gam - sum[2];
	H[8] = -q * c->n / (gam * gam) + p * sum[5] + q * sum[4];
	ToLogScale(3, par, g, H);
	memcpy(grad, g, sizeof(g));
	memcpy(hess, H, sizeof(H));
	return ll;
}

/* One Newton evaluation of a family: minus the mean log-likelihood, its gradient, Hessian */
static double
NewtonObjective(ClvFamily family, const void *data, const SpendConstants *c, double wsum,
				const double *lp, double *g, double *H)
{
	int			np = ClvParamCount(family);
	double		ll;
	bool		finite;

	ll = family == CLV_BGNBD ?
		BgnbdNewtonTerms((const ClvHistories *) data, lp, g, H) :
		SpendNewtonTerms((const ClvSpends *) data, c, lp, g, H);
	finite = isfinite(ll);
	for (int i = 0; i < np; i++)
	{
		g[i] = -g[i] / wsum;
		finite &= isfinite(g[i]);
	}
	for (int i = 0; i < np * np; i++)
	{
		H[i] = -H[i] / wsum;
		finite &= isfinite(H[i]);
	}
	/* a step needs a finite gradient and Hessian as well */
	return finite ? -ll / wsum : INFINITY;
}

/*
 * Newton's method with a Levenberg shift when the Hessian of the
 * objective is not positive definite, and backtracking on the step.
 * Fills fit like ClvFitModel; the standard errors come from the analytic
 * Hessian at the optimum.  False when it does not converge.
 */
static bool
NewtonFit(ClvFamily family, const void *data, double wsum, const double *start, int max_iter,
		  double tol, ClvFit *fit)
{
	int			np = ClvParamCount(family);
	double		lp[CLV_MAX_PARAMS] = {start[0], start[1], start[2], start[3]},
				g[CLV_MAX_PARAMS],
				H[CLV_MAX_PARAMS * CLV_MAX_PARAMS],
				f,
				fold;
	int			stall = 0;
	SpendConstants c;

	fit->family = family;
	fit->nparams = np;
	fit->n = wsum;
	if (family == CLV_GAMMAGAMMA)
		SpendConstantsInit((const ClvSpends *) data, &c);
	f = NewtonObjective(family, data, &c, wsum, lp, g, H);
	fold = f;
	while (isfinite(f) && fit->iterations < max_iter)
	{
		double		inv[CLV_MAX_PARAMS * CLV_MAX_PARAMS],
					d[CLV_MAX_PARAMS],
					shift = 0,
					step = 1.0,
					slope = 0;
		bool		moved = false;

		CHECK_FOR_INTERRUPTS();
		if (MaxAbs(g, np) < tol || (stall >= 2 && MaxAbs(g, np) < 1e-5))
		{
			fit->converged = true;
			break;
		}
		/* the Newton direction, shifted towards steepest descent until definite */
		for (;;)
		{
			memcpy(inv, H, sizeof(double) * np * np);
			for (int i = 0; i < np; i++)
				inv[i * np + i] += shift;
			if (SmallSpdInverse(inv, np))
				break;
			shift = shift == 0 ? 1e-6 * (1 + MaxAbs(H, np * np)) : shift * 10;
			if (!(shift < 1e300))
				break;			/* no definite shift: inv stays not definite, the fit stops */
		}
		if (!(shift < 1e300))
			break;
		for (int i = 0; i < np; i++)
		{
			d[i] = 0;
			for (int j = 0; j < np; j++)
				d[i] -= inv[i * np + j] * g[j];
			slope += g[i] * d[i];
		}
		/*
		 * The Newton decrement -g'd is the decrease a full step predicts:
		 * below the objective's rounding, the optimum is reached.
		 */
		if (shift == 0 && -slope <= 1e-12 * (fabs(f) + 1.0) && MaxAbs(g, np) < 1e-5)
		{
			fit->converged = true;
			break;
		}
		if (MaxAbs(d, np) > 3.0)
			step = 3.0 / MaxAbs(d, np);
		for (int tries = 0; tries < 40 && slope < 0; tries++)
		{
			double		trial[CLV_MAX_PARAMS],
						gt[CLV_MAX_PARAMS],
						Ht[CLV_MAX_PARAMS * CLV_MAX_PARAMS],
						ft;

			for (int i = 0; i < np; i++)
				trial[i] = lp[i] + step * d[i];
			ft = MaxAbs(trial, np) < 25.0 ?
				NewtonObjective(family, data, &c, wsum, trial, gt, Ht) : INFINITY;
			if (isfinite(ft) && ft <= f + 1e-4 * step * slope)
			{
				memcpy(lp, trial, sizeof(double) * np);
				memcpy(g, gt, sizeof(double) * np);
				memcpy(H, Ht, sizeof(double) * np * np);
				stall = fold - ft <= 1e-14 * (fabs(ft) + 1.0) ? stall + 1 : 0;
				fold = f = ft;
				moved = true;
				break;
			}
			step *= isfinite(ft) ? 0.5 : 0.1;
		}
		fit->iterations++;
		if (!moved)
		{
			fit->converged = MaxAbs(g, np) < Max(tol, 1e-6);
			break;
		}
	}
	FitFinish(fit, lp, f, g, tol, wsum);
	if (fit->converged)
	{
		/* the Hessian of -LL in log-parameters; the delta method back to natural */
		for (int i = 0; i < np * np; i++)
			H[i] *= wsum;
		if (!SmallSpdInverse(H, np))
			for (int i = 0; i < np; i++)
				fit->se[i] = get_float8_nan();
		else
			for (int i = 0; i < np; i++)
				fit->se[i] = fit->par[i] * sqrt(Max(H[i * np + i], 0.0));
	}
	return fit->converged;
}

/*
 * Newton for BG/NBD and Gamma-Gamma.  Many histories: first on a
 * subsample (a start near the optimum), then on all of them, where a
 * few iterations remain; the whole fit reads T and t_x through their
 * distinct values.
 */
static bool
NewtonFitWarm(ClvFamily family, const void *data, double wsum, int max_iter, double tol,
			  bool warm_start, ClvFit *fit)
{
	double		start[CLV_MAX_PARAMS] = {0, 0, 0, 0};
	ClvHistories indexed;

	if (family != CLV_BGNBD)
		return NewtonFit(family, data, wsum, start, max_iter, tol, fit);
	indexed = *(const ClvHistories *) data;
	ClvIndexHistories(&indexed);
	if (warm_start && indexed.n > 4 * WARM_ROWS)
	{
		ClvHistories sub = HistoriesSubsample(&indexed, wsum, WARM_ROWS);
		ClvFit		warm;
		double		subsum = 0;

		for (int64 i = 0; i < sub.n; i++)
			subsum += sub.w[i];
		memset(&warm, 0, sizeof(warm));
		if (NewtonFit(family, &sub, subsum, start, max_iter, 1e-6, &warm))
			for (int i = 0; i < 4; i++)
				start[i] = log(warm.par[i]);
		pfree(sub.x);
	}
	return NewtonFit(family, &indexed, wsum, start, max_iter, tol, fit);
}

/*
 * Fit a family by maximum likelihood on log-parameters, from all
 * parameters 1: Newton for BG/NBD and Gamma-Gamma (NewtonFitWarm), BFGS
 * with analytic gradients for Pareto/NBD, whose Hessian would cost as
 * much as the rest of a pass again.  Converged when the largest gradient
 * component of the mean log-likelihood is below tol (or the objective
 * stops moving at its rounding floor).  Fills fit (estimates, standard
 * errors, log-likelihood); returns converged.
 */
bool
ClvFitModel(ClvFamily family, const void *data, int max_iter, double tol, bool warm_start,
			ClvFit *fit)
{
	int			np = ClvParamCount(family);
	double		lp[CLV_MAX_PARAMS] = {0, 0, 0, 0},
				g[CLV_MAX_PARAMS],
				hi[CLV_MAX_PARAMS * CLV_MAX_PARAMS],
				wsum = DataWeight(family, data),
				f;
	bool		first = true;
	int			stall = 0;
	double		fold;
	TimestampTz last = GetCurrentTimestamp();

	if (!GlReady)
		GlInit();
	memset(fit, 0, sizeof(ClvFit));
	fit->family = family;
	fit->nparams = np;
	fit->n = wsum;
	if (family != CLV_PARETONBD)
		return NewtonFitWarm(family, data, wsum, max_iter, tol, warm_start, fit);
	for (int i = 0; i < np * np; i++)
		hi[i] = (i % (np + 1)) == 0 ? 1.0 : 0.0;
	f = Objective(family, data, wsum, np, lp, g);
	fold = f;
	while (isfinite(f) && fit->iterations < max_iter)
	{
		double		d[CLV_MAX_PARAMS],
					s[CLV_MAX_PARAMS],
					y[CLV_MAX_PARAMS],
					old[CLV_MAX_PARAMS],
					gold[CLV_MAX_PARAMS];

		CHECK_FOR_INTERRUPTS();
		if (MaxAbs(g, np) < tol)
		{
			fit->converged = true;
			break;
		}
		for (int i = 0; i < np; i++)
		{
			d[i] = 0;
			for (int j = 0; j < np; j++)
				d[i] -= hi[i * np + j] * g[j];
		}
		memcpy(old, lp, sizeof(lp));
		memcpy(gold, g, sizeof(g));
		if (!LineSearch(family, data, wsum, np, lp, &f, g, d))
		{
			/* restart once from steepest descent before giving up */
			for (int i = 0; i < np * np; i++)
				hi[i] = (i % (np + 1)) == 0 ? 1.0 / Max(MaxAbs(g, np), 1.0) : 0.0;
			for (int i = 0; i < np; i++)
				d[i] = -hi[i * np + i] * g[i];
			if (!LineSearch(family, data, wsum, np, lp, &f, g, d))
			{
				/* no further decrease: converged if at the numerical floor */
				fit->converged = MaxAbs(g, np) < Max(tol, 1e-6);
				break;
			}
			first = true;
		}
		for (int i = 0; i < np; i++)
		{
			s[i] = lp[i] - old[i];
			y[i] = g[i] - gold[i];
		}
		BfgsUpdate(hi, np, s, y, first);
		first = false;
		fit->iterations++;
		/*
		 * The gradient's rounding floor can sit above tol (sums of large
		 * terms that cancel): when the objective has stopped moving for
		 * three iterations with a small gradient, the optimum is reached.
		 */
		stall = fold - f <= 1e-14 * (fabs(f) + 1.0) ? stall + 1 : 0;
		fold = f;
		if (stall >= 3 && MaxAbs(g, np) < 1e-5)
		{
			fit->converged = true;
			break;
		}
		if (stall >= 20)
			break;				/* stuck on a flat ridge: not converged */
		if (TimestampDifferenceExceeds(last, GetCurrentTimestamp(), NOTICE_MS))
		{
			ereport(NOTICE,
					(errmsg("profenrich: fitting, iteration %d, log-likelihood %.10g",
							fit->iterations, -f * wsum)));
			last = GetCurrentTimestamp();
		}
	}
	FitFinish(fit, lp, f, g, tol, wsum);
	if (fit->converged)
		StandardErrors(family, data, wsum, fit, lp);
	return fit->converged;
}

/* BG/NBD P(alive | x, t_x, T) */
static double
BgnbdPAlive(const double *par, double x, double tx, double T)
{
	double		r = par[0],
				alpha = par[1],
				a = par[2],
				b = par[3];

	if (x <= 0)
		return 1.0;
	return 1.0 / (1.0 + a / (b + x - 1) * exp((r + x) * (log(alpha + T) - log(alpha + tx))));
}

/*
 * BG/NBD E[Y(t) | x, t_x, T] over P(alive), which depends on x and T
 * only.  The closed form of E[Y(t)] holds
 *	 (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]
 * with z = t/(alpha+T+t), divided by 1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x),
 * which is 1/P(alive).  Euler's transformation turns the 2F1 into
 * (1-z)^(a-1-r-x) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose series has small
 * parameters whatever x; and since its terms after the first all carry
 * the factor (a-1), the bracket over (a-1) is evaluated without the
 * cancellation the form has for a near 1:
 *	 -expm1((a-1)L)/(a-1) - S (1-z)^(a-1), L = log(1-z),
 * S = sum_{k>=1} (a+b-1-r)_k (a)_{k-1} / ((a+b+x-1)_k k!) z^k.
 */
static double
BgnbdExpectedAliveRatios(const double *par, double t, double x, double T, const double *ratio,
						 int nratio)
{
	double		r = par[0],
				alpha = par[1],
				a = par[2],
				b = par[3],
				c = a + b + x - 1,
				z = t / (alpha + T + t),
				L = -log1p(t / (alpha + T)),
				term,
				S = 0,
				lead;

	if (t <= 0)
		return 0.0;
	term = (a + b - 1 - r) / c * z;
	for (int k = 1; k < 100000; k++)
	{
		S += term;
		/* a NaN or infinite term (parameters no fit gives) ends the sum at once */
		if (fabs(term) <= 1e-17 * fabs(S) || term == 0 || !isfinite(S))
			break;
		term *= (k < nratio ? ratio[k] : (a + b - 1 - r + k) * (a - 1 + k) / ((c + k) * (k + 1))) * z;
	}
	lead = fabs(a - 1) < 1e-12 ? -L : -expm1((a - 1) * L) / (a - 1);
	return c * (lead - S * exp((a - 1) * L));
}

/* BgnbdExpectedAliveRatios computing its own term ratios */
static double
BgnbdExpectedAlive(const double *par, double t, double x, double T)
{
	return BgnbdExpectedAliveRatios(par, t, x, T, NULL, 0);
}

/*
 * The term ratios of BgnbdExpectedAlive's series for frequency x, which
 * do not depend on T or t: a population's (x, T) pairs share them.
 */
static void
BgnbdSeriesRatios(const double *par, double x, double *ratio, int nratio)
{
	double		r = par[0],
				a = par[2],
				b = par[3],
				c = a + b + x - 1;

	for (int k = 1; k < nratio; k++)
		ratio[k] = (a + b - 1 - r + k) * (a - 1 + k) / ((c + k) * (k + 1));
}

/*
 * Pareto/NBD E[Y(t) | x, t_x, T] over P(alive):
 *	 (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)],
 * written with expm1 so that s near 1 loses nothing (the limit is a log).
 */
static double
ParetoExpectedAlive(const double *par, double t, double x, double T)
{
	double		r = par[0],
				alpha = par[1],
				s = par[2],
				beta = par[3],
				M = log1p(t / (beta + T)),
				f = fabs(s - 1) < 1e-12 ? M : -expm1(-(s - 1) * M) / (s - 1);

	return (r + x) * (beta + T) / (alpha + T) * f;
}

/* Pareto/NBD P(alive | x, t_x, T): the survival term over the whole likelihood */
static double
ParetoPAlive(const double *par, double x, double tx, double T)
{
	double		pa;

	if (!GlReady)
		GlInit();
	(void) ParetoLogZ(par[0], par[1], par[2], par[3], x, tx, T, NULL, &pa);
	return pa;
}

/* E[Y(t)] / P(alive) of a purchase model: a function of x and T */
static double
ExpectedAlive(const ClvFit *f, double t, double x, double T)
{
	if (f->family == CLV_BGNBD)
		return BgnbdExpectedAlive(f->par, t, x, T);
	return ParetoExpectedAlive(f->par, t, x, T);
}

/* P(alive | x, t_x, T) of a purchase model */
double
ClvPAlive(const ClvFit *f, double x, double tx, double T)
{
	if (f->family == CLV_BGNBD)
		return BgnbdPAlive(f->par, x, tx, T);
	return ParetoPAlive(f->par, x, tx, T);
}

/*
 * P(alive) of every history into out; for BG/NBD through the distinct
 * values of T and t_x (one exponential per history).
 */
void
ClvPAliveAll(const ClvFit *f, ClvHistories *h, double *out)
{
	double		r = f->par[0],
				alpha = f->par[1],
				a = f->par[2],
				b = f->par[3];
	double	   *lT,
			   *lt;

	if (f->family != CLV_BGNBD)
	{
		for (int64 i = 0; i < h->n; i++)
		{
			out[i] = ClvPAlive(f, h->x[i], h->tx[i], h->T[i]);
			if ((i & 1023) == 1023)
				CHECK_FOR_INTERRUPTS();
		}
		return;
	}
	ClvIndexHistories(h);
	lT = palloc(sizeof(double) * (h->nuT + h->nutx + 1));
	lt = lT + h->nuT;
	for (int k = 0; k < h->nuT; k++)
		lT[k] = log(alpha + h->uT[k]);
	for (int k = 0; k < h->nutx; k++)
		lt[k] = log(alpha + h->utx[k]);
	for (int64 i = 0; i < h->n; i++)
	{
		double		x = h->x[i];

		out[i] = x <= 0 ? 1.0 :
			1.0 / (1.0 + a / (b + x - 1) * exp((r + x) * (lT[h->iT[i]] - lt[h->itx[i]])));
	}
	pfree(lT);
}

/*
 * The error for an expectation that overflows double precision: a summary
 * (a spend of 1e308, a window of 1e300 periods) far beyond any population
 * a model was fitted on.  An infinite figure is never a score.
 */
static void
RefuseOverflow(const char *what, double v)
{
	if (!isinf(v))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("the %s of this customer overflows double precision", what),
			 errhint("Check the customer's summary: recency, t, monetary and the periods must be in the model's units, far below 1e308.")));
}

/* Expected purchases in the next t periods of a customer with history (x, t_x, T) */
double
ClvExpectedPurchases(const ClvFit *f, double t, double x, double tx, double T)
{
	double		v;

	if (t <= 0)
		return 0.0;
	v = ExpectedAlive(f, t, x, T) * ClvPAlive(f, x, tx, T);
	RefuseOverflow("expected number of purchases", v);
	return v;
}

/*
 * Gamma-Gamma conditional mean spend per transaction: the weighted mean
 * of the population mean p gamma / (q-1) and the customer's mean m; the
 * population mean when x is 0.  NaN when q <= 1 (no finite mean).
 */
double
ClvExpectedSpend(const ClvFit *f, double x, double m)
{
	double		p = f->par[0],
				q = f->par[1],
				gam = f->par[2],
				v;

	if (x <= 0)
		return q > 1 ? p * gam / (q - 1) : get_float8_nan();
	if (!(p * x + q > 1))
		return get_float8_nan();
	v = p * (gam + m * x) / (p * x + q - 1);
	RefuseOverflow("expected spend", v);
	return v;
}

/*
 * The discounted purchases of the horizon for a customer alive now:
 *	 sum_{i=1..H} (E[X(i k)] - E[X((i-1) k)]) / P(alive) / (1 + d)^i,
 * k = 30 / unit_days periods per month.  A function of x and T only, so
 * a population is valued with one evaluation per distinct (x, T).
 */
double
ClvValueFactor(const ClvModel *m, double x, double T)
{
	double		f;

	ClvValueFactors(m, x, &T, 1, &f);
	return f;
}

/*
 * ClvValueFactor for one x and n values of T; BG/NBD computes its series'
 * term ratios once for them all.
 */
void
ClvValueFactors(const ClvModel *m, double x, const double *T, int64 n, double *out)
{
	double		k = 30.0 / m->unit_days,
				ratio[SERIES_RATIOS];
	bool		bgnbd = m->purchase.family == CLV_BGNBD;

	/* the horizon is the trip count of the valuation: bound it whatever the params say */
	if (m->horizon_months < 1 || m->horizon_months > CLV_MAX_HORIZON_MONTHS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("lifetime-value model parameters hold a horizon of %d months, outside 1 to %d",
						m->horizon_months, CLV_MAX_HORIZON_MONTHS),
				 errhint("Retrain the model: train() never stores such a horizon.")));
	if (bgnbd)
		BgnbdSeriesRatios(m->purchase.par, x, ratio, SERIES_RATIOS);
	for (int64 j = 0; j < n; j++)
	{
		double		prev = 0,
					value = 0,
					disc = 1.0;

		for (int i = 1; i <= m->horizon_months; i++)
		{
			double		cur;

			CHECK_FOR_INTERRUPTS();
			cur = bgnbd ?
				BgnbdExpectedAliveRatios(m->purchase.par, i * k, x, T[j], ratio, SERIES_RATIOS) :
				ExpectedAlive(&m->purchase, i * k, x, T[j]);

			disc /= 1.0 + m->discount_rate;
			value += (cur - prev) * disc;
			prev = cur;
		}
		out[j] = value;
	}
}

/*
 * Lifetime value: the expected purchases of each month of the horizon,
 * valued at spend and discounted monthly,
 *	 sum_{i=1..H} (E[X(i k)] - E[X((i-1) k)]) spend / (1 + d)^i.
 */
double
ClvValue(const ClvModel *m, double x, double tx, double T, double spend)
{
	double		v = ClvPAlive(&m->purchase, x, tx, T) * ClvValueFactor(m, x, T) * spend;

	RefuseOverflow("lifetime value", v);
	return v;
}
