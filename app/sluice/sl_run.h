/* sl_run: the running appliance: ports, lcores and the loops that move packets.
 *
 * The main lcore receives from single-queue ports and hands each frame to the worker that owns
 * its flow (symmetric hash of the canonical 5-tuple, carried in mbuf hash.rss), through one ring
 * per worker. Ports with enough queues and RSS are instead polled by the workers directly, with a
 * symmetric Toeplitz key so both directions of a flow hash alike. */
#ifndef SL_RUN_H
#define SL_RUN_H

#include <stdint.h>

#include "sl_conf.h"
#include "sl_event.h"
#include "sl_frag.h"
#include "sl_ruleset.h"

struct sl_run_opts {
	const char *pcap_path; /* capture-file mode: read it once, drain, stop */
	uint64_t pcap_packets; /* frames in the file (for progress and end detection) */
	int progress;	       /* print progress to stderr */
};

struct sl_run_summary {
	uint64_t pkts, bytes, flows, events, events_lost;
	uint64_t forwarded, dropped, tx_dropped;
	uint64_t rst_sent;    /* resets transmitted (inline, or through injection ports) */
	uint64_t reset_flows; /* flows seen on mirror ports whose ends were reset */
	uint64_t ring_drops;  /* frames lost because a worker could not keep up (live input) */
	uint64_t tcp_gaps;    /* holes reassembly skipped (caps, or data never seen) */
	uint64_t tcp_caps;    /* times a reassembly cap (per flow, per worker, segments) was hit */
	struct sl_frag_stats frag; /* IP fragment reassembly, all workers */
	struct sl_run_port_stats {
		char name[32];
		uint64_t rx, tx, missed, rx_errors, tx_errors;
	} port[SL_CONF_MAX_PORTS];
	unsigned n_ports;
	double seconds;
	uint64_t pkt_errors;
};

/* Sets up ports and workers from conf, runs until the capture ends or SIGINT/SIGTERM, drains
 * every flow, and fills *sum. Returns 0, or a negative errno with a message in err. */
int sl_run(const struct sl_conf *conf, struct sl_ruleset **rs_slot, struct sl_event_out *events,
	   const struct sl_run_opts *opts, struct sl_run_summary *sum, char *err, size_t errlen);

/* Publishes a new ruleset to the workers of the running sl_run and returns the previous one once
 * no worker can use it any more (two RCU grace periods: the first guarantees every worker has
 * seen the new pointer, the second that it has finished moving its streams off the old one).
 * Control thread only; blocks for about two worker loop iterations. Returns NULL (the old
 * ruleset is then never freed) if a worker does not take the new one within 30 s. */
struct sl_ruleset *sl_run_swap_ruleset(struct sl_ruleset **slot, struct sl_ruleset *next);

/* The running ports: DPDK port id and configuration of each. Returns their number (0 when not
 * running). */
unsigned sl_run_ports(const uint16_t **ids, const struct sl_conf_port *const **confs);

/* Frames the distributor could not hand to worker `worker` (its ring was full). */
uint64_t sl_run_ring_drops(unsigned worker);

/* Counter snapshots of the running workers, for the control plane. Returns the number of
 * workers (0 when not running); the pointers stay valid while sl_run runs. */
struct sl_worker;
unsigned sl_run_workers(struct sl_worker *const **workers);

/* Asks a running sl_run to stop (signal-safe). */
void sl_run_stop(void);

/* Symmetric RSS key (0x6d5a repeated): Toeplitz hashes of (a,b) and (b,a) are equal. */
extern const uint8_t sl_rss_sym_key[40];

#endif /* SL_RUN_H */
