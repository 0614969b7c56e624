/*-------------------------------------------------------------------------
 * logistic.c
 *	  Maximum likelihood (optionally ridge) logistic regression by Newton's
 *	  method with step halving, on standardized slots.
 *
 * Each pass over the training rows, at proposed coefficients, gives the
 * log-likelihood, the gradient and the Hessian X'WX (dsyrk on row blocks
 * scaled by sqrt(w)).  LogisticStep then accepts the proposal or halves
 * it, and proposes the next Newton step.  Slots found collinear with
 * earlier ones on the first pass are aliased, as R's glm() does; the
 * deviance criterion for convergence is R's: |dev - dev_old| /
 * (|dev| + 0.1) < tol.  Coefficients that keep growing (a standardized
 * coefficient beyond 30: the classes are separated) stop the iterations
 * with finite values.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "linalg.h"
#include "logistic.h"
#include "profenrich.h"

#define SEPARATION_LIMIT 30.0
#define LOGISTIC_MAX_WIDTH 16000	/* the Hessian's upper triangle stays below 1 GB */

/*
 * The per-row loops are compiled twice, for AVX2 and for the baseline
 * instruction set, the one the CPU runs picked at the first call
 * (LINALG_KERNEL_PICK).
 */
#define MAX_HALVINGS 30

/* The logistic function, without overflow */
double
LogisticSigmoid(double eta)
{
	if (eta >= 0)
		return 1.0 / (1.0 + exp(-eta));
	else
	{
		double		e = exp(eta);

		return e / (1.0 + e);
	}
}

/* x'theta */
double
LogisticLink(const double *theta, const double *x, int width)
{
	double		eta = 0.0;

	for (int j = 0; j < width; j++)
		eta += theta[j] * x[j];
	return eta;
}

/* Bytes of the sums for rows of width values: the gradient and the width^2 Hessian */
Size
LogisticSumsBytes(int width)
{
	return mul_size(sizeof(double), add_size(width, mul_size(width, width)));
}

/*
 * Bytes Newton's method holds for width values at its peak: the sums at
 * the current and the proposed coefficients, the penalized Hessian and
 * the solver's copies of it, and the covariance with its transformation;
 * nine width^2 matrices.
 */
Size
LogisticNewtonBytes(int width)
{
	return mul_size(9, LogisticSumsBytes(width));
}

/*
 * Zeroed sums for rows of width values, refused over the training memory
 * limit (TrainMemoryCheck) or beyond the width whose Hessian still fits in
 * a serialized state (1 GB)
 */
void
LogisticSumsInit(LogisticSums *s, int width)
{
	if (width > LOGISTIC_MAX_WIDTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("logistic regression of %d slots is over the limit of %d slots",
						width - 1, LOGISTIC_MAX_WIDTH - 1),
				 errhint("Lower the option max_categories, or train on fewer features.")));
	TrainMemoryCheck(LogisticSumsBytes(width), width - 1, "the Hessian of logistic regression");
	s->width = width;
	s->grad = palloc(mul_size(sizeof(double), width));
	s->hess = MemoryContextAllocHuge(CurrentMemoryContext,
									 mul_size(sizeof(double), mul_size(width, width)));
	LogisticSumsReset(s);
}

void
LogisticSumsReset(LogisticSums *s)
{
	s->n = 0;
	s->loglik = 0;
	s->loglik_raw = 0;
	memset(s->grad, 0, sizeof(double) * s->width);
	memset(s->hess, 0, sizeof(double) * s->width * s->width);
}

/* Are the log-likelihood, gradient and Hessian all finite? */
static bool
SumsFinite(const LogisticSums *s)
{
	int			w = s->width;

	if (!isfinite(s->loglik) || !isfinite(s->loglik_raw))
		return false;
	for (int j = 0; j < w; j++)
		if (!isfinite(s->grad[j]))
			return false;
	for (int i = 0; i < w; i++)
		for (int j = i; j < w; j++)
			if (!isfinite(s->hess[(size_t) i * w + j]))
				return false;
	return true;
}

/* a += b */
void
LogisticSumsMerge(LogisticSums *a, const LogisticSums *b)
{
	a->n += b->n;
	a->loglik += b->loglik;
	a->loglik_raw += b->loglik_raw;
	for (int j = 0; j < a->width; j++)
		a->grad[j] += b->grad[j];
	for (int i = 0; i < a->width; i++)
		for (int j = i; j < a->width; j++)
			a->hess[i * a->width + j] += b->hess[i * a->width + j];
}

#define LOGISTIC_SUMS_FORMAT 1


/* Bytes of the flat form of sums of this width (format, width, three sums, grad, upper Hessian) */
Size
LogisticSumsFlatSize(int width)
{
	return 32 + sizeof(double) * ((Size) width + (Size) width * (width + 1) / 2);
}

/* Write the flat form of the sums */
void
LogisticSumsWrite(PartialWriter *w, const LogisticSums *s)
{
	PartialPut32(w, LOGISTIC_SUMS_FORMAT);
	PartialPut32(w, (uint32) s->width);
	PartialPutFloat8(w, s->n);
	PartialPutFloat8(w, s->loglik);
	PartialPutFloat8(w, s->loglik_raw);
	PartialPutBytes(w, s->grad, sizeof(double) * s->width);
	for (int i = 0; i < s->width; i++)
		PartialPutBytes(w, &s->hess[i * s->width + i], sizeof(double) * (s->width - i));
}

/* The sums as a bytea */
bytea *
LogisticSumsToBytes(const LogisticSums *s)
{
	Size		size = LogisticSumsFlatSize(s->width);
	bytea	   *b = palloc(VARHDRSZ + size);
	PartialWriter w = {VARDATA(b), VARDATA(b) + size};

	SET_VARSIZE(b, VARHDRSZ + size);
	LogisticSumsWrite(&w, s);
	return b;
}

/* Refuse bytes that are not sums of logistic_step */
static void
SumsInvalid(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid logistic_step state: %s", why),
			 errhint("Pass a state that profenrich.logistic_step built, unchanged, from the same release.")));
}

/*
 * Read what LogisticSumsWrite wrote into fresh sums, checking the format
 * version, that the length is exactly what the width implies, and that
 * the row count is a count.
 */
void
LogisticSumsRead(const char *data, Size size, LogisticSums *s)
{
	StringInfoData buf;
	int			w;

	buf.data = (char *) data;
	buf.len = size;
	buf.maxlen = size;
	buf.cursor = 0;
	if (size < 32 || pq_getmsgint(&buf, 4) != LOGISTIC_SUMS_FORMAT)
		SumsInvalid("unknown format");
	w = pq_getmsgint(&buf, 4);
	if (w < 1 || w > LOGISTIC_MAX_WIDTH || size != LogisticSumsFlatSize(w))
		SumsInvalid("length does not match its width");
	LogisticSumsInit(s, w);
	s->n = pq_getmsgfloat8(&buf);
	if (!(s->n >= 0))
		SumsInvalid("the row count is not a count");
	s->loglik = pq_getmsgfloat8(&buf);
	s->loglik_raw = pq_getmsgfloat8(&buf);
	pq_copymsgbytes(&buf, (char *) s->grad, sizeof(double) * w);
	for (int i = 0; i < w; i++)
		pq_copymsgbytes(&buf, (char *) &s->hess[i * w + i], sizeof(double) * (w - i));
}

/* LogisticSumsRead of a bytea */
void
LogisticSumsFromBytes(bytea *b, LogisticSums *s)
{
	LogisticSumsRead(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), s);
}

/* Columns of the scaled block, padded to a multiple of 3 for the Gram kernel */
static inline int
PaddedWidth(int w)
{
	return (w + 2) / 3 * 3;
}

/* Room LogisticAccumulate needs in scratch for a block of rows */
Size
LogisticScratchSize(int width, int rows)
{
	return sizeof(double) * (Size) PaddedWidth(width) * ((rows + 3) / 4 * 4);
}

/*
 * Add rows x (rows x width, row-major, [1, slots]) with labels y to the
 * sums at theta; cw holds the weight of label 0 and label 1.  One sweep
 * per row computes its link, probability and gradient term, and writes
 * the row scaled by sqrt(w) into scratch column by column; the Gram
 * kernel then adds the block's X'WX.  scratch holds LogisticScratchSize
 * bytes.  When probs is given it receives each row's probability.
 */
static pg_attribute_always_inline void
AccumulateBody(LogisticSums *s, const double *theta, const double *x, const double *y,
			   int rows, const double *cw, double *scratch, double *probs)
{
	int			w = s->width;
	int			ld = (rows + 3) / 4 * 4;	/* column stride, rows padded to 4 */
	int			pw = PaddedWidth(w);
	double		loglik = 0.0;
	double		loglik_raw = 0.0;
	double	   *restrict grad = s->grad;

	for (int i = 0; i < rows; i++)
	{
		const double *restrict xi = &x[(size_t) i * w];
		double		e = 0.0;
		double		label = y[i];
		double		weight = cw[label != 0.0];
		double		z,
					mu,
					sw,
					r;

		for (int j = 0; j < w; j++)
			e += xi[j] * theta[j];
		z = exp(-fabs(e));
		mu = e >= 0 ? 1.0 / (1.0 + z) : z / (1.0 + z);
		sw = sqrt(weight * mu * (1.0 - mu));
		r = weight * (label - mu);
		if (probs)
			probs[i] = mu;
		/* log(1 + z), z <= 1: where 1 + z rounds to 1 the term is below 1e-16 */
		{
			double		li = label * e - (Max(e, 0.0) + log(1.0 + z));

			loglik += weight * li;
			loglik_raw += li;
		}
		for (int j = 0; j < w; j++)
		{
			grad[j] += r * xi[j];
			scratch[(size_t) j * ld + i] = sw * xi[j];
		}
	}
	/* zero the padding rows and columns */
	for (int j = 0; j < pw; j++)
		for (int i = (j < w ? rows : 0); i < ld; i++)
			scratch[(size_t) j * ld + i] = 0.0;
	LinalgGramAddUpper(w, ld, scratch, ld, s->hess, w);
	s->loglik += loglik;
	s->loglik_raw += loglik_raw;
	s->n += rows;
}

LINALG_KERNEL_VARIANTS(Accumulate,
					   (LogisticSums *s, const double *theta, const double *x, const double *y,
						int rows, const double *cw, double *scratch, double *probs),
					   (s, theta, x, y, rows, cw, scratch, probs))

/* Add a block of rows to the sums (AccumulateBody), in the variant the CPU runs */
void
LogisticAccumulate(LogisticSums *s, const double *theta, const double *x, const double *y,
				   int rows, const double *cw, double *scratch, double *probs)
{
	LINALG_KERNEL_PICK(Accumulate) (s, theta, x, y, rows, cw, scratch, probs);
}

/* Rows per LogisticAccumulate call: small enough for the block to stay in cache */
#define PASS_BLOCK_ROWS 256

/*
 * One pass over a dataset in memory, in blocks of rows small enough that
 * the sweeps LogisticAccumulate makes over them (eta, scaling, dsyrk,
 * gradient) read the block from cache rather than memory.  When probs is
 * given it receives every row's probability, in row order.
 */
void
LogisticPassInMemory(const Dataset *d, const double *theta, const double *cw,
					 LogisticSums *out, double *probs)
{
	int64		done = 0;

	double	   *scratch = palloc(LogisticScratchSize(d->width, PASS_BLOCK_ROWS));

	LogisticSumsReset(out);
	for (int c = 0; c < d->nchunks; c++)
	{
		const DataChunk *ch = &d->chunks[c];

		CHECK_FOR_INTERRUPTS();
		DatasetChunkReady(d, &d->chunks[c]);
		for (int r = 0; r < ch->rows; r += PASS_BLOCK_ROWS)
		{
			int			rows = Min(PASS_BLOCK_ROWS, ch->rows - r);

			LogisticAccumulate(out, theta, &ch->x[(size_t) r * d->width], &ch->y[r],
							   rows, cw, scratch, probs ? probs + done : NULL);
			done += rows;
		}
	}
	pfree(scratch);
}

/*
 * The first pass, at coefficients that are zero but for the intercept:
 * every row has the same probability, so the weights take no exp or log
 * per row, only the label's class weight.
 */
static pg_attribute_always_inline void
PassConstantBody(const Dataset *d, const double *theta, const double *cw, LogisticSums *out)
{
	int			w = d->width;
	double		e = theta[0];
	double		mu = LogisticSigmoid(e);
	double		ll[2],
				sw[2],
				r[2];
	double	   *scratch = palloc(sizeof(double) * PASS_BLOCK_ROWS * w);

	for (int k = 0; k < 2; k++)
	{
		sw[k] = sqrt(cw[k] * mu * (1.0 - mu));
		r[k] = cw[k] * (k - mu);
		ll[k] = cw[k] * (k * e - (Max(e, 0.0) + log1p(exp(-fabs(e)))));
	}
	LogisticSumsReset(out);
	for (int c = 0; c < d->nchunks; c++)
	{
		const DataChunk *ch = &d->chunks[c];

		CHECK_FOR_INTERRUPTS();
		DatasetChunkReady(d, &d->chunks[c]);
		for (int r0 = 0; r0 < ch->rows; r0 += PASS_BLOCK_ROWS)
		{
			int			rows = Min(PASS_BLOCK_ROWS, ch->rows - r0);

			for (int i = 0; i < rows; i++)
			{
				const double *restrict xi = &ch->x[(size_t) (r0 + i) * w];
				double	   *restrict si = &scratch[(size_t) i * w];
				int			k = ch->y[r0 + i] != 0.0;

				out->loglik += ll[k];
				out->loglik_raw += ll[k] / cw[k];
				for (int j = 0; j < w; j++)
				{
					out->grad[j] += r[k] * xi[j];
					si[j] = sw[k] * xi[j];
				}
			}
			LinalgSyrkAddUpper(w, rows, scratch, w, out->hess, w);
			out->n += rows;
		}
	}
	pfree(scratch);
}

LINALG_KERNEL_VARIANTS(PassConstant,
					   (const Dataset *d, const double *theta, const double *cw, LogisticSums *out),
					   (d, theta, cw, out))

/* The first pass (PassConstantBody), in the variant the CPU runs */
void
LogisticPassConstant(const Dataset *d, const double *theta, const double *cw,
					 LogisticSums *out)
{
	LINALG_KERNEL_PICK(PassConstant) (d, theta, cw, out);
}

/*
 * Start at theta = (logit(base rate), 0, ...), with constant slots (sd 0)
 * aliased from the outset.
 */
void
LogisticStateInit(LogisticState *st, int width, const double *sd, double base_rate)
{
	TrainMemoryCheck(LogisticNewtonBytes(width), width - 1,
					 "Newton's method for logistic regression");
	memset(st, 0, sizeof(LogisticState));
	st->width = width;
	st->theta = palloc0(sizeof(double) * width);
	st->next = palloc0(sizeof(double) * width);
	st->step = palloc0(sizeof(double) * width);
	st->aliased = palloc0(sizeof(bool) * width);
	for (int j = 1; j < width; j++)
		st->aliased[j] = !(sd[j] > 0);
	base_rate = Min(Max(base_rate, 1e-6), 1 - 1e-6);
	st->next[0] = log(base_rate / (1 - base_rate));
	LogisticSumsInit(&st->sums, width);
}

/* Start from given coefficients instead of the base rate (a warm start) */
void
LogisticStateStartAt(LogisticState *st, const double *theta)
{
	memcpy(st->next, theta, sizeof(double) * st->width);
}

/*
 * The weight of slot j's penalty: 1, or for a group's model fitted on the
 * data's standardization, its slot's variance in the group relative to
 * all rows', so that l2 penalizes the group's own standardized slots.
 */
static inline double
PenaltyWeight(const LogisticState *st, int j)
{
	return st->l2w ? st->l2w[j] : 1.0;
}

/* The penalized objective at coefficients t */
static double
Objective(const LogisticState *st, const double *t, double loglik, double l2)
{
	double		pen = 0.0;

	for (int j = 1; j < st->width; j++)
		if (!st->aliased[j])
			pen += PenaltyWeight(st, j) * t[j] * t[j];
	return -loglik + 0.5 * l2 * pen;
}

/* The full symmetric matrix of sums.hess (+ l2 on the slots' diagonal) */
static double *
PenalizedHessian(const LogisticState *st, double l2)
{
	int			w = st->width;
	double	   *h = MemoryContextAllocHuge(CurrentMemoryContext,
										   mul_size(sizeof(double), mul_size(w, w)));

	memcpy(h, st->sums.hess, sizeof(double) * w * w);
	LinalgSymmetrize(w, h, w);
	for (int j = 1; j < w; j++)
		h[j * w + j] += l2 * PenaltyWeight(st, j);
	return h;
}

/*
 * Propose next = theta + Newton step at theta; returns the Newton
 * decrement g'H^-1 g / 2, the decrease of the objective the step predicts.
 */
static double
ProposeNewton(LogisticState *st, double l2)
{
	int			w = st->width;
	double	   *h = PenalizedHessian(st, l2);
	double		decrement = 0.0;

	for (int j = 0; j < w; j++)
		st->step[j] = st->sums.grad[j] - (j > 0 ? l2 * PenaltyWeight(st, j) * st->theta[j] : 0.0);
	LinalgSpdSolve(w, h, st->aliased, st->step, NULL);
	for (int j = 0; j < w; j++)
	{
		decrement += 0.5 * st->step[j] *
			(st->sums.grad[j] - (j > 0 ? l2 * PenaltyWeight(st, j) * st->theta[j] : 0.0));
		st->next[j] = st->theta[j] + st->step[j];
	}
	pfree(h);
	return decrement;
}

/*
 * Slots collinear with earlier ones (in the order order gives, NULL: column
 * order), from the first pass's Hessian with the penalty added (a ridge fit
 * keeps every slot, as in linear models)
 */
static void
FindAliased(LogisticState *st, double l2, const int *order)
{
	double	   *h = PenalizedHessian(st, l2);

	if (order)
	{
		double	   *work = MemoryContextAllocHuge(CurrentMemoryContext,
												  mul_size(sizeof(double),
														   mul_size(st->width, st->width)));

		LinalgCholeskyAliasedOrder(st->width, h, 1e-9, st->aliased, order, work);
		pfree(work);
	}
	else
		LinalgCholeskyAliased(st->width, h, 1e-9, st->aliased);
	pfree(h);
}

/* Accept the sums at next as the new current point */
static void
Accept(LogisticState *st, const LogisticSums *at_next, double objective)
{
	memcpy(st->theta, st->next, sizeof(double) * st->width);
	st->sums.n = at_next->n;
	st->sums.loglik = at_next->loglik;
	st->sums.loglik_raw = at_next->loglik_raw;
	memcpy(st->sums.grad, at_next->grad, sizeof(double) * st->width);
	memcpy(st->sums.hess, at_next->hess, sizeof(double) * st->width * st->width);
	st->objective = objective;
}

/*
 * Take the sums at st->next.  Returns true when the fit is finished
 * (converged, separated, or out of iterations); otherwise st->next holds
 * the coefficients for the next pass.
 */
bool
LogisticStep(LogisticState *st, const LogisticSums *at_next, const LogisticOptions *opts)
{
	bool		finite = SumsFinite(at_next);
	double		obj = finite ? Objective(st, st->next, at_next->loglik, opts->l2) : INFINITY;
	double		change;
	double		largest = 0.0;

	CHECK_FOR_INTERRUPTS();
	if (!st->started && !finite)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the sums of logistic regression overflow double precision"),
				 errdetail("The weighted log-likelihood, its gradient or its Hessian at the starting point is not finite."),
				 errhint("Use smaller class weights, or rescale the features.")));
	if (!st->started)
	{
		Accept(st, at_next, obj);
		FindAliased(st, opts->l2, opts->alias_order);
		st->started = true;
		(void) ProposeNewton(st, opts->l2);
		return false;
	}
	if (!(obj <= st->objective + 1e-12 * fabs(st->objective)) && st->halvings < MAX_HALVINGS)
	{
		st->halvings++;
		for (int j = 0; j < st->width; j++)
		{
			st->step[j] *= 0.5;
			st->next[j] = st->theta[j] + st->step[j];
		}
		return false;
	}
	change = fabs(st->objective - obj) / (fabs(obj) + 0.05);
	if (isfinite(obj))
		Accept(st, at_next, obj);
	st->iterations++;
	st->halvings = 0;
	for (int j = 1; j < st->width; j++)
		largest = Max(largest, fabs(st->theta[j]));
	if (change < opts->tol)
	{
		st->converged = true;
		return true;
	}
	if (largest > SEPARATION_LIMIT || !isfinite(obj))
	{
		st->separated = true;
		return true;
	}
	if (st->iterations >= opts->max_iter)
		return true;
	(void) ProposeNewton(st, opts->l2);
	return false;
}

/*
 * Covariance of the standardized coefficients: the inverse of the
 * (penalized) Hessian at the final coefficients, zero where aliased.
 */
void
LogisticCovariance(const LogisticState *st, double l2, double *cov)
{
	int			w = st->width;
	double	   *h = PenalizedHessian(st, l2);
	double	   *rhs = palloc0(sizeof(double) * w);

	LinalgSpdSolve(w, h, st->aliased, rhs, cov);
	pfree(rhs);
	pfree(h);
}

/*
 * The offset c that calibrates a classifier fitted with class weights: the
 * maximum likelihood intercept correction on its training rows, i.e. the
 * c with mean(sigmoid(eta_i + c)) = target (their positive rate), which a
 * weighted fit does not meet.  Newton's method from start (the closed form
 * -log(w1 / w0) of a shift in the prior), its steps capped so that it
 * cannot leave the bracket of a monotone equation.
 */
double
LogisticCalibrationOffset(const double *eta, int64 n, double target, double start)
{
	double		c = start;

	if (n <= 0 || !(target > 0 && target < 1))
		return 0.0;
	for (int it = 0; it < 100; it++)
	{
		double		f = 0,
					d = 0,
					step;

		CHECK_FOR_INTERRUPTS();
		for (int64 i = 0; i < n; i++)
		{
			double		p = LogisticSigmoid(eta[i] + c);

			f += p;
			d += p * (1 - p);
		}
		f = f / n - target;
		d /= n;
		if (!(d > 0))
			break;
		step = Max(Min(-f / d, 5.0), -5.0);
		c += step;
		if (fabs(step) < 1e-12 * Max(1.0, fabs(c)))
			break;
	}
	return isfinite(c) ? c : 0.0;
}
