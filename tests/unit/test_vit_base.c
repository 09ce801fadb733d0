/* ViT-B/16 end to end against transformers (a separate ctest case, unit.test_vit_base: it writes
 * and reads a 346 MB checkpoint, about 10-30 s on 2 cores).
 *
 * lrsa_vit_init_random(base, seed 1) writes the checkpoint that `latentrsa vit-init --config base
 * --seed 1` writes into a temporary directory; tools/gen_vit_fixtures.py --base ran transformers
 * 4.44.2 on that checkpoint for two images whose pixels come from lrsa_rng seed 7
 * (float32(2u - 1) in C order) and stored the CLS, mean and pooler outputs
 * (tests/fixtures/vit/base_seed1). Ours must match within |diff| <= 1e-5 + 1e-4 |torch|. */
#include "harness.h"
#include "latentrsa/npy.h"
#include "latentrsa/vit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void)
{
    const char *src = getenv("LRSA_SRC");
    char dir[1024], path[1200], fix[1200];
    snprintf(dir, sizeof dir, "%s/test_vit_base", harness_tmpdir());
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_ctx ctx;
    lrsa_ctx_init(&ctx);
    lrsa_vit_config cfg;
    CHECK(lrsa_vit_config_preset("base", &cfg, &err) == LRSA_OK);
    double t0 = now();
    int rc = lrsa_vit_init_random(&cfg, 1, dir, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    double t1 = now();
    lrsa_vit *vit = NULL;
    rc = rc ? rc : lrsa_vit_load(dir, &vit, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    double t2 = now();
    /* the checkpoint is not kept: 346 MB */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
    if (!vit)
        return harness_done();
    int64_t S = cfg.image_size, per = 3 * S * S, C = cfg.hidden_size;
    float *px = malloc(sizeof(float) * (size_t)(2 * per));
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 7);
    for (int64_t i = 0; i < 2 * per; i++)
        px[i] = (float)(2.0 * lrsa_rng_uniform(&rng) - 1.0);
    CHECK_NEAR(px[0], 0.40115296840667725, 0); /* as the generator's expected.json */
    static const char *const names[3] = { "cls", "mean", "pooler" };
    static const lrsa_vit_output what[3] = { LRSA_VIT_CLS, LRSA_VIT_MEAN, LRSA_VIT_POOLER };
    double tf = 0.0;
    for (int w = 0; w < 3; w++) {
        float out[2 * 768];
        double t3 = now();
        rc = lrsa_vit_forward(vit, px, 2, what[w], 0, out, &ctx, &err);
        tf += now() - t3;
        CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
        snprintf(fix, sizeof fix, "%s/tests/fixtures/vit/base_seed1/%s.npy", src && *src ? src : ".", names[w]);
        lrsa_tensor *want = NULL;
        CHECK_MSG(lrsa_npy_read_f32(fix, &want, &err) == LRSA_OK, "%s", err.msg);
        if (!want || rc)
            continue;
        CHECK_INT(lrsa_tensor_numel(want), 2 * C);
        double maxd = 0.0;
        int64_t at = 0;
        int ok = 1;
        for (int64_t i = 0; i < 2 * C; i++) {
            double d = fabs((double)out[i] - (double)want->data[i]);
            if (!(d <= 1e-5 + 1e-4 * fabs((double)want->data[i])))
                ok = 0;
            if (d > maxd) {
                maxd = d;
                at = i;
            }
        }
        fprintf(stderr, "%-7s max |diff| %.3g (at %lld: ours %.9g torch %.9g)\n", names[w], maxd,
                (long long)at, (double)out[at], (double)want->data[at]);
        CHECK_MSG(ok, "%s outside 1e-5 + 1e-4 |torch|", names[w]);
        lrsa_tensor_free(want);
    }
    fprintf(stderr, "init+save %.1f s, load %.1f s, 3 forwards of 2 images %.1f s\n", t1 - t0, t2 - t1, tf);
    free(px);
    lrsa_vit_free(vit);
    return harness_done();
}
