/*-------------------------------------------------------------------------
 * registry.c
 *	  Versioned model registry: insert, load, deploy, rollback, drop and
 *	  the coefficients reader.
 *
 * Every version of a named model is a row of profenrich.models; at most
 * one per name is deployed (a partial unique index says so).  Each deploy
 * is pushed on profenrich.deployments, and rollback pops it, so rolling
 * back twice goes two deployments back.  Concurrent writers of one name
 * are serialized by a transaction-level advisory lock on the name.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "features.h"
#include "registry.h"

#define REGISTRY_LOCK_CLASS 1346719314	/* advisory lock class "PENR" */

PG_FUNCTION_INFO_V1(deploy);
PG_FUNCTION_INFO_V1(rollback);
PG_FUNCTION_INFO_V1(drop_model);
PG_FUNCTION_INFO_V1(coefficients);
PG_FUNCTION_INFO_V1(classes);
PG_FUNCTION_INFO_V1(model_spec);
PG_FUNCTION_INFO_V1(registry_changed);

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

/* Run a statement with text/int parameters through SPI, failing on error codes */
static int
RegistryExec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
			 bool read_only)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);

	if (rc < 0)
		elog(ERROR, "registry statement failed (%s): %s", SPI_result_code_string(rc), sql);
	return rc;
}

/* Serialize writers of one model name until the end of the transaction */
static void
RegistryLockName(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	RegistryExec("SELECT pg_catalog.pg_advisory_xact_lock(" CppAsString2(REGISTRY_LOCK_CLASS)
				 ", pg_catalog.hashtext($1))", 1, types, values, NULL, false);
}

/* The unknown-model error, with a hint on how to find or make one */
static void
UnknownModel(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" does not exist", name),
			 errhint("Train it with profenrich.train(), or list models with "
					 "SELECT name, version FROM profenrich.models.")));
}

/* Does any version of the model exist? (inside SPI) */
static bool
ModelExists(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	RegistryExec("SELECT 1 FROM profenrich.models WHERE name = $1 LIMIT 1",
				 1, types, values, NULL, true);
	return SPI_processed > 0;
}

/* Mark one version deployed and log it when asked (inside SPI, lock held) */
static void
SetDeployed(const char *name, int version, bool log)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(version)};

	RegistryExec("UPDATE profenrich.models SET deployed = false WHERE name = $1 AND deployed",
				 1, types, values, NULL, false);
	RegistryExec("UPDATE profenrich.models SET deployed = true WHERE name = $1 AND version = $2",
				 2, types, values, NULL, false);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, version),
				 errhint("List its versions with SELECT version FROM profenrich.models "
						 "WHERE name = '%s'.", name)));
	if (log)
		RegistryExec("INSERT INTO profenrich.deployments (name, version) VALUES ($1, $2)",
					 2, types, values, NULL, false);
}

/*
 * Store a trained model as the next version of its name and deploy it if
 * asked.  Returns the new version.
 */
int
RegistryInsert(const RegistryEntry *e)
{
	Oid			types[11] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID,
	JSONBOID, INT8OID, INT8OID, BYTEAOID, BOOLOID};
	Datum		values[11];
	char		nulls[11];
	int			version;
	bool		isnull;

	SPI_connect();
	RegistryLockName(e->name);
	values[0] = CStringGetTextDatum(e->name);
	RegistryExec("SELECT coalesce(max(version), 0) + 1 FROM profenrich.models WHERE name = $1",
				 1, types, values, NULL, false);
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
	types[10] = INT4OID;
	RegistryExec("INSERT INTO profenrich.models (name, algorithm, source, target, features, "
				 "options, metrics, n_train, n_test, params, version) "
				 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
				 11, types, values, nulls, false);
	if (e->deploy)
		SetDeployed(e->name, version, true);
	SPI_finish();
	return version;
}

/*
 * Load a model: the deployed version when version is 0.  The model is
 * built in mcxt; the version found is returned in *version_out.
 */
Model *
RegistryLoad(const char *name, int version, int *version_out, MemoryContext mcxt)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(version)};
	MemoryContext old;
	Model	   *model;
	bool		isnull;
	bool		cacheable = version == 0 && strlen(name) < MODEL_CACHE_NAME && RegistryCacheUsable();
	bytea	   *params;

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
	SPI_connect();
	RegistryExec("SELECT version, params FROM profenrich.models WHERE name = $1 AND "
				 "CASE WHEN $2 = 0 THEN deployed ELSE version = $2 END",
				 2, types, values, NULL, true);
	if (SPI_processed == 0)
	{
		if (!ModelExists(name))
			UnknownModel(name);
		if (version == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("model \"%s\" has no deployed version", name),
					 errhint("Deploy a version with profenrich.deploy('%s').", name)));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, version),
				 errhint("List its versions with SELECT version FROM profenrich.models "
						 "WHERE name = '%s'.", name)));
	}
	*version_out = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	params = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	old = MemoryContextSwitchTo(mcxt);
	model = ModelDeserialize(params);
	MemoryContextSwitchTo(old);
	if (cacheable && ModelCache != NULL)
	{
		bool		found;
		CachedParams *e = hash_search(ModelCache, name, HASH_ENTER, &found);

		e->version = *version_out;
		e->params = MemoryContextAlloc(ModelCacheContext, VARSIZE_ANY(params));
		memcpy(e->params, params, VARSIZE_ANY(params));
	}
	SPI_finish();
	return model;
}

/* The relation a model version was trained on (qualified, quoted) */
char *
RegistrySource(const char *name, int version)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(version)};
	MemoryContext caller = CurrentMemoryContext;
	char	   *source = NULL;

	SPI_connect();
	RegistryExec("SELECT source FROM profenrich.models WHERE name = $1 AND version = $2",
				 2, types, values, NULL, true);
	if (SPI_processed == 1)
		source = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 1));
	SPI_finish();
	if (source == NULL)
		UnknownModel(name);
	return source;
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

	SPI_connect();
	RegistryLockName(name);
	if (!ModelExists(name))
		UnknownModel(name);
	if (PG_ARGISNULL(1))
	{
		RegistryExec("SELECT max(version) FROM profenrich.models WHERE name = $1",
					 1, types, values, NULL, false);
		version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	else
		version = PG_GETARG_INT32(1);
	SetDeployed(name, version, true);
	SPI_finish();
	PG_RETURN_INT32(version);
}

/*
 * rollback(name): pop the current deployment off the log and deploy the
 * one before it, skipping versions dropped since; returns the version now
 * deployed.
 */
Datum
rollback(PG_FUNCTION_ARGS)
{
	char	   *name = NameArg(fcinfo, 0);
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2] = {CStringGetTextDatum(name), (Datum) 0};
	int			version = 0;
	int64		keep_id = 0;
	bool		isnull;

	SPI_connect();
	RegistryLockName(name);
	if (!ModelExists(name))
		UnknownModel(name);
	/* newest first: each log entry, and whether it is deployed now or gone */
	RegistryExec("SELECT d.deploy_id, d.version, coalesce(m.deployed, true) "
				 "FROM profenrich.deployments d LEFT JOIN profenrich.models m "
				 "ON m.name = d.name AND m.version = d.version "
				 "WHERE d.name = $1 ORDER BY d.deploy_id DESC",
				 1, types, values, NULL, false);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		if (DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
			continue;
		keep_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		version = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		break;
	}
	if (keep_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no earlier deployment to roll back to", name),
				 errhint("Deploy a version explicitly with profenrich.deploy('%s', version).", name)));
	values[1] = Int64GetDatum(keep_id);
	RegistryExec("DELETE FROM profenrich.deployments WHERE name = $1 AND deploy_id > $2",
				 2, types, values, NULL, false);
	SetDeployed(name, version, false);
	SPI_finish();
	PG_RETURN_INT32(version);
}

/*
 * drop_model(name, version DEFAULT NULL): drop one version, or all;
 * returns how many versions were dropped.
 */
Datum
drop_model(PG_FUNCTION_ARGS)
{
	char	   *name = NameArg(fcinfo, 0);
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	uint64		dropped;

	values[0] = CStringGetTextDatum(name);
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	if (PG_ARGISNULL(1))
		nulls[1] = 'n';
	SPI_connect();
	RegistryLockName(name);
	if (!ModelExists(name))
		UnknownModel(name);
	RegistryExec("DELETE FROM profenrich.models WHERE name = $1 AND ($2 IS NULL OR version = $2)",
				 2, types, values, nulls, false);
	dropped = SPI_processed;
	if (dropped == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, PG_GETARG_INT32(1)),
				 errhint("List its versions with SELECT version FROM profenrich.models "
						 "WHERE name = '%s'.", name)));
	RegistryExec("DELETE FROM profenrich.deployments WHERE name = $1 AND ($2 IS NULL OR version = $2)",
				 2, types, values, nulls, false);
	SPI_finish();
	PG_RETURN_INT32((int32) dropped);
}

/*
 * coefficients(name, version DEFAULT NULL): the parameters of a model
 * version (the deployed one when NULL), one row each, as its family lists
 * them.
 */
Datum
coefficients(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = NameArg(fcinfo, 0);
	int			version;
	Model	   *model;

	InitMaterializedSRF(fcinfo, 0);
	model = RegistryLoad(name, PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1), &version,
						 CurrentMemoryContext);
	model->ops->coefficients(model, rsinfo);
	return (Datum) 0;
}

/*
 * classes(name, version DEFAULT NULL) returns text[]: a class model's
 * labels in model order (the order of predict_proba).
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
 */
Datum
model_spec(PG_FUNCTION_ARGS)
{
	char	   *name = NameArg(fcinfo, 0);
	int			version;
	Model	   *model = RegistryLoad(name, PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1), &version,
									 CurrentMemoryContext);
	StringInfoData buf;

	initStringInfo(&buf);
	FeatureSpecWrite(&buf, model->spec);
	(void) version;
	{
		bytea	   *result = palloc(VARHDRSZ + buf.len);

		SET_VARSIZE(result, VARHDRSZ + buf.len);
		memcpy(VARDATA(result), buf.data, buf.len);
		PG_RETURN_BYTEA_P(result);
	}
}
