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
#include "access/xact.h"
#include "nodes/nodeFuncs.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
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

#include "clv.h"
#include "features.h"
#include "model.h"
#include "outputs.h"
#include "registry.h"
#include "score.h"

PG_FUNCTION_INFO_V1(score);
PG_FUNCTION_INFO_V1(score_columns);
PG_FUNCTION_INFO_V1(score_support);
PG_FUNCTION_INFO_V1(score_version);
PG_FUNCTION_INFO_V1(score_churn);
PG_FUNCTION_INFO_V1(score_conversion);
PG_FUNCTION_INFO_V1(predict_ltv);
PG_FUNCTION_INFO_V1(score_columns_for);
PG_FUNCTION_INFO_V1(percentile);
PG_FUNCTION_INFO_V1(expected_purchases);
PG_FUNCTION_INFO_V1(p_alive);
PG_FUNCTION_INFO_V1(expected_spend);
PG_FUNCTION_INFO_V1(predict_class);
PG_FUNCTION_INFO_V1(classify_engagement);
PG_FUNCTION_INFO_V1(predict_proba);
PG_FUNCTION_INFO_V1(predict_proba_class);
PG_FUNCTION_INFO_V1(class_columns_for);
PG_FUNCTION_INFO_V1(proba_columns_for);
PG_FUNCTION_INFO_V1(class_proba_columns_for);
PG_FUNCTION_INFO_V1(probs_columns_for);
PG_FUNCTION_INFO_V1(score_row_for);
PG_FUNCTION_INFO_V1(class_row_for);
PG_FUNCTION_INFO_V1(proba_row_for);
PG_FUNCTION_INFO_V1(class_proba_row_for);
PG_FUNCTION_INFO_V1(unseen_columns_for);
PG_FUNCTION_INFO_V1(segment);
PG_FUNCTION_INFO_V1(segment_of);
PG_FUNCTION_INFO_V1(segment_distance);
PG_FUNCTION_INFO_V1(segment_columns_for);
PG_FUNCTION_INFO_V1(segment_distance_columns_for);
PG_FUNCTION_INFO_V1(segment_row_for);
PG_FUNCTION_INFO_V1(segment_distance_row_for);

#define MODEL_NAME_KEY 256

/*
 * A call site's cache (fn_extra): the model it scores with for the whole
 * query, and how its arguments map to the model's columns.
 */
typedef struct ScoreCache
{
	text	   *name;			/* the model name the cache holds */
	char	   *label;			/* the model as messages name it */
	bool		pinned;			/* the call passes the model's params, not its name */
	const char *params_ptr;		/* the params argument last seen */
	bytea	   *params;			/* a copy of them */
	int			asked;			/* the version asked for, 0 for the deployed one */
	Model	   *model;
	int			version;
	FeatureReader reader;		/* composite rows */
	FeatureReader *args;		/* argument rows: shared, or this call site's own */
	FeatureReader *row;			/* the current row: &reader or args */
	struct SharedModel *shared;
	MemoryContext mcxt;			/* of the cache */
	double	   *probs;			/* class models: the current row's probabilities */
	char	   *class_name;		/* predict_proba(name, row, class): the class asked for */
	int			class_index;
	void	   *extra;			/* state of the call site's own function (ScoreCallSite) */
} ScoreCache;

/*
 * The backend's deserialized models, by name and version, so that a query
 * scoring one profile (the real-time case) neither reads the registry nor
 * decodes a model, nor maps its arguments anew.  Entries are dropped when
 * the registry's cache generation changes (any change to the registry,
 * any rollback); a dropped entry's memory is freed at the end of the
 * transaction, so a query never loses the model it started with.
 */
typedef struct ArgBinding
{
	struct ArgBinding *next;
	int			nargs;
	Oid		   *types;
	bytea	   *names;			/* the call site's names array, as bytes */
	FeatureReader reader;
} ArgBinding;

typedef struct SharedModel
{
	MemoryContext cxt;			/* holds the entry, its model and bindings */
	Model	   *model;
	int			version;
	ArgBinding *bindings;
	bool		retired;		/* its context is on RetiredContexts */
} SharedModel;

typedef struct SharedKey
{
	char		name[MODEL_NAME_KEY];
	int			version;
} SharedKey;

typedef struct SharedEntry
{
	SharedKey	key;
	SharedModel *model;
} SharedEntry;

static HTAB *SharedModels = NULL;
static uint64 SharedGeneration = 0;
static List *RetiredContexts = NIL;	/* in TopMemoryContext */
static bool SharedCallbackSet = false;

/* Free the retired entries once no query can still use them */
static void
SharedXactCallback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	foreach(lc, RetiredContexts)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(RetiredContexts);
	RetiredContexts = NIL;
}

/* Retire every entry (the registry changed) */
static void
SharedRetireAll(void)
{
	HASH_SEQ_STATUS seq;
	SharedEntry *e;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	hash_seq_init(&seq, SharedModels);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (!e->model->retired)	/* the deployed version is entered under its number too */
		{
			e->model->retired = true;
			RetiredContexts = lappend(RetiredContexts, e->model->cxt);
		}
	MemoryContextSwitchTo(old);
	hash_destroy(SharedModels);
	SharedModels = NULL;
}

/* The shared entry of a model version (0: deployed), loading it; NULL when not cacheable */
static SharedModel *
SharedModelGet(const char *name, int version)
{
	SharedKey	key;
	SharedEntry *e;
	SharedModel *m;
	MemoryContext cxt;
	bool		found;

	if (strlen(name) >= MODEL_NAME_KEY || !RegistryCacheUsable())
		return NULL;
	if (!SharedCallbackSet)
	{
		RegisterXactCallback(SharedXactCallback, NULL);
		SharedCallbackSet = true;
	}
	if (SharedModels != NULL && SharedGeneration != RegistryCacheGeneration())
		SharedRetireAll();
	if (SharedModels == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(SharedKey);
		ctl.entrysize = sizeof(SharedEntry);
		ctl.hcxt = TopMemoryContext;
		SharedModels = hash_create("profenrich scoring models", 16, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		SharedGeneration = RegistryCacheGeneration();
	}
	memset(&key, 0, sizeof(key));
	strlcpy(key.name, name, MODEL_NAME_KEY);
	key.version = version;
	e = hash_search(SharedModels, &key, HASH_FIND, NULL);
	if (e != NULL)
		return e->model;
	cxt = AllocSetContextCreate(TopMemoryContext, "profenrich scoring model", ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		m = MemoryContextAllocZero(cxt, sizeof(SharedModel));
		m->cxt = cxt;
		m->model = RegistryLoad(name, version, &m->version, cxt);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	/* the load may have processed an invalidation: start over next time */
	if (SharedModels == NULL || SharedGeneration != RegistryCacheGeneration())
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		RetiredContexts = lappend(RetiredContexts, cxt);
		MemoryContextSwitchTo(old);
		return m;
	}
	e = hash_search(SharedModels, &key, HASH_ENTER, &found);
	e->model = m;
	/* the deployed version serves calls that name its number too (enrich pins it) */
	if (version == 0)
	{
		key.version = m->version;
		e = hash_search(SharedModels, &key, HASH_ENTER, &found);
		if (!found)
			e->model = m;
	}
	return m;
}

/*
 * The backend's shared model of a version (0: the deployed one), loaded
 * if it is not yet, as the call sites of a query will find it; NULL when
 * it cannot be shared.
 */
Model *
ScoreSharedModel(const char *name, int version)
{
	SharedModel *m = SharedModelGet(name, version);

	return m != NULL && !m->retired ? m->model : NULL;
}

/*
 * The cache for this call site, (re)loaded when the model name or version
 * changes; version 0 is the deployed one.  It keeps its model for the
 * whole query.  A scoring call site checks, once, that the model's kind
 * is one it can score (kind KIND_NONE: no check).  The model argument
 * model_arg is a name, or in the pinned forms the planner gives queries
 * over Citus tables (pushdown.c) the model's params themselves, which the
 * call site deserializes once: a Citus worker has no registry.
 */
static void CheckKind(const ScoreCache *c, int kind);

/* Does the cache hold the model the argument names or carries? */
static bool
ScoreCacheHolds(const ScoreCache *c, Datum arg, int version)
{
	if (c->asked != version)
		return false;
	if (c->pinned)
	{
		bytea	   *p;

		if (DatumGetPointer(arg) == c->params_ptr)
			return true;
		p = DatumGetByteaPP(arg);
		return VARSIZE_ANY_EXHDR(p) == VARSIZE_ANY_EXHDR(c->params) &&
			memcmp(VARDATA_ANY(p), VARDATA_ANY(c->params), VARSIZE_ANY_EXHDR(p)) == 0;
	}
	return VARSIZE_ANY_EXHDR(c->name) == VARSIZE_ANY_EXHDR(DatumGetTextPP(arg)) &&
		memcmp(VARDATA_ANY(c->name), VARDATA_ANY(DatumGetTextPP(arg)),
			   VARSIZE_ANY_EXHDR(c->name)) == 0;
}

/* Load a pinned call site's model from the params argument */
static void
ScoreCachePin(ScoreCache *c, Datum arg, int version)
{
	bytea	   *p = DatumGetByteaPP(arg);

	c->pinned = true;
	c->params_ptr = DatumGetPointer(arg);
	c->params = MemoryContextAlloc(c->mcxt, VARSIZE_ANY(p));
	memcpy(c->params, p, VARSIZE_ANY(p));
	c->model = ModelFromParams(c->params, c->mcxt);
	c->version = version;
	c->label = version > 0 ? psprintf("(pinned, version %d)", version) : "(pinned)";
	c->label = MemoryContextStrdup(c->mcxt, c->label);
	c->name = (text *) MemoryContextAlloc(c->mcxt, VARSIZE_ANY(cstring_to_text(c->label)));
	memcpy(c->name, cstring_to_text(c->label), VARSIZE_ANY(cstring_to_text(c->label)));
}

static ScoreCache *
ScoreCacheLoad(FunctionCallInfo fcinfo, Datum arg, bool pinned, int version, int kind)
{
	ScoreCache *c = (ScoreCache *) fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;
	text	   *name;
	char	   *cname;

	if (c != NULL && ScoreCacheHolds(c, arg, version))
		return c;
	c = MemoryContextAllocZero(mcxt, sizeof(ScoreCache));
	c->mcxt = mcxt;
	c->asked = version;
	FeatureReaderInit(&c->reader, mcxt);
	if (pinned)
		ScoreCachePin(c, arg, version);
	else
	{
		name = DatumGetTextPP(arg);
		cname = text_to_cstring(name);
		c->shared = SharedModelGet(cname, version);
		if (c->shared)
		{
			c->model = c->shared->model;
			c->version = c->shared->version;
		}
		else
			c->model = RegistryLoad(cname, version, &c->version, mcxt);
		c->name = (text *) MemoryContextAlloc(mcxt, VARSIZE_ANY(name));
		memcpy(c->name, name, VARSIZE_ANY(name));
		c->label = MemoryContextStrdup(mcxt, cname);
	}
	if (kind != KIND_NONE)
		CheckKind(c, kind);
	fcinfo->flinfo->fn_extra = c;
	return c;
}

/* The cache of a call site whose argument model_arg is a model name or its params */
static ScoreCache *
ScoreCacheGet(FunctionCallInfo fcinfo, int model_arg, int version, int kind)
{
	ScoreCache *c = (ScoreCache *) fcinfo->flinfo->fn_extra;

	return ScoreCacheLoad(fcinfo, PG_GETARG_DATUM(model_arg),
						  c != NULL ? c->pinned : RegistryArgIsParams(fcinfo, model_arg),
						  version, kind);
}

/*
 * The model of a call site for the functions of other units (the item
 * outputs): the deployed version (version 0) or a given one, kept for the
 * query as score() keeps its own, from the backend's shared cache when it
 * can be (*shared says so: the model then outlives the query).  *extra is
 * a slot for the caller's state of this call site, NULL whenever the
 * cache is (re)loaded.
 */
Model *
ScoreCallSite(FunctionCallInfo fcinfo, text *name, int version, int *version_out, void ***extra,
			  bool *shared)
{
	ScoreCache *c = ScoreCacheLoad(fcinfo, PointerGetDatum(name), false, version, KIND_NONE);

	*version_out = c->version;
	*extra = &c->extra;
	*shared = c->shared != NULL;
	return c->model;
}

/* The types of a call's arguments from first on (from the call expression) */
static Oid *
ArgTypes(FunctionCallInfo fcinfo, int first, int n)
{
	Oid		   *types = palloc(sizeof(Oid) * Max(n, 1));
	Node	   *expr = fcinfo->flinfo->fn_expr;

	if (expr != NULL && IsA(expr, FuncExpr) && list_length(((FuncExpr *) expr)->args) == PG_NARGS())
	{
		int			i = 0;
		ListCell   *lc;

		foreach(lc, ((FuncExpr *) expr)->args)
		{
			if (i >= first)
				types[i - first] = exprType((Node *) lfirst(lc));
			i++;
		}
	}
	else
		for (int i = 0; i < n; i++)
			types[i] = get_fn_expr_argtype(fcinfo->flinfo, first + i);
	return types;
}

/*
 * The reader for a call whose argument names_arg names the columns that
 * follow: shared by every call site with the same names and types when the
 * model is shared, else the call site's own.  Bound once.
 */
static FeatureReader *
ArgReader(ScoreCache *c, FunctionCallInfo fcinfo, int names_arg)
{
	int			n = PG_NARGS() - names_arg - 1;
	bytea	   *names;
	Oid		   *types;
	ArgBinding *b;
	MemoryContext old;

	if (c->args != NULL)
		return c->args;
	if (c->shared == NULL || PG_ARGISNULL(names_arg))
	{
		FeatureReaderBindArgs(&c->reader, c->model->spec, fcinfo, names_arg, false, false);
		c->args = &c->reader;
		return c->args;
	}
	names = PG_GETARG_BYTEA_PP(names_arg);
	types = ArgTypes(fcinfo, names_arg + 1, n);
	for (b = c->shared->bindings; b != NULL; b = b->next)
		if (b->nargs == n && memcmp(b->types, types, sizeof(Oid) * n) == 0 &&
			VARSIZE_ANY_EXHDR(b->names) == VARSIZE_ANY_EXHDR(names) &&
			memcmp(VARDATA_ANY(b->names), VARDATA_ANY(names), VARSIZE_ANY_EXHDR(names)) == 0)
			break;
	if (b == NULL)
	{
		old = MemoryContextSwitchTo(c->shared->cxt);
		b = palloc0(sizeof(ArgBinding));
		b->nargs = n;
		b->types = palloc(sizeof(Oid) * Max(n, 1));
		memcpy(b->types, types, sizeof(Oid) * n);
		b->names = palloc(VARHDRSZ + VARSIZE_ANY_EXHDR(names));
		SET_VARSIZE(b->names, VARHDRSZ + VARSIZE_ANY_EXHDR(names));
		memcpy(VARDATA(b->names), VARDATA_ANY(names), VARSIZE_ANY_EXHDR(names));
		FeatureReaderInit(&b->reader, c->shared->cxt);
		MemoryContextSwitchTo(old);
		FeatureReaderBindArgs(&b->reader, c->model->spec, fcinfo, names_arg, false, false);
		b->next = c->shared->bindings;
		c->shared->bindings = b;
	}
	c->args = &b->reader;
	return c->args;
}

/* Is the model's score a value (a regression, a lifetime value)? */
static bool
IsValueModel(const Model *m)
{
	return ModelOutput(m) == OUTPUT_NUMBER && m->ops->score != NULL &&
		((m->spec->target != NULL && !m->spec->binary) || (m->ops->flags & ALG_VALUE));
}

/*
 * The class outputs need a model with classes (and the labels, which
 * models trained before 0.5.0 did not keep).
 */
static void
CheckClassModel(const ScoreCache *c, int kind)
{
	const Model *m = c->model;

	if (m->ops->classify == NULL || (m->nclasses == 0 && !m->spec->binary))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, not a class model", c->label,
						m->ops->name),
				 errhint("%s a model trained with algorithm 'multinomial', 'logistic' or 'gbdt' (of a class target); use score for this one.",
						 kind == KIND_ENGAGEMENT ? "classify_engagement takes" : "predict_class and predict_proba take")));
	if (m->nclasses == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" was trained before profenrich 0.5.0 and does not know its class labels",
						c->label),
				 errhint("Retrain the model; score() gives its probability meanwhile.")));
}

/* The segment outputs need a segment model */
static void
CheckSegmentModel(const ScoreCache *c)
{
	if (c->model->ops->segment == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, not a segment model", text_to_cstring(c->name),
						c->model->ops->name),
				 errhint("segment, segment_of and segment_distance take a model trained with algorithm 'kmeans'.")));
}

/*
 * A model without a score (one that gives classes or segments) is refused
 * by score() and its relatives, and an insight wrapper refuses a model of
 * another task: score_churn and score_conversion take propensity models
 * (binary classifiers), predict_ltv regressions and 'clv' models.
 */
static void
CheckKind(const ScoreCache *c, int kind)
{
	const Model *m = c->model;
	const char *alg = m->ops->name;

	if (kind < KIND_ANY || kind > KIND_SEGMENT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind must be 0 (any model), 1 (propensity), 2 (value), 3 (class), 4 (engagement), 5 (class probability) or 6 (segment), not %d", kind),
				 errhint("Call score(), score_churn(), score_conversion(), predict_ltv(), predict_class(), predict_proba(), classify_engagement() or segment(); the planner passes the kind.")));
	if (kind == KIND_CLASS || kind == KIND_ENGAGEMENT || kind == KIND_CLASS_PROB)
	{
		CheckClassModel(c, kind);
		return;
	}
	if (kind == KIND_SEGMENT)
	{
		CheckSegmentModel(c);
		return;
	}
	if (m->ops->score == NULL || ModelOutput(m) != OUTPUT_NUMBER)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, which has no score", c->label, alg),
				 errhint("%s", ModelOutput(m) == OUTPUT_CLASS ?
						 "Use predict_class() for its class or predict_proba() for the class probabilities." :
						 ModelOutput(m) == OUTPUT_SEGMENT ? "Use segment() for its segment." :
						 "Use top_items() for its items.")));
	if (kind == KIND_PROPENSITY && !m->spec->binary)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, not a propensity model",
						c->label, alg),
				 errhint("score_churn and score_conversion take a model trained with algorithm 'logistic' or a 'gbdt' model of a binary target; use score for this one.")));
	if (kind == KIND_VALUE && !IsValueModel(m))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, not a value model",
						c->label, alg),
				 errhint("predict_ltv takes a model trained with algorithm 'clv' or 'linear', or a 'gbdt' model of a numeric target; use score for this one.")));
}

/*
 * The check of CheckKind for a model the planner pins into a query over a
 * Citus table (pushdown.c), so that the error names the model there
 * rather than on a worker.
 */
void
ScoreCheckKind(Model *model, const char *name, int kind)
{
	ScoreCache	c;

	memset(&c, 0, sizeof(c));
	c.model = model;
	c.label = (char *) name;
	CheckKind(&c, kind);
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

/*
 * The row of a composite-row call: the cache of the call site, with its
 * reader on the row; NULL when the name or the row is NULL.
 */
static ScoreCache *
RowFromComposite(FunctionCallInfo fcinfo, int name_arg, int row_arg, int version, int kind)
{
	ScoreCache *c;

	if (PG_ARGISNULL(name_arg) || PG_ARGISNULL(row_arg))
		return NULL;
	c = ScoreCacheGet(fcinfo, name_arg, version, kind);
	FeatureReaderLoadComposite(&c->reader, c->model->spec, PG_GETARG_HEAPTUPLEHEADER(row_arg),
							   false, false);
	c->row = &c->reader;
	return c;
}

/*
 * The row of a call passing it as one argument per named column: the
 * model name in argument 0, the names in names_arg, the columns after it.
 * NULL when the name is NULL, or when every column is (the NULL row of an
 * outer join), as a composite call gives for a NULL row.
 */
static ScoreCache *
RowFromArgs(FunctionCallInfo fcinfo, int version, int kind, int names_arg)
{
	ScoreCache *c;
	bool		allnull = true;

	if (PG_ARGISNULL(0))
		return NULL;
	for (int i = names_arg + 1; i < PG_NARGS() && allnull; i++)
		allnull = PG_ARGISNULL(i);
	if (allnull)
		return NULL;
	c = ScoreCacheGet(fcinfo, 0, version, kind);
	c->row = ArgReader(c, fcinfo, names_arg);
	FeatureReaderLoadArgs(c->row, fcinfo, names_arg);
	return c;
}

/* The kind a *_columns_for call names (NULL: any) */
static int
KindArg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? KIND_ANY : PG_GETARG_INT32(argno);
}

/* The score of the cache's row, or SQL NULL */
static Datum
ScoreResult(FunctionCallInfo fcinfo, ScoreCache *c)
{
	double		result;

	if (c == NULL || !ModelScoreRow(c->model, c->row, &result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}

/*
 * The class probabilities of the cache's row, in its buffer, and the
 * predicted class; false when an input the model needs is NULL.
 */
static bool
Classify(ScoreCache *c, int *cls)
{
	if (c->probs == NULL)
		c->probs = MemoryContextAlloc(c->mcxt, sizeof(double) * c->model->nclasses);
	return ModelClassifyRow(c->model, c->row, c->probs, cls);
}

/* The predicted class of the cache's row as text, or SQL NULL */
static Datum
ClassResult(FunctionCallInfo fcinfo, ScoreCache *c)
{
	int			cls;

	if (c == NULL || !Classify(c, &cls))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(c->model->classes[cls]));
}

/* The class probabilities of the cache's row as float8[], or SQL NULL */
static Datum
ProbaResult(FunctionCallInfo fcinfo, ScoreCache *c)
{
	int			cls;
	Datum	   *d;

	if (c == NULL || !Classify(c, &cls))
		PG_RETURN_NULL();
	d = palloc(sizeof(Datum) * c->model->nclasses);
	for (int k = 0; k < c->model->nclasses; k++)
		d[k] = Float8GetDatum(c->probs[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, c->model->nclasses, FLOAT8OID, 8, FLOAT8PASSBYVAL,
										  TYPALIGN_DOUBLE));
}

/*
 * The probability of one named class for the cache's row, or SQL NULL;
 * the class is resolved once per call site, and one the model does not
 * have is an error.
 */
static Datum
ClassProbaResult(FunctionCallInfo fcinfo, ScoreCache *c, int class_arg)
{
	int			cls;
	char	   *name;

	if (c == NULL || PG_ARGISNULL(class_arg))
		PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(class_arg));
	if (c->class_name == NULL || strcmp(c->class_name, name) != 0)
	{
		c->class_index = -1;
		for (int k = 0; k < c->model->nclasses; k++)
			if (strcmp(c->model->classes[k], name) == 0)
				c->class_index = k;
		if (c->class_index < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model \"%s\" has no class \"%s\"", c->label, name),
					 errhint("List its classes with profenrich.classes('%s').", c->label)));
		c->class_name = MemoryContextStrdup(c->mcxt, name);
	}
	if (!Classify(c, &cls))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(c->probs[c->class_index]);
}

/* The segment of the cache's row (1..k), or SQL NULL */
static Datum
SegmentResult(FunctionCallInfo fcinfo, ScoreCache *c)
{
	int			seg;
	double		dist;

	if (c == NULL || !ModelSegmentRow(c->model, c->row, &seg, &dist))
		PG_RETURN_NULL();
	PG_RETURN_INT32(seg);
}

/* The distance of the cache's row to its segment's center, or SQL NULL */
static Datum
DistanceResult(FunctionCallInfo fcinfo, ScoreCache *c)
{
	int			seg;
	double		dist;

	if (c == NULL || !ModelSegmentRow(c->model, c->row, &seg, &dist))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(dist);
}

/* score(name text, row record) returns float8 */
Datum
score(PG_FUNCTION_ARGS)
{
	return ScoreResult(fcinfo, RowFromComposite(fcinfo, 0, 1, 0, KIND_ANY));
}

/* score(name text, version int, row record): a given version */
Datum
score_version(PG_FUNCTION_ARGS)
{
	return ScoreResult(fcinfo, RowFromComposite(fcinfo, 0, 2, VersionArg(fcinfo, 1), KIND_ANY));
}

/* score_churn(row record, model text DEFAULT 'churn') */
Datum
score_churn(PG_FUNCTION_ARGS)
{
	return ScoreResult(fcinfo, RowFromComposite(fcinfo, 1, 0, 0, KIND_PROPENSITY));
}

/* score_conversion(row record, model text DEFAULT 'conversion') */
Datum
score_conversion(PG_FUNCTION_ARGS)
{
	return ScoreResult(fcinfo, RowFromComposite(fcinfo, 1, 0, 0, KIND_PROPENSITY));
}

/* predict_ltv(row record, model text DEFAULT 'ltv') */
Datum
predict_ltv(PG_FUNCTION_ARGS)
{
	return ScoreResult(fcinfo, RowFromComposite(fcinfo, 1, 0, 0, KIND_VALUE));
}

/* predict_class(name text, row record) returns text */
Datum
predict_class(PG_FUNCTION_ARGS)
{
	return ClassResult(fcinfo, RowFromComposite(fcinfo, 0, 1, 0, KIND_CLASS));
}

/* classify_engagement(row record, model text DEFAULT 'engagement') returns text */
Datum
classify_engagement(PG_FUNCTION_ARGS)
{
	return ClassResult(fcinfo, RowFromComposite(fcinfo, 1, 0, 0, KIND_ENGAGEMENT));
}

/* predict_proba(name text, row record) returns float8[] */
Datum
predict_proba(PG_FUNCTION_ARGS)
{
	return ProbaResult(fcinfo, RowFromComposite(fcinfo, 0, 1, 0, KIND_CLASS));
}

/* predict_proba(name text, row record, class text) returns float8 */
Datum
predict_proba_class(PG_FUNCTION_ARGS)
{
	return ClassProbaResult(fcinfo, RowFromComposite(fcinfo, 0, 1, 0, KIND_CLASS), 2);
}

/* score_columns(name text, names text[], VARIADIC "any") returns float8 */
Datum
score_columns(PG_FUNCTION_ARGS)
{
	return ScoreResult(fcinfo, RowFromArgs(fcinfo, 0, KIND_ANY, 1));
}

/*
 * score_columns_for(name text, version int, kind int, names text[],
 * VARIADIC "any"): what the planner turns score() with a version, and the
 * insight wrappers, into.  version NULL means the deployed one; kind is
 * 0 (any model), 1 (propensity), 2 (value) or 5 (a class model: the
 * probability of its predicted class, as enrich writes it).
 */
Datum
score_columns_for(PG_FUNCTION_ARGS)
{
	int			kind = KindArg(fcinfo, 2);
	ScoreCache *c = RowFromArgs(fcinfo, VersionArg(fcinfo, 1), kind, 3);
	int			cls;

	if (kind != KIND_CLASS_PROB)
		return ScoreResult(fcinfo, c);
	if (c == NULL || !Classify(c, &cls))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(c->probs[cls]);
}

/*
 * class_columns_for(name, version, kind, names, VARIADIC "any") returns
 * text: predict_class (kind 3) and classify_engagement (kind 4).
 */
Datum
class_columns_for(PG_FUNCTION_ARGS)
{
	return ClassResult(fcinfo, RowFromArgs(fcinfo, VersionArg(fcinfo, 1), KindArg(fcinfo, 2), 3));
}

/* proba_columns_for(name, version, kind, names, VARIADIC "any") returns float8[] */
Datum
proba_columns_for(PG_FUNCTION_ARGS)
{
	return ProbaResult(fcinfo, RowFromArgs(fcinfo, VersionArg(fcinfo, 1), KindArg(fcinfo, 2), 3));
}

/* probs_columns_for(name, version, kind, names, VARIADIC "any") returns jsonb */
Datum
probs_columns_for(PG_FUNCTION_ARGS)
{
	ScoreCache *c = RowFromArgs(fcinfo, VersionArg(fcinfo, 1), KindArg(fcinfo, 2), 3);
	int			cls;

	if (c == NULL || !Classify(c, &cls))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(OutputProbsJson(c->model, c->probs));
}

/*
 * unseen_columns_for(name, version, names, VARIADIC "any") returns boolean:
 * whether the row holds a category the model did not see in training (in
 * a column without an "(other)" slot), whatever the model's policy for
 * it; false for the NULL row.  What enrich counts its rows_unseen by.
 */
Datum
unseen_columns_for(PG_FUNCTION_ARGS)
{
	ScoreCache *c = RowFromArgs(fcinfo, VersionArg(fcinfo, 1), KIND_NONE, 2);
	const FeatureSpec *spec;

	if (c == NULL)
		PG_RETURN_BOOL(false);
	spec = c->model->spec;
	for (int i = 0; i < spec->ncolumns; i++)
		if (spec->columns[i].kind == FEATURE_CATEGORICAL && !spec->columns[i].has_other &&
			FeatureReadLevel(c->row, spec, i) == LEVEL_UNSEEN)
			PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(false);
}

/* class_proba_columns_for(name, version, class, names, VARIADIC "any") returns float8 */
Datum
class_proba_columns_for(PG_FUNCTION_ARGS)
{
	return ClassProbaResult(fcinfo, RowFromArgs(fcinfo, VersionArg(fcinfo, 1), KIND_CLASS, 3), 2);
}

/*
 * The pinned forms of the calls whose row is not a whole-row reference
 * the planner can pass as columns (pushdown.c): the model's params, a
 * kind (or a class) and the row as a composite value.
 */

/* score_row_for(model bytea, kind int, row record) returns float8 */
Datum
score_row_for(PG_FUNCTION_ARGS)
{
	int			kind = KindArg(fcinfo, 1);
	ScoreCache *c = RowFromComposite(fcinfo, 0, 2, 0, kind);
	int			cls;

	if (kind != KIND_CLASS_PROB)
		return ScoreResult(fcinfo, c);
	if (c == NULL || !Classify(c, &cls))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(c->probs[cls]);
}

/* class_row_for(model bytea, kind int, row record) returns text */
Datum
class_row_for(PG_FUNCTION_ARGS)
{
	return ClassResult(fcinfo, RowFromComposite(fcinfo, 0, 2, 0, KindArg(fcinfo, 1)));
}

/* proba_row_for(model bytea, kind int, row record) returns float8[] */
Datum
proba_row_for(PG_FUNCTION_ARGS)
{
	return ProbaResult(fcinfo, RowFromComposite(fcinfo, 0, 2, 0, KindArg(fcinfo, 1)));
}

/* class_proba_row_for(model bytea, class text, row record) returns float8 */
Datum
class_proba_row_for(PG_FUNCTION_ARGS)
{
	return ClassProbaResult(fcinfo, RowFromComposite(fcinfo, 0, 2, 0, KIND_CLASS), 1);
}

/* segment(name text, row record) returns int */
Datum
segment(PG_FUNCTION_ARGS)
{
	return SegmentResult(fcinfo, RowFromComposite(fcinfo, 0, 1, 0, KIND_SEGMENT));
}

/* segment_of(row record, model text DEFAULT 'segments') returns int */
Datum
segment_of(PG_FUNCTION_ARGS)
{
	return SegmentResult(fcinfo, RowFromComposite(fcinfo, 1, 0, 0, KIND_SEGMENT));
}

/* segment_distance(name text, row record) returns float8 */
Datum
segment_distance(PG_FUNCTION_ARGS)
{
	return DistanceResult(fcinfo, RowFromComposite(fcinfo, 0, 1, 0, KIND_SEGMENT));
}

/*
 * segment_columns_for(name, version, kind, names, VARIADIC "any") returns
 * int: what the planner turns segment() and segment_of() into, and what
 * enrich writes into <model>_segment.
 */
Datum
segment_columns_for(PG_FUNCTION_ARGS)
{
	return SegmentResult(fcinfo, RowFromArgs(fcinfo, VersionArg(fcinfo, 1), KindArg(fcinfo, 2), 3));
}

/* segment_distance_columns_for(name, version, kind, names, VARIADIC "any") returns float8 */
Datum
segment_distance_columns_for(PG_FUNCTION_ARGS)
{
	return DistanceResult(fcinfo, RowFromArgs(fcinfo, VersionArg(fcinfo, 1), KindArg(fcinfo, 2), 3));
}

/* segment_row_for(model bytea, kind int, row record) returns int: the pinned form of segment() */
Datum
segment_row_for(PG_FUNCTION_ARGS)
{
	return SegmentResult(fcinfo, RowFromComposite(fcinfo, 0, 2, 0, KindArg(fcinfo, 1)));
}

/* segment_distance_row_for(model bytea, kind int, row record) returns float8 */
Datum
segment_distance_row_for(PG_FUNCTION_ARGS)
{
	return DistanceResult(fcinfo, RowFromComposite(fcinfo, 0, 2, 0, KindArg(fcinfo, 1)));
}

/* OID of a profenrich function by name and argument types */
static Oid
ProfFunctionOid(const char *name, int nargs, Oid *argtypes)
{
	return LookupFuncName(list_make2(makeString("profenrich"), makeString((char *) name)),
						  nargs, argtypes, false);
}

/*
 * The calls the planner support function rewrites: a function of a model
 * name and a row (and maybe a version, or another argument such as a
 * class), and the columns form it becomes, which takes (name, version,
 * kind or the other argument, names, columns...).  score(name, t) becomes
 * score_columns(name, names, columns...), its 0.1.0 form.
 */
typedef struct Rewrite
{
	const char *fname;
	int			nargs;
	int			name_arg;
	int			row_arg;
	int			version_arg;	/* -1: the deployed version */
	int			extra_arg;		/* -1: pass kind instead */
	int			kind;
	const char *target;
	Oid			rettype;
	Oid			extratype;
} Rewrite;

static const Rewrite Rewrites[] = {
	{"score", 2, 0, 1, -1, -1, KIND_ANY, "score_columns", FLOAT8OID, InvalidOid},
	{"score", 3, 0, 2, 1, -1, KIND_ANY, "score_columns_for", FLOAT8OID, InvalidOid},
	{"score_churn", 2, 1, 0, -1, -1, KIND_PROPENSITY, "score_columns_for", FLOAT8OID, InvalidOid},
	{"score_conversion", 2, 1, 0, -1, -1, KIND_PROPENSITY, "score_columns_for", FLOAT8OID, InvalidOid},
	{"predict_ltv", 2, 1, 0, -1, -1, KIND_VALUE, "score_columns_for", FLOAT8OID, InvalidOid},
	{"predict_class", 2, 0, 1, -1, -1, KIND_CLASS, "class_columns_for", TEXTOID, InvalidOid},
	{"classify_engagement", 2, 1, 0, -1, -1, KIND_ENGAGEMENT, "class_columns_for", TEXTOID, InvalidOid},
	{"predict_proba", 2, 0, 1, -1, -1, KIND_CLASS, "proba_columns_for", FLOAT8ARRAYOID, InvalidOid},
	{"predict_proba", 3, 0, 1, -1, 2, KIND_CLASS, "class_proba_columns_for", FLOAT8OID, TEXTOID},
	{"segment", 2, 0, 1, -1, -1, KIND_SEGMENT, "segment_columns_for", INT4OID, InvalidOid},
	{"segment_of", 2, 1, 0, -1, -1, KIND_SEGMENT, "segment_columns_for", INT4OID, InvalidOid},
	{"segment_distance", 2, 0, 1, -1, -1, KIND_SEGMENT, "segment_distance_columns_for", FLOAT8OID, InvalidOid},
};

/* The rewrite of a call, or NULL */
static const Rewrite *
FindRewrite(const FuncExpr *f)
{
	char	   *fname = get_func_name(f->funcid);

	if (fname == NULL)
		return NULL;
	for (int i = 0; i < (int) lengthof(Rewrites); i++)
		if (strcmp(Rewrites[i].fname, fname) == 0 && Rewrites[i].nargs == list_length(f->args))
			return &Rewrites[i];
	return NULL;
}

/*
 * The columns of a whole-row reference of a table, view or subquery with a
 * named row type, as names (a text[] constant) and Vars, keeping every
 * column of a type a model can read; false for anything else.
 */
bool
ScoreRowColumns(Node *rowarg, Node **names_const, List **cols)
{
	Var		   *row;
	TupleDesc	desc;
	Datum	   *names;
	int			n = 0;

	*cols = NIL;
	if (!IsA(rowarg, Var))
		return false;
	row = (Var *) rowarg;
	if (row->varattno != 0 || row->vartype == RECORDOID || !type_is_rowtype(row->vartype))
		return false;
	desc = lookup_rowtype_tupdesc_noerror(row->vartype, -1, true);
	if (desc == NULL)
		return false;
	names = palloc(sizeof(Datum) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || FeatureConvForType(att->atttypid) == CONV_NONE)
			continue;
		names[n++] = CStringGetTextDatum(NameStr(att->attname));
		*cols = lappend(*cols, makeVar(row->varno, att->attnum, att->atttypid, att->atttypmod,
									   att->attcollation, row->varlevelsup));
	}
	ReleaseTupleDesc(desc);
	if (n == 0 || n > FUNC_MAX_ARGS - 4)
		return false;
	*names_const = (Node *) makeConst(TEXTARRAYOID, -1, InvalidOid, -1,
									  PointerGetDatum(construct_array(names, n, TEXTOID, -1, false,
																	  TYPALIGN_INT)),
									  false, false);
	return true;
}

/*
 * Planner support for score(), the insight wrappers and the class outputs:
 * when the row is a whole-row reference t of a table, view or subquery
 * with a named row type, pass it as its columns instead of a composite
 * value (see Rewrites).  Anything else is left as it is.
 */
Datum
score_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	FuncExpr   *f;
	const Rewrite *rw;
	Node	   *names_const;
	List	   *cols;
	List	   *args;
	FuncExpr   *call;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	f = ((SupportRequestSimplify *) rawreq)->fcall;
	rw = FindRewrite(f);
	if (rw == NULL || !ScoreRowColumns(list_nth(f->args, rw->row_arg), &names_const, &cols))
		PG_RETURN_POINTER(NULL);
	if (strcmp(rw->target, "score_columns") == 0)
	{
		Oid			argtypes[3] = {TEXTOID, TEXTARRAYOID, ANYOID};

		call = makeFuncExpr(ProfFunctionOid(rw->target, 3, argtypes), rw->rettype,
							list_concat(list_make2(list_nth(f->args, rw->name_arg), names_const), cols),
							f->funccollid, f->inputcollid, COERCE_EXPLICIT_CALL);
	}
	else
	{
		Oid			argtypes[5] = {TEXTOID, INT4OID, INT4OID, TEXTARRAYOID, ANYOID};
		Node	   *v = rw->version_arg >= 0 ? list_nth(f->args, rw->version_arg) :
			(Node *) makeConst(INT4OID, -1, InvalidOid, 4, (Datum) 0, true, true);
		Node	   *k = rw->extra_arg >= 0 ? list_nth(f->args, rw->extra_arg) :
			(Node *) makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(rw->kind), false, true);

		if (rw->extra_arg >= 0)
			argtypes[2] = rw->extratype;
		args = list_make4(list_nth(f->args, rw->name_arg), v, k, names_const);
		call = makeFuncExpr(ProfFunctionOid(rw->target, 5, argtypes), rw->rettype,
							list_concat(args, cols), f->funccollid, f->inputcollid,
							COERCE_EXPLICIT_CALL);
	}
	call->location = f->location;
	PG_RETURN_POINTER(call);
}

/*
 * percentile(name, score, version DEFAULT NULL) returns smallint: the
 * percentile (1..100) of a score in the model's training population; NULL
 * for a model trained before profenrich 0.3.0, which kept no quantiles,
 * and for NaN.  A propensity model's score outside [0, 1] is an error: no
 * row scores it.
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
	c = ScoreCacheGet(fcinfo, 0, VersionArg(fcinfo, 2), KIND_NONE);
	if (c->model->spec->binary && !(s >= 0 && s <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("score %g is not a probability, and model \"%s\" scores probabilities",
						s, c->label),
				 errhint("Pass a score the model gives, from 0 to 1, such as profenrich.score('%s', row).",
						 c->label)));
	p = ModelPercentile(c->model, s);
	if (p == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT16((int16) p);
}

/* The model of a lifetime-value function, refusing one without the submodel it needs */
static const ClvModel *
ClvModelArg(FunctionCallInfo fcinfo, bool spend)
{
	ScoreCache *c = ScoreCacheGet(fcinfo, 0, 0, KIND_NONE);
	const ClvModel *m = (c->model->ops->flags & ALG_LIFETIME) ? (const ClvModel *) c->model->body : NULL;

	if (m == NULL || (spend ? m->spend.family : m->purchase.family) == CLV_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model, not a %s model",
						c->label, c->model->ops->name, spend ? "spend" : "purchase"),
				 errhint(spend ? "expected_spend takes a model trained with algorithm 'gammagamma' or 'clv'." :
						 "expected_purchases and p_alive take a model trained with algorithm 'bgnbd', 'paretonbd' or 'clv'.")));
	return m;
}

/*
 * expected_purchases(name, periods, frequency, recency, t): expected
 * transactions in the next periods (the model's time unit) of a customer
 * with that history.
 */
Datum
expected_purchases(PG_FUNCTION_ARGS)
{
	const ClvModel *m = ClvModelArg(fcinfo, false);
	double		periods = PG_GETARG_FLOAT8(1),
				x = PG_GETARG_FLOAT8(2),
				tx = PG_GETARG_FLOAT8(3),
				T = PG_GETARG_FLOAT8(4);

	if (!(periods >= 0) || isinf(periods))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("periods must be a finite number not below 0, got %g", periods),
				 errhint("Pass the length of the future window in the model's time unit, such as 52 for a year in weeks.")));
	ClvCheckHistory(x, tx, T, false);
	PG_RETURN_FLOAT8(ClvExpectedPurchases(&m->purchase, periods, x, tx, T));
}

/* p_alive(name, frequency, recency, t): the probability the customer is still active */
Datum
p_alive(PG_FUNCTION_ARGS)
{
	const ClvModel *m = ClvModelArg(fcinfo, false);
	double		x = PG_GETARG_FLOAT8(1),
				tx = PG_GETARG_FLOAT8(2),
				T = PG_GETARG_FLOAT8(3);

	ClvCheckHistory(x, tx, T, false);
	PG_RETURN_FLOAT8(ClvPAlive(&m->purchase, x, tx, T));
}

/*
 * expected_spend(name, frequency, monetary): the Gamma-Gamma conditional
 * mean spend per transaction; the population mean when frequency is 0.
 */
Datum
expected_spend(PG_FUNCTION_ARGS)
{
	const ClvModel *m = ClvModelArg(fcinfo, true);
	double		x = PG_GETARG_FLOAT8(1),
				mon = PG_GETARG_FLOAT8(2),
				v;

	ClvCheckHistory(x, 0, 1, false);
	ClvCheckSpend(x, mon);
	v = ClvExpectedSpend(&m->spend, x, mon);
	if (isnan(v))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the spend model's q is %g: the mean spend is infinite", m->spend.par[1]),
				 errhint("Retrain the spend model on cleaner monetary values.")));
	PG_RETURN_FLOAT8(v);
}
