/* federate.c — /federate: the newest sample of every series that one of the
 * match[] selectors selects, for another server to scrape.
 *
 * As Prometheus's web/federate.go:
 *  - match[] may repeat; the series of all selectors are merged (a series
 *    selected twice is written once). Without match[] the answer is an empty
 *    exposition (200, as Prometheus); a selector that does not parse is refused (400).
 *  - Per series the newest sample within the lookback delta (5m) before now
 *    is written with its own timestamp; a series whose newest sample is a
 *    staleness marker is left out (federation carries no stale markers).
 *  - External labels (global.external_labels) are appended after the series'
 *    own labels where the series does not have them already.
 *  - Families are sorted by metric name, each with "# TYPE <name> untyped"
 *    (the server keeps no metadata for what it stores).
 *  - Text format 0.0.4; OpenMetrics 1.0 when the client's Accept header asks
 *    for application/openmetrics-text (types "unknown", timestamps in
 *    seconds, "# EOF"). gzip is added by the HTTP layer when accepted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/matcher.h"
#include "textparse/textparse.h"
#include "util/timeutil.h"
#include "web/internal.h"

typedef struct fed_series {
    label_t *ls; /* owned copy, sorted */
    size_t n;
    int64_t t;
    double v;
} fed_series_t;

typedef struct fed_collect {
    fed_series_t *v;
    size_t n, cap;
    bool oom;
} fed_collect_t;

static void fed_series_free(fed_series_t *s) {
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->ls[i].name);
        free((char *)s->ls[i].value);
    }
    free(s->ls);
}

static int on_series(void *ctx, const label_t *ls, size_t n, const sample_t *samples, size_t ns) {
    fed_collect_t *c = ctx;
    if (ns == 0) return 0;
    const sample_t *last = &samples[ns - 1];
    if (pl_is_stale_nan(last->v)) return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        fed_series_t *p = realloc(c->v, cap * sizeof *p);
        if (!p) goto oom;
        c->v = p;
        c->cap = cap;
    }
    fed_series_t *s = &c->v[c->n];
    s->ls = calloc(n ? n : 1, sizeof *s->ls);
    if (!s->ls) goto oom;
    s->n = 0;
    for (size_t i = 0; i < n; i++) {
        s->ls[i].name = strdup(ls[i].name);
        s->ls[i].value = strdup(ls[i].value);
        s->n = i + 1;
        if (!s->ls[i].name || !s->ls[i].value) {
            fed_series_free(s);
            goto oom;
        }
    }
    s->t = last->t;
    s->v = last->v;
    c->n++;
    return 0;
oom:
    c->oom = true;
    return 1;
}

static const char *metric_name_of(const fed_series_t *s) {
    const char *n = labels_get(s->ls, s->n, LABEL_METRIC_NAME);
    return n ? n : "";
}

static int cmp_series(const void *a, const void *b) {
    const fed_series_t *x = a, *y = b;
    int c = strcmp(metric_name_of(x), metric_name_of(y));
    return c ? c : labels_compare(x->ls, x->n, y->ls, y->n);
}

/* True when the client's Accept header prefers OpenMetrics over the text format. */
static bool wants_openmetrics(const http_request_t *req) {
    const char *accept = http_header(req, "Accept");
    return accept && strstr(accept, "application/openmetrics-text") != NULL;
}

/* Writes the federation answer for the match[] selectors into out. Returns
 * 0, or -1 with err (400: a bad selector; 500: storage or memory). */
int web_federate_write(const queryable_t *q, const char *const *selectors, size_t nsel, const label_t *external,
                       size_t nexternal, int64_t now_ms, int64_t lookback_ms, bool openmetrics, strbuf_t *out,
                       int *status, pl_err_t *err) {
    fed_collect_t c = {0};
    int rc = 0;
    *status = 200;
    for (size_t i = 0; i < nsel && rc == 0; i++) {
        matcher_t *ms = NULL;
        size_t nms = 0;
        if (selector_parse(selectors[i], &ms, &nms, err) != 0) {
            *status = 400;
            rc = -1;
            break;
        }
        /* Prometheus looks back from now, exclusive of the start: (now - lookback, now]. */
        int r = q->select(q->impl, ms, nms, now_ms - lookback_ms + 1, now_ms, on_series, &c, err);
        matchers_free(ms, nms);
        if (c.oom) {
            pl_err_set(err, "out of memory");
            r = -1;
        }
        if (r < 0) {
            *status = 500;
            rc = -1;
        }
    }
    if (rc == 0) {
        if (c.n > 1) qsort(c.v, c.n, sizeof *c.v, cmp_series);
        const char *family = NULL;
        label_t *ls = NULL;
        size_t cap = 0;
        for (size_t i = 0; i < c.n; i++) {
            fed_series_t *s = &c.v[i];
            if (i > 0 && labels_equal(s->ls, s->n, c.v[i - 1].ls, c.v[i - 1].n)) continue; /* two selectors */
            const char *name = metric_name_of(s);
            if (!family || strcmp(family, name) != 0) {
                if (openmetrics)
                    strbuf_printf(out, "# TYPE %s unknown\n", name);
                else
                    textparse_write_type(out, name, METRIC_TYPE_UNTYPED);
                family = name;
            }
            if (s->n + nexternal > cap) {
                cap = s->n + nexternal;
                label_t *p = realloc(ls, cap * sizeof *p);
                if (!p) {
                    rc = -1;
                    *status = 500;
                    pl_err_set(err, "out of memory");
                    break;
                }
                ls = p;
            }
            size_t n = 0;
            for (size_t k = 0; k < s->n; k++)
                ls[n++] = s->ls[k];
            for (size_t k = 0; k < nexternal; k++)
                if (!labels_get(s->ls, s->n, external[k].name)) ls[n++] = external[k];
            if (openmetrics) {
                textparse_write_sample(out, name, ls, n, s->v, false, 0);
                out->len--; /* the newline */
                char ts[48];
                int64_t sec = s->t / 1000, ms = s->t % 1000;
                if (ms < 0) {
                    ms += 1000;
                    sec--;
                }
                snprintf(ts, sizeof ts, " %lld.%03lld\n", (long long)sec, (long long)ms);
                strbuf_puts(out, ts);
            } else {
                textparse_write_sample(out, name, ls, n, s->v, true, s->t);
            }
        }
        free(ls);
        if (rc == 0 && openmetrics) strbuf_puts(out, "# EOF\n");
    }
    for (size_t i = 0; i < c.n; i++)
        fed_series_free(&c.v[i]);
    free(c.v);
    return rc;
}

void web_handle_federate(web_t *w, const http_request_t *req, http_response_t *r) {
    size_t nsel = 0;
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].name, "match[]") == 0) nsel++;
    if (nsel == 0) { /* nothing selected: an empty exposition, as Prometheus answers */
        const bool om0 = wants_openmetrics(req);
        r->content_type = om0 ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                              : "text/plain; version=0.0.4; charset=utf-8";
        if (om0) strbuf_puts(&r->body, "# EOF\n");
        return;
    }
    const char **sel = calloc(nsel, sizeof *sel);
    label_t *ext = NULL;
    size_t next = 0;
    if (!sel || (w->opts.external_labels && w->opts.external_labels(w->opts.cb_ctx, &ext, &next) != 0)) {
        free(sel);
        r->status = 500;
        strbuf_puts(&r->body, "out of memory\n");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].name, "match[]") == 0) sel[k++] = req->params[i].value;
    const bool om = wants_openmetrics(req);
    const int64_t lookback = w->opts.lookback_delta_ms > 0 ? w->opts.lookback_delta_ms : 5 * 60 * 1000;
    pl_err_t err = {{0}};
    int status = 200;
    if (web_federate_write(&w->queryable, sel, nsel, ext, next, pl_now_ms(), lookback, om, &r->body, &status, &err) !=
        0) {
        strbuf_reset(&r->body);
        r->status = status;
        r->content_type = "text/plain; charset=utf-8";
        strbuf_printf(&r->body, "%s\n", err.msg);
    } else {
        r->content_type = om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                             : "text/plain; version=0.0.4; charset=utf-8";
    }
    for (size_t i = 0; i < next; i++) {
        free((char *)ext[i].name);
        free((char *)ext[i].value);
    }
    free(ext);
    free(sel);
}
