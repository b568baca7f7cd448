/* metadata.c — per-target metric metadata. See metadata.h.
 *
 * Entries live in an array; an open-addressing table of indexes (sized to
 * stay under half full) finds them by name. Dropping entries rebuilds the
 * table, which happens at most once per scrape. */
#include "scrape/metadata.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MD_KEEP_SCRAPES 10

typedef struct md_entry {
    char *name, *help, *unit;
    enum metric_type type;
    uint64_t last_iter;
} md_entry_t;

struct scrape_metadata {
    pthread_mutex_t mu;
    md_entry_t *e;
    size_t n, cap;
    uint32_t *slots; /* index + 1, 0 = empty */
    size_t nslots;
    uint64_t iter;
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

scrape_metadata_t *scrape_metadata_new(void) {
    scrape_metadata_t *md = calloc(1, sizeof *md);
    if (!md) return NULL;
    pthread_mutex_init(&md->mu, NULL);
    return md;
}

static void entry_free(md_entry_t *e) {
    free(e->name);
    free(e->help);
    free(e->unit);
}

void scrape_metadata_free(scrape_metadata_t *md) {
    if (!md) return;
    for (size_t i = 0; i < md->n; i++)
        entry_free(&md->e[i]);
    free(md->e);
    free(md->slots);
    pthread_mutex_destroy(&md->mu);
    free(md);
}

static bool rebuild(scrape_metadata_t *md, size_t nslots) {
    uint32_t *s = calloc(nslots, sizeof *s);
    if (!s) return false;
    for (size_t i = 0; i < md->n; i++) {
        size_t k = hash_str(md->e[i].name) & (nslots - 1);
        while (s[k])
            k = (k + 1) & (nslots - 1);
        s[k] = (uint32_t)i + 1;
    }
    free(md->slots);
    md->slots = s;
    md->nslots = nslots;
    return true;
}

/* The entry of name, created when new; NULL when out of memory. */
static md_entry_t *get(scrape_metadata_t *md, const char *name) {
    if (md->nslots) {
        size_t k = hash_str(name) & (md->nslots - 1);
        while (md->slots[k]) {
            md_entry_t *e = &md->e[md->slots[k] - 1];
            if (strcmp(e->name, name) == 0) return e;
            k = (k + 1) & (md->nslots - 1);
        }
    }
    if ((md->n + 1) * 2 > md->nslots && !rebuild(md, md->nslots ? md->nslots * 2 : 64)) return NULL;
    if (md->n == md->cap) {
        size_t nc = md->cap ? md->cap * 2 : 32;
        md_entry_t *ne = realloc(md->e, nc * sizeof *ne);
        if (!ne) return NULL;
        md->e = ne;
        md->cap = nc;
    }
    md_entry_t *e = &md->e[md->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) return NULL;
    size_t k = hash_str(name) & (md->nslots - 1);
    while (md->slots[k])
        k = (k + 1) & (md->nslots - 1);
    md->slots[k] = (uint32_t)++md->n;
    return e;
}

static void set_str(char **dst, const char *s) {
    if (*dst && strcmp(*dst, s) == 0) return;
    char *c = strdup(s);
    if (!c) return;
    free(*dst);
    *dst = c;
}

void scrape_metadata_note(scrape_metadata_t *md, enum textparse_entry kind, const char *name, enum metric_type type,
                          const char *text) {
    if (!md || !name || !*name) return;
    pthread_mutex_lock(&md->mu);
    md_entry_t *e = get(md, name);
    if (e) {
        e->last_iter = md->iter;
        if (kind == TEXTPARSE_TYPE) e->type = type;
        else if (kind == TEXTPARSE_HELP) set_str(&e->help, text ? text : "");
        else if (kind == TEXTPARSE_UNIT) set_str(&e->unit, text ? text : "");
    }
    pthread_mutex_unlock(&md->mu);
}

void scrape_metadata_scrape_done(scrape_metadata_t *md) {
    if (!md) return;
    pthread_mutex_lock(&md->mu);
    size_t w = 0;
    for (size_t i = 0; i < md->n; i++) {
        if (md->iter - md->e[i].last_iter >= MD_KEEP_SCRAPES) {
            entry_free(&md->e[i]);
            continue;
        }
        md->e[w++] = md->e[i];
    }
    if (w != md->n) {
        md->n = w;
        rebuild(md, md->nslots ? md->nslots : 64);
    }
    md->iter++;
    pthread_mutex_unlock(&md->mu);
}

int scrape_metadata_each(scrape_metadata_t *md, scrape_metadata_fn fn, void *ctx) {
    if (!md) return 0;
    pthread_mutex_lock(&md->mu);
    int rc = 0;
    for (size_t i = 0; i < md->n && !rc; i++) {
        const md_entry_t *e = &md->e[i];
        enum metric_type t = e->type;
        const char *ts = t == METRIC_TYPE_UNTYPED ? "unknown" : metric_type_str(t);
        rc = fn(ctx, e->name, ts, e->help ? e->help : "", e->unit ? e->unit : "");
    }
    pthread_mutex_unlock(&md->mu);
    return rc;
}
