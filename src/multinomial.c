/*-------------------------------------------------------------------------
 * multinomial.c
 *	  Maximum likelihood (optionally ridge) multinomial logistic regression
 *	  on standardized slots: Newton's method with step halving on the full
 *	  Hessian, or L-BFGS with a backtracking line search when the
 *	  parameters are too many for a Hessian.
 *
 * A pass over the training rows at proposed coefficients gives the
 * log-likelihood, its gradient and, for Newton, the Hessian: with p the
 * row's probabilities of the K - 1 non-reference classes, its block (k, l)
 * is sum_i c_i (p_k [k = l] - p_k p_l) x_i x_i', a symmetric Gram matrix
 * of the rows weighted by c p_k ([k = l] - p_l), by the tiled kernel of
 * linalg.c.  The exponentials and logarithms of a block of rows go four at
 * a time through glibc's vector functions.
 *
 * Slots collinear with earlier ones are aliased (fixed at 0 in every
 * class) from the Gram matrix X'X of the first pass, as R's glm() does on
 * its model matrix.  Newton stops on R's deviance criterion, |dev -
 * dev_old| / (|dev| + 0.1) < tol, L-BFGS when no gradient component of
 * the objective exceeds tol per training row (weighted).  Standardized
 * coefficients beyond 30, or a fit whose objective no longer changes while
 * its next step is still large (separated classes), stop either with
 * finite values.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "miscadmin.h"

#include "lazylib.h"
#include "linalg.h"
#include "model.h"
#include "multinomial.h"
#include "profenrich.h"

#define SEPARATION_LIMIT 30.0
#define SEPARATION_STEP 1e-2
#define FRESH_STEP 1e-3			/* below this, a fresh Hessian serves one more step */
#define MAX_HALVINGS 30
#define MAX_LINE_STEPS 40
#define ALIAS_TOL 1e-9
#define ARMIJO 1e-4


/* Rows per MultinomialAccumulate call: the block and its scaled copies stay in cache */
#define PASS_BLOCK_ROWS 256

/*
 * probs[k] = exp(eta[k]) / sum_l exp(eta[l]) for the K links (eta[0], the
 * reference's, is 0), without overflow
 */
void
MultinomialSoftmax(const double *eta, int nclasses, double *probs)
{
	double		mx = eta[0],
				sum = 0.0;

	for (int k = 1; k < nclasses; k++)
		mx = Max(mx, eta[k]);
	for (int k = 0; k < nclasses; k++)
	{
		probs[k] = exp(eta[k] - mx);
		sum += probs[k];
	}
	for (int k = 0; k < nclasses; k++)
		probs[k] /= sum;
}

/* Refuse more slots than a Gram matrix in a serialized state holds (1 GB) */
static void
CheckWidth(int width)
{
	if (width > MULTINOMIAL_MAX_WIDTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("multinomial regression of %d slots is over the limit of %d slots",
						width - 1, MULTINOMIAL_MAX_WIDTH - 1),
				 errhint("Lower the option max_categories, or train on fewer features.")));
}

/* Zeroed sums for K classes and rows of width values, with or without the Hessian */
void
MultinomialSumsInit(MultinomialSums *s, int nclasses, int width, bool hessian)
{
	CheckWidth(width);
	s->nclasses = nclasses;
	s->width = width;
	s->nparams = (nclasses - 1) * width;
	s->hessian = hessian;
	if (hessian)
		TrainMemoryCheck(mul_size(3 * sizeof(double), mul_size(s->nparams, s->nparams)), width - 1,
						 "the Hessian of multinomial regression");
	s->grad = palloc(mul_size(sizeof(double), s->nparams));
	s->hess = hessian ? MemoryContextAllocHuge(CurrentMemoryContext,
											   mul_size(sizeof(double),
														mul_size(s->nparams, s->nparams))) : NULL;
	MultinomialSumsReset(s);
}

void
MultinomialSumsReset(MultinomialSums *s)
{
	s->n = 0;
	s->weight = 0;
	s->loglik = 0;
	s->loglik_raw = 0;
	memset(s->grad, 0, sizeof(double) * s->nparams);
	if (s->hess)
		memset(s->hess, 0, sizeof(double) * s->nparams * s->nparams);
}

/* Free the arrays of sums */
void
MultinomialSumsFree(MultinomialSums *s)
{
	pfree(s->grad);
	if (s->hess)
		pfree(s->hess);
	s->grad = s->hess = NULL;
}

/* a += b (the same shape) */
void
MultinomialSumsMerge(MultinomialSums *a, const MultinomialSums *b)
{
	int			p = a->nparams;

	if (a->nclasses != b->nclasses || a->width != b->width || a->hessian != b->hessian)
		elog(ERROR, "cannot merge multinomial sums of different shapes");
	a->n += b->n;
	a->weight += b->weight;
	a->loglik += b->loglik;
	a->loglik_raw += b->loglik_raw;
	for (int j = 0; j < p; j++)
		a->grad[j] += b->grad[j];
	if (a->hessian)
		for (int i = 0; i < p; i++)
			for (int j = i; j < p; j++)
				a->hess[i * p + j] += b->hess[i * p + j];
}

#define MULTINOMIAL_SUMS_FORMAT 1
#define SUMS_HEADER (4 * 4 + 4 * 8)

/* Bytes of the sums of this shape */
static Size
SumsBytes(int nparams, bool hessian)
{
	return SUMS_HEADER + sizeof(double) * ((Size) nparams +
										   (hessian ? (Size) nparams * (nparams + 1) / 2 : 0));
}

/* The sums as bytes: format, shape, counts, gradient, Hessian upper triangle */
bytea *
MultinomialSumsToBytes(const MultinomialSums *s)
{
	StringInfoData buf;
	int			p = s->nparams;

	pq_begintypsend(&buf);
	enlargeStringInfo(&buf, SumsBytes(p, s->hessian));
	pq_sendint32(&buf, MULTINOMIAL_SUMS_FORMAT);
	pq_sendint32(&buf, s->nclasses);
	pq_sendint32(&buf, s->width);
	pq_sendint32(&buf, s->hessian ? 1 : 0);
	pq_sendfloat8(&buf, s->n);
	pq_sendfloat8(&buf, s->weight);
	pq_sendfloat8(&buf, s->loglik);
	pq_sendfloat8(&buf, s->loglik_raw);
	pq_sendbytes(&buf, (const char *) s->grad, sizeof(double) * p);
	if (s->hessian)
		for (int i = 0; i < p; i++)
			pq_sendbytes(&buf, (const char *) &s->hess[i * p + i], sizeof(double) * (p - i));
	return pq_endtypsend(&buf);
}

/* Refuse bytes that are not sums of this format */
static void
SumsBytesError(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid multinomial_step state: %s", why),
			 errhint("The state must come from profenrich.multinomial_step of the same version.")));
}

/*
 * Read what MultinomialSumsToBytes wrote into fresh sums, checking the
 * format version, the shape, and that the length is exactly what the
 * shape implies.
 */
void
MultinomialSumsFromBytes(bytea *b, MultinomialSums *s)
{
	StringInfoData buf;
	int			k,
				w,
				h;

	BYTES_READER(&buf, b);
	if ((Size) buf.len < SUMS_HEADER)
		SumsBytesError("too short");
	if (pq_getmsgint(&buf, 4) != MULTINOMIAL_SUMS_FORMAT)
		SumsBytesError("unknown format version");
	k = pq_getmsgint(&buf, 4);
	w = pq_getmsgint(&buf, 4);
	h = pq_getmsgint(&buf, 4);
	if (k < 2 || k > MODEL_MAX_CLASSES || w < 1 || w > MULTINOMIAL_MAX_WIDTH || (h != 0 && h != 1) ||
		(Size) (k - 1) * w > 10000000 || (h == 1 && (k - 1) * w > MULTINOMIAL_NEWTON_HARD_MAX))
		SumsBytesError("bad shape");
	if ((Size) buf.len != SumsBytes((k - 1) * w, h == 1))
		SumsBytesError("length does not match the shape");
	MultinomialSumsInit(s, k, w, h == 1);
	s->n = pq_getmsgfloat8(&buf);
	s->weight = pq_getmsgfloat8(&buf);
	s->loglik = pq_getmsgfloat8(&buf);
	s->loglik_raw = pq_getmsgfloat8(&buf);
	pq_copymsgbytes(&buf, (char *) s->grad, sizeof(double) * s->nparams);
	if (s->hessian)
		for (int i = 0; i < s->nparams; i++)
			pq_copymsgbytes(&buf, (char *) &s->hess[i * s->nparams + i],
							sizeof(double) * (s->nparams - i));
}

/* Columns of a scaled block, padded to a multiple of 3 for the tiled kernels */
static inline int
PaddedWidth(int w)
{
	return (w + 2) / 3 * 3;
}

/* Rows of a block padded to a multiple of 8 for the tiled kernels (their AVX-512 form) */
static inline int
PaddedRows(int rows)
{
	return (rows + 7) / 8 * 8;
}

/*
 * Room MultinomialAccumulate needs in scratch for a block of rows: the
 * block's links and their exponentials (rows x K each), three row terms
 * and the block column by column (padded width x padded rows)
 */
Size
MultinomialScratchSize(int nclasses, int width, int rows)
{
	Size		ld = PaddedRows(rows);

	return sizeof(double) * ((Size) 2 * rows * nclasses + 3 * ld +
							 (Size) PaddedWidth(width) * ld);
}

/*
 * v[i] = exp(v[i]) (or log(v[i])) for n values: with glibc's AVX2 vector
 * functions (libmvec) where the CPU has AVX2 and FMA, four at a time, else
 * one by one.  The passes spend much of their time here.  libmvec is
 * opened at the first call (lazylib.c), not linked, as for lifetime value.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("avx2,fma")
typedef __m256d (*VecMathFn) (__m256d x);

static VecMathFn VecExp;
static VecMathFn VecLog;

/* Four at a time with libmvec's AVX2 exp (log when take_log); returns how many it did */
__attribute__((target("avx2,fma")))
static int
VectorAvx2(double *v, int n, bool take_log)
{
	VecMathFn	fn = take_log ? VecLog : VecExp;
	int			i = 0;

	for (; i + 4 <= n; i += 4)
		_mm256_storeu_pd(&v[i], fn(_mm256_loadu_pd(&v[i])));
	return i;
}
#pragma GCC pop_options

static const LazySymbol MvecSymbols[] = {
	{"_ZGVdN4v_exp", (void **) &VecExp},
	{"_ZGVdN4v_log", (void **) &VecLog},
};

static LazyLibrary Mvec = {
	.label = "glibc vector math",
	.symbols = MvecSymbols,
	.nsymbols = lengthof(MvecSymbols),
};

static int	HaveAvx2 = -1;
#endif

/* exp (or log) of n values in place: the vector path for multiples of four, scalar for the rest */
static void
VectorExpLog(double *v, int n, bool take_log)
{
	int			i = 0;

#if defined(__x86_64__) && defined(__GNUC__)
	if (HaveAvx2 < 0)
		HaveAvx2 = LinalgCpuHasAvx2Fma() &&	/* not __builtin_cpu_supports: see linalg.h */
			LazyLibraryTryOpen(&Mvec, "libmvec.so.1");	/* else one by one */
	if (HaveAvx2)
		i = VectorAvx2(v, n, take_log);
#endif
	for (; i < n; i++)
		v[i] = take_log ? log(v[i]) : exp(v[i]);
}

/* Four doubles, loaded without alignment, for the dot products of the links */
typedef double Vec4 __attribute__((vector_size(32), aligned(8)));

#define VLOAD(p) (*(const Vec4 *) (p))
#define VSUM(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))

/*
 * out[r] = x_r . t for the four rows x_0 .. x_3 at x (row stride w): four
 * independent chains of partial sums, so the additions' latency overlaps
 * and each load of t serves four rows
 */
static inline void
Dot4Rows(const double *x, int w, const double *t, double *out)
{
	const double *x0 = x,
			   *x1 = x + w,
			   *x2 = x + 2 * w,
			   *x3 = x + 3 * w;
	Vec4		a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
	int			j = 0;

	for (; j + 4 <= w; j += 4)
	{
		Vec4		tv = VLOAD(t + j);

		a0 += VLOAD(x0 + j) * tv;
		a1 += VLOAD(x1 + j) * tv;
		a2 += VLOAD(x2 + j) * tv;
		a3 += VLOAD(x3 + j) * tv;
	}
	out[0] = VSUM(a0);
	out[1] = VSUM(a1);
	out[2] = VSUM(a2);
	out[3] = VSUM(a3);
	for (; j < w; j++)
	{
		out[0] += x0[j] * t[j];
		out[1] += x1[j] * t[j];
		out[2] += x2[j] * t[j];
		out[3] += x3[j] * t[j];
	}
}

/*
 * The links of a block: e[i K + k] = x_i'theta_k, 0 for the reference,
 * less the row's largest.  Compiled for AVX2 and for the baseline
 * (LINALG_KERNEL_VARIANTS), as the other per-row loops here.
 */
static pg_attribute_always_inline void
BlockLinksBody(const double *theta, const double *x, int rows, int nk, int w, double *e)
{
	int			i = 0;

	for (; i + 4 <= rows; i += 4)
		for (int k = 1; k < nk; k++)
		{
			double		d[4];

			Dot4Rows(&x[(size_t) i * w], w, &theta[(size_t) (k - 1) * w], d);
			for (int r = 0; r < 4; r++)
				e[(size_t) (i + r) * nk + k] = d[r];
		}
	for (; i < rows; i++)
		for (int k = 1; k < nk; k++)
		{
			double		v = 0.0;

			for (int j = 0; j < w; j++)
				v += x[(size_t) i * w + j] * theta[(size_t) (k - 1) * w + j];
			e[(size_t) i * nk + k] = v;
		}
	for (i = 0; i < rows; i++)
	{
		double	   *restrict ei = &e[(size_t) i * nk];
		double		mx = 0.0;

		ei[0] = 0.0;
		for (int k = 1; k < nk; k++)
			mx = Max(mx, ei[k]);
		for (int k = 0; k < nk; k++)
			ei[k] -= mx;
	}
}

LINALG_KERNEL_VARIANTS(BlockLinks,
					   (const double *theta, const double *x, int rows, int nk, int w, double *e),
					   (theta, x, rows, nk, w, e))

/*
 * The per-row terms of a block, its links e already exponentiated (less
 * the row's largest link): probabilities into p (rows x K), the
 * log-likelihood (ll[0] weighted, ll[1] raw, ll[2] the weight), and the
 * gradient.  lse and inv are scratch (rows each).
 */
static pg_attribute_always_inline void
BlockTermsBody(MultinomialSums *s, const double *x, const double *y, int rows, const double *cw,
			   const double *e, const double *links, double *lse, double *inv, double *p,
			   double *ll)
{
	int			nk = s->nclasses,
				w = s->width;
	double		loglik = 0.0,
				loglik_raw = 0.0,
				weight = 0.0;

	for (int i = 0; i < rows; i++)
	{
		double		sum = 0.0;

		for (int k = 0; k < nk; k++)
			sum += e[(size_t) i * nk + k];
		lse[i] = sum;
		inv[i] = 1.0 / sum;
	}
	VectorExpLog(lse, rows, true);
	for (int i = 0; i < rows; i++)
	{
		double	   *pi = &p[(size_t) i * nk];	/* may be e itself */
		int			yi = (int) y[i];
		double		c = cw[yi],
					li = links[(size_t) i * nk + yi] - lse[i];

		loglik += c * li;
		loglik_raw += li;
		weight += c;
		for (int k = 0; k < nk; k++)
			pi[k] = e[(size_t) i * nk + k] * inv[i];
		for (int k = 1; k < nk; k++)
		{
			const double *restrict xi = &x[(size_t) i * w];
			double	   *restrict g = &s->grad[(size_t) (k - 1) * w];
			double		rk = c * ((yi == k ? 1.0 : 0.0) - pi[k]);

			for (int j = 0; j < w; j++)
				g[j] += rk * xi[j];
		}
	}
	ll[0] = loglik;
	ll[1] = loglik_raw;
	ll[2] = weight;
}

LINALG_KERNEL_VARIANTS(BlockTerms,
					   (MultinomialSums *s, const double *x, const double *y, int rows,
						const double *cw, const double *e, const double *links, double *lse,
						double *inv, double *p, double *ll),
					   (s, x, y, rows, cw, e, links, lse, inv, p, ll))

/* The block column by column (column j at xt + j ld), zero-padded */
static void
BlockColumns(const double *x, int rows, int w, int ld, double *xt)
{
	int			pw = PaddedWidth(w);

	for (int i = 0; i < rows; i++)
		for (int j = 0; j < w; j++)
			xt[(size_t) j * ld + i] = x[(size_t) i * w + j];
	for (int j = 0; j < pw; j++)
		for (int i = (j < w ? rows : 0); i < ld; i++)
			xt[(size_t) j * ld + i] = 0.0;
}

/*
 * The block's Hessian terms: for each pair of classes k <= l, the Gram
 * matrix of the rows weighted by c p_k ([k = l] - p_l), by the tiled
 * kernel, into the upper triangle of block (k, l); see
 * MultinomialSumsComplete for the lower triangles of the off-diagonal
 * blocks.
 */
static void
BlockHessian(MultinomialSums *s, const double *x, const double *y, int rows, const double *cw,
			 const double *p, double *f, double *xt)
{
	int			nk = s->nclasses,
				w = s->width,
				np = s->nparams,
				ld = PaddedRows(rows);

	BlockColumns(x, rows, w, ld, xt);
	for (int i = rows; i < ld; i++)
		f[i] = 0.0;
	for (int k = 1; k < nk; k++)
		for (int l = k; l < nk; l++)
		{
			for (int i = 0; i < rows; i++)
			{
				const double *pi = &p[(size_t) i * nk];

				f[i] = cw[(int) y[i]] * pi[k] * ((k == l ? 1.0 : 0.0) - pi[l]);
			}
			LinalgWeightedGramAddUpper(w, ld, xt, ld, f,
									   &s->hess[(size_t) (k - 1) * w * np + (size_t) (l - 1) * w], np);
		}
}

/*
 * Add rows x (rows x width, row-major, [1, slots]) with class indexes y to
 * the sums at theta; cw holds each class's weight.  The block's links, then
 * their exponentials (vectorized), then the rows' terms, then with the
 * Hessian the Gram matrices of the scaled block.  scratch holds
 * MultinomialScratchSize bytes; probs, when given, receives each row's K
 * probabilities.
 */
void
MultinomialAccumulate(MultinomialSums *s, const double *theta, const double *x, const double *y,
					  int rows, const double *cw, double *scratch, double *probs)
{
	int			nk = s->nclasses,
				ld = PaddedRows(rows);
	double	   *e = scratch,
			   *links = e + (size_t) rows * nk,
			   *lse = links + (size_t) rows * nk,
			   *inv = lse + ld,
			   *f = inv + ld,
			   *xt = f + ld;
	double	   *p = probs ? probs : links;	/* the links are spent once the terms are */
	double		ll[3];

	for (int i = 0; i < rows; i++)
		if (!(y[i] >= 0 && y[i] < nk))
			elog(ERROR, "class index %g out of range", y[i]);
	LINALG_KERNEL_PICK(BlockLinks) (theta, x, rows, nk, s->width, e);
	for (int i = 0; i < rows; i++)
		for (int k = 0; k < nk; k++)
			links[(size_t) i * nk + k] = e[(size_t) i * nk + k];
	VectorExpLog(e, rows * nk, false);
	LINALG_KERNEL_PICK(BlockTerms) (s, x, y, rows, cw, e, links, lse, inv, p == links ? e : p, ll);
	s->loglik += ll[0];
	s->loglik_raw += ll[1];
	s->weight += ll[2];
	s->n += rows;
	if (s->hessian)
		BlockHessian(s, x, y, rows, cw, p == links ? e : p, f, xt);
}

/*
 * The Hessian of sums accumulated by MultinomialAccumulate made whole:
 * each off-diagonal block (k, l), X' diag(-c p_k p_l) X, is symmetric, and
 * only its upper triangle is accumulated: fill its lower triangle.  Sums
 * are merged and sent as accumulated; this is done once, before use.
 */
void
MultinomialSumsComplete(MultinomialSums *s)
{
	int			w = s->width,
				np = s->nparams;

	for (int k = 0; k < s->nclasses - 1; k++)
		for (int l = k + 1; l < s->nclasses - 1; l++)
		{
			double	   *b = &s->hess[(size_t) k * w * np + (size_t) l * w];

			for (int i = 0; i < w; i++)
				for (int j = i + 1; j < w; j++)
					b[(size_t) j * np + i] = b[(size_t) i * np + j];
		}
}

/*
 * One pass over a dataset in memory, in blocks small enough that the
 * sweeps over them read from cache.  When probs is given it receives every
 * row's K probabilities, in row order.
 */
void
MultinomialPassInMemory(const Dataset *d, const double *theta, const double *cw,
						MultinomialSums *out, double *probs)
{
	int64		done = 0;
	double	   *scratch = palloc(MultinomialScratchSize(out->nclasses, d->width,
													   PASS_BLOCK_ROWS));

	MultinomialSumsReset(out);
	for (int c = 0; c < d->nchunks; c++)
	{
		const DataChunk *ch = &d->chunks[c];

		CHECK_FOR_INTERRUPTS();
		DatasetChunkReady(d, &d->chunks[c]);
		for (int r = 0; r < ch->rows; r += PASS_BLOCK_ROWS)
		{
			int			rows = Min(PASS_BLOCK_ROWS, ch->rows - r);

			MultinomialAccumulate(out, theta, &ch->x[(size_t) r * d->width], &ch->y[r], rows,
								  cw, scratch, probs ? probs + done * out->nclasses : NULL);
			done += rows;
		}
	}
	pfree(scratch);
}

/* Zeroed counts for K classes and rows of width values */
void
MultinomialCountsInit(MultinomialCounts *c, int nclasses, int width)
{
	CheckWidth(width);
	TrainMemoryCheck(mul_size(2 * sizeof(double), mul_size(width, width)), width - 1,
					 "the Gram matrix of multinomial regression");
	c->nclasses = nclasses;
	c->width = width;
	c->count = palloc0(sizeof(double) * nclasses);
	c->gram = MemoryContextAllocExtended(CurrentMemoryContext,
										 mul_size(sizeof(double), mul_size(width, width)),
										 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/* Add rows x (row-major [1, slots]) with class indexes y */
void
MultinomialCountsAccumulate(MultinomialCounts *c, const double *x, const double *y, int rows)
{
	for (int i = 0; i < rows; i++)
	{
		if (!(y[i] >= 0 && y[i] < c->nclasses))
			elog(ERROR, "class index %g out of range", y[i]);
		c->count[(int) y[i]] += 1;
	}
	if (rows > 0)
		LinalgSyrkAddUpper(c->width, rows, x, c->width, c->gram, c->width);
}

/* a += b (the same shape) */
void
MultinomialCountsMerge(MultinomialCounts *a, const MultinomialCounts *b)
{
	int			w = a->width;

	if (a->nclasses != b->nclasses || a->width != b->width)
		elog(ERROR, "cannot merge multinomial counts of different shapes");
	for (int k = 0; k < a->nclasses; k++)
		a->count[k] += b->count[k];
	for (int i = 0; i < w; i++)
		for (int j = i; j < w; j++)
			a->gram[i * w + j] += b->gram[i * w + j];
}

#define MULTINOMIAL_COUNTS_FORMAT 101	/* distinct from the sums' formats */

/* Whether bytes of a multinomial_step state hold counts (else sums) */
bool
MultinomialBytesAreCounts(bytea *b)
{
	StringInfoData buf;

	BYTES_READER(&buf, b);
	return buf.len >= 4 && pq_getmsgint(&buf, 4) == MULTINOMIAL_COUNTS_FORMAT;
}

/* The counts as bytes: format, shape, counts, Gram upper triangle */
bytea *
MultinomialCountsToBytes(const MultinomialCounts *c)
{
	StringInfoData buf;
	int			w = c->width;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, MULTINOMIAL_COUNTS_FORMAT);
	pq_sendint32(&buf, c->nclasses);
	pq_sendint32(&buf, w);
	pq_sendbytes(&buf, (const char *) c->count, sizeof(double) * c->nclasses);
	for (int i = 0; i < w; i++)
		pq_sendbytes(&buf, (const char *) &c->gram[i * w + i], sizeof(double) * (w - i));
	return pq_endtypsend(&buf);
}

/* Read what MultinomialCountsToBytes wrote, checking format, shape and length */
void
MultinomialCountsFromBytes(bytea *b, MultinomialCounts *c)
{
	StringInfoData buf;
	int			k,
				w;

	BYTES_READER(&buf, b);
	if (buf.len < 12 || pq_getmsgint(&buf, 4) != MULTINOMIAL_COUNTS_FORMAT)
		SumsBytesError("not a counts state of this format");
	k = pq_getmsgint(&buf, 4);
	w = pq_getmsgint(&buf, 4);
	if (k < 2 || k > MODEL_MAX_CLASSES || w < 1 || w > MULTINOMIAL_MAX_WIDTH ||
		(Size) buf.len != 12 + sizeof(double) * ((Size) k + (Size) w * (w + 1) / 2))
		SumsBytesError("counts of a bad shape");
	MultinomialCountsInit(c, k, w);
	pq_copymsgbytes(&buf, (char *) c->count, sizeof(double) * k);
	for (int i = 0; i < w; i++)
		pq_copymsgbytes(&buf, (char *) &c->gram[i * w + i], sizeof(double) * (w - i));
}

/* The counts of a dataset in memory, chunk by chunk */
void
MultinomialCountsInMemory(const Dataset *d, MultinomialCounts *c)
{
	for (int i = 0; i < d->nchunks; i++)
	{
		CHECK_FOR_INTERRUPTS();
		DatasetChunkReady(d, &d->chunks[i]);
		MultinomialCountsAccumulate(c, d->chunks[i].x, d->chunks[i].y, d->chunks[i].rows);
	}
}

/* The weighted class shares of the training rows */
static void
WeightedShares(const MultinomialCounts *c, const double *cw, double *q)
{
	double		total = 0.0;

	for (int k = 0; k < c->nclasses; k++)
		total += cw[k] * c->count[k];
	for (int k = 0; k < c->nclasses; k++)
		q[k] = cw[k] * c->count[k] / total;
}

/*
 * Slots collinear with earlier ones (in the given order of the width's
 * columns, the intercept first; NULL: slot order), from the Gram matrix
 * X'X (the order decides which level of a category is the reference): at the start the Hessian is (diag(p) - pp')
 * (x) X'WX, whose slot directions are aliased exactly where X'X's are.
 * With l2 > 0 the penalty is added to the curvature of the flattest class,
 * min p_k (1 - p_k) X'X, so a ridge fit keeps every slot, as in linear and
 * logistic models.  Constant slots (sd 0) are aliased from the outset.
 */
void
MultinomialFindAliased(const MultinomialCounts *c, const double *sd, const double *cw, double l2,
					   const int *order, bool *slot_aliased)
{
	int			w = c->width;
	double	   *h = MemoryContextAllocHuge(CurrentMemoryContext, mul_size(sizeof(double), mul_size(w, w)));
	double	   *work;
	double		q[MODEL_MAX_CLASSES];
	double		curv = 0.25;

	WeightedShares(c, cw, q);
	for (int k = 1; k < c->nclasses; k++)
		curv = Min(curv, q[k] * (1.0 - q[k]));
	for (int i = 0; i < w; i++)
		for (int j = 0; j < w; j++)
			h[i * w + j] = curv * (i <= j ? c->gram[i * w + j] : c->gram[j * w + i]);
	slot_aliased[0] = false;
	for (int j = 1; j < w; j++)
	{
		slot_aliased[j] = !(sd[j] > 0);
		h[j * w + j] += l2;
	}
	if (order == NULL)
		LinalgCholeskyAliased(w, h, ALIAS_TOL, slot_aliased);
	else
	{
		work = MemoryContextAllocHuge(CurrentMemoryContext, mul_size(sizeof(double), mul_size(w, w)));
		LinalgCholeskyAliasedOrder(w, h, ALIAS_TOL, slot_aliased, order, work);
		pfree(work);
	}
	pfree(h);
}

/*
 * The start: the intercepts of the model without features (the log odds of
 * each class's weighted share against the reference's), every slope 0.
 * Every class must have training rows.
 */
void
MultinomialStartTheta(const MultinomialCounts *c, const double *cw, double *theta)
{
	int			w = c->width;
	double		q[MODEL_MAX_CLASSES];

	WeightedShares(c, cw, q);
	memset(theta, 0, sizeof(double) * (c->nclasses - 1) * w);
	for (int k = 1; k < c->nclasses; k++)
		theta[(k - 1) * w] = log(q[k] / q[0]);
}

/* A fresh state at the start, slots aliased as given (width flags, [0] the intercept) */
void
MultinomialStateInit(MultinomialState *st, int nclasses, int width, const bool *slot_aliased,
					 const double *start, bool newton)
{
	int			np = (nclasses - 1) * width;

	memset(st, 0, sizeof(MultinomialState));
	st->nclasses = nclasses;
	st->width = width;
	st->nparams = np;
	st->newton = newton;
	st->theta = palloc0(mul_size(sizeof(double), np));
	st->next = palloc(mul_size(sizeof(double), np));
	st->step = palloc0(mul_size(sizeof(double), np));
	st->aliased = palloc(mul_size(sizeof(bool), np));
	for (int k = 0; k < nclasses - 1; k++)
		for (int j = 0; j < width; j++)
			st->aliased[k * width + j] = slot_aliased[j];
	for (int i = 0; i < np; i++)
		st->next[i] = st->aliased[i] ? 0.0 : start[i];
	MultinomialSumsInit(&st->sums, nclasses, width, newton);
	st->want_hessian = newton;
	if (!newton)
	{
		st->gobj = palloc(mul_size(sizeof(double), np));
		st->gnext = palloc(mul_size(sizeof(double), np));
		st->s_hist = MemoryContextAllocHuge(CurrentMemoryContext,
											mul_size(sizeof(double) * MULTINOMIAL_LBFGS_HISTORY, np));
		st->y_hist = MemoryContextAllocHuge(CurrentMemoryContext,
											mul_size(sizeof(double) * MULTINOMIAL_LBFGS_HISTORY, np));
		st->rho = palloc(sizeof(double) * MULTINOMIAL_LBFGS_HISTORY);
	}
}

/*
 * Newton from a warm start: an approximate Hessian for the first step (the
 * subsample's, scaled to the full data), so the first pass, at the start,
 * needs the gradient only
 */
void
MultinomialStateApproximate(MultinomialState *st, const double *hess)
{
	Assert(st->newton && !st->started);
	memcpy(st->sums.hess, hess, sizeof(double) * st->nparams * st->nparams);
	st->hess_at_theta = false;
	st->hess_age = 1;
	st->want_hessian = false;
}

/* Whether the next pass must accumulate the Hessian */
bool
MultinomialWantsHessian(const MultinomialState *st)
{
	return st->newton && st->want_hessian;
}

/* The penalized objective at coefficients t with log-likelihood loglik */
static double
Objective(const MultinomialState *st, const double *t, double loglik, double l2)
{
	double		pen = 0.0;

	for (int i = 0; i < st->nparams; i++)
		if (i % st->width != 0 && !st->aliased[i])
			pen += t[i] * t[i];
	return -loglik + 0.5 * l2 * pen;
}

/* The gradient of the objective from sums at t: -grad + l2 slopes, 0 where aliased */
static void
ObjectiveGradient(const MultinomialState *st, const MultinomialSums *s, const double *t,
				  double l2, double *g)
{
	for (int i = 0; i < st->nparams; i++)
		g[i] = st->aliased[i] ? 0.0 :
			-s->grad[i] + (i % st->width != 0 ? l2 * t[i] : 0.0);
}

/* The full symmetric Hessian of the objective at theta (the penalty on the slots' diagonal) */
static double *
PenalizedHessian(const MultinomialState *st, double l2)
{
	int			np = st->nparams;
	double	   *h = palloc(sizeof(double) * np * np);

	memcpy(h, st->sums.hess, sizeof(double) * np * np);
	LinalgSymmetrize(np, h, np);
	for (int i = 0; i < np; i++)
		if (i % st->width != 0)
			h[i * np + i] += l2;
	return h;
}

/*
 * Propose next = theta + the Newton step at theta (with the last Hessian
 * computed); returns the decrease of the objective the step predicts,
 * g'H^-1 g / 2
 */
static double
ProposeNewton(MultinomialState *st, double l2)
{
	int			np = st->nparams;
	double	   *h = PenalizedHessian(st, l2);
	double	   *rhs = palloc(sizeof(double) * np);
	double		decrement = 0.0;

	ObjectiveGradient(st, &st->sums, st->theta, l2, rhs);
	for (int i = 0; i < np; i++)
		st->step[i] = rhs[i] = -rhs[i];
	LinalgSpdSolve(np, h, st->aliased, st->step, NULL);
	for (int i = 0; i < np; i++)
	{
		decrement += 0.5 * st->step[i] * rhs[i];
		st->next[i] = st->theta[i] + st->step[i];
	}
	pfree(rhs);
	pfree(h);
	return decrement;
}

/*
 * Whether the pass at the proposed coefficients computes the Hessian.  It
 * must when the step is predicted to end the fit (its Hessian gives the
 * standard errors at the final coefficients) or when the Hessian is
 * stale.  Near the maximum (a step below FRESH_STEP from a Hessian
 * computed at theta) the next step can take this Hessian again, so the
 * pass between needs only the gradient: after a Newton step of size s the
 * error is of order s^2, and a step on a Hessian s away leaves about s^3,
 * below 1e-9 of the standardized coefficients.
 */
static void
PlanNextPass(MultinomialState *st, double decrement, double tol)
{
	double		largest = 0.0;

	for (int i = 0; i < st->nparams; i++)
		largest = Max(largest, fabs(st->step[i]));
	st->want_hessian = decrement / (fabs(st->objective) + 0.05) < tol || st->hess_age > 0 ||
		largest >= FRESH_STEP;
}

/* Accept the sums at next as the new current point */
static void
Accept(MultinomialState *st, const MultinomialSums *at_next, double objective)
{
	int			np = st->nparams;

	memcpy(st->theta, st->next, sizeof(double) * np);
	st->sums.n = at_next->n;
	st->sums.weight = at_next->weight;
	st->sums.loglik = at_next->loglik;
	st->sums.loglik_raw = at_next->loglik_raw;
	memcpy(st->sums.grad, at_next->grad, sizeof(double) * np);
	st->hess_at_theta = at_next->hessian;
	st->hess_age = at_next->hessian ? 0 : st->hess_age + 1;
	if (at_next->hessian && st->sums.hess)
	{
		memcpy(st->sums.hess, at_next->hess, sizeof(double) * np * np);
		MultinomialSumsComplete(&st->sums);
	}
	st->objective = objective;
}

/* The largest standardized slope: beyond SEPARATION_LIMIT the classes are separated */
static double
LargestSlope(const MultinomialState *st)
{
	double		largest = 0.0;

	for (int i = 0; i < st->nparams; i++)
		if (i % st->width != 0)
			largest = Max(largest, fabs(st->theta[i]));
	return largest;
}

/*
 * The objective no longer changes: converged, unless the next step still
 * moves a slope by SEPARATION_STEP or more.  Near a maximum Newton's steps
 * shrink quadratically; along a direction that separates the classes the
 * likelihood flattens out exponentially while the steps keep their size
 * (about 1 / the margin), so the coefficients would grow without bound.
 */
static void
Finish(MultinomialState *st)
{
	double		largest = 0.0;
	double		scale = st->newton ? 1.0 : st->alpha;

	for (int i = 0; i < st->nparams; i++)
		if (i % st->width != 0)
			largest = Max(largest, fabs(scale * st->step[i]));
	if (largest >= SEPARATION_STEP)
		st->separated = true;
	else
		st->converged = true;
	/* the fit ends at theta: no proposal is pending */
	memcpy(st->next, st->theta, sizeof(double) * st->nparams);
}

/* One Newton step on the sums at next; see MultinomialStep */
static bool
NewtonStep(MultinomialState *st, const MultinomialSums *at_next, const MultinomialOptions *opts,
		   double obj)
{
	double		change;

	if (!st->started)
	{
		Accept(st, at_next, obj);
		st->started = true;
		st->halvings = 0;
		PlanNextPass(st, ProposeNewton(st, opts->l2), opts->tol);
		return false;
	}
	if (!(obj <= st->objective + 1e-12 * fabs(st->objective)) && st->halvings < MAX_HALVINGS)
	{
		st->halvings++;
		st->want_hessian = true;
		for (int i = 0; i < st->nparams; i++)
		{
			st->step[i] *= 0.5;
			st->next[i] = st->theta[i] + st->step[i];
		}
		return false;
	}
	change = fabs(st->objective - obj) / (fabs(obj) + 0.05);
	if (isfinite(obj))
		Accept(st, at_next, obj);
	st->iterations++;
	st->halvings = 0;
	if (LargestSlope(st) > SEPARATION_LIMIT || !isfinite(obj))
	{
		st->separated = true;
		return true;
	}
	PlanNextPass(st, ProposeNewton(st, opts->l2), opts->tol);
	if (change < opts->tol)
	{
		Finish(st);
		return true;
	}
	if (st->iterations >= opts->max_iter)
		return true;
	return false;
}

/* a . b over n values */
static double
Dot(const double *a, const double *b, int n)
{
	double		s = 0.0;

	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/*
 * The L-BFGS direction -H g at theta by the two-loop recursion over the
 * history (oldest first in s_hist), the initial matrix scaled by s'y / y'y
 * of the newest pair; the steepest descent before any pair
 */
static void
LbfgsDirection(MultinomialState *st)
{
	int			np = st->nparams;
	double	   *d = st->step;
	double		alpha[MULTINOMIAL_LBFGS_HISTORY];

	for (int i = 0; i < np; i++)
		d[i] = -st->gobj[i];
	for (int h = st->nhist - 1; h >= 0; h--)
	{
		alpha[h] = st->rho[h] * Dot(&st->s_hist[h * np], d, np);
		for (int i = 0; i < np; i++)
			d[i] -= alpha[h] * st->y_hist[h * np + i];
	}
	if (st->nhist > 0)
	{
		const double *s = &st->s_hist[(st->nhist - 1) * np],
				   *y = &st->y_hist[(st->nhist - 1) * np];
		double		gamma = Dot(s, y, np) / Dot(y, y, np);

		for (int i = 0; i < np; i++)
			d[i] *= gamma;
	}
	for (int h = 0; h < st->nhist; h++)
	{
		double		beta = st->rho[h] * Dot(&st->y_hist[h * np], d, np);

		for (int i = 0; i < np; i++)
			d[i] += (alpha[h] - beta) * st->s_hist[h * np + i];
	}
	for (int i = 0; i < np; i++)
		if (st->aliased[i])
			d[i] = 0.0;
}

/* Start a line search along a fresh direction from theta */
static void
LbfgsPropose(MultinomialState *st)
{
	double		gmax = 0.0;

	LbfgsDirection(st);
	st->slope = Dot(st->gobj, st->step, st->nparams);
	if (!(st->slope < 0))
	{
		/* not a descent direction (rounding): restart from steepest descent */
		st->nhist = 0;
		LbfgsDirection(st);
		st->slope = Dot(st->gobj, st->step, st->nparams);
	}
	for (int i = 0; i < st->nparams; i++)
		gmax = Max(gmax, fabs(st->step[i]));
	/* the first step, along the gradient, moves no coefficient by more than 1 */
	st->alpha = st->nhist == 0 ? 1.0 / Max(gmax, 1.0) : 1.0;
	st->halvings = 0;
	for (int i = 0; i < st->nparams; i++)
		st->next[i] = st->theta[i] + st->alpha * st->step[i];
}

/* Remember the pair (s, y) of the step just taken, dropping the oldest when full */
static void
LbfgsRemember(MultinomialState *st, const double *gnew)
{
	int			np = st->nparams;
	double	   *s = palloc(sizeof(double) * np);
	double	   *y = palloc(sizeof(double) * np);
	double		sy;

	for (int i = 0; i < np; i++)
	{
		s[i] = st->next[i] - st->theta[i];
		y[i] = gnew[i] - st->gobj[i];
	}
	sy = Dot(s, y, np);
	if (sy > 1e-12 * sqrt(Dot(s, s, np) * Dot(y, y, np)))
	{
		if (st->nhist == MULTINOMIAL_LBFGS_HISTORY)
		{
			memmove(st->s_hist, st->s_hist + np, sizeof(double) * np * (st->nhist - 1));
			memmove(st->y_hist, st->y_hist + np, sizeof(double) * np * (st->nhist - 1));
			memmove(st->rho, st->rho + 1, sizeof(double) * (st->nhist - 1));
			st->nhist--;
		}
		memcpy(&st->s_hist[st->nhist * np], s, sizeof(double) * np);
		memcpy(&st->y_hist[st->nhist * np], y, sizeof(double) * np);
		st->rho[st->nhist++] = 1.0 / sy;
	}
	pfree(s);
	pfree(y);
}

/* One L-BFGS evaluation on the sums at next; see MultinomialStep */
static bool
LbfgsStep(MultinomialState *st, const MultinomialSums *at_next, const MultinomialOptions *opts,
		  double obj)
{
	double		gmax = 0.0;

	if (!st->started)
	{
		Accept(st, at_next, obj);
		ObjectiveGradient(st, &st->sums, st->theta, opts->l2, st->gobj);
		st->started = true;
		LbfgsPropose(st);
		return false;
	}
	if (!(isfinite(obj) && obj <= st->objective + ARMIJO * st->alpha * st->slope))
	{
		if (++st->halvings >= MAX_LINE_STEPS)
		{
			st->stalled = true;
			return true;
		}
		/* backtrack: the minimum of the quadratic through f(0), f'(0), f(alpha), within [0.1, 0.5] alpha */
		{
			double		a = st->alpha,
						q = isfinite(obj) ?
				-st->slope * a * a / (2.0 * (obj - st->objective - st->slope * a)) : 0.5 * a;

			st->alpha = Min(Max(q, 0.1 * a), 0.5 * a);
		}
		for (int i = 0; i < st->nparams; i++)
			st->next[i] = st->theta[i] + st->alpha * st->step[i];
		return false;
	}
	ObjectiveGradient(st, at_next, st->next, opts->l2, st->gnext);
	LbfgsRemember(st, st->gnext);
	Accept(st, at_next, obj);
	memcpy(st->gobj, st->gnext, sizeof(double) * st->nparams);
	st->iterations++;
	for (int i = 0; i < st->nparams; i++)
		gmax = Max(gmax, fabs(st->gobj[i]));
	if (LargestSlope(st) > SEPARATION_LIMIT)
	{
		st->separated = true;
		return true;
	}
	LbfgsPropose(st);
	if (gmax <= opts->tol * Max(st->sums.weight, 1.0))
	{
		Finish(st);
		return true;
	}
	if (st->iterations >= opts->max_iter)
		return true;
	return false;
}

/* Are the log-likelihood, the gradient and (if any) the Hessian all finite? */
static bool
SumsFinite(const MultinomialSums *s)
{
	int			np = s->nparams;

	if (!isfinite(s->loglik) || !isfinite(s->loglik_raw))
		return false;
	for (int i = 0; i < np; i++)
		if (!isfinite(s->grad[i]))
			return false;
	if (s->hessian)
		for (int i = 0; i < np; i++)
			for (int j = i; j < np; j++)
				if (!isfinite(s->hess[(size_t) i * np + j]))
					return false;
	return true;
}

/*
 * Take the sums at st->next.  Returns true when the fit is finished
 * (converged, separated, stalled or out of iterations); otherwise st->next
 * holds the coefficients for the next pass (MultinomialWantsHessian says
 * whether it needs the Hessian).
 */
bool
MultinomialStep(MultinomialState *st, const MultinomialSums *at_next,
				const MultinomialOptions *opts)
{
	bool		finite = SumsFinite(at_next);
	double		obj = finite ? Objective(st, st->next, at_next->loglik, opts->l2) : INFINITY;

	CHECK_FOR_INTERRUPTS();
	if (!st->started && !finite)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the sums of multinomial regression overflow double precision"),
				 errdetail("The weighted log-likelihood, its gradient or its Hessian at the starting point is not finite."),
				 errhint("Use smaller class weights, or rescale the features.")));
	st->l2 = opts->l2;
	if (st->newton)
		return NewtonStep(st, at_next, opts, obj);
	return LbfgsStep(st, at_next, opts, obj);
}

/*
 * Covariance of the standardized coefficients: the inverse of the
 * (penalized) Hessian at theta, zero where aliased.  Needs a Hessian
 * computed at theta.
 */
void
MultinomialCovariance(const MultinomialState *st, double *cov)
{
	int			np = st->nparams;
	double	   *h = PenalizedHessian(st, st->l2);
	double	   *rhs = palloc0(sizeof(double) * np);

	Assert(st->hess_at_theta);
	LinalgSpdSolve(np, h, st->aliased, rhs, cov);
	pfree(rhs);
	pfree(h);
}
