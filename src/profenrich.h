/*-------------------------------------------------------------------------
 * profenrich.h
 *	  Declarations shared by every module: GUC variables and limits.
 *-------------------------------------------------------------------------
 */
#ifndef PROFENRICH_H
#define PROFENRICH_H

/* profenrich.blas_threads: OpenBLAS threads inside a backend */
extern int	profenrich_blas_threads;

/* profenrich.max_train_memory (kB): largest encoded data set trained in memory */
extern int	profenrich_max_train_memory;

/* Algorithm codes stored in the params header */
typedef enum ProfAlgorithm
{
	ALG_LINEAR = 1,
	ALG_LOGISTIC = 2
} ProfAlgorithm;

extern const char *AlgorithmName(ProfAlgorithm alg);

#endif
