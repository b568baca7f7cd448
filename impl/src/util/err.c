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
    size_t pl = strnlen(prefix, sizeof prefix - 1);
    size_t room = sizeof err->msg - 1;
    if (pl > room) pl = room;
    memcpy(err->msg, prefix, pl);
    size_t n = pl;
    if (n + 2 <= room) memcpy(err->msg + n, ": ", 2), n += 2;
    size_t ol = strnlen(old, sizeof old - 1);
    if (ol > room - n) ol = room - n;
    memcpy(err->msg + n, old, ol);
    err->msg[n + ol] = '\0';
    return -1;
}
