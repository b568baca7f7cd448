/* http.c — see http.h. */
#include "web/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <zlib.h>

struct http_server {
    struct MHD_Daemon *daemon;
    http_handler_fn fn;
    void *ctx;
    unsigned port;
};

/* Per-request state, kept in MHD's con_cls between callbacks. */
typedef struct {
    strbuf_t body;
    size_t max_body;
    bool too_large;
} req_state_t;

#define MAX_REQUEST_BODY (64u << 20)

size_t http_url_decode(char *s, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            s[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len + 0 && isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            s[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

static void add_param(http_param_t **params, size_t *n, const char *name, size_t nl, const char *value, size_t vl) {
    http_param_t *np = realloc(*params, (*n + 1) * sizeof *np);
    if (!np) return;
    *params = np;
    np[*n].name = strndup(name, nl);
    np[*n].value = strndup(value, vl);
    (*n)++;
}

void http_parse_form(const char *s, size_t len, http_param_t **params, size_t *n) {
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != '&') end++;
        if (end > i) {
            const char *eq = memchr(s + i, '=', end - i);
            size_t nl = eq ? (size_t)(eq - (s + i)) : end - i;
            const char *v = eq ? eq + 1 : s + end;
            size_t vl = eq ? (size_t)(s + end - v) : 0;
            add_param(params, n, s + i, nl, v, vl);
            http_param_t *p = &(*params)[*n - 1];
            http_url_decode(p->name, strlen(p->name));
            http_url_decode(p->value, strlen(p->value));
        }
        i = end + 1;
    }
}

typedef struct {
    http_param_t *params;
    size_t n;
} collect_t;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    collect_t *c = cls;
    if (!value) value = "";
    add_param(&c->params, &c->n, key, strlen(key), value, strlen(value));
    return MHD_YES;
}

const char *http_param(const http_request_t *req, const char *name) {
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].name, name) == 0) return req->params[i].value;
    return NULL;
}

const char *http_header(const http_request_t *req, const char *name) {
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_HEADER_KIND, name);
}

static bool accepts_gzip(struct MHD_Connection *conn) {
    const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    return ae && strstr(ae, "gzip");
}

/* gzip-compresses in into out; returns false on failure. */
static bool gzip_buf(const char *in, size_t len, strbuf_t *out) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
    strbuf_reserve(out, deflateBound(&zs, len) + 32);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out->data;
    zs.avail_out = (uInt)(out->cap - 1);
    int rc = deflate(&zs, Z_FINISH);
    out->len = zs.total_out;
    deflateEnd(&zs);
    return rc == Z_STREAM_END;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    http_server_t *s = cls;
    req_state_t *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (st->body.len + *upload_data_size > MAX_REQUEST_BODY) st->too_large = true;
        else strbuf_append(&st->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    http_response_t resp;
    memset(&resp, 0, sizeof resp);
    resp.status = 200;
    resp.content_type = "text/plain; charset=utf-8";

    if (st->too_large) {
        resp.status = 413;
        strbuf_puts(&resp.body, "request body too large\n");
    } else {
        collect_t c = {NULL, 0};
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &c);
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (st->body.len && ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
            http_parse_form(st->body.data, st->body.len, &c.params, &c.n);
        http_request_t req = {method, url, c.params, c.n, st->body.data, st->body.len, conn};
        s->fn(s->ctx, &req, &resp);
        for (size_t i = 0; i < c.n; i++) {
            free(c.params[i].name);
            free(c.params[i].value);
        }
        free(c.params);
    }

    bool gz = false;
    strbuf_t zbody = STRBUF_INIT;
    if (!resp.identity && resp.body.len >= 1024 && accepts_gzip(conn) && gzip_buf(resp.body.data, resp.body.len, &zbody)) gz = true;
    struct MHD_Response *r;
    if (gz) {
        r = MHD_create_response_from_buffer(zbody.len, zbody.data, MHD_RESPMEM_MUST_FREE);
        zbody.data = NULL;
    } else {
        size_t len = resp.body.len;
        char *data = strbuf_detach(&resp.body);
        r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    }
    strbuf_free(&zbody);
    strbuf_free(&resp.body);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type);
    if (gz) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    if (resp.location) MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp.location);
    if (resp.extra_header_name) MHD_add_response_header(r, resp.extra_header_name, resp.extra_header_value);
    free(resp.location);
    free(resp.extra_header_name);
    free(resp.extra_header_value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp.status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)conn, (void)toe;
    req_state_t *st = *con_cls;
    if (st) {
        strbuf_free(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

/* Parses "host:port" into a sockaddr. Empty host = all interfaces. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, pl_err_t *err) {
    memset(ss, 0, sizeof *ss);
    const char *colon = strrchr(listen, ':');
    if (!colon) return pl_err_set(err, "listen address %s: missing port", listen);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return pl_err_set(err, "listen address %s: invalid port", listen);
    char host[256];
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host) return pl_err_set(err, "listen address %s: host too long", listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0) {
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
    } else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
    } else {
        return pl_err_set(err, "listen address %s: host must be an IP address or localhost", listen);
    }
    return 0;
}

http_server_t *http_server_start(const char *listen, unsigned threads, http_handler_fn fn, void *ctx, pl_err_t *err) {
    struct sockaddr_storage ss;
    socklen_t slen;
    if (parse_listen(listen, &ss, &slen, err) < 0) return NULL;
    http_server_t *s = calloc(1, sizeof *s);
    s->fn = fn;
    s->ctx = ctx;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_THREAD_POOL_SIZE, threads ? threads : 4u, MHD_OPTION_NOTIFY_COMPLETED,
                                 on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: it sets SO_REUSEPORT, which lets a second
     * server bind the same port and steal half the connections. The default
     * (SO_REUSEADDR) still allows a restart while old connections linger. */
    if (!s->daemon) {
        free(s);
        pl_err_set(err, "listen tcp %s: cannot bind (address in use or not permitted)", listen);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    return s;
}

void http_server_stop(http_server_t *s) {
    if (!s) return;
    MHD_stop_daemon(s->daemon);
    free(s);
}

unsigned http_server_port(const http_server_t *s) { return s->port; }
