/* ui.c — the web UI: the single page (index.html) under every UI route
 * Prometheus has (/query, /graph, /targets, /rules, /alerts, /tsdb-status,
 * /config, /flags, /status), so bookmarks carry over, and its assets under
 * /assets/. The page itself reads the HTTP API; nothing is rendered here. */
#include <string.h>

#include "web/internal.h"
#include "web/ui_assets.h"

static const web_ui_asset_t *find_asset(const char *name) {
    for (const web_ui_asset_t *a = web_ui_assets; a->name; a++)
        if (strcmp(a->name, name) == 0) return a;
    return NULL;
}

static const char *content_type(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return "application/octet-stream";
    if (strcmp(dot, ".html") == 0) return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0) return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0) return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0) return "image/svg+xml";
    return "application/octet-stream";
}

static void serve(const web_ui_asset_t *a, http_response_t *r) {
    r->content_type = content_type(a->name);
    strbuf_append(&r->body, a->data, a->size);
}

void web_handle_ui_page(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)w;
    (void)req;
    serve(find_asset("index.html"), r);
}

void web_handle_ui_asset(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)w;
    const char *name = req->path + strlen("/assets/");
    const web_ui_asset_t *a = strchr(name, '/') ? NULL : find_asset(name);
    if (!a || strcmp(name, "index.html") == 0) {
        r->status = 404;
        r->content_type = "text/plain; charset=utf-8";
        strbuf_puts(&r->body, "404 page not found\n");
        return;
    }
    serve(a, r);
}
