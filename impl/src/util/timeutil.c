/* timeutil.c — see timeutil.h. */
#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t pl_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pl_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const struct {
    const char *name;
    int64_t ms;
} duration_units[] = {
    {"y", 365LL * 24 * 3600 * 1000}, {"w", 7LL * 24 * 3600 * 1000}, {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},            {"m", 60LL * 1000},            {"s", 1000},
    {"ms", 1},
};
#define N_DURATION_UNITS (sizeof duration_units / sizeof duration_units[0])

int pl_parse_duration(const char *s, int64_t *ms_out, pl_err_t *err) {
    if (!s || !*s) return pl_err_set(err, "empty duration string");
    if (strcmp(s, "0") == 0) return (*ms_out = 0), 0;
    const char *p = s;
    int64_t total = 0;
    int last_unit = -1;
    while (*p) {
        if (!isdigit((unsigned char)*p)) return pl_err_set(err, "not a valid duration string: \"%s\"", s);
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > INT64_MAX / 10) return pl_err_set(err, "duration out of range: \"%s\"", s);
            n = n * 10 + (*p++ - '0');
        }
        int unit = -1;
        /* "ms" must be tried before "m". */
        if (p[0] == 'm' && p[1] == 's') unit = 6;
        else
            for (int i = 0; i < 6; i++)
                if (*p == duration_units[i].name[0]) unit = i;
        if (unit < 0 || unit <= last_unit)
            return pl_err_set(err, "not a valid duration string: \"%s\"", s);
        p += strlen(duration_units[unit].name);
        last_unit = unit;
        if (n > INT64_MAX / duration_units[unit].ms || total > INT64_MAX - n * duration_units[unit].ms)
            return pl_err_set(err, "duration out of range: \"%s\"", s);
        total += n * duration_units[unit].ms;
    }
    *ms_out = total;
    return 0;
}

void pl_format_duration(char *out, size_t outsz, int64_t ms) {
    if (ms == 0) {
        snprintf(out, outsz, "0s");
        return;
    }
    size_t len = 0;
    out[0] = '\0';
    int64_t rest = ms;
    if (rest < 0) {
        len += (size_t)snprintf(out, outsz, "-");
        rest = -rest;
    }
    for (size_t i = 0; i < N_DURATION_UNITS && len < outsz; i++) {
        int64_t n = rest / duration_units[i].ms;
        if (!n) continue;
        rest -= n * duration_units[i].ms;
        len += (size_t)snprintf(out + len, outsz - len, "%lld%s", (long long)n, duration_units[i].name);
    }
}

int pl_parse_size(const char *s, int64_t *bytes_out, pl_err_t *err) {
    if (!s || !*s) return pl_err_set(err, "empty size string");
    if (strcmp(s, "0") == 0) return (*bytes_out = 0), 0;
    const char *p = s;
    int64_t total = 0;
    static const char units[] = "KMGTPE";
    while (*p) {
        if (!isdigit((unsigned char)*p)) return pl_err_set(err, "invalid size \"%s\"", s);
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > INT64_MAX / 10) return pl_err_set(err, "size out of range \"%s\"", s);
            n = n * 10 + (*p++ - '0');
        }
        int64_t mult;
        if (*p == 'B') {
            mult = 1;
            p++;
        } else {
            const char *u = *p ? strchr(units, *p) : NULL;
            if (!u) return pl_err_set(err, "invalid size \"%s\": unit must be one of B, KB, MB, GB, TB, PB, EB", s);
            mult = 1;
            for (const char *q = units; q <= u; q++) mult *= 1024;
            p++;
            if (*p == 'i') p++;
            if (*p != 'B') return pl_err_set(err, "invalid size \"%s\": unit must be one of B, KB, MB, GB, TB, PB, EB", s);
            p++;
        }
        if (n > INT64_MAX / mult || total > INT64_MAX - n * mult)
            return pl_err_set(err, "size out of range \"%s\"", s);
        total += n * mult;
    }
    *bytes_out = total;
    return 0;
}

int pl_parse_time(const char *s, int64_t *ms_out, pl_err_t *err) {
    if (!s || !*s) return pl_err_set(err, "cannot parse \"\" to a valid timestamp");
    char *end;
    errno = 0;
    double f = strtod(s, &end);
    if (*end == '\0' && errno == 0 && isfinite(f)) {
        /* Round to ms as Prometheus does (seconds * 1000, rounded). */
        double ms = round(f * 1000.0);
        if (ms > 9.2e18 || ms < -9.2e18) return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
        *ms_out = (int64_t)ms;
        return 0;
    }
    /* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) */
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p) return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        int64_t scale = 100;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3) frac_ms += (*p - '0') * scale, scale /= 10;
            digits++;
            p++;
        }
        if (!digits) return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2) return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
        offset_s = sign * (hh * 3600 + mm * 60);
        p += 6;
    } else {
        return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
    }
    if (*p) return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
    int64_t secs = (int64_t)timegm(&tm) - offset_s;
    *ms_out = secs * 1000 + frac_ms;
    return 0;
}

int pl_parse_duration_or_seconds(const char *s, int64_t *ms_out, pl_err_t *err) {
    if (!s || !*s) return pl_err_set(err, "cannot parse \"\" to a valid duration");
    char *end;
    errno = 0;
    double f = strtod(s, &end);
    if (*end == '\0' && errno == 0) {
        double ms = round(f * 1000.0);
        if (!isfinite(f) || ms > 9.2e18 || ms < -9.2e18)
            return pl_err_set(err, "cannot parse \"%s\" to a valid duration. It overflows int64", s);
        *ms_out = (int64_t)ms;
        return 0;
    }
    if (pl_parse_duration(s, ms_out, NULL) == 0) return 0;
    return pl_err_set(err, "cannot parse \"%s\" to a valid duration", s);
}

void pl_format_rfc3339(char *out, size_t outsz, int64_t ms) {
    time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)sec * 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outsz, "%s.%03dZ", base, frac);
}
