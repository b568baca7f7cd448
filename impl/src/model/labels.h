/* labels.h — label sets, the identity of a series.
 *
 * A label set is an array of label_t sorted by name with unique names; the
 * metric name is the label "__name__". label_t holds borrowed pointers: who
 * owns the strings is said where a label set is handed over. */
#ifndef PL_MODEL_LABELS_H
#define PL_MODEL_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

#define LABEL_METRIC_NAME "__name__"

typedef struct label {
    const char *name;
    const char *value;
} label_t;

/* Sorts by name (stable order for equal names is not guaranteed). */
void labels_sort(label_t *ls, size_t n);
/* Lexicographic comparison as Prometheus's labels.Compare. */
int labels_compare(const label_t *a, size_t na, const label_t *b, size_t nb);
bool labels_equal(const label_t *a, size_t na, const label_t *b, size_t nb);
/* Hash of a sorted label set (xxh3 over name\xff value\xff ...). */
uint64_t labels_hash(const label_t *ls, size_t n);
/* Value of name, or NULL. ls need not be sorted. */
const char *labels_get(const label_t *ls, size_t n, const char *name);
/* True if the sorted set has a repeated name; *dup gets it. */
bool labels_has_duplicate(const label_t *ls, size_t n, const char **dup);
/* Writes `name{a="b", c="d"}` as Prometheus prints a series (String()). */
void labels_format(strbuf_t *sb, const label_t *ls, size_t n);
/* Writes `{__name__="x", a="b"}` with every label in braces. */
void labels_format_braces(strbuf_t *sb, const label_t *ls, size_t n);

/* Label names: [a-zA-Z_][a-zA-Z0-9_]*. Metric names also allow ':'. */
bool label_name_valid(const char *s, size_t n);
bool metric_name_valid(const char *s, size_t n);

/* Stale marker: the NaN Prometheus writes when a series disappears. */
#define PL_STALE_NAN_BITS 0x7ff0000000000002ULL
double pl_stale_nan(void);
bool pl_is_stale_nan(double v);

#endif
