/* api_rules.c — /api/v1/rules, /api/v1/alerts and /api/v1/alertmanagers, as
 * Prometheus answers them (the JSON itself is written by the rules module,
 * which owns the state it describes). */
#include <stdlib.h>
#include <string.h>

#include "rules/rules.h"
#include "web/internal.h"

/* Every value of a repeated parameter (rule_name[], ...). */
static const char **param_values(const http_request_t *req, const char *name, size_t *n) {
    const char **v = calloc(req->nparams + 1, sizeof *v);
    if (!v) abort();
    *n = 0;
    for (size_t i = 0; i < req->nparams; i++)
        if (!strcmp(req->params[i].name, name)) v[(*n)++] = req->params[i].value;
    return v;
}

void web_handle_rules(web_t *w, const http_request_t *req, http_response_t *r) {
    rules_filter_t f = {0};
    const char *typ = http_param(req, "type");
    if (typ && *typ) {
        if (!strcasecmp(typ, "alert")) f.type = 1;
        else if (!strcasecmp(typ, "record")) f.type = 2;
        else {
            strbuf_t sb = STRBUF_INIT;
            strbuf_printf(&sb, "invalid parameter \"type\": not supported value \"%s\"", typ);
            api_error(r, 400, "bad_data", sb.data);
            strbuf_free(&sb);
            return;
        }
    }
    const char *ex = http_param(req, "exclude_alerts");
    f.exclude_alerts = ex && !strcmp(ex, "true");
    const char **names = param_values(req, "rule_name[]", &f.nrule_names);
    const char **groups = param_values(req, "rule_group[]", &f.nrule_groups);
    const char **files = param_values(req, "file[]", &f.nfiles);
    f.rule_names = names, f.rule_groups = groups, f.files = files;
    jsonw_t jw;
    api_begin(r, &jw);
    if (w->opts.rules) {
        rules_manager_write_rules_json(w->opts.rules, &f, &jw);
    } else {
        jw_obj_begin(&jw);
        jw_key(&jw, "groups");
        jw_arr_begin(&jw);
        jw_arr_end(&jw);
        jw_obj_end(&jw);
    }
    api_end(&jw);
    free(names);
    free(groups);
    free(files);
}

void web_handle_alerts(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)req;
    jsonw_t jw;
    api_begin(r, &jw);
    if (w->opts.rules) {
        rules_manager_write_alerts_json(w->opts.rules, &jw);
    } else {
        jw_obj_begin(&jw);
        jw_key(&jw, "alerts");
        jw_arr_begin(&jw);
        jw_arr_end(&jw);
        jw_obj_end(&jw);
    }
    api_end(&jw);
}

void web_handle_alertmanagers(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)req;
    strbuf_t urls = STRBUF_INIT;
    if (w->opts.notifier) notifier_urls(w->opts.notifier, &urls);
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    jw_key(&jw, "activeAlertmanagers");
    jw_arr_begin(&jw);
    for (char *p = urls.data; p && *p;) {
        char *nl = strchr(p, '\n');
        jw_obj_begin(&jw);
        jw_key(&jw, "url");
        jw_strn(&jw, p, nl ? (size_t)(nl - p) : strlen(p));
        jw_obj_end(&jw);
        if (!nl) break;
        p = nl + 1;
    }
    jw_arr_end(&jw);
    jw_key(&jw, "droppedAlertmanagers");
    jw_arr_begin(&jw);
    jw_arr_end(&jw);
    jw_obj_end(&jw);
    api_end(&jw);
    strbuf_free(&urls);
}
