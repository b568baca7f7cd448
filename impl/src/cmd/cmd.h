/* cmd.h — the promlab subcommands. Each takes argv after the subcommand
 * name and returns the process exit status. */
#ifndef PL_CMD_H
#define PL_CMD_H

int cmd_server(int argc, char **argv);
int cmd_tool(int argc, char **argv);
int cmd_query(int argc, char **argv);
/* tool_rules.c: `tool check config|rules FILE...`, `tool test rules FILE...` (argv from "check"/"test"). */
int cmd_tool_rules(int argc, char **argv);
int cmd_sidecar(int argc, char **argv);
int cmd_store(int argc, char **argv);
/* promlab tool bucket ls|inspect|verify (tool_bucket.c). */
int cmd_tool_bucket(int argc, char **argv);
/* compact.c: the Thanos-style compactor. */
int cmd_compact(int argc, char **argv);

#endif
