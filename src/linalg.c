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
 * In-place Cholesky a = L L' of a full symmetric n x n matrix, column by
 * column in the given order.  A column whose residual variance, once the
 * columns before it are accounted for, falls to tol times its own
 * variance is aliased (exactly collinear with earlier ones): its row and
 * column of L are zero and it is skipped, as R's lm() does with its
 * pivoting QR.  On return the lower triangle holds L.  Returns the rank.
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

/* Solve L L' x = b in place, with aliased entries of x set to 0 */
void
LinalgCholeskySolve(int n, const double *l, const bool *aliased, double *b)
{
	for (int i = 0; i < n; i++)
	{
		double		s = b[i];

		if (aliased[i])
		{
			b[i] = 0.0;
			continue;
		}
		for (int k = 0; k < i; k++)
			s -= l[i * n + k] * b[k];
		b[i] = s / l[i * n + i];
	}
	for (int i = n - 1; i >= 0; i--)
	{
		double		s = b[i];

		if (aliased[i])
			continue;
		for (int k = i + 1; k < n; k++)
			s -= l[k * n + i] * b[k];
		b[i] = s / l[i * n + i];
	}
}

/*
 * The inverse of L L' restricted to the non-aliased rows and columns (zero
 * elsewhere), solving one unit vector at a time.
 */
void
LinalgCholeskyInverse(int n, const double *l, const bool *aliased, double *inv)
{
	double	   *e = palloc(sizeof(double) * Max(n, 1));

	for (int j = 0; j < n; j++)
	{
		CHECK_FOR_INTERRUPTS();
		memset(e, 0, sizeof(double) * n);
		if (!aliased[j])
		{
			e[j] = 1.0;
			LinalgCholeskySolve(n, l, aliased, e);
		}
		for (int i = 0; i < n; i++)
			inv[i * n + j] = e[i];
	}
	pfree(e);
}
