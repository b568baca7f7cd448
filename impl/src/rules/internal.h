/* rules/internal.h — what group.c and alerting.c share: the rule and group
 * structs and a few label-set helpers. Not part of the module's face. */
#ifndef PL_RULES_INTERNAL_H
#define PL_RULES_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "rules/rules.h"
#include "util/summary.h"

#define RULES_RESOLVED_RETENTION_MS (15 * 60 * 1000) /* how long a resolved alert is still sent */

/* An owned label set with its hash (for the previous-evaluation sets). */
typedef struct owned_labels {
    label_t *v; /* names and values malloc'd */
    size_t n;
    uint64_t hash;
} owned_labels_t;

/* One output sample of a rule evaluation: ls is borrowed (the caller's). */
typedef struct out_sample {
    label_t *ls;
    size_t n;
    double v;
} out_sample_t;

/* A growing list of output samples whose label arrays the list owns (the
 * strings are owned by whoever built them; see outvec_own). */
typedef struct outvec {
    out_sample_t *v;
    size_t n, cap;
    char **strs; /* strings owned by the vector */
    size_t nstrs, capstrs;
} outvec_t;

void outvec_add(outvec_t *o, label_t *ls, size_t n, double v); /* takes ls (malloc'd array) */
const char *outvec_own(outvec_t *o, char *s);                   /* takes s; returns it */
void outvec_free(outvec_t *o);

typedef struct rule {
    rule_def_t def;         /* own copy */
    promql_expr_t *expr;    /* parsed def.expr */
    char *query;            /* the expression as Prometheus prints it */
    bool alerting;
    config_labels_t labels; /* group labels + rule labels (rule wins), owned */
    /* status */
    const char *health; /* "ok", "err", "unknown" (static strings) */
    char *last_error;   /* NULL when none */
    int64_t last_eval_ms;
    double eval_seconds;
    /* series written last time, for staleness markers */
    owned_labels_t *prev;
    size_t nprev;
    /* alerting */
    rules_alert_t *alerts;
    size_t nalerts, capalerts;
    bool restored;
} rule_t;

/* Shared duration statistics (summaries of the last 10 minutes). */
typedef struct rules_stats {
    pthread_mutex_t mu;
    pl_summary_t rule_dur, group_dur;
} rules_stats_t;

struct rule_group {
    pthread_mutex_t mu; /* guards everything below except the thread fields */
    char *name, *file;
    int64_t interval_ms, query_offset_ms;
    uint64_t limit;
    rule_t *rules;
    size_t nrules;
    rules_env_t env;
    config_labels_t external_labels; /* owned copy */
    char *external_url;
    char *fingerprint; /* what Equals compares */
    /* status */
    int64_t last_eval_ms;
    double eval_seconds;
    uint64_t last_eval_samples;
    owned_labels_t *stale_pending; /* series of rules that went away in a reload */
    size_t nstale_pending;
    /* counters (carried over by copy_state) */
    uint64_t iterations, missed, evaluations, failures;
    rules_stats_t *stats; /* may be NULL */
    /* thread */
    pthread_t thread;
    bool running;
    bool should_restore;
    pthread_mutex_t run_mu;
    pthread_cond_t run_cv;
    bool stop;
};

/* ---- label helpers (group.c) ---- */
void owned_labels_free(owned_labels_t *o);
int owned_labels_from(owned_labels_t *o, const label_t *ls, size_t n);
void config_labels_free_owned(config_labels_t *l);
int config_labels_copy(config_labels_t *dst, const label_t *src, size_t n);
/* A label array (malloc'd) = src without __name__ (if drop_name), with set[]
 * applied (empty value deletes) and extra set last; sorted. Strings borrowed. */
label_t *labels_build(const label_t *src, size_t n, bool drop_name, const label_t *set, size_t nset,
                      const label_t *extra, size_t nextra, size_t *nout);

/* ---- alerting.c ---- */
/* Evaluates an alerting rule at ts over the query result; appends ALERTS and
 * ALERTS_FOR_STATE samples to out. Returns 0, or -1 with err set (state
 * unchanged except for limit errors, which clear the alerts as Prometheus does). */
int alerting_eval(rule_group_t *g, rule_t *r, const promql_result_t *res, int64_t ts_ms, outvec_t *out,
                  pl_err_t *err);
/* Hands the alerts that need sending to env.notify. */
void alerting_send(rule_group_t *g, rule_t *r, int64_t ts_ms);
void alerting_restore(rule_group_t *g, rule_t *r, int64_t ts_ms);

#endif
