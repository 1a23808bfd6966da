/* sl_port: see sl_port.h. */
#include "sl_port.h"

#include <dirent.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* PACKET_STATISTICS resets the socket's counters when read, so the totals are kept here, one
 * per interface index, for every reader (the summary and the control socket). */
static struct {
	unsigned ifindex;
	uint64_t drops;
} totals[SL_CONF_MAX_PORTS];
static pthread_mutex_t totals_lock = PTHREAD_MUTEX_INITIALIZER;

/* The interface named by the `iface=` argument of an af_packet device string (driver name
 * net_af_packet or its alias eth_af_packet, then an optional instance suffix), or "". */
static void
afpacket_iface(const char *dev, char *name, size_t len)
{
	int afp = strncmp(dev, "net_af_packet", 13) == 0 || strncmp(dev, "eth_af_packet", 13) == 0;
	const char *p = afp ? strstr(dev, "iface=") : NULL;

	name[0] = '\0';
	if (p)
		snprintf(name, len, "%.*s", (int)strcspn(p + 6, ","), p + 6);
}

/* Frames dropped since the last call on every AF_PACKET socket of this process bound to
 * ifindex: the driver's sockets, found among the open descriptors. */
static uint64_t
socket_drops(unsigned ifindex)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t drops = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name), domain;
		struct sockaddr_ll sll;
		struct tpacket_stats st;
		socklen_t len = sizeof(domain);

		if (e->d_name[0] == '.' || fd == dirfd(d) ||
		    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) || domain != AF_PACKET)
			continue;
		len = sizeof(sll);
		if (getsockname(fd, (struct sockaddr *)&sll, &len) ||
		    (unsigned)sll.sll_ifindex != ifindex)
			continue;
		len = sizeof(st);
		if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
			drops += st.tp_drops;
	}
	closedir(d);
	return drops;
}

static uint64_t
afpacket_drops(const char *iface)
{
	unsigned ifindex = if_nametoindex(iface), i;
	uint64_t total = 0;

	if (ifindex == 0)
		return 0;
	pthread_mutex_lock(&totals_lock);
	for (i = 0; i < SL_CONF_MAX_PORTS && totals[i].ifindex && totals[i].ifindex != ifindex; i++)
		;
	if (i < SL_CONF_MAX_PORTS) {
		totals[i].ifindex = ifindex;
		totals[i].drops += socket_drops(ifindex);
		total = totals[i].drops;
	}
	pthread_mutex_unlock(&totals_lock);
	return total;
}

int
sl_port_stats(uint16_t id, const struct sl_conf_port *pc, struct rte_eth_stats *es)
{
	char iface[IF_NAMESIZE + 1];
	int rc;

	memset(es, 0, sizeof(*es));
	rc = rte_eth_stats_get(id, es);
	afpacket_iface(pc->dev, iface, sizeof(iface));
	if (iface[0])
		es->imissed += afpacket_drops(iface);
	return rc;
}
