/*-------------------------------------------------------------------------
 * user_rows.c
 *	  The rows of profenrich.model_users: what an item model keeps per
 *	  user (model, version, user_key, items, shares, factors).
 *
 * Training writes them after the model's registry row, in the same
 * transaction, by multi-row inserts into the heap and its primary key
 * (as COPY does); scoring reads one by its primary key with a direct
 * index scan, a few microseconds, or all of a version's in one index scan
 * (UserRowsScan, each row read where it lies: UserRowsView), which is
 * what lets enrich() rank the items of every profile in one pass.  Both
 * check the table privilege a statement would need: INSERT to train,
 * SELECT to score.  drop_model() deletes them with SQL.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/arrayaccess.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "items.h"

#define USER_ROWS_BATCH 1000	/* rows per multi-row insert */
#define NCOLUMNS 6

/* The writer of one model version's rows */
struct UserRowsWriter
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;
	CommandId	cid;
	TupleTableSlot *slots[USER_ROWS_BATCH];
	int			n;
	MemoryContext batchcxt;		/* the values of the pending rows */
	Datum		model;
	int			version;
};

/* The OID of profenrich.model_users */
static Oid
ModelUsersRelid(void)
{
	Oid			relid = get_relname_relid("model_users", get_namespace_oid("profenrich", false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table profenrich.model_users does not exist"),
				 errhint("Update the extension: ALTER EXTENSION profenrich UPDATE.")));
	return relid;
}

/* Refuse the caller without the privilege a statement on the table would need */
static void
CheckPrivilege(Oid relid, AclMode mode, const char *why)
{
	if (pg_class_aclcheck(relid, GetUserId(), mode) == ACLCHECK_OK)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s profenrich.model_users", why),
			 errhint("Ask the owner for %s on profenrich.model_users: it holds what item models know about each user.",
					 mode == ACL_INSERT ? "INSERT" : "SELECT")));
}

/* Refuse a caller who may not read the rows (for the rows read before, and kept) */
void
UserRowsCheckRead(void)
{
	CheckPrivilege(ModelUsersRelid(), ACL_SELECT, "read");
}

/* Start writing the rows of a model version */
UserRowsWriter *
UserRowsBegin(const char *model, int version)
{
	UserRowsWriter *w = palloc0(sizeof(UserRowsWriter));
	Oid			relid = ModelUsersRelid();

	CheckPrivilege(relid, ACL_INSERT, "write");
	w->rel = table_open(relid, RowExclusiveLock);
	w->estate = CreateExecutorState();
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	ExecOpenIndices(w->rri, false);
	w->bistate = GetBulkInsertState();
	w->cid = GetCurrentCommandId(true);
	for (int i = 0; i < USER_ROWS_BATCH; i++)
		w->slots[i] = table_slot_create(w->rel, NULL);
	w->batchcxt = AllocSetContextCreate(CurrentMemoryContext, "profenrich user rows",
										ALLOCSET_DEFAULT_SIZES);
	w->model = CStringGetTextDatum(model);
	w->version = version;
	return w;
}

/* Insert the pending rows and their index entries */
static void
Flush(UserRowsWriter *w)
{
	MemoryContext old = MemoryContextSwitchTo(w->batchcxt);

	CHECK_FOR_INTERRUPTS();
	table_multi_insert(w->rel, w->slots, w->n, w->cid, 0, w->bistate);
	for (int i = 0; i < w->n; i++)
	{
		ExecInsertIndexTuples(w->rri, w->slots[i], w->estate, false, false, NULL, NIL);
		ExecClearTuple(w->slots[i]);
		ResetPerTupleExprContext(w->estate);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(w->batchcxt);
	w->n = 0;
}

/*
 * One user's row: its items (text keys of the given lengths), and its
 * shares (affinity) or factor (ALS), NULL when the model has none.
 */
void
UserRowsAdd(UserRowsWriter *w, const char *user, int n, char *const *items, const int *lens,
			const double *shares, int f, const double *factors)
{
	TupleTableSlot *slot = w->slots[w->n];
	MemoryContext old = MemoryContextSwitchTo(w->batchcxt);

	ExecClearTuple(slot);
	slot->tts_values[0] = w->model;
	slot->tts_values[1] = Int32GetDatum(w->version);
	slot->tts_values[2] = CStringGetTextDatum(user);
	slot->tts_values[3] = ItemsTextArray(items, lens, n);
	slot->tts_values[4] = shares ? ItemsDoubleArray(shares, n) : (Datum) 0;
	slot->tts_values[5] = factors ? ItemsDoubleArray(factors, f) : (Datum) 0;
	memset(slot->tts_isnull, 0, sizeof(bool) * NCOLUMNS);
	slot->tts_isnull[4] = shares == NULL;
	slot->tts_isnull[5] = factors == NULL;
	ExecStoreVirtualTuple(slot);
	MemoryContextSwitchTo(old);
	if (++w->n == USER_ROWS_BATCH)
		Flush(w);
}

/* Insert what is pending and close the table (its lock is kept) */
void
UserRowsEnd(UserRowsWriter *w)
{
	if (w->n > 0)
		Flush(w);
	for (int i = 0; i < USER_ROWS_BATCH; i++)
		ExecDropSingleTupleTableSlot(w->slots[i]);
	FreeBulkInsertState(w->bistate);
	ExecCloseIndices(w->rri);
	FreeExecutorState(w->estate);
	table_close(w->rel, NoLock);
	MemoryContextDelete(w->batchcxt);
}

/* Refuse a stored array that is not a one-dimensional array without NULLs */
static ArrayType *
CheckArray(Datum d)
{
	ArrayType  *a = DatumGetArrayTypeP(d);

	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a row of profenrich.model_users holds a NULL or a multidimensional array"),
				 errhint("Retrain the model, or restore profenrich.model_users from a backup.")));
	return a;
}

/* A float8[] column as n doubles (n from the array) */
static double *
StoredDoubles(Datum d, int *n)
{
	ArrayType  *a = CheckArray(d);
	double	   *v;

	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	v = palloc(sizeof(double) * Max(*n, 1));
	memcpy(v, ARR_DATA_PTR(a), sizeof(double) * *n);
	return v;
}

/* Copy a fetched row into u, in the current memory context */
static void
CopyRow(TupleTableSlot *slot, UserItems *u)
{
	ArrayType  *items;
	Datum	   *elems;
	int			n;

	slot_getallattrs(slot);
	items = CheckArray(slot->tts_values[3]);
	deconstruct_array(items, TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &n);
	u->n = n;
	u->keys = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		u->keys[i] = TextDatumGetCString(elems[i]);
	u->items = NULL;
	u->values = NULL;
	u->factors = NULL;
	u->nfactors = 0;
	if (!slot->tts_isnull[4])
	{
		int			m;

		u->values = StoredDoubles(slot->tts_values[4], &m);
		if (m != n)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a row of profenrich.model_users has %d items but %d shares", n, m),
					 errhint("Retrain the model, or restore profenrich.model_users from a backup.")));
	}
	/* the caller checks the factor's length against the model */
	if (!slot->tts_isnull[5])
		u->factors = StoredDoubles(slot->tts_values[5], &u->nfactors);
}

/* An index scan of model_users by the leading n columns of its primary key */
static IndexScanDesc
BeginScan(Relation *rel, Relation *idx, TupleTableSlot **slot, ScanKeyData *keys, int n)
{
	Oid			relid = ModelUsersRelid();
	Oid			pkey;
	IndexScanDesc scan;

	CheckPrivilege(relid, ACL_SELECT, "read");
	*rel = table_open(relid, AccessShareLock);
	pkey = RelationGetPrimaryKeyIndex(*rel);
	if (!OidIsValid(pkey))
		elog(ERROR, "profenrich.model_users has no primary key");
	*idx = index_open(pkey, AccessShareLock);
	*slot = table_slot_create(*rel, NULL);
	scan = index_beginscan(*rel, *idx, GetActiveSnapshot(), n, 0);
	index_rescan(scan, keys, n, NULL, 0);
	return scan;
}

static void
EndScan(Relation rel, Relation idx, TupleTableSlot *slot, IndexScanDesc scan)
{
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
}

/* The items of a scanned row (detoasted in the current memory context) */
ArrayType *
UserRowsItems(TupleTableSlot *slot)
{
	slot_getsomeattrs(slot, 4);
	return CheckArray(slot->tts_values[3]);
}

/*
 * An array column of a scanned row, read where it lies: a value stored
 * with a short header (most rows) is copied into *buf (grown as needed,
 * in memory context cxt) so that the array header is aligned, a
 * compressed or external one is detoasted; NULL for NULL.  Checked to be
 * one-dimensional and free of NULLs.
 */
static ArrayType *
ArrayInPlace(TupleTableSlot *slot, int att, MemoryContext cxt, char **buf, Size *cap)
{
	struct varlena *v;
	Size		size;

	if (slot->tts_isnull[att])
		return NULL;
	v = (struct varlena *) DatumGetPointer(slot->tts_values[att]);
	if (!VARATT_IS_SHORT(v))
		return CheckArray(PointerGetDatum(v));
	size = VARSIZE_SHORT(v) - VARHDRSZ_SHORT;
	if (*cap < size + VARHDRSZ)
	{
		*cap = Max(size + VARHDRSZ, 2 * *cap);
		*buf = *buf ? repalloc(*buf, *cap) : MemoryContextAlloc(cxt, *cap);
	}
	SET_VARSIZE(*buf, size + VARHDRSZ);
	memcpy(VARDATA(*buf), VARDATA_SHORT(v), size);
	return CheckArray(PointerGetDatum(*buf));
}

/*
 * A scanned row as it lies, for reading a model's rows in bulk: its user
 * key's bytes, its items array, and its shares and factor (NULL when
 * absent), valid until the next row; the share count is checked against
 * the items.
 */
void
UserRowsView(TupleTableSlot *slot, UserRowRaw *raw)
{
	text	   *user;
	ArrayType  *a;

	slot_getallattrs(slot);
	user = (text *) DatumGetPointer(slot->tts_values[2]);
	if (VARATT_IS_EXTENDED(user))
		user = pg_detoast_datum_packed(user);
	raw->user = VARDATA_ANY(user);
	raw->user_len = VARSIZE_ANY_EXHDR(user);
	raw->items = ArrayInPlace(slot, 3, raw->cxt, &raw->buf[0], &raw->cap[0]);
	if (raw->items == NULL)
		elog(ERROR, "a row of profenrich.model_users has no items");
	raw->n = ArrayGetNItems(ARR_NDIM(raw->items), ARR_DIMS(raw->items));
	a = ArrayInPlace(slot, 4, raw->cxt, &raw->buf[1], &raw->cap[1]);
	raw->shares = a ? (const double *) ARR_DATA_PTR(a) : NULL;
	if (a && ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != raw->n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a row of profenrich.model_users has %d items but %d shares", raw->n,
						ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a))),
				 errhint("Retrain the model, or restore profenrich.model_users from a backup.")));
	a = ArrayInPlace(slot, 5, raw->cxt, &raw->buf[2], &raw->cap[2]);
	raw->factors = a ? (const double *) ARR_DATA_PTR(a) : NULL;
	raw->nfactors = a ? ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) : 0;
}

/*
 * Every row of a model version, in key order: fn gets each row's slot and
 * runs in a memory context reset after each row.
 */
void
UserRowsScan(const char *model, int version, void (*fn) (TupleTableSlot *slot, void *arg),
			 void *arg)
{
	Relation	rel,
				idx;
	TupleTableSlot *slot;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "profenrich user row",
												 ALLOCSET_DEFAULT_SIZES);
	int64		n = 0;

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(model));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(version));
	scan = BeginScan(&rel, &idx, &slot, keys, 2);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		MemoryContext old = MemoryContextSwitchTo(rowcxt);

		if ((++n & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		fn(slot, arg);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	EndScan(rel, idx, slot, scan);
	MemoryContextDelete(rowcxt);
}

/*
 * The row of a user of a model version, by primary key, into u (allocated
 * in the current memory context); false when the user has none.
 */
bool
UserRowsFetch(const char *model, int version, const char *user, UserItems *u)
{
	Relation	rel,
				idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData keys[3];
	bool		found;

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(model));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(version));
	ScanKeyInit(&keys[2], 3, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(user));
	scan = BeginScan(&rel, &idx, &slot, keys, 3);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
		CopyRow(slot, u);
	EndScan(rel, idx, slot, scan);
	return found;
}
