/*-------------------------------------------------------------------------
 * xgb.h
 *	  The only caller of XGBoost's C API (libxgboost, Debian's 1.7).
 *
 * The library is not linked into profenrich.so: it is opened on first
 * use (lazylib.c), so a backend that never trains or checks a tree model
 * never loads it (nor libgomp and libstdc++ with it).  Every call runs with all
 * signals blocked, so a thread XGBoost starts never takes a signal meant
 * for the backend; every failure becomes an ereport.  Handles are freed
 * with the memory context they were made in, so an error never leaks
 * them.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_XGB_H
#define PROFENRICH_XGB_H

#include "lib/stringinfo.h"

typedef struct XgbHandle *XgbMatrix;
typedef struct XgbHandle *XgbBooster;

/* What a prediction gives (XGBoost's "type" of XGBoosterPredictFromDMatrix) */
#define XGB_PREDICT_VALUE	0	/* transformed: probabilities, values */
#define XGB_PREDICT_MARGIN	1
#define XGB_PREDICT_CONTRIBS 2	/* TreeSHAP contributions, the bias last */

extern bool XgbLoaded(void);
extern void XgbLoad(void);
extern XgbMatrix XgbMatrixFromFloats(const float *x, int64 nrow, int ncol, int nthread);
extern void XgbMatrixSetFloats(XgbMatrix m, const char *field, const float *v, int64 n);
extern XgbBooster XgbBoosterNew(XgbMatrix *cache, int n);
extern void XgbSetParam(XgbBooster b, const char *name, const char *value);
extern void XgbUpdate(XgbBooster b, int iter, XgbMatrix train);
extern char *XgbEval(XgbBooster b, int iter, XgbMatrix *m, const char **names, int n);
extern XgbBooster XgbSlice(XgbBooster b, int end);
extern char *XgbSave(XgbBooster b, const char *format, Size *len);
extern XgbBooster XgbBoosterFromBytes(const char *bytes, Size len);
extern const float *XgbPredict(XgbBooster b, XgbMatrix m, int type, int64 *n);
extern void XgbFree(struct XgbHandle *h);

#endif
