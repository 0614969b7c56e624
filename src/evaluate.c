/*-------------------------------------------------------------------------
 * evaluate.c
 *	  Judging and explaining a trained model: evaluate() (metrics on any
 *	  relation, by default the model's own test split), lift() (the gains
 *	  table) and explain() (a row's influential factors).
 *
 * Rows are read by a DestReceiver under SPI as the executor produces them:
 * each is scored at once and only its (score, label) pair is kept.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "executor/tuptable.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

#include "curves.h"
#include "logistic.h"
#include "metrics.h"
#include "monitor.h"
#include "model.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(evaluate);
PG_FUNCTION_INFO_V1(lift);
PG_FUNCTION_INFO_V1(explain);
PG_FUNCTION_INFO_V1(factors);

typedef struct Collector
{
	DestReceiver pub;
	const Model *model;
	FeatureReader reader;
	MemoryContext mcxt;
	MemoryContext rowcxt;
	bool		test_only;		/* keep the rows of the model's test split only */
	LegacySplitInput legacy;	/* what a 0.4.0 model's keyless split hashed */
	double	   *x;				/* scratch of the keyless split: nslots + 1 */
	int		   *missing;		/* nnumeric */
	int64		n;
	int64		cap;
	ScoredLabel *pairs;
	double		loglik;
	const char *from;			/* the relation, for the error context */
	int64		rows_read;
	/* class models: the target as a label, each row's probabilities and class */
	bool		classes;
	FmgrInfo	target_out;
	double	   *probs;			/* cap x nclasses */
	int		   *labels;			/* cap */
	int64		unknown;		/* rows whose class the model does not know */
} Collector;

/* Error context of a scoring pass: the row, in the order the scan read them */
static void
CollectorErrorContext(void *arg)
{
	Collector  *c = (Collector *) arg;

	if (c->rows_read > 0)
		errcontext("scoring row " INT64_FORMAT " of %s (in scan order)", c->rows_read, c->from);
}

static void
CollectorStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	Collector  *c = (Collector *) self;
	MemoryContext old = MemoryContextSwitchTo(c->mcxt);

	FeatureReaderInit(&c->reader, c->mcxt);
	FeatureReaderBindDesc(&c->reader, c->model->spec, typeinfo, !c->classes, c->test_only);
	if (c->classes)
	{
		Oid			outfn;
		bool		isvarlena;

		/* the target is the query's first column */
		getTypeOutputInfo(TupleDescAttr(typeinfo, 0)->atttypid, &outfn, &isvarlena);
		fmgr_info_cxt(outfn, &c->target_out, c->mcxt);
	}
	MemoryContextSwitchTo(old);
}

/* The class index of a target value among the model's labels, -1 for another */
static int
ClassOfLabel(const Model *m, const char *label)
{
	for (int k = 0; k < m->nclasses; k++)
		if (strcmp(m->classes[k], label) == 0)
			return k;
	return -1;
}

/*
 * A class model's row: its actual class (by label) and its probabilities;
 * rows with a NULL target or a NULL input the model cannot read are
 * skipped, and a class the model does not know is counted and skipped.
 */
static void
CollectClassRow(Collector *c, TupleTableSlot *slot)
{
	const Model *m = c->model;
	int			k = m->nclasses,
				cls,
				actual;
	bool		isnull;
	Datum		d = slot_getattr(slot, 1, &isnull);

	if (isnull)
		return;
	actual = ClassOfLabel(m, OutputFunctionCall(&c->target_out, d));
	if (actual < 0)
	{
		c->unknown++;
		return;
	}
	if (c->test_only &&
		!FeatureRowInTest(&c->reader, m->spec, actual, c->legacy, c->x, c->missing))
		return;
	MemoryContextSwitchTo(c->mcxt);
	if (c->n == c->cap)
	{
		c->cap = Max(1024, 2 * c->cap);
		c->probs = c->probs ? repalloc_huge(c->probs, sizeof(double) * k * c->cap) :
			MemoryContextAllocHuge(c->mcxt, sizeof(double) * k * c->cap);
		c->labels = c->labels ? repalloc_huge(c->labels, sizeof(int) * c->cap) :
			MemoryContextAllocHuge(c->mcxt, sizeof(int) * c->cap);
	}
	if (!ModelClassifyRow(m, &c->reader, &c->probs[c->n * k], &cls))
		return;
	c->labels[c->n++] = actual;
}

/* Score one row and keep (score, label); rows with a NULL label are skipped */
static bool
CollectorReceive(TupleTableSlot *slot, DestReceiver *self)
{
	Collector  *c = (Collector *) self;
	const Model *m = c->model;
	MemoryContext old = MemoryContextSwitchTo(c->rowcxt);
	double		label,
				eta;

	MemoryContextReset(c->rowcxt);
	c->rows_read++;
	FeatureReaderLoadSlot(&c->reader, slot);
	if (c->classes)
		CollectClassRow(c, slot);
	else if (FeatureReadTarget(&c->reader, m->spec, &label) && m->ops->link(m, &c->reader, &eta) &&
		!(c->test_only &&
		  !FeatureRowInTest(&c->reader, m->spec, label, c->legacy, c->x, c->missing)))
	{
		MemoryContextSwitchTo(c->mcxt);
		if (c->n == c->cap)
		{
			c->cap = Max(1024, 2 * c->cap);
			c->pairs = c->pairs ? repalloc_huge(c->pairs, sizeof(ScoredLabel) * c->cap) :
				MemoryContextAllocHuge(c->mcxt, sizeof(ScoredLabel) * c->cap);
		}
		if (m->spec->binary)
		{
			c->pairs[c->n].score = LogisticSigmoid(eta);
			c->loglik += label * eta - (Max(eta, 0.0) + log1p(exp(-fabs(eta))));
		}
		else
			c->pairs[c->n].score = eta;
		c->pairs[c->n].label = label;
		c->n++;
	}
	MemoryContextSwitchTo(old);
	return true;
}

static void
CollectorNothing(DestReceiver *self)
{
}

/* The relation's name, quoted and qualified, refusing what cannot be read */
static char *
RelationName(Oid relid)
{
	char	   *rel = get_rel_name(relid);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("Pass an existing table or view.")));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), rel);
}

/*
 * Score every row of a relation (the model's columns and target) and
 * collect the pairs.  from is a quoted relation name; with test_only, only
 * the rows of the model's test split, hashed as legacy says for a keyless
 * model trained before 0.5.0.
 */
static void
CollectScores(const Model *model, const char *from, bool test_only, LegacySplitInput legacy,
			  Collector *c)
{
	StringInfoData sql;
	const FeatureSpec *spec = model->spec;
	SPIExecuteOptions opts;
	ErrorContextCallback errcb;
	int			rc;

	memset(c, 0, sizeof(Collector));
	c->from = from;
	c->pub.receiveSlot = CollectorReceive;
	c->pub.rStartup = CollectorStartup;
	c->pub.rShutdown = CollectorNothing;
	c->pub.rDestroy = CollectorNothing;
	c->pub.mydest = DestNone;
	c->model = model;
	c->mcxt = CurrentMemoryContext;
	c->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "profenrich row", ALLOCSET_SMALL_SIZES);
	c->test_only = test_only;
	c->legacy = legacy;
	c->classes = ModelOutput(model) == OUTPUT_CLASS && !spec->binary;
	c->x = palloc(sizeof(double) * (spec->nslots + 1));
	c->missing = palloc(sizeof(int) * Max(spec->nnumeric, 1));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s", quote_identifier(spec->target));
	if (test_only && spec->key)
		appendStringInfo(&sql, ", %s", quote_identifier(spec->key));
	for (int i = 0; i < spec->ncolumns; i++)
		appendStringInfo(&sql, ", %s", quote_identifier(spec->columns[i].name));
	appendStringInfo(&sql, " FROM %s", from);
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
	opts.dest = &c->pub;
	SPI_connect();
	errcb.callback = CollectorErrorContext;
	errcb.arg = c;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	rc = SPI_execute_extended(sql.data, &opts);
	error_context_stack = errcb.previous;
	if (rc < 0)		/* with a DestReceiver, SPI reports a SELECT as a utility */
		elog(ERROR, "scoring query failed (%s): %s", SPI_result_code_string(rc), sql.data);
	SPI_finish();
	MemoryContextSwitchTo(c->mcxt);
	MemoryContextDelete(c->rowcxt);
}

/* Append "key": value to a JSON object under construction */
static void
Field(StringInfo out, const char *key, double v)
{
	appendStringInfo(out, "%s\"%s\": %s", out->len > 1 ? ", " : "", key,
					 isnan(v) || isinf(v) ? "null" : float8out_internal(v));
}

/* The model a function argument names, its deployed version */
static Model *
LoadModel(FunctionCallInfo fcinfo, int *version)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL"),
				 errhint("Pass the name of a trained model.")));
	return RegistryLoad(text_to_cstring(PG_GETARG_TEXT_PP(0)), 0, version, CurrentMemoryContext);
}

/*
 * Refuse a model a function cannot take: lift needs a binary classifier,
 * explain and factors a family with explanations.
 */
static void
RequireExplainable(const Model *m, const char *function, FunctionCallInfo fcinfo, bool binary)
{
	if (binary ? !m->spec->binary : m->ops->explain == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s needs a logistic model, and \"%s\" is %s",
						function, text_to_cstring(PG_GETARG_TEXT_PP(0)), m->ops->name),
				 errhint("Use %s with a model trained with algorithm 'logistic'.", function)));
}

/*
 * What the keyless split of a model trained before 0.5.0 hashed: the
 * linear_stats pass hashed the slots and the target, the in-memory logistic
 * loader the slots with NaN for NULL numbers.  A logistic model trained
 * that way by streaming passes cannot be evaluated on its own split: its
 * counts and test metrics came from the linear_stats split, its fit from
 * the logistic_step passes, which hashed the slots alone.
 */
LegacySplitInput
OwnSplitInput(const Model *m, FunctionCallInfo fcinfo, int version)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *path;

	if (m->spec->key != NULL || m->spec->split_hash != SPLIT_HASH_BYTES ||
		m->ops->code != ALG_LOGISTIC)
		return LEGACY_SLOTS_TARGET;
	path = RegistryMetric(name, version, "path");
	if (path != NULL && strcmp(path, "memory") == 0)
		return LEGACY_SLOTS_NAN;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot reproduce the test split of model \"%s\" version %d", name, version),
			 errdetail("Release 0.4.0 or earlier trained it by streaming passes over a source "
					   "without a key, which split the rows of its fit and of its test metrics "
					   "two different ways."),
			 errhint("Pass the relation to evaluate on, or train the model again.")));
	return LEGACY_SLOTS_TARGET;	/* not reached */
}

/*
 * evaluate(name, source regclass DEFAULT NULL) returns jsonb: the deployed
 * model's metrics on source, or on the model's own test split (the rows of
 * its training source that the key's hash, or without a key the hash of
 * the row's values, put there) when source is NULL.
 */
Datum
evaluate(PG_FUNCTION_ARGS)
{
	int			version;
	Model	   *m = LoadModel(fcinfo, &version);
	bool		own = PG_ARGISNULL(1);
	char	   *from = own ? RegistrySource(text_to_cstring(PG_GETARG_TEXT_PP(0)), version) :
		RelationName(PG_GETARG_OID(1));
	Collector	c;
	StringInfoData out;

	if (m->spec->target == NULL || (m->ops->link == NULL && m->ops->classify == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("evaluate needs a linear or logistic model, and \"%s\" is %s",
						text_to_cstring(PG_GETARG_TEXT_PP(0)), m->ops->name),
				 errhint("Read a lifetime-value model's fit with coefficients() and its metrics in profenrich.models; compare expected_purchases with a holdout period's purchases.")));
	if (own && m->spec->test_fraction == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" was trained without a test split",
						text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 errhint("Pass a relation to evaluate on, or train with a test_fraction above 0.")));
	CollectScores(m, from, own, own ? OwnSplitInput(m, fcinfo, version) : LEGACY_SLOTS_TARGET, &c);
	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	if (c.classes)
	{
		MetricsMulticlassJson(&out, c.probs, c.labels, c.n, m->nclasses, m->classes);
		Field(&out, "unknown_class_rows", (double) c.unknown);
	}
	else if (m->spec->binary)
	{
		ClassMetrics cm;

		MetricsClassify(c.pairs, c.n, c.n > 0 ? -c.loglik / c.n : get_float8_nan(), &cm);
		Field(&out, "auc", cm.auc);
		Field(&out, "logloss", cm.logloss);
		Field(&out, "brier", cm.brier);
		Field(&out, "ece", CurvesEce(c.pairs, c.n, CURVES_ECE_BINS));
		Field(&out, "accuracy", cm.accuracy);
		Field(&out, "precision", cm.precision);
		Field(&out, "recall", cm.recall);
		Field(&out, "f1", cm.f1);
		Field(&out, "base_rate", cm.base_rate);
		Field(&out, "log_likelihood", c.loglik);
	}
	else
	{
		double		sse = 0,
					sae = 0,
					mean = 0,
					ss = 0;

		for (int64 i = 0; i < c.n; i++)
			mean += c.pairs[i].label / c.n;
		for (int64 i = 0; i < c.n; i++)
		{
			double		e = c.pairs[i].label - c.pairs[i].score;

			sse += e * e;
			sae += fabs(e);
			ss += (c.pairs[i].label - mean) * (c.pairs[i].label - mean);
		}
		Field(&out, "rmse", c.n > 0 ? sqrt(sse / c.n) : get_float8_nan());
		Field(&out, "mae", c.n > 0 ? sae / c.n : get_float8_nan());
		Field(&out, "r2", ss > 0 ? 1 - sse / ss : get_float8_nan());
	}
	Field(&out, "n", (double) c.n);
	Field(&out, "version", version);
	appendStringInfoChar(&out, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/*
 * lift(name, source regclass, buckets int DEFAULT 10) returns the gains
 * table: rows ordered by score, highest first, cut into buckets of equal
 * size (the first ones one row larger when it does not divide, as ntile),
 * with each bucket's positives, rate, lift over the overall rate, and the
 * share of all positives found up to it.
 */
Datum
lift(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			version;
	Model	   *m;
	int			buckets;
	Collector	c;
	double		total_pos = 0,
				cum_pos = 0;
	int64		at;

	InitMaterializedSRF(fcinfo, 0);
	m = LoadModel(fcinfo, &version);
	RequireExplainable(m, "lift", fcinfo, true);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lift needs a source relation"),
				 errhint("Pass the table or view of profiles to rank.")));
	buckets = PG_ARGISNULL(2) ? 10 : PG_GETARG_INT32(2);
	if (buckets < 1 || buckets > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("buckets must be between 1 and 1000, not %d", buckets),
				 errhint("Use 10 for deciles or 100 for percentiles.")));
	CollectScores(m, RelationName(PG_GETARG_OID(1)), false, LEGACY_SLOTS_TARGET, &c);
	if (c.n > 0)
		MetricAuc(c.pairs, c.n);	/* sorts by score, ascending */
	for (int64 i = 0; i < c.n; i++)
		total_pos += c.pairs[i].label;
	at = c.n;					/* walk from the highest score down */
	for (int b = 1; b <= buckets && c.n > 0; b++)
	{
		int64		size = c.n / buckets + (b <= c.n % buckets ? 1 : 0);
		double		pos = 0;
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		for (int64 k = 0; k < size; k++)
			pos += c.pairs[--at].label;
		cum_pos += pos;
		values[0] = Int32GetDatum(b);
		values[1] = Int64GetDatum(size);
		values[2] = Int64GetDatum((int64) pos);
		values[3] = Float8GetDatum(size > 0 ? pos / size : 0);
		nulls[3] = size == 0;
		values[4] = Float8GetDatum(size > 0 && total_pos > 0 ? (pos / size) / (total_pos / c.n) : 0);
		nulls[4] = size == 0 || total_pos == 0;
		values[5] = Float8GetDatum(total_pos > 0 ? cum_pos / total_pos : 0);
		nulls[5] = total_pos == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * explain(name, row record, k int DEFAULT 3): the row's link (logit)
 * decomposed: first (baseline), the link at the training means, then the
 * k features with the largest contribution coef x (value - training mean),
 * a one-hot column counted as one feature.  With k at least the number of
 * features, the contributions add up exactly to the row's logit.
 */
Datum
explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			version;
	Model	   *m;
	FeatureReader r;
	Contribution *parts;
	int			k,
				n,
				cls = 0;
	double		baseline;
	const FeatureSpec *spec;

	InitMaterializedSRF(fcinfo, 0);
	m = LoadModel(fcinfo, &version);
	RequireExplainable(m, "explain", fcinfo, false);
	spec = m->spec;
	if (PG_ARGISNULL(1))
		return (Datum) 0;
	k = PG_ARGISNULL(2) ? 3 : PG_GETARG_INT32(2);
	if (k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must not be negative"),
				 errhint("Ask for the k most influential features, e.g. 3.")));
	FeatureReaderInit(&r, CurrentMemoryContext);
	FeatureReaderLoadComposite(&r, spec, PG_GETARG_HEAPTUPLEHEADER(1), false, false);
	parts = palloc(sizeof(Contribution) * Max(spec->ncolumns, 1));
	if (ModelOutput(m) == OUTPUT_CLASS)
	{
		double	   *probs = palloc(sizeof(double) * m->nclasses);

		if (!ModelClassifyRow(m, &r, probs, &cls))
			return (Datum) 0;
	}
	n = ModelContributions(m, &r, cls, parts, &baseline);
	if (n < 0)
		return (Datum) 0;		/* the model cannot score the row (a NULL it does not impute) */
	ModelSortContributions(parts, n);
	for (int i = -1; i < Min(k, n); i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(i < 0 ? "(baseline)" : parts[i].feature);
		nulls[1] = i < 0 || parts[i].value == NULL;
		values[1] = nulls[1] ? (Datum) 0 : CStringGetTextDatum(parts[i].value);
		values[2] = Float8GetDatum((i < 0 ? baseline : parts[i].amount) + 0.0);	/* no -0 */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* The cache of factors(): one model and row type per call site */
typedef struct FactorsCache
{
	char	   *name;
	int			asked;
	Model	   *model;
	FeatureReader reader;
} FactorsCache;

/*
 * factors(name, row, k DEFAULT 3, version DEFAULT NULL) returns text[]:
 * the row's k most influential features under a logistic model.
 */
Datum
factors(PG_FUNCTION_ARGS)
{
	FactorsCache *c = (FactorsCache *) fcinfo->flinfo->fn_extra;
	char	   *name;
	int			k,
				version;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	k = PG_ARGISNULL(2) ? 3 : PG_GETARG_INT32(2);
	version = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	if (k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must not be negative"),
				 errhint("Ask for the k most influential features, e.g. 3.")));
	if (c == NULL || c->asked != version || strcmp(c->name, name) != 0)
	{
		MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;
		int			found;

		c = MemoryContextAllocZero(mcxt, sizeof(FactorsCache));
		c->name = MemoryContextStrdup(mcxt, name);
		c->asked = version;
		c->model = RegistryLoad(name, version, &found, mcxt);
		FeatureReaderInit(&c->reader, mcxt);
		fcinfo->flinfo->fn_extra = c;
	}
	RequireExplainable(c->model, "factors", fcinfo, false);
	FeatureReaderLoadComposite(&c->reader, c->model->spec, PG_GETARG_HEAPTUPLEHEADER(1),
							   false, false);
	PG_RETURN_DATUM(ModelTopFactors(c->model, &c->reader, k));
}
