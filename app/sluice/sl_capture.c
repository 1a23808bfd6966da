/* sl_capture: capture files, read with libpcap (see sl_capture.h).
 *
 * DPDK's pcap PMD hands every record over as an Ethernet frame, whatever the file's link type.
 * Captures of other link types that carry IP are common (`tcpdump -i any` writes Linux cooked
 * headers, tunnels and VPNs give raw IP, loopback gives BSD null headers), so they are rewritten
 * with an Ethernet header into a temporary file that the PMD reads instead; the IP packets and
 * timestamps are those of the original. Other link types are refused, never read as garbage. */
#include "sl_capture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#define ETHER_IPV4 0x0800
#define ETHER_IPV6 0x86dd

/* The EtherType of the IP version in the first nibble, or 0. */
static uint16_t
ip_type(const u_char *p, uint32_t len)
{
	if (len == 0)
		return 0;
	return (p[0] >> 4) == 4 ? ETHER_IPV4 : (p[0] >> 4) == 6 ? ETHER_IPV6 : 0;
}

/* Where the network-layer packet of a record of link type dlt starts, and its EtherType (0 when
 * the record carries no IP). */
static uint32_t
network_start(int dlt, const u_char *p, uint32_t len, uint16_t *type)
{
	uint32_t hdr = 0;

	*type = 0;
	switch (dlt) {
	case DLT_LINUX_SLL: /* 16 bytes, the protocol last */
		hdr = 16;
		if (len >= hdr)
			*type = (uint16_t)(p[14] << 8 | p[15]);
		break;
	case DLT_LINUX_SLL2: /* 20 bytes, the protocol first */
		hdr = 20;
		if (len >= hdr)
			*type = (uint16_t)(p[0] << 8 | p[1]);
		break;
	case DLT_NULL: /* 4-byte address family, in the writer's byte order */
	case DLT_LOOP:
		hdr = 4;
		break;
	default: /* raw IP */
		break;
	}
	if (len < hdr)
		return len;
	if (*type == 0)
		*type = ip_type(p + hdr, len - hdr);
	return hdr;
}

static int
supported(int dlt)
{
	return dlt == DLT_LINUX_SLL || dlt == DLT_LINUX_SLL2 || dlt == DLT_RAW || dlt == DLT_IPV4 ||
	       dlt == DLT_IPV6 || dlt == DLT_NULL || dlt == DLT_LOOP;
}

/* Writes the records of p, which has link type dlt, to a new temporary pcap file with Ethernet
 * headers; its path into out. */
static int
rewrite(pcap_t *p, int dlt, char *out, size_t outlen, uint64_t *n, int *truncated, char *err,
	size_t errlen)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535 + 14);
	struct pcap_pkthdr *h;
	pcap_dumper_t *dump;
	static u_char frame[65535 + 14];
	const u_char *d;
	FILE *fp;
	int fd, rc;

	snprintf(out, outlen, "%s/sluice-capture-XXXXXX", dir);
	fd = mkstemp(out);
	fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
	dump = fp ? pcap_dump_fopen(dead, fp) : NULL;
	if (dump == NULL) {
		snprintf(err, errlen, "cannot write a temporary capture in %s: %s", dir,
			 strerror(errno));
		if (fp)
			fclose(fp);
		else if (fd >= 0)
			close(fd);
		if (fd >= 0)
			unlink(out);
		pcap_close(dead);
		return -EIO;
	}
	*n = 0;
	while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
		uint16_t type;
		uint32_t start = network_start(dlt, d, h->caplen, &type);
		uint32_t len = h->caplen - start;
		struct pcap_pkthdr eh = *h;

		memset(frame, 0, 12);
		frame[12] = (u_char)(type >> 8);
		frame[13] = (u_char)type;
		memcpy(frame + 14, d + start, len);
		eh.caplen = len + 14;
		eh.len = h->len - start + 14;
		pcap_dump((u_char *)dump, &eh, frame);
		(*n)++;
	}
	*truncated = rc == PCAP_ERROR;
	rc = pcap_dump_flush(dump);
	pcap_dump_close(dump);
	pcap_close(dead);
	if (rc) {
		snprintf(err, errlen, "cannot write the temporary capture '%s'", out);
		unlink(out);
		return -EIO;
	}
	return 0;
}

int
sl_capture_prepare(const char *path, char *out, size_t outlen, uint64_t *n, int *truncated,
		   char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p = pcap_open_offline(path, perr);
	int dlt, rc = 0;

	if (p == NULL) {
		snprintf(err, errlen, "cannot read capture '%s': %s", path, perr);
		return -EINVAL;
	}
	dlt = pcap_datalink(p);
	if (dlt == DLT_EN10MB) {
		snprintf(out, outlen, "%s", path);
		*n = 0;
		while ((rc = pcap_next_ex(p, &h, &d)) == 1)
			(*n)++;
		*truncated = rc == PCAP_ERROR;
		rc = 0;
	} else if (supported(dlt)) {
		rc = rewrite(p, dlt, out, outlen, n, truncated, err, errlen);
	} else {
		snprintf(
		    err, errlen,
		    "cannot read capture '%s': link type %s (%s) is not supported; sluice "
		    "reads Ethernet, Linux cooked (tcpdump -i any), raw IP and loopback captures",
		    path, pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?",
		    pcap_datalink_val_to_description(dlt) ? pcap_datalink_val_to_description(dlt)
							  : "unknown");
		rc = -EINVAL;
	}
	pcap_close(p);
	return rc;
}
