/*-------------------------------------------------------------------------
 * discovery.c
 *	  Shared by profile_summary and feature_report: column kinds and datum
 *	  conversion, the source relation and its columns, privileges, the one
 *	  SQL pass over the source, and JSON output of values.
 *
 * The pass is SELECT profenrich.<aggregate>(names, col1, col2, ...) FROM
 * source: it runs with the caller's privileges (row-level security
 * applies), every identifier is quoted and every name schema-qualified, so
 * the caller's search_path cannot change what it does.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "discovery.h"

/* The conversion and kind of a type (domains count as their base type) */
DiscConv
DiscConvForType(Oid typid, DiscKind *kind)
{
	Oid			base = getBaseType(typid);

	*kind = DK_NUMBER;
	switch (base)
	{
		case FLOAT8OID:
			return DC_FLOAT8;
		case FLOAT4OID:
			return DC_FLOAT4;
		case INT2OID:
			return DC_INT2;
		case INT4OID:
			return DC_INT4;
		case INT8OID:
			return DC_INT8;
		case NUMERICOID:
			return DC_NUMERIC;
		case BOOLOID:
			*kind = DK_BOOLEAN;
			return DC_BOOL;
		case DATEOID:
			*kind = DK_DATE;
			return DC_DATE;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			*kind = DK_TIMESTAMP;
			return DC_TIMESTAMP;
		case TEXTOID:
		case VARCHAROID:
			*kind = DK_TEXT;
			return DC_TEXT;
		case BPCHAROID:
			*kind = DK_TEXT;
			return DC_BPCHAR;
		case UNKNOWNOID:
		case CSTRINGOID:
			*kind = DK_TEXT;
			return DC_CSTRING;
	}
	if (type_is_enum(base))
	{
		*kind = DK_ENUM;
		return DC_ENUM;
	}
	return DC_NONE;
}

/* The name of a kind, as the reports print it */
const char *
DiscKindName(DiscKind kind)
{
	switch (kind)
	{
		case DK_NUMBER:
			return "numeric";
		case DK_BOOLEAN:
			return "boolean";
		case DK_DATE:
			return "date";
		case DK_TIMESTAMP:
			return "timestamp";
		case DK_TEXT:
			return "text";
		case DK_ENUM:
			return "enum";
	}
	return "unknown";
}

/* Open the source named by argument 0, check its kind, keep its name and columns */
void
DiscSourceOpen(FunctionCallInfo fcinfo, DiscSource *src)
{
	Relation	rel;
	char		kind;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be NULL"),
				 errhint("Pass a table or view, such as 'public.profiles'.")));
	src->relid = PG_GETARG_OID(0);
	rel = try_relation_open(src->relid, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", src->relid),
				 errhint("Pass an existing table or view as source.")));
	kind = rel->rd_rel->relkind;
	if (kind != RELKIND_RELATION && kind != RELKIND_VIEW && kind != RELKIND_MATVIEW &&
		kind != RELKIND_FOREIGN_TABLE && kind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table or view", RelationGetRelationName(rel)),
				 errhint("Pass a table, view, materialized view or foreign table.")));
	src->qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											   RelationGetRelationName(rel));
	src->tupdesc = CreateTupleDescCopy(RelationGetDescr(rel));
	relation_close(rel, AccessShareLock);
}

/* Attribute number of a live column, 0 if none */
AttrNumber
DiscFindColumn(const DiscSource *src, const char *name)
{
	for (int i = 0; i < src->tupdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(src->tupdesc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return a->attnum;
	}
	return 0;
}

/* The column of an attribute, with its kind (DC_NONE types get kind 0) */
DiscColumn
DiscMakeColumn(const DiscSource *src, AttrNumber att)
{
	Form_pg_attribute a = TupleDescAttr(src->tupdesc, att - 1);
	DiscColumn	c;

	c.name = pstrdup(NameStr(a->attname));
	c.attnum = att;
	c.typid = a->atttypid;
	c.typmod = a->atttypmod;
	if (DiscConvForType(a->atttypid, &c.kind) == DC_NONE)
		c.kind = 0;
	return c;
}

/* Error for a column of a type the discovery functions cannot read */
void
DiscUnsupported(const DiscSource *src, AttrNumber att, const char *role)
{
	Form_pg_attribute a = TupleDescAttr(src->tupdesc, att - 1);

	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("%s \"%s\" has unsupported type %s", role, NameStr(a->attname),
					format_type_be(a->atttypid)),
			 errhint("Use numeric, boolean, text, enum, date or timestamp columns; cast others in a view.")));
}

/* The single-column primary key of the source, or 0 */
static AttrNumber
PrimaryKeyAttnum(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	Oid			pk = RelationGetPrimaryKeyIndex(rel);
	AttrNumber	att = 0;

	if (OidIsValid(pk))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));

		if (HeapTupleIsValid(tup))
		{
			Form_pg_index idx = (Form_pg_index) GETSTRUCT(tup);

			if (idx->indnkeyatts == 1)
				att = idx->indkey.values[0];
			ReleaseSysCache(tup);
		}
	}
	relation_close(rel, AccessShareLock);
	return att;
}

/* Every readable column but the excluded ones; the others are named in a NOTICE */
static List *
AllColumns(const DiscSource *src, const char *exclude_target, bool exclude_key)
{
	AttrNumber	key = exclude_key ? PrimaryKeyAttnum(src->relid) : 0;
	List	   *cols = NIL;

	for (int i = 0; i < src->tupdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(src->tupdesc, i);
		DiscColumn *c;

		if (a->attisdropped || a->attnum == key ||
			(exclude_target && strcmp(NameStr(a->attname), exclude_target) == 0))
			continue;
		c = palloc(sizeof(DiscColumn));
		*c = DiscMakeColumn(src, a->attnum);
		if (c->kind == 0)
		{
			ereport(NOTICE,
					(errmsg("column \"%s\" of type %s is skipped",
							c->name, format_type_be(c->typid))));
			continue;
		}
		cols = lappend(cols, c);
	}
	return cols;
}

/* The columns named in a text[] argument, each checked */
static List *
NamedColumns(ArrayType *arr, const DiscSource *src, const char *exclude_target, const char *role)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *cols = NIL;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *name;
		AttrNumber	att;
		DiscColumn *c;
		ListCell   *lc;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s names must not be NULL", role),
					 errhint("Remove the NULL from the array.")));
		name = TextDatumGetCString(elems[i]);
		att = DiscFindColumn(src, name);
		if (att == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation %s does not exist", name, src->qualname),
					 errhint("Name existing columns; names are case-sensitive.")));
		if (exclude_target && strcmp(name, exclude_target) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is the target and cannot also be a %s", name, role),
					 errhint("Remove the target from the array.")));
		foreach(lc, cols)
			if (strcmp(((DiscColumn *) lfirst(lc))->name, name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" is named more than once", name),
						 errhint("Name each column once.")));
		c = palloc(sizeof(DiscColumn));
		*c = DiscMakeColumn(src, att);
		if (c->kind == 0)
			DiscUnsupported(src, att, role);
		cols = lappend(cols, c);
	}
	return cols;
}

/*
 * The columns argument argno names, or, when it is NULL, every readable
 * column but the target (and the single-column primary key when
 * exclude_key), others skipped with a NOTICE.
 */
List *
DiscResolveColumns(FunctionCallInfo fcinfo, int argno, const DiscSource *src,
				   const char *exclude_target, bool exclude_key, const char *role)
{
	List	   *cols;

	if (PG_ARGISNULL(argno))
		cols = AllColumns(src, exclude_target, exclude_key);
	else
		cols = NamedColumns(PG_GETARG_ARRAYTYPE_P(argno), src, exclude_target, role);
	if (cols == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no columns to read in %s", src->qualname),
				 errhint("Name numeric, boolean, text, enum, date or timestamp columns.")));
	return cols;
}

/* Refuse columns the caller may not read, with a clear message */
void
DiscCheckPrivileges(const DiscSource *src, List *cols, const DiscColumn *target)
{
	Oid			user = GetUserId();

	if (pg_class_aclcheck(src->relid, user, ACL_SELECT) == ACLCHECK_OK)
		return;
	for (int i = -1; i < list_length(cols); i++)
	{
		const DiscColumn *c = i < 0 ? target : (const DiscColumn *) list_nth(cols, i);

		if (c == NULL)
			continue;
		if (pg_attribute_aclcheck(src->relid, c->attnum, user, ACL_SELECT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to read column \"%s\" of relation %s",
							c->name, src->qualname),
					 errhint("Ask the owner for SELECT on %s, or leave the column out.",
							 src->qualname)));
	}
}

/* Append one aggregate call over a group of columns: agg(ARRAY[names], [target,] cols) */
static void
AppendCall(StringInfo sql, const char *agg, const DiscColumn *target, List *cols, int from, int to)
{
	appendStringInfo(sql, "profenrich.%s(ARRAY[", agg);
	if (target)
		appendStringInfoString(sql, quote_literal_cstr(target->name));
	for (int i = from; i < to; i++)
		appendStringInfo(sql, "%s%s", (i > from || target) ? ", " : "",
						 quote_literal_cstr(((DiscColumn *) list_nth(cols, i))->name));
	appendStringInfoString(sql, "]::pg_catalog.text[]");
	if (target)
		appendStringInfo(sql, ", %s", quote_identifier(target->name));
	for (int i = from; i < to; i++)
		appendStringInfo(sql, ", %s", quote_identifier(((DiscColumn *) list_nth(cols, i))->name));
	appendStringInfoChar(sql, ')');
}

/*
 * The one pass: SELECT profenrich.agg(names, [target,] c1, ..., ck), ...
 * FROM source, with per_call columns per call (more calls in the same
 * SELECT for wide tables: still one scan).  Returns each call's bytea,
 * copied out of SPI, or 0 where the aggregate saw no rows.
 */
Datum *
DiscRunPass(const char *agg, const DiscSource *src, const DiscColumn *target,
			List *cols, int per_call, int *ncalls)
{
	StringInfoData sql;
	int			n = list_length(cols);
	int			calls = (n + per_call - 1) / per_call;
	Datum	   *out = palloc0(sizeof(Datum) * calls);

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int k = 0; k < calls; k++)
	{
		if (k > 0)
			appendStringInfoString(&sql, ", ");
		AppendCall(&sql, agg, target, cols, k * per_call, Min(n, (k + 1) * per_call));
	}
	appendStringInfo(&sql, " FROM %s", src->qualname);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql.data, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "the %s pass failed: %s", agg, sql.data);
	for (int k = 0; k < calls; k++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, k + 1, &isnull);

		out[k] = isnull ? (Datum) 0 : SPI_datumTransfer(d, false, -1);
	}
	SPI_finish();
	*ncalls = calls;
	return out;
}

/*
 * Resolve the types of n arguments from first on: their conversion and
 * kind, refusing types the aggregate cannot read and VARIADIC arrays.
 */
void
DiscBindArgs(FunctionCallInfo fcinfo, int first, int n, DiscConv *conv, uint8 *kind,
			 char **names, const char *fname)
{
	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s does not take a VARIADIC array", fname),
				 errhint("Pass the values as separate arguments.")));
	for (int i = 0; i < n; i++)
	{
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, first + i);
		DiscKind	k;

		if (!OidIsValid(typid))
			elog(ERROR, "%s: cannot determine the type of argument %d", fname, first + i + 1);
		conv[i] = DiscConvForType(typid, &k);
		if (conv[i] == DC_NONE)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has unsupported type %s", names[i], format_type_be(typid)),
					 errhint("Use numeric, boolean, text, enum, date or timestamp columns; cast others in a view.")));
		kind[i] = (uint8) k;
	}
}

/*
 * The names of the n values, from the text[] argument 1 (for messages);
 * "$k" when it is NULL.  A names array of another length is an error.
 */
char **
DiscArgNames(FunctionCallInfo fcinfo, int n, MemoryContext mcxt)
{
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	char	  **names = palloc(sizeof(char *) * Max(n, 1));

	if (PG_ARGISNULL(1))
	{
		for (int i = 0; i < n; i++)
			names[i] = psprintf("$%d", i + 1);
	}
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		int			m;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &m);
		if (m != n)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%d names for %d values", m, n),
					 errhint("Pass one name per value, in order.")));
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("value names must not be NULL"),
						 errhint("Pass one name per value, in order.")));
			names[i] = TextDatumGetCString(elems[i]);
		}
	}
	MemoryContextSwitchTo(old);
	return names;
}

/* Error for a NaN or infinite value */
void
DiscNotFinite(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("column \"%s\" holds NaN, infinity or a number beyond float8", name),
			 errhint("Filter such rows out in a view, or set the values to NULL.")));
}

/* Error for bytes that cannot be a state of the aggregate */
void
DiscStateError(const char *fname, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("invalid %s state: %s", fname, why),
			 errhint("The state must come from profenrich.%s of the same version.", fname)));
}

/* A numeric as a double: NaN and infinity stay so, magnitudes beyond float8 become infinite */
double
DiscNumericToDouble(Datum d)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
}

/*
 * The key (64-bit hash) of a text datum, and its bytes (char(n) without
 * trailing blanks); *copy is the detoasted copy to free, or NULL.
 */
uint64
DiscTextKey(Datum d, DiscConv conv, const char **str, int *len, Pointer *copy)
{
	*copy = NULL;
	if (conv == DC_CSTRING)
	{
		*str = DatumGetCString(d);
		*len = strlen(*str);
	}
	else
	{
		text	   *t = DatumGetTextPP(d);

		if ((Pointer) t != DatumGetPointer(d))
			*copy = (Pointer) t;
		*str = VARDATA_ANY(t);
		*len = VARSIZE_ANY_EXHDR(t);
		if (conv == DC_BPCHAR)
			*len = bpchartruelen((char *) *str, *len);
	}
	return KeyFromHash(hash_bytes_extended((const unsigned char *) *str, *len, 0));
}

/* Append a number, null when not finite: the shortest text that reads back exactly */
void
DiscJsonNumber(StringInfo out, double v)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (!isfinite(v))
	{
		appendStringInfoString(out, "null");
		return;
	}
	double_to_shortest_decimal_buf(v, buf);
	appendStringInfoString(out, buf);
}

/*
 * Append a summarized number in its column's form: a number, a boolean,
 * or a date or timestamp string in ISO 8601 as to_jsonb writes them
 * (whatever the DateStyle).
 */
void
DiscJsonValue(StringInfo out, DiscKind kind, Oid typid, double v)
{
	Oid			base = getBaseType(typid);
	char		buf[MAXDATELEN + 1];

	switch (kind)
	{
		case DK_BOOLEAN:
			appendStringInfoString(out, v != 0 ? "true" : "false");
			return;
		case DK_DATE:
			JsonEncodeDateTime(buf, DateADTGetDatum((DateADT) llround(v) - DISC_EPOCH_DAYS),
							   DATEOID, NULL);
			break;
		case DK_TIMESTAMP:
			JsonEncodeDateTime(buf, TimestampGetDatum((Timestamp) llround(v * USECS_PER_DAY) -
													  (int64) DISC_EPOCH_DAYS * USECS_PER_DAY),
							   base == TIMESTAMPTZOID ? TIMESTAMPTZOID : TIMESTAMPOID, NULL);
			break;
		default:
			DiscJsonNumber(out, v);
			return;
	}
	appendStringInfo(out, "\"%s\"", buf);
}

/* The label of an enum value */
char *
DiscEnumLabel(Oid typid, Oid value)
{
	return DatumGetCString(DirectFunctionCall1(enum_out, ObjectIdGetDatum(value)));
}
