/* err.h — the error value every fallible promlab function fills.
 *
 * Functions that can fail return an int (0 = ok, -1 = error) and take a
 * `pl_err_t *err` they fill with a human-readable reason. `err` may be NULL
 * when the caller does not care about the text. */
#ifndef PL_UTIL_ERR_H
#define PL_UTIL_ERR_H

#include <stdarg.h>

#define PL_ERR_MAX 512

typedef struct pl_err {
    char msg[PL_ERR_MAX];
} pl_err_t;

/* Formats the message into err (if non-NULL) and returns -1, so that
 * `return pl_err_set(err, "...")` reads naturally. */
int pl_err_set(pl_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int pl_err_vset(pl_err_t *err, const char *fmt, va_list ap);
/* Prepends "prefix: " to the message already in err. Returns -1. */
int pl_err_prefix(pl_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
