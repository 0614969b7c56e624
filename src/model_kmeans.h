/*-------------------------------------------------------------------------
 * model_kmeans.h
 *	  The body of a k-means model ('kmeans'): the centers of its segments
 *	  on the scale the clustering ran on, the standardization that maps a
 *	  row onto it, and the segments' sizes.
 *
 * A slot's value v is on the clustering scale as (v - mean) / scale, with
 * scale the population standard deviation (standardize, the default) or 1,
 * and 0 for a constant slot.  Segments are numbered 1..k by decreasing
 * size: center s - 1 is segment s's.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MODEL_KMEANS_H
#define PROFENRICH_MODEL_KMEANS_H

#include "model.h"

typedef struct KmeansModel
{
	int			k;
	int			d;				/* the spec's slots */
	bool		standardize;
	double	   *mean;			/* d: each slot's training mean (NULLs imputed) */
	double	   *sd;				/* d: its population standard deviation */
	double	   *centers;		/* k x d, on the clustering scale */
	double	   *sizes;			/* k: training rows in each segment */
	double		inertia;		/* the training rows' squared distances to their centers */
	int			iterations;
	bool		converged;
	/* derived when read */
	double	   *scale;			/* d: sd, or 1 without standardize */
	double	   *centers_t;		/* d x k, for scoring */
} KmeansModel;

/* The k-means body of a model */
static inline KmeansModel *
KmeansModelOf(const Model *m)
{
	return (KmeansModel *) m->body;
}

extern void KmeansModelDerive(KmeansModel *km);

#endif
