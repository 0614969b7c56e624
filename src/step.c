/*-------------------------------------------------------------------------
 * step.c
 *	  SQL interface of the training aggregates linear_stats and
 *	  logistic_step: transition, combine and final functions.
 *
 * Their state type is bytea (partial.h): an expanded object while the
 * aggregate runs, its flat form (the serialized state) when it travels to
 * a parallel leader or from a Citus worker to the coordinator, so both
 * are pushed down.  The functions of the 0.4.0 declarations, whose state
 * is internal, stay until ALTER EXTENSION UPDATE replaces them: train()
 * calls the aggregates by name and must work in between.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "logistic.h"
#include "partial.h"
#include "step.h"
#include "profenrich.h"

#define LINEAR_STATS_FORMAT 2	/* 2: the bad rows (0.5.0) */
#define SAMPLE_BYTES (32 * 1024 * 1024)
#define SAMPLE_MAX_ROWS 20000
#define SAMPLE_MIN_ROWS 1000

PG_FUNCTION_INFO_V1(linear_stats_trans);
PG_FUNCTION_INFO_V1(linear_stats_args_trans);
PG_FUNCTION_INFO_V1(linear_stats_combine);
PG_FUNCTION_INFO_V1(linear_stats_serialize);
PG_FUNCTION_INFO_V1(linear_stats_deserialize);
PG_FUNCTION_INFO_V1(linear_stats_final);
PG_FUNCTION_INFO_V1(logistic_step_trans);
PG_FUNCTION_INFO_V1(logistic_step_combine);
PG_FUNCTION_INFO_V1(logistic_step_serialize);
PG_FUNCTION_INFO_V1(logistic_step_deserialize);
PG_FUNCTION_INFO_V1(logistic_step_final);
PG_FUNCTION_INFO_V1(linear_stats_sfunc);
PG_FUNCTION_INFO_V1(linear_stats_args_sfunc);
PG_FUNCTION_INFO_V1(linear_stats_combinefunc);
PG_FUNCTION_INFO_V1(linear_stats_finalfunc);
PG_FUNCTION_INFO_V1(logistic_step_sfunc);
PG_FUNCTION_INFO_V1(logistic_step_combinefunc);
PG_FUNCTION_INFO_V1(logistic_step_finalfunc);
PG_FUNCTION_INFO_V1(linear_stats_row_sfunc);
PG_FUNCTION_INFO_V1(logistic_step_row_sfunc);

static const PartialKind LinearStatsKind;
static const PartialKind LogisticStepKind;

/* A 64-bit finalizer (splitmix64) turning the split hash into a sample priority */
static inline uint64
MixPriority(uint64 h)
{
	h ^= h >> 30;
	h *= UINT64CONST(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64CONST(0x94d049bb133111eb);
	h ^= h >> 31;
	return h;
}

/* Rows the MAE sample keeps per split: about 32 MB, at least 1000, at most 20000 */
int
SampleCapacity(int nslots)
{
	int			cap = SAMPLE_BYTES / (int) (sizeof(double) * (nslots + 1));

	return Min(Max(cap, SAMPLE_MIN_ROWS), SAMPLE_MAX_ROWS);
}

/*
 * A row's sample priority from its split hash, and the sample's capacity:
 * what a trainer that samples its rows in memory needs to keep the same
 * rows as linear_stats does (k-means seeds on them).
 */
uint64
StatsRowPriority(uint64 hash)
{
	return MixPriority(hash);
}

int
StatsSampleCapacity(int nslots)
{
	return SampleCapacity(nslots);
}

#define PROGRESS_ROWS_MASK ((1 << 20) - 1)
#define PROGRESS_INTERVAL_MS 10000

#ifdef USE_ASSERT_CHECKING
/*
 * Invariants of a state: shapes agree, counts are sane, variances are not
 * negative beyond rounding, samples respect their capacity.
 */
static void
StatsCheck(const LinearStats *s)
{
	for (int k = 0; k < 2; k++)
	{
		const Moments *m = &s->mom[k];

		Assert(m->d == s->nslots + 1 + s->nmiss && m->dense == s->nslots + 1);
		Assert(m->n >= 0 && m->rows >= 0 && m->rows < MOMENTS_BATCH);
		for (int i = 0; i < m->d; i++)
			Assert(!(m->comom[i * m->d + i] < -1e-6 * Max(1.0, m->n)));
		Assert(s->sample[k].count >= 0 && s->sample[k].count <= 2 * s->sample[k].cap);
		Assert(s->sample[k].width == s->nslots + 1);
	}
	Assert(s->skipped_target >= 0 && s->skipped_feature >= 0);
}
#else
#define StatsCheck(s) ((void) 0)
#endif

/*
 * A NOTICE at most every 10 seconds on a long pass (checked every 2^20
 * rows, so it costs nothing per row); each parallel worker reports its own.
 */
static void
StatsProgress(LinearStats *s)
{
	TimestampTz now;

	if ((++s->rows_seen & PROGRESS_ROWS_MASK) != 0)
		return;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(s->last_notice, now, PROGRESS_INTERVAL_MS))
		return;
	ereport(NOTICE,
			(errmsg("profenrich: training pass has read " INT64_FORMAT " rows", s->rows_seen)));
	s->last_notice = now;
}

/* Bytes of the bad rows in the serialized form without their example's texts */
#define BAD_FIXED_BYTES (8 * BAD_NREASONS + 4 + 4 + 4)

/*
 * Bytes of a state's serialized form (StatsToBytes), without the samples'
 * rows and the bad rows' example texts
 */
static Size
StatsFixedBytes(int nslots, int nmiss)
{
	Size		d = (Size) nslots + 1 + nmiss;
	Size		split = add_size(8 + 4, mul_size(8, add_size(d, d * (d + 1) / 2)));

	return add_size(4 * 4 + 2 * 8 + BAD_FIXED_BYTES, mul_size(2, split));
}

/* Bytes of the bad rows' example texts in the serialized form */
static Size
BadTextBytes(const BadRows *b)
{
	return (b->example_key ? strlen(b->example_key) : 0) +
		(b->example_detail ? strlen(b->example_detail) : 0);
}

/*
 * Refuse, before allocating anything, a state that would outgrow the
 * training memory limit (TrainMemoryCheck: its co-moments are
 * O(slots^2)) or whose serialized form would not fit in a bytea.
 */
static void
StatsCheckSize(int nslots, int nmiss, int sample_cap)
{
	int			d = nslots + 1 + nmiss;
	Size		need = mul_size(2, add_size(MomentsBytes(d), RowSampleBytes(sample_cap, nslots + 1)));
	Size		bytes = add_size(StatsFixedBytes(nslots, nmiss),
								 mul_size(2 * (Size) sample_cap, 8 + 8 * ((Size) nslots + 1)));

	TrainMemoryCheck(need, nslots, "the co-moments state of linear_stats");
	if (bytes >= MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the co-moments state of linear_stats for %d slots would take %zu MB as a value, more than the 1 GB a value can hold",
						nslots, bytes / (1024 * 1024)),
				 errhint("Lower the option max_categories, or train on fewer features.")));
}

/* An empty state with both splits, in the current memory context */
static LinearStats *
StatsCreate(int nslots, int nmiss, int sample_cap)
{
	LinearStats *s;

	StatsCheckSize(nslots, nmiss, sample_cap);
	s = palloc0(sizeof(LinearStats));

	s->nslots = nslots;
	s->nmiss = nmiss;
	s->sample_cap = sample_cap;
	BadRowsInit(&s->bad);
	for (int k = 0; k < 2; k++)
	{
		MomentsInit(&s->mom[k], nslots + 1, nslots + 1 + nmiss);
		RowSampleInit(&s->sample[k], sample_cap, nslots + 1);
	}
	return s;
}

/*
 * Give a state what the transition needs: the spec (parsed once per
 * aggregate call, in mcxt), its reader and scratch.  A state rebuilt from
 * bytes must have the spec's shape.
 */
void
StatsAttachSpec(LinearStats *s, bytea *specbytes, MemoryContext mcxt)
{
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	StringInfoData buf;
	FeatureSpec *spec;

	BYTES_READER(&buf, specbytes);
	spec = FeatureSpecRead(&buf, FEATURE_SPEC_FORMAT, true);
	if (spec->nslots != s->nslots || spec->nnumeric != s->nmiss ||
		SampleCapacity(spec->nslots) != s->sample_cap)
		PartialInvalid(&LinearStatsKind, "its shape does not match the feature spec");
	s->spec = spec;
	FeatureReaderInit(&s->reader, mcxt);
	s->reader.soft_bad = spec->on_bad_row == BAD_ROW_SKIP;
	s->test_threshold = FeatureTestThreshold(spec);
	s->last_notice = GetCurrentTimestamp();
	s->missing = palloc0(sizeof(int) * Max(spec->nnumeric, 1));
	s->srow = palloc(sizeof(double) * (spec->nslots + 1));
	s->miss_slot = palloc(sizeof(int) * Max(spec->nnumeric, 1));
	for (int i = 0; i < spec->ncolumns; i++)
		if (spec->columns[i].miss_index >= 0)
			s->miss_slot[spec->columns[i].miss_index] = spec->columns[i].first_slot;
	MemoryContextSwitchTo(old);
}

/* The transition state for a spec, in mcxt */
LinearStats *
StatsCreateForSpec(bytea *specbytes, MemoryContext mcxt)
{
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	StringInfoData buf;
	FeatureSpec *spec;
	LinearStats *s;

	BYTES_READER(&buf, specbytes);
	spec = FeatureSpecRead(&buf, FEATURE_SPEC_FORMAT, true);
	s = StatsCreate(spec->nslots, spec->nnumeric, SampleCapacity(spec->nslots));
	MemoryContextSwitchTo(old);
	StatsAttachSpec(s, specbytes, mcxt);
	return s;
}

/* Refuse a NULL feature when the spec says impute = error */
void
StepNullFeatureError(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("a feature is NULL and the option impute is \"error\""),
			 errhint("Use \"impute\": \"mean\" to impute NULLs, or \"skip\" to drop such rows.")));
}

/*
 * Count the reader's current row as one the model cannot use (a NaN or
 * infinite value, under on_bad_row "skip"), with its key for the example,
 * in the aggregate context
 */
static void
StatsBadRow(LinearStats *s)
{
	FeatureReader *r = &s->reader;
	MemoryContext old = MemoryContextSwitchTo(r->mcxt);

	BadRowsAdd(&s->bad, BAD_NOT_FINITE, FeatureKeyText(r, s->spec),
			   psprintf("%s is NaN or infinite", quote_identifier(FeatureBadColumnName(s->spec, r->bad_col))));
	r->bad_col = FEATURE_ROW_OK;
	MemoryContextSwitchTo(old);
}

/*
 * Add the reader's current row to the state: read the target (a NULL
 * target skips the row), encode the features straight into the batch of
 * the row's split (known first when a key decides it), and offer the row
 * to the split's sample, where a missing numeric value is NaN until the
 * imputed mean is known.
 */
static void
StatsAccumulate(LinearStats *s, StatsTap *tap)
{
	const FeatureSpec *spec = s->spec;
	FeatureReader *r = &s->reader;
	double		y;
	double	   *row;
	uint64		h = 0;
	int			split = SPLIT_TRAIN;
	int			nmissing = 0;

	StatsProgress(s);
	if (!FeatureReadTarget(r, spec, &y))
	{
		s->skipped_target++;
		s->bad.count[BAD_NULL_TARGET]++;
		return;
	}
	if (r->key_pos >= 0)
	{
		h = FeatureRowHash(r, spec, NULL, 0);
		split = FeatureSplitOf(spec, h, s->test_threshold);
		if (split == SPLIT_NONE)
			return;				/* a cross-validation fold: a row of the test split */
	}
	/*
	 * keyless: into the training batch, moved if its values hash it to the
	 * test split; a grouped pass's row into its own batch (tap), the global
	 * co-moments being the sum of its groups'
	 */
	row = tap ? tap->row : MomentsNextRow(&s->mom[split]);
	if (FeatureEncodeRow(r, spec, row, s->missing, &nmissing))
	{
		if (spec->impute == IMPUTE_ERROR)
			StepNullFeatureError();
		if (spec->impute == IMPUTE_SKIP && r->bad_col == FEATURE_ROW_OK)
		{
			s->skipped_feature++;
			s->bad.count[BAD_NULL_FEATURE]++;
			return;				/* the batch row is simply reused */
		}
	}
	if (unlikely(r->bad_col != FEATURE_ROW_OK))
	{
		StatsBadRow(s);
		return;					/* the batch row is reused */
	}
	row[s->nslots] = y;
	if (r->key_pos < 0)
	{
		h = spec->split_hash == SPLIT_HASH_MIX ? FeatureValuesHash(spec, row, y) :
			FeatureRowHash(r, spec, row, s->nslots + 1);
		split = FeatureSplitOf(spec, h, s->test_threshold);
		if (split == SPLIT_NONE)
			return;
		if (split == SPLIT_TEST)
		{
			if (tap == NULL)
			{
				memcpy(MomentsNextRow(&s->mom[split]), row, sizeof(double) * (s->nslots + 1));
				row = MomentsNextRow(&s->mom[split]);
			}
		}
	}
	if (nmissing > 0 || tap != NULL)
	{
		memset(row + s->nslots + 1, 0, sizeof(double) * s->nmiss);
		for (int k = 0; k < nmissing; k++)
			row[s->nslots + 1 + s->missing[k]] = 1.0;
	}

	h = MixPriority(h);
	if (RowSampleWants(&s->sample[split], h))
	{
		memcpy(s->srow, row, sizeof(double) * (s->nslots + 1));
		for (int k = 0; k < nmissing; k++)
			s->srow[s->miss_slot[s->missing[k]]] = get_float8_nan();
		RowSampleOffer(&s->sample[split], h, s->srow);
	}
	if (tap != NULL)
	{
		/* the row is the grouped pass's to fold, with its indicators */
		tap->taken = true;
		tap->split = split;
		tap->prio = h;
		tap->missing = nmissing > 0;
		return;
	}
	MomentsRowDone(&s->mom[split], nmissing > 0);
}

/*
 * Add the reader's current row to a state as StatsAccumulate does, for
 * the grouped pass: the row encoded into tap->row (slots, target, missing
 * indicators) and left to the caller's co-moments, the state's own taking
 * only its sample and counts.
 */
void
LinearStatsAccumulate(LinearStats *s, StatsTap *tap)
{
	StatsAccumulate(s, tap);
}

/* The transition state, created from the spec argument on the first row */
static LinearStats *
StatsForCall(FunctionCallInfo fcinfo, int spec_arg, MemoryContext *aggcxt)
{
	/* a state exists only inside an aggregate: check the context once, at creation */
	if (!PG_ARGISNULL(0))
		return (LinearStats *) PG_GETARG_POINTER(0);
	if (!AggCheckCallContext(fcinfo, aggcxt))
		elog(ERROR, "linear_stats transition called in non-aggregate context");
	if (PG_ARGISNULL(spec_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("linear_stats needs a feature spec"),
				 errhint("Pass profenrich.model_spec(name) or the spec train() builds.")));
	return StatsCreateForSpec(PG_GETARG_BYTEA_PP(spec_arg), *aggcxt);
}

/*
 * linear_stats_trans(state internal, row record, spec bytea): rows as
 * composite values, read by column name.
 */
Datum
linear_stats_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LinearStats *s;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	s = StatsForCall(fcinfo, 2, &aggcxt);
	FeatureReaderLoadComposite(&s->reader, s->spec, PG_GETARG_HEAPTUPLEHEADER(1), true, true);
	StatsAccumulate(s, NULL);
	PG_RETURN_POINTER(s);
}

/*
 * linear_stats_args_trans(state internal, spec bytea, names text[],
 * VARIADIC "any"): the row as one argument per named column, which spares
 * the executor building a composite value per row.
 */
Datum
linear_stats_args_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LinearStats *s = StatsForCall(fcinfo, 1, &aggcxt);

	if (unlikely(!s->reader.bound))
		FeatureReaderBindArgs(&s->reader, s->spec, fcinfo, 2, true, true);
	FeatureReaderLoadArgs(&s->reader, fcinfo, 2);
	StatsAccumulate(s, NULL);
	PG_RETURN_POINTER(s);
}

/* Fold b into a (stats only); b is not modified */
void
StatsMerge(LinearStats *a, const LinearStats *b)
{
	if (a->nslots != b->nslots || a->nmiss != b->nmiss || a->sample_cap != b->sample_cap)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine linear_stats states of different shapes"),
				 errhint("Combine states built with the same feature spec.")));
	for (int k = 0; k < 2; k++)
	{
		MomentsMerge(&a->mom[k], &b->mom[k]);
		RowSampleMerge(&a->sample[k], &b->sample[k]);
	}
	a->skipped_target += b->skipped_target;
	a->skipped_feature += b->skipped_feature;
	BadRowsMerge(&a->bad, &b->bad);
}

/*
 * linear_stats_combine(internal, internal): either side may be NULL; the
 * result lives in the aggregate context and the second state is untouched.
 */
Datum
linear_stats_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	LinearStats *a,
			   *b;
	Datum		result;

	if (AggCombineDone(fcinfo, "linear_stats_combine", &aggcxt, &result))
		return result;
	a = PG_ARGISNULL(0) ? NULL : (LinearStats *) PG_GETARG_POINTER(0);
	b = (LinearStats *) PG_GETARG_POINTER(1);
	old = MemoryContextSwitchTo(aggcxt);
	if (a == NULL)
		a = StatsCreate(b->nslots, b->nmiss, b->sample_cap);
	StatsCheck(b);
	StatsMerge(a, b);
	StatsCheck(a);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* Payload bytes of a state's flat form, its samples trimmed to their capacity */
Size
StatsFlatSize(void *p)
{
	LinearStats *s = (LinearStats *) p;

	RowSampleTrim(&s->sample[0]);
	RowSampleTrim(&s->sample[1]);
	return StatsFixedBytes(s->nslots, s->nmiss) + BadTextBytes(&s->bad) +
		(Size) (s->sample[0].count + s->sample[1].count) * (8 + 8 * (s->nslots + 1));
}

/* The flat form: header, then per split the co-moments and sample */
void
StatsFlatten(void *p, char *out, Size size)
{
	LinearStats *s = (LinearStats *) p;
	PartialWriter w = {out, out + size};

	PartialPut32(&w, LINEAR_STATS_FORMAT);
	PartialPut32(&w, (uint32) s->nslots);
	PartialPut32(&w, (uint32) s->nmiss);
	PartialPut32(&w, (uint32) s->sample_cap);
	PartialPut64(&w, (uint64) s->skipped_target);
	PartialPut64(&w, (uint64) s->skipped_feature);
	{
		/* the bad rows in BadRowsWrite's bytes */
		StringInfoData bad;

		initStringInfo(&bad);
		BadRowsWrite(&bad, &s->bad);
		PartialPutBytes(&w, bad.data, bad.len);
		pfree(bad.data);
	}
	for (int k = 0; k < 2; k++)
	{
		MomentsWrite(&w, &s->mom[k]);
		RowSampleWrite(&w, &s->sample[k]);
	}
	if (w.at != w.end)
		elog(ERROR, "linear_stats state of %zu bytes written as %zu", size, (Size) (w.at - out));
}

/* The state as a bytea (one allocation of the exact size: it can be tens of megabytes) */
static bytea *
StatsToBytes(LinearStats *s)
{
	Size		size = StatsFlatSize(s);
	bytea	   *b = palloc(VARHDRSZ + size);

	SET_VARSIZE(b, VARHDRSZ + size);
	StatsFlatten(s, VARDATA(b), size);
	return b;
}

/* Reject bytes that cannot be a state of this format */
static void
StatsBytesError(const char *why)
{
	PartialInvalid(&LinearStatsKind, why);
}

/*
 * Rebuild a state from its flat form, checking the format version, the
 * shape, the counts, and that the length is exactly what the shape and
 * sample counts imply.
 */
void *
StatsExpand(const char *data, Size size)
{
	StringInfoData buf;
	int			nslots,
				nmiss,
				cap;
	LinearStats *s;
	Size		minlen = 4 * 4 + 2 * 8 + BAD_FIXED_BYTES;	/* format, shape, skipped rows */
	Size		fixed;

	buf.data = (char *) data;
	buf.len = size;
	buf.maxlen = size;
	buf.cursor = 0;
	if (size < minlen)
		StatsBytesError("too short");
	if (pq_getmsgint(&buf, 4) != LINEAR_STATS_FORMAT)
		StatsBytesError("unknown format version");
	nslots = pq_getmsgint(&buf, 4);
	nmiss = pq_getmsgint(&buf, 4);
	cap = pq_getmsgint(&buf, 4);
	if (nslots < 1 || nslots > FEATURE_MAX_SLOTS || nmiss < 0 || nmiss > nslots ||
		cap != SampleCapacity(nslots))
		StatsBytesError("bad shape");
	fixed = StatsFixedBytes(nslots, nmiss);
	if (size < fixed || size > fixed + 2 * BAD_EXAMPLE_MAX + 2 * (Size) cap * (8 + 8 * (Size) (nslots + 1)))
		StatsBytesError("length does not match the shape");
	StatsCheckSize(nslots, nmiss, cap);
	s = palloc0(sizeof(LinearStats));
	s->nslots = nslots;
	s->nmiss = nmiss;
	s->sample_cap = cap;
	s->skipped_target = pq_getmsgint64(&buf);
	s->skipped_feature = pq_getmsgint64(&buf);
	if (s->skipped_target < 0 || s->skipped_feature < 0 || !BadRowsRead(&buf, &s->bad))
		StatsBytesError("bad skipped-row counts");
	for (int k = 0; k < 2; k++)
	{
		Size		d = (Size) nslots + 1 + nmiss;
		uint32		count;

		/* every length is checked before the read that relies on it */
		if ((Size) (buf.len - buf.cursor) < 8 * (1 + d + d * (d + 1) / 2) + 4)
			StatsBytesError("length does not match the shape");
		MomentsRead(&buf, &s->mom[k], nslots + 1, nslots + 1 + nmiss, false);
		memcpy(&count, buf.data + buf.cursor, 4);
		count = pg_ntoh32(count);
		if (count > (uint32) cap ||
			(Size) (buf.len - buf.cursor) < 4 + (Size) count * (8 + 8 * (Size) (nslots + 1)))
			StatsBytesError("length does not match the sample counts");
		RowSampleRead(&buf, &s->sample[k], cap, nslots + 1);
	}
	if (buf.cursor != buf.len)
		StatsBytesError("trailing bytes");
	StatsCheck(s);
	return s;
}

/* A state from the bytes linear_stats returned (train() reads its result so) */
LinearStats *
LinearStatsFromBytes(bytea *b)
{
	return (LinearStats *) StatsExpand(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
}

/* The second state's sums added to the first, both checked */
static void
StatsMergeChecked(void *into, void *from)
{
	StatsCheck((const LinearStats *) from);
	StatsMerge((LinearStats *) into, (const LinearStats *) from);
	StatsCheck((const LinearStats *) into);
}

static const PartialKind LinearStatsKind = {
	"linear_stats", StatsFlatSize, StatsFlatten, StatsExpand, StatsMergeChecked
};

/* The name of the column a slot of the state's rows belongs to (the target for nslots) */
static const char *
SlotColumnName(const FeatureSpec *spec, int slot)
{
	if (slot == spec->nslots)
		return spec->target ? spec->target : "(target)";
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		if (slot < spec->nslots ? (slot >= c->first_slot && slot < c->first_slot + c->nslots) :
			c->miss_index == slot - spec->nslots - 1)
			return c->name;
	}
	return "?";
}

/*
 * Refuse statistics whose sums overflowed float8: a feature or target of
 * finite but huge values (1e300 squared) would otherwise train a model
 * with infinite or NaN figures that reports a perfect fit.
 */
void
LinearStatsCheckFinite(const LinearStats *st, const FeatureSpec *spec)
{
	for (int k = 0; k < 2; k++)
	{
		int			bad = MomentsNonFinite(&st->mom[k]);

		if (bad < 0)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the training sums of column \"%s\" overflow double precision",
						SlotColumnName(spec, bad)),
				 errdetail("Training sums the squares and cross-products of the features and the target; they must stay below 1.8e308."),
				 errhint("Rescale the column (divide it by a power of ten, or take its logarithm) or cap its outliers.")));
	}
}

/* linear_stats_serialize(internal) returns bytea */
Datum
linear_stats_serialize(PG_FUNCTION_ARGS)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "linear_stats_serialize called in non-aggregate context");
	PG_RETURN_BYTEA_P(StatsToBytes((LinearStats *) PG_GETARG_POINTER(0)));
}

/* linear_stats_deserialize(bytea, internal) returns internal */
Datum
linear_stats_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MemoryContext old;
	LinearStats *s;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "linear_stats_deserialize called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	s = LinearStatsFromBytes(PG_GETARG_BYTEA_PP(0));
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

/* linear_stats_final(internal) returns the state as bytea, NULL for no rows */
Datum
linear_stats_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(StatsToBytes((LinearStats *) PG_GETARG_POINTER(0)));
}

/*
 * The bytea-state protocol (0.5.0): the state of the call, from its first
 * argument or created from the spec argument; a state rebuilt from bytes
 * is given the spec.  spec_arg < 0: a combine call, no spec.
 */
static PartialState *
StatsState(FunctionCallInfo fcinfo, int spec_arg)
{
	PartialState *ps = PartialArg(fcinfo, 0, &LinearStatsKind, true);

	if (ps != NULL && ((LinearStats *) ps->state)->spec != NULL)
		return ps;
	if (PG_ARGISNULL(spec_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("linear_stats needs a feature spec"),
				 errhint("Pass profenrich.model_spec(name) or the spec train() builds.")));
	if (ps == NULL)
	{
		ps = PartialNew(fcinfo, &LinearStatsKind);
		ps->state = StatsCreateForSpec(PG_GETARG_BYTEA_PP(spec_arg), ps->cxt);
	}
	else
		StatsAttachSpec((LinearStats *) ps->state, PG_GETARG_BYTEA_PP(spec_arg), ps->cxt);
	return ps;
}

/* linear_stats_sfunc(state bytea, row record, spec bytea): rows as composite values */
Datum
linear_stats_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps;
	LinearStats *s;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		return PartialResult(fcinfo, PartialArg(fcinfo, 0, &LinearStatsKind, true));
	}
	ps = StatsState(fcinfo, 2);
	s = (LinearStats *) ps->state;
	FeatureReaderLoadComposite(&s->reader, s->spec, PG_GETARG_HEAPTUPLEHEADER(1), true, true);
	StatsAccumulate(s, NULL);
	return PartialResult(fcinfo, ps);
}

/*
 * linear_stats_args_sfunc(state bytea, spec bytea, names text[], VARIADIC
 * "any"): the row as one argument per named column.
 */
Datum
linear_stats_args_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = StatsState(fcinfo, 1);
	LinearStats *s = (LinearStats *) ps->state;

	if (unlikely(!s->reader.bound))
		FeatureReaderBindArgs(&s->reader, s->spec, fcinfo, 2, true, true);
	FeatureReaderLoadArgs(&s->reader, fcinfo, 2);
	StatsAccumulate(s, NULL);
	return PartialResult(fcinfo, ps);
}

/*
 * linear_stats_row_sfunc(state bytea, spec bytea, names text[], row
 * record): the row as ROW(col1, ...), its columns named by names; the form
 * whose argument types are fixed, which Citus pushes down.
 */
Datum
linear_stats_row_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps;
	LinearStats *s;

	if (PG_ARGISNULL(3))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		return PartialResult(fcinfo, PartialArg(fcinfo, 0, &LinearStatsKind, true));
	}
	ps = StatsState(fcinfo, 1);
	s = (LinearStats *) ps->state;
	FeatureReaderLoadRecord(&s->reader, s->spec, fcinfo, 2, PG_GETARG_HEAPTUPLEHEADER(3), true, true);
	StatsAccumulate(s, NULL);
	return PartialResult(fcinfo, ps);
}

/*
 * linear_stats_combinefunc(bytea, bytea): either side may be NULL; the
 * first state is updated in place inside an aggregate, the second never.
 */
Datum
linear_stats_combinefunc(PG_FUNCTION_ARGS)
{
	return PartialCombine(fcinfo, &LinearStatsKind);
}

/* linear_stats_finalfunc(bytea) returns the state's bytes, NULL for no rows */
Datum
linear_stats_finalfunc(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	/* an expanded state is flattened into a copy; other bytes are what they are */
	PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P(0));
}

/*
 * logistic_step: one pass of Newton/IRLS for logistic regression at given
 * coefficients, over the training split of the rows: the log-likelihood,
 * gradient and Hessian X'WX of the standardized slots (LogisticSums).
 */
typedef struct LogisticStepState
{
	FeatureSpec *spec;			/* NULL in states built by combine/deserialize */
	FeatureReader reader;
	uint32		test_threshold;
	int			width;
	double		cw[2];
	double	   *mean;
	double	   *sd;
	double	   *theta;
	double	   *batch;			/* LOGISTIC_BATCH x width, standardized [1, slots] */
	double	   *ybuf;
	int			rows;
	double	   *scratch;
	double	   *x;
	int		   *missing;
	LogisticSums sums;
} LogisticStepState;

#define LOGISTIC_BATCH 1024

/* A state holding sums only */
static LogisticStepState *
LogisticStepBare(int width)
{
	LogisticStepState *s = palloc0(sizeof(LogisticStepState));

	s->width = width;
	LogisticSumsInit(&s->sums, width);
	return s;
}

/*
 * Give a state (NULL: a new one) what the transition needs, from the spec
 * and the params array: the slot scales, coefficients, class weights and
 * the row batch, in mcxt.  A state rebuilt from bytes must have the
 * spec's width.
 */
static LogisticStepState *
LogisticStepAttach(LogisticStepState *s, FunctionCallInfo fcinfo, MemoryContext mcxt)
{
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	bytea	   *specbytes = PG_GETARG_BYTEA_PP(1);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);
	StringInfoData buf;
	FeatureSpec *spec;
	double	   *p;
	int			w;

	BYTES_READER(&buf, specbytes);
	spec = FeatureSpecRead(&buf, FEATURE_SPEC_FORMAT, true);
	w = spec->nslots + 1;
	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != FLOAT8OID ||
		ARR_DIMS(arr)[0] != 2 + 3 * w)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logistic_step needs %d parameters for a spec of %d slots", 2 + 3 * w, w - 1),
				 errhint("Pass {weight of class 0, weight of class 1, slot means, slot sds, coefficients}.")));
	if (s != NULL && s->width != w)
		PartialInvalid(&LogisticStepKind, "its width does not match the feature spec");
	TrainMemoryCheck(add_size(LogisticSumsBytes(w),
							  add_size(mul_size(sizeof(double), mul_size(LOGISTIC_BATCH + 5, w)),
									   LogisticScratchSize(w, LOGISTIC_BATCH))),
					 w - 1, "the logistic_step state");
	p = (double *) ARR_DATA_PTR(arr);
	if (s == NULL)
		s = LogisticStepBare(w);
	s->spec = spec;
	FeatureReaderInit(&s->reader, mcxt);
	s->reader.soft_bad = spec->on_bad_row == BAD_ROW_SKIP;
	s->test_threshold = FeatureTestThreshold(spec);
	s->cw[0] = p[0];
	s->cw[1] = p[1];
	s->mean = palloc(sizeof(double) * w);
	s->sd = palloc(sizeof(double) * w);
	s->theta = palloc(sizeof(double) * w);
	memcpy(s->mean, p + 2, sizeof(double) * w);
	memcpy(s->sd, p + 2 + w, sizeof(double) * w);
	memcpy(s->theta, p + 2 + 2 * w, sizeof(double) * w);
	s->batch = MemoryContextAllocHuge(mcxt, mul_size(sizeof(double), mul_size(LOGISTIC_BATCH, w)));
	s->ybuf = palloc(sizeof(double) * LOGISTIC_BATCH);
	s->scratch = MemoryContextAllocHuge(mcxt, LogisticScratchSize(w, LOGISTIC_BATCH));
	s->x = palloc(sizeof(double) * w);
	s->missing = palloc(sizeof(int) * Max(spec->nnumeric, 1));
	s->rows = 0;
	MemoryContextSwitchTo(old);
	return s;
}

/* The transition state from the spec and the params array on the first row */
static LogisticStepState *
LogisticStepCreate(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	return LogisticStepAttach(NULL, fcinfo, aggcxt);
}

/* Fold the waiting rows into the sums */
static void
LogisticStepFlush(LogisticStepState *s)
{
	if (s->rows == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	LogisticAccumulate(&s->sums, s->theta, s->batch, s->ybuf, s->rows, s->cw, s->scratch, NULL);
	s->rows = 0;
}

/*
 * The reader's current row as a standardized training row of a step
 * aggregate: false when it is not one (a NULL target, a NULL feature under
 * impute = skip, a row of the test split).  Otherwise row receives [1,
 * slots], NULL numbers imputed and every slot standardized with mean and
 * sd, and *label the target; x and missing are scratch (nslots + 1 and
 * nnumeric values).
 */
bool
StepTrainingRow(FeatureReader *r, const FeatureSpec *spec, uint32 test_threshold,
				const double *mean, const double *sd, double *x, int *missing, double *row,
				double *label)
{
	int			nmissing;

	if (!FeatureReadTarget(r, spec, label))
		return false;
	if (FeatureEncodeRow(r, spec, x + 1, missing, &nmissing))
	{
		if (spec->impute == IMPUTE_ERROR)
			StepNullFeatureError();
		if (spec->impute == IMPUTE_SKIP)
		{
			r->bad_col = FEATURE_ROW_OK;
			return false;
		}
	}
	/* a row linear_stats counted as bad: skipped here too, uncounted */
	if (unlikely(r->bad_col != FEATURE_ROW_OK))
	{
		r->bad_col = FEATURE_ROW_OK;
		return false;
	}
	if (FeatureSplitOf(spec, r->key_pos < 0 && spec->split_hash == SPLIT_HASH_MIX ?
					   FeatureValuesHash(spec, x + 1, *label) :
					   FeatureRowHash(r, spec, x + 1, spec->nslots),
					   test_threshold) != SPLIT_TRAIN)
		return false;
	row[0] = 1.0;
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		for (int k = 0; k < c->nslots; k++)
		{
			int			j = 1 + c->first_slot + k;
			double		v = x[j];

			if (c->kind != FEATURE_CATEGORICAL && nmissing > 0)
				for (int m = 0; m < nmissing; m++)
					if (missing[m] == c->miss_index)
						v = c->impute;
			row[j] = sd[j] > 0 ? (v - mean[j]) / sd[j] : 0.0;
		}
	}
	return true;
}

/* Refuse a logistic_step call without its spec and parameters */
static void
LogisticStepArgs(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("logistic_step needs a feature spec and parameters"),
				 errhint("train() passes them; they must not be NULL.")));
}

/*
 * Add the call's row to the state: a training row, NULLs imputed,
 * standardized, batched; rows of the test split and rows without a label
 * are passed over.
 */
static void
LogisticStepAdd(LogisticStepState *s, FunctionCallInfo fcinfo, bool record)
{
	const FeatureSpec *spec = s->spec;
	double		label;

	if (record)
	{
		if (PG_ARGISNULL(4))
			return;
		FeatureReaderLoadRecord(&s->reader, spec, fcinfo, 3, PG_GETARG_HEAPTUPLEHEADER(4),
								true, true);
	}
	else
	{
		if (unlikely(!s->reader.bound))
			FeatureReaderBindArgs(&s->reader, spec, fcinfo, 3, true, true);
		FeatureReaderLoadArgs(&s->reader, fcinfo, 3);
	}
	if (!StepTrainingRow(&s->reader, spec, s->test_threshold, s->mean, s->sd, s->x,
						 s->missing, &s->batch[(size_t) s->rows * s->width], &label))
		return;
	s->ybuf[s->rows++] = label;
	if (s->rows == LOGISTIC_BATCH)
		LogisticStepFlush(s);
}

/* Fold b into a (in the current context): its sums and the rows still in its batch; b is not modified */
static void
LogisticStepMerge(LogisticStepState *a, const LogisticStepState *b)
{
	if (a->width != b->width)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine logistic_step states of widths %d and %d", a->width, b->width),
				 errhint("Combine states built with the same feature spec.")));
	LogisticSumsMerge(&a->sums, &b->sums);
	if (b->rows > 0)
	{
		double	   *scratch = palloc(LogisticScratchSize(b->width, b->rows));

		LogisticAccumulate(&a->sums, b->theta, b->batch, b->ybuf, b->rows, b->cw, scratch, NULL);
		pfree(scratch);
	}
}

/*
 * logistic_step_trans(internal, spec bytea, params float8[], names text[],
 * VARIADIC "any"): the 0.4.0 declaration's transition.
 */
Datum
logistic_step_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LogisticStepState *s;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "logistic_step_trans called in non-aggregate context");
	LogisticStepArgs(fcinfo);
	s = PG_ARGISNULL(0) ? LogisticStepCreate(fcinfo, aggcxt) :
		(LogisticStepState *) PG_GETARG_POINTER(0);
	LogisticStepAdd(s, fcinfo, false);
	PG_RETURN_POINTER(s);
}

/* logistic_step_combine(internal, internal): b is not modified */
Datum
logistic_step_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	LogisticStepState *a,
			   *b;
	Datum		result;

	if (AggCombineDone(fcinfo, "logistic_step_combine", &aggcxt, &result))
		return result;
	a = PG_ARGISNULL(0) ? NULL : (LogisticStepState *) PG_GETARG_POINTER(0);
	b = (LogisticStepState *) PG_GETARG_POINTER(1);
	old = MemoryContextSwitchTo(aggcxt);
	if (a == NULL)
		a = LogisticStepBare(b->width);
	LogisticStepMerge(a, b);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* logistic_step_serialize(internal) returns bytea */
Datum
logistic_step_serialize(PG_FUNCTION_ARGS)
{
	LogisticStepState *s = (LogisticStepState *) PG_GETARG_POINTER(0);

	LogisticStepFlush(s);
	PG_RETURN_BYTEA_P(LogisticSumsToBytes(&s->sums));
}

/* logistic_step_deserialize(bytea, internal) returns internal */
Datum
logistic_step_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	LogisticStepState *s;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "logistic_step_deserialize called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	s = palloc0(sizeof(LogisticStepState));
	LogisticSumsFromBytes(PG_GETARG_BYTEA_PP(0), &s->sums);
	s->width = s->sums.width;
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

/* logistic_step_final(internal) returns the sums as bytea */
Datum
logistic_step_final(PG_FUNCTION_ARGS)
{
	LogisticStepState *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (LogisticStepState *) PG_GETARG_POINTER(0);
	LogisticStepFlush(s);
	PG_RETURN_BYTEA_P(LogisticSumsToBytes(&s->sums));
}

/* Payload bytes of the flat form: the sums, the batch folded in first */
static Size
LogisticStepFlatSize(void *p)
{
	LogisticStepState *s = (LogisticStepState *) p;

	LogisticStepFlush(s);
	return LogisticSumsFlatSize(s->width);
}

static void
LogisticStepFlatten(void *p, char *out, Size size)
{
	PartialWriter w = {out, out + size};

	LogisticSumsWrite(&w, &((LogisticStepState *) p)->sums);
}

/* A state holding the sums of the bytes, which LogisticSumsRead checks */
static void *
LogisticStepExpand(const char *data, Size size)
{
	LogisticStepState *s = palloc0(sizeof(LogisticStepState));

	LogisticSumsRead(data, size, &s->sums);
	s->width = s->sums.width;
	return s;
}

/* PartialKind's merge */
static void
LogisticStepMergeState(void *into, void *from)
{
	LogisticStepMerge((LogisticStepState *) into, (const LogisticStepState *) from);
}

static const PartialKind LogisticStepKind = {
	"logistic_step", LogisticStepFlatSize, LogisticStepFlatten, LogisticStepExpand,
	LogisticStepMergeState
};

/* The 0.5.0 transition's state, created or given the spec and parameters */
static PartialState *
LogisticStepState0(FunctionCallInfo fcinfo)
{
	PartialState *ps;

	LogisticStepArgs(fcinfo);
	ps = PartialArg(fcinfo, 0, &LogisticStepKind, true);
	if (ps == NULL)
	{
		ps = PartialNew(fcinfo, &LogisticStepKind);
		ps->state = LogisticStepAttach(NULL, fcinfo, ps->cxt);
	}
	else if (((LogisticStepState *) ps->state)->spec == NULL)
		LogisticStepAttach((LogisticStepState *) ps->state, fcinfo, ps->cxt);
	return ps;
}

/*
 * logistic_step_sfunc(state bytea, spec bytea, params float8[], names
 * text[], VARIADIC "any"): the 0.5.0 transition; a state rebuilt from
 * bytes is given the spec and parameters.
 */
Datum
logistic_step_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = LogisticStepState0(fcinfo);

	LogisticStepAdd((LogisticStepState *) ps->state, fcinfo, false);
	return PartialResult(fcinfo, ps);
}

/*
 * logistic_step_row_sfunc(state bytea, spec bytea, params float8[], names
 * text[], row record): the row as ROW(col1, ...), the form whose argument
 * types are fixed, which Citus pushes down.
 */
Datum
logistic_step_row_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = LogisticStepState0(fcinfo);

	LogisticStepAdd((LogisticStepState *) ps->state, fcinfo, true);
	return PartialResult(fcinfo, ps);
}

/* logistic_step_combinefunc(bytea, bytea): the second state is never modified */
Datum
logistic_step_combinefunc(PG_FUNCTION_ARGS)
{
	return PartialCombine(fcinfo, &LogisticStepKind);
}

/* logistic_step_finalfunc(bytea) returns the sums' bytes */
Datum
logistic_step_finalfunc(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P(0));
}
