// Functions on the packet path built for more than one x86-64 level, the best one chosen when the
// program loads (GCC's function multiversioning: an ifunc resolved once): the build stays portable
// (x86-64-v2, the top-level CMakeLists.txt) and wider CPUs still run their own instructions.
// Sanitizer and clang builds (tests, fuzzing) take the one portable version.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define GOLDGATE_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GOLDGATE_CPU_CLONES
#endif
