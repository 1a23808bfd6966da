/* Unit tests of sl_conf: defaults, the shipped configuration, overrides and error messages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "sl_conf.h"

static struct sl_conf c;
static char err[512];

/* Writes text to a temporary file and returns its path (static buffer). */
static const char *
tmpconf(const char *text)
{
	static char path[64];
	FILE *fp;

	snprintf(path, sizeof(path), "/tmp/sl_conf_test_%d.conf", (int)getpid());
	fp = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

static void
test_shipped_config(void)
{
	int rc = sl_conf_load(&c, SL_SOURCE_DIR "/config/sluice.conf", NULL, 0, err, sizeof(err));

	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT(c.n_sensors >= 3);
	CU_ASSERT_STRING_EQUAL(c.sensors[0].name, "fr_ssn");
	CU_ASSERT_STRING_EQUAL(c.sensors[1].name, "us_ssn");
	CU_ASSERT_STRING_EQUAL(c.sensors[2].name, "credit_card");
	CU_ASSERT_EQUAL(c.inspect_depth, 0);
	CU_ASSERT_EQUAL(c.inspect_icmp, 1);
	CU_ASSERT_EQUAL(c.workers, 1);
	sl_conf_free(&c);
}

static void
test_empty_file_defaults(void)
{
	CU_ASSERT_EQUAL_FATAL(sl_conf_load(&c, tmpconf(""), NULL, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.flow_capacity, 65536);
	CU_ASSERT_EQUAL(c.n_sensors, 0);
	CU_ASSERT_EQUAL(c.n_ports, 0);
	CU_ASSERT_EQUAL(c.reasm_on_cap, SL_CONF_CAP_INSPECT);
	CU_ASSERT_EQUAL(c.inspect_udp, 1);
	CU_ASSERT_EQUAL(c.inspect_icmp, 1);
	sl_conf_free(&c);
	CU_ASSERT_EQUAL_FATAL(
	    sl_conf_load(&c, tmpconf(""), (char *[]){"inspection.udp=false"}, 1, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(c.inspect_udp, 0);
	CU_ASSERT_EQUAL(c.inspect_icmp, 1);
	sl_conf_free(&c);
	CU_ASSERT_EQUAL_FATAL(
	    sl_conf_load(&c, tmpconf(""), (char *[]){"inspection.icmp=false"}, 1, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(c.inspect_icmp, 0);
	CU_ASSERT_EQUAL(c.inspect_udp, 1);
	sl_conf_free(&c);
}

static void
test_overrides(void)
{
	char *sets[] = {
	    "flow.capacity=1000",    "events.path=\"/tmp/x.json\"", "workers=2",
	    "inspection.depth=4096", "reassembly.on_cap=bypass",    "sensors.[0].severity=3",
	    "http.mime_states=7"};
	const char *path = tmpconf("flow = { capacity = 10; };\n"
				   "sensors = ( { name = \"a\"; patterns = [\"abc\"]; } );\n");

	CU_ASSERT_EQUAL_FATAL(sl_conf_load(&c, path, sets, 7, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.flow_capacity, 1000);
	CU_ASSERT_STRING_EQUAL(c.events_path, "/tmp/x.json");
	CU_ASSERT_EQUAL(c.workers, 2);
	CU_ASSERT_EQUAL(c.inspect_depth, 4096);
	CU_ASSERT_EQUAL(c.reasm_on_cap, SL_CONF_CAP_BYPASS);
	CU_ASSERT_EQUAL(c.sensors[0].severity, 3);
	CU_ASSERT_EQUAL(c.http_mime, 7);
	sl_conf_free(&c);
}

/* Each bad input is refused with a message containing `want`. */
static void
expect_error(const char *text, char *set, const char *want)
{
	char *sets[1] = {set};
	int rc = sl_conf_load(&c, tmpconf(text), sets, set ? 1 : 0, err, sizeof(err));

	CU_ASSERT_NOT_EQUAL(rc, 0);
	if (strstr(err, want) == NULL) {
		fprintf(stderr, "\n  error '%s' lacks '%s'\n", err, want);
		CU_FAIL("error message");
	}
}

static void
test_errors(void)
{
	expect_error("flow = { capacity = ; };", NULL, ":1: ");
	expect_error("flw = { capacity = 10; };", NULL, "unknown setting 'flw'");
	/* A misspelt setting anywhere is refused, with the file, line and the names allowed. */
	expect_error("http = {\n max_flow = 10;\n};", NULL,
		     ":2: http: unknown setting 'max_flow' (known: max_flows,");
	expect_error("", "http.flows=0", "http: unknown setting 'flows'");
	expect_error("", "http.mime_states=65536", "mime_states");
	expect_error("events = 3;", NULL, "events must be a group");
	expect_error("sensors = ( { name = \"a\"; pattern = [\"x\"]; } );", NULL,
		     "sensor 'a': unknown setting 'pattern'");
	expect_error("ports = ( { name = \"a\"; dev = \"net_null0\"; rol = \"mirror\"; } );", NULL,
		     "port 0: unknown setting 'rol'");
	expect_error("policy = { mode = \"monitor\"; fial = \"open\"; };", NULL,
		     "policy: unknown setting 'fial'");
	expect_error("policy = { groups = ( { name = \"g\"; cidrs = [\"198.18.0.0/15\"]; "
		     "vlan = [1]; } ); };",
		     NULL, "group 'g': unknown setting 'vlan'");
	expect_error("policy = { rules = ( { action = \"deny\"; sensor = [\"a\"]; } ); };", NULL,
		     "rule 0: unknown setting 'sensor'");
	expect_error("flow = { capacity = \"big\"; };", NULL, "'capacity' must be an integer");
	expect_error("flow = { capacity = 1; };", NULL, "out of range");
	expect_error("", "flow.capacity=lots", "must be an integer");
	expect_error("flow = { capacity = 10; };", "flow.capacity=lots", "not an integer");
	expect_error("", "novalue", "expected path=value");
	expect_error("reassembly = { on_cap = \"drop\"; };", NULL, "not inspect or bypass");
	/* Booleans are true or false: libconfig's own lookup would ignore anything else. */
	expect_error("inspection = { udp = 1; };", NULL, "'udp' must be true or false");
	expect_error("inspection = { icmp = \"no\"; };", NULL, "'icmp' must be true or false");
	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; caseless = \"yes\"; } );",
		     NULL, "'caseless' must be true or false");
	expect_error("ports = ( { name = \"a\"; dev = \"net_null0\"; role = \"inline\"; "
		     "peer = \"b\"; } );",
		     NULL, "peer 'b' is not another inline port");
	/* Injection: a mirror port names a port whose role is inject; nothing else has one. */
	expect_error("ports = ( { name = \"a\"; dev = \"x\"; inject = \"b\"; }, "
		     "{ name = \"b\"; dev = \"y\"; role = \"mirror\"; } );",
		     NULL, "mirror port 'a': inject 'b' is not a port with role \"inject\"");
	expect_error("ports = ( { name = \"a\"; dev = \"x\"; role = \"inline\"; peer = \"b\"; "
		     "inject = \"c\"; } );",
		     NULL, "port 'a': only mirror ports have 'inject'");
	expect_error("ports = ( { name = \"a\"; dev = \"x\"; role = \"inject\"; peer = \"b\"; "
		     "} );",
		     NULL, "port 'a': only inline ports have a 'peer'");
	expect_error("ports = ( { name = \"a\"; dev = \"x\"; role = \"inline\"; peer = \"b\"; "
		     "}, { name = \"b\"; dev = \"y\"; } );",
		     NULL, "peer 'b' is not another inline port");
	expect_error("ports = ( { name = \"a\"; dev = \"x\"; role = \"tap\"; } );", NULL,
		     "role 'tap'");
	expect_error("sensors = ( { name = \"a\"; } );", NULL, "'patterns' must be");
	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; contexts = [\"body\", "
		     "\"cookie\"]; } );",
		     NULL, "unknown context 'cookie'");
	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; }, { name = \"a\"; "
		     "patterns = [\"y\"]; } );",
		     NULL, "defined twice");
	CU_ASSERT_EQUAL(sl_conf_load(&c, "/nonexistent/sluice.conf", NULL, 0, err, sizeof(err)),
			-ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/sluice.conf"));
}

/* A mirror port with an injection port. */
static void
test_inject_port(void)
{
	const char *path =
	    tmpconf("ports = ( { name = \"tap\"; dev = \"net_null0\"; inject = "
		    "\"inj\"; },\n"
		    "  { name = \"inj\"; dev = \"net_null1\"; role = \"inject\"; } );\n");

	CU_ASSERT_EQUAL_FATAL(sl_conf_load(&c, path, NULL, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.n_ports, 2);
	CU_ASSERT_EQUAL(c.ports[0].role, SL_PORT_MIRROR);
	CU_ASSERT_STRING_EQUAL(c.ports[0].inject, "inj");
	CU_ASSERT_EQUAL(c.ports[1].role, SL_PORT_INJECT);
	CU_ASSERT_STRING_EQUAL(sl_conf_port_role_name(c.ports[1].role), "inject");
	sl_conf_free(&c);
}

/* Keywords: near (strings, UTF-8 as written) and within (default 64). */
static void
test_sensor_near(void)
{
	const char *path =
	    tmpconf("sensors = (\n"
		    " { name = \"a\"; patterns = [\"x\"]; near = [\"nir\", \"s\xc3\xa9"
		    "curit\xc3\xa9 "
		    "sociale\"]; within = 32; },\n"
		    " { name = \"b\"; patterns = [\"y\"]; near = [\"ssn\"]; },\n"
		    " { name = \"c\"; patterns = [\"z\"]; }\n"
		    ");\n");
	char *sets[] = {"sensors.[1].within=100"};

	CU_ASSERT_EQUAL_FATAL(sl_conf_load(&c, path, NULL, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.sensors[0].n_near, 2);
	CU_ASSERT_STRING_EQUAL(c.sensors[0].near[0], "nir");
	CU_ASSERT_STRING_EQUAL(c.sensors[0].near[1], "s\xc3\xa9"
						     "curit\xc3\xa9 sociale");
	CU_ASSERT_EQUAL(c.sensors[0].within, 32);
	CU_ASSERT_EQUAL(c.sensors[1].n_near, 1);
	CU_ASSERT_EQUAL(c.sensors[1].within, SL_SCAN_NEAR_WITHIN);
	CU_ASSERT_EQUAL(c.sensors[2].n_near, 0);
	sl_conf_free(&c);
	CU_ASSERT_EQUAL_FATAL(sl_conf_load(&c, path, sets, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.sensors[1].within, 100);
	sl_conf_free(&c);

	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; within = 10; } );", NULL,
		     "'within' needs 'near'");
	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; near = [\"k\"]; within = 0; "
		     "} );",
		     NULL, "out of range");
	expect_error(
	    "sensors = ( { name = \"a\"; patterns = [\"x\"]; near = [\"k\"]; within = 129; "
	    "} );",
	    NULL, "'within' = 129 is out of range [1, 128]");
	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; near = \"k\"; } );", NULL,
		     "'near' must be an array of 1 to 8 strings");
	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; near = []; } );", NULL,
		     "'near' must be an array");
	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; near = [1, 2]; } );", NULL,
		     "keyword 1 must be a string");
	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; near = [\"\"]; } );", NULL,
		     "keyword 1 must be a string of 1 to 48 bytes");
	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; near = [\"k\", "
		     "\"0123456789012345678901234567890123456789012345678\"]; } );",
		     NULL, ":1: sensor 'a': keyword 2");
	expect_error("sensors = ( { name = \"a\"; patterns = [\"x\"]; near = [\"1\", \"2\", \"3\", "
		     "\"4\", \"5\", \"6\", \"7\", \"8\", \"9\"]; } );",
		     NULL, "1 to 8 strings");
}

int
main(void)
{
	CU_initialize_registry();
	CU_pSuite s = CU_add_suite("conf", NULL, NULL);
	CU_add_test(s, "shipped configuration loads", test_shipped_config);
	CU_add_test(s, "empty file gives defaults", test_empty_file_defaults);
	CU_add_test(s, "--set overrides", test_overrides);
	CU_add_test(s, "errors name the place and the problem", test_errors);
	CU_add_test(s, "a mirror port with an injection port", test_inject_port);
	CU_add_test(s, "sensor keywords: near and within", test_sensor_near);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails != 0;
}
