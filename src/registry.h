/*-------------------------------------------------------------------------
 * registry.h
 *	  The model registry: profenrich.models and its deployment log.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_REGISTRY_H
#define PROFENRICH_REGISTRY_H

#include "utils/jsonb.h"

#include "model.h"

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

extern int	RegistryInsert(const RegistryEntry *entry);
extern Model *RegistryLoad(const char *name, int version, int *version_out,
						   MemoryContext mcxt);
extern char *RegistrySource(const char *name, int version);
extern char *RegistryMetric(const char *name, int version, const char *key);
extern bool RegistryCacheUsable(void);
extern uint64 RegistryCacheGeneration(void);

#endif
