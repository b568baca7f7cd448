/* log.h — leveled logging in Prometheus's logfmt style:
 *   time=2026-11-27T16:54:50.123Z level=INFO source=scrape msg="..." key=value
 * or, with --log.format=json, as Prometheus 3's JSON lines:
 *   {"time":"2026-11-27T16:54:50.123Z","level":"INFO","source":"scrape","msg":"...","key":"value"}
 * Thread-safe (one write(2) per line). Level set by --log.level. */
#ifndef PL_UTIL_LOG_H
#define PL_UTIL_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error". Returns -1 on an unknown name. */
int log_parse_level(const char *s, enum log_level *out);
enum log_level log_get_level(void);

/* --log.format: logfmt (the default) or json (one object per line, the
 * logfmt line's keys as members, values as strings). */
enum log_format { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON };
void log_set_format(enum log_format f);
/* Parses "logfmt", "json". Returns -1 on anything else. */
int log_parse_format(const char *s, enum log_format *out);

/* msg is free text; fmt (may be NULL) renders extra logfmt key=value pairs. */
void log_msg(enum log_level level, const char *component, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(c, m, ...) log_msg(LOG_DEBUG, c, m, __VA_ARGS__)
#define log_info(c, m, ...) log_msg(LOG_INFO, c, m, __VA_ARGS__)
#define log_warn(c, m, ...) log_msg(LOG_WARN, c, m, __VA_ARGS__)
#define log_error(c, m, ...) log_msg(LOG_ERROR, c, m, __VA_ARGS__)

#endif
