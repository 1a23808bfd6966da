/* libFuzzer target for lib/http. The first byte picks the parameters (bit 0) and whether
 * direction 0 is an SMTP client (bit 1); each following chunk is
 * [header byte][data]: the header's low 6 bits give the chunk length (0 = a TCP hole of up to 8
 * bytes), its bit 6 the direction, bit 7 an sl_http_eof on that direction. Checks that nothing
 * crashes, that on_data never gets an empty or out-of-range context, that every decompression
 * state returns to the pool, and that feeding each chunk byte by byte gives the same transcript
 * unless a compressed body was corrupt or cut short: around a decompression error ISA-L's output
 * and where it stops reading depend on how it was fed (see the README's Known limits).
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I lib/http -I lib/scan
 *        tests/fuzz/fuzz_http.c lib/http/sl_http.c -lisal -lzstd -lbrotlidec -o fuzz_http
 * Seeds (a body in each content coding, a WebSocket channel): tests/fuzz/seed_http.py DIR. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sl_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t sink;
static uint64_t th; /* transcript hash: data byte by byte with its context, then every event */
static int inexact; /* a decompression error was reported: the transcripts may differ */

static void
mix(uint64_t v)
{
	th = (th ^ v) * 0x100000001b3ull;
}

static void
on_data(void *ctx, enum sl_scan_context c, const uint8_t *p, size_t n)
{
	(void)ctx;
	if (n == 0 || (unsigned)c >= SL_SCAN_CTX_COUNT)
		abort();
	sink += p[0] + p[n - 1] + c; /* touch the bytes: ASan checks them */
	for (size_t i = 0; i < n; i++)
		mix((uint64_t)c << 8 | p[i]);
}

static void
on_unit_end(void *ctx, enum sl_scan_context c)
{
	(void)ctx;
	if ((unsigned)c >= SL_SCAN_CTX_COUNT)
		abort();
	mix(0x10000 | c);
}

static void
on_message(void *ctx, const struct sl_http_msg *m)
{
	(void)ctx;
	sink += strlen(m->method) + strlen(m->url) + strlen(m->host) + strlen(m->content_type);
	mix(0x20000 | m->status);
	for (const char *t = m->method; *t; t++)
		mix((uint8_t)*t);
	for (const char *t = m->url; *t; t++)
		mix((uint8_t)*t);
	for (const char *t = m->host; *t; t++)
		mix((uint8_t)*t);
}

static void
on_anomaly(void *ctx, enum sl_http_anomaly a)
{
	(void)ctx;
	if ((unsigned)a >= SL_HTTP_AN_COUNT)
		abort();
	if (a == SL_HTTP_AN_DECOMPRESS_ERROR)
		inexact = 1;
	mix(0x30000 | a);
}

static const struct sl_http_callbacks cb = {on_data, on_unit_end, on_message, on_anomaly};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sl_http_pool *pools[2];
	struct sl_http_params p = {
	    .max_inflate = 3,
	    .max_zstd = 2,
	    .max_br = 2,
	    .max_mime = 2,
	    .max_line = 256,
	    .max_headers = 16,
	    .max_body_out = 1 << 20,
	    .max_ratio = 50,
	};
	struct sl_http_pool *pool;
	struct sl_http_conn c;
	size_t i = 1;

	if (size == 0)
		return 0;
	if (pools[0] == NULL) {
		pools[0] = sl_http_pool_create(&p);
		p.max_inflate = 1; /* exhaustion path */
		p.max_zstd = 1;
		p.max_br = 1;
		p.max_mime = 1;
		p.max_line = 24;
		p.max_ratio = 0;
		p.max_body_out = 4096;
		pools[1] = sl_http_pool_create(&p);
	}
	pool = pools[data[0] & 1];
	/* The same input twice: chunks whole, then one byte at a time. The parser's fast paths
	 * take whole lines only, so both runs must give the same transcript. */
	uint64_t first = 0;
	inexact = 0;
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		th = 0xcbf29ce484222325ull;
		sl_http_conn_init(&c);
		if (data[0] & 2)
			sl_http_conn_smtp(&c, 0);
		for (i = 1; i < size;) {
			uint8_t h = data[i++];
			size_t n = h & 63;
			unsigned dir = (h >> 6) & 1;

			if (n == 0) {
				sl_http_feed(pool, &c, dir, NULL, 1 + (h & 7), &cb, NULL);
			} else {
				if (n > size - i)
					n = size - i;
				for (size_t k = 0; k < n; k += bytewise ? 1 : n)
					sl_http_feed(pool, &c, dir, data + i + k, bytewise ? 1 : n,
						     &cb, NULL);
				i += n;
			}
			if (h & 128)
				sl_http_eof(pool, &c, dir, &cb, NULL);
		}
		sl_http_eof(pool, &c, 0, &cb, NULL);
		sl_http_eof(pool, &c, 1, &cb, NULL);
		sl_http_conn_release(pool, &c);
		if (sl_http_pool_in_use(pool) != 0)
			abort();
		if (bytewise && th != first && !inexact)
			abort(); /* the transcript depends on how the bytes were split */
		first = th;
	}
	return 0;
}
