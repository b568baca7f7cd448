/* api_status.c — /api/v1/status/{config,flags,buildinfo}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/internal.h"

void web_handle_config(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)req;
    strbuf_t yaml = STRBUF_INIT;
    if (w->opts.config_yaml) w->opts.config_yaml(w->opts.cb_ctx, &yaml);
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    jw_key(&jw, "yaml");
    jw_strn(&jw, yaml.data ? yaml.data : "", yaml.len);
    jw_obj_end(&jw);
    api_end(&jw);
    strbuf_free(&yaml);
}

void web_handle_flags(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)req;
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    for (size_t i = 0; i < w->opts.nflags; i++) {
        const flag_def_t *f = &w->opts.flags[i];
        jw_key(&jw, f->name);
        if (f->kind == FLAG_STRINGS && f->nvalues > 1) {
            strbuf_t joined = STRBUF_INIT;
            for (size_t k = 0; k < f->nvalues; k++) {
                if (k) strbuf_putc(&joined, ',');
                strbuf_puts(&joined, f->values[k]);
            }
            jw_str(&jw, joined.data);
            strbuf_free(&joined);
        } else {
            jw_str(&jw, f->value ? f->value : "");
        }
    }
    jw_obj_end(&jw);
    api_end(&jw);
}

void web_handle_buildinfo(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)w;
    (void)req;
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    jw_key(&jw, "version");
    jw_str(&jw, PROMLAB_PROMETHEUS_COMPAT "+promlab." PROMLAB_VERSION);
    jw_key(&jw, "revision");
    jw_str(&jw, "promlab");
    jw_key(&jw, "branch");
    jw_str(&jw, "main");
    jw_key(&jw, "buildUser");
    jw_str(&jw, "promlab");
    jw_key(&jw, "buildDate");
    jw_str(&jw, __DATE__);
    jw_key(&jw, "goVersion");
    jw_str(&jw, "n/a (C17)");
    jw_obj_end(&jw);
    api_end(&jw);
}
