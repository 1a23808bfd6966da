/* The connection to the daemon: connect with clear diagnostics, one request and its reply at a
 * time, lines read with a timeout. Replies are matched by id; a reply with "id": null and
 * ok=false is the server speaking for the connection (access_denied, too_many_clients) and
 * answers whatever was asked. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sl_ctl.h"
#include "sluicectl.h"

#define SL_CLI_MAX_LINE (64u << 20)

volatile sig_atomic_t sl_cli_interrupted;

int
sl_cli_connect(struct sl_cli_conn *c, const char *path, int timeout_ms)
{
	struct sockaddr_un sa;

	memset(c, 0, sizeof(*c));
	c->path = path;
	c->timeout_ms = timeout_ms;
	c->next_id = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "sluicectl: socket path too long: %s\n", path);
		return SL_CLI_EXIT_USAGE;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, "sluicectl: socket: %s\n", strerror(errno));
		return SL_CLI_EXIT_NOT_RUNNING;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return SL_CLI_EXIT_OK;
	switch (errno) {
	case ENOENT:
	case ENOTDIR:
		fprintf(stderr, "sluicectl: sluice is not running (no socket at %s)\n", path);
		return SL_CLI_EXIT_NOT_RUNNING;
	case ECONNREFUSED:
		fprintf(stderr, "sluicectl: sluice is not running (nothing listening on %s)\n",
			path);
		return SL_CLI_EXIT_NOT_RUNNING;
	case EACCES:
	case EPERM:
		fprintf(stderr,
			"sluicectl: access_denied: cannot open %s: run as root or as a member of "
			"sluice's control group\n",
			path);
		return SL_CLI_EXIT_DENIED;
	default:
		fprintf(stderr, "sluicectl: cannot connect to %s: %s\n", path, strerror(errno));
		return SL_CLI_EXIT_NOT_RUNNING;
	}
}

void
sl_cli_close(struct sl_cli_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
sl_cli_read_line(struct sl_cli_conn *c, int timeout_ms, char **line)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	for (;;) {
		char *nl = c->buf ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int wait = -1;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);

			*line = strndup(c->buf, l);
			if (!*line)
				return -ENOMEM;
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return 1;
		}
		if (c->len >= SL_CLI_MAX_LINE)
			return -EMSGSIZE;
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *b = realloc(c->buf, cap);

			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		if (sl_cli_interrupted)
			return -EINTR;
		if (deadline >= 0) {
			long long left = deadline - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			wait = (int)left;
		}
		n = poll(&pfd, 1, wait);
		if (n < 0 && errno == EINTR)
			continue; /* re-checks sl_cli_interrupted */
		if (n < 0)
			return -errno;
		if (n == 0)
			continue; /* the deadline check above decides */
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? 0 : -errno;
		}
		c->len += (size_t)n;
	}
}

static int protocol_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "sluicectl: <message>"; returns the protocol exit code. */
static int
protocol_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sluicectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return SL_CLI_EXIT_PROTOCOL;
}

int
sl_cli_call(struct sl_cli_conn *c, const char *cmd, json_t *args, json_t **result)
{
	json_int_t id = c->next_id++;
	json_t *req = json_pack("{s:I,s:s}", "id", id, "cmd", cmd);
	char *line, timeout[32];
	size_t len;
	int rc;

	if (!req || (args && json_object_set(req, "args", args) < 0)) {
		json_decref(req);
		return protocol_error("out of memory");
	}
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line)
		return protocol_error("out of memory");
	len = strlen(line);
	line[len] = '\n'; /* over the NUL: exactly len + 1 bytes are sent */
	for (size_t off = 0; off <= len;) {
		ssize_t n = send(c->fd, line + off, len + 1 - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the server may have closed after a refusal: read it below */
		off += (size_t)n;
	}
	free(line);

	snprintf(timeout, sizeof(timeout), "%.1f s", c->timeout_ms / 1000.0);
	for (;;) {
		json_t *r, *rid, *err;
		json_error_t jerr;

		rc = sl_cli_read_line(c, c->timeout_ms, &line);
		if (rc == 0)
			return protocol_error("%s",
					      "sluice closed the connection without replying");
		if (rc == -ETIMEDOUT)
			return protocol_error("no reply from sluice within %s", timeout);
		if (rc == -EINTR)
			return SL_CLI_EXIT_OK; /* interrupted by the user: nothing to report */
		if (rc < 0)
			return protocol_error("reading the reply: %s", strerror(-rc));
		r = json_loads(line, 0, &jerr);
		free(line);
		if (!json_is_object(r)) {
			json_decref(r);
			return protocol_error("malformed reply from sluice: %s",
					      r ? "not an object" : jerr.text);
		}
		rid = json_object_get(r, "id");
		if (!json_object_get(r, "ok") ||
		    !(json_integer_value(rid) == id ||
		      (json_is_null(rid) && json_is_false(json_object_get(r, "ok"))))) {
			json_decref(r); /* a streamed line or a stale reply: not ours */
			continue;
		}
		if (json_is_true(json_object_get(r, "ok"))) {
			*result = json_incref(json_object_get(r, "result"));
			if (!*result)
				*result = json_null();
			json_decref(r);
			return SL_CLI_EXIT_OK;
		}
		err = json_object_get(r, "error");
		fprintf(stderr, "sluicectl: %s: %s\n",
			json_string_value(json_object_get(err, "code"))
			    ? json_string_value(json_object_get(err, "code"))
			    : "error",
			json_string_value(json_object_get(err, "message"))
			    ? json_string_value(json_object_get(err, "message"))
			    : "(no message)");
		rc = !strcmp(json_string_value(json_object_get(err, "code")) ?: "",
			     sl_ctl_error_name(SL_CTL_E_ACCESS_DENIED))
			 ? SL_CLI_EXIT_DENIED
			 : SL_CLI_EXIT_FAILED;
		json_decref(r);
		return rc;
	}
}
