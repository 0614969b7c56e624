/*-------------------------------------------------------------------------
 * linalg.h
 *	  Dense linear algebra; the only module that calls OpenBLAS/LAPACK,
 *	  which it opens on first use.  Matrices are row-major; symmetric ones
 *	  keep their upper triangle.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_LINALG_H
#define PROFENRICH_LINALG_H

/*
 * Kernels compiled twice, for AVX2 and for the baseline instruction set,
 * the variant picked at the first call.  GCC's target_clones would pick
 * at load, and its CPU probe (a run of cpuid instructions, each a trap
 * under a hypervisor) would then cost every backend that loads the module,
 * most of which never run a kernel.  A kernel is written once, as a
 * static pg_attribute_always_inline function name##Body;
 * LINALG_KERNEL_VARIANTS defines name##Avx2 and name##Base around it, and
 * the public function calls the one LINALG_KERNEL_PICK(name) gives.
 */
#if defined(__GNUC__) && defined(__x86_64__)
#define LINALG_AVX2 __attribute__((target("avx2")))
#else
#define LINALG_AVX2
#endif
#define LINALG_KERNEL_VARIANTS(name, params, args) \
	LINALG_AVX2 static void name##Avx2 params { name##Body args; } \
	static void name##Base params { name##Body args; }
#define LINALG_KERNEL_PICK(name) \
	({ \
		static __typeof__(&name##Base) pick_; \
		if (unlikely(pick_ == NULL)) \
			pick_ = LinalgCpuHasAvx2() ? name##Avx2 : name##Base; \
		pick_; \
	})

extern bool LinalgCpuHasAvx2(void);
extern bool LinalgCpuHasAvx2Fma(void);
extern void LinalgSetThreads(int nthreads);
extern bool LinalgLibraryLoaded(void);
extern void LinalgGramAddUpper(int n, int k, const double *c, int ldc, double *h, int ldh);
extern void LinalgWeightedGramAddUpper(int n, int k, const double *c, int ldc, const double *d,
									   double *h, int ldh);
extern void LinalgSyrkAddUpper(int n, int k, const double *a, int lda, double *c, int ldc);
extern void LinalgGemmNT(int m, int n, int k, const double *a, int lda, const double *b,
						 int ldb, double *c, int ldc);
extern void LinalgMatVec(int rows, int cols, const double *a, const double *x, double *y);
extern void LinalgMatTVecAdd(int rows, int cols, const double *a, const double *x, double *y);
extern void LinalgSyrUpper(int n, double alpha, const double *x, double *c, int ldc);
extern void LinalgSymmetrize(int n, double *c, int ldc);
extern double LinalgQuadForm(int n, const double *a, const double *x);
extern int	LinalgCholeskyAliased(int n, double *a, double tol, bool *aliased);
extern int	LinalgCholeskyAliasedOrder(int n, const double *a, double tol, bool *aliased,
									   const int *order, double *work);
extern void LinalgSpdSolve(int n, const double *a, const bool *aliased, double *b, double *inv);
extern void LinalgGemm(int rows, int cols, int inner, double alpha, const double *a,
					   const double *b, double beta, double *c);
extern bool LinalgSmallSpdSolve(int n, double *a, double *b);
extern bool LinalgSmallSpdInverse(int n, double *a, double *inv);
extern bool LinalgSymEigen(int n, double *a, double *w);

#endif
