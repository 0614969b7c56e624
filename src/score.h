/*-------------------------------------------------------------------------
 * score.h
 *	  What score.c offers the other units: the kinds of model an insight
 *	  wrapper accepts, a row's columns as arguments (the planner's rewrites),
 *	  the kind check, and the model of a call site, from the same caches as
 *	  score().
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_SCORE_H
#define PROFENRICH_SCORE_H

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "nodes/primnodes.h"

#include "model.h"

/* What an insight wrapper accepts (the kind argument of the columns forms) */
#define KIND_NONE (-1)			/* not a scoring call: no check */
#define KIND_ANY 0
#define KIND_PROPENSITY 1		/* score_churn, score_conversion: a probability */
#define KIND_VALUE 2			/* predict_ltv: a regression */
#define KIND_CLASS 3			/* predict_class, predict_proba: a model with classes */
#define KIND_ENGAGEMENT 4		/* classify_engagement: the same, named so in errors */
#define KIND_CLASS_PROB 5		/* enrich's <model>_score of a class model: its class's probability */
#define KIND_SEGMENT 6			/* segment, segment_of, segment_distance: a segment model */

extern bool ScoreRowColumns(Node *rowarg, Node **names_const, List **cols);
extern Model *ScoreSharedModel(const char *name, int version);
extern Model *ScoreCallSite(FunctionCallInfo fcinfo, text *name, int version, int *version_out,
							void ***extra, bool *shared);

#endif
