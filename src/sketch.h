/*-------------------------------------------------------------------------
 * sketch.h
 *	  Bounded-memory, combinable summaries of a stream of values, for the
 *	  discovery functions: order keys of values, a fast sort of keys, an
 *	  exact value table (which doubles as a Misra-Gries frequent-values
 *	  summary), a quantile sketch with a deterministic rank-error bound, a
 *	  K-minimum-values distinct count, and block moments.  Plain C over
 *	  arrays: no SPI, no catalog.
 *
 * Every value becomes a 64-bit key: a number its order key (the bits of
 * the double, mapped so that unsigned order is numeric order), a text its
 * 64-bit hash, an enum its OID.  Summaries work on keys only.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_SKETCH_H
#define PROFENRICH_SKETCH_H

#include "lib/stringinfo.h"

/* Values of one column buffered before they are summarized together */
#define SKETCH_BLOCK 4096

/* Quantile sketch: a level compacts when it would hold this many items */
#define QSKETCH_CAP 4096
#define QSKETCH_LEVELS 48

/* Exact value table: at most this many distinct values */
#define VTABLE_MAX 8191
#define VTABLE_MAX_SLOTS 16384
/* Misra-Gries: a purge leaves at most this many counters */
#define VTABLE_MG_KEEP 4096

/* K-minimum-values distinct count: hashes kept */
#define KMV_K 8192

#define KEY_TOP UINT64CONST(0x8000000000000000)

/* The order key of a finite double: unsigned order of keys is numeric order; -0 is 0 */
static inline uint64
KeyFromDouble(double x)
{
	uint64		u;

	x += 0.0;
	memcpy(&u, &x, sizeof(u));
	return u ^ ((uint64) ((int64) u >> 63) | KEY_TOP);
}

/* The double of an order key */
static inline double
KeyToDouble(uint64 k)
{
	uint64		u = (k & KEY_TOP) ? (k ^ KEY_TOP) : ~k;
	double		x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

/* A 64-bit finalizer (splitmix64): spreads keys for hashing */
static inline uint64
KeyMix(uint64 h)
{
	h ^= h >> 30;
	h *= UINT64CONST(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64CONST(0x94d049bb133111eb);
	h ^= h >> 31;
	return h;
}

/* Called with the reason when serialized bytes are not a valid summary; does not return */
typedef void (*SketchFail) (const char *why);

/* Fail unless n more bytes can be read */
static inline void
SketchNeed(StringInfo buf, Size n, SketchFail fail)
{
	if (buf->cursor < 0 || (Size) (buf->len - buf->cursor) < n)
		fail("truncated");
}

/* Growable scratch arrays shared by the operations of one aggregate state */
typedef struct SketchScratch
{
	int			cap;
	uint64	   *a;
	uint64	   *b;
} SketchScratch;

extern void SketchScratchInit(SketchScratch *s);
extern void SketchScratchEnsure(SketchScratch *s, int n);

/* Sort keys ascending; tmp holds n keys */
extern void KeySort(uint64 *keys, int n, uint64 *tmp);
/* The order keys of finite doubles, sorted, given their minimum and maximum */
extern void DoubleSortKeys(const double *x, int n, uint64 *keys, double lo, double hi);

/*
 * Count, mean and sum of squared deviations, merged block by block with
 * the pairwise update of Chan, Golub and LeVeque.
 */
typedef struct BlockMoments
{
	double		n;
	double		mean;
	double		m2;
} BlockMoments;

extern void BlockMomentsAdd(BlockMoments *m, const double *x, int n, double *lo, double *hi);
extern void BlockMomentsMerge(BlockMoments *a, const BlockMoments *b);

/* Co-moments of pairs (x, y), for correlations */
typedef struct CoMoments
{
	double		n;
	double		mx;
	double		my;
	double		cxx;
	double		cyy;
	double		cxy;
} CoMoments;

extern void CoMomentsAdd(CoMoments *m, const double *x, const double *y, int n);
extern void CoMomentsMerge(CoMoments *a, const CoMoments *b);

/*
 * The quantile sketch: a stack of compactors.  Level l holds sorted keys
 * of weight 2^l; when a level would reach QSKETCH_CAP items it keeps
 * every other one (alternating the half it keeps) at level l + 1.  Such
 * a compaction changes the count of items below any threshold by at most
 * 2^l, so "err", the sum of the weights of all compactions, bounds the
 * rank error of every query.  A level receives at most n / 2^l weight, so
 * it compacts at most n / (QSKETCH_CAP 2^l) times: err <= n L / QSKETCH_CAP
 * for L levels that compacted, 0.22% of n at a million values, 0.46% at
 * a billion.
 */
typedef struct QSketch
{
	int			nlevels;
	uint64		n;				/* total weight */
	uint64		err;			/* bound of the rank error of any query */
	uint64		parity;			/* bit l: the half level l keeps next */
	int			len[QSKETCH_LEVELS];
	int			cap[QSKETCH_LEVELS];
	uint64	   *items[QSKETCH_LEVELS];
} QSketch;

extern void QSketchInit(QSketch *s);
extern void QSketchFree(QSketch *s);
extern void QSketchInsert(QSketch *s, int level, const uint64 *keys, int n, SketchScratch *sc);
extern void QSketchInsertCounted(QSketch *s, const uint64 *keys, const int64 *counts, int n,
								 SketchScratch *sc);
extern void QSketchMerge(QSketch *a, const QSketch *b, SketchScratch *sc);
extern int	QSketchFlatten(const QSketch *s, uint64 **keys, uint64 **weights);
extern void QSketchWrite(StringInfo buf, const QSketch *s);
extern void QSketchRead(StringInfo buf, QSketch *s, SketchFail fail);

/*
 * The value table: distinct keys with a count and a sum (of a target,
 * for the feature report), and optionally a string per key (texts shown
 * in reports).  Open addressing; key 0 marks an empty slot (no order key
 * of a finite double, enum OID or remapped hash is 0).
 */
typedef struct VEntry
{
	uint64		key;
	int64		n;
	double		sum;
} VEntry;

typedef struct VTable
{
	int			len;
	int			nslots;			/* a power of two, or 0 before first use */
	VEntry	   *slots;
	char	  **strs;			/* per slot, when the table keeps strings */
	bool		keep_strings;
	int64		decrements;		/* Misra-Gries: subtracted from every counter */
} VTable;

extern void VTableInit(VTable *t, bool keep_strings);
extern void VTableFree(VTable *t);
extern VEntry *VTableFind(VTable *t, uint64 key);
extern VEntry *VTableInsert(VTable *t, uint64 key, const char *str, int slen);
extern void VTablePurge(VTable *t);
extern int	VTableSorted(const VTable *t, VEntry **entries, char ***strs);

/* The slot of a key, or of the empty slot where it would go */
static inline int
VTableSlot(const VTable *t, uint64 key)
{
	int			mask = t->nslots - 1;
	int			s = (int) (KeyMix(key) & mask);

	while (t->slots[s].key != 0 && t->slots[s].key != key)
		s = (s + 1) & mask;
	return s;
}

/* Remap the one hash value that would mean an empty slot */
static inline uint64
KeyFromHash(uint64 h)
{
	return h == 0 ? 1 : h;
}

/*
 * K minimum values: the KMV_K smallest distinct hashes seen; their count
 * while fewer, else the estimate (K - 1) / h_K (relative standard error
 * 1 / sqrt(K - 2), 1.1%).  Hashes below the threshold wait in a
 * candidate buffer, folded in when it fills.
 */
typedef struct Kmv
{
	int			len;
	int			ncand;
	uint64		thr;
	uint64	   *h;				/* KMV_K, sorted, distinct */
	uint64	   *cand;			/* KMV_K */
} Kmv;

extern void KmvInit(Kmv *k);
extern void KmvFree(Kmv *k);
extern void KmvFlush(Kmv *k, SketchScratch *sc);
extern void KmvMerge(Kmv *a, const Kmv *b, SketchScratch *sc);
extern double KmvEstimate(const Kmv *k);
extern void KmvWrite(StringInfo buf, Kmv *k, SketchScratch *sc);
extern void KmvRead(StringInfo buf, Kmv *k, SketchFail fail);

/* Offer a hash (already mixed) */
static inline void
KmvAdd(Kmv *k, uint64 h, SketchScratch *sc)
{
	if (likely(h >= k->thr))
		return;
	k->cand[k->ncand++] = h;
	if (unlikely(k->ncand == KMV_K))
		KmvFlush(k, sc);
}

/* A sorted run of weighted items: (key, weight in class 0, weight in class 1) */
typedef struct WItem
{
	uint64		key;
	double		w0;
	double		w1;
} WItem;

extern int	WItemsFromSketches(const QSketch *s0, const QSketch *s1, WItem **items);

#endif
