/* timeutil.h — clocks, and Prometheus's duration, size and time syntaxes.
 * All timestamps in promlab are int64 milliseconds since the Unix epoch,
 * as in Prometheus. */
#ifndef PL_UTIL_TIMEUTIL_H
#define PL_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

int64_t pl_now_ms(void);         /* wall clock */
int64_t pl_monotonic_ns(void);   /* for measuring durations */

/* Prometheus duration ("15d", "1h30m", "500ms", "1y2w", "0"): units y w d h m s ms,
 * each at most once, largest first. Writes milliseconds. */
int pl_parse_duration(const char *s, int64_t *ms_out, pl_err_t *err);
/* Formats ms as Prometheus does ("15d", "1h30m", "0s"). out holds 64 bytes. */
void pl_format_duration(char *out, size_t outsz, int64_t ms);

/* Byte size with Prometheus's base-2 units ("5GB" = 5 GiB; B, KB, MB, GB, TB,
 * PB, EB, also KiB.. forms). "0" means unlimited. */
int pl_parse_size(const char *s, int64_t *bytes_out, pl_err_t *err);

/* API time parameter: a Unix timestamp with optional fraction ("1700000000.5")
 * or RFC 3339 ("2026-11-27T16:54:50.123Z", "+01:00" offsets). Writes ms. */
int pl_parse_time(const char *s, int64_t *ms_out, pl_err_t *err);
/* API duration parameter (step, timeout): a float number of seconds or a
 * Prometheus duration. Writes ms. */
int pl_parse_duration_or_seconds(const char *s, int64_t *ms_out, pl_err_t *err);
/* Formats ms since epoch as RFC 3339 with milliseconds, UTC. out holds 40 bytes. */
void pl_format_rfc3339(char *out, size_t outsz, int64_t ms);

#endif
