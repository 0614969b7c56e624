/*-------------------------------------------------------------------------
 * partial.h
 *	  Aggregate states of type bytea: an expanded object while an aggregate
 *	  updates them, flat bytes wherever they travel.
 *
 * A state whose type is a real type (not internal) can leave the backend
 * that built it: PostgreSQL's parallel workers hand it to the leader in a
 * tuple, and Citus pushes such an aggregate down to its workers
 * (worker_partial_agg), ships the state to the coordinator as the type's
 * text form and combines it there (coord_combine_agg).  Inside an
 * aggregate the state is a read-write expanded object (utils/expandeddatum.h)
 * in a child context of the aggregate context: the transition function
 * updates it in place and returns the same pointer, so neither nodeAgg nor
 * Citus copies it per row.  Its flat form, made only when the state leaves
 * the aggregate, is the family's serialized state.
 *
 * Every function that takes a state also takes a plain bytea (a caller's,
 * a parallel worker's, a Citus worker's): the bytes are validated by the
 * family's expand function (22P03 for anything it could not have written)
 * and expanded into a new object, so a caller's value is never modified.
 *
 * An algorithm adopts it with a PartialKind (its flat size, flatten and
 * expand functions) and:
 *	  transition:	ps = PartialArg(fcinfo, 0, &kind, true);
 *					if (ps == NULL) ps = PartialNew(fcinfo, &kind, state);
 *					... update ps->state ...; return PartialResult(fcinfo, ps);
 *	  combine:		return PartialCombine(fcinfo, &kind), which merges
 *					the second state (read without copying) into the first;
 *	  final:		PartialPeek(fcinfo, 0, &kind), or PartialFlat for bytes.
 * A grouped aggregate over very many groups (rfm by customer) keeps a small
 * flat state updated in place instead, as postgresql-hll does.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_PARTIAL_H
#define PROFENRICH_PARTIAL_H

#include "fmgr.h"
#include "port/pg_bswap.h"
#include "utils/expandeddatum.h"

typedef struct PartialKind
{
	const char *name;			/* the aggregate, for messages */
	/* payload bytes of the flat form; may tidy the state (flush buffers), not change it */
	Size		(*flat_size) (void *state);
	/* write exactly flat_size payload bytes */
	void		(*flatten) (void *state, char *out, Size size);
	/* a state from payload bytes, refusing (22P03) what flatten could not have written */
	void	   *(*expand) (const char *data, Size size);
	/* add the second state into the first; may tidy the second (flush buffers), not change it */
	void		(*merge) (void *into, void *from);
} PartialKind;

/* The expanded object: header, kind, the family's state */
typedef struct PartialState
{
	ExpandedObjectHeader hdr;
	const PartialKind *kind;
	void	   *state;
	MemoryContext cxt;			/* the object's context: the state lives here */
	Size		flat;			/* payload size given by the last get_flat_size */
} PartialState;

/*
 * Writing a flat form into the exact bytes get_flat_size gave (a
 * StringInfo would write a terminating zero past them): integers and
 * doubles in network byte order, as pq_getmsgint and pq_getmsgfloat8 read
 * them, arrays of doubles as they are in memory.
 */
typedef struct PartialWriter
{
	char	   *at;
	char	   *end;
} PartialWriter;

static inline void
PartialPutBytes(PartialWriter *w, const void *src, Size n)
{
	if (n > (Size) (w->end - w->at))
		elog(ERROR, "aggregate state written past its size");
	memcpy(w->at, src, n);
	w->at += n;
}

static inline void
PartialPut32(PartialWriter *w, uint32 v)
{
	v = pg_hton32(v);
	PartialPutBytes(w, &v, 4);
}

static inline void
PartialPut64(PartialWriter *w, uint64 v)
{
	v = pg_hton64(v);
	PartialPutBytes(w, &v, 8);
}

static inline void
PartialPutFloat8(PartialWriter *w, double d)
{
	union
	{
		double		f;
		uint64		i;
	}			u;

	u.f = d;
	PartialPut64(w, u.i);
}

extern PartialState *PartialArg(FunctionCallInfo fcinfo, int argno, const PartialKind *kind,
								bool in_place);
extern PartialState *PartialNew(FunctionCallInfo fcinfo, const PartialKind *kind);
extern void *PartialPeek(FunctionCallInfo fcinfo, int argno, const PartialKind *kind);
extern Datum PartialCombine(FunctionCallInfo fcinfo, const PartialKind *kind);
extern Size PartialFlatKeep(bytea **keep, void *state, bytea *(*make) (void *state));
extern void PartialFlatTake(bytea **keep, char *out, Size size, const PartialKind *kind);
extern Datum PartialResult(FunctionCallInfo fcinfo, PartialState *ps);
extern bytea *PartialFlat(PartialState *ps);
extern void PartialInvalid(const PartialKind *kind, const char *why) pg_attribute_noreturn();
extern MemoryContext PartialAggContext(FunctionCallInfo fcinfo);
extern Oid	PartialArgType(FunctionCallInfo fcinfo, int argno);

#endif
