/* libFuzzer target for the control protocol: any byte string is what a client sends. It goes
 * through the same framing, limits and dispatch as socket input (a memory client), fed in chunks
 * whose size comes from the first byte so lines straddle reads. Besides ASan catching memory
 * errors, every output line is checked against the contract: a JSON object that is either a
 * reply ({"id", "ok": bool, "result"} or {"id", "ok": false, "error": {"code", "message"}}) or
 * the line published to subscribers, never anything else, never a partial line.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I lib/ctl tests/fuzz/fuzz_ctl.c \
 *        lib/ctl/sl_ctl.c $(pkg-config --cflags --libs jansson) -lpthread -o /tmp/fuzz_ctl
 * Run:   /tmp/fuzz_ctl -max_total_time=60 -max_len=4096 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sl_ctl.h"

#define FUZZ_PUBLISHED "{\"event\":1}"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

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
cmd_typed(void *app, struct sl_ctl_client *c, json_t *args, json_t **result,
	  struct sl_ctl_error *err)
{
	static const char *const known[] = {"s", "n", "b", "a", "o", NULL};
	const char *s = NULL;
	int64_t n = 0;
	bool b = false;
	json_t *a = NULL, *o = NULL;

	(void)app;
	(void)c;
	if (sl_ctl_args_only(args, known, err) < 0 ||
	    sl_ctl_arg_string(args, "s", false, &s, err) < 0 ||
	    sl_ctl_arg_int(args, "n", false, -100, 100, &n, err) < 0 ||
	    sl_ctl_arg_bool(args, "b", false, &b, err) < 0 ||
	    sl_ctl_arg_array(args, "a", false, &a, err) < 0 ||
	    sl_ctl_arg_object(args, "o", false, &o, err) < 0)
		return -1;
	*result = json_pack("{s:s?,s:I,s:b,s:O?,s:O?}", "s", s, "n", (json_int_t)n, "b", b, "a", a,
			    "o", o);
	return 0;
}

static int
cmd_fail(void *app, struct sl_ctl_client *c, json_t *args, json_t **result,
	 struct sl_ctl_error *err)
{
	(void)app;
	(void)c;
	(void)args;
	(void)result;
	return sl_ctl_fail_code(err, "compile_error", "always fails");
}

static int
cmd_follow(void *app, struct sl_ctl_client *c, json_t *args, json_t **result,
	   struct sl_ctl_error *err)
{
	(void)app;
	(void)args;
	if (sl_ctl_client_subscribe(c, "t") < 0)
		return sl_ctl_fail(err, SL_CTL_E_INTERNAL, "subscribe failed");
	*result = NULL; /* JSON null */
	return 0;
}

static const struct sl_ctl_cmd cmds[] = {
    {"echo", cmd_echo, "echo", NULL},
    {"typed", cmd_typed, "typed arguments", NULL},
    {"fail", cmd_fail, "fails", NULL},
    {"follow", cmd_follow, "subscribes", NULL},
};

static struct sl_ctl_server *
server(void)
{
	static struct sl_ctl_server *s;
	struct sl_ctl_params p = {.cmds = cmds,
				  .ncmds = sizeof(cmds) / sizeof(cmds[0]),
				  .max_line = 512,
				  .max_output = 16 << 10};
	char err[256];

	if (!s)
		s = sl_ctl_server_create(&p, err, sizeof(err));
	check(s != NULL);
	return s;
}

/* Checks and consumes every complete output line. */
static void
drain(struct sl_ctl_client *c)
{
	size_t len;
	const char *out = sl_ctl_client_output(c, &len), *nl;

	while ((nl = memchr(out, '\n', len))) {
		size_t n = (size_t)(nl - out);
		json_t *j = json_loadb(out, n, 0, NULL), *ok, *id, *e;

		check(json_is_object(j));
		ok = json_object_get(j, "ok");
		if (!ok) {
			check(n == strlen(FUZZ_PUBLISHED) && !memcmp(out, FUZZ_PUBLISHED, n));
		} else {
			id = json_object_get(j, "id");
			check(json_is_boolean(ok) && id && !json_is_object(id) &&
			      !json_is_array(id));
			if (json_is_true(ok)) {
				check(json_object_get(j, "result") != NULL &&
				      json_object_size(j) == 3);
			} else {
				e = json_object_get(j, "error");
				check(json_is_string(json_object_get(e, "code")) &&
				      json_is_string(json_object_get(e, "message")) &&
				      json_object_size(j) == 3);
			}
		}
		json_decref(j);
		sl_ctl_client_consume(c, n + 1);
		out = sl_ctl_client_output(c, &len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_ctl_server *s = server();
	struct sl_ctl_client *c;
	size_t chunk, off = 0;
	bool eof;

	if (size < 1)
		return 0;
	chunk = (data[0] & 0x3f) + 1;
	eof = data[0] & 0x80;
	data++;
	size--;
	c = sl_ctl_client_mem(s);
	check(c != NULL);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (sl_ctl_client_feed(c, data + off, n, eof && off + n == size) < 0)
			break;
		drain(c);
		off += n;
	}
	if (size == 0)
		sl_ctl_client_feed(c, NULL, 0, eof);
	/* Subscribers get the published line; everyone else nothing. */
	sl_ctl_publish(s, "t", FUZZ_PUBLISHED);
	while (sl_ctl_server_run(s, 0) > 0)
		;
	drain(c);
	sl_ctl_client_close(c);
	return 0;
}
