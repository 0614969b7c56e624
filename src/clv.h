/*-------------------------------------------------------------------------
 * clv.h
 *	  Customer lifetime value: the "buy till you die" purchase models
 *	  (BG/NBD, Pareto/NBD), the Gamma-Gamma spend model, their maximum
 *	  likelihood fits and the expectations scoring needs.
 *
 * Plain C over arrays: no SPI, no catalog.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_CLV_H
#define PROFENRICH_CLV_H

#include "c.h"

typedef enum ClvFamily
{
	CLV_NONE = 0,
	CLV_BGNBD = 1,				/* r, alpha, a, b */
	CLV_PARETONBD = 2,			/* r, alpha, s, beta */
	CLV_GAMMAGAMMA = 3			/* p, q, gamma */
} ClvFamily;

#define CLV_MAX_PARAMS 4
#define CLV_MAX_FREQUENCY 100000	/* repeat purchases a summary may count */
#define CLV_MAX_HORIZON_MONTHS 1200	/* longest valuation horizon (100 years) */

/*
 * Distinct purchase histories (frequency x, recency t_x, age T) with the
 * number of customers who share each; x is a whole number.
 */
typedef struct ClvHistories
{
	int64		n;
	double	   *x;
	double	   *tx;
	double	   *T;
	double	   *w;
	int			max_x;
	/* optional, built by the fit: T and t_x as indexes into their distinct values */
	int32	   *iT;
	int32	   *itx;
	double	   *uT;
	double	   *utx;
	int			nuT;
	int			nutx;
} ClvHistories;

/* Repeat customers' (x, mean spend m) with their multiplicity (w NULL: one each) */
typedef struct ClvSpends
{
	int64		n;
	double	   *x;
	double	   *m;
	double	   *w;
	int			max_x;
} ClvSpends;

/* A fitted submodel */
typedef struct ClvFit
{
	ClvFamily	family;
	int			nparams;
	double		par[CLV_MAX_PARAMS];	/* natural scale */
	double		se[CLV_MAX_PARAMS];		/* NaN when the Hessian is not definite */
	double		loglik;
	int			iterations;
	bool		converged;
	double		n;				/* customers fitted */
} ClvFit;

/*
 * A lifetime-value model: a purchase model and, for 'clv', a spend model
 * with the valuation settings.
 */
typedef struct ClvModel
{
	ClvFit		purchase;		/* family CLV_NONE for a spend-only model */
	ClvFit		spend;			/* family CLV_NONE for a purchase-only model */
	int			horizon_months;
	double		discount_rate;	/* per month */
	double		unit_days;		/* days per period of recency, t, periods */
} ClvModel;

extern const char *ClvParamName(ClvFamily family, int i);
extern int	ClvParamCount(ClvFamily family);
extern bool ClvFitModel(ClvFamily family, const void *data, int max_iter, double tol,
						bool warm_start, ClvFit *fit);
extern void ClvIndexHistories(ClvHistories *h);
extern double ClvPAlive(const ClvFit *f, double x, double tx, double T);
extern void ClvPAliveAll(const ClvFit *f, ClvHistories *h, double *out);
extern double ClvExpectedPurchases(const ClvFit *f, double t, double x, double tx, double T);
extern double ClvExpectedSpend(const ClvFit *f, double x, double m);
extern double ClvValueFactor(const ClvModel *m, double x, double T);
extern void ClvValueFactors(const ClvModel *m, double x, const double *T, int64 n, double *out);
extern double ClvValue(const ClvModel *m, double x, double tx, double T, double spend);
extern void ClvRefuseHistory(double x, double tx, double T, bool training) pg_attribute_noreturn();
extern void ClvRefuseSpend(double x, double m) pg_attribute_noreturn();

/*
 * Refuse a purchase history no model can read (see ClvRefuseHistory);
 * inline, for the per-customer loops.
 */
static inline void
ClvCheckHistory(double x, double tx, double T, bool training)
{
	if (!(x >= 0 && tx >= 0 && tx <= T && (training ? T > 0 : T >= 0) &&
		  x <= CLV_MAX_FREQUENCY && T < INFINITY))
		ClvRefuseHistory(x, tx, T, training);
}

/* Refuse a repeat customer's mean spend the spend model cannot read */
static inline void
ClvCheckSpend(double x, double m)
{
	if (!(m < INFINITY && m > -INFINITY) || (x > 0 && !(m > 0)))
		ClvRefuseSpend(x, m);
}

#endif
