/* sl_pkt: L2-L4 decoder for one frame, on the per-packet hot path.
 *
 * Invariants:
 * - Every read is preceded by a bounds check against the smaller of the captured length and the
 *   length the enclosing header claims: L2 and the IP header are bounded by `len`, everything
 *   after the IP header by the IP length field, so Ethernet trailer padding never becomes
 *   payload and a lying inner length can never reach past the IP packet.
 * - `*out` is zeroed first, so the key is all-zero outside the fields set here and can be hashed
 *   and compared as bytes; on error `*out` holds whatever was decoded before the failure (the
 *   whole key for SL_PKT_ERR_OTHER_L4 and SL_PKT_ERR_ICMP_OTHER, with ports 0).
 * - No allocation, no logging, no global state: safe to call from any lcore.
 *
 * Error taxonomy: TRUNC_* means the frame ends inside a fixed-size header (or, above L3, the IP
 * packet ends inside one); BAD_* means a length/version field is inconsistent with its header
 * or with the bytes available. A captured frame shorter than the IP length is BAD_IPV4_LEN /
 * BAD_IPV6_LEN: on a NIC the frame is complete, so it is the length field that is wrong.
 *
 * IPv6 jumbograms (payload length 0 with a jumbo option) are not supported: the extension walk
 * or L4 decode reports truncation for them. */
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_common.h>
#if defined(RTE_ARCH_X86_64) && defined(__SSE4_2__)
#include <nmmintrin.h>
#else
#include <rte_hash_crc.h>
#endif

#include "sl_pkt.h"

#define ETH_HLEN       14
#define VLAN_HLEN      4
#define ETHER_IPV4     0x0800
#define ETHER_IPV6     0x86dd
#define ETHER_8021Q    0x8100
#define ETHER_8021AD   0x88a8
#define ETHER_QINQ_OLD 0x9100
#define IPV4_HLEN_MIN  20
#define IPV6_HLEN      40
#define TCP_HLEN_MIN   20
#define UDP_HLEN       8
#define ICMP_HLEN      8 /* type, code, checksum, 4 bytes by type (echo: identifier, sequence) */
#define IPV4_MF_OFFSET 0x3fff /* MF flag and fragment offset: any bit set means a fragment */
#define IPV6_FRAG_MASK 0xfff9 /* fragment offset and M flag, ignoring the 2 reserved bits */
#define PROTO_HOPOPTS  0
#define PROTO_ICMP     1
#define PROTO_TCP      6
#define PROTO_UDP      17
#define PROTO_ROUTING  43
#define PROTO_FRAGMENT 44
#define PROTO_AH       51
#define PROTO_ICMPV6   58
#define PROTO_DSTOPTS  60
#define TCP_FLAGS_MASK 0x1f /* FIN..ACK: keeps ECN bits from breaking flag equality tests */
#define VLAN_MAX       2

/* Legal chains have at most 6 of the headers we skip (RFC 8200 section 4.1). The cap also keeps
 * every offset below 2^16 (each header is at most 2048 bytes), so the uint16_t offsets in
 * struct sl_pkt_info cannot wrap. */
#define IPV6_EXT_MAX 8

/* Seed of the flow hash; sl_pkt_key_hash() equals rte_hash_crc(key, sizeof(*key), this). */
#define KEY_HASH_SEED 0

_Static_assert(sizeof(struct sl_flow_key) % 4 == 0, "key hash consumes 8- and 4-byte words");

/* Generated from the X-macro; clang-format cannot lay out the expansion. */
/* clang-format off */
static const char *const error_names[SL_PKT_ERR_COUNT] = {
	[SL_PKT_OK] = "ok",
#define SL_X(e, s) [SL_PKT_ERR_##e] = s,
	SL_PKT_ERRORS(SL_X)
#undef SL_X
};
/* clang-format on */

const char *
sl_pkt_error_name(enum sl_pkt_error e)
{
	if ((unsigned int)e >= SL_PKT_ERR_COUNT)
		return "unknown";
	return error_names[e];
}

/* Unaligned big-endian loads: headers after VLAN tags or IPv4 options have no alignment. */
static inline uint16_t
rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return rte_be_to_cpu_16(v);
}

static inline uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return rte_be_to_cpu_32(v);
}

static inline uint64_t
rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return rte_be_to_cpu_64(v);
}

/* Where L3 decoding leaves the L4 header: [l4, end) is the IP payload, within the frame. */
struct l3_result {
	const uint8_t *src, *dst; /* addresses inside the frame */
	size_t l4, end;		  /* frame offsets */
	uint8_t proto;
};

/* Decodes the IPv4 header at data[l3]. Returns SL_PKT_OK with *r filled, or the reason; for a
 * fragment, SL_PKT_ERR_IP_FRAGMENT with *fr filled when fr is not NULL. */
static inline enum sl_pkt_error
parse_ipv4(const uint8_t *data, size_t len, size_t l3, struct l3_result *r, struct sl_pkt_frag *fr)
{
	const uint8_t *ip = data + l3;
	size_t avail = len - l3;
	size_t hlen, tot;

	if (unlikely(avail < IPV4_HLEN_MIN))
		return SL_PKT_ERR_TRUNC_IPV4;
	if (unlikely((ip[0] >> 4) != 4))
		return SL_PKT_ERR_BAD_IPV4_VERSION;
	hlen = (size_t)(ip[0] & 0x0f) * 4;
	if (unlikely(hlen < IPV4_HLEN_MIN))
		return SL_PKT_ERR_BAD_IPV4_HLEN;
	if (unlikely(hlen > avail))
		return SL_PKT_ERR_TRUNC_IPV4;
	tot = rd16(ip + 2);
	if (unlikely(tot < hlen || tot > avail))
		return SL_PKT_ERR_BAD_IPV4_LEN;
	/* Only the first fragment carries the L4 header and none is a whole segment: reassembly is
	 * not this stage's job, so the caller's fragment policy decides. */
	if (unlikely(rd16(ip + 6) & IPV4_MF_OFFSET)) {
		if (fr) {
			fr->id = rd16(ip + 4);
			fr->offset = (uint32_t)(rd16(ip + 6) & 0x1fff) * 8;
			fr->more = (rd16(ip + 6) & 0x2000) != 0;
			fr->proto = ip[9];
			fr->hdr_len = (uint16_t)hlen;
			fr->data_off = (uint16_t)(l3 + hlen);
			fr->data_len = (uint16_t)(tot - hlen);
		}
		return SL_PKT_ERR_IP_FRAGMENT;
	}

	r->src = ip + 12;
	r->dst = ip + 16;
	r->l4 = l3 + hlen;
	r->end = l3 + tot;
	r->proto = ip[9];
	return SL_PKT_OK;
}

/* Decodes the IPv6 header at data[l3] and skips the extension headers that may precede L4.
 * Returns SL_PKT_OK with *r filled (r->proto is the first header not skipped), or the reason;
 * for a fragment, SL_PKT_ERR_IP_FRAGMENT with *fr filled when fr is not NULL. */
static inline enum sl_pkt_error
parse_ipv6(const uint8_t *data, size_t len, size_t l3, struct l3_result *r, struct sl_pkt_frag *fr)
{
	const uint8_t *ip = data + l3;
	size_t avail = len - l3;
	size_t off, end, plen, ehlen, nh_at;
	const uint8_t *eh;
	uint8_t nh;
	int i;

	if (unlikely(avail < IPV6_HLEN))
		return SL_PKT_ERR_TRUNC_IPV6;
	if (unlikely((ip[0] >> 4) != 6))
		return SL_PKT_ERR_BAD_IPV6_VERSION;
	plen = rd16(ip + 4);
	if (unlikely(plen > avail - IPV6_HLEN))
		return SL_PKT_ERR_BAD_IPV6_LEN;

	nh = ip[6];
	nh_at = l3 + 6;
	off = l3 + IPV6_HLEN;
	end = off + plen;
	for (i = 0;; i++) {
		if (likely(nh != PROTO_HOPOPTS && nh != PROTO_ROUTING && nh != PROTO_FRAGMENT &&
			   nh != PROTO_AH && nh != PROTO_DSTOPTS))
			break;
		/* An over-long chain is malformed, not "other L4": reporting it as the latter could
		 * let TCP hidden behind padding headers bypass inspection. */
		if (unlikely(i == IPV6_EXT_MAX))
			return SL_PKT_ERR_TRUNC_IPV6_EXT;
		/* 8 bytes is every skipped header's minimum, and covers its length field. */
		if (unlikely(end - off < 8))
			return SL_PKT_ERR_TRUNC_IPV6_EXT;
		eh = data + off;
		if (nh == PROTO_FRAGMENT) {
			/* An atomic fragment (RFC 6946) is a whole packet; any other is not. */
			if (unlikely(rd16(eh + 2) & IPV6_FRAG_MASK)) {
				if (fr) {
					fr->id = rd32(eh + 4);
					fr->offset = rd16(eh + 2) & 0xfff8;
					fr->more = rd16(eh + 2) & 1;
					fr->proto = eh[0];
					fr->nh_off = (uint16_t)nh_at;
					fr->hdr_len = (uint16_t)(off - l3);
					fr->data_off = (uint16_t)(off + 8);
					fr->data_len = (uint16_t)(end - off - 8);
				}
				return SL_PKT_ERR_IP_FRAGMENT;
			}
			ehlen = 8;
		} else if (nh == PROTO_AH) {
			ehlen = ((size_t)eh[1] + 2) * 4; /* AH counts 4-byte words, minus 2 */
		} else {
			ehlen = ((size_t)eh[1] + 1) * 8;
		}
		if (unlikely(ehlen > end - off))
			return SL_PKT_ERR_TRUNC_IPV6_EXT;
		nh = eh[0];
		nh_at = off;
		off += ehlen;
	}

	r->src = ip + 8;
	r->dst = ip + 24;
	r->l4 = off;
	r->end = end;
	r->proto = nh;
	return SL_PKT_OK;
}

/* Writes addresses and ports into the key in canonical order, (addr, port) compared as bytes
 * then as a number with side 0 the lower, and sets out->dir to the sender's side. Big-endian
 * word loads order addresses exactly as memcmp() of the zero-padded 16 bytes would. */
static inline void
set_key(struct sl_pkt_info *out, const struct l3_result *r, int v6, uint16_t sport, uint16_t dport)
{
	struct sl_flow_key *k = &out->key;
	int swap;

	if (v6) {
		uint64_t sh = rd64(r->src), dh = rd64(r->dst);
		uint64_t sl = rd64(r->src + 8), dl = rd64(r->dst + 8);

		swap = sh != dh ? sh > dh : sl != dl ? sl > dl : sport > dport;
		memcpy(k->addr[swap], r->src, 16);
		memcpy(k->addr[!swap], r->dst, 16);
	} else {
		uint32_t s = rd32(r->src), d = rd32(r->dst);

		swap = s != d ? s > d : sport > dport;
		memcpy(k->addr[swap], r->src, 4);
		memcpy(k->addr[!swap], r->dst, 4);
	}
	k->port[swap] = sport;
	k->port[!swap] = dport;
	k->proto = r->proto;
	k->ipver = v6 ? 6 : 4;
	out->dir = (uint8_t)swap;
}

/* Decodes Ethernet and up to VLAN_MAX tags: the VLAN IDs into vlan[], the L3 offset and
 * EtherType into *l3 and *type. */
static inline enum sl_pkt_error
parse_l2(const uint8_t *data, size_t len, uint16_t vlan[VLAN_MAX], size_t *l3, uint16_t *type)
{
	size_t off = ETH_HLEN;
	int nvlan = 0;
	uint16_t t;

	if (unlikely(len < ETH_HLEN))
		return SL_PKT_ERR_TRUNC_ETH;
	t = rd16(data + 12);
	while (unlikely(t == ETHER_8021Q || t == ETHER_8021AD || t == ETHER_QINQ_OLD)) {
		if (unlikely(nvlan == VLAN_MAX))
			return SL_PKT_ERR_TOO_MANY_VLANS;
		if (unlikely(len - off < VLAN_HLEN))
			return SL_PKT_ERR_TRUNC_VLAN;
		vlan[nvlan++] = rd16(data + off) & 0x0fff;
		t = rd16(data + off + 2);
		off += VLAN_HLEN;
	}
	*l3 = off;
	*type = t;
	return SL_PKT_OK;
}

/* The ICMP message at l4 (rem bytes, at frame offset l4off): sets the payload, type and code in
 * *out and the echo identifier (0 for other types) in *id; returns SL_PKT_OK for an echo, or the
 * reason. Every ICMP and ICMPv6 message has the 8-byte header. An echo of any code (it is
 * answered all the same) is a datagram whose identifier is both ports. Out of line: rare. */
static __rte_noinline __rte_cold enum sl_pkt_error
parse_icmp(const uint8_t *l4, size_t rem, size_t l4off, int v6, struct sl_pkt_info *out,
	   uint16_t *id)
{
	if (rem < ICMP_HLEN)
		return SL_PKT_ERR_TRUNC_ICMP;
	out->icmp_type = l4[0];
	out->icmp_code = l4[1];
	out->payload_off = (uint16_t)(l4off + ICMP_HLEN);
	out->payload_len = (uint32_t)(rem - ICMP_HLEN);
	*id = 0;
	if (v6 ? l4[0] != SL_PKT_ICMPV6_ECHO_REQUEST && l4[0] != SL_PKT_ICMPV6_ECHO_REPLY
	       : l4[0] != SL_PKT_ICMP_ECHO_REQUEST && l4[0] != SL_PKT_ICMP_ECHO_REPLY)
		return SL_PKT_ERR_ICMP_OTHER;
	*id = rd16(l4 + 4);
	return SL_PKT_OK;
}

/* Contract in sl_pkt.h. Layers are decoded in order and the first failure is returned, so the
 * reason names the outermost broken header. */
enum sl_pkt_error
sl_pkt_parse(const uint8_t *data, size_t len, struct sl_pkt_info *out)
{
	struct l3_result r;
	enum sl_pkt_error err;
	const uint8_t *l4;
	size_t off, rem, hlen;
	uint16_t type, sport, dport;
	int v6;

	memset(out, 0, sizeof(*out));
	err = parse_l2(data, len, out->key.vlan, &off, &type);
	if (unlikely(err != SL_PKT_OK))
		return err;
	out->l3_off = (uint16_t)off;
	if (likely(type == ETHER_IPV4)) {
		v6 = 0;
		err = parse_ipv4(data, len, off, &r, NULL);
	} else if (type == ETHER_IPV6) {
		v6 = 1;
		err = parse_ipv6(data, len, off, &r, NULL);
	} else {
		return SL_PKT_ERR_NOT_IP;
	}
	if (unlikely(err != SL_PKT_OK))
		return err;

	out->l4_off = (uint16_t)r.l4;
	l4 = data + r.l4;
	rem = r.end - r.l4;
	if (likely(r.proto == PROTO_TCP)) {
		if (unlikely(rem < TCP_HLEN_MIN))
			return SL_PKT_ERR_TRUNC_TCP;
		hlen = (size_t)(l4[12] >> 4) * 4;
		if (unlikely(hlen < TCP_HLEN_MIN || hlen > rem))
			return SL_PKT_ERR_BAD_TCP_HLEN;
		sport = rd16(l4);
		dport = rd16(l4 + 2);
		out->seq = rd32(l4 + 4);
		out->ack = rd32(l4 + 8);
		out->tcp_flags = l4[13] & TCP_FLAGS_MASK;
		out->win = rd16(l4 + 14);
		out->payload_off = (uint16_t)(r.l4 + hlen);
		out->payload_len = (uint32_t)(rem - hlen);
	} else if (r.proto == PROTO_UDP) {
		if (unlikely(rem < UDP_HLEN))
			return SL_PKT_ERR_TRUNC_UDP;
		hlen = rd16(l4 + 4); /* UDP length, header included */
		if (unlikely(hlen < UDP_HLEN || hlen > rem))
			return SL_PKT_ERR_BAD_UDP_LEN;
		sport = rd16(l4);
		dport = rd16(l4 + 2);
		out->payload_off = (uint16_t)(r.l4 + UDP_HLEN);
		out->payload_len = (uint32_t)(hlen - UDP_HLEN);
	} else if (r.proto == (v6 ? PROTO_ICMPV6 : PROTO_ICMP)) {
		err = parse_icmp(l4, rem, r.l4, v6, out, &sport);
		if (unlikely(err == SL_PKT_ERR_TRUNC_ICMP))
			return err;
		dport = sport;
	} else {
		/* Still a flow the caller may want to count or pass: give it a portless key. */
		sport = 0;
		dport = 0;
		out->payload_off = (uint16_t)r.l4;
		out->payload_len = (uint32_t)rem;
		err = SL_PKT_ERR_OTHER_L4;
	}
	set_key(out, &r, v6, sport, dport);
	return err; /* SL_PKT_OK from L3 unless L4 was not TCP, UDP or an ICMP echo */
}

/* Contract in sl_pkt.h. The same decoding as sl_pkt_parse up to the fragment, on the rare path
 * only, so the hot path's parser carries none of this. */
enum sl_pkt_error
sl_pkt_fragment(const uint8_t *data, size_t len, struct sl_pkt_frag *out)
{
	struct l3_result r;
	enum sl_pkt_error err;
	uint16_t type;
	size_t off;

	memset(out, 0, sizeof(*out));
	err = parse_l2(data, len, out->vlan, &off, &type);
	if (err != SL_PKT_OK)
		return err;
	out->l3_off = (uint16_t)off;
	if (type == ETHER_IPV4) {
		out->ipver = 4;
		return parse_ipv4(data, len, off, &r, out);
	}
	if (type == ETHER_IPV6) {
		out->ipver = 6;
		return parse_ipv6(data, len, off, &r, out);
	}
	return SL_PKT_ERR_NOT_IP;
}

/* Contract in sl_pkt.h. */
uint32_t
sl_pkt_dispatch_hash(const uint8_t *data, size_t len)
{
	struct sl_pkt_info pi;
	struct sl_pkt_frag fr;
	enum sl_pkt_error e = sl_pkt_parse(data, len, &pi);
	struct sl_flow_key *k = &pi.key;

	if (e == SL_PKT_OK && k->proto == PROTO_TCP)
		return sl_pkt_key_hash(k);
	if (e == SL_PKT_OK || e == SL_PKT_ERR_OTHER_L4 || e == SL_PKT_ERR_ICMP_OTHER) {
		k->port[0] = k->port[1] = 0; /* side 0 keeps the lower address */
		return sl_pkt_key_hash(k);
	}
	if (e != SL_PKT_ERR_IP_FRAGMENT ||
	    sl_pkt_fragment(data, len, &fr) != SL_PKT_ERR_IP_FRAGMENT)
		return 0;
	/* The key the whole datagram would have, without ports: set_key orders its sides. */
	const uint8_t *ip = data + fr.l3_off;
	struct l3_result r = {.src = ip + (fr.ipver == 4 ? 12 : 8),
			      .dst = ip + (fr.ipver == 4 ? 16 : 24),
			      .proto = fr.proto};

	memset(&pi, 0, sizeof(pi));
	memcpy(k->vlan, fr.vlan, sizeof(k->vlan));
	set_key(&pi, &r, fr.ipver == 6, 0, 0);
	return sl_pkt_key_hash(k);
}

/* CRC32C over the whole key. On x86-64 with SSE4.2 (DPDK's pkg-config flags, which the project
 * builds with, ask for -march=corei7) the instructions are used directly: it computes exactly
 * rte_hash_crc(key, sizeof(*key), seed) but skips that header's run-time algorithm switch, whose
 * constructor needs librte_eal. */
uint32_t
sl_pkt_key_hash(const struct sl_flow_key *key)
{
#if defined(RTE_ARCH_X86_64) && defined(__SSE4_2__)
	const uint8_t *p = (const uint8_t *)key;
	uint64_t crc = KEY_HASH_SEED, w8;
	uint32_t w4;
	size_t i;

	for (i = 0; i + 8 <= sizeof(*key); i += 8) {
		memcpy(&w8, p + i, 8);
		crc = _mm_crc32_u64(crc, w8);
	}
	if (sizeof(*key) & 4) {
		memcpy(&w4, p + i, 4);
		crc = _mm_crc32_u32((uint32_t)crc, w4);
	}
	return (uint32_t)crc;
#else
	return rte_hash_crc(key, sizeof(*key), KEY_HASH_SEED);
#endif
}
