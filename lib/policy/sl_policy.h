/* sl_policy: who may send which personal data where, and whether a deny is enforced.
 *
 * Groups are named sets of networks (IPv4 and IPv6 CIDRs), optionally narrowed to VLAN IDs and
 * ports. Rules say: from a group (or any), to a group (or any), for these sensors (or all), the
 * action is alert or deny; the first matching rule wins and no matching rule means alert. A mode,
 * monitor or protect, applies globally and can be overridden per group (the sender's group
 * first, then the receiver's): a deny in monitor mode is reported as `would_block`, in protect
 * mode it is enforced. A policy is immutable once built; deciding allocates nothing and runs only
 * when a sensor fires, so a linear walk of the rules is the right structure. */
#ifndef SL_POLICY_H
#define SL_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "sl_pkt.h"

#define SL_POLICY_MAX_GROUPS 32
#define SL_POLICY_MAX_NETS   16 /* CIDRs per group */
#define SL_POLICY_MAX_LIST   16 /* VLANs or ports per group */
#define SL_POLICY_MAX_RULES  64
#define SL_POLICY_ANY	     -1

enum sl_policy_mode {
	SL_POLICY_MODE_INHERIT = 0, /* groups only: use the global mode */
	SL_POLICY_MODE_MONITOR,
	SL_POLICY_MODE_PROTECT,
};

enum sl_policy_action {
	SL_POLICY_ALERT = 0,
	SL_POLICY_DENY,
};

enum sl_policy_fail {
	SL_POLICY_FAIL_OPEN = 0, /* what cannot be inspected is forwarded (counted) */
	SL_POLICY_FAIL_CLOSED,	 /* ... or dropped (counted) */
};

struct sl_policy_net {
	uint8_t ipver;
	uint8_t prefix;
	uint8_t addr[16];
};

struct sl_policy_group {
	char name[32];
	struct sl_policy_net nets[SL_POLICY_MAX_NETS];
	unsigned n_nets;
	uint16_t vlans[SL_POLICY_MAX_LIST]; /* empty = any VLAN */
	unsigned n_vlans;
	uint16_t ports[SL_POLICY_MAX_LIST]; /* empty = any port */
	unsigned n_ports;
	enum sl_policy_mode mode;
};

struct sl_policy_rule {
	int from, to;	  /* group index or SL_POLICY_ANY */
	uint64_t sensors; /* bit i = sensor index i of the ruleset's database */
	enum sl_policy_action action;
};

struct sl_policy {
	enum sl_policy_mode mode; /* global: MONITOR or PROTECT */
	enum sl_policy_fail fail;
	struct sl_policy_group groups[SL_POLICY_MAX_GROUPS];
	unsigned n_groups;
	struct sl_policy_rule rules[SL_POLICY_MAX_RULES];
	unsigned n_rules;
};

/* What a sensor match leads to. */
struct sl_policy_verdict {
	enum sl_policy_action action;
	uint8_t enforce; /* deny and protect mode */
	int rule;	 /* index of the matching rule, or -1 for the default */
};

/* Parses "198.18.0.0/15", "2001:db8::/32" or a bare address. Returns 0 or -EINVAL. */
int sl_policy_parse_net(const char *text, struct sl_policy_net *out);

/* Parses "monitor"/"protect" (and "inherit" when allow_inherit). Returns the mode or -1. */
int sl_policy_parse_mode(const char *text, int allow_inherit);
const char *sl_policy_mode_name(enum sl_policy_mode m);

/* Index of the group called name, or -1. */
int sl_policy_group_find(const struct sl_policy *p, const char *name);

/* 1 when side `side` of key (address, its port, the flow's VLANs) belongs to group g. Ports
 * are TCP's and UDP's: a group narrowed to ports never holds an ICMP endpoint. */
int sl_policy_group_contains(const struct sl_policy_group *g, const struct sl_flow_key *k,
			     int side);

/* Decides for a match of sensor index `sensor` in bytes sent by key side `src_side`. */
struct sl_policy_verdict sl_policy_decide(const struct sl_policy *p, const struct sl_flow_key *k,
					  int src_side, unsigned sensor);

#endif /* SL_POLICY_H */
