/* manager.c — the scrape manager: targets from the config, one thread, one
 * libcurl multi handle driving every target's HTTP request.
 *
 * Why one thread: a scrape is mostly waiting on the network, and libcurl's
 * multi interface waits on all targets' sockets at once. The thread sleeps in
 * curl_multi_poll until a transfer makes progress or the next target is due,
 * starts due targets, and hands finished responses to append.c, which parses
 * and stores them on this same thread. So a target's cache, batch and curl
 * handle are touched by one thread only and need no locks.
 *
 * Scheduling follows Prometheus: a target is scraped at the times t with
 * t mod interval == hash(URL, job) mod interval, so targets spread evenly
 * over the interval and a restart keeps each target's phase. A scrape that
 * overruns its interval makes the next one start as soon as it ends; ticks
 * missed entirely are skipped, not caught up. The sample timestamp is the
 * scheduled time when the scrape started within 2 ms (at most 1% of the
 * interval) of it, which makes timestamps regular and chunks compress better.
 *
 * Reloads: apply_config turns the config into candidate targets on the
 * caller's thread (so the manager keeps nothing of the config_t), then hands
 * them to the scrape thread and waits until it has swapped them in; libcurl
 * handles may only be used by one thread, so the scrape thread makes every
 * change to the target list itself. Targets that stay keep their cache and
 * schedule (rescheduled if the interval changed); removed targets stop at
 * once and, like Prometheus, write stale markers for their series a little
 * over two intervals later, unless they come back first. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "scrape/internal.h"
#include "textparse/textparse.h"
#include "util/log.h"
#include "util/timeutil.h"

/* ---- small formatting helpers (exposed to tests through internal.h) ---------- */

void scrape_go_duration(char *out, size_t outsz, int64_t ms) {
    if (ms == 0) {
        snprintf(out, outsz, "0s");
        return;
    }
    const char *sign = "";
    uint64_t u = (uint64_t)ms;
    if (ms < 0) {
        sign = "-";
        u = (uint64_t)0 - u;
    }
    if (u < 1000) {
        snprintf(out, outsz, "%s%" PRIu64 "ms", sign, u);
        return;
    }
    uint64_t h = u / 3600000, mnt = (u / 60000) % 60, s = (u / 1000) % 60, frac = u % 1000;
    char sec[32];
    if (frac) {
        snprintf(sec, sizeof sec, "%" PRIu64 ".%03" PRIu64, s, frac);
        size_t n = strlen(sec);
        while (sec[n - 1] == '0')
            sec[--n] = '\0';
    } else {
        snprintf(sec, sizeof sec, "%" PRIu64, s);
    }
    if (h)
        snprintf(out, outsz, "%s%" PRIu64 "h%" PRIu64 "m%ss", sign, h, mnt, sec);
    else if (mnt)
        snprintf(out, outsz, "%s%" PRIu64 "m%ss", sign, mnt, sec);
    else
        snprintf(out, outsz, "%s%ss", sign, sec);
}

void scrape_seconds_string(char *out, size_t outsz, int64_t ms) {
    if (ms < 0) ms = 0;
    if (ms % 1000 == 0) {
        snprintf(out, outsz, "%" PRId64, ms / 1000);
        return;
    }
    snprintf(out, outsz, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
}

/* Go's url.QueryEscape. */
static void query_escape(strbuf_t *sb, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '_' || ch == '.' || ch == '~') {
            strbuf_putc(sb, (char)ch);
        } else if (ch == ' ') {
            strbuf_putc(sb, '+');
        } else {
            strbuf_putc(sb, '%');
            strbuf_putc(sb, hex[ch >> 4]);
            strbuf_putc(sb, hex[ch & 15]);
        }
    }
}

char *scrape_build_url(const char *scheme, const char *address, const char *path, const label_t *query, size_t nquery) {
    strbuf_t sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s://%s", scheme, address);
    if (path[0] != '/') strbuf_putc(&sb, '/');
    strbuf_puts(&sb, path);
    if (nquery) {
        /* Go's url.Values.Encode: keys sorted, each key's values in order.
         * A stable selection by name keeps the value order. */
        bool *done = calloc(nquery, sizeof *done);
        if (!done) {
            strbuf_free(&sb);
            return NULL;
        }
        strbuf_putc(&sb, strchr(path, '?') ? '&' : '?');
        bool first = true;
        for (size_t k = 0; k < nquery; k++) {
            size_t min = SIZE_MAX;
            for (size_t i = 0; i < nquery; i++)
                if (!done[i] && (min == SIZE_MAX || strcmp(query[i].name, query[min].name) < 0)) min = i;
            if (min == SIZE_MAX) break; /* all written */
            for (size_t i = min; i < nquery; i++) {
                if (done[i] || strcmp(query[i].name, query[min].name) != 0) continue;
                done[i] = true;
                if (!first) strbuf_putc(&sb, '&');
                first = false;
                query_escape(&sb, query[i].name);
                strbuf_putc(&sb, '=');
                query_escape(&sb, query[i].value);
            }
        }
        free(done);
    }
    return strbuf_detach(&sb);
}

char *scrape_accept_header(char *const *protocols, size_t n, const char *escaping) {
    static const struct {
        const char *name, *media;
        bool escaping;
    } known[] = {
        {"PrometheusProto",
         "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", false},
        {"PrometheusText0.0.4", "text/plain;version=0.0.4", false},
        {"PrometheusText1.0.0", "text/plain;version=1.0.0", true},
        {"OpenMetricsText0.0.1", "application/openmetrics-text;version=0.0.1", false},
        {"OpenMetricsText1.0.0", "application/openmetrics-text;version=1.0.0", true},
    };
    const size_t nknown = sizeof known / sizeof known[0];
    strbuf_t sb = STRBUF_INIT;
    /* Weights count down from one more than the number of protocols known. */
    int weight = (int)nknown + 1;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < nknown; k++) {
            if (strcmp(protocols[i], known[k].name) != 0) continue;
            strbuf_puts(&sb, known[k].media);
            if (known[k].escaping && escaping && escaping[0]) strbuf_printf(&sb, ";escaping=%s", escaping);
            strbuf_printf(&sb, ";q=0.%d,", weight);
            weight--;
            break;
        }
    }
    strbuf_printf(&sb, "*/*;q=0.%d", weight > 0 ? weight : 1);
    return strbuf_detach(&sb);
}

int64_t scrape_first_due(int64_t now_ms, int64_t interval_ms, uint64_t offset_hash) {
    if (interval_ms <= 0) return 0;
    int64_t phase = (int64_t)(offset_hash % (uint64_t)interval_ms);
    int64_t pos = now_ms % interval_ms;
    if (pos < 0) pos += interval_ms;
    int64_t d = phase - pos;
    return d < 0 ? d + interval_ms : d;
}

static const char *http_reason(long code) {
    switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

/* ---- a growable label set with owned strings (target construction) ------------ */

typedef struct lbuild {
    label_t *v;
    size_t n, cap;
} lbuild_t;

static void lb_free(lbuild_t *b) {
    for (size_t i = 0; i < b->n; i++) {
        free((char *)b->v[i].name);
        free((char *)b->v[i].value);
    }
    free(b->v);
    memset(b, 0, sizeof *b);
}

static const char *lb_get(const lbuild_t *b, const char *name) {
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->v[i].name, name) == 0) return b->v[i].value;
    return NULL;
}

static int lb_set(lbuild_t *b, const char *name, const char *value) {
    char *nv = strdup(value);
    if (!nv) return -1;
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->v[i].name, name) == 0) {
            free((char *)b->v[i].value);
            b->v[i].value = nv;
            return 0;
        }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        label_t *p = realloc(b->v, cap * sizeof *p);
        if (!p) {
            free(nv);
            return -1;
        }
        b->v = p;
        b->cap = cap;
    }
    char *nn = strdup(name);
    if (!nn) {
        free(nv);
        return -1;
    }
    b->v[b->n++] = (label_t){nn, nv};
    return 0;
}

/* Sets name only where it is unset or empty (Prometheus's defaults for
 * scrape labels). */
static int lb_default(lbuild_t *b, const char *name, const char *value) {
    const char *cur = lb_get(b, name);
    if (cur && cur[0]) return 0;
    return lb_set(b, name, value);
}

/* Copies the labels of b that pass keep (all when NULL) with non-empty
 * values, sorted. */
static int lb_export(const lbuild_t *b, bool public_only, label_t **out, size_t *nout) {
    label_t *v = calloc(b->n ? b->n : 1, sizeof *v);
    if (!v) return -1;
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (!b->v[i].value[0]) continue;
        if (public_only && strncmp(b->v[i].name, "__", 2) == 0) continue;
        v[n].name = strdup(b->v[i].name);
        v[n].value = strdup(b->v[i].value);
        n++;
        if (!v[n - 1].name || !v[n - 1].value) {
            for (size_t j = 0; j < n; j++) {
                free((char *)v[j].name);
                free((char *)v[j].value);
            }
            free(v);
            return -1;
        }
    }
    labels_sort(v, n);
    *out = v;
    *nout = n;
    return 0;
}

static void labels_free_owned(label_t *ls, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free((char *)ls[i].name);
        free((char *)ls[i].value);
    }
    free(ls);
}

/* ---- targets ---------------------------------------------------------------------- */

scrape_rules_t *scrape_rules_ref(scrape_rules_t *r) {
    if (r) atomic_fetch_add(&r->refs, 1);
    return r;
}

void scrape_rules_unref(scrape_rules_t *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    relabel_rules_free(r->rules);
    free(r);
}

static void opts_free(scrape_opts_t *o) {
    free(o->basic_auth_username);
    free(o->basic_auth_password);
    free(o->basic_auth_username_file);
    free(o->basic_auth_password_file);
    free(o->accept_header);
    free(o->forced_error);
    memset(o, 0, sizeof *o);
}

static void target_free(scrape_target_t *t) {
    if (!t) return;
    if (t->easy) curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->job);
    free(t->url);
    free(t->address);
    labels_free_owned(t->labels, t->nlabels);
    labels_free_owned(t->discovered, t->ndiscovered);
    opts_free(&t->opts);
    strbuf_free(&t->body);
    scrape_cache_free(&t->cache);
    scrape_meta_free(&t->meta);
    scrape_rules_unref(t->metric_rules);
    free(t->last_error);
    free(t);
}

static void dropped_free(scrape_dropped_t *d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(d[i].pool);
        labels_free_owned(d[i].labels, d[i].nlabels);
    }
    free(d);
}

static void target_set_free(scrape_target_set_t *s) {
    if (!s) return;
    for (size_t i = 0; i < s->ntargets; i++)
        target_free(s->targets[i]);
    free(s->targets);
    for (size_t i = 0; i < s->npools; i++)
        free(s->pools[i].name);
    free(s->pools);
    dropped_free(s->dropped, s->ndropped);
    config_free(s->cfg);
    for (size_t i = 0; i < s->nsds; i++)
        file_sd_free(s->sds[i]);
    free(s->sds);
    free(s);
}

/* Target relabeling: runs relabel_configs over the target's labels (the
 * discovered ones plus the scrape config's defaults) before __-prefixed
 * labels are removed. Returns 1 to keep (lb now holds the result), 0 when a
 * rule dropped the target, -1 when out of memory. */
static int apply_target_relabel(const relabel_rules_t *rules, relabel_labels_t *rb, lbuild_t *lb) {
    if (!rules || relabel_rules_count(rules) == 0) return 1;
    const label_t *out = NULL;
    size_t nout = 0;
    int rc = relabel_apply(rules, rb, lb->v, lb->n, &out, &nout);
    if (rc != RELABEL_KEPT) return rc;
    /* out borrows from lb's strings: build the new set aside, then swap. */
    lbuild_t nb = {0};
    for (size_t i = 0; i < nout; i++)
        if (lb_set(&nb, out[i].name, out[i].value) != 0) {
            lb_free(&nb);
            return -1;
        }
    lb_free(lb);
    *lb = nb;
    return 1;
}

static char *xstrdup_opt(const char *s) { return s ? strdup(s) : NULL; }

/* Builds a candidate target for one address of a target group (a static
 * config or a file_sd group: glabels are the group's labels). Returns NULL
 * with why filled when the target cannot be created, or with why "" when
 * relabeling dropped it: then *dropped gets its discovered labels (owned by
 * the caller, sorted) unless dropped is NULL. */
static scrape_target_t *target_from_config(const scrape_pool_build_t *pb, const label_t *glabels, size_t nglabels,
                                           const char *address, scrape_dropped_t *dropped, char *why, size_t whysz) {
    const scrape_config_t *sc = pb->sc;
    lbuild_t lb = {0};
    scrape_target_t *t = NULL;
    label_t *query = NULL;
    char buf[64];
    why[0] = '\0';
    int rc = 0;

    for (size_t i = 0; i < nglabels && rc == 0; i++)
        rc = lb_set(&lb, glabels[i].name, glabels[i].value);
    if (rc == 0) rc = lb_set(&lb, "__address__", address);
    if (rc == 0) rc = lb_default(&lb, "job", sc->job_name);
    pl_format_duration(buf, sizeof buf, sc->scrape_interval_ms);
    if (rc == 0) rc = lb_default(&lb, "__scrape_interval__", buf);
    pl_format_duration(buf, sizeof buf, sc->scrape_timeout_ms);
    if (rc == 0) rc = lb_default(&lb, "__scrape_timeout__", buf);
    if (rc == 0) rc = lb_default(&lb, "__metrics_path__", sc->metrics_path ? sc->metrics_path : "/metrics");
    if (rc == 0) rc = lb_default(&lb, "__scheme__", sc->scheme ? sc->scheme : "http");
    for (size_t i = 0; i < sc->nparams && rc == 0; i++) {
        if (sc->params[i].nvalues == 0) continue;
        strbuf_t name = STRBUF_INIT;
        strbuf_printf(&name, "__param_%s", sc->params[i].name);
        rc = lb_default(&lb, name.data, sc->params[i].values[0]);
        strbuf_free(&name);
    }
    if (rc != 0) goto oom;

    t = calloc(1, sizeof *t);
    if (!t) goto oom;
    scrape_cache_init(&t->cache);
    if (lb_export(&lb, false, &t->discovered, &t->ndiscovered) != 0) goto oom;

    int kept = apply_target_relabel(pb->rules, pb->rb, &lb);
    if (kept < 0) goto oom;
    if (kept == 0) {
        if (dropped) {
            dropped->labels = t->discovered;
            dropped->nlabels = t->ndiscovered;
            t->discovered = NULL;
            t->ndiscovered = 0;
        }
        goto dropped;
    }

    const char *addr = lb_get(&lb, "__address__");
    if (!addr || !addr[0]) {
        snprintf(why, whysz, "no address");
        goto fail;
    }
    if (lb_default(&lb, "instance", addr) != 0) goto oom;
    addr = lb_get(&lb, "__address__"); /* lb_default may have moved the set */

    int64_t interval = 0, timeout = 0;
    pl_err_t perr;
    if (pl_parse_duration(lb_get(&lb, "__scrape_interval__"), &interval, &perr) != 0 || interval <= 0) {
        snprintf(why, whysz, "error parsing scrape interval: %.400s", perr.msg);
        goto fail;
    }
    if (pl_parse_duration(lb_get(&lb, "__scrape_timeout__"), &timeout, &perr) != 0 || timeout <= 0) {
        snprintf(why, whysz, "error parsing scrape timeout: %.400s", perr.msg);
        goto fail;
    }
    if (timeout > interval) {
        snprintf(why, whysz, "scrape timeout cannot be greater than scrape interval (\"%s\" > \"%s\")",
                 lb_get(&lb, "__scrape_timeout__"), lb_get(&lb, "__scrape_interval__"));
        goto fail;
    }

    /* Query: the config's params, the first value of each replaced by a
     * __param_<name> label, plus params that only a label names. */
    size_t nquery = 0, capq = 0;
    for (size_t i = 0; i < sc->nparams; i++)
        capq += sc->params[i].nvalues;
    for (size_t i = 0; i < lb.n; i++)
        if (strncmp(lb.v[i].name, "__param_", 8) == 0) capq++;
    query = calloc(capq ? capq : 1, sizeof *query);
    if (!query) goto oom;
    for (size_t i = 0; i < sc->nparams; i++) {
        for (size_t j = 0; j < sc->params[i].nvalues; j++) {
            const char *v = sc->params[i].values[j];
            if (j == 0) {
                strbuf_t name = STRBUF_INIT;
                strbuf_printf(&name, "__param_%s", sc->params[i].name);
                const char *ov = lb_get(&lb, name.data);
                strbuf_free(&name);
                if (ov) v = ov;
            }
            query[nquery++] = (label_t){sc->params[i].name, v};
        }
    }
    for (size_t i = 0; i < lb.n; i++) {
        if (strncmp(lb.v[i].name, "__param_", 8) != 0) continue;
        const char *pname = lb.v[i].name + 8;
        bool in_config = false;
        for (size_t j = 0; j < sc->nparams; j++)
            if (strcmp(sc->params[j].name, pname) == 0 && sc->params[j].nvalues) in_config = true;
        if (!in_config) query[nquery++] = (label_t){pname, lb.v[i].value};
    }

    t->url = scrape_build_url(lb_get(&lb, "__scheme__"), addr, lb_get(&lb, "__metrics_path__"), query, nquery);
    t->job = strdup(sc->job_name);
    t->address = strdup(addr);
    if (!t->url || !t->job || !t->address) goto oom;
    if (lb_export(&lb, true, &t->labels, &t->nlabels) != 0) goto oom;

    t->opts.interval_ms = interval;
    t->opts.timeout_ms = timeout;
    t->opts.sample_limit = sc->sample_limit;
    t->opts.label_limit = sc->label_limit;
    t->opts.label_name_length_limit = sc->label_name_length_limit;
    t->opts.label_value_length_limit = sc->label_value_length_limit;
    t->opts.body_size_limit = sc->body_size_limit;
    t->opts.honor_labels = sc->honor_labels;
    t->opts.honor_timestamps = sc->honor_timestamps;
    t->opts.track_timestamps_staleness = sc->track_timestamps_staleness;
    t->opts.basic_auth_username = xstrdup_opt(sc->basic_auth_username);
    t->opts.basic_auth_password = xstrdup_opt(sc->basic_auth_password);
    t->opts.basic_auth_username_file = xstrdup_opt(sc->basic_auth_username_file);
    t->opts.basic_auth_password_file = xstrdup_opt(sc->basic_auth_password_file);
    if ((sc->basic_auth_username && !t->opts.basic_auth_username) ||
        (sc->basic_auth_password && !t->opts.basic_auth_password) ||
        (sc->basic_auth_username_file && !t->opts.basic_auth_username_file) ||
        (sc->basic_auth_password_file && !t->opts.basic_auth_password_file))
        goto oom;
    if (sc->nscrape_protocols)
        t->opts.accept_header =
            scrape_accept_header(sc->scrape_protocols, sc->nscrape_protocols, sc->metric_name_escaping_scheme);
    else
        t->opts.accept_header = strdup(SCRAPE_ACCEPT_HEADER);
    if (!t->opts.accept_header) goto oom;
    t->opts.enable_compression = sc->enable_compression;
    t->opts.follow_redirects = sc->follow_redirects;
    t->opts.legacy_names =
        sc->metric_name_validation_scheme && strcmp(sc->metric_name_validation_scheme, "legacy") == 0;
    t->opts.fallback_format = SCRAPE_FALLBACK_NONE;
    if (sc->fallback_scrape_protocol) {
        const char *fp = sc->fallback_scrape_protocol;
        if (strncmp(fp, "PrometheusText", 14) == 0)
            t->opts.fallback_format = TEXTPARSE_PROM;
        else if (strncmp(fp, "OpenMetricsText", 15) == 0)
            t->opts.fallback_format = TEXTPARSE_OPENMETRICS;
        else
            t->opts.fallback_format = SCRAPE_FALLBACK_PROTOBUF;
    }

    /* Identity: what makes a changed target a different one. The interval,
     * timeout, limits and credentials can change in place; the label set
     * and the options that shape stored label sets and timestamps cannot,
     * because the cache maps raw series to refs of the old label sets. */
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, t->job, strlen(t->job) + 1);
    XXH3_64bits_update(&st, t->url, strlen(t->url) + 1);
    for (size_t i = 0; i < t->nlabels; i++) {
        XXH3_64bits_update(&st, t->labels[i].name, strlen(t->labels[i].name) + 1);
        XXH3_64bits_update(&st, t->labels[i].value, strlen(t->labels[i].value) + 1);
    }
    const unsigned char flags[4] = {sc->honor_labels, sc->honor_timestamps, sc->track_timestamps_staleness,
                                    (unsigned char)(sc->nmetric_relabel_configs != 0)};
    XXH3_64bits_update(&st, flags, sizeof flags);
    /* metric_relabel_configs shape the stored label sets too: a change makes
     * a new target (with a fresh cache), as Prometheus restarts the pool. */
    for (size_t i = 0; i < sc->nmetric_relabel_configs; i++) {
        const relabel_config_t *mrc = &sc->metric_relabel_configs[i];
        for (size_t k = 0; k < mrc->nsource_labels; k++)
            XXH3_64bits_update(&st, mrc->source_labels[k], strlen(mrc->source_labels[k]) + 1);
        const char *strs[4] = {mrc->separator, mrc->regex, mrc->target_label, mrc->replacement};
        for (int k = 0; k < 4; k++)
            XXH3_64bits_update(&st, strs[k] ? strs[k] : "\x01", strs[k] ? strlen(strs[k]) + 1 : 1);
        const uint64_t nums[3] = {mrc->modulus, (uint64_t)mrc->action, (uint64_t)mrc->nsource_labels};
        XXH3_64bits_update(&st, nums, sizeof nums);
    }
    t->key = XXH3_64bits_digest(&st);
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, t->url, strlen(t->url));
    XXH3_64bits_update(&st, t->job, strlen(t->job));
    t->offset_hash = XXH3_64bits_digest(&st);

    t->metric_rules = scrape_rules_ref(pb->metric_rules);
    t->last_error = strdup("");
    if (!t->last_error) goto oom;
    free(query);
    lb_free(&lb);
    return t;

oom:
    snprintf(why, whysz, "out of memory");
    goto fail;
dropped:
    why[0] = '\0';
fail:
    free(query);
    lb_free(&lb);
    target_free(t);
    return NULL;
}

static int cmp_target_key(const void *a, const void *b) {
    const scrape_target_t *x = *(scrape_target_t *const *)a, *y = *(scrape_target_t *const *)b;
    return x->key < y->key ? -1 : x->key > y->key ? 1 : 0;
}

/* Adds one target (or dropped target) of a group to the set being built. */
typedef struct set_builder {
    scrape_target_set_t *s;
    size_t cap, cap_dropped;
    scrape_pool_build_t pb;
    scrape_pool_info_t *pool;
    size_t first;       /* the pool's first target in s->targets */
    uint64_t keep_dropped; /* keep_dropped_targets of the pool, 0 = all */
    bool oom;
} set_builder_t;

static void add_group_target(set_builder_t *b, const label_t *glabels, size_t nglabels, const char *address) {
    scrape_target_set_t *s = b->s;
    const scrape_config_t *sc = b->pb.sc;
    b->pool->ndiscovered++;
    char why[PL_ERR_MAX];
    scrape_dropped_t d = {0};
    scrape_target_t *t = target_from_config(&b->pb, glabels, nglabels, address, &d, why, sizeof why);
    if (!t) {
        if (strcmp(why, "out of memory") == 0) {
            b->oom = true;
            return;
        }
        if (why[0]) {
            log_error("scrape", "Creating target failed", "job=%s target=%s err=\"%s\"", sc->job_name, address, why);
            return;
        }
        /* Dropped by relabeling. */
        b->pool->ndropped++;
        if (b->keep_dropped && b->pool->ndropped > b->keep_dropped) {
            labels_free_owned(d.labels, d.nlabels);
            return;
        }
        if (s->ndropped == b->cap_dropped) {
            size_t ncap = b->cap_dropped ? b->cap_dropped * 2 : 16;
            scrape_dropped_t *p = realloc(s->dropped, ncap * sizeof *p);
            if (!p) {
                labels_free_owned(d.labels, d.nlabels);
                b->oom = true;
                return;
            }
            s->dropped = p;
            b->cap_dropped = ncap;
        }
        d.pool = strdup(sc->job_name);
        s->dropped[s->ndropped++] = d;
        if (!d.pool) b->oom = true;
        return;
    }
    /* The same target listed twice is scraped once. */
    for (size_t q = b->first; q < s->ntargets; q++)
        if (s->targets[q]->key == t->key) {
            target_free(t);
            return;
        }
    if (s->ntargets == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        scrape_target_t **p = realloc(s->targets, ncap * sizeof *p);
        if (!p) {
            target_free(t);
            b->oom = true;
            return;
        }
        s->targets = p;
        b->cap = ncap;
    }
    s->targets[s->ntargets++] = t;
}

static int add_sd_group(void *ctx, const sd_group_t *g) {
    set_builder_t *b = ctx;
    for (size_t k = 0; k < g->ntargets && !b->oom; k++)
        add_group_target(b, g->labels, g->nlabels, g->targets[k]);
    return b->oom ? -1 : 0;
}

/* The candidate targets, dropped targets and pools of a config. sds are the
 * file discoveries of its pools, in the order of the scrape configs and
 * their file_sd_configs (nsds of them). */
static int target_set_from_config(const config_t *c, file_sd_t *const *sds, size_t nsds, scrape_target_set_t **out,
                                  pl_err_t *err) {
    scrape_target_set_t *s = calloc(1, sizeof *s);
    if (!s) {
        pl_err_set(err, "out of memory");
        return -1;
    }
    relabel_labels_t rb = RELABEL_LABELS_INIT;
    set_builder_t b = {.s = s, .pb = {.rb = &rb}};
    size_t sdi = 0;
    s->pools = calloc(c->nscrape_configs ? c->nscrape_configs : 1, sizeof *s->pools);
    if (!s->pools) goto oom;
    for (size_t i = 0; i < c->nscrape_configs; i++) {
        const scrape_config_t *sc = &c->scrape_configs[i];
        const int64_t t0 = pl_monotonic_ns();
        scrape_pool_info_t *pool = &s->pools[s->npools++];
        pool->name = strdup(sc->job_name);
        if (!pool->name) goto oom;
        relabel_rules_t *rules = NULL;
        if (sc->nrelabel_configs) {
            /* The config loader validated the rules, so only memory can fail here. */
            rules = relabel_compile(sc->relabel_configs, sc->nrelabel_configs, err);
            if (!rules) {
                log_error("scrape", "Cannot compile relabel_configs; the pool gets no targets", "job=%s err=\"%s\"",
                          sc->job_name, err->msg);
                sdi += sc->nfile_sd_configs;
                continue;
            }
        }
        scrape_rules_t *mrules = NULL;
        if (sc->nmetric_relabel_configs) {
            mrules = calloc(1, sizeof *mrules);
            if (!mrules) {
                relabel_rules_free(rules);
                goto oom;
            }
            atomic_init(&mrules->refs, 1);
            mrules->rules = relabel_compile(sc->metric_relabel_configs, sc->nmetric_relabel_configs, err);
            if (!mrules->rules) {
                log_error("scrape", "Cannot compile metric_relabel_configs; the pool gets no targets",
                          "job=%s err=\"%s\"", sc->job_name, err->msg);
                free(mrules);
                relabel_rules_free(rules);
                sdi += sc->nfile_sd_configs;
                continue;
            }
        }
        b.pb.sc = sc;
        b.pb.rules = rules;
        b.pb.metric_rules = mrules;
        b.pool = pool;
        b.first = s->ntargets;
        b.keep_dropped = sc->keep_dropped_targets;
        for (size_t j = 0; j < sc->nstatic_configs && !b.oom; j++) {
            const static_config_t *stc = &sc->static_configs[j];
            for (size_t k = 0; k < stc->ntargets && !b.oom; k++)
                add_group_target(&b, stc->labels.v, stc->labels.n, stc->targets[k]);
        }
        for (size_t j = 0; j < sc->nfile_sd_configs && !b.oom; j++, sdi++)
            if (sdi < nsds && sds[sdi]) file_sd_foreach(sds[sdi], add_sd_group, &b);
        relabel_rules_free(rules);
        scrape_rules_unref(mrules); /* the targets hold their own references */
        if (b.oom) goto oom;
        pool->ntargets = s->ntargets - b.first;
        if (sc->target_limit && pool->ntargets > sc->target_limit) {
            pool->over_target_limit = true;
            char msg[160];
            snprintf(msg, sizeof msg, "target_limit exceeded (number of targets: %zu, limit: %llu)", pool->ntargets,
                     (unsigned long long)sc->target_limit);
            for (size_t q = b.first; q < s->ntargets; q++) {
                s->targets[q]->opts.forced_error = strdup(msg);
                if (!s->targets[q]->opts.forced_error) goto oom;
            }
        }
        pool->sync_seconds = (double)(pl_monotonic_ns() - t0) / 1e9;
    }
    relabel_labels_free(&rb);
    *out = s;
    return 0;
oom:
    relabel_labels_free(&rb);
    target_set_free(s);
    pl_err_set(err, "out of memory");
    return -1;
}
/* ---- curl ---------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg) {
    scrape_target_t *t = arg;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) return n; /* an error page: the status is the error, the body is not kept */
    /* As Prometheus: reading `limit` bytes means the body is too big. */
    if (t->opts.body_size_limit > 0 && (int64_t)(t->body.len + n) >= t->opts.body_size_limit) {
        t->body_exceeded = true;
        return 0; /* aborts the transfer */
    }
    strbuf_append(&t->body, data, n);
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg) {
    scrape_target_t *t = arg;
    size_t n = size * nmemb;
    /* "HTTP/1.1 404 Not Found\r\n": keep the reason phrase (the last status
     * line wins when redirects are followed). */
    if (n > 5 && memcmp(data, "HTTP/", 5) == 0) {
        size_t i = 5;
        while (i < n && data[i] != ' ')
            i++; /* version */
        while (i < n && data[i] == ' ')
            i++;
        while (i < n && data[i] >= '0' && data[i] <= '9')
            i++; /* code */
        while (i < n && data[i] == ' ')
            i++;
        size_t end = n;
        while (end > i && (data[end - 1] == '\r' || data[end - 1] == '\n' || data[end - 1] == ' '))
            end--;
        size_t len = end - i;
        if (len >= sizeof t->status_line) len = sizeof t->status_line - 1;
        memcpy(t->status_line, data + i, len);
        t->status_line[len] = '\0';
    }
    return n;
}

static int setup_easy(scrape_target_t *t) {
    t->easy = curl_easy_init();
    if (!t->easy) return -1;
    CURL *e = t->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, t->url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)t) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)t) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)t) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_err) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, SCRAPE_USER_AGENT) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L) != CURLE_OK;
    /* Prometheus ignores proxy environment variables unless told otherwise. */
    bad |= curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
#else
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
#endif
    t->opts_dirty = true;
    return bad ? -1 : 0;
}

/* A credential file's content without trailing whitespace (as Prometheus
 * trims it). NULL with err set when it cannot be read. */
static char *read_secret_file(const char *path, char *err, size_t errsz) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "unable to read basic auth file %s: %s", path, strerror(errno));
        return NULL;
    }
    strbuf_t sb = STRBUF_INIT;
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0 && sb.len < (1u << 20))
        strbuf_append(&sb, buf, n);
    fclose(f);
    while (sb.len && (sb.data[sb.len - 1] == '\n' || sb.data[sb.len - 1] == '\r' || sb.data[sb.len - 1] == ' ' ||
                      sb.data[sb.len - 1] == '\t'))
        sb.data[--sb.len] = '\0';
    if (!sb.data) strbuf_puts(&sb, "");
    return strbuf_detach(&sb);
}

/* Options a reload may change (rebuilt when they did), and credentials from
 * files (read at every scrape, so rotated secrets are picked up). Returns -1
 * with err when the scrape cannot be sent. */
static int configure_request(scrape_target_t *t, char *err, size_t errsz) {
    CURL *e = t->easy;
    if (t->opts_dirty) {
        char secs[32], line[96];
        struct curl_slist *h = NULL, *tmp;
        scrape_seconds_string(secs, sizeof secs, t->opts.timeout_ms);
        snprintf(line, sizeof line, "X-Prometheus-Scrape-Timeout-Seconds: %s", secs);
        strbuf_t accept = STRBUF_INIT;
        strbuf_printf(&accept, "Accept: %s", t->opts.accept_header ? t->opts.accept_header : SCRAPE_ACCEPT_HEADER);
        tmp = curl_slist_append(h, accept.data);
        strbuf_free(&accept);
        if (!tmp) goto oom;
        h = tmp;
        if (!(tmp = curl_slist_append(h, line))) goto oom;
        h = tmp;
        if (!t->opts.enable_compression) {
            if (!(tmp = curl_slist_append(h, "Accept-Encoding: identity"))) goto oom;
            h = tmp;
        }
        curl_slist_free_all(t->headers);
        t->headers = h;
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
        /* libcurl asks for gzip and decodes it; body_size_limit counts decoded bytes. */
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, t->opts.enable_compression ? "gzip" : (char *)NULL);
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, t->opts.follow_redirects ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->opts.timeout_ms);
        t->opts_dirty = false;
        goto auth;
    oom:
        curl_slist_free_all(h);
        snprintf(err, errsz, "out of memory");
        return -1;
    }
auth:;
    const scrape_opts_t *o = &t->opts;
    if (o->basic_auth_username || o->basic_auth_password || o->basic_auth_username_file ||
        o->basic_auth_password_file) {
        char *user = NULL, *pass = NULL;
        if (o->basic_auth_username_file && !(user = read_secret_file(o->basic_auth_username_file, err, errsz)))
            return -1;
        if (o->basic_auth_password_file && !(pass = read_secret_file(o->basic_auth_password_file, err, errsz))) {
            free(user);
            return -1;
        }
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, user ? user : o->basic_auth_username ? o->basic_auth_username : "");
        curl_easy_setopt(e, CURLOPT_PASSWORD, pass ? pass : o->basic_auth_password ? o->basic_auth_password : "");
        free(user); /* libcurl keeps its own copies */
        free(pass);
    } else {
        curl_easy_setopt(e, CURLOPT_USERNAME, (char *)NULL);
        curl_easy_setopt(e, CURLOPT_PASSWORD, (char *)NULL);
    }
    return 0;
}

/* ---- the interval summary --------------------------------------------------------------- */

static void observe_interval(scrape_manager_t *m, int64_t interval_ms, double seconds) {
    char label[32];
    scrape_go_duration(label, sizeof label, interval_ms);
    int64_t now = pl_now_ms();
    pthread_mutex_lock(&m->mu);
    scrape_interval_summary_t *s = NULL;
    for (size_t i = 0; i < m->nsummaries && !s; i++)
        if (strcmp(m->summaries[i]->interval, label) == 0) s = m->summaries[i];
    if (!s) {
        scrape_interval_summary_t **p = realloc(m->summaries, (m->nsummaries + 1) * sizeof *p);
        if (p) {
            m->summaries = p;
            s = calloc(1, sizeof *s);
            if (s) {
                snprintf(s->interval, sizeof s->interval, "%s", label);
                m->summaries[m->nsummaries++] = s;
            }
        }
    }
    if (s) pl_summary_observe(&s->s, seconds, now);
    pthread_mutex_unlock(&m->mu);
}

/* ---- the target list --------------------------------------------------------------------- */

static int list_push(scrape_manager_t *m, scrape_target_t *t) {
    if (m->ntargets == m->cap_targets) {
        size_t cap = m->cap_targets ? m->cap_targets * 2 : 16;
        scrape_target_t **p = realloc(m->targets, cap * sizeof *p);
        if (!p) return -1;
        m->targets = p;
        m->cap_targets = cap;
    }
    m->targets[m->ntargets++] = t;
    return 0;
}

/* Removes a target at once (it never stored anything, or the manager is
 * going away). Only on the scrape thread or with no thread running. */
static void target_discard(scrape_manager_t *m, scrape_target_t *t) {
    if (t->in_flight) {
        curl_multi_remove_handle(m->multi, t->easy);
        t->in_flight = false;
    }
    target_free(t);
}

/* Swaps in a new target set. Called with mu held, on the scrape thread or
 * with no thread running. Takes ownership of s's targets (the set itself is
 * left empty for the caller to free). */
static void apply_locked(scrape_manager_t *m, scrape_target_set_t *s) {
    const int64_t now = pl_now_ms();
    size_t nold = m->ntargets;
    scrape_target_t **old = NULL;
    if (nold) {
        old = malloc(nold * sizeof *old);
        if (!old) {
            log_error("scrape", "out of memory applying the config; keeping the old targets", NULL);
            return;
        }
        memcpy(old, m->targets, nold * sizeof *old);
        qsort(old, nold, sizeof *old, cmp_target_key);
    }
    bool *kept = calloc(nold ? nold : 1, sizeof *kept);
    if (!kept) {
        free(old);
        log_error("scrape", "out of memory applying the config; keeping the old targets", NULL);
        return;
    }

    size_t added = 0, updated = 0, removed = 0;
    for (size_t i = 0; i < s->ntargets; i++) {
        scrape_target_t *c = s->targets[i];
        scrape_target_t key = {.key = c->key}, *keyp = &key;
        scrape_target_t **hit = nold ? bsearch(&keyp, old, nold, sizeof *old, cmp_target_key) : NULL;
        if (hit) {
            scrape_target_t *t = *hit;
            kept[hit - old] = true;
            if (t->opts.interval_ms != c->opts.interval_ms)
                t->next_due_ms = now + scrape_first_due(now, c->opts.interval_ms, t->offset_hash);
            opts_free(&t->opts);
            t->opts = c->opts;
            memset(&c->opts, 0, sizeof c->opts);
            t->opts_dirty = true;
            t->retiring = false; /* back before its stale markers were written */
            updated++;
            continue;
        }
        if (setup_easy(c) != 0) {
            log_error("scrape", "cannot create an HTTP handle for the target", "target=%s", c->url);
            continue;
        }
        c->next_due_ms = now + scrape_first_due(now, c->opts.interval_ms, c->offset_hash);
        if (list_push(m, c) != 0) {
            log_error("scrape", "out of memory adding a target", "target=%s", c->url);
            continue;
        }
        s->targets[i] = NULL; /* adopted */
        added++;
    }

    /* Targets gone from the config. */
    for (size_t i = 0; i < nold; i++) {
        scrape_target_t *t = old[i];
        if (kept[i] || t->retiring) continue;
        removed++;
        if (!t->ever_scraped && !t->in_flight) {
            t->retiring = true;
            t->retire_at_ms = INT64_MIN; /* nothing to mark stale: goes at once */
            continue;
        }
        /* Prometheus waits for when the next scrape would have been (the
         * markers' timestamp), one more interval, and 10% more, so that a
         * target that is only moving (to another job, say) has its new
         * samples in first and the markers are dropped as out of order. */
        t->retiring = true;
        t->stale_ts_ms = t->next_due_ms > now ? t->next_due_ms : now;
        t->retire_at_ms = t->stale_ts_ms + t->opts.interval_ms + t->opts.interval_ms / 10;
    }
    /* Retired targets that never stored anything leave the list now. */
    size_t w = 0;
    for (size_t i = 0; i < m->ntargets; i++) {
        scrape_target_t *t = m->targets[i];
        if (t->retiring && t->retire_at_ms == INT64_MIN)
            target_discard(m, t);
        else
            m->targets[w++] = t;
    }
    m->ntargets = w;

    for (size_t i = 0; i < s->npools; i++) {
        bool known = false;
        for (size_t j = 0; j < m->npools && !known; j++) {
            known = strcmp(m->pools[j].name, s->pools[i].name) == 0;
            if (known) {
                s->pools[i].sync_sum += m->pools[j].sync_sum;
                s->pools[i].sync_count += m->pools[j].sync_count;
            }
        }
        s->pools[i].sync_sum += s->pools[i].sync_seconds;
        s->pools[i].sync_count++;
        if (!known) m->counters.pools_total++;
        else if (s->adopt_discovery)
            m->counters.pool_reloads++;
        /* Prometheus counts each sync that finds a pool over its target_limit. */
        if (s->pools[i].over_target_limit) m->counters.exceeded_target_limit++;
    }
    for (size_t j = 0; j < m->npools; j++)
        free(m->pools[j].name);
    free(m->pools);
    m->pools = s->pools;
    m->npools = s->npools;
    s->pools = NULL;
    s->npools = 0;
    dropped_free(m->dropped, m->ndropped);
    m->dropped = s->dropped;
    m->ndropped = s->ndropped;
    s->dropped = NULL;
    s->ndropped = 0;
    if (s->adopt_discovery) {
        config_free(m->cfg);
        for (size_t i = 0; i < m->nsds; i++)
            file_sd_free(m->sds[i]);
        free(m->sds);
        m->cfg = s->cfg;
        m->sds = s->sds;
        m->nsds = s->nsds;
        s->cfg = NULL;
        s->sds = NULL;
        s->nsds = 0;
        m->sd_next_poll_ms = now + SCRAPE_SD_POLL_MS;
    }
    free(old);
    free(kept);
    log_debug("scrape", "Applied scrape config", "targets=%zu added=%zu updated=%zu removed=%zu", m->ntargets, added,
              updated, removed);
}

/* ---- one scrape -------------------------------------------------------------------------------- */

static void start_scrape(scrape_manager_t *m, scrape_target_t *t, int64_t now) {
    const int64_t interval = t->opts.interval_ms;
    const int64_t scheduled = t->next_due_ms;
    while (t->next_due_ms <= now)
        t->next_due_ms += interval;

    int64_t tolerance = interval / 100;
    if (tolerance > 2) tolerance = 2;
    t->scrape_ts_ms = (now >= scheduled && now - scheduled <= tolerance) ? scheduled : now;
    const int64_t ns = pl_monotonic_ns();
    if (t->last_start_ns) observe_interval(m, interval, (double)(ns - t->last_start_ns) / 1e9);
    t->last_start_ns = ns;
    t->start_ns = ns;

    if (t->opts.forced_error) {
        scrape_process(m, t, t->opts.forced_error, NULL, 0, NULL);
        return;
    }
    char err[PL_ERR_MAX], why[PL_ERR_MAX / 2];
    if (configure_request(t, why, sizeof why) != 0) {
        snprintf(err, sizeof err, "Get \"%s\": %s", t->url, why);
        scrape_process(m, t, err, NULL, 0, NULL);
        return;
    }
    strbuf_reset(&t->body);
    if (t->body_hint > t->body.cap) strbuf_reserve(&t->body, t->body_hint + t->body_hint / 8);
    t->body_exceeded = false;
    t->status_line[0] = '\0';
    t->curl_err[0] = '\0';
    CURLMcode mc = curl_multi_add_handle(m->multi, t->easy);
    if (mc != CURLM_OK) {
        snprintf(err, sizeof err, "Get \"%s\": %s", t->url, curl_multi_strerror(mc));
        scrape_process(m, t, err, NULL, 0, NULL);
        return;
    }
    t->in_flight = true;
}

static void finish_scrape(scrape_manager_t *m, scrape_target_t *t, CURLcode rc) {
    curl_multi_remove_handle(m->multi, t->easy);
    t->in_flight = false;
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    char err[PL_ERR_MAX];
    const char *fail = NULL;
    if (t->body_exceeded) {
        fail = "body size limit exceeded";
        pthread_mutex_lock(&m->mu);
        m->counters.exceeded_body_size_limit++;
        pthread_mutex_unlock(&m->mu);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        /* Worded as Prometheus (Go's http client) reports a scrape timeout. */
        snprintf(err, sizeof err, "Get \"%s\": context deadline exceeded", t->url);
        fail = err;
    } else if (rc != CURLE_OK) {
        snprintf(err, sizeof err, "Get \"%s\": %s", t->url, t->curl_err[0] ? t->curl_err : curl_easy_strerror(rc));
        fail = err;
    } else if (code != 200) {
        const char *reason = t->status_line[0] ? t->status_line : http_reason(code);
        snprintf(err, sizeof err, "server returned HTTP status %ld%s%s", code, reason[0] ? " " : "", reason);
        fail = err;
    }
    char *content_type = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &content_type);
    scrape_process(m, t, fail, t->body.data ? t->body.data : "", t->body.len, content_type);
    /* A large body is not kept between scrapes: with many big targets the
     * idle buffers would outweigh the head. Its size is remembered so the next
     * scrape reserves it in one allocation (mmap'd, pages touched as written). */
    t->body_hint = t->body.len;
    if (t->body.cap > (1u << 20))
        strbuf_free(&t->body);
    else
        strbuf_reset(&t->body);
}

/* ---- the thread ------------------------------------------------------------------------------------ */

/* File discovery: about once a second, looks for changed target files and,
 * when some changed, rebuilds the targets from the applied config. Scrape
 * thread only. */
static void poll_discovery(scrape_manager_t *m, int64_t now) {
    if (!m->nsds || !m->cfg || now < m->sd_next_poll_ms) return;
    m->sd_next_poll_ms = now + SCRAPE_SD_POLL_MS;
    bool changed = false;
    for (size_t i = 0; i < m->nsds; i++)
        changed |= file_sd_refresh(m->sds[i], now, false);
    if (!changed) return;
    scrape_target_set_t *s = NULL;
    pl_err_t err = {{0}};
    if (target_set_from_config(m->cfg, m->sds, m->nsds, &s, &err) != 0) {
        log_error("scrape", "Cannot rebuild targets after a target file changed", "err=\"%s\"", err.msg);
        return;
    }
    pthread_mutex_lock(&m->mu);
    apply_locked(m, s);
    pthread_mutex_unlock(&m->mu);
    target_set_free(s);
}

static void *scrape_thread_main(void *arg) {
    scrape_manager_t *m = arg;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        if (m->pending) {
            apply_locked(m, m->pending);
            target_set_free(m->pending);
            m->pending = NULL;
            m->applied_gen = m->pending_gen;
            pthread_cond_broadcast(&m->cond);
        }
        bool stop = m->stopping;
        pthread_mutex_unlock(&m->mu);
        if (stop) break;

        poll_discovery(m, pl_now_ms());
        int64_t now = pl_now_ms();
        int64_t wait = 1000;
        bool any_gone = false;
        /* Only this thread changes the list, so it reads it without the lock. */
        for (size_t i = 0; i < m->ntargets; i++) {
            scrape_target_t *t = m->targets[i];
            if (t->in_flight) continue;
            if (t->retiring) {
                if (now >= t->retire_at_ms) {
                    scrape_end_of_run_staleness(m, t, t->stale_ts_ms);
                    t->retire_at_ms = INT64_MIN;
                    any_gone = true;
                } else if (t->retire_at_ms - now < wait) {
                    wait = t->retire_at_ms - now;
                }
                continue;
            }
            /* The wall clock went back: find the phase again. */
            if (t->next_due_ms - now > t->opts.interval_ms)
                t->next_due_ms = now + scrape_first_due(now, t->opts.interval_ms, t->offset_hash);
            if (now >= t->next_due_ms) {
                start_scrape(m, t, now);
                now = pl_now_ms();
            }
            if (!t->in_flight && t->next_due_ms - now < wait) wait = t->next_due_ms - now;
        }
        if (any_gone) {
            size_t w = 0;
            scrape_target_t **gone = malloc(m->ntargets * sizeof *gone);
            size_t ngone = 0;
            pthread_mutex_lock(&m->mu);
            for (size_t i = 0; i < m->ntargets; i++) {
                scrape_target_t *t = m->targets[i];
                if (t->retiring && t->retire_at_ms == INT64_MIN && gone)
                    gone[ngone++] = t;
                else
                    m->targets[w++] = t;
            }
            m->ntargets = w;
            pthread_mutex_unlock(&m->mu);
            for (size_t i = 0; i < ngone; i++)
                target_free(gone[i]);
            free(gone);
        }
        if (wait < 0) wait = 0;

        curl_multi_poll(m->multi, NULL, 0, (int)wait, NULL);
        int running = 0;
        curl_multi_perform(m->multi, &running);
        CURLMsg *msg;
        int left = 0;
        while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *easy = msg->easy_handle;
            CURLcode rc = msg->data.result;
            scrape_target_t *t = NULL;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
            if (t) finish_scrape(m, t, rc);
        }
    }
    /* Stopping: abandon transfers in flight; nothing is marked stale. */
    for (size_t i = 0; i < m->ntargets; i++) {
        scrape_target_t *t = m->targets[i];
        if (t->in_flight) {
            curl_multi_remove_handle(m->multi, t->easy);
            t->in_flight = false;
        }
    }
    return NULL;
}

/* ---- public API ------------------------------------------------------------------------------------------ */

scrape_manager_t *scrape_manager_new(const appendable_t *storage) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
    scrape_manager_t *m = calloc(1, sizeof *m);
    if (!m) {
        curl_global_cleanup();
        return NULL;
    }
    m->storage = *storage;
    if (m->storage.appender(m->storage.impl, &m->tx) != 0) {
        free(m);
        curl_global_cleanup();
        return NULL;
    }
    m->multi = curl_multi_init();
    if (!m->multi) {
        m->tx.free(m->tx.impl);
        free(m);
        curl_global_cleanup();
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cond, NULL);
    return m;
}

/* The file discoveries of c's pools, in scrape config order, each read once. */
static int sds_from_config(const config_t *c, file_sd_t ***out, size_t *nout, pl_err_t *err) {
    size_t n = 0;
    for (size_t i = 0; i < c->nscrape_configs; i++)
        n += c->scrape_configs[i].nfile_sd_configs;
    *out = NULL;
    *nout = 0;
    if (!n) return 0;
    file_sd_t **v = calloc(n, sizeof *v);
    if (!v) return pl_err_set(err, "out of memory");
    const int64_t now = pl_now_ms();
    size_t k = 0;
    for (size_t i = 0; i < c->nscrape_configs; i++)
        for (size_t j = 0; j < c->scrape_configs[i].nfile_sd_configs; j++) {
            v[k] = file_sd_new(&c->scrape_configs[i].file_sd_configs[j]);
            if (!v[k]) {
                for (size_t q = 0; q < k; q++)
                    file_sd_free(v[q]);
                free(v);
                return pl_err_set(err, "out of memory");
            }
            file_sd_refresh(v[k], now, true);
            k++;
        }
    *out = v;
    *nout = n;
    return 0;
}

int scrape_manager_apply_config(scrape_manager_t *m, const config_t *c, pl_err_t *err) {
    scrape_target_set_t *s = NULL;
    /* The manager keeps its own copy of the config (for rebuilding targets
     * when a target file changes): the same bytes parsed again. */
    config_t *own = NULL;
    if (c->source && config_load_string(c->source, strlen(c->source), c->filename ? c->filename : "", &own, err) != 0)
        return -1;
    file_sd_t **sds = NULL;
    size_t nsds = 0;
    if (sds_from_config(own ? own : c, &sds, &nsds, err) != 0) {
        config_free(own);
        return -1;
    }
    if (target_set_from_config(c, sds, nsds, &s, err) != 0) {
        config_free(own);
        for (size_t i = 0; i < nsds; i++)
            file_sd_free(sds[i]);
        free(sds);
        return -1;
    }
    s->cfg = own;
    s->sds = sds;
    s->nsds = nsds;
    s->adopt_discovery = true;
    pthread_mutex_lock(&m->mu);
    if (!m->running) {
        apply_locked(m, s);
        pthread_mutex_unlock(&m->mu);
        target_set_free(s);
        return 0;
    }
    target_set_free(m->pending); /* a newer config replaces one not yet applied */
    m->pending = s;
    uint64_t gen = ++m->pending_gen;
    curl_multi_wakeup(m->multi);
    while (m->applied_gen < gen && m->running)
        pthread_cond_wait(&m->cond, &m->mu);
    if (m->applied_gen < gen && m->pending) {
        /* The thread stopped before taking it. */
        apply_locked(m, m->pending);
        target_set_free(m->pending);
        m->pending = NULL;
        m->applied_gen = m->pending_gen;
    }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int scrape_manager_start(scrape_manager_t *m, pl_err_t *err) {
    pthread_mutex_lock(&m->mu);
    if (m->running) {
        pthread_mutex_unlock(&m->mu);
        return 0;
    }
    m->stopping = false;
    int rc = pthread_create(&m->thread, NULL, scrape_thread_main, m);
    if (rc != 0) {
        pthread_mutex_unlock(&m->mu);
        return pl_err_set(err, "cannot start the scrape thread: %s", strerror(rc));
    }
    m->running = true;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

void scrape_manager_stop(scrape_manager_t *m) {
    pthread_mutex_lock(&m->mu);
    if (!m->running) {
        pthread_mutex_unlock(&m->mu);
        return;
    }
    m->stopping = true;
    curl_multi_wakeup(m->multi);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_mutex_lock(&m->mu);
    m->running = false;
    m->stopping = false;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
}

void scrape_manager_free(scrape_manager_t *m) {
    if (!m) return;
    scrape_manager_stop(m);
    for (size_t i = 0; i < m->ntargets; i++)
        target_discard(m, m->targets[i]);
    free(m->targets);
    target_set_free(m->pending);
    dropped_free(m->dropped, m->ndropped);
    config_free(m->cfg);
    for (size_t i = 0; i < m->nsds; i++)
        file_sd_free(m->sds[i]);
    free(m->sds);
    for (size_t i = 0; i < m->npools; i++)
        free(m->pools[i].name);
    free(m->pools);
    for (size_t i = 0; i < m->nsummaries; i++)
        free(m->summaries[i]);
    free(m->summaries);
    scrape_batch_free(&m->batch);
    m->tx.free(m->tx.impl);
    curl_multi_cleanup(m->multi);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->mu);
    free(m);
    curl_global_cleanup();
}

/* ---- snapshots -------------------------------------------------------------------------------------------- */

static label_t *labels_dup(const label_t *ls, size_t n) {
    label_t *v = calloc(n ? n : 1, sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) {
        v[i].name = strdup(ls[i].name);
        v[i].value = strdup(ls[i].value);
        if (!v[i].name || !v[i].value) {
            labels_free_owned(v, i + 1);
            return NULL;
        }
    }
    return v;
}

static int cmp_info(const void *a, const void *b) {
    const target_info_t *x = a, *y = b;
    int c = strcmp(x->scrape_pool, y->scrape_pool);
    return c ? c : strcmp(x->scrape_url, y->scrape_url);
}

static void info_free(target_info_t *ti) {
    free(ti->scrape_pool);
    free(ti->scrape_url);
    free(ti->health);
    free(ti->last_error);
    if (ti->labels) labels_free_owned(ti->labels, ti->nlabels);
    if (ti->discovered_labels) labels_free_owned(ti->discovered_labels, ti->ndiscovered);
}

size_t scrape_manager_targets(scrape_manager_t *m, target_info_t **out) {
    static const char *const health[] = {"unknown", "up", "down"};
    *out = NULL;
    pthread_mutex_lock(&m->mu);
    size_t n = 0;
    for (size_t i = 0; i < m->ntargets; i++)
        if (!m->targets[i]->retiring) n++;
    target_info_t *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        pthread_mutex_unlock(&m->mu);
        return 0;
    }
    size_t k = 0;
    bool oom = false;
    for (size_t i = 0; i < m->ntargets && !oom; i++) {
        const scrape_target_t *t = m->targets[i];
        if (t->retiring) continue;
        target_info_t *ti = &v[k++];
        ti->scrape_pool = strdup(t->job);
        ti->scrape_url = strdup(t->url);
        ti->health = strdup(health[t->health]);
        ti->last_error = strdup(t->last_error ? t->last_error : "");
        ti->last_scrape_ms = t->last_scrape_ms;
        ti->last_scrape_duration_s = t->last_duration_s;
        ti->last_samples = t->last_samples;
        ti->interval_ms = t->opts.interval_ms;
        ti->timeout_ms = t->opts.timeout_ms;
        ti->labels = labels_dup(t->labels, t->nlabels);
        ti->nlabels = ti->labels ? t->nlabels : 0;
        ti->discovered_labels = labels_dup(t->discovered, t->ndiscovered);
        ti->ndiscovered = ti->discovered_labels ? t->ndiscovered : 0;
        oom = !ti->scrape_pool || !ti->scrape_url || !ti->health || !ti->last_error || !ti->labels ||
              !ti->discovered_labels;
    }
    pthread_mutex_unlock(&m->mu);
    if (oom) {
        scrape_targets_free(v, k);
        return 0;
    }
    qsort(v, k, sizeof *v, cmp_info);
    *out = v;
    return k;
}

void scrape_targets_free(target_info_t *ts, size_t n) {
    if (!ts) return;
    for (size_t i = 0; i < n; i++)
        info_free(&ts[i]);
    free(ts);
}

/* ---- self metrics ------------------------------------------------------------------------------------------- */

static void write_counter(strbuf_t *sb, const char *name, const char *help, uint64_t v) {
    textparse_write_help(sb, name, help);
    textparse_write_type(sb, name, METRIC_TYPE_COUNTER);
    textparse_write_sample(sb, name, NULL, 0, (double)v, false, 0);
}

static int cmp_summary(const void *a, const void *b) {
    const scrape_interval_summary_t *x = *(scrape_interval_summary_t *const *)a;
    const scrape_interval_summary_t *y = *(scrape_interval_summary_t *const *)b;
    return strcmp(x->interval, y->interval);
}

static int cmp_pool(const void *a, const void *b) {
    return strcmp(((const scrape_pool_info_t *)a)->name, ((const scrape_pool_info_t *)b)->name);
}

void scrape_manager_write_metrics(scrape_manager_t *m, strbuf_t *sb) {
    static const double quantiles[] = {0.01, 0.05, 0.5, 0.9, 0.99};
    static const char *const qlabels[] = {"0.01", "0.05", "0.5", "0.9", "0.99"};
    const int64_t now = pl_now_ms();

    pthread_mutex_lock(&m->mu);
    scrape_counters_t cn = m->counters;
    size_t npools = m->npools;
    scrape_pool_info_t *pools = calloc(npools ? npools : 1, sizeof *pools);
    size_t *active = calloc(npools ? npools : 1, sizeof *active);
    size_t *meta = calloc(npools ? npools : 1, sizeof *meta);
    if (pools && active && meta) {
        if (npools) memcpy(pools, m->pools, npools * sizeof *pools);
        for (size_t i = 0; i < m->ntargets; i++) {
            const scrape_target_t *t = m->targets[i];
            if (t->retiring) continue;
            for (size_t j = 0; j < npools; j++)
                if (strcmp(pools[j].name, t->job) == 0) {
                    active[j]++;
                    meta[j] += t->meta.n;
                    break;
                }
        }
        /* Names are copied because the pool list may be replaced once the lock is dropped. */
        for (size_t j = 0; j < npools; j++)
            pools[j].name = strdup(pools[j].name ? pools[j].name : "");
    } else {
        npools = 0;
    }
    size_t nsum = m->nsummaries;
    scrape_interval_summary_t **sums = calloc(nsum ? nsum : 1, sizeof *sums);
    if (sums) {
        for (size_t i = 0; i < nsum; i++) {
            sums[i] = malloc(sizeof **sums);
            if (sums[i])
                memcpy(sums[i], m->summaries[i], sizeof **sums);
            else {
                nsum = i;
                break;
            }
        }
    } else {
        nsum = 0;
    }
    pthread_mutex_unlock(&m->mu);

    /* Pair active counts with sorted pools. */
    typedef struct {
        scrape_pool_info_t p;
        size_t active, meta;
    } pool_row_t;
    pool_row_t *rows = calloc(npools ? npools : 1, sizeof *rows);
    if (!rows) npools = 0;
    for (size_t i = 0; i < npools; i++)
        rows[i] = (pool_row_t){pools[i], active[i], meta[i]};
    for (size_t i = 1; i < npools; i++) { /* few pools: insertion sort by name */
        pool_row_t x = rows[i];
        size_t j = i;
        while (j > 0 && cmp_pool(&rows[j - 1].p, &x.p) > 0) {
            rows[j] = rows[j - 1];
            j--;
        }
        rows[j] = x;
    }

    const char *name = "prometheus_sd_discovered_targets";
    textparse_write_help(sb, name, "Current number of discovered targets.");
    textparse_write_type(sb, name, METRIC_TYPE_GAUGE);
    for (size_t i = 0; i < npools; i++) {
        label_t ls[2] = {{"config", rows[i].p.name ? rows[i].p.name : ""}, {"name", "scrape"}};
        textparse_write_sample(sb, name, ls, 2, (double)rows[i].p.ndiscovered, false, 0);
    }

    name = "prometheus_target_interval_length_seconds";
    if (nsum) qsort(sums, nsum, sizeof *sums, cmp_summary);
    textparse_write_help(sb, name, "Actual intervals between scrapes.");
    textparse_write_type(sb, name, METRIC_TYPE_SUMMARY);
    for (size_t i = 0; i < nsum; i++) {
        const scrape_interval_summary_t *s = sums[i];
        double qv[5];
        pl_summary_quantiles(&s->s, now, PL_SUMMARY_MAX_AGE_MS, quantiles, 5, qv);
        for (size_t q = 0; q < 5; q++) {
            label_t ls[2] = {{"interval", s->interval}, {"quantile", qlabels[q]}};
            textparse_write_sample(sb, name, ls, 2, qv[q], false, 0);
        }
        label_t il[1] = {{"interval", s->interval}};
        textparse_write_sample(sb, "prometheus_target_interval_length_seconds_sum", il, 1, s->s.sum, false, 0);
        textparse_write_sample(sb, "prometheus_target_interval_length_seconds_count", il, 1, (double)s->s.count, false,
                               0);
    }

    write_counter(sb, "prometheus_target_scrape_pool_exceeded_label_limits_total",
                  "Total number of times scrape pools hit the label limits.", cn.exceeded_label_limits);
    write_counter(sb, "prometheus_target_scrape_pool_exceeded_target_limit_total",
                  "Total number of times scrape pools hit the target limit.", cn.exceeded_target_limit);

    name = "prometheus_target_scrape_pool_targets";
    textparse_write_help(sb, name, "Current number of targets in this scrape pool.");
    textparse_write_type(sb, name, METRIC_TYPE_GAUGE);
    for (size_t i = 0; i < npools; i++) {
        label_t ls[1] = {{"scrape_job", rows[i].p.name ? rows[i].p.name : ""}};
        textparse_write_sample(sb, name, ls, 1, (double)rows[i].active, false, 0);
    }

    name = "prometheus_target_scrape_pool_sync_total";
    textparse_write_help(sb, name, "Total number of syncs that were executed on a scrape pool.");
    textparse_write_type(sb, name, METRIC_TYPE_COUNTER);
    for (size_t i = 0; i < npools; i++) {
        label_t ls[1] = {{"scrape_job", rows[i].p.name ? rows[i].p.name : ""}};
        textparse_write_sample(sb, name, ls, 1, (double)rows[i].p.sync_count, false, 0);
    }
    /* Prometheus's is a summary with quantiles; promlab keeps sum and count. */
    name = "prometheus_target_sync_length_seconds";
    textparse_write_help(sb, name, "Actual interval to sync the scrape pool.");
    textparse_write_type(sb, name, METRIC_TYPE_SUMMARY);
    for (size_t i = 0; i < npools; i++) {
        label_t ls[1] = {{"scrape_job", rows[i].p.name ? rows[i].p.name : ""}};
        textparse_write_sample(sb, "prometheus_target_sync_length_seconds_sum", ls, 1, rows[i].p.sync_sum, false, 0);
        textparse_write_sample(sb, "prometheus_target_sync_length_seconds_count", ls, 1, (double)rows[i].p.sync_count,
                               false, 0);
    }
    write_counter(sb, "prometheus_sd_file_read_errors_total", "The number of File-SD read errors.",
                  file_sd_read_errors_total());
    name = "prometheus_target_metadata_cache_entries";
    textparse_write_help(sb, name, "Total number of metric metadata entries in the cache");
    textparse_write_type(sb, name, METRIC_TYPE_GAUGE);
    for (size_t i = 0; i < npools; i++) {
        label_t ls[1] = {{"scrape_job", rows[i].p.name ? rows[i].p.name : ""}};
        textparse_write_sample(sb, name, ls, 1, (double)rows[i].meta, false, 0);
    }

    write_counter(sb, "prometheus_target_scrape_pools_failed_total",
                  "Total number of scrape pool creations that failed.", 0);
    write_counter(sb, "prometheus_target_scrape_pools_total", "Total number of scrape pool creation attempts.",
                  cn.pools_total);
    write_counter(sb, "prometheus_target_scrape_pool_reloads_failed_total", "Total number of failed scrape pool reloads.",
                  0);
    write_counter(sb, "prometheus_target_scrape_pool_reloads_total", "Total number of scrape pool reloads.",
                  cn.pool_reloads);
    write_counter(sb, "prometheus_target_scrapes_exceeded_body_size_limit_total",
                  "Total number of scrapes that hit the body size limit.", cn.exceeded_body_size_limit);
    write_counter(sb, "prometheus_target_scrapes_exceeded_sample_limit_total",
                  "Total number of scrapes that hit the sample limit.", cn.exceeded_sample_limit);
    write_counter(sb, "prometheus_target_scrapes_sample_duplicate_timestamp_total",
                  "Total number of samples rejected due to duplicate timestamps but different values.",
                  cn.sample_duplicate);
    write_counter(sb, "prometheus_target_scrapes_sample_out_of_bounds_total",
                  "Total number of samples rejected due to timestamp falling outside of the time bounds.",
                  cn.sample_out_of_bounds);
    write_counter(sb, "prometheus_target_scrapes_sample_out_of_order_total",
                  "Total number of samples rejected due to not being out of the expected order.",
                  cn.sample_out_of_order);

    for (size_t i = 0; i < npools; i++)
        free(rows[i].p.name);
    free(rows);
    free(pools);
    free(active);
    free(meta);
    for (size_t i = 0; i < nsum; i++)
        free(sums[i]);
    free(sums);
}

/* ---- dropped targets and metadata --------------------------------------------------------------------------- */

size_t scrape_manager_dropped(scrape_manager_t *m, dropped_target_info_t **out, scrape_pool_count_t **pools,
                              size_t *npools) {
    *out = NULL;
    *pools = NULL;
    *npools = 0;
    pthread_mutex_lock(&m->mu);
    size_t n = m->ndropped, np = m->npools;
    dropped_target_info_t *v = calloc(n ? n : 1, sizeof *v);
    scrape_pool_count_t *pv = calloc(np ? np : 1, sizeof *pv);
    bool oom = !v || !pv;
    size_t k = 0, kp = 0;
    for (; !oom && k < n; k++) {
        v[k].scrape_pool = strdup(m->dropped[k].pool);
        v[k].discovered_labels = labels_dup(m->dropped[k].labels, m->dropped[k].nlabels);
        v[k].ndiscovered = m->dropped[k].nlabels;
        oom = !v[k].scrape_pool || !v[k].discovered_labels;
    }
    for (; !oom && kp < np; kp++) {
        pv[kp].scrape_pool = strdup(m->pools[kp].name);
        pv[kp].ndropped = m->pools[kp].ndropped;
        oom = !pv[kp].scrape_pool;
    }
    pthread_mutex_unlock(&m->mu);
    if (oom) {
        scrape_dropped_free(v, k, pv, kp);
        return 0;
    }
    *out = v;
    *pools = pv;
    *npools = np;
    return n;
}

void scrape_dropped_free(dropped_target_info_t *d, size_t n, scrape_pool_count_t *pools, size_t npools) {
    for (size_t i = 0; d && i < n; i++) {
        free(d[i].scrape_pool);
        if (d[i].discovered_labels) labels_free_owned(d[i].discovered_labels, d[i].ndiscovered);
    }
    free(d);
    for (size_t i = 0; pools && i < npools; i++)
        free(pools[i].scrape_pool);
    free(pools);
}

static int cmp_meta_row(const void *a, const void *b) {
    const target_metadata_t *x = a, *y = b;
    int c = strcmp(x->scrape_pool, y->scrape_pool);
    if (!c) c = strcmp(x->scrape_url, y->scrape_url);
    return c ? c : strcmp(x->metric, y->metric);
}

size_t scrape_manager_metadata(scrape_manager_t *m, const char *metric, target_metadata_t **out) {
    *out = NULL;
    const bool all = !metric || !metric[0];
    pthread_mutex_lock(&m->mu);
    size_t n = 0;
    for (size_t i = 0; i < m->ntargets; i++) {
        const scrape_target_t *t = m->targets[i];
        if (t->retiring) continue;
        n += all ? t->meta.n : scrape_meta_get(&t->meta, metric) != NULL;
    }
    target_metadata_t *v = calloc(n ? n : 1, sizeof *v);
    size_t k = 0;
    bool oom = !v;
    for (size_t i = 0; i < m->ntargets && !oom; i++) {
        const scrape_target_t *t = m->targets[i];
        if (t->retiring) continue;
        for (size_t j = 0; j < t->meta.n && !oom; j++) {
            const scrape_meta_entry_t *e = &t->meta.v[j];
            if (!all && strcmp(e->name, metric) != 0) continue;
            target_metadata_t *r = &v[k++];
            r->scrape_pool = strdup(t->job);
            r->scrape_url = strdup(t->url);
            r->target = labels_dup(t->labels, t->nlabels);
            r->ntarget = t->nlabels;
            r->metric = strdup(e->name);
            r->type = strdup(scrape_meta_type_str(e->type));
            r->help = strdup(e->help ? e->help : "");
            r->unit = strdup(e->unit ? e->unit : "");
            oom = !r->scrape_pool || !r->scrape_url || !r->target || !r->metric || !r->type || !r->help || !r->unit;
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (oom) {
        scrape_metadata_free(v, k);
        return 0;
    }
    qsort(v, k, sizeof *v, cmp_meta_row);
    *out = v;
    return k;
}

void scrape_metadata_free(target_metadata_t *rows, size_t n) {
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].scrape_pool);
        free(rows[i].scrape_url);
        if (rows[i].target) labels_free_owned(rows[i].target, rows[i].ntarget);
        free(rows[i].metric);
        free(rows[i].type);
        free(rows[i].help);
        free(rows[i].unit);
    }
    free(rows);
}

void scrape_manager_memory(scrape_manager_t *m, scrape_memory_t *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ntargets; i++) {
        const scrape_target_t *t = m->targets[i];
        out->targets++;
        out->cache_bytes += t->mem_cache;
        out->cache_entries += t->mem_cache_entries;
        out->body_bytes += t->mem_body;
        out->metadata_entries += t->meta.n;
        out->metadata_bytes += t->meta.cap * sizeof *t->meta.v + t->meta.cap_index * sizeof *t->meta.index;
        for (size_t j = 0; j < t->meta.n; j++)
            out->metadata_bytes += strlen(t->meta.v[j].name) + strlen(t->meta.v[j].help) +
                                   strlen(t->meta.v[j].unit) + 3;
    }
    out->batch_bytes = m->mem_batch;
    pthread_mutex_unlock(&m->mu);
}
