/* Unit tests of sl_pkt: frames are built by hand from a `struct spec`, parsed, and every decoded
 * field checked. Truncation tests copy each prefix into a heap block of exactly that size, so
 * valgrind or ASan catches any read past `len`. Random inputs use a fixed seed: deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_hash_crc.h>

#include "sl_pkt.h"

#define FRAME_MAX 2048

/* What to build. Addresses are 16 bytes; IPv4 uses the first 4. */
struct spec {
	int nvlan;
	uint16_t tpid[3], vid[3];
	uint16_t ethertype; /* 0: 0x0800 or 0x86dd from ipver */
	int ipver;
	uint8_t src[16], dst[16];
	uint8_t proto;
	uint16_t sport, dport; /* ICMP: sport is the echo identifier */
	uint8_t icmp_type, icmp_code;
	size_t ipopt;	 /* IPv4 option bytes, multiple of 4 */
	uint16_t frag;	 /* IPv4 flags/offset field, or IPv6 fragment header offset|M field */
	int next;	 /* IPv6 extension headers, in order */
	uint8_t ext[10]; /* their types */
	size_t tcpopt;	 /* TCP option bytes, multiple of 4 */
	uint8_t tcp_flags;
	uint32_t seq, ack;
	uint16_t win;
	size_t paylen; /* L4 payload bytes */
	size_t pad_to; /* Ethernet padding: frame is at least this long */
	size_t ip_end; /* out: frame offset where the IP packet ends */
	size_t l3, l4; /* out: frame offsets of the IP and L4 headers */
};

struct fb {
	uint8_t d[FRAME_MAX];
	size_t n;
};

static void
put8(struct fb *f, uint8_t v)
{
	CU_ASSERT_FATAL(f->n < FRAME_MAX);
	f->d[f->n++] = v;
}

static void
put16(struct fb *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

static void
put32(struct fb *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static void
putn(struct fb *f, const uint8_t *p, size_t n)
{
	while (n--)
		put8(f, *p++);
}

static void
fill(struct fb *f, uint8_t v, size_t n)
{
	while (n--)
		put8(f, v);
}

/* Bytes taken by one IPv6 extension header of type t, as build() writes it. */
static size_t
ext_len(uint8_t t)
{
	switch (t) {
	case 51:
		return 16; /* AH, length field 2: (2 + 2) * 4 */
	case 60:
		return 16; /* destination options, length field 1 */
	default:
		return 8; /* hop-by-hop, routing, fragment: length field 0 */
	}
}

static size_t
l4_hdr_len(const struct spec *s)
{
	if (s->proto == 6)
		return 20 + s->tcpopt;
	if (s->proto == 17 || s->proto == 1 || s->proto == 58)
		return 8;
	return 0;
}

/* Writes the frame described by *s into *f, and the offsets into s->l3, l4, ip_end. */
static void
build(struct fb *f, struct spec *s)
{
	size_t l4len = l4_hdr_len(s) + s->paylen, extlen = 0, i;
	uint16_t type = s->ethertype ? s->ethertype : s->ipver == 6 ? 0x86dd : 0x0800;

	f->n = 0;
	fill(f, 0xd1, 6); /* destination MAC */
	fill(f, 0x5a, 6); /* source MAC */
	for (i = 0; i < (size_t)s->nvlan; i++) {
		put16(f, s->tpid[i]);
		put16(f, (uint16_t)(0xe000 | s->vid[i])); /* priority bits must be masked off */
	}
	put16(f, type);
	s->l3 = f->n;
	if (s->ipver == 4) {
		put8(f, (uint8_t)(0x40 | (20 + s->ipopt) / 4));
		put8(f, 0);
		put16(f, (uint16_t)(20 + s->ipopt + l4len));
		put16(f, 0x1234);
		put16(f, s->frag);
		put8(f, 64);
		put8(f, s->proto);
		put16(f, 0); /* checksum: not verified by the parser */
		putn(f, s->src, 4);
		putn(f, s->dst, 4);
		fill(f, 0x01, s->ipopt); /* NOP options */
	} else {
		for (i = 0; i < (size_t)s->next; i++)
			extlen += ext_len(s->ext[i]);
		put32(f, 0x60000000);
		put16(f, (uint16_t)(extlen + l4len));
		put8(f, s->next ? s->ext[0] : s->proto);
		put8(f, 64);
		putn(f, s->src, 16);
		putn(f, s->dst, 16);
		for (i = 0; i < (size_t)s->next; i++) {
			uint8_t t = s->ext[i];

			put8(f, i + 1 < (size_t)s->next ? s->ext[i + 1] : s->proto);
			if (t == 44) {
				put8(f, 0);
				put16(f, s->frag);
				put32(f, 0xabcd);
			} else {
				put8(f, t == 51 ? 2 : t == 60 ? 1 : 0);
				fill(f, 0, ext_len(t) - 2);
			}
		}
	}
	s->l4 = f->n;
	if (s->proto == 6) {
		put16(f, s->sport);
		put16(f, s->dport);
		put32(f, s->seq);
		put32(f, s->ack);
		put8(f, (uint8_t)(((20 + s->tcpopt) / 4) << 4));
		put8(f, s->tcp_flags);
		put16(f, s->win);
		put16(f, 0);
		put16(f, 0);
		fill(f, 0x01, s->tcpopt);
	} else if (s->proto == 17) {
		put16(f, s->sport);
		put16(f, s->dport);
		put16(f, (uint16_t)(8 + s->paylen));
		put16(f, 0);
	} else if (s->proto == 1 || s->proto == 58) {
		put8(f, s->icmp_type);
		put8(f, s->icmp_code);
		put16(f, 0); /* checksum: not verified by the parser */
		put16(f, s->sport);
		put16(f, 0x0102); /* sequence number */
	}
	for (i = 0; i < s->paylen; i++)
		put8(f, (uint8_t)('a' + i % 26));
	s->ip_end = f->n;
	while (f->n < s->pad_to)
		put8(f, 0);
}

static void
set_v4(uint8_t a[16], uint32_t v)
{
	memset(a, 0, 16);
	a[0] = (uint8_t)(v >> 24);
	a[1] = (uint8_t)(v >> 16);
	a[2] = (uint8_t)(v >> 8);
	a[3] = (uint8_t)v;
}

static void
set_v6(uint8_t a[16], uint16_t first, uint16_t last)
{
	memset(a, 0, 16);
	a[0] = (uint8_t)(first >> 8);
	a[1] = (uint8_t)first;
	a[14] = (uint8_t)(last >> 8);
	a[15] = (uint8_t)last;
}

/* A plain TCP spec: 10.0.0.2:40000 -> 10.0.0.1:80 (so the sender is key side 1), or the IPv6
 * equivalent 2001::2 -> 2001::1. */
static struct spec
tcp_spec(int ipver, size_t paylen)
{
	struct spec s;

	memset(&s, 0, sizeof(s));
	s.ipver = ipver;
	if (ipver == 4) {
		set_v4(s.src, 0x0a000002);
		set_v4(s.dst, 0x0a000001);
	} else {
		set_v6(s.src, 0x2001, 2);
		set_v6(s.dst, 0x2001, 1);
	}
	s.proto = 6;
	s.sport = 40000;
	s.dport = 80;
	s.seq = 0x11223344;
	s.ack = 0x55667788;
	s.win = 0xfedc;
	s.tcp_flags = SL_PKT_TCP_PSH | SL_PKT_TCP_ACK;
	s.paylen = paylen;
	return s;
}

static struct spec
udp_spec(int ipver, size_t paylen)
{
	struct spec s = tcp_spec(ipver, paylen);

	s.proto = 17;
	s.sport = 5353;
	s.dport = 53;
	return s;
}

/* An ICMP (ICMPv6) echo request with identifier 0x1234 from 198.18.0.2 to 198.18.0.1, or from
 * 2001:db8::2 to 2001:db8::1: the identifier is both "ports". */
static struct spec
icmp_spec(int ipver, size_t paylen)
{
	struct spec s = tcp_spec(ipver, paylen);

	if (ipver == 4) {
		set_v4(s.src, 0xc6120002);
		set_v4(s.dst, 0xc6120001);
	} else {
		s.src[2] = s.dst[2] = 0x0d;
		s.src[3] = s.dst[3] = 0xb8;
	}
	s.proto = ipver == 4 ? 1 : 58;
	s.icmp_type = ipver == 4 ? SL_PKT_ICMP_ECHO_REQUEST : SL_PKT_ICMPV6_ECHO_REQUEST;
	s.sport = s.dport = 0x1234;
	return s;
}

/* Parses a heap copy of exactly len bytes, so any over-read is a detectable heap error. */
static enum sl_pkt_error
parse_exact(const uint8_t *d, size_t len, struct sl_pkt_info *pi)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum sl_pkt_error e;

	CU_ASSERT_FATAL(copy != NULL);
	memcpy(copy, d, len);
	e = sl_pkt_parse(copy, len, pi);
	free(copy);
	return e;
}

/* Builds *s, parses it and checks every field against the spec. */
static void
check_ok(struct spec *s)
{
	struct fb f;
	struct sl_pkt_info pi;
	struct sl_flow_key k;
	size_t alen = s->ipver == 4 ? 4 : 16;
	enum sl_pkt_error e;
	int i;

	build(&f, s);
	e = parse_exact(f.d, f.n, &pi);
	CU_ASSERT_EQUAL_FATAL(e, SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.l3_off, s->l3);
	CU_ASSERT_EQUAL(pi.l4_off, s->l4);
	CU_ASSERT_EQUAL(pi.payload_off, s->l4 + l4_hdr_len(s));
	CU_ASSERT_EQUAL(pi.payload_len, s->paylen);
	CU_ASSERT_EQUAL(pi.key.proto, s->proto);
	CU_ASSERT_EQUAL(pi.key.ipver, s->ipver);
	for (i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(pi.key.vlan[i], i < s->nvlan ? s->vid[i] : 0);

	/* The expected key, byte for byte: zeroed, then src/dst on the sides given by dir. */
	CU_ASSERT(pi.dir <= 1);
	memset(&k, 0, sizeof(k));
	memcpy(k.addr[pi.dir], s->src, alen);
	memcpy(k.addr[!pi.dir], s->dst, alen);
	k.port[pi.dir] = s->sport;
	k.port[!pi.dir] = s->dport;
	memcpy(k.vlan, pi.key.vlan, sizeof(k.vlan));
	k.proto = s->proto;
	k.ipver = (uint8_t)s->ipver;
	CU_ASSERT(memcmp(&k, &pi.key, sizeof(k)) == 0);
	/* Canonical: side 0 is the lower (addr, port). */
	i = memcmp(pi.key.addr[0], pi.key.addr[1], 16);
	CU_ASSERT(i < 0 || (i == 0 && pi.key.port[0] <= pi.key.port[1]));

	if (s->proto == 1 || s->proto == 58) {
		CU_ASSERT_EQUAL(pi.icmp_type, s->icmp_type);
		CU_ASSERT_EQUAL(pi.icmp_code, s->icmp_code);
	}
	if (s->proto == 6) {
		CU_ASSERT_EQUAL(pi.seq, s->seq);
		CU_ASSERT_EQUAL(pi.ack, s->ack);
		CU_ASSERT_EQUAL(pi.win, s->win);
		CU_ASSERT_EQUAL(pi.tcp_flags, s->tcp_flags & 0x1f);
	}
	if (s->paylen)
		CU_ASSERT(f.d[pi.payload_off] == 'a' &&
			  f.d[pi.payload_off + pi.payload_len - 1] == 'a' + (s->paylen - 1) % 26);
}

static enum sl_pkt_error
parse_spec(struct spec *s, struct sl_pkt_info *pi)
{
	struct fb f;

	build(&f, s);
	return parse_exact(f.d, f.n, pi);
}

static void
test_ipv4_tcp(void)
{
	struct spec s = tcp_spec(4, 100);
	struct sl_pkt_info pi;

	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.l3_off, 14);
	CU_ASSERT_EQUAL(pi.l4_off, 34);
	CU_ASSERT_EQUAL(pi.payload_off, 54);
	CU_ASSERT_EQUAL(pi.dir, 1); /* 10.0.0.2 sent to 10.0.0.1 */
	CU_ASSERT_EQUAL(pi.key.port[0], 80);
	CU_ASSERT_EQUAL(pi.key.port[1], 40000);
	CU_ASSERT_EQUAL(pi.key.addr[0][3], 1);

	/* Flags outside FIN..ACK (ECE, CWR, URG) are dropped so equality tests keep working. */
	s.tcp_flags = SL_PKT_TCP_SYN | 0xc0;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.tcp_flags, SL_PKT_TCP_SYN);

	/* TCP options and an empty payload. */
	s = tcp_spec(4, 0);
	s.tcpopt = 12;
	check_ok(&s);
}

static void
test_ipv4_options(void)
{
	struct spec s = tcp_spec(4, 33);
	struct sl_pkt_info pi;

	s.ipopt = 12;
	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.l4_off, 14 + 32);
	s.ipopt = 40; /* IHL 15, the maximum */
	check_ok(&s);
}

static void
test_vlan(void)
{
	struct spec s = tcp_spec(4, 10);
	struct sl_pkt_info pi;

	s.nvlan = 1;
	s.tpid[0] = 0x8100;
	s.vid[0] = 100;
	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.l3_off, 18);
	CU_ASSERT_EQUAL(pi.key.vlan[0], 100);
	CU_ASSERT_EQUAL(pi.key.vlan[1], 0);

	/* Same flow on another VLAN is another key. */
	{
		struct sl_pkt_info p2;

		s.vid[0] = 101;
		CU_ASSERT_EQUAL(parse_spec(&s, &p2), SL_PKT_OK);
		CU_ASSERT(memcmp(&pi.key, &p2.key, sizeof(pi.key)) != 0);
	}

	s = tcp_spec(6, 10);
	s.nvlan = 1;
	s.tpid[0] = 0x8100;
	s.vid[0] = 4095;
	check_ok(&s);
}

static void
test_qinq(void)
{
	struct spec s = tcp_spec(4, 10);
	struct sl_pkt_info pi;

	s.nvlan = 2;
	s.tpid[0] = 0x88a8;
	s.vid[0] = 300;
	s.tpid[1] = 0x8100;
	s.vid[1] = 42;
	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.l3_off, 22);
	CU_ASSERT_EQUAL(pi.key.vlan[0], 300);
	CU_ASSERT_EQUAL(pi.key.vlan[1], 42);

	s.tpid[0] = 0x9100; /* pre-standard QinQ TPID */
	check_ok(&s);
	s.tpid[0] = 0x8100; /* 802.1Q in 802.1Q */
	check_ok(&s);
}

static void
test_three_vlans(void)
{
	struct spec s = tcp_spec(4, 10);
	struct sl_pkt_info pi;
	struct fb f;

	s.nvlan = 3;
	s.tpid[0] = 0x88a8;
	s.tpid[1] = 0x8100;
	s.tpid[2] = 0x8100;
	s.vid[0] = 1;
	s.vid[1] = 2;
	s.vid[2] = 3;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_TOO_MANY_VLANS);
	/* Decided from the third TPID alone, even when the tag itself is cut off. */
	build(&f, &s);
	CU_ASSERT_EQUAL(parse_exact(f.d, 22, &pi), SL_PKT_ERR_TOO_MANY_VLANS);
}

static void
test_not_ip(void)
{
	struct spec s = tcp_spec(4, 10);
	struct sl_pkt_info pi;

	s.ethertype = 0x0806; /* ARP */
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_NOT_IP);
	s.nvlan = 1;
	s.tpid[0] = 0x8100;
	s.vid[0] = 7;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_NOT_IP);
	s.ethertype = 0x86dd; /* IPv6 ethertype, IPv4 header */
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_BAD_IPV6_VERSION);
	s = tcp_spec(6, 10);
	s.ethertype = 0x0800;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_BAD_IPV4_VERSION);
}

static void
test_ipv6_tcp(void)
{
	struct spec s = tcp_spec(6, 200);
	struct sl_pkt_info pi;

	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.l4_off, 54);
	CU_ASSERT_EQUAL(pi.payload_off, 74);
	CU_ASSERT_EQUAL(pi.dir, 1);
	CU_ASSERT_EQUAL(pi.key.addr[0][15], 1);
	CU_ASSERT_EQUAL(pi.key.addr[0][0], 0x20);
}

static void
test_ipv6_ext(void)
{
	struct spec s = tcp_spec(6, 50);
	struct sl_pkt_info pi;

	s.next = 2;
	s.ext[0] = 0;  /* hop-by-hop, 8 bytes */
	s.ext[1] = 60; /* destination options, 16 bytes */
	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.l4_off, 14 + 40 + 8 + 16);

	/* All the skipped kinds, AH sized in 4-byte words. */
	s.next = 5;
	s.ext[0] = 0;
	s.ext[1] = 60;
	s.ext[2] = 43;
	s.ext[3] = 51;
	s.ext[4] = 60;
	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.l4_off, 14 + 40 + 8 + 16 + 8 + 16 + 16);

	/* UDP behind extension headers. */
	s = udp_spec(6, 9);
	s.next = 1;
	s.ext[0] = 0;
	check_ok(&s);

	/* A chain of 8 is accepted; 9 is not walked. */
	s = tcp_spec(6, 5);
	s.next = 8;
	memset(s.ext, 60, 8);
	check_ok(&s);
	s.next = 9;
	memset(s.ext, 60, 9);
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_TRUNC_IPV6_EXT);
}

static void
test_ipv6_ext_bounds(void)
{
	struct spec s = tcp_spec(6, 0);
	struct sl_pkt_info pi;
	struct fb f;

	/* An extension header whose length runs past the IPv6 payload. */
	s.next = 1;
	s.ext[0] = 60;
	build(&f, &s);
	f.d[s.l3 + 40 + 1] = 200;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_TRUNC_IPV6_EXT);

	/* Payload length covering only part of the extension header. */
	build(&f, &s);
	f.d[s.l3 + 4] = 0;
	f.d[s.l3 + 5] = 7;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_TRUNC_IPV6_EXT);
	f.d[s.l3 + 5] = 16; /* exactly the header: no TCP */
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_TRUNC_TCP);

	/* Payload length beyond the frame. */
	build(&f, &s);
	f.d[s.l3 + 5]++;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_IPV6_LEN);

	/* No next header (59) and GRE are other L4, with the key filled. */
	s = tcp_spec(6, 0);
	s.proto = 47;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_OTHER_L4);
	CU_ASSERT_EQUAL(pi.key.proto, 47);
	CU_ASSERT_EQUAL(pi.key.ipver, 6);
	s.next = 1;
	s.ext[0] = 0;
	s.proto = 59;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_OTHER_L4);
	CU_ASSERT_EQUAL(pi.key.proto, 59);
	CU_ASSERT_EQUAL(pi.l4_off, 14 + 40 + 8);
}

static void
test_ipv6_fragment(void)
{
	struct spec s = tcp_spec(6, 20);
	struct sl_pkt_info pi;

	s.next = 1;
	s.ext[0] = 44;
	s.frag = 0x0001; /* first fragment: offset 0, M = 1 */
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_IP_FRAGMENT);
	s.frag = 185 << 3; /* last fragment: offset 185, M = 0 */
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_IP_FRAGMENT);
	s.frag = (185 << 3) | 1;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_IP_FRAGMENT);

	/* Atomic fragment: a whole packet. The reserved bits do not matter. */
	s.frag = 0;
	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.l4_off, 14 + 40 + 8);
	s.frag = 0x0006;
	check_ok(&s);

	/* After other extension headers. */
	s.next = 2;
	s.ext[0] = 0;
	s.ext[1] = 44;
	s.frag = 0x0001;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_IP_FRAGMENT);
}

/* The dispatch hash of the frame s describes. */
static uint32_t
dispatch(struct spec *s)
{
	struct fb f;

	build(&f, s);
	return sl_pkt_dispatch_hash(f.d, f.n);
}

/* s from its destination back to its source. */
static void
reverse(struct spec *s)
{
	uint8_t a[16];
	uint16_t p = s->sport;

	memcpy(a, s->src, 16);
	memcpy(s->src, s->dst, 16);
	memcpy(s->dst, a, 16);
	s->sport = s->dport;
	s->dport = p;
}

/* Which worker a frame goes to: a datagram flow's frames, whole or fragments, first or later,
 * either way, hash alike (a fragment carries no ports); a TCP segment by its flow key; not IP:
 * 0. */
static void
test_dispatch_hash(void)
{
	for (int v = 4; v <= 6; v += 2) {
		struct spec s = udp_spec(v, 100);
		struct sl_pkt_info pi;
		uint32_t h;

		if (v == 4) {
			set_v4(s.src, 0xc6120002); /* 198.18.0.2 */
			set_v4(s.dst, 0xc6130009); /* 198.19.0.9 */
		} else {
			s.src[1] = s.dst[1] = 0x01; /* 2001:db8::2, 2001:db8::9 */
			s.src[2] = s.dst[2] = 0x0d;
			s.src[3] = s.dst[3] = 0xb8;
			s.src[15] = 2;
			s.dst[15] = 9;
		}
		h = dispatch(&s);
		CU_ASSERT_NOT_EQUAL(h, 0);
		s.sport = 40001; /* another flow between the same hosts: the same worker */
		CU_ASSERT_EQUAL(dispatch(&s), h);
		if (v == 4) {
			s.frag = 0x2000; /* first fragment */
			CU_ASSERT_EQUAL(dispatch(&s), h);
			s.frag = 0x0010; /* last fragment, no UDP header in it */
			CU_ASSERT_EQUAL(dispatch(&s), h);
		} else {
			s.next = 1;
			s.ext[0] = 44;
			s.frag = 0x0001;
			CU_ASSERT_EQUAL(dispatch(&s), h);
			s.frag = 185 << 3;
			CU_ASSERT_EQUAL(dispatch(&s), h);
		}
		reverse(&s);
		CU_ASSERT_EQUAL(dispatch(&s), h);
		s.frag = 0;
		s.next = 0;
		CU_ASSERT_EQUAL(dispatch(&s), h);
		s.proto = 6; /* TCP between the same hosts: by its flow key */
		CU_ASSERT_EQUAL_FATAL(parse_spec(&s, &pi), SL_PKT_OK);
		CU_ASSERT_EQUAL(dispatch(&s), sl_pkt_key_hash(&pi.key));
		CU_ASSERT_NOT_EQUAL(dispatch(&s), h);
		reverse(&s);
		CU_ASSERT_EQUAL(dispatch(&s), sl_pkt_key_hash(&pi.key));
	}
	struct spec arp = tcp_spec(4, 10);

	arp.ethertype = 0x0806;
	CU_ASSERT_EQUAL(dispatch(&arp), 0);
}

static void
test_ipv4_fragment(void)
{
	struct spec s = tcp_spec(4, 20);
	struct sl_pkt_info pi;

	s.frag = 0x2000; /* MF, offset 0 */
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_IP_FRAGMENT);
	s.frag = 0x0010; /* last fragment, offset 16 */
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_IP_FRAGMENT);
	s.frag = 0x2001;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_IP_FRAGMENT);
	s.frag = 0x4000; /* DF only: not a fragment */
	check_ok(&s);
	s.frag = 0x8000; /* reserved ("evil") bit only: not a fragment either */
	check_ok(&s);
}

static void
test_udp(void)
{
	struct spec s = udp_spec(4, 31);
	struct sl_pkt_info pi;
	struct fb f;

	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.payload_off, 14 + 20 + 8);
	CU_ASSERT_EQUAL(pi.key.port[0], 53);
	CU_ASSERT_EQUAL(pi.dir, 1);
	CU_ASSERT_EQUAL(pi.seq, 0);
	CU_ASSERT_EQUAL(pi.tcp_flags, 0);

	s = udp_spec(4, 0);
	check_ok(&s);
	s = udp_spec(6, 500);
	check_ok(&s);

	/* UDP length: below the header, beyond the IP payload, or shorter than it. */
	s = udp_spec(4, 10);
	build(&f, &s);
	f.d[s.l4 + 4] = 0;
	f.d[s.l4 + 5] = 7;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_UDP_LEN);
	f.d[s.l4 + 5] = 19;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_UDP_LEN);
	f.d[s.l4 + 5] = 12; /* the UDP length bounds the payload */
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.payload_len, 4);
}

static void
test_other_l4(void)
{
	struct spec s = tcp_spec(4, 16);
	struct sl_pkt_info pi;

	s.proto = 47; /* GRE */
	s.nvlan = 1;
	s.tpid[0] = 0x8100;
	s.vid[0] = 9;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_OTHER_L4);
	CU_ASSERT_EQUAL(pi.key.proto, 47);
	CU_ASSERT_EQUAL(pi.key.ipver, 4);
	CU_ASSERT_EQUAL(pi.key.vlan[0], 9);
	CU_ASSERT_EQUAL(pi.key.port[0], 0);
	CU_ASSERT_EQUAL(pi.key.port[1], 0);
	CU_ASSERT_EQUAL(pi.key.addr[0][3], 1);
	CU_ASSERT_EQUAL(pi.key.addr[1][3], 2);
	CU_ASSERT_EQUAL(pi.dir, 1);
	CU_ASSERT_EQUAL(pi.l4_off, 38);
	CU_ASSERT_EQUAL(pi.payload_off, 38);
	CU_ASSERT_EQUAL(pi.payload_len, 16);
}

/* Echo request and reply: decoded like UDP, the identifier standing for both ports, so both
 * directions of one ping session have one key, and the payload is the echo data. */
static void
test_icmp_echo(void)
{
	struct spec s = icmp_spec(4, 56);
	struct sl_pkt_info req, rep;
	struct spec r;

	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &req), SL_PKT_OK);
	CU_ASSERT_EQUAL(req.key.proto, 1);
	CU_ASSERT_EQUAL(req.key.port[0], 0x1234);
	CU_ASSERT_EQUAL(req.key.port[1], 0x1234);
	CU_ASSERT_EQUAL(req.l4_off, 34);
	CU_ASSERT_EQUAL(req.payload_off, 42);
	CU_ASSERT_EQUAL(req.payload_len, 56);
	CU_ASSERT_EQUAL(req.icmp_type, SL_PKT_ICMP_ECHO_REQUEST);
	CU_ASSERT_EQUAL(req.dir, 1); /* 198.18.0.2 sent it */
	r = s;
	memcpy(r.src, s.dst, 16);
	memcpy(r.dst, s.src, 16);
	r.icmp_type = SL_PKT_ICMP_ECHO_REPLY;
	check_ok(&r);
	CU_ASSERT_EQUAL(parse_spec(&r, &rep), SL_PKT_OK);
	CU_ASSERT(memcmp(&req.key, &rep.key, sizeof(req.key)) == 0);
	CU_ASSERT_EQUAL(rep.dir, 0);
	CU_ASSERT_EQUAL(rep.icmp_type, SL_PKT_ICMP_ECHO_REPLY);
	/* another session between the same hosts is another flow */
	r.sport = r.dport = 0x1235;
	CU_ASSERT_EQUAL(parse_spec(&r, &rep), SL_PKT_OK);
	CU_ASSERT(memcmp(&req.key, &rep.key, sizeof(req.key)) != 0);
	/* any code: a receiver answers the echo all the same */
	s.icmp_code = 5;
	check_ok(&s);
	s = icmp_spec(4, 0); /* no data */
	check_ok(&s);

	s = icmp_spec(6, 100);
	check_ok(&s);
	CU_ASSERT_EQUAL(parse_spec(&s, &req), SL_PKT_OK);
	CU_ASSERT_EQUAL(req.key.proto, 58);
	CU_ASSERT_EQUAL(req.payload_off, 14 + 40 + 8);
	s.icmp_type = SL_PKT_ICMPV6_ECHO_REPLY;
	check_ok(&s);
	s.next = 2; /* behind extension headers, and an atomic fragment */
	s.ext[0] = 0;
	s.ext[1] = 44;
	check_ok(&s);
	s = icmp_spec(4, 20);
	s.nvlan = 2;
	s.tpid[0] = 0x88a8;
	s.tpid[1] = 0x8100;
	s.ipopt = 8;
	check_ok(&s);
}

/* ICMP that is not an echo (errors, neighbour discovery, ...) has its own reason, with the key
 * filled (ports 0) and its type; an echo type of the other IP version is not one. */
static void
test_icmp_other(void)
{
	static const uint8_t v4types[] = {3, 11, 5, 13, 128}, v6types[] = {1, 3, 135, 136, 8, 0};
	struct spec s;
	struct sl_pkt_info pi;

	for (size_t i = 0; i < sizeof(v4types) + sizeof(v6types); i++) {
		int v6 = i >= sizeof(v4types);

		s = icmp_spec(v6 ? 6 : 4, 28);
		s.icmp_type = v6 ? v6types[i - sizeof(v4types)] : v4types[i];
		CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_ICMP_OTHER);
		CU_ASSERT_EQUAL(pi.key.proto, v6 ? 58 : 1);
		CU_ASSERT_EQUAL(pi.key.port[0], 0);
		CU_ASSERT_EQUAL(pi.key.port[1], 0);
		CU_ASSERT_EQUAL(pi.key.addr[1][v6 ? 15 : 3], 2);
		CU_ASSERT_EQUAL(pi.dir, 1);
		CU_ASSERT_EQUAL(pi.icmp_type, s.icmp_type);
		CU_ASSERT_EQUAL(pi.payload_len, 28);
	}
	s = icmp_spec(6, 8);
	s.proto = 1; /* ICMPv4 over IPv6 */
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_OTHER_L4);
	s = icmp_spec(4, 8);
	s.proto = 58; /* ICMPv6 over IPv4 */
	s.icmp_type = SL_PKT_ICMPV6_ECHO_REQUEST;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_OTHER_L4);
}

static void
test_padding(void)
{
	struct spec s = tcp_spec(4, 0);
	struct sl_pkt_info pi;
	struct fb f;

	/* 54-byte TCP ACK padded to the 60-byte Ethernet minimum. */
	s.pad_to = 60;
	build(&f, &s);
	CU_ASSERT_EQUAL(f.n, 60);
	check_ok(&s);
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.payload_len, 0);

	s = tcp_spec(4, 3);
	s.pad_to = 60;
	check_ok(&s);
	s = udp_spec(4, 2);
	s.pad_to = 60;
	check_ok(&s);
	s = udp_spec(6, 1);
	s.pad_to = 100;
	check_ok(&s);
	s = tcp_spec(4, 1);
	s.proto = 47;
	s.pad_to = 60;
	CU_ASSERT_EQUAL(parse_spec(&s, &pi), SL_PKT_ERR_OTHER_L4);
	CU_ASSERT_EQUAL(pi.payload_len, 1);
	s = icmp_spec(4, 3); /* echo data before the padding only */
	s.pad_to = 60;
	check_ok(&s);
}

/* The error a prefix of `p` bytes of frame *s must produce. Only the frame and IP lengths are
 * wrong in a prefix, so the error names the first header that does not fit, or the IP length
 * once the IP header is whole; from the end of the IP packet on, the prefix is a complete packet
 * (what remains is padding) and must decode. */
static enum sl_pkt_error
prefix_expect(const struct spec *s, size_t p)
{
	size_t hlen = 20 + s->ipopt;

	if (p < 14)
		return SL_PKT_ERR_TRUNC_ETH;
	if (p < s->l3)
		return SL_PKT_ERR_TRUNC_VLAN;
	if (p >= s->ip_end)
		return SL_PKT_OK;
	if (s->ipver == 4)
		return p < s->l3 + hlen ? SL_PKT_ERR_TRUNC_IPV4 : SL_PKT_ERR_BAD_IPV4_LEN;
	return p < s->l3 + 40 ? SL_PKT_ERR_TRUNC_IPV6 : SL_PKT_ERR_BAD_IPV6_LEN;
}

static void
check_prefixes(struct spec *s)
{
	struct sl_pkt_info pi;
	struct fb f;
	size_t p;

	build(&f, s);
	for (p = 0; p < f.n; p++) {
		enum sl_pkt_error want = prefix_expect(s, p), got = parse_exact(f.d, p, &pi);

		if (got != want)
			printf("\n  prefix %zu of %zu: got %s, want %s", p, f.n,
			       sl_pkt_error_name(got), sl_pkt_error_name(want));
		CU_ASSERT_EQUAL(got, want);
		if (got == SL_PKT_OK)
			CU_ASSERT_EQUAL(pi.payload_len, s->paylen);
	}
}

static void
test_truncation(void)
{
	struct spec s = tcp_spec(4, 10);

	check_prefixes(&s);
	s.ipopt = 8;
	s.tcpopt = 12;
	check_prefixes(&s);
	s.nvlan = 2;
	s.tpid[0] = 0x88a8;
	s.tpid[1] = 0x8100;
	s.vid[0] = 5;
	s.vid[1] = 6;
	check_prefixes(&s);
	s = tcp_spec(4, 0);
	s.pad_to = 60; /* prefixes of 54..59 bytes are whole packets */
	check_prefixes(&s);
	s = udp_spec(4, 7);
	s.nvlan = 1;
	s.tpid[0] = 0x8100;
	check_prefixes(&s);
	s = tcp_spec(6, 10);
	check_prefixes(&s);
	s.next = 3;
	s.ext[0] = 0;
	s.ext[1] = 51;
	s.ext[2] = 60;
	check_prefixes(&s);
	s = udp_spec(6, 3);
	s.pad_to = 100;
	check_prefixes(&s);
	s = icmp_spec(4, 12);
	check_prefixes(&s);
	s = icmp_spec(6, 0);
	s.pad_to = 70;
	check_prefixes(&s);
}

/* The IP length bounds L4: shrinking it (the frame unchanged, the rest becoming trailer) must
 * give the L4 error of the first header that no longer fits, never a read of the trailer. */
static void
test_ip_length_bounds(void)
{
	struct spec s = tcp_spec(4, 10);
	struct sl_pkt_info pi;
	struct fb f;
	size_t tot, full;
	enum sl_pkt_error want, got;

	s.ipopt = 4;
	s.tcpopt = 8;
	build(&f, &s);
	full = s.ip_end - s.l3;
	for (tot = 0; tot <= full; tot++) {
		f.d[s.l3 + 2] = (uint8_t)(tot >> 8);
		f.d[s.l3 + 3] = (uint8_t)tot;
		if (tot < 24)
			want = SL_PKT_ERR_BAD_IPV4_LEN;
		else if (tot < 24 + 20)
			want = SL_PKT_ERR_TRUNC_TCP;
		else if (tot < 24 + 28)
			want = SL_PKT_ERR_BAD_TCP_HLEN;
		else
			want = SL_PKT_OK;
		got = parse_exact(f.d, f.n, &pi);
		CU_ASSERT_EQUAL(got, want);
		if (got == SL_PKT_OK)
			CU_ASSERT_EQUAL(pi.payload_len, tot - 24 - 28);
	}

	s = udp_spec(6, 10);
	build(&f, &s);
	full = s.ip_end - s.l3 - 40;
	for (tot = 0; tot <= full; tot++) {
		f.d[s.l3 + 4] = (uint8_t)(tot >> 8);
		f.d[s.l3 + 5] = (uint8_t)tot;
		want = tot < 8	    ? SL_PKT_ERR_TRUNC_UDP
		       : tot < full ? SL_PKT_ERR_BAD_UDP_LEN
				    : SL_PKT_OK;
		CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), want);
	}

	/* ICMP: 8 header bytes, then whatever the IP length leaves is echo data, for an echo
	 * and for any other type. */
	for (int other = 0; other < 2; other++) {
		s = icmp_spec(4, 10);
		s.icmp_type = other ? 3 : SL_PKT_ICMP_ECHO_REQUEST;
		build(&f, &s);
		full = s.ip_end - s.l3;
		for (tot = 20; tot <= full; tot++) {
			f.d[s.l3 + 2] = (uint8_t)(tot >> 8);
			f.d[s.l3 + 3] = (uint8_t)tot;
			want = tot < 28 ? SL_PKT_ERR_TRUNC_ICMP
			       : other	? SL_PKT_ERR_ICMP_OTHER
					: SL_PKT_OK;
			got = parse_exact(f.d, f.n, &pi);
			CU_ASSERT_EQUAL(got, want);
			if (got != SL_PKT_ERR_TRUNC_ICMP)
				CU_ASSERT_EQUAL(pi.payload_len, tot - 28);
		}
	}
	s = icmp_spec(6, 0);
	build(&f, &s);
	for (tot = 0; tot <= 8; tot++) {
		f.d[s.l3 + 5] = (uint8_t)tot;
		CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi),
				tot < 8 ? SL_PKT_ERR_TRUNC_ICMP : SL_PKT_OK);
	}
}

static void
test_bad_ihl(void)
{
	struct spec s = tcp_spec(4, 10);
	struct sl_pkt_info pi;
	struct fb f;
	int ihl;

	s.pad_to = 14 + 60 + 20; /* room for a 60-byte header in the frame, not the packet */
	build(&f, &s);
	for (ihl = 0; ihl < 5; ihl++) {
		f.d[s.l3] = (uint8_t)(0x40 | ihl);
		CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_IPV4_HLEN);
	}
	/* IHL 15 claims 60 header bytes: the 50-byte IP packet is shorter than its header. */
	f.d[s.l3] = 0x4f;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_IPV4_LEN);
	/* ... and a frame ending before those 60 bytes cannot even hold the header. */
	CU_ASSERT_EQUAL(parse_exact(f.d, s.l3 + 50, &pi), SL_PKT_ERR_TRUNC_IPV4);
	/* IHL 6 shifts TCP by 4 bytes: its data offset is then read from the zero checksum. */
	f.d[s.l3] = 0x46;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_TCP_HLEN);

	/* Total length below the minimal header. */
	build(&f, &s);
	f.d[s.l3 + 2] = 0;
	f.d[s.l3 + 3] = 19;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_IPV4_LEN);

	/* Versions. */
	build(&f, &s);
	f.d[s.l3] = 0x65;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_IPV4_VERSION);
	s = tcp_spec(6, 10);
	build(&f, &s);
	f.d[s.l3] = 0x40;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_IPV6_VERSION);
}

static void
test_bad_tcp_hlen(void)
{
	struct spec s = tcp_spec(4, 10);
	struct sl_pkt_info pi;
	struct fb f;
	int doff;

	build(&f, &s);
	for (doff = 0; doff < 5; doff++) {
		f.d[s.l4 + 12] = (uint8_t)(doff << 4);
		CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_TCP_HLEN);
	}
	/* 30 bytes of TCP segment: data offset 7 (28) fits, 8 (32) does not. */
	f.d[s.l4 + 12] = 7 << 4;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_OK);
	CU_ASSERT_EQUAL(pi.payload_len, 2);
	f.d[s.l4 + 12] = 8 << 4;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_TCP_HLEN);
	f.d[s.l4 + 12] = 15 << 4;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_BAD_TCP_HLEN);

	/* TCP and UDP headers cut short by the IP length. */
	s = tcp_spec(4, 0);
	build(&f, &s);
	f.d[s.l3 + 3] = 20 + 19;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_TRUNC_TCP);
	s = udp_spec(4, 0);
	build(&f, &s);
	f.d[s.l3 + 3] = 20 + 7;
	CU_ASSERT_EQUAL(parse_exact(f.d, f.n, &pi), SL_PKT_ERR_TRUNC_UDP);
}

/* Deterministic xorshift64: the tests must not depend on libc's rand(). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* Parses s and its mirror (src/dst and ports swapped): same key and hash, opposite dir. */
static void
check_symmetric(struct spec *s)
{
	struct sl_pkt_info a, b;
	struct spec m = *s;
	int same = !memcmp(s->src, s->dst, 16) && s->sport == s->dport;

	memcpy(m.src, s->dst, 16);
	memcpy(m.dst, s->src, 16);
	m.sport = s->dport;
	m.dport = s->sport;
	CU_ASSERT_EQUAL_FATAL(parse_spec(s, &a), SL_PKT_OK);
	CU_ASSERT_EQUAL_FATAL(parse_spec(&m, &b), SL_PKT_OK);
	CU_ASSERT(memcmp(&a.key, &b.key, sizeof(a.key)) == 0);
	CU_ASSERT_EQUAL(sl_pkt_key_hash(&a.key), sl_pkt_key_hash(&b.key));
	/* CU_ASSERT is a braced block: an if/else around it needs braces. */
	if (same) {
		CU_ASSERT(a.dir == 0 && b.dir == 0);
	} else {
		CU_ASSERT(a.dir == !b.dir);
	}
	check_ok(s);
	check_ok(&m);
}

static void
test_symmetry(void)
{
	struct spec s;
	int i, j, ver;

	for (ver = 4; ver <= 6; ver += 2) {
		for (i = 0; i < 2000; i++) {
			s = i % 3 == 2 ? icmp_spec(ver, i % 9)
			    : i & 1    ? udp_spec(ver, i % 7)
				       : tcp_spec(ver, i % 5);
			for (j = 0; j < (ver == 4 ? 4 : 16); j++) {
				/* Small alphabets so equal prefixes, addresses and ports occur. */
				s.src[j] = (uint8_t)(rng() % 3);
				s.dst[j] = (uint8_t)(rng() % 3);
			}
			s.sport = (uint16_t)(i % 3 ? rng() : rng() % 2);
			s.dport = (uint16_t)(i % 3 ? rng() : rng() % 2);
			if (i % 10 == 0)
				memcpy(s.dst, s.src, 16); /* same host, ports decide */
			if (i % 50 == 0 || i % 3 == 2)
				s.dport = s.sport; /* an echo identifier is both ports */
			check_symmetric(&s);
		}
	}
}

static void
test_hash(void)
{
	struct spec s = tcp_spec(4, 0);
	struct sl_pkt_info a, b;
	struct sl_flow_key z;
	int i;

	/* Exactly rte_hash_crc over the key, so a table may use either. */
	memset(&z, 0, sizeof(z));
	CU_ASSERT_EQUAL(sl_pkt_key_hash(&z), rte_hash_crc(&z, sizeof(z), 0));
	for (i = 0; i < 1000; i++) {
		s.sport = (uint16_t)rng();
		set_v4(s.src, rng());
		CU_ASSERT_EQUAL_FATAL(parse_spec(&s, &a), SL_PKT_OK);
		CU_ASSERT_EQUAL(sl_pkt_key_hash(&a.key), rte_hash_crc(&a.key, sizeof(a.key), 0));
	}

	/* Different flows should hash differently (not a guarantee, but these do). */
	s = tcp_spec(4, 0);
	CU_ASSERT_EQUAL_FATAL(parse_spec(&s, &a), SL_PKT_OK);
	s.sport++;
	CU_ASSERT_EQUAL_FATAL(parse_spec(&s, &b), SL_PKT_OK);
	CU_ASSERT_NOT_EQUAL(sl_pkt_key_hash(&a.key), sl_pkt_key_hash(&b.key));
	s = udp_spec(4, 0);
	s.sport = 40000;
	s.dport = 80;
	CU_ASSERT_EQUAL_FATAL(parse_spec(&s, &b), SL_PKT_OK);
	CU_ASSERT_NOT_EQUAL(sl_pkt_key_hash(&a.key), sl_pkt_key_hash(&b.key));
}

static void
test_error_names(void)
{
	int i, j;

	CU_ASSERT_STRING_EQUAL(sl_pkt_error_name(SL_PKT_OK), "ok");
	CU_ASSERT_STRING_EQUAL(sl_pkt_error_name(SL_PKT_ERR_TRUNC_ETH), "truncated_ethernet");
	CU_ASSERT_STRING_EQUAL(sl_pkt_error_name(SL_PKT_ERR_OTHER_L4), "other_l4");
	CU_ASSERT_STRING_EQUAL(sl_pkt_error_name(SL_PKT_ERR_ICMP_OTHER), "icmp_other");
	CU_ASSERT_STRING_EQUAL(sl_pkt_error_name(SL_PKT_ERR_TRUNC_ICMP), "truncated_icmp");
	CU_ASSERT_STRING_EQUAL(sl_pkt_error_name(SL_PKT_ERR_COUNT), "unknown");
	CU_ASSERT_STRING_EQUAL(sl_pkt_error_name((enum sl_pkt_error) - 1), "unknown");
	for (i = 0; i < SL_PKT_ERR_COUNT; i++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(sl_pkt_error_name((enum sl_pkt_error)i));
		for (j = 0; j < i; j++)
			CU_ASSERT(strcmp(sl_pkt_error_name((enum sl_pkt_error)i),
					 sl_pkt_error_name((enum sl_pkt_error)j)) != 0);
	}
}

/* Randomly corrupted valid frames: whatever the verdict, a decode must stay inside the frame. */
static void
test_mutations(void)
{
	struct spec specs[6];
	struct sl_pkt_info pi;
	struct fb f;
	int i, j, n;

	specs[0] = tcp_spec(4, 20);
	specs[0].nvlan = 1;
	specs[0].tpid[0] = 0x8100;
	specs[0].ipopt = 8;
	specs[1] = udp_spec(4, 5);
	specs[1].pad_to = 60;
	specs[2] = tcp_spec(6, 20);
	specs[2].next = 3;
	specs[2].ext[0] = 0;
	specs[2].ext[1] = 44;
	specs[2].ext[2] = 51;
	specs[3] = udp_spec(6, 8);
	specs[4] = icmp_spec(4, 16);
	specs[5] = icmp_spec(6, 3);
	for (i = 0; i < 30000; i++) {
		build(&f, &specs[i % 6]);
		n = 1 + (int)(rng() % 4);
		for (j = 0; j < n; j++)
			f.d[rng() % f.n] = (uint8_t)rng();
		f.n -= rng() % 3 == 0 ? rng() % f.n : 0;
		switch (parse_exact(f.d, f.n, &pi)) {
		case SL_PKT_OK:
		case SL_PKT_ERR_ICMP_OTHER:
		case SL_PKT_ERR_OTHER_L4:
			CU_ASSERT(pi.l3_off < pi.l4_off && pi.l4_off <= pi.payload_off);
			CU_ASSERT((size_t)pi.payload_off + pi.payload_len <= f.n);
			CU_ASSERT(pi.dir <= 1);
			CU_ASSERT(pi.key.ipver == 4 || pi.key.ipver == 6);
			CU_ASSERT(pi.key.pad[0] == 0 && pi.key.pad[1] == 0);
			break;
		default:
			break;
		}
	}
}

int
main(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
	    {"ipv4 tcp", test_ipv4_tcp},
	    {"ipv4 options", test_ipv4_options},
	    {"802.1Q", test_vlan},
	    {"QinQ", test_qinq},
	    {"three VLAN tags", test_three_vlans},
	    {"not IP", test_not_ip},
	    {"ipv6 tcp", test_ipv6_tcp},
	    {"ipv6 extension headers", test_ipv6_ext},
	    {"ipv6 extension bounds", test_ipv6_ext_bounds},
	    {"ipv6 fragment", test_ipv6_fragment},
	    {"dispatch hash: datagram flows whole or fragmented, tcp by flow", test_dispatch_hash},
	    {"ipv4 fragment", test_ipv4_fragment},
	    {"udp", test_udp},
	    {"icmp echo", test_icmp_echo},
	    {"icmp other than echo", test_icmp_other},
	    {"other l4", test_other_l4},
	    {"ethernet padding", test_padding},
	    {"every truncation", test_truncation},
	    {"ip length bounds l4", test_ip_length_bounds},
	    {"bad ihl", test_bad_ihl},
	    {"bad tcp data offset", test_bad_tcp_hlen},
	    {"key symmetry", test_symmetry},
	    {"key hash", test_hash},
	    {"error names", test_error_names},
	    {"random mutations", test_mutations},
	};
	CU_pSuite suite;
	unsigned int failures;
	size_t i;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return CU_get_error();
	suite = CU_add_suite("sl_pkt", NULL, NULL);
	if (!suite)
		goto fail;
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (!CU_add_test(suite, tests[i].name, tests[i].fn))
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures != 0;
fail:
	CU_cleanup_registry();
	return 1;
}
