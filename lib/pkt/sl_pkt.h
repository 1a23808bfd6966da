/* sl_pkt: L2-L4 decoding of one frame into the facts every later stage needs.
 *
 * The parser reads Ethernet, up to two VLAN tags (802.1Q, 802.1ad QinQ), IPv4 (with options) or
 * IPv6 (skipping hop-by-hop, routing, destination-options and AH extension headers), then TCP,
 * UDP, or an ICMP (ICMPv6 over IPv6) echo request or reply. It never reads past `len`, never
 * writes outside `*out`, and never allocates: a malformed or truncated frame yields one reason
 * from SL_PKT_ERRORS, which the caller counts.
 *
 * The flow key is canonical (the lower address/port pair first) so both directions of a flow
 * give the same key and the same symmetric hash; `dir` tells which side sent this packet.
 *
 * ICMP has no ports. An echo message's data is whatever its sender chose (a ping tunnel carries
 * a stream in it), so it is decoded like a UDP datagram: the payload is the echo data, and the
 * 16-bit identifier stands for both ports. Request and reply carry the same identifier, so a
 * ping session, both directions, is one flow with one key, and two sessions between the same
 * hosts are two flows. The message's type and code are in icmp_type and icmp_code. Any other
 * ICMP message (errors quoting a header, neighbour discovery, ...) is SL_PKT_ERR_ICMP_OTHER. */
#ifndef SL_PKT_H
#define SL_PKT_H

#include <stddef.h>
#include <stdint.h>

/* Reasons a frame is not decoded, each a counter: X(ENUM, "json_name") */
#define SL_PKT_ERRORS(X)                                                                           \
	X(TRUNC_ETH, "truncated_ethernet")                                                         \
	X(TRUNC_VLAN, "truncated_vlan")                                                            \
	X(TOO_MANY_VLANS, "too_many_vlans")                                                        \
	X(NOT_IP, "not_ip")                                                                        \
	X(TRUNC_IPV4, "truncated_ipv4")                                                            \
	X(BAD_IPV4_VERSION, "bad_ipv4_version")                                                    \
	X(BAD_IPV4_HLEN, "bad_ipv4_header_length")                                                 \
	X(BAD_IPV4_LEN, "bad_ipv4_total_length")                                                   \
	X(TRUNC_IPV6, "truncated_ipv6")                                                            \
	X(BAD_IPV6_VERSION, "bad_ipv6_version")                                                    \
	X(BAD_IPV6_LEN, "bad_ipv6_payload_length")                                                 \
	X(TRUNC_IPV6_EXT, "truncated_ipv6_ext")                                                    \
	X(IP_FRAGMENT, "ip_fragment")                                                              \
	X(TRUNC_TCP, "truncated_tcp")                                                              \
	X(BAD_TCP_HLEN, "bad_tcp_header_length")                                                   \
	X(TRUNC_UDP, "truncated_udp")                                                              \
	X(BAD_UDP_LEN, "bad_udp_length")                                                           \
	X(TRUNC_ICMP, "truncated_icmp")                                                            \
	X(ICMP_OTHER, "icmp_other")                                                                \
	X(OTHER_L4, "other_l4")

enum sl_pkt_error {
	SL_PKT_OK = 0,
#define SL_X(e, s) SL_PKT_ERR_##e,
	SL_PKT_ERRORS(SL_X)
#undef SL_X
	    SL_PKT_ERR_COUNT
};

/* JSON/counter name of a reason; "ok" for SL_PKT_OK. */
const char *sl_pkt_error_name(enum sl_pkt_error e);

#define SL_PKT_TCP_FIN 0x01
#define SL_PKT_TCP_SYN 0x02
#define SL_PKT_TCP_RST 0x04
#define SL_PKT_TCP_PSH 0x08
#define SL_PKT_TCP_ACK 0x10

/* ICMP echo types (sl_pkt_info.icmp_type), ICMPv4 and ICMPv6 */
#define SL_PKT_ICMP_ECHO_REPLY	   0
#define SL_PKT_ICMP_ECHO_REQUEST   8
#define SL_PKT_ICMPV6_ECHO_REQUEST 128
#define SL_PKT_ICMPV6_ECHO_REPLY   129

/* Canonical flow key: side 0 is the lower (address, port) pair. Zero-padded, so it can be hashed
 * and compared as bytes. IPv4 addresses occupy the first 4 bytes of each addr. */
struct sl_flow_key {
	uint8_t addr[2][16];
	uint16_t port[2]; /* host byte order; ICMP echo: both are the identifier */
	uint16_t vlan[2]; /* outer, inner VLAN ID; 0 when absent */
	uint8_t proto;	  /* IPPROTO_TCP / IPPROTO_UDP / IPPROTO_ICMP / IPPROTO_ICMPV6 */
	uint8_t ipver;	  /* 4 or 6 */
	uint8_t pad[2];
};

struct sl_pkt_info {
	struct sl_flow_key key;
	uint8_t dir;	      /* 0: sender is key side 0; 1: sender is key side 1 */
	uint8_t tcp_flags;    /* SL_PKT_TCP_* */
	uint16_t l3_off;      /* offset of the IP header in the frame */
	uint16_t l4_off;      /* offset of the TCP/UDP/ICMP header */
	uint16_t payload_off; /* offset of L4 payload (ICMP: after the 8-byte header) */
	uint32_t payload_len; /* L4 payload bytes (IP length based, trailer padding excluded) */
	uint32_t seq, ack;    /* TCP, host order */
	uint16_t win;	      /* TCP window, host order */
	uint8_t icmp_type;    /* ICMP and ICMPv6 */
	uint8_t icmp_code;
};

/* Whether a key's protocol is ICMP or ICMPv6: its "ports" are then an echo identifier. */
static inline int
sl_pkt_proto_icmp(uint8_t proto)
{
	return proto == 1 || proto == 58;
}

/* Decodes frame `data[0..len)`. Returns SL_PKT_OK and fills *out, or the reason it could not. */
enum sl_pkt_error sl_pkt_parse(const uint8_t *data, size_t len, struct sl_pkt_info *out);

/* What an IP fragment says of itself (sl_pkt_fragment). Offsets are into the frame. */
struct sl_pkt_frag {
	uint32_t id;	   /* IPv4 Identification, or the IPv6 Fragment header's */
	uint32_t offset;   /* of this fragment's data in the datagram's fragmentable part */
	uint16_t vlan[2];  /* outer, inner VLAN ID; 0 when absent */
	uint16_t l3_off;   /* the IP header */
	uint16_t hdr_len;  /* IPv4: header with options; IPv6: fixed and extension headers before
			    * the Fragment header (what the reassembled datagram keeps) */
	uint16_t nh_off;   /* IPv6: the Next Header field that names the Fragment header */
	uint16_t data_off; /* this fragment's data */
	uint16_t data_len;
	uint8_t ipver; /* 4 or 6 */
	uint8_t proto; /* the datagram's protocol (IPv6: the Fragment header's next header) */
	uint8_t more;  /* more fragments follow (MF, M) */
};

/* Decodes a frame that sl_pkt_parse refused with SL_PKT_ERR_IP_FRAGMENT: returns that reason
 * with *out filled, or the reason the frame is not a well-formed fragment. */
enum sl_pkt_error sl_pkt_fragment(const uint8_t *data, size_t len, struct sl_pkt_frag *out);

/* Hash of a canonical key: identical for both directions of a flow by construction. */
uint32_t sl_pkt_key_hash(const struct sl_flow_key *key);

/* Which worker a frame goes to, as a hash the same for both directions: a TCP segment by its
 * flow key; anything else that is IP (UDP and ICMP datagrams, other protocols, every IP
 * fragment, whose ports are not in it) by its key without ports: addresses, VLANs, protocol. A
 * datagram flow thus reaches one worker whether its datagrams come whole or in fragments, as
 * RSS does it (sl_run asks NICs for TCP and IP hashes only). 0 for a frame that is not IP. */
uint32_t sl_pkt_dispatch_hash(const uint8_t *data, size_t len);

#endif /* SL_PKT_H */
