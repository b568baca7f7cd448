/* config_render.c — the effective configuration as YAML (see config.h).
 *
 * This is what /api/v1/status/config returns in data.yaml, and what a Thanos
 * sidecar reads external_labels from, so it must be YAML any parser reads
 * back to the same values. libyaml's emitter writes it: it decides when a
 * string needs quotes for YAML's syntax (a leading "{", ": " inside, ...),
 * exactly as go-yaml does (go-yaml's emitter is a port of it). What the
 * emitter cannot know is that a string like "true", "10" or "~" would be read
 * back as a bool, an int or null: such strings are written double-quoted, as
 * go-yaml does, using the same YAML 1.1 resolution the loader applies.
 *
 * Keys come in the order Prometheus's Go structs declare them, defaults
 * filled in, optional ones left out when unset (Go's omitempty). Durations
 * are written as Prometheus formats them ("1m", "1h30m"), sizes as base-2
 * units ("10MiB"), secrets as <secret>.
 *
 * The shape is that of Prometheus 2.42, the peer the interoperability tests
 * run against (its output for the same file is byte for byte the same, and
 * its promtool accepts ours). Keys that later Prometheus versions added
 * (scrape_protocols, enable_compression, metric_name_validation_scheme, ...)
 * are written only when they differ from their default, so that nothing is
 * lost in a round trip and a 2.42 still reads a configuration that does not
 * use them.
 */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "config/config.h"
#include "util/timeutil.h"

typedef struct emit {
    yaml_emitter_t em;
    bool failed;
} emit_t;

static int write_to_strbuf(void *data, unsigned char *buffer, size_t size) {
    strbuf_append(data, buffer, size);
    return 1;
}

/* The emitter owns the event from here on, whether it succeeds or not. */
static void emit_event(emit_t *e, yaml_event_t *ev) {
    if (e->failed) {
        yaml_event_delete(ev);
        return;
    }
    if (!yaml_emitter_emit(&e->em, ev)) e->failed = true;
}

/* go-yaml also quotes YAML 1.1 base-60 floats ("1:20"), which some parsers
 * still read as numbers: [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)? */
static bool is_base60_float(const char *s) {
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (*p < '0' || *p > '9') return false;
    while ((*p >= '0' && *p <= '9') || *p == '_')
        p++;
    int groups = 0;
    while (*p == ':') {
        p++;
        if (*p < '0' || *p > '9') return false;
        if (*p <= '5' && p[1] >= '0' && p[1] <= '9')
            p += 2;
        else
            p++;
        groups++;
    }
    if (!groups) return false;
    if (*p == '.') {
        p++;
        while ((*p >= '0' && *p <= '9') || *p == '_')
            p++;
    }
    return *p == '\0';
}

/* A string value or key. */
static void str(emit_t *e, const char *s) {
    size_t n = strlen(s);
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
    if (strcmp(config_yaml_resolve(s, n), "!!str") != 0 || is_base60_float(s))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    else if (memchr(s, '\n', n))
        style = YAML_LITERAL_SCALAR_STYLE;
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)YAML_STR_TAG, (yaml_char_t *)s, (int)n, 1, 1, style)) {
        e->failed = true;
        return;
    }
    emit_event(e, &ev);
}

/* A bool or number, written plain. */
static void raw(emit_t *e, const char *s) {
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 0,
                                      YAML_PLAIN_SCALAR_STYLE)) {
        e->failed = true;
        return;
    }
    emit_event(e, &ev);
}

static void map_start(emit_t *e) {
    yaml_event_t ev;
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    emit_event(e, &ev);
}
static void map_end(emit_t *e) {
    yaml_event_t ev;
    yaml_mapping_end_event_initialize(&ev);
    emit_event(e, &ev);
}
static void seq_start(emit_t *e, bool flow) {
    yaml_event_t ev;
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                         flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
    emit_event(e, &ev);
}
static void seq_end(emit_t *e) {
    yaml_event_t ev;
    yaml_sequence_end_event_initialize(&ev);
    emit_event(e, &ev);
}

static void kv_str(emit_t *e, const char *k, const char *v) {
    str(e, k);
    str(e, v ? v : "");
}
static void kv_bool(emit_t *e, const char *k, bool v) {
    str(e, k);
    raw(e, v ? "true" : "false");
}
static void kv_uint(emit_t *e, const char *k, uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    str(e, k);
    raw(e, buf);
}
static void kv_uint_nonzero(emit_t *e, const char *k, uint64_t v) {
    if (v) kv_uint(e, k, v);
}
static void kv_duration(emit_t *e, const char *k, int64_t ms) {
    char buf[64];
    pl_format_duration(buf, sizeof buf, ms);
    kv_str(e, k, buf);
}

/* units.Base2Bytes as Prometheus prints it: "10MiB", "1GiB512MiB", "0B". */
static void format_size(char *out, size_t outsz, int64_t bytes) {
    static const char *const units[] = {"EiB", "PiB", "TiB", "GiB", "MiB", "KiB", "B"};
    if (bytes <= 0) {
        snprintf(out, outsz, "%lldB", (long long)bytes);
        return;
    }
    size_t len = 0;
    out[0] = '\0';
    uint64_t rest = (uint64_t)bytes;
    for (int i = 0; i < 7 && len < outsz; i++) {
        uint64_t unit = 1ULL << (10 * (6 - i));
        uint64_t n = rest / unit;
        if (!n) continue;
        rest -= n * unit;
        len += (size_t)snprintf(out + len, outsz - len, "%llu%s", (unsigned long long)n, units[i]);
    }
}

static void kv_size_nonzero(emit_t *e, const char *k, int64_t bytes) {
    if (!bytes) return;
    char buf[96];
    format_size(buf, sizeof buf, bytes);
    kv_str(e, k, buf);
}

static void str_list(emit_t *e, const char *k, char *const *v, size_t n, bool flow) {
    str(e, k);
    seq_start(e, flow);
    for (size_t i = 0; i < n; i++)
        str(e, v[i]);
    seq_end(e);
}

static void labels(emit_t *e, const char *k, const config_labels_t *l) {
    if (!l->n) return;
    str(e, k);
    map_start(e);
    for (size_t i = 0; i < l->n; i++)
        kv_str(e, l->v[i].name, l->v[i].value);
    map_end(e);
}

static void basic_auth(emit_t *e, const char *user, const char *pass, const char *user_file, const char *pass_file) {
    if (!user && !pass && !user_file && !pass_file) return;
    str(e, "basic_auth");
    map_start(e);
    if (user && *user) kv_str(e, "username", user);
    if (user_file && *user_file) kv_str(e, "username_file", user_file);
    if (pass && *pass) kv_str(e, "password", "<secret>");
    if (pass_file && *pass_file) kv_str(e, "password_file", pass_file);
    map_end(e);
}

static void relabels(emit_t *e, const char *k, const relabel_config_t *v, size_t n) {
    if (!n) return;
    str(e, k);
    seq_start(e, false);
    for (size_t i = 0; i < n; i++) {
        const relabel_config_t *r = &v[i];
        map_start(e);
        if (r->nsource_labels) str_list(e, "source_labels", r->source_labels, r->nsource_labels, true);
        kv_str(e, "separator", r->separator);
        /* keepequal/dropequal refuse any regex, even the default one. */
        bool equal_action = r->action == RELABEL_KEEPEQUAL || r->action == RELABEL_DROPEQUAL;
        if (r->regex_set || !equal_action) kv_str(e, "regex", r->regex);
        kv_uint_nonzero(e, "modulus", r->modulus);
        if (r->target_label && *r->target_label) kv_str(e, "target_label", r->target_label);
        kv_str(e, "replacement", r->replacement);
        kv_str(e, "action", relabel_action_str(r->action));
        map_end(e);
    }
    seq_end(e);
}

static void static_configs(emit_t *e, const static_config_t *v, size_t n) {
    if (!n) return;
    str(e, "static_configs");
    seq_start(e, false);
    for (size_t i = 0; i < n; i++) {
        map_start(e);
        str_list(e, "targets", v[i].targets, v[i].ntargets, false);
        labels(e, "labels", &v[i].labels);
        map_end(e);
    }
    seq_end(e);
}

static void file_sd_configs(emit_t *e, const file_sd_config_t *v, size_t n) {
    if (!n) return;
    str(e, "file_sd_configs");
    seq_start(e, false);
    for (size_t i = 0; i < n; i++) {
        map_start(e);
        str_list(e, "files", v[i].files, v[i].nfiles, false);
        kv_duration(e, "refresh_interval", v[i].refresh_interval_ms);
        map_end(e);
    }
    seq_end(e);
}

static void render_global(emit_t *e, const config_t *c) {
    str(e, "global");
    map_start(e);
    kv_duration(e, "scrape_interval", c->global.scrape_interval_ms);
    kv_duration(e, "scrape_timeout", c->global.scrape_timeout_ms);
    if (c->global.nscrape_protocols)
        str_list(e, "scrape_protocols", c->global.scrape_protocols, c->global.nscrape_protocols, false);
    kv_duration(e, "evaluation_interval", c->global.evaluation_interval_ms);
    if (c->global.rule_query_offset_ms) kv_duration(e, "rule_query_offset", c->global.rule_query_offset_ms);
    if (c->global.query_log_file) kv_str(e, "query_log_file", c->global.query_log_file);
    labels(e, "external_labels", &c->global.external_labels);
    kv_size_nonzero(e, "body_size_limit", c->global.body_size_limit);
    kv_uint_nonzero(e, "sample_limit", c->global.sample_limit);
    kv_uint_nonzero(e, "target_limit", c->global.target_limit);
    kv_uint_nonzero(e, "label_limit", c->global.label_limit);
    kv_uint_nonzero(e, "label_name_length_limit", c->global.label_name_length_limit);
    kv_uint_nonzero(e, "label_value_length_limit", c->global.label_value_length_limit);
    kv_uint_nonzero(e, "keep_dropped_targets", c->global.keep_dropped_targets);
    if (c->global.metric_name_validation_scheme && strcmp(c->global.metric_name_validation_scheme, "utf8") != 0)
        kv_str(e, "metric_name_validation_scheme", c->global.metric_name_validation_scheme);
    if (c->global.convert_classic_histograms_to_nhcb) kv_bool(e, "convert_classic_histograms_to_nhcb", true);
    if (c->global.always_scrape_classic_histograms) kv_bool(e, "always_scrape_classic_histograms", true);
    map_end(e);
}

static void render_alerting(emit_t *e, const config_t *c) {
    if (!c->nalertmanagers && !c->nalert_relabel_configs) return;
    str(e, "alerting");
    map_start(e);
    relabels(e, "alert_relabel_configs", c->alert_relabel_configs, c->nalert_relabel_configs);
    if (c->nalertmanagers) {
        str(e, "alertmanagers");
        seq_start(e, false);
        for (size_t i = 0; i < c->nalertmanagers; i++) {
            const alertmanager_config_t *a = &c->alertmanagers[i];
            map_start(e);
            basic_auth(e, a->basic_auth_username, a->basic_auth_password, a->basic_auth_username_file,
                       a->basic_auth_password_file);
            kv_bool(e, "follow_redirects", a->follow_redirects);
            kv_bool(e, "enable_http2", a->enable_http2);
            kv_str(e, "scheme", a->scheme);
            if (a->path_prefix && strcmp(a->path_prefix, "/") != 0) kv_str(e, "path_prefix", a->path_prefix);
            kv_duration(e, "timeout", a->timeout_ms);
            kv_str(e, "api_version", a->api_version);
            relabels(e, "relabel_configs", a->relabel_configs, a->nrelabel_configs);
            relabels(e, "alert_relabel_configs", a->alert_relabel_configs, a->nalert_relabel_configs);
            file_sd_configs(e, a->file_sd_configs, a->nfile_sd_configs);
            static_configs(e, a->static_configs, a->nstatic_configs);
            map_end(e);
        }
        seq_end(e);
    }
    map_end(e);
}

static bool is_default_protocols(char *const *v, size_t n) {
    static const char *const def[] = {"OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0",
                                      "PrometheusText0.0.4"};
    if (n != 4) return false;
    for (size_t i = 0; i < 4; i++)
        if (strcmp(v[i], def[i]) != 0) return false;
    return true;
}

static void render_scrape_config(emit_t *e, const config_t *c, const scrape_config_t *s) {
    const char *global_validation =
        c->global.metric_name_validation_scheme ? c->global.metric_name_validation_scheme : "utf8";
    const char *validation = s->metric_name_validation_scheme ? s->metric_name_validation_scheme : global_validation;
    map_start(e);
    kv_str(e, "job_name", s->job_name);
    if (s->honor_labels) kv_bool(e, "honor_labels", true);
    kv_bool(e, "honor_timestamps", s->honor_timestamps);
    if (s->track_timestamps_staleness) kv_bool(e, "track_timestamps_staleness", true);
    if (s->nparams) {
        str(e, "params");
        map_start(e);
        for (size_t i = 0; i < s->nparams; i++)
            str_list(e, s->params[i].name, s->params[i].values, s->params[i].nvalues, false);
        map_end(e);
    }
    kv_duration(e, "scrape_interval", s->scrape_interval_ms);
    kv_duration(e, "scrape_timeout", s->scrape_timeout_ms);
    if (s->nscrape_protocols &&
        (c->global.nscrape_protocols || !is_default_protocols(s->scrape_protocols, s->nscrape_protocols)))
        str_list(e, "scrape_protocols", s->scrape_protocols, s->nscrape_protocols, false);
    if (s->fallback_scrape_protocol) kv_str(e, "fallback_scrape_protocol", s->fallback_scrape_protocol);
    if (s->always_scrape_classic_histograms) kv_bool(e, "always_scrape_classic_histograms", true);
    if (s->convert_classic_histograms_to_nhcb) kv_bool(e, "convert_classic_histograms_to_nhcb", true);
    kv_str(e, "metrics_path", s->metrics_path);
    kv_str(e, "scheme", s->scheme);
    if (!s->enable_compression) kv_bool(e, "enable_compression", false);
    kv_size_nonzero(e, "body_size_limit", s->body_size_limit);
    kv_uint_nonzero(e, "sample_limit", s->sample_limit);
    kv_uint_nonzero(e, "target_limit", s->target_limit);
    kv_uint_nonzero(e, "label_limit", s->label_limit);
    kv_uint_nonzero(e, "label_name_length_limit", s->label_name_length_limit);
    kv_uint_nonzero(e, "label_value_length_limit", s->label_value_length_limit);
    kv_uint_nonzero(e, "keep_dropped_targets", s->keep_dropped_targets);
    /* A job without these inherits the global scheme, and derives its
     * escaping from its scheme: write them only where that would differ. */
    if (strcmp(validation, global_validation) != 0) kv_str(e, "metric_name_validation_scheme", validation);
    if (s->metric_name_escaping_scheme &&
        strcmp(s->metric_name_escaping_scheme, strcmp(validation, "legacy") == 0 ? "underscores" : "allow-utf-8") != 0)
        kv_str(e, "metric_name_escaping_scheme", s->metric_name_escaping_scheme);
    basic_auth(e, s->basic_auth_username, s->basic_auth_password, s->basic_auth_username_file,
               s->basic_auth_password_file);
    kv_bool(e, "follow_redirects", s->follow_redirects);
    kv_bool(e, "enable_http2", s->enable_http2);
    relabels(e, "relabel_configs", s->relabel_configs, s->nrelabel_configs);
    relabels(e, "metric_relabel_configs", s->metric_relabel_configs, s->nmetric_relabel_configs);
    /* Service discoveries last, in the order Prometheus registers them. */
    file_sd_configs(e, s->file_sd_configs, s->nfile_sd_configs);
    static_configs(e, s->static_configs, s->nstatic_configs);
    map_end(e);
}

void config_render_yaml(const config_t *c, strbuf_t *sb) {
    size_t start = sb->len;
    emit_t e = {0};
    if (!yaml_emitter_initialize(&e.em)) {
        strbuf_puts(sb, "# error: out of memory rendering the configuration\n");
        return;
    }
    yaml_emitter_set_output(&e.em, write_to_strbuf, sb);
    yaml_emitter_set_unicode(&e.em, 1);
    yaml_emitter_set_width(&e.em, -1); /* never fold long strings */
    yaml_emitter_set_indent(&e.em, 2);

    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    emit_event(&e, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    emit_event(&e, &ev);
    map_start(&e);
    render_global(&e, c);
    render_alerting(&e, c);
    if (c->nrule_files) str_list(&e, "rule_files", c->rule_files, c->nrule_files, false);
    if (c->nscrape_configs) {
        str(&e, "scrape_configs");
        seq_start(&e, false);
        for (size_t i = 0; i < c->nscrape_configs; i++)
            render_scrape_config(&e, c, &c->scrape_configs[i]);
        seq_end(&e);
    }
    map_end(&e);
    yaml_document_end_event_initialize(&ev, 1);
    emit_event(&e, &ev);
    yaml_stream_end_event_initialize(&ev);
    emit_event(&e, &ev);
    if (!e.failed && !yaml_emitter_flush(&e.em)) e.failed = true;
    yaml_emitter_delete(&e.em);
    if (e.failed) {
        sb->len = start;
        if (sb->data) sb->data[start] = '\0';
        strbuf_puts(sb, "# error: could not render the configuration\n");
    }
}
