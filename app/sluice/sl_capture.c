/* sl_capture: capture files, read with libpcap (see sl_capture.h). */
#include "sl_capture.h"

#include <errno.h>
#include <stdio.h>

#include <pcap/pcap.h>

int
sl_capture_count(const char *path, uint64_t *n, int *truncated, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p = pcap_open_offline(path, perr);
	int rc;

	if (p == NULL) {
		snprintf(err, errlen, "cannot read capture '%s': %s", path, perr);
		return -EINVAL;
	}
	*n = 0;
	while ((rc = pcap_next_ex(p, &h, &d)) == 1)
		(*n)++;
	*truncated = rc == PCAP_ERROR;
	pcap_close(p);
	return 0;
}
