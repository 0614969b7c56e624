/*-------------------------------------------------------------------------
 * model_affinity.c
 *	  The model unit of 'affinity' (category affinity by time-decayed
 *	  shares): its params body, its rankings, fold-in, and its entry in the
 *	  algorithm table.
 *
 * A user's affinity for an item is its share of the user's time-decayed
 * weight, sum(w 0.5^(age / half_life)) over the item / the same over all
 * items; its lift is that share over the item's share of the whole
 * population's decayed weight, the item's popularity, kept in the body.
 * Similar items are the items whose users overlap most, counted over the
 * user rows when asked for.  Each user's
 * shares are a row of profenrich.model_users, in decreasing share.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "utils/arrayaccess.h"
#include "utils/builtins.h"

#include "items.h"
#include "model.h"
#include "trainer.h"

/* The affinity body: the common part and the decay */
static void
AffinityWrite(StringInfo buf, const Model *m)
{
	const ItemModel *im = (const ItemModel *) m->body;

	ItemsWriteCommon(buf, im);
	pq_sendfloat8(buf, im->half_life_days);
	ItemsWriteString(buf, im->as_of);
}

static void
AffinityRead(StringInfo buf, Model *m, int format)
{
	ItemModel  *im = palloc0(sizeof(ItemModel));

	ItemsReadCommon(buf, im);
	im->half_life_days = pq_getmsgfloat8(buf);
	im->as_of = ItemsReadString(buf, true);
	if (!(im->half_life_days > 0 && isfinite(im->half_life_days)))
		ModelCorrupt("the half life is not a positive number");
	m->body = im;
}

static OutputKind
AffinityOutput(const Model *m)
{
	return OUTPUT_ITEMS;
}

/*
 * A user's k items of highest share (ties by key: a stored row lists
 * equal shares in key order, a folded-in user its items in key order);
 * the popularity ranking, the population's shares, for a user without any.
 */
static int
AffinityTopItems(const Model *m, const UserItems *u, int k, RankedItem *out)
{
	const ItemModel *im = (const ItemModel *) m->body;
	ItemScore  *best;
	TopK		t;
	int			n;

	if (u == NULL || u->n == 0)
		return ItemsPopular(im, k, NULL, out);
	/* a stored row lists its items by decreasing share already: its first k */
	for (n = 1; n < u->n && u->values[n - 1] >= u->values[n]; n++)
		;
	if (n == u->n)
	{
		n = Min(k, u->n);
		for (int p = 0; p < n; p++)
		{
			out[p].key = u->keys[p];
			out[p].score = u->values[p];
		}
		return n;
	}
	best = palloc(sizeof(ItemScore) * k);
	TopKInit(&t, k, best);
	for (int i = 0; i < u->n; i++)
		TopKPush(&t, i, u->values[i]);
	n = TopKSorted(&t, best);
	for (int p = 0; p < n; p++)
	{
		out[p].key = u->keys[best[p].item];
		out[p].score = best[p].score;
	}
	pfree(best);
	return n;
}

/* One item's share for the user: 0 for an item it has no weight on; false for an item nobody has */
static bool
AffinityItemScore(const Model *m, const UserItems *u, const char *item, double *score)
{
	for (int i = 0; i < u->n; i++)
		if (strcmp(u->keys[i], item) == 0)
		{
			*score = u->values[i];
			return true;
		}
	if (ItemsIndex((const ItemModel *) m->body, item) < 0)
		return false;
	*score = 0;
	return true;
}

/* Counting users by item, and those of one item by the other items they have */
typedef struct Overlap
{
	const ItemModel *im;
	int			target;
	int64	   *users;			/* per item: its users */
	int64	   *common;			/* per item: its users who also have the target */
	int32	   *row;			/* the current row's item indices */
	int			cap;
} Overlap;

/* One user row: its items counted, and, when it has the target, counted as common */
static void
OverlapRow(TupleTableSlot *slot, void *arg)
{
	Overlap    *o = (Overlap *) arg;
	ArrayType  *items = UserRowsItems(slot);
	int			n = ArrayGetNItems(ARR_NDIM(items), ARR_DIMS(items));
	int			m = 0;
	bool		has = false;
	array_iter	it;

	if (n > o->cap)
	{
		o->cap = Max(n, 2 * o->cap);
		o->row = repalloc(o->row, sizeof(int32) * o->cap);
	}
	array_iter_setup(&it, (AnyArrayType *) items);
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		text	   *t = DatumGetTextPP(array_iter_next(&it, &isnull, i, -1, false, TYPALIGN_INT));
		int			j = ItemsIndexBytes(o->im, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

		if (j < 0)
			continue;
		o->row[m++] = j;
		o->users[j]++;
		has |= j == o->target;
	}
	if (has)
		for (int i = 0; i < m; i++)
			if (o->row[i] != o->target)
				o->common[o->row[i]]++;
}

/*
 * The k items whose users overlap the item's most, by the Jaccard index of
 * the two sets of users, |common| / (|users of i| + |users of j| - |common|),
 * counted over the model version's user rows, one scan of them.
 */
static int
AffinitySimilarItems(const Model *m, const char *model, int version, const char *item, int k,
					 RankedItem *out)
{
	const ItemModel *im = (const ItemModel *) m->body;
	Overlap		o;
	ItemScore  *best;
	TopK		t;
	int			n;

	o.im = im;
	o.target = ItemsIndex(im, item);
	if (o.target < 0)
		return 0;
	o.users = palloc0(sizeof(int64) * im->nitems);
	o.common = palloc0(sizeof(int64) * im->nitems);
	o.cap = 64;
	o.row = MemoryContextAlloc(CurrentMemoryContext, sizeof(int32) * o.cap);
	UserRowsScan(model, version, OverlapRow, &o);
	best = palloc(sizeof(ItemScore) * k);
	TopKInit(&t, k, best);
	for (int j = 0; j < im->nitems; j++)
		if (o.common[j] > 0)
			TopKPush(&t, j, (double) o.common[j] /
					 (double) (o.users[o.target] + o.users[j] - o.common[j]));
	n = TopKSorted(&t, best);
	for (int p = 0; p < n; p++)
	{
		out[p].key = im->items[best[p].item];
		out[p].score = best[p].score;
	}
	return n;
}

/*
 * Fold-in: each item's share of the user's summed weights, over all its
 * items, the model's or not (a share needs no model), as given: pass
 * decayed weights for a model with a time column.
 */
static void
AffinityFoldIn(const Model *m, UserItems *u)
{
	double		total = 0;

	for (int i = 0; i < u->n; i++)
		total += u->values[i];
	for (int i = 0; i < u->n; i++)
		u->values[i] /= total;
}

const AlgorithmOps AffinityOps = {
	.name = "affinity",
	.code = ALG_AFFINITY,
	.flags = 0,
	.targets = TARGET_NONE,
	.options = "user, item, weight, time, half_life_days, as_of",
	.example = "{\"user\": \"customer_id\", \"item\": \"category\", \"time\": \"ts\"}",
	.options_new = ItemOptionsNew,
	.option = ItemOption,
	.options_json = ItemOptionsJson,
	.target = NULL,
	.train = TrainAffinity,
	.write = AffinityWrite,
	.read = AffinityRead,
	.output = AffinityOutput,
	.score = NULL,
	.link = NULL,
	.classify = NULL,
	.explain = NULL,
	.coefficients = ItemsCoefficients,
	.top_items = AffinityTopItems,
	.item_score = AffinityItemScore,
	.similar_items = AffinitySimilarItems,
	.fold_in = AffinityFoldIn,
	.stored = StoreItemUsers,
};
