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
#include "executor/executor.h"
#include "tcop/tcopprot.h"

#include "citus.h"
#include "glm.h"
#include "step_group.h"
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
	src->from = src->qualname;
	src->query = NULL;
	src->query_text = NULL;
	src->tupdesc = CreateTupleDescCopy(RelationGetDescr(rel));
	src->citus = CitusTable(relid);
	relation_close(rel, AccessShareLock);
}

/* Refuse a training query that is not one plain SELECT */
static void
NotOneSelect(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the training query must be one SELECT statement: %s", why),
			 errhint("Pass a single SELECT (or VALUES) without INTO or data-modifying WITH, such as $$SELECT * FROM profiles WHERE region = 'EU'$$.")));
}

/*
 * A query as the training source (train_query): one SELECT statement,
 * parsed and analyzed once for its columns (names, types, the table
 * columns they come from, which the leakage guards read) and then read as
 * a subquery, "(query) AS pe_query", with the caller's privileges as
 * every read of training is.  Its result columns need distinct names.
 */
void
SourceOpenQuery(const char *query, Source *src)
{
	List	   *raw = pg_parse_query(query);
	RawStmt    *stmt;
	List	   *analyzed;
	Query	   *q;

	if (list_length(raw) != 1)
		NotOneSelect(list_length(raw) == 0 ? "it is empty" : "it holds several statements");
	stmt = linitial_node(RawStmt, raw);
	if (!IsA(stmt->stmt, SelectStmt) || ((SelectStmt *) stmt->stmt)->intoClause != NULL)
		NotOneSelect(IsA(stmt->stmt, SelectStmt) ? "it has INTO" : "it is not a SELECT");
	analyzed = pg_analyze_and_rewrite_fixedparams(stmt, query, NULL, 0, NULL);
	q = linitial_node(Query, analyzed);
	if (list_length(analyzed) != 1 || q->commandType != CMD_SELECT || q->hasModifyingCTE ||
		q->utilityStmt != NULL)
		NotOneSelect("it modifies data");
	src->relid = InvalidOid;
	src->qualname = "(query)";
	src->query_text = pstrdup(query);
	src->from = psprintf("(%s) AS pe_query", query);
	src->tupdesc = ExecCleanTypeFromTL(q->targetList);
	src->query = q;
	for (int i = 0; i < src->tupdesc->natts; i++)
		for (int k = 0; k < i; k++)
			if (strcmp(NameStr(TupleDescAttr(src->tupdesc, i)->attname),
					   NameStr(TupleDescAttr(src->tupdesc, k)->attname)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("the training query returns two columns named \"%s\"",
								NameStr(TupleDescAttr(src->tupdesc, i)->attname)),
						 errhint("Give every column of the query its own name with AS.")));
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
	int			n;

	return SourceDistinctValues(src, column, 5, &n);
}

/*
 * Up to limit distinct non-NULL values of a column (the first in sort
 * order), quoted and listed for a message; *n says how many
 */
char *
SourceDistinctValues(const Source *src, const char *column, int limit, int *n)
{
	StringInfoData out;
	char	   *sql = psprintf("SELECT DISTINCT %s::pg_catalog.text FROM %s WHERE %s IS NOT NULL "
							   "ORDER BY 1 LIMIT %d",
							   quote_identifier(column), src->from, quote_identifier(column),
							   limit);

	TrainQuery(sql, 0, NULL, NULL, 0);
	initStringInfo(&out);
	for (uint64 i = 0; i < SPI_processed; i++)
		appendStringInfo(&out, "%s\"%s\"", i == 0 ? "" : i + 1 == SPI_processed ? " and " : ", ",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	*n = (int) SPI_processed;
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
 * of types a model cannot read and the key.  The leakage guards
 * (GuardFeatures) then judge what is left.
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
				(spec->group && strcmp(n, spec->group) == 0))
				continue;
			if (spec->key && strcmp(n, spec->key) == 0)
			{
				ereport(NOTICE,
						(errmsg("column \"%s\" is not used as a feature: it is the key that splits the rows", n)));
				continue;
			}
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
			if (spec->group && strcmp(name, spec->group) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" is the group_by column and cannot also be a feature", name),
						 errdetail("Each group's model is trained on the rows of one value of it."),
						 errhint("Remove \"%s\" from the features array, or group by another column.", name)));
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

/*
 * Refuse to train on columns the caller may not read (a query source is
 * checked as it runs, with the caller's privileges)
 */
void
CheckPrivileges(const FeatureSpec *spec, const Source *src)
{
	Oid			user = GetUserId();

	if (src->query || pg_class_aclcheck(src->relid, user, ACL_SELECT) == ACLCHECK_OK)
		return;
	for (int i = -3; i < spec->ncolumns; i++)
	{
		const char *name = i == -3 ? spec->group : i == -2 ? spec->target : i == -1 ? spec->key :
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
 * whether more exist, which then share one "(other)" slot; with each
 * slot's share of the column's non-NULL values, which an unseen category
 * takes under "unseen": "average" (trainers that know the training split's
 * shares replace them: FeatureSetShares).  k and v are qualified: the
 * source may have columns of those names.
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
	if (src->query)
		appendStringInfo(&sql, "(%s) AS pe_src CROSS JOIN LATERAL (VALUES ", src->query_text);
	else
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
		double		present;

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
		/* each slot's share of the non-NULL values */
		present = total[i] - levels[i][c->nlevels + 1];
		c->shares = palloc(sizeof(double) * (c->nlevels + 1));
		for (int k = 0; k < c->nlevels; k++)
			c->shares[k] = levels[i][k] / present;
		if (c->has_other)
			c->shares[c->nlevels] = Max(levels[i][c->nlevels], 0.0) / present;
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
	if (spec->group)
		cols = lappend(cols, spec->group);
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
 * -1 for a value of none of them), so linear_stats can take it as a number;
 * label_param 0: the target as it is (a pass that reads it by its spec).
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
		if (spec->nclasses > 0 && label_param > 0 && foreach_current_index(lc) == 0)
			appendStringInfo(&out, "CASE WHEN %s IS NULL THEN NULL ELSE "
							 "COALESCE(pg_catalog.array_position($%d::pg_catalog.text[], "
							 "%s::pg_catalog.text COLLATE pg_catalog.\"C\") OPERATOR(pg_catalog.-) 1, -1) END%s%s",
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
 * How a training pass passes the needed columns cols to an aggregate after
 * its names argument: one argument per column, which spares the executor
 * building a composite value per row; for a Citus table, ROW(col1, ...),
 * since Citus pushes down only an aggregate whose declared argument types
 * match its arguments (never true of VARIADIC "any").  Beyond the
 * arguments a call takes, ROW(...) too when rows_ok, else NULL.  A class
 * target goes as its class number (PassColumns), its labels in $label_param.
 */
char *
PassArguments(const FeatureSpec *spec, const Source *src, List *cols, int fixed, bool rows_ok,
			  int label_param)
{
	/* the transition takes the state, the fixed arguments and the columns */
	if (list_length(cols) <= FUNC_MAX_ARGS - 1 - fixed && !src->citus)
		return PassColumns(spec, cols, label_param, false);
	if (src->citus || rows_ok)
		return psprintf("ROW(%s)", PassColumns(spec, cols, label_param, false));
	return NULL;
}

/*
 * The one pass over the data, which PostgreSQL may split across parallel
 * workers, and Citus across its workers: SELECT profenrich.linear_stats(spec,
 * names, col1, col2, ...) FROM source (PassArguments).  Only the needed
 * columns are read (as column privileges require).  Beyond the argument
 * limit, rows go as composites of a subquery of the needed columns.  A
 * class target goes as its class number.
 */
LinearStats *
RunStatsPass(const FeatureSpec *spec, const Source *src)
{
	List	   *cols = NeededColumns(spec);
	Oid			types[3] = {BYTEAOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3] = {PointerGetDatum(SpecBytes(spec)), ColumnNames(cols), (Datum) 0};
	char	   *args = PassArguments(spec, src, cols, 2, false, 3);
	int			nargs = args != NULL ? 2 : 1;
	char	   *sql;
	bool		isnull;
	Datum		d;

	if (spec->nclasses > 0)
	{
		types[nargs] = TEXTARRAYOID;
		values[nargs] = LabelsArray(spec);
	}
	if (args != NULL)
		sql = psprintf("SELECT profenrich.linear_stats($1, $2, %s) FROM %s", args, src->from);
	else
		sql = psprintf("SELECT profenrich.linear_stats(pe_src.*, $1) "
					   "FROM (SELECT %s FROM %s) AS pe_src", PassColumns(spec, cols, 2, true),
					   src->from);
	TrainQuery(sql, nargs + (spec->nclasses > 0 ? 1 : 0), types, values, 0);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	return LinearStatsFromBytes(DatumGetByteaPP(d));
}

/*
 * Rows the source is expected to hold, as the planner's statistics say
 * (pg_class.reltuples; of every shard, for a Citus table), or -1 when
 * unknown (a view, a table never analyzed).
 */
double
SourceEstimatedRows(const Source *src)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(src->relid)};
	bool		isnull;
	Datum		d;

	if (!src->citus)
		TrainQuery("SELECT CASE WHEN relkind OPERATOR(pg_catalog.=) 'v' OR reltuples OPERATOR(pg_catalog.<) 0 "
				   "THEN -1 ELSE reltuples END::pg_catalog.float8 FROM pg_catalog.pg_class "
				   "WHERE oid OPERATOR(pg_catalog.=) $1", 1, types, values, 1);
	else
		TrainQuery("SELECT CASE WHEN pg_catalog.bool_or(NOT success OR result::pg_catalog.float8 "
				   "OPERATOR(pg_catalog.<) 0) THEN -1 ELSE pg_catalog.sum(result::pg_catalog.float8) END "
				   "FROM pg_catalog.run_command_on_shards($1::pg_catalog.regclass, "
				   "'SELECT reltuples FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) ''%s''::pg_catalog.regclass')",
				   1, types, values, 0);
	if (SPI_processed == 0)
		return -1;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? -1 : DatumGetFloat8(d);
}

/*
 * The other value of a binary text target with option "positive" (the
 * negative class's label), or NULL when the source holds none
 */
char *
SourceOtherLabel(const FeatureSpec *spec, const Source *src)
{
	char	   *sql = psprintf("SELECT %s::pg_catalog.text FROM %s "
							   "WHERE %s::pg_catalog.text OPERATOR(pg_catalog.<>) $1 LIMIT 1",
							   quote_identifier(spec->target), src->from,
							   quote_identifier(spec->target));
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(spec->positive)};

	TrainQuery(sql, 1, types, values, 1);
	return SPI_processed > 0 ?
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
}

/*
 * The one pass of a model per group: SELECT
 * profenrich.linear_stats_grouped(spec, group_by, max_groups, names,
 * col1, ...) FROM source, every group's statistics and the global model's
 * in one state (step_group.h).
 */
GroupedStats *
RunGroupedPass(const FeatureSpec *spec, const Source *src, int max_groups)
{
	List	   *cols = NeededColumns(spec);
	Oid			types[4] = {BYTEAOID, TEXTOID, INT4OID, TEXTARRAYOID};
	Datum		values[4] = {PointerGetDatum(SpecBytes(spec)), CStringGetTextDatum(spec->group),
		Int32GetDatum(max_groups), ColumnNames(cols)};
	char	   *sql = psprintf("SELECT profenrich.linear_stats_grouped($1, $2, $3, $4, %s) FROM %s",
							   PassArguments(spec, src, cols, 4, true, 0), src->from);
	bool		isnull;
	Datum		d;

	TrainQuery(sql, 4, types, values, 0);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	return GroupedStatsFromBytes(DatumGetByteaPP(d));
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
			 errdetail("Rows with a NULL target are skipped%s; %lld rows the model cannot use were left out; the test split holds %.0f rows.",
					   spec->impute == IMPUTE_SKIP ? ", and so are rows with a NULL feature" : "",
					   st ? (long long) BadRowsBad(&st->bad) : 0LL,
					   st ? st->mom[SPLIT_TEST].n : 0),
			 errhint("Train on more rows, fewer features, or a smaller test_fraction.")));
}

/* The imputation values of the spec's numeric columns, by missing index */
double *
ImputedValues(const FeatureSpec *spec)
{
	double	   *impute = palloc0(sizeof(double) * Max(spec->nnumeric, 1));

	for (int i = 0; i < spec->ncolumns; i++)
		if (spec->columns[i].miss_index >= 0)
			impute[spec->columns[i].miss_index] = spec->columns[i].impute;
	return impute;
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
