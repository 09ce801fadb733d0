/* latentrsa embed-fmri (stub; being written) */
#include "cli.h"

int cmd_embed_fmri(int argc, char **argv, cli_ctx *cli)
{
    (void)argc;
    (void)argv;
    cli_error(cli, "not implemented yet");
    return EXIT_FAILURE_;
}
