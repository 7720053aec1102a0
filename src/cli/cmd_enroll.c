/* `haetae enroll --server URL --token T [--ca FILE] [--state DIR]`: give this
 * host's agent an identity with a server (docs/PROTOCOL.md "Enrollment").
 * The next `haetae agent --state DIR` sends its spool there. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/cli.h"

int cli_cmd_enroll(int argc, char **argv) {
    /* The same default as `haetae agent`, so the two meet without --state. */
    agent_enroll_options opt = {.state_dir = geteuid() == 0 ? CLI_AGENT_STATE_ROOT : CLI_AGENT_STATE_USER};
    const cli_opt opts[] = {
        {.name = "server", .kind = CLI_OPT_STRING, .target = &opt.server_url, .required = true,
         .metavar = "URL", .help = "the haetae server, https://HOST:PORT"},
        {.name = "token", .kind = CLI_OPT_STRING, .target = &opt.token, .required = true,
         .metavar = "TOKEN", .help = "one-time token from `haetae server token create`"},
        {.name = "ca", .kind = CLI_OPT_FILE, .target = &opt.ca_file,
         .help = "also verify the server's certificate against this CA (PEM)"},
        {.name = "state", .kind = CLI_OPT_STRING, .target = &opt.state_dir, .metavar = "DIR",
         .help = "the agent's state directory, as for `haetae agent`"},
        {.name = "hostname", .kind = CLI_OPT_STRING, .target = &opt.hostname, .metavar = "NAME",
         .help = "name to register (default: this host's name)"},
    };
    const cli_spec spec = {
        .command = "haetae enroll",
        .synopsis = "haetae enroll --server https://HOST:PORT --token TOKEN [options]",
        .description = "Gives this host's agent an identity with a server. The token's pin "
                       "authenticates the server:\nnothing is sent to a server whose key does "
                       "not match it.",
        .opts = opts,
        .count = sizeof opts / sizeof opts[0],
    };
    int rc = cli_parse(&spec, argc, argv);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    char agent_id[HAE_ID_LEN];
    hae_err err = {0};
    if (agent_enroll(&opt, agent_id, &err) < 0) {
        return cli_fail("enroll", err.code == HAE_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_ERROR, "%s",
                        err.msg);
    }
    printf("enrolled with %s as agent %s\nstate: %s (agent.key, server.json)\n", opt.server_url,
           agent_id, opt.state_dir);
    return CLI_EXIT_OK;
}
