/* codec.c — remote read's messages in and out (see remote_read.h).
 *
 * protobuf-c does the wire encoding; this file converts between its structs
 * and promlab's types, adds the snappy block compression the SAMPLES type
 * and requests use, and the frame layer of STREAMED_XOR_CHUNKS. Decoders
 * never trust a length: snappy's announced size is capped, frame lengths are
 * checked against what is left, and XOR chunks are read by chunkenc's
 * iterator, which stops at malformed bits. */
#include <pthread.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "remote.pb-c.h"
#include "remote/remote_read.h"
#include "tsdb/chunkenc.h"
#include "util/crc32c.h"

/* ---- snappy ---- */

static int snappy_decode(const void *in, size_t len, char **out, size_t *outlen, pl_err_t *err) {
    size_t ulen = 0;
    if (snappy_uncompressed_length(in, len, &ulen) != SNAPPY_OK)
        return pl_err_set(err, "snappy: corrupt input: cannot read the decoded length");
    if (ulen > RR_MAX_DECODED_BYTES)
        return pl_err_set(err, "snappy: decoded length %zu exceeds the limit of %u bytes", ulen,
                          (unsigned)RR_MAX_DECODED_BYTES);
    char *buf = malloc(ulen ? ulen : 1);
    if (!buf) return pl_err_set(err, "out of memory");
    size_t got = ulen;
    if (snappy_uncompress(in, len, buf, &got) != SNAPPY_OK || got != ulen) {
        free(buf);
        return pl_err_set(err, "snappy: corrupt input");
    }
    *out = buf;
    *outlen = ulen;
    return 0;
}

static int snappy_encode(const uint8_t *in, size_t len, strbuf_t *out, pl_err_t *err) {
    size_t max = snappy_max_compressed_length(len);
    strbuf_reserve(out, max);
    size_t clen = max;
    if (snappy_compress((const char *)in, len, out->data + out->len, &clen) != SNAPPY_OK)
        return pl_err_set(err, "snappy: compression failed");
    out->len += clen;
    out->data[out->len] = '\0';
    return 0;
}

/* ---- requests ---- */

static void hints_free(rr_hints_t *h) {
    free(h->func);
    for (size_t i = 0; i < h->ngrouping; i++) free(h->grouping[i]);
    free(h->grouping);
}

void rr_request_free(rr_request_t *r) {
    if (!r) return;
    for (size_t i = 0; r->queries && i < r->nqueries; i++) {
        matchers_free(r->queries[i].matchers, r->queries[i].nmatchers);
        if (r->queries[i].has_hints) hints_free(&r->queries[i].hints);
    }
    free(r->queries);
    free(r->accepted);
    memset(r, 0, sizeof *r);
}

static int convert_query(const Prometheus__Query *pq, size_t qi, rr_query_t *q, pl_err_t *err) {
    q->start_ms = pq->start_timestamp_ms;
    q->end_ms = pq->end_timestamp_ms;
    if (pq->n_matchers) {
        q->matchers = calloc(pq->n_matchers, sizeof *q->matchers);
        if (!q->matchers) return pl_err_set(err, "out of memory");
    }
    for (size_t j = 0; j < pq->n_matchers; j++) {
        const Prometheus__LabelMatcher *pm = pq->matchers[j];
        enum matcher_type t;
        switch ((int)pm->type) {
        case PROMETHEUS__LABEL_MATCHER__TYPE__EQ: t = MATCH_EQUAL; break;
        case PROMETHEUS__LABEL_MATCHER__TYPE__NEQ: t = MATCH_NOT_EQUAL; break;
        case PROMETHEUS__LABEL_MATCHER__TYPE__RE: t = MATCH_REGEX; break;
        case PROMETHEUS__LABEL_MATCHER__TYPE__NRE: t = MATCH_NOT_REGEX; break;
        default: return pl_err_set(err, "query %zu: invalid matcher type %d", qi, (int)pm->type);
        }
        if (matcher_init(&q->matchers[j], t, pm->name ? pm->name : "", pm->value ? pm->value : "", err) < 0)
            return pl_err_prefix(err, "query %zu: matcher %zu", qi, j);
        q->nmatchers = j + 1;
    }
    if (pq->hints) {
        const Prometheus__ReadHints *h = pq->hints;
        q->has_hints = true;
        q->hints.step_ms = h->step_ms;
        q->hints.start_ms = h->start_ms;
        q->hints.end_ms = h->end_ms;
        q->hints.range_ms = h->range_ms;
        q->hints.by = h->by;
        q->hints.func = strdup(h->func ? h->func : "");
        if (!q->hints.func) return pl_err_set(err, "out of memory");
        if (h->n_grouping) {
            q->hints.grouping = calloc(h->n_grouping, sizeof(char *));
            if (!q->hints.grouping) return pl_err_set(err, "out of memory");
            for (size_t g = 0; g < h->n_grouping; g++) {
                q->hints.grouping[g] = strdup(h->grouping[g] ? h->grouping[g] : "");
                if (!q->hints.grouping[g]) return pl_err_set(err, "out of memory");
                q->hints.ngrouping = g + 1;
            }
        }
    }
    return 0;
}

int rr_request_decode(const void *body, size_t len, rr_request_t *out, pl_err_t *err) {
    memset(out, 0, sizeof *out);
    char *raw = NULL;
    size_t rawlen = 0;
    if (snappy_decode(body, len, &raw, &rawlen, err) < 0) return -1;
    Prometheus__ReadRequest *pr = prometheus__read_request__unpack(NULL, rawlen, (const uint8_t *)raw);
    free(raw);
    if (!pr) return pl_err_set(err, "protobuf: cannot decode ReadRequest (malformed message)");
    int rc = 0;
    if (pr->n_queries) {
        out->queries = calloc(pr->n_queries, sizeof *out->queries);
        if (!out->queries) rc = pl_err_set(err, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < pr->n_queries; i++) {
        out->nqueries = i + 1;
        rc = convert_query(pr->queries[i], i, &out->queries[i], err);
    }
    if (rc == 0 && pr->n_accepted_response_types) {
        out->accepted = malloc(pr->n_accepted_response_types * sizeof(int));
        if (!out->accepted) rc = pl_err_set(err, "out of memory");
        else {
            for (size_t i = 0; i < pr->n_accepted_response_types; i++) out->accepted[i] = (int)pr->accepted_response_types[i];
            out->naccepted = pr->n_accepted_response_types;
        }
    }
    prometheus__read_request__free_unpacked(pr, NULL);
    if (rc < 0) rr_request_free(out);
    return rc;
}

int rr_request_encode(const rr_request_t *r, strbuf_t *out, pl_err_t *err) {
    Prometheus__ReadRequest req = PROMETHEUS__READ_REQUEST__INIT;
    size_t nm = 0;
    for (size_t i = 0; i < r->nqueries; i++) nm += r->queries[i].nmatchers;
    Prometheus__Query *qs = calloc(r->nqueries + 1, sizeof *qs);
    Prometheus__Query **qps = calloc(r->nqueries + 1, sizeof *qps);
    Prometheus__ReadHints *hs = calloc(r->nqueries + 1, sizeof *hs);
    Prometheus__LabelMatcher *ms = calloc(nm + 1, sizeof *ms);
    Prometheus__LabelMatcher **mps = calloc(nm + 1, sizeof *mps);
    Prometheus__ReadRequest__ResponseType *acc = calloc(r->naccepted + 1, sizeof *acc);
    int rc = 0;
    if (!qs || !qps || !hs || !ms || !mps || !acc) {
        rc = pl_err_set(err, "out of memory");
        goto out;
    }
    size_t mi = 0;
    for (size_t i = 0; i < r->nqueries; i++) {
        const rr_query_t *q = &r->queries[i];
        prometheus__query__init(&qs[i]);
        qps[i] = &qs[i];
        qs[i].start_timestamp_ms = q->start_ms;
        qs[i].end_timestamp_ms = q->end_ms;
        qs[i].matchers = &mps[mi];
        qs[i].n_matchers = q->nmatchers;
        for (size_t j = 0; j < q->nmatchers; j++, mi++) {
            prometheus__label_matcher__init(&ms[mi]);
            mps[mi] = &ms[mi];
            static const Prometheus__LabelMatcher__Type types[] = {
                PROMETHEUS__LABEL_MATCHER__TYPE__EQ, PROMETHEUS__LABEL_MATCHER__TYPE__NEQ,
                PROMETHEUS__LABEL_MATCHER__TYPE__RE, PROMETHEUS__LABEL_MATCHER__TYPE__NRE};
            ms[mi].type = types[q->matchers[j].type];
            ms[mi].name = q->matchers[j].name;
            ms[mi].value = q->matchers[j].value;
        }
        if (q->has_hints) {
            prometheus__read_hints__init(&hs[i]);
            hs[i].step_ms = q->hints.step_ms;
            hs[i].start_ms = q->hints.start_ms;
            hs[i].end_ms = q->hints.end_ms;
            hs[i].range_ms = q->hints.range_ms;
            hs[i].by = q->hints.by;
            hs[i].func = q->hints.func ? q->hints.func : (char *)"";
            hs[i].grouping = q->hints.grouping;
            hs[i].n_grouping = q->hints.ngrouping;
            qs[i].hints = &hs[i];
        }
    }
    req.queries = qps;
    req.n_queries = r->nqueries;
    for (size_t i = 0; i < r->naccepted; i++) acc[i] = (Prometheus__ReadRequest__ResponseType)r->accepted[i];
    req.accepted_response_types = acc;
    req.n_accepted_response_types = r->naccepted;
    size_t plen = prometheus__read_request__get_packed_size(&req);
    uint8_t *buf = malloc(plen ? plen : 1);
    if (!buf) {
        rc = pl_err_set(err, "out of memory");
        goto out;
    }
    prometheus__read_request__pack(&req, buf);
    rc = snappy_encode(buf, plen, out, err);
    free(buf);
out:
    free(qs);
    free(qps);
    free(hs);
    free(ms);
    free(mps);
    free(acc);
    return rc;
}

int rr_negotiate(const rr_request_t *r, enum rr_response_type *out, pl_err_t *err) {
    if (r->naccepted == 0) {
        *out = RR_SAMPLES;
        return 0;
    }
    for (size_t i = 0; i < r->naccepted; i++) {
        if (r->accepted[i] == RR_SAMPLES || r->accepted[i] == RR_STREAMED_XOR_CHUNKS) {
            *out = (enum rr_response_type)r->accepted[i];
            return 0;
        }
    }
    strbuf_t sb = STRBUF_INIT;
    for (size_t i = 0; i < r->naccepted; i++) strbuf_printf(&sb, "%s%d", i ? " " : "", r->accepted[i]);
    pl_err_set(err, "server does not support any of the requested response types: [%s]; supported: [SAMPLES STREAMED_XOR_CHUNKS]",
               sb.data);
    strbuf_free(&sb);
    return -1;
}

/* ---- SAMPLES writer ---- */

struct rr_samples_writer {
    size_t nqueries;
    Prometheus__TimeSeries ***series; /* per query: array of series (each one malloc block) */
    size_t *nseries, *capseries;
};

rr_samples_writer_t *rr_samples_writer_new(size_t nqueries) {
    rr_samples_writer_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->nqueries = nqueries;
    w->series = calloc(nqueries + 1, sizeof *w->series);
    w->nseries = calloc(nqueries + 1, sizeof *w->nseries);
    w->capseries = calloc(nqueries + 1, sizeof *w->capseries);
    if (!w->series || !w->nseries || !w->capseries) {
        rr_samples_writer_free(w);
        return NULL;
    }
    return w;
}

/* One allocation per series: the TimeSeries, its pointer arrays, the label
 * and sample structs, then the strings. */
int rr_samples_writer_add(rr_samples_writer_t *w, size_t qi, const label_t *ls, size_t n, const sample_t *s,
                          size_t ns) {
    if (qi >= w->nqueries) return -1;
    size_t strbytes = 0;
    for (size_t i = 0; i < n; i++) strbytes += strlen(ls[i].name) + strlen(ls[i].value) + 2;
    size_t size = sizeof(Prometheus__TimeSeries) + n * (sizeof(void *) + sizeof(Prometheus__Label)) +
                  ns * (sizeof(void *) + sizeof(Prometheus__Sample)) + strbytes;
    char *block = malloc(size);
    if (!block) return -1;
    Prometheus__TimeSeries *ts = (Prometheus__TimeSeries *)block;
    prometheus__time_series__init(ts);
    Prometheus__Label **lps = (Prometheus__Label **)(ts + 1);
    Prometheus__Sample **sps = (Prometheus__Sample **)(lps + n);
    Prometheus__Label *lv = (Prometheus__Label *)(sps + ns);
    Prometheus__Sample *sv = (Prometheus__Sample *)(lv + n);
    char *str = (char *)(sv + ns);
    for (size_t i = 0; i < n; i++) {
        prometheus__label__init(&lv[i]);
        size_t a = strlen(ls[i].name) + 1, b = strlen(ls[i].value) + 1;
        memcpy(str, ls[i].name, a);
        lv[i].name = str;
        str += a;
        memcpy(str, ls[i].value, b);
        lv[i].value = str;
        str += b;
        lps[i] = &lv[i];
    }
    for (size_t i = 0; i < ns; i++) {
        prometheus__sample__init(&sv[i]);
        sv[i].timestamp = s[i].t;
        sv[i].value = s[i].v;
        sps[i] = &sv[i];
    }
    ts->labels = lps;
    ts->n_labels = n;
    ts->samples = sps;
    ts->n_samples = ns;
    if (w->nseries[qi] == w->capseries[qi]) {
        size_t nc = w->capseries[qi] ? w->capseries[qi] * 2 : 64;
        Prometheus__TimeSeries **nv = realloc(w->series[qi], nc * sizeof *nv);
        if (!nv) {
            free(block);
            return -1;
        }
        w->series[qi] = nv;
        w->capseries[qi] = nc;
    }
    w->series[qi][w->nseries[qi]++] = ts;
    return 0;
}

int rr_samples_writer_finish(rr_samples_writer_t *w, strbuf_t *out, pl_err_t *err) {
    Prometheus__ReadResponse resp = PROMETHEUS__READ_RESPONSE__INIT;
    Prometheus__QueryResult *res = calloc(w->nqueries + 1, sizeof *res);
    Prometheus__QueryResult **rps = calloc(w->nqueries + 1, sizeof *rps);
    if (!res || !rps) {
        free(res);
        free(rps);
        return pl_err_set(err, "out of memory");
    }
    for (size_t i = 0; i < w->nqueries; i++) {
        prometheus__query_result__init(&res[i]);
        res[i].timeseries = w->series[i];
        res[i].n_timeseries = w->nseries[i];
        rps[i] = &res[i];
    }
    resp.results = rps;
    resp.n_results = w->nqueries;
    size_t plen = prometheus__read_response__get_packed_size(&resp);
    uint8_t *buf = malloc(plen ? plen : 1);
    int rc;
    if (!buf) rc = pl_err_set(err, "out of memory");
    else {
        prometheus__read_response__pack(&resp, buf);
        rc = snappy_encode(buf, plen, out, err);
    }
    free(buf);
    free(res);
    free(rps);
    return rc;
}

void rr_samples_writer_free(rr_samples_writer_t *w) {
    if (!w) return;
    for (size_t i = 0; i < w->nqueries; i++) {
        if (!w->series || !w->nseries) break;
        for (size_t j = 0; j < w->nseries[i]; j++) free(w->series[i][j]);
        free(w->series[i]);
    }
    free(w->series);
    free(w->nseries);
    free(w->capseries);
    free(w);
}

/* ---- STREAMED_XOR_CHUNKS writer ---- */

static void put_uvarint(strbuf_t *sb, uint64_t v) {
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    strbuf_append(sb, b, n);
}

/* Writes one frame: ChunkedReadResponse{[series with chunks[0..nch)], qi}. */
static int write_frame(strbuf_t *out, int64_t qi, Prometheus__Label **lps, size_t n, Prometheus__Chunk **cps,
                       size_t nch, pl_err_t *err) {
    Prometheus__ChunkedSeries cs = PROMETHEUS__CHUNKED_SERIES__INIT;
    cs.labels = lps;
    cs.n_labels = n;
    cs.chunks = cps;
    cs.n_chunks = nch;
    Prometheus__ChunkedSeries *csp = &cs;
    Prometheus__ChunkedReadResponse msg = PROMETHEUS__CHUNKED_READ_RESPONSE__INIT;
    msg.chunked_series = &csp;
    msg.n_chunked_series = 1;
    msg.query_index = qi;
    size_t plen = prometheus__chunked_read_response__get_packed_size(&msg);
    uint8_t *buf = malloc(plen ? plen : 1);
    if (!buf) return pl_err_set(err, "out of memory");
    prometheus__chunked_read_response__pack(&msg, buf);
    put_uvarint(out, plen);
    uint32_t crc = pl_crc32c(0, buf, plen);
    uint8_t be[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
    strbuf_append(out, be, 4);
    strbuf_append(out, buf, plen);
    free(buf);
    return 0;
}

int rr_stream_write_series(strbuf_t *out, int64_t qi, const label_t *ls, size_t n, const sample_t *s, size_t ns,
                           size_t max_frame_bytes, pl_err_t *err) {
    size_t nchunks = (ns + RR_SAMPLES_PER_CHUNK - 1) / RR_SAMPLES_PER_CHUNK;
    Prometheus__Label *lv = calloc(n + 1, sizeof *lv);
    Prometheus__Label **lps = calloc(n + 1, sizeof *lps);
    Prometheus__Chunk *cv = calloc(nchunks + 1, sizeof *cv);
    Prometheus__Chunk **cps = calloc(nchunks + 1, sizeof *cps);
    xor_chunk_t *xc = calloc(nchunks + 1, sizeof *xc);
    int rc = 0, frames = 0;
    if (!lv || !lps || !cv || !cps || !xc) {
        rc = pl_err_set(err, "out of memory");
        goto out;
    }
    size_t label_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        prometheus__label__init(&lv[i]);
        lv[i].name = (char *)ls[i].name;
        lv[i].value = (char *)ls[i].value;
        lps[i] = &lv[i];
        label_bytes += strlen(ls[i].name) + strlen(ls[i].value);
    }
    size_t first = 0; /* first chunk of the frame being filled */
    long left = (long)max_frame_bytes - (long)label_bytes;
    for (size_t c = 0; c < nchunks; c++) {
        if (xor_chunk_init(&xc[c]) < 0) {
            rc = pl_err_set(err, "out of memory");
            goto out;
        }
        size_t lo = c * RR_SAMPLES_PER_CHUNK, hi = lo + RR_SAMPLES_PER_CHUNK;
        if (hi > ns) hi = ns;
        for (size_t i = lo; i < hi; i++)
            if (xor_chunk_append(&xc[c], s[i].t, s[i].v) < 0) {
                rc = pl_err_set(err, "out of memory");
                goto out;
            }
        size_t blen;
        const uint8_t *bytes = xor_chunk_bytes(&xc[c], &blen);
        prometheus__chunk__init(&cv[c]);
        cv[c].min_time_ms = s[lo].t;
        cv[c].max_time_ms = s[hi - 1].t;
        cv[c].type = PROMETHEUS__CHUNK__ENCODING__XOR;
        cv[c].data.data = (uint8_t *)bytes;
        cv[c].data.len = blen;
        cps[c] = &cv[c];
        left -= (long)blen;
        if (left > 0 && c + 1 < nchunks) continue;
        if (write_frame(out, qi, lps, n, &cps[first], c + 1 - first, err) < 0) {
            rc = -1;
            goto out;
        }
        frames++;
        first = c + 1;
        left = (long)max_frame_bytes - (long)label_bytes;
    }
out:
    if (xc)
        for (size_t c = 0; c < nchunks; c++) xor_chunk_free(&xc[c]);
    free(xc);
    free(lv);
    free(lps);
    free(cv);
    free(cps);
    return rc < 0 ? -1 : frames;
}

/* ---- decoding responses ---- */

static int cmp_label(const void *a, const void *b) {
    return strcmp(((const label_t *)a)->name, ((const label_t *)b)->name);
}

static int cmp_sample(const void *a, const void *b) {
    int64_t x = ((const sample_t *)a)->t, y = ((const sample_t *)b)->t;
    return x < y ? -1 : x > y;
}

/* Sorts samples by time (stable for the first of equal timestamps is not
 * needed: replicas within one answer agree) and drops repeated timestamps. */
static size_t sort_dedupe(sample_t *s, size_t n) {
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++) sorted = s[i - 1].t <= s[i].t;
    if (!sorted) qsort(s, n, sizeof *s, cmp_sample);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o && s[o - 1].t == s[i].t) continue;
        s[o++] = s[i];
    }
    return o;
}

int rr_samples_decode(const void *body, size_t len, rr_series_fn fn, void *ctx, pl_err_t *err) {
    char *raw = NULL;
    size_t rawlen = 0;
    if (snappy_decode(body, len, &raw, &rawlen, err) < 0) return -1;
    Prometheus__ReadResponse *pr = prometheus__read_response__unpack(NULL, rawlen, (const uint8_t *)raw);
    free(raw);
    if (!pr) return pl_err_set(err, "protobuf: cannot decode ReadResponse (malformed message)");
    int rc = 0;
    label_t *ls = NULL;
    sample_t *ss = NULL;
    size_t lcap = 0, scap = 0;
    for (size_t q = 0; rc == 0 && q < pr->n_results; q++) {
        const Prometheus__QueryResult *qr = pr->results[q];
        for (size_t i = 0; rc == 0 && i < qr->n_timeseries; i++) {
            const Prometheus__TimeSeries *ts = qr->timeseries[i];
            if (ts->n_labels > lcap) {
                lcap = ts->n_labels;
                label_t *nl = realloc(ls, lcap * sizeof *ls);
                if (!nl) {
                    rc = pl_err_set(err, "out of memory");
                    break;
                }
                ls = nl;
            }
            if (ts->n_samples > scap) {
                scap = ts->n_samples;
                sample_t *ns = realloc(ss, scap * sizeof *ss);
                if (!ns) {
                    rc = pl_err_set(err, "out of memory");
                    break;
                }
                ss = ns;
            }
            for (size_t j = 0; j < ts->n_labels; j++) {
                ls[j].name = ts->labels[j]->name ? ts->labels[j]->name : "";
                ls[j].value = ts->labels[j]->value ? ts->labels[j]->value : "";
            }
            if (ts->n_labels > 1) qsort(ls, ts->n_labels, sizeof *ls, cmp_label);
            for (size_t j = 0; j < ts->n_samples; j++) {
                ss[j].t = ts->samples[j]->timestamp;
                ss[j].v = ts->samples[j]->value;
            }
            size_t ns = sort_dedupe(ss, ts->n_samples);
            rc = fn(ctx, q, ls, ts->n_labels, ss, ns);
        }
    }
    free(ls);
    free(ss);
    prometheus__read_response__free_unpacked(pr, NULL);
    return rc;
}

/* The series being assembled from consecutive frames. */
typedef struct pending {
    bool active;
    size_t qi;
    strbuf_t strs; /* name\0value\0... */
    label_t *ls;
    size_t n, lcap;
    sample_t *s;
    size_t ns, scap;
} pending_t;

static bool pending_same(const pending_t *p, size_t qi, const Prometheus__ChunkedSeries *cs) {
    if (!p->active || p->qi != qi || p->n != cs->n_labels) return false;
    /* Labels arrive sorted from a conforming server; compare as sent, after our sort of p. */
    for (size_t i = 0; i < cs->n_labels; i++) {
        const char *nm = cs->labels[i]->name ? cs->labels[i]->name : "";
        const char *v = labels_get(p->ls, p->n, nm);
        if (!v || strcmp(v, cs->labels[i]->value ? cs->labels[i]->value : "") != 0) return false;
    }
    return true;
}

static int pending_flush(pending_t *p, rr_series_fn fn, void *ctx) {
    if (!p->active) return 0;
    p->active = false;
    size_t ns = sort_dedupe(p->s, p->ns);
    return fn(ctx, p->qi, p->ls, p->n, p->s, ns);
}

static int pending_start(pending_t *p, size_t qi, const Prometheus__ChunkedSeries *cs, pl_err_t *err) {
    strbuf_reset(&p->strs);
    size_t *offs = malloc((cs->n_labels * 2 + 1) * sizeof *offs);
    if (!offs) return pl_err_set(err, "out of memory");
    for (size_t i = 0; i < cs->n_labels; i++) {
        const char *nm = cs->labels[i]->name ? cs->labels[i]->name : "";
        const char *v = cs->labels[i]->value ? cs->labels[i]->value : "";
        offs[2 * i] = p->strs.len;
        strbuf_append(&p->strs, nm, strlen(nm) + 1);
        offs[2 * i + 1] = p->strs.len;
        strbuf_append(&p->strs, v, strlen(v) + 1);
    }
    if (cs->n_labels > p->lcap) {
        label_t *nl = realloc(p->ls, cs->n_labels * sizeof *nl);
        if (!nl) {
            free(offs);
            return pl_err_set(err, "out of memory");
        }
        p->ls = nl;
        p->lcap = cs->n_labels;
    }
    for (size_t i = 0; i < cs->n_labels; i++) {
        p->ls[i].name = p->strs.data + offs[2 * i];
        p->ls[i].value = p->strs.data + offs[2 * i + 1];
    }
    free(offs);
    p->n = cs->n_labels;
    if (p->n > 1) qsort(p->ls, p->n, sizeof *p->ls, cmp_label);
    p->qi = qi;
    p->ns = 0;
    p->active = true;
    return 0;
}

static int pending_add_chunk(pending_t *p, const Prometheus__Chunk *c, size_t frame, pl_err_t *err) {
    if ((int)c->type != PROMETHEUS__CHUNK__ENCODING__XOR)
        return pl_err_set(err, "frame %zu: chunk encoding %d is not supported (only XOR)", frame, (int)c->type);
    if (c->data.len < XOR_HEADER_BYTES) return pl_err_set(err, "frame %zu: XOR chunk of %zu bytes is too short", frame, c->data.len);
    xor_iter_t it;
    xor_iter_init(&it, c->data.data, c->data.len);
    while (xor_iter_next(&it)) {
        if (p->ns == p->scap) {
            size_t nc = p->scap ? p->scap * 2 : 256;
            sample_t *ns = realloc(p->s, nc * sizeof *ns);
            if (!ns) return pl_err_set(err, "out of memory");
            p->s = ns;
            p->scap = nc;
        }
        xor_iter_at(&it, &p->s[p->ns].t, &p->s[p->ns].v);
        p->ns++;
    }
    if (xor_iter_err(&it)) return pl_err_set(err, "frame %zu: malformed XOR chunk", frame);
    return 0;
}

int rr_stream_decode(const void *body, size_t len, rr_series_fn fn, void *ctx, pl_err_t *err) {
    const uint8_t *b = body;
    size_t pos = 0, frame = 0;
    pending_t p = {0};
    int rc = 0;
    while (rc == 0 && pos < len) {
        uint64_t flen = 0;
        unsigned shift = 0;
        bool done = false;
        while (pos < len && shift < 64) {
            uint8_t c = b[pos++];
            flen |= (uint64_t)(c & 0x7f) << shift;
            shift += 7;
            if (!(c & 0x80)) {
                done = true;
                break;
            }
        }
        if (!done) {
            rc = pl_err_set(err, "frame %zu: truncated or overlong length varint", frame);
            break;
        }
        if (len - pos < 4) {
            rc = pl_err_set(err, "frame %zu: truncated before its checksum", frame);
            break;
        }
        uint32_t want = (uint32_t)b[pos] << 24 | (uint32_t)b[pos + 1] << 16 | (uint32_t)b[pos + 2] << 8 | b[pos + 3];
        pos += 4;
        if (flen > len - pos) {
            rc = pl_err_set(err, "frame %zu: length %llu exceeds the %zu bytes left", frame, (unsigned long long)flen,
                            len - pos);
            break;
        }
        if (pl_crc32c(0, b + pos, (size_t)flen) != want) {
            rc = pl_err_set(err, "frame %zu: checksum mismatch", frame);
            break;
        }
        Prometheus__ChunkedReadResponse *m = prometheus__chunked_read_response__unpack(NULL, (size_t)flen, b + pos);
        pos += (size_t)flen;
        if (!m) {
            rc = pl_err_set(err, "frame %zu: protobuf: cannot decode ChunkedReadResponse", frame);
            break;
        }
        if (m->query_index < 0) rc = pl_err_set(err, "frame %zu: negative query index", frame);
        for (size_t i = 0; rc == 0 && i < m->n_chunked_series; i++) {
            const Prometheus__ChunkedSeries *cs = m->chunked_series[i];
            if (!pending_same(&p, (size_t)m->query_index, cs)) {
                rc = pending_flush(&p, fn, ctx);
                if (rc == 0) rc = pending_start(&p, (size_t)m->query_index, cs, err);
            }
            for (size_t c = 0; rc == 0 && c < cs->n_chunks; c++) rc = pending_add_chunk(&p, cs->chunks[c], frame, err);
        }
        prometheus__chunked_read_response__free_unpacked(m, NULL);
        frame++;
    }
    if (rc == 0) rc = pending_flush(&p, fn, ctx);
    strbuf_free(&p.strs);
    free(p.ls);
    free(p.s);
    return rc;
}

/* ---- gate ---- */

struct rr_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t limit, running;
};

rr_gate_t *rr_gate_new(int64_t limit) {
    rr_gate_t *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->limit = limit;
    return g;
}

void rr_gate_enter(rr_gate_t *g) {
    pthread_mutex_lock(&g->mu);
    while (g->limit > 0 && g->running >= g->limit) pthread_cond_wait(&g->cv, &g->mu);
    g->running++;
    pthread_mutex_unlock(&g->mu);
}

void rr_gate_leave(rr_gate_t *g) {
    pthread_mutex_lock(&g->mu);
    g->running--;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void rr_gate_free(rr_gate_t *g) {
    if (!g) return;
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}
