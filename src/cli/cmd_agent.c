/* `haetae agent`: placeholder until the agent module lands. */
#include "cli/cli.h"

int cli_cmd_agent(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("agent", CLI_EXIT_FAIL, "not built yet");
}
