/*-------------------------------------------------------------------------
 * features.c
 *	  Feature spec: layout, binary and JSON forms, and reading rows by name.
 *
 * A reader binds a spec to one row type: it resolves each column by name
 * once, checks its type, and then reads only the attributes the model
 * needs from each row (heap_getattr uses the cached offsets), never the
 * whole tuple.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "features.h"

/*
 * How a column of this type is read, or CONV_NONE if it cannot be a
 * feature.  Domains are looked through.
 */
FeatureConv
FeatureConvForType(Oid typid)
{
	Oid			base = getBaseType(typid);

	switch (base)
	{
		case FLOAT8OID:
			return CONV_FLOAT8;
		case FLOAT4OID:
			return CONV_FLOAT4;
		case INT2OID:
			return CONV_INT2;
		case INT4OID:
			return CONV_INT4;
		case INT8OID:
			return CONV_INT8;
		case NUMERICOID:
			return CONV_NUMERIC;
		case BOOLOID:
			return CONV_BOOL;
		case TEXTOID:
		case VARCHAROID:
			return CONV_TEXT;
		case BPCHAROID:
			return CONV_BPCHAR;
	}
	if (type_is_enum(base))
		return CONV_ENUM;
	return CONV_NONE;
}

/* The feature kind a readable type gives */
FeatureKind
FeatureKindForConv(FeatureConv conv)
{
	if (conv == CONV_BOOL)
		return FEATURE_BOOLEAN;
	if (conv == CONV_TEXT || conv == CONV_BPCHAR || conv == CONV_ENUM)
		return FEATURE_CATEGORICAL;
	return FEATURE_NUMERIC;
}

/*
 * Assign slots to the columns, in column order; a categorical column takes
 * one slot per level plus one for "(other)" when it has one.
 */
void
FeatureSpecLayout(FeatureSpec *spec)
{
	int			slot = 0;
	int			nnum = 0;

	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *c = &spec->columns[i];

		c->first_slot = slot;
		if (c->kind == FEATURE_CATEGORICAL)
		{
			c->nslots = c->nlevels + (c->has_other ? 1 : 0);
			c->miss_index = -1;
		}
		else
		{
			c->nslots = 1;
			c->miss_index = nnum++;
		}
		slot += c->nslots;
	}
	spec->nslots = slot;
	spec->nnumeric = nnum;
}

/* The reported name of a slot: column, column=level or column=(other) */
char *
FeatureSlotName(const FeatureSpec *spec, int slot)
{
	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *c = &spec->columns[i];
		int			k = slot - c->first_slot;

		if (k < 0 || k >= c->nslots)
			continue;
		if (c->kind != FEATURE_CATEGORICAL)
			return pstrdup(c->name);
		if (k < c->nlevels)
			return psprintf("%s=%s", c->name, c->levels[k]);
		return psprintf("%s=(other)", c->name);
	}
	elog(ERROR, "slot %d out of range", slot);
	return NULL;
}

/* Length-prefixed string; NULL is written as length -1 */
static void
WriteString(StringInfo buf, const char *s)
{
	if (s == NULL)
	{
		pq_sendint32(buf, -1);
		return;
	}
	pq_sendint32(buf, (int32) strlen(s));
	pq_sendbytes(buf, s, strlen(s));
}

static char *
ReadString(StringInfo buf)
{
	int32		len = pq_getmsgint(buf, 4);

	if (len == -1)
		return NULL;
	if (len < 0 || len > buf->len - buf->cursor)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt feature spec in model parameters")));
	return pnstrdup(pq_getmsgbytes(buf, len), len);
}

/*
 * Serialize a spec into the model's params.  The layout is rebuilt on
 * read, so only what cannot be derived is written.
 */
void
FeatureSpecWrite(StringInfo buf, const FeatureSpec *spec)
{
	WriteString(buf, spec->target);
	WriteString(buf, spec->key);
	pq_sendfloat8(buf, spec->test_fraction);
	pq_sendint64(buf, (int64) spec->seed);
	pq_sendint32(buf, (int32) spec->impute);
	pq_sendint32(buf, spec->ncolumns);
	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *c = &spec->columns[i];

		WriteString(buf, c->name);
		pq_sendint32(buf, (int32) c->kind);
		pq_sendfloat8(buf, c->impute);
		pq_sendint32(buf, c->nlevels);
		for (int k = 0; k < c->nlevels; k++)
			WriteString(buf, c->levels[k]);
		pq_sendbyte(buf, c->has_other ? 1 : 0);
		pq_sendint32(buf, c->mode_level);
	}
}

/* Read what FeatureSpecWrite wrote, with sanity checks on every count */
FeatureSpec *
FeatureSpecRead(StringInfo buf)
{
	FeatureSpec *spec = palloc0(sizeof(FeatureSpec));

	spec->target = ReadString(buf);
	spec->key = ReadString(buf);
	spec->test_fraction = pq_getmsgfloat8(buf);
	spec->seed = (uint64) pq_getmsgint64(buf);
	spec->impute = (ImputeMode) pq_getmsgint(buf, 4);
	spec->ncolumns = pq_getmsgint(buf, 4);
	if (spec->ncolumns < 0 || spec->ncolumns > MaxHeapAttributeNumber)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt feature spec in model parameters")));
	spec->columns = palloc0(sizeof(FeatureColumn) * Max(spec->ncolumns, 1));
	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *c = &spec->columns[i];

		c->name = ReadString(buf);
		c->kind = (FeatureKind) pq_getmsgint(buf, 4);
		c->impute = pq_getmsgfloat8(buf);
		c->nlevels = pq_getmsgint(buf, 4);
		if (c->name == NULL || c->nlevels < 0 || c->nlevels > 100000 ||
			c->kind < FEATURE_NUMERIC || c->kind > FEATURE_CATEGORICAL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("corrupt feature spec in model parameters")));
		c->levels = palloc(sizeof(char *) * Max(c->nlevels, 1));
		c->level_len = palloc(sizeof(int) * Max(c->nlevels, 1));
		for (int k = 0; k < c->nlevels; k++)
		{
			c->levels[k] = ReadString(buf);
			c->level_len[k] = strlen(c->levels[k]);
		}
		c->has_other = pq_getmsgbyte(buf) != 0;
		c->mode_level = pq_getmsgint(buf, 4);
	}
	FeatureSpecLayout(spec);
	return spec;
}

/* Append a JSON number, writing null for NaN */
static void
JsonNumber(StringInfo out, double v)
{
	if (isnan(v) || isinf(v))
		appendStringInfoString(out, "null");
	else
		appendStringInfoString(out, float8out_internal(v));
}

/*
 * The spec as JSON text, stored in models.features for people to read.
 */
char *
FeatureSpecToJson(const FeatureSpec *spec)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoString(&out, "{\"target\": ");
	if (spec->target)
		escape_json(&out, spec->target);
	else
		appendStringInfoString(&out, "null");
	appendStringInfoString(&out, ", \"key\": ");
	if (spec->key)
		escape_json(&out, spec->key);
	else
		appendStringInfoString(&out, "null");
	appendStringInfo(&out, ", \"impute\": \"%s\", \"slots\": %d, \"columns\": [",
					 ImputeModeName(spec->impute), spec->nslots);
	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *c = &spec->columns[i];

		appendStringInfoString(&out, i > 0 ? ", {\"name\": " : "{\"name\": ");
		escape_json(&out, c->name);
		if (c->kind != FEATURE_CATEGORICAL)
		{
			appendStringInfo(&out, ", \"kind\": \"%s\", \"impute\": ",
							 c->kind == FEATURE_BOOLEAN ? "boolean" : "numeric");
			JsonNumber(&out, c->impute);
		}
		else
		{
			appendStringInfoString(&out, ", \"kind\": \"categorical\", \"levels\": [");
			for (int k = 0; k < c->nlevels; k++)
			{
				if (k > 0)
					appendStringInfoString(&out, ", ");
				escape_json(&out, c->levels[k]);
			}
			appendStringInfo(&out, "], \"other\": %s, \"impute\": ",
							 c->has_other ? "true" : "false");
			escape_json(&out, c->levels[c->mode_level]);
		}
		appendStringInfoChar(&out, '}');
	}
	appendStringInfoString(&out, "]}");
	return out.data;
}

/* Start an unbound reader whose cached state lives in mcxt */
void
FeatureReaderInit(FeatureReader *r, MemoryContext mcxt)
{
	memset(r, 0, sizeof(FeatureReader));
	r->mcxt = mcxt;
	r->tupType = InvalidOid;
}

/* Attribute number of a column by name in a tuple descriptor, or 0 */
static AttrNumber
FindAttribute(TupleDesc tupdesc, const char *name)
{
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return 0;
}

/* Resolve one named column of the row; errors when missing or of a wrong type */
static AttrNumber
BindColumn(FeatureReader *r, const char *name, FeatureKind kind, FeatureConv *conv)
{
	AttrNumber	att = FindAttribute(r->tupdesc, name);
	FeatureConv c;

	if (att == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("row has no column \"%s\" that the model needs", name),
				 errhint("Pass rows of a relation that has every feature column of the model, "
						 "or a row constructed with those column names.")));
	c = FeatureConvForType(TupleDescAttr(r->tupdesc, att - 1)->atttypid);
	if (c == CONV_NONE || FeatureKindForConv(c) != kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" has type %s, which does not match the model",
						name, format_type_be(TupleDescAttr(r->tupdesc, att - 1)->atttypid)),
				 errhint("The model was trained on a %s column; cast the column in a view.",
						 kind == FEATURE_CATEGORICAL ? "text or enum" :
						 kind == FEATURE_BOOLEAN ? "boolean" : "numeric")));
	*conv = c;
	return att;
}

/* Resolve the split key column and its extended hash function */
static void
BindKey(FeatureReader *r, const FeatureSpec *spec)
{
	AttrNumber	att = FindAttribute(r->tupdesc, spec->key);
	Oid			typid;
	TypeCacheEntry *tce;

	if (att == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("key column \"%s\" does not exist", spec->key),
				 errhint("Name an existing column in the \"key\" option.")));
	typid = TupleDescAttr(r->tupdesc, att - 1)->atttypid;
	tce = lookup_type_cache(typid, TYPECACHE_HASH_EXTENDED_PROC_FINFO);
	if (!OidIsValid(tce->hash_extended_proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("key column \"%s\" has type %s, which has no hash function",
						spec->key, format_type_be(typid)),
				 errhint("Choose a key column of a hashable type, such as an integer or text.")));
	fmgr_info_cxt(tce->hash_extended_proc, &r->key_hash, r->mcxt);
	r->key_collation = TupleDescAttr(r->tupdesc, att - 1)->attcollation;
	r->key_attnum = att;
}

/*
 * Bind the reader to the row type of td, unless it is bound to it already.
 * Column positions, converters and output functions are resolved here,
 * once per row type, never per row.
 */
void
FeatureReaderBind(FeatureReader *r, const FeatureSpec *spec, HeapTupleHeader td,
				  bool want_target, bool want_key)
{
	Oid			tupType = HeapTupleHeaderGetTypeId(td);
	int32		tupTypmod = HeapTupleHeaderGetTypMod(td);
	MemoryContext old;
	TupleDesc	desc;

	if (r->tupType == tupType && r->tupTypmod == tupTypmod && OidIsValid(tupType))
		return;
	old = MemoryContextSwitchTo(r->mcxt);
	desc = lookup_rowtype_tupdesc(tupType, tupTypmod);
	r->tupdesc = CreateTupleDescCopy(desc);
	ReleaseTupleDesc(desc);
	r->ncolumns = spec->ncolumns;
	r->attnum = palloc(sizeof(AttrNumber) * Max(spec->ncolumns, 1));
	r->conv = palloc(sizeof(FeatureConv) * Max(spec->ncolumns, 1));
	r->outfn = palloc0(sizeof(FmgrInfo) * Max(spec->ncolumns, 1));
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		r->attnum[i] = BindColumn(r, c->name, c->kind, &r->conv[i]);
		if (r->conv[i] == CONV_ENUM)
		{
			Oid			outfn;
			bool		isvarlena;

			getTypeOutputInfo(TupleDescAttr(r->tupdesc, r->attnum[i] - 1)->atttypid,
							  &outfn, &isvarlena);
			fmgr_info_cxt(outfn, &r->outfn[i], r->mcxt);
		}
	}
	r->target_attnum = 0;
	if (want_target && spec->target != NULL)
	{
		r->target_attnum = FindAttribute(r->tupdesc, spec->target);
		if (r->target_attnum == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("row has no target column \"%s\"", spec->target),
					 errhint("Pass rows that hold the model's target column.")));
		r->target_conv = FeatureConvForType(TupleDescAttr(r->tupdesc, r->target_attnum - 1)->atttypid);
	}
	r->key_attnum = 0;
	if (want_key && spec->key != NULL)
		BindKey(r, spec);
	r->tupType = tupType;
	r->tupTypmod = tupTypmod;
	MemoryContextSwitchTo(old);
}

/* Wrap a composite datum's header as a HeapTuple for heap_getattr */
void
FeatureTupleFromHeader(HeapTupleHeader td, HeapTuple tuple)
{
	tuple->t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = InvalidOid;
	tuple->t_data = td;
}

/* A numeric datum as a double */
static inline double
DatumToDouble(Datum d, FeatureConv conv)
{
	switch (conv)
	{
		case CONV_FLOAT8:
			return DatumGetFloat8(d);
		case CONV_FLOAT4:
			return (double) DatumGetFloat4(d);
		case CONV_INT2:
			return (double) DatumGetInt16(d);
		case CONV_INT4:
			return (double) DatumGetInt32(d);
		case CONV_INT8:
			return (double) DatumGetInt64(d);
		case CONV_BOOL:
			return DatumGetBool(d) ? 1.0 : 0.0;
		case CONV_NUMERIC:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
		default:
			elog(ERROR, "unexpected numeric conversion %d", (int) conv);
	}
	return 0.0;
}

/* NaN and infinity are refused, in training and scoring alike */
static void
CheckFinite(double v, const char *name)
{
	if (unlikely(isnan(v) || isinf(v)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("column \"%s\" holds NaN or infinity", name),
				 errhint("Filter such rows out, or set the values to NULL so they are imputed.")));
}

/*
 * Read a numeric or boolean feature; false when it is NULL.
 */
bool
FeatureReadNumber(FeatureReader *r, const FeatureSpec *spec, int col,
				  HeapTuple tuple, double *value)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, r->attnum[col], r->tupdesc, &isnull);

	if (isnull)
		return false;
	*value = DatumToDouble(d, r->conv[col]);
	CheckFinite(*value, spec->columns[col].name);
	return true;
}

/* Index of a level equal to the given bytes, else LEVEL_UNSEEN */
static inline int
FindLevel(const FeatureColumn *c, const char *s, int len)
{
	for (int k = 0; k < c->nlevels; k++)
		if (c->level_len[k] == len && memcmp(c->levels[k], s, len) == 0)
			return k;
	return LEVEL_UNSEEN;
}

/*
 * Read a categorical feature as a level index; LEVEL_NULL for NULL, the
 * "(other)" index (nlevels) for a value outside the vocabulary when the
 * model has that slot, else LEVEL_UNSEEN.
 */
int
FeatureReadLevel(FeatureReader *r, const FeatureSpec *spec, int col, HeapTuple tuple)
{
	const FeatureColumn *c = &spec->columns[col];
	bool		isnull;
	Datum		d = heap_getattr(tuple, r->attnum[col], r->tupdesc, &isnull);
	int			level;

	if (isnull)
		return LEVEL_NULL;
	if (r->conv[col] == CONV_ENUM)
	{
		char	   *s = OutputFunctionCall(&r->outfn[col], d);

		level = FindLevel(c, s, strlen(s));
	}
	else
	{
		text	   *t = DatumGetTextPP(d);
		const char *s = VARDATA_ANY(t);
		int			len = VARSIZE_ANY_EXHDR(t);

		/* char(n) compares as its text cast does: trailing blanks stripped */
		if (r->conv[col] == CONV_BPCHAR)
			while (len > 0 && s[len - 1] == ' ')
				len--;
		level = FindLevel(c, s, len);
	}
	if (level == LEVEL_UNSEEN && c->has_other)
		return c->nlevels;
	return level;
}

/*
 * Read the target; false when NULL.  A boolean target reads as 0/1.
 */
bool
FeatureReadTarget(FeatureReader *r, const FeatureSpec *spec, HeapTuple tuple, double *value)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, r->target_attnum, r->tupdesc, &isnull);

	if (isnull)
		return false;
	*value = DatumToDouble(d, r->target_conv);
	CheckFinite(*value, spec->target);
	return true;
}

/*
 * A 64-bit hash deciding the row's split and sample priority: of the key
 * column when the spec has one, else of the encoded values, so the same
 * data always splits the same way whatever the plan or row order.
 */
uint64
FeatureRowHash(FeatureReader *r, const FeatureSpec *spec, HeapTuple tuple,
			   const double *x, int n)
{
	if (r->key_attnum > 0)
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, r->key_attnum, r->tupdesc, &isnull);

		if (isnull)
			return hash_bytes_uint32_extended(0, spec->seed);
		return DatumGetUInt64(FunctionCall2Coll(&r->key_hash, r->key_collation,
												d, UInt64GetDatum(spec->seed)));
	}
	return hash_bytes_extended((const unsigned char *) x, n * sizeof(double), spec->seed);
}

/*
 * Encode a training row into x (nslots values).  A NULL numeric feature
 * leaves 0 in its slot and sets missing[miss_index] to 1, so the imputed
 * value can be applied once the training mean is known; a NULL category
 * takes the mode.  Returns true if any feature was NULL.
 */
bool
FeatureEncodeRow(FeatureReader *r, const FeatureSpec *spec, HeapTuple tuple,
				 double *x, double *missing)
{
	bool		anynull = false;

	memset(x, 0, sizeof(double) * spec->nslots);
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		if (c->kind != FEATURE_CATEGORICAL)
		{
			double		v;

			missing[c->miss_index] = 0.0;
			if (FeatureReadNumber(r, spec, i, tuple, &v))
				x[c->first_slot] = v;
			else
			{
				missing[c->miss_index] = 1.0;
				anynull = true;
			}
		}
		else
		{
			int			level = FeatureReadLevel(r, spec, i, tuple);

			if (level == LEVEL_NULL)
			{
				anynull = true;
				level = c->mode_level;
			}
			if (level >= 0)
				x[c->first_slot + level] = 1.0;
		}
	}
	return anynull;
}
