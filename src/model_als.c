/*-------------------------------------------------------------------------
 * model_als.c
 *	  The model unit of 'als' (product affinity by implicit-feedback ALS):
 *	  its params body, its rankings (a user's best items, one item's
 *	  preference, similar items), fold-in, and its entry in the algorithm
 *	  table.
 *
 * The body holds the items, their popularity (the share of training users
 * who interacted with each), the item factors Y and Y'Y + l2 I; each
 * user's factor and seen items are a row of profenrich.model_users.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"

#include "items.h"
#include "model.h"
#include "trainer.h"

/* The ALS body: the common part, then settings, item factors and the Gram matrix */
static void
AlsWrite(StringInfo buf, const Model *m)
{
	const ItemModel *im = (const ItemModel *) m->body;

	ItemsWriteCommon(buf, im);
	pq_sendint32(buf, im->factors);
	pq_sendfloat8(buf, im->alpha);
	pq_sendfloat8(buf, im->l2);
	pq_sendbyte(buf, im->exclude_seen ? 1 : 0);
	ModelWriteDoubles(buf, im->item_factors, im->nitems * im->factors);
	ModelWriteDoubles(buf, im->gram, im->factors * im->factors);
}

/* Refuse a non-finite value among n */
static void
CheckFinite(const double *v, int64 n, const char *what)
{
	for (int64 i = 0; i < n; i++)
		if (!isfinite(v[i]))
			ModelCorrupt(what);
}

static void
AlsRead(StringInfo buf, Model *m, int format)
{
	ItemModel  *im = palloc0(sizeof(ItemModel));
	int64		cells;

	ItemsReadCommon(buf, im);
	im->factors = pq_getmsgint(buf, 4);
	im->alpha = pq_getmsgfloat8(buf);
	im->l2 = pq_getmsgfloat8(buf);
	im->exclude_seen = pq_getmsgbyte(buf) != 0;
	if (im->factors < 1 || im->factors > ITEMS_MAX_FACTORS ||
		!(im->alpha >= 0 && isfinite(im->alpha)) || !(im->l2 >= 0 && isfinite(im->l2)))
		ModelCorrupt("an ALS setting is out of range");
	cells = (int64) im->nitems * im->factors;
	if (cells > (buf->len - buf->cursor) / 8)
		ModelCorrupt("the item factors run past the end");
	im->item_factors = ModelReadDoubles(buf, (int) cells);
	im->gram = ModelReadDoubles(buf, im->factors * im->factors);
	CheckFinite(im->item_factors, cells, "an item factor is not finite");
	CheckFinite(im->gram, (int64) im->factors * im->factors, "the Gram matrix is not finite");
	m->body = im;
}

static OutputKind
AlsOutput(const Model *m)
{
	return OUTPUT_ITEMS;
}

/*
 * A user's k best items: highest x_u'y_i, leaving out the items the user
 * has (unless the model was trained with exclude_seen false); the
 * popularity ranking for a user without a factor.
 */
static int
AlsTopItemsOp(const Model *m, const UserItems *u, int k, RankedItem *out)
{
	const ItemModel *im = (const ItemModel *) m->body;
	bool	   *skip = NULL;
	ItemScore  *best;
	int			n;

	if (u == NULL || u->factors == NULL)
		return ItemsPopular(im, k, NULL, out);
	if (im->exclude_seen)
	{
		skip = ItemsScratch(im);
		for (int i = 0; i < u->n; i++)
			if (u->items[i] >= 0)
				skip[u->items[i]] = true;
	}
	best = palloc(sizeof(ItemScore) * k);
	n = AlsTopItems(ItemsAlsIndex(im), u->factors, k, skip, best);
	if (skip != NULL)
		for (int i = 0; i < u->n; i++)
			if (u->items[i] >= 0)
				skip[u->items[i]] = false;
	for (int i = 0; i < n; i++)
	{
		out[i].key = im->items[best[i].item];
		out[i].score = best[i].score;
	}
	pfree(best);
	return n;
}

/*
 * The k best items of n users with factors at once (AlsTopItemsMany),
 * each leaving out its own items unless the model was trained with
 * exclude_seen false: the rankings AlsTopItemsOp gives one by one.
 */
static void
AlsTopItemsManyOp(const Model *m, const UserItems *const *u, int n, int k, ItemScore *out,
				  int *counts)
{
	const ItemModel *im = (const ItemModel *) m->body;
	const double *x[ALS_RANK_BATCH];
	uint64	   *bits = im->exclude_seen ? ItemsScratchBits(im) : NULL;

	for (int b = 0; b < n; b++)
	{
		x[b] = u[b]->factors;
		for (int i = 0; bits != NULL && i < u[b]->n; i++)
			if (u[b]->items[i] >= 0)
				bits[u[b]->items[i]] |= UINT64CONST(1) << b;
	}
	AlsTopItemsMany(ItemsAlsIndex(im), n, x, k, bits, out, counts);
	for (int b = 0; b < n && bits != NULL; b++)
		for (int i = 0; i < u[b]->n; i++)
			if (u[b]->items[i] >= 0)
				bits[u[b]->items[i]] = 0;
}

/* One item's predicted preference x_u'y_i; false for an item the model does not know */
static bool
AlsItemScore(const Model *m, const UserItems *u, const char *item, double *score)
{
	const ItemModel *im = (const ItemModel *) m->body;
	int			i = ItemsIndex(im, item);

	if (i < 0 || u->factors == NULL)
		return false;
	*score = AlsDot(u->factors, im->item_factors + (size_t) i * im->factors, im->factors);
	return true;
}

/* The k items whose factors have the highest cosine with the item's (none for a zero factor) */
static int
AlsSimilarItems(const Model *m, const char *model, int version, const char *item, int k,
				RankedItem *out)
{
	const ItemModel *im = (const ItemModel *) m->body;
	int			f = im->factors;
	int			i = ItemsIndex(im, item);
	const double *yi;
	double		ni;
	ItemScore  *best;
	TopK		t;
	int			n;

	if (i < 0)
		return 0;
	yi = im->item_factors + (size_t) i * f;
	ni = sqrt(AlsDot(yi, yi, f));
	if (!(ni > 0))
		return 0;
	best = palloc(sizeof(ItemScore) * k);
	TopKInit(&t, k, best);
	for (int j = 0; j < im->nitems; j++)
	{
		const double *yj = im->item_factors + (size_t) j * f;
		double		nj = sqrt(AlsDot(yj, yj, f));

		if (j == i || !(nj > 0))
			continue;
		TopKPush(&t, j, AlsDot(yi, yj, f) / (ni * nj));
	}
	n = TopKSorted(&t, best);
	for (int p = 0; p < n; p++)
	{
		out[p].key = im->items[best[p].item];
		out[p].score = best[p].score;
	}
	return n;
}

/* Item order for a folded-in user's interactions */
static int
ByIndex(const void *a, const void *b)
{
	const ItemScore *x = (const ItemScore *) a;
	const ItemScore *y = (const ItemScore *) b;

	return x->item < y->item ? -1 : x->item > y->item;
}

/*
 * Fold-in: the user's factor solved exactly against the stored item
 * factors, from its interactions with the items the model knows, taken in
 * item order as training takes them; no factor (the popularity ranking)
 * when it has none.
 */
static void
AlsFoldIn(const Model *m, UserItems *u)
{
	const ItemModel *im = (const ItemModel *) m->body;
	int			f = im->factors;
	ItemScore  *known = palloc(sizeof(ItemScore) * Max(u->n, 1));
	int32	   *cols = palloc(sizeof(int32) * Max(u->n, 1));
	double	   *conf = palloc(sizeof(double) * Max(u->n, 1));
	int			n = 0;
	AlsExact	s;

	for (int i = 0; i < u->n; i++)
		if (u->items[i] >= 0)
		{
			known[n].item = u->items[i];
			known[n++].score = u->values[i];
		}
	u->factors = NULL;
	if (n == 0)
		return;
	qsort(known, n, sizeof(ItemScore), ByIndex);
	for (int i = 0; i < n; i++)
	{
		cols[i] = known[i].item;
		conf[i] = im->alpha * known[i].score;
	}
	u->factors = palloc(sizeof(double) * f);
	u->nfactors = f;
	s.f = f;
	s.gram = im->gram;
	s.inverse = ItemsGramInverse(im);
	s.other = im->item_factors;
	s.scaled = NULL;
	s.work = palloc(sizeof(double) * ALS_EXACT_WORK(f));
	if (!AlsSolveRow(&s, n, cols, conf, u->factors))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the user's least-squares system is not positive definite"),
				 errhint("Retrain the model with an \"l2\" above 0.")));
}

const AlgorithmOps AlsOps = {
	.name = "als",
	.code = ALG_ALS,
	.flags = 0,
	.targets = TARGET_NONE,
	.options = "user, item, weight, factors, alpha, l2, iterations, seed, test_fraction, exclude_seen, solver, cg_steps, init",
	.example = "{\"user\": \"customer_id\", \"item\": \"product_id\", \"weight\": \"quantity\"}",
	.options_new = ItemOptionsNew,
	.option = ItemOption,
	.options_json = ItemOptionsJson,
	.target = NULL,
	.train = TrainAls,
	.write = AlsWrite,
	.read = AlsRead,
	.output = AlsOutput,
	.score = NULL,
	.link = NULL,
	.classify = NULL,
	.explain = NULL,
	.coefficients = ItemsCoefficients,
	.top_items = AlsTopItemsOp,
	.item_score = AlsItemScore,
	.similar_items = AlsSimilarItems,
	.fold_in = AlsFoldIn,
	.top_items_many = AlsTopItemsManyOp,
	.stored = StoreItemUsers,
};
