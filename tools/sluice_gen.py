#!/usr/bin/python3
"""sluice_gen: deterministic test captures for sluice, with personal data at known places.

Writes a classic pcap (Ethernet, linktype 1, snaplen 65535) for one SCENARIO plus a JSON file
listing the events sluice is expected to raise. Standard library only; run with /usr/bin/python3.

Usage:
    sluice_gen.py SCENARIO [--out FILE.pcap] [--expect FILE.json] [--seed N] [options]
    sluice_gen.py all [--out DIR] [--seed N] [options]   # every scenario, DIR/NAME.pcap + .json
    sluice_gen.py --list

    --out       pcap to write (default NAME.pcap; with 'all' a directory, default sluice_pcaps)
    --expect    expected events (default: the pcap's name with .json)
    --seed      random seed (default 1); same seed and options -> byte-identical files
    --flows     mixed, bench_http: flows (default 200); small: flows the ACKs are spread over
                (default 1024)
    --size      mixed, bench_http: total TCP payload in MB (MiB), default 20
    --packets   small: number of frames (default 100000)
    --deep-mb   deep: where the NIR is placed, in MiB of stream (default 5)
    --nir-style contiguous|spaces: force the NIR format in the single-flow scenarios
                (default contiguous; c2_raw and mixed always use a mix)
    --seg-size  http_* scenarios: TCP payload bytes per segment (default 1460; 1 = one byte
                per segment, for split tests: the expected events do not change)

Scenarios (one flow unless said otherwise; HTTP bodies are JSON with "nir": "<value>"):
    one_segment       HTTP POST on port 80 in one segment, 200 response, FIN close.
    split2            same, the NIR split across two TCP segments.
    byte_per_segment  same, the request body sent one byte per segment.
    reversed          client data segments emitted in reverse order (handshake first, FIN last).
    duplicated        every data segment sent twice, some retransmitted again later.
    midstream         no SYN/SYN-ACK: a raw text stream (port 7070) picked up mid-way.
    deep              raw stream (port 5001) of --deep-mb MiB of printable text, then the NIR;
                      the client ISN is chosen so that the sequence numbers wrap past 2^32.
    vlan              one_segment with an 802.1Q tag (VLAN 100) on every frame.
    qinq              one_segment with 802.1ad outer VLAN 200 (0x88a8) + 802.1Q inner VLAN 300.
    ipv6              one_segment over IPv6.
    http_port         one_segment on port 8081.
    c2_raw            raw "C2" protocol on port 4444, length-prefixed TLV records carrying three
                      NIRs (contiguous, grouped with spaces, Corsican 2A/2B), a US SSN and a Visa.
    response          the NIR is in an HTTP response body (server -> client).
    ip_fragments      five flows whose value-carrying segment is sent as IP fragments, a
                      fragment boundary through the value (the events are those of the same
                      flows unfragmented): IPv4 HTTP POST with a NIR, a ~1000-byte segment in
                      24-byte fragments; raw port 4444 with a card, 40-byte fragments in reverse
                      order; IPv6 HTTP POST with a NIR (Fragment header), 32-byte fragments, one
                      sent twice; IPv4 HTTP POST with a NIR in VLAN 100, 48-byte fragments; a
                      raw text flow (port 7070) in 40-byte fragments, no value.
    icmp              ping tunnels (ICMP echo): an IPv4 session whose requests carry a NIR and a
                      card and one of whose replies carries a grouped NIR; an IPv6 session sent
                      as `ping -6 -p` with a NIR and a space as pattern (two copies a message,
                      echoed by the replies: count 6 each way); a 3 KB echo request in IP
                      fragments in VLAN 100, the NIR across the cut, no reply; clean pings
                      (Linux's default data, near misses, a NIR cut across two requests) and a
                      port unreachable quoting a datagram with a NIR: no event.
    negatives         HTTP and raw flows full of near-misses (NIR with a wrong key, card failing
                      Luhn, SSN area 000, valid NIR inside a longer digit run, bad IBAN, prices,
                      timestamps, phone numbers, UUIDs): no event expected.
    mixed             --flows interleaved flows (HTTP on 80/8080/8081 and raw on other ports,
                      ~25% IPv6, ~10% VLAN 100, a few UDP DNS exchanges), ~30% carrying values
                      (all four sensors), light reordering and retransmissions; --size MB of
                      payload. For benchmarks and multi-worker tests. Cards there are Visa,
                      Mastercard 2-series and Amex; one NIR in five is grouped with spaces.
    small             --packets 60-byte frames (64 on the wire with the FCS): pure ACKs spread
                      over --flows flows, for packets-per-second benchmarks. No event expected.
    bench_http        --flows keep-alive HTTP connections (default 200) on 80/8080/8081/3000,
                      ~20% IPv6, --size MiB of TCP payload: GETs answered with JSON or HTML
                      (~30% gzip-compressed, half of those chunked) and JSON POSTs; ~30% of
                      the connections carry values (all four sensors, context body). For the
                      HTTP-decoding vs raw-stream benchmark (raw: --set http.max_flows=0).
    bench_mail        --size SMTP sessions, each a message with a 1 MiB text attachment in
                      base64: the benchmark of the DATA framing and base64 decoding.

  HTTP inspection (issue 3), one flow each unless said otherwise, handshake and FIN; the
  expected entries carry an "http" object (hostname, http_method, url before masking,
  http_content_type, status for responses, length = Content-Length when present):
    http_url_query    NIR in a GET query (port 80, context url); NIR with every digit
                      percent-encoded as %3X in the query (port 8081).
    http_cookie       NIR in a Cookie header (port 3000, context header); a keep-alive flow
                      (port 80) whose 2nd request has a NIR in Cookie and whose 2nd response
                      sets one in Set-Cookie (to_client, status 200).
    http_form         form-urlencoded POST body with a NIR (context body).
    http_form_pct     form body (port 8081): NIR digits as %3X, a grouped NIR with '+' spaces.
    http_json         JSON body (port 3000): 2 NIRs, an SSN, a card.
    http_chunked_cut  chunked POST, NIR cut by a chunk boundary, chunk extensions, a trailer.
    http_gzip_req     Content-Encoding: gzip POST body.
    http_deflate_req  Content-Encoding: deflate POSTs, zlib-wrapped (80) and raw (8081).
    http_gzip_resp    gzip JSON response with a NIR and a card (to_client).
    http_multipart_csv  multipart/form-data CSV upload (port 3000): 4 NIRs, 3 SSNs, 2 cards
                      (body, count = values) and an IBAN in the file part's header (header).
    http_multipart_cte  an upload with a base64 part (2 NIRs, an SSN) and a quoted-printable
                      part (a NIR cut by a soft line break), found only once decoded (body).
    http_pipelined    two POSTs in one segment (port 8081), the NIR in the second.
    http_pipelined_resp  two GETs in one segment, the NIR in the FIRST response: its event
                      names the first request.
    http_keepalive3   keep-alive, three requests, the NIR in the third (a POST).
  Evasions (entries marked "evasion": true: the value must be reported by its sensor in any
  context or by an "uninspectable" alert on its flow; "context" is where a careful parser
  finds it):
    http_cl_conflict  two different Content-Lengths (short first, short last, one list header).
    http_cl_te        Content-Length + chunked; TE.CL smuggled request; "xchunked".
    http_chunk_ext    ~2 KB chunk extensions around a cut NIR; a 12 KB extension (beyond
                      http.max_line); an SSN inside an extension.
    http_folding      obs-fold: NIR on a folded Cookie line; SSN on a tab-folded header.
    http_bad_chunk    non-hex chunk size, 17-digit chunk size, chunk longer than its size.
    http_gzip_members gzip bodies of two members (RFC 1952), the value in the second: NIR in
                      a request (80), card in a response (8081).
    http_gzip_bomb    gzip bodies of 24 MiB of spaces (~1000:1), request (80) and response
                      (8081): a NIR in the first bytes (exact, context body) and an SSN after
                      the padding (evasion: beyond the ratio cap).

Expected events file: a JSON list, ONE object per (flow, direction, sensor):
    {"sensor": "fr_ssn" | "us_ssn" | "credit_card" | "iban",
     "src_ip", "src_port", "dest_ip", "dest_port":  sender -> receiver of the matched bytes,
                                                    as in Suricata EVE alerts (ICMP: no ports,
                                                    "icmp_type" of the sender's messages),
     "proto": "TCP" | "UDP" | "ICMP" | "IPv6-ICMP",
     "direction": "to_server" | "to_client",        relative to the flow initiator
                                                    (midstream: the first packet's sender),
     "app_proto": "http" | "failed",                failed = raw stream, not HTTP (Suricata);
                                                    absent for ICMP
     "context": "url" | "header" | "body" | "raw",
     "count": N,                                     occurrences in that flow direction
     "values": [...],                                the values exactly as written on the wire
                                                    (grouped NIRs keep their spaces), or as
                                                    decoded when encoded on the wire
     "flow": {"src_ip", "src_port", "dest_ip", "dest_port"}}   the initiator -> responder
  and, in the http_* scenarios only:
     "http": {"hostname", "http_method", "url", ["http_content_type"], ["status"], ["length"]}
     "wire_values": [...]                            the encoded forms as sent (%3X, '+')
     "evasion": true                                 see the evasion scenarios above
Objects are ordered by flow creation, then direction, then sensor.

Values: generated NIRs are never also Luhn-valid (see gen_nir), so a loose card rule cannot
claim them; filler text and binary never contain ASCII digits, so the only numbers in a capture
are the ones placed on purpose. To see the reversed scenario's request in Wireshark/tshark, set
-o tcp.reassemble_out_of_order:TRUE; for port 8081 add -d tcp.port==8081,http.

Addresses: IPv4 198.18.0.0/15 (clients 198.18/16, servers 198.19/16), IPv6 2001:db8::/32,
locally administered MACs (02:...). Timestamps start at 2026-11-27 12:00:00 UTC. Frames shorter
than 60 bytes are zero-padded to 60 as a receiving NIC would capture them. IPv4 header, TCP, UDP
and ICMP checksums (with the IPv6 pseudo-header) are correct, so the files replay on real links.

The value generators (gen_nir, gen_ssn, gen_card, gen_iban_fr, the near-miss generators and
the validators) can be imported: `from sluice_gen import gen_nir; gen_nir(random.Random(1))`.
"""

import argparse
import calendar
import gzip
import ipaddress
import json
import os
import random
import struct
import subprocess
import sys
import time
import zlib

EPOCH = calendar.timegm((2026, 11, 27, 12, 0, 0))
MSS = 1460
MIN_FRAME = 60  # Ethernet minimum without FCS

TH_FIN, TH_SYN, TH_RST, TH_PSH, TH_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
ETH_IPV4, ETH_IPV6, ETH_8021Q, ETH_8021AD = 0x0800, 0x86DD, 0x8100, 0x88A8
VLAN = ((ETH_8021Q, 100),)
QINQ = ((ETH_8021AD, 200), (ETH_8021Q, 300))

# --------------------------------------------------------------------------------------------
# Value generators and validators
# --------------------------------------------------------------------------------------------

NIR_GROUPS = (1, 2, 2, 2, 3, 3, 2)


def nir_number(first13):
    """The 13 leading NIR characters as an int (Corsica: 2A -> 19, 2B -> 18)."""
    return int(first13.upper().replace("2A", "19").replace("2B", "18"))


def nir_key(first13):
    return 97 - nir_number(first13) % 97


def nir_valid(nir):
    """True for a 15-character NIR (separators allowed) whose key matches."""
    s = "".join(ch for ch in nir if ch.isalnum())
    if len(s) != 15 or s[0] not in "12" or not s[13:].isdigit():
        return False
    try:
        return nir_key(s[:13]) == int(s[13:])
    except ValueError:
        return False


def gen_nir(rng, corsica=0.05, luhn_safe=True):
    """A 15-digit French NIR with a valid key; department 2A/2B with probability `corsica`.
    luhn_safe: never return an all-digit NIR that also passes Luhn (about 1 in 10 would), so a
    loose "13-19 digits + Luhn" card rule cannot claim it too and expected events stay exact."""
    while True:
        sex = rng.choice("12")
        yy = "%02d" % rng.randrange(100)
        mm = "%02d" % rng.randint(1, 12)
        corse = rng.random() < corsica
        dept = rng.choice(("2A", "2B")) if corse else "%02d" % rng.randint(1, 95)
        commune = "%03d" % rng.randint(1, 999)
        order = "%03d" % rng.randint(1, 999)
        first13 = sex + yy + mm + dept + commune + order
        nir = first13 + "%02d" % nir_key(first13)
        if not (luhn_safe and not corse and luhn_valid(nir)):
            return nir


def format_nir(nir, sep=" "):
    """'185057800608436' -> '1 85 05 78 006 084 36' (sep=' '); sep may be '.' or '-'."""
    parts, i = [], 0
    for n in NIR_GROUPS:
        parts.append(nir[i:i + n])
        i += n
    return sep.join(parts)


def nir_grouped(nir):
    return format_nir(nir, " ")


def nir_separator_variants(nir):
    """The NIR with dots and with dashes between groups (separate helper, not used by default)."""
    return {"dots": format_nir(nir, "."), "dashes": format_nir(nir, "-")}


def luhn_valid(number):
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_complete(partial):
    """Appends the Luhn check digit to `partial`."""
    for d in "0123456789":
        if luhn_valid(partial + d):
            return partial + d
    raise AssertionError("unreachable")


def _card(rng, prefix, length):
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return luhn_complete(body)


def gen_card(rng):
    """Luhn-valid 16-digit Visa."""
    return _card(rng, "4", 16)


def gen_card_mastercard2(rng):
    """Luhn-valid 16-digit Mastercard of the 2-series (2221-2720)."""
    return _card(rng, str(rng.randint(2221, 2720)), 16)


def gen_card_amex(rng):
    """Luhn-valid 15-digit American Express (34/37)."""
    return _card(rng, rng.choice(("34", "37")), 15)


SSN_BLACKLIST = {"078-05-1120", "219-09-9999", "123-45-6789"}


def ssn_valid(ssn):
    if len(ssn) != 11 or ssn[3] != "-" or ssn[6] != "-":
        return False
    a, g, s = ssn[:3], ssn[4:6], ssn[7:]
    if not (a + g + s).isdigit():
        return False
    area = int(a)
    return (0 < area < 900 and area != 666 and g != "00" and s != "0000"
            and ssn not in SSN_BLACKLIST)


def gen_ssn(rng):
    """Valid US SSN 'AAA-GG-SSSS' (area 001-665/667-899, group 01-99, serial 0001-9999)."""
    while True:
        area = rng.randint(1, 899)
        if area == 666:
            continue
        ssn = "%03d-%02d-%04d" % (area, rng.randint(1, 99), rng.randint(1, 9999))
        if ssn not in SSN_BLACKLIST:
            return ssn


def _iban_digits(s):
    return "".join(str(int(c, 36)) for c in s)


def iban_valid(iban):
    s = iban.replace(" ", "").upper()
    return len(s) > 4 and int(_iban_digits(s[4:] + s[:4])) % 97 == 1


def gen_iban_fr(rng):
    """French IBAN, 27 characters, valid RIB key and IBAN check digits, no spaces."""
    bank = "%05d" % rng.randint(10000, 99999)
    branch = "%05d" % rng.randint(0, 99999)
    account = "%011d" % rng.randrange(10 ** 11)
    rib = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
    bban = bank + branch + account + "%02d" % rib
    check = 98 - int(_iban_digits(bban + "FR00")) % 97
    return "FR%02d%s" % (check, bban)


def format_iban(iban):
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


# Near misses: look like the real thing, must not be reported.

def gen_nir_bad_key(rng):
    """A NIR whose key is wrong (and that does not pass Luhn either)."""
    while True:
        nir = gen_nir(rng, corsica=0)
        key = int(nir[13:])
        bad = nir[:13] + "%02d" % ((key - 1 + rng.randint(1, 96)) % 97 + 1)
        if not luhn_valid(bad):
            return bad


def gen_card_bad_luhn(rng):
    card = gen_card(rng)
    return card[:-1] + str((int(card[-1]) + rng.randint(1, 9)) % 10)


def gen_ssn_area000(rng):
    return "000-%02d-%04d" % (rng.randint(1, 99), rng.randint(1, 9999))


def gen_iban_bad_check(rng):
    iban = gen_iban_fr(rng)
    return iban[:2] + "%02d" % ((int(iban[2:4]) + rng.randint(1, 50)) % 97 + 2) + iban[4:]


def gen_nir_in_digit_run(rng, before=3, after=3):
    """A valid NIR inside a longer run of digits (no separator): not a NIR."""
    nir = gen_nir(rng, corsica=0)
    pad = lambda n: "".join(rng.choice("0123456789") for _ in range(n))
    return pad(before) + nir + pad(after)


VALUE_GENERATORS = {
    "fr_ssn": gen_nir,
    "us_ssn": gen_ssn,
    "credit_card": gen_card,
    "iban": gen_iban_fr,
}

# --------------------------------------------------------------------------------------------
# Checksums, frames, pcap
# --------------------------------------------------------------------------------------------


def ones_sum(data):
    """Ones' complement sum of 16-bit big-endian words (odd length: zero-padded): since
    2^16 = 1 (mod 0xffff), the sum is the whole buffer read as one integer modulo 0xffff."""
    n = int.from_bytes(data, "big")
    if len(data) & 1:
        n <<= 8
    return n


def fold(n):
    """Internet checksum (complement of the folded sum) from a sum of ones_sum() values."""
    s = n % 0xFFFF
    if s == 0 and n:
        s = 0xFFFF
    return ~s & 0xFFFF


def checksum(*parts):
    """Internet checksum over the concatenation of parts; every part but the last must have an
    even length."""
    return fold(sum(ones_sum(p) for p in parts))


TCP_HDR = struct.Struct("!HHIIBBH")  # up to the window; checksum and urgent pointer follow
TCP_CSUM = struct.Struct("!HH")
IP4_HDR = struct.Struct("!BBHHHBBH")  # addresses follow
IP6_HDR = struct.Struct("!IHBB")


def mac_bytes(kind, index):
    """Locally administered unicast MAC 02:kind:index(32 bits)."""
    return bytes((0x02, kind & 0xFF)) + struct.pack("!I", index & 0xFFFFFFFF)


def eth_header(dst_mac, src_mac, vlans, ethertype):
    h = dst_mac + src_mac
    for tpid, vid in vlans:
        h += struct.pack("!HH", tpid, vid & 0x0FFF)
    return h + struct.pack("!H", ethertype)


class Host:
    def __init__(self, ip, mac):
        self.ip = ip
        self.addr = ipaddress.ip_address(ip)
        self.ipb = self.addr.packed
        self.v6 = self.addr.version == 6
        self.mac = mac


def ip_packet(src, dst, proto, l4, ip_id, ttl=64, frag=None):
    """IPv4 (with header checksum) or IPv6 header + l4. frag=(offset, more): l4 is the part at
    byte `offset` (a multiple of 8) of a datagram fragmented with Identification ip_id, `more`
    unless it is the last part. IPv4: fragment offset and MF instead of DF; IPv6: a Fragment
    header (next header 44) after the fixed header, counted in the payload length."""
    if src.v6:
        if frag is not None:
            off, more = frag
            # offset in 8-byte units << 3 | M; the 32-bit identification
            l4 = struct.pack("!BxHI", proto, off // 8 << 3 | bool(more), ip_id & 0xFFFFFFFF) + l4
            proto = 44
        return struct.pack("!IHBB", 0x60000000, len(l4), proto, ttl) + src.ipb + dst.ipb + l4
    flags = 0x4000 if frag is None else frag[0] // 8 | (0x2000 if frag[1] else 0)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ip_id & 0xFFFF, flags, ttl,
                      proto, 0, src.ipb, dst.ipb)
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:] + l4


def pseudo_header(src, dst, proto, length):
    if src.v6:
        return src.ipb + dst.ipb + struct.pack("!IxxxB", length, proto)
    return src.ipb + dst.ipb + struct.pack("!xBH", proto, length)


def pad_frame(frame):
    return frame if len(frame) >= MIN_FRAME else frame + bytes(MIN_FRAME - len(frame))


def udp_datagram(src, dst, sport, dport, payload):
    """UDP header (with checksum) + payload."""
    hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    cs = checksum(pseudo_header(src, dst, 17, 8 + len(payload)), hdr, payload) or 0xFFFF
    return hdr[:6] + struct.pack("!H", cs) + payload


def ip_frames(src, dst, proto, l4, vlans=(), ip_id=0, frag_size=None):
    """The frame of the datagram carrying l4 (protocol proto), or with frag_size (a multiple of
    8) the list of its IP fragments, frag_size bytes of l4 each."""
    eth = eth_header(dst.mac, src.mac, vlans, ETH_IPV6 if src.v6 else ETH_IPV4)
    if frag_size is None:
        return pad_frame(eth + ip_packet(src, dst, proto, l4, ip_id))
    return [pad_frame(eth + ip_packet(src, dst, proto, l4[o:o + frag_size], ip_id,
                                      frag=(o, o + frag_size < len(l4))))
            for o in range(0, len(l4), frag_size)]


def udp_frame(src, dst, sport, dport, payload, vlans=(), ip_id=0, frag_size=None):
    """One frame, or with frag_size its IP fragments (ip_frames)."""
    return ip_frames(src, dst, 17, udp_datagram(src, dst, sport, dport, payload), vlans, ip_id,
                     frag_size)


def icmp_message(src, dst, mtype, code, rest, payload):
    """An ICMP message, ICMPv6 between IPv6 hosts (its checksum covers the pseudo-header): type,
    code, checksum, the 4 bytes `rest` (echo: identifier and sequence number), payload."""
    hdr = struct.pack("!BBH", mtype, code, 0) + rest
    pseudo = pseudo_header(src, dst, 58, len(hdr) + len(payload)) if src.v6 else b""
    return hdr[:2] + struct.pack("!H", checksum(pseudo, hdr, payload)) + hdr[4:] + payload


def ping_data(rng, pattern=None, size=56):
    """Echo data as Linux's ping writes it: a 16-byte timeval (its high bytes zero), then bytes
    16, 17, ... (which hold the digits "01234567"), or with -p `pattern` (up to 16 bytes)
    repeated, up to size bytes."""
    tv = struct.pack("<qq", EPOCH + rng.randrange(86400), rng.randrange(1000000))
    if pattern is None:
        return tv + bytes(range(16, size))
    return tv + (pattern * size)[:size - 16]


class UdpFlow:
    """UDP datagrams between a client (the first sender) and a server."""
    proto = "UDP"

    def __init__(self, client, cport, server, sport, vlans=()):
        self.c, self.s = (client, cport), (server, sport)
        self.vlans = vlans
        self.ip_id = 0

    def endpoints(self, from_client=True):
        (a, ap), (b, bp) = (self.c, self.s) if from_client else (self.s, self.c)
        return {"src_ip": a.ip, "src_port": ap, "dest_ip": b.ip, "dest_port": bp}

    def datagram(self, payload, from_client=True, frag_size=None):
        """The datagram's frame, or with frag_size its IP fragments (udp_frame)."""
        (a, ap), (b, bp) = (self.c, self.s) if from_client else (self.s, self.c)
        self.ip_id += 1
        return udp_frame(a, b, ap, bp, payload, self.vlans, self.ip_id, frag_size)


class PingFlow:
    """An ICMP echo session (ICMPv6 between IPv6 hosts): requests from the client, replies from
    the server, one identifier. Its events have no ports but the sender's icmp_type."""

    def __init__(self, client, server, ident, vlans=()):
        self.c, self.s, self.ident, self.vlans = client, server, ident, vlans
        self.proto = "IPv6-ICMP" if client.v6 else "ICMP"
        self.types = (128, 129) if client.v6 else (8, 0)  # request, reply
        self.seq = self.ip_id = 0

    def endpoints(self, from_client=True):
        a, b = (self.c, self.s) if from_client else (self.s, self.c)
        return {"src_ip": a.ip, "dest_ip": b.ip, "icmp_type": self.types[not from_client]}

    def echo(self, payload, from_client=True, frag_size=None):
        """A request (the next sequence number) or the reply to the last one: its frame, or
        with frag_size its IP fragments (ip_frames)."""
        a, b = (self.c, self.s) if from_client else (self.s, self.c)
        self.seq += from_client
        self.ip_id += 1
        msg = icmp_message(a, b, self.types[not from_client], 0,
                           struct.pack("!HH", self.ident, self.seq & 0xFFFF), payload)
        return ip_frames(a, b, 58 if a.v6 else 1, msg, self.vlans, self.ip_id, frag_size)

    def exchange(self, payload, reply=None):
        """A request and its reply, which echoes the request's data unless given its own."""
        return [self.echo(payload), self.echo(payload if reply is None else reply, False)]


class PcapWriter:
    """Classic pcap, microsecond timestamps from EPOCH; buffered writes."""

    def __init__(self, path, start=EPOCH):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.t_us = start * 1_000_000
        self.buf, self.buf_len = [], 0
        self.frames = 0

    def write(self, frame, gap_us=50):
        self.t_us += gap_us
        sec, usec = divmod(self.t_us, 1_000_000)
        self.buf.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
        self.buf.append(frame)
        self.buf_len += len(frame)
        self.frames += 1
        if self.buf_len > 1 << 22:
            self.flush()

    def write_all(self, frames, gap_us=50):
        for fr in frames:
            self.write(fr, gap_us)

    def pause(self, us):
        self.t_us += us

    def flush(self):
        self.f.write(b"".join(self.buf))
        self.buf, self.buf_len = [], 0

    def close(self):
        self.flush()
        self.f.close()


# --------------------------------------------------------------------------------------------
# TCP flows
# --------------------------------------------------------------------------------------------

SYN_OPTS = bytes((2, 4, MSS >> 8, MSS & 0xFF, 1, 3, 3, 7, 1, 1, 4, 2))  # MSS, NOP, WS 7, SACKOK


def emission_order(n, order):
    """Indices of n parts in the order they are sent: order None (in order), 'reverse' or a
    list of indices."""
    if order == "reverse":
        return list(range(n - 1, -1, -1))
    return list(range(n)) if order is None else list(order)


class Side:
    def __init__(self, host, port, isn, ip_id):
        self.host, self.port = host, port
        self.isn = isn
        self.nxt = (isn + 1) & 0xFFFFFFFF  # next sequence number to send
        self.ip_id = ip_id


class Flow:
    """One TCP connection. Methods return lists of Ethernet frames (bytes) and keep seq/ack
    state; the caller decides timing. `client` opened the connection (or, midstream, sends
    first)."""

    def __init__(self, rng, client, cport, server, sport, vlans=(), client_isn=None,
                 window=502):
        self.rng = rng
        isn = rng.getrandbits(32) if client_isn is None else client_isn
        self.c = Side(client, cport, isn, rng.getrandbits(16))
        self.s = Side(server, sport, rng.getrandbits(32), rng.getrandbits(16))
        self.v6 = client.v6
        self.window = window
        et = ETH_IPV6 if self.v6 else ETH_IPV4
        self.eth = {True: eth_header(server.mac, client.mac, vlans, et),
                    False: eth_header(client.mac, server.mac, vlans, et)}
        # Per direction, precomputed once: the address pair and its ones' complement sum (the
        # TCP pseudo-header and the IPv4 header checksum only add lengths and the IP id to it).
        self.addrs = {True: client.ipb + server.ipb, False: server.ipb + client.ipb}
        self.addr_sum = {d: ones_sum(a) for d, a in self.addrs.items()}

    # -- addressing, for the expected events
    def endpoints(self, from_client=True):
        a, b = (self.c, self.s) if from_client else (self.s, self.c)
        return {"src_ip": a.host.ip, "src_port": a.port, "dest_ip": b.host.ip,
                "dest_port": b.port}

    # -- one frame
    def frame(self, from_client, seq, ack, flags, payload=b"", opts=b"", window=None):
        # Same result as ip_packet()/checksum() above, with the constant parts presummed: this
        # is the hot path of the big scenarios.
        src, dst = (self.c, self.s) if from_client else (self.s, self.c)
        hlen = 20 + len(opts)
        tcp = TCP_HDR.pack(src.port, dst.port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, hlen << 2,
                           flags, self.window if window is None else window)
        seglen = hlen + len(payload)
        asum = self.addr_sum[from_client]
        cs = fold(asum + 6 + seglen + ones_sum(tcp) + ones_sum(opts) + ones_sum(payload))
        l4 = tcp + TCP_CSUM.pack(cs, 0) + opts + payload
        if self.v6:
            ip = IP6_HDR.pack(0x60000000, seglen, 6, 64) + self.addrs[from_client]
        else:
            src.ip_id = (src.ip_id + 1) & 0xFFFF
            total = 20 + seglen
            ipsum = fold(asum + 0x4500 + total + src.ip_id + 0x4000 + 0x4006)
            ip = IP4_HDR.pack(0x45, 0, total, src.ip_id, 0x4000, 64, 6, ipsum) \
                + self.addrs[from_client]
        frame = self.eth[from_client] + ip + l4
        return frame if len(frame) >= MIN_FRAME else frame + bytes(MIN_FRAME - len(frame))

    def fragments(self, from_client, seq, ack, flags, payload, size, order=None, duplicate=(),
                  split=()):
        """The segment frame() builds, sent as IP fragments of `size` bytes (a multiple of 8) of
        the TCP segment each, the TCP header in the first, plus a fragment boundary at the
        multiple of 8 nearest each payload offset in `split` (the middle of a value of 10 bytes
        or more: the boundary cuts it). order: None, 'reverse' or a list of fragment indices;
        duplicate: indices sent twice in a row. IPv4 fragments carry the segment's
        Identification, IPv6 ones a random 32-bit one."""
        assert size % 8 == 0, size
        src, dst = (self.c, self.s) if from_client else (self.s, self.c)
        eth = self.eth[from_client]
        ip_len = len(eth) + (40 if self.v6 else 20)
        whole = self.frame(from_client, seq, ack, flags, payload)  # (v4: takes the next IP id)
        l4 = whole[ip_len:ip_len + 20 + len(payload)]  # the TCP segment, checksum included
        ip_id = self.rng.getrandbits(32) if self.v6 else src.ip_id
        parts = self.segments(l4, [(20 + p + 4) // 8 * 8 for p in split], size)
        out = []
        for i in emission_order(len(parts), order):
            off, chunk = parts[i]
            fr = pad_frame(eth + ip_packet(src.host, dst.host, 6, chunk, ip_id,
                                           frag=(off, off + len(chunk) < len(l4))))
            out += [fr] * (2 if i in duplicate else 1)
        return out

    def pure_ack(self, from_client, ack=None):
        src, dst = (self.c, self.s) if from_client else (self.s, self.c)
        return self.frame(from_client, src.nxt, dst.nxt if ack is None else ack, TH_ACK)

    # -- connection phases
    def handshake(self):
        c, s = self.c, self.s
        return [self.frame(True, c.isn, 0, TH_SYN, opts=SYN_OPTS, window=64240),
                self.frame(False, s.isn, c.nxt, TH_SYN | TH_ACK, opts=SYN_OPTS, window=65160),
                self.frame(True, c.nxt, s.nxt, TH_ACK)]

    def close(self, client_first=True):
        """FIN from one side, FIN-ACK from the other, last ACK."""
        a = client_first
        fa, fb = (self.c, self.s) if a else (self.s, self.c)
        out = [self.frame(a, fa.nxt, fb.nxt, TH_FIN | TH_ACK)]
        fa.nxt = (fa.nxt + 1) & 0xFFFFFFFF
        out.append(self.frame(not a, fb.nxt, fa.nxt, TH_FIN | TH_ACK))
        fb.nxt = (fb.nxt + 1) & 0xFFFFFFFF
        out.append(self.frame(a, fa.nxt, fb.nxt, TH_ACK))
        return out

    def segments(self, data, cuts=(), seg_size=MSS):
        """Splits data at the given offsets and every seg_size bytes: [(offset, bytes)]."""
        bounds = sorted({0, len(data), *(c for c in cuts if 0 < c < len(data))})
        out = []
        for lo, hi in zip(bounds, bounds[1:]):
            for o in range(lo, hi, seg_size):
                out.append((o, data[o:min(o + seg_size, hi)]))
        return out

    def send(self, data, from_client=True, cuts=(), seg_size=MSS, order=None, duplicate=False,
             retransmit=(), reorder=0.0, retransmit_prob=0.0, ack_every=2, frag=None):
        """Sends one message. order: None, 'reverse' or a list of segment indices; duplicate:
        every data segment twice in a row; retransmit: indices sent once more 3 segments later;
        reorder/retransmit_prob: random adjacent swaps / late retransmissions (mixed). The
        receiver ACKs cumulatively every `ack_every` data segments and at the end. PSH is set
        on the message's last segment. frag: every data segment goes as IP fragments, a dict
        of fragments() options, its "split" offsets counted in the message."""
        if not data:
            return []
        src, dst = (self.c, self.s) if from_client else (self.s, self.c)
        segs = self.segments(data, cuts, seg_size)
        n = len(segs)
        idx = emission_order(n, order)
        if reorder:
            for i in range(n - 1):
                if self.rng.random() < reorder:
                    idx[i], idx[i + 1] = idx[i + 1], idx[i]
        retx = set(retransmit)
        if retransmit_prob:
            retx |= {i for i in range(n) if self.rng.random() < retransmit_prob}
        emit = []  # segment indices in emission order
        late = {}  # position -> indices to resend there
        for pos, i in enumerate(idx):
            emit.append(i)
            if duplicate:
                emit.append(i)
            if i in retx:
                late.setdefault(pos + 3, []).append(i)
            emit.extend(late.pop(pos, ()))
        for rest in late.values():
            emit.extend(rest)

        base = src.nxt
        got = [False] * n
        contiguous = 0  # segments delivered in order so far
        out, since_ack = [], 0
        for i in emit:
            off, chunk = segs[i]
            flags = TH_ACK | (TH_PSH if i == n - 1 else 0)
            if frag:
                split = [p - off for p in frag.get("split", ()) if 0 <= p - off < len(chunk)]
                out += self.fragments(from_client, base + off, dst.nxt, flags, chunk,
                                      **{**frag, "split": split})
            else:
                out.append(self.frame(from_client, base + off, dst.nxt, flags, chunk))
            got[i] = True
            while contiguous < n and got[contiguous]:
                contiguous += 1
            since_ack += 1
            if since_ack >= ack_every:
                acked = base + (segs[contiguous][0] if contiguous < n else len(data))
                out.append(self.frame(not from_client, dst.nxt, acked, TH_ACK))
                since_ack = 0
        src.nxt = (base + len(data)) & 0xFFFFFFFF
        if since_ack:
            out.append(self.pure_ack(not from_client))
        return out


# --------------------------------------------------------------------------------------------
# Payload builders
# --------------------------------------------------------------------------------------------

WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud "
         "exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure in "
         "reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint "
         "occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est "
         "client dossier contrat adresse rue avenue paris lyon marseille facture commande "
         "livraison paiement compte service support ticket statut actif suspendu").split()
PUNCT = (". ", ", ", "; ", " - ", ": ", "! ", "? ")
NAMES = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
         "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Smith")
FIRST = ("Jean", "Marie", "Pierre", "Camille", "Louis", "Chloe", "Lucas", "Emma", "Hugo", "Lea")


class Filler:
    """Pools of digit-free printable text and digit-free binary bytes, sliced at random
    offsets, so big payloads cost no per-byte Python work and never contain accidental
    numbers."""

    def __init__(self, rng, text_size=1 << 20, bin_size=1 << 18):
        self.rng = rng
        parts, n = [], 0
        while n < text_size:
            w = rng.choice(WORDS)
            sep = rng.choice(PUNCT) if rng.random() < 0.1 else " "
            parts.append(w + sep)
            n += len(w) + len(sep)
        self.text = "".join(parts).encode()[:text_size]
        table = bytes(b if not 0x30 <= b <= 0x39 else b + 0x50 for b in range(256))
        self.bin = rng.randbytes(bin_size).translate(table)

    def _slices(self, pool, n):
        out = []
        while n > 0:
            k = min(n, len(pool) // 2)
            o = self.rng.randrange(len(pool) - k)
            out.append(pool[o:o + k])
            n -= k
        return b"".join(out)

    def text_bytes(self, n):
        return self._slices(self.text, n)

    def binary(self, n):
        return self._slices(self.bin, n)


def http_request(method, path, host, body=b"", ctype="application/json", close=False):
    head = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host,
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Accept: application/json, text/plain, */*", "Accept-Language: fr-FR,fr;q=0.9"]
    if body or method in ("POST", "PUT"):
        head += ["Content-Type: %s" % ctype, "Content-Length: %d" % len(body)]
    head.append("Connection: %s" % ("close" if close else "keep-alive"))
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def http_response(body=b"", status="200 OK", ctype="application/json"):
    head = ["HTTP/1.1 %s" % status, "Date: Fri, 27 Nov 2026 12:00:00 GMT", "Server: nginx",
            "Content-Type: %s" % ctype, "Content-Length: %d" % len(body),
            "Cache-Control: no-store"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def customer_json(rng, fields, notes=b""):
    """A customer record; `fields` are the sensitive key/values; notes (filler) optional."""
    rec = {"customer_id": "C-%s" % "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
                                          for _ in range(8)),
           "first_name": rng.choice(FIRST), "last_name": rng.choice(NAMES),
           "email": "%s.%s@example.org" % (rng.choice(FIRST).lower(), rng.choice(NAMES).lower())}
    rec.update(fields)
    if notes:
        rec["notes"] = notes.decode()
    return json.dumps(rec).encode()


# --------------------------------------------------------------------------------------------
# Scenario context: addresses, pcap, expected events
# --------------------------------------------------------------------------------------------


class Context:
    def __init__(self, args, pcap_path):
        self.args = args
        self.rng = random.Random(args.seed)
        self.pcap = PcapWriter(pcap_path)
        self.events = {}  # (flow no, direction, sensor) -> event, insertion-ordered
        self.n_clients = 0
        self.tuples = set()
        self._filler = None
        self.servers4 = [Host("198.19.0.%d" % (10 + i), mac_bytes(0x53, i)) for i in range(8)]
        self.servers6 = [Host("2001:db8:5::%x" % (0x10 + i), mac_bytes(0x56, i))
                         for i in range(8)]

    @property
    def filler(self):
        if self._filler is None:
            self._filler = Filler(self.rng)
        return self._filler

    def client_host(self, v6=False):
        i = self.n_clients
        self.n_clients += 1
        if v6:
            return Host("2001:db8:c::%x" % (i + 1), mac_bytes(0xC6, i))
        return Host("198.18.%d.%d" % (i // 254 % 256, i % 254 + 1), mac_bytes(0xC4, i))

    def new_flow(self, sport, v6=False, vlans=(), client=None, server=None, udp=False, **kw):
        """A new TCP Flow to port `sport`, or with udp a UdpFlow, on a tuple not used yet."""
        client = client or self.client_host(v6)
        server = server or self.rng.choice(self.servers6 if v6 else self.servers4)
        while True:
            cport = self.rng.randint(32768, 60999)
            key = (client.ip, cport, server.ip, sport)
            if key not in self.tuples:
                self.tuples.add(key)
                break
        flow = (UdpFlow(client, cport, server, sport, vlans) if udp else
                Flow(self.rng, client, cport, server, sport, vlans=vlans, **kw))
        flow.no = len(self.tuples)
        return flow

    def new_ping(self, v6=False, vlans=()):
        """A new PingFlow, from a new client host, with a random identifier."""
        client = self.client_host(v6)
        server = self.rng.choice(self.servers6 if v6 else self.servers4)
        flow = PingFlow(client, server, self.rng.getrandbits(16), vlans)
        self.tuples.add((client.ip, flow.ident, server.ip, "echo"))
        flow.no = len(self.tuples)
        return flow

    def expect(self, flow, to_server, sensor, value, app_proto, context, http=None,
               evasion=False, wire=None):
        """Records one planted value. app_proto None: the event has none (ICMP). http: the
        event's expected http object (raw url, before masking); evasion: the value only has to
        be reported, by its sensor in any context or by an "uninspectable" alert on the flow;
        wire: the value as written on the wire when that differs from `value` (percent-encoded
        ...), kept in "wire_values"."""
        direction = "to_server" if to_server else "to_client"
        key = (flow.no, direction, sensor)
        ev = self.events.get(key)
        if ev is None:
            ev = {"sensor": sensor, **flow.endpoints(to_server),
                  "proto": getattr(flow, "proto", "TCP"),
                  "direction": direction, "app_proto": app_proto, "context": context,
                  "count": 0, "values": [], "flow": flow.endpoints(True)}
            if app_proto is None:
                del ev["app_proto"]
            if http is not None:
                ev["http"] = http
            if evasion:
                ev["evasion"] = True
            self.events[key] = ev
        ev["count"] += 1
        ev["values"].append(value)
        if wire is not None:
            ev.setdefault("wire_values", []).append(wire)

    def nir(self, **kw):
        v = gen_nir(self.rng, **kw)
        return nir_grouped(v) if self.args.nir_style == "spaces" else v

    def emit(self, frames, gap_us=40):
        self.pcap.write_all(frames, gap_us)

    def finish(self, expect_path):
        self.pcap.close()
        events = sorted(self.events.items(), key=lambda kv: kv[0])
        with open(expect_path, "w") as f:
            json.dump([ev for _, ev in events], f, indent=1)
            f.write("\n")
        return len(events)


SCENARIOS = {}


def scenario(fn):
    """Registers a scenario; its docstring's first line is its --list description."""
    SCENARIOS[fn.__name__.replace("sc_", "", 1)] = fn
    return fn


# --------------------------------------------------------------------------------------------
# HTTP single-flow scenarios
# --------------------------------------------------------------------------------------------


def http_post_exchange(ctx, port=80, v6=False, vlans=(), notes=0, send_opts=None, cuts=None,
                       frag=None):
    """Handshake, POST with a NIR in a JSON body, 200 response, FIN. `cuts(req, nir_offset)`
    returns the client's segment cut offsets; frag: the request goes as IP fragments
    (Flow.send's frag, a fragment boundary through the middle of the NIR)."""
    rng = ctx.rng
    flow = ctx.new_flow(port, v6=v6, vlans=vlans)
    nir = ctx.nir()
    body = customer_json(rng, {"nir": nir}, ctx.filler.text_bytes(notes) if notes else b"")
    req = http_request("POST", "/api/v1/customers", "crm.example.net", body)
    at = req.index(nir.encode())
    ctx.emit(flow.handshake(), 30)
    ctx.pcap.pause(200)
    opts = dict(send_opts or {})
    if frag:
        opts["frag"] = {**frag, "split": [at + len(nir) // 2]}
    ctx.emit(flow.send(req, True, cuts=cuts(req, at) if cuts else (), **opts))
    ctx.pcap.pause(500)
    resp = http_response(b'{"status":"stored","customer_id":"C-XQKT"}')
    ctx.emit(flow.send(resp, False, **({"duplicate": True} if send_opts and
                                        send_opts.get("duplicate") else {})))
    ctx.pcap.pause(300)
    ctx.emit(flow.close())
    ctx.expect(flow, True, "fr_ssn", nir, "http", "body")
    return flow


@scenario
def sc_one_segment(ctx):
    """HTTP POST (JSON body with a NIR) in one segment on port 80, 200 response, FIN close."""
    http_post_exchange(ctx)


@scenario
def sc_split2(ctx):
    """Same as one_segment, the NIR split across two TCP segments."""
    http_post_exchange(ctx, cuts=lambda req, at: [at + 7])


@scenario
def sc_byte_per_segment(ctx):
    """Headers in one segment, then the request body one byte per TCP segment."""
    def cuts(req, at):
        start = req.index(b"\r\n\r\n") + 4
        return range(start, len(req))
    http_post_exchange(ctx, cuts=cuts)


@scenario
def sc_reversed(ctx):
    """Client data segments (request of ~4 KB, NIR split) emitted in reverse order."""
    http_post_exchange(ctx, notes=3000, cuts=lambda req, at: [at + 5],
                       send_opts={"order": "reverse"})


@scenario
def sc_duplicated(ctx):
    """Every data segment sent twice; some segments retransmitted again later."""
    http_post_exchange(ctx, notes=3000, cuts=lambda req, at: [at + 8],
                       send_opts={"duplicate": True, "retransmit": (0, 2)})


@scenario
def sc_vlan(ctx):
    """one_segment with an 802.1Q tag (VLAN 100) on every frame."""
    http_post_exchange(ctx, vlans=VLAN)


@scenario
def sc_qinq(ctx):
    """one_segment in QinQ: 802.1ad outer VLAN 200 + 802.1Q inner VLAN 300."""
    http_post_exchange(ctx, vlans=QINQ)


@scenario
def sc_ipv6(ctx):
    """one_segment over IPv6 (2001:db8::/32)."""
    http_post_exchange(ctx, v6=True)


@scenario
def sc_http_port(ctx):
    """one_segment on port 8081."""
    http_post_exchange(ctx, port=8081)


@scenario
def sc_response(ctx):
    """GET, the NIR in the HTTP response body (server -> client)."""
    rng = ctx.rng
    flow = ctx.new_flow(80)
    nir = ctx.nir()
    req = http_request("GET", "/api/v1/customers/C-QWERTYUP", "crm.example.net")
    ctx.emit(flow.handshake(), 30)
    ctx.emit(flow.send(req, True))
    ctx.pcap.pause(800)
    ctx.emit(flow.send(http_response(customer_json(rng, {"nir": nir})), False))
    ctx.emit(flow.close())
    ctx.expect(flow, False, "fr_ssn", nir, "http", "body")


# --------------------------------------------------------------------------------------------
# Raw-stream scenarios
# --------------------------------------------------------------------------------------------


def record_line(rng, key, value):
    return ("REC id=%s name=%s %s=%s status=active\n"
            % ("".join(rng.choice("abcdefghjk") for _ in range(6)), rng.choice(NAMES), key,
               value)).encode()


@scenario
def sc_midstream(ctx):
    """No handshake: a raw text stream on port 7070 picked up in the middle, NIR to server."""
    rng, fill = ctx.rng, ctx.filler
    flow = ctx.new_flow(7070)
    nir = ctx.nir()
    part1 = fill.text_bytes(2000) + b"\n" + record_line(rng, "nir", nir) + fill.text_bytes(900)
    ctx.emit(flow.send(part1, True))
    ctx.emit(flow.send(b"OK stored\n", False))
    ctx.emit(flow.send(fill.text_bytes(1200) + b"\nEND\n", True))
    ctx.emit(flow.close())
    ctx.expect(flow, True, "fr_ssn", nir, "failed", "raw")


@scenario
def sc_deep(ctx):
    """Raw stream on port 5001: --deep-mb MiB of text, then the NIR (seq numbers wrap)."""
    rng, fill = ctx.rng, ctx.filler
    depth = int(ctx.args.deep_mb * (1 << 20))
    isn = (1 << 32) - depth // 2 + rng.randrange(1 << 16)  # wraps mid-way
    flow = ctx.new_flow(5001, client_isn=isn & 0xFFFFFFFF)
    nir = ctx.nir()
    data = fill.text_bytes(depth) + b"\nnir=" + nir.encode() + b"\n" + fill.text_bytes(3000)
    ctx.emit(flow.handshake(), 30)
    ctx.emit(flow.send(data, True), 12)
    ctx.emit(flow.send(b"ACK\n", False))
    ctx.emit(flow.close())
    ctx.expect(flow, True, "fr_ssn", nir, "failed", "raw")


def tlv(tag, value):
    return struct.pack("!BH", tag, len(value)) + value


def c2_record(rtype, payload):
    return struct.pack("!IB", len(payload) + 1, rtype) + payload


@scenario
def sc_c2_raw(ctx):
    """Raw C2 protocol on port 4444: length-prefixed TLV records with 3 NIRs, an SSN, a card."""
    rng, fill = ctx.rng, ctx.filler
    flow = ctx.new_flow(4444)
    nirs = [gen_nir(rng, corsica=0), nir_grouped(gen_nir(rng, corsica=0)),
            gen_nir(rng, corsica=1.0)]
    ssn, card = gen_ssn(rng), gen_card(rng)
    ctx.emit(flow.handshake(), 30)
    hello = c2_record(1, fill.binary(16) + tlv(0x01, b"WS-FINANCE-07") + tlv(0x02, b"x64"))
    ctx.emit(flow.send(hello, True))
    ctx.emit(flow.send(c2_record(2, fill.binary(40)), False))  # tasking
    exfil = b"".join([
        c2_record(3, tlv(0x03, fill.binary(700)) + tlv(0x04, nirs[0].encode())),
        c2_record(3, tlv(0x05, fill.binary(1800)) + tlv(0x04, nirs[1].encode())
                  + tlv(0x06, ssn.encode())),
        c2_record(3, tlv(0x07, card.encode()) + tlv(0x03, fill.binary(500))),
        c2_record(3, tlv(0x04, nirs[2].encode()) + tlv(0x03, fill.binary(2500))),
    ])
    ctx.emit(flow.send(exfil, True))
    ctx.emit(flow.send(c2_record(2, fill.binary(24)), False))
    ctx.emit(flow.close())
    for v in nirs:
        ctx.expect(flow, True, "fr_ssn", v, "failed", "raw")
    ctx.expect(flow, True, "us_ssn", ssn, "failed", "raw")
    ctx.expect(flow, True, "credit_card", card, "failed", "raw")


@scenario
def sc_udp(ctx):
    """Exfiltration over UDP: syslog lines, a C2 beacon over IPv6 answered with a value, a VLAN
    flow; a value cut across two datagrams and DNS noise raise nothing."""
    rng, fill = ctx.rng, ctx.filler
    # 1. Syslog to port 514: three lines, two carrying a NIR (one alert, count 2) and an SSN.
    flow = ctx.new_flow(514, udp=True)
    nirs, ssn = [gen_nir(rng), nir_grouped(gen_nir(rng))], gen_ssn(rng)
    lines = [b"<134>Nov 27 12:00:01 crm01 export: batch started",
             b"<134>Nov 27 12:00:02 crm01 export: customer=C-1 nir=%s ok" % nirs[0].encode(),
             b"<134>Nov 27 12:00:03 crm01 export: customer=C-2 nir=%s ssn=%s ok"
             % (nirs[1].encode(), ssn.encode())]
    ctx.emit([flow.datagram(line) for line in lines], 200)
    for v in nirs:
        ctx.expect(flow, True, "fr_ssn", v, "failed", "raw")
    ctx.expect(flow, True, "us_ssn", ssn, "failed", "raw")
    # 2. A beacon over IPv6 to port 9999; the server's answer carries a card (to_client).
    flow = ctx.new_flow(9999, v6=True, udp=True)
    card = gen_card(rng)
    ctx.emit([flow.datagram(b"BEACON " + fill.binary(64)),
              flow.datagram(b"TASK " + fill.binary(40) + b" card=" + card.encode() + b";",
                            from_client=False)], 300)
    ctx.expect(flow, False, "credit_card", card, "failed", "raw")
    # 3. VLAN 100, a NIR in a small datagram, then one in a large datagram (sent as IP
    #    fragments by its sender's kernel): one flow, whole or in fragments (one alert, count
    #    2, with any number of workers). Likewise over IPv6.
    for v6 in (False, True):
        flow = ctx.new_flow(4000, vlans=VLAN, udp=True, v6=v6)
        small, nir = gen_nir(rng), gen_nir(rng)
        big = fill.text_bytes(1800) + b" nir=" + nir.encode() + b" " + fill.text_bytes(900)
        ctx.emit([flow.datagram(b"first nir=" + small.encode())] +
                 flow.datagram(big, frag_size=1480), 100)
        ctx.expect(flow, True, "fr_ssn", small, "failed", "raw")
        ctx.expect(flow, True, "fr_ssn", nir, "failed", "raw")
    # 4. A value cut across two datagrams: two messages, neither holds a value.
    flow = ctx.new_flow(5000, udp=True)
    cut = gen_nir(rng)
    ctx.emit([flow.datagram(b"part1 id=" + cut[:7].encode()),
              flow.datagram(cut[7:].encode() + b" end")], 100)
    # 5. DNS noise.
    ctx.emit(dns_exchange(ctx, 1), 30)


@scenario
def sc_icmp(ctx):
    """Ping tunnels: values in ICMP echo requests and replies, IPv4, IPv6, IP fragments.

    Clean pings, a value cut across two messages and an ICMP error quoting a value raise
    nothing."""
    rng, fill = ctx.rng, ctx.filler
    # 1. An IPv4 tunnel (ptunnel-like framing): requests carry a NIR and a card, the server's
    #    replies carry tasking, one of them a grouped NIR (to_client).
    flow = ctx.new_ping()
    nir, card, nir_back = gen_nir(rng), gen_card(rng), nir_grouped(gen_nir(rng))
    frames = flow.exchange(b"PT\x00\x01" + fill.binary(60), b"PT\x00\x02" + fill.binary(20))
    frames += flow.exchange(b"PT\x00\x03 rec=" + nir.encode() + b";" + fill.binary(40),
                            b"PT\x00\x04 ack")
    frames += flow.exchange(b"PT\x00\x03 pan=" + card.encode() + b";",
                            b"PT\x00\x05 task nir=" + nir_back.encode() + b"\n")
    ctx.emit(frames, 300)
    ctx.expect(flow, True, "fr_ssn", nir, None, "raw")
    ctx.expect(flow, True, "credit_card", card, None, "raw")
    ctx.expect(flow, False, "fr_ssn", nir_back, None, "raw")
    # 2. IPv6, as `ping -6 -p` sends a NIR and a space: the 16-byte pattern repeated after the
    #    timestamp, two whole copies in 56 bytes; the replies echo it.
    flow = ctx.new_ping(v6=True)
    nir6 = gen_nir(rng)
    frames = []
    for _ in range(3):
        data = ping_data(rng, nir6.encode() + b" ")
        frames += flow.exchange(data)
        for _ in range(data.count(nir6.encode() + b" ")):
            ctx.expect(flow, True, "fr_ssn", nir6, None, "raw")
            ctx.expect(flow, False, "fr_ssn", nir6, None, "raw")
    ctx.emit(frames, 1000)
    # 3. VLAN 100: a 3 KB echo request in IP fragments, a fragment boundary through its NIR;
    #    no reply (the target drops it).
    flow = ctx.new_ping(vlans=VLAN)
    nir = gen_nir(rng)
    big = fill.text_bytes(1460) + b" nir=" + nir.encode() + b" " + fill.text_bytes(1500)
    ctx.emit(flow.echo(big, frag_size=1480), 100)  # the NIR starts 7 bytes before the cut
    ctx.expect(flow, True, "fr_ssn", nir, None, "raw")
    # 4. Clean pings: Linux's default data (with "01234567"), near misses of every sensor (the
    #    replies echo them), and a NIR cut across two requests: two messages, no value.
    flow = ctx.new_ping()
    frames = flow.exchange(ping_data(rng)) + flow.exchange(ping_data(rng))
    lines = b"".join(record_line(rng, k, v) for k, v in near_misses(rng))
    frames += flow.exchange(lines[:1400]) + flow.exchange(lines[1400:2800])
    cut = gen_nir(rng)
    frames += flow.exchange(b"part1 id=" + cut[:7].encode())
    frames += flow.exchange(cut[7:].encode() + b" end")
    ctx.emit(frames, 1000)
    # 5. A port unreachable quoting a UDP datagram that held a NIR: not an echo, so counted
    #    (icmp_other), not scanned. The datagram itself is not in the capture.
    client, server = ctx.client_host(), ctx.servers4[0]
    quoted = ip_packet(client, server, 17, udp_datagram(client, server, 40001, 9999,
                                                        b"nir=" + gen_nir(rng).encode()), 7)
    ctx.emit([ip_frames(server, client, 1, icmp_message(server, client, 3, 3, bytes(4), quoted))])


# --------------------------------------------------------------------------------------------
# IP fragmentation
# --------------------------------------------------------------------------------------------


@scenario
def sc_ip_fragments(ctx):
    """Data segments as IP fragments (v4, v6, VLAN; reversed, duplicated), values cut by them.

    Each fragmented segment has a fragment boundary through its value; the events are those
    of the same flows unfragmented."""
    rng, fill = ctx.rng, ctx.filler
    # 1. IPv4 HTTP POST: a ~1000-byte segment in 24-byte fragments (40 and more), in order.
    http_post_exchange(ctx, notes=600, frag={"size": 24})
    # 2. Raw C2 channel (port 4444): the record with a card in 40-byte fragments, last first.
    flow = ctx.new_flow(4444)
    card = gen_card(rng)
    ctx.emit(flow.handshake(), 30)
    ctx.emit(flow.send(c2_record(1, fill.binary(16) + tlv(0x01, b"WS-FINANCE-07")), True))
    ctx.emit(flow.send(c2_record(2, fill.binary(40)), False))  # tasking
    exfil = c2_record(3, tlv(0x03, fill.binary(200)) + tlv(0x07, card.encode())
                      + tlv(0x03, fill.binary(150)))
    ctx.emit(flow.send(exfil, True, frag={"size": 40, "order": "reverse",
                                          "split": [exfil.index(card.encode()) + 8]}))
    ctx.emit(flow.send(c2_record(2, fill.binary(24)), False))
    ctx.emit(flow.close())
    ctx.expect(flow, True, "credit_card", card, "failed", "raw")
    # 3. IPv6 HTTP POST: 32-byte fragments after a Fragment header, the second one sent twice.
    http_post_exchange(ctx, v6=True, frag={"size": 32, "duplicate": (1,)})
    # 4. IPv4 HTTP POST in 802.1Q VLAN 100: 48-byte fragments, in order.
    http_post_exchange(ctx, vlans=VLAN, notes=200, frag={"size": 48})
    # 5. Clean: raw text (port 7070) in 40-byte fragments, no value: no event.
    flow = ctx.new_flow(7070)
    ctx.emit(flow.handshake(), 30)
    ctx.emit(flow.send(fill.text_bytes(900) + b"\n", True, frag={"size": 40}))
    ctx.emit(flow.send(b"OK stored\n", False))
    ctx.emit(flow.close())


# --------------------------------------------------------------------------------------------
# Negatives
# --------------------------------------------------------------------------------------------


def near_misses(rng):
    """Key/value pairs that resemble personal data but are not."""
    def uuid():
        while True:
            h = "%032x" % rng.getrandbits(128)
            u = "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:])
            if all(any(c.isalpha() for c in g) for g in u.split("-")):
                return u
    nir_short = gen_nir(rng, corsica=0)[:13]
    while luhn_valid(nir_short):
        nir_short = gen_nir(rng, corsica=0)[:13]
    bad_card = gen_card_bad_luhn(rng)
    return [
        ("nir", gen_nir_bad_key(rng)),
        ("nir_grouped", nir_grouped(gen_nir_bad_key(rng))),
        ("reference", gen_nir_in_digit_run(rng)),
        ("tracking", gen_nir_in_digit_run(rng, 4, 2)),
        ("nir_short", nir_short),  # truncated: no key
        ("card", gen_card_bad_luhn(rng)),
        ("card_spaced", " ".join(bad_card[i:i + 4] for i in range(0, 16, 4))),
        ("ssn", gen_ssn_area000(rng)),
        ("iban", gen_iban_bad_check(rng)),
        ("price", "1 299,99 EUR"), ("amount", "$1,234,567.89"), ("total", "12345.67"),
        ("created", "2026-11-27T12:00:00.123456Z"), ("epoch", str(EPOCH)),
        ("date", "27/11/2026 12:00:00"),
        ("phone", "+33 6 12 34 56 78"), ("phone_fr", "01.23.45.67.89"),
        ("phone_us", "+1 (555) 010-1234"), ("phone_us2", "555-010-4321"),
        ("uuid", uuid()), ("request_id", uuid()),
        ("zip", "75011"), ("order", "CMD-2026-000123"),
    ]


@scenario
def sc_negatives(ctx):
    """HTTP and raw flows with near-misses only (bad NIR key, bad Luhn, SSN 000, digit runs...)."""
    rng, fill = ctx.rng, ctx.filler
    # 1. HTTP POST with near-misses in the JSON body, near-misses in the response too.
    flow = ctx.new_flow(80)
    body = json.dumps(dict(near_misses(rng))).encode()
    ctx.emit(flow.handshake(), 30)
    ctx.emit(flow.send(http_request("POST", "/api/v1/orders", "shop.example.net", body), True))
    ctx.emit(flow.send(http_response(json.dumps(dict(near_misses(rng))).encode()), False))
    ctx.emit(flow.close())
    # 2. HTTP GET, then a second request on the same connection (keep-alive), text/plain.
    flow = ctx.new_flow(8080)
    ctx.emit(flow.handshake(), 30)
    for _ in range(2):
        ctx.emit(flow.send(http_request("GET", "/export?page=2", "shop.example.net"), True))
        text = "\n".join("%s: %s" % kv for kv in near_misses(rng)).encode()
        ctx.emit(flow.send(http_response(fill.text_bytes(1500) + b"\n" + text,
                                         ctype="text/plain"), False))
    ctx.emit(flow.close())
    # 3. Raw stream with near-misses spread over several segments, both directions.
    flow = ctx.new_flow(7070)
    ctx.emit(flow.handshake(), 30)
    for _ in range(3):
        lines = b"".join(record_line(rng, k, v) for k, v in near_misses(rng))
        ctx.emit(flow.send(fill.text_bytes(1000) + b"\n" + lines, True, cuts=[700, 1900]))
        ctx.emit(flow.send(b"OK " + gen_nir_in_digit_run(rng).encode() + b"\n", False))
    ctx.emit(flow.close())
    # 4. Raw binary with near-misses inside TLVs.
    flow = ctx.new_flow(4444)
    ctx.emit(flow.handshake(), 30)
    recs = b"".join(c2_record(3, tlv(0x04, v.encode()) + tlv(0x03, fill.binary(300)))
                    for _, v in near_misses(rng))
    ctx.emit(flow.send(recs, True))
    ctx.emit(flow.close())


# --------------------------------------------------------------------------------------------
# HTTP inspection scenarios (issue 3): contexts, decodings, message framing, evasions
# --------------------------------------------------------------------------------------------

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
FORM = "application/x-www-form-urlencoded"


def http_head(start, headers):
    """Start line + (name, value) headers + empty line. A value may hold "\\r\\n " (folding)."""
    return ("\r\n".join([start] + ["%s: %s" % hv for hv in headers]) + "\r\n\r\n").encode()


def http_req(method, target, host, body=b"", ctype=None, headers=(), length=True):
    """A request with the usual browser headers; `headers` go after Content-Type; length:
    add Content-Length when there is a body (or for POST/PUT)."""
    hs = [("Host", host), ("User-Agent", UA), ("Accept", "*/*"),
          ("Accept-Language", "fr-FR,fr;q=0.9")]
    if ctype:
        hs.append(("Content-Type", ctype))
    hs += list(headers)
    if length and (body or method in ("POST", "PUT")):
        hs.append(("Content-Length", str(len(body))))
    hs.append(("Connection", "keep-alive"))
    return http_head("%s %s HTTP/1.1" % (method, target), hs) + body


def http_resp(body=b"", status="200 OK", ctype="application/json", headers=(), length=True):
    hs = [("Date", "Fri, 27 Nov 2026 12:00:00 GMT"), ("Server", "nginx")]
    if ctype:
        hs.append(("Content-Type", ctype))
    hs += list(headers)
    if length:
        hs.append(("Content-Length", str(len(body))))
    hs.append(("Cache-Control", "no-store"))
    return http_head("HTTP/1.1 " + status, hs) + body


def http_fields(method, url, host, ctype=None, status=None, length=None):
    """The http object an event should carry (url raw: sluice masks its digits and escapes)."""
    h = {"hostname": host, "http_method": method, "url": url}
    if ctype:
        h["http_content_type"] = ctype
    if status:
        h["status"] = status
    if length is not None:
        h["length"] = length
    return h


def chunked(body, cuts, ext=lambda i: "", trailers=()):
    """Chunked transfer coding of body, a chunk boundary at every cut; ext(i) is the i-th
    chunk's extension text (";name=value..."); trailers: (name, value) after the last chunk."""
    bounds = sorted({0, len(body), *(c for c in cuts if 0 < c < len(body))})
    out = [b"%x%s\r\n%s\r\n" % (hi - lo, ext(i).encode(), body[lo:hi])
           for i, (lo, hi) in enumerate(zip(bounds, bounds[1:]))]
    out.append(b"0\r\n" + b"".join(b"%s: %s\r\n" % (n.encode(), v.encode())
                                   for n, v in trailers) + b"\r\n")
    return b"".join(out)


def pct_digits(s):
    """Every digit as %3X (what a client percent-encoding everything would send)."""
    return "".join("%%%02X" % ord(c) if c.isdigit() else c for c in s)


def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


def raw_deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def http_flow(ctx, port, exchanges, v6=False):
    """Handshake, then each (request, response, request cut offsets) in turn on one keep-alive
    connection (None skips a side), FIN. Returns the flow."""
    seg = getattr(ctx.args, "seg_size", None) or MSS
    flow = ctx.new_flow(port, v6=v6)
    ctx.emit(flow.handshake(), 30)
    ctx.pcap.pause(200)
    for req, resp, cuts in exchanges:
        if req:
            ctx.emit(flow.send(req, True, cuts=cuts, seg_size=seg))
        ctx.pcap.pause(400)
        if resp:
            ctx.emit(flow.send(resp, False, seg_size=seg))
        ctx.pcap.pause(300)
    ctx.emit(flow.close())
    return flow


OK_JSON = b'{"status":"ok"}'


def small_html(ctx, n=600):
    return b"<html><head><title>Espace client</title></head><body><p>" + \
        ctx.filler.text_bytes(n) + b"</p></body></html>"


@scenario
def sc_http_url_query(ctx):
    """NIR in a GET query string (port 80), and percent-encoded as %3X digits (port 8081)."""
    rng, host = ctx.rng, "crm.example.net"
    nir = gen_nir(rng, corsica=0)
    url = "/api/search?q=dossier&nir=%s&lang=fr" % nir
    flow = http_flow(ctx, 80, [(http_req("GET", url, host), http_resp(OK_JSON), ())])
    ctx.expect(flow, True, "fr_ssn", nir, "http", "url", http=http_fields("GET", url, host))
    nir2 = gen_nir(rng, corsica=0)
    url2 = "/lookup?client=%s&view=full" % pct_digits(nir2)
    flow = http_flow(ctx, 8081, [(http_req("GET", url2, host), http_resp(OK_JSON), ())])
    ctx.expect(flow, True, "fr_ssn", nir2, "http", "url", http=http_fields("GET", url2, host),
               wire=pct_digits(nir2))


@scenario
def sc_http_cookie(ctx):
    """NIR in Cookie (port 3000); keep-alive flow with NIRs in 2nd Cookie and Set-Cookie.

    The keep-alive flow (port 80): its SECOND request has a NIR in its Cookie and its second
    response sets one (Set-Cookie); the events must name that request and that response."""
    host = "portal.example.net"
    nir = gen_nir(ctx.rng, corsica=0)
    url = "/account/profile"
    cookie = "session=QWxhZGRpbjpvcGVu; nir=%s; theme=dark" % nir
    flow = http_flow(ctx, 3000, [(http_req("GET", url, host, headers=[("Cookie", cookie)]),
                                  http_resp(small_html(ctx), ctype="text/html"), ())])
    ctx.expect(flow, True, "fr_ssn", nir, "http", "header", http=http_fields("GET", url, host))
    n1, n2 = gen_nir(ctx.rng, corsica=0), gen_nir(ctx.rng, corsica=0)
    url2 = "/account/settings"
    html = small_html(ctx, 400)
    ex = [(http_req("GET", "/", host), http_resp(b"", status="302 Found", ctype="text/plain",
                                                  headers=[("Location", url2)]), ()),
          (http_req("GET", url2, host, headers=[("Cookie", "theme=dark; nir=%s" % n1)]),
           http_resp(html, ctype="text/html",
                     headers=[("Set-Cookie", "nir=%s; Path=/; HttpOnly" % n2)]), ())]
    flow = http_flow(ctx, 80, ex)
    ctx.expect(flow, True, "fr_ssn", n1, "http", "header", http=http_fields("GET", url2, host))
    ctx.expect(flow, False, "fr_ssn", n2, "http", "header",  # Set-Cookie precedes the length
               http=http_fields("GET", url2, host, "text/html", status=200))


@scenario
def sc_http_form(ctx):
    """NIR in an application/x-www-form-urlencoded POST body (port 80)."""
    host = "forms.example.net"
    nir = gen_nir(ctx.rng, corsica=0)
    body = ("nom=Dupont&prenom=Marie&nir=%s&ville=Paris&envoyer=Valider" % nir).encode()
    url = "/contact/submit"
    flow = http_flow(ctx, 80, [(http_req("POST", url, host, body, FORM),
                                http_resp(small_html(ctx), ctype="text/html"), ())])
    ctx.expect(flow, True, "fr_ssn", nir, "http", "body",
               http=http_fields("POST", url, host, FORM, length=len(body)))


@scenario
def sc_http_form_pct(ctx):
    """Form body (port 8081): one NIR with every digit as %3X, one grouped with '+' spaces."""
    host = "forms.example.net"
    rng = ctx.rng
    nir1, nir2 = gen_nir(rng, corsica=0), gen_nir(rng, corsica=0)
    w1, w2 = pct_digits(nir1), nir_grouped(nir2).replace(" ", "+")
    body = ("ref=ABCD&nir=%s&nir_conjoint=%s&accord=oui" % (w1, w2)).encode()
    url = "/dossier/create"
    flow = http_flow(ctx, 8081, [(http_req("POST", url, host, body, FORM),
                                  http_resp(OK_JSON), ())])
    for v, w in ((nir1, w1), (nir_grouped(nir2), w2)):
        ctx.expect(flow, True, "fr_ssn", v, "http", "body",
                   http=http_fields("POST", url, host, FORM, length=len(body)), wire=w)


@scenario
def sc_http_json(ctx):
    """JSON POST body on port 3000: two NIRs, an SSN and a card in nested objects."""
    rng, host = ctx.rng, "api.example.net"
    n1, n2, ssn, card = gen_nir(rng, corsica=0), gen_nir(rng), gen_ssn(rng), gen_card(rng)
    doc = {"batch": "B-QXKT", "clients": [
        {"nom": rng.choice(NAMES), "prenom": rng.choice(FIRST), "nir": n1},
        {"nom": rng.choice(NAMES), "prenom": rng.choice(FIRST), "nir": n2, "us": {"ssn": ssn}}],
        "paiement": {"carte": card, "titulaire": rng.choice(NAMES)},
        "notes": ctx.filler.text_bytes(400).decode()}
    body = json.dumps(doc, indent=1).encode()
    url = "/v/clients/import"
    ct = "application/json"
    flow = http_flow(ctx, 3000, [(http_req("POST", url, host, body, ct), http_resp(OK_JSON), ())])
    h = http_fields("POST", url, host, ct, length=len(body))
    for sensor, v in (("fr_ssn", n1), ("fr_ssn", n2), ("us_ssn", ssn), ("credit_card", card)):
        ctx.expect(flow, True, sensor, v, "http", "body", http=h)


@scenario
def sc_http_chunked_cut(ctx):
    """Chunked POST body (port 80), the NIR cut by a chunk boundary, chunk extensions, trailer."""
    rng, host = ctx.rng, "crm.example.net"
    nir = gen_nir(rng, corsica=0)
    body = customer_json(rng, {"nir": nir}, ctx.filler.text_bytes(900))
    at = body.index(nir.encode())
    cuts = [at - 300, at + 6, at + 200]
    exts = {0: ";name=alpha", 1: ';sig="abcdef"; retry', 3: ";x"}
    data = chunked(body, cuts, lambda i: exts.get(i, ""), trailers=[("X-Trace", "done")])
    ct = "application/json"
    req = http_req("POST", "/api/v/customers", host, data, ct,
                   headers=[("Transfer-Encoding", "chunked")], length=False)
    hdr = req.index(b"\r\n\r\n") + 4
    flow = http_flow(ctx, 80, [(req, http_resp(OK_JSON), [hdr, hdr + 700])])
    ctx.expect(flow, True, "fr_ssn", nir, "http", "body",
               http=http_fields("POST", "/api/v/customers", host, ct))


def compressed_post(ctx, port, encode, coding, url):
    rng, host = ctx.rng, "upload.example.net"
    nir = gen_nir(rng, corsica=0)
    plain = customer_json(rng, {"nir": nir}, ctx.filler.text_bytes(6000))
    body = encode(plain)
    ct = "application/json"
    req = http_req("POST", url, host, body, ct, headers=[("Content-Encoding", coding)])
    flow = http_flow(ctx, port, [(req, http_resp(OK_JSON), ())])
    ctx.expect(flow, True, "fr_ssn", nir, "http", "body",
               http=http_fields("POST", url, host, ct, length=len(body)))


@scenario
def sc_http_gzip_req(ctx):
    """POST with Content-Encoding: gzip (JSON with a NIR, ~7 KB inflated) on port 80."""
    compressed_post(ctx, 80, gz, "gzip", "/api/sync")


@scenario
def sc_http_deflate_req(ctx):
    """Content-Encoding: deflate POSTs: zlib-wrapped (port 80) and raw deflate (port 8081)."""
    compressed_post(ctx, 80, zlib.compress, "deflate", "/api/sync")
    compressed_post(ctx, 8081, raw_deflate, "deflate", "/api/sync")


def zstd_compress(data):
    """zstd frame of data, by the zstd tool (Python has no zstd module; tools/install-deps.sh
    installs it)."""
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                          check=True).stdout


@scenario
def sc_http_zstd_req(ctx):
    """POST with Content-Encoding: zstd (RFC 8878; JSON with a NIR, ~7 KB decoded) on 8080."""
    compressed_post(ctx, 8080, zstd_compress, "zstd", "/api/sync")


def ws_frame(payload, op=1, fin=True, rsv1=False, key=None):
    """One WebSocket frame (RFC 6455): the payload masked with the 4-byte key when given (client
    frames always are)."""
    n, mask = len(payload), 0x80 if key else 0
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | op])
    if n < 126:
        head += bytes([mask | n])
    elif n < 65536:
        head += bytes([mask | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask | 127]) + struct.pack("!Q", n)
    if key:
        head += key
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
    return head + payload


@scenario
def sc_websocket(ctx):
    """A WebSocket (RFC 6455) channel on port 80, as a C2 implant would use one: the upgrade
    with permessage-deflate (RFC 7692), then masked client messages. The second compressed one
    holds a NIR and refers back to the first (the deflate window runs across messages); it is
    cut into two frames with a ping between them. An uncompressed message carries a card
    number; the server's frames are unmasked."""
    rng, host = ctx.rng, "ws.example.net"
    nir, card = gen_nir(rng, corsica=0), gen_card(rng)
    key = lambda: bytes(rng.randrange(256) for _ in range(4))
    upgrade = http_req("GET", "/socket", host, headers=[
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])
    switch = http_head("HTTP/1.1 101 Switching Protocols", [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ("Sec-WebSocket-Extensions", "permessage-deflate")])
    z = zlib.compressobj(6, zlib.DEFLATED, -15)

    def deflated(msg):
        return (z.compress(msg) + z.flush(zlib.Z_SYNC_FLUSH))[:-4]

    first = b'{"type":"hello","host":"srv-db-01","records":[' + ctx.filler.text_bytes(300) + b']}'
    m1 = deflated(first)
    m2 = deflated(b'{"type":"hello","host":"srv-db-01","records":[{"nir":"%s"}]}' % nir.encode())
    cut = len(m2) // 2
    client = (ws_frame(m1, rsv1=True, key=key()) +
              ws_frame(m2[:cut], fin=False, rsv1=True, key=key()) +
              ws_frame(b"keepalive", op=9, key=key()) +
              ws_frame(m2[cut:], op=0, key=key()) +
              ws_frame(b'{"type":"card","pan":"%s"}' % card.encode(), key=key()))
    server = ws_frame(b'{"type":"ack"}') + ws_frame(b"\x03\xe8", op=8)
    flow = http_flow(ctx, 80, [(upgrade, switch, ()), (client, server, [len(client) // 3])])
    fields = http_fields("GET", "/socket", host)
    ctx.expect(flow, True, "fr_ssn", nir, "http", "body", http=fields)
    ctx.expect(flow, True, "credit_card", card, "http", "body", http=fields)


def smtp_flow(ctx, port, client_lines, message, bdat=()):
    """An SMTP session: greeting, each client line answered, then the message by DATA (dot
    stuffed) or, with bdat offsets, in BDAT chunks cut there, then QUIT."""
    ex = [(None, b"220 mx.example.org ESMTP\r\n", ())]
    for line in client_lines:
        ex.append((line, b"250 OK\r\n", ()))
    if bdat:
        bounds = [0, *bdat, len(message)]
        for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
            last = b" LAST" if i == len(bounds) - 2 else b""
            ex.append((b"BDAT %d%s\r\n" % (hi - lo, last) + message[lo:hi], b"250 OK\r\n", ()))
    else:
        stuffed = b"".join(b"." + l if l.startswith(b".") else l
                           for l in message.splitlines(keepends=True))
        ex.append((b"DATA\r\n", b"354 go ahead\r\n", ()))
        ex.append((stuffed + b".\r\n", b"250 queued\r\n", [len(stuffed) // 2]))
    ex.append((b"QUIT\r\n", b"221 bye\r\n", ()))
    return http_flow(ctx, port, ex)


def b64_lines(data):
    import base64
    text = base64.b64encode(data)
    return b"".join(text[i:i + 76] + b"\r\n" for i in range(0, len(text), 76))


@scenario
def sc_smtp(ctx):
    """Mail (RFC 5321/5322) as an exfiltration channel: on port 25, a message by DATA whose CSV
    attachment, base64 in a multipart/mixed, lists NIRs (a text part has a stuffed dot line); on
    port 587 a single-part base64 message with a card number sent in BDAT chunks cut inside its
    header and body; on 2525 a NIR in the base64 text of a multipart/alternative nested in a
    multipart/mixed. Raw scanning sees only base64."""
    rng = ctx.rng
    nirs = [gen_nir(rng, corsica=0) for _ in range(3)]
    csv = b"nir;name;city\n" + b"".join(b"%s;user%d;Paris\n" % (n.encode(), i)
                                        for i, n in enumerate(nirs))
    msg = (b"From: ops@example.net\r\nTo: drop@example.org\r\nSubject: weekly export\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_b1\"\r\n\r\n"
           b"--=_b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\nSee attached.\r\n"
           b".signature line\r\n--=_b1\r\nContent-Type: text/csv; name=export.csv\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(csv) + b"--=_b1--\r\n")
    flow = smtp_flow(ctx, 25, [b"EHLO srv-db-01.example.net\r\n",
                               b"MAIL FROM:<ops@example.net>\r\n",
                               b"RCPT TO:<drop@example.org>\r\n"], msg)
    for n in nirs:
        ctx.expect(flow, True, "fr_ssn", n, "smtp", "body")
    card = gen_card(rng)
    msg2 = (b"From: ops@example.net\r\nSubject: card\r\nContent-Type: text/plain\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" +
            b64_lines(b"Customer card: %s, expires 12/29\n" % card.encode()))
    flow = smtp_flow(ctx, 587, [b"EHLO srv-db-01.example.net\r\n",
                                b"MAIL FROM:<ops@example.net>\r\n",
                                b"RCPT TO:<drop@example.org>\r\n"], msg2,
                     bdat=[20, len(msg2) - 30])
    ctx.expect(flow, True, "credit_card", card, "smtp", "body")
    # A mail client's usual shape, on 2525: the text, base64, inside multipart/alternative
    # (its Content-Type folded), inside multipart/mixed with an attachment. A raw scan, or a
    # parser of the top level only, sees base64.
    nir = gen_nir(rng, corsica=0)
    text = "Bonjour,\nle dossier de Mme Durand, NIR %s, est en pièce jointe.\n" % nir
    msg3 = (b"From: rh@example.net\r\nTo: drop@example.org\r\nSubject: dossier\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n"
            b" boundary=\"------------mx0B1vQ2\"\r\n\r\n"
            b"This is a multi-part message in MIME format.\r\n"
            b"--------------mx0B1vQ2\r\nContent-Type: multipart/alternative;\r\n"
            b" boundary=\"------------alt9ZkP\"\r\n\r\n"
            b"--------------alt9ZkP\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(text.encode()) +
            b"\r\n--------------alt9ZkP\r\nContent-Type: text/html; charset=UTF-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" +
            b64_lines(b"<p>" + text.encode() + b"</p>") +
            b"\r\n--------------alt9ZkP--\r\n\r\n"
            b"--------------mx0B1vQ2\r\nContent-Type: application/pdf; name=\"d.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(b"%PDF-1.4 " * 40) +
            b"\r\n--------------mx0B1vQ2--\r\n")
    flow = smtp_flow(ctx, 2525, [b"EHLO rh-01.example.net\r\n",
                                 b"MAIL FROM:<rh@example.net>\r\n",
                                 b"RCPT TO:<drop@example.org>\r\n"], msg3)
    for _ in ("text/plain", "text/html"):
        ctx.expect(flow, True, "fr_ssn", nir, "smtp", "body")


@scenario
def sc_c2_base64(ctx):
    """An implant base64-encodes what it sends, without saying so: a JSON POST to /api/beacon on
    8080 whose "blob" field is the base64 of a record holding a NIR and a card (the request cut
    inside the base64), and a raw C2 channel on 4443 sending base64 lines (a NIR, a card); base64
    of a longer digit run and of plain text raise nothing."""
    import base64
    rng, fill, host = ctx.rng, ctx.filler, "cdn-telemetry.example.net"
    nir, card = gen_nir(rng, corsica=0), gen_card(rng)
    record = b"host=WS-FIN-07;user=jdupont;nir=%s;pan=%s;note=%s" % (
        nir.encode(), card.encode(), fill.text_bytes(300))
    body = b'{"v":2,"id":"%s","blob":"%s"}' % (fill.text_bytes(8).hex().encode(),
                                               base64.b64encode(record))
    url = "/api/beacon"
    req = http_req("POST", url, host, body, ctype="application/json")
    flow = http_flow(ctx, 8080, [(req, http_resp(OK_JSON), [len(req) - len(body) // 2])])
    fields = http_fields("POST", url, host, "application/json")
    ctx.expect(flow, True, "fr_ssn", nir, "http", "body", http=fields)
    ctx.expect(flow, True, "credit_card", card, "http", "body", http=fields)
    flow = ctx.new_flow(4443)
    nir2, card2 = gen_nir(rng, corsica=0), gen_card(rng)
    lines = [b"hello " + base64.b64encode(b"WS-FIN-07 x64"),
             b"data " + base64.b64encode(b"rec=1;nir=" + nir2.encode() + b";"),
             b"data " + base64.b64encode(b"rec=2;pan=" + card2.encode()),
             b"data " + base64.b64encode(b"rec=3;id=" + nir2.encode() + b"4242;"),
             b"data " + base64.b64encode(fill.text_bytes(120))]
    ctx.emit(flow.handshake(), 30)
    ctx.emit(flow.send(b"\n".join(lines) + b"\n", True))
    ctx.emit(flow.close())
    ctx.expect(flow, True, "fr_ssn", nir2, "failed", "raw")
    ctx.expect(flow, True, "credit_card", card2, "failed", "raw")


@scenario
def sc_http_br_req(ctx):
    """POSTs with Content-Encoding: br (RFC 7932; JSON with a NIR, ~7 KB decoded): the largest
    window (16 MiB) on 8080, and br over gzip on port 80."""
    import brotli  # python3-brotli (tools/install-deps.sh); only this scenario needs it
    compressed_post(ctx, 8080, lambda d: brotli.compress(d, quality=11, lgwin=24), "br",
                    "/api/sync")
    compressed_post(ctx, 80, lambda d: brotli.compress(gz(d)), "gzip, br", "/api/upload")


@scenario
def sc_http_gzip_resp(ctx):
    """GET, gzip-compressed JSON response (server -> client) with a NIR and a card."""
    rng, host = ctx.rng, "crm.example.net"
    nir, card = gen_nir(rng, corsica=0), gen_card(rng)
    plain = customer_json(rng, {"nir": nir, "card": card}, ctx.filler.text_bytes(5000))
    body = gz(plain)
    url = "/api/customers/export"
    resp = http_resp(body, headers=[("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")])
    req = http_req("GET", url, host, headers=[("Accept-Encoding", "gzip, deflate")])
    flow = http_flow(ctx, 80, [(req, resp, ())])
    h = http_fields("GET", url, host, "application/json", status=200, length=len(body))
    ctx.expect(flow, False, "fr_ssn", nir, "http", "body", http=h)
    ctx.expect(flow, False, "credit_card", card, "http", "body", http=h)


@scenario
def sc_http_multipart_csv(ctx):
    """multipart/form-data CSV upload (port 3000): 4 NIRs, 3 SSNs, 2 cards, IBAN in a part header.

    The IBAN is in the file part's Content-Disposition filename (context header)."""
    rng, host = ctx.rng, "files.example.net"
    boundary = "----WebKitFormBoundaryQzXkPbRtVwYsJmNa"
    nirs = [gen_nir(rng, corsica=0) for _ in range(3)] + [nir_grouped(gen_nir(rng, corsica=0))]
    ssns = [gen_ssn(rng) for _ in range(3)]
    card = gen_card(rng)
    spaced = gen_card(rng)
    card2 = " ".join(spaced[i:i + 4] for i in range(0, 16, 4))
    cards = [card, card2]
    iban = gen_iban_fr(rng)
    rows = ["nom;prenom;nir;ssn;carte"]
    for i in range(4):
        rows.append(";".join((rng.choice(NAMES), rng.choice(FIRST), nirs[i],
                              ssns[i] if i < 3 else "", cards[i] if i < 2 else "")))
    csv = ("\r\n".join(rows) + "\r\n").encode()
    b = boundary.encode()
    body = (b"--" + b + b"\r\nContent-Disposition: form-data; name=\"commentaire\"\r\n\r\n"
            + b"Export clients, voir pieces jointes\r\n--" + b + b"\r\n"
            + b"Content-Disposition: form-data; name=\"fichier\"; filename=\"releve-"
            + iban.encode() + b".csv\"\r\nContent-Type: text/csv\r\n\r\n" + csv
            + b"\r\n--" + b + b"--\r\n")
    multipart_upload(ctx, host, boundary, body,
                     [("fr_ssn", v, "body") for v in nirs] + [("us_ssn", v, "body") for v in ssns]
                     + [("credit_card", v, "body") for v in cards] + [("iban", iban, "header")])


def multipart_upload(ctx, host, boundary, body, values):
    """A multipart/form-data POST of `body` to port 3000, expecting each (sensor, value,
    context) of `values` in its request."""
    ct = "multipart/form-data; boundary=" + boundary
    url = "/upload"
    flow = http_flow(ctx, 3000, [(http_req("POST", url, host, body, ct), http_resp(OK_JSON), ())])
    h = http_fields("POST", url, host, ct, length=len(body))
    for sensor, v, context in values:
        ctx.expect(flow, True, sensor, v, "http", context, http=h)


@scenario
def sc_http_multipart_cte(ctx):
    """multipart/form-data upload (port 3000) with parts sent in a Content-Transfer-Encoding: a
    base64 CSV (lines of 76) with 2 NIRs and an SSN, and a quoted-printable note whose NIR is cut
    by a soft line break ("=\\r\\n"). Nothing of the values is on the wire as such: only the
    decoded parts show them (body)."""
    import base64
    rng, host = ctx.rng, "files.example.net"
    boundary = "cte-" + "".join(rng.choice("abcdef0123456789") for _ in range(16))
    nirs = [gen_nir(rng, corsica=0) for _ in range(3)]
    ssn = gen_ssn(rng)
    csv = ("nom;nir;ssn\r\n" + "".join(f"{rng.choice(NAMES)};{n};{ssn if i == 0 else ''}\r\n"
                                        for i, n in enumerate(nirs[:2]))).encode()
    enc = base64.b64encode(csv)
    wrapped = b"\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))
    qp = ("Note de l'agent =C3=A0 propos du dossier, num=C3=A9ro de s=C3=A9curit=C3=A9 "
          f"sociale {nirs[2][:6]}=\r\n{nirs[2][6:]} =E2=80=94 fin").encode()
    b = boundary.encode()
    body = (b"--" + b + b"\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.csv\"\r\n"
            + b"Content-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + wrapped + b"\r\n--" + b + b"\r\nContent-Disposition: form-data; name=\"note\"\r\n"
            + b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp
            + b"\r\n--" + b + b"--\r\n")
    multipart_upload(ctx, host, boundary, body,
                     [("fr_ssn", v, "body") for v in nirs] + [("us_ssn", ssn, "body")])


@scenario
def sc_http_pipelined(ctx):
    """Two pipelined POSTs in one segment (port 8081), the NIR in the second; two responses."""
    rng, host = ctx.rng, "api.example.net"
    nir = gen_nir(rng, corsica=0)
    ct = "application/json"
    b1 = b'{"event":"login","user":"mdupont"}'
    b2 = customer_json(rng, {"nir": nir})
    req = http_req("POST", "/api/events", host, b1, ct) + \
        http_req("POST", "/api/customers", host, b2, ct)
    assert len(req) <= MSS
    resp = http_resp(OK_JSON) + http_resp(b'{"status":"stored"}', status="201 Created")
    flow = http_flow(ctx, 8081, [(req, resp, ())])
    ctx.expect(flow, True, "fr_ssn", nir, "http", "body",
               http=http_fields("POST", "/api/customers", host, ct, length=len(b2)))


@scenario
def sc_http_pipelined_resp(ctx):
    """Two pipelined GETs in one segment, the NIR in the FIRST response (names request 1).

    Responses are matched to requests in order: the event must carry the first URL."""
    rng, host = ctx.rng, "crm.example.net"
    nir = gen_nir(rng, corsica=0)
    req = http_req("GET", "/api/customers/first", host) + \
        http_req("GET", "/static/second.html", host)
    body = customer_json(rng, {"nir": nir})
    resp = http_resp(body) + http_resp(small_html(ctx, 300), ctype="text/html")
    flow = http_flow(ctx, 80, [(req, resp, ())])
    ctx.expect(flow, False, "fr_ssn", nir, "http", "body",
               http=http_fields("GET", "/api/customers/first", host, "application/json",
                                status=200, length=len(body)))


@scenario
def sc_http_keepalive3(ctx):
    """Keep-alive connection (port 80), three requests; only the third (a POST) has a NIR."""
    rng, host = ctx.rng, "crm.example.net"
    nir = gen_nir(rng, corsica=0)
    ct = "application/json"
    body = customer_json(rng, {"nir": nir}, ctx.filler.text_bytes(300))
    ex = [(http_req("GET", "/", host), http_resp(small_html(ctx), ctype="text/html"), ()),
          (http_req("GET", "/api/me", host), http_resp(b'{"user":"mdupont"}'), ()),
          (http_req("POST", "/api/customers", host, body, ct),
           http_resp(b'{"status":"stored"}', status="201 Created"), ())]
    flow = http_flow(ctx, 80, ex)
    ctx.expect(flow, True, "fr_ssn", nir, "http", "body",
               http=http_fields("POST", "/api/customers", host, ct, length=len(body)))


# Evasions: the value must be reported, by its sensor (any context) or by an "uninspectable"
# alert on its flow; the expected "context" is where a careful parser would find it.

def evasion_post(ctx, port, make_req, context="raw", sensor="fr_ssn"):
    """One flow whose request carries one value; make_req(value) returns the request bytes."""
    v = {"fr_ssn": lambda: gen_nir(ctx.rng, corsica=0), "us_ssn": lambda: gen_ssn(ctx.rng),
         "credit_card": lambda: gen_card(ctx.rng)}[sensor]()
    flow = http_flow(ctx, port, [(make_req(v), http_resp(OK_JSON), ())])
    ctx.expect(flow, True, sensor, v, "http", context, evasion=True)
    return flow


def post_head(host, url, ctype, headers):
    hs = [("Host", host), ("User-Agent", UA), ("Content-Type", ctype), *headers,
          ("Connection", "keep-alive")]
    return http_head("POST %s HTTP/1.1" % url, hs)


@scenario
def sc_http_cl_conflict(ctx):
    """Two different Content-Length headers (short first / short last / one list header)."""
    host, rng = "api.example.net", ctx.rng

    def make(order):
        def req(v):
            body = customer_json(rng, {"nir": v})
            short = str(len(body) // 4)
            full = str(len(body))
            if order == "list":
                hs = [("Content-Length", "%s, %s" % (short, full))]
            else:
                a, b = (short, full) if order == "short_first" else (full, short)
                hs = [("Content-Length", a), ("Content-Length", b)]
            return post_head(host, "/api/customers", "application/json", hs) + body
        return req
    evasion_post(ctx, 80, make("short_first"))
    evasion_post(ctx, 8081, make("short_last"))
    evasion_post(ctx, 3000, make("list"))


@scenario
def sc_http_cl_te(ctx):
    """Content-Length and Transfer-Encoding: chunked together (CL.TE / TE.CL smuggling)."""
    host, rng = "api.example.net", ctx.rng

    def cl_first(v):  # CL far too short, chunked body holding the value
        body = customer_json(rng, {"nir": v})
        data = chunked(body, [body.index(v.encode()) + 5])
        return post_head(host, "/api/customers", "application/json",
                         [("Content-Length", "4"), ("Transfer-Encoding", "chunked")]) + data

    def smuggle(v):  # chunked ends at once; CL covers a smuggled request carrying the value
        inner = ("nir=%s&x=y" % v).encode()
        hidden = http_head("POST /admin/import HTTP/1.1",
                           [("Host", host), ("Content-Type", FORM),
                            ("Content-Length", str(len(inner)))]) + inner
        data = b"0\r\n\r\n" + hidden
        return post_head(host, "/api/ping", "application/json",
                         [("Transfer-Encoding", "chunked"),
                          ("Content-Length", str(len(data)))]) + data

    def xchunked(v):  # an unknown transfer coding next to a CL
        body = customer_json(rng, {"nir": v})
        return post_head(host, "/api/customers", "application/json",
                         [("Content-Length", str(len(body))),
                          ("Transfer-Encoding", "xchunked")]) + body
    evasion_post(ctx, 80, cl_first, "body")
    evasion_post(ctx, 8081, smuggle, "body")
    evasion_post(ctx, 3000, xchunked, "raw")


@scenario
def sc_http_chunk_ext(ctx):
    """Long chunk extensions: 2 KB around a cut NIR, 12 KB (> max_line), an SSN inside one."""
    host, rng = "api.example.net", ctx.rng
    te = [("Transfer-Encoding", "chunked")]

    def long_ext(v):
        body = customer_json(rng, {"nir": v})
        pad = ";" + ";".join("e%s=%s" % ("abcdefgh"[i % 8], "z" * 40) for i in range(48))
        data = chunked(body, [body.index(v.encode()) + 7], lambda i: pad)
        return post_head(host, "/api/customers", "application/json", te) + data

    def huge_ext(v):
        body = customer_json(rng, {"nir": v})
        data = chunked(body, [body.index(v.encode()) - 3], lambda i: ";x=" + "q" * 12000)
        return post_head(host, "/api/customers", "application/json", te) + data

    def value_in_ext(v):
        body = customer_json(rng, {"note": "rien"})
        data = chunked(body, [40], lambda i: ";ref=%s" % v if i == 1 else "")
        return post_head(host, "/api/customers", "application/json", te) + data
    evasion_post(ctx, 80, long_ext, "body")
    evasion_post(ctx, 8081, huge_ext, "raw")
    evasion_post(ctx, 3000, value_in_ext, "header", sensor="us_ssn")


@scenario
def sc_http_folding(ctx):
    """Header folding: a NIR on a folded Cookie line (space), an SSN on a tab-folded header."""
    host = "portal.example.net"

    def cookie(v):
        return http_head("GET /account HTTP/1.1",
                         [("Host", host), ("User-Agent", UA),
                          ("Cookie", "session=QWxhZGRpbjpvcGVu;\r\n nir=%s; theme=dark" % v),
                          ("Accept", "*/*")])

    def tab(v):
        return http_head("GET /account HTTP/1.1",
                         [("Host", host), ("X-Client-Data", "profil=complet\r\n\tssn=%s" % v),
                          ("Accept", "*/*")])
    evasion_post(ctx, 80, cookie, "header")
    evasion_post(ctx, 3000, tab, "header", sensor="us_ssn")


@scenario
def sc_http_bad_chunk(ctx):
    """Invalid chunk sizes, then a NIR: non-hex, 17 hex digits, chunk longer than its size."""
    host, rng = "api.example.net", ctx.rng
    te = [("Transfer-Encoding", "chunked")]

    def head():
        return post_head(host, "/api/customers", "application/json", te)

    def non_hex(v):
        rest = customer_json(rng, {"nir": v})
        return head() + b"10\r\n" + b'{"pad":"abcdefg"' + b"\r\nzz\r\n" + rest + b"\r\n0\r\n\r\n"

    def overflow(v):
        rest = customer_json(rng, {"nir": v})
        return head() + b"1" + b"0" * 16 + b"\r\n" + rest + b"\r\n0\r\n\r\n"

    def overlong(v):
        body = customer_json(rng, {"nir": v})
        at = body.index(v.encode())
        return head() + b"%x\r\n" % (at - 2) + body + b"\r\n0\r\n\r\n"
    evasion_post(ctx, 80, non_hex)
    evasion_post(ctx, 8081, overflow)
    evasion_post(ctx, 3000, overlong)


@scenario
def sc_http_gzip_members(ctx):
    """gzip bodies of two members (RFC 1952 2.2), the value in the second member.

    Request (port 80, NIR) and response (port 8081, card). zlib's gunzip, Python, Go and Node
    decode every member, so the receiver sees the value."""
    rng, host = ctx.rng, "api.example.net"
    ct = "application/json"
    nir, card = gen_nir(rng, corsica=0), gen_card(rng)

    def two(field, v):
        return gz(b'{"notes":"' + ctx.filler.text_bytes(900) + b'",') + \
            gz(b'"%s":"%s"}' % (field, v.encode()))
    body = two(b"nir", nir)
    req = http_req("POST", "/api/upload", host, body, ct, headers=[("Content-Encoding", "gzip")])
    flow = http_flow(ctx, 80, [(req, http_resp(OK_JSON), ())])
    ctx.expect(flow, True, "fr_ssn", nir, "http", "body", evasion=True)
    body = two(b"card", card)
    resp = http_resp(body, headers=[("Content-Encoding", "gzip")])
    flow = http_flow(ctx, 8081, [(http_req("GET", "/api/report", host), resp, ())])
    ctx.expect(flow, False, "credit_card", card, "http", "body", evasion=True)


BOMB_MB = 24


@scenario
def sc_http_gzip_bomb(ctx):
    """gzip bombs (24 MiB, ~1000:1), request and response: NIR first (found), SSN after the cap.

    The SSN lies beyond the ratio cap: it is covered by the "uninspectable" alert."""
    rng, host = ctx.rng, "api.example.net"
    pad = b" " * (BOMB_MB << 20)

    def bomb(nir, ssn):
        return gz(b'{"nir":"%s","data":"' % nir.encode() + pad + b'","ssn":"%s"}' % ssn.encode())
    ct = "application/json"
    nir, ssn = gen_nir(rng, corsica=0), gen_ssn(rng)
    body = bomb(nir, ssn)
    url = "/api/upload"
    req = http_req("POST", url, host, body, ct, headers=[("Content-Encoding", "gzip")])
    flow = http_flow(ctx, 80, [(req, http_resp(OK_JSON), ())])
    ctx.expect(flow, True, "fr_ssn", nir, "http", "body",
               http=http_fields("POST", url, host, ct, length=len(body)))
    ctx.expect(flow, True, "us_ssn", ssn, "http", "body", evasion=True)
    nir, ssn = gen_nir(rng, corsica=0), gen_ssn(rng)
    body = bomb(nir, ssn)
    url = "/api/report"
    resp = http_resp(body, headers=[("Content-Encoding", "gzip")])
    flow = http_flow(ctx, 8081, [(http_req("GET", url, host), resp, ())])
    ctx.expect(flow, False, "fr_ssn", nir, "http", "body",
               http=http_fields("GET", url, host, ct, status=200, length=len(body)))
    ctx.expect(flow, False, "us_ssn", ssn, "http", "body", evasion=True)


# --------------------------------------------------------------------------------------------
# Mixed (benchmark) and small
# --------------------------------------------------------------------------------------------

HTTP_PORTS = (80, 80, 80, 8080, 8081)
RAW_PORTS = (4444, 5001, 7070, 12000, 31337)
SENSORS = ("fr_ssn", "fr_ssn", "fr_ssn", "us_ssn", "credit_card", "iban")


def mixed_value(ctx, sensor):
    rng = ctx.rng
    if sensor == "fr_ssn":
        v = gen_nir(rng)
        return nir_grouped(v) if rng.random() < 0.2 else v
    if sensor == "credit_card":
        return rng.choice((gen_card, gen_card, gen_card_mastercard2, gen_card_amex))(rng)
    return VALUE_GENERATORS[sensor](rng)


class MixedFlowPlan:
    """Picks values for a flow and records them as expected when they are written."""

    def __init__(self, ctx, flow, app):
        self.ctx, self.flow, self.app = ctx, flow, app
        rng = ctx.rng
        self.carrier = rng.random() < 0.3

    def maybe_values(self, to_server):
        """0-3 (sensor, value) pairs for one message, recorded as expected."""
        rng = self.ctx.rng
        if not self.carrier or rng.random() < 0.5:
            return []
        out = []
        for _ in range(rng.randint(1, 3)):
            sensor = rng.choice(SENSORS)
            v = mixed_value(self.ctx, sensor)
            self.ctx.expect(self.flow, to_server, sensor, v,
                            "http" if self.app == "http" else "failed",
                            "body" if self.app == "http" else "raw")
            out.append((sensor, v))
        return out


def json_body_with(ctx, size, values):
    """A JSON document of about `size` bytes, values as fields in the middle."""
    fill = ctx.filler
    half = max(size // 2 - 40, 0)
    rid = "R-" + "".join(ctx.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(10))
    fields = {"id": rid, "a": fill.text_bytes(half).decode()}
    for i, (sensor, v) in enumerate(values):
        fields["%s_%d" % ({"fr_ssn": "nir", "us_ssn": "ssn", "credit_card": "card",
                           "iban": "iban"}[sensor], i)] = v
    fields["b"] = fill.text_bytes(half).decode()
    return json.dumps(fields).encode()


def raw_chunk_with(ctx, size, values, binary):
    fill = ctx.filler
    body = fill.binary(size) if binary else fill.text_bytes(size)
    if not values:
        return body
    ins = b"".join(b"\n%s=%s\n" % (s.encode(), v.encode()) for s, v in values)
    at = ctx.rng.randrange(len(body) + 1)
    return body[:at] + ins + body[at:]


def message_sizes(rng, budget):
    """Message payload sizes summing to about `budget`: mostly small, some large."""
    while budget > 0:
        r = rng.random()
        size = (rng.randint(200, 4000) if r < 0.6 else rng.randint(4000, 64000) if r < 0.9
                else rng.randint(64000, 1 << 20))
        size = min(size, budget) if budget > 200 else budget
        budget -= size
        yield size


def mixed_flow(ctx, budget):
    """A generator of the frames of one random flow carrying about `budget` payload bytes."""
    rng = ctx.rng
    v6 = rng.random() < 0.25
    vlans = VLAN if rng.random() < 0.1 else ()
    http = rng.random() < 0.6
    flow = ctx.new_flow(rng.choice(HTTP_PORTS if http else RAW_PORTS), v6=v6, vlans=vlans)
    plan = MixedFlowPlan(ctx, flow, "http" if http else "raw")
    noisy = {"reorder": 0.01, "retransmit_prob": 0.005} if rng.random() < 0.3 else {}
    yield from flow.handshake()
    binary = rng.random() < 0.3
    for size in message_sizes(rng, budget):
        if http:
            upload = rng.random() < 0.4
            vals = plan.maybe_values(to_server=upload)
            if upload:
                req = http_request("POST", "/api/v2/records", "app.example.net",
                                   json_body_with(ctx, size, vals))
                resp = http_response(b'{"ok":true}')
            else:
                req = http_request("GET", "/api/v2/records?page=%d" % rng.randint(1, 99),
                                   "app.example.net")
                body = (json_body_with(ctx, size, vals) if vals or rng.random() < 0.5
                        else ctx.filler.binary(size))
                resp = http_response(body, ctype="application/json" if body[:1] == b"{"
                                     else "application/octet-stream")
            yield from flow.send(req, True, **noisy)
            yield from flow.send(resp, False, **noisy)
        else:
            to_server = rng.random() < 0.8
            vals = plan.maybe_values(to_server)
            yield from flow.send(raw_chunk_with(ctx, size, vals, binary), to_server, **noisy)
    yield from flow.close(client_first=rng.random() < 0.7)


def dns_exchange(ctx, i):
    """A DNS query and its answer (UDP noise, no event)."""
    rng = ctx.rng
    v6 = rng.random() < 0.25
    client = ctx.client_host(v6)
    server = Host("2001:db8:53::53", mac_bytes(0x53, 0xFF)) if v6 else \
        Host("198.19.53.53", mac_bytes(0x53, 0xFF))
    qid, sport = rng.getrandbits(16), rng.randint(32768, 60999)
    name = b"".join(bytes((len(l),)) + l for l in (b"app%d" % i, b"example", b"net")) + b"\0"
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1)
    if v6:
        rdata = struct.pack("!HHIH", 28, 1, 300, 16) + ipaddress.ip_address(
            "2001:db8:5::10").packed
        q = q[:-4] + struct.pack("!HH", 28, 1)
    else:
        rdata = struct.pack("!HHIH", 1, 1, 300, 4) + bytes((198, 19, 0, 10))
    a = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + q[12:] + b"\xc0\x0c" + rdata
    return [udp_frame(client, server, sport, 53, q, ip_id=rng.getrandbits(16)),
            udp_frame(server, client, 53, sport, a, ip_id=rng.getrandbits(16))]


def interleave(ctx, nflows, start):
    """Writes nflows flows, at most 64 at a time, as a busy link shows them: each turn, 1-6
    frames of a random active flow. start(i) returns flow i's frame generator (and may write
    frames of its own first)."""
    rng = ctx.rng
    pending = iter(range(nflows))
    active = []
    concurrency = min(64, nflows)
    while True:
        while len(active) < concurrency:
            i = next(pending, None)
            if i is None:
                break
            active.append(start(i))
        if not active:
            break
        k = rng.randrange(len(active))
        for _ in range(rng.randint(1, 6)):
            fr = next(active[k], None)
            if fr is None:
                active[k] = active[-1]
                active.pop()
                break
            ctx.pcap.write(fr, rng.randint(1, 6))


def flow_budgets(rng, n, total):
    weights = [min(rng.paretovariate(1.1), 200.0) for _ in range(n)]
    s = sum(weights)
    return [max(200, int(total * w / s)) for w in weights]


@scenario
def sc_mixed(ctx):
    """--flows interleaved HTTP/raw, v4/v6, some VLAN flows, --size MB; for benchmarks."""
    rng, args = ctx.rng, ctx.args
    nflows = args.flows or 200
    budgets = flow_budgets(rng, nflows, int(args.size * (1 << 20)))

    def start(i):
        if i % 20 == 19:
            ctx.pcap.write_all(dns_exchange(ctx, i), 30)
        return mixed_flow(ctx, budgets[i])

    interleave(ctx, nflows, start)


@scenario
def sc_small(ctx):
    """--packets 60-byte ACK frames (64 on the wire) spread over --flows flows; no event."""
    rng, args = ctx.rng, ctx.args
    nflows = args.flows or 1024
    flows = [ctx.new_flow(rng.choice((80, 443, 4444, 8080)), v6=False) for _ in range(nflows)]
    pcap = ctx.pcap
    # Every flow opens with a handshake, so the ACKs hit established flows in the flow table
    # (the per-packet cost measured is a lookup hit, not a miss).
    for f in flows:
        for fr in f.handshake():
            pcap.write(fr, 1)
    for p in range(args.packets):
        f = flows[p % nflows]
        from_client = (p // nflows) & 1 == 0
        src, dst = (f.c, f.s) if from_client else (f.s, f.c)
        dst.nxt = (dst.nxt + 1448) & 0xFFFFFFFF  # the peer "sent" a segment we acknowledge
        pcap.write(f.pure_ack(from_client), 1)


BENCH_HTTP_PORTS = (80, 80, 80, 8080, 8081, 3000)


def html_body(ctx, size):
    """An HTML page of about `size` bytes: filler paragraphs in a small layout."""
    head = (b"<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Espace "
            b"client</title><link rel=\"stylesheet\" href=\"/static/site.css\"></head><body>"
            b"<nav><a href=\"/\">Accueil</a> <a href=\"/compte\">Compte</a></nav><main>")
    tail = b"</main><footer>Service client</footer></body></html>"
    text = ctx.filler.text_bytes(max(size - len(head) - len(tail), 64))
    paras = b"</p>\n<p>".join(text[i:i + 480] for i in range(0, len(text), 480))
    return head + b"<p>" + paras + b"</p>" + tail


def bench_http_flow(ctx, budget):
    """Frames of one keep-alive HTTP connection carrying about `budget` bytes of TCP payload:
    GETs answered with JSON or HTML (30% gzip, half of those chunked) and JSON POSTs."""
    rng = ctx.rng
    v6 = rng.random() < 0.2
    flow = ctx.new_flow(rng.choice(BENCH_HTTP_PORTS), v6=v6)
    plan = MixedFlowPlan(ctx, flow, "http")
    host = rng.choice(("app.example.net", "shop.example.net", "crm.example.net"))
    yield from flow.handshake()
    while budget > 0:
        size = next(message_sizes(rng, min(budget, 1 << 20)))
        if rng.random() < 0.3:
            body = json_body_with(ctx, size, plan.maybe_values(to_server=True))
            req = http_req("POST", "/api/v/records", host, body, "application/json")
            resp = http_resp(b'{"ok":true}')
        else:
            vals = plan.maybe_values(to_server=False)
            req = http_req("GET", rng.choice(("/", "/compte", "/api/v/records?page=a",
                                              "/catalogue/chaussures")), host,
                           headers=[("Accept-Encoding", "gzip, deflate")])
            if vals or rng.random() < 0.5:
                body, ct = json_body_with(ctx, size, vals), "application/json"
            else:
                body, ct = html_body(ctx, size), "text/html; charset=utf-8"
            if rng.random() < 0.3:
                z = gz(body)
                if rng.random() < 0.5:
                    resp = http_resp(chunked(z, range(8192, len(z), 8192)), ctype=ct,
                                     headers=[("Content-Encoding", "gzip"),
                                              ("Transfer-Encoding", "chunked")], length=False)
                else:
                    resp = http_resp(z, ctype=ct, headers=[("Content-Encoding", "gzip")])
            else:
                resp = http_resp(body, ctype=ct)
        budget -= len(req) + len(resp)
        yield from flow.send(req, True)
        yield from flow.send(resp, False)
    yield from flow.close(client_first=rng.random() < 0.7)


@scenario
def sc_bench_http(ctx):
    """--flows keep-alive HTTP connections (200), --size MiB: JSON/HTML, ~30% gzip responses."""
    rng, args = ctx.rng, ctx.args
    nflows = args.flows or 200
    budgets = flow_budgets(rng, nflows, int(args.size * (1 << 20)))
    interleave(ctx, nflows, lambda i: bench_http_flow(ctx, budgets[i]))


@scenario
def sc_bench_mail(ctx):
    """--size MiB of mail: SMTP sessions, each a message with a 1 MiB text attachment in base64
    (the benchmark of the DATA framing and base64 decoding; no values planted)."""
    nmsg = max(1, int(ctx.args.size))
    for i in range(nmsg):
        text = ctx.filler.text_bytes(1 << 20)
        msg = (b"From: ops@example.net\r\nSubject: export %d\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=\"=_b\"\r\n\r\n--=_b\r\n"
               b"Content-Type: text/plain\r\n\r\nSee attached.\r\n--=_b\r\n"
               b"Content-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n\r\n" % i +
               b64_lines(text) + b"--=_b--\r\n")
        smtp_flow(ctx, 25, [b"EHLO srv.example.net\r\n", b"MAIL FROM:<ops@example.net>\r\n",
                            b"RCPT TO:<drop@example.org>\r\n"], msg)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def run_scenario(name, args, pcap_path, expect_path):
    t0 = time.monotonic()
    ctx = Context(args, pcap_path)
    SCENARIOS[name](ctx)
    n_events = ctx.finish(expect_path)
    dt = time.monotonic() - t0
    size = os.path.getsize(pcap_path)
    print("%-20s %8d frames %11d bytes %4d expected events %7.2f s  %s"
          % (name, ctx.pcap.frames, size, n_events, dt, pcap_path), file=sys.stderr)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="sluice_gen.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(para for para in __doc__.split("\n\n")
                            if para.startswith(("Scenarios", "Expected", "Values", "Addresses"))))
    p.add_argument("scenario", nargs="?", help="scenario name, or 'all'")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--out", help="pcap file (a directory with 'all')")
    p.add_argument("--expect", help="expected events JSON (default: --out with .json)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--flows", type=int,
                   help="mixed, bench_http: flows (200); small: flows (1024)")
    p.add_argument("--size", type=float, default=20,
                   help="mixed, bench_http: total payload in MiB (20)")
    p.add_argument("--packets", type=int, default=100000, help="small: frames (100000)")
    p.add_argument("--deep-mb", type=float, default=5, help="deep: NIR offset in MiB (5)")
    p.add_argument("--seg-size", type=int, default=MSS,
                   help="http_* scenarios: TCP payload bytes per segment (1460)")
    p.add_argument("--nir-style", choices=("contiguous", "spaces"), default="contiguous",
                   help="NIR format in the single-flow scenarios (contiguous)")
    args = p.parse_args(argv)
    if args.list:
        for name, fn in SCENARIOS.items():
            print("%-20s %s" % (name, fn.__doc__.strip().split("\n")[0]))
        print("%-20s %s" % ("all", "every scenario into the directory --out (sluice_pcaps)"))
        sys.exit(0)
    if not args.scenario:
        p.error("a SCENARIO (or --list) is required")
    if args.scenario != "all" and args.scenario not in SCENARIOS:
        p.error("unknown scenario %r (see --list)" % args.scenario)
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.scenario == "all":
        out = args.out or "sluice_pcaps"
        os.makedirs(out, exist_ok=True)
        for name in SCENARIOS:
            base = os.path.join(out, name)
            run_scenario(name, args, base + ".pcap", base + ".json")
        return 0
    pcap_path = args.out or args.scenario + ".pcap"
    expect_path = args.expect or os.path.splitext(pcap_path)[0] + ".json"
    run_scenario(args.scenario, args, pcap_path, expect_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
