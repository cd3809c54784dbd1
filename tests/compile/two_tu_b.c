/* Compile check, translation unit B of two: only the declarations; links against A. */
#include "umup.h"
#include "check_body.h"
int two_tu_b_main(void);
int two_tu_b_main(void) { return compile_check_run("compile_two_tu"); }
