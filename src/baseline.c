/*-------------------------------------------------------------------------
 * baseline.c
 *	  The training baseline (baseline.h): its computation from what a
 *	  trainer has at hand, its params section, and the binning and
 *	  population stability index drift() measures with.
 *
 * Nothing here reads data: a trainer passes the vocabulary counts of its
 * categorical columns, encoded rows (all or a sample) and the training
 * scores, so storing a baseline costs no pass over the source.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "baseline.h"
#include "dataset.h"
#include "metrics.h"
#include "model.h"
#include "trainer.h"

/* Rows of an in-memory data set the numeric baseline reads at most */
#define BASELINE_SAMPLE_ROWS 20000

/* Buckets of the histogram that finds the deciles without sorting every value */
#define EDGE_BUCKETS 4096
/* A relative slack keeps exact fractions (n = 10 m) from rounding a rank up */
#define RANK_SLACK (1 - 1e-12)

/*
 * The bin edges of weighted values sorted ascending (weights in .label):
 * with at most 10 distinct values, every value but the largest (each value
 * its own bin); otherwise the distinct deciles, the smallest value whose
 * cumulative weight reaches k/10 of the total for k = 1..9 (percentile_disc).
 * Returns the number of edges.
 */
static int
SortedEdges(const ScoredLabel *sorted, int64 n, double total, double *edges)
{
	int			distinct = 0,
				nedges = 0,
				k = 1;
	double		cum = 0;

	for (int64 i = 0; i < n && distinct <= BASELINE_EDGES + 1; i++)
		if (i == 0 || sorted[i].score > sorted[i - 1].score)
			distinct++;
	if (distinct <= BASELINE_EDGES + 1)
	{
		for (int64 i = 0; i + 1 < n; i++)
			if (sorted[i + 1].score > sorted[i].score)
				edges[nedges++] = sorted[i].score;
		return nedges;
	}
	for (int64 i = 0; i < n && k <= BASELINE_EDGES; i++)
	{
		cum += sorted[i].label;
		while (k <= BASELINE_EDGES && cum >= total * k / 10.0 * RANK_SLACK)
		{
			if (nedges == 0 || sorted[i].score > edges[nedges - 1])
				edges[nedges++] = sorted[i].score;
			k++;
		}
	}
	return nedges;
}

/* The histogram bucket of a value between lo and hi */
static inline int
EdgeBucket(double v, double lo, double scale)
{
	int			b = (int) ((v - lo) * scale);

	return Min(Max(b, 0), EDGE_BUCKETS - 1);
}

/*
 * One column of values to bin: v[i] with weight w[i] (w NULL: 1 each), NaN
 * for a NULL, which the edges and shares leave out; lo and hi the least and
 * greatest value, total the weight of the values present, missing that of
 * the NULLs.
 */
typedef struct BaselineValues
{
	const double *v;
	const double *w;
	int64		n;
	double		lo;
	double		hi;
	double		total;
	double		missing;		/* the weight of the NULLs */
} BaselineValues;

#define VALUE_WEIGHT(x, i) ((x)->w ? (x)->w[i] : 1.0)

/* The present values as (value, weight) pairs, sorted, for SortedEdges */
static ScoredLabel *
SortedPairs(const BaselineValues *x, int64 *m)
{
	ScoredLabel *pairs = palloc_extended(sizeof(ScoredLabel) * Max(x->n, 1), MCXT_ALLOC_HUGE);

	*m = 0;
	for (int64 i = 0; i < x->n; i++)
		if (!isnan(x->v[i]))
		{
			pairs[*m].score = x->v[i];
			pairs[(*m)++].label = VALUE_WEIGHT(x, i);
		}
	MetricsSortPairs(pairs, *m);
	return pairs;
}

/* The bin of a number among edges padded with +Infinity: a fixed run of comparisons */
static inline int
PaddedBin(const double *e, double v)
{
	int			bin = 0;

	for (int k = 0; k < BASELINE_EDGES; k++)
		bin += v > e[k];
	return bin;
}

/* The edges of b padded with +Infinity to BASELINE_EDGES */
static void
PadEdges(const BaselineBins *b, double *e)
{
	for (int k = 0; k < BASELINE_EDGES; k++)
		e[k] = k < b->nedges ? b->edges[k] : get_float8_infinity();
}

/*
 * The weight of the present values in each bin of b, into shares
 * (nedges + 1 bins), one comparison run per value; returns the weight of
 * the NULLs.
 */
static double
BinShares(const BaselineValues *x, const BaselineBins *b, double *shares)
{
	double		missing = 0;
	double		e[BASELINE_EDGES];

	PadEdges(b, e);
	memset(shares, 0, sizeof(double) * (b->nedges + 1));
	for (int64 i = 0; i < x->n; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (isnan(x->v[i]))
			missing += VALUE_WEIGHT(x, i);
		else
			shares[PaddedBin(e, x->v[i])] += VALUE_WEIGHT(x, i);
	}
	return missing;
}

/* SortedEdges and BinShares over every present value, sorted: few buckets, or no usable scale */
static void
SortedBins(const BaselineValues *x, BaselineBins *b, double *shares)
{
	int64		m;
	ScoredLabel *sorted = SortedPairs(x, &m);

	b->nedges = SortedEdges(sorted, m, x->total, b->edges);
	pfree(sorted);
	(void) BinShares(x, b, shares);
}

/*
 * The edges and bin weights of values in no order, without sorting them
 * all: a histogram of the weights over equal-width buckets finds the
 * bucket of each decile, and only the values of those buckets are sorted.
 * The weight of every other bucket goes whole into the bin it lies in (no
 * edge falls inside it); the values of the decile buckets are binned one
 * by one.  Values in at most 10 buckets (perhaps few distinct values) are
 * sorted whole.  shares (nedges + 1 bins) receive weights, not shares.
 */
static void
HistogramBins(const BaselineValues *x, BaselineBins *b, double *shares)
{
	double		scale = EDGE_BUCKETS / (x->hi - x->lo),
				cum = 0,
				below[BASELINE_EDGES],
				e[BASELINE_EDGES];
	double	   *hist = palloc0(sizeof(double) * EDGE_BUCKETS);
	int		   *count = palloc0(sizeof(int) * EDGE_BUCKETS);
	bool	   *need = palloc0(sizeof(bool) * EDGE_BUCKETS);
	int			bucket[BASELINE_EDGES],
				nonempty = 0,
				k = 0;
	ScoredLabel *picked;
	int64		npicked = 0,
				want = 0;

	for (int64 i = 0; isfinite(scale) && i < x->n; i++)
	{
		if (isnan(x->v[i]))
			continue;
		k = EdgeBucket(x->v[i], x->lo, scale);
		nonempty += count[k]++ == 0;
		hist[k] += VALUE_WEIGHT(x, i);
	}
	if (!isfinite(scale) || nonempty <= BASELINE_EDGES + 1)
	{
		SortedBins(x, b, shares);
		pfree(hist);
		pfree(count);
		pfree(need);
		return;
	}
	k = 0;
	for (int j = 0; j < BASELINE_EDGES; j++)
	{
		double		t = x->total * (j + 1) / 10.0 * RANK_SLACK;

		while (k < EDGE_BUCKETS - 1 && cum + hist[k] < t)
			cum += hist[k++];
		bucket[j] = k;
		below[j] = cum;
		want += need[k] ? 0 : count[k];
		need[k] = true;
	}
	picked = palloc_extended(sizeof(ScoredLabel) * Max(want, 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < x->n; i++)
		if (!isnan(x->v[i]) && need[EdgeBucket(x->v[i], x->lo, scale)])
		{
			picked[npicked].score = x->v[i];
			picked[npicked++].label = VALUE_WEIGHT(x, i);
		}
	MetricsSortPairs(picked, npicked);
	/* within its bucket, the value at which the cumulative weight reaches the decile */
	b->nedges = 0;
	for (int j = 0, at = 0; j < BASELINE_EDGES; j++)
	{
		double		t = x->total * (j + 1) / 10.0 * RANK_SLACK,
					c = below[j];
		int64		i;

		while (at < npicked && EdgeBucket(picked[at].score, x->lo, scale) < bucket[j])
			at++;
		for (i = at; i < npicked - 1 && c + picked[i].label < t; i++)
			c += picked[i].label;
		if (b->nedges == 0 || picked[i].score > b->edges[b->nedges - 1])
			b->edges[b->nedges++] = picked[i].score;
	}
	/* the weights of the bins: whole buckets, then the picked values one by one */
	PadEdges(b, e);
	memset(shares, 0, sizeof(double) * (b->nedges + 1));
	for (int j = 0, bin = 0; j < EDGE_BUCKETS; j++)
	{
		while (bin < b->nedges && EdgeBucket(b->edges[bin], x->lo, scale) < j)
			bin++;
		if (!need[j])
			shares[bin] += hist[j];
	}
	for (int64 i = 0; i < npicked; i++)
		shares[PaddedBin(e, picked[i].score)] += picked[i].label;
	pfree(hist);
	pfree(count);
	pfree(need);
	pfree(picked);
}

/*
 * A numeric or boolean column's bins from its values (NaN: NULL): deciles
 * of the values present, or false and true (the edge 0), then NULL, each
 * bin's share of the total weight.
 */
static void
NumericBins(const FeatureColumn *c, const BaselineValues *x, double weight, BaselineBins *b)
{
	b->n = weight;
	b->shares = palloc0(sizeof(double) * (BASELINE_EDGES + 2));
	b->nedges = 0;
	if (c->kind == FEATURE_BOOLEAN)
	{
		b->nedges = 1;
		b->edges[0] = 0;
		(void) BinShares(x, b, b->shares);
	}
	else if (x->total > 0 && x->lo < x->hi)
		HistogramBins(x, b, b->shares);
	else
		b->shares[0] = x->total;	/* one value or none: one bin */
	b->nbins = b->nedges + 2;
	b->shares[b->nbins - 1] = x->missing;
	for (int j = 0; j < b->nbins; j++)
		b->shares[j] = weight > 0 ? b->shares[j] / weight : 0;
}

/*
 * The numeric and boolean columns of the rows, column by column: one pass
 * over the rows (in memory order) that also finds each column's range and
 * present weight.  Returns the rows' weights; *weight is their total.
 */
static double *
TransposeRows(const FeatureSpec *spec, const BaselineRows *sets, int nsets, int64 n,
			  double **cols, BaselineValues *vals, double *weight)
{
	double	   *w = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
	int		   *num = palloc(sizeof(int) * Max(spec->ncolumns, 1));	/* numeric columns */
	int			nnum = 0;
	int64		at = 0;

	*weight = 0;
	for (int i = 0; i < spec->ncolumns; i++)
	{
		if (spec->columns[i].kind == FEATURE_CATEGORICAL)
			continue;
		num[nnum++] = i;
		cols[i] = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
		vals[i].v = cols[i];
		vals[i].w = w;
		vals[i].n = n;
		vals[i].lo = get_float8_infinity();
		vals[i].hi = -get_float8_infinity();
		vals[i].total = 0;
		vals[i].missing = 0;
	}
	for (int s = 0; s < nsets; s++)
		for (int64 r = 0; r < sets[s].n; r++, at++)
		{
			const double *row = &sets[s].rows[r * sets[s].stride + sets[s].offset];

			if ((at & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			w[at] = sets[s].weight;
			*weight += w[at];
			for (int k = 0; k < nnum; k++)
			{
				int			i = num[k];
				double		v = row[spec->columns[i].first_slot];

				cols[i][at] = v;
				if (isnan(v))
				{
					vals[i].missing += w[at];
					continue;
				}
				vals[i].lo = Min(vals[i].lo, v);
				vals[i].hi = Max(vals[i].hi, v);
				vals[i].total += w[at];
			}
		}
	pfree(num);
	return w;
}

/* A categorical column's bins: the shares of its level counts */
static void
LevelBins(const FeatureColumn *c, const double *counts, BaselineBins *b)
{
	b->nedges = 0;
	b->nbins = c->nlevels + 2;
	b->shares = palloc0(sizeof(double) * b->nbins);
	b->n = 0;
	for (int j = 0; j < b->nbins; j++)
		b->n += counts[j];
	for (int j = 0; j < b->nbins && b->n > 0; j++)
		b->shares[j] = counts[j] / b->n;
}

/* The number of sorted values at or below v (a binary search) */
static int64
CountUpTo(const double *sorted, int64 n, double v)
{
	int64		lo = 0,
				hi = n;

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (sorted[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The bins of scores sorted ascending: the edges as SortedEdges gives them
 * (ranks for deciles; at most 11 distinct values are looked for), and the
 * shares from the positions of the edges.
 */
static void
SortedScoreBins(const double *sorted, int64 n, BaselineBins *b)
{
	int			distinct = 0;
	int64		prev = 0;

	b->nedges = 0;
	for (int64 i = 0; i < n && distinct <= BASELINE_EDGES + 1; i++)
		if (i == 0 || sorted[i] > sorted[i - 1])
			distinct++;
	if (distinct <= BASELINE_EDGES + 1)
	{
		for (int64 i = 0; i + 1 < n; i++)
			if (sorted[i + 1] > sorted[i])
				b->edges[b->nedges++] = sorted[i];
	}
	else
		for (int k = 1; k <= BASELINE_EDGES; k++)
		{
			/* the smallest rank (1-based) whose count reaches k/10 of n */
			int64		rank = (int64) ceil((double) n * k / 10.0 * RANK_SLACK);
			double		v = sorted[Max(rank, 1) - 1];

			if (b->nedges == 0 || v > b->edges[b->nedges - 1])
				b->edges[b->nedges++] = v;
		}
	for (int j = 0; j <= b->nedges; j++)
	{
		int64		upto = j < b->nedges ? CountUpTo(sorted, n, b->edges[j]) : n;

		b->shares[j] = n > 0 ? (double) (upto - prev) / n : 0;
		prev = upto;
	}
}

/*
 * The score's bins: deciles of number scores (finite; sorted ascending
 * when sorted), or the shares of predicted classes (indexes).
 */
static void
ScoreBins(BaselineScoreKind kind, const double *scores, int64 n, bool sorted, int nclasses,
		  BaselineBins *b)
{
	BaselineValues x;
	int64		m = 0;

	if (kind == BASELINE_SCORE_CLASS)
	{
		b->nedges = 0;
		b->nbins = nclasses;
		b->shares = palloc0(sizeof(double) * nclasses);
		for (int64 i = 0; i < n; i++)
			if (scores[i] >= 0 && scores[i] < nclasses)
			{
				b->shares[(int) scores[i]] += 1;
				m++;
			}
		for (int k = 0; k < nclasses && m > 0; k++)
			b->shares[k] /= m;
		b->n = m;
		return;
	}
	b->shares = palloc0(sizeof(double) * (BASELINE_EDGES + 1));
	b->n = n;
	if (sorted)
	{
		SortedScoreBins(scores, n, b);
		b->nbins = b->nedges + 1;
		return;
	}
	x.v = scores;
	x.w = NULL;
	x.n = n;
	x.lo = get_float8_infinity();
	x.hi = -get_float8_infinity();
	x.total = 0;
	x.missing = 0;
	for (int64 i = 0; i < n; i++)
		if (!isnan(scores[i]))
		{
			x.lo = Min(x.lo, scores[i]);
			x.hi = Max(x.hi, scores[i]);
			x.total += 1;
		}
	b->n = x.total;
	b->nedges = 0;
	if (x.total > 0 && x.lo < x.hi)
		HistogramBins(&x, b, b->shares);
	else
		b->shares[0] = x.total;
	b->nbins = b->nedges + 1;
	for (int j = 0; j < b->nbins; j++)
		b->shares[j] = x.total > 0 ? b->shares[j] / x.total : 0;
}

/*
 * The baseline of a model with this spec: categorical columns from their
 * level counts, numeric and boolean ones from the rows (sets of weighted
 * encoded rows), the score from the training scores (sorted ascending when
 * sorted; predicted class indexes for BASELINE_SCORE_CLASS).
 */
Baseline *
BaselineCompute(const FeatureSpec *spec, BaselineLevelCounts levels, const BaselineRows *sets,
				int nsets, BaselineScoreKind score_kind, const double *scores, int64 nscores,
				bool sorted, int nclasses)
{
	Baseline   *b = palloc0(sizeof(Baseline));
	double	  **cols = palloc0(sizeof(double *) * Max(spec->ncolumns, 1));
	BaselineValues *vals = palloc0(sizeof(BaselineValues) * Max(spec->ncolumns, 1));
	int64		n = 0;
	double		weight;
	double	   *w;

	for (int s = 0; s < nsets; s++)
		n += sets[s].n;
	w = TransposeRows(spec, sets, nsets, n, cols, vals, &weight);
	b->ncolumns = spec->ncolumns;
	b->columns = palloc0(sizeof(BaselineBins) * Max(spec->ncolumns, 1));
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		CHECK_FOR_INTERRUPTS();
		if (c->kind == FEATURE_CATEGORICAL)
			LevelBins(c, levels[i], &b->columns[i]);
		else
		{
			NumericBins(c, &vals[i], weight, &b->columns[i]);
			pfree(cols[i]);
		}
	}
	pfree(w);
	b->score_kind = scores != NULL ? score_kind : BASELINE_SCORE_NONE;
	if (b->score_kind != BASELINE_SCORE_NONE)
		ScoreBins(score_kind, scores, nscores, sorted, nclasses, &b->score);
	return b;
}

/*
 * A systematic sample of the rows of a data set in memory, before its
 * chunks are standardized: every k-th row of both splits, k chosen for at
 * most 20,000 rows, each standing for k rows.
 */
BaselineRows *
BaselineRowsOfDataset(const LoadedData *data)
{
	BaselineRows *set = palloc0(sizeof(BaselineRows));
	double		total = data->split[SPLIT_TRAIN].n + data->split[SPLIT_TEST].n;
	int			w = data->split[SPLIT_TRAIN].width;
	int64		step = (int64) ceil(total / BASELINE_SAMPLE_ROWS),
				at = 0,
				first = 0;
	double	   *rows;

	step = Max(step, 1);
	rows = palloc_extended(sizeof(double) * w * Min((int64) total / step + 1, BASELINE_SAMPLE_ROWS + 1),
						   MCXT_ALLOC_HUGE);
	/* at: the position of the next row to take, first: of the chunk's first row, over both splits */
	for (int k = 0; k < 2; k++)
	{
		const Dataset *d = &data->split[k];

		for (int c = 0; c < d->nchunks; c++)
		{
			Assert(!d->chunks[c].ready);
			for (; at - first < d->chunks[c].rows; at += step)
				memcpy(&rows[set->n++ * w], &d->chunks[c].x[(size_t) (at - first) * w],
					   sizeof(double) * w);
			first += d->chunks[c].rows;
		}
	}
	set->rows = rows;
	set->stride = w;
	set->offset = 1;			/* after the intercept's 1 */
	set->weight = set->n > 0 ? total / set->n : 1;
	return set;
}

/*
 * The row samples of a statistics pass (linear_stats), one per split,
 * each row standing for its split's rows over the rows sampled.
 */
void
BaselineRowsOfSamples(const LinearStats *st, BaselineRows sets[2])
{
	for (int k = 0; k < 2; k++)
	{
		const RowSample *s = &st->sample[k];

		sets[k].rows = s->rows;
		sets[k].n = s->count;
		sets[k].stride = s->width;
		sets[k].offset = 0;
		sets[k].weight = s->count > 0 ? st->mom[k].n / s->count : 1;
	}
}

/*
 * Store the baseline of a trainer's model: its categorical columns from
 * the vocabulary counts train() collected, its numeric columns from the
 * encoded rows the trainer has (sets), its score from the training scores
 * (sorted ascending when sorted): the scores for a number model, the
 * predicted class indexes for a class model.  The one call every trainer
 * with a feature spec makes, once its model's body, classes and output
 * are set.
 */
void
TrainBaseline(TrainJob *job, const BaselineRows *sets, int nsets, const double *scores,
			  int64 nscores, bool sorted)
{
	OutputKind out = ModelOutput(&job->model);
	BaselineScoreKind kind = out == OUTPUT_NUMBER ? BASELINE_SCORE_NUMBER :
		out == OUTPUT_CLASS && job->model.nclasses > 0 ? BASELINE_SCORE_CLASS : BASELINE_SCORE_NONE;

	job->model.baseline = BaselineCompute(job->spec, job->level_counts, sets, nsets, kind,
										  scores, nscores, sorted, job->model.nclasses);
}

/*
 * TrainBaseline for a class model from its training rows' class
 * probabilities (n rows of nclasses, in model order): each row's predicted
 * class is its most probable one (the first on a tie), as predict_class
 * says for more than two classes.
 */
void
TrainBaselineFromProbs(TrainJob *job, const BaselineRows *sets, int nsets, const double *probs,
					   int64 n)
{
	int			nk = job->model.nclasses;
	double	   *cls = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);

	for (int64 r = 0; r < n; r++)
	{
		const double *p = &probs[r * nk];
		int			best = 0;

		for (int k = 1; k < nk; k++)
			if (p[k] > p[best])
				best = k;
		cls[r] = best;
	}
	TrainBaseline(job, sets, nsets, cls, n, false);
	pfree(cls);
}

/* One distribution's bytes */
static void
WriteBins(StringInfo buf, const BaselineBins *b)
{
	pq_sendfloat8(buf, b->n);
	pq_sendint32(buf, b->nedges);
	ModelWriteDoubles(buf, b->edges, b->nedges);
	pq_sendint32(buf, b->nbins);
	ModelWriteDoubles(buf, b->shares, b->nbins);
}

/* The params section of a baseline */
void
BaselineWrite(StringInfo buf, const Baseline *b)
{
	pq_sendint16(buf, BASELINE_FORMAT);
	pq_sendint32(buf, b->ncolumns);
	for (int i = 0; i < b->ncolumns; i++)
		WriteBins(buf, &b->columns[i]);
	pq_sendbyte(buf, (uint8) b->score_kind);
	if (b->score_kind != BASELINE_SCORE_NONE)
		WriteBins(buf, &b->score);
}

/*
 * Read one distribution, refusing what no training wrote: nedges edges
 * (at most maxedges, exactly exact_edges when that is not -1), finite and
 * strictly increasing; nbins bins as the kind demands; shares in [0, 1]
 * adding up to 1 (or all 0 for no rows).
 */
static void
ReadBins(StringInfo buf, BaselineBins *b, int maxedges, int extra_bins, int exact_bins)
{
	double		sum = 0;

	b->n = pq_getmsgfloat8(buf);
	if (!(b->n >= 0) || isinf(b->n))
		ModelCorrupt("the baseline's row count is out of range");
	b->nedges = pq_getmsgint(buf, 4);
	if (b->nedges < 0 || b->nedges > maxedges)
		ModelCorrupt("the baseline has too many bin edges");
	for (int k = 0; k < b->nedges; k++)
	{
		b->edges[k] = pq_getmsgfloat8(buf);
		if (!isfinite(b->edges[k]) || (k > 0 && !(b->edges[k] > b->edges[k - 1])))
			ModelCorrupt("the baseline's bin edges are not finite and increasing");
	}
	b->nbins = pq_getmsgint(buf, 4);
	if (b->nbins != (exact_bins >= 0 ? exact_bins : b->nedges + extra_bins))
		ModelCorrupt("the baseline's bins do not match its column");
	b->shares = ModelReadDoubles(buf, b->nbins);
	for (int j = 0; j < b->nbins; j++)
	{
		if (!(b->shares[j] >= 0 && b->shares[j] <= 1))
			ModelCorrupt("a baseline share is not in [0, 1]");
		sum += b->shares[j];
	}
	if (fabs(sum - 1) > 1e-9 && !(sum == 0 && b->n == 0))
		ModelCorrupt("the baseline's shares do not add up to 1");
}

/*
 * A baseline section for a model of this spec (nclasses labels), checked
 * against it: one distribution per column, of the column's kind.
 */
Baseline *
BaselineRead(StringInfo buf, const FeatureSpec *spec, int nclasses)
{
	Baseline   *b = palloc0(sizeof(Baseline));
	int			format = pq_getmsgint(buf, 2);

	if (format != BASELINE_FORMAT)
		ModelCorrupt("the baseline's format is unknown");
	b->ncolumns = pq_getmsgint(buf, 4);
	if (b->ncolumns != spec->ncolumns)
		ModelCorrupt("the baseline does not have one distribution per column");
	b->columns = palloc0(sizeof(BaselineBins) * Max(b->ncolumns, 1));
	for (int i = 0; i < b->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		if (c->kind == FEATURE_CATEGORICAL)
			ReadBins(buf, &b->columns[i], 0, 0, c->nlevels + 2);
		else
		{
			ReadBins(buf, &b->columns[i], BASELINE_EDGES, 2, -1);
			if (c->kind == FEATURE_BOOLEAN &&
				(b->columns[i].nedges != 1 || b->columns[i].edges[0] != 0))
				ModelCorrupt("a boolean column's baseline is not false, true, NULL");
		}
	}
	b->score_kind = (BaselineScoreKind) pq_getmsgbyte(buf);
	if (b->score_kind == BASELINE_SCORE_NUMBER)
		ReadBins(buf, &b->score, BASELINE_EDGES, 1, -1);
	else if (b->score_kind == BASELINE_SCORE_CLASS)
	{
		if (nclasses < 2)
			ModelCorrupt("the baseline has class shares, but the model no classes");
		ReadBins(buf, &b->score, 0, 0, nclasses);
	}
	else if (b->score_kind != BASELINE_SCORE_NONE)
		ModelCorrupt("the baseline's score kind is unknown");
	return b;
}

/*
 * The population stability index sum (a - e) ln(a / e) of shares actual
 * against expected, a share of 0 counting as BASELINE_SMOOTHING.
 */
double
BaselinePsi(const double *expected, const double *actual, int nbins)
{
	double		psi = 0;

	for (int j = 0; j < nbins; j++)
	{
		double		e = expected[j] > 0 ? expected[j] : BASELINE_SMOOTHING;
		double		a = actual[j] > 0 ? actual[j] : BASELINE_SMOOTHING;

		psi += (a - e) * log(a / e);
	}
	return psi;
}

/* The usual reading of a PSI: below 0.1 stable, up to 0.25 moderate, beyond a shift */
const char *
BaselineStatus(double psi)
{
	if (isnan(psi))
		return NULL;
	return psi < 0.1 ? "stable" : psi <= 0.25 ? "moderate" : "shift";
}

/* The label of number bin j of b: an interval "(a, b]" */
static char *
IntervalLabel(const BaselineBins *b, int j)
{
	if (b->nedges == 0)
		return pstrdup("(-Infinity, Infinity)");
	if (j == 0)
		return psprintf("(-Infinity, %s]", float8out_internal(b->edges[0]));
	if (j == b->nedges)
		return psprintf("(%s, Infinity)", float8out_internal(b->edges[j - 1]));
	return psprintf("(%s, %s]", float8out_internal(b->edges[j - 1]),
					float8out_internal(b->edges[j]));
}

/* The label of a feature's bin: an interval, "false"/"true", a level, "(other)" or "NULL" */
char *
BaselineBinLabel(const FeatureColumn *c, const BaselineBins *b, int bin)
{
	if (bin == b->nbins - 1)
		return pstrdup("NULL");
	if (c->kind == FEATURE_CATEGORICAL)
		return bin < c->nlevels ? pstrdup(c->levels[bin]) : pstrdup("(other)");
	if (c->kind == FEATURE_BOOLEAN)
		return pstrdup(bin == 0 ? "false" : "true");
	return IntervalLabel(b, bin);
}

/* The label of a score bin: an interval, or a class label */
char *
BaselineScoreLabel(const Baseline *b, int bin, char **classes)
{
	if (b->score_kind == BASELINE_SCORE_CLASS)
		return pstrdup(classes[bin]);
	return IntervalLabel(&b->score, bin);
}
