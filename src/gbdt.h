/*-------------------------------------------------------------------------
 * gbdt.h
 *	  Gradient-boosted trees as profenrich evaluates them: a flat array of
 *	  nodes per tree, the prediction of a row, and exact TreeSHAP.
 *
 * The trees are those XGBoost trained (read once from its JSON form at
 * training, then stored in the model's params), laid out breadth first
 * with the two children of a node side by side, so a row walks each tree
 * with one comparison per level and no library call.  A row is its slot
 * values as floats, NaN where missing, compared as XGBoost compares them:
 * a value below the split goes left, a missing one the learned way.
 * Plain C over arrays: no SPI, no catalog.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_GBDT_H
#define PROFENRICH_GBDT_H

#define GBDT_MAX_DEPTH 64		/* deeper trees are refused (max_depth allows 20) */

/* One node; a leaf has child -1 and its value in value */
typedef struct GbdtNode
{
	float		value;			/* split threshold, or the leaf's value */
	int32		feature;		/* slot compared; -1 for a leaf */
	int32		child;			/* left child; the right one is child + 1 */
	int32		missing;		/* the child a missing value goes to */
} GbdtNode;

typedef struct GbdtForest
{
	int			ntrees;
	int			ngroups;		/* 1, or the classes of a multi-class model */
	int			nslots;			/* features of a row */
	double		base_margin;	/* every group's margin before the trees */
	int		   *group;			/* per tree: the group (class) it adds to */
	int		   *first;			/* per tree, and one past the last: its first node */
	int			nnodes;
	GbdtNode   *nodes;
	float	   *cover;			/* per node: the training rows' hessian sum */
	float	   *gain;			/* per node: the loss reduction of its split */
	/* derived when read (GbdtPrepare) */
	int			depth;			/* of the deepest tree */
	double	   *expected;		/* per node: the cover-weighted mean of its leaves */
	struct GbdtStep *steps;		/* per node, for the walk (GbdtMargins) */
	uint8	   *missing_right;	/* per node: 1 when a missing value goes right */
	float	   *leaf;			/* per node: a leaf's value, else 0 */
	int		   *block_depth;	/* per block of GBDT_BLOCK trees: the deepest one's depth */
} GbdtForest;

#define GBDT_BLOCK 8			/* trees walked side by side */

/*
 * A node as the walk takes it: node indexes are absolute, a leaf points to
 * itself with a NaN threshold (no value goes right of NaN), so a walk can
 * take as many steps as the deepest tree of its block.
 */
typedef struct GbdtStep
{
	float		threshold;
	int32		feature;
	int32		child;
} GbdtStep;

extern const char *GbdtCheck(const GbdtForest *f);
extern void GbdtPrepare(GbdtForest *f);
extern void GbdtMargins(const GbdtForest *f, const float *x, double *margin);
extern void GbdtShap(const GbdtForest *f, const float *x, int group, double *phi, double *bias);
extern GbdtForest *GbdtFromXgboostJson(char *json, Size len, int nslots, const char *objective,
									   char **error);

#endif
