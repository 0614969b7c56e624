/*-------------------------------------------------------------------------
 * privileges.h
 *	  Who may see what the extension keeps, and how it writes its own
 *	  bookkeeping: the visibility rule of registry rows and enrich runs,
 *	  relations named by stored text, statements run as a table's owner.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_PRIVILEGES_H
#define PROFENRICH_PRIVILEGES_H

#include "utils/acl.h"

extern Oid	PrivilegeExtensionRelation(const char *relname);
extern Oid	PrivilegeStoredRelation(const char *qualname);
extern bool PrivilegeMayRead(const char *made_by, const char *relation);
extern void PrivilegeRequire(Oid relid, AclMode mode, const char *action, const char *model);
extern int	PrivilegeExecAsOwner(Oid relid, const char *sql, int nargs, Oid *types,
								 Datum *values, const char *nulls);
extern char *PrivilegeUserName(void);

#endif
