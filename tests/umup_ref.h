/* tests/umup_ref.h - reader for tests/data/umup_ref.bin, the reference values computed by the
 * u-muP reference implementation (graphcore-research/unit-scaling a7b5b3c, PyTorch float64).
 * Format "UMUPREF1", little-endian: char magic[8]; u32 count; then count times:
 *   u32 name_len; char name[name_len]; u32 dtype (0 f32, 1 i32, 2 u32, 3 u8); u32 ndim;
 *   u32 dims[ndim]; data (prod(dims) elements, row-major).
 * Every tensor is copied into its own aligned allocation. Test-only code (uses malloc/stdio). */
#ifndef UMUP_REF_H
#define UMUP_REF_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[128];
    int dtype, ndim;
    int dims[8];
    size_t count;
    void *data; /* float* for dtype 0, int32_t* for dtype 1 */
} ref_tensor;

typedef struct {
    int n;
    ref_tensor *t;
} ref_file;

static inline uint32_t ref__u32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void ref_free(ref_file *f) {
    int i;
    for (i = 0; f->t && i < f->n; i++) free(f->t[i].data);
    free(f->t);
    f->t = NULL;
    f->n = 0;
}

/* Loads path (default tests/data/umup_ref.bin, or $UMUP_REF_FILE). Returns 0 on success, -1 on a
 * missing, truncated or corrupt file (with a message on stderr). */
static inline int ref_load(ref_file *f, const char *path) {
    FILE *fp;
    long size;
    unsigned char *buf;
    size_t p = 12;
    uint32_t i, count;
    const char *env = getenv("UMUP_REF_FILE");
    f->n = 0;
    f->t = NULL;
    if (!path) path = env ? env : "tests/data/umup_ref.bin";
    fp = fopen(path, "rb");
    if (!fp) { fprintf(stderr, "umup_ref: cannot open %s (run the tests from the repository root)\n", path); return -1; }
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = (unsigned char *)malloc(size > 0 ? (size_t)size : 1);
    if (!buf || size < 12 || fread(buf, 1, (size_t)size, fp) != (size_t)size || memcmp(buf, "UMUPREF1", 8) != 0) {
        fprintf(stderr, "umup_ref: %s is not a UMUPREF1 file\n", path);
        fclose(fp);
        free(buf);
        return -1;
    }
    fclose(fp);
    count = ref__u32(buf + 8);
    if (count > (size_t)(size - 12) / 12) goto bad; /* each entry takes at least 12 bytes */
    f->t = (ref_tensor *)calloc(count ? count : 1, sizeof(ref_tensor));
    if (!f->t) { free(buf); return -1; }
    for (i = 0; i < count; i++) {
        ref_tensor *t = &f->t[i];
        uint32_t len, d, esz;
        if (p + 4 > (size_t)size) goto bad;
        len = ref__u32(buf + p); p += 4;
        if (len >= sizeof t->name || p + len + 8 > (size_t)size) goto bad;
        memcpy(t->name, buf + p, len); t->name[len] = 0; p += len;
        t->dtype = (int)ref__u32(buf + p); t->ndim = (int)ref__u32(buf + p + 4); p += 8;
        if (t->ndim > 8 || t->dtype < 0 || t->dtype > 3 || p + 4u * (size_t)t->ndim > (size_t)size) goto bad;
        t->count = 1;
        for (d = 0; d < (uint32_t)t->ndim; d++) {
            uint32_t dim = ref__u32(buf + p);
            p += 4;
            if (dim > 0x7fffffffu) goto bad;
            t->dims[d] = (int)dim;
            if (dim && t->count > (size_t)size / dim) goto bad; /* more elements than the file has bytes */
            t->count *= (size_t)dim;
        }
        esz = t->dtype == 3 ? 1u : 4u;
        if (t->count > ((size_t)size - p) / esz) goto bad;
        t->data = malloc(t->count * esz + 1);
        if (!t->data) goto bad;
        memcpy(t->data, buf + p, t->count * esz);
        p += t->count * esz;
        f->n = (int)i + 1;
    }
    free(buf);
    return 0;
bad:
    fprintf(stderr, "umup_ref: %s is truncated or corrupt\n", path);
    free(buf);
    ref_free(f);
    return -1;
}

static inline const ref_tensor *ref_find(const ref_file *f, const char *name) {
    int i;
    for (i = 0; i < f->n; i++) if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

/* Float data of tensor "<case>/<name>", or NULL (with a message) if missing or not float. */
static inline const float *ref_f32(const ref_file *f, const char *cas, const char *name) {
    char full[256];
    const ref_tensor *t;
    snprintf(full, sizeof full, "%s/%s", cas, name);
    t = ref_find(f, full);
    if (!t || t->dtype != 0) { fprintf(stderr, "umup_ref: no float tensor %s\n", full); return NULL; }
    return (const float *)t->data;
}

static inline const int32_t *ref_i32(const ref_file *f, const char *full) {
    const ref_tensor *t = ref_find(f, full);
    if (!t || t->dtype != 1) { fprintf(stderr, "umup_ref: no int32 tensor %s\n", full); return NULL; }
    return (const int32_t *)t->data;
}
#endif
