/*
 * replay_main.c - runs a harness's LLVMFuzzerTestOneInput() on files, for
 * builds without libFuzzer (the ctests fuzz_replay_NAME): each argument is
 * a file or a directory of files (not recursive). The harness returning is
 * the test; a crash or a sanitizer report fails it. Exit 1 if an argument
 * cannot be read or no input was found.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(fp);
    if (!buf) {
        fprintf(stderr, "replay: out of memory reading %s\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open directory %s\n", dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *names);
        if (!nn)
            break;
        names = nn;
        names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
        if (!names[n])
            break;
        sprintf(names[n], "%s/%s", dir, de->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    int count = 0;
    for (size_t k = 0; k < n; k++) {
        struct stat sb;
        if (stat(names[k], &sb) == 0 && S_ISREG(sb.st_mode)) {
            int r = replay_file(names[k]);
            if (r < 0)
                count = -1;
            else if (count >= 0)
                count += r;
        }
        free(names[k]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    int total = 0, bad = 0;
    for (int k = 1; k < argc; k++) {
        struct stat sb;
        if (stat(argv[k], &sb) != 0) {
            /* an absent regressions/NAME directory is fine: none recorded yet */
            continue;
        }
        int r = S_ISDIR(sb.st_mode) ? replay_dir(argv[k]) : replay_file(argv[k]);
        if (r < 0)
            bad = 1;
        else
            total += r;
    }
    printf("replayed %d inputs\n", total);
    return bad || total == 0;
}
