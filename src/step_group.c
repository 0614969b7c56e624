/*-------------------------------------------------------------------------
 * step_group.c
 *	  linear_stats_grouped: the one-pass training aggregate of linear and
 *	  logistic models per group (see step_group.h).
 *
 * Each row goes through the global state first (linear_stats' own reading:
 * its target, split, encoding and sample), which encodes it into the
 * grouped state's batch of 16,384 rows; when the batch fills, each group's
 * rows are folded into its co-moments with the Gram kernel, where they lie
 * (a hundred groups: some 130 training rows at a time).  The global
 * co-moments are the sum of the groups' (and those of the rows whose group
 * is NULL), so each row is folded once.  Each group keeps a bottom-k
 * sample of its rows (for its mean absolute error and the population's
 * percentiles) whose size falls as groups appear, so that all of them hold
 * about 8 MB; lowering a bottom-k sample keeps the smallest priorities, so
 * the samples are the same whatever the plan.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "partial.h"
#include "profenrich.h"
#include "step_group.h"

PG_FUNCTION_INFO_V1(linear_stats_grouped_sfunc);
PG_FUNCTION_INFO_V1(linear_stats_grouped_row_sfunc);
PG_FUNCTION_INFO_V1(linear_stats_grouped_combinefunc);
PG_FUNCTION_INFO_V1(linear_stats_grouped_finalfunc);
PG_FUNCTION_INFO_V1(logistic_step_grouped_sfunc);
PG_FUNCTION_INFO_V1(logistic_step_grouped_row_sfunc);
PG_FUNCTION_INFO_V1(logistic_step_grouped_combinefunc);
PG_FUNCTION_INFO_V1(logistic_step_grouped_finalfunc);

#define GROUPED_FORMAT 1
#define GROUPED_BATCH 16384
#define GROUP_SAMPLE_BYTES (8 * 1024 * 1024)
#define GROUP_SAMPLE_MIN 8

static const PartialKind GroupedKind;

static void
GroupedInvalid(const char *why)
{
	PartialInvalid(&GroupedKind, why);
}

/* Width of a row of the co-moments: slots, target, missing indicators */
static inline int
RowWidth(const LinearStats *s)
{
	return s->nslots + 1 + s->nmiss;
}

/* Rows of each group's samples for ngroups groups: about 8 MB in all */
static int
GroupSampleCap(int nslots, int ngroups, int global_cap)
{
	double		per = (double) GROUP_SAMPLE_BYTES /
		(Max(ngroups, 1) * 2.0 * (8 + 8 * ((double) nslots + 1)));

	return (int) Max(GROUP_SAMPLE_MIN, Min(per, (double) global_cap));
}

/* Bytes of one group's statistics */
static Size
GroupBytes(const LinearStats *s, int cap)
{
	return mul_size(2, add_size(MomentsBareBytes(RowWidth(s)), RowSampleBytes(cap, s->nslots + 1)));
}

/*
 * A grouped state around a global state: the shared batch and scratch, in
 * the current memory context.
 */
static GroupedStats *
GroupedCreate(LinearStats *all, const char *column, int max_groups, int sample_cap)
{
	GroupedStats *g = palloc0(sizeof(GroupedStats));
	int			d = RowWidth(all);

	TrainMemoryCheck(add_size(mul_size(sizeof(double), mul_size(GROUPED_BATCH, d)),
							  MomentsScratchBytes(d)), all->nslots, "the batch of a grouped pass");
	g->all = all;
	g->column = pstrdup(column);
	g->max_groups = max_groups;
	g->sample_cap = sample_cap;
	g->cxt = CurrentMemoryContext;
	GroupTableInit(&g->table, max_groups, g->column);
	g->cap_groups = 16;
	g->groups = palloc(sizeof(GroupStats *) * g->cap_groups);
	g->nulls = palloc0(sizeof(GroupStats));
	for (int k = 0; k < 2; k++)
		MomentsInitBare(&g->nulls->mom[k], all->nslots + 1, d);
	g->batch = MemoryContextAllocHuge(g->cxt, mul_size(sizeof(double), mul_size(GROUPED_BATCH, d)));
	g->bgroup = palloc(sizeof(int32) * GROUPED_BATCH);
	g->bsplit = palloc(sizeof(uint8) * GROUPED_BATCH);
	g->bmissing = palloc(sizeof(bool) * GROUPED_BATCH);
	g->bprio = palloc(sizeof(uint64) * GROUPED_BATCH);
	g->order = palloc(sizeof(int) * GROUPED_BATCH);
	g->bmean = palloc(sizeof(double) * d);
	g->bcomom = MemoryContextAllocHuge(g->cxt, mul_size(sizeof(double), mul_size(d, d)));
	g->cols = MemoryContextAllocHuge(g->cxt, MomentsScratchBytes(d));
	g->srow = palloc(sizeof(double) * (all->nslots + 1));
	return g;
}

/*
 * Lower every group's sample to the capacity the number of groups allows
 * (and at most cap), so that the samples of all groups hold about 32 MB.
 */
static void
GroupedShrink(GroupedStats *g, int cap, int ngroups)
{
	int			want = Min(cap, GroupSampleCap(g->all->nslots, ngroups, g->all->sample_cap));

	if (want >= g->sample_cap)
		return;
	g->sample_cap = want;
	for (int i = 0; i < g->table.n; i++)
		for (int k = 0; k < 2; k++)
			RowSampleShrink(&g->groups[i]->sample[k], want);
}

/* The index of a group's text, its statistics created (in the state's context) if new */
static int
GroupedGroup(GroupedStats *g, const char *key, int len)
{
	int			i = GroupFind(&g->table, key, len);
	MemoryContext old;
	GroupStats *gs;
	int			d = RowWidth(g->all);

	if (i >= 0)
		return i;
	old = MemoryContextSwitchTo(g->cxt);
	TrainMemoryCheck(mul_size(g->table.n + 1,
							  GroupBytes(g->all, Min(g->sample_cap,
													 GroupSampleCap(g->all->nslots, g->table.n + 1,
																	g->all->sample_cap)))),
					 g->all->nslots, "the statistics of the groups");
	GroupedShrink(g, g->sample_cap, g->table.n + 1);
	i = GroupAdd(&g->table, key, len);
	if (i == g->cap_groups)
	{
		g->cap_groups *= 2;
		g->groups = repalloc(g->groups, sizeof(GroupStats *) * g->cap_groups);
	}
	gs = palloc0(sizeof(GroupStats));
	for (int k = 0; k < 2; k++)
	{
		MomentsInitBare(&gs->mom[k], g->all->nslots + 1, d);
		RowSampleInit(&gs->sample[k], g->sample_cap, g->all->nslots + 1);
	}
	g->groups[i] = gs;
	MemoryContextSwitchTo(old);
	return i;
}

/*
 * Fold the waiting rows into their groups: order them by (group, split)
 * (their positions only: each group's rows are folded where they lie, at
 * most MOMENTS_BATCH at a time, with the shared scratch), and offer each
 * row to its group's sample (a NULL number's slot as NaN, as linear_stats'
 * own samples hold it).  Rows whose group is NULL go to the global
 * co-moments only.
 */
static void
GroupedFlush(GroupedStats *g)
{
	LinearStats *all = g->all;
	int			d = RowWidth(all);
	int			nkeys = 2 * (g->table.n + 1);
	int		   *start;

	if (g->rows == 0)
		return;
	start = palloc0(sizeof(int) * (nkeys + 1));
	for (int r = 0; r < g->rows; r++)
		start[2 * (g->bgroup[r] + 1) + g->bsplit[r] + 1]++;
	for (int k = 0; k < nkeys; k++)
		start[k + 1] += start[k];
	for (int r = 0; r < g->rows; r++)
		g->order[start[2 * (g->bgroup[r] + 1) + g->bsplit[r]]++] = r;
	for (int at = 0; at < g->rows;)
	{
		int			r0 = g->order[at];
		GroupStats *gs = g->bgroup[r0] >= 0 ? g->groups[g->bgroup[r0]] : g->nulls;
		int			split = g->bsplit[r0];
		int			n = 0;
		bool		missing = false;

		while (at + n < g->rows && n < MOMENTS_BATCH && g->bgroup[g->order[at + n]] == g->bgroup[r0] &&
			   g->bsplit[g->order[at + n]] == split)
			missing |= g->bmissing[g->order[at + n++]];
		MomentsFoldPicked(&gs->mom[split], g->batch, &g->order[at], n, missing, g->bmean,
						  g->bcomom, g->cols);
		for (int k = 0; k < n && gs != g->nulls; k++)
		{
			int			r = g->order[at + k];
			const double *row = &g->batch[(size_t) r * d];

			if (!RowSampleWants(&gs->sample[split], g->bprio[r]))
				continue;
			memcpy(g->srow, row, sizeof(double) * (all->nslots + 1));
			for (int m = 0; m < all->nmiss; m++)
				if (row[all->nslots + 1 + m] != 0)
					g->srow[all->miss_slot[m]] = get_float8_nan();
			RowSampleOffer(&gs->sample[split], g->bprio[r], g->srow);
		}
		at += n;
	}
	pfree(start);
	g->rows = 0;
}

/*
 * The global co-moments, as the sum of the groups' and the NULL group's
 * (the rows are folded into their groups only): the batch folded in first.
 */
static void
GroupedSettle(GroupedStats *g)
{
	GroupedFlush(g);
	for (int k = 0; k < 2; k++)
	{
		MomentsFlush(&g->all->mom[k]);
		MomentsReset(&g->all->mom[k]);
		MomentsMergeFolded(&g->all->mom[k], &g->nulls->mom[k]);
		for (int i = 0; i < g->table.n; i++)
			MomentsMergeFolded(&g->all->mom[k], &g->groups[i]->mom[k]);
	}
}

/*
 * Add the reader's current row: the global state reads and encodes it
 * into the batch (and takes it into its sample), and, when it was counted,
 * the row waits there to be folded into its group's co-moments.
 */
static void
GroupedAccumulate(GroupedStats *g)
{
	LinearStats *all = g->all;
	StatsTap	tap;
	const char *key;
	int			len;

	tap.taken = false;
	tap.row = &g->batch[(size_t) g->rows * RowWidth(all)];
	LinearStatsAccumulate(all, &tap);
	if (!tap.taken)
		return;
	g->bgroup[g->rows] = FeatureReadGroup(&all->reader, &key, &len) ? GroupedGroup(g, key, len) : -1;
	g->bsplit[g->rows] = (uint8) tap.split;
	g->bmissing[g->rows] = tap.missing;
	g->bprio[g->rows] = tap.prio;
	if (++g->rows == GROUPED_BATCH)
		GroupedFlush(g);
}

/* Fold b into a: the global states, then group by group; b is flushed, else not modified */
static void
GroupedMerge(GroupedStats *a, GroupedStats *b)
{
	if (strcmp(a->column, b->column) != 0 || a->all->nslots != b->all->nslots ||
		a->all->nmiss != b->all->nmiss)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine linear_stats_grouped states of different shapes"),
				 errhint("Combine states built with the same feature spec and group_by column.")));
	GroupedFlush(a);
	GroupedFlush(b);
	StatsMerge(a->all, b->all);
	GroupedShrink(a, b->sample_cap, a->table.n);
	for (int k = 0; k < 2; k++)
		MomentsMergeFolded(&a->nulls->mom[k], &b->nulls->mom[k]);
	for (int j = 0; j < b->table.n; j++)
	{
		int			i = GroupedGroup(a, b->table.keys[j], b->table.lens[j]);

		for (int k = 0; k < 2; k++)
		{
			MomentsMergeFolded(&a->groups[i]->mom[k], &b->groups[j]->mom[k]);
			RowSampleMerge(&a->groups[i]->sample[k], &b->groups[j]->sample[k]);
			RowSampleShrink(&a->groups[i]->sample[k], a->sample_cap);
		}
	}
	GroupedSettle(a);
}

/* Payload bytes of the flat form (the batch folded in first) */
static Size
GroupedFlatSize(void *p)
{
	GroupedStats *g = (GroupedStats *) p;
	int			d = RowWidth(g->all);
	Size		moments = 8 * (1 + (Size) d + (Size) d * (d + 1) / 2);
	Size		size;

	GroupedSettle(g);
	size = add_size(3 * 4 + GroupKeyBytes(strlen(g->column)) + 8, StatsFlatSize(g->all));
	size = add_size(size, 2 * moments + 4);
	for (int i = 0; i < g->table.n; i++)
	{
		size = add_size(size, GroupKeyBytes(g->table.lens[i]));
		for (int k = 0; k < 2; k++)
		{
			RowSampleTrim(&g->groups[i]->sample[k]);
			size = add_size(size, add_size(moments + 4, mul_size(g->groups[i]->sample[k].count,
																8 + 8 * ((Size) g->all->nslots + 1))));
		}
	}
	return size;
}

/*
 * The flat form: format, max_groups, the groups' sample size, the column,
 * the global state (its length, its bytes), the co-moments of the rows
 * whose group is NULL, then each group's text, co-moments and samples.
 */
static void
GroupedFlatten(void *p, char *out, Size size)
{
	GroupedStats *g = (GroupedStats *) p;
	PartialWriter w = {out, out + size};
	Size		global = StatsFlatSize(g->all);

	PartialPut32(&w, GROUPED_FORMAT);
	PartialPut32(&w, (uint32) g->max_groups);
	PartialPut32(&w, (uint32) g->sample_cap);
	GroupWriteKey(&w, g->column, strlen(g->column));
	PartialPut64(&w, (uint64) global);
	StatsFlatten(g->all, w.at, global);
	w.at += global;
	for (int k = 0; k < 2; k++)
		MomentsWrite(&w, &g->nulls->mom[k]);
	PartialPut32(&w, (uint32) g->table.n);
	for (int i = 0; i < g->table.n; i++)
	{
		GroupWriteKey(&w, g->table.keys[i], g->table.lens[i]);
		for (int k = 0; k < 2; k++)
		{
			MomentsWrite(&w, &g->groups[i]->mom[k]);
			RowSampleWrite(&w, &g->groups[i]->sample[k]);
		}
	}
	if (w.at != w.end)
		elog(ERROR, "linear_stats_grouped state of %zu bytes written as %zu", size,
			 (Size) (w.at - out));
}

/* One group of a flat form: its co-moments and samples, every length checked first */
static void
GroupedReadGroup(StringInfo buf, GroupedStats *g, int i)
{
	GroupStats *gs = g->groups[i];
	int			d = RowWidth(g->all);
	Size		moments = 8 * (1 + (Size) d + (Size) d * (d + 1) / 2);

	for (int k = 0; k < 2; k++)
	{
		uint32		count;

		if ((Size) (buf->len - buf->cursor) < moments + 4)
			GroupedInvalid("a group's statistics end early");
		pfree(gs->mom[k].mean);
		pfree(gs->mom[k].comom);
		pfree(gs->mom[k].shift);
		MomentsRead(buf, &gs->mom[k], g->all->nslots + 1, d, true);
		memcpy(&count, buf->data + buf->cursor, 4);
		count = pg_ntoh32(count);
		if (count > (uint32) g->sample_cap ||
			(Size) (buf->len - buf->cursor) < 4 + (Size) count * (8 + 8 * ((Size) g->all->nslots + 1)))
			GroupedInvalid("a group's sample does not match its length");
		RowSampleRead(buf, &gs->sample[k], g->sample_cap, g->all->nslots + 1);
	}
}

/* A state from its flat form, refusing (22P03) anything GroupedFlatten could not have written */
static void *
GroupedExpand(const char *data, Size size)
{
	StringInfoData buf;
	int			max_groups,
				cap,
				len,
				n;
	char	   *column;
	uint64		global;
	LinearStats *all;
	GroupedStats *g;
	Size		moments;

	buf.data = (char *) data;
	buf.len = size;
	buf.maxlen = size;
	buf.cursor = 0;
	if (size < 3 * 4 + 4 + 8 || pq_getmsgint(&buf, 4) != GROUPED_FORMAT)
		GroupedInvalid("unknown format");
	max_groups = pq_getmsgint(&buf, 4);
	cap = pq_getmsgint(&buf, 4);
	column = GroupReadKey(&buf, &len, GroupedInvalid);
	if (max_groups < 1 || max_groups > GROUPS_LIMIT || len < 1 || len >= NAMEDATALEN ||
		cap < GROUP_SAMPLE_MIN || (Size) (buf.len - buf.cursor) < 8)
		GroupedInvalid("bad shape");
	global = pq_getmsgint64(&buf);
	if (global > (uint64) (buf.len - buf.cursor))
		GroupedInvalid("the global statistics do not match the length");
	all = (LinearStats *) StatsExpand(buf.data + buf.cursor, (Size) global);
	buf.cursor += (int) global;
	moments = 8 * (1 + (Size) RowWidth(all) + (Size) RowWidth(all) * (RowWidth(all) + 1) / 2);
	if (cap > all->sample_cap)
		GroupedInvalid("bad sample size");
	g = GroupedCreate(all, column, max_groups, cap);
	if ((Size) (buf.len - buf.cursor) < 2 * moments + 4)
		GroupedInvalid("it ends early");
	for (int k = 0; k < 2; k++)
	{
		pfree(g->nulls->mom[k].mean);
		pfree(g->nulls->mom[k].comom);
		pfree(g->nulls->mom[k].shift);
		MomentsRead(&buf, &g->nulls->mom[k], all->nslots + 1, RowWidth(all), true);
	}
	n = pq_getmsgint(&buf, 4);
	if (n < 0 || n > max_groups)
		GroupedInvalid("too many groups");
	for (int j = 0; j < n; j++)
	{
		char	   *key = GroupReadKey(&buf, &len, GroupedInvalid);

		if (GroupFind(&g->table, key, len) >= 0)
			GroupedInvalid("a group is named twice");
		GroupedReadGroup(&buf, g, GroupedGroup(g, key, len));
	}
	if (buf.cursor != buf.len)
		GroupedInvalid("trailing bytes");
	return g;
}

/* PartialKind's merge */
static void
GroupedMergeState(void *into, void *from)
{
	GroupedMerge((GroupedStats *) into, (GroupedStats *) from);
}

static const PartialKind GroupedKind = {
	"linear_stats_grouped", GroupedFlatSize, GroupedFlatten, GroupedExpand, GroupedMergeState
};

/* A state from the bytes linear_stats_grouped returned (train() reads its result so) */
GroupedStats *
GroupedStatsFromBytes(bytea *b)
{
	return (GroupedStats *) GroupedExpand(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
}

/*
 * The state of a transition call (state, spec, group column, max_groups,
 * names, ...): created from the arguments on the first row, or given the
 * spec when rebuilt from bytes.
 */
static PartialState *
GroupedState(FunctionCallInfo fcinfo)
{
	PartialState *ps = PartialArg(fcinfo, 0, &GroupedKind, true);
	GroupedStats *g;
	char	   *column;
	MemoryContext old;

	if (ps != NULL && ((GroupedStats *) ps->state)->all->spec != NULL)
		return ps;
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("linear_stats_grouped needs a feature spec, a group_by column and max_groups"),
				 errhint("train() passes them with the option group_by.")));
	column = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (ps == NULL)
	{
		int			max_groups = PG_GETARG_INT32(3);

		if (max_groups < 1 || max_groups > GROUPS_LIMIT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_groups must be from 1 to %d, not %d", GROUPS_LIMIT, max_groups),
					 errhint("Set the option max_groups of train().")));
		ps = PartialNew(fcinfo, &GroupedKind);
		old = MemoryContextSwitchTo(ps->cxt);
		g = GroupedCreate(StatsCreateForSpec(PG_GETARG_BYTEA_PP(1), ps->cxt), column, max_groups,
						  0);
		g->sample_cap = GroupSampleCap(g->all->nslots, 1, g->all->sample_cap);
		ps->state = g;
		MemoryContextSwitchTo(old);
	}
	else
	{
		g = (GroupedStats *) ps->state;
		if (strcmp(column, g->column) != 0)
			PartialInvalid(&GroupedKind, "its group_by column is not the call's");
		StatsAttachSpec(g->all, PG_GETARG_BYTEA_PP(1), ps->cxt);
	}
	g->all->spec->group = g->column;
	return ps;
}

/*
 * linear_stats_grouped_sfunc(state bytea, spec bytea, group_by text,
 * max_groups integer, names text[], VARIADIC "any"): the row as one
 * argument per named column, the group_by column among them.
 */
Datum
linear_stats_grouped_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = GroupedState(fcinfo);
	GroupedStats *g = (GroupedStats *) ps->state;

	if (unlikely(!g->all->reader.bound))
		FeatureReaderBindArgs(&g->all->reader, g->all->spec, fcinfo, 4, true, true);
	FeatureReaderLoadArgs(&g->all->reader, fcinfo, 4);
	GroupedAccumulate(g);
	return PartialResult(fcinfo, ps);
}

/*
 * linear_stats_grouped_row_sfunc(state bytea, spec bytea, group_by text,
 * max_groups integer, names text[], row record): the row as ROW(...), the
 * form Citus pushes down.
 */
Datum
linear_stats_grouped_row_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps;
	GroupedStats *g;

	if (PG_ARGISNULL(5))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		return PartialResult(fcinfo, PartialArg(fcinfo, 0, &GroupedKind, true));
	}
	ps = GroupedState(fcinfo);
	g = (GroupedStats *) ps->state;
	FeatureReaderLoadRecord(&g->all->reader, g->all->spec, fcinfo, 4, PG_GETARG_HEAPTUPLEHEADER(5),
							true, true);
	GroupedAccumulate(g);
	return PartialResult(fcinfo, ps);
}

/* linear_stats_grouped_combinefunc(bytea, bytea): the second state is never changed in value */
Datum
linear_stats_grouped_combinefunc(PG_FUNCTION_ARGS)
{
	return PartialCombine(fcinfo, &GroupedKind);
}

/* linear_stats_grouped_finalfunc(bytea): the state's bytes */
Datum
linear_stats_grouped_finalfunc(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P(0));
}


/* ---------------------------------------------------------------------
 * logistic_step_grouped: one Newton pass of many logistic models at once
 * ---------------------------------------------------------------------
 *
 * The streaming path of logistic regression per group: each pass gives,
 * for every model still iterating (the groups listed, and the global model
 * as a NULL entry), the sums at its proposed coefficients.  The rows are
 * standardized with the data's means and sds once, batched, put in group
 * order and added to each group's sums a run at a time; every training row
 * is added to the global sums too.
 */

#define GROUPED_STEP_FORMAT 1
#define GROUPED_STEP_BATCH 1024

typedef struct GroupedStep
{
	int			width;
	int			n;				/* entries: models iterating */
	LogisticSums *sums;			/* n */
	/* only in states built by the transition */
	FeatureSpec *spec;
	FeatureReader reader;
	uint32		test_threshold;
	GroupTable	table;			/* the listed groups' texts: entry index */
	int			global;			/* the global model's entry, -1 when not listed */
	const double *mean;
	const double *sd;
	double	   *cw;				/* 2 per entry */
	double	   *theta;			/* width per entry */
	double	   *batch;			/* GROUPED_STEP_BATCH x width */
	double	   *ybuf;
	int32	   *gbuf;
	double	   *sorted;
	double	   *ysorted;
	int			rows;
	double	   *x;
	int		   *missing;
	double	   *scratch;
} GroupedStep;

static const PartialKind GroupedStepKind;

/* A state of n entries' sums only */
static GroupedStep *
GroupedStepBare(int width, int n)
{
	GroupedStep *s = palloc0(sizeof(GroupedStep));

	TrainMemoryCheck(mul_size(Max(n, 1), LogisticSumsBytes(width)), width - 1,
					 "the sums of logistic_step_grouped");
	s->width = width;
	s->n = n;
	s->sums = palloc(sizeof(LogisticSums) * Max(n, 1));
	for (int i = 0; i < n; i++)
		LogisticSumsInit(&s->sums[i], width);
	s->global = -1;
	return s;
}

/*
 * The transition's state from its arguments (state, spec, params,
 * group_by, groups, names, ...): the spec, the entries (the groups array,
 * a NULL element the global model), and from params the data's means and
 * sds then each entry's two class weights and coefficients.
 */
static GroupedStep *
GroupedStepAttach(GroupedStep *s, FunctionCallInfo fcinfo, MemoryContext mcxt)
{
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	StringInfoData buf;
	FeatureSpec *spec;
	ArrayType  *params;
	Datum	   *keys;
	bool	   *nulls;
	int			n,
				w;
	double	   *p;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("logistic_step_grouped needs a feature spec, parameters, a group_by column and groups"),
				 errhint("train() passes them with the option group_by.")));
	BYTES_READER(&buf, PG_GETARG_BYTEA_PP(1));
	spec = FeatureSpecRead(&buf, FEATURE_SPEC_FORMAT, true);
	spec->group = text_to_cstring(PG_GETARG_TEXT_PP(3));
	w = spec->nslots + 1;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), TEXTOID, -1, false, TYPALIGN_INT, &keys, &nulls, &n);
	params = PG_GETARG_ARRAYTYPE_P(2);
	if (n < 1 || n > GROUPS_LIMIT + 1 || ARR_NDIM(params) != 1 || ARR_HASNULL(params) ||
		ARR_ELEMTYPE(params) != FLOAT8OID || ARR_DIMS(params)[0] != 2 * w + n * (2 + w))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logistic_step_grouped needs %d parameters for %d models of %d slots",
						2 * w + Max(n, 0) * (2 + w), n, w - 1),
				 errhint("Pass {slot means, slot sds, then per model its two class weights and coefficients}.")));
	if (s == NULL)
		s = GroupedStepBare(w, n);
	else if (s->width != w || s->n != n)
		PartialInvalid(&GroupedStepKind, "its models do not match the call's");
	s->spec = spec;
	FeatureReaderInit(&s->reader, mcxt);
	s->test_threshold = FeatureTestThreshold(spec);
	GroupTableInit(&s->table, 0, spec->group);
	p = (double *) ARR_DATA_PTR(params);
	s->mean = p;
	s->sd = p + w;
	s->cw = palloc(sizeof(double) * 2 * n);
	s->theta = palloc(sizeof(double) * (Size) n * w);
	for (int i = 0; i < n; i++)
	{
		const double *e = p + 2 * w + (Size) i * (2 + w);

		if (nulls[i])
		{
			if (s->global >= 0)
				PartialInvalid(&GroupedStepKind, "the global model is listed twice");
			s->global = i;
		}
		else
		{
			char	   *key = TextDatumGetCString(keys[i]);

			if (GroupFind(&s->table, key, strlen(key)) >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("group \"%s\" is listed twice", key),
						 errhint("List each group once.")));
			if (GroupAdd(&s->table, key, strlen(key)) != i - (s->global >= 0 && s->global < i ? 1 : 0))
				elog(ERROR, "group entries out of order");
		}
		s->cw[2 * i] = e[0];
		s->cw[2 * i + 1] = e[1];
		memcpy(&s->theta[(size_t) i * w], e + 2, sizeof(double) * w);
	}
	s->batch = MemoryContextAllocHuge(mcxt, sizeof(double) * GROUPED_STEP_BATCH * w);
	s->sorted = MemoryContextAllocHuge(mcxt, sizeof(double) * GROUPED_STEP_BATCH * w);
	s->ybuf = palloc(sizeof(double) * GROUPED_STEP_BATCH);
	s->ysorted = palloc(sizeof(double) * GROUPED_STEP_BATCH);
	s->gbuf = palloc(sizeof(int32) * GROUPED_STEP_BATCH);
	s->x = palloc(sizeof(double) * w);
	s->missing = palloc(sizeof(int) * Max(spec->nnumeric, 1));
	s->scratch = MemoryContextAllocHuge(mcxt, LogisticScratchSize(w, GROUPED_STEP_BATCH));
	MemoryContextSwitchTo(old);
	return s;
}

/* The entry of a group's text (the global entry's index excluded), or -1 */
static inline int
StepEntry(GroupedStep *s, const char *key, int len)
{
	int			i = GroupFind(&s->table, key, len);

	return i < 0 ? -1 : i + (s->global >= 0 && s->global <= i ? 1 : 0);
}

/* Add the waiting rows: all to the global sums, each group's run to its own */
static void
GroupedStepFlush(GroupedStep *s)
{
	int			w = s->width;
	int		   *start;

	if (s->rows == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	if (s->global >= 0)
		LogisticAccumulate(&s->sums[s->global], &s->theta[(size_t) s->global * w], s->batch, s->ybuf,
						   s->rows, &s->cw[2 * s->global], s->scratch, NULL);
	start = palloc0(sizeof(int) * (s->n + 2));
	for (int r = 0; r < s->rows; r++)
		start[s->gbuf[r] + 2]++;
	for (int k = 0; k <= s->n; k++)
		start[k + 1] += start[k];
	for (int r = 0; r < s->rows; r++)
	{
		int			to = start[s->gbuf[r] + 1]++;

		memcpy(&s->sorted[(size_t) to * w], &s->batch[(size_t) r * w], sizeof(double) * w);
		s->ysorted[to] = s->ybuf[r];
	}
	/* start[e] is now the end of entry e - 1's run; entry -1 (no group) first */
	for (int e = 0; e < s->n; e++)
	{
		int			from = start[e],
					to = start[e + 1];

		if (to > from && e != s->global)
			LogisticAccumulate(&s->sums[e], &s->theta[(size_t) e * w], &s->sorted[(size_t) from * w],
							   &s->ysorted[from], to - from, &s->cw[2 * e], s->scratch, NULL);
	}
	pfree(start);
	s->rows = 0;
}

/*
 * Add the reader's current row: a training row with a label, NULLs
 * imputed, standardized with the data's means and sds, with its group's
 * entry (-1: none listed).
 */
static void
GroupedStepAdd(GroupedStep *s)
{
	const FeatureSpec *spec = s->spec;
	double		label;
	int			nmissing;
	double	   *row;
	const char *key;
	int			len;
	int			e;

	if (!FeatureReadTarget(&s->reader, spec, &label))
		return;
	if (FeatureEncodeRow(&s->reader, spec, s->x + 1, s->missing, &nmissing))
	{
		if (spec->impute == IMPUTE_ERROR)
			StepNullFeatureError();
		if (spec->impute == IMPUTE_SKIP)
			return;
	}
	if ((uint32) (s->reader.key_pos < 0 && spec->split_hash == SPLIT_HASH_MIX ?
				  FeatureValuesHash(spec, s->x + 1, label) :
				  FeatureRowHash(&s->reader, spec, s->x + 1, spec->nslots)) < s->test_threshold)
		return;
	e = FeatureReadGroup(&s->reader, &key, &len) ? StepEntry(s, key, len) : -1;
	if (e < 0 && s->global < 0)
		return;
	row = &s->batch[(size_t) s->rows * s->width];
	row[0] = 1.0;
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		for (int k = 0; k < c->nslots; k++)
		{
			int			j = 1 + c->first_slot + k;
			double		v = s->x[j];

			if (c->kind != FEATURE_CATEGORICAL && nmissing > 0)
				for (int m = 0; m < nmissing; m++)
					if (s->missing[m] == c->miss_index)
						v = c->impute;
			row[j] = s->sd[j] > 0 ? (v - s->mean[j]) / s->sd[j] : 0.0;
		}
	}
	s->ybuf[s->rows] = label;
	s->gbuf[s->rows++] = e;
	if (s->rows == GROUPED_STEP_BATCH)
		GroupedStepFlush(s);
}

/* Payload bytes: format, entries, width, each entry's sums (the batch folded in first) */
static Size
GroupedStepFlatSize(void *p)
{
	GroupedStep *s = (GroupedStep *) p;

	GroupedStepFlush(s);
	return add_size(12, mul_size(Max(s->n, 0), LogisticSumsFlatSize(s->width)));
}

static void
GroupedStepFlatten(void *p, char *out, Size size)
{
	GroupedStep *s = (GroupedStep *) p;
	PartialWriter w = {out, out + size};

	PartialPut32(&w, GROUPED_STEP_FORMAT);
	PartialPut32(&w, (uint32) s->n);
	PartialPut32(&w, (uint32) s->width);
	for (int i = 0; i < s->n; i++)
		LogisticSumsWrite(&w, &s->sums[i]);
}

static void *
GroupedStepExpand(const char *data, Size size)
{
	StringInfoData buf;
	int			n,
				w;
	GroupedStep *s;

	buf.data = (char *) data;
	buf.len = size;
	buf.maxlen = size;
	buf.cursor = 0;
	if (size < 12 || pq_getmsgint(&buf, 4) != GROUPED_STEP_FORMAT)
		PartialInvalid(&GroupedStepKind, "unknown format");
	n = pq_getmsgint(&buf, 4);
	w = pq_getmsgint(&buf, 4);
	if (n < 1 || n > GROUPS_LIMIT + 1 || w < 1 || w > FEATURE_MAX_SLOTS + 1 ||
		size != 12 + (Size) n * LogisticSumsFlatSize(w))
		PartialInvalid(&GroupedStepKind, "length does not match its models");
	s = palloc0(sizeof(GroupedStep));
	s->width = w;
	s->n = n;
	s->global = -1;
	s->sums = palloc(sizeof(LogisticSums) * n);
	for (int i = 0; i < n; i++)
		LogisticSumsRead(data + 12 + (Size) i * LogisticSumsFlatSize(w), LogisticSumsFlatSize(w),
						 &s->sums[i]);
	return s;
}

static const PartialKind GroupedStepKind = {
	"logistic_step_grouped", GroupedStepFlatSize, GroupedStepFlatten, GroupedStepExpand
};

/* The transition's state, created or given the spec and parameters */
static PartialState *
GroupedStepState(FunctionCallInfo fcinfo)
{
	PartialState *ps = PartialArg(fcinfo, 0, &GroupedStepKind, true);

	if (ps == NULL)
	{
		ps = PartialNew(fcinfo, &GroupedStepKind);
		ps->state = GroupedStepAttach(NULL, fcinfo, ps->cxt);
	}
	else if (((GroupedStep *) ps->state)->spec == NULL)
		GroupedStepAttach((GroupedStep *) ps->state, fcinfo, ps->cxt);
	return ps;
}

/*
 * logistic_step_grouped_sfunc(state bytea, spec bytea, params float8[],
 * group_by text, groups text[], names text[], VARIADIC "any")
 */
Datum
logistic_step_grouped_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = GroupedStepState(fcinfo);
	GroupedStep *s = (GroupedStep *) ps->state;

	if (unlikely(!s->reader.bound))
		FeatureReaderBindArgs(&s->reader, s->spec, fcinfo, 5, true, true);
	FeatureReaderLoadArgs(&s->reader, fcinfo, 5);
	GroupedStepAdd(s);
	return PartialResult(fcinfo, ps);
}

/*
 * logistic_step_grouped_row_sfunc(state bytea, spec bytea, params
 * float8[], group_by text, groups text[], names text[], row record): the
 * form Citus pushes down
 */
Datum
logistic_step_grouped_row_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = GroupedStepState(fcinfo);
	GroupedStep *s = (GroupedStep *) ps->state;

	if (!PG_ARGISNULL(6))
	{
		FeatureReaderLoadRecord(&s->reader, s->spec, fcinfo, 5, PG_GETARG_HEAPTUPLEHEADER(6), true,
								true);
		GroupedStepAdd(s);
	}
	return PartialResult(fcinfo, ps);
}

/* logistic_step_grouped_combinefunc(bytea, bytea): the sums entry by entry */
Datum
logistic_step_grouped_combinefunc(PG_FUNCTION_ARGS)
{
	PartialState *a = PartialArg(fcinfo, 0, &GroupedStepKind, true);
	GroupedStep *b;
	GroupedStep *as;

	if (a == NULL)
	{
		a = PartialArg(fcinfo, 1, &GroupedStepKind, false);
		if (a == NULL)
			PG_RETURN_NULL();
		return PartialResult(fcinfo, a);
	}
	b = (GroupedStep *) PartialPeek(fcinfo, 1, &GroupedStepKind);
	if (b == NULL)
		return PartialResult(fcinfo, a);
	as = (GroupedStep *) a->state;
	if (as->n != b->n || as->width != b->width)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine logistic_step_grouped states of different models"),
				 errhint("Combine states of the same pass.")));
	GroupedStepFlush(as);
	GroupedStepFlush(b);
	for (int i = 0; i < as->n; i++)
		LogisticSumsMerge(&as->sums[i], &b->sums[i]);
	return PartialResult(fcinfo, a);
}

/* logistic_step_grouped_finalfunc(bytea): the sums' bytes */
Datum
logistic_step_grouped_finalfunc(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P(0));
}

/* The sums of each model of a logistic_step_grouped result, in its entries' order */
LogisticSums *
GroupedStepSums(bytea *b, int *n)
{
	GroupedStep *s = (GroupedStep *) GroupedStepExpand(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));

	*n = s->n;
	return s->sums;
}
