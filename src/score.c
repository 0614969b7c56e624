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

#include <math.h>

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
PG_FUNCTION_INFO_V1(score_version);
PG_FUNCTION_INFO_V1(score_churn);
PG_FUNCTION_INFO_V1(score_conversion);
PG_FUNCTION_INFO_V1(predict_ltv);
PG_FUNCTION_INFO_V1(score_columns_for);
PG_FUNCTION_INFO_V1(percentile);

/* What an insight wrapper accepts */
#define KIND_ANY 0
#define KIND_PROPENSITY 1		/* score_churn, score_conversion: a probability */
#define KIND_VALUE 2			/* predict_ltv: a regression */

typedef struct ScoreCache
{
	text	   *name;			/* the model name the cache holds */
	int			asked;			/* the version asked for, 0 for the deployed one */
	Model	   *model;
	int			version;
	FeatureReader reader;
} ScoreCache;

/*
 * The cache for this call site, (re)loaded when the model name or version
 * changes; version 0 is the deployed one.
 */
static ScoreCache *
ScoreCacheGet(FunctionCallInfo fcinfo, text *name, int version)
{
	ScoreCache *c = (ScoreCache *) fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;

	if (c != NULL && c->asked == version &&
		VARSIZE_ANY_EXHDR(c->name) == VARSIZE_ANY_EXHDR(name) &&
		memcmp(VARDATA_ANY(c->name), VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)) == 0)
		return c;
	c = MemoryContextAllocZero(mcxt, sizeof(ScoreCache));
	c->model = RegistryLoad(text_to_cstring(name), version, &c->version, mcxt);
	c->asked = version;
	c->name = (text *) MemoryContextAlloc(mcxt, VARSIZE_ANY(name));
	memcpy(c->name, name, VARSIZE_ANY(name));
	FeatureReaderInit(&c->reader, mcxt);
	fcinfo->flinfo->fn_extra = c;
	return c;
}

/* An insight wrapper refuses a model of the other task */
static void
CheckKind(const ScoreCache *c, int kind)
{
	bool		propensity = c->model->algorithm == ALG_LOGISTIC;

	if (kind == KIND_PROPENSITY && !propensity)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, not a propensity model",
						text_to_cstring(c->name), AlgorithmName(c->model->algorithm)),
				 errhint("score_churn and score_conversion take a model trained with algorithm 'logistic'; use predict_ltv or score for this one.")));
	if (kind == KIND_VALUE && propensity)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a propensity model, not a value model",
						text_to_cstring(c->name)),
				 errhint("predict_ltv takes a regression model; use score_churn, score_conversion or score for this one.")));
}

/*
 * score(name text, row record) returns float8
 */
Datum
score(PG_FUNCTION_ARGS)
{
	ScoreCache *c = ScoreCacheGet(fcinfo, PG_GETARG_TEXT_PP(0), 0);
	double		result;

	FeatureReaderLoadComposite(&c->reader, c->model->spec, PG_GETARG_HEAPTUPLEHEADER(1),
							   false, false);
	if (!ModelScoreRow(c->model, &c->reader, &result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}

/* A version argument: positive, or NULL for the deployed version */
static int
VersionArg(FunctionCallInfo fcinfo, int argno)
{
	int			v;

	if (PG_ARGISNULL(argno))
		return 0;
	v = PG_GETARG_INT32(argno);
	if (v < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model version must be 1 or more, not %d", v),
				 errhint("Pass NULL for the deployed version.")));
	return v;
}

/* The composite-row form shared by the version overload and the wrappers */
static Datum
ScoreRecord(FunctionCallInfo fcinfo, int name_arg, int row_arg, int version, int kind)
{
	ScoreCache *c;
	double		result;

	if (PG_ARGISNULL(name_arg) || PG_ARGISNULL(row_arg))
		PG_RETURN_NULL();
	c = ScoreCacheGet(fcinfo, PG_GETARG_TEXT_PP(name_arg), version);
	CheckKind(c, kind);
	FeatureReaderLoadComposite(&c->reader, c->model->spec, PG_GETARG_HEAPTUPLEHEADER(row_arg),
							   false, false);
	if (!ModelScoreRow(c->model, &c->reader, &result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}

/* score(name text, version int, row record): a given version */
Datum
score_version(PG_FUNCTION_ARGS)
{
	return ScoreRecord(fcinfo, 0, 2, VersionArg(fcinfo, 1), KIND_ANY);
}

/* score_churn(row record, model text DEFAULT 'churn') */
Datum
score_churn(PG_FUNCTION_ARGS)
{
	return ScoreRecord(fcinfo, 1, 0, 0, KIND_PROPENSITY);
}

/* score_conversion(row record, model text DEFAULT 'conversion') */
Datum
score_conversion(PG_FUNCTION_ARGS)
{
	return ScoreRecord(fcinfo, 1, 0, 0, KIND_PROPENSITY);
}

/* predict_ltv(row record, model text DEFAULT 'ltv') */
Datum
predict_ltv(PG_FUNCTION_ARGS)
{
	return ScoreRecord(fcinfo, 1, 0, 0, KIND_VALUE);
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
	c = ScoreCacheGet(fcinfo, PG_GETARG_TEXT_PP(0), 0);
	FeatureReaderBindArgs(&c->reader, c->model->spec, fcinfo, 1, false, false);
	FeatureReaderLoadArgs(&c->reader, fcinfo, 1);
	if (!ModelScoreRow(c->model, &c->reader, &result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}

/*
 * score_columns_for(name text, version int, kind int, names text[],
 * VARIADIC "any"): what the planner turns score() with a version, and the
 * insight wrappers, into.  version NULL means the deployed one; kind is
 * 0 (any model), 1 (propensity) or 2 (value).
 */
Datum
score_columns_for(PG_FUNCTION_ARGS)
{
	ScoreCache *c;
	double		result;
	bool		allnull = true;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	for (int i = 4; i < PG_NARGS() && allnull; i++)
		allnull = PG_ARGISNULL(i);
	if (allnull)
		PG_RETURN_NULL();
	c = ScoreCacheGet(fcinfo, PG_GETARG_TEXT_PP(0), VersionArg(fcinfo, 1));
	if (unlikely(!c->reader.bound))
	{
		CheckKind(c, PG_ARGISNULL(2) ? KIND_ANY : PG_GETARG_INT32(2));
		FeatureReaderBindArgs(&c->reader, c->model->spec, fcinfo, 3, false, false);
	}
	FeatureReaderLoadArgs(&c->reader, fcinfo, 3);
	if (!ModelScoreRow(c->model, &c->reader, &result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}

/* OID of a profenrich function by name and argument types */
static Oid
ProfFunctionOid(const char *name, int nargs, Oid *argtypes)
{
	return LookupFuncName(list_make2(makeString("profenrich"), makeString((char *) name)),
						  nargs, argtypes, false);
}

/*
 * Planner support for score() and the insight wrappers: when the row is a
 * whole-row reference t of a table, view or subquery with a named row
 * type, pass it as its columns instead of a composite value, keeping every
 * column of a type a model can read:
 *   score(name, t)             -> score_columns(name, names, cols...)
 *   score(name, version, t)    -> score_columns_for(name, version, 0, names, cols...)
 *   score_churn(t, name) etc.  -> score_columns_for(name, NULL, kind, names, cols...)
 * Anything else is left as it is.
 */
Datum
score_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	FuncExpr   *f;
	char	   *fname;
	Node	   *namearg,
			   *rowarg;
	Node	   *versionarg = NULL;
	int			kind = 0;
	Var		   *row;
	TupleDesc	desc;
	List	   *cols = NIL;
	Datum	   *names;
	int			n = 0;
	FuncExpr   *call;
	Node	   *names_const;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	f = req->fcall;
	fname = get_func_name(f->funcid);
	if (fname == NULL)
		PG_RETURN_POINTER(NULL);
	if (strcmp(fname, "score") == 0 && list_length(f->args) == 2)
	{
		namearg = linitial(f->args);
		rowarg = lsecond(f->args);
	}
	else if (strcmp(fname, "score") == 0 && list_length(f->args) == 3)
	{
		namearg = linitial(f->args);
		versionarg = lsecond(f->args);
		rowarg = lthird(f->args);
	}
	else if (list_length(f->args) == 2 &&
			 (strcmp(fname, "score_churn") == 0 || strcmp(fname, "score_conversion") == 0 ||
			  strcmp(fname, "predict_ltv") == 0))
	{
		rowarg = linitial(f->args);
		namearg = lsecond(f->args);
		kind = strcmp(fname, "predict_ltv") == 0 ? KIND_VALUE : KIND_PROPENSITY;
	}
	else
		PG_RETURN_POINTER(NULL);
	if (!IsA(rowarg, Var))
		PG_RETURN_POINTER(NULL);
	row = (Var *) rowarg;
	if (row->varattno != 0 || row->vartype == RECORDOID || !type_is_rowtype(row->vartype))
		PG_RETURN_POINTER(NULL);
	desc = lookup_rowtype_tupdesc_noerror(row->vartype, -1, true);
	if (desc == NULL)
		PG_RETURN_POINTER(NULL);
	names = palloc(sizeof(Datum) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || FeatureConvForType(att->atttypid) == CONV_NONE)
			continue;
		names[n++] = CStringGetTextDatum(NameStr(att->attname));
		cols = lappend(cols, makeVar(row->varno, att->attnum, att->atttypid, att->atttypmod,
									 att->attcollation, row->varlevelsup));
	}
	ReleaseTupleDesc(desc);
	if (n == 0 || n > FUNC_MAX_ARGS - 4)
		PG_RETURN_POINTER(NULL);
	names_const = (Node *) makeConst(TEXTARRAYOID, -1, InvalidOid, -1,
									 PointerGetDatum(construct_array(names, n, TEXTOID, -1, false,
																	 TYPALIGN_INT)),
									 false, false);
	if (versionarg == NULL && kind == 0)
	{
		Oid			argtypes[3] = {TEXTOID, TEXTARRAYOID, ANYOID};

		call = makeFuncExpr(ProfFunctionOid("score_columns", 3, argtypes), FLOAT8OID,
							list_concat(list_make2(namearg, names_const), cols), InvalidOid,
							f->inputcollid, COERCE_EXPLICIT_CALL);
	}
	else
	{
		Oid			argtypes[5] = {TEXTOID, INT4OID, INT4OID, TEXTARRAYOID, ANYOID};
		Node	   *v = versionarg ? versionarg :
			(Node *) makeConst(INT4OID, -1, InvalidOid, 4, (Datum) 0, true, true);
		Node	   *k = (Node *) makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(kind),
										   false, true);

		call = makeFuncExpr(ProfFunctionOid("score_columns_for", 5, argtypes), FLOAT8OID,
							list_concat(list_make4(namearg, v, k, names_const), cols), InvalidOid,
							f->inputcollid, COERCE_EXPLICIT_CALL);
	}
	call->location = f->location;
	PG_RETURN_POINTER(call);
}

/*
 * percentile(name, score, version DEFAULT NULL) returns smallint: the
 * percentile (1..100) of a score in the model's training population; NULL
 * for a model trained before profenrich 0.3.0, which kept no quantiles.
 */
Datum
percentile(PG_FUNCTION_ARGS)
{
	ScoreCache *c;
	int			p;
	double		s;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	s = PG_GETARG_FLOAT8(1);
	if (isnan(s))
		PG_RETURN_NULL();
	c = ScoreCacheGet(fcinfo, PG_GETARG_TEXT_PP(0), VersionArg(fcinfo, 2));
	p = ModelPercentile(c->model, s);
	if (p == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT16((int16) p);
}
