/* api_meta.c — the metadata endpoints: /api/v1/series, /api/v1/labels,
 * /api/v1/label/<name>/values, /api/v1/metadata and /api/v1/format_query,
 * plus the parameter helpers the query endpoints share (internal.h).
 *
 * All read storage through the server's queryable_t only. Without match[],
 * label names and values come from its label_names / label_values (the
 * head answers them from its postings: no series is looked at); with
 * match[], the selected series' label sets are collected (the union over
 * all match[] given), in [start, end]. Answers are sorted and de-duplicated
 * as Prometheus's; limit cuts them and, as Prometheus 3, adds the warning
 * "results truncated due to limit". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/matcher.h"
#include "promql/parser.h"
#include "util/timeutil.h"
#include "web/internal.h"

/* Prometheus's defaults for a missing start / end (its MinTime / MaxTime in
 * ms are near ±2^62 too). */
#define API_MIN_TIME (-(INT64_C(1) << 62))
#define API_MAX_TIME (INT64_C(1) << 62)
#define TRUNCATED_WARNING "results truncated due to limit"

/* Not empty, valid UTF-8 (Prometheus 3's rule for label names). */
static bool utf8_name_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    if (!*p) return false;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0) return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p >> 6) != 2) return false;
    }
    return true;
}

/* ---- shared parameter helpers ---------------------------------------------- */

bool api_time_param(const http_request_t *req, http_response_t *r, const char *name, int64_t def, int64_t *out) {
    const char *v = http_param(req, name);
    if (!v || !*v) {
        *out = def;
        return true;
    }
    pl_err_t err = {{0}};
    if (pl_parse_time(v, out, &err) < 0) {
        char msg[PL_ERR_MAX + 64];
        snprintf(msg, sizeof msg, "invalid parameter \"%s\": %s", name, err.msg);
        api_error(r, 400, "bad_data", msg);
        return false;
    }
    return true;
}

bool api_limit_param(const http_request_t *req, http_response_t *r, size_t *out) {
    *out = 0;
    const char *s = http_param(req, "limit");
    if (!s || !*s) return true;
    char *end;
    long long l = strtoll(s, &end, 10);
    if (*end || l < 0) {
        api_error(r, 400, "bad_data", "invalid parameter \"limit\": limit must be a non-negative number");
        return false;
    }
    *out = (size_t)l;
    return true;
}

/* ---- collecting ------------------------------------------------------------ */

typedef struct matcher_set {
    matcher_t *ms;
    size_t n;
} matcher_set_t;

typedef struct match_sets {
    matcher_set_t *sets;
    size_t n;
} match_sets_t;

static void match_sets_free(match_sets_t *m) {
    for (size_t i = 0; i < m->n; i++)
        matchers_free(m->sets[i].ms, m->sets[i].n);
    free(m->sets);
    m->sets = NULL;
    m->n = 0;
}

/* Parses every match[]; false (answered with the error) when one is bad. */
static bool parse_match_params(const http_request_t *req, http_response_t *r, match_sets_t *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].name, "match[]") != 0) continue;
        matcher_set_t set;
        pl_err_t err = {{0}};
        if (selector_parse(req->params[i].value, &set.ms, &set.n, &err) < 0) {
            char msg[PL_ERR_MAX + 64];
            snprintf(msg, sizeof msg, "invalid parameter \"match[]\": %s", err.msg);
            api_error(r, 400, "bad_data", msg);
            match_sets_free(out);
            return false;
        }
        matcher_set_t *ns = realloc(out->sets, (out->n + 1) * sizeof *ns);
        if (!ns) {
            matchers_free(set.ms, set.n);
            match_sets_free(out);
            api_error(r, 500, "internal", "out of memory");
            return false;
        }
        out->sets = ns;
        out->sets[out->n++] = set;
    }
    return true;
}

/* A growable list of strings kept in one buffer (offsets, so the buffer may move). */
typedef struct strlist {
    strbuf_t buf;
    size_t *off;
    size_t n, cap;
    bool oom;
} strlist_t;

static void strlist_add(strlist_t *l, const char *s) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 256;
        size_t *no = realloc(l->off, nc * sizeof *no);
        if (!no) {
            l->oom = true;
            return;
        }
        l->off = no;
        l->cap = nc;
    }
    l->off[l->n++] = l->buf.len;
    strbuf_puts(&l->buf, s);
    strbuf_putc(&l->buf, '\0');
}

static const char *strlist_at(const strlist_t *l, size_t i) { return l->buf.data + l->off[i]; }

static void strlist_free(strlist_t *l) {
    strbuf_free(&l->buf);
    free(l->off);
}

static int cmp_off(const void *a, const void *b, void *base) {
    return strcmp((const char *)base + *(const size_t *)a, (const char *)base + *(const size_t *)b);
}

/* Sorts (byte order) and removes duplicates. */
static void strlist_sort_unique(strlist_t *l) {
    if (l->n < 2) return;
    qsort_r(l->off, l->n, sizeof *l->off, cmp_off, l->buf.data);
    size_t k = 1;
    for (size_t i = 1; i < l->n; i++)
        if (strcmp(strlist_at(l, i), strlist_at(l, k - 1)) != 0) l->off[k++] = l->off[i];
    l->n = k;
}

static int add_string(void *ctx, const char *s) {
    strlist_add(ctx, s);
    return 0;
}

/* What to collect from each selected series. */
enum collect_what { COLLECT_SERIES, COLLECT_NAMES, COLLECT_VALUES };

typedef struct collect_ctx {
    enum collect_what what;
    const char *name; /* COLLECT_VALUES */
    strlist_t out;    /* names or values; for series: one entry per label set, "n\0v\0...\0" flattened */
    /* series: label sets as offsets into out.buf with their label counts */
    size_t *nls;
} collect_ctx_t;

static int collect_series(void *vctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    (void)s;
    (void)ns;
    collect_ctx_t *c = vctx;
    switch (c->what) {
    case COLLECT_NAMES:
        for (size_t i = 0; i < n; i++)
            strlist_add(&c->out, ls[i].name);
        break;
    case COLLECT_VALUES:
        for (size_t i = 0; i < n; i++)
            if (strcmp(ls[i].name, c->name) == 0) strlist_add(&c->out, ls[i].value);
        break;
    case COLLECT_SERIES: {
        /* the label set as one string of "name\xffvalue\xff..." pairs: sorting
         * these sorts by label set, since names and values hold no \xff */
        strbuf_t one = STRBUF_INIT;
        for (size_t i = 0; i < n; i++) {
            strbuf_puts(&one, ls[i].name);
            strbuf_putc(&one, '\x01');
            strbuf_puts(&one, ls[i].value);
            strbuf_putc(&one, '\x02');
        }
        strlist_add(&c->out, one.data ? one.data : "");
        strbuf_free(&one);
        break;
    }
    }
    return c->out.oom ? -1 : 0;
}

/* Runs every match[] set through select into c. False (answered) on error. */
static bool collect(const queryable_t *qb, http_response_t *r, const match_sets_t *m, int64_t start, int64_t end,
                    collect_ctx_t *c) {
    for (size_t i = 0; i < m->n; i++) {
        pl_err_t err = {{0}};
        int rc = qb->select(qb->impl, m->sets[i].ms, m->sets[i].n, start, end, collect_series, c, &err);
        if (rc != 0) {
            api_error(r, c->out.oom ? 500 : 422, c->out.oom ? "internal" : "execution",
                      c->out.oom ? "out of memory" : err.msg);
            return false;
        }
    }
    return true;
}

/* The success envelope for a string array (first limit entries when limit > 0). */
static void write_strings(http_response_t *r, const strlist_t *l, size_t limit) {
    size_t n = l->n;
    bool truncated = limit && n > limit;
    if (truncated) n = limit;
    jsonw_t jw;
    api_begin(r, &jw);
    jw_arr_begin(&jw);
    for (size_t i = 0; i < n; i++)
        jw_str(&jw, strlist_at(l, i));
    jw_arr_end(&jw);
    if (truncated) {
        jw_key(&jw, "warnings");
        jw_arr_begin(&jw);
        jw_str(&jw, TRUNCATED_WARNING);
        jw_arr_end(&jw);
    }
    api_end(&jw);
}

/* start, end, limit and match[]; false when answered with an error. */
static bool common_params(const http_request_t *req, http_response_t *r, int64_t *start, int64_t *end,
                          size_t *limit, match_sets_t *m) {
    if (!api_time_param(req, r, "start", API_MIN_TIME, start)) return false;
    if (!api_time_param(req, r, "end", API_MAX_TIME, end)) return false;
    if (!api_limit_param(req, r, limit)) return false;
    return parse_match_params(req, r, m);
}

/* ---- /api/v1/series ----------------------------------------------------------- */

void web_handle_series(web_t *w, const http_request_t *req, http_response_t *r) {
    int64_t start, end;
    size_t limit;
    match_sets_t m;
    if (!common_params(req, r, &start, &end, &limit, &m)) return;
    if (m.n == 0) {
        api_error(r, 400, "bad_data", "no match[] parameter provided");
        return;
    }
    collect_ctx_t c = {.what = COLLECT_SERIES};
    web_request_reader_t rr;
    web_reader_begin(w, req, &rr);
    bool ok = collect(&rr.q, r, &m, start, end, &c);
    web_reader_end(w, &rr);
    if (!ok) {
        match_sets_free(&m);
        strlist_free(&c.out);
        return;
    }
    match_sets_free(&m);
    strlist_sort_unique(&c.out);
    size_t n = c.out.n;
    bool truncated = limit && n > limit;
    if (truncated) n = limit;
    jsonw_t jw;
    api_begin(r, &jw);
    jw_arr_begin(&jw);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(&jw);
        const char *p = strlist_at(&c.out, i);
        while (*p) {
            const char *sep = strchr(p, '\x01');
            const char *vend = strchr(sep + 1, '\x02');
            strbuf_t name = STRBUF_INIT;
            strbuf_append(&name, p, (size_t)(sep - p));
            jw_key(&jw, name.data);
            strbuf_free(&name);
            jw_strn(&jw, sep + 1, (size_t)(vend - sep - 1));
            p = vend + 1;
        }
        jw_obj_end(&jw);
    }
    jw_arr_end(&jw);
    if (truncated) {
        jw_key(&jw, "warnings");
        jw_arr_begin(&jw);
        jw_str(&jw, TRUNCATED_WARNING);
        jw_arr_end(&jw);
    }
    api_end(&jw);
    strlist_free(&c.out);
}

/* ---- /api/v1/labels and /api/v1/label/<name>/values ----------------------------- */

/* Shared by both: without match[] storage lists the strings (name NULL:
 * label names), with match[] they come from the selected series. */
static void label_strings(web_t *w, const http_request_t *req, http_response_t *r, const char *name) {
    int64_t start, end;
    size_t limit;
    match_sets_t m;
    if (!common_params(req, r, &start, &end, &limit, &m)) return;
    collect_ctx_t c = {.what = name ? COLLECT_VALUES : COLLECT_NAMES, .name = name};
    web_request_reader_t rr;
    web_reader_begin(w, req, &rr);
    const queryable_t *qb = &rr.q;
    bool ok = true;
    if (m.n == 0) {
        pl_err_t err = {{0}};
        int rc = name ? qb->label_values(qb->impl, name, add_string, &c.out, &err)
                      : qb->label_names(qb->impl, add_string, &c.out, &err);
        if (rc != 0 || c.out.oom) {
            api_error(r, 500, "internal", c.out.oom ? "out of memory" : err.msg);
            ok = false;
        }
    } else {
        ok = collect(qb, r, &m, start, end, &c);
    }
    web_reader_end(w, &rr);
    if (!ok) {
        match_sets_free(&m);
        strlist_free(&c.out);
        return;
    }
    match_sets_free(&m);
    strlist_sort_unique(&c.out);
    write_strings(r, &c.out, limit);
    strlist_free(&c.out);
}

void web_handle_labels(web_t *w, const http_request_t *req, http_response_t *r) { label_strings(w, req, r, NULL); }

/* /api/v1/label/<name>/values: the name is the path segment between. */
void web_handle_label_values(web_t *w, const http_request_t *req, http_response_t *r) {
    static const char prefix[] = "/api/v1/label/";
    const char *p = req->path + strlen(prefix);
    const char *slash = strchr(p, '/');
    if (!slash || strcmp(slash, "/values") != 0) {
        r->status = 404;
        r->content_type = "text/plain; charset=utf-8";
        strbuf_puts(&r->body, "404 page not found\n");
        return;
    }
    strbuf_t name = STRBUF_INIT;
    strbuf_append(&name, p, (size_t)(slash - p));
    const char *n = name.data ? name.data : "";
    /* Prometheus 3 accepts any UTF-8 name, and legacy-escaped ones as U__... */
    if (!utf8_name_valid(n)) {
        char msg[600];
        snprintf(msg, sizeof msg, "invalid label name: \"%.500s\"", n);
        api_error(r, 400, "bad_data", msg);
        strbuf_free(&name);
        return;
    }
    label_strings(w, req, r, n);
    strbuf_free(&name);
}

/* ---- /api/v1/format_query -------------------------------------------------------- */


void web_handle_format_query(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)w;
    const char *q = http_param(req, "query");
    promql_expr_t *e = NULL;
    pl_err_t err = {{0}};
    if (promql_parse(q ? q : "", &e, &err) < 0) {
        char msg[PL_ERR_MAX + 64];
        snprintf(msg, sizeof msg, "invalid parameter \"query\": %s", err.msg);
        api_error(r, 400, "bad_data", msg);
        return;
    }
    strbuf_t sb = STRBUF_INIT;
    promql_expr_pretty(&sb, e);
    promql_expr_free(e);
    jsonw_t jw;
    api_begin(r, &jw);
    jw_str(&jw, sb.data ? sb.data : "");
    api_end(&jw);
    strbuf_free(&sb);
}

/* ---- /api/v1/metadata ------------------------------------------------------------ */

typedef struct md_item {
    char *metric, *type, *help, *unit;
    size_t seq; /* arrival order: items of one metric keep it */
} md_item_t;

typedef struct md_collect {
    md_item_t *items;
    size_t n, cap;
    const char *only; /* metric= filter, NULL for all */
    bool oom;
} md_collect_t;

static int md_add(void *ctx, const char *metric, const char *type, const char *help, const char *unit) {
    md_collect_t *c = ctx;
    if (c->only && strcmp(c->only, metric) != 0) return 0;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        md_item_t *ni = realloc(c->items, nc * sizeof *ni);
        if (!ni) {
            c->oom = true;
            return -1;
        }
        c->items = ni;
        c->cap = nc;
    }
    md_item_t *it = &c->items[c->n];
    it->metric = strdup(metric);
    it->type = strdup(type);
    it->help = strdup(help);
    it->unit = strdup(unit);
    if (!it->metric || !it->type || !it->help || !it->unit) {
        free(it->metric), free(it->type), free(it->help), free(it->unit);
        c->oom = true;
        return -1;
    }
    it->seq = c->n++;
    return 0;
}

/* By metric name; items of one metric keep the order targets gave them. */
static int cmp_md(const void *a, const void *b) {
    const md_item_t *x = a, *y = b;
    int c = strcmp(x->metric, y->metric);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool same_md(const md_item_t *a, const md_item_t *b) {
    return !strcmp(a->type, b->type) && !strcmp(a->help, b->help) && !strcmp(a->unit, b->unit);
}

/* limit / limit_per_metric: a number, negative for none (Prometheus's -1 default). */
static bool md_int_param(const http_request_t *req, http_response_t *r, const char *name, long *out) {
    *out = -1;
    const char *s = http_param(req, name);
    if (!s || !*s) return true;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be a number", name);
        api_error(r, 400, "bad_data", msg);
        return false;
    }
    *out = v;
    return true;
}

void web_handle_metadata(web_t *w, const http_request_t *req, http_response_t *r) {
    long limit, per_metric;
    if (!md_int_param(req, r, "limit", &limit) || !md_int_param(req, r, "limit_per_metric", &per_metric)) return;
    const char *metric = http_param(req, "metric");
    md_collect_t c = {.only = metric && *metric ? metric : NULL};
    target_metadata_t *rows = NULL;
    size_t nrows = w->opts.scrape ? scrape_manager_metadata(w->opts.scrape, c.only, &rows) : 0;
    for (size_t i = 0; i < nrows && !c.oom; i++)
        md_add(&c, rows[i].metric, rows[i].type, rows[i].help, rows[i].unit);
    scrape_metadata_free(rows, nrows);
    if (c.oom) {
        api_error(r, 500, "internal", "out of memory");
    } else {
        /* by metric, then arrival order */
        if (c.n > 1) qsort(c.items, c.n, sizeof *c.items, cmp_md);
        jsonw_t jw;
        api_begin(r, &jw);
        jw_obj_begin(&jw);
        long metrics = 0;
        for (size_t i = 0; i < c.n;) {
            size_t j = i;
            while (j < c.n && strcmp(c.items[j].metric, c.items[i].metric) == 0)
                j++;
            if (limit >= 0 && metrics >= limit) break;
            metrics++;
            jw_key(&jw, c.items[i].metric);
            jw_arr_begin(&jw);
            long written = 0;
            for (size_t k = i; k < j; k++) {
                bool dup = false;
                for (size_t p = i; p < k && !dup; p++)
                    dup = same_md(&c.items[p], &c.items[k]);
                if (dup) continue;
                if (per_metric >= 0 && written >= per_metric) break;
                written++;
                jw_obj_begin(&jw);
                jw_key(&jw, "type");
                jw_str(&jw, c.items[k].type);
                jw_key(&jw, "help");
                jw_str(&jw, c.items[k].help);
                jw_key(&jw, "unit");
                jw_str(&jw, c.items[k].unit);
                jw_obj_end(&jw);
            }
            jw_arr_end(&jw);
            i = j;
        }
        jw_obj_end(&jw);
        api_end(&jw);
    }
    for (size_t i = 0; i < c.n; i++) {
        free(c.items[i].metric);
        free(c.items[i].type);
        free(c.items[i].help);
        free(c.items[i].unit);
    }
    free(c.items);
}
