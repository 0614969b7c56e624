/*-------------------------------------------------------------------------
 * cv.c
 *	  Model selection: profenrich.cross_validate() and profenrich.tune().
 *
 * A fold is a training like any other whose spec says which fold it holds
 * out (FeatureSpec.nfolds and fold): every trainer splits its rows through
 * FeatureSplitOf, which then drops the test split's rows and makes the
 * fold the "test" split, so that the trainer's test metrics are the fold's
 * validation metrics.  Folds partition the training split by the same key
 * hash (or, without a key, the same hash of each row's values) as the
 * split, its high 32 bits; the test split stays out of every fold, for the
 * final model's held-out metrics.  A fold trains in memory and is never
 * stored: cross_validate() writes nothing, tune() stores one training, of
 * the options it chose.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "registry.h"
#include "trainer.h"

PG_FUNCTION_INFO_V1(cross_validate);
PG_FUNCTION_INFO_V1(tune);

#define MAX_GRID_POINTS 1000

/* The folds of one cross-validation: each fold's validation metrics */
typedef struct FoldResults
{
	int			nfolds;
	Jsonb	  **metrics;		/* the "test" object of each fold's training */
	double	   *n_train;
} FoldResults;

/* Refuse an algorithm cross-validation cannot run: one without a target or a feature spec */
static void
RequireTarget(const AlgorithmOps *ops, const char *function)
{
	if (!(ops->flags & ALG_FEATURES) || (ops->targets & TARGET_NONE))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s needs an algorithm with a target, and \"%s\" has none", function,
						ops->name),
				 errhint("Cross-validate algorithms that predict a target column, such as 'linear' or 'logistic'.")));
}

/* The folds argument: 2 to FEATURE_MAX_FOLDS */
static int
FoldsArg(FunctionCallInfo fcinfo, int argno)
{
	int			k = PG_ARGISNULL(argno) ? 5 : PG_GETARG_INT32(argno);

	if (k < 2 || k > FEATURE_MAX_FOLDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("folds must be between 2 and %d, not %d", FEATURE_MAX_FOLDS, k),
				 errhint("Use 5 or 10 folds.")));
	return k;
}

/* The member key of a jsonb object, or NULL */
static JsonbValue *
Member(Jsonb *j, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&j->root, JB_FOBJECT, &k);
}

/*
 * Train every fold of a prepared job in memory, each on a copy of spec in
 * a context of its own, quietly; the folds' validation metrics are kept
 * in the caller's context.
 */
static void
RunFolds(TrainJob *job, const FeatureSpec *spec, int nfolds, FoldResults *out)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext saved = TrainContext;

	out->nfolds = nfolds;
	out->metrics = palloc(sizeof(Jsonb *) * nfolds);
	out->n_train = palloc(sizeof(double) * nfolds);
	for (int f = 0; f < nfolds; f++)
	{
		MemoryContext fold = AllocSetContextCreate(caller, "profenrich fold", ALLOCSET_DEFAULT_SIZES);
		FeatureSpec *fs;
		Jsonb	   *all;
		JsonbValue *test;

		CHECK_FOR_INTERRUPTS();
		TrainContext = fold;
		MemoryContextSwitchTo(fold);
		fs = FeatureSpecCopy(spec);
		fs->nfolds = nfolds;
		fs->fold = f;
		job->quiet = true;
		TrainJobFit(job, fs);
		all = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(job->metrics.data)));
		test = Member(all, "test");
		if (test == NULL || test->type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("fold %d of %d holds no rows to validate on", f + 1, nfolds),
					 errhint("Use fewer folds, or more rows.")));
		MemoryContextSwitchTo(caller);
		out->metrics[f] = JsonbValueToJsonb(test);
		out->n_train[f] = job->n_train;
		TrainContext = saved;
		MemoryContextDelete(fold);
	}
	job->quiet = false;
}

/* A number member of a fold's metrics, NaN when absent or not a number */
static double
MetricOf(Jsonb *j, const char *key)
{
	JsonbValue *v = Member(j, key);

	if (v == NULL || v->type != jbvNumeric)
		return get_float8_nan();
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

/*
 * The mean and the standard deviation (population: as scikit-learn's
 * cv_results_ report them) of one metric over the folds
 */
static void
MeanSd(const FoldResults *r, const char *key, double *mean, double *sd)
{
	double		s = 0,
				ss = 0;

	for (int f = 0; f < r->nfolds; f++)
		s += MetricOf(r->metrics[f], key);
	*mean = s / r->nfolds;
	for (int f = 0; f < r->nfolds; f++)
	{
		double		d = MetricOf(r->metrics[f], key) - *mean;

		ss += d * d;
	}
	*sd = sqrt(ss / r->nfolds);
}

/* Append a JSON number, null for NaN or infinity */
static void
JsonNum(StringInfo out, double v)
{
	appendStringInfoString(out, isfinite(v) ? float8out_internal(v) : "null");
}

/*
 * The summary of the folds: {"mean": {metric: ...}, "sd": {...}, "folds": k},
 * over every number of the first fold's metrics
 */
static char *
Summary(const FoldResults *r)
{
	StringInfoData mean,
				sd,
				out;
	JsonbIterator *it = JsonbIteratorInit(&r->metrics[0]->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	initStringInfo(&mean);
	initStringInfo(&sd);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && key != NULL && v.type == jbvNumeric)
		{
			double		m,
						s;

			MeanSd(r, key, &m, &s);
			appendStringInfoString(&mean, mean.len ? ", " : "");
			escape_json(&mean, key);
			appendStringInfoString(&mean, ": ");
			JsonNum(&mean, m);
			appendStringInfoString(&sd, sd.len ? ", " : "");
			escape_json(&sd, key);
			appendStringInfoString(&sd, ": ");
			JsonNum(&sd, s);
		}
	}
	initStringInfo(&out);
	appendStringInfo(&out, "{\"mean\": {%s}, \"sd\": {%s}, \"folds\": %d}", mean.data, sd.data,
					 r->nfolds);
	return out.data;
}

/* A fold's row of cross_validate(): its validation metrics and training rows */
static Datum
FoldMetrics(const FoldResults *r, int f)
{
	StringInfoData out;
	char	   *text = JsonbToCString(NULL, &r->metrics[f]->root, VARSIZE(r->metrics[f]));

	initStringInfo(&out);
	/* {"auc": ..., ...} with the fold's n_train appended */
	appendBinaryStringInfo(&out, text, strlen(text) - 1);
	appendStringInfo(&out, ", \"n_train\": %.0f}", r->n_train[f]);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

/*
 * cross_validate(algorithm, source, target, features DEFAULT NULL,
 * options DEFAULT '{}', folds DEFAULT 5) returns table(fold int, metrics
 * jsonb): each fold's validation metrics (the trainer's test metrics with
 * that fold held out), then a row with fold NULL holding their mean and
 * standard deviation.  Nothing is written to the registry.
 */
Datum
cross_validate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const AlgorithmOps *ops;
	TrainJob	job;
	FoldResults r;
	int			nfolds;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("algorithm and source must not be NULL"),
				 errhint("Call profenrich.cross_validate('logistic', 'profiles', 'churned').")));
	ops = TrainAlgorithm(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	RequireTarget(ops, "cross_validate");
	nfolds = FoldsArg(fcinfo, 5);
	InitMaterializedSRF(fcinfo, 0);
	TrainJobInit(&job, "(cross-validation)", ops, PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4),
				 PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)),
				 PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3));
	TrainContext = CurrentMemoryContext;
	SPI_connect();
	MemoryContextSwitchTo(TrainContext);
	TrainJobPrepare(&job, PG_GETARG_OID(1), NULL);
	RunFolds(&job, job.spec, nfolds, &r);
	SPI_finish();
	MemoryContextSwitchTo(TrainContext);
	for (int f = 0; f <= nfolds; f++)
	{
		Datum		values[2];
		bool		nulls[2] = {f == nfolds, false};

		values[0] = Int32GetDatum(f + 1);
		values[1] = f < nfolds ? FoldMetrics(&r, f) :
			DirectFunctionCall1(jsonb_in, CStringGetDatum(Summary(&r)));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* The grid: its keys and, per key, the values to try */
typedef struct Grid
{
	int			nkeys;
	char	  **keys;
	int		   *nvalues;
	char	 ***values;			/* each value as JSON text */
	int			npoints;		/* the cross product's size */
} Grid;

/* A JSON value of a jsonb iterator as text */
static char *
ValueText(JsonbValue *v)
{
	Jsonb	   *j = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &j->root, VARSIZE(j));
}

/* Refuse a grid that is not an object of non-empty arrays */
static void
BadGrid(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid grid: %s", why),
			 errhint("Pass an object of option values to try, such as '{\"l2\": [0, 0.1, 1, 10]}'; several keys make their cross product.")));
}

/* Read the grid argument: an object whose members are non-empty arrays of option values */
static void
ParseGrid(Jsonb *grid, Grid *g)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;

	memset(g, 0, sizeof(Grid));
	if (!JB_ROOT_IS_OBJECT(grid) || JB_ROOT_IS_SCALAR(grid))
		BadGrid("it is not an object");
	g->keys = palloc(sizeof(char *) * Max(JB_ROOT_COUNT(grid), 1));
	g->nvalues = palloc0(sizeof(int) * Max(JB_ROOT_COUNT(grid), 1));
	g->values = palloc0(sizeof(char **) * Max(JB_ROOT_COUNT(grid), 1));
	it = JsonbIteratorInit(&grid->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
		{
			if (++depth == 2 && tok != WJB_BEGIN_ARRAY)
				BadGrid(psprintf("the values of \"%s\" are not an array", g->keys[g->nkeys - 1]));
			if (depth == 2)
				g->values[g->nkeys - 1] = palloc(sizeof(char *) * Max(v.val.array.nElems, 1));
			if (depth > 2)
				BadGrid("option values must be scalars");
		}
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			depth--;
		else if (tok == WJB_KEY && depth == 1)
			g->keys[g->nkeys++] = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && depth == 1)
			BadGrid(psprintf("the values of \"%s\" are not an array", g->keys[g->nkeys - 1]));
		else if (tok == WJB_ELEM && depth == 2)
			g->values[g->nkeys - 1][g->nvalues[g->nkeys - 1]++] = ValueText(&v);
	}
	if (g->nkeys == 0)
		BadGrid("it is empty");
	g->npoints = 1;
	for (int k = 0; k < g->nkeys; k++)
	{
		if (g->nvalues[k] == 0)
			BadGrid(psprintf("\"%s\" has no values", g->keys[k]));
		if ((double) g->npoints * g->nvalues[k] > MAX_GRID_POINTS)
			BadGrid(psprintf("it has more than %d points", MAX_GRID_POINTS));
		g->npoints *= g->nvalues[k];
	}
}

/* Grid point p as an options object (the first key varies slowest) */
static char *
PointJson(const Grid *g, int p)
{
	StringInfoData out;
	int			stride = g->npoints;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	for (int k = 0; k < g->nkeys; k++)
	{
		stride /= g->nvalues[k];
		appendStringInfoString(&out, k ? ", " : "");
		escape_json(&out, g->keys[k]);
		appendStringInfo(&out, ": %s", g->values[k][(p / stride) % g->nvalues[k]]);
	}
	appendStringInfoChar(&out, '}');
	return out.data;
}

/* Does a grid change the feature spec (so that each point prepares its own)? */
static bool
GridChangesSpec(const Grid *g)
{
	static const char *const spec_keys[] = {"test_fraction", "key", "seed", "impute",
	"max_categories", "unseen", "on_bad_row", "positive"};

	for (int k = 0; k < g->nkeys; k++)
		for (int i = 0; i < (int) lengthof(spec_keys); i++)
			if (strcmp(g->keys[k], spec_keys[i]) == 0)
				return true;
	return false;
}

/* options || point, as jsonb */
static Jsonb *
MergeOptions(Jsonb *options, const char *point)
{
	Datum		p = DirectFunctionCall1(jsonb_in, CStringGetDatum(point));

	if (options == NULL)
		return DatumGetJsonbP(p);
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(options), p));
}

/* The arguments of tune() */
typedef struct TuneArgs
{
	char	   *name;
	const AlgorithmOps *ops;
	Oid			relid;
	char	   *target;
	ArrayType  *features;
	Jsonb	   *options;
	int			nfolds;
	int			points;			/* the grid points cross-validated so far */
	bool		classifier;		/* their models are scored by log loss, else RMSE */
} TuneArgs;

/*
 * Cross-validate one grid point; its mean metric and sd, and in *spec_out
 * its prepared job (before its folds ran)
 */
static void
TunePoint(TuneArgs *a, const char *point, TrainJob *base, bool own_spec, double *metric,
		  double *sd, TrainJob *spec_out)
{
	TrainJob	job;
	FoldResults r;
	bool		classifier;

	TrainJobInit(&job, a->name, a->ops, MergeOptions(a->options, point), a->target, a->features);
	if (own_spec || base->spec == NULL)
	{
		job.quiet = base->spec != NULL;	/* the guards speak once, for the first point */
		TrainJobPrepare(&job, a->relid, NULL);
		job.quiet = false;
		if (base->spec == NULL)
			*base = job;
	}
	else
		TrainJobAdopt(&job, base);
	*spec_out = job;
	RunFolds(&job, job.spec, a->nfolds, &r);
	/* a classifier's folds have a log loss (logistic, multinomial, a gbdt of classes), else RMSE */
	classifier = Member(r.metrics[0], "logloss") != NULL;
	if (a->points++ > 0 && classifier != a->classifier)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the grid's points train models scored by different metrics (log loss and RMSE)"),
				 errhint("Keep the options that make a classifier or a regression (such as \"objective\") out of the grid.")));
	a->classifier = classifier;
	MeanSd(&r, a->classifier ? "logloss" : "rmse", metric, sd);
}

/*
 * tune(name, algorithm, source, target, features DEFAULT NULL, options
 * DEFAULT '{}', grid, folds DEFAULT 5) returns table(params jsonb, metric
 * float8, sd float8, chosen boolean): every point of the grid (the cross
 * product of its keys' values, each merged into options) cross-validated
 * by log loss (classifiers) or RMSE (regressions); the point of least mean
 * (the first on ties) is trained once more on the whole training split and
 * stored as the next version of name, the only registry write.
 */
Datum
tune(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TuneArgs	a;
	Grid		g;
	TrainJob	base,
				final;
	RegistryEntry e;
	double	   *metric,
			   *sd;
	TrainJob   *specs;
	int			best = -1;
	bool		own_spec;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("name, algorithm and source must not be NULL"),
				 errhint("Call profenrich.tune('churn', 'logistic', 'profiles', 'churned', grid => '{\"l2\": [0.1, 1, 10]}').")));
	if (PG_ARGISNULL(6))
		BadGrid("it is NULL");
	a.name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TrainCheckName(a.name);
	a.ops = TrainAlgorithm(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	RequireTarget(a.ops, "tune");
	a.relid = PG_GETARG_OID(2);
	a.target = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	a.features = PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4);
	a.options = PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5);
	a.nfolds = FoldsArg(fcinfo, 7);
	a.classifier = false;
	a.points = 0;
	ParseGrid(PG_GETARG_JSONB_P(6), &g);
	own_spec = GridChangesSpec(&g);
	InitMaterializedSRF(fcinfo, 0);
	metric = palloc(sizeof(double) * g.npoints);
	sd = palloc(sizeof(double) * g.npoints);
	specs = palloc(sizeof(TrainJob) * g.npoints);
	/* every point's options parse (an unknown key is an error) before any training */
	for (int p = 0; p < g.npoints; p++)
		TrainJobInit(&final, a.name, a.ops, MergeOptions(a.options, PointJson(&g, p)), a.target,
					 a.features);
	RegistryRequireTrain(a.name, final.opts.deploy);

	TrainContext = CurrentMemoryContext;
	SPI_connect();
	MemoryContextSwitchTo(TrainContext);
	memset(&base, 0, sizeof(base));
	for (int p = 0; p < g.npoints; p++)
	{
		TunePoint(&a, PointJson(&g, p), &base, own_spec, &metric[p], &sd[p], &specs[p]);
		if (isfinite(metric[p]) && (best < 0 || metric[p] < metric[best]))
			best = p;
	}
	if (best < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no grid point has a finite cross-validated %s", a.classifier ? "log loss" : "RMSE"),
				 errhint("Check the target and the grid's values.")));
	/* the chosen options, trained once on the whole training split */
	TrainJobInit(&final, a.name, a.ops, MergeOptions(a.options, PointJson(&g, best)), a.target,
				 a.features);
	final.fcinfo = fcinfo;
	TrainJobAdopt(&final, &specs[best]);
	TrainJobFit(&final, final.spec);
	SPI_finish();
	MemoryContextSwitchTo(TrainContext);
	TrainJobStore(&final, &e);
	for (int p = 0; p < g.npoints; p++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, !isfinite(metric[p]), !isfinite(sd[p]), false};

		values[0] = DirectFunctionCall1(jsonb_in, CStringGetDatum(PointJson(&g, p)));
		values[1] = Float8GetDatum(metric[p]);
		values[2] = Float8GetDatum(sd[p]);
		values[3] = BoolGetDatum(p == best);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
