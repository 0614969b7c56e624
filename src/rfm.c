/*-------------------------------------------------------------------------
 * rfm.c
 *	  profenrich.rfm(day, amount, as_of, unit_days): the aggregate that
 *	  turns one customer's purchases into the summary the lifetime-value
 *	  models read, as the literature defines it:
 *		frequency = distinct purchase days - 1,
 *		recency   = (last day - first day) / unit_days,
 *		t         = (as_of - first day) / unit_days,
 *		monetary  = mean amount of the repeat days (first day excluded),
 *					0 when frequency is 0,
 *	  where purchases on one day are one transaction with the amounts summed
 *	  and only purchases on or before as_of count.
 *
 * rfm runs GROUP BY customer over millions of customers, so its state is
 * small and flat: a bytea holding as_of, unit_days and the customer's
 * (day, amount) pairs, appended to in place while there is room (as
 * postgresql-hll updates its state), and replaced by one of twice the room
 * when full.  Being a bytea, it travels as it is: to a parallel leader,
 * and from Citus workers to the coordinator (worker_partial_agg), where
 * states combine by concatenation.  The final function sorts a copy once.
 * The functions of the 0.4.0 declarations (state internal) keep the same
 * bytes behind a pointer until ALTER EXTENSION UPDATE replaces them.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "partial.h"
#include "profenrich.h"

PG_FUNCTION_INFO_V1(rfm_trans);
PG_FUNCTION_INFO_V1(rfm_trans_tz);
PG_FUNCTION_INFO_V1(rfm_combine);
PG_FUNCTION_INFO_V1(rfm_serialize);
PG_FUNCTION_INFO_V1(rfm_deserialize);
PG_FUNCTION_INFO_V1(rfm_final);
PG_FUNCTION_INFO_V1(rfm_sfunc);
PG_FUNCTION_INFO_V1(rfm_sfunc_tz);
PG_FUNCTION_INFO_V1(rfm_combinefunc);
PG_FUNCTION_INFO_V1(rfm_finalfunc);

#define RFM_FORMAT 2
#define RFM_HEADER 24			/* format, as_of, unit_days, n, cap */
#define RFM_ENTRY 12			/* day (int32), amount (float8) */
#define RFM_MAX_PURCHASES ((int) ((MaxAllocSize - VARHDRSZ - RFM_HEADER) / RFM_ENTRY))

/* The header of a state, read out of its (possibly unaligned) bytes */
typedef struct RfmHeader
{
	int32		format;
	DateADT		as_of;
	double		unit_days;
	int32		n;
	int32		cap;
} RfmHeader;

/* A purchase as the final function sorts it */
typedef struct RfmPurchase
{
	DateADT		day;
	double		amount;
} RfmPurchase;

static const PartialKind RfmKind = {"rfm", NULL, NULL, NULL};

/* The header of state bytes (payload at data) */
static void
RfmReadHeader(const char *data, RfmHeader *h)
{
	memcpy(&h->format, data, 4);
	memcpy(&h->as_of, data + 4, 4);
	memcpy(&h->unit_days, data + 8, 8);
	memcpy(&h->n, data + 16, 4);
	memcpy(&h->cap, data + 20, 4);
}

/*
 * Check a state's structure (what every access relies on): its format,
 * a count within its room, and a length that is exactly the room.
 */
static void
RfmCheck(const bytea *st, RfmHeader *h)
{
	Size		len = VARSIZE_ANY_EXHDR(st);

	if (len < RFM_HEADER)
		PartialInvalid(&RfmKind, "too short");
	RfmReadHeader(VARDATA_ANY(st), h);
	if (h->format != RFM_FORMAT || h->cap < 0 || h->cap > RFM_MAX_PURCHASES ||
		h->n < 0 || h->n > h->cap || len != RFM_HEADER + (Size) RFM_ENTRY * h->cap)
		PartialInvalid(&RfmKind, "its counts do not match its length");
}

/*
 * Check what the final function and combine read besides the structure:
 * a finite as_of, a positive unit_days, finite days on or before as_of
 * and finite amounts (a caller may pass any bytes).
 */
static void
RfmCheckValues(const bytea *st, const RfmHeader *h)
{
	const char *p = VARDATA_ANY(st) + RFM_HEADER;

	if (DATE_NOT_FINITE(h->as_of) || !(h->unit_days > 0) || isinf(h->unit_days))
		PartialInvalid(&RfmKind, "as_of or unit_days is out of range");
	for (int i = 0; i < h->n; i++, p += RFM_ENTRY)
	{
		DateADT		day;
		double		amount;

		memcpy(&day, p, 4);
		memcpy(&amount, p + 4, 8);
		if (DATE_NOT_FINITE(day) || day > h->as_of || !isfinite(amount))
			PartialInvalid(&RfmKind, "a purchase is out of range");
	}
}

/* An empty state for as_of and unit_days with room for cap purchases, in the current context */
static bytea *
RfmNew(DateADT as_of, double unit_days, int cap)
{
	Size		size = VARHDRSZ + RFM_HEADER + (Size) RFM_ENTRY * cap;
	bytea	   *st = palloc(size);
	int32		format = RFM_FORMAT,
				n = 0;

	SET_VARSIZE(st, size);
	memcpy(VARDATA(st), &format, 4);
	memcpy(VARDATA(st) + 4, &as_of, 4);
	memcpy(VARDATA(st) + 8, &unit_days, 8);
	memcpy(VARDATA(st) + 16, &n, 4);
	memcpy(VARDATA(st) + 20, &cap, 4);
	return st;
}

/* A copy of a state's purchases with room for at least extra more, in the current context */
static bytea *
RfmGrow(const bytea *st, const RfmHeader *h, int extra)
{
	int64		want = Max((int64) h->n + extra, 4);
	int			cap = (int) Min(Max(want, 2 * (int64) h->cap), (int64) RFM_MAX_PURCHASES);
	bytea	   *g;

	if (want > RFM_MAX_PURCHASES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a customer has more than %d purchases", RFM_MAX_PURCHASES),
				 errhint("Summarize the purchases by day first, or group by a finer key.")));
	g = RfmNew(h->as_of, h->unit_days, cap);
	memcpy(VARDATA(g) + 16, &h->n, 4);
	memcpy(VARDATA(g) + RFM_HEADER, VARDATA_ANY(st) + RFM_HEADER, (Size) RFM_ENTRY * h->n);
	return g;
}

/* Append a purchase to a state with room for it */
static void
RfmPut(bytea *st, DateADT day, double amount)
{
	int32		n;
	char	   *p;

	memcpy(&n, VARDATA(st) + 16, 4);
	p = VARDATA(st) + RFM_HEADER + (Size) RFM_ENTRY * n;
	memcpy(p, &day, 4);
	memcpy(p + 4, &amount, 8);
	n++;
	memcpy(VARDATA(st) + 16, &n, 4);
}

/*
 * Room for extra more purchases: the state itself when it may be written
 * (owned) and has room, else a grown copy in grow_cxt.
 */
static bytea *
RfmRoom(bytea *st, const RfmHeader *h, int extra, bool owned, MemoryContext grow_cxt)
{
	MemoryContext old;
	bytea	   *g;

	if (owned && (int64) h->n + extra <= h->cap)
		return st;
	old = MemoryContextSwitchTo(grow_cxt);
	g = RfmGrow(st, h, extra);
	MemoryContextSwitchTo(old);
	return g;
}

/* unit_days: the fourth argument, 7 (weeks) in the overloads without it */
static double
UnitArg(FunctionCallInfo fcinfo)
{
	if (PG_NARGS() < 5)
		return 7.0;
	return PG_ARGISNULL(4) ? NAN : PG_GETARG_FLOAT8(4);
}

/* Check as_of and unit_days, the same for every row of a group */
static void
RfmCheckArgs(FunctionCallInfo fcinfo)
{
	double		unit;

	if (PG_ARGISNULL(3) || DATE_NOT_FINITE(PG_GETARG_DATEADT(3)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite date"),
				 errhint("Pass the end of the observation period, such as '1997-09-30'.")));
	if (PG_NARGS() >= 5 && PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("unit_days must not be NULL"),
				 errhint("Use 7 for weeks, 1 for days.")));
	unit = UnitArg(fcinfo);
	if (!(unit > 0) || isinf(unit))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unit_days must be a positive number, got %g", unit),
				 errhint("Use 7 for weeks, 1 for days.")));
}

/* Refuse two states, or a state and a row, of different as_of or unit_days */
static void
RfmMismatch(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("as_of and unit_days must be the same for every purchase of a customer"),
			 errhint("Pass constants, such as rfm(day, amount, '1997-09-30', 7).")));
}

/*
 * One purchase on a day (NULL day or amount: none) into state st (NULL:
 * none yet): the state with the purchase, st itself when owned and with
 * room, else a new one in grow_cxt.
 */
static bytea *
RfmStep(FunctionCallInfo fcinfo, bytea *st, bool owned, MemoryContext grow_cxt, DateADT day,
		bool skip)
{
	RfmHeader	h;
	double		amount;

	if (st == NULL)
	{
		MemoryContext old;

		RfmCheckArgs(fcinfo);
		old = MemoryContextSwitchTo(grow_cxt);
		st = RfmNew(PG_GETARG_DATEADT(3), UnitArg(fcinfo), 4);
		MemoryContextSwitchTo(old);
		owned = true;
	}
	RfmCheck(st, &h);
	if (PG_ARGISNULL(3) || PG_GETARG_DATEADT(3) != h.as_of ||
		(PG_NARGS() >= 5 && (PG_ARGISNULL(4) || PG_GETARG_FLOAT8(4) != h.unit_days)) ||
		(PG_NARGS() < 5 && h.unit_days != 7.0))
		RfmMismatch();
	if (skip || PG_ARGISNULL(2))
		return st;
	if (DATE_NOT_FINITE(day))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("purchase day must be finite"),
				 errhint("Filter out rows whose day is infinity or -infinity.")));
	amount = PG_GETARG_FLOAT8(2);
	if (!isfinite(amount))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("purchase amount holds NaN or infinity"),
				 errhint("Filter such rows out, or set the amount to NULL to ignore the purchase.")));
	if (day > h.as_of)
		return st;
	st = RfmRoom(st, &h, 1, owned, grow_cxt);
	RfmPut(st, day, amount);
	return st;
}

/*
 * Append b's purchases to a (NULL: none), checking b's values and that
 * both have the same as_of and unit_days: a itself when owned and with
 * room, else a new state in grow_cxt.
 */
static bytea *
RfmMerge(bytea *a, bool owned, const bytea *b, MemoryContext grow_cxt)
{
	RfmHeader	ha,
				hb;
	const char *p;

	RfmCheck(b, &hb);
	RfmCheckValues(b, &hb);
	if (a == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(grow_cxt);

		a = RfmNew(hb.as_of, hb.unit_days, Max(hb.n, 4));
		MemoryContextSwitchTo(old);
		owned = true;
	}
	RfmCheck(a, &ha);
	if (ha.as_of != hb.as_of || ha.unit_days != hb.unit_days)
		RfmMismatch();
	a = RfmRoom(a, &ha, hb.n, owned, grow_cxt);
	p = VARDATA_ANY(b) + RFM_HEADER;
	for (int i = 0; i < hb.n; i++, p += RFM_ENTRY)
	{
		DateADT		day;
		double		amount;

		memcpy(&day, p, 4);
		memcpy(&amount, p + 4, 8);
		RfmPut(a, day, amount);
	}
	return a;
}

/*
 * The 0.5.0 protocol's state argument: the aggregate's own state is
 * written in place (a plain 4-byte header value); any other value (a
 * caller's, a packed or compressed one) is read through a copy.
 */
static bytea *
RfmStateArg(FunctionCallInfo fcinfo, int argno, bool *owned)
{
	struct varlena *raw;

	*owned = false;
	if (PG_ARGISNULL(argno))
		return NULL;
	raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	if (argno == 0 && !VARATT_IS_EXTENDED(raw) && PartialAggContext(fcinfo) != NULL)
	{
		*owned = true;
		return (bytea *) raw;
	}
	return (bytea *) PG_DETOAST_DATUM(PG_GETARG_DATUM(argno));
}

/* The day of a date argument, or skip when it is NULL */
static DateADT
DayArg(FunctionCallInfo fcinfo, bool *skip)
{
	*skip = PG_ARGISNULL(1);
	return *skip ? 0 : PG_GETARG_DATEADT(1);
}

/* The day, in the session time zone, of a timestamptz argument, or skip when it is NULL */
static DateADT
DayArgTz(FunctionCallInfo fcinfo, bool *skip)
{
	*skip = PG_ARGISNULL(1);
	return *skip ? 0 : DatumGetDateADT(DirectFunctionCall1(timestamptz_date, PG_GETARG_DATUM(1)));
}

/*
 * rfm_sfunc(state bytea, day date, amount float8, as_of date [, unit_days
 * float8]): one purchase.  A new or grown state is made in the call's
 * context, for nodeAgg (or Citus) to copy into the aggregate's.
 */
Datum
rfm_sfunc(PG_FUNCTION_ARGS)
{
	bool		owned,
				skip;
	DateADT		day = DayArg(fcinfo, &skip);
	bytea	   *st = RfmStateArg(fcinfo, 0, &owned);

	PG_RETURN_BYTEA_P(RfmStep(fcinfo, st, owned, CurrentMemoryContext, day, skip));
}

/* rfm_sfunc_tz(state bytea, ts timestamptz, ...): the day in the session time zone */
Datum
rfm_sfunc_tz(PG_FUNCTION_ARGS)
{
	bool		owned,
				skip;
	DateADT		day = DayArgTz(fcinfo, &skip);
	bytea	   *st = RfmStateArg(fcinfo, 0, &owned);

	PG_RETURN_BYTEA_P(RfmStep(fcinfo, st, owned, CurrentMemoryContext, day, skip));
}

/* rfm_combinefunc(bytea, bytea): b's purchases appended to a; b is never modified */
Datum
rfm_combinefunc(PG_FUNCTION_ARGS)
{
	bool		owned,
				bowned;
	bytea	   *a = RfmStateArg(fcinfo, 0, &owned);
	bytea	   *b = RfmStateArg(fcinfo, 1, &bowned);
	RfmHeader	h;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		RfmCheck(a, &h);
		PG_RETURN_BYTEA_P(a);
	}
	PG_RETURN_BYTEA_P(RfmMerge(a, owned, b, CurrentMemoryContext));
}

/* rfm_trans(internal, day date, amount float8, as_of date [, unit_days]): 0.4.0's transition */
Datum
rfm_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = PartialAggContext(fcinfo);
	bytea	   *st = PG_ARGISNULL(0) ? NULL : (bytea *) PG_GETARG_POINTER(0);
	bytea	   *r;
	bool		skip;
	DateADT		day = DayArg(fcinfo, &skip);

	if (aggcxt == NULL)
		elog(ERROR, "rfm called in non-aggregate context");
	r = RfmStep(fcinfo, st, true, aggcxt, day, skip);
	if (st != NULL && r != st)
		pfree(st);
	PG_RETURN_POINTER(r);
}

/* rfm_trans_tz(internal, ts timestamptz, ...): 0.4.0's transition */
Datum
rfm_trans_tz(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = PartialAggContext(fcinfo);
	bytea	   *st = PG_ARGISNULL(0) ? NULL : (bytea *) PG_GETARG_POINTER(0);
	bytea	   *r;
	bool		skip;
	DateADT		day = DayArgTz(fcinfo, &skip);

	if (aggcxt == NULL)
		elog(ERROR, "rfm called in non-aggregate context");
	r = RfmStep(fcinfo, st, true, aggcxt, day, skip);
	if (st != NULL && r != st)
		pfree(st);
	PG_RETURN_POINTER(r);
}

/* rfm_combine(internal, internal): 0.4.0's combine; b is not modified */
Datum
rfm_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	bytea	   *a,
			   *r;
	Datum		result;

	if (AggCombineDone(fcinfo, "rfm_combine", &aggcxt, &result))
		return result;
	a = PG_ARGISNULL(0) ? NULL : (bytea *) PG_GETARG_POINTER(0);
	r = RfmMerge(a, true, (bytea *) PG_GETARG_POINTER(1), aggcxt);
	if (a != NULL && r != a)
		pfree(a);
	PG_RETURN_POINTER(r);
}

/* rfm_serialize(internal): 0.4.0's serialize, the state's bytes */
Datum
rfm_serialize(PG_FUNCTION_ARGS)
{
	bytea	   *st = (bytea *) PG_GETARG_POINTER(0);
	bytea	   *copy = palloc(VARSIZE(st));

	memcpy(copy, st, VARSIZE(st));
	PG_RETURN_BYTEA_P(copy);
}

/* rfm_deserialize(bytes, internal): 0.4.0's deserialize, the bytes checked and copied */
Datum
rfm_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = PartialAggContext(fcinfo);

	if (aggcxt == NULL)
		elog(ERROR, "rfm_deserialize called in non-aggregate context");
	PG_RETURN_POINTER(RfmMerge(NULL, true, PG_GETARG_BYTEA_PP(0), aggcxt));
}

/* Purchases in order of day */
static int
ComparePurchases(const void *a, const void *b)
{
	DateADT		x = ((const RfmPurchase *) a)->day,
				y = ((const RfmPurchase *) b)->day;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * The summary (frequency, recency, t, monetary) of a state; NULL for a
 * customer with no purchase on or before as_of.  The state is not changed:
 * its purchases are sorted in a copy.
 */
static Datum
RfmSummary(FunctionCallInfo fcinfo, const bytea *st)
{
	RfmHeader	h;
	RfmPurchase *p;
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	int			days = 0;
	double		repeat_sum = 0,
				day_sum = 0;
	DateADT		first,
				last;
	const char *e;

	RfmCheck(st, &h);
	RfmCheckValues(st, &h);
	if (h.n == 0)
		PG_RETURN_NULL();
	p = palloc(sizeof(RfmPurchase) * h.n);
	e = VARDATA_ANY(st) + RFM_HEADER;
	for (int i = 0; i < h.n; i++, e += RFM_ENTRY)
	{
		memcpy(&p[i].day, e, 4);
		memcpy(&p[i].amount, e + 4, 8);
	}
	if (h.n > 1)
		qsort(p, h.n, sizeof(RfmPurchase), ComparePurchases);
	first = p[0].day;
	last = first;
	for (int i = 0; i < h.n; i++)
	{
		if (i == 0 || p[i].day != last)
		{
			if (days > 1)
				repeat_sum += day_sum;
			days++;
			day_sum = 0;
			last = p[i].day;
		}
		day_sum += p[i].amount;
	}
	if (days > 1)
		repeat_sum += day_sum;
	if (!isfinite(repeat_sum) || !isfinite(day_sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a customer's purchase amounts sum beyond the range of float8"),
				 errhint("Check the amount column's unit; amounts near 1e308 cannot be summed.")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "rfm must return a composite type");
	desc = BlessTupleDesc(desc);
	values[0] = Int32GetDatum(days - 1);
	values[1] = Float8GetDatum((last - first) / h.unit_days);
	values[2] = Float8GetDatum((h.as_of - first) / h.unit_days);
	values[3] = Float8GetDatum(days > 1 ? repeat_sum / (days - 1) : 0.0);
	pfree(p);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* rfm_finalfunc(bytea): the summary */
Datum
rfm_finalfunc(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	return RfmSummary(fcinfo, PG_GETARG_BYTEA_PP(0));
}

/* rfm_final(internal): 0.4.0's final function */
Datum
rfm_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	return RfmSummary(fcinfo, (const bytea *) PG_GETARG_POINTER(0));
}
