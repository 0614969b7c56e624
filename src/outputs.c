/*-------------------------------------------------------------------------
 * outputs.c
 *	  The insight columns of each output kind: their names and types, the
 *	  SQL expression that computes each in enrich()'s batch UPDATE, and its
 *	  value for a row in C, as the trigger writes it.
 *
 * Both paths compute the same values: the SQL expressions call the
 * columns forms of score() and the class outputs, which read the row
 * through the same model code as OutputCompute.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "items.h"
#include "outputs.h"

static const OutputDef OutputDefs[OUT_NWHAT] = {
	[OUT_SCORE] = {"score", "_score", FLOAT8OID, "double precision", "score"},
	[OUT_PERCENTILE] = {"percentile", "_pct", INT2OID, "smallint",
	"percentile in the training population"},
	[OUT_FACTORS] = {"factors", "_factors", TEXTARRAYOID, "text[]", "influential factors"},
	[OUT_CLASS] = {"class", "_class", TEXTOID, "text", "predicted class"},
	[OUT_CLASS_PROB] = {"score", "_score", FLOAT8OID, "double precision",
	"probability of the predicted class"},
	[OUT_PROBS] = {"probabilities", "_probs", JSONBOID, "jsonb", "class probabilities"},
	[OUT_TOP] = {"top", "_top", TEXTARRAYOID, "text[]", "top items"},
	[OUT_TOP_SCORES] = {"top_scores", "_top_scores", FLOAT8ARRAYOID, "double precision[]",
	"scores of the top items"},
	[OUT_SEGMENT] = {"segment", "_segment", INT4OID, "integer", "segment"},
	[OUT_DISTANCE] = {"distance", "_distance", FLOAT8OID, "double precision",
	"distance to the segment's center (standardized scale)"},
};

/* The keys "columns" may rename, for hints */
#define OUTPUT_KEYS "score, percentile, factors, class, probabilities, top, top_scores, segment, distance"

/* What an output is */
const OutputDef *
OutputDefOf(OutputWhat what)
{
	return &OutputDefs[what];
}

/* The column name the options give a model's output, or NULL */
static char *
RenamedColumn(Jsonb *columns, const char *model, const char *key)
{
	JsonbValue *m,
			   *c;
	JsonbValue	k;

	if (columns == NULL)
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) model;
	k.val.string.len = strlen(model);
	m = findJsonbValueFromContainer(&columns->root, JB_FOBJECT, &k);
	if (m == NULL)
		return NULL;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	c = findJsonbValueFromContainer(m->val.binary.data, JB_FOBJECT, &k);
	if (c == NULL)
		return NULL;
	return pnstrdup(c->val.string.val, c->val.string.len);
}

/* Add one output, in its renamed or default column */
static void
AddOutput(OutputColumn *out, int *n, OutputWhat what, const char *name, Jsonb *columns)
{
	char	   *col = RenamedColumn(columns, name, OutputDefs[what].key);

	out[*n].what = what;
	out[*n].column = col ? col : psprintf("%s%s", name, OutputDefs[what].suffix);
	(*n)++;
}

/*
 * The outputs a model writes, first the one every row gets (the score or
 * the class), then those the options ask for; o NULL gives every output of
 * the model's kind (the trigger writes those its table has).  Returns how
 * many.
 */
int
OutputColumns(const Model *m, const char *name, const EnrichOptions *o, OutputColumn *out)
{
	int			n = 0;
	bool		factors = m->ops->explain != NULL && (o == NULL || o->factors > 0);
	Jsonb	   *columns = o ? o->columns : NULL;

	switch (ModelOutput(m))
	{
		case OUTPUT_NUMBER:
			AddOutput(out, &n, OUT_SCORE, name, columns);
			if (o == NULL || o->percentile)
				AddOutput(out, &n, OUT_PERCENTILE, name, columns);
			break;
		case OUTPUT_CLASS:
			AddOutput(out, &n, OUT_CLASS, name, columns);
			AddOutput(out, &n, OUT_CLASS_PROB, name, columns);
			if (o == NULL || o->probabilities)
				AddOutput(out, &n, OUT_PROBS, name, columns);
			break;
		case OUTPUT_ITEMS:
			AddOutput(out, &n, OUT_TOP, name, columns);
			AddOutput(out, &n, OUT_TOP_SCORES, name, columns);
			break;
		case OUTPUT_SEGMENT:
			AddOutput(out, &n, OUT_SEGMENT, name, columns);
			if (o == NULL || o->distance)
				AddOutput(out, &n, OUT_DISTANCE, name, columns);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("model \"%s\" of algorithm %s has no insight columns to write", name,
							m->ops->name),
					 errhint("Enrich with number, class, item or segment models.")));
	}
	if (factors)
		AddOutput(out, &n, OUT_FACTORS, name, columns);
	return n;
}

/*
 * Refuse an output column whose name PostgreSQL would truncate: the
 * column written would not be the one read back.  Model names are short
 * enough since 0.5.0 (MODEL_NAME_MAX); a model stored by 0.4.0 with a
 * longer name gets a hint to name its columns.
 */
void
OutputCheckColumnName(const char *model, const OutputColumn *out)
{
	if (strlen(out->column) < NAMEDATALEN)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_NAME_TOO_LONG),
			 errmsg("the %s column of model \"%s\" would be named \"%s\", longer than %d bytes",
					OutputDefs[out->what].key, model, out->column, NAMEDATALEN - 1),
			 errdetail("PostgreSQL truncates longer identifiers, so the column written would not be the one read back."),
			 errhint("Name the column in the option \"columns\": {\"columns\": {\"%s\": {\"%s\": \"a_short_name\"}}}.",
					 model, OutputDefs[out->what].key)));
}

/* The renames of one model in "columns": an object of known keys and non-empty names */
static void
CheckRenames(const char *model, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		OptionError("columns", "an object of column names by model, such as {\"ltv\": {\"score\": \"lifetime_value\"}}");
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		bool		known = false;
		char	   *key;

		if (tok == WJB_VALUE && (e.type != jbvString || e.val.string.len == 0 ||
								 e.val.string.len >= NAMEDATALEN))
			OptionError("columns", "column names as non-empty strings of at most 63 bytes");
		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(e.val.string.val, e.val.string.len);
		for (int w = 0; w < OUT_NWHAT; w++)
			known |= strcmp(OutputDefs[w].key, key) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"columns\" renames output \"%s\" of model \"%s\", which no model writes",
							key, model),
					 errhint("The outputs are " OUTPUT_KEYS ".")));
	}
}

/*
 * Every model named in "columns" must be one of the run's models, and
 * every rename one of an output with a usable column name.
 */
void
OutputCheckColumnsOption(Jsonb *columns, char **names, int n)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (columns == NULL)
		return;
	it = JsonbIteratorInit(&columns->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		found = false;

		if (tok == WJB_VALUE && key != NULL)
		{
			CheckRenames(key, &v);
			key = NULL;
		}
		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		for (int i = 0; i < n; i++)
			found |= strcmp(names[i], key) == 0;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"columns\" names model \"%s\", which is not enriched", key),
					 errhint("Rename columns only of the models in the models array.")));
	}
}

/*
 * The SQL expression of an output for the row pe_t of enrich()'s batch
 * UPDATE, with the model version pinned; colargs is the row as the columns
 * forms take it ("names array, pe_t.col, ...").
 */
char *
OutputExpr(OutputWhat what, const char *name, int version, int factors, const char *colargs)
{
	char	   *lit = quote_literal_cstr(name);

	switch (what)
	{
		case OUT_SCORE:
			return psprintf("profenrich.score(%s, %d, pe_t)", lit, version);
		case OUT_PERCENTILE:
			return psprintf("profenrich.percentile(%s, profenrich.score(%s, %d, pe_t), %d)",
							lit, lit, version, version);
		case OUT_FACTORS:
			return psprintf("profenrich.factors(%s, pe_t, %d, %d)", lit, factors, version);
		case OUT_CLASS:
			return psprintf("profenrich.class_columns_for(%s, %d, 3, %s)", lit, version, colargs);
		case OUT_CLASS_PROB:
			return psprintf("profenrich.score_columns_for(%s, %d, 5, %s)", lit, version, colargs);
		case OUT_PROBS:
			return psprintf("profenrich.probs_columns_for(%s, %d, 3, %s)", lit, version, colargs);
		case OUT_SEGMENT:
			return psprintf("profenrich.segment_columns_for(%s, %d, 6, %s)", lit, version, colargs);
		case OUT_DISTANCE:
			return psprintf("profenrich.segment_distance_columns_for(%s, %d, 6, %s)", lit, version,
							colargs);
		case OUT_TOP:
		case OUT_TOP_SCORES:
		case OUT_NWHAT:
			break;
	}
	elog(ERROR, "unknown output %d", (int) what);
	return NULL;
}

/* Is the output one of an item model (computed from the row's user key, not its columns)? */
bool
OutputIsItems(OutputWhat what)
{
	return what == OUT_TOP || what == OUT_TOP_SCORES;
}

/*
 * The column of the table that holds an item model's user keys: the
 * option "key", else the model's user column; an error when the table has
 * no such column.
 */
char *
OutputKeyColumn(const Model *m, const char *name, TupleDesc desc, const EnrichOptions *o)
{
	const char *key = o->key ? o->key : ItemsUserColumn(m);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), key) == 0)
			return pstrdup(key);
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("table has no column \"%s\" holding the users of model \"%s\"", key, name),
			 errhint("Name the table's column that holds the user key with the option \"key\", such as {\"key\": \"customer_id\"}.")));
	return NULL;
}

/*
 * The SQL expression of an item output for the row pe_t of enrich()'s
 * batch UPDATE: the top items of the user in the key column, version
 * pinned.  The two outputs of a row cost one ranking (items.c keeps it).
 */
char *
OutputItemsExpr(OutputWhat what, const char *name, int version, const char *key, int top)
{
	return psprintf("profenrich.%s(%s, pe_t.%s, %d, %d)",
					what == OUT_TOP ? "top_items" : "top_item_scores", quote_literal_cstr(name),
					quote_identifier(key), top, version);
}

/* The row's score, classification or segment, once for all its outputs */
void
OutputCompute(const Model *m, FeatureReader *r, OutputRow *row)
{
	if (ModelOutput(m) == OUTPUT_SEGMENT)
		row->have = ModelSegmentRow(m, r, &row->segment, &row->distance);
	else if (ModelOutput(m) == OUTPUT_CLASS)
	{
		if (row->probs == NULL)
			row->probs = palloc(sizeof(double) * m->nclasses);
		row->have = ModelClassifyRow(m, r, row->probs, &row->cls);
		row->score = row->have ? row->probs[row->cls] : 0;
	}
	else
		row->have = ModelScoreRow(m, r, &row->score);
}

/* The probabilities of a class model's classes as a jsonb object {"label": p, ...} */
Datum
OutputProbsJson(const Model *m, const double *probs)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	for (int k = 0; k < m->nclasses; k++)
	{
		if (k > 0)
			appendStringInfoString(&out, ", ");
		escape_json(&out, m->classes[k]);
		appendStringInfo(&out, ": %s", float8out_internal(probs[k]));
	}
	appendStringInfoChar(&out, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

/* One output's value for the row, as the trigger writes it */
Datum
OutputDatum(OutputWhat what, const Model *m, FeatureReader *r, const OutputRow *row,
			int factors, bool *isnull)
{
	int			p;

	*isnull = !row->have;
	if (*isnull)
		return (Datum) 0;
	switch (what)
	{
		case OUT_SCORE:
		case OUT_CLASS_PROB:
			return Float8GetDatum(row->score);
		case OUT_PERCENTILE:
			p = ModelPercentile(m, row->score);
			*isnull = p == 0;
			return Int16GetDatum((int16) p);
		case OUT_FACTORS:
			return ModelTopFactors(m, r, factors);
		case OUT_CLASS:
			return CStringGetTextDatum(m->classes[row->cls]);
		case OUT_PROBS:
			return OutputProbsJson(m, row->probs);
		case OUT_SEGMENT:
			return Int32GetDatum(row->segment);
		case OUT_DISTANCE:
			return Float8GetDatum(row->distance);
		case OUT_TOP:
		case OUT_TOP_SCORES:
		case OUT_NWHAT:
			break;
	}
	elog(ERROR, "unknown output %d", (int) what);
	return (Datum) 0;
}
