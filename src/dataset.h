/*-------------------------------------------------------------------------
 * dataset.h
 *	  Training rows encoded once into memory, in chunks.
 *
 * Each row is [1, slot values...] (the leading 1 is the intercept), so a
 * chunk is a row-major matrix BLAS can take as it is; the label and the
 * chunks never move once written, so the data exists in one copy only.
 * A spec without target (k-means) keeps each row's sample priority instead
 * of a label, the one linear_stats gives the row, so that a trainer can
 * sample the same rows in memory as by streaming.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_DATASET_H
#define PROFENRICH_DATASET_H

#include "features.h"

#define DATASET_CHUNK_ROWS 8192

typedef struct DataChunk
{
	bool		ready;			/* imputed and standardized */
	int			rows;
	double	   *x;				/* DATASET_CHUNK_ROWS x width */
	double	   *y;				/* DATASET_CHUNK_ROWS labels; NULL for a spec without target */
	uint64	   *prio;			/* without target instead: each row's sample priority */
} DataChunk;

typedef struct Dataset
{
	int			width;			/* slots + 1 */
	int			nchunks;
	int			maxchunks;
	DataChunk  *chunks;
	double		n;
	double		positives;
	/* how DatasetChunkReady prepares a chunk (set by DatasetPrepare) */
	const double *impute;		/* width; NaN (a NULL number) becomes this */
	const double *mean;
	const double *sd;
} Dataset;

/* What loading a source gives: both splits, or nothing when over budget */
typedef struct LoadedData
{
	bool		fits;			/* false: over profenrich.max_train_memory */
	Dataset		split[2];		/* SPLIT_TRAIN, SPLIT_TEST */
	int64		skipped_target;
	int64		skipped_feature;
	Size		bytes;
	/* per slot, over the training rows' observed values: count, and sums shifted by shift */
	double	   *cnt;
	double	   *shift;
	double	   *sum;
	double	   *sumsq;
	bool		anynan;
	/* a class target learned while loading (spec->learn_classes): labels in model order */
	int			nclasses;
	char	  **classes;
	bool		more_classes;	/* more than MODEL_MAX_CLASSES + 1 values */
} LoadedData;

extern void DatasetLoad(const FeatureSpec *spec, const char *sql, int nargs, Oid *types,
						Datum *values, Size budget, LoadedData *out);
extern void DatasetPrepare(LoadedData *data, FeatureSpec *spec, double *mean, double *sd);
extern void DatasetChunkReady(const Dataset *d, DataChunk *c);
extern void DatasetFree(LoadedData *data);

#endif
