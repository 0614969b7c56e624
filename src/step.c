/*-------------------------------------------------------------------------
 * step.c
 *	  SQL interface of the training aggregates: transition, combine,
 *	  serialize, deserialize and final functions.
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
#include "step.h"
#include "profenrich.h"

#define LINEAR_STATS_FORMAT 1
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
static int
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

/* Bytes of a state's serialized form (StatsToBytes), without the samples' rows */
static Size
StatsFixedBytes(int nslots, int nmiss)
{
	Size		d = (Size) nslots + 1 + nmiss;
	Size		split = add_size(8 + 4, mul_size(8, add_size(d, d * (d + 1) / 2)));

	return add_size(4 * 4 + 2 * 8, mul_size(2, split));
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
	for (int k = 0; k < 2; k++)
	{
		MomentsInit(&s->mom[k], nslots + 1, nslots + 1 + nmiss);
		RowSampleInit(&s->sample[k], sample_cap, nslots + 1);
	}
	return s;
}

/* The transition state for a spec, parsed once per aggregate call */
static LinearStats *
StatsCreateForSpec(bytea *specbytes, MemoryContext aggcxt)
{
	MemoryContext old = MemoryContextSwitchTo(aggcxt);
	StringInfoData buf;
	FeatureSpec *spec;
	LinearStats *s;

	BYTES_READER(&buf, specbytes);
	spec = FeatureSpecRead(&buf, FEATURE_SPEC_FORMAT, true);
	s = StatsCreate(spec->nslots, spec->nnumeric, SampleCapacity(spec->nslots));
	s->spec = spec;
	FeatureReaderInit(&s->reader, aggcxt);
	s->test_threshold = FeatureTestThreshold(spec);
	s->last_notice = GetCurrentTimestamp();
	s->missing = palloc0(sizeof(int) * Max(spec->nnumeric, 1));
	s->srow = palloc(sizeof(double) * (spec->nslots + 1));
	s->miss_slot = palloc(sizeof(int) * Max(spec->nnumeric, 1));
	for (int i = 0; i < spec->ncolumns; i++)
		if (spec->columns[i].miss_index >= 0)
			s->miss_slot[spec->columns[i].miss_index] = spec->columns[i].first_slot;
	MemoryContextSwitchTo(old);
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
 * Add the reader's current row to the state: read the target (a NULL
 * target skips the row), encode the features straight into the batch of
 * the row's split (known first when a key decides it), and offer the row
 * to the split's sample, where a missing numeric value is NaN until the
 * imputed mean is known.
 */
static void
StatsAccumulate(LinearStats *s)
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
		return;
	}
	if (r->key_pos >= 0)
	{
		h = FeatureRowHash(r, spec, NULL, 0);
		split = ((uint32) h < s->test_threshold) ? SPLIT_TEST : SPLIT_TRAIN;
	}
	/* keyless: into the training batch, moved if its values hash it to the test split */
	row = MomentsNextRow(&s->mom[split]);
	if (FeatureEncodeRow(r, spec, row, s->missing, &nmissing))
	{
		if (spec->impute == IMPUTE_ERROR)
			StepNullFeatureError();
		if (spec->impute == IMPUTE_SKIP)
		{
			s->skipped_feature++;
			return;				/* the batch row is simply reused */
		}
	}
	row[s->nslots] = y;
	if (r->key_pos < 0)
	{
		h = spec->split_hash == SPLIT_HASH_MIX ? FeatureValuesHash(spec, row, y) :
			FeatureRowHash(r, spec, row, s->nslots + 1);
		if ((uint32) h < s->test_threshold)
		{
			split = SPLIT_TEST;
			memcpy(MomentsNextRow(&s->mom[split]), row, sizeof(double) * (s->nslots + 1));
			row = MomentsNextRow(&s->mom[split]);
		}
	}
	if (nmissing > 0)
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
	MomentsRowDone(&s->mom[split], nmissing > 0);
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
	StatsAccumulate(s);
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
	StatsAccumulate(s);
	PG_RETURN_POINTER(s);
}

/* Fold b into a (stats only); b is not modified */
static void
StatsMerge(LinearStats *a, const LinearStats *b)
{
	if (a->nslots != b->nslots || a->nmiss != b->nmiss || a->sample_cap != b->sample_cap)
		elog(ERROR, "cannot combine linear_stats states of different shapes");
	for (int k = 0; k < 2; k++)
	{
		MomentsMerge(&a->mom[k], &b->mom[k]);
		RowSampleMerge(&a->sample[k], &b->sample[k]);
	}
	a->skipped_target += b->skipped_target;
	a->skipped_feature += b->skipped_feature;
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

/* The state as bytes: header, then per split the co-moments and sample */
static bytea *
StatsToBytes(LinearStats *s)
{
	StringInfoData buf;
	Size		size;

	RowSampleTrim(&s->sample[0]);
	RowSampleTrim(&s->sample[1]);
	size = VARHDRSZ + StatsFixedBytes(s->nslots, s->nmiss) +
		(Size) (s->sample[0].count + s->sample[1].count) * (8 + 8 * (s->nslots + 1));

	/* one allocation of the exact size: the state can be tens of megabytes */
	buf.data = palloc(size + 1);
	buf.maxlen = size + 1;
	buf.len = 0;
	buf.cursor = 0;
	pq_sendint32(&buf, 0);		/* room for the varlena header */
	pq_sendint32(&buf, LINEAR_STATS_FORMAT);
	pq_sendint32(&buf, s->nslots);
	pq_sendint32(&buf, s->nmiss);
	pq_sendint32(&buf, s->sample_cap);
	pq_sendint64(&buf, s->skipped_target);
	pq_sendint64(&buf, s->skipped_feature);
	for (int k = 0; k < 2; k++)
	{
		MomentsWrite(&buf, &s->mom[k]);
		RowSampleWrite(&buf, &s->sample[k]);
	}
	Assert((Size) buf.len == size);
	SET_VARSIZE(buf.data, buf.len);
	return (bytea *) buf.data;
}

/* Reject bytes that cannot be a state of this format */
static void
StatsBytesError(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("invalid linear_stats state: %s", why),
			 errhint("The state must come from profenrich.linear_stats of the same version.")));
}

/*
 * Rebuild a state from bytes, checking the format version, the shape, and
 * that the length is exactly what the shape and sample counts imply.
 */
LinearStats *
LinearStatsFromBytes(bytea *b)
{
	StringInfoData buf;
	int			nslots,
				nmiss,
				cap;
	LinearStats *s;
	Size		minlen = 4 * 4 + 2 * 8;	/* format, shape, skipped counts */

	BYTES_READER(&buf, b);
	if ((Size) buf.len < minlen)
		StatsBytesError("too short");
	if (pq_getmsgint(&buf, 4) != LINEAR_STATS_FORMAT)
		StatsBytesError("unknown format version");
	nslots = pq_getmsgint(&buf, 4);
	nmiss = pq_getmsgint(&buf, 4);
	cap = pq_getmsgint(&buf, 4);
	if (nslots < 1 || nslots > 100000 || nmiss < 0 || nmiss > nslots ||
		cap != SampleCapacity(nslots))
		StatsBytesError("bad shape");
	{
		Size		fixed = StatsFixedBytes(nslots, nmiss);

		if ((Size) buf.len < fixed ||
			(Size) buf.len > fixed + 2 * (Size) cap * (8 + 8 * (Size) (nslots + 1)))
			StatsBytesError("length does not match the shape");
	}
	StatsCheckSize(nslots, nmiss, cap);
	s = palloc0(sizeof(LinearStats));
	s->nslots = nslots;
	s->nmiss = nmiss;
	s->sample_cap = cap;
	s->skipped_target = pq_getmsgint64(&buf);
	s->skipped_feature = pq_getmsgint64(&buf);
	for (int k = 0; k < 2; k++)
	{
		MomentsRead(&buf, &s->mom[k], nslots + 1, nslots + 1 + nmiss);
		RowSampleRead(&buf, &s->sample[k], cap, nslots + 1);
	}
	if (buf.cursor != buf.len)
		StatsBytesError("trailing bytes");
	StatsCheck(s);
	return s;
}

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

/* The transition state from the spec and the params array on the first row */
static LogisticStepState *
LogisticStepCreate(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	MemoryContext old = MemoryContextSwitchTo(aggcxt);
	bytea	   *specbytes = PG_GETARG_BYTEA_PP(1);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);
	StringInfoData buf;
	FeatureSpec *spec;
	LogisticStepState *s;
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
	TrainMemoryCheck(add_size(LogisticSumsBytes(w),
							  add_size(mul_size(sizeof(double), mul_size(LOGISTIC_BATCH + 5, w)),
									   LogisticScratchSize(w, LOGISTIC_BATCH))),
					 w - 1, "the logistic_step state");
	p = (double *) ARR_DATA_PTR(arr);
	s = LogisticStepBare(w);
	s->spec = spec;
	FeatureReaderInit(&s->reader, aggcxt);
	s->test_threshold = FeatureTestThreshold(spec);
	s->cw[0] = p[0];
	s->cw[1] = p[1];
	s->mean = palloc(sizeof(double) * w);
	s->sd = palloc(sizeof(double) * w);
	s->theta = palloc(sizeof(double) * w);
	memcpy(s->mean, p + 2, sizeof(double) * w);
	memcpy(s->sd, p + 2 + w, sizeof(double) * w);
	memcpy(s->theta, p + 2 + 2 * w, sizeof(double) * w);
	s->batch = MemoryContextAllocHuge(aggcxt, mul_size(sizeof(double), mul_size(LOGISTIC_BATCH, w)));
	s->ybuf = palloc(sizeof(double) * LOGISTIC_BATCH);
	s->scratch = MemoryContextAllocHuge(aggcxt, LogisticScratchSize(w, LOGISTIC_BATCH));
	s->x = palloc(sizeof(double) * w);
	s->missing = palloc(sizeof(int) * Max(spec->nnumeric, 1));
	MemoryContextSwitchTo(old);
	return s;
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
			return false;
	}
	if ((uint32) (r->key_pos < 0 && spec->split_hash == SPLIT_HASH_MIX ?
				  FeatureValuesHash(spec, x + 1, *label) :
				  FeatureRowHash(r, spec, x + 1, spec->nslots)) < test_threshold)
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

/*
 * logistic_step_trans(internal, spec bytea, params float8[], names text[],
 * VARIADIC "any"): a training row, NULLs imputed, standardized, batched.
 */
Datum
logistic_step_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LogisticStepState *s;
	double		label;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "logistic_step_trans called in non-aggregate context");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("logistic_step needs a feature spec and parameters"),
				 errhint("train() passes them; they must not be NULL.")));
	s = PG_ARGISNULL(0) ? LogisticStepCreate(fcinfo, aggcxt) :
		(LogisticStepState *) PG_GETARG_POINTER(0);
	FeatureReaderBindArgs(&s->reader, s->spec, fcinfo, 3, true, true);
	FeatureReaderLoadArgs(&s->reader, fcinfo, 3);
	if (!StepTrainingRow(&s->reader, s->spec, s->test_threshold, s->mean, s->sd, s->x,
						 s->missing, &s->batch[(size_t) s->rows * s->width], &label))
		PG_RETURN_POINTER(s);
	s->ybuf[s->rows++] = label;
	if (s->rows == LOGISTIC_BATCH)
		LogisticStepFlush(s);
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
	if (a->width != b->width)
		elog(ERROR, "cannot combine logistic_step states of widths %d and %d", a->width, b->width);
	LogisticSumsMerge(&a->sums, &b->sums);
	if (b->rows > 0)
	{
		double	   *scratch = palloc(LogisticScratchSize(b->width, b->rows));

		LogisticAccumulate(&a->sums, b->theta, b->batch, b->ybuf, b->rows, b->cw, scratch, NULL);
		pfree(scratch);
	}
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
