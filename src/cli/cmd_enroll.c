/* `haetae enroll --server URL --token T [--ca FILE] [--state DIR]`: give this
 * host's agent an identity with a server (docs/PROTOCOL.md "Enrollment").
 * The next `haetae agent --state DIR` sends its spool there. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/cli.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: haetae enroll --server https://HOST:PORT --token TOKEN [options]\n\n"
            "options:\n"
            "  --server URL     the haetae server\n"
            "  --token TOKEN    one-time token from `haetae server token create`\n"
            "  --ca FILE        also verify the server's certificate against this CA (PEM)\n"
            "  --state DIR      the agent's state directory, as for `haetae agent`\n"
            "                   (default /var/lib/haetae as root, else ./var/agent)\n"
            "  --hostname NAME  name to register (default: this host's name)\n"
            "The token's pin authenticates the server: nothing is sent to a server whose\n"
            "key does not match it.\n");
}

int cli_cmd_enroll(int argc, char **argv) {
    enum { O_SERVER = 1, O_TOKEN, O_CA, O_STATE, O_HOSTNAME, O_HELP };
    const struct option options[] = {
        {"server", required_argument, NULL, O_SERVER},
        {"token", required_argument, NULL, O_TOKEN},
        {"ca", required_argument, NULL, O_CA},
        {"state", required_argument, NULL, O_STATE},
        {"hostname", required_argument, NULL, O_HOSTNAME},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    /* The same default as `haetae agent`, so the two meet without --state. */
    agent_enroll_options opt = {.state_dir = geteuid() == 0 ? "/var/lib/haetae" : "var/agent"};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case O_SERVER: opt.server_url = optarg; break;
        case O_TOKEN: opt.token = optarg; break;
        case O_CA: opt.ca_file = optarg; break;
        case O_STATE: opt.state_dir = optarg; break;
        case O_HOSTNAME: opt.hostname = optarg; break;
        case O_HELP: usage(stdout); return CLI_EXIT_OK;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc || !opt.server_url || !opt.token) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    char agent_id[HAE_ID_LEN];
    hae_err err = {0};
    if (agent_enroll(&opt, agent_id, &err) < 0) {
        return cli_fail("enroll", err.code == HAE_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL, "%s",
                        err.msg);
    }
    printf("enrolled with %s as agent %s\nstate: %s (agent.key, server.json)\n", opt.server_url,
           agent_id, opt.state_dir);
    return CLI_EXIT_OK;
}
