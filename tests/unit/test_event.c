/* Unit tests of sl_event: EVE rendering, Community ID, keyed value hash, ring and writer. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <jansson.h>
#include <rte_common.h>
#include <rte_eal.h>

#include "sl_event.h"

static void
v4(uint8_t *a, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
	a[0] = b0;
	a[1] = b1;
	a[2] = b2;
	a[3] = b3;
}

static void
test_community_id(void)
{
	/* Test vector of the Community ID specification (TCP, seed 0). */
	struct sl_flow_key k;
	char out[64];

	memset(&k, 0, sizeof(k));
	k.ipver = 4;
	k.proto = 6;
	v4(k.addr[0], 66, 35, 250, 204);
	k.port[0] = 80;
	v4(k.addr[1], 128, 232, 110, 120);
	k.port[1] = 34855;
	sl_event_community_id(&k, 0, 0, 0, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
}

static void
v6(uint8_t *a, const char *text)
{
	CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET6, text, a), 1);
}

/* The ID of an ICMP flow whose key side `side` sent a message of this type and code. */
static const char *
icmp_id(const struct sl_flow_key *k, unsigned side, uint8_t type, uint8_t code)
{
	static char out[64];

	sl_event_community_id(k, side, type, code, out, sizeof(out));
	return out;
}

/* ICMP: type and code stand for the ports. Vectors of the specification's reference
 * implementation (pycommunityid's tests; the keys' "ports" are an echo identifier, which the ID
 * ignores), then the same-host case with a value from an independent implementation. */
static void
test_community_id_icmp(void)
{
	struct sl_flow_key k;

	memset(&k, 0, sizeof(k));
	k.ipver = 4;
	k.proto = 1;
	k.port[0] = k.port[1] = 4242;
	v4(k.addr[0], 192, 168, 0, 1);
	v4(k.addr[1], 192, 168, 0, 89);
	/* .89 pings .1: request and reply, either way round, have one ID */
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 1, 8, 0), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 0, 0, 0), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 0, 0, 20), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
	/* type 20 has no counterpart: one-way, hashed as sent, the code standing for a port */
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 1, 20, 0), "1:3o2RFccXzUgjl7zDpqmY7yJi8rI=");
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 1, 20, 1), "1:tz/fHIDUHs19NkixVVoOZywde+I=");

	k.ipver = 6;
	k.proto = 58;
	v6(k.addr[0], "fe80::200:86ff:fe05:80da");
	v6(k.addr[1], "fe80::260:97ff:fe07:69ea");
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 0, 135, 0), "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=");
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 1, 136, 0), "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=");
	v6(k.addr[0], "3ffe:507:0:1:200:86ff:fe05:80da");
	v6(k.addr[1], "3ffe:507:0:1:260:97ff:fe07:69ea");
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 1, 3, 0), "1:NdobDX8PQNJbAyfkWxhtL2Pqp5w=");
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 0, 3, 0), "1:/OGBt9BN1ofenrmSPWYicpij2Vc=");

	/* A host pinging itself: the types order the ends. */
	k.ipver = 4;
	k.proto = 1;
	memset(k.addr, 0, sizeof(k.addr));
	v4(k.addr[0], 198, 18, 0, 1);
	v4(k.addr[1], 198, 18, 0, 1);
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 0, 8, 0), "1:M6mjAKLJoh5im18NJyhhQos0/jo=");
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 0, 0, 0), "1:M6mjAKLJoh5im18NJyhhQos0/jo=");

	/* A protocol without ports (the specification's vector, IP protocol 46). */
	k.proto = 46;
	k.port[0] = k.port[1] = 0;
	v4(k.addr[0], 10, 1, 12, 1);
	v4(k.addr[1], 10, 1, 24, 4);
	CU_ASSERT_STRING_EQUAL(icmp_id(&k, 0, 0, 0), "1:/nQI4Rh/TtY3mf0R2gJFBkVlgS4=");
}

static void
test_value_hash(void)
{
	/* RFC 4231 test case 2 (key "Jefe"; HMAC zero-pads keys, so a padded key is the same). */
	uint8_t key[SL_EVENT_KEY_LEN] = {'J', 'e', 'f', 'e'};
	const char *msg = "what do ya want for nothing?";
	char out[20];

	sl_event_value_hash(key, (const uint8_t *)msg, strlen(msg), out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "5bdcc146bf60754e");
}

static struct sl_event
sample(void)
{
	struct sl_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = 1795780800123456789ull; /* 2026-11-27T12:00:00.123456 */
	ev.flow_id = 42;
	ev.key.ipver = 4;
	ev.key.proto = 6;
	v4(ev.key.addr[0], 198, 18, 0, 1);
	ev.key.port[0] = 40000;
	v4(ev.key.addr[1], 198, 19, 0, 2);
	ev.key.port[1] = 80;
	ev.key.vlan[0] = 100;
	ev.src_side = 0;
	ev.client_side = 0;
	ev.app = SL_EVENT_APP_HTTP;
	ev.severity = 1;
	ev.signature_id = 9100001;
	ev.count = 1;
	ev.distinct = 1;
	ev.action = SL_EVENT_ACTION_WOULD_BLOCK;
	strcpy(ev.sensor, "fr_ssn");
	strcpy(ev.category, "Personal Data Leak");
	strcpy(ev.context, "body");
	strcpy(ev.evidence, "*************36");
	strcpy(ev.value_hash, "0011223344556677");
	ev.has_http = 1;
	strcpy(ev.http.hostname, "c2.example");
	strcpy(ev.http.url, "/upload");
	strcpy(ev.http.method, "POST");
	ev.http.length = 77;
	return ev;
}

static void
test_format_alert(void)
{
	struct sl_event ev = sample();
	char buf[4096];
	int n = sl_event_format(&ev, buf, sizeof(buf));
	json_error_t je;
	json_t *o;

	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(buf[n - 1], '\n');
	o = json_loadb(buf, (size_t)n, 0, &je);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "timestamp")),
			       "2026-11-27T12:00:00.123456+0000");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "event_type")), "alert");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "src_ip")), "198.18.0.1");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "dest_port")), 80);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "direction")), "to_server");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "app_proto")), "http");
	json_t *a = json_object_get(o, "alert");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "action")), "allowed");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(a, "signature_id")), 9100001);
	json_t *d = json_object_get(o, "dlp");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(d, "action")), "would_block");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(d, "sensor")), "fr_ssn");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(d, "context")), "body");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(d, "count")), 1);
	CU_ASSERT_STRING_EQUAL(
	    json_string_value(json_object_get(json_object_get(o, "http"), "http_method")), "POST");
	CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_object_get(o, "vlan"), 0)), 100);
	json_decref(o);

	/* the responder's bytes: src/dest swap, direction flips */
	ev.src_side = 1;
	n = sl_event_format(&ev, buf, sizeof(buf));
	o = json_loadb(buf, (size_t)n, 0, &je);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "src_ip")), "198.19.0.2");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "direction")), "to_client");
	json_decref(o);
	CU_ASSERT_EQUAL(sl_event_format(&ev, buf, 32), -ENOSPC);

	/* mail: app_proto smtp, EVE's smtp object (rcpt_to an array), no http object */
	ev.src_side = 0;
	ev.app = SL_EVENT_APP_SMTP;
	ev.has_http = 0;
	ev.has_smtp = 1;
	strcpy(ev.smtp.helo, "srv-db-**.example.net");
	strcpy(ev.smtp.mail_from, "<ops@example.net>");
	strcpy(ev.smtp.rcpt_to, "<drop@example.org>");
	n = sl_event_format(&ev, buf, sizeof(buf));
	o = json_loadb(buf, (size_t)n, 0, &je);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "app_proto")), "smtp");
	CU_ASSERT_PTR_NULL(json_object_get(o, "http"));
	json_t *m = json_object_get(o, "smtp");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(m, "helo")),
			       "srv-db-**.example.net");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(m, "mail_from")),
			       "<ops@example.net>");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(m, "rcpt_to"), 0)),
			       "<drop@example.org>");
	json_decref(o);
}

static void
test_ipv6_and_flow_event(void)
{
	struct sl_event ev = sample();
	char buf[4096];
	json_error_t je;

	memset(ev.key.addr, 0, sizeof(ev.key.addr));
	ev.key.ipver = 6;
	ev.key.addr[0][0] = 0x20;
	ev.key.addr[0][1] = 0x01;
	ev.key.addr[0][2] = 0x0d;
	ev.key.addr[0][3] = 0xb8;
	ev.key.addr[0][15] = 1;
	ev.kind = SL_EVENT_FLOW;
	ev.pkts[0] = 5;
	ev.bytes[1] = 900;
	strcpy(ev.end_reason, "closed");
	int n = sl_event_format(&ev, buf, sizeof(buf));
	json_t *o = json_loadb(buf, (size_t)n, 0, &je);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "src_ip")), "2001:db8::1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "event_type")), "flow");
	CU_ASSERT_PTR_NULL(json_object_get(o, "alert"));
	json_t *f = json_object_get(o, "flow");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(f, "pkts_toserver")), 5);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(f, "bytes_toclient")), 900);
	json_decref(o);
}

/* An ICMP echo flow as EVE has it: no ports (the key's are the echo identifier), the sender's
 * type and code, in flow records the other side's as response_*; proto named as Suricata does,
 * no app_proto; one Community ID for the request's and the reply's events. */
static void
test_icmp_event(void)
{
	struct sl_event ev = sample();
	char buf[4096], cid[64];
	json_error_t je;
	json_t *o;
	int n;

	ev.key.proto = 1;
	ev.key.port[0] = ev.key.port[1] = 4242;
	ev.app = SL_EVENT_APP_RAW;
	ev.has_http = 0;
	ev.icmp_type[0] = 8; /* 198.18.0.1 pings 198.19.0.2 */
	ev.icmp_type[1] = 0;
	ev.icmp_sent = 1;
	n = sl_event_format(&ev, buf, sizeof(buf));
	o = json_loadb(buf, (size_t)n, 0, &je);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "proto")), "ICMP");
	CU_ASSERT_PTR_NULL(json_object_get(o, "src_port"));
	CU_ASSERT_PTR_NULL(json_object_get(o, "dest_port"));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "icmp_type")), 8);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "icmp_code")), 0);
	CU_ASSERT_PTR_NULL(json_object_get(o, "response_icmp_type"));
	CU_ASSERT_PTR_NULL(json_object_get(o, "app_proto")); /* as Suricata: no app layer */
	/* value of an independent implementation of Community ID v1 */
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "community_id")),
			       "1:RbqAcKCQgC2oEdjt+ewYi/AFtuk=");
	snprintf(cid, sizeof(cid), "%s", json_string_value(json_object_get(o, "community_id")));
	json_decref(o);

	/* the reply's bytes, in a flow record once both sides have spoken */
	ev.src_side = 1;
	ev.icmp_sent = 3;
	ev.kind = SL_EVENT_FLOW;
	n = sl_event_format(&ev, buf, sizeof(buf));
	o = json_loadb(buf, (size_t)n, 0, &je);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "icmp_type")), 0);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "response_icmp_type")), 8);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "response_icmp_code")), 0);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "community_id")), cid);
	CU_ASSERT_PTR_NULL(json_object_get(o, "src_port"));
	json_decref(o);

	ev.key.ipver = 6;
	ev.key.proto = 58;
	ev.icmp_type[0] = 128;
	ev.icmp_type[1] = 129;
	n = sl_event_format(&ev, buf, sizeof(buf));
	o = json_loadb(buf, (size_t)n, 0, &je);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "proto")), "IPv6-ICMP");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "icmp_type")), 129);
	json_decref(o);
}

static void
test_ring_and_writer(void)
{
	char path[64], err[256], line[4096];
	struct sl_event ev = sample();
	struct sl_event_out *o;
	unsigned lines = 0, pushed = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/tmp/sl_event_test_%d.json", (int)getpid());
	unlink(path);
	o = sl_event_out_create(path, 64, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	/* Without a writer running the ring fills up and refuses, never blocks. */
	for (int i = 0; i < 200; i++)
		pushed += sl_event_push(o, &ev) == 0;
	CU_ASSERT_EQUAL(pushed, 63);
	sl_event_out_free(o);
	fp = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	while (fgets(line, sizeof(line), fp))
		lines++;
	fclose(fp);
	CU_ASSERT_EQUAL(lines, pushed);
	unlink(path);

	o = sl_event_out_create("/nonexistent-dir/x.json", 64, err, sizeof(err));
	CU_ASSERT_PTR_NULL(o);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent-dir/x.json"));
}

/* A write that fails (here /dev/full: ENOSPC) loses lines, and every lost one is counted; the
 * writer keeps going rather than stopping or blocking the ring. */
static void
test_failed_writes_are_counted(void)
{
	struct sl_event ev = sample();
	struct sl_event_out_stats st;
	struct sl_event_out *o;
	char err[256];
	unsigned pushed = 0;

	o = sl_event_out_create("/dev/full", 256, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	for (int i = 0; i < 100; i++)
		pushed += sl_event_push(o, &ev) == 0;
	CU_ASSERT_EQUAL(pushed, 100);
	sl_event_out_stop(o);
	sl_event_out_stats(o, &st);
	CU_ASSERT_EQUAL(st.written, 0);
	CU_ASSERT_EQUAL(st.write_failed, 100);
	CU_ASSERT_EQUAL(st.last_errno, ENOSPC);
	/* The same writer on a sink that accepts: lines are written again. */
	sl_event_out_free(o);
	o = sl_event_out_create("/dev/null", 256, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	for (int i = 0; i < 40; i++)
		CU_ASSERT_EQUAL(sl_event_push(o, &ev), 0);
	CU_ASSERT_EQUAL(sl_event_out_start(o), 0);
	sl_event_out_stop(o);
	sl_event_out_stats(o, &st);
	CU_ASSERT_EQUAL(st.written, 40);
	CU_ASSERT_EQUAL(st.write_failed, 0);
	sl_event_out_free(o);
}

/* The worker hands the normalised value over; the writer hashes it with the key and wipes it:
 * the line has the hash and never the value. */
static void
test_writer_hashes_and_wipes_value(void)
{
	uint8_t key[SL_EVENT_KEY_LEN] = {'J', 'e', 'f', 'e'};
	const char *v = "what do ya want for nothing?";
	struct sl_event ev = sample();
	char path[64], err[256], line[4096];
	struct sl_event_out *o;
	FILE *fp;

	snprintf(path, sizeof(path), "/tmp/sl_event_hash_%d.json", (int)getpid());
	unlink(path);
	ev.value_hash[0] = '\0';
	memcpy(ev.value, v, strlen(v));
	ev.value_len = (uint8_t)strlen(v);
	o = sl_event_out_create(path, 64, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	sl_event_out_set_key(o, key);
	CU_ASSERT_EQUAL(sl_event_push(o, &ev), 0);
	sl_event_out_free(o);
	fp = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof(line), fp));
	fclose(fp);
	unlink(path);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"value_hash\":\"5bdcc146bf60754e\""));
	CU_ASSERT_PTR_NULL(strstr(line, "want for nothing"));
}

int
main(void)
{
	char *eal[] = {"test_event",  "--no-huge",	   "-m", "64", "--no-pci",
		       "--no-shconf", "--log-level=error", "-l", "0",  "--no-telemetry"};

	if (rte_eal_init(RTE_DIM(eal), eal) < 0)
		return 1;
	CU_initialize_registry();
	CU_pSuite s = CU_add_suite("event", NULL, NULL);
	CU_add_test(s, "community id test vector", test_community_id);
	CU_add_test(s, "community id of ICMP and port-less flows", test_community_id_icmp);
	CU_add_test(s, "keyed value hash (RFC 4231)", test_value_hash);
	CU_add_test(s, "EVE alert rendering", test_format_alert);
	CU_add_test(s, "IPv6 and flow-end update", test_ipv6_and_flow_event);
	CU_add_test(s, "ICMP echo: type and code for ports, one Community ID", test_icmp_event);
	CU_add_test(s, "ring never blocks; writer drains", test_ring_and_writer);
	CU_add_test(s, "failed writes are counted, not silent", test_failed_writes_are_counted);
	CU_add_test(s, "writer hashes the value and never renders it",
		    test_writer_hashes_and_wipes_value);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	rte_eal_cleanup();
	return fails != 0;
}
