/*-------------------------------------------------------------------------
 * items.h
 *	  Item models ('als' and 'affinity'): their body in memory, a user's row
 *	  as scoring reads it, ranked items, and the per-user rows of
 *	  profenrich.model_users.
 *
 * Both families keep their items (text keys in byte order) and each
 * item's popularity in the params; what they know per user (the seen
 * items and the factor of an ALS user, the shares of an affinity user) is
 * one row of profenrich.model_users per model version and user, read by
 * its primary key when a user is scored.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_ITEMS_H
#define PROFENRICH_ITEMS_H

#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"

#include "als.h"
#include "model.h"

#define ITEMS_MAX_FACTORS ALS_MAX_FACTORS
#define ITEMS_MAX_K 100000			/* k beyond the items is the items */

/* An item of a ranking: its key and score */
typedef struct RankedItem
{
	const char *key;
	double		score;
} RankedItem;

/* A user as the item outputs read it: a row of model_users, or fold-in's input */
typedef struct UserItems
{
	int			n;
	char	  **keys;			/* the user's items */
	int32	   *items;			/* their indices in the model, -1 for one it does not know */
	double	   *values;			/* affinity: shares; fold-in input: summed weights */
	double	   *factors;		/* ALS: the user's factor */
	int			nfactors;
} UserItems;

struct ItemCache;

/* The body of an item model (both families) */
typedef struct ItemModel
{
	char	   *user_column;
	char	   *item_column;
	char	   *weight_column;	/* NULL: 1 per row */
	char	   *time_column;	/* NULL: no decay */
	int			nitems;
	char	  **items;			/* sorted in byte order */
	int64		nusers;			/* users with a row in model_users */
	double	   *popularity;		/* ALS: share of the training users; affinity: population share */
	/* ALS */
	int			factors;
	double		alpha;
	double		l2;
	bool		exclude_seen;
	double	   *item_factors;	/* nitems x factors */
	double	   *gram;			/* factors x factors: Y'Y + l2 I, as the last user step used */
	/* affinity */
	double		half_life_days;
	char	   *as_of;			/* the as-of time as text; NULL without a time column */
	struct ItemCache *cache;	/* built on first use, in the body's memory context */
} ItemModel;

/* items.c: what both families share */
extern void ItemsWriteString(StringInfo buf, const char *s);
extern char *ItemsReadString(StringInfo buf, bool nullable);
extern void ItemsWriteCommon(StringInfo buf, const ItemModel *im);
extern void ItemsReadCommon(StringInfo buf, ItemModel *im);
extern int	ItemsIndex(const ItemModel *im, const char *key);
extern int	ItemsIndexBytes(const ItemModel *im, const char *key, int len);
extern void ItemsResolve(const ItemModel *im, UserItems *u);
extern int	ItemsPopular(const ItemModel *im, int k, const bool *skip, RankedItem *out);
extern bool *ItemsScratch(const ItemModel *im);
extern uint64 *ItemsScratchBits(const ItemModel *im);
extern void ItemsPrepareRankings(const char *name, int version, int k, double profiles);
extern const AlsItemIndex *ItemsAlsIndex(const ItemModel *im);
extern const double *ItemsGramInverse(const ItemModel *im);
extern void ItemsCoefficients(const Model *m, ReturnSetInfo *rsinfo);
extern void ItemsCheckModel(const Model *m, const char *name, const char *function);
extern char *ItemsUserColumn(const Model *m);
extern Datum ItemsTextArray(char *const *s, const int *len, int n);
extern Datum ItemsDoubleArray(const double *v, int n);

/* user_rows.c: the rows of profenrich.model_users */
typedef struct UserRowsWriter UserRowsWriter;

extern UserRowsWriter *UserRowsBegin(const char *model, int version);
extern void UserRowsAdd(UserRowsWriter *w, const char *user, int n, char *const *items,
						const int *lens, const double *shares, int f, const double *factors);
extern void UserRowsEnd(UserRowsWriter *w);
extern bool UserRowsFetch(const char *model, int version, const char *user, UserItems *u);
extern void UserRowsScan(const char *model, int version,
						 void (*fn) (TupleTableSlot *slot, void *arg), void *arg);
extern ArrayType *UserRowsItems(TupleTableSlot *slot);
extern void UserRowsCheckRead(void);

/*
 * A scanned row as it lies (UserRowsView); buf and cap zeroed once and
 * reused row after row, in cxt
 */
typedef struct UserRowRaw
{
	MemoryContext cxt;
	const char *user;			/* the user key's bytes, not terminated */
	int			user_len;
	ArrayType  *items;			/* text[] */
	int			n;
	const double *shares;		/* n, or NULL */
	const double *factors;		/* nfactors, or NULL */
	int			nfactors;
	char	   *buf[3];
	Size		cap[3];
} UserRowRaw;

extern void UserRowsView(TupleTableSlot *slot, UserRowRaw *raw);

#endif
