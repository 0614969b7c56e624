/*-------------------------------------------------------------------------
 * profile.c
 *	  profenrich.profile_summary(source, columns): one row per column with
 *	  counts, moments, quantiles, a distinct count and the most frequent
 *	  values, from one scan of the source by the combinable aggregate
 *	  profenrich.profile_stats(names text[], VARIADIC "any").
 *
 * Each column buffers its values in blocks of SKETCH_BLOCK and summarizes
 * a block at a time, so that one column's structures are hot in cache at
 * once.  A column stays exact while it has at most VTABLE_MAX distinct
 * values: its table of values and counts gives the distinct count, the
 * top values and the quantiles (as percentile_cont) exactly.  Beyond
 * that, numbers go to the quantile sketch (seeded exactly from the table)
 * and texts and enums keep Misra-Gries counters; both then estimate the
 * distinct count with K minimum values.
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
#include "profenrich.h"
#include "sketch.h"

#define PROFILE_STATS_FORMAT 1
#define PROGRESS_ROWS_MASK ((1 << 20) - 1)
#define PROGRESS_INTERVAL_MS 10000
#define TOP_VALUES 10
#define PROFILE_NCOLS 16

PG_FUNCTION_INFO_V1(profile_stats_trans);
PG_FUNCTION_INFO_V1(profile_stats_combine);
PG_FUNCTION_INFO_V1(profile_stats_serialize);
PG_FUNCTION_INFO_V1(profile_stats_deserialize);
PG_FUNCTION_INFO_V1(profile_stats_final);
PG_FUNCTION_INFO_V1(profile_summary);

/* What the summary holds of one column */
typedef struct ProfileColumn
{
	uint8		kind;			/* DiscKind */
	bool		exact;			/* the table holds every value with its count */
	int64		n;				/* non-NULL values summarized (the block excluded) */
	BlockMoments mom;			/* numbers */
	double		min;			/* numbers, when n > 0 */
	double		max;
	VTable		table;			/* exact values, or Misra-Gries counters (texts, enums) */
	QSketch		sketch;			/* numbers, once not exact */
	Kmv			kmv;			/* once not exact */
	/* the block of values waiting; allocated on first use */
	int			fill;
	double	   *vals;			/* numbers */
	uint64	   *keys;			/* texts and enums */
	int		   *soff;			/* texts: offset and length of each string in arena */
	int		   *slen;
	StringInfoData arena;
} ProfileColumn;

typedef struct ProfileState
{
	int			ncols;
	int64		rows;
	ProfileColumn *cols;
	uint8	   *conv;			/* transition states: DiscConv per column */
	char	  **names;			/* transition states: column names, for messages */
	uint64	   *keys;			/* scratch: a block's keys */
	SketchScratch sc;
	TimestampTz last_notice;
} ProfileState;

static const double ProfileQuantiles[5] = {0.01, 0.25, 0.5, 0.75, 0.99};

/* Bytes that cannot be a profile_stats state */
static void
ProfileFail(const char *why)
{
	DiscStateError("profile_stats", why);
}

/* An empty state of ncols columns of the given kinds, in the current context */
static ProfileState *
ProfileCreate(int ncols, const uint8 *kinds)
{
	ProfileState *st = palloc0(sizeof(ProfileState));

	st->ncols = ncols;
	st->cols = palloc0(sizeof(ProfileColumn) * ncols);
	for (int i = 0; i < ncols; i++)
	{
		ProfileColumn *c = &st->cols[i];

		c->kind = kinds[i];
		c->exact = true;
		VTableInit(&c->table, kinds[i] == DK_TEXT);
		QSketchInit(&c->sketch);
	}
	SketchScratchInit(&st->sc);
	st->last_notice = GetCurrentTimestamp();
	return st;
}

/* The block buffers of a column (and the state's scratch), on first use */
static void
ProfileBlockAlloc(ProfileState *st, ProfileColumn *c)
{
	if (st->keys == NULL)
	{
		st->keys = palloc(sizeof(uint64) * SKETCH_BLOCK);
	}
	if (DISC_KIND_IS_NUMBER(c->kind))
		c->vals = palloc(sizeof(double) * SKETCH_BLOCK);
	else
		c->keys = palloc(sizeof(uint64) * SKETCH_BLOCK);
	if (c->kind == DK_TEXT)
	{
		c->soff = palloc(sizeof(int) * SKETCH_BLOCK);
		c->slen = palloc(sizeof(int) * SKETCH_BLOCK);
		initStringInfo(&c->arena);
	}
}

/*
 * A number column leaves exact mode: the table's values and counts seed
 * the sketch (exactly) and the distinct count, and the table goes.
 */
static void
NumberLeaveExact(ProfileState *st, ProfileColumn *c)
{
	VEntry	   *e;
	int			m = VTableSorted(&c->table, &e, NULL);
	uint64	   *k = palloc(sizeof(uint64) * Max(m, 1));
	int64	   *cnt = palloc(sizeof(int64) * Max(m, 1));

	for (int i = 0; i < m; i++)
	{
		k[i] = e[i].key;
		cnt[i] = e[i].n;
	}
	QSketchInsertCounted(&c->sketch, k, cnt, m, &st->sc);
	KmvInit(&c->kmv);
	for (int i = 0; i < m; i++)
		KmvAdd(&c->kmv, KeyMix(k[i]), &st->sc);
	pfree(k);
	pfree(cnt);
	pfree(e);
	VTableFree(&c->table);
	c->exact = false;
}

/* A text or enum column leaves exact mode: the table's keys seed the distinct count */
static void
CategoryLeaveExact(ProfileState *st, ProfileColumn *c)
{
	KmvInit(&c->kmv);
	for (int s = 0; s < c->table.nslots; s++)
		if (c->table.slots[s].key != 0)
			KmvAdd(&c->kmv, KeyMix(c->table.slots[s].key), &st->sc);
	c->exact = false;
}

/*
 * Count a block's keys in the exact table; returns how many it counted
 * (fewer than m when the table overflowed and the column left exact mode).
 */
static int
NumberCountExact(ProfileState *st, ProfileColumn *c, const uint64 *keys, int m)
{
	VTable	   *t = &c->table;

	for (int i = 0; i < m; i++)
	{
		uint64		k = keys[i];

		if (likely(t->nslots > 0))
		{
			int			s = VTableSlot(t, k);

			if (t->slots[s].key == k)
			{
				t->slots[s].n++;
				continue;
			}
		}
		if (t->len == VTABLE_MAX)
		{
			NumberLeaveExact(st, c);
			return i;
		}
		VTableInsert(t, k, NULL, 0)->n = 1;
	}
	return m;
}

/*
 * Summarize a block of numbers: moments and range, then counts in the
 * exact table, or (not exact) the values sorted into the sketch and their
 * hashes into the distinct count.
 */
static void
NumberBlock(ProfileState *st, ProfileColumn *c)
{
	int			m = c->fill;
	uint64	   *keys = st->keys;
	double		lo,
				hi;
	int			done = 0;

	if (m == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	BlockMomentsAdd(&c->mom, c->vals, m, &lo, &hi);
	c->min = c->n == 0 ? lo : Min(c->min, lo);
	c->max = c->n == 0 ? hi : Max(c->max, hi);
	c->n += m;
	if (c->exact)
	{
		for (int i = 0; i < m; i++)
			keys[i] = KeyFromDouble(c->vals[i]);
		done = NumberCountExact(st, c, keys, m);
	}
	if (done < m)
	{
		DoubleSortKeys(c->vals + done, m - done, keys + done, lo, hi);
		QSketchInsert(&c->sketch, 0, keys + done, m - done, &st->sc);
		for (int i = done; i < m; i++)
			if (i == done || keys[i] != keys[i - 1])
				KmvAdd(&c->kmv, KeyMix(keys[i]), &st->sc);
	}
	c->fill = 0;
}

/*
 * Summarize a block of texts or enums: count them in the table; past
 * VTABLE_MAX distinct values the table purges (Misra-Gries) and the
 * distinct count takes every hash.
 */
static void
CategoryBlock(ProfileState *st, ProfileColumn *c)
{
	VTable	   *t = &c->table;
	int			m = c->fill;

	if (m == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	c->n += m;
	for (int i = 0; i < m; i++)
	{
		uint64		k = c->keys[i];
		VEntry	   *e;

		if (likely(t->nslots > 0))
		{
			int			s = VTableSlot(t, k);

			if (t->slots[s].key == k)
			{
				t->slots[s].n++;
				continue;
			}
		}
		e = VTableInsert(t, k, c->kind == DK_TEXT ? c->arena.data + c->soff[i] : NULL,
						 c->kind == DK_TEXT ? c->slen[i] : 0);
		e->n = 1;
		if (t->len > VTABLE_MAX)
		{
			if (c->exact)
				CategoryLeaveExact(st, c);
			VTablePurge(t);
		}
	}
	if (!c->exact)
		for (int i = 0; i < m; i++)
			KmvAdd(&c->kmv, KeyMix(c->keys[i]), &st->sc);
	c->fill = 0;
	if (c->kind == DK_TEXT)
		resetStringInfo(&c->arena);
}

/* Summarize whatever waits in a column's block */
static void
ProfileColumnFlush(ProfileState *st, ProfileColumn *c)
{
	if (DISC_KIND_IS_NUMBER(c->kind))
		NumberBlock(st, c);
	else
		CategoryBlock(st, c);
}

/* Add a finite number to a column's block */
static inline void
AddNumber(ProfileState *st, ProfileColumn *c, double x)
{
	if (unlikely(c->vals == NULL))
		ProfileBlockAlloc(st, c);
	c->vals[c->fill++] = x;
	if (unlikely(c->fill == SKETCH_BLOCK))
		NumberBlock(st, c);
}

/* Add a key (and for texts its display bytes, clipped) to a column's block */
static void
AddCategory(ProfileState *st, ProfileColumn *c, uint64 key, const char *s, int len)
{
	if (unlikely(c->keys == NULL))
		ProfileBlockAlloc(st, c);
	c->keys[c->fill] = key;
	if (c->kind == DK_TEXT)
	{
		int			clip = len <= DISC_SHOW_BYTES ? len : pg_mbcliplen(s, len, DISC_SHOW_BYTES);

		c->soff[c->fill] = c->arena.len;
		appendBinaryStringInfo(&c->arena, s, clip);
		if (clip < len)
			appendStringInfoString(&c->arena, "...");
		c->slen[c->fill] = c->arena.len - c->soff[c->fill];
	}
	if (++c->fill == SKETCH_BLOCK)
		CategoryBlock(st, c);
}

/* Add one non-NULL datum of column i */
static inline void
AddDatum(ProfileState *st, int i, Datum d)
{
	ProfileColumn *c = &st->cols[i];
	DiscConv	conv = (DiscConv) st->conv[i];
	double		x;

	if (likely(conv == DC_FLOAT8))
		x = DatumGetFloat8(d) + 0.0;
	else if (conv == DC_TEXT || conv == DC_BPCHAR || conv == DC_CSTRING)
	{
		const char *s;
		int			len;
		Pointer		copy;
		uint64		key = DiscTextKey(d, conv, &s, &len, &copy);

		AddCategory(st, c, key, s, len);
		if (copy)
			pfree(copy);
		return;
	}
	else if (conv == DC_ENUM)
	{
		AddCategory(st, c, (uint64) DatumGetObjectId(d), NULL, 0);
		return;
	}
	else
		x = DiscToDouble(d, conv);
	if (unlikely(!isfinite(x)))
		DiscNotFinite(st->names[i]);
	AddNumber(st, c, x);
}

/* The transition state of the first row: the columns' types, from the call */
static ProfileState *
ProfileStart(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	int			n = PG_NARGS() - 2;
	char	  **names = DiscArgNames(fcinfo, n, aggcxt);
	DiscConv   *conv = palloc(sizeof(DiscConv) * n);
	uint8	   *kinds = palloc(sizeof(uint8) * n);
	ProfileState *st;

	DiscBindArgs(fcinfo, 2, n, conv, kinds, names, "profile_stats");
	st = ProfileCreate(n, kinds);
	st->names = names;
	st->conv = palloc(sizeof(uint8) * n);
	for (int i = 0; i < n; i++)
		st->conv[i] = (uint8) conv[i];
	return st;
}

/* A NOTICE at most every 10 seconds of a long pass (checked every 2^20 rows) */
static void
ProfileProgress(ProfileState *st)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!TimestampDifferenceExceeds(st->last_notice, now, PROGRESS_INTERVAL_MS))
		return;
	ereport(NOTICE,
			(errmsg("profenrich: profile pass has read " INT64_FORMAT " rows", st->rows)));
	st->last_notice = now;
}

/*
 * profile_stats_trans(internal, names text[], VARIADIC "any"): one row,
 * one argument per column.
 */
Datum
profile_stats_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ProfileState *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "profile_stats_trans called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	st = PG_ARGISNULL(0) ? ProfileStart(fcinfo, aggcxt) : (ProfileState *) PG_GETARG_POINTER(0);
	st->rows++;
	for (int i = 0; i < st->ncols; i++)
		if (!fcinfo->args[i + 2].isnull)
			AddDatum(st, i, fcinfo->args[i + 2].value);
	if (unlikely((st->rows & PROGRESS_ROWS_MASK) == 0))
		ProfileProgress(st);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

/* Merge number summaries: tables while the union stays small, else sketches */
static void
NumberMerge(ProfileState *st, ProfileColumn *a, const ProfileColumn *b)
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
				VEntry	   *f;

				if (e->key == 0)
					continue;
				f = VTableFind(&a->table, e->key);
				if (f == NULL)
					f = VTableInsert(&a->table, e->key, NULL, 0);
				f->n += e->n;
			}
			return;
		}
	}
	if (a->exact)
		NumberLeaveExact(st, a);
	if (b->exact)
	{
		VEntry	   *e;
		int			m = VTableSorted(&b->table, &e, NULL);
		uint64	   *k = palloc(sizeof(uint64) * Max(m, 1));
		int64	   *cnt = palloc(sizeof(int64) * Max(m, 1));

		for (int i = 0; i < m; i++)
		{
			k[i] = e[i].key;
			cnt[i] = e[i].n;
			KmvAdd(&a->kmv, KeyMix(k[i]), &st->sc);
		}
		QSketchInsertCounted(&a->sketch, k, cnt, m, &st->sc);
	}
	else
	{
		QSketchMerge(&a->sketch, &b->sketch, &st->sc);
		KmvMerge(&a->kmv, &b->kmv, &st->sc);
	}
}

/* Merge text or enum summaries: Misra-Gries counters merge by adding, then purging */
static void
CategoryMerge(ProfileState *st, ProfileColumn *a, const ProfileColumn *b)
{
	if (a->exact && !b->exact)
		CategoryLeaveExact(st, a);
	for (int s = 0; s < b->table.nslots; s++)
	{
		const VEntry *e = &b->table.slots[s];
		VEntry	   *f;

		if (e->key == 0)
			continue;
		f = VTableFind(&a->table, e->key);
		if (f == NULL)
		{
			const char *str = b->table.strs ? b->table.strs[s] : NULL;

			f = VTableInsert(&a->table, e->key, str, str ? strlen(str) : 0);
		}
		f->n += e->n;
		if (!a->exact)
			KmvAdd(&a->kmv, KeyMix(e->key), &st->sc);
		if (a->table.len > VTABLE_MAX)
		{
			if (a->exact)
				CategoryLeaveExact(st, a);
			VTablePurge(&a->table);
		}
	}
	a->table.decrements += b->table.decrements;
	if (!b->exact)
		KmvMerge(&a->kmv, &b->kmv, &st->sc);
}

/* Values waiting in b's block go into a's (b is not modified) */
static void
AppendPending(ProfileState *st, ProfileColumn *a, const ProfileColumn *b)
{
	for (int i = 0; i < b->fill; i++)
	{
		if (DISC_KIND_IS_NUMBER(b->kind))
			AddNumber(st, a, b->vals[i]);
		else
			AddCategory(st, a, b->keys[i], b->kind == DK_TEXT ? b->arena.data + b->soff[i] : NULL,
						b->kind == DK_TEXT ? b->slen[i] : 0);
	}
}

/* Fold column b into column a; b is not modified */
static void
ProfileColumnMerge(ProfileState *st, ProfileColumn *a, const ProfileColumn *b)
{
	if (b->n > 0 && DISC_KIND_IS_NUMBER(a->kind))
	{
		a->min = a->n == 0 ? b->min : Min(a->min, b->min);
		a->max = a->n == 0 ? b->max : Max(a->max, b->max);
	}
	BlockMomentsMerge(&a->mom, &b->mom);
	a->n += b->n;
	if (DISC_KIND_IS_NUMBER(a->kind))
		NumberMerge(st, a, b);
	else
		CategoryMerge(st, a, b);
	AppendPending(st, a, b);
}

/* profile_stats_combine(internal, internal): b is not modified */
Datum
profile_stats_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ProfileState *a,
			   *b;
	Datum		result;

	if (AggCombineDone(fcinfo, "profile_stats_combine", &aggcxt, &result))
		return result;
	b = (ProfileState *) PG_GETARG_POINTER(1);
	old = MemoryContextSwitchTo(aggcxt);
	if (PG_ARGISNULL(0))
	{
		uint8	   *kinds = palloc(sizeof(uint8) * b->ncols);

		for (int i = 0; i < b->ncols; i++)
			kinds[i] = b->cols[i].kind;
		a = ProfileCreate(b->ncols, kinds);
	}
	else
		a = (ProfileState *) PG_GETARG_POINTER(0);
	if (a->ncols != b->ncols)
		elog(ERROR, "cannot combine profile_stats states of %d and %d columns", a->ncols, b->ncols);
	for (int i = 0; i < a->ncols; i++)
	{
		if (a->cols[i].kind != b->cols[i].kind)
			elog(ERROR, "cannot combine profile_stats states of different column kinds");
		ProfileColumnMerge(a, &a->cols[i], &b->cols[i]);
	}
	a->rows += b->rows;
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* Write one column: header, moments, table, and when not exact the sketch and distinct count */
static void
ColumnWrite(StringInfo buf, ProfileState *st, ProfileColumn *c)
{
	pq_sendbyte(buf, c->kind);
	pq_sendbyte(buf, c->exact ? 1 : 0);
	pq_sendint64(buf, c->n);
	pq_sendfloat8(buf, c->mom.mean);
	pq_sendfloat8(buf, c->mom.m2);
	pq_sendfloat8(buf, c->min);
	pq_sendfloat8(buf, c->max);
	pq_sendint64(buf, c->table.decrements);
	pq_sendint32(buf, c->table.len);
	for (int s = 0; s < c->table.nslots; s++)
	{
		if (c->table.slots[s].key == 0)
			continue;
		pq_sendint64(buf, c->table.slots[s].key);
		pq_sendint64(buf, c->table.slots[s].n);
		if (c->kind == DK_TEXT)
		{
			int			len = strlen(c->table.strs[s]);

			pq_sendint32(buf, len);
			pq_sendbytes(buf, c->table.strs[s], len);
		}
	}
	if (!c->exact && DISC_KIND_IS_NUMBER(c->kind))
		QSketchWrite(buf, &c->sketch);
	if (!c->exact)
		KmvWrite(buf, &c->kmv, &st->sc);
}

/* The state as bytes, after summarizing the values still waiting in blocks */
static bytea *
ProfileWrite(ProfileState *st)
{
	StringInfoData buf;

	for (int i = 0; i < st->ncols; i++)
		ProfileColumnFlush(st, &st->cols[i]);
	pq_begintypsend(&buf);
	pq_sendint32(&buf, PROFILE_STATS_FORMAT);
	pq_sendint32(&buf, st->ncols);
	pq_sendint64(&buf, st->rows);
	for (int i = 0; i < st->ncols; i++)
		ColumnWrite(&buf, st, &st->cols[i]);
	return pq_endtypsend(&buf);
}

/* Read and check a column's table: distinct non-zero keys, positive counts, sane strings */
static int64
ColumnReadTable(StringInfo buf, ProfileColumn *c, int len)
{
	int64		total = 0;

	for (int i = 0; i < len; i++)
	{
		uint64		key;
		int64		n;
		VEntry	   *e;
		char	   *str = NULL;
		int			slen = 0;

		SketchNeed(buf, 16, ProfileFail);
		key = pq_getmsgint64(buf);
		n = pq_getmsgint64(buf);
		if (key == 0 || n < 1 || n > c->n || VTableFind(&c->table, key) != NULL)
			ProfileFail("bad table entry");
		if (DISC_KIND_IS_NUMBER(c->kind))
		{
			double		v = KeyToDouble(key);

			if (!isfinite(v) || v < c->min || v > c->max)
				ProfileFail("table value out of range");
		}
		if (c->kind == DK_ENUM && key > PG_UINT32_MAX)
			ProfileFail("bad enum value");
		if (c->kind == DK_TEXT)
		{
			SketchNeed(buf, 4, ProfileFail);
			slen = pq_getmsgint(buf, 4);
			if (slen < 0 || slen > DISC_SHOW_BYTES + 3)
				ProfileFail("bad string length");
			SketchNeed(buf, slen, ProfileFail);
			str = (char *) pq_getmsgbytes(buf, slen);
			if (!pg_verify_mbstr(GetDatabaseEncoding(), str, slen, true))
				ProfileFail("invalid string");
		}
		e = VTableInsert(&c->table, key, str, slen);
		e->n = n;
		total += n;
		if (total > c->n)
			ProfileFail("table counts exceed the value count");
	}
	return total;
}

/* Read and check one column against the row count */
static void
ColumnRead(StringInfo buf, ProfileState *st, ProfileColumn *c, int64 rows)
{
	int			len;
	int64		total;
	uint8		kind,
				exact;
	bool		number;

	SketchNeed(buf, 2 + 8 + 4 * 8 + 8 + 4, ProfileFail);
	kind = pq_getmsgbyte(buf);
	exact = pq_getmsgbyte(buf);
	if (!DISC_KIND_VALID(kind) || exact > 1)
		ProfileFail("bad column kind");
	number = DISC_KIND_IS_NUMBER(kind);
	c->kind = kind;
	c->exact = exact == 1;
	VTableInit(&c->table, kind == DK_TEXT);
	c->n = pq_getmsgint64(buf);
	c->mom.mean = pq_getmsgfloat8(buf);
	c->mom.m2 = pq_getmsgfloat8(buf);
	c->min = pq_getmsgfloat8(buf);
	c->max = pq_getmsgfloat8(buf);
	c->mom.n = number ? c->n : 0;
	if (c->n < 0 || c->n > rows)
		ProfileFail("bad value count");
	if (!isfinite(c->mom.mean) || !isfinite(c->mom.m2) || c->mom.m2 < 0 ||
		!isfinite(c->min) || !isfinite(c->max) || c->min > c->max)
		ProfileFail("bad moments");
	if (!number && (c->mom.mean != 0 || c->mom.m2 != 0 || c->min != 0 || c->max != 0))
		ProfileFail("moments of a text column");
	c->table.decrements = pq_getmsgint64(buf);
	len = pq_getmsgint(buf, 4);
	if (len < 0 || len > VTABLE_MAX || c->table.decrements < 0 ||
		((c->exact || number) && c->table.decrements != 0) || (number && !c->exact && len != 0))
		ProfileFail("bad table header");
	total = ColumnReadTable(buf, c, len);
	if (c->exact && total != c->n)
		ProfileFail("exact counts do not add up");
	if (!c->exact && c->n <= VTABLE_MAX)
		ProfileFail("an inexact column with few values");
	if (!c->exact && number)
	{
		QSketchRead(buf, &c->sketch, ProfileFail);
		if (c->sketch.n != (uint64) c->n)
			ProfileFail("sketch weight differs from the value count");
		for (int l = 0; l < c->sketch.nlevels; l++)
			for (int i = 0; i < c->sketch.len[l]; i++)
			{
				double		v = KeyToDouble(c->sketch.items[l][i]);

				if (!isfinite(v) || v < c->min || v > c->max)
					ProfileFail("sketch value out of range");
			}
	}
	if (!c->exact)
		KmvRead(buf, &c->kmv, ProfileFail);
}

/* Rebuild and check a state from bytes */
static ProfileState *
ProfileRead(bytea *bytes)
{
	StringInfoData buf;
	ProfileState *st;
	int			ncols;
	int64		rows;
	uint8		kinds[DISC_ARGS_PER_CALL];

	BYTES_READER(&buf, bytes);
	SketchNeed(&buf, 4 + 4 + 8, ProfileFail);
	if (pq_getmsgint(&buf, 4) != PROFILE_STATS_FORMAT)
		ProfileFail("unknown format version");
	ncols = pq_getmsgint(&buf, 4);
	rows = pq_getmsgint64(&buf);
	if (ncols < 1 || ncols > DISC_ARGS_PER_CALL || rows < 1)
		ProfileFail("bad header");
	memset(kinds, DK_NUMBER, sizeof(kinds));
	st = ProfileCreate(ncols, kinds);
	st->rows = rows;
	for (int i = 0; i < ncols; i++)
		ColumnRead(&buf, st, &st->cols[i], rows);
	if (buf.cursor != buf.len)
		ProfileFail("trailing bytes");
	return st;
}

/* profile_stats_serialize(internal) returns bytea */
Datum
profile_stats_serialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	bytea	   *b;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "profile_stats_serialize called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	b = ProfileWrite((ProfileState *) PG_GETARG_POINTER(0));
	MemoryContextSwitchTo(old);
	PG_RETURN_BYTEA_P(b);
}

/* profile_stats_deserialize(bytea, internal) returns internal */
Datum
profile_stats_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ProfileState *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "profile_stats_deserialize called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	st = ProfileRead(PG_GETARG_BYTEA_PP(0));
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

/* profile_stats_final(internal) returns the state as bytea, NULL for no rows */
Datum
profile_stats_final(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	bytea	   *b;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "profile_stats_final called in non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	b = ProfileWrite((ProfileState *) PG_GETARG_POINTER(0));
	MemoryContextSwitchTo(old);
	PG_RETURN_BYTEA_P(b);
}

/*
 * The value at 0-based rank r of sorted keys with weights (cum: running
 * totals, cum[i] = weight of keys 0..i).
 */
static double
ValueAtRank(const uint64 *keys, const uint64 *cum, int m, uint64 r)
{
	int			lo = 0,
				hi = m - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (cum[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return KeyToDouble(keys[lo]);
}

/*
 * The five quantiles of sorted weighted keys as percentile_cont computes
 * them: between the values of ranks floor and ceil of q (n - 1), by the
 * same arithmetic, so exact columns give its results to the last bit.
 */
static void
Quantiles(const uint64 *keys, const uint64 *w, int m, double *out)
{
	uint64	   *cum = palloc(sizeof(uint64) * m);
	uint64		total = 0;

	for (int i = 0; i < m; i++)
		cum[i] = (total += w[i]);
	for (int q = 0; q < 5; q++)
	{
		double		p = ProfileQuantiles[q] * (double) (int64) (total - 1);
		int64		first = (int64) floor(p),
					second = (int64) ceil(p);
		double		lo = ValueAtRank(keys, cum, m, first),
					hi = ValueAtRank(keys, cum, m, second);

		out[q] = lo + ((p - first) * (hi - lo));
	}
	pfree(cum);
}

/* A candidate of the top values: its count and what it sorts by on ties */
typedef struct TopValue
{
	int64		count;
	uint64		key;
	const char *label;			/* texts and enums */
} TopValue;

/* Most frequent first; ties by value (numbers) or label (bytes) */
static int
TopValueCmp(const void *a, const void *b)
{
	const TopValue *x = a,
			   *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->label && y->label)
		return strcmp(x->label, y->label);
	return x->key < y->key ? -1 : x->key > y->key ? 1 : 0;
}

/* Append the top values as a JSON array; err > 0 adds each count's error bound */
static void
TopValuesJson(StringInfo out, TopValue *tv, int m, const DiscColumn *dc, int64 err)
{
	qsort(tv, m, sizeof(TopValue), TopValueCmp);
	appendStringInfoChar(out, '[');
	for (int i = 0; i < Min(m, TOP_VALUES); i++)
	{
		appendStringInfoString(out, i > 0 ? ", {\"value\": " : "{\"value\": ");
		if (tv[i].label)
			escape_json(out, tv[i].label);
		else
			DiscJsonValue(out, dc->kind, dc->typid, KeyToDouble(tv[i].key));
		appendStringInfo(out, ", \"count\": " INT64_FORMAT, tv[i].count);
		if (err > 0)
			appendStringInfo(out, ", \"count_error\": " INT64_FORMAT, err);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, ']');
}

/*
 * Candidates from the table: exact counts, or Misra-Gries lower bounds,
 * of which only those above their error bound are candidates.
 */
static int
TableCandidates(const ProfileColumn *c, const DiscColumn *dc, TopValue **out)
{
	TopValue   *tv = palloc(sizeof(TopValue) * Max(c->table.len, 1));
	int			m = 0;

	for (int s = 0; s < c->table.nslots; s++)
	{
		if (c->table.slots[s].key == 0 || c->table.slots[s].n <= c->table.decrements)
			continue;
		tv[m].count = c->table.slots[s].n;
		tv[m].key = c->table.slots[s].key;
		tv[m].label = c->kind == DK_TEXT ? c->table.strs[s] :
			c->kind == DK_ENUM ? DiscEnumLabel(dc->typid, (Oid) tv[m].key) : NULL;
		m++;
	}
	*out = tv;
	return m;
}

/*
 * Candidates from a sketch: items of one value add up to its count within
 * 2 err; only values whose estimate exceeds that are candidates.
 */
static int
SketchCandidates(const uint64 *keys, const uint64 *w, int m, uint64 err, TopValue **out)
{
	TopValue   *tv = palloc(sizeof(TopValue) * Max(m, 1));
	int			k = 0;

	for (int i = 0; i < m;)
	{
		uint64		sum = 0;
		int			j = i;

		while (j < m && keys[j] == keys[i])
			sum += w[j++];
		if (sum > 2 * err)
		{
			tv[k].count = (int64) sum;
			tv[k].key = keys[i];
			tv[k].label = NULL;
			k++;
		}
		i = j;
	}
	*out = tv;
	return k;
}

/* Numbers: mean, sd, min, quantiles, max into v[6..14], and the top values */
static void
NumberOutputs(const ProfileColumn *c, const DiscColumn *dc, Datum *v, bool *nulls, StringInfo top)
{
	double		q[5];
	TopValue   *tv;
	int			ntv;
	int64		err = 0;

	v[6] = Float8GetDatum(c->mom.mean);
	nulls[7] = c->n < 2;
	v[7] = Float8GetDatum(c->n < 2 ? 0 : sqrt(c->mom.m2 / (double) (c->n - 1)));
	v[8] = Float8GetDatum(c->min);
	v[14] = Float8GetDatum(c->max);
	if (c->exact)
	{
		VEntry	   *e;
		int			m = VTableSorted(&c->table, &e, NULL);
		uint64	   *k = palloc(sizeof(uint64) * m),
				   *w = palloc(sizeof(uint64) * m);

		for (int i = 0; i < m; i++)
		{
			k[i] = e[i].key;
			w[i] = (uint64) e[i].n;
		}
		Quantiles(k, w, m, q);
		ntv = TableCandidates(c, dc, &tv);
	}
	else
	{
		uint64	   *k,
				   *w;
		int			m = QSketchFlatten(&c->sketch, &k, &w);

		Quantiles(k, w, m, q);
		err = (int64) (2 * c->sketch.err);
		ntv = SketchCandidates(k, w, m, c->sketch.err, &tv);
	}
	for (int i = 0; i < 5; i++)
		v[9 + i] = Float8GetDatum(q[i]);
	TopValuesJson(top, tv, ntv, dc, err);
}

/* One output row for a column */
static void
ProfileEmit(ReturnSetInfo *rsinfo, const DiscColumn *dc, const ProfileColumn *c, int64 rows)
{
	Datum		v[PROFILE_NCOLS];
	bool		nulls[PROFILE_NCOLS];
	StringInfoData top;
	double		distinct;

	if (c->kind != dc->kind)
		ProfileFail("column kinds differ from the source");
	memset(nulls, 0, sizeof(nulls));
	initStringInfo(&top);
	v[0] = CStringGetTextDatum(dc->name);
	v[1] = CStringGetTextDatum(format_type_with_typemod(dc->typid, dc->typmod));
	v[2] = Int64GetDatum(c->n);
	v[3] = Int64GetDatum(rows - c->n);
	v[4] = Float8GetDatum((double) (rows - c->n) / (double) rows);
	distinct = c->exact ? c->table.len : Min(Max(KmvEstimate(&c->kmv), VTABLE_MAX + 1), c->n);
	v[5] = Int64GetDatum((int64) llround(distinct));
	for (int i = 6; i <= 14; i++)
		nulls[i] = true;
	if (DISC_KIND_IS_NUMBER(c->kind) && c->n > 0)
	{
		for (int i = 6; i <= 14; i++)
			nulls[i] = false;
		NumberOutputs(c, dc, v, nulls, &top);
	}
	else if (DISC_KIND_IS_NUMBER(c->kind))
		appendStringInfoString(&top, "[]");
	else
	{
		TopValue   *tv;
		int			ntv = TableCandidates(c, dc, &tv);

		TopValuesJson(&top, tv, ntv, dc, c->exact ? 0 : c->table.decrements);
	}
	v[15] = DirectFunctionCall1(jsonb_in, CStringGetDatum(top.data));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
}

/*
 * profile_summary(source regclass, columns text[] DEFAULT NULL): the
 * named columns (NULL: every column of a readable type; others are named
 * in a NOTICE), summarized in one scan.
 */
Datum
profile_summary(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DiscSource	src;
	List	   *cols;
	Datum	   *states;
	int			ncalls;

	DiscSourceOpen(fcinfo, &src);
	cols = DiscResolveColumns(fcinfo, 1, &src, NULL, false, "column");
	DiscCheckPrivileges(&src, cols, NULL);
	InitMaterializedSRF(fcinfo, 0);
	states = DiscRunPass("profile_stats", &src, NULL, cols, DISC_ARGS_PER_CALL, &ncalls);
	for (int k = 0; k < ncalls; k++)
	{
		ProfileState *st;
		int			first = k * DISC_ARGS_PER_CALL;

		if (states[k] == (Datum) 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("relation %s has no rows", src.qualname),
					 errhint("Summarize a relation with rows; row-level security may hide them from you.")));
		st = ProfileRead(DatumGetByteaPP(states[k]));
		if (st->ncols != Min(list_length(cols) - first, DISC_ARGS_PER_CALL))
			ProfileFail("column count differs from the source");
		for (int i = 0; i < st->ncols; i++)
			ProfileEmit(rsinfo, list_nth(cols, first + i), &st->cols[i], st->rows);
	}
	return (Datum) 0;
}
