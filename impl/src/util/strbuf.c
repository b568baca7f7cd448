/* strbuf.c — see strbuf.h. */
#include "util/strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf_t *sb) { sb->data = NULL, sb->len = 0, sb->cap = 0; }

void strbuf_free(strbuf_t *sb) {
    free(sb->data);
    strbuf_init(sb);
}

void strbuf_reset(strbuf_t *sb) {
    sb->len = 0;
    if (sb->data) sb->data[0] = '\0';
}

void strbuf_reserve(strbuf_t *sb, size_t extra) {
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap) return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(sb->data, cap);
    if (!p) {
        fprintf(stderr, "promlab: out of memory growing a buffer to %zu bytes\n", cap);
        abort();
    }
    sb->data = p;
    sb->cap = cap;
    sb->data[sb->len] = '\0';
}

void strbuf_append(strbuf_t *sb, const void *data, size_t n) {
    strbuf_reserve(sb, n);
    if (n) memcpy(sb->data + sb->len, data, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void strbuf_puts(strbuf_t *sb, const char *s) { strbuf_append(sb, s, strlen(s)); }

void strbuf_putc(strbuf_t *sb, char c) {
    strbuf_reserve(sb, 1);
    sb->data[sb->len++] = c;
    sb->data[sb->len] = '\0';
}

void strbuf_vprintf(strbuf_t *sb, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    strbuf_reserve(sb, (size_t)n);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void strbuf_printf(strbuf_t *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(sb, fmt, ap);
    va_end(ap);
}

/* Shortest round-trip decimal digits of v (finite, non-zero magnitude ok):
 * fills digits (no dot), returns count, sets *dp = decimal point position
 * (value = 0.d1d2d3... * 10^dp), *neg. */
static int shortest_digits(double v, char *digits, int *dp, int *neg) {
    char tmp[40];
    *neg = signbit(v) ? 1 : 0;
    if (v == 0) {
        digits[0] = '0';
        *dp = 1;
        return 1;
    }
    int prec;
    for (prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    if (prec == 17) snprintf(tmp, sizeof tmp, "%.16e", v);
    int nd = 0;
    char *p = tmp + *neg;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    *dp = exp + 1;
    return nd;
}

static int render_e(char *out, const char *d, int nd, int dp, int neg) {
    int n = 0;
    if (neg) out[n++] = '-';
    out[n++] = d[0];
    if (nd > 1) {
        out[n++] = '.';
        for (int i = 1; i < nd; i++) out[n++] = d[i];
    }
    int exp = dp - 1;
    n += sprintf(out + n, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return n;
}

static int render_f(char *out, const char *d, int nd, int dp, int neg) {
    int n = 0;
    if (neg) out[n++] = '-';
    if (dp <= 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -dp; i++) out[n++] = '0';
        for (int i = 0; i < nd; i++) out[n++] = d[i];
    } else {
        for (int i = 0; i < dp; i++) out[n++] = i < nd ? d[i] : '0';
        if (nd > dp) {
            out[n++] = '.';
            for (int i = dp; i < nd; i++) out[n++] = d[i];
        }
    }
    out[n] = '\0';
    return n;
}

static int special(char *out, double v) {
    if (isnan(v)) return (int)(strcpy(out, "NaN"), 3);
    if (isinf(v)) return (int)(strcpy(out, v > 0 ? "+Inf" : "-Inf"), 4);
    return 0;
}

int pl_format_float(char *out, double v) {
    int n = special(out, v);
    if (n) return n;
    char d[40];
    int dp, neg;
    int nd = shortest_digits(v, d, &dp, &neg);
    int exp = dp - 1;
    int eprec = 6; /* Go's 'g' with shortest precision */
    if (v != 0 && (exp < -4 || exp >= eprec))
        return render_e(out, d, nd, dp, neg);
    return render_f(out, d, nd, dp, neg);
}

int pl_format_float_json(char *out, double v) {
    int n = special(out, v);
    if (n) return n;
    char d[40];
    int dp, neg;
    int nd = shortest_digits(v, d, &dp, &neg);
    double a = fabs(v);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) return render_e(out, d, nd, dp, neg);
    return render_f(out, d, nd, dp, neg);
}

void strbuf_put_float(strbuf_t *sb, double v) {
    char tmp[400];
    int n = pl_format_float(tmp, v);
    strbuf_append(sb, tmp, (size_t)n);
}

char *strbuf_detach(strbuf_t *sb) {
    char *d = sb->data;
    if (!d) d = calloc(1, 1);
    strbuf_init(sb);
    return d;
}
