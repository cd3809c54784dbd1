/* tests/test_package.c - the release metadata agrees with itself: one version (UMUP_VERSION_STRING =
 * MAJOR.MINOR.PATCH, the first line of every header, the newest CHANGELOG entry, CITATION.cff) and
 * one licence (LICENSE, reproduced word for word at the end of every header). Reads the files from
 * the repository root, where make test runs it. tests/package/run.sh checks the installed forms
 * (pkg-config, CMake). */
#include "umup_test.h"
#include "umup_fp8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *headers[] = {"umup.h", "umup_fp8.h", "umup_cblas.h", "umup_cuda.h"};

/* The whole file in a NUL-terminated buffer (caller frees), or NULL. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = (char *)malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
        else buf[n] = 0;
    }
    fclose(f);
    return buf;
}

static void test_version(void) {
    char v[64], want[80];
    size_t i;
    snprintf(v, sizeof v, "%d.%d.%d", UMUP_VERSION_MAJOR, UMUP_VERSION_MINOR, UMUP_VERSION_PATCH);
    UT_CHECKF(!strcmp(v, UMUP_VERSION_STRING), "UMUP_VERSION_STRING %s, the numbers say %s", UMUP_VERSION_STRING, v);
    /* stb style: the first line is "<file> - v<version> - <what it is> - MIT licence ...", the title
     * (which may wrap) ends at the first empty comment line */
    for (i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *s = slurp(headers[i]), *end;
        UT_CHECKF(s != NULL, "cannot read %s (run from the repository root)", headers[i]);
        if (!s) continue;
        end = strstr(s, "\n *\n");
        if (end) *end = 0;
        snprintf(want, sizeof want, "/* %s - v%s - ", headers[i], UMUP_VERSION_STRING);
        UT_CHECKF(!strncmp(s, want, strlen(want)), "%s line 1: %.80s", headers[i], s);
        UT_CHECKF(strstr(s, "MIT licence") != NULL, "%s: the title names no licence", headers[i]);
        free(s);
    }
    {   /* the newest CHANGELOG entry is this version; CITATION.cff cites it */
        char *c = slurp("CHANGELOG.md"), *cff = slurp("CITATION.cff"), *h;
        UT_CHECKF(c != NULL && cff != NULL, "cannot read CHANGELOG.md or CITATION.cff");
        if (c) {
            h = strstr(c, "\n## ");
            snprintf(want, sizeof want, "\n## [%s]", UMUP_VERSION_STRING);
            UT_CHECKF(h && !strncmp(h, want, strlen(want)), "first CHANGELOG entry: %.30s", h ? h + 1 : "(none)");
        }
        if (cff) {
            snprintf(want, sizeof want, "\nversion: \"%s\"\n", UMUP_VERSION_STRING);
            UT_CHECKF(strstr(cff, want) != NULL, "CITATION.cff has no line version: \"%s\"", UMUP_VERSION_STRING);
            UT_CHECK(strstr(cff, "2407.17465") != NULL); /* the u-muP paper */
        }
        free(c);
        free(cff);
    }
}

static void test_licence(void) {
    char *lic = slurp("LICENSE");
    size_t i;
    UT_CHECKF(lic != NULL, "cannot read LICENSE (run from the repository root)");
    if (!lic) return;
    UT_CHECK(strstr(lic, "MIT License") == lic);
    UT_CHECK(strstr(lic, "\nCopyright (c) 2026 the umup authors\n") != NULL);
    for (i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *s = slurp(headers[i]), *at;
        if (!s) { UT_CHECKF(0, "cannot read %s", headers[i]); continue; }
        /* the whole text, in a comment that closes the file */
        at = strstr(s, lic);
        UT_CHECKF(at != NULL, "%s does not contain the text of LICENSE", headers[i]);
        if (at) {
            const char *tail = at + strlen(lic);
            tail += strspn(tail, "-\n");
            UT_CHECKF(!strcmp(tail, "*/\n"), "%s: something follows the licence: %.40s", headers[i], tail);
        }
        free(s);
    }
    free(lic);
}

int main(void) {
    UT_RUN(test_version);
    UT_RUN(test_licence);
    return ut_finish("test_package");
}
