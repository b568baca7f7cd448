/* err.c — see err.h. */
#include "util/err.h"

#include <stdio.h>
#include <string.h>

int pl_err_vset(pl_err_t *err, const char *fmt, va_list ap) {
    if (err) vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return -1;
}

int pl_err_set(pl_err_t *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pl_err_vset(err, fmt, ap);
    va_end(ap);
    return -1;
}

int pl_err_prefix(pl_err_t *err, const char *fmt, ...) {
    if (!err) return -1;
    char prefix[PL_ERR_MAX], old[PL_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return -1;
}
