/* haetae-agent: the host agent alone, for fleet hosts. The same command as
 * `haetae agent`, in a binary that links only core, sensor and agent, so
 * the resident agent carries no server, detection or scanner libraries. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("haetae-agent %s\n", HAETAE_VERSION);
        return CLI_EXIT_OK;
    }
    return cli_cmd_agent(argc, argv);
}
