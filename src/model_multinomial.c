/*-------------------------------------------------------------------------
 * model_multinomial.c
 *	  The model unit of 'multinomial': its params body, class probabilities,
 *	  explanation, coefficients, and its entry in the algorithm table.
 *
 * The body keeps, for each class but the reference (the first label), the
 * intercept and slot coefficients of its log-odds against the reference
 * on the original scale, so scoring a row is K - 1 linear predictors and
 * a softmax.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "utils/float.h"

#include "glm.h"
#include "model_multinomial.h"
#include "multinomial.h"
#include "trainer.h"

/* The body: shape, coefficients, aliasing, inference, slot scale, fit summary */
static void
MultinomialWrite(StringInfo buf, const Model *m)
{
	const MultinomialModel *g = MultinomialModelOf(m);
	int			n = (g->nclasses - 1) * (g->nslots + 1);

	pq_sendint32(buf, g->nclasses);
	pq_sendint32(buf, g->nslots);
	ModelWriteDoubles(buf, g->coef, n);
	for (int j = 0; j < g->nslots; j++)
		pq_sendbyte(buf, g->aliased[j] ? 1 : 0);
	pq_sendint32(buf, g->rank);
	pq_sendbyte(buf, g->has_inference ? 1 : 0);
	if (g->has_inference)
	{
		ModelWriteDoubles(buf, g->se, n);
		ModelWriteDoubles(buf, g->stat, n);
		ModelWriteDoubles(buf, g->pval, n);
	}
	ModelWriteDoubles(buf, g->slot_mean, g->nslots);
	ModelWriteDoubles(buf, g->slot_sd, g->nslots);
	pq_sendint32(buf, g->iterations);
	pq_sendbyte(buf, g->converged ? 1 : 0);
	pq_sendfloat8(buf, g->loglik);
}

/*
 * Refuse a body no fit could have written: every number scoring or the
 * explanation uses finite, the rank within the slots, inference (NaN where
 * aliased) of a standard error not below 0 and p values in [0, 1].
 */
static void
CheckBody(const MultinomialModel *g)
{
	int			n = (g->nclasses - 1) * (g->nslots + 1);

	if (g->rank < 1 || g->rank > g->nslots + 1 || g->iterations < 0 || !(g->loglik <= 0))
		ModelCorrupt("the multinomial fit's rank, iterations or log-likelihood are out of range");
	for (int i = 0; i < n; i++)
		if (!isfinite(g->coef[i]))
			ModelCorrupt(psprintf("multinomial coefficient %d is not finite", i + 1));
	for (int j = 0; j < g->nslots; j++)
		if (!isfinite(g->slot_mean[j]) || !(g->slot_sd[j] >= 0) || isinf(g->slot_sd[j]))
			ModelCorrupt(psprintf("the scale of slot %d is not finite", j + 1));
	if (g->has_inference)
		for (int i = 0; i < n; i++)
			if (isinf(g->se[i]) || g->se[i] < 0 ||
				!(isnan(g->pval[i]) || (g->pval[i] >= 0 && g->pval[i] <= 1)))
				ModelCorrupt(psprintf("the inference of multinomial coefficient %d is out of range", i + 1));
}

/* Read the body, checking its shape against the spec */
static void
MultinomialRead(StringInfo buf, Model *m, int format)
{
	MultinomialModel *g = palloc0(sizeof(MultinomialModel));
	int			n;

	g->nclasses = pq_getmsgint(buf, 4);
	g->nslots = pq_getmsgint(buf, 4);
	if (g->nclasses < 2 || g->nclasses > MODEL_MAX_CLASSES || g->nslots != m->spec->nslots)
		ModelCorrupt("the multinomial body's shape does not match its spec");
	n = (g->nclasses - 1) * (g->nslots + 1);
	g->coef = ModelReadDoubles(buf, n);
	g->aliased = palloc(sizeof(bool) * Max(g->nslots, 1));
	for (int j = 0; j < g->nslots; j++)
	{
		int			b = pq_getmsgbyte(buf);

		if (b != 0 && b != 1)
			ModelCorrupt("an aliasing flag is not 0 or 1");
		g->aliased[j] = b == 1;
	}
	g->rank = pq_getmsgint(buf, 4);
	g->has_inference = pq_getmsgbyte(buf) != 0;
	if (g->has_inference)
	{
		g->se = ModelReadDoubles(buf, n);
		g->stat = ModelReadDoubles(buf, n);
		g->pval = ModelReadDoubles(buf, n);
	}
	g->slot_mean = ModelReadDoubles(buf, g->nslots);
	g->slot_sd = ModelReadDoubles(buf, g->nslots);
	g->iterations = pq_getmsgint(buf, 4);
	g->converged = pq_getmsgbyte(buf) != 0;
	g->loglik = pq_getmsgfloat8(buf);
	CheckBody(g);
	m->body = g;
}

/* The body's class count must be the class section's */
static inline const MultinomialModel *
CheckedBody(const Model *m)
{
	const MultinomialModel *g = MultinomialModelOf(m);

	if (unlikely(g->nclasses != m->nclasses))
		ModelCorrupt("the multinomial body and the class labels disagree on the number of classes");
	return g;
}

/*
 * The K links of the reader's current row: eta[0] = 0 (the reference),
 * eta[k] the log-odds of class k against it; false when a feature is NULL
 * and the model was trained without imputation, or a category is unseen
 * under "unseen": "null" (under "average" it takes its column's training
 * shares, under "error" it raises).  A log-odds that is not
 * finite (a feature far beyond the training range) is an error, never a
 * NaN probability.
 */
bool
MultinomialModelLinks(const Model *m, FeatureReader *r, double *eta)
{
	const FeatureSpec *spec = m->spec;
	const MultinomialModel *g = CheckedBody(m);
	int			w = g->nslots + 1;
	int			nk = g->nclasses;
	bool		impute = spec->impute == IMPUTE_MEAN;

	eta[0] = 0.0;
	for (int k = 1; k < nk; k++)
		eta[k] = g->coef[(k - 1) * w];
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *col = &spec->columns[i];
		int			slot;
		double		x = 1.0;

		if (col->kind != FEATURE_CATEGORICAL)
		{
			if (!FeatureReadNumber(r, spec, i, &x))
			{
				if (!impute)
					return false;
				x = col->impute;
			}
			slot = col->first_slot;
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
			if (level < 0)
			{
				/* unseen: NULL or an error by the spec's policy, else its shares (or no slot) */
				if (!FeatureUnseenLevel(r, spec, i))
					return false;
				if (col->shares && spec->unseen == UNSEEN_AVERAGE)
					for (int j = 0; j < col->nslots; j++)
						for (int k = 1; k < nk; k++)
							eta[k] += g->coef[(k - 1) * w + 1 + col->first_slot + j] * col->shares[j];
				continue;
			}
			slot = col->first_slot + level;
		}
		for (int k = 1; k < nk; k++)
			eta[k] += g->coef[(k - 1) * w + 1 + slot] * x;
	}
	for (int k = 1; k < nk; k++)
		if (unlikely(!isfinite(eta[k])))
			GlmRefuseLink(eta[k]);
	return true;
}

/* The probabilities of the K classes, in label order */
static bool
MultinomialClassify(const Model *m, FeatureReader *r, double *probs)
{
	double		eta[MODEL_MAX_CLASSES];

	if (!MultinomialModelLinks(m, r, eta))
		return false;
	MultinomialSoftmax(eta, m->nclasses, probs);
	return true;
}

static OutputKind
ClassOutput(const Model *m)
{
	return OUTPUT_CLASS;
}

/*
 * The log-odds of class cls against the reference decomposed, as logistic
 * models decompose their logit: the baseline is the log-odds at the
 * training means, each column contributes coef x (value - training mean), a
 * one-hot column as one feature, so the parts add up exactly to the row's
 * log-odds.  For the reference class itself (whose log-odds against
 * itself is 0) the parts are those of its log-odds against the most
 * probable other class for this row, log(p_ref / p_k): the reasons the
 * reference beat its closest rival.
 */
static bool
MultinomialExplain(const Model *m, FeatureReader *r, int cls, Contribution *parts,
				   double *baseline)
{
	const MultinomialModel *g = CheckedBody(m);
	int			w = g->nslots + 1;
	double		sign = 1.0;
	const double *coef;

	if (cls < 0 || cls >= g->nclasses)
		elog(ERROR, "class index %d out of range", cls);
	if (cls == 0)
	{
		double		eta[MODEL_MAX_CLASSES];

		if (!MultinomialModelLinks(m, r, eta))
			return false;
		cls = 1;
		for (int k = 2; k < g->nclasses; k++)
			if (eta[k] > eta[cls])
				cls = k;
		sign = -1.0;
	}
	coef = &g->coef[(cls - 1) * w];
	*baseline = coef[0];
	for (int j = 0; j < g->nslots; j++)
		*baseline += coef[1 + j] * g->slot_mean[j];
	*baseline *= sign;
	for (int i = 0; i < m->spec->ncolumns; i++)
	{
		ModelColumnContribution(m->spec, r, i, coef + 1, g->slot_mean, &parts[i]);
		parts[i].amount *= sign;
	}
	return true;
}

/*
 * One row per (class, parameter) for every class but the reference: the
 * intercept and each encoded slot of its log-odds against the reference,
 * on the original scale, with z statistics and odds ratios exp(coef)
 * (relative risk ratios, as R's nnet::multinom reports exp(coef));
 * aliased slots have NULL coef, and inference is NULL when the model has
 * none (ridge, L-BFGS, separated classes).
 */
static void
MultinomialCoefficients(const Model *m, ReturnSetInfo *rsinfo)
{
	const MultinomialModel *g = CheckedBody(m);
	int			w = g->nslots + 1;
	double		nan = get_float8_nan();

	for (int k = 1; k < g->nclasses; k++)
		for (int i = 0; i < w; i++)
		{
			int			p = (k - 1) * w + i;
			bool		aliased = i > 0 && g->aliased[i - 1];
			bool		inf = g->has_inference && !aliased;

			ModelCoefficientRow(rsinfo, i == 0 ? "(intercept)" : FeatureSlotName(m->spec, i - 1),
								aliased ? nan : g->coef[p],
								inf ? g->se[p] : nan,
								inf ? g->stat[p] : nan,
								inf ? g->pval[p] : nan,
								aliased ? nan : exp(g->coef[p]), m->classes[k]);
		}
}

const AlgorithmOps MultinomialOps = {
	.name = "multinomial",
	.code = ALG_MULTINOMIAL,
	.flags = ALG_FEATURES | ALG_CLASS_INDEX,
	.targets = TARGET_CLASSES,
	.options = "l2, class_weight, max_iter, tol, solver",
	.example = "{\"class_weight\": \"balanced\"}",
	.options_new = MultinomialOptionsNew,
	.option = MultinomialOption,
	.options_json = MultinomialOptionsJson,
	.target = MultinomialTarget,
	.train = TrainMultinomial,
	.write = MultinomialWrite,
	.read = MultinomialRead,
	.output = ClassOutput,
	.score = NULL,
	.link = NULL,
	.classify = MultinomialClassify,
	.explain = MultinomialExplain,
	.coefficients = MultinomialCoefficients,
};
