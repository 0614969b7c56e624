/*-------------------------------------------------------------------------
 * outputs.h
 *	  What a model writes into a profile table: the insight columns of its
 *	  output kind, as enrich() computes them in SQL and the trigger in C.
 *
 * A number model writes its score (and percentile, factors); a class
 * model its class and that class's probability (and all probabilities,
 * factors); a segment model its segment (and the distance to its center);
 * an item model the top items of the row's user and their scores.  Each
 * output has a key (the name the "columns" option renames
 * it by), a default column suffix and a type.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_OUTPUTS_H
#define PROFENRICH_OUTPUTS_H

#include "model.h"
#include "options.h"

typedef enum OutputWhat
{
	OUT_SCORE = 0,				/* number models: the score */
	OUT_PERCENTILE,				/* its percentile in the training population */
	OUT_FACTORS,				/* the most influential features */
	OUT_CLASS,					/* class models: the predicted class */
	OUT_CLASS_PROB,				/* its probability (in the <model>_score column) */
	OUT_PROBS,					/* every class's probability, as jsonb */
	OUT_TOP,					/* item models: the user's top items */
	OUT_TOP_SCORES,				/* their scores */
	OUT_SEGMENT,				/* segment models: the segment number */
	OUT_DISTANCE,				/* the distance to its center */
	OUT_NWHAT
} OutputWhat;

#define MAX_OUTPUTS OUT_NWHAT

/* One output column a run or a trigger writes */
typedef struct OutputColumn
{
	OutputWhat	what;
	char	   *column;
} OutputColumn;

/* What every output is */
typedef struct OutputDef
{
	const char *key;			/* in the "columns" option */
	const char *suffix;			/* default column: <model><suffix> */
	Oid			type;
	const char *typname;
	const char *label;			/* in the column's comment */
} OutputDef;

/* The row's outputs, computed once for all its columns */
typedef struct OutputRow
{
	bool		have;			/* false: an input the model needs is NULL */
	double		score;
	int			cls;
	double	   *probs;			/* nclasses, for class models */
	int			segment;		/* segment models: 1..k */
	double		distance;
} OutputRow;

extern const OutputDef *OutputDefOf(OutputWhat what);
extern int	OutputColumns(const Model *m, const char *name, const EnrichOptions *o,
						  OutputColumn *out);
extern void OutputCheckColumnsOption(Jsonb *columns, char **names, int n);
extern void OutputCheckColumnName(const char *model, const OutputColumn *out);
extern char *OutputExpr(OutputWhat what, const char *name, int version, int factors,
						const char *colargs);
extern void OutputCompute(const Model *m, FeatureReader *r, OutputRow *row);
extern Datum OutputDatum(OutputWhat what, const Model *m, FeatureReader *r, const OutputRow *row,
						 int factors, bool *isnull);
extern Datum OutputProbsJson(const Model *m, const double *probs);
extern bool OutputIsItems(OutputWhat what);
extern char *OutputKeyColumn(const Model *m, const char *name, TupleDesc desc,
							 const EnrichOptions *o);
extern char *OutputItemsExpr(OutputWhat what, const char *name, int version, const char *key,
							 int top);

#endif
