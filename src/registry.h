/*-------------------------------------------------------------------------
 * registry.h
 *	  The model registry: profenrich.models and its deployment log.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_REGISTRY_H
#define PROFENRICH_REGISTRY_H

#include "fmgr.h"
#include "utils/jsonb.h"

#include "model.h"

/*
 * The longest model name, in bytes: enrich writes columns named
 * <model><suffix>, and the longest suffix an output may have is 11 bytes
 * ("_top_scores"), which leaves 52 of PostgreSQL's 63-byte identifiers.
 */
#define MODEL_NAME_MAX 52

typedef struct RegistryEntry
{
	const char *name;
	const char *algorithm;
	const char *source;
	const char *target;
	const char *features_json;
	const char *options_json;
	const char *metrics_json;
	int64		n_train;
	int64		n_test;
	bytea	   *params;
	bool		deploy;
} RegistryEntry;

extern void RegistryRequireTrain(const char *name, bool deploy);
extern int	RegistryInsert(const RegistryEntry *entry);
extern Model *RegistryLoad(const char *name, int version, int *version_out,
						   MemoryContext mcxt);
extern char *RegistrySource(const char *name, int version);
extern char *RegistryTrainingFrom(const char *name, int version);
extern char *RegistryMetric(const char *name, int version, const char *key);
extern bool RegistryCacheUsable(void);
extern bool RegistryArgIsParams(FunctionCallInfo fcinfo, int argno);
extern Model *ModelFromParams(bytea *params, MemoryContext mcxt);
extern bytea *RegistryPinnedParams(const char *name, int version, int *version_out);
extern Oid	RegistryModelsRelation(void);
extern void ScoreCheckKind(Model *model, const char *name, int kind);
extern uint64 RegistryCacheGeneration(void);

#endif
