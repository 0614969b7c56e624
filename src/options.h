/*-------------------------------------------------------------------------
 * options.h
 *	  Options of train() and enrich(), parsed and validated from their jsonb.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_OPTIONS_H
#define PROFENRICH_OPTIONS_H

#include "utils/jsonb.h"

typedef enum ImputeMode
{
	IMPUTE_MEAN = 0,
	IMPUTE_SKIP = 1,
	IMPUTE_ERROR = 2
} ImputeMode;

typedef struct TrainOptions
{
	double		l2;				/* ridge penalty on standardized slots */
	double		test_fraction;	/* share of rows held out */
	char	   *key;			/* column whose hash splits; NULL = default */
	int64		seed;			/* seed of the split hash */
	ImputeMode	impute;
	int			max_categories; /* one-hot vocabulary cap */
	bool		deploy;			/* deploy the new version */
	/* logistic */
	char	   *positive;		/* a text target's positive value */
	bool		balanced;		/* class_weight "balanced" */
	Jsonb	   *class_weight;	/* class_weight object, or NULL */
	int			max_iter;
	double		tol;
} TrainOptions;

typedef struct EnrichOptions
{
	int			batch_size;
	bool		percentile;
	int			factors;
	Jsonb	   *columns;		/* {"model": {"score": .., "percentile": .., "factors": ..}} */
} EnrichOptions;

/* Options of the lifetime-value algorithms (bgnbd, paretonbd, gammagamma, clv) */
typedef struct ClvOptions
{
	char	   *frequency;		/* source column names */
	char	   *recency;
	char	   *t;
	char	   *monetary;
	int			purchase_model; /* ClvFamily of a 'clv' model's purchase model */
	int			horizon_months;
	double		discount_rate;	/* per month */
	double		unit_days;
	int			max_iter;
	double		tol;
	bool		warm_start;		/* large data: fit a subsample first */
	bool		deploy;
} ClvOptions;

extern void OptionError(const char *key, const char *expected) pg_attribute_noreturn();
extern void OptionsParse(Jsonb *options, bool logistic, TrainOptions *opts);
extern void ClvOptionsParse(Jsonb *options, const char *algorithm, ClvOptions *o);
extern void EnrichOptionsParse(Jsonb *options, EnrichOptions *o);
extern const char *ImputeModeName(ImputeMode mode);

#endif
