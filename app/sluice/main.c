/* sluice: the appliance daemon. Parses the command line, loads the configuration, compiles the
 * sensors, then hands over to sl_run. Kept thin: every mechanism lives in a library. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "sl_capture.h"
#include "sl_conf.h"
#include "sl_control.h"
#include "sl_event.h"
#include "sl_run.h"
#include "sl_ruleset.h"

#ifndef SL_SOURCE_DIR
#define SL_SOURCE_DIR "."
#endif

#define MAX_SETS 64

static void
usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: sluice [EAL options --] [options]\n"
	    "\n"
	    "  -c, --config FILE    configuration (default config/sluice.conf)\n"
	    "      --set PATH=VALUE override one setting, e.g. --set flow.capacity=100000\n"
	    "      --pcap FILE      inspect a capture file, report, exit\n"
	    "      --loop           with --pcap: replay the capture until stopped (live input for\n"
	    "                       trying things out; the control socket is open)\n"
	    "      --socket PATH    control socket (same as --set control.socket=PATH)\n"
	    "      --events FILE    write events there ('-' = stdout; default from config);\n"
	    "                       SIGHUP opens it again (log rotation)\n"
	    "      --inline A:B     bridge kernel interfaces A and B (net_af_packet), inspecting\n"
	    "      --mirror IFACE   inspect what arrives on a TAP/SPAN interface, never transmit\n"
	    "      --inject IFACE   with --mirror: reset denied connections (protect mode) by\n"
	    "                       sending TCP resets to both ends through IFACE\n"
	    "  -w, --workers N      worker lcores (same as --set workers=N)\n"
	    "  -q, --quiet          no progress, no summary\n"
	    "  -V, --version        print the version\n"
	    "  -h, --help           this text\n"
	    "\n"
	    "Without EAL options sluice needs no hugepages and no PCI device:\n"
	    "  --no-huge --no-pci --no-shconf and one lcore per worker plus the main one.\n");
}

static struct sl_event_out *events_out; /* for on_sighup */

/* A capture rewritten with Ethernet headers for the pcap PMD (sl_capture_prepare), or "". */
static char capture_copy[4096];

static void
remove_capture_copy(void)
{
	if (capture_copy[0])
		unlink(capture_copy);
}

static void
on_signal(int sig)
{
	(void)sig;
	sl_run_stop();
}

/* SIGHUP: open the events file again, as logrotate's postrotate expects. */
static void
on_sighup(int sig)
{
	(void)sig;
	if (events_out)
		sl_event_out_reopen(events_out);
}

/* Builds the default EAL arguments: no hugepages, no PCI, private runtime, lcores 0..workers
 * spread over the available CPUs. */
static int
default_eal_args(char *argv0, unsigned workers, int telemetry, char **out, char *buf, size_t buflen)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int n = 0;
	size_t off = 0;
	char *lc = buf;

	if (ncpu < 1)
		ncpu = 1;
	off += (size_t)snprintf(buf, buflen, "--lcores=");
	for (unsigned i = 0; i <= workers; i++)
		off += (size_t)snprintf(buf + off, buflen - off, "%s%u@%ld", i ? "," : "", i,
					(long)i % ncpu);
	off++;
	char *prefix = buf + off;
	snprintf(prefix, buflen - off, "--file-prefix=sluice-%d", (int)getpid());
	out[n++] = argv0;
	out[n++] = "--no-huge";
	out[n++] = "-m";
	out[n++] = "1024";
	out[n++] = "--no-pci";
	out[n++] = "--no-shconf";
	out[n++] = "--log-level=warning";
	out[n++] = lc;
	out[n++] = prefix;
	if (!telemetry)
		out[n++] = "--no-telemetry"; /* a capture read once has nobody to serve */
	return n;
}

/* Loads the evidence-hash key, creating it (mode 0600) on first use. */
static int
load_key(const char *path, uint8_t key[SL_EVENT_KEY_LEN], char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY);
	char dir[SL_CONF_PATH_LEN];

	if (fd >= 0) {
		ssize_t n = read(fd, key, SL_EVENT_KEY_LEN);
		close(fd);
		if (n == SL_EVENT_KEY_LEN)
			return 0;
		snprintf(err, errlen, "key file '%s' is shorter than %d bytes", path,
			 SL_EVENT_KEY_LEN);
		return -EINVAL;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	mkdir(dirname(dir), 0700);
	if (getrandom(key, SL_EVENT_KEY_LEN, 0) != SL_EVENT_KEY_LEN) {
		snprintf(err, errlen, "cannot generate a key: %s", strerror(errno));
		return -EIO;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, key, SL_EVENT_KEY_LEN) != SL_EVENT_KEY_LEN) {
		snprintf(err, errlen, "cannot create key file '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

/* Frames in each af_packet ring. The driver's default, 512, is 0.6 ms of a 10 Gbit/s link: a
 * worker descheduled for longer loses frames (reported as missed), and a TCP hole that the sender
 * takes longer to repair than the reassembly cap allows leaves content uninspected. 4096 frames
 * (8 MB per ring) removed those losses from the inline tests on a loaded machine. */
#define AFPACKET_RING "framecnt=4096"

/* Port p: interface `iface` through net_af_packet with `qpairs` queue pairs. */
static void
interface_port(struct sl_conf_port *p, const char *iface, unsigned qpairs,
	       enum sl_conf_port_role role)
{
	snprintf(p->name, sizeof(p->name), "%.31s", iface);
	snprintf(p->dev, sizeof(p->dev), "net_af_packet_%s,iface=%s,qpairs=%u," AFPACKET_RING,
		 iface, iface, qpairs);
	p->role = role;
}

/* Replaces the configured ports with kernel interfaces: `inl` = "A:B" bridged inline, or one
 * `mirror` interface, optionally with an `inject` interface for its resets. Ports that transmit
 * get one af_packet queue pair per worker, so each worker transmits on its own. */
static int
interface_ports(struct sl_conf *c, const char *inl, const char *mirror, const char *inject,
		char *err, size_t errlen)
{
	char a[64], b[64];
	const char *colon = inl ? strchr(inl, ':') : NULL;

	memset(c->ports, 0, sizeof(c->ports));
	if (mirror) {
		interface_port(&c->ports[0], mirror, 1, SL_PORT_MIRROR);
		c->n_ports = 1;
		if (inject) {
			if (!strcmp(inject, mirror)) {
				snprintf(err, errlen,
					 "--inject '%s': resets cannot leave through the mirror "
					 "interface itself",
					 inject);
				return -EINVAL;
			}
			interface_port(&c->ports[1], inject, c->workers, SL_PORT_INJECT);
			snprintf(c->ports[0].inject, sizeof(c->ports[0].inject), "%s",
				 c->ports[1].name);
			c->n_ports = 2;
		}
		return 0;
	}
	if (colon == NULL || colon == inl || colon[1] == '\0' ||
	    (size_t)(colon - inl) >= sizeof(a) || strlen(colon + 1) >= sizeof(b)) {
		snprintf(err, errlen, "--inline '%s': expected IFACE_A:IFACE_B", inl);
		return -EINVAL;
	}
	snprintf(a, sizeof(a), "%.*s", (int)(colon - inl), inl);
	snprintf(b, sizeof(b), "%s", colon + 1);
	for (int i = 0; i < 2; i++) {
		struct sl_conf_port *p = &c->ports[i];
		const char *me = i ? b : a, *peer = i ? a : b;

		interface_port(p, me, c->workers, SL_PORT_INLINE);
		snprintf(p->peer, sizeof(p->peer), "%.31s", peer);
	}
	c->n_ports = 2;
	return 0;
}

/* The exit summary: on stdout, unless events go there. */
static void
print_summary(const struct sl_conf *conf, const struct sl_run_summary *sum,
	      const struct sl_event_out_stats *evs, int from_capture)
{
	FILE *out = strcmp(conf->events_path, "-") ? stdout : stderr;
	int inl = 0, inject = 0;

	for (unsigned i = 0; i < conf->n_ports; i++) {
		inl |= conf->ports[i].role == SL_PORT_INLINE;
		inject |= conf->ports[i].role == SL_PORT_INJECT;
	}
	double s = sum->seconds > 0 ? sum->seconds : 1e-9;

	fprintf(out,
		"sluice: %" PRIu64 " packets, %" PRIu64 " bytes, %" PRIu64 " flows, %" PRIu64
		" events (%" PRIu64 " lost to a full ring, %" PRIu64 " to failed writes), %" PRIu64
		" undecodable packets, %" PRIu64 " dropped (workers too slow)\n"
		"sluice: reassembly: %" PRIu64 " gaps skipped, %" PRIu64 " caps hit\n"
		"sluice: %.3f s, %.3f Gbit/s, %.3f Mpps; events in %s\n",
		sum->pkts, sum->bytes, sum->flows, sum->events, sum->events_lost, evs->write_failed,
		sum->pkt_errors, sum->ring_drops, sum->tcp_gaps, sum->tcp_caps, s,
		(double)sum->bytes * 8 / s / 1e9, (double)sum->pkts / s / 1e6, conf->events_path);
	if (sum->frag.fragments)
		fprintf(out,
			"sluice: IP fragments: %" PRIu64 ", %" PRIu64
			" datagrams reassembled, %" PRIu64
			" given up (timeout or table full), %" PRIu64
			" fragments refused (malformed or too big), %" PRIu64
			" overlaps that disagreed\n",
			sum->frag.fragments, sum->frag.reassembled,
			sum->frag.expired + sum->frag.evicted,
			sum->frag.malformed + sum->frag.too_big, sum->frag.overlap_conflicts);
	for (unsigned i = 0; i < sum->n_ports && !from_capture; i++)
		fprintf(out,
			"sluice: port %s: rx %" PRIu64 " tx %" PRIu64 " missed %" PRIu64
			" rx_errors %" PRIu64 " tx_errors %" PRIu64 "\n",
			sum->port[i].name, sum->port[i].rx, sum->port[i].tx, sum->port[i].missed,
			sum->port[i].rx_errors, sum->port[i].tx_errors);
	if (inl)
		fprintf(out,
			"sluice: %" PRIu64 " forwarded, %" PRIu64 " dropped by policy, %" PRIu64
			" refused by tx queues, %" PRIu64 " resets sent\n",
			sum->forwarded, sum->dropped, sum->tx_dropped, sum->rst_sent);
	else if (inject)
		fprintf(out,
			"sluice: %" PRIu64 " flows reset, %" PRIu64 " resets sent, %" PRIu64
			" refused by tx queues\n",
			sum->reset_flows, sum->rst_sent, sum->tx_dropped);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"config", required_argument, NULL, 'c'},  {"set", required_argument, NULL, 's'},
	    {"pcap", required_argument, NULL, 'p'},    {"events", required_argument, NULL, 'e'},
	    {"workers", required_argument, NULL, 'w'}, {"quiet", no_argument, NULL, 'q'},
	    {"version", no_argument, NULL, 'V'},       {"help", no_argument, NULL, 'h'},
	    {"inline", required_argument, NULL, 'i'},  {"mirror", required_argument, NULL, 'm'},
	    {"inject", required_argument, NULL, 'j'},  {"loop", no_argument, NULL, 'l'},
	    {"socket", required_argument, NULL, 'S'},  {NULL, 0, NULL, 0},
	};
	char *sets[MAX_SETS], workers_set[32], events_set[SL_CONF_PATH_LEN + 16];
	char socket_set[SL_CONF_PATH_LEN + 16];
	int loop = 0;
	struct sl_control *ctl = NULL;
	char *eal_argv[16], eal_buf[1024], err[512], cfg_path[SL_CONF_PATH_LEN];
	const char *config = NULL, *pcap = NULL, *events_path = NULL, *inl = NULL, *mirror = NULL;
	const char *inject = NULL;
	unsigned n_sets = 0;
	int quiet = 0, opt, eal_argc, app_argc = argc, rc, split = 0;
	char **app_argv = argv;
	static struct sl_conf conf;
	struct sl_ruleset *rs;
	struct sl_event_out *ev;
	struct sl_event_out_stats evs;
	struct sl_run_summary sum;
	struct sl_run_opts ro = {0};
	uint8_t key[SL_EVENT_KEY_LEN];

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			split = i;
			break;
		}
	if (split) {
		app_argc = argc - split;
		app_argv = argv + split;
	} else {
		app_argv = argv;
	}
	optind = 1;
	while ((opt = getopt_long(app_argc, app_argv, "c:w:qVh", lopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 's':
			if (n_sets == MAX_SETS - 2) {
				fprintf(stderr, "sluice: too many --set options\n");
				return 2;
			}
			sets[n_sets++] = optarg;
			break;
		case 'p':
			pcap = optarg;
			break;
		case 'e':
			events_path = optarg;
			break;
		case 'i':
			inl = optarg;
			break;
		case 'm':
			mirror = optarg;
			break;
		case 'j':
			inject = optarg;
			break;
		case 'l':
			loop = 1;
			break;
		case 'S':
			snprintf(socket_set, sizeof(socket_set), "control.socket=%s", optarg);
			sets[n_sets++] = socket_set;
			break;
		case 'w':
			snprintf(workers_set, sizeof(workers_set), "workers=%s", optarg);
			sets[n_sets++] = workers_set;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'V':
			printf("sluice %s\n", SL_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < app_argc) {
		fprintf(stderr, "sluice: unexpected argument '%s'\n", app_argv[optind]);
		usage(stderr);
		return 2;
	}
	if (events_path) {
		snprintf(events_set, sizeof(events_set), "events.path=%s", events_path);
		sets[n_sets++] = events_set;
	}
	if (config == NULL) {
		config = "config/sluice.conf";
		if (access(config, R_OK) != 0) {
			snprintf(cfg_path, sizeof(cfg_path), "%s/config/sluice.conf",
				 SL_SOURCE_DIR);
			config = cfg_path;
		}
	}
	rc = sl_conf_load(&conf, config, sets, n_sets, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	if (!!pcap + !!inl + !!mirror > 1) {
		fprintf(stderr, "sluice: --pcap, --inline and --mirror exclude each other\n");
		return 2;
	}
	if (inject && !mirror) {
		fprintf(stderr, "sluice: --inject goes with --mirror (an inline bridge resets "
				"through its own ports)\n");
		return 2;
	}
	if (inl || mirror) {
		rc = interface_ports(&conf, inl, mirror, inject, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "sluice: %s\n", err);
			return 2;
		}
	}
	if (pcap) {
		int truncated;

		rc = sl_capture_prepare(pcap, capture_copy, sizeof(capture_copy), &ro.pcap_packets,
					&truncated, err, sizeof(err));
		if (rc == 0 && strcmp(capture_copy, pcap))
			atexit(remove_capture_copy);
		else
			capture_copy[0] = '\0';
		if (rc) {
			fprintf(stderr, "sluice: %s\n", err);
			return 1;
		}
		if (truncated)
			fprintf(stderr,
				"sluice: warning: '%s' is truncated after %" PRIu64 " frames\n",
				pcap, ro.pcap_packets);
		/* The capture replaces the configured ports. */
		memset(conf.ports, 0, sizeof(conf.ports));
		snprintf(conf.ports[0].name, sizeof(conf.ports[0].name), "pcap0");
		snprintf(conf.ports[0].dev, sizeof(conf.ports[0].dev), "net_pcap_sl0,rx_pcap=%s%s",
			 capture_copy[0] ? capture_copy : pcap, loop ? ",infinite_rx=1" : "");
		conf.ports[0].role = SL_PORT_MIRROR;
		conf.n_ports = 1;
		/* A capture read once has an end: no control socket, a summary. Looping, it is a
		 * live input like any port. */
		ro.pcap_path = loop ? NULL : pcap;
		ro.progress = !loop && !quiet && isatty(STDERR_FILENO);
		if (!loop)
			conf.ctl_socket[0] = '\0';
	} else if (loop) {
		fprintf(stderr, "sluice: --loop needs --pcap\n");
		return 2;
	}
	rs = sl_ruleset_build(&conf, 1, conf.workers, err, sizeof(err));
	if (rs == NULL) {
		fprintf(stderr, "sluice: %s: %s\n", conf.path, err);
		return 1;
	}
	if (load_key(conf.key_path, key, err, sizeof(err))) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}

	if (split) {
		argv[split] = argv[0];
		eal_argc = split;
		rc = rte_eal_init(eal_argc, argv);
	} else {
		eal_argc = default_eal_args(argv[0], conf.workers, ro.pcap_path == NULL, eal_argv,
					    eal_buf, sizeof(eal_buf));
		rc = rte_eal_init(eal_argc, eal_argv);
	}
	if (rc < 0) {
		fprintf(stderr, "sluice: EAL initialisation failed: %s\n", strerror(rte_errno));
		return 1;
	}
	ev = sl_event_out_create(conf.events_path, conf.event_ring_size, err, sizeof(err));
	if (ev)
		sl_event_out_set_key(ev, key);
	if (ev == NULL || sl_event_out_start(ev)) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ctl = sl_control_create(&conf, &rs, ev, err, sizeof(err));
	if (ctl == NULL || sl_control_start(ctl, err, sizeof(err))) {
		fprintf(stderr, "sluice: %s\n", err);
		sl_control_free(ctl);
		sl_event_out_free(ev);
		return 1;
	}

	events_out = ev;
	signal(SIGHUP, on_sighup);
	rc = sl_run(&conf, &rs, ev, &ro, &sum, err, sizeof(err));
	sl_control_free(ctl);
	signal(SIGHUP, SIG_IGN);
	events_out = NULL;
	sl_event_out_stop(ev);
	sl_event_out_stats(ev, &evs);
	sl_event_out_free(ev);
	if (rc)
		fprintf(stderr, "sluice: %s\n", err);
	if (!rc && !quiet)
		print_summary(&conf, &sum, &evs, ro.pcap_path != NULL);
	if (!rc && evs.write_failed) {
		/* Alerts that reached no file are not a finished job. */
		fprintf(stderr, "sluice: %" PRIu64 " events could not be written to '%s': %s\n",
			evs.write_failed, conf.events_path, strerror(evs.last_errno));
		rc = 1;
	}
	sl_ruleset_free(rs);
	sl_conf_free(&conf);
	rte_eal_cleanup();
	return rc ? 1 : 0;
}
