/*-------------------------------------------------------------------------
 * model_clv.c
 *	  The model unit of the lifetime-value algorithms ('bgnbd', 'paretonbd',
 *	  'gammagamma', 'clv'): their params body, scoring, coefficients, and
 *	  their entries in the algorithm table.
 *
 * All four keep a ClvModel (clv.h): a purchase submodel, a spend
 * submodel, or both with the valuation settings; their spec's columns are
 * frequency, recency, t, monetary, those the algorithm reads, in that
 * order.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "utils/float.h"

#include "clv.h"
#include "model.h"
#include "trainer.h"

/* One fitted lifetime-value submodel (or just its family CLV_NONE) */
static void
WriteClvFit(StringInfo buf, const ClvFit *f)
{
	pq_sendint16(buf, (int16) f->family);
	if (f->family == CLV_NONE)
		return;
	ModelWriteDoubles(buf, f->par, f->nparams);
	ModelWriteDoubles(buf, f->se, f->nparams);
	pq_sendfloat8(buf, f->loglik);
	pq_sendint32(buf, f->iterations);
	pq_sendbyte(buf, f->converged ? 1 : 0);
	pq_sendfloat8(buf, f->n);
}

static void
ReadClvFit(StringInfo buf, ClvFit *f)
{
	f->family = (ClvFamily) pq_getmsgint(buf, 2);
	if (f->family < CLV_NONE || f->family > CLV_GAMMAGAMMA)
		ModelCorrupt(psprintf("unknown lifetime-value family %d", (int) f->family));
	f->nparams = ClvParamCount(f->family);
	if (f->family == CLV_NONE)
		return;
	for (int i = 0; i < f->nparams; i++)
		f->par[i] = pq_getmsgfloat8(buf);
	for (int i = 0; i < f->nparams; i++)
		f->se[i] = pq_getmsgfloat8(buf);
	f->loglik = pq_getmsgfloat8(buf);
	f->iterations = pq_getmsgint(buf, 4);
	f->converged = pq_getmsgbyte(buf) != 0;
	f->n = pq_getmsgfloat8(buf);
	for (int i = 0; i < f->nparams; i++)
		if (!(f->par[i] > 0) || isinf(f->par[i]) || f->se[i] < 0 || isinf(f->se[i]))
			ModelCorrupt(psprintf("parameter %s is not a positive finite number",
								  ClvParamName(f->family, i)));
	if (!(f->loglik <= 0) || isinf(f->loglik) || f->iterations < 0 || !(f->n >= 0) || isinf(f->n))
		ModelCorrupt("the fit's log-likelihood, iterations or customers are out of range");
}

/* The lifetime-value body: submodels and valuation settings */
static void
WriteClv(StringInfo buf, const ClvModel *m)
{
	WriteClvFit(buf, &m->purchase);
	WriteClvFit(buf, &m->spend);
	pq_sendint32(buf, m->horizon_months);
	pq_sendfloat8(buf, m->discount_rate);
	pq_sendfloat8(buf, m->unit_days);
}

static void
ReadClv(StringInfo buf, ClvModel *m, int ncolumns)
{
	ReadClvFit(buf, &m->purchase);
	ReadClvFit(buf, &m->spend);
	m->horizon_months = pq_getmsgint(buf, 4);
	m->discount_rate = pq_getmsgfloat8(buf);
	m->unit_days = pq_getmsgfloat8(buf);
	if (ncolumns != (m->purchase.family != CLV_NONE ? 3 : 1) + (m->spend.family != CLV_NONE ? 1 : 0))
		ModelCorrupt(psprintf("the lifetime-value fits do not match the model's %d columns", ncolumns));
	/* the ranges train() allows: the valuation's loops run over them */
	if (m->horizon_months < 1 || m->horizon_months > CLV_MAX_HORIZON_MONTHS)
		ModelCorrupt(psprintf("a horizon of %d months, outside 1 to %d", m->horizon_months,
							  CLV_MAX_HORIZON_MONTHS));
	if (!(m->discount_rate >= 0 && m->discount_rate < 1))
		ModelCorrupt(psprintf("a discount rate of %g, outside [0, 1)", m->discount_rate));
	if (!(m->unit_days > 0 && m->unit_days <= 3660))
		ModelCorrupt(psprintf("a time unit of %g days, outside (0, 3660]", m->unit_days));
}

/* The submodels each algorithm has: refuse any other combination */
static void
CheckFamilies(const Model *model, const ClvModel *m)
{
	ClvFamily	p = m->purchase.family,
				s = m->spend.family;
	bool		ok;

	switch (model->ops->code)
	{
		case ALG_BGNBD:
			ok = p == CLV_BGNBD && s == CLV_NONE;
			break;
		case ALG_PARETONBD:
			ok = p == CLV_PARETONBD && s == CLV_NONE;
			break;
		case ALG_GAMMAGAMMA:
			ok = p == CLV_NONE && s == CLV_GAMMAGAMMA;
			break;
		default:
			ok = (p == CLV_BGNBD || p == CLV_PARETONBD) && s == CLV_GAMMAGAMMA;
			break;
	}
	if (!ok)
		ModelCorrupt(psprintf("a %s model with submodels of families %d and %d", model->ops->name,
							  (int) p, (int) s));
}

/*
 * The score of a lifetime-value model for the current row: P(alive) for a
 * purchase model, the expected spend per transaction for a spend model,
 * the lifetime value for 'clv'; false when an input it needs is NULL.
 */
static bool
ClvScore(const Model *model, FeatureReader *r, double *score)
{
	const FeatureSpec *spec = model->spec;
	const ClvModel *m = (const ClvModel *) model->body;
	double		x,
				tx = 0,
				T = 0,
				mon = 0;
	bool		purchase = m->purchase.family != CLV_NONE;

	if (!FeatureReadNumber(r, spec, 0, &x))
		return false;
	if (purchase)
	{
		if (!FeatureReadNumber(r, spec, 1, &tx) || !FeatureReadNumber(r, spec, 2, &T))
			return false;
		ClvCheckHistory(x, tx, T, false);
	}
	if (m->spend.family != CLV_NONE && x > 0)
	{
		if (!FeatureReadNumber(r, spec, purchase ? 3 : 1, &mon))
			return false;
		ClvCheckSpend(x, mon);
	}
	else if (x < 0)
		ClvCheckHistory(x, 0, 1, false);
	switch (model->ops->code)
	{
		case ALG_GAMMAGAMMA:
			*score = ClvExpectedSpend(&m->spend, x, mon);
			break;
		case ALG_CLV:
			*score = ClvValue(m, x, tx, T, ClvExpectedSpend(&m->spend, x, mon));
			break;
		default:
			*score = ClvPAlive(&m->purchase, x, tx, T);
			break;
	}
	return !isnan(*score);		/* NaN: a spend model without a finite mean */
}

/* The params body of a lifetime-value model */
static void
ClvWrite(StringInfo buf, const Model *m)
{
	WriteClv(buf, (const ClvModel *) m->body);
}

static void
ClvRead(StringInfo buf, Model *m, int format)
{
	ClvModel   *c = palloc0(sizeof(ClvModel));

	ReadClv(buf, c, m->spec->ncolumns);
	CheckFamilies(m, c);
	m->body = c;
}

static OutputKind
ClvOutput(const Model *m)
{
	return OUTPUT_NUMBER;
}

/*
 * The parameters of a lifetime-value model's submodels, by name, with
 * standard errors (no test statistic: the parameters are positive by
 * construction, and 0 is not a hypothesis of interest).
 */
static void
ClvCoefficients(const Model *model, ReturnSetInfo *rsinfo)
{
	const ClvModel *m = (const ClvModel *) model->body;
	const ClvFit *fits[2] = {&m->purchase, &m->spend};
	double		nan = get_float8_nan();

	for (int k = 0; k < 2; k++)
		for (int i = 0; i < fits[k]->nparams; i++)
			ModelCoefficientRow(rsinfo, ClvParamName(fits[k]->family, i), fits[k]->par[i],
								fits[k]->se[i], nan, nan, nan, NULL);
}

#define CLV_OPS(NAME, CODE, FLAGS, OPTIONS, EXAMPLE) { \
	.name = NAME, \
	.code = CODE, \
	.flags = FLAGS, \
	.targets = TARGET_NONE, \
	.options = OPTIONS, \
	.example = EXAMPLE, \
	.options_new = ClvOptionsNew, \
	.option = ClvOption, \
	.options_json = ClvOptionsJson, \
	.target = NULL, \
	.train = TrainClv, \
	.write = ClvWrite, \
	.read = ClvRead, \
	.output = ClvOutput, \
	.score = ClvScore, \
	.link = NULL, \
	.classify = NULL, \
	.explain = NULL, \
	.coefficients = ClvCoefficients, \
}

#define CLV_FIT_OPTIONS "columns, max_iter, tol, warm_start"
#define CLV_EXAMPLE "{\"columns\": {\"t\": \"age_weeks\"}}"

const AlgorithmOps BgnbdOps = CLV_OPS("bgnbd", ALG_BGNBD, ALG_LIFETIME, CLV_FIT_OPTIONS, CLV_EXAMPLE);
const AlgorithmOps ParetonbdOps = CLV_OPS("paretonbd", ALG_PARETONBD, ALG_LIFETIME, CLV_FIT_OPTIONS, CLV_EXAMPLE);
const AlgorithmOps GammagammaOps = CLV_OPS("gammagamma", ALG_GAMMAGAMMA, ALG_LIFETIME, CLV_FIT_OPTIONS, CLV_EXAMPLE);
const AlgorithmOps ClvOps = CLV_OPS("clv", ALG_CLV, ALG_LIFETIME | ALG_VALUE,
									CLV_FIT_OPTIONS ", purchase_model, horizon_months, discount_rate, unit_days",
									"{\"horizon_months\": 24}");
