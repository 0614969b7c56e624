/*-------------------------------------------------------------------------
 * drift.c
 *	  drift(): how far a relation's rows have moved from a model's training
 *	  baseline, feature by feature and in the score, as population
 *	  stability indexes; log_drift(): the same appended to
 *	  profenrich.drift_log, for a scheduled check.
 *
 * One scan of the relation: its rows are read by a DestReceiver under SPI
 * as the executor produces them, each feature value counted into its
 * baseline bin and the row scored once.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "baseline.h"
#include "monitor.h"
#include "privileges.h"

PG_FUNCTION_INFO_V1(drift);
PG_FUNCTION_INFO_V1(log_drift);

#define DRIFT_PROGRESS_MASK 0xFFFFF /* look at the clock every 2^20 rows */
#define DRIFT_PROGRESS_MS 10000
#define DRIFT_NUM_BINS (BASELINE_EDGES + 2)	/* a numeric column's counts: bins, padding, NULL last */

/*
 * The scan: per feature and for the score, the rows in each baseline bin.
 * Numeric and boolean columns are binned from compact arrays: their row
 * positions, converters, and edges padded to BASELINE_EDGES with
 * +Infinity, so that a value's bin is a fixed run of comparisons.
 */
typedef struct DriftScan
{
	DestReceiver pub;
	const Model *model;
	const Baseline *baseline;
	FeatureReader reader;
	MemoryContext mcxt;
	MemoryContext rowcxt;
	int64	  **counts;			/* per spec column, its baseline's bins */
	int			nnum;			/* numeric and boolean columns */
	int		   *num_col;
	double	   *num_edges;		/* nnum x BASELINE_EDGES */
	int64	   *num_counts;		/* nnum x DRIFT_NUM_BINS */
	int		   *cat_cols;		/* the categorical columns, then -1 */
	int64	   *score_counts;
	double	   *probs;			/* class models */
	int64		rows;
	int64		scored;
	const char *from;
	TimestampTz last_notice;
} DriftScan;

/* One result row of drift() */
typedef struct DriftRow
{
	const char *feature;
	double		psi;
	const char *status;
	char	   *detail;			/* jsonb text */
	int64		rows;
} DriftRow;

/* Error context of the scan: the row, in scan order */
static void
DriftErrorContext(void *arg)
{
	DriftScan  *d = (DriftScan *) arg;

	if (d->rows > 0)
		errcontext("reading row " INT64_FORMAT " of %s (in scan order)", d->rows, d->from);
}

/* Bind the reader, and lay out the numeric columns' edges for the binning loop */
static void
DriftStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	DriftScan  *d = (DriftScan *) self;
	const FeatureSpec *spec = d->model->spec;
	MemoryContext old = MemoryContextSwitchTo(d->mcxt);
	int			ncat = 0;

	FeatureReaderInit(&d->reader, d->mcxt);
	FeatureReaderBindDesc(&d->reader, spec, typeinfo, false, false);
	d->nnum = d->reader.nnum;
	d->num_col = d->reader.num_col;
	d->num_edges = palloc(sizeof(double) * BASELINE_EDGES * Max(d->nnum, 1));
	for (int k = 0; k < d->nnum; k++)
	{
		const BaselineBins *b = &d->baseline->columns[d->num_col[k]];

		for (int e = 0; e < BASELINE_EDGES; e++)
			d->num_edges[k * BASELINE_EDGES + e] = e < b->nedges ? b->edges[e] :
				get_float8_infinity();
	}
	d->num_counts = palloc0(sizeof(int64) * DRIFT_NUM_BINS * Max(d->nnum, 1));
	d->cat_cols = palloc(sizeof(int) * (spec->ncolumns + 1));
	for (int i = 0; i < spec->ncolumns; i++)
		if (spec->columns[i].kind == FEATURE_CATEGORICAL)
			d->cat_cols[ncat++] = i;
	d->cat_cols[ncat] = -1;
	MemoryContextSwitchTo(old);
}

/*
 * Count the current row's numeric and boolean values into their bins.
 * Everything the loop reads is held in locals: with -fno-strict-aliasing
 * each count's store would otherwise reload the scan's fields.
 */
static inline void
CountNumbers(DriftScan *d)
{
	const NullableDatum *row = d->reader.row;
	const int	nnum = d->nnum;
	const int  *num_pos = d->reader.num_pos;
	const FeatureConv *num_conv = d->reader.num_conv;
	const double *edges = d->num_edges;
	int64	   *counts = d->num_counts;

	for (int k = 0; k < nnum; k++)
	{
		const NullableDatum *v = &row[num_pos[k]];
		const double *e = &edges[k * BASELINE_EDGES];
		double		x;
		int			bin = 0;

		if (unlikely(v->isnull))
		{
			counts[k * DRIFT_NUM_BINS + DRIFT_NUM_BINS - 1]++;
			continue;
		}
		x = FeatureDatumToDouble(v->value, num_conv[k]);
		if (unlikely(!isfinite(x)))
			FeatureNotFinite(d->model->spec->columns[d->num_col[k]].name);
		for (int j = 0; j < BASELINE_EDGES; j++)
			bin += x > e[j];
		counts[k * DRIFT_NUM_BINS + bin]++;
	}
}

/* Count the current row's categories into their levels, "(other)" or NULL */
static inline void
CountCategories(DriftScan *d)
{
	const FeatureSpec *spec = d->model->spec;

	for (const int *col = d->cat_cols; *col >= 0; col++)
	{
		const FeatureColumn *c = &spec->columns[*col];
		int			level = FeatureReadLevel(&d->reader, spec, *col);

		/* an unseen value is "(other)" whether or not the model has that slot */
		d->counts[*col][level == LEVEL_NULL ? c->nlevels + 1 : level < 0 ? c->nlevels : level]++;
	}
}

/* Count the current row's score (number models) or predicted class (class models) */
static void
CountScore(DriftScan *d)
{
	const Baseline *b = d->baseline;

	if (b->score_kind == BASELINE_SCORE_NUMBER)
	{
		double		s;

		if (!ModelScoreRow(d->model, &d->reader, &s))
			return;
		d->score_counts[BaselineNumberBin(&b->score, s)]++;
	}
	else if (b->score_kind == BASELINE_SCORE_CLASS)
	{
		int			cls;

		if (!ModelClassifyRow(d->model, &d->reader, d->probs, &cls))
			return;
		d->score_counts[cls]++;
	}
	else
		return;
	d->scored++;
}

/* A NOTICE at most every 10 seconds on a long scan */
static void
DriftProgress(DriftScan *d)
{
	TimestampTz now;

	if ((d->rows & DRIFT_PROGRESS_MASK) != 0)
		return;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(d->last_notice, now, DRIFT_PROGRESS_MS))
		return;
	ereport(NOTICE,
			(errmsg("profenrich: drift has read " INT64_FORMAT " rows of %s", d->rows, d->from)));
	d->last_notice = now;
}

/* One row: each feature into its bin, then the score */
static bool
DriftReceive(TupleTableSlot *slot, DestReceiver *self)
{
	DriftScan  *d = (DriftScan *) self;
	const FeatureSpec *spec = d->model->spec;
	MemoryContext old = MemoryContextSwitchTo(d->rowcxt);

	MemoryContextReset(d->rowcxt);
	d->rows++;
	FeatureReaderLoadSlot(&d->reader, slot);
	CountNumbers(d);
	if (d->nnum < spec->ncolumns)
		CountCategories(d);
	CountScore(d);
	MemoryContextSwitchTo(old);
	DriftProgress(d);
	return true;
}

static void
DriftNothing(DestReceiver *self)
{
}

/* A scan of the model's relation, its counts at 0 */
static void
DriftScanInit(const MonitoredModel *mm, DriftScan *d)
{
	const FeatureSpec *spec = mm->model->spec;

	memset(d, 0, sizeof(DriftScan));
	d->pub.receiveSlot = DriftReceive;
	d->pub.rStartup = DriftStartup;
	d->pub.rShutdown = DriftNothing;
	d->pub.rDestroy = DriftNothing;
	d->pub.mydest = DestNone;
	d->model = mm->model;
	d->baseline = mm->model->baseline;
	d->mcxt = CurrentMemoryContext;
	d->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "profenrich row", ALLOCSET_SMALL_SIZES);
	d->from = mm->from;
	d->last_notice = GetCurrentTimestamp();
	d->counts = palloc(sizeof(int64 *) * Max(spec->ncolumns, 1));
	for (int i = 0; i < spec->ncolumns; i++)
		d->counts[i] = palloc0(sizeof(int64) * d->baseline->columns[i].nbins);
	d->score_counts = palloc0(sizeof(int64) * Max(d->baseline->score.nbins, 1));
	d->probs = palloc(sizeof(double) * Max(mm->model->nclasses, 1));
}

/* Move the numeric columns' counts into their columns' bins */
static void
DriftGatherNumbers(DriftScan *d)
{
	for (int k = 0; k < d->nnum; k++)
	{
		const BaselineBins *b = &d->baseline->columns[d->num_col[k]];

		for (int j = 0; j <= b->nedges; j++)
			d->counts[d->num_col[k]][j] = d->num_counts[k * DRIFT_NUM_BINS + j];
		d->counts[d->num_col[k]][b->nbins - 1] = d->num_counts[k * DRIFT_NUM_BINS + DRIFT_NUM_BINS - 1];
	}
}

/* Run the scan of the model's feature columns over the relation */
static void
DriftRun(const MonitoredModel *mm, DriftScan *d)
{
	const FeatureSpec *spec = mm->model->spec;
	StringInfoData sql;
	SPIExecuteOptions opts;
	ErrorContextCallback errcb;
	int			rc;

	DriftScanInit(mm, d);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < spec->ncolumns; i++)
		appendStringInfo(&sql, "%s%s", i > 0 ? ", " : "", quote_identifier(spec->columns[i].name));
	appendStringInfo(&sql, " FROM %s", mm->from);
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
	opts.dest = &d->pub;
	SPI_connect();
	errcb.callback = DriftErrorContext;
	errcb.arg = d;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	rc = SPI_execute_extended(sql.data, &opts);
	error_context_stack = errcb.previous;
	if (rc < 0)
		elog(ERROR, "drift query failed (%s): %s", SPI_result_code_string(rc), sql.data);
	SPI_finish();
	MemoryContextSwitchTo(d->mcxt);
	MemoryContextDelete(d->rowcxt);
	DriftGatherNumbers(d);
}

/* Whether bin j is an interval of numbers, whose upper bound detail gives */
static bool
BinHasUpper(const FeatureColumn *c, const Baseline *baseline, int j, const BaselineBins *b)
{
	if (c == NULL)
		return baseline->score_kind == BASELINE_SCORE_NUMBER;
	return c->kind == FEATURE_NUMERIC && j < b->nbins - 1;
}

/*
 * A feature's (or the score's) result: the PSI of today's shares against
 * the baseline's, its status, and the bins in detail as
 * {"rows": n, "baseline_rows": n, "bins": [{"bin", "upper", "baseline", "current"}]}
 * ("upper": the bin's upper bound, for intervals of numbers; null for the last).
 */
static void
DriftResult(const FeatureColumn *c, const BaselineBins *b, const int64 *counts, int64 rows,
			const MonitoredModel *mm, DriftRow *out)
{
	double	   *now = palloc0(sizeof(double) * Max(b->nbins, 1));
	StringInfoData js;

	for (int j = 0; j < b->nbins && rows > 0; j++)
		now[j] = (double) counts[j] / rows;
	out->feature = c ? c->name : "(score)";
	out->rows = rows;
	out->psi = rows > 0 ? BaselinePsi(b->shares, now, b->nbins) : get_float8_nan();
	out->status = BaselineStatus(out->psi);
	initStringInfo(&js);
	appendStringInfo(&js, "{\"rows\": " INT64_FORMAT ", \"baseline_rows\": %s, \"bins\": [",
					 rows, float8out_internal(rint(b->n)));
	for (int j = 0; j < b->nbins; j++)
	{
		appendStringInfoString(&js, j > 0 ? ", {\"bin\": " : "{\"bin\": ");
		escape_json(&js, c ? BaselineBinLabel(c, b, j) :
					BaselineScoreLabel(mm->model->baseline, j, mm->model->classes));
		if (BinHasUpper(c, mm->model->baseline, j, b))
			appendStringInfo(&js, ", \"upper\": %s",
							 j < b->nedges ? float8out_internal(b->edges[j]) : "null");
		appendStringInfo(&js, ", \"baseline\": %s, \"current\": %s}",
						 float8out_internal(b->shares[j]), rows > 0 ? float8out_internal(now[j]) : "null");
	}
	appendStringInfoString(&js, "]}");
	out->detail = js.data;
}

/*
 * The drift of the model of mm over its relation: one row per feature, in
 * the spec's order, then "(score)" when the baseline has one.
 */
static DriftRow *
DriftCompute(const MonitoredModel *mm, int *nrows)
{
	const Model *m = mm->model;
	const Baseline *b = m->baseline;
	DriftScan	d;
	DriftRow   *rows = palloc0(sizeof(DriftRow) * (m->spec->ncolumns + 1));

	MonitorCheckColumns(mm, false, false);
	DriftRun(mm, &d);
	if (d.rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("relation %s has no rows to compare with the training baseline", mm->from),
				 errhint("Pass a relation that holds the profiles to check.")));
	for (int i = 0; i < m->spec->ncolumns; i++)
		DriftResult(&m->spec->columns[i], &b->columns[i], d.counts[i], d.rows, mm, &rows[i]);
	*nrows = m->spec->ncolumns;
	if (b->score_kind != BASELINE_SCORE_NONE)
		DriftResult(NULL, &b->score, d.score_counts, d.scored, mm, &rows[(*nrows)++]);
	return rows;
}

/* Refuse a model drift cannot read: no feature spec, or no baseline */
static void
RequireBaseline(const MonitoredModel *mm)
{
	if (!(mm->model->ops->flags & ALG_FEATURES))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("drift needs a model trained on feature columns, and \"%s\" is a %s model",
						mm->name, mm->model->ops->name),
				 errhint("Check a lifetime-value model with profenrich.holdout_check.")));
	if (mm->model->baseline == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" version %d has no training baseline", mm->name, mm->version),
				 errdetail("Models trained before profenrich 0.5.0 did not store one."),
				 errhint("Retrain the model (profenrich.train) to store its baseline, then run drift again.")));
}

/*
 * drift(name, source regclass DEFAULT NULL) returns table (feature, psi,
 * status, detail): the population stability index of each feature and of
 * the score between the deployed model's training baseline and the rows
 * of source (by default the model's training source) today.
 */
Datum
drift(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MonitoredModel mm;
	DriftRow   *rows;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	MonitorOpen(fcinfo, "drift", &mm);
	RequireBaseline(&mm);
	rows = DriftCompute(&mm, &n);
	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, isnan(rows[i].psi), rows[i].status == NULL, false};

		values[0] = CStringGetTextDatum(rows[i].feature);
		values[1] = Float8GetDatum(rows[i].psi);
		values[2] = rows[i].status ? CStringGetTextDatum(rows[i].status) : (Datum) 0;
		values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(rows[i].detail));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Append the rows to profenrich.drift_log as its owner: no role holds a
 * grant to write it, so only this code does, with the caller's name and
 * one time for the rows of one check.  The statement is fixed and takes
 * its values as parameters (PrivilegeExecAsOwner).
 */
static void
DriftLogWrite(const MonitoredModel *mm, const DriftRow *rows, int n)
{
	Oid			log = PrivilegeExtensionRelation("drift_log");
	Oid			types[10] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, FLOAT8OID, TEXTOID, INT8OID,
	JSONBOID, NAMEOID, TIMESTAMPTZOID};
	Datum		values[10];
	char		nulls[10];
	char	   *caller = PrivilegeUserName();
	TimestampTz now = GetCurrentTimestamp();

	if (!OidIsValid(log))
		elog(ERROR, "profenrich.drift_log does not exist");
	SPI_connect();
	for (int i = 0; i < n; i++)
	{
		memset(nulls, ' ', sizeof(nulls));
		values[0] = CStringGetTextDatum(mm->name);
		values[1] = Int32GetDatum(mm->version);
		values[2] = CStringGetTextDatum(mm->from);
		values[3] = CStringGetTextDatum(rows[i].feature);
		values[4] = Float8GetDatum(rows[i].psi);
		nulls[4] = isnan(rows[i].psi) ? 'n' : ' ';
		values[5] = rows[i].status ? CStringGetTextDatum(rows[i].status) : (Datum) 0;
		nulls[5] = rows[i].status ? ' ' : 'n';
		values[6] = Int64GetDatum(rows[i].rows);
		values[7] = DirectFunctionCall1(jsonb_in, CStringGetDatum(rows[i].detail));
		values[8] = DirectFunctionCall1(namein, CStringGetDatum(caller));
		values[9] = TimestampTzGetDatum(now);
		if (PrivilegeExecAsOwner(log, "INSERT INTO profenrich.drift_log (model, version, source, "
								 "feature, psi, status, rows, detail, logged_by, logged_at) "
								 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
								 10, types, values, nulls) != SPI_OK_INSERT)
			elog(ERROR, "could not append to profenrich.drift_log");
	}
	SPI_finish();
}

/*
 * CALL log_drift(name, source regclass DEFAULT NULL): drift() appended to
 * profenrich.drift_log with the time, the model version and the source,
 * so that a scheduled job (pg_cron) builds the history a BI tool charts.
 */
Datum
log_drift(PG_FUNCTION_ARGS)
{
	MonitoredModel mm;
	DriftRow   *rows;
	int			n,
				moved = 0;

	/*
	 * A CALL runs under no snapshot, or (called by a procedure) under the
	 * one taken when that procedure started: read the registry and the
	 * relation as they are now
	 */
	PushActiveSnapshot(GetTransactionSnapshot());
	MonitorOpen(fcinfo, "log_drift", &mm);
	RequireBaseline(&mm);
	rows = DriftCompute(&mm, &n);
	DriftLogWrite(&mm, rows, n);
	PopActiveSnapshot();
	for (int i = 0; i < n; i++)
		moved += rows[i].status != NULL && strcmp(rows[i].status, "stable") != 0;
	ereport(NOTICE,
			(errmsg("profenrich: logged the drift of model \"%s\" version %d on %s: %d of %d rows not stable",
					mm.name, mm.version, mm.from, moved, n)));
	PG_RETURN_VOID();
}
