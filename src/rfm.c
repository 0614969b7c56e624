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
 * The state is the customer's (day, amount) pairs; the final function
 * sorts them once.  Parallel safe: states combine by concatenation.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "profenrich.h"

PG_FUNCTION_INFO_V1(rfm_trans);
PG_FUNCTION_INFO_V1(rfm_trans_tz);
PG_FUNCTION_INFO_V1(rfm_combine);
PG_FUNCTION_INFO_V1(rfm_serialize);
PG_FUNCTION_INFO_V1(rfm_deserialize);
PG_FUNCTION_INFO_V1(rfm_final);

#define RFM_FORMAT 1

typedef struct RfmPurchase
{
	DateADT		day;
	double		amount;
} RfmPurchase;

typedef struct RfmState
{
	DateADT		as_of;
	double		unit_days;
	int			n;
	int			cap;
	RfmPurchase *p;
} RfmState;

/* An empty state for as_of and unit_days with room for cap purchases */
static RfmState *
RfmCreate(DateADT as_of, double unit_days, int cap)
{
	RfmState   *s = palloc(sizeof(RfmState));

	s->as_of = as_of;
	s->unit_days = unit_days;
	s->n = 0;
	s->cap = Max(cap, 4);
	s->p = palloc(sizeof(RfmPurchase) * s->cap);
	return s;
}

/* Append one purchase */
static void
RfmAppend(RfmState *s, DateADT day, double amount)
{
	if (s->n == s->cap)
	{
		s->cap *= 2;
		s->p = repalloc_huge(s->p, sizeof(RfmPurchase) * s->cap);
	}
	s->p[s->n].day = day;
	s->p[s->n].amount = amount;
	s->n++;
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

/* The transition for a purchase on a day (NULL day or amount: ignored) */
static Datum
RfmAdd(FunctionCallInfo fcinfo, DateADT day, bool skip)
{
	MemoryContext aggcxt;
	RfmState   *s;
	double		amount;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "rfm called in non-aggregate context");
	if (PG_ARGISNULL(0))
	{
		MemoryContext old;

		RfmCheckArgs(fcinfo);
		old = MemoryContextSwitchTo(aggcxt);
		s = RfmCreate(PG_GETARG_DATEADT(3), UnitArg(fcinfo), 4);
		MemoryContextSwitchTo(old);
	}
	else
	{
		s = (RfmState *) PG_GETARG_POINTER(0);
		if (PG_ARGISNULL(3) || PG_GETARG_DATEADT(3) != s->as_of ||
			(PG_NARGS() >= 5 && (PG_ARGISNULL(4) || PG_GETARG_FLOAT8(4) != s->unit_days)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("as_of and unit_days must be the same for every purchase of a customer"),
					 errhint("Pass constants, such as rfm(day, amount, '1997-09-30', 7).")));
	}
	if (skip || PG_ARGISNULL(2))
		PG_RETURN_POINTER(s);
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
	if (day <= s->as_of)
	{
		MemoryContext old = MemoryContextSwitchTo(aggcxt);

		RfmAppend(s, day, amount);
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_POINTER(s);
}

/* rfm_trans(state, day date, amount float8, as_of date, unit_days float8) */
Datum
rfm_trans(PG_FUNCTION_ARGS)
{
	bool		skip = PG_ARGISNULL(1);

	return RfmAdd(fcinfo, skip ? 0 : PG_GETARG_DATEADT(1), skip);
}

/* rfm_trans_tz(state, ts timestamptz, ...): the day in the session time zone */
Datum
rfm_trans_tz(PG_FUNCTION_ARGS)
{
	bool		skip = PG_ARGISNULL(1);
	DateADT		day = 0;

	if (!skip)
		day = DatumGetDateADT(DirectFunctionCall1(timestamptz_date, PG_GETARG_DATUM(1)));
	return RfmAdd(fcinfo, day, skip);
}

/* Combine: append b's purchases to a copy or to a (b is not modified) */
Datum
rfm_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	RfmState   *a,
			   *b;
	Datum		result;

	if (AggCombineDone(fcinfo, "rfm_combine", &aggcxt, &result))
		return result;
	a = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	b = (RfmState *) PG_GETARG_POINTER(1);
	old = MemoryContextSwitchTo(aggcxt);
	if (a == NULL)
		a = RfmCreate(b->as_of, b->unit_days, b->n);
	for (int i = 0; i < b->n; i++)
		RfmAppend(a, b->p[i].day, b->p[i].amount);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* rfm_serialize(state): format, as_of, unit_days, the purchases */
Datum
rfm_serialize(PG_FUNCTION_ARGS)
{
	RfmState   *s;
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "rfm_serialize called in non-aggregate context");
	s = (RfmState *) PG_GETARG_POINTER(0);
	pq_begintypsend(&buf);
	pq_sendint32(&buf, RFM_FORMAT);
	pq_sendint32(&buf, s->as_of);
	pq_sendfloat8(&buf, s->unit_days);
	pq_sendint32(&buf, s->n);
	for (int i = 0; i < s->n; i++)
	{
		pq_sendint32(&buf, s->p[i].day);
		pq_sendfloat8(&buf, s->p[i].amount);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* rfm_deserialize(bytes, internal): a state from rfm_serialize, every length checked */
Datum
rfm_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *bytes;
	StringInfoData buf;
	RfmState   *s;
	int			format,
				n;
	DateADT		as_of;
	double		unit;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "rfm_deserialize called in non-aggregate context");
	bytes = PG_GETARG_BYTEA_PP(0);
	BYTES_READER(&buf, bytes);
	if (buf.len < 20)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid rfm state: %d bytes", buf.len)));
	format = pq_getmsgint(&buf, 4);
	as_of = pq_getmsgint(&buf, 4);
	unit = pq_getmsgfloat8(&buf);
	n = pq_getmsgint(&buf, 4);
	if (format != RFM_FORMAT || n < 0 || (int64) n * 12 != buf.len - buf.cursor)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid rfm state: format %d, %d purchases in %d bytes",
						format, n, buf.len)));
	s = RfmCreate(as_of, unit, n);
	for (int i = 0; i < n; i++)
	{
		DateADT		day = pq_getmsgint(&buf, 4);

		RfmAppend(s, day, pq_getmsgfloat8(&buf));
	}
	PG_RETURN_POINTER(s);
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
 * The summary (frequency, recency, t, monetary); NULL for a customer with
 * no purchase on or before as_of.
 */
Datum
rfm_final(PG_FUNCTION_ARGS)
{
	RfmState   *s;
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	int			days = 0;
	double		repeat_sum = 0,
				day_sum = 0;
	DateADT		first,
				last;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (RfmState *) PG_GETARG_POINTER(0);
	if (s->n == 0)
		PG_RETURN_NULL();
	if (s->n > 1)
		qsort(s->p, s->n, sizeof(RfmPurchase), ComparePurchases);
	first = s->p[0].day;
	last = first;
	for (int i = 0; i < s->n; i++)
	{
		if (i == 0 || s->p[i].day != last)
		{
			if (days > 1)
				repeat_sum += day_sum;
			days++;
			day_sum = 0;
			last = s->p[i].day;
		}
		day_sum += s->p[i].amount;
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
	values[1] = Float8GetDatum((last - first) / s->unit_days);
	values[2] = Float8GetDatum((s->as_of - first) / s->unit_days);
	values[3] = Float8GetDatum(days > 1 ? repeat_sum / (days - 1) : 0.0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
