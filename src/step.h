/*-------------------------------------------------------------------------
 * step.h
 *	  The one-pass training aggregate for linear models and its state.
 *
 * profenrich.linear_stats(row record, spec bytea) reads each row through
 * the feature spec and accumulates, separately for the training and the
 * test split, the co-moments of [x, y, missing indicators] and a
 * deterministic sample of rows (for metrics that do not decompose, such
 * as the mean absolute error).  It combines, serializes and runs in
 * parallel workers.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_STEP_H
#define PROFENRICH_STEP_H

#include "features.h"
#include "moments.h"
#include "utils/timestamp.h"


typedef struct LinearStats
{
	int			nslots;
	int			nmiss;
	int			sample_cap;
	int64		skipped_target;	/* rows with a NULL target */
	int64		skipped_feature;	/* rows dropped by impute = skip */
	Moments		mom[2];
	RowSample	sample[2];
	/* only in states built by the transition function */
	FeatureSpec *spec;
	FeatureReader reader;
	uint32		test_threshold;
	int		   *missing;		/* miss_index of the NULL numeric features */
	double	   *srow;			/* nslots + 1 */
	int		   *miss_slot;		/* slot of each miss_index */
	int64		rows_seen;		/* for progress notices */
	TimestampTz last_notice;
} LinearStats;

extern LinearStats *LinearStatsFromBytes(bytea *b);
extern void StepNullFeatureError(void) pg_attribute_noreturn();
extern bool StepTrainingRow(FeatureReader *r, const FeatureSpec *spec, uint32 test_threshold,
							const double *mean, const double *sd, double *x, int *missing,
							double *row, double *label);
extern void LinearStatsCheckFinite(const LinearStats *st, const FeatureSpec *spec);
extern uint64 StatsRowPriority(uint64 hash);
extern int	StatsSampleCapacity(int nslots);

#endif
