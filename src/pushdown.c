/*-------------------------------------------------------------------------
 * pushdown.c
 *	  Scoring Citus tables: a planner hook that pins the model of every
 *	  scoring call in a query over a Citus table into the query itself.
 *
 * Citus runs a query over a distributed table by sending each shard's
 * part, deparsed from the query as it was given, to the workers, which
 * have no registry: score('m', t) would look for model m there.  So before
 * Citus plans (profenrich comes after citus in shared_preload_libraries,
 * so its hook runs first), a query that reads a Citus table and calls a
 * scoring function by model name has each such call replaced by its pinned
 * form: the same call over bytea, the deployed (or asked) version's params
 * as a constant, which a worker deserializes once per call site.  A whole-
 * row reference becomes the columns form, as score's planner support
 * does.  Each model is resolved once per query, so one query never mixes
 * versions; the plan depends on profenrich.models, so a cached plan is
 * made again when the registry changes in any session.  Queries that read
 * no Citus table, parallel plans included, are left as they are.
 *
 * The item models' functions (top_items, recommend, affinity, ...) are not
 * pinned: they read the per-user rows of profenrich.model_users, which the
 * workers do not have; over a Citus table they run on the coordinator.
 *
 * Another scorer adopts it by declaring its function's pinned overload
 * (the model argument bytea, IMMUTABLE: it reads no registry) on the same
 * C function, which loads its model through ScoreCacheGet or
 * ModelFromParams when RegistryArgIsParams says so, and adding a PinRule.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/catcache.h"
#include "utils/syscache.h"

#include "citus.h"
#include "model.h"
#include "pushdown.h"
#include "registry.h"
#include "score.h"

/*
 * A scoring call the hook pins: its name and argument count, where its
 * model name, row and version are (-1: none; no version is the deployed
 * one), the kind it checks (or the argument holding a class), and what it
 * becomes: the columns form over bytea when its row is a whole-row
 * reference, else the composite form (NULL: the same function over bytea,
 * its other arguments unchanged).
 */
typedef struct PinRule
{
	const char *fname;
	int			nargs;			/* -1: VARIADIC, at least min_args */
	int			min_args;
	int			name_arg;
	int			row_arg;
	int			version_arg;
	int			kind;			/* KIND_NONE: the kind argument is kind_arg */
	int			kind_arg;		/* or the class argument of class_proba forms */
	const char *columns;		/* the columns form, (bytea, int, int|text, text[], "any") */
	const char *rowform;		/* the composite form, (bytea, int|text, record) */
	Oid			rettype;
} PinRule;

static const PinRule PinRules[] = {
	{"score", 2, 2, 0, 1, -1, KIND_ANY, -1, "score_columns_for", "score_row_for", FLOAT8OID},
	{"score", 3, 3, 0, 2, 1, KIND_ANY, -1, "score_columns_for", "score_row_for", FLOAT8OID},
	{"score_churn", 2, 2, 1, 0, -1, KIND_PROPENSITY, -1, "score_columns_for", "score_row_for", FLOAT8OID},
	{"score_conversion", 2, 2, 1, 0, -1, KIND_PROPENSITY, -1, "score_columns_for", "score_row_for", FLOAT8OID},
	{"predict_ltv", 2, 2, 1, 0, -1, KIND_VALUE, -1, "score_columns_for", "score_row_for", FLOAT8OID},
	{"predict_class", 2, 2, 0, 1, -1, KIND_CLASS, -1, "class_columns_for", "class_row_for", TEXTOID},
	{"classify_engagement", 2, 2, 1, 0, -1, KIND_ENGAGEMENT, -1, "class_columns_for", "class_row_for", TEXTOID},
	{"predict_proba", 2, 2, 0, 1, -1, KIND_CLASS, -1, "proba_columns_for", "proba_row_for", FLOAT8ARRAYOID},
	{"predict_proba", 3, 3, 0, 1, -1, KIND_CLASS, 2, "class_proba_columns_for", "class_proba_row_for", FLOAT8OID},
	/* the columns forms (score_columns becomes score_columns_for) */
	{"score_columns", -1, 3, 0, -1, -1, KIND_ANY, -1, NULL, NULL, FLOAT8OID},
	{"score_columns_for", -1, 5, 0, -1, 1, KIND_NONE, 2, NULL, NULL, FLOAT8OID},
	{"class_columns_for", -1, 5, 0, -1, 1, KIND_NONE, 2, NULL, NULL, TEXTOID},
	{"proba_columns_for", -1, 5, 0, -1, 1, KIND_NONE, 2, NULL, NULL, FLOAT8ARRAYOID},
	{"probs_columns_for", -1, 5, 0, -1, 1, KIND_NONE, 2, NULL, NULL, JSONBOID},
	{"class_proba_columns_for", -1, 5, 0, -1, 1, KIND_CLASS, -1, NULL, NULL, FLOAT8OID},
	/* segment models */
	{"segment", 2, 2, 0, 1, -1, KIND_SEGMENT, -1, "segment_columns_for", "segment_row_for", INT4OID},
	{"segment_of", 2, 2, 1, 0, -1, KIND_SEGMENT, -1, "segment_columns_for", "segment_row_for", INT4OID},
	{"segment_distance", 2, 2, 0, 1, -1, KIND_SEGMENT, -1, "segment_distance_columns_for",
	"segment_distance_row_for", FLOAT8OID},
	{"segment_columns_for", -1, 5, 0, -1, 1, KIND_NONE, 2, NULL, NULL, INT4OID},
	{"segment_distance_columns_for", -1, 5, 0, -1, 1, KIND_NONE, 2, NULL, NULL, FLOAT8OID},
	/* the other readers of a model, per row */
	{"percentile", 3, 3, 0, -1, 2, KIND_NONE, -1, NULL, NULL, INT2OID},
	{"factors", 4, 4, 0, -1, 3, KIND_NONE, -1, NULL, NULL, TEXTARRAYOID},
	{"factors_detail", 4, 4, 0, -1, 3, KIND_NONE, -1, NULL, NULL, JSONBOID},
	{"expected_purchases", 5, 5, 0, -1, -1, KIND_NONE, -1, NULL, NULL, FLOAT8OID},
	{"p_alive", 4, 4, 0, -1, -1, KIND_NONE, -1, NULL, NULL, FLOAT8OID},
	{"expected_spend", 3, 3, 0, -1, -1, KIND_NONE, -1, NULL, NULL, FLOAT8OID},
};

#define NPINRULES lengthof(PinRules)

/* The OIDs of the functions the rules match (their model argument text), found once */
static Oid *PinOids = NULL;
static int	NPinOids = 0;
static const PinRule **PinOidRules = NULL;
static bool PinCallbackSet = false;
static planner_hook_type PrevPlanner = NULL;

/* A function was created, altered or dropped: look the OIDs up again */
static void
PinInvalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	NPinOids = 0;
	if (PinOids != NULL)
	{
		pfree(PinOids);
		pfree(PinOidRules);
		PinOids = NULL;
		PinOidRules = NULL;
	}
}

/* The rule of a function OID, or NULL */
static const PinRule *
RuleOf(Oid funcid)
{
	for (int i = 0; i < NPinOids; i++)
		if (PinOids[i] == funcid)
			return PinOidRules[i];
	return NULL;
}

/*
 * Find the OIDs of profenrich's functions the rules match: by name in the
 * profenrich schema, with the rule's argument count and a text model
 * argument.  False without the extension.
 */
static bool
PinLoadOids(void)
{
	Oid			nsp;
	MemoryContext old;

	if (PinOids != NULL)
		return NPinOids > 0;
	nsp = get_namespace_oid("profenrich", true);
	if (!OidIsValid(nsp))
		return false;
	if (!PinCallbackSet)
	{
		CacheRegisterSyscacheCallback(PROCOID, PinInvalidate, (Datum) 0);
		PinCallbackSet = true;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	PinOids = palloc(sizeof(Oid) * 4 * NPINRULES);
	PinOidRules = palloc(sizeof(PinRule *) * 4 * NPINRULES);
	for (int r = 0; r < (int) NPINRULES; r++)
	{
		CatCList   *list = SearchSysCacheList1(PROCNAMEARGSNSP,
											   CStringGetDatum(PinRules[r].fname));

		for (int i = 0; i < list->n_members && NPinOids < 4 * (int) NPINRULES; i++)
		{
			Form_pg_proc p = (Form_pg_proc) GETSTRUCT(&list->members[i]->tuple);
			bool		arity = PinRules[r].nargs >= 0 ? p->pronargs == PinRules[r].nargs :
				p->provariadic != InvalidOid;

			if (p->pronamespace != nsp || !arity ||
				p->proargtypes.values[PinRules[r].name_arg] != TEXTOID)
				continue;
			PinOids[NPinOids] = p->oid;
			PinOidRules[NPinOids++] = &PinRules[r];
		}
		ReleaseSysCacheList(list);
	}
	MemoryContextSwitchTo(old);
	return NPinOids > 0;
}

/* Does an expression tree, or a query below it, call a function the rules match? */
static bool
HasPinnableCall(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && RuleOf(((FuncExpr *) node)->funcid) != NULL)
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, HasPinnableCall, context, 0);
	return expression_tree_walker(node, HasPinnableCall, context);
}

/* Does the query, or a query below it, read a Citus table? */
static bool
ReadsCitusTable(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		return rte->rtekind == RTE_RELATION && CitusTable(rte->relid);
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, ReadsCitusTable, context, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, ReadsCitusTable, context);
}

/* A model pinned in this query: each (name, version) once */
typedef struct PinnedModel
{
	char	   *name;
	int			asked;
	int			version;
	bytea	   *params;
	Model	   *model;
} PinnedModel;

typedef struct PinContext
{
	ParamListInfo params;		/* the query's bound parameters, if any */
	List	   *models;			/* PinnedModel */
} PinContext;

/* The value of a constant argument (or a bound parameter), false when it has none yet */
static bool
ArgValue(Node *arg, ParamListInfo params, Datum *value, bool *isnull)
{
	if (IsA(arg, Const))
	{
		*value = ((Const *) arg)->constvalue;
		*isnull = ((Const *) arg)->constisnull;
		return true;
	}
	if (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN && params != NULL &&
		((Param *) arg)->paramid > 0 && ((Param *) arg)->paramid <= params->numParams)
	{
		ParamExternData *p = &params->params[((Param *) arg)->paramid - 1];

		*value = p->value;
		*isnull = p->isnull;
		return OidIsValid(p->ptype);
	}
	return false;
}

/* Refuse a model name or version whose value the planner cannot know */
static void
NotConstant(const char *fname, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s over a Citus table needs its %s as a constant", fname, what),
			 errdetail("The workers have no registry: the coordinator resolves the model when it plans the query and sends it with the query, and a generic plan has no value for a parameter."),
			 errhint("Write the model name (and version) as literals, or SET plan_cache_mode = force_custom_plan for a prepared statement that passes them as parameters.")));
}

/* The model a call names, pinned once per query (and checked for the call's kind) */
static PinnedModel *
PinModel(PinContext *ctx, const PinRule *rule, FuncExpr *f)
{
	Datum		v;
	bool		isnull;
	char	   *name;
	int			asked = 0;
	ListCell   *lc;
	PinnedModel *pm;

	if (!ArgValue(list_nth(f->args, rule->name_arg), ctx->params, &v, &isnull))
		NotConstant(rule->fname, "model name");
	if (isnull)
		return NULL;
	name = TextDatumGetCString(v);
	if (rule->version_arg >= 0)
	{
		if (!ArgValue(list_nth(f->args, rule->version_arg), ctx->params, &v, &isnull))
			NotConstant(rule->fname, "version");
		asked = isnull ? 0 : DatumGetInt32(v);
		if (asked < 0 || (asked == 0 && !isnull))
			return NULL;		/* the call refuses it itself */
	}
	foreach(lc, ctx->models)
	{
		pm = (PinnedModel *) lfirst(lc);
		if (pm->asked == asked && strcmp(pm->name, name) == 0)
			return pm;
	}
	pm = palloc0(sizeof(PinnedModel));
	pm->name = name;
	pm->asked = asked;
	pm->params = RegistryPinnedParams(name, asked, &pm->version);
	pm->model = ModelDeserialize(pm->params);
	ctx->models = lappend(ctx->models, pm);
	return pm;
}

/* The kind the call checks, when the planner can know it (-1 otherwise) */
static int
CallKind(const PinRule *rule, FuncExpr *f, ParamListInfo params)
{
	Datum		v;
	bool		isnull;

	if (rule->kind != KIND_NONE)
		return rule->kind;
	if (rule->kind_arg < 0 || !ArgValue(list_nth(f->args, rule->kind_arg), params, &v, &isnull))
		return KIND_NONE;
	return isnull ? KIND_ANY : DatumGetInt32(v);
}

/* A profenrich function over the pinned argument types */
static Oid
PinnedFunction(const char *name, List *args)
{
	Oid			types[FUNC_MAX_ARGS];
	int			n = 0;
	ListCell   *lc;
	Oid			oid;

	foreach(lc, args)
	{
		Oid			t = exprType((Node *) lfirst(lc));

		/* a row of a named type is a record to the pinned forms */
		types[n++] = t != RECORDOID && type_is_rowtype(t) ? RECORDOID : t;
	}
	/* the columns forms are VARIADIC "any": their fixed arguments identify them */
	if (strstr(name, "_columns_for") != NULL)
	{
		types[4] = ANYOID;
		n = 5;
	}
	oid = LookupFuncName(list_make2(makeString("profenrich"), makeString((char *) name)), n, types,
						 true);
	if (!OidIsValid(oid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("profenrich.%s has no form over a model's params", name),
				 errdetail("Scoring a Citus table needs the pinned forms of profenrich 0.5.0."),
				 errhint("Run ALTER EXTENSION profenrich UPDATE.")));
	return oid;
}

/*
 * A call of a pinned form, with the result collation of the call it
 * replaces (a text output keeps the default collation the parser gave it)
 */
static Node *
PinnedCall(const char *name, List *args, const FuncExpr *orig, Oid rettype)
{
	Oid			collid = rettype == orig->funcresulttype ? orig->funccollid : get_typcollation(rettype);
	FuncExpr   *call = makeFuncExpr(PinnedFunction(name, args), rettype, args, collid,
									orig->inputcollid, COERCE_EXPLICIT_CALL);

	call->location = orig->location;
	return (Node *) call;
}

/*
 * The pinned form of a call: the model's params in place of its name, as
 * a bytea constant; a call of a row becomes its columns form when the row
 * is a whole-row reference, else its composite form.
 */
static Node *
PinCall(PinContext *ctx, const PinRule *rule, FuncExpr *f)
{
	PinnedModel *pm = PinModel(ctx, rule, f);
	Node	   *model;
	Node	   *version;
	Node	   *names;
	List	   *cols;
	List	   *args;
	int			kind;

	if (pm == NULL)
		return (Node *) f;
	kind = CallKind(rule, f, ctx->params);
	if (kind != KIND_NONE)
		ScoreCheckKind(pm->model, pm->name, kind);
	model = (Node *) makeConst(BYTEAOID, -1, InvalidOid, -1, PointerGetDatum(pm->params),
							   false, false);
	version = (Node *) makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(pm->version), false, true);
	if (rule->columns == NULL && strcmp(rule->fname, "score_columns") == 0)
	{
		/* score_columns(name, names, cols...): score_columns_for(model, version, 0, names, cols...) */
		args = list_make4(model, version, makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(KIND_ANY),
													false, true), lsecond(f->args));
		return PinnedCall("score_columns_for", list_concat(args, list_copy_tail(f->args, 2)), f,
						  rule->rettype);
	}
	if (rule->columns == NULL)
	{
		args = list_copy(f->args);
		list_nth_cell(args, rule->name_arg)->ptr_value = model;
		if (rule->version_arg >= 0)
			list_nth_cell(args, rule->version_arg)->ptr_value = version;
		return PinnedCall(rule->fname, args, f, rule->rettype);
	}
	{
		Node	   *extra = rule->kind_arg >= 0 ? list_nth(f->args, rule->kind_arg) :
			(Node *) makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(rule->kind), false, true);
		Node	   *row = list_nth(f->args, rule->row_arg);

		if (ScoreRowColumns(row, &names, &cols))
			return PinnedCall(rule->columns, list_concat(list_make4(model, version, extra, names), cols),
							  f, rule->rettype);
		return PinnedCall(rule->rowform, list_make3(model, extra, row), f, rule->rettype);
	}
}

/*
 * The call's arguments in position order, its defaults added: the parser
 * leaves named arguments (NamedArgExpr) and defaults to the planner, which
 * runs after this hook.  NIL when it cannot tell (then the call is left).
 */
static List *
FullArguments(FuncExpr *f)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(f->funcid));
	Form_pg_proc p;
	Node	  **pos;
	List	   *defaults = NIL;
	List	   *out = NIL;
	int			nargs,
				i = 0;
	ListCell   *lc;

	if (!HeapTupleIsValid(tup))
		return NIL;
	p = (Form_pg_proc) GETSTRUCT(tup);
	nargs = p->pronargs;
	pos = palloc0(sizeof(Node *) * Max(nargs, 1));
	foreach(lc, f->args)
	{
		Node	   *a = (Node *) lfirst(lc);
		int			at = IsA(a, NamedArgExpr) ? ((NamedArgExpr *) a)->argnumber : i;

		if (at < nargs)
			pos[at] = IsA(a, NamedArgExpr) ? (Node *) ((NamedArgExpr *) a)->arg : a;
		i++;
	}
	if (p->pronargdefaults > 0)
	{
		bool		isnull;
		Datum		d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_proargdefaults, &isnull);

		if (!isnull)
			defaults = castNode(List, stringToNode(TextDatumGetCString(d)));
	}
	for (int k = 0; k < nargs; k++)
	{
		int			d = k - (nargs - list_length(defaults));

		if (pos[k] == NULL && d >= 0)
			pos[k] = (Node *) list_nth(defaults, d);
		if (pos[k] == NULL)
		{
			ReleaseSysCache(tup);
			return NIL;
		}
		out = lappend(out, pos[k]);
	}
	ReleaseSysCache(tup);
	return out;
}

/* Replace every pinnable call of an expression tree, or of a query below it */
static Node *
PinMutator(Node *node, void *context)
{
	PinContext *ctx = (PinContext *) context;

	if (node == NULL)
		return NULL;
	if (IsA(node, Query))
		return (Node *) query_tree_mutator((Query *) node, PinMutator, context, 0);
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *f = (FuncExpr *) expression_tree_mutator(node, PinMutator, context);
		const PinRule *rule = RuleOf(f->funcid);

		if (rule != NULL && rule->nargs >= 0)
		{
			List	   *args = FullArguments(f);

			if (args == NIL)
				return (Node *) f;
			f->args = args;
		}
		if (rule != NULL && list_length(f->args) >= rule->min_args)
			return PinCall(ctx, rule, f);
		return (Node *) f;
	}
	return expression_tree_mutator(node, PinMutator, context);
}

/*
 * The planner hook: pin the models of a query over a Citus table (see the
 * file's comment), then plan it as the next hook (Citus) does, the plan
 * made to depend on the registry.
 */
static PlannedStmt *
PinPlanner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	bool		pinned = false;
	PlannedStmt *result;

	if (parse->commandType != CMD_UTILITY && CitusInstalled() && PinLoadOids() &&
		HasPinnableCall((Node *) parse, NULL) && ReadsCitusTable((Node *) parse, NULL))
	{
		PinContext	ctx = {boundParams, NIL};
		Query	   *q = query_tree_mutator(parse, PinMutator, &ctx, 0);

		*parse = *q;
		pinned = true;
	}
	result = PrevPlanner ? PrevPlanner(parse, query_string, cursorOptions, boundParams) :
		standard_planner(parse, query_string, cursorOptions, boundParams);
	if (pinned)
		result->relationOids = lappend_oid(result->relationOids, RegistryModelsRelation());
	return result;
}

/* Install the hook (from _PG_init) */
void
PushdownInit(void)
{
	PrevPlanner = planner_hook;
	planner_hook = PinPlanner;
}
