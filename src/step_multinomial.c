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
#include "profenrich.h"
#include "step.h"

PG_FUNCTION_INFO_V1(multinomial_step_trans);
PG_FUNCTION_INFO_V1(multinomial_step_combine);
PG_FUNCTION_INFO_V1(multinomial_step_serialize);
PG_FUNCTION_INFO_V1(multinomial_step_deserialize);
PG_FUNCTION_INFO_V1(multinomial_step_final);

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
} MultinomialStepState;

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

/*
 * multinomial_step_trans(internal, spec bytea, params float8[], classes
 * text[], names text[], VARIADIC "any"): a training row, batched.
 */
Datum
multinomial_step_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MultinomialStepState *s;
	double		label;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "multinomial_step_trans called in non-aggregate context");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("multinomial_step needs a feature spec, parameters and classes"),
				 errhint("train() passes them; they must not be NULL.")));
	s = PG_ARGISNULL(0) ? StepCreate(fcinfo, aggcxt) : (MultinomialStepState *) PG_GETARG_POINTER(0);
	FeatureReaderBindArgs(&s->reader, s->spec, fcinfo, 4, true, true);
	FeatureReaderLoadArgs(&s->reader, fcinfo, 4);
	if (!StepTrainingRow(&s->reader, s->spec, s->test_threshold, s->mean, s->sd, s->x,
						 s->missing, &s->batch[(size_t) s->rows * s->width], &label))
		PG_RETURN_POINTER(s);
	s->ybuf[s->rows++] = label;
	if (s->rows == STEP_BATCH)
		StepFlush(s);
	PG_RETURN_POINTER(s);
}

/* multinomial_step_combine(internal, internal): b is not modified */
Datum
multinomial_step_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	MultinomialStepState *a,
			   *b;
	Datum		result;

	if (AggCombineDone(fcinfo, "multinomial_step_combine", &aggcxt, &result))
		return result;
	a = PG_ARGISNULL(0) ? NULL : (MultinomialStepState *) PG_GETARG_POINTER(0);
	b = (MultinomialStepState *) PG_GETARG_POINTER(1);
	old = MemoryContextSwitchTo(aggcxt);
	if (a == NULL)
		a = StepBare(b->mode, b->nclasses, b->width);
	if (a->mode != b->mode || a->nclasses != b->nclasses || a->width != b->width)
		elog(ERROR, "cannot combine multinomial_step states of different shapes");
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
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* The state as bytes: its counts or sums, pending rows folded in first */
static bytea *
StepBytes(MultinomialStepState *s)
{
	StepFlush(s);
	return s->mode == 0 ? MultinomialCountsToBytes(&s->counts) : MultinomialSumsToBytes(&s->sums);
}

/* multinomial_step_serialize(internal) returns bytea */
Datum
multinomial_step_serialize(PG_FUNCTION_ARGS)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "multinomial_step_serialize called in non-aggregate context");
	PG_RETURN_BYTEA_P(StepBytes((MultinomialStepState *) PG_GETARG_POINTER(0)));
}

/* multinomial_step_deserialize(bytea, internal) returns internal, checking the bytes */
Datum
multinomial_step_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	MultinomialStepState *s;
	bytea	   *b = PG_GETARG_BYTEA_PP(0);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "multinomial_step_deserialize called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	s = palloc0(sizeof(MultinomialStepState));
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
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

/* multinomial_step_final(internal) returns the counts or sums as bytea, NULL for no rows */
Datum
multinomial_step_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(StepBytes((MultinomialStepState *) PG_GETARG_POINTER(0)));
}
