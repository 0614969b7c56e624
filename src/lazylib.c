/*-------------------------------------------------------------------------
 * lazylib.c
 *	  Open a shared library once, on first use, and resolve its functions.
 *
 * Linking a library into profenrich.so makes every backend that loads the
 * module pay for it: the dynamic loader maps and relocates it, and its
 * constructors run (OpenBLAS's start a thread).  Opening it here instead,
 * with dlopen when a function that needs it is first called, leaves the
 * backends that never call one untouched.  The library is opened with
 * RTLD_LOCAL, so its symbols interpose on nothing else in the backend, and
 * RTLD_NOW, so a missing dependency fails here rather than at a call.
 *
 * A backend must never have a thread that takes its signals: PostgreSQL's
 * handlers (cancel, terminate, latch wake-ups) assume they run in the main
 * thread.  Every signal is therefore blocked while the library loads, and
 * around anything else that may start threads (LazyBlockSignals); a thread
 * inherits the mask of the thread that creates it, so the library's
 * threads keep every signal blocked for their whole life.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

#include "lazylib.h"

/* Block every signal in this thread, saving the previous mask */
void
LazyBlockSignals(sigset_t *saved)
{
	sigset_t	all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, saved);
}

/* Put back the mask LazyBlockSignals saved */
void
LazyRestoreSignals(const sigset_t *saved)
{
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/*
 * The part that runs with signals blocked: the hooks, dlopen and the
 * lookups, raising nothing.  On success the slots are filled and the
 * handle set; otherwise *dlmsg (dlopen's message) or *missing (the first
 * symbol not found) says why.
 */
static void
OpenBlocked(LazyLibrary *lib, const char *file, void **found, const char **dlmsg,
			const char **missing)
{
	void	   *handle;

	if (lib->before_open)
		lib->before_open();
	handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL)
		*dlmsg = dlerror();
	for (int i = 0; handle != NULL && i < lib->nsymbols; i++)
	{
		found[i] = dlsym(handle, lib->symbols[i].name);
		if (found[i] == NULL)
		{
			*missing = lib->symbols[i].name;
			dlclose(handle);
			handle = NULL;
		}
	}
	if (handle != NULL)
	{
		for (int i = 0; i < lib->nsymbols; i++)
			*lib->symbols[i].slot = found[i];
		lib->handle = handle;
	}
	if (lib->after_open)
		lib->after_open(handle == NULL);
}

/*
 * Open lib from file, unless it is open already, and fill its symbol
 * slots; true when it is open.  On failure the library stays closed, a
 * later call tries again, and *dlmsg (dlopen's message) or *missing (the
 * first symbol not found) says why.
 */
static bool
OpenLibrary(LazyLibrary *lib, const char *file, const char **dlmsg, const char **missing)
{
	void	  **found;
	sigset_t	saved;

	*dlmsg = NULL;
	*missing = NULL;
	if (LazyLibraryIsOpen(lib))
		return true;
	found = palloc0(sizeof(void *) * Max(lib->nsymbols, 1));
	LazyBlockSignals(&saved);
	OpenBlocked(lib, file, found, dlmsg, missing);
	LazyRestoreSignals(&saved);
	pfree(found);
	return LazyLibraryIsOpen(lib);
}

/* Open lib from file as LazyLibraryOpen does, but report failure by returning false */
bool
LazyLibraryTryOpen(LazyLibrary *lib, const char *file)
{
	const char *dlmsg;
	const char *missing;

	return OpenLibrary(lib, file, &dlmsg, &missing);
}

/*
 * Open lib from file, unless it is open already, and fill its symbol
 * slots.  A file that cannot be opened, or that lacks one of the symbols,
 * is an error; the library stays closed and a later call tries again.
 */
void
LazyLibraryOpen(LazyLibrary *lib, const char *file)
{
	const char *dlmsg;
	const char *missing;

	if (OpenLibrary(lib, file, &dlmsg, &missing))
		return;
	if (dlmsg != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("could not load the %s library \"%s\"", lib->label, file),
				 errdetail_internal("%s", dlmsg),
				 errhint("%s", lib->install_hint)));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_FUNCTION),
			 errmsg("library \"%s\" has no function %s", file, missing ? missing : "?"),
			 errhint("Check that \"%s\" is a build of %s.", file, lib->label)));
}
