/*-------------------------------------------------------------------------
 * features.h
 *	  The feature spec: how columns of a relation become numeric slots.
 *
 * Numeric and boolean columns are one slot each; text, varchar, char and
 * enum columns are one-hot encoded over a vocabulary learned at training
 * (capped, the rest in one "(other)" slot).  The spec travels with the
 * model, so a row is encoded at scoring exactly as it was at training, by
 * column name.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_FEATURES_H
#define PROFENRICH_FEATURES_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/tuptable.h"
#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "options.h"

typedef enum FeatureKind
{
	FEATURE_NUMERIC = 0,
	FEATURE_BOOLEAN = 1,
	FEATURE_CATEGORICAL = 2
} FeatureKind;

/* How a datum of a column's type is read */
typedef enum FeatureConv
{
	CONV_NONE = 0,
	CONV_FLOAT8,
	CONV_FLOAT4,
	CONV_INT2,
	CONV_INT4,
	CONV_INT8,
	CONV_NUMERIC,
	CONV_BOOL,
	CONV_TEXT,
	CONV_BPCHAR,
	CONV_ENUM,
	CONV_CSTRING				/* an untyped literal passed to VARIADIC "any" */
} FeatureConv;

/* The two splits of a training source */
#define SPLIT_TRAIN 0
#define SPLIT_TEST	1
/* neither: a row of the test split while a cross-validation fold trains */
#define SPLIT_NONE	(-1)

/* Cross-validation folds at most (cross_validate, tune) */
#define FEATURE_MAX_FOLDS 20

/*
 * Version of the binary spec format FeatureSpecWrite writes: 2 has the
 * class-label fields (0.2.0), 3 the split hash of keyless rows (0.5.0),
 * 4 the unseen-category and bad-row policies, the categories' training
 * shares and the cross-validation fold (0.5.0)
 */
#define FEATURE_SPEC_FORMAT 4

/*
 * How a source without a key is split: a hash of each row's encoded
 * values.  Models trained before 0.5.0 (spec formats 1 and 2) used
 * PostgreSQL's hash_bytes_extended over bytes that differed by training
 * path; 0.5.0 mixes the encoded slots and the target word by word.
 */
typedef enum SplitHash
{
	SPLIT_HASH_MIX = 0,			/* FeatureValuesHash, the default of a new spec */
	SPLIT_HASH_BYTES = 1		/* 0.4.0 and before */
} SplitHash;

/* What a spec before format 3 hashed for a keyless row, by training path */
typedef enum LegacySplitInput
{
	LEGACY_SLOTS_TARGET,		/* linear_stats: the slots (NULL numbers 0), then the target */
	LEGACY_SLOTS_NAN			/* the in-memory loader: the slots, NULL numbers NaN */
} LegacySplitInput;

/* Bounds a spec must respect (as max_categories allows, with room) */
#define FEATURE_MAX_LEVELS 10000
#define FEATURE_MAX_LEVEL_BYTES (1024 * 1024)
#define FEATURE_MAX_SLOTS 100000

/* Level index results of FeatureReadLevel besides a real level */
#define LEVEL_NULL		(-2)
#define LEVEL_UNSEEN	(-1)

/* FeatureReader.bad_col of a target that is NaN or infinite */
#define FEATURE_BAD_TARGET	(-2)
#define FEATURE_ROW_OK		(-1)

typedef struct FeatureColumn
{
	char	   *name;
	FeatureKind kind;
	int			first_slot;
	int			nslots;
	int			miss_index;		/* numeric/boolean: index among them, else -1 */
	double		impute;			/* numeric/boolean: value used for NULL */
	int			nlevels;		/* categorical: vocabulary in slot order */
	char	  **levels;
	int		   *level_len;
	bool		has_other;		/* categorical: a last "(other)" slot */
	int			mode_level;		/* categorical: level used for NULL */
	double	   *shares;			/* categorical: each slot's share of the training rows
								 * (nslots; NULL in specs before format 4) */
} FeatureColumn;

typedef struct FeatureSpec
{
	int			ncolumns;
	FeatureColumn *columns;
	int			nslots;
	int			nnumeric;		/* numeric and boolean columns */
	char	   *target;			/* NULL when the model has none */
	bool		binary;			/* the target is a class label read as 1/0 */
	char	   *positive;		/* a text target's positive value, else NULL */
	/*
	 * A class target (multinomial): its labels, as text, in model order; a
	 * row's target reads as the index of its class.  Not in the spec's
	 * binary form: the model's class section holds the labels.
	 */
	int			nclasses;
	char	  **classes;
	bool		learn_classes;	/* training: the reader learns the labels (FeatureLearnedClasses) */
	char	   *key;			/* split column; NULL hashes the row's values */
	double		test_fraction;
	uint64		seed;
	ImputeMode	impute;
	SplitHash	split_hash;		/* how rows without a key are hashed */
	/*
	 * The group_by column of a model per group, or NULL: not in the spec's
	 * bytes (FeatureSpecWrite) but in the model's group section, and given
	 * to the grouped aggregates as an argument; readers bind it too.
	 */
	char	   *group;
	UnseenPolicy unseen;		/* a category outside the vocabulary at scoring */
	BadRowPolicy on_bad_row;	/* training: rows a model cannot use */
	int			nfolds;			/* cross-validation: folds of the training rows, 0 none */
	int			fold;			/* the fold held out (the "test" split of this training) */
} FeatureSpec;

/*
 * Reads a spec's columns from rows, by name.  A row is either a composite
 * datum (deformed once up to the last attribute needed) or a run of
 * function arguments with a names array, as the planner passes them to
 * score_columns() and train() passes them to linear_stats(); either way
 * the current row is an array of NullableDatum indexed by position.
 * Positions, converters and output functions are resolved once per row
 * type or call site, never per row.
 */
typedef struct FeatureReader
{
	MemoryContext mcxt;
	bool		bound;
	int		   *pos;			/* per spec column, index into the row */
	FeatureConv *conv;
	FmgrInfo   *outfn;
	int			target_pos;		/* -1 when not read */
	FeatureConv target_conv;
	char	   *negative;		/* a text target's other value, once seen */
	FmgrInfo	target_outfn;	/* an enum target's output function */
	/* a class target: how a value finds its class (FeatureReadClass) */
	int		   *class_sorted;	/* class indexes in byte order of their labels */
	int64	   *class_ints;		/* integer targets: the labels that are integers, ascending */
	int		   *class_int_index;
	int			nclass_ints;
	int			class_bool[2];	/* boolean targets: the class of false and of true, or -1 */
	Oid		   *class_oids;		/* enum targets: values seen, and their classes */
	int		   *class_oid_index;
	int			nclass_oids;
	struct ClassLearner *learner;	/* spec->learn_classes: the labels seen so far */
	int			key_pos;		/* -1 when not read */
	int			group_pos;		/* the group column (spec->group), -1 when not read */
	FeatureConv group_conv;
	FmgrInfo	group_outfn;	/* its output function (numbers, enums) */
	char		group_buf[64];	/* the text of a number */
	Oid			key_type;		/* int4 and int8 keys are hashed inline */
	FmgrInfo	key_hash;
	Oid			key_collation;
	const NullableDatum *row;	/* the current row */
	/*
	 * Training readers of a spec with on_bad_row "skip" (soft_bad): a value
	 * that is NaN or infinite does not raise but sets bad_col (the spec
	 * column, or FEATURE_BAD_TARGET), which the caller checks and resets.
	 */
	bool		soft_bad;
	int			bad_col;		/* -1 when the row is usable */
	/* scoring: set when the current row had a category outside the vocabulary */
	bool		unseen;
	/* numeric and boolean columns as compact arrays, for the encoding loop */
	int			nnum;
	int		   *num_col;		/* spec column */
	int		   *num_pos;		/* row position */
	int		   *num_slot;		/* slot */
	FeatureConv *num_conv;
	/* composite rows */
	Oid			tupType;
	int32		tupTypmod;
	TupleDesc	tupdesc;
	TupleTableSlot *slot;
	int			width;			/* attributes deformed */
	NullableDatum *rowbuf;
} FeatureReader;

extern FeatureConv FeatureConvForType(Oid typid);
extern FeatureKind FeatureKindForConv(FeatureConv conv);
extern void FeatureSpecLayout(FeatureSpec *spec);
extern char *FeatureSlotName(const FeatureSpec *spec, int slot);
extern void FeatureSpecWrite(StringInfo buf, const FeatureSpec *spec);
extern FeatureSpec *FeatureSpecRead(StringInfo buf, int format, bool caller);
extern FeatureSpec *FeatureSpecCopy(const FeatureSpec *spec);
extern char *FeatureSpecToJson(const FeatureSpec *spec);

extern void FeatureReaderInit(FeatureReader *r, MemoryContext mcxt);
extern void FeatureReaderLoadComposite(FeatureReader *r, const FeatureSpec *spec,
									   HeapTupleHeader td, bool want_target, bool want_key);
extern void FeatureReaderLoadRecord(FeatureReader *r, const FeatureSpec *spec,
									FunctionCallInfo fcinfo, int names_arg, HeapTupleHeader td,
									bool want_target, bool want_key);
extern void FeatureReaderBindDesc(FeatureReader *r, const FeatureSpec *spec, TupleDesc desc,
								  bool want_target, bool want_key);
extern void FeatureReaderLoadSlot(FeatureReader *r, TupleTableSlot *slot);
extern void FeatureReaderBindArgs(FeatureReader *r, const FeatureSpec *spec,
								  FunctionCallInfo fcinfo, int names_arg,
								  bool want_target, bool want_key);
extern int	FeatureReadLevel(FeatureReader *r, const FeatureSpec *spec, int col);
extern bool FeatureReadGroup(FeatureReader *r, const char **key, int *len);
extern void FeatureCheckGroupType(const char *column, Oid type);
extern void FeatureNotFinite(const char *name) pg_attribute_noreturn();
extern double FeatureDatumToDoubleSlow(Datum d, FeatureConv conv);
extern double FeatureBinaryTarget(FeatureReader *r, const FeatureSpec *spec, Datum d);
extern int	FeatureReadClass(FeatureReader *r, const FeatureSpec *spec, Datum d);
extern bool FeatureClassConv(FeatureConv conv);
extern int	FeatureLearnedClasses(FeatureReader *r, char ***labels, int *order, bool *more);
extern uint64 FeatureRowHash(FeatureReader *r, const FeatureSpec *spec,
							 const double *x, int n);
extern uint64 FeatureValuesHash(const FeatureSpec *spec, const double *x, double target);
extern bool FeatureRowInTest(FeatureReader *r, const FeatureSpec *spec, double target,
							 LegacySplitInput legacy, double *x, int *missing);
extern uint32 FeatureTestThreshold(const FeatureSpec *spec);
extern bool FeatureEncodeRow(FeatureReader *r, const FeatureSpec *spec,
							 double *x, int *missing, int *nmissing);
extern bool FeatureEncodeScoringRow(FeatureReader *r, const FeatureSpec *spec, double *x);
extern bool FeatureUnseenLevel(FeatureReader *r, const FeatureSpec *spec, int col);
extern bool FeatureCanBeUnseen(const FeatureSpec *spec);
extern int	FeatureRowBadColumn(FeatureReader *r, const FeatureSpec *spec);
extern const char *FeatureBadColumnName(const FeatureSpec *spec, int bad_col);
extern char *FeatureKeyText(FeatureReader *r, const FeatureSpec *spec);
extern void FeatureSetShares(FeatureSpec *spec, const double *slot_mean);
extern int	FeatureReferenceLevel(const FeatureColumn *c);
extern int *FeatureAliasOrder(const FeatureSpec *spec);
extern int *FeatureInterceptAliasOrder(const FeatureSpec *spec);

/*
 * The split of a row whose split hash is h (threshold from
 * FeatureTestThreshold): the test split for the low 32 bits below the
 * threshold, else training; while a cross-validation fold trains, the
 * test rows take no part (SPLIT_NONE) and the fold, decided by the high
 * 32 bits, is the "test" split.  Every trainer splits through this, so any
 * trainer runs on a fold.
 */
static inline int
FeatureSplitOf(const FeatureSpec *spec, uint64 h, uint32 threshold)
{
	bool		test = (uint32) h < threshold;

	if (likely(spec->nfolds == 0))
		return test ? SPLIT_TEST : SPLIT_TRAIN;
	if (test)
		return SPLIT_NONE;
	return (int) (((h >> 32) * (uint64) spec->nfolds) >> 32) == spec->fold ?
		SPLIT_TEST : SPLIT_TRAIN;
}

/* A numeric, integer or boolean datum as a double */
static inline double
FeatureDatumToDouble(Datum d, FeatureConv conv)
{
	if (likely(conv == CONV_FLOAT8))
		return DatumGetFloat8(d);
	switch (conv)
	{
		case CONV_FLOAT8:
			return DatumGetFloat8(d);
		case CONV_FLOAT4:
			return (double) DatumGetFloat4(d);
		case CONV_INT4:
			return (double) DatumGetInt32(d);
		case CONV_INT8:
			return (double) DatumGetInt64(d);
		case CONV_INT2:
			return (double) DatumGetInt16(d);
		case CONV_BOOL:
			return DatumGetBool(d) ? 1.0 : 0.0;
		default:
			return FeatureDatumToDoubleSlow(d, conv);
	}
}

/*
 * Read the current row's numeric or boolean feature col; false when NULL.
 * Inline: this is the inner loop of training and scoring.
 */
static inline bool
FeatureReadNumber(FeatureReader *r, const FeatureSpec *spec, int col, double *value)
{
	const NullableDatum *v = &r->row[r->pos[col]];

	if (v->isnull)
		return false;
	*value = FeatureDatumToDouble(v->value, r->conv[col]);
	if (unlikely(!isfinite(*value)))
		FeatureNotFinite(spec->columns[col].name);
	return true;
}

/*
 * Read the current row's target (0 for a spec without one); false when
 * NULL.  A class target reads as the index of its class, a binary one as 1
 * (positive) or 0.
 */
static inline bool
FeatureReadTarget(FeatureReader *r, const FeatureSpec *spec, double *value)
{
	const NullableDatum *v;

	if (spec->target == NULL)
	{
		*value = 0.0;
		return true;
	}
	v = &r->row[r->target_pos];
	if (v->isnull)
		return false;
	if (spec->nclasses > 0 || spec->learn_classes)
	{
		*value = (double) FeatureReadClass(r, spec, v->value);
		return true;
	}
	if (spec->binary)
	{
		*value = FeatureBinaryTarget(r, spec, v->value);
		return true;
	}
	*value = FeatureDatumToDouble(v->value, r->target_conv);
	if (unlikely(!isfinite(*value)))
	{
		if (!r->soft_bad)
			FeatureNotFinite(spec->target);
		r->bad_col = FEATURE_BAD_TARGET;
	}
	return true;
}

/* Make the function arguments from names_arg + 1 on the current row */
static inline void
FeatureReaderLoadArgs(FeatureReader *r, FunctionCallInfo fcinfo, int names_arg)
{
	r->row = &fcinfo->args[names_arg + 1];
}

#endif
