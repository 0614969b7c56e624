/*-------------------------------------------------------------------------
 * linalg.c
 *	  Dense linear algebra over row-major arrays, through OpenBLAS.
 *
 * This file is the only caller of BLAS/LAPACK.  Long loops check for
 * interrupts between chunks so that a cancel or statement_timeout stops a
 * big solve promptly.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>

#include "miscadmin.h"

#include "linalg.h"

/* OpenBLAS's own thread control (not part of the CBLAS standard) */
extern void openblas_set_num_threads(int num_threads);

/* Limit OpenBLAS to nthreads inside this backend */
void
LinalgSetThreads(int nthreads)
{
	openblas_set_num_threads(nthreads);
}

/* Four doubles, loaded and stored without alignment */
typedef double Vec4 __attribute__((vector_size(32), aligned(8)));

#define VEC_LOAD(p) (*(const Vec4 *) (p))
#define VEC_SUM(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define KERNEL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define KERNEL_CLONES
#endif

/*
 * h (n x n, upper triangle, row stride ldh) += C'C for a block C of k
 * rows and n columns stored column by column (column j at c + j * ldc).
 * k must be a multiple of 4, and C must hold zero columns up to the next
 * multiple of 3 of n (callers pad with zeros).  For the
 * narrow matrices of model training (tens of columns) this 3 x 3 tiled
 * kernel, its nine accumulators and six loads held in vector registers,
 * runs about three times faster than dsyrk, whose packing dominates at
 * such sizes.  Compiled for AVX2 and for the baseline, picked at load.
 */
KERNEL_CLONES void
LinalgGramAddUpper(int n, int k, const double *c, int ldc, double *h, int ldh)
{
	int			pn = (n + 2) / 3 * 3;

	for (int a = 0; a < pn; a += 3)
		for (int b = a; b < pn; b += 3)
		{
			const double *a0 = c + (size_t) a * ldc,
					   *a1 = a0 + ldc,
					   *a2 = a1 + ldc;
			const double *b0 = c + (size_t) b * ldc,
					   *b1 = b0 + ldc,
					   *b2 = b1 + ldc;
			Vec4		s00 = {0}, s01 = {0}, s02 = {0},
						s10 = {0}, s11 = {0}, s12 = {0},
						s20 = {0}, s21 = {0}, s22 = {0};
			double		t[3][3];

			for (int i = 0; i < k; i += 4)
			{
				Vec4		x0 = VEC_LOAD(a0 + i),
							x1 = VEC_LOAD(a1 + i),
							x2 = VEC_LOAD(a2 + i);
				Vec4		y0 = VEC_LOAD(b0 + i),
							y1 = VEC_LOAD(b1 + i),
							y2 = VEC_LOAD(b2 + i);

				s00 += x0 * y0;
				s01 += x0 * y1;
				s02 += x0 * y2;
				s10 += x1 * y0;
				s11 += x1 * y1;
				s12 += x1 * y2;
				s20 += x2 * y0;
				s21 += x2 * y1;
				s22 += x2 * y2;
			}
			t[0][0] = VEC_SUM(s00);
			t[0][1] = VEC_SUM(s01);
			t[0][2] = VEC_SUM(s02);
			t[1][0] = VEC_SUM(s10);
			t[1][1] = VEC_SUM(s11);
			t[1][2] = VEC_SUM(s12);
			t[2][0] = VEC_SUM(s20);
			t[2][1] = VEC_SUM(s21);
			t[2][2] = VEC_SUM(s22);
			for (int i = 0; i < 3; i++)
				for (int j = 0; j < 3; j++)
					if (a + i <= b + j && b + j < n)
						h[(size_t) (a + i) * ldh + b + j] += t[i][j];
		}
}

/* c (n x n, upper) += a' a for a of k rows and n columns */
void
LinalgSyrkAddUpper(int n, int k, const double *a, int lda, double *c, int ldc)
{
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0, a, lda, 1.0, c, ldc);
}

/*
 * c (m x n) = a b' for row-major a (m x k, row stride lda) and b (n x k,
 * stride ldb): the products of many points with many centers (k-means).
 */
void
LinalgGemmNT(int m, int n, int k, const double *a, int lda, const double *b, int ldb,
			 double *c, int ldc)
{
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0, a, lda, b, ldb, 0.0,
				c, ldc);
}

/* y = A x for a row-major rows x cols matrix */
void
LinalgMatVec(int rows, int cols, const double *a, const double *x, double *y)
{
	cblas_dgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0, a, cols, x, 1, 0.0, y, 1);
}

/* y += A' x for a row-major rows x cols matrix */
void
LinalgMatTVecAdd(int rows, int cols, const double *a, const double *x, double *y)
{
	cblas_dgemv(CblasRowMajor, CblasTrans, rows, cols, 1.0, a, cols, x, 1, 1.0, y, 1);
}

/* c (upper) += alpha x x' */
void
LinalgSyrUpper(int n, double alpha, const double *x, double *c, int ldc)
{
	cblas_dsyr(CblasRowMajor, CblasUpper, n, alpha, x, 1, c, ldc);
}

/* Copy the upper triangle of c to the lower one */
void
LinalgSymmetrize(int n, double *c, int ldc)
{
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			c[j * ldc + i] = c[i * ldc + j];
}

/* x' a x for a full symmetric n x n matrix */
double
LinalgQuadForm(int n, const double *a, const double *x)
{
	double	   *t = palloc(sizeof(double) * Max(n, 1));
	double		q;

	cblas_dgemv(CblasRowMajor, CblasNoTrans, n, n, 1.0, a, n, x, 1, 0.0, t, 1);
	q = cblas_ddot(n, x, 1, t, 1);
	pfree(t);
	return q;
}

/*
 * Which columns of a full symmetric n x n matrix are aliased: an in-place
 * Cholesky a = L L', column by column in the given order, where a column
 * whose residual variance, once the columns before it are accounted for,
 * falls to tol times its own variance is aliased (exactly collinear with
 * earlier ones) and skipped, as R's lm() does with its pivoting QR.
 * LAPACK's pivoted Cholesky (dpstrf) would reorder by size instead, and
 * alias other columns than R.  Returns the rank; a is overwritten.
 */
int
LinalgCholeskyAliased(int n, double *a, double tol, bool *aliased)
{
	int			rank = 0;

	for (int j = 0; j < n; j++)
	{
		double		diag = a[j * n + j];
		double		d = diag;

		CHECK_FOR_INTERRUPTS();
		if (aliased[j] || !(diag > 0))
		{
			aliased[j] = true;
			for (int i = j; i < n; i++)
				a[i * n + j] = 0.0;
			continue;
		}
		d -= cblas_ddot(j, &a[j * n], 1, &a[j * n], 1);
		if (!(d > tol * diag))
		{
			aliased[j] = true;
			for (int i = j; i < n; i++)
				a[i * n + j] = 0.0;
			continue;
		}
		d = sqrt(d);
		a[j * n + j] = d;
		for (int i = j + 1; i < n; i++)
			a[i * n + j] = (a[i * n + j] - cblas_ddot(j, &a[i * n], 1, &a[j * n], 1)) / d;
		rank++;
	}
	return rank;
}

/* Copy the non-aliased rows and columns of a (n x n) into c (k x k) */
static int
Compress(int n, const double *a, const bool *aliased, double *c, int *map)
{
	int			k = 0;

	for (int i = 0; i < n; i++)
		if (!aliased[i])
			map[k++] = i;
	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++)
			c[i * k + j] = a[map[i] * n + map[j]];
	return k;
}

/*
 * Solve a x = b for a symmetric positive definite a (n x n, full),
 * restricted to the rows and columns not aliased (their x is 0), with
 * LAPACK's Cholesky (dpotrf, dpotrs).  When inv is not NULL it receives
 * the inverse of that restriction (dpotri), zero on aliased rows and
 * columns.  b is overwritten with x.
 */
void
LinalgSpdSolve(int n, const double *a, const bool *aliased, double *b, double *inv)
{
	int		   *map = palloc(sizeof(int) * Max(n, 1));
	double	   *c = palloc(sizeof(double) * Max(n * n, 1));
	double	   *rhs = palloc(sizeof(double) * Max(n, 1));
	int			k = Compress(n, a, aliased, c, map);
	lapack_int	info;

	CHECK_FOR_INTERRUPTS();
	for (int i = 0; i < k; i++)
		rhs[i] = b[map[i]];
	memset(b, 0, sizeof(double) * n);
	if (k > 0)
	{
		info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', k, c, k);
		if (info != 0)
			elog(ERROR, "Cholesky factorization failed (dpotrf info %d) after aliasing",
				 (int) info);
		info = LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', k, 1, c, k, rhs, 1);
		if (info != 0)
			elog(ERROR, "Cholesky solve failed (dpotrs info %d)", (int) info);
		for (int i = 0; i < k; i++)
			b[map[i]] = rhs[i];
	}
	if (inv != NULL)
	{
		memset(inv, 0, sizeof(double) * n * n);
		if (k > 0)
		{
			CHECK_FOR_INTERRUPTS();
			info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', k, c, k);
			if (info != 0)
				elog(ERROR, "Cholesky inverse failed (dpotri info %d)", (int) info);
			for (int i = 0; i < k; i++)
				for (int j = i; j < k; j++)
				{
					inv[map[i] * n + map[j]] = c[i * k + j];
					inv[map[j] * n + map[i]] = c[i * k + j];
				}
		}
	}
	pfree(map);
	pfree(c);
	pfree(rhs);
}
