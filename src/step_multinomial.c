/*-------------------------------------------------------------------------
 * step_multinomial.c
 *	  profenrich.multinomial_step: one streaming pass of the multinomial
 *	  trainer over the training rows, as an aggregate that combines,
 *	  serializes and runs in parallel workers.
 *
 * multinomial_step(spec, params, classes, names, VARIADIC columns) reads
 * each row through the spec (the target as its class among classes),
 * keeps the training split, imputes and standardizes it, and accumulates
 * by mode (params[0]): 0 the class counts and the Gram matrix X'X, 1 the
 * log-likelihood and gradient at the coefficients, 2 with the Hessian.
 * params = {mode, class weights (K), slot means (w), slot sds (w),
 * coefficients ((K - 1) w, modes 1 and 2)}.
 *
 * Its state is bytea (partial.h), so that Citus pushes it down to the
 * shards (worker_partial_agg, coord_combine_agg); its flat form is the
 * counts' or sums' bytes the final function returns.  A second form takes
 * the row as ROW(col1, ...) (Citus refuses VARIADIC "any" on its workers).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "model.h"
#include "multinomial.h"
#include "partial.h"
#include "profenrich.h"
#include "step.h"

PG_FUNCTION_INFO_V1(multinomial_step_sfunc);
PG_FUNCTION_INFO_V1(multinomial_step_row_sfunc);
PG_FUNCTION_INFO_V1(multinomial_step_combinefunc);
PG_FUNCTION_INFO_V1(multinomial_step_finalfunc);

#define STEP_BATCH 256			/* rows per accumulation: the block stays in cache */

typedef struct MultinomialStepState
{
	FeatureSpec *spec;			/* NULL in states built by combine/deserialize */
	FeatureReader reader;
	uint32		test_threshold;
	int			mode;			/* 0 counts, 1 sums, 2 sums with the Hessian */
	int			nclasses;
	int			width;
	double	   *cw;
	double	   *mean;
	double	   *sd;
	double	   *theta;
	double	   *batch;			/* STEP_BATCH x width, standardized [1, slots] */
	double	   *ybuf;
	int			rows;
	double	   *scratch;
	double	   *x;
	int		   *missing;
	MultinomialSums sums;		/* modes 1, 2 */
	MultinomialCounts counts;	/* mode 0 */
	bytea	   *flat;			/* the bytes StepFlatSize made, until StepFlatten copies them */
} MultinomialStepState;

static const PartialKind MultinomialStepKind;

/* A state holding sums or counts only, of the given shape */
static MultinomialStepState *
StepBare(int mode, int nclasses, int width)
{
	MultinomialStepState *s = palloc0(sizeof(MultinomialStepState));

	s->mode = mode;
	s->nclasses = nclasses;
	s->width = width;
	if (mode == 0)
		MultinomialCountsInit(&s->counts, nclasses, width);
	else
		MultinomialSumsInit(&s->sums, nclasses, width, mode == 2);
	return s;
}

/* Refuse arguments train() would not pass */
static void
BadArguments(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid multinomial_step arguments: %s", why),
			 errhint("multinomial_step takes {mode, class weights, slot means, slot sds, coefficients} and the class labels, as train() passes them.")));
}

/* The class labels of the classes argument, checked */
static char **
StepClasses(ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **labels;

	if (ARR_NDIM(arr) != 1 || ARR_ELEMTYPE(arr) != TEXTOID)
		BadArguments("the classes must be a one-dimensional text[]");
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	if (*n < 2 || *n > MODEL_MAX_CLASSES)
		BadArguments("there must be 2 to 100 classes");
	labels = palloc(sizeof(char *) * *n);
	for (int k = 0; k < *n; k++)
	{
		if (nulls[k])
			BadArguments("a class label is NULL");
		labels[k] = TextDatumGetCString(elems[k]);
	}
	return labels;
}

/* The transition state from the spec, parameters and classes on the first row */
static MultinomialStepState *
StepCreate(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	MemoryContext old = MemoryContextSwitchTo(aggcxt);
	StringInfoData buf;
	FeatureSpec *spec;
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);
	MultinomialStepState *s;
	double	   *p;
	int			nk,
				w,
				mode,
				np;
	char	  **labels = StepClasses(PG_GETARG_ARRAYTYPE_P(3), &nk);

	BYTES_READER(&buf, PG_GETARG_BYTEA_PP(1));
	spec = FeatureSpecRead(&buf, FEATURE_SPEC_FORMAT, true);
	if (spec->target == NULL)
		BadArguments("the spec has no target");
	spec->nclasses = nk;
	spec->classes = labels;
	w = spec->nslots + 1;
	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != FLOAT8OID ||
		ARR_DIMS(arr)[0] < 1)
		BadArguments("the parameters must be a float8[] without NULLs");
	p = (double *) ARR_DATA_PTR(arr);
	mode = (int) p[0];
	if (p[0] != mode || mode < 0 || mode > 2)
		BadArguments("the mode must be 0, 1 or 2");
	np = mode == 0 ? 0 : (nk - 1) * w;
	if (mode == 2 && np > MULTINOMIAL_NEWTON_HARD_MAX)
		BadArguments("too many parameters for the Hessian");
	if (ARR_DIMS(arr)[0] != 1 + nk + 2 * w + np)
		BadArguments("the number of parameters does not match the spec and the classes");
	s = StepBare(mode, nk, w);
	s->spec = spec;
	FeatureReaderInit(&s->reader, aggcxt);
	/* rows linear_stats counted as bad (NaN, infinity) are skipped, not raised */
	s->reader.soft_bad = spec->on_bad_row == BAD_ROW_SKIP;
	s->test_threshold = FeatureTestThreshold(spec);
	s->cw = palloc(sizeof(double) * nk);
	s->mean = palloc(sizeof(double) * w);
	s->sd = palloc(sizeof(double) * w);
	s->theta = palloc0(sizeof(double) * Max(np, 1));
	memcpy(s->cw, p + 1, sizeof(double) * nk);
	memcpy(s->mean, p + 1 + nk, sizeof(double) * w);
	memcpy(s->sd, p + 1 + nk + w, sizeof(double) * w);
	memcpy(s->theta, p + 1 + nk + 2 * w, sizeof(double) * np);
	s->batch = palloc(sizeof(double) * STEP_BATCH * w);
	s->ybuf = palloc(sizeof(double) * STEP_BATCH);
	s->scratch = mode == 0 ? NULL : palloc(MultinomialScratchSize(nk, w, STEP_BATCH));
	s->x = palloc(sizeof(double) * w);
	s->missing = palloc(sizeof(int) * Max(spec->nnumeric, 1));
	MemoryContextSwitchTo(old);
	return s;
}

/* Fold n batched rows (of a state with theta and weights) into the sums or counts of into */
static void
StepAdd(MultinomialStepState *into, const MultinomialStepState *from, const double *x,
		const double *y, int n, double *scratch)
{
	if (n == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	if (into->mode == 0)
		MultinomialCountsAccumulate(&into->counts, x, y, n);
	else
		MultinomialAccumulate(&into->sums, from->theta, x, y, n, from->cw, scratch, NULL);
}

/* Fold the waiting rows into the state's own sums or counts */
static void
StepFlush(MultinomialStepState *s)
{
	StepAdd(s, s, s->batch, s->ybuf, s->rows, s->scratch);
	s->rows = 0;
}

/* Refuse a call without its spec, parameters or classes */
static void
StepArgs(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("multinomial_step needs a feature spec, parameters and classes"),
				 errhint("train() passes them; they must not be NULL.")));
}

/* Refuse to merge states of two shapes */
static void
StepSameShape(const MultinomialStepState *a, const MultinomialStepState *b)
{
	if (a->mode != b->mode || a->nclasses != b->nclasses || a->width != b->width)
		PartialInvalid(&MultinomialStepKind, "its shape does not match the other state's");
}

/* Merge b's counts or sums, and its waiting rows, into a; b is not modified */
static void
StepMerge(MultinomialStepState *a, const MultinomialStepState *b)
{
	StepSameShape(a, b);
	if (a->mode == 0)
		MultinomialCountsMerge(&a->counts, &b->counts);
	else
		MultinomialSumsMerge(&a->sums, &b->sums);
	if (b->rows > 0)
	{
		double	   *scratch = b->mode == 0 ? NULL :
			palloc(MultinomialScratchSize(b->nclasses, b->width, b->rows));

		StepAdd(a, b, b->batch, b->ybuf, b->rows, scratch);
		if (scratch)
			pfree(scratch);
	}
}

/*
 * The transition's state: new on the first row, or given the spec,
 * parameters and classes when it was rebuilt from bytes (a state passed by
 * a caller), its counts or sums kept.
 */
static PartialState *
StepState(FunctionCallInfo fcinfo)
{
	PartialState *ps;
	MultinomialStepState *s;
	MemoryContext old;

	StepArgs(fcinfo);
	ps = PartialArg(fcinfo, 0, &MultinomialStepKind, true);
	if (ps == NULL)
	{
		ps = PartialNew(fcinfo, &MultinomialStepKind);
		ps->state = StepCreate(fcinfo, ps->cxt);
		return ps;
	}
	if (((MultinomialStepState *) ps->state)->spec != NULL)
		return ps;
	s = StepCreate(fcinfo, ps->cxt);
	old = MemoryContextSwitchTo(ps->cxt);
	StepMerge(s, (MultinomialStepState *) ps->state);
	MemoryContextSwitchTo(old);
	ps->state = s;
	return ps;
}

/* Add the call's row (its columns after the names argument 4, or the record in 5) */
static void
StepAddRow(MultinomialStepState *s, FunctionCallInfo fcinfo, bool record)
{
	double		label;

	if (record)
	{
		if (PG_ARGISNULL(5))
			return;
		FeatureReaderLoadRecord(&s->reader, s->spec, fcinfo, 4, PG_GETARG_HEAPTUPLEHEADER(5),
								true, true);
	}
	else
	{
		FeatureReaderBindArgs(&s->reader, s->spec, fcinfo, 4, true, true);
		FeatureReaderLoadArgs(&s->reader, fcinfo, 4);
	}
	if (!StepTrainingRow(&s->reader, s->spec, s->test_threshold, s->mean, s->sd, s->x,
						 s->missing, &s->batch[(size_t) s->rows * s->width], &label))
		return;
	s->ybuf[s->rows++] = label;
	if (s->rows == STEP_BATCH)
		StepFlush(s);
}

/*
 * multinomial_step_sfunc(state bytea, spec bytea, params float8[], classes
 * text[], names text[], VARIADIC "any"): a training row, batched.
 */
Datum
multinomial_step_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = StepState(fcinfo);

	StepAddRow((MultinomialStepState *) ps->state, fcinfo, false);
	return PartialResult(fcinfo, ps);
}

/*
 * multinomial_step_row_sfunc(state bytea, spec bytea, params float8[],
 * classes text[], names text[], row record): the row as ROW(col1, ...),
 * the form Citus pushes down.
 */
Datum
multinomial_step_row_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = StepState(fcinfo);

	StepAddRow((MultinomialStepState *) ps->state, fcinfo, true);
	return PartialResult(fcinfo, ps);
}

/* multinomial_step_combinefunc(bytea, bytea): the second state is never modified */
Datum
multinomial_step_combinefunc(PG_FUNCTION_ARGS)
{
	return PartialCombine(fcinfo, &MultinomialStepKind);
}

/* multinomial_step_finalfunc(bytea) returns the counts' or sums' bytes, NULL for no rows */
Datum
multinomial_step_finalfunc(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P(0));
}

/* The state as bytes: its counts or sums, pending rows folded in first */
static bytea *
StepBytes(MultinomialStepState *s)
{
	StepFlush(s);
	return s->mode == 0 ? MultinomialCountsToBytes(&s->counts) : MultinomialSumsToBytes(&s->sums);
}

/* The state's bytes, for PartialFlatKeep */
static bytea *
StepBytesOf(void *p)
{
	return StepBytes((MultinomialStepState *) p);
}

/* Payload bytes of the flat form: made here, kept until StepFlatten copies them */
static Size
StepFlatSize(void *p)
{
	return PartialFlatKeep(&((MultinomialStepState *) p)->flat, p, StepBytesOf);
}

static void
StepFlatten(void *p, char *out, Size size)
{
	PartialFlatTake(&((MultinomialStepState *) p)->flat, out, size, &MultinomialStepKind);
}

/* A state of counts or sums from their bytes, which their readers check (22P03) */
static void *
StepExpand(const char *data, Size size)
{
	bytea	   *b = palloc(VARHDRSZ + size);
	MultinomialStepState *s = palloc0(sizeof(MultinomialStepState));

	SET_VARSIZE(b, VARHDRSZ + size);
	memcpy(VARDATA(b), data, size);
	if (MultinomialBytesAreCounts(b))
	{
		MultinomialCountsFromBytes(b, &s->counts);
		s->mode = 0;
		s->nclasses = s->counts.nclasses;
		s->width = s->counts.width;
	}
	else
	{
		MultinomialSumsFromBytes(b, &s->sums);
		s->mode = s->sums.hessian ? 2 : 1;
		s->nclasses = s->sums.nclasses;
		s->width = s->sums.width;
	}
	pfree(b);
	return s;
}

/* PartialKind's merge */
static void
StepMergeState(void *into, void *from)
{
	StepMerge((MultinomialStepState *) into, (const MultinomialStepState *) from);
}

static const PartialKind MultinomialStepKind = {
	"multinomial_step", StepFlatSize, StepFlatten, StepExpand, StepMergeState
};
