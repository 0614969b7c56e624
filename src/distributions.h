/*-------------------------------------------------------------------------
 * distributions.h
 *	  Tail probabilities for inference on coefficients.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_DISTRIBUTIONS_H
#define PROFENRICH_DISTRIBUTIONS_H

extern double IncompleteBeta(double a, double b, double x);
extern double StudentTTwoSided(double t, double df);

#endif
