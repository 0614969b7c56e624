/*-------------------------------------------------------------------------
 * train_gbdt.c
 *	  The 'gbdt' trainer: its options, the target (which chooses the
 *	  objective), and the boosting through XGBoost (xgb.c) over the encoded
 *	  rows read once into memory; and gbdt_check(), which compares
 *	  profenrich's evaluator with XGBoost's own predictions.
 *
 * The rows are encoded by the feature spec (numbers, booleans, one-hot
 * categories) and handed to XGBoost as floats, a NULL as missing unless
 * the option "impute" says otherwise, with the parameters Python's
 * xgboost.train would get, so the same data and options give Python's
 * model.  Early stopping follows xgboost.train's rule on the test split's
 * default metric.  The stored model is XGBoost's binary form and the same
 * trees laid out for profenrich's evaluator (gbdt.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "baseline.h"
#include "dataset.h"
#include "metrics.h"
#include "model_gbdt.h"
#include "profenrich.h"
#include "registry.h"
#include "trainer.h"
#include "xgb.h"

PG_FUNCTION_INFO_V1(gbdt_check);

#define GBDT_SHAP_SAMPLE 2048	/* training rows mean |SHAP| is taken over */
#define GBDT_NOTICE_MS 5000		/* between progress notices */
/* what XGBoost holds per value besides profenrich's floats: its rows and bin index */
#define XGB_BYTES_PER_VALUE 12

/* The options of 'gbdt' */
typedef struct GbdtTrainOptions
{
	int			objective;		/* 0: from the target, else a GbdtObjective */
	int			n_trees;
	int			max_depth;
	double		learning_rate;
	double		subsample;
	double		colsample_bytree;
	double		min_child_weight;
	double		l2;
	double		l1;
	int			early_stopping_rounds;
	int			max_bin;
	char	   *positive;
	bool		balanced;
	Jsonb	   *class_weight;
	double		threshold;
	/* what the target chose */
	GbdtObjective chosen;
	char	  **labels;			/* class labels, in model order */
	int			nlabels;
} GbdtTrainOptions;

#define GBDT_OPTIONS(job) ((GbdtTrainOptions *) (job)->algopts)
#define GBDT(job) ((GbdtModel *) (job)->model.body)

/* Defaults of the options of 'gbdt' (XGBoost's, but 200 trees of eta 0.1) */
void *
GbdtOptionsNew(const AlgorithmOps *ops)
{
	GbdtTrainOptions *o = palloc0(sizeof(GbdtTrainOptions));

	o->n_trees = 200;
	o->max_depth = 6;
	o->learning_rate = 0.1;
	o->subsample = 1;
	o->colsample_bytree = 1;
	o->min_child_weight = 1;
	o->l2 = 1;
	o->l1 = 0;
	o->early_stopping_rounds = 20;
	o->max_bin = 256;
	o->threshold = 0.5;
	return o;
}

/* A number above 0 and at most 1 */
static double
OptionFraction(const char *key, JsonbValue *v)
{
	double		d = OptionNumber(key, v, "a number above 0 and at most 1");

	if (!(d > 0 && d <= 1))
		OptionError(key, "a number above 0 and at most 1");
	return d;
}

/* The option objective: one of XGBoost's three names */
static int
OptionObjective(const char *key, JsonbValue *v)
{
	const char *expected = "\"binary:logistic\", \"reg:squarederror\" or \"multi:softprob\"";
	char	   *s = OptionString(key, v, expected);

	for (int k = GBDT_BINARY; k <= GBDT_MULTICLASS; k++)
		if (strcmp(s, GbdtObjectiveName((GbdtObjective) k)) == 0)
			return k;
	OptionError(key, expected);
	return 0;
}

/* The tree-shape options; false for a key that is not one */
static bool
TreeOption(GbdtTrainOptions *o, const char *key, JsonbValue *v)
{
	if (strcmp(key, "n_trees") == 0)
		o->n_trees = OptionInteger(key, v, 1, 10000);
	else if (strcmp(key, "max_depth") == 0)
		o->max_depth = OptionInteger(key, v, 1, 20);
	else if (strcmp(key, "learning_rate") == 0)
		o->learning_rate = OptionFraction(key, v);
	else if (strcmp(key, "subsample") == 0)
		o->subsample = OptionFraction(key, v);
	else if (strcmp(key, "colsample_bytree") == 0)
		o->colsample_bytree = OptionFraction(key, v);
	else if (strcmp(key, "min_child_weight") == 0)
		o->min_child_weight = OptionPenalty(key, v);
	else if (strcmp(key, "l2") == 0)
		o->l2 = OptionPenalty(key, v);
	else if (strcmp(key, "l1") == 0)
		o->l1 = OptionPenalty(key, v);
	else if (strcmp(key, "early_stopping_rounds") == 0)
		o->early_stopping_rounds = OptionInteger(key, v, 0, 10000);
	else if (strcmp(key, "max_bin") == 0)
		o->max_bin = OptionInteger(key, v, 2, 65536);
	else
		return false;
	return true;
}

/* One option of 'gbdt'; false for a key it does not take */
bool
GbdtOption(void *opts, const char *key, JsonbValue *v)
{
	GbdtTrainOptions *o = (GbdtTrainOptions *) opts;

	if (TreeOption(o, key, v))
		return true;
	if (strcmp(key, "objective") == 0)
		o->objective = OptionObjective(key, v);
	else if (strcmp(key, "positive") == 0)
		o->positive = OptionString(key, v, "the text value that marks the positive class");
	else if (strcmp(key, "class_weight") == 0)
		o->balanced = OptionClassWeight(key, v, "{\"true\": 3, \"false\": 1}", &o->class_weight);
	else if (strcmp(key, "threshold") == 0)
		o->threshold = OptionProbability(key, v);
	else
		return false;
	return true;
}

/* The effective options of 'gbdt', as members of a JSON object */
void
GbdtOptionsJson(StringInfo out, const void *opts)
{
	const GbdtTrainOptions *o = (const GbdtTrainOptions *) opts;

	appendStringInfo(out, "%s\"objective\": \"%s\", \"n_trees\": %d, \"max_depth\": %d, "
					 "\"learning_rate\": %s, \"subsample\": %s, \"colsample_bytree\": %s, "
					 "\"min_child_weight\": %s, \"l2\": %s, \"l1\": %s, "
					 "\"early_stopping_rounds\": %d, \"max_bin\": %d, \"tree_method\": \"hist\", "
					 "\"threshold\": %s, \"class_weight\": ",
					 out->data[out->len - 1] == '{' ? "" : ", ",
					 GbdtObjectiveName(o->chosen ? o->chosen : (GbdtObjective) Max(o->objective, 1)),
					 o->n_trees, o->max_depth, float8out_internal(o->learning_rate),
					 float8out_internal(o->subsample), float8out_internal(o->colsample_bytree),
					 float8out_internal(o->min_child_weight), float8out_internal(o->l2),
					 float8out_internal(o->l1), o->early_stopping_rounds, o->max_bin,
					 float8out_internal(o->threshold));
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

/* Refuse a target that cannot have the objective asked for */
static void
TargetMismatch(const TrainJob *job, const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("target column \"%s\" %s", job->spec->target, what),
			 errhint("%s", hint)));
}

/* The objective of a target of this kind: the option's, else binary, numeric or classes */
static GbdtObjective
ChooseObjective(TrainJob *job, FeatureKind kind, FeatureConv conv)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);

	if (o->positive != NULL && kind != FEATURE_CATEGORICAL)
		TargetMismatch(job, "is not text, and the option \"positive\" applies to text targets",
					   "Leave \"positive\" out: true (or 1) is the positive class.");
	if (o->positive != NULL && o->objective != 0 && o->objective != GBDT_BINARY)
		TargetMismatch(job, "has a positive class, so the objective is binary:logistic",
					   "Leave out \"positive\" or \"objective\".");
	if (o->objective == GBDT_REGRESSION && kind == FEATURE_CATEGORICAL)
		TargetMismatch(job, "is text, which a regression cannot predict",
					   "Leave \"objective\" out for a class model, or predict a numeric column.");
	if (o->objective == GBDT_BINARY && kind == FEATURE_CATEGORICAL && o->positive == NULL)
		TargetMismatch(job, "is text, and a binary objective needs the option \"positive\"",
					   "Name the value that marks the positive class, e.g. '{\"positive\": \"Yes\"}'.");
	if (o->objective == GBDT_MULTICLASS && kind == FEATURE_NUMERIC &&
		conv != CONV_INT2 && conv != CONV_INT4 && conv != CONV_INT8)
		TargetMismatch(job, "is not an integer, text, enum or boolean column, so it cannot hold classes",
					   "Cast the target to integer or text in a view.");
	if (o->objective != 0)
		return (GbdtObjective) o->objective;
	if (kind == FEATURE_BOOLEAN || o->positive != NULL)
		return GBDT_BINARY;
	return kind == FEATURE_CATEGORICAL ? GBDT_MULTICLASS : GBDT_REGRESSION;
}

/*
 * The class labels of a class target: its distinct values as text, in
 * sort order (text in byte order, integers and booleans by value, enums
 * as declared), 2 to MODEL_MAX_CLASSES of them.
 */
static void
LearnLabels(TrainJob *job, FeatureConv conv)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);
	const char *col = quote_identifier(job->spec->target);
	bool		text = conv == CONV_TEXT || conv == CONV_BPCHAR;
	char	   *value = text ? psprintf("%s::pg_catalog.text COLLATE pg_catalog.\"C\"", col) : pstrdup(col);
	char	   *sql = psprintf("SELECT v::pg_catalog.text FROM (SELECT DISTINCT %s AS v FROM %s "
							   "WHERE %s IS NOT NULL) AS d ORDER BY v LIMIT %d",
							   value, job->src.from, col, MODEL_MAX_CLASSES + 1);

	TrainQuery(sql, 0, NULL, NULL, 0);
	o->nlabels = (int) SPI_processed;
	o->labels = palloc(sizeof(char *) * Max(o->nlabels, 1));
	for (int i = 0; i < o->nlabels; i++)
		o->labels[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	if (o->nlabels < 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("target column \"%s\" has %s", job->spec->target,
						o->nlabels == 0 ? "no values" : "one value only"),
				 errhint("A class model needs a target with 2 to %d distinct values.", MODEL_MAX_CLASSES)));
	if (o->nlabels > MODEL_MAX_CLASSES)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("target column \"%s\" has more than %d distinct values", job->spec->target,
						MODEL_MAX_CLASSES),
				 errhint("Group the values into at most %d classes in a view, or train a regression if the target is a quantity.",
						 MODEL_MAX_CLASSES)));
}

/* A binary target's labels, negative then positive, as logistic names them */
static void
BinaryLabels(TrainJob *job, FeatureConv conv)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);

	o->nlabels = 2;
	o->labels = palloc(sizeof(char *) * 2);
	if (job->spec->positive)
	{
		o->labels[1] = job->spec->positive;
		o->labels[0] = SourceOtherLabel(job->spec, &job->src);
		if (o->labels[0] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target column \"%s\" has one value only", job->spec->target),
					 errhint("A classifier needs rows of both classes; check the target and the source.")));
	}
	else
	{
		o->labels[1] = conv == CONV_BOOL ? "true" : "1";
		o->labels[0] = conv == CONV_BOOL ? "false" : "0";
	}
}

/*
 * The target chooses the objective: a boolean (or a text target with
 * "positive") is binary, a number a regression, a text or enum target a
 * class target; the option "objective" picks another where the target
 * allows it (0/1 numbers as binary, integers as classes).
 */
void
GbdtTarget(TrainJob *job, FeatureKind kind)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);
	FeatureSpec *spec = job->spec;
	FeatureConv conv = ColumnConv(&job->src, SourceColumn(&job->src, spec->target), "target");

	o->chosen = ChooseObjective(job, kind, conv);
	spec->binary = o->chosen == GBDT_BINARY;
	spec->positive = o->positive;
	if (o->chosen == GBDT_BINARY)
		BinaryLabels(job, conv);
	else if (o->chosen == GBDT_MULTICLASS)
		LearnLabels(job, conv);
	job->model.nclasses = o->chosen == GBDT_REGRESSION ? 0 : o->nlabels;
	job->model.classes = o->labels;
	job->model.threshold = o->threshold;
}

/* One split's rows as XGBoost takes them */
typedef struct GbdtSplit
{
	int64		n;
	float	   *x;				/* n x nslots, NaN where missing */
	float	   *y;
	float	   *w;				/* case weights, or NULL */
	XgbMatrix	m;
} GbdtSplit;

/*
 * Move a split's chunks into one float matrix, freeing each chunk once
 * copied; a NaN (a NULL number) takes impute[slot + 1] when impute is
 * given, else stays missing.
 */
static void
SplitToFloats(Dataset *d, int nslots, const double *impute, GbdtSplit *out)
{
	int			w = d->width;
	int64		k = 0;

	out->n = (int64) d->n;
	out->x = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * Max(out->n * nslots, 1));
	out->y = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * Max(out->n, 1));
	out->w = NULL;
	out->m = NULL;
	for (int c = 0; c < d->nchunks; c++)
	{
		DataChunk  *ch = &d->chunks[c];

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < ch->rows; r++, k++)
		{
			const double *row = &ch->x[(size_t) r * w];
			float	   *x = &out->x[k * nslots];

			for (int j = 1; j < w; j++)
				x[j - 1] = (float) (isnan(row[j]) && impute ? impute[j] : row[j]);
			out->y[k] = (float) ch->y[r];
		}
		pfree(ch->x);
		pfree(ch->y);
	}
	d->nchunks = 0;
}

/* A JSON object's positive weight of a class, if it names the class */
static void
ObjectWeights(const TrainJob *job, double *cw)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);
	JsonbIterator *it = JsonbIteratorInit(&o->class_weight->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			k = -1;
		double		wt = -1;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE || key == NULL)
			continue;
		for (int i = 0; i < o->nlabels; i++)
			if (strcmp(o->labels[i], key) == 0)
				k = i;
		if (k < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("class_weight names class \"%s\", which the target does not have", key),
					 errhint("Weight the classes %s.", JsonbToCString(NULL, &o->class_weight->root, 0))));
		if (v.type == jbvNumeric)
			wt = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
		if (!(wt > 0) || isinf(wt))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("class_weight of class \"%s\" must be a positive number", key),
					 errhint("Give each class a weight above 0, e.g. {\"%s\": 3}.", key)));
		cw[k] = wt;
		key = NULL;
	}
}

/*
 * Case weights of the training rows from class_weight: "balanced" gives
 * class k the weight n / (K n_k), as scikit-learn's compute_sample_weight,
 * an object the weights it names (1 for the others).  NULL when every
 * weight is 1.
 */
static void
CaseWeights(const TrainJob *job, GbdtSplit *s)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);
	int			k = o->nlabels;
	double	   *cw,
			   *count;

	if (o->chosen == GBDT_REGRESSION)
	{
		if (o->balanced || o->class_weight)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("class_weight applies to class targets, and \"%s\" is a regression target",
							job->spec->target),
					 errhint("Leave class_weight out.")));
		return;
	}
	if (!o->balanced && !o->class_weight)
		return;
	cw = palloc(sizeof(double) * k);
	count = palloc0(sizeof(double) * k);
	for (int i = 0; i < k; i++)
		cw[i] = 1;
	for (int64 r = 0; r < s->n; r++)
		count[(int) s->y[r]] += 1;
	if (o->balanced)
		for (int i = 0; i < k; i++)
			cw[i] = count[i] > 0 ? s->n / (k * count[i]) : 1;
	else
		ObjectWeights(job, cw);
	s->w = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * Max(s->n, 1));
	for (int64 r = 0; r < s->n; r++)
		s->w[r] = (float) cw[(int) s->y[r]];
}

/* Refuse a training split XGBoost could learn nothing from: no rows, or one target value */
static void
CheckTarget(const TrainJob *job, const GbdtSplit *s)
{
	bool		one = true;

	if (s->n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("too few usable rows in %s to train: %lld training rows",
						job->src.qualname, (long long) s->n),
				 errhint("Train on more rows, or a smaller test_fraction.")));
	for (int64 r = 1; r < s->n && one; r++)
		one = s->y[r] == s->y[0];
	if (one)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("target column \"%s\" has one value only in the training rows",
						job->spec->target),
				 errdetail("All %lld training rows have the value %s.", (long long) s->n,
						   GBDT_OPTIONS(job)->nlabels > 0 ?
						   GBDT_OPTIONS(job)->labels[(int) s->y[0]] : float8out_internal(s->y[0])),
				 errhint("A model needs a target that varies; check the target and the source.")));
}

/* Refuse encoded rows that, with XGBoost's copies, exceed profenrich.max_train_memory */
static void
CheckMemory(const TrainJob *job, const LoadedData *data, Size budget)
{
	double		rows = data->split[SPLIT_TRAIN].n + data->split[SPLIT_TEST].n;
	double		need = rows * (job->spec->nslots + 2) * (8.0 + sizeof(float) + XGB_BYTES_PER_VALUE);

	if (data->fits && need <= (double) budget)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("the encoded training rows of %s do not fit profenrich.max_train_memory",
					job->src.qualname),
			 errdetail("%.0f rows of %d slots need about %.0f kB with XGBoost's copies; the limit is %d kB.",
					   rows, job->spec->nslots, need / 1024, profenrich_max_train_memory),
			 errhint("Raise profenrich.max_train_memory (for example SET profenrich.max_train_memory = '4GB'), or train on a sample of the rows.")));
}

/* The query that reads the training rows: a class target as its label's index */
static char *
LoadQuery(const TrainJob *job, int *nargs, Oid *types, Datum *values)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);
	List	   *cols = NeededColumns(job->spec);
	const char *t = quote_identifier(job->spec->target);
	Datum	   *labels;

	*nargs = 0;
	if (o->chosen != GBDT_MULTICLASS)
		return psprintf("SELECT %s FROM %s", ColumnList(cols), job->src.from);
	labels = palloc(sizeof(Datum) * o->nlabels);
	for (int i = 0; i < o->nlabels; i++)
		labels[i] = CStringGetTextDatum(o->labels[i]);
	types[0] = TEXTARRAYOID;
	values[0] = PointerGetDatum(construct_array(labels, o->nlabels, TEXTOID, -1, false, TYPALIGN_INT));
	*nargs = 1;
	/* the features after the target (list_delete_first shortens cols in place: once, first) */
	cols = list_delete_first(cols);
	return psprintf("SELECT pg_catalog.array_position($1, %s::pg_catalog.text COLLATE pg_catalog.\"C\") "
					"OPERATOR(pg_catalog.-) 1 AS %s%s%s FROM %s", t, t,
					cols != NIL ? ", " : "", ColumnList(cols), job->src.from);
}

/* XGBoost's parameters, as Python's xgboost.train would pass them */
static void
SetParams(const TrainJob *job, XgbBooster b)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);

	XgbSetParam(b, "objective", GbdtObjectiveName(o->chosen));
	if (o->chosen == GBDT_MULTICLASS)
		XgbSetParam(b, "num_class", psprintf("%d", o->nlabels));
	XgbSetParam(b, "tree_method", "hist");
	XgbSetParam(b, "max_depth", psprintf("%d", o->max_depth));
	XgbSetParam(b, "eta", float8out_internal(o->learning_rate));
	XgbSetParam(b, "subsample", float8out_internal(o->subsample));
	XgbSetParam(b, "colsample_bytree", float8out_internal(o->colsample_bytree));
	XgbSetParam(b, "min_child_weight", float8out_internal(o->min_child_weight));
	XgbSetParam(b, "lambda", float8out_internal(o->l2));
	XgbSetParam(b, "alpha", float8out_internal(o->l1));
	XgbSetParam(b, "max_bin", psprintf("%d", o->max_bin));
	XgbSetParam(b, "seed", psprintf(INT64_FORMAT, job->opts.seed));
	XgbSetParam(b, "nthread", psprintf("%d", profenrich_train_threads));
	XgbSetParam(b, "verbosity", "0");
}

/* The matrix of a split, with its labels and weights */
static void
SplitMatrix(GbdtSplit *s, int nslots)
{
	s->m = XgbMatrixFromFloats(s->x, s->n, nslots, profenrich_train_threads);
	XgbMatrixSetFloats(s->m, "label", s->y, s->n);
	if (s->w)
		XgbMatrixSetFloats(s->m, "weight", s->w, s->n);
}

/* The value of the last metric of an evaluation line ("...\ttest-logloss:0.5") */
static double
LastMetric(const char *line)
{
	const char *colon = strrchr(line, ':');

	if (colon == NULL)
		elog(ERROR, "XGBoost's evaluation has no metric: %s", line);
	return strtod(colon + 1, NULL);
}

/* What the boosting did */
typedef struct Boosted
{
	XgbBooster booster;
	int			rounds;
	int			best;			/* -1 without early stopping */
} Boosted;

/* A progress notice: the round and the train (and test) metric */
static void
ProgressNotice(const TrainJob *job, Boosted *bo, GbdtSplit *train, GbdtSplit *test)
{
	XgbMatrix	m[2] = {train->m, test->m};
	const char *names[2] = {"train", "test"};
	char	   *line = XgbEval(bo->booster, bo->rounds - 1, m, names, test->n > 0 ? 2 : 1);
	char	   *tab = strchr(line, '\t');

	for (char *p = line; *p; p++)
		if (*p == '\t')
			*p = ' ';
	ereport(NOTICE,
			(errmsg("profenrich: gbdt round %d of %d on %s,%s", bo->rounds,
					GBDT_OPTIONS(job)->n_trees, job->src.qualname, tab ? tab : "")));
}

/*
 * Boost up to n_trees rounds, checking for interrupts before each and
 * reporting progress every few seconds.  With a test split and
 * early_stopping_rounds, the test split's default metric (logloss, rmse,
 * mlogloss) is read after each round as xgboost.train reads it, and
 * boosting stops once it has not improved for that many rounds; the best
 * round is the first with the lowest value.  A cross-validation fold
 * boosts every round.
 */
static void
Boost(const TrainJob *job, GbdtSplit *train, GbdtSplit *test, Boosted *bo)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);
	XgbMatrix	cache[2] = {train->m, test->m};
	/* not in a cross-validation fold: its "test" rows are those the fold is scored on */
	bool		early = o->early_stopping_rounds > 0 && test->n > 0 && !job->quiet;
	const char *test_name[1] = {"test"};
	double		best_score = 0;
	int			since = 0;
	TimestampTz last = GetCurrentTimestamp();

	bo->rounds = 0;
	bo->booster = XgbBoosterNew(cache, test->n > 0 ? 2 : 1);
	SetParams(job, bo->booster);
	bo->best = -1;
	for (int i = 0; i < o->n_trees; i++)
	{
		CHECK_FOR_INTERRUPTS();
		XgbUpdate(bo->booster, i, train->m);
		bo->rounds = i + 1;
		if (early)
		{
			double		s = LastMetric(XgbEval(bo->booster, i, &test->m, test_name, 1));

			if (i == 0 || best_score > s)
			{
				best_score = s;
				bo->best = i;
				since = 0;
			}
			else if (++since >= o->early_stopping_rounds)
				break;
		}
		if (TimestampDifferenceExceeds(last, GetCurrentTimestamp(), GBDT_NOTICE_MS))
		{
			ProgressNotice(job, bo, train, test);
			last = GetCurrentTimestamp();
		}
	}
}

/*
 * The metrics of a binary split from its margins: those of a logistic
 * model (auc, logloss, brier, threshold metrics at 0.5).
 */
static void
BinaryMetrics(StringInfo out, const char *label, const GbdtSplit *s, const double *margin)
{
	ScoredLabel *pairs = MemoryContextAllocHuge(CurrentMemoryContext,
												sizeof(ScoredLabel) * Max(s->n, 1));
	double		loglik = 0;
	ClassMetrics m;

	for (int64 r = 0; r < s->n; r++)
	{
		double		e = margin[r];

		pairs[r].score = GbdtProbability(e);
		pairs[r].label = s->y[r];
		loglik += s->y[r] * e - (Max(e, 0.0) + log1p(exp(-fabs(e))));
	}
	MetricsClassify(pairs, s->n, -loglik / s->n, &m);
	appendStringInfo(out, "%s\"%s\": {", out->data[out->len - 1] == '{' ? "" : ", ", label);
	JsonField(out, "auc", m.auc);
	JsonField(out, "logloss", m.logloss);
	JsonField(out, "brier", m.brier);
	JsonField(out, "accuracy", m.accuracy);
	JsonField(out, "precision", m.precision);
	JsonField(out, "recall", m.recall);
	JsonField(out, "f1", m.f1);
	JsonField(out, "base_rate", m.base_rate);
	JsonField(out, "n", (double) s->n);
	JsonField(out, "log_likelihood", loglik);
	appendStringInfoChar(out, '}');
	pfree(pairs);
}

/* The metrics of a regression split: those of a linear model (rmse, mae, r2) */
static void
RegressionMetrics(StringInfo out, const char *label, const GbdtSplit *s, const double *pred)
{
	double		mean = 0,
				sse = 0,
				sae = 0,
				ss = 0;

	for (int64 r = 0; r < s->n; r++)
		mean += s->y[r];
	mean /= s->n;
	for (int64 r = 0; r < s->n; r++)
	{
		double		e = s->y[r] - pred[r];

		sse += e * e;
		sae += fabs(e);
		ss += (s->y[r] - mean) * (s->y[r] - mean);
	}
	appendStringInfo(out, "%s\"%s\": {", out->data[out->len - 1] == '{' ? "" : ", ", label);
	JsonField(out, "rmse", sqrt(sse / s->n));
	JsonField(out, "mae", sae / s->n);
	JsonField(out, "r2", ss > 0 ? 1 - sse / ss : get_float8_nan());
	JsonField(out, "n", (double) s->n);
	appendStringInfoChar(out, '}');
}

/*
 * The metrics of a class split: log loss (probabilities clipped to
 * [1e-15, 1 - 1e-15], as scikit-learn's log_loss) and accuracy.
 */
static void
ClassesMetrics(StringInfo out, const char *label, const GbdtSplit *s, const double *margin,
			   const GbdtTrainOptions *o, char **classes)
{
	int			k = o->nlabels;
	double	   *probs = MemoryContextAllocHuge(CurrentMemoryContext,
											   sizeof(double) * Max(s->n, 1) * k);
	int		   *labels = palloc(sizeof(int) * Max(s->n, 1));

	for (int64 r = 0; r < s->n; r++)
	{
		GbdtSoftmax(&margin[r * k], k, &probs[r * k]);
		labels[r] = (int) s->y[r];
	}
	appendStringInfo(out, "%s\"%s\": {", out->data[out->len - 1] == '{' ? "" : ", ", label);
	MetricsMulticlassJson(out, probs, labels, s->n, k, classes);
	JsonField(out, "n", (double) s->n);
	appendStringInfoChar(out, '}');
	pfree(probs);
	pfree(labels);
}

/* The margins of every row of a split under the forest (n x ngroups) */
static double *
SplitMargins(const GbdtForest *f, const GbdtSplit *s)
{
	double	   *margin = MemoryContextAllocHuge(CurrentMemoryContext,
												sizeof(double) * Max(s->n, 1) * f->ngroups);

	for (int64 r = 0; r < s->n; r++)
	{
		if ((r & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		GbdtMargins(f, &s->x[r * f->nslots], &margin[r * f->ngroups]);
	}
	return margin;
}

/*
 * One split's metrics by objective; the training split's scores (given its
 * baseline rows) become the quantiles and the score part of the baseline
 */
static void
SplitMetrics(TrainJob *job, const char *label, const GbdtSplit *s, BaselineRows *baseline)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);
	double	   *margin = SplitMargins(&GBDT(job)->forest, s);

	if (o->chosen == GBDT_BINARY)
		BinaryMetrics(&job->metrics, label, s, margin);
	else if (o->chosen == GBDT_REGRESSION)
		RegressionMetrics(&job->metrics, label, s, margin);
	else
		ClassesMetrics(&job->metrics, label, s, margin, o, job->model.classes);
	if (baseline != NULL && o->chosen != GBDT_MULTICLASS)
	{
		if (o->chosen == GBDT_BINARY)
			for (int64 r = 0; r < s->n; r++)
				margin[r] = GbdtProbability(margin[r]);
		TrainBaseline(job, baseline, 1, margin, s->n, false);
		ModelSetQuantiles(&job->model, margin, s->n, false);
	}
	else if (baseline != NULL)
	{
		int			k = o->nlabels;

		for (int64 r = 0; r < s->n; r++)
			GbdtSoftmax(&margin[r * k], k, &margin[r * k]);
		TrainBaselineFromProbs(job, baseline, 1, margin, s->n);
	}
	pfree(margin);
}

/*
 * Mean |SHAP| per spec column over up to GBDT_SHAP_SAMPLE training rows
 * spread evenly over the split (over the classes too for a class model),
 * the one-hot levels of a column summed first.
 */
static void
MeanAbsShap(TrainJob *job, const GbdtSplit *s)
{
	GbdtModel  *g = GBDT(job);
	const FeatureSpec *spec = job->spec;
	int64		step = Max(1, (s->n + GBDT_SHAP_SAMPLE - 1) / GBDT_SHAP_SAMPLE);
	double	   *phi = palloc(sizeof(double) * spec->nslots);
	double		bias;

	g->mean_abs_shap = palloc0(sizeof(double) * spec->ncolumns);
	g->shap_rows = 0;
	for (int64 r = 0; r < s->n; r += step)
	{
		CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < g->forest.ngroups; k++)
		{
			memset(phi, 0, sizeof(double) * spec->nslots);
			GbdtShap(&g->forest, &s->x[r * spec->nslots], k, phi, &bias);
			for (int i = 0; i < spec->ncolumns; i++)
			{
				double		v = 0;

				for (int j = 0; j < spec->columns[i].nslots; j++)
					v += phi[spec->columns[i].first_slot + j];
				g->mean_abs_shap[i] += fabs(v);
			}
		}
		g->shap_rows++;
	}
	for (int i = 0; i < spec->ncolumns; i++)
		g->mean_abs_shap[i] /= Max(g->shap_rows, 1) * g->forest.ngroups;
	pfree(phi);
}

/*
 * The model of the boosting: the rounds early stopping kept, stored in
 * XGBoost's binary form, and read back from its JSON form as the forest
 * profenrich evaluates.
 */
static void
KeepModel(TrainJob *job, Boosted *bo)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);
	GbdtModel  *g = palloc0(sizeof(GbdtModel));
	int			keep = bo->best >= 0 ? bo->best + 1 : bo->rounds;
	XgbBooster	b = keep < bo->rounds ? XgbSlice(bo->booster, keep) : bo->booster;
	Size		len;
	char	   *json = XgbSave(b, "json", &len);
	char	   *error;
	GbdtForest *f = GbdtFromXgboostJson(json, len, job->spec->nslots,
										GbdtObjectiveName(o->chosen), &error);

	if (error != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("XGBoost's model could not be read: %s", error),
				 errhint("Train with Debian's XGBoost 1.7 (libxgboost0).")));
	if (f->ntrees != keep * (o->chosen == GBDT_MULTICLASS ? o->nlabels : 1))
		elog(ERROR, "XGBoost's model has %d trees for %d rounds", f->ntrees, keep);
	pfree(json);
	g->objective = o->chosen;
	g->rounds = bo->rounds;
	g->best_iteration = bo->best;
	g->forest = *f;
	g->xgb = XgbSave(b, "ubj", &g->xgb_len);
	GbdtModelScratch(g, job->spec->nslots);
	job->model.body = g;
	if (b != bo->booster)
		XgbFree(b);
	XgbFree(bo->booster);
}

/* The trees' summary in the metrics */
static void
BoostSummary(TrainJob *job, const Boosted *bo)
{
	GbdtTrainOptions *o = GBDT_OPTIONS(job);

	appendStringInfo(&job->metrics, "%s\"objective\": \"%s\"",
					 job->metrics.data[job->metrics.len - 1] == '{' ? "" : ", ",
					 GbdtObjectiveName(o->chosen));
	JsonField(&job->metrics, "trees", bo->best >= 0 ? bo->best + 1 : bo->rounds);
	JsonField(&job->metrics, "rounds", bo->rounds);
	JsonField(&job->metrics, "best_iteration", bo->best >= 0 ? bo->best : get_float8_nan());
	JsonField(&job->metrics, "shap_rows", GBDT(job)->shap_rows);
	appendStringInfoString(&job->metrics, ", \"path\": \"memory\"");
}

/*
 * Train a gbdt model: read the encoded rows once (within
 * profenrich.max_train_memory), hand both splits to XGBoost as floats,
 * boost, keep the best rounds, and measure the model with profenrich's
 * evaluator.
 */
void
TrainGbdt(TrainJob *job)
{
	Size		budget = (Size) profenrich_max_train_memory * 1024;
	LoadedData	data;
	GbdtSplit	train,
				test;
	Boosted		bo;
	Oid			types[1];
	Datum		values[1];
	int			nargs;
	char	   *sql = LoadQuery(job, &nargs, types, values);
	double	   *impute = NULL;
	BaselineRows *sample;

	DatasetLoad(job->spec, sql, nargs, types, values, budget, 0, &data);
	CheckMemory(job, &data, budget);
	sample = BaselineRowsOfDataset(&data);
	if (job->spec->impute == IMPUTE_MEAN && data.split[SPLIT_TRAIN].n > 0)
	{
		double	   *mean = palloc(sizeof(double) * (job->spec->nslots + 1));
		double	   *sd = palloc(sizeof(double) * (job->spec->nslots + 1));

		DatasetPrepare(&data, job->spec, mean, sd);
		impute = (double *) data.split[SPLIT_TRAIN].impute;
	}
	SplitToFloats(&data.split[SPLIT_TRAIN], job->spec->nslots, impute, &train);
	SplitToFloats(&data.split[SPLIT_TEST], job->spec->nslots, impute, &test);
	CheckTarget(job, &train);
	CaseWeights(job, &train);
	SplitMatrix(&train, job->spec->nslots);
	if (test.n > 0)
		SplitMatrix(&test, job->spec->nslots);
	Boost(job, &train, &test, &bo);
	XgbFree(train.m);
	XgbFree(test.m);
	KeepModel(job, &bo);
	if (test.n > 0)
		SplitMetrics(job, "test", &test, NULL);
	SplitMetrics(job, "train", &train, sample);
	MeanAbsShap(job, &train);
	BoostSummary(job, &bo);
	job->n_train = (double) train.n;
	job->n_test = (double) test.n;
	job->n_skipped = (double) (data.skipped_target + data.skipped_feature);
	job->bad = data.bad;
}

/* The largest |a - b| over n floats against n doubles */
static double
MaxDiff(const float *a, const double *b, int64 n)
{
	double		d = 0;

	for (int64 i = 0; i < n; i++)
		d = Max(d, fabs((double) a[i] - b[i]));
	return d;
}

/* The values of margins under an objective (n x k margins, in place) */
static void
MarginsToValues(GbdtObjective objective, double *v, int64 n, int k)
{
	for (int64 r = 0; r < n; r++)
	{
		if (objective == GBDT_BINARY)
			v[r] = GbdtProbability(v[r]);
		else if (objective == GBDT_MULTICLASS)
			GbdtSoftmax(&v[r * k], k, &v[r * k]);
	}
}

/* profenrich's TreeSHAP of every row: n x groups x (slots + 1), the bias last */
static double *
AllContributions(const GbdtForest *f, const GbdtSplit *s, double *sum_error, const double *margin)
{
	int			p = f->nslots;
	double	   *c = MemoryContextAllocHuge(CurrentMemoryContext,
										   sizeof(double) * Max(s->n, 1) * f->ngroups * (p + 1));

	*sum_error = 0;
	for (int64 r = 0; r < s->n; r++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int g = 0; g < f->ngroups; g++)
		{
			double	   *phi = &c[(r * f->ngroups + g) * (p + 1)];
			double		total = 0;

			memset(phi, 0, sizeof(double) * p);
			GbdtShap(f, &s->x[r * p], g, phi, &phi[p]);
			for (int j = 0; j <= p; j++)
				total += phi[j];
			*sum_error = Max(*sum_error, fabs(total - margin[r * f->ngroups + g]));
		}
	}
	return c;
}

/* A jsonb object of the comparison's figures */
static Datum
CheckResult(int64 n, double value, double margin, double shap, double sum)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	JsonField(&out, "rows", (double) n);
	JsonField(&out, "value_max_abs_diff", value);
	JsonField(&out, "margin_max_abs_diff", margin);
	JsonField(&out, "shap_max_abs_diff", shap);
	JsonField(&out, "shap_sum_max_abs_error", sum);
	appendStringInfoChar(&out, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

/* The rows of source encoded as the model reads them (all of them, no target needed) */
static void
CheckRows(const Model *m, Oid relid, GbdtSplit *rows)
{
	FeatureSpec spec = *m->spec;
	Source		src;
	LoadedData	data;
	double	   *impute = palloc0(sizeof(double) * (spec.nslots + 1));
	char	   *sql;

	spec.binary = false;
	spec.positive = NULL;
	spec.key = NULL;
	spec.test_fraction = 0;
	spec.target = "pe_target";
	for (int i = 0; i < spec.ncolumns; i++)
		impute[1 + spec.columns[i].first_slot] = spec.columns[i].impute;
	SourceOpen(relid, &src);
	sql = psprintf("SELECT 0 AS pe_target, %s FROM %s",
				   ColumnList(list_delete_first(NeededColumns(&spec))), src.qualname);
	TrainContext = CurrentMemoryContext;
	SPI_connect();
	MemoryContextSwitchTo(TrainContext);
	DatasetLoad(&spec, sql, 0, NULL, NULL, (Size) profenrich_max_train_memory * 1024, 0, &data);
	SPI_finish();
	if (!data.fits)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the rows of %s do not fit profenrich.max_train_memory", src.qualname),
				 errhint("Check a smaller relation, or raise profenrich.max_train_memory.")));
	SplitToFloats(&data.split[SPLIT_TRAIN], spec.nslots,
				  spec.impute == IMPUTE_MEAN ? impute : NULL, rows);
}

/*
 * Refuse a check whose contributions would not fit profenrich.max_train_memory:
 * profenrich's and XGBoost's, rows x groups x (slots + 1) values each
 */
static void
CheckContributionMemory(const Model *m, const GbdtModel *g, const GbdtSplit *rows)
{
	double		bytes = (double) rows->n * g->forest.ngroups * (m->spec->nslots + 1) *
		(sizeof(double) + sizeof(float));

	if (bytes > (double) profenrich_max_train_memory * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the contributions of %lld rows do not fit profenrich.max_train_memory",
						(long long) rows->n),
				 errdetail("They take %.0f kB; the setting is %d kB.", bytes / 1024,
						   profenrich_max_train_memory),
				 errhint("Check a sample of the rows (a view with TABLESAMPLE), or raise profenrich.max_train_memory.")));
}

/*
 * gbdt_check(name, source regclass) returns jsonb: profenrich's evaluator
 * against XGBoost's own prediction of the stored model, on every row of
 * source: the largest differences of the predicted values, the margins
 * and the TreeSHAP contributions (with the bias), and how far profenrich's
 * contributions are from adding up to its margin.
 */
Datum
gbdt_check(PG_FUNCTION_ARGS)
{
	int			version;
	Model	   *m;
	GbdtModel  *g;
	GbdtSplit	rows;
	XgbBooster	b;
	const float *out;
	int64		n;
	double	   *margin,
			   *values,
			   *contrib,
				dv,
				dm,
				dc,
				sum_error;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name and source must not be NULL"),
				 errhint("Call profenrich.gbdt_check('model', 'table').")));
	m = RegistryLoad(text_to_cstring(PG_GETARG_TEXT_PP(0)), 0, &version, CurrentMemoryContext);
	if (m->ops->code != ALG_GBDT)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, not a gbdt model",
						text_to_cstring(PG_GETARG_TEXT_PP(0)), m->ops->name),
				 errhint("gbdt_check takes a model trained with algorithm 'gbdt'.")));
	g = GbdtModelOf(m);
	CheckRows(m, PG_GETARG_OID(1), &rows);
	CheckContributionMemory(m, g, &rows);
	rows.m = XgbMatrixFromFloats(rows.x, rows.n, m->spec->nslots, 1);
	b = XgbBoosterFromBytes(g->xgb, g->xgb_len);
	margin = SplitMargins(&g->forest, &rows);
	values = MemoryContextAllocHuge(CurrentMemoryContext,
									sizeof(double) * Max(rows.n, 1) * g->forest.ngroups);
	memcpy(values, margin, sizeof(double) * rows.n * g->forest.ngroups);
	MarginsToValues(g->objective, values, rows.n, g->forest.ngroups);
	out = XgbPredict(b, rows.m, XGB_PREDICT_MARGIN, &n);
	dm = n == rows.n * g->forest.ngroups ? MaxDiff(out, margin, n) : get_float8_nan();
	out = XgbPredict(b, rows.m, XGB_PREDICT_VALUE, &n);
	dv = n == rows.n * g->forest.ngroups ? MaxDiff(out, values, n) : get_float8_nan();
	contrib = AllContributions(&g->forest, &rows, &sum_error, margin);
	out = XgbPredict(b, rows.m, XGB_PREDICT_CONTRIBS, &n);
	dc = n == rows.n * g->forest.ngroups * (m->spec->nslots + 1) ? MaxDiff(out, contrib, n) :
		get_float8_nan();
	XgbFree(b);
	XgbFree(rows.m);
	PG_RETURN_DATUM(CheckResult(rows.n, dv, dm, dc, sum_error));
}
