/*-------------------------------------------------------------------------
 * model_multinomial.h
 *	  The body of 'multinomial' models: K - 1 coefficient vectors against
 *	  the reference class, on the original scale, with their inference.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MODEL_MULTINOMIAL_H
#define PROFENRICH_MODEL_MULTINOMIAL_H

#include "model.h"

typedef struct MultinomialModel
{
	int			nclasses;		/* K; class 0 is the reference */
	int			nslots;
	double	   *coef;			/* (K - 1) x (nslots + 1), class by class: intercept, slots; 0 where aliased */
	bool	   *aliased;		/* nslots */
	int			rank;			/* non-aliased slots + 1 (per class) */
	bool		has_inference;	/* std errors etc. (l2 = 0, Newton, not separated) */
	double	   *se;				/* (K - 1) x (nslots + 1) */
	double	   *stat;			/* z */
	double	   *pval;
	double	   *slot_mean;		/* nslots: training means (the explanation's baseline) */
	double	   *slot_sd;
	int			iterations;
	bool		converged;
	double		loglik;			/* training log-likelihood */
} MultinomialModel;

/* The body of a multinomial model */
static inline MultinomialModel *
MultinomialModelOf(const Model *m)
{
	return (MultinomialModel *) m->body;
}

extern bool MultinomialModelLinks(const Model *m, FeatureReader *r, double *eta);

#endif
