/*-------------------------------------------------------------------------
 * step_group.h
 *	  The training aggregates of models per group (group_by): one pass
 *	  over the rows gives every group's statistics and the global model's.
 *
 * One state holds every group, found by the text of the row's group_by
 * value (groups.h), rather than a state per group under GROUP BY: the
 * groups share one batch of pending rows and one scratch (a group's own
 * statistics are only its co-moments and a sample scaled down as groups
 * appear), the global model's statistics come from the same rows, the
 * pass refuses more than max_groups groups as it reads them, and, being
 * an aggregate without GROUP BY, Citus pushes it down whatever the
 * distribution column (worker_partial_agg per shard, coord_combine_agg).
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_STEP_GROUP_H
#define PROFENRICH_STEP_GROUP_H

#include "groups.h"
#include "logistic.h"
#include "step.h"

/* One group's statistics in a grouped linear_stats pass */
typedef struct GroupStats
{
	Moments		mom[2];			/* bare: rows are folded in from the shared batch */
	RowSample	sample[2];
} GroupStats;

typedef struct GroupedStats
{
	LinearStats *all;			/* every row: the global model's statistics */
	char	   *column;			/* the group_by column */
	int			max_groups;
	int			sample_cap;		/* rows of each group's samples, lowered as groups appear */
	GroupTable	table;
	GroupStats **groups;		/* table.n of them */
	GroupStats *nulls;			/* the rows whose group is NULL (co-moments only) */
	int			cap_groups;
	/* rows waiting to be folded into their groups */
	int			rows;
	double	   *batch;			/* GROUPED_BATCH x d */
	int32	   *bgroup;			/* -1: NULL */
	uint8	   *bsplit;
	bool	   *bmissing;
	uint64	   *bprio;
	int		   *order;
	double	   *bmean;			/* scratch of MomentsFoldRows */
	double	   *bcomom;
	double	   *cols;
	double	   *srow;
	MemoryContext cxt;
} GroupedStats;

extern GroupedStats *GroupedStatsFromBytes(bytea *b);
extern LogisticSums *GroupedStepSums(bytea *b, int *n);

#endif
