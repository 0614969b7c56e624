/*-------------------------------------------------------------------------
 * enrich.c
 *	  Insights written into profile tables: CALL profenrich.enrich(), batch
 *	  enrichment in place, and profenrich.enrich_trigger(), real time.
 *
 * enrich() updates the table in batches of physical block ranges (TID
 * range scans: no key needed, and each batch reads only its own pages),
 * one set-based UPDATE per batch that writes only the rows whose values
 * changed; the scores come from score(name, version, t), which the planner
 * turns into a call on the row's columns.  Called with CALL outside a
 * transaction block it commits after every batch, so an interrupted run
 * keeps its finished batches and simply runs again; inside a transaction
 * block it runs atomically.  Each run pins the model versions it started
 * with, is logged in profenrich.enrich_runs, and holds an advisory lock on
 * the table so that a second run fails at once instead of interleaving.
 * A partitioned table or an inheritance parent is enriched table by table
 * (every table of its tree with storage, each in batches of its own
 * blocks), under one run.
 *
 * Every statement is immune to the caller's search_path (operators,
 * functions and types schema-qualified, comparisons through changed()),
 * without switching the search_path: user triggers on the table fire
 * during the UPDATE and expect the caller's.  The run log is written as
 * its owner (no role has a grant on it), and a run whose session ended
 * before it finished is marked interrupted by the next run of the table.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/bufmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "citus.h"
#include "features.h"
#include "items.h"
#include "model.h"
#include "options.h"
#include "outputs.h"
#include "privileges.h"
#include "profenrich.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(enrich);
PG_FUNCTION_INFO_V1(enrich_trigger);
PG_FUNCTION_INFO_V1(changed);

#define ENRICH_LOCK_CLASS 1346715221	/* advisory lock class "PENE" */
#define PROGRESS_MS 3000

/* One model of a run: its pinned version and the columns it writes */
typedef struct EnrichModel
{
	bool		fresh;			/* its columns were all added by this run (all NULL) */
	char	   *name;
	int			version;
	Model	   *model;
	int			nout;
	OutputColumn out[MAX_OUTPUTS];	/* the first is written for every row */
	char	   *key;			/* item models: the column of the user key */
	int			top;			/* item models: items per row */
	char	   *params_lit;		/* for a Citus table: its params as a bytea literal */
} EnrichModel;

/* A shard placement of a Citus table a run writes, in batches of its own blocks */
typedef struct EnrichShard
{
	CitusPlacement place;
	BlockNumber nblocks;
	BlockNumber step;
} EnrichShard;

/* One table a run writes: the target, or a partition or child of it */
typedef struct EnrichMember
{
	Oid			relid;
	char	   *qualname;
	char	   *colargs;		/* its row as the columns forms take it (ColumnArgs) */
	char	   *batch_sql;
	char	   *count_sql;		/* a batch's rows (and those with unseen categories) */
	char	   *key_expr;		/* the text naming a row in messages: its key, else NULL */
	char	   *key_name;
	BlockNumber nblocks;
	BlockNumber step;
	bool		locked;			/* this run holds its enrich lock */
	bool		citus;			/* a Citus table: its rows are in the shards */
	int			nshards;
	EnrichShard *shards;
	char	   *set_sql;		/* its shards' UPDATE: the SET list and the row condition */
	char	   *where_sql;
} EnrichMember;

/* Refuse a foreign table, the target or (parent not NULL) one of its partitions or children */
static void
ForeignTarget(const char *qualname, const char *parent)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 parent ? errmsg("%s, a partition or child of %s, is a foreign table", qualname, parent) :
			 errmsg("%s is a foreign table", qualname),
			 errdetail("enrich updates tables in batches of their physical blocks, which a foreign table does not have."),
			 parent ? errhint("Detach the foreign partition, or enrich the table on its own server.") :
			 errhint("Enrich the table on its own server.")));
}

/* Refuse targets that are not tables or that the caller may not update */
static void
CheckTarget(Oid relid, char **qualname)
{
	char		kind = get_rel_relkind(relid);
	char	   *rel = get_rel_name(relid);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("Pass an existing table.")));
	*qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), rel);
	if (kind == RELKIND_FOREIGN_TABLE)
		ForeignTarget(*qualname, NULL);
	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", rel),
				 errhint("enrich writes insight columns into a table; enrich the table behind the view.")));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to enrich %s", *qualname),
				 errhint("Ask the owner for UPDATE on %s.", *qualname)));
}

/* The type of a column of the table, InvalidOid if it has none */
static Oid
ColumnType(Oid relid, const char *col)
{
	AttrNumber	att = get_attnum(relid, col);

	return att == InvalidAttrNumber ? InvalidOid : get_atttype(relid, att);
}

/*
 * Add an output column if missing; refuse an existing one of another type
 * (never a silent cast).  Returns true when it had to be added.
 */
static bool
EnsureColumn(Oid relid, const char *qualname, const char *col, Oid type, const char *typname)
{
	Oid			have = ColumnType(relid, col);

	if (OidIsValid(have))
	{
		if (have != type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of %s has type %s, not %s", col, qualname,
							format_type_be(have), typname),
					 errhint("Drop or rename the column, or name another one in the option \"columns\".")));
		return false;
	}
	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("column \"%s\" is missing and only the owner of %s can add it", col, qualname),
				 errhint("Ask the owner to run enrich once, or to add the column: ALTER TABLE %s ADD COLUMN %s %s.",
						 qualname, quote_identifier(col), typname)));
	/* the type as a qualified name (or an SQL keyword): immune to the search_path */
	if (SPI_execute(psprintf("ALTER TABLE %s ADD COLUMN %s %s", qualname, quote_identifier(col),
							 format_type_extended(type, -1, FORMAT_TYPE_FORCE_QUALIFY)),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not add column %s", col);
	return true;
}

/* Label a column with the model and version that write it */
static void
CommentColumn(Oid relid, const char *qualname, const char *col, const EnrichModel *m,
			  const char *what)
{
	char	   *comment = psprintf("profenrich: %s of model %s version %d", what, m->name, m->version);

	if (!pg_class_ownercheck(relid, GetUserId()))
		return;
	SPI_execute(psprintf("COMMENT ON COLUMN %s.%s IS %s", qualname, quote_identifier(col),
						 quote_literal_cstr(comment)), false, 0);
}

/*
 * Refuse, before anything is added or written, output columns that
 * collide: two outputs (of two models, or of one) in one column, which
 * the UPDATE could not set twice, or an output in a column some model
 * reads as a feature, which would overwrite its input.
 */
static pg_noinline void
CheckDistinctColumns(const EnrichModel *ms, int n)
{
	for (int i = 0; i < n; i++)
		for (int k = 0; k < ms[i].nout; k++)
		{
			const char *col = ms[i].out[k].column;

			for (int j = 0; j <= i; j++)
				for (int l = 0; l < (j == i ? k : ms[j].nout); l++)
					if (strcmp(col, ms[j].out[l].column) == 0)
						ereport(ERROR,
								(errcode(ERRCODE_DUPLICATE_COLUMN),
								 errmsg("column \"%s\" would receive the %s of model \"%s\" and the %s of model \"%s\"",
										col, OutputDefOf(ms[j].out[l].what)->key, ms[j].name,
										OutputDefOf(ms[i].out[k].what)->key, ms[i].name),
								 errhint("Give each output its own column in the option \"columns\"; nothing was added or written.")));
			for (int j = 0; j < n; j++)
				for (int c = 0; c < ms[j].model->spec->ncolumns; c++)
					if (strcmp(col, ms[j].model->spec->columns[c].name) == 0)
						ereport(ERROR,
								(errcode(ERRCODE_DUPLICATE_COLUMN),
								 errmsg("column \"%s\" would receive the %s of model \"%s\", but model \"%s\" reads it as a feature",
										col, OutputDefOf(ms[i].out[k].what)->key, ms[i].name, ms[j].name),
								 errhint("Name another column for the output in the option \"columns\"; nothing was added or written.")));
		}
}

/*
 * Load each model's deployed version (pinned for the run), check that the
 * table has its feature columns, and work out the columns it writes.
 */
static EnrichModel *
ResolveModels(Oid relid, ArrayType *arr, const EnrichOptions *o, int *nmodels)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	  **names;
	EnrichModel *ms;
	Relation	rel;
	FeatureReader r;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no models to enrich with"),
				 errhint("Pass model names, e.g. array['churn'].")));
	names = palloc(sizeof(char *) * n);
	ms = palloc0(sizeof(EnrichModel) * n);
	rel = relation_open(relid, AccessShareLock);
	for (int i = 0; i < n; i++)
	{
		EnrichModel *m = &ms[i];

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("model names must not be NULL"),
					 errhint("Remove the NULL from the models array.")));
		names[i] = m->name = TextDatumGetCString(elems[i]);
		for (int k = 0; k < i; k++)
			if (strcmp(names[k], m->name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("model \"%s\" is named more than once", m->name),
						 errhint("Name each model once.")));
		m->model = RegistryLoad(m->name, 0, &m->version, CurrentMemoryContext);
		/* the table must have every feature the model reads */
		FeatureReaderInit(&r, CurrentMemoryContext);
		FeatureReaderBindDesc(&r, m->model->spec, RelationGetDescr(rel), false, false);
		if (ModelOutput(m->model) == OUTPUT_ITEMS)
		{
			m->key = OutputKeyColumn(m->model, m->name, RelationGetDescr(rel), o);
			m->top = o->top;
		}
	}
	relation_close(rel, AccessShareLock);
	OutputCheckColumnsOption(o->columns, names, n);
	for (int i = 0; i < n; i++)
	{
		ms[i].nout = OutputColumns(ms[i].model, ms[i].name, o, ms[i].out);
		for (int k = 0; k < ms[i].nout; k++)
			OutputCheckColumnName(ms[i].name, &ms[i].out[k]);
	}
	CheckDistinctColumns(ms, n);
	*nmodels = n;
	return ms;
}

/* Add the missing output columns and label them all with their model and version */
static void
PrepareColumns(Oid relid, const char *qualname, EnrichModel *ms, int n)
{
	for (int i = 0; i < n; i++)
	{
		ms[i].fresh = true;
		for (int k = 0; k < ms[i].nout; k++)
		{
			const OutputDef *d = OutputDefOf(ms[i].out[k].what);

			ms[i].fresh &= EnsureColumn(relid, qualname, ms[i].out[k].column, d->type, d->typname);
		}
	}
	for (int i = 0; i < n; i++)
		for (int k = 0; k < ms[i].nout; k++)
			CommentColumn(relid, qualname, ms[i].out[k].column, &ms[i],
						  OutputDefOf(ms[i].out[k].what)->label);
}

/*
 * The row of the target as the columns forms of the class outputs take it:
 * a names array and pe_t's columns of the types a model can read, as the
 * planner passes them for a whole-row reference.
 */
static char *
ColumnArgs(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData names,
				cols;

	initStringInfo(&names);
	initStringInfo(&cols);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || FeatureConvForType(att->atttypid) == CONV_NONE)
			continue;
		appendStringInfoString(&names, names.len ? ", " : "");
		appendStringInfoString(&names, quote_literal_cstr(NameStr(att->attname)));
		appendStringInfo(&cols, ", pe_t.%s", quote_identifier(NameStr(att->attname)));
	}
	relation_close(rel, AccessShareLock);
	return psprintf("ARRAY[%s]::pg_catalog.text[]%s", names.data, cols.data);
}

/*
 * The expression that is true for a row pe_t holding a category some model
 * did not see (unseen_columns_for), NULL when no model can meet one
 */
static char *
UnseenExpr(const EnrichModel *ms, int n, const char *colargs)
{
	StringInfoData e;

	initStringInfo(&e);
	for (int i = 0; i < n; i++)
		if (FeatureCanBeUnseen(ms[i].model->spec))
			appendStringInfo(&e, "%sprofenrich.unseen_columns_for(%s, %d, %s)", e.len ? " OR " : "",
							 quote_literal_cstr(ms[i].name), ms[i].version, colargs);
	return e.len ? e.data : NULL;
}

/*
 * The SET list of a run's outputs (every model's) for pe_t, and the
 * condition that some output would change.  pinned: the models' params
 * travel in the statement (a Citus table's shards, on nodes without a
 * registry).
 */
static void
OutputSets(const EnrichModel *ms, int n, int factors, const char *colargs, bool pinned,
		   StringInfo set, StringInfo changed)
{
	for (int i = 0; i < n; i++)
		for (int k = 0; k < ms[i].nout; k++)
		{
			OutputWhat	what = ms[i].out[k].what;
			char	   *expr = pinned ?
				OutputExprPinned(what, ms[i].params_lit, ms[i].version, factors, colargs) :
				OutputIsItems(what) ?
				OutputItemsExpr(what, ms[i].name, ms[i].version, ms[i].key, ms[i].top) :
				OutputExpr(what, ms[i].name, ms[i].version, factors, colargs);
			char	   *col = (char *) quote_identifier(ms[i].out[k].column);

			appendStringInfo(set, "%s%s = %s", set->len ? ", " : "", col, expr);
			appendStringInfo(changed, "%sprofenrich.changed(pe_t.%s, %s)",
							 changed->len ? " OR " : "", col, expr);
		}
}

/*
 * The UPDATE of one batch of one table, its first and end block the tid
 * parameters $1 and $2: every output column set from its expression, and
 * only the rows where some output would change.  When every column was
 * just added (fill: all NULL), every row changes, and the check, which
 * would compute each value twice, is left out; the updated rows are then
 * the rows scanned, and when unseen is given (UnseenExpr) a CTE counts
 * them and those with unseen categories in one row (count, unseen).
 */
static char *
BatchSql(const EnrichMember *m, EnrichModel *ms, int n, int factors, bool fill, const char *unseen)
{
	StringInfoData set,
				changed;
	char	   *update;

	initStringInfo(&set);
	initStringInfo(&changed);
	OutputSets(ms, n, factors, m->colargs, false, &set, &changed);
	/*
	 * When filling, a row version this run moved into a later block of the
	 * range is recognized by its first output, no longer NULL, and not
	 * written again.  ONLY: the children of a parent are batches of their
	 * own.
	 */
	update = psprintf("UPDATE ONLY %s AS pe_t SET %s WHERE pe_t.ctid OPERATOR(pg_catalog.>=) $1 "
					  "AND pe_t.ctid OPERATOR(pg_catalog.<) $2 AND (%s)",
					  m->qualname, set.data,
					  fill ? psprintf("pe_t.%s IS NULL", quote_identifier(ms[0].out[0].column)) :
					  changed.data);
	if (!fill || unseen == NULL)
		return update;
	return psprintf("WITH pe_u AS (%s RETURNING (%s) AS pe_unseen) "
					"SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE pe_u.pe_unseen) "
					"FROM pe_u", update, unseen);
}

/*
 * The rows of one batch of one table (tid parameters $1 and $2) and, when
 * unseen is given, how many of them hold unseen categories
 */
static char *
CountSql(const EnrichMember *m, const char *unseen)
{
	return psprintf("SELECT pg_catalog.count(*), %s FROM ONLY %s AS pe_t "
					"WHERE pe_t.ctid OPERATOR(pg_catalog.>=) $1 AND pe_t.ctid OPERATOR(pg_catalog.<) $2",
					unseen ? psprintf("pg_catalog.count(*) FILTER (WHERE %s)", unseen) : "0::pg_catalog.int8",
					m->qualname);
}

/*
 * changed(old anyelement, new anyelement) returns boolean: whether an
 * output would change, as IS DISTINCT FROM says, by the type's default
 * equality from the type cache.  The batch UPDATE compares through it
 * rather than an operator named in SQL, which the caller's search_path
 * could resolve to another function.
 */
Datum
changed(PG_FUNCTION_ARGS)
{
	FmgrInfo   *eq = (FmgrInfo *) fcinfo->flinfo->fn_extra;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(PG_ARGISNULL(0) != PG_ARGISNULL(1));
	if (eq == NULL)
	{
		Oid			type = get_fn_expr_argtype(fcinfo->flinfo, 0);
		TypeCacheEntry *tce = lookup_type_cache(type, TYPECACHE_EQ_OPR_FINFO);

		if (!OidIsValid(tce->eq_opr_finfo.fn_oid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("type %s has no equality", format_type_be(type)),
					 errhint("Compare values of a type with a default equality operator.")));
		eq = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_copy(eq, &tce->eq_opr_finfo, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = eq;
	}
	PG_RETURN_BOOL(!DatumGetBool(FunctionCall2Coll(eq, PG_GET_COLLATION(), PG_GETARG_DATUM(0),
												   PG_GETARG_DATUM(1))));
}

/* The models and versions of a run, as JSON */
static char *
ModelsJson(EnrichModel *ms, int n)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&out, ", ");
		escape_json(&out, ms[i].name);
		appendStringInfo(&out, ": %d", ms[i].version);
	}
	appendStringInfoChar(&out, '}');
	return out.data;
}

/* Run a statement with parameters, erroring on failure */
static void
Exec(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "statement failed (%s): %s", SPI_result_code_string(rc), sql);
}

/*
 * Write the run log, as its owner: no role has a grant on it, so that
 * runs are recorded only as they happened.
 */
static void
LogExec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected)
{
	Oid			runs = PrivilegeExtensionRelation("enrich_runs");
	int			rc;

	if (!OidIsValid(runs))
		elog(ERROR, "profenrich.enrich_runs is missing");
	rc = PrivilegeExecAsOwner(runs, sql, nargs, types, values, nulls);
	if (rc != expected)
		elog(ERROR, "could not log the enrich run (%s): %s", SPI_result_code_string(rc), sql);
}

/*
 * A NOTICE at a human rate: rows done, total ("about" when it is the
 * planner's estimate, not a count), rows per second, time left
 */
static void
Progress(const char *qualname, int64 done, double total, bool exact, TimestampTz start,
		 TimestampTz *last, bool force)
{
	TimestampTz now = GetCurrentTimestamp();
	double		secs = (now - start) / 1e6;
	double		rate = secs > 0 ? done / secs : 0;

	if (!force && !TimestampDifferenceExceeds(*last, now, PROGRESS_MS))
		return;
	*last = now;
	ereport(NOTICE,
			(errmsg("profenrich: enriched %lld of %s%.0f rows of %s, %.0f rows/s, %.0f s left",
					(long long) done, exact && total >= done ? "" : "about ",
					Max(total, (double) done), qualname, rate,
					rate > 0 && total > done ? (total - done) / rate : 0.0)));
}

/*
 * A table's enrich lock: a session-level advisory lock (the one
 * pg_try_advisory_lock(1346715221, table oid) takes), held across the
 * run's commits and taken or released through the lock manager, which
 * also works while an error is being cleaned up.
 */
static void
EnrichLockTag(LOCKTAG *tag, Oid relid)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) ENRICH_LOCK_CLASS, (uint32) relid, 2);
}

/* Take a table's enrich lock, or fail at once */
static void
LockTable(Oid relid, const char *qualname)
{
	LOCKTAG		tag;

	EnrichLockTag(&tag, relid);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("another enrich run is in progress on %s", qualname),
				 errhint("Wait for it to finish (see profenrich.enrich_status), then run again.")));
}

static void
UnlockTable(Oid relid)
{
	LOCKTAG		tag;

	EnrichLockTag(&tag, relid);
	LockRelease(&tag, ExclusiveLock, true);
}



/* The run's state across batches and transactions */
typedef struct EnrichRun
{
	Oid			relid;
	char	   *qualname;
	bool		target_locked;
	int			nmembers;
	EnrichMember *members;
	EnrichModel *ms;
	int			nmodels;
	int			factors;
	int64		run;
	double		total;
	bool		total_exact;	/* total counted, not the planner's estimate */
	int64		scanned;
	int64		updated;
	bool		nonatomic;
	bool		fill;			/* every row of a batch is written: no count needed */
	OnErrorPolicy on_error;
	bool		count_unseen;	/* some model can meet a category it did not see */
	int64		unseen;			/* rows with such a category */
	int64		failed;			/* rows whose scoring failed (on_error null): outputs NULL */
	char	   *failure;		/* the first failure's error */
	char	   *failure_key;	/* and its row */
	MemoryContext cxt;			/* lives as long as the run, across its commits */
	bool		citus;			/* some table of the run is a Citus table */
	const EnrichOptions *opts;	/* for PreparedWork */
} EnrichRun;

/* Does the run log have 0.5.0's failure and unseen counts (after ALTER EXTENSION UPDATE)? */
static bool
RunLogCounts(void)
{
	return get_attnum(PrivilegeExtensionRelation("enrich_runs"), "rows_failed") != InvalidAttrNumber;
}

/* Record a run's progress or end in profenrich.enrich_runs */
static void
LogRun(const EnrichRun *run, const char *status, const char *error)
{
	Oid			types[10] = {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, BOOLOID, INT8OID,
	INT8OID, TEXTOID, TEXTOID};
	Datum		values[10] = {Int64GetDatum(run->run), Int64GetDatum(run->scanned),
		Int64GetDatum(run->updated), CStringGetTextDatum(status),
		error ? CStringGetTextDatum(error) : (Datum) 0,
		BoolGetDatum(strcmp(status, "running") != 0), Int64GetDatum(run->failed),
		Int64GetDatum(run->unseen),
		run->failure ? CStringGetTextDatum(run->failure) : (Datum) 0,
	run->failure_key ? CStringGetTextDatum(run->failure_key) : (Datum) 0};
	char		nulls[10] = {' ', ' ', ' ', ' ', error ? ' ' : 'n', ' ', ' ', ' ',
		run->failure ? ' ' : 'n', run->failure_key ? ' ' : 'n'};

	if (RunLogCounts())
		LogExec("UPDATE profenrich.enrich_runs SET rows_scanned = $2, rows_updated = $3, status = $4, "
				"error = $5, finished = CASE WHEN $6 THEN pg_catalog.clock_timestamp() END, "
				"rows_failed = $7, rows_unseen = $8, first_failure = $9, first_failure_key = $10 "
				"WHERE run_id OPERATOR(pg_catalog.=) $1", 10, types, values, nulls, SPI_OK_UPDATE);
	else
		LogExec("UPDATE profenrich.enrich_runs SET rows_scanned = $2, rows_updated = $3, status = $4, "
				"error = $5, finished = CASE WHEN $6 THEN pg_catalog.clock_timestamp() END "
				"WHERE run_id OPERATOR(pg_catalog.=) $1", 6, types, values, nulls, SPI_OK_UPDATE);
}

/*
 * The tables a run writes: the target, or for a partitioned table or an
 * inheritance parent every table of its tree that has storage, each
 * written directly (UPDATE ONLY) in batches of its own blocks.  Each needs
 * the caller's UPDATE; a foreign table among them is refused.  Writing the
 * tables one by one would bypass the parent's row-level security, so a
 * caller it applies to is refused too.
 */
static void
ResolveMembers(EnrichRun *run)
{
	List	   *tree = find_all_inheritors(run->relid, AccessShareLock, NULL);
	ListCell   *lc;

	run->members = palloc0(sizeof(EnrichMember) * list_length(tree));
	foreach(lc, tree)
	{
		Oid			relid = lfirst_oid(lc);
		char		kind = get_rel_relkind(relid);
		char	   *qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														  get_rel_name(relid));

		if (kind == RELKIND_FOREIGN_TABLE)
			ForeignTarget(qualname, run->qualname);
		if (kind != RELKIND_RELATION)
			continue;			/* a partitioned table has no rows of its own */
		if (relid != run->relid && pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to enrich %s, a partition or child of %s",
							qualname, run->qualname),
					 errdetail("enrich writes each partition or child table directly."),
					 errhint("Ask the owner for UPDATE on the partitions and children of %s too.",
							 run->qualname)));
		run->members[run->nmembers].relid = relid;
		run->members[run->nmembers].citus = CitusTable(relid);
		run->citus |= run->members[run->nmembers].citus;
		run->members[run->nmembers++].qualname = qualname;
	}
	if (list_length(tree) > 1 && check_enable_rls(run->relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("row-level security of %s would not apply to the partitions or children enrich writes",
						run->qualname),
				 errdetail("enrich writes each table of a partitioned or inheritance tree directly."),
				 errhint("Enrich as the owner of %s (or a role that bypasses row-level security), or enrich the partitions one by one.",
						 run->qualname)));
}

/* Take the enrich lock of every table the run writes besides the target */
static void
LockMembers(EnrichRun *run)
{
	for (int i = 0; i < run->nmembers; i++)
	{
		EnrichMember *m = &run->members[i];

		if (m->relid == run->relid)
			continue;
		LockTable(m->relid, m->qualname);
		m->locked = true;
	}
}

/* Release every enrich lock the run holds */
static void
UnlockMembers(EnrichRun *run)
{
	for (int i = 0; i < run->nmembers; i++)
		if (run->members[i].locked)
		{
			UnlockTable(run->members[i].relid);
			run->members[i].locked = false;
		}
	if (run->target_locked)
		UnlockTable(run->relid);
	run->target_locked = false;
}

/*
 * Is the run log that of 0.5.0?  Before ALTER EXTENSION UPDATE has run,
 * the library may meet an older one, without target_oid or the status
 * 'interrupted'.
 */
static bool
RunLogCurrent(void)
{
	return get_attnum(PrivilegeExtensionRelation("enrich_runs"), "target_oid") != InvalidAttrNumber;
}

/*
 * Mark the table's runs whose session ended before they finished (a
 * SIGKILL, a crash, pg_terminate_backend) as interrupted: the run holds
 * the table's lock, so no other run of it is alive.  Runs logged by 0.4.0
 * have no target_oid and are found by name.
 */
static void
MarkInterrupted(const EnrichRun *run)
{
	Oid			types[2] = {OIDOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(run->relid), CStringGetTextDatum(run->qualname)};

	if (!RunLogCurrent())
		return;
	LogExec("UPDATE profenrich.enrich_runs SET status = 'interrupted', "
			"error = 'the session running it ended before the run finished' "
			"WHERE status OPERATOR(pg_catalog.=) 'running' AND (target_oid OPERATOR(pg_catalog.=) $1 "
			"OR (target_oid IS NULL AND target OPERATOR(pg_catalog.=) $2))",
			2, types, values, NULL, SPI_OK_UPDATE);
}

/* Start a run's log entry and return its id */
static int64
StartRun(const EnrichRun *run, EnrichModel *ms, int n)
{
	Oid			types[4] = {TEXTOID, JSONBOID, TEXTOID, OIDOID};
	Datum		values[4] = {CStringGetTextDatum(run->qualname),
		DirectFunctionCall1(jsonb_in, CStringGetDatum(ModelsJson(ms, n))),
		CStringGetTextDatum(PrivilegeUserName()), ObjectIdGetDatum(run->relid)};
	bool		isnull;
	bool		current = RunLogCurrent();

	LogExec(current ? "INSERT INTO profenrich.enrich_runs (target, models, run_by, target_oid) "
			"VALUES ($1, $2, $3, $4) RETURNING run_id" :
			"INSERT INTO profenrich.enrich_runs (target, models, run_by) "
			"VALUES ($1, $2, $3) RETURNING run_id", current ? 4 : 3, types, values, NULL,
			SPI_OK_INSERT_RETURNING);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* The tid of the first line of a block, as a datum */
static Datum
BlockTid(BlockNumber block)
{
	ItemPointer tid = palloc(sizeof(ItemPointerData));

	ItemPointerSet(tid, block, 0);
	return PointerGetDatum(tid);
}

/* Column col of the first result row as an int8 */
static int64
ResultInt8(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* One batch of one table: its rows counted and the changed ones updated */
static void
RunBatch(EnrichRun *run, const EnrichMember *m, BlockNumber first, BlockNumber end)
{
	Oid			types[2] = {TIDOID, TIDOID};
	Datum		values[2] = {BlockTid(first), BlockTid(end)};

	if (!run->fill)
	{
		Exec(m->count_sql, 2, types, values, SPI_OK_SELECT);
		run->scanned += ResultInt8(1);
		run->unseen += ResultInt8(2);
	}
	if (run->fill && run->count_unseen)
	{
		Exec(m->batch_sql, 2, types, values, SPI_OK_SELECT);
		run->updated += ResultInt8(1);
		run->scanned += ResultInt8(1);
		run->unseen += ResultInt8(2);
		return;
	}
	Exec(m->batch_sql, 2, types, values, SPI_OK_UPDATE);
	run->updated += SPI_processed;
	if (run->fill)
		run->scanned += SPI_processed;
}

/* Does a row's data cause this error (class 22), which on_error "null" survives? */
static bool
RowDataError(const ErrorData *err)
{
	return ERRCODE_TO_CATEGORY(err->sqlerrcode) == ERRCODE_DATA_EXCEPTION;
}

typedef void (*EnrichStep) (EnrichRun *run, const EnrichMember *m, void *arg);

/*
 * Run step in a subtransaction: NULL when it succeeded, its error (rolled
 * back) when a row's data caused it; any other error is raised again.
 */
static ErrorData *
TryStep(EnrichRun *run, const EnrichMember *m, EnrichStep step, void *arg)
{
	MemoryContext mcxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile err = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(mcxt);
	PG_TRY();
	{
		step(run, m, arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(mcxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(mcxt);
		err = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(mcxt);
		CurrentResourceOwner = owner;
		if (!RowDataError(err))
			ReThrowError(err);
	}
	PG_END_TRY();
	return err;
}

/* A block range, a step's argument */
typedef struct BlockRange
{
	BlockNumber first;
	BlockNumber end;
} BlockRange;

static void
BatchStep(EnrichRun *run, const EnrichMember *m, void *arg)
{
	RunBatch(run, m, ((BlockRange *) arg)->first, ((BlockRange *) arg)->end);
}

/* The output columns of every model, in run order, with their count */
static int
RunOutputs(const EnrichRun *run, OutputColumn *outs, int *model_of)
{
	int			n = 0;

	for (int i = 0; i < run->nmodels; i++)
		for (int k = 0; k < run->ms[i].nout; k++)
		{
			model_of[n] = i;
			outs[n++] = run->ms[i].out[k];
		}
	return n;
}

/* How a message names a row of a member: by its key, else by its ctid */
static char *
RowName(const EnrichMember *m, Datum tid)
{
	Oid			types[1] = {TIDOID};
	Datum		values[1] = {tid};

	if (m->key_expr)
	{
		Exec(psprintf("SELECT (%s)::pg_catalog.text FROM ONLY %s AS pe_t "
					  "WHERE pe_t.ctid OPERATOR(pg_catalog.=) $1", m->key_expr, m->qualname),
			 1, types, values, SPI_OK_SELECT);
		if (SPI_processed == 1)
			return psprintf("%s = %s", m->key_name,
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	}
	return psprintf("ctid %s of %s", DatumGetCString(DirectFunctionCall1(tidout, tid)), m->qualname);
}

/* One model's outputs for one row, a step's argument and result */
typedef struct RowOutputs
{
	Datum		tid;
	int			model;
	MemoryContext cxt;			/* where the values are copied */
	Datum	   *values;			/* the model's outputs, in its order */
	bool	   *nulls;
} RowOutputs;

/* Compute one model's outputs for a row (a SELECT of their expressions), copied out */
static void
RowOutputsStep(EnrichRun *run, const EnrichMember *m, void *arg)
{
	RowOutputs *r = (RowOutputs *) arg;
	const EnrichModel *em = &run->ms[r->model];
	StringInfoData sql;
	Oid			types[1] = {TIDOID};
	Datum		values[1] = {r->tid};

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int k = 0; k < em->nout; k++)
		appendStringInfo(&sql, "%s%s", k ? ", " : "",
						 OutputExpr(em->out[k].what, em->name, em->version, run->factors, m->colargs));
	appendStringInfo(&sql, " FROM ONLY %s AS pe_t WHERE pe_t.ctid OPERATOR(pg_catalog.=) $1",
					 m->qualname);
	Exec(sql.data, 1, types, values, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return;
	for (int k = 0; k < em->nout; k++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, k + 1, &r->nulls[k]);
		int16		len;
		bool		byval;

		MemoryContext old;

		get_typlenbyval(OutputDefOf(em->out[k].what)->type, &len, &byval);
		old = MemoryContextSwitchTo(r->cxt);
		r->values[k] = r->nulls[k] ? (Datum) 0 : datumCopy(d, byval, len);
		MemoryContextSwitchTo(old);
	}
}

/*
 * Write one row whose batch failed: each model's outputs computed on their
 * own (a model whose scoring fails gets NULL, the row counted in
 * rows_failed, the first failure kept with the row's key), then one UPDATE
 * of the row with the values, where they change.
 */
static void
RunRow(EnrichRun *run, const EnrichMember *m, Datum tid, MemoryContext cxt)
{
	OutputColumn outs[MAX_OUTPUTS * 8];
	int			model_of[MAX_OUTPUTS * 8];
	int			nout = run->nmodels * MAX_OUTPUTS <= MAX_OUTPUTS * 8 ?
		RunOutputs(run, outs, model_of) : 0;
	Datum	   *values = palloc(sizeof(Datum) * (nout + 1));
	char	   *nulls = palloc(nout + 1);
	Oid		   *types = palloc(sizeof(Oid) * (nout + 1));
	StringInfoData set,
				changed;
	bool		failed = false;
	int			at = 0;

	if (nout == 0)
		elog(ERROR, "too many outputs to write a row on its own");
	values[0] = tid;
	nulls[0] = ' ';
	types[0] = TIDOID;
	initStringInfo(&set);
	initStringInfo(&changed);
	for (int i = 0; i < run->nmodels; i++)
	{
		RowOutputs r;
		ErrorData  *err;

		r.tid = tid;
		r.model = i;
		r.cxt = cxt;
		r.values = palloc(sizeof(Datum) * run->ms[i].nout);
		r.nulls = palloc(sizeof(bool) * run->ms[i].nout);
		memset(r.nulls, true, sizeof(bool) * run->ms[i].nout);
		err = TryStep(run, m, RowOutputsStep, &r);
		if (err != NULL)
		{
			failed = true;
			memset(r.nulls, true, sizeof(bool) * run->ms[i].nout);
			if (run->failure == NULL)
			{
				run->failure = MemoryContextStrdup(run->cxt, err->message);
				run->failure_key = MemoryContextStrdup(run->cxt, RowName(m, tid));
			}
		}
		for (int k = 0; k < run->ms[i].nout; k++, at++)
		{
			const char *col = quote_identifier(outs[at].column);

			values[at + 1] = r.values[k];
			nulls[at + 1] = r.nulls[k] ? 'n' : ' ';
			types[at + 1] = OutputDefOf(outs[at].what)->type;
			appendStringInfo(&set, "%s%s = $%d", set.len ? ", " : "", col, at + 2);
			appendStringInfo(&changed, "%sprofenrich.changed(pe_t.%s, $%d)", changed.len ? " OR " : "",
							 col, at + 2);
		}
	}
	run->scanned++;
	run->failed += failed ? 1 : 0;
	if (run->count_unseen)
	{
		Exec(psprintf("SELECT %s FROM ONLY %s AS pe_t WHERE pe_t.ctid OPERATOR(pg_catalog.=) $1",
					  UnseenExpr(run->ms, run->nmodels, m->colargs), m->qualname),
			 1, types, values, SPI_OK_SELECT);
		if (SPI_processed == 1 && strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0)
			run->unseen++;
	}
	if (SPI_execute_with_args(psprintf("UPDATE ONLY %s AS pe_t SET %s WHERE pe_t.ctid OPERATOR(pg_catalog.=) $1 AND (%s)",
									   m->qualname, set.data, changed.data),
							  nout + 1, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not write a row of %s", m->qualname);
	run->updated += SPI_processed;
}

/*
 * The rows of one block whose batch failed, one by one (RunRow); in a
 * filling run, only those not written yet
 */
static void
RunBlockRows(EnrichRun *run, const EnrichMember *m, BlockNumber block)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "profenrich rows",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Oid			types[2] = {TIDOID, TIDOID};
	Datum		values[2] = {BlockTid(block), BlockTid(block + 1)};
	ItemPointerData *tids;
	int64		n;

	Exec(psprintf("SELECT pe_t.ctid FROM ONLY %s AS pe_t WHERE pe_t.ctid OPERATOR(pg_catalog.>=) $1 "
				  "AND pe_t.ctid OPERATOR(pg_catalog.<) $2%s", m->qualname,
				  run->fill ? psprintf(" AND pe_t.%s IS NULL", quote_identifier(run->ms[0].out[0].column)) : ""),
		 2, types, values, SPI_OK_SELECT);
	n = (int64) SPI_processed;
	tids = palloc(sizeof(ItemPointerData) * Max(n, 1));
	for (int64 i = 0; i < n; i++)
	{
		bool		isnull;

		tids[i] = *(ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
													 &isnull));
	}
	for (int64 i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		RunRow(run, m, PointerGetDatum(&tids[i]), cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * A batch under on_error "null": in a subtransaction; when a row's data
 * makes it fail, rolled back and run again in halves, down to one block,
 * whose rows are then written one by one, a row whose scoring fails with
 * NULL outputs.  Costs nothing more when no row fails; with one bad row,
 * about log2(blocks per batch) batches of shrinking size and one block of
 * single rows.
 */
static void
RunRange(EnrichRun *run, const EnrichMember *m, BlockNumber first, BlockNumber end)
{
	int64		scanned = run->scanned,
				updated = run->updated,
				unseen = run->unseen;
	BlockRange	range = {first, end};

	if (TryStep(run, m, BatchStep, &range) == NULL)
		return;
	run->scanned = scanned;
	run->updated = updated;
	run->unseen = unseen;
	if (end - first > 1)
	{
		BlockNumber mid = first + (end - first) / 2;

		RunRange(run, m, first, mid);
		RunRange(run, m, mid, end);
	}
	else
		RunBlockRows(run, m, first);
}

/* One batch under the run's on_error policy */
static void
RunBatchPolicy(EnrichRun *run, const EnrichMember *m, BlockNumber first, BlockNumber end)
{
	if (run->on_error == ON_ERROR_STOP)
		RunBatch(run, m, first, end);
	else
		RunRange(run, m, first, end);
}

/* Add a shard batch's counts ("rows updated", as its statement returns them) to the run */
static void
CitusRoundCounts(EnrichRun *run, const char *result)
{
	long long	scanned,
				updated;

	if (sscanf(result, "%lld %lld", &scanned, &updated) != 2)
		elog(ERROR, "unexpected result of a shard's batch: \"%s\"", result);
	/* filling, a batch's range may also hold the new versions of rows an earlier one wrote */
	run->scanned += run->fill ? updated : scanned;
	run->updated += updated;
}

/* One unit of a run's work: a batch of a local table, or a round of a Citus table's shards */
typedef void (*EnrichWork) (EnrichRun *run, EnrichMember *m, BlockNumber first, BlockNumber end);

/*
 * Run one unit of work outside a transaction block: in a subtransaction,
 * committed with its progress; an error rolls the unit back, logs the run
 * as failed (committed), and is raised again.
 */
static void
RunCommitted(EnrichRun *run, EnrichWork work, EnrichMember *m, BlockNumber first, BlockNumber end)
{
	MemoryContext mcxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	/*
	 * A cancel is serviced only inside the batch's subtransaction
	 * (interrupts are held across the logging and the commit), so that it
	 * is always logged and the lock always released.
	 */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(mcxt);
	PG_TRY();
	{
		CHECK_FOR_INTERRUPTS();
		work(run, m, first, end);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(mcxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *err;

		MemoryContextSwitchTo(mcxt);
		err = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(mcxt);
		CurrentResourceOwner = owner;
		HOLD_INTERRUPTS();
		LogRun(run, "failed", err->message);
		SPI_commit();
		RESUME_INTERRUPTS();
		ReThrowError(err);
	}
	PG_END_TRY();
	HOLD_INTERRUPTS();
	LogRun(run, "running", NULL);
	SPI_commit();
	RESUME_INTERRUPTS();
}

/* One batch of a local table under the run's on_error policy (EnrichWork) */
static void
LocalBatch(EnrichRun *run, EnrichMember *m, BlockNumber first, BlockNumber end)
{
	RunBatchPolicy(run, m, first, end);
}

/*
 * Round r of a Citus table's shards (EnrichWork, first = r): the r-th batch
 * of every shard that has one, each run on its node in parallel and
 * committed there as it finishes.  The statement counts the batch's rows
 * and updates the changed ones with the models' params in its text, and
 * returns both counts; a shard whose batch failed is an error once the
 * others are counted (their rows are written).
 */
static void
CitusRound(EnrichRun *run, EnrichMember *m, BlockNumber round, BlockNumber unused)
{
	char	  **commands = palloc(sizeof(char *) * Max(m->nshards, 1));
	char	  **results = palloc(sizeof(char *) * Max(m->nshards, 1));
	bool	   *ok = palloc(sizeof(bool) * Max(m->nshards, 1));
	CitusPlacement *p = palloc(sizeof(CitusPlacement) * Max(m->nshards, 1));
	int			n = 0;

	for (int i = 0; i < m->nshards; i++)
	{
		EnrichShard *sh = &m->shards[i];
		BlockNumber first = round * sh->step,
					end;
		const char *range = "ctid OPERATOR(pg_catalog.>=) '(%u,0)'::pg_catalog.tid "
			"AND %sctid OPERATOR(pg_catalog.<) '(%u,0)'::pg_catalog.tid";

		if (sh->step == 0 || first >= sh->nblocks)
			continue;
		end = Min(sh->nblocks, first + sh->step);
		p[n] = sh->place;
		commands[n++] = psprintf("WITH pe_n AS (SELECT pg_catalog.count(*) AS n FROM ONLY %s WHERE %s), "
								 "pe_u AS (UPDATE ONLY %s AS pe_t SET %s WHERE pe_t.%s AND (%s) RETURNING 1) "
								 "SELECT pg_catalog.concat_ws(' ', (SELECT n FROM pe_n), "
								 "(SELECT pg_catalog.count(*) FROM pe_u))",
								 sh->place.shard, psprintf(range, first, "", end),
								 sh->place.shard, m->set_sql, psprintf(range, first, "pe_t.", end),
								 m->where_sql);
	}
	if (n == 0)
		return;
	if (CitusRunOnPlacements(p, commands, n, results, ok) > 0)
		for (int i = 0; i < n; i++)
			if (!ok[i])
			{
				for (int k = 0; k < n; k++)
					if (ok[k])
						CitusRoundCounts(run, results[k]);
				CitusPlacementError(&p[i], results[i]);
			}
	for (int i = 0; i < n; i++)
		CitusRoundCounts(run, results[i]);
}

/* The rounds a Citus table's shards take: the most batches a shard has */
static BlockNumber
CitusRounds(const EnrichMember *m)
{
	BlockNumber rounds = 0;

	for (int i = 0; i < m->nshards; i++)
		if (m->shards[i].step > 0)
			rounds = Max(rounds, (m->shards[i].nblocks + m->shards[i].step - 1) / m->shards[i].step);
	return rounds;
}

static void ReportRows(const EnrichRun *run);

/* Run the batches of every table, committing each outside a transaction block */
static void
RunBatches(EnrichRun *run)
{
	TimestampTz start = GetCurrentTimestamp(),
				last = start;

	for (int i = 0; i < run->nmembers; i++)
	{
		EnrichMember *m = &run->members[i];
		BlockNumber units = m->citus ? CitusRounds(m) : m->nblocks;
		BlockNumber step = m->citus ? 1 : m->step;

		for (BlockNumber b = 0; b < units; b += step)
		{
			BlockNumber end = Min(units, b + step);

			if (!run->nonatomic)
			{
				CHECK_FOR_INTERRUPTS();
				RunBatchPolicy(run, m, b, end);
			}
			else
				RunCommitted(run, m->citus ? CitusRound : LocalBatch, m, b, end);
			HOLD_INTERRUPTS();
			Progress(run->qualname, run->scanned, run->total, run->total_exact, start, &last, false);
			RESUME_INTERRUPTS();
		}
	}
	Progress(run->qualname, run->scanned, run->total, run->total_exact, start, &last, true);
	ReportRows(run);
}

/* Say how many rows could not be scored (their outputs NULL) and had unseen categories */
static void
ReportRows(const EnrichRun *run)
{
	if (run->failed > 0)
		ereport(WARNING,
				(errmsg("profenrich: %lld of %lld rows of %s could not be scored and got NULL insights",
						(long long) run->failed, (long long) run->scanned, run->qualname),
				 errdetail("The first, %s: %s", run->failure_key, run->failure),
				 errhint("See rows_failed and first_failure in profenrich.enrich_runs; fix the rows and run enrich again, or pass \"on_error\": \"stop\" to stop at the first.")));
	if (run->unseen > 0)
		ereport(NOTICE,
				(errmsg("profenrich: %lld rows of %s hold categories the models did not see in training",
						(long long) run->unseen, run->qualname),
				 errhint("Each model scores them as its option \"unseen\" says (by default the training average); see rows_unseen in profenrich.enrich_runs.")));
}

/*
 * Rows and blocks of one table, and the blocks per batch for batch_size
 * rows; the rows are added to the run's total.
 */
static void
PlanBatches(EnrichRun *run, EnrichMember *m, int batch_size)
{
	Relation	rel = relation_open(m->relid, AccessShareLock);
	double		reltuples = rel->rd_rel->reltuples;

	m->nblocks = RelationGetNumberOfBlocks(rel);
	relation_close(rel, AccessShareLock);
	if (reltuples < 0 || m->nblocks == 0)
	{
		bool		isnull;

		Exec(psprintf("SELECT pg_catalog.count(*) FROM ONLY %s", m->qualname), 0, NULL, NULL,
			 SPI_OK_SELECT);
		reltuples = (double) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull));
	}
	else
		run->total_exact = false;	/* the statistics' estimate */
	run->total += reltuples;
	m->step = Max(1, (BlockNumber) (batch_size / Max(reltuples / Max(m->nblocks, 1), 1.0)));
}

/* The quoted, comma-separated literals of the columns a Citus table's shards must have */
static char *
NeededShardColumns(EnrichModel *ms, int n)
{
	StringInfoData out;

	initStringInfo(&out);
	for (int i = 0; i < n; i++)
	{
		for (int k = 0; k < ms[i].nout; k++)
			appendStringInfo(&out, "%s%s", out.len ? ", " : "", quote_literal_cstr(ms[i].out[k].column));
		for (int c = 0; c < ms[i].model->spec->ncolumns; c++)
			appendStringInfo(&out, ", %s", quote_literal_cstr(ms[i].model->spec->columns[c].name));
	}
	return out.data;
}

/*
 * The shards of a Citus table a run writes: their placements (one each: a
 * reference table or replicated shards would be written copy by copy, in
 * transactions of their own, and could part), each one's blocks, rows and
 * the columns it lacks, asked of its node; a shard without a column the
 * run reads or writes is refused before anything is written.
 */
static void
CitusPlan(EnrichRun *run, EnrichMember *m, EnrichModel *ms, int n, int batch_size)
{
	CitusPlacement *p;
	bool		replicated;
	char	   *cols = NeededShardColumns(ms, n);
	char	  **commands;
	char	  **results;

	m->nshards = CitusPlacements(m->relid, &p, &replicated);
	if (replicated)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s has more than one copy of a shard (a reference table, or a replication factor above 1)", m->qualname),
				 errdetail("enrich writes each shard by itself, and copies written one by one could part."),
				 errhint("Update the table with UPDATE ... SET col = profenrich.score('model', t): on Citus the scoring functions are pinned and Citus writes every copy.")));
	commands = palloc(sizeof(char *) * Max(m->nshards, 1));
	results = palloc(sizeof(char *) * Max(m->nshards, 1));
	for (int i = 0; i < m->nshards; i++)
	{
		char	   *rel = quote_literal_cstr(p[i].shard);

		commands[i] = psprintf("SELECT pg_catalog.concat_ws(' ', pg_catalog.pg_relation_size(%s::pg_catalog.regclass) "
							   "OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::pg_catalog.int8, "
							   "(SELECT CASE WHEN c.reltuples OPERATOR(pg_catalog.<) 0 THEN "
							   "(SELECT pg_catalog.count(*) FROM ONLY %s)::pg_catalog.float8 ELSE c.reltuples END "
							   "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass), "
							   "(SELECT pg_catalog.string_agg(x, ',') FROM pg_catalog.unnest(ARRAY[%s]::pg_catalog.text[]) x "
							   "WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid "
							   "OPERATOR(pg_catalog.=) %s::pg_catalog.regclass AND a.attname OPERATOR(pg_catalog.=) x "
							   "AND NOT a.attisdropped)))", rel, p[i].shard, rel, cols, rel);
	}
	CitusRunOnPlacementsOrError(p, commands, m->nshards, results);
	m->shards = palloc0(sizeof(EnrichShard) * Max(m->nshards, 1));
	for (int i = 0; i < m->nshards; i++)
	{
		long long	blocks;
		double		tuples;
		char		missing[1024] = "";

		if (sscanf(results[i], "%lld %lf %1023s", &blocks, &tuples, missing) < 2)
			elog(ERROR, "unexpected answer of shard %s: \"%s\"", p[i].shard, results[i]);
		if (missing[0] != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("shard %s of %s (on %s:%d) has no column %s", p[i].shard, m->qualname,
							p[i].node, p[i].port, missing),
					 errdetail("The columns of a Citus table were changed with DDL propagation off, or on one node only."),
					 errhint("Add the column on that node with the type the coordinator's table has, or recreate the shard, then run enrich again.")));
		m->shards[i].place = p[i];
		m->shards[i].nblocks = (BlockNumber) blocks;
		m->shards[i].step = Max(1, (BlockNumber) (batch_size / Max(tuples / Max(blocks, 1), 1.0)));
		run->total += tuples;
	}
}

static void MemberKey(EnrichMember *m);

/*
 * Prepare the run's statements: one batch UPDATE and a batch plan per
 * table.  Filling (no change check) needs every column just added, and
 * all NULL in every table: true of partitions, whose columns are the
 * parent's, but an inheritance child may have had the column already.
 */
static void
PrepareBatches(EnrichRun *run, EnrichModel *ms, int n, const EnrichOptions *opts)
{
	run->fill = run->nmembers == 1 || get_rel_relkind(run->relid) == RELKIND_PARTITIONED_TABLE;
	for (int i = 0; i < n; i++)
		run->fill &= ms[i].fresh;
	run->ms = ms;
	run->nmodels = n;
	run->factors = opts->factors;
	run->on_error = opts->on_error;
	run->total_exact = true;
	run->cxt = CurrentMemoryContext;
	for (int i = 0; i < run->nmembers; i++)
	{
		EnrichMember *m = &run->members[i];
		char	   *unseen;

		m->colargs = ColumnArgs(m->relid);
		if (m->citus)
		{
			StringInfoData set,
						changed;

			initStringInfo(&set);
			initStringInfo(&changed);
			OutputSets(ms, n, opts->factors, m->colargs, true, &set, &changed);
			m->set_sql = set.data;
			m->where_sql = run->fill ? psprintf("pe_t.%s IS NULL", quote_identifier(ms[0].out[0].column)) :
				changed.data;
			run->total_exact = false;
			CitusPlan(run, m, ms, n, opts->batch_size);
			continue;
		}
		unseen = UnseenExpr(ms, n, m->colargs);
		run->count_unseen = unseen != NULL;
		m->batch_sql = BatchSql(m, ms, n, opts->factors, run->fill, unseen);
		m->count_sql = CountSql(m, unseen);
		MemberKey(m);
		PlanBatches(run, m, opts->batch_size);
	}
}

/*
 * The column that names a member's rows in messages: its single-column
 * primary key (the ctid otherwise)
 */
static void
MemberKey(EnrichMember *m)
{
	Relation	rel = relation_open(m->relid, AccessShareLock);
	Oid			pk = RelationGetPrimaryKeyIndex(rel);

	m->key_expr = NULL;
	if (OidIsValid(pk))
	{
		Relation	idx = index_open(pk, AccessShareLock);

		if (idx->rd_index->indnkeyatts == 1 && idx->rd_index->indkey.values[0] > 0)
		{
			m->key_name = pstrdup(quote_identifier(get_attname(m->relid, idx->rd_index->indkey.values[0], false)));
			m->key_expr = psprintf("pe_t.%s", m->key_name);
		}
		index_close(idx, AccessShareLock);
	}
	relation_close(rel, AccessShareLock);
}

/*
 * The preparation of a run (EnrichWork, for RunCommitted): a run over a
 * Citus table is logged and committed before its shards are asked for
 * their sizes and columns, so a shard that refuses it logs the run failed.
 */
static void
PreparedWork(EnrichRun *run, EnrichMember *m, BlockNumber first, BlockNumber end)
{
	PrepareBatches(run, run->ms, run->nmodels, run->opts);
}

/*
 * A run over a Citus table: it must run outside a transaction block (each
 * shard's batch commits on its node as it finishes, whatever the caller's
 * transaction does), and the models' params travel in its statements.  A
 * row whose scoring fails stops it (on_error "stop": a shard's batch is one
 * statement on its node), and rows with unseen categories are not counted.
 */
static void
CitusModels(EnrichRun *run, EnrichModel *ms, int n, const EnrichOptions *opts)
{
	if (opts->on_error_set && opts->on_error == ON_ERROR_NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("enrich of a Citus table cannot write NULL for the rows whose scoring fails"),
				 errdetail("Each shard's batch runs on its node as one statement: a row that fails stops the run there."),
				 errhint("Leave out \"on_error\" (a Citus table's run stops at the first row that fails), or fix the rows first.")));
	if (!run->nonatomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("enrich of a Citus table cannot run inside a transaction block"),
				 errdetail("Each shard's batch commits on its node as it finishes: the run cannot be undone as a whole."),
				 errhint("CALL profenrich.enrich() on its own, outside BEGIN ... COMMIT; an interrupted run keeps its batches and runs again.")));
	for (int i = 0; i < n; i++)
	{
		int			version;
		bytea	   *params;
		Size		len;
		char	   *hex;

		if (ModelOutput(ms[i].model) == OUTPUT_ITEMS)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("enrich of a Citus table cannot write the outputs of item model \"%s\"",
							ms[i].name),
					 errdetail("An item model scores a user from its rows in profenrich.model_users, which the workers do not have."),
					 errhint("Enrich a local table with the item model, or join its top_items() on the coordinator.")));
		params = RegistryPinnedParams(ms[i].name, ms[i].version, &version);
		len = VARSIZE_ANY_EXHDR(params);
		hex = palloc(2 * len + 1);

		hex[hex_encode(VARDATA_ANY(params), len, hex)] = '\0';
		ms[i].params_lit = psprintf("E'\\\\x%s'::pg_catalog.bytea", hex);
	}
}

/*
 * Let the item models rank the users of every profile at once when that
 * pays (ItemsPrepareRankings), before the batches ask for them one by one.
 */
static void
PrepareRankings(const EnrichRun *run, const EnrichModel *ms, int n)
{
	PushActiveSnapshot(GetTransactionSnapshot());
	for (int i = 0; i < n; i++)
		if (ModelOutput(ms[i].model) == OUTPUT_ITEMS)
			ItemsPrepareRankings(ms[i].name, ms[i].version, ms[i].top, run->total);
	PopActiveSnapshot();
}

/*
 * CALL profenrich.enrich(target regclass, models text[], options jsonb)
 */
Datum
enrich(PG_FUNCTION_ARGS)
{
	EnrichRun	run;
	EnrichOptions opts;
	EnrichModel *ms;
	int			n;
	bool		nonatomic = fcinfo->context && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target and models must not be NULL"),
				 errhint("CALL profenrich.enrich('profiles', array['churn']).")));
	memset(&run, 0, sizeof(run));
	run.relid = PG_GETARG_OID(0);
	run.nonatomic = nonatomic;
	EnrichOptionsParse(PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2), &opts);
	CheckTarget(run.relid, &run.qualname);

	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
	/*
	 * The models deployed now: a CALL outside a transaction block may run
	 * under no snapshot, or the one its portal took when a procedure that
	 * calls enrich started.
	 */
	PushActiveSnapshot(GetTransactionSnapshot());
	ms = ResolveModels(run.relid, PG_GETARG_ARRAYTYPE_P(1), &opts, &n);
	PopActiveSnapshot();
	ResolveMembers(&run);
	if (run.citus)
		CitusModels(&run, ms, n, &opts);
	LockTable(run.relid, run.qualname);
	run.target_locked = true;
	/* whatever fails from here on, the session locks are released */
	PG_TRY();
	{
		LockMembers(&run);
		MarkInterrupted(&run);
		PrepareColumns(run.relid, run.qualname, ms, n);
		run.run = StartRun(&run, ms, n);
		/* the shards' nodes see the columns added only once they are committed */
		if (run.citus)
		{
			HOLD_INTERRUPTS();
			SPI_commit();
			RESUME_INTERRUPTS();
			run.ms = ms;
			run.nmodels = n;
			run.opts = &opts;
			RunCommitted(&run, PreparedWork, NULL, 0, 0);
		}
		else
		{
			PrepareBatches(&run, ms, n, &opts);
			if (nonatomic)
			{
				HOLD_INTERRUPTS();
				SPI_commit();
				RESUME_INTERRUPTS();
			}
		}
		PrepareRankings(&run, ms, n);
		RunBatches(&run);
		HOLD_INTERRUPTS();
		LogRun(&run, "finished", NULL);
		if (nonatomic)
			SPI_commit();
		RESUME_INTERRUPTS();
	}
	PG_CATCH();
	{
		UnlockMembers(&run);
		PG_RE_THROW();
	}
	PG_END_TRY();
	UnlockMembers(&run);
	SPI_finish();
	PG_RETURN_VOID();
}

/* What enrich_trigger caches for a statement: the model and the column positions */
typedef struct TriggerCache
{
	Model	   *model;
	FeatureReader reader;
	TupleTableSlot *slot;
	int			factors;
	int			ncols;
	int			cols[MAX_OUTPUTS];	/* attribute numbers of the outputs the table has */
	OutputWhat	what[MAX_OUTPUTS];
	OutputRow	row;			/* the current row's score or classification */
	OnErrorPolicy on_error;		/* "null": a row whose scoring fails gets NULL outputs */
	bool		warned;			/* a failure of this statement was reported */
	bool		append;			/* may the outputs be appended (TriggerAppend)? */
	int			first;			/* the lowest output attribute number */
	int			order[MAX_OUTPUTS]; /* outputs in attribute order */
} TriggerCache;

/*
 * The position of an output column, 0 when absent, erroring on a wrong
 * type, or when the output every row gets (required) is absent.
 */
static int
TriggerColumn(TupleDesc desc, const OutputColumn *out, bool required)
{
	const OutputDef *d = OutputDefOf(out->what);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped || strcmp(NameStr(a->attname), out->column) != 0)
			continue;
		if (a->atttypid != d->type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has type %s, not %s", out->column,
							format_type_be(a->atttypid), d->typname),
					 errhint("Give the column the type enrich() writes.")));
		return i + 1;
	}
	if (required)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table has no column \"%s\" for the %s", out->column, d->key),
				 errhint("Run CALL profenrich.enrich() once to add the columns, or add a %s column \"%s\".",
						 d->typname, out->column)));
	return 0;
}

/*
 * The outputs the table has, in attribute order too, and whether they may
 * be appended: only fixed-width ones can (TriggerAppend).  An optional
 * output whose default name is too long for an identifier (a model named
 * by 0.4.0) cannot be a column of the table; the required one is an error.
 */
static void
TriggerOutputs(TriggerCache *c, TupleDesc desc, const char *name, Jsonb *columns)
{
	OutputColumn out[MAX_OUTPUTS];
	EnrichOptions all;
	int			n;

	memset(&all, 0, sizeof(all));
	all.percentile = all.probabilities = all.factors_detail = all.distance = true;
	all.factors = 1;
	all.columns = columns;
	n = OutputColumns(c->model, name, &all, out);
	/* a model stored by 0.4.0 may have a name too long for its columns */
	OutputCheckColumnName(name, &out[0]);
	for (int i = 0; i < n; i++)
	{
		int			pos = strlen(out[i].column) >= NAMEDATALEN ? 0 :
			TriggerColumn(desc, &out[i], i == 0);

		if (pos == 0)
			continue;
		c->cols[c->ncols] = pos;
		c->what[c->ncols++] = out[i].what;
	}
	c->append = true;
	c->first = desc->natts + 1;
	for (int i = 0; i < c->ncols; i++)
	{
		c->append &= TupleDescAttr(desc, c->cols[i] - 1)->attbyval;
		c->first = Min(c->first, c->cols[i]);
		c->order[i] = i;
	}
	for (int i = 1; i < c->ncols; i++)	/* insertion sort of a few */
		for (int j = i; j > 0 && c->cols[c->order[j - 1]] > c->cols[c->order[j]]; j--)
		{
			int			t = c->order[j];

			c->order[j] = c->order[j - 1];
			c->order[j - 1] = t;
		}
}

/* Resolve the model and columns for this statement's trigger calls */
static TriggerCache *
TriggerCacheGet(FunctionCallInfo fcinfo, TriggerData *td)
{
	TriggerCache *c = (TriggerCache *) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	Trigger    *tg = td->tg_trigger;
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	EnrichOptions o;
	char	   *name;
	int			version;

	if (c != NULL)
		return c;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	c = palloc0(sizeof(TriggerCache));
	if (tg->tgnargs < 1 || tg->tgnargs > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("enrich_trigger takes a model name and optionally column options"),
				 errhint("EXECUTE FUNCTION profenrich.enrich_trigger('churn') or enrich_trigger('churn', '{\"factors\": 3}').")));
	name = tg->tgargs[0];
	EnrichOptionsParse(tg->tgnargs == 2 ?
					   DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(tg->tgargs[1]))) :
					   NULL, &o);
	OutputCheckColumnsOption(o.columns, &name, 1);
	c->model = RegistryLoad(name, 0, &version, fcinfo->flinfo->fn_mcxt);
	if (ModelOutput(c->model) == OUTPUT_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is an item model, which enrich_trigger does not score", name),
				 errhint("Its input is interactions, not the profile row: refresh it with CALL profenrich.enrich(), and in real time with profenrich.top_items_for() in a trigger on the interactions table.")));
	FeatureReaderInit(&c->reader, fcinfo->flinfo->fn_mcxt);
	FeatureReaderBindDesc(&c->reader, c->model->spec, desc, false, false);
	/* a copy: the cache outlives the statement, so it must not pin the relation's descriptor */
	c->slot = MakeSingleTupleTableSlot(CreateTupleDescCopy(desc), &TTSOpsHeapTuple);
	c->factors = o.factors > 0 ? o.factors : 3;
	c->on_error = o.on_error_set ? o.on_error : ON_ERROR_STOP;	/* the trigger stops by default */
	TriggerOutputs(c, desc, name, o.columns);
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = c;
	return c;
}

/*
 * The common real-time case without forming the tuple again: enrich() adds
 * its columns at the end of the table, and a new profile arrives with them
 * NULL.  When every attribute from the first output column on is NULL in the
 * tuple, the outputs' data goes after the tuple's last byte of data, so the
 * new tuple is the old data followed by the outputs, under a new header and
 * null bitmap.  Returns NULL when the case does not apply.
 */
static HeapTuple
TriggerAppend(TriggerCache *c, TupleDesc desc, HeapTuple tuple, const Datum *values,
			  const bool *nulls)
{
	HeapTupleHeader old = tuple->t_data;
	int			natts = desc->natts;
	bits8	   *oldbits = old->t_bits;
	bool		hasnull = false;
	Size		dlen,
				off,
				hoff,
				len;
	HeapTuple	result;
	HeapTupleHeader td;
	char	   *data;

	if (!c->append || HeapTupleHeaderGetNatts(old) != natts || !HeapTupleHasNulls(tuple))
		return NULL;
	for (int a = c->first - 1; a < natts; a++)
		if (!att_isnull(a, oldbits))
			return NULL;
	/* the outputs all NULL too: the tuple is already right */
	hasnull = true;
	for (int i = 0; i < c->ncols; i++)
		hasnull &= nulls[i];
	if (hasnull)
		return tuple;
	hasnull = false;
	for (int a = 0; a < natts && !hasnull; a++)
	{
		bool		isnull = a < c->first - 1 ? att_isnull(a, oldbits) : true;

		for (int i = 0; i < c->ncols && isnull; i++)
			if (c->cols[i] - 1 == a)
				isnull = nulls[i];
		hasnull |= isnull;
	}
	dlen = tuple->t_len - old->t_hoff;
	off = dlen;
	for (int k = 0; k < c->ncols; k++)
	{
		int			i = c->order[k];
		Form_pg_attribute att = TupleDescAttr(desc, c->cols[i] - 1);

		if (nulls[i])
			continue;
		off = att_align_nominal(off, att->attalign);
		off += att->attlen;
	}
	hoff = MAXALIGN(SizeofHeapTupleHeader + (hasnull ? BITMAPLEN(natts) : 0));
	len = hoff + off;
	result = (HeapTuple) palloc0(HEAPTUPLESIZE + len);
	td = (HeapTupleHeader) ((char *) result + HEAPTUPLESIZE);
	result->t_data = td;
	result->t_len = len;
	result->t_self = tuple->t_self;
	result->t_tableOid = tuple->t_tableOid;
	memcpy(td, old, SizeofHeapTupleHeader);
	HeapTupleHeaderSetDatumLength(td, len);
	td->t_hoff = hoff;
	td->t_infomask &= ~HEAP_HASNULL;
	data = (char *) td + hoff;
	memcpy(data, (char *) old + old->t_hoff, dlen);
	if (hasnull)
	{
		td->t_infomask |= HEAP_HASNULL;
		/* the old bits below the first output; palloc0 left the rest NULL */
		for (int a = 0; a < c->first - 1; a++)
			if (!att_isnull(a, oldbits))
				td->t_bits[a >> 3] |= 1 << (a & 7);
	}
	off = dlen;
	for (int k = 0; k < c->ncols; k++)
	{
		int			i = c->order[k];
		int			a = c->cols[i] - 1;
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (nulls[i])
			continue;
		if (hasnull)
			td->t_bits[a >> 3] |= 1 << (a & 7);
		off = att_align_nominal(off, att->attalign);
		store_att_byval(data + off, values[i], att->attlen);
		off += att->attlen;
	}
	return result;
}

/* The outputs of the current row */
static void
TriggerValues(TriggerCache *c, Datum *values, bool *nulls)
{
	OutputCompute(c->model, &c->reader, &c->row);
	for (int i = 0; i < c->ncols; i++)
		values[i] = OutputDatum(c->what[i], c->model, &c->reader, &c->row, c->factors, &nulls[i]);
}

/*
 * The outputs of the current row under "on_error": "null": computed in a
 * subtransaction, and all NULL when a row's data makes the scoring fail
 * (a WARNING for the first such row of the statement); other errors are
 * raised.  The subtransaction costs every row: it is the option's price.
 */
static void
TriggerValuesOrNull(TriggerCache *c, Datum *values, bool *nulls, const char *table)
{
	MemoryContext mcxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(mcxt);
	PG_TRY();
	{
		TriggerValues(c, values, nulls);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(mcxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *err;

		MemoryContextSwitchTo(mcxt);
		err = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(mcxt);
		CurrentResourceOwner = owner;
		if (!RowDataError(err))
			ReThrowError(err);
		for (int i = 0; i < c->ncols; i++)
			nulls[i] = true;
		if (!c->warned)
			ereport(WARNING,
					(errmsg("profenrich: a row of %s could not be scored and gets NULL insights: %s",
							table, err->message),
					 errhint("The trigger's option \"on_error\" is \"null\"; further failures of this statement are written as NULL without a warning.")));
		c->warned = true;
	}
	PG_END_TRY();
}

/*
 * profenrich.enrich_trigger(model [, options]): a BEFORE INSERT OR UPDATE
 * row trigger that scores NEW and writes the score, and the percentile and
 * factors columns when the table has them, as enrich() does.
 */
Datum
enrich_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TriggerCache *c;
	HeapTuple	tuple;
	Datum		values[MAX_OUTPUTS];
	bool		nulls[MAX_OUTPUTS];

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("enrich_trigger must be called as a trigger"),
				 errhint("CREATE TRIGGER ... BEFORE INSERT OR UPDATE ON profiles FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('churn').")));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("enrich_trigger must fire BEFORE INSERT OR UPDATE FOR EACH ROW"),
				 errhint("CREATE TRIGGER ... BEFORE INSERT OR UPDATE ON profiles FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('churn').")));
	c = TriggerCacheGet(fcinfo, td);
	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	/* deform once: the same values serve the model and the new tuple */
	ExecStoreHeapTuple(tuple, c->slot, false);
	slot_getallattrs(c->slot);
	FeatureReaderLoadSlot(&c->reader, c->slot);
	/* the outputs, computed once for either path */
	if (c->row.probs == NULL && ModelOutput(c->model) == OUTPUT_CLASS)
		c->row.probs = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
										  sizeof(double) * c->model->nclasses);
	if (c->on_error == ON_ERROR_STOP)
		TriggerValues(c, values, nulls);
	else
		TriggerValuesOrNull(c, values, nulls, RelationGetRelationName(td->tg_relation));
	if (c->append)
	{
		HeapTuple	result = TriggerAppend(c, RelationGetDescr(td->tg_relation), tuple,
										   values, nulls);

		if (result != NULL)
		{
			ExecClearTuple(c->slot);
			return PointerGetDatum(result);
		}
	}
	for (int i = 0; i < c->ncols; i++)
	{
		c->slot->tts_values[c->cols[i] - 1] = values[i];
		c->slot->tts_isnull[c->cols[i] - 1] = nulls[i];
	}
	tuple = heap_form_tuple(RelationGetDescr(td->tg_relation), c->slot->tts_values,
							c->slot->tts_isnull);
	ExecClearTuple(c->slot);
	return PointerGetDatum(tuple);
}
