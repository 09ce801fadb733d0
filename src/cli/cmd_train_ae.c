/* latentrsa train-ae (stub; being written) */
#include "cli.h"

int cmd_train_ae(int argc, char **argv, cli_ctx *cli)
{
    (void)argc;
    (void)argv;
    cli_error(cli, "not implemented yet");
    return EXIT_FAILURE_;
}
