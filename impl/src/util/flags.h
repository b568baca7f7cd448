/* flags.h — command-line flags in the style of Prometheus and Thanos
 * (kingpin): `--name=value`, `--name value`, booleans as `--name` /
 * `--no-name` / `--name=true|false`. Every subcommand declares a table of
 * flag_def_t; the parser fills the values and renders --help.
 *
 * Values stay strings (what /api/v1/status/flags shows); typed access goes
 * through the helpers below, which validate. */
#ifndef PL_UTIL_FLAGS_H
#define PL_UTIL_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/strbuf.h"

enum flag_kind { FLAG_STRING = 0, FLAG_BOOL, FLAG_DURATION, FLAG_SIZE, FLAG_INT, FLAG_STRINGS /* repeatable */ };

typedef struct flag_def {
    const char *name;    /* without the leading "--" */
    enum flag_kind kind;
    const char *def;     /* default as a string ("" = none) */
    const char *help;
    bool hidden;         /* not in --help (Prometheus's hidden flags), still accepted */
    /* filled by flags_parse: */
    const char *value;   /* points into argv or def */
    bool set;            /* given on the command line */
    const char **values; /* FLAG_STRINGS: every occurrence (owned array) */
    size_t nvalues;
} flag_def_t;

/* Parses argv[0..argc) (no program name). Positional arguments are
 * collected into *pos (owned array of argv pointers) if pos != NULL,
 * otherwise refused. Returns 1 if --help/-h was given, 0 ok, -1 error. */
int flags_parse(flag_def_t *defs, size_t n, int argc, char **argv, const char ***pos, size_t *npos, pl_err_t *err);
void flags_free(flag_def_t *defs, size_t n);
void flags_usage(const flag_def_t *defs, size_t n, const char *usage_line, strbuf_t *sb);
/* A subcommand's command-line prologue: parses argv (no positionals). On
 * --help prints the usage to stdout, on a bad flag "<prog>: error: ..." and
 * the usage to stderr; in both cases frees the flags and returns the exit
 * status (0 or 2). Returns -1 when the program should go on. */
int flags_parse_cli(flag_def_t *defs, size_t n, int argc, char **argv, const char *prog, const char *usage_line);
/* Applies --log.level and --log.format (those of them the command defines)
 * to util/log. Returns -1 with err naming the flag on a value it does not
 * know. */
int flags_apply_log(flag_def_t *defs, size_t n, pl_err_t *err);
/* A usage error after flags_parse_cli: prints "<prog>: error: <msg>" to
 * stderr, frees the flags and returns 2, the exit status for it. */
int flags_cli_error(flag_def_t *defs, size_t n, const char *prog, const char *msg);

flag_def_t *flags_find(flag_def_t *defs, size_t n, const char *name);
const char *flags_str(flag_def_t *defs, size_t n, const char *name);
bool flags_bool(flag_def_t *defs, size_t n, const char *name);
/* Validate and convert; report "--name: reason" on error. */
int flags_duration(flag_def_t *defs, size_t n, const char *name, int64_t *ms, pl_err_t *err);
int flags_size(flag_def_t *defs, size_t n, const char *name, int64_t *bytes, pl_err_t *err);
int flags_int(flag_def_t *defs, size_t n, const char *name, int64_t *v, pl_err_t *err);

#endif
