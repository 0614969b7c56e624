/*-------------------------------------------------------------------------
 * features.c
 *	  Feature spec: layout, binary and JSON forms, and reading rows by name.
 *
 * A reader binds a spec to one row type or call site: it resolves each
 * column by name once, checks its type, and then reads only the values
 * the model needs from each row.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <math.h>

#include "access/htup_details.h"
#include "executor/tuptable.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/fmgrprotos.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/array.h"
#include "utils/typcache.h"

#include "features.h"
#include "partial.h"

static const char *CategoryText(Datum d, FeatureConv conv, FmgrInfo *outfn, int *len);

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
		case UNKNOWNOID:
		case CSTRINGOID:
			return CONV_CSTRING;
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
	if (conv == CONV_TEXT || conv == CONV_BPCHAR || conv == CONV_ENUM || conv == CONV_CSTRING)
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

/*
 * Serialize a spec into the model's params.  The layout is rebuilt on
 * read, so only what cannot be derived is written.
 */
void
FeatureSpecWrite(StringInfo buf, const FeatureSpec *spec)
{
	WriteString(buf, spec->target);
	pq_sendbyte(buf, spec->binary ? 1 : 0);
	WriteString(buf, spec->positive);
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
	pq_sendbyte(buf, (int) spec->split_hash);
	/* format 4: the policies, the fold, the categories' shares */
	pq_sendbyte(buf, (int) spec->unseen);
	pq_sendbyte(buf, (int) spec->on_bad_row);
	pq_sendint16(buf, (int16) spec->nfolds);
	pq_sendint16(buf, (int16) spec->fold);
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];
		int			nslots = c->nlevels + (c->has_other ? 1 : 0);

		if (c->kind != FEATURE_CATEGORICAL)
			continue;
		pq_sendbyte(buf, c->shares ? 1 : 0);
		for (int k = 0; c->shares && k < nslots; k++)
			pq_sendfloat8(buf, c->shares[k]);
	}
}

/* A reader of a spec's bytes, and where they came from (for the error) */
typedef struct SpecReader
{
	StringInfo	buf;
	bool		caller;			/* passed by a caller, not read from the registry */
} SpecReader;

/*
 * Refuse a spec that is not one FeatureSpecWrite could have written: a
 * caller's bytes are an invalid binary representation (22P03), the
 * registry's are corrupt (XX001).
 */
static void
SpecInvalid(const SpecReader *sr, const char *what)
{
	ereport(ERROR,
			(errcode(sr->caller ? ERRCODE_INVALID_BINARY_REPRESENTATION : ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid feature spec: %s", what),
			 errhint(sr->caller ? "Pass the spec profenrich.model_spec() returns, unchanged." :
					 "Retrain the model, or restore profenrich.models from a backup.")));
}

/* The reads of a spec, each checked against the bytes left */
static int32
SpecInt(const SpecReader *sr, int bytes)
{
	if (sr->buf->len - sr->buf->cursor < bytes)
		SpecInvalid(sr, "it ends early");
	return pq_getmsgint(sr->buf, bytes);
}

static double
SpecDouble(const SpecReader *sr)
{
	if (sr->buf->len - sr->buf->cursor < 8)
		SpecInvalid(sr, "it ends early");
	return pq_getmsgfloat8(sr->buf);
}

/*
 * A length-prefixed string: NULL for length -1 when nullable, else of 0 to
 * max bytes without a NUL byte.
 */
static char *
SpecString(const SpecReader *sr, bool nullable, int max, const char *what)
{
	int32		len = SpecInt(sr, 4);
	const char *bytes;

	if (len == -1 && nullable)
		return NULL;
	if (len < 0 || len > max || len > sr->buf->len - sr->buf->cursor)
		SpecInvalid(sr, psprintf("the length of %s is out of range", what));
	bytes = pq_getmsgbytes(sr->buf, len);
	if (memchr(bytes, '\0', len) != NULL)
		SpecInvalid(sr, psprintf("%s holds a NUL byte", what));
	return pnstrdup(bytes, len);
}

/* A column name: 1 to NAMEDATALEN - 1 bytes */
static char *
SpecName(const SpecReader *sr, bool nullable, const char *what)
{
	char	   *s = SpecString(sr, nullable, NAMEDATALEN - 1, what);

	if (s != NULL && s[0] == '\0')
		SpecInvalid(sr, psprintf("%s is empty", what));
	return s;
}

/* One column of the spec, every field range-checked */
static void
SpecReadColumn(const SpecReader *sr, FeatureColumn *c)
{
	int			kind;

	c->name = SpecName(sr, false, "a column name");
	kind = SpecInt(sr, 4);
	if (kind < FEATURE_NUMERIC || kind > FEATURE_CATEGORICAL)
		SpecInvalid(sr, psprintf("column \"%s\" has unknown kind %d", c->name, kind));
	c->kind = (FeatureKind) kind;
	c->impute = SpecDouble(sr);
	if (isinf(c->impute))
		SpecInvalid(sr, psprintf("column \"%s\" has an infinite imputation value", c->name));
	c->nlevels = SpecInt(sr, 4);
	if (c->nlevels < 0 || c->nlevels > FEATURE_MAX_LEVELS ||
		(c->kind == FEATURE_CATEGORICAL) != (c->nlevels > 0))
		SpecInvalid(sr, psprintf("column \"%s\" has %d levels", c->name, c->nlevels));
	c->levels = palloc(sizeof(char *) * Max(c->nlevels, 1));
	c->level_len = palloc(sizeof(int) * Max(c->nlevels, 1));
	for (int k = 0; k < c->nlevels; k++)
	{
		c->levels[k] = SpecString(sr, false, FEATURE_MAX_LEVEL_BYTES, "a category level");
		c->level_len[k] = strlen(c->levels[k]);
	}
	c->has_other = SpecInt(sr, 1) != 0;
	c->mode_level = SpecInt(sr, 4);
	if (c->kind == FEATURE_CATEGORICAL &&
		(c->mode_level < 0 || c->mode_level >= c->nlevels + (c->has_other ? 1 : 0)))
		SpecInvalid(sr, psprintf("column \"%s\" imputes level %d of %d", c->name, c->mode_level,
								 c->nlevels));
}

/*
 * The shares of a categorical column's slots: each in [0, 1], summing to 1
 * (within rounding)
 */
static void
SpecReadShares(const SpecReader *sr, FeatureColumn *c)
{
	int			nslots = c->nlevels + (c->has_other ? 1 : 0);
	double		sum = 0;

	c->shares = palloc(sizeof(double) * nslots);
	for (int k = 0; k < nslots; k++)
	{
		c->shares[k] = SpecDouble(sr);
		if (!(c->shares[k] >= 0 && c->shares[k] <= 1))
			SpecInvalid(sr, psprintf("column \"%s\" has a share outside [0, 1]", c->name));
		sum += c->shares[k];
	}
	if (fabs(sum - 1) > 1e-6)
		SpecInvalid(sr, psprintf("the shares of column \"%s\" do not sum to 1", c->name));
}

/*
 * What format 4 added after the split hash: the unseen-category and
 * bad-row policies, the cross-validation fold, and each categorical
 * column's shares (optional: a flag byte, then one per slot)
 */
static void
SpecReadFormat4(const SpecReader *sr, FeatureSpec *spec)
{
	int			unseen = SpecInt(sr, 1);
	int			bad = SpecInt(sr, 1);

	if (unseen < UNSEEN_AVERAGE || unseen > UNSEEN_ZERO)
		SpecInvalid(sr, psprintf("unknown unseen-category policy %d", unseen));
	if (bad != BAD_ROW_SKIP && bad != BAD_ROW_ERROR)
		SpecInvalid(sr, psprintf("unknown bad-row policy %d", bad));
	spec->unseen = (UnseenPolicy) unseen;
	spec->on_bad_row = (BadRowPolicy) bad;
	spec->nfolds = (int16) SpecInt(sr, 2);
	spec->fold = (int16) SpecInt(sr, 2);
	if (spec->nfolds != 0 && (spec->nfolds < 2 || spec->nfolds > FEATURE_MAX_FOLDS))
		SpecInvalid(sr, psprintf("%d cross-validation folds", spec->nfolds));
	if (spec->fold < 0 || (spec->nfolds == 0 ? spec->fold != 0 : spec->fold >= spec->nfolds))
		SpecInvalid(sr, psprintf("fold %d of %d", spec->fold, spec->nfolds));
	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *c = &spec->columns[i];
		int			has;

		if (c->kind != FEATURE_CATEGORICAL)
			continue;
		has = SpecInt(sr, 1);
		if (has != 0 && has != 1)
			SpecInvalid(sr, psprintf("column \"%s\" has a bad shares flag", c->name));
		if (has)
			SpecReadShares(sr, c);
	}
}

/*
 * Read what FeatureSpecWrite wrote, refusing anything it could not have
 * written: lengths, counts, kinds, levels, the imputed level, the split
 * fraction and the total slots are all checked, so no reader of the spec
 * can index outside it.  caller says whether the bytes come from a SQL
 * caller (an aggregate's argument) rather than the registry.  Format 1
 * (release 0.1.0) had no class-label fields; formats before 3 no split
 * hash (they hashed keyless rows' bytes); formats before 4 no policies,
 * folds or shares (an unseen category then scores as all slots 0).
 */
FeatureSpec *
FeatureSpecRead(StringInfo buf, int format, bool caller)
{
	FeatureSpec *spec = palloc0(sizeof(FeatureSpec));
	SpecReader	sr = {buf, caller};
	int			impute;
	int64		slots = 0;

	spec->target = SpecName(&sr, true, "the target");
	if (format >= 2)
	{
		spec->binary = SpecInt(&sr, 1) != 0;
		spec->positive = SpecString(&sr, true, FEATURE_MAX_LEVEL_BYTES, "the positive class");
		if (spec->positive && !spec->binary)
			SpecInvalid(&sr, "a positive class without a binary target");
	}
	if ((spec->binary || spec->positive) && spec->target == NULL)
		SpecInvalid(&sr, "a class label without a target");
	spec->key = SpecName(&sr, true, "the key");
	spec->test_fraction = SpecDouble(&sr);
	if (!(spec->test_fraction >= 0 && spec->test_fraction < 1))
		SpecInvalid(&sr, "the test fraction is not in [0, 1)");
	if (buf->len - buf->cursor < 8)
		SpecInvalid(&sr, "it ends early");
	spec->seed = (uint64) pq_getmsgint64(buf);
	impute = SpecInt(&sr, 4);
	if (impute < IMPUTE_MEAN || impute > IMPUTE_MISSING)
		SpecInvalid(&sr, psprintf("unknown imputation mode %d", impute));
	spec->impute = (ImputeMode) impute;
	spec->ncolumns = SpecInt(&sr, 4);
	if (spec->ncolumns < 0 || spec->ncolumns > MaxHeapAttributeNumber)
		SpecInvalid(&sr, psprintf("%d columns", spec->ncolumns));
	spec->columns = palloc0(sizeof(FeatureColumn) * Max(spec->ncolumns, 1));
	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *c = &spec->columns[i];

		SpecReadColumn(&sr, c);
		for (int k = 0; k < i; k++)
			if (strcmp(spec->columns[k].name, c->name) == 0)
				SpecInvalid(&sr, psprintf("column \"%s\" is named twice", c->name));
		slots += c->nlevels + 1;
	}
	if (slots > FEATURE_MAX_SLOTS)
		SpecInvalid(&sr, psprintf("%lld slots", (long long) slots));
	spec->split_hash = SPLIT_HASH_BYTES;
	if (format >= 3)
	{
		int			h = SpecInt(&sr, 1);

		if (h != SPLIT_HASH_MIX && h != SPLIT_HASH_BYTES)
			SpecInvalid(&sr, psprintf("unknown split hash %d", h));
		spec->split_hash = (SplitHash) h;
	}
	spec->unseen = UNSEEN_ZERO;
	if (format >= 4)
		SpecReadFormat4(&sr, spec);
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
	if (spec->positive)
	{
		appendStringInfoString(&out, ", \"positive\": ");
		escape_json(&out, spec->positive);
	}
	appendStringInfoString(&out, ", \"key\": ");
	if (spec->key)
		escape_json(&out, spec->key);
	else
		appendStringInfoString(&out, "null");
	appendStringInfo(&out, ", \"impute\": \"%s\", \"unseen\": \"%s\", \"slots\": %d, \"columns\": [",
					 ImputeModeName(spec->impute), UnseenPolicyName(spec->unseen), spec->nslots);
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
			escape_json(&out, c->mode_level < c->nlevels ? c->levels[c->mode_level] : "(other)");
			if (spec->unseen != UNSEEN_ZERO)
			{
				appendStringInfoString(&out, ", \"reference\": ");
				escape_json(&out, c->levels[FeatureReferenceLevel(c)]);
			}
			if (c->shares)
			{
				appendStringInfoString(&out, ", \"shares\": [");
				/* to 12 significant digits: for people; the params hold them exactly */
				for (int k = 0; k < c->nlevels + (c->has_other ? 1 : 0); k++)
					appendStringInfo(&out, "%s%.12g", k > 0 ? ", " : "", c->shares[k]);
				appendStringInfoChar(&out, ']');
			}
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
	r->bad_col = FEATURE_ROW_OK;
}

/* Position of a column by name among n names, or -1 */
static int
FindName(const char **names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* Resolve one named column of the row; errors when missing or of a wrong type */
static int
BindColumn(const char **names, const Oid *types, int n, const char *name, FeatureKind kind,
		   FeatureConv *conv)
{
	int			pos = FindName(names, n, name);
	FeatureConv c;

	if (pos < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("row has no column \"%s\" that the model needs", name),
				 errhint("Pass rows of a relation that has every feature column of the model, "
						 "or a row constructed with those column names.")));
	c = FeatureConvForType(types[pos]);
	if (c == CONV_NONE || FeatureKindForConv(c) != kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" has type %s, which does not match the model",
						name, format_type_be(types[pos])),
				 errhint("The model was trained on a %s column; cast the column in a view.",
						 kind == FEATURE_CATEGORICAL ? "text or enum" :
						 kind == FEATURE_BOOLEAN ? "boolean" : "numeric")));
	*conv = c;
	return pos;
}

/* Resolve the split key column and its extended hash function */
static void
BindKey(FeatureReader *r, const FeatureSpec *spec, const char **names, const Oid *types,
		const Oid *collations, int n)
{
	int			pos = FindName(names, n, spec->key);
	TypeCacheEntry *tce;

	if (pos < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("key column \"%s\" does not exist", spec->key),
				 errhint("Name an existing column in the \"key\" option.")));
	tce = lookup_type_cache(types[pos], TYPECACHE_HASH_EXTENDED_PROC_FINFO);
	if (!OidIsValid(tce->hash_extended_proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("key column \"%s\" has type %s, which has no hash function",
						spec->key, format_type_be(types[pos])),
				 errhint("Choose a key column of a hashable type, such as an integer or text.")));
	fmgr_info_cxt(tce->hash_extended_proc, &r->key_hash, r->mcxt);
	r->key_type = getBaseType(types[pos]);
	r->key_collation = collations ? collations[pos] : InvalidOid;
	r->key_pos = pos;
}

/* A learning reader's classes (see LearnClass) */
#define LEARN_MAX 101
#define LEARN_SLOTS 512

typedef struct ClassLearner
{
	int			n;
	bool		more;			/* a value beyond LEARN_MAX was seen */
	char	   *labels[LEARN_MAX];
	int64		keys[LEARN_MAX];	/* integer, boolean and enum targets */
	int16		slot[LEARN_SLOTS];	/* class + 1, 0 for empty */
} ClassLearner;

/* Whether a column read this way can hold class labels: text, enum, boolean, integer */
bool
FeatureClassConv(FeatureConv conv)
{
	return FeatureKindForConv(conv) == FEATURE_CATEGORICAL || conv == CONV_BOOL ||
		conv == CONV_INT2 || conv == CONV_INT4 || conv == CONV_INT8;
}

/* qsort_arg comparator: class indexes by the bytes of their labels */
static int
LabelOrder(const void *a, const void *b, void *arg)
{
	char	  **classes = (char **) arg;

	return strcmp(classes[*(const int *) a], classes[*(const int *) b]);
}

/* A label as a whole number, or false */
static bool
LabelInteger(const char *s, int64 *v)
{
	char	   *end;
	long long	x;

	if (*s == '\0')
		return false;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*v = (int64) x;
	return true;
}

/* The labels that are whole numbers, in numeric order, for integer targets */
static void
BindIntegerClasses(FeatureReader *r, const FeatureSpec *spec)
{
	int			k = spec->nclasses;

	r->class_ints = palloc(sizeof(int64) * k);
	r->class_int_index = palloc(sizeof(int) * k);
	r->nclass_ints = 0;
	for (int i = 0; i < k; i++)
	{
		int64		v;
		int			j;

		if (!LabelInteger(spec->classes[i], &v))
			continue;
		/* insertion in order: at most 100 labels */
		for (j = r->nclass_ints; j > 0 && r->class_ints[j - 1] > v; j--)
		{
			r->class_ints[j] = r->class_ints[j - 1];
			r->class_int_index[j] = r->class_int_index[j - 1];
		}
		r->class_ints[j] = v;
		r->class_int_index[j] = i;
		r->nclass_ints++;
	}
}

/*
 * Prepare the lookup of a class target of this type: the labels in byte
 * order (text), the integer labels in numeric order, the classes of false
 * and true, or an empty cache of enum values.  Labels are the values' text
 * forms (value::text), so a boolean's are "false" and "true".
 */
static void
BindClasses(FeatureReader *r, const FeatureSpec *spec, Oid type)
{
	int			k = spec->nclasses;

	if (!FeatureClassConv(r->target_conv))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target column \"%s\" has type %s, which cannot hold the model's classes",
						spec->target, format_type_be(type)),
				 errhint("Pass rows whose target column is text, an enum, boolean or an integer.")));
	if (r->target_conv == CONV_ENUM)
	{
		Oid			outfn;
		bool		isvarlena;

		getTypeOutputInfo(type, &outfn, &isvarlena);
		fmgr_info_cxt(outfn, &r->target_outfn, r->mcxt);
	}
	if (spec->learn_classes)
	{
		r->learner = MemoryContextAllocZero(r->mcxt, sizeof(ClassLearner));
		return;
	}
	r->class_sorted = palloc(sizeof(int) * k);
	for (int i = 0; i < k; i++)
		r->class_sorted[i] = i;
	qsort_arg(r->class_sorted, k, sizeof(int), LabelOrder, spec->classes);
	BindIntegerClasses(r, spec);
	r->class_bool[0] = r->class_bool[1] = -1;
	for (int i = 0; i < k; i++)
	{
		if (strcmp(spec->classes[i], "false") == 0)
			r->class_bool[0] = i;
		if (strcmp(spec->classes[i], "true") == 0)
			r->class_bool[1] = i;
	}
	r->class_oids = palloc(sizeof(Oid) * k);
	r->class_oid_index = palloc(sizeof(int) * k);
	r->nclass_oids = 0;
}

/* A class target's value that is none of the model's classes */
static void
UnknownClass(const FeatureSpec *spec, const char *s, int len)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("target column \"%s\" holds \"%s\", which is not one of the model's classes",
					spec->target, pnstrdup(s, len)),
			 errhint("Leave rows of other classes out, or train the model again to learn the new class.")));
}

/* The class whose label has these bytes, by binary search over the byte order */
static int
ClassOfText(FeatureReader *r, const FeatureSpec *spec, const char *s, int len)
{
	int			lo = 0,
				hi = spec->nclasses;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		const char *label = spec->classes[r->class_sorted[mid]];
		int			c = strncmp(label, s, len);

		if (c == 0)
			c = label[len] == '\0' ? 0 : 1;
		if (c == 0)
			return r->class_sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	UnknownClass(spec, s, len);
	return -1;
}

/* The class of an integer target's value, by binary search */
static int
ClassOfInteger(FeatureReader *r, const FeatureSpec *spec, int64 v)
{
	int			lo = 0,
				hi = r->nclass_ints;
	char		buf[32];

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (r->class_ints[mid] == v)
			return r->class_int_index[mid];
		if (r->class_ints[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	snprintf(buf, sizeof(buf), INT64_FORMAT, v);
	UnknownClass(spec, buf, strlen(buf));
	return -1;
}

/* The class of an enum value: from the cache of values seen, else by its label */
static int
ClassOfEnum(FeatureReader *r, const FeatureSpec *spec, Datum d)
{
	Oid			oid = DatumGetObjectId(d);
	const char *s;
	int			k;

	for (int i = 0; i < r->nclass_oids; i++)
		if (r->class_oids[i] == oid)
			return r->class_oid_index[i];
	s = OutputFunctionCall(&r->target_outfn, d);
	k = ClassOfText(r, spec, s, strlen(s));
	if (r->nclass_oids < spec->nclasses)
	{
		r->class_oids[r->nclass_oids] = oid;
		r->class_oid_index[r->nclass_oids++] = k;
	}
	return k;
}

/*
 * Learning the classes while training reads the rows: each new value of
 * the target gets the next index, in order of appearance, found again by
 * an open-addressing hash of its key (the bytes of a text value, an
 * integer's value, an enum's OID); FeatureLearnedClasses then gives the
 * labels and their model order, by which the caller renumbers the rows.
 * Past MODEL_MAX_CLASSES + 1 values the learner only notes that there are
 * more (their rows read as -1: the caller refuses the target).  (The
 * learner's shape is defined above, with the binding.)
 */

/* The label of a new value: its text, as value::text gives it */
static char *
LearnedLabel(FeatureReader *r, Datum d, const char *s, int len)
{
	char		buf[32];

	switch (r->target_conv)
	{
		case CONV_INT2:
		case CONV_INT4:
		case CONV_INT8:
			snprintf(buf, sizeof(buf), INT64_FORMAT,
					 r->target_conv == CONV_INT2 ? (int64) DatumGetInt16(d) :
					 r->target_conv == CONV_INT4 ? (int64) DatumGetInt32(d) : DatumGetInt64(d));
			return MemoryContextStrdup(r->mcxt, buf);
		case CONV_BOOL:
			return MemoryContextStrdup(r->mcxt, DatumGetBool(d) ? "true" : "false");
		case CONV_ENUM:
			return MemoryContextStrdup(r->mcxt, OutputFunctionCall(&r->target_outfn, d));
		default:
			{
				char	   *t = MemoryContextAlloc(r->mcxt, len + 1);

				memcpy(t, s, len);
				t[len] = '\0';
				return t;
			}
	}
}

/* The class of a value while learning: its index, a new one, or -1 past the limit */
static int
LearnClass(FeatureReader *r, Datum d)
{
	ClassLearner *l = r->learner;
	bool		text = FeatureKindForConv(r->target_conv) == FEATURE_CATEGORICAL &&
		r->target_conv != CONV_ENUM;
	const char *s = NULL;
	int			len = 0;
	int64		key = 0;
	uint32		h;

	if (text)
	{
		s = CategoryText(d, r->target_conv, NULL, &len);
		h = hash_bytes((const unsigned char *) s, len);
	}
	else
	{
		key = r->target_conv == CONV_INT2 ? (int64) DatumGetInt16(d) :
			r->target_conv == CONV_INT4 ? (int64) DatumGetInt32(d) :
			r->target_conv == CONV_BOOL ? (int64) DatumGetBool(d) :
			r->target_conv == CONV_ENUM ? (int64) DatumGetObjectId(d) : DatumGetInt64(d);
		h = hash_bytes_uint32_extended((uint32) key ^ (uint32) (key >> 32), 0);
	}
	for (uint32 i = h % LEARN_SLOTS;; i = (i + 1) % LEARN_SLOTS)
	{
		int			k = l->slot[i] - 1;

		if (k < 0)
			break;
		if (text ? (strncmp(l->labels[k], s, len) == 0 && l->labels[k][len] == '\0') :
			l->keys[k] == key)
			return k;
	}
	if (l->n == LEARN_MAX)
	{
		l->more = true;
		return -1;
	}
	l->labels[l->n] = LearnedLabel(r, d, s, len);
	l->keys[l->n] = key;
	for (uint32 i = h % LEARN_SLOTS;; i = (i + 1) % LEARN_SLOTS)
		if (l->slot[i] == 0)
		{
			l->slot[i] = (int16) (l->n + 1);
			break;
		}
	return l->n++;
}

/* Learned classes in model order: text by bytes, integers by value, enums as declared */
static FeatureReader *SortReader;
static FmgrInfo SortEnumCmp;

static int
LearnedOrder(const void *a, const void *b)
{
	const ClassLearner *l = SortReader->learner;
	int			x = *(const int *) a,
				y = *(const int *) b;

	switch (SortReader->target_conv)
	{
		case CONV_INT2:
		case CONV_INT4:
		case CONV_INT8:
		case CONV_BOOL:
			return l->keys[x] < l->keys[y] ? -1 : l->keys[x] > l->keys[y] ? 1 : 0;
		case CONV_ENUM:
			return DatumGetInt32(FunctionCall2(&SortEnumCmp, ObjectIdGetDatum((Oid) l->keys[x]),
											   ObjectIdGetDatum((Oid) l->keys[y])));
		default:
			return strcmp(l->labels[x], l->labels[y]);
	}
}

/*
 * The classes a learning reader has seen: their number (at most
 * MODEL_MAX_CLASSES + 1), *labels in order of appearance, and order[i] the
 * position in model order of the i-th seen; *more when still others were
 * seen.
 */
int
FeatureLearnedClasses(FeatureReader *r, char ***labels, int *order, bool *more)
{
	ClassLearner *l = r->learner;
	int			byrank[LEARN_MAX];

	*more = l != NULL && l->more;
	if (l == NULL || l->n == 0)
		return 0;
	for (int i = 0; i < l->n; i++)
		byrank[i] = i;
	if (r->target_conv == CONV_ENUM)
		fmgr_info(F_ENUM_CMP, &SortEnumCmp);
	SortReader = r;
	qsort(byrank, l->n, sizeof(int), LearnedOrder);
	SortReader = NULL;
	for (int rank = 0; rank < l->n; rank++)
		order[byrank[rank]] = rank;
	*labels = l->labels;
	return l->n;
}

/*
 * The class index of a class target's value (not NULL): a value that is
 * none of the model's classes is an error.
 */
int
FeatureReadClass(FeatureReader *r, const FeatureSpec *spec, Datum d)
{
	if (r->learner)
		return LearnClass(r, d);
	switch (r->target_conv)
	{
		case CONV_INT2:
			return ClassOfInteger(r, spec, DatumGetInt16(d));
		case CONV_INT4:
			return ClassOfInteger(r, spec, DatumGetInt32(d));
		case CONV_INT8:
			return ClassOfInteger(r, spec, DatumGetInt64(d));
		case CONV_BOOL:
			{
				int			k = r->class_bool[DatumGetBool(d) ? 1 : 0];

				if (k < 0)
					UnknownClass(spec, DatumGetBool(d) ? "true" : "false",
								 DatumGetBool(d) ? 4 : 5);
				return k;
			}
		case CONV_ENUM:
			return ClassOfEnum(r, spec, d);
		default:
			{
				int			len;
				const char *s = CategoryText(d, r->target_conv, NULL, &len);

				return ClassOfText(r, spec, s, len);
			}
	}
}

/*
 * Refuse a group_by column of a type whose values are not read as a
 * group: a model reads numbers, booleans, text and enums.
 */
void
FeatureCheckGroupType(const char *column, Oid type)
{
	if (FeatureConvForType(type) == CONV_NONE || FeatureConvForType(type) == CONV_CSTRING)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("group_by column \"%s\" has type %s, which cannot group models",
						column, format_type_be(type)),
				 errhint("Group by a numeric, boolean, text or enum column; cast others (such as a date) to text in a view.")));
}

/* Resolve the group column of a model per group, and how its values become text */
static void
BindGroup(FeatureReader *r, const FeatureSpec *spec, const char **names, const Oid *types, int n)
{
	int			pos = FindName(names, n, spec->group);

	if (pos < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("row has no column \"%s\", which the model's groups are named by", spec->group),
				 errhint("Pass rows of a relation that has the model's group_by column.")));
	FeatureCheckGroupType(spec->group, types[pos]);
	r->group_conv = FeatureConvForType(types[pos]);
	if (r->group_conv != CONV_TEXT && r->group_conv != CONV_BPCHAR && r->group_conv != CONV_INT4 &&
		r->group_conv != CONV_INT8 && r->group_conv != CONV_INT2)
	{
		Oid			outfn;
		bool		isvarlena;

		getTypeOutputInfo(types[pos], &outfn, &isvarlena);
		fmgr_info_cxt(outfn, &r->group_outfn, r->mcxt);
	}
	r->group_pos = pos;
}

/*
 * Bind the reader to rows whose columns have these names and types: the
 * position and converter of every column the spec reads (and the target
 * and key when wanted), and the output function of enum columns.
 */
static void
BindNames(FeatureReader *r, const FeatureSpec *spec, const char **names, const Oid *types,
		  const Oid *collations, int n, bool want_target, bool want_key)
{
	MemoryContext old = MemoryContextSwitchTo(r->mcxt);

	r->pos = palloc(sizeof(int) * Max(spec->ncolumns, 1));
	r->conv = palloc(sizeof(FeatureConv) * Max(spec->ncolumns, 1));
	r->outfn = palloc0(sizeof(FmgrInfo) * Max(spec->ncolumns, 1));
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		r->pos[i] = BindColumn(names, types, n, c->name, c->kind, &r->conv[i]);
		if (r->conv[i] == CONV_ENUM)
		{
			Oid			outfn;
			bool		isvarlena;

			getTypeOutputInfo(types[r->pos[i]], &outfn, &isvarlena);
			fmgr_info_cxt(outfn, &r->outfn[i], r->mcxt);
		}
	}
	r->target_pos = -1;
	if (want_target && spec->target != NULL)
	{
		r->target_pos = FindName(names, n, spec->target);
		if (r->target_pos < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("row has no target column \"%s\"", spec->target),
					 errhint("Pass rows that hold the model's target column.")));
		r->target_conv = FeatureConvForType(types[r->target_pos]);
		if (spec->nclasses > 0 || spec->learn_classes)
			BindClasses(r, spec, types[r->target_pos]);
		else if (spec->binary && spec->positive != NULL &&
			FeatureKindForConv(r->target_conv) == FEATURE_CATEGORICAL)
		{
			if (r->target_conv == CONV_ENUM)
			{
				Oid			outfn;
				bool		isvarlena;

				getTypeOutputInfo(types[r->target_pos], &outfn, &isvarlena);
				fmgr_info_cxt(outfn, &r->target_outfn, r->mcxt);
			}
		}
		else if (spec->binary && spec->positive != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("target column \"%s\" has type %s, but the model's target is text",
							spec->target, format_type_be(types[r->target_pos])),
					 errhint("Pass rows whose target column is text or an enum.")));
		else if (r->target_conv == CONV_NONE ||
				 FeatureKindForConv(r->target_conv) == FEATURE_CATEGORICAL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("target column \"%s\" has type %s, which is not numeric",
							spec->target, format_type_be(types[r->target_pos])),
					 errhint("Cast the target to a numeric type in a view.")));
	}
	r->key_pos = -1;
	if (want_key && spec->key != NULL)
		BindKey(r, spec, names, types, collations, n);
	r->group_pos = -1;
	if (spec->group != NULL)
		BindGroup(r, spec, names, types, n);
	r->num_col = palloc(sizeof(int) * Max(spec->ncolumns, 1));
	r->num_pos = palloc(sizeof(int) * Max(spec->ncolumns, 1));
	r->num_slot = palloc(sizeof(int) * Max(spec->ncolumns, 1));
	r->num_conv = palloc(sizeof(FeatureConv) * Max(spec->ncolumns, 1));
	r->nnum = 0;
	for (int i = 0; i < spec->ncolumns; i++)
	{
		if (spec->columns[i].kind == FEATURE_CATEGORICAL)
			continue;
		r->num_col[r->nnum] = i;
		r->num_pos[r->nnum] = r->pos[i];
		r->num_slot[r->nnum] = spec->columns[i].first_slot;
		r->num_conv[r->nnum] = r->conv[i];
		r->nnum++;
	}
	r->bound = true;
	MemoryContextSwitchTo(old);
}

/* The largest row position the binding reads, plus one */
static int
BoundWidth(const FeatureReader *r, const FeatureSpec *spec)
{
	int			w = Max(Max(r->target_pos, r->key_pos), r->group_pos) + 1;

	for (int i = 0; i < spec->ncolumns; i++)
		w = Max(w, r->pos[i] + 1);
	return w;
}

/*
 * Bind to the columns of a tuple descriptor (a query's result) and size
 * the row buffer that FeatureReaderLoadSlot fills.
 */
void
FeatureReaderBindDesc(FeatureReader *r, const FeatureSpec *spec, TupleDesc desc,
					  bool want_target, bool want_key)
{
	const char **names = palloc(sizeof(char *) * Max(desc->natts, 1));
	Oid		   *types = palloc(sizeof(Oid) * Max(desc->natts, 1));
	Oid		   *colls = palloc(sizeof(Oid) * Max(desc->natts, 1));

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		names[i] = att->attisdropped ? NULL : NameStr(att->attname);
		types[i] = att->atttypid;
		colls[i] = att->attcollation;
	}
	BindNames(r, spec, names, types, colls, desc->natts, want_target, want_key);
	r->width = BoundWidth(r, spec);
	r->rowbuf = MemoryContextAlloc(r->mcxt, sizeof(NullableDatum) * Max(r->width, 1));
}

/* Make a slot of a query's result the current row */
void
FeatureReaderLoadSlot(FeatureReader *r, TupleTableSlot *slot)
{
	slot_getsomeattrs(slot, r->width);
	for (int i = 0; i < r->width; i++)
	{
		r->rowbuf[i].value = slot->tts_values[i];
		r->rowbuf[i].isnull = slot->tts_isnull[i];
	}
	r->row = r->rowbuf;
}

/*
 * Bind to a composite type unless bound to it already; with names (one
 * per attribute), its columns are those names by position (a row built as
 * ROW(...) has no names of its own), else the type's attribute names.
 */
static void
BindComposite(FeatureReader *r, const FeatureSpec *spec, HeapTupleHeader td,
			  bool want_target, bool want_key, const char **names, int nnames)
{
	Oid			tupType = HeapTupleHeaderGetTypeId(td);
	int32		tupTypmod = HeapTupleHeaderGetTypMod(td);
	MemoryContext old;
	TupleDesc	desc;
	const char **attnames;
	Oid		   *types;
	Oid		   *colls;

	if (r->bound && r->tupType == tupType && r->tupTypmod == tupTypmod)
		return;
	old = MemoryContextSwitchTo(r->mcxt);
	desc = lookup_rowtype_tupdesc(tupType, tupTypmod);
	r->tupdesc = CreateTupleDescCopy(desc);
	ReleaseTupleDesc(desc);
	if (names != NULL && nnames != r->tupdesc->natts)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d column names for a row of %d columns", nnames, r->tupdesc->natts),
				 errhint("Pass one name per column of the row, in the same order.")));
	attnames = palloc(sizeof(char *) * Max(r->tupdesc->natts, 1));
	types = palloc(sizeof(Oid) * Max(r->tupdesc->natts, 1));
	colls = palloc(sizeof(Oid) * Max(r->tupdesc->natts, 1));
	for (int i = 0; i < r->tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(r->tupdesc, i);

		attnames[i] = att->attisdropped ? NULL : names ? names[i] : NameStr(att->attname);
		types[i] = att->atttypid;
		colls[i] = att->attcollation;
	}
	BindNames(r, spec, attnames, types, colls, r->tupdesc->natts, want_target, want_key);
	/* a key without a collation of its own (a ROW's field) hashes as its type does */
	if (r->key_pos >= 0 && !OidIsValid(r->key_collation))
		r->key_collation = get_typcollation(types[r->key_pos]);
	r->width = BoundWidth(r, spec);
	if (r->slot)
		ExecDropSingleTupleTableSlot(r->slot);
	r->slot = MakeSingleTupleTableSlot(r->tupdesc, &TTSOpsHeapTuple);
	r->rowbuf = palloc(sizeof(NullableDatum) * Max(r->width, 1));
	r->tupType = tupType;
	r->tupTypmod = tupTypmod;
	MemoryContextSwitchTo(old);
}

/* Deform the composite datum td up to the last attribute the binding reads: the current row */
static void
LoadBoundComposite(FeatureReader *r, HeapTupleHeader td)
{
	HeapTupleData tuple;

	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = td;
	ExecStoreHeapTuple(&tuple, r->slot, false);
	slot_getsomeattrs(r->slot, r->width);
	for (int i = 0; i < r->width; i++)
	{
		r->rowbuf[i].value = r->slot->tts_values[i];
		r->rowbuf[i].isnull = r->slot->tts_isnull[i];
	}
	r->row = r->rowbuf;
}

/*
 * Make a composite datum the current row: bind to its type if needed, then
 * deform it once, up to the last attribute the model reads.
 */
void
FeatureReaderLoadComposite(FeatureReader *r, const FeatureSpec *spec, HeapTupleHeader td,
						   bool want_target, bool want_key)
{
	BindComposite(r, spec, td, want_target, want_key, NULL, 0);
	LoadBoundComposite(r, td);
}

/*
 * Make a row built as ROW(col1, col2, ...) the current row, its columns
 * named by the text[] argument names_arg of the call (the form Citus can
 * push down: an aggregate's arguments of fixed types).  The names are
 * read once, when the reader binds to the row's type.
 */
void
FeatureReaderLoadRecord(FeatureReader *r, const FeatureSpec *spec, FunctionCallInfo fcinfo,
						int names_arg, HeapTupleHeader td, bool want_target, bool want_key)
{
	if (!r->bound || r->tupType != HeapTupleHeaderGetTypeId(td) ||
		r->tupTypmod != HeapTupleHeaderGetTypMod(td))
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		const char **names;

		if (PG_ARGISNULL(names_arg))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column names must not be NULL"),
					 errhint("Pass one name per column of the row.")));
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(names_arg), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		names = palloc(sizeof(char *) * Max(n, 1));
		for (int i = 0; i < n; i++)
			names[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
		r->bound = false;
		BindComposite(r, spec, td, want_target, want_key, names, n);
	}
	LoadBoundComposite(r, td);
}

/*
 * Bind to the arguments of a call whose argument names_arg is a text[] of
 * column names, one per argument after it, their types those of the
 * arguments.  Done once per call site.
 */
void
FeatureReaderBindArgs(FeatureReader *r, const FeatureSpec *spec, FunctionCallInfo fcinfo,
					  int names_arg, bool want_target, bool want_key)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	const char **names;
	Oid		   *types;

	if (r->bound)
		return;
	if (PG_ARGISNULL(names_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column names must not be NULL"),
				 errhint("Pass one name per value argument.")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(names_arg), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	if (n != PG_NARGS() - names_arg - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d column names for %d values", n, PG_NARGS() - names_arg - 1),
				 errhint("Pass one name per value argument, in the same order.")));
	names = palloc(sizeof(char *) * Max(n, 1));
	types = palloc(sizeof(Oid) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		names[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
		/* an aggregate's transition called by Citus has no call expression */
		types[i] = PartialArgType(fcinfo, names_arg + 1 + i);
		if (!OidIsValid(types[i]))
			elog(ERROR, "cannot determine the type of argument %d", names_arg + 2 + i);
	}
	BindNames(r, spec, names, types, NULL, n, want_target, want_key);
	if (want_key && r->key_pos >= 0)
	{
		r->key_collation = PG_GET_COLLATION();
		/* a call without one (Citus packs the arguments in a row) hashes as the type does */
		if (!OidIsValid(r->key_collation))
			r->key_collation = get_typcollation(types[r->key_pos]);
	}
}

/* Refuse NaN and infinity, in training and scoring alike */
void
FeatureNotFinite(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("column \"%s\" holds NaN or infinity", name),
			 errhint("Filter such rows out, or set the values to NULL so they are imputed.")));
}

/* The text of a categorical datum and its length (char(n) without trailing blanks) */
static const char *
CategoryText(Datum d, FeatureConv conv, FmgrInfo *outfn, int *len)
{
	const char *s;

	if (conv == CONV_ENUM || conv == CONV_CSTRING)
	{
		s = conv == CONV_CSTRING ? DatumGetCString(d) : OutputFunctionCall(outfn, d);
		*len = strlen(s);
		return s;
	}
	else
	{
		text	   *t = DatumGetTextPP(d);

		s = VARDATA_ANY(t);
		*len = VARSIZE_ANY_EXHDR(t);
		if (conv == CONV_BPCHAR)
			while (*len > 0 && s[*len - 1] == ' ')
				(*len)--;
		return s;
	}
}

/*
 * A class label as 1 (positive) or 0.  Booleans and numbers must be 0 or
 * 1; a text label is positive when it equals the spec's positive value,
 * and a third distinct value is an error naming the values found.
 */
double
FeatureBinaryTarget(FeatureReader *r, const FeatureSpec *spec, Datum d)
{
	double		v;

	if (spec->positive == NULL)
	{
		v = FeatureDatumToDouble(d, r->target_conv);
		if (v != 0.0 && v != 1.0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target column \"%s\" holds %g, but a class label must be 0 or 1",
							spec->target, v),
					 errhint("Use a boolean target, a 0/1 target, or a text target with two values and the option \"positive\".")));
		return v;
	}
	else
	{
		int			len;
		const char *s = CategoryText(d, r->target_conv, &r->target_outfn, &len);

		if (len == (int) strlen(spec->positive) && memcmp(s, spec->positive, len) == 0)
			return 1.0;
		if (r->negative == NULL)
			r->negative = MemoryContextStrdup(r->mcxt, pnstrdup(s, len));
		else if ((int) strlen(r->negative) != len || memcmp(r->negative, s, len) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target column \"%s\" has more than two values: \"%s\", \"%s\" and \"%s\" at least",
							spec->target, spec->positive, r->negative, pnstrdup(s, len)),
					 errhint("A class label needs exactly two values; map the others in a view.")));
		return 0.0;
	}
}

/* The conversions FeatureDatumToDouble does not inline */
double
FeatureDatumToDoubleSlow(Datum d, FeatureConv conv)
{
	if (conv == CONV_NUMERIC)
		return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
	elog(ERROR, "unexpected numeric conversion %d", (int) conv);
	return 0.0;
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
FeatureReadLevel(FeatureReader *r, const FeatureSpec *spec, int col)
{
	const FeatureColumn *c = &spec->columns[col];
	const NullableDatum *v = &r->row[r->pos[col]];
	const char *s;
	int			len;
	int			level;

	if (v->isnull)
		return LEVEL_NULL;
	s = CategoryText(v->value, r->conv[col], &r->outfn[col], &len);
	level = FindLevel(c, s, len);
	if (level == LEVEL_UNSEEN && c->has_other)
		return c->nlevels;
	return level;
}

/*
 * The current row's group: the text of its group_by value (the type's
 * output, char(n) without trailing blanks), in *key (not terminated) and
 * *len; false when it is NULL.  A group is a value's text on every node
 * and at scoring alike.  Integers and text, the usual groups, are read
 * without calling their output function.
 */
bool
FeatureReadGroup(FeatureReader *r, const char **key, int *len)
{
	const NullableDatum *v = &r->row[r->group_pos];

	if (v->isnull)
		return false;
	switch (r->group_conv)
	{
		case CONV_TEXT:
		case CONV_BPCHAR:
			*key = CategoryText(v->value, r->group_conv, NULL, len);
			return true;
		case CONV_INT2:
			*len = pg_itoa(DatumGetInt16(v->value), r->group_buf);
			break;
		case CONV_INT4:
			*len = pg_ltoa(DatumGetInt32(v->value), r->group_buf);
			break;
		case CONV_INT8:
			*len = pg_lltoa(DatumGetInt64(v->value), r->group_buf);
			break;
		default:
			*key = OutputFunctionCall(&r->group_outfn, v->value);
			*len = strlen(*key);
			return true;
	}
	*key = r->group_buf;
	return true;
}

/*
 * A 64-bit hash deciding the row's split and sample priority: of the key
 * column when the spec has one, else (specs before format 3) of the n
 * encoded values at x, so the same data always splits the same way
 * whatever the plan or row order.  Keyless rows of a format 3 spec are
 * hashed by FeatureValuesHash instead.
 */
uint64
FeatureRowHash(FeatureReader *r, const FeatureSpec *spec, const double *x, int n)
{
	if (r->key_pos >= 0)
	{
		const NullableDatum *v = &r->row[r->key_pos];

		if (v->isnull)
			return hash_bytes_uint32_extended(0, spec->seed);
		/* the same values as hashint4extended and hashint8extended, without fmgr */
		if (r->key_type == INT4OID)
			return hash_bytes_uint32_extended((uint32) DatumGetInt32(v->value), spec->seed);
		if (r->key_type == INT8OID)
		{
			int64		k = DatumGetInt64(v->value);
			uint32		lo = (uint32) k,
						hi = (uint32) (k >> 32);

			lo ^= (k >= 0) ? hi : ~hi;
			return hash_bytes_uint32_extended(lo, spec->seed);
		}
		return DatumGetUInt64(FunctionCall2Coll(&r->key_hash, r->key_collation,
												v->value, UInt64GetDatum(spec->seed)));
	}
	return hash_bytes_extended((const unsigned char *) x, n * sizeof(double), spec->seed);
}

/* w rotated left by n bits, 0 < n < 64 */
static inline uint64
Rotl64(uint64 w, int n)
{
	return (w << n) | (w >> (64 - n));
}

/* One word into a lane of FeatureValuesHash: xor, multiply, fold the high bits down */
static inline uint64
MixWord(uint64 h, double v)
{
	uint64		w;

	memcpy(&w, &v, sizeof(w));
	h ^= w;
	h *= UINT64CONST(0x9e3779b97f4a7c15);
	return h ^ (h >> 32);
}

/*
 * The split hash of a keyless row (spec format 3): its nslots encoded
 * slots x (NULL numbers as 0, as FeatureEncodeRow leaves them) and its
 * target, mixed word by word in four independent lanes (so the multiplies
 * overlap), the lanes then combined and finalized with splitmix64's mixer.
 * A few cycles per slot, where hash_bytes_extended over the same bytes
 * (0.4.0) took several times more and made a keyless training slower than
 * a keyed one.  Not for adversaries: it only has to spread real rows.
 */
uint64
FeatureValuesHash(const FeatureSpec *spec, const double *x, double target)
{
	int			n = spec->nslots;
	uint64		a = spec->seed ^ UINT64CONST(0x243f6a8885a308d3),
				b = spec->seed ^ UINT64CONST(0x13198a2e03707344),
				c = spec->seed ^ UINT64CONST(0xa4093822299f31d0),
				d = spec->seed ^ UINT64CONST(0x082efa98ec4e6c89);
	uint64		h;
	int			i = 0;

	for (; i + 4 <= n; i += 4)
	{
		a = MixWord(a, x[i]);
		b = MixWord(b, x[i + 1]);
		c = MixWord(c, x[i + 2]);
		d = MixWord(d, x[i + 3]);
	}
	for (; i < n; i++)
		a = MixWord(a, x[i]);
	b = MixWord(b, target);
	h = a ^ Rotl64(b, 16) ^ Rotl64(c, 32) ^ Rotl64(d, 48) ^ (uint64) n;
	h ^= h >> 30;
	h *= UINT64CONST(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64CONST(0x94d049bb133111eb);
	return h ^ (h >> 31);
}

/*
 * Whether the reader's current row is in the spec's test split, decided
 * as training decided it: by its key, else by its encoded values and
 * target; for a spec before format 3, by the bytes the training path
 * (legacy) hashed.  x (nslots + 1) and missing (nnumeric) are scratch.
 */
bool
FeatureRowInTest(FeatureReader *r, const FeatureSpec *spec, double target,
				 LegacySplitInput legacy, double *x, int *missing)
{
	uint32		threshold = FeatureTestThreshold(spec);
	int			nmissing;
	uint64		h;

	if (r->key_pos >= 0)
		return FeatureSplitOf(spec, FeatureRowHash(r, spec, NULL, 0), threshold) == SPLIT_TEST;
	(void) FeatureEncodeRow(r, spec, x, missing, &nmissing);
	if (spec->split_hash == SPLIT_HASH_MIX)
		h = FeatureValuesHash(spec, x, target);
	else if (legacy == LEGACY_SLOTS_TARGET)
	{
		x[spec->nslots] = target;
		h = FeatureRowHash(r, spec, x, spec->nslots + 1);
	}
	else
	{
		for (int k = 0; k < nmissing; k++)
			for (int i = 0; i < spec->ncolumns; i++)
				if (spec->columns[i].miss_index == missing[k])
					x[spec->columns[i].first_slot] = get_float8_nan();
		h = FeatureRowHash(r, spec, x, spec->nslots);
	}
	return FeatureSplitOf(spec, h, threshold) == SPLIT_TEST;
}

/* Rows whose split hash falls below this are in the test split */
uint32
FeatureTestThreshold(const FeatureSpec *spec)
{
	return (uint32) floor(spec->test_fraction * 4294967296.0);
}

/*
 * Encode a training row into x (nslots values).  A NULL numeric feature
 * leaves 0 in its slot and its column's miss_index is appended to
 * missing[], so the imputed value can be applied once the training mean
 * is known; a NULL category takes the mode (under impute "missing", NaN
 * in all its slots).  Returns true if any feature was NULL.  A NaN or
 * infinite number raises, or with r->soft_bad sets r->bad_col (the row
 * then must not be used).
 */
bool
FeatureEncodeRow(FeatureReader *r, const FeatureSpec *spec, double *x,
				 int *missing, int *nmissing)
{
	bool		anynull = false;

	*nmissing = 0;
	for (int k = 0; k < r->nnum; k++)
	{
		const NullableDatum *v = &r->row[r->num_pos[k]];
		double		value;

		if (unlikely(v->isnull))
		{
			x[r->num_slot[k]] = 0.0;
			missing[(*nmissing)++] = spec->columns[r->num_col[k]].miss_index;
			anynull = true;
			continue;
		}
		value = FeatureDatumToDouble(v->value, r->num_conv[k]);
		if (unlikely(!isfinite(value)))
		{
			if (!r->soft_bad)
				FeatureNotFinite(spec->columns[r->num_col[k]].name);
			if (r->bad_col == FEATURE_ROW_OK)
				r->bad_col = r->num_col[k];
			value = 0.0;
		}
		x[r->num_slot[k]] = value;
	}
	if (r->nnum == spec->ncolumns)
		return anynull;
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];
		int			level;

		if (c->kind != FEATURE_CATEGORICAL)
			continue;
		level = FeatureReadLevel(r, spec, i);
		memset(&x[c->first_slot], 0, sizeof(double) * c->nslots);
		if (level == LEVEL_NULL && spec->impute == IMPUTE_MISSING)
		{
			/* every slot missing, for a model that learns where NULLs go */
			for (int k = 0; k < c->nslots; k++)
				x[c->first_slot + k] = get_float8_nan();
			anynull = true;
			continue;
		}
		if (level == LEVEL_NULL)
		{
			anynull = true;
			level = c->mode_level;
		}
		if (level >= 0)
			x[c->first_slot + level] = 1.0;
	}
	return anynull;
}

/*
 * A category outside the vocabulary of column col (FeatureReadLevel gave
 * LEVEL_UNSEEN, so the column has no "(other)" slot) met while scoring:
 * noted in r->unseen, then the spec's policy (option "unseen") decides: an
 * error, or false when the row scores NULL; true when the caller encodes
 * the column by its training shares (the population average), or, for a
 * spec before format 4 (UNSEEN_ZERO), as all slots 0 as 0.4.0 did.
 */
bool
FeatureUnseenLevel(FeatureReader *r, const FeatureSpec *spec, int col)
{
	const FeatureColumn *c = &spec->columns[col];

	r->unseen = true;
	if (spec->unseen == UNSEEN_NULL)
		return false;
	if (spec->unseen == UNSEEN_ERROR)
	{
		const NullableDatum *v = &r->row[r->pos[col]];
		int			len;
		const char *s = CategoryText(v->value, r->conv[col], &r->outfn[col], &len);

		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("column \"%s\" holds \"%s\", a category the model did not see in training",
						c->name, pnstrdup(s, Min(len, 200))),
				 errdetail("The model was trained with the option \"unseen\": \"error\"."),
				 errhint("Train with \"unseen\": \"average\" (the population average) or \"null\" to score such rows, or retrain on data that has the category.")));
	}
	return true;
}

/*
 * Encode the current row for scoring into x (nslots values), as training
 * encoded it: a NULL takes its imputed value or level (the training mean,
 * the mode) under "impute": "mean", and makes the row unscorable
 * otherwise; an unseen category follows the spec's policy
 * (FeatureUnseenLevel); NaN and infinity raise.  Returns false when the
 * row scores NULL.  What a family's scorer calls when it needs the
 * encoded slots (GLMs read the columns straight into their dot product).
 */
bool
FeatureEncodeScoringRow(FeatureReader *r, const FeatureSpec *spec, double *x)
{
	bool		impute = spec->impute == IMPUTE_MEAN;

	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];
		int			level;

		if (c->kind != FEATURE_CATEGORICAL)
		{
			if (!FeatureReadNumber(r, spec, i, &x[c->first_slot]))
			{
				if (!impute)
					return false;
				x[c->first_slot] = c->impute;
			}
			continue;
		}
		level = FeatureReadLevel(r, spec, i);
		memset(&x[c->first_slot], 0, sizeof(double) * c->nslots);
		if (level == LEVEL_NULL)
		{
			if (!impute)
				return false;
			level = c->mode_level;
		}
		if (level == LEVEL_UNSEEN)
		{
			if (!FeatureUnseenLevel(r, spec, i))
				return false;
			if (c->shares && spec->unseen == UNSEEN_AVERAGE)
				memcpy(&x[c->first_slot], c->shares, sizeof(double) * c->nslots);
			continue;
		}
		x[c->first_slot + level] = 1.0;
	}
	return true;
}

/*
 * Can a row hold a category this spec did not see?  Only in a categorical
 * column without an "(other)" slot (with one, such a value is "(other)").
 */
bool
FeatureCanBeUnseen(const FeatureSpec *spec)
{
	for (int i = 0; i < spec->ncolumns; i++)
		if (spec->columns[i].kind == FEATURE_CATEGORICAL && !spec->columns[i].has_other)
			return true;
	return false;
}

/*
 * The first feature of the current row a model cannot use (a number that
 * is NaN or infinite), or FEATURE_ROW_OK; never raises.  Readers of rows
 * that a training skipped (evaluate, lift) skip them the same way.
 */
int
FeatureRowBadColumn(FeatureReader *r, const FeatureSpec *spec)
{
	for (int k = 0; k < r->nnum; k++)
	{
		const NullableDatum *v = &r->row[r->num_pos[k]];

		if (!v->isnull && !isfinite(FeatureDatumToDouble(v->value, r->num_conv[k])))
			return r->num_col[k];
	}
	return FEATURE_ROW_OK;
}

/* The column a bad_col names, for messages */
const char *
FeatureBadColumnName(const FeatureSpec *spec, int bad_col)
{
	if (bad_col == FEATURE_BAD_TARGET)
		return spec->target ? spec->target : "(target)";
	if (bad_col >= 0 && bad_col < spec->ncolumns)
		return spec->columns[bad_col].name;
	return "?";
}

/*
 * Set every categorical column's shares from the training means of its
 * slots (slot_mean, nslots): the trainers that compute them (linear,
 * logistic) make the "average" of an unseen category exactly the training
 * population's, whose contribution explain() shows as 0.
 */
void
FeatureSetShares(FeatureSpec *spec, const double *slot_mean)
{
	for (int i = 0; i < spec->ncolumns; i++)
	{
		FeatureColumn *c = &spec->columns[i];
		double		sum = 0;

		if (c->kind != FEATURE_CATEGORICAL)
			continue;
		c->shares = palloc(sizeof(double) * c->nslots);
		for (int k = 0; k < c->nslots; k++)
			sum += c->shares[k] = Min(Max(slot_mean[c->first_slot + k], 0.0), 1.0);
		if (sum > 0)
			for (int k = 0; k < c->nslots; k++)
				c->shares[k] /= sum;
	}
}

/*
 * The reference level of a categorical column, the one a model without a
 * penalty aliases (no coefficient; the others read against it): the most
 * frequent, which the vocabulary lists first, so coefficients read as a
 * difference from the usual customer.
 */
int
FeatureReferenceLevel(const FeatureColumn *c)
{
	return 0;
}

/*
 * The order in which a solver that aliases collinear slots (a pivoted
 * Cholesky, in order) should take the slots so that each categorical
 * column's reference level is the one aliased: every slot in spec order,
 * except the reference slots, which come last.  nslots entries.
 */
int *
FeatureAliasOrder(const FeatureSpec *spec)
{
	int		   *order = palloc(sizeof(int) * Max(spec->nslots, 1));
	int			n = 0;

	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		for (int k = 0; k < c->nslots; k++)
			if (c->kind != FEATURE_CATEGORICAL || k != FeatureReferenceLevel(c))
				order[n++] = c->first_slot + k;
	}
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];

		if (c->kind == FEATURE_CATEGORICAL)
			order[n++] = c->first_slot + FeatureReferenceLevel(c);
	}
	Assert(n == spec->nslots);
	return order;
}

/*
 * FeatureAliasOrder for a design whose column 0 is the intercept (Newton's
 * columns): the intercept first, then the slots (shifted by one) in that
 * order
 */
int *
FeatureInterceptAliasOrder(const FeatureSpec *spec)
{
	int		   *slots = FeatureAliasOrder(spec);
	int		   *order = palloc(sizeof(int) * (spec->nslots + 1));

	order[0] = 0;
	for (int j = 0; j < spec->nslots; j++)
		order[j + 1] = slots[j] + 1;
	return order;
}

/*
 * The current row's split key as text (its type's output), NULL without a
 * key or for a NULL key: how a message names a row.  Not for a per-row
 * loop: the output function is looked up each time.
 */
char *
FeatureKeyText(FeatureReader *r, const FeatureSpec *spec)
{
	const NullableDatum *v;
	Oid			outfn;
	bool		isvarlena;

	if (r->key_pos < 0)
		return NULL;
	v = &r->row[r->key_pos];
	if (v->isnull)
		return NULL;
	getTypeOutputInfo(r->key_type, &outfn, &isvarlena);
	return OidOutputFunctionCall(outfn, v->value);
}

/*
 * A copy of a spec that a training may change (imputation values, shares)
 * without changing the original: every column and its arrays copied; other
 * pointers (the target, the key, the labels) shared, read-only.  Each fold
 * of a cross-validation trains on one.
 */
FeatureSpec *
FeatureSpecCopy(const FeatureSpec *spec)
{
	FeatureSpec *copy = palloc(sizeof(FeatureSpec));

	*copy = *spec;
	copy->columns = palloc(sizeof(FeatureColumn) * Max(spec->ncolumns, 1));
	for (int i = 0; i < spec->ncolumns; i++)
	{
		const FeatureColumn *c = &spec->columns[i];
		FeatureColumn *d = &copy->columns[i];

		*d = *c;
		if (c->nlevels > 0)
		{
			d->levels = palloc(sizeof(char *) * c->nlevels);
			d->level_len = palloc(sizeof(int) * c->nlevels);
			memcpy(d->levels, c->levels, sizeof(char *) * c->nlevels);
			memcpy(d->level_len, c->level_len, sizeof(int) * c->nlevels);
		}
		if (c->shares)
		{
			d->shares = palloc(sizeof(double) * c->nslots);
			memcpy(d->shares, c->shares, sizeof(double) * c->nslots);
		}
	}
	return copy;
}
