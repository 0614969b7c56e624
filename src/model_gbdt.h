/*-------------------------------------------------------------------------
 * model_gbdt.h
 *	  The body of a 'gbdt' model: XGBoost's own binary form of the model,
 *	  the same trees laid out for profenrich's evaluator, and what
 *	  feature_importance() reports.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MODEL_GBDT_H
#define PROFENRICH_MODEL_GBDT_H

#include "gbdt.h"
#include "model.h"

/* The objective, chosen from the target (or the option "objective") */
typedef enum GbdtObjective
{
	GBDT_BINARY = 1,			/* binary:logistic; a number model like logistic */
	GBDT_REGRESSION = 2,		/* reg:squarederror */
	GBDT_MULTICLASS = 3			/* multi:softprob; a class model */
} GbdtObjective;

typedef struct GbdtModel
{
	GbdtObjective objective;
	int			rounds;			/* boosting rounds trained */
	int			best_iteration; /* 0-based round early stopping kept, -1 without it */
	GbdtForest	forest;
	int			shap_rows;		/* training rows mean |SHAP| was taken over */
	double	   *mean_abs_shap;	/* per spec column */
	Size		xgb_len;
	char	   *xgb;			/* XGBoost's binary model (UBJSON) */
	/* scratch of one row, for scoring (a backend scores one row at a time) */
	float	   *x;
	double	   *margin;
} GbdtModel;

/* The gbdt body of a model */
static inline GbdtModel *
GbdtModelOf(const Model *m)
{
	return (GbdtModel *) m->body;
}

extern const char *GbdtObjectiveName(GbdtObjective objective);
extern bool GbdtEncodeRow(const Model *m, FeatureReader *r, float *x);
extern void GbdtModelScratch(GbdtModel *g, int nslots);
extern double GbdtProbability(double margin);
extern void GbdtSoftmax(const double *margin, int k, double *probs);

#endif
