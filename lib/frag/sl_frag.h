/* sl_frag: IP fragments -> whole datagrams, one table per worker.
 *
 * A datagram sent in fragments is inspected like any other only once it is whole, so fragments
 * are copied into a slot of their datagram (keyed by IP version, addresses, VLANs, protocol and
 * identification) until every byte has arrived; the datagram then comes back as one
 * unfragmented frame. No limit on the number of fragments, any arrival order. Overlapping
 * fragments: the first copy of a byte wins, as in TCP reassembly (sl_tcp), and an overlap that
 * disagrees with what was kept is counted, since the receiving host may have kept the other.
 *
 * Bounded: at most max_datagrams slots; when full, the oldest datagram is given up (counted as
 * evicted), and one older than the timeout is given up as expired. No allocation after
 * sl_frag_create; single-threaded. Why not DPDK's rte_ip_frag (DESIGN.md's kept library): it
 * takes the fragments' mbufs and rewrites their headers while an inline worker must still
 * forward them as they were, and its build caps a datagram at 8 fragments, which a sender could
 * exceed on purpose to go uninspected. */
#ifndef SL_FRAG_H
#define SL_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "sl_pkt.h"

/* Counters: X(field, "json_name") */
#define SL_FRAG_COUNTERS(X)                                                                        \
	X(fragments, "ip_fragments")                                                               \
	X(reassembled, "ip_datagrams_reassembled")                                                 \
	X(expired, "ip_datagrams_expired")                                                         \
	X(evicted, "ip_datagrams_evicted")                                                         \
	X(too_big, "ip_datagrams_too_big")                                                         \
	X(malformed, "ip_fragments_malformed")                                                     \
	X(overlap_conflicts, "ip_fragment_overlap_conflicts")

struct sl_frag_stats {
#define SL_X(f, s) uint64_t f;
	SL_FRAG_COUNTERS(SL_X)
#undef SL_X
};

enum sl_frag_result {
	SL_FRAG_HELD,	 /* kept; the datagram is not whole yet */
	SL_FRAG_DONE,	 /* the datagram is whole: see *out */
	SL_FRAG_REFUSED, /* not kept (malformed, too big), counted */
};

struct sl_frag_table;

/* A table of max_datagrams slots (each about 66 KB); datagrams older than timeout_ns are given
 * up. Returns NULL when out of memory. */
struct sl_frag_table *sl_frag_create(unsigned max_datagrams, uint64_t timeout_ns);
void sl_frag_free(struct sl_frag_table *t);

/* A datagram made whole by sl_frag_add. */
struct sl_frag_datagram {
	const uint8_t *frame; /* the first fragment's link-layer and IP headers, rewritten as
			       * unfragmented (lengths; IPv4 flags, offset and checksum; IPv6 the
			       * Fragment header removed), then all the data */
	size_t len;
	unsigned overlap_conflicts; /* 8-byte blocks sent twice with different bytes: the receiver
				     * may have kept the other copy */
};

/* Adds fragment f (from sl_pkt_fragment) of frame, seen at now_ns. On SL_FRAG_DONE, *out
 * describes the datagram; its frame stays valid until the next call on t. */
enum sl_frag_result sl_frag_add(struct sl_frag_table *t, const uint8_t *frame,
				const struct sl_pkt_frag *f, uint64_t now_ns,
				struct sl_frag_datagram *out);

/* Gives up the datagrams older than the timeout (call now and then, e.g. from a worker tick). */
void sl_frag_expire(struct sl_frag_table *t, uint64_t now_ns);

/* Datagrams being reassembled now. */
unsigned sl_frag_pending(const struct sl_frag_table *t);

void sl_frag_stats_get(const struct sl_frag_table *t, struct sl_frag_stats *st);

#endif /* SL_FRAG_H */
