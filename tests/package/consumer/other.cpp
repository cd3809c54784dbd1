// tests/package/consumer/other.cpp - umup.h included from C++ without the implementation.
#include "umup.h"

#include <cstring>

extern "C" int cpp_side(void) {
    return umup_fp8_to_float(0x38, UMUP_FP8_E4M3) == 1.0f &&
           std::strcmp(umup_status_string(UMUP_OK), umup_status_string(UMUP_ERR_NULL)) != 0;
}
