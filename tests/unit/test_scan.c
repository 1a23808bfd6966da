/* Unit tests for lib/scan: database build errors, the validators, streaming (values split over
 * feeds, end-of-stream matches), context filtering, masking, the stream-state pool and keywords
 * near values (before, after, too far, split, caseless, UTF-8).
 *
 * Test values are generated here (NIR keys, Luhn digits, IBAN check digits) or are published test
 * card numbers; none belongs to a person. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <CUnit/Basic.h>

#include "sl_scan.h"
#include "sl_validate.h"

/* ---- Value generators ---- */

/* Writes a NIR (15 characters + NUL) from its first 13 characters, computing the key with 2A as
 * 19 and 2B as 18. */
static void
nir_make(char out[16], const char *first13)
{
	char digits[14];
	unsigned long long n;

	memcpy(digits, first13, 13);
	digits[13] = '\0';
	if (digits[6] == 'A') {
		digits[5] = '1';
		digits[6] = '9';
	} else if (digits[6] == 'B') {
		digits[5] = '1';
		digits[6] = '8';
	}
	n = strtoull(digits, NULL, 10);
	snprintf(out, 16, "%.13s%02llu", first13, 97 - n % 97);
}

/* Writes a NIR grouped as "S YY MM DD CCC OOO KK" with separator sep. */
static void
nir_group(char out[22], const char *nir, char sep)
{
	snprintf(out, 22, "%.1s%c%.2s%c%.2s%c%.2s%c%.3s%c%.3s%c%.2s", nir, sep, nir + 1, sep,
		 nir + 3, sep, nir + 5, sep, nir + 7, sep, nir + 10, sep, nir + 13);
}

/* Appends the Luhn check digit to the digits in prefix. */
static void
luhn_make(char *out, size_t outlen, const char *prefix)
{
	size_t n = strlen(prefix);
	unsigned sum = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned d = prefix[n - 1 - i] - '0';

		if (!(i & 1)) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	snprintf(out, outlen, "%s%u", prefix, (10 - sum % 10) % 10);
}

/* Writes an IBAN for country cc and bban, computing the check digits. */
static void
iban_make(char *out, size_t outlen, const char *cc, const char *bban)
{
	char buf[64];
	unsigned r = 0;

	snprintf(buf, sizeof(buf), "%s%s00", bban, cc);
	for (const char *p = buf; *p; p++) {
		if (*p >= '0' && *p <= '9')
			r = (r * 10 + (*p - '0')) % 97;
		else
			r = (r * 100 + (*p - 'A' + 10)) % 97;
	}
	snprintf(out, outlen, "%s%02u%s", cc, 98 - r, bban);
}

/* Groups a contiguous IBAN by four with single spaces. */
static void
iban_group(char *out, size_t outlen, const char *iban)
{
	size_t o = 0;

	for (size_t i = 0; iban[i] && o + 2 < outlen; i++) {
		if (i && i % 4 == 0)
			out[o++] = ' ';
		out[o++] = iban[i];
	}
	out[o] = '\0';
}

/* ---- Validator checks ---- */

/* Runs fn on text (the window is all of it); expect NULL means "rejected". */
static void
vcheck(sl_validate_fn fn, const char *text, const char *expect, int line)
{
	size_t start = 99, len = 99;
	int ok = fn((const uint8_t *)text, strlen(text), &start, &len);

	if (!expect) {
		if (ok)
			fprintf(stderr, "\nline %d: '%s' accepted\n", line, text);
		CU_ASSERT_EQUAL(ok, 0);
		return;
	}
	if (!ok || len != strlen(expect) || memcmp(text + start, expect, len))
		fprintf(stderr, "\nline %d: '%s' -> ok %d '%.*s', want '%s'\n", line, text, ok,
			ok ? (int)len : 0, ok ? text + start : "", expect);
	CU_ASSERT_EQUAL(ok, 1);
	CU_ASSERT_EQUAL(len, strlen(expect));
	CU_ASSERT(ok && memcmp(text + start, expect, len) == 0);
}

#define ACCEPT(fn, text, value) vcheck(fn, text, value, __LINE__)
#define REJECT(fn, text)	vcheck(fn, text, NULL, __LINE__)

static void
test_nir(void)
{
	char nir[16], g[22], buf[64], bad[16];
	const char *bases[] = {"1850578006084", "2991275123456", "1850520123456", "1854275123456",
			       "2857599123456", "185052A123456", "285052B654321"};

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		nir_make(nir, bases[i]);
		ACCEPT(sl_validate_nir, nir, nir);
		snprintf(buf, sizeof(buf), "NIR: %s", nir);
		ACCEPT(sl_validate_nir, buf, nir);
		for (const char *sep = " .-"; *sep; sep++) {
			nir_group(g, nir, *sep);
			snprintf(buf, sizeof(buf), "numero %s", g);
			ACCEPT(sl_validate_nir, buf, g);
		}
		snprintf(buf, sizeof(buf), "(%.13s %s", nir, nir + 13);
		snprintf(g, sizeof(g), "%.13s %s", nir, nir + 13);
		ACCEPT(sl_validate_nir, buf, g);
	}

	nir_make(nir, "1850578006084");
	/* Wrong key. */
	memcpy(bad, nir, 16);
	bad[14] = bad[14] == '9' ? '0' : bad[14] + 1;
	REJECT(sl_validate_nir, bad);
	/* Slices of longer tokens. */
	snprintf(buf, sizeof(buf), "9%s", nir);
	REJECT(sl_validate_nir, buf);
	snprintf(buf, sizeof(buf), "x%s", nir);
	REJECT(sl_validate_nir, buf);
	/* Mixed separators. */
	REJECT(sl_validate_nir, "1 85 05.78 006 084 36");
	/* Sex 3, month 13, 00 and 45: keys computed, structure wrong. */
	nir_make(bad, "3850578006084");
	REJECT(sl_validate_nir, bad);
	nir_make(bad, "1851378006084");
	REJECT(sl_validate_nir, bad);
	nir_make(bad, "1850078006084");
	REJECT(sl_validate_nir, bad);
	nir_make(bad, "1854578006084");
	REJECT(sl_validate_nir, bad);
	/* Corsica: 2A keyed as if it were 20 is wrong; 3A does not exist. */
	{
		char d20[16];

		nir_make(d20, "1850520006084");
		memcpy(bad, d20, 16);
		bad[6] = 'A';
		REJECT(sl_validate_nir, bad);
		nir_make(bad, "185053A006084");
		bad[5] = '3';
		REJECT(sl_validate_nir, bad);
	}
	REJECT(sl_validate_nir, "18505780060843");
	REJECT(sl_validate_nir, "");
}

static void
test_luhn(void)
{
	const char *valid[] = {"4111111111111111", "5555555555554444", "378282246310005",
			       "371449635398431",  "6011111111111117", "6011000990139424",
			       "30569309025904",   "3530111333300000", "2223003122003222",
			       "4222222222222",	   "5105105105105100"};
	char card[32], buf[80];

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		ACCEPT(sl_validate_luhn, valid[i], valid[i]);
		snprintf(buf, sizeof(buf), "card: %s", valid[i]);
		ACCEPT(sl_validate_luhn, buf, valid[i]);
	}
	/* 19-digit Visa, UnionPay, Discover 65 and 644, 2-series Mastercard bounds. */
	luhn_make(card, sizeof(card), "411111111111111111");
	ACCEPT(sl_validate_luhn, card, card);
	luhn_make(card, sizeof(card), "620000000000000");
	ACCEPT(sl_validate_luhn, card, card);
	luhn_make(card, sizeof(card), "650000000000000000");
	ACCEPT(sl_validate_luhn, card, card);
	luhn_make(card, sizeof(card), "644000000000000");
	ACCEPT(sl_validate_luhn, card, card);
	luhn_make(card, sizeof(card), "272099999999999");
	ACCEPT(sl_validate_luhn, card, card);
	luhn_make(card, sizeof(card), "272100000000000");
	REJECT(sl_validate_luhn, card); /* past 2720 */
	luhn_make(card, sizeof(card), "222000000000000");
	REJECT(sl_validate_luhn, card); /* before 2221 */

	/* Grouped. */
	ACCEPT(sl_validate_luhn, "pay 4111 1111 1111 1111", "4111 1111 1111 1111");
	ACCEPT(sl_validate_luhn, "4111-1111-1111-1111", "4111-1111-1111-1111");
	ACCEPT(sl_validate_luhn, "amex 3782 822463 10005", "3782 822463 10005");
	ACCEPT(sl_validate_luhn, "ref 12 4111 1111 1111 1111", "4111 1111 1111 1111");
	ACCEPT(sl_validate_luhn, "visa 4222 2222 2222 2", "4222 2222 2222 2");
	ACCEPT(sl_validate_luhn, "4222-2222-2222-2", "4222-2222-2222-2");
	REJECT(sl_validate_luhn, "4222 2222 2222 3");
	/* Four groups of a grouped IBAN are not a card; a group that only looks like an IBAN
	 * head is not an IBAN. */
	REJECT(sl_validate_luhn, "iban FR76 4111 1111 1111 1111");
	REJECT(sl_validate_luhn, "FR76 3000 4111 1111 1111 1111");
	REJECT(sl_validate_luhn, "GB29-NWBK-4111-1111-1111-1111");
	ACCEPT(sl_validate_luhn, "REF1 4111 1111 1111 1111", "4111 1111 1111 1111");
	ACCEPT(sl_validate_luhn, "XFR76 4111 1111 1111 1111", "4111 1111 1111 1111");
	ACCEPT(sl_validate_luhn, "FR76, 4111 1111 1111 1111", "4111 1111 1111 1111");
	REJECT(sl_validate_luhn, "4111 1111-1111 1111");

	/* Luhn failure, wrong issuer, wrong length for the issuer. */
	REJECT(sl_validate_luhn, "4111111111111112");
	REJECT(sl_validate_luhn, "5555555555554445");
	luhn_make(card, sizeof(card), "100000000000000");
	REJECT(sl_validate_luhn, card);
	luhn_make(card, sizeof(card), "370000000000000"); /* Amex with 16 digits */
	REJECT(sl_validate_luhn, card);
	luhn_make(card, sizeof(card), "41111111111111"); /* Visa with 15 digits */
	REJECT(sl_validate_luhn, card);

	/* Inside longer runs of digits. */
	REJECT(sl_validate_luhn, "94111111111111111");
	REJECT(sl_validate_luhn, "12345678904111111111111111");
	REJECT(sl_validate_luhn, "411111111111");
}

static void
test_ssn(void)
{
	ACCEPT(sl_validate_ssn, "123-45-6788", "123-45-6788");
	ACCEPT(sl_validate_ssn, "ssn: 536 22 8411", "536 22 8411");
	ACCEPT(sl_validate_ssn, "536228411", "536228411");
	ACCEPT(sl_validate_ssn, "(899-99-9998", "899-99-9998");
	REJECT(sl_validate_ssn, "000-12-3456");
	REJECT(sl_validate_ssn, "666-12-3456");
	REJECT(sl_validate_ssn, "900-12-3456");
	REJECT(sl_validate_ssn, "987-65-4321");
	REJECT(sl_validate_ssn, "123-00-4567");
	REJECT(sl_validate_ssn, "123-45-0000");
	REJECT(sl_validate_ssn, "078-05-1120");
	REJECT(sl_validate_ssn, "219-09-9999");
	REJECT(sl_validate_ssn, "123-45-6789");
	REJECT(sl_validate_ssn, "123-45 6788");
	REJECT(sl_validate_ssn, "1-123-45-6788");
	REJECT(sl_validate_ssn, "A123-45-6788");
	REJECT(sl_validate_ssn, "1536228411");
	REJECT(sl_validate_ssn, "12-45-6788");
}

static void
test_iban(void)
{
	static const struct {
		const char *cc, *bban;
	} cases[] = {
	    {"FR", "30006000011234567890189"},
	    {"DE", "370400440532013000"},
	    {"GB", "WEST12345698765432"},
	    {"ES", "21000418450200051332"},
	    {"NL", "ABNA0417164300"},
	    {"BE", "539007547034"},
	    {"NO", "86011117947"},
	    {"MC", "11222000010123456789030"},
	};
	char iban[40], g[48], buf[80];

	/* The generator agrees with the examples ISO 13616 users know. */
	iban_make(iban, sizeof(iban), "DE", "370400440532013000");
	CU_ASSERT_STRING_EQUAL(iban, "DE89370400440532013000");
	iban_make(iban, sizeof(iban), "GB", "WEST12345698765432");
	CU_ASSERT_STRING_EQUAL(iban, "GB82WEST12345698765432");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		iban_make(iban, sizeof(iban), cases[i].cc, cases[i].bban);
		CU_ASSERT_EQUAL(strlen(iban), sl_validate_iban_length(cases[i].cc));
		ACCEPT(sl_validate_iban, iban, iban);
		snprintf(buf, sizeof(buf), "IBAN: %s", iban);
		ACCEPT(sl_validate_iban, buf, iban);
		iban_group(g, sizeof(g), iban);
		snprintf(buf, sizeof(buf), "IBAN %s", g);
		ACCEPT(sl_validate_iban, buf, g);
		/* A grouped IBAN after another group of four. */
		snprintf(buf, sizeof(buf), "REF1 %s", g);
		ACCEPT(sl_validate_iban, buf, g);
		/* Bad check digits. */
		iban[3] = iban[3] == '9' ? '0' : iban[3] + 1;
		REJECT(sl_validate_iban, iban);
	}
	/* Right checksum, wrong length for the country. */
	iban_make(iban, sizeof(iban), "FR", "3000600001123456789018");
	REJECT(sl_validate_iban, iban);
	iban_make(iban, sizeof(iban), "ZZ", "30006000011234567890189");
	REJECT(sl_validate_iban, iban);
	REJECT(sl_validate_iban, "gb82WEST12345698765432");
	REJECT(sl_validate_iban, "GB82West12345698765432");
	REJECT(sl_validate_iban, "XGB82WEST12345698765432");
	REJECT(sl_validate_iban, "GB82 WEST 1234 5698 7654 32 ");
	REJECT(sl_validate_iban, "GB82  WEST 1234 5698 7654 32");
}

/* ---- Database build ---- */

static void
def_init(struct sl_sensor_def *d, const char *name, const char *validator, const char *p0)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->validator, sizeof(d->validator), "%s", validator);
	snprintf(d->category, sizeof(d->category), "pii");
	d->patterns[0] = p0;
	d->n_patterns = p0 ? 1 : 0;
	d->severity = 1;
	d->min_count = 1;
}

static void
test_build_errors(void)
{
	struct sl_sensor_def d[2];
	struct sl_scan_db *db;
	char err[256];

	def_init(&d[0], "ok", "", "abc");
	def_init(&d[1], "broken", "none", "def");
	d[1].patterns[1] = "ab(c";
	d[1].n_patterns = 2;
	err[0] = '\0';
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 2, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sensor 'broken' pattern 2:"));

	def_init(&d[1], "v", "crc32", "def");
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 2, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown validator 'crc32'"));

	def_init(&d[1], "ok", "", "def");
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 2, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "duplicate"));

	def_init(&d[1], "", "", "def");
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 2, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "name"));

	def_init(&d[1], "nopat", "", NULL);
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 2, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sensor 'nopat': 0 patterns"));

	def_init(&d[1], "many", "", "x");
	d[1].n_patterns = SL_SCAN_MAX_PATTERNS + 1;
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 2, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sensor 'many'"));

	def_init(&d[1], "ctx", "", "x");
	d[1].contexts = 1u << SL_SCAN_CTX_COUNT;
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 2, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sensor 'ctx'"));

	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 0, err, sizeof(err)));
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, SL_SCAN_MAX_SENSORS + 1, err, sizeof(err)));

	/* A pattern with a validator that needs no SOM may be anything Hyperscan streams. */
	def_init(&d[1], "card", "luhn", "\\b\\d{13,19}\\b");
	db = sl_scan_db_build(d, 2, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(db);
	CU_ASSERT_EQUAL(sl_scan_db_sensor_count(db), 2);
	CU_ASSERT_STRING_EQUAL(sl_scan_db_sensor(db, 1)->name, "card");
	CU_ASSERT_PTR_NULL(sl_scan_db_sensor(db, 2));
	sl_scan_db_free(db);
}

static void
test_default_patterns(void)
{
	const char *names[] = {"nir", "luhn", "ssn", "iban"};
	char err[256];

	for (size_t i = 0; i < 4; i++) {
		struct sl_sensor_def d;
		struct sl_scan_db *db;
		unsigned k;

		def_init(&d, names[i], names[i], NULL);
		for (k = 0; sl_scan_default_pattern(names[i], k); k++)
			d.patterns[k] = sl_scan_default_pattern(names[i], k);
		d.n_patterns = k;
		CU_ASSERT(k >= 1);
		db = sl_scan_db_build(&d, 1, err, sizeof(err));
		if (!db)
			fprintf(stderr, "\n%s: %s\n", names[i], err);
		CU_ASSERT_PTR_NOT_NULL(db);
		sl_scan_db_free(db);
	}
	CU_ASSERT_PTR_NULL(sl_scan_default_pattern("none", 0));
	CU_ASSERT_PTR_NULL(sl_scan_default_pattern("crc32", 0));
	CU_ASSERT_EQUAL(sl_scan_context_parse("body"), SL_SCAN_CTX_BODY);
	CU_ASSERT_EQUAL(sl_scan_context_parse("nope"), -1);
	CU_ASSERT_STRING_EQUAL(sl_scan_context_name(SL_SCAN_CTX_URL), "url");
}

/* ---- Streaming ---- */

enum { S_NIR, S_CARD, S_SSN, S_IBAN, S_SECRET, S_URLONLY, S_COUNT };

#define MAX_SEEN 32

struct seen {
	unsigned n;
	struct {
		unsigned sensor;
		enum sl_scan_context context;
		uint64_t offset;
		char value[SL_SCAN_WINDOW + 1];
	} m[MAX_SEEN];
};

static void
collect(void *ctx, const struct sl_scan_match *m)
{
	struct seen *s = ctx;

	CU_ASSERT(m->value_len > 0 && m->value_len <= SL_SCAN_WINDOW);
	if (s->n == MAX_SEEN)
		return;
	s->m[s->n].sensor = m->sensor;
	s->m[s->n].context = m->context;
	s->m[s->n].offset = m->offset;
	memcpy(s->m[s->n].value, m->value, m->value_len);
	s->m[s->n].value[m->value_len] = '\0';
	s->n++;
}

static struct sl_scan_db *
default_db(void)
{
	static const char *const validators[] = {"nir", "luhn", "ssn", "iban"};
	static const char *const names[] = {"fr_ssn", "credit_card", "us_ssn", "iban"};
	struct sl_sensor_def d[S_COUNT];
	struct sl_scan_db *db;
	char err[256];

	for (unsigned i = 0; i < 4; i++) {
		def_init(&d[i], names[i], validators[i], NULL);
		for (unsigned k = 0; sl_scan_default_pattern(validators[i], k); k++)
			d[i].patterns[d[i].n_patterns++] =
			    sl_scan_default_pattern(validators[i], k);
	}
	def_init(&d[S_SECRET], "secret", "none", "\\bproject-[a-z]{3,8}\\b");
	d[S_SECRET].patterns[1] = "\\bcodename:\\s*\\w{4,10}\\b";
	d[S_SECRET].n_patterns = 2;
	d[S_SECRET].caseless = 1;
	def_init(&d[S_URLONLY], "url_token", "", "token=[0-9a-f]{8}");
	d[S_URLONLY].contexts = 1u << SL_SCAN_CTX_URL;
	db = sl_scan_db_build(d, S_COUNT, err, sizeof(err));
	if (!db)
		fprintf(stderr, "\n%s\n", err);
	CU_ASSERT_FATAL(db != NULL);
	return db;
}

/* Feeds text in pieces of `step` bytes (0: split once at `split`), closes, collects matches. */
static void
run_stream(const struct sl_scan_db *db, struct sl_scan_worker *w, enum sl_scan_context ctx,
	   const char *text, size_t split, size_t step, struct seen *out)
{
	struct sl_scan_stream s;
	size_t len = strlen(text);

	memset(&s, 0, sizeof(s));
	memset(out, 0, sizeof(*out));
	CU_ASSERT_EQUAL_FATAL(sl_scan_stream_open(db, w, &s, ctx), 0);
	if (step) {
		for (size_t i = 0; i < len; i += step) {
			size_t n = len - i < step ? len - i : step;

			CU_ASSERT_EQUAL(sl_scan_stream_feed(db, w, &s, (const uint8_t *)text + i, n,
							    collect, out),
					0);
		}
	} else {
		CU_ASSERT_EQUAL(
		    sl_scan_stream_feed(db, w, &s, (const uint8_t *)text, split, collect, out), 0);
		CU_ASSERT_EQUAL(sl_scan_stream_feed(db, w, &s, (const uint8_t *)text + split,
						    len - split, collect, out),
				0);
	}
	CU_ASSERT_EQUAL(s.offset, len);
	sl_scan_stream_close(db, w, &s, collect, out);
	CU_ASSERT_PTR_NULL(s.hs);
}

static int
seen_equal(const struct seen *a, const struct seen *b)
{
	if (a->n != b->n)
		return 0;
	for (unsigned i = 0; i < a->n; i++)
		if (a->m[i].sensor != b->m[i].sensor || a->m[i].offset != b->m[i].offset ||
		    strcmp(a->m[i].value, b->m[i].value))
			return 0;
	return 1;
}

/* Returns the index of the match of sensor with value, or -1. */
static int
seen_find(const struct seen *s, unsigned sensor, const char *value)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->m[i].sensor == sensor && !strcmp(s->m[i].value, value))
			return (int)i;
	return -1;
}

static void
test_stream_split(void)
{
	struct sl_scan_db *db = default_db();
	struct sl_scan_worker *w;
	struct seen ref, got;
	char nir[16], g[22], text[1024], iban[40], ig[48];
	size_t len;
	char err[128];
	int k;

	w = sl_scan_worker_create(db, 8, err, sizeof(err));
	CU_ASSERT_FATAL(w != NULL);
	nir_make(nir, "2850578006084");
	nir_group(g, nir, ' ');
	iban_make(iban, sizeof(iban), "FR", "30006000011234567890189");
	iban_group(ig, sizeof(ig), iban);
	snprintf(text, sizeof(text),
		 "POST /upload HTTP/1.1\r\n\r\nnir=%s&card=4111 1111 1111 1111&ssn=536-22-8411"
		 "&iban=%s&note=Project-Falcon, codename:  bluebird; x=%s",
		 g, ig, nir);
	len = strlen(text);

	run_stream(db, w, SL_SCAN_CTX_BODY, text, len, 0, &ref);
	CU_ASSERT_EQUAL(ref.n, 7);
	k = seen_find(&ref, S_NIR, g);
	CU_ASSERT(k >= 0 && ref.m[k].offset == (uint64_t)(strstr(text, g) - text));
	k = seen_find(&ref, S_NIR, nir);
	CU_ASSERT(k >= 0 && ref.m[k].offset == len - 15); /* found at close: \b needs the end */
	k = seen_find(&ref, S_CARD, "4111 1111 1111 1111");
	CU_ASSERT(k >= 0 && ref.m[k].offset == (uint64_t)(strstr(text, "4111") - text));
	CU_ASSERT(seen_find(&ref, S_SSN, "536-22-8411") >= 0);
	k = seen_find(&ref, S_IBAN, ig);
	CU_ASSERT(k >= 0 && ref.m[k].offset == (uint64_t)(strstr(text, ig) - text));
	/* Regex-only sensors: start of match found again, caseless. */
	k = seen_find(&ref, S_SECRET, "Project-Falcon");
	CU_ASSERT(k >= 0 && ref.m[k].offset == (uint64_t)(strstr(text, "Project-") - text));
	CU_ASSERT(seen_find(&ref, S_SECRET, "codename:  bluebird") >= 0);

	for (size_t split = 0; split <= len; split++) {
		run_stream(db, w, SL_SCAN_CTX_BODY, text, split, 0, &got);
		if (!seen_equal(&ref, &got))
			fprintf(stderr, "\nsplit at %zu differs\n", split);
		CU_ASSERT(seen_equal(&ref, &got));
	}
	for (size_t step = 1; step <= 7; step++) {
		run_stream(db, w, SL_SCAN_CTX_BODY, text, 0, step, &got);
		CU_ASSERT(seen_equal(&ref, &got));
	}

	/* A value after more than a window of other bytes, fed one byte at a time. */
	memset(text, 'z', 600);
	text[600] = ' ';
	snprintf(text + 601, sizeof(text) - 601, "%s.", nir);
	run_stream(db, w, SL_SCAN_CTX_RAW, text, 0, 1, &got);
	CU_ASSERT_EQUAL(got.n, 1);
	CU_ASSERT_EQUAL(got.m[0].offset, 601);
	CU_ASSERT_STRING_EQUAL(got.m[0].value, nir);
	CU_ASSERT_EQUAL(got.m[0].context, SL_SCAN_CTX_RAW);

	sl_scan_worker_free(w);
	sl_scan_db_free(db);
}

static void
test_no_slices(void)
{
	struct sl_scan_db *db = default_db();
	struct sl_scan_worker *w = sl_scan_worker_create(db, 4, NULL, 0);
	struct sl_sensor_def d;
	struct sl_scan_db *loose;
	struct sl_scan_worker *lw;
	struct sl_scan_stats st;
	struct seen got;
	char nir[16], text[256], err[128];

	CU_ASSERT_FATAL(w != NULL);
	nir_make(nir, "1850578006084");
	snprintf(text, sizeof(text),
		 "id=12%s34 n=9%s card=12344111111111111111 c2=41111111111111110 "
		 "ssn=1536-22-8411 ssn=536-22-84110 iban=XFR7630006000011234567890189",
		 nir, nir);
	run_stream(db, w, SL_SCAN_CTX_BODY, text, 0, 3, &got);
	CU_ASSERT_EQUAL(got.n, 0);

	/* A regex that lets slices through: the validator refuses them. */
	def_init(&d, "loose_nir", "nir", "\\d{15}");
	loose = sl_scan_db_build(&d, 1, err, sizeof(err));
	CU_ASSERT_FATAL(loose != NULL);
	lw = sl_scan_worker_create(loose, 4, err, sizeof(err));
	CU_ASSERT_FATAL(lw != NULL);
	snprintf(text, sizeof(text), "12%s34 %s", nir, nir);
	run_stream(loose, lw, SL_SCAN_CTX_BODY, text, 0, 2, &got);
	CU_ASSERT_EQUAL(got.n, 1);
	CU_ASSERT_EQUAL(got.m[0].offset, 20);
	sl_scan_stats_get(lw, &st);
	CU_ASSERT_EQUAL(st.matches, 1);
	CU_ASSERT(st.validator_rejects >= 5);
	CU_ASSERT_EQUAL(st.candidates, st.matches + st.validator_rejects);
	CU_ASSERT_EQUAL(st.sensor_hits[0], 1);
	CU_ASSERT_EQUAL(st.sensor_rejects[0], st.validator_rejects);
	CU_ASSERT_EQUAL(st.bytes, strlen(text));

	sl_scan_worker_free(lw);
	sl_scan_db_free(loose);
	sl_scan_worker_free(w);
	sl_scan_db_free(db);
}

static void
test_context(void)
{
	struct sl_scan_db *db = default_db();
	struct sl_scan_worker *w = sl_scan_worker_create(db, 4, NULL, 0);
	struct sl_scan_stats before, after;
	struct seen got;
	const char *text = "GET /x?token=deadbeef HTTP/1.1";

	CU_ASSERT_FATAL(w != NULL);
	sl_scan_stats_get(w, &before);
	run_stream(db, w, SL_SCAN_CTX_BODY, text, 0, 5, &got);
	CU_ASSERT_EQUAL(got.n, 0);
	sl_scan_stats_get(w, &after);
	CU_ASSERT_EQUAL(after.candidates, before.candidates); /* skipped, not rejected */

	run_stream(db, w, SL_SCAN_CTX_URL, text, 0, 5, &got);
	CU_ASSERT_EQUAL(got.n, 1);
	CU_ASSERT_EQUAL(got.m[0].sensor, S_URLONLY);
	CU_ASSERT_EQUAL(got.m[0].context, SL_SCAN_CTX_URL);
	CU_ASSERT_STRING_EQUAL(got.m[0].value, "token=deadbeef");
	CU_ASSERT_EQUAL(got.m[0].offset, 7);
	sl_scan_stats_get(w, &after);
	CU_ASSERT_EQUAL(after.sensor_hits[S_URLONLY], 1);

	sl_scan_worker_free(w);
	sl_scan_db_free(db);
}

static void
test_block_and_close(void)
{
	struct sl_scan_db *db = default_db();
	struct sl_scan_worker *w = sl_scan_worker_create(db, 1, NULL, 0);
	struct sl_scan_stream s;
	struct seen got;
	const char *text = "cards 5555555555554444 and 378282246310005";

	CU_ASSERT_FATAL(w != NULL);
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL(sl_scan_block(db, w, SL_SCAN_CTX_BODY, (const uint8_t *)text, strlen(text),
				      collect, &got),
			0);
	CU_ASSERT_EQUAL(got.n, 2);
	CU_ASSERT(seen_find(&got, S_CARD, "5555555555554444") >= 0);
	CU_ASSERT(seen_find(&got, S_CARD, "378282246310005") >= 0);

	/* The value at the very end is only known to end there when the stream closes. */
	memset(&s, 0, sizeof(s));
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL(sl_scan_stream_open(db, w, &s, SL_SCAN_CTX_BODY), 0);
	CU_ASSERT_EQUAL(sl_scan_stream_open(db, w, &s, SL_SCAN_CTX_BODY), -EBUSY);
	CU_ASSERT_EQUAL(
	    sl_scan_stream_feed(db, w, &s, (const uint8_t *)text, strlen(text), collect, &got), 0);
	CU_ASSERT_EQUAL(got.n, 1);
	sl_scan_stream_close(db, w, &s, collect, &got);
	CU_ASSERT_EQUAL(got.n, 2);
	CU_ASSERT_EQUAL(got.m[1].offset, strlen(text) - 15);
	sl_scan_stream_close(db, w, &s, collect, &got); /* closed: nothing happens */
	CU_ASSERT_EQUAL(sl_scan_stream_feed(db, w, &s, (const uint8_t *)"x", 1, collect, &got),
			-EINVAL);
	sl_scan_worker_free(w);
	sl_scan_db_free(db);
}

static void
test_mask(void)
{
	struct sl_scan_db *db = default_db();
	char out[SL_SCAN_EVIDENCE_LEN], nir[16], iban[40], g[48];
	static const struct {
		unsigned sensor;
		const char *value, *masked;
	} cases[] = {
	    {S_CARD, "4111111111111111", "411111******1111"},
	    {S_CARD, "4111 1111 1111 1111", "4111 11** **** 1111"},
	    {S_CARD, "3782-822463-10005", "3782-82****-*0005"},
	    {S_SSN, "536-22-8411", "***-**-**11"},
	    {S_SECRET, "codename: bluebird", "********: ******rd"},
	    {S_SECRET, "abc", "***"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sl_scan_mask(db, cases[i].sensor, (const uint8_t *)cases[i].value,
			     (uint32_t)strlen(cases[i].value), out, sizeof(out));
		CU_ASSERT_STRING_EQUAL(out, cases[i].masked);
		CU_ASSERT_PTR_NULL(strstr(out, cases[i].value));
	}
	nir_make(nir, "185052A006084");
	sl_scan_mask(db, S_NIR, (const uint8_t *)nir, 15, out, sizeof(out));
	CU_ASSERT_EQUAL(strlen(out), 15);
	CU_ASSERT_EQUAL(strspn(out, "*"), 13);
	CU_ASSERT_STRING_EQUAL(out + 13, nir + 13);
	iban_make(iban, sizeof(iban), "FR", "30006000011234567890189");
	iban_group(g, sizeof(g), iban);
	sl_scan_mask(db, S_IBAN, (const uint8_t *)g, (uint32_t)strlen(g), out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "**** **** **** **** **** **** *89");
	CU_ASSERT_PTR_NULL(strstr(out, iban));

	/* Truncated, still terminated; bytes that are not printable ASCII are masked. */
	sl_scan_mask(db, S_CARD, (const uint8_t *)"4111111111111111", 16, out, 8);
	CU_ASSERT_STRING_EQUAL(out, "411111*");
	sl_scan_mask(db, S_SECRET, (const uint8_t *)"a\n\xc3\xa9z", 5, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "*****");
	sl_scan_mask(db, 99, (const uint8_t *)"12345678", 8, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "******78");
	sl_scan_db_free(db);
}

static void
test_many_streams(void)
{
	struct sl_scan_db *db = default_db();
	struct sl_scan_db *other = default_db();
	struct sl_scan_worker *w = sl_scan_worker_create(db, 4, NULL, 0);
	struct sl_scan_worker *w0 = sl_scan_worker_create(db, 0, NULL, 0);
	struct sl_scan_stream s[10];
	struct sl_scan_stats st;
	struct seen got;
	const char *text = "x 4111111111111111 y";

	CU_ASSERT_FATAL(w != NULL && w0 != NULL);
	memset(s, 0, sizeof(s));
	memset(&got, 0, sizeof(got));
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 10; i++)
			CU_ASSERT_EQUAL(sl_scan_stream_open(db, w, &s[i], SL_SCAN_CTX_BODY), 0);
		for (int i = 0; i < 10; i++)
			sl_scan_stream_feed(db, w, &s[i], (const uint8_t *)text, strlen(text),
					    collect, &got);
		/* Close in another order than opened: pooled and malloc'd blocks mix. */
		for (int i = 9; i >= 0; i -= 2)
			sl_scan_stream_close(db, w, &s[i], NULL, NULL);
		for (int i = 0; i < 10; i += 2)
			sl_scan_stream_close(db, w, &s[i], NULL, NULL);
		got.n = 0;
	}
	sl_scan_stats_get(w, &st);
	CU_ASSERT_EQUAL(st.streams_opened, 2000);
	CU_ASSERT_EQUAL(st.stream_pool_fallback, 1200);
	CU_ASSERT_EQUAL(st.matches, 2000);
	CU_ASSERT_EQUAL(st.stream_alloc_failed, 0);

	/* No pool at all: every stream falls back, and still works. */
	CU_ASSERT_EQUAL(sl_scan_stream_open(db, w0, &s[0], SL_SCAN_CTX_BODY), 0);
	sl_scan_stream_close(db, w0, &s[0], NULL, NULL);
	sl_scan_stats_get(w0, &st);
	CU_ASSERT_EQUAL(st.stream_pool_fallback, 1);

	/* A worker belongs to one database. */
	CU_ASSERT_EQUAL(sl_scan_stream_open(other, w, &s[0], SL_SCAN_CTX_BODY), -EINVAL);
	sl_scan_worker_free(w0);
	sl_scan_worker_free(w);
	sl_scan_db_free(other);
	sl_scan_db_free(db);
}

/* The database keeps its own copy of the patterns. */
static void
test_defs_copied(void)
{
	struct sl_sensor_def d;
	struct sl_scan_db *db;
	struct sl_scan_worker *w;
	struct seen got;
	char *pat = strdup("\\bsecret-\\d{3}\\b");
	char err[128];

	CU_ASSERT_FATAL(pat != NULL);
	def_init(&d, "copied", "", pat);
	db = sl_scan_db_build(&d, 1, err, sizeof(err));
	CU_ASSERT_FATAL(db != NULL);
	memset(pat, 'x', strlen(pat));
	free(pat);
	CU_ASSERT_STRING_EQUAL(sl_scan_db_sensor(db, 0)->patterns[0], "\\bsecret-\\d{3}\\b");
	w = sl_scan_worker_create(db, 2, err, sizeof(err));
	CU_ASSERT_FATAL(w != NULL);
	run_stream(db, w, SL_SCAN_CTX_RAW, "a secret-123 b", 6, 0, &got);
	CU_ASSERT_EQUAL(got.n, 1);
	CU_ASSERT_STRING_EQUAL(got.m[0].value, "secret-123");
	CU_ASSERT_EQUAL(got.m[0].offset, 2);
	sl_scan_worker_free(w);
	sl_scan_db_free(db);
}

/* Buffers that end right before an unmapped page: Hyperscan's AVX512VBMI code reads past the end
 * of what it scans, so the scan library must not hand it such a buffer. Crashes without the
 * workaround on CPUs with AVX512VBMI; passes trivially elsewhere. */
static void
test_page_end(void)
{
	struct sl_scan_db *db = default_db();
	struct sl_scan_worker *w = sl_scan_worker_create(db, 2, NULL, 0);
	const char *texts[] = {
	    /* found by fuzz_scan */
	    ("6000 0224 3456 78064;67\tIB)A56N FR356 788 3000 6000 0112 3456 783000t000  6000  "
	     "600115 3246 780"),
	    "x 4111 1111 1111 1111 and project-falcon codename: abcd 3000 6000 0112 3456 7",
	    "4",
	    "",
	};
	size_t page = 4096;
	uint8_t *m =
	    mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(w != NULL && m != MAP_FAILED);
	CU_ASSERT_FATAL(mprotect(m + page, page, PROT_NONE) == 0);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len = strlen(texts[i]);
		uint8_t *p = m + page - len;
		struct seen ref, got;

		run_stream(db, w, SL_SCAN_CTX_BODY, texts[i], len, 0, &ref);
		memcpy(p, texts[i], len);
		for (size_t split = 0; split <= len; split++) {
			struct sl_scan_stream s;

			memset(&s, 0, sizeof(s));
			memset(&got, 0, sizeof(got));
			CU_ASSERT_EQUAL(sl_scan_stream_open(db, w, &s, SL_SCAN_CTX_BODY), 0);
			sl_scan_stream_feed(db, w, &s, p, split, collect, &got);
			sl_scan_stream_feed(db, w, &s, p + split, len - split, collect, &got);
			sl_scan_stream_close(db, w, &s, collect, &got);
			CU_ASSERT(seen_equal(&ref, &got));
		}
		memset(&got, 0, sizeof(got));
		CU_ASSERT_EQUAL(sl_scan_block(db, w, SL_SCAN_CTX_BODY, p, len, collect, &got), 0);
		CU_ASSERT(seen_equal(&ref, &got));
	}
	munmap(m, 2 * page);
	sl_scan_worker_free(w);
	sl_scan_db_free(db);
}

/* A stream moved to a new database mid-value still finds that value once, at the right offset,
 * and does not report again what the old database already reported. */
static void
test_migrate(void)
{
	struct sl_sensor_def d[2];
	struct sl_scan_db *db1, *db2;
	struct sl_scan_worker *w1, *w2;
	struct sl_scan_stream s;
	struct seen got;
	char err[256];
	const char *text = "first project-alpha then project-bravo and codename: zulu1234 end";
	size_t cut = strlen("first project-alpha then proj");

	def_init(&d[0], "proj", "none", "\\bproject-[a-z]{3,8}\\b");
	db1 = sl_scan_db_build(d, 1, err, sizeof(err));
	def_init(&d[1], "code", "none", "\\bcodename:\\s*\\w{4,10}\\b");
	db2 = sl_scan_db_build(d, 2, err, sizeof(err));
	CU_ASSERT_FATAL(db1 && db2);
	w1 = sl_scan_worker_create(db1, 4, err, sizeof(err));
	w2 = sl_scan_worker_create(db2, 4, err, sizeof(err));
	CU_ASSERT_FATAL(w1 && w2);
	memset(&s, 0, sizeof(s));
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL_FATAL(sl_scan_stream_open(db1, w1, &s, SL_SCAN_CTX_RAW), 0);
	sl_scan_stream_feed(db1, w1, &s, (const uint8_t *)text, cut, collect, &got);
	CU_ASSERT_EQUAL(got.n, 1);
	CU_ASSERT_EQUAL(sl_scan_stream_migrate(db1, w1, db2, w2, &s), 0);
	CU_ASSERT_EQUAL(s.offset, cut);
	sl_scan_stream_feed(db2, w2, &s, (const uint8_t *)text + cut, strlen(text) - cut, collect,
			    &got);
	sl_scan_stream_close(db2, w2, &s, collect, &got);
	CU_ASSERT_EQUAL(got.n, 3);
	CU_ASSERT(seen_find(&got, 0, "project-alpha") == 0);
	int b = seen_find(&got, 0, "project-bravo"), c = seen_find(&got, 1, "codename: zulu1234");
	CU_ASSERT(b > 0 && c > 0);
	if (b > 0)
		CU_ASSERT_EQUAL(got.m[b].offset, strstr(text, "project-bravo") - text);
	if (c > 0)
		CU_ASSERT_EQUAL(got.m[c].offset, strstr(text, "codename") - text);
	sl_scan_worker_free(w1);
	sl_scan_worker_free(w2);
	sl_scan_db_free(db1);
	sl_scan_db_free(db2);
}

/* ---- Keywords (near / within) ---- */

enum { N_NIR, N_CARD, N_IBAN, N_COUNT };

/* fr_ssn needs one of three keywords within 64 bytes (the defaults); credit_card needs none;
 * iban needs "iban" within 16 bytes. */
static struct sl_scan_db *
near_db(void)
{
	struct sl_sensor_def d[N_COUNT];
	struct sl_scan_db *db;
	char err[256];

	def_init(&d[N_NIR], "fr_ssn", "nir", sl_scan_default_pattern("nir", 0));
	d[N_NIR].near[0] = "nir";
	d[N_NIR].near[1] = "s\xc3\xa9"
			   "curit\xc3\xa9 sociale";
	d[N_NIR].near[2] = "num\xc3\xa9ro de s\xc3\xa9"
			   "cu";
	d[N_NIR].n_near = 3;
	def_init(&d[N_CARD], "credit_card", "luhn", NULL);
	for (unsigned k = 0; sl_scan_default_pattern("luhn", k); k++)
		d[N_CARD].patterns[d[N_CARD].n_patterns++] = sl_scan_default_pattern("luhn", k);
	def_init(&d[N_IBAN], "iban", "iban", NULL);
	for (unsigned k = 0; sl_scan_default_pattern("iban", k); k++)
		d[N_IBAN].patterns[d[N_IBAN].n_patterns++] = sl_scan_default_pattern("iban", k);
	d[N_IBAN].near[0] = "IBAN";
	d[N_IBAN].n_near = 1;
	d[N_IBAN].within = 16;
	db = sl_scan_db_build(d, N_COUNT, err, sizeof(err));
	if (!db)
		fprintf(stderr, "\n%s\n", err);
	CU_ASSERT_FATAL(db != NULL);
	CU_ASSERT_EQUAL(sl_scan_db_sensor(db, N_NIR)->within, SL_SCAN_NEAR_WITHIN);
	return db;
}

/* Runs text through a fresh stream whole, split at every offset and byte by byte; every run must
 * report the same. Returns the number of fr_ssn matches of the whole run (in *ref). */
static unsigned
near_run(const struct sl_scan_db *db, struct sl_scan_worker *w, const char *text, struct seen *ref)
{
	size_t len = strlen(text);
	struct seen got;
	unsigned n = 0;

	run_stream(db, w, SL_SCAN_CTX_BODY, text, len, 0, ref);
	for (size_t split = 0; split <= len; split++) {
		run_stream(db, w, SL_SCAN_CTX_BODY, text, split, 0, &got);
		if (!seen_equal(ref, &got))
			fprintf(stderr, "\nnear: split at %zu differs: %s\n", split, text);
		CU_ASSERT(seen_equal(ref, &got));
	}
	run_stream(db, w, SL_SCAN_CTX_BODY, text, 0, 1, &got);
	CU_ASSERT(seen_equal(ref, &got));
	for (unsigned i = 0; i < ref->n; i++)
		n += ref->m[i].sensor == N_NIR;
	return n;
}

static void
test_near(void)
{
	struct sl_scan_db *db = near_db();
	struct sl_scan_worker *w = sl_scan_worker_create(db, 4, NULL, 0);
	struct sl_scan_stats before, after;
	struct seen ref;
	char nir[16], g[22], text[1024], gap64[65], gap65[66];
	int k;

	CU_ASSERT_FATAL(w != NULL);
	nir_make(nir, "1850578006084");
	nir_group(g, nir, '.');
	memset(gap64, '~', 64);
	gap64[64] = '\0';
	memset(gap65, '~', 65);
	gap65[65] = '\0';

	/* Before, at once, at the value's offset. */
	snprintf(text, sizeof(text), "{\"nir\": \"%s\"}", nir);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 1);
	k = seen_find(&ref, N_NIR, nir);
	CU_ASSERT(k >= 0 && ref.m[k].offset == (uint64_t)(strstr(text, nir) - text));
	/* After, reported when the keyword comes, with the value's own offset and bytes. */
	snprintf(text, sizeof(text), "value %s is the NIR of the client", g);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 1);
	k = seen_find(&ref, N_NIR, g);
	CU_ASSERT(k >= 0 && ref.m[k].offset == 6);
	/* Absent: validated, not reported, counted. */
	sl_scan_stats_get(w, &before);
	snprintf(text, sizeof(text), "customer %s", nir);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 0);
	sl_scan_stats_get(w, &after);
	CU_ASSERT(after.near_rejects > before.near_rejects);
	CU_ASSERT_EQUAL(after.validator_rejects, before.validator_rejects);
	/* Exactly `within` bytes between keyword and value, before and after: near. */
	snprintf(text, sizeof(text), "nir%s%s", gap64, nir);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 1);
	snprintf(text, sizeof(text), "%s%snir", nir, gap64);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 1);
	/* One byte more: too far, either side. */
	snprintf(text, sizeof(text), "nir%s%s", gap65, nir);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 0);
	snprintf(text, sizeof(text), "%s%snir", nir, gap65);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 0);
	/* Case: ASCII and Latin-1 letters fold; an unaccented spelling is another keyword. */
	snprintf(text, sizeof(text), "Nir=%s", nir);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 1);
	snprintf(text, sizeof(text),
		 "S\xc3\x89"
		 "CURIT\xc3\x89 SOCIALE : %s",
		 g);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 1);
	snprintf(text, sizeof(text),
		 "%s (num\xc3\xa9ro de s\xc3\xa9"
		 "cu)",
		 nir);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 1);
	snprintf(text, sizeof(text), "securite sociale : %s", nir);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 0);
	/* Other sensors do not care; iban has its own keyword and distance. */
	snprintf(text, sizeof(text),
		 "card 4111 1111 1111 1111, %s, iban FR7630006000011234567890189", nir);
	near_run(db, w, text, &ref);
	CU_ASSERT(seen_find(&ref, N_CARD, "4111 1111 1111 1111") >= 0);
	CU_ASSERT(seen_find(&ref, N_IBAN, "FR7630006000011234567890189") >= 0);
	CU_ASSERT_EQUAL(ref.n, 2);
	snprintf(text, sizeof(text), "IBAN of the account: FR7630006000011234567890189");
	near_run(db, w, text, &ref);
	CU_ASSERT_EQUAL(ref.n, 0);
	/* A keyword reaches every parked value of its sensor, up to SL_SCAN_PENDING of them;
	 * the oldest make room and are counted. */
	{
		char a[16], b[16], c[16], d[16], e[16];

		nir_make(a, "1850578006001");
		nir_make(b, "2850578006002");
		nir_make(c, "1850578006003");
		nir_make(d, "2850578006004");
		nir_make(e, "1850578006005");
		sl_scan_stats_get(w, &before);
		snprintf(text, sizeof(text), "%s %s %s %s %s nir", a, b, c, d, e);
		CU_ASSERT_EQUAL(near_run(db, w, text, &ref), SL_SCAN_PENDING);
		CU_ASSERT_EQUAL(seen_find(&ref, N_NIR, a), -1);
		CU_ASSERT(seen_find(&ref, N_NIR, e) >= 0);
		sl_scan_stats_get(w, &after);
		CU_ASSERT(after.pending_overflow > before.pending_overflow);
	}
	/* Far apart in a long stream: the value stays reachable only within its window. */
	memset(text, 'z', 600);
	snprintf(text + 600, sizeof(text) - 600, " %s--%snir", nir, gap64 + 2);
	CU_ASSERT_EQUAL(near_run(db, w, text, &ref), 1);
	CU_ASSERT_EQUAL(ref.m[0].offset, 601);
	CU_ASSERT_STRING_EQUAL(ref.m[0].value, nir);

	sl_scan_stats_get(w, &after);
	CU_ASSERT_EQUAL(after.candidates,
			after.matches + after.validator_rejects + after.near_rejects);
	sl_scan_worker_free(w);
	sl_scan_db_free(db);
}

/* A grouped value followed by its separator and another group (digits; letters too when its
 * own groups hold letters) is the head of a longer token: not reported, whatever the
 * segmentation; at the end of the stream or before other bytes, it is. */
static void
test_right_boundary(void)
{
	struct sl_scan_db *db = default_db();
	struct sl_scan_worker *w = sl_scan_worker_create(db, 4, NULL, 0);
	struct sl_scan_stats st;
	struct seen ref;
	char nir[16], g[22], text[256];

	CU_ASSERT_FATAL(w != NULL);
	nir_make(nir, "1850578006084");
	nir_group(g, nir, ' ');
	snprintf(text, sizeof(text), "id 4111 1111 1111 1111 123 / nir %s 12 / 536-22-8411-77", g);
	near_run(db, w, text, &ref);
	CU_ASSERT_EQUAL(ref.n, 0);
	snprintf(text, sizeof(text), "4111 1111 1111 1111 / %s. 536-22-8411 / 4222 2222 2222 2", g);
	near_run(db, w, text, &ref);
	CU_ASSERT_EQUAL(ref.n, 4);
	CU_ASSERT(seen_find(&ref, S_CARD, "4111 1111 1111 1111") >= 0);
	CU_ASSERT(seen_find(&ref, S_CARD, "4222 2222 2222 2") >= 0); /* at the stream's end */
	CU_ASSERT(seen_find(&ref, S_NIR, g) >= 0);
	CU_ASSERT(seen_find(&ref, S_SSN, "536-22-8411") >= 0);
	/* A separator then a non-alphanumeric byte ends the value too. */
	run_stream(db, w, SL_SCAN_CTX_RAW, "4111-1111-1111-1111-\n", 20, 0, &ref);
	CU_ASSERT_EQUAL(ref.n, 1);
	/* Groups of digits do not go on with a word: "nir <groups> ssn ..." ends before " ssn",
	 * whatever the segmentation (the next two bytes may come in the next feed). */
	snprintf(text, sizeof(text), "nir %s ssn 536-22-8411 card 4111 1111 1111 1111 ok", g);
	for (size_t seg = 1; seg <= strlen(text); seg += 7) {
		run_stream(db, w, SL_SCAN_CTX_RAW, text, seg, 0, &ref);
		CU_ASSERT_EQUAL(ref.n, 3);
		CU_ASSERT(seen_find(&ref, S_NIR, g) >= 0);
		CU_ASSERT(seen_find(&ref, S_CARD, "4111 1111 1111 1111") >= 0);
	}
	sl_scan_stats_get(w, &st);
	CU_ASSERT_EQUAL(st.candidates, st.matches + st.validator_rejects);
	sl_scan_worker_free(w);
	sl_scan_db_free(db);
}

/* Standard base64 of s (padded), NUL-terminated. */
static void
b64enc(const char *s, char *out)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(uint8_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (uint8_t)s[i + 2];
		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
		out[o++] = i + 1 < n ? al[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? al[v & 63] : '=';
	}
	out[o] = '\0';
}

/* Values a sender base64-encoded without saying so (a JSON field, a URL parameter, a raw C2
 * line) are found: at every alignment of the digits in the base64 quanta, padded or not, the
 * text ended by a quote or by the end of the stream, once, at every split, at the offset where
 * the decoded run starts. Digits of a longer run, and base64 of other text, raise nothing. */
static void
test_base64_runs(void)
{
	struct sl_scan_db *db = default_db();
	struct sl_scan_worker *w = sl_scan_worker_create(db, 4, NULL, 0);
	static const char *const lead[] = {"", "=", "#:", "nir=", "id: x="};
	static const char *const tail[] = {"", ";", " ok", "\n"};
	char nir[16], plain[96], enc[160], text[256];
	struct seen ref;
	struct sl_scan_stats st;

	CU_ASSERT_FATAL(w != NULL);
	nir_make(nir, "2850578006084");
	for (size_t i = 0; i < sizeof(lead) / sizeof(lead[0]); i++) {
		for (size_t j = 0; j < sizeof(tail) / sizeof(tail[0]); j++) {
			snprintf(plain, sizeof(plain), "%s%s%s", lead[i], nir, tail[j]);
			b64enc(plain, enc);
			for (int eos = 0; eos < 2; eos++) {
				snprintf(text, sizeof(text),
					 eos ? "{\"d\":\"x\",\"p\":\"%s"
					     : "{\"d\":\"x\",\"p\":\"%s\"}",
					 enc);
				near_run(db, w, text, &ref);
				if (ref.n != 1 || seen_find(&ref, S_NIR, nir) != 0)
					fprintf(stderr, "\nbase64 run missed: %s (%s)\n", text,
						plain);
				CU_ASSERT_EQUAL(ref.n, 1);
				CU_ASSERT_EQUAL(seen_find(&ref, S_NIR, nir), 0);
				/* where the run's first quantum is, in the 14 + strlen(enc) */
				CU_ASSERT(ref.m[0].offset >= 14 &&
					  ref.m[0].offset < 14 + strlen(enc));
			}
		}
	}
	/* a card, in a URL parameter, base64 without padding */
	b64enc("pan=4111111111111111&exp=1229", enc);
	snprintf(text, sizeof(text), "GET /t?q=%.*s HTTP/1.1", (int)strcspn(enc, "="), enc);
	near_run(db, w, text, &ref);
	CU_ASSERT_EQUAL(ref.n, 1);
	CU_ASSERT(seen_find(&ref, S_CARD, "4111111111111111") >= 0);
	/* the NIR's digits inside longer runs, and plain words, raise nothing */
	snprintf(plain, sizeof(plain), "%s123", nir);
	b64enc(plain, enc);
	near_run(db, w, enc, &ref);
	CU_ASSERT_EQUAL(ref.n, 0);
	snprintf(plain, sizeof(plain), "99%s", nir);
	b64enc(plain, enc);
	near_run(db, w, enc, &ref);
	CU_ASSERT_EQUAL(ref.n, 0);
	b64enc("The quick brown fox jumps over the lazy dog 12 times.", enc);
	near_run(db, w, enc, &ref);
	CU_ASSERT_EQUAL(ref.n, 0);
	sl_scan_stats_get(w, &st);
	CU_ASSERT(st.b64_runs > 0);
	sl_scan_worker_free(w);
	sl_scan_db_free(db);
}

static void
test_near_build(void)
{
	struct sl_sensor_def d[SL_SCAN_NEAR_SENSORS + 1];
	struct sl_scan_db *db;
	char err[256], kw[SL_SCAN_NEAR_LEN + 2];

	for (unsigned i = 0; i <= SL_SCAN_NEAR_SENSORS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "s%u", i);
		def_init(&d[i], name, "ssn", sl_scan_default_pattern("ssn", 0));
		d[i].near[0] = "ssn";
		d[i].n_near = 1;
	}
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, SL_SCAN_NEAR_SENSORS + 1, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sensors may have keywords"));
	db = sl_scan_db_build(d, SL_SCAN_NEAR_SENSORS, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(db);
	sl_scan_db_free(db);

	d[0].within = SL_SCAN_NEAR_MAX_WITHIN + 1;
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 1, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sensor 's0': within"));
	d[0].within = SL_SCAN_NEAR_MAX_WITHIN;
	memset(kw, 'k', sizeof(kw));
	kw[SL_SCAN_NEAR_LEN] = '\0';
	d[0].near[1] = kw;
	d[0].n_near = 2;
	db = sl_scan_db_build(d, 1, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(db); /* the longest keyword and within fit a bounded value */
	sl_scan_db_free(db);
	kw[SL_SCAN_NEAR_LEN] = 'k';
	kw[SL_SCAN_NEAR_LEN + 1] = '\0';
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 1, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sensor 's0' keyword 2"));
	d[0].near[1] = "";
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 1, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "keyword 2"));
	d[0].n_near = SL_SCAN_MAX_NEAR + 1;
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 1, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "keywords"));

	/* An unbounded regex-only value leaves no room in the tail for a keyword after it. */
	def_init(&d[0], "free", "", "secret:\\w+");
	d[0].near[0] = "x";
	d[0].n_near = 1;
	CU_ASSERT_PTR_NULL(sl_scan_db_build(d, 1, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sensor 'free': value window"));

	/* Keywords are copied: the caller's strings may go once build returns; metacharacters are
	 * literal. */
	snprintf(kw, sizeof(kw), "s.s(n");
	def_init(&d[0], "copy", "ssn", sl_scan_default_pattern("ssn", 0));
	d[0].near[0] = kw;
	d[0].n_near = 1;
	db = sl_scan_db_build(d, 1, err, sizeof(err));
	CU_ASSERT_FATAL(db != NULL);
	memset(kw, 'x', 5);
	CU_ASSERT_STRING_EQUAL(sl_scan_db_sensor(db, 0)->near[0], "s.s(n");
	{
		struct sl_scan_worker *w = sl_scan_worker_create(db, 2, NULL, 0);
		struct seen got;

		CU_ASSERT_FATAL(w != NULL);
		run_stream(db, w, SL_SCAN_CTX_RAW, "S.S(N 536-22-8411", 0, 3, &got);
		CU_ASSERT_EQUAL(got.n, 1);
		run_stream(db, w, SL_SCAN_CTX_RAW, "sxs(n 536-22-8411", 0, 3, &got);
		CU_ASSERT_EQUAL(got.n, 0);
		sl_scan_worker_free(w);
	}
	sl_scan_db_free(db);
}

/* A keyword seen before a ruleset switch still counts for a value after it; a value parked at
 * the switch is dropped. */
static void
test_near_migrate(void)
{
	struct sl_scan_db *db1 = near_db(), *db2 = near_db();
	struct sl_scan_worker *w1 = sl_scan_worker_create(db1, 2, NULL, 0);
	struct sl_scan_worker *w2 = sl_scan_worker_create(db2, 2, NULL, 0);
	struct sl_scan_stream s;
	struct sl_scan_stats st;
	struct seen got;
	char nir[16], text[64];

	CU_ASSERT_FATAL(w1 != NULL && w2 != NULL);
	nir_make(nir, "2850578006084");
	memset(&s, 0, sizeof(s));
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL_FATAL(sl_scan_stream_open(db1, w1, &s, SL_SCAN_CTX_RAW), 0);
	sl_scan_stream_feed(db1, w1, &s, (const uint8_t *)"nir: ", 5, collect, &got);
	CU_ASSERT_EQUAL(sl_scan_stream_migrate(db1, w1, db2, w2, &s), 0);
	snprintf(text, sizeof(text), "%s; %s", nir, nir);
	sl_scan_stream_feed(db2, w2, &s, (const uint8_t *)text, 15, collect, &got);
	sl_scan_stream_feed(db2, w2, &s, (const uint8_t *)text + 15, strlen(text) - 15, collect,
			    &got);
	CU_ASSERT_EQUAL(got.n, 1); /* the second one ends at the stream end: found at close */
	sl_scan_stream_close(db2, w2, &s, collect, &got);
	CU_ASSERT_EQUAL(got.n, 2);
	CU_ASSERT_EQUAL(got.m[0].offset, 5);

	memset(&s, 0, sizeof(s));
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL_FATAL(sl_scan_stream_open(db1, w1, &s, SL_SCAN_CTX_RAW), 0);
	snprintf(text, sizeof(text), "%s ", nir);
	sl_scan_stream_feed(db1, w1, &s, (const uint8_t *)text, strlen(text), collect, &got);
	CU_ASSERT_EQUAL(s.n_pending, 1);
	CU_ASSERT_EQUAL(sl_scan_stream_migrate(db1, w1, db2, w2, &s), 0);
	CU_ASSERT_EQUAL(s.n_pending, 0);
	sl_scan_stream_feed(db2, w2, &s, (const uint8_t *)"nir", 3, collect, &got);
	sl_scan_stream_close(db2, w2, &s, collect, &got);
	CU_ASSERT_EQUAL(got.n, 0);
	sl_scan_stats_get(w1, &st);
	CU_ASSERT_EQUAL(st.near_rejects, 1);
	sl_scan_worker_free(w1);
	sl_scan_worker_free(w2);
	sl_scan_db_free(db1);
	sl_scan_db_free(db2);
}

int
main(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
	    {"nir", test_nir},
	    {"luhn", test_luhn},
	    {"ssn", test_ssn},
	    {"iban", test_iban},
	    {"build_errors", test_build_errors},
	    {"default_patterns", test_default_patterns},
	    {"stream_split", test_stream_split},
	    {"no_slices", test_no_slices},
	    {"context", test_context},
	    {"block_and_close", test_block_and_close},
	    {"mask", test_mask},
	    {"many_streams", test_many_streams},
	    {"defs_copied", test_defs_copied},
	    {"page_end", test_page_end},
	    {"migrate", test_migrate},
	    {"near", test_near},
	    {"near_build", test_near_build},
	    {"right_boundary", test_right_boundary},
	    {"near_migrate", test_near_migrate},
	    {"base64_runs", test_base64_runs},
	};
	CU_pSuite suite;
	int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("scan", NULL, NULL);
	if (!suite)
		goto fail;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (!CU_add_test(suite, tests[i].name, tests[i].fn))
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() != 0;
	CU_cleanup_registry();
	return failed;
fail:
	CU_cleanup_registry();
	return 1;
}
