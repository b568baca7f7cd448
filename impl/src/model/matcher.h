/* matcher.h — label matchers (=, !=, =~, !~) as PromQL and the APIs use them.
 *
 * Regexes are fully anchored (^(?:re)$) and compiled once with PCRE2 (JIT
 * when available). A missing label matches as the empty string, as in
 * Prometheus: {foo=""} selects series without foo. */
#ifndef PL_MODEL_MATCHER_H
#define PL_MODEL_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

enum matcher_type { MATCH_EQUAL = 0, MATCH_NOT_EQUAL, MATCH_REGEX, MATCH_NOT_REGEX };

typedef struct matcher {
    enum matcher_type type;
    char *name;  /* owned */
    char *value; /* owned; the regex source for regex types */
    void *re;    /* owned pcre2_code*, NULL for (not-)equal */
} matcher_t;

/* Copies name and value; compiles the regex. Returns -1 with err on a bad regex. */
int matcher_init(matcher_t *m, enum matcher_type type, const char *name, const char *value, pl_err_t *err);
void matcher_free(matcher_t *m);
/* value is the label's value, or "" when the series lacks the label. Thread-safe. */
bool matcher_matches(const matcher_t *m, const char *value);
/* True if the matcher matches the empty string (so it also selects series lacking the label). */
bool matcher_matches_empty(const matcher_t *m);
const char *matcher_type_str(enum matcher_type t); /* "=", "!=", "=~", "!~" */

/* A series selector: `metric{a="b", c=~"d.*"}` or `{__name__=~"x"}`, as in
 * match[] parameters. Fills *out (caller frees with matchers_free). Errors
 * carry Prometheus's wording and the 1-based column. */
int selector_parse(const char *s, matcher_t **out, size_t *n_out, pl_err_t *err);
void matchers_free(matcher_t *ms, size_t n);

#endif
