// Runs a benchmark workload natively: the same machine code jvisor interprets, called as
// fn(buffer, iterations) from an executable page. Prints the elapsed seconds.
// usage: native-run HEXCODE ITERATIONS KIND   (KIND: int or sse, which decides the buffer contents)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    size_t n = strlen(argv[1]) / 2;
    unsigned char *code = mmap(NULL, n + 16, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < n; i++) sscanf(argv[1] + 2 * i, "%2hhx", &code[i]);
    code[n] = 0xC3; // ret
    long iters = atol(argv[2]);
    unsigned char *buf = aligned_alloc(4096, 16384);
    memset(buf, 0, 16384);
    if (strcmp(argv[3], "sse") == 0) {
        memset(buf, 'a', 4095);
        buf[4095] = 0;
    }
    void (*fn)(void *, long) = (void (*)(void *, long))code;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fn(buf, iters);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
