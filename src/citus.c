/*-------------------------------------------------------------------------
 * citus.c
 *	  Citus, seen from profenrich: whether it is installed, which relations
 *	  are Citus tables, where their shards are placed, and commands run on
 *	  those placements and on the workers.
 *
 * profenrich neither links Citus nor requires it: its catalog
 * (pg_dist_partition and friends, in pg_catalog) is read when it exists,
 * and its SQL functions (master_run_on_worker, run_command_on_workers)
 * are called by name through SPI, schema-qualified.  A command run on a
 * placement runs in a connection of its own and commits there as it
 * finishes, whatever becomes of the caller's transaction.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "citus.h"

/* A relation of Citus' catalog (in pg_catalog), InvalidOid without Citus */
static Oid
CatalogRelation(const char *name)
{
	return get_relname_relid(name, PG_CATALOG_NAMESPACE);
}

/* Is Citus installed in this database? */
bool
CitusInstalled(void)
{
	return OidIsValid(CatalogRelation("pg_dist_partition"));
}

/* The attribute number of a column of a catalog relation */
static AttrNumber
CatalogColumn(Relation rel, const char *column)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped &&
			strcmp(NameStr(TupleDescAttr(desc, i)->attname), column) == 0)
			return i + 1;
	elog(ERROR, "Citus catalog %s has no column %s", RelationGetRelationName(rel), column);
	return InvalidAttrNumber;
}

/*
 * The distribution method of a Citus table as pg_dist_partition says ('h'
 * hash, 'n' reference or local, 'a', 'r'), 0 for any other relation or
 * without Citus.  An index scan of the catalog, no query: the planner
 * hook asks it.
 */
char
CitusMethod(Oid relid)
{
	Oid			catalog = CatalogRelation("pg_dist_partition");
	Oid			index;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char		method = 0;

	if (!OidIsValid(catalog))
		return 0;
	index = CatalogRelation("pg_dist_partition_logical_relid_index");
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, CatalogColumn(rel, "logicalrelid"), BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, index, OidIsValid(index), NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, CatalogColumn(rel, "partmethod"), RelationGetDescr(rel),
									 &isnull);

		method = isnull ? '?' : DatumGetChar(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return method;
}

/* Is the relation a Citus table (distributed, reference or Citus local)? */
bool
CitusTable(Oid relid)
{
	return CitusMethod(relid) != 0;
}

/* Run a query of Citus' functions through SPI (connected by the caller) */
static void
CitusQuery(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "Citus query failed (%s): %s", SPI_result_code_string(rc), sql);
}

/*
 * The active placements of a Citus table's shards, in shard order, in the
 * caller's memory context (SPI connected); *replicated says whether some
 * shard has more than one.  Returns how many.
 */
int
CitusPlacements(Oid relid, CitusPlacement **out, bool *replicated)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	MemoryContext caller = CurrentMemoryContext;
	CitusPlacement *p;
	int			n;

	CitusQuery("SELECT s.shardid, pg_catalog.shard_name(s.logicalrelid, s.shardid, false), "
			   "n.nodename, n.nodeport FROM pg_catalog.pg_dist_shard s "
			   "JOIN pg_catalog.pg_dist_placement p ON p.shardid OPERATOR(pg_catalog.=) s.shardid "
			   "JOIN pg_catalog.pg_dist_node n ON n.groupid OPERATOR(pg_catalog.=) p.groupid "
			   "WHERE s.logicalrelid OPERATOR(pg_catalog.=) $1 AND p.shardstate OPERATOR(pg_catalog.=) 1 "
			   "AND n.isactive AND n.noderole OPERATOR(pg_catalog.=) 'primary' "
			   "ORDER BY s.shardid, n.nodeid", 1, types, values);
	n = (int) SPI_processed;
	p = MemoryContextAllocZero(caller, sizeof(CitusPlacement) * Max(n, 1));
	*replicated = false;
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		p[i].shardid = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		p[i].shard = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 2));
		p[i].node = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 3));
		p[i].port = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		if (i > 0 && p[i].shardid == p[i - 1].shardid)
			*replicated = true;
	}
	*out = p;
	return n;
}

/* A text[] or int4[] of n values */
static Datum
TextArray(char **v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Run commands[i] on the node of placement p[i], in parallel, each in a
 * connection of its own (Citus' master_run_on_worker), which commits on
 * its node as it finishes; results[i] gets the command's one value, its
 * command tag, or the error message when ok[i] is false.  Returns how many
 * failed.
 */
int
CitusRunOnPlacements(const CitusPlacement *p, char **commands, int n, char **results, bool *ok)
{
	Oid			types[3] = {TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	char	  **nodes = palloc(sizeof(char *) * Max(n, 1));
	Datum	   *ports = palloc(sizeof(Datum) * Max(n, 1));
	MemoryContext caller = CurrentMemoryContext;
	int			failed = 0;

	if (n == 0)
		return 0;
	for (int i = 0; i < n; i++)
	{
		nodes[i] = p[i].node;
		ports[i] = Int32GetDatum(p[i].port);
	}
	values[0] = TextArray(nodes, n);
	values[1] = PointerGetDatum(construct_array(ports, n, INT4OID, 4, true, TYPALIGN_INT));
	values[2] = TextArray(commands, n);
	CitusQuery("SELECT r.success, r.result FROM pg_catalog.master_run_on_worker($1, $2, $3, true) "
			   "WITH ORDINALITY AS r(node_name, node_port, success, result, i) ORDER BY r.i",
			   3, types, values);
	if ((int) SPI_processed != n)
		elog(ERROR, "master_run_on_worker returned %d results for %d commands",
			 (int) SPI_processed, n);
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		char	   *r = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		ok[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
										   &isnull));
		failed += ok[i] ? 0 : 1;
		results[i] = MemoryContextStrdup(caller, r ? r : "");
	}
	return failed;
}

/* Run commands on placements as CitusRunOnPlacements does; a failure is an error naming its shard */
void
CitusRunOnPlacementsOrError(const CitusPlacement *p, char **commands, int n, char **results)
{
	bool	   *ok = palloc(sizeof(bool) * Max(n, 1));

	if (CitusRunOnPlacements(p, commands, n, results, ok) == 0)
		return;
	for (int i = 0; i < n; i++)
		if (!ok[i])
			CitusPlacementError(&p[i], results[i]);
}

/* The error of a command that failed on a placement */
void
CitusPlacementError(const CitusPlacement *p, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("the command on shard %s (%s:%d) failed: %s", p->shard, p->node, p->port,
					message),
			 errhint("Fix the cause on that node and run the command again.")));
}

/*
 * Is this node the coordinator of workers (Citus metadata says so)?  The
 * registry is the coordinator's; its workers keep copies.
 */
bool
CitusHasWorkers(void)
{
	bool		isnull;

	if (!CitusInstalled())
		return false;
	CitusQuery("SELECT (SELECT groupid FROM pg_catalog.pg_dist_local_group) OPERATOR(pg_catalog.=) 0 "
			   "AND EXISTS (SELECT 1 FROM pg_catalog.pg_dist_node WHERE groupid OPERATOR(pg_catalog.<>) 0 "
			   "AND isactive AND noderole OPERATOR(pg_catalog.=) 'primary')", 0, NULL, NULL);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
		!isnull;
}

/*
 * Run a command on every active worker (Citus' run_command_on_workers),
 * each in a connection of its own; an error if one fails.
 */
void
CitusRunOnWorkers(const char *command)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(command)};

	CitusQuery("SELECT nodename, nodeport, success, result FROM pg_catalog.run_command_on_workers($1)",
			   1, types, values);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("the command on worker %s:%s failed: %s",
							SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
							SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2),
							SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4)),
					 errhint("Fix the cause on that worker, then run SELECT profenrich.sync_workers() on the coordinator.")));
	}
}
