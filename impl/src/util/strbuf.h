/* strbuf.h — a growable byte buffer, always NUL-terminated.
 *
 * The buffer owns `data`; strbuf_free releases it. Appends abort the process
 * on allocation failure (the only place promlab treats OOM as fatal: a
 * server out of memory cannot answer anyway, and every caller would
 * otherwise carry an error path for each byte it writes). */
#ifndef PL_UTIL_STRBUF_H
#define PL_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strbuf {
    char *data;  /* NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
} strbuf_t;

#define STRBUF_INIT {NULL, 0, 0}

void strbuf_init(strbuf_t *sb);
void strbuf_free(strbuf_t *sb);
void strbuf_reset(strbuf_t *sb); /* len = 0, keeps memory */
void strbuf_reserve(strbuf_t *sb, size_t extra);
void strbuf_append(strbuf_t *sb, const void *data, size_t n);
void strbuf_puts(strbuf_t *sb, const char *s);
void strbuf_putc(strbuf_t *sb, char c);
void strbuf_printf(strbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(strbuf_t *sb, const char *fmt, va_list ap);
/* Appends a float the way Prometheus prints sample values: shortest
 * round-trip form, "NaN", "+Inf", "-Inf". */
void strbuf_put_float(strbuf_t *sb, double v);
/* Detaches and returns the data (caller frees); the buffer is left empty. */
char *strbuf_detach(strbuf_t *sb);

/* Formats v like Go's strconv.FormatFloat(v, 'g', -1, 64) as Prometheus
 * uses it for sample values ("NaN", "+Inf", "-Inf", "1e+06", "0.1").
 * out must hold 400 bytes. Returns the length. */
int pl_format_float(char *out, double v);
/* Formats v as Prometheus's JSON API does: plain decimal unless
 * |v| < 1e-6 or |v| >= 1e21, then exponent form. out holds 400 bytes. */
int pl_format_float_json(char *out, double v);

#endif
