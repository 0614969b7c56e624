/*-------------------------------------------------------------------------
 * model.h
 *	  A trained model in memory, and its versioned binary form (params).
 *
 * What every model has (its algorithm, feature spec, class labels, score
 * quantiles) is here; the family's own parameters are its body, opaque to
 * everything but the family's model unit (model_<family>.c).
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MODEL_H
#define PROFENRICH_MODEL_H

#include "algorithm.h"
#include "features.h"
#include "profenrich.h"

#define MODEL_MAGIC 0x50454D44	/* "PEMD" */
#define MODEL_FORMAT 5	/* 2: class labels, logistic (0.2.0); 3: score quantiles (0.3.0);
								 * 4: lifetime-value models (0.4.0); 5: tagged sections, the
								 * spec in format 3 with its split hash (0.5.0) */
#define MODEL_QUANTILES 99		/* percentile cut points of the training scores */
#define MODEL_MAX_CLASSES 100

/*
 * Tagged sections after the body (format 5 on): each is a tag, a length
 * and its bytes, so a release adds what every model may carry without
 * changing the families' bodies.  A reader refuses a tag it does not know.
 */
#define SECTION_CLASSES 1		/* class labels (and a binary model's threshold) */
#define SECTION_BASELINE 2		/* the training population's distributions (baseline.h) */

struct Baseline;

typedef struct Model
{
	const AlgorithmOps *ops;
	FeatureSpec *spec;
	void	   *body;			/* the family's parameters */
	int			nclasses;		/* class models: labels in model order; 0 if unknown */
	char	  **classes;
	double		threshold;		/* binary models: the positive class from this probability */
	int			nquantiles;		/* 0 (models trained before 0.3.0) or MODEL_QUANTILES */
	double	   *quantiles;		/* percentiles 1..99 of the training population's scores */
	struct Baseline *baseline;	/* NULL: none (models without a feature spec, or before 0.5.0) */
} Model;

extern bytea *ModelSerialize(const Model *model);
extern Model *ModelDeserialize(bytea *params);
extern void ModelWriteDoubles(StringInfo buf, const double *v, int n);
extern double *ModelReadDoubles(StringInfo buf, int n);
extern void ModelCorrupt(const char *what) pg_attribute_noreturn();

extern OutputKind ModelOutput(const Model *model);
extern bool ModelScoreRow(const Model *model, FeatureReader *r, double *score);
extern bool ModelClassifyRow(const Model *model, FeatureReader *r, double *probs, int *cls);
extern bool ModelSegmentRow(const Model *model, FeatureReader *r, int *segment, double *distance);
extern void ModelSetQuantiles(Model *model, double *scores, int64 n, bool sorted);
extern void ModelSetWeightedQuantiles(Model *model, const double *scores, const double *w,
									  int64 nweighted, int64 n);
extern int	ModelPercentile(const Model *model, double score);
extern int	ModelContributions(const Model *m, FeatureReader *r, int cls, Contribution *parts,
							   double *baseline);
extern void ModelColumnContribution(const FeatureSpec *spec, FeatureReader *r, int col,
									const double *coef, const double *slot_mean,
									Contribution *out);
extern void ModelSortContributions(Contribution *parts, int n);
extern Datum ModelTopFactors(const Model *m, FeatureReader *r, int k);
extern void ModelCoefficientRow(ReturnSetInfo *rsinfo, const char *feature, double coef,
								double se, double stat, double p, double odds, const char *cls);

#endif
