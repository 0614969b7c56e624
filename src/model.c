/*-------------------------------------------------------------------------
 * model.c
 *	  The params format: a header (magic, format version, algorithm), the
 *	  feature spec, then the algorithm's parameters.
 *
 * Readers accept every format version up to their own, so a model stored
 * by an older release keeps scoring after an upgrade.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"

#include "logistic.h"
#include "metrics.h"
#include "model.h"
#include "profenrich.h"

/* Write n doubles */
static void
WriteDoubles(StringInfo buf, const double *v, int n)
{
	for (int i = 0; i < n; i++)
		pq_sendfloat8(buf, v[i]);
}

/* Read n doubles into a new array */
static double *
ReadDoubles(StringInfo buf, int n)
{
	double	   *v = palloc(sizeof(double) * Max(n, 1));

	for (int i = 0; i < n; i++)
		v[i] = pq_getmsgfloat8(buf);
	return v;
}

/* The linear body: coefficients, aliasing, inference, slot scale */
static void
WriteLinear(StringInfo buf, const LinearFit *f)
{
	pq_sendint32(buf, f->p);
	pq_sendfloat8(buf, f->intercept);
	WriteDoubles(buf, f->coef, f->p);
	for (int i = 0; i < f->p; i++)
		pq_sendbyte(buf, f->aliased[i] ? 1 : 0);
	pq_sendint32(buf, f->rank);
	pq_sendfloat8(buf, f->rss);
	pq_sendfloat8(buf, f->df_resid);
	pq_sendbyte(buf, f->has_inference ? 1 : 0);
	if (f->has_inference)
	{
		WriteDoubles(buf, f->se, f->p + 1);
		WriteDoubles(buf, f->stat, f->p + 1);
		WriteDoubles(buf, f->pval, f->p + 1);
	}
	WriteDoubles(buf, f->slot_mean, f->p);
	WriteDoubles(buf, f->slot_sd, f->p);
}

static void
ReadLinear(StringInfo buf, LinearFit *f, int nslots)
{
	f->p = pq_getmsgint(buf, 4);
	if (f->p != nslots)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model parameters hold %d coefficients for %d slots", f->p, nslots)));
	f->intercept = pq_getmsgfloat8(buf);
	f->coef = ReadDoubles(buf, f->p);
	f->aliased = palloc(sizeof(bool) * Max(f->p, 1));
	for (int i = 0; i < f->p; i++)
		f->aliased[i] = pq_getmsgbyte(buf) != 0;
	f->rank = pq_getmsgint(buf, 4);
	f->rss = pq_getmsgfloat8(buf);
	f->df_resid = pq_getmsgfloat8(buf);
	f->has_inference = pq_getmsgbyte(buf) != 0;
	if (f->has_inference)
	{
		f->se = ReadDoubles(buf, f->p + 1);
		f->stat = ReadDoubles(buf, f->p + 1);
		f->pval = ReadDoubles(buf, f->p + 1);
	}
	f->slot_mean = ReadDoubles(buf, f->p);
	f->slot_sd = ReadDoubles(buf, f->p);
}

/* One fitted lifetime-value submodel (or just its family CLV_NONE) */
static void
WriteClvFit(StringInfo buf, const ClvFit *f)
{
	pq_sendint16(buf, (int16) f->family);
	if (f->family == CLV_NONE)
		return;
	WriteDoubles(buf, f->par, f->nparams);
	WriteDoubles(buf, f->se, f->nparams);
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
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model parameters name unknown lifetime-value family %d", (int) f->family)));
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
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("lifetime-value model parameters do not match its %d columns", ncolumns)));
}

/* The params bytea of a model */
bytea *
ModelSerialize(const Model *model)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, MODEL_MAGIC);
	pq_sendint16(&buf, MODEL_FORMAT);
	pq_sendint16(&buf, (int16) model->algorithm);
	FeatureSpecWrite(&buf, model->spec);
	if (ALG_IS_CLV(model->algorithm))
		WriteClv(&buf, &model->clv);
	else
		WriteLinear(&buf, &model->linear);
	if (model->algorithm == ALG_LOGISTIC)
	{
		pq_sendint32(&buf, model->iterations);
		pq_sendbyte(&buf, model->converged ? 1 : 0);
		pq_sendfloat8(&buf, model->loglik);
	}
	pq_sendint32(&buf, model->nquantiles);
	WriteDoubles(&buf, model->quantiles, model->nquantiles);
	return pq_endtypsend(&buf);
}

/* The format of the feature spec inside params of a model format */
static int
SpecFormatOf(int model_format)
{
	if (model_format >= 5)
		return 3;
	return model_format >= 2 ? 2 : 1;
}

/* A model from its params, refusing anything that is not a known format */
Model *
ModelDeserialize(bytea *params)
{
	StringInfoData buf;
	Model	   *model = palloc0(sizeof(Model));
	int			format;

	BYTES_READER(&buf, params);
	if (buf.len < 8 || (uint32) pq_getmsgint(&buf, 4) != MODEL_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model parameters are not in profenrich's format")));
	format = pq_getmsgint(&buf, 2);
	if (format < 1 || format > MODEL_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model parameters have format version %d, this build reads up to %d",
						format, MODEL_FORMAT),
				 errhint("Update the profenrich extension to the release that trained the model.")));
	model->algorithm = (ProfAlgorithm) pq_getmsgint(&buf, 2);
	model->spec = FeatureSpecRead(&buf, SpecFormatOf(format));
	if (model->algorithm < ALG_LINEAR || model->algorithm > ALG_CLV ||
		(ALG_IS_CLV(model->algorithm) && format < 4))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model parameters name unknown algorithm %d", (int) model->algorithm)));
	if (ALG_IS_CLV(model->algorithm))
		ReadClv(&buf, &model->clv, model->spec->ncolumns);
	else
		ReadLinear(&buf, &model->linear, model->spec->nslots);
	if (model->algorithm == ALG_LOGISTIC)
	{
		model->iterations = pq_getmsgint(&buf, 4);
		model->converged = pq_getmsgbyte(&buf) != 0;
		model->loglik = pq_getmsgfloat8(&buf);
	}
	if (format >= 3)
	{
		model->nquantiles = pq_getmsgint(&buf, 4);
		if (model->nquantiles != 0 && model->nquantiles != MODEL_QUANTILES)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model parameters hold %d score quantiles", model->nquantiles)));
		model->quantiles = ReadDoubles(&buf, model->nquantiles);
	}
	if (buf.cursor != buf.len)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model parameters have trailing bytes")));
	return model;
}

/*
 * The linear predictor b0 + x'b of the reader's current row; false when a
 * feature is NULL and the model was trained without imputation.
 */
bool
ModelLinkRow(const Model *model, FeatureReader *r, double *eta)
{
	const FeatureSpec *spec = model->spec;
	const LinearFit *fit = &model->linear;
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
		}
	}
	*eta = v;
	return true;
}

/* The model's prediction for the current row: the mean, or the probability */
bool
ModelScoreRow(const Model *model, FeatureReader *r, double *score)
{
	double		eta;

	if (ALG_IS_CLV(model->algorithm))
		return ModelClvRow(model, r, score);
	if (!ModelLinkRow(model, r, &eta))
		return false;
	*score = model->algorithm == ALG_LOGISTIC ? LogisticSigmoid(eta) : eta;
	return true;
}

/*
 * The score of a lifetime-value model for the current row: P(alive) for a
 * purchase model, the expected spend per transaction for a spend model,
 * the lifetime value for 'clv'; false when an input it needs is NULL.
 */
bool
ModelClvRow(const Model *model, FeatureReader *r, double *score)
{
	const FeatureSpec *spec = model->spec;
	const ClvModel *m = &model->clv;
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
	switch (model->algorithm)
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

/*
 * Store the percentiles 1..99 of the training population's scores (R's
 * default quantile definition, linear between order statistics), so that
 * scoring later ranks a profile against the population the model learned
 * from, in batch and in real time alike.  Scores not sorted go through
 * ModelSetWeightedQuantiles, which sorts only what the cut points need.
 */
void
ModelSetQuantiles(Model *model, double *scores, int64 n, bool sorted)
{
	model->nquantiles = 0;
	if (!sorted)
	{
		ModelSetWeightedQuantiles(model, scores, NULL, 0, n);
		return;
	}
	if (n < 2)
		return;
	model->quantiles = palloc(sizeof(double) * MODEL_QUANTILES);
	for (int k = 1; k <= MODEL_QUANTILES; k++)
	{
		double		h = (n - 1) * (k / 100.0);
		int64		lo = (int64) floor(h);
		int64		hi = Min(lo + 1, n - 1);

		model->quantiles[k - 1] = scores[lo] + (h - lo) * (scores[hi] - scores[lo]);
	}
	model->nquantiles = MODEL_QUANTILES;
}

#define SELECT_BUCKETS (1 << 16)

/*
 * ModelSetQuantiles for scores with whole-number weights (w for the first
 * nweighted scores, 1 for the rest): the same cut points as over the
 * expanded population, without sorting all of them.
 * A histogram of the weights over 2^16 buckets of the scores' order keys
 * finds the bucket of every order statistic a cut point needs; only the
 * scores of those buckets are then sorted.
 */
void
ModelSetWeightedQuantiles(Model *model, const double *scores, const double *w, int64 nweighted,
						  int64 n)
{
	uint64		kmin = PG_UINT64_MAX,
				kmax = 0;
	int			shift = 0;
	double	   *hist,
				total = 0,
				want[2 * MODEL_QUANTILES];
	bool	   *needed;
	int			nwant = 0;
	ScoredLabel *picked;
	int64		npicked = 0;

	model->nquantiles = 0;
	for (int64 i = 0; i < n; i++)
	{
		uint64		k = MetricsOrderKey(scores[i]);

		kmin = Min(kmin, k);
		kmax = Max(kmax, k);
	}
	total = n - nweighted;
	for (int64 i = 0; i < nweighted; i++)
		total += w[i];
	if (total < 2)
		return;
	while (((kmax - kmin) >> shift) >= SELECT_BUCKETS)
		shift++;
	hist = palloc0(sizeof(double) * SELECT_BUCKETS);
	needed = palloc0(sizeof(bool) * SELECT_BUCKETS);
	for (int64 i = 0; i < nweighted; i++)
		hist[(MetricsOrderKey(scores[i]) - kmin) >> shift] += w[i];
	for (int64 i = nweighted; i < n; i++)
		hist[(MetricsOrderKey(scores[i]) - kmin) >> shift] += 1.0;
	/* the order statistics (0-based) that the cut points interpolate between */
	for (int k = 1; k <= MODEL_QUANTILES; k++)
	{
		double		h = (total - 1) * (k / 100.0);

		want[nwant++] = floor(h);
		want[nwant++] = Min(floor(h) + 1, total - 1);
	}
	{
		double		below = 0;
		int			b = 0;

		for (int j = 0; j < nwant; j++)
		{
			while (b < SELECT_BUCKETS - 1 && below + hist[b] <= want[j])
				below += hist[b++];
			needed[b] = true;
		}
	}
	picked = palloc_extended(sizeof(ScoredLabel) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < n; i++)
	{
		int			b = (int) ((MetricsOrderKey(scores[i]) - kmin) >> shift);

		if (needed[b])
		{
			picked[npicked].score = scores[i];
			picked[npicked++].label = i < nweighted ? w[i] : 1.0;
		}
	}
	MetricsSortPairs(picked, npicked);
	/* walk the buckets and the picked scores together to each order statistic */
	model->quantiles = palloc(sizeof(double) * MODEL_QUANTILES);
	{
		double		below = 0;	/* weight of the buckets before b */
		int			b = 0;
		int64		at = 0;		/* first picked score of bucket b */
		double		v[2 * MODEL_QUANTILES];

		for (int j = 0; j < nwant; j++)
		{
			double		inb;
			int64		p;

			while (b < SELECT_BUCKETS - 1 && below + hist[b] <= want[j])
			{
				below += hist[b];
				if (needed[b])
					while (at < npicked && (int) ((MetricsOrderKey(picked[at].score) - kmin) >> shift) == b)
						at++;
				b++;
			}
			/* within bucket b: the picked scores from at on, in order */
			inb = below;
			p = at;
			while (p < npicked - 1 && inb + picked[p].label <= want[j])
				inb += picked[p++].label;
			v[j] = picked[p].score;
		}
		for (int k = 1; k <= MODEL_QUANTILES; k++)
		{
			double		h = (total - 1) * (k / 100.0);

			model->quantiles[k - 1] = v[2 * (k - 1)] + (h - floor(h)) * (v[2 * k - 1] - v[2 * (k - 1)]);
		}
	}
	model->nquantiles = MODEL_QUANTILES;
	pfree(hist);
	pfree(needed);
	pfree(picked);
}

/*
 * The percentile (1..100) of a score in the training population: one plus
 * the number of cut points below it; 0 when the model has no quantiles.
 */
int
ModelPercentile(const Model *model, double score)
{
	int			lo = 0,
				hi = model->nquantiles;

	if (model->nquantiles == 0)
		return 0;
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (model->quantiles[mid] < score)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 1;
}
