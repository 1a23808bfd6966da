/* sl_tcp: TCP stream reassembly for one direction of a flow (see sl_tcp.h for the contract).
 *
 * A pool owns a fixed array of held-segment descriptors, allocated once by sl_tcp_pool_create;
 * unused descriptors form a free list. Each direction keeps the segments it holds as a singly
 * linked list threaded through the array by index+1 (0 ends a list), so a direction costs no
 * memory of its own beyond struct sl_tcp_dir.
 *
 * Invariants, true between calls, for every direction d of the pool:
 *  - d's held list is sorted by seq and its segments never overlap each other (first copy wins:
 *    only the bytes not already held are stored, possibly as several descriptors);
 *  - every held segment starts strictly after d->next_seq (anything at or before it has been
 *    delivered, trimmed and released), and no held byte lies at or beyond d->fin_seq once a FIN
 *    has been seen;
 *  - every held segment lies within SL_TCP_MAX_AHEAD (+ one segment) of d->next_seq, so all
 *    differences between sequence numbers stay well below 2^31 and the wrapping comparisons
 *    below are meaningful;
 *  - each descriptor owns exactly one ops.hold() on its ref, dropped by exactly one
 *    ops.release() when the descriptor goes back to the free list;
 *  - d->held_bytes is the sum of d's held lengths, pool->bytes_held the sum over all directions.
 *
 * Out-of-window choice: a segment starting more than SL_TCP_MAX_AHEAD (1 GiB, the largest window
 * TCP window scaling allows) past next_seq can never be accepted by the real receiver, so it is
 * dropped and counted as out_of_window. Neither holding it (it would pin cap space until the flow
 * ends) nor skipping ahead to it (one forged packet would make the rest of the real stream look
 * like old duplicates, blinding inspection) is safe for a DLP device.
 *
 * The hot path (sl_tcp_segment, sl_tcp_flush, sl_tcp_release) never allocates, locks or logs. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sl_tcp.h"

/* TCP header flag bits, identical to SL_PKT_TCP_FIN/SYN: redefined here so this library does not
 * depend on sl_pkt (the values are the wire encoding and cannot change). */
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02

/* Largest distance ahead of next_seq a segment may start and still be held (see top comment). */
#define SL_TCP_MAX_AHEAD (1u << 30)

/* No real segment (even a 512 KiB BIG TCP aggregate) is this long; longer claims are clipped so
 * sequence differences stay below 2^31. */
#define SL_TCP_MAX_LEN (1u << 24)

struct held_seg {
	uint32_t seq;
	uint32_t len;
	const uint8_t *data;
	void *ref;
	uint32_t next; /* index+1 of the next segment (direction list or free list); 0 = end */
};

struct sl_tcp_pool {
	struct sl_tcp_pool_params p;
	struct held_seg *segs;
	uint32_t free_head; /* index+1 of the first free descriptor; 0 = none */
	uint32_t nfree;
	uint64_t bytes_held;
	struct sl_tcp_stats st;
};

/* Sequence comparisons modulo 2^32: a is before b when b - a, as a signed 32-bit value, is
 * positive. Valid while the two are less than 2^31 apart, which the invariants guarantee. */
static inline bool
seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool
seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

static inline struct held_seg *
seg_at(struct sl_tcp_pool *pool, uint32_t idx1)
{
	return &pool->segs[idx1 - 1];
}

struct sl_tcp_pool *
sl_tcp_pool_create(const struct sl_tcp_pool_params *p)
{
	struct sl_tcp_pool *pool;
	uint32_t i;

	/* index+1 must fit in a uint32_t and both callbacks are called unconditionally. */
	if (p == NULL || p->ops.hold == NULL || p->ops.release == NULL ||
	    p->max_segments == UINT32_MAX)
		return NULL;
	if (p->cap_policy != SL_TCP_CAP_INSPECT && p->cap_policy != SL_TCP_CAP_BYPASS)
		return NULL;

	pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		goto fail_pool;
	pool->p = *p;
	if (p->max_segments > 0) {
		pool->segs = calloc(p->max_segments, sizeof(*pool->segs));
		if (pool->segs == NULL)
			goto fail_segs;
	}
	for (i = 0; i < p->max_segments; i++)
		pool->segs[i].next = i + 2 <= p->max_segments ? i + 2 : 0;
	pool->free_head = p->max_segments > 0 ? 1 : 0;
	pool->nfree = p->max_segments;
	return pool;

fail_segs:
	free(pool);
fail_pool:
	return NULL;
}

/* Frees the pool memory only: the caller must have flushed or released every direction first,
 * since the references still held are unknown to the pool once it is gone. */
void
sl_tcp_pool_free(struct sl_tcp_pool *pool)
{
	if (pool == NULL)
		return;
	free(pool->segs);
	free(pool);
}

void
sl_tcp_stats_get(const struct sl_tcp_pool *pool, struct sl_tcp_stats *out)
{
	*out = pool->st;
	out->bytes_held = pool->bytes_held;
}

/* Takes a descriptor off the free list; the caller has checked pool->nfree. */
static uint32_t
seg_get(struct sl_tcp_pool *pool)
{
	uint32_t i = pool->free_head;

	pool->free_head = seg_at(pool, i)->next;
	pool->nfree--;
	return i;
}

/* Releases descriptor i (already unlinked from d's list) and its reference, and returns it to
 * the free list. */
static void
seg_put(struct sl_tcp_pool *pool, struct sl_tcp_dir *d, uint32_t i)
{
	struct held_seg *s = seg_at(pool, i);
	void *ref = s->ref;

	d->held_bytes -= s->len;
	pool->bytes_held -= s->len;
	s->data = NULL;
	s->ref = NULL;
	s->len = 0;
	s->next = pool->free_head;
	pool->free_head = i;
	pool->nfree++;
	/* Last, so the descriptor is already consistent if the callback frees the packet. */
	pool->p.ops.release(ref);
}

static void
pop_head(struct sl_tcp_pool *pool, struct sl_tcp_dir *d)
{
	uint32_t i = d->held_head;

	d->held_head = seg_at(pool, i)->next;
	seg_put(pool, d, i);
}

void
sl_tcp_release(struct sl_tcp_pool *pool, struct sl_tcp_dir *d)
{
	while (d->held_head != 0)
		pop_head(pool, d);
}

/* Delivers, from d->next_seq on, the held segments merged with the optional new bytes x =
 * [xseq, xseq + xlen): where x overlaps held or already delivered bytes, those win (x is trimmed)
 * and *trimmed is set. Held segments that are consumed are released.
 *
 * Without allow_gaps it stops at the first hole; then x must start at next_seq (or be empty),
 * and it is always fully consumed, since x is contiguous and always trimmed to next_seq.
 * With allow_gaps each hole is reported to fn as (NULL, hole length), counted in gaps, and
 * delivery carries on until nothing is held and x is consumed.
 *
 * Returns the number of bytes of x delivered. */
static uint32_t
merge_deliver(struct sl_tcp_pool *pool, struct sl_tcp_dir *d, uint32_t xseq, const uint8_t *xdata,
	      uint32_t xlen, bool allow_gaps, sl_tcp_deliver_fn fn, void *ctx, bool *trimmed)
{
	uint32_t done = 0;

	for (;;) {
		struct held_seg *h = d->held_head ? seg_at(pool, d->held_head) : NULL;
		uint32_t start;

		if (xlen > 0 && seq_lt(xseq, d->next_seq)) {
			uint32_t skip = d->next_seq - xseq;

			*trimmed = true;
			if (skip >= xlen) {
				xlen = 0;
			} else {
				xseq += skip;
				xdata += skip;
				xlen -= skip;
			}
		}

		/* Held data first when it is contiguous: it arrived first, so it wins ties. */
		if (h != NULL && seq_leq(h->seq, d->next_seq)) {
			uint32_t hend = h->seq + h->len;

			if (seq_lt(d->next_seq, hend)) {
				fn(ctx, h->data + (d->next_seq - h->seq), hend - d->next_seq);
				d->next_seq = hend;
			}
			pop_head(pool, d);
			continue;
		}

		if (xlen > 0 && xseq == d->next_seq) {
			uint32_t n = xlen;

			/* Only up to the first held byte: from there on the held copy wins. */
			if (h != NULL && seq_lt(h->seq, xseq + xlen))
				n = h->seq - xseq;
			fn(ctx, xdata, n);
			done += n;
			d->next_seq += n;
			xseq += n;
			xdata += n;
			xlen -= n;
			continue;
		}

		if (!allow_gaps || (h == NULL && xlen == 0))
			break;

		/* A hole: jump to whichever of the held list and x starts first. */
		if (h != NULL && (xlen == 0 || seq_lt(h->seq, xseq)))
			start = h->seq;
		else
			start = xseq;
		fn(ctx, NULL, start - d->next_seq);
		pool->st.gaps++;
		d->next_seq = start;
	}
	return done;
}

void
sl_tcp_flush(struct sl_tcp_pool *pool, struct sl_tcp_dir *d, sl_tcp_deliver_fn fn, void *ctx)
{
	bool trimmed = false;

	merge_deliver(pool, d, 0, NULL, 0, true, fn, ctx, &trimmed);
}

/* Called when a FIN fixes the end of the stream: drops held bytes at or beyond fin_seq, which
 * the receiver will never accept. */
static void
trim_after_fin(struct sl_tcp_pool *pool, struct sl_tcp_dir *d)
{
	uint32_t prev = 0, i = d->held_head;
	bool cut = false;

	while (i != 0) {
		struct held_seg *h = seg_at(pool, i);
		uint32_t hend = h->seq + h->len;
		uint32_t next = h->next;

		if (seq_leq(hend, d->fin_seq)) {
			prev = i;
		} else if (seq_lt(h->seq, d->fin_seq)) {
			uint32_t extra = hend - d->fin_seq;

			h->len -= extra;
			d->held_bytes -= extra;
			pool->bytes_held -= extra;
			cut = true;
			prev = i;
		} else {
			if (prev != 0)
				seg_at(pool, prev)->next = next;
			else
				d->held_head = next;
			seg_put(pool, d, i);
			cut = true;
		}
		i = next;
	}
	if (cut)
		pool->st.after_fin++;
}

/* Stores the bytes of [seq, seq + len) that no held segment covers, one descriptor (and one
 * ops.hold) per uncovered piece, all or nothing. seq is after d->next_seq. When a cap or the
 * descriptor pool would be exceeded, follows the cap policy instead. Returns the number of bytes
 * of this segment held or delivered. */
static uint32_t
hold_segment(struct sl_tcp_pool *pool, struct sl_tcp_dir *d, uint32_t seq, const uint8_t *data,
	     uint32_t len, void *ref, sl_tcp_deliver_fn fn, void *ctx, bool trimmed)
{
	uint32_t end = seq + len;
	uint32_t need_bytes = 0, need_segs = 0;
	uint32_t s = seq, prev = 0, i = d->held_head;
	bool overlap = trimmed;
	uint32_t n;

	/* Dry run first, so that hitting a cap never leaves part of the segment stored. */
	while (seq_lt(s, end)) {
		struct held_seg *h;

		if (i == 0) {
			need_bytes += end - s;
			need_segs++;
			break;
		}
		h = seg_at(pool, i);
		i = h->next;
		if (seq_leq(h->seq + h->len, s))
			continue;
		if (seq_leq(end, h->seq)) {
			need_bytes += end - s;
			need_segs++;
			break;
		}
		if (seq_lt(s, h->seq)) {
			need_bytes += h->seq - s;
			need_segs++;
		}
		overlap = true;
		s = h->seq + h->len;
	}

	if (need_bytes == 0) {
		pool->st.duplicates++;
		return 0;
	}
	if ((uint64_t)d->held_bytes + need_bytes > pool->p.cap_per_dir) {
		pool->st.flow_cap_hit++;
		goto cap;
	}
	if (pool->bytes_held + need_bytes > pool->p.cap_per_worker) {
		pool->st.worker_cap_hit++;
		goto cap;
	}
	if (pool->nfree < need_segs) {
		pool->st.pool_exhausted++;
		goto cap;
	}

	s = seq;
	i = d->held_head;
	while (seq_lt(s, end)) {
		struct held_seg *h = i != 0 ? seg_at(pool, i) : NULL;
		struct held_seg *ns;
		uint32_t piece_end, ni;

		if (h != NULL && seq_leq(h->seq + h->len, s)) {
			prev = i;
			i = h->next;
			continue;
		}
		if (h != NULL && seq_leq(h->seq, s)) {
			/* s lies inside h: those bytes are already held. */
			s = h->seq + h->len;
			prev = i;
			i = h->next;
			continue;
		}
		piece_end = (h == NULL || seq_leq(end, h->seq)) ? end : h->seq;
		ni = seg_get(pool);
		ns = seg_at(pool, ni);
		ns->seq = s;
		ns->len = piece_end - s;
		ns->data = data + (s - seq);
		ns->ref = ref;
		ns->next = i;
		if (prev != 0)
			seg_at(pool, prev)->next = ni;
		else
			d->held_head = ni;
		d->held_bytes += ns->len;
		pool->bytes_held += ns->len;
		pool->p.ops.hold(ref);
		prev = ni;
		s = piece_end;
	}
	pool->st.held++;
	if (overlap)
		pool->st.overlaps++;
	return need_bytes;

cap:
	if (pool->p.cap_policy == SL_TCP_CAP_BYPASS) {
		sl_tcp_release(pool, d);
		d->bypass = 1;
		pool->st.bypassed++;
		return 0;
	}
	n = merge_deliver(pool, d, seq, data, len, true, fn, ctx, &overlap);
	if (overlap)
		pool->st.overlaps++;
	return n;
}

uint32_t
sl_tcp_segment(struct sl_tcp_pool *pool, struct sl_tcp_dir *d, uint32_t seq, uint8_t flags,
	       const uint8_t *data, uint32_t len, void *ref, sl_tcp_deliver_fn fn, void *ctx)
{
	bool trimmed = false;
	uint32_t n;

	pool->st.segments++;
	if (d->bypass)
		return 0;
	if (len > SL_TCP_MAX_LEN)
		len = SL_TCP_MAX_LEN;

	if (flags & TCP_FLAG_SYN) {
		/* The SYN occupies one sequence number; any data follows it. */
		if (!d->synced) {
			d->next_seq = seq + 1;
			d->synced = 1;
		}
		seq++;
	}
	/* The first FIN fixes the end of the stream; a later, different one is not believed. */
	if ((flags & TCP_FLAG_FIN) && !d->fin) {
		d->fin = 1;
		d->fin_seq = seq + len;
		trim_after_fin(pool, d);
	}
	if (len == 0 || data == NULL)
		return 0;

	if (d->fin) {
		if (seq_leq(d->fin_seq, seq)) {
			pool->st.after_fin++;
			return 0;
		}
		if (seq_lt(d->fin_seq, seq + len)) {
			len = d->fin_seq - seq;
			pool->st.after_fin++;
		}
	}

	if (!d->synced) {
		/* Mid-stream pickup: the first data seen defines the start of the stream. */
		d->next_seq = seq;
		d->synced = 1;
	}

	if (seq_leq(seq + len, d->next_seq)) {
		pool->st.duplicates++;
		return 0;
	}
	if (seq_lt(seq, d->next_seq)) {
		uint32_t skip = d->next_seq - seq;

		seq += skip;
		data += skip;
		len -= skip;
		trimmed = true;
	}

	if (seq == d->next_seq) {
		n = merge_deliver(pool, d, seq, data, len, false, fn, ctx, &trimmed);
		pool->st.in_order++;
		if (trimmed)
			pool->st.overlaps++;
		return n;
	}

	if (seq - d->next_seq > SL_TCP_MAX_AHEAD) {
		pool->st.out_of_window++;
		return 0;
	}
	return hold_segment(pool, d, seq, data, len, ref, fn, ctx, trimmed);
}
