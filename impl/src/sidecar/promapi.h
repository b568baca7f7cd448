/* promapi.h — what the sidecar reads from a Prometheus (the real one or
 * promlab's server) over its HTTP API, nothing else:
 *
 *   GET /api/v1/status/config  -> data.yaml, whose global.external_labels
 *                                 identify the blocks' producer
 *   GET /api/v1/status/flags   -> storage.tsdb.min-block-duration and
 *                                 storage.tsdb.max-block-duration
 *
 * The parse functions are separate from the fetch so tests can feed them
 * answers. */
#ifndef PL_SIDECAR_PROMAPI_H
#define PL_SIDECAR_PROMAPI_H

#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "util/err.h"
#include "util/strbuf.h"

typedef struct promapi_labels {
    label_t *v; /* owned strings, sorted by name */
    size_t n;
} promapi_labels_t;

void promapi_labels_free(promapi_labels_t *l);

/* Parses the JSON answer of /api/v1/status/config. No external labels is
 * not an error (l->n == 0). */
int promapi_parse_config(const char *json, size_t len, promapi_labels_t *l, pl_err_t *err);
/* Parses the JSON answer of /api/v1/status/flags into the two block
 * durations (ms). */
int promapi_parse_flags(const char *json, size_t len, int64_t *min_block_ms, int64_t *max_block_ms, pl_err_t *err);

/* GET base_url + path into body (2xx only), with a timeout. */
int promapi_get(const char *base_url, const char *path, int64_t timeout_ms, strbuf_t *body, pl_err_t *err);

#endif
