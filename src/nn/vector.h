/* Loops over long float arrays (activations, Adam, layout copies), compiled three times, for
 * AVX-512, AVX2 and the x86-64 baseline; the loader picks one by cpuid (GCC's target_clones),
 * as src/nn/blas.c picks the BLAS's kernels. Elsewhere, one plain version. */
#ifndef GBFARM_NN_VECTOR_H
#define GBFARM_NN_VECTOR_H

/* Not under the sanitizers: ThreadSanitizer instruments the clones' ifunc resolver, which the
 * loader runs before the sanitizer's runtime is up (a crash at start). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(GBFARM_SANITIZED)
#define NN_VECTOR __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NN_VECTOR
#endif

#endif
