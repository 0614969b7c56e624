/*-------------------------------------------------------------------------
 * monitor.c
 *	  A deployed model judged on a relation: roc_curve, calibration,
 *	  confusion_matrix and best_threshold for classifiers, holdout_check
 *	  for purchase models; and what drift.c shares with them (monitor.h).
 *
 * Every function reads the relation once with the caller's privileges,
 * through a DestReceiver under SPI that scores each row as the executor
 * produces it; a NULL source means the model's own test split (its
 * training source's rows that the key hash put there), as evaluate does.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

#include "clv.h"
#include "curves.h"
#include "monitor.h"
#include "privileges.h"
#include "registry.h"
#include "trainer.h"

PG_FUNCTION_INFO_V1(roc_curve);
PG_FUNCTION_INFO_V1(calibration);
PG_FUNCTION_INFO_V1(confusion_matrix);
PG_FUNCTION_INFO_V1(best_threshold);
PG_FUNCTION_INFO_V1(holdout_check);

/*
 * The deployed model of argument 0 and the relation of argument 1, or
 * when that is NULL the model's training source; the relation must exist
 * and be a table or view.
 */
void
MonitorOpen(FunctionCallInfo fcinfo, const char *function, MonitoredModel *mm)
{
	Source		src;
	Oid			relid;

	memset(mm, 0, sizeof(MonitoredModel));
	mm->fcinfo = fcinfo;
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL"),
				 errhint("Pass the name of a trained model to %s.", function)));
	mm->name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	mm->model = RegistryLoad(mm->name, 0, &mm->version, CurrentMemoryContext);
	mm->own = PG_NARGS() < 2 || PG_ARGISNULL(1);
	if (mm->own)
		relid = PrivilegeStoredRelation(RegistrySource(mm->name, mm->version));	/* or an error */
	else
		relid = PG_GETARG_OID(1);
	SourceOpen(relid, &src);
	mm->relid = src.relid;
	mm->from = src.qualname;
	mm->tupdesc = src.tupdesc;
}

/* Error for a column the relation lacks */
static void
MissingColumn(const MonitoredModel *mm, const char *column, const char *role)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("relation %s has no column \"%s\", a %s of model \"%s\"",
					mm->from, column, role, mm->name),
			 errhint("Pass a relation that holds every column the model reads (profenrich.models.features lists them), or a view that adds or renames them.")));
}

/*
 * A column the model reads: refuse it when the relation lacks it or the
 * caller may not read it (the statement would fail too, without a hint).
 */
static void
CheckColumn(const MonitoredModel *mm, const Source *src, const char *column, const char *role,
			bool table_readable)
{
	AttrNumber	att = SourceColumn(src, column);

	if (att == 0)
		MissingColumn(mm, column, role);
	if (!table_readable &&
		pg_attribute_aclcheck(mm->relid, att, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read column \"%s\" of relation %s", column, mm->from),
				 errhint("Ask the owner for SELECT on %s.", mm->from)));
}

/*
 * Refuse, before any statement runs, a relation without a column the model
 * reads (its features, and the target and split key when wanted) or one the
 * caller may not read.
 */
void
MonitorCheckColumns(const MonitoredModel *mm, bool want_target, bool want_key)
{
	const FeatureSpec *spec = mm->model->spec;
	Source		src;
	bool		readable = pg_class_aclcheck(mm->relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;

	src.relid = mm->relid;
	src.qualname = mm->from;
	src.tupdesc = mm->tupdesc;
	for (int i = 0; i < spec->ncolumns; i++)
		CheckColumn(mm, &src, spec->columns[i].name, "feature", readable);
	if (want_target && spec->target)
		CheckColumn(mm, &src, spec->target, "target", readable);
	if (want_key && spec->key)
		CheckColumn(mm, &src, spec->key, "split key", readable);
}

/* Refuse a model that is not a binary classifier */
void
MonitorRequireBinary(const MonitoredModel *mm, const char *function)
{
	bool		confusion = strcmp(function, "confusion_matrix") == 0;

	if (mm->model->spec == NULL || !mm->model->spec->binary)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s needs a %s, and \"%s\" is a %s model",
						function, confusion ? "classifier" : "binary classifier", mm->name,
						mm->model->ops->name),
				 confusion ?
				 errhint("Use confusion_matrix with a model trained with algorithm 'logistic' or a class model.") :
				 errhint("Use %s with a model trained with algorithm 'logistic'; for a class model, see confusion_matrix.",
						 function)));
}

/*
 * Refuse to read the model's own test split when it has none (a keyless
 * split of a model trained before 0.5.0 that cannot be found again is
 * refused by OwnSplitInput).
 */
void
MonitorRequireTestSplit(const MonitoredModel *mm)
{
	const FeatureSpec *spec = mm->model->spec;

	if (!mm->own)
		return;
	if (spec->test_fraction == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" was trained without a test split", mm->name),
				 errhint("Pass a relation to judge the model on, or train with a test_fraction above 0.")));
}

/*
 * The collector of a classifier's rows: a binary model's (probability,
 * label) pairs, or a class model's (actual, predicted) class indexes.
 */
typedef struct Judged
{
	DestReceiver pub;
	const MonitoredModel *mm;
	FeatureReader reader;
	MemoryContext mcxt;
	MemoryContext rowcxt;
	bool		classes;		/* class model: compare labels */
	bool		test_only;
	LegacySplitInput legacy;	/* what a 0.4.0 model's keyless split hashed */
	double	   *x;				/* scratch of a keyless split: nslots + 1 */
	int		   *missing;		/* nnumeric */
	FmgrInfo	target_out;		/* class models read the target (column 1) as text */
	double	   *probs;
	int64		n;
	int64		cap;
	ScoredLabel *pairs;			/* binary: score and label; classes: actual and predicted */
	int			nextra;			/* class models: actual labels outside the model's classes */
	char	  **extra;
	int64		rows_read;
} Judged;

static void
JudgedErrorContext(void *arg)
{
	Judged	   *j = (Judged *) arg;

	if (j->rows_read > 0)
		errcontext("scoring row " INT64_FORMAT " of %s (in scan order)", j->rows_read, j->mm->from);
}

static void
JudgedStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	Judged	   *j = (Judged *) self;
	MemoryContext old = MemoryContextSwitchTo(j->mcxt);

	FeatureReaderInit(&j->reader, j->mcxt);
	FeatureReaderBindDesc(&j->reader, j->mm->model->spec, typeinfo, !j->classes, j->test_only);
	if (j->classes)
	{
		Oid			outfn;
		bool		isvarlena;

		getTypeOutputInfo(TupleDescAttr(typeinfo, 0)->atttypid, &outfn, &isvarlena);
		fmgr_info_cxt(outfn, &j->target_out, j->mcxt);
	}
	MemoryContextSwitchTo(old);
}

/* A class model's index of an actual label; labels outside its classes follow them */
static int
ActualClass(Judged *j, const char *label)
{
	const Model *m = j->mm->model;

	for (int k = 0; k < m->nclasses; k++)
		if (strcmp(m->classes[k], label) == 0)
			return k;
	for (int k = 0; k < j->nextra; k++)
		if (strcmp(j->extra[k], label) == 0)
			return m->nclasses + k;
	if (j->nextra >= MODEL_MAX_CLASSES)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the target column holds more than %d labels the model does not know",
						MODEL_MAX_CLASSES),
				 errhint("Pass rows whose target holds the model's classes (profenrich.classes).")));
	if (j->extra == NULL)
		j->extra = MemoryContextAlloc(j->mcxt, sizeof(char *) * MODEL_MAX_CLASSES);
	j->extra[j->nextra] = MemoryContextStrdup(j->mcxt, label);
	return m->nclasses + j->nextra++;
}

/* Keep one pair */
static void
JudgedAdd(Judged *j, double a, double b)
{
	MemoryContext old = MemoryContextSwitchTo(j->mcxt);

	if (j->n == j->cap)
	{
		j->cap = Max(1024, 2 * j->cap);
		j->pairs = j->pairs ? repalloc_huge(j->pairs, sizeof(ScoredLabel) * j->cap) :
			MemoryContextAllocHuge(j->mcxt, sizeof(ScoredLabel) * j->cap);
	}
	j->pairs[j->n].score = a;
	j->pairs[j->n].label = b;
	j->n++;
	MemoryContextSwitchTo(old);
}

/* Whether the current row (its target read as target) is one the function judges */
static inline bool
InSplit(Judged *j, double target)
{
	return !j->test_only ||
		FeatureRowInTest(&j->reader, j->mm->model->spec, target, j->legacy, j->x, j->missing);
}

/* One row: skip it outside the test split or with a NULL label, else judge it */
static bool
JudgedReceive(TupleTableSlot *slot, DestReceiver *self)
{
	Judged	   *j = (Judged *) self;
	const Model *m = j->mm->model;
	MemoryContext old = MemoryContextSwitchTo(j->rowcxt);

	MemoryContextReset(j->rowcxt);
	j->rows_read++;
	FeatureReaderLoadSlot(&j->reader, slot);
	if (j->classes)
	{
		int			cls;

		if (!slot->tts_isnull[0])
		{
			int			actual = ActualClass(j, OutputFunctionCall(&j->target_out,
																  slot->tts_values[0]));

			/* the split hashed a class target as its index among the model's classes */
			if (InSplit(j, actual < m->nclasses ? actual : -1) &&
				ModelClassifyRow(m, &j->reader, j->probs, &cls))
				JudgedAdd(j, actual, cls);
		}
	}
	else
	{
		double		label,
					p;

		if (FeatureReadTarget(&j->reader, m->spec, &label) && InSplit(j, label) &&
			ModelScoreRow(m, &j->reader, &p))
			JudgedAdd(j, p, label);
	}
	MemoryContextSwitchTo(old);
	return true;
}

static void
JudgedNothing(DestReceiver *self)
{
}

/*
 * Read the relation of mm (target first, then the key and the features)
 * and judge every row: pairs for a binary model, labels for a class model.
 */
static void
JudgeRows(const MonitoredModel *mm, bool classes, Judged *j)
{
	const FeatureSpec *spec = mm->model->spec;
	StringInfoData sql;
	SPIExecuteOptions opts;
	ErrorContextCallback errcb;
	int			rc;

	MonitorRequireTestSplit(mm);
	MonitorCheckColumns(mm, true, mm->own);
	memset(j, 0, sizeof(Judged));
	j->pub.receiveSlot = JudgedReceive;
	j->pub.rStartup = JudgedStartup;
	j->pub.rShutdown = JudgedNothing;
	j->pub.rDestroy = JudgedNothing;
	j->pub.mydest = DestNone;
	j->mm = mm;
	j->classes = classes;
	j->mcxt = CurrentMemoryContext;
	j->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "profenrich row", ALLOCSET_SMALL_SIZES);
	j->test_only = mm->own;
	j->legacy = mm->own ? OwnSplitInput(mm->model, mm->fcinfo, mm->version) : LEGACY_SLOTS_TARGET;
	j->x = palloc(sizeof(double) * (spec->nslots + 1));
	j->missing = palloc(sizeof(int) * Max(spec->nnumeric, 1));
	j->probs = palloc(sizeof(double) * Max(mm->model->nclasses, 2));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s", quote_identifier(spec->target));
	if (mm->own && spec->key)
		appendStringInfo(&sql, ", %s", quote_identifier(spec->key));
	for (int i = 0; i < spec->ncolumns; i++)
		appendStringInfo(&sql, ", %s", quote_identifier(spec->columns[i].name));
	appendStringInfo(&sql, " FROM %s", mm->from);
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
	opts.dest = &j->pub;
	SPI_connect();
	errcb.callback = JudgedErrorContext;
	errcb.arg = j;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	rc = SPI_execute_extended(sql.data, &opts);
	error_context_stack = errcb.previous;
	if (rc < 0)
		elog(ERROR, "scoring query failed (%s): %s", SPI_result_code_string(rc), sql.data);
	SPI_finish();
	MemoryContextSwitchTo(j->mcxt);
	MemoryContextDelete(j->rowcxt);
}

/* A binary model's pairs on the relation, sorted by score; both classes required when both */
static void
BinaryPairs(const MonitoredModel *mm, const char *function, bool both, Judged *j)
{
	double		P,
				N;

	MonitorRequireBinary(mm, function);
	JudgeRows(mm, false, j);
	MetricsCheckScores(j->pairs, j->n);
	MetricsSortPairs(j->pairs, j->n);
	CurvesCount(j->pairs, j->n, &P, &N);
	if (j->n == 0 || (both && (P == 0 || N == 0)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s needs rows of both classes, and %s has " INT64_FORMAT " labelled rows, %.0f of them positive",
						function, mm->own ? "the model's test split" : mm->from, j->n, P),
				 errhint("Pass a relation that holds positive and negative rows with their labels.")));
}

/* An integer argument in [2, limit] */
static int
CountArg(FunctionCallInfo fcinfo, int arg, int def, int limit, const char *what, const char *example)
{
	int			v = PG_ARGISNULL(arg) ? def : PG_GETARG_INT32(arg);

	if (v < 2 || v > limit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 2 and %d, not %d", what, limit, v),
				 errhint("%s", example)));
	return v;
}

/* A float8 datum, NULL for NaN */
static void
PutNumber(Datum *values, bool *nulls, int i, double v)
{
	nulls[i] = isnan(v);
	values[i] = Float8GetDatum(v);
}

/*
 * roc_curve(name, source DEFAULT NULL, points DEFAULT 100) returns table
 * (threshold, tpr, fpr, precision): the ROC curve of a binary model from
 * the threshold +Infinity (nothing positive) down to its lowest score
 * (everything positive), at most points rows (CurvesRoc).
 */
Datum
roc_curve(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MonitoredModel mm;
	Judged		j;
	CurvePoint *pts;
	int			points,
				k;
	double		P,
				N;

	InitMaterializedSRF(fcinfo, 0);
	points = CountArg(fcinfo, 2, 100, 100000, "points",
					  "Ask for 100 points, or more for a finer curve.");
	MonitorOpen(fcinfo, "roc_curve", &mm);
	BinaryPairs(&mm, "roc_curve", true, &j);
	CurvesCount(j.pairs, j.n, &P, &N);
	pts = palloc(sizeof(CurvePoint) * points);
	k = CurvesRoc(j.pairs, j.n, points, pts);
	for (int i = 0; i < k; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Float8GetDatum(pts[i].threshold);
		values[1] = Float8GetDatum(pts[i].tp / P);
		values[2] = Float8GetDatum(pts[i].fp / N);
		PutNumber(values, nulls, 3, pts[i].tp + pts[i].fp > 0 ?
				  pts[i].tp / (pts[i].tp + pts[i].fp) : get_float8_nan());
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * calibration(name, source DEFAULT NULL, bins DEFAULT 10) returns table
 * (bin, n, mean_predicted, observed_rate): a binary model's probabilities
 * in bins of equal width over [0, 1], each with its rows, their mean
 * probability and their positive rate (NULL for an empty bin).
 */
Datum
calibration(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MonitoredModel mm;
	Judged		j;
	int			bins;
	double	   *count,
			   *score,
			   *label;

	InitMaterializedSRF(fcinfo, 0);
	bins = CountArg(fcinfo, 2, 10, 10000, "bins", "Ask for 10 bins (deciles of probability).");
	MonitorOpen(fcinfo, "calibration", &mm);
	BinaryPairs(&mm, "calibration", false, &j);
	count = palloc(sizeof(double) * bins);
	score = palloc(sizeof(double) * bins);
	label = palloc(sizeof(double) * bins);
	CurvesCalibration(j.pairs, j.n, bins, count, score, label);
	for (int b = 0; b < bins; b++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, count[b] == 0, count[b] == 0};

		values[0] = Int32GetDatum(b + 1);
		values[1] = Int64GetDatum((int64) count[b]);
		values[2] = Float8GetDatum(count[b] > 0 ? score[b] / count[b] : 0);
		values[3] = Float8GetDatum(count[b] > 0 ? label[b] / count[b] : 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* One row (actual, predicted, n) of a confusion matrix */
static void
PutCell(ReturnSetInfo *rsinfo, const char *actual, const char *predicted, double n)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(actual);
	values[1] = CStringGetTextDatum(predicted);
	values[2] = Int64GetDatum((int64) n);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* A binary model's class labels, negative then positive ("negative", "positive" before 0.5.0) */
static void
BinaryLabels(const Model *m, const char **labels)
{
	labels[0] = m->nclasses == 2 ? m->classes[0] : "negative";
	labels[1] = m->nclasses == 2 ? m->classes[1] : "positive";
}

/* The confusion matrix of a binary model at a threshold: four cells in model order */
static void
BinaryConfusion(ReturnSetInfo *rsinfo, const MonitoredModel *mm, double threshold)
{
	Judged		j;
	double		cells[2][2] = {{0, 0}, {0, 0}};
	const char *labels[2];

	BinaryPairs(mm, "confusion_matrix", false, &j);
	for (int64 i = 0; i < j.n; i++)
		cells[j.pairs[i].label > 0][j.pairs[i].score >= threshold] += 1;
	BinaryLabels(mm->model, labels);
	for (int a = 0; a < 2; a++)
		for (int p = 0; p < 2; p++)
			PutCell(rsinfo, labels[a], labels[p], cells[a][p]);
}

/*
 * The confusion matrix of a class model: every (actual, predicted) pair
 * of its classes in model order, then actual labels it does not know.
 */
static void
ClassConfusion(ReturnSetInfo *rsinfo, const MonitoredModel *mm)
{
	const Model *m = mm->model;
	Judged		j;
	double	   *cells;
	int			k = m->nclasses;
	int			rows;

	JudgeRows(mm, true, &j);
	rows = k + j.nextra;
	cells = palloc0(sizeof(double) * rows * k);
	for (int64 i = 0; i < j.n; i++)
		cells[(int) j.pairs[i].score * k + (int) j.pairs[i].label] += 1;
	for (int a = 0; a < rows; a++)
		for (int p = 0; p < k; p++)
			PutCell(rsinfo, a < k ? m->classes[a] : j.extra[a - k], m->classes[p], cells[a * k + p]);
}

/*
 * confusion_matrix(name, source DEFAULT NULL, threshold DEFAULT NULL)
 * returns table (actual, predicted, n): for a binary model at threshold
 * (default the model's own, 0.5 unless the option "threshold" set it), for
 * a class model (no threshold) its predicted classes against the labels.
 */
Datum
confusion_matrix(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MonitoredModel mm;
	bool		given = PG_NARGS() > 2 && !PG_ARGISNULL(2);

	InitMaterializedSRF(fcinfo, 0);
	MonitorOpen(fcinfo, "confusion_matrix", &mm);
	if (ModelOutput(mm.model) == OUTPUT_CLASS && mm.model->spec->target != NULL && mm.model->nclasses > 0)
	{
		if (given)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a threshold applies to binary models, and \"%s\" is a %s model of %d classes",
							mm.name, mm.model->ops->name, mm.model->nclasses),
					 errhint("Leave the threshold out: a class model predicts its most probable class.")));
		ClassConfusion(rsinfo, &mm);
	}
	else
	{
		double		threshold = given ? PG_GETARG_FLOAT8(2) : mm.model->threshold;

		if (!(threshold >= 0 && threshold <= 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("threshold must be a probability between 0 and 1, not %g", threshold),
					 errhint("Pass the probability from which a row counts as positive, such as 0.5.")));
		BinaryConfusion(rsinfo, &mm, threshold);
	}
	return (Datum) 0;
}

/* Error for a metric best_threshold does not know */
static void
BadMetric(const char *metric)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown metric \"%s\"", metric),
			 errhint("Use 'f1', 'youden', or a cost object such as '{\"fp\": 1, \"fn\": 5}' (the cost of a false positive and of a false negative).")));
}

/* A cost object's value of key, a finite number not below 0 */
static double
CostValue(Jsonb *j, const char *key, const char *metric)
{
	JsonbValue	k,
			   *v;
	double		c;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&j->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a cost object has exactly the keys \"fp\" and \"fn\" with numbers, not %s", metric),
				 errhint("Give the cost of a false positive and of a false negative, such as '{\"fp\": 1, \"fn\": 5}'.")));
	c = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (!(c >= 0) || isinf(c))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the cost of \"%s\" must be a finite number not below 0, not %g", key, c),
				 errhint("Give the cost of a false positive and of a false negative, such as '{\"fp\": 1, \"fn\": 5}'.")));
	return c;
}

/* Parse a cost object {"fp": c, "fn": c}, refusing any other form */
static void
ParseCost(const char *metric, double *cost_fp, double *cost_fn)
{
	MemoryContext mcxt = CurrentMemoryContext;
	Jsonb	   *volatile j = NULL;

	PG_TRY();
	{
		j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(metric)));
	}
	PG_CATCH();
	{
		ErrorData  *err;

		MemoryContextSwitchTo(mcxt);
		err = CopyErrorData();
		if (err->sqlerrcode != ERRCODE_INVALID_TEXT_REPRESENTATION)
			PG_RE_THROW();
		FlushErrorState();
	}
	PG_END_TRY();
	if (j == NULL || !JB_ROOT_IS_OBJECT(j))
		BadMetric(metric);
	if (JB_ROOT_COUNT(j) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a cost object has exactly the keys \"fp\" and \"fn\", not %s", metric),
				 errhint("Give the cost of a false positive and of a false negative, such as '{\"fp\": 1, \"fn\": 5}'.")));
	*cost_fp = CostValue(j, "fp", metric);
	*cost_fn = CostValue(j, "fn", metric);
	if (*cost_fp == 0 && *cost_fn == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the costs of a false positive and of a false negative are both 0"),
				 errhint("Give at least one error a positive cost, such as '{\"fp\": 1, \"fn\": 5}'.")));
}

/*
 * best_threshold(name, source DEFAULT NULL, metric DEFAULT 'f1') returns
 * table (threshold, value, tpr, fpr, precision): the threshold of a binary
 * model best for the metric on the relation (CurvesBestThreshold): 'f1',
 * 'youden' (tpr - fpr), or a cost object {"fp": c, "fn": c} (value: the
 * total cost of the errors, minimized).
 */
Datum
best_threshold(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MonitoredModel mm;
	Judged		j;
	char	   *metric = PG_ARGISNULL(2) ? "f1" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	ThresholdMetric which;
	double		cost_fp = 0,
				cost_fn = 0,
				value,
				P,
				N;
	CurvePoint	best;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	if (strcmp(metric, "f1") == 0)
		which = THRESHOLD_F1;
	else if (strcmp(metric, "youden") == 0)
		which = THRESHOLD_YOUDEN;
	else
	{
		ParseCost(metric, &cost_fp, &cost_fn);
		which = THRESHOLD_COST;
	}
	MonitorOpen(fcinfo, "best_threshold", &mm);
	BinaryPairs(&mm, "best_threshold", true, &j);
	CurvesCount(j.pairs, j.n, &P, &N);
	best = CurvesBestThreshold(j.pairs, j.n, which, cost_fp, cost_fn, &value);
	values[0] = Float8GetDatum(best.threshold);
	values[1] = Float8GetDatum(value);
	values[2] = Float8GetDatum(best.tp / P);
	values[3] = Float8GetDatum(best.fp / N);
	PutNumber(values, nulls, 4, best.tp + best.fp > 0 ? best.tp / (best.tp + best.fp) : get_float8_nan());
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* holdout_check's groups: calibration frequency 0, 1, ..., 6 and 7 or more */
#define HOLDOUT_GROUPS 8

/* The scan of holdout_check: per group, customers and sums of actual and expected purchases */
typedef struct Holdout
{
	DestReceiver pub;
	const ClvFit *fit;
	double		periods;
	const char *names[4];		/* frequency, recency, t, actual */
	FeatureConv conv[4];
	double		n[HOLDOUT_GROUPS];
	double		actual[HOLDOUT_GROUPS];
	double		expected[HOLDOUT_GROUPS];
	int64		skipped;
	int64		rows_read;
	const char *from;
} Holdout;

static void
HoldoutErrorContext(void *arg)
{
	Holdout    *h = (Holdout *) arg;

	if (h->rows_read > 0)
		errcontext("reading row " INT64_FORMAT " of %s (in scan order)", h->rows_read, h->from);
}

static void
HoldoutStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	Holdout    *h = (Holdout *) self;

	for (int i = 0; i < 4; i++)
		h->conv[i] = FeatureConvForType(TupleDescAttr(typeinfo, i)->atttypid);
}

/* One customer: its group, actual purchases, and conditional expectation */
static bool
HoldoutReceive(TupleTableSlot *slot, DestReceiver *self)
{
	Holdout    *h = (Holdout *) self;
	double		v[4];
	int			g;

	h->rows_read++;
	slot_getsomeattrs(slot, 4);
	for (int i = 0; i < 4; i++)
	{
		if (slot->tts_isnull[i])
		{
			h->skipped++;
			return true;
		}
		v[i] = FeatureDatumToDouble(slot->tts_values[i], h->conv[i]);
	}
	ClvCheckHistory(v[0], v[1], v[2], false);
	if (v[0] != floor(v[0]))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("frequency must be a whole number, got %g", v[0]),
				 errhint("frequency counts repeat purchases: distinct purchase days minus one.")));
	if (!(v[3] >= 0) || isinf(v[3]))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the holdout purchases in column \"%s\" must be a finite number not below 0, got %g",
						h->names[3], v[3]),
				 errhint("Count each customer's purchases in the holdout period; see the example of holdout_check in the README.")));
	g = (int) Min(v[0], HOLDOUT_GROUPS - 1);
	h->n[g] += 1;
	h->actual[g] += v[3];
	h->expected[g] += ClvExpectedPurchases(h->fit, h->periods, v[0], v[1], v[2]);
	return true;
}

/* Refuse a holdout_check column the source lacks or that is not a number */
static void
HoldoutColumn(const Source *src, const char *name, const char *role)
{
	AttrNumber	att = SourceColumn(src, name);
	FeatureConv conv;

	if (att == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("relation %s has no column \"%s\" (%s)", src->qualname, name, role),
				 errhint("Pass a relation with each customer's calibration summary (frequency, recency, t, as rfm gives them) and the purchases of the holdout period.")));
	conv = FeatureConvForType(TupleDescAttr(src->tupdesc, att - 1)->atttypid);
	if (conv == CONV_NONE || FeatureKindForConv(conv) != FEATURE_NUMERIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" (%s) has type %s, which is not numeric", name, role,
						format_type_be(TupleDescAttr(src->tupdesc, att - 1)->atttypid)),
				 errhint("Cast the column to a number in a view.")));
}

/* The purchase submodel of a model, refusing a model without one */
static const ClvFit *
PurchaseFit(const Model *m, const char *name)
{
	if (!(m->ops->flags & ALG_LIFETIME) ||
		((const ClvModel *) m->body)->purchase.family == CLV_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("holdout_check needs a purchase model, and \"%s\" is a %s model",
						name, m->ops->name),
				 errhint("Pass a model trained with algorithm 'bgnbd', 'paretonbd' or 'clv'.")));
	return &((const ClvModel *) m->body)->purchase;
}

/* Run the scan of the summaries and the holdout counts */
static void
HoldoutRun(const Source *src, Holdout *h)
{
	SPIExecuteOptions opts;
	ErrorContextCallback errcb;
	char	   *sql = psprintf("SELECT %s, %s, %s, %s FROM %s", quote_identifier(h->names[0]),
							   quote_identifier(h->names[1]), quote_identifier(h->names[2]),
							   quote_identifier(h->names[3]), src->qualname);
	int			rc;

	h->pub.receiveSlot = HoldoutReceive;
	h->pub.rStartup = HoldoutStartup;
	h->pub.rShutdown = JudgedNothing;
	h->pub.rDestroy = JudgedNothing;
	h->pub.mydest = DestNone;
	h->from = src->qualname;
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
	opts.dest = &h->pub;
	SPI_connect();
	errcb.callback = HoldoutErrorContext;
	errcb.arg = h;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	rc = SPI_execute_extended(sql, &opts);
	error_context_stack = errcb.previous;
	if (rc < 0)
		elog(ERROR, "holdout query failed (%s): %s", SPI_result_code_string(rc), sql);
	SPI_finish();
}

/* One row of holdout_check: a group (or the total, frequency NULL) */
static void
PutGroup(ReturnSetInfo *rsinfo, int frequency, double n, double actual, double expected)
{
	Datum		values[4];
	bool		nulls[4] = {frequency < 0, false, n == 0, n == 0};

	values[0] = Int32GetDatum(frequency);
	values[1] = Int64GetDatum((int64) n);
	values[2] = Float8GetDatum(n > 0 ? actual / n : 0);
	values[3] = Float8GetDatum(n > 0 ? expected / n : 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * holdout_check(name, source, actual, periods) returns table (frequency,
 * customers, actual_mean, expected_mean): for each customer of source (a
 * calibration summary frequency, recency, t under the model's column
 * names, and column actual, the purchases made in the next periods units),
 * the mean actual purchases and the purchase model's conditional
 * expectation E[X(periods) | frequency, recency, t], by calibration
 * frequency 0, 1, ..., 6 and 7 or more (frequency 7), then all customers
 * (frequency NULL).  Customers with a NULL input are left out.
 */
Datum
holdout_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Holdout		h;
	Source		src;
	char	   *name;
	int			version;
	Model	   *m;
	double		n = 0,
				actual = 0,
				expected = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("holdout_check needs a model, a source, the column of holdout purchases and the periods"),
				 errhint("Call profenrich.holdout_check('model', 'holdout_table', 'holdout_purchases', 39).")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	m = RegistryLoad(name, 0, &version, CurrentMemoryContext);
	memset(&h, 0, sizeof(Holdout));
	h.fit = PurchaseFit(m, name);
	h.periods = PG_GETARG_FLOAT8(3);
	if (!(h.periods >= 0) || isinf(h.periods))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("periods must be a finite number not below 0, got %g", h.periods),
				 errhint("Pass the length of the holdout period in the model's time unit, such as 39 for 39 weeks.")));
	SourceOpen(PG_GETARG_OID(1), &src);
	for (int i = 0; i < 3; i++)
		h.names[i] = m->spec->columns[i].name;
	h.names[3] = text_to_cstring(PG_GETARG_TEXT_PP(2));
	HoldoutColumn(&src, h.names[0], "calibration frequency");
	HoldoutColumn(&src, h.names[1], "calibration recency");
	HoldoutColumn(&src, h.names[2], "calibration t");
	HoldoutColumn(&src, h.names[3], "holdout purchases");
	HoldoutRun(&src, &h);
	for (int g = 0; g < HOLDOUT_GROUPS; g++)
	{
		PutGroup(rsinfo, g, h.n[g], h.actual[g], h.expected[g]);
		n += h.n[g];
		actual += h.actual[g];
		expected += h.expected[g];
	}
	PutGroup(rsinfo, -1, n, actual, expected);
	if (h.skipped > 0)
		ereport(NOTICE,
				(errmsg("profenrich: holdout_check left out " INT64_FORMAT " rows with a NULL input",
						h.skipped)));
	return (Datum) 0;
}
