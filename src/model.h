/*-------------------------------------------------------------------------
 * model.h
 *	  A trained model in memory, and its versioned binary form (params).
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MODEL_H
#define PROFENRICH_MODEL_H

#include "clv.h"
#include "features.h"
#include "glm.h"
#include "profenrich.h"

#define MODEL_MAGIC 0x50454D44	/* "PEMD" */
#define MODEL_FORMAT 5	/* 2: class labels, logistic (0.2.0); 3: score quantiles (0.3.0);
								 * 4: lifetime-value models (0.4.0); 5: the spec in
								 * format 3, with its split hash (0.5.0) */
#define MODEL_QUANTILES 99		/* percentile cut points of the training scores */

/*
 * A trained model.  linear holds the linear predictor b0 + x'b on the
 * original scale with its inference (for logistic models stat is z), so
 * scoring and coefficients() serve every generalized linear model.
 */
typedef struct Model
{
	ProfAlgorithm algorithm;
	FeatureSpec *spec;
	LinearFit	linear;			/* linear and logistic */
	ClvModel	clv;			/* bgnbd, paretonbd, gammagamma, clv: the spec's
								 * columns are frequency, recency, t, monetary,
								 * those the algorithm reads, in that order */
	int			iterations;		/* iterative fits */
	bool		converged;
	double		loglik;
	int			nquantiles;		/* 0 (models trained before 0.3.0) or MODEL_QUANTILES */
	double	   *quantiles;		/* percentiles 1..99 of the training population's scores */
} Model;

extern bytea *ModelSerialize(const Model *model);
extern Model *ModelDeserialize(bytea *params);
extern bool ModelLinkRow(const Model *model, FeatureReader *r, double *eta);
extern bool ModelScoreRow(const Model *model, FeatureReader *r, double *score);
extern void ModelSetQuantiles(Model *model, double *scores, int64 n, bool sorted);
extern bool ModelClvRow(const Model *model, FeatureReader *r, double *score);
extern void ModelSetWeightedQuantiles(Model *model, const double *scores, const double *w,
									  int64 nweighted, int64 n);
extern int	ModelPercentile(const Model *model, double score);
extern Datum ModelTopFactors(const Model *m, FeatureReader *r, int k);

#endif
