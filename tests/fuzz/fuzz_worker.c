/* libFuzzer target for the whole worker pipeline (app/sluice/sl_worker.c): every stage chained as
 * in sluice, on frames the input describes. Random bytes rarely make a TCP session, so most
 * records build frames of a few flows (TCP, or UDP or ICMP echo, IPv4 or IPv6, either direction)
 * whose payload, sequence numbers, flags and IP fragmentation come from the input; other records
 * are raw frames. Ports: 0 is inline (drop and reset), 1 a mirror with an injection port, 2 a plain
 * mirror; the policy denies every default sensor in protect mode, so blocking, resets and the
 * fail policy are reached. Events go through the real writer thread to /dev/null (formatting
 * hostile HTTP fields).
 *
 * Besides ASan and UBSan: every verdict is forward or drop, every reset the worker makes is a
 * TCP RST that sl_pkt_parse accepts, and once the input's flows are drained every packet buffer
 * is back in its pool (reassembly and IP defragmentation hold none).
 *
 * Build (from the repository root; the DPDK EAL runs without hugepages):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DSL_SOURCE_DIR=\"$PWD\" \
 *     -I app/sluice $(find lib -mindepth 1 -maxdepth 1 -printf '-I %p ') \
 *     $(pkg-config --cflags libdpdk libhs libconfig jansson) -include rte_config.h \
 *     tests/fuzz/fuzz_worker.c app/sluice/sl_worker.c app/sluice/sl_ruleset.c \
 *     $(find lib -name '*.c') -lisal -lm -o /tmp/fuzz_worker \
 *     $(pkg-config --libs libdpdk libhs libconfig jansson libcrypto zlib libzstd libbrotlidec)
 *   /tmp/fuzz_worker -max_len=4096 -dict=tests/fuzz/worker.dict CORPUS_DIR
 * With FUZZ_WORKER_STATS set it prints, at exit, the worker's counters summed over the inputs
 * run (e.g. over a corpus with -runs=0), to see which paths the corpus reaches. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "sl_ruleset.h"
#include "sl_worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define POOL  2047
#define BURST 8

static struct rte_mempool *mp;
static struct sl_conf conf;
static struct sl_ruleset *rs;
static struct sl_event_out *events;
static struct sl_worker *w;
static uint8_t port_enforce[RTE_MAX_ETHPORTS] = {SL_ENFORCE_DROP, SL_ENFORCE_RESET};
static uint16_t port_out[RTE_MAX_ETHPORTS] = {3, 4};
static struct rte_ether_addr port_mac[RTE_MAX_ETHPORTS];

static void
check(int ok)
{
	if (!ok)
		abort();
}

/* The worker lives as long as the process, and keeps its pointers to malloc'd state in DPDK's
 * memory, where LeakSanitizer does not look: what sl_worker_create allocates is not a leak.
 * Anything allocated while inputs run still is. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:sl_worker_create\n";
}

/* At exit: the counters if asked, then everything freed. */
static void
teardown(void)
{
	struct sl_worker_stats st;

	sl_worker_stats_get(w, &st, NULL, NULL, NULL);
	sl_worker_free(w);
	sl_event_out_free(events);
	sl_ruleset_free(rs);
	sl_conf_free(&conf);
	if (!getenv("FUZZ_WORKER_STATS"))
		return;
#define SL_X(f, s) fprintf(stderr, "%-28s %" PRIu64 "\n", s, st.f);
	SL_WORKER_COUNTERS(SL_X)
#undef SL_X
	for (unsigned e = 0; e < SL_PKT_ERR_COUNT; e++)
		fprintf(stderr, "packet error %-15s %" PRIu64 "\n", sl_pkt_error_name(e),
			st.pkt_errors[e]);
	fprintf(stderr, "%-28s %" PRIu64 "\n", "ip datagrams reassembled", st.frag.reassembled);
}

static void
setup(void)
{
	char *eal[] = {"fuzz_worker", "--no-huge",	   "-m", "512", "--no-pci",
		       "--no-shconf", "--log-level=error", "-l", "0",	"--no-telemetry"};
	char err[256];

	/* OpenSSL's configuration file, loaded on first use (SHA1 of Community IDs), leaves a
	 * thread's error state that LeakSanitizer reports at exit; none is needed here. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	check(rte_eal_init(RTE_DIM(eal), eal) >= 0);
	mp = rte_pktmbuf_pool_create("fz", POOL, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	check(mp != NULL);
	check(sl_conf_load(&conf, SL_SOURCE_DIR "/config/sluice.conf", NULL, 0, err, sizeof(err)) ==
	      0);
	/* Small everything, so that caps, eviction and pools run out. */
	conf.flow_capacity = 16;
	conf.http_flows = 4;
	conf.http_inflate = 2;
	conf.http_max_line = 256;
	conf.http_max_headers = 16;
	conf.http_max_body = 1 << 16;
	conf.reasm_bytes_per_flow = 4096;
	conf.reasm_bytes_per_worker = 16384;
	conf.reasm_segments = 64;
	conf.defrag_datagrams = 4;
	conf.on_uninspectable = SL_CONF_UNINSPECTABLE_DENY;
	conf.policy.mode = SL_POLICY_MODE_PROTECT;
	conf.n_rules = 1;
	memset(&conf.rules[0], 0, sizeof(conf.rules[0]));
	strcpy(conf.rules[0].from, "any");
	strcpy(conf.rules[0].to, "any");
	for (unsigned i = 0; i < conf.n_sensors && i < RTE_DIM(conf.rules[0].sensors); i++)
		strcpy(conf.rules[0].sensors[conf.rules[0].n_sensors++], conf.sensors[i].name);
	conf.rules[0].action = SL_POLICY_DENY;
	rs = sl_ruleset_build(&conf, 1, 1, err, sizeof(err));
	check(rs != NULL);
	events = sl_event_out_create("/dev/null", 256, err, sizeof(err));
	check(events != NULL && sl_event_out_start(events) == 0);
	struct sl_worker_params p = {
	    .conf = &conf,
	    .rs_slot = &rs,
	    .events = events,
	    .tx_pool = mp,
	    .port_enforce = port_enforce,
	    .port_out = port_out,
	    .port_mac = port_mac,
	};
	w = sl_worker_create(&p, err, sizeof(err));
	check(w != NULL);
	atexit(teardown);
}

/* Reads n bytes of the input (zeros past its end). */
struct input {
	const uint8_t *p;
	size_t left;
};

static uint32_t
take(struct input *in, unsigned n)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < n; i++) {
		v = v << 8 | (in->left ? *in->p : 0);
		if (in->left)
			in->p++, in->left--;
	}
	return v;
}

/* Per flow and direction: the next sequence number of the structured TCP frames. */
static uint32_t next_seq[4][2];

/* Writes the frame of flow `flow` (0-3: TCP or a datagram by bit 1, IPv6 by bit 0) in
 * direction dir, with the given TCP flags and sequence number and payload, into out; returns its
 * length. A datagram is UDP, or with icmp an ICMP (ICMPv6) echo: a request from the client (dir
 * 0), a reply from the server. */
static uint16_t
build(uint8_t *out, unsigned flow, int dir, uint8_t flags, uint32_t seq, const uint8_t *payload,
      uint16_t plen, int icmp)
{
	int udp = flow & 2, v6 = flow & 1;
	uint16_t l3 = 14, l4 = (uint16_t)(l3 + (v6 ? 40 : 20)), hl = udp ? 8 : 20;
	uint8_t *ip = out + l3, *t = out + l4, proto = !udp ? 6 : !icmp ? 17 : v6 ? 58 : 1;

	memset(out, 0, l4 + hl);
	out[5] = (uint8_t)(2 - dir), out[11] = (uint8_t)(1 + dir);
	out[12] = v6 ? 0x86 : 0x08, out[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (uint8_t)((hl + plen) >> 8), ip[5] = (uint8_t)(hl + plen);
		ip[6] = proto, ip[7] = 64;
		ip[8] = 0x20, ip[9] = 0x01, ip[10] = 0x0d, ip[11] = 0xb8; /* 2001:db8::1 and ::2 */
		ip[24] = 0x20, ip[25] = 0x01, ip[26] = 0x0d, ip[27] = 0xb8;
		ip[23 + (dir ? 16 : 0)] = 1, ip[39 - (dir ? 16 : 0)] = 2;
	} else {
		struct rte_ipv4_hdr *h = (void *)ip;

		h->version_ihl = 0x45;
		h->total_length = rte_cpu_to_be_16((uint16_t)(20 + hl + plen));
		h->time_to_live = 64;
		h->next_proto_id = proto;
		h->src_addr = rte_cpu_to_be_32(dir ? 0xc6130002 : 0xc6120001);
		h->dst_addr = rte_cpu_to_be_32(dir ? 0xc6120001 : 0xc6130002);
	}
	uint16_t cport = (uint16_t)(40000 + flow), sport = udp ? 514 : 80;
	t[0] = (uint8_t)((dir ? sport : cport) >> 8), t[1] = (uint8_t)(dir ? sport : cport);
	t[2] = (uint8_t)((dir ? cport : sport) >> 8), t[3] = (uint8_t)(dir ? cport : sport);
	if (icmp) { /* type, code 0, checksum 0, identifier cport, sequence number */
		t[0] = v6 ? (dir ? 129 : 128) : (dir ? 0 : 8);
		t[1] = t[2] = t[3] = 0;
		t[4] = (uint8_t)(cport >> 8), t[5] = (uint8_t)cport;
		t[6] = (uint8_t)(seq >> 8), t[7] = (uint8_t)seq;
	} else if (udp) {
		t[4] = (uint8_t)((8 + plen) >> 8), t[5] = (uint8_t)(8 + plen);
	} else {
		struct rte_tcp_hdr *h = (void *)t;

		h->sent_seq = rte_cpu_to_be_32(seq);
		h->recv_ack = rte_cpu_to_be_32(next_seq[flow][!dir]);
		h->data_off = 5 << 4;
		h->tcp_flags = flags;
		h->rx_win = rte_cpu_to_be_16(65535);
	}
	memcpy(t + hl, payload, plen);
	return (uint16_t)(l4 + hl + plen);
}

/* Splits the IPv4 frame f (len bytes) into two fragments cut at 8-byte unit `cut` of its IP
 * payload: writes the second into g and shortens f. Returns g's length, 0 if it cannot. */
static uint16_t
fragment(uint8_t *f, uint16_t *len, uint8_t *g, unsigned cut)
{
	uint16_t l3 = 14, payload = (uint16_t)(*len - l3 - 20), off = (uint16_t)(cut * 8);
	struct rte_ipv4_hdr *a = (void *)(f + l3), *b = (void *)(g + l3);

	if (f[12] != 0x08 || off == 0 || off >= payload)
		return 0;
	memcpy(g, f, l3 + 20);
	memcpy(g + l3 + 20, f + l3 + 20 + off, payload - off);
	a->total_length = rte_cpu_to_be_16((uint16_t)(20 + off));
	a->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
	b->total_length = rte_cpu_to_be_16((uint16_t)(20 + payload - off));
	b->fragment_offset = rte_cpu_to_be_16((uint16_t)(off / 8));
	a->packet_id = b->packet_id = rte_cpu_to_be_16(7);
	*len = (uint16_t)(l3 + 20 + off);
	return (uint16_t)(l3 + 20 + payload - off);
}

static void
run(struct rte_mbuf **pkts, uint16_t n, uint64_t now)
{
	uint8_t verdict[BURST];
	struct rte_mbuf **inj;
	const uint16_t *inj_port;

	if (n == 0)
		return;
	sl_worker_process(w, pkts, n, verdict, now);
	for (uint16_t i = 0; i < n; i++) {
		check(verdict[i] == SL_VERDICT_FORWARD || verdict[i] == SL_VERDICT_DROP);
		rte_pktmbuf_free(pkts[i]);
	}
	uint16_t k = sl_worker_injected(w, &inj, &inj_port);
	for (uint16_t i = 0; i < k; i++) {
		struct sl_pkt_info pi;

		check(sl_pkt_parse(rte_pktmbuf_mtod(inj[i], const uint8_t *),
				   rte_pktmbuf_data_len(inj[i]), &pi) == SL_PKT_OK);
		check(pi.key.proto == 6 && (pi.tcp_flags & SL_PKT_TCP_RST));
		check(inj_port[i] <= 4);
		rte_pktmbuf_free(inj[i]);
	}
	sl_worker_inject_reset(w);
}

static void
add(struct rte_mbuf **pkts, uint16_t *n, const uint8_t *frame, uint16_t len, uint16_t port,
    uint64_t now)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	char *d;

	check(m != NULL); /* the pool never runs dry: every input returns all it took */
	d = rte_pktmbuf_append(m, len);
	check(d != NULL);
	memcpy(d, frame, len);
	m->port = port;
	pkts[(*n)++] = m;
	if (*n == BURST) {
		run(pkts, *n, now);
		*n = 0;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct rte_mbuf *pkts[BURST];
	uint8_t frame[2048], second[2048];
	uint64_t now = 1000000000ull;
	uint16_t n = 0;

	if (w == NULL)
		setup();
	memset(next_seq, 0, sizeof(next_seq));
	while (in.left) {
		/* op: bits 0-1 flow, 2 direction, 3-4 port, 5 fragment, 6 raw frame, 7 tick */
		uint8_t op = (uint8_t)take(&in, 1);
		uint16_t port = (uint16_t)((op >> 3) & 3) % 3, len;

		if (op & 0x80) {
			now += (uint64_t)take(&in, 1) << 28; /* up to about a minute */
			run(pkts, n, now);
			n = 0;
			sl_worker_tick(w, now);
			continue;
		}
		if (op & 0x40) { /* a raw frame */
			len = (uint16_t)(take(&in, 2) % sizeof(frame));
			len = (uint16_t)(len < in.left ? len : in.left);
			memcpy(frame, in.p, len);
			in.p += len, in.left -= len;
			if (len)
				add(pkts, &n, frame, len, port, now);
			continue;
		}
		unsigned flow = op & 3;
		int dir = (op >> 2) & 1;
		uint8_t flags = (uint8_t)take(&in, 1);
		uint8_t seqmode = (uint8_t)take(&in, 1);
		uint16_t plen = (uint16_t)(take(&in, 2) % 1400);
		uint32_t seq = next_seq[flow][dir];

		plen = (uint16_t)(plen < in.left ? plen : in.left);
		if (seqmode & 0x80) /* out of order, overlapping, retransmitted */
			seq += (uint32_t)(int8_t)seqmode * 16;
		/* flags: TCP's, or for a datagram bit 6 makes it an ICMP echo */
		len = build(frame, flow, dir, flags & 0x3f, seq, in.p, plen,
			    (flow & 2) && (flags & 0x40));
		in.p += plen, in.left -= plen;
		if (!(flow & 2)) {
			uint32_t end =
			    seq + plen + !!(flags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG));

			if ((int32_t)(end - next_seq[flow][dir]) > 0)
				next_seq[flow][dir] = end;
		}
		uint16_t len2 = (op & 0x20) ? fragment(frame, &len, second, seqmode & 0x7f) : 0;
		if (len2 && (seqmode & 1)) { /* the last fragment first */
			add(pkts, &n, second, len2, port, now);
			add(pkts, &n, frame, len, port, now);
		} else {
			add(pkts, &n, frame, len, port, now);
			if (len2)
				add(pkts, &n, second, len2, port, now);
		}
	}
	run(pkts, n, now);
	/* Every flow ends, and with it every held buffer; fragments still waiting are given up
	 * by a tick past their timeout. */
	sl_worker_drain(w);
	sl_worker_tick(w, now + 3600 * 1000000000ull);
	check(rte_mempool_avail_count(mp) == POOL);
	return 0;
}
