/* read.h — the sidecar's read API: Prometheus's remote read served for the
 * server beside it, as Thanos's sidecar serves its StoreAPI from the
 * server's /api/v1/read.
 *
 * Each query of a request is checked against the external labels: a
 * matcher on an external label name that the label's value fails makes the
 * query's result empty without asking the server; matchers on external
 * label names are then dropped (the server stores no such labels), and the
 * rest are sent on as one select over the server's queryable (a remote
 * client in `promlab sidecar`; the function hint passed along). Every
 * series answered gets the external labels (a series' own label wins).
 * The answer is SAMPLES or STREAMED_XOR_CHUNKS, as the request negotiates. */
#ifndef PL_SIDECAR_READ_H
#define PL_SIDECAR_READ_H

#include <stddef.h>

#include "model/labels.h"
#include "model/storage.h"
#include "util/err.h"
#include "util/strbuf.h"

typedef struct sidecar_read_reply {
    int status;               /* 200, 400 (bad request) or 500 (the server failed) */
    const char *content_type; /* static */
    bool snappy;              /* send Content-Encoding: snappy */
    strbuf_t body;            /* owned: the answer or a one-line error */
} sidecar_read_reply_t;

/* ext: sorted external labels (borrowed). */
void sidecar_serve_read(const queryable_t *server, const label_t *ext, size_t next, const void *body, size_t len,
                        sidecar_read_reply_t *reply);

#endif
