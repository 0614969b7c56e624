/*-------------------------------------------------------------------------
 * train.c
 *	  profenrich.train(): the SQL entry point of every algorithm.
 *
 * It resolves the algorithm (its AlgorithmOps), parses the options, opens
 * the source and, for algorithms with a feature spec, resolves the target,
 * the split key and the features and learns the vocabularies; then the
 * family's trainer fits (train_<family>.c) and train() stores a new
 * version in the registry.  An error anywhere leaves the registry as it
 * was.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"

#include "guards.h"
#include "registry.h"
#include "trainer.h"

PG_FUNCTION_INFO_V1(train);
PG_FUNCTION_INFO_V1(train_query);

/*
 * Resolve the target column and let the family check it: the argument
 * must be given, name a column, and be of a type a model can read.
 */
static void
ResolveTarget(TrainJob *job, const char *target)
{
	AttrNumber	att;

	if (target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("algorithm \"%s\" needs a target column", job->ops->name),
				 errhint("Pass the column to predict as the target argument.")));
	job->spec->target = pstrdup(target);
	att = SourceColumn(&job->src, job->spec->target);
	if (att == 0)
		SourceNoColumn(&job->src, job->spec->target, "target");
	job->ops->target(job, FeatureKindForConv(ColumnConv(&job->src, att, "target")));
}

/* Resolve the split key: the option, else the single-column primary key */
static char *
ResolveKey(const TrainJob *job)
{
	if (job->opts.key == NULL)
		return OidIsValid(job->src.relid) ? SourcePrimaryKey(job->src.relid) : NULL;
	if (SourceColumn(&job->src, job->opts.key) == 0)
		SourceNoColumn(&job->src, job->opts.key, "key");
	return job->opts.key;
}

/*
 * The group_by column of a model per group, or NULL: a column of a type
 * whose values name groups, not the target, of a family that trains one.
 */
static char *
ResolveGroup(const TrainJob *job)
{
	const char *column = job->opts.group_by;
	AttrNumber	att;

	if (column == NULL)
		return NULL;
	if (!(job->ops->flags & ALG_GROUPS))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("algorithm \"%s\" does not train a model per group", job->ops->name),
				 errhint("Leave out the option group_by, or train one model per group with a WHERE clause in a view.")));
	att = SourceColumn(&job->src, column);
	if (att == 0)
		SourceNoColumn(&job->src, column, "group_by");
	if (job->spec->target && strcmp(column, job->spec->target) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is the target and cannot also be the group_by column", column),
				 errhint("Group by another column.")));
	FeatureCheckGroupType(column, TupleDescAttr(job->src.tupdesc, att - 1)->atttypid);
	return pstrdup(column);
}

/*
 * The feature spec of a feature-spec algorithm: target, key, split,
 * policies, features (checked for privileges and by the leakage guards),
 * vocabularies (with the level counts of the training baseline), layout.
 */
static void
PrepareSpec(TrainJob *job)
{
	FeatureSpec *spec = palloc0(sizeof(FeatureSpec));

	job->spec = spec;
	if (job->ops->targets & TARGET_NONE)
	{
		if (job->target_arg != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("algorithm \"%s\" takes no target", job->ops->name),
					 errhint("Pass NULL as the target.")));
	}
	else
		ResolveTarget(job, job->target_arg);
	spec->key = ResolveKey(job);
	spec->group = ResolveGroup(job);
	spec->test_fraction = job->opts.test_fraction;
	spec->seed = (uint64) job->opts.seed;
	spec->impute = job->opts.impute;
	spec->unseen = job->opts.unseen;
	spec->on_bad_row = job->opts.on_bad_row;
	SourceResolveFeatures(spec, &job->src, job->features_arg);
	CheckPrivileges(spec, &job->src);
	GuardFeatures(spec, &job->src, job->features_arg != NULL, job->opts.max_categories, job->quiet);
	job->level_counts = SourceLearnVocabularyCounts(spec, &job->src, job->opts.max_categories);
	FeatureSpecLayout(spec);
	job->key_column = spec->key;
}

/* The effective options, defaults included, as stored with the model */
static char *
OptionsJson(const TrainJob *job)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	if (job->ops->flags & ALG_FEATURES)
		TrainOptionsJson(&out, &job->opts, job->spec->key);
	job->ops->options_json(&out, job->algopts);
	if (!(job->ops->flags & ALG_FEATURES) && (job->ops->flags & ALG_LIFETIME))
		appendStringInfo(&out, ", \"on_bad_row\": \"%s\"",
						 job->opts.on_bad_row == BAD_ROW_SKIP ? "skip" : "error");
	if (job->src.query_text)
	{
		appendStringInfoString(&out, ", \"query\": ");
		escape_json(&out, job->src.query_text);
	}
	appendStringInfoChar(&out, '}');
	return out.data;
}

/* Build the result row (name, version, algorithm, n_train, n_test, metrics, deployed) */
static Datum
TrainResultRow(FunctionCallInfo fcinfo, const RegistryEntry *e, int version)
{
	TupleDesc	desc;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "train must return a composite type");
	desc = BlessTupleDesc(desc);
	values[0] = CStringGetTextDatum(e->name);
	values[1] = Int32GetDatum(version);
	values[2] = CStringGetTextDatum(e->algorithm);
	values[3] = Int64GetDatum(e->n_train);
	values[4] = Int64GetDatum(e->n_test);
	values[5] = DirectFunctionCall1(jsonb_in, CStringGetDatum(e->metrics_json));
	values[6] = BoolGetDatum(e->deploy);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/* Check a model name: not empty, short enough for the columns enrich names after it */
void
TrainCheckName(const char *name)
{
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty"),
				 errhint("Choose a short name such as 'churn'.")));
	if (strlen(name) > MODEL_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("model name \"%s\" is %d bytes long, more than the %d a model name may have",
						name, (int) strlen(name), MODEL_NAME_MAX),
				 errdetail("enrich() names the columns it writes after the model (<model>_score, <model>_factors, ...), and they must fit PostgreSQL's 63-byte identifiers."),
				 errhint("Choose a name of at most %d bytes.", MODEL_NAME_MAX)));
}

/* The operations of an algorithm by name, or an error listing them */
const AlgorithmOps *
TrainAlgorithm(const char *algorithm)
{
	const AlgorithmOps *ops = AlgorithmByName(algorithm);

	if (ops == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown algorithm \"%s\"", algorithm),
				 errhint("Available algorithms: %s.", AlgorithmNames())));
	return ops;
}

/*
 * Start a training job: the algorithm's and the common options parsed,
 * the target and features arguments kept for TrainJobPrepare
 */
void
TrainJobInit(TrainJob *job, const char *name, const AlgorithmOps *ops, Jsonb *options,
			 const char *target, ArrayType *features)
{
	memset(job, 0, sizeof(TrainJob));
	job->name = name;
	job->ops = ops;
	job->target_arg = target;
	job->features_arg = features;
	TrainOptionsParse(options, ops, &job->opts, &job->algopts);
	BadRowsInit(&job->bad);
	job->model.ops = ops;
	job->model.threshold = 0.5;
}

/*
 * Open the source and, for algorithms with a feature spec, build it; must
 * run inside SPI (TrainContext set), as TrainJobFit does.
 */
void
TrainJobPrepare(TrainJob *job, Oid relid, const char *query)
{
	if (query)
		SourceOpenQuery(query, &job->src);
	else
		SourceOpen(relid, &job->src);
	if (job->ops->flags & ALG_FEATURES)
		PrepareSpec(job);
}

/*
 * Prepare a job from another one prepared on the same source and spec (a
 * grid point of tune() whose options leave the spec as it is): the
 * source, a copy of the spec, the vocabulary counts, and the family's
 * target check run again, since it may note what it found in the job's
 * own options (gbdt's objective) as well as in the spec and the model's
 * classes.  No scan but what the target check makes.
 */
void
TrainJobAdopt(TrainJob *job, const TrainJob *prepared)
{
	FeatureSpec *spec = FeatureSpecCopy(prepared->spec);
	AttrNumber	att;

	job->src = prepared->src;
	job->spec = spec;
	job->key_column = prepared->key_column;
	job->level_counts = prepared->level_counts;
	if (spec->target == NULL || (job->ops->targets & TARGET_NONE))
		return;
	att = SourceColumn(&job->src, spec->target);
	job->ops->target(job, FeatureKindForConv(ColumnConv(&job->src, att, "target")));
}

/*
 * Run the family's trainer on the prepared job (spec: the spec to train
 * on, NULL for families without one) and close its metrics: counts, rows
 * left out by reason, and the NOTICE naming one bad row (not for a quiet
 * job: a cross-validation fold).
 */
void
TrainJobFit(TrainJob *job, FeatureSpec *spec)
{
	int			nclasses;
	char	  **classes;
	double		threshold;

	job->spec = spec;
	job->n_train = job->n_test = job->n_skipped = job->rows_read = 0;
	BadRowsInit(&job->bad);
	/* a fresh model, but for the classes the family's target check found (ops->target) */
	nclasses = job->model.nclasses;
	classes = job->model.classes;
	threshold = job->model.threshold;
	memset(&job->model, 0, sizeof(Model));
	job->model.ops = job->ops;
	job->model.nclasses = nclasses;
	job->model.classes = classes;
	job->model.threshold = threshold;
	job->model.spec = spec;
	initStringInfo(&job->metrics);
	appendStringInfoChar(&job->metrics, '{');
	job->ops->train(job);
	if (job->ops->flags & ALG_FEATURES)
	{
		JsonField(&job->metrics, "n_train", job->n_train);
		JsonField(&job->metrics, "n_test", job->n_test);
		JsonField(&job->metrics, "n_skipped", job->n_skipped + (double) BadRowsBad(&job->bad));
	}
	BadRowsJson(&job->metrics, &job->bad);
	appendStringInfoChar(&job->metrics, '}');
	if (job->rows_read == 0)
		job->rows_read = job->n_train + job->n_test + job->n_skipped + (double) BadRowsBad(&job->bad);
	if (!job->quiet)
		BadRowsReport(&job->bad, job->src.qualname, job->key_column, job->rows_read);
}

/*
 * Store the trained job as the next version of its name (the only registry
 * write), then what the family keeps outside its params (ops->stored)
 */
int
TrainJobStore(TrainJob *job, RegistryEntry *e)
{
	int			version;

	e->name = job->name;
	e->algorithm = job->ops->name;
	e->source = job->src.qualname;
	e->target = job->model.spec->target;
	e->features_json = FeatureSpecToJson(job->model.spec);
	e->options_json = OptionsJson(job);
	e->metrics_json = job->metrics.data;
	e->n_train = (int64) job->n_train;
	e->n_test = (int64) job->n_test;
	e->params = ModelSerialize(&job->model);
	e->deploy = job->opts.deploy;
	version = RegistryInsert(e);
	if (job->ops->stored)
		job->ops->stored(job, version);
	return version;
}

/*
 * train() and train_query(): check the arguments, train in one SPI
 * session, store; argument 2 is the source relation, or the query.
 */
static Datum
TrainEntry(FunctionCallInfo fcinfo, bool is_query)
{
	TrainJob	job;
	RegistryEntry e;
	char	   *name;
	char	   *query = NULL;
	int			version;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("name, algorithm and %s must not be NULL", is_query ? "query" : "source"),
				 errhint(is_query ? "Call profenrich.train_query('model name', 'linear', $$SELECT ...$$, 'target')." :
						 "Call profenrich.train('model name', 'linear', 'table').")));
	if (is_query)
		query = text_to_cstring(PG_GETARG_TEXT_PP(2));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TrainCheckName(name);
	TrainJobInit(&job, name, TrainAlgorithm(text_to_cstring(PG_GETARG_TEXT_PP(1))),
				 PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5),
				 PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)),
				 PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4));
	job.fcinfo = fcinfo;
	RegistryRequireTrain(name, job.opts.deploy);

	/* results must outlive SPI_finish: allocate in the caller's context */
	TrainContext = CurrentMemoryContext;
	SPI_connect();
	MemoryContextSwitchTo(TrainContext);
	TrainJobPrepare(&job, query ? InvalidOid : PG_GETARG_OID(2), query);
	TrainJobFit(&job, job.spec);
	SPI_finish();
	version = TrainJobStore(&job, &e);
	PG_RETURN_DATUM(TrainResultRow(fcinfo, &e, version));
}

/*
 * profenrich.train(name, algorithm, source, target, features, options)
 */
Datum
train(PG_FUNCTION_ARGS)
{
	return TrainEntry(fcinfo, false);
}

/*
 * profenrich.train_query(name, algorithm, query, target, features,
 * options): the same on the rows of a SELECT, run with the caller's
 * privileges
 */
Datum
train_query(PG_FUNCTION_ARGS)
{
	return TrainEntry(fcinfo, true);
}
