/*-------------------------------------------------------------------------
 * interactions.h
 *	  The interactions an item model trains on (user key, item, optional
 *	  weight and time), read once from the source, and their user-by-item
 *	  matrix.
 *
 * Users and items are kept as text keys, sorted in byte order, so that
 * what training does never depends on the order the rows arrive in; the
 * rows refer to them by index.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_INTERACTIONS_H
#define PROFENRICH_INTERACTIONS_H

#include "als.h"
#include "trainer.h"

/* The source columns an item model reads (weight and time may be NULL) */
typedef struct InteractionColumns
{
	const char *user;
	const char *item;
	const char *weight;
	const char *time;
} InteractionColumns;

/* The rows read, by key index */
typedef struct Interactions
{
	int			nusers;
	char	  **users;			/* sorted, byte order */
	int			nitems;
	char	  **items;
	int64		n;				/* rows kept */
	int32	   *user;
	int32	   *item;
	double	   *weight;
	int64	   *time;			/* microseconds (a date: its midnight); NULL without time */
	Oid			time_type;		/* DATEOID, TIMESTAMPOID or TIMESTAMPTZOID */
	int64		time_max;
	int64		skipped;		/* rows with a NULL user, item, weight or time */
} Interactions;

extern void InteractionsCheckColumns(const Source *src, const InteractionColumns *cols);
extern void InteractionsRead(const Source *src, const InteractionColumns *cols, Interactions *out);
extern void InteractionsMatrix(const Interactions *in, const double *w, const bool *keep,
							   AlsMatrix *m);
extern int	KeySearch(char *const *keys, int n, const char *key);

#endif
