/* haetae-agent: the host agent alone, for fleet hosts. The same command as
 * `haetae agent`, in a binary that links only core, sensor and agent, so
 * the resident agent carries no server, detection or scanner libraries. */
#include "cli/cli.h"

int main(int argc, char **argv) {
    return cli_cmd_agent(argc, argv);
}
