/*-------------------------------------------------------------------------
 * groups.h
 *	  Models per group (the option group_by): the groups of a training
 *	  pass and of a model, by the text of their group_by value.
 *
 * A group is the text of a group_by value (the type's output), so it
 * means the same on every node, in every state a training pass combines,
 * and at scoring.  A table maps a group's text to its index, in the order
 * groups were first seen; training refuses more than max_groups of them.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_GROUPS_H
#define PROFENRICH_GROUPS_H

#include "lib/stringinfo.h"

#include "partial.h"

#define GROUPS_DEFAULT_MAX 10000
#define GROUPS_LIMIT 100000		/* the most max_groups may be */
#define GROUP_KEY_MAX 1024		/* bytes of a group's text */

/* What a model per group gives a row whose group has no model of its own */
typedef enum GroupFallback
{
	FALLBACK_GLOBAL = 0,		/* the model trained on every row in the same pass */
	FALLBACK_NULL = 1			/* no score */
} GroupFallback;

typedef struct GroupTable
{
	int			n;
	int			cap;
	char	  **keys;			/* n, each terminated */
	int		   *lens;
	uint32	   *hashes;
	int			nslots;			/* a power of two */
	int		   *slots;			/* index + 1, 0 when empty */
	int			max_groups;		/* 0: no limit */
	const char *column;			/* for the error */
	int			last;			/* the group found last: rows come in runs */
} GroupTable;

extern void GroupTableInit(GroupTable *t, int max_groups, const char *column);
extern int	GroupFind(GroupTable *t, const char *key, int len);
extern int	GroupAdd(GroupTable *t, const char *key, int len);
extern void GroupWriteKey(PartialWriter *w, const char *key, int len);
extern Size GroupKeyBytes(int len);
extern char *GroupReadKey(StringInfo buf, int *len, void (*invalid) (const char *));

#endif
