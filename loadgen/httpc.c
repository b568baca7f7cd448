/* httpc.c — the few HTTP GETs loadgen makes itself (libcurl easy handles):
 * a server's /metrics, readiness probes. The query load has its own loop in
 * queryset.c (one reused handle per worker). */
#include <curl/curl.h>
#include <math.h>
#include <string.h>

#include "loadgen.h"

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    strbuf_append(ud, p, size * n);
    return size * n;
}

int lg_http_get(const char *url, strbuf_t *body, int64_t timeout_ms, pl_err_t *err) {
    CURL *h = curl_easy_init();
    if (!h) return pl_err_set(err, "curl init failed"), 0;
    strbuf_reset(body);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 10000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else pl_err_set(err, "GET %s: %s", url, curl_easy_strerror(rc));
    curl_easy_cleanup(h);
    return (int)status;
}

int lg_scrape_values(const char *url, lg_metric_want_t *w, size_t n, pl_err_t *err) {
    for (size_t i = 0; i < n; i++) w[i].value = NAN;
    strbuf_t body = STRBUF_INIT;
    int status = lg_http_get(url, &body, 10000, err);
    if (status != 200) {
        if (status) pl_err_set(err, "GET %s: HTTP %d", url, status);
        strbuf_free(&body);
        return -1;
    }
    textparse_t *p = textparse_new(TEXTPARSE_PROM, body.data, body.len);
    textparse_sample_t s;
    enum textparse_entry e;
    int rc = 0;
    while ((e = textparse_next(p, &s, err)) != TEXTPARSE_EOF) {
        if (e == TEXTPARSE_ERROR) {
            rc = -1;
            break;
        }
        if (e != TEXTPARSE_SAMPLE) continue;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(s.name, w[i].name) != 0) continue;
            if (w[i].label) {
                const char *lv = labels_get(s.labels, s.nlabels, w[i].label);
                if (!lv || strcmp(lv, w[i].label_value) != 0) continue;
            }
            if (isnan(w[i].value)) w[i].value = s.value;
            else if (w[i].sum) w[i].value += s.value;
        }
    }
    textparse_free(p);
    strbuf_free(&body);
    return rc;
}

int lg_metric_selector(const char *spec, char *buf, size_t bufsz, lg_metric_want_t *w) {
    size_t len = strlen(spec);
    if (len == 0 || len >= bufsz) return -1;
    memcpy(buf, spec, len + 1);
    w->label = w->label_value = NULL;
    w->name = buf;
    char *brace = strchr(buf, '{');
    if (!brace) return metric_name_valid(buf, len) ? 0 : -1;
    /* name{label="value"} */
    if (buf[len - 1] != '}') return -1;
    buf[len - 1] = '\0';
    *brace = '\0';
    char *eq = strchr(brace + 1, '=');
    if (!eq || eq[1] != '"' || eq[strlen(eq) - 1] != '"' || strlen(eq) < 3) return -1;
    *eq = '\0';
    eq[strlen(eq + 1)] = '\0'; /* drop the closing quote */
    w->label = brace + 1;
    w->label_value = eq + 2;
    return metric_name_valid(buf, strlen(buf)) && label_name_valid(w->label, strlen(w->label)) ? 0 : -1;
}
