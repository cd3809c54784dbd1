/* umup_cuda.cu - the one translation unit that compiles umup_cuda.h's implementation (with nvcc). */
#define UMUP_CUDA_IMPLEMENTATION
#include "umup_cuda.h"
