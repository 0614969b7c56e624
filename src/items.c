/*-------------------------------------------------------------------------
 * items.c
 *	  The outputs of item models ('als', 'affinity'): top_items,
 *	  top_item_scores, recommend, affinity, affinities, similar_items,
 *	  item_factors and the fold-in aggregates top_items_for and
 *	  top_item_scores_for; and what the two families share (their items,
 *	  popularity, params I/O).
 *
 * Each call site keeps its model for the query (score.c's caches) and the
 * output function of its user key's type.  A user is read from
 * profenrich.model_users by its key's text (one index lookup; once a
 * command has asked for many users, all of the version's rows, packed and
 * hashed, kept with the shared model); one the model does not know gets
 * the popularity ranking.  Before enrich() asks for every profile, an ALS
 * model ranks all of its users at once, many per pass over the item
 * factors (ItemsPrepareRankings), and keeps the rankings with the rows.
 * The last ranking computed is kept with the model for the rest of the
 * command, so the two columns enrich() writes for a profile (and its
 * change checks) cost one ranking, not four.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/arrayaccess.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "items.h"
#include "score.h"

PG_FUNCTION_INFO_V1(top_items);
PG_FUNCTION_INFO_V1(top_item_scores);
PG_FUNCTION_INFO_V1(recommend);
PG_FUNCTION_INFO_V1(affinity);
PG_FUNCTION_INFO_V1(affinities);
PG_FUNCTION_INFO_V1(similar_items);
PG_FUNCTION_INFO_V1(item_factors);
PG_FUNCTION_INFO_V1(top_items_for_trans);
PG_FUNCTION_INFO_V1(top_items_for_final);
PG_FUNCTION_INFO_V1(top_item_scores_for_final);

#define MAX_ITEMS 50000000

/* A user's ranking, and the arrays top_items and top_item_scores return */
typedef struct Ranking
{
	int			n;
	RankedItem *items;
	Datum		keys;			/* text[] */
	Datum		scores;			/* float8[] */
} Ranking;

/* What a model builds on first use, in its body's memory context */
typedef struct ItemCache
{
	bool	   *scratch;		/* nitems flags, all false between uses */
	uint64	   *scratch_bits;	/* nitems masks, all 0 between uses */
	int32	   *popular;		/* items by popularity, most popular first */
	bool		als_built;
	AlsItemIndex als;
	double	   *gram_inverse;	/* ALS fold-in */
	int32	   *slots;			/* hash of the item keys: index + 1, 0 when empty */
	int			nslots;			/* a power of two */
	int32	   *map;			/* or when they are integers: index + 1 by value - map_low */
	int64		map_low;
	int64		map_high;
	int		   *key_len;
	/* every user row of the model version, once a command asks for many users */
	struct UserTable *users;
	bool		users_failed;	/* too large to load */
	LocalTransactionId fetch_lxid;
	CommandId	fetch_cid;
	int			fetches;		/* users fetched by this command */
	/* the last ranking, valid for the command that computed it */
	MemoryContext lastcxt;		/* holds it; reset for the next */
	bool		have_last;
	LocalTransactionId lxid;
	CommandId	cid;
	Oid			last_type;
	Datum		last_key;		/* by value, or a copy in lastcxt */
	int			last_k;
	Ranking		last;
} ItemCache;

/* ---------------------------------------------------------------------
 * Shared by both families
 * ---------------------------------------------------------------------
 */

/* A length-prefixed string; NULL as length -1 */
void
ItemsWriteString(StringInfo buf, const char *s)
{
	if (s == NULL)
	{
		pq_sendint32(buf, -1);
		return;
	}
	pq_sendint32(buf, (int32) strlen(s));
	pq_sendbytes(buf, s, strlen(s));
}

char *
ItemsReadString(StringInfo buf, bool nullable)
{
	int32		len = pq_getmsgint(buf, 4);

	if (len == -1 && nullable)
		return NULL;
	if (len < 0 || len > buf->len - buf->cursor)
		ModelCorrupt("a string runs past the end");
	return pnstrdup(pq_getmsgbytes(buf, len), len);
}

/* What both families' bodies start with: columns, items, users, popularity */
void
ItemsWriteCommon(StringInfo buf, const ItemModel *im)
{
	ItemsWriteString(buf, im->user_column);
	ItemsWriteString(buf, im->item_column);
	ItemsWriteString(buf, im->weight_column);
	ItemsWriteString(buf, im->time_column);
	pq_sendint64(buf, im->nusers);
	pq_sendint32(buf, im->nitems);
	for (int i = 0; i < im->nitems; i++)
		ItemsWriteString(buf, im->items[i]);
	ModelWriteDoubles(buf, im->popularity, im->nitems);
}

/* Read what ItemsWriteCommon wrote, checking every count, the key order and the values */
void
ItemsReadCommon(StringInfo buf, ItemModel *im)
{
	im->user_column = ItemsReadString(buf, false);
	im->item_column = ItemsReadString(buf, false);
	im->weight_column = ItemsReadString(buf, true);
	im->time_column = ItemsReadString(buf, true);
	im->nusers = pq_getmsgint64(buf);
	im->nitems = pq_getmsgint(buf, 4);
	if (im->nusers < 0 || im->nitems < 1 || im->nitems > MAX_ITEMS ||
		(Size) im->nitems * 4 > (Size) (buf->len - buf->cursor))
		ModelCorrupt("the number of users or items is out of range");
	im->items = palloc(sizeof(char *) * im->nitems);
	for (int i = 0; i < im->nitems; i++)
	{
		im->items[i] = ItemsReadString(buf, false);
		if (i > 0 && strcmp(im->items[i - 1], im->items[i]) >= 0)
			ModelCorrupt("the items are not in order");
	}
	im->popularity = ModelReadDoubles(buf, im->nitems);
	for (int i = 0; i < im->nitems; i++)
		if (!(im->popularity[i] >= 0 && im->popularity[i] <= 1))
			ModelCorrupt("an item's popularity is not in [0, 1]");
}

/* A float8[] of n doubles */
Datum
ItemsDoubleArray(const double *v, int n)
{
	ArrayType  *a;
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Size		bytes = ARR_OVERHEAD_NONULLS(1) + sizeof(double) * n;

	if (n == 0)
		return PointerGetDatum(construct_empty_array(FLOAT8OID));
	a = palloc0(bytes);
	SET_VARSIZE(a, bytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = FLOAT8OID;
	memcpy(ARR_DIMS(a), dims, sizeof(int));
	memcpy(ARR_LBOUND(a), lbs, sizeof(int));
	memcpy(ARR_DATA_PTR(a), v, sizeof(double) * n);
	return PointerGetDatum(a);
}

/*
 * A text[] of n strings of known lengths (len NULL: strlen), laid out as
 * construct_array would (each element a 4-byte header, its bytes, padding
 * to 4) without making a text value of each first.
 */
Datum
ItemsTextArray(char *const *s, const int *len, int n)
{
	ArrayType  *a;
	Size		bytes = ARR_OVERHEAD_NONULLS(1);
	char	   *p;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	if (n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	for (int i = 0; i < n; i++)
		bytes += INTALIGN(VARHDRSZ + (len ? len[i] : (int) strlen(s[i])));
	a = palloc0(bytes);
	SET_VARSIZE(a, bytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = TEXTOID;
	memcpy(ARR_DIMS(a), dims, sizeof(int));
	memcpy(ARR_LBOUND(a), lbs, sizeof(int));
	p = ARR_DATA_PTR(a);
	for (int i = 0; i < n; i++)
	{
		int			l = len ? len[i] : (int) strlen(s[i]);

		SET_VARSIZE(p, VARHDRSZ + l);
		memcpy(p + VARHDRSZ, s[i], l);
		p += INTALIGN(VARHDRSZ + l);
	}
	return PointerGetDatum(a);
}

/* The cache of a model, made on first use */
static ItemCache *
Cache(const ItemModel *im)
{
	ItemModel  *m = (ItemModel *) im;

	if (m->cache == NULL)
		m->cache = MemoryContextAllocZero(GetMemoryChunkContext(m), sizeof(ItemCache));
	return m->cache;
}

/* The index of an item key, -1 if the model does not know it */
int
ItemsIndex(const ItemModel *im, const char *key)
{
	int			lo = 0,
				hi = im->nitems - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = strcmp(im->items[mid], key);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * Whether a key's bytes are a decimal integer as integer types print
 * them (an optional minus, no leading zero, at most 18 digits), and its
 * value
 */
static bool
CanonicalInteger(const char *key, int len, int64 *value)
{
	int64		v = 0;
	int			i = len > 0 && key[0] == '-' ? 1 : 0;

	if (len - i < 1 || len - i > 18 || (key[i] == '0' && len - i > 1) || (i == 1 && key[1] == '0'))
		return false;
	for (; i < len; i++)
	{
		if (key[i] < '0' || key[i] > '9')
			return false;
		v = v * 10 + (key[i] - '0');
	}
	*value = key[0] == '-' ? -v : v;
	return true;
}

/*
 * When every item key is an integer and they are not sparse, a map from
 * value to index (of what BuildKeyHash builds, the cheaper to look up)
 */
static bool
BuildKeyMap(const ItemModel *im, ItemCache *c)
{
	int64		low = 0,
				high = 0,
				v;

	for (int i = 0; i < im->nitems; i++)
	{
		if (!CanonicalInteger(im->items[i], strlen(im->items[i]), &v))
			return false;
		low = i == 0 ? v : Min(low, v);
		high = i == 0 ? v : Max(high, v);
	}
	if (high - low >= 4 * (int64) im->nitems + 1024)
		return false;
	c->map = MemoryContextAllocZero(GetMemoryChunkContext((void *) im),
									sizeof(int32) * (high - low + 1));
	for (int i = 0; i < im->nitems; i++)
	{
		(void) CanonicalInteger(im->items[i], strlen(im->items[i]), &v);
		c->map[v - low] = i + 1;
	}
	c->map_low = low;
	c->map_high = high;
	return true;
}

/* The hash table of the item keys (or their map by value), built on first use */
static void
BuildKeyHash(const ItemModel *im, ItemCache *c)
{
	MemoryContext cxt = GetMemoryChunkContext((void *) im);
	int			nslots = 16;

	c->key_len = MemoryContextAlloc(cxt, sizeof(int) * im->nitems);
	for (int i = 0; i < im->nitems; i++)
		c->key_len[i] = strlen(im->items[i]);
	if (BuildKeyMap(im, c))
		return;

	while (nslots < 2 * im->nitems)
		nslots *= 2;
	c->slots = MemoryContextAllocZero(cxt, sizeof(int32) * nslots);
	for (int i = 0; i < im->nitems; i++)
	{
		uint32		h;

		h = hash_bytes((const unsigned char *) im->items[i], c->key_len[i]) & (nslots - 1);
		while (c->slots[h] != 0)
			h = (h + 1) & (nslots - 1);
		c->slots[h] = i + 1;
	}
	c->nslots = nslots;
}

/* The index of an item key given by its bytes, -1 if the model does not know it */
int
ItemsIndexBytes(const ItemModel *im, const char *key, int len)
{
	ItemCache  *c = Cache(im);
	uint32		h;
	int64		v;

	if (c->key_len == NULL)
		BuildKeyHash(im, c);
	if (c->map != NULL)
		return CanonicalInteger(key, len, &v) && v >= c->map_low && v <= c->map_high ?
			c->map[v - c->map_low] - 1 : -1;
	h = hash_bytes((const unsigned char *) key, len) & (c->nslots - 1);
	while (c->slots[h] != 0)
	{
		int			i = c->slots[h] - 1;

		if (c->key_len[i] == len && memcmp(im->items[i], key, len) == 0)
			return i;
		h = (h + 1) & (c->nslots - 1);
	}
	return -1;
}

/* Fill in the model index of each of a user's items */
void
ItemsResolve(const ItemModel *im, UserItems *u)
{
	u->items = palloc(sizeof(int32) * Max(u->n, 1));
	for (int i = 0; i < u->n; i++)
		u->items[i] = ItemsIndexBytes(im, u->keys[i], strlen(u->keys[i]));
}

/* Flags over the items, all false: the caller sets some and clears them again */
bool *
ItemsScratch(const ItemModel *im)
{
	ItemCache  *c = Cache(im);

	if (c->scratch == NULL)
		c->scratch = MemoryContextAllocZero(GetMemoryChunkContext((void *) im), sizeof(bool) * im->nitems);
	return c->scratch;
}

/* Masks over the items, all 0: the caller sets some bits and clears them again */
uint64 *
ItemsScratchBits(const ItemModel *im)
{
	ItemCache  *c = Cache(im);

	if (c->scratch_bits == NULL)
		c->scratch_bits = MemoryContextAllocZero(GetMemoryChunkContext((void *) im),
												 sizeof(uint64) * im->nitems);
	return c->scratch_bits;
}

/* The index of ALS's search for a user's best items, built on first use */
const AlsItemIndex *
ItemsAlsIndex(const ItemModel *im)
{
	ItemCache  *c = Cache(im);

	if (!c->als_built)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext((void *) im));

		AlsIndexBuild(im->nitems, im->factors, im->item_factors, &c->als);
		c->als_built = true;
		MemoryContextSwitchTo(old);
	}
	return &c->als;
}

/* The inverse of an ALS model's Gram matrix, for fold-in, computed on first use */
const double *
ItemsGramInverse(const ItemModel *im)
{
	ItemCache  *c = Cache(im);

	if (c->gram_inverse == NULL)
	{
		int			f = im->factors;
		double	   *inv = MemoryContextAlloc(GetMemoryChunkContext((void *) im), sizeof(double) * f * f);

		if (!AlsExactPrepare(f, im->gram, inv, palloc(sizeof(double) * f * f)))
			ModelCorrupt("the Gram matrix is not positive definite");
		c->gram_inverse = inv;
	}
	return c->gram_inverse;
}

/* Popularity order: higher first, ties by key */
static int
ByPopularity(const void *a, const void *b, void *arg)
{
	const double *pop = (const double *) arg;
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	if (ItemBefore(pop[x], x, pop[y], y))
		return -1;
	return ItemBefore(pop[y], y, pop[x], x) ? 1 : 0;
}

/* The k most popular items not marked in skip (NULL: none), best first; how many */
int
ItemsPopular(const ItemModel *im, int k, const bool *skip, RankedItem *out)
{
	ItemCache  *c = Cache(im);
	int			n = 0;

	if (c->popular == NULL)
	{
		int32	   *order = MemoryContextAlloc(GetMemoryChunkContext((void *) im),
											   sizeof(int32) * im->nitems);

		for (int i = 0; i < im->nitems; i++)
			order[i] = i;
		qsort_arg(order, im->nitems, sizeof(int32), ByPopularity, im->popularity);
		c->popular = order;
	}
	for (int p = 0; p < im->nitems && n < k; p++)
	{
		int32		i = c->popular[p];

		if (skip != NULL && skip[i])
			continue;
		out[n].key = im->items[i];
		out[n++].score = im->popularity[i];
	}
	return n;
}

/* coefficients() of an item model: it has none, its items have factors */
void
ItemsCoefficients(const Model *m, ReturnSetInfo *rsinfo)
{
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("a model of algorithm %s has no coefficients", m->ops->name),
			 errhint("List its items, their popularity and factors with profenrich.item_factors(name).")));
}

/* Refuse a model that is not an item model */
void
ItemsCheckModel(const Model *m, const char *name, const char *function)
{
	if (ModelOutput(m) == OUTPUT_ITEMS)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("model \"%s\" is a %s model, not an item model", name, m->ops->name),
			 errhint("%s takes a model trained with algorithm 'als' or 'affinity'.", function)));
}

/* The user column an item model was trained with (enrich's default key) */
char *
ItemsUserColumn(const Model *m)
{
	return ((const ItemModel *) m->body)->user_column;
}

/* ---------------------------------------------------------------------
 * The SQL functions
 * ---------------------------------------------------------------------
 */

/* A call site of an item output: its model and its key's output function */
typedef struct ItemsCall
{
	const Model *m;
	const ItemModel *im;
	char	   *name;
	int			version;
	bool		shared;			/* the model outlives the query */
	bool		may_read;		/* the caller's SELECT on model_users, checked once */
	Oid			keytype;
	int16		keylen;
	bool		keybyval;
	FmgrInfo	keyout;
} ItemsCall;

/* A version argument: 1 or more, or NULL for the deployed one */
static int
VersionArg(FunctionCallInfo fcinfo, int argno)
{
	int			v;

	if (argno < 0 || PG_ARGISNULL(argno))
		return 0;
	v = PG_GETARG_INT32(argno);
	if (v < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model version must be 1 or more, not %d", v),
				 errhint("Pass NULL for the deployed version.")));
	return v;
}

/* A k argument: 1 or more (more than the items gives them all) */
static int
KArg(FunctionCallInfo fcinfo, int argno, const ItemModel *im)
{
	int			k = PG_GETARG_INT32(argno);

	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be 1 or more, not %d", k),
				 errhint("Ask for the number of items wanted, such as 10.")));
	return Min(k, im->nitems);
}

/*
 * The call site's state: the model of name (argument name_arg) at the
 * version of argument version_arg (-1: the deployed one), checked once to
 * be an item model, and the output function of the key argument key_arg
 * (-1: none).
 */
static ItemsCall *
CallSite(FunctionCallInfo fcinfo, text *name, int version_arg, int key_arg, const char *function)
{
	void	  **extra;
	int			version;
	bool		shared;
	Model	   *m = ScoreCallSite(fcinfo, name, VersionArg(fcinfo, version_arg), &version, &extra,
								  &shared);
	ItemsCall  *c = (ItemsCall *) *extra;

	if (c != NULL)
		return c;
	ItemsCheckModel(m, text_to_cstring(name), function);
	c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ItemsCall));
	c->m = m;
	c->im = (const ItemModel *) m->body;
	c->name = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, text_to_cstring(name));
	c->version = version;
	c->shared = shared;
	if (key_arg >= 0)
	{
		Oid			outfn;
		bool		isvarlena;

		c->keytype = get_fn_expr_argtype(fcinfo->flinfo, key_arg);
		if (!OidIsValid(c->keytype))
			elog(ERROR, "could not determine the type of the user key");
		getTypeOutputInfo(c->keytype, &outfn, &isvarlena);
		fmgr_info_cxt(outfn, &c->keyout, fcinfo->flinfo->fn_mcxt);
		get_typlenbyval(c->keytype, &c->keylen, &c->keybyval);
	}
	*extra = c;
	return c;
}

/*
 * A key datum as the bytes of the text it is stored by (not terminated),
 * into buf (KEY_BUF bytes) when it has to be formatted: text as it is,
 * integers as their output functions print them, other types by theirs.
 */
#define KEY_BUF 24

static const char *
KeyBytes(ItemsCall *c, Datum key, char *buf, int *len)
{
	switch (c->keytype)
	{
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *t = DatumGetTextPP(key);

				*len = VARSIZE_ANY_EXHDR(t);
				return VARDATA_ANY(t);
			}
		case INT2OID:
			*len = pg_itoa(DatumGetInt16(key), buf);
			return buf;
		case INT4OID:
			*len = pg_ltoa(DatumGetInt32(key), buf);
			return buf;
		case INT8OID:
			*len = pg_lltoa(DatumGetInt64(key), buf);
			return buf;
		default:
			{
				char	   *s = OutputFunctionCall(&c->keyout, key);

				*len = strlen(s);
				return s;
			}
	}
}

/*
 * Every user row of a model version, by key: what enrich() reads for each
 * profile in turn, loaded in one scan once a command has asked for many
 * users, and kept with the (shared) model: the rows of a version never
 * change, and a change to the registry drops the model and them with it.
 * Each row is one stretch of an arena (its UserItems, its key, its items'
 * keys and indices, its shares and factor), hashed by its key, so that a
 * lookup touches its slot and little else: the profiles enrich() visits
 * come in an order of their own, and each row is a cache miss.
 */
typedef struct UserRow
{
	UserItems	u;
	int64		seq;			/* in key order */
	int			key_len;
	char		key[FLEXIBLE_ARRAY_MEMBER];	/* then the arrays */
} UserRow;

typedef struct UserSlot
{
	uint32		hash;
	UserRow    *row;			/* NULL: empty */
} UserSlot;

#define ARENA_BLOCK (256 * 1024)

typedef struct UserTable
{
	MemoryContext cxt;
	const ItemModel *im;
	int64		n;
	char	   *free;			/* the arena's current block */
	Size		left;
	int64		nslots;			/* a power of two */
	UserSlot   *slots;			/* NULL once direct is built */
	bool		integers;		/* every key so far a canonical integer... */
	int64		low;			/* ...from low */
	int64		high;			/* to high */
	int32	   *direct;			/* seq + 1 by key value - low (IndexByValue), or NULL */
	UserRowRaw	raw;
	UserRow   **rows;			/* by seq */
	int64		cap;
	/* every row's k best items, once enrich() asked for them (ItemsPrepareRankings) */
	int			rank_k;			/* 0: none */
	int		   *rank_n;			/* per row: how many, -1 for a row not ranked */
	ItemScore  *rank;			/* per row: k */
} UserTable;

#define BULK_AFTER 512			/* users fetched in one command before loading them all */

/* Refuse a stored factor whose length is not the model's */
static void
CheckFactor(const ItemModel *im, int nfactors, const char *user, int len)
{
	if (nfactors != im->factors)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the row of user \"%.*s\" has a factor of %d values, the model %d",
						len, user, nfactors, im->factors),
				 errhint("Retrain the model, or restore profenrich.model_users from a backup.")));
}

/* size bytes of the arena, maximally aligned */
static char *
ArenaAlloc(UserTable *t, Size size)
{
	char	   *p;

	size = MAXALIGN(size);
	if (size > t->left)
	{
		Size		block = Max(size, ARENA_BLOCK);

		t->free = MemoryContextAllocHuge(t->cxt, block);
		t->left = block;
	}
	p = t->free;
	t->free += size;
	t->left -= size;
	return p;
}

/* Place a row in the hash table, doubling it when it fills */
static void
TableInsert(UserTable *t, uint32 hash, UserRow *row)
{
	int64		h;

	if ((t->n + 1) * 10 > t->nslots * 7)
	{
		UserSlot   *old = t->slots;
		int64		nold = t->nslots;

		t->nslots *= 2;
		t->slots = MemoryContextAllocHuge(t->cxt, sizeof(UserSlot) * t->nslots);
		memset(t->slots, 0, sizeof(UserSlot) * t->nslots);
		for (int64 i = 0; i < nold; i++)
			if (old[i].row != NULL)
			{
				h = old[i].hash & (t->nslots - 1);
				while (t->slots[h].row != NULL)
					h = (h + 1) & (t->nslots - 1);
				t->slots[h] = old[i];
			}
		pfree(old);
	}
	h = hash & (t->nslots - 1);
	while (t->slots[h].row != NULL)
		h = (h + 1) & (t->nslots - 1);
	t->slots[h].hash = hash;
	t->slots[h].row = row;
	if (t->n == t->cap)
	{
		t->cap = Max(1024, 2 * t->cap);
		t->rows = t->rows ? repalloc_huge(t->rows, sizeof(UserRow *) * t->cap) :
			MemoryContextAllocHuge(t->cxt, sizeof(UserRow *) * t->cap);
	}
	row->seq = t->n;
	t->rows[t->n++] = row;
}

/*
 * Keep one scanned row, its items as the model's indices and keys (the
 * model's own strings); an item the model does not know, which training
 * never stores, is corrupt.
 */
static void
TableRow(TupleTableSlot *slot, void *arg)
{
	UserTable  *t = (UserTable *) arg;
	UserRowRaw *raw = &t->raw;
	UserRow    *row;
	char	   *p;
	int			n;
	array_iter	it;

	UserRowsView(slot, raw);
	n = raw->n;
	if (raw->factors != NULL)
		CheckFactor(t->im, raw->nfactors, raw->user, raw->user_len);
	row = (UserRow *) ArenaAlloc(t, MAXALIGN(offsetof(UserRow, key) + raw->user_len + 1) +
								 MAXALIGN(sizeof(char *) * n) + sizeof(double) * n +
								 sizeof(double) * raw->nfactors + sizeof(int32) * n);
	memset(&row->u, 0, sizeof(UserItems));
	row->key_len = raw->user_len;
	memcpy(row->key, raw->user, raw->user_len);
	row->key[raw->user_len] = '\0';
	p = (char *) row + MAXALIGN(offsetof(UserRow, key) + raw->user_len + 1);
	row->u.n = n;
	row->u.keys = (char **) p;
	p += MAXALIGN(sizeof(char *) * n);
	if (raw->shares != NULL)
	{
		row->u.values = (double *) p;
		memcpy(p, raw->shares, sizeof(double) * n);
		p += sizeof(double) * n;
	}
	if (raw->factors != NULL)
	{
		row->u.factors = (double *) p;
		row->u.nfactors = raw->nfactors;
		memcpy(p, raw->factors, sizeof(double) * raw->nfactors);
		p += sizeof(double) * raw->nfactors;
	}
	row->u.items = (int32 *) p;
	array_iter_setup(&it, (AnyArrayType *) raw->items);
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		text	   *e = DatumGetTextPP(array_iter_next(&it, &isnull, i, -1, false, TYPALIGN_INT));
		int			item = ItemsIndexBytes(t->im, VARDATA_ANY(e), VARSIZE_ANY_EXHDR(e));

		if (item < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a row of profenrich.model_users names an item its model does not have"),
					 errhint("Retrain the model, or restore profenrich.model_users from a backup.")));
		row->u.items[i] = item;
		row->u.keys[i] = t->im->items[item];
	}
	TableInsert(t, hash_bytes((const unsigned char *) row->key, row->key_len), row);
	if (t->integers)
	{
		int64		v = 0;

		t->integers = CanonicalInteger(row->key, row->key_len, &v);
		t->low = t->n == 1 ? v : Min(t->low, v);
		t->high = t->n == 1 ? v : Max(t->high, v);
	}
}

/*
 * When every key is an integer (the usual customer id) and they are not
 * too sparse: the rows by value, t->direct[v - low], instead of the hash
 * table, and their seq in that order.  Profiles visited in the order of
 * their ids (a table filled in that order) then read the table and the
 * rankings kept by seq in order.
 */
static void
IndexByValue(UserTable *t)
{
	int64		n = 0;
	UserRow   **scanned;

	if (!t->integers || t->n == 0 || t->n >= PG_INT32_MAX || t->high - t->low >= 4 * t->n + 1024)
		return;
	t->direct = MemoryContextAllocHuge(t->cxt, sizeof(int32) * (t->high - t->low + 1));
	memset(t->direct, 0, sizeof(int32) * (t->high - t->low + 1));
	for (int64 r = 0; r < t->n; r++)
	{
		int64		v = 0;

		(void) CanonicalInteger(t->rows[r]->key, t->rows[r]->key_len, &v);
		t->direct[v - t->low] = (int32) r + 1;
	}
	/* the rows by value: the scan's order of seq, the row of value v taking seq n */
	scanned = MemoryContextAllocHuge(t->cxt, sizeof(UserRow *) * t->n);
	memcpy(scanned, t->rows, sizeof(UserRow *) * t->n);
	for (int64 v = 0; v <= t->high - t->low; v++)
		if (t->direct[v] != 0)
		{
			UserRow    *row = scanned[t->direct[v] - 1];

			row->seq = n;
			t->rows[n++] = row;
			t->direct[v] = (int32) n;
		}
	pfree(scanned);
	pfree(t->slots);
	t->slots = NULL;
}

/* Load every row of a model version (body im) and hash them by key */
static UserTable *
LoadUsers(const char *name, int version, const ItemModel *im)
{
	MemoryContext cxt = AllocSetContextCreate(GetMemoryChunkContext((void *) im),
											  "profenrich user rows", ALLOCSET_DEFAULT_SIZES);
	UserTable  *t = MemoryContextAllocZero(cxt, sizeof(UserTable));

	t->cxt = cxt;
	t->integers = true;
	t->im = im;
	t->raw.cxt = cxt;
	t->nslots = 1024;
	while (t->nslots < 2 * im->nusers)
		t->nslots *= 2;
	t->slots = MemoryContextAllocHuge(cxt, sizeof(UserSlot) * t->nslots);
	memset(t->slots, 0, sizeof(UserSlot) * t->nslots);
	PG_TRY();
	{
		UserRowsScan(name, version, TableRow, t);
		IndexByValue(t);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return t;
}

/*
 * The seq of a user's loaded row, by the bytes of its key, or -1.  By
 * value, the row is not read: a canonical integer is the only text of its
 * value, so the key needs no comparison.
 */
static int64
TableLookup(const UserTable *t, const char *user, int len)
{
	uint32		hash;
	int64		h;
	int64		v;

	if (t->direct != NULL)
		return CanonicalInteger(user, len, &v) && v >= t->low && v <= t->high ?
			(int64) t->direct[v - t->low] - 1 : -1;
	hash = hash_bytes((const unsigned char *) user, len);
	h = hash & (t->nslots - 1);
	for (; t->slots[h].row != NULL; h = (h + 1) & (t->nslots - 1))
	{
		const UserRow *row = t->slots[h].row;

		if (t->slots[h].hash == hash && row->key_len == len && memcmp(row->key, user, len) == 0)
			return row->seq;
	}
	return -1;
}

/* Whether every user row of a model fits maintenance_work_mem, by an estimate of their size */
static bool
TableFits(const ItemModel *im)
{
	double		bytes = (double) im->nusers * (sizeof(UserItems) + 8.0 * im->factors + 300);

	return bytes <= (double) maintenance_work_mem * 1024;
}

/*
 * Whether to load every user row now: the model is shared (it outlives
 * the query), this command has asked for many users, and the rows fit
 * maintenance_work_mem (by an estimate of their size in memory).
 */
static bool
WantTable(ItemsCall *c, ItemCache *cache)
{
	if (!c->shared || cache->users_failed)
		return false;
	if (cache->fetch_lxid != MyProc->lxid || cache->fetch_cid != GetCurrentCommandId(false))
	{
		cache->fetch_lxid = MyProc->lxid;
		cache->fetch_cid = GetCurrentCommandId(false);
		cache->fetches = 0;
	}
	if (++cache->fetches < BULK_AFTER)
		return false;
	if (!TableFits(c->im))
	{
		cache->users_failed = true;
		return false;
	}
	return true;
}

/*
 * The row of the user of key datum key, its items resolved (do not modify
 * it: it may be the loaded table's); false for a user the model does not
 * know.  *seq: the seq of its row in the loaded table, or -1 when it was
 * read by itself; with u NULL, only *seq is wanted (the table's row is
 * not read, and false for a user not in a loaded table).
 */
static bool
FetchUser(ItemsCall *c, Datum key, UserItems *u, int64 *seq)
{
	ItemCache  *cache = Cache(c->im);
	char		buf[KEY_BUF];
	int			len;
	const char *bytes;
	char	   *user;

	*seq = -1;
	if (cache->users == NULL && WantTable(c, cache))
		cache->users = LoadUsers(c->name, c->version, c->im);
	bytes = KeyBytes(c, key, buf, &len);
	if (cache->users != NULL)
	{
		if (!c->may_read)
			UserRowsCheckRead();
		c->may_read = true;		/* a role cannot change within the query */
		*seq = TableLookup(cache->users, bytes, len);
		if (*seq < 0)
			return false;
		if (u != NULL)
			*u = cache->users->rows[*seq]->u;
		return true;
	}
	if (u == NULL)
		return false;
	user = pnstrdup(bytes, len);
	memset(u, 0, sizeof(UserItems));
	if (!UserRowsFetch(c->name, c->version, user, u))
		return false;
	if (u->factors != NULL)
		CheckFactor(c->im, u->nfactors, user, len);
	ItemsResolve(c->im, u);
	return true;
}

/* The ranking ItemsPrepareRankings kept for row seq of t, into out; how many */
static int
RankedOf(const UserTable *t, int64 seq, RankedItem *out)
{
	const ItemScore *r = t->rank + (size_t) seq * t->rank_k;
	int			n = t->rank_n[seq];

	for (int i = 0; i < n; i++)
	{
		out[i].key = t->im->items[r[i].item];
		out[i].score = r[i].score;
	}
	return n;
}

/* Rank the rows of t with factors in batches of ALS_RANK_BATCH (ops->top_items_many) */
static void
RankAll(const Model *m, UserTable *t, int k)
{
	const UserItems *batch[ALS_RANK_BATCH];
	int64		seqs[ALS_RANK_BATCH];
	int			counts[ALS_RANK_BATCH];
	ItemScore  *out = palloc(sizeof(ItemScore) * ALS_RANK_BATCH * k);
	int			n = 0;

	for (int64 r = 0; r <= t->n; r++)
	{
		if (r < t->n && t->rows[r]->u.factors == NULL)
		{
			t->rank_n[r] = -1;
			continue;
		}
		if (r < t->n)
		{
			seqs[n] = r;
			batch[n++] = &t->rows[r]->u;
		}
		if (n == ALS_RANK_BATCH || (r == t->n && n > 0))
		{
			CHECK_FOR_INTERRUPTS();
			m->ops->top_items_many(m, batch, n, k, out, counts);
			for (int b = 0; b < n; b++)
			{
				t->rank_n[seqs[b]] = counts[b];
				memcpy(t->rank + (size_t) seqs[b] * k, out + (size_t) b * k, sizeof(ItemScore) * counts[b]);
			}
			n = 0;
		}
	}
	pfree(out);
}

/*
 * Before enrich() asks for the k best items of each of about profiles
 * rows with a model version (name, version): when the model ranks many
 * users at once faster than one by one (ALS: each batch streams the item
 * factors once, not once per user), the profiles are at least a quarter
 * of the model's users, and the model's rows and then their rankings fit
 * maintenance_work_mem, load its rows now if they are not yet, and rank
 * every user, so that each top_items call of the enrichment finds its
 * ranking made.  The rankings are kept with the rows (the backend's shared
 * model: a version's rows never change); otherwise nothing is done and
 * each profile is ranked when asked for, as any query does.
 */
void
ItemsPrepareRankings(const char *name, int version, int k, double profiles)
{
	Model	   *m = ScoreSharedModel(name, version);
	const ItemModel *im;
	ItemCache  *cache;
	UserTable  *t;
	MemoryContext old;

	if (m == NULL || ModelOutput(m) != OUTPUT_ITEMS || m->ops->top_items_many == NULL)
		return;
	im = (const ItemModel *) m->body;
	k = Min(k, im->nitems);
	cache = Cache(im);
	if (k < 1 || profiles < im->nusers / 4.0 || cache->users_failed || !TableFits(im))
		return;
	if (cache->users == NULL)
		cache->users = LoadUsers(name, version, im);
	t = cache->users;
	if (t->rank_k == k)
		return;
	/* the rows loaded and their rankings within maintenance_work_mem */
	if ((double) MemoryContextMemAllocated(t->cxt, true) - (t->rank ? GetMemoryChunkSpace(t->rank) : 0) +
		(double) t->n * (k * sizeof(ItemScore) + sizeof(int)) > (double) maintenance_work_mem * 1024)
		return;
	old = MemoryContextSwitchTo(t->cxt);
	if (t->rank != NULL)
	{
		pfree(t->rank);
		pfree(t->rank_n);
	}
	t->rank_k = 0;
	t->rank_n = MemoryContextAllocHuge(t->cxt, sizeof(int) * Max(t->n, 1));
	t->rank = MemoryContextAllocHuge(t->cxt, mul_size(sizeof(ItemScore), mul_size(Max(t->n, 1), k)));
	MemoryContextSwitchTo(old);
	RankAll(m, t, k);
	t->rank_k = k;
}

/* The keys of a ranking as text[] (lens: their lengths, or NULL) */
static Datum
KeysArray(const RankedItem *r, const int *lens, int n)
{
	char	  **s = palloc(sizeof(char *) * Max(n, 1));

	for (int i = 0; i < n; i++)
		s[i] = (char *) r[i].key;
	return ItemsTextArray(s, lens, n);
}

/* The scores of a ranking as float8[] */
static Datum
ScoresArray(const RankedItem *r, int n)
{
	double	   *v = palloc(sizeof(double) * Max(n, 1));

	for (int i = 0; i < n; i++)
		v[i] = r[i].score;
	return ItemsDoubleArray(v, n);
}

/* Is key the same value as the last ranking's (a key of this call site's type)? */
static bool
SameKey(const ItemsCall *c, const ItemCache *cache, Datum key)
{
	if (cache->last_type != c->keytype)
		return false;
	if (c->keybyval)
		return cache->last_key == key;
	if (c->keylen > 0)
		return memcmp(DatumGetPointer(cache->last_key), DatumGetPointer(key), c->keylen) == 0;
	else
	{
		struct varlena *a = (struct varlena *) DatumGetPointer(cache->last_key);
		struct varlena *b = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(key));

		return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
			memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)) == 0;
	}
}

/*
 * The ranking of a user's k best items: the family's, or the popularity
 * ranking for a user the model does not know; kept with the model for the
 * rest of the command, so the same user and k again (the other column a
 * row gets, enrich's change checks) costs a comparison of keys.
 */
static const Ranking *
RankUser(ItemsCall *c, Datum key, int k)
{
	ItemCache  *cache = Cache(c->im);
	Ranking    *r = &cache->last;
	UserItems	u;
	int64		seq;
	RankedItem *best;
	int			n;
	int		   *lens;
	MemoryContext old;

	if (cache->have_last && cache->lxid == MyProc->lxid &&
		cache->cid == GetCurrentCommandId(false) && cache->last_k == k && SameKey(c, cache, key))
		return r;
	best = palloc(sizeof(RankedItem) * k);
	/* a ranking kept for the user (ItemsPrepareRankings) needs no more of its row */
	if (cache->users != NULL && cache->users->rank_k == k && FetchUser(c, key, NULL, &seq) &&
		cache->users->rank_n[seq] >= 0)
		n = RankedOf(cache->users, seq, best);
	else if (FetchUser(c, key, &u, &seq))
		n = c->m->ops->top_items(c->m, &u, k, best);
	else
		n = c->m->ops->top_items(c->m, NULL, k, best);
	if (cache->lastcxt == NULL)
		cache->lastcxt = AllocSetContextCreate(GetMemoryChunkContext((void *) c->im),
											   "profenrich last ranking", ALLOCSET_SMALL_SIZES);
	MemoryContextReset(cache->lastcxt);
	cache->have_last = false;
	old = MemoryContextSwitchTo(cache->lastcxt);
	r->n = n;
	r->items = palloc(sizeof(RankedItem) * Max(n, 1));
	lens = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		lens[i] = strlen(best[i].key);
		r->items[i].key = pnstrdup(best[i].key, lens[i]);
		r->items[i].score = best[i].score;
	}
	r->keys = KeysArray(r->items, lens, n);
	r->scores = ScoresArray(r->items, n);
	cache->last_key = datumCopy(key, c->keybyval, c->keylen);
	MemoryContextSwitchTo(old);
	cache->last_type = c->keytype;
	cache->last_k = k;
	cache->lxid = MyProc->lxid;
	cache->cid = GetCurrentCommandId(false);
	cache->have_last = true;
	return r;
}

/* The ranking of top_items(name, user_key, k, version) and top_item_scores; NULL for NULL arguments */
static const Ranking *
TopItemsCall(FunctionCallInfo fcinfo, const char *function)
{
	ItemsCall  *c;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return NULL;
	c = CallSite(fcinfo, PG_GETARG_TEXT_PP(0), 3, 1, function);
	return RankUser(c, PG_GETARG_DATUM(1), KArg(fcinfo, 2, c->im));
}

/*
 * top_items(name text, user_key anyelement, k int DEFAULT 10, version int
 * DEFAULT NULL) returns text[]: the user's k best items.
 */
Datum
top_items(PG_FUNCTION_ARGS)
{
	const Ranking *r = TopItemsCall(fcinfo, "top_items");

	if (r == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(datumCopy(r->keys, false, -1));
}

/* top_item_scores(name, user_key, k, version) returns float8[]: their scores */
Datum
top_item_scores(PG_FUNCTION_ARGS)
{
	const Ranking *r = TopItemsCall(fcinfo, "top_item_scores");

	if (r == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(datumCopy(r->scores, false, -1));
}

/* Rows (item, score) of a ranking into the materialized result */
static void
PutRanking(ReturnSetInfo *rsinfo, const RankedItem *r, int n)
{
	for (int i = 0; i < n; i++)
	{
		Datum		values[2] = {CStringGetTextDatum(r[i].key), Float8GetDatum(r[i].score)};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* recommend(name, user_key, k DEFAULT 10) returns table (item, score) */
Datum
recommend(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ItemsCall  *c;
	const Ranking *r;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return (Datum) 0;
	c = CallSite(fcinfo, PG_GETARG_TEXT_PP(0), -1, 1, "recommend");
	r = RankUser(c, PG_GETARG_DATUM(1), KArg(fcinfo, 2, c->im));
	PutRanking(rsinfo, r->items, r->n);
	return (Datum) 0;
}

/*
 * affinity(name, user_key, item text) returns float8: the user's score for
 * one item (ALS: its predicted preference; affinity: its share); NULL for
 * a user or an item the model does not know.
 */
Datum
affinity(PG_FUNCTION_ARGS)
{
	ItemsCall  *c;
	UserItems	u;
	int64		seq;
	double		score;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	c = CallSite(fcinfo, PG_GETARG_TEXT_PP(0), -1, 1, "affinity");
	if (!FetchUser(c, PG_GETARG_DATUM(1), &u, &seq))
		PG_RETURN_NULL();
	if (!c->m->ops->item_score(c->m, &u, TextDatumGetCString(PG_GETARG_DATUM(2)), &score))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(score);
}

/*
 * affinities(name, user_key) returns table (item, share, lift): every item
 * of an affinity model's user by decreasing share, with its lift, the
 * share over the item's share of the population; no rows for a user the
 * model does not know.
 */
Datum
affinities(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ItemsCall  *c;
	UserItems	u;
	int64		seq;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	c = CallSite(fcinfo, PG_GETARG_TEXT_PP(0), -1, 1, "affinities");
	if (c->im->item_factors != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is an %s model, whose users have no shares", c->name,
						c->m->ops->name),
				 errhint("affinities takes a model trained with algorithm 'affinity'; use recommend for this one.")));
	if (!FetchUser(c, PG_GETARG_DATUM(1), &u, &seq) || u.values == NULL)
		return (Datum) 0;
	for (int i = 0; i < u.n; i++)
	{
		double		pop = u.items[i] >= 0 ? c->im->popularity[u.items[i]] : 0;
		Datum		values[3] = {CStringGetTextDatum(u.keys[i]), Float8GetDatum(u.values[i]),
		Float8GetDatum(pop > 0 ? u.values[i] / pop : 0)};
		bool		nulls[3] = {false, false, !(pop > 0)};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * similar_items(name, of_item text, k DEFAULT 10) returns table (item,
 * score): ALS, the cosine of the item factors; affinity, the Jaccard index
 * of the items' users, from the model's user rows.  No rows for an item
 * the model does not know.
 */
Datum
similar_items(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ItemsCall  *c;
	RankedItem *r;
	int			k;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return (Datum) 0;
	c = CallSite(fcinfo, PG_GETARG_TEXT_PP(0), -1, -1, "similar_items");
	k = KArg(fcinfo, 2, c->im);
	r = palloc(sizeof(RankedItem) * k);
	PutRanking(rsinfo, r, c->m->ops->similar_items(c->m, c->name, c->version,
												   TextDatumGetCString(PG_GETARG_DATUM(1)), k, r));
	return (Datum) 0;
}

/*
 * item_factors(name, version DEFAULT NULL) returns table (item,
 * popularity, factors): every item of the model in key order, with its
 * popularity and (ALS) its factor.
 */
Datum
item_factors(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ItemsCall  *c;
	const ItemModel *im;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	c = CallSite(fcinfo, PG_GETARG_TEXT_PP(0), 1, -1, "item_factors");
	im = c->im;
	for (int i = 0; i < im->nitems; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, im->item_factors == NULL};

		values[0] = CStringGetTextDatum(im->items[i]);
		values[1] = Float8GetDatum(im->popularity[i]);
		values[2] = (Datum) 0;
		if (im->item_factors != NULL)
		{
			Datum	   *d = palloc(sizeof(Datum) * im->factors);

			for (int j = 0; j < im->factors; j++)
				d[j] = Float8GetDatum(im->item_factors[(size_t) i * im->factors + j]);
			values[2] = PointerGetDatum(construct_array(d, im->factors, FLOAT8OID, 8,
														FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Fold-in: top_items_for(name, item, weight, k) over one user's interactions
 * ---------------------------------------------------------------------
 */

/* The interactions of one group, as they come */
typedef struct FoldState
{
	char	   *name;			/* NULL until a row names the model */
	int			k;
	bool		null_args;		/* a row had a NULL name or k: the result is NULL */
	Oid			keytype;
	FmgrInfo	keyout;
	int			n;
	int			cap;
	char	  **keys;
	double	   *weights;
} FoldState;

/* The state of the group, made on its first row */
static FoldState *
FoldStateGet(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	FoldState  *s;
	Oid			outfn;
	bool		isvarlena;

	if (!PG_ARGISNULL(0))
		return (FoldState *) PG_GETARG_POINTER(0);
	s = MemoryContextAllocZero(aggcxt, sizeof(FoldState));
	s->keytype = get_fn_expr_argtype(fcinfo->flinfo, 2);
	if (!OidIsValid(s->keytype))
		elog(ERROR, "could not determine the type of the item");
	getTypeOutputInfo(s->keytype, &outfn, &isvarlena);
	fmgr_info_cxt(outfn, &s->keyout, aggcxt);
	s->cap = 16;
	s->keys = MemoryContextAlloc(aggcxt, sizeof(char *) * s->cap);
	s->weights = MemoryContextAlloc(aggcxt, sizeof(double) * s->cap);
	return s;
}

/* Remember the model name and k of the group's rows: the same in each */
static void
FoldArgs(FunctionCallInfo fcinfo, FoldState *s, MemoryContext aggcxt)
{
	char	   *name;
	int			k;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(4))
	{
		s->null_args = true;
		return;
	}
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	k = PG_GETARG_INT32(4);
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be 1 or more, not %d", k),
				 errhint("Ask for the number of items wanted, such as 10.")));
	if (s->name == NULL)
	{
		s->name = MemoryContextStrdup(aggcxt, name);
		s->k = k;
	}
	else if (strcmp(s->name, name) != 0 || s->k != k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("top_items_for takes one model name and one k per group"),
				 errhint("Pass constants for the name and k.")));
}

/*
 * top_items_for_trans(state, name, item, weight, k): add one interaction
 * (a NULL item or weight is none); weights must be 0 or more.
 */
Datum
top_items_for_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MemoryContext old;
	FoldState  *s;
	double		w;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "top_items_for_trans called in non-aggregate context");
	s = FoldStateGet(fcinfo, aggcxt);
	FoldArgs(fcinfo, s, aggcxt);
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(s);
	w = PG_GETARG_FLOAT8(3);
	if (!(w >= 0) || isinf(w))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("an interaction's weight must be a finite number of 0 or more, not %g", w),
				 errhint("Filter such rows out of the aggregate's input.")));
	old = MemoryContextSwitchTo(aggcxt);
	if (s->n == s->cap)
	{
		s->cap *= 2;
		s->keys = repalloc_huge(s->keys, sizeof(char *) * s->cap);
		s->weights = repalloc_huge(s->weights, sizeof(double) * s->cap);
	}
	s->keys[s->n] = s->keytype == TEXTOID || s->keytype == VARCHAROID ?
		TextDatumGetCString(PG_GETARG_DATUM(2)) : OutputFunctionCall(&s->keyout, PG_GETARG_DATUM(2));
	s->weights[s->n++] = w;
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

/* (key, weight) order for merging one user's interactions */
typedef struct KeyWeight
{
	char	   *key;
	double		w;
	int			at;
} KeyWeight;

static int
ByKeyThenArrival(const void *a, const void *b)
{
	const KeyWeight *x = (const KeyWeight *) a;
	const KeyWeight *y = (const KeyWeight *) b;
	int			c = strcmp(x->key, y->key);

	return c != 0 ? c : (x->at < y->at ? -1 : x->at > y->at);
}

/* The group's interactions as a user: each item once, its weights summed (in arrival order), zero sums left out */
static void
FoldUser(const FoldState *s, UserItems *u)
{
	KeyWeight  *kw = palloc(sizeof(KeyWeight) * Max(s->n, 1));

	for (int i = 0; i < s->n; i++)
	{
		kw[i].key = s->keys[i];
		kw[i].w = s->weights[i];
		kw[i].at = i;
	}
	qsort(kw, s->n, sizeof(KeyWeight), ByKeyThenArrival);
	memset(u, 0, sizeof(UserItems));
	u->keys = palloc(sizeof(char *) * Max(s->n, 1));
	u->values = palloc(sizeof(double) * Max(s->n, 1));
	for (int i = 0; i < s->n;)
	{
		char	   *key = kw[i].key;
		double		sum = 0;

		for (; i < s->n && strcmp(kw[i].key, key) == 0; i++)
			sum += kw[i].w;
		if (sum > 0)
		{
			u->keys[u->n] = key;
			u->values[u->n++] = sum;
		}
	}
}

/* The ranking of a group: its user folded in against the model; -1 for a NULL result */
static int
FoldRanking(FunctionCallInfo fcinfo, RankedItem **out)
{
	FoldState  *s;
	ItemsCall  *c;
	UserItems	u;
	int			k;

	if (PG_ARGISNULL(0))
		return -1;
	s = (FoldState *) PG_GETARG_POINTER(0);
	if (s->null_args || s->name == NULL)
		return -1;
	c = CallSite(fcinfo, cstring_to_text(s->name), -1, -1, "top_items_for");
	k = Min(s->k, c->im->nitems);
	FoldUser(s, &u);
	ItemsResolve(c->im, &u);
	c->m->ops->fold_in(c->m, &u);
	*out = palloc(sizeof(RankedItem) * k);
	return c->m->ops->top_items(c->m, &u, k, *out);
}

/* top_items_for(name, item, weight, k): the group's user's k best items */
Datum
top_items_for_final(PG_FUNCTION_ARGS)
{
	RankedItem *r;
	int			n = FoldRanking(fcinfo, &r);

	if (n < 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(KeysArray(r, NULL, n));
}

/* top_item_scores_for(name, item, weight, k): their scores */
Datum
top_item_scores_for_final(PG_FUNCTION_ARGS)
{
	RankedItem *r;
	int			n = FoldRanking(fcinfo, &r);

	if (n < 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(ScoresArray(r, n));
}
