/*-------------------------------------------------------------------------
 * guards.h
 *	  Leakage guards of training: what should not become a feature.
 *
 * With features NULL, train() leaves out (each with a NOTICE saying why)
 * the columns profenrich wrote (enrich's and the trigger's outputs), the
 * split key, and columns that look like identifiers; explicitly listed
 * features are never dropped, but such a one gets a WARNING.  After an
 * unpenalized logistic fit, slots whose standard errors explode warn
 * (quasi-separation).  Every family with a feature spec gets the column
 * guards from train()'s PrepareSpec; a family with its own inference calls
 * GuardInflatedErrors.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_GUARDS_H
#define PROFENRICH_GUARDS_H

#include "features.h"
#include "glm.h"

struct Source;

/* Rows the identifier check reads (the first ones of the source) */
#define GUARD_SAMPLE_ROWS 10000
/* Non-NULL values a column needs before it can look like an identifier */
#define GUARD_MIN_VALUES 50
/* Distinct values over rows from which an integer or text column is an identifier */
#define GUARD_DISTINCT_SHARE 0.95
/* Share of rows a text column's vocabulary must cover, or it is mostly "(other)" */
#define GUARD_VOCABULARY_SHARE 0.5
/* Standard error of a standardized slot over that of a typical one, beyond which it warns */
#define GUARD_INFLATION 100.0

extern void GuardFeatures(FeatureSpec *spec, const struct Source *src, bool explicit_features,
						  int max_categories, bool quiet);
extern void GuardInflatedErrors(const FeatureSpec *spec, const LinearFit *f, double info);
extern double GuardDistinctEstimate(double n, double d, double f1, double N);

#endif
