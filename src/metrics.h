/*-------------------------------------------------------------------------
 * metrics.h
 *	  Classification metrics over arrays of scores and 0/1 labels, and of
 *	  class probabilities and class indexes.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_METRICS_H
#define PROFENRICH_METRICS_H

#include "lib/stringinfo.h"

typedef struct ClassMetrics
{
	double		n;
	double		auc;
	double		logloss;
	double		brier;
	double		accuracy;
	double		precision;
	double		recall;
	double		f1;
	double		base_rate;
} ClassMetrics;

/* A score and its 0/1 label (or weight), as the radix sort takes them */
typedef struct ScoredLabel
{
	double		score;
	double		label;
} ScoredLabel;

/* A float8 as an unsigned key with the same order */
static inline uint64
MetricsOrderKey(double v)
{
	uint64		bits;

	memcpy(&bits, &v, sizeof(bits));
	return (bits & UINT64CONST(0x8000000000000000)) ? ~bits : bits | UINT64CONST(0x8000000000000000);
}

extern void MetricsCheckScores(const ScoredLabel *pairs, int64 n);
extern void MetricsSortPairs(ScoredLabel *pairs, int64 n);
extern double MetricAuc(ScoredLabel *pairs, int64 n);
extern void MetricsClassify(ScoredLabel *pairs, int64 n, double logloss, ClassMetrics *m);

extern void MetricsMulticlassJson(StringInfo out, const double *probs, const int *label,
								  int64 n, int nclasses, char **classes);

#endif
