/*-------------------------------------------------------------------------
 * badrows.c
 *	  Rows a training left out, by reason, with one example row: counting,
 *	  merging (parallel workers), the serialized form inside aggregate
 *	  states, and the report (a NOTICE and the metrics' n_skipped_by_reason).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/json.h"

#include "badrows.h"

/* Reason names (metrics keys) and what they mean (the NOTICE) */
static const struct
{
	const char *name;
	const char *text;
}			Reasons[BAD_NREASONS] = {
	[BAD_NULL_TARGET] = {"null_target", "a NULL target"},
	[BAD_NULL_FEATURE] = {"null_feature", "a NULL feature under \"impute\": \"skip\""},
	[BAD_NULL_INPUT] = {"null_input", "a NULL input"},
	[BAD_NOT_FINITE] = {"not_finite", "a feature or target that is NaN or infinite"},
	[BAD_FREQUENCY] = {"frequency", "a frequency that is not a whole number from 0 to 100,000"},
	[BAD_RECENCY] = {"recency", "a recency outside [0, t]"},
	[BAD_T] = {"t", "an age t that is not positive"},
	[BAD_MONETARY] = {"monetary", "a repeat customer's monetary value that is not positive"},
};

/* No rows left out */
void
BadRowsInit(BadRows *b)
{
	memset(b, 0, sizeof(BadRows));
	b->example_reason = -1;
}

/* A string cut to BAD_EXAMPLE_MAX bytes (at a character boundary), or NULL */
static char *
ExampleText(const char *s)
{
	int			len;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	if (len > BAD_EXAMPLE_MAX)
		len = pg_mbcliplen(s, len, BAD_EXAMPLE_MAX);
	return pnstrdup(s, len);
}

/* Does the example (key, detail) come before b's, so that it should replace it? */
static bool
ExampleBefore(const BadRows *b, const char *key, const char *detail)
{
	if (b->example_reason < 0)
		return true;
	if ((key != NULL) != (b->example_key != NULL))
		return key != NULL;		/* a row with a key is the better example */
	if (key != NULL)
		return strcmp(key, b->example_key) < 0;
	return strcmp(detail ? detail : "", b->example_detail ? b->example_detail : "") < 0;
}

/*
 * Count a row left out; for a bad row (not an ordinary NULL skip), keep it
 * as the example when its key comes first.  Allocates in the current
 * memory context (an aggregate's, for a state's).
 */
void
BadRowsAdd(BadRows *b, BadReason reason, const char *key, const char *detail)
{
	b->count[reason]++;
	if (reason < BAD_FIRST_BAD || !ExampleBefore(b, key, detail))
		return;
	b->example_reason = reason;
	b->example_key = ExampleText(key);
	b->example_detail = ExampleText(detail);
}

/* a += b, keeping the example that comes first; b is not modified */
void
BadRowsMerge(BadRows *a, const BadRows *b)
{
	for (int i = 0; i < BAD_NREASONS; i++)
		a->count[i] += b->count[i];
	if (b->example_reason >= 0 && ExampleBefore(a, b->example_key, b->example_detail))
	{
		a->example_reason = b->example_reason;
		a->example_key = ExampleText(b->example_key);
		a->example_detail = ExampleText(b->example_detail);
	}
}

/* Rows left out for any reason */
int64
BadRowsTotal(const BadRows *b)
{
	int64		n = 0;

	for (int i = 0; i < BAD_NREASONS; i++)
		n += b->count[i];
	return n;
}

/* Rows left out because the model cannot use them (not for a NULL) */
int64
BadRowsBad(const BadRows *b)
{
	int64		n = 0;

	for (int i = BAD_FIRST_BAD; i < BAD_NREASONS; i++)
		n += b->count[i];
	return n;
}

/* A string of at most BAD_EXAMPLE_MAX bytes, -1 for NULL */
static void
WriteText(StringInfo buf, const char *s)
{
	pq_sendint32(buf, s ? (int32) strlen(s) : -1);
	if (s)
		pq_sendbytes(buf, s, strlen(s));
}

/* The serialized form: the counts, the example's reason, key and detail */
void
BadRowsWrite(StringInfo buf, const BadRows *b)
{
	for (int i = 0; i < BAD_NREASONS; i++)
		pq_sendint64(buf, b->count[i]);
	pq_sendint32(buf, b->example_reason);
	WriteText(buf, b->example_key);
	WriteText(buf, b->example_detail);
}

/* The most bytes BadRowsWrite writes */
Size
BadRowsMaxBytes(void)
{
	return 8 * BAD_NREASONS + 4 + 2 * (4 + BAD_EXAMPLE_MAX);
}

/* Read one string; false when its length is out of range */
static bool
ReadText(StringInfo buf, char **s)
{
	int32		len;

	if (buf->len - buf->cursor < 4)
		return false;
	len = pq_getmsgint(buf, 4);
	*s = NULL;
	if (len == -1)
		return true;
	if (len < 0 || len > BAD_EXAMPLE_MAX || len > buf->len - buf->cursor)
		return false;
	*s = pnstrdup(pq_getmsgbytes(buf, len), len);
	return strlen(*s) == (size_t) len;	/* no NUL byte inside */
}

/*
 * Read what BadRowsWrite wrote; false for bytes it could not have written
 * (negative counts, an unknown reason, an example without a reason, texts
 * too long), which the caller reports as an invalid state.
 */
bool
BadRowsRead(StringInfo buf, BadRows *b)
{
	BadRowsInit(b);
	if (buf->len - buf->cursor < 8 * BAD_NREASONS + 4)
		return false;
	for (int i = 0; i < BAD_NREASONS; i++)
		if ((b->count[i] = pq_getmsgint64(buf)) < 0)
			return false;
	b->example_reason = pq_getmsgint(buf, 4);
	if (b->example_reason < -1 || b->example_reason >= BAD_NREASONS ||
		(b->example_reason >= 0 && b->example_reason < BAD_FIRST_BAD))
		return false;
	if (!ReadText(buf, &b->example_key) || !ReadText(buf, &b->example_detail))
		return false;
	if (b->example_reason < 0 && (b->example_key || b->example_detail))
		return false;
	if (b->example_reason >= 0 && b->count[b->example_reason] == 0)
		return false;
	return true;
}

/*
 * The NOTICE of a training that left out rows it cannot use: how many of
 * the rows read (rows_read, -1 when not known), by reason, and one of them
 * by its key (key_column), or by what was wrong with it when the source has
 * no key.
 */
void
BadRowsReport(const BadRows *b, const char *source, const char *key_column, double rows_read)
{
	StringInfoData reasons;
	int64		bad = BadRowsBad(b);

	if (bad == 0)
		return;
	initStringInfo(&reasons);
	for (int i = BAD_FIRST_BAD; i < BAD_NREASONS; i++)
		if (b->count[i] > 0)
			appendStringInfo(&reasons, "%s%lld with %s", reasons.len ? ", " : "",
							 (long long) b->count[i], Reasons[i].text);
	ereport(NOTICE,
			(rows_read >= 0 ?
			 errmsg("profenrich: skipped %lld of %.0f rows of %s that the model cannot use: %s",
					(long long) bad, rows_read, source, reasons.data) :
			 errmsg("profenrich: skipped %lld rows of %s that the model cannot use: %s",
					(long long) bad, source, reasons.data),
			 b->example_key && key_column ?
			 errdetail("For example the row with %s = %s (%s).", key_column, b->example_key,
					   b->example_detail ? b->example_detail : Reasons[b->example_reason].text) :
			 errdetail("For example a row (the source has no key to name it by): %s.",
					   b->example_detail ? b->example_detail : Reasons[b->example_reason].text),
			 errhint("Fix or filter these rows, or train with \"on_bad_row\": \"error\" to refuse them.")));
}

/*
 * "n_skipped_by_reason": {"reason": count, ...} for the reasons with rows,
 * as a member of the metrics object being built
 */
void
BadRowsJson(StringInfo out, const BadRows *b)
{
	bool		any = false;

	appendStringInfo(out, "%s\"n_skipped_by_reason\": {", out->data[out->len - 1] == '{' ? "" : ", ");
	for (int i = 0; i < BAD_NREASONS; i++)
		if (b->count[i] > 0)
		{
			appendStringInfo(out, "%s\"%s\": %lld", any ? ", " : "", Reasons[i].name,
							 (long long) b->count[i]);
			any = true;
		}
	appendStringInfoChar(out, '}');
}

/* The metrics key of a reason */
const char *
BadReasonName(BadReason reason)
{
	return Reasons[reason].name;
}
