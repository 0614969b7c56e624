/*-------------------------------------------------------------------------
 * interactions.c
 *	  Read the interactions of an item model once, and build the matrix of
 *	  summed weights by user and item.
 *
 * The read is one query, SELECT user, item [, weight] [, time] FROM source,
 * run with the caller's privileges (row-level security and column grants
 * apply); its rows arrive in a DestReceiver, so no result set is built.
 * A plain table the caller may read whole, without row-level security, is
 * read instead by a scan of its heap, as the lifetime-value trainer does.
 * Keys are counted by their binary image (one hash probe per row, no
 * conversion); only each distinct key is then turned into text with its
 * type's output function, and keys whose texts coincide are merged, so a
 * key is its text whatever its type.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "interactions.h"
#include "profenrich.h"

#define PROGRESS_MS 10000

/*
 * Distinct keys of one column by their binary image, in the order first
 * seen.  Keys passed by value whose values, as integers, span a range of
 * at most DIRECT_MAX (user and item ids) are found by value in a table
 * over that range, one load, instead of hashed.
 */
#define DIRECT_MAX (1 << 21)	/* the most entries of the table by value */

typedef struct KeyDict
{
	int16		typlen;
	bool		typbyval;
	Oid			typid;
	bool		hashed;			/* by hash (by value while false) */
	int64		low;			/* by value: the table covers low .. low + span - 1 */
	int64		span;
	int32	   *direct;			/* key index + 1 by value - low, 0 when none */
	int64		nslots;			/* a power of two */
	int32	   *slots;			/* key index + 1, 0 when empty */
	uint32	   *hashes;			/* per key */
	int32		n;
	int32		cap;
	Datum	   *datum;			/* per key: by value, or a copy in the dictionary */
	MemoryContext cxt;
} KeyDict;

/* The reading state: the receiver, the dictionaries and the growing rows */
typedef struct Reader
{
	DestReceiver pub;
	const InteractionColumns *cols;
	int			pos[4];			/* slot positions of user, item, weight, time (-1: none) */
	int			natts;			/* attributes to deform */
	KeyDict		users;
	KeyDict		items;
	FeatureConv weight_conv;
	Interactions *out;
	int64		cap;
	Size		limit;			/* bytes: profenrich.max_train_memory */
	MemoryContext cxt;			/* where the rows live */
	MemoryContext rowcxt;		/* detoasted keys of one row */
	TimestampTz last_notice;
	int64		seen;
} Reader;

/* Refuse a key column whose type has no equality */
static void
CheckKeyColumn(const Source *src, const char *name, const char *role)
{
	AttrNumber	att = SourceColumn(src, name);
	Oid			type;

	if (att == 0)
		SourceNoColumn(src, name, role);
	type = TupleDescAttr(src->tupdesc, att - 1)->atttypid;
	if (!OidIsValid(lookup_type_cache(type, TYPECACHE_EQ_OPR)->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s column \"%s\" has type %s, which has no equality", role, name,
						format_type_be(type)),
				 errhint("Cast the column to text in a view and train on the view.")));
}

/*
 * Check the columns: user and item exist and have an equality, the
 * weight is numeric, the time a date or a timestamp.
 */
void
InteractionsCheckColumns(const Source *src, const InteractionColumns *cols)
{
	CheckKeyColumn(src, cols->user, "user");
	CheckKeyColumn(src, cols->item, "item");
	if (cols->weight)
	{
		AttrNumber	att = SourceColumn(src, cols->weight);

		if (att == 0)
			SourceNoColumn(src, cols->weight, "weight");
		if (FeatureKindForConv(ColumnConv(src, att, "weight")) != FEATURE_NUMERIC)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("weight column \"%s\" must be numeric", cols->weight),
					 errhint("Use an integer, float or numeric column, or cast it in a view.")));
	}
	if (cols->time)
	{
		AttrNumber	att = SourceColumn(src, cols->time);
		Oid			type;

		if (att == 0)
			SourceNoColumn(src, cols->time, "time");
		type = TupleDescAttr(src->tupdesc, att - 1)->atttypid;
		if (type != DATEOID && type != TIMESTAMPOID && type != TIMESTAMPTZOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("time column \"%s\" has type %s, not a date or timestamp",
							cols->time, format_type_be(type)),
					 errhint("Use a date, timestamp or timestamptz column, or cast it in a view.")));
	}
}

/* An empty dictionary for keys of a type */
static void
DictInit(KeyDict *d, Oid typid, MemoryContext cxt)
{
	memset(d, 0, sizeof(KeyDict));
	d->typid = typid;
	get_typlenbyval(typid, &d->typlen, &d->typbyval);
	d->cxt = cxt;
	d->hashed = !d->typbyval;
	d->nslots = 1024;
	d->slots = MemoryContextAllocZero(cxt, sizeof(int32) * d->nslots);
	d->cap = 512;
	d->hashes = MemoryContextAlloc(cxt, sizeof(uint32) * d->cap);
	d->datum = MemoryContextAlloc(cxt, sizeof(Datum) * d->cap);
}

/* The bytes that identify a key datum (detoasted into the current context) */
static inline const char *
KeyBytes(const KeyDict *d, Datum *v, int *len)
{
	if (d->typbyval)
	{
		*len = sizeof(Datum);
		return (const char *) v;
	}
	if (d->typlen > 0)
	{
		*len = d->typlen;
		return DatumGetPointer(*v);
	}
	else
	{
		struct varlena *p = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(*v));

		*len = VARSIZE_ANY_EXHDR(p);
		return VARDATA_ANY(p);
	}
}

/* Double the hash slots and place every key again */
static void
DictGrow(KeyDict *d)
{
	int64		nslots = d->nslots * 2;
	int32	   *slots = MemoryContextAllocHuge(d->cxt, sizeof(int32) * nslots);

	memset(slots, 0, sizeof(int32) * nslots);
	for (int32 k = 0; k < d->n; k++)
	{
		int64		h = d->hashes[k] & (nslots - 1);

		while (slots[h] != 0)
			h = (h + 1) & (nslots - 1);
		slots[h] = k + 1;
	}
	pfree(d->slots);
	d->slots = slots;
	d->nslots = nslots;
}

/* Keep a copy of a new key's datum: by value as it is, else its bytes as a plain value */
static Datum
DictCopy(KeyDict *d, Datum v, const char *bytes, int len)
{
	char	   *p;

	if (d->typbyval)
		return v;
	if (d->typlen > 0)
	{
		p = MemoryContextAlloc(d->cxt, d->typlen);
		memcpy(p, bytes, d->typlen);
		return PointerGetDatum(p);
	}
	p = MemoryContextAlloc(d->cxt, VARHDRSZ + len);
	SET_VARSIZE(p, VARHDRSZ + len);
	memcpy(VARDATA(p), bytes, len);
	return PointerGetDatum(p);
}

/* The bytes of key k, as KeyBytes gives them */
static inline const char *
DictKeyBytes(const KeyDict *d, int32 k, int *len)
{
	return KeyBytes(d, &d->datum[k], len);
}

/* Room for one more key */
static void
DictRoom(KeyDict *d)
{
	if (d->n < d->cap)
		return;
	if (d->cap >= PG_INT32_MAX / 4)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("more than %d distinct users or items", PG_INT32_MAX / 4),
				 errhint("Train on fewer users or items.")));
	d->cap *= 2;
	d->hashes = repalloc_huge(d->hashes, sizeof(uint32) * d->cap);
	d->datum = repalloc_huge(d->datum, sizeof(Datum) * d->cap);
}

/* Hash of a by-value key: its bits mixed (the finalizer of MurmurHash3) */
static inline uint32
DatumHash(Datum v)
{
	uint64		h = (uint64) v;

	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (uint32) h;
}

/* The index of a by-value key (integers, dates...) by hash, adding it when new */
static inline int32
DictLookupByHash(KeyDict *d, Datum v)
{
	uint32		hash = DatumHash(v);
	int64		h = hash & (d->nslots - 1);
	int32		k;

	while (d->slots[h] != 0)
	{
		k = d->slots[h] - 1;
		if (d->datum[k] == v)
			return k;
		h = (h + 1) & (d->nslots - 1);
	}
	DictRoom(d);
	k = d->n++;
	d->hashes[k] = hash;
	d->datum[k] = v;
	d->slots[h] = k + 1;
	if ((int64) d->n * 10 > d->nslots * 7)
		DictGrow(d);
	return k;
}

/*
 * Hash the keys found by value so far and find them so from now on: the
 * values spread too far for a table over their range
 */
static void
DictToHash(KeyDict *d)
{
	int32		n = d->n;

	d->hashed = true;
	d->n = 0;
	for (int32 k = 0; k < n; k++)
		(void) DictLookupByHash(d, d->datum[k]);
	Assert(d->n == n);
	if (d->direct != NULL)
		pfree(d->direct);
	d->direct = NULL;
}

/*
 * Widen the table by value to cover x (keeping its entries, with room to
 * grow on the side that grew), or give it up for hashing when its range
 * would pass DIRECT_MAX entries; whether x is now covered.  A sparse
 * table is kept: only the entries of keys found are ever touched, so it
 * costs memory (at most DIRECT_MAX entries, counted against
 * max_train_memory), not cache, and judging the density from the first
 * few keys would hash ids spread evenly over a range they fill later.
 */
static bool
DictWiden(KeyDict *d, int64 x)
{
	int64		low,
				span;
	int32	   *direct;

	if (x < -(int64) DIRECT_MAX * 1024 || x > (int64) DIRECT_MAX * 1024)
	{
		DictToHash(d);
		return false;
	}
	if (d->direct == NULL)
	{
		low = x - 512;
		span = 1024;
	}
	else
	{
		int64		need_low = Min(d->low, x);
		int64		need_high = Max(d->low + d->span - 1, x);
		int64		need = need_high - need_low + 1;

		if (need > DIRECT_MAX)
		{
			DictToHash(d);
			return false;
		}
		span = Min(DIRECT_MAX, Max(need, 2 * d->span));
		low = x < d->low ? need_high - span + 1 : need_low;
	}
	direct = MemoryContextAllocZero(d->cxt, sizeof(int32) * span);
	if (d->direct != NULL)
	{
		memcpy(direct + (d->low - low), d->direct, sizeof(int32) * d->span);
		pfree(d->direct);
	}
	d->direct = direct;
	d->low = low;
	d->span = span;
	return true;
}

/* The index of a by-value key, adding it when new: by value while the values allow */
static inline int32
DictLookupByValue(KeyDict *d, Datum v)
{
	int64		x = (int64) v;
	int32		k;

	if (d->hashed || ((d->direct == NULL || x < d->low || x >= d->low + d->span) && !DictWiden(d, x)))
		return DictLookupByHash(d, v);
	k = d->direct[x - d->low] - 1;
	if (k >= 0)
		return k;
	DictRoom(d);
	k = d->n++;
	d->datum[k] = v;
	d->direct[x - d->low] = k + 1;
	return k;
}

/* The index of a key, adding it when new */
static int32
DictLookup(KeyDict *d, Datum v)
{
	int			len;
	const char *bytes;
	uint32		hash;
	int64		h;
	int32		k;

	if (d->typbyval)
		return DictLookupByValue(d, v);
	bytes = KeyBytes(d, &v, &len);
	hash = hash_bytes((const unsigned char *) bytes, len);
	h = hash & (d->nslots - 1);
	while (d->slots[h] != 0)
	{
		int			klen;
		const char *kb;

		k = d->slots[h] - 1;
		if (d->hashes[k] == hash)
		{
			kb = DictKeyBytes(d, k, &klen);
			if (klen == len && memcmp(kb, bytes, len) == 0)
				return k;
		}
		h = (h + 1) & (d->nslots - 1);
	}
	DictRoom(d);
	k = d->n++;
	d->hashes[k] = hash;
	d->datum[k] = DictCopy(d, v, bytes, len);
	d->slots[h] = k + 1;
	if ((int64) d->n * 10 > d->nslots * 7)
		DictGrow(d);
	return k;
}

/* The memory the rows and dictionaries take, in bytes */
static Size
ReaderBytes(const Reader *r, int64 cap)
{
	Size		row = sizeof(int32) * 2 + sizeof(double) + (r->cols->time ? sizeof(int64) : 0);

	return (Size) cap * row + (Size) (r->users.cap + r->items.cap) * 64 +
		(Size) (r->users.span + r->items.span) * sizeof(int32);
}

/* Room for more rows, within profenrich.max_train_memory */
static void
ReaderGrow(Reader *r)
{
	Interactions *o = r->out;
	int64		cap = r->cap == 0 ? 65536 : r->cap * 2;

	if (ReaderBytes(r, cap) > r->limit)
	{
		cap = r->cap + r->cap / 4 + 1024;
		if (ReaderBytes(r, cap) > r->limit)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the interactions need more than %zu kB, profenrich.max_train_memory is %d kB",
							ReaderBytes(r, cap) / 1024, profenrich_max_train_memory),
					 errdetail("%lld rows were read.", (long long) o->n),
					 errhint("Raise profenrich.max_train_memory, or train on fewer rows.")));
	}
	if (cap > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("more than %d interactions", PG_INT32_MAX),
				 errhint("Train on fewer rows, or aggregate them by user and item first.")));
	if (r->cap == 0)
	{
		o->user = MemoryContextAllocHuge(r->cxt, sizeof(int32) * cap);
		o->item = MemoryContextAllocHuge(r->cxt, sizeof(int32) * cap);
		o->weight = MemoryContextAllocHuge(r->cxt, sizeof(double) * cap);
		if (r->cols->time)
			o->time = MemoryContextAllocHuge(r->cxt, sizeof(int64) * cap);
	}
	else
	{
		o->user = repalloc_huge(o->user, sizeof(int32) * cap);
		o->item = repalloc_huge(o->item, sizeof(int32) * cap);
		o->weight = repalloc_huge(o->weight, sizeof(double) * cap);
		if (r->cols->time)
			o->time = repalloc_huge(o->time, sizeof(int64) * cap);
	}
	r->cap = cap;
}

/* A weight that is negative, NaN or infinite */
static void
BadWeight(const char *column, double w)
{
	if (isnan(w) || isinf(w))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("weight column \"%s\" holds %s", column, isnan(w) ? "NaN" : "an infinite value"),
				 errhint("Filter such rows out, or train on a view that replaces them.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("weight column \"%s\" holds a negative value (%g)", column, w),
			 errhint("Weights must be 0 or more: filter the rows or train on a view.")));
}

/* The time of a row in microseconds, refusing infinite values */
static int64
RowTime(const Reader *r, Datum v)
{
	int64		t;

	if (r->out->time_type == DATEOID)
	{
		DateADT		d = DatumGetDateADT(v);

		if (DATE_NOT_FINITE(d))
			t = PG_INT64_MAX;
		else
			t = (int64) d * USECS_PER_DAY;
	}
	else
		t = DatumGetTimestamp(v);
	if (t == PG_INT64_MAX || TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time column \"%s\" holds an infinite value", r->cols->time),
				 errhint("Filter such rows out, or train on a view that replaces them.")));
	return t;
}

/* A NOTICE at a human rate while the rows come in */
static void
ReaderProgress(Reader *r)
{
	TimestampTz now;

	if ((++r->seen & ((1 << 20) - 1)) != 0)
		return;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(r->last_notice, now, PROGRESS_MS))
		return;
	r->last_notice = now;
	ereport(NOTICE,
			(errmsg("profenrich: read %lld interactions (%d users, %d items so far)",
					(long long) r->seen, r->users.n, r->items.n)));
}

/* One row: its keys counted, its weight checked, kept unless a value is NULL */
static inline void
AddRow(Reader *r, TupleTableSlot *slot)
{
	Interactions *o = r->out;
	const int  *pos = r->pos;
	double		w = 1.0;
	MemoryContext old;

	slot_getsomeattrs(slot, r->natts);
	ReaderProgress(r);
	if (slot->tts_isnull[pos[0]] || slot->tts_isnull[pos[1]] ||
		(pos[2] >= 0 && slot->tts_isnull[pos[2]]) || (pos[3] >= 0 && slot->tts_isnull[pos[3]]))
	{
		o->skipped++;
		return;
	}
	if (pos[2] >= 0)
	{
		w = FeatureDatumToDouble(slot->tts_values[pos[2]], r->weight_conv);
		if (!(w >= 0) || isinf(w))
			BadWeight(r->cols->weight, w);
	}
	if (o->n == r->cap)
		ReaderGrow(r);
	if (pos[3] >= 0)
	{
		o->time[o->n] = RowTime(r, slot->tts_values[pos[3]]);
		o->time_max = Max(o->time_max, o->time[o->n]);
	}
	if (r->users.typbyval && r->items.typbyval)
	{
		o->user[o->n] = DictLookup(&r->users, slot->tts_values[pos[0]]);
		o->item[o->n] = DictLookup(&r->items, slot->tts_values[pos[1]]);
	}
	else
	{
		old = MemoryContextSwitchTo(r->rowcxt);
		o->user[o->n] = DictLookup(&r->users, slot->tts_values[pos[0]]);
		o->item[o->n] = DictLookup(&r->items, slot->tts_values[pos[1]]);
		MemoryContextSwitchTo(old);
		MemoryContextReset(r->rowcxt);
	}
	o->weight[o->n] = w;
	o->n++;
}

/* The query's row */
static bool
ReceiveRow(TupleTableSlot *slot, DestReceiver *self)
{
	AddRow((Reader *) self, slot);
	return true;
}

/* The dictionaries and conversions for columns of these types */
static void
ReaderTypes(Reader *r, TupleDesc desc)
{
	DictInit(&r->users, TupleDescAttr(desc, r->pos[0])->atttypid, r->cxt);
	DictInit(&r->items, TupleDescAttr(desc, r->pos[1])->atttypid, r->cxt);
	if (r->pos[2] >= 0)
		r->weight_conv = FeatureConvForType(TupleDescAttr(desc, r->pos[2])->atttypid);
	if (r->pos[3] >= 0)
		r->out->time_type = TupleDescAttr(desc, r->pos[3])->atttypid;
}

/* Start of the query's rows: its columns are user, item, then weight and time if read */
static void
ReceiveStartup(DestReceiver *self, int operation, TupleDesc desc)
{
	Reader	   *r = (Reader *) self;
	int			n = 2;

	r->pos[0] = 0;
	r->pos[1] = 1;
	r->pos[2] = r->cols->weight ? n++ : -1;
	r->pos[3] = r->cols->time ? n++ : -1;
	r->natts = n;
	ReaderTypes(r, desc);
}

static void
ReceiveShutdown(DestReceiver *self)
{
}

static void
ReceiveDestroy(DestReceiver *self)
{
}

/*
 * A key's text and its dictionary index, sorted by text: the first eight
 * bytes, big-endian and zero-padded, compare as the text does (a text has
 * no zero byte), so most comparisons need not follow the pointer.
 */
typedef struct KeyText
{
	uint64		prefix;
	char	   *text;
	int32		k;
} KeyText;

/* Byte order of the texts, then the dictionary order */
static inline int
KeyTextCompare(const KeyText *x, const KeyText *y)
{
	int			c;

	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	/* equal prefixes: equal texts unless both run past eight bytes */
	c = (x->prefix & 0xFF) != 0 ? strcmp(x->text + 8, y->text + 8) : 0;
	return c != 0 ? c : (x->k < y->k ? -1 : x->k > y->k);
}

#define ST_SORT SortKeyTexts
#define ST_ELEMENT_TYPE KeyText
#define ST_COMPARE(a, b) KeyTextCompare(a, b)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* The first eight bytes of a text, big-endian, zero-padded */
static uint64
TextPrefix(const char *s, int len)
{
	uint64		p = 0;

	for (int i = 0; i < 8; i++)
		p = (p << 8) | (i < len ? (unsigned char) s[i] : 0);
	return p;
}

/* Room for len bytes in the texts' arena (chunks of TEXT_CHUNK bytes) */
#define TEXT_CHUNK (64 * 1024)

static char *
TextRoom(char **chunk, Size *left, int len)
{
	char	   *p;

	if ((Size) len + 1 > *left)
	{
		*left = Max(TEXT_CHUNK, (Size) len + 1);
		*chunk = palloc(*left);
	}
	p = *chunk;
	*chunk += len + 1;
	*left -= len + 1;
	return p;
}

/*
 * The text of key k: as its type's output function prints it, integers
 * formatted directly into the arena
 */
static char *
KeyTextOf(const KeyDict *d, int32 k, FmgrInfo *out, char **chunk, Size *left, int *len)
{
	char		buf[24];
	char	   *t;

	switch (d->typid)
	{
		case INT2OID:
			*len = pg_itoa(DatumGetInt16(d->datum[k]), buf);
			break;
		case INT4OID:
			*len = pg_ltoa(DatumGetInt32(d->datum[k]), buf);
			break;
		case INT8OID:
			*len = pg_lltoa(DatumGetInt64(d->datum[k]), buf);
			break;
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *v = DatumGetTextPP(d->datum[k]);

				*len = VARSIZE_ANY_EXHDR(v);
				t = TextRoom(chunk, left, *len);
				memcpy(t, VARDATA_ANY(v), *len);
				t[*len] = '\0';
				return t;
			}
		default:
			t = OutputFunctionCall(out, d->datum[k]);
			*len = strlen(t);
			return t;
	}
	t = TextRoom(chunk, left, *len);
	memcpy(t, buf, *len + 1);
	return t;
}

/* The index of a key among sorted keys, -1 if absent */
int
KeySearch(char *const *keys, int n, const char *key)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = strcmp(keys[mid], key);

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
 * The text of every key of a dictionary, sorted and without duplicates
 * (two binary images may print alike: then they are one key); map[k] is
 * the sorted index of dictionary key k.
 */
static char **
DictTexts(const KeyDict *d, int *n, int32 *map)
{
	KeyText    *kt = palloc_extended(sizeof(KeyText) * Max(d->n, 1), MCXT_ALLOC_HUGE);
	char	  **sorted = palloc_extended(sizeof(char *) * Max(d->n, 1), MCXT_ALLOC_HUGE);
	int			m = 0;
	FmgrInfo	out;
	Oid			outfn;
	bool		isvarlena;
	char	   *chunk = NULL;
	Size		left = 0;

	getTypeOutputInfo(d->typid, &outfn, &isvarlena);
	fmgr_info(outfn, &out);
	for (int32 k = 0; k < d->n; k++)
	{
		int			len;

		kt[k].text = KeyTextOf(d, k, &out, &chunk, &left, &len);
		kt[k].prefix = TextPrefix(kt[k].text, len);
		kt[k].k = k;
		if ((k & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	SortKeyTexts(kt, d->n);
	for (int32 j = 0; j < d->n; j++)
	{
		if (m == 0 || strcmp(sorted[m - 1], kt[j].text) != 0)
			sorted[m++] = kt[j].text;
		map[kt[j].k] = m - 1;
	}
	pfree(kt);
	*n = m;
	return sorted;
}

/*
 * Whether the source can be read by a scan of its heap instead of a
 * query: a plain table without inheritance children and without row-level
 * security for the caller, who may read every column read (as the query
 * would require).  The scan spares the executor's work per row, the bulk
 * of the read for a narrow table.
 */
static bool
DirectScanAllowed(const Source *src, const InteractionColumns *cols)
{
	const char *names[4] = {cols->user, cols->item, cols->weight, cols->time};
	Oid			user = GetUserId();

	if (get_rel_relkind(src->relid) != RELKIND_RELATION || has_subclass(src->relid) ||
		check_enable_rls(src->relid, InvalidOid, true) == RLS_ENABLED)
		return false;
	if (pg_class_aclcheck(src->relid, user, ACL_SELECT) == ACLCHECK_OK)
		return true;
	for (int i = 0; i < 4; i++)
		if (names[i] && pg_attribute_aclcheck(src->relid, SourceColumn(src, names[i]), user,
											  ACL_SELECT) != ACLCHECK_OK)
			return false;		/* the query raises the permission error */
	return true;
}

/* Read a plain table by a heap scan at the active snapshot */
static void
ReadDirect(const Source *src, Reader *r)
{
	Relation	rel = table_open(src->relid, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	const char *names[4] = {r->cols->user, r->cols->item, r->cols->weight, r->cols->time};
	int64		n = 0;

	r->natts = 0;
	for (int i = 0; i < 4; i++)
	{
		r->pos[i] = names[i] ? SourceColumn(src, names[i]) - 1 : -1;
		r->natts = Max(r->natts, r->pos[i] + 1);
	}
	ReaderTypes(r, RelationGetDescr(rel));
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		AddRow(r, slot);
		if ((++n & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);
}

/* Read by the query SELECT user, item [, weight] [, time] FROM source */
static void
ReadQuery(const Source *src, Reader *r)
{
	const InteractionColumns *cols = r->cols;
	StringInfoData sql;
	SPIExecuteOptions opts;
	int			rc;

	r->pub.receiveSlot = ReceiveRow;
	r->pub.rStartup = ReceiveStartup;
	r->pub.rShutdown = ReceiveShutdown;
	r->pub.rDestroy = ReceiveDestroy;
	r->pub.mydest = DestNone;
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT pe_src.%s, pe_src.%s", quote_identifier(cols->user),
					 quote_identifier(cols->item));
	if (cols->weight)
		appendStringInfo(&sql, ", pe_src.%s", quote_identifier(cols->weight));
	if (cols->time)
		appendStringInfo(&sql, ", pe_src.%s", quote_identifier(cols->time));
	if (src->query)
		appendStringInfo(&sql, " FROM (%s) AS pe_src", src->query_text);	/* train_query */
	else
		appendStringInfo(&sql, " FROM %s AS pe_src", src->qualname);
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
	opts.dest = &r->pub;
	rc = SPI_execute_extended(sql.data, &opts);
	MemoryContextSwitchTo(r->cxt);
	if (rc < 0)
		elog(ERROR, "reading the interactions failed (%s): %s", SPI_result_code_string(rc), sql.data);
	if (r->users.cxt == NULL)	/* no startup: cannot happen for a SELECT */
		elog(ERROR, "the interactions query returned no row description");
}

/*
 * Read the interactions: one query, rows into arrays by key index, keys
 * then turned into sorted text and the rows renumbered.  Rows with a NULL
 * user, item, weight or time are skipped and counted.
 */
void
InteractionsRead(const Source *src, const InteractionColumns *cols, Interactions *out)
{
	Reader		r;
	int32	   *umap,
			   *imap;

	memset(out, 0, sizeof(Interactions));
	memset(&r, 0, sizeof(Reader));
	r.cols = cols;
	r.out = out;
	r.cxt = CurrentMemoryContext;
	r.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "profenrich key", ALLOCSET_SMALL_SIZES);
	r.limit = (Size) profenrich_max_train_memory * 1024;
	r.last_notice = GetCurrentTimestamp();
	out->time_max = PG_INT64_MIN;
	if (DirectScanAllowed(src, cols))
		ReadDirect(src, &r);
	else
		ReadQuery(src, &r);
	MemoryContextDelete(r.rowcxt);
	umap = palloc(sizeof(int32) * Max(r.users.n, 1));
	imap = palloc(sizeof(int32) * Max(r.items.n, 1));
	out->users = DictTexts(&r.users, &out->nusers, umap);
	out->items = DictTexts(&r.items, &out->nitems, imap);
	for (int64 j = 0; j < out->n; j++)
	{
		out->user[j] = umap[out->user[j]];
		out->item[j] = imap[out->item[j]];
	}
	pfree(umap);
	pfree(imap);
}

/*
 * (item, row, weight) of one user's rows, for a stable sort by item: the
 * weight travels with its row, so the sums read no other array
 */
typedef struct ItemRow
{
	int32		item;
	int32		row;
	double		w;
} ItemRow;

static int
ByItemRow(const void *a, const void *b)
{
	const ItemRow *x = (const ItemRow *) a;
	const ItemRow *y = (const ItemRow *) b;

	if (x->item != y->item)
		return x->item < y->item ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

/*
 * The matrix of summed weights by user and item: row w[j] of each kept
 * row j (keep NULL: every row) added to its pair, in the order read;
 * pairs whose weights sum to 0 are left out.  Each user's items come in
 * ascending order.
 */
void
InteractionsMatrix(const Interactions *in, const double *w, const bool *keep, AlsMatrix *m)
{
	int64	   *start = palloc0(sizeof(int64) * (in->nusers + 1));
	ItemRow    *byuser = palloc_extended(sizeof(ItemRow) * Max(in->n, 1), MCXT_ALLOC_HUGE);
	int64		nnz = 0;

	for (int64 j = 0; j < in->n; j++)
		if (keep == NULL || keep[j])
			start[in->user[j] + 1]++;
	for (int u = 0; u < in->nusers; u++)
		start[u + 1] += start[u];
	{
		int64	   *next = palloc(sizeof(int64) * Max(in->nusers, 1));

		memcpy(next, start, sizeof(int64) * in->nusers);
		for (int64 j = 0; j < in->n; j++)
			if (keep == NULL || keep[j])
			{
				int64		at = next[in->user[j]]++;

				byuser[at].item = in->item[j];
				byuser[at].row = (int32) j;
				byuser[at].w = w[j];
			}
		pfree(next);
	}
	m->nrows = in->nusers;
	m->ptr = palloc0(sizeof(int64) * (in->nusers + 1));
	m->col = palloc_extended(sizeof(int32) * Max(start[in->nusers], 1), MCXT_ALLOC_HUGE);
	m->conf = palloc_extended(sizeof(double) * Max(start[in->nusers], 1), MCXT_ALLOC_HUGE);
	for (int u = 0; u < in->nusers; u++)
	{
		ItemRow    *g = byuser + start[u];
		int64		n = start[u + 1] - start[u];

		if ((u & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		if (n > 32)
			qsort(g, n, sizeof(ItemRow), ByItemRow);
		else
			for (int64 a = 1; a < n; a++)	/* insertion sort: most users have few rows */
				for (int64 b = a; b > 0 && ByItemRow(&g[b - 1], &g[b]) > 0; b--)
				{
					ItemRow		t = g[b];

					g[b] = g[b - 1];
					g[b - 1] = t;
				}
		for (int64 e = 0; e < n;)
		{
			int32		item = g[e].item;
			double		sum = 0;

			for (; e < n && g[e].item == item; e++)
				sum += g[e].w;
			if (sum > 0)
			{
				m->col[nnz] = item;
				m->conf[nnz++] = sum;
			}
		}
		m->ptr[u + 1] = nnz;
	}
	m->nnz = nnz;
	pfree(start);
	pfree(byuser);
}
