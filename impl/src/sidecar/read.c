/* read.c — the sidecar's remote-read endpoint (read.h). */
#include "sidecar/read.h"

#include <stdlib.h>
#include <string.h>

#include "remote/remote_read.h"

typedef struct read_ctx {
    size_t qi;
    enum rr_response_type type;
    const label_t *ext;
    size_t next;
    label_t *merged;
    size_t mcap;
    rr_samples_writer_t *sw;
    strbuf_t *out;
    pl_err_t *err;
} read_ctx_t;

static int on_series(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    read_ctx_t *c = ctx;
    if (n + c->next > c->mcap) {
        size_t nc = (n + c->next) * 2;
        label_t *m = realloc(c->merged, nc * sizeof *m);
        if (!m) return pl_err_set(c->err, "out of memory");
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
    if (c->type == RR_SAMPLES)
        return rr_samples_writer_add(c->sw, c->qi, c->merged, o, s, ns) < 0 ? pl_err_set(c->err, "out of memory") : 0;
    return rr_stream_write_series(c->out, (int64_t)c->qi, c->merged, o, s, ns, (size_t)1 << 20, c->err) < 0 ? -1 : 0;
}

static void fail(sidecar_read_reply_t *r, int status, const char *msg) {
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    r->snappy = false;
    strbuf_reset(&r->body);
    strbuf_printf(&r->body, "%s\n", msg);
}

void sidecar_serve_read(const queryable_t *server, const label_t *ext, size_t next, const void *body, size_t len,
                        sidecar_read_reply_t *reply) {
    pl_err_t err = {{0}};
    rr_request_t rq;
    enum rr_response_type type;
    if (rr_request_decode(body ? body : "", len, &rq, &err) < 0 || rr_negotiate(&rq, &type, &err) < 0) {
        rr_request_free(&rq);
        fail(reply, 400, err.msg);
        return;
    }
    read_ctx_t c = {.type = type, .ext = ext, .next = next, .out = &reply->body, .err = &err};
    if (type == RR_SAMPLES) c.sw = rr_samples_writer_new(rq.nqueries);
    int rc = type == RR_SAMPLES && !c.sw ? pl_err_set(&err, "out of memory") : 0;
    matcher_t all;
    bool have_all = false;
    if (rc == 0) {
        rc = matcher_init(&all, MATCH_NOT_EQUAL, LABEL_METRIC_NAME, "", &err);
        have_all = rc == 0;
    }
    for (size_t qi = 0; rc == 0 && qi < rq.nqueries; qi++) {
        rr_query_t *q = &rq.queries[qi];
        matcher_t *ms = calloc(q->nmatchers + 1, sizeof *ms);
        if (!ms) {
            rc = pl_err_set(&err, "out of memory");
            break;
        }
        size_t nms = 0;
        bool contradicts = false;
        for (size_t j = 0; j < q->nmatchers; j++) {
            const char *v = labels_get(ext, next, q->matchers[j].name);
            if (!v) ms[nms++] = q->matchers[j];
            else if (!matcher_matches(&q->matchers[j], v)) contradicts = true;
        }
        if (nms == 0) ms[nms++] = all;
        c.qi = qi;
        if (!contradicts) {
            storage_select_hints_t h = {0};
            if (q->has_hints && q->hints.func && *q->hints.func) {
                h.func = q->hints.func;
                h.range_ms = q->hints.range_ms;
                h.step_ms = q->hints.step_ms;
            }
            rc = server->select_hinted
                     ? server->select_hinted(server->impl, ms, nms, q->start_ms, q->end_ms, &h, on_series, &c, &err)
                     : server->select(server->impl, ms, nms, q->start_ms, q->end_ms, on_series, &c, &err);
        }
        free(ms);
    }
    if (rc == 0 && type == RR_SAMPLES) {
        strbuf_reset(&reply->body);
        rc = rr_samples_writer_finish(c.sw, &reply->body, &err);
    }
    if (rc != 0) {
        fail(reply, 500, err.msg[0] ? err.msg : "remote read failed");
    } else {
        reply->status = 200;
        reply->content_type = type == RR_SAMPLES ? RR_CONTENT_TYPE_SAMPLES : RR_CONTENT_TYPE_STREAMED;
        reply->snappy = type == RR_SAMPLES;
    }
    if (have_all) matcher_free(&all);
    rr_samples_writer_free(c.sw);
    free(c.merged);
    rr_request_free(&rq);
}
