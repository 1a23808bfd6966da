/* Unit tests of sl_policy: group membership by address, VLAN and port, and rule decisions. */
#include <arpa/inet.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "sl_policy.h"

/* A flow 198.18.0.1:port0 <-> 198.19.0.2:port1 of protocol proto, in VLAN 100. */
static struct sl_flow_key
key(uint8_t proto, uint16_t port0, uint16_t port1)
{
	struct sl_flow_key k;

	memset(&k, 0, sizeof(k));
	k.ipver = 4;
	k.proto = proto;
	inet_pton(AF_INET, "198.18.0.1", k.addr[0]);
	inet_pton(AF_INET, "198.19.0.2", k.addr[1]);
	k.port[0] = port0;
	k.port[1] = port1;
	k.vlan[0] = 100;
	return k;
}

static struct sl_policy_group
group(const char *cidr)
{
	struct sl_policy_group g;

	memset(&g, 0, sizeof(g));
	CU_ASSERT_EQUAL(sl_policy_parse_net(cidr, &g.nets[0]), 0);
	g.n_nets = 1;
	return g;
}

static void
test_group_membership(void)
{
	struct sl_policy_group g = group("198.19.0.0/16");
	struct sl_flow_key tcp = key(6, 40000, 443);

	CU_ASSERT_EQUAL(sl_policy_group_contains(&g, &tcp, 1), 1);
	CU_ASSERT_EQUAL(sl_policy_group_contains(&g, &tcp, 0), 0);
	g.vlans[g.n_vlans++] = 200;
	CU_ASSERT_EQUAL(sl_policy_group_contains(&g, &tcp, 1), 0);
	g.vlans[g.n_vlans++] = 100;
	CU_ASSERT_EQUAL(sl_policy_group_contains(&g, &tcp, 1), 1);
	g.ports[g.n_ports++] = 80;
	CU_ASSERT_EQUAL(sl_policy_group_contains(&g, &tcp, 1), 0);
	g.ports[g.n_ports++] = 443;
	CU_ASSERT_EQUAL(sl_policy_group_contains(&g, &tcp, 1), 1);
}

/* An ICMP echo key holds the echo identifier where ports go: a group narrowed to ports (the
 * web servers on 443) must not take a ping whose identifier happens to be 443; a group without
 * ports holds the ICMP endpoint like any other. */
static void
test_icmp_has_no_ports(void)
{
	struct sl_policy_group g = group("198.19.0.0/16");
	struct sl_flow_key icmp = key(1, 443, 443);

	CU_ASSERT_EQUAL(sl_policy_group_contains(&g, &icmp, 1), 1);
	g.ports[g.n_ports++] = 443;
	CU_ASSERT_EQUAL(sl_policy_group_contains(&g, &icmp, 1), 0);
	icmp.proto = 58;
	CU_ASSERT_EQUAL(sl_policy_group_contains(&g, &icmp, 1), 0);

	/* So a deny toward that group leaves such a ping to the default, alert. */
	struct sl_policy p;
	memset(&p, 0, sizeof(p));
	p.mode = SL_POLICY_MODE_PROTECT;
	p.groups[0] = g;
	strcpy(p.groups[0].name, "web");
	p.n_groups = 1;
	p.rules[0] = (struct sl_policy_rule){
	    .from = SL_POLICY_ANY, .to = 0, .sensors = ~0ull, .action = SL_POLICY_DENY};
	p.n_rules = 1;
	struct sl_flow_key tcp = key(6, 40000, 443);
	struct sl_policy_verdict v = sl_policy_decide(&p, &tcp, 0, 0);
	CU_ASSERT(v.action == SL_POLICY_DENY && v.enforce);
	v = sl_policy_decide(&p, &icmp, 0, 0);
	CU_ASSERT(v.action == SL_POLICY_ALERT && !v.enforce && v.rule == -1);
}

int
main(void)
{
	CU_initialize_registry();
	CU_pSuite s = CU_add_suite("policy", NULL, NULL);
	CU_add_test(s, "group membership: address, VLAN, port", test_group_membership);
	CU_add_test(s, "a group narrowed to ports holds no ICMP endpoint", test_icmp_has_no_ports);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails != 0;
}
