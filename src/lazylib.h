/*-------------------------------------------------------------------------
 * lazylib.h
 *	  Shared libraries opened on first use, their functions resolved into
 *	  a table of pointers.
 *
 * profenrich.so links none of its heavy numeric libraries: a backend that
 * only scores, enriches or reads the registry never maps them and starts
 * none of their threads.  A module that needs one describes it with a
 * LazyLibrary and calls LazyLibraryOpen before its first call into it.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_LAZYLIB_H
#define PROFENRICH_LAZYLIB_H

#include <signal.h>

/* A function of a library and the pointer that receives its address */
typedef struct LazySymbol
{
	const char *name;
	void	  **slot;
} LazySymbol;

/*
 * A library: its file (a soname the dynamic loader finds, or a path), what
 * to call it in messages, and the hint of the error raised when it cannot
 * be opened.  before_open and after_open, when set, run with every signal
 * blocked, so that threads the library starts (in its constructors or in
 * after_open) never receive the backend's signals: before_open may set
 * the environment the library reads as it loads (and must restore it in
 * after_open); after_open runs once every symbol is resolved, or with
 * failed true when the load failed.  Neither may raise an error.
 */
typedef struct LazyLibrary
{
	const char *label;			/* "OpenBLAS" */
	const char *install_hint;	/* errhint when the file is missing (LazyLibraryOpen) */
	const LazySymbol *symbols;
	int			nsymbols;
	void		(*before_open) (void);
	void		(*after_open) (bool failed);
	void	   *handle;			/* NULL until opened */
} LazyLibrary;

extern void LazyLibraryOpen(LazyLibrary *lib, const char *file);
extern bool LazyLibraryTryOpen(LazyLibrary *lib, const char *file);
extern void LazyBlockSignals(sigset_t *saved);
extern void LazyRestoreSignals(const sigset_t *saved);

/* Whether the library is open; its symbols are usable once this is true */
static inline bool
LazyLibraryIsOpen(const LazyLibrary *lib)
{
	return lib->handle != NULL;
}

#endif
