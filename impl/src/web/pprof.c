/* pprof.c — /debug/pprof/: promlab's memory by subsystem as a pprof heap
 * profile.
 *
 * promlab is C, so there is no Go runtime heap to sample. What it has is its
 * own accounting: the head's symbols, series, postings and chunks, and the
 * scrape manager's caches, batch, bodies and metadata. /debug/pprof/heap
 * writes these as a real pprof profile (profile.proto, gzip-compressed, the
 * format `go tool pprof` reads): sample types inuse_objects/count and
 * inuse_space/bytes (the default), one sample per component with a two-frame
 * stack (promlab.<subsystem>.<part> called from promlab.server), so that
 * `go tool pprof -top` lists the components and their sum. The last
 * component, promlab.unaccounted, is resident memory (from /proc/self/statm)
 * that no component claims — code, stacks, allocator slack, the query
 * engine's and HTTP server's transient buffers — so the profile adds up to
 * the process's RSS. ?debug=1 writes the same as text.
 *
 * /debug/pprof/cmdline is the process's command line, as Go's. CPU profiles
 * (/debug/pprof/profile) are not offered: the index says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "util/timeutil.h"
#include "web/internal.h"

/* ---- protobuf writing ------------------------------------------------------------- */

static void pb_varint(strbuf_t *sb, uint64_t v) {
    while (v >= 0x80) {
        strbuf_putc(sb, (char)(v | 0x80));
        v >>= 7;
    }
    strbuf_putc(sb, (char)v);
}

static void pb_key(strbuf_t *sb, unsigned field, unsigned wire) { pb_varint(sb, ((uint64_t)field << 3) | wire); }

static void pb_uint(strbuf_t *sb, unsigned field, uint64_t v) {
    pb_key(sb, field, 0);
    pb_varint(sb, v);
}

static void pb_bytes(strbuf_t *sb, unsigned field, const char *p, size_t n) {
    pb_key(sb, field, 2);
    pb_varint(sb, n);
    strbuf_append(sb, p, n);
}

static void pb_msg(strbuf_t *sb, unsigned field, strbuf_t *sub) {
    pb_bytes(sb, field, sub->data ? sub->data : "", sub->len);
    strbuf_reset(sub);
}

/* The profile's string table: index of s, added when new (few strings, linear). */
typedef struct strtab {
    const char *v[64];
    size_t n;
} strtab_t;

static uint64_t str_index(strtab_t *t, const char *s) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i], s) == 0) return i;
    if (t->n == sizeof t->v / sizeof t->v[0]) return 0;
    t->v[t->n] = s;
    return t->n++;
}

int web_heap_profile(const web_mem_component_t *comps, size_t n, int64_t now_ms, strbuf_t *out) {
    strbuf_t pb = STRBUF_INIT, sub = STRBUF_INIT, inner = STRBUF_INIT;
    strtab_t st = {.n = 0};
    str_index(&st, ""); /* string_table[0] must be "" */
    const uint64_t s_objects = str_index(&st, "inuse_objects"), s_count = str_index(&st, "count");
    const uint64_t s_space = str_index(&st, "inuse_space"), s_bytes = str_index(&st, "bytes");
    const uint64_t s_file = str_index(&st, "promlab");
    const uint64_t s_root = str_index(&st, "promlab.server");

    /* sample_type (1): [inuse_objects count, inuse_space bytes] */
    pb_uint(&sub, 1, s_objects);
    pb_uint(&sub, 2, s_count);
    pb_msg(&pb, 1, &sub);
    pb_uint(&sub, 1, s_space);
    pb_uint(&sub, 2, s_bytes);
    pb_msg(&pb, 1, &sub);

    /* Function and location ids: 1 is the root; component i is i + 2. */
    for (size_t i = 0; i < n; i++) {
        /* sample (2): location_id (packed) leaf first, value (packed) */
        pb_varint(&inner, i + 2);
        pb_varint(&inner, 1);
        pb_msg(&sub, 1, &inner);
        pb_varint(&inner, comps[i].objects);
        pb_varint(&inner, comps[i].bytes);
        pb_msg(&sub, 2, &inner);
        pb_msg(&pb, 2, &sub);
    }
    for (size_t i = 0; i <= n; i++) {
        uint64_t id = i + 1;
        /* location (4): id, line { function_id } */
        pb_uint(&sub, 1, id);
        pb_uint(&inner, 1, id);
        pb_msg(&sub, 4, &inner);
        pb_msg(&pb, 4, &sub);
    }
    for (size_t i = 0; i <= n; i++) {
        uint64_t name = i == 0 ? s_root : str_index(&st, comps[i - 1].name);
        /* function (5): id, name, system_name, filename */
        pb_uint(&sub, 1, i + 1);
        pb_uint(&sub, 2, name);
        pb_uint(&sub, 3, name);
        pb_uint(&sub, 4, s_file);
        pb_msg(&pb, 5, &sub);
    }
    for (size_t i = 0; i < st.n; i++)
        pb_bytes(&pb, 6, st.v[i], strlen(st.v[i]));
    pb_uint(&pb, 9, (uint64_t)now_ms * 1000000u); /* time_nanos */
    /* period_type (11): space bytes; period (12): 1 (every byte is counted, nothing sampled) */
    pb_uint(&sub, 1, s_space);
    pb_uint(&sub, 2, s_bytes);
    pb_msg(&pb, 11, &sub);
    pb_uint(&pb, 12, 1);
    pb_uint(&pb, 14, s_space); /* default_sample_type */

    /* gzip it, as Go's runtime/pprof writes profiles. */
    int rc = 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        rc = -1;
    } else {
        size_t bound = deflateBound(&z, pb.len) + 64;
        strbuf_reserve(out, out->len + bound);
        z.next_in = (Bytef *)(pb.data ? pb.data : "");
        z.avail_in = (uInt)pb.len;
        z.next_out = (Bytef *)(out->data + out->len);
        z.avail_out = (uInt)bound;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
            rc = -1;
        else
            out->len += bound - z.avail_out;
        deflateEnd(&z);
    }
    strbuf_free(&pb);
    strbuf_free(&sub);
    strbuf_free(&inner);
    return rc;
}

/* ---- the components --------------------------------------------------------------- */

static uint64_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, resident = 0;
    int ok = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return ok == 2 ? resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

size_t web_mem_components(web_t *w, web_mem_component_t *out, size_t cap) {
    size_t n = 0;
    uint64_t sum = 0;
#define ADD(nm, b, o)                                                                                                  \
    do {                                                                                                               \
        if (n < cap) {                                                                                                 \
            out[n++] = (web_mem_component_t){(nm), (b), (o)};                                                          \
            sum += (b);                                                                                                \
        }                                                                                                              \
    } while (0)
    if (w->opts.head) {
        head_stats_t hs;
        head_get_stats(w->opts.head, &hs);
        ADD("promlab.head.symbols", hs.bytes_symbols, hs.num_symbols);
        ADD("promlab.head.series", hs.bytes_series, hs.num_series);
        ADD("promlab.head.postings", hs.bytes_postings, 0);
        ADD("promlab.head.chunks", hs.bytes_chunks, hs.num_chunks);
    }
    if (w->opts.scrape) {
        scrape_memory_t sm;
        scrape_manager_memory(w->opts.scrape, &sm);
        ADD("promlab.scrape.series_cache", sm.cache_bytes, sm.cache_entries);
        ADD("promlab.scrape.batch", sm.batch_bytes, 0);
        ADD("promlab.scrape.bodies", sm.body_bytes, sm.targets);
        ADD("promlab.scrape.metadata", sm.metadata_bytes, sm.metadata_entries);
    }
    uint64_t rss = rss_bytes();
    ADD("promlab.unaccounted", rss > sum ? rss - sum : 0, 0);
#undef ADD
    return n;
}

/* ---- handlers ------------------------------------------------------------------------ */

void web_handle_pprof_index(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)w;
    (void)req;
    r->content_type = "text/html; charset=utf-8";
    strbuf_puts(&r->body,
                "<html><head><title>/debug/pprof/</title></head><body>\n"
                "/debug/pprof/<br>\n<br>\nTypes of profiles available:\n<table>\n"
                "<thead><td>Count</td><td>Profile</td></thead>\n"
                "<tr><td>1</td><td><a href=\"cmdline\">cmdline</a></td></tr>\n"
                "<tr><td>1</td><td><a href=\"heap?debug=1\">heap</a></td></tr>\n"
                "</table>\n<br>\n<p>heap: promlab's own memory accounting by subsystem (head symbols, series, "
                "postings, chunks; scrape caches, batch, bodies, metadata; the rest of the resident set as "
                "promlab.unaccounted), as a pprof profile for <code>go tool pprof</code> "
                "(<a href=\"heap\">heap</a>) or as text (<a href=\"heap?debug=1\">heap?debug=1</a>). "
                "It is not a sampled allocation profile. CPU profiles (profile, trace) are not available.</p>\n"
                "</body></html>\n");
}

void web_handle_pprof_heap(web_t *w, const http_request_t *req, http_response_t *r) {
    web_mem_component_t comps[16];
    size_t n = web_mem_components(w, comps, 16);
    const char *debug = http_param(req, "debug");
    if (debug && *debug && strcmp(debug, "0") != 0) {
        r->content_type = "text/plain; charset=utf-8";
        uint64_t total = 0, objects = 0;
        for (size_t i = 0; i < n; i++) {
            total += comps[i].bytes;
            objects += comps[i].objects;
        }
        strbuf_printf(&r->body, "heap profile: %llu: %llu [%llu: %llu] @ promlab accounting\n",
                      (unsigned long long)objects, (unsigned long long)total, (unsigned long long)objects,
                      (unsigned long long)total);
        for (size_t i = 0; i < n; i++)
            strbuf_printf(&r->body, "%llu: %llu [%llu: %llu] @ %s\n", (unsigned long long)comps[i].objects,
                          (unsigned long long)comps[i].bytes, (unsigned long long)comps[i].objects,
                          (unsigned long long)comps[i].bytes, comps[i].name);
        return;
    }
    if (web_heap_profile(comps, n, pl_now_ms(), &r->body) != 0) {
        strbuf_reset(&r->body);
        r->status = 500;
        strbuf_puts(&r->body, "could not write the profile\n");
        return;
    }
    r->content_type = "application/octet-stream";
    r->extra_header_name = strdup("Content-Disposition");
    r->extra_header_value = strdup("attachment; filename=\"heap\"");
}

void web_handle_pprof_cmdline(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)w;
    (void)req;
    r->content_type = "text/plain; charset=utf-8";
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f) return;
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        strbuf_append(&r->body, buf, k);
    fclose(f);
}
