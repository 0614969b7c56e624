/*-------------------------------------------------------------------------
 * distributions.c
 *	  Regularized incomplete beta function and Student t tail probability.
 *
 * I_x(a, b) is evaluated from its continued fraction (modified Lentz
 * iteration) on whichever side of the mean converges quickly; the two
 * sided t p-value is I_{df/(df+t^2)}(df/2, 1/2), which keeps full relative
 * precision for tiny p-values because it is never formed as 1 - (1 - p).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/float.h"

#include "distributions.h"

#define CF_MAX_ITER 1000
#define CF_EPS 1e-16
#define CF_TINY 1e-300

/* Continued fraction of I_x(a, b), valid for x < (a + 1) / (a + b + 2) */
static double
BetaContinuedFraction(double a, double b, double x)
{
	double		c = 1.0;
	double		d = 1.0 - (a + b) * x / (a + 1.0);
	double		f;

	if (fabs(d) < CF_TINY)
		d = CF_TINY;
	d = 1.0 / d;
	f = d;
	for (int m = 1; m <= CF_MAX_ITER; m++)
	{
		double		num;
		double		step;

		/* even term of the fraction */
		num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
		d = 1.0 + num * d;
		c = 1.0 + num / c;
		d = fabs(d) < CF_TINY ? 1.0 / CF_TINY : 1.0 / d;
		if (fabs(c) < CF_TINY)
			c = CF_TINY;
		f *= d * c;
		/* odd term */
		num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
		d = 1.0 + num * d;
		c = 1.0 + num / c;
		d = fabs(d) < CF_TINY ? 1.0 / CF_TINY : 1.0 / d;
		if (fabs(c) < CF_TINY)
			c = CF_TINY;
		step = d * c;
		f *= step;
		if (fabs(step - 1.0) < CF_EPS)
			break;
	}
	return f;
}

/* Regularized incomplete beta function I_x(a, b) for a, b > 0 */
double
IncompleteBeta(double a, double b, double x)
{
	double		lfront;

	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;
	lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
	if (x < (a + 1.0) / (a + b + 2.0))
		return exp(lfront) * BetaContinuedFraction(a, b, x) / a;
	return 1.0 - exp(lfront) * BetaContinuedFraction(b, a, 1.0 - x) / b;
}

/* P(|T| >= |t|) for Student's t with df degrees of freedom */
double
StudentTTwoSided(double t, double df)
{
	if (isnan(t) || !(df > 0))
		return get_float8_nan();
	if (isinf(t))
		return 0.0;
	return IncompleteBeta(df / 2.0, 0.5, df / (df + t * t));
}
