/* Unit tests of sl_frag (and sl_pkt_fragment): a whole TCP datagram is built, cut into
 * fragments the way a sender would, the fragments are fed in many orders, with duplicates and
 * conflicting overlaps, and what comes back must be the original frame byte for byte. Random
 * orders use a fixed seed: deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "sl_frag.h"
#include "sl_pkt.h"

#define FRAME_MAX 4096
#define NFRAG_MAX 200
#define SEC	  1000000000ull

struct frame {
	uint8_t d[FRAME_MAX];
	size_t n;
};

static uint16_t
csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet (with vlan 802.1Q tags when vlan != 0), IPv4 or IPv6, TCP, then paylen payload bytes
 * (a counter pattern, so misplaced bytes show). Returns the L3 offset. */
static size_t
build(struct frame *f, int ipver, uint16_t vlan, size_t paylen)
{
	uint8_t *d = f->d;
	size_t l3, l4, n = 12;

	memset(f, 0, sizeof(*f));
	memcpy(d, "\x02\0\0\0\0\x01\x02\0\0\0\0\x02", 12);
	if (vlan) {
		put16(d + n, 0x8100);
		put16(d + n + 2, vlan);
		n += 4;
	}
	put16(d + n, ipver == 4 ? 0x0800 : 0x86dd);
	l3 = n + 2;
	if (ipver == 4) {
		d[l3] = 0x45;
		put16(d + l3 + 2, 20 + 20 + (unsigned)paylen);
		put16(d + l3 + 4, 0x1234);
		d[l3 + 8] = 64;
		d[l3 + 9] = 6;
		memcpy(d + l3 + 12, "\xc6\x12\0\x01\xc6\x13\0\x0c",
		       8); /* 198.18.0.1 -> 198.19.0.12 */
		put16(d + l3 + 10, csum(d + l3, 20));
		l4 = l3 + 20;
	} else {
		d[l3] = 0x60;
		put16(d + l3 + 4, 20 + (unsigned)paylen);
		d[l3 + 6] = 6;
		d[l3 + 7] = 64;
		memcpy(d + l3 + 8, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
		memcpy(d + l3 + 24, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
		l4 = l3 + 40;
	}
	put16(d + l4, 40000);
	put16(d + l4 + 2, 80);
	d[l4 + 12] = 5 << 4;
	d[l4 + 13] = 0x18;
	for (size_t i = 0; i < paylen; i++)
		d[l4 + 20 + i] = (uint8_t)(i * 7 + 1);
	f->n = l4 + 20 + paylen;
	return l3;
}

/* Gives an IPv4 datagram the identification its fragments will carry. */
static void
set_id(struct frame *f, size_t l3, uint16_t id)
{
	put16(f->d + l3 + 4, id);
	put16(f->d + l3 + 10, 0);
	put16(f->d + l3 + 10, csum(f->d + l3, 20));
}

/* Cuts whole's IP data (TCP header and payload) into fragments of `size` bytes (a multiple of
 * 8; the last may be shorter). Returns how many. */
static int
cut(const struct frame *whole, int ipver, size_t l3, size_t size, uint32_t id, struct frame *out)
{
	size_t hl = ipver == 4 ? 20 : 40, data = whole->n - l3 - hl;
	int n = 0;

	for (size_t off = 0; off < data; off += size, n++) {
		size_t len = data - off < size ? data - off : size;
		struct frame *f = &out[n];
		uint8_t *ip = f->d + l3;

		memcpy(f->d, whole->d, l3 + hl);
		if (ipver == 4) {
			put16(ip + 2, (unsigned)(hl + len));
			put16(ip + 4, id & 0xffff);
			put16(ip + 6, (unsigned)(off / 8) | (off + len < data ? 0x2000 : 0));
			put16(ip + 10, 0);
			put16(ip + 10, csum(ip, 20));
			memcpy(ip + hl, whole->d + l3 + hl + off, len);
			f->n = l3 + hl + len;
		} else {
			uint8_t *fh = ip + 40;

			put16(ip + 4, (unsigned)(8 + len));
			ip[6] = 44;
			fh[0] = 6;
			fh[1] = 0;
			put16(fh + 2, (unsigned)off | (off + len < data ? 1 : 0));
			fh[4] = (uint8_t)(id >> 24);
			fh[5] = (uint8_t)(id >> 16);
			fh[6] = (uint8_t)(id >> 8);
			fh[7] = (uint8_t)id;
			memcpy(fh + 8, whole->d + l3 + hl + off, len);
			f->n = l3 + 48 + len;
		}
	}
	return n;
}

static unsigned last_conflicts; /* of the last datagram feed() completed */

/* Feeds one fragment; returns the result and, when done, copies the datagram into *got. */
static enum sl_frag_result
feed(struct sl_frag_table *t, const struct frame *f, uint64_t now, struct frame *got)
{
	struct sl_pkt_frag fr;
	struct sl_frag_datagram dg;
	enum sl_frag_result r;

	CU_ASSERT_EQUAL_FATAL(sl_pkt_fragment(f->d, f->n, &fr), SL_PKT_ERR_IP_FRAGMENT);
	r = sl_frag_add(t, f->d, &fr, now, &dg);
	if (r == SL_FRAG_DONE && got) {
		CU_ASSERT_FATAL(dg.len <= FRAME_MAX);
		memcpy(got->d, dg.frame, dg.len);
		got->n = dg.len;
		last_conflicts = dg.overlap_conflicts;
	}
	return r;
}

static void
shuffle(int *order, int n, unsigned *seed)
{
	for (int i = 0; i < n; i++)
		order[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rand_r(seed) % (unsigned)(i + 1)), x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
}

/* Every order, with and without duplicates, gives back the very frame that was cut. */
static void
check_orders(int ipver, uint16_t vlan, size_t paylen, size_t size)
{
	static struct frame frags[NFRAG_MAX];
	struct frame whole, got;
	struct sl_frag_table *t = sl_frag_create(4, 30 * SEC);
	struct sl_frag_stats st;
	size_t l3 = build(&whole, ipver, vlan, paylen);
	int n, order[NFRAG_MAX];
	unsigned seed = 1, done = 0;

	if (ipver == 4)
		set_id(&whole, l3, 77);
	n = cut(&whole, ipver, l3, size, 77, frags);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_FATAL(n > 8 && n <= NFRAG_MAX); /* more than rte_ip_frag's 8 */
	for (int round = 0; round < 60; round++) {
		int dup = round % 3 == 2, last_result = -1;

		shuffle(order, n, &seed);
		if (round == 0)
			for (int i = 0; i < n; i++)
				order[i] = i; /* in order */
		if (round == 1)
			for (int i = 0; i < n; i++)
				order[i] = n - 1 - i; /* reversed */
		memset(&got, 0, sizeof(got));
		for (int i = 0; i < n; i++) {
			if (dup && i > 0 && feed(t, &frags[order[i - 1]], 0, NULL) != SL_FRAG_HELD)
				CU_FAIL("a duplicate before the end completes nothing");
			last_result = feed(t, &frags[order[i]], 0, &got);
			if (i < n - 1)
				CU_ASSERT_EQUAL(last_result, SL_FRAG_HELD);
		}
		CU_ASSERT_EQUAL(last_result, SL_FRAG_DONE);
		CU_ASSERT_EQUAL(last_conflicts, 0); /* duplicates agree */
		CU_ASSERT_EQUAL(got.n, whole.n);
		CU_ASSERT(got.n == whole.n && !memcmp(got.d, whole.d, whole.n));
		done += last_result == SL_FRAG_DONE;
	}
	/* and what comes back decodes as the original segment */
	struct sl_pkt_info pi;
	CU_ASSERT_EQUAL(sl_pkt_parse(got.d, got.n, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.payload_len, paylen);
	CU_ASSERT_EQUAL(pi.key.vlan[0], vlan);
	sl_frag_stats_get(t, &st);
	CU_ASSERT_EQUAL(st.reassembled, done);
	CU_ASSERT_EQUAL(st.overlap_conflicts, 0);
	CU_ASSERT_EQUAL(st.malformed + st.too_big + st.evicted + st.expired, 0);
	CU_ASSERT_EQUAL(sl_frag_pending(t), 0);
	sl_frag_free(t);
}

static void
test_ipv4_orders(void)
{
	check_orders(4, 0, 1000, 24);
	check_orders(4, 42, 333, 40); /* last fragment not a multiple of 8 */
}

static void
test_ipv6_orders(void)
{
	check_orders(6, 0, 1000, 24);
	check_orders(6, 7, 1500, 64);
}

/* A fragment overlapping kept data with other bytes: the first copy wins, and it is counted. */
static void
test_overlap_first_wins(void)
{
	static struct frame frags[NFRAG_MAX];
	struct frame whole, got, evil;
	struct sl_frag_table *t = sl_frag_create(4, 30 * SEC);
	struct sl_frag_stats st;
	size_t l3 = build(&whole, 4, 0, 200);
	int n;

	set_id(&whole, l3, 9);
	n = cut(&whole, 4, l3, 64, 9, frags);

	CU_ASSERT_EQUAL(feed(t, &frags[0], 0, NULL), SL_FRAG_HELD);
	CU_ASSERT_EQUAL(feed(t, &frags[1], 0, NULL), SL_FRAG_HELD);
	evil = frags[1];
	evil.d[l3 + 20 + 5] ^= 0xff; /* same offset, other bytes */
	CU_ASSERT_EQUAL(feed(t, &evil, 0, NULL), SL_FRAG_HELD);
	for (int i = 2; i < n; i++)
		feed(t, &frags[i], 0, &got);
	CU_ASSERT(got.n == whole.n && !memcmp(got.d, whole.d, whole.n));
	CU_ASSERT_EQUAL(last_conflicts, 1); /* the datagram says so too */
	sl_frag_stats_get(t, &st);
	CU_ASSERT_EQUAL(st.overlap_conflicts, 1);
	sl_frag_free(t);
}

/* Refused, and counted: a middle fragment that is not whole blocks, data past the end, an end
 * that moves, a datagram longer than IP allows. */
static void
test_malformed(void)
{
	static struct frame frags[NFRAG_MAX];
	struct frame whole, bad;
	struct sl_frag_table *t = sl_frag_create(4, 30 * SEC);
	struct sl_frag_stats st;
	size_t l3 = build(&whole, 4, 0, 100);
	int n = cut(&whole, 4, l3, 32, 5, frags);
	uint8_t *ip;

	bad = frags[0];
	ip = bad.d + l3;
	put16(ip + 2, 20 + 30); /* MF set, 30 bytes: not whole blocks */
	bad.n = l3 + 50;
	CU_ASSERT_EQUAL(feed(t, &bad, 0, NULL), SL_FRAG_REFUSED);

	CU_ASSERT_EQUAL(feed(t, &frags[n - 1], 0, NULL), SL_FRAG_HELD); /* the end is known */
	bad = frags[1];
	ip = bad.d + l3;
	put16(ip + 6, 0x2000 | 100); /* offset 800, past the end */
	CU_ASSERT_EQUAL(feed(t, &bad, 0, NULL), SL_FRAG_REFUSED);
	bad = frags[n - 1];
	ip = bad.d + l3;
	put16(ip + 6, (unsigned)(32 / 8)); /* another last fragment, an earlier end */
	CU_ASSERT_EQUAL(feed(t, &bad, 0, NULL), SL_FRAG_REFUSED);

	bad = frags[1];
	ip = bad.d + l3;
	put16(ip + 6, 0x1fff); /* offset 65528 + 32 bytes: past 65535 */
	CU_ASSERT_EQUAL(feed(t, &bad, 0, NULL), SL_FRAG_REFUSED);
	sl_frag_stats_get(t, &st);
	CU_ASSERT_EQUAL(st.malformed, 3);
	CU_ASSERT_EQUAL(st.too_big, 1);
	CU_ASSERT_EQUAL(st.reassembled, 0);
	sl_frag_free(t);

	/* Not fragments at all: sl_pkt_fragment says what they are. */
	struct sl_pkt_frag fr;
	CU_ASSERT_EQUAL(sl_pkt_fragment(whole.d, whole.n, &fr), SL_PKT_OK);
	CU_ASSERT_EQUAL(sl_pkt_fragment(whole.d, 10, &fr), SL_PKT_ERR_TRUNC_ETH);
}

/* A full table gives up its oldest datagram; the timeout gives up stale ones. */
static void
test_evict_and_expire(void)
{
	static struct frame a[NFRAG_MAX], b[NFRAG_MAX], c[NFRAG_MAX];
	struct frame whole, got;
	struct sl_frag_table *t = sl_frag_create(2, 30 * SEC);
	struct sl_frag_stats st;
	size_t l3 = build(&whole, 4, 0, 100);
	int n = cut(&whole, 4, l3, 64, 1, a);

	cut(&whole, 4, l3, 64, 2, b);
	cut(&whole, 4, l3, 64, 3, c);
	CU_ASSERT_EQUAL(n, 2);
	feed(t, &a[0], 1 * SEC, NULL);
	feed(t, &b[0], 2 * SEC, NULL);
	feed(t, &c[0], 3 * SEC, NULL); /* evicts a */
	CU_ASSERT_EQUAL(sl_frag_pending(t), 2);
	CU_ASSERT_EQUAL(feed(t, &b[1], 4 * SEC, &got), SL_FRAG_DONE);
	CU_ASSERT_EQUAL(feed(t, &a[1], 5 * SEC, NULL), SL_FRAG_HELD); /* its start is gone */
	sl_frag_expire(t, 5 * SEC + 30 * SEC);
	CU_ASSERT_EQUAL(sl_frag_pending(t), 1); /* c (born at 3 s) expired, a (5 s) not yet */
	sl_frag_expire(t, 36 * SEC);
	CU_ASSERT_EQUAL(sl_frag_pending(t), 0);
	sl_frag_stats_get(t, &st);
	CU_ASSERT_EQUAL(st.evicted, 1);
	CU_ASSERT_EQUAL(st.expired, 2);
	CU_ASSERT_EQUAL(st.reassembled, 1);
	sl_frag_free(t);
}

int
main(void)
{
	CU_initialize_registry();
	CU_pSuite s = CU_add_suite("frag", NULL, NULL);
	CU_add_test(s, "IPv4: any order, duplicates, > 8 fragments, VLAN", test_ipv4_orders);
	CU_add_test(s, "IPv6: any order, duplicates, > 8 fragments, VLAN", test_ipv6_orders);
	CU_add_test(s, "overlap: first copy wins, conflict counted", test_overlap_first_wins);
	CU_add_test(s, "malformed and oversized fragments refused", test_malformed);
	CU_add_test(s, "eviction when full, expiry after the timeout", test_evict_and_expire);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
