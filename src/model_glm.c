/*-------------------------------------------------------------------------
 * model_glm.c
 *	  The model unit of 'linear' and 'logistic': their params body, scoring,
 *	  explanation, coefficients, and their entries in the algorithm table.
 *
 * Both keep the linear predictor b0 + x'b on the original scale (a
 * logistic model's score is its sigmoid), so one body, one scorer and one
 * explanation serve both.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "logistic.h"
#include "model_glm.h"
#include "options.h"
#include "trainer.h"

/* The linear body: coefficients, aliasing, inference, slot scale */
static void
WriteLinear(StringInfo buf, const LinearFit *f)
{
	pq_sendint32(buf, f->p);
	pq_sendfloat8(buf, f->intercept);
	ModelWriteDoubles(buf, f->coef, f->p);
	for (int i = 0; i < f->p; i++)
		pq_sendbyte(buf, f->aliased[i] ? 1 : 0);
	pq_sendint32(buf, f->rank);
	pq_sendfloat8(buf, f->rss);
	pq_sendfloat8(buf, f->df_resid);
	pq_sendbyte(buf, f->has_inference ? 1 : 0);
	if (f->has_inference)
	{
		ModelWriteDoubles(buf, f->se, f->p + 1);
		ModelWriteDoubles(buf, f->stat, f->p + 1);
		ModelWriteDoubles(buf, f->pval, f->p + 1);
	}
	ModelWriteDoubles(buf, f->slot_mean, f->p);
	ModelWriteDoubles(buf, f->slot_sd, f->p);
}

/*
 * Refuse a linear body no fit could have written: every number a scorer
 * or explanation uses must be finite (inference may be NaN, as for
 * aliased slots), the rank within the slots.
 */
static void
CheckLinear(const LinearFit *f)
{
	if (!isfinite(f->intercept) || f->rank < 0 || f->rank > f->p)
		ModelCorrupt("the intercept or the rank is out of range");
	for (int i = 0; i < f->p; i++)
		if (!isfinite(f->coef[i]) || !isfinite(f->slot_mean[i]) || !(f->slot_sd[i] >= 0) ||
			isinf(f->slot_sd[i]))
			ModelCorrupt(psprintf("coefficient %d or its slot's scale is not finite", i + 1));
	if (f->has_inference)
		for (int i = 0; i <= f->p; i++)
			if (isinf(f->se[i]) || f->se[i] < 0 || !(isnan(f->pval[i]) || (f->pval[i] >= 0 && f->pval[i] <= 1)))
				ModelCorrupt(psprintf("the inference of coefficient %d is out of range", i));
}

static void
ReadLinear(StringInfo buf, LinearFit *f, int nslots)
{
	f->p = pq_getmsgint(buf, 4);
	if (f->p != nslots)
		ModelCorrupt(psprintf("%d coefficients for %d slots", f->p, nslots));
	f->intercept = pq_getmsgfloat8(buf);
	f->coef = ModelReadDoubles(buf, f->p);
	f->aliased = palloc(sizeof(bool) * Max(f->p, 1));
	for (int i = 0; i < f->p; i++)
		f->aliased[i] = pq_getmsgbyte(buf) != 0;
	f->rank = pq_getmsgint(buf, 4);
	f->rss = pq_getmsgfloat8(buf);
	f->df_resid = pq_getmsgfloat8(buf);
	f->has_inference = pq_getmsgbyte(buf) != 0;
	if (f->has_inference)
	{
		f->se = ModelReadDoubles(buf, f->p + 1);
		f->stat = ModelReadDoubles(buf, f->p + 1);
		f->pval = ModelReadDoubles(buf, f->p + 1);
	}
	f->slot_mean = ModelReadDoubles(buf, f->p);
	f->slot_sd = ModelReadDoubles(buf, f->p);
	CheckLinear(f);
}

/* 'linear': the linear body */
static void
LinearWrite(StringInfo buf, const Model *m)
{
	WriteLinear(buf, &GlmModelOf(m)->linear);
}

static void
LinearRead(StringInfo buf, Model *m, int format)
{
	GlmModel   *g = palloc0(sizeof(GlmModel));

	ReadLinear(buf, &g->linear, m->spec->nslots);
	m->body = g;
}

/* 'logistic': the linear body and the fit's summary */
static void
LogisticWrite(StringInfo buf, const Model *m)
{
	const GlmModel *g = GlmModelOf(m);

	WriteLinear(buf, &g->linear);
	pq_sendint32(buf, g->iterations);
	pq_sendbyte(buf, g->converged ? 1 : 0);
	pq_sendfloat8(buf, g->loglik);
}

static void
LogisticRead(StringInfo buf, Model *m, int format)
{
	GlmModel   *g;

	LinearRead(buf, m, format);
	g = GlmModelOf(m);
	g->iterations = pq_getmsgint(buf, 4);
	g->converged = pq_getmsgbyte(buf) != 0;
	g->loglik = pq_getmsgfloat8(buf);
	if (g->iterations < 0 || !(g->loglik <= 0))
		ModelCorrupt("the fit's iterations or log-likelihood are out of range");
}

/*
 * The linear predictor b0 + x'b of the reader's current row (plus the
 * calibration offset of a classifier trained with class weights); false
 * when a feature is NULL and the model was trained without imputation, or
 * a category is unseen under "unseen": "null".  An unseen category under
 * "average" takes its column's training shares.
 */
bool
GlmModelLink(const Model *m, FeatureReader *r, double *eta)
{
	const FeatureSpec *spec = m->spec;
	const LinearFit *fit = &GlmModelOf(m)->linear;
	double		v = fit->intercept;
	bool		impute = spec->impute == IMPUTE_MEAN;

	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *col = &spec->columns[i];

		if (col->kind != FEATURE_CATEGORICAL)
		{
			double		x;

			if (!FeatureReadNumber(r, spec, i, &x))
			{
				if (!impute)
					return false;
				x = col->impute;
			}
			v += fit->coef[col->first_slot] * x;
		}
		else
		{
			int			level = FeatureReadLevel(r, spec, i);

			if (level == LEVEL_NULL)
			{
				if (!impute)
					return false;
				level = col->mode_level;
			}
			if (level >= 0)
				v += fit->coef[col->first_slot + level];
			else if (!FeatureUnseenLevel(r, spec, i))
				return false;
			else if (col->shares && spec->unseen == UNSEEN_AVERAGE)
				for (int k = 0; k < col->nslots; k++)
					v += fit->coef[col->first_slot + k] * col->shares[k];
		}
	}
	v += m->link_offset;
	if (unlikely(!isfinite(v)))
		GlmRefuseLink(v);
	*eta = v;
	return true;
}

/* 'linear' scores the linear predictor */
static bool
LinearScore(const Model *m, FeatureReader *r, double *score)
{
	return GlmModelLink(m, r, score);
}

/* 'logistic' scores the probability of the positive class */
static bool
LogisticScore(const Model *m, FeatureReader *r, double *score)
{
	double		eta;

	if (!GlmModelLink(m, r, &eta))
		return false;
	*score = LogisticSigmoid(eta);
	return true;
}

/* The two classes' probabilities: negative, positive */
static bool
LogisticClassify(const Model *m, FeatureReader *r, double *probs)
{
	double		p;

	if (!LogisticScore(m, r, &p))
		return false;
	probs[0] = 1.0 - p;
	probs[1] = p;
	return true;
}

static OutputKind
NumberOutput(const Model *m)
{
	return OUTPUT_NUMBER;
}

/*
 * The row's link decomposed: the baseline is the link at the training
 * means (with the calibration offset), each column contributes coef x
 * (value - training mean), a one-hot column as one feature, so the parts
 * add up exactly to the row's link: a linear model's prediction, a
 * logistic model's logit.  False when the model scores the row NULL.
 */
static bool
GlmExplain(const Model *m, FeatureReader *r, int cls, Contribution *parts, double *baseline)
{
	const LinearFit *f = &GlmModelOf(m)->linear;
	double		eta;

	if (!GlmModelLink(m, r, &eta))
		return false;
	*baseline = f->intercept + m->link_offset;
	for (int j = 0; j < m->spec->nslots; j++)
		*baseline += f->coef[j] * f->slot_mean[j];
	for (int i = 0; i < m->spec->ncolumns; i++)
		ModelColumnContribution(m->spec, r, i, f->coef, f->slot_mean, &parts[i]);
	return true;
}

/*
 * One row per encoded slot plus the intercept, on the original scale;
 * aliased slots have NULL coef, and inference columns are NULL when the
 * model has none (ridge).  stat is t for linear models and z for logistic
 * ones, whose odds_ratio is exp(coef).
 */
static void
GlmCoefficients(const Model *m, ReturnSetInfo *rsinfo)
{
	const LinearFit *f = &GlmModelOf(m)->linear;
	bool		logistic = m->ops->code == ALG_LOGISTIC;
	double		nan = get_float8_nan();

	for (int i = 0; i <= f->p; i++)
	{
		bool		aliased = i > 0 && f->aliased[i - 1];
		double		coef = i == 0 ? f->intercept : f->coef[i - 1];

		ModelCoefficientRow(rsinfo, i == 0 ? "(intercept)" : FeatureSlotName(m->spec, i - 1),
							aliased ? nan : coef,
							f->has_inference ? f->se[i] : nan,
							f->has_inference ? f->stat[i] : nan,
							f->has_inference ? f->pval[i] : nan,
							logistic && !aliased ? exp(coef) : nan, NULL);
	}
}

const AlgorithmOps LinearOps = {
	.name = "linear",
	.code = ALG_LINEAR,
	.flags = ALG_FEATURES | ALG_GROUPS,
	.targets = TARGET_NUMBER,
	.options = "l2",
	.example = "{\"l2\": 0.1}",
	.options_new = LinearOptionsNew,
	.option = LinearOption,
	.options_json = LinearOptionsJson,
	.target = LinearTarget,
	.train = TrainLinear,
	.write = LinearWrite,
	.read = LinearRead,
	.output = NumberOutput,
	.score = LinearScore,
	.link = GlmModelLink,
	.classify = NULL,
	.explain = GlmExplain,
	.coefficients = GlmCoefficients,
};

const AlgorithmOps LogisticOps = {
	.name = "logistic",
	.code = ALG_LOGISTIC,
	.flags = ALG_FEATURES | ALG_GROUPS,
	.targets = TARGET_BINARY,
	.options = "l2, positive, class_weight, calibrate, max_iter, tol, threshold",
	.example = "{\"class_weight\": \"balanced\"}",
	.options_new = LogisticOptionsNew,
	.option = LogisticOption,
	.options_json = LogisticOptionsJson,
	.target = LogisticTarget,
	.train = TrainLogistic,
	.write = LogisticWrite,
	.read = LogisticRead,
	.output = NumberOutput,
	.score = LogisticScore,
	.link = GlmModelLink,
	.classify = LogisticClassify,
	.explain = GlmExplain,
	.coefficients = GlmCoefficients,
};
