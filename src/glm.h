/*-------------------------------------------------------------------------
 * glm.h
 *	  Linear models from sufficient statistics.  Plain C: no SPI, no catalog.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_GLM_H
#define PROFENRICH_GLM_H

#include "moments.h"

/* Relative residual variance below which a slot counts as collinear */
#define GLM_ALIAS_TOL 1e-9

/* Centered sufficient statistics of [x, y] */
typedef struct XYStats
{
	int			p;
	double		n;
	double	   *xmean;			/* p */
	double		ymean;
	double	   *cxx;			/* p x p, full */
	double	   *cxy;			/* p */
	double		cyy;
} XYStats;

typedef struct LinearFit
{
	int			p;
	double		intercept;
	double	   *coef;			/* p, original scale; 0 where aliased */
	bool	   *aliased;		/* p */
	int			rank;			/* non-aliased slots */
	double		rss;			/* training residual sum of squares */
	double		df_resid;
	bool		has_inference;	/* std errors etc. (l2 = 0 and df > 0) */
	double	   *se;				/* p + 1, [0] is the intercept */
	double	   *stat;
	double	   *pval;
	double	   *slot_mean;		/* p */
	double	   *slot_sd;		/* p, population sd */
} LinearFit;

extern void GlmImputeValues(const Moments *m, int nmiss, const int *miss_slot,
							double *impute);
extern void GlmImputedStats(const Moments *m, int p, int nmiss, const int *miss_slot,
							const double *impute, XYStats *out);
extern void GlmLinearFit(const XYStats *s, double l2, LinearFit *fit);
extern void GlmLinearFitOrdered(const XYStats *s, double l2, const int *order, LinearFit *fit);
extern double GlmLinearSse(const LinearFit *fit, const XYStats *s);
extern double GlmLinearPredict(const LinearFit *fit, const double *x);
extern void GlmCheckFit(const LinearFit *fit, bool with_rss);
extern void GlmRefuseLink(double eta) pg_attribute_noreturn();

#endif
