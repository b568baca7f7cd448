/* promqltest.h — Prometheus's PromQL test-script format (".test" files of
 * promql/promqltest) and a runner that checks an engine against them.
 *
 * Two halves:
 *  1. promqltest_parse*: turns a file into a list of commands (load, clear,
 *     eval) with their line numbers; the grammar and the harness's hidden
 *     behaviours are described in shared/reference/promqltest-format.md.
 *  2. promqltest_run_*: replays the commands against an engine given as a set
 *     of callbacks (promqltest_engine_t), checking every eval the way the
 *     reference harness (Prometheus v3.14 promql/promqltest/test.go) does:
 *     floats equal within relative 1e-6 (NaN == NaN, a stale NaN only equals
 *     a stale NaN), unordered series matching unless `expect ordered`,
 *     annotations, expected failures, and for instant evals the range-mode
 *     consistency check (and the @-modifier variants if the engine can
 *     rewrite queries).
 *
 * Evals that involve native histograms are skipped (counted, not run). An
 * eval involves them if its expected output has `{{`, or since the last
 * `clear` histogram samples (`{{...}}` or load_with_nhcb conversions) were
 * loaded and the query names such a metric or uses a selector without a
 * metric name (unless its __name__="x" / __name__=~"re" matcher selects none
 * of them). Native histogram samples are never passed to the engine.
 *
 * The range-mode check re-runs an instant eval as a range query from t-1m
 * to t+1m step 1m and compares the point at t with the expectation; it is
 * skipped for `expect range vector`, `expect string`, queries calling
 * start()/end()/range()/step(), evals that expect a failure, and for
 * `expect ordered` only the range query's success is required.
 *
 * Memory: a promqltest_file_t owns everything reachable from it; free it with
 * promqltest_file_free. The runner borrows the file and the engine. */
#ifndef PL_PROMQL_PROMQLTEST_H
#define PL_PROMQL_PROMQLTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/labels.h"
#include "model/storage.h"
#include "util/err.h"

/* ------------------------------------------------------------------ */
/* Parsed form                                                          */
/* ------------------------------------------------------------------ */

/* A series line: a label set and its expanded value sequence.
 * samples[i].t is the SLOT INDEX k of the value (0, 1, 2, ...), not a time:
 * a load turns it into k*interval, a range eval into start + k*step.
 * Omitted slots (`_`) have no sample; `{{...}}` slots have none either but
 * set has_histogram. */
typedef struct promqltest_series {
    int line;
    label_t *labels; /* sorted by name; strings owned by the file */
    size_t nlabels;
    sample_t *samples;
    size_t nsamples;
    size_t nslots;      /* slots written, including omitted and histogram ones */
    bool has_histogram; /* any {{...}} item */
    int64_t *hist_slots; /* slot indices of the {{...}} items, ascending */
    size_t nhist;
} promqltest_series_t;

typedef struct promqltest_load {
    int64_t interval_ms;
    bool with_nhcb;     /* load_with_nhcb: classic histograms are also converted */
    bool has_histogram; /* some series has {{...}} samples */
    promqltest_series_t *series;
    size_t nseries;
    size_t nst_lines; /* `name{...}@st ...` start-timestamp lines (parsed, not loaded) */
} promqltest_load_t;

typedef enum promqltest_match {
    PROMQLTEST_MATCH_ANY,   /* `expect warn` */
    PROMQLTEST_MATCH_MSG,   /* `expect warn msg: text` — the whole annotation text */
    PROMQLTEST_MATCH_REGEX, /* `expect warn regex: re` — unanchored search */
} promqltest_match_t;

typedef struct promqltest_annot {
    promqltest_match_t match;
    char *text; /* NULL for ANY */
} promqltest_annot_t;

typedef enum promqltest_expect_kind {
    PROMQLTEST_EXPECT_VECTOR, /* series lines (none = empty result) */
    PROMQLTEST_EXPECT_SCALAR, /* a bare number line */
    PROMQLTEST_EXPECT_STRING, /* expect string "..." */
    PROMQLTEST_EXPECT_MATRIX, /* range eval, or instant eval with `expect range vector` */
} promqltest_expect_kind_t;

typedef struct promqltest_eval {
    char *expr;
    bool is_range;
    int64_t start_ms, end_ms, step_ms; /* instant: start = end = eval time, step 0 */

    bool expect_fail;
    char *fail_msg;   /* exact error text, or NULL */
    char *fail_regex; /* or NULL */
    bool ordered;

    bool no_warn, no_info;
    promqltest_annot_t *warns, *infos; /* `expect warn|info` lines */
    size_t nwarns, ninfos;

    promqltest_expect_kind_t kind;
    double scalar;
    char *string;
    /* `expect range vector from A to B step S` (instant evals): the slots of
     * the expected series lines are A + k*S. */
    bool range_vector;
    int64_t rv_start_ms, rv_end_ms, rv_step_ms;
    promqltest_series_t *expected;
    size_t nexpected;

    /* The expected output holds native histograms: the runner skips the eval. */
    bool expects_histograms;
    /* expects_histograms, or the query text names a metric that has native
     * histogram samples (statically, by name). The runner uses this only for
     * an engine without histograms_read; otherwise it asks storage whether
     * the query actually read a histogram sample. */
    bool involves_histograms;
} promqltest_eval_t;

typedef enum promqltest_cmd_kind {
    PROMQLTEST_CMD_LOAD,
    PROMQLTEST_CMD_CLEAR,
    PROMQLTEST_CMD_EVAL,
} promqltest_cmd_kind_t;

typedef struct promqltest_cmd {
    promqltest_cmd_kind_t kind;
    int line; /* 1-based line of the command keyword */
    union {
        promqltest_load_t load;
        promqltest_eval_t eval;
    };
} promqltest_cmd_t;

typedef struct promqltest_file {
    char *path;
    promqltest_cmd_t *cmds;
    size_t ncmds;
    size_t nloads, nclears, nevals, nevals_histogram;
} promqltest_file_t;

/* Parses a whole file held in memory (text need not be NUL-terminated).
 * path is used in messages. On a syntax error returns -1 with err holding
 * "path:line: reason"; *out is then empty (nothing to free). */
int promqltest_parse(const char *path, const char *text, size_t len, promqltest_file_t *out, pl_err_t *err);
/* Reads and parses path. */
int promqltest_parse_file(const char *path, promqltest_file_t *out, pl_err_t *err);
void promqltest_file_free(promqltest_file_t *f);

/* Parses one value sequence (`1+2x3 _ stale {{...}}x2`) into s (slots as
 * above; labels left empty). Exposed for tests and for the load path of
 * other tools. Caller frees s->samples. */
int promqltest_parse_values(const char *text, size_t len, promqltest_series_t *s, pl_err_t *err);

/* ------------------------------------------------------------------ */
/* Engine interface                                                     */
/* ------------------------------------------------------------------ */

typedef enum promqltest_value_type {
    PROMQLTEST_VAL_SCALAR,
    PROMQLTEST_VAL_STRING,
    PROMQLTEST_VAL_VECTOR,
    PROMQLTEST_VAL_MATRIX,
} promqltest_value_type_t;

/* One series of a result. For a vector, samples holds exactly one point
 * (its timestamp is not checked); for a matrix, the float points in time
 * order. nhistograms counts native-histogram points the engine produced (a
 * float expectation never matches one). */
typedef struct promqltest_result_series {
    const label_t *labels;
    size_t nlabels;
    const sample_t *samples;
    size_t nsamples;
    size_t nhistograms;
} promqltest_result_series_t;

/* A query's result, filled by the engine and owned by it until free_result.
 * Annotations are the full texts as Prometheus words them ("PromQL warning:
 * ..." / "PromQL info: ..."); a text without that prefix is compared as if
 * it had it. */
typedef struct promqltest_result {
    promqltest_value_type_t type;
    double scalar;
    const char *string;
    const promqltest_result_series_t *series;
    size_t nseries;
    const char *const *warnings;
    size_t nwarnings;
    const char *const *infos;
    size_t ninfos;
    void *owner; /* free for the engine's use */
} promqltest_result_t;

/* Options in promqltest_engine_t.flags. */
#define PROMQLTEST_NO_RANGE_MODE_CHECK 0x1u /* don't re-run instant evals as range queries */
#define PROMQLTEST_VERBOSE 0x2u /* also print a line per skipped eval */

typedef struct promqltest_engine {
    void *ctx;
    /* Throw away all data: a fresh, empty storage. Called at the start of
     * each file and for every `clear`. */
    int (*reset)(void *ctx, pl_err_t *err);
    /* Add samples (time order, stale markers as the stale NaN, see
     * PL_STALE_NAN_BITS) to the series ls (sorted labels). A series may be
     * appended to by several loads, always with later timestamps. */
    int (*append)(void *ctx, const label_t *ls, size_t nls, const sample_t *samples, size_t n, pl_err_t *err);
    /* Evaluate. Return 0 with *res filled, or -1 with err holding the query's
     * error (parse or execution) exactly as Prometheus would word it. */
    int (*instant)(void *ctx, const char *expr, int64_t t_ms, promqltest_result_t *res, pl_err_t *err);
    int (*range)(void *ctx, const char *expr, int64_t start_ms, int64_t end_ms, int64_t step_ms,
                 promqltest_result_t *res, pl_err_t *err);
    /* Release what a successful instant/range call put in *res. May be NULL. */
    void (*free_result)(void *ctx, promqltest_result_t *res);
    /* Optional (NULL: the @-modifier check is not done). Rewrite expr with
     * `@ <t_ms/1000>` on every selector and subquery that has none and is
     * not inside a subquery, printed back as PromQL. Return 0 with *out
     * malloc'd, 1 to skip the check (the query calls time(), timestamp(),
     * minute(), hour(), day_of_*(), days_in_month(), month(), year(),
     * predict_linear(), start(), end(), range() or step()), -1 on a parse
     * error. The runner then runs the rewritten query at -10t, 0, t/5, t, 10t
     * (t = 0: -1s, 0, 1s) and checks each like the original. */
    int (*at_rewrite)(void *ctx, const char *expr, int64_t t_ms, char **out, pl_err_t *err);
    /* Optional, both or neither. append_histograms records that the series
     * ls has native histogram samples at the times ts (the engine never sees
     * their values); histograms_read returns how many series with such a
     * sample inside the selected time range the queries since the last call
     * have selected, and resets the count. With them, an eval is skipped as
     * "involving native histograms" exactly when its query reads one (or its
     * expected output holds one); without them, by the static name check. */
    int (*append_histograms)(void *ctx, const label_t *ls, size_t nls, const int64_t *ts, size_t n, pl_err_t *err);
    size_t (*histograms_read)(void *ctx);
    unsigned flags;
} promqltest_engine_t;

typedef struct promqltest_counts {
    size_t passed, failed, skipped;
} promqltest_counts_t;

/* Runs one parsed file: prints a line per failing eval
 * ("path:line: expr: reason") and one summary line for the file
 * ("path: N passed, N failed, N skipped") to out (may be NULL), and adds to
 * *counts. Returns 0 if nothing failed, 1 otherwise. */
int promqltest_run_file(const promqltest_file_t *f, const promqltest_engine_t *eng, FILE *out,
                        promqltest_counts_t *counts);

/* Runs files and directories (every *.test directly inside, sorted by
 * name). A file that cannot be read or parsed prints its error and counts as
 * one failure. Prints a last line "N passed, N failed, N skipped". Returns 0
 * if nothing failed, 1 otherwise — so `promlab tool promqltest` is:
 *   return promqltest_run_paths(argv, argc, &eng, stdout, &counts) ? 1 : 0; */
int promqltest_run_paths(const char **paths, size_t n, const promqltest_engine_t *eng, FILE *out,
                         promqltest_counts_t *counts);

#endif
