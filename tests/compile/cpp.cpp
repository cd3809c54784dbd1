// Compile check: both headers with their implementation compiled as C++11 (-Werror).
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "check_body.h"
int main() { return compile_check_run("compile_cpp"); }
