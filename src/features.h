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
	CONV_ENUM
} FeatureConv;

/* Level index results of FeatureReadLevel besides a real level */
#define LEVEL_NULL		(-2)
#define LEVEL_UNSEEN	(-1)

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
} FeatureColumn;

typedef struct FeatureSpec
{
	int			ncolumns;
	FeatureColumn *columns;
	int			nslots;
	int			nnumeric;		/* numeric and boolean columns */
	char	   *target;			/* NULL when the model has none */
	char	   *key;			/* split column; NULL hashes the row's values */
	double		test_fraction;
	uint64		seed;
	ImputeMode	impute;
} FeatureSpec;

/* Column positions and readers for one row type, cached by the caller */
typedef struct FeatureReader
{
	MemoryContext mcxt;
	Oid			tupType;
	int32		tupTypmod;
	TupleDesc	tupdesc;
	int			ncolumns;
	AttrNumber *attnum;
	FeatureConv *conv;
	FmgrInfo   *outfn;
	AttrNumber	target_attnum;
	FeatureConv target_conv;
	AttrNumber	key_attnum;
	FmgrInfo	key_hash;
	Oid			key_collation;
} FeatureReader;

extern FeatureConv FeatureConvForType(Oid typid);
extern FeatureKind FeatureKindForConv(FeatureConv conv);
extern void FeatureSpecLayout(FeatureSpec *spec);
extern char *FeatureSlotName(const FeatureSpec *spec, int slot);
extern void FeatureSpecWrite(StringInfo buf, const FeatureSpec *spec);
extern FeatureSpec *FeatureSpecRead(StringInfo buf);
extern char *FeatureSpecToJson(const FeatureSpec *spec);

extern void FeatureReaderInit(FeatureReader *r, MemoryContext mcxt);
extern void FeatureReaderBind(FeatureReader *r, const FeatureSpec *spec,
							  HeapTupleHeader td, bool want_target, bool want_key);
extern void FeatureTupleFromHeader(HeapTupleHeader td, HeapTuple tuple);
extern bool FeatureReadNumber(FeatureReader *r, const FeatureSpec *spec, int col,
							  HeapTuple tuple, double *value);
extern int	FeatureReadLevel(FeatureReader *r, const FeatureSpec *spec, int col,
							 HeapTuple tuple);
extern bool FeatureReadTarget(FeatureReader *r, const FeatureSpec *spec,
							  HeapTuple tuple, double *value);
extern uint64 FeatureRowHash(FeatureReader *r, const FeatureSpec *spec, HeapTuple tuple,
							 const double *x, int n);
extern bool FeatureEncodeRow(FeatureReader *r, const FeatureSpec *spec, HeapTuple tuple,
							 double *x, double *missing);

#endif
