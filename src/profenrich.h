/*-------------------------------------------------------------------------
 * profenrich.h
 *	  Declarations shared by every module: GUC variables and limits.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_H
#define PROFENRICH_H

/* profenrich.blas_threads: OpenBLAS threads inside a backend */
extern int	profenrich_blas_threads;

/* profenrich.blas_library: the OpenBLAS file training opens on first use */
extern char *profenrich_blas_library;

/* profenrich.max_train_memory (kB): largest encoded data set trained in memory */
extern int	profenrich_max_train_memory;

/* profenrich.train_threads: threads a trainer that can use them (gbdt) may start */
extern int	profenrich_train_threads;

/*
 * Refuse a training state of need bytes over profenrich.max_train_memory,
 * before allocating it; what names the state, slots its width.
 */
extern void TrainMemoryCheck(Size need, int slots, const char *what);

/*
 * The start every combine function on an internal state shares (fcinfo a
 * FunctionCallInfo): true, with *result set, when the second state is NULL
 * and the first one (or NULL) is the result.
 */
struct FunctionCallInfoBaseData;
extern bool AggCombineDone(struct FunctionCallInfoBaseData *fcinfo, const char *fname,
						   MemoryContext *aggcxt, Datum *result);

/* Read a bytea with the pq_getmsg* functions, which check every read against its length */
#define BYTES_READER(buf, bytes) \
	do { \
		(buf)->data = VARDATA_ANY(bytes); \
		(buf)->len = VARSIZE_ANY_EXHDR(bytes); \
		(buf)->cursor = 0; \
		(buf)->maxlen = (buf)->len; \
	} while (0)

#endif
