/*-------------------------------------------------------------------------
 * algorithm.c
 *	  The table of algorithm families, looked up by name (train()) and by
 *	  the code stored in a model's params.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "algorithm.h"

/* Every algorithm, in the order the hints list them */
static const AlgorithmOps *const Algorithms[] = {
	&LinearOps,
	&LogisticOps,
	&MultinomialOps,
	&BgnbdOps,
	&ParetonbdOps,
	&GammagammaOps,
	&ClvOps,
	&AlsOps,
	&AffinityOps,
	&GbdtOps,
	&KmeansOps,
};

#define NALGORITHMS lengthof(Algorithms)

/* The algorithm train() calls name, or NULL */
const AlgorithmOps *
AlgorithmByName(const char *name)
{
	for (int i = 0; i < (int) NALGORITHMS; i++)
		if (strcmp(Algorithms[i]->name, name) == 0)
			return Algorithms[i];
	return NULL;
}

/* The algorithm of a params code, or NULL */
const AlgorithmOps *
AlgorithmByCode(int code)
{
	for (int i = 0; i < (int) NALGORITHMS; i++)
		if ((int) Algorithms[i]->code == code)
			return Algorithms[i];
	return NULL;
}

/* The names, comma-separated, for hints */
const char *
AlgorithmNames(void)
{
	StringInfoData out;

	initStringInfo(&out);
	for (int i = 0; i < (int) NALGORITHMS; i++)
		appendStringInfo(&out, "%s%s", i > 0 ? ", " : "", Algorithms[i]->name);
	return out.data;
}
