/*-------------------------------------------------------------------------
 * als.c
 *	  Implicit-feedback ALS: the half-steps, the loss, the exact solve of
 *	  one row (which fold-in shares), and the ranking of items for a user.
 *
 * Each half-step solves, for every row u of one side (the users, or the
 * items) with the other side's factors Y fixed,
 *	  (Y'Y + l2 I + Y' (C_u - I) Y) x_u = Y' C_u p_u,
 * with Y'Y computed once per half-step (the trick of Hu, Koren & Volinsky),
 * so a row costs its own interactions, not every item.  The solve is a
 * few conjugate-gradient steps warm-started at the row's current factor
 * (Takacs, Pilaszy & Tikk 2011), or with the option cholesky an exact
 * Cholesky solve.  Users go in blocks: the dense product with Y'Y of a
 * block's vectors is one matrix product (linalg.c), the sparse part runs
 * over the block's interactions.  The items, when the width is a multiple
 * of 8, go one by one as dense systems (DenseItemCG: each item's matrix
 * built from its users' factors in one pass, then the steps on it); at
 * other widths all at once, their sparse part taken user by user
 * (ScatterCG).  An iteration solves the items, then the
 * users, and the last user half-step is exact whatever the solver, so the
 * stored user factors are exactly what fold-in computes from the stored
 * item factors.
 *
 * No SPI and no catalog access: arrays in, arrays out.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>
#include <sys/mman.h>

#include "common/pg_prng.h"
#include "miscadmin.h"

#include "als.h"
#include "linalg.h"

#define ALS_BLOCK 256			/* rows per block of a half-step */
#define SCATTER_CHUNK 16		/* entries whose products are taken before their updates */
#define CG_EPSILON 1e-20		/* a residual this small (squared norm) ends a row's steps */

/*
 * Eight and four doubles, loaded and stored without alignment: eight is
 * one AVX-512 register, two AVX2 ones, four SSE2 ones, so the same code
 * suits every variant of a kernel (LINALG_KERNEL_LEVELS).
 */
typedef double Vec8 __attribute__((vector_size(64), aligned(8)));
typedef double Vec4 __attribute__((vector_size(32), aligned(8)));

#define VLOAD8(p) (*(const Vec8 *) (p))
#define VSTORE8(p, v) (*(Vec8 *) (p) = (v))
#define VLOAD(p) (*(const Vec4 *) (p))
#define VSTORE(p, v) (*(Vec4 *) (p) = (v))

/* a'b over n doubles, inlined into each kernel (and compiled for its target) */
static pg_attribute_always_inline double
Dot(const double *a, const double *b, int n)
{
	Vec8		s0 = {0},
				s1 = {0};
	Vec4		t;
	double		s;
	int			j = 0;

	for (; j + 16 <= n; j += 16)
	{
		s0 += VLOAD8(a + j) * VLOAD8(b + j);
		s1 += VLOAD8(a + j + 8) * VLOAD8(b + j + 8);
	}
	for (; j + 8 <= n; j += 8)
		s0 += VLOAD8(a + j) * VLOAD8(b + j);
	s0 += s1;
	t = (Vec4) {s0[0] + s0[4], s0[1] + s0[5], s0[2] + s0[6], s0[3] + s0[7]};
	for (; j + 4 <= n; j += 4)
		t += VLOAD(a + j) * VLOAD(b + j);
	s = (t[0] + t[1]) + (t[2] + t[3]);
	for (; j < n; j++)
		s += a[j] * b[j];
	return s;
}

/* y += a x over n doubles */
static pg_attribute_always_inline void
Axpy(double *y, double a, const double *x, int n)
{
	Vec8		av8 = {a, a, a, a, a, a, a, a};
	Vec4		av = {a, a, a, a};
	int			j = 0;

	for (; j + 8 <= n; j += 8)
		VSTORE8(y + j, VLOAD8(y + j) + av8 * VLOAD8(x + j));
	for (; j + 4 <= n; j += 4)
		VSTORE(y + j, VLOAD(y + j) + av * VLOAD(x + j));
	for (; j < n; j++)
		y[j] += a * x[j];
}

/* Ask for a row of n doubles ahead of its use: its cache lines overlap the work on the current one */
static inline void
PrefetchRow(const double *row, int n)
{
	for (int j = 0; j < n; j += 8)
		__builtin_prefetch(row + j, 0, 3);
}

#define PREFETCH_AHEAD 12		/* interactions ahead */

/* a'b for the other units (similar items, one user's score) */
double
AlsDot(const double *a, const double *b, int n)
{
	return Dot(a, b, n);
}

/*
 * The transpose of a sparse matrix with ncols columns: by counting, so
 * each row of the transpose lists its entries in ascending order.
 */
void
AlsTranspose(const AlsMatrix *m, int ncols, AlsMatrix *t)
{
	int64	   *next;

	t->nrows = ncols;
	t->nnz = m->nnz;
	t->ptr = palloc0(sizeof(int64) * (ncols + 1));
	t->col = palloc_extended(sizeof(int32) * Max(m->nnz, 1), MCXT_ALLOC_HUGE);
	t->conf = palloc_extended(sizeof(double) * Max(m->nnz, 1), MCXT_ALLOC_HUGE);
	for (int64 e = 0; e < m->nnz; e++)
		t->ptr[m->col[e] + 1]++;
	for (int c = 0; c < ncols; c++)
		t->ptr[c + 1] += t->ptr[c];
	next = palloc(sizeof(int64) * (Max(ncols, 1)));
	memcpy(next, t->ptr, sizeof(int64) * ncols);
	for (int r = 0; r < m->nrows; r++)
		for (int64 e = m->ptr[r]; e < m->ptr[r + 1]; e++)
		{
			int64		at = next[m->col[e]]++;

			t->col[at] = r;
			t->conf[at] = m->conf[e];
		}
	pfree(next);
}

/*
 * Ask the kernel to back a large array (not yet touched) with huge pages
 * where it does so on request (transparent huge pages in madvise mode):
 * the half-steps read the rows of the other side's factors at random, and
 * with 4 kB pages nearly every such row is also a TLB miss.  Only the 2 MB
 * pages wholly inside the array are advised; nothing is raised if the
 * kernel declines.
 */
void
AlsAdviseHuge(void *p, Size bytes)
{
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = (uintptr_t) 2 * 1024 * 1024;
	uintptr_t	start = ((uintptr_t) p + huge - 1) & ~(huge - 1);
	uintptr_t	end = ((uintptr_t) p + bytes) & ~(huge - 1);

	if (end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#endif
}

/* Small random starting factors, uniform in [0, 0.01), from the seed */
void
AlsInitFactors(int n, int f, uint64 seed, double *x)
{
	pg_prng_state st;

	pg_prng_seed(&st, seed);
	for (int64 i = 0; i < (int64) n * f; i++)
		x[i] = 0.01 * pg_prng_double(&st);
}

/* g (f x f, full) = a'a + l2 I for a of n rows */
void
AlsGram(int n, int f, const double *a, double l2, double *g)
{
	memset(g, 0, sizeof(double) * f * f);
	if (n > 0)
		LinalgSyrkAddUpper(f, n, a, f, g, f);
	LinalgSymmetrize(f, g, f);
	for (int j = 0; j < f; j++)
		g[j * f + j] += l2;
}

static int	ByRank(const void *a, const void *b);

/* Scratch of a half-step's blocks */
typedef struct AlsWork
{
	double	   *r;				/* ALS_BLOCK x f each */
	double	   *p;
	double	   *q;
	double	   *rs;				/* ALS_BLOCK */
	bool	   *done;
	double	   *solve;			/* ALS_EXACT_WORK(f) */
	double	   *inverse;		/* f x f */
	double	   *scaled;			/* the other side's rows times the inverse */
	/* ScatterCG: every item's vectors */
	double	   *all_r;
	double	   *all_p;
	double	   *all_q;
	double	   *all_rs;
	bool	   *all_done;
} AlsWork;

/*
 * The sparse part of one row of a BlockCG step: for each of the row's
 * interactions (other side's row y, confidence c), acc += (1 + c - c y'v) y
 * for the residual of the start, acc += c (y'v) y for a product A v.
 * The entries go SCATTER_CHUNK at a time, their
 * products first (independent of each other), then the updates in entry
 * order: the same sums as entry by entry, without each product waiting
 * on the previous update.
 */
static pg_attribute_always_inline void
RowProducts(const AlsMatrix *m, const double *other, int f, int row, const double *v,
			double *acc, bool residual)
{
	int64		e = m->ptr[row],
				stop = m->ptr[row + 1];

	while (e < stop)
	{
		double		coef[SCATTER_CHUNK];
		int64		first = e,
					chunk_end = Min(stop, e + SCATTER_CHUNK);

		for (; e < chunk_end; e++)
		{
			double		c = m->conf[e];
			double		s;

			if (e + PREFETCH_AHEAD < m->nnz)
				PrefetchRow(other + (size_t) m->col[e + PREFETCH_AHEAD] * f, f);
			s = Dot(other + (size_t) m->col[e] * f, v, f);
			coef[e - first] = residual ? (1.0 + c) - c * s : c * s;
		}
		for (int64 a = first; a < chunk_end; a++)
			Axpy(acc, coef[a - first], other + (size_t) m->col[a] * f, f);
	}
}

/*
 * Conjugate-gradient steps for the rows first .. first + count - 1 of x,
 * warm-started at their current values: r = b - A x, then steps of
 * p'A p, each A p being g p (one matrix product for the block) plus the
 * row's interactions, conf (y'p) y.  A row stops early when its residual
 * vanishes.
 */
static inline __attribute__((always_inline)) void
BlockCGImpl(const AlsMatrix *m, const double *other, int f, const double *g, double *x,
		int first, int count, int steps, AlsWork *w)
{
	double	   *xb = x + (size_t) first * f;

	LinalgGemm(count, f, f, -1.0, xb, g, 0.0, w->r);
	for (int k = 0; k < count; k++)
	{
		int			row = first + k;
		double	   *r = w->r + (size_t) k * f;
		const double *xr = xb + (size_t) k * f;

		RowProducts(m, other, f, row, xr, r, true);
		memcpy(w->p + (size_t) k * f, r, sizeof(double) * f);
		w->rs[k] = Dot(r, r, f);
		w->done[k] = w->rs[k] < CG_EPSILON;
	}
	for (int step = 0; step < steps; step++)
	{
		LinalgGemm(count, f, f, 1.0, w->p, g, 0.0, w->q);
		for (int k = 0; k < count; k++)
		{
			int			row = first + k;
			double	   *r = w->r + (size_t) k * f,
					   *p = w->p + (size_t) k * f,
					   *q = w->q + (size_t) k * f,
					   *xr = xb + (size_t) k * f;
			double		pq,
						alpha,
						rsnew,
						beta;

			if (w->done[k])
				continue;
			RowProducts(m, other, f, row, p, q, false);
			pq = Dot(p, q, f);
			if (!(pq > 0))
			{
				w->done[k] = true;
				continue;
			}
			alpha = w->rs[k] / pq;
			Axpy(xr, alpha, p, f);
			Axpy(r, -alpha, q, f);
			rsnew = Dot(r, r, f);
			if (rsnew < CG_EPSILON)
			{
				w->done[k] = true;
				continue;
			}
			beta = rsnew / w->rs[k];
			for (int j = 0; j < f; j++)
				p[j] = r[j] + beta * p[j];
			w->rs[k] = rsnew;
		}
	}
}

/* BlockCG, compiled apart for the common width of 32 factors (its loops unrolled) */
static pg_attribute_always_inline void
BlockCGBody(const AlsMatrix *m, const double *other, int f, const double *g, double *x,
			int first, int count, int steps, AlsWork *w)
{
	if (f == 32)
		BlockCGImpl(m, other, 32, g, x, first, count, steps, w);
	else
		BlockCGImpl(m, other, f, g, x, first, count, steps, w);
}

/* BlockCG for x86-64-v4, v3 and the baseline, picked at the first call */
LINALG_KERNEL_LEVELS_VOID(BlockCG,
						  (const AlsMatrix *m, const double *other, int f, const double *g,
						   double *x, int first, int count, int steps, AlsWork *w),
						  (m, other, f, g, x, first, count, steps, w))

/*
 * The interactions by tiles of items, for ScatterCG: the items ordered by
 * how often they occur, cut into tiles whose two arrays of vectors a pass
 * visits fit a core's cache, and each tile's interactions listed user by
 * user (segments), users in order.
 */
#define TILE_BYTES (1 << 20)

typedef struct AlsTiles
{
	int			ntiles;
	int64	   *first;			/* per tile: its first segment (ntiles + 1) */
	int64	   *start;			/* per tile: its first entry */
	int32	   *user;			/* per segment: its user */
	int64	   *end;			/* per segment: one past its last entry */
	int32	   *col;			/* the entries, by tile, then user, then item */
	double	   *conf;
} AlsTiles;

/* Cut the interactions into tiles of items */
static void
BuildTiles(const AlsMatrix *byuser, int nitems, int f, AlsTiles *t)
{
	int			per = Max(1, (int) (TILE_BYTES / (2 * sizeof(double) * f)));
	ItemScore  *order = palloc(sizeof(ItemScore) * Max(nitems, 1));
	int32	   *tile = palloc(sizeof(int32) * Max(nitems, 1));
	int64	   *nseg,
			   *nent,
			   *segpos,
			   *entpos;
	int32	   *mark;
	int64	   *cur;

	for (int i = 0; i < nitems; i++)
	{
		order[i].item = i;
		order[i].score = 0;
	}
	for (int64 e = 0; e < byuser->nnz; e++)
		order[byuser->col[e]].score += 1;
	qsort(order, nitems, sizeof(ItemScore), ByRank);	/* most frequent first */
	for (int r = 0; r < nitems; r++)
		tile[order[r].item] = r / per;
	t->ntiles = Max(1, (nitems + per - 1) / per);
	nseg = palloc0(sizeof(int64) * t->ntiles);
	nent = palloc0(sizeof(int64) * t->ntiles);
	mark = palloc0(sizeof(int32) * t->ntiles);
	cur = palloc(sizeof(int64) * t->ntiles);
	for (int u = 0; u < byuser->nrows; u++)
		for (int64 e = byuser->ptr[u]; e < byuser->ptr[u + 1]; e++)
		{
			int32		k = tile[byuser->col[e]];

			nent[k]++;
			if (mark[k] != u + 1)
			{
				mark[k] = u + 1;
				nseg[k]++;
			}
		}
	t->first = palloc(sizeof(int64) * (t->ntiles + 1));
	t->start = palloc(sizeof(int64) * (t->ntiles + 1));
	t->first[0] = t->start[0] = 0;
	for (int k = 0; k < t->ntiles; k++)
	{
		t->first[k + 1] = t->first[k] + nseg[k];
		t->start[k + 1] = t->start[k] + nent[k];
	}
	t->user = palloc_extended(sizeof(int32) * Max(t->first[t->ntiles], 1), MCXT_ALLOC_HUGE);
	t->end = palloc_extended(sizeof(int64) * Max(t->first[t->ntiles], 1), MCXT_ALLOC_HUGE);
	t->col = palloc_extended(sizeof(int32) * Max(byuser->nnz, 1), MCXT_ALLOC_HUGE);
	t->conf = palloc_extended(sizeof(double) * Max(byuser->nnz, 1), MCXT_ALLOC_HUGE);
	segpos = palloc(sizeof(int64) * t->ntiles);
	entpos = palloc(sizeof(int64) * t->ntiles);
	memcpy(segpos, t->first, sizeof(int64) * t->ntiles);
	memcpy(entpos, t->start, sizeof(int64) * t->ntiles);
	memset(mark, 0, sizeof(int32) * t->ntiles);
	for (int u = 0; u < byuser->nrows; u++)
		for (int64 e = byuser->ptr[u]; e < byuser->ptr[u + 1]; e++)
		{
			int32		k = tile[byuser->col[e]];

			if (mark[k] != u + 1)
			{
				mark[k] = u + 1;
				cur[k] = segpos[k]++;
				t->user[cur[k]] = u;
			}
			t->col[entpos[k]] = byuser->col[e];
			t->conf[entpos[k]++] = byuser->conf[e];
			t->end[cur[k]] = entpos[k];
		}
	pfree(order);
	pfree(tile);
	pfree(nseg);
	pfree(nent);
	pfree(mark);
	pfree(cur);
	pfree(segpos);
	pfree(entpos);
}

/*
 * One pass of ScatterCG over the interactions, tile by tile, user by user:
 * for each interaction (u, i), acc_i += (b - conf (x_u'v_i)) x_u, where b
 * is 1 + conf (the residual of the start) or 0 (a product A p).  Items
 * marked done are left alone.  The pass of the residual, whose products
 * x_u'y_i are those of the objective, returns the interactions' terms of
 * it, sum c_ui (1 - s)^2 - s^2 (AlsFit's loss of the factors it starts
 * from); the others return 0.  A user's entries go SCATTER_CHUNK at a
 * time: their products first, independent of each other, then the
 * updates (of distinct items: a user's items are distinct), so the
 * products overlap instead of each waiting on the previous update; every
 * sum is taken in the same order as entry by entry.
 */
static inline __attribute__((always_inline)) double
ScatterPass(const AlsTiles *t, const double *users, int f, const double *v, double *acc,
			bool residual, const bool *done)
{
	const int32 *restrict col = t->col;
	const double *restrict conf = t->conf;
	const int64 *restrict end = t->end;
	const int32 *restrict user = t->user;
	double		observed = 0;

	for (int k = 0; k < t->ntiles; k++)
	{
		int64		e = t->start[k];

		for (int64 sg = t->first[k]; sg < t->first[k + 1]; sg++)
		{
			const double *xu = users + (size_t) user[sg] * f;
			int64		stop = end[sg];

			if ((sg & 4095) == 0)
				CHECK_FOR_INTERRUPTS();
			while (e < stop)
			{
				int32		item[SCATTER_CHUNK];
				double		coef[SCATTER_CHUNK];
				int64		chunk_end = Min(stop, e + SCATTER_CHUNK);
				int			m = 0;

				for (; e < chunk_end; e++)
				{
					int32		i = col[e];
					double		c = conf[e];
					double		s;

					if (done != NULL && done[i])
						continue;
					s = Dot(xu, v + (size_t) i * f, f);
					coef[m] = residual ? (1.0 + c) - c * s : c * s;
					item[m++] = i;
					if (residual)
						observed += (1.0 + c) * (1.0 - s) * (1.0 - s) - s * s;
				}
				for (int a = 0; a < m; a++)
					Axpy(acc + (size_t) item[a] * f, coef[a], xu, f);
			}
		}
	}
	return observed;
}

/*
 * Conjugate-gradient steps for every item at once, the interactions taken
 * user by user: each user's factor is read once per pass and tile, in
 * order, and the items' vectors are visited at random within a tile that
 * fits the cache, where solving item by item would visit the much larger
 * user factors at random.  The same steps as BlockCG, every item's sums
 * taken in the same (user) order.  Returns the interactions' terms of the
 * objective at the factors it started from (ScatterPass).
 */
static inline __attribute__((always_inline)) double
ScatterCGImpl(const AlsTiles *tiles, const double *users, int f, const double *g, double *y,
			  int nitems, int steps, AlsWork *w)
{
	double	   *r = w->all_r,
			   *p = w->all_p,
			   *q = w->all_q;
	double		observed;

	LinalgGemm(nitems, f, f, -1.0, y, g, 0.0, r);
	observed = ScatterPass(tiles, users, f, y, r, true, NULL);
	memcpy(p, r, sizeof(double) * nitems * f);
	for (int i = 0; i < nitems; i++)
	{
		w->all_rs[i] = Dot(r + (size_t) i * f, r + (size_t) i * f, f);
		w->all_done[i] = w->all_rs[i] < CG_EPSILON;
	}
	for (int step = 0; step < steps; step++)
	{
		LinalgGemm(nitems, f, f, 1.0, p, g, 0.0, q);
		ScatterPass(tiles, users, f, p, q, false, w->all_done);
		for (int i = 0; i < nitems; i++)
		{
			double	   *ri = r + (size_t) i * f,
					   *pi = p + (size_t) i * f,
					   *qi = q + (size_t) i * f;
			double		pq,
						alpha,
						rsnew,
						beta;

			if (w->all_done[i])
				continue;
			pq = Dot(pi, qi, f);
			if (!(pq > 0))
			{
				w->all_done[i] = true;
				continue;
			}
			alpha = w->all_rs[i] / pq;
			Axpy(y + (size_t) i * f, alpha, pi, f);
			Axpy(ri, -alpha, qi, f);
			rsnew = Dot(ri, ri, f);
			if (rsnew < CG_EPSILON)
			{
				w->all_done[i] = true;
				continue;
			}
			beta = rsnew / w->all_rs[i];
			for (int j = 0; j < f; j++)
				pi[j] = ri[j] + beta * pi[j];
			w->all_rs[i] = rsnew;
		}
	}
	return observed;
}

/* ScatterCG, compiled apart for the common width of 32 factors (its loops unrolled) */
static pg_attribute_always_inline double
ScatterCGBody(const AlsTiles *tiles, const double *users, int f, const double *g, double *y,
			  int nitems, int steps, AlsWork *w)
{
	if (f == 32)
		return ScatterCGImpl(tiles, users, 32, g, y, nitems, steps, w);
	return ScatterCGImpl(tiles, users, f, g, y, nitems, steps, w);
}

/* ScatterCG for x86-64-v4, v3 and the baseline, picked at the first call */
LINALG_KERNEL_LEVELS(ScatterCG, double,
					 (const AlsTiles *tiles, const double *users, int f, const double *g,
					  double *y, int nitems, int steps, AlsWork *w),
					 (tiles, users, f, g, y, nitems, steps, w))

/*
 * The item half-step as dense systems, for a width a multiple of 8: each
 * item's matrix A_i = g + sum_u c_ui x_u x_u' is built from its users'
 * factors (rank-one updates by blocks of four rows held in vector
 * registers, the users taken DENSE_CHUNK at a time so that their rows
 * stay in the first-level cache across the blocks), its right-hand side
 * b_i = sum_u (1 + c_ui) x_u beside it, then the conjugate-gradient steps
 * run on A_i, each product A_i p one small matrix-vector product.  The
 * same iterates as ScatterCG's (A_i p is the same sum, associated
 * otherwise), at a fraction of the passes over the interactions: one,
 * dense, instead of 1 + steps.  Returns the interactions' terms of the
 * objective at the starting item factors (as ScatterCG).  Memory: one
 * f x f matrix.
 */
#define DENSE_CHUNK 64
#define DENSE_AHEAD 16			/* interactions ahead whose user rows are fetched */

/*
 * Rows r0 .. r0 + 3 and columns v0 .. v0 + 8 nv - 1 of a = from + sum_e
 * c_e x_e x_e', held in registers across the n rows (nv at most 4, a
 * constant where inlined, so the sixteen sums stay in registers)
 */
static pg_attribute_always_inline void
RankBlock(int f, int n, const double *const *rows, const double *c, const double *from,
		  double *a, int r0, int v0, int nv)
{
	Vec8		acc[4][4];

	for (int r = 0; r < 4; r++)
		for (int v = 0; v < nv; v++)
			acc[r][v] = VLOAD8(from + (size_t) (r0 + r) * f + v0 + 8 * v);
	for (int e = 0; e < n; e++)
	{
		const double *x = rows[e];

		for (int r = 0; r < 4; r++)
		{
			double		cx = c[e] * x[r0 + r];
			Vec8		b = {cx, cx, cx, cx, cx, cx, cx, cx};

			for (int v = 0; v < nv; v++)
				acc[r][v] += b * VLOAD8(x + v0 + 8 * v);
		}
	}
	for (int r = 0; r < 4; r++)
		for (int v = 0; v < nv; v++)
			VSTORE8(a + (size_t) (r0 + r) * f + v0 + 8 * v, acc[r][v]);
}

/*
 * a (f x f, row-major; f a multiple of 8) = from + sum_e c_e x_e x_e' over
 * n rows x_e, on and above the diagonal (from may be a): each block of
 * four rows from the vector holding its diagonal on (a few entries below
 * the diagonal are summed too, and left for Symmetrize to overwrite)
 */
static pg_attribute_always_inline void
RankUpdates(int f, int n, const double *const *rows, const double *c, const double *from,
			double *a)
{
	for (int r0 = 0; r0 < f; r0 += 4)
	{
		for (int v0 = r0 / 8 * 8; v0 < f; v0 += 32)
		{
			switch (Min(4, (f - v0) / 8))
			{
				case 4:
					RankBlock(f, n, rows, c, from, a, r0, v0, 4);
					break;
				case 3:
					RankBlock(f, n, rows, c, from, a, r0, v0, 3);
					break;
				case 2:
					RankBlock(f, n, rows, c, from, a, r0, v0, 2);
					break;
				default:
					RankBlock(f, n, rows, c, from, a, r0, v0, 1);
					break;
			}
		}
	}
}

/* The entries below the diagonal of an f x f row-major matrix from those above */
static pg_attribute_always_inline void
Symmetrize(int f, double *a)
{
	for (int r = 1; r < f; r++)
		for (int c = 0; c < r; c++)
			a[(size_t) r * f + c] = a[(size_t) c * f + r];
}

/*
 * y = a x for a symmetric f x f row-major matrix, f a multiple of 8: the
 * rows weighted by x's entries and added (a row is a column), no
 * horizontal sums
 */
static pg_attribute_always_inline void
DenseMatVec(int f, const double *a, const double *x, double *y)
{
	memset(y, 0, sizeof(double) * f);
	for (int j = 0; j < f; j++)
		Axpy(y, x[j], a + (size_t) j * f, f);
}

static inline __attribute__((always_inline)) double
DenseItemCGImpl(const AlsMatrix *byitem, const double *users, int f, const double *g,
				double *y, int steps, AlsWork *w)
{
	double	   *a = w->all_r;	/* f x f */
	double	   *b = a + (size_t) f * f;
	double	   *r = b + f;
	double	   *p = r + f;
	double	   *q = p + f;
	double		observed = 0;

	for (int i = 0; i < byitem->nrows; i++)
	{
		double	   *yi = y + (size_t) i * f;
		double		rs;

		if ((i & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		if (byitem->ptr[i + 1] == byitem->ptr[i])
			memcpy(a, g, sizeof(double) * f * f);
		memset(b, 0, sizeof(double) * f);
		for (int64 e0 = byitem->ptr[i]; e0 < byitem->ptr[i + 1]; e0 += DENSE_CHUNK)
		{
			const double *rows[DENSE_CHUNK];
			int			n = (int) Min(DENSE_CHUNK, byitem->ptr[i + 1] - e0);
			const double *conf = byitem->conf + e0;

			for (int e = 0; e < n; e++)
			{
				double		c = conf[e];
				double		sc;

				if (e0 + e + DENSE_AHEAD < byitem->nnz)
					PrefetchRow(users + (size_t) byitem->col[e0 + e + DENSE_AHEAD] * f, f);
				rows[e] = users + (size_t) byitem->col[e0 + e] * f;
				sc = Dot(rows[e], yi, f);
				observed += (1.0 + c) * (1.0 - sc) * (1.0 - sc) - sc * sc;
				Axpy(b, 1.0 + c, rows[e], f);
			}
			RankUpdates(f, n, rows, conf, e0 == byitem->ptr[i] ? g : a, a);
			if (n == DENSE_CHUNK)
				CHECK_FOR_INTERRUPTS();
		}
		/* r = b - A y_i, then the steps of BlockCG */
		Symmetrize(f, a);
		DenseMatVec(f, a, yi, r);
		for (int j = 0; j < f; j++)
			r[j] = b[j] - r[j];
		memcpy(p, r, sizeof(double) * f);
		rs = Dot(r, r, f);
		if (rs < CG_EPSILON)
			continue;
		for (int step = 0; step < steps; step++)
		{
			double		pq,
						alpha,
						rsnew,
						beta;

			DenseMatVec(f, a, p, q);
			pq = Dot(p, q, f);
			if (!(pq > 0))
				break;
			alpha = rs / pq;
			Axpy(yi, alpha, p, f);
			Axpy(r, -alpha, q, f);
			rsnew = Dot(r, r, f);
			if (rsnew < CG_EPSILON)
				break;
			beta = rsnew / rs;
			for (int j = 0; j < f; j++)
				p[j] = r[j] + beta * p[j];
			rs = rsnew;
		}
	}
	return observed;
}

/* DenseItemCG, compiled apart for the common width of 32 factors */
static pg_attribute_always_inline double
DenseItemCGBody(const AlsMatrix *byitem, const double *users, int f, const double *g,
				double *y, int steps, AlsWork *w)
{
	if (f == 32)
		return DenseItemCGImpl(byitem, users, 32, g, y, steps, w);
	return DenseItemCGImpl(byitem, users, f, g, y, steps, w);
}

/* DenseItemCG for x86-64-v4, v3 and the baseline, picked at the first call */
LINALG_KERNEL_LEVELS(DenseItemCG, double,
					 (const AlsMatrix *byitem, const double *users, int f, const double *g,
					  double *y, int steps, AlsWork *w),
					 (byitem, users, f, g, y, steps, w))

/*
 * Prepare the exact solves of a half-step or of fold-in: the inverse of
 * the Gram matrix g into inv (work: f x f doubles); false when g is not
 * positive definite.
 */
bool
AlsExactPrepare(int f, const double *g, double *inv, double *work)
{
	memcpy(work, g, sizeof(double) * f * f);
	return LinalgSmallSpdInverse(f, work, inv);
}

/* z = y g^-1 for a row y of the other side (g^-1 symmetric) */
static inline void
ScaledRow(int f, const double *inv, const double *y, double *z)
{
	memset(z, 0, sizeof(double) * f);
	for (int a = 0; a < f; a++)
		Axpy(z, y[a], inv + (size_t) a * f, f);
}

/* Every row of the other side scaled by g^-1, for a half-step's exact solves */
static pg_attribute_always_inline void
ScaleRowsBody(int f, const double *inv, const double *other, int n, double *z)
{
	for (int r = 0; r < n; r++)
	{
		if ((r & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		ScaledRow(f, inv, other + (size_t) r * f, z + (size_t) r * f);
	}
}

LINALG_KERNEL_LEVELS_VOID(ScaleRows, (int f, const double *inv, const double *other, int n, double *z),
						  (f, inv, other, n, z))

/*
 * A row with few interactions (2 n <= f, every confidence above 1) by the
 * Woodbury identity: with U the n rows y_e, D = diag(conf), z_e = y_e g^-1,
 *	  (g + U'DU)^-1 U'v = sum_e (v_e - s_e) z_e,  s = (D^-1 + K)^-1 K v,
 * K_ab = y_a'z_b, v_e = 1 + conf_e: an n x n system instead of f x f.
 */
static inline __attribute__((always_inline)) bool
SolveFew(const AlsExact *s, int n, const int32 *cols, const double *conf, double *x)
{
	int			f = s->f;
	double	   *k = s->work;
	double	   *t = k + (size_t) n * n;
	double	   *z = t + n;
	const double *zrow;

	for (int e = 0; e < n; e++)
		if (s->scaled == NULL)
			ScaledRow(f, s->inverse, s->other + (size_t) cols[e] * f, z + (size_t) e * f);
#define ZROW(e) (s->scaled ? s->scaled + (size_t) cols[e] * f : z + (size_t) (e) * f)
	for (int a = 0; a < n; a++)
	{
		const double *ya = s->other + (size_t) cols[a] * f;

		for (int b = a; b < n; b++)
			k[a * n + b] = Dot(ya, ZROW(b), f);
	}
	for (int a = 0; a < n; a++)
	{
		double		sum = 0;

		for (int b = 0; b < n; b++)
			sum += (a <= b ? k[a * n + b] : k[b * n + a]) * (1.0 + conf[b]);
		t[a] = sum;
	}
	for (int a = 0; a < n; a++)
		k[a * n + a] += 1.0 / conf[a];
	if (!LinalgSmallSpdSolve(n, k, t))
		return false;
	memset(x, 0, sizeof(double) * f);
	for (int e = 0; e < n; e++)
	{
		zrow = ZROW(e);
		Axpy(x, (1.0 + conf[e]) - t[e], zrow, f);
	}
#undef ZROW
	return true;
}

/*
 * The exact solve of one row: x = (g + sum conf y y')^-1 sum (1 + conf) y,
 * by SolveFew for a row of few interactions, else by Cholesky of the f x f
 * matrix.  False when the system is not positive definite (l2 0 and too
 * few interactions).  Fold-in calls it with the model's stored g, so a
 * user whose interactions have not changed gets the factor training gave.
 */
static pg_attribute_always_inline bool
AlsSolveRowBody(const AlsExact *s, int64 n, const int32 *cols, const double *conf, double *x)
{
	int			f = s->f;
	double	   *a = s->work;
	double	   *b = s->work + (size_t) f * f;
	bool		few = 2 * n <= f;

	for (int64 e = 0; e < n && few; e++)
		few = conf[e] > 0;
	if (few)
		return SolveFew(s, (int) n, cols, conf, x);
	memcpy(a, s->gram, sizeof(double) * f * f);
	memset(b, 0, sizeof(double) * f);
	for (int64 e = 0; e < n; e++)
	{
		const double *y = s->other + (size_t) cols[e] * f;
		double		c = conf[e];

		for (int i = 0; i < f; i++)
			Axpy(a + (size_t) i * f + i, c * y[i], y + i, f - i);
		Axpy(b, 1.0 + c, y, f);
	}
	if (!LinalgSmallSpdSolve(f, a, b))
		return false;
	memcpy(x, b, sizeof(double) * f);
	return true;
}

LINALG_KERNEL_LEVELS(AlsSolveRow, bool,
					 (const AlsExact *s, int64 n, const int32 *cols, const double *conf, double *x),
					 (s, n, cols, conf, x))

/* The exact solve of one row (AlsSolveRowBody), in the variant the CPU runs */
bool
AlsSolveRow(const AlsExact *s, int64 n, const int32 *cols, const double *conf, double *x)
{
	return LINALG_KERNEL_PICK_LEVEL(AlsSolveRow) (s, n, cols, conf, x);
}

/* The error of a system that is not positive definite */
static void
NotPositiveDefinite(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("the least-squares system of an ALS row is not positive definite"),
			 errhint("Train with an \"l2\" above 0.")));
}

/* Exact solves of a block's rows */
static void
BlockExact(const AlsMatrix *m, const AlsExact *s, double *x, int first, int count)
{
	for (int row = first; row < first + count; row++)
		if (!AlsSolveRow(s, m->ptr[row + 1] - m->ptr[row], m->col + m->ptr[row],
						 m->conf + m->ptr[row], x + (size_t) row * s->f))
			NotPositiveDefinite();
}

/*
 * One half-step: every row of x solved with the other side (nother rows)
 * fixed, block by block; the exact solves share g's inverse and the other
 * side's rows scaled by it.
 */
static void
SolveSide(const AlsMatrix *m, const double *other, int nother, int f, const double *g, double *x,
		  int steps, bool exact, AlsWork *w)
{
	AlsExact	s;

	if (exact)
	{
		s.f = f;
		s.gram = g;
		s.inverse = w->inverse;
		s.other = other;
		s.scaled = w->scaled;
		s.work = w->solve;
		if (!AlsExactPrepare(f, g, w->inverse, w->solve))
			NotPositiveDefinite();
		LINALG_KERNEL_PICK_LEVEL(ScaleRows) (f, w->inverse, other, nother, w->scaled);
	}
	for (int first = 0; first < m->nrows; first += ALS_BLOCK)
	{
		int			count = Min(ALS_BLOCK, m->nrows - first);

		CHECK_FOR_INTERRUPTS();
		if (exact)
			BlockExact(m, &s, x, first, count);
		else
			LINALG_KERNEL_PICK_LEVEL(BlockCG) (m, other, f, g, x, first, count, steps, w);
	}
}

/* sum over the interactions of c (1 - s)^2 - s^2, s = x_u'y_i */
static inline __attribute__((always_inline)) double
ObservedLossImpl(const AlsMatrix *byuser, int f, const double *x, const double *y)
{
	double		sum = 0;

	for (int u = 0; u < byuser->nrows; u++)
	{
		const double *xu = x + (size_t) u * f;

		if ((u & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int64 e = byuser->ptr[u]; e < byuser->ptr[u + 1]; e++)
		{
			double		s = Dot(xu, y + (size_t) byuser->col[e] * f, f);

			sum += (1.0 + byuser->conf[e]) * (1.0 - s) * (1.0 - s) - s * s;
		}
	}
	return sum;
}

/* ObservedLoss, compiled apart for the common width of 32 factors (its loops unrolled) */
static pg_attribute_always_inline double
ObservedLossBody(const AlsMatrix *byuser, int f, const double *x, const double *y)
{
	return f == 32 ? ObservedLossImpl(byuser, 32, x, y) : ObservedLossImpl(byuser, f, x, y);
}

LINALG_KERNEL_LEVELS(ObservedLoss, double,
					 (const AlsMatrix *byuser, int f, const double *x, const double *y),
					 (byuser, f, x, y))

/*
 * The terms of the objective from the Gram matrices X'X and Y'Y: over
 * every pair, sum (x_u'y_i)^2 = sum_jk (X'X)_jk (Y'Y)_jk, and the
 * penalty l2 (|X|^2 + |Y|^2) = l2 (tr X'X + tr Y'Y).
 */
static double
GramLoss(int f, double l2, const double *xx, const double *yy)
{
	double		all = 0,
				reg = 0;

	for (int j = 0; j < f * f; j++)
		all += xx[j] * yy[j];
	for (int j = 0; j < f; j++)
		reg += xx[j * f + j] + yy[j * f + j];
	return all + l2 * reg;
}

/*
 * The objective: sum_{u,i} c_ui (p_ui - x_u'y_i)^2 + l2 (|X|^2 + |Y|^2).
 * Over every pair, sum (x_u'y_i)^2 = sum_jk (X'X)_jk (Y'Y)_jk; the
 * interactions then correct their own terms.
 */
double
AlsLoss(const AlsMatrix *byuser, int f, double l2, const double *x, int nitems, const double *y)
{
	double	   *xx = palloc(sizeof(double) * (f * f));
	double	   *yy = palloc(sizeof(double) * (f * f));
	double		loss;

	AlsGram(byuser->nrows, f, x, 0, xx);
	AlsGram(nitems, f, y, 0, yy);
	loss = GramLoss(f, l2, xx, yy) + LINALG_KERNEL_PICK_LEVEL(ObservedLoss) (byuser, f, x, y);
	pfree(xx);
	pfree(yy);
	return loss;
}

/* g = a + l2 I for f x f matrices */
static void
GramPlus(int f, const double *a, double l2, double *g)
{
	memcpy(g, a, sizeof(double) * f * f);
	for (int j = 0; j < f; j++)
		g[j * f + j] += l2;
}

/* Record the objective after iteration it (from 0) and report it */
static void
Report(const AlsSettings *s, int it, double value, double *loss)
{
	loss[it] = value;
	if (s->progress)
		s->progress(it + 1, value, s->arg);
}

/*
 * Fit: x (users x f) and y (items x f) hold the starting factors and
 * receive the fitted ones; loss[it] the objective after each iteration;
 * gram (f x f) the Gram matrix of the final item factors plus l2 I, with
 * which the last user half-step solved (and fold-in solves).  Each Gram
 * matrix is computed once per half-step and serves both the next solve and
 * the objective; the interactions' terms of the objective come from the
 * next item half-step's first pass, which computes the same products, so
 * only the last iteration (and the exact item solves of "cholesky") make a
 * pass of their own for them.
 */
void
AlsFit(const AlsMatrix *byuser, const AlsMatrix *byitem, const AlsSettings *s, double *x,
	   double *y, double *gram, double *loss)
{
	int			f = s->factors;
	AlsWork		w;
	AlsTiles	tiles;
	double	   *xx = palloc(sizeof(double) * f * f);
	double	   *yy = palloc(sizeof(double) * f * f);
	bool		dense = !s->cholesky && f % 8 == 0;

	w.r = palloc(sizeof(double) * (ALS_BLOCK * f));
	w.p = palloc(sizeof(double) * (ALS_BLOCK * f));
	w.q = palloc(sizeof(double) * (ALS_BLOCK * f));
	w.rs = palloc(sizeof(double) * (ALS_BLOCK));
	w.done = palloc(sizeof(bool) * (ALS_BLOCK));
	w.solve = palloc(sizeof(double) * ALS_EXACT_WORK(f));
	w.inverse = palloc(sizeof(double) * f * f);
	w.scaled = palloc_extended(sizeof(double) * Max((size_t) (s->cholesky ? Max(byuser->nrows, byitem->nrows) : byitem->nrows) * f, 1),
							   MCXT_ALLOC_HUGE);
	if (dense)
		w.all_r = palloc(sizeof(double) * ((size_t) f * f + 4 * f));
	else if (!s->cholesky)
	{
		size_t		cells = Max((size_t) byitem->nrows * f, 1);

		w.all_r = palloc_extended(sizeof(double) * cells, MCXT_ALLOC_HUGE);
		w.all_p = palloc_extended(sizeof(double) * cells, MCXT_ALLOC_HUGE);
		w.all_q = palloc_extended(sizeof(double) * cells, MCXT_ALLOC_HUGE);
		w.all_rs = palloc(sizeof(double) * Max(byitem->nrows, 1));
		w.all_done = palloc(sizeof(bool) * Max(byitem->nrows, 1));
		BuildTiles(byuser, byitem->nrows, f, &tiles);
	}
	AlsGram(byuser->nrows, f, x, 0, xx);
	for (int it = 0; it < s->iterations; it++)
	{
		bool		last = it == s->iterations - 1;

		CHECK_FOR_INTERRUPTS();
		GramPlus(f, xx, s->l2, gram);
		if (s->cholesky)
			SolveSide(byitem, x, byuser->nrows, f, gram, y, s->cg_steps, true, &w);
		else
		{
			double		observed = dense ?
				LINALG_KERNEL_PICK_LEVEL(DenseItemCG) (byitem, x, f, gram, y, s->cg_steps, &w) :
				LINALG_KERNEL_PICK_LEVEL(ScatterCG) (&tiles, x, f, gram, y, byitem->nrows,
													 s->cg_steps, &w);

			/* xx and yy are still those of the previous iteration's factors */
			if (it > 0)
				Report(s, it - 1, GramLoss(f, s->l2, xx, yy) + observed, loss);
		}
		AlsGram(byitem->nrows, f, y, 0, yy);
		GramPlus(f, yy, s->l2, gram);
		SolveSide(byuser, y, byitem->nrows, f, gram, x, s->cg_steps, s->cholesky || last, &w);
		AlsGram(byuser->nrows, f, x, 0, xx);
		if (s->cholesky || last)
			Report(s, it, GramLoss(f, s->l2, xx, yy) +
				   LINALG_KERNEL_PICK_LEVEL(ObservedLoss) (byuser, f, x, y), loss);
	}
	pfree(xx);
	pfree(yy);
	pfree(w.r);
	pfree(w.p);
	pfree(w.q);
	pfree(w.rs);
	pfree(w.done);
	pfree(w.solve);
	pfree(w.inverse);
	pfree(w.scaled);
	if (dense)
		pfree(w.all_r);
	else if (!s->cholesky)
	{
		pfree(w.all_r);
		pfree(w.all_p);
		pfree(w.all_q);
		pfree(w.all_rs);
		pfree(w.all_done);
	}
}

/* ---------------------------------------------------------------------
 * Rankings
 * ---------------------------------------------------------------------
 */

/* An empty top k over buf (k entries) */
void
TopKInit(TopK *t, int k, ItemScore *buf)
{
	t->k = k;
	t->n = 0;
	t->heap = buf;
}

/* Is a ranked after b (the heap keeps the one ranked last on top)? */
static inline bool
RankedAfter(const ItemScore *a, const ItemScore *b)
{
	return ItemBefore(b->score, b->item, a->score, a->item);
}

/* Offer an item: kept while it is among the k best so far (inlined into the kernels) */
static pg_attribute_always_inline void
TopKOffer(TopK *t, int32 item, double score)
{
	ItemScore	e = {item, score};
	int			i;

	if (t->k <= 0)
		return;
	if (t->n < t->k)
	{
		i = t->n++;
		while (i > 0 && RankedAfter(&e, &t->heap[(i - 1) / 2]))
		{
			t->heap[i] = t->heap[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		t->heap[i] = e;
		return;
	}
	if (!ItemBefore(score, item, t->heap[0].score, t->heap[0].item))
		return;
	i = 0;
	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= t->n)
			break;
		if (c + 1 < t->n && RankedAfter(&t->heap[c + 1], &t->heap[c]))
			c++;
		if (!RankedAfter(&t->heap[c], &e))
			break;
		t->heap[i] = t->heap[c];
		i = c;
	}
	t->heap[i] = e;
}

/* Offer an item: kept while it is among the k best so far */
void
TopKPush(TopK *t, int32 item, double score)
{
	TopKOffer(t, item, score);
}

/* qsort order: best first */
static int
ByRank(const void *a, const void *b)
{
	const ItemScore *x = (const ItemScore *) a;
	const ItemScore *y = (const ItemScore *) b;

	if (ItemBefore(x->score, x->item, y->score, y->item))
		return -1;
	if (ItemBefore(y->score, y->item, x->score, x->item))
		return 1;
	return 0;
}

/* The kept items into out, best first (a few by insertion); how many */
int
TopKSorted(TopK *t, ItemScore *out)
{
	if (out != t->heap)
		memcpy(out, t->heap, sizeof(ItemScore) * t->n);
	if (t->n > 16)
		qsort(out, t->n, sizeof(ItemScore), ByRank);
	else
		for (int a = 1; a < t->n; a++)
		{
			ItemScore	e = out[a];
			int			b = a;

			for (; b > 0 && ItemBefore(e.score, e.item, out[b - 1].score, out[b - 1].item); b--)
				out[b] = out[b - 1];
			out[b] = e;
		}
	return t->n;
}

/*
 * Sixteen floats and sixteen ints, unaligned: one AVX-512 register, two
 * AVX2 ones, four SSE2 ones; halves and quarters for the reductions.
 */
typedef float VecF __attribute__((vector_size(64), aligned(4)));
typedef uint32 VecU __attribute__((vector_size(64)));
typedef uint32 VecU8 __attribute__((vector_size(32)));
typedef uint32 VecU4 __attribute__((vector_size(16)));

#define VLOADF(p) (*(const VecF *) (p))
#define RANK_GROUP 4			/* blocks scored together: their sums are independent */
#define RANK_SINGLE_MAX 1e15	/* norms up to this: single-precision products stay finite */
#define RANK_TINY 1e-25			/* bounds the absolute error of underflow at those norms */

/* Norm order: the largest first, ties by item */
static int
ByNorm(const void *a, const void *b)
{
	return ByRank(a, b);
}

/* Build the index of the search from the item factors y (nitems x f) */
void
AlsIndexBuild(int nitems, int f, const double *y, AlsItemIndex *ix)
{
	ItemScore  *byn = palloc(sizeof(ItemScore) * Max(nitems, 1));
	int			group = ALS_RANK_BLOCK * RANK_GROUP;
	int			padded = (nitems + group - 1) / group * group;

	for (int i = 0; i < nitems; i++)
	{
		byn[i].item = i;
		byn[i].score = sqrt(Dot(y + (size_t) i * f, y + (size_t) i * f, f));
	}
	qsort(byn, nitems, sizeof(ItemScore), ByNorm);
	ix->nitems = nitems;
	ix->factors = f;
	ix->y = palloc_extended(sizeof(double) * Max((size_t) nitems * f, 1), MCXT_ALLOC_HUGE);
	ix->order = palloc(sizeof(int32) * Max(nitems, 1));
	ix->norm = palloc(sizeof(double) * Max(nitems, 1));
	ix->blocks = palloc_extended(sizeof(float) * Max((size_t) padded * f, 1),
								 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	ix->block_norm = palloc0(sizeof(float) * Max(padded, 1));
	ix->max_norm = nitems > 0 ? byn[0].score : 0;
	ix->single = ix->max_norm <= RANK_SINGLE_MAX;	/* false for NaN too */
	for (int p = 0; p < nitems; p++)
	{
		const double *yi = y + (size_t) byn[p].item * f;
		float	   *blk = ix->blocks + (size_t) (p / ALS_RANK_BLOCK) * ALS_RANK_BLOCK * f;

		memcpy((double *) ix->y + (size_t) p * f, yi, sizeof(double) * f);
		ix->order[p] = byn[p].item;
		ix->norm[p] = byn[p].score;
		ix->block_norm[p] = (float) byn[p].score;
		for (int d = 0; d < f && ix->single; d++)
			blk[d * ALS_RANK_BLOCK + p % ALS_RANK_BLOCK] = (float) yi[d];
	}
	pfree(byn);
}

/*
 * Is the sign bit of every lane of m set?  (By pointer, as NonNegativeLanes.)
 */
static pg_attribute_always_inline bool
AllNegative(const VecU *mp)
{
	VecU		m = *mp;
	VecU8		h = __builtin_shufflevector(m, m, 0, 1, 2, 3, 4, 5, 6, 7) &
		__builtin_shufflevector(m, m, 8, 9, 10, 11, 12, 13, 14, 15);
	VecU4		q = __builtin_shufflevector(h, h, 0, 1, 2, 3) & __builtin_shufflevector(h, h, 4, 5, 6, 7);

	return ((q[0] & q[1] & q[2] & q[3]) >> 31) != 0;
}

/*
 * The lanes of d that are not negative (sign bit clear), as a 16-bit mask:
 * each lane's sign bit moved to its own position, ORed down to one lane
 * (generic vector comparisons would be taken apart lane by lane).  By
 * pointer: a vector argument's ABI would depend on the variant.
 */
static pg_attribute_always_inline uint32
NonNegativeLanes(const VecF *d)
{
	const VecU	shift = {31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16};
	VecU		m = ((VecU) *d >> 31) << (31 - shift);
	VecU8		h = __builtin_shufflevector(m, m, 0, 1, 2, 3, 4, 5, 6, 7) |
		__builtin_shufflevector(m, m, 8, 9, 10, 11, 12, 13, 14, 15);
	VecU4		q = __builtin_shufflevector(h, h, 0, 1, 2, 3) | __builtin_shufflevector(h, h, 4, 5, 6, 7);

	return ~(q[0] | q[1] | q[2] | q[3]) & 0xFFFF;
}

/*
 * The single-precision scores of the RANK_GROUP blocks from block b on
 * against the user's xf, each block's as two sums (even and odd
 * coordinates) so that the multiply-adds do not wait on one another.
 */
static pg_attribute_always_inline void
GroupScores(const AlsItemIndex *ix, int f, int b, const float *xf, VecF *s)
{
	const float *blk = ix->blocks + (size_t) b * ALS_RANK_BLOCK * f;
	VecF		even[RANK_GROUP] = {{0}},
				odd[RANK_GROUP] = {{0}};
	int			d = 0;

	for (; d + 2 <= f; d += 2)
		for (int g = 0; g < RANK_GROUP; g++)
		{
			const float *bg = blk + (size_t) g * ALS_RANK_BLOCK * f;

			even[g] += xf[d] * VLOADF(bg + d * ALS_RANK_BLOCK);
			odd[g] += xf[d + 1] * VLOADF(bg + (d + 1) * ALS_RANK_BLOCK);
		}
	for (; d < f; d++)
		for (int g = 0; g < RANK_GROUP; g++)
			even[g] += xf[d] * VLOADF(blk + (size_t) g * ALS_RANK_BLOCK * f + d * ALS_RANK_BLOCK);
	for (int g = 0; g < RANK_GROUP; g++)
		s[g] = even[g] + odd[g];
}

/*
 * Whether the item at position p is skipped: marked in skip (one user's
 * flags, NULL: none) or, for user bit of a batch, in bits (a mask of the
 * batch's users per item, NULL: none)
 */
static pg_attribute_always_inline bool
Skipped(const AlsItemIndex *ix, int p, const bool *skip, const uint64 *bits, uint64 bit)
{
	int32		item = ix->order[p];

	return (skip != NULL && skip[item]) || (bits != NULL && (bits[item] & bit) != 0);
}

/* Offer the exact score of the item at position p, as AlsDot computes it, unless skipped */
static pg_attribute_always_inline void
OfferPosition(const AlsItemIndex *ix, int f, int p, const double *x, const bool *skip,
			  const uint64 *bits, uint64 bit, TopK *t)
{
	if (Skipped(ix, p, skip, bits, bit))
		return;
	TopKOffer(t, ix->order[p], Dot(x, ix->y + (size_t) p * f, f));
}

/*
 * The search of one user in single precision: the candidates met so far
 * (positions whose upper bound reached the threshold when met) and the k
 * largest lower bounds of their scores, whose least is the threshold.  The
 * exact scores are computed at the end, for the candidates whose upper
 * bound reaches the final threshold, so that an item soon passed by
 * better ones costs no double-precision product.
 */
typedef struct RankSearch
{
	const double *x;
	double		nx;
	int			k;
	int			nlow;
	double	   *low;			/* a min-heap of the k largest lower bounds */
	int			n;
	int			cap;
	int32	   *cand;			/* candidate positions */
	double	   *high;			/* their upper bounds */
	bool		grown;			/* cand and high palloc'd, not the caller's */
} RankSearch;

/* The doubles RankSearchInit takes for k items: RANK_SPACE(k), RANK_CAP(k) candidates */
#define RANK_CAP(k) Max(64, 4 * (k))
#define RANK_SPACE(k) ((k) + 2 * RANK_CAP(k))

/* Start the search of the user of factor x (norm nx) for k items, in space (RANK_SPACE(k) doubles) */
static pg_attribute_always_inline void
RankSearchInit(RankSearch *r, const double *x, double nx, int k, double *space)
{
	r->x = x;
	r->nx = nx;
	r->k = k;
	r->nlow = 0;
	r->low = space;
	r->n = 0;
	r->cap = RANK_CAP(k);
	r->high = space + k;
	r->cand = (int32 *) (space + k + RANK_CAP(k));
	r->grown = false;
}

/* The threshold: the k-th largest lower bound, -infinity while fewer are known */
static pg_attribute_always_inline double
RankThreshold(const RankSearch *r)
{
	return r->nlow == r->k ? r->low[0] : -HUGE_VAL;
}

/* Keep a lower bound among the k largest */
static pg_attribute_always_inline void
KeepLow(RankSearch *r, double v)
{
	int			i;

	if (r->nlow < r->k)
	{
		for (i = r->nlow++; i > 0 && r->low[(i - 1) / 2] > v; i = (i - 1) / 2)
			r->low[i] = r->low[(i - 1) / 2];
		r->low[i] = v;
		return;
	}
	if (v <= r->low[0])
		return;
	for (i = 0;;)
	{
		int			c = 2 * i + 1;

		if (c >= r->nlow)
			break;
		if (c + 1 < r->nlow && r->low[c + 1] < r->low[c])
			c++;
		if (r->low[c] >= v)
			break;
		r->low[i] = r->low[c];
		i = c;
	}
	r->low[i] = v;
}

/* Room for one more candidate: those the threshold has since passed dropped, or more space */
static void
CandidateRoom(RankSearch *r)
{
	double		t = RankThreshold(r);
	int			m = 0;

	for (int i = 0; i < r->n; i++)
		if (r->high[i] >= t)
		{
			r->cand[m] = r->cand[i];
			r->high[m++] = r->high[i];
		}
	r->n = m;
	if (r->n * 2 > r->cap)
	{
		int32	   *cand = palloc_extended(sizeof(int32) * 2 * r->cap, MCXT_ALLOC_HUGE);
		double	   *high = palloc_extended(sizeof(double) * 2 * r->cap, MCXT_ALLOC_HUGE);

		memcpy(cand, r->cand, sizeof(int32) * r->n);
		memcpy(high, r->high, sizeof(double) * r->n);
		if (r->grown)
		{
			pfree(r->cand);
			pfree(r->high);
		}
		r->cand = cand;
		r->high = high;
		r->cap *= 2;
		r->grown = true;
	}
}

/*
 * The candidates of the group from position p0 on, whose single-precision
 * scores are s: an item not skipped whose score's upper bound, the score
 * plus eps |x| |y_i| + RANK_TINY, reaches the threshold (with the error of
 * the threshold in single precision for the quick test of every lane at
 * once) is kept, and its lower bound counted.  The threshold is taken
 * anew for each block and tested again for each lane.
 */
static pg_attribute_always_inline void
GroupCandidates(const AlsItemIndex *ix, int p0, const VecF *s, double eps, const bool *skip,
				const uint64 *bits, uint64 bit, RankSearch *r)
{
	float		nxe = (float) (eps * r->nx);

	if (r->nlow == r->k)
	{
		/* the usual case first: no lane of the group can reach the threshold */
		double		t = RankThreshold(r);
		float		floor_ = (float) t;
		float		slack = (float) (eps * fabs(t) + RANK_TINY);
		VecU		all = {0};

		all = ~all;
		for (int g = 0; g < RANK_GROUP; g++)
		{
			VecF		over = s[g] + (nxe * VLOADF(ix->block_norm + p0 + g * ALS_RANK_BLOCK) + slack) - floor_;

			all &= (VecU) over;
		}
		if (AllNegative(&all))
			return;
	}
	for (int g = 0; g < RANK_GROUP; g++)
	{
		int			b0 = p0 + g * ALS_RANK_BLOCK;
		double		t = RankThreshold(r);
		float		floor_ = (float) t;
		float		slack = r->nlow == r->k ? (float) (eps * fabs(t) + RANK_TINY) : 0;
		VecF		over = s[g] + (nxe * VLOADF(ix->block_norm + b0) + slack) - floor_;

		for (uint32 m = NonNegativeLanes(&over); m != 0; m &= m - 1)
		{
			int			p = b0 + __builtin_ctz(m);
			double		err = eps * r->nx * ix->norm[p] + RANK_TINY;
			double		high = (double) s[g][p - b0] + err;

			if (p >= ix->nitems || high < RankThreshold(r) || Skipped(ix, p, skip, bits, bit))
				continue;
			if (r->n == r->cap)
				CandidateRoom(r);
			r->cand[r->n] = p;
			r->high[r->n++] = high;
			KeepLow(r, (double) s[g][p - b0] - err);
		}
	}
}

/*
 * The ranking: the candidates whose upper bound reaches the final
 * threshold, scored exactly and ranked, into out; how many.  Every item
 * among the k best has an exact score at least the threshold (k
 * candidates do), so it is among them.
 */
static pg_attribute_always_inline int
RankSearchFinish(const AlsItemIndex *ix, int f, RankSearch *r, ItemScore *out)
{
	double		t = RankThreshold(r);
	TopK		top;

	TopKInit(&top, r->k, out);
	for (int i = 0; i < r->n; i++)
		if (r->high[i] >= t)
			TopKOffer(&top, ix->order[r->cand[i]], Dot(r->x, ix->y + (size_t) r->cand[i] * f, f));
	if (r->grown)
	{
		pfree(r->cand);
		pfree(r->high);
	}
	return TopKSorted(&top, out);
}

/*
 * Can no item from position p on reach the k-th best, for a user of norm
 * nx whose k-th best is at least t?  |x| |y_p| bounds them, with a margin
 * for rounding.
 */
static pg_attribute_always_inline bool
RankDone(const AlsItemIndex *ix, int p, double nx, double t)
{
	return nx * ix->norm[p] * (1 + 1e-9) < t;
}

/* The search of one user in double precision throughout (factors too large for single) */
static pg_attribute_always_inline int
RankDouble(const AlsItemIndex *ix, int f, const double *x, double nx, int k, const bool *skip,
		   const uint64 *bits, uint64 bit, ItemScore *out)
{
	TopK		t;

	TopKInit(&t, k, out);
	for (int p = 0; p < ix->nitems; p++)
	{
		if (t.n == k && RankDone(ix, p, nx, t.heap[0].score))
			break;
		OfferPosition(ix, f, p, x, skip, bits, bit, &t);
	}
	return TopKSorted(&t, out);
}

/*
 * The k items of highest x'y_i, skipping those marked in skip (NULL:
 * none), into out, best first; how many.  Items go by decreasing norm,
 * and the search stops once |x| |y_i| (which bounds x'y_i, with a margin
 * for rounding) falls below the k-th best score: popular items have the
 * large factors, so most users' best are among the first few hundred.
 * The items of a group of blocks are scored at once in single precision;
 * only those whose single-precision score, plus a bound of its error,
 * reaches the k-th largest lower bound of the scores are scored exactly,
 * in double precision as AlsDot does, and ranked (RankSearch), so the
 * ranking and its scores are exactly those of scoring every item in
 * double.  The error of a single-precision
 * score is below (f + 4) FLT_EPSILON |x| |y_i| (rounding the factors, and
 * f multiply-adds: Higham's bound), plus RANK_TINY for underflow.  A user
 * or items with factors too large for single precision are scored in
 * double throughout.
 */
static pg_attribute_always_inline int
AlsTopItemsImpl(const AlsItemIndex *ix, int f, const double *x, int k, const bool *skip,
				ItemScore *out)
{
	double		nx = sqrt(Dot(x, x, f));
	double		eps = (f + 4) * (double) FLT_EPSILON;
	int			group = ALS_RANK_BLOCK * RANK_GROUP;
	float		xf[ALS_MAX_FACTORS];
	double		small[RANK_SPACE(16)];
	double	   *space;
	RankSearch	r;
	int			n;

	if (!(ix->single && nx <= RANK_SINGLE_MAX))
		return RankDouble(ix, f, x, nx, k, skip, NULL, 0, out);
	for (int d = 0; d < f; d++)
		xf[d] = (float) x[d];
	space = k <= 16 ? small : palloc_extended(sizeof(double) * RANK_SPACE(k), MCXT_ALLOC_HUGE);
	RankSearchInit(&r, x, nx, k, space);
	/* (the group's first item has its largest norm) */
	for (int p0 = 0; p0 < ix->nitems && !RankDone(ix, p0, nx, RankThreshold(&r)); p0 += group)
	{
		VecF		s[RANK_GROUP];

		GroupScores(ix, f, p0 / ALS_RANK_BLOCK, xf, s);
		GroupCandidates(ix, p0, s, eps, skip, NULL, 0, &r);
	}
	n = RankSearchFinish(ix, f, &r, out);
	if (space != small)
		pfree(space);
	return n;
}

/* AlsTopItems, compiled apart for the common width of 32 factors (its loops unrolled) */
static pg_attribute_always_inline int
AlsTopItemsBody(const AlsItemIndex *ix, const double *x, int k, const bool *skip, ItemScore *out)
{
	return ix->factors == 32 ? AlsTopItemsImpl(ix, 32, x, k, skip, out) :
		AlsTopItemsImpl(ix, ix->factors, x, k, skip, out);
}

LINALG_KERNEL_LEVELS(AlsTopItems, int,
					 (const AlsItemIndex *ix, const double *x, int k, const bool *skip,
					  ItemScore *out),
					 (ix, x, k, skip, out))

/* The k best items of a user (AlsTopItemsBody), in the variant the CPU runs */
int
AlsTopItems(const AlsItemIndex *ix, const double *x, int k, const bool *skip, ItemScore *out)
{
	return LINALG_KERNEL_PICK_LEVEL(AlsTopItems) (ix, x, k, skip, out);
}

#define RANK_USERS 4			/* users scored together: the item factors loaded once for them */

/*
 * The single-precision scores of RANK_USERS users (their factors xf[u])
 * against the RANK_GROUP blocks from block b on, s[u][g]: each block's
 * coordinates are loaded once for the four.
 */
static pg_attribute_always_inline void
GroupScoresMany(const AlsItemIndex *ix, int f, int b, const float *const *xf,
				VecF s[RANK_USERS][RANK_GROUP])
{
	const float *blk = ix->blocks + (size_t) b * ALS_RANK_BLOCK * f;
	VecF		acc[RANK_USERS][RANK_GROUP] = {{{0}}};

	for (int d = 0; d < f; d++)
	{
		VecF		v[RANK_GROUP];

		for (int g = 0; g < RANK_GROUP; g++)
			v[g] = VLOADF(blk + (size_t) g * ALS_RANK_BLOCK * f + d * ALS_RANK_BLOCK);
		for (int u = 0; u < RANK_USERS; u++)
		{
			float		xu = xf[u][d];

			for (int g = 0; g < RANK_GROUP; g++)
				acc[u][g] += xu * v[g];
		}
	}
	memcpy(s, acc, sizeof(acc));
}

/*
 * The rankings of n users (at most ALS_RANK_BATCH) at once: AlsTopItems
 * for each, user b's k best into out + b * k and their number into
 * counts[b], bit b of bits[item] marking the items user b skips (bits
 * NULL: none).  The users go through the groups of items together, four
 * at a time against each group while it is in cache, each leaving once
 * its own search is done: the same rankings as one by one, with the item
 * factors streamed once per batch, not once per user.
 */
static pg_attribute_always_inline void
AlsTopItemsManyImpl(const AlsItemIndex *ix, int f, int n, const double *const *x, int k,
					const uint64 *bits, ItemScore *out, int *counts)
{
	double		eps = (f + 4) * (double) FLT_EPSILON;
	int			group = ALS_RANK_BLOCK * RANK_GROUP;
	float	   *xf = palloc(sizeof(float) * f * Max(n, 1));
	double	   *space = palloc_extended(sizeof(double) * RANK_SPACE(k) * Max(n, 1), MCXT_ALLOC_HUGE);
	RankSearch	r[ALS_RANK_BATCH];
	bool		searched[ALS_RANK_BATCH];
	int			live[ALS_RANK_BATCH];
	int			nlive = 0;

	for (int b = 0; b < n; b++)
	{
		double		nx = sqrt(Dot(x[b], x[b], f));

		searched[b] = ix->single && nx <= RANK_SINGLE_MAX;
		if (!searched[b])
		{
			counts[b] = RankDouble(ix, f, x[b], nx, k, NULL, bits, UINT64CONST(1) << b,
								   out + (size_t) b * k);
			continue;
		}
		for (int d = 0; d < f; d++)
			xf[(size_t) b * f + d] = (float) x[b][d];
		RankSearchInit(&r[b], x[b], nx, k, space + (size_t) b * RANK_SPACE(k));
		live[nlive++] = b;
	}
	for (int p0 = 0; p0 < ix->nitems && nlive > 0; p0 += group)
	{
		int			m = 0;

		/* (the group's first item has its largest norm) */
		for (int j = 0; j < nlive; j++)
			if (!RankDone(ix, p0, r[live[j]].nx, RankThreshold(&r[live[j]])))
				live[m++] = live[j];
		nlive = m;
		for (int j = 0; j < nlive; j += RANK_USERS)
		{
			VecF		s[RANK_USERS][RANK_GROUP];
			const float *xu[RANK_USERS];

			/* the last four may repeat a user: its scores are computed twice, used once */
			for (int u = 0; u < RANK_USERS; u++)
				xu[u] = xf + (size_t) live[Min(j + u, nlive - 1)] * f;
			GroupScoresMany(ix, f, p0 / ALS_RANK_BLOCK, xu, s);
			for (int u = 0; u < RANK_USERS && j + u < nlive; u++)
				GroupCandidates(ix, p0, s[u], eps, NULL, bits, UINT64CONST(1) << live[j + u],
								&r[live[j + u]]);
		}
	}
	for (int b = 0; b < n; b++)
		if (searched[b])
			counts[b] = RankSearchFinish(ix, f, &r[b], out + (size_t) b * k);
	pfree(xf);
	pfree(space);
}

/* AlsTopItemsMany, compiled apart for 32 factors */
static pg_attribute_always_inline void
AlsTopItemsManyBody(const AlsItemIndex *ix, int n, const double *const *x, int k,
					const uint64 *bits, ItemScore *out, int *counts)
{
	if (ix->factors == 32)
		AlsTopItemsManyImpl(ix, 32, n, x, k, bits, out, counts);
	else
		AlsTopItemsManyImpl(ix, ix->factors, n, x, k, bits, out, counts);
}

LINALG_KERNEL_LEVELS_VOID(AlsTopItemsMany,
						  (const AlsItemIndex *ix, int n, const double *const *x, int k,
						   const uint64 *bits, ItemScore *out, int *counts),
						  (ix, n, x, k, bits, out, counts))

/* The rankings of a batch of users (AlsTopItemsManyBody), in the variant the CPU runs */
void
AlsTopItemsMany(const AlsItemIndex *ix, int n, const double *const *x, int k, const uint64 *bits,
				ItemScore *out, int *counts)
{
	Assert(n <= ALS_RANK_BATCH);
	LINALG_KERNEL_PICK_LEVEL(AlsTopItemsMany) (ix, n, x, k, bits, out, counts);
}
