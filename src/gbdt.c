/*-------------------------------------------------------------------------
 * gbdt.c
 *	  The trees of a gradient-boosted model: their layout (read from
 *	  XGBoost's JSON model once, at training), the checks a stored forest
 *	  must pass, the prediction of a row, and path-dependent TreeSHAP.
 *
 * TreeSHAP is the algorithm of Lundberg, Erion and Lee, "Consistent
 * individualized feature attribution for tree ensembles" (2018), as
 * XGBoost's pred_contribs computes it: a node's children are weighted by
 * the training cover (hessian sum) that went each way, the branch a row
 * takes is the "hot" one, and a feature split on twice along a path is
 * unwound first.  It runs in double precision, and a node's two children
 * are weighted by their covers' sum, so the contributions of a row add up
 * to its margin minus the expected margin to rounding error.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "gbdt.h"

/* The next node of a walk from node i of a row without missing values */
static inline int
Step(const GbdtStep *steps, int i, const float *x)
{
	const GbdtStep *s = &steps[i];

	return s->child + (x[s->feature] >= s->threshold);
}

/* The next node of a walk from node i: right when v >= threshold, or v missing and so learned */
static inline int
StepMissing(const GbdtStep *steps, const uint8 *missing_right, int i, const float *x)
{
	const GbdtStep *s = &steps[i];
	float		v = x[s->feature];

	return s->child + ((v >= s->threshold) | (missing_right[i] & (v != v)));
}

/*
 * Walk the trees GBDT_BLOCK at a time (so the walks' loads overlap) and
 * add their leaves to the margins in tree order; missing says whether the
 * row has a missing value (the walk then checks for them).
 */
static inline void
WalkTrees(const GbdtForest *f, const float *x, double *margin, bool missing)
{
	const GbdtStep *steps = f->steps;
	const float *leaf = f->leaf;
	const int  *first = f->first;
	int			t = 0;

	for (; t + GBDT_BLOCK <= f->ntrees; t += GBDT_BLOCK)
	{
		int			n[GBDT_BLOCK];

		for (int j = 0; j < GBDT_BLOCK; j++)
			n[j] = first[t + j];
		for (int k = f->block_depth[t / GBDT_BLOCK]; k > 0; k--)
			for (int j = 0; j < GBDT_BLOCK; j++)
				n[j] = missing ? StepMissing(steps, f->missing_right, n[j], x) : Step(steps, n[j], x);
		if (f->ngroups == 1)
		{
			double		m = margin[0];

			for (int j = 0; j < GBDT_BLOCK; j++)
				m += leaf[n[j]];
			margin[0] = m;
		}
		else
			for (int j = 0; j < GBDT_BLOCK; j++)
				margin[f->group[t + j]] += leaf[n[j]];
	}
	for (; t < f->ntrees; t++)
	{
		int			a = first[t];

		while (steps[a].child != a)
			a = StepMissing(steps, f->missing_right, a, x);
		margin[f->ngroups == 1 ? 0 : f->group[t]] += leaf[a];
	}
}

/*
 * The prediction margins of a row (ngroups of them): the base margin plus
 * the leaf each tree sends the row to, added in tree order.  A value goes
 * left when below the node's threshold (both as floats, as XGBoost
 * compares them), a missing one (NaN) the node's learned way.
 */
void
GbdtMargins(const GbdtForest *f, const float *x, double *margin)
{
	bool		missing = false;

	for (int j = 0; j < f->nslots; j++)
		missing |= x[j] != x[j];
	for (int g = 0; g < f->ngroups; g++)
		margin[g] = f->base_margin;
	if (missing)
		WalkTrees(f, x, margin, true);
	else
		WalkTrees(f, x, margin, false);
}

/* One step of a TreeSHAP path: a feature split on, and the fractions that follow it */
typedef struct PathElement
{
	int			feature;
	double		zero;			/* share of the cover that goes this way */
	double		one;			/* 1 if the row goes this way, else 0 */
	double		weight;			/* the permutation weight of the subset size */
} PathElement;

/* 1 / k for the path lengths a tree of GBDT_MAX_DEPTH can have, filled once */
static double Reciprocal[GBDT_MAX_DEPTH + 3];

static void
FillReciprocals(void)
{
	if (Reciprocal[1] == 1.0)
		return;
	for (int k = 1; k < (int) lengthof(Reciprocal); k++)
		Reciprocal[k] = 1.0 / k;
}

/* Grow the path of u elements by one, updating the subset weights */
static void
ExtendPath(PathElement *p, int u, double zero, double one, int feature)
{
	double		r = Reciprocal[u + 1];

	p[u].feature = feature;
	p[u].zero = zero;
	p[u].one = one;
	p[u].weight = u == 0 ? 1.0 : 0.0;
	for (int i = u - 1; i >= 0; i--)
	{
		p[i + 1].weight += one * p[i].weight * (i + 1) * r;
		p[i].weight = zero * p[i].weight * (u - i) * r;
	}
}

/*
 * Undo the extension by element k of a path of u + 1 elements.  A path's
 * one fractions are 0 or 1 (a row goes one way), so dividing by one is
 * dividing by 1.
 */
static void
UnwindPath(PathElement *p, int u, int k)
{
	double		one = p[k].one,
				zero = p[k].zero,
				next = p[u].weight,
				r = Reciprocal[u + 1];

	for (int i = u - 1; i >= 0; i--)
	{
		if (one != 0)
		{
			double		w = p[i].weight;

			p[i].weight = next * (u + 1) * Reciprocal[i + 1];
			next = w - p[i].weight * zero * (u - i) * r;
		}
		else
			p[i].weight = p[i].weight * (u + 1) * Reciprocal[u - i] / zero;
	}
	for (int i = k; i < u; i++)
	{
		p[i].feature = p[i + 1].feature;
		p[i].zero = p[i + 1].zero;
		p[i].one = p[i + 1].one;
	}
}

/* The total weight of the path with element k unwound, leaving the path as it is */
static double
UnwoundSum(const PathElement *p, int u, int k)
{
	double		one = p[k].one,
				zero = p[k].zero,
				next = p[u].weight,
				r = Reciprocal[u + 1],
				total = 0;

	if (one != 0)
	{
		for (int i = u - 1; i >= 0; i--)
		{
			double		w = next * (u + 1) * Reciprocal[i + 1];

			total += w;
			next = p[i].weight - w * zero * (u - i) * r;
		}
	}
	else if (zero != 0)
	{
		double		z = (u + 1) / zero;

		for (int i = u - 1; i >= 0; i--)
			total += p[i].weight * z * Reciprocal[u - i];
	}
	return total;
}

/* What the recursion of one tree shares */
typedef struct ShapWalk
{
	const GbdtForest *f;
	const GbdtNode *root;
	const float *cover;
	const float *x;
	double	   *phi;
	PathElement *storage;		/* one row of stride elements per level */
	int			stride;
} ShapWalk;

/*
 * Visit node j of the tree with the parent's path of u elements, adding to
 * phi at the leaves: each feature on the path gets the leaf's value times
 * its weight of the path with it unwound, times (one - zero).
 */
static void
ShapRecurse(const ShapWalk *w, int j, const PathElement *parent, int u, double zero,
			double one, int feature, int level)
{
	PathElement *p = w->storage + (Size) level * w->stride;
	const GbdtNode *n = w->root + j;

	memcpy(p, parent, sizeof(PathElement) * u);
	ExtendPath(p, u, zero, one, feature);
	if (n->child < 0)
	{
		for (int i = 1; i <= u; i++)
			w->phi[p[i].feature] += UnwoundSum(p, u, i) * (p[i].one - p[i].zero) * n->value;
		return;
	}
	{
		float		v = w->x[n->feature];
		int			hot = isnan(v) ? n->missing : n->child + !(v < n->value);
		int			cold = hot == n->child ? n->child + 1 : n->child;
		double		total = (double) w->cover[hot] + (double) w->cover[cold];
		double		hz = total > 0 ? w->cover[hot] / total : 0.5;
		double		cz = total > 0 ? w->cover[cold] / total : 0.5;
		double		iz = 1,
					io = 1;
		int			k;

		for (k = 0; k <= u; k++)
			if (p[k].feature == n->feature)
				break;
		if (k <= u)
		{
			iz = p[k].zero;
			io = p[k].one;
			UnwindPath(p, u, k);
			u--;
		}
		ShapRecurse(w, hot, p, u + 1, hz * iz, io, n->feature, level + 1);
		ShapRecurse(w, cold, p, u + 1, cz * iz, 0, n->feature, level + 1);
	}
}

/*
 * The SHAP contributions of a row's slots (nslots of them, added to phi)
 * to the margin of one group, and the bias they add up from: the base
 * margin plus each tree's expected value.
 */
void
GbdtShap(const GbdtForest *f, const float *x, int group, double *phi, double *bias)
{
	ShapWalk	w;

	FillReciprocals();
	w.f = f;
	w.x = x;
	w.phi = phi;
	w.stride = f->depth + 2;
	w.storage = palloc(sizeof(PathElement) * w.stride * w.stride);
	*bias = f->base_margin;
	for (int t = 0; t < f->ntrees; t++)
	{
		if (f->group[t] != group)
			continue;
		w.root = f->nodes + f->first[t];
		w.cover = f->cover + f->first[t];
		*bias += f->expected[f->first[t]];
		if (w.root->child >= 0)
			ShapRecurse(&w, 0, w.storage, 0, 1, 1, -1, 0);
	}
	pfree(w.storage);
}

/*
 * NULL when the forest is one a training could have written, else what is
 * wrong: every tree's nodes have their children after them and inside the
 * tree, each node but the root exactly one parent, slots in range, finite
 * values and covers, a depth within GBDT_MAX_DEPTH.  Then every walk ends
 * and every read stays inside the arrays.
 */
const char *
GbdtCheck(const GbdtForest *f)
{
	if (f->ntrees < 0 || f->ngroups < 1 || f->nslots < 1 || f->nnodes < f->ntrees ||
		!isfinite(f->base_margin))
		return "the forest's sizes are out of range";
	if (f->first[0] != 0 || f->first[f->ntrees] != f->nnodes)
		return "the trees do not cover the nodes";
	for (int t = 0; t < f->ntrees; t++)
	{
		int			size = f->first[t + 1] - f->first[t];
		const GbdtNode *nodes = f->nodes + f->first[t];
		int		   *parents;
		int		   *depth;

		if (size < 1 || f->group[t] < 0 || f->group[t] >= f->ngroups)
			return psprintf("tree %d has no nodes or an unknown group", t);
		parents = palloc0(sizeof(int) * size);
		depth = palloc0(sizeof(int) * size);
		for (int i = 0; i < size; i++)
		{
			const GbdtNode *n = &nodes[i];
			float		c = f->cover[f->first[t] + i];

			if (!isfinite(n->value) || !(c >= 0) || isinf(c) || !isfinite(f->gain[f->first[t] + i]))
				return psprintf("node %d of tree %d has a value or cover that is not finite", i, t);
			if (n->child < 0)
				continue;
			if (n->child <= i || n->child + 1 >= size || n->feature < 0 || n->feature >= f->nslots ||
				(n->missing != n->child && n->missing != n->child + 1))
				return psprintf("node %d of tree %d has children or a slot out of range", i, t);
			parents[n->child]++;
			parents[n->child + 1]++;
			depth[n->child] = depth[n->child + 1] = depth[i] + 1;
			if (depth[i] + 1 > GBDT_MAX_DEPTH)
				return psprintf("tree %d is deeper than %d", t, GBDT_MAX_DEPTH);
		}
		for (int i = 1; i < size; i++)
			if (parents[i] != 1)
				return psprintf("node %d of tree %d has %d parents", i, t, parents[i]);
		pfree(parents);
		pfree(depth);
	}
	return NULL;
}

/*
 * What scoring and explanation derive from a checked forest: the depth of
 * the deepest tree (and of each block of trees the walk takes together),
 * the walk's nodes (GbdtStep) and leaf values, and each node's expected
 * value (the mean of its subtree's leaves weighted by training cover),
 * children before parents.
 */
void
GbdtPrepare(GbdtForest *f)
{
	int		   *depth = palloc0(sizeof(int) * Max(f->nnodes, 1));

	f->expected = palloc(sizeof(double) * Max(f->nnodes, 1));
	f->steps = palloc_extended(sizeof(GbdtStep) * Max(f->nnodes, 1), MCXT_ALLOC_HUGE);
	f->leaf = palloc_extended(sizeof(float) * Max(f->nnodes, 1), MCXT_ALLOC_HUGE);
	f->missing_right = palloc_extended(Max(f->nnodes, 1), MCXT_ALLOC_HUGE);
	f->block_depth = palloc0(sizeof(int) * (f->ntrees / GBDT_BLOCK + 1));
	f->depth = 0;
	for (int t = 0; t < f->ntrees; t++)
	{
		int			base = f->first[t];

		for (int i = base; i < f->first[t + 1]; i++)
		{
			const GbdtNode *n = &f->nodes[i];

			GbdtStep   *st = &f->steps[i];

			if (n->child >= 0)
			{
				depth[base + n->child] = depth[base + n->child + 1] = depth[i] + 1;
				st->threshold = n->value;
				st->feature = n->feature;
				st->child = base + n->child;
				f->missing_right[i] = n->missing == n->child + 1;
				f->leaf[i] = 0;
			}
			else
			{
				st->threshold = NAN;
				st->feature = 0;
				st->child = i;
				f->missing_right[i] = 0;
				f->leaf[i] = n->value;
			}
			f->depth = Max(f->depth, depth[i]);
			f->block_depth[t / GBDT_BLOCK] = Max(f->block_depth[t / GBDT_BLOCK], depth[i]);
		}
		for (int i = f->first[t + 1] - 1; i >= base; i--)
		{
			const GbdtNode *n = &f->nodes[i];
			int			l,
						r;
			double		cl,
						cr;

			if (n->child < 0)
			{
				f->expected[i] = n->value;
				continue;
			}
			l = base + n->child;
			r = l + 1;
			cl = f->cover[l];
			cr = f->cover[r];
			f->expected[i] = cl + cr > 0 ? (f->expected[l] * cl + f->expected[r] * cr) / (cl + cr) :
				(f->expected[l] + f->expected[r]) / 2;
		}
	}
	pfree(depth);
}

/*
 * Reading XGBoost's JSON model (XGBoosterSaveModelToBuffer, format
 * "json").  The parts used: learner.learner_model_param (base_score,
 * num_feature), learner.objective.name, learner.gradient_booster.name and
 * its model's tree_info and trees, each tree's node arrays.
 */
typedef struct NumArray
{
	double	   *v;
	int			n;
	int			cap;
} NumArray;

/* The arrays of one tree, indexed by XGBoost's node ids */
typedef struct JsonTree
{
	NumArray	left;
	NumArray	right;
	NumArray	split_index;
	NumArray	cond;
	NumArray	default_left;
	NumArray	loss;
	NumArray	hess;
	NumArray	split_type;
	int			num_nodes;
} JsonTree;

#define JSON_MAX_FRAMES 32

typedef struct JsonFrame
{
	bool		array;
	char	   *key;			/* an object's current field */
} JsonFrame;

typedef struct ModelParse
{
	JsonFrame	frames[JSON_MAX_FRAMES];
	int			depth;
	int			tree_depth;		/* frame of the tree object being read, or -1 */
	char	   *objective;
	char	   *booster;
	double		base_score;
	int			num_feature;
	NumArray	tree_info;
	JsonTree   *trees;
	int			ntrees;
	int			cap;
} ModelParse;

/* Refuse a model this reader does not understand */
static void
BadModel(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("XGBoost's model could not be read: %s", what),
			 errhint("Train with Debian's XGBoost 1.7 (libxgboost0).")));
}

static void
Append(NumArray *a, double v)
{
	if (a->n == a->cap)
	{
		a->cap = Max(64, a->cap * 2);
		a->v = a->v ? repalloc_huge(a->v, sizeof(double) * a->cap) :
			palloc_extended(sizeof(double) * a->cap, MCXT_ALLOC_HUGE);
	}
	a->v[a->n++] = v;
}

/* The key the current value is under: of the object, or of the array holding it */
static const char *
CurrentKey(const ModelParse *s, int *frame)
{
	int			d = s->depth - 1;

	if (d >= 0 && s->frames[d].array)
		d--;
	*frame = d;
	return d >= 0 ? s->frames[d].key : NULL;
}

/* The key of frame d's parent object (the field frame d is the value of), or "" */
static const char *
ParentKey(const ModelParse *s, int d)
{
	return d >= 1 && !s->frames[d - 1].array && s->frames[d - 1].key ? s->frames[d - 1].key : "";
}

static void
PushFrame(ModelParse *s, bool array)
{
	if (s->depth == JSON_MAX_FRAMES)
		BadModel("it nests too deep");
	s->frames[s->depth].array = array;
	s->frames[s->depth].key = NULL;
	s->depth++;
}

/* An object: a new tree when it is an element of the trees array */
static void
ObjectStart(void *state)
{
	ModelParse *s = (ModelParse *) state;

	if (s->depth >= 2 && s->frames[s->depth - 1].array &&
		strcmp(ParentKey(s, s->depth - 1), "trees") == 0 && s->tree_depth < 0)
	{
		if (s->ntrees == s->cap)
		{
			s->cap = Max(16, s->cap * 2);
			s->trees = s->trees ? repalloc_huge(s->trees, sizeof(JsonTree) * s->cap) :
				palloc_extended(sizeof(JsonTree) * s->cap, MCXT_ALLOC_HUGE);
		}
		memset(&s->trees[s->ntrees++], 0, sizeof(JsonTree));
		s->tree_depth = s->depth;
	}
	PushFrame(s, false);
}

static void
ObjectEnd(void *state)
{
	ModelParse *s = (ModelParse *) state;

	s->depth--;
	if (s->depth == s->tree_depth)
		s->tree_depth = -1;
}

static void
ArrayStart(void *state)
{
	PushFrame((ModelParse *) state, true);
}

static void
ArrayEnd(void *state)
{
	((ModelParse *) state)->depth--;
}

static void
FieldStart(void *state, char *fname, bool isnull)
{
	ModelParse *s = (ModelParse *) state;

	s->frames[s->depth - 1].key = fname;
}

/* The array of the current tree a node field fills, or NULL */
static NumArray *
TreeField(JsonTree *t, const char *key)
{
	if (strcmp(key, "left_children") == 0)
		return &t->left;
	if (strcmp(key, "right_children") == 0)
		return &t->right;
	if (strcmp(key, "split_indices") == 0)
		return &t->split_index;
	if (strcmp(key, "split_conditions") == 0)
		return &t->cond;
	if (strcmp(key, "default_left") == 0)
		return &t->default_left;
	if (strcmp(key, "loss_changes") == 0)
		return &t->loss;
	if (strcmp(key, "sum_hessian") == 0)
		return &t->hess;
	if (strcmp(key, "split_type") == 0)
		return &t->split_type;
	return NULL;
}

/* A number of the JSON text; a float field is read as XGBoost wrote it, a float */
static double
Number(const char *token, bool as_float)
{
	char	   *end;
	double		v = as_float ? (double) strtof(token, &end) : strtod(token, &end);

	if (end == token || *end != '\0')
		BadModel(psprintf("\"%s\" is not a number", token));
	return v;
}

/* A scalar: keep it when it is one of the fields the forest needs */
static void
Scalar(void *state, char *token, JsonTokenType type)
{
	ModelParse *s = (ModelParse *) state;
	int			d;
	const char *key = CurrentKey(s, &d);
	const char *parent = ParentKey(s, d);

	if (key == NULL)
		return;
	if (s->tree_depth >= 0 && d == s->tree_depth && s->frames[s->depth - 1].array)
	{
		NumArray   *a = TreeField(&s->trees[s->ntrees - 1], key);

		if (a != NULL)
			Append(a, Number(token, a == &s->trees[s->ntrees - 1].cond ||
							 a == &s->trees[s->ntrees - 1].loss ||
							 a == &s->trees[s->ntrees - 1].hess));
	}
	else if (s->tree_depth >= 0 && strcmp(key, "num_nodes") == 0 && strcmp(parent, "tree_param") == 0)
		s->trees[s->ntrees - 1].num_nodes = (int) Number(token, false);
	else if (strcmp(key, "tree_info") == 0 && s->frames[s->depth - 1].array)
		Append(&s->tree_info, Number(token, false));
	else if (strcmp(parent, "learner_model_param") == 0 && strcmp(key, "base_score") == 0)
		s->base_score = Number(token, true);
	else if (strcmp(parent, "learner_model_param") == 0 && strcmp(key, "num_feature") == 0)
		s->num_feature = (int) Number(token, false);
	else if (strcmp(parent, "objective") == 0 && strcmp(key, "name") == 0)
		s->objective = token;
	else if (strcmp(parent, "gradient_booster") == 0 && strcmp(key, "name") == 0)
		s->booster = token;
}

/* Check one tree's arrays: all of one length, numerical splits only */
static void
CheckJsonTree(const JsonTree *t, int i)
{
	int			n = t->num_nodes;

	if (n < 1 || t->left.n != n || t->right.n != n || t->split_index.n != n || t->cond.n != n ||
		t->default_left.n != n || t->loss.n != n || t->hess.n != n ||
		(t->split_type.n != n && t->split_type.n != 0))
		BadModel(psprintf("tree %d has arrays of different lengths", i));
	for (int k = 0; k < t->split_type.n; k++)
		if (t->split_type.v[k] != 0)
			BadModel(psprintf("tree %d has a categorical split", i));
}

/*
 * Lay tree t out breadth first into the forest from node position at:
 * positions are given as nodes are queued, so a node's children take the
 * next two free positions, side by side.  Returns the nodes laid out.
 */
static int
LayOutTree(const JsonTree *t, int ti, GbdtForest *f, int at)
{
	int			n = t->num_nodes;
	int		   *queue = palloc(sizeof(int) * n);
	bool	   *seen = palloc0(sizeof(bool) * n);
	int			head = 0,
				tail = 0;

	queue[tail++] = 0;
	seen[0] = true;
	while (head < tail)
	{
		int			o = queue[head];
		GbdtNode   *node = &f->nodes[at + head];
		int			l = (int) t->left.v[o],
					r = (int) t->right.v[o];

		f->cover[at + head] = (float) t->hess.v[o];
		f->gain[at + head] = (float) t->loss.v[o];
		node->value = (float) t->cond.v[o];
		head++;
		if (l == -1)
		{
			node->feature = -1;
			node->child = node->missing = -1;
			continue;
		}
		if (l < 0 || r < 0 || l >= n || r >= n || seen[l] || seen[r] || l == r ||
			t->split_index.v[o] < 0 || t->split_index.v[o] >= f->nslots)
			BadModel(psprintf("tree %d has a node with children or a feature out of range", ti));
		node->feature = (int) t->split_index.v[o];
		node->child = tail;
		node->missing = t->default_left.v[o] != 0 ? tail : tail + 1;
		seen[l] = seen[r] = true;
		queue[tail++] = l;
		queue[tail++] = r;
	}
	pfree(queue);
	pfree(seen);
	return tail;
}

/*
 * The forest of XGBoost's JSON model: its trees laid out as profenrich
 * walks them, the group of each, and the base margin (base_score on the
 * margin scale, computed in float as XGBoost does).  nslots is the
 * number of features the model must have; objective the one it must have
 * been trained with.
 */
GbdtForest *
GbdtFromXgboostJson(char *json, Size len, int nslots, const char *objective, char **error)
{
	JsonLexContext *lex = makeJsonLexContextCstringLen(json, (int) len, PG_UTF8, true);
	JsonSemAction sem;
	ModelParse	s;
	GbdtForest *f = palloc0(sizeof(GbdtForest));
	int			total = 0,
				at = 0;

	memset(&s, 0, sizeof(s));
	s.tree_depth = -1;
	s.base_score = NAN;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &s;
	sem.object_start = ObjectStart;
	sem.object_end = ObjectEnd;
	sem.array_start = ArrayStart;
	sem.array_end = ArrayEnd;
	sem.object_field_start = FieldStart;
	sem.scalar = Scalar;
	if (len > PG_INT32_MAX || pg_parse_json(lex, &sem) != JSON_SUCCESS)
		BadModel("it is not valid JSON");
	if (s.booster == NULL || strcmp(s.booster, "gbtree") != 0 || s.objective == NULL ||
		strcmp(s.objective, objective) != 0)
		BadModel("it is not a tree booster of the objective trained");
	if (s.num_feature != nslots || s.tree_info.n != s.ntrees || isnan(s.base_score))
		BadModel("its features, trees or base score do not match");
	f->ntrees = s.ntrees;
	f->nslots = nslots;
	f->ngroups = 1;
	for (int t = 0; t < s.ntrees; t++)
	{
		CheckJsonTree(&s.trees[t], t);
		total += s.trees[t].num_nodes;
		f->ngroups = Max(f->ngroups, (int) s.tree_info.v[t] + 1);
	}
	if (strcmp(objective, "binary:logistic") == 0)
		f->base_margin = (double) (-logf(1.0f / (float) s.base_score - 1.0f));
	else
		f->base_margin = (double) (float) s.base_score;
	f->group = palloc(sizeof(int) * Max(s.ntrees, 1));
	f->first = palloc(sizeof(int) * (s.ntrees + 1));
	f->nodes = palloc_extended(sizeof(GbdtNode) * Max(total, 1), MCXT_ALLOC_HUGE);
	f->cover = palloc_extended(sizeof(float) * Max(total, 1), MCXT_ALLOC_HUGE);
	f->gain = palloc_extended(sizeof(float) * Max(total, 1), MCXT_ALLOC_HUGE);
	for (int t = 0; t < s.ntrees; t++)
	{
		if (s.tree_info.v[t] < 0)
			BadModel("a tree has a negative group");
		f->group[t] = (int) s.tree_info.v[t];
		f->first[t] = at;
		at += LayOutTree(&s.trees[t], t, f, at);
	}
	f->first[s.ntrees] = at;
	f->nnodes = at;
	*error = (char *) GbdtCheck(f);
	if (*error == NULL)
		GbdtPrepare(f);
	return f;
}
