/*-------------------------------------------------------------------------
 * multinomial.h
 *	  Multinomial (softmax) logistic regression.  Plain C over arrays: no SPI.
 *
 * K classes, the first the reference: class k = 1 .. K-1 has coefficients
 * theta_k over the width w of a row [1, standardized slots], and
 * P(class k | x) = exp(x'theta_k) / (1 + sum_l exp(x'theta_l)), the
 * reference's numerator being 1.  The K-1 vectors are one parameter vector
 * of (K-1) w values, class by class.  Each pass over the training rows at
 * proposed coefficients gives the log-likelihood, its gradient and (for
 * Newton's method) the Hessian; MultinomialStep takes them and proposes
 * the next coefficients, by Newton's method on the full Hessian or, for
 * many parameters, by L-BFGS on the gradient alone.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MULTINOMIAL_H
#define PROFENRICH_MULTINOMIAL_H

#include "dataset.h"

/* Newton's method while (classes - 1) x width is at most this; L-BFGS above */
#define MULTINOMIAL_NEWTON_MAX_PARAMS 400
/* A Newton fit asked for by name keeps its Hessian to at most this many parameters */
#define MULTINOMIAL_NEWTON_HARD_MAX 2000
#define MULTINOMIAL_LBFGS_HISTORY 10
#define MULTINOMIAL_MAX_WIDTH 16000	/* a w x w Gram matrix's upper triangle stays below 1 GB */

/* Sums over the training rows at given coefficients */
typedef struct MultinomialSums
{
	int			nclasses;		/* K */
	int			width;			/* w: slots + 1 */
	int			nparams;		/* (K - 1) w */
	bool		hessian;		/* hess is accumulated */
	double		n;
	double		weight;			/* sum of the rows' class weights */
	double		loglik;			/* weighted by the class weights */
	double		loglik_raw;		/* unweighted: the data's log-likelihood */
	double	   *grad;			/* nparams: d loglik / d theta */
	double	   *hess;			/* nparams x nparams, upper triangle: -d2 loglik, as accumulated
								 * until MultinomialSumsComplete; NULL without */
} MultinomialSums;

/* Training rows per class and the Gram matrix X'X of the rows [1, slots] */
typedef struct MultinomialCounts
{
	int			nclasses;
	int			width;
	double	   *count;			/* K */
	double	   *gram;			/* w x w, upper triangle */
} MultinomialCounts;

typedef struct MultinomialOptions
{
	double		l2;				/* ridge penalty on the standardized slots */
	int			max_iter;
	double		tol;
	bool		newton;			/* Newton on the full Hessian, else L-BFGS */
} MultinomialOptions;

typedef struct MultinomialState
{
	int			nclasses;
	int			width;
	int			nparams;
	bool		newton;
	double	   *theta;			/* nparams, standardized */
	double	   *next;			/* proposed coefficients for the next pass */
	double	   *step;			/* Newton: the step from theta; L-BFGS: the search direction */
	bool	   *aliased;		/* nparams: fixed at 0 */
	MultinomialSums sums;		/* at theta (Hessian: the last one computed) */
	bool		hess_at_theta;	/* sums.hess was computed at theta */
	int			hess_age;		/* points accepted since sums.hess was computed */
	bool		want_hessian;	/* the next pass computes the Hessian */
	double		objective;		/* -loglik + l2/2 |slopes|^2 at theta */
	double		l2;
	int			iterations;
	int			halvings;
	bool		converged;
	bool		separated;
	bool		stalled;		/* L-BFGS: the line search found no decrease */
	bool		started;
	/* L-BFGS */
	double		alpha;			/* step length along step */
	double		slope;			/* directional derivative of the objective at theta */
	double	   *gobj;			/* objective gradient at theta */
	double	   *gnext;
	double	   *s_hist;			/* history of steps and gradient changes, newest last */
	double	   *y_hist;
	double	   *rho;
	int			nhist;
} MultinomialState;

extern void MultinomialSoftmax(const double *eta, int nclasses, double *probs);

extern void MultinomialSumsInit(MultinomialSums *s, int nclasses, int width, bool hessian);
extern void MultinomialSumsReset(MultinomialSums *s);
extern void MultinomialSumsFree(MultinomialSums *s);
extern void MultinomialSumsMerge(MultinomialSums *a, const MultinomialSums *b);
extern bytea *MultinomialSumsToBytes(const MultinomialSums *s);
extern void MultinomialSumsFromBytes(bytea *b, MultinomialSums *s);
extern Size MultinomialScratchSize(int nclasses, int width, int rows);
extern void MultinomialAccumulate(MultinomialSums *s, const double *theta, const double *x,
								  const double *y, int rows, const double *cw, double *scratch,
								  double *probs);
extern void MultinomialSumsComplete(MultinomialSums *s);
extern void MultinomialPassInMemory(const Dataset *d, const double *theta, const double *cw,
									MultinomialSums *out, double *probs);

extern void MultinomialCountsInit(MultinomialCounts *c, int nclasses, int width);
extern void MultinomialCountsAccumulate(MultinomialCounts *c, const double *x, const double *y,
										int rows);
extern void MultinomialCountsMerge(MultinomialCounts *a, const MultinomialCounts *b);
extern bool MultinomialBytesAreCounts(bytea *b);
extern bytea *MultinomialCountsToBytes(const MultinomialCounts *c);
extern void MultinomialCountsFromBytes(bytea *b, MultinomialCounts *c);
extern void MultinomialCountsInMemory(const Dataset *d, MultinomialCounts *c);

extern void MultinomialFindAliased(const MultinomialCounts *c, const double *sd,
								   const double *cw, double l2, const int *order,
								   bool *slot_aliased);
extern void MultinomialStartTheta(const MultinomialCounts *c, const double *cw, double *theta);

extern void MultinomialStateInit(MultinomialState *st, int nclasses, int width,
								 const bool *slot_aliased, const double *start, bool newton);
extern void MultinomialStateApproximate(MultinomialState *st, const double *hess);
extern bool MultinomialStep(MultinomialState *st, const MultinomialSums *at_next,
							const MultinomialOptions *opts);
extern bool MultinomialWantsHessian(const MultinomialState *st);
extern void MultinomialCovariance(const MultinomialState *st, double *cov);

#endif
