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
	model->spec = FeatureSpecRead(&buf, format);
	if (model->algorithm != ALG_LINEAR && model->algorithm != ALG_LOGISTIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model parameters name unknown algorithm %d", (int) model->algorithm)));
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

	if (!ModelLinkRow(model, r, &eta))
		return false;
	*score = model->algorithm == ALG_LOGISTIC ? LogisticSigmoid(eta) : eta;
	return true;
}

static int
CompareDoubles(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Store the percentiles 1..99 of the training population's scores (R's
 * default quantile definition, linear between order statistics), so that
 * scoring later ranks a profile against the population the model learned
 * from, in batch and in real time alike.  Sorts scores unless sorted.
 */
void
ModelSetQuantiles(Model *model, double *scores, int64 n, bool sorted)
{
	model->nquantiles = 0;
	if (n < 2)
		return;
	if (!sorted)
		qsort(scores, n, sizeof(double), CompareDoubles);
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
