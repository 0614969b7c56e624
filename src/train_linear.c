/*-------------------------------------------------------------------------
 * train_linear.c
 *	  The 'linear' trainer: one statistics pass, a solve, and the metrics
 *	  derived from the same statistics (and the row sample for the MAE).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/float.h"

#include "glm.h"
#include "model.h"
#include "train.h"

/* Mean absolute error on a split's sample, NULLs imputed with the training means */
static double
SampleMae(const LinearFit *fit, const RowSample *s, const FeatureSpec *spec)
{
	double		total = 0.0;
	double	   *x = palloc(sizeof(double) * (spec->nslots + 1));

	for (int r = 0; r < s->count; r++)
	{
		memcpy(x, &s->rows[(size_t) r * s->width], sizeof(double) * s->width);
		for (int i = 0; i < spec->ncolumns; i++)
			if (spec->columns[i].miss_index >= 0 && isnan(x[spec->columns[i].first_slot]))
				x[spec->columns[i].first_slot] = spec->columns[i].impute;
		total += fabs(x[spec->nslots] - GlmLinearPredict(fit, x));
	}
	pfree(x);
	return s->count > 0 ? total / s->count : get_float8_nan();
}

/* rmse, mae and r2 of the fit on one split */
static void
SplitMetrics(StringInfo out, const char *label, const LinearFit *fit, const XYStats *xy,
			 const RowSample *sample, const FeatureSpec *spec)
{
	double		sse = GlmLinearSse(fit, xy);

	appendStringInfo(out, "%s\"%s\": {", out->data[out->len - 1] == '{' ? "" : ", ", label);
	JsonField(out, "rmse", sqrt(sse / xy->n));
	JsonField(out, "mae", SampleMae(fit, sample, spec));
	JsonField(out, "r2", xy->cyy > 0 ? 1.0 - sse / xy->cyy : get_float8_nan());
	JsonField(out, "n", xy->n);
	if (sample->count < xy->n)
		JsonField(out, "mae_sample_rows", sample->count);
	appendStringInfoChar(out, '}');
}

/*
 * Score quantiles of the training population from the training sample
 * (every training row up to 20,000 rows, a uniform sample beyond)
 */
static void
SampleQuantiles(Model *model, const RowSample *s, const FeatureSpec *spec)
{
	double	   *scores = palloc(sizeof(double) * Max(s->count, 1));
	double	   *x = palloc(sizeof(double) * (spec->nslots + 1));

	for (int r = 0; r < s->count; r++)
	{
		memcpy(x, &s->rows[(size_t) r * s->width], sizeof(double) * s->width);
		for (int i = 0; i < spec->ncolumns; i++)
			if (spec->columns[i].miss_index >= 0 && isnan(x[spec->columns[i].first_slot]))
				x[spec->columns[i].first_slot] = spec->columns[i].impute;
		scores[r] = GlmLinearPredict(&model->linear, x);
	}
	ModelSetQuantiles(model, scores, s->count, false);
	pfree(x);
	pfree(scores);
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
	int		   *miss_slot;
	double	   *impute;
	XYStats		xy_train,
				xy_test;

	CheckRowCount(st, spec, &job->src);
	miss_slot = MissSlots(spec);
	impute = ImputeMeans(st, spec, miss_slot);
	GlmImputedStats(&st->mom[SPLIT_TRAIN], spec->nslots, spec->nnumeric, miss_slot, impute,
					&xy_train);
	GlmLinearFit(&xy_train, job->opts.l2, &job->model.linear);
	if (st->mom[SPLIT_TEST].n > 0)
	{
		GlmImputedStats(&st->mom[SPLIT_TEST], spec->nslots, spec->nnumeric, miss_slot, impute,
						&xy_test);
		SplitMetrics(&job->metrics, "test", &job->model.linear, &xy_test,
					 &st->sample[SPLIT_TEST], spec);
	}
	SplitMetrics(&job->metrics, "train", &job->model.linear, &xy_train,
				 &st->sample[SPLIT_TRAIN], spec);
	JsonField(&job->metrics, "rank", job->model.linear.rank + 1);
	SampleQuantiles(&job->model, &st->sample[SPLIT_TRAIN], spec);
	job->n_train = st->mom[SPLIT_TRAIN].n;
	job->n_test = st->mom[SPLIT_TEST].n;
	job->n_skipped = (double) (st->skipped_target + st->skipped_feature);
}
