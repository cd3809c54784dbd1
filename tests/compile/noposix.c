/* Compile check: the implementation with UMUP_NO_POSIX (plain-C file I/O, what non-POSIX systems
 * get), strict C99; a save -> load round trip through that path, a second save over the first, and
 * data files (which must still be regular files of data). */
#define UMUP_NO_POSIX
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "check_body.h"

static void noposix_roundtrip(void) {
    umup_model_config mc = umup_model_config_default();
    umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    umup_trainer *a = NULL, *b = NULL;
    mc.width = 16; mc.heads = 1; mc.head_size = 0; mc.layers = 1; mc.max_seq = 4;
    UT_CHECK(umup_trainer_create(&a, &mc, &oc, 1) == UMUP_OK && umup_trainer_create(&b, &mc, &oc, 1) == UMUP_OK);
    if (!a || !b) return;
    UT_CHECK(umup_trainer_save(a, "build/compile_noposix.safetensors") == UMUP_OK);
    umup_model_params(umup_trainer_model(a))[0] += 1.0f;
    UT_CHECK(umup_trainer_save(a, "build/compile_noposix.safetensors") == UMUP_OK);
    UT_CHECK(umup_trainer_load(b, "build/compile_noposix.safetensors") == UMUP_OK);
    UT_CHECK(memcmp(umup_model_params(umup_trainer_model(a)), umup_model_params(umup_trainer_model(b)),
                    umup_model_num_params(umup_trainer_model(a)) * sizeof(float)) == 0);
    UT_CHECK(umup_checkpoint_check_writable("build/compile_noposix.safetensors", NULL, 0) == UMUP_OK);
    remove("build/compile_noposix.safetensors");
    umup_trainer_destroy(a);
    umup_trainer_destroy(b);
}

static void noposix_data(void) {
    umup_dataset ds;
    UT_CHECK(umup_dataset_load_file(&ds, "umup.h", 0.1) == UMUP_OK && ds.n > 100000 && ds.error == NULL);
    umup_dataset_free(&ds);
    UT_CHECK(umup_dataset_load_file(&ds, "tests", 0.1) == UMUP_ERR_IO && ds.data == NULL && ds.error != NULL);
    UT_CHECK(umup_dataset_load_file(&ds, "tests/compile/c99.c", 0.1) == UMUP_ERR_FORMAT && ds.data == NULL); /* < 1024 bytes */
    UT_CHECK(umup_dataset_load_file(&ds, "tests/data/does-not-exist", 0.1) == UMUP_ERR_IO);
}

int main(void) {
    UT_RUN(noposix_roundtrip);
    UT_RUN(noposix_data);
    return compile_check_run("compile_noposix");
}
