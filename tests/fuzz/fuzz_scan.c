/* libFuzzer target for lib/scan: streaming scans with the default sensors.
 *
 * The first input byte picks a context and where the rest is split. The rest is scanned three
 * ways: in one feed, in two feeds split there, and one byte per feed for short inputs. The
 * matches must be identical (windows depend on stream bytes only, never on segmentation); every
 * value must be the input bytes at its offset (or, decoded from base64, lie within the input),
 * must pass its validator again, and its masked evidence must not contain it.
 *
 * Build (not part of meson):
 *   clang -g -O1 -fsanitize=fuzzer,address -I lib/scan tests/fuzz/fuzz_scan.c lib/scan/[a-z]*.c \
 *	$(pkg-config --cflags --libs libhs) -lstdc++ -lm -o /tmp/fuzz_scan */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_scan.h"
#include "sl_validate.h"

#define MAX_SEEN 256

struct seen {
	unsigned n;
	const uint8_t *data;
	size_t len;
	struct {
		unsigned sensor;
		uint64_t offset;
		uint32_t len;
	} m[MAX_SEEN];
};

static struct sl_scan_db *db;
static struct sl_scan_worker *w;

static void
check_value(const struct sl_scan_match *m)
{
	const struct sl_validator *v =
	    sl_validate_find(sl_scan_db_sensor(db, m->sensor)->validator);
	char ev[SL_SCAN_EVIDENCE_LEN];

	if (v && v->fn) {
		size_t start, len;

		if (!v->fn(m->value, m->value_len, &start, &len) || start != 0 ||
		    len != m->value_len)
			abort();
	}
	sl_scan_mask(db, m->sensor, m->value, m->value_len, ev, sizeof(ev));
	if (m->value_len >= 8 && memmem(ev, strlen(ev), m->value, m->value_len))
		abort();
}

static void
collect(void *ctx, const struct sl_scan_match *m)
{
	struct seen *s = ctx;

	if (m->value_len == 0 || m->value_len > SL_SCAN_WINDOW || m->offset > s->len ||
	    (!m->encoded && (m->value_len > s->len - m->offset ||
			     memcmp(m->value, s->data + m->offset, m->value_len))))
		abort();
	check_value(m);
	if (s->n < MAX_SEEN) {
		s->m[s->n].sensor = m->sensor;
		s->m[s->n].offset = m->offset;
		s->m[s->n].len = m->value_len;
		s->n++;
	}
}

static void
setup(void)
{
	static const char *const validators[] = {"nir", "luhn", "ssn", "iban"};
	struct sl_sensor_def d[6];
	char err[256];

	memset(d, 0, sizeof(d));
	for (unsigned i = 0; i < 4; i++) {
		snprintf(d[i].name, sizeof(d[i].name), "%s", validators[i]);
		snprintf(d[i].validator, sizeof(d[i].validator), "%s", validators[i]);
		for (unsigned k = 0; sl_scan_default_pattern(validators[i], k); k++)
			d[i].patterns[d[i].n_patterns++] =
			    sl_scan_default_pattern(validators[i], k);
	}
	snprintf(d[4].name, sizeof(d[4].name), "secret");
	d[4].patterns[0] = "\\bproject-[a-z]{3,8}\\b";
	d[4].patterns[1] = "codename:\\s*\\w{4,10}";
	d[4].n_patterns = 2;
	d[4].caseless = 1;
	snprintf(d[5].name, sizeof(d[5].name), "url_token");
	d[5].patterns[0] = "token=[0-9a-f]{8}";
	d[5].n_patterns = 1;
	d[5].contexts = 1u << SL_SCAN_CTX_URL;
	db = sl_scan_db_build(d, 6, err, sizeof(err));
	if (!db) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	w = sl_scan_worker_create(db, 4, err, sizeof(err));
	if (!w)
		abort();
}

static void
scan(const uint8_t *data, size_t len, enum sl_scan_context ctx, size_t split, size_t step,
     struct seen *out)
{
	struct sl_scan_stream s;

	memset(&s, 0, sizeof(s));
	out->n = 0;
	out->data = data;
	out->len = len;
	if (sl_scan_stream_open(db, w, &s, ctx))
		abort();
	if (step) {
		for (size_t i = 0; i < len; i += step)
			sl_scan_stream_feed(db, w, &s, data + i, len - i < step ? len - i : step,
					    collect, out);
	} else {
		sl_scan_stream_feed(db, w, &s, data, split, collect, out);
		sl_scan_stream_feed(db, w, &s, data + split, len - split, collect, out);
	}
	sl_scan_stream_close(db, w, &s, collect, out);
}

static void
same(const struct seen *a, const struct seen *b)
{
	if (a->n != b->n || memcmp(a->m, b->m, a->n * sizeof(a->m[0])))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen a, b;
	enum sl_scan_context ctx;
	size_t split;

	if (!db)
		setup();
	if (size < 1)
		return 0;
	ctx = (enum sl_scan_context)(data[0] % SL_SCAN_CTX_COUNT);
	split = size > 1 ? (data[0] * 7919u) % size : 0;
	data++;
	size--;
	if (split > size)
		split = size;
	scan(data, size, ctx, size, 0, &a);
	scan(data, size, ctx, split, 0, &b);
	same(&a, &b);
	if (size <= 4096) {
		scan(data, size, ctx, 0, 1, &b);
		same(&a, &b);
	}
	return 0;
}
