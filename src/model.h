/*-------------------------------------------------------------------------
 * model.h
 *	  A trained model in memory, and its versioned binary form (params).
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MODEL_H
#define PROFENRICH_MODEL_H

#include "features.h"
#include "glm.h"
#include "profenrich.h"

#define MODEL_MAGIC 0x50454D44	/* "PEMD" */
#define MODEL_FORMAT 2	/* 2: class labels and logistic models (0.2.0) */

/*
 * A trained model.  linear holds the linear predictor b0 + x'b on the
 * original scale with its inference (for logistic models stat is z), so
 * scoring and coefficients() serve every generalized linear model.
 */
typedef struct Model
{
	ProfAlgorithm algorithm;
	FeatureSpec *spec;
	LinearFit	linear;
	int			iterations;		/* iterative fits */
	bool		converged;
	double		loglik;
} Model;

extern bytea *ModelSerialize(const Model *model);
extern Model *ModelDeserialize(bytea *params);
extern bool ModelLinkRow(const Model *model, FeatureReader *r, double *eta);
extern bool ModelScoreRow(const Model *model, FeatureReader *r, double *score);

#endif
