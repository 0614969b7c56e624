/*-------------------------------------------------------------------------
 * score.c
 *	  profenrich.score(name, row): the deployed model's prediction for a row.
 *
 * The model is looked up once per query and call site and kept in
 * fn_extra with the row type's column positions, so each call reads only
 * the attributes the model uses and does a dot product.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "features.h"
#include "model.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(score);

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
 * The linear predictor of a row; false when a feature is NULL and the
 * model was trained without imputation.
 */
static bool
ScoreLinear(ScoreCache *c, HeapTuple tuple, double *result)
{
	const FeatureSpec *spec = c->model->spec;
	const LinearFit *fit = &c->model->linear;
	double		v = fit->intercept;
	bool		impute = spec->impute == IMPUTE_MEAN;

	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *col = &spec->columns[i];

		if (col->kind != FEATURE_CATEGORICAL)
		{
			double		x;

			if (!FeatureReadNumber(&c->reader, spec, i, tuple, &x))
			{
				if (!impute)
					return false;
				x = col->impute;
			}
			v += fit->coef[col->first_slot] * x;
		}
		else
		{
			int			level = FeatureReadLevel(&c->reader, spec, i, tuple);

			if (level == LEVEL_NULL)
			{
				if (!impute)
					return false;
				level = col->mode_level;
			}
			if (level >= 0)
				v += fit->coef[col->first_slot + level];
		}
	}
	*result = v;
	return true;
}

/*
 * score(name text, row record) returns float8
 */
Datum
score(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	HeapTupleHeader td = PG_GETARG_HEAPTUPLEHEADER(1);
	ScoreCache *c = ScoreCacheGet(fcinfo, name);
	HeapTupleData tuple;
	double		result;

	FeatureReaderBind(&c->reader, c->model->spec, td, false, false);
	FeatureTupleFromHeader(td, &tuple);
	if (!ScoreLinear(c, &tuple, &result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}
