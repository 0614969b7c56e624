/*-------------------------------------------------------------------------
 * logistic.h
 *	  Logistic regression by Newton/IRLS.  Plain C over arrays: no SPI.
 *
 * The fit works on standardized slots with a leading intercept column;
 * each iteration needs, at the current coefficients, the gradient, the
 * Hessian X'WX and the log-likelihood: LogisticAccumulate adds one block
 * of rows to them, whether the rows come from memory or from a SQL pass.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_LOGISTIC_H
#define PROFENRICH_LOGISTIC_H

#include "dataset.h"
#include "partial.h"

/* Sums over the training rows at given coefficients */
typedef struct LogisticSums
{
	int			width;			/* slots + 1 */
	double		n;
	double		loglik;			/* weighted by the class weights */
	double		loglik_raw;		/* unweighted: the data's log-likelihood */
	double	   *grad;			/* width */
	double	   *hess;			/* width x width, upper triangle */
} LogisticSums;

typedef struct LogisticOptions
{
	double		l2;
	double		class_weight[2];	/* weight of label 0 and of label 1 */
	int			max_iter;
	double		tol;
	const int  *alias_order;	/* width: the order aliasing takes the columns (NULL: theirs) */
} LogisticOptions;

typedef struct LogisticState
{
	int			width;
	double	   *theta;			/* standardized coefficients, [0] intercept */
	double	   *next;			/* proposed coefficients for the next pass */
	double	   *step;
	bool	   *aliased;		/* width; fixed after the first pass */
	LogisticSums sums;			/* at theta */
	double		objective;		/* -loglik + l2/2 |theta[1:]|^2 at theta */
	int			iterations;
	int			halvings;
	bool		converged;
	bool		separated;
	bool		started;
	const double *l2w;			/* per slot weights of the penalty, NULL for 1 */
} LogisticState;

extern Size LogisticSumsBytes(int width);
extern Size LogisticNewtonBytes(int width);
extern void LogisticSumsInit(LogisticSums *s, int width);
extern Size LogisticScratchSize(int width, int rows);
extern void LogisticSumsReset(LogisticSums *s);
extern void LogisticAccumulate(LogisticSums *s, const double *theta, const double *x,
							   const double *y, int rows, const double *cw, double *scratch,
							   double *probs);
extern void LogisticSumsMerge(LogisticSums *a, const LogisticSums *b);
extern Size LogisticSumsFlatSize(int width);
extern void LogisticSumsWrite(PartialWriter *w, const LogisticSums *s);
extern void LogisticSumsRead(const char *data, Size size, LogisticSums *s);
extern bytea *LogisticSumsToBytes(const LogisticSums *s);
extern void LogisticSumsFromBytes(bytea *b, LogisticSums *s);

extern void LogisticStateInit(LogisticState *st, int width, const double *sd, double base_rate);
extern void LogisticStateStartAt(LogisticState *st, const double *theta);
extern bool LogisticStep(LogisticState *st, const LogisticSums *at_next,
						 const LogisticOptions *opts);
extern void LogisticPassConstant(const Dataset *d, const double *theta, const double *cw,
								 LogisticSums *out);
extern void LogisticPassInMemory(const Dataset *d, const double *theta, const double *cw,
								 LogisticSums *out, double *probs);
extern void LogisticCovariance(const LogisticState *st, double l2, double *cov);
extern double LogisticLink(const double *theta, const double *x, int width);
extern double LogisticSigmoid(double eta);
extern double LogisticCalibrationOffset(const double *eta, int64 n, double target, double start);

#endif
