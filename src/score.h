/*-------------------------------------------------------------------------
 * score.h
 *	  What score.c offers the units with SQL functions of their own: the
 *	  model of a call site, from the same caches as score().
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_SCORE_H
#define PROFENRICH_SCORE_H

#include "fmgr.h"

#include "model.h"

extern Model *ScoreSharedModel(const char *name, int version);
extern Model *ScoreCallSite(FunctionCallInfo fcinfo, text *name, int version, int *version_out,
							void ***extra, bool *shared);

#endif
