/* textparse.h — the exposition formats: Prometheus text 0.0.4 and OpenMetrics 1.0.
 *
 * A pull parser over a whole scrape body held in memory. Each call to
 * textparse_next yields one sample (or a metadata entry); the metric name
 * and label strings it returns point into parser-owned scratch memory valid
 * until the next call. Nothing is allocated per sample. */
#ifndef PL_TEXTPARSE_H
#define PL_TEXTPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "util/err.h"
#include "util/strbuf.h"

enum textparse_format { TEXTPARSE_PROM = 0, TEXTPARSE_OPENMETRICS = 1 };

enum metric_type {
    METRIC_TYPE_UNKNOWN = 0, METRIC_TYPE_COUNTER, METRIC_TYPE_GAUGE, METRIC_TYPE_HISTOGRAM,
    METRIC_TYPE_GAUGE_HISTOGRAM, METRIC_TYPE_SUMMARY, METRIC_TYPE_INFO, METRIC_TYPE_STATESET,
    METRIC_TYPE_UNTYPED,
};
const char *metric_type_str(enum metric_type t); /* "counter", "gauge", ... */

enum textparse_entry {
    TEXTPARSE_EOF = 0,    /* end of body (for OpenMetrics: after "# EOF") */
    TEXTPARSE_SAMPLE = 1, /* a sample: see textparse_sample_t */
    TEXTPARSE_TYPE,       /* "# TYPE name type": meta_name, meta_type */
    TEXTPARSE_HELP,       /* "# HELP name text": meta_name, meta_text (unescaped) */
    TEXTPARSE_UNIT,       /* OpenMetrics "# UNIT name unit" */
    TEXTPARSE_ERROR = -1, /* malformed: err says where ("line 12: ...") and why */
    TEXTPARSE_NEED_MORE = 5, /* streaming only: the input fed so far is used up; feed more */
};

typedef struct textparse_sample {
    const char *raw;        /* the series part of the line as written (name + labels), for scrape caches */
    size_t raw_len;
    const char *name;       /* metric name, NUL-terminated */
    const label_t *labels;  /* the other labels, in order of appearance (NOT sorted), unescaped */
    size_t nlabels;
    double value;
    bool has_timestamp;
    int64_t timestamp_ms;   /* text: ms as written; OpenMetrics: seconds (float) converted to ms */
} textparse_sample_t;

typedef struct textparse textparse_t;

/* Chooses the format from a Content-Type header (NULL or unknown => text 0.0.4). */
enum textparse_format textparse_format_from_content_type(const char *content_type);

/* body need not be NUL-terminated; the parser does not modify it and it must outlive the parser. */
textparse_t *textparse_new(enum textparse_format fmt, const char *body, size_t len);
void textparse_free(textparse_t *p);
/* Streaming: parse a body as it arrives. textparse_new_stream starts with no
 * input; each textparse_feed hands the next piece, which should end just after
 * a '\n' unless final is true. textparse_next returns TEXTPARSE_NEED_MORE when
 * the piece is used up, or when its last entry was cut short (a raw newline
 * may sit inside a quoted label value): then the bytes from
 * textparse_consumed() on must be fed again, followed by more input.
 * State that spans lines (the current family, line numbers, the OpenMetrics
 * "# EOF" rules) carries across pieces. The piece must stay valid until the
 * next feed; strings returned from it are valid until the next call. */
textparse_t *textparse_new_stream(enum textparse_format fmt);
void textparse_feed(textparse_t *p, const char *piece, size_t len, bool final);
/* After TEXTPARSE_NEED_MORE: how many bytes of the current piece were used.
 * The rest (an entry the piece cut short) must lead the next piece. */
size_t textparse_consumed(const textparse_t *p);
/* Advances to the next entry. On TEXTPARSE_SAMPLE fills *s; on metadata fills the meta fields. */
enum textparse_entry textparse_next(textparse_t *p, textparse_sample_t *s, pl_err_t *err);
/* Metadata of the last TYPE/HELP/UNIT entry, and the current metric family's type
 * (also valid while iterating that family's samples). */
const char *textparse_meta_name(const textparse_t *p);
const char *textparse_meta_text(const textparse_t *p);  /* HELP text or UNIT */
enum metric_type textparse_meta_type(const textparse_t *p);

/* ---- additions ------------------------------------------------------------
 * Notes on what the parser accepts (it follows Prometheus's own parsers,
 * model/textparse, closely; see parse.c for the details):
 *  - "untyped" (text) yields METRIC_TYPE_UNTYPED and "unknown" (OpenMetrics)
 *    METRIC_TYPE_UNKNOWN; Prometheus reports both as "unknown".
 *  - meta_text is the HELP text, the UNIT, or the type word of a TYPE entry.
 *    meta_type is reset to METRIC_TYPE_UNKNOWN when a HELP/TYPE/UNIT line
 *    names another family than the previous one.
 *  - Sample values: Go float syntax but, as Prometheus, no 'p', 'P' or '_'
 *    (so no hex floats) unless textparse_set_hex_floats(p, true).
 *  - A NUL byte inside a label value or HELP text is an error (Prometheus
 *    accepts it; a NUL-terminated string cannot carry it).
 *  - After an error every later textparse_next returns the same error.
 *  - textparse_write_type writes the types 0.0.4 lacks as the nearest it has
 *    (gaugehistogram: histogram; info, stateset: gauge; unknown: untyped);
 *    the writers quote names that are not legacy-valid ({"my.metric",a="b"}). */

/* Accept Go hex floats (0x1p-3) in values and timestamps, which Prometheus
 * rejects ("unsupported character in float"). Default: false. */
void textparse_set_hex_floats(textparse_t *p, bool allow);

/* Parses s[0..n) as Go's strconv.ParseFloat(s, 64): decimal or 0x-hex with
 * a p exponent, [+-]Inf/Infinity, NaN (any case); no underscores, nothing
 * before or after. Returns 0 and sets *out, -1 on bad syntax, -2 when the
 * value overflows a double (Go's ErrRange). Does not allocate for n < 128. */
int textparse_parse_float(const char *s, size_t n, double *out);

/* ---- output -------------------------------------------------------------
 * Writers for /metrics and /federate: text format 0.0.4. */
void textparse_write_help(strbuf_t *sb, const char *name, const char *help);
void textparse_write_type(strbuf_t *sb, const char *name, enum metric_type t);
/* Writes `name{l="v",...} value [timestamp]\n`; ls may include __name__ (skipped);
 * has_ts selects whether timestamp_ms is written. */
void textparse_write_sample(strbuf_t *sb, const char *name, const label_t *ls, size_t n, double v, bool has_ts,
                            int64_t timestamp_ms);

#endif
