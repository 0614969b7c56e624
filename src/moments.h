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

#define MOMENTS_BATCH 1024

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
} Moments;

/* A sampled row's priority and its place in the row store */
typedef struct SampleSlot
{
	uint64		prio;
	int32		row;
} SampleSlot;

/* Bottom-k sample by 64-bit priority: the same rows whatever the order */
typedef struct RowSample
{
	int			cap;
	int			width;
	int			count;
	SampleSlot *heap;			/* max-heap by priority */
	double	   *rows;			/* cap x width */
} RowSample;

extern void MomentsInit(Moments *m, int dense, int d);
extern double *MomentsNextRow(Moments *m);
extern void MomentsRowDone(Moments *m, bool has_missing);
extern void MomentsFlush(Moments *m);
extern void MomentsMerge(Moments *dst, const Moments *src);
extern void MomentsWrite(StringInfo buf, Moments *m);
extern void MomentsRead(StringInfo buf, Moments *m, int dense, int d);

extern void RowSampleInit(RowSample *s, int cap, int width);
extern void RowSampleOffer(RowSample *s, uint64 prio, const double *row);

/* Would RowSampleOffer keep a row of this priority? */
static inline bool
RowSampleWants(const RowSample *s, uint64 prio)
{
	return s->count < s->cap || prio < s->heap[0].prio;
}
extern void RowSampleMerge(RowSample *dst, const RowSample *src);
extern void RowSampleWrite(StringInfo buf, const RowSample *s);
extern void RowSampleRead(StringInfo buf, RowSample *s, int cap, int width);

#endif
