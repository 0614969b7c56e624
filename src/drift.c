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

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "baseline.h"
#include "monitor.h"

PG_FUNCTION_INFO_V1(drift);
PG_FUNCTION_INFO_V1(log_drift);

#define DRIFT_PROGRESS_MASK 0xFFFFF /* look at the clock every 2^20 rows */
#define DRIFT_PROGRESS_MS 10000

/* The scan: per feature and for the score, the rows in each baseline bin */
typedef struct DriftScan
{
	DestReceiver pub;
	const Model *model;
	const Baseline *baseline;
	FeatureReader reader;
	MemoryContext mcxt;
	MemoryContext rowcxt;
	double	  **counts;			/* per spec column, its baseline's bins */
	double	   *score_counts;
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

static void
DriftStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	DriftScan  *d = (DriftScan *) self;
	MemoryContext old = MemoryContextSwitchTo(d->mcxt);

	FeatureReaderInit(&d->reader, d->mcxt);
	FeatureReaderBindDesc(&d->reader, d->model->spec, typeinfo, false, false);
	MemoryContextSwitchTo(old);
}

/* The bin of the current row's value of column col */
static inline int
FeatureBin(DriftScan *d, const FeatureColumn *c, int col)
{
	const BaselineBins *b = &d->baseline->columns[col];

	if (c->kind == FEATURE_CATEGORICAL)
	{
		int			level = FeatureReadLevel(&d->reader, d->model->spec, col);

		/* an unseen value is "(other)" whether or not the model has that slot */
		return level == LEVEL_NULL ? b->nbins - 1 : level < 0 ? c->nlevels : level;
	}
	else
	{
		double		v;

		if (!FeatureReadNumber(&d->reader, d->model->spec, col, &v))
			return b->nbins - 1;
		return BaselineNumberBin(b, v);
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
		d->score_counts[BaselineNumberBin(&b->score, s)] += 1;
	}
	else if (b->score_kind == BASELINE_SCORE_CLASS)
	{
		int			cls;

		if (!ModelClassifyRow(d->model, &d->reader, d->probs, &cls))
			return;
		d->score_counts[cls] += 1;
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
	for (int i = 0; i < spec->ncolumns; i++)
		d->counts[i][FeatureBin(d, &spec->columns[i], i)] += 1;
	CountScore(d);
	MemoryContextSwitchTo(old);
	DriftProgress(d);
	return true;
}

static void
DriftNothing(DestReceiver *self)
{
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
	d->counts = palloc(sizeof(double *) * Max(spec->ncolumns, 1));
	for (int i = 0; i < spec->ncolumns; i++)
		d->counts[i] = palloc0(sizeof(double) * d->baseline->columns[i].nbins);
	d->score_counts = palloc0(sizeof(double) * Max(d->baseline->score.nbins, 1));
	d->probs = palloc(sizeof(double) * Max(mm->model->nclasses, 1));
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
}

/*
 * A feature's (or the score's) result: the PSI of today's shares against
 * the baseline's, its status, and the bins in detail as
 * {"rows": n, "baseline_rows": n, "bins": [{"bin", "baseline", "current"}]}.
 */
static void
DriftResult(const FeatureColumn *c, const BaselineBins *b, const double *counts, int64 rows,
			const MonitoredModel *mm, DriftRow *out)
{
	double	   *now = palloc0(sizeof(double) * Max(b->nbins, 1));
	StringInfoData js;

	for (int j = 0; j < b->nbins && rows > 0; j++)
		now[j] = counts[j] / rows;
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
				 errmsg("drift needs a model trained on feature columns, and \"%s\" is %s",
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

/* The owner of profenrich.drift_log, who writes it */
static Oid
DriftLogOwner(void)
{
	Oid			relid = get_relname_relid("drift_log", get_namespace_oid("profenrich", false));
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		elog(ERROR, "profenrich.drift_log does not exist");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Append the rows to profenrich.drift_log as its owner: no role holds a
 * grant to write it, so only this code does, with the caller's name.  The
 * statement is fixed and takes its values as parameters; the identity
 * switch is local to it and undone on error by the transaction's abort.
 */
static void
DriftLogWrite(const MonitoredModel *mm, const DriftRow *rows, int n)
{
	Oid			types[10] = {TEXTOID, INT4OID, OIDOID, TEXTOID, TEXTOID, FLOAT8OID, TEXTOID,
	INT8OID, JSONBOID, NAMEOID};
	Datum		values[10];
	char		nulls[10];
	Oid			save_user;
	int			save_sec;
	char	   *caller = GetUserNameFromId(GetUserId(), false);

	GetUserIdAndSecContext(&save_user, &save_sec);
	SPI_connect();
	SetUserIdAndSecContext(DriftLogOwner(), save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	for (int i = 0; i < n; i++)
	{
		memset(nulls, ' ', sizeof(nulls));
		values[0] = CStringGetTextDatum(mm->name);
		values[1] = Int32GetDatum(mm->version);
		values[2] = ObjectIdGetDatum(mm->relid);
		values[3] = CStringGetTextDatum(mm->from);
		values[4] = CStringGetTextDatum(rows[i].feature);
		values[5] = Float8GetDatum(rows[i].psi);
		nulls[5] = isnan(rows[i].psi) ? 'n' : ' ';
		values[6] = rows[i].status ? CStringGetTextDatum(rows[i].status) : (Datum) 0;
		nulls[6] = rows[i].status ? ' ' : 'n';
		values[7] = Int64GetDatum(rows[i].rows);
		values[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum(rows[i].detail));
		values[9] = DirectFunctionCall1(namein, CStringGetDatum(caller));
		if (SPI_execute_with_args("INSERT INTO profenrich.drift_log (model, version, source, "
								  "source_name, feature, psi, status, rows, detail, logged_by) "
								  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
								  10, types, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not append to profenrich.drift_log");
	}
	SetUserIdAndSecContext(save_user, save_sec);
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

	MonitorOpen(fcinfo, "log_drift", &mm);
	RequireBaseline(&mm);
	rows = DriftCompute(&mm, &n);
	DriftLogWrite(&mm, rows, n);
	for (int i = 0; i < n; i++)
		moved += rows[i].status != NULL && strcmp(rows[i].status, "stable") != 0;
	ereport(NOTICE,
			(errmsg("profenrich: logged the drift of model \"%s\" version %d on %s: %d of %d rows not stable",
					mm.name, mm.version, mm.from, moved, n)));
	PG_RETURN_VOID();
}
