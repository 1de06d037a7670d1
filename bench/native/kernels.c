/*
 * Native baseline for tsclab's benchmarks: the same kernels over the same
 * seeded data (splitmix64), compiled with the system cc -O2 at bench time.
 * Usage: kernels <kernel> <n> <reps> <seed>; prints one JSON line with the best
 * ns/op over reps and a checksum (xor of every output) to compare with JS/Wasm.
 * Written from the kernel's formulas (pvclock_scale_delta, mul_u64_u64_shr,
 * clocksource_cyc2ns, the perf_event_mmap_page conversion, check_tsc_warp).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef uint64_t u64;
typedef unsigned __int128 u128;

static u64 splitmix64(u64 *s) {
	u64 z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Parameters shared with bench/run.ts. */
#define PV_TS 10000000000ULL
#define PV_ST 1000000000ULL
#define PV_MUL 0xccccccccU
#define PV_SHIFT -1
#define VMX_RATIO 337769972052787ULL   /* 2.5 -> 3 GHz, 48 frac bits */
#define SVM_RATIO 5153960755ULL        /* 2.5 -> 3 GHz, 32 frac bits */
#define CS_MULT 6462365U
#define CS_SHIFT 24
#define PERF_ZERO 1000ULL
#define PERF_MULT 858993459U
#define PERF_SHIFT 31

static void pvclock(const u64 *in, u64 *out, size_t n) {
	for (size_t i = 0; i < n; i++) {
		u64 d = in[i] - PV_TS;
		d = PV_SHIFT < 0 ? d >> -PV_SHIFT : d << PV_SHIFT;
		out[i] = PV_ST + (u64)(((u128)d * PV_MUL) >> 32);
	}
}
static void scale48(const u64 *in, u64 *out, size_t n) {
	for (size_t i = 0; i < n; i++) out[i] = (u64)(((u128)in[i] * VMX_RATIO) >> 48);
}
static void scale32(const u64 *in, u64 *out, size_t n) {
	for (size_t i = 0; i < n; i++) out[i] = (u64)(((u128)in[i] * SVM_RATIO) >> 32);
}
static void cyc2ns(const u64 *in, u64 *out, size_t n) {
	for (size_t i = 0; i < n; i++) out[i] = (in[i] * CS_MULT) >> CS_SHIFT;
}
static void perf(const u64 *in, u64 *out, size_t n) {
	for (size_t i = 0; i < n; i++) {
		u64 quot = in[i] >> PERF_SHIFT, rem = in[i] & ((1ULL << PERF_SHIFT) - 1);
		out[i] = PERF_ZERO + quot * PERF_MULT + ((rem * PERF_MULT) >> PERF_SHIFT);
	}
}

/* check_tsc_warp between two CPUs, the second `lag` cycles behind; lock
 * hand-off costs as in assembly/warp.ts (200 / 40 / 20 cycles), seeded draws. */
static u64 warp(u64 reads_wanted, u64 seed, u64 *maxwarp_out) {
	u64 rng = seed, last = 0, maxwarp = 0, reads = 0;
	u64 ready[2] = {1000000000ULL, 1000000000ULL}, lock = 1000000000ULL, lag[2] = {0, 5000};
	int holder = -1;
	while (reads < reads_wanted) {
		int c;
		int w0 = ready[0] <= lock, w1 = ready[1] <= lock;
		if (w0 && w1) c = (int)(((splitmix64(&rng) >> 32) * 2) >> 32);
		else c = ready[0] <= ready[1] ? 0 : 1;
		u64 t = (ready[c] > lock ? ready[c] : lock) + (c == holder ? 40 : 200);
		holder = c;
		u64 now = t - lag[c];
		if (last > now && last - now > maxwarp) maxwarp = last - now;
		last = now;
		lock = t;
		ready[c] = t + 20;
		reads++;
	}
	*maxwarp_out = maxwarp;
	return reads;
}

int main(int argc, char **argv) {
	if (argc < 5) { fprintf(stderr, "usage: kernels <kernel> <n> <reps> <seed>\n"); return 2; }
	const char *k = argv[1];
	size_t n = strtoull(argv[2], 0, 10);
	int reps = atoi(argv[3]);
	u64 seed = strtoull(argv[4], 0, 10);
	if (!strcmp(k, "warp")) {
		double best = 1e300; u64 mw = 0;
		for (int r = 0; r < reps; r++) {
			double t0 = now_ns();
			u64 reads = warp(n, seed, &mw);
			double dt = (now_ns() - t0) / (double)reads;
			if (dt < best) best = dt;
		}
		printf("{\"kernel\":\"warp\",\"nsPerOp\":%.4f,\"checksum\":\"%llu\"}\n", best, (unsigned long long)mw);
		return 0;
	}
	void (*f)(const u64 *, u64 *, size_t) = !strcmp(k, "pvclock") ? pvclock : !strcmp(k, "scale48") ? scale48
		: !strcmp(k, "scale32") ? scale32 : !strcmp(k, "cyc2ns") ? cyc2ns : !strcmp(k, "perf") ? perf : 0;
	if (!f) { fprintf(stderr, "unknown kernel %s\n", k); return 2; }
	u64 *in = malloc(n * 8), *out = malloc(n * 8);
	u64 s = seed;
	for (size_t i = 0; i < n; i++) in[i] = splitmix64(&s);
	double best = 1e300;
	for (int r = 0; r < reps; r++) {
		double t0 = now_ns();
		f(in, out, n);
		double dt = (now_ns() - t0) / (double)n;
		if (dt < best) best = dt;
	}
	u64 x = 0;
	for (size_t i = 0; i < n; i++) x ^= out[i];
	printf("{\"kernel\":\"%s\",\"nsPerOp\":%.4f,\"checksum\":\"%llu\"}\n", k, best, (unsigned long long)x);
	return 0;
}
