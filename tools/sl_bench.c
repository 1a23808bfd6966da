/* sl_bench: throughput of the real worker pipeline on one core, against Hyperscan alone.
 *
 * Loads a capture into mbufs in memory (no I/O while timing), then measures on this lcore:
 *   1. scan limit: Hyperscan alone, streaming mode, same sensors, fed the same TCP payload
 *      segments in the same order, one stream per flow direction (no parsing, no flow table);
 *   2. pipeline: sl_worker_process on bursts of 32, exactly as a worker lcore runs it,
 *      including flow creation, reassembly, validation and event records (ring, not written);
 *   3. with --compare-raw: the same pipeline with HTTP decoding off (every stream scanned raw),
 *      to give the cost of HTTP decoding as a ratio;
 * and prints both rates and their ratio. Each measurement repeats whole passes over the
 * capture for at least --seconds; the best pass is kept (these machines are noisy).
 *
 * usage: sl_bench [-c CONFIG] [--set PATH=VALUE]... [--seconds S] [--label NAME] [--no-hs]
 *                 [--compare-raw] FILE.pcap
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hs/hs.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_hash_crc.h>
#include <rte_mbuf.h>

#include "sl_capture.h"
#include "sl_conf.h"
#include "sl_mem.h"
#include "sl_pkt.h"
#include "sl_ruleset.h"
#include "sl_scan.h"
#include "sl_worker.h"

struct capture {
	struct rte_mbuf **m;
	uint32_t n;
	uint64_t wire_bytes;
	uint64_t payload_bytes;
};

static int
load_capture(const char *path, struct rte_mempool *mp, struct capture *c)
{
	char perr[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p = pcap_open_offline(path, perr);
	uint32_t cap = 1024;

	if (p == NULL) {
		fprintf(stderr, "sl_bench: %s\n", perr);
		return -1;
	}
	c->m = malloc(sizeof(*c->m) * cap);
	while (pcap_next_ex(p, &h, &d) == 1) {
		struct rte_mbuf *m;

		if (h->caplen > RTE_MBUF_DEFAULT_DATAROOM)
			continue;
		if (c->n == cap)
			c->m = realloc(c->m, sizeof(*c->m) * (cap *= 2));
		m = rte_pktmbuf_alloc(mp);
		if (m == NULL) {
			fprintf(stderr, "sl_bench: capture larger than the mbuf pool\n");
			return -1;
		}
		memcpy(rte_pktmbuf_append(m, (uint16_t)h->caplen), d, h->caplen);
		c->m[c->n++] = m;
		c->wire_bytes += h->caplen;
	}
	pcap_close(p);
	return 0;
}

/* --- Hyperscan alone --- */

struct hs_flow {
	struct sl_flow_key key;
	uint8_t dir;
	hs_stream_t *s;
};

static int
hs_nop(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *ctx)
{
	(void)id, (void)from, (void)to, (void)flags;
	(*(uint64_t *)ctx)++;
	return 0;
}

struct hs_plan {
	hs_database_t *db;
	hs_scratch_t *scratch;
	/* one entry per payload-carrying TCP packet: which stream, which bytes */
	uint32_t *stream_of;
	const uint8_t **data;
	uint32_t *len;
	uint32_t n, n_streams;
	uint32_t *last; /* per stream: its last entry, where it is closed */
	hs_stream_t **streams;
};

static int
hs_plan_build(const struct sl_conf *conf, const struct capture *c, struct hs_plan *pl)
{
	const char *exprs[SL_SCAN_MAX_SENSORS * SL_SCAN_MAX_PATTERNS];
	unsigned ids[SL_SCAN_MAX_SENSORS * SL_SCAN_MAX_PATTERNS];
	unsigned flags[SL_SCAN_MAX_SENSORS * SL_SCAN_MAX_PATTERNS];
	unsigned n = 0;
	hs_compile_error_t *ce;
	uint32_t tsize = 1u << 20;
	struct hs_flow *tab = calloc(tsize, sizeof(*tab));

	for (unsigned i = 0; i < conf->n_sensors; i++)
		for (unsigned j = 0; j < conf->sensors[i].n_patterns; j++) {
			exprs[n] = conf->sensors[i].patterns[j];
			ids[n] = i;
			flags[n++] = conf->sensors[i].caseless ? HS_FLAG_CASELESS : 0;
		}
	if (hs_compile_multi(exprs, flags, ids, n, HS_MODE_STREAM, NULL, &pl->db, &ce) !=
	    HS_SUCCESS) {
		fprintf(stderr, "sl_bench: %s\n", ce->message);
		return -1;
	}
	hs_alloc_scratch(pl->db, &pl->scratch);
	pl->stream_of = malloc(sizeof(uint32_t) * c->n);
	pl->data = malloc(sizeof(void *) * c->n);
	pl->len = malloc(sizeof(uint32_t) * c->n);
	for (uint32_t i = 0; i < c->n; i++) {
		struct sl_pkt_info pi;
		const uint8_t *f = rte_pktmbuf_mtod(c->m[i], const uint8_t *);

		if (sl_pkt_parse(f, rte_pktmbuf_data_len(c->m[i]), &pi) != SL_PKT_OK ||
		    pi.key.proto != 6 || pi.payload_len == 0)
			continue;
		uint32_t h = (rte_hash_crc(&pi.key, sizeof(pi.key), pi.dir) & (tsize - 1));
		while (tab[h].s != NULL &&
		       (memcmp(&tab[h].key, &pi.key, sizeof(pi.key)) || tab[h].dir != pi.dir))
			h = (h + 1) & (tsize - 1);
		if (tab[h].s == NULL) {
			tab[h].key = pi.key;
			tab[h].dir = pi.dir;
			tab[h].s = (hs_stream_t *)(uintptr_t)(++pl->n_streams);
		}
		pl->stream_of[pl->n] = (uint32_t)(uintptr_t)tab[h].s - 1;
		pl->data[pl->n] = f + pi.payload_off;
		pl->len[pl->n++] = pi.payload_len;
	}
	pl->streams = calloc(pl->n_streams, sizeof(hs_stream_t *));
	pl->last = calloc(pl->n_streams, sizeof(uint32_t));
	for (uint32_t i = 0; i < pl->n; i++)
		pl->last[pl->stream_of[i]] = i;
	free(tab);
	return 0;
}

#define HS_PREFETCH_AHEAD 4 /* as SL_PREFETCH_AHEAD in app/sluice/sl_worker.c */

/* Streams live from their first segment to their last, as in the worker, whose stream states
 * are reused as flows come and go; payload is prefetched in two stages, the second
 * non-temporal: of the variants tried, the fastest for Hyperscan alone (37-39 Gbit/s with the
 * second stage as rte_prefetch0, which the worker uses, 47-48 non-temporal: payload read once
 * then no longer evicts Hyperscan's own tables). The worker itself was no faster with
 * non-temporal prefetches. Both keep the scan limit a measure of Hyperscan, not of memory. */
static void
hs_pass(struct hs_plan *pl, uint64_t *matches)
{
	for (uint32_t i = 0; i < pl->n; i++) {
		uint32_t s = pl->stream_of[i];

		if (i + 2 * HS_PREFETCH_AHEAD < pl->n)
			rte_prefetch0(
			    pl->data[i + 2 * HS_PREFETCH_AHEAD]); /* page walk, first line */
		if (i + HS_PREFETCH_AHEAD < pl->n) {
			const uint8_t *d = pl->data[i + HS_PREFETCH_AHEAD];

			for (uint32_t off = 0; off < pl->len[i + HS_PREFETCH_AHEAD]; off += 64)
				rte_prefetch_non_temporal(d + off);
		}
		if (pl->streams[s] == NULL)
			hs_open_stream(pl->db, 0, &pl->streams[s]);
		hs_scan_stream(pl->streams[s], (const char *)pl->data[i], pl->len[i], 0,
			       pl->scratch, hs_nop, matches);
		if (pl->last[s] == i) {
			hs_close_stream(pl->streams[s], pl->scratch, hs_nop, matches);
			pl->streams[s] = NULL;
		}
	}
}

/* --- the pipeline --- */

static void
pipeline_pass(struct sl_worker *w, const struct capture *c, uint64_t now)
{
	uint8_t verdict[32];

	for (uint32_t i = 0; i < c->n; i += 32) {
		uint16_t n = (uint16_t)RTE_MIN(32u, c->n - i);
		sl_worker_process(w, c->m + i, n, verdict, now);
	}
	sl_worker_drain(w);
}

#define STACK_SLOTS 8

/* Seconds of one call of fn(arg), by the TSC, with the stack moved to one of STACK_SLOTS places
 * within a 4 KB page (by `slot`: spread over the page and over the 16-byte steps of a cache
 * line), whatever the process's own layout. Without this, Hyperscan alone ran at 33-35 or 41-44
 * Gbit/s depending on nothing but the length of the path the benchmark was started from (a
 * consistent figure for each path, over runs and series, while the pipeline stayed within 3%):
 * the program name and environment decide where the stack starts within a page. Each
 * measurement keeps its best pass over every slot, so the scan limit is Hyperscan's best. */
static double
timed(void (*fn)(void *), void *arg, unsigned slot)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t to = slot * (4096 / STACK_SLOTS) + (slot % 4) * 16;
	volatile char *pad = __builtin_alloca(((sp - to) & 4095) + 16);
	uint64_t t0;

	pad[0] = 0;
	t0 = rte_rdtsc();
	fn(arg);
	return (double)(rte_rdtsc() - t0) / (double)rte_get_tsc_hz();
}

struct bench {
	struct hs_plan *pl;
	uint64_t matches;
	struct sl_worker *w;
	const struct capture *c;
};

static void
run_hs(void *arg)
{
	struct bench *b = arg;

	hs_pass(b->pl, &b->matches);
}

static void
run_pipeline(void *arg)
{
	struct bench *b = arg;

	pipeline_pass(b->w, b->c, 1);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"seconds", required_argument, NULL, 's'}, {"label", required_argument, NULL, 'l'},
	    {"no-hs", no_argument, NULL, 'n'},	       {"compare-raw", no_argument, NULL, 'r'},
	    {"set", required_argument, NULL, 'S'},     {NULL, 0, NULL, 0}};
	char *eal[] = {argv[0],	      "--no-huge",	    "-m", "6144", "--no-pci",
		       "--no-shconf", "--log-level=notice", "-l", "0",	  "--no-telemetry"};
	const char *config = SL_SOURCE_DIR "/config/sluice.conf", *label = "capture";
	double seconds = 2, t_hs = 0, t_pipe;
	int opt, rc, no_hs = 0, compare_raw = 0;
	char *sets[32];
	unsigned n_sets = 0;
	static struct sl_conf conf;
	struct capture cap = {0};
	char err[512];

	while ((opt = getopt_long(argc, argv, "c:", lopts, NULL)) != -1) {
		if (opt == 'c')
			config = optarg;
		else if (opt == 's')
			seconds = atof(optarg);
		else if (opt == 'l')
			label = optarg;
		else if (opt == 'n')
			no_hs = 1;
		else if (opt == 'r')
			compare_raw = 1;
		else if (opt == 'S' && n_sets < 32)
			sets[n_sets++] = optarg;
		else
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: sl_bench [-c CONFIG] [--set PATH=VALUE]... [--seconds S] "
				"[--label L] [--no-hs] FILE.pcap\n");
		return 2;
	}
	if (rte_eal_init(RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "sl_bench: EAL initialisation failed\n");
		return 1;
	}
	if (sl_conf_load(&conf, config, sets, n_sets, err, sizeof(err))) {
		fprintf(stderr, "sl_bench: %s\n", err);
		return 1;
	}
	uint64_t frames;
	int truncated;
	char path[4096];
	if (sl_capture_prepare(argv[optind], path, sizeof(path), &frames, &truncated, err,
			       sizeof(err))) {
		fprintf(stderr, "sl_bench: %s\n", err);
		return 1;
	}
	struct rte_mempool *mp =
	    rte_pktmbuf_pool_create("bench", frames + 1024, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (mp == NULL) {
		fprintf(stderr, "sl_bench: cannot allocate the packet pool\n");
		return 1;
	}
	rc = load_capture(path, mp, &cap);
	if (strcmp(path, argv[optind]))
		unlink(path); /* a rewritten copy (sl_capture_prepare) */
	if (rc)
		return 1;
	struct sl_ruleset *rs = sl_ruleset_build(&conf, 1, 2, err, sizeof(err));
	if (rs == NULL) {
		fprintf(stderr, "sl_bench: %s\n", err);
		return 1;
	}
	/* Worker state where sluice puts it (sl_mem.h); the raw-only twin needs room too. */
	int heap = sl_mem_heap(2 * sl_worker_mem_size(&conf));
	int socket = heap >= 0 ? heap : 0;
	struct sl_worker_params wp = {.id = 0, .socket_id = socket, .conf = &conf, .rs_slot = &rs};
	struct sl_worker *w = sl_worker_create(&wp, err, sizeof(err));
	if (w == NULL) {
		fprintf(stderr, "sl_bench: %s\n", err);
		return 1;
	}
	for (uint32_t i = 0; i < cap.n; i++) {
		struct sl_pkt_info pi;
		if (sl_pkt_parse(rte_pktmbuf_mtod(cap.m[i], uint8_t *),
				 rte_pktmbuf_data_len(cap.m[i]), &pi) == SL_PKT_OK &&
		    pi.key.proto == 6)
			cap.payload_bytes += pi.payload_len;
	}

	struct hs_plan pl = {0};
	struct bench b = {.pl = &pl, .w = w, .c = &cap};
	/* The raw-only twin: same ruleset, no HTTP state, so every stream is scanned as sent. */
	static struct sl_conf raw_conf;
	struct sl_worker *w_raw = NULL;
	struct bench b_raw = b;
	double t_raw = 1e30;
	if (compare_raw) {
		raw_conf = conf;
		raw_conf.http_flows = 0;
		struct sl_worker_params wr = {
		    .id = 1, .socket_id = socket, .conf = &raw_conf, .rs_slot = &rs};
		w_raw = sl_worker_create(&wr, err, sizeof(err));
		if (w_raw == NULL) {
			fprintf(stderr, "sl_bench: %s\n", err);
			return 1;
		}
		b_raw.w = w_raw;
	}
	no_hs |= cap.payload_bytes == 0; /* nothing to scan: no scan limit to compare with */
	if (!no_hs && hs_plan_build(&conf, &cap, &pl))
		return 1;
	/* The two measurements alternate, pass by pass, and each keeps its best pass: noise from
	 * the rest of the machine hits both alike instead of skewing the ratio. */
	t_hs = t_pipe = 1e30;
	uint64_t end = rte_rdtsc() + (uint64_t)(seconds * (double)rte_get_tsc_hz());
	double passes = 0;
	do {
		passes++;
		unsigned slot = (unsigned)passes % STACK_SLOTS;

		if (!no_hs)
			t_hs = RTE_MIN(t_hs, timed(run_hs, &b, slot));
		t_pipe = RTE_MIN(t_pipe, timed(run_pipeline, &b, slot));
		if (compare_raw)
			t_raw = RTE_MIN(t_raw, timed(run_pipeline, &b_raw, slot));
	} while (rte_rdtsc() < end);

	struct sl_worker_stats ws;
	struct sl_scan_stats ss;
	sl_worker_stats_get(w, &ws, NULL, NULL, &ss);
	double gbps = (double)cap.wire_bytes * 8 / t_pipe / 1e9;
	double mpps = (double)cap.n / t_pipe / 1e6;
	printf("%s: %" PRIu32 " packets, %.1f MB on the wire, %.1f MB TCP payload\n", label, cap.n,
	       (double)cap.wire_bytes / 1e6, (double)cap.payload_bytes / 1e6);
	printf("%s: per pass: %.0f Hyperscan candidates, %.0f confirmed, %.0f alerts, %.0f streams "
	       "opened, %.0f scan calls, %.1f MB scanned\n",
	       label, (double)ss.candidates / passes, (double)ss.matches / passes,
	       (double)ws.events / passes, (double)ss.streams_opened / passes,
	       (double)ss.calls / passes, (double)ss.bytes / passes / 1e6);
	printf("%s: pipeline      %7.3f Gbit/s wire  %7.3f Gbit/s payload  %7.3f Mpps\n", label,
	       gbps, (double)cap.payload_bytes * 8 / t_pipe / 1e9, mpps);
	if (!no_hs) {
		printf("%s: hyperscan     %7.3f Gbit/s payload (scan limit, streaming, same "
		       "sensors)\n",
		       label, (double)cap.payload_bytes * 8 / t_hs / 1e9);
		printf("%s: ratio pipeline/scan-limit = %.2f\n", label, t_hs / t_pipe);
	}
	if (compare_raw) {
		printf("%s: raw-only      %7.3f Gbit/s wire (HTTP decoding off)\n", label,
		       (double)cap.wire_bytes * 8 / t_raw / 1e9);
		printf("%s: ratio with-HTTP/raw-only = %.2f (cost of HTTP decoding)\n", label,
		       t_raw / t_pipe);
		if (!no_hs)
			printf(
			    "%s: ratio raw-only/scan-limit = %.2f (inspection core, same bytes as "
			    "the scan limit)\n",
			    label, t_hs / t_raw);
		sl_worker_free(w_raw);
	}
	sl_worker_free(w);
	sl_ruleset_free(rs);
	sl_conf_free(&conf);
	return 0;
}
