#!/usr/bin/env bash
# The web UI in a real browser: Debian's headless Chromium driven through
# chromedriver's WebDriver HTTP API (curl + jq, no extra runtime). The server
# (ASan build) scrapes itself and a node_exporter textfile of 10,000 series.
# A user types a query, switches to the graph and sees one line per series;
# the URL carries the query as Prometheus's /graph?g0.expr=... links do; the
# targets, TSDB status, configuration, flags and status pages show the rows
# they should. Screenshots of every page go to reports/ui/ (UI_REPORT_DIR),
# with each page's load time (navigation start to rendered) in timings.json.
source "$(dirname "$0")/../lib.sh"

NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
CHROMEDRIVER=$(command -v chromedriver || echo /usr/bin/chromedriver)
CHROMIUM=$(command -v chromium || echo /usr/bin/chromium)
OUT=${UI_REPORT_DIR:-$ROOT/reports/ui}
mkdir -p "$OUT"
if [ ! -x "$CHROMEDRIVER" ] || [ ! -x "$CHROMIUM" ]; then
  not_ok "chromium and chromedriver installed (scripts/deps.sh installs them)"; exit 1
fi

P_PORT=$(free_port); NE_PORT=$(free_port); CD_PORT=$(free_port)
mkdir -p "$TMP/textfile"
# 10,000 series: ui_load{shard="0".."9", i="0".."999"}.
awk 'BEGIN { print "# TYPE ui_load gauge"; for (s = 0; s < 10; s++) for (i = 0; i < 1000; i++) printf "ui_load{shard=\"%d\",i=\"%d\"} %d\n", s, i, s * 1000 + i }' \
  >"$TMP/textfile/ui.prom"
start_bg "$TMP/ne.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$TMP/textfile"
cat >"$TMP/p.yml" <<YML
global:
  scrape_interval: 5s
  scrape_timeout: 5s   # generous: ASan server, busy CI machine
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$P_PORT']
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML
start_bg "$TMP/server.log" "$PROMLAB" server --config.file="$TMP/p.yml" --storage.tsdb.path="$TMP/data" \
  --web.listen-address=127.0.0.1:$P_PORT
SRV=http://127.0.0.1:$P_PORT
check "server holds the 10,000 textfile series" wait_for 30 \
  sh -c "[ \"\$(curl -fsS --get --data-urlencode 'query=count(ui_load)' $SRV/api/v1/query | jq -r '.data.result[0].value[1]')\" = 10000 ]"
# A few seconds of history for the graph.
sleep 3

start_bg "$TMP/chromedriver.log" "$CHROMEDRIVER" --port=$CD_PORT
wait_for 15 http_ok "http://127.0.0.1:$CD_PORT/status" || { not_ok "chromedriver starts"; exit 1; }
CAPS=$(jq -nc --arg bin "$CHROMIUM" '{capabilities: {alwaysMatch: {browserName: "chrome", "goog:chromeOptions":
  {binary: $bin, args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]}}}}')
SID=$(curl -fsS -XPOST "http://127.0.0.1:$CD_PORT/session" -d "$CAPS" | jq -r .value.sessionId)
[ -n "$SID" ] && [ "$SID" != null ] || { not_ok "a browser session starts"; exit 1; }
WD=http://127.0.0.1:$CD_PORT/session/$SID
end_session() { curl -fsS -XDELETE "$WD" >/dev/null 2>&1; }
trap 'end_session; cleanup' EXIT

wd_post() { curl -fsS -XPOST "$WD/$1" -d "$2"; }
open() { wd_post url "$(jq -nc --arg u "$SRV$1" '{url: $u}')" >/dev/null; }
# js SCRIPT: runs SCRIPT in the page (a function body) and prints its return value as JSON.
js() { wd_post execute/sync "$(jq -nc --arg s "$1" '{script: $s, args: []}')" | jq -c .value; }
# js_is SCRIPT EXPECTED: the script's JSON return value equals EXPECTED.
js_is() { [ "$(js "$1")" = "$2" ]; }
element() { wd_post element "$(jq -nc --arg c "$1" '{using: "css selector", value: $c}')" | jq -r '.value | to_entries[0].value'; }
click() { wd_post "element/$(element "$1")/click" '{}' >/dev/null; }
type_into() { local e; e=$(element "$1"); wd_post "element/$e/clear" '{}' >/dev/null; wd_post "element/$e/value" "$(jq -nc --arg t "$2" '{text: $t}')" >/dev/null; }
shot() { curl -fsS "$WD/screenshot" | jq -r .value | base64 -d >"$OUT/$1.png"; }
TIMINGS="{}"
# loaded PAGE [KEY]: the page rendered (app.js sets data-loaded); records its
# load time under KEY (default PAGE).
loaded() {
  wait_for 30 js_is "return document.body.dataset.loaded || null" "\"$1\"" || return 1
  local ms; ms=$(js "return +document.body.dataset.loadedMs")
  TIMINGS=$(jq -c --arg p "${2:-$1}" --argjson ms "$ms" '. + {($p): $ms}' <<<"$TIMINGS")
}

# 1. The expression browser: type, execute, table then graph.
open /query
check "query page renders" loaded query
type_into '#expr' 'ui_load{i="7"}'
click '#exec'
check "table view: one row per series (10)" wait_for 30 js_is "return document.querySelectorAll('#result-table tbody tr').length" 10
check "table view shows the series' value" wait_for 5 \
  js_is "return [...document.querySelectorAll('#result-table tbody tr')].some(r => r.innerText.includes('shard=\"3\"') && r.innerText.trim().endsWith('3007'))" true
click '.tabs button[data-tab=graph]'
type_into '#range' '2m'
click '#exec'
check "graph view: one line per series in the legend (10)" wait_for 30 js_is "return document.querySelectorAll('#legend .legend-item').length" 10
check "graph view: the chart is drawn for 10 series" js_is "return document.querySelector('#chart').dataset.series" '"10"'
check "graph view: the canvas has pixels drawn" js_is \
  "const c = document.querySelector('#chart'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n > 1000" true
check "the URL encodes the query as Prometheus's links do" js_is \
  "const p = new URLSearchParams(location.search); return [p.get('g0.expr'), p.get('g0.tab')]" '["ui_load{i=\"7\"}","0"]'
shot graph
check "history keeps the query" js_is "return document.querySelector('#history a').title" '"ui_load{i=\"7\"}"'

# 2. A bookmarked Prometheus link opens straight into the table view.
open "/graph?g0.expr=count(ui_load)&g0.tab=1"
check "a /graph?g0.expr=... link runs its query" wait_for 15 \
  js_is "return document.querySelector('#result-table tbody tr') && document.querySelector('#result-table tbody tr').innerText.trim().endsWith('10000')" true
open "/graph?g0.expr=sum(rate(nope%5B&g0.tab=1"
check "a bad query shows the server's parse error" wait_for 15 \
  js_is "return !!document.querySelector('#result .error') && document.querySelector('#result .error').innerText.includes('parse error')" true

# 3. Status pages.
open /targets
check "targets page renders" loaded targets
check "targets page: one row per target, both UP" wait_for 30 js_is \
  "return [...document.querySelectorAll('tr.target')].length === 2 && [...document.querySelectorAll('tr.target .badge')].every(b => b.innerText === 'UP')" true
check "targets page: the node pool lists the node_exporter URL" js_is \
  "return [...document.querySelectorAll('tr.target a')].some(a => a.innerText === 'http://127.0.0.1:$NE_PORT/metrics')" true
shot targets

open /tsdb-status
check "TSDB status page renders" loaded tsdb-status
check "TSDB status: head stats count at least the 10,000 series" js_is \
  "const r = [...document.querySelectorAll('#headStats tr')].find(r => r.innerText.startsWith('Number of series')); return !!r && +r.cells[1].innerText >= 10000" true
check "TSDB status: ui_load tops the series count by metric name with 10000" js_is \
  "const r = document.querySelector('#seriesCountByMetricName tbody tr'); return !!r && r.cells[0].innerText === 'ui_load' && r.cells[1].innerText === '10000'" true
shot tsdb-status

open /config
check "configuration page shows the loaded config" loaded config
check "configuration page: the node job is in the YAML" js_is "return document.querySelector('#config-yaml').innerText.includes('job_name: node')" true
shot config

open /flags
check "flags page renders" loaded flags
check "flags page: --storage.tsdb.path has the data dir" js_is \
  "return [...document.querySelectorAll('#flags tr')].some(r => r.cells[0].innerText === '--storage.tsdb.path' && r.cells[1].innerText === '$TMP/data')" true
shot flags

open /status
check "status page renders" loaded status
check "status page: build information with the version" js_is "return document.querySelector('#build').innerText.includes('promlab')" true
shot status

for page in rules alerts; do
  open /$page
  check "$page page renders" loaded $page
  shot $page
done

# The query page once more: the first navigation of a fresh browser pays for
# starting its renderer; this one shows what the page itself costs.
open /query
check "query page renders a second time" loaded query "query (second load)"

jq . <<<"$TIMINGS" >"$OUT/timings.json"
echo "# page render times (ms from navigation start, 10k series in the head): $TIMINGS"
check "no sanitizer reports from the server" sh -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' '$TMP/server.log'"
