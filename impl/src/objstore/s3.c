/* s3.c — the S3 bucket over libcurl, path-style addressing
 * (scheme://endpoint/bucket/key), every request signed with AWS Signature
 * Version 4 (sigv4.c) over the real SHA-256 of its body.
 *
 *   upload      PUT, or a multipart upload (initiate, parts, complete; abort
 *               on failure) when the file is larger than part_size
 *   get         GET, with a Range header for partial reads
 *   attributes  HEAD
 *   delete      HEAD then DELETE (S3 itself does not say "not found")
 *   iter        ListObjectsV2 with delimiter '/', following continuation tokens
 *
 * Each request is retried up to max_retries times (default 3) with
 * exponential backoff (250 ms, doubling, at most 8 s) on connection errors,
 * timeouts, HTTP 5xx and 429. Error messages carry the method, the object,
 * the HTTP status and S3's error code and message, never a credential: the
 * keys only reach sigv4_authorization and the Authorization header, and
 * libcurl's verbose mode is never turned on. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "objstore/internal.h"
#include "objstore/sigv4.h"
#include "util/log.h"
#include "util/sha256.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct s3b {
    char *bucket, *endpoint, *region, *access_key, *secret_key, *session_token;
    bool insecure, skip_verify, disable_multipart;
    int64_t part_size;
    int max_retries;
    CURL *curl; /* reused: keeps the connection alive between requests */
} s3b_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static char *xstrdup(const char *s) {
    char *d = strdup(s ? s : "");
    if (!d) abort();
    return d;
}

void *objstore_s3_open(const objstore_config_t *cfg, pl_err_t *err) {
    pthread_once(&curl_once, curl_init_once);
    s3b_t *s = calloc(1, sizeof *s);
    if (!s) return pl_err_set(err, "out of memory"), NULL;
    const objstore_s3_config_t *c = &cfg->s3;
    s->bucket = xstrdup(c->bucket);
    s->endpoint = xstrdup(c->endpoint);
    s->region = xstrdup(c->region && *c->region ? c->region : "us-east-1");
    s->access_key = xstrdup(c->access_key);
    s->secret_key = xstrdup(c->secret_key);
    s->session_token = xstrdup(c->session_token);
    s->insecure = c->insecure;
    s->skip_verify = c->insecure_skip_verify;
    s->disable_multipart = c->disable_multipart;
    s->part_size = c->part_size > 0 ? c->part_size : 64LL * 1024 * 1024;
    s->max_retries = c->max_retries > 0 ? c->max_retries : 3;
    s->curl = curl_easy_init();
    if (!s->curl) {
        pl_err_set(err, "s3: cannot initialise libcurl");
        free(s);
        return NULL;
    }
    return s;
}

static void wipe(char *p) {
    if (p) memset(p, 0, strlen(p));
    free(p);
}

static void s3_close(void *impl) {
    s3b_t *s = impl;
    curl_easy_cleanup(s->curl);
    free(s->bucket);
    free(s->endpoint);
    free(s->region);
    wipe(s->access_key);
    wipe(s->secret_key);
    wipe(s->session_token);
    free(s);
}

/* ---- one request ---------------------------------------------------------- */

typedef struct s3_req {
    const char *method; /* GET PUT POST HEAD DELETE */
    const char *key;    /* full object key; NULL = the bucket */
    sigv4_pair_t query[6];
    size_t nquery;
    /* request body: a buffer, or [file_off, file_off+file_len) of fd */
    const char *body;
    size_t body_len;
    int fd;
    int64_t file_off, file_len;
    const char *range; /* "bytes=a-b" */
    /* response */
    strbuf_t *sink; /* 2xx body goes here ... */
    FILE *to;       /* ... or here */
    long status;
    char etag[256];
    int64_t content_length, last_modified_ms;
    /* internal */
    strbuf_t errbody;
    int64_t sent;
    int write_failed;
} s3_req_t;

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *arg) {
    s3_req_t *r = arg;
    size_t want = size * nmemb;
    int64_t left = (r->fd >= 0 ? r->file_len : (int64_t)r->body_len) - r->sent;
    if (left <= 0) return 0;
    if ((int64_t)want > left) want = (size_t)left;
    if (r->fd >= 0) {
        ssize_t n;
        do n = pread(r->fd, buf, want, r->file_off + r->sent);
        while (n < 0 && errno == EINTR);
        if (n <= 0) return CURL_READFUNC_ABORT;
        r->sent += n;
        return (size_t)n;
    }
    memcpy(buf, r->body + r->sent, want);
    r->sent += (int64_t)want;
    return want;
}

typedef struct wctx {
    s3_req_t *r;
    CURL *c;
} wctx_t;

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg) {
    wctx_t *w = arg;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(w->c, CURLINFO_RESPONSE_CODE, &code);
    if (code / 100 != 2) {
        if (w->r->errbody.len < 65536) strbuf_append(&w->r->errbody, data, n);
        return n;
    }
    if (w->r->to) {
        if (fwrite(data, 1, n, w->r->to) != n) {
            w->r->write_failed = errno ? errno : EIO;
            return 0;
        }
        return n;
    }
    if (w->r->sink) strbuf_append(w->r->sink, data, n);
    return n;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *arg) {
    s3_req_t *r = arg;
    size_t n = size * nmemb;
    if (n > 5 && !strncasecmp(data, "ETag:", 5)) {
        const char *v = data + 5;
        size_t l = n - 5;
        while (l && (*v == ' ' || *v == '\t')) v++, l--;
        while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' ')) l--;
        if (l < sizeof r->etag) {
            memcpy(r->etag, v, l);
            r->etag[l] = '\0';
        }
    }
    return n;
}

/* SHA-256 of the request body, hex. */
static int body_hash(s3_req_t *r, char hex[SHA256_HEX_LEN + 1], pl_err_t *err) {
    uint8_t d[SHA256_LEN];
    if (r->fd < 0) {
        sha256(r->body ? r->body : "", r->body_len, d);
    } else {
        sha256_ctx_t c;
        sha256_init(&c);
        char buf[1 << 16];
        for (int64_t pos = 0; pos < r->file_len;) {
            size_t want = (size_t)(r->file_len - pos < (int64_t)sizeof buf ? r->file_len - pos : (int64_t)sizeof buf);
            ssize_t n = pread(r->fd, buf, want, r->file_off + pos);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return pl_err_set(err, "read: %s", n < 0 ? strerror(errno) : "file shrank while uploading");
            sha256_update(&c, buf, (size_t)n);
            pos += n;
        }
        sha256_final(&c, d);
    }
    pl_hex(d, SHA256_LEN, hex);
    return 0;
}

static void describe(s3b_t *s, s3_req_t *r, strbuf_t *sb) {
    strbuf_printf(sb, "s3: %s %s/%s", r->method, s->bucket, r->key ? r->key : "");
}

/* One attempt. Returns 0 when an HTTP answer arrived (any status), -1 on a
 * transport error (err filled, *retryable set). */
static int attempt(s3b_t *s, s3_req_t *r, const char *payload_hash, bool *retryable, pl_err_t *err) {
    CURL *c = s->curl;
    curl_easy_reset(c);
    strbuf_t path = STRBUF_INIT, url = STRBUF_INIT, q = STRBUF_INIT, auth = STRBUF_INIT;
    strbuf_putc(&path, '/');
    sigv4_uri_encode(&path, s->bucket, strlen(s->bucket), true);
    if (r->key) {
        strbuf_putc(&path, '/');
        sigv4_uri_encode(&path, r->key, strlen(r->key), false);
    }
    char amz_date[17];
    sigv4_amz_date((long long)time(NULL), amz_date);
    sigv4_pair_t hdrs[5];
    size_t nh = 0;
    hdrs[nh++] = (sigv4_pair_t){"host", s->endpoint};
    hdrs[nh++] = (sigv4_pair_t){"x-amz-content-sha256", payload_hash};
    hdrs[nh++] = (sigv4_pair_t){"x-amz-date", amz_date};
    if (r->range) hdrs[nh++] = (sigv4_pair_t){"range", r->range};
    if (*s->session_token) hdrs[nh++] = (sigv4_pair_t){"x-amz-security-token", s->session_token};
    sigv4_input_t in = {
        .method = r->method,
        .encoded_path = path.data,
        .query = r->query,
        .nquery = r->nquery,
        .headers = hdrs,
        .nheaders = nh,
        .payload_sha256_hex = payload_hash,
        .amz_date = amz_date,
        .region = s->region,
        .service = "s3",
        .access_key = s->access_key,
        .secret_key = s->secret_key,
    };
    sigv4_canonical_query(&in, &q);
    strbuf_printf(&url, "%s://%s%s%s%s", s->insecure ? "http" : "https", s->endpoint, path.data, q.len ? "?" : "",
                  q.len ? q.data : "");
    struct curl_slist *hl = NULL;
    strbuf_t line = STRBUF_INIT;
    for (size_t i = 0; i < nh; i++) {
        strbuf_reset(&line);
        strbuf_printf(&line, "%s: %s", hdrs[i].name, hdrs[i].value);
        hl = curl_slist_append(hl, line.data);
    }
    if (*s->access_key) {
        sigv4_authorization(&in, &auth);
        strbuf_reset(&line);
        strbuf_printf(&line, "Authorization: %s", auth.data);
        hl = curl_slist_append(hl, line.data);
        memset(line.data, 0, line.len);
        memset(auth.data, 0, auth.len);
    }
    hl = curl_slist_append(hl, "Expect:");
    if (!strcmp(r->method, "POST") && r->body_len) hl = curl_slist_append(hl, "Content-Type: application/xml");
    else if (!strcmp(r->method, "POST") || (!strcmp(r->method, "PUT") && r->key))
        hl = curl_slist_append(hl, "Content-Type: application/octet-stream");
    strbuf_free(&line);

    char errbuf[CURL_ERROR_SIZE] = {0};
    wctx_t w = {r, c};
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
    if (s->skip_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    r->sent = 0;
    int64_t body_size = r->fd >= 0 ? r->file_len : (int64_t)r->body_len;
    if (!strcmp(r->method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(c, CURLOPT_READDATA, r);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_size);
    } else if (!strcmp(r->method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(r->method, "DELETE")) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(hl); /* the Authorization line is freed with it */
    int rc = 0;
    if (cc != CURLE_OK) {
        strbuf_t m = STRBUF_INIT;
        describe(s, r, &m);
        pl_err_set(err, "%s: %s%s%s", m.data, curl_easy_strerror(cc), errbuf[0] ? ": " : "", errbuf);
        strbuf_free(&m);
        *retryable = cc != CURLE_WRITE_ERROR && cc != CURLE_ABORTED_BY_CALLBACK && cc != CURLE_READ_ERROR &&
                     cc != CURLE_URL_MALFORMAT && cc != CURLE_UNSUPPORTED_PROTOCOL;
        if (cc == CURLE_WRITE_ERROR && r->write_failed)
            pl_err_set(err, "s3: GET %s/%s: writing the local file: %s", s->bucket, r->key ? r->key : "",
                       strerror(r->write_failed));
        rc = -1;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_off_t cl = -1, ft = -1;
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        curl_easy_getinfo(c, CURLINFO_FILETIME_T, &ft);
        r->content_length = cl;
        r->last_modified_ms = ft > 0 ? (int64_t)ft * 1000 : 0;
    }
    strbuf_free(&path);
    strbuf_free(&url);
    strbuf_free(&q);
    strbuf_free(&auth);
    return rc;
}

/* Sends r with retries. Returns 0 on 2xx, OBJ_NOT_FOUND on 404, -1 otherwise. */
static int s3_do(s3b_t *s, s3_req_t *r, pl_err_t *err) {
    char hash[SHA256_HEX_LEN + 1];
    if (body_hash(r, hash, err) < 0) {
        strbuf_t m = STRBUF_INIT;
        describe(s, r, &m);
        pl_err_prefix(err, "%s", m.data);
        strbuf_free(&m);
        return -1;
    }
    strbuf_init(&r->errbody);
    size_t sink_len0 = r->sink ? r->sink->len : 0;
    int rc = -1;
    for (int i = 0;; i++) {
        bool retryable = false;
        r->status = 0;
        r->etag[0] = '\0';
        r->write_failed = 0;
        strbuf_reset(&r->errbody);
        if (r->sink) r->sink->len = sink_len0;
        if (r->to) {
            fflush(r->to);
            if (ftruncate(fileno(r->to), 0) == 0) rewind(r->to);
        }
        if (attempt(s, r, hash, &retryable, err) == 0) {
            if (r->status / 100 == 2) {
                rc = 0;
                break;
            }
            if (r->status == 404 && !(r->errbody.len && strstr(r->errbody.data, "NoSuchBucket"))) {
                rc = OBJ_NOT_FOUND;
                break;
            }
            char *code = s3_xml_text(r->errbody.data, r->errbody.len, "Code");
            char *msg = s3_xml_text(r->errbody.data, r->errbody.len, "Message");
            strbuf_t m = STRBUF_INIT;
            describe(s, r, &m);
            const char *hint = code ? "" : r->status == 403 ? " Forbidden (the server refused the credentials or the signature)" : "";
            pl_err_set(err, "%s: HTTP %ld%s%s%s%s%s", m.data, r->status, hint, code ? " " : "", code ? code : "",
                       msg ? ": " : "", msg ? msg : "");
            strbuf_free(&m);
            free(code);
            free(msg);
            retryable = r->status >= 500 || r->status == 429;
        }
        if (!retryable || i >= s->max_retries) break;
        long ms = 250L << (i < 5 ? i : 5);
        if (ms > 8000) ms = 8000;
        log_debug("objstore", "Retrying S3 request", "attempt=%d backoff_ms=%ld err=\"%s\"", i + 1, ms, err ? err->msg : "");
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    strbuf_free(&r->errbody);
    return rc;
}

static void req_init(s3_req_t *r, const char *method, const char *key) {
    memset(r, 0, sizeof *r);
    r->method = method;
    r->key = key;
    r->fd = -1;
}

/* ---- operations ------------------------------------------------------------ */

static int s3_upload_buf(void *impl, const char *key, const void *data, size_t len, pl_err_t *err) {
    s3_req_t r;
    req_init(&r, "PUT", key);
    r.body = data ? data : "";
    r.body_len = len;
    int rc = s3_do(impl, &r, err);
    return rc == OBJ_NOT_FOUND ? pl_err_set(err, "s3: PUT %s: HTTP 404 (does the bucket exist?)", key) : rc;
}

static int multipart(s3b_t *s, const char *key, int fd, int64_t size, pl_err_t *err) {
    strbuf_t resp = STRBUF_INIT;
    s3_req_t r;
    req_init(&r, "POST", key);
    r.query[r.nquery++] = (sigv4_pair_t){"uploads", ""};
    r.sink = &resp;
    if (s3_do(s, &r, err) != 0) {
        strbuf_free(&resp);
        return -1;
    }
    char *upload_id = s3_xml_text(resp.data, resp.len, "UploadId");
    strbuf_free(&resp);
    if (!upload_id || !*upload_id) {
        free(upload_id);
        return pl_err_set(err, "s3: POST %s/%s?uploads: answer has no UploadId", s->bucket, key);
    }
    int64_t nparts = (size + s->part_size - 1) / s->part_size;
    strbuf_t done = STRBUF_INIT;
    strbuf_puts(&done, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    int rc = 0;
    for (int64_t i = 0; i < nparts && rc == 0; i++) {
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)(i + 1));
        req_init(&r, "PUT", key);
        r.query[r.nquery++] = (sigv4_pair_t){"partNumber", num};
        r.query[r.nquery++] = (sigv4_pair_t){"uploadId", upload_id};
        r.fd = fd;
        r.file_off = i * s->part_size;
        r.file_len = size - r.file_off < s->part_size ? size - r.file_off : s->part_size;
        rc = s3_do(s, &r, err) == 0 ? 0 : -1;
        if (rc == 0 && !r.etag[0]) rc = pl_err_set(err, "s3: PUT %s/%s part %s: answer has no ETag", s->bucket, key, num);
        if (rc == 0) strbuf_printf(&done, "<Part><PartNumber>%s</PartNumber><ETag>%s</ETag></Part>", num, r.etag);
    }
    strbuf_puts(&done, "</CompleteMultipartUpload>");
    if (rc == 0) {
        strbuf_t cresp = STRBUF_INIT;
        req_init(&r, "POST", key);
        r.query[r.nquery++] = (sigv4_pair_t){"uploadId", upload_id};
        r.body = done.data;
        r.body_len = done.len;
        r.sink = &cresp;
        rc = s3_do(s, &r, err) == 0 ? 0 : -1;
        /* S3 may answer 200 and still put an <Error> in the body. */
        if (rc == 0 && cresp.len && strstr(cresp.data, "<Error>")) {
            char *code = s3_xml_text(cresp.data, cresp.len, "Code");
            rc = pl_err_set(err, "s3: completing multipart upload of %s/%s: %s", s->bucket, key, code ? code : "error");
            free(code);
        }
        strbuf_free(&cresp);
    }
    if (rc != 0) { /* abort, so no parts linger; its own failure adds nothing useful */
        pl_err_t ignored = {{0}};
        req_init(&r, "DELETE", key);
        r.query[r.nquery++] = (sigv4_pair_t){"uploadId", upload_id};
        (void)s3_do(s, &r, &ignored);
    }
    strbuf_free(&done);
    free(upload_id);
    return rc;
}

static int s3_upload_file(void *impl, const char *key, const char *path, pl_err_t *err) {
    s3b_t *s = impl;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pl_err_set(err, "s3: upload %s: open %s: %s", key, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return pl_err_set(err, "s3: upload %s: stat %s: %s", key, path, strerror(e));
    }
    int rc;
    if (!s->disable_multipart && st.st_size > s->part_size) {
        rc = multipart(s, key, fd, st.st_size, err);
    } else {
        s3_req_t r;
        req_init(&r, "PUT", key);
        r.fd = fd;
        r.file_len = st.st_size;
        rc = s3_do(s, &r, err);
        if (rc == OBJ_NOT_FOUND) rc = pl_err_set(err, "s3: PUT %s/%s: HTTP 404", s->bucket, key);
    }
    close(fd);
    return rc;
}

static int s3_get(void *impl, const char *key, int64_t off, int64_t len, strbuf_t *out, FILE *f, pl_err_t *err) {
    s3_req_t r;
    req_init(&r, "GET", key);
    char range[64];
    if (len == 0) return 0;
    if (off > 0 || len > 0) {
        if (len > 0) snprintf(range, sizeof range, "bytes=%lld-%lld", (long long)off, (long long)(off + len - 1));
        else snprintf(range, sizeof range, "bytes=%lld-", (long long)off);
        r.range = range;
    }
    r.sink = out;
    r.to = f;
    int rc = s3_do(impl, &r, err);
    if (rc == -1 && r.status == 416) return 0; /* range past the end: nothing to read */
    return rc;
}

static int s3_attributes(void *impl, const char *key, objstore_attrs_t *a, pl_err_t *err) {
    s3_req_t r;
    req_init(&r, "HEAD", key);
    int rc = s3_do(impl, &r, err);
    if (rc == 0) {
        a->size = r.content_length;
        a->last_modified_ms = r.last_modified_ms;
    }
    return rc;
}

static int s3_del(void *impl, const char *key, pl_err_t *err) {
    objstore_attrs_t a;
    int rc = s3_attributes(impl, key, &a, err);
    if (rc != 0) return rc;
    s3_req_t r;
    req_init(&r, "DELETE", key);
    rc = s3_do(impl, &r, err);
    return rc == OBJ_NOT_FOUND ? 0 : rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int s3_iter(void *impl, const char *dir_key, bool recursive, objstore_iter_fn fn, void *ctx, pl_err_t *err) {
    s3b_t *s = impl;
    char **names = NULL;
    size_t n = 0, cap = 0;
    char *token = NULL;
    int rc = 0;
    for (;;) {
        strbuf_t resp = STRBUF_INIT;
        s3_req_t r;
        req_init(&r, "GET", NULL);
        r.query[r.nquery++] = (sigv4_pair_t){"list-type", "2"};
        r.query[r.nquery++] = (sigv4_pair_t){"prefix", dir_key};
        if (!recursive) r.query[r.nquery++] = (sigv4_pair_t){"delimiter", "/"};
        if (token) r.query[r.nquery++] = (sigv4_pair_t){"continuation-token", token};
        r.sink = &resp;
        rc = s3_do(s, &r, err);
        if (rc == OBJ_NOT_FOUND) rc = pl_err_set(err, "s3: list %s: HTTP 404", s->bucket);
        s3_list_result_t lr;
        if (rc == 0) rc = s3_parse_list(resp.data, resp.len, &lr, err);
        strbuf_free(&resp);
        if (rc != 0) break;
        for (size_t pass = 0; pass < 2; pass++) {
            size_t cnt = pass ? lr.nprefixes : lr.nkeys;
            char **src = pass ? lr.prefixes : lr.keys;
            for (size_t i = 0; i < cnt; i++) {
                if (!strcmp(src[i], dir_key)) continue; /* the directory marker itself */
                if (n == cap) {
                    cap = cap ? 2 * cap : 64;
                    char **nv = realloc(names, cap * sizeof *names);
                    if (!nv) abort();
                    names = nv;
                }
                names[n++] = src[i];
                src[i] = xstrdup("");
            }
        }
        free(token);
        token = lr.truncated ? xstrdup(lr.next_token) : NULL;
        s3_list_result_free(&lr);
        if (!token) break;
    }
    free(token);
    if (rc == 0) {
        if (n) qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n && rc == 0; i++) rc = fn(ctx, names[i]);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

const objstore_backend_t objstore_s3_backend = {
    .upload_file = s3_upload_file,
    .upload_buf = s3_upload_buf,
    .get = s3_get,
    .attributes = s3_attributes,
    .del = s3_del,
    .iter = s3_iter,
    .close = s3_close,
};
