/*-------------------------------------------------------------------------
 * baseline.h
 *	  The training baseline of a model: how its training population was
 *	  distributed, feature by feature and in its score, so that drift()
 *	  can tell how far today's rows have moved from it.
 *
 * Every model with a feature spec stores one (params section
 * SECTION_BASELINE, from 0.5.0 on):
 *   - a numeric column: its distinct decile edges e1 < ... < ek (k <= 9)
 *     and the shares of the bins (-inf, e1], (e1, e2], ..., (ek, inf) and
 *     NULL;
 *   - a boolean column: the bins false, true and NULL (one edge, 0);
 *   - a categorical column: the share of each vocabulary level, of
 *     "(other)" (any value outside the vocabulary) and of NULL;
 *   - the score: a number model's score deciles and bin shares as for a
 *     numeric column (without a NULL bin), a class model's predicted
 *     class shares (one bin per class, in model order).
 * Categorical shares count every row of the training source (they come
 * from the vocabulary scan); numeric shares come from the trainer's rows
 * (every training and test row, or a sample of them); score shares from
 * the training rows' scores.
 *
 * The computation (BaselineCompute) is plain C over arrays; TrainBaseline
 * (trainer.h) is the one call a trainer makes.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_BASELINE_H
#define PROFENRICH_BASELINE_H

#include "lib/stringinfo.h"

#include "features.h"

#define BASELINE_FORMAT 1
#define BASELINE_EDGES 9		/* deciles */
#define BASELINE_MAX_BINS (FEATURE_MAX_LEVELS + 2)
#define BASELINE_SMOOTHING 1e-4 /* the share an empty bin counts with in the PSI */

/* What the baseline's score part describes */
typedef enum BaselineScoreKind
{
	BASELINE_SCORE_NONE = 0,	/* the model's output has no single score */
	BASELINE_SCORE_NUMBER = 1,	/* deciles of the score */
	BASELINE_SCORE_CLASS = 2	/* shares of the predicted classes */
} BaselineScoreKind;

/*
 * One distribution: bins and their shares.  Numbers: nedges distinct
 * edges, bins (-inf, e1], ..., (ek, inf) and, for a feature, NULL last;
 * categories: no edges, the levels, "(other)" and NULL; classes: one bin
 * per class.
 */
typedef struct BaselineBins
{
	double		n;				/* rows (or row weight) the shares describe */
	int			nedges;
	double		edges[BASELINE_EDGES];
	int			nbins;
	double	   *shares;
} BaselineBins;

typedef struct Baseline
{
	int			ncolumns;		/* the spec's columns, in spec order */
	BaselineBins *columns;
	BaselineScoreKind score_kind;
	BaselineBins score;
} Baseline;

/*
 * Encoded rows a trainer hands over: slot s of row r at
 * rows[r * stride + offset + s], NaN for a NULL number; each row stands
 * for weight rows of the population (a sample of 20,000 of 1,000,000 rows:
 * weight 50).
 */
typedef struct BaselineRows
{
	const double *rows;
	int64		n;
	int			stride;
	int			offset;
	double		weight;
} BaselineRows;

/*
 * The level counts of a categorical column over the training source:
 * counts[0 .. nlevels-1] the levels, counts[nlevels] the other values,
 * counts[nlevels + 1] NULL.  NULL for other columns.
 */
typedef double **BaselineLevelCounts;

extern Baseline *BaselineCompute(const FeatureSpec *spec, BaselineLevelCounts levels,
								 const BaselineRows *sets, int nsets,
								 BaselineScoreKind score_kind, const double *scores,
								 int64 nscores, bool sorted, int nclasses);
extern void BaselineWrite(StringInfo buf, const Baseline *b);
extern Baseline *BaselineRead(StringInfo buf, const FeatureSpec *spec, int nclasses);

/* drift: where a value falls, and the index of two distributions */
extern double BaselinePsi(const double *expected, const double *actual, int nbins);
extern const char *BaselineStatus(double psi);
extern char *BaselineBinLabel(const FeatureColumn *c, const BaselineBins *b, int bin);
extern char *BaselineScoreLabel(const Baseline *b, int bin, char **classes);

/* The bin of a number: the number of edges below it (NaN: the caller's NULL bin) */
static inline int
BaselineNumberBin(const BaselineBins *b, double v)
{
	int			bin = 0;

	for (int k = 0; k < b->nedges; k++)
		bin += v > b->edges[k];
	return bin;
}

#endif
