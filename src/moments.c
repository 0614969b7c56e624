/*-------------------------------------------------------------------------
 * moments.c
 *	  Streaming, combinable co-moments and a bottom-k row sample.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/pqformat.h"
#include "miscadmin.h"

#include "linalg.h"
#include "moments.h"

/* Allocate an empty accumulator for rows of width d (dense without missing) */
void
MomentsInit(Moments *m, int dense, int d)
{
	m->d = d;
	m->dense = dense;
	m->n = 0;
	m->mean = palloc0(sizeof(double) * d);
	m->comom = palloc0(mul_size(sizeof(double), mul_size(d, d)));
	m->rows = 0;
	m->batch_missing = false;
	m->batch = palloc(mul_size(sizeof(double), mul_size(MOMENTS_BATCH, d)));
	m->bmean = palloc(sizeof(double) * d);
	m->bcomom = palloc(mul_size(sizeof(double), mul_size(d, d)));
}

/* The buffer row to fill next; its missing indicators must be written */
double *
MomentsNextRow(Moments *m)
{
	return &m->batch[(size_t) m->rows * m->d];
}

/* The row from MomentsNextRow is filled; fold the batch in when full */
void
MomentsRowDone(Moments *m, bool has_missing)
{
	m->rows++;
	m->batch_missing |= has_missing;
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
 * Fold the buffered rows in: center them on their own mean and take their
 * cross-products with one dsyrk.  Without missing values in the batch the
 * indicator columns are all zero and are left out of the product.
 */
void
MomentsFlush(Moments *m)
{
	int			w = m->batch_missing ? m->d : m->dense;
	int			rows = m->rows;

	if (rows == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	memset(m->bmean, 0, sizeof(double) * m->d);
	for (int r = 0; r < rows; r++)
	{
		const double *row = &m->batch[(size_t) r * m->d];

		for (int j = 0; j < w; j++)
			m->bmean[j] += row[j];
	}
	for (int j = 0; j < w; j++)
		m->bmean[j] /= rows;
	for (int r = 0; r < rows; r++)
	{
		double	   *row = &m->batch[(size_t) r * m->d];

		for (int j = 0; j < w; j++)
			row[j] -= m->bmean[j];
	}
	LinalgSyrkUpper(w, rows, m->batch, m->d, m->bcomom, w);
	MergeStats(m, rows, m->bmean, m->bcomom, w, w);
	m->rows = 0;
	m->batch_missing = false;
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
MomentsWrite(StringInfo buf, Moments *m)
{
	MomentsFlush(m);
	pq_sendfloat8(buf, m->n);
	for (int i = 0; i < m->d; i++)
		pq_sendfloat8(buf, m->mean[i]);
	for (int i = 0; i < m->d; i++)
		for (int j = i; j < m->d; j++)
			pq_sendfloat8(buf, m->comom[i * m->d + j]);
}

/* Read what MomentsWrite wrote into a fresh accumulator */
void
MomentsRead(StringInfo buf, Moments *m, int dense, int d)
{
	MomentsInit(m, dense, d);
	m->n = pq_getmsgfloat8(buf);
	if (!(m->n >= 0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid row count in serialized training state")));
	for (int i = 0; i < d; i++)
		m->mean[i] = pq_getmsgfloat8(buf);
	for (int i = 0; i < d; i++)
		for (int j = i; j < d; j++)
			m->comom[i * d + j] = pq_getmsgfloat8(buf);
}

/* An empty sample of up to cap rows of width values */
void
RowSampleInit(RowSample *s, int cap, int width)
{
	s->cap = cap;
	s->width = width;
	s->count = 0;
	s->prio = palloc(sizeof(uint64) * Max(cap, 1));
	s->rows = palloc(mul_size(sizeof(double), mul_size(Max(cap, 1), width)));
	s->heap = palloc(sizeof(int) * Max(cap, 1));
}

/* Restore the max-heap property downward from position i */
static void
HeapSiftDown(RowSample *s, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					big = i;

		if (l < s->count && s->prio[s->heap[l]] > s->prio[s->heap[big]])
			big = l;
		if (r < s->count && s->prio[s->heap[r]] > s->prio[s->heap[big]])
			big = r;
		if (big == i)
			return;
		{
			int			t = s->heap[i];

			s->heap[i] = s->heap[big];
			s->heap[big] = t;
		}
		i = big;
	}
}

/* Restore the max-heap property upward from position i */
static void
HeapSiftUp(RowSample *s, int i)
{
	while (i > 0)
	{
		int			p = (i - 1) / 2;
		int			t;

		if (s->prio[s->heap[p]] >= s->prio[s->heap[i]])
			return;
		t = s->heap[p];
		s->heap[p] = s->heap[i];
		s->heap[i] = t;
		i = p;
	}
}

/* Keep the row if its priority is among the cap smallest seen */
void
RowSampleOffer(RowSample *s, uint64 prio, const double *row)
{
	int			idx;

	if (s->cap == 0)
		return;
	if (s->count < s->cap)
	{
		idx = s->count;
		s->heap[s->count] = idx;
		s->prio[idx] = prio;
		memcpy(&s->rows[(size_t) idx * s->width], row, sizeof(double) * s->width);
		s->count++;
		HeapSiftUp(s, s->count - 1);
		return;
	}
	idx = s->heap[0];
	if (prio >= s->prio[idx])
		return;
	s->prio[idx] = prio;
	memcpy(&s->rows[(size_t) idx * s->width], row, sizeof(double) * s->width);
	HeapSiftDown(s, 0);
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

/* Serialize the sampled rows with their priorities */
void
RowSampleWrite(StringInfo buf, const RowSample *s)
{
	pq_sendint32(buf, s->count);
	for (int i = 0; i < s->count; i++)
	{
		pq_sendint64(buf, (int64) s->prio[i]);
		for (int j = 0; j < s->width; j++)
			pq_sendfloat8(buf, s->rows[(size_t) i * s->width + j]);
	}
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
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid sample size %d in serialized training state", count)));
	for (int i = 0; i < count; i++)
	{
		uint64		prio = (uint64) pq_getmsgint64(buf);
		double	   *row = palloc(sizeof(double) * width);

		for (int j = 0; j < width; j++)
			row[j] = pq_getmsgfloat8(buf);
		RowSampleOffer(s, prio, row);
		pfree(row);
	}
}
