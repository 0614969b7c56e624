/*-------------------------------------------------------------------------
 * curves.h
 *	  How a binary classifier's probabilities compare with the labels: ROC
 *	  points, calibration bins and the expected calibration error, and the
 *	  threshold that is best for a metric.  Plain C over (score, label)
 *	  pairs: no SPI, no catalog.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_CURVES_H
#define PROFENRICH_CURVES_H

#include "metrics.h"

#define CURVES_ECE_BINS 10

/* The rows with a score at or above threshold, split by label */
typedef struct CurvePoint
{
	double		threshold;
	double		tp;
	double		fp;
} CurvePoint;

typedef enum ThresholdMetric
{
	THRESHOLD_F1,
	THRESHOLD_YOUDEN,
	THRESHOLD_COST
} ThresholdMetric;

extern void CurvesCount(const ScoredLabel *sorted, int64 n, double *positives, double *negatives);
extern int	CurvesRoc(const ScoredLabel *sorted, int64 n, int points, CurvePoint *out);
extern void CurvesCalibration(const ScoredLabel *pairs, int64 n, int bins, double *count,
							  double *sum_score, double *sum_label);
extern double CurvesEce(const ScoredLabel *pairs, int64 n, int bins);
extern CurvePoint CurvesBestThreshold(const ScoredLabel *sorted, int64 n, ThresholdMetric metric,
									  double cost_fp, double cost_fn, double *value);

#endif
