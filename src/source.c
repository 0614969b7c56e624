/*-------------------------------------------------------------------------
 * source.c
 *	  The training source and its columns, under every trainer: opening the
 *	  relation, resolving columns and the feature list, privileges, the
 *	  vocabularies of categorical features, the statistics pass, and the
 *	  SPI query helper the trainers read with.
 *
 * Every read of user data is a query run with the caller's privileges, so
 * row-level security and column grants apply; identifiers are quoted.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "glm.h"
#include "trainer.h"

/* Context of train()'s results; SPI switches to its own after every call */
MemoryContext TrainContext = NULL;


/*
 * Run a read-only query through SPI and switch back to TrainContext, so
 * what train() builds from the result outlives SPI_finish.
 */
int
TrainQuery(const char *sql, int nargs, Oid *types, Datum *values, long tcount)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, true, tcount);

	MemoryContextSwitchTo(TrainContext);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "query failed (%s): %s", SPI_result_code_string(rc), sql);
	return rc;
}

/* Open the source, check its kind, and keep its name and columns */
void
SourceOpen(Oid relid, Source *src)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);
	char		kind;

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("Pass an existing table or view as source.")));
	kind = rel->rd_rel->relkind;
	if (kind != RELKIND_RELATION && kind != RELKIND_VIEW && kind != RELKIND_MATVIEW &&
		kind != RELKIND_FOREIGN_TABLE && kind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table or view", RelationGetRelationName(rel)),
				 errhint("Train on a table, view, materialized view or foreign table.")));
	src->relid = relid;
	src->qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											   RelationGetRelationName(rel));
	src->tupdesc = CreateTupleDescCopy(RelationGetDescr(rel));
	relation_close(rel, AccessShareLock);
}

/* Attribute number of a live column, 0 if none */
AttrNumber
SourceColumn(const Source *src, const char *name)
{
	for (int i = 0; i < src->tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(src->tupdesc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return 0;
}

/* Error for a column the source does not have */
void
SourceNoColumn(const Source *src, const char *name, const char *role)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" of relation %s does not exist", name, src->qualname),
			 errhint("Name an existing column as %s; names are case-sensitive.", role)));
}

/* The column's conversion, erroring for types a model cannot read */
FeatureConv
ColumnConv(const Source *src, AttrNumber att, const char *role)
{
	Form_pg_attribute a = TupleDescAttr(src->tupdesc, att - 1);
	FeatureConv conv = FeatureConvForType(a->atttypid);

	if (conv == CONV_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s column \"%s\" has unsupported type %s",
						role, NameStr(a->attname), format_type_be(a->atttypid)),
				 errhint("Use numeric, boolean, text or enum columns; cast others in a view.")));
	return conv;
}

/* The single-column primary key of the source, or NULL */
char *
SourcePrimaryKey(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char	   *key = NULL;

	TrainQuery("SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_index i "
			   "JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid "
			   "AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0] "
			   "WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisprimary "
			   "AND i.indnkeyatts OPERATOR(pg_catalog.=) 1",
			   1, types, values, 1);
	if (SPI_processed == 1)
		key = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return key;
}

/* Up to five distinct non-NULL values of a column, for error messages */
char *
SourceSomeValues(const Source *src, const char *column)
{
	StringInfoData out;
	char	   *sql = psprintf("SELECT DISTINCT %s::pg_catalog.text FROM %s WHERE %s IS NOT NULL "
							   "ORDER BY 1 LIMIT 5",
							   quote_identifier(column), src->qualname, quote_identifier(column));

	TrainQuery(sql, 0, NULL, NULL, 0);
	initStringInfo(&out);
	for (uint64 i = 0; i < SPI_processed; i++)
		appendStringInfo(&out, "%s\"%s\"", i > 0 ? ", " : "",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return out.data;
}

/* Append a feature column of the source to the spec being built */
static void
AddColumn(FeatureSpec *spec, const Source *src, AttrNumber att)
{
	FeatureColumn *c = &spec->columns[spec->ncolumns++];
	Form_pg_attribute a = TupleDescAttr(src->tupdesc, att - 1);

	memset(c, 0, sizeof(FeatureColumn));
	c->name = pstrdup(NameStr(a->attname));
	c->kind = FeatureKindForConv(ColumnConv(src, att, "feature"));
	c->impute = get_float8_nan();
}

/*
 * The feature columns: those named, checked one by one, or when NULL every
 * column but the target and the key, leaving out (with a notice) columns
 * of types a model cannot read.
 */
void
SourceResolveFeatures(FeatureSpec *spec, const Source *src, ArrayType *features)
{
	spec->columns = palloc0(sizeof(FeatureColumn) * Max(src->tupdesc->natts, 1));
	spec->ncolumns = 0;
	if (features == NULL)
	{
		for (int i = 0; i < src->tupdesc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(src->tupdesc, i);
			const char *n = NameStr(a->attname);

			if (a->attisdropped || (spec->target && strcmp(n, spec->target) == 0) ||
				(spec->key && strcmp(n, spec->key) == 0))
				continue;
			if (FeatureConvForType(a->atttypid) == CONV_NONE)
			{
				ereport(NOTICE,
						(errmsg("column \"%s\" of type %s is not used as a feature",
								n, format_type_be(a->atttypid))));
				continue;
			}
			AddColumn(spec, src, a->attnum);
		}
	}
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(features, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		if (n > src->tupdesc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("more features than the relation has columns"),
					 errhint("Name each feature column once.")));
		for (int i = 0; i < n; i++)
		{
			char	   *name;
			AttrNumber	att;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("feature names must not be NULL"),
						 errhint("Remove the NULL from the features array.")));
			name = TextDatumGetCString(elems[i]);
			att = SourceColumn(src, name);
			if (att == 0)
				SourceNoColumn(src, name, "feature");
			if (spec->target && strcmp(name, spec->target) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" is the target and cannot also be a feature", name),
						 errhint("Remove the target from the features array.")));
			for (int k = 0; k < spec->ncolumns; k++)
				if (strcmp(spec->columns[k].name, name) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_DUPLICATE_COLUMN),
							 errmsg("feature \"%s\" is named more than once", name),
							 errhint("Name each feature column once.")));
			AddColumn(spec, src, att);
		}
	}
	if (spec->ncolumns == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no feature columns to train on"),
				 errhint("Name numeric, boolean, text or enum columns in the features argument.")));
}

/* Refuse to train on columns the caller may not read */
void
CheckPrivileges(const FeatureSpec *spec, const Source *src)
{
	Oid			user = GetUserId();

	if (pg_class_aclcheck(src->relid, user, ACL_SELECT) == ACLCHECK_OK)
		return;
	for (int i = -2; i < spec->ncolumns; i++)
	{
		const char *name = i == -2 ? spec->target : i == -1 ? spec->key :
			spec->columns[i].name;

		if (name == NULL)
			continue;
		if (pg_attribute_aclcheck(src->relid, SourceColumn(src, name), user, ACL_SELECT) !=
			ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to train on column \"%s\" of relation %s",
							name, src->qualname),
					 errhint("Ask the owner for SELECT on %s.", src->qualname)));
	}
}

/*
 * Learn each categorical column's vocabulary in one scan: the
 * max_categories most frequent values (ties by value, byte order), and
 * whether more exist, which then share one "(other)" slot.
 */
void
SourceLearnVocabularies(FeatureSpec *spec, const Source *src, int max_categories)
{
	(void) SourceLearnVocabularyCounts(spec, src, max_categories);
}

/*
 * SourceLearnVocabularies, returning what the same scan counts for the
 * training baseline: per categorical column the rows of each level, of the
 * values beyond the vocabulary and of NULL (BaselineLevelCounts).  The
 * statement reads each column's NULL group and a window total besides the
 * levels, and is immune to the caller's search_path.
 */
BaselineLevelCounts
SourceLearnVocabularyCounts(FeatureSpec *spec, const Source *src, int max_categories)
{
	StringInfoData sql;
	bool		any = false;
	int		   *counts = palloc0(sizeof(int) * spec->ncolumns);
	BaselineLevelCounts levels = palloc0(sizeof(double *) * Max(spec->ncolumns, 1));
	double	   *total = palloc0(sizeof(double) * Max(spec->ncolumns, 1));

	initStringInfo(&sql);
	/* pe_u.k and pe_u.v qualified: the source may have columns named k or v */
	appendStringInfoString(&sql, "SELECT k, v, c, t FROM (SELECT pe_u.k, pe_u.v, "
						   "pg_catalog.count(*)::pg_catalog.float8 AS c, "
						   "pg_catalog.sum(pg_catalog.count(*)) OVER (PARTITION BY pe_u.k)::pg_catalog.float8 AS t, "
						   "pg_catalog.row_number() OVER (PARTITION BY pe_u.k, pe_u.v IS NULL "
						   "ORDER BY pg_catalog.count(*) DESC, pe_u.v COLLATE pg_catalog.\"C\") AS rn FROM ");
	appendStringInfo(&sql, "%s AS pe_src CROSS JOIN LATERAL (VALUES ", src->qualname);
	for (int i = 0; i < spec->ncolumns; i++)
	{
		if (spec->columns[i].kind != FEATURE_CATEGORICAL)
			continue;
		appendStringInfo(&sql, "%s(%d, pe_src.%s::pg_catalog.text)", any ? ", " : "", i,
						 quote_identifier(spec->columns[i].name));
		any = true;
	}
	if (!any)
		return levels;
	appendStringInfo(&sql, ") AS pe_u(k, v) GROUP BY pe_u.k, pe_u.v) s "
					 "WHERE rn OPERATOR(pg_catalog.<=) %d ORDER BY k, v IS NULL, rn",
					 max_categories + 1);
	TrainQuery(sql.data, 0, NULL, NULL, 0);
	for (int i = 0; i < spec->ncolumns; i++)
	{
		spec->columns[i].levels = palloc(sizeof(char *) * (max_categories + 1));
		spec->columns[i].level_len = palloc(sizeof(int) * (max_categories + 1));
		if (spec->columns[i].kind == FEATURE_CATEGORICAL)
			levels[i] = palloc0(sizeof(double) * (max_categories + 2));
	}
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			k = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		FeatureColumn *c = &spec->columns[k];
		char	   *v = SPI_getvalue(tup, desc, 2);
		double		n = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));

		total[k] = DatumGetFloat8(SPI_getbinval(tup, desc, 4, &isnull));
		if (v == NULL)
		{
			levels[k][max_categories + 1] = n;	/* moved after the last level below */
			continue;
		}
		if (counts[k]++ == max_categories)
		{
			c->has_other = true;
			continue;
		}
		c->levels[c->nlevels] = v;
		c->level_len[c->nlevels] = strlen(v);
		levels[k][c->nlevels] = n;
		c->nlevels++;
	}
	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *c = &spec->columns[i];
		double		known = 0;

		if (c->kind != FEATURE_CATEGORICAL)
			continue;
		if (c->nlevels == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("feature column \"%s\" is NULL in every row", c->name),
					 errhint("Leave the column out of the features.")));
		/* the levels, then the values beyond them, then NULL */
		levels[i][c->nlevels + 1] = levels[i][max_categories + 1];
		for (int j = 0; j < c->nlevels; j++)
			known += levels[i][j];
		levels[i][c->nlevels] = total[i] - known - levels[i][c->nlevels + 1];
	}
	return levels;
}

/* The spec as a bytea argument for linear_stats */
bytea *
SpecBytes(const FeatureSpec *spec)
{
	StringInfoData buf;
	bytea	   *b;

	initStringInfo(&buf);
	FeatureSpecWrite(&buf, spec);
	b = palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(b, VARHDRSZ + buf.len);
	memcpy(VARDATA(b), buf.data, buf.len);
	return b;
}

/* The columns a model reads, in order: target and key (those it has), features */
List *
NeededColumns(const FeatureSpec *spec)
{
	List	   *cols = spec->target ? list_make1(spec->target) : NIL;

	if (spec->key)
		cols = lappend(cols, spec->key);
	for (int i = 0; i < spec->ncolumns; i++)
		cols = lappend(cols, spec->columns[i].name);
	return cols;
}

/* The needed columns quoted and comma-separated */
char *
ColumnList(List *cols)
{
	StringInfoData out;
	ListCell   *lc;

	initStringInfo(&out);
	foreach(lc, cols)
		appendStringInfo(&out, "%s%s", out.len > 0 ? ", " : "",
						 quote_identifier((const char *) lfirst(lc)));
	return out.data;
}

/* The needed column names as a text[] */
Datum
ColumnNames(List *cols)
{
	Datum	   *elems = palloc(sizeof(Datum) * list_length(cols));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, cols)
		elems[i++] = CStringGetTextDatum((const char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * The arguments of a pass that reads the needed columns: the columns
 * quoted, except a class target, which the pass reads as the number of its
 * class (0-based: the position of value::text among the labels in $label,
 * -1 for a value of none of them), so linear_stats can take it as a number.
 */
static char *
PassColumns(const FeatureSpec *spec, List *cols, int label_param, bool aliases)
{
	StringInfoData out;
	ListCell   *lc;

	initStringInfo(&out);
	foreach(lc, cols)
	{
		const char *col = quote_identifier((const char *) lfirst(lc));

		if (out.len > 0)
			appendStringInfoString(&out, ", ");
		if (spec->nclasses > 0 && foreach_current_index(lc) == 0)
			appendStringInfo(&out, "CASE WHEN %s IS NULL THEN NULL ELSE "
							 "COALESCE(pg_catalog.array_position($%d::pg_catalog.text[], "
							 "%s::pg_catalog.text COLLATE \"C\") OPERATOR(pg_catalog.-) 1, -1) END%s%s",
							 col, label_param, col, aliases ? " AS " : "", aliases ? col : "");
		else
			appendStringInfoString(&out, col);
	}
	return out.data;
}

/* The class labels of a class target as a text[] */
static Datum
LabelsArray(const FeatureSpec *spec)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(spec->nclasses, 1));

	for (int k = 0; k < spec->nclasses; k++)
		elems[k] = CStringGetTextDatum(spec->classes[k]);
	return PointerGetDatum(construct_array(elems, spec->nclasses, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/*
 * The one pass over the data, which PostgreSQL may split across parallel
 * workers: SELECT profenrich.linear_stats(spec, names, col1, col2, ...)
 * FROM source.  Passing columns as arguments spares building a composite
 * value per row and reads only the needed columns (as column privileges
 * require).  Beyond the argument limit, rows go as composites of a
 * subquery of the needed columns.  A class target goes as its class number.
 */
LinearStats *
RunStatsPass(const FeatureSpec *spec, const Source *src)
{
	List	   *cols = NeededColumns(spec);
	bool		args = list_length(cols) <= FUNC_MAX_ARGS - 3;
	Oid			types[3] = {BYTEAOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3] = {PointerGetDatum(SpecBytes(spec)), ColumnNames(cols), (Datum) 0};
	int			nargs = args ? 2 : 1;
	char	   *sql;
	bool		isnull;
	Datum		d;

	if (spec->nclasses > 0)
	{
		types[nargs] = TEXTARRAYOID;
		values[nargs] = LabelsArray(spec);
	}
	if (args)
		sql = psprintf("SELECT profenrich.linear_stats($1, $2, %s) FROM %s",
					   PassColumns(spec, cols, 3, false), src->qualname);
	else
		sql = psprintf("SELECT profenrich.linear_stats(pe_src.*, $1) "
					   "FROM (SELECT %s FROM %s) AS pe_src", PassColumns(spec, cols, 2, true),
					   src->qualname);
	TrainQuery(sql, nargs + (spec->nclasses > 0 ? 1 : 0), types, values, 0);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	return LinearStatsFromBytes(DatumGetByteaPP(d));
}

/* Slots of the numeric columns, in missing-indicator order */
int *
MissSlots(const FeatureSpec *spec)
{
	int		   *slots = palloc(sizeof(int) * Max(spec->nnumeric, 1));

	for (int i = 0; i < spec->ncolumns; i++)
		if (spec->columns[i].miss_index >= 0)
			slots[spec->columns[i].miss_index] = spec->columns[i].first_slot;
	return slots;
}

/* Append "key": number (null for NaN) to a JSON object being built */
void
JsonField(StringInfo out, const char *key, double v)
{
	if (out->data[out->len - 1] != '{')
		appendStringInfoString(out, ", ");
	if (isnan(v) || isinf(v))
		appendStringInfo(out, "\"%s\": null", key);
	else
		appendStringInfo(out, "\"%s\": %s", key, float8out_internal(v));
}

/* Refuse to fit when too few rows are usable */
void
CheckRowCount(const LinearStats *st, const FeatureSpec *spec, const Source *src)
{
	double		n = st ? st->mom[SPLIT_TRAIN].n : 0;

	if (n > spec->nslots)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("too few usable rows in %s to train: %.0f training rows for %d slots",
					src->qualname, n, spec->nslots),
			 errdetail("Rows with a NULL target are skipped%s; the test split holds %.0f rows.",
					   spec->impute == IMPUTE_SKIP ? ", and so are rows with a NULL feature" : "",
					   st ? st->mom[SPLIT_TEST].n : 0),
			 errhint("Train on more rows, fewer features, or a smaller test_fraction.")));
}

/*
 * Fill in the imputation means from the training split, refusing a column
 * that has no value at all.
 */
double *
ImputeMeans(const LinearStats *st, FeatureSpec *spec, const int *miss_slot)
{
	double	   *impute = palloc(sizeof(double) * Max(spec->nnumeric, 1));

	GlmImputeValues(&st->mom[SPLIT_TRAIN], spec->nnumeric, miss_slot, impute);
	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *c = &spec->columns[i];

		if (c->miss_index < 0)
			continue;
		if (isnan(impute[c->miss_index]))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("feature column \"%s\" is NULL in every training row", c->name),
					 errhint("Leave the column out of the features.")));
		c->impute = impute[c->miss_index];
	}
	return impute;
}
