/*-------------------------------------------------------------------------
 * citus.h
 *	  What profenrich needs to know of Citus, without depending on it: is a
 *	  relation a Citus table, where are its shards, and running commands on
 *	  them, through Citus' own catalog and SQL functions when it is
 *	  installed.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_CITUS_H
#define PROFENRICH_CITUS_H

#include "postgres.h"

/* One placement of a shard: the shard's table on a node */
typedef struct CitusPlacement
{
	int64		shardid;
	char	   *shard;			/* quoted, qualified name of the shard's table */
	char	   *node;
	int			port;
} CitusPlacement;

extern bool CitusInstalled(void);
extern bool CitusTable(Oid relid);
extern char CitusMethod(Oid relid);
extern int	CitusPlacements(Oid relid, CitusPlacement **out, bool *replicated);
extern int	CitusRunOnPlacements(const CitusPlacement *p, char **commands, int n,
								 char **results, bool *ok);
extern void CitusRunOnPlacementsOrError(const CitusPlacement *p, char **commands, int n,
										char **results);
extern void CitusPlacementError(const CitusPlacement *p, const char *message) pg_attribute_noreturn();
extern bool CitusHasWorkers(void);
extern void CitusRunOnWorkers(const char *command);

#endif
