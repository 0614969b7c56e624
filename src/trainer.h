/*-------------------------------------------------------------------------
 * trainer.h
 *	  What every trainer shares: the training job, the source relation and
 *	  its columns, the statistics pass, and the metrics JSON.
 *
 * train() (train.c) is only the SQL entry point: it resolves the
 * algorithm, the options and, for algorithms with a feature spec, the
 * target and the features, then calls the family's trainer and stores
 * what it built.  The helpers below (source.c) sit under the trainers;
 * nothing here calls up into train.c.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_TRAINER_H
#define PROFENRICH_TRAINER_H

#include "access/tupdesc.h"
#include "fmgr.h"
#include "utils/array.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "algorithm.h"
#include "badrows.h"
#include "baseline.h"
#include "features.h"
#include "model.h"
#include "options.h"
#include "step.h"

/* What train() knows about the source: a relation, or a query (train_query) */
typedef struct Source
{
	Oid			relid;			/* InvalidOid for a query */
	char	   *qualname;		/* quoted schema.name, or "(query)": for messages, the registry */
	char	   *from;			/* the FROM item every read names: qualname, or "(query) AS pe_query" */
	struct Query *query;		/* a query source, analyzed (its columns' origins), else NULL */
	char	   *query_text;
	TupleDesc	tupdesc;		/* copy */
	bool		citus;			/* a Citus table: its passes use the aggregates' ROW forms */
} Source;

/* One training run: its inputs, and what the trainer fills in */
typedef struct TrainJob
{
	const char *name;
	const AlgorithmOps *ops;
	FunctionCallInfo fcinfo;	/* train()'s call (NULL for a cross-validation fold) */
	const char *target_arg;		/* the target and features arguments, NULL when NULL */
	ArrayType  *features_arg;
	TrainOptions opts;			/* the options every family takes */
	void	   *algopts;		/* the family's own (ops->options_new) */
	Source		src;
	FeatureSpec *spec;
	Model		model;			/* ops and spec set; the trainer fills in the rest */
	StringInfoData metrics;		/* the trainer's metrics, a JSON object's members */
	double		n_train;
	double		n_test;
	double		n_skipped;		/* rows skipped for a NULL */
	/*
	 * Rows left out by reason: a trainer copies what its reading pass
	 * counted (LoadedData.bad, LinearStats.bad); train() adds the rows the
	 * model cannot use to n_skipped, lists every reason in the metrics and
	 * names one bad row in a NOTICE.
	 */
	BadRows		bad;
	double		rows_read;		/* rows the pass read, for the NOTICE (-1 unknown; 0: train()
								 * counts n_train + n_test + n_skipped + bad rows) */
	bool		quiet;			/* a cross-validation fold: train() reports nothing, and a
								 * trainer may skip what only a stored model needs (its
								 * training metrics, score quantiles) */
	const char *key_column;		/* the column naming rows in messages (the split key) */
	void	   *trained;		/* what the trainer leaves for ops->stored */
	BaselineLevelCounts level_counts;	/* categorical columns' counts, for the baseline */
} TrainJob;

extern MemoryContext TrainContext;

/* train.c: a training job, in steps (train(), train_query(), cross_validate(), tune()) */
struct RegistryEntry;
extern void TrainCheckName(const char *name);
extern const AlgorithmOps *TrainAlgorithm(const char *algorithm);
extern void TrainJobInit(TrainJob *job, const char *name, const AlgorithmOps *ops, Jsonb *options,
						 const char *target, ArrayType *features);
extern void TrainJobPrepare(TrainJob *job, Oid relid, const char *query);
extern void TrainJobAdopt(TrainJob *job, const TrainJob *prepared);
extern void TrainJobFit(TrainJob *job, FeatureSpec *spec);
extern int	TrainJobStore(TrainJob *job, struct RegistryEntry *e);

/* source.c: the relation, its columns and the reads of training */
extern int	TrainQuery(const char *sql, int nargs, Oid *types, Datum *values, long tcount);
extern void SourceOpen(Oid relid, Source *src);
extern void SourceOpenQuery(const char *query, Source *src);
extern AttrNumber SourceColumn(const Source *src, const char *name);
extern void SourceNoColumn(const Source *src, const char *name, const char *role) pg_attribute_noreturn();
extern FeatureConv ColumnConv(const Source *src, AttrNumber att, const char *role);
extern char *SourcePrimaryKey(Oid relid);
extern char *SourceSomeValues(const Source *src, const char *column);
extern char *SourceDistinctValues(const Source *src, const char *column, int limit, int *n);
extern void SourceResolveFeatures(FeatureSpec *spec, const Source *src, ArrayType *features);
extern void CheckPrivileges(const FeatureSpec *spec, const Source *src);
extern void SourceLearnVocabularies(FeatureSpec *spec, const Source *src, int max_categories);
extern BaselineLevelCounts SourceLearnVocabularyCounts(FeatureSpec *spec, const Source *src,
													   int max_categories);
extern bytea *SpecBytes(const FeatureSpec *spec);
extern List *NeededColumns(const FeatureSpec *spec);
extern char *ColumnList(List *cols);
extern Datum ColumnNames(List *cols);
extern LinearStats *RunStatsPass(const FeatureSpec *spec, const Source *src);
extern char *PassArguments(const FeatureSpec *spec, const Source *src, List *cols, int fixed,
						   bool rows_ok, int label_param);
struct GroupedStats;
extern struct GroupedStats *RunGroupedPass(const FeatureSpec *spec, const Source *src, int max_groups);
extern double SourceEstimatedRows(const Source *src);
extern char *SourceOtherLabel(const FeatureSpec *spec, const Source *src);
extern int *MissSlots(const FeatureSpec *spec);
extern void CheckRowCount(const LinearStats *st, const FeatureSpec *spec, const Source *src);
extern double *ImputeMeans(const LinearStats *st, FeatureSpec *spec, const int *miss_slot);
extern double *ImputedValues(const FeatureSpec *spec);
extern void JsonField(StringInfo out, const char *key, double v);

/*
 * baseline.c: the training baseline every trainer with a feature spec
 * stores, in one call once its model's body and classes are set (see
 * TrainBaseline); rows of a data set in memory to pass it
 */
struct LoadedData;
extern void TrainBaseline(TrainJob *job, const BaselineRows *sets, int nsets,
						  const double *scores, int64 nscores, bool sorted);
extern void TrainBaselineFromProbs(TrainJob *job, const BaselineRows *sets, int nsets,
								   const double *probs, int64 n);
extern BaselineRows *BaselineRowsOfDataset(const struct LoadedData *data);
extern void BaselineRowsOfSamples(const LinearStats *st, BaselineRows sets[2]);

/* The trainers and their options (train_<family>.c) */
extern void *LinearOptionsNew(const AlgorithmOps *ops);
extern bool LinearOption(void *opts, const char *key, JsonbValue *v);
extern void LinearOptionsJson(StringInfo out, const void *opts);
extern void LinearTarget(TrainJob *job, FeatureKind kind);
extern void TrainLinear(TrainJob *job);

extern void *LogisticOptionsNew(const AlgorithmOps *ops);
extern bool LogisticOption(void *opts, const char *key, JsonbValue *v);
extern void LogisticOptionsJson(StringInfo out, const void *opts);
extern void LogisticTarget(TrainJob *job, FeatureKind kind);
extern void TrainLogistic(TrainJob *job);

extern void *MultinomialOptionsNew(const AlgorithmOps *ops);
extern bool MultinomialOption(void *opts, const char *key, JsonbValue *v);
extern void MultinomialOptionsJson(StringInfo out, const void *opts);
extern void MultinomialTarget(TrainJob *job, FeatureKind kind);
extern void TrainMultinomial(TrainJob *job);

extern void *GbdtOptionsNew(const AlgorithmOps *ops);
extern bool GbdtOption(void *opts, const char *key, JsonbValue *v);
extern void GbdtOptionsJson(StringInfo out, const void *opts);
extern void GbdtTarget(TrainJob *job, FeatureKind kind);
extern void TrainGbdt(TrainJob *job);

extern void *ClvOptionsNew(const AlgorithmOps *ops);
extern bool ClvOption(void *opts, const char *key, JsonbValue *v);
extern void ClvOptionsJson(StringInfo out, const void *opts);
extern void TrainClv(TrainJob *job);

extern void *ItemOptionsNew(const AlgorithmOps *ops);
extern bool ItemOption(void *opts, const char *key, JsonbValue *v);
extern void ItemOptionsJson(StringInfo out, const void *opts);
extern void TrainAls(TrainJob *job);
extern void TrainAffinity(TrainJob *job);
extern void StoreItemUsers(TrainJob *job, int version);

extern void *KmeansOptionsNew(const AlgorithmOps *ops);
extern bool KmeansOption(void *opts, const char *key, JsonbValue *v);
extern void KmeansOptionsJson(StringInfo out, const void *opts);
extern void TrainKmeans(TrainJob *job);

#endif
