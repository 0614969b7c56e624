/*-------------------------------------------------------------------------
 * xgb.c
 *	  XGBoost's C API, opened on first use through lazylib.c (dlopen with
 *	  RTLD_NOW | RTLD_LOCAL, every signal blocked while it loads), the
 *	  functions profenrich calls resolved into one table, and each call run
 *	  with every signal blocked.
 *
 * Blocking signals matters twice: threads inherit the signal mask of the
 * thread that starts them, so neither the library's initializers nor the
 * OpenMP threads training may start ever run PostgreSQL's signal
 * handlers; and no handler interrupts a call halfway.  A signal that
 * arrives meanwhile is delivered when the call returns; the trainer then
 * checks for interrupts between boosting rounds.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <xgboost/c_api.h>

#include "utils/memutils.h"

#include "lazylib.h"
#include "xgb.h"

#define XGB_LIBRARY "libxgboost.so.0"

/* The functions profenrich calls, typed by the header they are declared in */
static struct
{
	__typeof__(XGBoostVersion) *XGBoostVersion;
	__typeof__(XGBGetLastError) *XGBGetLastError;
	__typeof__(XGBSetGlobalConfig) *XGBSetGlobalConfig;
	__typeof__(XGDMatrixCreateFromMat_omp) *XGDMatrixCreateFromMat_omp;
	__typeof__(XGDMatrixSetFloatInfo) *XGDMatrixSetFloatInfo;
	__typeof__(XGDMatrixFree) *XGDMatrixFree;
	__typeof__(XGBoosterCreate) *XGBoosterCreate;
	__typeof__(XGBoosterFree) *XGBoosterFree;
	__typeof__(XGBoosterSetParam) *XGBoosterSetParam;
	__typeof__(XGBoosterUpdateOneIter) *XGBoosterUpdateOneIter;
	__typeof__(XGBoosterEvalOneIter) *XGBoosterEvalOneIter;
	__typeof__(XGBoosterSlice) *XGBoosterSlice;
	__typeof__(XGBoosterSaveModelToBuffer) *XGBoosterSaveModelToBuffer;
	__typeof__(XGBoosterLoadModelFromBuffer) *XGBoosterLoadModelFromBuffer;
	__typeof__(XGBoosterPredictFromDMatrix) *XGBoosterPredictFromDMatrix;
} Xgb;

#define XGB_SYMBOL(f) {#f, (void **) &Xgb.f}

static const LazySymbol XgbSymbols[] = {
	XGB_SYMBOL(XGBoostVersion),
	XGB_SYMBOL(XGBGetLastError),
	XGB_SYMBOL(XGBSetGlobalConfig),
	XGB_SYMBOL(XGDMatrixCreateFromMat_omp),
	XGB_SYMBOL(XGDMatrixSetFloatInfo),
	XGB_SYMBOL(XGDMatrixFree),
	XGB_SYMBOL(XGBoosterCreate),
	XGB_SYMBOL(XGBoosterFree),
	XGB_SYMBOL(XGBoosterSetParam),
	XGB_SYMBOL(XGBoosterUpdateOneIter),
	XGB_SYMBOL(XGBoosterEvalOneIter),
	XGB_SYMBOL(XGBoosterSlice),
	XGB_SYMBOL(XGBoosterSaveModelToBuffer),
	XGB_SYMBOL(XGBoosterLoadModelFromBuffer),
	XGB_SYMBOL(XGBoosterPredictFromDMatrix),
};

static LazyLibrary XgbLibrary = {
	.label = "XGBoost",
	.install_hint = "Install Debian's package libxgboost0 (XGBoost 1.7) on the database server; "
	"training and checking tree models need it, scoring does not.",
	.symbols = XgbSymbols,
	.nsymbols = lengthof(XgbSymbols),
};

/* The library opened and checked: its version is 1.x from 1.7 */
static bool XgbReady = false;

/* A matrix or booster, freed with the memory context it was made in */
struct XgbHandle
{
	void	   *ptr;
	bool		booster;
	MemoryContextCallback cb;
};

/* The first line of XGBoost's last error (the rest is a stack trace) */
static char *
LastError(void)
{
	const char *e = Xgb.XGBGetLastError();
	const char *nl = e ? strchr(e, '\n') : NULL;

	if (e == NULL)
		return pstrdup("unknown error");
	return nl ? pnstrdup(e, nl - e) : pstrdup(e);
}

/* Report a failed call */
static void
Check(int rc, const char *what)
{
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("XGBoost failed to %s: %s", what, LastError()),
				 errhint("Check the training options; the whole message is in XGBoost's error above.")));
}

/* Run one call of the library with every signal blocked, and check it */
#define XGB_CALL(what, call) \
	do { \
		sigset_t	saved_; \
		int			rc_; \
		LazyBlockSignals(&saved_); \
		rc_ = (call); \
		LazyRestoreSignals(&saved_); \
		Check(rc_, what); \
	} while (0)

/* Has this backend loaded the library? */
bool
XgbLoaded(void)
{
	return LazyLibraryIsOpen(&XgbLibrary);
}

/*
 * Open the library once per backend (lazylib.c; a missing library is an
 * error with the package to install), and check it is a 1.x from 1.7:
 * the release profenrich's tests compare with.
 */
void
XgbLoad(void)
{
	int			major,
				minor,
				patch;

	if (XgbReady)
		return;
	LazyLibraryOpen(&XgbLibrary, XGB_LIBRARY);
	Xgb.XGBoostVersion(&major, &minor, &patch);
	if (major != 1 || minor < 7)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the XGBoost library is version %d.%d.%d, profenrich needs 1.7 or a later 1.x",
						major, minor, patch),
				 errhint("Install Debian's package libxgboost0 (XGBoost 1.7) on the database server.")));
	XGB_CALL("configure itself", Xgb.XGBSetGlobalConfig("{\"verbosity\": 0}"));
	XgbReady = true;
}

/* The context callback: free what the handle holds */
static void
FreeHandle(void *arg)
{
	XgbFree((struct XgbHandle *) arg);
}

/* A handle in the current memory context, for what the library made */
static struct XgbHandle *
NewHandle(void *ptr, bool booster)
{
	struct XgbHandle *h = palloc0(sizeof(struct XgbHandle));

	h->ptr = ptr;
	h->booster = booster;
	h->cb.func = FreeHandle;
	h->cb.arg = h;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &h->cb);
	return h;
}

/* Free a matrix or booster now (its context no longer will) */
void
XgbFree(struct XgbHandle *h)
{
	void	   *p;
	sigset_t	saved;

	if (h == NULL || h->ptr == NULL)
		return;
	p = h->ptr;
	h->ptr = NULL;
	LazyBlockSignals(&saved);
	if (h->booster)
		Xgb.XGBoosterFree(p);
	else
		Xgb.XGDMatrixFree(p);
	LazyRestoreSignals(&saved);
}

/* A matrix of nrow x ncol floats, row-major, NaN for missing */
XgbMatrix
XgbMatrixFromFloats(const float *x, int64 nrow, int ncol, int nthread)
{
	DMatrixHandle m;

	XgbLoad();
	XGB_CALL("build a matrix",
			 Xgb.XGDMatrixCreateFromMat_omp(x, (bst_ulong) nrow, (bst_ulong) ncol, NAN, &m, nthread));
	return NewHandle(m, false);
}

/* Set one float field of a matrix: "label" or "weight" */
void
XgbMatrixSetFloats(XgbMatrix m, const char *field, const float *v, int64 n)
{
	XGB_CALL("set the rows' labels or weights",
			 Xgb.XGDMatrixSetFloatInfo(m->ptr, field, v, (bst_ulong) n));
}

/* A booster caching predictions of the given matrices */
XgbBooster
XgbBoosterNew(XgbMatrix *cache, int n)
{
	DMatrixHandle *d = palloc(sizeof(DMatrixHandle) * Max(n, 1));
	BoosterHandle b;

	XgbLoad();
	for (int i = 0; i < n; i++)
		d[i] = cache[i]->ptr;
	XGB_CALL("create a booster", Xgb.XGBoosterCreate(d, (bst_ulong) n, &b));
	pfree(d);
	return NewHandle(b, true);
}

void
XgbSetParam(XgbBooster b, const char *name, const char *value)
{
	XGB_CALL(psprintf("set parameter %s", name), Xgb.XGBoosterSetParam(b->ptr, name, value));
}

/* One boosting round */
void
XgbUpdate(XgbBooster b, int iter, XgbMatrix train)
{
	XGB_CALL("run a boosting round", Xgb.XGBoosterUpdateOneIter(b->ptr, iter, train->ptr));
}

/* The evaluation line of a round ("[i]\tname-metric:value..."), palloc'd */
char *
XgbEval(XgbBooster b, int iter, XgbMatrix *m, const char **names, int n)
{
	DMatrixHandle *d = palloc(sizeof(DMatrixHandle) * Max(n, 1));
	const char *out;

	for (int i = 0; i < n; i++)
		d[i] = m[i]->ptr;
	XGB_CALL("evaluate a round", Xgb.XGBoosterEvalOneIter(b->ptr, iter, d, names, (bst_ulong) n, &out));
	pfree(d);
	return pstrdup(out);
}

/* The booster of the first end rounds */
XgbBooster
XgbSlice(XgbBooster b, int end)
{
	BoosterHandle out;

	XGB_CALL("keep the best rounds", Xgb.XGBoosterSlice(b->ptr, 0, end, 1, &out));
	return NewHandle(out, true);
}

/* The model in a format of XGBoost's ("ubj", its binary form, or "json"), palloc'd */
char *
XgbSave(XgbBooster b, const char *format, Size *len)
{
	char	   *config = psprintf("{\"format\": \"%s\"}", format);
	const char *bytes;
	bst_ulong	n;
	char	   *copy;

	XGB_CALL("save the model", Xgb.XGBoosterSaveModelToBuffer(b->ptr, config, &n, &bytes));
	if (n >= MaxAllocHugeSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the XGBoost model takes %llu bytes", (unsigned long long) n),
				 errhint("Train fewer or shallower trees.")));
	copy = palloc_extended(n + 1, MCXT_ALLOC_HUGE);
	memcpy(copy, bytes, n);
	copy[n] = '\0';
	*len = (Size) n;
	return copy;
}

/* A booster from the bytes XgbSave wrote */
XgbBooster
XgbBoosterFromBytes(const char *bytes, Size len)
{
	XgbBooster b = XgbBoosterNew(NULL, 0);

	XGB_CALL("read the stored model", Xgb.XGBoosterLoadModelFromBuffer(b->ptr, bytes, (bst_ulong) len));
	return b;
}

/*
 * Predict every row of a matrix with all trees: values, margins or
 * contributions (XGB_PREDICT_*); the result is the library's, valid until
 * the booster's next call; *n the number of floats.
 */
const float *
XgbPredict(XgbBooster b, XgbMatrix m, int type, int64 *n)
{
	char	   *config = psprintf("{\"type\": %d, \"training\": false, \"iteration_begin\": 0, "
								  "\"iteration_end\": 0, \"strict_shape\": false}",
								  type == XGB_PREDICT_CONTRIBS ? 2 : type);
	const bst_ulong *shape;
	bst_ulong	dim;
	const float *out;

	XGB_CALL("predict", Xgb.XGBoosterPredictFromDMatrix(b->ptr, m->ptr, config, &shape, &dim, &out));
	*n = 1;
	for (bst_ulong i = 0; i < dim; i++)
		*n *= (int64) shape[i];
	return out;
}
