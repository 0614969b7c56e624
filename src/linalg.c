/*-------------------------------------------------------------------------
 * linalg.c
 *	  Dense linear algebra over row-major arrays, through OpenBLAS.
 *
 * This file is the only caller of BLAS/LAPACK.  Long loops check for
 * interrupts between chunks so that a cancel or statement_timeout stops a
 * big solve promptly.
 *
 * OpenBLAS is not linked into profenrich.so: it is opened (lazylib.c) the
 * first time a function here needs it, so that a backend that never
 * trains never maps it, its LAPACK and gfortran, and never runs its
 * threads.  LAPACK is called through the Fortran entry points OpenBLAS
 * exports (dpotrf_ and friends), which LAPACKE's row-major wrappers only
 * reach after transposing copies; liblapacke and its reference LAPACK are
 * not needed.  OpenBLAS reads OPENBLAS_NUM_THREADS as it loads and starts
 * that many threads less one, so the load sets it to
 * profenrich.blas_threads: with 1, the default, no thread is started.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cblas.h>
#if defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#endif
#include <math.h>
#include <stdlib.h>

#include "miscadmin.h"

#include "lazylib.h"
#include "linalg.h"
#include "profenrich.h"

/* LAPACK's Fortran interface: arguments by reference, string lengths at the end */
typedef void (*DpotrfFn) (const char *uplo, const int *n, double *a, const int *lda,
						  int *info, size_t uplo_len);
typedef void (*DpotrsFn) (const char *uplo, const int *n, const int *nrhs, const double *a,
						  const int *lda, double *b, const int *ldb, int *info, size_t uplo_len);

/* The OpenBLAS functions used here, resolved when the library is opened */
static struct
{
	__typeof__(cblas_dsyrk) *dsyrk;
	__typeof__(cblas_dgemv) *dgemv;
	__typeof__(cblas_dsyr) *dsyr;
	__typeof__(cblas_ddot) *ddot;
	__typeof__(cblas_dgemm) *dgemm;
	__typeof__(cblas_dtrsm) *dtrsm;
	__typeof__(cblas_dtrsv) *dtrsv;
	void		(*set_num_threads) (int num_threads);	/* OpenBLAS's own */
	DpotrfFn	dpotrf;
	DpotrsFn	dpotrs;
	DpotrfFn	dpotri;			/* the same arguments as dpotrf */
} Blas;

static const LazySymbol BlasSymbols[] = {
	{"cblas_dsyrk", (void **) &Blas.dsyrk},
	{"cblas_dgemv", (void **) &Blas.dgemv},
	{"cblas_dsyr", (void **) &Blas.dsyr},
	{"cblas_ddot", (void **) &Blas.ddot},
	{"cblas_dgemm", (void **) &Blas.dgemm},
	{"cblas_dtrsm", (void **) &Blas.dtrsm},
	{"cblas_dtrsv", (void **) &Blas.dtrsv},
	{"openblas_set_num_threads", (void **) &Blas.set_num_threads},
	{"dpotrf_", (void **) &Blas.dpotrf},
	{"dpotrs_", (void **) &Blas.dpotrs},
	{"dpotri_", (void **) &Blas.dpotri},
};

#define THREADS_ENV "OPENBLAS_NUM_THREADS"

/* The backend's own OPENBLAS_NUM_THREADS (malloc'd), or NULL, while the load overrides it */
static char *SavedThreadsEnv;

/* Before the load (signals blocked): OpenBLAS starts blas_threads - 1 threads */
static void
BlasBeforeOpen(void)
{
	const char *old = getenv(THREADS_ENV);
	char		value[16];

	SavedThreadsEnv = old ? strdup(old) : NULL;
	snprintf(value, sizeof(value), "%d", profenrich_blas_threads);
	setenv(THREADS_ENV, value, 1);
}

/* After the load (signals blocked): the environment back, the count applied */
static void
BlasAfterOpen(bool failed)
{
	if (SavedThreadsEnv != NULL)
		setenv(THREADS_ENV, SavedThreadsEnv, 1);
	else
		unsetenv(THREADS_ENV);
	free(SavedThreadsEnv);
	SavedThreadsEnv = NULL;
	if (!failed)
		Blas.set_num_threads(profenrich_blas_threads);
}

static LazyLibrary OpenBlas = {
	.label = "OpenBLAS",
	.install_hint = "Install the OpenBLAS library (Debian package libopenblas0), or set "
	"profenrich.blas_library to the file of one; only training needs it.",
	.symbols = BlasSymbols,
	.nsymbols = lengthof(BlasSymbols),
	.before_open = BlasBeforeOpen,
	.after_open = BlasAfterOpen,
};

/* Open OpenBLAS on first use: every function here that calls it starts so */
static inline void
BlasReady(void)
{
	if (unlikely(!LazyLibraryIsOpen(&OpenBlas)))
		LazyLibraryOpen(&OpenBlas, profenrich_blas_library);
}

/* Whether this backend has opened OpenBLAS */
bool
LinalgLibraryLoaded(void)
{
	return LazyLibraryIsOpen(&OpenBlas);
}

/*
 * Limit OpenBLAS to nthreads inside this backend, if it is loaded (the
 * load applies the current count).  OpenBLAS starts the threads it lacks
 * here, so every signal is blocked meanwhile: its threads must never take
 * the backend's signals.  Raises nothing: it runs as a GUC assign hook.
 */
void
LinalgSetThreads(int nthreads)
{
	sigset_t	saved;

	if (!LazyLibraryIsOpen(&OpenBlas))
		return;
	LazyBlockSignals(&saved);
	Blas.set_num_threads(nthreads);
	LazyRestoreSignals(&saved);
}

/* Four doubles, loaded and stored without alignment */
typedef double Vec4 __attribute__((vector_size(32), aligned(8)));

#define VEC_LOAD(p) (*(const Vec4 *) (p))
#define VEC_SUM(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))

#define CPU_AVX2 1
#define CPU_FMA 2
#define CPU_AVX512 4			/* AVX-512F */
#define CPU_V3 8				/* every extension of x86-64-v3 */
#define CPU_V4 16				/* and of x86-64-v4 (AVX-512 F, BW, CD, DQ, VL) */

#if defined(__GNUC__) && defined(__x86_64__)
/*
 * Whether the CPU has every extension of x86-64-v3 (with those of v2) and
 * of v4, from cpuid leaves 1 (c1), 7 (b7) and 0x80000001, and XCR0; AVX
 * and the YMM state are checked by the caller.
 */
static int
CpuLevels(unsigned int c1, unsigned int b7, unsigned int xcr0)
{
	const unsigned int v3_c1 = bit_SSSE3 | bit_FMA | bit_CMPXCHG16B | bit_SSE4_1 | bit_SSE4_2 |
		bit_MOVBE | bit_POPCNT | bit_F16C;
	const unsigned int v3_b7 = bit_BMI | bit_AVX2 | bit_BMI2;
	const unsigned int v4_b7 = bit_AVX512F | bit_AVX512DQ | bit_AVX512CD | bit_AVX512BW |
		bit_AVX512VL;
	unsigned int a,
				b,
				c,
				d;
	int			levels = 0;

	if ((c1 & v3_c1) != v3_c1 || (b7 & v3_b7) != v3_b7 ||
		!__get_cpuid(0x80000001, &a, &b, &c, &d) || (c & (bit_LAHF_LM | bit_LZCNT)) != (bit_LAHF_LM | bit_LZCNT))
		return 0;
	levels |= CPU_V3;
	/* the OS saves the opmask and the upper ZMM registers: XCR0 bits 5 to 7 */
	if ((b7 & v4_b7) == v4_b7 && (xcr0 & 0xE0) == 0xE0)
		levels |= CPU_V4;
	return levels;
}
#endif

/*
 * The vector extensions the CPU and the kernel run: AVX2 (cpuid leaf 7)
 * and FMA (leaf 1), counted only when the OS saves the YMM registers
 * (OSXSAVE, then XCR0's SSE and AVX bits), AVX-512F (leaf 7) when it
 * also saves the opmask and ZMM registers (XCR0's bits 5 to 7), and
 * whether every extension of the x86-64-v3 and v4 levels is there.
 * Probed once, at the first call:
 * GCC's __builtin_cpu_supports would link libgcc's probe, a constructor
 * that runs at load.
 */
static int
CpuFeatures(void)
{
	static int	features = -1;

	if (features >= 0)
		return features;
	features = 0;
#if defined(__GNUC__) && defined(__x86_64__)
	{
		unsigned int a,
					b,
					c,
					d,
					c1,
					lo,
					hi;

		if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
			return features;
		c1 = c;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		if ((lo & 6) != 6)
			return features;
		if (c1 & bit_FMA)
			features |= CPU_FMA;
		if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
		{
			if (b & bit_AVX2)
				features |= CPU_AVX2;
			if ((features & CPU_AVX2) && (b & bit_AVX512F) && (lo & 0xE0) == 0xE0)
				features |= CPU_AVX512;
			features |= CpuLevels(c1, b, lo);
		}
	}
#endif
	return features;
}

/* Whether the CPU runs AVX2 code */
bool
LinalgCpuHasAvx2(void)
{
	return (CpuFeatures() & CPU_AVX2) != 0;
}

/* Whether the CPU runs AVX2 code with FMA */
bool
LinalgCpuHasAvx2Fma(void)
{
	return (CpuFeatures() & (CPU_AVX2 | CPU_FMA)) == (CPU_AVX2 | CPU_FMA);
}

/* The x86-64 microarchitecture level the CPU runs: 4 (AVX-512), 3 (AVX2, FMA...) or 0 */
int
LinalgCpuLevel(void)
{
	int			f = CpuFeatures();

	return (f & CPU_V4) ? 4 : (f & CPU_V3) ? 3 : 0;
}

/* Whether the CPU runs AVX-512F code */
static bool
CpuHasAvx512(void)
{
	return (CpuFeatures() & CPU_AVX512) != 0;
}

/*
 * h (n x n, upper triangle, row stride ldh) += C' diag(d) C for a block C
 * of k rows and n columns stored column by column (column j at c + j *
 * ldc), d k weights of any sign (0 on padding rows), or NULL for C'C.
 * k must be a multiple of the vector width, and C must hold zero columns
 * up to the next multiple of 3 of n (callers pad with zeros).  For the
 * narrow matrices of model training (tens of columns) this 3 x 3 tiled
 * kernel, its nine accumulators and six loads held in vector registers,
 * runs about three times faster than dsyrk, whose packing dominates at
 * such sizes; the weights are applied as the rows are loaded (the blocks
 * of the multinomial Hessian, without a square root or a scaled copy per
 * weight).  GRAM_TILES_BODY defines it for a vector type vt of width
 * lanes (load and horizontal sum given): 4 doubles for AVX2 and the
 * baseline (picked at the first call, LINALG_KERNEL_PICK), 8 for AVX-512.
 * Inlined with d NULL, the weighting compiles away.
 */
#define GRAM_TILES_BODY(name, vt, width, load, hsum) \
static pg_attribute_always_inline void \
name(int n, int k, const double *c, int ldc, const double *d, double *h, int ldh) \
{ \
	int			pn = (n + 2) / 3 * 3; \
	\
	for (int a = 0; a < pn; a += 3) \
	{ \
		/* a row of tiles is at most n/3 x k/width steps: milliseconds even for wide states */ \
		CHECK_FOR_INTERRUPTS(); \
		for (int b = a; b < pn; b += 3) \
		{ \
			const double *a0 = c + (size_t) a * ldc, \
					   *a1 = a0 + ldc, \
					   *a2 = a1 + ldc; \
			const double *b0 = c + (size_t) b * ldc, \
					   *b1 = b0 + ldc, \
					   *b2 = b1 + ldc; \
			vt			s00 = {0}, s01 = {0}, s02 = {0}, \
						s10 = {0}, s11 = {0}, s12 = {0}, \
						s20 = {0}, s21 = {0}, s22 = {0}; \
			double		t[3][3]; \
			\
			for (int i = 0; i < k; i += (width)) \
			{ \
				vt			x0 = load(a0 + i), \
							x1 = load(a1 + i), \
							x2 = load(a2 + i); \
				vt			y0 = load(b0 + i), \
							y1 = load(b1 + i), \
							y2 = load(b2 + i); \
				\
				if (d) \
				{ \
					vt			w = load(d + i); \
					\
					x0 *= w; \
					x1 *= w; \
					x2 *= w; \
				} \
				s00 += x0 * y0; \
				s01 += x0 * y1; \
				s02 += x0 * y2; \
				s10 += x1 * y0; \
				s11 += x1 * y1; \
				s12 += x1 * y2; \
				s20 += x2 * y0; \
				s21 += x2 * y1; \
				s22 += x2 * y2; \
			} \
			t[0][0] = hsum(s00); \
			t[0][1] = hsum(s01); \
			t[0][2] = hsum(s02); \
			t[1][0] = hsum(s10); \
			t[1][1] = hsum(s11); \
			t[1][2] = hsum(s12); \
			t[2][0] = hsum(s20); \
			t[2][1] = hsum(s21); \
			t[2][2] = hsum(s22); \
			for (int i = 0; i < 3; i++) \
				for (int j = 0; j < 3; j++) \
					if (a + i <= b + j && b + j < n) \
						h[(size_t) (a + i) * ldh + b + j] += t[i][j]; \
		} \
	} \
}

/* Eight doubles in a 512-bit register, for the AVX-512 variants */
typedef double Vec8 __attribute__((vector_size(64), aligned(8)));

#define VEC8_LOAD(p) (*(const Vec8 *) (p))
#define VEC8_SUM(v) ((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))
#if defined(__GNUC__) && defined(__x86_64__)
#define LINALG_AVX512 __attribute__((target("avx512f")))
#else
#define LINALG_AVX512
#endif

GRAM_TILES_BODY(GramTiles4, Vec4, 4, VEC_LOAD, VEC_SUM)
GRAM_TILES_BODY(GramTiles8, Vec8, 8, VEC8_LOAD, VEC8_SUM)

/* The unweighted and weighted kernels of 4 lanes, for LINALG_KERNEL_VARIANTS */
static pg_attribute_always_inline void
GramAddUpperBody(int n, int k, const double *c, int ldc, double *h, int ldh)
{
	GramTiles4(n, k, c, ldc, NULL, h, ldh);
}

static pg_attribute_always_inline void
WeightedGramAddUpperBody(int n, int k, const double *c, int ldc, const double *d, double *h,
						 int ldh)
{
	GramTiles4(n, k, c, ldc, d, h, ldh);
}

LINALG_KERNEL_VARIANTS(GramAddUpper,
					   (int n, int k, const double *c, int ldc, double *h, int ldh),
					   (n, k, c, ldc, h, ldh))
LINALG_KERNEL_VARIANTS(WeightedGramAddUpper,
					   (int n, int k, const double *c, int ldc, const double *d, double *h, int ldh),
					   (n, k, c, ldc, d, h, ldh))

/* The kernels of 8 lanes, in 512-bit registers */
LINALG_AVX512 static void
GramAddUpper8Avx512(int n, int k, const double *c, int ldc, double *h, int ldh)
{
	GramTiles8(n, k, c, ldc, NULL, h, ldh);
}

LINALG_AVX512 static void
WeightedGramAddUpper8Avx512(int n, int k, const double *c, int ldc, const double *d, double *h,
							int ldh)
{
	GramTiles8(n, k, c, ldc, d, h, ldh);
}

/*
 * h += C'C (GRAM_TILES_BODY), in the variant the CPU runs: eight rows at
 * a time where it has AVX-512 and k is a multiple of 8
 */
void
LinalgGramAddUpper(int n, int k, const double *c, int ldc, double *h, int ldh)
{
	if (k % 8 == 0 && CpuHasAvx512())
		GramAddUpper8Avx512(n, k, c, ldc, h, ldh);
	else
		LINALG_KERNEL_PICK(GramAddUpper) (n, k, c, ldc, h, ldh);
}

/* h += C' diag(d) C (GRAM_TILES_BODY), in the variant the CPU runs */
void
LinalgWeightedGramAddUpper(int n, int k, const double *c, int ldc, const double *d, double *h,
						   int ldh)
{
	if (k % 8 == 0 && CpuHasAvx512())
		WeightedGramAddUpper8Avx512(n, k, c, ldc, d, h, ldh);
	else
		LINALG_KERNEL_PICK(WeightedGramAddUpper) (n, k, c, ldc, d, h, ldh);
}

#define SYRK_PANEL 256			/* rows of c per BLAS call of SyrkPanels */

/*
 * c (n x n, upper) += alpha a' a for a of k rows and n columns, by panels
 * of SYRK_PANEL rows of c (a dsyrk on the panel's diagonal block and a
 * dgemm right of it), checking for interrupts between them: a wide
 * product is minutes of BLAS work, which would otherwise ignore cancel.
 * A narrow matrix, the usual case, is one dsyrk call.
 */
static void
SyrkPanels(int n, int k, double alpha, const double *a, int lda, double *c, int ldc)
{
	for (int p0 = 0; p0 < n; p0 += SYRK_PANEL)
	{
		int			p = Min(SYRK_PANEL, n - p0);

		if (n > SYRK_PANEL)
			CHECK_FOR_INTERRUPTS();
		Blas.dsyrk(CblasRowMajor, CblasUpper, CblasTrans, p, k, alpha, a + p0, lda, 1.0,
					c + (size_t) p0 * ldc + p0, ldc);
		if (p0 + p < n)
			Blas.dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, n - p0 - p, k, alpha,
						a + p0, lda, a + p0 + p, lda, 1.0, c + (size_t) p0 * ldc + p0 + p, ldc);
	}
}

/* c (n x n, upper) += a' a for a of k rows and n columns */
void
LinalgSyrkAddUpper(int n, int k, const double *a, int lda, double *c, int ldc)
{
	BlasReady();
	SyrkPanels(n, k, 1.0, a, lda, c, ldc);
}

/*
 * c (m x n) = a b' for row-major a (m x k, row stride lda) and b (n x k,
 * stride ldb): the products of many points with many centers (k-means).
 */
void
LinalgGemmNT(int m, int n, int k, const double *a, int lda, const double *b, int ldb,
			 double *c, int ldc)
{
	BlasReady();
	Blas.dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0, a, lda, b, ldb, 0.0,
			   c, ldc);
}

/* y = A x for a row-major rows x cols matrix */
void
LinalgMatVec(int rows, int cols, const double *a, const double *x, double *y)
{
	BlasReady();
	Blas.dgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0, a, cols, x, 1, 0.0, y, 1);
}

/* y += A' x for a row-major rows x cols matrix */
void
LinalgMatTVecAdd(int rows, int cols, const double *a, const double *x, double *y)
{
	BlasReady();
	Blas.dgemv(CblasRowMajor, CblasTrans, rows, cols, 1.0, a, cols, x, 1, 1.0, y, 1);
}

/* c (upper) += alpha x x' */
void
LinalgSyrUpper(int n, double alpha, const double *x, double *c, int ldc)
{
	BlasReady();
	Blas.dsyr(CblasRowMajor, CblasUpper, n, alpha, x, 1, c, ldc);
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

	BlasReady();
	Blas.dgemv(CblasRowMajor, CblasNoTrans, n, n, 1.0, a, n, x, 1, 0.0, t, 1);
	q = Blas.ddot(n, x, 1, t, 1);
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

	BlasReady();
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
		d -= Blas.ddot(j, &a[j * n], 1, &a[j * n], 1);
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
			a[i * n + j] = (a[i * n + j] - Blas.ddot(j, &a[i * n], 1, &a[j * n], 1)) / d;
		rank++;
	}
	return rank;
}

/*
 * LinalgCholeskyAliased with the slots taken in a given order: work (n x
 * n) receives a (full, symmetric) permuted by order, and aliased[] is
 * read and set in the original indexes.  A slot is aliased when it is a
 * combination of slots that come before it in order, so order decides
 * which of a collinear group loses its coefficient (the reference level
 * of a category, for one).  Returns the rank.
 */
int
LinalgCholeskyAliasedOrder(int n, const double *a, double tol, bool *aliased, const int *order,
						   double *work)
{
	bool	   *pal = palloc(sizeof(bool) * Max(n, 1));
	int			rank;

	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		pal[i] = aliased[order[i]];
		for (int j = 0; j < n; j++)
			work[(Size) i * n + j] = a[(Size) order[i] * n + order[j]];
	}
	rank = LinalgCholeskyAliased(n, work, tol, pal);
	for (int i = 0; i < n; i++)
		aliased[order[i]] = pal[i];
	pfree(pal);
	return rank;
}

/*
 * Copy the non-aliased rows and columns of a (n x n, upper triangle read)
 * into c (k x k), full and symmetric: read column-major, as LAPACK reads
 * it, it is the same matrix, so LAPACK's 'U' works on the triangle
 * LAPACKE's row-major 'U' would have passed it.
 */
static int
Compress(int n, const double *a, const bool *aliased, double *c, int *map)
{
	int			k = 0;

	for (int i = 0; i < n; i++)
		if (!aliased[i])
			map[k++] = i;
	for (int i = 0; i < k; i++)
		for (int j = i; j < k; j++)
			c[i * k + j] = c[j * k + i] = a[map[i] * n + map[j]];
	return k;
}

/* Are the k x k matrix c and the k values of rhs all finite? */
static bool
SystemFinite(int k, const double *c, const double *rhs)
{
	for (Size i = 0; i < (Size) k * k; i++)
		if (!isfinite(c[i]))
			return false;
	for (int i = 0; i < k; i++)
		if (!isfinite(rhs[i]))
			return false;
	return true;
}

/* Refuse a system holding infinity or NaN: sums that overflowed upstream */
static void
CheckFiniteSystem(int k, const double *c, const double *rhs)
{
	if (SystemFinite(k, c, rhs))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("the normal equations of the fit hold values that are not finite"),
			 errdetail("The training data's sums overflowed double precision."),
			 errhint("Rescale the features and the target (or the class weights) so that their squares sum below 1.8e308.")));
}

/* The error for a factorization that found the system not positive definite */
static void
NotDefinite(int info)
{
	if (info < 0)
		elog(ERROR, "Cholesky factorization rejected argument %d", -info);
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("the normal equations of the fit are numerically singular (pivot %d)", info),
			 errdetail("Some features are linear combinations of others up to rounding, so the solve cannot separate them."),
			 errhint("Remove features that are (nearly) linear combinations of others, or set the option \"l2\".")));
}

#define SOLVE_BLOCK 64			/* block size of the interruptible Cholesky */
#define SOLVE_BLOCKED_MIN 512	/* systems from this size on are solved by blocks */
#define INVERSE_BLOCK 32		/* columns of the inverse per pair of solves */

/*
 * In-place Cholesky c = U'U of a k x k row-major matrix (upper triangle),
 * right-looking by blocks of SOLVE_BLOCK: the diagonal block by dpotrf, the
 * panel right of it by dtrsm, the trailing matrix by SyrkPanels, checking
 * for interrupts between them.  Returns dpotrf's info, offset to the whole.
 */
static int
CholeskyBlocked(int k, double *c)
{
	for (int j = 0; j < k; j += SOLVE_BLOCK)
	{
		int			nb = Min(SOLVE_BLOCK, k - j);
		int			rest = k - j - nb;
		double	   *a11 = &c[(size_t) j * k + j];
		int			info;

		CHECK_FOR_INTERRUPTS();
		Blas.dpotrf("L", &nb, a11, &k, &info, 1);
		if (info != 0)
			return info > 0 ? info + j : info;
		if (rest == 0)
			break;
		Blas.dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, nb, rest,
					1.0, a11, k, a11 + nb, k);
		SyrkPanels(rest, nb, -1.0, a11 + nb, k, a11 + (size_t) nb * k + nb, k);
	}
	return 0;
}

/*
 * The inverse of U'U from the factor U (k x k, upper), into the k x k
 * matrix inv: INVERSE_BLOCK columns at a time, each a forward and a back
 * triangular solve on identity columns, with an interrupt check between.
 */
static void
InverseBlocked(int k, const double *u, double *inv)
{
	double	   *cols = MemoryContextAllocHuge(CurrentMemoryContext,
											  mul_size(sizeof(double), mul_size(k, INVERSE_BLOCK)));

	for (int c0 = 0; c0 < k; c0 += INVERSE_BLOCK)
	{
		int			nb = Min(INVERSE_BLOCK, k - c0);

		CHECK_FOR_INTERRUPTS();
		memset(cols, 0, sizeof(double) * (Size) k * nb);
		for (int j = 0; j < nb; j++)
			cols[(size_t) (c0 + j) * nb + j] = 1.0;
		/* U' y = e: y is zero above row c0, so only rows c0.. take part */
		Blas.dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, k - c0, nb,
					1.0, &u[(size_t) c0 * k + c0], k, &cols[(size_t) c0 * nb], nb);
		Blas.dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, k, nb,
					1.0, u, k, cols, nb);
		for (int i = 0; i < k; i++)
			memcpy(&inv[(size_t) i * k + c0], &cols[(size_t) i * nb], sizeof(double) * nb);
	}
	pfree(cols);
}

/*
 * Solve a x = b for a symmetric positive definite a (n x n, full),
 * restricted to the rows and columns not aliased (their x is 0), by a
 * Cholesky factorization.  When inv is not NULL it receives the inverse
 * of that restriction, zero on aliased rows and columns.  b is
 * overwritten with x.  Small systems go to LAPACK whole (dpotrf, dpotrs,
 * dpotri); from SOLVE_BLOCKED_MIN on, whose factorization and inverse
 * take seconds to minutes, by blocks that a cancel can interrupt.
 */
void
LinalgSpdSolve(int n, const double *a, const bool *aliased, double *b, double *inv)
{
	int		   *map = palloc(sizeof(int) * Max(n, 1));
	double	   *c = MemoryContextAllocHuge(CurrentMemoryContext,
										   mul_size(sizeof(double), mul_size(Max(n, 1), Max(n, 1))));
	double	   *rhs = palloc(sizeof(double) * Max(n, 1));
	double	   *cinv = NULL;
	int			k = Compress(n, a, aliased, c, map);
	bool		blocked = k >= SOLVE_BLOCKED_MIN;
	int			one = 1;
	int			info;

	BlasReady();
	CHECK_FOR_INTERRUPTS();
	for (int i = 0; i < k; i++)
		rhs[i] = b[map[i]];
	CheckFiniteSystem(k, c, rhs);
	memset(b, 0, sizeof(double) * n);
	if (k > 0)
	{
		if (blocked)
			info = CholeskyBlocked(k, c);
		else
			Blas.dpotrf("L", &k, c, &k, &info, 1);
		if (info != 0)
			NotDefinite((int) info);
		if (blocked)
		{
			Blas.dtrsv(CblasRowMajor, CblasUpper, CblasTrans, CblasNonUnit, k, c, k, rhs, 1);
			Blas.dtrsv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, k, c, k, rhs, 1);
		}
		else
		{
			Blas.dpotrs("L", &k, &one, c, &k, rhs, &k, &info, 1);
			if (info != 0)
				elog(ERROR, "Cholesky solve failed (dpotrs info %d)", (int) info);
		}
		for (int i = 0; i < k; i++)
			b[map[i]] = rhs[i];
	}
	if (inv != NULL)
	{
		memset(inv, 0, sizeof(double) * n * n);
		if (k > 0)
		{
			CHECK_FOR_INTERRUPTS();
			if (blocked)
			{
				cinv = MemoryContextAllocHuge(CurrentMemoryContext,
											  mul_size(sizeof(double), mul_size(k, k)));
				InverseBlocked(k, c, cinv);
			}
			else
			{
				Blas.dpotri("L", &k, c, &k, &info, 1);
				if (info != 0)
					NotDefinite((int) info);
				cinv = c;
			}
			for (int i = 0; i < k; i++)
				for (int j = i; j < k; j++)
				{
					inv[map[i] * n + map[j]] = cinv[i * k + j];
					inv[map[j] * n + map[i]] = cinv[i * k + j];
				}
		}
	}
	pfree(map);
	if (cinv != NULL && cinv != c)
		pfree(cinv);
	pfree(c);
	pfree(rhs);
}

/*
 * c = alpha a b + beta c for row-major a (rows x inner), b (inner x cols)
 * and c (rows x cols): the dense half of a block of conjugate-gradient
 * steps in ALS, where b is a small Gram matrix.
 */
void
LinalgGemm(int rows, int cols, int inner, double alpha, const double *a, const double *b,
		   double beta, double *c)
{
	BlasReady();
	Blas.dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, inner, alpha, a, inner,
			   b, cols, beta, c, cols);
}

/*
 * The Cholesky factor U of a small symmetric positive definite a (n x n,
 * row-major, upper triangle read), a = U'U, in place; false when a is not
 * positive definite.  Plain C with contiguous inner loops: for the tens of
 * factors of a recommender, the per-call overhead of LAPACK's unblocked
 * routines would cost more than the arithmetic.  Inlined into the
 * kernels below, which are compiled for x86-64-v3 (AVX2 with FMA) and for
 * the baseline, picked at the first call.
 */
static pg_attribute_always_inline bool
SmallFactor(int n, double *a)
{
	for (int k = 0; k < n; k++)
	{
		double	   *rk = a + (size_t) k * n;
		double		d = rk[k];
		double		inv;

		if (!(d > 0) || !isfinite(d))
			return false;
		d = sqrt(d);
		rk[k] = d;
		inv = 1.0 / d;
		for (int j = k + 1; j < n; j++)
			rk[j] *= inv;
		for (int i = k + 1; i < n; i++)
		{
			double		u = rk[i];
			double	   *ri = a + (size_t) i * n;

			for (int j = i; j < n; j++)
				ri[j] -= u * rk[j];
		}
	}
	return true;
}

/* b = (U'U)^-1 b for the factor U of SmallFactor */
static pg_attribute_always_inline void
SmallSolve(int n, const double *u, double *b)
{
	for (int k = 0; k < n; k++)
	{
		const double *rk = u + (size_t) k * n;
		double		z = b[k] / rk[k];

		b[k] = z;
		for (int j = k + 1; j < n; j++)
			b[j] -= rk[j] * z;
	}
	for (int k = n - 1; k >= 0; k--)
	{
		const double *rk = u + (size_t) k * n;
		double		t = b[k];

		for (int j = k + 1; j < n; j++)
			t -= rk[j] * b[j];
		b[k] = t / rk[k];
	}
}

/* The factorization and solve of LinalgSmallSpdSolve */
static pg_attribute_always_inline bool
SmallSpdSolveBody(int n, double *a, double *b)
{
	if (!SmallFactor(n, a))
		return false;
	SmallSolve(n, a, b);
	return true;
}

LINALG_KERNEL_LEVELS_V3(SmallSpdSolve, bool, (int n, double *a, double *b), (n, a, b))

/*
 * Solve a x = b for a small symmetric positive definite a (n x n,
 * row-major; only its upper triangle is read and it is overwritten by its
 * Cholesky factor); b is overwritten with x.  False when a is not
 * positive definite.
 */
bool
LinalgSmallSpdSolve(int n, double *a, double *b)
{
	return LINALG_KERNEL_PICK_V3(SmallSpdSolve) (n, a, b);
}

/* The factorization and the solves of LinalgSmallSpdInverse */
static pg_attribute_always_inline bool
SmallSpdInverseBody(int n, double *a, double *inv)
{
	if (!SmallFactor(n, a))
		return false;
	for (int j = 0; j < n; j++)
	{
		double	   *col = inv + (size_t) j * n;

		memset(col, 0, sizeof(double) * n);
		col[j] = 1.0;
		SmallSolve(n, a, col);
	}
	return true;
}

LINALG_KERNEL_LEVELS_V3(SmallSpdInverse, bool, (int n, double *a, double *inv), (n, a, inv))

/*
 * The inverse of a small symmetric positive definite a (n x n, upper
 * triangle read, a overwritten) into inv (full); false when a is not
 * positive definite.
 */
bool
LinalgSmallSpdInverse(int n, double *a, double *inv)
{
	return LINALG_KERNEL_PICK_V3(SmallSpdInverse) (n, a, inv);
}
