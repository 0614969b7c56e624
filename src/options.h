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

/* The options of train() that do not depend on the algorithm */
typedef struct TrainOptions
{
	double		test_fraction;	/* share of rows held out */
	char	   *key;			/* column whose hash splits; NULL = default */
	int64		seed;			/* seed of the split hash */
	ImputeMode	impute;
	int			max_categories; /* one-hot vocabulary cap */
	bool		deploy;			/* deploy the new version */
} TrainOptions;

typedef struct EnrichOptions
{
	int			batch_size;
	bool		percentile;
	int			factors;
	bool		probabilities;	/* class models: <model>_probs too */
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

#endif
