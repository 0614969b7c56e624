/*-------------------------------------------------------------------------
 * kmeans.h
 *	  k-means clustering: greedy k-means++ seeding, Lloyd's iterations with
 *	  Hamerly's bounds, the M-step with re-seeding of empty clusters, the
 *	  assignment of row batches (the streaming step), and the silhouette.
 *	  Plain C over arrays: no SPI, no catalog.
 *
 * Points are rows of d standardized values.  In memory they are read in
 * place from blocks of row-major rows with a row stride (a dataset's
 * chunks); seeding and the silhouette work on a contiguous sample.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_KMEANS_H
#define PROFENRICH_KMEANS_H

#include "common/pg_prng.h"
#include "lib/stringinfo.h"

#define KMEANS_MAX_K 1000
#define KMEANS_MAX_RELOCATE 32	/* empty clusters re-seeded per iteration, at most */

/* The points of an in-memory fit: blocks of rows, read in place */
typedef struct KmeansPoints
{
	int			d;
	int			ld;				/* row stride */
	int			nblocks;
	const double **block;		/* each block's first row */
	const int  *rows;			/* each block's row count */
	int64		n;
} KmeansPoints;

/* A point far from its cluster's center: a candidate to re-seed an empty cluster */
typedef struct KmeansFar
{
	double		dist2;			/* squared distance to its cluster's center */
	int			cluster;
	int64		row;			/* in memory: the point's index; streaming: -1 */
	double	   *x;				/* d values */
} KmeansFar;

/*
 * What an M-step needs of an assignment: per cluster the sum and count of
 * its points, and the farthest points, farthest first; and what the
 * assignment cost: its inertia.  Sums of one pass combine (parallel
 * workers, in-memory blocks) by addition and a merge of the far lists.
 */
typedef struct KmeansSums
{
	int			k;
	int			d;
	double	   *sum;			/* k x d */
	double	   *count;			/* k */
	double		inertia;		/* sum of squared distances to the assigned centers */
	int			nfar;
	int			capfar;			/* min(k, KMEANS_MAX_RELOCATE) */
	KmeansFar  *far;
	double	   *farbuf;			/* capfar x d, the far points' values */
	/* the test split: inertia and rows (streaming: assigned, not summed) */
	double		test_inertia;
	double		test_n;
} KmeansSums;

/* A point moved into an empty cluster by an M-step (in memory: update its label) */
typedef struct KmeansMove
{
	int64		row;
	int			to;
} KmeansMove;

/* One fitted run: centers, the final assignment's sizes and inertia */
typedef struct KmeansRun
{
	int			k;
	int			d;
	double	   *centers;		/* k x d */
	double	   *sizes;			/* k */
	double		inertia;
	int			iterations;
	bool		converged;
	int			reseeded;		/* empty clusters re-seeded along the way */
} KmeansRun;

/* Per-point state of an in-memory fit, allocated once for every run */
typedef struct KmeansWork
{
	int64		n;
	int32	   *label;
	double	   *upper;			/* Hamerly: bound on the distance to the own center */
	double	   *lower;			/* ... and to the second nearest */
	double	   *norm2;			/* squared norm of each point */
	float	   *xf;				/* small k: the points in single precision (n x d), or NULL */
	float	   *xnorm;			/* ... and their norms, rounded up */
	const char *what;			/* for progress notices: what is being fitted */
} KmeansWork;

extern void KmeansSumsInit(KmeansSums *s, int k, int d);
extern void KmeansSumsReset(KmeansSums *s);
extern void KmeansFarOffer(KmeansSums *s, double dist2, int cluster, int64 row, const double *x);
extern void KmeansSumsMerge(KmeansSums *dst, const KmeansSums *src);
extern void KmeansSumsWrite(StringInfo buf, const KmeansSums *s);
extern void KmeansSumsRead(StringInfo buf, KmeansSums *s, int k, int d);
extern Size KmeansSumsBytes(int k, int d, int nfar);

extern double KmeansTolerance(const double *var, int d, double tol);
extern double KmeansNextCenters(KmeansSums *s, const double *centers, double *next, int *nleft,
								KmeansMove *moves, int *nmoves);
extern bool KmeansStop(double shift, double tol, int nleft);

extern int	KmeansPlusPlus(const double *x, int m, int d, int k, pg_prng_state *rng,
						   double *centers);
extern int	KmeansNearest(const double *x, const double *centers, int k, int d, double *dist2);
extern void KmeansAssignBatch(const double *x, int rows, int d, const bool *test,
							  const double *centers, const double *cnorm, int ktotal,
							  int nruns, const int *run_k, const int *run_first,
							  double *dots, KmeansSums *sums);

extern void KmeansWorkInit(KmeansWork *w, const KmeansPoints *p);
extern void KmeansLloyd(const KmeansPoints *p, int k, const double *init, int max_iter,
						double tol, KmeansWork *w, KmeansRun *out);
extern double KmeansInertiaOf(const KmeansPoints *p, const double *centers, int k, double *n);

extern void KmeansSilhouette(const double *x, int m, int d, int ncand, int *const *labels,
							 const int *k, double *silhouette);

#endif
