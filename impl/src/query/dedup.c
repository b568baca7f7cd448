/* dedup.c — Thanos's penalty deduplication of replica samples (query.h).
 *
 * The merge walks both replicas with two cursors that only move forward, as
 * Thanos's iterators seek: before each pick, cursor a moves to the first
 * sample at or after lastT + 1 + penA, cursor b to lastT + 1 + penB. Of the
 * two candidates the earlier wins (a on a tie); the loser gets a penalty of
 * twice the step just taken, the winner none. A replica that is merely
 * scraped at other phases never wins (its next sample always lies within
 * the penalty), while a gap in the current replica longer than the penalty
 * lets the other one take over — and then stay, by the same rule. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "query/query.h"

size_t dedup_penalty(const sample_t *a, size_t na, const sample_t *b, size_t nb, bool counter, sample_t *out) {
    size_t ia = 0, ib = 0, n = 0;
    int64_t last_t = INT64_MIN, pen_a = 0, pen_b = 0;
    double last_v = 0, adj_a = 0, adj_b = 0;
    int last_src = -1; /* 0 = a, 1 = b */
    bool aok = na > 0, bok = nb > 0;
    for (;;) {
        /* Seek both cursors (the threshold saturates instead of overflowing). */
        if (aok) {
            int64_t th = last_t == INT64_MIN ? INT64_MIN : last_t + 1 + pen_a;
            while (ia < na && a[ia].t < th) ia++;
            aok = ia < na;
        }
        if (bok) {
            int64_t th = last_t == INT64_MIN ? INT64_MIN : last_t + 1 + pen_b;
            while (ib < nb && b[ib].t < th) ib++;
            bok = ib < nb;
        }
        int src;
        if (!aok && !bok) break;
        if (!aok) {
            src = 1;
            pen_b = 0;
        } else if (!bok) {
            src = 0;
            pen_a = 0;
        } else {
            int64_t ta = a[ia].t, tb = b[ib].t;
            src = ta <= tb ? 0 : 1;
            int64_t t = src == 0 ? ta : tb;
            int64_t pen = last_t != INT64_MIN ? 2 * (t - last_t) : DEDUP_INITIAL_PENALTY_MS;
            if (src == 0) {
                pen_b = pen;
                pen_a = 0;
            } else {
                pen_a = pen;
                pen_b = 0;
            }
        }
        const sample_t *s = src == 0 ? &a[ia] : &b[ib];
        double v = s->v;
        if (counter && !isnan(v)) {
            double *adj = src == 0 ? &adj_a : &adj_b;
            /* A switch to a replica whose counter is behind: lift it. */
            if (last_src >= 0 && src != last_src && v + *adj < last_v) *adj += last_v - (v + *adj);
            v += *adj;
        }
        out[n].t = s->t;
        out[n].v = v;
        n++;
        last_t = s->t;
        if (!isnan(v)) last_v = v;
        last_src = src;
        /* The picked cursor moves past the sample at the next seek (t > last_t). */
    }
    return n;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

bool dedup_is_counter_name(const char *name) {
    return name && (ends_with(name, "_total") || ends_with(name, "_count") || ends_with(name, "_bucket"));
}

bool dedup_is_counter_func(const char *func) {
    return func && (!strcmp(func, "rate") || !strcmp(func, "increase") || !strcmp(func, "irate") ||
                    !strcmp(func, "resets"));
}
