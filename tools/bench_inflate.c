/* bench_inflate: compare zlib and ISA-L igzip streaming inflate as sluice's HTTP stage uses them.
 *
 * Builds ~16 MiB of HTTP-body-like text (JSON records and HTML), gzips it with zlib at level 6,
 * then inflates it repeatedly with each library the way lib/http does: input in 1448-byte pieces
 * (one TCP segment each), output into one reused 16 KiB buffer. Prints MB/s of decoded output
 * for each and the ISA-L/zlib speed ratio. The result decided lib/http's choice of ISA-L.
 *
 * Build: gcc -O2 tools/bench_inflate.c -lz -lisal -o bench_inflate */
#include <isa-l/igzip_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define BENCH_PLAIN (16u << 20)
#define BENCH_SEG   1448u
#define BENCH_OUT   16384u
#define BENCH_ROUND 20

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t
make_plain(unsigned char *p, size_t cap)
{
	size_t n = 0;
	unsigned i = 0;

	srand(42);
	while (n + 256 < cap) {
		if (i % 4)
			n += snprintf(
			    (char *)p + n, cap - n,
			    "{\"id\":%u,\"name\":\"user%05d\",\"email\":\"u%d@example.com\","
			    "\"score\":%d,\"tags\":[\"a%d\",\"b%d\"]},\n",
			    i, rand() % 100000, rand() % 5000, rand() % 1000, rand() % 50,
			    rand() % 50);
		else
			n += snprintf((char *)p + n, cap - n,
				      "<div class=\"row\"><span>%d</span><a href=\"/item/%d\">item "
				      "%d</a></div>\n",
				      rand() % 9999, rand() % 99999, i);
		i++;
	}
	return n;
}

static size_t
gzip_buf(const unsigned char *in, size_t len, unsigned char *out, size_t cap)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		exit(1);
	z.next_in = (unsigned char *)in;
	z.avail_in = len;
	z.next_out = out;
	z.avail_out = cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		exit(1);
	deflateEnd(&z);
	return z.total_out;
}

static size_t
run_zlib(const unsigned char *gz, size_t len)
{
	static unsigned char out[BENCH_OUT];
	size_t total = 0;
	z_stream z;

	memset(&z, 0, sizeof(z));
	inflateInit2(&z, 31);
	for (size_t off = 0; off < len; off += BENCH_SEG) {
		z.next_in = (unsigned char *)gz + off;
		z.avail_in = len - off < BENCH_SEG ? len - off : BENCH_SEG;
		do {
			z.next_out = out;
			z.avail_out = sizeof(out);
			int r = inflate(&z, Z_NO_FLUSH);
			total += sizeof(out) - z.avail_out;
			if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
				exit(2);
		} while (z.avail_out == 0);
	}
	inflateEnd(&z);
	return total;
}

static struct inflate_state st;

static size_t
run_isal(const unsigned char *gz, size_t len)
{
	static unsigned char out[BENCH_OUT];
	size_t total = 0;

	isal_inflate_init(&st);
	st.crc_flag = ISAL_GZIP;
	for (size_t off = 0; off < len; off += BENCH_SEG) {
		st.next_in = (unsigned char *)gz + off;
		st.avail_in = len - off < BENCH_SEG ? len - off : BENCH_SEG;
		do {
			st.next_out = out;
			st.avail_out = sizeof(out);
			if (isal_inflate(&st) < 0)
				exit(3);
			total += sizeof(out) - st.avail_out;
		} while (st.avail_out == 0);
	}
	return total;
}

int
main(void)
{
	unsigned char *plain = malloc(BENCH_PLAIN), *gz = malloc(BENCH_PLAIN);
	size_t n = make_plain(plain, BENCH_PLAIN);
	size_t glen = gzip_buf(plain, n, gz, BENCH_PLAIN);
	double t0, tz, ti;

	if (run_zlib(gz, glen) != n || run_isal(gz, glen) != n) {
		fprintf(stderr, "bench_inflate: output size mismatch\n");
		return 1;
	}
	t0 = now();
	for (int i = 0; i < BENCH_ROUND; i++)
		run_zlib(gz, glen);
	tz = now() - t0;
	t0 = now();
	for (int i = 0; i < BENCH_ROUND; i++)
		run_isal(gz, glen);
	ti = now() - t0;
	printf("plain %zu bytes, gzip %zu bytes (%.1fx)\n", n, glen, (double)n / glen);
	printf("zlib  %.0f MB/s\n", n * (double)BENCH_ROUND / tz / 1e6);
	printf("isa-l %.0f MB/s\n", n * (double)BENCH_ROUND / ti / 1e6);
	printf("isa-l/zlib speed ratio %.2f\n", tz / ti);
	free(plain);
	free(gz);
	return 0;
}
