/*-------------------------------------------------------------------------
 * score.h
 *	  What the planner's rewrites of scoring calls share: the kinds of
 *	  model an insight wrapper accepts, a row's columns as arguments, and
 *	  the kind check.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_SCORE_H
#define PROFENRICH_SCORE_H

#include "nodes/pg_list.h"
#include "nodes/primnodes.h"

/* What an insight wrapper accepts (the kind argument of the columns forms) */
#define KIND_NONE (-1)			/* not a scoring call: no check */
#define KIND_ANY 0
#define KIND_PROPENSITY 1		/* score_churn, score_conversion: a probability */
#define KIND_VALUE 2			/* predict_ltv: a regression */
#define KIND_CLASS 3			/* predict_class, predict_proba: a model with classes */
#define KIND_ENGAGEMENT 4		/* classify_engagement: the same, named so in errors */
#define KIND_CLASS_PROB 5		/* enrich's <model>_score of a class model: its class's probability */

extern bool ScoreRowColumns(Node *rowarg, Node **names_const, List **cols);

#endif
