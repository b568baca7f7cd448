/* remote_read.h — Prometheus's remote-read protocol: the codec.
 *
 * The wire format (Prometheus's storage/remote, documented in prompb):
 *   request   POST /api/v1/read, body = snappy block(ReadRequest protobuf),
 *             ReadRequest{queries[{start, end, matchers, hints}], accepted_response_types}
 *   SAMPLES   Content-Type application/x-protobuf, Content-Encoding snappy,
 *             body = snappy block(ReadResponse{results[{timeseries[{labels, samples}]}]}),
 *             one result per query, in the request's order.
 *   STREAMED_XOR_CHUNKS
 *             Content-Type application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse,
 *             body = frames: uvarint(len) | BE32 CRC-32C(message) | ChunkedReadResponse message
 *             (len bytes) holding one series (or a time slice of one) as XOR chunks
 *             [min_time, max_time] and the index of its query. A series once left is
 *             never continued.
 *
 * The messages are compiled by protoc-c from remote/proto/ at build
 * time; this module turns them into promlab's own types (matcher_t, label_t,
 * sample_t) and back, so nothing else sees protobuf-c. Every decoder takes
 * untrusted bytes: malformed input returns -1 with a message saying which
 * layer refused it ("snappy: ...", "protobuf: ...", "frame N: ..."). */
#ifndef PL_REMOTE_READ_H
#define PL_REMOTE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "model/matcher.h"
#include "model/storage.h"
#include "util/err.h"
#include "util/strbuf.h"

enum rr_response_type { RR_SAMPLES = 0, RR_STREAMED_XOR_CHUNKS = 1 };

#define RR_CONTENT_TYPE_SAMPLES "application/x-protobuf"
#define RR_CONTENT_TYPE_STREAMED "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
/* Decoded request and response bodies larger than this are refused. */
#define RR_MAX_DECODED_BYTES (256u << 20)
/* Samples per XOR chunk in streamed responses (Prometheus's head cuts at 120). */
#define RR_SAMPLES_PER_CHUNK 120

typedef struct rr_hints {
    int64_t step_ms, start_ms, end_ms, range_ms;
    char *func; /* owned; "" when unset */
    bool by;
    char **grouping; /* owned */
    size_t ngrouping;
} rr_hints_t;

typedef struct rr_query {
    int64_t start_ms, end_ms; /* inclusive */
    matcher_t *matchers;      /* owned */
    size_t nmatchers;
    bool has_hints;
    rr_hints_t hints;
} rr_query_t;

typedef struct rr_request {
    rr_query_t *queries; /* owned */
    size_t nqueries;
    int *accepted; /* enum rr_response_type values as sent (unknown ones kept) */
    size_t naccepted;
} rr_request_t;

/* Decodes a snappy-compressed ReadRequest. Matchers are compiled (a bad
 * regex is an error). out is empty on failure; free it either way. */
int rr_request_decode(const void *body, size_t len, rr_request_t *out, pl_err_t *err);
void rr_request_free(rr_request_t *r);
/* Encodes r as a snappy-compressed ReadRequest, appended to out. */
int rr_request_encode(const rr_request_t *r, strbuf_t *out, pl_err_t *err);

/* The response type Prometheus picks: the first accepted type it implements;
 * SAMPLES when the request names none. -1 with err when none is implemented. */
int rr_negotiate(const rr_request_t *r, enum rr_response_type *out, pl_err_t *err);

/* ---- SAMPLES ---- */

/* Builds a ReadResponse with one result per query. Series are copied. */
typedef struct rr_samples_writer rr_samples_writer_t;
rr_samples_writer_t *rr_samples_writer_new(size_t nqueries);
/* Adds a series to result qi; returns -1 when out of memory or qi is out of range. */
int rr_samples_writer_add(rr_samples_writer_t *w, size_t qi, const label_t *ls, size_t n, const sample_t *s,
                          size_t ns);
/* Appends the snappy-compressed message to out. */
int rr_samples_writer_finish(rr_samples_writer_t *w, strbuf_t *out, pl_err_t *err);
void rr_samples_writer_free(rr_samples_writer_t *w);

/* ---- STREAMED_XOR_CHUNKS ---- */

/* Appends the frames of one series of query qi: its samples cut into XOR
 * chunks of RR_SAMPLES_PER_CHUNK, a frame written as soon as its chunks and
 * labels reach max_frame_bytes (Prometheus's --storage.remote.read-max-bytes-in-frame)
 * and after the last chunk. Returns the number of frames written, -1 on error. */
int rr_stream_write_series(strbuf_t *out, int64_t qi, const label_t *ls, size_t n, const sample_t *s, size_t ns,
                           size_t max_frame_bytes, pl_err_t *err);

/* ---- decoding responses (the client side) ---- */

/* Called once per series: the query it answers, sorted labels and samples
 * in time order (de-duplicated by timestamp). Pointers are valid during the
 * call; non-zero stops decoding and is returned. */
typedef int (*rr_series_fn)(void *ctx, size_t qi, const label_t *ls, size_t n, const sample_t *s, size_t ns);

int rr_samples_decode(const void *body, size_t len, rr_series_fn fn, void *ctx, pl_err_t *err);
/* Decodes a whole streamed body. Consecutive frames of the same series and
 * query are joined into one call. Only XOR chunks are understood; the CRC of
 * every frame is checked. */
int rr_stream_decode(const void *body, size_t len, rr_series_fn fn, void *ctx, pl_err_t *err);

/* ---- concurrency gate (--storage.remote.read-concurrent-limit) ---- */

typedef struct rr_gate rr_gate_t;
rr_gate_t *rr_gate_new(int64_t limit); /* limit <= 0: no limit */
void rr_gate_enter(rr_gate_t *g);      /* blocks while limit reads are running */
void rr_gate_leave(rr_gate_t *g);
void rr_gate_free(rr_gate_t *g);

#endif
