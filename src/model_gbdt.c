/*-------------------------------------------------------------------------
 * model_gbdt.c
 *	  The model unit of 'gbdt': its params body, scoring, classes, TreeSHAP
 *	  explanations, feature_importance(), and its entry in the algorithm
 *	  table.
 *
 * Scoring never calls XGBoost: a row is encoded into its slots as floats
 * (NaN where missing) and walked through the stored trees (gbdt.c).  The
 * margin is summed in double from XGBoost's float leaves, so it matches
 * XGBoost's own float sum to its rounding (about 1e-7 relative), and the
 * TreeSHAP parts add up to exactly this margin.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "libpq/pqformat.h"
#include "port/pg_crc32c.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "model_gbdt.h"
#include "registry.h"
#include "trainer.h"

PG_FUNCTION_INFO_V1(feature_importance);

/* XGBoost's name of an objective */
const char *
GbdtObjectiveName(GbdtObjective objective)
{
	switch (objective)
	{
		case GBDT_BINARY:
			return "binary:logistic";
		case GBDT_REGRESSION:
			return "reg:squarederror";
		case GBDT_MULTICLASS:
			return "multi:softprob";
	}
	return "unknown";
}

/* The logistic function, in double */
double
GbdtProbability(double margin)
{
	return margin >= 0 ? 1.0 / (1.0 + exp(-margin)) : exp(margin) / (1.0 + exp(margin));
}

/* Softmax of k margins */
void
GbdtSoftmax(const double *margin, int k, double *probs)
{
	double		top = margin[0],
				sum = 0;

	for (int i = 1; i < k; i++)
		top = Max(top, margin[i]);
	for (int i = 0; i < k; i++)
	{
		probs[i] = exp(margin[i] - top);
		sum += probs[i];
	}
	for (int i = 0; i < k; i++)
		probs[i] /= sum;
}

/* The row buffers of a model that scores */
void
GbdtModelScratch(GbdtModel *g, int nslots)
{
	g->x = palloc(sizeof(float) * Max(nslots, 1));
	g->margin = palloc(sizeof(double) * Max(g->forest.ngroups, 1));
}

/*
 * Encode the reader's current row into its slots as XGBoost saw them at
 * training: numbers as floats, a category one-hot; a NULL is missing (NaN:
 * the tree's learned way) under impute "missing", the training mean or
 * most frequent level under "mean"; under "skip" and "error" the row has
 * no score (false).  A category the vocabulary lacks (no "(other)" slot)
 * follows the option "unseen": no score under "null", an error under
 * "error", and under "average" none of the levels (every slot 0: trees
 * have no average to take).
 */
bool
GbdtEncodeRow(const Model *m, FeatureReader *r, float *x)
{
	const FeatureSpec *spec = m->spec;

	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		if (c->kind != FEATURE_CATEGORICAL)
		{
			double		v;

			if (FeatureReadNumber(r, spec, i, &v))
				x[c->first_slot] = (float) v;
			else if (spec->impute == IMPUTE_MISSING)
				x[c->first_slot] = NAN;
			else if (spec->impute == IMPUTE_MEAN)
				x[c->first_slot] = (float) c->impute;
			else
				return false;
		}
		else
		{
			int			level = FeatureReadLevel(r, spec, i);

			if (level == LEVEL_NULL)
			{
				if (spec->impute == IMPUTE_MISSING)
				{
					for (int k = 0; k < c->nslots; k++)
						x[c->first_slot + k] = NAN;
					continue;
				}
				if (spec->impute != IMPUTE_MEAN)
					return false;
				level = c->mode_level;
			}
			/* unseen: NULL or an error by the spec's policy, else none of the levels */
			if (level < 0 && !FeatureUnseenLevel(r, spec, i))
				return false;
			for (int k = 0; k < c->nslots; k++)
				x[c->first_slot + k] = 0.0f;
			if (level >= 0)
				x[c->first_slot + level] = 1.0f;
		}
	}
	return true;
}

/* The margins of the current row in the model's scratch; false as GbdtEncodeRow */
static bool
RowMargins(const Model *m, FeatureReader *r)
{
	GbdtModel  *g = GbdtModelOf(m);

	if (!GbdtEncodeRow(m, r, g->x))
		return false;
	GbdtMargins(&g->forest, g->x, g->margin);
	return true;
}

/* Refuse a number output of a multi-class model (the scoring functions check first) */
static void
NotANumberModel(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("a multi-class gbdt model has no score or single margin"),
			 errhint("Use predict_class() for its class or predict_proba() for the class probabilities.")));
}

/* The margin (log-odds of a binary model, the value of a regression) */
static bool
GbdtLink(const Model *m, FeatureReader *r, double *eta)
{
	if (GbdtModelOf(m)->objective == GBDT_MULTICLASS)
		NotANumberModel();
	if (!RowMargins(m, r))
		return false;
	*eta = GbdtModelOf(m)->margin[0];
	return true;
}

/* A binary model scores the positive class's probability, a regression its value */
static bool
GbdtScore(const Model *m, FeatureReader *r, double *score)
{
	if (!GbdtLink(m, r, score))
		return false;
	if (GbdtModelOf(m)->objective == GBDT_BINARY)
		*score = GbdtProbability(*score);
	return true;
}

/* The class probabilities, in model order */
static bool
GbdtClassify(const Model *m, FeatureReader *r, double *probs)
{
	GbdtModel  *g = GbdtModelOf(m);

	if (g->objective == GBDT_REGRESSION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("a gbdt regression has no classes"),
				 errhint("Use score() or predict_ltv() for its value.")));
	if (m->nclasses != (g->objective == GBDT_BINARY ? 2 : g->forest.ngroups))
		ModelCorrupt("the classes do not match the trees' groups");
	if (!RowMargins(m, r))
		return false;
	if (g->objective == GBDT_BINARY)
	{
		probs[1] = GbdtProbability(g->margin[0]);
		probs[0] = 1.0 - probs[1];
	}
	else
		GbdtSoftmax(g->margin, g->forest.ngroups, probs);
	return true;
}

static OutputKind
GbdtOutput(const Model *m)
{
	return GbdtModelOf(m)->objective == GBDT_MULTICLASS ? OUTPUT_CLASS : OUTPUT_NUMBER;
}

/* A column's value of the current row as explain() shows it, NULL for NULL */
static char *
ValueText(const FeatureSpec *spec, FeatureReader *r, int col)
{
	const FeatureColumn *c = &spec->columns[col];

	if (c->kind != FEATURE_CATEGORICAL)
	{
		double		x;

		if (!FeatureReadNumber(r, spec, col, &x))
			return NULL;
		return c->kind == FEATURE_BOOLEAN ? pstrdup(x != 0 ? "true" : "false") :
			float8out_internal(x);
	}
	else
	{
		int			level = FeatureReadLevel(r, spec, col);

		return level == LEVEL_NULL ? NULL : level == LEVEL_UNSEEN ? pstrdup("(unseen)") :
			level == c->nlevels ? pstrdup("(other)") : pstrdup(c->levels[level]);
	}
}

/*
 * The row's margin of class cls (of group 0 for binary and regression
 * models) decomposed by TreeSHAP: the baseline is the expected margin,
 * each column's part the sum of its slots' SHAP values (a one-hot column
 * as one feature), and the parts add up to the margin.
 */
static bool
GbdtExplain(const Model *m, FeatureReader *r, int cls, Contribution *parts, double *baseline)
{
	GbdtModel  *g = GbdtModelOf(m);
	const FeatureSpec *spec = m->spec;
	double	   *phi;

	if (!GbdtEncodeRow(m, r, g->x))
		return false;
	if (cls < 0 || cls >= g->forest.ngroups)
		cls = 0;
	phi = palloc0(sizeof(double) * spec->nslots);
	GbdtShap(&g->forest, g->x, cls, phi, baseline);
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		parts[i].feature = c->name;
		parts[i].value = ValueText(spec, r, i);
		parts[i].amount = 0;
		for (int k = 0; k < c->nslots; k++)
			parts[i].amount += phi[c->first_slot + k];
	}
	pfree(phi);
	return true;
}

/* Trees have no coefficients: say where their view of the features is */
static void
GbdtCoefficients(const Model *m, ReturnSetInfo *rsinfo)
{
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("a gbdt model has no coefficients"),
			 errhint("Use profenrich.feature_importance(name) for the features' gain, cover, splits and mean |SHAP|, and explain() for one profile's factors.")));
}

/* The forest: sizes, then per tree its group and node count, then the nodes */
static void
WriteForest(StringInfo buf, const GbdtForest *f)
{
	pq_sendfloat8(buf, f->base_margin);
	pq_sendint32(buf, f->ngroups);
	pq_sendint32(buf, f->ntrees);
	pq_sendint32(buf, f->nnodes);
	for (int t = 0; t < f->ntrees; t++)
	{
		pq_sendint32(buf, f->group[t]);
		pq_sendint32(buf, f->first[t + 1] - f->first[t]);
	}
	for (int i = 0; i < f->nnodes; i++)
	{
		const GbdtNode *n = &f->nodes[i];

		pq_sendfloat4(buf, n->value);
		pq_sendint32(buf, n->feature);
		pq_sendint32(buf, n->child);
		pq_sendint32(buf, n->missing);
		pq_sendfloat4(buf, f->cover[i]);
		pq_sendfloat4(buf, f->gain[i]);
	}
}

#define NODE_BYTES 24

/* The forest WriteForest wrote, every count checked against the bytes left */
static void
ReadForest(StringInfo buf, GbdtForest *f, int nslots)
{
	const char *error;

	f->nslots = nslots;
	f->base_margin = pq_getmsgfloat8(buf);
	f->ngroups = pq_getmsgint(buf, 4);
	f->ntrees = pq_getmsgint(buf, 4);
	f->nnodes = pq_getmsgint(buf, 4);
	if (f->ngroups < 1 || f->ngroups > MODEL_MAX_CLASSES || f->ntrees < 0 || f->nnodes < 0 ||
		(Size) f->ntrees * 8 + (Size) f->nnodes * NODE_BYTES > (Size) (buf->len - buf->cursor))
		ModelCorrupt("the trees' sizes are out of range");
	f->group = palloc(sizeof(int) * Max(f->ntrees, 1));
	f->first = palloc(sizeof(int) * (f->ntrees + 1));
	f->first[0] = 0;
	for (int t = 0; t < f->ntrees; t++)
	{
		int			size;

		f->group[t] = pq_getmsgint(buf, 4);
		size = pq_getmsgint(buf, 4);
		if (size < 1 || size > f->nnodes - f->first[t])
			ModelCorrupt("a tree's node count is out of range");
		f->first[t + 1] = f->first[t] + size;
	}
	f->nodes = palloc_extended(sizeof(GbdtNode) * Max(f->nnodes, 1), MCXT_ALLOC_HUGE);
	f->cover = palloc_extended(sizeof(float) * Max(f->nnodes, 1), MCXT_ALLOC_HUGE);
	f->gain = palloc_extended(sizeof(float) * Max(f->nnodes, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < f->nnodes; i++)
	{
		GbdtNode   *n = &f->nodes[i];

		n->value = pq_getmsgfloat4(buf);
		n->feature = pq_getmsgint(buf, 4);
		n->child = pq_getmsgint(buf, 4);
		n->missing = pq_getmsgint(buf, 4);
		f->cover[i] = pq_getmsgfloat4(buf);
		f->gain[i] = pq_getmsgfloat4(buf);
	}
	error = GbdtCheck(f);
	if (error != NULL)
		ModelCorrupt(error);
	GbdtPrepare(f);
}

/* CRC-32C of XGBoost's model bytes */
static uint32
XgbChecksum(const char *bytes, Size len)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, bytes, len);
	FIN_CRC32C(crc);
	return (uint32) crc;
}

/* The body: objective and rounds, the forest, mean |SHAP|, XGBoost's model and its checksum */
static void
GbdtWrite(StringInfo buf, const Model *m)
{
	const GbdtModel *g = GbdtModelOf(m);

	pq_sendint32(buf, (int32) g->objective);
	pq_sendint32(buf, g->rounds);
	pq_sendint32(buf, g->best_iteration);
	WriteForest(buf, &g->forest);
	pq_sendint32(buf, g->shap_rows);
	ModelWriteDoubles(buf, g->mean_abs_shap, m->spec->ncolumns);
	pq_sendint32(buf, (int32) g->xgb_len);
	pq_sendint32(buf, (int32) XgbChecksum(g->xgb, g->xgb_len));
	pq_sendbytes(buf, g->xgb, (int) g->xgb_len);
}

static void
GbdtRead(StringInfo buf, Model *m, int format)
{
	GbdtModel  *g = palloc0(sizeof(GbdtModel));
	int			objective = pq_getmsgint(buf, 4);
	int32		len;
	uint32		crc;

	if (objective < GBDT_BINARY || objective > GBDT_MULTICLASS)
		ModelCorrupt("the objective is unknown");
	g->objective = (GbdtObjective) objective;
	if ((g->objective == GBDT_BINARY) != m->spec->binary || m->spec->target == NULL)
		ModelCorrupt("the objective does not match the target");
	g->rounds = pq_getmsgint(buf, 4);
	g->best_iteration = pq_getmsgint(buf, 4);
	ReadForest(buf, &g->forest, m->spec->nslots);
	if ((g->objective == GBDT_MULTICLASS) != (g->forest.ngroups > 1) || g->rounds < 0 ||
		g->best_iteration < -1 || g->best_iteration >= g->rounds)
		ModelCorrupt("the groups or rounds do not match the objective");
	g->shap_rows = pq_getmsgint(buf, 4);
	g->mean_abs_shap = ModelReadDoubles(buf, m->spec->ncolumns);
	for (int i = 0; i < m->spec->ncolumns; i++)
		if (!(g->mean_abs_shap[i] >= 0) || isinf(g->mean_abs_shap[i]))
			ModelCorrupt("a mean |SHAP| is not a finite number from 0");
	len = pq_getmsgint(buf, 4);
	crc = (uint32) pq_getmsgint(buf, 4);
	if (len < 0 || len > buf->len - buf->cursor || g->shap_rows < 0)
		ModelCorrupt("XGBoost's model runs past the end");
	g->xgb_len = len;
	g->xgb = palloc_extended(Max(len, 1), MCXT_ALLOC_HUGE);
	memcpy(g->xgb, pq_getmsgbytes(buf, len), len);
	/* XGBoost's reader is not made for hostile bytes: only what training wrote reaches it */
	if (XgbChecksum(g->xgb, g->xgb_len) != crc)
		ModelCorrupt("XGBoost's model does not match its checksum");
	GbdtModelScratch(g, m->spec->nslots);
	m->body = g;
}

/* One row of feature_importance() */
typedef struct Importance
{
	const char *feature;
	double		gain;			/* summed over the column's splits */
	double		cover;
	int64		weight;			/* splits */
	double		shap;
} Importance;

/* Larger mean |SHAP| first, then larger total gain, then spec order */
static int
ByShap(const void *a, const void *b)
{
	const Importance *x = a,
			   *y = b;

	if (x->shap != y->shap)
		return x->shap < y->shap ? 1 : -1;
	if (x->gain != y->gain)
		return x->gain < y->gain ? 1 : -1;
	return 0;
}

/* The column of each slot */
static int *
SlotColumns(const FeatureSpec *spec)
{
	int		   *col = palloc(sizeof(int) * Max(spec->nslots, 1));

	for (int i = 0; i < spec->ncolumns; i++)
		for (int k = 0; k < spec->columns[i].nslots; k++)
			col[spec->columns[i].first_slot + k] = i;
	return col;
}

/*
 * feature_importance(name, version DEFAULT NULL): per feature column, the
 * mean gain and mean cover of the splits on it and their number (as
 * XGBoost's get_score 'gain', 'cover' and 'weight' report them, a one-hot
 * column's levels counted together), and the mean |SHAP| over a sample of
 * the training rows; the most important first.
 */
Datum
feature_importance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	int			version;
	Model	   *m;
	GbdtModel  *g;
	Importance *rows;
	int		   *col;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL"),
				 errhint("Pass the name of a trained gbdt model.")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	m = RegistryLoad(name, PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1), &version, CurrentMemoryContext);
	if (m->ops->code != ALG_GBDT)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, not a gbdt model", name, m->ops->name),
				 errhint("feature_importance takes a model trained with algorithm 'gbdt'; use coefficients() for this one.")));
	g = GbdtModelOf(m);
	col = SlotColumns(m->spec);
	rows = palloc0(sizeof(Importance) * m->spec->ncolumns);
	for (int i = 0; i < m->spec->ncolumns; i++)
	{
		rows[i].feature = m->spec->columns[i].name;
		rows[i].shap = g->mean_abs_shap[i];
	}
	for (int i = 0; i < g->forest.nnodes; i++)
	{
		const GbdtNode *n = &g->forest.nodes[i];

		if (n->child < 0)
			continue;
		rows[col[n->feature]].weight++;
		rows[col[n->feature]].gain += g->forest.gain[i];
		rows[col[n->feature]].cover += g->forest.cover[i];
	}
	qsort(rows, m->spec->ncolumns, sizeof(Importance), ByShap);
	for (int i = 0; i < m->spec->ncolumns; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, rows[i].weight == 0, rows[i].weight == 0, false, false};

		values[0] = CStringGetTextDatum(rows[i].feature);
		values[1] = Float8GetDatum(rows[i].weight > 0 ? rows[i].gain / rows[i].weight : 0);
		values[2] = Float8GetDatum(rows[i].weight > 0 ? rows[i].cover / rows[i].weight : 0);
		values[3] = Int64GetDatum(rows[i].weight);
		values[4] = Float8GetDatum(rows[i].shap);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

const AlgorithmOps GbdtOps = {
	.name = "gbdt",
	.code = ALG_GBDT,
	.flags = ALG_FEATURES | ALG_MISSING,
	.targets = TARGET_NUMBER | TARGET_BINARY | TARGET_CLASSES,
	.options = "objective, n_trees, max_depth, learning_rate, subsample, colsample_bytree, "
	"min_child_weight, l2, l1, early_stopping_rounds, max_bin, class_weight, positive, threshold",
	.example = "{\"n_trees\": 200, \"max_depth\": 6, \"learning_rate\": 0.1}",
	.options_new = GbdtOptionsNew,
	.option = GbdtOption,
	.options_json = GbdtOptionsJson,
	.target = GbdtTarget,
	.train = TrainGbdt,
	.write = GbdtWrite,
	.read = GbdtRead,
	.output = GbdtOutput,
	.score = GbdtScore,
	.link = GbdtLink,
	.classify = GbdtClassify,
	.explain = GbdtExplain,
	.coefficients = GbdtCoefficients,
};
