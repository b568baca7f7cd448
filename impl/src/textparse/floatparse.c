/* floatparse.c — numbers as Go's strconv.ParseFloat(s, 64) reads them.
 *
 * Prometheus reads sample values, OpenMetrics timestamps and exemplar values
 * with Go's ParseFloat, so the grammar accepted here is Go's: an optional
 * sign, decimal digits with an optional point and an optional e-exponent, or
 * a 0x hex mantissa with a mandatory p-exponent, or the words Inf, Infinity
 * (either sign) and NaN in any letter case. Digit-separating underscores,
 * which Go allows only after a base prefix, are rejected outright.
 *
 * Two paths:
 *  - a fast path for the values scrapes are made of ("0", "12345", "0.25",
 *    "1.5e-05"): at most 19 significant digits and a power of ten within
 *    +-22, so that mantissa and power are both exact doubles and one IEEE
 *    multiplication or division gives the correctly rounded result
 *    (Clinger's observation);
 *  - everything else is checked against the grammar above and handed to
 *    strtod_l in the "C" locale, which rounds correctly too. The grammar
 *    check comes first because strtod accepts more than Go does ("0x10"
 *    without an exponent, "nan(123)", leading spaces, "infinit"). */
#include "textparse/textparse.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* 10^0 .. 10^22 are exactly representable as doubles. */
static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_hex_digit(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

static bool equal_fold(const char *s, size_t n, const char *word) {
    size_t wl = strlen(word);
    if (n != wl) return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != (unsigned char)word[i]) return false;
    return true;
}

/* Returns 1 and sets *out if s is exactly one of Go's special spellings. */
static int parse_special(const char *s, size_t n, double *out) {
    if (equal_fold(s, n, "nan")) { /* Go takes no sign on NaN */
        *out = NAN;
        return 1;
    }
    double sign = 1;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        sign = s[0] == '-' ? -1 : 1;
        s++, n--;
    }
    if (equal_fold(s, n, "inf") || equal_fold(s, n, "infinity")) {
        *out = sign * INFINITY;
        return 1;
    }
    return 0;
}

/* Checks s against Go's float grammar (specials excluded). */
static bool go_float_syntax(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    bool hex = false;
    if (i + 1 < n && s[i] == '0' && lower((unsigned char)s[i + 1]) == 'x') {
        hex = true;
        i += 2;
    }
    size_t digits = 0;
    bool point = false;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (point) return false;
            point = true;
        } else if (hex ? is_hex_digit(c) : is_digit(c)) {
            digits++;
        } else {
            break;
        }
    }
    if (digits == 0) return false;
    if (i == n) return !hex; /* hex floats need their p exponent */
    unsigned char e = lower((unsigned char)s[i]);
    if (e != (hex ? 'p' : 'e')) return false;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t exp_digits = 0;
    for (; i < n && is_digit((unsigned char)s[i]); i++)
        exp_digits++;
    return exp_digits > 0 && i == n;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* The exact path: grammar check, then strtod in the C locale. */
static int parse_slow(const char *s, size_t n, double *out) {
    if (parse_special(s, n, out)) return 0;
    if (!go_float_syntax(s, n)) return -1;
    /* strtod wants a terminator. Numbers longer than the stack buffer are
     * legal (Go takes any number of digits) but never seen in practice. */
    char stack[128];
    char *buf = n < sizeof stack ? stack : malloc(n + 1);
    if (!buf) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    pthread_once(&c_locale_once, c_locale_init);
    char *end;
    double v = c_locale != (locale_t)0 ? strtod_l(buf, &end, c_locale) : strtod(buf, &end);
    bool whole = end == buf + n;
    if (buf != stack) free(buf);
    if (!whole) return -1;
    /* Go reports overflow (rounding to +-Inf) as an error; underflow to zero
     * or a denormal is not one. */
    if (isinf(v)) return -2;
    *out = v;
    return 0;
}

int textparse_parse_float(const char *s, size_t n, double *out) {
    const char *p = s, *end = s + n;
    bool neg = false;
    if (p < end && (*p == '+' || *p == '-')) {
        neg = *p == '-';
        p++;
    }
    uint64_t mant = 0;
    int sig = 0;   /* significant digits accumulated in mant */
    int exp10 = 0; /* value = mant * 10^exp10 */
    bool any = false;
    for (; p < end && is_digit((unsigned char)*p); p++) {
        any = true;
        if (mant == 0 && *p == '0') continue; /* leading zeros */
        if (sig == 19) return parse_slow(s, n, out);
        mant = mant * 10 + (uint64_t)(*p - '0');
        sig++;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && is_digit((unsigned char)*p); p++) {
            any = true;
            if (mant == 0 && *p == '0') {
                exp10--;
                continue;
            }
            if (sig == 19) return parse_slow(s, n, out);
            mant = mant * 10 + (uint64_t)(*p - '0');
            sig++;
            exp10--;
        }
    }
    if (!any) return parse_slow(s, n, out); /* "Inf", "NaN", "0x..", ".", garbage */
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p == end || !is_digit((unsigned char)*p)) return -1;
        int e = 0;
        for (; p < end && is_digit((unsigned char)*p); p++) {
            if (e > 100000) return parse_slow(s, n, out);
            e = e * 10 + (*p - '0');
        }
        exp10 += eneg ? -e : e;
    }
    if (p != end) return parse_slow(s, n, out); /* "0x1p3" and friends, or garbage */
    if (mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    if (mant > (1ULL << 53) || exp10 < -22 || exp10 > 22) return parse_slow(s, n, out);
    double v = (double)mant;
    v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
    *out = neg ? -v : v;
    return 0;
}
