/*-------------------------------------------------------------------------
 * model_kmeans.c
 *	  The model unit of 'kmeans': its params body, the segment of a row,
 *	  segments() (each segment's size, center and distinctive features),
 *	  coefficients() (the centers), and its entry in the algorithm table.
 *
 * A row is encoded through the spec (NULLs imputed as at training), put on
 * the clustering scale, and given the segment of the nearest center; its
 * distance is the Euclidean distance to that center on that scale.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "kmeans.h"
#include "model_kmeans.h"
#include "registry.h"
#include "trainer.h"

#define DISTINCTIVE_FEATURES 3

PG_FUNCTION_INFO_V1(segments);

/* The body: k, standardization, centers, sizes and the fit's summary */
static void
KmeansWrite(StringInfo buf, const Model *m)
{
	const KmeansModel *km = KmeansModelOf(m);

	pq_sendint32(buf, km->k);
	pq_sendint32(buf, km->d);
	pq_sendbyte(buf, km->standardize ? 1 : 0);
	ModelWriteDoubles(buf, km->mean, km->d);
	ModelWriteDoubles(buf, km->sd, km->d);
	ModelWriteDoubles(buf, km->centers, km->k * km->d);
	ModelWriteDoubles(buf, km->sizes, km->k);
	pq_sendfloat8(buf, km->inertia);
	pq_sendint32(buf, km->iterations);
	pq_sendbyte(buf, km->converged ? 1 : 0);
}

/* Refuse a body no training could have written */
static void
CheckKmeans(const KmeansModel *km)
{
	for (int j = 0; j < km->d; j++)
		if (!isfinite(km->mean[j]) || !(km->sd[j] >= 0) || isinf(km->sd[j]))
			ModelCorrupt(psprintf("the scale of slot %d is not finite", j + 1));
	for (int i = 0; i < km->k * km->d; i++)
		if (!isfinite(km->centers[i]))
			ModelCorrupt("a segment center is not finite");
	for (int c = 0; c < km->k; c++)
		if (!(km->sizes[c] >= 0) || isinf(km->sizes[c]) || km->sizes[c] != floor(km->sizes[c]) ||
			(c > 0 && km->sizes[c] > km->sizes[c - 1]))
			ModelCorrupt("the segment sizes are not counts in decreasing order");
	if (!(km->inertia >= 0) || isinf(km->inertia) || km->iterations < 0)
		ModelCorrupt("the inertia or the iterations are out of range");
}

/* The scale of every slot and the centers by slot, for scoring */
void
KmeansModelDerive(KmeansModel *km)
{
	km->scale = palloc(sizeof(double) * Max(km->d, 1));
	km->centers_t = palloc(sizeof(double) * Max(km->k * km->d, 1));
	for (int j = 0; j < km->d; j++)
	{
		km->scale[j] = km->standardize ? km->sd[j] : 1.0;
		for (int c = 0; c < km->k; c++)
			km->centers_t[j * km->k + c] = km->centers[c * km->d + j];
	}
}

static void
KmeansRead(StringInfo buf, Model *m, int format)
{
	KmeansModel *km = palloc0(sizeof(KmeansModel));

	km->k = pq_getmsgint(buf, 4);
	km->d = pq_getmsgint(buf, 4);
	if (km->k < 2 || km->k > KMEANS_MAX_K || km->d != m->spec->nslots)
		ModelCorrupt("the number of segments or of slots is out of range");
	km->standardize = pq_getmsgbyte(buf) != 0;
	km->mean = ModelReadDoubles(buf, km->d);
	km->sd = ModelReadDoubles(buf, km->d);
	km->centers = ModelReadDoubles(buf, km->k * km->d);
	km->sizes = ModelReadDoubles(buf, km->k);
	km->inertia = pq_getmsgfloat8(buf);
	km->iterations = pq_getmsgint(buf, 4);
	km->converged = pq_getmsgbyte(buf) != 0;
	CheckKmeans(km);
	KmeansModelDerive(km);
	m->body = km;
}

/* Add slot j of value v (original scale) to the squared distances to every center */
static inline void
AddSlot(const KmeansModel *km, int j, double v, double *acc)
{
	double		z = km->sd[j] > 0 ? (v - km->mean[j]) / km->scale[j] : 0.0;
	const double *ct = km->centers_t + (size_t) j * km->k;

	for (int c = 0; c < km->k; c++)
	{
		double		t = z - ct[c];

		acc[c] += t * t;
	}
}

/*
 * The segment of the reader's current row (1..k, the nearest center) and
 * its distance to the center; false when a feature is NULL and the model
 * was trained without imputation, or a category is unseen under "unseen":
 * "null".  Under "average" an unseen category's slots take the training
 * shares (the population's mean in those dimensions); "error" raises.
 */
static bool
KmeansSegment(const Model *m, FeatureReader *r, int *segment, double *distance)
{
	const FeatureSpec *spec = m->spec;
	const KmeansModel *km = KmeansModelOf(m);
	bool		impute = spec->impute == IMPUTE_MEAN;
	double		acc[KMEANS_MAX_K];
	int			best = 0;

	memset(acc, 0, sizeof(double) * km->k);
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
			AddSlot(km, col->first_slot, x, acc);
		}
		else
		{
			int			level = FeatureReadLevel(r, spec, i);

			bool		average;

			if (level == LEVEL_NULL)
			{
				if (!impute)
					return false;
				level = col->mode_level;
			}
			/* unseen: NULL or an error by the spec's policy, else its shares (or no slot) */
			if (level < 0 && !FeatureUnseenLevel(r, spec, i))
				return false;
			average = level < 0 && col->shares && spec->unseen == UNSEEN_AVERAGE;
			for (int l = 0; l < col->nslots; l++)
				AddSlot(km, col->first_slot + l, average ? col->shares[l] : l == level ? 1.0 : 0.0, acc);
		}
	}
	for (int c = 1; c < km->k; c++)
		if (acc[c] < acc[best])
			best = c;
	*segment = best + 1;
	*distance = sqrt(acc[best]);
	return true;
}

static OutputKind
SegmentOutput(const Model *m)
{
	return OUTPUT_SEGMENT;
}

/* Does slot j hold 0/1 values (a boolean, or a category's level)? */
static bool
SlotIsShare(const FeatureSpec *spec, int j)
{
	for (int i = 0; i < spec->ncolumns; i++)
		if (j >= spec->columns[i].first_slot &&
			j < spec->columns[i].first_slot + spec->columns[i].nslots)
			return spec->columns[i].kind != FEATURE_NUMERIC;
	return false;
}

/*
 * Slot j of center c on the original scale: a mean, or the share of a
 * boolean or level, kept within [0, 1] against the rounding of the scale
 */
static double
CenterValue(const Model *m, int c, int j)
{
	const KmeansModel *km = KmeansModelOf(m);
	double		v;

	if (!(km->sd[j] > 0))
		return km->mean[j];
	v = km->mean[j] + km->centers[c * km->d + j] * km->scale[j];
	if (SlotIsShare(m->spec, j))
		v = Min(Max(v, 0.0), 1.0);
	return v;
}

/* Append "key": to a JSON object being built */
static void
JsonKey(StringInfo out, const char *key)
{
	if (out->data[out->len - 1] != '{')
		appendStringInfoString(out, ", ");
	escape_json(out, key);
	appendStringInfoString(out, ": ");
}

/* Append "key": number (null if not finite) */
static void
JsonMember(StringInfo out, const char *key, double v)
{
	JsonKey(out, key);
	appendStringInfoString(out, isfinite(v) ? float8out_internal(v) : "null");
}

/*
 * Segment c's center on the original scale as a jsonb object: each
 * numeric or boolean column's mean, each categorical column an object of
 * its levels' shares (and "(other)").
 */
static Datum
CenterJson(const Model *m, int c)
{
	const FeatureSpec *spec = m->spec;
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *col = &spec->columns[i];

		if (col->kind != FEATURE_CATEGORICAL)
		{
			JsonMember(&out, col->name, CenterValue(m, c, col->first_slot));
			continue;
		}
		JsonKey(&out, col->name);
		appendStringInfoChar(&out, '{');
		for (int l = 0; l < col->nslots; l++)
			JsonMember(&out, l < col->nlevels ? col->levels[l] : "(other)",
					   CenterValue(m, c, col->first_slot + l));
		appendStringInfoChar(&out, '}');
	}
	appendStringInfoChar(&out, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

/*
 * The slots that set segment c apart most, as a jsonb array: the largest
 * standardized differences (segment value - overall mean) / sd, with the
 * segment's and the overall value on the original scale.
 */
static Datum
DistinctiveJson(const Model *m, int c)
{
	const KmeansModel *km = KmeansModelOf(m);
	int			top[DISTINCTIVE_FEATURES];
	double		topz[DISTINCTIVE_FEATURES];
	int			ntop = 0;
	StringInfoData out;

	for (int j = 0; j < km->d; j++)
	{
		double		z;
		int			at;

		if (!(km->sd[j] > 0))
			continue;
		z = (CenterValue(m, c, j) - km->mean[j]) / km->sd[j];
		for (at = ntop; at > 0 && fabs(z) > fabs(topz[at - 1]); at--)
			if (at < DISTINCTIVE_FEATURES)
			{
				top[at] = top[at - 1];
				topz[at] = topz[at - 1];
			}
		if (at < DISTINCTIVE_FEATURES)
		{
			top[at] = j;
			topz[at] = z;
			ntop = Min(ntop + 1, DISTINCTIVE_FEATURES);
		}
	}
	initStringInfo(&out);
	appendStringInfoChar(&out, '[');
	for (int i = 0; i < ntop; i++)
	{
		appendStringInfoString(&out, i > 0 ? ", {" : "{");
		JsonKey(&out, "feature");
		escape_json(&out, FeatureSlotName(m->spec, top[i]));
		JsonMember(&out, "segment", CenterValue(m, c, top[i]));
		JsonMember(&out, "overall", km->mean[top[i]]);
		JsonMember(&out, "z", topz[i]);
		appendStringInfoChar(&out, '}');
	}
	appendStringInfoChar(&out, ']');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

/*
 * segments(name, version DEFAULT NULL) returns TABLE(segment int, size
 * bigint, share float8, center jsonb, distinctive jsonb): a k-means model
 * version's segments (the deployed version when NULL), largest first.
 */
Datum
segments(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	int			version = 0;
	Model	   *m;
	const KmeansModel *km;
	double		n = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL"),
				 errhint("Pass the name of a model trained with algorithm 'kmeans'.")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1) && (version = PG_GETARG_INT32(1)) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model version must be 1 or more, not %d", version),
				 errhint("Pass NULL for the deployed version.")));
	m = RegistryLoad(name, version, &version, CurrentMemoryContext);
	if (m->ops->segment == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, not a segment model", name, m->ops->name),
				 errhint("segments() takes a model trained with algorithm 'kmeans'.")));
	km = KmeansModelOf(m);
	for (int c = 0; c < km->k; c++)
		n += km->sizes[c];
	for (int c = 0; c < km->k; c++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(c + 1);
		values[1] = Int64GetDatum((int64) km->sizes[c]);
		values[2] = Float8GetDatum(n > 0 ? km->sizes[c] / n : 0);
		values[3] = CenterJson(m, c);
		values[4] = DistinctiveJson(m, c);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * coefficients() of a k-means model: its centers, one row per segment and
 * slot, on the original scale (coef), the segment's number as the class;
 * the inference columns are NULL.
 */
static void
KmeansCoefficients(const Model *m, ReturnSetInfo *rsinfo)
{
	const KmeansModel *km = KmeansModelOf(m);
	double		nan = get_float8_nan();

	for (int c = 0; c < km->k; c++)
	{
		char	   *seg = psprintf("%d", c + 1);

		for (int j = 0; j < km->d; j++)
			ModelCoefficientRow(rsinfo, FeatureSlotName(m->spec, j), CenterValue(m, c, j),
								nan, nan, nan, nan, seg);
	}
}

const AlgorithmOps KmeansOps = {
	.name = "kmeans",
	.code = ALG_KMEANS,
	.flags = ALG_FEATURES | ALG_ALL_ROWS,
	.targets = TARGET_NONE,
	.options = "k, k_min, k_max, silhouette_sample, n_init, max_iter, tol, standardize",
	.example = "{\"k\": 4}",
	.options_new = KmeansOptionsNew,
	.option = KmeansOption,
	.options_json = KmeansOptionsJson,
	.target = NULL,
	.train = TrainKmeans,
	.write = KmeansWrite,
	.read = KmeansRead,
	.output = SegmentOutput,
	.score = NULL,
	.link = NULL,
	.classify = NULL,
	.segment = KmeansSegment,
	.explain = NULL,
	.coefficients = KmeansCoefficients,
};
