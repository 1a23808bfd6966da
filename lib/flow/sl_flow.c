/* sl_flow: per-worker flow table (see sl_flow.h for the contract).
 *
 * Layout: one rte_hash maps a canonical key to a position in [0, capacity); the same position
 * indexes `entries`, a flat array of fixed-stride slots (struct sl_flow, then the caller's area).
 * The hash is created with the extendable bucket table so every one of `capacity` keys fits.
 * Active entries form a doubly linked LRU list through lru_prev/lru_next (position + 1, 0 = none):
 * head = least recently active, tail = most recently active. Touching a flow moves it to the
 * tail, so expiry and eviction only ever look at the head. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "sl_flow.h"

struct sl_flow_table {
	struct rte_hash *hash;
	uint8_t *entries;
	size_t stride;
	uint32_t capacity;
	uint32_t lru_head, lru_tail; /* position + 1; 0 = empty */
	uint64_t next_id;
	struct sl_flow_params p;
	struct sl_flow_stats st;
};

static const char *const end_names[] = {
#define SL_X(e, s) s,
    SL_FLOW_END_REASONS(SL_X)
#undef SL_X
};

const char *
sl_flow_end_name(enum sl_flow_end_reason r)
{
	return (unsigned)r < SL_FLOW_END_COUNT ? end_names[r] : "unknown";
}

static inline struct sl_flow *
entry_at(const struct sl_flow_table *t, uint32_t pos)
{
	return (struct sl_flow *)(t->entries + (size_t)pos * t->stride);
}

static inline uint32_t
pos_of(const struct sl_flow_table *t, const struct sl_flow *f)
{
	return (uint32_t)(((const uint8_t *)f - t->entries) / t->stride);
}

static void
lru_unlink(struct sl_flow_table *t, struct sl_flow *f)
{
	if (f->lru_prev)
		entry_at(t, f->lru_prev - 1)->lru_next = f->lru_next;
	else
		t->lru_head = f->lru_next;
	if (f->lru_next)
		entry_at(t, f->lru_next - 1)->lru_prev = f->lru_prev;
	else
		t->lru_tail = f->lru_prev;
	f->lru_prev = f->lru_next = 0;
}

static void
lru_append(struct sl_flow_table *t, struct sl_flow *f)
{
	uint32_t me = pos_of(t, f) + 1;

	f->lru_prev = t->lru_tail;
	f->lru_next = 0;
	if (t->lru_tail)
		entry_at(t, t->lru_tail - 1)->lru_next = me;
	else
		t->lru_head = me;
	t->lru_tail = me;
}

/* rte_hash per entry, rounded up from the 153 B measured at 65536 entries: a key slot and,
 * with the capacity rounded to a power of two, a share of the main and extendable buckets and
 * of the free-slot ring; plus its fixed part (about 5 KB measured). test_flow checks both. */
#define SL_FLOW_HASH_BYTES_PER_ENTRY 256
#define SL_FLOW_HASH_BYTES_FIXED     (64u << 10)

static size_t
entry_stride(const struct sl_flow_params *p)
{
	return RTE_ALIGN_CEIL(sizeof(struct sl_flow), 64) + RTE_ALIGN_CEIL(p->user_size, 64);
}

size_t
sl_flow_table_mem_size(const struct sl_flow_params *p)
{
	return sizeof(struct sl_flow_table) + 64 + SL_FLOW_HASH_BYTES_FIXED +
	       (size_t)p->capacity * (entry_stride(p) + SL_FLOW_HASH_BYTES_PER_ENTRY);
}

struct sl_flow_table *
sl_flow_table_create(const struct sl_flow_params *p, char *err, size_t errlen)
{
	struct sl_flow_table *t;

	if (p->capacity < 2 || p->on_end == NULL) {
		snprintf(err, errlen, "flow table '%s': capacity must be >= 2 and on_end set",
			 p->name);
		return NULL;
	}
	t = rte_zmalloc_socket("sl_flow_table", sizeof(*t), RTE_CACHE_LINE_SIZE, p->socket_id);
	if (t == NULL)
		goto fail_nomem;
	t->p = *p;
	t->capacity = p->capacity;
	t->stride = entry_stride(p);
	t->next_id = 1;
	t->entries = rte_zmalloc_socket("sl_flow_entries", t->stride * p->capacity,
					RTE_CACHE_LINE_SIZE, p->socket_id);
	if (t->entries == NULL)
		goto fail_entries;

	struct rte_hash_parameters hp = {
	    .name = p->name,
	    .entries = p->capacity,
	    .key_len = sizeof(struct sl_flow_key),
	    .hash_func = rte_hash_crc,
	    .socket_id = p->socket_id,
	    .extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	t->hash = rte_hash_create(&hp);
	if (t->hash == NULL) {
		snprintf(err, errlen, "flow table '%s': rte_hash_create failed: %s", p->name,
			 rte_strerror(rte_errno));
		goto fail_hash;
	}
	return t;

fail_hash:
	rte_free(t->entries);
	rte_free(t);
	return NULL;
fail_entries:
	rte_free(t);
fail_nomem:
	snprintf(err, errlen, "flow table '%s': cannot allocate %u flows", p->name, p->capacity);
	return NULL;
}

void
sl_flow_end(struct sl_flow_table *t, struct sl_flow *f, enum sl_flow_end_reason why)
{
	t->p.on_end(t->p.ctx, f, why);
	switch (why) {
	case SL_FLOW_END_CLOSED:
		t->st.ended_closed++;
		break;
	case SL_FLOW_END_TIMEOUT:
		t->st.ended_timeout++;
		break;
	case SL_FLOW_END_EVICTED:
		t->st.evicted++;
		break;
	default:
		break;
	}
	lru_unlink(t, f);
	rte_hash_del_key(t->hash, &f->key);
	f->in_use = 0;
	t->st.active--;
}

void
sl_flow_table_free(struct sl_flow_table *t)
{
	if (t == NULL)
		return;
	while (t->lru_head)
		sl_flow_end(t, entry_at(t, t->lru_head - 1), SL_FLOW_END_SHUTDOWN);
	rte_hash_free(t->hash);
	rte_free(t->entries);
	rte_free(t);
}

static inline int
key_equal(const struct sl_flow_key *a, const struct sl_flow_key *b)
{
	return memcmp(a, b, sizeof(*a)) == 0; /* constant size: inlined */
}

struct sl_flow *
sl_flow_lookup(struct sl_flow_table *t, const struct sl_flow_key *key, uint64_t now_ns, int create,
	       int *created)
{
	struct sl_flow *f;
	uint32_t hash;
	int32_t pos;

	*created = 0;
	/* The LRU tail is the flow of the previous lookup (or creation). */
	if (t->lru_tail) {
		f = entry_at(t, t->lru_tail - 1);
		if (key_equal(&f->key, key)) {
			f->last_ns = now_ns;
			t->st.recent++;
			return f;
		}
	}
	hash = sl_pkt_key_hash(key);
	pos = rte_hash_lookup_with_hash(t->hash, key, hash);
	if (likely(pos >= 0)) {
		f = entry_at(t, (uint32_t)pos);
		f->last_ns = now_ns;
		if (t->lru_tail != (uint32_t)pos + 1) {
			lru_unlink(t, f);
			lru_append(t, f);
		}
		return f;
	}
	if (!create)
		return NULL;
	/* Full: the least recently active flow makes room. */
	if (t->st.active >= t->capacity && t->lru_head)
		sl_flow_end(t, entry_at(t, t->lru_head - 1), SL_FLOW_END_EVICTED);
	pos = rte_hash_add_key_with_hash(t->hash, key, hash);
	if (unlikely(pos < 0)) {
		t->st.create_failed++;
		return NULL;
	}
	f = entry_at(t, (uint32_t)pos);
	memset(f, 0, sizeof(*f));
	if (t->p.on_create)
		t->p.on_create(t->p.ctx, f);
	else
		memset(sl_flow_user(f), 0, t->p.user_size);
	f->key = *key;
	f->id = ((uint64_t)t->p.worker_id << 48) | t->next_id++;
	f->first_ns = f->last_ns = now_ns;
	f->in_use = 1;
	lru_append(t, f);
	t->st.active++;
	t->st.created++;
	*created = 1;
	return f;
}

/* UDP, ICMP and ICMPv6 flows: datagrams with no connection to close them, hence their own
 * (shorter) idle timeout. */
static inline int
datagrams(uint8_t proto)
{
	return proto == 17 || sl_pkt_proto_icmp(proto);
}

unsigned
sl_flow_expire(struct sl_flow_table *t, uint64_t now_ns, unsigned budget)
{
	uint64_t tcp = t->p.idle_timeout_ns,
		 udp = t->p.udp_idle_timeout_ns ? t->p.udp_idle_timeout_ns : tcp;
	uint64_t shortest = udp < tcp ? udp : tcp;
	unsigned n = 0, kept = 0;
	uint32_t at = t->lru_head;

	/* The list runs from the least recently active: the first flow idle for less than the
	 * shortest timeout ends the walk. */
	while (n < budget && kept < 4 * budget && at) {
		struct sl_flow *f = entry_at(t, at - 1);
		uint64_t idle = now_ns - f->last_ns;

		if (idle < shortest || now_ns < f->last_ns)
			break;
		at = f->lru_next;
		if (idle < (datagrams(f->key.proto) ? udp : tcp)) {
			kept++;
			continue;
		}
		sl_flow_end(t, f, SL_FLOW_END_TIMEOUT);
		n++;
	}
	return n;
}

void
sl_flow_foreach(struct sl_flow_table *t, void (*fn)(void *ctx, struct sl_flow *f), void *ctx)
{
	for (uint32_t p = t->lru_head; p; p = entry_at(t, p - 1)->lru_next)
		fn(ctx, entry_at(t, p - 1));
}

void
sl_flow_stats_get(const struct sl_flow_table *t, struct sl_flow_stats *out)
{
	*out = t->st;
}
