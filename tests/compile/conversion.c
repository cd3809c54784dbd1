/* Compile check: both headers with their implementation under -Wconversion (which includes
 * -Wsign-conversion in C) -Werror, with OpenMP and ARCH so the SIMD kernels and the parallel
 * paths are compiled too: no implicit conversion that may change a value or its sign. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "check_body.h"
int main(void) { return compile_check_run("compile_conversion"); }
