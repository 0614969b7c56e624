/*-------------------------------------------------------------------------
 * train_clv.c
 *	  Training the lifetime-value models: the clv_data aggregate, which
 *	  compresses customer summaries into distinct histories with weights in
 *	  one pass (parallel safe), and train() for 'bgnbd', 'paretonbd',
 *	  'gammagamma' and 'clv'.
 *
 * A purchase model reads (frequency, recency, t): customers who share a
 * history share a likelihood term, so the fit's cost follows the number
 * of distinct histories.  The spend model reads (frequency, monetary) of
 * repeat customers; for 'clv' each spend row also keeps its history, so
 * the training population's lifetime values (for percentiles) come from
 * the distinct rows with their weights, never from one row per customer.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "citus.h"
#include "badrows.h"
#include "clv.h"
#include "model.h"
#include "options.h"
#include "partial.h"
#include "trainer.h"

PG_FUNCTION_INFO_V1(clv_data_trans);
PG_FUNCTION_INFO_V1(clv_data_combine);
PG_FUNCTION_INFO_V1(clv_data_serialize);
PG_FUNCTION_INFO_V1(clv_data_deserialize);
PG_FUNCTION_INFO_V1(clv_data_final);
PG_FUNCTION_INFO_V1(clv_data_sfunc);
PG_FUNCTION_INFO_V1(clv_data_combinefunc);
PG_FUNCTION_INFO_V1(clv_data_finalfunc);

#define CLV_DATA_FORMAT 2		/* 2: the bad rows (0.5.0) */
#define COLLECT_HISTORY 1		/* flags of clv_data: what to collect */
#define COLLECT_SPEND 2
#define SKIP_BAD 4				/* flag: skip (count) rows no model can read instead of raising */
#define CLV_FLAGS_MAX 7
#define UNCHECKED (-2)			/* ReadDirect: a row StateAddRow must judge */
#define MIN_CUSTOMERS 10
#define READ_BATCH 32
#define QUANTILE_ROWS 131072	/* repeat customers valued for the percentiles */			/* rows a heap scan reads before counting them */
#define PROGRESS_ROWS_MASK ((1 << 20) - 1)
#define PROGRESS_MS 10000

/* Options of the lifetime-value algorithms (bgnbd, paretonbd, gammagamma, clv) */
typedef struct ClvOptions
{
	ProfAlgorithm alg;			/* which one */
	char	   *frequency;		/* source column names */
	char	   *recency;
	char	   *t;
	char	   *monetary;
	int			purchase_model; /* ClvFamily of a 'clv' model's purchase model */
	int			horizon_months;
	double		discount_rate;	/* per month */
	double		unit_days;
	int			max_iter;
	double		tol;
	bool		warm_start;		/* large data: fit a subsample first */
} ClvOptions;

#define CLV_COLUMNS_EXPECTED "an object of column names, such as {\"frequency\": \"n_repeat\", \"t\": \"age_weeks\"}"

/* Defaults of the options of a lifetime-value algorithm */
void *
ClvOptionsNew(const AlgorithmOps *ops)
{
	ClvOptions *o = palloc0(sizeof(ClvOptions));

	o->alg = ops->code;
	o->frequency = "frequency";
	o->recency = "recency";
	o->t = "t";
	o->monetary = "monetary";
	o->purchase_model = CLV_BGNBD;
	o->horizon_months = 12;
	o->discount_rate = 0.01;
	o->unit_days = 7;
	o->max_iter = 200;
	o->tol = 1e-9;
	o->warm_start = true;
	return o;
}

/* Store one rename of the "columns" object of a lifetime-value model */
static void
ClvColumnApply(const char *key, JsonbValue *v, void *arg)
{
	ClvOptions *o = (ClvOptions *) arg;
	char	   *name = OptionString("columns", v, CLV_COLUMNS_EXPECTED);

	if (strcmp(key, "frequency") == 0)
		o->frequency = name;
	else if (strcmp(key, "recency") == 0)
		o->recency = name;
	else if (strcmp(key, "t") == 0)
		o->t = name;
	else if (strcmp(key, "monetary") == 0)
		o->monetary = name;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown input \"%s\" in option \"columns\"", key),
				 errhint("The inputs are frequency, recency, t and monetary.")));
}

/* The valuation options only 'clv' takes; false for any other key */
static bool
ClvValuationOption(ClvOptions *o, const char *key, JsonbValue *v)
{
	if (strcmp(key, "purchase_model") == 0)
	{
		char	   *s = OptionString(key, v, "\"bgnbd\" or \"paretonbd\"");

		if (strcmp(s, "bgnbd") == 0)
			o->purchase_model = CLV_BGNBD;
		else if (strcmp(s, "paretonbd") == 0)
			o->purchase_model = CLV_PARETONBD;
		else
			OptionError(key, "\"bgnbd\" or \"paretonbd\"");
	}
	else if (strcmp(key, "horizon_months") == 0)
		o->horizon_months = OptionInteger(key, v, 1, CLV_MAX_HORIZON_MONTHS);
	else if (strcmp(key, "discount_rate") == 0)
	{
		o->discount_rate = OptionNumber(key, v, "a monthly rate from 0 up to (not including) 1");
		if (o->discount_rate < 0 || o->discount_rate >= 1)
			OptionError(key, "a monthly rate from 0 up to (not including) 1");
	}
	else if (strcmp(key, "unit_days") == 0)
	{
		o->unit_days = OptionNumber(key, v, "a number of days above 0, such as 7 for weeks");
		if (!(o->unit_days > 0 && o->unit_days <= 3660))
			OptionError(key, "a number of days above 0, such as 7 for weeks");
	}
	else
		return false;
	return true;
}

/* One option of a lifetime-value algorithm; false for a key it does not take */
bool
ClvOption(void *opts, const char *key, JsonbValue *v)
{
	ClvOptions *o = (ClvOptions *) opts;

	if (strcmp(key, "columns") == 0)
	{
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			OptionError("columns", CLV_COLUMNS_EXPECTED);
		OptionsWalk(JsonbValueToJsonb(v), "{\"columns\": {\"t\": \"age_weeks\"}}", ClvColumnApply, o);
	}
	else if (strcmp(key, "max_iter") == 0)
		o->max_iter = OptionInteger(key, v, 1, 10000);
	else if (strcmp(key, "tol") == 0)
		o->tol = OptionTolerance(key, v);
	else if (strcmp(key, "warm_start") == 0)
		o->warm_start = OptionBool(key, v);
	else
		return o->alg == ALG_CLV && ClvValuationOption(o, key, v);
	return true;
}

/*
 * A slot of the history hash table: the key and its weight inline, so
 * that counting a customer touches one cache line.
 */
typedef struct HistSlot
{
	double		tx;
	double		T;
	double		w;
	int32		x;
	int32		row;			/* row + 1, 0 when empty */
} HistSlot;

/*
 * Distinct purchase histories (x, t_x, T) with weights: the keys in
 * insertion order (arrays x, tx, T, which the fits read as they are), and
 * an open-addressing hash table (linear
 * probing, at most 70% full) that holds the weights while counting.  A
 * table read back without its hash has slots NULL and its weights in w.
 */
typedef struct HistTable
{
	int64		n;
	int64		cap;			/* rows allocated */
	int64		nslots;			/* hash slots, a power of two */
	HistSlot   *slots;
	double	   *x;				/* per row, in insertion order */
	double	   *tx;
	double	   *T;
	double	   *w;				/* the weights when slots is NULL */
	int			max_x;
} HistTable;
/* Repeat customers' (x, m), with the history each belongs to (-1: none kept) */
typedef struct SpendRows
{
	int64		n;
	int64		cap;
	double	   *x;
	double	   *m;
	int32	   *hist;
	int			max_x;
} SpendRows;

typedef struct ClvDataState
{
	int			flags;
	HistTable	hist;
	SpendRows	spend;
	double		skipped;		/* rows with a NULL input the model needs */
	BadRows		bad;			/* rows no model can read (flag SKIP_BAD) */
	int64		rows_seen;
	TimestampTz last_notice;
} ClvDataState;

/* The header of the serialized state; the arrays follow, in native layout */
typedef struct ClvDataHeader
{
	int32		format;
	int32		flags;
	double		skipped;
	int64		nhist;
	int64		nspend;
	int32		hist_max_x;
	int32		spend_max_x;
	int32		bad_bytes;		/* the bad rows' serialized form, after the arrays */
} ClvDataHeader;

/* Hash of a history (the bits of its doubles) */
static inline uint32
HistHash(double x, double tx, double T)
{
	uint64		a,
				b,
				c;

	memcpy(&a, &x, 8);
	memcpy(&b, &tx, 8);
	memcpy(&c, &T, 8);
	a = (a * UINT64CONST(0x9E3779B97F4A7C15)) ^ (b * UINT64CONST(0xC2B2AE3D27D4EB4F)) ^
		(c * UINT64CONST(0x165667B19E3779F9));
	a ^= a >> 32;
	a *= UINT64CONST(0xD6E8FEB86659FD93);
	return (uint32) (a >> 32);
}

/* Put a slot into a table of nslots slots that has room for it */
static inline void
SlotPlace(HistSlot *slots, int64 nslots, const HistSlot *e)
{
	uint64		h = HistHash(e->x, e->tx, e->T) & (nslots - 1);

	while (slots[h].row != 0)
		h = (h + 1) & (nslots - 1);
	slots[h] = *e;
}

/* (Re)build the hash slots for at least 2 * cap, from the slots or from the keys and w */
static void
HistIndex(HistTable *t, int64 cap)
{
	int64		nslots = 512;
	HistSlot   *slots;

	while (nslots * 7 < cap * 10)
		nslots *= 2;
	slots = palloc_extended(sizeof(HistSlot) * nslots, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	if (t->slots)
	{
		for (int64 i = 0; i < t->nslots; i++)
			if (t->slots[i].row != 0)
				SlotPlace(slots, nslots, &t->slots[i]);
		pfree(t->slots);
	}
	else
		for (int64 r = 0; r < t->n; r++)
		{
			HistSlot	e = {t->tx[r], t->T[r], t->w[r], (int32) t->x[r], (int32) (r + 1)};

			SlotPlace(slots, nslots, &e);
		}
	t->slots = slots;
	t->nslots = nslots;
}

/* The key arrays of a table with room for t->cap rows */
static void
HistKeysAlloc(HistTable *t)
{
	t->x = palloc_extended(sizeof(double) * t->cap, MCXT_ALLOC_HUGE);
	t->tx = palloc_extended(sizeof(double) * t->cap, MCXT_ALLOC_HUGE);
	t->T = palloc_extended(sizeof(double) * t->cap, MCXT_ALLOC_HUGE);
}

/* An empty history table with room for cap rows */
static void
HistInit(HistTable *t, int64 cap)
{
	memset(t, 0, sizeof(HistTable));
	t->cap = Max(cap, 256);
	HistKeysAlloc(t);
	HistIndex(t, t->cap);
}

/*
 * Add weight w to the history k = (x, t_x, T), x a whole number (a new
 * row if none); the row's index.
 */
static int32
HistAdd(HistTable *t, const double *k, double w)
{
	int32		x = (int32) k[0];
	uint64		h = HistHash(k[0], k[1], k[2]) & (t->nslots - 1);
	HistSlot   *e;
	int32		r;

	while ((e = &t->slots[h])->row != 0)
	{
		if (e->x == x && e->tx == k[1] && e->T == k[2])
		{
			e->w += w;
			return e->row - 1;
		}
		h = (h + 1) & (t->nslots - 1);
	}
	if (t->n == t->cap)
	{
		if (t->cap >= PG_INT32_MAX / 4)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("more than %d distinct customer histories", PG_INT32_MAX / 4),
					 errhint("Round recency and t to whole days before training.")));
		t->cap *= 2;
		t->x = repalloc_huge(t->x, sizeof(double) * t->cap);
		t->tx = repalloc_huge(t->tx, sizeof(double) * t->cap);
		t->T = repalloc_huge(t->T, sizeof(double) * t->cap);
	}
	r = (int32) t->n++;
	t->x[r] = k[0];
	t->tx[r] = k[1];
	t->T[r] = k[2];
	e->tx = k[1];
	e->T = k[2];
	e->w = w;
	e->x = x;
	e->row = r + 1;
	t->max_x = Max(t->max_x, x);
	if (t->n * 10 > t->nslots * 7)
		HistIndex(t, t->n * 2);
	return r;
}

/* Ask the cache for the slot where the history k would start its probe */
static inline void
HistPrefetch(const HistTable *t, const double *k)
{
	__builtin_prefetch(&t->slots[HistHash(k[0], k[1], k[2]) & (t->nslots - 1)], 1);
}

/* The weight of every row, in row order, into out */
static void
HistWeights(const HistTable *t, double *out)
{
	if (t->slots == NULL)
	{
		memcpy(out, t->w, sizeof(double) * t->n);
		return;
	}
	for (int64 i = 0; i < t->nslots; i++)
		if (t->slots[i].row != 0)
			out[t->slots[i].row - 1] = t->slots[i].w;
}

/* An empty list of repeat customers with room for cap */
static void
SpendInit(SpendRows *sp, int64 cap)
{
	memset(sp, 0, sizeof(SpendRows));
	sp->cap = Max(cap, 256);
	sp->x = palloc_extended(sizeof(double) * sp->cap, MCXT_ALLOC_HUGE);
	sp->m = palloc_extended(sizeof(double) * sp->cap, MCXT_ALLOC_HUGE);
	sp->hist = palloc_extended(sizeof(int32) * sp->cap, MCXT_ALLOC_HUGE);
}

/* Append a repeat customer (x, m) and the row of its history */
static void
SpendAdd(SpendRows *sp, double x, double m, int32 hist)
{
	if (sp->n == sp->cap)
	{
		sp->cap *= 2;
		sp->x = repalloc_huge(sp->x, sizeof(double) * sp->cap);
		sp->m = repalloc_huge(sp->m, sizeof(double) * sp->cap);
		sp->hist = repalloc_huge(sp->hist, sizeof(int32) * sp->cap);
	}
	sp->x[sp->n] = x;
	sp->m[sp->n] = m;
	sp->hist[sp->n] = hist;
	sp->n++;
	sp->max_x = Max(sp->max_x, (int) x);
}

/* An empty state collecting what flags ask for, sized for nhist histories and nspend spends */
static ClvDataState *
StateCreate(int flags, int64 nhist, int64 nspend)
{
	ClvDataState *s = palloc0(sizeof(ClvDataState));

	s->flags = flags;
	if (flags & COLLECT_HISTORY)
		HistInit(&s->hist, nhist);
	if (flags & COLLECT_SPEND)
		SpendInit(&s->spend, nspend);
	BadRowsInit(&s->bad);
	s->last_notice = GetCurrentTimestamp();
	return s;
}

/*
 * What a customer's summary (frequency, recency, t, monetary) has that no
 * model can read, as a bad-row reason, or -1: the conditions that
 * ClvCheckHistory, ClvCheckSpend and CheckFrequency refuse
 */
static int
RowProblem(int flags, const double *v)
{
	double		x = v[0];

	if (!isfinite(x))
		return BAD_NOT_FINITE;
	if (!(x >= 0 && x <= CLV_MAX_FREQUENCY && (double) (int32) x == x))
		return BAD_FREQUENCY;
	if (flags & COLLECT_HISTORY)
	{
		if (!isfinite(v[1]) || !isfinite(v[2]))
			return BAD_NOT_FINITE;
		if (!(v[2] > 0))
			return BAD_T;
		if (!(v[1] >= 0 && v[1] <= v[2]))
			return BAD_RECENCY;
	}
	if ((flags & COLLECT_SPEND) && x > 0)
	{
		if (!isfinite(v[3]))
			return BAD_NOT_FINITE;
		if (!(v[3] > 0))
			return BAD_MONETARY;
	}
	return -1;
}

/* Does a summary miss an input the model needs (a NULL: the row is skipped)? */
static inline bool
NullSkipped(int flags, const double *v, const bool *null)
{
	return null[0] || ((flags & COLLECT_HISTORY) && (null[1] || null[2])) ||
		((flags & COLLECT_SPEND) && null[3] && v[0] > 0);
}

/* The example text of a bad summary: the values the model reads */
static char *
RowDetail(int flags, const double *v)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfo(&out, "frequency %g", v[0]);
	if (flags & COLLECT_HISTORY)
		appendStringInfo(&out, ", recency %g, t %g", v[1], v[2]);
	if ((flags & COLLECT_SPEND) && v[0] > 0)
		appendStringInfo(&out, ", monetary %g", v[3]);
	return out.data;
}

/* The error for a frequency that is not a whole number of repeat purchases */
static void
RefuseFrequency(double x)
{
	ClvCheckHistory(x, 0, 1, false);
	ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("frequency must be a whole number from 0 to %d, got %g", CLV_MAX_FREQUENCY, x),
				 errhint("frequency counts repeat purchases: distinct purchase days minus one.")));
}

/* Frequency as a whole number of repeat purchases, or an error */
static inline void
CheckFrequency(double x)
{
	if (!(x >= 0 && x <= CLV_MAX_FREQUENCY && (double) (int32) x == x))
		RefuseFrequency(x);
}

/* A NOTICE at most every 10 seconds on a long pass (checked every 2^20 rows) */
static void
DataProgressNotice(ClvDataState *s)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!TimestampDifferenceExceeds(s->last_notice, now, PROGRESS_MS))
		return;
	ereport(NOTICE,
			(errmsg("profenrich: training pass has read " INT64_FORMAT " customers", s->rows_seen)));
	s->last_notice = now;
}

/* Count a customer read; a NOTICE now and then (DataProgressNotice) */
static inline void
DataProgress(ClvDataState *s)
{
	if ((++s->rows_seen & PROGRESS_ROWS_MASK) == 0)
		DataProgressNotice(s);
}

/*
 * Add a customer's (frequency, recency, t, monetary) that has every input
 * the model needs and that RowProblem accepts; monetary is read only for
 * repeat customers
 */
static inline void
StateAddValid(ClvDataState *s, const double *v)
{
	int32		h = -1;

	if (s->flags & COLLECT_HISTORY)
		h = HistAdd(&s->hist, v, 1.0);
	if ((s->flags & COLLECT_SPEND) && v[0] > 0)
		SpendAdd(&s->spend, v[0], v[3], h);
}

/*
 * Add one customer's (frequency, recency, t, monetary) to a state, in the
 * current memory context.  A customer with a NULL input the model needs
 * is skipped (counted).  A summary no model can read raises, or with the
 * flag SKIP_BAD is counted and left out: the reason is returned (-1 for a
 * row added or skipped for a NULL) so that the caller records it with its
 * key (StateBadRow).
 */
static int
StateAddRow(ClvDataState *s, const double *v, const bool *null)
{
	int			flags = s->flags;

	if (NullSkipped(flags, v, null))
	{
		s->skipped += 1;
		s->bad.count[BAD_NULL_INPUT]++;
		return -1;
	}
	if (flags & SKIP_BAD)
	{
		int			problem = RowProblem(flags, v);

		if (problem >= 0)
			return problem;
	}
	else
	{
		CheckFrequency(v[0]);
		if (flags & COLLECT_HISTORY)
			ClvCheckHistory(v[0], v[1], v[2], true);
		if ((flags & COLLECT_SPEND) && v[0] > 0)
			ClvCheckSpend(v[0], v[3]);
	}
	StateAddValid(s, v);
	return -1;
}

/* Record a summary StateAddRow left out for a reason, with its key (NULL: none) */
static void
StateBadRow(ClvDataState *s, int reason, const double *v, const char *key)
{
	BadRowsAdd(&s->bad, (BadReason) reason, key, RowDetail(s->flags, v));
}

#ifdef USE_ASSERT_CHECKING
/*
 * The invariants of a state: counts within capacities, a hash holding
 * every history once, spends pointing at histories that exist.
 */
static void
StateAssertValid(const ClvDataState *s)
{
	if (s->flags & COLLECT_HISTORY)
	{
		int64		occupied = 0;

		Assert(s->hist.n <= s->hist.cap);
		if (s->hist.slots)
		{
			for (int64 i = 0; i < s->hist.nslots; i++)
				occupied += s->hist.slots[i].row != 0;
			Assert(occupied == s->hist.n);
		}
	}
	if (s->flags & COLLECT_SPEND)
	{
		Assert(s->spend.n <= s->spend.cap);
		for (int64 i = 0; i < s->spend.n && (s->flags & COLLECT_HISTORY); i++)
			Assert(s->spend.hist[i] >= 0 && s->spend.hist[i] < s->hist.n);
	}
}
#else
#define StateAssertValid(s) ((void) 0)
#endif

/* Refuse flags other than 1 to 7 with 1 or 2 among them, or flags that change between rows */
static int
DataFlagsArg(FunctionCallInfo fcinfo, const ClvDataState *s)
{
	int			flags = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);

	if (s == NULL && (flags < 1 || flags > CLV_FLAGS_MAX || (flags & (COLLECT_HISTORY | COLLECT_SPEND)) == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("clv_data flags must be 1 (histories), 2 (spends) or 3 (both), plus 4 to skip rows no model can read, not %s",
						PG_ARGISNULL(1) ? "NULL" : psprintf("%d", flags)),
				 errhint("clv_data is what train() runs; call train() instead.")));
	if (s != NULL && (PG_ARGISNULL(1) || flags != s->flags))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("clv_data flags must be the same for every row"),
				 errhint("Pass one constant as the flags argument.")));
	return flags;
}

/* Add the call's customer (arguments 2 to 5) to a state, in the current context */
static void
DataAddArgs(ClvDataState *s, FunctionCallInfo fcinfo)
{
	double		v[4];
	bool		null[4];
	int			problem;

	DataProgress(s);
	for (int i = 0; i < 4; i++)
	{
		null[i] = PG_ARGISNULL(i + 2);
		v[i] = null[i] ? 0.0 : PG_GETARG_FLOAT8(i + 2);
	}
	problem = StateAddRow(s, v, null);
	/* clv_data(flags, frequency, recency, t, monetary, key text): the key names a bad row */
	if (problem >= 0)
		StateBadRow(s, problem, v, PG_NARGS() > 6 && !PG_ARGISNULL(6) ?
					TextDatumGetCString(PG_GETARG_DATUM(6)) : NULL);
}

/*
 * clv_data_trans(state, flags, frequency, recency, t, monetary): add one
 * customer (the 0.4.0 declaration, state internal).
 */
Datum
clv_data_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ClvDataState *s;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "clv_data_trans called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	s = PG_ARGISNULL(0) ? NULL : (ClvDataState *) PG_GETARG_POINTER(0);
	if (s == NULL)
		s = StateCreate(DataFlagsArg(fcinfo, NULL), 0, 0);
	else
		(void) DataFlagsArg(fcinfo, s);
	DataAddArgs(s, fcinfo);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

/* Merge src into dst (in the current context); src is not modified */
static void
StateMerge(ClvDataState *dst, const ClvDataState *src)
{
	int32	   *map = NULL;

	if (dst->flags != src->flags)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("clv_data flags must be the same for every row"),
				 errhint("Pass one constant as the flags argument.")));
	dst->skipped += src->skipped;
	BadRowsMerge(&dst->bad, &src->bad);
	if (src->flags & COLLECT_HISTORY)
	{
		double	   *w = palloc_extended(sizeof(double) * Max(src->hist.n, 1), MCXT_ALLOC_HUGE);

		HistWeights(&src->hist, w);
		map = palloc_extended(sizeof(int32) * Max(src->hist.n, 1), MCXT_ALLOC_HUGE);
		for (int64 r = 0; r < src->hist.n; r++)
		{
			double		k[3] = {src->hist.x[r], src->hist.tx[r], src->hist.T[r]};

			map[r] = HistAdd(&dst->hist, k, w[r]);
		}
		pfree(w);
	}
	if (src->flags & COLLECT_SPEND)
		for (int64 r = 0; r < src->spend.n; r++)
			SpendAdd(&dst->spend, src->spend.x[r], src->spend.m[r],
					 map ? map[src->spend.hist[r]] : -1);
	if (map)
		pfree(map);
}

/* clv_data_combine(a, b): b merged into a (or a copy of b); b is not modified */
Datum
clv_data_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ClvDataState *a,
			   *b;
	Datum		result;

	if (AggCombineDone(fcinfo, "clv_data_combine", &aggcxt, &result))
		return result;
	a = PG_ARGISNULL(0) ? NULL : (ClvDataState *) PG_GETARG_POINTER(0);
	b = (ClvDataState *) PG_GETARG_POINTER(1);
	old = MemoryContextSwitchTo(aggcxt);
	if (a == NULL)
		a = StateCreate(b->flags, b->hist.n, b->spend.n);
	StateMerge(a, b);
	StateAssertValid(a);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* Bytes of the serialized arrays of a state with these counts */
static Size
StateBytes(int flags, int64 nhist, int64 nspend)
{
	Size		size = sizeof(ClvDataHeader);

	if (flags & COLLECT_HISTORY)
		size = add_size(size, mul_size(nhist, 4 * sizeof(double)));
	if (flags & COLLECT_SPEND)
		size = add_size(size, mul_size(nspend, 2 * sizeof(double) +
									   ((flags & COLLECT_HISTORY) ? sizeof(int32) : 0)));
	return size;
}

/* Append n bytes at *at */
static inline void
PutBytes(char **at, const void *src, Size n)
{
	memcpy(*at, src, n);
	*at += n;
}

static const PartialKind ClvDataKind;

/* Payload bytes of a state's flat form, refused beyond what a value holds */
static Size
StateFlatSize(void *p)
{
	const ClvDataState *s = (const ClvDataState *) p;
	StringInfoData bad;
	Size		size;

	initStringInfo(&bad);
	BadRowsWrite(&bad, &s->bad);
	size = add_size(StateBytes(s->flags, s->hist.n, s->spend.n), bad.len);
	pfree(bad.data);
	if (size > MaxAllocHugeSize - VARHDRSZ || size >= (Size) 1 << 30)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("compressed training data of %zu bytes exceeds the 1 GB limit of a value", size),
				 errhint("Round recency and t to whole days, or train on a sample of customers.")));
	return size;
}

/*
 * The flat form: a header, then the arrays as they are in memory (native
 * byte order: a node of another byte order reads a format it refuses), so
 * writing and reading it are copies.
 */
static void
StateFlatten(void *p, char *at, Size size)
{
	const ClvDataState *s = (const ClvDataState *) p;
	ClvDataHeader hdr;
	StringInfoData bad;

	initStringInfo(&bad);
	BadRowsWrite(&bad, &s->bad);
	if (size != StateBytes(s->flags, s->hist.n, s->spend.n) + bad.len)
		elog(ERROR, "clv_data state of %zu bytes written into %zu", (Size) (StateBytes(s->flags, s->hist.n, s->spend.n) + bad.len), size);
	memset(&hdr, 0, sizeof(hdr));
	hdr.format = CLV_DATA_FORMAT;
	hdr.flags = s->flags;
	hdr.skipped = s->skipped;
	hdr.nhist = (s->flags & COLLECT_HISTORY) ? s->hist.n : 0;
	hdr.nspend = (s->flags & COLLECT_SPEND) ? s->spend.n : 0;
	hdr.hist_max_x = s->hist.max_x;
	hdr.spend_max_x = s->spend.max_x;
	hdr.bad_bytes = bad.len;
	PutBytes(&at, &hdr, sizeof(hdr));
	if (s->flags & COLLECT_HISTORY)
	{
		PutBytes(&at, s->hist.x, sizeof(double) * hdr.nhist);
		PutBytes(&at, s->hist.tx, sizeof(double) * hdr.nhist);
		PutBytes(&at, s->hist.T, sizeof(double) * hdr.nhist);
		HistWeights(&s->hist, (double *) at);	/* a copy into the output */
		at += sizeof(double) * hdr.nhist;
	}
	if (s->flags & COLLECT_SPEND)
	{
		PutBytes(&at, s->spend.x, sizeof(double) * hdr.nspend);
		PutBytes(&at, s->spend.m, sizeof(double) * hdr.nspend);
		if (s->flags & COLLECT_HISTORY)
			PutBytes(&at, s->spend.hist, sizeof(int32) * hdr.nspend);
	}
	PutBytes(&at, bad.data, bad.len);
	pfree(bad.data);
}

/* The state as a bytea (the final value of train()'s query) */
static bytea *
StateSerialize(const ClvDataState *s)
{
	Size		size = StateFlatSize((void *) s);
	bytea	   *out = palloc_extended(VARHDRSZ + size, MCXT_ALLOC_HUGE);

	SET_VARSIZE(out, VARHDRSZ + size);
	StateFlatten((void *) s, VARDATA(out), size);
	return out;
}

/*
 * Check a flat state's header: its format, its flags, and counts that
 * match its length exactly.
 */
static ClvDataHeader
StateCheck(const char *data, Size len)
{
	ClvDataHeader hdr;

	if (len < sizeof(hdr))
		PartialInvalid(&ClvDataKind, psprintf("%zu bytes", len));
	memcpy(&hdr, data, sizeof(hdr));
	if (hdr.format != CLV_DATA_FORMAT || hdr.flags < 1 || hdr.flags > CLV_FLAGS_MAX ||
		(hdr.flags & (COLLECT_HISTORY | COLLECT_SPEND)) == 0 ||
		hdr.nhist < 0 || hdr.nspend < 0 || hdr.nhist > PG_INT32_MAX || hdr.nspend > (int64) len ||
		hdr.hist_max_x < 0 || hdr.hist_max_x > CLV_MAX_FREQUENCY ||
		hdr.spend_max_x < 0 || hdr.spend_max_x > CLV_MAX_FREQUENCY ||
		!(hdr.skipped >= 0) || hdr.bad_bytes < 0 || (Size) hdr.bad_bytes > BadRowsMaxBytes() ||
		StateBytes(hdr.flags, hdr.nhist, hdr.nspend) + hdr.bad_bytes != len)
		PartialInvalid(&ClvDataKind,
					   psprintf("format %d, flags %d, " INT64_FORMAT " histories, " INT64_FORMAT
								" spends in %zu bytes", hdr.format, hdr.flags, hdr.nhist,
								hdr.nspend, len));
	return hdr;
}

/* Copy the next n bytes from *at */
static inline void
GetBytes(const char **at, void *dst, Size n)
{
	memcpy(dst, *at, n);
	*at += n;
}

/*
 * Refuse histories and spends a training could not have counted (a
 * caller's bytes): whole frequencies within the maxima, 0 <= t_x <= T,
 * positive finite weights, positive finite mean spends of repeat
 * customers, history references in range.
 */
static void
StateCheckValues(const ClvDataState *s, const ClvDataHeader *hdr)
{
	for (int64 r = 0; (s->flags & COLLECT_HISTORY) && r < s->hist.n; r++)
	{
		double		x = s->hist.x[r];

		CHECK_FOR_INTERRUPTS();
		if (!(x >= 0 && x <= hdr->hist_max_x && (double) (int32) x == x &&
			  s->hist.tx[r] >= 0 && s->hist.tx[r] <= s->hist.T[r] && s->hist.T[r] > 0 &&
			  s->hist.T[r] < INFINITY && s->hist.w[r] > 0 && s->hist.w[r] < INFINITY))
			PartialInvalid(&ClvDataKind, psprintf("history " INT64_FORMAT " is out of range", r));
	}
	for (int64 r = 0; (s->flags & COLLECT_SPEND) && r < s->spend.n; r++)
	{
		double		x = s->spend.x[r];

		if (!(x >= 1 && x <= hdr->spend_max_x && (double) (int32) x == x &&
			  s->spend.m[r] > 0 && s->spend.m[r] < INFINITY) ||
			((s->flags & COLLECT_HISTORY) && (s->spend.hist[r] < 0 || s->spend.hist[r] >= hdr->nhist)))
			PartialInvalid(&ClvDataKind, psprintf("spend " INT64_FORMAT " is out of range", r));
	}
}

/*
 * The arrays of a flat state, copied into a state without its hash (what
 * train() reads), or with it rebuilt (what combine needs); every value is
 * checked.
 */
static ClvDataState *
StateDeserialize(const char *data, Size len, bool hashed)
{
	ClvDataHeader hdr = StateCheck(data, len);
	ClvDataState *s = palloc0(sizeof(ClvDataState));
	const char *at = data + sizeof(hdr);

	s->flags = hdr.flags;
	s->skipped = hdr.skipped;
	if (hdr.flags & COLLECT_HISTORY)
	{
		HistTable  *t = &s->hist;

		t->n = hdr.nhist;
		t->cap = Max(t->n, hashed ? 256 : 1);
		t->max_x = hdr.hist_max_x;
		HistKeysAlloc(t);
		t->w = palloc_extended(sizeof(double) * t->cap, MCXT_ALLOC_HUGE);
		GetBytes(&at, t->x, sizeof(double) * t->n);
		GetBytes(&at, t->tx, sizeof(double) * t->n);
		GetBytes(&at, t->T, sizeof(double) * t->n);
		GetBytes(&at, t->w, sizeof(double) * t->n);
	}
	if (hdr.flags & COLLECT_SPEND)
	{
		SpendRows  *sp = &s->spend;

		sp->n = sp->cap = hdr.nspend;
		sp->max_x = hdr.spend_max_x;
		sp->x = palloc_extended(sizeof(double) * Max(sp->n, 1), MCXT_ALLOC_HUGE);
		sp->m = palloc_extended(sizeof(double) * Max(sp->n, 1), MCXT_ALLOC_HUGE);
		sp->hist = palloc_extended(sizeof(int32) * Max(sp->n, 1), MCXT_ALLOC_HUGE);
		GetBytes(&at, sp->x, sizeof(double) * sp->n);
		GetBytes(&at, sp->m, sizeof(double) * sp->n);
		if (hdr.flags & COLLECT_HISTORY)
			GetBytes(&at, sp->hist, sizeof(int32) * sp->n);
		else
			memset(sp->hist, 0xff, sizeof(int32) * sp->n);	/* -1: none */
	}
	StateCheckValues(s, &hdr);
	if (hashed && (hdr.flags & COLLECT_HISTORY))
	{
		HistIndex(&s->hist, s->hist.cap);
		pfree(s->hist.w);
		s->hist.w = NULL;
	}
	if (hashed && (hdr.flags & COLLECT_SPEND))
	{
		SpendRows  *sp = &s->spend;

		sp->cap = Max(sp->n, 256);
		sp->x = repalloc_huge(sp->x, sizeof(double) * sp->cap);
		sp->m = repalloc_huge(sp->m, sizeof(double) * sp->cap);
		sp->hist = repalloc_huge(sp->hist, sizeof(int32) * sp->cap);
	}
	{
		StringInfoData buf;

		buf.data = (char *) at;
		buf.len = hdr.bad_bytes;
		buf.maxlen = buf.len;
		buf.cursor = 0;
		if (!BadRowsRead(&buf, &s->bad) || buf.cursor != buf.len)
			PartialInvalid(&ClvDataKind, "bad skipped-row counts");
	}
	s->last_notice = GetCurrentTimestamp();
	return s;
}

/* The kind's expand: a state with its hash, ready to be added to */
static void *
StateExpand(const char *data, Size size)
{
	return StateDeserialize(data, size, true);
}

/* PartialKind's merge, the result checked */
static void
StateMergeChecked(void *into, void *from)
{
	StateMerge((ClvDataState *) into, (const ClvDataState *) from);
	StateAssertValid((ClvDataState *) into);
}

static const PartialKind ClvDataKind = {
	"clv_data", StateFlatSize, StateFlatten, StateExpand, StateMergeChecked
};

/* clv_data_serialize(state): the state as bytes (StateSerialize) */
Datum
clv_data_serialize(PG_FUNCTION_ARGS)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "clv_data_serialize called in non-aggregate context");
	PG_RETURN_BYTEA_P(StateSerialize((ClvDataState *) PG_GETARG_POINTER(0)));
}

/* clv_data_deserialize(bytes, internal): a state with its hash, for combining */
Datum
clv_data_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "clv_data_deserialize called in non-aggregate context");
	PG_RETURN_POINTER(StateDeserialize(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), true));
}

/* The final value: the serialized state (NULL when no row was read) */
Datum
clv_data_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	StateAssertValid((ClvDataState *) PG_GETARG_POINTER(0));
	PG_RETURN_BYTEA_P(StateSerialize((ClvDataState *) PG_GETARG_POINTER(0)));
}

/*
 * clv_data_sfunc(state bytea, flags, frequency, recency, t, monetary): the
 * 0.5.0 transition, its state an expanded object (partial.h).
 */
Datum
clv_data_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = PartialArg(fcinfo, 0, &ClvDataKind, true);
	MemoryContext old;

	if (ps == NULL)
	{
		int			flags = DataFlagsArg(fcinfo, NULL);

		ps = PartialNew(fcinfo, &ClvDataKind);
		old = MemoryContextSwitchTo(ps->cxt);
		ps->state = StateCreate(flags, 0, 0);
		MemoryContextSwitchTo(old);
	}
	else
		(void) DataFlagsArg(fcinfo, (ClvDataState *) ps->state);
	old = MemoryContextSwitchTo(ps->cxt);
	DataAddArgs((ClvDataState *) ps->state, fcinfo);
	MemoryContextSwitchTo(old);
	return PartialResult(fcinfo, ps);
}

/* clv_data_combinefunc(bytea, bytea): b merged into a; b is never modified */
Datum
clv_data_combinefunc(PG_FUNCTION_ARGS)
{
	return PartialCombine(fcinfo, &ClvDataKind);
}

/* clv_data_finalfunc(bytea): the state's bytes */
Datum
clv_data_finalfunc(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P(0));
}

/* ---------------------------------------------------------------------
 * train() for the lifetime-value algorithms
 * ---------------------------------------------------------------------
 */

/* The purchase and spend data of a training run, in the likelihoods' form */
typedef struct ClvData
{
	ClvDataState *state;
	ClvHistories hist;
	ClvSpends	spend;
	double		customers;
	double		repeat;
} ClvData;

/* Views of the state as the likelihoods' arrays */
static void
DataArrays(ClvData *d)
{
	ClvDataState *s = d->state;

	if (s->flags & COLLECT_HISTORY)
	{
		HistTable  *t = &s->hist;

		d->hist.n = t->n;
		d->hist.x = t->x;
		d->hist.tx = t->tx;
		d->hist.T = t->T;
		if (t->slots == NULL)
			d->hist.w = t->w;	/* read back without its hash: the weights as they are */
		else
		{
			d->hist.w = palloc_extended(sizeof(double) * Max(t->n, 1), MCXT_ALLOC_HUGE);
			HistWeights(t, d->hist.w);
		}
		d->hist.max_x = t->max_x;
		for (int64 r = 0; r < t->n; r++)
			d->customers += d->hist.w[r];
	}
	if (s->flags & COLLECT_SPEND)
	{
		d->spend.n = s->spend.n;
		d->spend.x = s->spend.x;
		d->spend.m = s->spend.m;
		d->spend.w = NULL;
		d->spend.max_x = s->spend.max_x;
		d->repeat = (double) s->spend.n;
	}
}

/* Resolve one input column of the source: it exists and is numeric */
static char *
InputColumn(const Source *src, const char *name, const char *role)
{
	AttrNumber	att = SourceColumn(src, name);
	FeatureConv conv;

	if (att == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation %s does not exist", name, src->qualname),
				 errhint("Name the %s column with the option \"columns\", such as {\"columns\": {\"%s\": \"my_column\"}}.",
						 role, role)));
	conv = ColumnConv(src, att, role);
	if (FeatureKindForConv(conv) != FEATURE_NUMERIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s column \"%s\" must be numeric", role, name),
				 errhint("Use an integer, float or numeric column, or cast it in a view.")));
	return pstrdup(name);
}

/* The spec of a lifetime-value model: its input columns, in the model's order */
static FeatureSpec *
ClvSpec(const Source *src, const ClvOptions *o)
{
	ProfAlgorithm alg = o->alg;
	FeatureSpec *spec = palloc0(sizeof(FeatureSpec));
	const char *roles[4];
	const char *names[4];
	int			n = 0;

	roles[n] = "frequency";
	names[n++] = o->frequency;
	if (alg != ALG_GAMMAGAMMA)
	{
		roles[n] = "recency";
		names[n++] = o->recency;
		roles[n] = "t";
		names[n++] = o->t;
	}
	if (alg == ALG_GAMMAGAMMA || alg == ALG_CLV)
	{
		roles[n] = "monetary";
		names[n++] = o->monetary;
	}
	spec->ncolumns = n;
	spec->columns = palloc0(sizeof(FeatureColumn) * n);
	for (int i = 0; i < n; i++)
	{
		spec->columns[i].name = InputColumn(src, names[i], roles[i]);
		spec->columns[i].kind = FEATURE_NUMERIC;
		spec->columns[i].mode_level = -1;
	}
	spec->impute = IMPUTE_SKIP;
	FeatureSpecLayout(spec);
	return spec;
}

/* The spec column of each aggregate input (frequency, recency, t, monetary), -1 if unread */
static void
InputColumns(int flags, int *col)
{
	col[0] = 0;
	col[1] = (flags & COLLECT_HISTORY) ? 1 : -1;
	col[2] = (flags & COLLECT_HISTORY) ? 2 : -1;
	col[3] = (flags & COLLECT_SPEND) ? ((flags & COLLECT_HISTORY) ? 3 : 1) : -1;
}

/*
 * Whether the source can be read by a scan of its heap instead of a
 * query: a plain local table without inheritance children and without
 * row-level security for the current user (column privileges are checked
 * before either path).  A Citus table is not one, whatever its kind says:
 * its rows are in its shards, and the coordinator's own heap of it is
 * empty or stale (a table filled, then distributed).  The scan skips the
 * executor's per-row work, the bulk of the read for a narrow table.
 */
static bool
DirectScanAllowed(const Source *src)
{
	return OidIsValid(src->relid) && get_rel_relkind(src->relid) == RELKIND_RELATION &&
		!has_subclass(src->relid) &&
		check_enable_rls(src->relid, InvalidOid, true) != RLS_ENABLED &&
		!CitusTable(src->relid);
}

/* The key of a scanned row as text, for the example of a bad row (NULL without) */
static char *
SlotKeyText(TupleTableSlot *slot, AttrNumber key_att)
{
	bool		isnull;
	Datum		d;
	Oid			outfn;
	bool		isvarlena;

	if (key_att == 0)
		return NULL;
	d = slot_getattr(slot, key_att, &isnull);
	if (isnull)
		return NULL;
	getTypeOutputInfo(TupleDescAttr(slot->tts_tupleDescriptor, key_att - 1)->atttypid, &outfn,
					  &isvarlena);
	return OidOutputFunctionCall(outfn, d);
}

/*
 * Read a plain table with a heap scan, at the active snapshot; key (NULL:
 * none) is the column that names a bad row in the NOTICE
 */
static ClvDataState *
ReadDirect(const Source *src, const FeatureSpec *spec, int flags, const char *key)
{
	Relation	rel = table_open(src->relid, AccessShareLock);
	double		tuples = rel->rd_rel->reltuples;
	/*
	 * Size the tables from the planner's row count: an eighth of the rows
	 * as distinct histories and half as repeat customers, so that few of
	 * the growth steps (each one re-places every row) remain.
	 */
	ClvDataState *s = StateCreate(flags, tuples > 0 ? (int64) Min(tuples / 8, 1 << 24) : 0,
								  tuples > 0 ? (int64) Min(tuples / 2, 1 << 26) : 0);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	int			col[4],
				att[4],
				natts = 0;
	FeatureConv conv[4];
	AttrNumber	key_att = key ? SourceColumn(src, key) : 0;
	int			problem[READ_BATCH];
	char	   *bad_key[READ_BATCH];

	InputColumns(flags, col);
	for (int i = 0; i < 4; i++)
	{
		if (col[i] < 0)
			continue;
		att[i] = SourceColumn(src, spec->columns[col[i]].name);
		conv[i] = FeatureConvForType(TupleDescAttr(RelationGetDescr(rel), att[i] - 1)->atttypid);
		natts = Max(natts, att[i]);
	}
	for (;;)
	{
		double		v[READ_BATCH][4];
		bool		null[READ_BATCH][4];
		int			n = 0;

		/*
		 * Read a batch of customers, ask for their hash slots, then count
		 * them: the slots' cache misses overlap instead of following one
		 * another, which halves the cost of counting.
		 */
		while (n < READ_BATCH && table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			slot_getsomeattrs(slot, natts);
			for (int i = 0; i < 4; i++)
			{
				null[n][i] = col[i] < 0 || slot->tts_isnull[att[i] - 1];
				v[n][i] = null[n][i] ? 0.0 :
					FeatureDatumToDouble(slot->tts_values[att[i] - 1], conv[i]);
			}
			if ((flags & COLLECT_HISTORY) && !null[n][0] && !null[n][1] && !null[n][2] &&
				v[n][0] != 0)
				HistPrefetch(&s->hist, v[n]);
			/*
			 * Under SKIP_BAD each row is judged once, here: a row no model
			 * can read has its key taken while the slot holds it, a good
			 * one is added without checking it again (UNCHECKED: a row
			 * StateAddRow checks, or skips for a NULL)
			 */
			problem[n] = (flags & SKIP_BAD) && !NullSkipped(flags, v[n], null[n]) ?
				RowProblem(flags, v[n]) : UNCHECKED;
			bad_key[n] = problem[n] >= 0 ? SlotKeyText(slot, key_att) : NULL;
			n++;
		}
		for (int j = 0; j < n; j++)
		{
			if (problem[j] >= 0)
				StateBadRow(s, problem[j], v[j], bad_key[j]);
			else if (problem[j] == UNCHECKED)
				StateAddRow(s, v[j], null[j]);
			else
				StateAddValid(s, v[j]);
			DataProgress(s);
		}
		if (n < READ_BATCH)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);
	return s;
}

/*
 * Read the source once: a heap scan of a plain table, else the query
 * SELECT profenrich.clv_data(...) FROM source (views, partitioned and
 * foreign tables, row-level security), which parallel workers can split.
 * key (NULL: none) names the example of a bad row.
 */
static void
ReadData(const Source *src, const FeatureSpec *spec, int flags, const char *key, ClvData *d)
{
	StringInfoData sql;
	bool		isnull;
	Datum		v;
	int			col[4];

	memset(d, 0, sizeof(ClvData));
	if (DirectScanAllowed(src))
	{
		d->state = ReadDirect(src, spec, flags, key);
		DataArrays(d);
		return;
	}
	InputColumns(flags, col);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT profenrich.clv_data(%d", flags);
	for (int i = 0; i < 4; i++)
	{
		if (col[i] < 0)
			appendStringInfoString(&sql, ", NULL::pg_catalog.float8");
		else
			appendStringInfo(&sql, ", %s::pg_catalog.float8", quote_identifier(spec->columns[col[i]].name));
	}
	if (key)
		appendStringInfo(&sql, ", %s::pg_catalog.text", quote_identifier(key));
	appendStringInfo(&sql, ") FROM %s", src->from);
	TrainQuery(sql.data, 0, NULL, NULL, 0);
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		d->state = StateCreate(flags, 0, 0);
	else
	{
		bytea	   *b = DatumGetByteaPP(v);

		d->state = StateDeserialize(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), false);
	}
	DataArrays(d);
}

/* Refuse to fit fewer than MIN_CUSTOMERS customers */
static void
CheckCustomers(double n, const char *who, const Source *src)
{
	if (n >= MIN_CUSTOMERS)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("too few customers in %s to train: %.0f %s, at least %d needed",
					src->qualname, n, who, MIN_CUSTOMERS),
			 errdetail("Customers with a NULL input are skipped."),
			 errhint("Train on more customers.")));
}

/* Fit one family, refusing a fit that did not converge */
static void
FitOrFail(ClvFamily family, const void *data, const ClvOptions *o, ClvFit *fit)
{
	if (ClvFitModel(family, data, o->max_iter, o->tol, o->warm_start, fit))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("%s model did not converge after %d iterations, last log-likelihood %.10g",
					family == CLV_BGNBD ? "BG/NBD" : family == CLV_PARETONBD ? "Pareto/NBD" :
					"Gamma-Gamma", fit->iterations, fit->loglik),
			 errdetail("No model was stored."),
			 errhint("Raise the option \"max_iter\", or check that the summaries use one time unit and follow the definitions.")));
}

/*
 * Discounted purchases of the horizon of every history, for a customer
 * alive now, from one evaluation per distinct (x, T): the factor that
 * ClvValue multiplies by P(alive) and the spend.  The distinct pairs are
 * found by a table indexed by x and T's value index (ClvIndexHistories),
 * or, when that table would be large, by the history hash.
 */
static double *
HistoryValueFactors(const ClvModel *m, ClvHistories *h)
{
	double	   *factor = palloc_extended(sizeof(double) * Max(h->n, 1), MCXT_ALLOC_HUGE);
	int64		cells;

	ClvIndexHistories(h);
	cells = (int64) (h->max_x + 1) * h->nuT;
	if (cells <= 4 * h->n + 4096)
	{
		double	   *byxt = palloc_extended(sizeof(double) * Max(cells, 1), MCXT_ALLOC_HUGE);

		double	   *Ts = palloc(sizeof(double) * Max(h->nuT, 1));
		int32	   *cell = palloc(sizeof(int32) * Max(h->nuT, 1));

		/* mark the (x, T) cells in use, then value them x by x */
		memset(byxt, 0, sizeof(double) * cells);
		for (int64 i = 0; i < h->n; i++)
			byxt[(int64) h->x[i] * h->nuT + h->iT[i]] = 1;
		for (int x = 0; x <= h->max_x; x++)
		{
			int			n = 0;

			for (int t = 0; t < h->nuT; t++)
				if (byxt[(int64) x * h->nuT + t] != 0)
				{
					Ts[n] = h->uT[t];
					cell[n++] = t;
				}
			if (n == 0)
				continue;
			ClvValueFactors(m, x, Ts, n, Ts);
			for (int j = 0; j < n; j++)
				byxt[(int64) x * h->nuT + cell[j]] = Ts[j];
			CHECK_FOR_INTERRUPTS();
		}
		for (int64 i = 0; i < h->n; i++)
			factor[i] = byxt[(int64) h->x[i] * h->nuT + h->iT[i]];
		pfree(byxt);
		pfree(Ts);
		pfree(cell);
	}
	else
	{
		HistTable	seen;
		double	   *byxt = palloc(sizeof(double) * 1024);
		int64		cap = 1024;

		HistInit(&seen, 1024);
		for (int64 i = 0; i < h->n; i++)
		{
			double		k[3] = {h->x[i], 0, h->T[i]};
			int64		before = seen.n;
			int32		r = HistAdd(&seen, k, 1.0);

			if (seen.n > before)
			{
				if (r >= cap)
				{
					cap *= 2;
					byxt = repalloc_huge(byxt, sizeof(double) * cap);
				}
				byxt[r] = ClvValueFactor(m, h->x[i], h->T[i]);
				CHECK_FOR_INTERRUPTS();
			}
			factor[i] = byxt[r];
		}
	}
	return factor;
}

/* Refuse a model whose scores are not finite for a training customer */
static void
RefuseNonFinite(const Model *model, const char *what)
{
	const ClvModel *m = (const ClvModel *) model->body;
	StringInfoData pars;

	initStringInfo(&pars);
	for (int k = 0; k < 2; k++)
	{
		const ClvFit *f = k == 0 ? &m->purchase : &m->spend;

		for (int i = 0; i < f->nparams; i++)
			appendStringInfo(&pars, "%s%s = %g", pars.len > 0 ? ", " : "",
							 ClvParamName(f->family, i), f->par[i]);
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("the fitted %s model gives no finite %s for some training customers", model->ops->name, what),
			 errdetail("The estimates are %s.", pars.data),
			 errhint("Parameters this extreme mean the customers do not identify the model (for example, nobody appears to drop out); train on more varied customers, or try the other purchase model.")));
}

/*
 * Refuse a fit without a proper maximum: where the Hessian is singular
 * the likelihood is flat along some direction (a parameter runs off to 0
 * or infinity), and the estimates mean nothing.
 */
static void
CheckIdentified(const ClvFit *f, const Source *src)
{
	StringInfoData pars;
	bool		flat = false;

	initStringInfo(&pars);
	for (int i = 0; i < f->nparams; i++)
	{
		flat |= !isfinite(f->se[i]);
		appendStringInfo(&pars, "%s%s = %g", i > 0 ? ", " : "", ClvParamName(f->family, i),
						 f->par[i]);
	}
	if (flat)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the %s fit on %s has no proper maximum",
						f->family == CLV_BGNBD ? "BG/NBD" : f->family == CLV_PARETONBD ?
						"Pareto/NBD" : "Gamma-Gamma", src->qualname),
				 errdetail("The likelihood is flat along some parameters at %s.", pars.data),
				 errhint("The customers do not identify every parameter (for example, all share one history, or nobody appears to drop out); train on more varied customers, or try the other purchase model.")));
}

/*
 * The training population's scores for percentiles, from the distinct
 * rows and their weights: P(alive) for a purchase model, expected spend
 * for a spend model, lifetime value for 'clv' (repeat customers from the
 * spend rows and their histories, the others from the histories with
 * frequency 0).  Beyond QUANTILE_ROWS repeat customers, a systematic
 * sample of them stands for the rest.  Computing them is also where a
 * model is refused whose scores, or (purchase models) whose expected
 * purchases, are not finite for some training customer.
 */
static void
ClvQuantiles(Model *model, ClvData *d)
{
	const ClvModel *m = (const ClvModel *) model->body;
	int64		n = 0,
				nweighted,
				stride,
				cap = d->hist.n + Min(d->spend.n, QUANTILE_ROWS) + 1;
	double	   *score = palloc_extended(sizeof(double) * cap, MCXT_ALLOC_HUGE),
			   *w = palloc_extended(sizeof(double) * cap, MCXT_ALLOC_HUGE);

	if (model->ops->code == ALG_GAMMAGAMMA)
	{
		stride = (d->spend.n + QUANTILE_ROWS - 1) / QUANTILE_ROWS;
		for (int64 i = 0; i < d->spend.n; i += stride, n++)
		{
			score[n] = ClvExpectedSpend(&m->spend, d->spend.x[i], d->spend.m[i]);
			w[n] = (double) Min(stride, d->spend.n - i);
		}
		nweighted = n;
	}
	else if (model->ops->code != ALG_CLV)
	{
		/* the expectations must evaluate: a year's purchases of every (x, T) */
		ClvModel	year = *m;
		double	   *value;

		year.horizon_months = 12;
		year.unit_days = 7;
		year.discount_rate = 0;
		value = HistoryValueFactors(&year, &d->hist);
		for (int64 i = 0; i < d->hist.n; i++)
			if (!isfinite(value[i]))
				RefuseNonFinite(model, "expected purchases");
		ClvPAliveAll(&m->purchase, &d->hist, score);
		memcpy(w, d->hist.w, sizeof(double) * d->hist.n);
		n = nweighted = d->hist.n;
	}
	else
	{
		double	   *value = HistoryValueFactors(m, &d->hist);
		double	   *alive = palloc_extended(sizeof(double) * Max(d->hist.n, 1), MCXT_ALLOC_HUGE);
		double		mean_spend = ClvExpectedSpend(&m->spend, 0, 0);
		const SpendRows *sp = &d->state->spend;
		double		p = m->spend.par[0],
					q = m->spend.par[1],
					gam = m->spend.par[2];
		double	   *inv = palloc(sizeof(double) * (sp->max_x + 1));

		ClvPAliveAll(&m->purchase, &d->hist, alive);
		for (int64 i = 0; i < d->hist.n; i++)
		{
			value[i] *= alive[i];
			if (d->hist.x[i] == 0)
			{
				score[n] = value[i] * mean_spend;
				w[n++] = d->hist.w[i];
			}
		}
		/* the Gamma-Gamma mean p (gamma + m x) / (p x + q - 1), its divisor per x */
		for (int x = 1; x <= sp->max_x; x++)
			inv[x] = p / (p * x + q - 1);
		/*
		 * Repeat customers: all of them up to QUANTILE_ROWS, beyond that a
		 * systematic sample of QUANTILE_ROWS standing for stride each (the
		 * cut points' error is then below 0.2 percentile points).
		 */
		stride = (sp->n + QUANTILE_ROWS - 1) / QUANTILE_ROWS;
		for (int64 i = 0; i < sp->n; i += stride, n++)
		{
			score[n] = value[sp->hist[i]] * (gam + sp->m[i] * sp->x[i]) * inv[(int) sp->x[i]];
			w[n] = (double) Min(stride, sp->n - i);
		}
		nweighted = n;
	}
	for (int64 i = 0; i < n; i++)
		if (!isfinite(score[i]))
			RefuseNonFinite(model, model->ops->code == ALG_CLV ? "lifetime value" :
							model->ops->code == ALG_GAMMAGAMMA ? "expected spend" : "P(alive)");
	ModelSetWeightedQuantiles(model, score, w, nweighted, n);
}

/* The effective options of a lifetime-value algorithm, as members of a JSON object */
void
ClvOptionsJson(StringInfo out, const void *opts)
{
	const ClvOptions *o = (const ClvOptions *) opts;
	ProfAlgorithm alg = o->alg;

	appendStringInfo(out, "%s\"max_iter\": %d, \"tol\": %s, \"warm_start\": %s, "
					 "\"columns\": {\"frequency\": ", out->data[out->len - 1] == '{' ? "" : ", ",
					 o->max_iter, float8out_internal(o->tol), o->warm_start ? "true" : "false");
	escape_json(out, o->frequency);
	if (alg != ALG_GAMMAGAMMA)
	{
		appendStringInfoString(out, ", \"recency\": ");
		escape_json(out, o->recency);
		appendStringInfoString(out, ", \"t\": ");
		escape_json(out, o->t);
	}
	if (alg == ALG_GAMMAGAMMA || alg == ALG_CLV)
	{
		appendStringInfoString(out, ", \"monetary\": ");
		escape_json(out, o->monetary);
	}
	appendStringInfoChar(out, '}');
	if (alg == ALG_CLV)
		appendStringInfo(out, ", \"purchase_model\": \"%s\", \"horizon_months\": %d, "
						 "\"discount_rate\": %s, \"unit_days\": %s",
						 o->purchase_model == CLV_PARETONBD ? "paretonbd" : "bgnbd",
						 o->horizon_months, float8out_internal(o->discount_rate),
						 float8out_internal(o->unit_days));
}

/* Metrics of one submodel, prefixed ("purchase_", "spend_") or not */
static void
FitMetrics(StringInfo out, const char *prefix, const ClvFit *f)
{
	char		key[64];

	snprintf(key, sizeof(key), "%slog_likelihood", prefix);
	JsonField(out, key, f->loglik);
	snprintf(key, sizeof(key), "%siterations", prefix);
	JsonField(out, key, f->iterations);
}

/* The metrics of a lifetime-value model, as members of the job's metrics object */
static void
ClvMetrics(StringInfo out, const Model *model, const ClvData *d)
{
	const ClvModel *m = (const ClvModel *) model->body;
	bool		both = m->purchase.family != CLV_NONE && m->spend.family != CLV_NONE;
	if (both)
	{
		ClvFit		sum = m->purchase;

		sum.loglik += m->spend.loglik;
		sum.iterations += m->spend.iterations;
		FitMetrics(out, "", &sum);
		FitMetrics(out, "purchase_", &m->purchase);
		FitMetrics(out, "spend_", &m->spend);
	}
	else
		FitMetrics(out, "", m->purchase.family != CLV_NONE ? &m->purchase : &m->spend);
	appendStringInfoString(out, ", \"converged\": true");
	JsonField(out, "n_train", model->ops->code == ALG_GAMMAGAMMA ? d->repeat : d->customers);
	if (m->spend.family != CLV_NONE)
		JsonField(out, "n_repeat", d->repeat);
	if (m->purchase.family != CLV_NONE)
		JsonField(out, "distinct_histories", d->hist.n);
	JsonField(out, "n_skipped", d->state->skipped + (double) BadRowsBad(&d->state->bad));
	if (model->ops->code == ALG_CLV)
		JsonField(out, "mean_spend", ClvExpectedSpend(&m->spend, 0, 0));
}

/*
 * train(name, 'bgnbd' | 'paretonbd' | 'gammagamma' | 'clv', source, NULL,
 * NULL, options): read the summaries once and fit.
 */
void
TrainClv(TrainJob *job)
{
	ClvOptions *o = (ClvOptions *) job->algopts;
	ProfAlgorithm alg = job->ops->code;
	Model	   *model = &job->model;
	ClvModel   *m = palloc0(sizeof(ClvModel));
	ClvData		d;
	int			flags = alg == ALG_GAMMAGAMMA ? COLLECT_SPEND :
		alg == ALG_CLV ? COLLECT_HISTORY | COLLECT_SPEND : COLLECT_HISTORY;

	if (job->target_arg != NULL || job->features_arg != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("algorithm \"%s\" takes no target or features", job->ops->name),
				 errhint("It reads the columns frequency, recency, t and monetary; name others with the option \"columns\".")));
	model->body = m;
	model->spec = ClvSpec(&job->src, o);
	CheckPrivileges(model->spec, &job->src);
	/* rows no model can read are skipped, counted and named by the primary key */
	if (job->opts.on_bad_row == BAD_ROW_SKIP)
		flags |= SKIP_BAD;
	job->key_column = OidIsValid(job->src.relid) ? SourcePrimaryKey(job->src.relid) : NULL;
	ReadData(&job->src, model->spec, flags, job->key_column, &d);
	job->bad = d.state->bad;
	job->n_skipped = d.state->skipped;
	job->rows_read = (flags & COLLECT_HISTORY) ?
		d.customers + d.state->skipped + (double) BadRowsBad(&d.state->bad) : -1;

	if (flags & COLLECT_HISTORY)
	{
		CheckCustomers(d.customers, "customers", &job->src);
		ClvIndexHistories(&d.hist);
		FitOrFail(alg == ALG_PARETONBD || (alg == ALG_CLV && o->purchase_model == CLV_PARETONBD) ?
				  CLV_PARETONBD : CLV_BGNBD, &d.hist, o, &m->purchase);
		CheckIdentified(&m->purchase, &job->src);
	}
	if (flags & COLLECT_SPEND)
	{
		CheckCustomers(d.repeat, "repeat customers (frequency > 0)", &job->src);
		FitOrFail(CLV_GAMMAGAMMA, &d.spend, o, &m->spend);
		CheckIdentified(&m->spend, &job->src);
		if (!(m->spend.par[1] > 1))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the spend model's q is %g: mean spend per transaction is infinite",
							m->spend.par[1]),
					 errhint("Check the monetary column: a few extreme mean spends make q fall to 1 or below.")));
	}
	m->horizon_months = o->horizon_months;
	m->discount_rate = o->discount_rate;
	m->unit_days = o->unit_days;
	ClvQuantiles(model, &d);
	ClvMetrics(&job->metrics, model, &d);
	job->n_train = alg == ALG_GAMMAGAMMA ? d.repeat : d.customers;
	job->n_test = 0;
}
