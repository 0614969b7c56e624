/*-------------------------------------------------------------------------
 * monitor.h
 *	  What the monitoring functions share (drift.c, monitor.c): the model
 *	  they judge, the relation they read, and its columns checked first.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MONITOR_H
#define PROFENRICH_MONITOR_H

#include "access/tupdesc.h"
#include "fmgr.h"

#include "model.h"

/* A monitoring function's model: the deployed version of its name argument */
typedef struct MonitoredModel
{
	char	   *name;
	int			version;
	Model	   *model;
	Oid			relid;			/* the relation read */
	char	   *from;			/* its quoted, qualified name */
	TupleDesc	tupdesc;		/* its columns */
	bool		own;			/* the model's training source (source argument NULL) */
	FunctionCallInfo fcinfo;	/* the call (name in argument 0) */
} MonitoredModel;

extern void MonitorOpen(FunctionCallInfo fcinfo, const char *function, MonitoredModel *mm);
extern void MonitorCheckColumns(const MonitoredModel *mm, bool want_target, bool want_key);
extern void MonitorRequireBinary(const MonitoredModel *mm, const char *function);
extern void MonitorRequireTestSplit(const MonitoredModel *mm);

/* evaluate.c: what the keyless split of a model trained before 0.5.0 hashed */
extern LegacySplitInput OwnSplitInput(const Model *m, FunctionCallInfo fcinfo, int version);

#endif
