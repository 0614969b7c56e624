/*-------------------------------------------------------------------------
 * partial.c
 *	  Aggregate states of type bytea, expanded while an aggregate updates
 *	  them (see partial.h), and the argument types of an aggregate's
 *	  support function when Citus calls it without a call expression.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "utils/memutils.h"

#include "partial.h"

static Size PartialGetFlatSize(ExpandedObjectHeader *eohptr);
static void PartialFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size);

static const ExpandedObjectMethods PartialMethods = {
	PartialGetFlatSize,
	PartialFlattenInto
};

/* Refuse bytes that cannot be a state of the kind (a caller's or a worker's) */
void
PartialInvalid(const PartialKind *kind, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid %s state: %s", kind->name, why),
			 errhint("Pass a state that profenrich.%s built, unchanged, from the same release.",
					 kind->name)));
}

/* The aggregate context of the call, or NULL outside an aggregate */
MemoryContext
PartialAggContext(FunctionCallInfo fcinfo)
{
	MemoryContext aggcxt;

	if (AggCheckCallContext(fcinfo, &aggcxt) == 0)
		return NULL;
	return aggcxt;
}

/* EOM get_flat_size: the varlena header and the family's payload */
static Size
PartialGetFlatSize(ExpandedObjectHeader *eohptr)
{
	PartialState *ps = (PartialState *) eohptr;

	ps->flat = ps->kind->flat_size(ps->state);
	if (ps->flat > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the %s state would take %zu MB as a value, more than the 1 GB a value can hold",
						ps->kind->name, ps->flat / (1024 * 1024)),
				 errhint("Train on fewer features or groups.")));
	return VARHDRSZ + ps->flat;
}

/* EOM flatten_into: the bytes get_flat_size just sized */
static void
PartialFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	PartialState *ps = (PartialState *) eohptr;

	if (allocated_size != VARHDRSZ + ps->flat)
		elog(ERROR, "%s state flattened into %zu bytes, not %zu", ps->kind->name,
			 allocated_size, VARHDRSZ + ps->flat);
	SET_VARSIZE(result, allocated_size);
	ps->kind->flatten(ps->state, VARDATA(result), ps->flat);
}

/*
 * A new object of the kind, its state still NULL: in a child context of
 * the aggregate context, which is where nodeAgg and Citus look for a
 * read-write object they may keep without copying; outside an aggregate,
 * under the current context.  The caller builds the state in ps->cxt.
 */
PartialState *
PartialNew(FunctionCallInfo fcinfo, const PartialKind *kind)
{
	MemoryContext aggcxt = PartialAggContext(fcinfo);
	MemoryContext cxt = AllocSetContextCreate(aggcxt ? aggcxt : CurrentMemoryContext,
											  "profenrich aggregate state",
											  ALLOCSET_DEFAULT_SIZES);
	PartialState *ps = MemoryContextAllocZero(cxt, sizeof(PartialState));

	EOH_init_header(&ps->hdr, &PartialMethods, cxt);
	ps->kind = kind;
	ps->cxt = cxt;
	return ps;
}

/* The object of a datum when it is an expanded state of this kind, else NULL */
static PartialState *
OwnObject(Datum d, const PartialKind *kind)
{
	PartialState *ps;

	if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
		return NULL;
	ps = (PartialState *) DatumGetEOHP(d);
	if (ps->hdr.eoh_methods != &PartialMethods || ps->kind != kind)
		return NULL;
	return ps;
}

/*
 * The state of argument argno as an object the caller may update.
 * in_place (transition and combine functions, their first argument): the
 * aggregate's own read-write object is returned as it is.  Anything else
 * (a flat bytea, a read-only pointer, a caller's value) is validated and
 * expanded into a new object: the argument itself is never modified.
 * NULL for SQL NULL.
 */
PartialState *
PartialArg(FunctionCallInfo fcinfo, int argno, const PartialKind *kind, bool in_place)
{
	Datum		d;
	PartialState *ps;
	bytea	   *flat;
	MemoryContext old;

	if (PG_ARGISNULL(argno))
		return NULL;
	d = PG_GETARG_DATUM(argno);
	if (in_place && VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)))
	{
		MemoryContext aggcxt = PartialAggContext(fcinfo);

		ps = OwnObject(d, kind);
		if (ps != NULL && aggcxt != NULL && MemoryContextGetParent(ps->cxt) == aggcxt)
			return ps;
	}
	/* detoasting flattens an expanded object into a copy */
	flat = (bytea *) PG_DETOAST_DATUM_PACKED(d);
	ps = PartialNew(fcinfo, kind);
	old = MemoryContextSwitchTo(ps->cxt);
	ps->state = kind->expand(VARDATA_ANY(flat), VARSIZE_ANY_EXHDR(flat));
	MemoryContextSwitchTo(old);
	return ps;
}

/*
 * The state of argument argno to read only (a combine function's second
 * argument, a final function's): an expanded state of the kind as it is,
 * other bytes validated and expanded in the current memory context.
 */
void *
PartialPeek(FunctionCallInfo fcinfo, int argno, const PartialKind *kind)
{
	Datum		d;
	PartialState *ps;
	bytea	   *flat;

	if (PG_ARGISNULL(argno))
		return NULL;
	d = PG_GETARG_DATUM(argno);
	ps = OwnObject(d, kind);
	if (ps != NULL)
		return ps->state;
	flat = (bytea *) PG_DETOAST_DATUM_PACKED(d);
	return kind->expand(VARDATA_ANY(flat), VARSIZE_ANY_EXHDR(flat));
}

/* The state's flat bytes, in the current memory context */
bytea *
PartialFlat(PartialState *ps)
{
	Size		size = EOH_get_flat_size(&ps->hdr);
	bytea	   *b = palloc(size);

	EOH_flatten_into(&ps->hdr, b, size);
	return b;
}

/*
 * What a transition or combine function returns: inside an aggregate the
 * read-write object (kept by nodeAgg and Citus without a copy), outside
 * one the flat bytes, the object then freed.
 */
Datum
PartialResult(FunctionCallInfo fcinfo, PartialState *ps)
{
	bytea	   *b;

	if (PartialAggContext(fcinfo) != NULL)
		return EOHPGetRWDatum(&ps->hdr);
	b = PartialFlat(ps);
	MemoryContextDelete(ps->cxt);
	PG_RETURN_BYTEA_P(b);
}

/*
 * The combine function of a kind: the second state (argument 1, a plain
 * bytea or an object, read without copying) merged into the first, which
 * is updated in place, in its own context; the second alone when the
 * first is NULL, NULL when both are.
 */
Datum
PartialCombine(FunctionCallInfo fcinfo, const PartialKind *kind)
{
	PartialState *a = PartialArg(fcinfo, 0, kind, true);
	void	   *b;
	MemoryContext old;

	if (a == NULL)
	{
		a = PartialArg(fcinfo, 1, kind, false);
		if (a == NULL)
			PG_RETURN_NULL();
		return PartialResult(fcinfo, a);
	}
	b = PartialPeek(fcinfo, 1, kind);
	if (b != NULL)
	{
		old = MemoryContextSwitchTo(a->cxt);
		kind->merge(a->state, b);
		MemoryContextSwitchTo(old);
	}
	return PartialResult(fcinfo, a);
}

/*
 * For a family whose flat form is the bytes of a "to bytes" function:
 * flat_size makes them (in the state's context) and keeps them in *keep,
 * returning their payload size; flatten copies them out and frees them.
 */
Size
PartialFlatKeep(bytea **keep, void *state, bytea *(*make) (void *state))
{
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(state));

	if (*keep)
		pfree(*keep);
	*keep = make(state);
	MemoryContextSwitchTo(old);
	return VARSIZE(*keep) - VARHDRSZ;
}

void
PartialFlatTake(bytea **keep, char *out, Size size, const PartialKind *kind)
{
	if (*keep == NULL || VARSIZE(*keep) - VARHDRSZ != size)
		elog(ERROR, "%s state flattened without its size", kind->name);
	memcpy(out, VARDATA(*keep), size);
	pfree(*keep);
	*keep = NULL;
}

/*
 * The type of argument argno of an aggregate support function.  nodeAgg
 * gives the function its call expression; Citus' worker_partial_agg calls
 * it without one, as worker_partial_agg(aggregate, ROW(arguments...)), so
 * the types come from that row expression (argno counts the state, which
 * the row does not hold).  InvalidOid when neither says.
 */
Oid
PartialArgType(FunctionCallInfo fcinfo, int argno)
{
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, argno);
	Aggref	   *aggref;
	Node	   *arg;

	if (OidIsValid(type) || argno < 1)
		return type;
	aggref = AggGetAggref(fcinfo);
	if (aggref == NULL || list_length(aggref->args) != 2)
		return InvalidOid;
	arg = (Node *) ((TargetEntry *) lsecond(aggref->args))->expr;
	if (IsA(arg, RowExpr))
	{
		List	   *args = ((RowExpr *) arg)->args;

		return argno <= list_length(args) ? exprType(list_nth(args, argno - 1)) : InvalidOid;
	}
	return argno == 1 ? exprType(arg) : InvalidOid;
}
