/*-------------------------------------------------------------------------
 * score.c
 *	  profenrich.score(name, row): the deployed model's prediction for a row.
 *
 * The model is looked up once per query and call site and kept in
 * fn_extra, with the row's column positions.  A composite argument would
 * make the executor build a whole tuple per row (PostgreSQL 15 deforms and
 * re-forms it), so the planner support function rewrites score(name, t),
 * t a whole-row reference to a table or view, into score_columns(name,
 * names, col1, col2, ...): each row then costs a few argument fetches and
 * a dot product.  The rewrite passes every column a model could read and
 * the model is still resolved at execution, so a new deployment never
 * makes a cached plan stale.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/supportnodes.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "features.h"
#include "model.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(score);
PG_FUNCTION_INFO_V1(score_columns);
PG_FUNCTION_INFO_V1(score_support);

typedef struct ScoreCache
{
	text	   *name;			/* the model name the cache holds */
	Model	   *model;
	int			version;
	FeatureReader reader;
} ScoreCache;

/* The cache for this call site, (re)loaded when the model name changes */
static ScoreCache *
ScoreCacheGet(FunctionCallInfo fcinfo, text *name)
{
	ScoreCache *c = (ScoreCache *) fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;

	if (c != NULL && VARSIZE_ANY_EXHDR(c->name) == VARSIZE_ANY_EXHDR(name) &&
		memcmp(VARDATA_ANY(c->name), VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)) == 0)
		return c;
	c = MemoryContextAllocZero(mcxt, sizeof(ScoreCache));
	c->model = RegistryLoad(text_to_cstring(name), 0, &c->version, mcxt);
	c->name = (text *) MemoryContextAlloc(mcxt, VARSIZE_ANY(name));
	memcpy(c->name, name, VARSIZE_ANY(name));
	FeatureReaderInit(&c->reader, mcxt);
	fcinfo->flinfo->fn_extra = c;
	return c;
}

/*
 * score(name text, row record) returns float8
 */
Datum
score(PG_FUNCTION_ARGS)
{
	ScoreCache *c = ScoreCacheGet(fcinfo, PG_GETARG_TEXT_PP(0));
	double		result;

	FeatureReaderLoadComposite(&c->reader, c->model->spec, PG_GETARG_HEAPTUPLEHEADER(1),
							   false, false);
	if (!ModelScoreRow(c->model, &c->reader, &result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}

/*
 * score_columns(name text, names text[], VARIADIC "any") returns float8:
 * the row as one argument per named column.  NULL when the name is NULL,
 * or when every column is (the NULL row of an outer join), as score()
 * would give for a NULL row.
 */
Datum
score_columns(PG_FUNCTION_ARGS)
{
	ScoreCache *c;
	double		result;
	bool		allnull = true;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	for (int i = 2; i < PG_NARGS() && allnull; i++)
		allnull = PG_ARGISNULL(i);
	if (allnull)
		PG_RETURN_NULL();
	c = ScoreCacheGet(fcinfo, PG_GETARG_TEXT_PP(0));
	FeatureReaderBindArgs(&c->reader, c->model->spec, fcinfo, 1, false, false);
	FeatureReaderLoadArgs(&c->reader, fcinfo, 1);
	if (!ModelScoreRow(c->model, &c->reader, &result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}

/* OID of profenrich.score_columns(text, text[], VARIADIC "any") */
static Oid
ScoreColumnsOid(void)
{
	Oid			argtypes[3] = {TEXTOID, TEXTARRAYOID, ANYOID};

	return LookupFuncName(list_make2(makeString("profenrich"), makeString("score_columns")),
						  3, argtypes, false);
}

/*
 * Planner support for score(): rewrite score(name, t) for a whole-row
 * reference t of a table, view or subquery with a named row type into
 * score_columns(name, names, columns...), passing every column of a type
 * a model can read.  Anything else is left as it is.
 */
Datum
score_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	Var		   *row;
	TupleDesc	desc;
	List	   *args;
	Datum	   *names;
	int			n = 0;
	FuncExpr   *call;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	if (list_length(req->fcall->args) != 2 || !IsA(lsecond(req->fcall->args), Var))
		PG_RETURN_POINTER(NULL);
	row = (Var *) lsecond(req->fcall->args);
	if (row->varattno != 0 || row->vartype == RECORDOID || !type_is_rowtype(row->vartype))
		PG_RETURN_POINTER(NULL);
	desc = lookup_rowtype_tupdesc_noerror(row->vartype, -1, true);
	if (desc == NULL)
		PG_RETURN_POINTER(NULL);
	names = palloc(sizeof(Datum) * Max(desc->natts, 1));
	args = list_make2(linitial(req->fcall->args), NULL);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || FeatureConvForType(att->atttypid) == CONV_NONE)
			continue;
		names[n++] = CStringGetTextDatum(NameStr(att->attname));
		args = lappend(args, makeVar(row->varno, att->attnum, att->atttypid, att->atttypmod,
									 att->attcollation, row->varlevelsup));
	}
	ReleaseTupleDesc(desc);
	if (n == 0 || n > FUNC_MAX_ARGS - 2)
		PG_RETURN_POINTER(NULL);
	lsecond(args) = makeConst(TEXTARRAYOID, -1, InvalidOid, -1,
							  PointerGetDatum(construct_array(names, n, TEXTOID, -1, false,
															  TYPALIGN_INT)),
							  false, false);
	call = makeFuncExpr(ScoreColumnsOid(), FLOAT8OID, args, InvalidOid,
						req->fcall->inputcollid, COERCE_EXPLICIT_CALL);
	call->location = req->fcall->location;
	PG_RETURN_POINTER(call);
}
