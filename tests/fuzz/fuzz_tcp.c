/* libFuzzer harness for sl_tcp.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address -I lib/tcp tests/fuzz/fuzz_tcp.c lib/tcp/sl_tcp.c
 *
 * Input: an 8-byte header (ISN, pool size, caps, policy) then 4-byte records (offset lo, offset
 * hi, length, flags), each one segment of one of two directions sharing a pool. Every segment
 * carries the true bytes of a fixed stream at its offset, so whatever the arrival order,
 * overlaps, caps or FINs, anything delivered must be the stream itself, at the right place:
 *  - delivered positions only move forward and stay within the stream, and each delivered byte
 *    equals the stream byte at its position (so delivered bytes never exceed the stream);
 *  - the delivery position always equals d->next_seq once the direction is synced;
 *  - bytes held never exceed the caps, and the pool's count matches the directions';
 *  - after the final flush nothing is held and every ops.hold was matched by one ops.release;
 *  - segments more than 1 GiB ahead (garbage) are never delivered. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sl_tcp.h"

#define FIN 0x01
#define SYN 0x02

#define STREAM	 4096
#define MAX_RECS 4096

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

struct track {
	struct sl_tcp_dir d;
	uint32_t base; /* sequence number of stream[0] */
	uint32_t pos;  /* sequence number of the next byte fn will see, once pos_valid */
	uint32_t cand; /* where delivery starts if this call syncs the direction */
	bool pos_valid;
	uint64_t delivered;
};

struct ref {
	long holds;
	long releases;
};

static uint8_t stream[STREAM];
static struct ref refs[MAX_RECS + 2];
static long outstanding;

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size);

static void
hold(void *r)
{
	((struct ref *)r)->holds++;
	outstanding++;
}

static void
release(void *r)
{
	struct ref *x = r;

	x->releases++;
	CHECK(x->releases <= x->holds);
	outstanding--;
	CHECK(outstanding >= 0);
}

static void
deliver(void *ctx, const uint8_t *data, uint32_t len)
{
	struct track *t = ctx;
	uint32_t rel;

	CHECK(len > 0);
	if (!t->pos_valid) {
		t->pos = t->cand;
		t->pos_valid = true;
	}
	rel = t->pos - t->base;
	CHECK(rel <= STREAM && len <= STREAM - rel);
	if (data != NULL) {
		CHECK(memcmp(data, stream + rel, len) == 0);
		t->delivered += len;
		CHECK(t->delivered <= STREAM);
	}
	t->pos += len;
}

static void
check_dir(struct sl_tcp_pool *pool, struct track *t, const struct sl_tcp_pool_params *p)
{
	if (t->d.synced && !t->pos_valid) {
		t->pos = t->d.next_seq;
		t->pos_valid = true;
	}
	if (t->pos_valid && !t->d.bypass)
		CHECK(t->pos == t->d.next_seq);
	CHECK(t->d.held_bytes <= p->cap_per_dir);
	CHECK((t->d.held_head == 0) == (t->d.held_bytes == 0));
	(void)pool;
}

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	struct sl_tcp_pool_params p = {0};
	struct sl_tcp_pool *pool;
	struct sl_tcp_stats st;
	struct track t[2];
	size_t nrec, k;
	uint32_t isn;
	int i;

	if (size < 8)
		return 0;
	if (stream[1] == 0)
		for (i = 0; i < STREAM; i++)
			stream[i] = (uint8_t)(i * 131 + (i >> 8) + 1);

	memcpy(&isn, buf, 4);
	p.max_segments = buf[4] % 48;
	p.cap_per_dir = (uint64_t)buf[5] * 32;
	p.cap_per_worker = (uint64_t)buf[6] * 48;
	p.cap_policy = buf[7] & 1 ? SL_TCP_CAP_BYPASS : SL_TCP_CAP_INSPECT;
	if (buf[7] & 2) { /* uncapped: exercises long held lists */
		p.cap_per_dir = UINT64_MAX;
		p.cap_per_worker = UINT64_MAX;
		p.max_segments = 4096;
	}
	p.ops.hold = hold;
	p.ops.release = release;
	pool = sl_tcp_pool_create(&p);
	CHECK(pool != NULL);

	memset(t, 0, sizeof(t));
	memset(refs, 0, sizeof(refs));
	outstanding = 0;
	t[0].base = isn;
	t[1].base = isn + 0x7fff0000u + (buf[7] >> 2);

	nrec = (size - 8) / 4;
	if (nrec > MAX_RECS)
		nrec = MAX_RECS;
	for (k = 0; k < nrec; k++) {
		const uint8_t *r = buf + 8 + 4 * k;
		uint32_t off = (uint32_t)(r[0] | r[1] << 8) % STREAM;
		uint32_t len = r[2];
		uint8_t flags = r[3];
		struct track *tr = &t[(flags >> 2) & 1];
		uint32_t seq;

		if (len > STREAM - off)
			len = STREAM - off;
		seq = tr->base + off;
		if (flags & SYN) {
			/* The SYN sits just before stream[0]; its data is the stream start. */
			off = 0;
			seq = tr->base - 1;
		}
		if ((flags & 0x08) && tr->d.synced) {
			/* Garbage far ahead of the window: must never be held or delivered. */
			seq = tr->d.next_seq + 0x40000001u + ((uint32_t)r[0] << 16);
		}
		if (!tr->d.synced)
			tr->cand = flags & SYN ? seq + 1 : seq;
		sl_tcp_segment(pool, &tr->d, seq, flags & (FIN | SYN), stream + off, len, &refs[k],
			       deliver, tr);
		if ((flags & 0x30) == 0x30)
			sl_tcp_flush(pool, &tr->d, deliver, tr);

		check_dir(pool, &t[0], &p);
		check_dir(pool, &t[1], &p);
		sl_tcp_stats_get(pool, &st);
		CHECK(st.bytes_held == (uint64_t)t[0].d.held_bytes + t[1].d.held_bytes);
		CHECK(st.bytes_held <= p.cap_per_worker);
	}

	sl_tcp_flush(pool, &t[0].d, deliver, &t[0]);
	sl_tcp_release(pool, &t[1].d);
	for (i = 0; i < 2; i++) {
		check_dir(pool, &t[i], &p);
		CHECK(t[i].d.held_head == 0 && t[i].d.held_bytes == 0);
	}
	sl_tcp_stats_get(pool, &st);
	CHECK(st.bytes_held == 0);
	CHECK(outstanding == 0);
	for (k = 0; k < nrec; k++)
		CHECK(refs[k].holds == refs[k].releases);
	sl_tcp_pool_free(pool);
	return 0;
}
