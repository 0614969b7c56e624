/*-------------------------------------------------------------------------
 * dataset.c
 *	  Load a training source into memory once: rows are encoded as they
 *	  arrive from the executor (a DestReceiver under SPI, so no result set
 *	  is ever materialized) into chunks of the training or test split.
 *
 * NULL numeric features are stored as NaN and replaced by the training
 * mean once it is known; then every slot is standardized in place with
 * the training mean and population standard deviation.  If the encoded
 * rows outgrow the budget, the chunks are freed at once and the rest of
 * the rows are only counted; the caller then trains by streaming.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "dataset.h"
#include "model.h"
#include "step.h"

typedef struct Loader
{
	DestReceiver pub;
	const FeatureSpec *spec;
	FeatureReader reader;
	MemoryContext mcxt;			/* where the data lives */
	MemoryContext rowcxt;		/* reset per row */
	LoadedData *out;
	uint32		test_threshold;
	Size		budget;
	int		   *missing;
	double	   *xbuf;
} Loader;

/*
 * Room for one more row in a split, a new chunk when the last is full; its
 * chunk and index in *chunk and *row
 */
static double *
NextRow(Loader *l, Dataset *d, DataChunk **chunk, int *row)
{
	DataChunk  *c;
	Size		chunk_bytes = sizeof(double) * DATASET_CHUNK_ROWS * (d->width + 1);

	if (d->nchunks == 0 || d->chunks[d->nchunks - 1].rows == DATASET_CHUNK_ROWS)
	{
		if (l->out->bytes + chunk_bytes > l->budget)
			return NULL;
		if (d->nchunks == d->maxchunks)
		{
			d->maxchunks = Max(16, d->maxchunks * 2);
			/* the loader's context: the executor's is gone once the query ends */
			d->chunks = d->chunks ? repalloc(d->chunks, sizeof(DataChunk) * d->maxchunks) :
				MemoryContextAlloc(l->mcxt, sizeof(DataChunk) * d->maxchunks);
		}
		c = &d->chunks[d->nchunks++];
		c->rows = 0;
		c->ready = false;
		c->x = MemoryContextAllocHuge(l->mcxt, sizeof(double) * DATASET_CHUNK_ROWS * d->width);
		c->y = NULL;
		c->prio = NULL;
		if (l->spec->target != NULL)
			c->y = MemoryContextAlloc(l->mcxt, sizeof(double) * DATASET_CHUNK_ROWS);
		else
			c->prio = MemoryContextAlloc(l->mcxt, sizeof(uint64) * DATASET_CHUNK_ROWS);
		l->out->bytes += chunk_bytes;
	}
	c = &d->chunks[d->nchunks - 1];
	*chunk = c;
	*row = c->rows;
	return &c->x[(size_t) c->rows++ * d->width];
}

/* Store a stored row's label, or without target its sample priority */
static inline void
SetLabel(DataChunk *c, int row, double label, uint64 hash)
{
	if (c->y)
		c->y[row] = label;
	else
		c->prio[row] = StatsRowPriority(hash);
}

/* Free a chunk's arrays */
static void
FreeChunk(DataChunk *c)
{
	pfree(c->x);
	if (c->y)
		pfree(c->y);
	if (c->prio)
		pfree(c->prio);
}

/*
 * Per-slot statistics of a training row's observed values, shifted by the
 * first row seen so the sums of squares keep their precision
 */
static void
AddSlotStats(LoadedData *out, const double *x)
{
	int			w = out->split[SPLIT_TRAIN].width;

	if (out->split[SPLIT_TRAIN].n == 1)
		for (int j = 1; j < w; j++)
			out->shift[j] = isnan(x[j]) ? 0.0 : x[j];
	for (int j = 1; j < w; j++)
	{
		double		v = x[j] - out->shift[j];

		if (isnan(v))
		{
			out->anynan = true;
			continue;
		}
		out->cnt[j] += 1;
		out->sum[j] += v;
		out->sumsq[j] += v * v;
	}
}

/* Drop every chunk: the data does not fit the budget */
static void
Overflow(Loader *l)
{
	for (int k = 0; k < 2; k++)
	{
		Dataset    *d = &l->out->split[k];

		for (int i = 0; i < d->nchunks; i++)
			FreeChunk(&d->chunks[i]);
		d->nchunks = 0;
	}
	l->out->fits = false;
}

/* Bind the reader to the query's columns */
static void
LoaderStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	Loader	   *l = (Loader *) self;
	MemoryContext old = MemoryContextSwitchTo(l->mcxt);

	FeatureReaderInit(&l->reader, l->mcxt);
	FeatureReaderBindDesc(&l->reader, l->spec, typeinfo, true, true);
	MemoryContextSwitchTo(old);
}

/*
 * One row: read the label (NULL skips the row), encode the features into
 * x = [1, slots], NaN for a NULL number, and store it in its split.  The
 * split hash is the key's, else that of the encoded values as linear_stats
 * hashes them; a spec without target (its label 0) keeps with each row the
 * sample priority linear_stats gives it.
 */
static bool
LoaderReceive(TupleTableSlot *slot, DestReceiver *self)
{
	Loader	   *l = (Loader *) self;
	const FeatureSpec *spec = l->spec;
	MemoryContext old = MemoryContextSwitchTo(l->rowcxt);
	double		label;
	int			nmissing;
	uint64		h = 0;
	int			split;
	double	   *x;
	DataChunk  *chunk = NULL;
	int			at = 0;

	MemoryContextReset(l->rowcxt);
	FeatureReaderLoadSlot(&l->reader, slot);
	if (!FeatureReadTarget(&l->reader, spec, &label))
	{
		l->out->skipped_target++;
		MemoryContextSwitchTo(old);
		return true;
	}
	/* with a key the split is known first: encode straight into the chunk */
	x = l->xbuf;
	split = SPLIT_TRAIN;
	if (l->reader.key_pos >= 0)
	{
		h = FeatureRowHash(&l->reader, spec, NULL, 0);
		split = ((uint32) h < l->test_threshold) ? SPLIT_TEST : SPLIT_TRAIN;
		if (l->out->fits)
		{
			x = NextRow(l, &l->out->split[split], &chunk, &at);
			if (x == NULL)
			{
				Overflow(l);
				x = l->xbuf;
			}
		}
	}
	x[0] = 1.0;
	if (FeatureEncodeRow(&l->reader, spec, x + 1, l->missing, &nmissing))
	{
		if (spec->impute == IMPUTE_ERROR)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a feature is NULL and the option impute is \"error\""),
					 errhint("Use \"impute\": \"mean\" to impute NULLs, or \"skip\" to drop such rows.")));
		if (spec->impute == IMPUTE_SKIP)
		{
			if (x != l->xbuf)
				l->out->split[split].chunks[l->out->split[split].nchunks - 1].rows--;
			l->out->skipped_feature++;
			MemoryContextSwitchTo(old);
			return true;
		}
	}
	/* keyless: the values hashed as linear_stats hashes them, NULL numbers 0 */
	if (l->reader.key_pos < 0 && spec->split_hash == SPLIT_HASH_MIX)
	{
		h = FeatureValuesHash(spec, x + 1, label);
		split = ((uint32) h < l->test_threshold) ? SPLIT_TEST : SPLIT_TRAIN;
	}
	for (int k = 0; k < nmissing; k++)
		for (int i = 0; i < spec->ncolumns; i++)
			if (spec->columns[i].miss_index == l->missing[k])
				x[1 + spec->columns[i].first_slot] = get_float8_nan();
	/* a spec before format 3: the bytes 0.4.0 hashed here, NULL numbers NaN */
	if (l->reader.key_pos < 0 && spec->split_hash == SPLIT_HASH_BYTES)
	{
		h = FeatureRowHash(&l->reader, spec, x + 1, l->out->split[0].width - 1);
		split = ((uint32) h < l->test_threshold) ? SPLIT_TEST : SPLIT_TRAIN;
	}
	l->out->split[split].n += 1;
	l->out->split[split].positives += label;
	MemoryContextSwitchTo(old);
	if (split == SPLIT_TRAIN)
		AddSlotStats(l->out, x);
	if (x != l->xbuf)
	{
		SetLabel(chunk, at, label, h);
		return true;
	}
	if (!l->out->fits)
		return true;
	x = NextRow(l, &l->out->split[split], &chunk, &at);
	if (x == NULL)
	{
		Overflow(l);
		return true;
	}
	memcpy(x, l->xbuf, sizeof(double) * l->out->split[split].width);
	SetLabel(chunk, at, label, h);
	return true;
}

static void
LoaderShutdown(DestReceiver *self)
{
}

static void
LoaderDestroy(DestReceiver *self)
{
}

/*
 * The classes the reader learned, in model order, and every loaded row's
 * class renumbered from order of appearance to that order (rows of values
 * past the limit, -1, stay: the trainer refuses such a target)
 */
static void
LearnedClasses(FeatureReader *r, LoadedData *out)
{
	int			order[MODEL_MAX_CLASSES + 1];
	char	  **seen;
	int			n = FeatureLearnedClasses(r, &seen, order, &out->more_classes);

	out->nclasses = n;
	out->classes = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		out->classes[order[i]] = seen[i];
	for (int k = 0; k < 2; k++)
		for (int c = 0; c < out->split[k].nchunks; c++)
		{
			DataChunk  *ch = &out->split[k].chunks[c];

			for (int i = 0; i < ch->rows; i++)
				if (ch->y[i] >= 0)
					ch->y[i] = order[(int) ch->y[i]];
		}
}

/*
 * Run sql (which must select the spec's target, key and feature columns)
 * and load its rows.  out->fits is false when the encoded rows would
 * exceed budget bytes; the split counts are complete either way.
 */
void
DatasetLoad(const FeatureSpec *spec, const char *sql, int nargs, Oid *types, Datum *values,
			Size budget, LoadedData *out)
{
	Loader		l;
	SPIExecuteOptions opts;
	ParamListInfo params = NULL;
	int			rc;

	memset(out, 0, sizeof(LoadedData));
	out->fits = true;
	for (int k = 0; k < 2; k++)
		out->split[k].width = spec->nslots + 1;
	memset(&l, 0, sizeof(Loader));
	l.pub.receiveSlot = LoaderReceive;
	l.pub.rStartup = LoaderStartup;
	l.pub.rShutdown = LoaderShutdown;
	l.pub.rDestroy = LoaderDestroy;
	l.pub.mydest = DestNone;
	l.spec = spec;
	l.mcxt = CurrentMemoryContext;
	l.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "profenrich row", ALLOCSET_SMALL_SIZES);
	l.out = out;
	l.test_threshold = FeatureTestThreshold(spec);
	l.budget = budget;
	l.missing = palloc(sizeof(int) * Max(spec->nnumeric, 1));
	out->cnt = palloc0(sizeof(double) * (spec->nslots + 1));
	out->shift = palloc0(sizeof(double) * (spec->nslots + 1));
	out->sum = palloc0(sizeof(double) * (spec->nslots + 1));
	out->sumsq = palloc0(sizeof(double) * (spec->nslots + 1));
	l.xbuf = palloc(sizeof(double) * (spec->nslots + 1));
	if (nargs > 0)
	{
		params = makeParamList(nargs);
		for (int i = 0; i < nargs; i++)
		{
			params->params[i].value = values[i];
			params->params[i].isnull = false;
			params->params[i].pflags = PARAM_FLAG_CONST;
			params->params[i].ptype = types[i];
		}
	}
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = &l.pub;
	rc = SPI_execute_extended(sql, &opts);
	MemoryContextSwitchTo(l.mcxt);
	if (rc < 0)		/* with a DestReceiver, SPI reports a SELECT as a utility */
		elog(ERROR, "loading query failed (%s): %s", SPI_result_code_string(rc), sql);
	MemoryContextDelete(l.rowcxt);
	if (spec->learn_classes && l.reader.bound)
		LearnedClasses(&l.reader, out);
}

/*
 * How to impute and standardize, from the sums taken while loading; the
 * rows themselves are prepared chunk by chunk (DatasetChunkReady) when
 * first used, while they are in cache, rather than in a pass of their own.
 * A NULL number takes the mean of the observed training values of its
 * slot (stored as the spec's impute value; a column NULL in every training
 * row is an error).  Every slot is standardized with the training mean and
 * population standard deviation of the imputed values: imputing the mean
 * keeps the mean, and the imputed rows add no squared deviation.  mean[]
 * and sd[] receive them (index 0, the intercept: 0 and 1); a constant slot
 * gets sd 0, which marks it aliased, and is stored as 0.
 */
void
DatasetPrepare(LoadedData *data, FeatureSpec *spec, double *mean, double *sd)
{
	int			w = data->split[SPLIT_TRAIN].width;
	double		n = data->split[SPLIT_TRAIN].n;
	double	   *impute = palloc(sizeof(double) * w);

	mean[0] = 0.0;
	sd[0] = 1.0;
	impute[0] = 1.0;
	for (int j = 1; j < w; j++)
	{
		double		c = data->cnt[j];
		double		m = c > 0 ? data->sum[j] / c : 0.0;
		double		ss = c > 0 ? Max(data->sumsq[j] - c * m * m, 0.0) : 0.0;

		mean[j] = data->shift[j] + m;
		impute[j] = mean[j];
		sd[j] = sqrt(ss / Max(n, 1));
		if (!(sd[j] > 1e-12 * Max(fabs(mean[j]), 1e-300)))
			sd[j] = 0.0;
	}
	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *col = &spec->columns[i];
		int			j = 1 + col->first_slot;

		if (col->kind == FEATURE_CATEGORICAL)
			continue;
		if (data->cnt[j] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("feature column \"%s\" is NULL in every training row", col->name),
					 errhint("Leave the column out of the features.")));
		/* an overflowed sum of squares would make the slot look constant, and alias it */
		if (!isfinite(data->sum[j]) || !isfinite(data->sumsq[j]) || !isfinite(sd[j]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the training sums of column \"%s\" overflow double precision",
							col->name),
					 errdetail("Training sums the squares of every feature; they must stay below 1.8e308."),
					 errhint("Rescale the column (divide it by a power of ten, or take its logarithm) or cap its outliers.")));
		col->impute = impute[j];
	}
	for (int k = 0; k < 2; k++)
	{
		data->split[k].impute = impute;
		data->split[k].mean = mean;
		data->split[k].sd = sd;
	}
}

/* Impute and standardize a chunk's rows in place, once */
void
DatasetChunkReady(const Dataset *d, DataChunk *c)
{
	int			w = d->width;
	const double *impute = d->impute,
			   *mean = d->mean,
			   *sd = d->sd;

	if (c->ready)
		return;
	Assert(mean != NULL);
	for (int r = 0; r < c->rows; r++)
	{
		double	   *restrict row = &c->x[(size_t) r * w];

		for (int j = 1; j < w; j++)
		{
			double		v = isnan(row[j]) ? impute[j] : row[j];

			row[j] = sd[j] > 0 ? (v - mean[j]) / sd[j] : 0.0;
		}
	}
	c->ready = true;
}

/* Free the chunks */
void
DatasetFree(LoadedData *data)
{
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < data->split[k].nchunks; i++)
			FreeChunk(&data->split[k].chunks[i]);
}
