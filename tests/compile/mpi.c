/* Compile check (make MPI=1): umup_mpi.h with its implementation as strict C99 (-pedantic-errors -Werror). */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_mpi.h"
#include "check_body.h"
int main(void) {
    UT_CHECK(umup_mpi_size(NULL) == 1 && umup_mpi_rank(NULL) == 0 && umup_mpi_error(NULL)[0] == 0);
    UT_CHECK(strcmp(umup_status_string(UMUP_ERR_COMM), umup_status_string(UMUP_ERR_DEVICE)) != 0);
    return compile_check_run("compile_mpi_c99");
}
