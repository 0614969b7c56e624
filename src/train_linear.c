/*-------------------------------------------------------------------------
 * train_linear.c
 *	  The 'linear' trainer: one statistics pass, a solve, and the metrics
 *	  derived from the same statistics (and the row sample for the MAE).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"
#include "utils/json.h"

#include "model_glm.h"
#include "step_group.h"
#include "trainer.h"

/* The options of 'linear' */
typedef struct LinearOptions
{
	double		l2;				/* ridge penalty on standardized slots */
} LinearOptions;

/* Defaults of the options of 'linear' */
void *
LinearOptionsNew(const AlgorithmOps *ops)
{
	LinearOptions *o = palloc0(sizeof(LinearOptions));

	o->l2 = 0.0;
	return o;
}

/* One option of 'linear'; false for a key it does not take */
bool
LinearOption(void *opts, const char *key, JsonbValue *v)
{
	if (strcmp(key, "l2") != 0)
		return false;
	((LinearOptions *) opts)->l2 = OptionPenalty(key, v);
	return true;
}

/* The effective options of 'linear', as members of a JSON object */
void
LinearOptionsJson(StringInfo out, const void *opts)
{
	appendStringInfo(out, "%s\"l2\": %s", out->data[out->len - 1] == '{' ? "" : ", ",
					 float8out_internal(((const LinearOptions *) opts)->l2));
}

/* A regression's target: a number or a boolean */
void
LinearTarget(TrainJob *job, FeatureKind kind)
{
	if (kind == FEATURE_CATEGORICAL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target column \"%s\" must be numeric or boolean for algorithm \"%s\"",
						job->spec->target, job->ops->name),
				 errhint("Regression predicts a number; cast the target or pick another column.")));
}

/* Predictions for a split's sample rows, NULLs imputed with the training means */
static double *
SamplePredictions(const LinearFit *fit, const RowSample *s, const FeatureSpec *spec)
{
	double	   *pred = palloc(sizeof(double) * Max(s->count, 1));
	double	   *x = palloc(sizeof(double) * (spec->nslots + 1));

	for (int r = 0; r < s->count; r++)
	{
		memcpy(x, &s->rows[(size_t) r * s->width], sizeof(double) * s->width);
		for (int i = 0; i < spec->ncolumns; i++)
			if (spec->columns[i].miss_index >= 0 && isnan(x[spec->columns[i].first_slot]))
				x[spec->columns[i].first_slot] = spec->columns[i].impute;
		pred[r] = GlmLinearPredict(fit, x);
	}
	pfree(x);
	return pred;
}

/*
 * rmse, mae and r2 of the fit on one split; the mae from the predictions
 * for the split's sample
 */
static void
SplitMetrics(StringInfo out, const char *label, const LinearFit *fit, const XYStats *xy,
			 const RowSample *sample, const double *pred, const FeatureSpec *spec)
{
	double		sse = GlmLinearSse(fit, xy);
	double		abs_error = 0.0;

	for (int r = 0; r < sample->count; r++)
		abs_error += fabs(sample->rows[(size_t) r * sample->width + spec->nslots] - pred[r]);
	appendStringInfo(out, "%s\"%s\": {", out->data[out->len - 1] == '{' ? "" : ", ", label);
	JsonField(out, "rmse", sqrt(sse / xy->n));
	JsonField(out, "mae", sample->count > 0 ? abs_error / sample->count : get_float8_nan());
	JsonField(out, "r2", xy->cyy > 0 ? 1.0 - sse / xy->cyy : get_float8_nan());
	JsonField(out, "n", xy->n);
	if (sample->count < xy->n)
		JsonField(out, "mae_sample_rows", sample->count);
	appendStringInfoChar(out, '}');
}

static void TrainLinearGrouped(TrainJob *job);
static void FitLinear(TrainJob *job, LinearStats *st, GlmModel *g, StringInfo metrics,
					  bool primary);

/*
 * Fit least squares (ridge when l2 > 0) from one pass of linear_stats and
 * fill in the model and its metrics.
 */
void
TrainLinear(TrainJob *job)
{
	LinearStats *st;
	GlmModel   *g;

	if (job->spec->group != NULL)
	{
		TrainLinearGrouped(job);
		return;
	}
	st = RunStatsPass(job->spec, &job->src);
	g = palloc0(sizeof(GlmModel));
	CheckRowCount(st, job->spec, &job->src);
	LinearStatsCheckFinite(st, job->spec);
	(void) ImputeMeans(st, job->spec, MissSlots(job->spec));
	job->model.body = g;
	FitLinear(job, st, g, &job->metrics, true);
	job->n_train = st->mom[SPLIT_TRAIN].n;
	job->n_test = st->mom[SPLIT_TEST].n;
	job->n_skipped = (double) (st->skipped_target + st->skipped_feature);
	job->bad = st->bad;
}

/*
 * The fit of one set of statistics (the model's, or a group's) with the
 * spec's imputation values, and its metrics into metrics; primary (the
 * model's own fit): the categories' shares, the model's score quantiles
 * from the training sample's predictions and its baseline.
 */
static void
FitLinear(TrainJob *job, LinearStats *st, GlmModel *g, StringInfo metrics, bool primary)
{
	FeatureSpec *spec = job->spec;
	LinearFit  *fit = &g->linear;
	int		   *miss_slot;
	double	   *impute;
	double	   *pred;
	XYStats		xy_train,
				xy_test;

	miss_slot = MissSlots(spec);
	impute = ImputedValues(spec);
	GlmImputedStats(&st->mom[SPLIT_TRAIN], spec->nslots, spec->nnumeric, miss_slot, impute,
					&xy_train);
	GlmLinearFitOrdered(&xy_train, ((LinearOptions *) job->algopts)->l2, FeatureAliasOrder(spec), fit);
	if (primary)
		FeatureSetShares(spec, fit->slot_mean);
	if (st->mom[SPLIT_TEST].n > 0)
	{
		GlmImputedStats(&st->mom[SPLIT_TEST], spec->nslots, spec->nnumeric, miss_slot, impute,
						&xy_test);
		pred = SamplePredictions(fit, &st->sample[SPLIT_TEST], spec);
		SplitMetrics(metrics, "test", fit, &xy_test,
					 &st->sample[SPLIT_TEST], pred, spec);
		pfree(pred);
	}
	/*
	 * The training sample's predictions serve the metrics and then, sorted,
	 * the score quantiles of the training population (every training row up
	 * to 20,000 rows, a uniform sample beyond)
	 */
	pred = SamplePredictions(fit, &st->sample[SPLIT_TRAIN], spec);
	SplitMetrics(metrics, "train", fit, &xy_train,
				 &st->sample[SPLIT_TRAIN], pred, spec);
	JsonField(metrics, "rank", fit->rank + 1);
	if (primary)
	{
		BaselineRows sets[2];

		ModelSetQuantiles(&job->model, pred, st->sample[SPLIT_TRAIN].count, false);
		BaselineRowsOfSamples(st, sets);
		TrainBaseline(job, sets, 2, pred, st->sample[SPLIT_TRAIN].count, false);
	}
	pfree(pred);
}

/* The statistics of one group of a grouped pass, as a state the fit reads */
static LinearStats *
GroupAsStats(const GroupedStats *gs, int i)
{
	LinearStats *st = palloc0(sizeof(LinearStats));

	*st = *gs->all;
	for (int k = 0; k < 2; k++)
	{
		st->mom[k] = gs->groups[i]->mom[k];
		st->sample[k] = gs->groups[i]->sample[k];
	}
	return st;
}

/* The error context of a group's fit */
static void
GroupErrorContext(void *arg)
{
	errcontext("fitting the model of group \"%s\"", (const char *) arg);
}

/*
 * The score quantiles of a model per group: the predictions of each
 * group's training sample by the group's model (the global one for a
 * group without a model of its own), weighted by the group's rows per
 * sample row, which stands for its share of the population.
 */
static void
GroupedQuantiles(TrainJob *job, GroupedStats *gs, void **bodies)
{
	int64		n = 0,
				k = 0;
	double	   *scores,
			   *w;

	for (int i = 0; i < gs->table.n; i++)
		n += gs->groups[i]->sample[SPLIT_TRAIN].count;
	if (n == 0)
		return;
	scores = palloc(sizeof(double) * n);
	w = palloc(sizeof(double) * n);
	for (int i = 0; i < gs->table.n; i++)
	{
		const RowSample *smp = &gs->groups[i]->sample[SPLIT_TRAIN];
		const GlmModel *g = (const GlmModel *) (bodies[i] ? bodies[i] : job->model.body);
		double	   *pred = SamplePredictions(&g->linear, smp, job->spec);

		for (int r = 0; r < smp->count; r++, k++)
		{
			scores[k] = pred[r];
			w[k] = gs->groups[i]->mom[SPLIT_TRAIN].n / smp->count;
		}
		pfree(pred);
	}
	ModelSetWeightedQuantiles(&job->model, scores, w, n, n);
}

/*
 * The models of a grouped pass: the global one from every row, then each
 * group's from its own statistics (the same imputation values), a group
 * with no more training rows than slots left to the fallback; the metrics
 * of each under "groups".
 */
static void
TrainLinearGrouped(TrainJob *job)
{
	FeatureSpec *spec = job->spec;
	GroupedStats *gs = RunGroupedPass(spec, &job->src, job->opts.max_groups);
	ModelGroups *mg = palloc0(sizeof(ModelGroups));
	GlmModel   *global = palloc0(sizeof(GlmModel));
	void	  **bodies;
	int			without = 0;
	StringInfoData gm;

	CheckRowCount(gs ? gs->all : NULL, spec, &job->src);
	LinearStatsCheckFinite(gs->all, spec);
	(void) ImputeMeans(gs->all, spec, MissSlots(spec));
	job->model.body = global;
	FitLinear(job, gs->all, global, &job->metrics, false);
	FeatureSetShares(spec, global->linear.slot_mean);
	{
		/* the features' baseline (a model per group has no single score distribution to keep) */
		BaselineRows sets[2];

		BaselineRowsOfSamples(gs->all, sets);
		TrainBaseline(job, sets, 2, NULL, 0, false);
	}
	bodies = palloc0(sizeof(void *) * Max(gs->table.n, 1));
	mg->column = spec->group;
	mg->fallback = (GroupFallback) job->opts.fallback;
	GroupTableInit(&mg->table, 0, spec->group);
	mg->bodies = palloc(sizeof(void *) * Max(gs->table.n, 1));
	initStringInfo(&gm);
	for (int i = 0; i < gs->table.n; i++)
	{
		LinearStats *st = GroupAsStats(gs, i);
		ErrorContextCallback errcb = {error_context_stack, GroupErrorContext, gs->table.keys[i]};

		CHECK_FOR_INTERRUPTS();
		if (st->mom[SPLIT_TRAIN].n <= spec->nslots)
		{
			without++;
			continue;
		}
		error_context_stack = &errcb;
		LinearStatsCheckFinite(st, spec);
		bodies[i] = palloc0(sizeof(GlmModel));
		appendStringInfo(&gm, "%s", gm.len ? ", " : "");
		escape_json(&gm, gs->table.keys[i]);
		appendStringInfoString(&gm, ": {");
		FitLinear(job, st, (GlmModel *) bodies[i], &gm, false);
		JsonField(&gm, "n_train", st->mom[SPLIT_TRAIN].n);
		JsonField(&gm, "n_test", st->mom[SPLIT_TEST].n);
		appendStringInfoChar(&gm, '}');
		error_context_stack = errcb.previous;
		mg->bodies[GroupAdd(&mg->table, gs->table.keys[i], gs->table.lens[i])] = bodies[i];
	}
	GroupedQuantiles(job, gs, bodies);
	JsonField(&job->metrics, "n_groups", mg->table.n);
	JsonField(&job->metrics, "groups_without_model", without);
	appendStringInfo(&job->metrics, ", \"groups\": {%s}", gm.data);
	job->model.groups = mg;
	job->n_train = gs->all->mom[SPLIT_TRAIN].n;
	job->n_test = gs->all->mom[SPLIT_TEST].n;
	job->n_skipped = (double) (gs->all->skipped_target + gs->all->skipped_feature);
	job->bad = gs->all->bad;
}
