/*-------------------------------------------------------------------------
 * train_affinity.c
 *	  Training the item models: train() for 'als' (product affinity,
 *	  implicit-feedback ALS, with held-out ranking metrics against the
 *	  popularity ranking) and 'affinity' (category affinity, time-decayed
 *	  shares and lifts), their options, and the per-user rows both store.
 *
 * Both read the interactions once (interactions.c) into a user-by-item
 * matrix of summed weights.  Neither has a feature spec: the model's spec
 * is empty and its columns (user, item, weight, time) are in its body and
 * options.  train() stores the model, then calls StoreItemUsers (the
 * families' ops->stored), which writes one row of profenrich.model_users
 * per user in the same transaction.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "als.h"
#include "interactions.h"
#include "items.h"
#include "profenrich.h"
#include "trainer.h"

#define METRIC_K 10				/* the ranking metrics are at 10 */


/* The options of 'als' and 'affinity' */
typedef struct ItemOptions
{
	ProfAlgorithm alg;
	InteractionColumns cols;
	/* als */
	int			factors;
	double		alpha;
	double		l2;
	int			iterations;
	int64		seed;
	double		test_fraction;
	bool		exclude_seen;
	bool		cholesky;
	int			cg_steps;
	Jsonb	   *init;			/* given starting factors, or NULL */
	/* affinity */
	double		half_life_days;
	char	   *as_of;			/* NULL: the latest time in the data */
} ItemOptions;

/* What training leaves for StoreItemUsers */
typedef struct ItemsTrained
{
	Interactions in;
	AlsMatrix	byuser;			/* trained on: ALS confidences - 1, affinity decayed weights */
	int			factors;		/* ALS */
	double	   *x;				/* ALS: user factors; NULL for affinity */
} ItemsTrained;

/* Defaults of an item model's options */
void *
ItemOptionsNew(const AlgorithmOps *ops)
{
	ItemOptions *o = palloc0(sizeof(ItemOptions));

	o->alg = ops->code;
	o->factors = 32;
	o->alpha = 40;
	o->l2 = 0.1;
	o->iterations = 15;
	o->test_fraction = 0.2;
	o->exclude_seen = true;
	o->cg_steps = 3;
	o->half_life_days = 30;
	return o;
}

/* A column-name option: a non-empty string */
static const char *
ColumnOption(const char *key, JsonbValue *v)
{
	char	   *s = OptionString(key, v, "a column name");

	if (s[0] == '\0')
		OptionError(key, "a column name");
	return s;
}

/* The options only 'als' takes; false for any other key */
static bool
AlsOption(ItemOptions *o, const char *key, JsonbValue *v)
{
	if (strcmp(key, "factors") == 0)
		o->factors = OptionInteger(key, v, 1, ITEMS_MAX_FACTORS);
	else if (strcmp(key, "alpha") == 0)
		o->alpha = OptionPenalty(key, v);
	else if (strcmp(key, "l2") == 0)
		o->l2 = OptionPenalty(key, v);
	else if (strcmp(key, "iterations") == 0)
		o->iterations = OptionInteger(key, v, 1, 1000);
	else if (strcmp(key, "cg_steps") == 0)
		o->cg_steps = OptionInteger(key, v, 1, 100);
	else if (strcmp(key, "exclude_seen") == 0)
		o->exclude_seen = OptionBool(key, v);
	else if (strcmp(key, "seed") == 0)
	{
		double		d = OptionNumber(key, v, "an integer");

		if (d != floor(d) || fabs(d) > 9.0e15)
			OptionError(key, "an integer");
		o->seed = (int64) d;
	}
	else if (strcmp(key, "test_fraction") == 0)
	{
		o->test_fraction = OptionNumber(key, v, "a number from 0 up to (not including) 1");
		if (o->test_fraction < 0 || o->test_fraction >= 1)
			OptionError(key, "a number from 0 up to (not including) 1");
	}
	else if (strcmp(key, "solver") == 0)
	{
		char	   *s = OptionString(key, v, "\"cg\" or \"cholesky\"");

		if (strcmp(s, "cg") != 0 && strcmp(s, "cholesky") != 0)
			OptionError(key, "\"cg\" or \"cholesky\"");
		o->cholesky = strcmp(s, "cholesky") == 0;
	}
	else if (strcmp(key, "init") == 0)
	{
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			OptionError(key, "an object {\"users\": {key: [factors]}, \"items\": {key: [factors]}}");
		o->init = JsonbValueToJsonb(v);
	}
	else
		return false;
	return true;
}

/* One option of an item model; false for a key it does not take */
bool
ItemOption(void *opts, const char *key, JsonbValue *v)
{
	ItemOptions *o = (ItemOptions *) opts;

	if (strcmp(key, "user") == 0)
		o->cols.user = ColumnOption(key, v);
	else if (strcmp(key, "item") == 0)
		o->cols.item = ColumnOption(key, v);
	else if (strcmp(key, "weight") == 0)
		o->cols.weight = ColumnOption(key, v);
	else if (o->alg == ALG_ALS)
		return AlsOption(o, key, v);
	else if (strcmp(key, "time") == 0)
		o->cols.time = ColumnOption(key, v);
	else if (strcmp(key, "half_life_days") == 0)
	{
		o->half_life_days = OptionNumber(key, v, "a number of days above 0");
		if (!(o->half_life_days > 0))
			OptionError(key, "a number of days above 0");
	}
	else if (strcmp(key, "as_of") == 0)
		o->as_of = OptionString(key, v, "a date or timestamp, such as \"2024-10-02\"");
	else
		return false;
	return true;
}

/* Append "key": "value" (or null) to a JSON object being built */
static void
JsonString(StringInfo out, const char *key, const char *value)
{
	appendStringInfo(out, "%s\"%s\": ", out->data[out->len - 1] == '{' ? "" : ", ", key);
	if (value)
		escape_json(out, value);
	else
		appendStringInfoString(out, "null");
}

/* The effective options, as members of a JSON object */
void
ItemOptionsJson(StringInfo out, const void *opts)
{
	const ItemOptions *o = (const ItemOptions *) opts;

	JsonString(out, "user", o->cols.user);
	JsonString(out, "item", o->cols.item);
	JsonString(out, "weight", o->cols.weight);
	if (o->alg == ALG_ALS)
	{
		appendStringInfo(out, ", \"factors\": %d, \"alpha\": %s, \"l2\": %s, \"iterations\": %d, "
						 "\"seed\": " INT64_FORMAT ", \"test_fraction\": %s, \"exclude_seen\": %s, "
						 "\"solver\": \"%s\", \"cg_steps\": %d, \"init\": %s",
						 o->factors, float8out_internal(o->alpha), float8out_internal(o->l2),
						 o->iterations, o->seed, float8out_internal(o->test_fraction),
						 o->exclude_seen ? "true" : "false", o->cholesky ? "cholesky" : "cg",
						 o->cg_steps, o->init ? "true" : "false");
		return;
	}
	JsonString(out, "time", o->cols.time);
	appendStringInfo(out, ", \"half_life_days\": %s", float8out_internal(o->half_life_days));
	JsonString(out, "as_of", o->as_of);
}

/* An item model takes no target or features, and needs its user and item columns */
static void
CheckArguments(TrainJob *job, const ItemOptions *o)
{
	const char *name = job->ops->name;

	if (job->target_arg != NULL || job->features_arg != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("algorithm \"%s\" takes no target or features", name),
				 errhint("Pass NULL for both and name the columns in the options, such as %s.",
						 job->ops->example)));
	if (o->cols.user == NULL || o->cols.item == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("algorithm \"%s\" needs the option \"%s\"", name,
						o->cols.user == NULL ? "user" : "item"),
				 errhint("Name the interactions' user and item columns, such as %s.", job->ops->example)));
	if (o->alg == ALG_AFFINITY && o->as_of != NULL && o->cols.time == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"as_of\" needs the option \"time\""),
				 errhint("Name the time column of the interactions, or leave as_of out.")));
	InteractionsCheckColumns(&job->src, &o->cols);
}

/* Refuse to train without a single interaction of positive weight */
static void
CheckInteractions(const Interactions *in, const AlsMatrix *m, const Source *src, int64 future)
{
	if (m->nnz > 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("no interaction left to train on in %s", src->qualname),
			 errdetail("%lld rows were read, %lld skipped for a NULL user, item, weight or time, %lld after as_of; the rest weigh 0.",
					   (long long) (in->n + in->skipped + future), (long long) in->skipped,
					   (long long) future),
			 errhint("Train on rows with a user, an item and a weight above 0.")));
}

/* The empty feature spec of an item model (its columns are in its body) */
static FeatureSpec *
EmptySpec(void)
{
	FeatureSpec *spec = palloc0(sizeof(FeatureSpec));

	spec->columns = palloc0(sizeof(FeatureColumn));
	spec->impute = IMPUTE_SKIP;
	FeatureSpecLayout(spec);
	return spec;
}

/* The body's columns and items, from the options and the data */
static ItemModel *
NewBody(const ItemOptions *o, const Interactions *in)
{
	ItemModel  *im = palloc0(sizeof(ItemModel));

	im->user_column = pstrdup(o->cols.user);
	im->item_column = pstrdup(o->cols.item);
	im->weight_column = o->cols.weight ? pstrdup(o->cols.weight) : NULL;
	im->time_column = o->cols.time ? pstrdup(o->cols.time) : NULL;
	im->nitems = in->nitems;
	im->items = in->items;
	im->popularity = palloc0(sizeof(double) * Max(in->nitems, 1));
	return im;
}

/* Users with at least one interaction in m */
static int64
UsersWithItems(const AlsMatrix *m)
{
	int64		n = 0;

	for (int u = 0; u < m->nrows; u++)
		n += m->ptr[u + 1] > m->ptr[u];
	return n;
}

/* ---------------------------------------------------------------------
 * 'als'
 * ---------------------------------------------------------------------
 */

/* A key's hash under the seed, as a 32-bit draw */
static uint32
KeyDraw(const char *key, uint64 seed)
{
	return (uint32) (hash_bytes_extended((const unsigned char *) key, strlen(key), seed) >> 32);
}

/*
 * The held-out item of each user (-1: none): test_fraction of the users
 * with at least 3 distinct items, chosen by the hash of their key, each
 * hold out the item of smallest hash, so the split depends on the keys
 * and the seed, not on the order of the rows.
 */
static int32 *
HoldOut(const Interactions *in, const AlsMatrix *all, const ItemOptions *o, int64 *ntest)
{
	int32	   *held = palloc(sizeof(int32) * Max(in->nusers, 1));
	uint32		threshold = (uint32) Min(o->test_fraction * 4294967296.0, 4294967295.0);

	*ntest = 0;
	for (int u = 0; u < in->nusers; u++)
	{
		uint64		useed;
		uint32		best = PG_UINT32_MAX;

		held[u] = -1;
		if (all->ptr[u + 1] - all->ptr[u] < 3 || o->test_fraction == 0 ||
			KeyDraw(in->users[u], (uint64) o->seed) >= threshold)
			continue;
		useed = hash_bytes_extended((const unsigned char *) in->users[u], strlen(in->users[u]),
									(uint64) o->seed ^ UINT64CONST(0x9E3779B97F4A7C15));
		for (int64 e = all->ptr[u]; e < all->ptr[u + 1]; e++)
		{
			uint32		d = KeyDraw(in->items[all->col[e]], useed);

			if (held[u] < 0 || d < best)
			{
				best = d;
				held[u] = all->col[e];
			}
		}
		(*ntest)++;
	}
	return held;
}

/* The matrix without the held-out pairs, values times alpha: the confidences minus 1 */
static void
TrainingMatrix(const AlsMatrix *all, const int32 *held, double alpha, AlsMatrix *m)
{
	int64		nnz = 0;

	m->nrows = all->nrows;
	m->ptr = palloc0(sizeof(int64) * (all->nrows + 1));
	m->col = palloc_extended(sizeof(int32) * Max(all->nnz, 1), MCXT_ALLOC_HUGE);
	m->conf = palloc_extended(sizeof(double) * Max(all->nnz, 1), MCXT_ALLOC_HUGE);
	for (int u = 0; u < all->nrows; u++)
	{
		for (int64 e = all->ptr[u]; e < all->ptr[u + 1]; e++)
			if (all->col[e] != held[u])
			{
				m->col[nnz] = all->col[e];
				m->conf[nnz++] = alpha * all->conf[e];
			}
		m->ptr[u + 1] = nnz;
	}
	m->nnz = nnz;
}

/* Refuse factors that would not fit profenrich.max_train_memory */
static void
CheckFactorMemory(const Interactions *in, const AlsMatrix *m, int f)
{
	Size		bytes = add_size(mul_size(mul_size((Size) in->nusers + in->nitems, f), 2 * sizeof(double)),
								 mul_size(m->nnz, 2 * (sizeof(int32) + sizeof(double))));
	Size		limit = (Size) profenrich_max_train_memory * 1024;

	if (bytes <= limit && (int64) in->nitems * f < PG_INT32_MAX / 8)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("the factors of %d users and %d items need %zu kB, profenrich.max_train_memory is %d kB",
					in->nusers, in->nitems, bytes / 1024, profenrich_max_train_memory),
			 errhint("Raise profenrich.max_train_memory, or use fewer factors.")));
}

/* One side of the option "init": each key's given factor into x */
static void
InitSide(Jsonb *init, const char *side, char *const *keys, int n, int f, double *x)
{
	JsonbValue	k,
			   *obj;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	const char *expected = psprintf("an object of arrays of %d numbers by key", f);

	k.type = jbvString;
	k.val.string.val = (char *) side;
	k.val.string.len = strlen(side);
	obj = findJsonbValueFromContainer(&init->root, JB_FOBJECT, &k);
	if (obj == NULL)
		return;
	if (obj->type != jbvBinary || !JsonContainerIsObject(obj->val.binary.data))
		OptionError("init", expected);
	it = JsonbIteratorInit(obj->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			int			row = KeySearch(keys, n, key);
			JsonbIterator *ait;
			JsonbValue	e;
			int			j = 0;

			if (row < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"init\" gives a factor for %s \"%s\", which is not in the data",
								side, key),
						 errhint("Give starting factors only for users and items of the interactions.")));
			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
				OptionError("init", expected);
			ait = JsonbIteratorInit(v.val.binary.data);
			while ((tok = JsonbIteratorNext(&ait, &e, true)) != WJB_DONE)
				if (tok == WJB_ELEM)
				{
					if (j >= f)
						OptionError("init", expected);
					x[(size_t) row * f + j++] = OptionNumber("init", &e, expected);
				}
			if (j != f)
				OptionError("init", expected);
		}
	}
}

/* The option "init": starting factors of users and items, the others keep their random start */
static void
ApplyInit(Jsonb *init, const Interactions *in, int f, double *x, double *y)
{
	JsonbIterator *it = JsonbIteratorInit(&init->root);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY && !(v.val.string.len == 5 && strncmp(v.val.string.val, "users", 5) == 0) &&
			!(v.val.string.len == 5 && strncmp(v.val.string.val, "items", 5) == 0))
			OptionError("init", "an object with the keys \"users\" and \"items\"");
	InitSide(init, "users", in->users, in->nusers, f, x);
	InitSide(init, "items", in->items, in->nitems, f, y);
}

/* The progress of a fit: one NOTICE per iteration, with the loss */
typedef struct FitProgress
{
	int			iterations;
	TimestampTz start;
} FitProgress;

static void
AlsProgress(int iteration, double loss, void *arg)
{
	FitProgress *p = (FitProgress *) arg;

	ereport(NOTICE,
			(errmsg("profenrich: als iteration %d of %d, loss %.10g, %.1f s", iteration,
					p->iterations, loss, (GetCurrentTimestamp() - p->start) / 1e6)));
}

/* Ranking metrics at 10 of one user's held-out item at rank (0: not in the 10) */
typedef struct RankMetrics
{
	double		hits;
	double		ndcg;
	double		ap;
} RankMetrics;

static void
AddRank(RankMetrics *m, int rank)
{
	if (rank <= 0)
		return;
	m->hits += 1;
	m->ndcg += 1.0 / log2(rank + 1.0);
	m->ap += 1.0 / rank;
}

/* The metrics object members of n test users */
static void
RankMetricsJson(StringInfo out, const RankMetrics *m, double n)
{
	JsonField(out, "recall_at_10", n > 0 ? m->hits / n : get_float8_nan());
	JsonField(out, "precision_at_10", n > 0 ? m->hits / (METRIC_K * n) : get_float8_nan());
	JsonField(out, "ndcg_at_10", n > 0 ? m->ndcg / n : get_float8_nan());
	JsonField(out, "map_at_10", n > 0 ? m->ap / n : get_float8_nan());
}

/*
 * The held-out metrics: each test user's 10 best items by the model and by
 * popularity, leaving out the items it was trained on; where its held-out
 * item ranks.  Its recall is the hit rate (one item held out), precision
 * the hits over 10, NDCG 1 / log2(rank + 1), average precision 1 / rank.
 */
static void
HeldOutMetrics(StringInfo out, const ItemModel *im, const AlsMatrix *train, const int32 *held,
			   const double *x)
{
	const AlsItemIndex *ix = ItemsAlsIndex(im);
	bool	   *skip = ItemsScratch(im);
	uint64	   *bits = ItemsScratchBits(im);
	ItemScore  *best = palloc(sizeof(ItemScore) * METRIC_K * ALS_RANK_BATCH);
	int			counts[ALS_RANK_BATCH];
	int			users[ALS_RANK_BATCH];
	const double *factors[ALS_RANK_BATCH];
	RankedItem	pop[METRIC_K];
	RankMetrics model = {0},
				base = {0};
	double		n = 0;
	int			nb = 0;

	for (int u = 0; u <= train->nrows; u++)
	{
		if (u < train->nrows && held[u] >= 0)
		{
			users[nb] = u;
			factors[nb] = x + (size_t) u * im->factors;
			for (int64 e = train->ptr[u]; e < train->ptr[u + 1]; e++)
				bits[train->col[e]] |= UINT64CONST(1) << nb;
			nb++;
		}
		if (nb < ALS_RANK_BATCH && (u < train->nrows || nb == 0))
			continue;
		/* a batch of test users ranked at once, then each one's metrics in order */
		CHECK_FOR_INTERRUPTS();
		AlsTopItemsMany(ix, nb, factors, METRIC_K, bits, best, counts);
		for (int b = 0; b < nb; b++)
		{
			int			v = users[b];
			int			k;

			for (int r = 0; r < counts[b]; r++)
				if (best[b * METRIC_K + r].item == held[v])
					AddRank(&model, r + 1);
			for (int64 e = train->ptr[v]; e < train->ptr[v + 1]; e++)
			{
				skip[train->col[e]] = true;
				bits[train->col[e]] = 0;
			}
			k = ItemsPopular(im, METRIC_K, skip, pop);
			for (int r = 0; r < k; r++)
				if (strcmp(pop[r].key, im->items[held[v]]) == 0)
					AddRank(&base, r + 1);
			for (int64 e = train->ptr[v]; e < train->ptr[v + 1]; e++)
				skip[train->col[e]] = false;
			n++;
		}
		nb = 0;
	}
	pfree(best);
	JsonField(out, "test_users", n);
	RankMetricsJson(out, &model, n);
	appendStringInfoString(out, ", \"baseline\": {");
	RankMetricsJson(out, &base, n);
	appendStringInfoString(out, ", \"ranking\": \"popularity\"}");
}

/* The loss of each iteration as a JSON array member */
static void
LossJson(StringInfo out, const double *loss, int n)
{
	appendStringInfoString(out, ", \"loss\": [");
	for (int i = 0; i < n; i++)
		appendStringInfo(out, "%s%s", i > 0 ? ", " : "", float8out_internal(loss[i]));
	appendStringInfoChar(out, ']');
}

/* Refuse a fit whose factors are not finite */
static void
CheckFit(const double *v, int64 n)
{
	for (int64 i = 0; i < n; i++)
		if (!isfinite(v[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the ALS fit diverged: a factor is not finite"),
					 errhint("Lower \"alpha\" or scale the weights down, or raise \"l2\".")));
}

/*
 * train(name, 'als', source, NULL, NULL, options): read the interactions
 * once, hold some out, fit, and measure the held-out rankings.
 */
void
TrainAls(TrainJob *job)
{
	ItemOptions *o = (ItemOptions *) job->algopts;
	ItemsTrained *t = palloc0(sizeof(ItemsTrained));
	Interactions *in = &t->in;
	AlsMatrix	all,
				byitem;
	ItemModel  *im;
	AlsSettings s;
	FitProgress progress;
	int32	   *held;
	int64		ntest;
	int			f = o->factors;
	double	   *y;
	double	   *loss = palloc(sizeof(double) * o->iterations);

	CheckArguments(job, o);
	InteractionsRead(&job->src, &o->cols, in);
	InteractionsMatrix(in, in->weight, NULL, &all);
	CheckInteractions(in, &all, &job->src, 0);
	held = HoldOut(in, &all, o, &ntest);
	TrainingMatrix(&all, held, o->alpha, &t->byuser);
	CheckFactorMemory(in, &t->byuser, f);
	AlsTranspose(&t->byuser, in->nitems, &byitem);

	t->factors = f;
	t->x = palloc_extended(sizeof(double) * (size_t) in->nusers * f, MCXT_ALLOC_HUGE);
	y = palloc_extended(sizeof(double) * (size_t) in->nitems * f, MCXT_ALLOC_HUGE);
	AlsAdviseHuge(t->x, sizeof(double) * (size_t) in->nusers * f);
	AlsAdviseHuge(y, sizeof(double) * (size_t) in->nitems * f);
	AlsInitFactors(in->nusers, f, (uint64) o->seed, t->x);
	AlsInitFactors(in->nitems, f, (uint64) o->seed ^ UINT64CONST(0x5851F42D4C957F2D), y);
	if (o->init)
		ApplyInit(o->init, in, f, t->x, y);

	im = NewBody(o, in);
	im->factors = f;
	im->alpha = o->alpha;
	im->l2 = o->l2;
	im->exclude_seen = o->exclude_seen;
	im->item_factors = y;
	im->gram = palloc(sizeof(double) * f * f);
	s.factors = f;
	s.l2 = o->l2;
	s.iterations = o->iterations;
	s.cg_steps = o->cg_steps;
	s.cholesky = o->cholesky;
	s.progress = AlsProgress;
	progress.iterations = o->iterations;
	progress.start = GetCurrentTimestamp();
	s.arg = &progress;
	AlsFit(&t->byuser, &byitem, &s, t->x, y, im->gram, loss);
	CheckFit(t->x, (int64) in->nusers * f);
	CheckFit(y, (int64) in->nitems * f);

	im->nusers = UsersWithItems(&t->byuser);
	for (int i = 0; i < in->nitems; i++)
		im->popularity[i] = (double) (byitem.ptr[i + 1] - byitem.ptr[i]) / Max(im->nusers, 1);
	job->model.body = im;
	job->model.spec = EmptySpec();

	JsonField(&job->metrics, "users", im->nusers);
	JsonField(&job->metrics, "items", in->nitems);
	JsonField(&job->metrics, "interactions", t->byuser.nnz);
	JsonField(&job->metrics, "rows", in->n);
	JsonField(&job->metrics, "n_skipped", in->skipped);
	JsonField(&job->metrics, "held_out", ntest);
	HeldOutMetrics(&job->metrics, im, &t->byuser, held, t->x);
	LossJson(&job->metrics, loss, o->iterations);
	job->n_train = t->byuser.nnz;
	job->n_test = ntest;
	job->trained = t;
}

/* ---------------------------------------------------------------------
 * 'affinity'
 * ---------------------------------------------------------------------
 */

/* The option as_of in the time column's type, in microseconds */
static int64
ParseAsOf(const char *s, Oid type)
{
	Oid			input,
				ioparam;
	Datum		d = (Datum) 0;
	MemoryContext cxt = CurrentMemoryContext;
	int64		t;

	getTypeInputInfo(type, &input, &ioparam);
	PG_TRY();
	{
		d = OidInputFunctionCall(input, (char *) s, ioparam, -1);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("invalid value for option \"as_of\": \"%s\" is not a %s", s, format_type_be(type)),
				 errhint("Give as_of in the type of the time column, such as \"2024-10-02\".")));
	}
	PG_END_TRY();
	if (type == DATEOID)
		t = DATE_NOT_FINITE(DatumGetDateADT(d)) ? DT_NOBEGIN : (int64) DatumGetDateADT(d) * USECS_PER_DAY;
	else
		t = DatumGetTimestamp(d);
	if (TIMESTAMP_NOT_FINITE(t))
		OptionError("as_of", "a finite date or timestamp");
	return t;
}

/* The as-of time as text, in the time column's type */
static char *
AsOfText(int64 t, Oid type)
{
	if (type == DATEOID)
		return DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum((DateADT) (t / USECS_PER_DAY))));
	if (type == TIMESTAMPOID)
		return DatumGetCString(DirectFunctionCall1(timestamp_out, TimestampGetDatum(t)));
	return DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(t)));
}

/*
 * Each row's decayed weight w 0.5^(age / half_life), age in days before
 * as_of; rows after as_of are not kept (counted in *future).
 */
static double *
DecayedWeights(const Interactions *in, int64 as_of, double half_life, bool *keep, int64 *future)
{
	double	   *w = palloc_extended(sizeof(double) * Max(in->n, 1), MCXT_ALLOC_HUGE);

	*future = 0;
	for (int64 j = 0; j < in->n; j++)
	{
		double		age = (double) (as_of - in->time[j]) / USECS_PER_DAY;

		keep[j] = in->time[j] <= as_of;
		*future += !keep[j];
		w[j] = keep[j] ? in->weight[j] * exp2(-age / half_life) : 0;
	}
	return w;
}

/*
 * train(name, 'affinity', source, NULL, NULL, options): each user's share
 * of its time-decayed weight by item, and each item's share of the
 * population's.
 */
void
TrainAffinity(TrainJob *job)
{
	ItemOptions *o = (ItemOptions *) job->algopts;
	ItemsTrained *t = palloc0(sizeof(ItemsTrained));
	Interactions *in = &t->in;
	ItemModel  *im;
	double	   *w = NULL;
	bool	   *keep = NULL;
	int64		future = 0;
	double		total = 0;

	CheckArguments(job, o);
	InteractionsRead(&job->src, &o->cols, in);
	im = NewBody(o, in);
	im->half_life_days = o->half_life_days;
	if (o->cols.time && in->n > 0)
	{
		int64		as_of = o->as_of ? ParseAsOf(o->as_of, in->time_type) : in->time_max;

		keep = palloc_extended(sizeof(bool) * in->n, MCXT_ALLOC_HUGE);
		w = DecayedWeights(in, as_of, o->half_life_days, keep, &future);
		im->as_of = AsOfText(as_of, in->time_type);
	}
	InteractionsMatrix(in, w ? w : in->weight, keep, &t->byuser);
	CheckInteractions(in, &t->byuser, &job->src, future);
	/* each item's decayed weight, summed user by user (in key order), then the total */
	for (int64 e = 0; e < t->byuser.nnz; e++)
		im->popularity[t->byuser.col[e]] += t->byuser.conf[e];
	for (int i = 0; i < in->nitems; i++)
		total += im->popularity[i];
	for (int i = 0; i < in->nitems; i++)
		im->popularity[i] /= total;
	im->nusers = UsersWithItems(&t->byuser);
	job->model.body = im;
	job->model.spec = EmptySpec();

	JsonField(&job->metrics, "users", im->nusers);
	JsonField(&job->metrics, "items", in->nitems);
	JsonField(&job->metrics, "interactions", t->byuser.nnz);
	JsonField(&job->metrics, "rows", in->n);
	JsonField(&job->metrics, "n_skipped", in->skipped);
	JsonField(&job->metrics, "n_after_as_of", future);
	JsonField(&job->metrics, "total_weight", total);
	JsonString(&job->metrics, "as_of", im->as_of);
	job->n_train = t->byuser.nnz;
	job->n_test = 0;
	job->trained = t;
}

/* ---------------------------------------------------------------------
 * The per-user rows
 * ---------------------------------------------------------------------
 */

/* Share order of one user's items: the highest first, ties by item (key order) */
static int
ByShare(const void *a, const void *b)
{
	const ItemScore *x = (const ItemScore *) a;
	const ItemScore *y = (const ItemScore *) b;

	if (ItemBefore(x->score, x->item, y->score, y->item))
		return -1;
	return ItemBefore(y->score, y->item, x->score, x->item) ? 1 : 0;
}

/*
 * After train() stored the version: one row of profenrich.model_users per
 * user with an interaction, in key order (the primary key's order, which
 * makes every index insertion an append): ALS its items and factor,
 * affinity its items and shares by decreasing share.
 */
void
StoreItemUsers(TrainJob *job, int version)
{
	ItemsTrained *t = (ItemsTrained *) job->trained;
	const Interactions *in = &t->in;
	const AlsMatrix *m = &t->byuser;
	UserRowsWriter *w = UserRowsBegin(job->name, version);
	int64		most = 1;
	char	  **keys;
	int		   *lens;
	int		   *item_len = palloc(sizeof(int) * Max(in->nitems, 1));
	double	   *shares;
	ItemScore  *order;

	for (int u = 0; u < m->nrows; u++)
		most = Max(most, m->ptr[u + 1] - m->ptr[u]);
	for (int i = 0; i < in->nitems; i++)
		item_len[i] = strlen(in->items[i]);
	keys = palloc(sizeof(char *) * most);
	lens = palloc(sizeof(int) * most);
	shares = palloc(sizeof(double) * most);
	order = palloc(sizeof(ItemScore) * most);
	for (int u = 0; u < m->nrows; u++)
	{
		int			n = (int) (m->ptr[u + 1] - m->ptr[u]);
		double		sum = 0;

		if (n == 0)
			continue;
		if (t->x != NULL)
		{
			for (int e = 0; e < n; e++)
			{
				keys[e] = in->items[m->col[m->ptr[u] + e]];
				lens[e] = item_len[m->col[m->ptr[u] + e]];
			}
			UserRowsAdd(w, in->users[u], n, keys, lens, NULL, t->factors,
						t->x + (size_t) u * t->factors);
			continue;
		}
		for (int e = 0; e < n; e++)
			sum += m->conf[m->ptr[u] + e];
		for (int e = 0; e < n; e++)
		{
			order[e].item = m->col[m->ptr[u] + e];
			order[e].score = m->conf[m->ptr[u] + e] / sum;
		}
		if (n > 16)
			qsort(order, n, sizeof(ItemScore), ByShare);
		else
			for (int a = 1; a < n; a++)	/* insertion sort: most users have few items */
				for (int b = a; b > 0 && ByShare(&order[b - 1], &order[b]) > 0; b--)
				{
					ItemScore	x = order[b];

					order[b] = order[b - 1];
					order[b - 1] = x;
				}
		for (int e = 0; e < n; e++)
		{
			keys[e] = in->items[order[e].item];
			lens[e] = item_len[order[e].item];
			shares[e] = order[e].score;
		}
		UserRowsAdd(w, in->users[u], n, keys, lens, shares, 0, NULL);
	}
	UserRowsEnd(w);
}
