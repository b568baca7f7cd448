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

#include "util/strbuf.h"

static _Atomic int current_level = LOG_INFO;
static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_set_level(enum log_level level) { atomic_store(&current_level, (int)level); }
enum log_level log_get_level(void) { return (enum log_level)atomic_load(&current_level); }

int log_parse_level(const char *s, enum log_level *out) {
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0) return (*out = (enum log_level)i), 0;
    return -1;
}

void log_msg(enum log_level level, const char *component, const char *msg, const char *fmt, ...) {
    if ((int)level < atomic_load(&current_level)) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    strbuf_t sb = STRBUF_INIT;
    strbuf_printf(&sb, "time=%s.%03dZ level=%s source=%s msg=\"", ts, (int)(tv.tv_usec / 1000),
                  level_names[level], component);
    for (const char *p = msg; *p; p++) {
        if (*p == '"' || *p == '\\') strbuf_putc(&sb, '\\');
        strbuf_putc(&sb, *p == '\n' ? ' ' : *p);
    }
    strbuf_putc(&sb, '"');
    if (fmt && *fmt) {
        strbuf_putc(&sb, ' ');
        va_list ap;
        va_start(ap, fmt);
        strbuf_vprintf(&sb, fmt, ap);
        va_end(ap);
    }
    strbuf_putc(&sb, '\n');
    ssize_t r = write(STDERR_FILENO, sb.data, sb.len);
    (void)r;
    strbuf_free(&sb);
}
