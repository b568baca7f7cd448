/* conformance.h — runs promqltest files (promqltest.h) against this engine
 * over an in-memory store. Used by the conformance test and `promlab tool`. */
#ifndef PL_PROMQL_CONFORMANCE_H
#define PL_PROMQL_CONFORMANCE_H

#include <stdio.h>

#include "promql/promqltest.h"

/* Runs every *.test under the given paths; prints per-failure lines and a
 * summary to out. Returns 0 if nothing failed. */
int promql_conformance_run(const char **paths, size_t n, FILE *out, promqltest_counts_t *counts);
/* As promql_conformance_run, with promqltest_engine_t flags (PROMQLTEST_VERBOSE). */
int promql_conformance_run_flags(const char **paths, size_t n, unsigned flags, FILE *out, promqltest_counts_t *counts);

#endif
