/*-------------------------------------------------------------------------
 * registry.c
 *	  Versioned model registry: insert, load, deploy, rollback, drop, the
 *	  deployment audit log and the readers of a model's parameters.
 *
 * Every version of a named model is a row of profenrich.models; at most
 * one per name is deployed (a partial unique index says so).  Every
 * deploy, rollback and drop is appended to profenrich.deployments, which
 * nothing updates or deletes; rollback replays it as a stack (deploy
 * pushes, rollback pops, a drop removes the dropped version), so rolling
 * back twice goes two deployments back.  Concurrent writers of one name
 * are serialized by a transaction-level advisory lock on the name.
 *
 * The registry is read under row-level security (privileges.c): a role
 * sees the rows whose source it may read.  The extension's own reads do
 * not depend on it: loading a model to score it is an index scan in C,
 * and deploy, rollback and drop check the caller's grant on the table,
 * then read and write as the table's owner.  Every statement is
 * schema-qualified, operators included.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "algorithm.h"
#include "features.h"
#include "privileges.h"
#include "registry.h"

#define REGISTRY_LOCK_CLASS 1346719314	/* advisory lock class "PENR" */

PG_FUNCTION_INFO_V1(deploy);
PG_FUNCTION_INFO_V1(rollback);
PG_FUNCTION_INFO_V1(drop_model);
PG_FUNCTION_INFO_V1(coefficients);
PG_FUNCTION_INFO_V1(classes);
PG_FUNCTION_INFO_V1(model_spec);
PG_FUNCTION_INFO_V1(registry_changed);
PG_FUNCTION_INFO_V1(deployments_append_only);

/*
 * The backend's cache of deployed models' params, by name, so that a
 * query scoring one profile (the real-time case) does not read the
 * registry.  A statement trigger on profenrich.models sends a relcache
 * invalidation of the table on any change, which empties the cache in
 * every backend at its next command; so does the end of a transaction
 * that rolled back (it may have cached its own uncommitted deployment).
 * Only params read with a statement snapshot are cached: a transaction
 * snapshot may predate a deployment whose invalidation was already
 * processed.  Each query deserializes its own copy, so emptying the
 * cache never pulls a model from under a running query.
 */
#define MODEL_CACHE_NAME 256

typedef struct CachedParams
{
	char		name[MODEL_CACHE_NAME];	/* hash key */
	int			version;
	bytea	   *params;			/* in ModelCacheContext */
} CachedParams;

static HTAB *ModelCache = NULL;
static MemoryContext ModelCacheContext = NULL;
static Oid	ModelCacheTable = InvalidOid;
static uint64 ModelCacheGeneration = 1;	/* bumped whenever the cache is emptied */

/* Empty the cache */
static void
ModelCacheReset(void)
{
	if (ModelCacheContext != NULL)
		MemoryContextReset(ModelCacheContext);
	ModelCache = NULL;
	ModelCacheGeneration++;
}

/* The cache's generation: other caches of models are valid while it is unchanged */
uint64
RegistryCacheGeneration(void)
{
	return ModelCacheGeneration;
}

/* Relcache invalidation: the registry table changed (or everything is reset) */
static void
ModelCacheRelcacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == ModelCacheTable)
		ModelCacheReset();
}

/* A rolled-back transaction may have cached what it wrote */
static void
ModelCacheXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		ModelCacheReset();
}

static void
ModelCacheSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		ModelCacheReset();
}

/*
 * The cache table, created on first use; false when caching is not safe
 * now (transaction snapshot) or the registry cannot be found.
 */
bool
RegistryCacheUsable(void)
{
	Oid			table;

	if (IsolationUsesXactSnapshot() || IsParallelWorker())
		return false;
	/*
	 * The registry table is looked up again only after a reset: dropping it
	 * (or the extension) sends the invalidation that resets the cache.
	 */
	if (OidIsValid(ModelCacheTable) && ModelCache != NULL)
		return true;
	table = get_relname_relid("models", get_namespace_oid("profenrich", true));
	if (!OidIsValid(table))
		return false;
	if (ModelCacheContext == NULL)
	{
		ModelCacheContext = AllocSetContextCreate(TopMemoryContext, "profenrich model cache",
												  ALLOCSET_DEFAULT_SIZES);
		CacheRegisterRelcacheCallback(ModelCacheRelcacheCallback, (Datum) 0);
		RegisterXactCallback(ModelCacheXactCallback, NULL);
		RegisterSubXactCallback(ModelCacheSubXactCallback, NULL);
	}
	if (table != ModelCacheTable)
	{
		ModelCacheReset();
		ModelCacheTable = table;
	}
	if (ModelCache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = MODEL_CACHE_NAME;
		ctl.entrysize = sizeof(CachedParams);
		ctl.hcxt = ModelCacheContext;
		ModelCache = hash_create("profenrich models", 16, &ctl,
								 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	return true;
}

/*
 * registry_changed(): statement trigger on profenrich.models; every
 * backend's model cache is emptied when the change commits.
 */
Datum
registry_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("registry_changed must be called as a trigger"),
				 errhint("It is the registry's own trigger; there is no need to call it.")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
	return PointerGetDatum(NULL);
}

/* A table or index of the registry, which must exist */
static Oid
RegistryRelation(const char *relname)
{
	Oid			relid = PrivilegeExtensionRelation(relname);

	if (!OidIsValid(relid))
		elog(ERROR, "profenrich.%s is missing", relname);
	return relid;
}

/*
 * Run one of the registry's statements (inside SPI) as the owner of the
 * table it writes, failing on error codes; the caller's grant has been
 * checked.
 */
static int
RegistryExec(const char *table, const char *sql, int nargs, Oid *types, Datum *values,
			 const char *nulls)
{
	int			rc = PrivilegeExecAsOwner(RegistryRelation(table), sql, nargs, types, values,
										  nulls);

	if (rc < 0)
		elog(ERROR, "registry statement failed (%s): %s", SPI_result_code_string(rc), sql);
	return rc;
}

/*
 * Serialize writers of one model name until the end of the transaction:
 * the lock pg_advisory_xact_lock(1346719314, hashtext(name)) takes.
 */
static void
RegistryLockName(const char *name)
{
	LOCKTAG		tag;
	int32		hash = DatumGetInt32(DirectFunctionCall1Coll(hashtext, DEFAULT_COLLATION_OID,
														   CStringGetTextDatum(name)));

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) REGISTRY_LOCK_CLASS, (uint32) hash, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* The unknown-model error, with a hint on how to find or make one */
static void
UnknownModel(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" does not exist", name),
			 errhint("Train it with profenrich.train(), or list models with "
					 "SELECT name, version FROM profenrich.model_catalog.")));
}

/* The unknown-version error */
static void
UnknownVersion(const char *name, int version)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" has no version %d", name, version),
			 errhint("List its versions with SELECT version FROM profenrich.model_catalog "
					 "WHERE name = '%s'.", name)));
}

/* Does any version of the model exist? (inside SPI, lock held) */
static bool
ModelExists(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	RegistryExec("models", "SELECT 1 FROM profenrich.models WHERE name OPERATOR(pg_catalog.=) $1 LIMIT 1",
				 1, types, values, NULL);
	return SPI_processed > 0;
}

/*
 * Is the deployment log the audit of 0.5.0?  Before ALTER EXTENSION
 * UPDATE has run, the library may meet the log of an older release, which
 * has no actions.
 */
static bool
DeploymentsAudited(void)
{
	return get_attnum(RegistryRelation("deployments"), "action") != InvalidAttrNumber;
}

/* Refuse what needs the audit log while the SQL objects are older than the library */
static void
RequireAudit(const char *function)
{
	if (DeploymentsAudited())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s needs the deployment audit log of profenrich 0.5.0", function),
			 errdetail("The extension's SQL objects are older than its library."),
			 errhint("Run ALTER EXTENSION profenrich UPDATE.")));
}

/* Append an action to the deployment log (inside SPI, lock held) */
static void
LogDeployment(const char *name, int version, const char *action)
{
	Oid			types[4] = {TEXTOID, INT4OID, TEXTOID, TEXTOID};
	Datum		values[4] = {CStringGetTextDatum(name), Int32GetDatum(version),
		CStringGetTextDatum(PrivilegeUserName()), CStringGetTextDatum(action)};

	if (!DeploymentsAudited())	/* an older log: deploy() pushes, as it did */
		RegistryExec("deployments",
					 "INSERT INTO profenrich.deployments (name, version, deployed_by) "
					 "VALUES ($1, $2, $3)", 3, types, values, NULL);
	else
		RegistryExec("deployments",
					 "INSERT INTO profenrich.deployments (name, version, deployed_by, action) "
					 "VALUES ($1, $2, $3, $4)", 4, types, values, NULL);
}

/* Mark one version deployed and log the action when given (inside SPI, lock held) */
static void
SetDeployed(const char *name, int version, const char *action)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(version)};

	RegistryExec("models", "UPDATE profenrich.models SET deployed = false "
				 "WHERE name OPERATOR(pg_catalog.=) $1 AND deployed", 1, types, values, NULL);
	RegistryExec("models", "UPDATE profenrich.models SET deployed = true "
				 "WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
				 2, types, values, NULL);
	if (SPI_processed != 1)
		UnknownVersion(name, version);
	if (action != NULL)
		LogDeployment(name, version, action);
}

/*
 * Refuse a training the caller's grants on the registry do not allow:
 * INSERT to store a version, UPDATE as well to deploy it.  train() checks
 * before it reads anything, and the insert again.
 */
void
RegistryRequireTrain(const char *name, bool deploy)
{
	PrivilegeRequire(RegistryRelation("models"), ACL_INSERT, "train", name);
	if (deploy)
		PrivilegeRequire(RegistryRelation("models"), ACL_UPDATE, "deploy", name);
}

/*
 * Store a trained model as the next version of its name and deploy it if
 * asked.  Returns the new version.
 */
int
RegistryInsert(const RegistryEntry *e)
{
	Oid			types[12] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID,
	JSONBOID, INT8OID, INT8OID, BYTEAOID, INT4OID, TEXTOID};
	Datum		values[12];
	char		nulls[12];
	int			version;
	bool		isnull;

	RegistryRequireTrain(e->name, e->deploy);
	SPI_connect();
	RegistryLockName(e->name);
	values[0] = CStringGetTextDatum(e->name);
	RegistryExec("models", "SELECT COALESCE(pg_catalog.max(version), 0) OPERATOR(pg_catalog.+) 1 "
				 "FROM profenrich.models WHERE name OPERATOR(pg_catalog.=) $1",
				 1, types, values, NULL);
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	memset(nulls, ' ', sizeof(nulls));
	values[1] = CStringGetTextDatum(e->algorithm);
	values[2] = CStringGetTextDatum(e->source);
	values[3] = e->target ? CStringGetTextDatum(e->target) : (Datum) 0;
	nulls[3] = e->target ? ' ' : 'n';
	values[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(e->features_json));
	values[5] = DirectFunctionCall1(jsonb_in, CStringGetDatum(e->options_json));
	values[6] = DirectFunctionCall1(jsonb_in, CStringGetDatum(e->metrics_json));
	values[7] = Int64GetDatum(e->n_train);
	values[8] = Int64GetDatum(e->n_test);
	values[9] = PointerGetDatum(e->params);
	values[10] = Int32GetDatum(version);
	values[11] = CStringGetTextDatum(PrivilegeUserName());
	RegistryExec("models", "INSERT INTO profenrich.models (name, algorithm, source, target, features, "
				 "options, metrics, n_train, n_test, params, version, trained_by) "
				 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
				 12, types, values, nulls);
	if (e->deploy)
		SetDeployed(e->name, version, "deploy");
	SPI_finish();
	return version;
}

/* A registry row as the readers need it */
typedef struct RegistryRow
{
	int			version;
	bool		deployed;
	char	   *source;
	char	   *trained_by;
	bytea	   *params;			/* detoasted copy */
} RegistryRow;

/* The attribute number of a registry column */
static AttrNumber
RegistryAttnum(TupleDesc desc, const char *column)
{
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped &&
			strcmp(NameStr(TupleDescAttr(desc, i)->attname), column) == 0)
			return i + 1;
	elog(ERROR, "profenrich.models has no column %s", column);
	return InvalidAttrNumber;
}

/* Copy what the readers need out of a registry tuple */
static void
RegistryRowFrom(HeapTuple tup, TupleDesc desc, RegistryRow *row)
{
	bool		isnull;

	row->version = DatumGetInt32(heap_getattr(tup, RegistryAttnum(desc, "version"), desc, &isnull));
	row->deployed = DatumGetBool(heap_getattr(tup, RegistryAttnum(desc, "deployed"), desc, &isnull));
	row->source = TextDatumGetCString(heap_getattr(tup, RegistryAttnum(desc, "source"), desc,
												   &isnull));
	row->trained_by = pstrdup(NameStr(*DatumGetName(heap_getattr(tup, RegistryAttnum(desc, "trained_by"),
																 desc, &isnull))));
	row->params = DatumGetByteaPCopy(heap_getattr(tup, RegistryAttnum(desc, "params"), desc,
												  &isnull));
}

/*
 * Read a model's row by an index scan: the deployed version when version
 * is 0, the given one otherwise, any version when -1 (without its
 * params).  The scan reads the table itself, under the statement's
 * snapshot and not under row-level security: scoring needs no privilege
 * on the registry.  Returns false when there is no such row.
 */
static bool
RegistryFetch(const char *name, int version, RegistryRow *row)
{
	Relation	rel = table_open(RegistryRelation("models"), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		pushed = !ActiveSnapshotSet();
	bool		found = false;

	if (pushed)
		PushActiveSnapshot(GetTransactionSnapshot());
	ScanKeyInit(&key[0], RegistryAttnum(desc, "name"), BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(name));
	/* the index orders names by the column's collation, and so must the search */
	key[0].sk_collation = TupleDescAttr(desc, key[0].sk_attno - 1)->attcollation;
	ScanKeyInit(&key[1], RegistryAttnum(desc, "version"), BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum(version));
	scan = systable_beginscan(rel, RegistryRelation(version == 0 ? "models_one_deployed" :
													"models_name_version_key"),
							  true, GetActiveSnapshot(), version > 0 ? 2 : 1, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;

		/* the partial index holds deployed rows only, but a heap scan would not */
		if (version == 0 &&
			!DatumGetBool(heap_getattr(tup, RegistryAttnum(desc, "deployed"), desc, &isnull)))
			continue;
		found = true;
		if (version >= 0)
			RegistryRowFrom(tup, desc, row);
	}
	systable_endscan(scan);
	if (pushed)
		PopActiveSnapshot();
	table_close(rel, AccessShareLock);
	return found;
}

/* The row of a model version (0: the deployed one), or the error saying why there is none */
static void
RegistryFetchOrError(const char *name, int version, RegistryRow *row)
{
	if (RegistryFetch(name, version, row))
		return;
	if (!RegistryFetch(name, -1, row))
		UnknownModel(name);
	if (version == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no deployed version", name),
				 errhint("Deploy a version with profenrich.deploy('%s').", name)));
	UnknownVersion(name, version);
}

/*
 * Load a model: the deployed version when version is 0.  The model is
 * built in mcxt; the version found is returned in *version_out.  Any role
 * may load any model to score with it.
 */
Model *
RegistryLoad(const char *name, int version, int *version_out, MemoryContext mcxt)
{
	MemoryContext old;
	Model	   *model;
	bool		cacheable = version == 0 && strlen(name) < MODEL_CACHE_NAME && RegistryCacheUsable();
	RegistryRow row;

	if (cacheable)
	{
		CachedParams *hit = hash_search(ModelCache, name, HASH_FIND, NULL);

		if (hit != NULL)
		{
			*version_out = hit->version;
			old = MemoryContextSwitchTo(mcxt);
			model = ModelDeserialize(hit->params);
			MemoryContextSwitchTo(old);
			return model;
		}
	}
	RegistryFetchOrError(name, version, &row);
	*version_out = row.version;
	old = MemoryContextSwitchTo(mcxt);
	model = ModelDeserialize(row.params);
	MemoryContextSwitchTo(old);
	/* the fetch may have processed an invalidation that emptied the cache */
	if (cacheable && ModelCache != NULL)
	{
		bool		found;
		CachedParams *e = hash_search(ModelCache, name, HASH_ENTER, &found);

		e->version = row.version;
		e->params = MemoryContextAlloc(ModelCacheContext, VARSIZE_ANY(row.params));
		memcpy(e->params, row.params, VARSIZE_ANY(row.params));
	}
	return model;
}

/*
 * Load a model for a reader that shows what it learned (its slots and
 * vocabularies, its parameters): only roles that may see its registry row
 * may, by the rule of profenrich.may_read.
 */
static Model *
RegistryLoadReadable(const char *name, int version, int *version_out)
{
	RegistryRow row;

	RegistryFetchOrError(name, version, &row);
	if (!PrivilegeMayRead(row.trained_by, row.source))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read what model \"%s\" version %d learned",
						name, row.version),
				 errdetail("Its vocabularies and parameters come from %s, which you may not read.",
						   row.source),
				 errhint("Ask for SELECT on %s, or for the privileges of its trainer %s; scoring "
						 "with the model needs neither.", row.source, row.trained_by)));
	*version_out = row.version;
	return ModelDeserialize(row.params);
}

/*
 * The relation a model version was trained on, quoted and qualified from
 * the catalog: the stored name is resolved without the search_path and
 * never used as SQL itself.
 */
char *
RegistrySource(const char *name, int version)
{
	RegistryRow row;
	Oid			relid;

	RegistryFetchOrError(name, version, &row);
	relid = PrivilegeStoredRelation(row.source);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the source %s of model \"%s\" version %d no longer exists",
						row.source, name, row.version),
				 errhint("Pass the relation to read as the source argument.")));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * A top-level field of a model version's metrics as text (metrics ->> key),
 * or NULL when it has none; metrics are public (profenrich.model_catalog)
 */
char *
RegistryMetric(const char *name, int version, const char *key)
{
	Oid			types[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(name), Int32GetDatum(version),
	CStringGetTextDatum(key)};
	MemoryContext caller = CurrentMemoryContext;
	char	   *value = NULL;

	SPI_connect();
	RegistryExec("models", "SELECT metrics OPERATOR(pg_catalog.->>) $3 FROM profenrich.models "
				 "WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
				 3, types, values, NULL);
	if (SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		value = v ? MemoryContextStrdup(caller, v) : NULL;
	}
	SPI_finish();
	return value;
}

/* A NULL-checked text argument as a C string */
static char *
NameArg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL"),
				 errhint("Pass the name of a trained model.")));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * deploy(name, version DEFAULT NULL): deploy a version, the latest when
 * NULL; returns the version now deployed.
 */
Datum
deploy(PG_FUNCTION_ARGS)
{
	char	   *name = NameArg(fcinfo, 0);
	int			version;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	PrivilegeRequire(RegistryRelation("models"), ACL_UPDATE, "deploy", name);
	SPI_connect();
	RegistryLockName(name);
	if (!ModelExists(name))
		UnknownModel(name);
	if (PG_ARGISNULL(1))
	{
		RegistryExec("models", "SELECT pg_catalog.max(version) FROM profenrich.models "
					 "WHERE name OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
		version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	else
		version = PG_GETARG_INT32(1);
	SetDeployed(name, version, "deploy");
	SPI_finish();
	PG_RETURN_INT32(version);
}

/*
 * The deployment stack of a name, replayed from its log (inside SPI, lock
 * held): deploy pushes its version; rollback to v pops the entries above
 * the topmost entry of v (those it skipped: the version deployed then and
 * versions dropped since); drop removes every entry of the dropped
 * version.  Returns the number of entries, bottom first in *stack.
 */
static int
ReplayDeployments(const char *name, int **stack)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	int			n = 0;

	RegistryExec("deployments", "SELECT version, action FROM profenrich.deployments "
				 "WHERE name OPERATOR(pg_catalog.=) $1 ORDER BY deploy_id",
				 1, types, values, NULL);
	*stack = palloc(sizeof(int) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			v = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
													1, &isnull));
		char	   *action = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		int			kept = 0;

		CHECK_FOR_INTERRUPTS();
		if (strcmp(action, "deploy") == 0)
			(*stack)[n++] = v;
		else if (strcmp(action, "drop") == 0)
		{
			for (int k = 0; k < n; k++)
				if ((*stack)[k] != v)
					(*stack)[kept++] = (*stack)[k];
			n = kept;
		}
		else
		{
			int			top = n - 1;

			while (top >= 0 && (*stack)[top] != v)
				top--;
			if (top >= 0)
				n = top + 1;
		}
	}
	return n;
}

/*
 * The versions of a name that exist now and the deployed one (0 when
 * none), inside SPI with the lock held.  Returns how many exist.
 */
static int
ExistingVersions(const char *name, int **versions, int *deployed)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	RegistryExec("models", "SELECT version, deployed FROM profenrich.models "
				 "WHERE name OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	*versions = palloc(sizeof(int) * Max(SPI_processed, 1));
	*deployed = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		(*versions)[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
													 1, &isnull));
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)))
			*deployed = (*versions)[i];
	}
	return (int) SPI_processed;
}

/*
 * rollback(name): deploy the version deployed before the current one, as
 * the replayed log says, skipping versions dropped since; the rollback is
 * logged, and returns the version now deployed.
 */
Datum
rollback(PG_FUNCTION_ARGS)
{
	char	   *name = NameArg(fcinfo, 0);
	int		   *stack,
			   *versions;
	int			depth,
				nversions,
				deployed,
				version = 0;

	PrivilegeRequire(RegistryRelation("models"), ACL_UPDATE, "roll back", name);
	RequireAudit("rollback");
	SPI_connect();
	RegistryLockName(name);
	if (!ModelExists(name))
		UnknownModel(name);
	depth = ReplayDeployments(name, &stack);
	nversions = ExistingVersions(name, &versions, &deployed);
	/* from the top: skip the version deployed now and versions that are gone */
	for (int i = depth - 1; i >= 0 && version == 0; i--)
	{
		bool		exists = false;

		CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < nversions; k++)
			exists |= versions[k] == stack[i];
		if (exists && stack[i] != deployed)
			version = stack[i];
	}
	if (version == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no earlier deployment to roll back to", name),
				 errhint("Deploy a version explicitly with profenrich.deploy('%s', version).", name)));
	SetDeployed(name, version, "rollback");
	SPI_finish();
	PG_RETURN_INT32(version);
}

/*
 * The per-user rows of the versions about to be dropped whose family keeps
 * some (item models: profenrich.model_users, 0.5.0), deleted as the
 * table's owner, like the registry rows themselves.
 */
static void
DropModelUsers(Oid *types, Datum *values, const char *nulls)
{
	bool		any = false;

	if (!OidIsValid(get_relname_relid("model_users", get_namespace_oid("profenrich", false))))
		return;
	RegistryExec("models", "SELECT DISTINCT algorithm FROM profenrich.models WHERE name OPERATOR(pg_catalog.=) $1 "
				 "AND ($2 IS NULL OR version OPERATOR(pg_catalog.=) $2)",
				 2, types, values, nulls);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		const AlgorithmOps *ops = AlgorithmByName(SPI_getvalue(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc, 1));

		any |= ops != NULL && ops->stored != NULL;
	}
	if (any)
		RegistryExec("model_users", "DELETE FROM profenrich.model_users WHERE model OPERATOR(pg_catalog.=) $1 "
					 "AND ($2 IS NULL OR version OPERATOR(pg_catalog.=) $2)",
					 2, types, values, nulls);
}

/*
 * drop_model(name, version DEFAULT NULL): drop one version, or all, each
 * logged; returns how many versions were dropped.
 */
Datum
drop_model(PG_FUNCTION_ARGS)
{
	char	   *name = NameArg(fcinfo, 0);
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	uint64		dropped;
	int		   *gone;

	values[0] = CStringGetTextDatum(name);
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	if (PG_ARGISNULL(1))
		nulls[1] = 'n';
	PrivilegeRequire(RegistryRelation("models"), ACL_DELETE, "drop", name);
	RequireAudit("drop_model");
	SPI_connect();
	RegistryLockName(name);
	if (!ModelExists(name))
		UnknownModel(name);
	DropModelUsers(types, values, nulls);
	RegistryExec("models", "DELETE FROM profenrich.models WHERE name OPERATOR(pg_catalog.=) $1 "
				 "AND ($2 IS NULL OR version OPERATOR(pg_catalog.=) $2) RETURNING version",
				 2, types, values, nulls);
	dropped = SPI_processed;
	if (dropped == 0)
		UnknownVersion(name, PG_GETARG_INT32(1));
	gone = palloc(sizeof(int) * dropped);
	for (uint64 i = 0; i < dropped; i++)
	{
		bool		isnull;

		gone[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
											  &isnull));
	}
	for (uint64 i = 0; i < dropped; i++)
		LogDeployment(name, gone[i], "drop");
	SPI_finish();
	PG_RETURN_INT32((int32) dropped);
}

/*
 * deployments_append_only(): the trigger that keeps profenrich.deployments
 * an audit log.  Rows are never updated, deleted or truncated (dropping
 * the extension drops the table without firing it), and only the
 * extension writes them: an INSERT by any role but the table's owner or a
 * superuser (pg_restore) is refused, since rollback() replays the log.
 */
Datum
deployments_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("deployments_append_only must be called as a trigger"),
				 errhint("It is the deployment log's own trigger; there is no need to call it.")));
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		if (superuser() || pg_class_ownercheck(RelationGetRelid(td->tg_relation), GetUserId()))
			return PointerGetDatum(td->tg_trigtuple);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only profenrich writes its deployment log"),
				 errdetail("deploy(), rollback() and drop_model() append the rows of profenrich.deployments."),
				 errhint("Call profenrich.deploy(), profenrich.rollback() or profenrich.drop_model().")));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("profenrich.deployments is an append-only audit log"),
			 errdetail("deploy(), rollback() and drop_model() append its rows; nothing changes or removes them."),
			 errhint("Read the log; to change what is deployed, call profenrich.deploy() or profenrich.rollback().")));
	PG_RETURN_NULL();
}

/*
 * coefficients(name, version DEFAULT NULL): the parameters of a model
 * version (the deployed one when NULL), one row each, as its family lists
 * them.  They name slots by category value: only roles that may see the
 * model's registry row may read them.
 */
Datum
coefficients(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = NameArg(fcinfo, 0);
	int			version;
	Model	   *model;

	InitMaterializedSRF(fcinfo, 0);
	model = RegistryLoadReadable(name, PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1), &version);
	model->ops->coefficients(model, rsinfo);
	return (Datum) 0;
}

/*
 * classes(name, version DEFAULT NULL) returns text[]: a class model's
 * labels in model order (the order of predict_proba).  Labels are what a
 * class model outputs, so any role that may score may read them.
 */
Datum
classes(PG_FUNCTION_ARGS)
{
	char	   *name = NameArg(fcinfo, 0);
	int			version;
	Model	   *m = RegistryLoad(name, PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1), &version,
								 CurrentMemoryContext);
	Datum	   *labels;

	if (m->ops->classify == NULL || (m->nclasses == 0 && !m->spec->binary))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, which has no classes", name, m->ops->name),
				 errhint("classes() takes a model trained with algorithm 'multinomial' or 'logistic', or a 'gbdt' model of a class target.")));
	if (m->nclasses == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" was trained before profenrich 0.5.0 and does not know its class labels", name),
				 errhint("Retrain the model.")));
	labels = palloc(sizeof(Datum) * m->nclasses);
	for (int k = 0; k < m->nclasses; k++)
		labels[k] = CStringGetTextDatum(m->classes[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(labels, m->nclasses, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * model_spec(name, version DEFAULT NULL): the binary feature spec of a
 * model, which profenrich.linear_stats takes to read rows the same way.
 * It holds the vocabularies: only roles that may see the model's registry
 * row may read it.
 */
Datum
model_spec(PG_FUNCTION_ARGS)
{
	char	   *name = NameArg(fcinfo, 0);
	int			version;
	Model	   *model = RegistryLoadReadable(name, PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1),
											 &version);
	StringInfoData buf;
	bytea	   *result;

	initStringInfo(&buf);
	FeatureSpecWrite(&buf, model->spec);
	result = palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(result, VARHDRSZ + buf.len);
	memcpy(VARDATA(result), buf.data, buf.len);
	PG_RETURN_BYTEA_P(result);
}
