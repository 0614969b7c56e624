/*-------------------------------------------------------------------------
 * train_linear.c
 *	  The 'linear' trainer: one statistics pass, a solve, and the metrics
 *	  derived from the same statistics (and the row sample for the MAE).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/float.h"

#include "model_glm.h"
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

/*
 * Fit least squares (ridge when l2 > 0) from one pass of linear_stats and
 * fill in the model and its metrics.
 */
void
TrainLinear(TrainJob *job)
{
	FeatureSpec *spec = job->spec;
	LinearStats *st = RunStatsPass(spec, &job->src);
	GlmModel   *g = palloc0(sizeof(GlmModel));
	LinearFit  *fit = &g->linear;
	int		   *miss_slot;
	double	   *impute;
	double	   *pred;
	XYStats		xy_train,
				xy_test;

	CheckRowCount(st, spec, &job->src);
	LinearStatsCheckFinite(st, spec);
	miss_slot = MissSlots(spec);
	impute = ImputeMeans(st, spec, miss_slot);
	GlmImputedStats(&st->mom[SPLIT_TRAIN], spec->nslots, spec->nnumeric, miss_slot, impute,
					&xy_train);
	job->model.body = g;
	GlmLinearFit(&xy_train, ((LinearOptions *) job->algopts)->l2, fit);
	if (st->mom[SPLIT_TEST].n > 0)
	{
		GlmImputedStats(&st->mom[SPLIT_TEST], spec->nslots, spec->nnumeric, miss_slot, impute,
						&xy_test);
		pred = SamplePredictions(fit, &st->sample[SPLIT_TEST], spec);
		SplitMetrics(&job->metrics, "test", fit, &xy_test,
					 &st->sample[SPLIT_TEST], pred, spec);
		pfree(pred);
	}
	/*
	 * The training sample's predictions serve the metrics and then, sorted,
	 * the score quantiles of the training population (every training row up
	 * to 20,000 rows, a uniform sample beyond)
	 */
	pred = SamplePredictions(fit, &st->sample[SPLIT_TRAIN], spec);
	SplitMetrics(&job->metrics, "train", fit, &xy_train,
				 &st->sample[SPLIT_TRAIN], pred, spec);
	JsonField(&job->metrics, "rank", fit->rank + 1);
	ModelSetQuantiles(&job->model, pred, st->sample[SPLIT_TRAIN].count, false);
	{
		BaselineRows sets[2];

		BaselineRowsOfSamples(st, sets);
		TrainBaseline(job, sets, 2, pred, st->sample[SPLIT_TRAIN].count, false);
	}
	pfree(pred);
	job->n_train = st->mom[SPLIT_TRAIN].n;
	job->n_test = st->mom[SPLIT_TEST].n;
	job->n_skipped = (double) (st->skipped_target + st->skipped_feature);
}
