/* The two sluicectl commands that are more than one request and one reply.
 *
 * top: polls `stats` every interval and shows per-second rates from the difference of two
 * samples, the way top(1) does; counters stay exact in the daemon, rates are the client's job.
 * It reads the stats result as:
 *   {"uptime_s": N, "workers": [{"id", "packets", "bytes", "flows_active", "matches",
 *    "drops", "events_lost", ...}], "ports": [{"id"|"name", "rx", "tx", "rx_bytes", "drops",
 *    "missed", ...}], "sensors": [{"name", "hits"}]}
 * with a few alternative key names accepted for each (see the col tables); a missing key shows
 * as "-". Counters that went backwards (daemon restarted) show 0 for that interval.
 *
 * follow: one events.follow request, then every streamed line is an event. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sluicectl.h"

enum col_kind {
	COL_LABEL, /* shown as is */
	COL_GAUGE, /* shown as is, a number */
	COL_RATE,  /* per second */
	COL_GBPS,  /* bytes counter -> Gbit/s */
};

struct col {
	const char *key;   /* in --json frames */
	const char *title; /* in the table */
	enum col_kind kind;
	const char *keys[4]; /* first present wins */
};

static const struct col worker_cols[] = {
    {"id", "WORKER", COL_LABEL, {"id", "worker", "lcore", NULL}},
    {"pps", "PPS", COL_RATE, {"packets", "rx_packets", "pkts", NULL}},
    {"gbps", "GBIT/S", COL_GBPS, {"bytes", "rx_bytes", NULL}},
    {"flows", "FLOWS", COL_GAUGE, {"flows_active", "flows", NULL}},
    {"new_flows_ps", "NEW FLOWS/S", COL_RATE, {"flows_created", NULL}},
    {"matches_ps", "MATCHES/S", COL_RATE, {"matches", NULL}},
    {"drops_ps", "DROPS/S", COL_RATE, {"drops", "dropped", NULL}},
    {"events_lost_ps", "EV LOST/S", COL_RATE, {"events_lost", NULL}},
};

static const struct col port_cols[] = {
    {"port", "PORT", COL_LABEL, {"name", "id", "port", NULL}},
    {"rx_pps", "RX PPS", COL_RATE, {"rx", "rx_packets", "ipackets", NULL}},
    {"tx_pps", "TX PPS", COL_RATE, {"tx", "tx_packets", "opackets", NULL}},
    {"rx_gbps", "RX GBIT/S", COL_GBPS, {"rx_bytes", "ibytes", NULL}},
    {"drops_ps", "DROPS/S", COL_RATE, {"drops", "dropped", NULL}},
    {"missed_ps", "MISSED/S", COL_RATE, {"missed", "imissed", NULL}},
};

static const struct col sensor_cols[] = {
    {"sensor", "SENSOR", COL_LABEL, {"name", "sensor", NULL}},
    {"hits_ps", "HITS/S", COL_RATE, {"hits", "matches", NULL}},
    {"hits", "HITS", COL_GAUGE, {"hits", "matches", NULL}},
};

struct section {
	const char *key; /* array in the stats result */
	const struct col *cols;
	size_t ncols;
	bool total; /* add an "all" row when there are several */
};

static const struct section sections[] = {
    {"ports", port_cols, sizeof(port_cols) / sizeof(port_cols[0]), false},
    {"workers", worker_cols, sizeof(worker_cols) / sizeof(worker_cols[0]), true},
    {"sensors", sensor_cols, sizeof(sensor_cols) / sizeof(sensor_cols[0]), false},
};

static json_t *
field(json_t *o, const struct col *c)
{
	const char *const *k;

	for (k = c->keys; *k; k++)
		if (json_object_get(o, *k))
			return json_object_get(o, *k);
	return NULL;
}

static double
num(json_t *v)
{
	return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
}

/* x rounded to 3 decimals: rates are estimates, more digits are noise in --json output. */
static double
milli(double x)
{
	return (double)(long long)(x * 1000 + 0.5) / 1000;
}

/* The value of column c for row cur (prev = same row one sample earlier, or NULL) as JSON. */
static json_t *
value(const struct col *c, json_t *cur, json_t *prev, double dt)
{
	json_t *v = field(cur, c), *p = prev ? field(prev, c) : NULL;
	double d;

	if (!v)
		return NULL;
	if (c->kind == COL_LABEL || c->kind == COL_GAUGE)
		return json_incref(v);
	if (!json_is_number(v) || !json_is_number(p) || dt <= 0)
		return NULL;
	d = num(v) - num(p);
	if (d < 0)
		d = 0;
	if (c->kind == COL_GBPS)
		return json_real(milli(d * 8 / dt / 1e9));
	return json_integer((json_int_t)(d / dt + 0.5));
}

/* The row of prev that matches cur: same label if there is one, else the same index. */
static json_t *
match(json_t *prev_rows, json_t *cur, size_t idx, const struct col *label)
{
	json_t *l = field(cur, label), *r;
	size_t i;

	json_array_foreach(prev_rows, i, r)
	{
		if (l && json_equal(field(r, label), l))
			return r;
	}
	return l ? NULL : json_array_get(prev_rows, idx);
}

/* The "all" row of a section: sums of every numeric column over rows. */
static json_t *
total(const struct section *sec, json_t *rows)
{
	json_t *o = json_object(), *row;
	size_t i, k;

	for (k = 0; k < sec->ncols; k++) {
		const struct col *c = &sec->cols[k];
		double sum = 0;
		bool any = false;

		json_array_foreach(rows, i, row)
		{
			json_t *v = json_object_get(row, c->key);

			if (json_is_number(v)) {
				sum += num(v);
				any = true;
			}
		}
		if (c->kind == COL_LABEL)
			json_object_set_new(o, c->key, json_string("all"));
		else if (!any)
			json_object_set_new(o, c->key, json_null());
		else if (c->kind == COL_GBPS)
			json_object_set_new(o, c->key, json_real(milli(sum)));
		else
			json_object_set_new(o, c->key, json_integer((json_int_t)sum));
	}
	return o;
}

/* Builds one frame: {"interval_s": dt, "<section>": [{"<title>": value...}...], ...}. */
static json_t *
frame(json_t *cur, json_t *prev, double dt)
{
	json_t *f = json_pack("{s:f}", "interval_s", milli(dt));
	size_t s, i, k;

	if (json_object_get(cur, "uptime_s"))
		json_object_set(f, "uptime_s", json_object_get(cur, "uptime_s"));
	for (s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		const struct section *sec = &sections[s];
		json_t *rows = json_object_get(cur, sec->key), *out = json_array(), *row;

		json_array_foreach(rows, i, row)
		{
			json_t *p = match(json_object_get(prev, sec->key), row, i, &sec->cols[0]);
			json_t *o = json_object();

			for (k = 0; k < sec->ncols; k++) {
				json_t *v = value(&sec->cols[k], row, p, dt);

				json_object_set_new(o, sec->cols[k].key, v ? v : json_null());
			}
			json_array_append_new(out, o);
		}
		if (sec->total && json_array_size(out) > 1)
			json_array_append_new(out, total(sec, out));
		json_object_set_new(f, sec->key, out);
	}
	return f;
}

static void
print_frame(json_t *f, int n, double interval, bool clear)
{
	time_t t = time(NULL);
	char ts[16];
	size_t s;

	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&t));
	if (clear)
		fputs("\033[H\033[2J", stdout);
	else if (n > 1)
		fputc('\n', stdout);
	printf("sluice top - %s - every %.1f s", ts, interval);
	if (json_object_get(f, "uptime_s"))
		printf(" - up %llds",
		       (long long)json_integer_value(json_object_get(f, "uptime_s")));
	printf("%s\n", clear ? " - q to quit" : "");
	for (s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		const struct section *sec = &sections[s];
		json_t *rows = json_object_get(f, sec->key), *row;
		const char **cells;
		char **owned;
		size_t nrows = json_array_size(rows), i, k;

		if (nrows == 0)
			continue;
		owned = calloc(nrows * sec->ncols, sizeof(*owned));
		json_array_foreach(rows, i, row)
		{
			for (k = 0; k < sec->ncols; k++) {
				json_t *v = json_object_get(row, sec->cols[k].key);
				char buf[64];

				if (json_is_string(v))
					owned[i * sec->ncols + k] = strdup(json_string_value(v));
				else if (json_is_real(v) && sec->cols[k].kind == COL_GBPS) {
					snprintf(buf, sizeof(buf), "%.2f", json_real_value(v));
					owned[i * sec->ncols + k] = strdup(buf);
				} else if (json_is_number(v))
					owned[i * sec->ncols + k] =
					    strdup(sl_cli_number(v, buf, sizeof(buf)));
				else
					owned[i * sec->ncols + k] = strdup("-");
			}
		}
		cells = (const char **)owned;
		{
			const char *header[8];

			for (k = 0; k < sec->ncols; k++)
				header[k] = sec->cols[k].title;
			putchar('\n');
			sl_cli_table(stdout, 0, header, sec->ncols, cells, nrows);
		}
		for (i = 0; i < nrows * sec->ncols; i++)
			free(owned[i]);
		free(owned);
	}
	fflush(stdout);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits interval seconds. Returns 1 if the user asked to quit (q, Ctrl-C). */
static int
wait_or_quit(double interval, bool keys)
{
	double end = now_s() + interval;

	for (;;) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		double left = end - now_s();
		char ch;

		if (sl_cli_interrupted)
			return 1;
		if (left <= 0)
			return 0;
		if (poll(&pfd, keys ? 1 : 0, (int)(left * 1000) + 1) > 0 &&
		    read(STDIN_FILENO, &ch, 1) == 1 && (ch == 'q' || ch == 'Q'))
			return 1;
	}
}

int
sl_cli_top(struct sl_cli_conn *c, int iterations, double interval, bool json)
{
	bool keys = isatty(STDIN_FILENO), clear = !json && isatty(STDOUT_FILENO);
	struct termios saved, raw;
	json_t *prev = NULL, *cur = NULL;
	double t_prev = 0, t_cur;
	int rc, n = 0;

	if (keys && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* single keys, no echo; ISIG keeps ^C */
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		keys = false;
	}
	rc = sl_cli_call(c, "stats", NULL, &prev);
	t_prev = now_s();
	while (rc == SL_CLI_EXIT_OK && !sl_cli_interrupted) {
		json_t *f;

		if (wait_or_quit(interval, keys))
			break;
		rc = sl_cli_call(c, "stats", NULL, &cur);
		if (rc != SL_CLI_EXIT_OK || sl_cli_interrupted)
			break;
		t_cur = now_s();
		f = frame(cur, prev, t_cur - t_prev);
		n++;
		if (json) {
			json_dumpf(f, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
			putchar('\n');
			fflush(stdout);
		} else {
			print_frame(f, n, interval, clear);
		}
		json_decref(f);
		json_decref(prev);
		prev = cur;
		cur = NULL;
		t_prev = t_cur;
		if (iterations > 0 && n >= iterations)
			break;
	}
	json_decref(prev);
	json_decref(cur);
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return sl_cli_interrupted ? SL_CLI_EXIT_OK : rc;
}

int
sl_cli_follow(struct sl_cli_conn *c, const char *cmd, json_t *args, int count, bool json)
{
	json_t *result = NULL;
	int rc = sl_cli_call(c, cmd, args, &result), n = 0;

	json_decref(result);
	if (rc != SL_CLI_EXIT_OK || sl_cli_interrupted)
		return rc;
	while (count <= 0 || n < count) {
		char *line;
		json_t *ev;

		rc = sl_cli_read_line(c, -1, &line);
		if (rc == -EINTR)
			return SL_CLI_EXIT_OK;
		if (rc == 0) {
			fprintf(stderr, "sluicectl: sluice closed the connection\n");
			return SL_CLI_EXIT_NOT_RUNNING;
		}
		if (rc < 0) {
			fprintf(stderr, "sluicectl: reading events: %s\n", strerror(-rc));
			return SL_CLI_EXIT_PROTOCOL;
		}
		ev = json_loads(line, 0, NULL);
		if (json_object_get(ev, "ok")) { /* a reply, not an event */
			json_decref(ev);
			free(line);
			continue;
		}
		if (json)
			printf("%s\n", line);
		else if (!ev)
			sl_cli_print_text(stdout, line);
		else
			sl_cli_render_event(stdout, ev);
		fflush(stdout);
		json_decref(ev);
		free(line);
		n++;
	}
	return SL_CLI_EXIT_OK;
}
