/*-------------------------------------------------------------------------
 * curves.c
 *	  The numerical core of roc_curve, calibration, best_threshold and the
 *	  expected calibration error of evaluate (curves.h).
 *
 * The threshold functions take pairs sorted by score, ascending (as
 * MetricsSortPairs leaves them), and walk them from the highest score
 * down, one group of tied scores at a time: a row is predicted positive
 * when its score is at or above the threshold, as predict_class does.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"

#include "curves.h"

/* Check for interrupts every 2^16 pairs */
#define CURVES_INTERRUPTS(i) \
	do { \
		if (((i) & 0xFFFF) == 0) \
			CHECK_FOR_INTERRUPTS(); \
	} while (0)

/* The positive (label 1) and negative rows */
void
CurvesCount(const ScoredLabel *sorted, int64 n, double *positives, double *negatives)
{
	*positives = 0;
	for (int64 i = 0; i < n; i++)
		*positives += sorted[i].label;
	*negatives = n - *positives;
}

/*
 * Add the group of tied scores that ends at *i (walking down) to the
 * counts at or above its score; *i moves below the group.
 */
static double
NextGroup(const ScoredLabel *sorted, int64 *i, double *tp, double *fp, int64 *rows)
{
	double		s = sorted[*i].score;

	while (*i >= 0 && sorted[*i].score == s)
	{
		CURVES_INTERRUPTS(*i);
		*tp += sorted[*i].label;
		*fp += 1 - sorted[*i].label;
		(*rows)++;
		(*i)--;
	}
	return s;
}

/* The number of distinct scores */
static int64
Groups(const ScoredLabel *sorted, int64 n)
{
	int64		g = 0;

	for (int64 i = 0; i < n; i++)
	{
		CURVES_INTERRUPTS(i);
		g += i == 0 || sorted[i].score != sorted[i - 1].score;
	}
	return g;
}

/*
 * The points of the ROC curve, at most points of them (2 or more) into
 * out: first the threshold +Infinity (nothing positive), then thresholds
 * at distinct scores from the highest down, every one when they fit, else
 * the score reached at every (points - 1)-th share of the rows, always
 * ending at the lowest score (everything positive).  Returns the count.
 * With every distinct score in it, the trapezoids under the curve add up
 * to the AUC exactly (ties counted half).
 */
int
CurvesRoc(const ScoredLabel *sorted, int64 n, int points, CurvePoint *out)
{
	bool		all = Groups(sorted, n) + 1 <= points;
	int64		slots = points - 1,
				j = 1,
				rows = 0,
				i = n - 1;
	double		tp = 0,
				fp = 0;
	int			k = 0;

	out[k].threshold = get_float8_infinity();
	out[k].tp = out[k].fp = 0;
	k++;
	while (i >= 0)
	{
		double		s = NextGroup(sorted, &i, &tp, &fp, &rows);

		/* the target rank of point j is ceil(j n / slots) */
		if (!all && rows < (j * n + slots - 1) / slots)
			continue;
		while (j <= slots && (j * n + slots - 1) / slots <= rows)
			j++;
		out[k].threshold = s;
		out[k].tp = tp;
		out[k].fp = fp;
		k++;
	}
	return k;
}

/*
 * Calibration bins of equal width over [0, 1]: bin b (0-based) holds the
 * scores in [b / bins, (b + 1) / bins), the last one 1 too; per bin the
 * rows, the sum of scores and the sum of labels.
 */
void
CurvesCalibration(const ScoredLabel *pairs, int64 n, int bins, double *count, double *sum_score,
				  double *sum_label)
{
	memset(count, 0, sizeof(double) * bins);
	memset(sum_score, 0, sizeof(double) * bins);
	memset(sum_label, 0, sizeof(double) * bins);
	for (int64 i = 0; i < n; i++)
	{
		double		p = pairs[i].score;
		int			b = (int) floor(p * bins);

		CURVES_INTERRUPTS(i);
		b = Min(Max(b, 0), bins - 1);
		count[b] += 1;
		sum_score[b] += p;
		sum_label[b] += pairs[i].label;
	}
}

/*
 * The expected calibration error: over equal-width bins, the row-weighted
 * mean of |mean score - observed rate|; NaN without rows.
 */
double
CurvesEce(const ScoredLabel *pairs, int64 n, int bins)
{
	double	   *count = palloc(sizeof(double) * bins),
			   *score = palloc(sizeof(double) * bins),
			   *label = palloc(sizeof(double) * bins);
	double		ece = 0;

	if (n == 0)
		return get_float8_nan();
	CurvesCalibration(pairs, n, bins, count, score, label);
	for (int b = 0; b < bins; b++)
		if (count[b] > 0)
			ece += fabs(score[b] - label[b]) / n;	/* (count / n) x |sum/count - sum/count| */
	pfree(count);
	pfree(score);
	pfree(label);
	return ece;
}

/* A metric's value at a threshold with tp and fp of P positives and N negatives */
static double
MetricAt(ThresholdMetric metric, double tp, double fp, double P, double N, double cost_fp,
		 double cost_fn)
{
	double		fn = P - tp;

	switch (metric)
	{
		case THRESHOLD_F1:
			return 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0;
		case THRESHOLD_YOUDEN:
			return tp / P - fp / N;
		default:
			return fp * cost_fp + fn * cost_fn;
	}
}

/*
 * The threshold best for a metric: the largest F1 or Youden's J
 * (tpr - fpr), or the smallest cost fp x cost_fp + fn x cost_fn, among
 * +Infinity and every distinct score; on a tie the higher threshold.
 * Both classes must be present (the caller checks).
 */
CurvePoint
CurvesBestThreshold(const ScoredLabel *sorted, int64 n, ThresholdMetric metric, double cost_fp,
					double cost_fn, double *value)
{
	double		P,
				N,
				tp = 0,
				fp = 0;
	int64		i = n - 1,
				rows = 0;
	bool		minimize = metric == THRESHOLD_COST;
	CurvePoint	best;

	CurvesCount(sorted, n, &P, &N);
	best.threshold = get_float8_infinity();
	best.tp = best.fp = 0;
	*value = MetricAt(metric, 0, 0, P, N, cost_fp, cost_fn);
	while (i >= 0)
	{
		double		s = NextGroup(sorted, &i, &tp, &fp, &rows);
		double		v = MetricAt(metric, tp, fp, P, N, cost_fp, cost_fn);

		if (minimize ? v < *value : v > *value)
		{
			*value = v;
			best.threshold = s;
			best.tp = tp;
			best.fp = fp;
		}
	}
	return best;
}
