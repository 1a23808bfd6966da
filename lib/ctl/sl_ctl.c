/* sl_ctl: JSON control server on a Unix stream socket (see sl_ctl.h for the protocol).
 *
 * One epoll loop, level-triggered, all descriptors non-blocking. Each ready client gets at most
 * one read of SL_CTL_READ_CHUNK bytes per iteration, so a client that floods (a 10 MB line) cannot
 * starve the others, and a client that sends nothing is never touched.
 *
 * Invariants:
 * - c->in holds only the unterminated tail of the current line, never more than max_line bytes,
 *   and is freed as soon as a line completes (idle clients hold no buffer).
 * - c->discarding: a line_too_long reply was sent for the current line; bytes are dropped up to
 *   and including the next newline.
 * - Unsent output never exceeds max_output. A reply that does not fit is replaced by a short
 *   reply_too_large error; a published line that does not fit drops the client (slow reader).
 * - Back-pressure: when a client has SL_CTL_THROTTLE unsent bytes that the socket will not take,
 *   dispatching stops and the rest of the chunk waits in c->backlog; a client is read only when
 *   it has neither unsent output nor backlog. So a client pipelining large replies stalls itself
 *   instead of growing the server, and per client memory stays below
 *   max_line + SL_CTL_READ_CHUNK + max_output.
 * - A closed socket client is unlinked at once but its struct lives on the dead list until the
 *   end of the epoll batch, because later events of the same batch may still point to it.
 * - Only sl_ctl_publish() and sl_ctl_server_stop() run off the control thread; they touch the
 *   queue under qlock, the atomics and the eventfd, nothing else. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sl_ctl.h"

#define SL_CTL_READ_CHUNK   (64u << 10)
#define SL_CTL_ACCEPT_BATCH 32
#define SL_CTL_EVENTS	    64
#define SL_CTL_IN_MIN	    4096
#define SL_CTL_OUT_KEEP	    (64u << 10) /* output buffer kept between replies */
#define SL_CTL_THROTTLE	    (64u << 10) /* unsent bytes that pause dispatching */

struct sl_ctl_buf {
	char *data;
	size_t off; /* first unsent byte */
	size_t len; /* end of data */
	size_t cap;
};

struct sl_ctl_client {
	struct sl_ctl_server *srv;
	struct sl_ctl_client *prev, *next; /* live clients, or the dead list (next only) */
	int fd;				   /* -1: memory client */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	uint32_t events; /* epoll mask currently registered */
	bool discarding;
	bool read_eof;
	bool dead;
	char *in;
	size_t in_len, in_cap;
	struct sl_ctl_buf backlog; /* received, not yet dispatched (throttled): < one read chunk */
	struct sl_ctl_buf out;
	unsigned ntopics;
	char topics[SL_CTL_MAX_TOPICS][SL_CTL_TOPIC_LEN];
};

struct sl_ctl_msg {
	struct sl_ctl_msg *next;
	size_t len;
	char topic[SL_CTL_TOPIC_LEN];
	char line[]; /* len bytes, then '\n' */
};

struct sl_ctl_server {
	struct sl_ctl_params p;
	char *path;
	int lfd, epfd, efd;
	bool own_path; /* we created the socket file: remove it if it is still ours */
	dev_t sock_dev;
	ino_t sock_ino;
	uid_t owner;
	bool have_group;
	gid_t group;
	char group_name[64];
	struct sl_ctl_client *clients;
	struct sl_ctl_client *dead;
	struct sl_ctl_stats st;
	char *rbuf;
	atomic_uint nsubs; /* subscriptions over all clients: publish's fast "nobody listens" */
	atomic_bool stopping;
	pthread_mutex_t qlock;
	struct sl_ctl_msg *qhead, **qtail;
	size_t qbytes;
	atomic_ullong publish_lost;
};

static const char *const sl_ctl_errnames[] = {
#define SL_X(e, s) s,
    SL_CTL_ERRORS(SL_X)
#undef SL_X
};

const char *
sl_ctl_error_name(enum sl_ctl_errcode code)
{
	return (unsigned)code < SL_CTL_E_COUNT ? sl_ctl_errnames[code] : "internal";
}

/* Errors and argument helpers */

static int fail_v(struct sl_ctl_error *err, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static int
fail_v(struct sl_ctl_error *err, const char *code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	return -1;
}

int
sl_ctl_fail(struct sl_ctl_error *err, enum sl_ctl_errcode code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(err, sl_ctl_error_name(code), fmt, ap);
	va_end(ap);
	return -1;
}

int
sl_ctl_fail_code(struct sl_ctl_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a fractional number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* Looks key up. Returns 1 with *v set when present and of the wanted type, 0 when absent (JSON
 * null counts as absent, as clients often encode "not given" that way) and optional, -1 with err
 * filled otherwise. */
static int
arg_lookup(json_t *args, const char *key, bool required, json_type type, const char *what,
	   json_t **v, struct sl_ctl_error *err)
{
	json_t *x = args ? json_object_get(args, key) : NULL;

	if (!x || json_is_null(x)) {
		if (required)
			return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "missing required argument '%s'",
					   key);
		return 0;
	}
	/* Booleans are two jansson types. */
	if (json_typeof(x) != type && !(type == JSON_TRUE && json_is_boolean(x)))
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "argument '%s' must be %s (got %s)", key,
				   what, json_type_name(x));
	*v = x;
	return 1;
}

int
sl_ctl_arg_string(json_t *args, const char *key, bool required, const char **out,
		  struct sl_ctl_error *err)
{
	json_t *v = NULL;
	int rc = arg_lookup(args, key, required, JSON_STRING, "a string", &v, err);

	if (rc == 1)
		*out = json_string_value(v);
	return rc;
}

int
sl_ctl_arg_int(json_t *args, const char *key, bool required, int64_t min, int64_t max, int64_t *out,
	       struct sl_ctl_error *err)
{
	json_t *v = NULL;
	int rc = arg_lookup(args, key, required, JSON_INTEGER, "an integer", &v, err);
	int64_t x;

	if (rc != 1)
		return rc;
	x = json_integer_value(v);
	if (x < min || x > max)
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
				   "argument '%s' must be between %lld and %lld (got %lld)", key,
				   (long long)min, (long long)max, (long long)x);
	*out = x;
	return 1;
}

int
sl_ctl_arg_bool(json_t *args, const char *key, bool required, bool *out, struct sl_ctl_error *err)
{
	json_t *v = NULL;
	int rc = arg_lookup(args, key, required, JSON_TRUE, "a boolean (true or false)", &v, err);

	if (rc == 1)
		*out = json_is_true(v);
	return rc;
}

int
sl_ctl_arg_array(json_t *args, const char *key, bool required, json_t **out,
		 struct sl_ctl_error *err)
{
	return arg_lookup(args, key, required, JSON_ARRAY, "an array", out, err);
}

int
sl_ctl_arg_object(json_t *args, const char *key, bool required, json_t **out,
		  struct sl_ctl_error *err)
{
	return arg_lookup(args, key, required, JSON_OBJECT, "an object", out, err);
}

int
sl_ctl_args_only(json_t *args, const char *const *known, struct sl_ctl_error *err)
{
	const char *key;
	json_t *v = NULL;

	json_object_foreach(args, key, v)
	{
		const char *const *k;
		char list[160];
		size_t n = 0;

		for (k = known; *k; k++)
			if (!strcmp(*k, key))
				break;
		if (*k)
			continue;
		list[0] = '\0';
		for (k = known; *k && n < sizeof(list); k++)
			n += snprintf(list + n, sizeof(list) - n, "%s%s", k == known ? "" : ", ",
				      *k);
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "unknown argument '%s' (expected: %s)",
				   key, known[0] ? list : "none");
	}
	return 0;
}

/* Access */

bool
sl_ctl_access_allowed(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups, uid_t owner,
		      bool have_group, gid_t group)
{
	size_t i;

	if (uid == 0 || uid == owner)
		return true;
	if (!have_group)
		return false;
	if (gid == group)
		return true;
	for (i = 0; i < ngroups; i++)
		if (groups[i] == group)
			return true;
	return false;
}

/* Supplementary groups of the peer into *groups (malloc'd) and returns their count, or -1.
 * SO_PEERGROUPS is the kernel's record of the connecting process (the same credentials it used
 * for the 0660 check) and needs no NSS lookup that could block the control thread on a
 * directory server; the group database (getgrouplist) is the fallback for kernels before 4.13. */
static int
peer_groups(int fd, uid_t uid, gid_t gid, gid_t **groups)
{
	socklen_t len = 64 * sizeof(gid_t);
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];
	int n;

	for (;;) {
		*groups = malloc(len);
		if (!*groups)
			return -1;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, *groups, &len) == 0)
			return (int)(len / sizeof(gid_t));
		free(*groups);
		*groups = NULL;
		if (errno != ERANGE)
			break;
	}
	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &pwp) != 0 || !pwp)
		return 0; /* a uid without a passwd entry has no supplementary groups to find */
	n = 64;
	for (;;) {
		int want = n;

		*groups = malloc((size_t)n * sizeof(gid_t));
		if (!*groups)
			return -1;
		if (getgrouplist(pw.pw_name, gid, *groups, &n) >= 0)
			return n;
		free(*groups);
		*groups = NULL;
		if (n <= want)
			return -1;
	}
}

/* Returns true if the peer on fd may talk to s; fills *cr. */
static bool
peer_allowed(struct sl_ctl_server *s, int fd, struct ucred *cr)
{
	socklen_t len = sizeof(*cr);
	gid_t *groups = NULL;
	bool ok;
	int n;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len) < 0) {
		cr->uid = (uid_t)-1;
		cr->gid = (gid_t)-1;
		cr->pid = 0;
		return false;
	}
	/* The common cases need no group lookup. */
	if (sl_ctl_access_allowed(cr->uid, cr->gid, NULL, 0, s->owner, s->have_group, s->group))
		return true;
	if (!s->have_group)
		return false;
	n = peer_groups(fd, cr->uid, cr->gid, &groups);
	ok = n > 0 && sl_ctl_access_allowed(cr->uid, cr->gid, groups, (size_t)n, s->owner,
					    s->have_group, s->group);
	free(groups);
	return ok;
}

/* Output */

static void client_close(struct sl_ctl_client *c);

/* Makes room for n more bytes in b without ever holding more than limit unsent bytes. Returns 0,
 * -ENOBUFS when the limit would be crossed, -ENOMEM. */
static int
buf_reserve(struct sl_ctl_buf *b, size_t n, size_t limit)
{
	size_t pending = b->len - b->off, cap;
	char *d;

	if (pending + n > limit)
		return -ENOBUFS;
	if (b->len + n <= b->cap)
		return 0;
	if (b->off > 0) { /* compact first: sent bytes are dead space */
		memmove(b->data, b->data + b->off, pending);
		b->off = 0;
		b->len = pending;
		if (b->len + n <= b->cap)
			return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	d = realloc(b->data, cap);
	if (!d)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

static int
out_append(struct sl_ctl_client *c, const char *data, size_t n)
{
	int rc = buf_reserve(&c->out, n, c->srv->p.max_output);

	if (rc < 0)
		return rc;
	memcpy(c->out.data + c->out.len, data, n);
	c->out.len += n;
	return 0;
}

static int
dump_cb(const char *buf, size_t size, void *data)
{
	return out_append(data, buf, size) < 0 ? -1 : 0;
}

static void
update_events(struct sl_ctl_client *c)
{
	uint32_t want = 0;
	struct epoll_event ev;

	if (c->fd < 0 || c->dead)
		return;
	/* Backlog without output is transient; EPOLLOUT fires at once and client_event resumes. */
	if (c->out.len > c->out.off || c->backlog.len > c->backlog.off)
		want |= EPOLLOUT;
	else if (!c->read_eof)
		want |= EPOLLIN | EPOLLRDHUP;
	if (want == c->events)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = c;
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = want;
	else
		client_close(c);
}

/* Sends what the socket takes. Closes the client when the peer is gone, or when it has shut its
 * writing side, everything is sent and it is not a subscriber. Returns 0, or -1 if closed. */
static int
client_flush(struct sl_ctl_client *c)
{
	struct sl_ctl_buf *b = &c->out;

	if (c->fd < 0 || c->dead)
		return c->dead ? -1 : 0;
	while (b->len > b->off) {
		/* MSG_NOSIGNAL: a peer that vanished mid-reply is an EPIPE here, not a SIGPIPE. */
		ssize_t n =
		    send(c->fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			b->off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else {
			client_close(c);
			return -1;
		}
	}
	if (b->len == b->off) {
		b->off = b->len = 0;
		if (b->cap > SL_CTL_OUT_KEEP) {
			free(b->data);
			b->data = NULL;
			b->cap = 0;
		}
		if (c->read_eof && c->ntopics == 0) {
			client_close(c);
			return -1;
		}
	}
	update_events(c);
	return c->dead ? -1 : 0;
}

static void
drop_slow(struct sl_ctl_client *c)
{
	c->srv->st.clients_dropped_slow++;
	client_close(c);
}

/* Appends one reply line. The caller's reply must not be used by the handler any more. */
static void
emit(struct sl_ctl_client *c, json_t *reply)
{
	char msg[128];
	size_t start;
	json_t *r;

	if (c->dead)
		return;
	/* Compact now so that buf_reserve never moves data mid-dump and start stays valid. */
	if (c->out.off > 0) {
		memmove(c->out.data, c->out.data + c->out.off, c->out.len - c->out.off);
		c->out.len -= c->out.off;
		c->out.off = 0;
	}
	start = c->out.len;
	if (json_dump_callback(reply, dump_cb, c, JSON_COMPACT) == 0 && out_append(c, "\n", 1) == 0)
		return;
	c->out.len = start; /* roll back the partial line */
	/* Throttling keeps unsent output small while replies are produced, so this is a reply too
	 * large for the limit: say so rather than drop a client that did nothing wrong. Only if not
	 * even that fits (a memory client nobody drains) is the client dropped. */
	snprintf(msg, sizeof(msg),
		 "reply does not fit in the output buffer (limit %zu bytes, %zu unsent)",
		 c->srv->p.max_output, start);
	r = json_pack("{s:O?,s:b,s:{s:s,s:s}}", "id", json_object_get(reply, "id"), "ok", 0,
		      "error", "code", sl_ctl_error_name(SL_CTL_E_REPLY_TOO_LARGE), "message", msg);
	c->srv->st.errors++;
	if (r && json_dump_callback(r, dump_cb, c, JSON_COMPACT) == 0 &&
	    out_append(c, "\n", 1) == 0) {
		json_decref(r);
		return;
	}
	json_decref(r);
	c->out.len = start;
	drop_slow(c);
}

static void
reply_error(struct sl_ctl_client *c, json_t *id, const char *code, const char *message)
{
	json_t *r = json_pack("{s:O?,s:b,s:{s:s,s:s}}", "id", id, "ok", 0, "error", "code", code,
			      "message", message);

	c->srv->st.errors++;
	if (r)
		emit(c, r);
	else
		client_close(c);
	json_decref(r);
}

static void reply_errorf(struct sl_ctl_client *c, json_t *id, enum sl_ctl_errcode code,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
reply_errorf(struct sl_ctl_client *c, json_t *id, enum sl_ctl_errcode code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error(c, id, sl_ctl_error_name(code), msg);
}

/* Dispatch */

static int
builtin_help(void *app_ctx, struct sl_ctl_client *c, json_t *args, json_t **result,
	     struct sl_ctl_error *err)
{
	static const char *const known[] = {"cmd", NULL};
	const struct sl_ctl_server *s = c->srv;
	const char *only = NULL;
	json_t *a;
	size_t i;

	(void)app_ctx;
	if (sl_ctl_args_only(args, known, err) < 0 ||
	    sl_ctl_arg_string(args, "cmd", false, &only, err) < 0)
		return -1;
	a = json_array();
	if (!a)
		return sl_ctl_fail(err, SL_CTL_E_INTERNAL, "out of memory");
	for (i = 0; i < s->p.ncmds; i++) {
		const struct sl_ctl_cmd *k = &s->p.cmds[i];

		if (only && strcmp(only, k->name))
			continue;
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "command", k->name, "args",
						   k->args_help ? k->args_help : "", "help",
						   k->help ? k->help : ""));
	}
	if (!only || !strcmp(only, "help"))
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "command", "help", "args",
						   "[cmd=NAME]", "help", "list commands"));
	if (only && json_array_size(a) == 0) {
		json_decref(a);
		return sl_ctl_fail(err, SL_CTL_E_NOT_FOUND, "no command '%s'", only);
	}
	*result = a;
	return 0;
}

static const struct sl_ctl_cmd sl_ctl_help_cmd = {"help", builtin_help, "list commands",
						  "[cmd=NAME]"};

static const struct sl_ctl_cmd *
find_cmd(const struct sl_ctl_server *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->p.ncmds; i++)
		if (!strcmp(s->p.cmds[i].name, name))
			return &s->p.cmds[i];
	return strcmp(name, "help") ? NULL : &sl_ctl_help_cmd;
}

/* Handles one complete request line (without its newline) and queues exactly one reply. */
static void
dispatch_line(struct sl_ctl_client *c, const char *line, size_t len)
{
	struct sl_ctl_server *s = c->srv;
	const struct sl_ctl_cmd *cmd;
	struct sl_ctl_error err;
	json_t *req, *id, *jcmd, *args, *result = NULL, *reply;
	json_error_t jerr;
	size_t i;

	/* Blank lines (an operator pressing Enter in nc) get no reply: they are not requests. */
	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			break;
	if (i == len)
		return;
	s->st.requests++;
	req = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		reply_errorf(c, NULL, SL_CTL_E_BAD_JSON, "invalid JSON at column %d: %s",
			     jerr.column, jerr.text);
		return;
	}
	if (!json_is_object(req)) {
		reply_errorf(c, NULL, SL_CTL_E_BAD_REQUEST,
			     "a request is a JSON object {\"id\": ..., \"cmd\": \"...\", \"args\": "
			     "{...}}, got %s",
			     json_type_name(req));
		goto out;
	}
	id = json_object_get(req, "id");
	if (id && (json_is_object(id) || json_is_array(id))) {
		reply_errorf(c, NULL, SL_CTL_E_BAD_REQUEST,
			     "'id' must be a string, number, boolean or null, got %s",
			     json_type_name(id));
		goto out;
	}
	jcmd = json_object_get(req, "cmd");
	if (!jcmd || !json_is_string(jcmd)) {
		reply_errorf(c, id, SL_CTL_E_BAD_REQUEST, "%s",
			     jcmd ? "'cmd' must be a string" : "missing 'cmd' (the command name)");
		goto out;
	}
	args = json_object_get(req, "args");
	if (args && !json_is_object(args)) {
		reply_errorf(c, id, SL_CTL_E_BAD_REQUEST, "'args' must be an object, got %s",
			     json_type_name(args));
		goto out;
	}
	cmd = find_cmd(s, json_string_value(jcmd));
	if (!cmd) {
		reply_errorf(c, id, SL_CTL_E_UNKNOWN_COMMAND,
			     "unknown command '%.64s'; 'sluicectl help' or {\"cmd\":\"help\"} "
			     "lists the commands",
			     json_string_value(jcmd));
		goto out;
	}
	if (!args) {
		args = json_object();
		if (!args || json_object_set_new(req, "args", args) < 0) {
			reply_errorf(c, id, SL_CTL_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	err.code = NULL;
	err.message[0] = '\0';
	if (cmd->fn(s->p.app_ctx, c, args, &result, &err) != 0) {
		json_decref(result);
		reply_error(c, id, err.code ? err.code : sl_ctl_error_name(SL_CTL_E_INTERNAL),
			    err.message[0] ? err.message : "command failed");
		goto out;
	}
	reply = json_pack("{s:O?,s:b,s:o?}", "id", id, "ok", 1, "result", result);
	if (!reply) {
		reply_errorf(c, id, SL_CTL_E_INTERNAL, "out of memory");
		goto out;
	}
	emit(c, reply);
	json_decref(reply);
out:
	json_decref(req);
}

static void
line_too_long(struct sl_ctl_client *c)
{
	c->srv->st.lines_too_long++;
	reply_errorf(c, NULL, SL_CTL_E_LINE_TOO_LONG,
		     "request line longer than %zu bytes; discarded up to the next newline",
		     c->srv->p.max_line);
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
}

/* Appends to the pending partial line; the caller checked the max_line bound. */
static int
in_append(struct sl_ctl_client *c, const char *data, size_t n)
{
	size_t need = c->in_len + n, cap;
	char *d;

	if (need > c->in_cap) {
		cap = c->in_cap ? c->in_cap : SL_CTL_IN_MIN;
		while (cap < need)
			cap *= 2;
		if (cap > c->srv->p.max_line)
			cap = c->srv->p.max_line;
		d = realloc(c->in, cap);
		if (!d)
			return -ENOMEM;
		c->in = d;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, data, n);
	c->in_len += n;
	return 0;
}

static void
in_reset(struct sl_ctl_client *c)
{
	c->in_len = 0;
	if (c->in_cap > SL_CTL_IN_MIN) { /* a past long line must not pin memory while idle */
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/* True when c has so much unsent output that the socket will not take that dispatching must
 * pause. Memory clients are never throttled: their owner drains them between feeds. */
static bool
throttled(struct sl_ctl_client *c)
{
	if (c->fd < 0 || c->out.len - c->out.off < SL_CTL_THROTTLE)
		return false;
	return client_flush(c) == 0 && c->out.len - c->out.off >= SL_CTL_THROTTLE;
}

/* Frames received bytes into lines and dispatches the complete ones. Returns how many bytes it
 * consumed: all of them, unless the client got throttled (or closed) on the way. */
static size_t
client_input(struct sl_ctl_client *c, const char *data, size_t len)
{
	size_t max = c->srv->p.max_line, total = len;

	while (len > 0 && !c->dead && !throttled(c)) {
		const char *nl = memchr(data, '\n', len);
		size_t seg = nl ? (size_t)(nl - data) : len;

		if (c->discarding) {
			if (nl)
				c->discarding = false;
		} else if (c->in_len + seg > max) {
			line_too_long(c);
			c->discarding = !nl;
		} else if (nl && c->in_len == 0) {
			dispatch_line(c, data, seg); /* whole line in this chunk: no copy */
		} else if (in_append(c, data, seg) < 0) {
			reply_errorf(c, NULL, SL_CTL_E_INTERNAL, "out of memory for the request");
			in_reset(c);
			c->discarding = !nl;
		} else if (nl) {
			dispatch_line(c, c->in, c->in_len);
			in_reset(c);
		}
		seg += nl ? 1 : 0;
		data += seg;
		len -= seg;
	}
	return total - len;
}

/* The peer shut its writing side: an unterminated last line is still a request. */
static void
client_eof(struct sl_ctl_client *c)
{
	c->read_eof = true;
	if (c->in_len > 0 && !c->discarding && !c->dead)
		dispatch_line(c, c->in, c->in_len);
	if (!c->dead)
		in_reset(c);
	c->discarding = false;
}

/* Clients */

static struct sl_ctl_client *
client_new(struct sl_ctl_server *s, int fd)
{
	struct sl_ctl_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->srv = s;
	c->fd = fd;
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->st.clients++;
	return c;
}

/* Disconnects c: unlinked and its buffers freed at once; a socket client's struct goes to the
 * dead list (freed after the batch), a memory client's stays with its owner. */
static void
client_close(struct sl_ctl_client *c)
{
	struct sl_ctl_server *s = c->srv;

	if (c->dead)
		return;
	c->dead = true;
	if (s) {
		if (c->prev)
			c->prev->next = c->next;
		else
			s->clients = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->prev = c->next = NULL;
		s->st.clients--;
		if (c->ntopics) {
			s->st.subscribers--;
			atomic_fetch_sub(&s->nsubs, c->ntopics);
		}
	}
	c->ntopics = 0;
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	free(c->out.data);
	memset(&c->out, 0, sizeof(c->out));
	free(c->backlog.data);
	memset(&c->backlog, 0, sizeof(c->backlog));
	if (c->fd >= 0) { /* socket clients always have a server */
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
		c->next = s->dead;
		s->dead = c;
	}
}

int
sl_ctl_client_subscribe(struct sl_ctl_client *c, const char *topic)
{
	size_t n = strlen(topic);
	unsigned i;

	if (n == 0 || n >= SL_CTL_TOPIC_LEN)
		return -EINVAL;
	for (i = 0; i < c->ntopics; i++)
		if (!strcmp(c->topics[i], topic))
			return 0;
	if (c->ntopics == SL_CTL_MAX_TOPICS)
		return -ENOSPC;
	memcpy(c->topics[c->ntopics], topic, n + 1);
	if (c->ntopics++ == 0)
		c->srv->st.subscribers++;
	atomic_fetch_add(&c->srv->nsubs, 1);
	return 0;
}

int
sl_ctl_client_unsubscribe(struct sl_ctl_client *c, const char *topic)
{
	unsigned i;

	for (i = 0; i < c->ntopics; i++)
		if (!strcmp(c->topics[i], topic))
			break;
	if (i == c->ntopics)
		return -ENOENT;
	memmove(c->topics[i], c->topics[i + 1], (c->ntopics - i - 1) * SL_CTL_TOPIC_LEN);
	if (--c->ntopics == 0)
		c->srv->st.subscribers--;
	atomic_fetch_sub(&c->srv->nsubs, 1);
	return 0;
}

uid_t
sl_ctl_client_uid(const struct sl_ctl_client *c)
{
	return c->uid;
}

pid_t
sl_ctl_client_pid(const struct sl_ctl_client *c)
{
	return c->pid;
}

struct sl_ctl_server *
sl_ctl_client_server(const struct sl_ctl_client *c)
{
	return c->srv;
}

struct sl_ctl_client *
sl_ctl_client_mem(struct sl_ctl_server *s)
{
	return client_new(s, -1);
}

int
sl_ctl_client_feed(struct sl_ctl_client *c, const void *data, size_t len, bool eof)
{
	if (c->dead)
		return -EPIPE;
	client_input(c, data, len);
	if (eof && !c->dead)
		client_eof(c);
	return c->dead ? -EPIPE : 0;
}

const char *
sl_ctl_client_output(const struct sl_ctl_client *c, size_t *len)
{
	*len = c->out.len - c->out.off;
	return c->out.data ? c->out.data + c->out.off : "";
}

void
sl_ctl_client_consume(struct sl_ctl_client *c, size_t n)
{
	size_t pending = c->out.len - c->out.off;

	c->out.off += n < pending ? n : pending;
	if (c->out.off == c->out.len)
		c->out.off = c->out.len = 0;
}

void
sl_ctl_client_close(struct sl_ctl_client *c)
{
	client_close(c);
	free(c);
}

/* Publishing */

int
sl_ctl_publish(struct sl_ctl_server *s, const char *topic, const char *json_line)
{
	size_t tl, len;
	struct sl_ctl_msg *m;
	bool wake;

	/* The event writer publishes every event: when nobody follows, that must cost nothing. */
	if (atomic_load_explicit(&s->nsubs, memory_order_relaxed) == 0)
		return 0;
	tl = strlen(topic);
	len = strlen(json_line);
	if (len > 0 && json_line[len - 1] == '\n')
		len--;
	if (tl == 0 || tl >= SL_CTL_TOPIC_LEN || memchr(json_line, '\n', len))
		return -EINVAL;
	m = malloc(sizeof(*m) + len + 1);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = len;
	memcpy(m->topic, topic, tl + 1);
	memcpy(m->line, json_line, len);
	m->line[len] = '\n';

	pthread_mutex_lock(&s->qlock);
	if (s->qbytes + len + 1 > s->p.max_queue) {
		atomic_fetch_add_explicit(&s->publish_lost, 1, memory_order_relaxed);
		pthread_mutex_unlock(&s->qlock);
		free(m);
		return -ENOBUFS;
	}
	wake = s->qhead == NULL;
	*s->qtail = m;
	s->qtail = &m->next;
	s->qbytes += len + 1;
	pthread_mutex_unlock(&s->qlock);

	if (wake) {
		uint64_t one = 1;

		/* Can only fail if the counter would overflow, which means a wakeup is pending. */
		if (write(s->efd, &one, sizeof(one)) < 0) {
		}
	}
	return 0;
}

static bool
subscribed(const struct sl_ctl_client *c, const char *topic)
{
	unsigned i;

	for (i = 0; i < c->ntopics; i++)
		if (!strcmp(c->topics[i], topic))
			return true;
	return false;
}

/* Takes the whole publish queue and appends each line to its subscribers, then sends. */
static void
deliver(struct sl_ctl_server *s)
{
	struct sl_ctl_msg *m, *next;
	struct sl_ctl_client *c, *cn;
	uint64_t cnt;

	if (read(s->efd, &cnt, sizeof(cnt)) < 0) { /* EAGAIN: raced with another reader */
	}
	pthread_mutex_lock(&s->qlock);
	m = s->qhead;
	s->qhead = NULL;
	s->qtail = &s->qhead;
	s->qbytes = 0;
	pthread_mutex_unlock(&s->qlock);

	for (; m; m = next) {
		next = m->next;
		for (c = s->clients; c; c = cn) {
			cn = c->next; /* c may be dropped */
			if (!c->ntopics || !subscribed(c, m->topic))
				continue;
			if (out_append(c, m->line, m->len + 1) < 0)
				drop_slow(c);
			else
				s->st.published++;
		}
		free(m);
	}
	for (c = s->clients; c; c = cn) {
		cn = c->next;
		if (c->fd >= 0 && c->out.len > c->out.off && !(c->events & EPOLLOUT))
			client_flush(c);
	}
}

/* Server */

static void
deny(int fd, const char *code, const char *msg)
{
	json_t *r = json_pack("{s:n,s:b,s:{s:s,s:s}}", "id", "ok", 0, "error", "code", code,
			      "message", msg);
	char *line = r ? json_dumps(r, JSON_COMPACT) : NULL;

	/* A fresh socket's buffer takes one short line; if not, the peer only sees the close. */
	if (line) {
		size_t n = strlen(line);

		line[n] = '\n'; /* overwrites the NUL: we send n + 1 bytes, not a C string */
		if (send(fd, line, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		}
	}
	free(line);
	json_decref(r);
	close(fd);
}

static void
accept_clients(struct sl_ctl_server *s)
{
	int i;

	for (i = 0; i < SL_CTL_ACCEPT_BATCH; i++) {
		struct sl_ctl_client *c;
		struct epoll_event ev;
		struct ucred cr;
		char msg[200];
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN, or EMFILE: retried on the next iteration */
		}
		if (!peer_allowed(s, fd, &cr)) {
			s->st.clients_denied++;
			if (s->have_group)
				snprintf(msg, sizeof(msg),
					 "uid %u is not root, not the daemon's user and not in "
					 "group '%s'",
					 (unsigned)cr.uid, s->group_name);
			else
				snprintf(msg, sizeof(msg),
					 "uid %u is not root or the daemon's user (no control "
					 "group configured)",
					 (unsigned)cr.uid);
			deny(fd, sl_ctl_error_name(SL_CTL_E_ACCESS_DENIED), msg);
			continue;
		}
		if (s->st.clients >= s->p.max_clients) {
			s->st.clients_rejected++;
			snprintf(msg, sizeof(msg), "%u clients connected; try again later",
				 s->p.max_clients);
			deny(fd, sl_ctl_error_name(SL_CTL_E_TOO_MANY_CLIENTS), msg);
			continue;
		}
		c = client_new(s, fd);
		if (!c) {
			close(fd);
			continue;
		}
		c->uid = cr.uid;
		c->gid = cr.gid;
		c->pid = cr.pid;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			client_close(c);
			continue;
		}
		c->events = ev.events;
		s->st.clients_accepted++;
	}
}

static void
client_event(struct sl_ctl_client *c, uint32_t events)
{
	ssize_t n;

	if (c->dead)
		return;
	if (events & EPOLLERR) {
		client_close(c);
		return;
	}
	if ((events & EPOLLOUT) && client_flush(c) < 0)
		return;
	if (c->backlog.len > c->backlog.off) {
		if (c->out.len == c->out.off) { /* drained: resume the throttled requests */
			struct sl_ctl_buf *b = &c->backlog;

			b->off += client_input(c, b->data + b->off, b->len - b->off);
			if (c->dead)
				return;
			if (b->off == b->len) {
				free(b->data);
				memset(b, 0, sizeof(*b));
			}
		}
		client_flush(c);
		return;
	}
	if (!(c->events & EPOLLIN)) {
		/* Not reading (output pending, or read side closed): a hang-up ends it. */
		if (events & EPOLLHUP)
			client_close(c);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
		return;
	n = recv(c->fd, c->srv->rbuf, SL_CTL_READ_CHUNK, MSG_DONTWAIT);
	if (n > 0) {
		size_t used = client_input(c, c->srv->rbuf, (size_t)n);

		if (used < (size_t)n && !c->dead) {
			struct sl_ctl_buf *b = &c->backlog;

			b->data = malloc((size_t)n - used);
			if (!b->data) {
				client_close(c);
				return;
			}
			memcpy(b->data, c->srv->rbuf + used, (size_t)n - used);
			b->off = 0;
			b->len = b->cap = (size_t)n - used;
		}
	} else if (n == 0)
		client_eof(c);
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		client_close(c);
	client_flush(c);
}

int
sl_ctl_server_run(struct sl_ctl_server *s, int timeout_ms)
{
	struct epoll_event evs[SL_CTL_EVENTS];
	int i, n;

	if (atomic_load(&s->stopping))
		return -ESHUTDOWN;
	n = epoll_wait(s->epfd, evs, SL_CTL_EVENTS, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;

		if (p == &s->lfd)
			accept_clients(s);
		else if (p == &s->efd)
			deliver(s);
		else
			client_event(p, evs[i].events);
	}
	while (s->dead) {
		struct sl_ctl_client *c = s->dead;

		s->dead = c->next;
		free(c);
	}
	return atomic_load(&s->stopping) ? -ESHUTDOWN : n;
}

void
sl_ctl_server_stop(struct sl_ctl_server *s)
{
	uint64_t one = 1;

	atomic_store(&s->stopping, true);
	if (write(s->efd, &one, sizeof(one)) < 0) { /* only fails when a wakeup is pending */
	}
}

int
sl_ctl_server_fd(const struct sl_ctl_server *s)
{
	return s->epfd;
}

void
sl_ctl_server_stats(const struct sl_ctl_server *s, struct sl_ctl_stats *out)
{
	*out = s->st;
	out->publish_lost = atomic_load_explicit(&s->publish_lost, memory_order_relaxed);
}

json_t *
sl_ctl_server_stats_json(const struct sl_ctl_server *s)
{
	struct sl_ctl_stats st;
	json_t *o = json_object();

	if (!o)
		return NULL;
	sl_ctl_server_stats(s, &st);
#define SL_X(f) json_object_set_new(o, #f, json_integer((json_int_t)st.f));
	SL_CTL_STATS(SL_X)
#undef SL_X
	return o;
}

/* mkdir -p for the socket's parent, new levels mode 0755 (clients must traverse them). */
static int
make_parent(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *p, save;

	snprintf(dir, sizeof(dir), "%s", path);
	p = strrchr(dir, '/');
	if (!p || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		save = *p;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create directory %s: %s", dir,
				 strerror(errno));
			return -1;
		}
		*p = save;
		if (save == '\0')
			return 0;
	}
}

/* Removes a stale socket file at path; refuses a live one or a file that is not a socket. */
static int
clear_path(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot stat %s: %s", sa->sun_path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
			 "%s exists and is not a socket; remove it or set another path",
			 sa->sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "a server is already listening on %s (is sluice running?)",
			 sa->sun_path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		snprintf(err, errlen, "cannot probe existing socket %s: %s", sa->sun_path,
			 strerror(errno));
		return -1;
	}
	if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", sa->sun_path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int
listen_socket(struct sl_ctl_server *s, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct epoll_event ev;
	struct stat st;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(s->path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long (%zu bytes, at most %zu): %s",
			 strlen(s->path), sizeof(sa.sun_path) - 1, s->path);
		return -1;
	}
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	if (make_parent(s->path, err, errlen) < 0 || clear_path(&sa, err, errlen) < 0)
		return -1;
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", s->path, strerror(errno));
		return -1;
	}
	s->own_path = true;
	/* Between bind and chmod the file has the umask's mode; the SO_PEERCRED check covers that
	 * window, since the mode is only the first gate. */
	if (chmod(s->path, 0660) < 0 ||
	    (s->have_group && chown(s->path, (uid_t)-1, s->group) < 0)) {
		snprintf(err, errlen, "cannot set mode/group of %s: %s", s->path, strerror(errno));
		return -1;
	}
	if (stat(s->path, &st) == 0) {
		s->sock_dev = st.st_dev;
		s->sock_ino = st.st_ino;
	}
	if (listen(s->lfd, 64) < 0) {
		snprintf(err, errlen, "listen on %s: %s", s->path, strerror(errno));
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &s->lfd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int
resolve_group(struct sl_ctl_server *s, const char *name, char *err, size_t errlen)
{
	struct group gr, *grp = NULL;
	char buf[4096];
	int rc;

	rc = getgrnam_r(name, &gr, buf, sizeof(buf), &grp);
	if (rc != 0 || !grp) {
		snprintf(err, errlen, "control group '%s' %s", name,
			 rc ? strerror(rc) : "does not exist");
		return -1;
	}
	s->have_group = true;
	s->group = grp->gr_gid;
	snprintf(s->group_name, sizeof(s->group_name), "%s", name);
	return 0;
}

struct sl_ctl_server *
sl_ctl_server_create(const struct sl_ctl_params *p, char *err, size_t errlen)
{
	struct sl_ctl_server *s;
	struct epoll_event ev;

	if (p->ncmds && !p->cmds) {
		snprintf(err, errlen, "command table missing");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->p = *p;
	if (!s->p.max_line)
		s->p.max_line = SL_CTL_MAX_LINE_DEFAULT;
	if (!s->p.max_output)
		s->p.max_output = SL_CTL_MAX_OUTPUT_DEFAULT;
	if (!s->p.max_clients)
		s->p.max_clients = SL_CTL_MAX_CLIENTS_DEFAULT;
	if (!s->p.max_queue)
		s->p.max_queue = SL_CTL_MAX_QUEUE_DEFAULT;
	s->lfd = s->epfd = s->efd = -1;
	s->owner = geteuid();
	s->qtail = &s->qhead;
	atomic_init(&s->nsubs, 0);
	atomic_init(&s->stopping, false);
	atomic_init(&s->publish_lost, 0);
	pthread_mutex_init(&s->qlock, NULL);
	s->p.path = NULL;
	if (p->path && !(s->path = strdup(p->path))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (p->group && resolve_group(s, p->group, err, errlen) < 0)
		goto fail;
	s->rbuf = malloc(SL_CTL_READ_CHUNK);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!s->rbuf || s->epfd < 0 || s->efd < 0) {
		snprintf(err, errlen, "cannot set up the control loop: %s", strerror(errno));
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &s->efd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->efd, &ev) < 0) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		goto fail;
	}
	if (s->path && listen_socket(s, err, errlen) < 0)
		goto fail;
	return s;
fail:
	sl_ctl_server_free(s);
	return NULL;
}

void
sl_ctl_server_free(struct sl_ctl_server *s)
{
	struct sl_ctl_msg *m;
	struct stat st;

	if (!s)
		return;
	while (s->clients) {
		struct sl_ctl_client *c = s->clients;
		bool mem = c->fd < 0;

		client_close(c);
		if (mem) /* its owner still frees it with sl_ctl_client_close() */
			c->srv = NULL;
	}
	while (s->dead) {
		struct sl_ctl_client *c = s->dead;

		s->dead = c->next;
		free(c);
	}
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->own_path && stat(s->path, &st) == 0 && st.st_dev == s->sock_dev &&
	    st.st_ino == s->sock_ino)
		unlink(s->path); /* only our own file: a newer daemon may have replaced it */
	if (s->efd >= 0)
		close(s->efd);
	if (s->epfd >= 0)
		close(s->epfd);
	while ((m = s->qhead)) {
		s->qhead = m->next;
		free(m);
	}
	pthread_mutex_destroy(&s->qlock);
	free(s->rbuf);
	free(s->path);
	free(s);
}
