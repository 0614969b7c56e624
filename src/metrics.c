/*-------------------------------------------------------------------------
 * metrics.c
 *	  Classification metrics, and the auc, logloss and brier aggregates.
 *
 * The AUC is exact: the Mann-Whitney statistic with tied scores given
 * their average rank, over scores put in order by an LSD radix sort
 * (four 16-bit passes), linear in the number of rows.  Log loss clips
 * probabilities to [eps, 1 - eps] with eps the float8 machine epsilon,
 * as scikit-learn does; the threshold metrics call a score of 0.5 or more
 * positive.  The multi-class metrics take a matrix of probabilities and
 * class indexes (MetricsMulticlassJson).
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
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "metrics.h"
#include "partial.h"
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
PG_FUNCTION_INFO_V1(auc_sfunc);
PG_FUNCTION_INFO_V1(auc_combinefunc);
PG_FUNCTION_INFO_V1(auc_finalfunc);
PG_FUNCTION_INFO_V1(class_metrics_trans);
PG_FUNCTION_INFO_V1(class_metrics_combine);
PG_FUNCTION_INFO_V1(class_metrics_serialize);
PG_FUNCTION_INFO_V1(class_metrics_deserialize);
PG_FUNCTION_INFO_V1(class_metrics_final);

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

/* Append "key": number (null for NaN or infinity) to a JSON object being built */
static void
JsonMember(StringInfo out, const char *key, double v)
{
	if (out->len > 0 && out->data[out->len - 1] != '{')
		appendStringInfoString(out, ", ");
	escape_json(out, key);
	if (isnan(v) || isinf(v))
		appendStringInfoString(out, ": null");
	else
		appendStringInfo(out, ": %s", float8out_internal(v));
}

/* The predicted class of a row: the most probable, the first of equals; NaN never wins */
static int
MostProbable(const double *p, int nclasses)
{
	int			best = 0;

	for (int k = 1; k < nclasses; k++)
		if (p[k] > p[best] || (isnan(p[best]) && !isnan(p[k])))
			best = k;
	return best;
}

/*
 * Log loss as scikit-learn's log_loss: each probability clipped to
 * [eps, 1 - eps] (eps the float8 machine epsilon), the row renormalized,
 * the mean of -log of the true class's.  (A NaN probability is refused by
 * the AUC, computed first.)
 */
static double
MulticlassLogloss(const double *probs, const int *label, int64 n, int nclasses)
{
	double		total = 0.0;

	for (int64 i = 0; i < n; i++)
	{
		const double *p = &probs[i * nclasses];
		double		sum = 0.0;

		METRICS_INTERRUPTS(i);
		for (int k = 0; k < nclasses; k++)
			sum += Min(Max(p[k], DBL_EPSILON), 1.0 - DBL_EPSILON);
		total -= log(Min(Max(p[label[i]], DBL_EPSILON), 1.0 - DBL_EPSILON) / sum);
	}
	return n > 0 ? total / n : get_float8_nan();
}

/*
 * Sort n keys ascending, in O(n): MetricsSortPairs's LSD radix sort (six
 * passes of 11 bits, trivial ones skipped) on 8-byte keys, with a scratch
 * array of n keys.
 */
static void
SortKeys(uint64 *keys, int64 n)
{
	uint64	   *tmp = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint64) * Max(n, 1));
	Size	   *count = palloc0(sizeof(Size) * RADIX_BUCKETS * RADIX_PASSES);
	uint64	   *from = keys,
			   *to = tmp;

	for (int64 i = 0; i < n; i++)
	{
		METRICS_INTERRUPTS(i);
		for (int p = 0; p < RADIX_PASSES; p++)
			count[p * RADIX_BUCKETS + ((keys[i] >> (p * RADIX_BITS)) & (RADIX_BUCKETS - 1))]++;
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
			to[c[(from[i] >> (p * RADIX_BITS)) & (RADIX_BUCKETS - 1)]++] = from[i];
		}
		{
			uint64	   *t = from;

			from = to;
			to = t;
		}
	}
	if (from != keys)
		memcpy(keys, from, sizeof(uint64) * n);
	pfree(tmp);
	pfree(count);
}

/*
 * The AUC of class k against the rest (scores: the probabilities of k);
 * NaN when the split lacks k or holds only k.  A
 * probability's order key (MetricsOrderKey) has its top bit set (a
 * non-negative double), so the key shifted left by one holds the label in
 * its low bit: one 8-byte sort instead of one of (score, label) pairs,
 * and equal scores are equal keys but for that bit.  Scores that are not
 * non-negative numbers take MetricAuc, which refuses a NaN.
 */
static double
OneVsRestAuc(const double *probs, const int *label, int64 n, int nclasses, int k,
			 ScoredLabel *pairs)
{
	uint64	   *keys = (uint64 *) pairs;	/* room for n keys */
	double		pos = 0,
				rank_sum = 0;
	int64		i = 0;

	for (int64 j = 0; j < n; j++)
	{
		double		v = probs[j * nclasses + k];

		METRICS_INTERRUPTS(j);
		if (!(v >= 0) || signbit(v))
		{
			for (int64 r = 0; r < n; r++)
			{
				pairs[r].score = probs[r * nclasses + k];
				pairs[r].label = label[r] == k ? 1.0 : 0.0;
			}
			return MetricAuc(pairs, n);
		}
		keys[j] = (MetricsOrderKey(v) << 1) | (label[j] == k ? 1 : 0);
	}
	SortKeys(keys, n);
	while (i < n)
	{
		/* a tie group holds at least keys[i]: the walk always advances */
		int64		j = i + 1;
		double		tie_pos = (double) (keys[i] & 1);

		METRICS_INTERRUPTS(i);
		while (j < n && (keys[j] >> 1) == (keys[i] >> 1))
			tie_pos += (double) (keys[j++] & 1);
		rank_sum += tie_pos * (double) (i + 1 + j) / 2.0;
		pos += tie_pos;
		i = j;
	}
	if (pos == 0 || pos == n)
		return get_float8_nan();
	return (rank_sum - pos * (pos + 1) / 2.0) / (pos * ((double) n - pos));
}

/* Per class: precision, recall, f1 and support from the confusion matrix */
typedef struct ClassRates
{
	double		precision;
	double		recall;
	double		f1;
	double		support;
	double		auc;
} ClassRates;

/*
 * The confusion matrix (rows the true class, columns the most probable,
 * the first of equals) of n rows; returns the number predicted right
 */
static double
Confusion(const double *probs, const int *label, int64 n, int nclasses, double *confusion)
{
	double		correct = 0;

	for (int64 i = 0; i < n; i++)
	{
		int			pred = MostProbable(&probs[i * nclasses], nclasses);

		METRICS_INTERRUPTS(i);
		if (label[i] < 0 || label[i] >= nclasses)
			elog(ERROR, "class index %d out of range", label[i]);
		confusion[label[i] * nclasses + pred] += 1;
		correct += label[i] == pred;
	}
	return correct;
}

/* Class k's rates from the confusion matrix: 0 where a denominator is */
static void
Rates(const double *confusion, int nclasses, int k, ClassRates *r)
{
	double		tp = confusion[k * nclasses + k],
				predicted = 0;

	r->support = 0;
	for (int l = 0; l < nclasses; l++)
	{
		r->support += confusion[k * nclasses + l];
		predicted += confusion[l * nclasses + k];
	}
	r->precision = predicted > 0 ? tp / predicted : 0.0;
	r->recall = r->support > 0 ? tp / r->support : 0.0;
	r->f1 = r->precision + r->recall > 0 ?
		2 * r->precision * r->recall / (r->precision + r->recall) : 0.0;
}

/* The members classes, per_class and confusion_matrix */
static void
ClassMembersJson(StringInfo out, const ClassRates *rates, const double *confusion, int nclasses,
				 char **classes)
{
	appendStringInfoString(out, ", \"classes\": [");
	for (int k = 0; k < nclasses; k++)
	{
		if (k > 0)
			appendStringInfoString(out, ", ");
		escape_json(out, classes[k]);
	}
	appendStringInfoString(out, "], \"per_class\": {");
	for (int k = 0; k < nclasses; k++)
	{
		if (k > 0)
			appendStringInfoString(out, ", ");
		escape_json(out, classes[k]);
		appendStringInfoString(out, ": {");
		JsonMember(out, "precision", rates[k].precision);
		JsonMember(out, "recall", rates[k].recall);
		JsonMember(out, "f1", rates[k].f1);
		JsonMember(out, "support", rates[k].support);
		JsonMember(out, "auc", rates[k].auc);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoString(out, "}, \"confusion_matrix\": [");
	for (int k = 0; k < nclasses; k++)
	{
		appendStringInfoString(out, k > 0 ? ", [" : "[");
		for (int l = 0; l < nclasses; l++)
			appendStringInfo(out, "%s%.0f", l > 0 ? ", " : "", confusion[k * nclasses + l]);
		appendStringInfoChar(out, ']');
	}
	appendStringInfoChar(out, ']');
}

/*
 * The metrics of a class model's predictions, appended as members of a
 * JSON object being built: probs holds n rows of nclasses probabilities
 * (classes in model order), label each row's true class index, classes the
 * labels.  Members: logloss, accuracy, macro_f1, weighted_f1, auc (the
 * mean of the one-vs-rest AUCs, as scikit-learn's roc_auc_score with
 * multi_class='ovr', average='macro'), classes, per_class (by label:
 * precision, recall, f1, support, auc) and confusion_matrix (rows the true
 * class, columns the predicted one, both in model order).  The predicted
 * class is the most probable, the first of equals (as numpy's argmax);
 * precision, recall and f1 are 0 where their denominator is, as
 * scikit-learn's zero_division default gives them; an AUC is null where
 * the split lacks the class.  A NaN probability is an error.
 */
void
MetricsMulticlassJson(StringInfo out, const double *probs, const int *label, int64 n,
					  int nclasses, char **classes)
{
	double	   *confusion = palloc0(sizeof(double) * nclasses * nclasses);
	ClassRates *rates = palloc(sizeof(ClassRates) * nclasses);
	ScoredLabel *pairs = MemoryContextAllocHuge(CurrentMemoryContext,
												sizeof(ScoredLabel) * Max(n, 1));
	double		correct = Confusion(probs, label, n, nclasses, confusion),
				macro = 0,
				weighted = 0,
				auc_sum = 0;

	for (int k = 0; k < nclasses; k++)
	{
		Rates(confusion, nclasses, k, &rates[k]);
		macro += rates[k].f1;
		weighted += rates[k].support * rates[k].f1;
		CHECK_FOR_INTERRUPTS();
		rates[k].auc = OneVsRestAuc(probs, label, n, nclasses, k, pairs);
		auc_sum += rates[k].auc;
	}
	JsonMember(out, "logloss", MulticlassLogloss(probs, label, n, nclasses));
	JsonMember(out, "accuracy", n > 0 ? correct / n : get_float8_nan());
	JsonMember(out, "macro_f1", n > 0 ? macro / nclasses : get_float8_nan());
	JsonMember(out, "weighted_f1", n > 0 ? weighted / n : get_float8_nan());
	JsonMember(out, "auc", auc_sum / nclasses);
	ClassMembersJson(out, rates, confusion, nclasses, classes);
	pfree(confusion);
	pfree(rates);
	pfree(pairs);
}

/* The auc aggregate's state: every (score, label) pair seen */
typedef struct AucState
{
	int64		n;
	int64		cap;
	ScoredLabel *pairs;
} AucState;

static Datum AucResult(FunctionCallInfo fcinfo, const AucState *s);

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
	return AucResult(fcinfo, PG_ARGISNULL(0) ? NULL : (AucState *) PG_GETARG_POINTER(0));
}

/* The AUC of a state's pairs: NULL without both classes (the state is not changed) */
static Datum
AucResult(FunctionCallInfo fcinfo, const AucState *s)
{
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

/* Payload bytes of the flat form: format, count, pairs */
static Size
AucFlatSize(void *p)
{
	return 12 + sizeof(ScoredLabel) * (Size) ((AucState *) p)->n;
}

static void
AucFlatten(void *p, char *out, Size size)
{
	AucState   *s = (AucState *) p;
	PartialWriter w = {out, out + size};

	PartialPut32(&w, AUC_STATE_FORMAT);
	PartialPut64(&w, (uint64) s->n);
	PartialPutBytes(&w, s->pairs, sizeof(ScoredLabel) * s->n);
}

static const PartialKind AucKind;

/*
 * A state from its flat form: the format, a length that matches the count
 * exactly, scores that are numbers and labels that are 0 or 1.
 */
static void *
AucExpand(const char *data, Size size)
{
	StringInfoData buf;
	int64		n;
	AucState   *s;

	buf.data = (char *) data;
	buf.len = size;
	buf.maxlen = size;
	buf.cursor = 0;
	if (size < 12 || pq_getmsgint(&buf, 4) != AUC_STATE_FORMAT)
		PartialInvalid(&AucKind, "unknown format");
	n = pq_getmsgint64(&buf);
	if (n < 0 || (Size) n > (MaxAllocHugeSize / sizeof(ScoredLabel)) ||
		size != 12 + sizeof(ScoredLabel) * (Size) n)
		PartialInvalid(&AucKind, "length does not match its count");
	s = AucStateNew(n);
	pq_copymsgbytes(&buf, (char *) s->pairs, sizeof(ScoredLabel) * n);
	s->n = n;
	for (int64 i = 0; i < n; i++)
	{
		METRICS_INTERRUPTS(i);
		if (isnan(s->pairs[i].score) || (s->pairs[i].label != 0.0 && s->pairs[i].label != 1.0))
			PartialInvalid(&AucKind, "a pair is not a score and a label");
	}
	return s;
}

/* The second state's pairs added to the first */
static void
AucMerge(void *into, void *from)
{
	const AucState *b = from;

	for (int64 i = 0; i < b->n; i++)
		AucStateAdd((AucState *) into, b->pairs[i].score, b->pairs[i].label);
}

static const PartialKind AucKind = {"auc", AucFlatSize, AucFlatten, AucExpand, AucMerge};

/* auc_sfunc(bytea, score float8, label boolean): rows with a NULL are skipped */
Datum
auc_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = PartialArg(fcinfo, 0, &AucKind, true);
	MemoryContext old;

	if (ps == NULL)
	{
		ps = PartialNew(fcinfo, &AucKind);
		old = MemoryContextSwitchTo(ps->cxt);
		ps->state = AucStateNew(1024);
		MemoryContextSwitchTo(old);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return PartialResult(fcinfo, ps);
	CheckScore(PG_GETARG_FLOAT8(1));
	old = MemoryContextSwitchTo(ps->cxt);
	AucStateAdd((AucState *) ps->state, PG_GETARG_FLOAT8(1), PG_GETARG_BOOL(2) ? 1.0 : 0.0);
	MemoryContextSwitchTo(old);
	return PartialResult(fcinfo, ps);
}

/* auc_combinefunc(bytea, bytea): b's pairs appended to a (b is never modified) */
Datum
auc_combinefunc(PG_FUNCTION_ARGS)
{
	return PartialCombine(fcinfo, &AucKind);
}

/* auc_finalfunc(bytea): NULL without both classes */
Datum
auc_finalfunc(PG_FUNCTION_ARGS)
{
	return AucResult(fcinfo, (const AucState *) PartialPeek(fcinfo, 0, &AucKind));
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

/*
 * class_metrics(probabilities float8[], actual text, classes text[]): the
 * multi-class metrics (MetricsMulticlassJson) of predictions, as jsonb.
 * The state keeps every row: its class index and its probabilities.
 */
typedef struct ClassMetricsState
{
	int			nclasses;
	char	  **classes;
	int64		n;
	int64		cap;
	int		   *label;
	double	   *probs;			/* cap x nclasses */
} ClassMetricsState;

#define CLASS_METRICS_FORMAT 1

/* An empty state for these labels, in the current memory context */
static ClassMetricsState *
ClassStateNew(int nclasses, char **classes, int64 cap)
{
	ClassMetricsState *s = palloc0(sizeof(ClassMetricsState));

	s->nclasses = nclasses;
	s->classes = palloc(sizeof(char *) * nclasses);
	for (int k = 0; k < nclasses; k++)
		s->classes[k] = pstrdup(classes[k]);
	s->cap = Max(cap, 256);
	s->label = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int) * s->cap);
	s->probs = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * s->cap * nclasses);
	return s;
}

/* Room for one more row */
static void
ClassStateGrow(ClassMetricsState *s)
{
	if (s->n < s->cap)
		return;
	s->cap *= 2;
	s->label = repalloc_huge(s->label, sizeof(int) * s->cap);
	s->probs = repalloc_huge(s->probs, sizeof(double) * s->cap * s->nclasses);
}

/* The labels of a classes argument: 2 to 100 distinct non-NULL labels */
static char **
ClassLabels(ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **labels;

	if (ARR_NDIM(arr) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("classes must be a one-dimensional array"),
				 errhint("Pass the class labels in model order, as profenrich.classes(name) gives them.")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	if (*n < 2 || *n > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("class_metrics needs 2 to 100 classes, not %d", *n),
				 errhint("Pass the class labels in model order, as profenrich.classes(name) gives them.")));
	labels = palloc(sizeof(char *) * *n);
	for (int k = 0; k < *n; k++)
	{
		if (nulls[k])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("class labels must not be NULL"),
					 errhint("Pass the class labels in model order, as profenrich.classes(name) gives them.")));
		labels[k] = TextDatumGetCString(elems[k]);
		for (int j = 0; j < k; j++)
			if (strcmp(labels[j], labels[k]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("class label \"%s\" is given twice", labels[k]),
						 errhint("Pass each class label once.")));
	}
	return labels;
}

/* Add one row: its probabilities (one per class, each in [0, 1]) and its class */
static void
ClassStateAdd(ClassMetricsState *s, ArrayType *probs, const char *actual)
{
	int			k = -1;
	double	   *p;

	if (ARR_NDIM(probs) != 1 || ARR_DIMS(probs)[0] != s->nclasses || ARR_HASNULL(probs))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("probabilities must be an array of %d numbers without NULLs, one per class",
						s->nclasses),
				 errhint("Pass predict_proba(name, row), whose order is that of classes(name).")));
	for (int j = 0; j < s->nclasses && k < 0; j++)
		if (strcmp(s->classes[j], actual) == 0)
			k = j;
	if (k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("actual class \"%s\" is not one of the classes", actual),
				 errhint("Leave rows of other classes out, or add the class to the classes array.")));
	p = (double *) ARR_DATA_PTR(probs);
	for (int j = 0; j < s->nclasses; j++)
		CheckProbability(p[j]);
	ClassStateGrow(s);
	s->label[s->n] = k;
	memcpy(&s->probs[s->n * s->nclasses], p, sizeof(double) * s->nclasses);
	s->n++;
}

/* class_metrics_trans(internal, float8[], text, text[]): rows with a NULL are skipped */
Datum
class_metrics_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ClassMetricsState *s = PG_ARGISNULL(0) ? NULL : (ClassMetricsState *) PG_GETARG_POINTER(0);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "class_metrics_trans called in non-aggregate context");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(s);
	old = MemoryContextSwitchTo(aggcxt);
	if (s == NULL)
	{
		int			n;
		char	  **labels = ClassLabels(PG_GETARG_ARRAYTYPE_P(3), &n);

		s = ClassStateNew(n, labels, 1024);
	}
	if (ARR_DIMS(PG_GETARG_ARRAYTYPE_P(3))[0] != s->nclasses)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the classes must be the same in every row"),
				 errhint("Pass the same classes array, such as profenrich.classes(name), in every row.")));
	ClassStateAdd(s, PG_GETARG_ARRAYTYPE_P(1), TextDatumGetCString(PG_GETARG_DATUM(2)));
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

/* class_metrics_combine(internal, internal): b's rows appended to a (or a copy); b untouched */
Datum
class_metrics_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ClassMetricsState *a,
			   *b;
	Datum		result;

	if (AggCombineDone(fcinfo, "class_metrics_combine", &aggcxt, &result))
		return result;
	a = PG_ARGISNULL(0) ? NULL : (ClassMetricsState *) PG_GETARG_POINTER(0);
	b = (ClassMetricsState *) PG_GETARG_POINTER(1);
	old = MemoryContextSwitchTo(aggcxt);
	if (a == NULL)
		a = ClassStateNew(b->nclasses, b->classes, b->n);
	if (a->nclasses != b->nclasses)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the classes must be the same in every row"),
				 errhint("Pass the same classes array, such as profenrich.classes(name), in every row.")));
	for (int64 i = 0; i < b->n; i++)
	{
		ClassStateGrow(a);
		a->label[a->n] = b->label[i];
		memcpy(&a->probs[a->n * a->nclasses], &b->probs[i * b->nclasses],
			   sizeof(double) * b->nclasses);
		a->n++;
	}
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* class_metrics_serialize(internal) returns bytea: format, labels, count, rows */
Datum
class_metrics_serialize(PG_FUNCTION_ARGS)
{
	ClassMetricsState *s = (ClassMetricsState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, CLASS_METRICS_FORMAT);
	pq_sendint32(&buf, s->nclasses);
	for (int k = 0; k < s->nclasses; k++)
	{
		pq_sendint32(&buf, (int32) strlen(s->classes[k]));
		pq_sendbytes(&buf, s->classes[k], strlen(s->classes[k]));
	}
	pq_sendint64(&buf, s->n);
	pq_sendbytes(&buf, (const char *) s->label, sizeof(int) * s->n);
	pq_sendbytes(&buf, (const char *) s->probs, sizeof(double) * s->n * s->nclasses);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Refuse bytes that are not a class_metrics state */
static void
ClassStateBytesError(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("invalid class_metrics state"),
			 errhint("The state must come from profenrich.class_metrics of the same version.")));
}

/* class_metrics_deserialize(bytea, internal): checks the format, the labels and the exact length */
Datum
class_metrics_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcxt,
				old;
	StringInfoData buf;
	ClassMetricsState *s;
	char	  **labels;
	int			k;
	int64		n;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "class_metrics_deserialize called in non-aggregate context");
	BYTES_READER(&buf, b);
	if (buf.len < 8 || pq_getmsgint(&buf, 4) != CLASS_METRICS_FORMAT)
		ClassStateBytesError();
	k = pq_getmsgint(&buf, 4);
	if (k < 2 || k > 100)
		ClassStateBytesError();
	labels = palloc(sizeof(char *) * k);
	for (int j = 0; j < k; j++)
	{
		int32		len = pq_getmsgint(&buf, 4);

		if (len < 0 || len > buf.len - buf.cursor)
			ClassStateBytesError();
		labels[j] = pnstrdup(pq_getmsgbytes(&buf, len), len);
	}
	n = pq_getmsgint64(&buf);
	if (n < 0 || (Size) (buf.len - buf.cursor) != (Size) n * (sizeof(int) + sizeof(double) * k))
		ClassStateBytesError();
	old = MemoryContextSwitchTo(aggcxt);
	s = ClassStateNew(k, labels, n);
	pq_copymsgbytes(&buf, (char *) s->label, sizeof(int) * n);
	pq_copymsgbytes(&buf, (char *) s->probs, sizeof(double) * n * k);
	s->n = n;
	for (int64 i = 0; i < n; i++)
		if (s->label[i] < 0 || s->label[i] >= k)
			ClassStateBytesError();
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

/* class_metrics_final(internal) returns jsonb: NULL without rows */
Datum
class_metrics_final(PG_FUNCTION_ARGS)
{
	ClassMetricsState *s = PG_ARGISNULL(0) ? NULL : (ClassMetricsState *) PG_GETARG_POINTER(0);
	StringInfoData out;

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	MetricsMulticlassJson(&out, s->probs, s->label, s->n, s->nclasses, s->classes);
	appendStringInfo(&out, ", \"n\": " INT64_FORMAT "}", s->n);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
