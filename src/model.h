/*-------------------------------------------------------------------------
 * model.h
 *	  A trained model in memory, and its versioned binary form (params).
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MODEL_H
#define PROFENRICH_MODEL_H

#include "features.h"
#include "glm.h"
#include "profenrich.h"

#define MODEL_MAGIC 0x50454D44	/* "PEMD" */
#define MODEL_FORMAT 1

typedef struct Model
{
	ProfAlgorithm algorithm;
	FeatureSpec *spec;
	LinearFit	linear;
} Model;

extern bytea *ModelSerialize(const Model *model);
extern Model *ModelDeserialize(bytea *params);

#endif
