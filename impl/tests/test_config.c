/* test_config.c — prometheus.yml loading, validation and rendering. */
#include "testutil.h"

#include <dirent.h>
#include <stdbool.h>

#include "config/config.h"

#define DATA "impl/tests/data/config"

/* ---- helpers ---------------------------------------------------------------- */

static config_t *load_ok(const char *yaml) {
    config_t *c = NULL;
    pl_err_t err = {{0}};
    int rc = config_load_string(yaml, strlen(yaml), "prometheus.yml", &c, &err);
    if (rc != 0) fail_msg("unexpected error: %s\n--- config ---\n%s", err.msg, yaml);
    assert_non_null(c);
    return c;
}

/* Loads yaml expecting failure; the whole message must equal want. */
static void load_err(const char *yaml, const char *want) {
    config_t *c = NULL;
    pl_err_t err = {{0}};
    int rc = config_load_string(yaml, strlen(yaml), "prometheus.yml", &c, &err);
    if (rc == 0) {
        config_free(c);
        fail_msg("expected error %s, config loaded\n--- config ---\n%s", want, yaml);
    }
    assert_null(c);
    assert_string_equal(err.msg, want);
}

static const char *label(const config_labels_t *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0) return l->v[i].value;
    return NULL;
}

static char *render(const config_t *c) {
    strbuf_t sb = STRBUF_INIT;
    config_render_yaml(c, &sb);
    return strbuf_detach(&sb);
}

/* ---- deep comparison, for round trips ------------------------------------------ */

static void assert_str_eq(const char *a, const char *b) {
    if (!a || !b) {
        assert_ptr_equal(a, b);
        return;
    }
    assert_string_equal(a, b);
}

static void assert_strv_eq(char *const *a, size_t na, char *const *b, size_t nb) {
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        assert_string_equal(a[i], b[i]);
}

static void assert_labels_eq(const config_labels_t *a, const config_labels_t *b) {
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->v[i].name, b->v[i].name);
        assert_string_equal(a->v[i].value, b->v[i].value);
    }
}

static void assert_relabels_eq(const relabel_config_t *a, size_t na, const relabel_config_t *b, size_t nb) {
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_strv_eq(a[i].source_labels, a[i].nsource_labels, b[i].source_labels, b[i].nsource_labels);
        assert_str_eq(a[i].separator, b[i].separator);
        assert_str_eq(a[i].regex, b[i].regex);
        /* Whether the regex was written only matters to keepequal/dropequal,
         * which refuse one; the renderer spells out the default elsewhere. */
        if (a[i].action == RELABEL_KEEPEQUAL || a[i].action == RELABEL_DROPEQUAL)
            assert_int_equal(a[i].regex_set, b[i].regex_set);
        assert_int_equal(a[i].modulus, b[i].modulus);
        assert_string_equal(a[i].target_label ? a[i].target_label : "", b[i].target_label ? b[i].target_label : "");
        assert_str_eq(a[i].replacement, b[i].replacement);
        assert_int_equal(a[i].action, b[i].action);
    }
}

static void assert_statics_eq(const static_config_t *a, size_t na, const static_config_t *b, size_t nb) {
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_strv_eq(a[i].targets, a[i].ntargets, b[i].targets, b[i].ntargets);
        assert_labels_eq(&a[i].labels, &b[i].labels);
    }
}

static void assert_file_sds_eq(const file_sd_config_t *a, size_t na, const file_sd_config_t *b, size_t nb) {
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_strv_eq(a[i].files, a[i].nfiles, b[i].files, b[i].nfiles);
        assert_int_equal(a[i].refresh_interval_ms, b[i].refresh_interval_ms);
    }
}

/* Everything but passwords, which render as <secret>. */
static void assert_config_eq(const config_t *a, const config_t *b) {
    assert_int_equal(a->global.scrape_interval_ms, b->global.scrape_interval_ms);
    assert_int_equal(a->global.scrape_timeout_ms, b->global.scrape_timeout_ms);
    assert_int_equal(a->global.evaluation_interval_ms, b->global.evaluation_interval_ms);
    assert_int_equal(a->global.rule_query_offset_ms, b->global.rule_query_offset_ms);
    assert_labels_eq(&a->global.external_labels, &b->global.external_labels);
    assert_int_equal(a->global.sample_limit, b->global.sample_limit);
    assert_int_equal(a->global.label_limit, b->global.label_limit);
    assert_int_equal(a->global.label_name_length_limit, b->global.label_name_length_limit);
    assert_int_equal(a->global.label_value_length_limit, b->global.label_value_length_limit);
    assert_int_equal(a->global.target_limit, b->global.target_limit);
    assert_int_equal(a->global.body_size_limit, b->global.body_size_limit);
    assert_int_equal(a->global.keep_dropped_targets, b->global.keep_dropped_targets);
    assert_str_eq(a->global.query_log_file, b->global.query_log_file);
    assert_strv_eq(a->global.scrape_protocols, a->global.nscrape_protocols, b->global.scrape_protocols,
                   b->global.nscrape_protocols);
    assert_str_eq(a->global.metric_name_validation_scheme, b->global.metric_name_validation_scheme);
    assert_strv_eq(a->rule_files, a->nrule_files, b->rule_files, b->nrule_files);
    assert_int_equal(a->nscrape_configs, b->nscrape_configs);
    for (size_t i = 0; i < a->nscrape_configs; i++) {
        const scrape_config_t *x = &a->scrape_configs[i], *y = &b->scrape_configs[i];
        assert_string_equal(x->job_name, y->job_name);
        assert_int_equal(x->scrape_interval_ms, y->scrape_interval_ms);
        assert_int_equal(x->scrape_timeout_ms, y->scrape_timeout_ms);
        assert_string_equal(x->metrics_path, y->metrics_path);
        assert_string_equal(x->scheme, y->scheme);
        assert_int_equal(x->honor_labels, y->honor_labels);
        assert_int_equal(x->honor_timestamps, y->honor_timestamps);
        assert_int_equal(x->track_timestamps_staleness, y->track_timestamps_staleness);
        assert_int_equal(x->nparams, y->nparams);
        for (size_t j = 0; j < x->nparams; j++) {
            assert_string_equal(x->params[j].name, y->params[j].name);
            assert_strv_eq(x->params[j].values, x->params[j].nvalues, y->params[j].values, y->params[j].nvalues);
        }
        assert_statics_eq(x->static_configs, x->nstatic_configs, y->static_configs, y->nstatic_configs);
        assert_file_sds_eq(x->file_sd_configs, x->nfile_sd_configs, y->file_sd_configs, y->nfile_sd_configs);
        assert_relabels_eq(x->relabel_configs, x->nrelabel_configs, y->relabel_configs, y->nrelabel_configs);
        assert_relabels_eq(x->metric_relabel_configs, x->nmetric_relabel_configs, y->metric_relabel_configs,
                           y->nmetric_relabel_configs);
        assert_int_equal(x->sample_limit, y->sample_limit);
        assert_int_equal(x->label_limit, y->label_limit);
        assert_int_equal(x->label_name_length_limit, y->label_name_length_limit);
        assert_int_equal(x->label_value_length_limit, y->label_value_length_limit);
        assert_int_equal(x->target_limit, y->target_limit);
        assert_int_equal(x->body_size_limit, y->body_size_limit);
        assert_int_equal(x->keep_dropped_targets, y->keep_dropped_targets);
        assert_str_eq(x->basic_auth_username, y->basic_auth_username);
        assert_int_equal(x->basic_auth_password != NULL, y->basic_auth_password != NULL);
        assert_str_eq(x->basic_auth_password_file, y->basic_auth_password_file);
        assert_int_equal(x->enable_compression, y->enable_compression);
        assert_int_equal(x->follow_redirects, y->follow_redirects);
        assert_int_equal(x->enable_http2, y->enable_http2);
        assert_strv_eq(x->scrape_protocols, x->nscrape_protocols, y->scrape_protocols, y->nscrape_protocols);
        assert_str_eq(x->fallback_scrape_protocol, y->fallback_scrape_protocol);
        assert_int_equal(x->always_scrape_classic_histograms, y->always_scrape_classic_histograms);
        assert_int_equal(x->convert_classic_histograms_to_nhcb, y->convert_classic_histograms_to_nhcb);
        assert_str_eq(x->metric_name_validation_scheme, y->metric_name_validation_scheme);
        assert_str_eq(x->metric_name_escaping_scheme, y->metric_name_escaping_scheme);
    }
    assert_int_equal(a->nalertmanagers, b->nalertmanagers);
    for (size_t i = 0; i < a->nalertmanagers; i++) {
        const alertmanager_config_t *x = &a->alertmanagers[i], *y = &b->alertmanagers[i];
        assert_string_equal(x->scheme, y->scheme);
        assert_string_equal(x->path_prefix, y->path_prefix);
        assert_int_equal(x->timeout_ms, y->timeout_ms);
        assert_string_equal(x->api_version, y->api_version);
        assert_statics_eq(x->static_configs, x->nstatic_configs, y->static_configs, y->nstatic_configs);
        assert_file_sds_eq(x->file_sd_configs, x->nfile_sd_configs, y->file_sd_configs, y->nfile_sd_configs);
        assert_relabels_eq(x->relabel_configs, x->nrelabel_configs, y->relabel_configs, y->nrelabel_configs);
        assert_relabels_eq(x->alert_relabel_configs, x->nalert_relabel_configs, y->alert_relabel_configs,
                           y->nalert_relabel_configs);
        assert_str_eq(x->basic_auth_username, y->basic_auth_username);
    }
    assert_relabels_eq(a->alert_relabel_configs, a->nalert_relabel_configs, b->alert_relabel_configs,
                       b->nalert_relabel_configs);
}

/* Renders c, reloads the text, checks the values are the same and that
 * rendering again gives the same text. The rendered paths are already
 * resolved against the original file's directory, so (as with Prometheus's
 * own output) the text is reloaded as a file of the working directory. */
static void assert_round_trip(const config_t *c) {
    char *text = render(c);
    config_t *again = NULL;
    pl_err_t err = {{0}};
    if (config_load_string(text, strlen(text), "rendered.yml", &again, &err) != 0)
        fail_msg("rendered config does not load: %s\n--- rendered ---\n%s", err.msg, text);
    assert_config_eq(c, again);
    char *text2 = render(again);
    assert_string_equal(text, text2);
    free(text2);
    free(text);
    config_free(again);
}

/* ---- defaults and inheritance ----------------------------------------------------- */

static void assert_default_global(const config_t *c) {
    assert_int_equal(c->global.scrape_interval_ms, 60000);
    assert_int_equal(c->global.scrape_timeout_ms, 10000);
    assert_int_equal(c->global.evaluation_interval_ms, 60000);
    assert_int_equal(c->global.rule_query_offset_ms, 0);
    assert_int_equal(c->global.external_labels.n, 0);
    assert_int_equal(c->global.sample_limit, 0);
    assert_int_equal(c->global.body_size_limit, 0);
    assert_null(c->global.query_log_file);
    assert_int_equal(c->global.nscrape_protocols, 0);
    assert_string_equal(c->global.metric_name_validation_scheme, "utf8");
    assert_int_equal(c->nrule_files, 0);
    assert_int_equal(c->nscrape_configs, 0);
    assert_int_equal(c->nalertmanagers, 0);
    assert_int_equal(c->nalert_relabel_configs, 0);
}

static void test_empty_file_is_all_defaults(void **state) {
    (void)state;
    const char *inputs[] = {"",
                            "\n",
                            "# only a comment\n",
                            "---\n",
                            "global:\n",
                            "global: {}\n",
                            "global: ~\n",
                            "scrape_configs:\n",
                            "scrape_configs: []\n",
                            "global:\n  scrape_interval: 0s\n"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        config_t *c = load_ok(inputs[i]);
        assert_default_global(c);
        assert_string_equal(c->filename, "prometheus.yml");
        assert_string_equal(c->source, inputs[i]);
        config_free(c);
    }
}

static void test_global_timeout_follows_short_interval(void **state) {
    (void)state;
    /* Only an interval below 10s: Prometheus lowers the timeout to it. */
    config_t *c = load_ok("global:\n  scrape_interval: 5s\n");
    assert_int_equal(c->global.scrape_interval_ms, 5000);
    assert_int_equal(c->global.scrape_timeout_ms, 5000);
    config_free(c);
    c = load_ok("global:\n  scrape_interval: 15s\n");
    assert_int_equal(c->global.scrape_timeout_ms, 10000);
    config_free(c);
    c = load_ok("global:\n  scrape_interval: 2m\n  scrape_timeout: 1m30s\n  evaluation_interval: 30s\n"
                "  rule_query_offset: 1m\n");
    assert_int_equal(c->global.scrape_interval_ms, 120000);
    assert_int_equal(c->global.scrape_timeout_ms, 90000);
    assert_int_equal(c->global.evaluation_interval_ms, 30000);
    assert_int_equal(c->global.rule_query_offset_ms, 60000);
    config_free(c);
    /* A timeout alone is checked against the default 1m interval. */
    c = load_ok("global:\n  scrape_timeout: 1m\n");
    assert_int_equal(c->global.scrape_interval_ms, 60000);
    assert_int_equal(c->global.scrape_timeout_ms, 60000);
    config_free(c);
    load_err("global:\n  scrape_timeout: 61s\n",
             "prometheus.yml:2:19: global scrape timeout greater than scrape interval");
}

static void test_scrape_config_defaults(void **state) {
    (void)state;
    config_t *c = load_ok("scrape_configs:\n  - job_name: a\n");
    assert_int_equal(c->nscrape_configs, 1);
    const scrape_config_t *s = &c->scrape_configs[0];
    assert_string_equal(s->job_name, "a");
    assert_int_equal(s->line, 2);
    assert_int_equal(s->scrape_interval_ms, 60000);
    assert_int_equal(s->scrape_timeout_ms, 10000);
    assert_string_equal(s->metrics_path, "/metrics");
    assert_string_equal(s->scheme, "http");
    assert_false(s->honor_labels);
    assert_true(s->honor_timestamps);
    assert_false(s->track_timestamps_staleness);
    assert_true(s->enable_compression);
    assert_true(s->follow_redirects);
    assert_true(s->enable_http2);
    assert_int_equal(s->nparams, 0);
    assert_int_equal(s->nstatic_configs, 0);
    assert_int_equal(s->sample_limit, 0);
    assert_int_equal(s->body_size_limit, 0);
    assert_null(s->basic_auth_username);
    assert_null(s->basic_auth_password);
    assert_int_equal(s->nscrape_protocols, 4);
    assert_string_equal(s->scrape_protocols[0], "OpenMetricsText1.0.0");
    assert_string_equal(s->scrape_protocols[3], "PrometheusText0.0.4");
    assert_null(s->fallback_scrape_protocol);
    assert_string_equal(s->metric_name_validation_scheme, "utf8");
    assert_string_equal(s->metric_name_escaping_scheme, "allow-utf-8");
    assert_ptr_equal(config_find_job(c, "a"), s);
    assert_null(config_find_job(c, "b"));
    assert_null(config_find_job(c, NULL));
    config_free(c);
}

static void test_scrape_config_inherits_global(void **state) {
    (void)state;
    config_t *c = load_ok("global:\n"
                          "  scrape_interval: 30s\n"
                          "  scrape_timeout: 20s\n"
                          "  sample_limit: 1000\n"
                          "  label_limit: 64\n"
                          "  label_name_length_limit: 128\n"
                          "  label_value_length_limit: 2048\n"
                          "  target_limit: 50\n"
                          "  keep_dropped_targets: 7\n"
                          "  body_size_limit: 10MB\n"
                          "  scrape_protocols: [PrometheusText0.0.4]\n"
                          "scrape_configs:\n"
                          "  - job_name: inherits\n"
                          "  - job_name: own\n"
                          "    scrape_interval: 1m\n"
                          "    scrape_timeout: 45s\n"
                          "    sample_limit: 5\n"
                          "    label_limit: 6\n"
                          "    body_size_limit: 1KiB\n"
                          "    scrape_protocols: [OpenMetricsText1.0.0, PrometheusProto]\n"
                          "  - job_name: fast\n"
                          "    scrape_interval: 5s\n"
                          "  - job_name: zero_means_inherit\n"
                          "    scrape_interval: 0s\n"
                          "    sample_limit: 0\n");
    const scrape_config_t *s = config_find_job(c, "inherits");
    assert_non_null(s);
    assert_int_equal(s->scrape_interval_ms, 30000);
    assert_int_equal(s->scrape_timeout_ms, 20000);
    assert_int_equal(s->sample_limit, 1000);
    assert_int_equal(s->label_limit, 64);
    assert_int_equal(s->label_name_length_limit, 128);
    assert_int_equal(s->label_value_length_limit, 2048);
    assert_int_equal(s->target_limit, 50);
    assert_int_equal(s->keep_dropped_targets, 7);
    assert_int_equal(s->body_size_limit, 10 * 1024 * 1024);
    assert_int_equal(s->nscrape_protocols, 1);
    assert_string_equal(s->scrape_protocols[0], "PrometheusText0.0.4");

    s = config_find_job(c, "own");
    assert_int_equal(s->scrape_interval_ms, 60000);
    assert_int_equal(s->scrape_timeout_ms, 45000);
    assert_int_equal(s->sample_limit, 5);
    assert_int_equal(s->label_limit, 6);
    assert_int_equal(s->label_name_length_limit, 128);
    assert_int_equal(s->body_size_limit, 1024);
    assert_int_equal(s->nscrape_protocols, 2);
    assert_string_equal(s->scrape_protocols[1], "PrometheusProto");

    /* The global timeout (20s) is capped at the job's shorter interval. */
    s = config_find_job(c, "fast");
    assert_int_equal(s->scrape_interval_ms, 5000);
    assert_int_equal(s->scrape_timeout_ms, 5000);

    s = config_find_job(c, "zero_means_inherit");
    assert_int_equal(s->scrape_interval_ms, 30000);
    assert_int_equal(s->sample_limit, 1000);
    config_free(c);
}

/* ---- the curriculum's configurations ------------------------------------------------ */

static config_t *load_fixture(const char *name) {
    char path[256];
    snprintf(path, sizeof path, DATA "/good/%s", name);
    config_t *c = NULL;
    pl_err_t err = {{0}};
    if (config_load_file(path, &c, &err) != 0) fail_msg("%s: %s", path, err.msg);
    assert_string_equal(c->filename, path);
    return c;
}

static void test_curriculum_phase1(void **state) {
    (void)state;
    config_t *c = load_fixture("phase1.yml");
    assert_int_equal(c->global.scrape_interval_ms, 15000);
    assert_int_equal(c->global.scrape_timeout_ms, 10000);
    assert_int_equal(c->global.evaluation_interval_ms, 60000);
    assert_int_equal(c->nscrape_configs, 2);
    const char *jobs[] = {"prometheus", "node"}, *targets[] = {"prometheus:9090", "node-exporter:9100"};
    for (int i = 0; i < 2; i++) {
        const scrape_config_t *s = &c->scrape_configs[i];
        assert_string_equal(s->job_name, jobs[i]);
        assert_int_equal(s->scrape_interval_ms, 15000);
        assert_int_equal(s->scrape_timeout_ms, 10000);
        assert_string_equal(s->metrics_path, "/metrics");
        assert_int_equal(s->nstatic_configs, 1);
        assert_int_equal(s->static_configs[0].ntargets, 1);
        assert_string_equal(s->static_configs[0].targets[0], targets[i]);
        assert_int_equal(s->static_configs[0].labels.n, 0);
    }
    assert_int_equal(c->scrape_configs[0].line, 5);
    assert_int_equal(c->scrape_configs[1].line, 8);
    assert_round_trip(c);
    config_free(c);
}

static void test_curriculum_phase2_federation(void **state) {
    (void)state;
    config_t *c = load_fixture("phase2.yml");
    assert_int_equal(c->nscrape_configs, 1);
    const scrape_config_t *s = &c->scrape_configs[0];
    assert_string_equal(s->job_name, "federate");
    assert_true(s->honor_labels);
    assert_string_equal(s->metrics_path, "/federate");
    assert_int_equal(s->scrape_interval_ms, 60000);
    assert_int_equal(s->nparams, 1);
    assert_string_equal(s->params[0].name, "match[]");
    assert_int_equal(s->params[0].nvalues, 1);
    assert_string_equal(s->params[0].values[0], "{job=~\".*\"}");
    assert_string_equal(s->static_configs[0].targets[0], "prometheus-secondary:9090");
    assert_round_trip(c);
    config_free(c);

    c = load_fixture("phase2-production.yml");
    assert_int_equal(c->global.scrape_interval_ms, 30000);
    assert_int_equal(c->global.external_labels.n, 2);
    assert_string_equal(c->global.external_labels.v[0].name, "cluster"); /* sorted */
    assert_string_equal(c->global.external_labels.v[0].value, "global");
    assert_string_equal(label(&c->global.external_labels, "replica"), "A");
    s = &c->scrape_configs[0];
    assert_int_equal(s->params[0].nvalues, 2);
    assert_string_equal(s->params[0].values[0], "{job=\"api\"}");
    assert_string_equal(s->params[0].values[1], "{job=\"database\"}");
    assert_int_equal(s->nstatic_configs, 2);
    assert_string_equal(s->static_configs[0].targets[0], "prometheus-prod:9090");
    assert_string_equal(label(&s->static_configs[0].labels, "environment"), "prod");
    assert_string_equal(s->static_configs[1].targets[0], "prometheus-staging:9090");
    assert_string_equal(label(&s->static_configs[1].labels, "environment"), "staging");
    assert_round_trip(c);
    config_free(c);
}

static void test_curriculum_phase4_tuning(void **state) {
    (void)state;
    config_t *c = load_fixture("phase4.yml");
    assert_int_equal(c->global.evaluation_interval_ms, 15000);
    /* Relative rule files are resolved against the config file's directory. */
    assert_int_equal(c->nrule_files, 1);
    assert_string_equal(c->rule_files[0], DATA "/good/recording_rules.yml");
    assert_int_equal(c->nalertmanagers, 1);
    const alertmanager_config_t *a = &c->alertmanagers[0];
    assert_string_equal(a->scheme, "http");
    assert_string_equal(a->path_prefix, "/");
    assert_string_equal(a->api_version, "v2");
    assert_int_equal(a->timeout_ms, 10000);
    assert_string_equal(a->static_configs[0].targets[0], "localhost:9093");
    const scrape_config_t *s = config_find_job(c, "self");
    assert_non_null(s);
    assert_string_equal(s->static_configs[0].targets[0], "localhost:9090");
    assert_int_equal(s->scrape_interval_ms, 15000);
    s = config_find_job(c, "app");
    assert_int_equal(s->sample_limit, 50000);
    assert_int_equal(s->label_limit, 30);
    assert_int_equal(s->nmetric_relabel_configs, 1);
    assert_int_equal(s->metric_relabel_configs[0].action, RELABEL_LABELDROP);
    assert_string_equal(s->metric_relabel_configs[0].regex, "user_id|session_id");
    assert_round_trip(c);
    config_free(c);
}

/* ---- errors, with their positions -------------------------------------------------- */

static void test_errors_have_positions(void **state) {
    (void)state;
    load_err("global:\n  scrape_interval: 1x\n", "prometheus.yml:2:20: not a valid duration string: \"1x\"");
    load_err("global:\n  scrape_interval: \"\"\n", "prometheus.yml:2:20: empty duration string");
    load_err("global:\n  scrape_interval: [1m]\n", "prometheus.yml:2:20: cannot unmarshal !!seq into model.Duration");
    load_err("global:\n  foo: 1\n", "prometheus.yml:2:3: field foo not found in type config.GlobalConfig");
    load_err("scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
             "prometheus.yml:3:5: field scrape_intervall not found in type config.ScrapeConfig");
    load_err(
        "scrape_configs:\n  - job_name: node\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
        "prometheus.yml:4:21: scrape timeout greater than scrape interval for scrape config with job name \"node\"");
    load_err("scrape_configs:\n  - job_name: x\n  - job_name: x\n",
             "prometheus.yml:3:15: found multiple scrape configs with job name \"x\"");
    load_err("scrape_configs:\n  - scheme: https\n", "prometheus.yml:2:5: job_name is empty");
    load_err("scrape_configs:\n  - job_name: ~\n", "prometheus.yml:2:5: job_name is empty");
    load_err("global:\n  external_labels:\n    1bad: x\n", "prometheus.yml:3:5: \"1bad\" is not a valid label name");
    load_err("global:\n  external_labels: [a]\n", "prometheus.yml:2:20: cannot unmarshal !!seq into model.LabelSet");
    load_err("global:\n  external_labels:\n    a: [b]\n",
             "prometheus.yml:3:8: cannot unmarshal !!seq into model.LabelValue");
    load_err("global:\n  scrape_interval: 15s\n   bad: indent\n",
             "prometheus.yml:3:7: yaml: mapping values are not allowed in this context");
    load_err("scrape_configs: [\n",
             "prometheus.yml:2:1: yaml: did not find expected node content (while parsing a flow "
             "node at line 2 column 1)");
    load_err("remote_write: 'unterminated\n",
             "prometheus.yml:2:1: yaml: found unexpected end of stream (while scanning a quoted scalar at line 1 "
             "column 15)");
    load_err("scrape_configs:\n  - job_name: a\n    honor_timestamps: \"true\"\n",
             "prometheus.yml:3:23: cannot unmarshal !!str `true` into bool");
    load_err("global:\n  sample_limit: abc\n", "prometheus.yml:2:17: cannot unmarshal !!str `abc` into uint");
    load_err("global:\n  sample_limit: 1e3\n", "prometheus.yml:2:17: cannot unmarshal !!float `1e3` into uint");
    load_err("global:\n  sample_limit: 99999999999999999999\n",
             "prometheus.yml:2:17: cannot unmarshal !!float `99999999999999999999` into uint");
    load_err("global:\n  body_size_limit: 10XB\n",
             "prometheus.yml:2:20: invalid size \"10XB\": unit must be one of B, KB, MB, GB, TB, PB, EB");
    load_err("scrape_configs:\n  - job_name: a\n    params:\n      x: [a]\n      x: [b]\n",
             "prometheus.yml:5:7: key \"x\" already set in map");
    load_err("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: a:1\n",
             "prometheus.yml:4:18: cannot unmarshal !!str `a:1` into []string");
    load_err("alerting:\n  alertmanagers:\n    - scheme: gopher\n",
             "prometheus.yml:3:15: invalid scheme \"gopher\" for Alertmanager config: must be \"http\" or \"https\"");
    load_err("alerting:\n  alertmanagers:\n    - ~\n", "prometheus.yml:3:7: empty or null Alertmanager config section");
    load_err("alerting:\n  alertmanagers:\n    - relabel_configs: [~]\n",
             "prometheus.yml:3:25: empty or null Alertmanager target relabeling rule");
    load_err("alerting:\n  foo: 1\n", "prometheus.yml:2:3: field foo not found in type config.AlertingConfig");
    load_err("scrape_configs:\n  - job_name: a\n    bearer_token: x\n    bearer_token_file: /f\n",
             "prometheus.yml:2:5: at most one of bearer_token & bearer_token_file must be configured");
    load_err("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    bearer_token: x\n",
             "prometheus.yml:2:5: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be "
             "configured");
    load_err("scrape_configs:\n  - job_name: a\n    tls_config: yes\n",
             "prometheus.yml:3:17: cannot unmarshal !!bool `yes` into config.TLSConfig");
    load_err("scrape_configs:\n  - job_name: a\n    fallback_scrape_protocol: Text\n",
             "prometheus.yml:3:31: invalid fallback_scrape_protocol for scrape config with job name \"a\": unknown "
             "scrape protocol Text, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto "
             "PrometheusText0.0.4 PrometheusText1.0.0]");
    load_err("scrape_configs:\n  - job_name: a\n    scrape_protocols: []\n",
             "prometheus.yml:3:23: scrape_protocols cannot be empty for scrape config with job name \"a\"");
    load_err("global:\n  scrape_protocols: [PrometheusProto, prometheusproto]\n",
             "prometheus.yml:2:39: scrape_protocols: unknown scrape protocol prometheusproto, supported: "
             "[OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0] "
             "for global config");
    load_err("global:\n  scrape_protocols: [PrometheusProto, PrometheusText0.0.4, PrometheusProto]\n",
             "prometheus.yml:2:60: duplicated protocol in scrape_protocols, got [PrometheusProto PrometheusText0.0.4 "
             "PrometheusProto] for global config");
    load_err("scrape_configs:\n  - job_name: a\n    metric_name_validation_scheme: legacy\n"
             "    metric_name_escaping_scheme: allow-utf-8\n",
             "prometheus.yml:4:34: utf8 metric names requested but validation scheme is not set to UTF8");
    load_err("global:\n  metric_name_validation_scheme: ascii\n",
             "prometheus.yml:2:34: unknown global name validation method specified, must be either '', 'legacy' or "
             "'utf8', got ascii");
    load_err("rule_files: rules.yml\n", "prometheus.yml:1:13: cannot unmarshal !!str `rules.yml` into []string");
    load_err("global:\n  external_labels:\n    a: \"x\\0y\"\n",
             "prometheus.yml:3:8: string contains a NUL character, which promlab does not support");
}

/* Every file under data/config/bad/ must be refused with the message its
 * first line announces: "# expect: LINE:COL: message". */
static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_bad_fixtures(void **state) {
    (void)state;
    DIR *d = opendir(DATA "/bad");
    assert_non_null(d);
    char *names[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 256)
        if (strstr(de->d_name, ".yml")) names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_names);
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) {
        char path[512], want[1024];
        snprintf(path, sizeof path, DATA "/bad/%s", names[i]);
        size_t len;
        char *text = pl_test_read_file(path, &len);
        assert_non_null(text);
        const char *tag = "# expect: ";
        if (strncmp(text, tag, strlen(tag)) != 0) fail_msg("%s: first line must be \"# expect: ...\"", path);
        const char *exp = text + strlen(tag);
        const char *eol = strchr(exp, '\n');
        snprintf(want, sizeof want, "%s:%.*s", path, (int)(eol - exp), exp);
        config_t *c = NULL;
        pl_err_t err = {{0}};
        int rc = config_load_file(path, &c, &err);
        if (rc == 0) {
            config_free(c);
            fail_msg("%s: loaded, expected %s", path, want);
        }
        if (strncmp(err.msg, want, strlen(want)) != 0) fail_msg("%s:\n  want %s\n  got  %s", path, want, err.msg);
        free(text);
        free(names[i]);
    }
}

static void test_missing_file(void **state) {
    (void)state;
    config_t *c = (config_t *)1;
    pl_err_t err = {{0}};
    assert_int_equal(config_load_file(DATA "/no-such-file.yml", &c, &err), -1);
    assert_null(c);
    assert_string_equal(err.msg, DATA "/no-such-file.yml: open " DATA "/no-such-file.yml: No such file or directory");
}

/* ---- relabeling rules per action ----------------------------------------------------- */

static void relabel_ok(const char *rule, enum relabel_action want) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - %s\n", rule);
    config_t *c = load_ok(yaml);
    assert_int_equal(c->scrape_configs[0].nrelabel_configs, 1);
    assert_int_equal(c->scrape_configs[0].relabel_configs[0].action, want);
    assert_int_equal(c->scrape_configs[0].relabel_configs[0].line, 4);
    assert_round_trip(c);
    config_free(c);
}

static void relabel_err(const char *rule, const char *want_msg) {
    char yaml[1024], want[1024];
    snprintf(yaml, sizeof yaml, "scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - %s\n", rule);
    snprintf(want, sizeof want, "prometheus.yml:4:9: %s", want_msg);
    load_err(yaml, want);
}

static void test_relabel_defaults(void **state) {
    (void)state;
    config_t *c = load_ok("scrape_configs:\n  - job_name: j\n    relabel_configs:\n"
                          "      - source_labels: [__address__]\n        target_label: instance\n");
    const relabel_config_t *r = &c->scrape_configs[0].relabel_configs[0];
    assert_int_equal(r->action, RELABEL_REPLACE);
    assert_string_equal(r->separator, ";");
    assert_string_equal(r->regex, "(.*)");
    assert_false(r->regex_set);
    assert_string_equal(r->replacement, "$1");
    assert_int_equal(r->modulus, 0);
    assert_int_equal(r->nsource_labels, 1);
    assert_string_equal(r->source_labels[0], "__address__");
    assert_string_equal(r->target_label, "instance");
    config_free(c);
    for (int a = RELABEL_REPLACE; a <= RELABEL_UPPERCASE; a++)
        assert_string_not_equal(relabel_action_str(a), "unknown");
    assert_string_equal(relabel_action_str(RELABEL_KEEPEQUAL), "keepequal");
    assert_string_equal(relabel_action_str((enum relabel_action)99), "unknown");
}

static void test_relabel_actions_valid(void **state) {
    (void)state;
    relabel_ok("{source_labels: [a], target_label: b}", RELABEL_REPLACE);
    relabel_ok("{source_labels: [a], regex: '(.+):\\d+', target_label: '${1}_x', replacement: '$1'}", RELABEL_REPLACE);
    relabel_ok("{source_labels: [a], target_label: 'l_$1', action: Replace}", RELABEL_REPLACE);
    relabel_ok("{source_labels: [a, b], separator: '', regex: 'x.*', action: keep}", RELABEL_KEEP);
    relabel_ok("{source_labels: [__name__], regex: 'go_.*', action: drop}", RELABEL_DROP);
    relabel_ok("{source_labels: [a], target_label: b, action: keepequal}", RELABEL_KEEPEQUAL);
    relabel_ok("{source_labels: [a], target_label: b, action: DropEqual}", RELABEL_DROPEQUAL);
    relabel_ok("{source_labels: [__address__], modulus: 4, target_label: __tmp_hash, action: hashmod}",
               RELABEL_HASHMOD);
    relabel_ok("{regex: '__meta_kubernetes_pod_label_(.+)', action: labelmap}", RELABEL_LABELMAP);
    relabel_ok("{regex: '__meta_(.+)', replacement: 'm_${1}', action: labelmap}", RELABEL_LABELMAP);
    relabel_ok("{regex: 'user_id|session_id', action: labeldrop}", RELABEL_LABELDROP);
    relabel_ok("{source_labels: [a], regex: '[(?=]+\\\\1\\(?=(?P<n>x)?y*?', action: keep}", RELABEL_KEEP);
    relabel_ok("{regex: 'job|instance|__name__', action: labelkeep}", RELABEL_LABELKEEP);
    relabel_ok("{source_labels: [a], target_label: b, action: lowercase}", RELABEL_LOWERCASE);
    relabel_ok("{source_labels: [a], target_label: b, action: uppercase}", RELABEL_UPPERCASE);
}

static void test_relabel_actions_invalid(void **state) {
    (void)state;
    relabel_err("{source_labels: [a]}", "relabel configuration for replace action requires 'target_label' value");
    relabel_err("{source_labels: [a], target_label: 'b-c'}", "\"b-c\" is invalid 'target_label' for replace action");
    relabel_err("{source_labels: [a], target_label: '$'}", "\"$\" is invalid 'target_label' for replace action");
    relabel_err("{source_labels: [a], target_label: '${x'}", "\"${x\" is invalid 'target_label' for replace action");
    relabel_err("{source_labels: [a], action: hashmod, target_label: b}",
                "relabel configuration for hashmod requires non-zero modulus");
    relabel_err("{source_labels: [a], action: hashmod, modulus: 2}",
                "relabel configuration for hashmod action requires 'target_label' value");
    relabel_err("{source_labels: [a], action: hashmod, modulus: 2, target_label: '$1'}",
                "\"$1\" is invalid 'target_label' for hashmod action");
    relabel_err("{source_labels: [a], action: lowercase}",
                "relabel configuration for lowercase action requires 'target_label' value");
    relabel_err("{source_labels: [a], action: uppercase, target_label: '${1}'}",
                "\"${1}\" is invalid 'target_label' for uppercase action");
    relabel_err("{source_labels: [a], action: uppercase, target_label: b, replacement: x}",
                "'replacement' can not be set for uppercase action");
    relabel_err("{source_labels: [a], action: keepequal}",
                "relabel configuration for keepequal action requires 'target_label' value");
    relabel_err("{source_labels: [a], action: keepequal, target_label: b, regex: '(.*)'}",
                "keepequal action requires only 'source_labels' and `target_label`, and no other fields");
    relabel_err("{source_labels: [a], action: dropequal, target_label: b, separator: ','}",
                "dropequal action requires only 'source_labels' and `target_label`, and no other fields");
    relabel_err("{source_labels: [a], action: dropequal, target_label: b, modulus: 3}",
                "dropequal action requires only 'source_labels' and `target_label`, and no other fields");
    relabel_err("{regex: 'a', action: labelmap, replacement: 'x-$1'}",
                "\"x-$1\" is invalid 'replacement' for labelmap action");
    relabel_err("{regex: 'a', action: labeldrop, target_label: b}",
                "labeldrop action requires only 'regex', and no other fields");
    relabel_err("{regex: 'a', action: labelkeep, source_labels: []}",
                "labelkeep action requires only 'regex', and no other fields");
    relabel_err("{regex: 'a', action: labelkeep, separator: ','}",
                "labelkeep action requires only 'regex', and no other fields");
    relabel_err("{regex: 'a', action: labelkeep, replacement: x}",
                "labelkeep action requires only 'regex', and no other fields");
    relabel_err("{regex: 'a', action: labeldrop, modulus: 1}",
                "labeldrop action requires only 'regex', and no other fields");
    relabel_err("{action: ''}", "relabel action cannot be empty");
    relabel_err("{action: ~}", "relabel action cannot be empty");
    load_err("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {targetlabel: x}\n",
             "prometheus.yml:4:10: field targetlabel not found in type relabel.Config");
    /* Positioned at the offending value rather than the rule. */
    load_err("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {action: move}\n",
             "prometheus.yml:4:18: unknown relabel action \"move\"");
    load_err("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {regex: 'a(b', action: drop}\n",
             "prometheus.yml:4:17: error parsing regexp: missing closing parenthesis: `a(b`");
    /* PCRE2 would take these; Prometheus's RE2 does not, so neither do we. */
    load_err("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {regex: 'a(?=b)', action: drop}\n",
             "prometheus.yml:4:17: error parsing regexp: invalid or unsupported Perl syntax: `(?=`");
    load_err("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {regex: '(?<!x)y', action: drop}\n",
             "prometheus.yml:4:17: error parsing regexp: invalid or unsupported Perl syntax: `(?<`");
    load_err("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {regex: '(a)\\1', action: drop}\n",
             "prometheus.yml:4:17: error parsing regexp: invalid escape sequence: `\\1`");
    load_err("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {regex: 'a++', action: drop}\n",
             "prometheus.yml:4:17: error parsing regexp: invalid nested repetition operator: `++`");
    load_err(
        "scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {source_labels: [ok, 'n-o'], action: drop}\n",
        "prometheus.yml:4:30: \"n-o\" is not a valid label name");
    load_err("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {modulus: -1}\n",
             "prometheus.yml:4:19: cannot unmarshal !!int `-1` into uint");
}

static void test_relabel_fields_and_static_targets(void **state) {
    (void)state;
    /* With relabeling, URL-looking targets are allowed (relabeling may fix them). */
    config_t *c = load_ok("scrape_configs:\n  - job_name: blackbox\n    metrics_path: /probe\n"
                          "    params: {module: [http_2xx]}\n"
                          "    static_configs:\n      - targets: ['https://example.org/health']\n"
                          "    relabel_configs:\n"
                          "      - {source_labels: [__address__], target_label: __param_target}\n"
                          "      - {target_label: __address__, replacement: 'localhost:9115'}\n"
                          "    metric_relabel_configs:\n"
                          "      - {source_labels: [__name__, le], separator: '@', regex: 'x@(.*)', modulus: 0,"
                          " target_label: bucket, replacement: 'le_$1'}\n");
    const scrape_config_t *s = &c->scrape_configs[0];
    assert_string_equal(s->static_configs[0].targets[0], "https://example.org/health");
    assert_int_equal(s->nrelabel_configs, 2);
    assert_string_equal(s->relabel_configs[1].replacement, "localhost:9115");
    assert_int_equal(s->relabel_configs[1].nsource_labels, 0);
    const relabel_config_t *m = &s->metric_relabel_configs[0];
    assert_int_equal(m->nsource_labels, 2);
    assert_string_equal(m->source_labels[1], "le");
    assert_string_equal(m->separator, "@");
    assert_string_equal(m->regex, "x@(.*)");
    assert_true(m->regex_set);
    assert_string_equal(m->target_label, "bucket");
    assert_string_equal(m->replacement, "le_$1");
    assert_round_trip(c);
    config_free(c);
}

/* ---- alerting ---------------------------------------------------------------------- */

static void test_alerting(void **state) {
    (void)state;
    config_t *c = load_ok("alerting:\n"
                          "  alert_relabel_configs:\n"
                          "    - {regex: replica, action: labeldrop}\n"
                          "  alertmanagers:\n"
                          "    - scheme: https\n"
                          "      path_prefix: /am\n"
                          "      timeout: 30s\n"
                          "      api_version: v2\n"
                          "      basic_auth: {username: u, password_file: secrets/am}\n"
                          "      tls_config: {insecure_skip_verify: true}\n"
                          "      static_configs:\n"
                          "        - targets: [am1:9093, am2:9093]\n"
                          "      relabel_configs:\n"
                          "        - {source_labels: [__address__], regex: 'am2.*', action: drop}\n"
                          "    - file_sd_configs:\n"
                          "        - files: [am/*.json]\n");
    assert_int_equal(c->nalert_relabel_configs, 1);
    assert_int_equal(c->alert_relabel_configs[0].action, RELABEL_LABELDROP);
    assert_int_equal(c->nalertmanagers, 2);
    const alertmanager_config_t *a = &c->alertmanagers[0];
    assert_string_equal(a->scheme, "https");
    assert_string_equal(a->path_prefix, "/am");
    assert_int_equal(a->timeout_ms, 30000);
    assert_int_equal(a->static_configs[0].ntargets, 2);
    assert_string_equal(a->static_configs[0].targets[1], "am2:9093");
    assert_int_equal(a->nrelabel_configs, 1);
    assert_string_equal(a->basic_auth_username, "u");
    assert_string_equal(a->basic_auth_password_file, "secrets/am");
    assert_int_equal(a->line, 5);
    a = &c->alertmanagers[1];
    assert_string_equal(a->scheme, "http");
    assert_int_equal(a->timeout_ms, 10000);
    assert_int_equal(a->nfile_sd_configs, 1);
    assert_string_equal(a->file_sd_configs[0].files[0], "am/*.json");
    assert_round_trip(c);
    config_free(c);
}

/* ---- paths ---------------------------------------------------------------------------- */

static void test_path_resolution(void **state) {
    (void)state;
    const char *yaml = "global:\n  query_log_file: queries.log\n"
                       "rule_files: [rules.yml, 'rules/*.yml', /abs/r.yml, ../shared/r.yml, ./x/../y.yml]\n"
                       "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password_file: pw}\n"
                       "    file_sd_configs:\n      - files: [targets/*.json, /t.yml]\n        refresh_interval: 30s\n"
                       "      - files: [t.yaml]\n";
    config_t *c = NULL;
    pl_err_t err = {{0}};
    assert_int_equal(config_load_string(yaml, strlen(yaml), "/etc/prometheus/prometheus.yml", &c, &err), 0);
    assert_string_equal(c->global.query_log_file, "/etc/prometheus/queries.log");
    assert_int_equal(c->nrule_files, 5);
    assert_string_equal(c->rule_files[0], "/etc/prometheus/rules.yml");
    assert_string_equal(c->rule_files[1], "/etc/prometheus/rules/*.yml");
    assert_string_equal(c->rule_files[2], "/abs/r.yml");
    assert_string_equal(c->rule_files[3], "/etc/shared/r.yml");
    assert_string_equal(c->rule_files[4], "/etc/prometheus/y.yml");
    const scrape_config_t *s = &c->scrape_configs[0];
    assert_string_equal(s->basic_auth_password_file, "/etc/prometheus/pw");
    assert_string_equal(s->file_sd_configs[0].files[0], "/etc/prometheus/targets/*.json");
    assert_string_equal(s->file_sd_configs[0].files[1], "/t.yml");
    assert_int_equal(s->file_sd_configs[0].refresh_interval_ms, 30000);
    assert_int_equal(s->file_sd_configs[1].refresh_interval_ms, 5 * 60000);
    /* Absolute paths after resolution: rendering and reloading keeps them. */
    assert_round_trip(c);
    config_free(c);

    /* A config named without a directory keeps relative paths relative. */
    c = load_ok("rule_files: [rules.yml, ./r/../s.yml]\n");
    assert_string_equal(c->rule_files[0], "rules.yml");
    assert_string_equal(c->rule_files[1], "s.yml");
    config_free(c);

    struct {
        const char *in, *out;
    } clean[] = {{"", "."},
                 {"a//b/../c/.", "a/c"},
                 {"/../x", "/x"},
                 {"../../a", "../../a"},
                 {"a/../..", ".."},
                 {"./a/", "a"},
                 {"/", "/"},
                 {"//a//", "/a"},
                 {"a/b/..", "a"},
                 {"..", ".."},
                 {"/a/b/../../..", "/"},
                 {"x/./y", "x/y"}};
    for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++) {
        char *got = config_path_clean(clean[i].in);
        assert_string_equal(got, clean[i].out);
        free(got);
    }
    char *j = config_join_dir("/etc/p", "../q/r.yml");
    assert_string_equal(j, "/etc/q/r.yml");
    free(j);
    j = config_join_dir(".", "r.yml");
    assert_string_equal(j, "r.yml");
    free(j);
    j = config_join_dir("/etc", "");
    assert_string_equal(j, "");
    free(j);
}

/* ---- YAML features ---------------------------------------------------------------- */

static void test_yaml_merge_keys(void **state) {
    (void)state;
    load_err("x-defaults: &d {scrape_interval: 10s}\n",
             "prometheus.yml:1:1: field x-defaults not found in type config.Config");
    config_t *c = load_ok("storage:\n  anchors: &base\n    scrape_interval: 30s\n    metrics_path: /m\n"
                          "scrape_configs:\n"
                          "  - <<: *base\n"
                          "    job_name: a\n"
                          "    static_configs: &targets\n"
                          "      - targets: [h1:1, h2:2]\n"
                          "  - <<: [{job_name: merged, honor_labels: on}, *base]\n"
                          "    job_name: b\n"
                          "    metrics_path: /explicit\n"
                          "    static_configs: *targets\n");
    assert_int_equal(c->nscrape_configs, 2);
    const scrape_config_t *a = &c->scrape_configs[0], *b = &c->scrape_configs[1];
    assert_string_equal(a->job_name, "a");
    assert_int_equal(a->scrape_interval_ms, 30000);
    assert_string_equal(a->metrics_path, "/m");
    /* Explicit keys win over merged ones; the first merged mapping wins. */
    assert_string_equal(b->job_name, "b");
    assert_true(b->honor_labels);
    assert_string_equal(b->metrics_path, "/explicit");
    assert_int_equal(b->scrape_interval_ms, 30000);
    assert_int_equal(b->static_configs[0].ntargets, 2);
    assert_string_equal(b->static_configs[0].targets[1], "h2:2");
    assert_round_trip(c);
    config_free(c);
    load_err("scrape_configs:\n  - <<: 5\n    job_name: a\n",
             "prometheus.yml:2:9: map merge requires map or sequence of maps as the value");
    load_err("global: &g\n  <<: *g\n", "prometheus.yml:1:9: yaml: merge keys nest too deeply");
}

static void test_yaml_scalars(void **state) {
    (void)state;
    /* YAML 1.1 booleans and integer forms, as go-yaml v2 reads them. */
    config_t *c = load_ok("global:\n  sample_limit: 0x10\n  label_limit: 1_000\n  target_limit: 0o17\n"
                          "  label_name_length_limit: 010\n  label_value_length_limit: +7\n"
                          "scrape_configs:\n  - job_name: 123\n    honor_labels: yes\n    honor_timestamps: off\n"
                          "    track_timestamps_staleness: True\n    metrics_path: ~\n");
    assert_int_equal(c->global.sample_limit, 16);
    assert_int_equal(c->global.label_limit, 1000);
    assert_int_equal(c->global.target_limit, 15);
    assert_int_equal(c->global.label_name_length_limit, 8);
    assert_int_equal(c->global.label_value_length_limit, 7);
    const scrape_config_t *s = &c->scrape_configs[0];
    assert_string_equal(s->job_name, "123");
    assert_true(s->honor_labels);
    assert_false(s->honor_timestamps);
    assert_true(s->track_timestamps_staleness);
    assert_string_equal(s->metrics_path, ""); /* null is Go's zero value */
    assert_round_trip(c);
    config_free(c);

    struct {
        const char *s, *tag;
    } cases[] = {{"", "!!null"},
                 {"~", "!!null"},
                 {"null", "!!null"},
                 {"NULL", "!!null"},
                 {"yes", "!!bool"},
                 {"Off", "!!bool"},
                 {"y", "!!bool"},
                 {"TRUE", "!!bool"},
                 {"10", "!!int"},
                 {"-10", "!!int"},
                 {"0x1F", "!!int"},
                 {"0b101", "!!int"},
                 {"1_000", "!!int"},
                 {"0o17", "!!int"},
                 {"18446744073709551615", "!!int"},
                 {"08", "!!float"},
                 {"1.5", "!!float"},
                 {".5", "!!float"},
                 {"1e3", "!!float"},
                 {"-.inf", "!!float"},
                 {".NaN", "!!float"},
                 {"1e999", "!!str"},
                 {"2024-01-02", "!!timestamp"},
                 {"localhost:9090", "!!str"},
                 {"15s", "!!str"},
                 {"nulls", "!!str"},
                 {"+", "!!str"},
                 {"0x", "!!str"},
                 {"yes!", "!!str"},
                 {"-", "!!str"},
                 {"1.2.3", "!!str"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = config_yaml_resolve(cases[i].s, strlen(cases[i].s));
        if (strcmp(got, cases[i].tag) != 0) fail_msg("resolve(%s) = %s, want %s", cases[i].s, got, cases[i].tag);
    }
}

static void test_yaml_only_first_document_counts(void **state) {
    (void)state;
    config_t *c = load_ok("global:\n  scrape_interval: 20s\n---\nnot: [even, checked\n");
    assert_int_equal(c->global.scrape_interval_ms, 20000);
    config_free(c);
}

static void test_accepted_sections_and_keys(void **state) {
    (void)state;
    config_t *c = load_ok("global:\n  query_log_file: ''\n  scrape_failure_log_file: f.log\n"
                          "  scrape_native_histograms: false\n"
                          "remote_write:\n  - url: http://thanos-receive:19291/api/v1/receive\n"
                          "remote_read:\n  - url: http://x/read\n"
                          "storage:\n  tsdb:\n    out_of_order_time_window: 30m\n"
                          "tracing: {endpoint: 'localhost:4317'}\n"
                          "otlp: {promote_resource_attributes: [service.name]}\n"
                          "runtime: {gogc: 75}\n"
                          "scrape_config_files: ['jobs/*.yml']\n"
                          "scrape_configs:\n  - job_name: a\n"
                          "    enable_compression: false\n    follow_redirects: false\n    enable_http2: false\n"
                          "    tls_config: {ca_file: ca.pem, insecure_skip_verify: true}\n"
                          "    authorization: {type: Bearer, credentials: t}\n"
                          "    proxy_url: http://proxy:3128\n"
                          "    fallback_scrape_protocol: PrometheusText0.0.4\n"
                          "    scrape_classic_histograms: true\n"
                          "    native_histogram_bucket_limit: 160\n"
                          "    native_histogram_min_bucket_factor: 1.1\n"
                          "    keep_dropped_targets: 100\n"
                          "    metric_name_validation_scheme: legacy\n"
                          "    scrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]\n");
    assert_null(c->global.query_log_file);
    const scrape_config_t *s = &c->scrape_configs[0];
    assert_false(s->enable_compression);
    assert_false(s->follow_redirects);
    assert_false(s->enable_http2);
    assert_string_equal(s->fallback_scrape_protocol, "PrometheusText0.0.4");
    assert_true(s->always_scrape_classic_histograms);
    assert_int_equal(s->keep_dropped_targets, 100);
    assert_string_equal(s->metric_name_validation_scheme, "legacy");
    assert_string_equal(s->metric_name_escaping_scheme, "underscores");
    assert_int_equal(s->nscrape_protocols, 2);
    assert_round_trip(c);
    config_free(c);
}

static void test_external_labels_expand_environment(void **state) {
    (void)state;
    setenv("PL_TEST_REPLICA", "B", 1);
    unsetenv("PL_TEST_UNSET");
    config_t *c = load_ok("global:\n  external_labels:\n    replica: ${PL_TEST_REPLICA}\n"
                          "    host: pre-$PL_TEST_REPLICA-post\n    price: $$5\n    gone: x${PL_TEST_UNSET}y\n"
                          "    plain: a$\n");
    assert_string_equal(label(&c->global.external_labels, "replica"), "B");
    assert_string_equal(label(&c->global.external_labels, "host"), "pre-B-post");
    assert_string_equal(label(&c->global.external_labels, "price"), "$5");
    assert_string_equal(label(&c->global.external_labels, "gone"), "xy");
    assert_string_equal(label(&c->global.external_labels, "plain"), "a$");
    config_free(c);
    unsetenv("PL_TEST_REPLICA");
}

/* ---- rendering ---------------------------------------------------------------------- */

static void test_render_phase1_exactly(void **state) {
    (void)state;
    config_t *c = load_fixture("phase1.yml");
    char *text = render(c);
    assert_string_equal(text, "global:\n"
                              "  scrape_interval: 15s\n"
                              "  scrape_timeout: 10s\n"
                              "  evaluation_interval: 1m\n"
                              "scrape_configs:\n"
                              "- job_name: prometheus\n"
                              "  honor_timestamps: true\n"
                              "  scrape_interval: 15s\n"
                              "  scrape_timeout: 10s\n"
                              "  metrics_path: /metrics\n"
                              "  scheme: http\n"
                              "  follow_redirects: true\n"
                              "  enable_http2: true\n"
                              "  static_configs:\n"
                              "  - targets:\n"
                              "    - prometheus:9090\n"
                              "- job_name: node\n"
                              "  honor_timestamps: true\n"
                              "  scrape_interval: 15s\n"
                              "  scrape_timeout: 10s\n"
                              "  metrics_path: /metrics\n"
                              "  scheme: http\n"
                              "  follow_redirects: true\n"
                              "  enable_http2: true\n"
                              "  static_configs:\n"
                              "  - targets:\n"
                              "    - node-exporter:9100\n");
    free(text);
    config_free(c);
    c = load_ok("");
    text = render(c);
    assert_string_equal(text, "global:\n  scrape_interval: 1m\n  scrape_timeout: 10s\n  evaluation_interval: 1m\n");
    free(text);
    config_free(c);
}

/* render-golden.prometheus.out is what Prometheus 2.42 served at
 * /api/v1/status/config for render-golden.yml (run from that directory). */
static void test_render_matches_prometheus(void **state) {
    (void)state;
    size_t len = 0;
    char *yaml = pl_test_read_file(DATA "/good/render-golden.yml", &len);
    char *want = pl_test_read_file(DATA "/good/render-golden.prometheus.out", NULL);
    assert_non_null(yaml);
    assert_non_null(want);
    config_t *c = NULL;
    pl_err_t err = {{0}};
    if (config_load_string(yaml, len, "render-golden.yml", &c, &err) != 0) fail_msg("%s", err.msg);
    char *text = render(c);
    assert_string_equal(text, want);
    assert_round_trip(c);
    free(text);
    free(want);
    free(yaml);
    config_free(c);
}

/* Keys newer than Prometheus 2.42 appear only when they are not defaults. */
static void test_render_newer_keys_only_when_set(void **state) {
    (void)state;
    config_t *c = load_ok("global:\n  metric_name_validation_scheme: legacy\n"
                          "scrape_configs:\n  - job_name: a\n"
                          "  - job_name: b\n    track_timestamps_staleness: true\n    enable_compression: false\n"
                          "    scrape_protocols: [PrometheusProto]\n    fallback_scrape_protocol: PrometheusText0.0.4\n"
                          "    always_scrape_classic_histograms: true\n    convert_classic_histograms_to_nhcb: true\n"
                          "    metric_name_validation_scheme: utf8\n    metric_name_escaping_scheme: dots\n"
                          "    keep_dropped_targets: 3\n");
    char *text = render(c);
    const char *b = strstr(text, "- job_name: b\n");
    assert_non_null(b);
    const char *a_part_end = b;
    const char *a = strstr(text, "- job_name: a\n");
    assert_non_null(a);
    char *a_text = strndup(a, (size_t)(a_part_end - a));
    assert_null(strstr(a_text, "scrape_protocols"));
    assert_null(strstr(a_text, "track_timestamps_staleness"));
    assert_null(strstr(a_text, "enable_compression"));
    assert_null(strstr(a_text, "metric_name"));
    free(a_text);
    assert_non_null(strstr(text, "  metric_name_validation_scheme: legacy\n"));
    const char *want_b[] = {"  track_timestamps_staleness: true\n",
                            "  scrape_protocols:\n  - PrometheusProto\n",
                            "  fallback_scrape_protocol: PrometheusText0.0.4\n",
                            "  always_scrape_classic_histograms: true\n",
                            "  convert_classic_histograms_to_nhcb: true\n",
                            "  enable_compression: false\n",
                            "  keep_dropped_targets: 3\n",
                            "  metric_name_validation_scheme: utf8\n",
                            "  metric_name_escaping_scheme: dots\n"};
    for (size_t i = 0; i < sizeof want_b / sizeof want_b[0]; i++)
        if (!strstr(b, want_b[i])) fail_msg("job b lacks %s--- rendered ---\n%s", want_b[i], text);
    assert_string_equal(config_find_job(c, "a")->metric_name_escaping_scheme, "underscores");
    assert_round_trip(c);
    free(text);
    config_free(c);
}

static void test_render_sections(void **state) {
    (void)state;
    config_t *c =
        load_ok("global:\n  scrape_interval: 1h30m\n  evaluation_interval: 90d\n"
                "  external_labels: {cluster: eu-1, replica: '1'}\n"
                "  body_size_limit: 1536MB\n  sample_limit: 10\n"
                "rule_files: [a.yml]\n"
                "alerting:\n  alertmanagers:\n    - path_prefix: /am\n      static_configs: [{targets: [am:9093]}]\n"
                "scrape_configs:\n  - job_name: federate\n    honor_labels: true\n"
                "    params: {'match[]': ['{job=~\".*\"}'], b: [x]}\n"
                "    basic_auth: {username: admin, password: hunter2}\n"
                "    relabel_configs:\n      - {source_labels: [a, b], regex: 'true', target_label: c}\n");
    char *text = render(c);
    const char *want[] = {
        "global:\n  scrape_interval: 1h30m\n  scrape_timeout: 10s\n  evaluation_interval: 90d\n",
        "  external_labels:\n    cluster: eu-1\n    replica: \"1\"\n  body_size_limit: 1GiB512MiB\n  sample_limit: "
        "10\n",
        ("alerting:\n  alertmanagers:\n  - follow_redirects: true\n    enable_http2: true\n    scheme: http\n"
         "    path_prefix: /am\n    timeout: 10s\n    api_version: v2\n    static_configs:\n    - targets:\n      - "
         "am:9093\n"
         "rule_files:\n- a.yml\nscrape_configs:\n- job_name: federate\n  honor_labels: true\n"),
        "  params:\n    b:\n    - x\n    match[]:\n    - '{job=~\".*\"}'\n",
        "  body_size_limit: 1GiB512MiB\n  sample_limit: 10\n",
        "  basic_auth:\n    username: admin\n    password: <secret>\n",
        ("  relabel_configs:\n  - source_labels: [a, b]\n    separator: ;\n    regex: \"true\"\n    target_label: c\n"
         "    replacement: $1\n    action: replace\n"),
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i])) fail_msg("rendered config lacks:\n%s\n--- rendered ---\n%s", want[i], text);
    assert_null(strstr(text, "hunter2"));
    /* The secret reads back as the literal placeholder. */
    config_t *again = NULL;
    pl_err_t err = {{0}};
    assert_int_equal(config_load_string(text, strlen(text), "prometheus.yml", &again, &err), 0);
    assert_string_equal(again->scrape_configs[0].basic_auth_password, "<secret>");
    assert_string_equal(c->scrape_configs[0].basic_auth_password, "hunter2");
    config_free(again);
    assert_round_trip(c);
    free(text);
    config_free(c);
}

/* Strings that YAML would read as something else must come back as the same strings. */
static void test_render_quotes_what_needs_quoting(void **state) {
    (void)state;
    const char *values[] = {
        "true",      "no",        "~",          "null",     "",           "10",        "0x1F",
        "1.5",       "1e3",       ".inf",       "1:20",     "2024-01-02", "a: b",      "#hash",
        "- dash",    "{brace}",   "[x]",        "*star",    "&amp",       "!bang",     "|pipe",
        ">gt",       "'single'",  "\"double\"", "%pct",     "@at",        "`tick",     " leading",
        "trailing ", "tab\there", "two\nlines", "ends\n",   "\n",         "ünïcödé ✓", "back\\slash",
        "a #b",      "x:",        "?",          "<secret>", "$1",         "${VAR}"};
    strbuf_t yaml = STRBUF_INIT;
    strbuf_puts(&yaml, "scrape_configs:\n  - job_name: j\n    params:\n      p:\n");
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        strbuf_puts(&yaml, "        - \"");
        for (const char *p = values[i]; *p; p++) {
            if (*p == '\n')
                strbuf_puts(&yaml, "\\n");
            else if (*p == '\t')
                strbuf_puts(&yaml, "\\t");
            else if (*p == '"' || *p == '\\')
                strbuf_putc(&yaml, '\\'), strbuf_putc(&yaml, *p);
            else
                strbuf_putc(&yaml, *p);
        }
        strbuf_puts(&yaml, "\"\n");
    }
    strbuf_puts(&yaml, "    static_configs:\n      - targets: ['10', 'yes']\n        labels: {on: 'off', y: '', "
                       "null_: '~'}\n");
    config_t *c = load_ok(yaml.data);
    const scrape_param_t *p = &c->scrape_configs[0].params[0];
    assert_int_equal(p->nvalues, sizeof values / sizeof values[0]);
    for (size_t i = 0; i < p->nvalues; i++)
        assert_string_equal(p->values[i], values[i]);
    assert_string_equal(label(&c->scrape_configs[0].static_configs[0].labels, "on"), "off");
    assert_round_trip(c);
    char *text = render(c);
    assert_non_null(strstr(text, "    - \"true\"\n"));
    assert_non_null(strstr(text, "    - \"\"\n"));
    assert_non_null(strstr(text, "    - \"1:20\"\n"));
    assert_non_null(strstr(text, "    - ünïcödé ✓\n"));
    assert_non_null(strstr(text, "      \"on\": \"off\"\n"));
    free(text);
    config_free(c);
    strbuf_free(&yaml);
}

static void test_render_long_strings_stay_on_one_line(void **state) {
    (void)state;
    char yaml[600];
    char value[301];
    for (int i = 0; i < 300; i++)
        value[i] = (char)(i % 10 == 9 ? ' ' : 'a' + i % 26);
    value[300] = '\0';
    value[299] = 'z';
    snprintf(yaml, sizeof yaml, "global:\n  external_labels:\n    long: '%s'\n", value);
    config_t *c = load_ok(yaml);
    char *text = render(c);
    char want[400];
    snprintf(want, sizeof want, "    long: %s\n", value);
    assert_non_null(strstr(text, want));
    assert_round_trip(c);
    free(text);
    config_free(c);
}

static void test_render_is_stable_for_every_good_fixture(void **state) {
    (void)state;
    const char *names[] = {"phase1.yml", "phase2.yml", "phase2-production.yml", "phase4.yml", "render-golden.yml"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        config_t *c = load_fixture(names[i]);
        assert_round_trip(c);
        config_free(c);
    }
}

PL_TEST_MAIN(cmocka_unit_test(test_empty_file_is_all_defaults),
             cmocka_unit_test(test_global_timeout_follows_short_interval),
             cmocka_unit_test(test_scrape_config_defaults), cmocka_unit_test(test_scrape_config_inherits_global),
             cmocka_unit_test(test_curriculum_phase1), cmocka_unit_test(test_curriculum_phase2_federation),
             cmocka_unit_test(test_curriculum_phase4_tuning), cmocka_unit_test(test_errors_have_positions),
             cmocka_unit_test(test_bad_fixtures), cmocka_unit_test(test_missing_file),
             cmocka_unit_test(test_relabel_defaults), cmocka_unit_test(test_relabel_actions_valid),
             cmocka_unit_test(test_relabel_actions_invalid), cmocka_unit_test(test_relabel_fields_and_static_targets),
             cmocka_unit_test(test_alerting), cmocka_unit_test(test_path_resolution),
             cmocka_unit_test(test_yaml_merge_keys), cmocka_unit_test(test_yaml_scalars),
             cmocka_unit_test(test_yaml_only_first_document_counts), cmocka_unit_test(test_accepted_sections_and_keys),
             cmocka_unit_test(test_external_labels_expand_environment), cmocka_unit_test(test_render_phase1_exactly),
             cmocka_unit_test(test_render_matches_prometheus), cmocka_unit_test(test_render_newer_keys_only_when_set),
             cmocka_unit_test(test_render_sections), cmocka_unit_test(test_render_quotes_what_needs_quoting),
             cmocka_unit_test(test_render_long_strings_stay_on_one_line),
             cmocka_unit_test(test_render_is_stable_for_every_good_fixture))
