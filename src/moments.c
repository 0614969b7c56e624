/*-------------------------------------------------------------------------
 * moments.c
 *	  Streaming, combinable co-moments and a bottom-k row sample.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "linalg.h"
#include "moments.h"

/* Columns of the column-major batch copy: padded to a multiple of 3 for the Gram kernel */
static inline Size
PaddedColumns(int d)
{
	return (Size) (d + 2) / 3 * 3;
}

/*
 * Bytes MomentsInit allocates for rows of width d: two d x d matrices (the
 * co-moments and the batch's), the batch row by row and column by column,
 * and four vectors; sized with add_size/mul_size, which refuse overflow.
 */
Size
MomentsBytes(int d)
{
	Size		square = mul_size(sizeof(double), mul_size(d, d));
	Size		batch = mul_size(sizeof(double), mul_size(MOMENTS_BATCH, d));
	Size		cols = mul_size(sizeof(double), mul_size(PaddedColumns(d), MOMENTS_COLSTRIDE));

	return add_size(add_size(mul_size(2, square), add_size(batch, cols)),
					mul_size(4 * sizeof(double), d));
}

/*
 * Allocate an empty accumulator for rows of width d (dense without
 * missing); callers check MomentsBytes(d) against the memory limit first.
 */
void
MomentsInit(Moments *m, int dense, int d)
{
	m->d = d;
	m->dense = dense;
	m->n = 0;
	m->mean = palloc0(mul_size(sizeof(double), d));
	m->comom = MemoryContextAllocHuge(CurrentMemoryContext,
									  mul_size(sizeof(double), mul_size(d, d)));
	memset(m->comom, 0, sizeof(double) * (Size) d * d);
	m->rows = 0;
	m->batch_missing = false;
	m->batch = MemoryContextAllocHuge(CurrentMemoryContext,
									  mul_size(sizeof(double), mul_size(MOMENTS_BATCH, d)));
	m->shift = palloc0(mul_size(sizeof(double), d));
	m->has_shift = false;
	m->bmean = palloc(mul_size(sizeof(double), d));
	m->bcomom = MemoryContextAllocHuge(CurrentMemoryContext,
									   mul_size(sizeof(double), mul_size(d, d)));
	/* columns padded to a multiple of 3, rows to a multiple of 4, for the Gram kernel */
	m->cols = MemoryContextAllocHuge(CurrentMemoryContext,
									 mul_size(sizeof(double),
											  mul_size(PaddedColumns(d), MOMENTS_COLSTRIDE)));
}

/* Empty an accumulator that has no rows waiting (to fold other statistics into it anew) */
void
MomentsReset(Moments *m)
{
	if (m->rows != 0)
		elog(ERROR, "cannot reset moments with %d rows waiting", m->rows);
	m->n = 0;
	memset(m->mean, 0, sizeof(double) * m->d);
	memset(m->comom, 0, sizeof(double) * (Size) m->d * m->d);
}

/*
 * The first column (0..d-1) whose mean or sum of squares is not finite
 * (sums that overflowed float8), else the first with a cross-product that
 * is not, or -1 when every one is finite.
 */
int
MomentsNonFinite(const Moments *m)
{
	for (int i = 0; i < m->d; i++)
		if (!isfinite(m->mean[i]) || !isfinite(m->comom[(size_t) i * m->d + i]))
			return i;
	for (int i = 0; i < m->d; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int j = i + 1; j < m->d; j++)
			if (!isfinite(m->comom[(size_t) i * m->d + j]))
				return i;
	}
	return isfinite(m->n) ? -1 : 0;
}

/* The buffer row to fill next; its missing indicators must be written */
double *
MomentsNextRow(Moments *m)
{
	return &m->batch[(size_t) m->rows * m->d];
}

/*
 * The row from MomentsNextRow is filled.  Its missing indicators (the
 * columns past dense) are written by the caller only when it has missing
 * values; they are zeroed here when the batch needs them, so rows without
 * NULLs, the common case, never touch those columns.  Folds the batch in
 * when full.
 */
void
MomentsRowDone(Moments *m, bool has_missing)
{
	int			nm = m->d - m->dense;

	if (has_missing && !m->batch_missing)
	{
		for (int r = 0; r < m->rows; r++)
			memset(&m->batch[(size_t) r * m->d + m->dense], 0, sizeof(double) * nm);
		m->batch_missing = true;
	}
	else if (!has_missing && m->batch_missing)
		memset(&m->batch[(size_t) m->rows * m->d + m->dense], 0, sizeof(double) * nm);
	m->rows++;
	if (m->rows == MOMENTS_BATCH)
		MomentsFlush(m);
}

/*
 * Merge a batch's (or another state's) mean and co-moments into m:
 * C += Cb + (n nb / (n + nb)) delta delta', mean += delta nb / (n + nb).
 * Only the first w columns of bcomom may be non-zero.
 */
static void
MergeStats(Moments *m, double nb, const double *bmean, const double *bcomom, int w, int ldb)
{
	double		n = m->n + nb;
	double	   *delta = palloc(sizeof(double) * m->d);

	if (nb <= 0)
		return;
	for (int i = 0; i < m->d; i++)
		delta[i] = bmean[i] - m->mean[i];
	if (m->n > 0)
		LinalgSyrUpper(m->d, m->n * nb / n, delta, m->comom, m->d);
	for (int i = 0; i < w; i++)
		for (int j = i; j < w; j++)
			m->comom[i * m->d + j] += bcomom[i * ldb + j];
	for (int i = 0; i < m->d; i++)
		m->mean[i] += delta[i] * (nb / n);
	m->n = n;
	pfree(delta);
}

/*
 * Fold rows (rows x m->d, row-major) in with one pass over them: subtract
 * a fixed shift (the first row this accumulator saw, so values are near
 * their mean and the sums keep their precision) while summing the columns
 * and laying the rows out column by column in cols, take the
 * cross-products with the tiled Gram kernel (about three times dsyrk at
 * these widths), and center them with a rank-1 update: C = S'S - n
 * s_mean s_mean'.  Without missing values among the rows the indicator
 * columns are all zero and are left out of the product.  bmean, bcomom
 * and cols are scratch (an accumulator's own, or shared by the groups of
 * a grouped pass).
 */
void
MomentsFoldRows(Moments *m, const double *batch, int rows, bool batch_missing, double *bmean,
				double *bcomom, double *cols_scratch)
{
	MomentsFoldPicked(m, batch, NULL, rows, batch_missing, bmean, bcomom, cols_scratch);
}

/*
 * MomentsFoldRows over rows picked from a batch: rows pick[0..rows-1] of
 * batch (its own rows in order when pick is NULL), so that a grouped pass
 * folds each group's rows where they lie.
 */
void
MomentsFoldPicked(Moments *m, const double *batch, const int *pick, int rows, bool batch_missing,
				  double *bmean, double *bcomom, double *cols_scratch)
{
	int			w = batch_missing ? m->d : m->dense;
	int			k = (rows + 3) & ~3;
	int			ldc = MOMENTS_COLSTRIDE;
	int			pw = (w + 2) / 3 * 3;
	double	   *sum = bmean;
	double	   *restrict cols = cols_scratch;
	const double *shift = m->shift;

	if (rows == 0)
		return;
	Assert(rows <= MOMENTS_BATCH);
	CHECK_FOR_INTERRUPTS();
	if (!m->has_shift)
	{
		memcpy(m->shift, &batch[(size_t) (pick ? pick[0] : 0) * m->d], sizeof(double) * m->dense);
		m->has_shift = true;
	}
	memset(sum, 0, sizeof(double) * m->d);
	for (int r = 0; r < rows; r++)
	{
		const double *restrict row = &batch[(size_t) (pick ? pick[r] : r) * m->d];

		for (int j = 0; j < w; j++)
		{
			double		v = row[j] - shift[j];

			sum[j] += v;
			cols[(size_t) j * ldc + r] = v;
		}
	}
	/* zero padding: the rows up to a multiple of 4, the columns up to one of 3 */
	for (int j = 0; j < w; j++)
		for (int r = rows; r < k; r++)
			cols[(size_t) j * ldc + r] = 0;
	for (int j = w; j < pw; j++)
		memset(&cols[(size_t) j * ldc], 0, sizeof(double) * k);
	for (int j = 0; j < w; j++)
		sum[j] /= rows;
	memset(bcomom, 0, sizeof(double) * (size_t) w * w);
	LinalgGramAddUpper(w, k, cols, ldc, bcomom, w);
	LinalgSyrUpper(w, -(double) rows, sum, bcomom, w);
	for (int j = 0; j < w; j++)
		sum[j] += shift[j];
	MergeStats(m, rows, sum, bcomom, w, w);
}

/* Fold the buffered rows in (MomentsFoldRows) and empty the batch */
void
MomentsFlush(Moments *m)
{
	if (m->rows == 0)
		return;
	MomentsFoldRows(m, m->batch, m->rows, m->batch_missing, m->bmean, m->bcomom, m->cols);
	m->rows = 0;
	m->batch_missing = false;
}

/* Bytes of the scratch MomentsFoldRows needs for rows of width d: bmean, bcomom, cols */
Size
MomentsScratchBytes(int d)
{
	return add_size(mul_size(sizeof(double), add_size(d, mul_size(d, d))),
					mul_size(sizeof(double), mul_size(PaddedColumns(d), MOMENTS_COLSTRIDE)));
}

/* Bytes MomentsInitBare allocates: the co-moments and two vectors */
Size
MomentsBareBytes(int d)
{
	return add_size(mul_size(sizeof(double), mul_size(d, d)), mul_size(2 * sizeof(double), d));
}

/*
 * An accumulator without a batch or scratch of its own: rows are folded
 * into it by MomentsFoldRows, with the caller's scratch (a group of a
 * grouped pass, which may hold thousands of them).
 */
void
MomentsInitBare(Moments *m, int dense, int d)
{
	memset(m, 0, sizeof(Moments));
	m->d = d;
	m->dense = dense;
	m->mean = palloc0(mul_size(sizeof(double), d));
	m->comom = MemoryContextAllocHuge(CurrentMemoryContext, mul_size(sizeof(double), mul_size(d, d)));
	memset(m->comom, 0, sizeof(double) * (Size) d * d);
	m->shift = palloc0(mul_size(sizeof(double), d));
}

/* Fold src's statistics into dst when neither has rows waiting (bare accumulators) */
void
MomentsMergeFolded(Moments *dst, const Moments *src)
{
	if (dst->d != src->d || dst->dense != src->dense || src->rows != 0 || dst->rows != 0)
		elog(ERROR, "cannot merge moments of widths %d and %d", dst->d, src->d);
	MergeStats(dst, src->n, src->mean, src->comom, src->d, src->d);
}

/*
 * Fold src into dst: its merged statistics, then a copy of the rows still
 * waiting in its batch.  src is not modified.
 */
void
MomentsMerge(Moments *dst, const Moments *src)
{
	if (dst->d != src->d || dst->dense != src->dense)
		elog(ERROR, "cannot merge moments of widths %d and %d", dst->d, src->d);
	MomentsFlush(dst);
	MergeStats(dst, src->n, src->mean, src->comom, src->d, src->d);
	for (int r = 0; r < src->rows; r++)
	{
		memcpy(MomentsNextRow(dst), &src->batch[(size_t) r * src->d],
			   sizeof(double) * src->d);
		MomentsRowDone(dst, src->batch_missing);
	}
}

/* Serialize a flushed accumulator (upper triangle only) */
void
MomentsWrite(PartialWriter *w, Moments *m)
{
	MomentsFlush(m);
	PartialPutFloat8(w, m->n);
	PartialPutBytes(w, m->mean, sizeof(double) * m->d);
	for (int i = 0; i < m->d; i++)
		PartialPutBytes(w, &m->comom[i * m->d + i], sizeof(double) * (m->d - i));
}

/* Read what MomentsWrite wrote into a fresh accumulator (bare: MomentsInitBare's) */
void
MomentsRead(StringInfo buf, Moments *m, int dense, int d, bool bare)
{
	if (bare)
		MomentsInitBare(m, dense, d);
	else
		MomentsInit(m, dense, d);
	m->n = pq_getmsgfloat8(buf);
	if (!(m->n >= 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid row count in serialized training state"),
				 errhint("Pass a state that profenrich built, unchanged, from the same release.")));
	pq_copymsgbytes(buf, (char *) m->mean, sizeof(double) * d);
	for (int i = 0; i < d; i++)
		pq_copymsgbytes(buf, (char *) &m->comom[i * d + i], sizeof(double) * (d - i));
}

/* Bytes RowSampleInit allocates: room for twice cap rows and their priorities */
Size
RowSampleBytes(int cap, int width)
{
	return mul_size(Max(2 * cap, 1), add_size(sizeof(uint64), mul_size(sizeof(double), width)));
}

/* An empty sample of up to cap rows of width values */
void
RowSampleInit(RowSample *s, int cap, int width)
{
	s->cap = cap;
	s->width = width;
	s->count = 0;
	s->threshold = PG_UINT64_MAX;
	s->prio = palloc(sizeof(uint64) * Max(2 * cap, 1));
	s->rows = MemoryContextAllocHuge(CurrentMemoryContext,
									 mul_size(sizeof(double), mul_size(Max(2 * cap, 1), width)));
}

/* A priority and the entry that holds it, for selecting without moving rows */
typedef struct PrioEntry
{
	uint64		prio;
	int			entry;
} PrioEntry;

/* Partially order e[] so that e[k] holds the (k+1)-th smallest priority */
static void
SelectSmallest(PrioEntry *e, int n, int k)
{
	int			lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		uint64		pivot = e[(lo + hi) / 2].prio;
		int			i = lo,
					j = hi;

		while (i <= j)
		{
			while (e[i].prio < pivot)
				i++;
			while (e[j].prio > pivot)
				j--;
			if (i <= j)
			{
				PrioEntry	t = e[i];

				e[i++] = e[j];
				e[j--] = t;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
}

/*
 * Keep the cap entries of smallest priority and lower the threshold to the
 * largest one kept.  The selection runs over (priority, entry) pairs; then
 * each kept row past the first cap places moves once into a freed place.
 */
void
RowSampleTrim(RowSample *s)
{
	PrioEntry  *e;
	bool	   *keep;
	int			hole = 0;

	if (s->count <= s->cap)
		return;
	e = palloc(sizeof(PrioEntry) * s->count);
	keep = palloc0(sizeof(bool) * s->count);
	for (int i = 0; i < s->count; i++)
	{
		e[i].prio = s->prio[i];
		e[i].entry = i;
	}
	SelectSmallest(e, s->count, s->cap - 1);
	s->threshold = 0;
	for (int i = 0; i < s->cap; i++)
	{
		keep[e[i].entry] = true;
		s->threshold = Max(s->threshold, e[i].prio);
	}
	for (int i = s->cap; i < s->count; i++)
	{
		if (!keep[i])
			continue;
		while (keep[hole])
			hole++;
		s->prio[hole] = s->prio[i];
		memcpy(&s->rows[(size_t) hole * s->width], &s->rows[(size_t) i * s->width],
			   sizeof(double) * s->width);
		keep[hole] = true;
	}
	s->count = s->cap;
	pfree(e);
	pfree(keep);
}

/*
 * Lower a sample's capacity to cap (never raise it): it keeps the cap rows
 * of smallest priority, which are the cap smallest of every row it was
 * offered, since it kept the larger capacity's smallest.
 */
void
RowSampleShrink(RowSample *s, int cap)
{
	if (cap >= s->cap)
		return;
	s->cap = cap;
	RowSampleTrim(s);
	if (s->count == s->cap)
	{
		s->threshold = 0;
		for (int i = 0; i < s->count; i++)
			s->threshold = Max(s->threshold, s->prio[i]);
	}
}

/* Keep the row if its priority is among the cap smallest seen */
void
RowSampleOffer(RowSample *s, uint64 prio, const double *row)
{
	if (s->cap == 0 || prio >= s->threshold)
		return;
	s->prio[s->count] = prio;
	memcpy(&s->rows[(size_t) s->count * s->width], row, sizeof(double) * s->width);
	if (++s->count == 2 * s->cap)
		RowSampleTrim(s);
}

/* Offer every row of src to dst; src is not modified */
void
RowSampleMerge(RowSample *dst, const RowSample *src)
{
	if (dst->width != src->width)
		elog(ERROR, "cannot merge samples of widths %d and %d", dst->width, src->width);
	for (int i = 0; i < src->count; i++)
		RowSampleOffer(dst, src->prio[i], &src->rows[(size_t) i * src->width]);
}

/* Serialize the sample, trimmed to at most cap rows, with the priorities */
void
RowSampleWrite(PartialWriter *w, RowSample *s)
{
	RowSampleTrim(s);
	PartialPut32(w, (uint32) s->count);
	PartialPutBytes(w, s->prio, sizeof(uint64) * s->count);
	PartialPutBytes(w, s->rows, sizeof(double) * s->width * s->count);
}

/* The same bytes as RowSampleWrite into a StringInfo (a state's send function) */
void
RowSampleSend(StringInfo buf, RowSample *s)
{
	RowSampleTrim(s);
	pq_sendint32(buf, s->count);
	pq_sendbytes(buf, (const char *) s->prio, sizeof(uint64) * s->count);
	pq_sendbytes(buf, (const char *) s->rows, sizeof(double) * s->width * s->count);
}

/* Read what RowSampleWrite wrote, checking the count against the capacity */
void
RowSampleRead(StringInfo buf, RowSample *s, int cap, int width)
{
	int			count;

	RowSampleInit(s, cap, width);
	count = pq_getmsgint(buf, 4);
	if (count < 0 || count > cap)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid sample size %d in serialized training state", count),
				 errhint("Pass a state that profenrich built, unchanged, from the same release.")));
	pq_copymsgbytes(buf, (char *) s->prio, sizeof(uint64) * count);
	pq_copymsgbytes(buf, (char *) s->rows, sizeof(double) * width * count);
	s->count = count;
	if (count == cap)
		for (int i = 0; i < count; i++)
			s->threshold = i == 0 ? s->prio[0] : Max(s->threshold, s->prio[i]);
}
