/* query.h — the global view: one queryable_t over many leaves, with
 * replicas deduplicated (the heart of `promlab query`, Thanos Query's role).
 *
 * A leaf is any queryable_t (in `promlab query`, a remote_client_t over a
 * promlab server, a real Prometheus, later sidecars and stores) with the
 * external labels it advertises. A select
 *   1. picks the leaves whose external labels do not contradict the
 *      matchers (a leaf with replica="B" is not asked for {replica="A"}) and
 *      whose advertised time range overlaps [mint, maxt];
 *   2. asks them in parallel, one thread per leaf;
 *   3. on a leaf's failure either records a warning (partial response, the
 *      default) or fails the whole select;
 *   4. merges: with deduplication on and replica labels configured, series
 *      equal but for the replica labels become one series without them,
 *      their samples merged by Thanos's penalty algorithm (dedup_penalty);
 *      otherwise series with identical label sets from several leaves are
 *      merged sample by sample (the first leaf wins a shared timestamp);
 *   5. hands the series out sorted by label set.
 *
 * Requests carry their own options (dedup, partial_response) and collect
 * their warnings: query_request_t is the per-request queryable. */
#ifndef PL_QUERY_H
#define PL_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "model/storage.h"
#include "util/err.h"
#include "util/strbuf.h"

/* ---- deduplication (dedup.c) ---- */

/* Thanos's penalty deduplication of two replicas' samples (each in time
 * order) into out, which must hold na + nb samples; returns the count.
 * Start on the replica with the earliest sample; after each pick, the other
 * replica may only be used from lastT + 1 + penalty on, where the penalty is
 * twice the gap between the last two picked samples (5000 ms before the
 * first gap is known). So the answer stays on one replica and switches only
 * across a gap in it larger than the penalty, never interleaving replicas.
 * counter: when the answer switches replica and the new one's value is
 * below the last one returned, the new replica's values are raised by the
 * difference from then on (a counter must not appear to reset because the
 * replicas' counters differ). */
#define DEDUP_INITIAL_PENALTY_MS 5000
size_t dedup_penalty(const sample_t *a, size_t na, const sample_t *b, size_t nb, bool counter, sample_t *out);
/* Whether a metric name is treated as a counter for the adjustment above.
 * Thanos decides from the query's function (rate, increase, irate, resets),
 * which a queryable does not see; promlab uses the naming convention of
 * counters instead: names ending in _total, _count or _bucket. */
bool dedup_is_counter_name(const char *name);
/* Whether the query's function (the select hint's func, now passed down by
 * the engine) treats the series as a counter, as Thanos decides: rate,
 * increase, irate, resets. The fan-out adjusts when either says so. */
bool dedup_is_counter_func(const char *func);

/* ---- the fan-out (fanout.c) ---- */

typedef struct query_leaf {
    const char *name; /* shown in warnings and metrics (the endpoint URL); copied */
    queryable_t q;    /* borrowed; must be usable from several threads at once */
} query_leaf_t;

typedef struct query_fanout query_fanout_t;

/* Copies the leaves and replica label names. NULL when out of memory. */
query_fanout_t *query_fanout_new(const query_leaf_t *leaves, size_t n, const char *const *replica_labels,
                                 size_t nreplica_labels);
void query_fanout_free(query_fanout_t *f);
size_t query_fanout_nleaves(const query_fanout_t *f);
/* What leaf i advertises: external labels as name\0value\0 pairs (copied),
 * (NULL: keep the ones known), its time range (INT64_MIN, INT64_MAX when
 * unknown), whether it answered
 * the last probe. Thread-safe against running selects. */
void query_fanout_set_leaf_info(query_fanout_t *f, size_t i, const char *ext_pairs, size_t next, int64_t mint,
                                int64_t maxt, bool up);
/* As above for a leaf with several label sets (a store serving blocks of
 * several producers): nsets sets of counts[s] pairs each, one after another
 * in pairs. A select asks the leaf when any set allows its matchers; no set
 * (nsets 0) means unknown: always asked. keep_labels: leave the labels known. */
void query_fanout_set_leaf_sets(query_fanout_t *f, size_t i, const char *pairs, const size_t *counts, size_t nsets,
                                bool keep_labels, int64_t mint, int64_t maxt, bool up);
/* A leaf's info document (GET /api/v1/store/info of `promlab store` and
 * `promlab sidecar`): {"status":"success","data":{"labelSets":[{..}],
 * "minTime":ms,"maxTime":ms, ...}}, read into what query_fanout_set_leaf_sets
 * takes (info.c). */
typedef struct query_leaf_info {
    strbuf_t pairs; /* name\0value\0..., set after set */
    size_t *counts; /* pairs per set */
    size_t nsets;
    int64_t mint, maxt;
} query_leaf_info_t;
int query_parse_leaf_info(const char *json, size_t len, query_leaf_info_t *li, pl_err_t *err);
void query_leaf_info_free(query_leaf_info_t *li);

/* A request's max_source_resolution parameter in ms, as Thanos Query reads
 * it: "raw" (or "0s", "0") = 0; a duration ("5m", "1h") or milliseconds;
 * "auto", or no value when auto_downsampling (--query.auto-downsampling),
 * = step / 5 (0 for an instant query, which has no step). No value and no
 * auto: 0. -1 with err for a value that does not parse. */
int query_max_source_resolution(const char *value, const char *step, bool auto_downsampling, int64_t *ms,
                                pl_err_t *err);

/* The lookback delta for a query reading data up to max_res_ms, as Thanos
 * Query's --query.dynamic-lookback-delta (on by default) chooses it: a 5m or
 * 1h point is the only one of its window, so the lookback must reach back
 * one resolution: the largest resolution r of 5m and 1h such that
 * max_res_ms is above both the resolution below r and lookback_ms, when r
 * exceeds lookback_ms; else lookback_ms. With dynamic off, lookback_ms. */
int64_t query_lookback_for_resolution(int64_t lookback_ms, int64_t max_res_ms, bool dynamic);

/* Thanos-like metrics of the leaves, in text format. */
void query_fanout_write_metrics(query_fanout_t *f, strbuf_t *sb);

/* A per-request view. */
typedef struct query_request query_request_t;
query_request_t *query_request_new(query_fanout_t *f, bool dedup, bool partial_response);
void query_request_queryable(query_request_t *r, queryable_t *out);
/* How coarse downsampled data this request accepts (max_source_resolution,
 * ms; 0 = raw only, the default): passed to every leaf's select as a hint. */
void query_request_set_max_resolution(query_request_t *r, int64_t ms);
/* Warnings raised so far ("endpoint URL: reason"), de-duplicated. Read them
 * when no select of the request is running. */
size_t query_request_warnings(const query_request_t *r, const char *const **out);
void query_request_free(query_request_t *r);

#endif
