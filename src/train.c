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

#include "registry.h"
#include "trainer.h"

PG_FUNCTION_INFO_V1(train);

/*
 * Resolve the target column and let the family check it: the argument
 * must be given, name a column, and be of a type a model can read.
 */
static void
ResolveTarget(TrainJob *job)
{
	FunctionCallInfo fcinfo = job->fcinfo;
	AttrNumber	att;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("algorithm \"%s\" needs a target column", job->ops->name),
				 errhint("Pass the column to predict as the target argument.")));
	job->spec->target = text_to_cstring(PG_GETARG_TEXT_PP(3));
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
		return SourcePrimaryKey(job->src.relid);
	if (SourceColumn(&job->src, job->opts.key) == 0)
		SourceNoColumn(&job->src, job->opts.key, "key");
	return job->opts.key;
}

/*
 * The feature spec of a feature-spec algorithm: target, key, split,
 * imputation, features (checked for privileges), vocabularies (with the
 * level counts of the training baseline), layout.
 */
static void
PrepareSpec(TrainJob *job)
{
	FunctionCallInfo fcinfo = job->fcinfo;
	FeatureSpec *spec = palloc0(sizeof(FeatureSpec));

	job->spec = spec;
	if (job->ops->targets & TARGET_NONE)
	{
		if (!PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("algorithm \"%s\" takes no target", job->ops->name),
					 errhint("Pass NULL as the target.")));
	}
	else
		ResolveTarget(job);
	spec->key = ResolveKey(job);
	spec->test_fraction = job->opts.test_fraction;
	spec->seed = (uint64) job->opts.seed;
	spec->impute = job->opts.impute;
	SourceResolveFeatures(spec, &job->src, PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4));
	CheckPrivileges(spec, &job->src);
	job->level_counts = SourceLearnVocabularyCounts(spec, &job->src, job->opts.max_categories);
	FeatureSpecLayout(spec);
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

/* Check the name, algorithm and source arguments; the algorithm's operations */
static const AlgorithmOps *
CheckNameAndAlgorithm(FunctionCallInfo fcinfo, char **name)
{
	char	   *algorithm;
	const AlgorithmOps *ops;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("name, algorithm and source must not be NULL"),
				 errhint("Call profenrich.train('model name', 'linear', 'table').")));
	*name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	algorithm = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if ((*name)[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty"),
				 errhint("Choose a short name such as 'churn'.")));
	if (strlen(*name) > MODEL_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("model name \"%s\" is %d bytes long, more than the %d a model name may have",
						*name, (int) strlen(*name), MODEL_NAME_MAX),
				 errdetail("enrich() names the columns it writes after the model (<model>_score, <model>_factors, ...), and they must fit PostgreSQL's 63-byte identifiers."),
				 errhint("Choose a name of at most %d bytes.", MODEL_NAME_MAX)));
	ops = AlgorithmByName(algorithm);
	if (ops == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown algorithm \"%s\"", algorithm),
				 errhint("Available algorithms: %s.", AlgorithmNames())));
	return ops;
}

/*
 * profenrich.train(name, algorithm, source, target, features, options)
 */
Datum
train(PG_FUNCTION_ARGS)
{
	TrainJob	job;
	RegistryEntry e;
	char	   *name;
	int			version;

	memset(&job, 0, sizeof(job));
	job.fcinfo = fcinfo;
	job.ops = CheckNameAndAlgorithm(fcinfo, &name);
	job.name = name;
	TrainOptionsParse(PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5), job.ops, &job.opts,
					  &job.algopts);
	RegistryRequireTrain(name, job.opts.deploy);
	SourceOpen(PG_GETARG_OID(2), &job.src);
	job.model.ops = job.ops;
	job.model.threshold = 0.5;
	initStringInfo(&job.metrics);
	appendStringInfoChar(&job.metrics, '{');

	/* results must outlive SPI_finish: allocate in the caller's context */
	TrainContext = CurrentMemoryContext;
	SPI_connect();
	MemoryContextSwitchTo(TrainContext);
	if (job.ops->flags & ALG_FEATURES)
	{
		PrepareSpec(&job);
		job.model.spec = job.spec;
	}
	job.ops->train(&job);
	if (job.ops->flags & ALG_FEATURES)
	{
		JsonField(&job.metrics, "n_train", job.n_train);
		JsonField(&job.metrics, "n_test", job.n_test);
		JsonField(&job.metrics, "n_skipped", job.n_skipped);
	}
	appendStringInfoChar(&job.metrics, '}');
	SPI_finish();

	e.name = job.name;
	e.algorithm = job.ops->name;
	e.source = job.src.qualname;
	e.target = job.model.spec->target;
	e.features_json = FeatureSpecToJson(job.model.spec);
	e.options_json = OptionsJson(&job);
	e.metrics_json = job.metrics.data;
	e.n_train = (int64) job.n_train;
	e.n_test = (int64) job.n_test;
	e.params = ModelSerialize(&job.model);
	e.deploy = job.opts.deploy;
	version = RegistryInsert(&e);
	if (job.ops->stored)
		job.ops->stored(&job, version);
	PG_RETURN_DATUM(TrainResultRow(fcinfo, &e, version));
}
