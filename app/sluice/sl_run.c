/* sl_run: ports, rings and lcore loops (see sl_run.h). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "sl_mem.h"
#include "sl_port.h"
#include "sl_run.h"
#include "sl_worker.h"

#define BURST	   32
#define RING_SIZE  4096
#define MAX_WORKER 64

const uint8_t sl_rss_sym_key[40] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

static volatile sig_atomic_t stop_requested;
static struct rte_rcu_qsbr *qsbr;
static struct sl_ruleset **rs_current;
static struct sl_worker *run_workers[MAX_WORKER];
static unsigned n_run_workers;
static uint16_t run_port_ids[SL_CONF_MAX_PORTS];
static const struct sl_conf_port *run_port_confs[SL_CONF_MAX_PORTS];
static unsigned n_run_ports;
static uint64_t ring_drops[MAX_WORKER]; /* frames a full worker ring refused (live input) */
static atomic_int input_done;

void
sl_run_stop(void)
{
	stop_requested = 1;
}

struct port {
	uint16_t id;
	uint16_t nb_rxq;
	int rss;	/* RSS with the symmetric key: queue i belongs to worker i */
	int by_workers; /* polled by the workers themselves (RSS, or a single worker), not the
			 * main lcore's distributor */
	int polled;	/* received from (not an injection port) */
	const struct sl_conf_port *conf;
};

struct worker_ctx {
	unsigned idx;
	uint64_t forwarded, injected, tx_dropped; /* frames sent to a peer port, resets sent,
						   * frames refused by a tx queue */
	struct sl_worker *w;
	struct rte_ring *ring; /* from the distributor; NULL when polling RSS queues only */
	struct port *ports;
	unsigned n_ports;
	int rc;
};

static uint64_t base_ns, base_tsc, tsc_hz;
/* By port id (sl_worker_params): enum sl_enforce, the peer or injection port, the MAC. */
static uint8_t port_enforce[RTE_MAX_ETHPORTS];
static uint16_t port_out[RTE_MAX_ETHPORTS];
static struct rte_ether_addr port_mac[RTE_MAX_ETHPORTS];

static inline uint64_t
now_ns(void)
{
	return base_ns + (uint64_t)((double)(rte_rdtsc() - base_tsc) * 1e9 / (double)tsc_hz);
}

static int
port_setup(struct port *p, const struct sl_conf_port *pc, unsigned workers, struct rte_mempool *mp,
	   char *err, size_t errlen)
{
	char devname[RTE_DEV_NAME_MAX_LEN];
	struct rte_eth_dev_info info;
	struct rte_eth_conf ec;
	const char *comma = strchr(pc->dev, ',');
	size_t nlen = comma ? (size_t)(comma - pc->dev) : strlen(pc->dev);
	int rc;

	snprintf(devname, sizeof(devname), "%.*s", (int)nlen, pc->dev);
	if (rte_eth_dev_get_port_by_name(devname, &p->id) != 0) {
		rc = rte_dev_probe(pc->dev);
		if (rc < 0 || rte_eth_dev_get_port_by_name(devname, &p->id) != 0) {
			snprintf(err, errlen, "port '%s': cannot open device '%s': %s", pc->name,
				 pc->dev, strerror(-rc));
			return -ENODEV;
		}
	}
	p->conf = pc;
	rc = rte_eth_dev_info_get(p->id, &info);
	if (rc)
		goto fail;
	memset(&ec, 0, sizeof(ec));
	p->nb_rxq = 1;
	p->rss = 0;
	if (workers > 1 && info.max_rx_queues >= workers &&
	    (info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP))) {
		p->nb_rxq = (uint16_t)workers;
		p->rss = 1;
		ec.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		ec.rx_adv_conf.rss_conf.rss_key = (uint8_t *)(uintptr_t)sl_rss_sym_key;
		ec.rx_adv_conf.rss_conf.rss_key_len = sizeof(sl_rss_sym_key);
		ec.rx_adv_conf.rss_conf.rss_hf =
		    info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
	}
	/* Inline and injection ports transmit from every worker, each on its own queue: no
	 * locks. */
	uint16_t nb_txq = pc->role != SL_PORT_MIRROR ? (uint16_t)workers : 1;
	if (nb_txq > info.max_tx_queues) {
		snprintf(err, errlen,
			 "port '%s' (%s) has %u tx queues; %s with %u workers needs %u "
			 "(net_af_packet: add qpairs=%u)",
			 pc->name, pc->dev, info.max_tx_queues,
			 pc->role == SL_PORT_INLINE ? "inline" : "inject", workers, workers,
			 workers);
		return -EINVAL;
	}
	/* Extra rx queues (af_packet qpairs) are polled by the distributor too. */
	if (!p->rss && info.max_rx_queues > 1 && info.max_rx_queues == info.max_tx_queues)
		p->nb_rxq = (uint16_t)(workers < info.max_rx_queues ? workers : info.max_rx_queues);
	rc = rte_eth_dev_configure(p->id, p->nb_rxq, nb_txq, &ec);
	if (rc)
		goto fail;
	for (uint16_t q = 0; q < p->nb_rxq; q++) {
		rc = rte_eth_rx_queue_setup(p->id, q, 1024, rte_eth_dev_socket_id(p->id), NULL, mp);
		if (rc)
			goto fail;
	}
	for (uint16_t q = 0; q < nb_txq; q++) {
		rc = rte_eth_tx_queue_setup(p->id, q, 1024, rte_eth_dev_socket_id(p->id), NULL);
		if (rc)
			goto fail;
	}
	rc = rte_eth_dev_start(p->id);
	if (rc)
		goto fail;
	rte_eth_promiscuous_enable(p->id);
	return 0;
fail:
	snprintf(err, errlen, "port '%s' (%s): setup failed: %s", pc->name, pc->dev,
		 strerror(rc < 0 ? -rc : rc));
	return rc < 0 ? rc : -rc;
}

/* Sends `n` frames out of `port` on this worker's queue, counting them in *sent_count; frees
 * what the queue refuses. */
static void
tx_port(struct worker_ctx *c, uint16_t port, struct rte_mbuf **pkts, uint16_t n,
	uint64_t *sent_count)
{
	uint16_t sent = n ? rte_eth_tx_burst(port, (uint16_t)c->idx, pkts, n) : 0;

	*sent_count += sent;
	if (sent < n) {
		c->tx_dropped += n - sent;
		rte_pktmbuf_free_bulk(pkts + sent, n - sent);
	}
}

/* Verdicts applied: frames from inline ports that may pass leave through the peer port, in
 * bursts per destination; everything else (mirror copies, drops) is freed. Then the resets the
 * worker made. */
static void
forward(struct worker_ctx *c, struct rte_mbuf **pkts, const uint8_t *verdict, uint16_t n)
{
	struct rte_mbuf *out[BURST], **inj;
	const uint16_t *inj_port;
	uint16_t n_out = 0, dest = UINT16_MAX, n_inj;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		if (verdict[i] != SL_VERDICT_FORWARD || port_enforce[m->port] != SL_ENFORCE_DROP) {
			rte_pktmbuf_free(m);
			continue;
		}
		if (port_out[m->port] != dest) {
			tx_port(c, dest, out, n_out, &c->forwarded);
			n_out = 0;
			dest = port_out[m->port];
		}
		out[n_out++] = m;
	}
	tx_port(c, dest, out, n_out, &c->forwarded);
	n_inj = sl_worker_injected(c->w, &inj, &inj_port);
	for (uint16_t i = 0; i < n_inj; i++)
		tx_port(c, inj_port[i], &inj[i], 1, &c->injected);
	sl_worker_inject_reset(c->w);
}

static int
worker_main(void *arg)
{
	struct worker_ctx *c = arg;
	struct rte_mbuf *pkts[BURST];
	uint8_t verdict[BURST];
	uint64_t next_tick = 0, tick_tsc = tsc_hz / 1000;

	rte_rcu_qsbr_thread_register(qsbr, c->idx);
	rte_rcu_qsbr_thread_online(qsbr, c->idx);
	for (;;) {
		unsigned n = 0;

		/* Between bursts: take a new ruleset, then declare that nothing of the old one is
		 * held any more (see sl_run_swap_ruleset). */
		sl_worker_sync_ruleset(c->w);
		rte_rcu_qsbr_quiescent(qsbr, c->idx);

		if (c->ring)
			n = rte_ring_dequeue_burst(c->ring, (void **)pkts, BURST, NULL);
		for (unsigned p = 0; p < c->n_ports && n == 0; p++) {
			const struct port *pt = &c->ports[p];

			for (unsigned q = c->idx; pt->by_workers && q < pt->nb_rxq && n == 0;
			     q += n_run_workers)
				n = rte_eth_rx_burst(pt->id, (uint16_t)q, pkts, BURST);
		}
		if (n) {
			sl_worker_process(c->w, pkts, (uint16_t)n, verdict, now_ns());
			forward(c, pkts, verdict, (uint16_t)n);
		} else if (atomic_load(&input_done)) {
			if (c->ring == NULL || rte_ring_empty(c->ring))
				break;
		}
		/* A live input never runs dry: stop when asked, even mid-traffic. */
		if (unlikely(stop_requested))
			break;
		if (rte_rdtsc() >= next_tick) {
			sl_worker_tick(c->w, now_ns());
			next_tick = rte_rdtsc() + tick_tsc;
		}
	}
	sl_worker_tick(c->w, now_ns());
	sl_worker_drain(c->w);
	rte_rcu_qsbr_thread_offline(qsbr, c->idx);
	rte_rcu_qsbr_thread_unregister(qsbr, c->idx);
	return 0;
}

struct sl_ruleset *
sl_run_swap_ruleset(struct sl_ruleset **slot, struct sl_ruleset *next)
{
	struct sl_ruleset *old = __atomic_exchange_n(slot, next, __ATOMIC_ACQ_REL);
	const struct timespec nap = {0, 1000000};

	/* Not running (start-up, tests): no worker can hold the old one. */
	for (int grace = 0; qsbr && slot == rs_current && grace < 2; grace++) {
		uint64_t token = rte_rcu_qsbr_start(qsbr);
		unsigned waited = 0;

		/* Sleep rather than spin while the workers catch up: on a small machine the
		 * spinning control thread would take the CPU a worker needs. A worker that has
		 * not passed a quiescent state in 30 s is stuck: keep the old ruleset alive
		 * (a leak) rather than free memory it may still use. */
		while (!rte_rcu_qsbr_check(qsbr, token, false)) {
			if (++waited == 30000) {
				RTE_LOG(ERR, USER1,
					"sluice: workers did not take ruleset %" PRIu64
					" within 30 s; keeping the old one\n",
					next->generation);
				return NULL;
			}
			nanosleep(&nap, NULL);
		}
	}
	return old;
}

unsigned
sl_run_ports(const uint16_t **ids, const struct sl_conf_port *const **confs)
{
	*ids = run_port_ids;
	*confs = run_port_confs;
	return n_run_ports;
}

uint64_t
sl_run_ring_drops(unsigned worker)
{
	return worker < MAX_WORKER ? ring_drops[worker] : 0;
}

unsigned
sl_run_workers(struct sl_worker *const **workers)
{
	*workers = run_workers;
	return n_run_workers;
}

static void
print_progress(uint64_t done, uint64_t total, double secs)
{
	fprintf(stderr, "\rsluice: %5.1f%%  %" PRIu64 "/%" PRIu64 " packets  %.1f s",
		total ? 100.0 * (double)done / (double)total : 0.0, done, total, secs);
}

int
sl_run(const struct sl_conf *conf, struct sl_ruleset **rs_slot, struct sl_event_out *events,
       const struct sl_run_opts *opts, struct sl_run_summary *sum, char *err, size_t errlen)
{
	unsigned nw = conf->workers, n_ports = conf->n_ports, lcore, i;
	struct worker_ctx wc[MAX_WORKER];
	struct port ports[SL_CONF_MAX_PORTS];
	struct rte_mempool *mp;
	struct timespec ts;
	uint64_t rx = 0, t0, last_progress = 0;
	int rc = 0, any_single = 0;
	unsigned n_set_up = 0;

	memset(wc, 0, sizeof(wc));
	memset(ring_drops, 0, sizeof(ring_drops));
	memset(sum, 0, sizeof(*sum));
	if (nw > MAX_WORKER || rte_lcore_count() < nw + 1) {
		snprintf(err, errlen,
			 "%u workers need %u lcores (main + workers) but EAL has %u; pass more "
			 "with -l/--lcores or lower 'workers'",
			 nw, nw + 1, rte_lcore_count());
		return -EINVAL;
	}
	if (n_ports == 0) {
		snprintf(err, errlen, "no ports: give --pcap FILE or configure 'ports'");
		return -EINVAL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	base_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	base_tsc = rte_rdtsc();
	tsc_hz = rte_get_tsc_hz();

	rs_current = rs_slot;
	qsbr = rte_zmalloc("sl_qsbr", rte_rcu_qsbr_get_memsize(nw), RTE_CACHE_LINE_SIZE);
	if (qsbr == NULL || rte_rcu_qsbr_init(qsbr, nw)) {
		snprintf(err, errlen, "cannot set up RCU for %u workers", nw);
		return -ENOMEM;
	}
	mp = rte_pktmbuf_pool_create("sl_mbufs", conf->mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				     (int)rte_socket_id());
	if (mp == NULL) {
		snprintf(err, errlen, "cannot create a pool of %u packet buffers", conf->mbufs);
		return -ENOMEM;
	}
	for (i = 0; i < n_ports; i++) {
		rc = port_setup(&ports[i], &conf->ports[i], nw, mp, err, errlen);
		if (rc)
			goto out_ports;
		n_set_up++;
		/* One worker needs no distribution: it polls the ports itself and the main lcore
		 * sleeps, leaving its CPU to the rest of the machine. A capture file keeps the
		 * distributor, which detects its end and paces reading to the worker. */
		ports[i].polled = conf->ports[i].role != SL_PORT_INJECT;
		ports[i].by_workers =
		    ports[i].polled && (ports[i].rss || (nw == 1 && !opts->pcap_path));
		any_single |= ports[i].polled && !ports[i].by_workers;
	}
	/* Worker state and rings: on transparent huge pages without hugepages (sl_mem.h). */
	int heap = sl_mem_heap(nw * (sl_worker_mem_size(conf) + rte_ring_get_memsize(RING_SIZE) +
				     RTE_CACHE_LINE_SIZE));
	memset(port_enforce, 0, sizeof(port_enforce));
	for (i = 0; i < n_ports; i++) {
		const struct sl_conf_port *pc = &conf->ports[i];
		const char *to = pc->role == SL_PORT_INLINE ? pc->peer : pc->inject;

		int j = to[0] ? sl_conf_port_index(conf, to, i) : -1;

		rte_eth_macaddr_get(ports[i].id, &port_mac[ports[i].id]);
		if (j >= 0) {
			port_enforce[ports[i].id] =
			    pc->role == SL_PORT_INLINE ? SL_ENFORCE_DROP : SL_ENFORCE_RESET;
			port_out[ports[i].id] = ports[j].id;
		}
	}

	/* A capture file is timed by its own timestamps (net_pcap's rx timestamp, microseconds):
	 * events then carry the time the traffic was seen, as Suricata's do on a capture. */
	uint64_t ts_flag = 0;
	int ts_field = 0;
	if (opts->pcap_path) {
		int field = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
		int bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, NULL);

		if (field >= 0 && bit >= 0) {
			ts_field = field;
			ts_flag = RTE_BIT64(bit);
		}
	}

	i = 0;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		char name[32];
		struct sl_worker_params wp = {
		    .id = (uint16_t)i,
		    .socket_id = heap >= 0 ? heap : (int)rte_lcore_to_socket_id(lcore),
		    .conf = conf,
		    .rs_slot = rs_slot,
		    .events = events,
		    .tx_pool = mp,
		    .port_enforce = port_enforce,
		    .port_out = port_out,
		    .port_mac = port_mac,
		    .ts_flag = ts_flag,
		    .ts_field = ts_field,
		};

		if (i == nw)
			break;
		wc[i].idx = i;
		wc[i].ports = ports;
		wc[i].n_ports = n_ports;
		wc[i].w = sl_worker_create(&wp, err, errlen);
		if (wc[i].w == NULL) {
			rc = -ENOMEM;
			goto out_workers;
		}
		if (any_single) {
			snprintf(name, sizeof(name), "sl_w%u", i);
			wc[i].ring = rte_ring_create(name, RING_SIZE, wp.socket_id,
						     RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (wc[i].ring == NULL) {
				snprintf(err, errlen, "cannot create worker ring %u", i);
				rc = -ENOMEM;
				goto out_workers;
			}
		}
		i++;
	}

	for (i = 0; i < nw; i++)
		run_workers[i] = wc[i].w;
	for (i = 0; i < n_ports; i++) {
		run_port_ids[i] = ports[i].id;
		run_port_confs[i] = &conf->ports[i];
	}
	n_run_ports = n_ports;
	n_run_workers = nw;
	atomic_store(&input_done, 0);
	if (!opts->pcap_path)
		fprintf(stderr, "sluice: ready: %u ports, %u workers\n", n_ports, nw);
	t0 = rte_rdtsc();
	i = 0;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (i == nw)
			break;
		rte_eal_remote_launch(worker_main, &wc[i++], lcore);
	}

	/* Main lcore: receive from single-queue ports and distribute by flow. */
	uint16_t q = 0; /* queues of multi-queue ports without RSS are polled in turn */
	uint64_t idle_since = 0;
	while (!stop_requested) {
		struct rte_mbuf *pkts[BURST], *per[MAX_WORKER][BURST];
		unsigned cnt[MAX_WORKER];
		uint16_t n = 0;

		if (!any_single) {
			const struct timespec nap = {0, 10000000};
			nanosleep(&nap, NULL);
			continue;
		}
		for (unsigned p = 0; p < n_ports; p++) {
			if (ports[p].by_workers || !ports[p].polled)
				continue;
			n = rte_eth_rx_burst(ports[p].id, q, pkts, BURST);
			if (++q >= ports[p].nb_rxq)
				q = 0;
			if (n == 0)
				continue;
			rx += n;
			memset(cnt, 0, sizeof(unsigned) * nw);
			for (uint16_t k = 0; k < n; k++) {
				unsigned wi = 0;

				if (nw > 1)
					wi = sl_pkt_dispatch_hash(
						 rte_pktmbuf_mtod(pkts[k], uint8_t *),
						 rte_pktmbuf_data_len(pkts[k])) %
					     nw;
				per[wi][cnt[wi]++] = pkts[k];
			}
			for (unsigned w = 0; w < nw; w++) {
				unsigned done = 0;

				/* A capture file can wait for the workers: nothing is lost by
				 * reading it more slowly. Live ports must never wait. */
				while (done < cnt[w]) {
					done += rte_ring_enqueue_burst(wc[w].ring,
								       (void **)per[w] + done,
								       cnt[w] - done, NULL);
					if (!opts->pcap_path || stop_requested)
						break;
				}
				if (done < cnt[w]) {
					ring_drops[w] += cnt[w] - done;
					rte_pktmbuf_free_bulk(per[w] + done, cnt[w] - done);
				}
			}
		}
		if (opts->pcap_path) {
			uint64_t t = rte_rdtsc();
			if (opts->progress && t - last_progress > tsc_hz / 4) {
				print_progress(rx, opts->pcap_packets,
					       (double)(t - t0) / (double)tsc_hz);
				last_progress = t;
			}
			if (rx >= opts->pcap_packets)
				break;
			/* A file that yields nothing for a second is finished (or was cut short).
			 */
			if (n) {
				idle_since = 0;
			} else if (idle_since == 0) {
				idle_since = t;
			} else if (t - idle_since > tsc_hz) {
				break;
			}
		}
	}
	atomic_store(&input_done, 1);
	rte_eal_mp_wait_lcore();
	sum->seconds = (double)(rte_rdtsc() - t0) / (double)tsc_hz;
	if (opts->progress) {
		print_progress(rx, opts->pcap_packets, sum->seconds);
		fputc('\n', stderr);
	}
	for (i = 0; i < nw; i++) {
		struct sl_worker_stats ws;
		struct sl_flow_stats fs;
		struct sl_tcp_stats tcp;

		sl_worker_stats_get(wc[i].w, &ws, &fs, &tcp, NULL);
		sum->pkts += ws.pkts;
		sum->bytes += ws.bytes;
		sum->flows += fs.created;
		sum->events += ws.events;
		sum->events_lost += ws.events_lost;
		sum->forwarded += wc[i].forwarded;
		sum->tx_dropped += wc[i].tx_dropped;
		sum->dropped += ws.drop_blocked + ws.drop_fail_closed;
		sum->ring_drops += ring_drops[i];
		sum->rst_sent += wc[i].injected;
		sum->reset_flows += ws.reset_flows;
		sum->tcp_gaps += tcp.gaps;
#define SL_X(f, s) sum->frag.f += ws.frag.f;
		SL_FRAG_COUNTERS(SL_X)
#undef SL_X
		sum->tcp_caps += tcp.flow_cap_hit + tcp.worker_cap_hit + tcp.pool_exhausted;
		for (unsigned e = 0; e < SL_PKT_ERR_COUNT; e++)
			sum->pkt_errors += ws.pkt_errors[e];
	}
	for (unsigned p = 0; p < n_ports; p++) {
		struct rte_eth_stats es;
		struct sl_run_port_stats *ps = &sum->port[sum->n_ports++];

		sl_port_stats(ports[p].id, &conf->ports[p], &es);
		snprintf(ps->name, sizeof(ps->name), "%s", conf->ports[p].name);
		ps->rx = es.ipackets;
		ps->tx = es.opackets;
		ps->missed = es.imissed;
		ps->rx_errors = es.ierrors;
		ps->tx_errors = es.oerrors;
	}
	rc = 0;
	n_run_workers = 0;
	n_run_ports = 0;
out_workers:
	for (i = 0; i < nw; i++) {
		sl_worker_free(wc[i].w);
		rte_ring_free(wc[i].ring);
	}
out_ports:
	for (unsigned p = 0; p < n_set_up; p++) {
		rte_eth_dev_stop(ports[p].id);
		rte_eth_dev_close(ports[p].id);
	}
	rte_mempool_free(mp);
	/* qsbr stays: the control thread may still swap a ruleset while we return; with every
	 * worker offline its checks pass at once. */
	return rc;
}
