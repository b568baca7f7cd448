/* strset.c — see strset.h. */
#include "model/strset.h"

#include <stdlib.h>
#include <string.h>

int strset_add(void *ctx, const char *s) {
    strset_t *ss = ctx;
    if (ss->n == ss->cap) {
        size_t nc = ss->cap ? ss->cap * 2 : 64;
        char **nv = realloc(ss->v, nc * sizeof *nv);
        if (!nv) {
            ss->oom = true;
            return 1;
        }
        ss->v = nv;
        ss->cap = nc;
    }
    if (!(ss->v[ss->n] = strdup(s))) {
        ss->oom = true;
        return 1;
    }
    ss->n++;
    return 0;
}

static int cmp_pstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void strset_sort_uniq(strset_t *ss) {
    if (ss->n > 1) qsort(ss->v, ss->n, sizeof *ss->v, cmp_pstr);
    size_t k = 0;
    for (size_t i = 0; i < ss->n; i++) {
        if (k > 0 && strcmp(ss->v[i], ss->v[k - 1]) == 0) {
            free(ss->v[i]);
            continue;
        }
        ss->v[k++] = ss->v[i];
    }
    ss->n = k;
}

int strset_emit(strset_t *ss, storage_string_fn fn, void *ctx, pl_err_t *err) {
    int rc = 0;
    if (ss->oom) {
        rc = pl_err_set(err, "out of memory");
    } else {
        strset_sort_uniq(ss);
        for (size_t i = 0; i < ss->n && rc == 0; i++)
            rc = fn(ctx, ss->v[i]);
    }
    strset_free(ss);
    return rc;
}

void strset_free(strset_t *ss) {
    for (size_t i = 0; i < ss->n; i++)
        free(ss->v[i]);
    free(ss->v);
    memset(ss, 0, sizeof *ss);
}
