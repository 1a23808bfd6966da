/* Unit tests of sl_flow: lookup/create, LRU eviction when full, idle expiry, end callbacks. */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_common.h>
#include <rte_eal.h>
#include <rte_malloc.h>

#include "sl_flow.h"

static unsigned ended[SL_FLOW_END_COUNT];
static uint64_t last_ended_id;

static void
on_end(void *ctx, struct sl_flow *f, enum sl_flow_end_reason why)
{
	(void)ctx;
	CU_ASSERT_FATAL(f->in_use);
	ended[why]++;
	last_ended_id = f->id;
}

static struct sl_flow_key
mkkey(uint32_t n)
{
	struct sl_flow_key k;

	memset(&k, 0, sizeof(k));
	k.ipver = 4;
	k.proto = 6;
	k.addr[0][0] = 198;
	k.addr[0][1] = 18;
	memcpy(&k.addr[0][2], &n, 2);
	k.addr[1][0] = 198;
	k.addr[1][1] = 19;
	k.port[0] = (uint16_t)(1024 + n);
	k.port[1] = 80;
	return k;
}

static struct sl_flow_table *
mktable(const char *name, uint32_t cap)
{
	char err[256];
	struct sl_flow_params p = {
	    .name = name,
	    .capacity = cap,
	    .user_size = 100,
	    .idle_timeout_ns = 1000,
	    .worker_id = 3,
	    .socket_id = 0,
	    .on_end = on_end,
	};
	struct sl_flow_table *t = sl_flow_table_create(&p, err, sizeof(err));

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	memset(ended, 0, sizeof(ended));
	return t;
}

static struct sl_flow *
get(struct sl_flow_table *t, uint32_t n, uint64_t now, int create, int *created)
{
	struct sl_flow_key k = mkkey(n);

	return sl_flow_lookup(t, &k, now, create, created);
}

static void
test_lookup_create(void)
{
	struct sl_flow_table *t = mktable("t_lookup", 16);
	int created;
	struct sl_flow *a = get(t, 1, 10, 1, &created);

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(created, 1);
	CU_ASSERT_EQUAL(a->id >> 48, 3);
	CU_ASSERT_PTR_EQUAL(get(t, 1, 11, 1, &created), a);
	CU_ASSERT_EQUAL(created, 0);
	CU_ASSERT_EQUAL(a->last_ns, 11);
	CU_ASSERT_PTR_NULL(get(t, 2, 12, 0, &created));
	struct sl_flow *b = get(t, 2, 12, 1, &created);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_NOT_EQUAL(a->id, b->id);
	/* user area is zeroed, aligned and does not overlap the next entry */
	uint8_t *u = sl_flow_user(b);
	CU_ASSERT_EQUAL((uintptr_t)u % 64, 0);
	for (int i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(u[i], 0);
	memset(u, 0xff, 100);
	CU_ASSERT_EQUAL(a->key.port[0], 1025);
	struct sl_flow_stats st;
	sl_flow_stats_get(t, &st);
	CU_ASSERT_EQUAL(st.active, 2);
	CU_ASSERT_EQUAL(st.created, 2);
	sl_flow_table_free(t);
	CU_ASSERT_EQUAL(ended[SL_FLOW_END_SHUTDOWN], 2);
}

/* A train of packets of one flow skips the hash table; the shortcut never returns a flow that
 * ended or one with another key. */
static void
test_recent_flow(void)
{
	struct sl_flow_table *t = mktable("t_recent", 16);
	struct sl_flow_stats st;
	int created;
	struct sl_flow *a = get(t, 1, 10, 1, &created);

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_EQUAL(get(t, 1, 11, 0, &created), a); /* recent */
	CU_ASSERT_PTR_EQUAL(get(t, 1, 12, 0, &created), a); /* recent */
	CU_ASSERT_EQUAL(a->last_ns, 12);
	struct sl_flow *b = get(t, 2, 13, 1, &created);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(created, 1);
	CU_ASSERT_PTR_EQUAL(get(t, 1, 14, 0, &created), a); /* through the table */
	CU_ASSERT_EQUAL(a->last_ns, 14);
	sl_flow_stats_get(t, &st);
	CU_ASSERT_EQUAL(st.recent, 2);
	/* a was the previous lookup's flow: once ended it is not found, recent or not */
	sl_flow_end(t, a, SL_FLOW_END_CLOSED);
	CU_ASSERT_PTR_NULL(get(t, 1, 15, 0, &created));
	CU_ASSERT_PTR_EQUAL(get(t, 2, 16, 0, &created), b); /* recent: b is the LRU tail now */
	sl_flow_end(t, b, SL_FLOW_END_CLOSED);
	CU_ASSERT_PTR_NULL(get(t, 2, 17, 0, &created));
	sl_flow_stats_get(t, &st);
	CU_ASSERT_EQUAL(st.recent, 3);
	CU_ASSERT_EQUAL(st.active, 0);
	sl_flow_table_free(t);
}

static void
test_evict_oldest_idle(void)
{
	struct sl_flow_table *t = mktable("t_evict", 8);
	int created;
	uint64_t first_id = 0;

	for (uint32_t i = 0; i < 8; i++) {
		struct sl_flow *f = get(t, i, 100 + i, 1, &created);
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		if (i == 1)
			first_id = f->id;
	}
	/* Touch flow 0 so flow 1 becomes the least recently active. */
	get(t, 0, 200, 0, &created);
	CU_ASSERT_PTR_NOT_NULL(get(t, 100, 201, 1, &created));
	CU_ASSERT_EQUAL(ended[SL_FLOW_END_EVICTED], 1);
	CU_ASSERT_EQUAL(last_ended_id, first_id);
	CU_ASSERT_PTR_NULL(get(t, 1, 202, 0, &created));
	CU_ASSERT_PTR_NOT_NULL(get(t, 0, 202, 0, &created));
	/* Many more flows than capacity: the table never exceeds it and never fails. */
	for (uint32_t i = 1000; i < 1100; i++)
		CU_ASSERT_PTR_NOT_NULL(get(t, i, 300 + i, 1, &created));
	struct sl_flow_stats st;
	sl_flow_stats_get(t, &st);
	CU_ASSERT_EQUAL(st.active, 8);
	CU_ASSERT_EQUAL(st.evicted, 101);
	CU_ASSERT_EQUAL(st.create_failed, 0);
	sl_flow_table_free(t);
}

/* UDP and ICMP flows (a shorter timeout) expire from behind TCP flows that must stay. */
static void
test_expire_udp_sooner(void)
{
	static const uint8_t proto[6] = {6, 17, 6, 1, 6, 58}; /* TCP, UDP, ICMP, ICMPv6 */
	char err[256];
	struct sl_flow_params p = {
	    .name = "t_expire_udp",
	    .capacity = 64,
	    .user_size = 8,
	    .idle_timeout_ns = 1000,
	    .udp_idle_timeout_ns = 100,
	    .on_end = on_end,
	};
	struct sl_flow_table *t = sl_flow_table_create(&p, err, sizeof(err));
	int created;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	memset(ended, 0, sizeof(ended));
	/* Oldest first, at times 0, 10, ... 50. */
	for (uint32_t i = 0; i < 6; i++) {
		struct sl_flow_key k = mkkey(i);

		k.proto = proto[i];
		CU_ASSERT_PTR_NOT_NULL(sl_flow_lookup(t, &k, i * 10, 1, &created));
	}
	CU_ASSERT_EQUAL(sl_flow_expire(t, 105, 64), 0);	 /* nothing idle for 100 yet */
	CU_ASSERT_EQUAL(sl_flow_expire(t, 155, 64), 3);	 /* UDP, ICMP, ICMPv6, past TCP ones */
	CU_ASSERT_EQUAL(sl_flow_expire(t, 1000, 64), 1); /* TCP 0 */
	CU_ASSERT_EQUAL(sl_flow_expire(t, 1050, 64), 2); /* TCP 2 and 4 */
	CU_ASSERT_EQUAL(ended[SL_FLOW_END_TIMEOUT], 6);
	sl_flow_table_free(t);
}

static void
test_expire(void)
{
	struct sl_flow_table *t = mktable("t_expire", 64);
	int created;

	for (uint32_t i = 0; i < 10; i++)
		get(t, i, i * 100, 1, &created);
	/* timeout 1000: at 1450, flows last seen at 0..400 are idle for >= 1000 ns */
	CU_ASSERT_EQUAL(sl_flow_expire(t, 1450, 64), 5);
	CU_ASSERT_EQUAL(ended[SL_FLOW_END_TIMEOUT], 5);
	/* budget is respected */
	CU_ASSERT_EQUAL(sl_flow_expire(t, 100000, 2), 2);
	struct sl_flow *f = get(t, 9, 100000, 0, &created);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	sl_flow_end(t, f, SL_FLOW_END_CLOSED);
	CU_ASSERT_EQUAL(ended[SL_FLOW_END_CLOSED], 1);
	CU_ASSERT_PTR_NULL(get(t, 9, 100001, 0, &created));
	struct sl_flow_stats st;
	sl_flow_stats_get(t, &st);
	CU_ASSERT_EQUAL(st.active, 2);
	CU_ASSERT_EQUAL(st.ended_timeout, 7);
	CU_ASSERT_EQUAL(st.ended_closed, 1);
	sl_flow_table_free(t);
	CU_ASSERT_EQUAL(ended[SL_FLOW_END_SHUTDOWN], 2);
}

static unsigned visited;
static void
count_fn(void *ctx, struct sl_flow *f)
{
	(void)ctx;
	(void)f;
	visited++;
}

static void
test_foreach_reuse(void)
{
	struct sl_flow_table *t = mktable("t_foreach", 32);
	int created;

	for (int round = 0; round < 50; round++) {
		for (uint32_t i = 0; i < 20; i++)
			CU_ASSERT_PTR_NOT_NULL(get(t, i + round, round * 10 + i, 1, &created));
		visited = 0;
		sl_flow_foreach(t, count_fn, NULL);
		CU_ASSERT(visited <= 32);
		sl_flow_expire(t, 1u << 30, 1000);
	}
	struct sl_flow_stats st;
	sl_flow_stats_get(t, &st);
	CU_ASSERT_EQUAL(st.active, 0);
	sl_flow_table_free(t);
}

/* Random creates, lookups, ends and evictions on a small table, checked against a model of
 * which keys are in and under which flow id: a flow lost (found absent, created twice) or a
 * stale one found fails. 256 keys for a capacity of 24 keep the table full and its hash buckets
 * shared (the flow hash is a CRC, linear in the key: a few keys differing in one field all land
 * in different buckets). */
static void
test_churn_against_model(void)
{
	enum { KEYS = 256, CAP = 24 };
	struct sl_flow_table *t = mktable("churn", CAP);
	uint64_t id_of[KEYS] = {0};
	unsigned in = 0, seed = 12345;

	for (unsigned step = 0; step < 200000; step++) {
		uint32_t k, op;
		struct sl_flow_key key;
		struct sl_flow *f;
		int created;

		seed = seed * 1103515245u + 12345u;
		k = (seed >> 8) % KEYS;
		op = (seed >> 20) % 4;
		key = mkkey(k);
		f = sl_flow_lookup(t, &key, step, op != 0, &created);
		if (op == 0) { /* lookup only */
			CU_ASSERT_EQUAL((f != NULL), (id_of[k] != 0));
			if (f)
				CU_ASSERT_EQUAL(f->id, id_of[k]);
		} else if (id_of[k]) {
			CU_ASSERT_FATAL(f != NULL && !created && f->id == id_of[k]);
		} else {
			CU_ASSERT_FATAL(f != NULL && created);
			if (in == CAP) { /* the least recently active flow made room */
				for (unsigned j = 0; j < KEYS; j++)
					if (id_of[j] == last_ended_id)
						id_of[j] = 0;
			} else {
				in++;
			}
			id_of[k] = f->id;
			CU_ASSERT(memcmp(&f->key, &key, sizeof(key)) == 0);
		}
		if (op == 3 && f) { /* and end it */
			sl_flow_end(t, f, SL_FLOW_END_CLOSED);
			id_of[k] = 0;
			in--;
		}
	}
	for (uint32_t k = 0; k < KEYS; k++) {
		struct sl_flow_key key = mkkey(k);
		int created;

		CU_ASSERT_EQUAL(sl_flow_lookup(t, &key, 0, 0, &created) != NULL, id_of[k] != 0);
	}
	sl_flow_table_free(t);
}

/* sl_flow_table_mem_size sizes a heap before tables are made in it (sl_mem.h): it must bound
 * what a table really takes, rte_hash included, for small and large capacities. */
static void
test_mem_size_bounds_use(void)
{
	static const uint32_t caps[] = {8, 1000, 4097, 16384, 65536};

	for (unsigned i = 0; i < RTE_DIM(caps); i++) {
		struct rte_malloc_socket_stats before, after;
		char name[32];

		snprintf(name, sizeof(name), "mem_%u", caps[i]);
		rte_malloc_get_socket_stats(0, &before);
		struct sl_flow_table *t = mktable(name, caps[i]);
		rte_malloc_get_socket_stats(0, &after);
		struct sl_flow_params p = {.capacity = caps[i], .user_size = 100};
		size_t used = after.heap_allocsz_bytes - before.heap_allocsz_bytes;

		CU_ASSERT(used > 0);
		CU_ASSERT(used <= sl_flow_table_mem_size(&p));
		if (used > sl_flow_table_mem_size(&p))
			fprintf(stderr, "capacity %u: %zu bytes used, %zu estimated\n", caps[i],
				used, sl_flow_table_mem_size(&p));
		sl_flow_table_free(t);
	}
}

int
main(void)
{
	char *eal[] = {"test_flow",   "--no-huge",	   "-m", "256", "--no-pci",
		       "--no-shconf", "--log-level=error", "-l", "0",	"--no-telemetry"};

	if (rte_eal_init(RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	CU_initialize_registry();
	CU_pSuite s = CU_add_suite("flow", NULL, NULL);
	CU_add_test(s, "lookup and create", test_lookup_create);
	CU_add_test(s, "previous flow found without the table", test_recent_flow);
	CU_add_test(s, "evict least recently active when full", test_evict_oldest_idle);
	CU_add_test(s, "idle expiry and close", test_expire);
	CU_add_test(s, "UDP and ICMP flows expire sooner, from behind TCP ones",
		    test_expire_udp_sooner);
	CU_add_test(s, "foreach and slot reuse", test_foreach_reuse);
	CU_add_test(s, "random churn matches a model of the table", test_churn_against_model);
	CU_add_test(s, "memory size bounds what a table takes", test_mem_size_bounds_use);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	rte_eal_cleanup();
	return fails != 0;
}
