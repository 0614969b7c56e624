/*-------------------------------------------------------------------------
 * privileges.c
 *	  Who may see what the extension keeps, and how it writes its own
 *	  bookkeeping.
 *
 * The registry (profenrich.models) and the run log (profenrich.enrich_runs)
 * are read under row-level security by one rule, profenrich.may_read: a
 * row is visible to the role that made it (and the roles with its
 * privileges) and to roles that may read the relation it was made from or
 * written to: USAGE on its schema, SELECT on it, and no row-level security
 * of that relation restricting them (a vocabulary learned from rows a
 * role cannot see must not be shown to it).  Scoring does not depend on
 * the rule: it reads the registry by an index scan in C (registry.c).
 *
 * Stored relation names are resolved here without the caller's search_path
 * and without raising errors, since a policy that raised would break every
 * read of the table.  The extension's own bookkeeping (the registry's
 * writes after the caller's grant is checked, the deployment log, the run
 * log) is written as the table's owner: a fixed, schema-qualified
 * statement under SetUserIdAndSecContext, restored on every path.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "privileges.h"

PG_FUNCTION_INFO_V1(may_read);

/* A table of the extension's schema by name, InvalidOid when absent */
Oid
PrivilegeExtensionRelation(const char *relname)
{
	Oid			nsp = get_namespace_oid("profenrich", true);

	return OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
}

/*
 * The relation a stored name names, as quote_qualified_identifier wrote
 * it (schema.name): InvalidOid when the text is not such a name or the
 * relation is gone.  No search_path, no permission check, no error.
 */
Oid
PrivilegeStoredRelation(const char *qualname)
{
	char	   *copy = pstrdup(qualname);
	List	   *parts = NIL;
	Oid			nsp;

	if (!SplitIdentifierString(copy, '.', &parts) || list_length(parts) != 2)
		return InvalidOid;
	nsp = get_namespace_oid((char *) linitial(parts), true);
	if (!OidIsValid(nsp))
		return InvalidOid;
	return get_relname_relid((char *) lsecond(parts), nsp);
}

/*
 * May the current user see a row made by made_by from (or into) the
 * relation named by the stored text relation?  See the file comment.
 */
bool
PrivilegeMayRead(const char *made_by, const char *relation)
{
	Oid			user = GetUserId();
	Oid			maker = get_role_oid(made_by, true);
	Oid			relid;

	if (OidIsValid(maker) && has_privs_of_role(user, maker))
		return true;
	relid = PrivilegeStoredRelation(relation);
	if (!OidIsValid(relid))
		return false;
	if (pg_namespace_aclcheck(get_rel_namespace(relid), user, ACL_USAGE) != ACLCHECK_OK ||
		pg_class_aclcheck(relid, user, ACL_SELECT) != ACLCHECK_OK)
		return false;
	return check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED;
}

/*
 * may_read(made_by name, relation text) returns boolean: the rule of the
 * row-level security policies on profenrich.models and enrich_runs.
 */
Datum
may_read(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PrivilegeMayRead(NameStr(*PG_GETARG_NAME(0)),
									text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

/* The name of the mode, for messages */
static const char *
ModeName(AclMode mode)
{
	return mode == ACL_INSERT ? "INSERT" : mode == ACL_UPDATE ? "UPDATE" :
		mode == ACL_DELETE ? "DELETE" : "SELECT";
}

/*
 * Refuse a registry action the caller's grants on the registry table do
 * not allow: the extension writes the registry as its owner, so the grant
 * is checked here rather than by the statements.
 */
void
PrivilegeRequire(Oid relid, AclMode mode, const char *action, const char *model)
{
	if (pg_class_aclcheck(relid, GetUserId(), mode) == ACLCHECK_OK)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s model \"%s\"", action, model),
			 errdetail("%s needs %s on profenrich.models.", action, ModeName(mode)),
			 errhint("Ask the owner of the extension to GRANT %s ON profenrich.models to you.",
					 ModeName(mode))));
}

/* The owner of a relation */
static Oid
RelationOwner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Run one of the extension's own statements (inside SPI) as the owner of
 * relid, in a security-restricted context, and return the SPI result
 * code.  The statement must be fixed and schema-qualified: it runs with
 * the owner's rights, so it must not reach any user code.  The caller's
 * identity is restored on every path, errors included.
 */
int
PrivilegeExecAsOwner(Oid relid, const char *sql, int nargs, Oid *types, Datum *values,
					 const char *nulls)
{
	Oid			saved_user;
	int			saved_context;
	volatile int rc = 0;

	GetUserIdAndSecContext(&saved_user, &saved_context);
	SetUserIdAndSecContext(RelationOwner(relid), saved_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_user, saved_context);
	}
	PG_END_TRY();
	return rc;
}

/* The current user's name, as run_by, trained_by and deployed_by record it */
char *
PrivilegeUserName(void)
{
	return GetUserNameFromId(GetUserId(), false);
}
