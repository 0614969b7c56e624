/*-------------------------------------------------------------------------
 * als.h
 *	  Implicit-feedback alternating least squares (Hu, Koren & Volinsky
 *	  2008) and the ranking of items by a user's factor: the numerical core
 *	  of the 'als' algorithm, plain C over arrays.
 *
 * The interactions are a sparse matrix with the confidence minus one,
 * alpha x weight, as its values (the preference of an observed pair is
 * 1); ALS minimizes
 *	  sum_{u,i} c_ui (p_ui - x_u'y_i)^2 + l2 (sum |x_u|^2 + sum |y_i|^2)
 * over the user factors X and the item factors Y, one side at a time.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_ALS_H
#define PROFENRICH_ALS_H

/* A sparse matrix by rows (CSR): row r's entries are ptr[r] .. ptr[r + 1] - 1 */
typedef struct AlsMatrix
{
	int			nrows;
	int64		nnz;
	int64	   *ptr;			/* nrows + 1 */
	int32	   *col;			/* ascending within a row */
	double	   *conf;			/* alpha x weight: the confidence minus 1 */
} AlsMatrix;

/* How to fit */
typedef struct AlsSettings
{
	int			factors;
	double		l2;
	int			iterations;
	int			cg_steps;		/* conjugate-gradient steps per row and half-step */
	bool		cholesky;		/* solve every row exactly instead */
	/* called after each iteration with its loss */
	void		(*progress) (int iteration, double loss, void *arg);
	void	   *arg;
} AlsSettings;

/* What the exact solve of a row needs */
typedef struct AlsExact
{
	int			f;
	const double *gram;			/* f x f: the other side's Gram matrix plus l2 I */
	const double *inverse;		/* its inverse */
	const double *other;		/* the other side's factors */
	const double *scaled;		/* the other side's rows times the inverse; NULL: per row */
	double	   *work;			/* ALS_EXACT_WORK(f) doubles */
} AlsExact;

#define ALS_EXACT_WORK(f) (2 * (f) * (f) + 4 * (f))

/* An item and its score, as rankings list them */
typedef struct ItemScore
{
	int32		item;
	double		score;
} ItemScore;

/* The k best of a stream of scored items: a min-heap, the worst kept on top */
typedef struct TopK
{
	int			k;
	int			n;
	ItemScore  *heap;
} TopK;

/*
 * Items ordered by the norm of their factor, for the search of a user's
 * best: their factors also in single precision, by blocks of
 * ALS_RANK_BLOCK positions stored coordinate by coordinate, so that the
 * scores of a block are one vector product; those scores only pick the
 * candidates, whose exact scores are computed in double (see AlsTopItems).
 */
#define ALS_RANK_BLOCK 16
#define ALS_MAX_FACTORS 1000	/* the most factors (a user's factor in floats is on the stack) */
#define ALS_RANK_BATCH 64		/* the most users AlsTopItemsMany ranks at once */

typedef struct AlsItemIndex
{
	int			nitems;
	int			factors;
	const double *y;			/* the item factors by position, nitems x factors */
	int32	   *order;			/* item of each position, largest norm first */
	double	   *norm;			/* per position */
	float	   *blocks;			/* [block][coordinate][position in the block] */
	float	   *block_norm;		/* [block][position in the block]: the norms, 0 past the end */
	double		max_norm;
	bool		single;			/* the factors fit the range of single precision */
} AlsItemIndex;

extern void AlsTranspose(const AlsMatrix *m, int ncols, AlsMatrix *t);
extern void AlsAdviseHuge(void *p, Size bytes);
extern void AlsInitFactors(int n, int f, uint64 seed, double *x);
extern void AlsGram(int n, int f, const double *a, double l2, double *g);
extern void AlsFit(const AlsMatrix *byuser, const AlsMatrix *byitem, const AlsSettings *s,
				   double *x, double *y, double *gram, double *loss);
extern double AlsLoss(const AlsMatrix *byuser, int f, double l2, const double *x,
					  int nitems, const double *y);
extern bool AlsExactPrepare(int f, const double *gram, double *inverse, double *work);
extern bool AlsSolveRow(const AlsExact *s, int64 n, const int32 *cols, const double *conf,
						double *x);
extern double AlsDot(const double *a, const double *b, int n);

extern void TopKInit(TopK *t, int k, ItemScore *buf);
extern void TopKPush(TopK *t, int32 item, double score);
extern int	TopKSorted(TopK *t, ItemScore *out);
extern void AlsIndexBuild(int nitems, int f, const double *y, AlsItemIndex *ix);
extern int	AlsTopItems(const AlsItemIndex *ix, const double *x, int k, const bool *skip,
						ItemScore *out);
extern void AlsTopItemsMany(const AlsItemIndex *ix, int n, const double *const *x, int k,
							const uint64 *bits, ItemScore *out, int *counts);

/* Is (s1, i1) ranked before (s2, i2)? A higher score, then the lower item (key order) */
static inline bool
ItemBefore(double s1, int32 i1, double s2, int32 i2)
{
	return s1 > s2 || (s1 == s2 && i1 < i2);
}

#endif
