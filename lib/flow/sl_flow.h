/* sl_flow: one worker's flow table.
 *
 * Flows are keyed by the canonical key of sl_pkt (5-tuple plus VLANs), so both directions find
 * the same entry. Storage is a fixed array sized at creation (no allocation afterwards); lookups
 * go through rte_hash, whose key position indexes that array directly. Entries sit on an LRU list
 * ordered by last activity: expiry walks it from the idle end, and when the table is full the
 * least recently active flow is evicted to make room. Every flow leaves through the caller's
 * on_end callback exactly once, whatever the reason, so the caller can flush what it holds.
 *
 * Each entry carries `user_size` bytes for the caller (the worker's per-flow state); this library
 * never looks inside it. Single writer: one table per worker lcore, no locks. */
#ifndef SL_FLOW_H
#define SL_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "sl_pkt.h"

#define SL_FLOW_END_REASONS(X)                                                                     \
	X(CLOSED, "closed")                                                                        \
	X(TIMEOUT, "timeout")                                                                      \
	X(EVICTED, "evicted")                                                                      \
	X(SHUTDOWN, "shutdown")

enum sl_flow_end_reason {
#define SL_X(e, s) SL_FLOW_END_##e,
	SL_FLOW_END_REASONS(SL_X)
#undef SL_X
	    SL_FLOW_END_COUNT
};

const char *sl_flow_end_name(enum sl_flow_end_reason r);

struct sl_flow {
	struct sl_flow_key key;
	uint64_t id;	   /* flow_id of events: nonzero, unique in this process */
	uint64_t first_ns; /* time of the first packet */
	uint64_t last_ns;  /* time of the last packet */
	uint64_t pkts[2];  /* per key side that sent them */
	uint64_t bytes[2];
	uint32_t lru_prev, lru_next;
	uint8_t client; /* key side that opened the flow (SYN sender, else first sender) */
	uint8_t in_use;
};

struct sl_flow_table;

struct sl_flow_params {
	const char *name;	      /* unique among tables (rte_hash name) */
	uint32_t capacity;	      /* maximum concurrent flows */
	uint32_t user_size;	      /* bytes of caller state per flow (see on_create) */
	uint64_t idle_timeout_ns;     /* a flow with no packet for this long ends (TIMEOUT) */
	uint64_t udp_idle_timeout_ns; /* the same for UDP and ICMP flows; 0: idle_timeout_ns */
	uint16_t worker_id;	      /* folded into flow ids so they are unique across workers */
	int socket_id;
	void (*on_end)(void *ctx, struct sl_flow *f, enum sl_flow_end_reason why);
	/* Sets up the user area of a new flow, which then holds whatever its slot held before;
	 * NULL: the area is zeroed. */
	void (*on_create)(void *ctx, struct sl_flow *f);
	void *ctx;
};

#define SL_FLOW_COUNTERS(X)                                                                        \
	X(created, "flows_created")                                                                \
	X(ended_closed, "flows_closed")                                                            \
	X(ended_timeout, "flows_timed_out")                                                        \
	X(evicted, "flows_evicted")                                                                \
	X(create_failed, "flows_create_failed")                                                    \
	X(recent, "flow_lookups_recent")

struct sl_flow_stats {
#define SL_X(f, s) uint64_t f;
	SL_FLOW_COUNTERS(SL_X)
#undef SL_X
	uint64_t active;
};

/* Creates a table; returns NULL and writes the reason to err on failure. Needs the EAL to be
 * initialised (rte_hash). */
struct sl_flow_table *sl_flow_table_create(const struct sl_flow_params *p, char *err,
					   size_t errlen);

/* Bytes a table for p takes from its socket's heap: its entries, plus an upper bound for the
 * rte_hash index (for sizing a heap before creating tables in it). */
size_t sl_flow_table_mem_size(const struct sl_flow_params *p);

/* Ends every flow (on_end with SHUTDOWN), then frees the table. NULL is accepted. */
void sl_flow_table_free(struct sl_flow_table *t);

/* Finds the flow of `key` and marks it active at now_ns. When absent and `create` is set,
 * creates it (evicting the least recently active flow when full) and sets *created to 1.
 * Returns NULL when absent and not created. Packets of a flow often come in trains: when the
 * key is that of the previous lookup's flow, neither hash nor table is touched (counted as
 * flow_lookups_recent). */
struct sl_flow *sl_flow_lookup(struct sl_flow_table *t, const struct sl_flow_key *key,
			       uint64_t now_ns, int create, int *created);

/* The caller's per-flow state area (user_size bytes, 64-byte aligned). */
static inline void *
sl_flow_user(struct sl_flow *f)
{
	return (void *)((uintptr_t)(f + 1) + ((64 - sizeof(*f) % 64) % 64));
}

/* Ends one flow now (on_end with `why`) and frees its entry. */
void sl_flow_end(struct sl_flow_table *t, struct sl_flow *f, enum sl_flow_end_reason why);

/* Ends up to `budget` flows idle for longer than their timeout; returns how many ended. With two
 * timeouts, flows idle between the two that must stay are passed over, at most 4 x budget of
 * them per call (the rest wait for the next call, or for eviction). */
unsigned sl_flow_expire(struct sl_flow_table *t, uint64_t now_ns, unsigned budget);

/* Calls fn on every active flow (most recently active last); fn must not end flows. */
void sl_flow_foreach(struct sl_flow_table *t, void (*fn)(void *ctx, struct sl_flow *f), void *ctx);

void sl_flow_stats_get(const struct sl_flow_table *t, struct sl_flow_stats *out);

#endif /* SL_FLOW_H */
