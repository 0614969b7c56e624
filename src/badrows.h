/*-------------------------------------------------------------------------
 * badrows.h
 *	  Rows a training skipped, by reason, with one example: what every
 *	  trainer reports (a NOTICE naming one row, n_skipped_by_reason in the
 *	  metrics) when the option on_bad_row is "skip", the default.
 *
 * A trainer's reading pass counts the rows it leaves out into a BadRows
 * (aggregate states carry one, merged and serialized with them); train()
 * then reports it.  The example kept is the row of the smallest key (by
 * its text, byte order), so that it does not depend on the plan.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_BADROWS_H
#define PROFENRICH_BADROWS_H

#include "lib/stringinfo.h"

/* Why a row was left out; the first ones are the ordinary NULL skips */
typedef enum BadReason
{
	BAD_NULL_TARGET = 0,		/* the target is NULL */
	BAD_NULL_FEATURE,			/* a feature is NULL under "impute": "skip" */
	BAD_NULL_INPUT,				/* lifetime value: an input the model needs is NULL */
	BAD_NOT_FINITE,				/* a feature or the target is NaN or infinite */
	BAD_FREQUENCY,				/* lifetime value: frequency not a whole number 0..100,000 */
	BAD_RECENCY,				/* recency outside [0, t] */
	BAD_T,						/* t not positive */
	BAD_MONETARY,				/* a repeat customer's monetary value not positive */
	BAD_NREASONS
} BadReason;

/* The first reason that is a bad row rather than an ordinary NULL skip */
#define BAD_FIRST_BAD BAD_NOT_FINITE

/* Longest key or detail text kept for the example */
#define BAD_EXAMPLE_MAX 200

typedef struct BadRows
{
	int64		count[BAD_NREASONS];
	int			example_reason; /* -1 when no bad row was seen */
	char	   *example_key;	/* the example's key as text, NULL without a key */
	char	   *example_detail; /* what was wrong with it (a column, values) */
} BadRows;

extern void BadRowsInit(BadRows *b);
extern void BadRowsAdd(BadRows *b, BadReason reason, const char *key, const char *detail);
extern void BadRowsMerge(BadRows *a, const BadRows *b);
extern int64 BadRowsTotal(const BadRows *b);
extern int64 BadRowsBad(const BadRows *b);
extern void BadRowsWrite(StringInfo buf, const BadRows *b);
extern bool BadRowsRead(StringInfo buf, BadRows *b);
extern Size BadRowsMaxBytes(void);
extern void BadRowsReport(const BadRows *b, const char *source, const char *key_column,
						  double rows_read);
extern void BadRowsJson(StringInfo out, const BadRows *b);
extern const char *BadReasonName(BadReason reason);

#endif
