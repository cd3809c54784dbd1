// Compile check (make MPI=1): umup_mpi.h with its implementation as C++11 (-Werror), no MPI C++ bindings.
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_mpi.h"
#include "check_body.h"
int main() {
    UT_CHECK(umup_mpi_size(NULL) == 1 && umup_mpi_rank(NULL) == 0 && umup_mpi_error(NULL)[0] == 0);
    return compile_check_run("compile_mpi_cpp");
}
