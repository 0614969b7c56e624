/*-------------------------------------------------------------------------
 * guards.c
 *	  Leakage guards: the columns that should not become features (what
 *	  profenrich wrote, identifiers), and slots whose standard errors
 *	  explode after an unpenalized logistic fit.
 *
 * A column profenrich wrote is recognized by its COMMENT ("profenrich:
 * score of model churn version 3", which enrich gives every column it
 * writes), looked up on the column itself or, through views and a training
 * query, on the table column it comes from; or by its name, when it is the
 * default column of an output of a model in the registry (a copy of an
 * enriched table keeps the names, not the comments).
 *
 * A column looks like an identifier when it is text or integer and its
 * distinct values are nearly as many as its rows, or when it is text and
 * its vocabulary of max_categories values would cover less than half of
 * the rows (the rest "(other)").  Both are judged on the first 10,000 rows
 * read, the distinct count of the whole column estimated from them (the
 * Haas-Stokes estimator ANALYZE uses), so the check costs a small fraction
 * of a scan, and nothing for a training whose features are all of other
 * types.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/relation.h"
#include "catalog/pg_class.h"
#include "commands/comment.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "guards.h"
#include "outputs.h"
#include "privileges.h"
#include "trainer.h"

#define COMMENT_PREFIX "profenrich: "
#define MAX_VIEW_DEPTH 32

/* Why a column is left out, or NULL when it is not */
typedef struct Verdict
{
	char	   *why;			/* "enrich wrote it (...)", "it looks like an identifier (...)" */
	bool		identifier;
} Verdict;

/*
 * The table column a view's column comes from, following views (a column
 * that is an expression, or of a subquery, has none); false when there is
 * none.
 */
static bool
ViewColumnOrigin(Oid relid, AttrNumber att, Oid *orel, AttrNumber *oatt, int depth)
{
	Relation	rel;
	Query	   *q;
	TargetEntry *te;
	bool		found = false;

	if (get_rel_relkind(relid) != RELKIND_VIEW)
	{
		*orel = relid;
		*oatt = att;
		return true;
	}
	if (depth >= MAX_VIEW_DEPTH)
		return false;
	rel = relation_open(relid, AccessShareLock);
	q = get_view_query(rel);
	te = get_tle_by_resno(q->targetList, att);
	if (te && OidIsValid(te->resorigtbl) && te->resorigcol > 0)
		found = ViewColumnOrigin(te->resorigtbl, te->resorigcol, orel, oatt, depth + 1);
	relation_close(rel, AccessShareLock);
	return found;
}

/* The table column a source column comes from (itself for a table); false if none */
static bool
ColumnOrigin(const Source *src, AttrNumber att, Oid *orel, AttrNumber *oatt)
{
	if (src->query)
	{
		TargetEntry *te = get_tle_by_resno(src->query->targetList, att);

		if (te == NULL || !OidIsValid(te->resorigtbl) || te->resorigcol <= 0)
			return false;
		return ViewColumnOrigin(te->resorigtbl, te->resorigcol, orel, oatt, 1);
	}
	return ViewColumnOrigin(src->relid, att, orel, oatt, 0);
}

/* A column comment profenrich wrote ("profenrich: <output> of model <m> version <v>")? */
static bool
ProfenrichComment(const char *comment)
{
	return comment != NULL && strncmp(comment, COMMENT_PREFIX, strlen(COMMENT_PREFIX)) == 0 &&
		strstr(comment, " of model ") != NULL && strstr(comment, " version ") != NULL;
}

/*
 * The names of the models in the registry: every role may read the catalog
 * (profenrich.model_catalog; before ALTER EXTENSION UPDATE brings it,
 * profenrich.models, readable by all before 0.5.0)
 */
static char **
ModelNames(int *n)
{
	char	  **names;

	TrainQuery(OidIsValid(PrivilegeExtensionRelation("model_catalog")) ?
			   "SELECT DISTINCT name FROM profenrich.model_catalog" :
			   "SELECT DISTINCT name FROM profenrich.models", 0, NULL, NULL, 0);
	names = palloc(sizeof(char *) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
		names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	*n = (int) SPI_processed;
	return names;
}

/*
 * Why a column was written by profenrich: its comment (on the column or on
 * the table column it comes from), or a name that is the default column
 * of an output of a model in the registry; NULL when neither.
 */
static char *
WrittenReason(const Source *src, const char *column, char **models, int nmodels)
{
	AttrNumber	att = SourceColumn(src, column);
	Oid			orel;
	AttrNumber	oatt;
	char	   *comment = NULL;
	size_t		len = strlen(column);

	if (OidIsValid(src->relid))
		comment = GetComment(src->relid, RelationRelationId, att);
	if (!ProfenrichComment(comment) && ColumnOrigin(src, att, &orel, &oatt) &&
		(orel != src->relid || oatt != att))
		comment = GetComment(orel, RelationRelationId, oatt);
	if (ProfenrichComment(comment))
		return psprintf("profenrich wrote it (its comment: \"%s\")", comment);
	for (int i = 0; i < nmodels; i++)
	{
		size_t		mlen = strlen(models[i]);

		if (len <= mlen || strncmp(column, models[i], mlen) != 0)
			continue;
		for (int w = 0; w < OUT_NWHAT; w++)
			if (strcmp(column + mlen, OutputDefOf((OutputWhat) w)->suffix) == 0)
				return psprintf("it is named as the %s column enrich writes for model \"%s\"",
								OutputDefOf((OutputWhat) w)->key, models[i]);
	}
	return NULL;
}

/*
 * The Haas-Stokes (Duj1) estimate of a column's distinct values from a
 * sample of n values holding d distinct ones, f1 of them once: n d / (n -
 * f1 + f1 n / N), N the values in the whole column.  Every value distinct
 * in the sample gives N; a sample that is the column gives d.
 */
double
GuardDistinctEstimate(double n, double d, double f1, double N)
{
	double		denom;

	if (n <= 0 || N <= n)
		return d;
	denom = n - f1 + f1 * n / N;
	return denom > 0 ? Min(n * d / denom, N) : N;
}

/* One value of a sampled column */
typedef struct SampleValue
{
	const char *s;
	int			len;
} SampleValue;

static int
CompareValues(const void *a, const void *b)
{
	const SampleValue *x = (const SampleValue *) a;
	const SampleValue *y = (const SampleValue *) b;
	int			c = memcmp(x->s, y->s, Min(x->len, y->len));

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static int
CompareCountsDesc(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return (x < y) - (x > y);
}

/*
 * The verdict on one sampled column (values, n of them non-NULL, out of
 * nrows rows read; total the source's rows, exact or estimated): an
 * identifier when its distinct values are nearly its rows, or, for text,
 * when its most frequent max_categories values cover less than half.
 */
static char *
IdentifierReason(SampleValue *v, int n, double nrows, double total, bool is_text, int max_categories)
{
	int64	   *runs;
	int			d = 0,
				f1 = 0;
	double		covered = 0,
				values = total * n / Max(nrows, 1),
				distinct;

	if (n < GUARD_MIN_VALUES)
		return NULL;
	qsort(v, n, sizeof(SampleValue), CompareValues);
	runs = palloc(sizeof(int64) * n);
	for (int i = 0; i < n;)
	{
		int			j = i + 1;

		while (j < n && CompareValues(&v[i], &v[j]) == 0)
			j++;
		runs[d++] = j - i;
		f1 += j - i == 1;
		i = j;
	}
	distinct = GuardDistinctEstimate(n, d, f1, values);
	if (distinct >= GUARD_DISTINCT_SHARE * values)
		return psprintf("it looks like an identifier: %s%.0f distinct values in %s%.0f rows",
						values > n ? "about " : "", distinct, values > n ? "about " : "", values);
	if (!is_text || d <= max_categories)
		return NULL;
	qsort(runs, d, sizeof(int64), CompareCountsDesc);
	for (int i = 0; i < max_categories; i++)
		covered += runs[i];
	if (covered >= GUARD_VOCABULARY_SHARE * n)
		return NULL;
	return psprintf("it looks like an identifier: its %d most frequent values cover %.0f%% of the rows, so most would be \"(other)\"",
					max_categories, 100.0 * covered / n);
}

/* Can a column of this kind look like an identifier (text or integer)? */
static bool
IdentifierCandidate(const Source *src, const FeatureColumn *c, bool *is_text)
{
	FeatureConv conv = FeatureConvForType(TupleDescAttr(src->tupdesc,
														SourceColumn(src, c->name) - 1)->atttypid);

	*is_text = conv == CONV_TEXT || conv == CONV_BPCHAR;
	return *is_text || conv == CONV_INT2 || conv == CONV_INT4 || conv == CONV_INT8;
}

/* The planner's estimate of the source's rows */
static double
EstimatedSourceRows(const Source *src)
{
	char	   *sql = psprintf("SELECT 1 FROM %s", src->from);
	List	   *raw = pg_parse_query(sql);
	List	   *queries = pg_analyze_and_rewrite_fixedparams(linitial_node(RawStmt, raw), sql,
															   NULL, 0, NULL);
	PlannedStmt *plan = pg_plan_query(linitial_node(Query, queries), sql, 0, NULL);

	return plan->planTree->plan_rows;
}

/*
 * The identifier check of the columns at cand (ncand of them): one query
 * of their first GUARD_SAMPLE_ROWS + 1 rows as text, each column judged on
 * them (IdentifierReason).
 */
static void
SampleIdentifiers(const FeatureSpec *spec, const Source *src, const int *cand, const bool *is_text,
				  int ncand, int max_categories, Verdict *out)
{
	StringInfoData sql;
	SampleValue **vals;
	int		   *nvals;
	int64		nrows;
	double		total;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int k = 0; k < ncand; k++)
		appendStringInfo(&sql, "%s%s::pg_catalog.text", k ? ", " : "",
						 quote_identifier(spec->columns[cand[k]].name));
	appendStringInfo(&sql, " FROM %s LIMIT %d", src->from, GUARD_SAMPLE_ROWS + 1);
	TrainQuery(sql.data, 0, NULL, NULL, 0);
	nrows = Min((int64) SPI_processed, GUARD_SAMPLE_ROWS);
	vals = palloc(sizeof(SampleValue *) * ncand);
	nvals = palloc0(sizeof(int) * ncand);
	for (int k = 0; k < ncand; k++)
		vals[k] = palloc(sizeof(SampleValue) * Max(nrows, 1));
	for (int64 r = 0; r < nrows; r++)
		for (int k = 0; k < ncand; k++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, k + 1,
										  &isnull);
			text	   *t;

			if (isnull)
				continue;
			t = DatumGetTextPP(d);
			vals[k][nvals[k]].s = VARDATA_ANY(t);
			vals[k][nvals[k]++].len = VARSIZE_ANY_EXHDR(t);
		}
	total = SPI_processed > GUARD_SAMPLE_ROWS ? Max(EstimatedSourceRows(src), (double) nrows) :
		(double) nrows;
	for (int k = 0; k < ncand; k++)
	{
		out[cand[k]].why = IdentifierReason(vals[k], nvals[k], (double) nrows, total, is_text[k],
											max_categories);
		out[cand[k]].identifier = out[cand[k]].why != NULL;
	}
}

/* Drop the spec's columns with a verdict, keeping the others in order */
static void
DropColumns(FeatureSpec *spec, const Verdict *v)
{
	int			n = 0;

	for (int i = 0; i < spec->ncolumns; i++)
		if (v[i].why == NULL)
			spec->columns[n++] = spec->columns[i];
	spec->ncolumns = n;
}

/*
 * The column guards of a training: with features NULL (explicit_features
 * false), leave out of spec (a NOTICE each, saying why) the columns
 * profenrich wrote and those that look like identifiers; with features
 * listed, keep them all but WARN about such ones (quiet: say nothing, as
 * the repeated preparations of tune() do).  Called once the
 * features are resolved and before their vocabularies are learned (the
 * vocabulary of an identifier is the costliest to learn).
 */
void
GuardFeatures(FeatureSpec *spec, const Source *src, bool explicit_features, int max_categories,
			  bool quiet)
{
	int			nmodels;
	char	  **models = ModelNames(&nmodels);
	Verdict    *v = palloc0(sizeof(Verdict) * Max(spec->ncolumns, 1));
	int		   *cand = palloc(sizeof(int) * Max(spec->ncolumns, 1));
	bool	   *is_text = palloc(sizeof(bool) * Max(spec->ncolumns, 1));
	int			ncand = 0;
	bool		any = false;

	for (int i = 0; i < spec->ncolumns; i++)
	{
		v[i].why = WrittenReason(src, spec->columns[i].name, models, nmodels);
		if (v[i].why == NULL && IdentifierCandidate(src, &spec->columns[i], &is_text[ncand]))
			cand[ncand++] = i;
	}
	if (ncand > 0)
		SampleIdentifiers(spec, src, cand, is_text, ncand, max_categories, v);
	for (int i = 0; i < spec->ncolumns; i++)
	{
		if (v[i].why == NULL)
			continue;
		any = true;
		if (quiet)
			continue;
		if (explicit_features)
			ereport(WARNING,
					(errmsg("feature \"%s\" is used although %s", spec->columns[i].name, v[i].why),
					 errhint(v[i].identifier ?
							 "A model that learns identifiers memorizes rows instead of patterns, and scores new rows by chance; leave the column out of the features." :
							 "A model trained on another model's output learns that model, not the customers; leave the column out of the features.")));
		else
			ereport(NOTICE,
					(errmsg("column \"%s\" is not used as a feature: %s", spec->columns[i].name,
							v[i].why),
					 errhint("Name the features to train on it anyway.")));
	}
	if (any && !explicit_features)
	{
		DropColumns(spec, v);
		if (spec->ncolumns == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("no feature columns to train on"),
					 errdetail("Every column was left out: see the notices above."),
					 errhint("Name the features to train on in the features argument.")));
	}
}

/*
 * Warn about slots whose standard error explodes after an unpenalized fit
 * that converged: quasi-separation (a level, or a combination, whose rows
 * are nearly all of one class) makes the maximum likelihood estimate drift
 * off while Newton's criterion is met.  A slot's standard error on the
 * standardized scale, se_j sd_j, is at least 1 / sqrt(info) (info: the
 * Fisher information of one standardized slot at the base rate) for a slot
 * uncorrelated with the others, and grows with collinearity as the square
 * root of its variance inflation; beyond GUARD_INFLATION times that floor
 * the slot is (quasi-)separated.  Plain arithmetic over the fit.
 */
void
GuardInflatedErrors(const FeatureSpec *spec, const LinearFit *f, double info)
{
	StringInfoData slots;
	int			n = 0;
	double		worst = 0;
	int			worst_slot = -1;

	if (!f->has_inference || !(info > 0))
		return;
	initStringInfo(&slots);
	for (int j = 0; j < f->p; j++)
	{
		double		ratio;

		if (f->aliased[j] || !(f->slot_sd[j] > 0))
			continue;
		ratio = f->se[j + 1] * f->slot_sd[j] * sqrt(info);
		if (!(ratio > GUARD_INFLATION))
			continue;
		if (n < 3)
			appendStringInfo(&slots, "%s\"%s\"", n ? ", " : "", FeatureSlotName(spec, j));
		n++;
		if (ratio > worst)
		{
			worst = ratio;
			worst_slot = j;
		}
	}
	if (n == 0)
		return;
	ereport(WARNING,
			(errmsg("the standard errors of %d slot%s explode: %s%s", n, n > 1 ? "s" : "",
					slots.data, n > 3 ? " and more" : ""),
			 errdetail("The standard error of \"%s\" is %.2g, %.2g times that of an uncorrelated slot: slots whose rows are (almost) all of one class quasi-separate the classes, and their coefficients are not estimable although the fit converged.",
					   FeatureSlotName(spec, worst_slot), f->se[worst_slot + 1], worst),
			 errhint("Leave identifier-like columns out of the features, lower max_categories so that rare levels share \"(other)\", or set the option \"l2\" (for example 1).")));
}
