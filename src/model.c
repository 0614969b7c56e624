/*-------------------------------------------------------------------------
 * model.c
 *	  The params format: a header (magic, format version, algorithm), the
 *	  feature spec, the family's body, the score quantiles and, from format
 *	  5 on, tagged sections; and what every model does whatever its family:
 *	  percentiles of the training population, influential factors.
 *
 * Readers accept every format version up to their own, so a model stored
 * by an older release keeps scoring after an upgrade.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "utils/elog.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "catalog/pg_type.h"

#include "glm.h"
#include "baseline.h"
#include "metrics.h"
#include "model.h"
#include "profenrich.h"

/* Refuse params that cannot be a model of this format */
void
ModelCorrupt(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupt model parameters: %s", what),
			 errhint("Retrain the model, or restore profenrich.models from a backup.")));
}

/* Write n doubles */
void
ModelWriteDoubles(StringInfo buf, const double *v, int n)
{
	for (int i = 0; i < n; i++)
		pq_sendfloat8(buf, v[i]);
}

/* Read n doubles into a new array, checking that the bytes are there */
double *
ModelReadDoubles(StringInfo buf, int n)
{
	double	   *v;

	if (n < 0 || (Size) n * 8 > (Size) (buf->len - buf->cursor))
		ModelCorrupt("an array runs past the end");
	v = palloc(sizeof(double) * Max(n, 1));
	for (int i = 0; i < n; i++)
		v[i] = pq_getmsgfloat8(buf);
	return v;
}

/* Length-prefixed string of a section */
static void
WriteLabel(StringInfo buf, const char *s)
{
	pq_sendint32(buf, (int32) strlen(s));
	pq_sendbytes(buf, s, strlen(s));
}

static char *
ReadLabel(StringInfo buf)
{
	int32		len = pq_getmsgint(buf, 4);

	if (len < 0 || len > buf->len - buf->cursor)
		ModelCorrupt("a class label runs past the end");
	return pnstrdup(pq_getmsgbytes(buf, len), len);
}

/* The class section: labels in model order and the binary threshold */
static void
WriteClasses(StringInfo buf, const Model *m)
{
	pq_sendint32(buf, m->nclasses);
	for (int i = 0; i < m->nclasses; i++)
		WriteLabel(buf, m->classes[i]);
	pq_sendfloat8(buf, m->threshold);
}

static void
ReadClasses(StringInfo buf, Model *m)
{
	m->nclasses = pq_getmsgint(buf, 4);
	if (m->nclasses < 2 || m->nclasses > MODEL_MAX_CLASSES)
		ModelCorrupt("the number of classes is out of range");
	m->classes = palloc(sizeof(char *) * m->nclasses);
	for (int i = 0; i < m->nclasses; i++)
		m->classes[i] = ReadLabel(buf);
	m->threshold = pq_getmsgfloat8(buf);
	if (!(m->threshold > 0 && m->threshold < 1))
		ModelCorrupt("the class threshold is not in (0, 1)");
}

/* Write one tagged section, its length filled in after its bytes */
static void
WriteSection(StringInfo buf, int tag, void (*body) (StringInfo, const Model *), const Model *m)
{
	int			at;
	int32		len;

	pq_sendint16(buf, (int16) tag);
	at = buf->len;
	pq_sendint32(buf, 0);
	body(buf, m);
	len = pg_hton32((uint32) (buf->len - at - 4));
	memcpy(buf->data + at, &len, 4);
}

/* The baseline section's bytes */
static void
WriteBaseline(StringInfo buf, const Model *m)
{
	BaselineWrite(buf, m->baseline);
}

/* The sections a model carries: the classes before the baseline, which is checked against them */
static void
WriteSections(StringInfo buf, const Model *m)
{
	pq_sendint32(buf, (m->nclasses > 0 ? 1 : 0) + (m->baseline != NULL ? 1 : 0));
	if (m->nclasses > 0)
		WriteSection(buf, SECTION_CLASSES, WriteClasses, m);
	if (m->baseline != NULL)
		WriteSection(buf, SECTION_BASELINE, WriteBaseline, m);
}

/* Read the sections, each within its stated length */
static void
ReadSections(StringInfo buf, Model *m)
{
	int			n = pq_getmsgint(buf, 4);

	if (n < 0 || n > 64)
		ModelCorrupt("the section count is out of range");
	for (int i = 0; i < n; i++)
	{
		int			tag = pq_getmsgint(buf, 2);
		int32		len = pq_getmsgint(buf, 4);
		int			end;

		if (len < 0 || len > buf->len - buf->cursor)
			ModelCorrupt("a section runs past the end");
		end = buf->cursor + len;
		switch (tag)
		{
			case SECTION_CLASSES:
				ReadClasses(buf, m);
				break;
			case SECTION_BASELINE:
				if (m->baseline != NULL)
					ModelCorrupt("the baseline section appears twice");
				m->baseline = BaselineRead(buf, m->spec, m->nclasses);
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("model parameters hold a section (tag %d) this build does not know", tag),
						 errhint("Update the profenrich extension to the release that trained the model.")));
		}
		if (buf->cursor != end)
			ModelCorrupt("a section's length does not match its contents");
	}
}

/* The params bytea of a model */
bytea *
ModelSerialize(const Model *model)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, MODEL_MAGIC);
	pq_sendint16(&buf, MODEL_FORMAT);
	pq_sendint16(&buf, (int16) model->ops->code);
	FeatureSpecWrite(&buf, model->spec);
	model->ops->write(&buf, model);
	pq_sendint32(&buf, model->nquantiles);
	ModelWriteDoubles(&buf, model->quantiles, model->nquantiles);
	WriteSections(&buf, model);
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

/*
 * What a model's spec must hold beyond a spec's own checks: imputation
 * values a scorer can use.
 */
static void
CheckModelSpec(const FeatureSpec *spec)
{
	for (int i = 0; i < spec->ncolumns; i++)
		if (spec->columns[i].kind != FEATURE_CATEGORICAL && spec->impute == IMPUTE_MEAN &&
			!isfinite(spec->columns[i].impute))
			ModelCorrupt(psprintf("column \"%s\" has no imputation value", spec->columns[i].name));
}

static Model *ModelRead(bytea *params);

/*
 * A model from its params, refusing anything that is not a known format
 * or could not have been written by a training: every reader checks its
 * lengths, counts and ranges, and a read past the end is corruption too.
 */
Model *
ModelDeserialize(bytea *params)
{
	MemoryContext mcxt = CurrentMemoryContext;
	Model	   *model = NULL;

	PG_TRY();
	{
		model = ModelRead(params);
	}
	PG_CATCH();
	{
		ErrorData  *err;

		MemoryContextSwitchTo(mcxt);
		err = CopyErrorData();
		if (err->sqlerrcode != ERRCODE_PROTOCOL_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();
		ModelCorrupt("they end early");
	}
	PG_END_TRY();
	return model;
}

/* ModelDeserialize's reading, which the pq_getmsg* functions bound */
static Model *
ModelRead(bytea *params)
{
	StringInfoData buf;
	Model	   *model = palloc0(sizeof(Model));
	int			format;
	int			code;

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
	code = pq_getmsgint(&buf, 2);
	model->ops = AlgorithmByCode(code);
	if (model->ops == NULL || ((model->ops->flags & ALG_LIFETIME) && format < 4))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model parameters name unknown algorithm %d", code)));
	model->spec = FeatureSpecRead(&buf, SpecFormatOf(format), false);
	CheckModelSpec(model->spec);
	model->threshold = 0.5;
	model->ops->read(&buf, model, format);
	if (format >= 3)
	{
		model->nquantiles = pq_getmsgint(&buf, 4);
		if (model->nquantiles != 0 && model->nquantiles != MODEL_QUANTILES)
			ModelCorrupt("the number of score quantiles is not 0 or 99");
		model->quantiles = ModelReadDoubles(&buf, model->nquantiles);
		for (int k = 0; k < model->nquantiles; k++)
			if (isnan(model->quantiles[k]) || (k > 0 && model->quantiles[k] < model->quantiles[k - 1]))
				ModelCorrupt("the score quantiles are not in order");
	}
	if (format >= 5)
		ReadSections(&buf, model);
	if (buf.cursor != buf.len)
		ModelCorrupt("trailing bytes");
	/* a family's class target that reads as its class index: through the class labels */
	if ((model->ops->flags & ALG_CLASS_INDEX) && model->nclasses > 0 && !model->spec->binary &&
		model->spec->target != NULL)
	{
		model->spec->nclasses = model->nclasses;
		model->spec->classes = model->classes;
	}
	return model;
}

/* What the model gives a row */
OutputKind
ModelOutput(const Model *model)
{
	return model->ops->output(model);
}

/*
 * The model's score for the reader's current row (a number model's value,
 * a binary model's probability); false when an input it needs is NULL.
 */
bool
ModelScoreRow(const Model *model, FeatureReader *r, double *score)
{
	return model->ops->score(model, r, score);
}

/*
 * A class model's probabilities for the current row (nclasses of them, in
 * model order) and the predicted class: the most probable, or for a binary
 * model the positive one from its threshold on.  False as ModelScoreRow.
 */
bool
ModelClassifyRow(const Model *model, FeatureReader *r, double *probs, int *cls)
{
	if (!model->ops->classify(model, r, probs))
		return false;
	if (model->nclasses == 2)
		*cls = probs[1] >= model->threshold ? 1 : 0;
	else
	{
		*cls = 0;
		for (int k = 1; k < model->nclasses; k++)
			if (probs[k] > probs[*cls])
				*cls = k;
	}
	return true;
}

/*
 * A segment model's segment (1..k) for the current row and the row's
 * distance to its center; false as ModelScoreRow.
 */
bool
ModelSegmentRow(const Model *model, FeatureReader *r, int *segment, double *distance)
{
	return model->ops->segment(model, r, segment, distance);
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

/*
 * The contribution of every spec column to the current row's link (for a
 * class model, to the log-odds of class cls against the reference class),
 * and the baseline they add up from; the number of parts, or -1 when the
 * family has no explanation.
 */
int
ModelContributions(const Model *m, FeatureReader *r, int cls, Contribution *parts,
				   double *baseline)
{
	if (m->ops->explain == NULL)
		return -1;
	if (!m->ops->explain(m, r, cls, parts, baseline))
		return -1;
	return m->spec->ncolumns;
}

/*
 * The contribution of spec column col of the reader's current row to a
 * linear predictor with slot coefficients coef: coef x (value - training
 * mean), over all its one-hot slots for a category (a NULL taking the
 * imputed value or level), and the value as text.
 */
void
ModelColumnContribution(const FeatureSpec *spec, FeatureReader *r, int col, const double *coef,
						const double *slot_mean, Contribution *out)
{
	const FeatureColumn *c = &spec->columns[col];

	out->feature = c->name;
	out->amount = 0;
	if (c->kind != FEATURE_CATEGORICAL)
	{
		double		x;
		bool		present = FeatureReadNumber(r, spec, col, &x);

		out->value = !present ? NULL : c->kind == FEATURE_BOOLEAN ?
			pstrdup(x != 0 ? "true" : "false") : float8out_internal(x);
		if (!present)
			x = c->impute;
		out->amount = coef[c->first_slot] * (x - slot_mean[c->first_slot]);
	}
	else
	{
		int			level = FeatureReadLevel(r, spec, col);

		out->value = level == LEVEL_NULL ? NULL : level == LEVEL_UNSEEN ? pstrdup("(unseen)") :
			level == c->nlevels ? pstrdup("(other)") : pstrdup(c->levels[level]);
		if (level == LEVEL_NULL)
			level = c->mode_level;
		for (int k = 0; k < c->nslots; k++)
			out->amount += coef[c->first_slot + k] *
				((k == level ? 1.0 : 0.0) - slot_mean[c->first_slot + k]);
	}
	if (unlikely(!isfinite(out->amount)))
		GlmRefuseLink(out->amount);
}

/* Larger absolute contribution first */
static int
ByAbsAmount(const void *a, const void *b)
{
	double		x = fabs(((const Contribution *) a)->amount);
	double		y = fabs(((const Contribution *) b)->amount);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Sort the parts of an explanation, the most influential first */
void
ModelSortContributions(Contribution *parts, int n)
{
	qsort(parts, n, sizeof(Contribution), ByAbsAmount);
}

/*
 * The names of the k features contributing most (in absolute value) to the
 * reader's current row, as a text[]: the influential factors enrich() and
 * enrich_trigger() write.  Class models explain their predicted class.
 */
Datum
ModelTopFactors(const Model *m, FeatureReader *r, int k)
{
	const FeatureSpec *spec = m->spec;
	Contribution *parts = palloc(sizeof(Contribution) * Max(spec->ncolumns, 1));
	Datum	   *names;
	double		baseline;
	int			cls = 0;
	int			n;

	if (ModelOutput(m) == OUTPUT_CLASS)
	{
		double	   *probs = palloc(sizeof(double) * m->nclasses);

		if (!ModelClassifyRow(m, r, probs, &cls))
			cls = 0;
	}
	if (m->ops->explain == NULL)
		elog(ERROR, "model of algorithm %s has no explanation", m->ops->name);
	n = ModelContributions(m, r, cls, parts, &baseline);
	n = Max(n, 0);				/* a row the model cannot score has no factors */
	ModelSortContributions(parts, n);
	n = Min(k, n);
	names = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
		names[i] = CStringGetTextDatum(parts[i].feature);
	return PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* A float8 datum, NULL for NaN */
static void
PutNumber(Datum *values, bool *nulls, int i, double v)
{
	nulls[i] = isnan(v);
	values[i] = Float8GetDatum(v);
}

/*
 * One row of coefficients(): (feature, coef, std_err, stat, p_value,
 * odds_ratio, class), NaN as NULL; cls NULL for models without classes.
 * A result without the class column (the 0.4.0 declaration) gets the rest.
 */
void
ModelCoefficientRow(ReturnSetInfo *rsinfo, const char *feature, double coef, double se,
					double stat, double p, double odds, const char *cls)
{
	Datum		values[7];
	bool		nulls[7];

	values[0] = CStringGetTextDatum(feature);
	nulls[0] = false;
	PutNumber(values, nulls, 1, coef);
	PutNumber(values, nulls, 2, se);
	PutNumber(values, nulls, 3, stat);
	PutNumber(values, nulls, 4, p);
	PutNumber(values, nulls, 5, odds);
	nulls[6] = cls == NULL;
	values[6] = cls ? CStringGetTextDatum(cls) : (Datum) 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}
