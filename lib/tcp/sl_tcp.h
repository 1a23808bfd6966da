/* sl_tcp: TCP stream reassembly for one direction of a flow.
 *
 * In-order payload is handed to the deliver callback straight from the packet (zero copy).
 * Segments that arrive ahead of the next expected sequence number are held by reference: the
 * caller passes an opaque `ref` (an mbuf) and this library calls ops.hold(ref) to keep it and
 * ops.release(ref) when done with it, so it never copies or frees packet memory itself.
 * Held segments come from a per-worker pool with a byte cap per direction and per worker.
 *
 * Rules: duplicates and retransmissions of delivered data are ignored; where data overlaps data
 * already held or delivered, the first copy wins; a direction first seen without a SYN is picked
 * up at the first data segment (mid-stream pickup). When a cap would be exceeded the direction
 * follows the pool's cap policy: INSPECT delivers what is held and skips the hole (the callback
 * sees a gap), BYPASS stops inspecting the direction. All sequence arithmetic wraps mod 2^32.
 * No allocation after sl_tcp_pool_create; single-threaded (one pool per worker). */
#ifndef SL_TCP_H
#define SL_TCP_H

#include <stddef.h>
#include <stdint.h>

#define SL_TCP_COUNTERS(X)                                                                         \
	X(segments, "tcp_segments")                                                                \
	X(in_order, "tcp_in_order")                                                                \
	X(held, "tcp_ooo_held")                                                                    \
	X(duplicates, "tcp_duplicates")                                                            \
	X(overlaps, "tcp_overlaps")                                                                \
	X(gaps, "tcp_gaps")                                                                        \
	X(flow_cap_hit, "tcp_flow_cap_hit")                                                        \
	X(worker_cap_hit, "tcp_worker_cap_hit")                                                    \
	X(pool_exhausted, "tcp_seg_pool_exhausted")                                                \
	X(bypassed, "tcp_bypassed")                                                                \
	X(after_fin, "tcp_data_after_fin")                                                         \
	X(out_of_window, "tcp_out_of_window")

struct sl_tcp_stats {
#define SL_X(f, s) uint64_t f;
	SL_TCP_COUNTERS(SL_X)
#undef SL_X
	uint64_t bytes_held; /* current, not cumulative */
};

enum sl_tcp_cap_policy {
	SL_TCP_CAP_INSPECT = 0, /* skip the hole, keep inspecting what is in order */
	SL_TCP_CAP_BYPASS,	/* stop inspecting this direction */
};

struct sl_tcp_ops {
	void (*hold)(void *ref);    /* take a reference on a packet kept for later */
	void (*release)(void *ref); /* drop it */
};

/* Called for in-order bytes. data == NULL means a hole of `len` bytes was skipped: a match must
 * not span it (the scanner restarts its stream). */
typedef void (*sl_tcp_deliver_fn)(void *ctx, const uint8_t *data, uint32_t len);

struct sl_tcp_pool;

struct sl_tcp_pool_params {
	uint32_t max_segments;	 /* held-segment descriptors in the pool */
	uint64_t cap_per_dir;	 /* bytes held per direction */
	uint64_t cap_per_worker; /* bytes held in the whole pool */
	enum sl_tcp_cap_policy cap_policy;
	struct sl_tcp_ops ops;
};

/* Per-direction state, embedded in the caller's flow state; all-zero is the initial state. */
struct sl_tcp_dir {
	uint32_t next_seq;  /* next expected sequence number, valid when synced */
	uint32_t held_head; /* index+1 of the first held segment in the pool; 0 = none */
	uint32_t held_bytes;
	uint8_t synced; /* next_seq is known */
	uint8_t fin;	/* FIN seen: data beyond fin_seq is ignored */
	uint8_t bypass; /* no longer inspected */
	uint8_t reserved;
	uint32_t fin_seq;
};

struct sl_tcp_pool *sl_tcp_pool_create(const struct sl_tcp_pool_params *p);
void sl_tcp_pool_free(struct sl_tcp_pool *pool);

/* Feeds one segment of this direction: seq, SL_PKT_TCP_* flags and payload (may be empty).
 * In-order bytes (and any held bytes they make contiguous) go to fn now; out-of-order bytes are
 * held (ref kept via ops.hold). Returns the number of payload bytes of this segment delivered or
 * held (0 for a pure duplicate). */
uint32_t sl_tcp_segment(struct sl_tcp_pool *pool, struct sl_tcp_dir *d, uint32_t seq, uint8_t flags,
			const uint8_t *data, uint32_t len, void *ref, sl_tcp_deliver_fn fn,
			void *ctx);

/* End of the direction: delivers everything still held in order, with gaps for the holes, and
 * releases every reference. The direction is left empty. */
void sl_tcp_flush(struct sl_tcp_pool *pool, struct sl_tcp_dir *d, sl_tcp_deliver_fn fn, void *ctx);

/* Releases every held reference without delivering (flow blocked or bypassed). */
void sl_tcp_release(struct sl_tcp_pool *pool, struct sl_tcp_dir *d);

void sl_tcp_stats_get(const struct sl_tcp_pool *pool, struct sl_tcp_stats *out);

#endif /* SL_TCP_H */
