/* remote_client.h — a queryable_t over a remote-read endpoint (libcurl).
 *
 * select sends one ReadRequest (accepting STREAMED_XOR_CHUNKS, then
 * SAMPLES) to <base>/api/v1/read and decodes whichever the endpoint answers
 * with: a promlab server, a real Prometheus, later sidecars and stores.
 * Returned series are filtered again by the matchers (Prometheus's handler
 * drops matchers on its external labels) and clipped to [mint, maxt], then
 * handed out sorted by label set as queryable_t requires.
 *
 * label_names / label_values use the endpoint's /api/v1/labels and
 * /api/v1/label/<name>/values; when it has none (404), they fall back to a
 * remote read of every series over all time.
 *
 * One client may be used from many threads at once: every call runs its
 * own curl handle. */
#ifndef PL_REMOTE_CLIENT_H
#define PL_REMOTE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "model/storage.h"
#include "util/err.h"
#include "util/strbuf.h"

/* ---- a set of copied series (shared with the query module) ---- */

typedef struct remote_series {
    label_t *ls; /* sorted; labels, strings and samples live in one block owned by the set */
    size_t n;
    sample_t *s;
    size_t ns;
} remote_series_t;

typedef struct remote_series_set {
    remote_series_t *v;
    size_t n, cap;
} remote_series_set_t;

/* Copies a series in. -1 when out of memory. */
int remote_series_set_add(remote_series_set_t *set, const label_t *ls, size_t n, const sample_t *s, size_t ns);
void remote_series_set_sort(remote_series_set_t *set); /* by label set */
void remote_series_set_free(remote_series_set_t *set);

/* ---- the client ---- */

typedef struct remote_client_opts {
    int64_t timeout_ms; /* per request; 0: 2 minutes */
    bool samples_only;  /* ask for SAMPLES alone (tests and benchmarks) */
} remote_client_opts_t;

typedef struct remote_client remote_client_t;

/* base_url: "http://host:port" (a path prefix is kept). */
remote_client_t *remote_client_new(const char *base_url, const remote_client_opts_t *opts, pl_err_t *err);
void remote_client_free(remote_client_t *c);
const char *remote_client_url(const remote_client_t *c);
void remote_client_queryable(remote_client_t *c, queryable_t *out);

/* Reads the endpoint's external labels from /api/v1/status/config
 * (global.external_labels of data.yaml). Labels are appended to store as
 * name\0value\0 pairs; *n gets their count. */
int remote_client_external_labels(remote_client_t *c, strbuf_t *store, size_t *n, pl_err_t *err);

/* GET base + path: the body (any status) appended to body, the status in
 * *status. -1 only when no HTTP answer came. */
int remote_client_get(remote_client_t *c, const char *path, strbuf_t *body, long *status, pl_err_t *err);

/* Parses global.external_labels out of a prometheus.yml text (used for the
 * above; exposed for tests). */
int remote_parse_external_labels(const char *yaml, size_t len, strbuf_t *store, size_t *n, pl_err_t *err);

#endif
