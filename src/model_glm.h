/*-------------------------------------------------------------------------
 * model_glm.h
 *	  The body of generalized linear models ('linear', 'logistic'): the
 *	  linear predictor b0 + x'b on the original scale with its inference.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MODEL_GLM_H
#define PROFENRICH_MODEL_GLM_H

#include "glm.h"
#include "model.h"

typedef struct GlmModel
{
	LinearFit	linear;			/* for logistic models stat is z */
	int			iterations;		/* logistic: Newton iterations */
	bool		converged;
	double		loglik;			/* logistic: training log-likelihood */
} GlmModel;

/* The GLM body of a linear or logistic model */
static inline GlmModel *
GlmModelOf(const Model *m)
{
	return (GlmModel *) m->body;
}

extern bool GlmModelLink(const Model *m, FeatureReader *r, double *eta);

#endif
