/*-------------------------------------------------------------------------
 * train_kmeans.c
 *	  The 'kmeans' trainer: its options, the fit in memory or by streaming
 *	  passes, the choice of k by silhouette, and the SQL side of the
 *	  streaming step aggregate, profenrich.kmeans_step.
 *
 * Both paths seed on the same rows: the training rows of smallest sample
 * priority (the rows linear_stats samples, all of them up to 20,000),
 * standardized and taken in priority order, so a seed gives the same
 * initial centers whatever the path or the plan.  In memory the encoded
 * rows are read once and Lloyd's iterations run with Hamerly's bounds
 * (kmeans.c); beyond profenrich.max_train_memory, one linear_stats pass
 * gives the standardization and the sample, then every iteration is one
 * SQL pass of kmeans_step, which assigns each row to its nearest center
 * for every restart (and every k tried) at once and returns per-cluster
 * sums and counts.  Both paths take the same M-steps, so they end with the
 * same clusters.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/syscache.h"

#include "baseline.h"
#include "dataset.h"
#include "glm.h"
#include "kmeans.h"
#include "model_kmeans.h"
#include "partial.h"
#include "profenrich.h"
#include "trainer.h"

PG_FUNCTION_INFO_V1(kmeans_step_sfunc);
PG_FUNCTION_INFO_V1(kmeans_step_row_sfunc);
PG_FUNCTION_INFO_V1(kmeans_step_combinefunc);
PG_FUNCTION_INFO_V1(kmeans_step_finalfunc);

#define KMEANS_MAX_CANDIDATES 50	/* k values "auto" may try */
#define KMEANS_STEP_FORMAT 1
#define STEP_MAX_RUNS 10000
#define STEP_MAX_CENTER_VALUES (2 * 1024 * 1024)	/* centers x slots in one pass */
#define STEP_DOTS 262144		/* doubles of a batch's products */

/* The options of 'kmeans' */
typedef struct KmeansTrainOptions
{
	int			k;				/* 0: "auto" */
	int			k_min;
	int			k_max;
	int			silhouette_sample;
	bool		range_given;	/* k_min, k_max or silhouette_sample given */
	int			n_init;
	int			max_iter;
	double		tol;
	bool		standardize;
} KmeansTrainOptions;

#define KMEANS_OPTIONS(job) ((KmeansTrainOptions *) (job)->algopts)

/* Defaults of the options of 'kmeans' */
void *
KmeansOptionsNew(const AlgorithmOps *ops)
{
	KmeansTrainOptions *o = palloc0(sizeof(KmeansTrainOptions));

	o->k = 8;
	o->k_min = 2;
	o->k_max = 10;
	o->silhouette_sample = 10000;
	o->n_init = 3;
	o->max_iter = 300;
	o->tol = 1e-4;
	o->standardize = true;
	return o;
}

/* One option of 'kmeans'; false for a key it does not take */
bool
KmeansOption(void *opts, const char *key, JsonbValue *v)
{
	KmeansTrainOptions *o = (KmeansTrainOptions *) opts;

	if (strcmp(key, "k") == 0)
	{
		if (v->type == jbvString)
		{
			if (strcmp(OptionString(key, v, ""), "auto") != 0)
				OptionError(key, "an integer from 2 to 1000 or \"auto\"");
			o->k = 0;
		}
		else if (v->type == jbvNumeric)
			o->k = OptionInteger(key, v, 2, KMEANS_MAX_K);
		else
			OptionError(key, "an integer from 2 to 1000 or \"auto\"");
	}
	else if (strcmp(key, "k_min") == 0)
		o->k_min = OptionInteger(key, v, 2, KMEANS_MAX_K);
	else if (strcmp(key, "k_max") == 0)
		o->k_max = OptionInteger(key, v, 2, KMEANS_MAX_K);
	else if (strcmp(key, "silhouette_sample") == 0)
		o->silhouette_sample = OptionInteger(key, v, 10, 100000);
	else if (strcmp(key, "n_init") == 0)
		o->n_init = OptionInteger(key, v, 1, 100);
	else if (strcmp(key, "max_iter") == 0)
		o->max_iter = OptionInteger(key, v, 1, 10000);
	else if (strcmp(key, "tol") == 0)
	{
		o->tol = OptionNumber(key, v, "a number from 0 up to (not including) 1");
		if (o->tol < 0 || o->tol >= 1)
			OptionError(key, "a number from 0 up to (not including) 1");
	}
	else if (strcmp(key, "standardize") == 0)
		o->standardize = OptionBool(key, v);
	else
		return false;
	if (strcmp(key, "k_min") == 0 || strcmp(key, "k_max") == 0 ||
		strcmp(key, "silhouette_sample") == 0)
		o->range_given = true;
	return true;
}

/* The effective options of 'kmeans', as members of a JSON object */
void
KmeansOptionsJson(StringInfo out, const void *opts)
{
	const KmeansTrainOptions *o = (const KmeansTrainOptions *) opts;

	appendStringInfoString(out, out->data[out->len - 1] == '{' ? "" : ", ");
	if (o->k == 0)
		appendStringInfo(out, "\"k\": \"auto\", \"k_min\": %d, \"k_max\": %d, \"silhouette_sample\": %d, ",
						 o->k_min, o->k_max, o->silhouette_sample);
	else
		appendStringInfo(out, "\"k\": %d, ", o->k);
	appendStringInfo(out, "\"n_init\": %d, \"max_iter\": %d, \"tol\": %s, \"standardize\": %s",
					 o->n_init, o->max_iter, float8out_internal(o->tol),
					 o->standardize ? "true" : "false");
}

/* The options that depend on each other */
static void
CheckOptions(const KmeansTrainOptions *o)
{
	if (o->k != 0 && o->range_given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the options \"k_min\", \"k_max\" and \"silhouette_sample\" apply to \"k\": \"auto\""),
				 errhint("Pass \"k\": \"auto\" to choose k between k_min and k_max, or leave them out.")));
	if (o->k == 0 && o->k_min > o->k_max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k_min (%d) is greater than k_max (%d)", o->k_min, o->k_max),
				 errhint("Give a range with k_min at most k_max, such as {\"k\": \"auto\", \"k_min\": 2, \"k_max\": 10}.")));
	if (o->k == 0 && o->k_max - o->k_min + 1 > KMEANS_MAX_CANDIDATES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"k\": \"auto\" tries at most %d values of k, and k_min %d to k_max %d are %d",
						KMEANS_MAX_CANDIDATES, o->k_min, o->k_max, o->k_max - o->k_min + 1),
				 errhint("Narrow the range between k_min and k_max.")));
}

/* One k to fit: its best restart, and for "auto" its silhouette */
typedef struct Candidate
{
	int			k;
	bool		have_best;
	KmeansRun	best;
	int			best_restart;
	double	   *restart_inertia;	/* n_init */
	double		test_inertia;
	double		test_n;
	int		   *labels;			/* the silhouette sample's, "auto" only */
	double		silhouette;
} Candidate;

/* What both paths share: the candidates, the seeding sample, the tolerance */
typedef struct FitPlan
{
	const KmeansTrainOptions *o;
	TrainJob   *job;
	int			d;
	int			ncand;
	Candidate  *cand;			/* by decreasing k */
	double		tol;			/* on the total squared move of the centers */
	int			m;				/* seeding rows */
	double	   *seeds;			/* m x d, standardized, by sample priority */
	double		n;				/* training rows */
	double		n_test;
	const char *path;
} FitPlan;

/* The candidates: k, or k_max down to k_min for "auto" */
static void
PlanCandidates(FitPlan *plan, const KmeansTrainOptions *o)
{
	int			hi = o->k == 0 ? o->k_max : o->k,
				lo = o->k == 0 ? o->k_min : o->k;

	plan->ncand = hi - lo + 1;
	plan->cand = palloc0(sizeof(Candidate) * plan->ncand);
	for (int c = 0; c < plan->ncand; c++)
	{
		plan->cand[c].k = hi - c;
		plan->cand[c].restart_inertia = palloc(sizeof(double) * o->n_init);
		plan->cand[c].silhouette = get_float8_nan();
	}
}

/* Refuse a k the training rows cannot give */
static void
CheckRowsForK(const FitPlan *plan)
{
	int			k = plan->cand[0].k;

	if (plan->n >= k)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s = %d exceeds the %.0f training rows of %s",
					plan->o->k == 0 ? "k_max" : "k", k, plan->n, plan->job->src.qualname),
			 errdetail("Rows with a NULL feature are skipped under \"impute\": \"skip\"; the test split holds %.0f rows.",
					   plan->n_test),
			 errhint("Choose a smaller k, or train on more rows.")));
}

/* The seed of restart r of k, from the option "seed" */
static uint64
RestartSeed(const FitPlan *plan, int k, int r)
{
	return hash_combine64(hash_combine64((uint64) plan->job->opts.seed, (uint64) k), (uint64) r);
}

/*
 * Initial centers of restart r of k by greedy k-means++ on the seeding
 * rows; fewer distinct rows than k is an error.
 */
static void
InitialCenters(const FitPlan *plan, int k, int r, double *centers)
{
	pg_prng_state rng;
	int			got;

	pg_prng_seed(&rng, RestartSeed(plan, k, r));
	got = KmeansPlusPlus(plan->seeds, plan->m, plan->d, k, &rng, centers);
	if (got < k)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the training rows of %s have %d distinct feature values, fewer than %s = %d",
						plan->job->src.qualname, got, plan->o->k == 0 ? "k_max" : "k", k),
				 errdetail("Counted after encoding and standardizing, among the %d rows sampled for seeding (every training row when there are at most that many).",
						   plan->m),
				 errhint("Choose a smaller k, or features that tell the rows apart.")));
}

/*
 * Keep a restart's run if it is the candidate's best so far: the lowest
 * inertia, ties to the earlier restart, whatever order the runs end in
 */
static void
KeepRun(Candidate *c, int r, KmeansRun *run)
{
	c->restart_inertia[r] = run->inertia;
	if (!c->have_best || run->inertia < c->best.inertia ||
		(run->inertia == c->best.inertia && r < c->best_restart))
	{
		c->best = *run;
		c->best_restart = r;
		c->have_best = true;
	}
}

/* Order of the sample rows by priority */
typedef struct PrioIndex
{
	uint64		prio;
	int			i;
} PrioIndex;

static int
ByPriority(const void *a, const void *b)
{
	uint64		x = ((const PrioIndex *) a)->prio,
				y = ((const PrioIndex *) b)->prio;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * The seeding rows from a sample: in priority order, each row put on the
 * clustering scale by prepare (NULL: the rows are on it already).
 */
static void
SeedsFromSample(FitPlan *plan, const RowSample *s, void (*prepare) (const FitPlan *, const double *, double *,
																  const void *), const void *arg)
{
	PrioIndex  *order = palloc(sizeof(PrioIndex) * Max(s->count, 1));

	for (int i = 0; i < s->count; i++)
	{
		order[i].prio = s->prio[i];
		order[i].i = i;
	}
	qsort(order, s->count, sizeof(PrioIndex), ByPriority);
	plan->m = s->count;
	plan->seeds = MemoryContextAllocHuge(CurrentMemoryContext,
										 sizeof(double) * Max((Size) s->count * plan->d, 1));
	for (int i = 0; i < s->count; i++)
	{
		const double *row = s->rows + (size_t) order[i].i * s->width;
		double	   *out = plan->seeds + (size_t) i * plan->d;

		if (prepare)
			prepare(plan, row, out, arg);
		else
			memcpy(out, row, sizeof(double) * plan->d);
	}
	pfree(order);
}

/*
 * Choose k by the silhouette ("auto"): each candidate's best centers label
 * the first silhouette_sample seeding rows (a deterministic sample), and
 * the largest mean silhouette wins, ties to the smaller k.  Returns the
 * chosen candidate, and the rows used in *rows.
 */
static Candidate *
ChooseK(FitPlan *plan, int *rows)
{
	int			m = Min(plan->m, plan->o->silhouette_sample);
	int		  **labels = palloc(sizeof(int *) * plan->ncand);
	int		   *ks = palloc(sizeof(int) * plan->ncand);
	double	   *sil = palloc(sizeof(double) * plan->ncand);
	Candidate  *best = &plan->cand[plan->ncand - 1];	/* the smallest k */

	*rows = m;
	if (plan->o->k != 0)
		return &plan->cand[0];
	for (int c = 0; c < plan->ncand; c++)
	{
		Candidate  *cand = &plan->cand[c];

		labels[c] = palloc(sizeof(int) * Max(m, 1));
		ks[c] = cand->k;
		for (int i = 0; i < m; i++)
			labels[c][i] = KmeansNearest(plan->seeds + (size_t) i * plan->d, cand->best.centers,
										 cand->k, plan->d, NULL);
	}
	KmeansSilhouette(plan->seeds, m, plan->d, plan->ncand, labels, ks, sil);
	for (int c = plan->ncand - 1; c >= 0; c--)
	{
		plan->cand[c].silhouette = sil[c];
		if (!isnan(sil[c]) && (isnan(best->silhouette) || sil[c] > best->silhouette))
			best = &plan->cand[c];
	}
	return best;
}

/* Segment order: larger first, ties by cluster index */
typedef struct SizeIndex
{
	double		size;
	int			c;
} SizeIndex;

static int
BySizeDesc(const void *a, const void *b)
{
	const SizeIndex *x = (const SizeIndex *) a,
			   *y = (const SizeIndex *) b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->c - y->c;
}

/* The model body: the chosen run's centers as segments 1..k by decreasing size */
static void
FillModel(TrainJob *job, const FitPlan *plan, const Candidate *ch, const double *mean,
		  const double *sd)
{
	KmeansModel *km = palloc0(sizeof(KmeansModel));
	SizeIndex  *order = palloc(sizeof(SizeIndex) * ch->k);
	int			d = plan->d;

	for (int c = 0; c < ch->k; c++)
	{
		order[c].size = ch->best.sizes[c];
		order[c].c = c;
	}
	qsort(order, ch->k, sizeof(SizeIndex), BySizeDesc);
	km->k = ch->k;
	km->d = d;
	km->standardize = plan->o->standardize;
	km->mean = palloc(sizeof(double) * Max(d, 1));
	km->sd = palloc(sizeof(double) * Max(d, 1));
	memcpy(km->mean, mean, sizeof(double) * d);
	memcpy(km->sd, sd, sizeof(double) * d);
	km->centers = palloc(sizeof(double) * ch->k * d);
	km->sizes = palloc(sizeof(double) * ch->k);
	for (int s = 0; s < ch->k; s++)
	{
		memcpy(km->centers + (size_t) s * d, ch->best.centers + (size_t) order[s].c * d,
			   sizeof(double) * d);
		km->sizes[s] = order[s].size;
	}
	km->inertia = ch->best.inertia;
	km->iterations = ch->best.iterations;
	km->converged = ch->best.converged;
	KmeansModelDerive(km);
	job->model.body = km;
}

/* Append "key": [numbers] to the metrics */
static void
JsonArray(StringInfo out, const char *key, const double *v, int n)
{
	appendStringInfo(out, ", \"%s\": [", key);
	for (int i = 0; i < n; i++)
		appendStringInfo(out, "%s%s", i > 0 ? ", " : "", float8out_internal(v[i]));
	appendStringInfoChar(out, ']');
}

/* The metrics of the fit (segment sizes in segment order) */
static void
FitMetrics(TrainJob *job, const FitPlan *plan, const Candidate *ch, int sil_rows)
{
	StringInfo	out = &job->metrics;
	const KmeansModel *km = KmeansModelOf(&job->model);

	JsonField(out, "k", ch->k);
	JsonField(out, "inertia", ch->best.inertia);
	JsonArray(out, "sizes", km->sizes, km->k);
	JsonField(out, "iterations", ch->best.iterations);
	appendStringInfo(out, ", \"converged\": %s", ch->best.converged ? "true" : "false");
	JsonField(out, "reseeded", ch->best.reseeded);
	JsonArray(out, "restart_inertia", ch->restart_inertia, plan->o->n_init);
	JsonField(out, "best_restart", ch->best_restart + 1);
	JsonField(out, "seed_rows", plan->m);
	if (plan->o->k == 0)
	{
		JsonField(out, "silhouette", ch->silhouette);
		appendStringInfo(out, ", \"auto\": {\"silhouette_rows\": %d, \"candidates\": [", sil_rows);
		for (int c = plan->ncand - 1; c >= 0; c--)
		{
			const Candidate *cand = &plan->cand[c];

			appendStringInfo(out, "%s{\"k\": %d", c < plan->ncand - 1 ? ", " : "", cand->k);
			JsonField(out, "silhouette", cand->silhouette);
			JsonField(out, "inertia", cand->best.inertia);
			JsonField(out, "iterations", cand->best.iterations);
			appendStringInfo(out, ", \"converged\": %s}", cand->best.converged ? "true" : "false");
		}
		appendStringInfoString(out, "]}");
	}
	if (plan->n_test > 0)
	{
		appendStringInfoString(out, ", \"test\": {");
		JsonField(out, "inertia", ch->test_inertia);
		JsonField(out, "n", ch->test_n);
		appendStringInfoChar(out, '}');
	}
	appendStringInfo(out, ", \"path\": \"%s\"", plan->path);
}

/* Warn when the kept fit ran out of iterations */
static void
WarnFit(const Candidate *ch)
{
	if (!ch->best.converged)
		ereport(WARNING,
				(errmsg("k-means with k = %d did not converge in %d iterations", ch->k,
						ch->best.iterations),
				 errhint("Raise the option \"max_iter\", or loosen \"tol\".")));
}

/*
 * Refuse a fit whose distances overflowed (features of magnitudes near
 * 1e150 on their own scale): its centers or inertia are not finite
 */
static void
CheckFinite(const FitPlan *plan)
{
	for (int c = 0; c < plan->ncand; c++)
	{
		const KmeansRun *run = &plan->cand[c].best;
		bool		ok = isfinite(run->inertia);

		for (int i = 0; i < run->k * run->d && ok; i++)
			ok = isfinite(run->centers[i]);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the distances between the rows of %s overflow double precision",
							plan->job->src.qualname),
					 errhint("Leave \"standardize\" on, or scale the features down in a view.")));
	}
}

/* Choose k, store the model and its metrics: what both paths end with */
static void
Finish(TrainJob *job, FitPlan *plan, const double *mean, const double *sd)
{
	int			sil_rows;
	Candidate  *ch;

	CheckFinite(plan);
	ch = ChooseK(plan, &sil_rows);

	FillModel(job, plan, ch, mean, sd);
	FeatureSetShares(job->spec, mean);	/* an unseen category's slots under "average" */
	WarnFit(ch);
	FitMetrics(job, plan, ch, sil_rows);
	job->n_train = plan->n;
	job->n_test = plan->n_test;
}

/* The per-slot variances of the clustering input, for the tolerance */
static double
PlanTolerance(const FitPlan *plan, const double *sd, const double *scale)
{
	double	   *var = palloc(sizeof(double) * Max(plan->d, 1));
	double		tol;

	for (int j = 0; j < plan->d; j++)
		var[j] = scale[j] > 0 ? (sd[j] / scale[j]) * (sd[j] / scale[j]) : 0.0;
	tol = KmeansTolerance(var, plan->d, plan->o->tol);
	pfree(var);
	return tol;
}

/* The clustering scale of each slot: its sd, or 1 without standardize; 0 if constant */
static double *
SlotScale(const FitPlan *plan, const double *sd)
{
	double	   *scale = palloc(sizeof(double) * Max(plan->d, 1));

	for (int j = 0; j < plan->d; j++)
		scale[j] = !(sd[j] > 0) ? 0.0 : plan->o->standardize ? sd[j] : 1.0;
	return scale;
}

/* The rows of a split in memory as k-means points (the chunks prepared, read in place) */
static void
SplitPoints(Dataset *ds, KmeansPoints *p, int d)
{
	const double **blocks = palloc(sizeof(double *) * Max(ds->nchunks, 1));
	int		   *rows = palloc(sizeof(int) * Max(ds->nchunks, 1));

	for (int c = 0; c < ds->nchunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		DatasetChunkReady(ds, &ds->chunks[c]);
		blocks[c] = ds->chunks[c].x + 1;
		rows[c] = ds->chunks[c].rows;
	}
	p->d = d;
	p->ld = ds->width;
	p->nblocks = ds->nchunks;
	p->block = blocks;
	p->rows = rows;
	p->n = (int64) ds->n;
}

/* The seeding sample of the training rows in memory: the same rows linear_stats keeps */
static void
MemorySeeds(FitPlan *plan, const Dataset *train)
{
	RowSample	s;

	RowSampleInit(&s, StatsSampleCapacity(plan->d), plan->d);
	for (int c = 0; c < train->nchunks; c++)
	{
		const DataChunk *ch = &train->chunks[c];

		for (int r = 0; r < ch->rows; r++)
			if (RowSampleWants(&s, ch->prio[r]))
				RowSampleOffer(&s, ch->prio[r], ch->x + (size_t) r * train->width + 1);
	}
	RowSampleTrim(&s);
	SeedsFromSample(plan, &s, NULL, NULL);
}

/* Every restart of every candidate in memory, with Hamerly's bounds */
static void
FitInMemory(TrainJob *job, LoadedData *data, FitPlan *plan)
{
	Dataset    *train = &data->split[SPLIT_TRAIN];
	int			d = plan->d;
	double	   *mean = palloc(sizeof(double) * (d + 1));
	double	   *sd = palloc(sizeof(double) * (d + 1));
	double	   *scale = palloc(sizeof(double) * (d + 1));
	double	   *slot_scale;
	KmeansPoints pts,
				test;
	KmeansWork	w;
	BaselineRows *baseline;

	plan->n = train->n;
	plan->n_test = data->split[SPLIT_TEST].n;
	CheckRowsForK(plan);
	DatasetPrepare(data, job->spec, mean, sd);
	slot_scale = SlotScale(plan, sd + 1);
	scale[0] = 1.0;
	memcpy(scale + 1, slot_scale, sizeof(double) * d);
	for (int k = 0; k < 2; k++)
		data->split[k].sd = scale;
	plan->tol = PlanTolerance(plan, sd + 1, slot_scale);
	baseline = BaselineRowsOfDataset(data);	/* before the rows are standardized in place */
	SplitPoints(train, &pts, d);
	MemorySeeds(plan, train);
	memset(&w, 0, sizeof(w));
	KmeansWorkInit(&w, &pts);
	for (int c = 0; c < plan->ncand; c++)
	{
		Candidate  *cand = &plan->cand[c];
		double	   *init = palloc(sizeof(double) * cand->k * d);

		for (int r = 0; r < plan->o->n_init; r++)
		{
			KmeansRun	run;

			w.what = psprintf("k-means with k = %d, restart %d of %d", cand->k, r + 1,
							  plan->o->n_init);
			InitialCenters(plan, cand->k, r, init);
			KmeansLloyd(&pts, cand->k, init, plan->o->max_iter, plan->tol, &w, &run);
			KeepRun(cand, r, &run);
		}
	}
	if (plan->n_test > 0)
	{
		SplitPoints(&data->split[SPLIT_TEST], &test, d);
		for (int c = 0; c < plan->ncand; c++)
			plan->cand[c].test_inertia = KmeansInertiaOf(&test, plan->cand[c].best.centers,
														 plan->cand[c].k, &plan->cand[c].test_n);
	}
	Finish(job, plan, mean + 1, sd + 1);
	TrainBaseline(job, baseline, 1, NULL, 0, false);
	job->n_skipped = (double) (data->skipped_target + data->skipped_feature);
	job->bad = data->bad;
}

/* One restart of one candidate in the streaming passes */
typedef struct StreamRun
{
	Candidate  *cand;
	int			restart;
	double	   *centers;		/* k x d: the centers the next pass assigns to */
	double	   *next;
	bool		final;			/* the next pass only measures the final centers */
	bool		done;
	KmeansRun	run;
} StreamRun;

/* What a streaming pass needs besides the runs */
typedef struct StreamPass
{
	TrainJob   *job;
	const FitPlan *plan;
	const double *mean;
	const double *scale;
	bytea	   *spec;
	Datum		names;
	char	   *sql;
} StreamPass;

/* The params array of a pass: runs, their k, the scale, the centers */
static ArrayType *
PassParams(const StreamPass *sp, StreamRun **runs, int nruns)
{
	int			d = sp->plan->d,
				n = 2 + nruns + 2 * d,
				at = 0;
	Datum	   *v;

	for (int r = 0; r < nruns; r++)
		n += runs[r]->cand->k * d;
	v = palloc(sizeof(Datum) * n);
	v[at++] = Float8GetDatum(nruns);
	v[at++] = Float8GetDatum(d);
	for (int r = 0; r < nruns; r++)
		v[at++] = Float8GetDatum(runs[r]->cand->k);
	for (int j = 0; j < d; j++)
		v[at++] = Float8GetDatum(sp->mean[j]);
	for (int j = 0; j < d; j++)
		v[at++] = Float8GetDatum(sp->scale[j]);
	for (int r = 0; r < nruns; r++)
		for (int i = 0; i < runs[r]->cand->k * d; i++)
			v[at++] = Float8GetDatum(runs[r]->centers[i]);
	return construct_array(v, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

static KmeansSums *StepSumsFromBytes(bytea *b, int *d, int *nruns, int **run_k);

/* One SQL pass of kmeans_step for a group of runs: their sums */
static KmeansSums *
RunPass(const StreamPass *sp, StreamRun **runs, int nruns)
{
	Oid			types[3] = {BYTEAOID, FLOAT8ARRAYOID, TEXTARRAYOID};
	Datum		values[3] = {PointerGetDatum(sp->spec), PointerGetDatum(PassParams(sp, runs, nruns)),
	sp->names};
	bool		isnull;
	Datum		res;
	int			d,
				n,
			   *ks;
	KmeansSums *sums;

	TrainQuery(sp->sql, 3, types, values, 0);
	res = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "kmeans_step returned no rows");
	sums = StepSumsFromBytes(DatumGetByteaPP(res), &d, &n, &ks);
	if (d != sp->plan->d || n != nruns)
		elog(ERROR, "kmeans_step returned %d runs of %d slots for %d of %d", n, d, nruns,
			 sp->plan->d);
	return sums;
}

/*
 * What a pass tells one run: an M-step (as in memory: the same rule for
 * empty clusters, the same stop), or, after the last M-step, the sizes
 * and inertia at the final centers.
 */
static void
AfterPass(const FitPlan *plan, StreamRun *sr, KmeansSums *s)
{
	KmeansMove	moves[KMEANS_MAX_RELOCATE];
	int			nmoves,
				nleft,
				k = sr->cand->k;
	double		total;
	double	   *t;

	if (!sr->final)
	{
		total = KmeansNextCenters(s, sr->centers, sr->next, &nleft, moves, &nmoves);
		t = sr->centers;
		sr->centers = sr->next;
		sr->next = t;
		sr->run.iterations++;
		sr->run.reseeded += nmoves;
		sr->run.converged = KmeansStop(total, plan->tol, nleft);
		if (!sr->run.converged && sr->run.iterations < plan->o->max_iter)
			return;
		/* stopped: the final centers need a pass of their own unless they did not move */
		sr->final = total > 0 || nmoves > 0;
		if (sr->final)
			return;
	}
	sr->done = true;
	sr->run.k = k;
	sr->run.d = plan->d;
	sr->run.centers = sr->centers;
	sr->run.sizes = palloc(sizeof(double) * k);
	memcpy(sr->run.sizes, s->count, sizeof(double) * k);
	sr->run.inertia = s->inertia;
	KeepRun(sr->cand, sr->restart, &sr->run);
	if (sr->cand->best_restart == sr->restart)
	{
		sr->cand->test_inertia = s->test_inertia;
		sr->cand->test_n = s->test_n;
	}
}

/*
 * The streaming iterations: every pass evaluates every run not done (in
 * groups small enough for one pass), until each has converged or run out
 * of iterations and had its final centers measured.
 */
static void
StreamIterations(StreamPass *sp, StreamRun *runs, int nruns)
{
	StreamRun **group = palloc(sizeof(StreamRun *) * nruns);
	int			pass = 0;

	for (;;)
	{
		int			at = 0;
		bool		any = false;

		while (at < nruns)
		{
			int			n = 0;
			Size		values = 0;
			KmeansSums *sums;
			double		best = get_float8_infinity();

			CHECK_FOR_INTERRUPTS();
			for (; at < nruns; at++)
			{
				Size		v = (Size) runs[at].cand->k * sp->plan->d;

				if (runs[at].done)
					continue;
				if (n > 0 && values + v > STEP_MAX_CENTER_VALUES)
					break;
				group[n++] = &runs[at];
				values += v;
			}
			if (n == 0)
				break;
			any = true;
			sums = RunPass(sp, group, n);
			for (int r = 0; r < n; r++)
			{
				best = Min(best, sums[r].inertia);
				AfterPass(sp->plan, group[r], &sums[r]);
			}
			ereport(NOTICE,
					(errmsg("profenrich: k-means pass %d over %s, %d runs, best inertia %.8g",
							++pass, sp->job->src.qualname, n, best)));
		}
		if (!any)
			break;
	}
}

/* A sampled row (NaN for a NULL number) on the clustering scale */
static void
PrepareSampleRow(const FitPlan *plan, const double *row, double *out, const void *arg)
{
	const StreamPass *sp = (const StreamPass *) arg;
	const FeatureSpec *spec = plan->job->spec;

	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		for (int l = 0; l < c->nslots; l++)
		{
			int			j = c->first_slot + l;
			double		v = isnan(row[j]) ? c->impute : row[j];

			out[j] = sp->scale[j] > 0 ? (v - sp->mean[j]) / sp->scale[j] : 0.0;
		}
	}
}

/*
 * Streaming: one linear_stats pass for the counts, imputation values,
 * standardization and the seeding sample, then kmeans_step passes.
 */
static void
FitStreaming(TrainJob *job, FitPlan *plan)
{
	FeatureSpec *spec = job->spec;
	LinearStats *ls = RunStatsPass(spec, &job->src);
	int			d = plan->d;
	double	   *mean = palloc0(sizeof(double) * Max(d, 1));
	double	   *sd = palloc0(sizeof(double) * Max(d, 1));
	int		   *miss_slot;
	XYStats		xy;
	StreamPass	sp;
	StreamRun  *runs;
	int			nruns = 0;
	List	   *cols = NeededColumns(spec);

	plan->n = ls ? ls->mom[SPLIT_TRAIN].n : 0;
	plan->n_test = ls ? ls->mom[SPLIT_TEST].n : 0;
	CheckRowsForK(plan);
	miss_slot = MissSlots(spec);
	GlmImputedStats(&ls->mom[SPLIT_TRAIN], d, spec->nnumeric, miss_slot,
					ImputeMeans(ls, spec, miss_slot), &xy);
	for (int j = 0; j < d; j++)
	{
		mean[j] = xy.xmean[j];
		sd[j] = sqrt(Max(xy.cxx[j * d + j], 0.0) / plan->n);
		if (!(sd[j] > 1e-12 * Max(fabs(mean[j]), 1e-300)))
			sd[j] = 0.0;
	}
	memset(&sp, 0, sizeof(sp));
	sp.job = job;
	sp.plan = plan;
	sp.mean = mean;
	sp.scale = SlotScale(plan, sd);
	plan->tol = PlanTolerance(plan, sd, sp.scale);
	SeedsFromSample(plan, &ls->sample[SPLIT_TRAIN], PrepareSampleRow, &sp);
	sp.spec = SpecBytes(spec);
	sp.names = ColumnNames(cols);
	sp.sql = psprintf("SELECT profenrich.kmeans_step($1, $2, $3, %s) FROM %s",
					  PassArguments(spec, &job->src, cols, 3, true, 0), job->src.from);
	runs = palloc0(sizeof(StreamRun) * plan->ncand * plan->o->n_init);
	for (int c = 0; c < plan->ncand; c++)
		for (int r = 0; r < plan->o->n_init; r++)
		{
			StreamRun  *sr = &runs[nruns++];
			int			k = plan->cand[c].k;

			sr->cand = &plan->cand[c];
			sr->restart = r;
			sr->centers = palloc(sizeof(double) * k * d);
			sr->next = palloc(sizeof(double) * k * d);
			InitialCenters(plan, k, r, sr->centers);
		}
	StreamIterations(&sp, runs, nruns);
	Finish(job, plan, mean, sd);
	{
		BaselineRows sets[2];

		BaselineRowsOfSamples(ls, sets);
		TrainBaseline(job, sets, 2, NULL, 0, false);
	}
	job->n_skipped = (double) (ls->skipped_target + ls->skipped_feature);
	job->bad = ls->bad;
}

/*
 * Train a k-means model: in memory when the encoded rows fit
 * profenrich.max_train_memory, else by streaming passes.
 */
void
TrainKmeans(TrainJob *job)
{
	const KmeansTrainOptions *o = KMEANS_OPTIONS(job);
	Size		budget = (Size) profenrich_max_train_memory * 1024;
	double		rows = SourceEstimatedRows(&job->src);
	double		row_bytes = sizeof(double) * (job->spec->nslots + 2);
	LoadedData	data;
	FitPlan		plan;

	CheckOptions(o);
	memset(&plan, 0, sizeof(plan));
	plan.o = o;
	plan.job = job;
	plan.d = job->spec->nslots;
	PlanCandidates(&plan, o);
	if (rows < 0 || rows * row_bytes <= budget)
	{
		char	   *sql = psprintf("SELECT %s FROM %s", ColumnList(NeededColumns(job->spec)),
								   job->src.from);

		DatasetLoad(job->spec, sql, 0, NULL, NULL, budget, 0, &data);
		if (data.fits)
		{
			plan.path = "memory";
			FitInMemory(job, &data, &plan);
			DatasetFree(&data);
			return;
		}
	}
	plan.path = "streaming";
	FitStreaming(job, &plan);
}

/*
 * kmeans_step: one pass of Lloyd's algorithm for several runs at once.
 * Each row is read through the spec (NULLs imputed), put on the clustering
 * scale, batched, and assigned in every run to its nearest center; the
 * state keeps each run's per-cluster sums, counts, inertia and farthest
 * points (KmeansSums), and the test split's inertia.  Its state is bytea
 * (partial.h), so Citus pushes it down; its flat form is the sums' bytes
 * the final function returns.
 */
typedef struct KmeansStepState
{
	/* the shape, and what is summed */
	int			d;
	int			nruns;
	int		   *run_k;
	int		   *run_first;
	int			ktotal;
	KmeansSums *sums;
	/* only in states built by the transition function */
	FeatureSpec *spec;
	FeatureReader reader;
	uint32		test_threshold;
	double	   *mean;
	double	   *scale;
	double	   *centers;		/* ktotal x d */
	double	   *cnorm;
	double	   *x;				/* the encoded row */
	double	   *hbuf;			/* the row as the split hash reads it */
	int		   *missing;
	int		   *miss_slot;
	int			batch_rows;
	double	   *batch;			/* batch_rows x d */
	bool	   *test;
	int			rows;
	double	   *dots;
	bytea	   *flat;			/* the bytes StepFlatSize made, until StepFlatten copies them */
} KmeansStepState;

static const PartialKind KmeansStepKind;

#ifdef USE_ASSERT_CHECKING
/*
 * Invariants of a step state: the runs' shapes add up, counts and inertia
 * are not negative, the far points are at most capfar, farthest first,
 * of clusters that exist.
 */
static void
StepCheck(const struct KmeansStepState *s);
#else
#define StepCheck(s) ((void) 0)
#endif

/* A state with the shape and empty sums, in the current context */
static KmeansStepState *
StepBare(int d, int nruns, const int *run_k)
{
	KmeansStepState *s = palloc0(sizeof(KmeansStepState));

	s->d = d;
	s->nruns = nruns;
	s->run_k = palloc(sizeof(int) * nruns);
	s->run_first = palloc(sizeof(int) * nruns);
	s->sums = palloc(sizeof(KmeansSums) * nruns);
	for (int r = 0; r < nruns; r++)
	{
		s->run_k[r] = run_k[r];
		s->run_first[r] = s->ktotal;
		s->ktotal += run_k[r];
		KmeansSumsInit(&s->sums[r], run_k[r], d);
	}
	return s;
}

#ifdef USE_ASSERT_CHECKING
static void
StepCheck(const KmeansStepState *s)
{
	int			first = 0;

	Assert(s->d >= 1 && s->nruns >= 1);
	for (int r = 0; r < s->nruns; r++)
	{
		const KmeansSums *m = &s->sums[r];

		Assert(s->run_first[r] == first && m->k == s->run_k[r] && m->d == s->d);
		first += s->run_k[r];
		Assert(m->inertia >= 0 && m->test_inertia >= 0 && m->test_n >= 0);
		for (int c = 0; c < m->k; c++)
			Assert(m->count[c] >= 0);
		Assert(m->nfar >= 0 && m->nfar <= m->capfar);
		for (int i = 0; i < m->nfar; i++)
			Assert(m->far[i].cluster >= 0 && m->far[i].cluster < m->k &&
				   (i == 0 || m->far[i].dist2 <= m->far[i - 1].dist2));
	}
	Assert(first == s->ktotal);
}
#endif

/* Refuse a params array that is not what train() passes */
static void
StepParamsError(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid kmeans_step parameters: %s", why),
			 errhint("Pass {runs, slots, k of each run, slot means, slot scales, centers}, as train() does.")));
}

/* A whole number in [lo, hi] from the params, or an error */
static int
ParamCount(double v, int lo, int hi, const char *what)
{
	if (!(v >= lo && v <= hi) || v != floor(v))
		StepParamsError(what);
	return (int) v;
}

/* The transition state from the spec and params on the first row */
static KmeansStepState *
StepCreate(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	MemoryContext old = MemoryContextSwitchTo(aggcxt);
	StringInfoData buf;
	FeatureSpec *spec;
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);
	const double *p;
	int			n,
				d,
				nruns,
			   *ks,
				at;
	KmeansStepState *s;

	BYTES_READER(&buf, PG_GETARG_BYTEA_PP(1));
	spec = FeatureSpecRead(&buf, FEATURE_SPEC_FORMAT, true);
	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != FLOAT8OID)
		StepParamsError("not a one-dimensional float8 array without NULLs");
	n = ARR_DIMS(arr)[0];
	p = (const double *) ARR_DATA_PTR(arr);
	if (n < 2)
		StepParamsError("too short");
	nruns = ParamCount(p[0], 1, STEP_MAX_RUNS, "the number of runs is out of range");
	d = ParamCount(p[1], spec->nslots, spec->nslots, "the slots do not match the spec");
	if (n < 2 + nruns + 2 * d)
		StepParamsError("too short");
	ks = palloc(sizeof(int) * nruns);
	at = 2 + nruns + 2 * d;
	for (int r = 0; r < nruns; r++)
	{
		ks[r] = ParamCount(p[2 + r], 2, KMEANS_MAX_K, "a run's k is out of range");
		at += ks[r] * d;
		if (at > n || (Size) (at - 2 - nruns - 2 * d) > STEP_MAX_CENTER_VALUES)
			StepParamsError("the centers do not match the runs");
	}
	if (at != n)
		StepParamsError("the centers do not match the runs");
	for (int i = 2 + nruns; i < n; i++)
		if (!isfinite(p[i]) || (i >= 2 + nruns + d && i < 2 + nruns + 2 * d && p[i] < 0))
			StepParamsError("a mean, scale or center is not finite, or a scale is negative");
	s = StepBare(d, nruns, ks);
	s->spec = spec;
	FeatureReaderInit(&s->reader, aggcxt);
	/* rows linear_stats counted as bad (NaN, infinity) are skipped, not raised */
	s->reader.soft_bad = spec->on_bad_row == BAD_ROW_SKIP;
	s->test_threshold = FeatureTestThreshold(spec);
	s->mean = palloc(sizeof(double) * Max(d, 1));
	s->scale = palloc(sizeof(double) * Max(d, 1));
	memcpy(s->mean, p + 2 + nruns, sizeof(double) * d);
	memcpy(s->scale, p + 2 + nruns + d, sizeof(double) * d);
	s->centers = palloc(sizeof(double) * (Size) s->ktotal * d);
	memcpy(s->centers, p + 2 + nruns + 2 * d, sizeof(double) * (Size) s->ktotal * d);
	s->cnorm = palloc(sizeof(double) * s->ktotal);
	for (int c = 0; c < s->ktotal; c++)
	{
		s->cnorm[c] = 0;
		for (int j = 0; j < d; j++)
			s->cnorm[c] += s->centers[(size_t) c * d + j] * s->centers[(size_t) c * d + j];
	}
	s->x = palloc(sizeof(double) * Max(d, 1));
	s->hbuf = palloc(sizeof(double) * (d + 1));
	s->missing = palloc(sizeof(int) * Max(spec->nnumeric, 1));
	s->miss_slot = MissSlots(spec);
	s->batch_rows = Max(16, Min(1024, STEP_DOTS / s->ktotal));
	s->batch = palloc(sizeof(double) * (Size) s->batch_rows * Max(d, 1));
	s->test = palloc(sizeof(bool) * s->batch_rows);
	s->dots = palloc(sizeof(double) * (Size) s->batch_rows * s->ktotal);
	MemoryContextSwitchTo(old);
	return s;
}

/* Assign the waiting rows */
static void
StepFlush(KmeansStepState *s)
{
	if (s->rows == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	KmeansAssignBatch(s->batch, s->rows, s->d, s->test, s->centers, s->cnorm, s->ktotal,
					  s->nruns, s->run_k, s->run_first, s->dots, s->sums);
	s->rows = 0;
}

/*
 * The reader's current row into the batch: encoded, its split decided by
 * the hash linear_stats uses (the key's, or the encoded values' with a 0
 * label), NULL numbers imputed, on the clustering scale.  False when the
 * row is skipped (a NULL feature under "impute": "skip", a NaN or infinite
 * one under "on_bad_row": "skip").
 */
static bool
StepAddRow(KmeansStepState *s)
{
	const FeatureSpec *spec = s->spec;
	FeatureReader *r = &s->reader;
	uint64		h = 0;
	int			nmissing;
	double	   *row;

	if (r->key_pos >= 0)
		h = FeatureRowHash(r, spec, NULL, 0);
	if (FeatureEncodeRow(r, spec, s->x, s->missing, &nmissing))
	{
		if (spec->impute == IMPUTE_ERROR)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a feature is NULL and the option impute is \"error\""),
					 errhint("Use \"impute\": \"mean\" to impute NULLs, or \"skip\" to drop such rows.")));
		if (spec->impute == IMPUTE_SKIP)
		{
			r->bad_col = FEATURE_ROW_OK;
			return false;
		}
	}
	/* a row linear_stats counted as bad: skipped here too, uncounted */
	if (unlikely(r->bad_col != FEATURE_ROW_OK))
	{
		r->bad_col = FEATURE_ROW_OK;
		return false;
	}
	if (r->key_pos < 0 && spec->split_hash == SPLIT_HASH_MIX)
		h = FeatureValuesHash(spec, s->x, 0.0);
	else if (r->key_pos < 0)
	{
		memcpy(s->hbuf, s->x, sizeof(double) * s->d);
		s->hbuf[s->d] = 0.0;
		h = FeatureRowHash(r, spec, s->hbuf, s->d + 1);
	}
	for (int k = 0; k < nmissing; k++)
		for (int i = 0; i < spec->ncolumns; i++)
			if (spec->columns[i].miss_index == s->missing[k])
				s->x[spec->columns[i].first_slot] = spec->columns[i].impute;
	row = s->batch + (size_t) s->rows * s->d;
	for (int j = 0; j < s->d; j++)
		row[j] = s->scale[j] > 0 ? (s->x[j] - s->mean[j]) / s->scale[j] : 0.0;
	s->test[s->rows++] = (uint32) h < s->test_threshold;
	if (s->rows == s->batch_rows)
		StepFlush(s);
	return true;
}

/* Do two states have the same shape? */
static bool
SameShape(const KmeansStepState *a, const KmeansStepState *b)
{
	if (a->d != b->d || a->nruns != b->nruns)
		return false;
	for (int r = 0; r < a->nruns; r++)
		if (a->run_k[r] != b->run_k[r])
			return false;
	return true;
}

/* Merge b's sums, and its waiting rows, into a; b is not modified */
static void
StepMerge(KmeansStepState *a, const KmeansStepState *b)
{
	if (!SameShape(a, b))
		PartialInvalid(&KmeansStepKind, "its shape does not match the other state's");
	StepCheck(b);
	for (int r = 0; r < a->nruns; r++)
		KmeansSumsMerge(&a->sums[r], &b->sums[r]);
	if (b->rows > 0)
	{
		double	   *dots = palloc(sizeof(double) * (Size) b->rows * b->ktotal);

		KmeansAssignBatch(b->batch, b->rows, b->d, b->test, b->centers, b->cnorm, b->ktotal,
						  b->nruns, b->run_k, b->run_first, dots, a->sums);
		pfree(dots);
	}
	StepCheck(a);
}

/* The state's sums as bytes: format, slots, runs and their k, then each run's sums */
static bytea *
StepToBytes(KmeansStepState *s)
{
	StringInfoData buf;

	StepFlush(s);
	pq_begintypsend(&buf);
	pq_sendint32(&buf, KMEANS_STEP_FORMAT);
	pq_sendint32(&buf, s->d);
	pq_sendint32(&buf, s->nruns);
	for (int r = 0; r < s->nruns; r++)
		pq_sendint32(&buf, s->run_k[r]);
	for (int r = 0; r < s->nruns; r++)
		KmeansSumsWrite(&buf, &s->sums[r]);
	return pq_endtypsend(&buf);
}

/* Refuse bytes that cannot be a state of this format */
static void
StepBytesError(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid kmeans_step state: %s", why),
			 errhint("The state must come from profenrich.kmeans_step of the same version.")));
}

/*
 * The sums of a state's bytes, checking the format version, the shape,
 * each run's length before it is read, and that nothing trails.
 */
static KmeansSums *
StepSumsFromBytes(bytea *b, int *d, int *nruns, int **run_k)
{
	StringInfoData buf;
	KmeansSums *sums;
	Size		centers = 0;

	BYTES_READER(&buf, b);
	if (buf.len < 12 || pq_getmsgint(&buf, 4) != KMEANS_STEP_FORMAT)
		StepBytesError("unknown format version");
	*d = pq_getmsgint(&buf, 4);
	*nruns = pq_getmsgint(&buf, 4);
	if (*d < 1 || *d > FEATURE_MAX_SLOTS || *nruns < 1 || *nruns > STEP_MAX_RUNS ||
		(Size) (buf.len - buf.cursor) < (Size) *nruns * 4)
		StepBytesError("bad shape");
	*run_k = palloc(sizeof(int) * *nruns);
	for (int r = 0; r < *nruns; r++)
	{
		(*run_k)[r] = pq_getmsgint(&buf, 4);
		if ((*run_k)[r] < 2 || (*run_k)[r] > KMEANS_MAX_K)
			StepBytesError("a run's k is out of range");
		centers += (Size) (*run_k)[r] * *d;
		if (centers > STEP_MAX_CENTER_VALUES)
			StepBytesError("bad shape");
	}
	sums = palloc(sizeof(KmeansSums) * *nruns);
	for (int r = 0; r < *nruns; r++)
	{
		Size		fixed = KmeansSumsBytes((*run_k)[r], *d, 0);
		Size		farbytes = KmeansSumsBytes((*run_k)[r], *d, 1) - fixed;
		int			nfar;

		if ((Size) (buf.len - buf.cursor) < fixed)
			StepBytesError("length does not match the shape");
		/* the far-point count sits at the end of the fixed part */
		memcpy(&nfar, buf.data + buf.cursor + fixed - 4, 4);
		nfar = (int) pg_ntoh32((uint32) nfar);
		if (nfar < 0 || nfar > Min((*run_k)[r], KMEANS_MAX_RELOCATE) ||
			(Size) (buf.len - buf.cursor) < fixed + (Size) nfar * farbytes)
			StepBytesError("length does not match the shape");
		KmeansSumsRead(&buf, &sums[r], (*run_k)[r], *d);
	}
	if (buf.cursor != buf.len)
		StepBytesError("trailing bytes");
	return sums;
}

/*
 * The transition's state: new on the first row, or given the spec and
 * params when it was rebuilt from bytes (a state passed by a caller), its
 * sums kept.
 */
static PartialState *
StepState(FunctionCallInfo fcinfo)
{
	PartialState *ps;
	KmeansStepState *s;
	MemoryContext old;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kmeans_step needs a feature spec and parameters"),
				 errhint("train() passes them; they must not be NULL.")));
	ps = PartialArg(fcinfo, 0, &KmeansStepKind, true);
	if (ps == NULL)
	{
		ps = PartialNew(fcinfo, &KmeansStepKind);
		ps->state = StepCreate(fcinfo, ps->cxt);
		return ps;
	}
	if (((KmeansStepState *) ps->state)->spec != NULL)
		return ps;
	s = StepCreate(fcinfo, ps->cxt);
	old = MemoryContextSwitchTo(ps->cxt);
	StepMerge(s, (KmeansStepState *) ps->state);
	MemoryContextSwitchTo(old);
	ps->state = s;
	return ps;
}

/*
 * kmeans_step_sfunc(state bytea, spec bytea, params float8[], names
 * text[], VARIADIC "any"): a row, as one argument per named column
 */
Datum
kmeans_step_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = StepState(fcinfo);
	KmeansStepState *s = (KmeansStepState *) ps->state;

	FeatureReaderBindArgs(&s->reader, s->spec, fcinfo, 3, true, true);
	FeatureReaderLoadArgs(&s->reader, fcinfo, 3);
	StepAddRow(s);
	return PartialResult(fcinfo, ps);
}

/*
 * kmeans_step_row_sfunc(state bytea, spec bytea, params float8[], names
 * text[], row record): the row as ROW(col1, ...), the form Citus pushes down
 */
Datum
kmeans_step_row_sfunc(PG_FUNCTION_ARGS)
{
	PartialState *ps = StepState(fcinfo);
	KmeansStepState *s = (KmeansStepState *) ps->state;

	if (!PG_ARGISNULL(4))
	{
		FeatureReaderLoadRecord(&s->reader, s->spec, fcinfo, 3, PG_GETARG_HEAPTUPLEHEADER(4),
								true, true);
		StepAddRow(s);
	}
	return PartialResult(fcinfo, ps);
}

/* kmeans_step_combinefunc(bytea, bytea): the second state is never modified */
Datum
kmeans_step_combinefunc(PG_FUNCTION_ARGS)
{
	return PartialCombine(fcinfo, &KmeansStepKind);
}

/* kmeans_step_finalfunc(bytea) returns the sums' bytes, NULL for no rows */
Datum
kmeans_step_finalfunc(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P(0));
}

/* The state's bytes, for PartialFlatKeep */
static bytea *
StepBytesOf(void *p)
{
	return StepToBytes((KmeansStepState *) p);
}

/* Payload bytes of the flat form: made here, kept until StepFlatten copies them */
static Size
StepFlatSize(void *p)
{
	return PartialFlatKeep(&((KmeansStepState *) p)->flat, p, StepBytesOf);
}

static void
StepFlatten(void *p, char *out, Size size)
{
	PartialFlatTake(&((KmeansStepState *) p)->flat, out, size, &KmeansStepKind);
}

/* A state of sums from their bytes, which StepSumsFromBytes checks (22P03) */
static void *
StepExpand(const char *data, Size size)
{
	bytea	   *b = palloc(VARHDRSZ + size);
	KmeansStepState *s;
	int			d,
				nruns,
			   *ks;
	KmeansSums *sums;

	SET_VARSIZE(b, VARHDRSZ + size);
	memcpy(VARDATA(b), data, size);
	sums = StepSumsFromBytes(b, &d, &nruns, &ks);
	s = StepBare(d, nruns, ks);
	s->sums = sums;
	StepCheck(s);
	pfree(b);
	return s;
}

/* PartialKind's merge */
static void
StepMergeState(void *into, void *from)
{
	StepMerge((KmeansStepState *) into, (const KmeansStepState *) from);
}

static const PartialKind KmeansStepKind = {
	"kmeans_step", StepFlatSize, StepFlatten, StepExpand, StepMergeState
};
