/* alerting.c — the alerting rule's state machine, as Prometheus's
 * rules.AlertingRule.Eval runs it.
 *
 * Every evaluation turns each sample of the query result into an alert
 * identity: the sample's labels without __name__, the rule's labels expanded
 * as templates (an empty result deletes the label), alertname. Then:
 *
 *   new identity               -> pending, activeAt = ts (replacing a resolved one)
 *   seen again                 -> value and annotations updated
 *   pending, ts - activeAt >= for -> firing, firedAt = ts
 *   gone, pending              -> dropped
 *   gone, firing               -> inactive (resolved), resolvedAt = ts; kept
 *                                 15m so Alertmanager hears it resolved
 *   gone, firing, keep_firing_for > 0 -> stays firing until keep_firing_for
 *                                 has passed since it first went missing
 *
 * Active (pending or firing) alerts are written as ALERTS{alertstate=...} 1
 * and ALERTS_FOR_STATE = activeAt in Unix seconds, once the rule is
 * "restored": at start-up the first evaluation only rebuilds the alerts,
 * then rule_group_restore_for_state moves their activeAt from what
 * ALERTS_FOR_STATE says (so a restart does not reset `for`), as Prometheus's
 * Group.RestoreForState does with --rules.alert.for-outage-tolerance and
 * --rules.alert.for-grace-period. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/internal.h"
#include "util/log.h"

const char *alert_state_str(enum alert_state s) {
    switch (s) {
    case ALERT_PENDING: return "pending";
    case ALERT_FIRING: return "firing";
    default: return "inactive";
    }
}

static void free_labels(label_t *ls, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free((char *)ls[i].name);
        free((char *)ls[i].value);
    }
    free(ls);
}

void rules_alert_clear(rules_alert_t *a) {
    free_labels(a->labels, a->nlabels);
    free_labels(a->annotations, a->nannotations);
    memset(a, 0, sizeof *a);
}

static label_t *dup_labels(const label_t *ls, size_t n) {
    label_t *d = calloc(n ? n : 1, sizeof *d);
    if (!d) abort();
    for (size_t i = 0; i < n; i++) {
        d[i].name = strdup(ls[i].name);
        d[i].value = strdup(ls[i].value);
        if (!d[i].name || !d[i].value) abort();
    }
    return d;
}

int rules_alert_copy(rules_alert_t *dst, const rules_alert_t *src) {
    *dst = *src;
    dst->labels = dup_labels(src->labels, src->nlabels);
    dst->annotations = dup_labels(src->annotations, src->nannotations);
    return 0;
}

static rules_alert_t *find_alert(rule_t *r, const label_t *ls, size_t n) {
    for (size_t i = 0; i < r->nalerts; i++)
        if (labels_equal(r->alerts[i].labels, r->alerts[i].nlabels, ls, n)) return &r->alerts[i];
    return NULL;
}

static void remove_alert(rule_t *r, size_t i) {
    rules_alert_clear(&r->alerts[i]);
    memmove(&r->alerts[i], &r->alerts[i + 1], (r->nalerts - i - 1) * sizeof *r->alerts);
    r->nalerts--;
}

static int cmp_alert(const void *a, const void *b) {
    const rules_alert_t *x = a, *y = b;
    return labels_compare(x->labels, x->nlabels, y->labels, y->nlabels);
}

/* One alert identity computed from a sample. */
typedef struct cand {
    label_t *labels; /* owned strings */
    size_t nlabels;
    label_t *annotations;
    size_t nannotations;
    double value;
} cand_t;

static void cand_free(cand_t *c) {
    free_labels(c->labels, c->nlabels);
    free_labels(c->annotations, c->nannotations);
}

static int cmp_cand(const void *a, const void *b) {
    const cand_t *x = a, *y = b;
    return labels_compare(x->labels, x->nlabels, y->labels, y->nlabels);
}

/* Expands the rule's labels and annotations for one sample. */
static void make_cand(rule_group_t *g, rule_t *r, const label_t *ls, size_t n, double v, cand_t *c) {
    tmpl_data_t d = {
        .labels = ls,
        .nlabels = n,
        .external_labels = g->external_labels.v,
        .nexternal_labels = g->external_labels.n,
        .external_url = g->external_url,
        .value = v,
    };
    strbuf_t name = STRBUF_INIT;
    strbuf_printf(&name, "__alert_%s", r->def.alert);
    label_t *exp = calloc(r->labels.n ? r->labels.n : 1, sizeof *exp);
    if (!exp) abort();
    for (size_t i = 0; i < r->labels.n; i++) {
        strbuf_t sb = STRBUF_INIT;
        if (tmpl_expand(name.data, r->labels.v[i].value, &d, &sb) < 0)
            log_warn("rules", "Expanding alert template failed", "alert=%s label=%s err=\"%s\"", r->def.alert,
                     r->labels.v[i].name, sb.data);
        exp[i].name = r->labels.v[i].name;
        exp[i].value = strbuf_detach(&sb);
    }
    label_t alertname = {"alertname", r->def.alert};
    size_t nb = 0;
    label_t *b = labels_build(ls, n, true, exp, r->labels.n, &alertname, 1, &nb);
    c->labels = dup_labels(b, nb);
    c->nlabels = nb;
    free(b);
    for (size_t i = 0; i < r->labels.n; i++)
        free((char *)exp[i].value);
    free(exp);
    c->annotations = calloc(r->def.annotations.n ? r->def.annotations.n : 1, sizeof *c->annotations);
    if (!c->annotations) abort();
    for (size_t i = 0; i < r->def.annotations.n; i++) {
        strbuf_t sb = STRBUF_INIT;
        if (tmpl_expand(name.data, r->def.annotations.v[i].value, &d, &sb) < 0)
            log_warn("rules", "Expanding alert template failed", "alert=%s annotation=%s err=\"%s\"", r->def.alert,
                     r->def.annotations.v[i].name, sb.data);
        c->annotations[i].name = strdup(r->def.annotations.v[i].name);
        c->annotations[i].value = strbuf_detach(&sb);
        if (!c->annotations[i].name) abort();
    }
    c->nannotations = r->def.annotations.n;
    c->value = v;
    strbuf_free(&name);
}

/* ALERTS / ALERTS_FOR_STATE sample labels: the alert's labels plus __name__
 * (and alertstate). */
static void emit(outvec_t *out, const rules_alert_t *a, bool for_state) {
    label_t extra[2];
    size_t ne = 0;
    extra[ne++] = (label_t){LABEL_METRIC_NAME, for_state ? "ALERTS_FOR_STATE" : "ALERTS"};
    if (!for_state) extra[ne++] = (label_t){"alertstate", alert_state_str(a->state)};
    size_t n = 0;
    label_t *ls = labels_build(a->labels, a->nlabels, false, NULL, 0, extra, ne, &n);
    /* strings must outlive the alert (it may be deleted later in the same
     * evaluation): copy them into the vector */
    for (size_t i = 0; i < n; i++) {
        char *nm = strdup(ls[i].name), *vl = strdup(ls[i].value);
        if (!nm || !vl) abort();
        ls[i].name = outvec_own(out, nm);
        ls[i].value = outvec_own(out, vl);
    }
    outvec_add(out, ls, n, for_state ? (double)(a->active_at / 1000) : 1.0);
}

int alerting_eval(rule_group_t *g, rule_t *r, const promql_result_t *res, int64_t ts, outvec_t *out, pl_err_t *err) {
    int64_t qts = ts - g->query_offset_ms;
    size_t ns = res->type == PROMQL_TYPE_SCALAR ? 1 : res->nseries;
    cand_t *cands = calloc(ns ? ns : 1, sizeof *cands);
    if (!cands) abort();
    for (size_t i = 0; i < ns; i++) {
        if (res->type == PROMQL_TYPE_SCALAR) make_cand(g, r, NULL, 0, res->scalar, &cands[i]);
        else
            make_cand(g, r, res->series[i].labels, res->series[i].nlabels,
                      res->series[i].nsamples ? res->series[i].samples[0].v : NAN, &cands[i]);
    }
    if (ns) qsort(cands, ns, sizeof *cands, cmp_cand);
    for (size_t i = 1; i < ns; i++)
        if (labels_equal(cands[i].labels, cands[i].nlabels, cands[i - 1].labels, cands[i - 1].nlabels)) {
            for (size_t j = 0; j < ns; j++)
                cand_free(&cands[j]);
            free(cands);
            return pl_err_set(err, "vector contains metrics with the same labelset after applying alert labels");
        }
    bool *seen = calloc(r->nalerts + ns + 1, sizeof *seen);
    if (!seen) abort();
    for (size_t i = 0; i < ns; i++) {
        cand_t *c = &cands[i];
        rules_alert_t *a = find_alert(r, c->labels, c->nlabels);
        if (a && a->state != ALERT_INACTIVE) {
            a->value = c->value;
            free_labels(a->annotations, a->nannotations);
            a->annotations = c->annotations, a->nannotations = c->nannotations;
            c->annotations = NULL, c->nannotations = 0;
            seen[a - r->alerts] = true;
            continue;
        }
        if (a) { /* a resolved alert comes back: a new alert replaces it */
            rules_alert_clear(a);
        } else {
            if (r->nalerts == r->capalerts) {
                r->capalerts = r->capalerts ? r->capalerts * 2 : 8;
                r->alerts = realloc(r->alerts, r->capalerts * sizeof *r->alerts);
                if (!r->alerts) abort();
                seen = realloc(seen, (r->capalerts + ns + 1) * sizeof *seen);
                if (!seen) abort();
            }
            a = &r->alerts[r->nalerts];
            seen[r->nalerts] = false;
            r->nalerts++;
        }
        memset(a, 0, sizeof *a);
        a->labels = c->labels, a->nlabels = c->nlabels;
        a->annotations = c->annotations, a->nannotations = c->nannotations;
        c->labels = NULL, c->nlabels = 0, c->annotations = NULL, c->nannotations = 0;
        a->state = ALERT_PENDING;
        a->value = c->value;
        a->active_at = ts;
        seen[a - r->alerts] = true;
    }
    for (size_t j = 0; j < ns; j++)
        cand_free(&cands[j]);
    free(cands);

    size_t active = 0;
    for (size_t i = 0; i < r->nalerts;) {
        rules_alert_t *a = &r->alerts[i];
        if (!seen[i]) {
            bool keep_firing = false;
            if (a->state == ALERT_FIRING && r->def.keep_firing_for_ms > 0) {
                if (a->keep_firing_since == 0) a->keep_firing_since = ts;
                if (ts - a->keep_firing_since < r->def.keep_firing_for_ms) keep_firing = true;
            }
            if (a->state == ALERT_PENDING ||
                (a->resolved_at && ts - a->resolved_at > RULES_RESOLVED_RETENTION_MS)) {
                remove_alert(r, i);
                memmove(&seen[i], &seen[i + 1], (r->nalerts - i) * sizeof *seen);
                continue;
            }
            if (a->state != ALERT_INACTIVE && !keep_firing) {
                a->state = ALERT_INACTIVE;
                a->resolved_at = ts;
            }
            if (!keep_firing) {
                i++;
                continue;
            }
        } else {
            a->keep_firing_since = 0;
        }
        active++;
        if (a->state == ALERT_PENDING && ts - a->active_at >= r->def.for_ms) {
            a->state = ALERT_FIRING;
            a->fired_at = ts;
        }
        i++;
    }
    free(seen);
    if (g->limit > 0 && active > g->limit) {
        for (size_t i = 0; i < r->nalerts; i++)
            rules_alert_clear(&r->alerts[i]);
        r->nalerts = 0;
        return pl_err_set(err, "exceeded limit of %llu with %zu alerts", (unsigned long long)g->limit, active);
    }
    if (r->nalerts) qsort(r->alerts, r->nalerts, sizeof *r->alerts, cmp_alert);
    if (r->restored)
        for (size_t i = 0; i < r->nalerts; i++) {
            const rules_alert_t *a = &r->alerts[i];
            if (a->state == ALERT_INACTIVE) continue;
            emit(out, a, false);
            emit(out, a, true);
        }
    (void)qts;
    return 0;
}

/* Alert.needsSending */
static bool needs_sending(const rules_alert_t *a, int64_t ts, int64_t resend_delay) {
    if (a->state == ALERT_PENDING) return false;
    if (a->resolved_at > a->last_sent_at) return true;
    return a->last_sent_at + resend_delay < ts;
}

void alerting_send(rule_group_t *g, rule_t *r, int64_t ts) {
    int64_t delta = g->env.resend_delay_ms;
    if (g->interval_ms > delta) delta = g->interval_ms;
    rules_alert_t *batch = calloc(r->nalerts ? r->nalerts : 1, sizeof *batch);
    if (!batch) abort();
    size_t nb = 0;
    for (size_t i = 0; i < r->nalerts; i++) {
        rules_alert_t *a = &r->alerts[i];
        if (!needs_sending(a, ts, g->env.resend_delay_ms)) continue;
        a->last_sent_at = ts;
        a->valid_until = ts + 4 * delta;
        batch[nb++] = *a; /* borrowed for the call */
    }
    if (nb && g->env.notify) g->env.notify(g->env.notify_ctx, r->query, batch, nb);
    free(batch);
}

/* ---- restoring `for` state ----------------------------------------------------- */

typedef struct last_sample {
    size_t want; /* label count of the series asked for */
    bool found;
    int64_t t;
    double v;
} last_sample_t;

static int take_last(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    last_sample_t *l = ctx;
    (void)ls;
    if (n != l->want || ns == 0) return 0; /* a series with more labels than asked */
    l->found = true;
    l->t = s[ns - 1].t;
    l->v = s[ns - 1].v;
    return 1;
}

void alerting_restore(rule_group_t *g, rule_t *r, int64_t ts) {
    int64_t hold = r->def.for_ms;
    if (hold < g->env.for_grace_period_ms) {
        /* Waiting hold + grace would be longer than hold alone: nothing to restore. */
        r->restored = true;
        return;
    }
    int64_t mint = ts - g->env.outage_tolerance_ms;
    for (size_t i = 0; i < r->nalerts; i++) {
        rules_alert_t *a = &r->alerts[i];
        label_t extra = {LABEL_METRIC_NAME, "ALERTS_FOR_STATE"};
        size_t n = 0;
        label_t *ls = labels_build(a->labels, a->nlabels, false, NULL, 0, &extra, 1, &n);
        matcher_t *ms = calloc(n ? n : 1, sizeof *ms);
        if (!ms) abort();
        size_t nm = 0;
        bool ok = true;
        for (size_t j = 0; j < n; j++) {
            if (matcher_init(&ms[nm], MATCH_EQUAL, ls[j].name, ls[j].value, NULL) < 0) {
                ok = false;
                break;
            }
            nm++;
        }
        last_sample_t last = {.want = n};
        pl_err_t err;
        if (ok && g->env.queryable.select)
            g->env.queryable.select(g->env.queryable.impl, ms, nm, mint, ts, take_last, &last, &err);
        matchers_free(ms, nm);
        free(ls);
        if (!last.found || pl_is_stale_nan(last.v)) continue;
        int64_t down_at = last.t / 1000 * 1000;
        int64_t restored_active_at = (int64_t)last.v * 1000;
        int64_t spent = down_at - restored_active_at;
        int64_t remaining = hold - spent;
        if (remaining <= 0) {
            /* it was firing when the server went down; the next evaluation decides */
        } else if (remaining < g->env.for_grace_period_ms) {
            restored_active_at = ts + g->env.for_grace_period_ms - hold;
        } else {
            restored_active_at += ts - down_at;
        }
        a->active_at = restored_active_at;
        log_info("rules", "'for' state restored", "alertname=%s restored_time=%lld", r->def.alert,
                 (long long)restored_active_at);
    }
    r->restored = true;
}
