/* api_read.c — POST /api/v1/read: Prometheus's remote-read endpoint over
 * the server's queryable (codec in remote/remote_read.h).
 *
 * As Prometheus's read handler does: at most --storage.remote.read-concurrent-limit
 * reads run at once (the others wait); matchers on external label names are
 * dropped before the select (the external labels are the server's identity,
 * not stored labels) and the external labels are added to every series that
 * lacks them; queries run in order; SAMPLES answers count samples against
 * --storage.remote.read-sample-limit; STREAMED_XOR_CHUNKS cuts frames at
 * --storage.remote.read-max-bytes-in-frame. Errors are plain text with 400
 * (bad request, sample limit) or 500 (storage). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/remote_read.h"
#include "web/internal.h"

typedef struct read_ctx {
    size_t qi;
    enum rr_response_type type;
    const label_t *ext; /* sorted external labels */
    size_t next;
    label_t *merged; /* scratch: series labels + external labels */
    size_t mcap;
    rr_samples_writer_t *sw;
    strbuf_t *out;
    int64_t sample_limit, samples;
    size_t max_frame;
    pl_err_t *err;
    bool over_limit;
} read_ctx_t;

/* Merges the external labels into ls (a label of the series wins). */
static size_t merge_external(read_ctx_t *c, const label_t *ls, size_t n) {
    if (n + c->next > c->mcap) {
        size_t nc = (n + c->next) * 2;
        label_t *m = realloc(c->merged, nc * sizeof *m);
        if (!m) return (size_t)-1;
        c->merged = m;
        c->mcap = nc;
    }
    size_t i = 0, j = 0, o = 0;
    while (i < n || j < c->next) {
        int cmp = i == n ? 1 : j == c->next ? -1 : strcmp(ls[i].name, c->ext[j].name);
        if (cmp <= 0) {
            c->merged[o++] = ls[i++];
            if (cmp == 0) j++;
        } else {
            c->merged[o++] = c->ext[j++];
        }
    }
    return o;
}

static int on_series(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    read_ctx_t *c = ctx;
    size_t m = merge_external(c, ls, n);
    if (m == (size_t)-1) return pl_err_set(c->err, "out of memory");
    if (c->type == RR_SAMPLES) {
        c->samples += (int64_t)ns;
        if (c->sample_limit > 0 && c->samples > c->sample_limit) {
            c->over_limit = true;
            return pl_err_set(c->err, "exceeded sample limit (%lld)", (long long)c->sample_limit);
        }
        if (rr_samples_writer_add(c->sw, c->qi, c->merged, m, s, ns) < 0) return pl_err_set(c->err, "out of memory");
        return 0;
    }
    return rr_stream_write_series(c->out, (int64_t)c->qi, c->merged, m, s, ns, c->max_frame, c->err) < 0 ? -1 : 0;
}

static void plain_error(http_response_t *r, int status, const char *msg) {
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    strbuf_reset(&r->body);
    strbuf_printf(&r->body, "%s\n", msg);
}

/* The external labels, sorted (a malloc'd copy: free with free_external). */
static size_t load_external(web_t *w, label_t **out) {
    *out = NULL;
    size_t n = 0;
    if (!w->opts.external_labels || w->opts.external_labels(w->opts.cb_ctx, out, &n) != 0) return 0;
    labels_sort(*out, n);
    return n;
}

static void free_external(label_t *ls, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free((char *)ls[i].name);
        free((char *)ls[i].value);
    }
    free(ls);
}

void web_handle_read(web_t *w, const http_request_t *req, http_response_t *r) {
    pl_err_t err = {{0}};
    rr_request_t rq;
    if (rr_request_decode(req->body ? req->body : "", req->body_len, &rq, &err) < 0) {
        rr_request_free(&rq);
        plain_error(r, 400, err.msg);
        return;
    }
    enum rr_response_type type;
    if (rr_negotiate(&rq, &type, &err) < 0) {
        rr_request_free(&rq);
        plain_error(r, 400, err.msg);
        return;
    }
    label_t *ext = NULL;
    size_t next = load_external(w, &ext);
    read_ctx_t c = {
        .type = type,
        .ext = ext,
        .next = next,
        .out = &r->body,
        .sample_limit = w->opts.remote_read_sample_limit,
        .max_frame = w->opts.remote_read_max_bytes_in_frame > 0 ? (size_t)w->opts.remote_read_max_bytes_in_frame
                                                                : (size_t)1 << 20,
        .err = &err,
    };
    if (type == RR_SAMPLES) c.sw = rr_samples_writer_new(rq.nqueries);
    matcher_t all;
    int rc = matcher_init(&all, MATCH_NOT_EQUAL, LABEL_METRIC_NAME, "", &err);
    rr_gate_enter(w->read_gate);
    for (size_t qi = 0; rc == 0 && qi < rq.nqueries; qi++) {
        rr_query_t *q = &rq.queries[qi];
        /* Matchers on external label names are not storage matchers. */
        matcher_t *ms = calloc(q->nmatchers + 1, sizeof *ms);
        size_t nms = 0;
        if (!ms) {
            rc = pl_err_set(&err, "out of memory");
            break;
        }
        for (size_t j = 0; j < q->nmatchers; j++)
            if (!labels_get(ext, next, q->matchers[j].name)) ms[nms++] = q->matchers[j];
        if (nms == 0) ms[nms++] = all;
        c.qi = qi;
        rc = w->queryable.select(w->queryable.impl, ms, nms, q->start_ms, q->end_ms, on_series, &c, &err);
        free(ms);
    }
    rr_gate_leave(w->read_gate);
    if (rc == 0 && type == RR_SAMPLES) {
        strbuf_reset(&r->body);
        rc = rr_samples_writer_finish(c.sw, &r->body, &err);
    }
    if (rc != 0) {
        plain_error(r, c.over_limit ? 400 : 500, err.msg[0] ? err.msg : "remote read failed");
    } else if (type == RR_SAMPLES) {
        r->content_type = RR_CONTENT_TYPE_SAMPLES;
        r->extra_header_name = strdup("Content-Encoding");
        r->extra_header_value = strdup("snappy");
        r->identity = true;
    } else {
        r->content_type = RR_CONTENT_TYPE_STREAMED;
        r->identity = true;
    }
    matcher_free(&all);
    rr_samples_writer_free(c.sw);
    free(c.merged);
    free_external(ext, next);
    rr_request_free(&rq);
}
