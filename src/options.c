/*-------------------------------------------------------------------------
 * options.c
 *	  Parse and validate the options objects of train() and enrich().
 *
 * Every key is checked: an unknown key or a value of the wrong kind is an
 * error naming the key, so a typo never silently trains with a default.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "clv.h"
#include "options.h"

#define VALID_OPTIONS "l2, test_fraction, key, seed, impute, max_categories, deploy"
#define VALID_LOGISTIC VALID_OPTIONS ", positive, class_weight, max_iter, tol"
#define VALID_CLV_OPTIONS "columns, max_iter, tol, warm_start, deploy"
#define VALID_CLV_ALL VALID_CLV_OPTIONS ", purchase_model, horizon_months, discount_rate, unit_days"
#define VALID_ENRICH_OPTIONS "batch_size, percentile, factors, columns"
#define MAX_FACTORS 50

/* Stores one key/value pair of an options object */
typedef void (*OptionApplyFn) (const char *key, JsonbValue *v, void *arg);

/* Report a bad value for one option */
void
OptionError(const char *key, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for option \"%s\"", key),
			 errdetail("The option \"%s\" takes %s.", key, expected),
			 errhint("Correct the value of \"%s\" in the options object.", key)));
}

/* A jsonb number as a finite double, or an error naming the key */
static double
OptionNumber(const char *key, JsonbValue *v, const char *expected)
{
	double		d;

	if (v->type != jbvNumeric)
		OptionError(key, expected);
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
										   NumericGetDatum(v->val.numeric)));
	if (isnan(d) || isinf(d))
		OptionError(key, expected);
	return d;
}

/* A jsonb string as a palloc'd C string */
static char *
OptionString(const char *key, JsonbValue *v, const char *expected)
{
	if (v->type != jbvString)
		OptionError(key, expected);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A jsonb number that is a whole number from lo to hi, or an error naming the key */
static int
OptionInteger(const char *key, JsonbValue *v, int lo, int hi)
{
	char	   *expected = psprintf("an integer from %d to %d", lo, hi);
	double		d = OptionNumber(key, v, expected);

	if (d != floor(d) || d < lo || d > hi)
		OptionError(key, expected);
	return (int) d;
}

/* A convergence tolerance: a number above 0 and below 1 */
static double
OptionTolerance(const char *key, JsonbValue *v)
{
	double		d = OptionNumber(key, v, "a number above 0 and below 1");

	if (!(d > 0 && d < 1))
		OptionError(key, "a number above 0 and below 1");
	return d;
}

/* The options only logistic models take; false for any other key */
static bool
LogisticOption(const char *key, JsonbValue *v, TrainOptions *opts)
{
	if (strcmp(key, "positive") == 0)
		opts->positive = OptionString(key, v, "the text value that marks the positive class");
	else if (strcmp(key, "class_weight") == 0)
	{
		if (v->type == jbvString &&
			strcmp(pnstrdup(v->val.string.val, v->val.string.len), "balanced") == 0)
			opts->balanced = true;
		else if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
			opts->class_weight = JsonbValueToJsonb(v);
		else
			OptionError(key, "\"balanced\" or an object of positive weights by class, such as {\"true\": 3, \"false\": 1}");
	}
	else if (strcmp(key, "max_iter") == 0)
		opts->max_iter = OptionInteger(key, v, 1, 10000);
	else if (strcmp(key, "tol") == 0)
		opts->tol = OptionTolerance(key, v);
	else
		return false;
	return true;
}

/* What OptionApply needs besides the pair */
typedef struct TrainApplyArg
{
	bool		logistic;
	TrainOptions *opts;
} TrainApplyArg;

/* Store one key/value pair of train()'s options in opts */
static void
OptionApply(const char *key, JsonbValue *v, void *arg)
{
	bool		logistic = ((TrainApplyArg *) arg)->logistic;
	TrainOptions *opts = ((TrainApplyArg *) arg)->opts;

	if (logistic && LogisticOption(key, v, opts))
		return;
	if (strcmp(key, "l2") == 0)
	{
		opts->l2 = OptionNumber(key, v, "a number not below 0");
		if (opts->l2 < 0)
			OptionError(key, "a number not below 0");
	}
	else if (strcmp(key, "test_fraction") == 0)
	{
		opts->test_fraction = OptionNumber(key, v, "a number from 0 up to (not including) 1");
		if (opts->test_fraction < 0 || opts->test_fraction >= 1)
			OptionError(key, "a number from 0 up to (not including) 1");
	}
	else if (strcmp(key, "key") == 0)
		opts->key = OptionString(key, v, "a column name");
	else if (strcmp(key, "seed") == 0)
	{
		double		d = OptionNumber(key, v, "an integer");

		if (d != floor(d) || fabs(d) > 9.0e15)
			OptionError(key, "an integer");
		opts->seed = (int64) d;
	}
	else if (strcmp(key, "impute") == 0)
	{
		char	   *s = OptionString(key, v, "\"mean\", \"skip\" or \"error\"");

		if (strcmp(s, "mean") == 0)
			opts->impute = IMPUTE_MEAN;
		else if (strcmp(s, "skip") == 0)
			opts->impute = IMPUTE_SKIP;
		else if (strcmp(s, "error") == 0)
			opts->impute = IMPUTE_ERROR;
		else
			OptionError(key, "\"mean\", \"skip\" or \"error\"");
	}
	else if (strcmp(key, "max_categories") == 0)
		opts->max_categories = OptionInteger(key, v, 1, 10000);
	else if (strcmp(key, "deploy") == 0)
	{
		if (v->type != jbvBool)
			OptionError(key, "true or false");
		opts->deploy = v->val.boolean;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown option \"%s\" for algorithm \"%s\"", key,
						logistic ? "logistic" : "linear"),
				 errhint("Valid options are: %s.", logistic ? VALID_LOGISTIC : VALID_OPTIONS)));
}

/*
 * Call apply on every key of an options object (NULL: none); a value that
 * is not an object, or a null value, is an error.  example is an options
 * object for the hint.
 */
static void
OptionsWalk(Jsonb *options, const char *example, OptionApplyFn apply, void *arg)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("Pass options such as '%s'.", example)));
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && key != NULL)
		{
			if (v.type == jbvNull)
				OptionError(key, "a value other than null");
			apply(key, &v, arg);
			key = NULL;
		}
	}
}

/*
 * Fill opts with defaults, then with the keys of train()'s options object.
 */
void
OptionsParse(Jsonb *options, bool logistic, TrainOptions *opts)
{
	TrainApplyArg arg = {logistic, opts};

	opts->l2 = 0.0;
	opts->test_fraction = 0.2;
	opts->key = NULL;
	opts->seed = 0;
	opts->impute = IMPUTE_MEAN;
	opts->max_categories = 50;
	opts->deploy = true;
	opts->positive = NULL;
	opts->balanced = false;
	opts->class_weight = NULL;
	opts->max_iter = 50;
	opts->tol = 1e-8;
	OptionsWalk(options, "{\"l2\": 0.1}", OptionApply, &arg);
}

/* What ClvOptionApply needs besides the pair */
typedef struct ClvApplyArg
{
	const char *algorithm;
	bool		clv;			/* the 'clv' algorithm: valuation options too */
	ClvOptions *o;
} ClvApplyArg;

#define CLV_COLUMNS_EXPECTED "an object of column names, such as {\"frequency\": \"n_repeat\", \"t\": \"age_weeks\"}"

/* Store one rename of the "columns" object of a lifetime-value model */
static void
ClvColumnApply(const char *key, JsonbValue *v, void *arg)
{
	ClvOptions *o = (ClvOptions *) arg;
	char	   *name = OptionString("columns", v, CLV_COLUMNS_EXPECTED);

	if (strcmp(key, "frequency") == 0)
		o->frequency = name;
	else if (strcmp(key, "recency") == 0)
		o->recency = name;
	else if (strcmp(key, "t") == 0)
		o->t = name;
	else if (strcmp(key, "monetary") == 0)
		o->monetary = name;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown input \"%s\" in option \"columns\"", key),
				 errhint("The inputs are frequency, recency, t and monetary.")));
}

/* The "columns" object of a lifetime-value model: renames of its four inputs */
static void
ClvColumns(JsonbValue *v, ClvOptions *o)
{
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		OptionError("columns", CLV_COLUMNS_EXPECTED);
	OptionsWalk(JsonbValueToJsonb(v), "{\"columns\": {\"t\": \"age_weeks\"}}", ClvColumnApply, o);
}

/* Store one key/value pair of a lifetime-value model's options in o */
static void
ClvOptionApply(const char *key, JsonbValue *v, void *arg)
{
	ClvApplyArg *a = (ClvApplyArg *) arg;
	ClvOptions *o = a->o;

	if (strcmp(key, "columns") == 0)
		ClvColumns(v, o);
	else if (strcmp(key, "max_iter") == 0)
		o->max_iter = OptionInteger(key, v, 1, 10000);
	else if (strcmp(key, "tol") == 0)
		o->tol = OptionTolerance(key, v);
	else if (strcmp(key, "deploy") == 0 || strcmp(key, "warm_start") == 0)
	{
		if (v->type != jbvBool)
			OptionError(key, "true or false");
		if (key[0] == 'd')
			o->deploy = v->val.boolean;
		else
			o->warm_start = v->val.boolean;
	}
	else if (a->clv && strcmp(key, "purchase_model") == 0)
	{
		char	   *s = OptionString(key, v, "\"bgnbd\" or \"paretonbd\"");

		if (strcmp(s, "bgnbd") == 0)
			o->purchase_model = CLV_BGNBD;
		else if (strcmp(s, "paretonbd") == 0)
			o->purchase_model = CLV_PARETONBD;
		else
			OptionError(key, "\"bgnbd\" or \"paretonbd\"");
	}
	else if (a->clv && strcmp(key, "horizon_months") == 0)
		o->horizon_months = OptionInteger(key, v, 1, CLV_MAX_HORIZON_MONTHS);
	else if (a->clv && strcmp(key, "discount_rate") == 0)
	{
		o->discount_rate = OptionNumber(key, v, "a monthly rate from 0 up to (not including) 1");
		if (o->discount_rate < 0 || o->discount_rate >= 1)
			OptionError(key, "a monthly rate from 0 up to (not including) 1");
	}
	else if (a->clv && strcmp(key, "unit_days") == 0)
	{
		o->unit_days = OptionNumber(key, v, "a number of days above 0, such as 7 for weeks");
		if (!(o->unit_days > 0 && o->unit_days <= 3660))
			OptionError(key, "a number of days above 0, such as 7 for weeks");
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown option \"%s\" for algorithm \"%s\"", key, a->algorithm),
				 errhint("Valid options are: %s.", a->clv ? VALID_CLV_ALL : VALID_CLV_OPTIONS)));
}

/*
 * Fill o with defaults, then with the keys of the options object of a
 * lifetime-value algorithm.
 */
void
ClvOptionsParse(Jsonb *options, const char *algorithm, ClvOptions *o)
{
	ClvApplyArg arg = {algorithm, strcmp(algorithm, "clv") == 0, o};

	o->frequency = "frequency";
	o->recency = "recency";
	o->t = "t";
	o->monetary = "monetary";
	o->purchase_model = CLV_BGNBD;
	o->horizon_months = 12;
	o->discount_rate = 0.01;
	o->unit_days = 7;
	o->max_iter = 200;
	o->tol = 1e-9;
	o->warm_start = true;
	o->deploy = true;
	OptionsWalk(options, "{\"columns\": {\"t\": \"age_weeks\"}}", ClvOptionApply, &arg);
}

/* Store one key/value pair of enrich()'s options in o */
static void
EnrichOptionApply(const char *key, JsonbValue *v, void *arg)
{
	EnrichOptions *o = (EnrichOptions *) arg;

	if (strcmp(key, "batch_size") == 0)
	{
		double		d = OptionNumber(key, v, "an integer of 1 or more");

		if (d != floor(d) || d < 1 || d > 100000000)
			OptionError(key, "an integer of 1 or more");
		o->batch_size = (int) d;
	}
	else if (strcmp(key, "percentile") == 0)
	{
		if (v->type != jbvBool)
			OptionError(key, "true or false");
		o->percentile = v->val.boolean;
	}
	else if (strcmp(key, "factors") == 0)
		o->factors = OptionInteger(key, v, 0, MAX_FACTORS);
	else if (strcmp(key, "columns") == 0)
	{
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			OptionError(key, "an object of column names by model, such as {\"ltv\": {\"score\": \"lifetime_value\"}}");
		o->columns = JsonbValueToJsonb(v);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown option \"%s\"", key),
				 errhint("Valid options are: " VALID_ENRICH_OPTIONS ".")));
}

/*
 * Fill o with defaults, then with the keys of the options object of
 * enrich() (or of enrich_trigger()).
 */
void
EnrichOptionsParse(Jsonb *options, EnrichOptions *o)
{
	o->batch_size = 10000;
	o->percentile = false;
	o->factors = 0;
	o->columns = NULL;
	OptionsWalk(options, "{\"percentile\": true}", EnrichOptionApply, o);
}

/* The option spelling of an impute mode */
const char *
ImputeModeName(ImputeMode mode)
{
	switch (mode)
	{
		case IMPUTE_MEAN:
			return "mean";
		case IMPUTE_SKIP:
			return "skip";
		case IMPUTE_ERROR:
			return "error";
	}
	return "mean";
}
