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

/*
 * c (n x n, upper) = a' a for a of k rows and n columns with row stride lda.
 */
void
LinalgSyrkUpper(int n, int k, const double *a, int lda, double *c, int ldc)
{
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0, a, lda, 0.0, c, ldc);
}

/* c (n x n, upper) += a' a for a of k rows and n columns */
void
LinalgSyrkAddUpper(int n, int k, const double *a, int lda, double *c, int ldc)
{
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0, a, lda, 1.0, c, ldc);
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
