/*-------------------------------------------------------------------------
 * train_multinomial.c
 *	  The 'multinomial' trainer: its options, the class target, and the fit,
 *	  in memory when the encoded rows fit profenrich.max_train_memory (read
 *	  once, iterate there) or else by one SQL pass of
 *	  profenrich.multinomial_step per iteration.  Both paths give the same
 *	  model.
 *
 * The classes are the target's distinct values (2 to 100), as text, in
 * sort order: text in byte order, integers and booleans by value, enums in
 * their declared order; the load learns them as it reads the rows (a
 * source without a key is asked for them first).  The
 * first is the reference, as in R's nnet::multinom.  Every class needs
 * training rows.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "baseline.h"
#include "dataset.h"
#include "glm.h"
#include "metrics.h"
#include "model_multinomial.h"
#include "multinomial.h"
#include "profenrich.h"
#include "trainer.h"

typedef enum MultinomialSolver
{
	SOLVER_AUTO = 0,
	SOLVER_NEWTON = 1,
	SOLVER_LBFGS = 2
} MultinomialSolver;

/* The options of 'multinomial' */
typedef struct MultinomialTrainOptions
{
	double		l2;				/* ridge penalty on standardized slots */
	bool		balanced;		/* class_weight "balanced" */
	Jsonb	   *class_weight;	/* class_weight object, or NULL */
	int			max_iter;		/* 0: the solver's default */
	double		tol;
	MultinomialSolver solver;
} MultinomialTrainOptions;

#define MN_OPTIONS(job) ((MultinomialTrainOptions *) (job)->algopts)
#define MN(job) ((MultinomialModel *) (job)->model.body)

#define NEWTON_MAX_ITER 50
#define LBFGS_MAX_ITER 1000
#define PROGRESS_MS 5000

static const char *const SolverNames[] = {"auto", "newton", "lbfgs"};

/* Defaults of the options of 'multinomial' */
void *
MultinomialOptionsNew(const AlgorithmOps *ops)
{
	MultinomialTrainOptions *o = palloc0(sizeof(MultinomialTrainOptions));

	o->l2 = 0.0;
	o->max_iter = 0;
	o->tol = 1e-8;
	o->solver = SOLVER_AUTO;
	return o;
}

/* One option of 'multinomial'; false for a key it does not take */
bool
MultinomialOption(void *opts, const char *key, JsonbValue *v)
{
	MultinomialTrainOptions *o = (MultinomialTrainOptions *) opts;

	if (strcmp(key, "l2") == 0)
		o->l2 = OptionPenalty(key, v);
	else if (strcmp(key, "class_weight") == 0)
		o->balanced = OptionClassWeight(key, v, "{\"loyal\": 2, \"dormant\": 0.5}",
										&o->class_weight);
	else if (strcmp(key, "max_iter") == 0)
		o->max_iter = OptionInteger(key, v, 1, 10000);
	else if (strcmp(key, "tol") == 0)
		o->tol = OptionTolerance(key, v);
	else if (strcmp(key, "solver") == 0)
	{
		char	   *s = OptionString(key, v, "\"auto\", \"newton\" or \"lbfgs\"");
		int			i;

		for (i = 0; i < (int) lengthof(SolverNames); i++)
			if (strcmp(s, SolverNames[i]) == 0)
				break;
		if (i == (int) lengthof(SolverNames))
			OptionError(key, "\"auto\", \"newton\" or \"lbfgs\"");
		o->solver = (MultinomialSolver) i;
	}
	else
		return false;
	return true;
}

/* The effective options of 'multinomial', as members of a JSON object */
void
MultinomialOptionsJson(StringInfo out, const void *opts)
{
	const MultinomialTrainOptions *o = (const MultinomialTrainOptions *) opts;

	appendStringInfo(out, "%s\"l2\": %s, \"tol\": %s, \"solver\": \"%s\", \"max_iter\": ",
					 out->data[out->len - 1] == '{' ? "" : ", ", float8out_internal(o->l2),
					 float8out_internal(o->tol), SolverNames[o->solver]);
	if (o->max_iter > 0)
		appendStringInfo(out, "%d", o->max_iter);
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ", \"class_weight\": ");
	if (o->balanced)
		appendStringInfoString(out, "\"balanced\"");
	else if (o->class_weight)
		appendStringInfoString(out, JsonbToCString(NULL, &o->class_weight->root,
												   VARSIZE(o->class_weight)));
	else
		appendStringInfoString(out, "null");
}

/* Up to ten labels, quoted, for hints */
static char *
LabelList(int n, char **labels)
{
	StringInfoData out;

	initStringInfo(&out);
	for (int k = 0; k < n && k < 10; k++)
		appendStringInfo(&out, "%s\"%s\"", k == 0 ? "" : k == n - 1 ? " and " : ", ", labels[k]);
	if (n > 10)
		appendStringInfo(&out, " and %d more", n - 10);
	return out.data;
}

/* The number of distinct non-NULL values of the target, for the error beyond 100 */
static int64
DistinctCount(const TrainJob *job, const char *value)
{
	char	   *sql = psprintf("SELECT pg_catalog.count(DISTINCT %s) FROM %s", value,
							   job->src.from);
	bool		isnull;

	TrainQuery(sql, 0, NULL, NULL, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Refuse a target with fewer than 2 or more than 100 distinct values */
static void
CheckClassCount(const TrainJob *job, int64 n, char **labels)
{
	const char *t = job->spec->target;

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("target column \"%s\" is NULL in every row", t),
				 errhint("A class model needs a target with 2 to 100 distinct values.")));
	if (n == 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("target column \"%s\" has one class only", t),
				 errdetail("Every row with a target holds \"%s\".", labels[0]),
				 errhint("A class model needs a target with 2 to 100 distinct values; check the target and the source.")));
	if (n > MODEL_MAX_CLASSES)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("target column \"%s\" has " INT64_FORMAT " distinct values, more than the %d classes a model can have",
						t, n, MODEL_MAX_CLASSES),
				 errhint("Group the values into at most %d classes in a view, or train a regression if the target is a quantity.",
						 MODEL_MAX_CLASSES)));
}

/*
 * The class target: text, an enum, boolean or an integer column.  Its
 * classes (2 to 100 distinct values) are learned as the rows are loaded,
 * or asked of the source when the rows will not fit in memory.
 */
void
MultinomialTarget(TrainJob *job, FeatureKind kind)
{
	FeatureSpec *spec = job->spec;
	AttrNumber	att = SourceColumn(&job->src, spec->target);
	FeatureConv conv = ColumnConv(&job->src, att, "target");

	if (!FeatureClassConv(conv))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target column \"%s\" has type %s, which cannot be a class label",
						spec->target, format_type_be(TupleDescAttr(job->src.tupdesc, att - 1)->atttypid)),
				 errhint("Use a text, enum, boolean or integer target; cast a numeric one to integer or text in a view.")));
	spec->binary = false;
	spec->positive = NULL;
	spec->learn_classes = true;
}

/* The target as SQL: its text in byte order for text columns, else the column */
static char *
TargetValue(const TrainJob *job)
{
	AttrNumber	att = SourceColumn(&job->src, job->spec->target);
	FeatureConv conv = ColumnConv(&job->src, att, "target");
	const char *col = quote_identifier(job->spec->target);

	if (conv == CONV_TEXT || conv == CONV_BPCHAR)
		return psprintf("%s::pg_catalog.text COLLATE pg_catalog.\"C\"", col);
	return pstrdup(col);
}

/*
 * The model's classes (n labels in model order; more when the target has
 * still others): refuse fewer than 2 or more than 100, then set them in the
 * spec and the model
 */
static void
AdoptClasses(TrainJob *job, int n, char **labels, bool more)
{
	FeatureSpec *spec = job->spec;
	int64		count = more ? DistinctCount(job, TargetValue(job)) : n;

	CheckClassCount(job, count, labels);
	spec->learn_classes = false;
	spec->nclasses = n;
	spec->classes = labels;
	job->model.nclasses = n;
	job->model.classes = labels;
}

/* The classes asked of the source: its distinct target values in model order */
static void
ClassesByQuery(TrainJob *job)
{
	const char *col = quote_identifier(job->spec->target);
	char	   *sql = psprintf("SELECT v::pg_catalog.text FROM (SELECT DISTINCT %s AS v FROM %s WHERE %s IS NOT NULL) AS d "
							   "ORDER BY d.v LIMIT %d", TargetValue(job), job->src.from, col,
							   MODEL_MAX_CLASSES + 1);
	int			n;
	char	  **labels;

	TrainQuery(sql, 0, NULL, NULL, 0);
	n = (int) SPI_processed;
	labels = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		labels[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	AdoptClasses(job, Min(n, MODEL_MAX_CLASSES), labels, n > MODEL_MAX_CLASSES);
}

/* Refuse a training split with too few rows */
static void
CheckTrainingRows(const TrainJob *job, double n)
{
	if (n <= job->spec->nslots)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("too few usable rows in %s to train: %.0f training rows for %d slots",
						job->src.qualname, n, job->spec->nslots),
				 errhint("Train on more rows, fewer features, or a smaller test_fraction.")));
}

/* Refuse a class without training rows: its maximum likelihood intercept is minus infinity */
static void
CheckClassRows(const TrainJob *job, const MultinomialCounts *c)
{
	for (int k = 0; k < c->nclasses; k++)
		if (c->count[k] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("class \"%s\" of target column \"%s\" has no training rows",
							job->spec->classes[k], job->spec->target),
					 errdetail("Its rows are all in the test split, or were skipped for NULL features."),
					 errhint("Train on more rows of that class, a smaller test_fraction, or leave the class out in a view.")));
}

/*
 * Case weights by class: 1 each, "balanced" (n / (K n_k), as
 * scikit-learn), or an object of weights by label (the classes it does not
 * name weigh 1).
 */
static void
ClassWeights(const TrainJob *job, const MultinomialCounts *c, double *cw)
{
	int			nk = c->nclasses;
	double		n = 0;

	for (int k = 0; k < nk; k++)
	{
		cw[k] = 1.0;
		n += c->count[k];
	}
	if (MN_OPTIONS(job)->balanced)
		for (int k = 0; k < nk; k++)
			cw[k] = n / (nk * c->count[k]);
	else if (MN_OPTIONS(job)->class_weight)
		OptionClassWeights(MN_OPTIONS(job)->class_weight, nk, job->spec->classes,
						   LabelList(nk, job->spec->classes), cw);
}

/* The fit's options, the solver chosen by the number of parameters */
static MultinomialOptions
FitOptions(const TrainJob *job)
{
	const MultinomialTrainOptions *o = MN_OPTIONS(job);
	MultinomialOptions mo;
	int			np = (job->spec->nclasses - 1) * (job->spec->nslots + 1);

	mo.l2 = o->l2;
	mo.tol = o->tol;
	mo.newton = o->solver == SOLVER_NEWTON ||
		(o->solver == SOLVER_AUTO && np <= MULTINOMIAL_NEWTON_MAX_PARAMS);
	if (mo.newton && np > MULTINOMIAL_NEWTON_HARD_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("solver \"newton\" takes at most %d parameters, and this model has %d",
						MULTINOMIAL_NEWTON_HARD_MAX, np),
				 errdetail("(classes - 1) x (slots + 1) = %d x %d.", job->spec->nclasses - 1,
						   job->spec->nslots + 1),
				 errhint("Use \"solver\": \"lbfgs\" or \"auto\", or fewer features or categories.")));
	mo.max_iter = o->max_iter > 0 ? o->max_iter : mo.newton ? NEWTON_MAX_ITER : LBFGS_MAX_ITER;
	return mo;
}

/* Warn about a fit that stopped early */
static void
WarnFit(const TrainJob *job, const MultinomialState *st)
{
	if (st->separated)
		ereport(WARNING,
				(errmsg("the classes of \"%s\" are separated: the coefficients grow without bound",
						job->spec->target),
				 errdetail("Some feature, or combination of features, predicts a class (almost) perfectly; the maximum likelihood estimate does not exist. The fit was stopped with finite coefficients."),
				 errhint("Set the option \"l2\" (for example 1) for finite, stable coefficients, or remove the feature that leaks the target.")));
	else if (st->stalled)
		ereport(WARNING,
				(errmsg("multinomial regression stopped after %d iterations: the line search found no better coefficients",
						st->iterations),
				 errhint("Set \"l2\", or use \"solver\": \"newton\" for fewer parameters.")));
	else if (!st->converged)
		ereport(WARNING,
				(errmsg("multinomial regression did not converge in %d iterations", st->iterations),
				 errhint("Raise the option \"max_iter\", or set \"l2\".")));
}

/* A NOTICE at most every few seconds on a long fit */
static void
Progress(const TrainJob *job, const MultinomialState *st, const MultinomialSums *s,
		 TimestampTz *last, bool always)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!always && !TimestampDifferenceExceeds(*last, now, PROGRESS_MS))
		return;
	ereport(NOTICE,
			(errmsg("profenrich: multinomial iteration %d over %s, log-likelihood %.6g",
					st->iterations + 1, job->src.qualname, s->loglik_raw)));
	*last = now;
}

/*
 * The standard errors, z statistics and p values of the fitted model: the
 * variances of b from the inverse Hessian by the linear map back to the
 * original scale, class by class (b_kj = theta_kj / sd_j; the intercept's
 * row of the map is (1, -mean_j / sd_j))
 */
static void
FitInference(MultinomialModel *g, const MultinomialState *st, const double *mean,
			 const double *sd, const bool *slot_aliased)
{
	int			w = st->width,
				np = st->nparams;
	double	   *cov = palloc(sizeof(double) * np * np);
	double	   *t0 = palloc(sizeof(double) * w);

	MultinomialCovariance(st, cov);
	for (int a = 0; a < w; a++)
		t0[a] = a == 0 ? 1.0 : slot_aliased[a] ? 0.0 : -mean[a] / sd[a];
	g->se = palloc(sizeof(double) * np);
	g->stat = palloc(sizeof(double) * np);
	g->pval = palloc(sizeof(double) * np);
	for (int k = 0; k < st->nclasses - 1; k++)
		for (int i = 0; i < w; i++)
		{
			int			p = k * w + i;
			double		var = 0.0;

			if (i == 0)
			{
				for (int a = 0; a < w; a++)
					for (int c = 0; c < w; c++)
						var += t0[a] * cov[(k * w + a) * np + k * w + c] * t0[c];
			}
			else if (!slot_aliased[i])
				var = cov[p * np + p] / (sd[i] * sd[i]);
			g->se[p] = i > 0 && slot_aliased[i] ? get_float8_nan() : sqrt(var);
			g->stat[p] = g->coef[p] / g->se[p];
			g->pval[p] = isnan(g->stat[p]) ? get_float8_nan() : erfc(fabs(g->stat[p]) / M_SQRT2);
		}
	pfree(cov);
	pfree(t0);
}

/*
 * The fitted model on the original scale: for each class, b_kj = theta_kj /
 * sd_j and b_k0 = theta_k0 - sum_j b_kj mean_j, with their inference when
 * the fit has it (no penalty, Newton, not separated); the categories'
 * shares from the slot means.
 */
static void
FinishFit(TrainJob *job, const MultinomialState *st, const double *mean, const double *sd,
		  const bool *slot_aliased)
{
	MultinomialModel *g = MN(job);
	int			w = st->width;

	g->nclasses = st->nclasses;
	g->nslots = w - 1;
	g->coef = palloc0(sizeof(double) * st->nparams);
	g->aliased = palloc(sizeof(bool) * Max(w - 1, 1));
	g->slot_mean = palloc(sizeof(double) * Max(w - 1, 1));
	g->slot_sd = palloc(sizeof(double) * Max(w - 1, 1));
	g->rank = 1;
	for (int j = 1; j < w; j++)
	{
		g->aliased[j - 1] = slot_aliased[j];
		g->slot_mean[j - 1] = mean[j];
		g->slot_sd[j - 1] = sd[j];
		g->rank += slot_aliased[j] ? 0 : 1;
	}
	for (int k = 0; k < st->nclasses - 1; k++)
	{
		double	   *b = &g->coef[k * w];
		const double *t = &st->theta[k * w];

		b[0] = t[0];
		for (int j = 1; j < w; j++)
		{
			if (slot_aliased[j])
				continue;
			b[j] = t[j] / sd[j];
			b[0] -= b[j] * mean[j];
		}
	}
	g->has_inference = MN_OPTIONS(job)->l2 == 0 && st->newton && !st->separated &&
		st->hess_at_theta;
	if (g->has_inference)
		FitInference(g, st, mean, sd, slot_aliased);
	g->iterations = st->iterations;
	g->converged = st->converged;
	/* an unseen category under "average" takes the training split's shares */
	FeatureSetShares(job->spec, g->slot_mean);
}

/* The metrics of one split: the class metrics, its size, log-likelihood and AIC */
static void
SplitMetrics(TrainJob *job, const char *split, const double *probs, const int *label, int64 n,
			 double loglik, bool sampled, double nrows)
{
	StringInfo	out = &job->metrics;
	int			nparams = (job->spec->nclasses - 1) * MN(job)->rank;

	appendStringInfo(out, "%s\"%s\": {", out->data[out->len - 1] == '{' ? "" : ", ", split);
	MetricsMulticlassJson(out, probs, label, n, job->spec->nclasses, job->spec->classes);
	JsonField(out, "n", nrows);
	if (sampled)
		JsonField(out, "sample_rows", (double) n);
	JsonField(out, "log_likelihood", loglik);
	JsonField(out, "aic", -2.0 * loglik + 2.0 * nparams);
	appendStringInfoChar(out, '}');
}

/* Common tail: what does not depend on the path */
static void
FitSummary(TrainJob *job, const MultinomialState *st)
{
	JsonField(&job->metrics, "iterations", st->iterations);
	appendStringInfo(&job->metrics, ", \"converged\": %s, \"solver\": \"%s\"",
					 st->converged ? "true" : "false", st->newton ? "newton" : "lbfgs");
	JsonField(&job->metrics, "rank", MN(job)->rank);
}

/* The class indexes of a split in memory, in row order */
static int *
SplitLabels(const Dataset *d)
{
	int		   *label = MemoryContextAllocHuge(CurrentMemoryContext,
											   sizeof(int) * Max((Size) d->n, 1));
	int64		k = 0;

	for (int c = 0; c < d->nchunks; c++)
		for (int r = 0; r < d->chunks[c].rows; r++)
			label[k++] = (int) d->chunks[c].y[r];
	return label;
}

/* n x K doubles for a split's probabilities */
static double *
ProbsFor(double n, int nclasses)
{
	return MemoryContextAllocHuge(CurrentMemoryContext,
								  sizeof(double) * Max((Size) n, 1) * nclasses);
}

#define WARM_START_STRIDE 8		/* one chunk in eight */
#define WARM_START_TOL 1e-6
#define PRESTART_STRIDE 32		/* one chunk in 32, to start the warm start */
#define PRESTART_TOL 1e-4

/*
 * Newton on every stride-th chunk of the training rows, from start to the
 * tolerance tol, with the full data's aliasing and weights; false when the
 * fit is not usable (separated or not converged).  Its last Hessian (at
 * its end, or a step before it) approximates the full data's.
 */
static bool
SubsetFit(const Dataset *train, int stride, int nk, const double *cw, const bool *slot_aliased,
		  const double *start, const MultinomialOptions *opts, double tol, MultinomialState *ws)
{
	Dataset		sub = *train;
	MultinomialSums sums;
	MultinomialOptions wo = *opts;

	sub.chunks = palloc(sizeof(DataChunk) * (train->nchunks / stride + 1));
	sub.nchunks = 0;
	sub.n = 0;
	for (int c = stride / 2; c < train->nchunks; c += stride)
	{
		DatasetChunkReady(train, &train->chunks[c]);
		sub.chunks[sub.nchunks++] = train->chunks[c];
		sub.n += train->chunks[c].rows;
	}
	wo.tol = Max(opts->tol, tol);
	MultinomialStateInit(ws, nk, train->width, slot_aliased, start, true);
	MultinomialSumsInit(&sums, nk, train->width, true);
	do
		MultinomialPassInMemory(&sub, ws->next, cw, &sums, NULL);
	while (!MultinomialStep(ws, &sums, &wo));
	pfree(sub.chunks);
	MultinomialSumsFree(&sums);
	return ws->converged && !ws->separated;
}

/*
 * A warm start for large data: Newton on every eighth chunk of the
 * training rows to a loose tolerance (itself started, for very large
 * data, from a fit on one chunk in 32).  Its coefficients start the full
 * fit, and its Hessian, scaled to the full data's weight, takes the first
 * step, so the first full pass needs only the gradient.  False (nothing
 * set) when the data is small or the subsample fit is not usable.
 */
static bool
WarmStart(const Dataset *train, const MultinomialCounts *counts, const double *cw,
		  const bool *slot_aliased, const double *start, const MultinomialOptions *opts,
		  MultinomialState *st)
{
	MultinomialState pre,
				ws;
	double		full_weight = 0.0;
	int			nk = counts->nclasses;
	const double *from = start;

	if (!opts->newton || train->nchunks < 2 * WARM_START_STRIDE)
		return false;
	if (train->nchunks >= 2 * PRESTART_STRIDE &&
		SubsetFit(train, PRESTART_STRIDE, nk, cw, slot_aliased, start, opts, PRESTART_TOL, &pre))
		from = pre.theta;
	if (!SubsetFit(train, WARM_START_STRIDE, nk, cw, slot_aliased, from, opts, WARM_START_TOL, &ws))
		return false;
	for (int k = 0; k < nk; k++)
		full_weight += cw[k] * counts->count[k];
	for (int i = 0; i < ws.nparams * ws.nparams; i++)
		ws.sums.hess[i] *= full_weight / ws.sums.weight;
	MultinomialStateInit(st, nk, train->width, slot_aliased, ws.theta, true);
	MultinomialStateApproximate(st, ws.sums.hess);
	return true;
}

/* What a fit starts from, once the class counts and the Gram matrix are known */
typedef struct FitStart
{
	double		cw[MODEL_MAX_CLASSES];	/* class weights */
	bool	   *slot_aliased;	/* width: slots fixed at 0 */
	double	   *start;			/* (K - 1) x width: the intercepts of the class shares */
} FitStart;

/*
 * From the counts and Gram matrix of the training rows (and the slots'
 * scales): refuse a class without rows, then the class weights, the
 * aliased slots and the starting coefficients
 */
static void
PrepareStart(TrainJob *job, const MultinomialCounts *counts, const double *sd,
			 const MultinomialOptions *opts, FitStart *fs)
{
	int			w = counts->width;

	CheckClassRows(job, counts);
	ClassWeights(job, counts, fs->cw);
	fs->slot_aliased = palloc(sizeof(bool) * w);
	fs->start = palloc(sizeof(double) * (counts->nclasses - 1) * w);
	MultinomialFindAliased(counts, sd, fs->cw, opts->l2, FeatureInterceptAliasOrder(job->spec),
						   fs->slot_aliased);
	MultinomialStartTheta(counts, fs->cw, fs->start);
}

/*
 * The metrics of the splits in memory at the final coefficients: the test
 * split scored now, the training split from the probabilities of the last
 * pass (probs) when it was at them
 */
static void
InMemoryMetrics(TrainJob *job, LoadedData *data, MultinomialState *st, const double *cw,
				double *probs)
{
	Dataset    *train = &data->split[SPLIT_TRAIN];
	Dataset    *test = &data->split[SPLIT_TEST];
	int			nk = st->nclasses;
	MultinomialSums sums;
	int		   *labels;

	MultinomialSumsInit(&sums, nk, train->width, false);
	if (test->n > 0)
	{
		double	   *tp = ProbsFor(test->n, nk);

		labels = SplitLabels(test);
		MultinomialPassInMemory(test, st->theta, cw, &sums, tp);
		/* a held-out row takes no part in the training sums: its links may overflow */
		if (unlikely(!isfinite(sums.loglik_raw)))
			GlmRefuseLink(sums.loglik_raw);
		SplitMetrics(job, "test", tp, labels, (int64) test->n, sums.loglik_raw, false, test->n);
		pfree(tp);
		pfree(labels);
	}
	labels = SplitLabels(train);
	/* the last pass was at the final coefficients unless the last proposal was refused */
	if (memcmp(st->theta, st->next, sizeof(double) * st->nparams) != 0)
		MultinomialPassInMemory(train, st->theta, cw, &sums, probs);
	MN(job)->loglik = st->sums.loglik_raw;
	SplitMetrics(job, "train", probs, labels, (int64) train->n, st->sums.loglik_raw, false,
				 train->n);
	pfree(labels);
	MultinomialSumsFree(&sums);
}

/*
 * Iterate over the training split in memory: the counts and Gram pass,
 * then Newton (or L-BFGS) passes, each at the coefficients the last one
 * proposed, keeping the training rows' probabilities of the last pass for
 * the metrics.
 */
static void
FitInMemory(TrainJob *job, LoadedData *data, const MultinomialOptions *opts)
{
	Dataset    *train = &data->split[SPLIT_TRAIN];
	int			nk = job->spec->nclasses,
				w = train->width;
	double	   *mean = palloc(sizeof(double) * w);
	double	   *sd = palloc(sizeof(double) * w);
	FitStart	fs;
	MultinomialCounts counts;
	MultinomialState st;
	MultinomialSums with_h,
				without_h;
	double	   *probs = ProbsFor(train->n, nk);
	TimestampTz last = GetCurrentTimestamp();
	BaselineRows *sample;

	CheckTrainingRows(job, train->n);
	sample = BaselineRowsOfDataset(data);
	DatasetPrepare(data, job->spec, mean, sd);
	MultinomialCountsInit(&counts, nk, w);
	MultinomialCountsInMemory(train, &counts);
	PrepareStart(job, &counts, sd, opts, &fs);
	if (!WarmStart(train, &counts, fs.cw, fs.slot_aliased, fs.start, opts, &st))
		MultinomialStateInit(&st, nk, w, fs.slot_aliased, fs.start, opts->newton);
	MultinomialSumsInit(&with_h, nk, w, true);
	MultinomialSumsInit(&without_h, nk, w, false);
	for (;;)
	{
		MultinomialSums *s = MultinomialWantsHessian(&st) ? &with_h : &without_h;

		MultinomialPassInMemory(train, st.next, fs.cw, s, probs);
		if (MultinomialStep(&st, s, opts))
			break;
		Progress(job, &st, s, &last, false);
	}
	if (opts->newton && !st.hess_at_theta && !st.separated && opts->l2 == 0)
	{
		/* the fit ended on a pass without the Hessian: one more, for the standard errors */
		memcpy(st.next, st.theta, sizeof(double) * st.nparams);
		MultinomialPassInMemory(train, st.next, fs.cw, &with_h, probs);
		memcpy(st.sums.hess, with_h.hess, sizeof(double) * st.nparams * st.nparams);
		MultinomialSumsComplete(&st.sums);
		st.hess_at_theta = true;
	}
	WarnFit(job, &st);
	FinishFit(job, &st, mean, sd, fs.slot_aliased);
	InMemoryMetrics(job, data, &st, fs.cw, probs);
	TrainBaselineFromProbs(job, sample, 1, probs, (int64) train->n);
	pfree(probs);
	FitSummary(job, &st);
}

/* The parameters of a multinomial_step pass: mode, weights, slot means and sds, coefficients */
static Datum
StepParams(int mode, int nk, int w, const double *cw, const double *mean, const double *sd,
		   const double *theta)
{
	int			np = mode == 0 ? 0 : (nk - 1) * w;
	int			n = 1 + nk + 2 * w + np;
	Datum	   *p = palloc(sizeof(Datum) * n);
	int			i = 0;

	p[i++] = Float8GetDatum((double) mode);
	for (int k = 0; k < nk; k++)
		p[i++] = Float8GetDatum(cw ? cw[k] : 1.0);
	for (int j = 0; j < w; j++)
		p[i++] = Float8GetDatum(mean[j]);
	for (int j = 0; j < w; j++)
		p[i++] = Float8GetDatum(sd[j]);
	for (int j = 0; j < np; j++)
		p[i++] = Float8GetDatum(theta[j]);
	return PointerGetDatum(construct_array(p, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * One SQL pass of profenrich.multinomial_step over the source: mode 0
 * gives the class counts and Gram matrix, 1 the sums at theta, 2 with the
 * Hessian.  Returns the aggregate's bytes.
 */
static bytea *
StreamingPass(const TrainJob *job, int mode, const double *cw, const double *mean,
			  const double *sd, const double *theta)
{
	const FeatureSpec *spec = job->spec;
	List	   *cols = NeededColumns(spec);
	Oid			types[4] = {BYTEAOID, FLOAT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[4];
	Datum	   *labels = palloc(sizeof(Datum) * spec->nclasses);
	char	   *sql = psprintf("SELECT profenrich.multinomial_step($1, $2, $3, $4, %s) FROM %s",
							   PassArguments(spec, &job->src, cols, 4, true, 0), job->src.from);
	bool		isnull;
	Datum		d;

	for (int k = 0; k < spec->nclasses; k++)
		labels[k] = CStringGetTextDatum(spec->classes[k]);
	values[0] = PointerGetDatum(SpecBytes(spec));
	values[1] = StepParams(mode, spec->nclasses, spec->nslots + 1, cw, mean, sd, theta);
	values[2] = PointerGetDatum(construct_array(labels, spec->nclasses, TEXTOID, -1, false,
												TYPALIGN_INT));
	values[3] = ColumnNames(cols);
	TrainQuery(sql, 4, types, values, 0);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "multinomial_step returned no rows");
	return DatumGetByteaPP(d);
}

/* The sums of one streaming pass at theta */
static void
StreamingSums(const TrainJob *job, bool hessian, const double *cw, const double *mean,
			  const double *sd, const double *theta, MultinomialSums *out)
{
	MultinomialSumsFromBytes(StreamingPass(job, hessian ? 2 : 1, cw, mean, sd, theta), out);
}

/* Probabilities of a split's sampled rows (NULLs imputed, standardized), and their labels */
static double *
ScoreSample(const RowSample *s, const FeatureSpec *spec, const double *mean, const double *sd,
			const MultinomialState *st, int **labels)
{
	int			w = spec->nslots + 1,
				nk = spec->nclasses;
	double	   *probs = palloc(sizeof(double) * Max(s->count, 1) * nk);
	double	   *x = palloc(sizeof(double) * w);
	double		eta[MODEL_MAX_CLASSES];

	*labels = palloc(sizeof(int) * Max(s->count, 1));
	for (int r = 0; r < s->count; r++)
	{
		const double *row = &s->rows[(size_t) r * s->width];

		x[0] = 1.0;
		for (int i = 0; i < spec->ncolumns; i++)
		{
			const FeatureColumn *c = &spec->columns[i];

			for (int k = 0; k < c->nslots; k++)
			{
				int			j = 1 + c->first_slot + k;
				double		v = row[j - 1];

				if (isnan(v))
					v = c->impute;
				x[j] = sd[j] > 0 ? (v - mean[j]) / sd[j] : 0.0;
			}
		}
		eta[0] = 0.0;
		for (int k = 1; k < nk; k++)
		{
			eta[k] = 0.0;
			for (int j = 0; j < w; j++)
				eta[k] += st->theta[(k - 1) * w + j] * x[j];
			if (unlikely(!isfinite(eta[k])))
				GlmRefuseLink(eta[k]);
		}
		MultinomialSoftmax(eta, nk, &probs[(size_t) r * nk]);
		(*labels)[r] = (int) row[spec->nslots];
		if ((*labels)[r] < 0 || (*labels)[r] >= nk)
			elog(ERROR, "sampled class index %d out of range", (*labels)[r]);
	}
	pfree(x);
	return probs;
}

/*
 * The slots' training means and population standard deviations from the
 * statistics pass, NULLs imputed with the training means; a constant slot
 * gets sd 0 (it is aliased)
 */
static void
StreamingScales(LinearStats *ls, FeatureSpec *spec, double *mean, double *sd)
{
	int			w = spec->nslots + 1;
	double		n = ls->mom[SPLIT_TRAIN].n;
	int		   *miss_slot = MissSlots(spec);
	XYStats		xy;

	GlmImputedStats(&ls->mom[SPLIT_TRAIN], spec->nslots, spec->nnumeric, miss_slot,
					ImputeMeans(ls, spec, miss_slot), &xy);
	mean[0] = 0.0;
	sd[0] = 1.0;
	for (int j = 1; j < w; j++)
	{
		mean[j] = xy.xmean[j - 1];
		sd[j] = sqrt(Max(xy.cxx[(j - 1) * spec->nslots + (j - 1)], 0.0) / n);
		if (!(sd[j] > 1e-12 * Max(fabs(mean[j]), 1e-300)))
			sd[j] = 0.0;
	}
}

/* The streaming split metrics, on the statistics pass's row samples */
static void
StreamingMetrics(TrainJob *job, LinearStats *ls, const double *mean, const double *sd,
				 const MultinomialState *st)
{
	int		   *labels;
	double	   *probs;

	if (ls->mom[SPLIT_TEST].n > 0)
	{
		probs = ScoreSample(&ls->sample[SPLIT_TEST], job->spec, mean, sd, st, &labels);
		SplitMetrics(job, "test", probs, labels, ls->sample[SPLIT_TEST].count, get_float8_nan(),
					 true, ls->mom[SPLIT_TEST].n);
	}
	probs = ScoreSample(&ls->sample[SPLIT_TRAIN], job->spec, mean, sd, st, &labels);
	SplitMetrics(job, "train", probs, labels, ls->sample[SPLIT_TRAIN].count, MN(job)->loglik,
				 true, ls->mom[SPLIT_TRAIN].n);
	{
		BaselineRows sets[2];

		BaselineRowsOfSamples(ls, sets);
		TrainBaselineFromProbs(job, sets, 2, probs, ls->sample[SPLIT_TRAIN].count);
	}
}

/*
 * Streaming: one linear_stats pass for the counts, imputation means, slot
 * scales and row samples (the target read as its class number), one
 * multinomial_step pass for the class counts and Gram matrix, then one
 * multinomial_step pass per iteration.
 */
static void
FitStreaming(TrainJob *job, const MultinomialOptions *opts)
{
	FeatureSpec *spec = job->spec;
	LinearStats *ls = RunStatsPass(spec, &job->src);
	int			w = spec->nslots + 1;
	double	   *mean = palloc0(sizeof(double) * w);
	double	   *sd = palloc(sizeof(double) * w);
	FitStart	fs;
	MultinomialCounts counts;
	MultinomialState st;
	MultinomialSums sums;
	TimestampTz last = GetCurrentTimestamp();

	CheckRowCount(ls, spec, &job->src);
	StreamingScales(ls, spec, mean, sd);
	MultinomialCountsFromBytes(StreamingPass(job, 0, NULL, mean, sd, NULL), &counts);
	PrepareStart(job, &counts, sd, opts, &fs);
	MultinomialStateInit(&st, spec->nclasses, w, fs.slot_aliased, fs.start, opts->newton);
	for (;;)
	{
		bool		done;

		StreamingSums(job, MultinomialWantsHessian(&st), fs.cw, mean, sd, st.next, &sums);
		Progress(job, &st, &sums, &last, false);
		done = MultinomialStep(&st, &sums, opts);
		MultinomialSumsFree(&sums);
		if (done)
			break;
	}
	if (opts->newton && !st.hess_at_theta && !st.separated && opts->l2 == 0)
	{
		/* the fit ended on a pass without the Hessian: one more, for the standard errors */
		StreamingSums(job, true, fs.cw, mean, sd, st.theta, &sums);
		memcpy(st.sums.hess, sums.hess, sizeof(double) * st.nparams * st.nparams);
		MultinomialSumsComplete(&st.sums);
		st.hess_at_theta = true;
		MultinomialSumsFree(&sums);
	}
	WarnFit(job, &st);
	FinishFit(job, &st, mean, sd, fs.slot_aliased);
	/* the training log-likelihood at the final coefficients (the data's, whatever the weights) */
	if (memcmp(st.theta, st.next, sizeof(double) * st.nparams) != 0)
	{
		StreamingSums(job, false, fs.cw, mean, sd, st.theta, &sums);
		st.sums.loglik_raw = sums.loglik_raw;
		MultinomialSumsFree(&sums);
	}
	MN(job)->loglik = st.sums.loglik_raw;
	StreamingMetrics(job, ls, mean, sd, &st);
	FitSummary(job, &st);
	job->n_train = ls->mom[SPLIT_TRAIN].n;
	job->n_test = ls->mom[SPLIT_TEST].n;
	job->n_skipped = (double) (ls->skipped_target + ls->skipped_feature);
	job->bad = ls->bad;
}

/*
 * Train a multinomial model: in memory when the encoded rows fit
 * profenrich.max_train_memory, else by streaming passes.
 */
void
TrainMultinomial(TrainJob *job)
{
	MultinomialOptions opts;
	Size		budget = (Size) profenrich_max_train_memory * 1024;
	double		rows = SourceEstimatedRows(&job->src);
	double		row_bytes = sizeof(double) * (job->spec->nslots + 2);
	LoadedData	data;

	job->model.body = palloc0(sizeof(MultinomialModel));
	/*
	 * A row without a key splits by a hash of its values and its class
	 * number: the numbers must be the model's from the first row on, so
	 * the classes are asked of the source first.
	 */
	if (job->spec->key == NULL || !(rows < 0 || rows * row_bytes <= budget))
		ClassesByQuery(job);
	if (rows < 0 || rows * row_bytes <= budget)
	{
		char	   *sql = psprintf("SELECT %s FROM %s", ColumnList(NeededColumns(job->spec)),
								   job->src.from);

		/* with a key the load learns the classes, whether the rows fit or not */
		DatasetLoad(job->spec, sql, 0, NULL, NULL, budget, 0, &data);
		if (job->spec->learn_classes)
			AdoptClasses(job, Min(data.nclasses, MODEL_MAX_CLASSES), data.classes,
						 data.more_classes || data.nclasses > MODEL_MAX_CLASSES);
		/* the rows and, for the metrics, K probabilities of each must fit the budget */
		if (data.fits &&
			add_size(data.bytes, mul_size(sizeof(double) * job->spec->nclasses,
										  (Size) (data.split[SPLIT_TRAIN].n +
												  data.split[SPLIT_TEST].n))) > budget)
			data.fits = false;
		if (data.fits)
		{
			MultinomialOptions opts = FitOptions(job);

			FitInMemory(job, &data, &opts);
			job->n_train = data.split[SPLIT_TRAIN].n;
			job->n_test = data.split[SPLIT_TEST].n;
			job->n_skipped = (double) (data.skipped_target + data.skipped_feature);
			job->bad = data.bad;
			appendStringInfoString(&job->metrics, ", \"path\": \"memory\"");
			DatasetFree(&data);
			return;
		}
		DatasetFree(&data);
	}
	opts = FitOptions(job);
	FitStreaming(job, &opts);
	appendStringInfoString(&job->metrics, ", \"path\": \"streaming\"");
}
