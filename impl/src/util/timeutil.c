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
        /* Prometheus holds durations in int64 nanoseconds (~292 years). */
        if (total > INT64_MAX / 1000000) return pl_err_set(err, "duration out of range: \"%s\"", s);
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
    uint64_t rest;
    if (ms < 0) {
        len += (size_t)snprintf(out, outsz, "-");
        rest = (uint64_t)0 - (uint64_t)ms;
    } else {
        rest = (uint64_t)ms;
    }
    for (size_t i = 0; i < N_DURATION_UNITS && len < outsz; i++) {
        uint64_t unit = (uint64_t)duration_units[i].ms;
        /* As Prometheus's Duration.String: years and weeks only when they
         * divide the rest exactly ("90d", not "12w6d"). */
        if (i < 2 && rest % unit != 0) continue;
        uint64_t n = rest / unit;
        if (!n) continue;
        rest -= n * unit;
        len += (size_t)snprintf(out + len, outsz - len, "%llu%s", (unsigned long long)n, duration_units[i].name);
    }
}

int pl_parse_size(const char *s, int64_t *bytes_out, pl_err_t *err) {
    if (!s || !*s) return pl_err_set(err, "empty size string");
    if (strcmp(s, "0") == 0) return (*bytes_out = 0), 0;
    const char *p = s;
    unsigned __int128 total = 0;
    static const char units[] = "KMGTPE";
    while (*p) {
        /* [0-9]*(\.[0-9]*)? with at least one digit, as alecthomas/units
         * (Prometheus's parser) reads "1.5GB". */
        if (!isdigit((unsigned char)*p) && *p != '.') return pl_err_set(err, "invalid size \"%s\"", s);
        uint64_t n = 0, frac = 0, frac_scale = 1;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > (uint64_t)INT64_MAX / 10) return pl_err_set(err, "size out of range \"%s\"", s);
            n = n * 10 + (uint64_t)(*p++ - '0');
            digits++;
        }
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) {
                if (frac_scale < 1000000000000000000ULL) frac = frac * 10 + (uint64_t)(*p - '0'), frac_scale *= 10;
                p++;
                digits++;
            }
        }
        if (!digits) return pl_err_set(err, "invalid size \"%s\"", s);
        uint64_t mult;
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
        total += (unsigned __int128)n * mult + (unsigned __int128)frac * mult / frac_scale;
        if (total > (unsigned __int128)INT64_MAX) return pl_err_set(err, "size out of range \"%s\"", s);
    }
    *bytes_out = (int64_t)total;
    return 0;
}

int pl_parse_time(const char *s, int64_t *ms_out, pl_err_t *err) {
    if (!s || !*s) return pl_err_set(err, "cannot parse \"\" to a valid timestamp");
    /* strtod and strptime skip leading blanks; Prometheus's parsers do not. */
    if (isspace((unsigned char)s[0])) return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
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
        /* Exactly ±HH:MM. (The offset must be read digit by digit: a looser
         * scan of "+1:00" used to step past the end of the string.) */
        int sign = *p == '-' ? -1 : 1;
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
            !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
            return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
        int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
        if (hh > 23 || mm > 59) return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
        offset_s = sign * (hh * 3600 + mm * 60);
        p += 6;
    } else {
        return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
    }
    if (*p) return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
    /* strptime takes day 31 in any month and timegm rolls it over; Go's
     * time.Parse refuses such dates, and so do we. */
    struct tm want = tm, got;
    time_t t = timegm(&tm);
    if (!gmtime_r(&t, &got) || got.tm_year != want.tm_year || got.tm_mon != want.tm_mon ||
        got.tm_mday != want.tm_mday || got.tm_hour != want.tm_hour || got.tm_min != want.tm_min ||
        got.tm_sec != want.tm_sec)
        return pl_err_set(err, "cannot parse \"%s\" to a valid timestamp", s);
    int64_t secs = (int64_t)t - offset_s;
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
