/* log.c — see log.h. */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/json.h"
#include "util/strbuf.h"

static _Atomic int current_level = LOG_INFO;
static _Atomic int current_format = LOG_FORMAT_LOGFMT;
static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_set_level(enum log_level level) { atomic_store(&current_level, (int)level); }
enum log_level log_get_level(void) { return (enum log_level)atomic_load(&current_level); }
void log_set_format(enum log_format f) { atomic_store(&current_format, (int)f); }

int log_parse_level(const char *s, enum log_level *out) {
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0) return (*out = (enum log_level)i), 0;
    return -1;
}

int log_parse_format(const char *s, enum log_format *out) {
    if (strcmp(s, "logfmt") == 0) return (*out = LOG_FORMAT_LOGFMT), 0;
    if (strcmp(s, "json") == 0) return (*out = LOG_FORMAT_JSON), 0;
    return -1;
}

/* The logfmt pairs in [p, end) as JSON members (",\"k\":\"v\"" each):
 * a value is either "quoted" (with \" and \\ escapes) or runs to the next
 * space. A key without '=' becomes a member with an empty value. */
static void logfmt_to_json(strbuf_t *out, const char *p, const char *end) {
    strbuf_t v = STRBUF_INIT;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        if (p == end) break;
        const char *k = p;
        while (p < end && *p != '=' && *p != ' ')
            p++;
        size_t klen = (size_t)(p - k);
        strbuf_reset(&v);
        if (p < end && *p == '=') {
            p++;
            if (p < end && *p == '"') {
                for (p++; p < end && *p != '"'; p++) {
                    if (*p == '\\' && p + 1 < end) p++;
                    strbuf_putc(&v, *p);
                }
                if (p < end) p++; /* the closing quote */
            } else {
                const char *s = p;
                while (p < end && *p != ' ')
                    p++;
                strbuf_append(&v, s, (size_t)(p - s));
            }
        }
        strbuf_putc(out, ',');
        json_escape(out, k, klen);
        strbuf_putc(out, ':');
        json_escape(out, v.data ? v.data : "", v.len);
    }
    strbuf_free(&v);
}

void log_msg(enum log_level level, const char *component, const char *msg, const char *fmt, ...) {
    if ((int)level < atomic_load(&current_level)) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40], date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts, sizeof ts, "%s.%03dZ", date, (int)(tv.tv_usec / 1000));
    strbuf_t kv = STRBUF_INIT;
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        strbuf_vprintf(&kv, fmt, ap);
        va_end(ap);
    }
    strbuf_t sb = STRBUF_INIT;
    if (atomic_load(&current_format) == LOG_FORMAT_JSON) {
        strbuf_printf(&sb, "{\"time\":\"%s\",\"level\":\"%s\",\"source\":", ts, level_names[level]);
        json_escape(&sb, component, strlen(component));
        strbuf_puts(&sb, ",\"msg\":");
        json_escape(&sb, msg, strlen(msg));
        if (kv.len) logfmt_to_json(&sb, kv.data, kv.data + kv.len);
        strbuf_puts(&sb, "}\n");
    } else {
        strbuf_printf(&sb, "time=%s level=%s source=%s msg=\"", ts, level_names[level], component);
        for (const char *p = msg; *p; p++) {
            if (*p == '"' || *p == '\\') strbuf_putc(&sb, '\\');
            strbuf_putc(&sb, *p == '\n' ? ' ' : *p);
        }
        strbuf_putc(&sb, '"');
        if (kv.len) {
            strbuf_putc(&sb, ' ');
            strbuf_append(&sb, kv.data, kv.len);
        }
        strbuf_putc(&sb, '\n');
    }
    ssize_t r = write(STDERR_FILENO, sb.data, sb.len);
    (void)r;
    strbuf_free(&sb);
    strbuf_free(&kv);
}
