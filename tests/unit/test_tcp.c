/* Unit tests for sl_tcp: reassembly order, overlap policy (first copy wins), caps and their
 * policies, FIN, flush/release, sequence wrap-around and reference accounting.
 *
 * Packet references are fake: each is a struct fake_ref counting its own holds and releases, and
 * global totals let every test assert that each hold was matched by a release. Delivered bytes
 * are appended to a sink; a gap appears as GAP_BYTE repeated for its length (small gaps only) and
 * is also counted, so expected streams can be written as strings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "sl_tcp.h"

#define FIN 0x01 /* SL_PKT_TCP_FIN */
#define SYN 0x02 /* SL_PKT_TCP_SYN */

#define GAP_BYTE  '#'
#define SINK_SIZE (256 * 1024)
#define BIG_CAP	  (1ull << 40)

struct fake_ref {
	int holds;
	int releases;
};

static long g_holds, g_releases;

static void
fake_hold(void *ref)
{
	struct fake_ref *r = ref;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	r->holds++;
	g_holds++;
}

static void
fake_release(void *ref)
{
	struct fake_ref *r = ref;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	r->releases++;
	g_releases++;
	/* A ref is never released more often than it was held. */
	CU_ASSERT(r->releases <= r->holds);
}

struct sink {
	uint8_t buf[SINK_SIZE];
	size_t len;
	unsigned calls;
	unsigned ngaps;
	uint64_t gap_bytes;
	const uint8_t *last_ptr;
	uint32_t last_len;
};

static struct sink g_sink;

static void
deliver(void *ctx, const uint8_t *data, uint32_t len)
{
	struct sink *s = ctx;

	CU_ASSERT(len > 0);
	s->calls++;
	s->last_ptr = data;
	s->last_len = len;
	if (data == NULL) {
		s->ngaps++;
		s->gap_bytes += len;
		if (len > 4096)
			return;
	}
	CU_ASSERT_FATAL(s->len + len <= SINK_SIZE);
	if (data == NULL)
		memset(s->buf + s->len, GAP_BYTE, len);
	else
		memcpy(s->buf + s->len, data, len);
	s->len += len;
}

static struct sl_tcp_pool *
mkpool(uint32_t max_segments, uint64_t cap_dir, uint64_t cap_worker, enum sl_tcp_cap_policy pol)
{
	struct sl_tcp_pool_params p = {
	    .max_segments = max_segments,
	    .cap_per_dir = cap_dir,
	    .cap_per_worker = cap_worker,
	    .cap_policy = pol,
	    .ops = {.hold = fake_hold, .release = fake_release},
	};

	return sl_tcp_pool_create(&p);
}

static struct sl_tcp_pool *
default_pool(void)
{
	return mkpool(1024, BIG_CAP, BIG_CAP, SL_TCP_CAP_INSPECT);
}

static void
reset(void)
{
	memset(&g_sink, 0, sizeof(g_sink));
	g_holds = 0;
	g_releases = 0;
}

static struct sl_tcp_stats
stats(const struct sl_tcp_pool *pool)
{
	struct sl_tcp_stats st;

	sl_tcp_stats_get(pool, &st);
	return st;
}

/* Feeds str[off, off + len) of a stream whose first byte has sequence number base. */
static uint32_t
feed(struct sl_tcp_pool *pool, struct sl_tcp_dir *d, uint32_t base, const char *str, uint32_t off,
     uint32_t len, uint8_t flags, struct fake_ref *ref)
{
	return sl_tcp_segment(pool, d, base + off, flags, (const uint8_t *)str + off, len, ref,
			      deliver, &g_sink);
}

static void
assert_sink(const char *expect)
{
	size_t n = strlen(expect);

	CU_ASSERT_EQUAL(g_sink.len, n);
	if (g_sink.len != n || memcmp(g_sink.buf, expect, n) != 0) {
		CU_FAIL("delivered bytes differ");
		fprintf(stderr, "\n  sink: '%.*s'\n  want: '%s'\n", (int)g_sink.len, g_sink.buf,
			expect);
	}
}

/* End of every test: the direction is empty, the pool holds nothing, every hold was released. */
static void
finish(struct sl_tcp_pool *pool, struct sl_tcp_dir *d)
{
	if (d != NULL) {
		CU_ASSERT_EQUAL(d->held_head, 0);
		CU_ASSERT_EQUAL(d->held_bytes, 0);
	}
	CU_ASSERT_EQUAL(stats(pool).bytes_held, 0);
	CU_ASSERT_EQUAL(g_holds, g_releases);
	sl_tcp_pool_free(pool);
}

static void
test_pool_create(void)
{
	struct sl_tcp_pool_params p = {
	    .max_segments = 4,
	    .cap_per_dir = 10,
	    .cap_per_worker = 10,
	    .ops = {.hold = fake_hold, .release = fake_release},
	};
	struct sl_tcp_pool *pool;

	CU_ASSERT_PTR_NULL(sl_tcp_pool_create(NULL));
	p.ops.hold = NULL;
	CU_ASSERT_PTR_NULL(sl_tcp_pool_create(&p));
	p.ops.hold = fake_hold;
	p.cap_policy = (enum sl_tcp_cap_policy)7;
	CU_ASSERT_PTR_NULL(sl_tcp_pool_create(&p));
	p.cap_policy = SL_TCP_CAP_BYPASS;
	pool = sl_tcp_pool_create(&p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	sl_tcp_pool_free(pool);
	/* A pool without descriptors is legal: every hold attempt hits pool exhaustion. */
	p.max_segments = 0;
	pool = sl_tcp_pool_create(&p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	sl_tcp_pool_free(pool);
	sl_tcp_pool_free(NULL);
}

static void
test_in_order(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r[3] = {0};
	const char *s = "hello, world!";
	uint32_t base = 1000;

	reset();
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 0, 5, 0, &r[0]), 5);
	/* Zero copy: the callback sees the caller's own pointer. */
	CU_ASSERT_PTR_EQUAL(g_sink.last_ptr, (const uint8_t *)s);
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 5, 2, 0, &r[1]), 2);
	CU_ASSERT_PTR_EQUAL(g_sink.last_ptr, (const uint8_t *)s + 5);
	CU_ASSERT_EQUAL(g_sink.last_len, 2);
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 7, 6, 0, &r[2]), 6);
	assert_sink(s);
	CU_ASSERT_EQUAL(d.next_seq, base + 13);
	CU_ASSERT_EQUAL(g_sink.calls, 3);
	CU_ASSERT_EQUAL(stats(pool).segments, 3);
	CU_ASSERT_EQUAL(stats(pool).in_order, 3);
	CU_ASSERT_EQUAL(stats(pool).held, 0);
	/* Nothing in order is ever held. */
	CU_ASSERT_EQUAL(g_holds, 0);
	/* Empty segments (pure ACKs) change nothing. */
	CU_ASSERT_EQUAL(sl_tcp_segment(pool, &d, base + 13, 0, NULL, 0, NULL, deliver, &g_sink), 0);
	CU_ASSERT_EQUAL(g_sink.calls, 3);
	finish(pool, &d);
}

static void
test_syn_then_data(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};
	const char *s = "abcdef";
	uint32_t isn = 5000;

	reset();
	CU_ASSERT_EQUAL(sl_tcp_segment(pool, &d, isn, SYN, NULL, 0, NULL, deliver, &g_sink), 0);
	CU_ASSERT(d.synced);
	CU_ASSERT_EQUAL(d.next_seq, isn + 1);
	/* Data after the SYN, out of order first: must wait for the first bytes. */
	CU_ASSERT_EQUAL(feed(pool, &d, isn + 1, s, 3, 3, 0, &r), 3);
	CU_ASSERT_EQUAL(g_sink.len, 0);
	CU_ASSERT_EQUAL(feed(pool, &d, isn + 1, s, 0, 3, 0, &r), 3);
	assert_sink(s);
	/* A retransmitted SYN does not move next_seq back. */
	CU_ASSERT_EQUAL(sl_tcp_segment(pool, &d, isn, SYN, NULL, 0, NULL, deliver, &g_sink), 0);
	CU_ASSERT_EQUAL(d.next_seq, isn + 1 + 6);
	finish(pool, NULL);

	/* SYN carrying data: the data starts at seq + 1. */
	pool = default_pool();
	memset(&d, 0, sizeof(d));
	reset();
	CU_ASSERT_EQUAL(
	    sl_tcp_segment(pool, &d, isn, SYN, (const uint8_t *)s, 4, &r, deliver, &g_sink), 4);
	CU_ASSERT_EQUAL(d.next_seq, isn + 5);
	CU_ASSERT_EQUAL(feed(pool, &d, isn + 1, s, 4, 2, 0, &r), 2);
	assert_sink(s);
	finish(pool, &d);
}

static void
test_midstream_pickup(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};
	const char *s = "0123456789";
	uint32_t base = 777777;

	reset();
	/* No SYN: the first data segment defines the stream start. */
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 4, 3, 0, &r), 3);
	CU_ASSERT(d.synced);
	CU_ASSERT_EQUAL(d.next_seq, base + 7);
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 7, 3, 0, &r), 3);
	/* Bytes before the pickup point look like old data. */
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 0, 4, 0, &r), 0);
	CU_ASSERT_EQUAL(stats(pool).duplicates, 1);
	assert_sink("456789");
	finish(pool, &d);
}

static void
test_reverse_order(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r[26] = {{0}};
	const char *s = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	uint32_t base = 42;
	int i;

	reset();
	/* The SYN fixes the start so the out-of-order tail is held, not picked up. */
	sl_tcp_segment(pool, &d, base - 1, SYN, NULL, 0, NULL, deliver, &g_sink);
	for (i = 25; i >= 0; i--) {
		CU_ASSERT_EQUAL(feed(pool, &d, base, s, 2 * i, 2, 0, &r[i]), 2);
		if (i > 0) {
			CU_ASSERT_EQUAL(g_sink.len, 0);
			CU_ASSERT_EQUAL(d.held_bytes, 2 * (26 - i));
		}
	}
	assert_sink(s);
	CU_ASSERT_EQUAL(stats(pool).held, 25);
	CU_ASSERT_EQUAL(stats(pool).in_order, 1);
	for (i = 0; i < 26; i++)
		CU_ASSERT_EQUAL(r[i].holds, r[i].releases);
	CU_ASSERT_EQUAL(g_holds, 25);
	finish(pool, &d);
}

static void
test_one_byte_segments(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};
	char s[200];
	uint32_t base = 0xfffffff0u; /* crosses the wrap too */
	int i;

	for (i = 0; i < 200; i++)
		s[i] = (char)('a' + i % 26);
	reset();
	sl_tcp_segment(pool, &d, base - 1, SYN, NULL, 0, NULL, deliver, &g_sink);
	for (i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(feed(pool, &d, base, s, (uint32_t)i, 1, 0, &r), 1);
	for (i = 199; i >= 100; i--)
		CU_ASSERT_EQUAL(feed(pool, &d, base, s, (uint32_t)i, 1, 0, &r), 1);
	CU_ASSERT_EQUAL(g_sink.len, 200);
	CU_ASSERT(memcmp(g_sink.buf, s, 200) == 0);
	CU_ASSERT_EQUAL(r.holds, 99);
	CU_ASSERT_EQUAL(r.releases, 99);
	finish(pool, &d);
}

/* All 24 arrival orders of a 4-segment stream, with and without overlaps between segments. */
static void
test_permutations(void)
{
	static const int perms[24][4] = {
	    {0, 1, 2, 3}, {0, 1, 3, 2}, {0, 2, 1, 3}, {0, 2, 3, 1}, {0, 3, 1, 2}, {0, 3, 2, 1},
	    {1, 0, 2, 3}, {1, 0, 3, 2}, {1, 2, 0, 3}, {1, 2, 3, 0}, {1, 3, 0, 2}, {1, 3, 2, 0},
	    {2, 0, 1, 3}, {2, 0, 3, 1}, {2, 1, 0, 3}, {2, 1, 3, 0}, {2, 3, 0, 1}, {2, 3, 1, 0},
	    {3, 0, 1, 2}, {3, 0, 2, 1}, {3, 1, 0, 2}, {3, 1, 2, 0}, {3, 2, 0, 1}, {3, 2, 1, 0},
	};
	/* Disjoint segments, then overlapping ones (same bytes, so the result is fixed). */
	static const uint32_t segs[2][4][2] = {
	    {{0, 5}, {5, 7}, {12, 3}, {15, 9}},
	    {{0, 8}, {4, 10}, {10, 6}, {13, 11}},
	};
	const char *s = "The quick brown fox jump";
	struct fake_ref r[4];
	int k, p, j;

	for (k = 0; k < 2; k++) {
		for (p = 0; p < 24; p++) {
			struct sl_tcp_pool *pool = default_pool();
			struct sl_tcp_dir d = {0};
			uint32_t base = 0xfffffffau + (uint32_t)p;

			reset();
			memset(r, 0, sizeof(r));
			sl_tcp_segment(pool, &d, base - 1, SYN, NULL, 0, NULL, deliver, &g_sink);
			for (j = 0; j < 4; j++) {
				const uint32_t *sg = segs[k][perms[p][j]];

				feed(pool, &d, base, s, sg[0], sg[1], 0, &r[perms[p][j]]);
			}
			assert_sink(s);
			CU_ASSERT_EQUAL(stats(pool).gaps, 0);
			for (j = 0; j < 4; j++)
				CU_ASSERT_EQUAL(r[j].holds, r[j].releases);
			finish(pool, &d);
		}
	}
}

static void
test_duplicates(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};
	const char *s = "0123456789abcdef";

	reset();
	feed(pool, &d, 100, s, 0, 4, 0, &r);
	/* Delivered data again: ignored. */
	CU_ASSERT_EQUAL(feed(pool, &d, 100, s, 0, 4, 0, &r), 0);
	CU_ASSERT_EQUAL(feed(pool, &d, 100, s, 1, 2, 0, &r), 0);
	CU_ASSERT_EQUAL(stats(pool).duplicates, 2);
	/* Held data again: ignored, no second hold. */
	CU_ASSERT_EQUAL(feed(pool, &d, 100, s, 8, 4, 0, &r), 4);
	CU_ASSERT_EQUAL(feed(pool, &d, 100, s, 8, 4, 0, &r), 0);
	CU_ASSERT_EQUAL(feed(pool, &d, 100, s, 9, 2, 0, &r), 0);
	CU_ASSERT_EQUAL(stats(pool).duplicates, 4);
	CU_ASSERT_EQUAL(r.holds, 1);
	CU_ASSERT_EQUAL(d.held_bytes, 4);
	/* Partial overlap with delivered data: the front is trimmed. */
	CU_ASSERT_EQUAL(feed(pool, &d, 100, s, 2, 6, 0, &r), 4);
	CU_ASSERT_EQUAL(stats(pool).overlaps, 1);
	feed(pool, &d, 100, s, 12, 4, 0, &r);
	assert_sink(s);
	finish(pool, &d);
}

/* Retransmissions with different bytes: the first copy wins, delivered or held. */
static void
test_first_copy_wins(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};

	reset();
	/* Delivered "AAAA" at 0, then "BBBBBB" at 0: only the two new bytes go through. */
	CU_ASSERT_EQUAL(feed(pool, &d, 0, "AAAA", 0, 4, 0, &r), 4);
	CU_ASSERT_EQUAL(feed(pool, &d, 0, "BBBBBB", 0, 6, 0, &r), 2);
	assert_sink("AAAABB");
	/* Held "XXXX" at 10, then "YYYYYYYY" at 10: the Xs stay, the Ys extend. */
	CU_ASSERT_EQUAL(feed(pool, &d, 10, "XXXX", 0, 4, 0, &r), 4);
	CU_ASSERT_EQUAL(feed(pool, &d, 10, "YYYYYYYY", 0, 8, 0, &r), 4);
	/* In-order "ZZZZZZZZZZZZ" at 6 over the held bytes: Z up to 10, X, then Y. */
	CU_ASSERT_EQUAL(feed(pool, &d, 6, "ZZZZZZZZZZZZ", 0, 12, 0, &r), 4);
	assert_sink("AAAABBZZZZXXXXYYYY");
	CU_ASSERT_EQUAL(d.next_seq, 18);
	CU_ASSERT_EQUAL(stats(pool).overlaps, 3);
	finish(pool, &d);
}

static void
test_overlapping_held(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r[4] = {{0}};
	char want[64];

	reset();
	sl_tcp_segment(pool, &d, 99, SYN, NULL, 0, NULL, deliver, &g_sink);
	/* base 100; held [10,20)=H and [30,40)=I */
	CU_ASSERT_EQUAL(feed(pool, &d, 110, "HHHHHHHHHH", 0, 10, 0, &r[0]), 10);
	CU_ASSERT_EQUAL(feed(pool, &d, 130, "IIIIIIIIII", 0, 10, 0, &r[1]), 10);
	/* [5,45)=B bridges both: stored as [5,10), [20,30), [40,45), one hold each. */
	CU_ASSERT_EQUAL(
	    feed(pool, &d, 105, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", 0, 40, 0, &r[2]), 20);
	CU_ASSERT_EQUAL(r[2].holds, 3);
	CU_ASSERT_EQUAL(d.held_bytes, 40);
	CU_ASSERT_EQUAL(stats(pool).overlaps, 1);
	/* Fully covered by what is held: a duplicate. */
	CU_ASSERT_EQUAL(feed(pool, &d, 112, "QQQQQQQQQQQQQQQQQQQQ", 0, 20, 0, &r[3]), 0);
	CU_ASSERT_EQUAL(r[3].holds, 0);
	CU_ASSERT_EQUAL(g_sink.len, 0);
	/* [0,5) closes the hole and everything drains. */
	CU_ASSERT_EQUAL(feed(pool, &d, 100, "AAAAA", 0, 5, 0, &r[3]), 5);
	snprintf(want, sizeof(want), "AAAAABBBBBHHHHHHHHHHBBBBBBBBBBIIIIIIIIIIBBBBB");
	assert_sink(want);
	CU_ASSERT_EQUAL(d.next_seq, 145);
	CU_ASSERT_EQUAL(r[2].releases, 3);
	finish(pool, &d);
}

/* An in-order segment that runs over held data and past a hole fills the hole too. */
static void
test_in_order_over_held(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r[3] = {{0}};

	/* next_seq 1, held [5,9)=H and [15,19)=I, in-order [1,21)=N: N fills both holes. */
	reset();
	sl_tcp_segment(pool, &d, 0, SYN, NULL, 0, NULL, deliver, &g_sink);
	feed(pool, &d, 5, "HHHH", 0, 4, 0, &r[0]);
	feed(pool, &d, 15, "IIII", 0, 4, 0, &r[1]);
	CU_ASSERT_EQUAL(feed(pool, &d, 1, "NNNNNNNNNNNNNNNNNNNN", 0, 20, 0, &r[2]), 12);
	assert_sink("NNNNHHHHNNNNNNIIIINN");
	CU_ASSERT_EQUAL(d.next_seq, 21);
	CU_ASSERT_EQUAL(r[2].holds, 0);
	finish(pool, &d);
}

static void
test_wraparound(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};
	const char *s = "0123456789ABCDEFGHIJ";
	uint32_t base = 0xfffffff8u; /* byte 8 has sequence number 0 */

	reset();
	sl_tcp_segment(pool, &d, base - 1, SYN, NULL, 0, NULL, deliver, &g_sink);
	/* Held segments on both sides of the wrap, inserted out of order. */
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 12, 8, 0, &r), 8);
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 4, 6, 0, &r), 6);
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 6, 8, 0, &r), 2); /* bridges over the wrap */
	CU_ASSERT_EQUAL(g_sink.len, 0);
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 0, 5, 0, &r), 4);
	assert_sink(s);
	CU_ASSERT_EQUAL(d.next_seq, 12u);
	/* Old data from before the wrap is a duplicate, not data 4 GiB ahead. */
	CU_ASSERT_EQUAL(feed(pool, &d, base, s, 0, 8, 0, &r), 0);
	CU_ASSERT_EQUAL(stats(pool).duplicates, 1);
	finish(pool, &d);
}

static void
test_cap_inspect(void)
{
	struct sl_tcp_pool *pool = mkpool(64, 10, BIG_CAP, SL_TCP_CAP_INSPECT);
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};
	const char *s = "abcdefghijklmnopqrstuvwxyz";

	reset();
	sl_tcp_segment(pool, &d, 999, SYN, NULL, 0, NULL, deliver, &g_sink);
	CU_ASSERT_EQUAL(feed(pool, &d, 1000, s, 2, 3, 0, &r), 3); /* cde */
	CU_ASSERT_EQUAL(feed(pool, &d, 1000, s, 7, 5, 0, &r), 5); /* hijkl */
	CU_ASSERT_EQUAL(d.held_bytes, 8);
	/* 4 more bytes would exceed 10: held data goes out with gaps, then the new segment. */
	CU_ASSERT_EQUAL(feed(pool, &d, 1000, s, 15, 4, 0, &r), 4); /* pqrs */
	assert_sink("##cde##hijkl###pqrs");
	CU_ASSERT_EQUAL(stats(pool).flow_cap_hit, 1);
	CU_ASSERT_EQUAL(stats(pool).gaps, 3);
	CU_ASSERT_EQUAL(d.held_bytes, 0);
	CU_ASSERT_EQUAL(d.next_seq, 1019);
	CU_ASSERT_EQUAL(r.holds, r.releases);
	/* Inspection goes on in order afterwards. */
	CU_ASSERT_EQUAL(feed(pool, &d, 1000, s, 19, 7, 0, &r), 7);
	assert_sink("##cde##hijkl###pqrstuvwxyz");
	CU_ASSERT_EQUAL(stats(pool).in_order, 1);

	/* A new segment overlapping held data under INSPECT: held bytes still win. */
	CU_ASSERT_EQUAL(feed(pool, &d, 1030, "HHHHHHHH", 0, 8, 0, &r), 8);
	CU_ASSERT_EQUAL(feed(pool, &d, 1028, "NNNNNNNNNNNNNNNN", 0, 16, 0, &r), 8);
	assert_sink("##cde##hijkl###pqrstuvwxyz##NNHHHHHHHHNNNNNN");
	CU_ASSERT_EQUAL(d.next_seq, 1044);
	CU_ASSERT_EQUAL(stats(pool).flow_cap_hit, 2);
	finish(pool, &d);
}

static void
test_cap_bypass(void)
{
	struct sl_tcp_pool *pool = mkpool(64, 10, BIG_CAP, SL_TCP_CAP_BYPASS);
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};
	const char *s = "abcdefghijklmnopqrstuvwxyz";

	reset();
	feed(pool, &d, 1000, s, 0, 2, 0, &r);
	feed(pool, &d, 1000, s, 4, 6, 0, &r);
	CU_ASSERT_EQUAL(r.holds, 1);
	CU_ASSERT_FALSE(d.bypass);
	CU_ASSERT_EQUAL(feed(pool, &d, 1000, s, 12, 5, 0, &r), 0);
	CU_ASSERT_EQUAL(stats(pool).flow_cap_hit, 1);
	CU_ASSERT_EQUAL(stats(pool).bypassed, 1);
	CU_ASSERT(d.bypass);
	CU_ASSERT_EQUAL(d.held_head, 0);
	CU_ASSERT_EQUAL(r.releases, 1);
	/* Nothing more is delivered or held, not even the missing bytes. */
	CU_ASSERT_EQUAL(feed(pool, &d, 1000, s, 2, 2, 0, &r), 0);
	CU_ASSERT_EQUAL(feed(pool, &d, 1000, s, 20, 2, 0, &r), 0);
	assert_sink("ab");
	sl_tcp_flush(pool, &d, deliver, &g_sink);
	assert_sink("ab");
	finish(pool, &d);
}

static void
test_worker_cap(void)
{
	struct sl_tcp_pool *pool = mkpool(64, 100, 20, SL_TCP_CAP_INSPECT);
	struct sl_tcp_dir a = {0}, b = {0};
	struct fake_ref r = {0};
	const char *s = "abcdefghijklmnopqrstuvwxyz";

	reset();
	feed(pool, &a, 0, s, 0, 1, 0, &r);
	feed(pool, &b, 500, s, 0, 1, 0, &r);
	CU_ASSERT_EQUAL(feed(pool, &a, 0, s, 5, 15, 0, &r), 15);
	CU_ASSERT_EQUAL(stats(pool).bytes_held, 15);
	/* b's own cap is fine but the worker would hold 25 > 20. */
	CU_ASSERT_EQUAL(feed(pool, &b, 500, s, 3, 10, 0, &r), 10);
	CU_ASSERT_EQUAL(stats(pool).worker_cap_hit, 1);
	CU_ASSERT_EQUAL(stats(pool).flow_cap_hit, 0);
	CU_ASSERT_EQUAL(b.held_head, 0);
	CU_ASSERT_EQUAL(b.next_seq, 513);
	/* a keeps what it held. */
	CU_ASSERT_EQUAL(a.held_bytes, 15);
	CU_ASSERT_EQUAL(stats(pool).bytes_held, 15);
	assert_sink("aa##defghijklm");
	sl_tcp_release(pool, &a);
	CU_ASSERT_EQUAL(a.held_head, 0);
	CU_ASSERT_EQUAL(a.held_bytes, 0);
	assert_sink("aa##defghijklm");
	finish(pool, &b);
}

static void
test_pool_exhausted(void)
{
	struct sl_tcp_pool *pool = mkpool(2, BIG_CAP, BIG_CAP, SL_TCP_CAP_INSPECT);
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};
	const char *s = "abcdefghijklmnopqrstuvwxyz";

	reset();
	feed(pool, &d, 0, s, 0, 1, 0, &r);
	feed(pool, &d, 0, s, 2, 2, 0, &r);
	feed(pool, &d, 0, s, 6, 2, 0, &r);
	CU_ASSERT_EQUAL(r.holds, 2);
	/* Needs a third descriptor. */
	CU_ASSERT_EQUAL(feed(pool, &d, 0, s, 10, 2, 0, &r), 2);
	CU_ASSERT_EQUAL(stats(pool).pool_exhausted, 1);
	assert_sink("a#cd##gh##kl");
	CU_ASSERT_EQUAL(d.held_head, 0);
	/* All or nothing: a bridging segment needing 3 pieces with 2 free is not half stored. */
	feed(pool, &d, 0, s, 14, 1, 0, &r);
	feed(pool, &d, 0, s, 16, 1, 0, &r);
	CU_ASSERT_EQUAL(feed(pool, &d, 0, s, 13, 5, 0, &r), 3);
	CU_ASSERT_EQUAL(stats(pool).pool_exhausted, 2);
	assert_sink("a#cd##gh##kl#nopqr");
	finish(pool, &d);

	/* With BYPASS the direction stops. */
	pool = mkpool(1, BIG_CAP, BIG_CAP, SL_TCP_CAP_BYPASS);
	memset(&d, 0, sizeof(d));
	memset(&r, 0, sizeof(r));
	reset();
	feed(pool, &d, 0, s, 0, 1, 0, &r);
	feed(pool, &d, 0, s, 2, 1, 0, &r);
	CU_ASSERT_EQUAL(feed(pool, &d, 0, s, 4, 1, 0, &r), 0);
	CU_ASSERT(d.bypass);
	CU_ASSERT_EQUAL(stats(pool).pool_exhausted, 1);
	CU_ASSERT_EQUAL(stats(pool).bypassed, 1);
	finish(pool, &d);
}

static void
test_fin(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};
	const char *s = "abcdefghijklmnopqrstuvwxyz";

	reset();
	feed(pool, &d, 0, s, 0, 4, 0, &r);
	/* FIN with data, out of order: the data before the FIN is still held and delivered. */
	CU_ASSERT_EQUAL(feed(pool, &d, 0, s, 6, 4, FIN, &r), 4);
	CU_ASSERT(d.fin);
	CU_ASSERT_EQUAL(d.fin_seq, 10);
	/* Beyond the FIN: ignored. Straddling it: clipped. */
	CU_ASSERT_EQUAL(feed(pool, &d, 0, s, 10, 4, 0, &r), 0);
	CU_ASSERT_EQUAL(feed(pool, &d, 0, s, 12, 4, 0, &r), 0);
	CU_ASSERT_EQUAL(feed(pool, &d, 0, s, 4, 8, 0, &r), 2);
	CU_ASSERT_EQUAL(stats(pool).after_fin, 3);
	assert_sink("abcdefghij");
	/* A second, different FIN is not believed. */
	CU_ASSERT_EQUAL(feed(pool, &d, 0, s, 10, 6, FIN, &r), 0);
	CU_ASSERT_EQUAL(d.fin_seq, 10);
	assert_sink("abcdefghij");
	finish(pool, &d);

	/* A FIN (no data) arriving before held data beyond it: that data is dropped. */
	pool = default_pool();
	memset(&d, 0, sizeof(d));
	memset(&r, 0, sizeof(r));
	reset();
	feed(pool, &d, 0, s, 0, 2, 0, &r);
	feed(pool, &d, 0, s, 4, 4, 0, &r);
	feed(pool, &d, 0, s, 10, 4, 0, &r);
	CU_ASSERT_EQUAL(d.held_bytes, 8);
	sl_tcp_segment(pool, &d, 6, FIN, NULL, 0, NULL, deliver, &g_sink);
	CU_ASSERT_EQUAL(d.held_bytes, 2);
	CU_ASSERT_EQUAL(r.releases, 1);
	CU_ASSERT_EQUAL(stats(pool).after_fin, 1);
	feed(pool, &d, 0, s, 2, 2, 0, &r);
	assert_sink("abcdef");
	CU_ASSERT_EQUAL(d.next_seq, 6);
	finish(pool, &d);
}

static void
test_flush_and_release(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r[3] = {{0}};
	const char *s = "abcdefghijklmnopqrstuvwxyz";

	reset();
	feed(pool, &d, 0, s, 0, 2, 0, &r[0]);
	feed(pool, &d, 0, s, 5, 3, 0, &r[1]);
	feed(pool, &d, 0, s, 10, 5, 0, &r[2]);
	feed(pool, &d, 0, s, 15, 1, 0, &r[2]);
	sl_tcp_flush(pool, &d, deliver, &g_sink);
	assert_sink("ab###fgh##klmnop");
	CU_ASSERT_EQUAL(g_sink.ngaps, 2);
	CU_ASSERT_EQUAL(stats(pool).gaps, 2);
	CU_ASSERT_EQUAL(d.held_head, 0);
	CU_ASSERT_EQUAL(d.held_bytes, 0);
	CU_ASSERT_EQUAL(d.next_seq, 16);
	/* Flushing an empty direction delivers nothing. */
	sl_tcp_flush(pool, &d, deliver, &g_sink);
	CU_ASSERT_EQUAL(g_sink.ngaps, 2);
	finish(pool, &d);

	/* Release: nothing delivered, every ref dropped. */
	pool = default_pool();
	memset(&d, 0, sizeof(d));
	memset(r, 0, sizeof(r));
	reset();
	feed(pool, &d, 0, s, 0, 2, 0, &r[0]);
	feed(pool, &d, 0, s, 5, 3, 0, &r[1]);
	feed(pool, &d, 0, s, 10, 5, 0, &r[2]);
	sl_tcp_release(pool, &d);
	assert_sink("ab");
	CU_ASSERT_EQUAL(r[1].releases, 1);
	CU_ASSERT_EQUAL(r[2].releases, 1);
	/* Descriptors came back: the pool is reusable. */
	feed(pool, &d, 0, s, 20, 2, 0, &r[0]);
	CU_ASSERT_EQUAL(d.held_bytes, 2);
	sl_tcp_release(pool, &d);
	finish(pool, &d);
}

static void
test_out_of_window(void)
{
	struct sl_tcp_pool *pool = default_pool();
	struct sl_tcp_dir d = {0};
	struct fake_ref r = {0};
	const char *s = "abcdefgh";

	reset();
	feed(pool, &d, 100, s, 0, 2, 0, &r);
	/* 1.5 GiB ahead: no receiver accepts it; dropped, not held, no skip ahead. */
	CU_ASSERT_EQUAL(sl_tcp_segment(pool, &d, 102 + 0x60000000u, 0, (const uint8_t *)s, 4, &r,
				       deliver, &g_sink),
			0);
	CU_ASSERT_EQUAL(stats(pool).out_of_window, 1);
	CU_ASSERT_EQUAL(d.held_head, 0);
	/* 3 GiB "ahead" is 1 GiB behind: an old duplicate. */
	CU_ASSERT_EQUAL(sl_tcp_segment(pool, &d, 102 + 0xc0000000u, 0, (const uint8_t *)s, 4, &r,
				       deliver, &g_sink),
			0);
	CU_ASSERT_EQUAL(stats(pool).duplicates, 1);
	/* Just inside the window: held. */
	CU_ASSERT_EQUAL(sl_tcp_segment(pool, &d, 102 + 0x40000000u, 0, (const uint8_t *)s, 4, &r,
				       deliver, &g_sink),
			4);
	feed(pool, &d, 100, s, 2, 6, 0, &r);
	assert_sink(s);
	sl_tcp_flush(pool, &d, deliver, &g_sink);
	CU_ASSERT_EQUAL(g_sink.ngaps, 1);
	CU_ASSERT_EQUAL(g_sink.gap_bytes, 0x40000000u - 6);
	CU_ASSERT_EQUAL(d.next_seq, 106 + 0x40000000u);
	finish(pool, &d);
}

/* xorshift32: deterministic across platforms, unlike rand(). */
static uint32_t g_rng;

static uint32_t
rnd(uint32_t n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 17;
	g_rng ^= g_rng << 5;
	return g_rng % n;
}

#define RND_STREAM (64 * 1024)
#define RND_MAXSEG 4096

struct rseg {
	uint32_t off;
	uint32_t len;
};

/* Random segmentation of a 64 KiB stream, reordering within a window, duplicates and
 * re-segmented retransmissions (same bytes): the output must be the stream, byte for byte. */
static void
test_randomized(void)
{
	static uint8_t stream[RND_STREAM];
	static struct rseg segs[RND_MAXSEG * 2];
	static struct fake_ref refs[RND_MAXSEG * 2];
	struct sl_tcp_stats st, total = {0};
	int round;
	uint32_t i;

	g_rng = 0x5eed1234u;
	for (i = 0; i < RND_STREAM; i++)
		stream[i] = (uint8_t)rnd(256);

	for (round = 0; round < 20; round++) {
		struct sl_tcp_pool *pool = default_pool();
		struct sl_tcp_dir d = {0};
		uint32_t n = 0, off = 0, base = rnd(0xffffffffu);
		uint32_t window = 1 + rnd(32);

		/* Some rounds start right below the wrap. */
		if (round % 4 == 0)
			base = 0xffffffffu - rnd(RND_STREAM);
		reset();
		memset(refs, 0, sizeof(refs));
		while (off < RND_STREAM) {
			uint32_t len = 1 + rnd(round % 2 ? 1460 : 64);

			if (len > RND_STREAM - off)
				len = RND_STREAM - off;
			segs[n].off = off;
			segs[n].len = len;
			n++;
			/* Duplicate, sometimes shifted and resized (a retransmission). */
			if (rnd(8) == 0) {
				uint32_t o = off - (off >= 100 ? rnd(100) : 0);
				uint32_t l = 1 + rnd(len + 100);

				if (o + l > RND_STREAM)
					l = RND_STREAM - o;
				segs[n].off = o;
				segs[n].len = l;
				n++;
			}
			off += len;
		}
		CU_ASSERT_FATAL(n <= RND_MAXSEG * 2);
		/* Reorder within a window: each segment moves at most `window` places. */
		for (i = 0; i + 1 < n; i++) {
			uint32_t j = i + rnd(window < n - i ? window : n - i);
			struct rseg t = segs[i];

			segs[i] = segs[j];
			segs[j] = t;
		}
		sl_tcp_segment(pool, &d, base - 1, SYN, NULL, 0, NULL, deliver, &g_sink);
		for (i = 0; i < n; i++)
			sl_tcp_segment(pool, &d, base + segs[i].off, 0, stream + segs[i].off,
				       segs[i].len, &refs[i], deliver, &g_sink);
		CU_ASSERT_EQUAL(d.held_head, 0);
		CU_ASSERT_EQUAL(g_sink.len, RND_STREAM);
		CU_ASSERT_EQUAL(g_sink.ngaps, 0);
		CU_ASSERT(g_sink.len == RND_STREAM && memcmp(g_sink.buf, stream, RND_STREAM) == 0);
		CU_ASSERT_EQUAL(d.next_seq, base + RND_STREAM);
		for (i = 0; i < n; i++)
			CU_ASSERT_EQUAL(refs[i].holds, refs[i].releases);
		/* The run must actually have exercised holding, duplicates and overlaps. */
		st = stats(pool);
		CU_ASSERT(window < 2 || st.held > 0);
		total.held += st.held;
		total.duplicates += st.duplicates;
		total.overlaps += st.overlaps;
		finish(pool, &d);
	}
	CU_ASSERT(total.held > 1000);
	CU_ASSERT(total.duplicates > 100);
	CU_ASSERT(total.overlaps > 100);
}

int
main(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
	    {"pool_create", test_pool_create},
	    {"in_order_zero_copy", test_in_order},
	    {"syn_then_data", test_syn_then_data},
	    {"midstream_pickup", test_midstream_pickup},
	    {"reverse_order", test_reverse_order},
	    {"one_byte_segments", test_one_byte_segments},
	    {"permutations_4", test_permutations},
	    {"duplicates", test_duplicates},
	    {"first_copy_wins", test_first_copy_wins},
	    {"overlapping_held_bridge", test_overlapping_held},
	    {"in_order_over_held", test_in_order_over_held},
	    {"wraparound", test_wraparound},
	    {"cap_inspect", test_cap_inspect},
	    {"cap_bypass", test_cap_bypass},
	    {"worker_cap", test_worker_cap},
	    {"pool_exhausted", test_pool_exhausted},
	    {"fin", test_fin},
	    {"flush_and_release", test_flush_and_release},
	    {"out_of_window", test_out_of_window},
	    {"randomized_64k", test_randomized},
	};
	CU_pSuite suite;
	size_t i;
	int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("sl_tcp", NULL, NULL);
	if (suite == NULL)
		goto fail;
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
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
