/* labels.c — see labels.h. */
#include "model/labels.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

static int label_cmp_name(const void *a, const void *b) {
    return strcmp(((const label_t *)a)->name, ((const label_t *)b)->name);
}

void labels_sort(label_t *ls, size_t n) {
    /* Label sets are small: insertion sort beats qsort's call overhead. */
    if (n > 32) {
        qsort(ls, n, sizeof *ls, label_cmp_name);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        label_t x = ls[i];
        size_t j = i;
        while (j > 0 && strcmp(ls[j - 1].name, x.name) > 0) {
            ls[j] = ls[j - 1];
            j--;
        }
        ls[j] = x;
    }
}

int labels_compare(const label_t *a, size_t na, const label_t *b, size_t nb) {
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a[i].name, b[i].name);
        if (c) return c;
        c = strcmp(a[i].value, b[i].value);
        if (c) return c;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
}

bool labels_equal(const label_t *a, size_t na, const label_t *b, size_t nb) {
    return labels_compare(a, na, b, nb) == 0;
}

uint64_t labels_hash(const label_t *ls, size_t n) {
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    static const char sep = (char)0xff;
    for (size_t i = 0; i < n; i++) {
        XXH3_64bits_update(&st, ls[i].name, strlen(ls[i].name));
        XXH3_64bits_update(&st, &sep, 1);
        XXH3_64bits_update(&st, ls[i].value, strlen(ls[i].value));
        XXH3_64bits_update(&st, &sep, 1);
    }
    return XXH3_64bits_digest(&st);
}

const char *labels_get(const label_t *ls, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(ls[i].name, name) == 0) return ls[i].value;
    return NULL;
}

bool labels_has_duplicate(const label_t *ls, size_t n, const char **dup) {
    for (size_t i = 1; i < n; i++)
        if (strcmp(ls[i - 1].name, ls[i].name) == 0) {
            if (dup) *dup = ls[i].name;
            return true;
        }
    return false;
}

static void put_quoted(strbuf_t *sb, const char *v) {
    strbuf_putc(sb, '"');
    for (const char *p = v; *p; p++) {
        switch (*p) {
        case '"': strbuf_puts(sb, "\\\""); break;
        case '\\': strbuf_puts(sb, "\\\\"); break;
        case '\n': strbuf_puts(sb, "\\n"); break;
        default: strbuf_putc(sb, *p);
        }
    }
    strbuf_putc(sb, '"');
}

void labels_format(strbuf_t *sb, const label_t *ls, size_t n) {
    const char *name = labels_get(ls, n, LABEL_METRIC_NAME);
    if (name) strbuf_puts(sb, name);
    strbuf_putc(sb, '{');
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ls[i].name, LABEL_METRIC_NAME) == 0) continue;
        if (!first) strbuf_puts(sb, ", ");
        first = false;
        strbuf_puts(sb, ls[i].name);
        strbuf_putc(sb, '=');
        put_quoted(sb, ls[i].value);
    }
    strbuf_putc(sb, '}');
}

void labels_format_braces(strbuf_t *sb, const label_t *ls, size_t n) {
    strbuf_putc(sb, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) strbuf_puts(sb, ", ");
        strbuf_puts(sb, ls[i].name);
        strbuf_putc(sb, '=');
        put_quoted(sb, ls[i].value);
    }
    strbuf_putc(sb, '}');
}

static bool name_valid(const char *s, size_t n, bool colon) {
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = isalpha(c) || c == '_' || (colon && c == ':') || (i > 0 && isdigit(c));
        if (!ok || c >= 0x80) return false;
    }
    return true;
}

bool label_name_valid(const char *s, size_t n) { return name_valid(s, n, false); }
bool metric_name_valid(const char *s, size_t n) { return name_valid(s, n, true); }

double pl_stale_nan(void) {
    uint64_t bits = PL_STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

bool pl_is_stale_nan(double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits == PL_STALE_NAN_BITS;
}
