/* ui_assets.h — the web UI's files (impl/src/web/ui/), built into the binary.
 * The table is generated at build time by scripts/embed-assets.sh. */
#ifndef PL_WEB_UI_ASSETS_H
#define PL_WEB_UI_ASSETS_H

#include <stddef.h>

typedef struct web_ui_asset {
    const char *name; /* file name, e.g. "app.js" */
    const unsigned char *data;
    size_t size;
} web_ui_asset_t;

/* Terminated by an entry with name NULL. */
extern const web_ui_asset_t web_ui_assets[];

#endif
