/* Unit tests of the worker pipeline (app/sluice/sl_worker.c) on frames built here: verdicts,
 * deny with resets, the fail policy, and a ruleset switch in the middle of a value. Needs the EAL
 * for mbufs and the flow table, not hugepages. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_common.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_thash.h>
#include <rte_udp.h>

#include "sl_run.h"

#include "sl_ruleset.h"
#include "sl_worker.h"

/* A generated NIR: 1 85 05 78 006 084, key = 97 - (1850578006084 mod 97). */
static char nir[16];
static struct rte_mempool *mp;
static uint8_t port_enforce[RTE_MAX_ETHPORTS];
static uint16_t port_out[RTE_MAX_ETHPORTS];
static struct rte_ether_addr port_mac[RTE_MAX_ETHPORTS];

static void
make_nir(void)
{
	unsigned long long n = 1850578006084ull;

	snprintf(nir, sizeof(nir), "%llu%02llu", n, 97 - n % 97);
}

/* A TCP frame 198.18.0.1:40000 -> 198.19.0.2:80 (dir 0) or back (dir 1), from port `port`. */
static struct rte_mbuf *
frame(int dir, uint32_t seq, uint32_t ack, uint8_t flags, const char *payload, uint16_t port)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	size_t plen = payload ? strlen(payload) : 0;
	uint8_t *p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	if (rte_pktmbuf_append(m, (uint16_t)(54 + plen)) == NULL)
		CU_FAIL_FATAL("append");
	p = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ipv4_hdr *ip = (void *)(p + 14);
	struct rte_tcp_hdr *tcp = (void *)(p + 34);

	memset(p, 0, 54);
	p[0] = 0x02, p[5] = dir ? 1 : 2;
	p[6] = 0x02, p[11] = dir ? 2 : 1;
	p[12] = 0x08;
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(40 + plen));
	ip->time_to_live = 64;
	ip->next_proto_id = 6;
	ip->src_addr = rte_cpu_to_be_32(dir ? 0xc6130002 : 0xc6120001);
	ip->dst_addr = rte_cpu_to_be_32(dir ? 0xc6120001 : 0xc6130002);
	tcp->src_port = rte_cpu_to_be_16(dir ? 80 : 40000);
	tcp->dst_port = rte_cpu_to_be_16(dir ? 40000 : 80);
	tcp->sent_seq = rte_cpu_to_be_32(seq);
	tcp->recv_ack = rte_cpu_to_be_32(ack);
	tcp->data_off = 5 << 4;
	tcp->tcp_flags = flags;
	if (plen)
		memcpy(p + 54, payload, plen);
	m->port = port;
	return m;
}

/* A UDP datagram 198.18.0.1:5353 -> 198.19.0.2:514 (dir 0) or back (dir 1), from `port`. */
static struct rte_mbuf *
udp_frame(int dir, const char *payload, uint16_t port)
{
	struct rte_mbuf *m = frame(dir, 0, 0, 0, payload, port);
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ipv4_hdr *ip = (void *)(p + 14);
	size_t plen = strlen(payload);

	/* The TCP header's 20 bytes become a UDP header and 12 bytes of payload room. */
	rte_pktmbuf_trim(m, 12);
	memmove(p + 42, p + 54, plen);
	ip->total_length = rte_cpu_to_be_16((uint16_t)(28 + plen));
	ip->next_proto_id = 17;
	struct rte_udp_hdr *udp = (void *)(p + 34);
	udp->src_port = rte_cpu_to_be_16(dir ? 514 : 5353);
	udp->dst_port = rte_cpu_to_be_16(dir ? 5353 : 514);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + plen));
	udp->dgram_cksum = 0;
	return m;
}

/* An ICMP echo message of `type` (ICMP's, or ICMPv6's with v6) with identifier id, from
 * 198.18.0.1 to 198.19.0.2 (2001:db8::1 to 2001:db8::2 with v6) when dir is 0, or back, from
 * port `port`. Any other type makes another ICMP message with the payload after its header. */
static struct rte_mbuf *
icmp_frame(int v6, int dir, uint8_t type, uint16_t id, const char *payload, uint16_t port)
{
	static const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	static const uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	size_t plen = strlen(payload), l3 = v6 ? 40 : 20;
	uint8_t *p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	if (rte_pktmbuf_append(m, (uint16_t)(14 + l3 + 8 + plen)) == NULL)
		CU_FAIL_FATAL("append");
	p = rte_pktmbuf_mtod(m, uint8_t *);
	memset(p, 0, 14 + l3 + 8);
	p[0] = 0x02, p[5] = dir ? 1 : 2;
	p[6] = 0x02, p[11] = dir ? 2 : 1;
	p[12] = v6 ? 0x86 : 0x08, p[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		struct rte_ipv6_hdr *ip = (void *)(p + 14);

		ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16((uint16_t)(8 + plen));
		ip->proto = 58;
		ip->hop_limits = 64;
		memcpy(ip->src_addr, dir ? b6 : a6, 16);
		memcpy(ip->dst_addr, dir ? a6 : b6, 16);
	} else {
		struct rte_ipv4_hdr *ip = (void *)(p + 14);

		ip->version_ihl = 0x45;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(28 + plen));
		ip->time_to_live = 64;
		ip->next_proto_id = 1;
		ip->src_addr = rte_cpu_to_be_32(dir ? 0xc6130002 : 0xc6120001);
		ip->dst_addr = rte_cpu_to_be_32(dir ? 0xc6120001 : 0xc6130002);
	}
	p[14 + l3] = type;
	p[14 + l3 + 4] = (uint8_t)(id >> 8), p[14 + l3 + 5] = (uint8_t)id;
	p[14 + l3 + 7] = 1; /* sequence number */
	memcpy(p + 14 + l3 + 8, payload, plen);
	m->port = port;
	return m;
}

static struct sl_conf conf;

static struct sl_ruleset *
ruleset(const char *policy_mode, int deny)
{
	char err[256];
	struct sl_conf c = conf;

	c.policy.mode =
	    !strcmp(policy_mode, "protect") ? SL_POLICY_MODE_PROTECT : SL_POLICY_MODE_MONITOR;
	c.n_rules = 0;
	if (deny) {
		c.n_rules = 1;
		memset(&c.rules[0], 0, sizeof(c.rules[0]));
		strcpy(c.rules[0].from, "any");
		strcpy(c.rules[0].to, "any");
		strcpy(c.rules[0].sensors[0], "fr_ssn");
		c.rules[0].n_sensors = 1;
		c.rules[0].action = SL_POLICY_DENY;
	}
	struct sl_ruleset *rs = sl_ruleset_build(&c, 1, 1, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(rs);
	return rs;
}

/* A worker on the test's ports, its events to `events` (NULL: counted only). */
static struct sl_worker *
worker_to(struct sl_ruleset **slot, struct sl_event_out *events)
{
	char err[256];
	struct sl_worker_params p = {
	    .id = 0,
	    .conf = &conf,
	    .rs_slot = slot,
	    .events = events,
	    .tx_pool = mp,
	    .port_enforce = port_enforce,
	    .port_out = port_out,
	    .port_mac = port_mac,
	};
	struct sl_worker *w = sl_worker_create(&p, err, sizeof(err));

	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	return w;
}

static struct sl_worker *
worker(struct sl_ruleset **slot)
{
	return worker_to(slot, NULL);
}

/* Processes one frame, frees it, returns its verdict. */
static uint8_t
one(struct sl_worker *w, struct rte_mbuf *m)
{
	uint8_t v;

	sl_worker_process(w, &m, 1, &v, 1000);
	rte_pktmbuf_free(m);
	return v;
}

static struct sl_worker_stats
stats(struct sl_worker *w)
{
	struct sl_worker_stats s;

	sl_worker_stats_get(w, &s, NULL, NULL, NULL);
	return s;
}

static void
handshake(struct sl_worker *w, uint16_t port)
{
	CU_ASSERT_EQUAL(one(w, frame(0, 1000, 0, RTE_TCP_SYN_FLAG, NULL, port)),
			SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(
	    one(w, frame(1, 5000, 1001, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, port)),
	    SL_VERDICT_FORWARD);
}

/* A new flow's state is set up field by field over whatever its flow-table slot held: flows that
 * reuse slots of flows that alerted, spoke HTTP and ended must behave like fresh ones. */
static void
test_reused_slots_start_clean(void)
{
	struct sl_ruleset *rs = ruleset("monitor", 0);
	uint32_t cap = conf.flow_capacity;
	char a[64], b[64], req[160];

	conf.flow_capacity = 8; /* slots are reused after a few flows */
	struct sl_worker *w = worker(&rs);
	conf.flow_capacity = cap;
	snprintf(a, sizeof(a), "id=%.7s", nir);
	snprintf(b, sizeof(b), "%s; ok.", nir + 7);
	snprintf(req, sizeof(req), "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n",
		 strlen(a) + strlen(b));
	for (unsigned i = 0; i < 40; i++) {
		uint32_t seq = 1001;

		handshake(w, 0);
		if (i % 2) { /* every other flow speaks HTTP */
			one(w, frame(0, seq, 5001, RTE_TCP_ACK_FLAG, req, 0));
			seq += (uint32_t)strlen(req);
		}
		one(w, frame(0, seq, 5001, RTE_TCP_ACK_FLAG, a, 0));
		one(w, frame(0, seq + (uint32_t)strlen(a), 5001, RTE_TCP_ACK_FLAG, b, 0));
		CU_ASSERT_EQUAL(stats(w).events, i + 1); /* one alert per flow, none missed */
		one(w, frame(1, 5001, seq + 20, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, NULL, 0));
	}
	sl_worker_drain(w);
	CU_ASSERT_EQUAL(stats(w).events, 40); /* count 1 everywhere: no flow-end updates */
	sl_worker_free(w);
	sl_ruleset_free(rs);
}

static void
test_split_value_alerts_once(void)
{
	struct sl_ruleset *rs = ruleset("monitor", 0);
	struct sl_worker *w = worker(&rs);
	char a[64], b[64];

	snprintf(a, sizeof(a), "id=%.7s", nir);
	snprintf(b, sizeof(b), "%s; again %s.", nir + 7, nir);
	handshake(w, 0);
	CU_ASSERT_EQUAL(one(w, frame(0, 1001, 5001, RTE_TCP_ACK_FLAG, a, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 0);
	CU_ASSERT_EQUAL(one(w, frame(0, 1001 + (uint32_t)strlen(a), 5001, RTE_TCP_ACK_FLAG, b, 0)),
			SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 1); /* one alert; the second value raises the count */
	sl_worker_drain(w);
	CU_ASSERT_EQUAL(stats(w).events, 2); /* + the flow-end update with count 2 */
	sl_worker_free(w);
	sl_ruleset_free(rs);
}

static void
test_deny_drops_blocks_and_resets(void)
{
	struct sl_ruleset *rs = ruleset("protect", 1);
	struct sl_worker *w = worker(&rs);
	struct rte_mbuf **inj;
	const uint16_t *inj_port;
	char body[64];

	port_enforce[3] = SL_ENFORCE_DROP, port_out[3] = 4;
	port_enforce[4] = SL_ENFORCE_DROP, port_out[4] = 3;
	snprintf(body, sizeof(body), "nir=%s\n", nir);
	handshake(w, 3);
	CU_ASSERT_EQUAL(one(w, frame(0, 1001, 5001, RTE_TCP_ACK_FLAG, "hello ", 3)),
			SL_VERDICT_FORWARD);
	sl_worker_inject_reset(w);
	CU_ASSERT_EQUAL(one(w, frame(0, 1007, 5001, RTE_TCP_ACK_FLAG, body, 3)), SL_VERDICT_DROP);
	/* two resets: to the receiver through the peer port, to the sender back through port 3 */
	CU_ASSERT_EQUAL_FATAL(sl_worker_injected(w, &inj, &inj_port), 2);
	for (int k = 0; k < 2; k++) {
		struct sl_pkt_info pi;
		CU_ASSERT_EQUAL(sl_pkt_parse(rte_pktmbuf_mtod(inj[k], uint8_t *),
					     rte_pktmbuf_data_len(inj[k]), &pi),
				SL_PKT_OK);
		CU_ASSERT(pi.tcp_flags & SL_PKT_TCP_RST);
		if (inj_port[k] == 4) { /* to the server: the sequence it expects next */
			CU_ASSERT_EQUAL(pi.seq, 1007);
		} else {
			CU_ASSERT_EQUAL(inj_port[k], 3); /* to the client: the server's next seq */
			CU_ASSERT_EQUAL(pi.seq, 5001);
			CU_ASSERT_EQUAL(pi.ack, 1007 + strlen(body));
		}
		rte_pktmbuf_free(inj[k]);
	}
	sl_worker_inject_reset(w);
	/* everything after, both ways, is dropped */
	CU_ASSERT_EQUAL(one(w, frame(1, 5001, 1007, RTE_TCP_ACK_FLAG, "HTTP/1.1 200", 4)),
			SL_VERDICT_DROP);
	CU_ASSERT_EQUAL(one(w, frame(0, 1007, 5001, RTE_TCP_ACK_FLAG, "more", 3)), SL_VERDICT_DROP);
	struct sl_worker_stats s = stats(w);
	CU_ASSERT_EQUAL(s.blocked_flows, 1);
	CU_ASSERT_EQUAL(s.drop_blocked, 3);
	CU_ASSERT_EQUAL(s.rst_sent, 2);
	/* a new connection on the same tuple starts afresh */
	CU_ASSERT_EQUAL(one(w, frame(0, 9000, 0, RTE_TCP_SYN_FLAG, NULL, 3)), SL_VERDICT_FORWARD);
	sl_worker_free(w);
	sl_ruleset_free(rs);
	port_enforce[3] = port_enforce[4] = SL_ENFORCE_NONE;
}

/* Mail through an inline port: a NIR in a base64 attachment, sent by DATA, is found decoded
 * (app smtp), the packet that completes it dropped and the session reset; the message counted
 * as SMTP, not HTTP. */
static void
test_smtp_attachment_denied(void)
{
	struct sl_ruleset *rs = ruleset("protect", 1);
	struct sl_worker *w = worker(&rs);
	char b64[64], msg[256];
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t seq = 1001;
	size_t k = 0;

	/* the attachment: base64 of "nir=" + the NIR + "\n" */
	char plain[32];
	size_t pn = (size_t)snprintf(plain, sizeof(plain), "nir=%s\n", nir);
	for (size_t i = 0; i + 2 < pn + 2; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)plain[i] << 16 |
			     (i + 1 < pn ? (uint32_t)(uint8_t)plain[i + 1] << 8 : 0) |
			     (i + 2 < pn ? (uint8_t)plain[i + 2] : 0);

		b64[k++] = tbl[v >> 18];
		b64[k++] = tbl[(v >> 12) & 63];
		b64[k++] = i + 1 < pn ? tbl[(v >> 6) & 63] : '=';
		b64[k++] = i + 2 < pn ? tbl[v & 63] : '=';
	}
	b64[k] = '\0';
	snprintf(msg, sizeof(msg),
		 "Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n.\r\n", b64);
	port_enforce[3] = SL_ENFORCE_DROP, port_out[3] = 4;
	port_enforce[4] = SL_ENFORCE_DROP, port_out[4] = 3;
	handshake(w, 3);
	const char *cmds = "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
	CU_ASSERT_EQUAL(one(w, frame(0, seq, 5001, RTE_TCP_ACK_FLAG, cmds, 3)), SL_VERDICT_FORWARD);
	seq += (uint32_t)strlen(cmds);
	CU_ASSERT_EQUAL(one(w, frame(0, seq, 5001, RTE_TCP_ACK_FLAG, msg, 3)), SL_VERDICT_DROP);
	struct sl_worker_stats s = stats(w);
	CU_ASSERT_EQUAL(s.smtp_messages, 1);
	CU_ASSERT_EQUAL(s.http_messages, 0);
	CU_ASSERT_EQUAL(s.blocked_flows, 1);
	sl_worker_free(w);
	sl_ruleset_free(rs);
}

static void
test_deny_on_mirror_only_reports(void)
{
	struct sl_ruleset *rs = ruleset("protect", 1);
	struct sl_worker *w = worker(&rs);
	char body[64];

	snprintf(body, sizeof(body), "nir=%s\n", nir);
	handshake(w, 0);
	CU_ASSERT_EQUAL(one(w, frame(0, 1001, 5001, RTE_TCP_ACK_FLAG, body, 0)),
			SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).blocked_flows, 0);
	CU_ASSERT_EQUAL(stats(w).events, 1);
	sl_worker_free(w);
	sl_ruleset_free(rs);
}

/* A mirror port with an injection port: the denied flow's packets pass (a mirror cannot drop),
 * both ends are reset through the injection port with its MAC as source, the receiver with the
 * sequence number that follows what it received; later packets reset again, a bounded number of
 * times, and the events say reset (alert.action blocked). */
static void
test_deny_on_mirror_with_injection_resets(void)
{
	struct sl_ruleset *rs = ruleset("protect", 1);
	struct sl_event_out *ev;
	struct sl_worker *w;
	struct rte_mbuf **inj;
	const uint16_t *inj_port;
	char body[64], path[] = "/tmp/sl_test_worker_XXXXXX", line[4096];
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	ev = sl_event_out_create(path, 64, line, sizeof(line));
	CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
	CU_ASSERT_EQUAL_FATAL(sl_event_out_start(ev), 0);
	port_enforce[0] = SL_ENFORCE_RESET, port_out[0] = 5;
	memset(&port_mac[5], 0, sizeof(port_mac[5]));
	port_mac[5].addr_bytes[0] = 0x02, port_mac[5].addr_bytes[5] = 0x55;
	struct sl_worker_params p = {
	    .conf = &conf,
	    .rs_slot = &rs,
	    .events = ev,
	    .tx_pool = mp,
	    .port_enforce = port_enforce,
	    .port_out = port_out,
	    .port_mac = port_mac,
	};
	w = sl_worker_create(&p, line, sizeof(line));
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	snprintf(body, sizeof(body), "nir=%s\n", nir);
	handshake(w, 0);
	sl_worker_inject_reset(w);
	CU_ASSERT_EQUAL(one(w, frame(0, 1001, 5001, RTE_TCP_ACK_FLAG, body, 0)),
			SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL_FATAL(sl_worker_injected(w, &inj, &inj_port), 2);
	for (int k = 0; k < 2; k++) {
		const uint8_t *f = rte_pktmbuf_mtod(inj[k], const uint8_t *);
		struct sl_pkt_info pi;

		CU_ASSERT_EQUAL(inj_port[k], 5); /* both through the injection port */
		CU_ASSERT_EQUAL(sl_pkt_parse(f, rte_pktmbuf_data_len(inj[k]), &pi), SL_PKT_OK);
		CU_ASSERT(pi.tcp_flags & SL_PKT_TCP_RST);
		CU_ASSERT(memcmp(f + 6, &port_mac[5], 6) == 0); /* source: the injection port */
		if (f[5] == 2) { /* to the server (its MAC), which received the body */
			CU_ASSERT_EQUAL(f[37], 80); /* TCP destination port */
			CU_ASSERT_EQUAL(pi.seq, 1001 + strlen(body));
		} else { /* to the client: the server's next seq */
			CU_ASSERT_EQUAL(f[5], 1);
			CU_ASSERT_EQUAL(pi.seq, 5001);
			CU_ASSERT_EQUAL(pi.ack, 1001 + strlen(body));
		}
		rte_pktmbuf_free(inj[k]);
	}
	sl_worker_inject_reset(w);
	/* The client's next segment, sent before the resets arrived: reset again from it. */
	CU_ASSERT_EQUAL(
	    one(w, frame(0, 1001 + (uint32_t)strlen(body), 5001, RTE_TCP_ACK_FLAG, "more", 0)),
	    SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL_FATAL(sl_worker_injected(w, &inj, &inj_port), 2);
	for (int k = 0; k < 2; k++) {
		const uint8_t *f = rte_pktmbuf_mtod(inj[k], const uint8_t *);
		struct sl_pkt_info pi;

		sl_pkt_parse(f, rte_pktmbuf_data_len(inj[k]), &pi);
		if (f[5] == 2) /* to the server */
			CU_ASSERT_EQUAL(pi.seq, 1001 + strlen(body) + 4);
		rte_pktmbuf_free(inj[k]);
	}
	sl_worker_inject_reset(w);
	/* Our own resets seen on the mirror are not answered; the retries are bounded. */
	one(w, frame(1, 5001, 1001, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, NULL, 0));
	CU_ASSERT_EQUAL(sl_worker_injected(w, &inj, &inj_port), 0);
	for (int i = 0; i < 10; i++) {
		one(w, frame(0, 2000, 5001, RTE_TCP_ACK_FLAG, "x", 0));
		uint16_t n = sl_worker_injected(w, &inj, &inj_port);
		for (uint16_t k = 0; k < n; k++)
			rte_pktmbuf_free(inj[k]);
		sl_worker_inject_reset(w);
	}
	struct sl_worker_stats s = stats(w);
	CU_ASSERT_EQUAL(s.reset_flows, 1);
	CU_ASSERT_EQUAL(s.blocked_flows, 0);
	CU_ASSERT_EQUAL(s.drop_blocked, 0);
	CU_ASSERT_EQUAL(s.rst_sent, 2 * 4); /* the first pair and three retries */
	sl_worker_free(w); /* the flow ends: its update says how many times it was reset */
	sl_event_out_free(ev);

	FILE *f = fopen(path, "r");
	int alerts = 0, updates = 0;
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while (fgets(line, sizeof(line), f)) {
		CU_ASSERT(strstr(line, nir) == NULL);
		CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"action\":\"reset\""));
		if (strstr(line, "\"event_type\":\"alert\"")) {
			alerts++;
			CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"action\":\"blocked\""));
		} else {
			updates++;
			CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"resets\":4"));
		}
	}
	fclose(f);
	CU_ASSERT_EQUAL(alerts, 1);
	CU_ASSERT_EQUAL(updates, 1);
	unlink(path);
	sl_ruleset_free(rs);
	port_enforce[0] = SL_ENFORCE_NONE;
}

/* UDP: each datagram is scanned on its own; one alert per flow, direction and sensor. */
static void
test_udp_datagrams_are_scanned(void)
{
	struct sl_ruleset *rs = ruleset("monitor", 0);
	struct sl_worker *w = worker(&rs);
	char body[64], a[32], b[32];

	snprintf(body, sizeof(body), "user=alice nir=%s;", nir);
	snprintf(a, sizeof(a), "id=%.7s", nir);
	snprintf(b, sizeof(b), "%s;", nir + 7);
	/* Split across two datagrams: two messages, neither holds a value. */
	CU_ASSERT_EQUAL(one(w, udp_frame(0, a, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, b, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 0);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 1);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 1); /* the same flow and direction: the count rises */
	CU_ASSERT_EQUAL(one(w, udp_frame(1, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 2); /* the other direction alerts on its own */
	CU_ASSERT_EQUAL(stats(w).udp_pkts, 5);
	sl_worker_drain(w);
	CU_ASSERT_EQUAL(stats(w).events, 3); /* + the flow-end update with count 2 */
	sl_worker_free(w);

	/* inspection.depth counts a direction's datagrams as one stream: a value past it is not
	 * scanned, and the direction reaching it is counted once. */
	uint64_t depth = conf.inspect_depth;
	conf.inspect_depth = strlen("hello") + strlen("user=alice nir=") + 7; /* mid-value */
	w = worker(&rs);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, "hello", 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 0);
	CU_ASSERT_EQUAL(stats(w).depth_reached, 1);
	sl_worker_free(w);
	conf.inspect_depth = depth;

	conf.inspect_udp = 0;
	w = worker(&rs);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, body, 0)), SL_VERDICT_FORWARD);
	sl_worker_drain(w);
	CU_ASSERT_EQUAL(stats(w).events, 0);
	sl_worker_free(w);
	conf.inspect_udp = 1;
	sl_ruleset_free(rs);
}

/* A datagram flow denied on an inline port: one flow blocked, `drops` later frames dropped for
 * it, nothing sent (there is no connection to reset). Frees w. */
static void
datagram_blocked(struct sl_worker *w, uint64_t drops)
{
	struct rte_mbuf **inj;
	const uint16_t *inj_port;
	struct sl_worker_stats st = stats(w);

	CU_ASSERT_EQUAL(sl_worker_injected(w, &inj, &inj_port), 0);
	CU_ASSERT_EQUAL(st.blocked_flows, 1);
	CU_ASSERT_EQUAL(st.drop_blocked, drops);
	CU_ASSERT_EQUAL(st.rst_sent, 0);
	sl_worker_free(w);
}

/* The same deny on a mirror port with an injection port: `events` reported, nothing blocked,
 * reset or sent. Frees w. */
static void
datagram_reported(struct sl_worker *w, uint64_t events)
{
	struct rte_mbuf **inj;
	const uint16_t *inj_port;
	struct sl_worker_stats st = stats(w);

	CU_ASSERT_EQUAL(sl_worker_injected(w, &inj, &inj_port), 0);
	CU_ASSERT_EQUAL(st.events, events);
	CU_ASSERT_EQUAL(st.blocked_flows + st.reset_flows, 0);
	sl_worker_free(w);
}

/* A deny on UDP in protect mode: on an inline port the datagram and every later one of the flow,
 * both ways, empty ones too, are dropped, with no reset; on a mirror port, even with an injection
 * port, there is nothing to reset: reported as would_block. */
static void
test_udp_deny_drops_the_flow(void)
{
	struct sl_ruleset *rs = ruleset("protect", 1);
	struct sl_worker *w;
	char body[64];

	snprintf(body, sizeof(body), "nir=%s\n", nir);
	port_enforce[3] = SL_ENFORCE_DROP, port_out[3] = 4;
	w = worker(&rs);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, "", 3)), SL_VERDICT_FORWARD); /* opens no flow */
	CU_ASSERT_EQUAL(stats(w).no_flow, 1);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, "hello", 3)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, body, 3)), SL_VERDICT_DROP);
	CU_ASSERT_EQUAL(one(w, udp_frame(1, "reply", 3)), SL_VERDICT_DROP);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, "more", 3)), SL_VERDICT_DROP);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, "", 3)), SL_VERDICT_DROP); /* empty ones too */
	datagram_blocked(w, 4);
	port_enforce[3] = SL_ENFORCE_NONE;

	port_enforce[0] = SL_ENFORCE_RESET, port_out[0] = 5;
	w = worker(&rs);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(one(w, udp_frame(0, "more", 0)), SL_VERDICT_FORWARD);
	datagram_reported(w, 1);
	port_enforce[0] = SL_ENFORCE_NONE;
	sl_ruleset_free(rs);
}

/* A worker whose events go to a new temporary file, named in path (at least 32 bytes). */
static struct sl_worker *
worker_with_events(struct sl_ruleset **slot, char *path, struct sl_event_out **ev)
{
	char err[256];
	int fd;

	strcpy(path, "/tmp/sl_test_worker_XXXXXX");
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	*ev = sl_event_out_create(path, 64, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(*ev);
	CU_ASSERT_EQUAL_FATAL(sl_event_out_start(*ev), 0);
	return worker_to(slot, *ev);
}

/* Frees the worker (its flows end) and the event writer, reads the event lines into lines[]
 * (at most n, each at most 4 KB) and removes the file. Returns how many were read. */
static int
events_of(struct sl_worker *w, struct sl_event_out *ev, const char *path, char (*lines)[4096],
	  int n)
{
	FILE *f;
	int k = 0;

	sl_worker_free(w);
	sl_event_out_free(ev);
	f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while (k < n && fgets(lines[k], sizeof(lines[k]), f))
		k++;
	fclose(f);
	unlink(path);
	return k;
}

/* The value of "key": in an event line, up to its closing quote or comma, into out. */
static const char *
field(const char *line, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	out[0] = '\0';
	if (p == NULL)
		return out;
	for (p += strlen(pat); *p && *p != ',' && *p != '}' && n + 1 < len; p++)
		if (*p != '"')
			out[n++] = *p;
	out[n] = '\0';
	return out;
}

/* ICMP echo data is scanned as UDP datagrams are: each message on its own (a value cut across
 * two is not joined), one alert per flow, direction and sensor, the reply's direction to_client.
 * Events have icmp_type and icmp_code, no ports, one Community ID for request and reply. Other
 * ICMP messages are counted, not scanned; a header cut short is counted as malformed. */
static void
test_icmp_echo_data_is_scanned(void)
{
	struct sl_ruleset *rs = ruleset("monitor", 0);
	char body[64], a[32], b[32], path[32], lines[8][4096], v[64], cid[64];
	struct sl_event_out *ev;
	struct sl_worker *w = worker_with_events(&rs, path, &ev);

	snprintf(body, sizeof(body), "ping nir=%s ", nir);
	snprintf(a, sizeof(a), "id=%.7s", nir);
	snprintf(b, sizeof(b), "%s;", nir + 7);
	CU_ASSERT_EQUAL(one(w, icmp_frame(0, 0, 8, 0x4242, a, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(one(w, icmp_frame(0, 0, 8, 0x4242, b, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 0);
	CU_ASSERT_EQUAL(one(w, icmp_frame(0, 0, 8, 0x4242, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 1);
	CU_ASSERT_EQUAL(one(w, icmp_frame(0, 1, 0, 0x4242, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 2); /* the reply: the other direction of the same flow */
	CU_ASSERT_EQUAL(one(w, icmp_frame(0, 0, 8, 0x4242, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 2); /* the count rises */
	CU_ASSERT_EQUAL(one(w, icmp_frame(0, 0, 8, 0x4343, "other session", 0)),
			SL_VERDICT_FORWARD);
	/* not an echo: a destination unreachable quoting the value is counted, not scanned */
	CU_ASSERT_EQUAL(one(w, icmp_frame(0, 1, 3, 0, body, 0)), SL_VERDICT_FORWARD);
	/* an ICMP header cut short by the IP length: malformed, counted */
	struct rte_mbuf *t = icmp_frame(0, 0, 8, 0x4242, "", 0);
	rte_pktmbuf_mtod(t, uint8_t *)[17] = 20 + 4;
	CU_ASSERT_EQUAL(one(w, t), SL_VERDICT_FORWARD);
	struct sl_worker_stats st = stats(w);
	CU_ASSERT_EQUAL(st.icmp_pkts, 6);
	CU_ASSERT_EQUAL(st.udp_pkts, 0);
	CU_ASSERT_EQUAL(st.pkt_errors[SL_PKT_ERR_ICMP_OTHER], 1);
	CU_ASSERT_EQUAL(st.pkt_errors[SL_PKT_ERR_TRUNC_ICMP], 1);
	CU_ASSERT_EQUAL(st.pkt_errors[SL_PKT_ERR_OTHER_L4], 0);

	/* two alerts, then the request direction's flow-end update (count 2) */
	CU_ASSERT_EQUAL_FATAL(events_of(w, ev, path, lines, 8), 3);
	field(lines[0], "community_id", cid, sizeof(cid));
	CU_ASSERT(strlen(cid) > 10);
	for (int k = 0; k < 3; k++) {
		CU_ASSERT(strstr(lines[k], nir) == NULL);
		CU_ASSERT_STRING_EQUAL(field(lines[k], "proto", v, sizeof(v)), "ICMP");
		CU_ASSERT_STRING_EQUAL(field(lines[k], "community_id", v, sizeof(v)), cid);
		CU_ASSERT_PTR_NULL(strstr(lines[k], "_port\""));
		CU_ASSERT_STRING_EQUAL(field(lines[k], "icmp_code", v, sizeof(v)), "0");
	}
	CU_ASSERT_STRING_EQUAL(field(lines[0], "direction", v, sizeof(v)), "to_server");
	CU_ASSERT_STRING_EQUAL(field(lines[0], "icmp_type", v, sizeof(v)), "8");
	CU_ASSERT_STRING_EQUAL(field(lines[0], "src_ip", v, sizeof(v)), "198.18.0.1");
	CU_ASSERT_STRING_EQUAL(field(lines[1], "direction", v, sizeof(v)), "to_client");
	CU_ASSERT_STRING_EQUAL(field(lines[1], "icmp_type", v, sizeof(v)), "0");
	CU_ASSERT_STRING_EQUAL(field(lines[2], "event_type", v, sizeof(v)), "flow");
	CU_ASSERT_STRING_EQUAL(field(lines[2], "count", v, sizeof(v)), "2");
	CU_ASSERT_STRING_EQUAL(field(lines[2], "response_icmp_type", v, sizeof(v)), "0");

	/* inspection.icmp = false: counted, forwarded, not scanned */
	conf.inspect_icmp = 0;
	w = worker(&rs);
	CU_ASSERT_EQUAL(one(w, icmp_frame(1, 0, 128, 7, body, 0)), SL_VERDICT_FORWARD);
	sl_worker_drain(w);
	CU_ASSERT_EQUAL(stats(w).events, 0);
	CU_ASSERT_EQUAL(stats(w).icmp_pkts, 1);
	sl_worker_free(w);
	conf.inspect_icmp = 1;
	sl_ruleset_free(rs);
}

/* A ping session seen first at a reply (ICMPv6): its client is the side that sends requests,
 * so the reply's value goes to_client; the event says IPv6-ICMP, type 129. */
static void
test_icmp_session_picked_up_at_a_reply(void)
{
	struct sl_ruleset *rs = ruleset("monitor", 0);
	char body[64], path[32], lines[4][4096], v[64];
	struct sl_event_out *ev;
	struct sl_worker *w = worker_with_events(&rs, path, &ev);

	snprintf(body, sizeof(body), "%s\n", nir);
	CU_ASSERT_EQUAL(one(w, icmp_frame(1, 1, 129, 99, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL_FATAL(events_of(w, ev, path, lines, 4), 1);
	CU_ASSERT_STRING_EQUAL(field(lines[0], "direction", v, sizeof(v)), "to_client");
	CU_ASSERT_STRING_EQUAL(field(lines[0], "proto", v, sizeof(v)), "IPv6-ICMP");
	CU_ASSERT_STRING_EQUAL(field(lines[0], "icmp_type", v, sizeof(v)), "129");
	CU_ASSERT_STRING_EQUAL(field(lines[0], "src_ip", v, sizeof(v)), "2001:db8::2");
	sl_ruleset_free(rs);
}

/* A deny on a ping tunnel in protect mode: on an inline port the message carrying the value and
 * every later one of the session, both ways, empty ones too, are dropped, with no reset; another
 * session goes through. On a mirror, even with an injection port: would_block. */
static void
test_icmp_deny_drops_the_session(void)
{
	struct sl_ruleset *rs = ruleset("protect", 1);
	struct sl_worker *w;
	char body[64];

	snprintf(body, sizeof(body), "%s ", nir);
	port_enforce[3] = SL_ENFORCE_DROP, port_out[3] = 4;
	w = worker(&rs);
	CU_ASSERT_EQUAL(one(w, icmp_frame(1, 0, 128, 7, "hello", 3)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(one(w, icmp_frame(1, 1, 129, 7, "hello", 3)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(one(w, icmp_frame(1, 0, 128, 7, body, 3)), SL_VERDICT_DROP);
	CU_ASSERT_EQUAL(one(w, icmp_frame(1, 1, 129, 7, "late reply", 3)), SL_VERDICT_DROP);
	CU_ASSERT_EQUAL(one(w, icmp_frame(1, 0, 128, 7, "", 3)), SL_VERDICT_DROP);
	CU_ASSERT_EQUAL(one(w, icmp_frame(1, 0, 128, 8, "plain ping", 3)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(one(w, icmp_frame(1, 1, 129, 8, "plain ping", 3)), SL_VERDICT_FORWARD);
	datagram_blocked(w, 3);
	port_enforce[3] = SL_ENFORCE_NONE;

	port_enforce[0] = SL_ENFORCE_RESET, port_out[0] = 5;
	w = worker(&rs);
	CU_ASSERT_EQUAL(one(w, icmp_frame(0, 0, 8, 7, body, 0)), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(one(w, icmp_frame(0, 1, 0, 7, body, 0)), SL_VERDICT_FORWARD);
	datagram_reported(w, 2);
	port_enforce[0] = SL_ENFORCE_NONE;
	sl_ruleset_free(rs);
}

/* Reassembly gives up on a direction (per-flow cap 0, bypass): on an inline port its data is
 * dropped with fail closed and forwarded with fail open, counted either way. */
static void
fail_policy(enum sl_policy_fail fail, uint8_t want)
{
	struct sl_conf saved = conf;
	conf.reasm_bytes_per_flow = 0;
	conf.reasm_on_cap = SL_CONF_CAP_BYPASS;
	conf.fail_inline = fail;
	struct sl_ruleset *rs = ruleset("monitor", 0);
	struct sl_worker *w = worker(&rs);

	port_enforce[3] = SL_ENFORCE_DROP, port_out[3] = 4;
	handshake(w, 3);
	/* out of order: cannot be held with a cap of 0 -> bypass */
	CU_ASSERT_EQUAL(one(w, frame(0, 1101, 5001, RTE_TCP_ACK_FLAG, "later", 3)), want);
	CU_ASSERT_EQUAL(one(w, frame(0, 1001, 5001, RTE_TCP_ACK_FLAG, "first", 3)), want);
	CU_ASSERT(stats(w).uninspected >= 1);
	CU_ASSERT_EQUAL(stats(w).drop_fail_closed, want == SL_VERDICT_DROP ? 2 : 0);
	sl_worker_free(w);
	sl_ruleset_free(rs);
	port_enforce[3] = SL_ENFORCE_NONE;
	conf = saved;
}

static void
test_fail_closed(void)
{
	fail_policy(SL_POLICY_FAIL_CLOSED, SL_VERDICT_DROP);
}

static void
test_fail_open(void)
{
	fail_policy(SL_POLICY_FAIL_OPEN, SL_VERDICT_FORWARD);
}

/* A new ruleset taken between the two halves of a value: the value is still found once. */
/* Cuts the IPv4 frame m into fragments of `size` IP data bytes (a multiple of 8) into out[],
 * last first (the order that leaves the datagram incomplete longest); frees m. */
static int
fragments(struct rte_mbuf *m, unsigned size, struct rte_mbuf **out)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	unsigned data = rte_pktmbuf_data_len(m) - 34, n = (data + size - 1) / size;

	for (unsigned k = 0; k < n; k++) {
		unsigned off = k * size, len = data - off < size ? data - off : size;
		struct rte_mbuf *f = rte_pktmbuf_alloc(mp);
		uint8_t *q = (uint8_t *)rte_pktmbuf_append(f, (uint16_t)(34 + len));
		struct rte_ipv4_hdr *ip = (void *)(q + 14);

		memcpy(q, p, 34);
		memcpy(q + 34, p + 34 + off, len);
		ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + len));
		ip->packet_id = rte_cpu_to_be_16(4242);
		ip->fragment_offset =
		    rte_cpu_to_be_16((uint16_t)(off / 8 | (off + len < data ? 0x2000 : 0)));
		f->port = m->port;
		out[n - 1 - k] = f;
	}
	rte_pktmbuf_free(m);
	return (int)n;
}

/* A value cut across IP fragments, sent last fragment first: found once the datagram is whole;
 * in protect mode on an inline port the completing fragment is dropped (the receiver never
 * gets the datagram whole) and both ends reset, the fragments before it were forwarded. */
static void
test_fragmented_value_found_and_denied(void)
{
	struct sl_ruleset *rs = ruleset("protect", 1);
	struct sl_worker *w = worker(&rs);
	struct rte_mbuf *frags[32], **inj;
	const uint16_t *inj_port;
	char body[96];
	int n;

	port_enforce[3] = SL_ENFORCE_DROP, port_out[3] = 4;
	snprintf(body, sizeof(body), "POST /x HTTP/1.1\r\nContent-Length: 20\r\n\r\nnir=%s\n", nir);
	handshake(w, 3);
	n = fragments(frame(0, 1001, 5001, RTE_TCP_ACK_FLAG, body, 3), 16, frags);
	CU_ASSERT_FATAL(n > 2);
	for (int k = 0; k < n - 1; k++)
		CU_ASSERT_EQUAL(one(w, frags[k]), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 0);
	CU_ASSERT_EQUAL(one(w, frags[n - 1]), SL_VERDICT_DROP);
	CU_ASSERT_EQUAL(stats(w).events, 1);
	CU_ASSERT_EQUAL(stats(w).frag.reassembled, 1);
	CU_ASSERT_EQUAL(stats(w).frag.fragments, (uint64_t)n);
	CU_ASSERT_EQUAL(stats(w).pkt_errors[SL_PKT_ERR_IP_FRAGMENT], 0);
	CU_ASSERT_EQUAL_FATAL(sl_worker_injected(w, &inj, &inj_port), 2);
	rte_pktmbuf_free(inj[0]);
	rte_pktmbuf_free(inj[1]);
	sl_worker_inject_reset(w);
	sl_worker_free(w);
	sl_ruleset_free(rs);
	port_enforce[3] = SL_ENFORCE_NONE;
}

/* A large echo request in IP fragments, the value cut by them: found once the datagram is whole,
 * the completing fragment dropped on an inline port in protect mode, no reset. */
static void
test_fragmented_echo_denied(void)
{
	struct sl_ruleset *rs = ruleset("protect", 1);
	struct sl_worker *w = worker(&rs);
	struct rte_mbuf *frags[32], **inj;
	const uint16_t *inj_port;
	char body[160];
	int n;

	port_enforce[3] = SL_ENFORCE_DROP, port_out[3] = 4;
	snprintf(body, sizeof(body), "%s exfil chunk 0001 nir=%s end of chunk", "0123456789abcdef",
		 nir);
	n = fragments(icmp_frame(0, 0, 8, 77, body, 3), 16, frags);
	CU_ASSERT_FATAL(n > 3);
	for (int k = 0; k < n - 1; k++)
		CU_ASSERT_EQUAL(one(w, frags[k]), SL_VERDICT_FORWARD);
	CU_ASSERT_EQUAL(stats(w).events, 0);
	CU_ASSERT_EQUAL(one(w, frags[n - 1]), SL_VERDICT_DROP);
	CU_ASSERT_EQUAL(stats(w).events, 1);
	CU_ASSERT_EQUAL(stats(w).frag.reassembled, 1);
	CU_ASSERT_EQUAL(stats(w).blocked_flows, 1);
	CU_ASSERT_EQUAL(sl_worker_injected(w, &inj, &inj_port), 0);
	CU_ASSERT_EQUAL(one(w, icmp_frame(0, 1, 0, 77, "reply", 3)), SL_VERDICT_DROP);
	sl_worker_free(w);
	sl_ruleset_free(rs);
	port_enforce[3] = SL_ENFORCE_NONE;
}

/* Fragments that overlap with other bytes (an evasion: the receiver may keep the other copy)
 * make the datagram's flow uninspectable: an event says so. */
static void
test_conflicting_fragment_overlap_is_reported(void)
{
	struct sl_ruleset *rs = ruleset("monitor", 0);
	struct sl_worker *w = worker(&rs);
	struct rte_mbuf *frags[32], *evil;
	int n;

	handshake(w, 0);
	n = fragments(frame(0, 1001, 5001, RTE_TCP_ACK_FLAG, "nothing to see here, honest", 0), 16,
		      frags);
	CU_ASSERT_FATAL(n >= 3);
	evil = rte_pktmbuf_copy(frags[n - 2], mp, 0, UINT32_MAX); /* the fragment at offset 16 */
	CU_ASSERT_PTR_NOT_NULL_FATAL(evil);
	rte_pktmbuf_mtod(evil, uint8_t *)[34 + 3] ^= 0x20;
	for (int k = 0; k < n - 1; k++)
		one(w, frags[k]);
	one(w, evil);
	CU_ASSERT_EQUAL(stats(w).events, 0);
	one(w, frags[n - 1]);
	CU_ASSERT_EQUAL(stats(w).frag.overlap_conflicts, 1);
	CU_ASSERT_EQUAL(stats(w).uninspectable_content, 1);
	CU_ASSERT_EQUAL(stats(w).events, 1);
	sl_worker_free(w);
	sl_ruleset_free(rs);
}

/* With reassembly off, fragments cannot be inspected: counted, and they follow the fail
 * policy (dropped on an inline port with fail closed). */
static void
test_fragments_without_reassembly_follow_fail_policy(void)
{
	struct sl_conf saved = conf;
	struct rte_mbuf *frags[32];
	char body[64];

	conf.defrag_datagrams = 0;
	for (int closed = 0; closed < 2; closed++) {
		conf.fail_inline = closed ? SL_POLICY_FAIL_CLOSED : SL_POLICY_FAIL_OPEN;
		struct sl_ruleset *rs = ruleset("monitor", 0);
		struct sl_worker *w = worker(&rs);
		int n;

		port_enforce[3] = SL_ENFORCE_DROP, port_out[3] = 4;
		snprintf(body, sizeof(body), "nir=%s\n", nir);
		handshake(w, 3);
		n = fragments(frame(0, 1001, 5001, RTE_TCP_ACK_FLAG, body, 3), 8, frags);
		for (int k = 0; k < n; k++)
			CU_ASSERT_EQUAL(one(w, frags[k]),
					closed ? SL_VERDICT_DROP : SL_VERDICT_FORWARD);
		CU_ASSERT_EQUAL(stats(w).events, 0);
		CU_ASSERT_EQUAL(stats(w).pkt_errors[SL_PKT_ERR_IP_FRAGMENT], (uint64_t)n);
		CU_ASSERT_EQUAL(stats(w).uninspected, (uint64_t)n);
		sl_worker_free(w);
		sl_ruleset_free(rs);
	}
	port_enforce[3] = SL_ENFORCE_NONE;
	conf = saved;
}

static void
test_ruleset_switch_mid_value(void)
{
	struct sl_ruleset *rs = ruleset("monitor", 0), *next = ruleset("monitor", 0), *old;
	struct sl_worker *w = worker(&rs);
	char a[32], b[32];

	snprintf(a, sizeof(a), "x %.6s", nir);
	snprintf(b, sizeof(b), "%s y", nir + 6);
	handshake(w, 0);
	one(w, frame(0, 1001, 5001, RTE_TCP_ACK_FLAG, a, 0));
	old = rs;
	rs = next; /* what sl_run_swap_ruleset publishes */
	CU_ASSERT_EQUAL(sl_worker_sync_ruleset(w), 1);
	sl_ruleset_free(old); /* the worker holds nothing of it any more */
	one(w, frame(0, 1001 + (uint32_t)strlen(a), 5001, RTE_TCP_ACK_FLAG, b, 0));
	CU_ASSERT_EQUAL(stats(w).events, 1);
	CU_ASSERT_EQUAL(stats(w).ruleset_switches, 1);
	sl_worker_free(w);
	sl_ruleset_free(rs);
}

/* Multi-queue ports get sl_rss_sym_key: the NIC's Toeplitz hash of a flow must be the same in
 * both directions, so both land on one worker's queue. Checked in software (rte_softrss). */
static void
test_rss_key_is_symmetric(void)
{
	uint8_t key[40];
	unsigned diff_flows = 0;

	rte_convert_rss_key((const uint32_t *)sl_rss_sym_key, (uint32_t *)key, sizeof(key));
	srand(7);
	for (int i = 0; i < 10000; i++) {
		struct rte_ipv4_tuple a, b;
		uint32_t ha, hb;

		a.src_addr = 0xc6120000u | (uint32_t)(rand() & 0x1ffff);
		a.dst_addr = 0xc6120000u | (uint32_t)(rand() & 0x1ffff);
		a.sport = (uint16_t)rand();
		a.dport = (uint16_t)rand();
		b.src_addr = a.dst_addr;
		b.dst_addr = a.src_addr;
		b.sport = a.dport;
		b.dport = a.sport;
		ha = rte_softrss_be((uint32_t *)&a, RTE_THASH_V4_L4_LEN, key);
		hb = rte_softrss_be((uint32_t *)&b, RTE_THASH_V4_L4_LEN, key);
		CU_ASSERT_EQUAL(ha, hb);
		diff_flows +=
		    ha !=
		    rte_softrss_be((uint32_t *)&(struct rte_ipv4_tuple){.src_addr = a.src_addr + 1,
									.dst_addr = a.dst_addr,
									.sport = a.sport,
									.dport = a.dport},
				   RTE_THASH_V4_L4_LEN, key);
	}
	CU_ASSERT(diff_flows > 9000); /* and it still spreads different flows */
}

int
main(void)
{
	char *eal[] = {"test_worker", "--no-huge",	   "-m", "256", "--no-pci",
		       "--no-shconf", "--log-level=error", "-l", "0",	"--no-telemetry"};
	char err[256];

	if (rte_eal_init(RTE_DIM(eal), eal) < 0)
		return 1;
	make_nir();
	mp = rte_pktmbuf_pool_create("test", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (mp == NULL ||
	    sl_conf_load(&conf, SL_SOURCE_DIR "/config/sluice.conf", NULL, 0, err, sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	conf.flow_capacity = 1024;
	conf.http_flows = 16;
	CU_initialize_registry();
	CU_pSuite s = CU_add_suite("worker", NULL, NULL);
	CU_add_test(s, "flows reusing table slots start clean", test_reused_slots_start_clean);
	CU_add_test(s, "value split over two segments: one alert, count in flow end",
		    test_split_value_alerts_once);
	CU_add_test(s, "deny in protect on inline: drop, block both ways, two resets",
		    test_deny_drops_blocks_and_resets);
	CU_add_test(s, "deny on a mirror port only reports", test_deny_on_mirror_only_reports);
	CU_add_test(s, "a NIR in a base64 mail attachment is denied", test_smtp_attachment_denied);
	CU_add_test(s, "deny on a mirror port with an injection port resets both ends",
		    test_deny_on_mirror_with_injection_resets);
	CU_add_test(s, "UDP datagrams are scanned one by one", test_udp_datagrams_are_scanned);
	CU_add_test(s, "deny on UDP drops the flow on inline ports, reports on mirrors",
		    test_udp_deny_drops_the_flow);
	CU_add_test(s, "ICMP echo data scanned one message at a time; other ICMP counted",
		    test_icmp_echo_data_is_scanned);
	CU_add_test(s, "ICMP session picked up at a reply: the requester is the client",
		    test_icmp_session_picked_up_at_a_reply);
	CU_add_test(s, "deny on a ping tunnel drops the session on inline ports only",
		    test_icmp_deny_drops_the_session);
	CU_add_test(s, "fail closed drops what cannot be inspected", test_fail_closed);
	CU_add_test(s, "fail open forwards it", test_fail_open);
	CU_add_test(s, "value across IP fragments: found, denied on the completing fragment",
		    test_fragmented_value_found_and_denied);
	CU_add_test(s, "fragmented echo request with a value: denied on the completing fragment",
		    test_fragmented_echo_denied);
	CU_add_test(s, "conflicting fragment overlap: flow reported uninspectable",
		    test_conflicting_fragment_overlap_is_reported);
	CU_add_test(s, "fragments without reassembly follow the fail policy",
		    test_fragments_without_reassembly_follow_fail_policy);
	CU_add_test(s, "ruleset switch between two halves of a value",
		    test_ruleset_switch_mid_value);
	CU_add_test(s, "symmetric RSS key: both directions hash alike", test_rss_key_is_symmetric);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	sl_conf_free(&conf);
	rte_eal_cleanup();
	return fails != 0;
}
