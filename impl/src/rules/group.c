/* group.c — rule groups: evaluation, scheduling, reload, the API's JSON and
 * the prometheus_rule_* metrics (see rules.h).
 *
 * Evaluation (rule_group_eval) follows Prometheus's Group.Eval: the rules
 * run in order at the group's timestamp minus its query offset, each
 * rule's output is committed before the next rule runs (so a recording
 * rule's series is visible to the rules after it), and a series a rule
 * wrote last time but not this time gets a staleness marker. A rule that
 * fails keeps its previous series set (no markers) and reports its error
 * in /api/v1/rules.
 *
 * Scheduling follows Group.run: groups are spread over their interval by a
 * hash of (file, name) — the offset is xxhash64 of the label set
 * {file=..., name=...} modulo the interval in nanoseconds, as Prometheus
 * computes it — and evaluate on that shifted grid. An evaluation that runs
 * late skips the grid points it missed and counts them.
 *
 * Reload (rules_manager_update) follows Manager.Update: a group whose
 * definition is unchanged keeps running untouched; a changed group is
 * stopped and its successor inherits the alerts and series-for-staleness of
 * the rules with the same name and labels; a group that disappears writes
 * staleness markers for what it wrote. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "promql/parser.h"
#include "rules/internal.h"
#include "util/log.h"
#include "util/timeutil.h"

/* ---- small helpers ---------------------------------------------------------- */

void outvec_add(outvec_t *o, label_t *ls, size_t n, double v) {
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->v = realloc(o->v, o->cap * sizeof *o->v);
        if (!o->v) abort();
    }
    o->v[o->n++] = (out_sample_t){ls, n, v};
}

const char *outvec_own(outvec_t *o, char *s) {
    if (o->nstrs == o->capstrs) {
        o->capstrs = o->capstrs ? o->capstrs * 2 : 32;
        o->strs = realloc(o->strs, o->capstrs * sizeof *o->strs);
        if (!o->strs) abort();
    }
    return o->strs[o->nstrs++] = s;
}

void outvec_free(outvec_t *o) {
    for (size_t i = 0; i < o->n; i++)
        free(o->v[i].ls);
    free(o->v);
    for (size_t i = 0; i < o->nstrs; i++)
        free(o->strs[i]);
    free(o->strs);
    memset(o, 0, sizeof *o);
}

void owned_labels_free(owned_labels_t *o) {
    for (size_t i = 0; i < o->n; i++) {
        free((char *)o->v[i].name);
        free((char *)o->v[i].value);
    }
    free(o->v);
    memset(o, 0, sizeof *o);
}

int owned_labels_from(owned_labels_t *o, const label_t *ls, size_t n) {
    o->v = calloc(n ? n : 1, sizeof *o->v);
    if (!o->v) abort();
    for (size_t i = 0; i < n; i++) {
        o->v[i].name = strdup(ls[i].name);
        o->v[i].value = strdup(ls[i].value);
        if (!o->v[i].name || !o->v[i].value) abort();
    }
    o->n = n;
    o->hash = labels_hash(ls, n);
    return 0;
}

void config_labels_free_owned(config_labels_t *l) {
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i].name);
        free((char *)l->v[i].value);
    }
    free(l->v);
    l->v = NULL, l->n = 0;
}

int config_labels_copy(config_labels_t *dst, const label_t *src, size_t n) {
    dst->v = calloc(n ? n : 1, sizeof *dst->v);
    if (!dst->v) abort();
    for (size_t i = 0; i < n; i++) {
        dst->v[i].name = strdup(src[i].name);
        dst->v[i].value = strdup(src[i].value);
        if (!dst->v[i].name || !dst->v[i].value) abort();
    }
    dst->n = n;
    return 0;
}

label_t *labels_build(const label_t *src, size_t n, bool drop_name, const label_t *set, size_t nset,
                      const label_t *extra, size_t nextra, size_t *nout) {
    label_t *out = calloc(n + nset + nextra + 1, sizeof *out);
    if (!out) abort();
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (drop_name && !strcmp(src[i].name, LABEL_METRIC_NAME)) continue;
        out[o++] = src[i];
    }
    for (int pass = 0; pass < 2; pass++) {
        const label_t *s = pass ? extra : set;
        size_t ns = pass ? nextra : nset;
        for (size_t i = 0; i < ns; i++) {
            size_t j;
            for (j = 0; j < o; j++)
                if (!strcmp(out[j].name, s[i].name)) break;
            if (j < o) {
                if (s[i].value[0]) out[j].value = s[i].value;
                else {
                    memmove(&out[j], &out[j + 1], (o - j - 1) * sizeof *out);
                    o--;
                }
            } else if (s[i].value[0]) {
                out[o++] = s[i];
            }
        }
    }
    /* an empty value means "absent" (labels.Builder) */
    size_t k = 0;
    for (size_t i = 0; i < o; i++)
        if (out[i].value[0]) out[k++] = out[i];
    labels_sort(out, k);
    *nout = k;
    return out;
}

static char *xstrdup(const char *s) {
    char *d = strdup(s ? s : "");
    if (!d) abort();
    return d;
}

static void rule_def_copy(rule_def_t *d, const rule_def_t *s) {
    memset(d, 0, sizeof *d);
    d->record = s->record ? xstrdup(s->record) : NULL;
    d->alert = s->alert ? xstrdup(s->alert) : NULL;
    d->expr = xstrdup(s->expr);
    d->for_ms = s->for_ms;
    d->keep_firing_for_ms = s->keep_firing_for_ms;
    config_labels_copy(&d->labels, s->labels.v, s->labels.n);
    config_labels_copy(&d->annotations, s->annotations.v, s->annotations.n);
    d->line = s->line;
}

static void rule_clear(rule_t *r) {
    free(r->def.record);
    free(r->def.alert);
    free(r->def.expr);
    config_labels_free_owned(&r->def.labels);
    config_labels_free_owned(&r->def.annotations);
    promql_expr_free(r->expr);
    free(r->query);
    config_labels_free_owned(&r->labels);
    free(r->last_error);
    for (size_t i = 0; i < r->nprev; i++)
        owned_labels_free(&r->prev[i]);
    free(r->prev);
    for (size_t i = 0; i < r->nalerts; i++)
        rules_alert_clear(&r->alerts[i]);
    free(r->alerts);
    memset(r, 0, sizeof *r);
}

static void set_error(rule_t *r, const char *msg) {
    free(r->last_error);
    r->last_error = msg ? xstrdup(msg) : NULL;
    r->health = msg ? "err" : "ok";
}

/* ---- group construction ----------------------------------------------------- */

rule_group_t *rule_group_new(const rules_env_t *env, const char *file, const rule_group_def_t *def,
                             int64_t interval_ms, int64_t query_offset_ms, const config_labels_t *external_labels,
                             const char *external_url, bool restored, pl_err_t *err) {
    rule_group_t *g = calloc(1, sizeof *g);
    if (!g) abort();
    pthread_mutex_init(&g->mu, NULL);
    pthread_mutex_init(&g->run_mu, NULL);
    pthread_cond_init(&g->run_cv, NULL);
    g->env = *env;
    if (!g->env.resend_delay_ms) g->env.resend_delay_ms = 60000;
    if (!g->env.outage_tolerance_ms) g->env.outage_tolerance_ms = 3600000;
    if (!g->env.for_grace_period_ms) g->env.for_grace_period_ms = 600000;
    g->name = xstrdup(def->name);
    g->file = xstrdup(file);
    g->interval_ms = interval_ms > 0 ? interval_ms : 60000;
    g->query_offset_ms = query_offset_ms;
    g->limit = def->limit;
    g->should_restore = !restored;
    if (external_labels) config_labels_copy(&g->external_labels, external_labels->v, external_labels->n);
    g->external_url = xstrdup(external_url);
    g->rules = calloc(def->nrules ? def->nrules : 1, sizeof *g->rules);
    if (!g->rules) abort();
    strbuf_t fp = STRBUF_INIT;
    strbuf_printf(&fp, "interval=%" PRId64 " offset=%" PRId64 " limit=%llu url=%s\n", g->interval_ms,
                  g->query_offset_ms, (unsigned long long)g->limit, g->external_url);
    for (size_t i = 0; i < g->external_labels.n; i++)
        strbuf_printf(&fp, "ext %s=%s\n", g->external_labels.v[i].name, g->external_labels.v[i].value);
    for (size_t i = 0; i < def->labels.n; i++)
        strbuf_printf(&fp, "glabel %s=%s\n", def->labels.v[i].name, def->labels.v[i].value);
    for (size_t i = 0; i < def->nrules; i++) {
        rule_t *r = &g->rules[i];
        g->nrules = i + 1;
        rule_def_copy(&r->def, &def->rules[i]);
        r->alerting = r->def.alert != NULL;
        r->health = "unknown";
        r->restored = restored;
        if (promql_parse(r->def.expr, &r->expr, err) < 0) {
            rule_group_free(g);
            strbuf_free(&fp);
            return NULL;
        }
        strbuf_t q = STRBUF_INIT;
        promql_expr_format(&q, r->expr);
        r->query = strbuf_detach(&q);
        if (!r->query) r->query = xstrdup("");
        size_t n = 0;
        label_t *ls = labels_build(def->labels.v, def->labels.n, false, r->def.labels.v, r->def.labels.n, NULL, 0, &n);
        /* labels_build drops empty values; a rule label "" still overrides a group label */
        config_labels_copy(&r->labels, ls, n);
        free(ls);
        rule_def_format(&fp, &r->def);
    }
    g->fingerprint = strbuf_detach(&fp);
    return g;
}

void rule_group_free(rule_group_t *g) {
    if (!g) return;
    for (size_t i = 0; i < g->nrules; i++)
        rule_clear(&g->rules[i]);
    free(g->rules);
    for (size_t i = 0; i < g->nstale_pending; i++)
        owned_labels_free(&g->stale_pending[i]);
    free(g->stale_pending);
    config_labels_free_owned(&g->external_labels);
    free(g->external_url);
    free(g->fingerprint);
    free(g->name);
    free(g->file);
    pthread_mutex_destroy(&g->mu);
    pthread_mutex_destroy(&g->run_mu);
    pthread_cond_destroy(&g->run_cv);
    free(g);
}

const char *rule_group_name(const rule_group_t *g) { return g->name; }
const char *rule_group_file(const rule_group_t *g) { return g->file; }
int64_t rule_group_interval_ms(const rule_group_t *g) { return g->interval_ms; }
size_t rule_group_nrules(const rule_group_t *g) { return g->nrules; }
const char *rule_group_rule_name(const rule_group_t *g, size_t i) {
    return g->rules[i].alerting ? g->rules[i].def.alert : g->rules[i].def.record;
}
const char *rule_group_rule_health(const rule_group_t *g, size_t i) { return g->rules[i].health; }
const char *rule_group_rule_error(const rule_group_t *g, size_t i) {
    return g->rules[i].last_error ? g->rules[i].last_error : "";
}
const rules_alert_t *rule_group_alerts(const rule_group_t *g, size_t i, size_t *n) {
    *n = g->rules[i].nalerts;
    return g->rules[i].alerts;
}
void rule_group_lock(rule_group_t *g) { pthread_mutex_lock(&g->mu); }
void rule_group_unlock(rule_group_t *g) { pthread_mutex_unlock(&g->mu); }

/* ---- schedule --------------------------------------------------------------- */

/* labels.Labels{file=..., name=...}.Hash(): xxhash64 over
 * "file\xff<file>\xffname\xff<name>\xff". */
static uint64_t group_hash(const char *file, const char *name) {
    strbuf_t sb = STRBUF_INIT;
    strbuf_puts(&sb, "file");
    strbuf_putc(&sb, (char)0xff);
    strbuf_puts(&sb, file);
    strbuf_putc(&sb, (char)0xff);
    strbuf_puts(&sb, "name");
    strbuf_putc(&sb, (char)0xff);
    strbuf_puts(&sb, name);
    strbuf_putc(&sb, (char)0xff);
    uint64_t h = XXH64(sb.data, sb.len, 0);
    strbuf_free(&sb);
    return h;
}

int64_t rules_eval_timestamp(const char *file, const char *name, int64_t interval_ms, int64_t now_ms) {
    /* In nanoseconds, as Prometheus; the offset keeps its sub-ms part only
     * in the comparison, the result is rounded down to ms. */
    __int128 interval = (__int128)interval_ms * 1000000;
    __int128 offset = (__int128)(group_hash(file, name) % (uint64_t)interval);
    __int128 now = (__int128)now_ms * 1000000;
    __int128 adj = now - offset;
    __int128 mod = adj % interval;
    if (mod < 0) mod += interval;
    __int128 next = adj - mod + offset;
    __int128 ms = next / 1000000;
    if (next < 0 && next % 1000000) ms--;
    return (int64_t)ms;
}

int64_t rule_group_eval_timestamp(const rule_group_t *g, int64_t now_ms) {
    return rules_eval_timestamp(g->file, g->name, g->interval_ms, now_ms);
}

/* ---- evaluation --------------------------------------------------------------- */

static int cmp_out(const void *a, const void *b) {
    const out_sample_t *x = a, *y = b;
    return labels_compare(x->ls, x->n, y->ls, y->n);
}

/* Recording rule output: the result with __name__ = record and the rule's labels. */
static int recording_eval(rule_group_t *g, rule_t *r, const promql_result_t *res, outvec_t *out, pl_err_t *err) {
    size_t ns = res->type == PROMQL_TYPE_SCALAR ? 1 : res->nseries;
    size_t first = out->n;
    for (size_t i = 0; i < ns; i++) {
        const label_t *ls = NULL;
        size_t n = 0;
        double v = res->scalar;
        if (res->type != PROMQL_TYPE_SCALAR) {
            ls = res->series[i].labels, n = res->series[i].nlabels;
            v = res->series[i].nsamples ? res->series[i].samples[0].v : NAN;
        }
        label_t name = {LABEL_METRIC_NAME, r->def.record};
        size_t nb = 0;
        label_t *b = labels_build(ls, n, true, &name, 1, r->labels.v, r->labels.n, &nb);
        /* __name__ must stay the record name even if a rule label says otherwise (validation refuses that) */
        for (size_t j = 0; j < nb; j++) {
            char *nm = strdup(b[j].name), *vl = strdup(b[j].value);
            if (!nm || !vl) abort();
            b[j].name = outvec_own(out, nm);
            b[j].value = outvec_own(out, vl);
        }
        outvec_add(out, b, nb, v);
    }
    size_t cnt = out->n - first;
    if (cnt) qsort(out->v + first, cnt, sizeof *out->v, cmp_out);
    for (size_t i = first + 1; i < out->n; i++)
        if (labels_equal(out->v[i].ls, out->v[i].n, out->v[i - 1].ls, out->v[i - 1].n))
            return pl_err_set(err, "vector contains metrics with the same labelset after applying rule labels");
    if (g->limit > 0 && cnt > g->limit)
        return pl_err_set(err, "exceeded limit %llu with %zu series", (unsigned long long)g->limit, cnt);
    return 0;
}

/* Appends a rule's output and staleness markers; replaces r->prev. */
static uint64_t commit_output(rule_group_t *g, rule_t *r, const outvec_t *out, int64_t qts) {
    appender_t app = {0};
    bool store = g->env.appendable.appender && g->env.appendable.appender(g->env.appendable.impl, &app) == 0;
    bool *still = calloc(r->nprev + 1, sizeof *still);
    if (!still) abort();
    owned_labels_t *cur = calloc(out->n + 1, sizeof *cur);
    if (!cur) abort();
    size_t ncur = 0;
    for (size_t i = 0; i < out->n; i++) {
        const out_sample_t *s = &out->v[i];
        if (store && app.add(app.impl, s->ls, s->n, qts, s->v) < 0) continue;
        owned_labels_from(&cur[ncur], s->ls, s->n);
        for (size_t j = 0; j < r->nprev; j++)
            if (r->prev[j].hash == cur[ncur].hash && labels_equal(r->prev[j].v, r->prev[j].n, s->ls, s->n))
                still[j] = true;
        ncur++;
    }
    for (size_t j = 0; j < r->nprev; j++)
        if (!still[j] && store) app.add(app.impl, r->prev[j].v, r->prev[j].n, qts, pl_stale_nan());
    if (store) {
        const storage_append_status_t *st = NULL;
        pl_err_t err;
        if (app.commit(app.impl, &st, &err) < 0)
            log_warn("rules", "Rule sample appending failed", "group=%s err=\"%s\"", g->name, err.msg);
        else if (st) {
            size_t bad = 0;
            for (size_t i = 0; i < ncur; i++)
                if (st[i].result != STORAGE_OK) bad++;
            if (bad)
                log_debug("rules", "Rule evaluation result discarded", "group=%s rule=%s out_of_order_or_duplicate=%zu",
                          g->name, r->alerting ? r->def.alert : r->def.record, bad);
        }
        app.free(app.impl);
    }
    for (size_t j = 0; j < r->nprev; j++)
        owned_labels_free(&r->prev[j]);
    free(r->prev);
    r->prev = cur;
    r->nprev = ncur;
    free(still);
    return ncur;
}

static void flush_stale_pending(rule_group_t *g, int64_t qts) {
    if (!g->nstale_pending) return;
    appender_t app = {0};
    if (g->env.appendable.appender && g->env.appendable.appender(g->env.appendable.impl, &app) == 0) {
        for (size_t i = 0; i < g->nstale_pending; i++)
            app.add(app.impl, g->stale_pending[i].v, g->stale_pending[i].n, qts, pl_stale_nan());
        pl_err_t err;
        app.commit(app.impl, NULL, &err);
        app.free(app.impl);
    }
    for (size_t i = 0; i < g->nstale_pending; i++)
        owned_labels_free(&g->stale_pending[i]);
    free(g->stale_pending);
    g->stale_pending = NULL;
    g->nstale_pending = 0;
}

void rule_group_eval(rule_group_t *g, int64_t ts) {
    pthread_mutex_lock(&g->mu);
    int64_t t0 = pl_monotonic_ns();
    int64_t qts = ts - g->query_offset_ms;
    uint64_t samples = 0;
    flush_stale_pending(g, qts);
    for (size_t i = 0; i < g->nrules; i++) {
        rule_t *r = &g->rules[i];
        int64_t r0 = pl_monotonic_ns();
        g->evaluations++;
        promql_result_t res;
        memset(&res, 0, sizeof res);
        promql_error_t perr;
        memset(&perr, 0, sizeof perr);
        pl_err_t err = {{0}};
        outvec_t out = {0};
        int rc = promql_exec_instant_expr(g->env.engine, &g->env.queryable, r->expr, qts, &res, &perr);
        if (rc < 0) {
            pl_err_set(&err, "%s", perr.msg);
        } else if (res.type != PROMQL_TYPE_VECTOR && res.type != PROMQL_TYPE_SCALAR) {
            rc = pl_err_set(&err, "rule result is not a vector or scalar");
        } else if (r->alerting) {
            rc = alerting_eval(g, r, &res, ts, &out, &err);
        } else {
            rc = recording_eval(g, r, &res, &out, &err);
        }
        promql_result_free(&res);
        if (rc < 0) {
            g->failures++;
            set_error(r, err.msg);
            log_warn("rules", "Evaluating rule failed", "group=%s rule=%s err=\"%s\"", g->name,
                     r->alerting ? r->def.alert : r->def.record, err.msg);
        } else {
            set_error(r, NULL);
            if (r->alerting) alerting_send(g, r, ts);
            samples += commit_output(g, r, &out, qts);
        }
        outvec_free(&out);
        r->last_eval_ms = ts;
        r->eval_seconds = (double)(pl_monotonic_ns() - r0) / 1e9;
        if (g->stats) {
            pthread_mutex_lock(&g->stats->mu);
            pl_summary_observe(&g->stats->rule_dur, r->eval_seconds, pl_monotonic_ns() / 1000000);
            pthread_mutex_unlock(&g->stats->mu);
        }
    }
    g->eval_seconds = (double)(pl_monotonic_ns() - t0) / 1e9;
    g->last_eval_ms = ts;
    g->last_eval_samples = samples;
    if (g->stats) {
        pthread_mutex_lock(&g->stats->mu);
        pl_summary_observe(&g->stats->group_dur, g->eval_seconds, pl_monotonic_ns() / 1000000);
        pthread_mutex_unlock(&g->stats->mu);
    }
    pthread_mutex_unlock(&g->mu);
}

void rule_group_restore_for_state(rule_group_t *g, int64_t ts) {
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nrules; i++)
        if (g->rules[i].alerting) alerting_restore(g, &g->rules[i], ts);
    g->should_restore = false;
    pthread_mutex_unlock(&g->mu);
}

/* nameAndLabels(rule): what matches a rule of an old group to a new one. */
static void rule_key(strbuf_t *sb, const rule_t *r) {
    strbuf_reset(sb);
    strbuf_puts(sb, r->alerting ? r->def.alert : r->def.record);
    labels_format_braces(sb, r->labels.v, r->labels.n);
}

void rule_group_copy_state(rule_group_t *g, rule_group_t *old) {
    pthread_mutex_lock(&old->mu);
    pthread_mutex_lock(&g->mu);
    g->last_eval_ms = old->last_eval_ms;
    g->eval_seconds = old->eval_seconds;
    g->iterations = old->iterations;
    g->missed = old->missed;
    g->evaluations = old->evaluations;
    g->failures = old->failures;
    bool *used = calloc(old->nrules + 1, sizeof *used);
    if (!used) abort();
    strbuf_t a = STRBUF_INIT, b = STRBUF_INIT;
    for (size_t i = 0; i < g->nrules; i++) {
        rule_t *r = &g->rules[i];
        rule_key(&a, r);
        for (size_t j = 0; j < old->nrules; j++) {
            if (used[j]) continue;
            rule_key(&b, &old->rules[j]);
            if (strcmp(a.data, b.data) != 0) continue;
            used[j] = true;
            rule_t *o = &old->rules[j];
            r->prev = o->prev, r->nprev = o->nprev;
            o->prev = NULL, o->nprev = 0;
            if (r->alerting && o->alerting) {
                for (size_t k = 0; k < r->nalerts; k++)
                    rules_alert_clear(&r->alerts[k]);
                free(r->alerts);
                r->alerts = o->alerts, r->nalerts = o->nalerts, r->capalerts = o->capalerts;
                o->alerts = NULL, o->nalerts = o->capalerts = 0;
            }
            break;
        }
    }
    /* rules that went away: their series get markers at the next evaluation */
    size_t extra = old->nstale_pending;
    for (size_t j = 0; j < old->nrules; j++)
        if (!used[j]) extra += old->rules[j].nprev;
    if (extra) {
        g->stale_pending = realloc(g->stale_pending, (g->nstale_pending + extra) * sizeof *g->stale_pending);
        if (!g->stale_pending) abort();
        for (size_t i = 0; i < old->nstale_pending; i++)
            g->stale_pending[g->nstale_pending++] = old->stale_pending[i];
        old->nstale_pending = 0;
        for (size_t j = 0; j < old->nrules; j++) {
            if (used[j]) continue;
            for (size_t k = 0; k < old->rules[j].nprev; k++)
                g->stale_pending[g->nstale_pending++] = old->rules[j].prev[k];
            free(old->rules[j].prev);
            old->rules[j].prev = NULL, old->rules[j].nprev = 0;
        }
    }
    strbuf_free(&a);
    strbuf_free(&b);
    free(used);
    pthread_mutex_unlock(&g->mu);
    pthread_mutex_unlock(&old->mu);
}

void rule_group_mark_stale(rule_group_t *g, int64_t ts) {
    pthread_mutex_lock(&g->mu);
    appender_t app = {0};
    if (g->env.appendable.appender && g->env.appendable.appender(g->env.appendable.impl, &app) == 0) {
        for (size_t i = 0; i < g->nrules; i++)
            for (size_t j = 0; j < g->rules[i].nprev; j++)
                app.add(app.impl, g->rules[i].prev[j].v, g->rules[i].prev[j].n, ts, pl_stale_nan());
        for (size_t i = 0; i < g->nstale_pending; i++)
            app.add(app.impl, g->stale_pending[i].v, g->stale_pending[i].n, ts, pl_stale_nan());
        pl_err_t err;
        app.commit(app.impl, NULL, &err);
        app.free(app.impl);
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- JSON ------------------------------------------------------------------------ */

/* Go's time.Time JSON (RFC 3339 with nanoseconds, trailing zeros cut); the
 * zero time for 0. */
static void jw_time(jsonw_t *w, int64_t ms) {
    if (ms == 0) {
        jw_str(w, "0001-01-01T00:00:00Z");
        return;
    }
    char b[64];
    time_t s = (time_t)(ms / 1000);
    int64_t frac = ms % 1000;
    if (frac < 0) frac += 1000, s--;
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac) {
        char f[8];
        snprintf(f, sizeof f, "%03" PRId64, frac);
        for (int i = 2; i > 0 && f[i] == '0'; i--)
            f[i] = '\0';
        n += (size_t)snprintf(b + n, sizeof b - n, ".%s", f);
    }
    snprintf(b + n, sizeof b - n, "Z");
    jw_str(w, b);
}

/* strconv.FormatFloat(v, 'e', -1, 64): the shortest exponent form. */
static void go_efmt(char *out, size_t cap, double v) {
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int p = 0; p < 17; p++) {
        snprintf(out, cap, "%.*e", p, v);
        if (strtod(out, NULL) == v) return;
    }
    snprintf(out, cap, "%.17e", v);
}

void rules_write_alert_json(jsonw_t *w, const rules_alert_t *a) {
    jw_obj_begin(w);
    jw_key(w, "labels");
    jw_obj_begin(w);
    for (size_t i = 0; i < a->nlabels; i++) {
        jw_key(w, a->labels[i].name);
        jw_str(w, a->labels[i].value);
    }
    jw_obj_end(w);
    jw_key(w, "annotations");
    jw_obj_begin(w);
    for (size_t i = 0; i < a->nannotations; i++) {
        jw_key(w, a->annotations[i].name);
        jw_str(w, a->annotations[i].value);
    }
    jw_obj_end(w);
    jw_key(w, "state");
    jw_str(w, alert_state_str(a->state));
    jw_key(w, "activeAt");
    jw_time(w, a->active_at);
    if (a->keep_firing_since) {
        jw_key(w, "keepFiringSince");
        jw_time(w, a->keep_firing_since);
    }
    char v[64];
    go_efmt(v, sizeof v, a->value);
    jw_key(w, "value");
    jw_str(w, v);
    jw_obj_end(w);
}

static bool in_list(const char *s, const char *const *v, size_t n) {
    if (n == 0) return true;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return true;
    return false;
}

static void write_label_map(jsonw_t *w, const config_labels_t *l) {
    jw_obj_begin(w);
    for (size_t i = 0; i < l->n; i++) {
        jw_key(w, l->v[i].name);
        jw_str(w, l->v[i].value);
    }
    jw_obj_end(w);
}

/* Writes the group object; nothing when the filter leaves no rule and asks
 * for rule names (Prometheus then omits the group). Caller holds g->mu. */
static void group_json_locked(rule_group_t *g, const rules_filter_t *f, jsonw_t *w) {
    static const rules_filter_t none = {0};
    if (!f) f = &none;
    size_t shown = 0;
    for (size_t i = 0; i < g->nrules; i++) {
        const rule_t *r = &g->rules[i];
        if ((f->type == 1 && !r->alerting) || (f->type == 2 && r->alerting)) continue;
        if (!in_list(r->alerting ? r->def.alert : r->def.record, f->rule_names, f->nrule_names)) continue;
        shown++;
    }
    if (shown == 0 && (f->nrule_names || f->type)) return;
    jw_obj_begin(w);
    jw_key(w, "name");
    jw_str(w, g->name);
    jw_key(w, "file");
    jw_str(w, g->file);
    jw_key(w, "rules");
    jw_arr_begin(w);
    for (size_t i = 0; i < g->nrules; i++) {
        const rule_t *r = &g->rules[i];
        if ((f->type == 1 && !r->alerting) || (f->type == 2 && r->alerting)) continue;
        if (!in_list(r->alerting ? r->def.alert : r->def.record, f->rule_names, f->nrule_names)) continue;
        jw_obj_begin(w);
        if (r->alerting) {
            enum alert_state st = ALERT_INACTIVE;
            for (size_t k = 0; k < r->nalerts; k++)
                if (r->alerts[k].state > st) st = r->alerts[k].state;
            jw_key(w, "state");
            jw_str(w, alert_state_str(st));
            jw_key(w, "name");
            jw_str(w, r->def.alert);
            jw_key(w, "query");
            jw_str(w, r->query);
            jw_key(w, "duration");
            jw_double(w, (double)r->def.for_ms / 1000.0);
            jw_key(w, "keepFiringFor");
            jw_double(w, (double)r->def.keep_firing_for_ms / 1000.0);
            jw_key(w, "labels");
            write_label_map(w, &r->labels);
            jw_key(w, "annotations");
            write_label_map(w, &r->def.annotations);
            if (!f->exclude_alerts) {
                jw_key(w, "alerts");
                jw_arr_begin(w);
                for (size_t k = 0; k < r->nalerts; k++)
                    if (r->alerts[k].state != ALERT_INACTIVE) rules_write_alert_json(w, &r->alerts[k]);
                jw_arr_end(w);
            }
        } else {
            jw_key(w, "name");
            jw_str(w, r->def.record);
            jw_key(w, "query");
            jw_str(w, r->query);
            if (r->labels.n) {
                jw_key(w, "labels");
                write_label_map(w, &r->labels);
            }
        }
        jw_key(w, "health");
        jw_str(w, r->health);
        if (r->last_error) {
            jw_key(w, "lastError");
            jw_str(w, r->last_error);
        }
        jw_key(w, "evaluationTime");
        jw_double(w, r->eval_seconds);
        jw_key(w, "lastEvaluation");
        jw_time(w, r->last_eval_ms);
        jw_key(w, "type");
        jw_str(w, r->alerting ? "alerting" : "recording");
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "interval");
    jw_double(w, (double)g->interval_ms / 1000.0);
    jw_key(w, "limit");
    jw_uint(w, g->limit);
    jw_key(w, "evaluationTime");
    jw_double(w, g->eval_seconds);
    jw_key(w, "lastEvaluation");
    jw_time(w, g->last_eval_ms);
    jw_obj_end(w);
}

void rule_group_write_json(rule_group_t *g, const rules_filter_t *f, jsonw_t *w) {
    pthread_mutex_lock(&g->mu);
    group_json_locked(g, f, w);
    pthread_mutex_unlock(&g->mu);
}

/* ---- the manager ------------------------------------------------------------------ */

struct rules_manager {
    pthread_rwlock_t lock; /* guards groups, ngroups, running */
    rule_group_t **groups; /* sorted by file, then name */
    size_t ngroups;
    bool running;
    bool restored; /* the first load happened (later loads do not restore) */
    rules_env_t env;
    notifier_t *notifier;
    char *external_url;
    rules_stats_t stats;
};

static void notify_cb(void *ctx, const char *expr, const rules_alert_t *alerts, size_t n) {
    rules_manager_t *m = ctx;
    if (!m->notifier) return;
    strbuf_t url = STRBUF_INIT;
    strbuf_puts(&url, m->external_url);
    rules_table_link(&url, expr);
    notifier_send(m->notifier, alerts, n, url.data);
    strbuf_free(&url);
}

rules_manager_t *rules_manager_new(const rules_manager_opts_t *o) {
    rules_manager_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_rwlock_init(&m->lock, NULL);
    pthread_mutex_init(&m->stats.mu, NULL);
    m->env = (rules_env_t){
        .engine = o->engine,
        .queryable = o->queryable,
        .appendable = o->appendable,
        .resend_delay_ms = o->resend_delay_ms,
        .outage_tolerance_ms = o->outage_tolerance_ms,
        .for_grace_period_ms = o->for_grace_period_ms,
        .notify = notify_cb,
        .notify_ctx = m,
    };
    m->notifier = o->notifier;
    /* Prometheus strips a trailing slash from the external URL. */
    m->external_url = xstrdup(o->external_url);
    size_t l = strlen(m->external_url);
    while (l && m->external_url[l - 1] == '/')
        m->external_url[--l] = '\0';
    return m;
}

static bool wait_until(rule_group_t *g, int64_t t_ms) {
    pthread_mutex_lock(&g->run_mu);
    while (!g->stop) {
        int64_t now = pl_now_ms();
        if (now >= t_ms) break;
        struct timespec ts = {.tv_sec = (time_t)(t_ms / 1000), .tv_nsec = (long)(t_ms % 1000) * 1000000};
        pthread_cond_timedwait(&g->run_cv, &g->run_mu, &ts);
    }
    bool stop = g->stop;
    pthread_mutex_unlock(&g->run_mu);
    return !stop;
}

static void *group_thread(void *arg) {
    rule_group_t *g = arg;
    int64_t next = rule_group_eval_timestamp(g, pl_now_ms()) + g->interval_ms;
    bool first = true;
    while (wait_until(g, next)) {
        int64_t now = pl_now_ms();
        int64_t missed = (now - next) / g->interval_ms;
        pthread_mutex_lock(&g->mu);
        g->iterations += 1 + (uint64_t)(missed > 0 ? missed : 0);
        if (missed > 0) g->missed += (uint64_t)missed;
        pthread_mutex_unlock(&g->mu);
        if (missed > 0) next += missed * g->interval_ms;
        rule_group_eval(g, next);
        if (first && g->should_restore) rule_group_restore_for_state(g, pl_now_ms());
        first = false;
        next += g->interval_ms;
    }
    return NULL;
}

static void group_start(rule_group_t *g) {
    g->stop = false;
    if (pthread_create(&g->thread, NULL, group_thread, g) == 0) g->running = true;
    else log_error("rules", "Cannot start rule group thread", "group=%s", g->name);
}

static void group_stop(rule_group_t *g) {
    if (!g->running) return;
    pthread_mutex_lock(&g->run_mu);
    g->stop = true;
    pthread_cond_broadcast(&g->run_cv);
    pthread_mutex_unlock(&g->run_mu);
    pthread_join(g->thread, NULL);
    g->running = false;
}

static int cmp_group(const void *a, const void *b) {
    const rule_group_t *x = *(rule_group_t *const *)a, *y = *(rule_group_t *const *)b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

int rules_manager_update(rules_manager_t *m, const config_t *cfg, pl_err_t *err) {
    char **files = NULL;
    size_t nfiles = 0;
    if (rules_expand_globs(cfg->rule_files, cfg->nrule_files, &files, &nfiles, err) < 0) return -1;
    rule_file_t *rfs = calloc(nfiles + 1, sizeof *rfs);
    if (!rfs) abort();
    int rc = 0;
    for (size_t i = 0; i < nfiles && rc == 0; i++) {
        rules_errors_t errs = {0};
        if (rulefile_load(files[i], &rfs[i], &errs) < 0) {
            pl_err_set(err, "%s", errs.n ? errs.msgs[0] : files[i]);
            rc = -1;
        }
        rules_errors_free(&errs);
    }
    rule_group_t **ng = NULL;
    size_t nng = 0;
    if (rc == 0) {
        size_t total = 0;
        for (size_t i = 0; i < nfiles; i++)
            total += rfs[i].ngroups;
        ng = calloc(total + 1, sizeof *ng);
        if (!ng) abort();
        for (size_t i = 0; i < nfiles && rc == 0; i++)
            for (size_t j = 0; j < rfs[i].ngroups && rc == 0; j++) {
                const rule_group_def_t *d = &rfs[i].groups[j];
                int64_t iv = d->interval_ms ? d->interval_ms : cfg->global.evaluation_interval_ms;
                int64_t off = d->has_query_offset ? d->query_offset_ms : cfg->global.rule_query_offset_ms;
                rule_group_t *g = rule_group_new(&m->env, files[i], d, iv, off, &cfg->global.external_labels,
                                                 m->external_url, m->restored, err);
                if (!g) {
                    rc = -1;
                    break;
                }
                g->stats = &m->stats;
                ng[nng++] = g;
            }
    }
    for (size_t i = 0; i < nfiles; i++)
        rulefile_free(&rfs[i]);
    free(rfs);
    rules_free_strv(files, nfiles);
    if (rc < 0) {
        for (size_t i = 0; i < nng; i++)
            rule_group_free(ng[i]);
        free(ng);
        return -1;
    }
    qsort(ng, nng, sizeof *ng, cmp_group);

    pthread_rwlock_wrlock(&m->lock);
    bool *kept = calloc(m->ngroups + 1, sizeof *kept);
    if (!kept) abort();
    for (size_t i = 0; i < nng; i++) {
        for (size_t j = 0; j < m->ngroups; j++) {
            rule_group_t *old = m->groups[j];
            if (kept[j] || strcmp(old->file, ng[i]->file) || strcmp(old->name, ng[i]->name)) continue;
            kept[j] = true;
            if (!strcmp(old->fingerprint, ng[i]->fingerprint)) {
                /* unchanged: the old group keeps running with its state */
                rule_group_free(ng[i]);
                ng[i] = old;
            } else {
                group_stop(old);
                rule_group_copy_state(ng[i], old);
                ng[i]->should_restore = old->should_restore;
                rule_group_free(old);
            }
            break;
        }
    }
    int64_t now = pl_now_ms();
    for (size_t j = 0; j < m->ngroups; j++) {
        if (kept[j]) continue;
        group_stop(m->groups[j]);
        rule_group_mark_stale(m->groups[j], now);
        rule_group_free(m->groups[j]);
    }
    free(kept);
    free(m->groups);
    m->groups = ng;
    m->ngroups = nng;
    m->restored = true;
    if (m->running)
        for (size_t i = 0; i < nng; i++)
            if (!ng[i]->running) group_start(ng[i]);
    pthread_rwlock_unlock(&m->lock);
    return 0;
}

void rules_manager_start(rules_manager_t *m) {
    pthread_rwlock_wrlock(&m->lock);
    m->running = true;
    for (size_t i = 0; i < m->ngroups; i++)
        if (!m->groups[i]->running) group_start(m->groups[i]);
    pthread_rwlock_unlock(&m->lock);
}

void rules_manager_stop(rules_manager_t *m) {
    pthread_rwlock_wrlock(&m->lock);
    m->running = false;
    for (size_t i = 0; i < m->ngroups; i++)
        group_stop(m->groups[i]);
    pthread_rwlock_unlock(&m->lock);
}

void rules_manager_free(rules_manager_t *m) {
    if (!m) return;
    rules_manager_stop(m);
    for (size_t i = 0; i < m->ngroups; i++)
        rule_group_free(m->groups[i]);
    free(m->groups);
    free(m->external_url);
    pthread_mutex_destroy(&m->stats.mu);
    pthread_rwlock_destroy(&m->lock);
    free(m);
}

void rules_manager_write_rules_json(rules_manager_t *m, const rules_filter_t *f, jsonw_t *w) {
    pthread_rwlock_rdlock(&m->lock);
    jw_obj_begin(w);
    jw_key(w, "groups");
    jw_arr_begin(w);
    for (size_t i = 0; i < m->ngroups; i++) {
        rule_group_t *g = m->groups[i];
        if (f && !in_list(g->name, f->rule_groups, f->nrule_groups)) continue;
        if (f && !in_list(g->file, f->files, f->nfiles)) continue;
        rule_group_write_json(g, f, w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    pthread_rwlock_unlock(&m->lock);
}

void rules_manager_write_alerts_json(rules_manager_t *m, jsonw_t *w) {
    pthread_rwlock_rdlock(&m->lock);
    jw_obj_begin(w);
    jw_key(w, "alerts");
    jw_arr_begin(w);
    for (size_t i = 0; i < m->ngroups; i++) {
        rule_group_t *g = m->groups[i];
        pthread_mutex_lock(&g->mu);
        for (size_t j = 0; j < g->nrules; j++)
            for (size_t k = 0; k < g->rules[j].nalerts; k++)
                if (g->rules[j].alerts[k].state != ALERT_INACTIVE) rules_write_alert_json(w, &g->rules[j].alerts[k]);
        pthread_mutex_unlock(&g->mu);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    pthread_rwlock_unlock(&m->lock);
}

/* ---- metrics ---------------------------------------------------------------------- */

static void write_summary(strbuf_t *sb, const char *name, const char *help, const pl_summary_t *s, const double *qs,
                          size_t nq) {
    strbuf_printf(sb, "# HELP %s %s\n# TYPE %s summary\n", name, help, name);
    pl_summary_write(sb, name, "", s, pl_monotonic_ns() / 1000000, qs, nq);
}

static void group_label(strbuf_t *sb, const rule_group_t *g) {
    strbuf_puts(sb, "{rule_group=\"");
    for (const char *p = g->file; *p; p++) {
        if (*p == '"' || *p == '\\') strbuf_putc(sb, '\\');
        if (*p == '\n') {
            strbuf_puts(sb, "\\n");
            continue;
        }
        strbuf_putc(sb, *p);
    }
    strbuf_putc(sb, ';');
    for (const char *p = g->name; *p; p++) {
        if (*p == '"' || *p == '\\') strbuf_putc(sb, '\\');
        if (*p == '\n') {
            strbuf_puts(sb, "\\n");
            continue;
        }
        strbuf_putc(sb, *p);
    }
    strbuf_puts(sb, "\"} ");
}

void rules_manager_write_metrics(rules_manager_t *m, strbuf_t *sb) {
    static const double rq[] = {0.5, 0.9, 0.99};
    static const double gq[] = {0.01, 0.05, 0.5, 0.9, 0.99};
    pthread_mutex_lock(&m->stats.mu);
    write_summary(sb, "prometheus_rule_evaluation_duration_seconds", "The duration for a rule to execute.",
                  &m->stats.rule_dur, rq, 3);
    write_summary(sb, "prometheus_rule_group_duration_seconds", "The duration of rule group evaluations.",
                  &m->stats.group_dur, gq, 5);
    pthread_mutex_unlock(&m->stats.mu);
    static const struct {
        const char *name, *type, *help;
    } metrics[] = {
        {"prometheus_rule_evaluation_failures_total", "counter", "The total number of rule evaluation failures."},
        {"prometheus_rule_evaluations_total", "counter", "The total number of rule evaluations."},
        {"prometheus_rule_group_interval_seconds", "gauge", "The interval of a rule group."},
        {"prometheus_rule_group_iterations_missed_total", "counter",
         "The total number of rule group evaluations missed due to slow rule group evaluation."},
        {"prometheus_rule_group_iterations_total", "counter",
         "The total number of scheduled rule group evaluations, whether executed or missed."},
        {"prometheus_rule_group_last_duration_seconds", "gauge", "The duration of the last rule group evaluation."},
        {"prometheus_rule_group_last_evaluation_samples", "gauge",
         "The number of samples returned during the last rule group evaluation."},
        {"prometheus_rule_group_last_evaluation_timestamp_seconds", "gauge",
         "The timestamp of the last rule group evaluation in seconds."},
        {"prometheus_rule_group_rules", "gauge", "The number of rules."},
    };
    pthread_rwlock_rdlock(&m->lock);
    for (size_t k = 0; k < sizeof metrics / sizeof metrics[0]; k++) {
        strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", metrics[k].name, metrics[k].help, metrics[k].name,
                      metrics[k].type);
        for (size_t i = 0; i < m->ngroups; i++) {
            rule_group_t *g = m->groups[i];
            pthread_mutex_lock(&g->mu);
            strbuf_puts(sb, metrics[k].name);
            group_label(sb, g);
            switch (k) {
            case 0: strbuf_printf(sb, "%" PRIu64, g->failures); break;
            case 1: strbuf_printf(sb, "%" PRIu64, g->evaluations); break;
            case 2: strbuf_put_float(sb, (double)g->interval_ms / 1000.0); break;
            case 3: strbuf_printf(sb, "%" PRIu64, g->missed); break;
            case 4: strbuf_printf(sb, "%" PRIu64, g->iterations); break;
            case 5: strbuf_put_float(sb, g->eval_seconds); break;
            case 6: strbuf_printf(sb, "%" PRIu64, g->last_eval_samples); break;
            case 7: strbuf_put_float(sb, (double)g->last_eval_ms / 1000.0); break;
            default: strbuf_printf(sb, "%zu", g->nrules); break;
            }
            strbuf_putc(sb, '\n');
            pthread_mutex_unlock(&g->mu);
        }
    }
    pthread_rwlock_unlock(&m->lock);
}
