/*-------------------------------------------------------------------------
 * metrics.c
 *	  Classification metrics, and the auc, logloss and brier aggregates.
 *
 * The AUC is exact: the Mann-Whitney statistic with tied scores given
 * their average rank, over scores put in order by an LSD radix sort
 * (four 16-bit passes), linear in the number of rows.  Log loss clips
 * probabilities to [eps, 1 - eps] with eps the float8 machine epsilon,
 * as scikit-learn does; the threshold metrics call a score of 0.5 or more
 * positive.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "metrics.h"
#include "profenrich.h"

PG_FUNCTION_INFO_V1(auc_trans);
PG_FUNCTION_INFO_V1(auc_combine);
PG_FUNCTION_INFO_V1(auc_serialize);
PG_FUNCTION_INFO_V1(auc_deserialize);
PG_FUNCTION_INFO_V1(auc_final);
PG_FUNCTION_INFO_V1(logloss_trans);
PG_FUNCTION_INFO_V1(brier_trans);
PG_FUNCTION_INFO_V1(mean_pair_combine);
PG_FUNCTION_INFO_V1(mean_pair_final);

#define AUC_STATE_FORMAT 1

/* Check for interrupts every 2^16 rows of a loop over scored rows */
#define METRICS_INTERRUPTS(i) \
	do { \
		if (((i) & 0xFFFF) == 0xFFFF) \
			CHECK_FOR_INTERRUPTS(); \
	} while (0)

#define RADIX_BITS 11
#define RADIX_BUCKETS (1 << RADIX_BITS)
#define RADIX_PASSES 6			/* 6 x 11 bits cover the 64-bit key */

/*
 * Sort pairs by score, ascending, in O(n): an LSD radix sort on the order
 * key in six passes of 11 bits (the counts fit in the L1 cache), skipping
 * passes whose digit is the same for every pair, with a scratch array of
 * n pairs.
 */
void
MetricsSortPairs(ScoredLabel *pairs, int64 n)
{
	ScoredLabel *tmp = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(ScoredLabel) * Max(n, 1));
	Size	   *count = palloc(sizeof(Size) * RADIX_BUCKETS * RADIX_PASSES);
	ScoredLabel *from = pairs,
			   *to = tmp;

	memset(count, 0, sizeof(Size) * RADIX_BUCKETS * RADIX_PASSES);
	for (int64 i = 0; i < n; i++)
	{
		uint64		key = MetricsOrderKey(pairs[i].score);

		METRICS_INTERRUPTS(i);
		for (int p = 0; p < RADIX_PASSES; p++)
			count[p * RADIX_BUCKETS + ((key >> (p * RADIX_BITS)) & (RADIX_BUCKETS - 1))]++;
	}
	for (int p = 0; p < RADIX_PASSES; p++)
	{
		Size	   *c = &count[p * RADIX_BUCKETS];
		Size		total = 0;
		bool		trivial = false;

		for (int b = 0; b < RADIX_BUCKETS; b++)
		{
			Size		k = c[b];

			trivial |= (k == (Size) n);
			c[b] = total;
			total += k;
		}
		if (trivial)
			continue;
		for (int64 i = 0; i < n; i++)
		{
			METRICS_INTERRUPTS(i);
			to[c[(MetricsOrderKey(from[i].score) >> (p * RADIX_BITS)) & (RADIX_BUCKETS - 1)]++] = from[i];
		}
		{
			ScoredLabel *t = from;

			from = to;
			to = t;
		}
	}
	if (from != pairs)
		memcpy(pairs, from, sizeof(ScoredLabel) * n);
	pfree(tmp);
	pfree(count);
}

/*
 * Refuse a NaN score: it has no rank, and no metric of it means anything.
 * Callers score rows with finite links, so this guards the metrics
 * themselves; the row is the pair's position, 1-based, in the order the
 * rows were scored.
 */
void
MetricsCheckScores(const ScoredLabel *pairs, int64 n)
{
	for (int64 i = 0; i < n; i++)
	{
		METRICS_INTERRUPTS(i);
		if (unlikely(isnan(pairs[i].score)))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("score of row " INT64_FORMAT " is NaN", i + 1),
					 errhint("Filter out the rows whose score is NaN, or check their feature values.")));
	}
}

/*
 * Area under the ROC curve: (sum of positive ranks - P(P+1)/2) / (P N),
 * ties ranked by their average.  NaN when one class is absent.  Sorts
 * pairs in place; a NaN score is an error.
 */
double
MetricAuc(ScoredLabel *pairs, int64 n)
{
	double		pos = 0,
				rank_sum = 0;
	int64		i = 0,
				groups = 0;

	MetricsCheckScores(pairs, n);
	MetricsSortPairs(pairs, n);
	while (i < n)
	{
		/* a tie group holds at least pairs[i]: the walk always advances */
		int64		j = i + 1;
		double		tie_pos = pairs[i].label;

		METRICS_INTERRUPTS(groups++);
		while (j < n && pairs[j].score == pairs[i].score)
			tie_pos += pairs[j++].label;
		/* ranks i+1 .. j average (i + 1 + j) / 2 */
		rank_sum += tie_pos * (double) (i + 1 + j) / 2.0;
		pos += tie_pos;
		i = j;
	}
	if (pos == 0 || pos == n)
		return get_float8_nan();
	return (rank_sum - pos * (pos + 1) / 2.0) / (pos * ((double) n - pos));
}

/*
 * All metrics of scores (probabilities) against labels; sorts pairs, and
 * refuses a NaN score (in MetricAuc).  A caller that knows the log loss
 * from the links (-loglik / n, the same but where a probability is within
 * eps of 0 or 1) passes it, sparing a log per row; NaN has it computed
 * here.
 */
void
MetricsClassify(ScoredLabel *pairs, int64 n, double logloss, ClassMetrics *m)
{
	bool		want_ll = isnan(logloss);

	double		tp = 0,
				fp = 0,
				fn = 0,
				tn = 0,
				ll = 0,
				br = 0;

	memset(m, 0, sizeof(ClassMetrics));
	m->n = n;
	for (int64 i = 0; i < n; i++)
	{
		double		p = pairs[i].score;
		double		y = pairs[i].label;
		double		pc = Min(Max(p, DBL_EPSILON), 1.0 - DBL_EPSILON);
		bool		predicted = p >= 0.5;

		METRICS_INTERRUPTS(i);
		if (want_ll)
			ll -= y > 0 ? log(pc) : log1p(-pc);
		br += (p - y) * (p - y);
		if (predicted)
			(y > 0) ? tp++ : fp++;
		else
			(y > 0) ? fn++ : tn++;
	}
	if (n == 0)
		return;
	m->logloss = want_ll ? ll / n : logloss;
	m->brier = br / n;
	m->accuracy = (tp + tn) / n;
	m->precision = tp + fp > 0 ? tp / (tp + fp) : 0.0;
	m->recall = tp + fn > 0 ? tp / (tp + fn) : 0.0;
	m->f1 = m->precision + m->recall > 0 ?
		2 * m->precision * m->recall / (m->precision + m->recall) : 0.0;
	m->base_rate = (tp + fn) / n;
	m->auc = MetricAuc(pairs, n);
}

/* The auc aggregate's state: every (score, label) pair seen */
typedef struct AucState
{
	int64		n;
	int64		cap;
	ScoredLabel *pairs;
} AucState;

static AucState *
AucStateNew(int64 cap)
{
	AucState   *s = palloc(sizeof(AucState));

	s->n = 0;
	s->cap = Max(cap, 1024);
	s->pairs = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(ScoredLabel) * s->cap);
	return s;
}

static void
AucStateAdd(AucState *s, double score, double label)
{
	if (s->n == s->cap)
	{
		s->cap *= 2;
		s->pairs = repalloc_huge(s->pairs, sizeof(ScoredLabel) * s->cap);
	}
	s->pairs[s->n].score = score;
	s->pairs[s->n].label = label;
	s->n++;
}

/* A score must be a number */
static void
CheckScore(double score)
{
	if (isnan(score))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("score is NaN"),
				 errhint("Filter out rows whose score is NaN.")));
}

/* auc_trans(internal, score float8, label boolean): rows with a NULL are skipped */
Datum
auc_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	AucState   *s = PG_ARGISNULL(0) ? NULL : (AucState *) PG_GETARG_POINTER(0);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "auc_trans called in non-aggregate context");
	if (s == NULL)
	{
		old = MemoryContextSwitchTo(aggcxt);
		s = AucStateNew(1024);
		MemoryContextSwitchTo(old);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(s);
	CheckScore(PG_GETARG_FLOAT8(1));
	AucStateAdd(s, PG_GETARG_FLOAT8(1), PG_GETARG_BOOL(2) ? 1.0 : 0.0);
	PG_RETURN_POINTER(s);
}

/* auc_combine(internal, internal): append b's pairs to a copy or to a */
Datum
auc_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	AucState   *a,
			   *b;
	Datum		result;

	if (AggCombineDone(fcinfo, "auc_combine", &aggcxt, &result))
		return result;
	a = PG_ARGISNULL(0) ? NULL : (AucState *) PG_GETARG_POINTER(0);
	b = (AucState *) PG_GETARG_POINTER(1);
	old = MemoryContextSwitchTo(aggcxt);
	if (a == NULL)
		a = AucStateNew(b->n);
	for (int64 i = 0; i < b->n; i++)
		AucStateAdd(a, b->pairs[i].score, b->pairs[i].label);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* auc_serialize(internal) returns bytea: format, count, pairs */
Datum
auc_serialize(PG_FUNCTION_ARGS)
{
	AucState   *s = (AucState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, AUC_STATE_FORMAT);
	pq_sendint64(&buf, s->n);
	pq_sendbytes(&buf, (const char *) s->pairs, sizeof(ScoredLabel) * s->n);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* auc_deserialize(bytea, internal): checks the format and the exact length */
Datum
auc_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcxt,
				old;
	StringInfoData buf;
	int64		n;
	AucState   *s;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "auc_deserialize called in non-aggregate context");
	BYTES_READER(&buf, b);
	if (buf.len < 12 || pq_getmsgint(&buf, 4) != AUC_STATE_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid auc state"),
				 errhint("The state must come from profenrich.auc of the same version.")));
	n = pq_getmsgint64(&buf);
	if (n < 0 || (Size) buf.len != 12 + sizeof(ScoredLabel) * (Size) n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid auc state: length does not match its count"),
				 errhint("The state must come from profenrich.auc of the same version.")));
	old = MemoryContextSwitchTo(aggcxt);
	s = AucStateNew(n);
	pq_copymsgbytes(&buf, (char *) s->pairs, sizeof(ScoredLabel) * n);
	s->n = n;
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

/* auc_final(internal): NULL without both classes */
Datum
auc_final(PG_FUNCTION_ARGS)
{
	AucState   *s = PG_ARGISNULL(0) ? NULL : (AucState *) PG_GETARG_POINTER(0);
	ScoredLabel *copy;
	double		auc;

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	/* sort a copy: the final function must not change the state */
	copy = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(ScoredLabel) * s->n);
	memcpy(copy, s->pairs, sizeof(ScoredLabel) * s->n);
	auc = MetricAuc(copy, s->n);
	pfree(copy);
	if (isnan(auc))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(auc);
}

/* The float8[2] state {n, sum} of a mean, created or updated */
static ArrayType *
MeanPairAdd(FunctionCallInfo fcinfo, double v)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	double	   *d;

	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != 2 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID)
		elog(ERROR, "invalid mean state");
	if (AggCheckCallContext(fcinfo, NULL))
		d = (double *) ARR_DATA_PTR(a);		/* the state is ours to update */
	else
	{
		a = DatumGetArrayTypePCopy(PG_GETARG_DATUM(0));
		d = (double *) ARR_DATA_PTR(a);
	}
	d[0] += 1;
	d[1] += v;
	return a;
}

/* A probability in [0, 1] */
static double
CheckProbability(double p)
{
	if (!(p >= 0.0 && p <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("score %g is not a probability", p),
				 errhint("logloss and brier take probabilities between 0 and 1.")));
	return p;
}

/* logloss_trans(float8[], score, label): STRICT */
Datum
logloss_trans(PG_FUNCTION_ARGS)
{
	double		p = CheckProbability(PG_GETARG_FLOAT8(1));
	double		pc = Min(Max(p, DBL_EPSILON), 1.0 - DBL_EPSILON);

	PG_RETURN_ARRAYTYPE_P(MeanPairAdd(fcinfo, PG_GETARG_BOOL(2) ? -log(pc) : -log1p(-pc)));
}

/* brier_trans(float8[], score, label): STRICT */
Datum
brier_trans(PG_FUNCTION_ARGS)
{
	double		p = CheckProbability(PG_GETARG_FLOAT8(1));
	double		y = PG_GETARG_BOOL(2) ? 1.0 : 0.0;

	PG_RETURN_ARRAYTYPE_P(MeanPairAdd(fcinfo, (p - y) * (p - y)));
}

/* mean_pair_combine(float8[], float8[]): element-wise sum, STRICT */
Datum
mean_pair_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a = DatumGetArrayTypePCopy(PG_GETARG_DATUM(0));
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	double	   *da = (double *) ARR_DATA_PTR(a);
	double	   *db = (double *) ARR_DATA_PTR(b);

	if (ARR_DIMS(a)[0] != 2 || ARR_DIMS(b)[0] != 2)
		elog(ERROR, "invalid mean state");
	da[0] += db[0];
	da[1] += db[1];
	PG_RETURN_ARRAYTYPE_P(a);
}

/* mean_pair_final(float8[]): sum / n, NULL for no rows */
Datum
mean_pair_final(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	double	   *d = (double *) ARR_DATA_PTR(a);

	if (d[0] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(d[1] / d[0]);
}
