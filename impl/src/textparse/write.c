/* write.c — text format 0.0.4 output, as Prometheus's expfmt writes it
 * (for /metrics and /federate), plus the small tables of the module:
 * type names and Content-Type negotiation.
 *
 *   # HELP name help with \\ and \n escaped
 *   # TYPE name counter
 *   name{a="b",c="d"} 1e+06 1700000000000
 *
 * Names that are not legacy-valid (Prometheus 3 UTF-8 names such as
 * "my.metric") are written quoted, the metric name as the first item
 * inside the braces: {"my.metric",a="b"} 1. The text format has no
 * gaugehistogram, info, stateset or unknown, so those types are written as
 * the 0.0.4 type whose samples they resemble (as client_python does). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "textparse/textparse.h"

const char *metric_type_str(enum metric_type t) {
    switch (t) {
    case METRIC_TYPE_UNKNOWN: return "unknown";
    case METRIC_TYPE_COUNTER: return "counter";
    case METRIC_TYPE_GAUGE: return "gauge";
    case METRIC_TYPE_HISTOGRAM: return "histogram";
    case METRIC_TYPE_GAUGE_HISTOGRAM: return "gaugehistogram";
    case METRIC_TYPE_SUMMARY: return "summary";
    case METRIC_TYPE_INFO: return "info";
    case METRIC_TYPE_STATESET: return "stateset";
    case METRIC_TYPE_UNTYPED: return "untyped";
    }
    return "unknown";
}

enum textparse_format textparse_format_from_content_type(const char *content_type) {
    if (!content_type) return TEXTPARSE_PROM;
    const char *s = content_type;
    while (*s == ' ' || *s == '\t')
        s++;
    /* The media type is everything up to ';' or a blank; parameters
     * (version, charset) do not change the parser, as in Prometheus. */
    size_t n = strcspn(s, "; \t");
    static const char om[] = "application/openmetrics-text";
    if (n == sizeof om - 1 && strncasecmp(s, om, n) == 0) return TEXTPARSE_OPENMETRICS;
    return TEXTPARSE_PROM;
}

/* Appends s with backslash, newline and (if quote) double quote escaped. */
static void put_escaped(strbuf_t *sb, const char *s, bool quote) {
    const char *stop = quote ? "\\\n\"" : "\\\n";
    for (;;) {
        size_t run = strcspn(s, stop);
        strbuf_append(sb, s, run);
        s += run;
        if (!*s) return;
        strbuf_putc(sb, '\\');
        strbuf_putc(sb, *s == '\n' ? 'n' : *s);
        s++;
    }
}

static void put_quoted(strbuf_t *sb, const char *s) {
    strbuf_putc(sb, '"');
    put_escaped(sb, s, true);
    strbuf_putc(sb, '"');
}

static void put_meta_name(strbuf_t *sb, const char *name) {
    if (metric_name_valid(name, strlen(name)))
        strbuf_puts(sb, name);
    else
        put_quoted(sb, name);
}

void textparse_write_help(strbuf_t *sb, const char *name, const char *help) {
    strbuf_puts(sb, "# HELP ");
    put_meta_name(sb, name ? name : "");
    strbuf_putc(sb, ' ');
    put_escaped(sb, help ? help : "", false);
    strbuf_putc(sb, '\n');
}

void textparse_write_type(strbuf_t *sb, const char *name, enum metric_type t) {
    const char *word;
    switch (t) {
    case METRIC_TYPE_COUNTER: word = "counter"; break;
    case METRIC_TYPE_GAUGE:
    case METRIC_TYPE_INFO:
    case METRIC_TYPE_STATESET: word = "gauge"; break;
    case METRIC_TYPE_HISTOGRAM:
    case METRIC_TYPE_GAUGE_HISTOGRAM: word = "histogram"; break;
    case METRIC_TYPE_SUMMARY: word = "summary"; break;
    default: word = "untyped"; break;
    }
    strbuf_puts(sb, "# TYPE ");
    put_meta_name(sb, name ? name : "");
    strbuf_putc(sb, ' ');
    strbuf_puts(sb, word);
    strbuf_putc(sb, '\n');
}

void textparse_write_sample(strbuf_t *sb, const char *name, const label_t *ls, size_t n, double v, bool has_ts,
                            int64_t timestamp_ms) {
    if (!name) name = labels_get(ls, n, LABEL_METRIC_NAME);
    if (!name) name = "";
    bool bare_name = metric_name_valid(name, strlen(name));
    bool open = false; /* '{' written */
    if (bare_name) {
        strbuf_puts(sb, name);
    } else {
        strbuf_putc(sb, '{');
        put_quoted(sb, name);
        open = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ls[i].name, LABEL_METRIC_NAME) == 0) continue;
        strbuf_putc(sb, open ? ',' : '{');
        open = true;
        if (label_name_valid(ls[i].name, strlen(ls[i].name)))
            strbuf_puts(sb, ls[i].name);
        else
            put_quoted(sb, ls[i].name);
        strbuf_putc(sb, '=');
        put_quoted(sb, ls[i].value);
    }
    if (open) strbuf_putc(sb, '}');
    char num[400];
    strbuf_putc(sb, ' ');
    strbuf_append(sb, num, (size_t)pl_format_float(num, v));
    if (has_ts) strbuf_printf(sb, " %lld", (long long)timestamp_ms);
    strbuf_putc(sb, '\n');
}
