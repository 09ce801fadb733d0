/* latentrsa vit-init: write a Hugging Face ViT model directory with seeded random weights. */
#include "cli.h"
#include "latentrsa/vit.h"

#include <stdlib.h>
#include <string.h>

static const char *const vit_init_synopsis[] = {
    "latentrsa vit-init [--config base|tiny|FILE.json] [--seed S] -o DIR",
    NULL
};

static const cli_usage vit_init_usage = {
    vit_init_synopsis,
    "Write DIR/config.json and DIR/model.safetensors (float32) for a ViTModel with random weights\n"
    "drawn as transformers' _init_weights does: truncated normal with sd 0.02 for the linear and\n"
    "patch-conv weights, the CLS token and the position embeddings; zero biases; layernorms 1 and\n"
    "0. --config base is google/vit-base-patch16-224-in21k's architecture (86.4 M parameters,\n"
    "346 MB), tiny is ViT-Ti/16 (5.6 M, 22 MB); FILE.json is a Hugging Face config.json. The same\n"
    "config and seed give the same bytes. For tests, benchmarks and demos without a checkpoint."
};

int cmd_vit_init(int argc, char **argv, cli_ctx *cli)
{
    const char *config = "base", *out = NULL;
    int64_t seed = 1;
    const cli_opt opts[] = {
        OPT_STRING_(0, "config", &config, "NAME|FILE", "base, tiny, or a config.json (default base)"),
        OPT_INT_(0, "seed", &seed, "S", "random seed, 0 to 2^63-1 (default 1)"),
        OPT_STRING_('o', "output", &out, "DIR", "write the model directory here (required)"),
        OPT_END_(),
    };
    char *args[1];   /* no positional arguments (cli_parse stores at most max_args) */
    int nargs = 0;
    int rc = cli_parse(cli, argc, argv, opts, &vit_init_usage, 0, 0, args, &nargs);
    if (rc >= 0)
        return rc;
    if (!out || !*out)
        return cli_usage_error(cli, "missing -o DIR");
    if (seed < 0)
        return cli_usage_error(cli, "--seed must be >= 0, got %lld", (long long)seed);
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_vit_config cfg;
    if (strcmp(config, "base") == 0 || strcmp(config, "tiny") == 0) {
        lrsa_vit_config_preset(config, &cfg, &err);
    } else if (lrsa_is_file(config)) {
        if (lrsa_vit_config_read(config, &cfg, &err))
            return cli_report(cli, &err);
    } else {
        return cli_usage_error(cli, "--config must be base, tiny or an existing config.json, got '%s'",
                               config);
    }
    if (lrsa_vit_init_random(&cfg, (uint64_t)seed, out, &err))
        return cli_report(cli, &err);
    cli_note(cli, "wrote a ViT (hidden %lld, %lld layers, %lld heads, patch %lld, image %lld; "
             "%lld parameters) with seed %lld to '%s'",
             (long long)cfg.hidden_size, (long long)cfg.num_hidden_layers,
             (long long)cfg.num_attention_heads, (long long)cfg.patch_size,
             (long long)cfg.image_size, (long long)lrsa_vit_config_params(&cfg), (long long)seed, out);
    return EXIT_OK;
}
