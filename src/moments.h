/*-------------------------------------------------------------------------
 * moments.h
 *	  Streaming means and co-moments of row vectors, combinable, plus a
 *	  deterministic bottom-k row sample.  Plain C over arrays: no SPI.
 *
 * A row is [x (nslots), y, missing indicators (nmiss)].  Rows are buffered
 * and folded in by batch: a batch's centered cross-products come from one
 * dsyrk, and batches (and parallel workers' states) merge with the
 * pairwise update of Chan, Golub and LeVeque, which stays accurate when
 * means are large against spreads.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_MOMENTS_H
#define PROFENRICH_MOMENTS_H

#include "lib/stringinfo.h"

#include "partial.h"

#define MOMENTS_BATCH 4096
/* column stride of the column-major copy: 4096 rows and 8 more, so that
 * columns do not fall on the same cache sets */
#define MOMENTS_COLSTRIDE (MOMENTS_BATCH + 8)

typedef struct Moments
{
	int			d;				/* full row width */
	int			dense;			/* width of a row without missing values */
	double		n;				/* rows folded in */
	double	   *mean;			/* d */
	double	   *comom;			/* d x d, upper triangle */
	int			rows;			/* rows waiting in the batch */
	bool		batch_missing;	/* a waiting row has a missing indicator set */
	double	   *batch;			/* MOMENTS_BATCH x d */
	double	   *shift;			/* d, subtracted before the cross-products */
	bool		has_shift;
	double	   *bmean;			/* d, scratch */
	double	   *bcomom;			/* d x d, scratch */
	double	   *cols;			/* the shifted batch column by column, scratch */
} Moments;

/*
 * Bottom-k sample by 64-bit priority: the cap rows of smallest priority,
 * the same rows whatever the order they come in.  Rows below the current
 * threshold are appended to a buffer of twice the cap; when it fills, the
 * cap smallest are kept and the threshold drops to the largest of them,
 * so each kept row costs amortized O(1).
 */
typedef struct RowSample
{
	int			cap;
	int			width;
	int			count;			/* rows held, at most 2 * cap */
	uint64		threshold;		/* rows at or above it are not wanted */
	uint64	   *prio;			/* 2 * cap */
	double	   *rows;			/* 2 * cap x width */
} RowSample;

extern Size MomentsBytes(int d);
extern void MomentsInit(Moments *m, int dense, int d);
extern void MomentsReset(Moments *m);
extern int	MomentsNonFinite(const Moments *m);
extern double *MomentsNextRow(Moments *m);
extern void MomentsRowDone(Moments *m, bool has_missing);
extern void MomentsFlush(Moments *m);
extern void MomentsFoldRows(Moments *m, const double *batch, int rows, bool batch_missing,
							double *bmean, double *bcomom, double *cols_scratch);
extern void MomentsFoldPicked(Moments *m, const double *batch, const int *pick, int rows,
							  bool batch_missing, double *bmean, double *bcomom, double *cols_scratch);
extern Size MomentsScratchBytes(int d);
extern Size MomentsBareBytes(int d);
extern void MomentsInitBare(Moments *m, int dense, int d);
extern void MomentsMergeFolded(Moments *dst, const Moments *src);
extern void MomentsMerge(Moments *dst, const Moments *src);
extern void MomentsWrite(PartialWriter *w, Moments *m);
extern void MomentsRead(StringInfo buf, Moments *m, int dense, int d, bool bare);

extern Size RowSampleBytes(int cap, int width);
extern void RowSampleInit(RowSample *s, int cap, int width);
extern void RowSampleOffer(RowSample *s, uint64 prio, const double *row);

extern void RowSampleTrim(RowSample *s);
extern void RowSampleShrink(RowSample *s, int cap);

/* Would RowSampleOffer keep a row of this priority? */
static inline bool
RowSampleWants(const RowSample *s, uint64 prio)
{
	return prio < s->threshold;
}
extern void RowSampleMerge(RowSample *dst, const RowSample *src);
extern void RowSampleWrite(PartialWriter *w, RowSample *s);
extern void RowSampleSend(StringInfo buf, RowSample *s);
extern void RowSampleRead(StringInfo buf, RowSample *s, int cap, int width);

#endif
