/*-------------------------------------------------------------------------
 * pushdown.h
 *	  The planner hook that pins models into queries over Citus tables.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_PUSHDOWN_H
#define PROFENRICH_PUSHDOWN_H

extern void PushdownInit(void);

#endif
