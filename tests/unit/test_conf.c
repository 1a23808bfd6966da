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
	sl_conf_free(&c);
}

static void
test_overrides(void)
{
	char *sets[] = {"flow.capacity=1000", "events.path=\"/tmp/x.json\"", "workers=2",
			"inspection.depth=4096", "reassembly.on_cap=bypass",
			"sensors.[0].severity=3"};
	const char *path = tmpconf("flow = { capacity = 10; };\n"
				   "sensors = ( { name = \"a\"; patterns = [\"abc\"]; } );\n");

	CU_ASSERT_EQUAL_FATAL(sl_conf_load(&c, path, sets, 6, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.flow_capacity, 1000);
	CU_ASSERT_STRING_EQUAL(c.events_path, "/tmp/x.json");
	CU_ASSERT_EQUAL(c.workers, 2);
	CU_ASSERT_EQUAL(c.inspect_depth, 4096);
	CU_ASSERT_EQUAL(c.reasm_on_cap, SL_CONF_CAP_BYPASS);
	CU_ASSERT_EQUAL(c.sensors[0].severity, 3);
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
	expect_error("flow = { capacity = \"big\"; };", NULL, "'capacity' must be an integer");
	expect_error("flow = { capacity = 1; };", NULL, "out of range");
	expect_error("", "flow.capacity=lots", "must be an integer");
	expect_error("flow = { capacity = 10; };", "flow.capacity=lots", "not an integer");
	expect_error("", "novalue", "expected path=value");
	expect_error("reassembly = { on_cap = \"drop\"; };", NULL, "not inspect or bypass");
	expect_error("ports = ( { name = \"a\"; dev = \"net_null0\"; role = \"inline\"; "
		     "peer = \"b\"; } );",
		     NULL, "peer 'b' is not a port");
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

int
main(void)
{
	CU_initialize_registry();
	CU_pSuite s = CU_add_suite("conf", NULL, NULL);
	CU_add_test(s, "shipped configuration loads", test_shipped_config);
	CU_add_test(s, "empty file gives defaults", test_empty_file_defaults);
	CU_add_test(s, "--set overrides", test_overrides);
	CU_add_test(s, "errors name the place and the problem", test_errors);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails != 0;
}
