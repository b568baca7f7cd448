/* metadata.h — per-target metric metadata: the TYPE, HELP and UNIT a target
 * last exposed for each metric family (private to scrape/; the public view
 * is scrape_manager_metadata in scrape.h, which /api/v1/targets/metadata and
 * /api/v1/metadata read).
 *
 * One table per target, written by the scrape thread only while it parses a
 * body. Readers on other threads hold the manager's mu; so the scrape thread
 * takes mu for a write, and only when an entry is new or its text changed —
 * a target whose metadata is steady costs one hash probe per TYPE/HELP/UNIT
 * line and no lock. An entry not seen for SCRAPE_META_MAX_AGE successful
 * scrapes is dropped (Prometheus keeps metadata of vanished families a
 * little while too). */
#ifndef PL_SCRAPE_METADATA_H
#define PL_SCRAPE_METADATA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "textparse/textparse.h"

#define SCRAPE_META_MAX_AGE 10

typedef struct scrape_meta_entry {
    char *name;            /* metric family name, owned */
    enum metric_type type; /* METRIC_TYPE_UNKNOWN until a TYPE line */
    char *help, *unit;     /* owned, "" when none */
    uint32_t iter;         /* scrape iteration that last saw a line of it */
} scrape_meta_entry_t;

typedef struct scrape_meta {
    scrape_meta_entry_t *v; /* entries, in first-seen order (holes never: deletes compact) */
    size_t n, cap;
    uint32_t *index; /* open addressing: entry index + 1, 0 = empty; cap_index a power of two */
    size_t cap_index;
} scrape_meta_t;

void scrape_meta_free(scrape_meta_t *m);
/* Records one TYPE/HELP/UNIT line (kind is TEXTPARSE_TYPE/_HELP/_UNIT; text
 * is the HELP text or UNIT, ignored for TYPE) seen in scrape iteration iter.
 * Takes *mu only to change the table. Returns -1 when out of memory. */
int scrape_meta_note(scrape_meta_t *m, pthread_mutex_t *mu, int kind, const char *name, enum metric_type type,
                     const char *text, uint32_t iter);
/* Drops entries older than SCRAPE_META_MAX_AGE iterations (under *mu). */
void scrape_meta_expire(scrape_meta_t *m, pthread_mutex_t *mu, uint32_t iter);
/* The entry of name, or NULL (caller holds mu or is the scrape thread). */
const scrape_meta_entry_t *scrape_meta_get(const scrape_meta_t *m, const char *name);
/* "counter", "gauge", ... as Prometheus's API writes types (untyped is "unknown"). */
const char *scrape_meta_type_str(enum metric_type t);

#endif
