/* http.h — a small HTTP server on libmicrohttpd.
 *
 * Requests are handed to one handler function with the method, path, the
 * decoded query and form parameters (GET query string and form-encoded POST
 * bodies alike, in order, names may repeat as for match[]), and the request
 * headers. The handler fills an http_response_t; the server adds gzip when
 * the client accepts it and the body is worth compressing. A thread pool
 * serves connections. */
#ifndef PL_WEB_HTTP_H
#define PL_WEB_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"
#include "util/strbuf.h"

typedef struct http_param {
    char *name;
    char *value;
} http_param_t;

typedef struct http_request {
    const char *method;
    const char *path;
    http_param_t *params; /* query string, then form body */
    size_t nparams;
    const char *body;     /* raw request body (POST), may be NULL */
    size_t body_len;
    void *conn;           /* the MHD connection, for header look-ups */
} http_request_t;

typedef struct http_response {
    int status;
    const char *content_type; /* static string */
    strbuf_t body;
    char *location;           /* Location header for redirects (owned) */
    char *extra_header_name, *extra_header_value; /* one more header (owned, optional) */
    bool identity;            /* send the body as is: never gzip (binary protocols with their own encoding) */
} http_response_t;

typedef void (*http_handler_fn)(void *ctx, const http_request_t *req, http_response_t *resp);

typedef struct http_server http_server_t;

/* listen is "HOST:PORT", ":PORT" or "[::1]:PORT" (Prometheus's --web.listen-address form). */
http_server_t *http_server_start(const char *listen, unsigned threads, http_handler_fn fn, void *ctx, pl_err_t *err);
void http_server_stop(http_server_t *s);
/* The port actually bound (useful with port 0). */
unsigned http_server_port(const http_server_t *s);

/* First value of a parameter, or NULL. */
const char *http_param(const http_request_t *req, const char *name);
/* Request header value, or NULL. */
const char *http_header(const http_request_t *req, const char *name);

/* Percent-decodes a form/query component in place ("+" is a space). Returns the new length. */
size_t http_url_decode(char *s, size_t len);
/* Appends name=value pairs parsed from an application/x-www-form-urlencoded string. */
void http_parse_form(const char *s, size_t len, http_param_t **params, size_t *n);

#endif
