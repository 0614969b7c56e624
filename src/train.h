/*-------------------------------------------------------------------------
 * train.h
 *	  What train() shares with the per-algorithm trainers.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_TRAIN_H
#define PROFENRICH_TRAIN_H

#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "features.h"
#include "model.h"
#include "options.h"
#include "step.h"

/* What train() knows about the source relation */
typedef struct Source
{
	Oid			relid;
	char	   *qualname;		/* quoted schema.name */
	TupleDesc	tupdesc;		/* copy */
} Source;

/* One training run: its inputs, and what the trainer fills in */
typedef struct TrainJob
{
	const char *name;
	TrainOptions opts;
	Source		src;
	FeatureSpec *spec;
	Model		model;
	StringInfoData metrics;		/* the trainer's metrics, a JSON object's members */
	double		n_train;
	double		n_test;
	double		n_skipped;
} TrainJob;

extern MemoryContext TrainContext;

extern int	TrainQuery(const char *sql, int nargs, Oid *types, Datum *values, long tcount);
extern bytea *SpecBytes(const FeatureSpec *spec);
extern List *NeededColumns(const FeatureSpec *spec);
extern char *ColumnList(List *cols);
extern Datum ColumnNames(List *cols);
extern LinearStats *RunStatsPass(const FeatureSpec *spec, const Source *src);
extern int *MissSlots(const FeatureSpec *spec);
extern void JsonField(StringInfo out, const char *key, double v);
extern void CheckRowCount(const LinearStats *st, const FeatureSpec *spec, const Source *src);
extern double *ImputeMeans(const LinearStats *st, FeatureSpec *spec, const int *miss_slot);

extern void SourceOpen(Oid relid, Source *src);
extern AttrNumber SourceColumn(const Source *src, const char *name);
extern FeatureConv ColumnConv(const Source *src, AttrNumber att, const char *role);
extern void CheckPrivileges(const FeatureSpec *spec, const Source *src);
struct RegistryEntry;
extern Datum TrainResultRow(FunctionCallInfo fcinfo, const struct RegistryEntry *e, int version);

extern void TrainLinear(TrainJob *job);
extern Datum TrainClv(FunctionCallInfo fcinfo, const char *name, ProfAlgorithm alg);
extern void TrainLogistic(TrainJob *job);

#endif
