/*-------------------------------------------------------------------------
 * report.c
 *	  profenrich.feature_report(source, target, features): how strongly
 *	  each feature relates to a target, from one scan of the source by the
 *	  combinable aggregate profenrich.feature_stats(names text[], VARIADIC
 *	  "any") (the target first, then the features).
 *
 * A binary target (boolean, numbers 0 and 1, or two texts) gets, per
 * feature, the univariate AUC and the information value: numbers by their
 * distribution in each class (an exact table of values while there are
 * at most VTABLE_MAX of them, then one quantile sketch per class),
 * categories by a table of their counts and positives.  A numeric target
 * gets Pearson's r (exact co-moments), Spearman's rho (on a bottom-k row
 * sample, exact up to its size) and, for categories, the correlation
 * ratio eta.  A numeric target is taken as binary while its values are 0
 * and 1; the first other value drops the class summaries.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "discovery.h"
#include "moments.h"
#include "profenrich.h"
#include "sketch.h"

#define FEATURE_STATS_FORMAT 1
#define PROGRESS_ROWS_MASK ((1 << 20) - 1)
#define PROGRESS_INTERVAL_MS 10000
#define REPORT_BINS 10
#define REPORT_SHOWN 50
#define REPORT_FEW_ROWS 30		/* rows per category below which a note warns */
#define SAMPLE_ROWS 20000
#define SAMPLE_BYTES (32 * 1024 * 1024)
#define REPORT_NCOLS 7

PG_FUNCTION_INFO_V1(feature_stats_trans);
PG_FUNCTION_INFO_V1(feature_stats_combine);
PG_FUNCTION_INFO_V1(feature_stats_serialize);
PG_FUNCTION_INFO_V1(feature_stats_deserialize);
PG_FUNCTION_INFO_V1(feature_stats_final);
PG_FUNCTION_INFO_V1(feature_report);

/* What the report holds of one feature */
typedef struct ReportFeature
{
	uint8		kind;			/* DiscKind */
	int64		missing;		/* rows with a target and no value */
	double		missing_sum;	/* their target sum (class-1 rows for a binary target) */
	/* numbers, binary target */
	bool		exact;			/* the table holds every value */
	QSketch		sk[2];			/* per class, once not exact */
	/* numbers: value -> (rows, class-1 rows); categories: value -> (rows, target sum) */
	VTable		table;
	bool		overflow;		/* categories: more than VTABLE_MAX values */
	/* numbers, numeric target */
	CoMoments	cm;
	/* blocks waiting (allocated on first use) */
	int			fill[2];
	double	   *vals[2];		/* numbers by class */
	int			pfill;
	double	   *px;				/* numbers with a numeric target: pairs */
	double	   *py;
} ReportFeature;

typedef struct ReportState
{
	int			nfeat;
	int64		rows;			/* every row */
	int64		nt;				/* rows with a target */
	uint8		tkind;			/* DiscKind of the target */
	bool		binary;			/* the target has two values (so far) */
	int64		class_n[2];
	int			nclasses;		/* texts and enums: classes seen */
	uint64		class_key[2];
	char	   *class_str[2];	/* texts: the classes' values */
	BlockMoments ym;			/* numeric target */
	RowSample	sample;			/* numeric target: [y, numbers...], NaN for NULL */
	int			nnum;			/* numbers among the features */
	ReportFeature *f;
	/* transition states only */
	uint8	   *conv;
	uint8		tconv;
	char	  **names;
	int			yfill;
	double	   *ybuf;
	double	   *row;
	uint64	   *keys;
	SketchScratch sc;
	TimestampTz last_notice;
} ReportState;

static const double ReportDeciles[REPORT_BINS - 1] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};

/* Bytes that cannot be a feature_stats state */
static void
ReportFail(const char *why)
{
	DiscStateError("feature_stats", why);
}

/* Rows a sample keeps: 20,000, fewer for very wide rows (32 MB) */
static int
SampleCap(int width)
{
	return Max(1000, Min(SAMPLE_ROWS, SAMPLE_BYTES / (int) (2 * sizeof(double) * width)));
}

/*
 * An empty state for a target kind and feature kinds, in the current
 * context; with_sample allocates a numeric target's row sample (a state
 * being read from bytes gets the one it reads).
 */
static ReportState *
ReportCreate(uint8 tkind, int nfeat, const uint8 *kinds, bool with_sample)
{
	ReportState *st = palloc0(sizeof(ReportState));

	st->nfeat = nfeat;
	st->tkind = tkind;
	st->binary = true;
	st->f = palloc0(sizeof(ReportFeature) * Max(nfeat, 1));
	for (int j = 0; j < nfeat; j++)
	{
		ReportFeature *f = &st->f[j];

		f->kind = kinds[j];
		f->exact = true;
		VTableInit(&f->table, kinds[j] == DK_TEXT);
		QSketchInit(&f->sk[0]);
		QSketchInit(&f->sk[1]);
		if (DISC_KIND_IS_NUMBER(kinds[j]))
			st->nnum++;
	}
	if (tkind == DK_NUMBER && with_sample)
		RowSampleInit(&st->sample, SampleCap(st->nnum + 1), st->nnum + 1);
	SketchScratchInit(&st->sc);
	st->last_notice = GetCurrentTimestamp();
	return st;
}

/* Error for a third value of a text target (name NULL when unknown, in combine) */
static void
TooManyClasses(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("target \"%s\" has more than two values and is not numeric", name ? name : "?"),
			 errhint("Report against a binary target (two values) or a numeric one; map the classes in a view.")));
}

/* A number feature leaves exact mode: the table's counts seed the class sketches */
static void
FeatureLeaveExact(ReportState *st, ReportFeature *f)
{
	VEntry	   *e;
	int			m = VTableSorted(&f->table, &e, NULL);
	uint64	   *k = palloc(sizeof(uint64) * Max(m, 1));
	int64	   *c0 = palloc(sizeof(int64) * Max(m, 1));
	int64	   *c1 = palloc(sizeof(int64) * Max(m, 1));

	for (int i = 0; i < m; i++)
	{
		k[i] = e[i].key;
		c1[i] = (int64) e[i].sum;
		c0[i] = e[i].n - c1[i];
	}
	QSketchInsertCounted(&f->sk[0], k, c0, m, &st->sc);
	QSketchInsertCounted(&f->sk[1], k, c1, m, &st->sc);
	pfree(k);
	pfree(c0);
	pfree(c1);
	pfree(e);
	VTableFree(&f->table);
	f->exact = false;
}

/*
 * Summarize a block of one class's values of a number feature: counts in
 * the exact table, or the values sorted into the class's sketch.
 */
static void
ClassBlock(ReportState *st, ReportFeature *f, int cls)
{
	int			m = f->fill[cls];
	double	   *x = f->vals[cls];
	uint64	   *keys = st->keys;
	VTable	   *t = &f->table;
	int			done = 0;

	if (m == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	for (; f->exact && done < m; done++)
	{
		uint64		k = KeyFromDouble(x[done]);
		VEntry	   *e;

		if (likely(t->nslots > 0))
		{
			int			s = VTableSlot(t, k);

			if (t->slots[s].key == k)
			{
				t->slots[s].n++;
				t->slots[s].sum += cls;
				continue;
			}
		}
		if (t->len == VTABLE_MAX)
		{
			FeatureLeaveExact(st, f);
			break;
		}
		e = VTableInsert(t, k, NULL, 0);
		e->n = 1;
		e->sum = cls;
	}
	if (done < m)
	{
		double		lo = x[done],
					hi = x[done];

		for (int i = done + 1; i < m; i++)
		{
			lo = x[i] < lo ? x[i] : lo;
			hi = x[i] > hi ? x[i] : hi;
		}
		DoubleSortKeys(x + done, m - done, keys + done, lo, hi);
		QSketchInsert(&f->sk[cls], 0, keys + done, m - done, &st->sc);
	}
	f->fill[cls] = 0;
}

/* Fold a feature's waiting pairs into its co-moments */
static void
PairBlock(ReportFeature *f)
{
	CoMomentsAdd(&f->cm, f->px, f->py, f->pfill);
	f->pfill = 0;
}

/* Fold the waiting target values into the target's moments */
static void
TargetBlock(ReportState *st)
{
	double		lo,
				hi;

	BlockMomentsAdd(&st->ym, st->ybuf, st->yfill, &lo, &hi);
	st->yfill = 0;
}

/* Summarize everything waiting in blocks */
static void
ReportFlush(ReportState *st)
{
	for (int j = 0; j < st->nfeat; j++)
	{
		ReportFeature *f = &st->f[j];

		if (st->binary && DISC_KIND_IS_NUMBER(f->kind))
		{
			ClassBlock(st, f, 0);
			ClassBlock(st, f, 1);
		}
		if (f->pfill > 0)
			PairBlock(f);
	}
	if (st->yfill > 0)
		TargetBlock(st);
}

/* A numeric target is not binary after all: drop the class summaries */
static void
LeaveBinary(ReportState *st)
{
	for (int j = 0; j < st->nfeat; j++)
	{
		ReportFeature *f = &st->f[j];

		if (!DISC_KIND_IS_NUMBER(f->kind))
			continue;
		VTableFree(&f->table);
		QSketchFree(&f->sk[0]);
		QSketchFree(&f->sk[1]);
		f->exact = false;
		f->fill[0] = f->fill[1] = 0;
	}
	st->binary = false;
	st->class_n[0] = st->class_n[1] = 0;
}

/* The blocks of a number feature, on first use */
static void
FeatureBlockAlloc(ReportState *st, ReportFeature *f)
{
	if (st->keys == NULL)
	{
		st->keys = palloc(sizeof(uint64) * SKETCH_BLOCK);
	}
	f->vals[0] = palloc(sizeof(double) * SKETCH_BLOCK);
	f->vals[1] = palloc(sizeof(double) * SKETCH_BLOCK);
	if (st->tkind == DK_NUMBER)
	{
		f->px = palloc(sizeof(double) * SKETCH_BLOCK);
		f->py = palloc(sizeof(double) * SKETCH_BLOCK);
	}
}

/* Add a pair (number, numeric target) to a feature's block of pairs */
static inline void
AddPair(ReportState *st, ReportFeature *f, double x, double y)
{
	if (unlikely(f->vals[0] == NULL))
		FeatureBlockAlloc(st, f);
	f->px[f->pfill] = x;
	f->py[f->pfill++] = y;
	if (unlikely(f->pfill == SKETCH_BLOCK))
		PairBlock(f);
}

/* Add a number to its class's block (binary target) */
static inline void
AddClassValue(ReportState *st, ReportFeature *f, double x, int cls)
{
	if (unlikely(f->vals[0] == NULL))
		FeatureBlockAlloc(st, f);
	f->vals[cls][f->fill[cls]++] = x;
	if (unlikely(f->fill[cls] == SKETCH_BLOCK))
		ClassBlock(st, f, cls);
}

/* Add a number of a row of class cls and target y */
static inline void
AddFeatureNumber(ReportState *st, ReportFeature *f, double x, int cls, double y)
{
	if (st->binary)
		AddClassValue(st, f, x, cls);
	if (st->tkind == DK_NUMBER)
		AddPair(st, f, x, y);
}

/* Count a category (with its display string) with target y */
static void
AddFeatureCategory(ReportFeature *f, uint64 key, const char *s, int len, double y, int64 n)
{
	VEntry	   *e;

	if (f->overflow)
		return;
	e = VTableFind(&f->table, key);
	if (e == NULL)
	{
		if (f->table.len == VTABLE_MAX)
		{
			f->overflow = true;
			VTableFree(&f->table);
			return;
		}
		if (s != NULL && len > DISC_SHOW_BYTES)
		{
			char	   *c = palloc(DISC_SHOW_BYTES + 4);
			int			clip = pg_mbcliplen(s, len, DISC_SHOW_BYTES);

			memcpy(c, s, clip);
			memcpy(c + clip, "...", 3);
			e = VTableInsert(&f->table, key, c, clip + 3);
			pfree(c);
		}
		else
			e = VTableInsert(&f->table, key, s, len);
	}
	e->n += n;
	e->sum += y;
}

/*
 * The class (0 or 1) and value of a non-NULL target; a text target's
 * classes are numbered as they are first seen.
 */
static int
TargetClass(ReportState *st, Datum d, double *y)
{
	uint64		key;
	const char *s = NULL;
	int			len = 0;
	Pointer		copy = NULL;

	switch (st->tkind)
	{
		case DK_BOOLEAN:
			*y = DatumGetBool(d) ? 1 : 0;
			return (int) *y;
		case DK_NUMBER:
			*y = DiscToDouble(d, (DiscConv) st->tconv);
			if (unlikely(!isfinite(*y)))
				DiscNotFinite(st->names[0]);
			if (st->binary && *y != 0 && *y != 1)
				LeaveBinary(st);
			return st->binary ? (int) *y : 0;
		case DK_ENUM:
			key = (uint64) DatumGetObjectId(d);
			break;
		default:
			key = DiscTextKey(d, (DiscConv) st->tconv, &s, &len, &copy);
			break;
	}
	for (int k = 0; k < st->nclasses; k++)
		if (st->class_key[k] == key)
		{
			if (copy)
				pfree(copy);
			*y = k;
			return k;
		}
	if (st->nclasses == 2)
		TooManyClasses(st->names[0]);
	st->class_key[st->nclasses] = key;
	if (s)
		st->class_str[st->nclasses] = pnstrdup(s, len <= DISC_SHOW_BYTES ? len :
											   pg_mbcliplen(s, len, DISC_SHOW_BYTES));
	if (copy)
		pfree(copy);
	*y = st->nclasses;
	return st->nclasses++;
}

/* The transition state of the first row: the types of the target and features */
static ReportState *
ReportStart(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	int			n = PG_NARGS() - 2;
	char	  **names = DiscArgNames(fcinfo, n, aggcxt);
	DiscConv   *conv = palloc(sizeof(DiscConv) * n);
	uint8	   *kinds = palloc(sizeof(uint8) * n);
	ReportState *st;

	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature_stats needs a target and at least one feature"),
				 errhint("Pass the target first, then the features.")));
	DiscBindArgs(fcinfo, 2, n, conv, kinds, names, "feature_stats");
	if (kinds[0] == DK_DATE || kinds[0] == DK_TIMESTAMP)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target \"%s\" is a date or timestamp", names[0]),
				 errhint("Report against a boolean, numeric, text or enum target.")));
	st = ReportCreate(kinds[0], n - 1, kinds + 1, true);
	st->names = names;
	st->tconv = (uint8) conv[0];
	st->conv = palloc(sizeof(uint8) * n);
	for (int i = 0; i < n; i++)
		st->conv[i] = (uint8) conv[i];
	if (st->tkind == DK_NUMBER)
	{
		st->ybuf = palloc(sizeof(double) * SKETCH_BLOCK);
		st->row = palloc(sizeof(double) * (st->nnum + 1));
	}
	return st;
}

/* Offer the row just read (in st->row) to the sample, by a hash of its values */
static void
OfferSampleRow(ReportState *st)
{
	uint64		h = KeyMix(KeyFromDouble(st->row[0]));

	for (int k = 1; k <= st->nnum; k++)
		h = KeyMix(h ^ (isnan(st->row[k]) ? UINT64CONST(0x5bd1e995) : KeyFromDouble(st->row[k])));
	RowSampleOffer(&st->sample, h, st->row);
}

/* Add the features of a row with a target */
static void
AddFeatures(ReportState *st, FunctionCallInfo fcinfo, int cls, double y)
{
	int			slot = 0;

	for (int j = 0; j < st->nfeat; j++)
	{
		ReportFeature *f = &st->f[j];
		NullableDatum *a = &fcinfo->args[3 + j];
		DiscConv	conv = (DiscConv) st->conv[j + 1];
		bool		number = DISC_KIND_IS_NUMBER(f->kind);

		if (a->isnull)
		{
			f->missing++;
			f->missing_sum += y;
			if (number && st->row)
				st->row[++slot] = NAN;
			continue;
		}
		if (number)
		{
			double		x = DiscToDouble(a->value, conv);

			if (unlikely(!isfinite(x)))
				DiscNotFinite(st->names[j + 1]);
			AddFeatureNumber(st, f, x, cls, y);
			if (st->row)
				st->row[++slot] = x;
		}
		else if (conv == DC_ENUM)
			AddFeatureCategory(f, (uint64) DatumGetObjectId(a->value), NULL, 0, y, 1);
		else
		{
			const char *s;
			int			len;
			Pointer		copy;
			uint64		key = DiscTextKey(a->value, conv, &s, &len, &copy);

			AddFeatureCategory(f, key, s, len, y, 1);
			if (copy)
				pfree(copy);
		}
	}
}

/* A NOTICE at most every 10 seconds of a long pass */
static void
ReportProgress(ReportState *st)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!TimestampDifferenceExceeds(st->last_notice, now, PROGRESS_INTERVAL_MS))
		return;
	ereport(NOTICE,
			(errmsg("profenrich: feature report pass has read " INT64_FORMAT " rows", st->rows)));
	st->last_notice = now;
}

/*
 * feature_stats_trans(internal, names text[], VARIADIC "any"): the target
 * and then the features of one row; rows without a target only count.
 */
Datum
feature_stats_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ReportState *st;
	double		y;
	int			cls;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "feature_stats_trans called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	st = PG_ARGISNULL(0) ? ReportStart(fcinfo, aggcxt) : (ReportState *) PG_GETARG_POINTER(0);
	if (unlikely((++st->rows & PROGRESS_ROWS_MASK) == 0))
		ReportProgress(st);
	if (!fcinfo->args[2].isnull)
	{
		cls = TargetClass(st, fcinfo->args[2].value, &y);
		st->nt++;
		if (st->binary)
			st->class_n[cls]++;
		if (st->tkind == DK_NUMBER)
		{
			st->ybuf[st->yfill++] = y;
			if (st->yfill == SKETCH_BLOCK)
				TargetBlock(st);
			st->row[0] = y;
		}
		AddFeatures(st, fcinfo, cls, y);
		if (st->tkind == DK_NUMBER)
			OfferSampleRow(st);
	}
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

/*
 * How b's classes map onto a's (texts and enums, classes numbered as first
 * seen by each state); true when they are swapped.
 */
static bool
AlignClasses(ReportState *a, const ReportState *b)
{
	int			map[2] = {0, 1};

	if (a->tkind != DK_TEXT && a->tkind != DK_ENUM)
		return false;
	for (int k = 0; k < b->nclasses; k++)
	{
		int			m = -1;

		for (int i = 0; i < a->nclasses; i++)
			if (a->class_key[i] == b->class_key[k])
				m = i;
		if (m < 0)
		{
			if (a->nclasses == 2)
				TooManyClasses(a->names ? a->names[0] : NULL);
			m = a->nclasses++;
			a->class_key[m] = b->class_key[k];
			a->class_str[m] = b->class_str[k] ? pstrdup(b->class_str[k]) : NULL;
		}
		map[k] = m;
	}
	return map[0] == 1 || (b->nclasses == 2 && map[1] == 0);
}

/* Merge number feature b into a (binary target), classes swapped when flip */
static void
MergeClassSummaries(ReportState *st, ReportFeature *a, const ReportFeature *b, bool flip)
{
	if (a->exact && b->exact)
	{
		int			fresh = 0;

		for (int s = 0; s < b->table.nslots; s++)
			if (b->table.slots[s].key != 0 && !VTableFind(&a->table, b->table.slots[s].key))
				fresh++;
		if (a->table.len + fresh <= VTABLE_MAX)
		{
			for (int s = 0; s < b->table.nslots; s++)
			{
				const VEntry *e = &b->table.slots[s];
				VEntry	   *g;

				if (e->key == 0)
					continue;
				g = VTableFind(&a->table, e->key);
				if (g == NULL)
					g = VTableInsert(&a->table, e->key, NULL, 0);
				g->n += e->n;
				g->sum += flip ? e->n - e->sum : e->sum;
			}
			return;
		}
	}
	if (a->exact)
		FeatureLeaveExact(st, a);
	if (b->exact)
	{
		VEntry	   *e;
		int			m = VTableSorted(&b->table, &e, NULL);
		uint64	   *k = palloc(sizeof(uint64) * Max(m, 1));
		int64	   *c[2];

		c[0] = palloc(sizeof(int64) * Max(m, 1));
		c[1] = palloc(sizeof(int64) * Max(m, 1));
		for (int i = 0; i < m; i++)
		{
			k[i] = e[i].key;
			c[1][i] = (int64) e[i].sum;
			c[0][i] = e[i].n - c[1][i];
		}
		QSketchInsertCounted(&a->sk[flip ? 1 : 0], k, c[0], m, &st->sc);
		QSketchInsertCounted(&a->sk[flip ? 0 : 1], k, c[1], m, &st->sc);
	}
	else
	{
		QSketchMerge(&a->sk[flip ? 1 : 0], &b->sk[0], &st->sc);
		QSketchMerge(&a->sk[flip ? 0 : 1], &b->sk[1], &st->sc);
	}
}

/* Merge category feature b into a; classes swapped when flip */
static void
MergeCategories(ReportFeature *a, const ReportFeature *b, bool flip)
{
	if (b->overflow && !a->overflow)
	{
		a->overflow = true;
		VTableFree(&a->table);
	}
	for (int s = 0; !a->overflow && s < b->table.nslots; s++)
	{
		const VEntry *e = &b->table.slots[s];
		const char *str;

		if (e->key == 0)
			continue;
		str = b->table.strs ? b->table.strs[s] : NULL;
		AddFeatureCategory(a, e->key, str, str ? strlen(str) : 0,
						   flip ? e->n - e->sum : e->sum, e->n);
	}
}

/* Fold feature b into a; b is not modified */
static void
MergeFeature(ReportState *st, ReportFeature *a, const ReportFeature *b, bool flip, bool binary)
{
	a->missing += b->missing;
	a->missing_sum += flip ? b->missing - b->missing_sum : b->missing_sum;
	if (!DISC_KIND_IS_NUMBER(a->kind))
	{
		MergeCategories(a, b, flip);
		return;
	}
	if (binary)
		MergeClassSummaries(st, a, b, flip);
	CoMomentsMerge(&a->cm, &b->cm);
	if (binary)
		for (int c = 0; c < 2; c++)
			for (int i = 0; i < b->fill[c]; i++)
				AddClassValue(st, a, b->vals[c][i], flip ? 1 - c : c);
	for (int i = 0; i < b->pfill; i++)
		AddPair(st, a, b->px[i], b->py[i]);
}

/* feature_stats_combine(internal, internal): b is not modified */
Datum
feature_stats_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ReportState *a,
			   *b;
	Datum		result;
	bool		flip;

	if (AggCombineDone(fcinfo, "feature_stats_combine", &aggcxt, &result))
		return result;
	b = (ReportState *) PG_GETARG_POINTER(1);
	old = MemoryContextSwitchTo(aggcxt);
	if (PG_ARGISNULL(0))
	{
		uint8	   *kinds = palloc(sizeof(uint8) * Max(b->nfeat, 1));

		for (int j = 0; j < b->nfeat; j++)
			kinds[j] = b->f[j].kind;
		a = ReportCreate(b->tkind, b->nfeat, kinds, true);
	}
	else
		a = (ReportState *) PG_GETARG_POINTER(0);
	if (a->nfeat != b->nfeat || a->tkind != b->tkind)
		elog(ERROR, "cannot combine feature_stats states of different shapes");
	flip = AlignClasses(a, b);
	if (a->binary && !b->binary)
		LeaveBinary(a);
	for (int j = 0; j < a->nfeat; j++)
	{
		if (a->f[j].kind != b->f[j].kind)
			elog(ERROR, "cannot combine feature_stats states of different feature kinds");
		MergeFeature(a, &a->f[j], &b->f[j], flip, a->binary);
	}
	if (a->binary)
	{
		a->class_n[flip ? 1 : 0] += b->class_n[0];
		a->class_n[flip ? 0 : 1] += b->class_n[1];
	}
	BlockMomentsMerge(&a->ym, &b->ym);
	for (int i = 0; i < b->yfill; i++)
	{
		if (a->ybuf == NULL)
			a->ybuf = palloc(sizeof(double) * SKETCH_BLOCK);
		a->ybuf[a->yfill++] = b->ybuf[i];
		if (a->yfill == SKETCH_BLOCK)
			TargetBlock(a);
	}
	if (a->tkind == DK_NUMBER)
		RowSampleMerge(&a->sample, &b->sample);
	a->rows += b->rows;
	a->nt += b->nt;
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* Write a value table: count, then key, rows, sum (and strings) per entry */
static void
TableWrite(StringInfo buf, const VTable *t)
{
	pq_sendint32(buf, t->len);
	for (int s = 0; s < t->nslots; s++)
	{
		if (t->slots[s].key == 0)
			continue;
		pq_sendint64(buf, t->slots[s].key);
		pq_sendint64(buf, t->slots[s].n);
		pq_sendfloat8(buf, t->slots[s].sum);
		if (t->keep_strings)
		{
			int			len = strlen(t->strs[s]);

			pq_sendint32(buf, len);
			pq_sendbytes(buf, t->strs[s], len);
		}
	}
}

/* Write one feature: missing counts, then its class summaries or table, and co-moments */
static void
FeatureWrite(StringInfo buf, const ReportState *st, ReportFeature *f)
{
	pq_sendint64(buf, f->missing);
	pq_sendfloat8(buf, f->missing_sum);
	if (!DISC_KIND_IS_NUMBER(f->kind))
	{
		pq_sendbyte(buf, f->overflow ? 1 : 0);
		if (!f->overflow)
			TableWrite(buf, &f->table);
		return;
	}
	if (st->binary)
	{
		pq_sendbyte(buf, f->exact ? 1 : 0);
		if (f->exact)
			TableWrite(buf, &f->table);
		else
		{
			QSketchWrite(buf, &f->sk[0]);
			QSketchWrite(buf, &f->sk[1]);
		}
	}
	if (st->tkind == DK_NUMBER)
	{
		pq_sendfloat8(buf, f->cm.n);
		pq_sendfloat8(buf, f->cm.mx);
		pq_sendfloat8(buf, f->cm.my);
		pq_sendfloat8(buf, f->cm.cxx);
		pq_sendfloat8(buf, f->cm.cyy);
		pq_sendfloat8(buf, f->cm.cxy);
	}
}

/*
 * The state as bytes, after summarizing what waits in blocks: header
 * (counts, target kind, feature kinds, classes, target moments), the
 * features, then the Spearman sample of a numeric target.
 */
static bytea *
ReportWrite(ReportState *st)
{
	StringInfoData buf;

	ReportFlush(st);
	pq_begintypsend(&buf);
	pq_sendint32(&buf, FEATURE_STATS_FORMAT);
	pq_sendint32(&buf, st->nfeat);
	pq_sendint64(&buf, st->rows);
	pq_sendint64(&buf, st->nt);
	pq_sendbyte(&buf, st->tkind);
	pq_sendbyte(&buf, st->binary ? 1 : 0);
	for (int j = 0; j < st->nfeat; j++)
		pq_sendbyte(&buf, st->f[j].kind);
	pq_sendint64(&buf, st->class_n[0]);
	pq_sendint64(&buf, st->class_n[1]);
	pq_sendint32(&buf, st->nclasses);
	for (int k = 0; k < st->nclasses; k++)
	{
		int			len = st->class_str[k] ? strlen(st->class_str[k]) : -1;

		pq_sendint64(&buf, st->class_key[k]);
		pq_sendint32(&buf, len);
		if (len > 0)
			pq_sendbytes(&buf, st->class_str[k], len);
	}
	pq_sendfloat8(&buf, st->ym.n);
	pq_sendfloat8(&buf, st->ym.mean);
	pq_sendfloat8(&buf, st->ym.m2);
	for (int j = 0; j < st->nfeat; j++)
		FeatureWrite(&buf, st, &st->f[j]);
	if (st->tkind == DK_NUMBER)
		RowSampleWrite(&buf, &st->sample);
	return pq_endtypsend(&buf);
}

/* A target sum of n binary rows must be a whole number in [0, n] */
static bool
BadClassSum(double sum, int64 n, bool binary)
{
	if (!isfinite(sum))
		return true;
	return binary && (sum < 0 || sum > n || sum != floor(sum));
}

/* Read and check a table of rows rows in all (binary: sums are class-1 counts) */
static void
TableRead(StringInfo buf, VTable *t, int64 rows, bool binary, bool number, bool oids)
{
	int			len;
	int64		total = 0;

	SketchNeed(buf, 4, ReportFail);
	len = pq_getmsgint(buf, 4);
	if (len < 0 || len > VTABLE_MAX)
		ReportFail("bad table length");
	for (int i = 0; i < len; i++)
	{
		uint64		key;
		int64		n;
		double		sum;
		char	   *str = NULL;
		int			slen = 0;
		VEntry	   *e;

		SketchNeed(buf, 24, ReportFail);
		key = pq_getmsgint64(buf);
		n = pq_getmsgint64(buf);
		sum = pq_getmsgfloat8(buf);
		if (key == 0 || n < 1 || n > rows || VTableFind(t, key) != NULL ||
			BadClassSum(sum, n, binary) || (number && !isfinite(KeyToDouble(key))) ||
			(oids && key > PG_UINT32_MAX))
			ReportFail("bad table entry");
		if (t->keep_strings)
		{
			SketchNeed(buf, 4, ReportFail);
			slen = pq_getmsgint(buf, 4);
			if (slen < 0 || slen > DISC_SHOW_BYTES + 3)
				ReportFail("bad string length");
			SketchNeed(buf, slen, ReportFail);
			str = (char *) pq_getmsgbytes(buf, slen);
			if (!pg_verify_mbstr(GetDatabaseEncoding(), str, slen, true))
				ReportFail("invalid string");
		}
		e = VTableInsert(t, key, str, slen);
		e->n = n;
		e->sum = sum;
		total += n;
		if (total > rows)
			ReportFail("table counts exceed the rows");
	}
	if (total != rows)
		ReportFail("table counts do not add up");
}

/* Read and check a text or enum target's classes: distinct keys, valid labels */
static void
ReadClasses(StringInfo buf, ReportState *st)
{
	for (int k = 0; k < st->nclasses; k++)
	{
		int			len;

		SketchNeed(buf, 12, ReportFail);
		st->class_key[k] = pq_getmsgint64(buf);
		len = pq_getmsgint(buf, 4);
		if (st->class_key[k] == 0 || (k == 1 && st->class_key[1] == st->class_key[0]) ||
			(st->tkind == DK_ENUM ? (len != -1 || st->class_key[k] > PG_UINT32_MAX) :
			 (len < 0 || len > DISC_SHOW_BYTES)))
			ReportFail("bad class");
		if (len >= 0)
		{
			SketchNeed(buf, len, ReportFail);
			st->class_str[k] = pnstrdup(pq_getmsgbytes(buf, len), len);
			if (!pg_verify_mbstr(GetDatabaseEncoding(), st->class_str[k], len, true))
				ReportFail("invalid class string");
		}
	}
}

/* Read and check the header: counts, target and feature kinds, classes, target moments */
static ReportState *
ReportReadHeader(StringInfo buf)
{
	ReportState *st;
	int			nfeat,
				nclasses;
	int64		rows,
				nt,
				cn[2];
	uint8		tkind,
				binary,
				kinds[DISC_ARGS_PER_CALL];

	SketchNeed(buf, 4 + 4 + 8 + 8 + 2, ReportFail);
	if (pq_getmsgint(buf, 4) != FEATURE_STATS_FORMAT)
		ReportFail("unknown format version");
	nfeat = pq_getmsgint(buf, 4);
	rows = pq_getmsgint64(buf);
	nt = pq_getmsgint64(buf);
	tkind = pq_getmsgbyte(buf);
	binary = pq_getmsgbyte(buf);
	if (nfeat < 1 || nfeat >= DISC_ARGS_PER_CALL)
		ReportFail("bad feature count");
	SketchNeed(buf, nfeat + 16 + 4, ReportFail);
	for (int j = 0; j < nfeat; j++)
	{
		kinds[j] = pq_getmsgbyte(buf);
		if (!DISC_KIND_VALID(kinds[j]))
			ReportFail("bad feature kind");
	}
	cn[0] = pq_getmsgint64(buf);
	cn[1] = pq_getmsgint64(buf);
	nclasses = pq_getmsgint(buf, 4);
	if (rows < 1 || nt < 0 || nt > rows ||
		!(tkind == DK_NUMBER || tkind == DK_BOOLEAN || tkind == DK_TEXT || tkind == DK_ENUM) ||
		binary > 1 || (binary == 0 && tkind != DK_NUMBER) || cn[0] < 0 || cn[1] < 0 ||
		(binary ? cn[0] + cn[1] != nt : cn[0] + cn[1] != 0) || nclasses < 0 || nclasses > 2 ||
		((tkind == DK_TEXT || tkind == DK_ENUM) ?
		 nclasses < (cn[0] > 0) + (cn[1] > 0) || (cn[1] > 0 && nclasses < 2) : nclasses != 0))
		ReportFail("bad header");
	st = ReportCreate(tkind, nfeat, kinds, false);
	st->rows = rows;
	st->nt = nt;
	st->binary = binary == 1;
	st->class_n[0] = cn[0];
	st->class_n[1] = cn[1];
	st->nclasses = nclasses;
	ReadClasses(buf, st);
	SketchNeed(buf, 24, ReportFail);
	st->ym.n = pq_getmsgfloat8(buf);
	st->ym.mean = pq_getmsgfloat8(buf);
	st->ym.m2 = pq_getmsgfloat8(buf);
	if ((tkind == DK_NUMBER ? st->ym.n != nt : st->ym.n != 0) ||
		!isfinite(st->ym.mean) || !isfinite(st->ym.m2) || st->ym.m2 < 0)
		ReportFail("bad target moments");
	return st;
}

/* Read and check one feature */
static void
FeatureRead(StringInfo buf, ReportState *st, ReportFeature *f)
{
	int64		rows;

	SketchNeed(buf, 8 + 8, ReportFail);
	f->missing = pq_getmsgint64(buf);
	f->missing_sum = pq_getmsgfloat8(buf);
	if (f->missing < 0 || f->missing > st->nt || BadClassSum(f->missing_sum, f->missing, st->binary))
		ReportFail("bad missing counts");
	rows = st->nt - f->missing;
	if (!DISC_KIND_IS_NUMBER(f->kind))
	{
		SketchNeed(buf, 1, ReportFail);
		f->overflow = pq_getmsgbyte(buf) != 0;
		if (!f->overflow)
			TableRead(buf, &f->table, rows, st->binary, false, f->kind == DK_ENUM);
		return;
	}
	if (st->binary)
	{
		SketchNeed(buf, 1, ReportFail);
		f->exact = pq_getmsgbyte(buf) != 0;
		if (f->exact)
			TableRead(buf, &f->table, rows, true, true, false);
		else
		{
			QSketchRead(buf, &f->sk[0], ReportFail);
			QSketchRead(buf, &f->sk[1], ReportFail);
			if (f->sk[0].n + f->sk[1].n != (uint64) rows || rows <= VTABLE_MAX ||
				f->sk[0].n > (uint64) st->class_n[0] || f->sk[1].n > (uint64) st->class_n[1])
				ReportFail("sketch weights do not add up");
			for (int c = 0; c < 2; c++)
				for (int l = 0; l < f->sk[c].nlevels; l++)
					for (int i = 0; i < f->sk[c].len[l]; i++)
						if (!isfinite(KeyToDouble(f->sk[c].items[l][i])))
							ReportFail("bad sketch value");
		}
	}
	else
		f->exact = false;
	if (st->tkind == DK_NUMBER)
	{
		SketchNeed(buf, 48, ReportFail);
		f->cm.n = pq_getmsgfloat8(buf);
		f->cm.mx = pq_getmsgfloat8(buf);
		f->cm.my = pq_getmsgfloat8(buf);
		f->cm.cxx = pq_getmsgfloat8(buf);
		f->cm.cyy = pq_getmsgfloat8(buf);
		f->cm.cxy = pq_getmsgfloat8(buf);
		if (f->cm.n != rows || !isfinite(f->cm.mx) || !isfinite(f->cm.my) ||
			!isfinite(f->cm.cxx) || !isfinite(f->cm.cyy) || !isfinite(f->cm.cxy) ||
			f->cm.cxx < 0 || f->cm.cyy < 0)
			ReportFail("bad co-moments");
	}
}

/* Read and check the Spearman sample: its count first, then what RowSampleRead checks */
static void
SampleRead(StringInfo buf, ReportState *st)
{
	int			width = st->nnum + 1;
	int			count;

	SketchNeed(buf, 4, ReportFail);
	count = pq_getmsgint(buf, 4);
	buf->cursor -= 4;
	if (count < 0 || count > SampleCap(width) || count > st->nt)
		ReportFail("bad sample size");
	SketchNeed(buf, 4 + (Size) count * (sizeof(uint64) + sizeof(double) * width), ReportFail);
	RowSampleRead(buf, &st->sample, SampleCap(width), width);
	for (int i = 0; i < count; i++)
	{
		const double *r = &st->sample.rows[(size_t) i * width];

		if (!isfinite(r[0]) || (st->binary && r[0] != 0 && r[0] != 1))
			ReportFail("bad sample target");
		for (int k = 1; k < width; k++)
			if (isinf(r[k]))
				ReportFail("bad sample value");
	}
}

/* Rebuild and check a state from bytes */
static ReportState *
ReportRead(bytea *bytes)
{
	StringInfoData buf;
	ReportState *st;

	BYTES_READER(&buf, bytes);
	st = ReportReadHeader(&buf);
	for (int j = 0; j < st->nfeat; j++)
		FeatureRead(&buf, st, &st->f[j]);
	if (st->tkind == DK_NUMBER)
		SampleRead(&buf, st);
	if (buf.cursor != buf.len)
		ReportFail("trailing bytes");
	return st;
}

/* feature_stats_serialize(internal) returns bytea */
Datum
feature_stats_serialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	bytea	   *b;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "feature_stats_serialize called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	b = ReportWrite((ReportState *) PG_GETARG_POINTER(0));
	MemoryContextSwitchTo(old);
	PG_RETURN_BYTEA_P(b);
}

/* feature_stats_deserialize(bytea, internal) returns internal */
Datum
feature_stats_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ReportState *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "feature_stats_deserialize called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	st = ReportRead(PG_GETARG_BYTEA_PP(0));
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

/* feature_stats_final(internal) returns the state as bytea, NULL for no rows */
Datum
feature_stats_final(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	bytea	   *b;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "feature_stats_final called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	b = ReportWrite((ReportState *) PG_GETARG_POINTER(0));
	MemoryContextSwitchTo(old);
	PG_RETURN_BYTEA_P(b);
}

/* ---- the report ---- */

/* One result row before sorting */
typedef struct ReportRow
{
	const DiscColumn *col;
	bool		has_strength;
	double		strength;
	double		missing_share;
	const char *measure;
	bool		has_iv;
	double		iv;
	char	   *detail;
} ReportRow;

/* The positive class of a binary target (its index) and its JSON form */
typedef struct Positive
{
	int			index;
	char	   *json;
} Positive;

/*
 * The positive class: true for booleans, 1 for numbers; for two texts or
 * enum labels the less frequent one, and on a tie the one that sorts last
 * (byte order).
 */
static Positive
PositiveClass(const ReportState *st, const DiscColumn *target)
{
	Positive	p;
	StringInfoData out;
	const char *label[2];

	initStringInfo(&out);
	if (st->tkind == DK_BOOLEAN || st->tkind == DK_NUMBER)
	{
		p.index = 1;
		appendStringInfoString(&out, st->tkind == DK_BOOLEAN ? "true" : "1");
		p.json = out.data;
		return p;
	}
	for (int k = 0; k < 2; k++)
		label[k] = st->tkind == DK_ENUM ? DiscEnumLabel(target->typid, (Oid) st->class_key[k]) :
			st->class_str[k];
	if (st->class_n[0] != st->class_n[1])
		p.index = st->class_n[0] < st->class_n[1] ? 0 : 1;
	else
		p.index = strcmp(label[0], label[1]) > 0 ? 0 : 1;
	escape_json(&out, label[p.index]);
	p.json = out.data;
	return p;
}

/* Weight of evidence of a bin (empty cells count 0.5) and its information-value term */
static double
Woe(double neg, double pos, double N, double P, double *iv_term)
{
	double		g = (neg > 0 ? neg : 0.5) / N,
				b = (pos > 0 ? pos : 0.5) / P,
				w = log(g / b);

	*iv_term = (g - b) * w;
	return w;
}

/* Append "key": number to a JSON object under construction */
static void
JsonKeyNumber(StringInfo out, const char *key, double v)
{
	appendStringInfo(out, ", \"%s\": ", key);
	DiscJsonNumber(out, v);
}

/*
 * A number feature's items: each distinct value with its negative (w0)
 * and positive (w1) weights, from the exact table or the class sketches.
 */
static int
NumberItems(const ReportFeature *f, int positive, WItem **items)
{
	int			m;

	if (f->exact)
	{
		VEntry	   *e;

		m = VTableSorted(&f->table, &e, NULL);
		*items = palloc(sizeof(WItem) * Max(m, 1));
		for (int i = 0; i < m; i++)
		{
			(*items)[i].key = e[i].key;
			(*items)[i].w1 = e[i].sum;
			(*items)[i].w0 = (double) e[i].n - e[i].sum;
		}
	}
	else
		m = WItemsFromSketches(&f->sk[0], &f->sk[1], items);
	if (positive == 0)
		for (int i = 0; i < m; i++)
		{
			double		t = (*items)[i].w0;

			(*items)[i].w0 = (*items)[i].w1;
			(*items)[i].w1 = t;
		}
	return m;
}

/*
 * Mann-Whitney AUC of sorted items (score = the key, ties count half):
 * the share of (positive, negative) pairs where the positive is higher.
 */
static double
ItemsAuc(const WItem *it, int m, double *P, double *N)
{
	double		below = 0,
				s = 0;

	*P = *N = 0;
	for (int i = 0; i < m; i++)
	{
		s += it[i].w1 * (below + 0.5 * it[i].w0);
		below += it[i].w0;
		*P += it[i].w1;
		*N += it[i].w0;
	}
	return (*P > 0 && *N > 0) ? s / (*P * *N) : NAN;
}

/* Append one bin (or category) object: its counts, rate and weight of evidence */
static double
AppendBin(StringInfo out, double n, double pos, double N, double P)
{
	double		term;
	double		w = Woe(n - pos, pos, N, P, &term);

	appendStringInfo(out, "\"n\": %.0f, \"positives\": %.0f", n, pos);
	JsonKeyNumber(out, "rate", pos / n);
	JsonKeyNumber(out, "woe", w);
	appendStringInfoChar(out, '}');
	return term;
}

/*
 * The equal-frequency bins of a number feature: edges at the deciles as
 * percentile_disc takes them (the value of 1-based rank ceil(q n)),
 * repeated edges merged, bins (previous edge, edge] and a last one above
 * the last edge; appended to the detail, their information value returned.
 */
static double
NumberBins(StringInfo out, const WItem *it, int m, const DiscColumn *col, double N, double P)
{
	double		W = 0,
				cum = 0,
				prev = 0,
				prevpos = 0,
				pos = 0,
				iv = 0;
	int			q = 0,
				nb = 0;

	for (int i = 0; i < m; i++)
		W += it[i].w0 + it[i].w1;
	appendStringInfoString(out, ", \"bins\": [");
	for (int i = 0; i < m; i++)
	{
		bool		edge = false;

		cum += it[i].w0 + it[i].w1;
		pos += it[i].w1;
		while (q < REPORT_BINS - 1 && cum >= Max(1.0, (double) (int64) ceil(ReportDeciles[q] * (int64) W)))
		{
			edge = true;
			q++;
		}
		if (!edge && i < m - 1)
			continue;
		appendStringInfoString(out, nb++ > 0 ? ", {\"upper\": " : "{\"upper\": ");
		if (edge)
			DiscJsonValue(out, col->kind, col->typid, KeyToDouble(it[i].key));
		else
			appendStringInfoString(out, "null");
		appendStringInfoString(out, ", ");
		iv += AppendBin(out, cum - prev, pos - prevpos, N, P);
		prev = cum;
		prevpos = pos;
	}
	appendStringInfoChar(out, ']');
	return iv;
}

/* The report of a number feature against a binary target */
static void
NumberBinaryRow(ReportRow *row, const ReportState *st, const ReportFeature *f, Positive p)
{
	WItem	   *it;
	int			m = NumberItems(f, p.index, &it);
	double		Pn,
				Nn,
				auc = ItemsAuc(it, m, &Pn, &Nn);
	double		P = st->class_n[p.index],
				N = st->class_n[1 - p.index];
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfo(&out, "{\"positive\": %s", p.json);
	JsonKeyNumber(&out, "auc", auc);
	appendStringInfo(&out, ", \"n\": %.0f, \"exact\": %s", Pn + Nn, f->exact ? "true" : "false");
	if (!f->exact)
	{
		double		e0 = f->sk[p.index == 1 ? 0 : 1].err,
					e1 = f->sk[p.index].err;

		appendStringInfo(&out, ", \"rank_error\": {\"negatives\": %.0f, \"positives\": %.0f}", e0, e1);
		JsonKeyNumber(&out, "auc_error", (Nn > 0 ? e0 / Nn : 0) + (Pn > 0 ? e1 / Pn : 0));
	}
	row->iv = m > 0 ? NumberBins(&out, it, m, row->col, N, P) : 0;
	if (f->missing > 0)
	{
		double		mpos = p.index == 1 ? f->missing_sum : f->missing - f->missing_sum;

		appendStringInfoString(&out, ", \"missing\": {");
		row->iv += AppendBin(&out, f->missing, mpos, N, P);
	}
	appendStringInfoChar(&out, '}');
	row->has_strength = !isnan(auc);
	row->strength = isnan(auc) ? 0 : Max(auc, 1 - auc);
	row->has_iv = true;
	row->measure = "auc";
	row->detail = out.data;
}

/* A category with its counts, for the category reports */
typedef struct Category
{
	const char *label;			/* NULL for (missing) */
	double		n;
	double		sum;			/* positives, or the target sum */
	double		rate;			/* positive rate, or target mean */
} Category;

/* Categories by rate ascending */
static int
CategoryRateCmp(const void *a, const void *b)
{
	double		x = ((const Category *) a)->rate,
				y = ((const Category *) b)->rate;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Categories by rows descending, then label (missing last) */
static int
CategoryRowsCmp(const void *a, const void *b)
{
	const Category *x = a,
			   *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	if (x->label == NULL || y->label == NULL)
		return (x->label == NULL) - (y->label == NULL);
	return strcmp(x->label, y->label);
}

/* A category feature's categories, (missing) included when there are such rows */
static int
Categories(const ReportFeature *f, const DiscColumn *col, int positive, bool binary, Category **out)
{
	Category   *c = palloc(sizeof(Category) * (f->table.len + 1));
	int			m = 0;

	for (int s = 0; s < f->table.nslots; s++)
	{
		const VEntry *e = &f->table.slots[s];

		if (e->key == 0)
			continue;
		c[m].label = f->kind == DK_ENUM ? DiscEnumLabel(col->typid, (Oid) e->key) : f->table.strs[s];
		c[m].n = e->n;
		c[m].sum = (binary && positive == 0) ? e->n - e->sum : e->sum;
		m++;
	}
	if (f->missing > 0)
	{
		c[m].label = NULL;
		c[m].n = f->missing;
		c[m].sum = (binary && positive == 0) ? f->missing - f->missing_sum : f->missing_sum;
		m++;
	}
	for (int i = 0; i < m; i++)
		c[i].rate = c[i].sum / c[i].n;
	*out = c;
	return m;
}

/* Append the first REPORT_SHOWN categories by rows; binary adds positives and WoE */
static double
AppendCategories(StringInfo out, Category *c, int m, bool binary, double N, double P)
{
	double		iv = 0;

	qsort(c, m, sizeof(Category), CategoryRowsCmp);
	appendStringInfo(out, ", \"categories\": %d, \"levels\": [", m);
	for (int i = 0; i < m; i++)
	{
		double		term;

		if (binary && i >= REPORT_SHOWN)
		{
			Woe(c[i].n - c[i].sum, c[i].sum, N, P, &term);
			iv += term;
			continue;
		}
		if (i >= REPORT_SHOWN)
			break;
		appendStringInfoString(out, i > 0 ? ", {\"value\": " : "{\"value\": ");
		if (c[i].label)
			escape_json(out, c[i].label);
		else
			appendStringInfoString(out, "null");
		appendStringInfoString(out, ", ");
		if (binary)
			iv += AppendBin(out, c[i].n, c[i].sum, N, P);
		else
		{
			appendStringInfo(out, "\"n\": %.0f", c[i].n);
			JsonKeyNumber(out, "mean", c[i].rate);
			appendStringInfoChar(out, '}');
		}
	}
	appendStringInfoChar(out, ']');
	return iv;
}

/*
 * The report of a category feature against a binary target: the AUC of
 * the categories' positive rates as scores, and the information value.
 */
static void
CategoryBinaryRow(ReportRow *row, const ReportState *st, const ReportFeature *f, Positive p)
{
	Category   *c;
	int			m = Categories(f, row->col, p.index, true, &c);
	double		P = st->class_n[p.index],
				N = st->class_n[1 - p.index],
				below = 0,
				s = 0,
				auc;
	StringInfoData out;

	qsort(c, m, sizeof(Category), CategoryRateCmp);
	for (int i = 0; i < m;)
	{
		double		gp = 0,
					gn = 0;
		int			j = i;

		for (; j < m && c[j].rate == c[i].rate; j++)
		{
			gp += c[j].sum;
			gn += c[j].n - c[j].sum;
		}
		s += gp * (below + 0.5 * gn);
		below += gn;
		i = j;
	}
	auc = s / (P * N);
	initStringInfo(&out);
	appendStringInfo(&out, "{\"positive\": %s", p.json);
	JsonKeyNumber(&out, "auc", auc);
	if ((P + N) < REPORT_FEW_ROWS * m)
		appendStringInfoString(&out, ", \"note\": \"few rows per category: the AUC and the information value overstate the signal\"");
	row->iv = AppendCategories(&out, c, m, true, N, P);
	appendStringInfoChar(&out, '}');
	row->has_strength = true;
	row->strength = Max(auc, 1 - auc);
	row->has_iv = true;
	row->measure = "auc";
	row->detail = out.data;
}

/* A value and its position, for ranking */
typedef struct RankItem
{
	double		v;
	int			i;
} RankItem;

/* Rank items by value */
static int
RankItemCmp(const void *a, const void *b)
{
	double		x = ((const RankItem *) a)->v,
				y = ((const RankItem *) b)->v;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Average ranks (1-based, ties at their mean rank) of v[0..n) */
static void
AverageRanks(const double *v, int n, double *rank)
{
	RankItem   *r = palloc(sizeof(RankItem) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		r[i].v = v[i];
		r[i].i = i;
	}
	qsort(r, n, sizeof(RankItem), RankItemCmp);
	for (int i = 0; i < n;)
	{
		int			j = i;

		while (j < n && r[j].v == r[i].v)
			j++;
		for (int k = i; k < j; k++)
			rank[r[k].i] = (i + j + 1) / 2.0;
		i = j;
	}
	pfree(r);
}

/* Pearson's r of n pairs, NaN when either side is constant */
static double
PearsonOf(const double *x, const double *y, int n)
{
	CoMoments	cm;

	memset(&cm, 0, sizeof(cm));
	CoMomentsAdd(&cm, x, y, n);
	return (cm.cxx > 0 && cm.cyy > 0) ? cm.cxy / sqrt(cm.cxx * cm.cyy) : NAN;
}

/* Spearman's rho of sample slot k (pairs where the feature is present); *m the pairs */
static double
SampleSpearman(const RowSample *s, int k, int *m)
{
	double	   *x = palloc(sizeof(double) * Max(s->count, 1));
	double	   *y = palloc(sizeof(double) * Max(s->count, 1));
	double	   *rx = palloc(sizeof(double) * Max(s->count, 1));
	double	   *ry = palloc(sizeof(double) * Max(s->count, 1));
	int			n = 0;
	double		rho;

	for (int i = 0; i < s->count; i++)
	{
		const double *r = &s->rows[(size_t) i * s->width];

		if (isnan(r[k]))
			continue;
		x[n] = r[k];
		y[n++] = r[0];
	}
	AverageRanks(x, n, rx);
	AverageRanks(y, n, ry);
	rho = n >= 2 ? PearsonOf(rx, ry, n) : NAN;
	*m = n;
	return rho;
}

/* The report of a number feature against a numeric target */
static void
NumberNumericRow(ReportRow *row, const ReportState *st, const ReportFeature *f, int slot)
{
	double		r = (f->cm.cxx > 0 && f->cm.cyy > 0) ? f->cm.cxy / sqrt(f->cm.cxx * f->cm.cyy) : NAN;
	int			m;
	double		rho = SampleSpearman(&st->sample, slot, &m);
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoString(&out, "{\"pearson\": ");
	DiscJsonNumber(&out, r);
	JsonKeyNumber(&out, "spearman", rho);
	appendStringInfo(&out, ", \"n\": %.0f, \"spearman_rows\": %d, \"spearman_exact\": %s}",
					 f->cm.n, m, st->sample.count == st->nt ? "true" : "false");
	row->has_strength = !isnan(r);
	row->strength = isnan(r) ? 0 : fabs(r);
	row->has_iv = false;
	row->measure = "pearson";
	row->detail = out.data;
}

/* The report of a category feature against a numeric target: the correlation ratio */
static void
CategoryNumericRow(ReportRow *row, const ReportState *st, const ReportFeature *f)
{
	Category   *c;
	int			m = Categories(f, row->col, 1, false, &c);
	double		between = 0,
				eta;
	StringInfoData out;

	for (int i = 0; i < m; i++)
		between += c[i].n * (c[i].rate - st->ym.mean) * (c[i].rate - st->ym.mean);
	eta = sqrt(Min(1.0, between / st->ym.m2));
	initStringInfo(&out);
	appendStringInfoString(&out, "{\"eta\": ");
	DiscJsonNumber(&out, eta);
	AppendCategories(&out, c, m, false, 0, 0);
	appendStringInfoChar(&out, '}');
	row->has_strength = true;
	row->strength = eta;
	row->has_iv = false;
	row->measure = "eta";
	row->detail = out.data;
}

/* The row of a category feature with more distinct values than the table holds */
static void
OverflowRow(ReportRow *row, bool binary)
{
	row->has_strength = false;
	row->has_iv = false;
	row->measure = binary ? "auc" : "eta";
	row->detail = psprintf("{\"categories\": \"more than %d\", \"reason\": \"too many distinct values for a category measure\"}",
						   VTABLE_MAX);
}

/* Strongest first (no strength last), then by name */
static int
ReportRowCmp(const void *a, const void *b)
{
	const ReportRow *x = a,
			   *y = b;

	if (x->has_strength != y->has_strength)
		return x->has_strength ? -1 : 1;
	if (x->has_strength && x->strength != y->strength)
		return x->strength > y->strength ? -1 : 1;
	return strcmp(x->col->name, y->col->name);
}

/* The checks a finished pass must pass before its state is reported on */
static void
CheckTarget(const ReportState *st, const DiscSource *src, const DiscColumn *target)
{
	if (st->nt == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target column \"%s\" is NULL in every row of %s", target->name, src->qualname),
				 errhint("Report against a column with values.")));
	if ((st->binary && (st->class_n[0] == 0 || st->class_n[1] == 0)) ||
		(!st->binary && st->ym.m2 == 0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("target column \"%s\" has a single value", target->name),
				 errhint("A report needs a target that varies: two classes, or different numbers.")));
}

/* The rows of one pass's state: features from first on */
static void
StateRows(const ReportState *st, const DiscSource *src, const DiscColumn *target,
		  List *cols, int first, ReportRow *rows)
{
	Positive	p = {1, NULL};
	int			slot = 0;

	CheckTarget(st, src, target);
	if (st->binary)
		p = PositiveClass(st, target);
	for (int j = 0; j < st->nfeat; j++)
	{
		const ReportFeature *f = &st->f[j];
		ReportRow  *row = &rows[first + j];
		bool		number = DISC_KIND_IS_NUMBER(f->kind);

		CHECK_FOR_INTERRUPTS();
		row->col = list_nth(cols, first + j);
		if (row->col->kind != f->kind)
			ReportFail("feature kinds differ from the source");
		row->missing_share = (double) f->missing / (double) st->nt;
		if (number)
			slot++;
		if (!number && f->overflow)
			OverflowRow(row, st->binary);
		else if (st->binary)
		{
			if (number)
				NumberBinaryRow(row, st, f, p);
			else
				CategoryBinaryRow(row, st, f, p);
		}
		else if (number)
			NumberNumericRow(row, st, f, slot);
		else
			CategoryNumericRow(row, st, f);
	}
}

/* The target column named by argument 1, checked */
static DiscColumn
ResolveTarget(FunctionCallInfo fcinfo, const DiscSource *src)
{
	char	   *name;
	AttrNumber	att;
	DiscColumn	t;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be NULL"),
				 errhint("Name the column to report against.")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	att = DiscFindColumn(src, name);
	if (att == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation %s does not exist", name, src->qualname),
				 errhint("Name an existing column as the target; names are case-sensitive.")));
	t = DiscMakeColumn(src, att);
	if (t.kind == 0 || t.kind == DK_DATE || t.kind == DK_TIMESTAMP)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target \"%s\" has unsupported type %s", name, format_type_be(t.typid)),
				 errhint("Report against a boolean, numeric, text or enum column.")));
	return t;
}

/*
 * feature_report(source regclass, target text, features text[] DEFAULT
 * NULL): one row per feature, strongest first.
 */
Datum
feature_report(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DiscSource	src;
	DiscColumn	target;
	List	   *cols;
	Datum	   *states;
	int			ncalls,
				per_call = DISC_ARGS_PER_CALL - 1;
	ReportRow  *rows;

	DiscSourceOpen(fcinfo, &src);
	target = ResolveTarget(fcinfo, &src);
	cols = DiscResolveColumns(fcinfo, 2, &src, target.name, true, "feature");
	DiscCheckPrivileges(&src, cols, &target);
	InitMaterializedSRF(fcinfo, 0);
	states = DiscRunPass("feature_stats", &src, &target, cols, per_call, &ncalls);
	rows = palloc0(sizeof(ReportRow) * list_length(cols));
	for (int k = 0; k < ncalls; k++)
	{
		ReportState *st;

		if (states[k] == (Datum) 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("relation %s has no rows", src.qualname),
					 errhint("Report on a relation with rows; row-level security may hide them from you.")));
		st = ReportRead(DatumGetByteaPP(states[k]));
		if (st->nfeat != Min(list_length(cols) - k * per_call, per_call) || st->tkind != target.kind)
			ReportFail("shape differs from the source");
		StateRows(st, &src, &target, cols, k * per_call, rows);
	}
	qsort(rows, list_length(cols), sizeof(ReportRow), ReportRowCmp);
	for (int i = 0; i < list_length(cols); i++)
	{
		Datum		v[REPORT_NCOLS];
		bool		nulls[REPORT_NCOLS] = {false};
		const DiscColumn *c = rows[i].col;

		v[0] = CStringGetTextDatum(c->name);
		v[1] = CStringGetTextDatum(c->kind == DK_TEXT || c->kind == DK_ENUM ? "categorical" :
								   DiscKindName(c->kind));
		v[2] = Float8GetDatum(rows[i].missing_share);
		v[3] = Float8GetDatum(rows[i].strength);
		nulls[3] = !rows[i].has_strength;
		v[4] = CStringGetTextDatum(rows[i].measure);
		v[5] = Float8GetDatum(rows[i].iv);
		nulls[5] = !rows[i].has_iv;
		v[6] = DirectFunctionCall1(jsonb_in, CStringGetDatum(rows[i].detail));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	return (Datum) 0;
}
