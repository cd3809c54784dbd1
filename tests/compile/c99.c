/* Compile check: both headers with their implementation as strict C99 (-pedantic-errors -Werror). */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "check_body.h"
int main(void) { return compile_check_run("compile_c99"); }
