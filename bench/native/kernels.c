/*
 * Native baseline for tsclab's benchmarks: the same kernels over the same
 * seeded data (splitmix64), compiled at bench time with the system cc at -O2,
 * -O3 and -O3 -march=native. Usage: kernels <kernel> <n> <reps> <seed>; one
 * untimed pass, then prints one JSON line with the ns/op of every timed pass
 * (bench/run.ts takes the same statistics of them as of its Wasm passes) and a
 * checksum (xor of every output) to compare with JS/Wasm.
 * Written from the kernel's formulas (pvclock_scale_delta, mul_u64_u64_shr,
 * clocksource_cyc2ns, the perf_event_mmap_page conversion, check_tsc_warp).
 *
 * Built with -DHALVES, each kernel is written in 32-bit halves (the widening
 * 32x32->64 multiply every SIMD ISA has), the form gcc vectorises at
 * -march=native: with the plain form at -O3 -march=native it gives the "limit"
 * column, the best this machine does natively.
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
#define PERF_MULT 1717986918U /* 2.5 GHz as x86 exports it: cyc2ns_shift 32 above 1 GHz */
#define PERF_SHIFT 32

#ifndef HALVES
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
#else
#define LO(x) ((u64)(uint32_t)(x))
#define HI(x) ((x) >> 32)
/* (d * m) >> 32 for a 32-bit m: hi(d) * m + ((lo(d) * m) >> 32), exact mod 2^64 */
static void pvclock(const u64 *in, u64 *out, size_t n) {
	for (size_t i = 0; i < n; i++) {
		u64 d = (in[i] - PV_TS) >> 1; /* PV_SHIFT = -1 */
		out[i] = PV_ST + HI(d) * PV_MUL + ((LO(d) * PV_MUL) >> 32);
	}
}
/* the 128-bit product of x and r from four 32x32->64 products, then >> s (32 <= s < 64) */
static inline u64 mulshr(u64 x, u64 r, int s) {
	u64 ll = LO(x) * LO(r), lh = LO(x) * HI(r), hl = HI(x) * LO(r), hh = HI(x) * HI(r);
	u64 mid = HI(ll) + LO(lh) + LO(hl);              /* bits 32..: < 3 * 2^32 */
	u64 lo64 = (mid << 32) | LO(ll);
	u64 hi64 = hh + HI(lh) + HI(hl) + HI(mid);
	return (hi64 << (64 - s)) | (lo64 >> s);
}
static void scale48(const u64 *in, u64 *out, size_t n) {
	for (size_t i = 0; i < n; i++) out[i] = mulshr(in[i], VMX_RATIO, 48);
}
static void scale32(const u64 *in, u64 *out, size_t n) {
	for (size_t i = 0; i < n; i++) out[i] = mulshr(in[i], SVM_RATIO, 32);
}
/* x * m mod 2^64 for a 32-bit m: lo(x) * m + (hi(x) * m << 32) */
static void cyc2ns(const u64 *in, u64 *out, size_t n) {
	for (size_t i = 0; i < n; i++) out[i] = (LO(in[i]) * CS_MULT + ((HI(in[i]) * CS_MULT) << 32)) >> CS_SHIFT;
}
static void perf(const u64 *in, u64 *out, size_t n) {
	for (size_t i = 0; i < n; i++) {
		u64 quot = in[i] >> PERF_SHIFT, rem = in[i] & ((1ULL << PERF_SHIFT) - 1);
		out[i] = PERF_ZERO + LO(quot) * PERF_MULT + ((HI(quot) * PERF_MULT) << 32) + ((rem * PERF_MULT) >> PERF_SHIFT);
	}
}
#endif

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
	if (argc < 5) { fprintf(stderr, "usage: kernels <kernel> <n> <samples> <seed> [cycle_ms]\n"); return 2; }
	double cycle = argc > 5 ? atof(argv[5]) * 1e6 : 0;
	const char *k = argv[1];
	size_t n = strtoull(argv[2], 0, 10);
	int reps = atoi(argv[3]);
	u64 seed = strtoull(argv[4], 0, 10);
	if (reps < 1 || reps > 100000) { fprintf(stderr, "reps must be 1..100000\n"); return 2; }
	double *ns = malloc(reps * sizeof(double));
	if (!strcmp(k, "warp")) {
		u64 mw = 0;
		warp(n, seed, &mw);
		for (int r = 0; r < reps; r++) {
			double t0 = now_ns(), dt; u64 reads = 0;
			do { reads += warp(n, seed, &mw); dt = now_ns() - t0; } while (dt < cycle);
			ns[r] = dt / (double)reads;
		}
		printf("{\"kernel\":\"warp\",\"samples\":[");
		for (int r = 0; r < reps; r++) printf("%s%.5f", r ? "," : "", ns[r]);
		printf("],\"checksum\":\"%llu\"}\n", (unsigned long long)mw);
		return 0;
	}
	void (*f)(const u64 *, u64 *, size_t) = !strcmp(k, "pvclock") ? pvclock : !strcmp(k, "scale48") ? scale48
		: !strcmp(k, "scale32") ? scale32 : !strcmp(k, "cyc2ns") ? cyc2ns : !strcmp(k, "perf") ? perf : 0;
	if (!f) { fprintf(stderr, "unknown kernel %s\n", k); return 2; }
	u64 *in = malloc(n * 8), *out = malloc(n * 8);
	u64 s = seed;
	for (size_t i = 0; i < n; i++) in[i] = splitmix64(&s);
	f(in, out, n); /* untimed: pages touched, caches warm, as the Wasm side's warm-up */
	for (int r = 0; r < reps; r++) {
		double t0 = now_ns(), dt; u64 passes = 0;
		do { f(in, out, n); passes++; dt = now_ns() - t0; } while (dt < cycle);
		ns[r] = dt / (double)(passes * n);
	}
	u64 x = 0;
	for (size_t i = 0; i < n; i++) x ^= out[i];
	printf("{\"kernel\":\"%s\",\"samples\":[", k);
	for (int r = 0; r < reps; r++) printf("%s%.5f", r ? "," : "", ns[r]);
	printf("],\"checksum\":\"%llu\"}\n", (unsigned long long)x);
	return 0;
}
