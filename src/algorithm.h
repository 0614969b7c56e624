/*-------------------------------------------------------------------------
 * algorithm.h
 *	  One table of operations per algorithm family.
 *
 * train(), the params format, score() and its relatives, evaluate(),
 * explain(), coefficients(), enrich() and the trigger never test which
 * algorithm a model is: they call its AlgorithmOps.  An algorithm is its
 * own source files (a numerical core free of SPI, a trainer, and a model
 * unit with its params, scoring and explanation) plus one entry in the
 * table of algorithm.c.
 *
 * Every model has an output kind, which says what it gives a row and so
 * what enrich() and the trigger write: a number (a regression's value, a
 * propensity, a lifetime value), a class (label and probabilities), a
 * segment (number and distance) or a ranked list of items.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_ALGORITHM_H
#define PROFENRICH_ALGORITHM_H

#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "features.h"

/* Algorithm codes stored in the params header; never reuse one */
typedef enum ProfAlgorithm
{
	ALG_LINEAR = 1,
	ALG_LOGISTIC = 2,
	ALG_BGNBD = 3,				/* lifetime value (0.4.0) */
	ALG_PARETONBD = 4,
	ALG_GAMMAGAMMA = 5,
	ALG_CLV = 6,
	ALG_MULTINOMIAL = 7,		/* 0.5.0 */
	ALG_KMEANS = 8,				/* segments (0.5.0) */
	ALG_ALS = 9,				/* item models (0.5.0) */
	ALG_AFFINITY = 10,
	ALG_GBDT = 11				/* 0.5.0: gradient-boosted trees */
} ProfAlgorithm;

/* What a model gives a row */
typedef enum OutputKind
{
	OUTPUT_NUMBER = 1,			/* score: a value, a probability, a lifetime value */
	OUTPUT_CLASS = 2,			/* predict_class / predict_proba */
	OUTPUT_SEGMENT = 3,			/* segment number and distance */
	OUTPUT_ITEMS = 4			/* ranked items of a user */
} OutputKind;

/* The targets an algorithm accepts (AlgorithmOps.targets) */
#define TARGET_NONE		0x01	/* no target: the argument must be NULL */
#define TARGET_NUMBER	0x02	/* a numeric or boolean value */
#define TARGET_BINARY	0x04	/* a two-class label: boolean, 0/1, text with "positive" */
#define TARGET_CLASSES	0x08	/* a class label with 2 to 100 values */

/* AlgorithmOps.flags */
#define ALG_FEATURES	0x01	/* trains on a feature spec resolved by train() */
#define ALG_LIFETIME	0x02	/* a lifetime-value model (ClvModel body) */
#define ALG_VALUE		0x04	/* its score is a value, as predict_ltv wants, whatever its target */
#define ALG_MISSING		0x08	/* its models take a NULL feature as missing: impute defaults to "missing" */
#define ALG_CLASS_INDEX	0x10	/* its spec reads a class target as the class's index (FeatureReadClass) */
#define ALG_ALL_ROWS	0x20	/* fits every row: test_fraction defaults to 0 */
#define ALG_GROUPS		0x40	/* its trainer trains a model per group (the option group_by) */

struct Model;
struct TrainJob;
struct UserItems;				/* items.h */
struct RankedItem;
struct ItemScore;				/* als.h */

/* One feature's contribution to a row's output, as explain() lists them */
typedef struct Contribution
{
	const char *feature;
	char	   *value;			/* as text; NULL for a NULL value */
	double		amount;
} Contribution;

typedef struct AlgorithmOps
{
	const char *name;			/* as train() takes it */
	ProfAlgorithm code;
	int			flags;
	int			targets;		/* TARGET_* it accepts */
	const char *options;		/* its own option names, for hints */
	const char *example;		/* an options object, for hints */

	/* training: fresh options with defaults, one option, the effective options as JSON */
	void	   *(*options_new) (const struct AlgorithmOps *ops);
	bool		(*option) (void *opts, const char *key, JsonbValue *v);
	void		(*options_json) (StringInfo out, const void *opts);
	/* feature-spec families: check the target column (of this kind) and note it in job->spec */
	void		(*target) (struct TrainJob *job, FeatureKind kind);
	void		(*train) (struct TrainJob *job);

	/* params: the family's body after the feature spec */
	void		(*write) (StringInfo buf, const struct Model *m);
	void		(*read) (StringInfo buf, struct Model *m, int format);

	/* outputs */
	OutputKind	(*output) (const struct Model *m);
	/* number models: the row's score; false when an input it needs is NULL */
	bool		(*score) (const struct Model *m, FeatureReader *r, double *score);
	/* models with a link (NULL otherwise): the row's linear predictor or margin, logit for a probability */
	bool		(*link) (const struct Model *m, FeatureReader *r, double *eta);
	/* class models: the probability of each class, in model order; false as score */
	bool		(*classify) (const struct Model *m, FeatureReader *r, double *probs);
	/* segment models: the row's segment (1..k) and its distance to the center; false as score */
	bool		(*segment) (const struct Model *m, FeatureReader *r, int *segment, double *distance);
	/*
	 * explanation (NULL when the family has none): the contribution of each
	 * spec column to the row's link, and the baseline they add up from;
	 * class models explain the class given by cls (an index of classes)
	 */
	bool		(*explain) (const struct Model *m, FeatureReader *r, int cls,
							Contribution *parts, double *baseline);
	/* coefficients(): one row per parameter into the materialized result */
	void		(*coefficients) (const struct Model *m, ReturnSetInfo *rsinfo);

	/*
	 * item models (OUTPUT_ITEMS; NULL otherwise): a user's k best items (u
	 * NULL: a user the model does not know), one item's score for a user
	 * (false: none), the k items most like one (of the model version, whose
	 * user rows it may read), and a user's row from its
	 * interactions (fold-in: u's keys and summed weights in, its factor or
	 * shares out)
	 */
	int			(*top_items) (const struct Model *m, const struct UserItems *u, int k,
							  struct RankedItem *out);
	bool		(*item_score) (const struct Model *m, const struct UserItems *u, const char *item,
							   double *score);
	int			(*similar_items) (const struct Model *m, const char *model, int version,
								  const char *item, int k, struct RankedItem *out);
	void		(*fold_in) (const struct Model *m, struct UserItems *u);
	/*
	 * item models that rank many users at once faster than one by one
	 * (NULL: the others): the k best items of n users (at most
	 * ALS_RANK_BATCH, each with a row of the model), user b's as item
	 * indices into out + b * k and their number into counts[b]
	 */
	void		(*top_items_many) (const struct Model *m, const struct UserItems *const *u, int n,
								   int k, struct ItemScore *out, int *counts);
	/* after train() stored a version: what the family keeps outside its params */
	void		(*stored) (struct TrainJob *job, int version);
} AlgorithmOps;

extern const AlgorithmOps *AlgorithmByName(const char *name);
extern const AlgorithmOps *AlgorithmByCode(int code);
extern const char *AlgorithmNames(void);

/* The families' entries (model_*.c) */
extern const AlgorithmOps LinearOps;
extern const AlgorithmOps LogisticOps;
extern const AlgorithmOps BgnbdOps;
extern const AlgorithmOps ParetonbdOps;
extern const AlgorithmOps GammagammaOps;
extern const AlgorithmOps ClvOps;
extern const AlgorithmOps AlsOps;
extern const AlgorithmOps AffinityOps;
extern const AlgorithmOps GbdtOps;
extern const AlgorithmOps MultinomialOps;
extern const AlgorithmOps KmeansOps;

#endif
