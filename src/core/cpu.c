/* CPU features for the run-time choice between plain and AVX2 kernels (one answer per process). */
#include "latentrsa/core.h"

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
/* Bit 0: known; bit 1: AVX2; bit 2: AVX2 and FMA. Set once; every thread computes the same value,
 * so a relaxed store and load suffice. */
static int cpu_features(void)
{
    static int features;
    int f = __atomic_load_n(&features, __ATOMIC_RELAXED);
    if (!f) {
        __builtin_cpu_init();
        int avx2 = __builtin_cpu_supports("avx2") != 0;
        f = 1 | avx2 << 1 | (avx2 && __builtin_cpu_supports("fma")) << 2;
        __atomic_store_n(&features, f, __ATOMIC_RELAXED);
    }
    return f;
}

int lrsa_cpu_avx2(void)
{
    return cpu_features() >> 1 & 1;
}

int lrsa_cpu_avx2_fma(void)
{
    return cpu_features() >> 2 & 1;
}
#else
int lrsa_cpu_avx2(void)
{
    return 0;
}

int lrsa_cpu_avx2_fma(void)
{
    return 0;
}
#endif
