/*-------------------------------------------------------------------------
 * groups.c
 *	  The groups of a model per group: a table from a group's text to its
 *	  index, and a group's text in flat states and params.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "libpq/pqformat.h"

#include "groups.h"

/* An empty table in the current memory context; max_groups 0: no limit */
void
GroupTableInit(GroupTable *t, int max_groups, const char *column)
{
	memset(t, 0, sizeof(GroupTable));
	t->cap = 16;
	t->keys = palloc(sizeof(char *) * t->cap);
	t->lens = palloc(sizeof(int) * t->cap);
	t->hashes = palloc(sizeof(uint32) * t->cap);
	t->nslots = 64;
	t->slots = palloc0(sizeof(int) * t->nslots);
	t->max_groups = max_groups;
	t->column = column;
	t->last = -1;
}

/* Place index i in a slot table of nslots */
static void
SlotPut(int *slots, int nslots, uint32 hash, int i)
{
	uint32		h = hash & (nslots - 1);

	while (slots[h] != 0)
		h = (h + 1) & (nslots - 1);
	slots[h] = i + 1;
}

/* The index of a group's text, or -1 */
int
GroupFind(GroupTable *t, const char *key, int len)
{
	uint32		hash;
	uint32		h;

	if (t->last >= 0 && t->lens[t->last] == len && memcmp(t->keys[t->last], key, len) == 0)
		return t->last;
	hash = hash_bytes((const unsigned char *) key, len);
	for (h = hash & (t->nslots - 1); t->slots[h] != 0; h = (h + 1) & (t->nslots - 1))
	{
		int			i = t->slots[h] - 1;

		if (t->hashes[i] == hash && t->lens[i] == len && memcmp(t->keys[i], key, len) == 0)
		{
			t->last = i;
			return i;
		}
	}
	return -1;
}

/* Refuse one group more than max_groups */
static void
TooManyGroups(const GroupTable *t)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("group_by column \"%s\" has more than %d values", t->column ? t->column : "?",
					t->max_groups),
			 errdetail("A model is trained for each value, all of them in the training pass's memory."),
			 errhint("Group by a column with fewer values, or raise the option max_groups (at most %d).",
					 GROUPS_LIMIT)));
}

/*
 * The index of a group's text, a new group (in the current memory context)
 * if it has none; more than max_groups is an error.
 */
int
GroupAdd(GroupTable *t, const char *key, int len)
{
	int			i = GroupFind(t, key, len);

	if (i >= 0)
		return i;
	if (len > GROUP_KEY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a value of group_by column \"%s\" is %d bytes long, more than %d",
						t->column ? t->column : "?", len, GROUP_KEY_MAX),
				 errhint("Group by a column of short values, such as a code.")));
	if (t->max_groups > 0 && t->n >= t->max_groups)
		TooManyGroups(t);
	if (t->n == t->cap)
	{
		t->cap *= 2;
		t->keys = repalloc(t->keys, sizeof(char *) * t->cap);
		t->lens = repalloc(t->lens, sizeof(int) * t->cap);
		t->hashes = repalloc(t->hashes, sizeof(uint32) * t->cap);
	}
	i = t->n++;
	t->keys[i] = pnstrdup(key, len);
	t->lens[i] = len;
	t->hashes[i] = hash_bytes((const unsigned char *) key, len);
	if (t->n * 2 > t->nslots)
	{
		pfree(t->slots);
		t->nslots *= 2;
		t->slots = palloc0(sizeof(int) * t->nslots);
		for (int k = 0; k < t->n; k++)
			SlotPut(t->slots, t->nslots, t->hashes[k], k);
	}
	else
		SlotPut(t->slots, t->nslots, t->hashes[i], i);
	t->last = i;
	return i;
}

/* Bytes of a group's text in a flat form: its length, then its bytes */
Size
GroupKeyBytes(int len)
{
	return 4 + (Size) len;
}

void
GroupWriteKey(PartialWriter *w, const char *key, int len)
{
	PartialPut32(w, (uint32) len);
	PartialPutBytes(w, key, len);
}

/* A group's text from a flat form, refused (invalid) when out of range */
char *
GroupReadKey(StringInfo buf, int *len, void (*invalid) (const char *))
{
	if (buf->len - buf->cursor < 4)
		invalid("a group ends early");
	*len = pq_getmsgint(buf, 4);
	if (*len < 0 || *len > GROUP_KEY_MAX || *len > buf->len - buf->cursor)
		invalid("a group's length is out of range");
	return pnstrdup(pq_getmsgbytes(buf, *len), *len);
}
