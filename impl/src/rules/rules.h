/* rules.h — recording and alerting rules, and the notifier that sends alerts
 * to Alertmanager: the public face of the rules module.
 *
 * Four layers, each usable alone:
 *
 *  1. Rule files (rulefile.c): Prometheus's rule file schema parsed strictly
 *     with libyaml and validated as Prometheus's rulefmt does, every problem
 *     reported in Prometheus's words ("FILE: 5:11: group "g", rule 1, "x":
 *     could not parse expression: ..."), all of them, not just the first.
 *
 *  2. Templates (template.c): the subset of Go's text/template that alert
 *     labels and annotations use ({{ $labels.x }}, {{ $value | humanize }},
 *     if/else/range, printf, Prometheus's humanize* functions).
 *
 *  3. Groups (group.c, alerting.c): a rule group evaluated at a timestamp —
 *     recording rules append their output through an appendable_t, alerting
 *     rules run Prometheus's state machine (inactive -> pending -> firing ->
 *     resolved, `for`, `keep_firing_for`), write ALERTS / ALERTS_FOR_STATE
 *     and hand alerts that need sending to a notify callback. Evaluation is a
 *     plain function of (group, timestamp), so `promlab tool test rules`
 *     and the unit tests drive it without threads or clocks.
 *
 *  4. The manager (group.c) runs one thread per group on Prometheus's
 *     aligned schedule, swaps groups on reload (unchanged groups keep
 *     running untouched, changed ones inherit their alerts), restores `for`
 *     state after a restart, and renders /api/v1/rules, /api/v1/alerts and
 *     the prometheus_rule_* metrics. The notifier (notifier.c) queues alerts
 *     and POSTs them to Alertmanager's API v2 with libcurl.
 *
 * Thread safety: a group is guarded by its own mutex (evaluation vs the
 * API); the manager's group list by a rwlock (reload vs readers). A group
 * thread never takes the manager's lock, so reload may join group threads
 * while holding it. */
#ifndef PL_RULES_H
#define PL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "model/labels.h"
#include "model/storage.h"
#include "promql/engine.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"

/* ---- 1. rule files -------------------------------------------------------- */

typedef struct rule_def {
    char *record; /* exactly one of record and alert is set (non-NULL) */
    char *alert;
    char *expr;
    int64_t for_ms, keep_firing_for_ms;
    config_labels_t labels;      /* owned, sorted by name */
    config_labels_t annotations; /* owned, sorted by name */
    int line;                    /* of the rule's first key */
} rule_def_t;

typedef struct rule_group_def {
    char *name;
    int64_t interval_ms;     /* 0: the global evaluation_interval */
    int64_t query_offset_ms; /* valid when has_query_offset */
    bool has_query_offset;   /* else the global rule_query_offset */
    uint64_t limit;          /* 0: none */
    config_labels_t labels;  /* added to every rule's labels (a rule's own win) */
    rule_def_t *rules;
    size_t nrules;
    int line;
} rule_group_def_t;

typedef struct rule_file {
    char *path;
    rule_group_def_t *groups;
    size_t ngroups;
} rule_file_t;

/* A list of error messages, each a full line without the newline. */
typedef struct rules_errors {
    char **msgs;
    size_t n;
} rules_errors_t;

void rules_errors_add(rules_errors_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rules_errors_free(rules_errors_t *e);

/* Parses and validates one rule file held in memory (path is used in
 * messages). Returns 0 with *out filled, or -1 with every problem appended to
 * errs (*out is then empty). An empty file is a valid file without groups. */
int rulefile_parse(const char *path, const char *data, size_t len, rule_file_t *out, rules_errors_t *errs);
int rulefile_load(const char *path, rule_file_t *out, rules_errors_t *errs);
void rulefile_free(rule_file_t *f);
size_t rulefile_count_rules(const rule_file_t *f);

/* Expands rule_files patterns (globs, as config.h resolved them) into the
 * sorted, de-duplicated list of files. A pattern matching nothing adds
 * nothing, as in Prometheus. Returns -1 on a bad pattern. */
int rules_expand_globs(char *const *patterns, size_t n, char ***files, size_t *nfiles, pl_err_t *err);
void rules_free_strv(char **v, size_t n);

/* The rule as Prometheus prints it (YAML, rule.String()): what decides
 * whether a rule changed on reload. */
void rule_def_format(strbuf_t *sb, const rule_def_t *r);

/* ---- 2. templates --------------------------------------------------------- */

typedef struct tmpl tmpl_t;

typedef struct tmpl_data {
    const label_t *labels; /* $labels / .Labels */
    size_t nlabels;
    const label_t *external_labels; /* $externalLabels / .ExternalLabels */
    size_t nexternal_labels;
    const char *external_url; /* $externalURL / .ExternalURL */
    double value;             /* $value / .Value */
} tmpl_data_t;

/* Parses text as template `name` (messages: "template: NAME:LINE: reason",
 * as Go words them). */
int tmpl_parse(const char *name, const char *text, tmpl_t **out, pl_err_t *err);
/* Executes into out (appended). On error out may hold partial output. */
int tmpl_exec(const tmpl_t *t, const tmpl_data_t *d, strbuf_t *out, pl_err_t *err);
void tmpl_free(tmpl_t *t);
/* parse + exec; on failure out gets Prometheus's "<error expanding template: ...>"
 * and -1 is returned. */
int tmpl_expand(const char *name, const char *text, const tmpl_data_t *d, strbuf_t *out);

/* Prometheus's template functions, exposed for tests: humanize, humanize1024,
 * humanizeDuration, humanizePercentage, humanizeTimestamp. */
void tmpl_humanize(strbuf_t *sb, double v);
void tmpl_humanize1024(strbuf_t *sb, double v);
void tmpl_humanize_duration(strbuf_t *sb, double v);
void tmpl_humanize_percentage(strbuf_t *sb, double v);
int tmpl_humanize_timestamp(strbuf_t *sb, double v);
/* Go's fmt %.Ng for a float64 ("NaN", "+Inf", exponent as e+06). */
void tmpl_go_gfmt(strbuf_t *sb, double v, int prec);

/* ---- 3. groups and alerts ------------------------------------------------- */

enum alert_state { ALERT_INACTIVE = 0, ALERT_PENDING, ALERT_FIRING };
const char *alert_state_str(enum alert_state s); /* "inactive", "pending", "firing" */

/* An alert as the notifier and the API see it. Times are ms since the epoch,
 * 0 = unset. */
typedef struct rules_alert {
    label_t *labels; /* sorted; owned by whoever holds the struct */
    size_t nlabels;
    label_t *annotations;
    size_t nannotations;
    enum alert_state state;
    double value;
    int64_t active_at, fired_at, resolved_at, last_sent_at, valid_until, keep_firing_since;
} rules_alert_t;

void rules_alert_clear(rules_alert_t *a); /* frees labels and annotations */
int rules_alert_copy(rules_alert_t *dst, const rules_alert_t *src);

/* Called by evaluation with the alerts of one rule that need sending now
 * (firing ones every resend delay, resolved ones until they have been sent).
 * The alerts are borrowed for the call. */
typedef void (*rules_notify_fn)(void *ctx, const char *expr, const rules_alert_t *alerts, size_t n);

/* What evaluation needs from the outside. The pointers are borrowed and must
 * outlive every group made with them. */
typedef struct rules_env {
    promql_engine_t *engine;
    queryable_t queryable;
    appendable_t appendable; /* appendable.appender NULL: outputs are not stored */
    int64_t resend_delay_ms;         /* default 1m */
    int64_t outage_tolerance_ms;     /* default 1h */
    int64_t for_grace_period_ms;     /* default 10m */
    rules_notify_fn notify;          /* may be NULL */
    void *notify_ctx;
} rules_env_t;

typedef struct rule_group rule_group_t;

/* Makes a group from a definition (copied). file names the rule file; the
 * external labels and URL are copied for the templates. interval_ms and
 * query_offset_ms are the effective ones (the caller resolves defaults).
 * restored: false when `for` state should be restored from storage before
 * alerts are written (start-up), true otherwise. */
rule_group_t *rule_group_new(const rules_env_t *env, const char *file, const rule_group_def_t *def,
                             int64_t interval_ms, int64_t query_offset_ms, const config_labels_t *external_labels,
                             const char *external_url, bool restored, pl_err_t *err);
void rule_group_free(rule_group_t *g);

/* Evaluates every rule in order at ts_ms (the group's schedule time). */
void rule_group_eval(rule_group_t *g, int64_t ts_ms);
/* Prometheus's RestoreForState at ts_ms (see alerting.c). */
void rule_group_restore_for_state(rule_group_t *g, int64_t ts_ms);
/* Where the group's schedule puts the last evaluation at or before now_ms:
 * the interval grid shifted by a hash of (file, name), as Prometheus's
 * Group.EvalTimestamp. */
int64_t rule_group_eval_timestamp(const rule_group_t *g, int64_t now_ms);
int64_t rules_eval_timestamp(const char *file, const char *name, int64_t interval_ms, int64_t now_ms);

const char *rule_group_name(const rule_group_t *g);
const char *rule_group_file(const rule_group_t *g);
int64_t rule_group_interval_ms(const rule_group_t *g);
size_t rule_group_nrules(const rule_group_t *g);
/* The health of rule i after its last evaluation: "ok", "err" or "unknown",
 * and its last error ("" when none). */
const char *rule_group_rule_name(const rule_group_t *g, size_t i); /* record or alert name */
const char *rule_group_rule_health(const rule_group_t *g, size_t i);
const char *rule_group_rule_error(const rule_group_t *g, size_t i);
/* The alerts of rule i (an alerting rule; NULL/0 otherwise). Valid until the
 * next evaluation; callers outside the evaluating thread hold the group's
 * lock (rule_group_lock). */
const rules_alert_t *rule_group_alerts(const rule_group_t *g, size_t i, size_t *n);
void rule_group_lock(rule_group_t *g);
void rule_group_unlock(rule_group_t *g);
/* Takes over the alert state and series-for-staleness of the rules of old
 * that have the same name and position class (Prometheus's CopyState). */
void rule_group_copy_state(rule_group_t *g, rule_group_t *old);
/* Writes stale markers for every series the group wrote last time (a group
 * that goes away). */
void rule_group_mark_stale(rule_group_t *g, int64_t ts_ms);

/* ---- 4. notifier and manager ---------------------------------------------- */

typedef struct notifier notifier_t;

typedef struct notifier_opts {
    size_t queue_capacity; /* default 10000 */
    bool drain_on_shutdown;
    const char *external_url; /* for nothing yet; kept for symmetry with Prometheus */
} notifier_opts_t;

notifier_t *notifier_new(const notifier_opts_t *opts);
/* Takes the alerting section and the external labels of cfg (copied). */
int notifier_apply_config(notifier_t *n, const config_t *cfg, pl_err_t *err);
int notifier_start(notifier_t *n, pl_err_t *err);
void notifier_stop(notifier_t *n);
void notifier_free(notifier_t *n);
/* Queues alerts (copied); external labels are added and alert_relabel_configs
 * applied. Oldest alerts are dropped when the queue overflows. */
void notifier_send(notifier_t *n, const rules_alert_t *alerts, size_t nalerts, const char *generator_url);
/* The JSON body of POST /api/v2/alerts for these alerts. */
void notifier_alerts_json(strbuf_t *sb, const rules_alert_t *alerts, const char *const *generator_urls, size_t n);
size_t notifier_queue_length(notifier_t *n);
void notifier_write_metrics(notifier_t *n, strbuf_t *sb);
/* The Alertmanager URLs in use (for /api/v1/alertmanagers). */
void notifier_urls(notifier_t *n, strbuf_t *sb_lines);

/* The rules-side notify callback: alerts of a rule, expression expr, to the
 * notifier with Prometheus's generatorURL (external URL + /graph?g0.expr=...). */
typedef struct rules_manager rules_manager_t;

typedef struct rules_manager_opts {
    promql_engine_t *engine;
    queryable_t queryable;
    appendable_t appendable;
    notifier_t *notifier; /* may be NULL */
    const char *external_url;
    int64_t resend_delay_ms, outage_tolerance_ms, for_grace_period_ms;
} rules_manager_opts_t;

rules_manager_t *rules_manager_new(const rules_manager_opts_t *opts);
/* Loads the rule files cfg names and swaps the groups in (starting their
 * threads if the manager runs). On any rule file error nothing changes and
 * err holds the first message. */
int rules_manager_update(rules_manager_t *m, const config_t *cfg, pl_err_t *err);
void rules_manager_start(rules_manager_t *m);
void rules_manager_stop(rules_manager_t *m);
void rules_manager_free(rules_manager_t *m);
void rules_manager_write_metrics(rules_manager_t *m, strbuf_t *sb);

typedef struct rules_filter {
    int type; /* 0 all, 1 alerting only, 2 recording only */
    const char *const *rule_names;
    size_t nrule_names;
    const char *const *rule_groups;
    size_t nrule_groups;
    const char *const *files;
    size_t nfiles;
    bool exclude_alerts;
} rules_filter_t;

/* /api/v1/rules "data" and /api/v1/alerts "data", as Prometheus writes them. */
void rules_manager_write_rules_json(rules_manager_t *m, const rules_filter_t *f, jsonw_t *w);
void rules_manager_write_alerts_json(rules_manager_t *m, jsonw_t *w);
/* The same for one group (tests, tools). */
void rule_group_write_json(rule_group_t *g, const rules_filter_t *f, jsonw_t *w);
void rules_write_alert_json(jsonw_t *w, const rules_alert_t *a);

/* Prometheus's strutil.TableLinkForExpression: "/graph?g0.expr=...&g0.tab=1". */
void rules_table_link(strbuf_t *sb, const char *expr);

#endif
