/*-------------------------------------------------------------------------
 * glm.c
 *	  Least squares and ridge regression from centered sufficient statistics.
 *
 * The solver works on standardized slots (population standard deviation),
 * so the ridge penalty l2 * sum(beta_std^2) treats every slot alike
 * whatever its unit, and reports coefficients on the original scale.
 * Exactly collinear slots are aliased in the order the caller gives (the
 * trainers put each category's reference level last), as R's lm() does
 * in column order: a slot that is a linear combination of earlier ones
 * (or constant) gets no coefficient.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "distributions.h"
#include "glm.h"
#include "linalg.h"
#include "profenrich.h"

/* Bytes of a p x p matrix of doubles (at least one element), overflow checked */
#define SQUARE_BYTES(p) mul_size(sizeof(double), mul_size(Max((p), 1), Max((p), 1)))

/* Entry (i, j) of a symmetric matrix kept as its upper triangle */
static inline double
Upper(const double *c, int d, int i, int j)
{
	return i <= j ? c[i * d + j] : c[j * d + i];
}

/*
 * Training means of the numeric slots that can be NULL: the mean of the
 * observed values, sum(O) / n_observed = mean(O) / (1 - mean(M)), where O
 * holds 0 for missing values and M is the missing indicator.  NaN for a
 * column that is NULL in every row.
 */
void
GlmImputeValues(const Moments *m, int nmiss, const int *miss_slot, double *impute)
{
	int			p = m->dense - 1;

	for (int k = 0; k < nmiss; k++)
	{
		double		frac_missing = m->mean[p + 1 + k];

		impute[k] = frac_missing >= 1.0 ? get_float8_nan() :
			m->mean[miss_slot[k]] / (1.0 - frac_missing);
	}
}

/*
 * Statistics of [x, y] once every missing value is replaced by its impute
 * value: x = O + impute * M is a linear map of the accumulated row, so its
 * co-moments are C_OO + C_OM D + D C_MO + D C_MM D, without a second pass.
 */
void
GlmImputedStats(const Moments *m, int p, int nmiss, const int *miss_slot,
				const double *impute, XYStats *out)
{
	int			d = m->d;
	int			y = p;
	int		   *mcol = palloc(sizeof(int) * Max(p, 1));	/* M column of a slot */
	double	   *imp = palloc0(sizeof(double) * Max(p, 1));

	for (int i = 0; i < p; i++)
		mcol[i] = -1;
	for (int k = 0; k < nmiss; k++)
	{
		mcol[miss_slot[k]] = p + 1 + k;
		imp[miss_slot[k]] = impute[k];
	}
	out->p = p;
	out->n = m->n;
	out->xmean = palloc(sizeof(double) * Max(p, 1));
	out->cxx = MemoryContextAllocHuge(CurrentMemoryContext, SQUARE_BYTES(p));
	out->cxy = palloc(sizeof(double) * Max(p, 1));
	for (int i = 0; i < p; i++)
	{
		CHECK_FOR_INTERRUPTS();
		out->xmean[i] = m->mean[i] + (mcol[i] >= 0 ? imp[i] * m->mean[mcol[i]] : 0.0);
		out->cxy[i] = Upper(m->comom, d, i, y) +
			(mcol[i] >= 0 ? imp[i] * Upper(m->comom, d, mcol[i], y) : 0.0);
		for (int j = i; j < p; j++)
		{
			double		c = Upper(m->comom, d, i, j);

			if (mcol[i] >= 0)
				c += imp[i] * Upper(m->comom, d, mcol[i], j);
			if (mcol[j] >= 0)
				c += imp[j] * Upper(m->comom, d, i, mcol[j]);
			if (mcol[i] >= 0 && mcol[j] >= 0)
				c += imp[i] * imp[j] * Upper(m->comom, d, mcol[i], mcol[j]);
			out->cxx[i * p + j] = c;
			out->cxx[j * p + i] = c;
		}
	}
	out->ymean = m->mean[y];
	out->cyy = Upper(m->comom, d, y, y);
	pfree(mcol);
	pfree(imp);
}

/* Allocate the arrays of a fit with p slots */
static void
FitAlloc(LinearFit *fit, int p)
{
	fit->p = p;
	fit->coef = palloc0(sizeof(double) * Max(p, 1));
	fit->aliased = palloc0(sizeof(bool) * Max(p, 1));
	fit->se = palloc0(sizeof(double) * (p + 1));
	fit->stat = palloc0(sizeof(double) * (p + 1));
	fit->pval = palloc0(sizeof(double) * (p + 1));
	fit->slot_mean = palloc0(sizeof(double) * Max(p, 1));
	fit->slot_sd = palloc0(sizeof(double) * Max(p, 1));
}

/*
 * Standard errors, t statistics and p values of an unpenalized fit:
 * Cov(beta_std) = sigma^2 (Z'Z)^-1 on the non-aliased slots, carried back
 * to the original scale; the intercept's variance adds sigma^2 / n.
 */
static void
FitInference(LinearFit *fit, const XYStats *s, const double *inv)
{
	int			p = fit->p;
	double		sigma2 = fit->rss / fit->df_resid;
	double	   *cov = MemoryContextAllocHuge(CurrentMemoryContext, SQUARE_BYTES(p));
	double		var0;

	for (int i = 0; i < p; i++)
		for (int j = 0; j < p; j++)
			cov[i * p + j] = fit->aliased[i] || fit->aliased[j] ? 0.0 :
				sigma2 * inv[i * p + j] / (fit->slot_sd[i] * fit->slot_sd[j]);
	var0 = sigma2 / s->n + LinalgQuadForm(p, cov, s->xmean);
	fit->se[0] = sqrt(var0);
	for (int i = 0; i < p; i++)
		fit->se[i + 1] = fit->aliased[i] ? get_float8_nan() : sqrt(cov[i * p + i]);
	fit->stat[0] = fit->intercept / fit->se[0];
	for (int i = 0; i < p; i++)
		fit->stat[i + 1] = fit->aliased[i] ? get_float8_nan() : fit->coef[i] / fit->se[i + 1];
	for (int i = 0; i <= p; i++)
		fit->pval[i] = isnan(fit->stat[i]) ? get_float8_nan() :
			StudentTTwoSided(fit->stat[i], fit->df_resid);
	fit->has_inference = true;
	pfree(cov);
}

/* GlmLinearFitOrdered, aliasing collinear slots in their own order */
void
GlmLinearFit(const XYStats *s, double l2, LinearFit *fit)
{
	GlmLinearFitOrdered(s, l2, NULL, fit);
}

/*
 * Fit y = b0 + x'b minimizing ||y - b0 - Xb||^2 + l2 ||S b||^2, where S is
 * the diagonal of slot standard deviations.  Exactly collinear slots are
 * aliased in the order order gives (NULL: slot order): a slot that is a
 * combination of slots before it gets no coefficient.
 */
void
GlmLinearFitOrdered(const XYStats *s, double l2, const int *order, LinearFit *fit)
{
	int			p = s->p;
	double	   *a;
	double	   *work;
	double	   *inv;
	double	   *beta = palloc(sizeof(double) * Max(p, 1));
	bool		inference;

	/* the system, its aliasing copy, the inverse, the solver's copy and the covariance */
	TrainMemoryCheck(mul_size(5, SQUARE_BYTES(p)), p, "the solve of a linear model");
	a = MemoryContextAllocHuge(CurrentMemoryContext, SQUARE_BYTES(p));
	work = MemoryContextAllocHuge(CurrentMemoryContext, SQUARE_BYTES(p));
	inv = MemoryContextAllocHuge(CurrentMemoryContext, SQUARE_BYTES(p));
	FitAlloc(fit, p);
	for (int i = 0; i < p; i++)
	{
		fit->slot_mean[i] = s->xmean[i];
		fit->slot_sd[i] = sqrt(Max(s->cxx[i * p + i], 0.0) / s->n);
		/* a constant slot carries no information beyond the intercept */
		fit->aliased[i] = !(fit->slot_sd[i] > 1e-12 * Max(fabs(s->xmean[i]), 1e-300));
	}
	for (int i = 0; i < p; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < p; j++)
			a[i * p + j] = fit->aliased[i] || fit->aliased[j] ? 0.0 :
				s->cxx[i * p + j] / (fit->slot_sd[i] * fit->slot_sd[j]);
		a[i * p + i] += l2;
		beta[i] = fit->aliased[i] ? 0.0 : s->cxy[i] / fit->slot_sd[i];
	}
	if (order)
		fit->rank = LinalgCholeskyAliasedOrder(p, a, GLM_ALIAS_TOL, fit->aliased, order, work);
	else
	{
		memcpy(work, a, sizeof(double) * p * p);
		fit->rank = LinalgCholeskyAliased(p, work, GLM_ALIAS_TOL, fit->aliased);
	}
	inference = l2 == 0.0 && s->n - fit->rank - 1 > 0;
	LinalgSpdSolve(p, a, fit->aliased, beta, inference ? inv : NULL);
	fit->intercept = s->ymean;
	for (int i = 0; i < p; i++)
	{
		fit->coef[i] = fit->aliased[i] ? 0.0 : beta[i] / fit->slot_sd[i];
		fit->intercept -= fit->coef[i] * s->xmean[i];
	}
	fit->rss = GlmLinearSse(fit, s);
	fit->df_resid = s->n - fit->rank - 1;
	fit->has_inference = false;
	GlmCheckFit(fit, true);
	if (inference)
		FitInference(fit, s, inv);
	pfree(a);
	pfree(work);
	pfree(inv);
	pfree(beta);
}

/*
 * Refuse a fit whose intercept or coefficients (and, with_rss, residual
 * sum of squares) are not finite, so that no model with impossible
 * figures is stored.
 */
void
GlmCheckFit(const LinearFit *fit, bool with_rss)
{
	bool		finite = isfinite(fit->intercept) && (!with_rss || isfinite(fit->rss));

	for (int i = 0; i < fit->p && finite; i++)
		finite = isfinite(fit->coef[i]);
	if (!finite)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the fitted coefficients are not finite"),
				 errdetail("The features or the target span more than double precision can combine."),
				 errhint("Rescale the features and the target (divide them by a power of ten, or take logarithms).")));
}

/*
 * Link values b0 + x'b that are not finite: a row whose feature values lie
 * so far beyond the training range that the model's sum overflows.
 */
void
GlmRefuseLink(double eta)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("the model's linear predictor for this row is %s", isnan(eta) ? "NaN" : eta > 0 ? "infinite" : "minus infinite"),
			 errdetail("A feature value is so large that its contribution to the score overflows double precision."),
			 errhint("Check the row's feature values; cap them to the range the model was trained on.")));
}

/*
 * Sum of squared residuals of a fit on a set of statistics (the training
 * set or another split): centered part c_yy - 2 b'c_xy + b'C_xx b plus
 * n times the squared mean residual.
 */
double
GlmLinearSse(const LinearFit *fit, const XYStats *s)
{
	double		mean_resid = s->ymean - fit->intercept;
	double		sse;

	for (int i = 0; i < s->p; i++)
		mean_resid -= fit->coef[i] * s->xmean[i];
	sse = s->cyy + LinalgQuadForm(s->p, s->cxx, fit->coef);
	for (int i = 0; i < s->p; i++)
		sse -= 2.0 * fit->coef[i] * s->cxy[i];
	sse += s->n * mean_resid * mean_resid;
	return Max(sse, 0.0);
}

/* b0 + x'b for one encoded row */
double
GlmLinearPredict(const LinearFit *fit, const double *x)
{
	double		v = fit->intercept;

	for (int i = 0; i < fit->p; i++)
		v += fit->coef[i] * x[i];
	return v;
}
