/* notifier.c — sending alerts to Alertmanager, as Prometheus's notifier.Manager.
 *
 * notifier_send (called from rule evaluation) stamps the external labels on
 * each alert (a label the alert already has wins), applies the global
 * alert_relabel_configs (an alert relabeled away is dropped) and queues the
 * result; when the queue is over capacity the oldest alerts are dropped and
 * counted. One sender thread takes up to 64 alerts at a time (Prometheus's
 * maxBatchSize) and POSTs them as API v2 JSON to every Alertmanager, each
 * with its own alert_relabel_configs, counting sent alerts, failed ones and
 * the latency per Alertmanager URL.
 *
 * Alertmanagers come from static_configs and file_sd_configs: each target
 * becomes __address__, with __scheme__, __alerts_path__ (path_prefix +
 * /api/v2/alerts) and its group's labels, then the entry's relabel_configs
 * decide and may rewrite them. The sender thread re-reads the file_sd files
 * about once a second (changed files; all every refresh_interval) and
 * rebuilds the list when the targets changed.
 *
 * Locking: `mu` guards the queue and the counters; `ams_lock` (a rwlock)
 * guards the Alertmanager list: the sender reads it for a whole batch,
 * apply_config swaps it. */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relabel/relabel.h"
#include "rules/internal.h"
#include "scrape/file_sd.h"
#include "util/log.h"
#include "util/timeutil.h"

#define MAX_BATCH 64
#define PROMLAB_COMPAT_UA "3.0.0" /* as web.h says PROMLAB_PROMETHEUS_COMPAT; rules does not include web */

/* One alerting.alertmanagers entry, compiled: where its targets come from
 * (static_configs, copied; file_sd_configs, re-read by the sender thread)
 * and what every Alertmanager found through it shares. */
typedef struct am_source {
    relabel_rules_t *disc;          /* relabel_configs */
    relabel_rules_t *alert_relabel; /* alert_relabel_configs; NULL when none */
    char *scheme, *path;            /* __scheme__, __alerts_path__ */
    int64_t timeout_ms;
    char *basic_user, *basic_pass; /* NULL when none */
    sd_groups_t statics;
    file_sd_t **sds;
    size_t nsds;
} am_source_t;

/* An Alertmanager to send to; everything but url is borrowed from its source. */
typedef struct am {
    char *url;
    int64_t timeout_ms;
    const relabel_rules_t *alert_relabel;
    const char *basic_user, *basic_pass;
} am_t;

typedef struct am_stats {
    char *url;
    uint64_t sent, errors;
    pl_summary_t lat; /* seconds per POST to this Alertmanager */
} am_stats_t;

typedef struct qalert {
    rules_alert_t a;
    char *generator_url;
} qalert_t;

struct notifier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    qalert_t *queue; /* FIFO: [head, head+n) modulo capacity */
    size_t head, n, capacity;
    uint64_t dropped;
    am_stats_t *stats; /* per URL ever used; kept across reloads */
    size_t nstats;
    config_labels_t ext; /* owned */
    relabel_rules_t *relabel;
    bool drain;
    bool stop, running;
    pthread_t thread;

    pthread_rwlock_t ams_lock; /* guards ams and srcs (swapped together on reload) */
    am_t *ams;
    size_t nams;
    pthread_mutex_t src_mu; /* serialises file_sd re-reads with reloads */
    am_source_t *srcs;
    size_t nsrcs;
};

notifier_t *notifier_new(const notifier_opts_t *o) {
    notifier_t *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->capacity = o && o->queue_capacity ? o->queue_capacity : 10000;
    n->queue = calloc(n->capacity, sizeof *n->queue);
    if (!n->queue) {
        free(n);
        return NULL;
    }
    n->drain = o ? o->drain_on_shutdown : true;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    pthread_rwlock_init(&n->ams_lock, NULL);
    pthread_mutex_init(&n->src_mu, NULL);
    return n;
}

static char *xstrdup(const char *s) {
    char *d = strdup(s ? s : "");
    if (!d) abort();
    return d;
}

static label_t *dup_labels(const label_t *ls, size_t n) {
    label_t *d = calloc(n ? n : 1, sizeof *d);
    if (!d) abort();
    for (size_t i = 0; i < n; i++) {
        d[i].name = xstrdup(ls[i].name);
        d[i].value = xstrdup(ls[i].value);
    }
    return d;
}

static void ams_free(am_t *ams, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(ams[i].url);
    free(ams);
}

static void sources_free(am_source_t *srcs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        am_source_t *s = &srcs[i];
        relabel_rules_free(s->disc);
        relabel_rules_free(s->alert_relabel);
        free(s->scheme);
        free(s->path);
        free(s->basic_user);
        free(s->basic_pass);
        sd_groups_free(&s->statics);
        for (size_t j = 0; j < s->nsds; j++)
            file_sd_free(s->sds[j]);
        free(s->sds);
    }
    free(srcs);
}

/* path.Join(prefix, "/api/v2/alerts") */
static void alerts_path(strbuf_t *sb, const char *prefix) {
    while (*prefix == '/')
        prefix++;
    size_t l = strlen(prefix);
    while (l && prefix[l - 1] == '/')
        l--;
    if (l) {
        strbuf_putc(sb, '/');
        strbuf_append(sb, prefix, l);
    }
    strbuf_puts(sb, "/api/v2/alerts");
}

/* Compiles cfg's alertmanagers entries; file_sd files are read once here. */
static int sources_build(const config_t *cfg, am_source_t **out, size_t *nout, pl_err_t *err) {
    am_source_t *srcs = calloc(cfg->nalertmanagers ? cfg->nalertmanagers : 1, sizeof *srcs);
    if (!srcs) abort();
    size_t n = 0;
    int64_t now = pl_now_ms();
    for (size_t i = 0; i < cfg->nalertmanagers; i++) {
        const alertmanager_config_t *ac = &cfg->alertmanagers[i];
        am_source_t *s = &srcs[n++];
        s->disc = relabel_compile(ac->relabel_configs, ac->nrelabel_configs, err);
        if (!s->disc) goto fail;
        if (ac->nalert_relabel_configs) {
            s->alert_relabel = relabel_compile(ac->alert_relabel_configs, ac->nalert_relabel_configs, err);
            if (!s->alert_relabel) goto fail;
        }
        strbuf_t path = STRBUF_INIT;
        alerts_path(&path, ac->path_prefix ? ac->path_prefix : "/");
        s->path = strbuf_detach(&path);
        s->scheme = xstrdup(ac->scheme ? ac->scheme : "http");
        s->timeout_ms = ac->timeout_ms ? ac->timeout_ms : 10000;
        if (ac->basic_auth_username) {
            s->basic_user = xstrdup(ac->basic_auth_username);
            s->basic_pass = xstrdup(ac->basic_auth_password);
        }
        s->statics.v = calloc(ac->nstatic_configs ? ac->nstatic_configs : 1, sizeof *s->statics.v);
        if (!s->statics.v) abort();
        for (size_t k = 0; k < ac->nstatic_configs; k++) {
            const static_config_t *sc = &ac->static_configs[k];
            sd_group_t *g = &s->statics.v[s->statics.n++];
            g->targets = calloc(sc->ntargets ? sc->ntargets : 1, sizeof *g->targets);
            if (!g->targets) abort();
            for (size_t t = 0; t < sc->ntargets; t++)
                g->targets[g->ntargets++] = xstrdup(sc->targets[t]);
            g->labels = dup_labels(sc->labels.v, sc->labels.n);
            g->nlabels = sc->labels.n;
        }
        s->sds = calloc(ac->nfile_sd_configs ? ac->nfile_sd_configs : 1, sizeof *s->sds);
        if (!s->sds) abort();
        for (size_t k = 0; k < ac->nfile_sd_configs; k++) {
            s->sds[s->nsds] = file_sd_new(&ac->file_sd_configs[k]);
            if (!s->sds[s->nsds]) abort();
            file_sd_refresh(s->sds[s->nsds++], now, true);
        }
    }
    *out = srcs;
    *nout = n;
    return 0;
fail:
    sources_free(srcs, n);
    return -1;
}

typedef struct ams_acc {
    const am_source_t *src;
    relabel_labels_t lb;
    am_t *ams;
    size_t n, cap;
} ams_acc_t;

/* One target group of a source: each target becomes __address__, with
 * __scheme__, __alerts_path__ and the group's labels; the source's
 * relabel_configs decide and may rewrite them. */
static int add_group(void *ctx, const sd_group_t *g) {
    ams_acc_t *acc = ctx;
    const am_source_t *s = acc->src;
    for (size_t t = 0; t < g->ntargets; t++) {
        label_t in[64];
        size_t nin = 0;
        in[nin++] = (label_t){"__address__", g->targets[t]};
        in[nin++] = (label_t){"__scheme__", s->scheme};
        in[nin++] = (label_t){"__alerts_path__", s->path};
        for (size_t k = 0; k < g->nlabels && nin < 64; k++)
            in[nin++] = g->labels[k];
        const label_t *out;
        size_t nout;
        if (relabel_apply(s->disc, &acc->lb, in, nin, &out, &nout) != RELABEL_KEPT) continue;
        const char *addr = labels_get(out, nout, "__address__");
        if (!addr || !*addr) continue;
        const char *scheme = labels_get(out, nout, "__scheme__");
        const char *ap = labels_get(out, nout, "__alerts_path__");
        if (acc->n == acc->cap) {
            acc->cap = acc->cap ? acc->cap * 2 : 4;
            acc->ams = realloc(acc->ams, acc->cap * sizeof *acc->ams);
            if (!acc->ams) abort();
        }
        strbuf_t url = STRBUF_INIT;
        strbuf_printf(&url, "%s://%s%s", scheme && *scheme ? scheme : "http", addr, ap ? ap : "");
        acc->ams[acc->n++] = (am_t){strbuf_detach(&url), s->timeout_ms, s->alert_relabel, s->basic_user,
                                    s->basic_pass};
    }
    return 0;
}

/* The Alertmanagers the sources name now. */
static void ams_build(const am_source_t *srcs, size_t nsrcs, am_t **out, size_t *nout) {
    ams_acc_t acc = {.lb = RELABEL_LABELS_INIT};
    for (size_t i = 0; i < nsrcs; i++) {
        acc.src = &srcs[i];
        for (size_t g = 0; g < srcs[i].statics.n; g++)
            add_group(&acc, &srcs[i].statics.v[g]);
        for (size_t k = 0; k < srcs[i].nsds; k++)
            file_sd_foreach(srcs[i].sds[k], add_group, &acc);
    }
    relabel_labels_free(&acc.lb);
    *out = acc.ams;
    *nout = acc.n;
}

/* A stats entry for every URL in ams (kept across reloads). Under mu. */
static void stats_add(notifier_t *n, const am_t *ams, size_t nams) {
    for (size_t i = 0; i < nams; i++) {
        bool have = false;
        for (size_t j = 0; j < n->nstats && !have; j++)
            if (!strcmp(n->stats[j].url, ams[i].url)) have = true;
        if (have) continue;
        n->stats = realloc(n->stats, (n->nstats + 1) * sizeof *n->stats);
        if (!n->stats) abort();
        memset(&n->stats[n->nstats], 0, sizeof *n->stats);
        n->stats[n->nstats++].url = xstrdup(ams[i].url);
    }
}

/* Replaces the Alertmanager list (and, when srcs is given, the sources it
 * borrows from); frees the old ones once no batch is using them. */
static void ams_swap(notifier_t *n, am_source_t *srcs, size_t nsrcs, bool new_sources, am_t *ams, size_t nams) {
    pthread_rwlock_wrlock(&n->ams_lock);
    am_t *old = n->ams;
    size_t nold = n->nams;
    am_source_t *old_srcs = NULL;
    size_t nold_srcs = 0;
    n->ams = ams;
    n->nams = nams;
    if (new_sources) {
        old_srcs = n->srcs;
        nold_srcs = n->nsrcs;
        n->srcs = srcs;
        n->nsrcs = nsrcs;
    }
    pthread_rwlock_unlock(&n->ams_lock);
    ams_free(old, nold);
    if (new_sources) sources_free(old_srcs, nold_srcs);
    pthread_mutex_lock(&n->mu);
    stats_add(n, ams, nams);
    pthread_mutex_unlock(&n->mu);
}

int notifier_apply_config(notifier_t *n, const config_t *cfg, pl_err_t *err) {
    relabel_rules_t *global = relabel_compile(cfg->alert_relabel_configs, cfg->nalert_relabel_configs, err);
    if (!global) return -1;
    am_source_t *srcs;
    size_t nsrcs;
    if (sources_build(cfg, &srcs, &nsrcs, err) < 0) {
        relabel_rules_free(global);
        return -1;
    }
    am_t *ams;
    size_t nams;
    ams_build(srcs, nsrcs, &ams, &nams);
    pthread_mutex_lock(&n->src_mu); /* the sender thread re-reads file_sd under it */
    ams_swap(n, srcs, nsrcs, true, ams, nams);
    pthread_mutex_unlock(&n->src_mu);
    pthread_mutex_lock(&n->mu);
    relabel_rules_free(n->relabel);
    n->relabel = global;
    config_labels_free_owned(&n->ext);
    config_labels_copy(&n->ext, cfg->global.external_labels.v, cfg->global.external_labels.n);
    pthread_cond_signal(&n->cv); /* the sender's wait depends on whether file_sd is in use */
    pthread_mutex_unlock(&n->mu);
    return 0;
}

/* Sender thread: re-reads the file_sd target files (changed ones, and all of
 * them every refresh_interval) and rebuilds the Alertmanager list when the
 * targets changed. Returns whether any source uses file_sd. */
static bool refresh_sd(notifier_t *n) {
    pthread_mutex_lock(&n->src_mu);
    bool any = false, changed = false;
    int64_t now = pl_now_ms();
    for (size_t i = 0; i < n->nsrcs; i++)
        for (size_t k = 0; k < n->srcs[i].nsds; k++) {
            any = true;
            if (file_sd_refresh(n->srcs[i].sds[k], now, false)) changed = true;
        }
    if (changed) {
        am_t *ams;
        size_t nams;
        ams_build(n->srcs, n->nsrcs, &ams, &nams);
        ams_swap(n, NULL, 0, false, ams, nams);
        log_info("notifier", "Alertmanagers rediscovered", "count=%zu", nams);
    }
    pthread_mutex_unlock(&n->src_mu);
    return any;
}

static void qalert_free(qalert_t *q) {
    rules_alert_clear(&q->a);
    free(q->generator_url);
    memset(q, 0, sizeof *q);
}

void notifier_send(notifier_t *n, const rules_alert_t *alerts, size_t nalerts, const char *generator_url) {
    relabel_labels_t lb = RELABEL_LABELS_INIT;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < nalerts; i++) {
        const rules_alert_t *a = &alerts[i];
        size_t nb = 0;
        /* external labels first, then the alert's own on top */
        label_t *b = labels_build(n->ext.v, n->ext.n, false, a->labels, a->nlabels, NULL, 0, &nb);
        const label_t *out = b;
        size_t nout = nb;
        if (n->relabel && relabel_rules_count(n->relabel)) {
            int kept = relabel_apply(n->relabel, &lb, b, nb, &out, &nout);
            if (kept != RELABEL_KEPT || nout == 0) {
                free(b);
                continue;
            }
        }
        if (n->n == n->capacity) { /* drop the oldest */
            qalert_free(&n->queue[n->head]);
            n->head = (n->head + 1) % n->capacity;
            n->n--;
            n->dropped++;
        }
        qalert_t *q = &n->queue[(n->head + n->n) % n->capacity];
        q->a = *a;
        q->a.labels = dup_labels(out, nout);
        q->a.nlabels = nout;
        q->a.annotations = dup_labels(a->annotations, a->nannotations);
        q->a.nannotations = a->nannotations;
        q->generator_url = xstrdup(generator_url);
        n->n++;
        free(b);
    }
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    relabel_labels_free(&lb);
}

size_t notifier_queue_length(notifier_t *n) {
    pthread_mutex_lock(&n->mu);
    size_t l = n->n;
    pthread_mutex_unlock(&n->mu);
    return l;
}

/* strfmt.DateTime: RFC 3339 with milliseconds. */
static void put_time(strbuf_t *sb, int64_t ms) {
    char b[48];
    if (ms == 0) snprintf(b, sizeof b, "0001-01-01T00:00:00.000Z");
    else pl_format_rfc3339(b, sizeof b, ms);
    strbuf_putc(sb, '"');
    strbuf_puts(sb, b);
    strbuf_putc(sb, '"');
}

static void put_map(strbuf_t *sb, const label_t *ls, size_t n) {
    strbuf_putc(sb, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) strbuf_putc(sb, ',');
        json_escape(sb, ls[i].name, strlen(ls[i].name));
        strbuf_putc(sb, ':');
        json_escape(sb, ls[i].value, strlen(ls[i].value));
    }
    strbuf_putc(sb, '}');
}

void notifier_alerts_json(strbuf_t *sb, const rules_alert_t *alerts, const char *const *urls, size_t n) {
    strbuf_putc(sb, '[');
    for (size_t i = 0; i < n; i++) {
        const rules_alert_t *a = &alerts[i];
        if (i) strbuf_putc(sb, ',');
        strbuf_puts(sb, "{\"annotations\":");
        put_map(sb, a->annotations, a->nannotations);
        strbuf_puts(sb, ",\"endsAt\":");
        put_time(sb, a->resolved_at ? a->resolved_at : a->valid_until);
        if (urls && urls[i] && *urls[i]) {
            strbuf_puts(sb, ",\"generatorURL\":");
            json_escape(sb, urls[i], strlen(urls[i]));
        }
        strbuf_puts(sb, ",\"labels\":");
        put_map(sb, a->labels, a->nlabels);
        strbuf_puts(sb, ",\"startsAt\":");
        put_time(sb, a->fired_at);
        strbuf_putc(sb, '}');
    }
    strbuf_putc(sb, ']');
}

static size_t discard_body(void *p, size_t s, size_t nm, void *u) {
    (void)p;
    (void)u;
    return s * nm;
}

static int post(const am_t *am, const char *body, size_t len, char *errbuf, size_t errcap) {
    CURL *c = curl_easy_init();
    if (!c) return snprintf(errbuf, errcap, "curl init failed"), -1;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "User-Agent: Prometheus/" PROMLAB_COMPAT_UA);
    curl_easy_setopt(c, CURLOPT_URL, am->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)am->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    if (am->basic_user) {
        curl_easy_setopt(c, CURLOPT_USERNAME, am->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, am->basic_pass ? am->basic_pass : "");
    }
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) return snprintf(errbuf, errcap, "%s", curl_easy_strerror(rc)), -1;
    if (status / 100 != 2) return snprintf(errbuf, errcap, "bad response status %ld", status), -1;
    return 0;
}

static am_stats_t *stats_for(notifier_t *n, const char *url) {
    for (size_t i = 0; i < n->nstats; i++)
        if (!strcmp(n->stats[i].url, url)) return &n->stats[i];
    return NULL;
}

static void send_batch(notifier_t *n, qalert_t *batch, size_t nb) {
    pthread_rwlock_rdlock(&n->ams_lock);
    rules_alert_t *alerts = calloc(nb, sizeof *alerts);
    const char **urls = calloc(nb, sizeof *urls);
    label_t **owned = calloc(nb, sizeof *owned);
    if (!alerts || !urls || !owned) abort();
    relabel_labels_t lb = RELABEL_LABELS_INIT;
    for (size_t i = 0; i < n->nams; i++) {
        const am_t *am = &n->ams[i];
        size_t k = 0;
        for (size_t j = 0; j < nb; j++) {
            rules_alert_t a = batch[j].a;
            if (am->alert_relabel) {
                const label_t *out;
                size_t nout;
                if (relabel_apply(am->alert_relabel, &lb, a.labels, a.nlabels, &out, &nout) != RELABEL_KEPT ||
                    nout == 0)
                    continue;
                owned[k] = dup_labels(out, nout);
                a.labels = owned[k];
                a.nlabels = nout;
            }
            alerts[k] = a;
            urls[k] = batch[j].generator_url;
            k++;
        }
        if (k) {
            strbuf_t body = STRBUF_INIT;
            notifier_alerts_json(&body, alerts, urls, k);
            char e[256] = "";
            int64_t t0 = pl_monotonic_ns();
            int rc = post(am, body.data, body.len, e, sizeof e);
            double secs = (double)(pl_monotonic_ns() - t0) / 1e9;
            if (rc < 0) log_error("notifier", "Error sending alerts", "alertmanager=%s count=%zu err=\"%s\"", am->url, k, e);
            pthread_mutex_lock(&n->mu);
            am_stats_t *st = stats_for(n, am->url);
            if (st) {
                st->sent += k;
                if (rc < 0) st->errors += k;
                pl_summary_observe(&st->lat, secs, pl_monotonic_ns() / 1000000);
            }
            pthread_mutex_unlock(&n->mu);
            strbuf_free(&body);
        }
        for (size_t j = 0; j < k; j++) {
            if (!owned[j]) continue;
            for (size_t x = 0; x < alerts[j].nlabels; x++) {
                free((char *)owned[j][x].name);
                free((char *)owned[j][x].value);
            }
            free(owned[j]);
            owned[j] = NULL;
        }
    }
    relabel_labels_free(&lb);
    free(alerts);
    free(urls);
    free(owned);
    pthread_rwlock_unlock(&n->ams_lock);
}

static void *sender(void *arg) {
    notifier_t *n = arg;
    qalert_t batch[MAX_BATCH];
    bool sd = refresh_sd(n);
    for (;;) {
        pthread_mutex_lock(&n->mu);
        if (!n->stop && n->n == 0) {
            if (sd) { /* file_sd in use: look at the files again within a second */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&n->cv, &n->mu, &ts);
            } else {
                pthread_cond_wait(&n->cv, &n->mu);
            }
        }
        if (n->stop && (!n->drain || n->n == 0)) {
            pthread_mutex_unlock(&n->mu);
            break;
        }
        size_t nb = 0;
        while (n->n && nb < MAX_BATCH) {
            batch[nb++] = n->queue[n->head];
            memset(&n->queue[n->head], 0, sizeof n->queue[n->head]);
            n->head = (n->head + 1) % n->capacity;
            n->n--;
        }
        pthread_mutex_unlock(&n->mu);
        sd = refresh_sd(n);
        if (nb) send_batch(n, batch, nb);
        for (size_t i = 0; i < nb; i++)
            qalert_free(&batch[i]);
    }
    return NULL;
}

int notifier_start(notifier_t *n, pl_err_t *err) {
    n->stop = false;
    if (pthread_create(&n->thread, NULL, sender, n) != 0) return pl_err_set(err, "cannot start the notifier thread");
    n->running = true;
    return 0;
}

void notifier_stop(notifier_t *n) {
    if (!n || !n->running) return;
    pthread_mutex_lock(&n->mu);
    n->stop = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->thread, NULL);
    n->running = false;
}

void notifier_free(notifier_t *n) {
    if (!n) return;
    notifier_stop(n);
    for (size_t i = 0; i < n->n; i++)
        qalert_free(&n->queue[(n->head + i) % n->capacity]);
    free(n->queue);
    for (size_t i = 0; i < n->nstats; i++)
        free(n->stats[i].url);
    free(n->stats);
    config_labels_free_owned(&n->ext);
    relabel_rules_free(n->relabel);
    ams_free(n->ams, n->nams);
    sources_free(n->srcs, n->nsrcs);
    pthread_mutex_destroy(&n->src_mu);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    pthread_rwlock_destroy(&n->ams_lock);
    free(n);
}

void notifier_urls(notifier_t *n, strbuf_t *sb) {
    pthread_rwlock_rdlock(&n->ams_lock);
    for (size_t i = 0; i < n->nams; i++)
        strbuf_printf(sb, "%s\n", n->ams[i].url);
    pthread_rwlock_unlock(&n->ams_lock);
}

void notifier_write_metrics(notifier_t *n, strbuf_t *sb) {
    pthread_rwlock_rdlock(&n->ams_lock);
    size_t discovered = n->nams;
    pthread_rwlock_unlock(&n->ams_lock);
    pthread_mutex_lock(&n->mu);
    strbuf_puts(sb, "# HELP prometheus_notifications_alertmanagers_discovered The number of alertmanagers discovered and active.\n"
                    "# TYPE prometheus_notifications_alertmanagers_discovered gauge\n");
    strbuf_printf(sb, "prometheus_notifications_alertmanagers_discovered %zu\n", discovered);
    strbuf_puts(sb, "# HELP prometheus_notifications_dropped_total Total number of alerts dropped due to errors when sending to Alertmanager.\n"
                    "# TYPE prometheus_notifications_dropped_total counter\n");
    strbuf_printf(sb, "prometheus_notifications_dropped_total %" PRIu64 "\n", n->dropped);
    strbuf_puts(sb, "# HELP prometheus_notifications_errors_total Total number of sent alerts affected by errors.\n"
                    "# TYPE prometheus_notifications_errors_total counter\n");
    for (size_t i = 0; i < n->nstats; i++)
        strbuf_printf(sb, "prometheus_notifications_errors_total{alertmanager=\"%s\"} %" PRIu64 "\n", n->stats[i].url,
                      n->stats[i].errors);
    strbuf_puts(sb, "# HELP prometheus_notifications_latency_seconds Latency quantiles for sending alert notifications.\n"
                    "# TYPE prometheus_notifications_latency_seconds summary\n");
    static const double qs[] = {0.5, 0.9, 0.99};
    const int64_t now = pl_monotonic_ns() / 1000000;
    for (size_t i = 0; i < n->nstats; i++) {
        char labels[600];
        snprintf(labels, sizeof labels, "alertmanager=\"%.500s\"", n->stats[i].url);
        pl_summary_write(sb, "prometheus_notifications_latency_seconds", labels, &n->stats[i].lat, now, qs, 3);
    }
    strbuf_puts(sb, "# HELP prometheus_notifications_queue_capacity The capacity of the alert notifications queue.\n"
                    "# TYPE prometheus_notifications_queue_capacity gauge\n");
    strbuf_printf(sb, "prometheus_notifications_queue_capacity %zu\n", n->capacity);
    strbuf_puts(sb, "# HELP prometheus_notifications_queue_length The number of alert notifications in the queue.\n"
                    "# TYPE prometheus_notifications_queue_length gauge\n");
    strbuf_printf(sb, "prometheus_notifications_queue_length %zu\n", n->n);
    strbuf_puts(sb, "# HELP prometheus_notifications_sent_total Total number of alerts sent.\n"
                    "# TYPE prometheus_notifications_sent_total counter\n");
    for (size_t i = 0; i < n->nstats; i++)
        strbuf_printf(sb, "prometheus_notifications_sent_total{alertmanager=\"%s\"} %" PRIu64 "\n", n->stats[i].url,
                      n->stats[i].sent);
    pthread_mutex_unlock(&n->mu);
}
