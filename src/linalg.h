/*-------------------------------------------------------------------------
 * linalg.h
 *	  Dense linear algebra; the only module that calls OpenBLAS/LAPACK.
 *	  Matrices are row-major; symmetric ones keep their upper triangle.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_LINALG_H
#define PROFENRICH_LINALG_H

extern void LinalgSetThreads(int nthreads);
extern void LinalgGramAddUpper(int n, int k, const double *c, int ldc, double *h, int ldh);
extern void LinalgSyrkAddUpper(int n, int k, const double *a, int lda, double *c, int ldc);
extern void LinalgGemmNT(int m, int n, int k, const double *a, int lda, const double *b,
						 int ldb, double *c, int ldc);
extern void LinalgMatVec(int rows, int cols, const double *a, const double *x, double *y);
extern void LinalgMatTVecAdd(int rows, int cols, const double *a, const double *x, double *y);
extern void LinalgSyrUpper(int n, double alpha, const double *x, double *c, int ldc);
extern void LinalgSymmetrize(int n, double *c, int ldc);
extern double LinalgQuadForm(int n, const double *a, const double *x);
extern int	LinalgCholeskyAliased(int n, double *a, double tol, bool *aliased);
extern void LinalgSpdSolve(int n, const double *a, const bool *aliased, double *b, double *inv);

#endif
