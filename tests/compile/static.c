/* Compile check: UMUP_STATIC makes every function static to this translation unit. */
#define UMUP_STATIC
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "check_body.h"
int main(void) { return compile_check_run("compile_static"); }
