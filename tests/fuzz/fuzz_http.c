/* libFuzzer target for lib/http. The first byte picks the parameters; each following chunk is
 * [header byte][data]: the header's low 6 bits give the chunk length (0 = a TCP hole of up to 8
 * bytes), its bit 6 the direction, bit 7 an sl_http_eof on that direction. Checks that nothing
 * crashes, that on_data never gets an empty or out-of-range context, and that every
 * decompression state returns to the pool.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I lib/http -I lib/scan
 *        tests/fuzz/fuzz_http.c lib/http/sl_http.c -lisal -o fuzz_http */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sl_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t sink;

static void
on_data(void *ctx, enum sl_scan_context c, const uint8_t *p, size_t n)
{
	(void)ctx;
	if (n == 0 || (unsigned)c >= SL_SCAN_CTX_COUNT)
		abort();
	sink += p[0] + p[n - 1] + c; /* touch the bytes: ASan checks them */
}

static void
on_unit_end(void *ctx, enum sl_scan_context c)
{
	(void)ctx;
	if ((unsigned)c >= SL_SCAN_CTX_COUNT)
		abort();
}

static void
on_message(void *ctx, const struct sl_http_msg *m)
{
	(void)ctx;
	sink += strlen(m->method) + strlen(m->url) + strlen(m->host) + strlen(m->content_type);
}

static void
on_anomaly(void *ctx, enum sl_http_anomaly a)
{
	(void)ctx;
	if ((unsigned)a >= SL_HTTP_AN_COUNT)
		abort();
}

static const struct sl_http_callbacks cb = {on_data, on_unit_end, on_message, on_anomaly};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sl_http_pool *pools[2];
	struct sl_http_params p = {
	    .max_inflate = 3,
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
		p.max_line = 24;
		p.max_ratio = 0;
		p.max_body_out = 4096;
		pools[1] = sl_http_pool_create(&p);
	}
	pool = pools[data[0] & 1];
	sl_http_conn_init(&c);
	while (i < size) {
		uint8_t h = data[i++];
		size_t n = h & 63;
		unsigned dir = (h >> 6) & 1;

		if (n == 0) {
			sl_http_feed(pool, &c, dir, NULL, 1 + (h & 7), &cb, NULL);
		} else {
			if (n > size - i)
				n = size - i;
			sl_http_feed(pool, &c, dir, data + i, n, &cb, NULL);
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
	return 0;
}
