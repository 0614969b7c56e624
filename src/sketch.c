/*-------------------------------------------------------------------------
 * sketch.c
 *	  Bounded-memory, combinable summaries of value streams: key sort,
 *	  block moments, the quantile sketch, the value table (exact, or
 *	  Misra-Gries counters) and the K-minimum-values distinct count.
 *
 * The inner loops are branch-light: a bucket sort on the key range with a
 * final insertion pass, branchless merges, and moments with independent
 * accumulators, because the profile pass gives each value a few tens of
 * nanoseconds for everything.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "port/pg_bitutils.h"

#include "sketch.h"

#define SORT_SMALL 16
#define SORT_MAX_BITS 13
#define SORT_MAX_DEPTH 3
#define DOUBLE_BUCKET_EXTRA 1

/* An empty scratch */
void
SketchScratchInit(SketchScratch *s)
{
	s->cap = 0;
	s->a = NULL;
	s->b = NULL;
}

/* Room for n keys in each scratch array (contents are not kept) */
void
SketchScratchEnsure(SketchScratch *s, int n)
{
	if (n <= s->cap)
		return;
	n = Max(n, 2 * s->cap);
	if (s->a)
	{
		pfree(s->a);
		pfree(s->b);
	}
	s->a = palloc(sizeof(uint64) * n);
	s->b = palloc(sizeof(uint64) * n);
	s->cap = n;
}

/* Insertion sort: cheap on short or nearly sorted runs */
static inline void
InsertionSortKeys(uint64 *a, int n)
{
	for (int i = 1; i < n; i++)
	{
		uint64		v = a[i];
		int			j = i;

		while (j > 0 && a[j - 1] > v)
		{
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
}

/* qsort comparator of keys, for the rare deep buckets */
static int
KeyCmp(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Bucket sort on the key range: one counting pass, one scatter, a
 * recursive sort of any crowded bucket (skewed data), then one insertion
 * pass over the whole array, which only moves keys within their bucket.
 */
static void
BucketSortKeys(uint64 *a, int n, uint64 *tmp, int depth)
{
	int			counts[(1 << SORT_MAX_BITS) + 1];
	uint64		lo = a[0],
				hi = a[0];
	int			bits,
				nb,
				shift,
				crowded = 0;

	for (int i = 1; i < n; i++)
	{
		uint64		v = a[i];

		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	if (lo == hi)
		return;
	bits = Min(SORT_MAX_BITS, pg_leftmost_one_pos32((uint32) n));
	nb = 1 << bits;
	shift = Max(0, pg_leftmost_one_pos64(hi - lo) + 1 - bits);
	memset(counts, 0, sizeof(int) * (nb + 1));
	for (int i = 0; i < n; i++)
		counts[((a[i] - lo) >> shift) + 1]++;
	for (int b = 1; b <= nb; b++)
	{
		crowded |= counts[b] > SORT_SMALL;
		counts[b] += counts[b - 1];
	}
	for (int i = 0; i < n; i++)
		tmp[counts[(a[i] - lo) >> shift]++] = a[i];
	memcpy(a, tmp, sizeof(uint64) * n);
	/* counts[b] is now the end of bucket b */
	for (int b = 0; crowded && b < nb; b++)
	{
		int			start = b == 0 ? 0 : counts[b - 1];
		int			size = counts[b] - start;

		if (size <= SORT_SMALL)
			continue;
		if (depth < SORT_MAX_DEPTH)
			BucketSortKeys(a + start, size, tmp + start, depth + 1);
		else
			qsort(a + start, size, sizeof(uint64), KeyCmp);
	}
	InsertionSortKeys(a, n);
}

/* Sort keys ascending; tmp holds n keys */
void
KeySort(uint64 *keys, int n, uint64 *tmp)
{
	if (n <= SORT_SMALL)
		InsertionSortKeys(keys, n);
	else
		BucketSortKeys(keys, n, tmp, 0);
}

/*
 * The order keys of doubles, sorted: a bucket sort on the value range,
 * about half a value per bucket for smooth data, so the final insertion
 * pass moves little.  The bucket of a value is a monotone function of it
 * (so no key leaves its bucket's span), computed once; the keys are what
 * is scattered, so there is no separate conversion pass; a crowded bucket
 * (skewed data) is sorted by its key range.
 */
void
DoubleSortKeys(const double *x, int n, uint64 *keys, double lo, double hi)
{
	int			counts[(1 << SORT_MAX_BITS) + 1];
	uint16		idx[SKETCH_BLOCK];
	uint64		tmp[SKETCH_BLOCK];
	int			bits = Min(SORT_MAX_BITS, pg_leftmost_one_pos32((uint32) Max(n, 1)) + DOUBLE_BUCKET_EXTRA);
	int			nb = 1 << bits;
	double		half_lo = 0.5 * lo,
				scale = (nb - 1) / (0.5 * hi - half_lo);
	int			crowded = 0;

	Assert(n <= SKETCH_BLOCK);
	if (n <= SORT_SMALL || !(hi > lo))
	{
		for (int i = 0; i < n; i++)
			keys[i] = KeyFromDouble(x[i]);
		InsertionSortKeys(keys, n);
		return;
	}
	memset(counts, 0, sizeof(int) * (nb + 1));
	for (int i = 0; i < n; i++)
	{
		int			b = (int) ((0.5 * x[i] - half_lo) * scale);

		b = Min(b, nb - 1);
		idx[i] = (uint16) b;
		counts[b + 1]++;
	}
	for (int b = 1; b <= nb; b++)
	{
		crowded |= counts[b] > SORT_SMALL;
		counts[b] += counts[b - 1];
	}
	for (int i = 0; i < n; i++)
		keys[counts[idx[i]]++] = KeyFromDouble(x[i]);
	for (int b = 0; crowded && b < nb; b++)
	{
		int			start = b == 0 ? 0 : counts[b - 1];
		int			size = counts[b] - start;

		if (size > SORT_SMALL)
			BucketSortKeys(keys + start, size, tmp, 1);
	}
	InsertionSortKeys(keys, n);
}

/*
 * Fold a block of values into the moments (two passes over the block, so
 * the block's own sum of squares is exact to rounding), and give the
 * block's minimum and maximum.
 */
void
BlockMomentsAdd(BlockMoments *m, const double *x, int n, double *lo, double *hi)
{
	double		s[4] = {0, 0, 0, 0},
				q[4] = {0, 0, 0, 0};
	double		mn[4],
				mx[4];
	BlockMoments b;
	int			i;

	if (n <= 0)
		return;
	for (int k = 0; k < 4; k++)
		mn[k] = mx[k] = x[0];
	for (i = 0; i + 4 <= n; i += 4)
		for (int k = 0; k < 4; k++)
		{
			double		v = x[i + k];

			s[k] += v;
			mn[k] = v < mn[k] ? v : mn[k];
			mx[k] = v > mx[k] ? v : mx[k];
		}
	for (; i < n; i++)
	{
		s[0] += x[i];
		mn[0] = x[i] < mn[0] ? x[i] : mn[0];
		mx[0] = x[i] > mx[0] ? x[i] : mx[0];
	}
	b.n = n;
	b.mean = ((s[0] + s[1]) + (s[2] + s[3])) / n;
	for (i = 0; i + 4 <= n; i += 4)
		for (int k = 0; k < 4; k++)
		{
			double		d = x[i + k] - b.mean;

			q[k] += d * d;
		}
	for (; i < n; i++)
		q[0] += (x[i] - b.mean) * (x[i] - b.mean);
	b.m2 = (q[0] + q[1]) + (q[2] + q[3]);
	*lo = Min(Min(mn[0], mn[1]), Min(mn[2], mn[3]));
	*hi = Max(Max(mx[0], mx[1]), Max(mx[2], mx[3]));
	BlockMomentsMerge(m, &b);
}

/* Chan, Golub and LeVeque's pairwise update: a += b */
void
BlockMomentsMerge(BlockMoments *a, const BlockMoments *b)
{
	double		n = a->n + b->n,
				d;

	if (b->n == 0)
		return;
	if (a->n == 0)
	{
		*a = *b;
		return;
	}
	d = b->mean - a->mean;
	a->m2 += b->m2 + d * d * (a->n * b->n / n);
	a->mean += d * (b->n / n);
	a->n = n;
}

/* Fold a block of pairs into the co-moments (two passes) */
void
CoMomentsAdd(CoMoments *m, const double *x, const double *y, int n)
{
	CoMoments	b;
	double		sx = 0,
				sy = 0;

	if (n <= 0)
		return;
	for (int i = 0; i < n; i++)
	{
		sx += x[i];
		sy += y[i];
	}
	b.n = n;
	b.mx = sx / n;
	b.my = sy / n;
	b.cxx = b.cyy = b.cxy = 0;
	for (int i = 0; i < n; i++)
	{
		double		dx = x[i] - b.mx,
					dy = y[i] - b.my;

		b.cxx += dx * dx;
		b.cyy += dy * dy;
		b.cxy += dx * dy;
	}
	CoMomentsMerge(m, &b);
}

/* The pairwise update for co-moments: a += b */
void
CoMomentsMerge(CoMoments *a, const CoMoments *b)
{
	double		n = a->n + b->n,
				dx,
				dy,
				f;

	if (b->n == 0)
		return;
	if (a->n == 0)
	{
		*a = *b;
		return;
	}
	dx = b->mx - a->mx;
	dy = b->my - a->my;
	f = a->n * b->n / n;
	a->cxx += b->cxx + dx * dx * f;
	a->cyy += b->cyy + dy * dy * f;
	a->cxy += b->cxy + dx * dy * f;
	a->mx += dx * (b->n / n);
	a->my += dy * (b->n / n);
	a->n = n;
}

/* An empty sketch */
void
QSketchInit(QSketch *s)
{
	memset(s, 0, sizeof(QSketch));
}

/* Release a sketch's levels */
void
QSketchFree(QSketch *s)
{
	for (int l = 0; l < s->nlevels; l++)
		if (s->items[l])
			pfree(s->items[l]);
	QSketchInit(s);
}

/* Make level l exist and hold at least need items */
static void
LevelReserve(QSketch *s, int l, int need)
{
	int			c;

	if (l >= QSKETCH_LEVELS)
		elog(ERROR, "quantile sketch deeper than %d levels", QSKETCH_LEVELS);
	for (; s->nlevels <= l; s->nlevels++)
	{
		s->len[s->nlevels] = 0;
		s->cap[s->nlevels] = 0;
		s->items[s->nlevels] = NULL;
	}
	if (need <= s->cap[l])
		return;
	c = Max(Max(need, 64), Min(2 * s->cap[l], QSKETCH_CAP));
	s->items[l] = s->items[l] ? repalloc(s->items[l], sizeof(uint64) * c) :
		palloc(sizeof(uint64) * c);
	s->cap[l] = c;
}

/* Merge sorted b into sorted a in place, from the back; a has room for na + nb */
static void
MergeIntoBack(uint64 *a, int na, const uint64 *b, int nb)
{
	int			i = na - 1,
				j = nb - 1,
				k = na + nb - 1;

	while (i >= 0 && j >= 0)
	{
		uint64		x = a[i],
					y = b[j];
		int			ta = x > y;

		a[k--] = ta ? x : y;
		i -= ta;
		j -= 1 - ta;
	}
	if (j >= 0)
		memcpy(a, b, sizeof(uint64) * (j + 1));
}

/*
 * Merge sorted a and b and keep every other item of the result, merged
 * items off, off + 2, ..., into out; returns the count kept.  Merged item
 * k goes to slot (k - off) / 2 when k - off is even, else to the dummy
 * slot out[total / 2], so out holds total / 2 + 1.  Two branchless
 * chains run at once, one from the front and one from the back (ties go
 * to a first, as one stable merge would), so their load-compare
 * latencies overlap; the middle is finished by the front chain.  na + nb
 * must be even.
 */
static int
MergeCompact(const uint64 *a, int na, const uint64 *b, int nb, int off, uint64 *out)
{
	int			total = na + nb,
				half = total / 2;
	int			i = 0,
				j = 0,
				k = 0;
	int			ia = na - 1,
				jb = nb - 1,
				kb = total - 1;

#define COMPACT_SLOT(k) ((((k) - off) & 1) ? half : ((k) - off) >> 1)
	while (k < kb && i <= ia && j <= jb)
	{
		uint64		x = a[i],
					y = b[j],
					xb = a[ia],
					yb = b[jb];
		int			tb = y < x;
		int			ta = xb > yb;

		out[COMPACT_SLOT(k)] = tb ? y : x;
		j += tb;
		i += 1 - tb;
		k++;
		out[COMPACT_SLOT(kb)] = ta ? xb : yb;
		ia -= ta;
		jb -= 1 - ta;
		kb--;
	}
	/* the rest lies in a[i..ia] and b[j..jb], merged items k..kb */
	while (k <= kb)
	{
		int			tb = i > ia || (j <= jb && b[j] < a[i]);

		out[COMPACT_SLOT(k)] = tb ? b[j] : a[i];
		j += tb;
		i += 1 - tb;
		k++;
	}
#undef COMPACT_SLOT
	return half;
}

#ifdef USE_ASSERT_CHECKING
/* Invariants of a sketch: levels below the cap and sorted, weights adding up to n */
static void
QSketchCheck(const QSketch *s)
{
	uint64		total = 0;

	Assert(s->nlevels >= 0 && s->nlevels <= QSKETCH_LEVELS);
	for (int l = 0; l < s->nlevels; l++)
	{
		Assert(s->len[l] >= 0 && s->len[l] < QSKETCH_CAP && s->len[l] <= Max(s->cap[l], 0));
		for (int i = 1; i < s->len[l]; i++)
			Assert(s->items[l][i - 1] <= s->items[l][i]);
		total += (uint64) s->len[l] << l;
	}
	Assert(total == s->n);
}
#else
#define QSketchCheck(s) ((void) 0)
#endif

/*
 * Add n sorted keys of weight 2^level.  A level that would reach the cap
 * merges, keeps its largest item if the count is odd, and passes every
 * other item of the rest up, alternating which half; each compaction
 * adds its weight to err.  keys must not be the scratch.
 */
void
QSketchInsert(QSketch *s, int level, const uint64 *keys, int n, SketchScratch *sc)
{
	const uint64 *in = keys;
	int			nin = n;
	int			which = 0;

	if (n <= 0)
		return;
	s->n += (uint64) n << level;
	/* a carry is at most half of a level plus what came in: room for the whole chain */
	SketchScratchEnsure(sc, QSKETCH_CAP + Max(n, QSKETCH_CAP));
	for (int l = level;; l++)
	{
		uint64	   *out = which ? sc->b : sc->a;
		uint64	   *have;
		int			na,
					off;

		LevelReserve(s, l, 1);
		na = s->len[l];
		if (na + nin < QSKETCH_CAP)
		{
			LevelReserve(s, l, na + nin);
			MergeIntoBack(s->items[l], na, in, nin);
			s->len[l] = na + nin;
			QSketchCheck(s);
			return;
		}
		/* an odd count keeps its largest item at this level */
		have = s->items[l];
		s->len[l] = 0;
		off = (int) ((s->parity >> l) & 1);
		s->parity ^= UINT64CONST(1) << l;
		if ((na + nin) & 1)
		{
			uint64		top;

			if (na > 0 && (nin == 0 || have[na - 1] > in[nin - 1]))
				top = have[--na];
			else
				top = in[--nin];
			nin = MergeCompact(have, na, in, nin, off, out);
			have[0] = top;
			s->len[l] = 1;
		}
		else
			nin = MergeCompact(have, na, in, nin, off, out);
		s->err += UINT64CONST(1) << l;
		in = out;
		which ^= 1;
	}
}

/*
 * Add sorted distinct keys with counts, exactly: a count's binary digits
 * say at which levels the key goes (count 5 = one item at level 0, one at
 * level 2).
 */
void
QSketchInsertCounted(QSketch *s, const uint64 *keys, const int64 *counts, int n,
					 SketchScratch *sc)
{
	uint64	   *sel;
	int64		any = 0;

	if (n <= 0)
		return;
	sel = palloc(sizeof(uint64) * n);
	for (int i = 0; i < n; i++)
		any |= counts[i];
	for (int l = 0; l < 63 && (any >> l) != 0; l++)
	{
		int			m = 0;

		for (int i = 0; i < n; i++)
			if ((counts[i] >> l) & 1)
				sel[m++] = keys[i];
		QSketchInsert(s, l, sel, m, sc);
	}
	pfree(sel);
}

/* Fold b into a; b is not modified */
void
QSketchMerge(QSketch *a, const QSketch *b, SketchScratch *sc)
{
	for (int l = 0; l < b->nlevels; l++)
		QSketchInsert(a, l, b->items[l], b->len[l], sc);
	a->err += b->err;
	QSketchCheck(a);
}

/*
 * Every item, sorted by key, with its weight; returns the count.  Levels
 * are merged one after the other (a few dozen thousand items at most).
 */
int
QSketchFlatten(const QSketch *s, uint64 **keys, uint64 **weights)
{
	int			total = 0,
				have = 0;
	uint64	   *k,
			   *w,
			   *k2,
			   *w2;

	for (int l = 0; l < s->nlevels; l++)
		total += s->len[l];
	k = palloc(sizeof(uint64) * Max(total, 1));
	w = palloc(sizeof(uint64) * Max(total, 1));
	k2 = palloc(sizeof(uint64) * Max(total, 1));
	w2 = palloc(sizeof(uint64) * Max(total, 1));
	for (int l = 0; l < s->nlevels; l++)
	{
		const uint64 *b = s->items[l];
		int			nb = s->len[l],
					i = 0,
					j = 0,
					o = 0;
		uint64		wl = UINT64CONST(1) << l;
		uint64	   *t;

		while (i < have || j < nb)
		{
			if (j >= nb || (i < have && k[i] <= b[j]))
			{
				k2[o] = k[i];
				w2[o++] = w[i++];
			}
			else
			{
				k2[o] = b[j++];
				w2[o++] = wl;
			}
		}
		have = o;
		t = k;
		k = k2;
		k2 = t;
		t = w;
		w = w2;
		w2 = t;
	}
	pfree(k2);
	pfree(w2);
	*keys = k;
	*weights = w;
	return have;
}

/* Serialize: level count, weight, error, parity, then each level's items */
void
QSketchWrite(StringInfo buf, const QSketch *s)
{
	pq_sendint32(buf, s->nlevels);
	pq_sendint64(buf, s->n);
	pq_sendint64(buf, s->err);
	pq_sendint64(buf, s->parity);
	for (int l = 0; l < s->nlevels; l++)
	{
		pq_sendint32(buf, s->len[l]);
		pq_sendbytes(buf, (const char *) s->items[l], sizeof(uint64) * s->len[l]);
	}
}

/*
 * Read what QSketchWrite wrote, checking the shape: level count, item
 * counts below the cap, sorted levels, and weights that add up to n.
 */
void
QSketchRead(StringInfo buf, QSketch *s, SketchFail fail)
{
	int			nlevels;
	uint64		total = 0;

	QSketchInit(s);
	SketchNeed(buf, 4 + 3 * 8, fail);
	nlevels = pq_getmsgint(buf, 4);
	if (nlevels < 0 || nlevels > QSKETCH_LEVELS)
		fail("bad sketch level count");
	s->n = pq_getmsgint64(buf);
	s->err = pq_getmsgint64(buf);
	s->parity = pq_getmsgint64(buf);
	if (s->n > (UINT64CONST(1) << 62) || s->err > s->n ||
		(nlevels < 64 && (s->parity >> nlevels) != 0))
		fail("bad sketch header");
	for (int l = 0; l < nlevels; l++)
	{
		int			len;

		SketchNeed(buf, 4, fail);
		len = pq_getmsgint(buf, 4);
		if (len < 0 || len >= QSKETCH_CAP)
			fail("bad sketch level length");
		SketchNeed(buf, sizeof(uint64) * len, fail);
		LevelReserve(s, l, Max(len, 1));
		pq_copymsgbytes(buf, (char *) s->items[l], sizeof(uint64) * len);
		s->len[l] = len;
		for (int i = 1; i < len; i++)
			if (s->items[l][i] < s->items[l][i - 1])
				fail("unsorted sketch level");
		total += (uint64) len << l;
		if (total > (UINT64CONST(1) << 62))
			fail("sketch weights out of range");
	}
	if (total != s->n)
		fail("sketch weights do not add up");
}

/* An empty table */
void
VTableInit(VTable *t, bool keep_strings)
{
	memset(t, 0, sizeof(VTable));
	t->keep_strings = keep_strings;
}

/* Release a table's memory */
void
VTableFree(VTable *t)
{
	bool		keep = t->keep_strings;

	if (t->strs)
	{
		for (int s = 0; s < t->nslots; s++)
			if (t->strs[s])
				pfree(t->strs[s]);
		pfree(t->strs);
	}
	if (t->slots)
		pfree(t->slots);
	VTableInit(t, keep);
}

/* Rehash into nslots slots */
static void
VTableResize(VTable *t, int nslots)
{
	VEntry	   *old = t->slots;
	char	  **oldstrs = t->strs;
	int			oldn = t->nslots;

	t->slots = palloc0(sizeof(VEntry) * nslots);
	t->strs = t->keep_strings ? palloc0(sizeof(char *) * nslots) : NULL;
	t->nslots = nslots;
	for (int i = 0; i < oldn; i++)
	{
		int			s;

		if (old[i].key == 0)
			continue;
		s = VTableSlot(t, old[i].key);
		t->slots[s] = old[i];
		if (oldstrs)
			t->strs[s] = oldstrs[i];
	}
	if (old)
		pfree(old);
	if (oldstrs)
		pfree(oldstrs);
}

/* The entry of a key, or NULL */
VEntry *
VTableFind(VTable *t, uint64 key)
{
	int			s;

	if (t->nslots == 0)
		return NULL;
	s = VTableSlot(t, key);
	return t->slots[s].key ? &t->slots[s] : NULL;
}

/*
 * Insert a key that is not in the table, with zero count and sum (and a
 * copy of its string); the caller keeps len within VTABLE_MAX + 1.
 */
VEntry *
VTableInsert(VTable *t, uint64 key, const char *str, int slen)
{
	int			s;

	Assert(key != 0);
	if (t->nslots == 0)
		VTableResize(t, 64);
	else if ((t->len + 1) * 2 > t->nslots && t->nslots < VTABLE_MAX_SLOTS)
		VTableResize(t, t->nslots * 2);
	if (t->len + 1 > t->nslots / 2 + 1)
		elog(ERROR, "value table over capacity");
	s = VTableSlot(t, key);
	t->slots[s].key = key;
	t->slots[s].n = 0;
	t->slots[s].sum = 0;
	if (t->keep_strings)
	{
		char	   *c = palloc(slen + 1);

		memcpy(c, str, slen);
		c[slen] = '\0';
		t->strs[s] = c;
	}
	t->len++;
	return &t->slots[s];
}

/* The k-th smallest (0-based) of a[0..n), reordering a */
static int64
SelectInt64(int64 *a, int n, int k)
{
	int			lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		int64		pivot = a[lo + (hi - lo) / 2];
		int			i = lo,
					j = hi;

		while (i <= j)
		{
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j)
			{
				int64		t = a[i];

				a[i++] = a[j];
				a[j--] = t;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return a[k];
}

/*
 * Misra-Gries purge: subtract the (VTABLE_MG_KEEP + 1)-th largest count
 * from every counter and drop those that reach zero, leaving at most
 * VTABLE_MG_KEEP.  Each purge removes at least (KEEP + 1) times what it
 * subtracts, so the total subtracted, the bound of every undercount, is
 * at most n / (KEEP + 1).
 */
void
VTablePurge(VTable *t)
{
	int64	   *c;
	int64		delta;
	int			m = 0;

	if (t->len <= VTABLE_MG_KEEP)
		return;
	c = palloc(sizeof(int64) * t->len);
	for (int s = 0; s < t->nslots; s++)
		if (t->slots[s].key != 0)
			c[m++] = t->slots[s].n;
	/* the (KEEP+1)-th largest is the (len - KEEP - 1)-th smallest */
	delta = SelectInt64(c, m, m - VTABLE_MG_KEEP - 1);
	pfree(c);
	for (int s = 0; s < t->nslots; s++)
	{
		if (t->slots[s].key == 0)
			continue;
		t->slots[s].n -= delta;
		if (t->slots[s].n <= 0)
		{
			t->slots[s].key = 0;
			if (t->strs && t->strs[s])
			{
				pfree(t->strs[s]);
				t->strs[s] = NULL;
			}
			t->len--;
		}
	}
	t->decrements += delta;
	VTableResize(t, t->nslots);	/* close the holes the deletions left */
}

/*
 * The entries sorted by key (and their strings, when kept, in the same
 * order); returns the count.
 */
int
VTableSorted(const VTable *t, VEntry **entries, char ***strs)
{
	VEntry	   *e = palloc(sizeof(VEntry) * Max(t->len, 1));
	uint64	   *k = palloc(sizeof(uint64) * Max(t->len, 1));
	uint64	   *tmp = palloc(sizeof(uint64) * Max(t->len, 1));
	int			m = 0;

	for (int s = 0; s < t->nslots; s++)
		if (t->slots[s].key != 0)
			k[m++] = t->slots[s].key;
	KeySort(k, m, tmp);
	for (int i = 0; i < m; i++)
		e[i] = t->slots[VTableSlot(t, k[i])];
	*entries = e;
	if (strs)
	{
		*strs = NULL;
		if (t->keep_strings)
		{
			*strs = palloc(sizeof(char *) * Max(m, 1));
			for (int i = 0; i < m; i++)
				(*strs)[i] = t->strs[VTableSlot(t, e[i].key)];
		}
	}
	pfree(k);
	pfree(tmp);
	return m;
}

/* An empty distinct count */
void
KmvInit(Kmv *k)
{
	k->len = 0;
	k->ncand = 0;
	k->thr = PG_UINT64_MAX;
	k->h = palloc(sizeof(uint64) * KMV_K);
	k->cand = palloc(sizeof(uint64) * KMV_K);
}

/* Release a distinct count */
void
KmvFree(Kmv *k)
{
	if (k->h)
		pfree(k->h);
	if (k->cand)
		pfree(k->cand);
	k->h = k->cand = NULL;
	k->len = k->ncand = 0;
}

/* Union of sorted distinct a and sorted b (duplicates allowed), the KMV_K smallest, into out */
static int
KmvUnion(const uint64 *a, int na, const uint64 *b, int nb, uint64 *out)
{
	int			i = 0,
				j = 0,
				o = 0;

	while (o < KMV_K && (i < na || j < nb))
	{
		uint64		v;

		if (j >= nb || (i < na && a[i] <= b[j]))
			v = a[i++];
		else
			v = b[j++];
		if (o == 0 || out[o - 1] != v)
			out[o++] = v;
	}
	return o;
}

/* Fold the candidates into the kept hashes */
void
KmvFlush(Kmv *k, SketchScratch *sc)
{
	if (k->ncand == 0)
		return;
	SketchScratchEnsure(sc, KMV_K);
	KeySort(k->cand, k->ncand, sc->a);
	k->len = KmvUnion(k->h, k->len, k->cand, k->ncand, sc->b);
	memcpy(k->h, sc->b, sizeof(uint64) * k->len);
	k->ncand = 0;
	k->thr = k->len == KMV_K ? k->h[KMV_K - 1] : PG_UINT64_MAX;
}

/* Fold b into a; b is not modified */
void
KmvMerge(Kmv *a, const Kmv *b, SketchScratch *sc)
{
	KmvFlush(a, sc);
	SketchScratchEnsure(sc, KMV_K);
	a->len = KmvUnion(a->h, a->len, b->h, b->len, sc->b);
	memcpy(a->h, sc->b, sizeof(uint64) * a->len);
	a->thr = a->len == KMV_K ? a->h[KMV_K - 1] : PG_UINT64_MAX;
	for (int i = 0; i < b->ncand; i++)
		KmvAdd(a, b->cand[i], sc);
	KmvFlush(a, sc);
}

/* The distinct count: exact below KMV_K hashes, else (K - 1) / (h_K / 2^64) */
double
KmvEstimate(const Kmv *k)
{
	Assert(k->ncand == 0);
	if (k->len < KMV_K)
		return k->len;
	return (double) (KMV_K - 1) * 18446744073709551616.0 / (double) k->h[KMV_K - 1];
}

/* Serialize the kept hashes (candidates folded in first) */
void
KmvWrite(StringInfo buf, Kmv *k, SketchScratch *sc)
{
	KmvFlush(k, sc);
	pq_sendint32(buf, k->len);
	pq_sendbytes(buf, (const char *) k->h, sizeof(uint64) * k->len);
}

/* Read what KmvWrite wrote: at most KMV_K strictly increasing hashes */
void
KmvRead(StringInfo buf, Kmv *k, SketchFail fail)
{
	int			len;

	SketchNeed(buf, 4, fail);
	len = pq_getmsgint(buf, 4);
	if (len < 0 || len > KMV_K)
		fail("bad distinct-count length");
	SketchNeed(buf, sizeof(uint64) * len, fail);
	KmvInit(k);
	pq_copymsgbytes(buf, (char *) k->h, sizeof(uint64) * len);
	k->len = len;
	for (int i = 1; i < len; i++)
		if (k->h[i] <= k->h[i - 1])
			fail("unsorted distinct-count hashes");
	k->thr = len == KMV_K ? k->h[KMV_K - 1] : PG_UINT64_MAX;
}

/*
 * The items of two class sketches merged by key: each distinct key with
 * its weight in class 0 and in class 1.  Returns the count.
 */
int
WItemsFromSketches(const QSketch *s0, const QSketch *s1, WItem **items)
{
	uint64	   *k[2],
			   *w[2];
	int			n[2],
				i = 0,
				j = 0,
				o = 0;
	WItem	   *out;

	n[0] = QSketchFlatten(s0, &k[0], &w[0]);
	n[1] = QSketchFlatten(s1, &k[1], &w[1]);
	out = palloc(sizeof(WItem) * Max(n[0] + n[1], 1));
	while (i < n[0] || j < n[1])
	{
		uint64		key;

		if (j >= n[1] || (i < n[0] && k[0][i] <= k[1][j]))
			key = k[0][i];
		else
			key = k[1][j];
		if (o == 0 || out[o - 1].key != key)
		{
			out[o].key = key;
			out[o].w0 = out[o].w1 = 0;
			o++;
		}
		if (i < n[0] && k[0][i] == key)
			out[o - 1].w0 += (double) w[0][i++];
		else
			out[o - 1].w1 += (double) w[1][j++];
	}
	*items = out;
	return o;
}
