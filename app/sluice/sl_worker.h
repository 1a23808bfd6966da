/* sl_worker: one worker lcore's inspection pipeline, the only place where stages are chained.
 *
 *   parse (sl_pkt) -> flow lookup (sl_flow) -> TCP reassembly (sl_tcp) -> scan (sl_scan)
 *   -> events (sl_event)
 *
 * A worker owns everything it touches on the data path (flow table, segment pool, Hyperscan
 * scratch and stream pool, counters): no locks, no allocation, no syscalls after creation.
 * sl_worker_process takes a burst of frames and writes one verdict per frame; what happens to the
 * frames afterwards (free, transmit) is the caller's business, so the same code serves the
 * daemon's lcores, the capture-file mode and the in-memory benchmark. */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "sl_conf.h"
#include "sl_event.h"
#include "sl_flow.h"
#include "sl_frag.h"
#include "sl_pkt.h"
#include "sl_http.h"
#include "sl_ruleset.h"
#include "sl_scan.h"
#include "sl_tcp.h"

enum sl_verdict {
	SL_VERDICT_FORWARD = 0,
	SL_VERDICT_DROP,
};

/* Worker counters not owned by a stage library: X(field, "json_name") */
#define SL_WORKER_COUNTERS(X)                                                                      \
	X(pkts, "packets")                                                                         \
	X(bytes, "bytes")                                                                          \
	X(tcp_pkts, "tcp_packets")                                                                 \
	X(udp_pkts, "udp_packets")                                                                 \
	X(icmp_pkts, "icmp_echo_packets")                                                          \
	X(payload_bytes, "payload_bytes")                                                          \
	X(multiseg, "multiseg_uninspected")                                                        \
	X(no_flow, "packets_without_flow")                                                         \
	X(depth_reached, "inspect_depth_reached")                                                  \
	X(uninspectable_content, "uninspectable_content")                                          \
	X(http_pool_empty, "http_state_pool_empty")                                                \
	X(http_messages, "http_messages")                                                          \
	X(smtp_messages, "smtp_messages")                                                          \
	X(hits_overflow, "hit_slots_exhausted")                                                    \
	X(ruleset_switches, "ruleset_switches")                                                    \
	X(events, "events")                                                                        \
	X(events_lost, "events_lost")                                                              \
	X(blocked_flows, "blocked_flows")                                                          \
	X(drop_blocked, "dropped_blocked_flow")                                                    \
	X(drop_fail_closed, "dropped_fail_closed")                                                 \
	X(uninspected, "uninspected_packets")                                                      \
	X(rst_sent, "rst_sent")                                                                    \
	X(reset_flows, "reset_flows")                                                              \
	X(rst_alloc_failed, "rst_alloc_failed")                                                    \
	X(defrag_no_buffer, "ip_datagrams_without_buffer")

struct sl_worker_stats {
#define SL_X(f, s) uint64_t f;
	SL_WORKER_COUNTERS(SL_X)
#undef SL_X
	uint64_t pkt_errors[SL_PKT_ERR_COUNT];
	struct sl_frag_stats frag; /* IP fragment reassembly (zero when defrag is off) */
};

struct sl_worker;

/* What a deny in protect mode can do to a flow, by the port its frames arrive on. */
enum sl_enforce {
	SL_ENFORCE_NONE = 0, /* mirror: nothing; the event says would_block */
	SL_ENFORCE_DROP,     /* inline: drop, block the flow, reset both ends (peer and back) */
	SL_ENFORCE_RESET,    /* mirror with an injection port: reset both ends through it */
};

struct sl_worker_params {
	uint16_t id;
	int socket_id;
	const struct sl_conf *conf;
	struct sl_ruleset *const *rs_slot; /* the ruleset in force, swapped by the control thread */
	struct sl_event_out *events;	   /* NULL: events are counted, not written */
	struct rte_mempool *tx_pool;	   /* buffers for TCP resets; NULL: never reset */
	/* By port id: enum sl_enforce (NULL: all NONE), and where that port's frames leave (an
	 * inline port's peer) or its resets are injected (a mirror port's injection port). */
	const uint8_t *port_enforce;
	const uint16_t *port_out;
	/* By port id: its MAC address, the source of frames injected through it (the endpoints'
	 * own addresses would move them, in the switch's table, to the injection port). */
	const struct rte_ether_addr *port_mac;
	/* Packet clock, for capture files: frames whose ol_flags carry ts_flag are timed by the
	 * microseconds in their mbuf dynamic field at offset ts_field (net_pcap's rx timestamp),
	 * so events, flow times and idle expiry follow the capture, not the wall clock. 0: the
	 * now_ns the caller passes times everything. */
	uint64_t ts_flag;
	int ts_field;
};

struct sl_worker *sl_worker_create(const struct sl_worker_params *p, char *err, size_t errlen);

/* Bytes one worker for conf takes from its socket's heap, an upper bound (see sl_mem.h). */
size_t sl_worker_mem_size(const struct sl_conf *conf);

/* Ends every flow (flushing reassembly and streams, so late matches are reported) and frees. */
void sl_worker_free(struct sl_worker *w);

/* Inspects n frames; verdict[i] says whether frame i may be forwarded. now_ns is wall clock,
 * unless the packet clock (ts_flag) times the frames. */
void sl_worker_process(struct sl_worker *w, struct rte_mbuf **pkts, uint16_t n, uint8_t *verdict,
		       uint64_t now_ns);

/* Switches to the ruleset now in *rs_slot if it changed: every open scan stream moves to the new
 * database at its current offset, and flow hits follow their sensor by name (hits of deleted
 * sensors are dropped). Called between bursts; returns 1 if it switched. */
int sl_worker_sync_ruleset(struct sl_worker *w);

/* Frames the worker made during the last sl_worker_process (TCP resets), each with the port it
 * must leave through. The caller transmits or frees them, then calls sl_worker_inject_reset. */
uint16_t sl_worker_injected(struct sl_worker *w, struct rte_mbuf ***pkts, const uint16_t **ports);
void sl_worker_inject_reset(struct sl_worker *w);

/* Housekeeping between bursts: expires idle flows (bounded work). With the packet clock the
 * time is the last timed frame's and now_ns is not used. */
void sl_worker_tick(struct sl_worker *w, uint64_t now_ns);

/* Ends every flow now (end of a capture file, shutdown). */
void sl_worker_drain(struct sl_worker *w);

/* One flow as the management plane lists it. */
struct sl_flow_brief {
	uint64_t flow_id;
	struct sl_flow_key key;
	uint8_t client;
	uint8_t app; /* enum sl_event_app, as its events say */
	uint8_t blocked;
	uint64_t pkts[2], bytes[2]; /* per key side */
	uint64_t first_ns, last_ns;
};

#define SL_WORKER_TOP_MAX 64

/* Asks the worker for its n (<= SL_WORKER_TOP_MAX) flows with the most bytes; the worker answers
 * between bursts (it owns its flow table: no other thread may walk it). Control thread only.
 * Returns how many were written to out, or -ETIMEDOUT if the worker did not answer in time. */
int sl_worker_top_flows(struct sl_worker *w, unsigned n, struct sl_flow_brief *out,
			unsigned timeout_ms);

/* Extra counters for the management plane. */
void sl_worker_http_anomalies(const struct sl_worker *w, uint64_t out[SL_HTTP_AN_COUNT]);

/* Snapshot of the counters (single writer: read from another thread, values may lag). */
void sl_worker_stats_get(const struct sl_worker *w, struct sl_worker_stats *ws,
			 struct sl_flow_stats *fs, struct sl_tcp_stats *ts,
			 struct sl_scan_stats *ss);

#endif /* SL_WORKER_H */
