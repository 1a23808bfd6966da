/* Unit tests of the management plane's action functions, called directly as the socket's
 * command table calls them (no socket, no running data path). */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>
#include <rte_common.h>
#include <rte_eal.h>

#include "sl_control.h"

static struct sl_conf conf;
static struct sl_ruleset *rs;
static struct sl_control *ctl;

typedef int (*action_fn)(struct sl_control *, struct sl_ctl_client *, json_t *, json_t **,
			 struct sl_ctl_error *);

/* Runs an action with args given as JSON text; returns its result (caller decrefs) or NULL, and
 * the error code in *code ("" on success). */
static json_t *
run(action_fn fn, const char *args, const char **code)
{
	struct sl_ctl_error err = {0};
	json_t *a = json_loads(args, 0, NULL), *res = NULL;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	rc = fn(ctl, NULL, a, &res, &err);
	json_decref(a);
	*code = rc == 0 ? "" : err.code;
	if (rc != 0)
		CU_ASSERT_PTR_NULL(res);
	return res;
}

static json_t *
ok(action_fn fn, const char *args)
{
	const char *code;
	json_t *r = run(fn, args, &code);

	if (*code)
		fprintf(stderr, "\n  unexpected error %s for %s\n", code, args);
	CU_ASSERT_STRING_EQUAL(code, "");
	return r;
}

static void
fails(action_fn fn, const char *args, const char *want)
{
	const char *code;
	json_t *r = run(fn, args, &code);

	if (strcmp(code, want))
		fprintf(stderr, "\n  %s: got '%s', want '%s'\n", args, code, want);
	CU_ASSERT_STRING_EQUAL(code, want);
	json_decref(r);
}

static void
test_version_status_stats(void)
{
	json_t *r = ok(sl_action_version, "{}");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "version")), SL_VERSION);
	json_decref(r);
	r = ok(sl_action_status, "{}");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "mode")), "monitor");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "sensors")), 4);
	json_decref(r);
	r = ok(sl_action_stats, "{}");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(r, "sensors")), 4);
	CU_ASSERT(json_is_array(json_object_get(r, "workers")));
	json_decref(r);
}

static unsigned
n_sensors(void)
{
	json_t *r = ok(sl_action_sensors_list, "{}");
	unsigned n = (unsigned)json_array_size(r);

	json_decref(r);
	return n;
}

static void
test_sensors_crud(void)
{
	uint64_t gen = rs->generation;
	json_t *r;

	r = ok(sl_action_sensors_get, "{\"name\": \"fr_ssn\"}");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "validator")), "nir");
	CU_ASSERT(json_array_size(json_object_get(r, "patterns")) >= 1);
	json_decref(r);
	fails(sl_action_sensors_get, "{\"name\": \"nope\"}", "not_found");
	fails(sl_action_sensors_get, "{\"name\": 5}", "bad_args");
	fails(sl_action_sensors_get, "{}", "bad_args");

	r = ok(sl_action_sensors_add,
	       "{\"name\": \"project\", \"pattern\": \"project-[a-z]{5}\", \"severity\": 3, "
	       "\"contexts\": [\"body\", \"raw\"]}");
	json_decref(r);
	CU_ASSERT_EQUAL(n_sensors(), 5);
	CU_ASSERT(rs->generation > gen); /* a new ruleset is in force */
	CU_ASSERT_EQUAL(sl_scan_db_sensor_count(rs->db), 5);
	fails(sl_action_sensors_add, "{\"name\": \"project\", \"pattern\": \"x\"}", "exists");
	fails(sl_action_sensors_add, "{\"name\": \"bad\", \"pattern\": \"(ab\"}", "compile_error");
	fails(sl_action_sensors_add, "{\"name\": \"bad\", \"pattern\": \"x\", \"severity\": 9}",
	      "bad_args");
	fails(sl_action_sensors_add, "{\"name\": \"bad\", \"pattern\": \"x\", \"colour\": 1}",
	      "bad_args");
	fails(sl_action_sensors_add,
	      "{\"name\": \"bad\", \"pattern\": \"x\", \"contexts\": "
	      "[\"cookie\"]}",
	      "bad_args");
	fails(sl_action_sensors_add, "{\"name\": \"bad\"}", "bad_args");
	CU_ASSERT_EQUAL(n_sensors(), 5); /* refused changes change nothing */
	CU_ASSERT_EQUAL(sl_scan_db_sensor_count(rs->db), 5);

	r = ok(sl_action_sensors_update, "{\"name\": \"project\", \"min_count\": 2}");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "min_count")), 2);
	json_decref(r);
	fails(sl_action_sensors_update, "{\"name\": \"project\", \"pattern\": \"[\"}",
	      "compile_error");
	r = ok(sl_action_sensors_get, "{\"name\": \"project\"}");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(r, "patterns"), 0)),
			       "project-[a-z]{5}");
	json_decref(r);

	r = ok(sl_action_sensors_delete, "{\"name\": \"project\"}");
	json_decref(r);
	CU_ASSERT_EQUAL(n_sensors(), 4);
	fails(sl_action_sensors_delete, "{\"name\": \"project\"}", "not_found");
}

static void
test_policies_and_mode(void)
{
	json_t *r;

	r = ok(sl_action_policies_set,
	       "{\"groups\": [{\"name\": \"clients\", \"cidrs\": [\"198.18.0.0/24\", "
	       "\"2001:db8::/64\"]}], \"rules\": [{\"from\": \"clients\", \"sensors\": "
	       "[\"fr_ssn\"], \"action\": \"deny\"}]}");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(r, "rules")), 1);
	json_decref(r);
	CU_ASSERT_EQUAL(rs->policy.n_rules, 1);
	CU_ASSERT_EQUAL(rs->policy.rules[0].action, SL_POLICY_DENY);
	fails(sl_action_policies_set, "{\"rules\": [{\"from\": \"nobody\", \"action\": \"deny\"}]}",
	      "not_found");
	fails(sl_action_policies_set,
	      "{\"rules\": [{\"sensors\": [\"zz\"], \"action\": \"deny\"}]}", "not_found");
	fails(sl_action_policies_set, "{\"rules\": [{\"action\": \"explode\"}]}", "bad_args");
	fails(sl_action_policies_set,
	      "{\"groups\": [{\"name\": \"g\", \"cidrs\": [\"10.0.0\"]}], "
	      "\"rules\": []}",
	      "bad_args");
	/* a rule names fr_ssn: it cannot be deleted first */
	fails(sl_action_sensors_delete, "{\"name\": \"fr_ssn\"}", "bad_args");

	r = ok(sl_action_mode_set, "{\"mode\": \"protect\"}");
	json_decref(r);
	CU_ASSERT_EQUAL(rs->policy.mode, SL_POLICY_MODE_PROTECT);
	r = ok(sl_action_mode_set, "{\"mode\": \"monitor\", \"group\": \"clients\"}");
	json_decref(r);
	CU_ASSERT_EQUAL(rs->policy.groups[0].mode, SL_POLICY_MODE_MONITOR);
	fails(sl_action_mode_set, "{\"mode\": \"panic\"}", "bad_args");
	fails(sl_action_mode_set, "{\"mode\": \"protect\", \"group\": \"zz\"}", "not_found");
	r = ok(sl_action_policies_list, "{}");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "mode")), "protect");
	json_decref(r);
	r = ok(sl_action_policies_set, "{\"rules\": [], \"mode\": \"monitor\"}");
	json_decref(r);
}

static void
test_misc(void)
{
	json_t *r = ok(sl_action_events_tail, "{\"n\": 5}");
	CU_ASSERT(json_is_array(r));
	json_decref(r);
	fails(sl_action_events_tail, "{\"n\": 0}", "bad_args");
	fails(sl_action_events_follow, "{}", "unsupported"); /* needs a connection */
	r = ok(sl_action_flows_top, "{\"n\": 3}");
	CU_ASSERT_EQUAL(json_array_size(r), 0);
	json_decref(r);
	r = ok(sl_action_log_level, "{\"level\": \"debug\"}");
	json_decref(r);
	fails(sl_action_log_level, "{\"level\": \"loud\"}", "bad_args");
	/* the test runs with a smaller flow table than the file says: that needs a restart */
	r = ok(sl_action_config_reload, "{}");
	json_t *rr = json_object_get(r, "restart_required");
	CU_ASSERT_EQUAL(json_array_size(rr), 1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(rr, 0)), "flow.capacity");
	json_decref(r);
	CU_ASSERT_EQUAL(n_sensors(), 4);
}

int
main(void)
{
	char *eal[] = {"test_control", "--no-huge",	    "-m", "128", "--no-pci",
		       "--no-shconf",  "--log-level=error", "-l", "0",	 "--no-telemetry"};
	char err[512];

	if (rte_eal_init(RTE_DIM(eal), eal) < 0)
		return 1;
	if (sl_conf_load(&conf, SL_SOURCE_DIR "/config/sluice.conf", NULL, 0, err, sizeof(err)) ||
	    (conf.flow_capacity = 64, conf.http_flows = 8, 0) ||
	    (rs = sl_ruleset_build(&conf, 1, 1, err, sizeof(err))) == NULL ||
	    (ctl = sl_control_create(&conf, &rs, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	CU_initialize_registry();
	CU_pSuite s = CU_add_suite("control", NULL, NULL);
	CU_add_test(s, "version, status, stats", test_version_status_stats);
	CU_add_test(s, "sensors: get, add, update, delete, refusals", test_sensors_crud);
	CU_add_test(s, "policies and mode", test_policies_and_mode);
	CU_add_test(s, "events, flows, log level, reload", test_misc);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails_n = CU_get_number_of_failures();
	CU_cleanup_registry();
	sl_control_free(ctl);
	sl_ruleset_free(rs);
	sl_conf_free(&conf);
	rte_eal_cleanup();
	return fails_n != 0;
}
