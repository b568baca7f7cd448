/* metadata.h — the metric metadata (TYPE, HELP, UNIT) of one target's
 * scrapes, for /api/v1/metadata.
 *
 * As Prometheus's scrape cache: an entry per metric family named by a
 * metadata line, updated as lines are parsed, dropped when no scrape of the
 * last 10 mentioned it. One mutex per store: the scrape thread writes, API
 * threads read. */
#ifndef PL_SCRAPE_METADATA_H
#define PL_SCRAPE_METADATA_H

#include <stddef.h>

#include "textparse/textparse.h"

typedef struct scrape_metadata scrape_metadata_t;

scrape_metadata_t *scrape_metadata_new(void); /* NULL when out of memory */
void scrape_metadata_free(scrape_metadata_t *md);
/* One TYPE / HELP / UNIT entry of the scrape being parsed (kind is the
 * textparse entry; text is the HELP text or the UNIT). */
void scrape_metadata_note(scrape_metadata_t *md, enum textparse_entry kind, const char *name, enum metric_type type,
                          const char *text);
/* A scrape was parsed: entries not mentioned in the last 10 are dropped. */
void scrape_metadata_scrape_done(scrape_metadata_t *md);
/* Calls fn for every entry (type as Prometheus reports it: "counter",
 * "gauge", ..., "unknown"; help and unit "" when absent). fn returns
 * non-zero to stop. */
typedef int (*scrape_metadata_fn)(void *ctx, const char *metric, const char *type, const char *help,
                                  const char *unit);
int scrape_metadata_each(scrape_metadata_t *md, scrape_metadata_fn fn, void *ctx);

#endif
