/*-------------------------------------------------------------------------
 * train_logistic.c
 *	  The 'logistic' trainer: read the data once into memory when it fits
 *	  profenrich.max_train_memory and iterate there; otherwise run one SQL
 *	  pass of profenrich.logistic_step per Newton iteration.  Both paths
 *	  give the same model.
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
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "baseline.h"
#include "dataset.h"
#include "guards.h"
#include "linalg.h"
#include "logistic.h"
#include "metrics.h"
#include "model_glm.h"
#include "profenrich.h"
#include "step_group.h"
#include "trainer.h"

/* The options of 'logistic' */
typedef struct LogisticTrainOptions
{
	double		l2;				/* ridge penalty on standardized slots */
	char	   *positive;		/* a text target's positive value */
	bool		balanced;		/* class_weight "balanced" */
	Jsonb	   *class_weight;	/* class_weight object, or NULL */
	int			max_iter;
	double		tol;
	double		threshold;		/* predict_class: the positive class from this probability */
	bool		calibrate;		/* class weights: score calibrated probabilities */
} LogisticTrainOptions;

#define LOGISTIC_OPTIONS(job) ((LogisticTrainOptions *) (job)->algopts)
#define GLM(job) ((GlmModel *) (job)->model.body)

/* Defaults of the options of 'logistic' */
void *
LogisticOptionsNew(const AlgorithmOps *ops)
{
	LogisticTrainOptions *o = palloc0(sizeof(LogisticTrainOptions));

	o->l2 = 0.0;
	o->max_iter = 50;
	o->tol = 1e-8;
	o->threshold = 0.5;
	o->calibrate = true;
	return o;
}

/* One option of 'logistic'; false for a key it does not take */
bool
LogisticOption(void *opts, const char *key, JsonbValue *v)
{
	LogisticTrainOptions *o = (LogisticTrainOptions *) opts;

	if (strcmp(key, "l2") == 0)
		o->l2 = OptionPenalty(key, v);
	else if (strcmp(key, "positive") == 0)
		o->positive = OptionString(key, v, "the text value that marks the positive class");
	else if (strcmp(key, "class_weight") == 0)
		o->balanced = OptionClassWeight(key, v, "{\"true\": 3, \"false\": 1}", &o->class_weight);
	else if (strcmp(key, "max_iter") == 0)
		o->max_iter = OptionInteger(key, v, 1, 10000);
	else if (strcmp(key, "tol") == 0)
		o->tol = OptionTolerance(key, v);
	else if (strcmp(key, "calibrate") == 0)
		o->calibrate = OptionBool(key, v);
	else if (strcmp(key, "threshold") == 0)
		o->threshold = OptionProbability(key, v);
	else
		return false;
	return true;
}

/* The effective options of 'logistic', as members of a JSON object */
void
LogisticOptionsJson(StringInfo out, const void *opts)
{
	const LogisticTrainOptions *o = (const LogisticTrainOptions *) opts;

	appendStringInfo(out, "%s\"l2\": %s, \"max_iter\": %d, \"tol\": %s, \"threshold\": %s, "
					 "\"calibrate\": %s, \"class_weight\": ",
					 out->data[out->len - 1] == '{' ? "" : ", ", float8out_internal(o->l2),
					 o->max_iter, float8out_internal(o->tol), float8out_internal(o->threshold),
					 o->calibrate ? "true" : "false");
	if (o->balanced)
		appendStringInfoString(out, "\"balanced\"");
	else if (o->class_weight)
		appendStringInfoString(out, JsonbToCString(NULL, &o->class_weight->root,
												   VARSIZE(o->class_weight)));
	else
		appendStringInfoString(out, "null");
	if (o->positive)
	{
		appendStringInfoString(out, ", \"positive\": ");
		escape_json(out, o->positive);
	}
}

/*
 * A class label: boolean, numbers 0/1 (checked as rows are read), or text
 * with the option "positive".
 */
void
LogisticTarget(TrainJob *job, FeatureKind kind)
{
	const char *positive = LOGISTIC_OPTIONS(job)->positive;
	FeatureSpec *spec = job->spec;

	spec->binary = true;
	if (kind == FEATURE_CATEGORICAL && positive == NULL)
	{
		int			nvalues;
		char	   *values = SourceDistinctValues(&job->src, spec->target, 3, &nvalues);

		/* a third value is the first thing to fix: "positive" would not help */
		if (nvalues > 2)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target column \"%s\" has more than two values: %s at least",
							spec->target, values),
					 errhint("A class label needs exactly two values; map the others in a view, or train algorithm 'multinomial' for several classes.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("text target \"%s\" needs the option \"positive\"", spec->target),
				 errdetail("Values found: %s.", values),
				 errhint("Name the value that marks the positive class, e.g. '{\"positive\": \"Yes\"}'.")));
	}
	if (kind != FEATURE_CATEGORICAL && positive != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the option \"positive\" applies to text targets, and \"%s\" is %s",
						spec->target, kind == FEATURE_BOOLEAN ? "boolean" : "numeric"),
				 errhint("Leave \"positive\" out: true (or 1) is the positive class.")));
	spec->positive = (char *) positive;
}

/* Refuse a training split without both classes or with too few rows */
static void
CheckClasses(const TrainJob *job, double n, double positives)
{
	if (n <= job->spec->nslots)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("too few usable rows in %s to train: %.0f training rows for %d slots",
						job->src.qualname, n, job->spec->nslots),
				 errhint("Train on more rows, fewer features, or a smaller test_fraction.")));
	if (positives == 0 || positives == n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("target column \"%s\" has one class only in the training rows",
						job->spec->target),
				 errdetail("All %.0f training rows are %s.", n, positives == 0 ? "negative" : "positive"),
				 errhint("A classifier needs rows of both classes; check the target and the source.")));
}

/*
 * The class labels, negative then positive, as predict_class gives them:
 * "false"/"true" for a boolean target, "0"/"1" for a number, the values
 * for text (the negative one NULL when the data has none: the fit then
 * refuses one class only).
 */
static void
ClassLabels(TrainJob *job)
{
	char	  **classes = palloc(sizeof(char *) * 2);

	if (job->spec->positive)
	{
		classes[1] = job->spec->positive;
		classes[0] = SourceOtherLabel(job->spec, &job->src);
	}
	else if (FeatureConvForType(TupleDescAttr(job->src.tupdesc,
											  SourceColumn(&job->src, job->spec->target) - 1)->atttypid) == CONV_BOOL)
	{
		classes[1] = "true";
		classes[0] = "false";
	}
	else
	{
		classes[1] = "1";
		classes[0] = "0";
	}
	job->model.nclasses = 2;
	job->model.classes = classes;
	job->model.threshold = LOGISTIC_OPTIONS(job)->threshold;
}

/*
 * Case weights of label 0 and label 1: 1 each, "balanced" (n / (2 n_c),
 * as scikit-learn), or an object naming classes: "true"/"false" for a
 * boolean target, "1"/"0" for a number, the values for text.
 */
static void
ClassWeights(const TrainJob *job, double n, double positives, double *cw)
{
	char	   *pos_name = job->model.classes[1],
			   *neg_name = job->model.classes[0],
			   *classes;
	char	   *names[2];

	cw[0] = cw[1] = 1.0;
	if (LOGISTIC_OPTIONS(job)->balanced)
	{
		cw[0] = n / (2.0 * (n - positives));
		cw[1] = n / (2.0 * positives);
		return;
	}
	if (LOGISTIC_OPTIONS(job)->class_weight == NULL)
		return;
	classes = psprintf("\"%s\" and \"%s\"", pos_name, neg_name ? neg_name : "?");
	names[0] = neg_name;
	names[1] = pos_name;
	OptionClassWeights(LOGISTIC_OPTIONS(job)->class_weight, 2, names, classes, cw);
}

/*
 * The fitted model on the original scale: b_j = theta_j / sd_j and
 * b0 = theta_0 - sum b_j mean_j; with no penalty, the covariance of b is
 * T Cov(theta) T' for that linear map T, and z tests give the p values.
 */
static void
FinishFitInto(GlmModel *g, const LogisticState *st, const double *mean, const double *sd, double l2)
{
	LinearFit  *f = &g->linear;
	int			w = st->width,
				p = w - 1;
	double	   *t = palloc_extended(mul_size(sizeof(double), mul_size(w, w)),
										MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	f->p = p;
	f->coef = palloc0(sizeof(double) * Max(p, 1));
	f->aliased = palloc0(sizeof(bool) * Max(p, 1));
	f->slot_mean = palloc(sizeof(double) * Max(p, 1));
	f->slot_sd = palloc(sizeof(double) * Max(p, 1));
	f->se = palloc0(sizeof(double) * w);
	f->stat = palloc0(sizeof(double) * w);
	f->pval = palloc0(sizeof(double) * w);
	f->rank = 0;
	f->intercept = st->theta[0];
	t[0] = 1.0;
	for (int j = 1; j < w; j++)
	{
		f->aliased[j - 1] = st->aliased[j];
		f->slot_mean[j - 1] = mean[j];
		f->slot_sd[j - 1] = sd[j];
		if (st->aliased[j])
			continue;
		f->rank++;
		f->coef[j - 1] = st->theta[j] / sd[j];
		f->intercept -= f->coef[j - 1] * mean[j];
		t[j * w + j] = 1.0 / sd[j];
		t[j] = -mean[j] / sd[j];
	}
	f->rss = get_float8_nan();
	f->df_resid = get_float8_nan();
	f->has_inference = l2 == 0 && !st->separated;
	if (f->has_inference)
	{
		double	   *cov = MemoryContextAllocHuge(CurrentMemoryContext,
												 mul_size(sizeof(double), mul_size(w, w)));

		LogisticCovariance(st, 0.0, cov);
		for (int i = 0; i < w; i++)
		{
			double		var = 0.0;

			/* T is sparse (a diagonal and the intercept's row): O(w) terms per row, not w^2 */
			for (int k = 0; k < w; k++)
			{
				if (t[i * w + k] == 0.0)
					continue;
				for (int l = 0; l < w; l++)
					if (t[i * w + l] != 0.0)
						var += t[i * w + k] * cov[k * w + l] * t[i * w + l];
			}
			f->se[i] = i > 0 && st->aliased[i] ? get_float8_nan() : sqrt(var);
			f->stat[i] = (i == 0 ? f->intercept : f->coef[i - 1]) / f->se[i];
			f->pval[i] = isnan(f->stat[i]) ? get_float8_nan() : erfc(fabs(f->stat[i]) / M_SQRT2);
		}
	}
	GlmCheckFit(f, false);
	g->iterations = st->iterations;
	g->converged = st->converged;
}

/* FinishFitInto the job's model */
static void
FinishFit(TrainJob *job, const LogisticState *st, const double *mean, const double *sd)
{
	FinishFitInto(GLM(job), st, mean, sd, LOGISTIC_OPTIONS(job)->l2);
}

/* Warn about a fit that stopped early */
static void
WarnFit(const TrainJob *job, const LogisticState *st)
{
	if (job->quiet)
		return;					/* a cross-validation fold */
	if (st->separated)
		ereport(WARNING,
				(errmsg("the classes of \"%s\" are separated: the coefficients grow without bound",
						job->spec->target),
				 errdetail("Some feature, or combination of features, predicts the class (almost) perfectly; the maximum likelihood estimate does not exist. The fit was stopped with finite coefficients."),
				 errhint("Set the option \"l2\" (for example 1) for finite, stable coefficients, or remove the feature that leaks the target.")));
	else if (!st->converged)
		ereport(WARNING,
				(errmsg("logistic regression did not converge in %d iterations", st->iterations),
				 errhint("Raise the option \"max_iter\", or set \"l2\".")));
}

/* The metrics of one split, from (probability, label) pairs and the log-likelihood */
static void
ClassSplitMetrics(StringInfo out, const char *label, ScoredLabel *pairs, int64 n, double loglik,
				  int rank, bool sampled, double nrows)
/* loglik is NaN when not known exactly (a streamed split) */
{
	ClassMetrics m;

	MetricsClassify(pairs, n, sampled ? get_float8_nan() : -loglik / n, &m);
	appendStringInfo(out, "%s\"%s\": {", out->data[out->len - 1] == '{' ? "" : ", ", label);
	JsonField(out, "auc", m.auc);
	JsonField(out, "logloss", m.logloss);
	JsonField(out, "brier", m.brier);
	JsonField(out, "accuracy", m.accuracy);
	JsonField(out, "precision", m.precision);
	JsonField(out, "recall", m.recall);
	JsonField(out, "f1", m.f1);
	JsonField(out, "base_rate", m.base_rate);
	JsonField(out, "n", nrows);
	if (sampled)
		JsonField(out, "sample_rows", (double) n);
	JsonField(out, "log_likelihood", loglik);
	JsonField(out, "aic", -2.0 * loglik + 2.0 * rank);
	appendStringInfoChar(out, '}');
}

/* Probabilities of every row of a split in memory, with its log-likelihood */
static ScoredLabel *
ScoreSplit(const Dataset *d, const double *theta, double *loglik)
{
	ScoredLabel *pairs = MemoryContextAllocHuge(CurrentMemoryContext,
												sizeof(ScoredLabel) * Max((Size) d->n, 1));
	double	   *eta = palloc(sizeof(double) * DATASET_CHUNK_ROWS);
	int64		k = 0;

	*loglik = 0.0;
	for (int c = 0; c < d->nchunks; c++)
	{
		const DataChunk *ch = &d->chunks[c];

		CHECK_FOR_INTERRUPTS();
		DatasetChunkReady(d, &d->chunks[c]);
		LinalgMatVec(ch->rows, d->width, ch->x, theta, eta);
		for (int r = 0; r < ch->rows; r++, k++)
		{
			double		e = eta[r];

			/* a held-out row takes no part in the training sums: its link may overflow */
			if (unlikely(!isfinite(e)))
				GlmRefuseLink(e);
			pairs[k].score = LogisticSigmoid(e);
			pairs[k].label = ch->y[r];
			*loglik += ch->y[r] * e - (Max(e, 0.0) + log1p(exp(-fabs(e))));
		}
	}
	pfree(eta);
	return pairs;
}

/* Common tail: metrics of the fit that do not depend on the path */
static void
FitSummary(TrainJob *job, const LogisticState *st)
{
	JsonField(&job->metrics, "iterations", st->iterations);
	appendStringInfo(&job->metrics, ", \"converged\": %s", st->converged ? "true" : "false");
	JsonField(&job->metrics, "rank", GLM(job)->linear.rank + 1);
}

/* Were the classes weighted (balanced or class_weight)? */
static inline bool
Weighted(const double *cw)
{
	return cw[0] != 1.0 || cw[1] != 1.0;
}

/*
 * Calibrate a fit with class weights (unless "calibrate": false): the
 * offset c on the link that brings the mean probability of the training
 * rows (eta, n) back to their positive rate, stored with the model
 * (SECTION_CALIBRATION) so that score() gives calibrated probabilities.
 * Returns the offset to add to the intercept for the metrics (0 when not
 * calibrated).
 */
static double
Calibrate(TrainJob *job, const double *cw, const double *eta, int64 n, double positives)
{
	double		c;

	if (!Weighted(cw) || !LOGISTIC_OPTIONS(job)->calibrate)
		return 0.0;
	c = LogisticCalibrationOffset(eta, n, positives / n, -log(cw[1] / cw[0]));
	job->model.calibrated = true;
	job->model.link_offset = c;
	return c;
}

/* Say in the metrics which probabilities a model with class weights scores */
static void
CalibrationMetrics(TrainJob *job, const double *cw)
{
	if (!Weighted(cw))
		return;
	appendStringInfo(&job->metrics, ", \"probabilities\": \"%s\"",
					 job->model.calibrated ? "calibrated" : "weighted");
	if (job->model.calibrated)
		JsonField(&job->metrics, "calibration_offset", job->model.link_offset);
}

/* The links of every row of a split in memory (standardized rows, theta) */
static double *
SplitLinks(const Dataset *d, const double *theta)
{
	double	   *eta = MemoryContextAllocHuge(CurrentMemoryContext,
											 sizeof(double) * Max((Size) d->n, 1));
	int64		k = 0;

	for (int c = 0; c < d->nchunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		DatasetChunkReady(d, &d->chunks[c]);
		LinalgMatVec(d->chunks[c].rows, d->width, d->chunks[c].x, theta, eta + k);
		k += d->chunks[c].rows;
	}
	return eta;
}

/*
 * Warn about slots whose standard errors explode although Newton's method
 * converged (quasi-separation: a level whose rows are all of one class), from
 * the unpenalized fit's inference; info is the Fisher information of one
 * standardized slot at the base rate (weighted rows x p (1 - p))
 */
static void
WarnInflated(const TrainJob *job, double n_weighted, double base)
{
	const LinearFit *f = &GLM(job)->linear;

	if (f->has_inference && !job->quiet)
		GuardInflatedErrors(job->spec, f, n_weighted * base * (1 - base));
}

#define WARM_START_STRIDE 8		/* one chunk in eight */
#define WARM_START_TOL 1e-6

/*
 * A warm start for large data: Newton on every eighth chunk of the
 * training rows, to a loose tolerance.  From there the full data needs
 * about three passes instead of six, and the fit is still the full data's
 * maximum.  Returns false (leaving theta alone) when the data is small or
 * the subsample fit is not usable.
 */
static bool
WarmStart(const Dataset *train, const double *sd, double base, const LogisticOptions *opts,
		  double *theta)
{
	Dataset		sub = *train;
	LogisticState ws;
	LogisticSums sums;
	LogisticOptions wo = *opts;

	if (train->nchunks < 2 * WARM_START_STRIDE)
		return false;
	sub.chunks = palloc(sizeof(DataChunk) * (train->nchunks / WARM_START_STRIDE + 1));
	sub.nchunks = 0;
	sub.n = 0;
	for (int c = WARM_START_STRIDE / 2; c < train->nchunks; c += WARM_START_STRIDE)
	{
		DatasetChunkReady(train, &train->chunks[c]);	/* the copy then is ready too */
		sub.chunks[sub.nchunks++] = train->chunks[c];
		sub.n += train->chunks[c].rows;
	}
	wo.tol = Max(opts->tol, WARM_START_TOL);
	LogisticStateInit(&ws, train->width, sd, base);
	LogisticSumsInit(&sums, train->width);
	LogisticPassConstant(&sub, ws.next, opts->class_weight, &sums);
	while (!LogisticStep(&ws, &sums, &wo))
		LogisticPassInMemory(&sub, ws.next, opts->class_weight, &sums, NULL);
	pfree(sub.chunks);
	if (!ws.converged || ws.separated)
		return false;
	memcpy(theta, ws.theta, sizeof(double) * train->width);
	return true;
}

/*
 * Iterate Newton steps over the training split in memory; the final
 * standardized coefficients are returned in theta (width), and whether
 * they are a usable start for other fits (converged, not separated).
 */
static bool
FitInMemory(TrainJob *job, LoadedData *data, const LogisticOptions *lo, double *theta_out)
{
	Dataset    *train = &data->split[SPLIT_TRAIN];
	int			w = train->width;
	double	   *mean = palloc(sizeof(double) * w);
	double	   *sd = palloc(sizeof(double) * w);
	double		cw[2];
	double		base,
				loglik;
	LogisticState st;
	LogisticSums sums;
	LogisticOptions opts = *lo;
	double	   *probs;
	double	   *theta;

	BaselineRows *sample;

	CheckClasses(job, train->n, train->positives);
	ClassWeights(job, train->n, train->positives, cw);
	/* the baseline's rows, before the chunks are standardized */
	sample = BaselineRowsOfDataset(data);
	DatasetPrepare(data, job->spec, mean, sd);
	base = cw[1] * train->positives / (cw[1] * train->positives + cw[0] * (train->n - train->positives));
	opts.class_weight[0] = cw[0];
	opts.class_weight[1] = cw[1];
	LogisticStateInit(&st, w, sd, base);
	LogisticSumsInit(&sums, w);
	probs = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max((Size) train->n, 1));
	{
		double	   *warm = palloc(sizeof(double) * w);

		if (WarmStart(train, sd, base, &opts, warm))
		{
			LogisticStateStartAt(&st, warm);
			LogisticPassInMemory(train, st.next, cw, &sums, probs);
		}
		else
			LogisticPassConstant(train, st.next, cw, &sums);
		pfree(warm);
	}
	while (!LogisticStep(&st, &sums, &opts))
		LogisticPassInMemory(train, st.next, cw, &sums, probs);
	WarnFit(job, &st);
	FinishFit(job, &st, mean, sd);
	FeatureSetShares(job->spec, mean + 1);
	WarnInflated(job, cw[1] * train->positives + cw[0] * (train->n - train->positives), base);
	theta = palloc(sizeof(double) * w);
	memcpy(theta, st.theta, sizeof(double) * w);
	if (Weighted(cw))
	{
		double	   *eta = SplitLinks(train, st.theta);

		theta[0] += Calibrate(job, cw, eta, (int64) train->n, train->positives);
		pfree(eta);
	}
	/* the groups start from the global fit's own coefficients */
	memcpy(theta_out, st.theta, sizeof(double) * w);
	if (data->split[SPLIT_TEST].n > 0)
	{
		ScoredLabel *pairs = ScoreSplit(&data->split[SPLIT_TEST], theta, &loglik);

		ClassSplitMetrics(&job->metrics, "test", pairs, (int64) data->split[SPLIT_TEST].n,
						  loglik, GLM(job)->linear.rank + 1, false, data->split[SPLIT_TEST].n);
		pfree(pairs);
	}
	/* a cross-validation fold needs its test metrics only */
	if (!job->quiet)
	{
		ScoredLabel *pairs;

		/* the last pass was at the final coefficients: reuse its probabilities */
		if (st.iterations > 0 && memcmp(theta, st.next, sizeof(double) * w) == 0)
		{
			int64		k = 0;

			pairs = MemoryContextAllocHuge(CurrentMemoryContext,
										   sizeof(ScoredLabel) * Max((Size) train->n, 1));
			for (int c = 0; c < train->nchunks; c++)
				for (int r = 0; r < train->chunks[c].rows; r++, k++)
				{
					pairs[k].score = probs[k];
					pairs[k].label = train->chunks[c].y[r];
				}
			loglik = st.sums.loglik_raw;
		}
		else
			pairs = ScoreSplit(train, theta, &loglik);
		pfree(probs);
		ClassSplitMetrics(&job->metrics, "train", pairs, (int64) train->n, loglik,
						  GLM(job)->linear.rank + 1, false, train->n);
		{
			/* the metrics sorted the pairs by score: the quantiles need no sort of their own */
			double	   *scores = MemoryContextAllocHuge(CurrentMemoryContext,
														sizeof(double) * Max((Size) train->n, 1));

			for (int64 k = 0; k < (int64) train->n; k++)
				scores[k] = pairs[k].score;
			ModelSetQuantiles(&job->model, scores, (int64) train->n, true);
			TrainBaseline(job, sample, 1, scores, (int64) train->n, true);
			pfree(scores);
		}
		GLM(job)->loglik = loglik;
		pfree(pairs);
	}
	FitSummary(job, &st);
	CalibrationMetrics(job, cw);
	return st.converged && !st.separated;
}

/* What the fits of a model per group keep of each group */
typedef struct GroupFit
{
	bool		fit;			/* it has a model of its own */
	bool		active;			/* its Newton iterations go on */
	double		n;				/* training rows, positives, and their slots' sums */
	double		positives;
	double		cw[2];
	double	   *sd;				/* its slots' sds in the standardized data (aliasing) */
	double	   *l2w;			/* its slots' variances there (the penalty's weights) */
	LogisticState st;
	LogisticSums sums;
	GlmModel   *body;
	int64		ntest;
} GroupFit;

/*
 * Each group's training rows, positives and slot variances in the
 * standardized data (every chunk ready), from one pass over the runs.
 */
static void
GroupCounts(const Dataset *d, GroupFit *gf, int ng)
{
	int			w = d->width;
	double	   *sum = palloc0(sizeof(double) * (Size) ng * w);
	double	   *sumsq = palloc0(sizeof(double) * (Size) ng * w);

	for (int c = 0; c < d->nchunks; c++)
	{
		DataChunk  *ch = &d->chunks[c];

		CHECK_FOR_INTERRUPTS();
		DatasetChunkReady(d, ch);
		for (int r = 0; r < ch->rows; r++)
		{
			int			g = ch->g[r];
			const double *x = &ch->x[(size_t) r * w];

			if (g < 0)
				continue;
			gf[g].n += 1;
			gf[g].positives += ch->y[r];
			for (int j = 1; j < w; j++)
			{
				sum[(size_t) g * w + j] += x[j];
				sumsq[(size_t) g * w + j] += x[j] * x[j];
			}
		}
	}
	for (int g = 0; g < ng; g++)
	{
		gf[g].sd = palloc(sizeof(double) * w);
		gf[g].l2w = palloc(sizeof(double) * w);
		gf[g].sd[0] = gf[g].l2w[0] = 1.0;
		for (int j = 1; j < w; j++)
		{
			double		m = gf[g].n > 0 ? sum[(size_t) g * w + j] / gf[g].n : 0;
			double		v = gf[g].n > 0 ? Max(sumsq[(size_t) g * w + j] / gf[g].n - m * m, 0.0) : 0;

			gf[g].sd[j] = v > 1e-24 ? sqrt(v) : 0.0;
			gf[g].l2w[j] = gf[g].sd[j] * gf[g].sd[j];
		}
	}
	pfree(sum);
	pfree(sumsq);
}

/*
 * Start a group's Newton iterations: its class weights and base rate, the
 * global model's coefficients as the starting point (its own constant
 * slots at 0) when they are usable, which takes a few passes off, the MLE
 * being the same from any start.
 */
static void
GroupStart(TrainJob *job, GroupFit *f, int w, const double *start, const LogisticOptions *lo)
{
	double		base;

	ClassWeights(job, f->n, f->positives, f->cw);
	base = f->cw[1] * f->positives / (f->cw[1] * f->positives + f->cw[0] * (f->n - f->positives));
	LogisticStateInit(&f->st, w, f->sd, base);
	f->st.l2w = lo->l2 > 0 ? f->l2w : NULL;
	LogisticSumsInit(&f->sums, w);
	if (start != NULL)
	{
		double	   *t = palloc(sizeof(double) * w);

		for (int j = 0; j < w; j++)
			t[j] = j > 0 && f->st.aliased[j] ? 0.0 : start[j];
		LogisticStateStartAt(&f->st, t);
		pfree(t);
	}
	f->active = true;
}

/* One pass over the runs: the sums of every active group at its proposed coefficients */
static void
GroupPass(const Dataset *d, GroupFit *gf, int ng, double *scratch)
{
	for (int g = 0; g < ng; g++)
		if (gf[g].active)
			LogisticSumsReset(&gf[g].sums);
	for (int c = 0; c < d->nchunks; c++)
	{
		const DataChunk *ch = &d->chunks[c];

		CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < ch->nruns; k++)
		{
			GroupFit   *f = ch->run_group[k] >= 0 ? &gf[ch->run_group[k]] : NULL;

			if (f == NULL || !f->active)
				continue;
			LogisticAccumulate(&f->sums, f->st.next, &ch->x[(size_t) ch->run_start[k] * d->width],
							   &ch->y[ch->run_start[k]], ch->run_len[k], f->cw, scratch, NULL);
		}
	}
}

/*
 * Newton's method for every group at once, one pass over the data per
 * iteration for all the groups still iterating.  A warm start that left a
 * slot aliased with a coefficient starts that group again from its base
 * rate.
 */
static void
GroupIterate(TrainJob *job, const Dataset *d, GroupFit *gf, int ng, const LogisticOptions *lo)
{
	double	   *scratch = MemoryContextAllocHuge(CurrentMemoryContext,
												 LogisticScratchSize(d->width, DATASET_CHUNK_ROWS));
	bool		any = true;

	while (any)
	{
		GroupPass(d, gf, ng, scratch);
		any = false;
		for (int g = 0; g < ng; g++)
		{
			GroupFit   *f = &gf[g];
			LogisticOptions o = *lo;
			bool		first = !f->st.started;
			bool		restart = false;

			if (!f->active)
				continue;
			o.class_weight[0] = f->cw[0];
			o.class_weight[1] = f->cw[1];
			f->active = !LogisticStep(&f->st, &f->sums, &o);
			for (int j = 1; first && j < d->width; j++)
				restart |= f->st.aliased[j] && f->st.theta[j] != 0.0;
			if (restart)
				GroupStart(job, f, d->width, NULL, lo);
			any |= f->active;
		}
	}
	pfree(scratch);
}

/*
 * The probabilities of a split's rows of each fitted group under its
 * model, into per-group pairs (pairs[g], npairs[g]), their log-likelihoods
 * into loglik[g]; rows of other groups get the global model's probability
 * in all (every row of the split, for the percentiles) when all is given.
 */
static void
GroupScores(const Dataset *d, GroupFit *gf, const double *global, ScoredLabel **pairs,
			int64 *npairs, double *loglik, double *all)
{
	double	   *eta = palloc(sizeof(double) * DATASET_CHUNK_ROWS);
	int64		k = 0;

	for (int c = 0; c < d->nchunks; c++)
	{
		DataChunk  *ch = &d->chunks[c];

		CHECK_FOR_INTERRUPTS();
		DatasetChunkReady(d, ch);
		for (int run = 0; run < ch->nruns; run++)
		{
			int			g = ch->run_group[run];
			GroupFit   *f = g >= 0 && gf[g].fit ? &gf[g] : NULL;
			const double *theta = f ? f->st.theta : global;
			int			start = ch->run_start[run];

			LinalgMatVec(ch->run_len[run], d->width, &ch->x[(size_t) start * d->width], theta, eta);
			for (int r = 0; r < ch->run_len[run]; r++, k++)
			{
				double		e = eta[r],
							y = ch->y[start + r];

				if (unlikely(!isfinite(e)))
					GlmRefuseLink(e);
				if (all)
					all[k] = LogisticSigmoid(e);
				if (f == NULL)
					continue;
				pairs[g][npairs[g]].score = LogisticSigmoid(e);
				pairs[g][npairs[g]++].label = y;
				loglik[g] += y * e - (Max(e, 0.0) + log1p(exp(-fabs(e))));
			}
		}
	}
	pfree(eta);
}

/* The metrics of each fitted group, as members of the "groups" object */
static void
GroupMetrics(TrainJob *job, LoadedData *data, GroupFit *gf, int ng, const double *global,
			 StringInfo out)
{
	ScoredLabel **pairs[2];
	int64	   *npairs[2];
	double	   *loglik[2];
	double	   *scores = MemoryContextAllocHuge(CurrentMemoryContext,
												sizeof(double) * Max((Size) data->split[SPLIT_TRAIN].n, 1));

	for (int k = 0; k < 2; k++)
	{
		pairs[k] = palloc0(sizeof(ScoredLabel *) * ng);
		npairs[k] = palloc0(sizeof(int64) * ng);
		loglik[k] = palloc0(sizeof(double) * ng);
		for (int g = 0; g < ng; g++)
			if (gf[g].fit)
				pairs[k][g] = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(ScoredLabel) *
													 Max((Size) (k == SPLIT_TRAIN ? gf[g].n : gf[g].ntest), 1));
		GroupScores(&data->split[k], gf, global, pairs[k], npairs[k], loglik[k],
					k == SPLIT_TRAIN ? scores : NULL);
	}
	ModelSetQuantiles(&job->model, scores, (int64) data->split[SPLIT_TRAIN].n, false);
	for (int g = 0; g < ng; g++)
	{
		int			rank = gf[g].fit ? gf[g].body->linear.rank + 1 : 0;

		if (!gf[g].fit)
			continue;
		appendStringInfo(out, "%s", out->len ? ", " : "");
		escape_json(out, data->groups->keys[g]);
		appendStringInfoString(out, ": {");
		if (npairs[SPLIT_TEST][g] > 0)
			ClassSplitMetrics(out, "test", pairs[SPLIT_TEST][g], npairs[SPLIT_TEST][g],
							  loglik[SPLIT_TEST][g], rank, false, npairs[SPLIT_TEST][g]);
		ClassSplitMetrics(out, "train", pairs[SPLIT_TRAIN][g], npairs[SPLIT_TRAIN][g],
						  loglik[SPLIT_TRAIN][g], rank, false, npairs[SPLIT_TRAIN][g]);
		JsonField(out, "n_train", gf[g].n);
		JsonField(out, "n_test", npairs[SPLIT_TEST][g]);
		JsonField(out, "iterations", gf[g].st.iterations);
		appendStringInfo(out, ", \"converged\": %s}", gf[g].st.converged ? "true" : "false");
		gf[g].body->loglik = loglik[SPLIT_TRAIN][g];
	}
}

/*
 * The models of each group of the rows in memory (the global model
 * fitted already, its coefficients in global): every group with more
 * training rows than slots and both classes gets its own, fitted with
 * the others in the same passes; the rest are left to the fallback.
 */
static void
FitGroupsInMemory(TrainJob *job, LoadedData *data, const LogisticOptions *lo, const double *global,
				  bool warm)
{
	Dataset    *train = &data->split[SPLIT_TRAIN];
	int			ng = data->groups->n;
	int			w = train->width;
	GroupFit   *gf;
	ModelGroups *mg = palloc0(sizeof(ModelGroups));
	int			without = 0,
				unsettled = 0;
	StringInfoData gm;

	TrainMemoryCheck(mul_size(ng, mul_size(3, LogisticSumsBytes(w))), w - 1,
					 "the Newton states of the groups");
	gf = palloc0(sizeof(GroupFit) * Max(ng, 1));
	DatasetGroupRuns(train, ng);
	DatasetGroupRuns(&data->split[SPLIT_TEST], ng);
	GroupCounts(train, gf, ng);
	for (int c = 0; c < data->split[SPLIT_TEST].nchunks; c++)
		for (int r = 0; r < data->split[SPLIT_TEST].chunks[c].rows; r++)
			if (data->split[SPLIT_TEST].chunks[c].g[r] >= 0)
				gf[data->split[SPLIT_TEST].chunks[c].g[r]].ntest++;
	for (int g = 0; g < ng; g++)
	{
		gf[g].fit = gf[g].n > job->spec->nslots && gf[g].positives > 0 && gf[g].positives < gf[g].n;
		if (gf[g].fit)
			GroupStart(job, &gf[g], w, warm ? global : NULL, lo);
		else
			without++;
	}
	GroupIterate(job, train, gf, ng, lo);
	mg->column = job->spec->group;
	mg->fallback = (GroupFallback) job->opts.fallback;
	GroupTableInit(&mg->table, 0, job->spec->group);
	mg->bodies = palloc(sizeof(void *) * Max(ng, 1));
	for (int g = 0; g < ng; g++)
	{
		if (!gf[g].fit)
			continue;
		unsettled += gf[g].st.separated || !gf[g].st.converged;
		gf[g].body = palloc0(sizeof(GlmModel));
		FinishFitInto(gf[g].body, &gf[g].st, train->mean, train->sd, lo->l2);
		mg->bodies[GroupAdd(&mg->table, data->groups->keys[g], data->groups->lens[g])] = gf[g].body;
	}
	if (unsettled > 0)
		ereport(WARNING,
				(errmsg("the models of %d groups did not converge or have separated classes", unsettled),
				 errhint("Their metrics under \"groups\" say which (\"converged\"); set the option \"l2\" for finite, stable coefficients.")));
	initStringInfo(&gm);
	GroupMetrics(job, data, gf, ng, global, &gm);
	JsonField(&job->metrics, "n_groups", mg->table.n);
	JsonField(&job->metrics, "groups_without_model", without);
	appendStringInfo(&job->metrics, ", \"groups\": {%s}", gm.data);
	job->model.groups = mg;
}

/*
 * One SQL pass at the proposed coefficients: profenrich.logistic_step over
 * the training rows, returning the gradient, Hessian and log-likelihood.
 */
static void
StreamingPass(const TrainJob *job, const double *mean, const double *sd, const double *cw,
			  const double *theta, LogisticSums *out)
{
	int			w = job->spec->nslots + 1;
	List	   *cols = NeededColumns(job->spec);
	Datum	   *params = palloc(sizeof(Datum) * (2 + 3 * w));
	Oid			types[3] = {BYTEAOID, FLOAT8ARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	char	   *sql = psprintf("SELECT profenrich.logistic_step($1, $2, $3, %s) FROM %s",
							   PassArguments(job->spec, &job->src, cols, 3, true, 0), job->src.from);
	bool		isnull;
	bytea	   *b;

	params[0] = Float8GetDatum(cw[0]);
	params[1] = Float8GetDatum(cw[1]);
	for (int j = 0; j < w; j++)
	{
		params[2 + j] = Float8GetDatum(mean[j]);
		params[2 + w + j] = Float8GetDatum(sd[j]);
		params[2 + 2 * w + j] = Float8GetDatum(theta[j]);
	}
	values[0] = PointerGetDatum(SpecBytes(job->spec));
	values[1] = PointerGetDatum(construct_array(params, 2 + 3 * w, FLOAT8OID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[2] = ColumnNames(cols);
	TrainQuery(sql, 3, types, values, 0);
	b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		elog(ERROR, "logistic_step returned no rows");
	LogisticSumsFromBytes(b, out);
}

/* Links of a split's sampled rows (NULLs imputed, standardized) */
static double *
SampleLinks(const RowSample *s, const FeatureSpec *spec, const double *mean, const double *sd,
			const double *theta)
{
	int			w = spec->nslots + 1;
	double	   *eta = palloc(sizeof(double) * Max(s->count, 1));
	double	   *x = palloc(sizeof(double) * w);

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
		eta[r] = LogisticLink(theta, x, w);
	}
	pfree(x);
	return eta;
}

/* Probabilities of a split's sampled rows (NULLs imputed, standardized) */
static ScoredLabel *
ScoreSample(const RowSample *s, const FeatureSpec *spec, const double *mean, const double *sd,
			const double *theta)
{
	ScoredLabel *pairs = palloc(sizeof(ScoredLabel) * Max(s->count, 1));
	double	   *eta = SampleLinks(s, spec, mean, sd, theta);

	for (int r = 0; r < s->count; r++)
	{
		pairs[r].score = LogisticSigmoid(eta[r]);
		pairs[r].label = s->rows[(size_t) r * s->width + spec->nslots];
	}
	pfree(eta);
	return pairs;
}

/*
 * Streaming: one linear_stats pass for the counts, imputation means and
 * slot scales (and row samples for the metrics), then one logistic_step
 * pass per iteration.
 */
static void
FitStreaming(TrainJob *job, const LogisticOptions *lo)
{
	FeatureSpec *spec = job->spec;
	LinearStats *ls = RunStatsPass(spec, &job->src);
	int			w = spec->nslots + 1;
	double	   *mean = palloc0(sizeof(double) * w);
	double	   *sd = palloc(sizeof(double) * w);
	int		   *miss_slot;
	double	   *impute;
	XYStats		xy;
	double		n,
				positives,
				cw[2],
				base;
	LogisticState st;
	LogisticSums sums;
	LogisticOptions opts = *lo;
	double	   *theta;

	n = ls ? ls->mom[SPLIT_TRAIN].n : 0;
	positives = ls ? ls->mom[SPLIT_TRAIN].mean[spec->nslots] * n : 0;
	positives = rint(positives);
	CheckClasses(job, n, positives);
	LinearStatsCheckFinite(ls, spec);
	ClassWeights(job, n, positives, cw);
	miss_slot = MissSlots(spec);
	impute = ImputeMeans(ls, spec, miss_slot);
	GlmImputedStats(&ls->mom[SPLIT_TRAIN], spec->nslots, spec->nnumeric, miss_slot, impute, &xy);
	sd[0] = 1.0;
	for (int j = 1; j < w; j++)
	{
		mean[j] = xy.xmean[j - 1];
		sd[j] = sqrt(Max(xy.cxx[(j - 1) * spec->nslots + (j - 1)], 0.0) / n);
		if (!(sd[j] > 1e-12 * Max(fabs(mean[j]), 1e-300)))
			sd[j] = 0.0;
	}
	base = cw[1] * positives / (cw[1] * positives + cw[0] * (n - positives));
	opts.class_weight[0] = cw[0];
	opts.class_weight[1] = cw[1];
	LogisticStateInit(&st, w, sd, base);
	LogisticSumsInit(&sums, w);
	do
	{
		StreamingPass(job, mean, sd, cw, st.next, &sums);
		ereport(NOTICE,
				(errmsg("profenrich: logistic pass %d over %s, log-likelihood %.6g",
						st.iterations + st.halvings + 1, job->src.qualname, sums.loglik)));
	} while (!LogisticStep(&st, &sums, &opts));
	WarnFit(job, &st);
	FinishFit(job, &st, mean, sd);
	FeatureSetShares(spec, xy.xmean);
	WarnInflated(job, cw[1] * positives + cw[0] * (n - positives), base);
	/* the last pass gives the training log-likelihood (of the data, whatever the weights) */
	GLM(job)->loglik = st.sums.loglik_raw;
	theta = palloc(sizeof(double) * w);
	memcpy(theta, st.theta, sizeof(double) * w);
	if (Weighted(cw))
	{
		/* the offset from the training sample; one more pass for the exact log-likelihood */
		double	   *eta = SampleLinks(&ls->sample[SPLIT_TRAIN], spec, mean, sd, st.theta);
		double		ones[2] = {1.0, 1.0};

		theta[0] += Calibrate(job, cw, eta, ls->sample[SPLIT_TRAIN].count, positives * ls->sample[SPLIT_TRAIN].count / n);
		if (job->model.calibrated)
		{
			StreamingPass(job, mean, sd, ones, theta, &sums);
			GLM(job)->loglik = sums.loglik_raw;
		}
	}
	if (ls->mom[SPLIT_TEST].n > 0)
		ClassSplitMetrics(&job->metrics, "test",
						  ScoreSample(&ls->sample[SPLIT_TEST], spec, mean, sd, theta),
						  ls->sample[SPLIT_TEST].count, get_float8_nan(),
						  GLM(job)->linear.rank + 1, true, ls->mom[SPLIT_TEST].n);
	{
		ScoredLabel *pairs = ScoreSample(&ls->sample[SPLIT_TRAIN], spec, mean, sd, theta);
		double	   *scores = palloc(sizeof(double) * Max(ls->sample[SPLIT_TRAIN].count, 1));
		BaselineRows sets[2];

		for (int k = 0; k < ls->sample[SPLIT_TRAIN].count; k++)
			scores[k] = pairs[k].score;
		ModelSetQuantiles(&job->model, scores, ls->sample[SPLIT_TRAIN].count, false);
		BaselineRowsOfSamples(ls, sets);
		TrainBaseline(job, sets, 2, scores, ls->sample[SPLIT_TRAIN].count, false);
		ClassSplitMetrics(&job->metrics, "train", pairs, ls->sample[SPLIT_TRAIN].count,
						  GLM(job)->loglik, GLM(job)->linear.rank + 1, true, n);
	}
	FitSummary(job, &st);
	CalibrationMetrics(job, cw);
	job->n_train = n;
	job->n_test = ls->mom[SPLIT_TEST].n;
	job->n_skipped = (double) (ls->skipped_target + ls->skipped_feature);
	job->bad = ls->bad;
}

/*
 * The slot sds of a group's statistics relative to the data's (the
 * group's standardization in the data's standardized slots), for its
 * aliasing and its penalty's weights.
 */
static void
GroupScales(const FeatureSpec *spec, const Moments *mom, const double *sd, double *gsd,
			double *l2w)
{
	XYStats		xy;
	int			p = spec->nslots;

	GlmImputedStats(mom, p, spec->nnumeric, MissSlots(spec), ImputedValues(spec), &xy);
	gsd[0] = l2w[0] = 1.0;
	for (int j = 1; j <= p; j++)
	{
		double		s = sqrt(Max(xy.cxx[(j - 1) * p + (j - 1)], 0.0) / Max(xy.n, 1));

		gsd[j] = sd[j] > 0 && s > 1e-12 * sd[j] ? s / sd[j] : 0.0;
		l2w[j] = gsd[j] * gsd[j];
	}
}

/*
 * One streaming pass of every model still iterating: the global one (a
 * NULL group) and the groups listed, each at its proposed coefficients;
 * their sums in entry order.
 */
static LogisticSums *
GroupedStreamingPass(const TrainJob *job, const double *mean, const double *sd, GroupFit **active,
					 char **keys, int n)
{
	int			w = job->spec->nslots + 1;
	List	   *cols = NeededColumns(job->spec);
	Datum	   *params = palloc(sizeof(Datum) * (2 * w + n * (2 + w)));
	Datum	   *groups = palloc(sizeof(Datum) * n);
	bool	   *gnulls = palloc(sizeof(bool) * n);
	int			dims[1] = {n},
				lbs[1] = {1};
	Oid			types[5] = {BYTEAOID, FLOAT8ARRAYOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[5];
	char	   *sql = psprintf("SELECT profenrich.logistic_step_grouped($1, $2, $3, $4, $5, %s) FROM %s",
							   PassArguments(job->spec, &job->src, cols, 5, true, 0), job->src.from);
	bool		isnull;
	int			got;
	LogisticSums *sums;

	for (int j = 0; j < w; j++)
	{
		params[j] = Float8GetDatum(mean[j]);
		params[w + j] = Float8GetDatum(sd[j]);
	}
	for (int i = 0; i < n; i++)
	{
		Datum	   *e = &params[2 * w + (Size) i * (2 + w)];

		e[0] = Float8GetDatum(active[i]->cw[0]);
		e[1] = Float8GetDatum(active[i]->cw[1]);
		for (int j = 0; j < w; j++)
			e[2 + j] = Float8GetDatum(active[i]->st.next[j]);
		gnulls[i] = keys[i] == NULL;
		groups[i] = keys[i] ? CStringGetTextDatum(keys[i]) : (Datum) 0;
	}
	values[0] = PointerGetDatum(SpecBytes(job->spec));
	values[1] = PointerGetDatum(construct_array(params, 2 * w + n * (2 + w), FLOAT8OID, 8,
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = CStringGetTextDatum(job->spec->group);
	values[3] = PointerGetDatum(construct_md_array(groups, gnulls, 1, dims, lbs, TEXTOID, -1, false,
												   TYPALIGN_INT));
	values[4] = ColumnNames(cols);
	TrainQuery(sql, 5, types, values, 0);
	sums = GroupedStepSums(DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull)), &got);
	if (isnull || got != n)
		elog(ERROR, "logistic_step_grouped returned %d models for %d", isnull ? 0 : got, n);
	return sums;
}

/*
 * Streaming a model per group: one linear_stats_grouped pass for every
 * group's counts and scales (and the global model's, and the samples for
 * the metrics), then one logistic_step_grouped pass per iteration for
 * all the models still iterating, the global one among them.
 */
static void
FitStreamingGrouped(TrainJob *job, const LogisticOptions *lo)
{
	FeatureSpec *spec = job->spec;
	GroupedStats *gs = RunGroupedPass(spec, &job->src, job->opts.max_groups);
	LinearStats *ls = gs ? gs->all : NULL;
	int			w = spec->nslots + 1;
	int			ng = gs ? gs->table.n : 0;
	double	   *mean = palloc0(sizeof(double) * w);
	double	   *sd = palloc(sizeof(double) * w);
	GroupFit   *gf = palloc0(sizeof(GroupFit) * (ng + 1));	/* [0]: the global model */
	GroupFit  **active = palloc(sizeof(GroupFit *) * (ng + 1));
	char	  **keys = palloc(sizeof(char *) * (ng + 1));
	ModelGroups *mg = palloc0(sizeof(ModelGroups));
	XYStats		xy;
	int			passes = 0,
				without = 0,
				unsettled = 0;
	StringInfoData gm;

	gf[0].n = ls ? ls->mom[SPLIT_TRAIN].n : 0;
	gf[0].positives = ls ? rint(ls->mom[SPLIT_TRAIN].mean[spec->nslots] * gf[0].n) : 0;
	CheckClasses(job, gf[0].n, gf[0].positives);
	LinearStatsCheckFinite(ls, spec);
	ImputeMeans(ls, spec, MissSlots(spec));
	GlmImputedStats(&ls->mom[SPLIT_TRAIN], spec->nslots, spec->nnumeric, MissSlots(spec),
					ImputedValues(spec), &xy);
	sd[0] = 1.0;
	for (int j = 1; j < w; j++)
	{
		mean[j] = xy.xmean[j - 1];
		sd[j] = sqrt(Max(xy.cxx[(j - 1) * spec->nslots + (j - 1)], 0.0) / gf[0].n);
		if (!(sd[j] > 1e-12 * Max(fabs(mean[j]), 1e-300)))
			sd[j] = 0.0;
	}
	gf[0].sd = sd;
	GroupStart(job, &gf[0], w, NULL, lo);
	gf[0].st.l2w = NULL;
	gf[0].fit = true;
	for (int g = 0; g < ng; g++)
	{
		GroupFit   *f = &gf[g + 1];
		const Moments *m = &gs->groups[g]->mom[SPLIT_TRAIN];

		f->n = m->n;
		f->positives = rint(m->mean[spec->nslots] * m->n);
		f->fit = f->n > spec->nslots && f->positives > 0 && f->positives < f->n;
		if (!f->fit)
		{
			without++;
			continue;
		}
		f->sd = palloc(sizeof(double) * w);
		f->l2w = palloc(sizeof(double) * w);
		GroupScales(spec, m, sd, f->sd, f->l2w);
		GroupStart(job, f, w, NULL, lo);
	}
	for (;;)
	{
		int			n = 0;
		LogisticSums *sums;

		for (int e = 0; e <= ng; e++)
			if (gf[e].fit && gf[e].active)
			{
				keys[n] = e == 0 ? NULL : gs->table.keys[e - 1];
				active[n++] = &gf[e];
			}
		if (n == 0)
			break;
		sums = GroupedStreamingPass(job, mean, sd, active, keys, n);
		ereport(NOTICE,
				(errmsg("profenrich: logistic pass %d over %s, %d models iterating", ++passes,
						job->src.qualname, n)));
		for (int i = 0; i < n; i++)
		{
			LogisticOptions o = *lo;

			o.class_weight[0] = active[i]->cw[0];
			o.class_weight[1] = active[i]->cw[1];
			active[i]->active = !LogisticStep(&active[i]->st, &sums[i], &o);
		}
	}
	WarnFit(job, &gf[0].st);
	FinishFit(job, &gf[0].st, mean, sd);
	GLM(job)->loglik = gf[0].st.sums.loglik_raw;
	if (ls->mom[SPLIT_TEST].n > 0)
		ClassSplitMetrics(&job->metrics, "test",
						  ScoreSample(&ls->sample[SPLIT_TEST], spec, mean, sd, gf[0].st.theta),
						  ls->sample[SPLIT_TEST].count, get_float8_nan(),
						  GLM(job)->linear.rank + 1, true, ls->mom[SPLIT_TEST].n);
	ClassSplitMetrics(&job->metrics, "train",
					  ScoreSample(&ls->sample[SPLIT_TRAIN], spec, mean, sd, gf[0].st.theta),
					  ls->sample[SPLIT_TRAIN].count, GLM(job)->loglik, GLM(job)->linear.rank + 1,
					  true, gf[0].n);
	FitSummary(job, &gf[0].st);
	mg->column = spec->group;
	mg->fallback = (GroupFallback) job->opts.fallback;
	GroupTableInit(&mg->table, 0, spec->group);
	mg->bodies = palloc(sizeof(void *) * Max(ng, 1));
	initStringInfo(&gm);
	{
		int64		nq = 0,
					k = 0;
		double	   *scores,
				   *qw;

		for (int g = 0; g < ng; g++)
			nq += gs->groups[g]->sample[SPLIT_TRAIN].count;
		scores = palloc(sizeof(double) * Max(nq, 1));
		qw = palloc(sizeof(double) * Max(nq, 1));
		for (int g = 0; g < ng; g++)
		{
			GroupFit   *f = &gf[g + 1];
			const GroupStats *grp = gs->groups[g];
			const double *theta = f->fit ? f->st.theta : gf[0].st.theta;
			ScoredLabel *train = ScoreSample(&grp->sample[SPLIT_TRAIN], spec, mean, sd, theta);

			for (int r = 0; r < grp->sample[SPLIT_TRAIN].count; r++, k++)
			{
				scores[k] = train[r].score;
				qw[k] = grp->mom[SPLIT_TRAIN].n / grp->sample[SPLIT_TRAIN].count;
			}
			if (!f->fit)
				continue;
			unsettled += f->st.separated || !f->st.converged;
			f->body = palloc0(sizeof(GlmModel));
			FinishFitInto(f->body, &f->st, mean, sd, lo->l2);
			f->body->loglik = f->st.sums.loglik_raw;
			mg->bodies[GroupAdd(&mg->table, gs->table.keys[g], gs->table.lens[g])] = f->body;
			appendStringInfo(&gm, "%s", gm.len ? ", " : "");
			escape_json(&gm, gs->table.keys[g]);
			appendStringInfoString(&gm, ": {");
			if (grp->mom[SPLIT_TEST].n > 0)
				ClassSplitMetrics(&gm, "test", ScoreSample(&grp->sample[SPLIT_TEST], spec, mean, sd, theta),
								  grp->sample[SPLIT_TEST].count, get_float8_nan(),
								  f->body->linear.rank + 1, true, grp->mom[SPLIT_TEST].n);
			ClassSplitMetrics(&gm, "train", train, grp->sample[SPLIT_TRAIN].count,
							  f->body->loglik, f->body->linear.rank + 1, true, f->n);
			JsonField(&gm, "n_train", f->n);
			JsonField(&gm, "n_test", grp->mom[SPLIT_TEST].n);
			JsonField(&gm, "iterations", f->st.iterations);
			appendStringInfo(&gm, ", \"converged\": %s}", f->st.converged ? "true" : "false");
		}
		if (nq > 0)
			ModelSetWeightedQuantiles(&job->model, scores, qw, nq, nq);
	}
	if (unsettled > 0)
		ereport(WARNING,
				(errmsg("the models of %d groups did not converge or have separated classes", unsettled),
				 errhint("Their metrics under \"groups\" say which (\"converged\"); set the option \"l2\" for finite, stable coefficients.")));
	JsonField(&job->metrics, "n_groups", mg->table.n);
	JsonField(&job->metrics, "groups_without_model", without);
	appendStringInfo(&job->metrics, ", \"groups\": {%s}", gm.data);
	job->model.groups = mg;
	{
		/* the features' baseline (a model per group has no single score distribution to keep) */
		BaselineRows sets[2];

		BaselineRowsOfSamples(ls, sets);
		TrainBaseline(job, sets, 2, NULL, 0, false);
	}
	job->n_train = gf[0].n;
	job->n_test = ls->mom[SPLIT_TEST].n;
	job->n_skipped = (double) (ls->skipped_target + ls->skipped_feature);
}

/*
 * Train a logistic model: in memory when the encoded rows fit
 * profenrich.max_train_memory, else by streaming passes.
 */
void
TrainLogistic(TrainJob *job)
{
	LogisticOptions lo;
	Size		budget = (Size) profenrich_max_train_memory * 1024;
	double		rows = SourceEstimatedRows(&job->src);
	double		row_bytes = sizeof(double) * (job->spec->nslots + 2);
	Size		newton = LogisticNewtonBytes(job->spec->nslots + 1);
	LoadedData	data;

	/* Newton's O(slots^2) matrices come first: the data gets what they leave */
	TrainMemoryCheck(newton, job->spec->nslots, "Newton's method for logistic regression");
	budget = budget > newton ? budget - newton : 0;

	if (job->spec->group != NULL && LOGISTIC_OPTIONS(job)->calibrate &&
		(LOGISTIC_OPTIONS(job)->balanced || LOGISTIC_OPTIONS(job)->class_weight != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a model per group with class weights cannot score calibrated probabilities"),
				 errdetail("Each group's class weights would need a calibration offset of its own."),
				 errhint("Add \"calibrate\": false: each group's model then scores its weighted probabilities.")));
	job->model.body = palloc0(sizeof(GlmModel));
	ClassLabels(job);
	lo.l2 = LOGISTIC_OPTIONS(job)->l2;
	lo.max_iter = LOGISTIC_OPTIONS(job)->max_iter;
	lo.tol = LOGISTIC_OPTIONS(job)->tol;
	lo.class_weight[0] = lo.class_weight[1] = 1.0;
	lo.alias_order = FeatureInterceptAliasOrder(job->spec);
	if (rows < 0 || rows * row_bytes <= budget)
	{
		char	   *sql = psprintf("SELECT %s FROM %s", ColumnList(NeededColumns(job->spec)),
								   job->src.from);

		DatasetLoad(job->spec, sql, 0, NULL, NULL, budget, job->opts.max_groups, &data);
		if (data.fits)
		{
			double	   *theta = palloc(sizeof(double) * (job->spec->nslots + 1));
			bool		usable = FitInMemory(job, &data, &lo, theta);

			if (job->spec->group != NULL)
			{
				FitGroupsInMemory(job, &data, &lo, theta, usable);
				/* the global fit's scores are not the model's: drift reads the features only */
				if (job->model.baseline != NULL)
					job->model.baseline->score_kind = BASELINE_SCORE_NONE;
			}
			job->n_train = data.split[SPLIT_TRAIN].n;
			job->n_test = data.split[SPLIT_TEST].n;
			job->n_skipped = (double) (data.skipped_target + data.skipped_feature);
			job->bad = data.bad;
			appendStringInfoString(&job->metrics, ", \"path\": \"memory\"");
			DatasetFree(&data);
			return;
		}
	}
	if (job->spec->group != NULL)
		FitStreamingGrouped(job, &lo);
	else
		FitStreaming(job, &lo);
	appendStringInfoString(&job->metrics, ", \"path\": \"streaming\"");
}
