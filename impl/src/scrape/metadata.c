/* metadata.c — the per-target metadata table. See metadata.h. */
#include "scrape/metadata.h"

#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

const char *scrape_meta_type_str(enum metric_type t) {
    return t == METRIC_TYPE_UNTYPED ? "unknown" : metric_type_str(t);
}

static void entry_free(scrape_meta_entry_t *e) {
    free(e->name);
    free(e->help);
    free(e->unit);
}

void scrape_meta_free(scrape_meta_t *m) {
    for (size_t i = 0; i < m->n; i++)
        entry_free(&m->v[i]);
    free(m->v);
    free(m->index);
    memset(m, 0, sizeof *m);
}

/* Slot of name in the index: its entry's slot, or the empty slot where it goes. */
static size_t probe(const scrape_meta_t *m, const char *name, uint64_t h) {
    size_t mask = m->cap_index - 1, i = (size_t)h & mask;
    while (m->index[i] && strcmp(m->v[m->index[i] - 1].name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

static int rebuild_index(scrape_meta_t *m, size_t cap) {
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx) return -1;
    free(m->index);
    m->index = idx;
    m->cap_index = cap;
    for (size_t k = 0; k < m->n; k++) {
        size_t i = probe(m, m->v[k].name, XXH3_64bits(m->v[k].name, strlen(m->v[k].name)));
        m->index[i] = (uint32_t)(k + 1);
    }
    return 0;
}

const scrape_meta_entry_t *scrape_meta_get(const scrape_meta_t *m, const char *name) {
    if (!m->cap_index) return NULL;
    size_t i = probe(m, name, XXH3_64bits(name, strlen(name)));
    return m->index[i] ? &m->v[m->index[i] - 1] : NULL;
}

static bool str_eq(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

int scrape_meta_note(scrape_meta_t *m, pthread_mutex_t *mu, int kind, const char *name, enum metric_type type,
                     const char *text, uint32_t iter) {
    scrape_meta_entry_t *e = (scrape_meta_entry_t *)scrape_meta_get(m, name);
    if (e) {
        e->iter = iter; /* read only by this thread */
        bool same = kind == TEXTPARSE_TYPE   ? e->type == type
                    : kind == TEXTPARSE_HELP ? str_eq(e->help, text)
                                             : str_eq(e->unit, text);
        if (same) return 0;
        char *dup = NULL;
        if (kind != TEXTPARSE_TYPE && !(dup = strdup(text ? text : ""))) return -1;
        pthread_mutex_lock(mu);
        if (kind == TEXTPARSE_TYPE)
            e->type = type;
        else if (kind == TEXTPARSE_HELP) {
            free(e->help);
            e->help = dup;
        } else {
            free(e->unit);
            e->unit = dup;
        }
        pthread_mutex_unlock(mu);
        return 0;
    }
    scrape_meta_entry_t ne = {.type = METRIC_TYPE_UNKNOWN, .iter = iter};
    ne.name = strdup(name);
    ne.help = strdup(kind == TEXTPARSE_HELP && text ? text : "");
    ne.unit = strdup(kind == TEXTPARSE_UNIT && text ? text : "");
    if (kind == TEXTPARSE_TYPE) ne.type = type;
    if (!ne.name || !ne.help || !ne.unit) {
        entry_free(&ne);
        return -1;
    }
    pthread_mutex_lock(mu);
    int rc = 0;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        scrape_meta_entry_t *p = realloc(m->v, cap * sizeof *p);
        if (!p) {
            rc = -1;
            goto out;
        }
        m->v = p;
        m->cap = cap;
    }
    m->v[m->n++] = ne;
    if ((m->n + 1) * 2 > m->cap_index) {
        if (rebuild_index(m, m->cap_index ? m->cap_index * 2 : 64) != 0) {
            m->n--;
            rc = -1;
        }
    } else {
        size_t i = probe(m, name, XXH3_64bits(name, strlen(name)));
        m->index[i] = (uint32_t)m->n;
    }
out:
    pthread_mutex_unlock(mu);
    if (rc != 0) entry_free(&ne);
    return rc;
}

void scrape_meta_expire(scrape_meta_t *m, pthread_mutex_t *mu, uint32_t iter) {
    bool any = false;
    for (size_t i = 0; i < m->n && !any; i++)
        any = iter - m->v[i].iter > SCRAPE_META_MAX_AGE;
    if (!any) return;
    pthread_mutex_lock(mu);
    size_t w = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (iter - m->v[i].iter > SCRAPE_META_MAX_AGE)
            entry_free(&m->v[i]);
        else
            m->v[w++] = m->v[i];
    }
    m->n = w;
    if (rebuild_index(m, m->cap_index ? m->cap_index : 64) != 0) {
        /* Keep a consistent (empty) table rather than a stale index. */
        for (size_t i = 0; i < m->n; i++)
            entry_free(&m->v[i]);
        m->n = 0;
        if (m->index) memset(m->index, 0, m->cap_index * sizeof *m->index);
    }
    pthread_mutex_unlock(mu);
}
