/* Compile check, translation unit A of two: holds the implementation. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
int two_tu_b_main(void); /* in two_tu_b.c */
int main(void) { return two_tu_b_main(); }
