/*-------------------------------------------------------------------------
 * profenrich.c
 *	  Module entry point: the GUCs.
 *
 * Loading the module loads no numeric library: OpenBLAS is opened by
 * linalg.c when training first needs it, with profenrich.blas_threads
 * threads (one, the default, because the parallelism that scales is
 * PostgreSQL's own), from the file profenrich.blas_library names.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "linalg.h"
#include "profenrich.h"

PG_MODULE_MAGIC;

int			profenrich_blas_threads = 1;
int			profenrich_max_train_memory = 1024 * 1024;
char	   *profenrich_blas_library = NULL;
int			profenrich_train_threads = 1;

void		_PG_init(void);

/* GUC assign hook: apply the thread count at once if OpenBLAS is loaded */
static void
AssignBlasThreads(int newval, void *extra)
{
	LinalgSetThreads(newval);
}

/* GUC check hook: the library cannot change once this backend has opened it */
static bool
CheckBlasLibrary(char **newval, void **extra, GucSource source)
{
	if (!LinalgLibraryLoaded() || profenrich_blas_library == NULL ||
		strcmp(*newval, profenrich_blas_library) == 0)
		return true;
	GUC_check_errdetail("This session has loaded \"%s\" already.", profenrich_blas_library);
	GUC_check_errhint("Set it before the first training of a session, or in a new session.");
	return false;
}

/* A size in MB, or kB below one MB, rounded up */
static char *
MemorySize(Size bytes)
{
	if (bytes < 1024 * 1024)
		return psprintf("%zu kB", (bytes + 1023) / 1024);
	return psprintf("%zu MB", (bytes + 1024 * 1024 - 1) / (1024 * 1024));
}

/*
 * The error for a training state that would outgrow its limit, the larger
 * of profenrich.max_train_memory and maintenance_work_mem (so a small
 * max_train_memory, which sends a trainer to streaming passes, still
 * leaves their aggregate states room).  States whose size grows with the
 * square of the slot count (co-moments, Hessians) are sized before they
 * are allocated, so a wide one-hot encoding fails at once instead of
 * taking the server's memory.
 */
void
TrainMemoryCheck(Size need, int slots, const char *what)
{
	Size		limit = (Size) Max(profenrich_max_train_memory, maintenance_work_mem) * 1024;

	if (need <= limit)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("%s for %d slots needs %s, more than the limit of %s",
					what, slots, MemorySize(need), MemorySize(limit)),
			 errdetail("Its size grows with the square of the slot count (every level of a one-hot encoded column is a slot); the limit is the larger of profenrich.max_train_memory and maintenance_work_mem."),
			 errhint("Lower the option max_categories, train on fewer features, or raise profenrich.max_train_memory.")));
}

/*
 * Define the GUCs and reserve the prefix.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("profenrich.blas_threads",
							"Number of OpenBLAS threads a backend may use.",
							"PostgreSQL parallel workers are the parallelism that scales; "
							"keep this at 1 unless a backend runs alone on the machine.",
							&profenrich_blas_threads,
							1, 1, 64,
							PGC_USERSET, 0,
							NULL, AssignBlasThreads, NULL);
	DefineCustomStringVariable("profenrich.blas_library",
							   "The OpenBLAS library training opens on first use.",
							   "A file name the dynamic loader finds, or a path. A backend "
							   "that never trains never opens it.",
							   &profenrich_blas_library,
							   "libopenblas.so.0",
							   PGC_SUSET, 0,
							   CheckBlasLibrary, NULL, NULL);
	DefineCustomIntVariable("profenrich.max_train_memory",
							"Largest encoded training set held in memory.",
							"Iterative trainers read the data once into memory when the encoded "
							"rows fit; beyond this they run one SQL pass per iteration.",
							&profenrich_max_train_memory,
							1024 * 1024, 64, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("profenrich.train_threads",
							"Number of threads a gbdt training may use.",
							"XGBoost trains with this many threads; the backend stays "
							"single-threaded at 1 unless a superuser allows more.",
							&profenrich_train_threads,
							1, 1, 64,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("profenrich");
}

/*
 * The start of a combine function on an internal state: checks that an
 * aggregate calls it and gives its context; when the second state is NULL
 * the result is the first state (or NULL), in *result, and it returns true.
 */
bool
AggCombineDone(FunctionCallInfo fcinfo, const char *fname, MemoryContext *aggcxt, Datum *result)
{
	if (!AggCheckCallContext(fcinfo, aggcxt))
		elog(ERROR, "%s called in non-aggregate context", fname);
	if (!PG_ARGISNULL(1))
		return false;
	fcinfo->isnull = PG_ARGISNULL(0);
	*result = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	return true;
}
