/*-------------------------------------------------------------------------
 * kmeans.c
 *	  k-means clustering over arrays: greedy k-means++ seeding (as
 *	  scikit-learn: 2 + floor(ln k) candidates per step, the one that lowers
 *	  the potential most kept), Lloyd's iterations accelerated by Hamerly's
 *	  bounds, the M-step that re-seeds empty clusters with the farthest
 *	  points, the assignment of a batch of rows for the streaming step, and
 *	  the mean silhouette of several clusterings of one sample.
 *
 * Lloyd with bounds gives the same assignments as plain Lloyd: a point's
 * distance to its own center is bounded above, its distance to every other
 * center below, and only points whose bounds cross are measured again.
 * The cluster sums follow the points that move, so an iteration that moves
 * few points costs little more than one pass over the bounds.  Distances
 * of many points to many centers come from one matrix product (|x|^2 +
 * |c|^2 - 2 x'c, through linalg.c); a point's distance to one center, and
 * every inertia, is computed directly.
 *
 * Iteration t assigns every point to its nearest center C_t, C_{t+1} are
 * the means of the clusters; the fit stops when the centers moved less
 * than the tolerance in total squared distance (scikit-learn's rule), and
 * a last assignment to the final centers gives the sizes and the inertia.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "kmeans.h"
#include "linalg.h"

#define PROGRESS_MS 5000
#define TILE_DOUBLES 65536		/* a tile of point-center products */
#define PENDING_ROWS 256		/* points gathered for a full measurement */
#define SILHOUETTE_BLOCK 64
#define MOVES_QUEUED 32
#define DIRECT_MAX_K 16			/* up to this k, points are measured directly, not by dgemm */
#define LANES8 8				/* up to this k, in the lanes of one vector */
#define FAR_LANE 1e100			/* a coordinate of the unused lanes' centers */
#define FAR_LANE_F 1e18f		/* ... in single precision (its square times d stays finite) */

/* Squared distance of two vectors, with four partial sums */
static inline double
Dist2(const double *a, const double *b, int d)
{
	double		s0 = 0,
				s1 = 0,
				s2 = 0,
				s3 = 0;
	int			j = 0;

	for (; j + 4 <= d; j += 4)
	{
		double		t0 = a[j] - b[j],
					t1 = a[j + 1] - b[j + 1],
					t2 = a[j + 2] - b[j + 2],
					t3 = a[j + 3] - b[j + 3];

		s0 += t0 * t0;
		s1 += t1 * t1;
		s2 += t2 * t2;
		s3 += t3 * t3;
	}
	for (; j < d; j++)
	{
		double		t = a[j] - b[j];

		s0 += t * t;
	}
	return (s0 + s1) + (s2 + s3);
}

/* Squared norm of a vector */
static inline double
Norm2(const double *a, int d)
{
	double		s = 0;

	for (int j = 0; j < d; j++)
		s += a[j] * a[j];
	return s;
}

/* Empty sums of an assignment to k centers in d dimensions */
void
KmeansSumsInit(KmeansSums *s, int k, int d)
{
	s->k = k;
	s->d = d;
	s->sum = palloc0(mul_size(sizeof(double), mul_size(k, d)));
	s->count = palloc0(sizeof(double) * k);
	s->capfar = Min(k, KMEANS_MAX_RELOCATE);
	s->far = palloc0(sizeof(KmeansFar) * s->capfar);
	s->farbuf = palloc0(sizeof(double) * s->capfar * Max(d, 1));
	for (int i = 0; i < s->capfar; i++)
		s->far[i].x = s->farbuf + (size_t) i * d;
	KmeansSumsReset(s);
}

/* Forget what was summed */
void
KmeansSumsReset(KmeansSums *s)
{
	memset(s->sum, 0, sizeof(double) * (size_t) s->k * s->d);
	memset(s->count, 0, sizeof(double) * s->k);
	s->inertia = 0;
	s->nfar = 0;
	s->test_inertia = 0;
	s->test_n = 0;
}

/*
 * Does a far point (dist2, x, cluster) come before entry f?  Farthest
 * first; ties by the values, then the cluster, so that the list is the
 * same whatever order the points arrive in.
 */
static bool
FarBefore(double dist2, const double *x, int cluster, const KmeansFar *f, int d)
{
	if (dist2 != f->dist2)
		return dist2 > f->dist2;
	for (int j = 0; j < d; j++)
		if (x[j] != f->x[j])
			return x[j] < f->x[j];
	return cluster < f->cluster;
}

/* Keep a point among the farthest if it is one of them */
void
KmeansFarOffer(KmeansSums *s, double dist2, int cluster, int64 row, const double *x)
{
	double	   *buf;
	int			i;

	if (s->capfar == 0 ||
		(s->nfar == s->capfar && !FarBefore(dist2, x, cluster, &s->far[s->nfar - 1], s->d)))
		return;
	if (s->nfar < s->capfar)
		s->nfar++;
	i = s->nfar - 1;
	buf = s->far[i].x;			/* the last entry's buffer: a free one, or the one dropped */
	while (i > 0 && FarBefore(dist2, x, cluster, &s->far[i - 1], s->d))
	{
		s->far[i] = s->far[i - 1];
		i--;
	}
	s->far[i].dist2 = dist2;
	s->far[i].cluster = cluster;
	s->far[i].row = row;
	s->far[i].x = buf;
	memcpy(buf, x, sizeof(double) * s->d);
}

/* Add src's sums to dst's; src is not modified */
void
KmeansSumsMerge(KmeansSums *dst, const KmeansSums *src)
{
	size_t		kd = (size_t) dst->k * dst->d;

	if (dst->k != src->k || dst->d != src->d)
		elog(ERROR, "cannot merge k-means sums of shapes %d x %d and %d x %d",
			 dst->k, dst->d, src->k, src->d);
	for (size_t i = 0; i < kd; i++)
		dst->sum[i] += src->sum[i];
	for (int c = 0; c < dst->k; c++)
		dst->count[c] += src->count[c];
	dst->inertia += src->inertia;
	dst->test_inertia += src->test_inertia;
	dst->test_n += src->test_n;
	for (int i = 0; i < src->nfar; i++)
		KmeansFarOffer(dst, src->far[i].dist2, src->far[i].cluster, src->far[i].row,
					   src->far[i].x);
}

/* Bytes KmeansSumsWrite writes for k centers, d dimensions and nfar far points */
Size
KmeansSumsBytes(int k, int d, int nfar)
{
	return sizeof(double) * ((Size) k * d + k + 3) + 4 +
		(Size) nfar * (sizeof(double) + 4 + sizeof(double) * d);
}

/* The sums as bytes (native doubles: states travel between processes of one server) */
void
KmeansSumsWrite(StringInfo buf, const KmeansSums *s)
{
	pq_sendbytes(buf, (const char *) s->sum, sizeof(double) * s->k * s->d);
	pq_sendbytes(buf, (const char *) s->count, sizeof(double) * s->k);
	pq_sendbytes(buf, (const char *) &s->inertia, sizeof(double));
	pq_sendbytes(buf, (const char *) &s->test_inertia, sizeof(double));
	pq_sendbytes(buf, (const char *) &s->test_n, sizeof(double));
	pq_sendint32(buf, s->nfar);
	for (int i = 0; i < s->nfar; i++)
	{
		pq_sendbytes(buf, (const char *) &s->far[i].dist2, sizeof(double));
		pq_sendint32(buf, s->far[i].cluster);
		pq_sendbytes(buf, (const char *) s->far[i].x, sizeof(double) * s->d);
	}
}

/* Refuse state bytes that no k-means pass wrote */
static void
SumsCorrupt(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid kmeans_step state: %s", why),
			 errhint("The state must come from profenrich.kmeans_step of the same version.")));
}

/* A non-negative finite number, or a corrupt state */
static void
CheckCount(double v, const char *what)
{
	if (!(v >= 0) || isinf(v))
		SumsCorrupt(what);
}

/*
 * Read what KmeansSumsWrite wrote into fresh sums of k x d, checking every
 * value a later M-step relies on (the caller checks the total length).
 */
void
KmeansSumsRead(StringInfo buf, KmeansSums *s, int k, int d)
{
	int			nfar;

	KmeansSumsInit(s, k, d);
	pq_copymsgbytes(buf, (char *) s->sum, sizeof(double) * k * d);
	pq_copymsgbytes(buf, (char *) s->count, sizeof(double) * k);
	pq_copymsgbytes(buf, (char *) &s->inertia, sizeof(double));
	pq_copymsgbytes(buf, (char *) &s->test_inertia, sizeof(double));
	pq_copymsgbytes(buf, (char *) &s->test_n, sizeof(double));
	for (size_t i = 0; i < (size_t) k * d; i++)
		if (!isfinite(s->sum[i]))
			SumsCorrupt("a cluster sum is not finite");
	for (int c = 0; c < k; c++)
		CheckCount(s->count[c], "a cluster count is not a count");
	CheckCount(s->inertia, "the inertia is out of range");
	CheckCount(s->test_inertia, "the test inertia is out of range");
	CheckCount(s->test_n, "the test row count is out of range");
	nfar = pq_getmsgint(buf, 4);
	if (nfar < 0 || nfar > s->capfar)
		SumsCorrupt("the number of far points is out of range");
	for (int i = 0; i < nfar; i++)
	{
		double		dist2;
		int			cluster;
		double	   *x = palloc(sizeof(double) * Max(d, 1));

		pq_copymsgbytes(buf, (char *) &dist2, sizeof(double));
		cluster = pq_getmsgint(buf, 4);
		pq_copymsgbytes(buf, (char *) x, sizeof(double) * d);
		CheckCount(dist2, "a far point's distance is out of range");
		if (cluster < 0 || cluster >= k)
			SumsCorrupt("a far point's cluster is out of range");
		for (int j = 0; j < d; j++)
			if (!isfinite(x[j]))
				SumsCorrupt("a far point is not finite");
		KmeansFarOffer(s, dist2, cluster, -1, x);
		pfree(x);
	}
}

/*
 * The convergence threshold on the total squared move of the centers: tol
 * times the mean variance of the d dimensions, as scikit-learn; for tol 0,
 * centers that no longer move but by rounding (1e-12 of a standard
 * deviation).
 */
double
KmeansTolerance(const double *var, int d, double tol)
{
	double		mean = 0;

	for (int j = 0; j < d; j++)
		mean += var[j] / d;
	return mean * (tol > 0 ? tol : 1e-24);
}

/*
 * The M-step: the next centers from an assignment's sums.  Each empty
 * cluster, in order, is re-seeded with the farthest point left that is
 * not alone in its cluster nor equal to a point already moved: the point
 * leaves its cluster's sums and becomes the empty cluster's center (as
 * scikit-learn does).  A cluster still empty (more empty clusters than far
 * points kept) keeps its center, *nleft counts them.  The moves (row, new
 * cluster) are reported for in-memory bookkeeping.  The sums are updated
 * in place; returns the total squared move of the centers.
 */
double
KmeansNextCenters(KmeansSums *s, const double *centers, double *next, int *nleft,
				  KmeansMove *moves, int *nmoves)
{
	int			k = s->k,
				d = s->d,
				at = 0,
				nused = 0;
	const double *used[KMEANS_MAX_RELOCATE];
	double		shift = 0;

	*nleft = 0;
	*nmoves = 0;
	for (int c = 0; c < k; c++)
	{
		bool		found = false;

		if (s->count[c] > 0)
			continue;
		while (at < s->nfar && !found)
		{
			KmeansFar  *f = &s->far[at++];
			bool		dup = false;

			if (s->count[f->cluster] <= 1 || !(f->dist2 > 0))
				continue;
			for (int u = 0; u < nused && !dup; u++)
				dup = memcmp(used[u], f->x, sizeof(double) * d) == 0;
			if (dup)
				continue;
			for (int j = 0; j < d; j++)
			{
				s->sum[(size_t) f->cluster * d + j] -= f->x[j];
				s->sum[(size_t) c * d + j] = f->x[j];
			}
			s->count[f->cluster] -= 1;
			s->count[c] = 1;
			used[nused++] = f->x;
			moves[*nmoves].row = f->row;
			moves[*nmoves].to = c;
			(*nmoves)++;
			found = true;
		}
		if (!found)
			(*nleft)++;
	}
	for (int c = 0; c < k; c++)
	{
		const double *old = centers + (size_t) c * d;
		double	   *nc = next + (size_t) c * d;

		if (s->count[c] > 0)
			for (int j = 0; j < d; j++)
				nc[j] = s->sum[(size_t) c * d + j] / s->count[c];
		else
			memcpy(nc, old, sizeof(double) * d);
		shift += Dist2(nc, old, d);
	}
	return shift;
}

/* Stop iterating: the centers moved less than the tolerance and no cluster is empty */
bool
KmeansStop(double shift, double tol, int nleft)
{
	return nleft == 0 && shift <= tol;
}

/* The first index whose running sum exceeds r (cum ascending, cum[m-1] > r) */
static int
SearchCumulative(const double *cum, int m, double r)
{
	int			lo = 0,
				hi = m - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (cum[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * Greedy k-means++ on m contiguous points: the first center uniformly at
 * random; then each step draws 2 + floor(ln k) candidates with probability
 * proportional to the squared distance to the nearest center so far and
 * keeps the one that lowers the total most.  Distances are computed
 * directly, so a point equal to a center is at distance 0 exactly: when
 * the potential falls to 0 before k centers, the points have only that
 * many distinct values.  Returns the number of centers chosen (k, or the
 * number of distinct points when fewer).
 */
int
KmeansPlusPlus(const double *x, int m, int d, int k, pg_prng_state *rng, double *centers)
{
	int			trials = 2 + (int) floor(log((double) k));
	double	   *closest = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * m);
	double	   *cum = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * m);
	double	   *cand = MemoryContextAllocHuge(CurrentMemoryContext,
											  sizeof(double) * (Size) m * trials);
	int			first = Min((int) (pg_prng_double(rng) * m), m - 1);
	int			chosen = 1;

	memcpy(centers, x + (size_t) first * d, sizeof(double) * d);
	for (int i = 0; i < m; i++)
		closest[i] = Dist2(x + (size_t) i * d, centers, d);
	for (; chosen < k; chosen++)
	{
		double		best_pot = 0;
		int			best = -1,
					idx[64];

		CHECK_FOR_INTERRUPTS();
		cum[0] = closest[0];
		for (int i = 1; i < m; i++)
			cum[i] = cum[i - 1] + closest[i];
		if (!(cum[m - 1] > 0))
			break;
		for (int t = 0; t < trials; t++)
			idx[t] = SearchCumulative(cum, m, pg_prng_double(rng) * cum[m - 1]);
		for (int t = 0; t < trials; t++)
		{
			const double *c = x + (size_t) idx[t] * d;
			double	   *row = cand + (size_t) t * m;
			double		pot = 0;

			for (int i = 0; i < m; i++)
			{
				row[i] = Min(closest[i], Dist2(x + (size_t) i * d, c, d));
				pot += row[i];
			}
			if (best < 0 || pot < best_pot)
			{
				best = t;
				best_pot = pot;
			}
		}
		memcpy(closest, cand + (size_t) best * m, sizeof(double) * m);
		memcpy(centers + (size_t) chosen * d, x + (size_t) idx[best] * d, sizeof(double) * d);
	}
	pfree(closest);
	pfree(cum);
	pfree(cand);
	return chosen;
}

/* The nearest of k centers to x (the first of equals), and its squared distance */
int
KmeansNearest(const double *x, const double *centers, int k, int d, double *dist2)
{
	int			best = 0;
	double		bd = Dist2(x, centers, d);

	for (int c = 1; c < k; c++)
	{
		double		v = Dist2(x, centers + (size_t) c * d, d);

		if (v < bd)
		{
			bd = v;
			best = c;
		}
	}
	if (dist2)
		*dist2 = bd;
	return best;
}

/*
 * One batch of the streaming step: rows (contiguous, standardized) are
 * assigned, for each of nruns runs (run r has run_k[r] centers from index
 * run_first[r] of centers), to the nearest center by x'c and |c|^2 (one
 * matrix product for all runs), and added to the run's sums: a training
 * row to its cluster's sum, count, inertia and far points, a test row
 * (test[i]) to the test inertia only.  dots has room for rows x ktotal.
 */
void
KmeansAssignBatch(const double *x, int rows, int d, const bool *test, const double *centers,
				  const double *cnorm, int ktotal, int nruns, const int *run_k,
				  const int *run_first, double *dots, KmeansSums *sums)
{
	LinalgGemmNT(rows, ktotal, d, x, d, centers, d, dots, ktotal);
	for (int i = 0; i < rows; i++)
	{
		const double *xi = x + (size_t) i * d;
		const double *di = dots + (size_t) i * ktotal;

		for (int r = 0; r < nruns; r++)
		{
			int			f = run_first[r],
						best = 0;
			double		bv = cnorm[f] - 2 * di[f],
						d2;
			KmeansSums *s = &sums[r];
			double	   *sum;

			for (int c = 1; c < run_k[r]; c++)
			{
				double		v = cnorm[f + c] - 2 * di[f + c];

				if (v < bv)
				{
					bv = v;
					best = c;
				}
			}
			d2 = Dist2(xi, centers + (size_t) (f + best) * d, d);
			if (test[i])
			{
				s->test_inertia += d2;
				s->test_n += 1;
				continue;
			}
			s->inertia += d2;
			s->count[best] += 1;
			sum = s->sum + (size_t) best * d;
			for (int j = 0; j < d; j++)
				sum[j] += xi[j];
			KmeansFarOffer(s, d2, best, -1, xi);
		}
	}
}

/* The per-point state of in-memory fits, and every point's squared norm */
void
KmeansWorkInit(KmeansWork *w, const KmeansPoints *p)
{
	int64		g = 0;
	Size		n = Max(p->n, 1);

	w->n = p->n;
	w->label = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * n);
	w->upper = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * n);
	w->lower = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * n);
	w->norm2 = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * n);
	for (int b = 0; b < p->nblocks; b++)
		for (int r = 0; r < p->rows[b]; r++)
			w->norm2[g++] = Norm2(p->block[b] + (size_t) r * p->ld, p->d);
	if (w->what == NULL)
		w->what = "k-means";
}

/* What an in-memory fit keeps between its passes */
typedef struct Fit
{
	const KmeansPoints *p;
	KmeansWork *w;
	int			k;
	int			d;
	double	   *centers;		/* C_t */
	double	   *cnorm;			/* |c|^2 */
	double	   *half;			/* half the distance to the nearest other center */
	double	   *shift;			/* how far each center moved at the last M-step */
	int			imax;			/* the center that moved most */
	double		m1;				/* its move */
	double		m2;				/* the largest move of the others */
	KmeansSums	sums;			/* of the current assignment, kept up to date */
	double	   *ct;				/* small k: d x k, the centers by slot; else NULL */
	double	   *ct8;			/* k <= 8: d x 8, the centers by slot in vector lanes */
	float	   *ct8f;			/* ... in single precision, with the points' copy */
	double		cmax;			/* the largest norm of a center */
	double		guard_a;		/* single-precision rounding allowances */
	double		guard_b;
	double	   *acc;			/* k */
	double	   *dots;			/* PENDING_ROWS x k, or a tile */
	double	   *gather;			/* PENDING_ROWS x d */
	int64		pend_row[PENDING_ROWS];
	const double *pend_x[PENDING_ROWS];
	int			npend;
	/* moves whose sums wait for their rows (fetched meanwhile) */
	const double *moved_x[MOVES_QUEUED];
	int			moved_from[MOVES_QUEUED];
	int			moved_to[MOVES_QUEUED];
	int			nmoved;
} Fit;

/*
 * A lower bound on a distance from its square computed as |x|^2 + |c|^2 -
 * 2 x'c, allowing for that sum's rounding
 */
static inline double
LowerFromExpansion(double d2, double xn, double cn)
{
	return sqrt(Max(d2 - 1e-13 * (xn + cn), 0.0));
}

/*
 * Norms of the centers, half the distance of each to its nearest other,
 * and for small k the centers by slot
 */
static void
CenterGeometry(Fit *f)
{
	int			k = f->k;
	double	   *g = palloc(sizeof(double) * k * k);

	for (int c = 0; c < k; c++)
		f->cnorm[c] = Norm2(f->centers + (size_t) c * f->d, f->d);
	LinalgGemmNT(k, k, f->d, f->centers, f->d, f->centers, f->d, g, k);
	for (int c = 0; c < k; c++)
	{
		double		best = get_float8_infinity();

		for (int o = 0; o < k; o++)
			if (o != c)
				best = Min(best, LowerFromExpansion(f->cnorm[c] + f->cnorm[o] - 2 * g[c * k + o],
													f->cnorm[c], f->cnorm[o]));
		f->half[c] = 0.5 * best;
	}
	if (f->ct)
		for (int c = 0; c < k; c++)
			for (int j = 0; j < f->d; j++)
				f->ct[j * k + c] = f->centers[(size_t) c * f->d + j];
	if (f->ct8)
		for (int j = 0; j < f->d; j++)
			for (int c = 0; c < LANES8; c++)
				f->ct8[j * LANES8 + c] = c < k ? f->centers[(size_t) c * f->d + j] : FAR_LANE;
	if (f->ct8f)
	{
		f->cmax = 0;
		for (int c = 0; c < k; c++)
			f->cmax = Max(f->cmax, sqrt(f->cnorm[c]));
		for (int j = 0; j < f->d; j++)
			for (int c = 0; c < LANES8; c++)
				f->ct8f[j * LANES8 + c] = c < k ? (float) f->centers[(size_t) c * f->d + j] : FAR_LANE_F;
	}
	pfree(g);
}

/*
 * Squared distances of x to k centers stored by slot (ct, d x k), summed
 * slot by slot: the loop over the centers runs in vector registers.
 * Inlined into the variants of AssignBounded, its only caller, so compiled
 * for each of them.
 */
static pg_attribute_always_inline void
DistancesBySlot(const double *restrict x, const double *restrict ct, int k, int d,
				double *restrict acc)
{
	double		a0[DIRECT_MAX_K] = {0},
				a1[DIRECT_MAX_K] = {0};
	int			j = 0;

	/* two sums, even and odd slots, so that the additions do not wait on each other */
	for (; j + 2 <= d; j += 2)
	{
		double		t0 = x[j],
					t1 = x[j + 1];
		const double *r0 = ct + (size_t) j * k,
				   *r1 = r0 + k;

		for (int c = 0; c < k; c++)
		{
			double		u0 = t0 - r0[c],
						u1 = t1 - r1[c];

			a0[c] += u0 * u0;
			a1[c] += u1 * u1;
		}
	}
	if (j < d)
		for (int c = 0; c < k; c++)
		{
			double		u = x[j] - ct[(size_t) j * k + c];

			a0[c] += u * u;
		}
	for (int c = 0; c < k; c++)
		acc[c] = a0[c] + a1[c];
}

/*
 * Eight doubles in one vector (an AVX-512 register, two AVX2 ones), loaded
 * and stored without alignment; for up to eight centers the distances of a
 * point stay in registers from their sums to the choice of the nearest two.
 */
typedef double V8d __attribute__((vector_size(64), aligned(8)));
typedef int64 V8l __attribute__((vector_size(64), aligned(8)));

typedef float V8f __attribute__((vector_size(32), aligned(4)));
typedef int32 V8i __attribute__((vector_size(32), aligned(4)));

#if defined(__GNUC__) && !defined(__clang__)
#define SHUFFLE8(v, it, a, b, c, d, e, f, g, h) __builtin_shuffle(v, (it) {a, b, c, d, e, f, g, h})
#else
#define SHUFFLE8(v, it, a, b, c, d, e, f, g, h) __builtin_shufflevector(v, v, a, b, c, d, e, f, g, h)
#endif

/*
 * Lane by lane, the smaller of a and b, for vectors of type vt with lanes
 * of the integer vector type it (macros rather than functions: a wide
 * vector passed as an argument would depend on the instruction set)
 */
#define V8MIN(a, b, vt, it) ((vt) ((((it) ((a) < (b))) & (it) (a)) | (~((it) ((a) < (b))) & (it) (b))))

/* Every lane of v: its smallest lane */
#define V8ALLMIN(v, vt, it) \
	do { \
		(v) = V8MIN(v, SHUFFLE8(v, it, 4, 5, 6, 7, 0, 1, 2, 3), vt, it); \
		(v) = V8MIN(v, SHUFFLE8(v, it, 2, 3, 0, 1, 6, 7, 4, 5), vt, it); \
		(v) = V8MIN(v, SHUFFLE8(v, it, 1, 0, 3, 2, 5, 4, 7, 6), vt, it); \
	} while (0)

/* The first lane of v holding its smallest value (index), and that value (min) */
#define V8ARGMIN(v, vt, it, index, min) \
	do { \
		const it	lane_ = {0, 1, 2, 3, 4, 5, 6, 7}; \
		const it	none_ = {LANES8, LANES8, LANES8, LANES8, LANES8, LANES8, LANES8, LANES8}; \
		vt			m_ = (v); \
		it			eq_, \
					at_; \
		\
		V8ALLMIN(m_, vt, it); \
		eq_ = (it) ((v) == m_); \
		at_ = (eq_ & lane_) | (~eq_ & none_); \
		V8ALLMIN(at_, it, it); \
		(index) = (int) at_[0]; \
		(min) = m_[0]; \
	} while (0)

/* v with lane index set to inf */
#define V8DROP(v, vt, it, index, inf) \
	do { \
		const it	lane_ = {0, 1, 2, 3, 4, 5, 6, 7}; \
		it			own_ = (it) (lane_ == (it) {0} + (index)); \
		vt			inf_ = (vt) {0} + (inf); \
		\
		(v) = (vt) ((own_ & (it) inf_) | (~own_ & (it) (v))); \
	} while (0)

/*
 * Squared distances of x to up to eight centers stored by slot in lanes
 * (ct8: d x 8, unused lanes far away), and the nearest and second nearest
 */
static pg_attribute_always_inline void
Nearest8(const double *x, const double *ct8, int d, int *best, double *d1, int *second, double *d2)
{
	V8d			a0 = {0},
				a1 = {0};
	int			j = 0;

	for (; j + 2 <= d; j += 2)
	{
		V8d			u0 = x[j] - *(const V8d *) (ct8 + (size_t) j * LANES8);
		V8d			u1 = x[j + 1] - *(const V8d *) (ct8 + (size_t) (j + 1) * LANES8);

		a0 += u0 * u0;
		a1 += u1 * u1;
	}
	if (j < d)
	{
		V8d			u = x[j] - *(const V8d *) (ct8 + (size_t) j * LANES8);

		a0 += u * u;
	}
	a0 += a1;
	V8ARGMIN(a0, V8d, V8l, *best, *d1);
	V8DROP(a0, V8d, V8l, *best, get_float8_infinity());
	V8ARGMIN(a0, V8d, V8l, *second, *d2);
}

/* Nearest8 in single precision */
static pg_attribute_always_inline void
Nearest8f(const float *x, const float *ct8, int d, int *best, float *d1, int *second, float *d2)
{
	V8f			a0 = {0},
				a1 = {0};
	int			j = 0;

	for (; j + 2 <= d; j += 2)
	{
		V8f			u0 = x[j] - *(const V8f *) (ct8 + (size_t) j * LANES8);
		V8f			u1 = x[j + 1] - *(const V8f *) (ct8 + (size_t) (j + 1) * LANES8);

		a0 += u0 * u0;
		a1 += u1 * u1;
	}
	if (j < d)
	{
		V8f			u = x[j] - *(const V8f *) (ct8 + (size_t) j * LANES8);

		a0 += u * u;
	}
	a0 += a1;
	V8ARGMIN(a0, V8f, V8i, *best, *d1);
	V8DROP(a0, V8f, V8i, *best, HUGE_VALF);
	V8ARGMIN(a0, V8f, V8i, *second, *d2);
}

/* Move point g (values x) from its cluster to cluster to in the running sums */
static inline void
MovePoint(Fit *f, int64 g, const double *x, int to)
{
	int			from = f->w->label[g];
	double	   *a = f->sums.sum + (size_t) from * f->d,
			   *b = f->sums.sum + (size_t) to * f->d;

	for (int j = 0; j < f->d; j++)
	{
		a[j] -= x[j];
		b[j] += x[j];
	}
	f->sums.count[from] -= 1;
	f->sums.count[to] += 1;
	f->w->label[g] = to;
}

static inline void PrefetchRow(const double *x, int d);

/*
 * Add the queued moves to the running sums, in their order.  The rows of
 * the moved points are cache misses (they were measured on their single-
 * precision copies): all are fetched first, so that the misses overlap
 * rather than each stalling the measurement that found its move.
 */
static void
FlushMoves(Fit *f)
{
	for (int i = 0; i < f->nmoved; i++)
		PrefetchRow(f->moved_x[i], f->d);
	for (int i = 0; i < f->nmoved; i++)
	{
		double	   *a = f->sums.sum + (size_t) f->moved_from[i] * f->d,
				   *b = f->sums.sum + (size_t) f->moved_to[i] * f->d;
		const double *x = f->moved_x[i];

		for (int j = 0; j < f->d; j++)
		{
			a[j] -= x[j];
			b[j] += x[j];
		}
	}
	f->nmoved = 0;
}

/*
 * MovePoint for a point whose row was not read (measured on its single-
 * precision copy): the label and counts at once, the sums at the next
 * FlushMoves.
 */
static inline void
QueueMove(Fit *f, int64 g, const double *x, int to)
{
	int			from = f->w->label[g];

	f->sums.count[from] -= 1;
	f->sums.count[to] += 1;
	f->w->label[g] = to;
	f->moved_x[f->nmoved] = x;
	f->moved_from[f->nmoved] = from;
	f->moved_to[f->nmoved++] = to;
	if (f->nmoved == MOVES_QUEUED)
		FlushMoves(f);
}

/*
 * Measure rows of x (stride ld; point indices from g0, or rowids) against
 * every center: the nearest becomes the label and its exact distance the
 * upper bound, the second nearest the lower bound.  With init, the points
 * have no label yet and are added to the sums.
 */
static void
MeasureRows(Fit *f, const double *x, int rows, int ld, int64 g0, const int64 *rowids, bool init)
{
	int			k = f->k,
				d = f->d;

	LinalgGemmNT(rows, k, d, x, ld, f->centers, d, f->dots, k);
	for (int i = 0; i < rows; i++)
	{
		int64		g = rowids ? rowids[i] : g0 + i;
		const double *xi = rowids ? f->pend_x[i] : x + (size_t) i * ld;
		const double *di = f->dots + (size_t) i * k;
		double		xn = f->w->norm2[g],
					b1 = get_float8_infinity(),
					b2 = b1;
		int			best = 0,
					second = 0;

		for (int c = 0; c < k; c++)
		{
			double		v = xn + f->cnorm[c] - 2 * di[c];

			if (v < b1)
			{
				b2 = b1;
				second = best;
				b1 = v;
				best = c;
			}
			else if (v < b2)
			{
				b2 = v;
				second = c;
			}
		}
		if (init)
		{
			double	   *s = f->sums.sum + (size_t) best * d;

			for (int j = 0; j < d; j++)
				s[j] += xi[j];
			f->sums.count[best] += 1;
			f->w->label[g] = best;
		}
		else if (f->w->label[g] != best)
			MovePoint(f, g, xi, best);
		f->w->upper[g] = sqrt(Dist2(xi, f->centers + (size_t) best * d, d));
		f->w->lower[g] = LowerFromExpansion(b2, xn, f->cnorm[second]);
	}
}

/*
 * Measure point g against every center directly (small k): label, and the
 * exact distances to the nearest and the second nearest as its bounds
 */
static pg_attribute_always_inline void
MeasureDirect(Fit *f, int64 g, const double *x)
{
	int			k = f->k,
				best = 0,
				second = -1;
	double	   *acc = f->acc;
	double		b1,
				b2;

	if (f->ct8)
	{
		Nearest8(x, f->ct8, f->d, &best, &b1, &second, &b2);
		/* an unused lane only wins when the distances overflow: then measure by slot */
		if (best < k && second < k)
		{
			if (f->w->label[g] != best)
				MovePoint(f, g, x, best);
			f->w->upper[g] = sqrt(b1);
			f->w->lower[g] = sqrt(b2);
			return;
		}
		best = 0;
	}
	DistancesBySlot(x, f->ct, k, f->d, acc);
	b1 = acc[0];
	for (int c = 1; c < k; c++)
	{
		bool		lt = acc[c] < b1;

		best = lt ? c : best;
		b1 = lt ? acc[c] : b1;
	}
	second = best == 0 ? 1 : 0;
	b2 = acc[second];
	for (int c = 0; c < k; c++)
	{
		bool		lt = c != best && acc[c] < b2;

		second = lt ? c : second;
		b2 = lt ? acc[c] : b2;
	}
	if (f->w->label[g] != best)
		MovePoint(f, g, x, best);
	f->w->upper[g] = sqrt(acc[best]);
	f->w->lower[g] = sqrt(acc[second]);
}

/*
 * MeasureDirect on the single-precision copy of the point (xf), half the
 * bytes to read.  The rounding of the copy, of the centers and of the sums
 * moves a distance by at most a + b x distance (a from the norms of the
 * point and the largest center, b from the number of slots, both taken
 * four times larger than the analysis gives): when the nearest center is
 * nearer than the second by more than both allowances, it is the nearest
 * in double precision too, and the bounds widen by them; otherwise (a near
 * tie) the point is measured in double precision.
 */
static pg_attribute_always_inline void
MeasureSingle(Fit *f, int64 g, const double *x, const float *xf)
{
	int			best,
				second;
	float		s1,
				s2;
	double		d1,
				d2,
				a,
				e1,
				e2;

	Nearest8f(xf, f->ct8f, f->d, &best, &s1, &second, &s2);
	d1 = sqrt((double) s1);
	d2 = sqrt((double) s2);
	a = f->guard_a * ((double) f->w->xnorm[g] + f->cmax);
	e1 = a + f->guard_b * d1;
	e2 = a + f->guard_b * d2;
	if (!(d2 - e2 > d1 + e1) || best >= f->k)
	{
		MeasureDirect(f, g, x);
		return;
	}
	if (f->w->label[g] != best)
		QueueMove(f, g, x, best);
	f->w->upper[g] = d1 + e1;
	f->w->lower[g] = d2 - e2;
}

/* Measure the gathered points against every center */
static void
FlushPending(Fit *f)
{
	if (f->npend == 0)
		return;
	for (int i = 0; i < f->npend; i++)
		memcpy(f->gather + (size_t) i * f->d, f->pend_x[i], sizeof(double) * f->d);
	MeasureRows(f, f->gather, f->npend, f->d, 0, f->pend_row, false);
	f->npend = 0;
}

/* The first assignment: every point measured against every center, in tiles */
static void
AssignAll(Fit *f)
{
	const KmeansPoints *p = f->p;
	int			tile = Max(1, Min(TILE_DOUBLES / f->k, PENDING_ROWS));
	int64		g = 0;

	KmeansSumsReset(&f->sums);
	for (int b = 0; b < p->nblocks; b++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < p->rows[b]; r += tile)
		{
			int			rows = Min(tile, p->rows[b] - r);

			MeasureRows(f, p->block[b] + (size_t) r * p->ld, rows, p->ld, g, NULL, true);
			g += rows;
		}
	}
}

/*
 * Measure point g (values x) whose bounds cross: its distance to its own
 * center first, and if the bounds still cross, to every center.
 */
static pg_attribute_always_inline void
MeasureCrossing(Fit *f, int64 g, const double *x, double bound)
{
	KmeansWork *w = f->w;
	double		u;

	if (f->ct8f)
	{
		/* up to eight centers, measuring all costs about what the own one and a branch do */
		MeasureSingle(f, g, x, w->xf + (size_t) g * f->d);
		return;
	}
	u = sqrt(Dist2(x, f->centers + (size_t) w->label[g] * f->d, f->d));
	w->upper[g] = u;
	if (u <= bound)
		return;
	if (f->ct)
	{
		MeasureDirect(f, g, x);
		return;
	}
	f->pend_row[f->npend] = g;
	f->pend_x[f->npend++] = x;
	if (f->npend == PENDING_ROWS)
		FlushPending(f);
}

#define PREFETCH_AHEAD 8

/* Fetch a row's cache lines ahead of its use */
static inline void
PrefetchRow(const double *x, int d)
{
	for (int j = 0; j < d; j += 8)
		__builtin_prefetch(x + j);
	__builtin_prefetch(x + d - 1);
}

/* The same for a single-precision row */
static inline void
PrefetchSingle(const float *x, int d)
{
	for (int j = 0; j < d; j += 16)
		__builtin_prefetch(x + j);
	__builtin_prefetch(x + d - 1);
}

/*
 * An assignment with Hamerly's bounds: each bound first follows the last
 * moves of the centers (the own center's move up, the largest other move
 * down); a point whose upper bound is within both half the distance from
 * its center to the nearest other and its lower bound keeps its cluster;
 * else its distance to its center is measured, and if the bounds still
 * cross, its distance to every center.  Per block, the bounds are updated
 * first and the points to measure listed, then measured with their rows
 * fetched ahead: the rows are the cache misses of an iteration.  Compiled
 * for x86-64-v4, v3 and the baseline (LINALG_KERNEL_LEVELS_VOID, linalg.h).
 */
static pg_attribute_always_inline void
AssignBoundedBody(Fit *f)
{
	const KmeansPoints *p = f->p;
	KmeansWork *w = f->w;
	int			maxrows = 0;
	int		   *list;
	int64		g0 = 0;

	for (int b = 0; b < p->nblocks; b++)
		maxrows = Max(maxrows, p->rows[b]);
	list = palloc(sizeof(int) * Max(maxrows, 1));
	for (int b = 0; b < p->nblocks; b++)
	{
		const double *base = p->block[b];
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < p->rows[b]; r++)
		{
			int64		g = g0 + r;
			int			a = w->label[g];
			double		u = w->upper[g] + f->shift[a];
			double		l = w->lower[g] - (a == f->imax ? f->m2 : f->m1);

			w->upper[g] = u;
			w->lower[g] = l;
			list[n] = r;
			n += u > Max(f->half[a], l);	/* without a branch: the outcome is a coin flip */
		}
		for (int i = 0; i < n; i++)
		{
			int64		g = g0 + list[i];

			if (i + PREFETCH_AHEAD < n && f->ct8f)
				PrefetchSingle(w->xf + (size_t) (g0 + list[i + PREFETCH_AHEAD]) * p->d, p->d);
			else if (i + PREFETCH_AHEAD < n)
				PrefetchRow(base + (size_t) list[i + PREFETCH_AHEAD] * p->ld, p->d);
			MeasureCrossing(f, g, base + (size_t) list[i] * p->ld,
							Max(f->half[w->label[g]], w->lower[g]));
		}
		g0 += p->rows[b];
	}
	FlushPending(f);
	FlushMoves(f);
	pfree(list);
}

LINALG_KERNEL_LEVELS_VOID(AssignBounded, (Fit *f), (f))

/* AssignBoundedBody in the variant the CPU runs, picked at the first call */
static void
AssignBounded(Fit *f)
{
	LINALG_KERNEL_PICK_LEVEL(AssignBounded) (f);
}

/* Offer every point to the far list: the exact distance to its center */
static void
FindFarPoints(Fit *f)
{
	const KmeansPoints *p = f->p;
	int64		g = 0;

	f->sums.nfar = 0;
	for (int b = 0; b < p->nblocks; b++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < p->rows[b]; r++, g++)
		{
			const double *x = p->block[b] + (size_t) r * p->ld;
			int			a = f->w->label[g];

			KmeansFarOffer(&f->sums, Dist2(x, f->centers + (size_t) a * f->d, f->d), a, g, x);
		}
	}
}

/* The inertia of the current labels at the current centers */
static double
LabelInertia(const Fit *f)
{
	const KmeansPoints *p = f->p;
	int64		g = 0;
	double		inertia = 0;

	for (int b = 0; b < p->nblocks; b++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < p->rows[b]; r++, g++)
			inertia += Dist2(p->block[b] + (size_t) r * p->ld,
							 f->centers + (size_t) f->w->label[g] * f->d, f->d);
	}
	return inertia;
}

/*
 * The M-step of an in-memory fit: next centers (re-seeding empty clusters),
 * each center's move and the two largest, the labels of moved points.
 * Returns the total squared move; *nleft as KmeansNextCenters, *nmoved the
 * points moved into empty clusters.
 */
static double
UpdateCenters(Fit *f, double *next, int *nleft, int *nmoved)
{
	KmeansMove	moves[KMEANS_MAX_RELOCATE];
	int			nmoves;
	double		total;

	for (int c = 0; c < f->k; c++)
		if (f->sums.count[c] == 0)
		{
			FindFarPoints(f);
			break;
		}
	total = KmeansNextCenters(&f->sums, f->centers, next, nleft, moves, &nmoves);
	f->imax = 0;
	f->m1 = f->m2 = 0;
	for (int c = 0; c < f->k; c++)
	{
		f->shift[c] = sqrt(Dist2(next + (size_t) c * f->d, f->centers + (size_t) c * f->d, f->d));
		if (f->shift[c] > f->m1)
		{
			f->m2 = f->m1;
			f->m1 = f->shift[c];
			f->imax = c;
		}
		else if (f->shift[c] > f->m2)
			f->m2 = f->shift[c];
	}
	/* a moved point is its new cluster's center: its bounds after the move are 0 */
	for (int i = 0; i < nmoves; i++)
	{
		f->w->label[moves[i].row] = moves[i].to;
		f->w->upper[moves[i].row] = -f->shift[moves[i].to];
		f->w->lower[moves[i].row] = 0;
	}
	*nmoved = nmoves;
	return total;
}

/* A NOTICE every few seconds on a long fit: iteration and inertia */
static void
FitProgress(const Fit *f, int iteration, TimestampTz *last)
{
	if (!TimestampDifferenceExceeds(*last, GetCurrentTimestamp(), PROGRESS_MS))
		return;
	ereport(NOTICE,
			(errmsg("profenrich: %s, iteration %d, inertia %.8g",
					f->w->what, iteration, LabelInertia(f))));
	*last = GetCurrentTimestamp();
}

/*
 * For up to eight centers the points are measured on a single-precision
 * copy, made once for every run: the rounding allowances of MeasureSingle.
 */
static void
SingleSetup(Fit *f)
{
	const KmeansPoints *p = f->p;
	KmeansWork *w = f->w;

	if (w->xf == NULL)
	{
		MemoryContext cxt = GetMemoryChunkContext(w->label);
		int64		g = 0;

		w->xf = MemoryContextAllocHuge(cxt, sizeof(float) * Max((Size) p->n * p->d, 1));
		w->xnorm = MemoryContextAllocHuge(cxt, sizeof(float) * Max(p->n, 1));
		for (int b = 0; b < p->nblocks; b++)
		{
			CHECK_FOR_INTERRUPTS();
			for (int r = 0; r < p->rows[b]; r++, g++)
			{
				const double *x = p->block[b] + (size_t) r * p->ld;

				for (int j = 0; j < p->d; j++)
					w->xf[g * p->d + j] = (float) x[j];
				w->xnorm[g] = (float) (sqrt(w->norm2[g]) * (1 + 1e-6));
			}
		}
	}
	f->ct8f = palloc(sizeof(float) * LANES8 * f->d);
	f->guard_a = 4 * FLT_EPSILON;
	f->guard_b = 4 * (f->d + 4) * FLT_EPSILON;
}

/*
 * One in-memory fit from initial centers: Lloyd's iterations with
 * Hamerly's bounds until the centers move less than tol (total squared
 * move) or max_iter iterations, then the assignment to the final centers.
 */
void
KmeansLloyd(const KmeansPoints *p, int k, const double *init, int max_iter, double tol,
			KmeansWork *w, KmeansRun *out)
{
	Fit			f;
	int			d = p->d;
	double	   *next = palloc(sizeof(double) * k * d);
	double		total = 1;
	int			nleft = 0,
				nmoved = 0,
				it;
	TimestampTz last = GetCurrentTimestamp();

	memset(&f, 0, sizeof(f));
	f.p = p;
	f.w = w;
	f.k = k;
	f.d = d;
	f.centers = palloc(sizeof(double) * k * d);
	memcpy(f.centers, init, sizeof(double) * k * d);
	f.cnorm = palloc(sizeof(double) * k);
	f.half = palloc(sizeof(double) * k);
	f.shift = palloc0(sizeof(double) * k);
	f.dots = palloc(sizeof(double) * Max(TILE_DOUBLES, PENDING_ROWS * k));
	f.gather = palloc(sizeof(double) * PENDING_ROWS * d);
	f.acc = palloc(sizeof(double) * k);
	f.ct = k <= DIRECT_MAX_K ? palloc(sizeof(double) * k * d) : NULL;
	f.ct8 = k <= LANES8 ? palloc(sizeof(double) * LANES8 * d) : NULL;
	if (k <= LANES8)
		SingleSetup(&f);
	KmeansSumsInit(&f.sums, k, d);
	out->converged = false;
	out->reseeded = 0;
	for (it = 0; it < max_iter; it++)
	{
		double	   *t;

		CHECK_FOR_INTERRUPTS();
		CenterGeometry(&f);
		if (it == 0)
			AssignAll(&f);
		else
			AssignBounded(&f);
		total = UpdateCenters(&f, next, &nleft, &nmoved);
		out->reseeded += nmoved;
		t = f.centers;
		f.centers = next;
		next = t;
		FitProgress(&f, it + 1, &last);
		if (KmeansStop(total, tol, nleft))
		{
			out->converged = true;
			it++;
			break;
		}
	}
	/* the assignment to the final centers, unless they are those of the last one */
	if (total > 0 || nmoved > 0)
	{
		CenterGeometry(&f);
		AssignBounded(&f);
	}
	out->k = k;
	out->d = d;
	out->iterations = it;
	out->centers = f.centers;
	out->sizes = palloc(sizeof(double) * k);
	memcpy(out->sizes, f.sums.count, sizeof(double) * k);
	out->inertia = LabelInertia(&f);
	pfree(next);
	pfree(f.cnorm);
	pfree(f.half);
	pfree(f.shift);
	pfree(f.dots);
	pfree(f.gather);
}

/* The inertia of points assigned to their nearest of k centers, and how many */
double
KmeansInertiaOf(const KmeansPoints *p, const double *centers, int k, double *n)
{
	double		inertia = 0;

	*n = 0;
	for (int b = 0; b < p->nblocks; b++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < p->rows[b]; r++)
		{
			double		d2;

			KmeansNearest(p->block[b] + (size_t) r * p->ld, centers, k, p->d, &d2);
			inertia += d2;
			*n += 1;
		}
	}
	return inertia;
}

/*
 * The mean silhouette of ncand clusterings (labels[c][i] in 0..k[c]-1) of
 * the same m points, as scikit-learn's silhouette_score: for each point,
 * a = mean distance to the other points of its cluster, b = the smallest
 * mean distance to the points of another cluster, s = (b - a) / max(a, b),
 * 0 for a point alone in its cluster.  The Euclidean distances are
 * computed once, a block of rows at a time, for every clustering.  NaN for
 * a clustering with fewer than two clusters among the points.
 */
void
KmeansSilhouette(const double *x, int m, int d, int ncand, int *const *labels, const int *k,
				 double *silhouette)
{
	double	   *norm = palloc(sizeof(double) * m);
	double	   *dist = MemoryContextAllocHuge(CurrentMemoryContext,
											  sizeof(double) * (Size) SILHOUETTE_BLOCK * m);
	int			kmax = 0;
	double	  **size = palloc(sizeof(double *) * ncand);
	double	   *acc;

	for (int c = 0; c < ncand; c++)
		kmax = Max(kmax, k[c]);
	acc = palloc(sizeof(double) * kmax);
	for (int i = 0; i < m; i++)
		norm[i] = Norm2(x + (size_t) i * d, d);
	for (int c = 0; c < ncand; c++)
	{
		size[c] = palloc0(sizeof(double) * k[c]);
		for (int i = 0; i < m; i++)
			size[c][labels[c][i]] += 1;
		silhouette[c] = 0;
	}
	for (int i0 = 0; i0 < m; i0 += SILHOUETTE_BLOCK)
	{
		int			rows = Min(SILHOUETTE_BLOCK, m - i0);

		CHECK_FOR_INTERRUPTS();
		LinalgGemmNT(rows, m, d, x + (size_t) i0 * d, d, x, d, dist, m);
		for (int i = 0; i < rows; i++)
		{
			double	   *di = dist + (size_t) i * m;

			for (int j = 0; j < m; j++)
				di[j] = sqrt(Max(norm[i0 + i] + norm[j] - 2 * di[j], 0.0));
			di[i0 + i] = 0;
		}
		for (int c = 0; c < ncand; c++)
		{
			const int  *lab = labels[c];

			for (int i = 0; i < rows; i++)
			{
				const double *di = dist + (size_t) i * m;
				int			own = lab[i0 + i];
				double		a,
							b = -1;

				memset(acc, 0, sizeof(double) * k[c]);
				for (int j = 0; j < m; j++)
					acc[lab[j]] += di[j];
				if (size[c][own] <= 1)
					continue;	/* s = 0 */
				a = acc[own] / (size[c][own] - 1);
				for (int o = 0; o < k[c]; o++)
					if (o != own && size[c][o] > 0 && (b < 0 || acc[o] / size[c][o] < b))
						b = acc[o] / size[c][o];
				if (b >= 0 && Max(a, b) > 0)
					silhouette[c] += (b - a) / Max(a, b);
			}
		}
	}
	for (int c = 0; c < ncand; c++)
	{
		int			present = 0;

		for (int o = 0; o < k[c]; o++)
			present += size[c][o] > 0;
		silhouette[c] = present >= 2 ? silhouette[c] / m : get_float8_nan();
	}
	pfree(norm);
	pfree(dist);
	pfree(acc);
}
