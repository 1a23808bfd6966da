/* sl_policy: group membership and first-match rule evaluation (see sl_policy.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_policy.h"

int
sl_policy_parse_net(const char *text, struct sl_policy_net *out)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	long prefix;
	char *end;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->ipver = 4;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->ipver = 6;
	else
		return -EINVAL;
	prefix = out->ipver == 4 ? 32 : 128;
	if (slash) {
		prefix = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || prefix < 0 ||
		    prefix > (out->ipver == 4 ? 32 : 128))
			return -EINVAL;
	}
	out->prefix = (uint8_t)prefix;
	return 0;
}

int
sl_policy_parse_mode(const char *text, int allow_inherit)
{
	if (!strcmp(text, "monitor"))
		return SL_POLICY_MODE_MONITOR;
	if (!strcmp(text, "protect"))
		return SL_POLICY_MODE_PROTECT;
	if (allow_inherit && !strcmp(text, "inherit"))
		return SL_POLICY_MODE_INHERIT;
	return -1;
}

const char *
sl_policy_mode_name(enum sl_policy_mode m)
{
	return m == SL_POLICY_MODE_MONITOR   ? "monitor"
	       : m == SL_POLICY_MODE_PROTECT ? "protect"
					     : "inherit";
}

int
sl_policy_group_find(const struct sl_policy *p, const char *name)
{
	for (unsigned i = 0; i < p->n_groups; i++)
		if (!strcmp(p->groups[i].name, name))
			return (int)i;
	return -1;
}

static int
net_contains(const struct sl_policy_net *n, uint8_t ipver, const uint8_t *addr)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;

	if (n->ipver != ipver || memcmp(n->addr, addr, full))
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (n->addr[full] & mask) == (addr[full] & mask);
}

int
sl_policy_group_contains(const struct sl_policy_group *g, const struct sl_flow_key *k, int side)
{
	int ok = 0;

	for (unsigned i = 0; i < g->n_nets && !ok; i++)
		ok = net_contains(&g->nets[i], k->ipver, k->addr[side]);
	if (!ok)
		return 0;
	if (g->n_vlans) {
		ok = 0;
		for (unsigned i = 0; i < g->n_vlans && !ok; i++)
			ok = g->vlans[i] == k->vlan[0] || (k->vlan[1] && g->vlans[i] == k->vlan[1]);
		if (!ok)
			return 0;
	}
	if (g->n_ports) {
		/* An ICMP key's "ports" are its echo identifier, no service to match. */
		if (sl_pkt_proto_icmp(k->proto))
			return 0;
		ok = 0;
		for (unsigned i = 0; i < g->n_ports && !ok; i++)
			ok = g->ports[i] == k->port[side];
	}
	return ok;
}

static int
in_group(const struct sl_policy *p, int g, const struct sl_flow_key *k, int side)
{
	return g == SL_POLICY_ANY || sl_policy_group_contains(&p->groups[g], k, side);
}

/* The mode in force for a flow: the sender's group, then the receiver's, then global. */
static enum sl_policy_mode
mode_for(const struct sl_policy *p, const struct sl_flow_key *k, int src_side)
{
	for (int pass = 0; pass < 2; pass++) {
		int side = pass == 0 ? src_side : !src_side;

		for (unsigned i = 0; i < p->n_groups; i++)
			if (p->groups[i].mode != SL_POLICY_MODE_INHERIT &&
			    sl_policy_group_contains(&p->groups[i], k, side))
				return p->groups[i].mode;
	}
	return p->mode;
}

struct sl_policy_verdict
sl_policy_decide(const struct sl_policy *p, const struct sl_flow_key *k, int src_side,
		 unsigned sensor)
{
	struct sl_policy_verdict v = {SL_POLICY_ALERT, 0, -1};

	for (unsigned i = 0; i < p->n_rules; i++) {
		const struct sl_policy_rule *r = &p->rules[i];

		if (sensor < 64 && !(r->sensors & (1ull << sensor)))
			continue;
		if (!in_group(p, r->from, k, src_side) || !in_group(p, r->to, k, !src_side))
			continue;
		v.action = r->action;
		v.rule = (int)i;
		break;
	}
	v.enforce =
	    v.action == SL_POLICY_DENY && mode_for(p, k, src_side) == SL_POLICY_MODE_PROTECT;
	return v;
}
