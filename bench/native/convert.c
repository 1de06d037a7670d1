/*
 * The C reference for bench/convert.ts: what `tsclab convert --from host-tsc --to guest-tsc` does, written as a
 * C programmer would, compiled with cc -O2 at bench time. Usage: convert <u64le|dec> <ratio> <offset> IN OUT.
 * u64le: 4 MiB blocks of little-endian u64 (x86), each scaled in place: ((u128)x * ratio >> 48) + offset.
 * dec: one decimal stamp per line (strtoull), written back with a hand-rolled u64-to-decimal (printf is slower).
 * No error handling beyond what the bench needs: the inputs are the bench's own files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;
typedef unsigned __int128 u128;

int main(int argc, char **argv) {
	if (argc != 6) { fprintf(stderr, "usage: convert <u64le|dec> <ratio> <offset> IN OUT\n"); return 2; }
	u64 ratio = strtoull(argv[2], 0, 10), offset = (u64)strtoll(argv[3], 0, 10);
	FILE *in = fopen(argv[4], "rb"), *out = fopen(argv[5], "wb");
	if (!in || !out) { perror("open"); return 2; }
	if (!strcmp(argv[1], "u64le")) {
		static u64 buf[1 << 19];
		size_t n;
		while ((n = fread(buf, 8, 1 << 19, in)) > 0) {
			for (size_t i = 0; i < n; i++) buf[i] = (u64)(((u128)buf[i] * ratio) >> 48) + offset;
			fwrite(buf, 8, n, out);
		}
	} else {
		static char line[64], obuf[1 << 16];
		size_t o = 0;
		while (fgets(line, sizeof line, in)) {
			u64 v = (u64)(((u128)strtoull(line, 0, 10) * ratio) >> 48) + offset;
			char d[24]; int k = 0;
			do { d[k++] = '0' + v % 10; v /= 10; } while (v);
			if (o + 22 > sizeof obuf) { fwrite(obuf, 1, o, out); o = 0; }
			while (k) obuf[o++] = d[--k];
			obuf[o++] = '\n';
		}
		fwrite(obuf, 1, o, out);
	}
	fclose(in);
	return fclose(out) ? 1 : 0;
}
