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

#include "utils/float.h"
#include "utils/json.h"

#include "algorithm.h"
#include "groups.h"
#include "options.h"

#define VALID_FEATURE_OPTIONS "test_fraction, key, seed, impute, max_categories, unseen"
#define VALID_GROUP_OPTIONS ", group_by, fallback, max_groups"
#define VALID_ENRICH_OPTIONS "batch_size, percentile, factors, factors_detail, probabilities, distance, top, key, on_error, columns"
#define MAX_FACTORS 50

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
double
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
char *
OptionString(const char *key, JsonbValue *v, const char *expected)
{
	if (v->type != jbvString)
		OptionError(key, expected);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A jsonb number that is a whole number from lo to hi, or an error naming the key */
int
OptionInteger(const char *key, JsonbValue *v, int lo, int hi)
{
	char	   *expected = psprintf("an integer from %d to %d", lo, hi);
	double		d = OptionNumber(key, v, expected);

	if (d != floor(d) || d < lo || d > hi)
		OptionError(key, expected);
	return (int) d;
}

/* A convergence tolerance: a number above 0 and below 1 */
double
OptionTolerance(const char *key, JsonbValue *v)
{
	double		d = OptionNumber(key, v, "a number above 0 and below 1");

	if (!(d > 0 && d < 1))
		OptionError(key, "a number above 0 and below 1");
	return d;
}

/* A classifier's decision threshold: a probability above 0 and below 1 */
double
OptionProbability(const char *key, JsonbValue *v)
{
	double		p = OptionNumber(key, v, "a probability above 0 and below 1");

	if (!(p > 0 && p < 1))
		OptionError(key, "a probability above 0 and below 1");
	return p;
}

/* The ridge penalty l2, a number not below 0, of the models that take one */
double
OptionPenalty(const char *key, JsonbValue *v)
{
	double		l2 = OptionNumber(key, v, "a number not below 0");

	if (l2 < 0)
		OptionError(key, "a number not below 0");
	return l2;
}

/* A jsonb boolean, or an error naming the key */
bool
OptionBool(const char *key, JsonbValue *v)
{
	if (v->type != jbvBool)
		OptionError(key, "true or false");
	return v->val.boolean;
}

/*
 * The option class_weight: true for "balanced", else *object receives the
 * object of weights by class (checked against the classes at training);
 * example is such an object, for the error.
 */
bool
OptionClassWeight(const char *key, JsonbValue *v, const char *example, Jsonb **object)
{
	*object = NULL;
	if (v->type == jbvString &&
		strcmp(pnstrdup(v->val.string.val, v->val.string.len), "balanced") == 0)
		return true;
	if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
	{
		*object = JsonbValueToJsonb(v);
		return false;
	}
	OptionError(key, psprintf("\"balanced\" or an object of positive weights by class, such as %s",
							  example));
	return false;
}

/*
 * The weights of a class_weight object: cw[k] for the class named
 * names[k] (NULL for a class whose name is unknown), left as they are for
 * classes the object does not name.  A key that names no class is an error
 * whose hint lists the classes (listed), and so is a weight that is not a
 * positive number.
 */
void
OptionClassWeights(Jsonb *object, int nclasses, char *const *names, const char *listed,
				   double *cw)
{
	JsonbIterator *it = JsonbIteratorInit(&object->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && key != NULL)
		{
			double		w = -1;
			int			label = -1;

			for (int k = 0; k < nclasses && label < 0; k++)
				if (names[k] != NULL && strcmp(key, names[k]) == 0)
					label = k;
			if (label < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("class_weight names class \"%s\", which the target does not have", key),
						 errhint("Weight the classes %s.", listed)));
			if (v.type == jbvNumeric)
				w = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
													   NumericGetDatum(v.val.numeric)));
			if (!(w > 0) || isinf(w))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("class_weight of class \"%s\" must be a positive number", key),
						 errhint("Give each class a weight above 0, e.g. {\"%s\": 3}.", key)));
			cw[label] = w;
			key = NULL;
		}
	}
}

/* What TrainOptionApply needs besides the pair */
typedef struct TrainApplyArg
{
	const AlgorithmOps *ops;
	TrainOptions *opts;
	void	   *algopts;
} TrainApplyArg;

/* Store one option every algorithm with a feature spec takes; false for any other key */
static bool
FeatureOption(const char *key, JsonbValue *v, TrainOptions *opts, const AlgorithmOps *ops)
{
	if (strcmp(key, "test_fraction") == 0)
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
		const char *modes = (ops->flags & ALG_MISSING) ? "\"missing\", \"mean\", \"skip\" or \"error\"" :
			"\"mean\", \"skip\" or \"error\"";
		char	   *s = OptionString(key, v, modes);

		if (strcmp(s, "mean") == 0)
			opts->impute = IMPUTE_MEAN;
		else if (strcmp(s, "skip") == 0)
			opts->impute = IMPUTE_SKIP;
		else if (strcmp(s, "error") == 0)
			opts->impute = IMPUTE_ERROR;
		else if (strcmp(s, "missing") == 0 && (ops->flags & ALG_MISSING))
			opts->impute = IMPUTE_MISSING;
		else
			OptionError(key, modes);
	}
	else if (strcmp(key, "max_categories") == 0)
		opts->max_categories = OptionInteger(key, v, 1, 10000);
	else if (strcmp(key, "group_by") == 0)
		opts->group_by = OptionString(key, v, "a column name");
	else if (strcmp(key, "fallback") == 0)
	{
		char	   *s = OptionString(key, v, "\"global\" or \"null\"");

		if (strcmp(s, "global") == 0)
			opts->fallback = FALLBACK_GLOBAL;
		else if (strcmp(s, "null") == 0)
			opts->fallback = FALLBACK_NULL;
		else
			OptionError(key, "\"global\" or \"null\"");
	}
	else if (strcmp(key, "max_groups") == 0)
		opts->max_groups = OptionInteger(key, v, 1, GROUPS_LIMIT);
	else if (strcmp(key, "unseen") == 0)
	{
		char	   *s = OptionString(key, v, "\"average\", \"null\" or \"error\"");

		if (strcmp(s, "average") == 0)
			opts->unseen = UNSEEN_AVERAGE;
		else if (strcmp(s, "null") == 0)
			opts->unseen = UNSEEN_NULL;
		else if (strcmp(s, "error") == 0)
			opts->unseen = UNSEEN_ERROR;
		else
			OptionError(key, "\"average\", \"null\" or \"error\"");
	}
	else
		return false;
	return true;
}

/*
 * on_bad_row, which the algorithms that read rows of values take (the
 * feature-spec ones, and the lifetime-value ones: their rows are
 * summaries, not features); false for any other key
 */
static bool
BadRowOption(const char *key, JsonbValue *v, TrainOptions *opts)
{
	char	   *s;

	if (strcmp(key, "on_bad_row") != 0)
		return false;
	s = OptionString(key, v, "\"skip\" or \"error\"");
	if (strcmp(s, "skip") == 0)
		opts->on_bad_row = BAD_ROW_SKIP;
	else if (strcmp(s, "error") == 0)
		opts->on_bad_row = BAD_ROW_ERROR;
	else
		OptionError(key, "\"skip\" or \"error\"");
	return true;
}

/*
 * Store one key/value pair of train()'s options: the algorithm's own
 * options first, then those of feature-spec algorithms, then deploy.
 */
static void
TrainOptionApply(const char *key, JsonbValue *v, void *arg)
{
	TrainApplyArg *a = (TrainApplyArg *) arg;
	bool		features = (a->ops->flags & ALG_FEATURES) != 0;
	bool		bad_rows = (a->ops->flags & (ALG_FEATURES | ALG_LIFETIME)) != 0;

	if (a->ops->option(a->algopts, key, v))
		return;
	if (features && FeatureOption(key, v, a->opts, a->ops))
		return;
	if (bad_rows && BadRowOption(key, v, a->opts))
		return;
	if (strcmp(key, "deploy") == 0)
		a->opts->deploy = OptionBool(key, v);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown option \"%s\" for algorithm \"%s\"", key, a->ops->name),
				 errhint("Valid options are: %s%s%s%s%s, deploy.", a->ops->options,
						 features ? ", " : "", features ? VALID_FEATURE_OPTIONS : "",
						 (a->ops->flags & ALG_GROUPS) ? VALID_GROUP_OPTIONS : "",
						 bad_rows ? ", on_bad_row" : "")));
}

/*
 * Call apply on every key of an options object (NULL: none); a value that
 * is not an object, or a null value, is an error.  example is an options
 * object for the hint.
 */
void
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
 * Fill opts with the defaults, *algopts with the algorithm's fresh
 * options, then both with the keys of train()'s options object.
 */
void
TrainOptionsParse(Jsonb *options, const AlgorithmOps *ops, TrainOptions *opts, void **algopts)
{
	TrainApplyArg arg;

	opts->test_fraction = (ops->flags & ALG_ALL_ROWS) ? 0.0 : 0.2;
	opts->key = NULL;
	opts->seed = 0;
	opts->impute = (ops->flags & ALG_MISSING) ? IMPUTE_MISSING : IMPUTE_MEAN;
	opts->max_categories = 50;
	opts->deploy = true;
	opts->group_by = NULL;
	opts->fallback = FALLBACK_GLOBAL;
	opts->max_groups = GROUPS_DEFAULT_MAX;
	opts->unseen = UNSEEN_AVERAGE;
	opts->on_bad_row = BAD_ROW_SKIP;
	*algopts = ops->options_new(ops);
	arg.ops = ops;
	arg.opts = opts;
	arg.algopts = *algopts;
	OptionsWalk(options, ops->example, TrainOptionApply, &arg);
}

/*
 * The options every feature-spec algorithm takes, as members of the JSON
 * object of effective options stored with the model; key is the split
 * key in use (NULL: the row's values).
 */
void
TrainOptionsJson(StringInfo out, const TrainOptions *o, const char *key)
{
	appendStringInfo(out, "%s\"test_fraction\": %s, \"seed\": " INT64_FORMAT
					 ", \"impute\": \"%s\", \"max_categories\": %d, \"unseen\": \"%s\", "
					 "\"on_bad_row\": \"%s\", \"key\": ",
					 out->data[out->len - 1] == '{' ? "" : ", ",
					 float8out_internal(o->test_fraction), o->seed,
					 ImputeModeName(o->impute), o->max_categories, UnseenPolicyName(o->unseen),
					 o->on_bad_row == BAD_ROW_SKIP ? "skip" : "error");
	if (key)
		escape_json(out, key);
	else
		appendStringInfoString(out, "null");
	if (o->group_by)
	{
		appendStringInfoString(out, ", \"group_by\": ");
		escape_json(out, o->group_by);
		appendStringInfo(out, ", \"fallback\": \"%s\", \"max_groups\": %d",
						 o->fallback == FALLBACK_NULL ? "null" : "global", o->max_groups);
	}
}

/* Store one key/value pair of enrich()'s options in o */
static void
EnrichOptionApply(const char *key, JsonbValue *v, void *arg)
{
	EnrichOptions *o = (EnrichOptions *) arg;

	if (strcmp(key, "batch_size") == 0)
		o->batch_size = OptionInteger(key, v, 1, 100000000);
	else if (strcmp(key, "percentile") == 0)
		o->percentile = OptionBool(key, v);
	else if (strcmp(key, "probabilities") == 0)
		o->probabilities = OptionBool(key, v);
	else if (strcmp(key, "factors_detail") == 0)
		o->factors_detail = OptionBool(key, v);
	else if (strcmp(key, "on_error") == 0)
	{
		char	   *s = OptionString(key, v, "\"null\" or \"stop\"");

		if (strcmp(s, "null") == 0)
			o->on_error = ON_ERROR_NULL;
		else if (strcmp(s, "stop") == 0)
			o->on_error = ON_ERROR_STOP;
		else
			OptionError(key, "\"null\" or \"stop\"");
		o->on_error_set = true;
	}
	else if (strcmp(key, "distance") == 0)
		o->distance = OptionBool(key, v);
	else if (strcmp(key, "factors") == 0)
		o->factors = OptionInteger(key, v, 0, MAX_FACTORS);
	else if (strcmp(key, "top") == 0)
		o->top = OptionInteger(key, v, 1, 1000);
	else if (strcmp(key, "key") == 0)
	{
		o->key = OptionString(key, v, "a column name");
		if (o->key[0] == '\0')
			OptionError(key, "a column name");
	}
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
	o->probabilities = false;
	o->factors_detail = false;
	o->on_error = ON_ERROR_NULL;
	o->on_error_set = false;
	o->distance = false;
	o->top = 5;
	o->key = NULL;
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
		case IMPUTE_MISSING:
			return "missing";
	}
	return "mean";
}

/* The option spelling of an unseen-category policy */
const char *
UnseenPolicyName(UnseenPolicy policy)
{
	switch (policy)
	{
		case UNSEEN_AVERAGE:
			return "average";
		case UNSEEN_NULL:
			return "null";
		case UNSEEN_ERROR:
			return "error";
		case UNSEEN_ZERO:
			return "zero";
	}
	return "average";
}
