/* Unit tests of sl_ctl: the protocol through memory clients, then the real socket served by a
 * control thread (a pthread here) with a mock command table: framing, errors, limits, many
 * clients, subscriptions and the credential check, including a real non-root peer (the tests run
 * as root; the peer is a forked child that drops to nobody). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "sl_ctl.h"

#define NOBODY	     65534
#define TIMEOUT_MS   5000
#define MANY_CLIENTS 50

/* Mock commands */

static int
cmd_echo(void *app, struct sl_ctl_client *c, json_t *args, json_t **result,
	 struct sl_ctl_error *err)
{
	(void)app;
	(void)c;
	(void)err;
	*result = json_incref(args);
	return 0;
}

static int
cmd_add(void *app, struct sl_ctl_client *c, json_t *args, json_t **result, struct sl_ctl_error *err)
{
	static const char *const known[] = {"a", "b", NULL};
	int64_t a, b;

	(void)app;
	(void)c;
	if (sl_ctl_args_only(args, known, err) < 0 ||
	    sl_ctl_arg_int(args, "a", true, -1000000, 1000000, &a, err) < 0 ||
	    sl_ctl_arg_int(args, "b", true, -1000000, 1000000, &b, err) < 0)
		return -1;
	*result = json_pack("{s:I}", "sum", (json_int_t)(a + b));
	return 0;
}

static int
cmd_fail(void *app, struct sl_ctl_client *c, json_t *args, json_t **result,
	 struct sl_ctl_error *err)
{
	(void)app;
	(void)c;
	(void)args;
	*result = json_string("must be released by the server");
	return sl_ctl_fail_code(err, "compile_error", "bad regex at offset %d", 3);
}

static int
cmd_follow(void *app, struct sl_ctl_client *c, json_t *args, json_t **result,
	   struct sl_ctl_error *err)
{
	const char *topic;

	(void)app;
	if (sl_ctl_arg_string(args, "topic", true, &topic, err) < 0)
		return -1;
	if (sl_ctl_client_subscribe(c, topic) < 0)
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "cannot subscribe to '%s'", topic);
	*result = json_pack("{s:s}", "subscribed", topic);
	return 0;
}

static int
cmd_big(void *app, struct sl_ctl_client *c, json_t *args, json_t **result, struct sl_ctl_error *err)
{
	int64_t n;
	char *s;

	(void)app;
	(void)c;
	if (sl_ctl_arg_int(args, "n", true, 0, 16 << 20, &n, err) < 0)
		return -1;
	s = malloc((size_t)n + 1);
	memset(s, 'x', (size_t)n);
	s[n] = '\0';
	*result = json_string(s);
	free(s);
	return 0;
}

static int
cmd_ctlstats(void *app, struct sl_ctl_client *c, json_t *args, json_t **result,
	     struct sl_ctl_error *err)
{
	(void)app;
	(void)args;
	(void)err;
	*result = sl_ctl_server_stats_json(sl_ctl_client_server(c));
	return 0;
}

static const struct sl_ctl_cmd mock_cmds[] = {
    {"echo", cmd_echo, "returns its arguments", "[ANY=VALUE...]"},
    {"add", cmd_add, "adds two integers", "a=INT b=INT"},
    {"fail", cmd_fail, "always fails", NULL},
    {"follow", cmd_follow, "streams a topic", "topic=NAME"},
    {"big", cmd_big, "returns a string of n bytes", "n=INT"},
    {"ctlstats", cmd_ctlstats, "server counters", NULL},
};

/* Memory clients */

static struct sl_ctl_server *
mem_server(size_t max_line, size_t max_output)
{
	struct sl_ctl_params p = {.cmds = mock_cmds,
				  .ncmds = sizeof(mock_cmds) / sizeof(mock_cmds[0]),
				  .max_line = max_line,
				  .max_output = max_output};
	char err[256];
	struct sl_ctl_server *s = sl_ctl_server_create(&p, err, sizeof(err));

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	return s;
}

/* Pops one output line of a memory client as JSON (NULL if none). */
static json_t *
mem_reply(struct sl_ctl_client *c)
{
	size_t len;
	const char *out = sl_ctl_client_output(c, &len);
	const char *nl = memchr(out, '\n', len);
	json_t *j;

	if (!nl)
		return NULL;
	j = json_loadb(out, (size_t)(nl - out), 0, NULL);
	sl_ctl_client_consume(c, (size_t)(nl - out) + 1);
	return j;
}

/* Error code and message of a reply, "" when absent (so that assertions fail, not crash). */
static const char *
err_code(json_t *r)
{
	const char *s = json_string_value(json_object_get(json_object_get(r, "error"), "code"));

	return s ? s : "";
}

static const char *
err_msg(json_t *r)
{
	const char *s = json_string_value(json_object_get(json_object_get(r, "error"), "message"));

	return s ? s : "";
}

static int
is_ok(json_t *r)
{
	return r && json_is_true(json_object_get(r, "ok"));
}

static json_t *
mem_call(struct sl_ctl_client *c, const char *line)
{
	CU_ASSERT_EQUAL(sl_ctl_client_feed(c, line, strlen(line), false), 0);
	return mem_reply(c);
}

static void
test_access_rule(void)
{
	gid_t sup[] = {100, 27, 999};

	CU_ASSERT_TRUE(sl_ctl_access_allowed(0, 0, NULL, 0, 0, false, 0));
	CU_ASSERT_TRUE(sl_ctl_access_allowed(0, 5, NULL, 0, 1000, true, 999));
	CU_ASSERT_TRUE(sl_ctl_access_allowed(1000, 1000, NULL, 0, 1000, false, 0)); /* owner */
	CU_ASSERT_FALSE(sl_ctl_access_allowed(1001, 1001, sup, 3, 0, false, 999));  /* no group */
	CU_ASSERT_TRUE(sl_ctl_access_allowed(1001, 1001, sup, 3, 0, true, 999)); /* supplementary */
	CU_ASSERT_TRUE(sl_ctl_access_allowed(1001, 999, NULL, 0, 0, true, 999)); /* primary */
	CU_ASSERT_FALSE(sl_ctl_access_allowed(1001, 1001, sup, 2, 0, true, 999));
	CU_ASSERT_FALSE(sl_ctl_access_allowed(NOBODY, NOBODY, NULL, 0, 0, true, 999));
}

static void
test_arg_helpers(void)
{
	static const char *const known[] = {"name", "n", "on", "list", NULL};
	json_t *args = json_pack("{s:s,s:i,s:b,s:[i],s:n,s:{}}", "name", "fr_ssn", "n", 5, "on", 1,
				 "list", 1, "none", "obj");
	struct sl_ctl_error err = {0};
	const char *str = "unset";
	int64_t n = -1;
	bool on = false;
	json_t *list = NULL;

	CU_ASSERT_EQUAL(sl_ctl_arg_string(args, "name", true, &str, &err), 1);
	CU_ASSERT_STRING_EQUAL(str, "fr_ssn");
	CU_ASSERT_EQUAL(sl_ctl_arg_int(args, "n", true, 0, 10, &n, &err), 1);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(sl_ctl_arg_bool(args, "on", true, &on, &err), 1);
	CU_ASSERT_TRUE(on);
	CU_ASSERT_EQUAL(sl_ctl_arg_array(args, "list", true, &list, &err), 1);
	CU_ASSERT_EQUAL(json_array_size(list), 1);
	CU_ASSERT_EQUAL(sl_ctl_arg_object(args, "obj", true, &list, &err), 1);

	/* Absent, and null, are fine when optional and leave the output alone. */
	str = "unset";
	CU_ASSERT_EQUAL(sl_ctl_arg_string(args, "missing", false, &str, &err), 0);
	CU_ASSERT_EQUAL(sl_ctl_arg_string(args, "none", false, &str, &err), 0);
	CU_ASSERT_STRING_EQUAL(str, "unset");

	CU_ASSERT_EQUAL(sl_ctl_arg_string(args, "missing", true, &str, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.code, "bad_args");
	CU_ASSERT_STRING_EQUAL(err.message, "missing required argument 'missing'");
	CU_ASSERT_EQUAL(sl_ctl_arg_string(args, "n", true, &str, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.message, "argument 'n' must be a string (got an integer)");
	CU_ASSERT_EQUAL(sl_ctl_arg_int(args, "name", true, 0, 1, &n, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.message, "argument 'name' must be an integer (got a string)");
	CU_ASSERT_EQUAL(sl_ctl_arg_int(args, "n", true, 6, 9, &n, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.message, "argument 'n' must be between 6 and 9 (got 5)");
	CU_ASSERT_EQUAL(sl_ctl_arg_bool(args, "n", true, &on, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.message,
			       "argument 'n' must be a boolean (true or false) (got an integer)");
	CU_ASSERT_EQUAL(sl_ctl_arg_array(args, "name", true, &list, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.message, "argument 'name' must be an array (got a string)");

	CU_ASSERT_EQUAL(sl_ctl_args_only(args, known, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.message,
			       "unknown argument 'none' (expected: name, n, on, list)");
	json_object_del(args, "none");
	json_object_del(args, "obj");
	CU_ASSERT_EQUAL(sl_ctl_args_only(args, known, &err), 0);
	json_decref(args);
}

static void
test_mem_ids_and_results(void)
{
	struct sl_ctl_server *s = mem_server(0, 0);
	struct sl_ctl_client *c = sl_ctl_client_mem(s);
	const char *ids[] = {"7", "\"abc\"", "null", "1.5", "true", "-3"};
	size_t i, len;
	json_t *r;
	char line[128];

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		json_t *want = json_loads(ids[i], JSON_DECODE_ANY, NULL);

		snprintf(line, sizeof(line), "{\"id\":%s,\"cmd\":\"echo\",\"args\":{\"k\":1}}\n",
			 ids[i]);
		r = mem_call(c, line);
		CU_ASSERT_TRUE(is_ok(r));
		CU_ASSERT_TRUE(json_equal(json_object_get(r, "id"), want));
		CU_ASSERT_EQUAL(
		    json_integer_value(json_object_get(json_object_get(r, "result"), "k")), 1);
		json_decref(r);
		json_decref(want);
	}
	/* No id: null; no args: the handler sees an empty object. Keys in a fixed order. */
	CU_ASSERT_EQUAL(sl_ctl_client_feed(c, "{\"cmd\":\"echo\"}\n", 15, false), 0);
	{
		static const char want[] = "{\"id\":null,\"ok\":true,\"result\":{}}\n";
		const char *out = sl_ctl_client_output(c, &len);

		CU_ASSERT_EQUAL(len, sizeof(want) - 1);
		CU_ASSERT_EQUAL(memcmp(out, want, sizeof(want) - 1), 0);
	}
	json_decref(mem_reply(c));

	r = mem_call(c, "{\"id\":1,\"cmd\":\"add\",\"args\":{\"a\":2,\"b\":40}}\n");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(r, "result"), "sum")),
			42);
	json_decref(r);

	/* Byte by byte, CRLF, blank lines between requests. */
	{
		const char *req = "\n  \r\n{\"id\":9,\"cmd\":\"echo\"}\r\n\n";

		for (i = 0; req[i]; i++)
			CU_ASSERT_EQUAL(sl_ctl_client_feed(c, req + i, 1, false), 0);
		r = mem_reply(c);
		CU_ASSERT_TRUE(is_ok(r));
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), 9);
		json_decref(r);
		CU_ASSERT_PTR_NULL(mem_reply(c));
	}

	/* An unterminated last line counts once the peer is done writing. */
	CU_ASSERT_EQUAL(sl_ctl_client_feed(c, "{\"id\":3,\"cmd\":\"echo\"}", 21, true), 0);
	r = mem_reply(c);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), 3);
	json_decref(r);

	sl_ctl_client_close(c);
	sl_ctl_server_free(s);
}

static void
test_mem_errors(void)
{
	static const struct {
		const char *line, *code, *msg_part;
		int id; /* -1: null */
	} cases[] = {
	    {"{\"id\":1,\"cmd\":", "bad_json", "column", -1},
	    {"not json", "bad_json", "invalid JSON", -1},
	    {"{\"id\":1,\"id\":2,\"cmd\":\"echo\"}", "bad_json", "duplicate", -1},
	    {"{\"id\":1,\"cmd\":\"echo\",\"args\":{\"s\":\"\\u0000\"}}", "bad_json", "", -1},
	    {"[1,2]", "bad_request", "got an array", -1},
	    {"42", "bad_request", "JSON object", -1},
	    {"{\"id\":4}", "bad_request", "missing 'cmd'", 4},
	    {"{\"id\":5,\"cmd\":17}", "bad_request", "'cmd' must be a string", 5},
	    {"{\"id\":6,\"cmd\":\"echo\",\"args\":[1]}", "bad_request", "'args' must be an object",
	     6},
	    {"{\"id\":[1],\"cmd\":\"echo\"}", "bad_request", "'id' must be", -1},
	    {"{\"id\":7,\"cmd\":\"nope\"}", "unknown_command", "help", 7},
	    {"{\"id\":8,\"cmd\":\"add\",\"args\":{\"a\":\"2\",\"b\":3}}", "bad_args",
	     "argument 'a' must be an integer (got a string)", 8},
	    {"{\"id\":9,\"cmd\":\"add\",\"args\":{\"a\":2}}", "bad_args",
	     "missing required argument 'b'", 9},
	    {"{\"id\":10,\"cmd\":\"add\",\"args\":{\"a\":1,\"b\":2,\"c\":3}}", "bad_args",
	     "unknown argument 'c' (expected: a, b)", 10},
	    {"{\"id\":11,\"cmd\":\"add\",\"args\":{\"a\":1.5,\"b\":2}}", "bad_args", "fractional",
	     11},
	    {"{\"id\":12,\"cmd\":\"fail\"}", "compile_error", "bad regex at offset 3", 12},
	};
	struct sl_ctl_server *s = mem_server(0, 0);
	struct sl_ctl_client *c = sl_ctl_client_mem(s);
	struct sl_ctl_stats st;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[256];
		json_t *r, *id;

		snprintf(line, sizeof(line), "%s\n", cases[i].line);
		r = mem_call(c, line);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_TRUE(json_is_false(json_object_get(r, "ok")));
		CU_ASSERT_STRING_EQUAL(err_code(r), cases[i].code);
		CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(r), cases[i].msg_part));
		id = json_object_get(r, "id");
		CU_ASSERT_TRUE(cases[i].id < 0 ? json_is_null(id)
					       : json_integer_value(id) == cases[i].id);
		if (strcmp(err_code(r), cases[i].code) || !strstr(err_msg(r), cases[i].msg_part))
			fprintf(stderr, "case %zu: %s: %s\n", i, err_code(r), err_msg(r));
		json_decref(r);
	}
	sl_ctl_server_stats(s, &st);
	CU_ASSERT_EQUAL(st.requests, sizeof(cases) / sizeof(cases[0]));
	CU_ASSERT_EQUAL(st.errors, sizeof(cases) / sizeof(cases[0]));
	sl_ctl_client_close(c);
	sl_ctl_server_free(s);
}

static void
test_mem_limits(void)
{
	struct sl_ctl_server *s = mem_server(64, 512);
	struct sl_ctl_client *c = sl_ctl_client_mem(s);
	char junk[300];
	json_t *r;

	/* Over-long line, no newline yet: one error at once, the rest is discarded. */
	memset(junk, 'a', sizeof(junk));
	CU_ASSERT_EQUAL(sl_ctl_client_feed(c, junk, 50, false), 0);
	CU_ASSERT_PTR_NULL(mem_reply(c));
	CU_ASSERT_EQUAL(sl_ctl_client_feed(c, junk, sizeof(junk), false), 0);
	r = mem_reply(c);
	CU_ASSERT_STRING_EQUAL(err_code(r), "line_too_long");
	CU_ASSERT_TRUE(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	CU_ASSERT_EQUAL(sl_ctl_client_feed(c, junk, sizeof(junk), false), 0);
	CU_ASSERT_PTR_NULL(mem_reply(c));
	r = mem_call(c, "aaaa\n{\"id\":2,\"cmd\":\"echo\"}\n");
	CU_ASSERT_TRUE(is_ok(r));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), 2);
	json_decref(r);
	CU_ASSERT_PTR_NULL(mem_reply(c));

	/* Exactly max_line is fine, one more byte is not (and ends with its newline). */
	memset(junk, ' ', 64);
	memcpy(junk, "{\"id\":3,\"cmd\":\"echo\"}", 21);
	junk[64] = '\n';
	CU_ASSERT_EQUAL(sl_ctl_client_feed(c, junk, 65, false), 0);
	r = mem_reply(c);
	CU_ASSERT_TRUE(is_ok(r));
	json_decref(r);
	junk[64] = ' ';
	junk[65] = '\n';
	r = mem_call(c, "");
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_EQUAL(sl_ctl_client_feed(c, junk, 66, false), 0);
	r = mem_reply(c);
	CU_ASSERT_STRING_EQUAL(err_code(r), "line_too_long");
	json_decref(r);
	r = mem_call(c, "{\"id\":4,\"cmd\":\"echo\"}\n");
	CU_ASSERT_TRUE(is_ok(r));
	json_decref(r);

	/* A reply larger than the output cap becomes an error, the client stays. */
	r = mem_call(c, "{\"id\":5,\"cmd\":\"big\",\"args\":{\"n\":1000}}\n");
	CU_ASSERT_STRING_EQUAL(err_code(r), "reply_too_large");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), 5);
	json_decref(r);

	/* Output that piles up unread: replies become reply_too_large, then the client is dropped.
	 */
	{
		const char *req = "{\"id\":6,\"cmd\":\"big\",\"args\":{\"n\":100}}\n";

		while (sl_ctl_client_feed(c, req, strlen(req), false) == 0)
			;
	}
	CU_ASSERT_EQUAL(sl_ctl_client_feed(c, "\n", 1, false), -EPIPE);
	{
		struct sl_ctl_stats st;

		sl_ctl_server_stats(s, &st);
		CU_ASSERT_EQUAL(st.clients_dropped_slow, 1);
		CU_ASSERT_EQUAL(st.lines_too_long, 2);
		CU_ASSERT_EQUAL(st.clients, 0);
	}
	sl_ctl_client_close(c);
	sl_ctl_server_free(s);
}

static void
test_mem_help_and_publish(void)
{
	struct sl_ctl_server *s = mem_server(0, 0);
	struct sl_ctl_client *c = sl_ctl_client_mem(s);
	struct sl_ctl_client *d = sl_ctl_client_mem(s);
	const char *out;
	json_t *r, *res;
	size_t len;

	r = mem_call(c, "{\"id\":1,\"cmd\":\"help\"}\n");
	res = json_object_get(r, "result");
	CU_ASSERT_EQUAL(json_array_size(res), sizeof(mock_cmds) / sizeof(mock_cmds[0]) + 1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(res, 1), "args")),
			       "a=INT b=INT");
	json_decref(r);
	r = mem_call(c, "{\"id\":2,\"cmd\":\"help\",\"args\":{\"cmd\":\"add\"}}\n");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(r, "result")), 1);
	json_decref(r);
	r = mem_call(c, "{\"id\":3,\"cmd\":\"help\",\"args\":{\"cmd\":\"nope\"}}\n");
	CU_ASSERT_STRING_EQUAL(err_code(r), "not_found");
	json_decref(r);

	/* Publishing with no subscriber is free and succeeds. */
	CU_ASSERT_EQUAL(sl_ctl_publish(s, "ev", "{\"a\":1}"), 0);
	r = mem_call(c, "{\"id\":4,\"cmd\":\"follow\",\"args\":{\"topic\":\"ev\"}}\n");
	CU_ASSERT_TRUE(is_ok(r));
	json_decref(r);
	CU_ASSERT_EQUAL(sl_ctl_publish(s, "ev", "{\"a\":2}\n"), 0);
	CU_ASSERT_EQUAL(sl_ctl_publish(s, "other", "{\"a\":3}"), 0);
	CU_ASSERT_EQUAL(sl_ctl_publish(s, "ev", "{\"a\":\n4}"), -EINVAL);
	CU_ASSERT_EQUAL(sl_ctl_server_run(s, 1000), 1);
	out = sl_ctl_client_output(c, &len);
	CU_ASSERT_EQUAL(len, 8);
	CU_ASSERT_EQUAL(strncmp(out, "{\"a\":2}\n", 8), 0);
	sl_ctl_client_output(d, &len);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(sl_ctl_client_unsubscribe(c, "ev"), 0);
	CU_ASSERT_EQUAL(sl_ctl_client_unsubscribe(c, "ev"), -ENOENT);
	sl_ctl_client_close(d);
	/* Freeing the server first detaches a memory client; closing it afterwards is still fine.
	 */
	sl_ctl_server_free(s);
	sl_ctl_client_close(c);
}

/* Socket tests */

struct running {
	struct sl_ctl_server *s;
	pthread_t th;
	char path[108];
};

static char tmpdir[64];
static struct running main_srv;

static void *
control_thread(void *arg)
{
	struct sl_ctl_server *s = arg;

	while (sl_ctl_server_run(s, 100) >= 0)
		;
	return NULL;
}

static int
start(struct running *r, const char *name, const char *group, size_t max_output,
      unsigned max_clients)
{
	struct sl_ctl_params p = {.cmds = mock_cmds,
				  .ncmds = sizeof(mock_cmds) / sizeof(mock_cmds[0]),
				  .group = group,
				  .max_output = max_output,
				  .max_clients = max_clients};
	char err[256];

	snprintf(r->path, sizeof(r->path), "%s/run/%s", tmpdir, name);
	p.path = r->path;
	r->s = sl_ctl_server_create(&p, err, sizeof(err));
	if (!r->s) {
		fprintf(stderr, "server: %s\n", err);
		return -1;
	}
	return pthread_create(&r->th, NULL, control_thread, r->s) == 0 ? 0 : -1;
}

static void
stop(struct running *r)
{
	sl_ctl_server_stop(r->s);
	pthread_join(r->th, NULL);
	sl_ctl_server_free(r->s);
	r->s = NULL;
}

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static int
conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa;

	memset(c, 0, sizeof(*c));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return 0;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static int
send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one line (without '\n') into a malloc'd string; NULL on timeout or EOF. */
static char *
conn_line(struct conn *c, int timeout_ms)
{
	for (;;) {
		char *nl = c->buf ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);
			char *line = strndup(c->buf, l);

			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return line;
		}
		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 65536;
			c->buf = realloc(c->buf, c->cap);
		}
		if (poll(&pfd, 1, timeout_ms) != 1)
			return NULL;
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

static json_t *
conn_reply(struct conn *c)
{
	char *line = conn_line(c, TIMEOUT_MS);
	json_t *j = line ? json_loads(line, 0, NULL) : NULL;

	free(line);
	return j;
}

static json_t *
conn_call(struct conn *c, const char *req)
{
	if (send_all(c->fd, req, strlen(req)) < 0)
		return NULL;
	return conn_reply(c);
}

/* True if the server still answers a fresh client. */
static int
alive(const char *path)
{
	struct conn c;
	json_t *r;
	int ok;

	if (conn_open(&c, path) < 0) {
		conn_close(&c);
		return 0;
	}
	r = conn_call(&c, "{\"id\":\"ping\",\"cmd\":\"echo\"}\n");
	ok = is_ok(r) && !strcmp(json_string_value(json_object_get(r, "id")), "ping");
	json_decref(r);
	conn_close(&c);
	return ok;
}

static json_t *
server_stats(const char *path)
{
	struct conn c;
	json_t *r, *res = NULL;

	if (conn_open(&c, path) == 0) {
		r = conn_call(&c, "{\"id\":0,\"cmd\":\"ctlstats\"}\n");
		res = json_incref(json_object_get(r, "result"));
		json_decref(r);
	}
	conn_close(&c);
	return res;
}

static long
stat_of(json_t *st, const char *key)
{
	return (long)json_integer_value(json_object_get(st, key));
}

static long
vm_hwm_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static int
suite_init(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sl_ctl_test.XXXXXX");
	if (!mkdtemp(tmpdir) || chmod(tmpdir, 0755) < 0)
		return -1;
	return start(&main_srv, "ctl.sock", NULL, 0, 0);
}

static int
suite_clean(void)
{
	char p[128];

	stop(&main_srv);
	snprintf(p, sizeof(p), "%s/run", tmpdir);
	rmdir(p);
	return rmdir(tmpdir);
}

/* First socket test, so that the peak RSS it measures is not hidden by earlier tests. */
static void
test_huge_line(void)
{
	static char chunk[64 << 10];
	long before = vm_hwm_kb(), grown;
	struct conn a, b;
	size_t sent;
	json_t *r;

	memset(chunk, 'x', sizeof(chunk));
	CU_ASSERT_EQUAL_FATAL(conn_open(&a, main_srv.path), 0);
	CU_ASSERT_EQUAL_FATAL(conn_open(&b, main_srv.path), 0);
	for (sent = 0; sent < (5u << 20); sent += sizeof(chunk))
		CU_ASSERT_EQUAL_FATAL(send_all(a.fd, chunk, sizeof(chunk)), 0);
	/* Halfway through a's 10 MB, b is served. */
	r = conn_call(&b, "{\"id\":1,\"cmd\":\"add\",\"args\":{\"a\":1,\"b\":2}}\n");
	CU_ASSERT_TRUE(is_ok(r));
	json_decref(r);
	for (; sent < (10u << 20); sent += sizeof(chunk))
		CU_ASSERT_EQUAL_FATAL(send_all(a.fd, chunk, sizeof(chunk)), 0);
	r = conn_call(&a, "\n{\"id\":2,\"cmd\":\"echo\"}\n");
	CU_ASSERT_STRING_EQUAL(err_code(r), "line_too_long");
	CU_ASSERT_TRUE(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	r = conn_reply(&a);
	CU_ASSERT_TRUE(is_ok(r));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), 2);
	json_decref(r);
	conn_close(&a);
	conn_close(&b);
	/* The server held at most max_line (1 MiB) of it, never the 10 MB. */
	grown = vm_hwm_kb() - before;
	CU_ASSERT(grown < 6 * 1024);
	if (grown >= 6 * 1024)
		fprintf(stderr, "peak RSS grew by %ld kB\n", grown);
}

static void
test_socket_file(void)
{
	struct stat st;
	char dir[128];

	CU_ASSERT_EQUAL_FATAL(stat(main_srv.path, &st), 0);
	CU_ASSERT_TRUE(S_ISSOCK(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0660);
	CU_ASSERT_EQUAL(st.st_uid, geteuid());
	snprintf(dir, sizeof(dir), "%s/run", tmpdir);
	CU_ASSERT_EQUAL_FATAL(stat(dir, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0755);
}

static void
test_requests(void)
{
	struct conn c;
	json_t *r;

	CU_ASSERT_EQUAL_FATAL(conn_open(&c, main_srv.path), 0);
	r = conn_call(&c, "{\"id\":\"a\",\"cmd\":\"add\",\"args\":{\"a\":20,\"b\":22}}\n");
	CU_ASSERT_TRUE(is_ok(r));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "id")), "a");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(r, "result"), "sum")),
			42);
	json_decref(r);
	r = conn_call(&c, "{\"id\":2,\"cmd\":\"add\",\"args\":{\"a\":true,\"b\":2}}\n");
	CU_ASSERT_STRING_EQUAL(err_code(r), "bad_args");
	CU_ASSERT_STRING_EQUAL(err_msg(r), "argument 'a' must be an integer (got a boolean)");
	json_decref(r);
	r = conn_call(&c, "{\"id\":3,\"cmd\":\"frobnicate\"}\n");
	CU_ASSERT_STRING_EQUAL(err_code(r), "unknown_command");
	json_decref(r);
	r = conn_call(&c, "{\"id\":4,\"cmd\":\n");
	CU_ASSERT_STRING_EQUAL(err_code(r), "bad_json");
	json_decref(r);
	r = conn_call(&c, "{\"id\":5,\"cmd\":\"fail\"}\n");
	CU_ASSERT_STRING_EQUAL(err_code(r), "compile_error");
	json_decref(r);
	conn_close(&c);
}

static void
test_pipelined(void)
{
	char *buf = malloc(100 * 64), *p = buf;
	struct conn c;
	int i;

	for (i = 0; i < 100; i++)
		p += sprintf(p, "{\"id\":%d,\"cmd\":\"add\",\"args\":{\"a\":%d,\"b\":1}}\n", i, i);
	CU_ASSERT_EQUAL_FATAL(conn_open(&c, main_srv.path), 0);
	CU_ASSERT_EQUAL(send_all(c.fd, buf, (size_t)(p - buf)), 0);
	for (i = 0; i < 100; i++) {
		json_t *r = conn_reply(&c);

		CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), i);
		CU_ASSERT_EQUAL(
		    json_integer_value(json_object_get(json_object_get(r, "result"), "sum")),
		    i + 1);
		json_decref(r);
	}
	conn_close(&c);
	free(buf);
}

static void
test_pipelined_large(void)
{
	static const char req[] = "{\"id\":%d,\"cmd\":\"big\",\"args\":{\"n\":1000000}}\n";
	char buf[8 * sizeof(req)], *p = buf;
	struct conn c;
	json_t *st;
	int i;

	/* 8 MB of replies to one write, more than max_output (4 MiB): the server must pause
	 * dispatching while the client is not reading, not drop it or refuse replies. */
	for (i = 0; i < 8; i++)
		p += sprintf(p, req, i);
	CU_ASSERT_EQUAL_FATAL(conn_open(&c, main_srv.path), 0);
	CU_ASSERT_EQUAL(send_all(c.fd, buf, (size_t)(p - buf)), 0);
	usleep(100 * 1000);
	for (i = 0; i < 8; i++) {
		json_t *r = conn_reply(&c);

		CU_ASSERT_TRUE(is_ok(r));
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), i);
		CU_ASSERT_EQUAL(json_string_length(json_object_get(r, "result")), 1000000);
		json_decref(r);
	}
	conn_close(&c);
	st = server_stats(main_srv.path);
	CU_ASSERT_EQUAL(stat_of(st, "clients_dropped_slow"), 0);
	json_decref(st);
}

static void
test_idle_client(void)
{
	struct conn idle, partial, c;
	struct timespec t0, t1;
	json_t *r;

	CU_ASSERT_EQUAL_FATAL(conn_open(&idle, main_srv.path), 0);
	CU_ASSERT_EQUAL_FATAL(conn_open(&partial, main_srv.path), 0);
	CU_ASSERT_EQUAL(send_all(partial.fd, "{\"id\":1,", 8), 0);
	CU_ASSERT_EQUAL_FATAL(conn_open(&c, main_srv.path), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = conn_call(&c, "{\"id\":1,\"cmd\":\"echo\"}\n");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CU_ASSERT_TRUE(is_ok(r));
	CU_ASSERT(t1.tv_sec - t0.tv_sec < 2);
	json_decref(r);
	/* The partial request completes later, the idle one never sends: both are still there. */
	r = conn_call(&partial, "\"cmd\":\"echo\"}\n");
	CU_ASSERT_TRUE(is_ok(r));
	json_decref(r);
	r = server_stats(main_srv.path);
	CU_ASSERT(stat_of(r, "clients") >= 4); /* idle, partial, c, and the stats client */
	json_decref(r);
	conn_close(&idle);
	conn_close(&partial);
	conn_close(&c);
}

static void
test_half_close(void)
{
	struct conn c;
	json_t *r;

	/* nc -N style: request without newline, then shutdown(SHUT_WR). */
	CU_ASSERT_EQUAL_FATAL(conn_open(&c, main_srv.path), 0);
	CU_ASSERT_EQUAL(send_all(c.fd, "{\"id\":1,\"cmd\":\"echo\"}", 21), 0);
	shutdown(c.fd, SHUT_WR);
	r = conn_reply(&c);
	CU_ASSERT_TRUE(is_ok(r));
	json_decref(r);
	CU_ASSERT_PTR_NULL(conn_line(&c, TIMEOUT_MS)); /* then the server closes */
	conn_close(&c);
}

static void
test_disconnect_mid_reply(void)
{
	struct conn c;
	json_t *st;
	int i;

	/* Replies of several MB each, requester gone before reading them: EPIPE, not SIGPIPE. */
	static const char req[] = "{\"id\":1,\"cmd\":\"big\",\"args\":{\"n\":3000000}}\n"
				  "{\"id\":2,\"cmd\":\"big\",\"args\":{\"n\":3000000}}\n";

	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL_FATAL(conn_open(&c, main_srv.path), 0);
		CU_ASSERT_EQUAL(send_all(c.fd, req, sizeof(req) - 1), 0);
		if (i % 2) { /* read a little of it first */
			char buf[4096];

			CU_ASSERT(recv(c.fd, buf, sizeof(buf), 0) > 0);
		}
		conn_close(&c);
	}
	CU_ASSERT_TRUE(alive(main_srv.path));
	usleep(200 * 1000);
	st = server_stats(main_srv.path);
	CU_ASSERT_EQUAL(stat_of(st, "clients"), 1); /* only the stats client itself */
	json_decref(st);
}

struct worker {
	int n;
	int ok;
	pthread_barrier_t *bar;
};

static void *
many_worker(void *arg)
{
	struct worker *w = arg;
	struct conn c;
	int i, connected = conn_open(&c, main_srv.path) == 0;

	pthread_barrier_wait(w->bar); /* all 50 connected before anyone sends */
	for (i = 0; connected && i < 20; i++) {
		char req[128];
		json_t *r;

		snprintf(req, sizeof(req),
			 "{\"id\":%d,\"cmd\":\"add\",\"args\":{\"a\":%d,\"b\":%d}}\n", i, w->n, i);
		r = conn_call(&c, req);
		if (is_ok(r) && json_integer_value(json_object_get(r, "id")) == i &&
		    json_integer_value(json_object_get(json_object_get(r, "result"), "sum")) ==
			w->n + i)
			w->ok++;
		json_decref(r);
	}
	conn_close(&c);
	return NULL;
}

static void
test_many_clients(void)
{
	pthread_t th[MANY_CLIENTS];
	struct worker w[MANY_CLIENTS];
	pthread_barrier_t bar;
	int i;

	pthread_barrier_init(&bar, NULL, MANY_CLIENTS);
	for (i = 0; i < MANY_CLIENTS; i++) {
		w[i].n = i * 1000;
		w[i].ok = 0;
		w[i].bar = &bar;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, many_worker, &w[i]), 0);
	}
	for (i = 0; i < MANY_CLIENTS; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(w[i].ok, 20);
	}
	pthread_barrier_destroy(&bar);
}

static void
test_subscribe(void)
{
	struct conn a, b;
	char *line;
	json_t *r;

	CU_ASSERT_EQUAL_FATAL(conn_open(&a, main_srv.path), 0);
	CU_ASSERT_EQUAL_FATAL(conn_open(&b, main_srv.path), 0);
	r = conn_call(&a, "{\"id\":1,\"cmd\":\"follow\",\"args\":{\"topic\":\"events\"}}\n");
	CU_ASSERT_STRING_EQUAL(
	    json_string_value(json_object_get(json_object_get(r, "result"), "subscribed")),
	    "events");
	json_decref(r);
	r = conn_call(&b, "{\"id\":1,\"cmd\":\"follow\",\"args\":{\"topic\":\"other\"}}\n");
	CU_ASSERT_TRUE(is_ok(r));
	json_decref(r);

	/* Published from this thread, not the control thread. */
	CU_ASSERT_EQUAL(sl_ctl_publish(main_srv.s, "events", "{\"n\":1}"), 0);
	CU_ASSERT_EQUAL(sl_ctl_publish(main_srv.s, "other", "{\"n\":100}"), 0);
	CU_ASSERT_EQUAL(sl_ctl_publish(main_srv.s, "events", "{\"n\":2}\n"), 0);
	CU_ASSERT_EQUAL(sl_ctl_publish(main_srv.s, "events", "{\"n\":3}"), 0);
	line = conn_line(&a, TIMEOUT_MS);
	CU_ASSERT_STRING_EQUAL(line, "{\"n\":1}");
	free(line);
	line = conn_line(&a, TIMEOUT_MS);
	CU_ASSERT_STRING_EQUAL(line, "{\"n\":2}");
	free(line);
	line = conn_line(&a, TIMEOUT_MS);
	CU_ASSERT_STRING_EQUAL(line, "{\"n\":3}");
	free(line);
	line = conn_line(&b, TIMEOUT_MS);
	CU_ASSERT_STRING_EQUAL(line, "{\"n\":100}");
	free(line);
	/* A subscriber can still send requests. */
	r = conn_call(&a, "{\"id\":2,\"cmd\":\"echo\"}\n");
	CU_ASSERT_TRUE(is_ok(r));
	json_decref(r);
	conn_close(&a);
	conn_close(&b);
}

static void
test_slow_subscriber(void)
{
	struct running r;
	struct conn slow;
	char line[1024];
	json_t *st, *rep;
	int i, sent = 0;

	CU_ASSERT_EQUAL_FATAL(start(&r, "slow.sock", NULL, 64 << 10, 0), 0);
	CU_ASSERT_EQUAL_FATAL(conn_open(&slow, r.path), 0);
	rep = conn_call(&slow, "{\"id\":1,\"cmd\":\"follow\",\"args\":{\"topic\":\"ev\"}}\n");
	CU_ASSERT_TRUE(is_ok(rep));
	json_decref(rep);
	memset(line, 'y', sizeof(line));
	memcpy(line, "{\"pad\":\"", 8);
	memcpy(line + sizeof(line) - 3, "\"}", 3);
	/* 8 MB published, never read: far beyond socket buffers plus the 64 KiB cap. */
	for (i = 0; i < 8192; i++) {
		int rc = sl_ctl_publish(r.s, "ev", line);

		if (rc == -ENOBUFS) {
			usleep(1000);
			i--;
			continue;
		}
		if (rc == 0)
			sent++;
	}
	CU_ASSERT_EQUAL(sent, 8192);
	usleep(200 * 1000);
	st = server_stats(r.path);
	CU_ASSERT_EQUAL(stat_of(st, "clients_dropped_slow"), 1);
	CU_ASSERT_EQUAL(stat_of(st, "subscribers"), 0);
	json_decref(st);
	CU_ASSERT_TRUE(alive(r.path));
	conn_close(&slow);
	stop(&r);
}

static void
test_too_many_clients(void)
{
	struct running r;
	struct conn a, b, c;
	json_t *rep;

	CU_ASSERT_EQUAL_FATAL(start(&r, "small.sock", NULL, 0, 2), 0);
	CU_ASSERT_EQUAL_FATAL(conn_open(&a, r.path), 0);
	rep = conn_call(&a, "{\"id\":1,\"cmd\":\"echo\"}\n");
	json_decref(rep);
	CU_ASSERT_EQUAL_FATAL(conn_open(&b, r.path), 0);
	rep = conn_call(&b, "{\"id\":1,\"cmd\":\"echo\"}\n");
	json_decref(rep);
	CU_ASSERT_EQUAL_FATAL(conn_open(&c, r.path), 0);
	rep = conn_reply(&c);
	CU_ASSERT_STRING_EQUAL(err_code(rep), "too_many_clients");
	json_decref(rep);
	conn_close(&a);
	conn_close(&b);
	conn_close(&c);
	stop(&r);
}

static void
test_stale_and_live_socket(void)
{
	struct sl_ctl_params p = {.cmds = mock_cmds, .ncmds = 1};
	struct sockaddr_un sa;
	struct sl_ctl_server *s;
	char path[sizeof(sa.sun_path)], err[256];
	int fd;

	/* A socket file nobody listens on (a crashed daemon) is replaced. */
	snprintf(path, sizeof(path), "%s/run/stale.sock", tmpdir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	p.path = path;
	s = sl_ctl_server_create(&p, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(s);
	sl_ctl_server_free(s);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0); /* removed on free */

	/* A live one is not touched. */
	p.path = main_srv.path;
	CU_ASSERT_PTR_NULL(sl_ctl_server_create(&p, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already listening"));
	CU_ASSERT_TRUE(alive(main_srv.path));

	/* Nor is a file that is not a socket. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	p.path = path;
	CU_ASSERT_PTR_NULL(sl_ctl_server_create(&p, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a socket"));
	unlink(path);

	p.group = "no-such-group-sl";
	CU_ASSERT_PTR_NULL(sl_ctl_server_create(&p, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not exist"));
}

/* In a forked child: drop to uid nobody with the given gid and no supplementary groups, connect,
 * send an echo request, and exit 0 if the outcome matches expect: "ok", "access_denied", or
 * "EACCES" (refused by the file mode before the server sees anything). */
static int
child_connect(const char *path, gid_t gid, const char *expect)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct sockaddr_un sa;
		char buf[512];
		ssize_t n, got = 0;
		int fd;

		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(NOBODY) < 0)
			_exit(10);
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(!strcmp(expect, "EACCES") && errno == EACCES ? 0 : 11);
		if (send(fd, "{\"id\":1,\"cmd\":\"echo\"}\n", 22, MSG_NOSIGNAL) < 0 &&
		    strcmp(expect, "access_denied"))
			_exit(12);
		alarm(5);
		while ((size_t)got < sizeof(buf) - 1 &&
		       (n = recv(fd, buf + got, sizeof(buf) - 1 - (size_t)got, 0)) > 0) {
			got += n;
			if (memchr(buf, '\n', (size_t)got))
				break;
		}
		buf[got] = '\0';
		if (!strcmp(expect, "ok"))
			_exit(strstr(buf, "\"ok\":true") ? 0 : 13);
		_exit(strstr(buf, "\"code\":\"access_denied\"") && strstr(buf, "\"id\":null") ? 0
											      : 14);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void
test_non_root_peer(void)
{
	struct group *g = getgrgid(NOBODY);
	struct running grp;
	json_t *st;

	/* Mode 0660 root:root: the kernel refuses nobody before the server sees it. */
	CU_ASSERT_EQUAL(child_connect(main_srv.path, NOBODY, "EACCES"), 0);
	/* With the file gate opened, the server's own credential check refuses it. */
	CU_ASSERT_EQUAL_FATAL(chmod(main_srv.path, 0666), 0);
	CU_ASSERT_EQUAL(child_connect(main_srv.path, NOBODY, "access_denied"), 0);
	chmod(main_srv.path, 0660);
	st = server_stats(main_srv.path);
	CU_ASSERT_EQUAL(stat_of(st, "clients_denied"), 1);
	json_decref(st);

	/* A configured group lets its members in, and only them. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_EQUAL_FATAL(start(&grp, "group.sock", g->gr_name, 0, 0), 0);
	{
		struct stat sb;

		CU_ASSERT_EQUAL(stat(grp.path, &sb), 0);
		CU_ASSERT_EQUAL(sb.st_gid, NOBODY);
		CU_ASSERT_EQUAL(sb.st_mode & 07777, 0660);
	}
	CU_ASSERT_EQUAL(child_connect(grp.path, NOBODY, "ok"), 0);
	CU_ASSERT_EQUAL_FATAL(chmod(grp.path, 0666), 0);
	CU_ASSERT_EQUAL(child_connect(grp.path, NOBODY - 1, "access_denied"), 0);
	stop(&grp);
}

int
main(void)
{
	CU_pSuite proto, sock;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	proto = CU_add_suite("ctl_protocol", NULL, NULL);
	CU_add_test(proto, "access rule", test_access_rule);
	CU_add_test(proto, "argument helpers", test_arg_helpers);
	CU_add_test(proto, "ids and results", test_mem_ids_and_results);
	CU_add_test(proto, "error replies", test_mem_errors);
	CU_add_test(proto, "line and output limits", test_mem_limits);
	CU_add_test(proto, "help and publish", test_mem_help_and_publish);
	sock = CU_add_suite("ctl_socket", suite_init, suite_clean);
	CU_add_test(sock, "10 MB line", test_huge_line);
	CU_add_test(sock, "socket file", test_socket_file);
	CU_add_test(sock, "requests", test_requests);
	CU_add_test(sock, "pipelined", test_pipelined);
	CU_add_test(sock, "pipelined large replies", test_pipelined_large);
	CU_add_test(sock, "idle client", test_idle_client);
	CU_add_test(sock, "half close", test_half_close);
	CU_add_test(sock, "disconnect mid reply", test_disconnect_mid_reply);
	CU_add_test(sock, "50 clients", test_many_clients);
	CU_add_test(sock, "subscribe", test_subscribe);
	CU_add_test(sock, "slow subscriber", test_slow_subscriber);
	CU_add_test(sock, "too many clients", test_too_many_clients);
	CU_add_test(sock, "stale and live socket", test_stale_and_live_socket);
	CU_add_test(sock, "non-root peer", test_non_root_peer);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	{
		int failures = (int)CU_get_number_of_failures();

		CU_cleanup_registry();
		return failures != 0;
	}
}
