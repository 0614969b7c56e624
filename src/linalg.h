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
 * Kernels compiled for several instruction sets, the variant picked at the
 * first call.  GCC's target_clones would pick at load, and its CPU probe
 * (a run of cpuid instructions, each a trap under a hypervisor) would then
 * cost every backend that loads the module, most of which never run a
 * kernel.  A kernel is written once, as a static pg_attribute_always_inline
 * function name##Body; a VARIANTS macro defines the variants around it,
 * and the public function calls the one the matching PICK macro gives.
 *
 * LINALG_KERNEL_VARIANTS / LINALG_KERNEL_PICK: AVX2 (without FMA, so
 * results do not depend on contraction) and the baseline, void kernels.
 * LINALG_KERNEL_LEVELS / LINALG_KERNEL_PICK_LEVEL: x86-64-v4 (AVX-512),
 * x86-64-v3 (AVX2 with FMA) and the baseline, returning ret ("void" is
 * written LINALG_KERNEL_LEVELS_VOID).  LINALG_KERNEL_LEVELS_V3 and
 * LINALG_KERNEL_PICK_V3: x86-64-v3 and the baseline only.
 */
#if defined(__GNUC__) && defined(__x86_64__)
#define LINALG_AVX2 __attribute__((target("avx2")))
#define LINALG_V3 __attribute__((target("arch=x86-64-v3")))
#define LINALG_V4 __attribute__((target("arch=x86-64-v4")))
#else
#define LINALG_AVX2
#define LINALG_V3
#define LINALG_V4
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
#define LINALG_KERNEL_LEVELS(name, ret, params, args) \
	LINALG_V4 static ret name##V4 params { return name##Body args; } \
	LINALG_V3 static ret name##V3 params { return name##Body args; } \
	static ret name##Base params { return name##Body args; }
#define LINALG_KERNEL_LEVELS_VOID(name, params, args) \
	LINALG_V4 static void name##V4 params { name##Body args; } \
	LINALG_V3 static void name##V3 params { name##Body args; } \
	static void name##Base params { name##Body args; }
#define LINALG_KERNEL_PICK_LEVEL(name) \
	({ \
		static __typeof__(&name##Base) pick_; \
		if (unlikely(pick_ == NULL)) \
		{ \
			int			level_ = LinalgCpuLevel(); \
			pick_ = level_ >= 4 ? name##V4 : level_ == 3 ? name##V3 : name##Base; \
		} \
		pick_; \
	})
#define LINALG_KERNEL_LEVELS_V3(name, ret, params, args) \
	LINALG_V3 static ret name##V3 params { return name##Body args; } \
	static ret name##Base params { return name##Body args; }
#define LINALG_KERNEL_PICK_V3(name) \
	({ \
		static __typeof__(&name##Base) pick_; \
		if (unlikely(pick_ == NULL)) \
			pick_ = LinalgCpuLevel() >= 3 ? name##V3 : name##Base; \
		pick_; \
	})

extern bool LinalgCpuHasAvx2(void);
extern int	LinalgCpuLevel(void);
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

#endif
