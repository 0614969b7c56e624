/*-------------------------------------------------------------------------
 * options.h
 *	  Options of train() and enrich(), parsed and validated from their jsonb.
 *
 * train()'s options object is walked once: each key goes to the
 * algorithm's own option function first, then to the options every
 * algorithm with a feature spec takes; an unknown key is an error.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_OPTIONS_H
#define PROFENRICH_OPTIONS_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

typedef enum ImputeMode
{
	IMPUTE_MEAN = 0,
	IMPUTE_SKIP = 1,
	IMPUTE_ERROR = 2,
	IMPUTE_MISSING = 3			/* NULL numbers stay missing (trees: the learned way) */
} ImputeMode;

/*
 * What scoring does with a category outside the vocabulary of a column
 * that has no "(other)" slot (option "unseen").  Specs before format 4
 * (0.4.0 and earlier) read such a value as all slots 0, which is the
 * aliased level: UNSEEN_ZERO, never chosen by an option.
 */
typedef enum UnseenPolicy
{
	UNSEEN_AVERAGE = 0,			/* the column's slots take their training shares */
	UNSEEN_NULL = 1,			/* the row scores NULL */
	UNSEEN_ERROR = 2,			/* an error */
	UNSEEN_ZERO = 3				/* specs before format 4 */
} UnseenPolicy;

/* What training does with a row a model cannot use (option "on_bad_row") */
typedef enum BadRowPolicy
{
	BAD_ROW_SKIP = 0,			/* skip it, count it, name one in a NOTICE */
	BAD_ROW_ERROR = 1			/* an error, as 0.4.0 did */
} BadRowPolicy;

/* What enrich and the trigger do with a row whose scoring fails (option "on_error") */
typedef enum OnErrorPolicy
{
	ON_ERROR_NULL = 0,			/* write NULL, count the row */
	ON_ERROR_STOP = 1			/* the run stops with the error */
} OnErrorPolicy;

/* The options of train() that do not depend on the algorithm */
typedef struct TrainOptions
{
	double		test_fraction;	/* share of rows held out */
	char	   *key;			/* column whose hash splits; NULL = default */
	int64		seed;			/* seed of the split hash */
	ImputeMode	impute;
	int			max_categories; /* one-hot vocabulary cap */
	bool		deploy;			/* deploy the new version */
	char	   *group_by;		/* a model per value of this column, or NULL */
	int			fallback;		/* GroupFallback: what a row of no group gets */
	int			max_groups;		/* refuse more groups than this */
	UnseenPolicy unseen;		/* categories outside the vocabulary at scoring */
	BadRowPolicy on_bad_row;	/* rows a model cannot use */
} TrainOptions;

typedef struct EnrichOptions
{
	int			batch_size;
	bool		percentile;
	int			factors;
	bool		probabilities;	/* class models: <model>_probs too */
	bool		factors_detail; /* <model>_factors_detail too */
	OnErrorPolicy on_error;		/* a row whose scoring fails */
	bool		on_error_set;	/* on_error given (the trigger's default differs) */
	int			top;			/* item models: the items written per row */
	char	   *key;			/* item models: the column of the user key; NULL = default */
	bool		distance;		/* segment models: <model>_distance too */
	Jsonb	   *columns;		/* {"model": {"score": .., "percentile": .., "factors": ..}} */
} EnrichOptions;

struct AlgorithmOps;

/* Stores one key/value pair of an options object */
typedef void (*OptionApplyFn) (const char *key, JsonbValue *v, void *arg);

extern void OptionError(const char *key, const char *expected) pg_attribute_noreturn();
extern double OptionNumber(const char *key, JsonbValue *v, const char *expected);
extern char *OptionString(const char *key, JsonbValue *v, const char *expected);
extern int	OptionInteger(const char *key, JsonbValue *v, int lo, int hi);
extern double OptionTolerance(const char *key, JsonbValue *v);
extern double OptionProbability(const char *key, JsonbValue *v);
extern bool OptionBool(const char *key, JsonbValue *v);
extern double OptionPenalty(const char *key, JsonbValue *v);
extern bool OptionClassWeight(const char *key, JsonbValue *v, const char *example, Jsonb **object);
extern void OptionClassWeights(Jsonb *object, int nclasses, char *const *names, const char *listed,
							   double *cw);
extern void OptionsWalk(Jsonb *options, const char *example, OptionApplyFn apply, void *arg);
extern void TrainOptionsParse(Jsonb *options, const struct AlgorithmOps *ops, TrainOptions *opts,
							  void **algopts);
extern void TrainOptionsJson(StringInfo out, const TrainOptions *o, const char *key);
extern void EnrichOptionsParse(Jsonb *options, EnrichOptions *o);
extern const char *ImputeModeName(ImputeMode mode);
extern const char *UnseenPolicyName(UnseenPolicy policy);

#endif
