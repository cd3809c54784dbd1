/* fuzz/fuzz_common.h - what the libFuzzer targets share: the input written to a private file (the
 * loaders under test take a path). Not part of the library. */
#ifndef UMUP_FUZZ_COMMON_H
#define UMUP_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A path of this process's own, on a memory file system when there is one (/dev/shm). */
static inline const char *fuzz_tmp_path(const char *tag) {
    static char path[256];
    if (!path[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(path, sizeof path, "%s/umup_fuzz_%s_%ld", dir, tag, (long)getpid());
    }
    return path;
}

/* Writes data[0 .. n) to path (replacing it); aborts when it cannot, which libFuzzer reports. */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

#endif
