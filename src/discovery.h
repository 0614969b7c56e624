/*-------------------------------------------------------------------------
 * discovery.h
 *	  What profile_summary and feature_report share: the kinds of columns
 *	  they read and how a datum becomes a value, the source relation and
 *	  its columns, the one SQL pass, and JSON output.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_DISCOVERY_H
#define PROFENRICH_DISCOVERY_H

#include <math.h>

#include "access/tupdesc.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "sketch.h"

/* What a column's values are summarized as */
typedef enum DiscKind
{
	DK_NUMBER = 1,
	DK_BOOLEAN = 2,
	DK_DATE = 3,				/* days since 1970-01-01 */
	DK_TIMESTAMP = 4,			/* days since 1970-01-01 00:00 (UTC for timestamptz) */
	DK_TEXT = 5,
	DK_ENUM = 6
} DiscKind;

#define DISC_KIND_IS_NUMBER(k) ((k) >= DK_NUMBER && (k) <= DK_TIMESTAMP)
#define DISC_KIND_VALID(k) ((k) >= DK_NUMBER && (k) <= DK_ENUM)

/* How a datum of a column's type is read */
typedef enum DiscConv
{
	DC_NONE = 0,
	DC_FLOAT8,
	DC_FLOAT4,
	DC_INT2,
	DC_INT4,
	DC_INT8,
	DC_NUMERIC,
	DC_BOOL,
	DC_DATE,
	DC_TIMESTAMP,
	DC_TEXT,
	DC_BPCHAR,
	DC_CSTRING,					/* an untyped literal passed to VARIADIC "any" */
	DC_ENUM
} DiscConv;

/* Bytes of a text value kept for display; longer values end in "..." */
#define DISC_SHOW_BYTES 200

/* Days from 2000-01-01 (PostgreSQL's epoch) back to 1970-01-01 */
#define DISC_EPOCH_DAYS 10957

/* Values per aggregate call: FUNC_MAX_ARGS less the state and the names */
#define DISC_ARGS_PER_CALL 98

/* A column of the source */
typedef struct DiscColumn
{
	char	   *name;
	AttrNumber	attnum;
	Oid			typid;
	int32		typmod;
	DiscKind	kind;
} DiscColumn;

/* The source relation */
typedef struct DiscSource
{
	Oid			relid;
	char	   *qualname;
	TupleDesc	tupdesc;
} DiscSource;

extern DiscConv DiscConvForType(Oid typid, DiscKind *kind);
extern const char *DiscKindName(DiscKind kind);
extern void DiscSourceOpen(FunctionCallInfo fcinfo, DiscSource *src);
extern AttrNumber DiscFindColumn(const DiscSource *src, const char *name);
extern DiscColumn DiscMakeColumn(const DiscSource *src, AttrNumber att);
extern void DiscUnsupported(const DiscSource *src, AttrNumber att, const char *role) pg_attribute_noreturn();
extern List *DiscResolveColumns(FunctionCallInfo fcinfo, int argno, const DiscSource *src,
								const char *exclude_target, bool exclude_key, const char *role);
extern void DiscCheckPrivileges(const DiscSource *src, List *cols, const DiscColumn *target);
extern Datum *DiscRunPass(const char *agg, const DiscSource *src, const DiscColumn *target,
						  List *cols, int per_call, int *ncalls);
extern void DiscBindArgs(FunctionCallInfo fcinfo, int first, int n, DiscConv *conv, uint8 *kind,
						 char **names, const char *fname);
extern char **DiscArgNames(FunctionCallInfo fcinfo, int n, MemoryContext mcxt);
extern void DiscNotFinite(const char *name) pg_attribute_noreturn();
extern void DiscStateError(const char *fname, const char *why) pg_attribute_noreturn();
extern double DiscNumericToDouble(Datum d);
extern uint64 DiscTextKey(Datum d, DiscConv conv, const char **str, int *len, Pointer *copy);
extern void DiscJsonNumber(StringInfo out, double v);
extern void DiscJsonValue(StringInfo out, DiscKind kind, Oid typid, double v);
extern char *DiscEnumLabel(Oid typid, Oid value);

/*
 * A numeric, boolean, date or timestamp datum as a double (days for
 * dates and timestamps); NaN for values without one (infinite dates).
 */
static inline double
DiscToDouble(Datum d, DiscConv conv)
{
	switch (conv)
	{
		case DC_FLOAT8:
			return DatumGetFloat8(d) + 0.0;
		case DC_FLOAT4:
			return (double) DatumGetFloat4(d) + 0.0;
		case DC_INT4:
			return (double) DatumGetInt32(d);
		case DC_INT8:
			return (double) DatumGetInt64(d);
		case DC_INT2:
			return (double) DatumGetInt16(d);
		case DC_BOOL:
			return DatumGetBool(d) ? 1.0 : 0.0;
		case DC_DATE:
			{
				int32		v = DatumGetInt32(d);

				if (v == PG_INT32_MIN || v == PG_INT32_MAX)
					return NAN;
				return (double) v + DISC_EPOCH_DAYS;
			}
		case DC_TIMESTAMP:
			{
				int64		v = DatumGetInt64(d);

				if (v == PG_INT64_MIN || v == PG_INT64_MAX)
					return NAN;
				/* exact sum for instants within 285 years of 2000 (below 2^53 us) */
				return ((double) v + (double) DISC_EPOCH_DAYS * USECS_PER_DAY) / (double) USECS_PER_DAY;
			}
		case DC_NUMERIC:
			return DiscNumericToDouble(d);
		default:
			return NAN;
	}
}

#endif
