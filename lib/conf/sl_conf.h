/* sl_conf: the configuration of one sluice process, read from a libconfig file.
 *
 * sl_conf_load reads the file, applies `--set path=value` overrides on top of it (a path names any
 * setting, e.g. "flow.capacity" or "sensors.[0].severity"; a missing scalar is created), checks
 * every value and fills a plain struct that the rest of the program reads. Errors name the file
 * and line (or the override) and what is wrong. Nothing here runs on the data path. */
#ifndef SL_CONF_H
#define SL_CONF_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_policy.h"
#include "sl_scan.h"

#define SL_CONF_MAX_PORTS 8
#define SL_CONF_PATH_LEN  512

enum sl_conf_port_role {
	SL_PORT_MIRROR = 0, /* receive only: TAP/SPAN copy, never transmits */
	SL_PORT_INLINE,	    /* bump in the wire with its peer port */
	SL_PORT_INJECT,	    /* transmit only: TCP resets for flows seen on mirror ports */
};

/* "mirror", "inline" or "inject". */
const char *sl_conf_port_role_name(enum sl_conf_port_role role);

struct sl_conf_port {
	char name[32];
	char dev[SL_CONF_PATH_LEN]; /* DPDK device: PCI address or vdev string (net_pcap0,...) */
	enum sl_conf_port_role role;
	char peer[32];	 /* inline: name of the port frames leave through */
	char inject[32]; /* mirror: "" or the name of the port resets are injected through */
};

struct sl_conf {
	char path[SL_CONF_PATH_LEN];
	unsigned workers;
	/* events */
	char events_path[SL_CONF_PATH_LEN];
	uint32_t event_ring_size;
	char key_path[SL_CONF_PATH_LEN]; /* key of value hashes, created 0600 if missing */
	/* management socket */
	char ctl_socket[SL_CONF_PATH_LEN]; /* "" = no socket */
	char ctl_group[32];		   /* group allowed besides root; "" = root only */
	/* packet buffers */
	uint32_t mbufs;
	/* flows */
	uint32_t flow_capacity;
	uint32_t tcp_idle_timeout_s;
	uint32_t udp_idle_timeout_s; /* also ICMP flows */
	uint32_t defrag_datagrams; /* IP datagrams reassembled at once per worker; 0: fragments are
				    * counted, not reassembled */
	uint32_t defrag_timeout_s; /* an incomplete datagram is given up after this */
	/* reassembly */
	uint64_t reasm_bytes_per_flow;
	uint64_t reasm_bytes_per_worker;
	uint32_t reasm_segments;
	enum sl_tcp_cap_choice { SL_CONF_CAP_INSPECT = 0, SL_CONF_CAP_BYPASS } reasm_on_cap;
	/* inspection */
	uint64_t inspect_depth; /* bytes per flow direction; 0 = unlimited */
	uint8_t inspect_udp;	/* scan UDP payloads, each datagram on its own */
	uint8_t inspect_icmp;	/* scan ICMP echo data, each message on its own */
	/* HTTP */
	uint32_t http_flows;	   /* HTTP decoding states per worker (others are scanned raw) */
	uint32_t http_inflate;	   /* decompression states per worker */
	uint32_t http_zstd;	   /* zstd decoders per worker (8 MiB windows) */
	uint32_t http_br;	   /* brotli decoders per worker (20 MiB arenas) */
	uint32_t http_mime;	   /* nested multipart stacks per worker */
	uint32_t http_max_line;	   /* bytes per request/status/header line */
	uint32_t http_max_headers; /* header lines per message */
	uint64_t http_max_body;	   /* decoded bytes per compressed body; 0 = no cap */
	uint32_t http_max_ratio;   /* decoded:compressed bytes per body; 0 = no cap */
	enum sl_conf_uninspectable {
		SL_CONF_UNINSPECTABLE_PASS = 0, /* count only */
		SL_CONF_UNINSPECTABLE_ALERT,	/* raise an event */
		SL_CONF_UNINSPECTABLE_DENY,	/* raise an event and apply deny */
	} on_uninspectable;
	/* ports */
	struct sl_conf_port ports[SL_CONF_MAX_PORTS];
	unsigned n_ports;
	/* policy: groups are parsed here; rules name groups and sensors, resolved when a ruleset
	 * is built against a compiled sensor database */
	struct sl_policy policy;
	struct sl_conf_rule {
		char from[32], to[32];				     /* group names or "any" */
		char sensors[SL_SCAN_MAX_SENSORS][SL_SCAN_NAME_LEN]; /* none = every sensor */
		unsigned n_sensors;
		enum sl_policy_action action;
	} rules[SL_POLICY_MAX_RULES];
	unsigned n_rules;
	enum sl_policy_fail fail_inline; /* what inline ports do with what cannot be inspected */
	/* sensors: patterns point into strings owned by this struct */
	struct sl_sensor_def sensors[SL_SCAN_MAX_SENSORS];
	unsigned n_sensors;
};

/* Loads `path` and applies n_sets "path=value" overrides. Returns 0, or -EINVAL/-ENOENT with a
 * message "FILE:LINE: what is wrong" in err. On failure *c holds nothing to free. */
int sl_conf_load(struct sl_conf *c, const char *path, char *const *sets, unsigned n_sets, char *err,
		 size_t errlen);

/* Index in c->ports of the port named `name` other than ports[self] (a peer, an injection
 * port), or -1. */
int sl_conf_port_index(const struct sl_conf *c, const char *name, unsigned self);

/* Frees the strings a loaded configuration owns. */
void sl_conf_free(struct sl_conf *c);

#endif /* SL_CONF_H */
