/* sl_port: a port's counters, including what its driver does not count.
 *
 * DPDK 22.11's af_packet driver reports no drops, yet the kernel drops every frame that arrives
 * while the socket's receive ring is full (a worker descheduled under load is enough). Those
 * frames then reach reassembly as holes, so sluice reads them itself and reports them as missed. */
#ifndef SL_PORT_H
#define SL_PORT_H

#include <stdint.h>

#include <rte_ethdev.h>

#include "sl_conf.h"

/* rte_eth_stats_get for the port, with frames the kernel dropped on an af_packet port's rings
 * added to imissed. Any thread; returns rte_eth_stats_get's result. */
int sl_port_stats(uint16_t id, const struct sl_conf_port *pc, struct rte_eth_stats *es);

#endif /* SL_PORT_H */
