/* fuzz/replay.c: main() for a fuzz target built without libFuzzer. Runs the target once on
 * each file named, or on each file of each directory named (sorted, not recursive), under a
 * time limit per input, so the corpora and the regression inputs are replayed by CI with the
 * ordinary compiler. A crash, a sanitizer report or an input that runs past the limit fails
 * the run.
 *
 *   fuzz_devices [-timeout SECONDS] PATH...
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static const char *current;
static const char *prog;

static void on_alarm(int sig)
{
    (void)sig;
    /* async-signal-safe: write(2) only, then abort for a core and a non-zero status */
    const char *parts[] = {prog, ": input ", current ? current : "?",
                           " ran past its time limit (a hang)\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            break;
    abort();
}

static int run_file(const char *path, unsigned timeout)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: %s: read error\n", prog, path);
        free(buf);
        return -1;
    }
    /* a copy of exactly len bytes, so ASan sees a read past the input as what it is */
    uint8_t *data = malloc(len ? len : 1);
    memcpy(data, buf, len);
    free(buf);
    current = path;
    alarm(timeout);
    LLVMFuzzerTestOneInput(data, len);
    alarm(0);
    current = NULL;
    free(data);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, unsigned timeout, unsigned *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof(*names));
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
            abort();
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path, timeout) < 0)
                rc = -1;
            else
                (*count)++;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    unsigned timeout = 25;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    signal(SIGALRM, on_alarm);
    unsigned count = 0;
    int rc = 0, paths = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-timeout") && i + 1 < argc) {
            timeout = (unsigned)strtoul(argv[++i], NULL, 10);
            continue;
        }
        if (argv[i][0] == '-') /* libFuzzer flags (-runs=0 ...): meaningless here */
            continue;
        paths++;
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, argv[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], timeout, &count) < 0)
                rc = 1;
        } else if (run_file(argv[i], timeout) < 0) {
            rc = 1;
        } else {
            count++;
        }
    }
    if (!paths) {
        fprintf(stderr, "usage: %s [-timeout SECONDS] FILE-OR-DIRECTORY...\n", prog);
        return 2;
    }
    printf("%s: replayed %u inputs without a crash\n", prog, count);
    return rc;
}
