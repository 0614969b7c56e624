/*-------------------------------------------------------------------------
 * replica.c
 *	  The Citus workers' copies of the deployed models, for enrich_trigger.
 *
 * Scoring and enrich carry their model in the statements they send to the
 * workers (pushdown.c, enrich.c), but a row trigger on a distributed table
 * fires on the worker that holds the row's shard, and loads its model by
 * name there.  So each worker's profenrich.models holds a copy of the
 * coordinator's deployed version of every model, one row per name.
 *
 * A row trigger on the coordinator's registry notes every name a
 * transaction changes (train, deploy, rollback, drop, or any write to the
 * table, pg_restore's included) and, at commit, just before the commit
 * itself (a pre-commit transaction callback: the registry is written as
 * its owner in a security-restricted context, where no deferred trigger
 * may be queued), sends each such name's deployed row to every worker,
 * which replaces its copy (worker_sync).  A failed copy fails the commit, so the
 * coordinator never deploys what a worker did not receive; sync_workers()
 * copies every model again (a new worker, a TRUNCATE of the registry).
 * Copies are written as the registry's owner, on the coordinator's
 * connections to the workers and there by worker_sync, which only the
 * owner (or a superuser) may call.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "citus.h"
#include "privileges.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(registry_sync_workers);
PG_FUNCTION_INFO_V1(worker_sync);
PG_FUNCTION_INFO_V1(sync_workers);

/* The names this transaction changed, to copy at its commit */
static List *PendingNames = NIL;
static bool SyncCallbackSet = false;

static void SyncNames(ArrayType *names);

/*
 * Copy the pending names to the workers just before the commit (an error
 * aborts the transaction instead), and forget them at its end.
 */
static void
SyncXactCallback(XactEvent event, void *arg)
{
	List	   *names = PendingNames;
	Datum	   *elems;
	int			n = 0;
	ListCell   *lc;

	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
	{
		PendingNames = NIL;		/* its memory was the transaction's */
		return;
	}
	if (names == NIL)
		return;
	PendingNames = NIL;
	elems = palloc(sizeof(Datum) * list_length(names));
	foreach(lc, names)
		elems[n++] = CStringGetTextDatum((const char *) lfirst(lc));
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	if (CitusHasWorkers())
		SyncNames(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	SPI_finish();
	PopActiveSnapshot();
}

/* Note a name to copy at commit */
static void
NotePending(const char *name)
{
	ListCell   *lc;
	MemoryContext old;

	if (!SyncCallbackSet)
	{
		RegisterXactCallback(SyncXactCallback, NULL);
		SyncCallbackSet = true;
	}
	foreach(lc, PendingNames)
		if (strcmp((const char *) lfirst(lc), name) == 0)
			return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	PendingNames = lappend(PendingNames, pstrdup(name));
	MemoryContextSwitchTo(old);
}

/* ARRAY['name', ...]::pg_catalog.text[] of a text[] */
static char *
NamesLiteral(ArrayType *names)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	StringInfoData out;

	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	initStringInfo(&out);
	appendStringInfoString(&out, "ARRAY[");
	for (int i = 0; i < n; i++)
		appendStringInfo(&out, "%s%s", i > 0 ? ", " : "",
						 quote_literal_cstr(TextDatumGetCString(elems[i])));
	appendStringInfoString(&out, "]::pg_catalog.text[]");
	return out.data;
}

/*
 * Send the deployed rows of the given names (NULL: of every name) to
 * every worker, which replaces its copies of those names with them.
 * Inside SPI; run as the registry's owner.
 */
static void
SyncNames(ArrayType *names)
{
	Oid			models = RegistryModelsRelation();
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1] = {PointerGetDatum(names)};
	char		nulls[1] = {names ? ' ' : 'n'};
	char	   *rows;
	char	   *command;

	if (PrivilegeExecAsOwner(models,
							 "SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(m)), '[]')::pg_catalog.text "
							 "FROM profenrich.models m WHERE m.deployed "
							 "AND ($1 IS NULL OR m.name OPERATOR(pg_catalog.=) ANY ($1))",
							 1, types, values, nulls) != SPI_OK_SELECT)
		elog(ERROR, "could not read the deployed models");
	rows = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	command = psprintf("SELECT profenrich.worker_sync(%s, %s::pg_catalog.jsonb)",
					   names ? NamesLiteral(names) : "NULL::pg_catalog.text[]",
					   quote_literal_cstr(rows));
	PrivilegeRunAsOwner(models, CitusRunOnWorkers, command);
}

/*
 * registry_sync_workers(): the row trigger of profenrich.models.  Each
 * name a transaction writes is copied to the Citus workers at its commit
 * (nothing without Citus, or on a worker).
 */
Datum
registry_sync_workers(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("registry_sync_workers must be called as a trigger"),
				 errhint("It is the registry's own trigger; there is no need to call it.")));
	if (!CitusInstalled())
		return PointerGetDatum(NULL);
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	NotePending(TextDatumGetCString(heap_getattr(tup, 2, RelationGetDescr(td->tg_relation),
												 &isnull)));
	return PointerGetDatum(NULL);
}

/*
 * sync_workers() returns integer: copy every deployed model to every Citus
 * worker again (after adding a node, after a TRUNCATE of the registry);
 * the number of models copied.
 */
Datum
sync_workers(PG_FUNCTION_ARGS)
{
	int64		n = 0;
	bool		isnull;

	PrivilegeRequire(RegistryModelsRelation(), ACL_UPDATE, "copy to the workers", "(every model)");
	if (!CitusInstalled())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Citus is not installed in this database"),
				 errhint("sync_workers copies the deployed models to the workers of a Citus coordinator.")));
	SPI_connect();
	if (!CitusHasWorkers())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node is not a Citus coordinator with workers"),
				 errhint("Run sync_workers on the coordinator, after citus_add_node().")));
	SyncNames(NULL);
	if (PrivilegeExecAsOwner(RegistryModelsRelation(),
							 "SELECT pg_catalog.count(*) FROM profenrich.models WHERE deployed",
							 0, NULL, NULL, NULL) == SPI_OK_SELECT)
		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT32((int32) n);
}

/*
 * worker_sync(names text[], rows jsonb) returns void: on a worker, replace
 * the copies of the given names (NULL: of every name) by the deployed
 * rows given (an array of registry rows as jsonb).  Only the registry's
 * owner or a superuser may: the coordinator sends it.
 */
Datum
worker_sync(PG_FUNCTION_ARGS)
{
	Oid			models = RegistryModelsRelation();
	Oid			types[2] = {TEXTARRAYOID, JSONBOID};
	Datum		values[2];
	char		nulls[2] = {PG_ARGISNULL(0) ? 'n' : ' ', ' '};

	if (!superuser() && !pg_class_ownercheck(models, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only profenrich writes the workers' copies of the models"),
				 errdetail("The coordinator sends worker_sync as the registry's owner when its registry changes."),
				 errhint("Call profenrich.sync_workers() on the coordinator.")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("worker_sync needs the rows to copy"),
				 errhint("Pass a jsonb array of registry rows, [] for none.")));
	values[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	SPI_connect();
	if (PrivilegeExecAsOwner(models, "DELETE FROM profenrich.models "
							 "WHERE $1 IS NULL OR name OPERATOR(pg_catalog.=) ANY ($1)",
							 2, types, values, nulls) != SPI_OK_DELETE ||
		PrivilegeExecAsOwner(models, "INSERT INTO profenrich.models SELECT r.* FROM "
							 "pg_catalog.jsonb_populate_recordset(NULL::profenrich.models, $2) r "
							 "WHERE r.deployed AND ($1 IS NULL OR r.name OPERATOR(pg_catalog.=) ANY ($1))",
							 2, types, values, nulls) != SPI_OK_INSERT)
		elog(ERROR, "could not write the copies of the models");
	SPI_finish();
	PG_RETURN_VOID();
}
