/* sl_control: commands of the management socket (see sl_control.h).
 *
 * The control thread is the only writer of the control copy of the configuration; every change
 * builds a whole new ruleset from a clone of it and swaps the clone in only if that succeeded, so
 * a refused change leaves nothing behind. Counters are read from the workers without locks: each
 * is a 64-bit value with a single writer, so a read may be a moment old but never torn. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_telemetry.h>
#include <rte_version.h>

#include "sl_control.h"
#include "sl_port.h"
#include "sl_run.h"
#include "sl_worker.h"

#define TAIL_SIZE 1024 /* events kept for events.tail */

struct sl_control {
	struct sl_conf *conf; /* the configuration in force (sensors, policy) */
	struct sl_ruleset **rs_slot;
	uint64_t generation;
	struct sl_event_out *events;
	struct sl_ctl_server *srv;
	pthread_t thread;
	int started;
	struct timespec t0;
	pthread_mutex_t tail_lock; /* the event writer thread appends, the control thread reads */
	char *tail[TAIL_SIZE];
	uint64_t tail_next;
};

static struct sl_control *telemetry_ctl; /* rte_telemetry callbacks take no context */

/* --- configuration copies --- */

/* Deep copy: the strings a sensor owns (patterns, near keywords) are duplicated. */
static struct sl_conf *
conf_clone(const struct sl_conf *src)
{
	struct sl_conf *c = malloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	memcpy(c, src, sizeof(*c));
	for (unsigned i = 0; i < c->n_sensors; i++) {
		struct sl_sensor_def *d = &c->sensors[i];

		for (unsigned j = 0; j < d->n_patterns; j++)
			d->patterns[j] = strdup(src->sensors[i].patterns[j]);
		for (unsigned j = 0; j < d->n_near; j++)
			d->near[j] = strdup(src->sensors[i].near[j]);
	}
	return c;
}

static void
conf_drop(struct sl_conf *c)
{
	if (c) {
		sl_conf_free(c);
		free(c);
	}
}

/* Compiles `next` into a new ruleset; on success publishes it, makes `next` the configuration in
 * force and frees the old ones. On failure frees `next` and fills err. */
static int
apply(struct sl_control *c, struct sl_conf *next, struct sl_ctl_error *err)
{
	char msg[512];
	unsigned workers = c->conf->workers;
	struct sl_ruleset *rs, *old;

	rs = sl_ruleset_build(next, c->generation + 1, workers, msg, sizeof(msg));
	if (rs == NULL) {
		conf_drop(next);
		return sl_ctl_fail_code(err, "compile_error", "%s", msg);
	}
	c->generation++;
	old = sl_run_swap_ruleset(c->rs_slot, rs);
	sl_ruleset_free(old);
	conf_drop(c->conf);
	c->conf = next;
	return 0;
}

/* A private copy of the configuration in force, for one change; NULL with err filled. */
static struct sl_conf *
change_begin(struct sl_control *c, struct sl_ctl_error *err)
{
	struct sl_conf *next = conf_clone(c->conf);

	if (next == NULL)
		sl_ctl_fail(err, SL_CTL_E_INTERNAL, "out of memory");
	return next;
}

static int sensor_fields(struct sl_sensor_def *d, json_t *args, struct sl_ctl_error *err);

/* Applies the fields of args to sensor d of `next`, then the whole change (see apply). */
static int
change_sensor(struct sl_control *c, struct sl_conf *next, struct sl_sensor_def *d, json_t *args,
	      struct sl_ctl_error *err)
{
	if (sensor_fields(d, args, err) < 0) {
		conf_drop(next);
		return -1;
	}
	return apply(c, next, err);
}

static int sensor_find(const struct sl_conf *conf, const char *name);

/* The index of the sensor that args' "name" names; -1 with err filled (bad_args, not_found). */
static int
named_sensor(const struct sl_control *c, json_t *args, const char **name, struct sl_ctl_error *err)
{
	int i;

	if (sl_ctl_arg_string(args, "name", true, name, err) < 0)
		return -1;
	i = sensor_find(c->conf, *name);
	if (i < 0)
		sl_ctl_fail(err, SL_CTL_E_NOT_FOUND, "no sensor '%s'", *name);
	return i;
}

static int
sensor_find(const struct sl_conf *conf, const char *name)
{
	for (unsigned i = 0; i < conf->n_sensors; i++)
		if (!strcmp(conf->sensors[i].name, name))
			return (int)i;
	return -1;
}

static json_t *
sensor_json(const struct sl_sensor_def *d, int full)
{
	json_t *o = json_object(), *ctx = json_array();

	json_object_set_new(o, "name", json_string(d->name));
	json_object_set_new(o, "validator", json_string(d->validator[0] ? d->validator : "none"));
	json_object_set_new(o, "category", json_string(d->category));
	json_object_set_new(o, "severity", json_integer(d->severity));
	json_object_set_new(o, "signature_id", json_integer(d->signature_id));
	json_object_set_new(o, "min_count", json_integer(d->min_count));
	for (int k = 0; k < SL_SCAN_CTX_COUNT; k++)
		if (!d->contexts || (d->contexts & (1u << k)))
			json_array_append_new(ctx, json_string(sl_scan_context_name(k)));
	json_object_set_new(o, "contexts", ctx);
	if (full) {
		json_t *p = json_array(), *n = json_array();

		for (unsigned i = 0; i < d->n_patterns; i++)
			json_array_append_new(p, json_string(d->patterns[i]));
		json_object_set_new(o, "patterns", p);
		for (unsigned i = 0; i < d->n_near; i++)
			json_array_append_new(n, json_string(d->near[i]));
		json_object_set_new(o, "near", n);
		json_object_set_new(o, "within", json_integer(d->within));
		json_object_set_new(o, "caseless", json_boolean(d->caseless));
	} else {
		json_object_set_new(o, "patterns", json_integer(d->n_patterns));
	}
	return o;
}

/* Reads a string-or-array-of-strings argument into out[] (strdup'd). Returns the count, 0 when
 * absent, -1 on error. */
static int
str_list(json_t *args, const char *key, const char **out, unsigned max, struct sl_ctl_error *err)
{
	json_t *v = json_object_get(args, key);
	unsigned n = 0;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		out[0] = strdup(json_string_value(v));
		return 1;
	}
	if (!json_is_array(v))
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
				   "argument '%s' must be a string or an array of strings", key);
	if (json_array_size(v) > max)
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "argument '%s': at most %u entries", key,
				   max);
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *e = json_array_get(v, i);

		if (!json_is_string(e)) {
			while (n)
				free((void *)out[--n]);
			return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
					   "argument '%s': entry %zu is not a string", key, i);
		}
		out[n++] = strdup(json_string_value(e));
	}
	return (int)n;
}

/* Applies the fields present in args to sensor d (name excluded). */
static int
sensor_fields(struct sl_sensor_def *d, json_t *args, struct sl_ctl_error *err)
{
	const char *s, *pats[SL_SCAN_MAX_PATTERNS], *near[SL_SCAN_MAX_NEAR];
	int64_t v;
	bool b;
	int n, rc;

	if (json_object_get(args, "pattern") && json_object_get(args, "patterns"))
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
				   "give 'pattern' or 'patterns', not both");
	n = str_list(args, json_object_get(args, "pattern") ? "pattern" : "patterns", pats,
		     SL_SCAN_MAX_PATTERNS, err);
	if (n < 0)
		return -1;
	if (n > 0) {
		for (unsigned j = 0; j < d->n_patterns; j++)
			free((void *)d->patterns[j]);
		memcpy(d->patterns, pats, sizeof(pats[0]) * (size_t)n);
		d->n_patterns = (unsigned)n;
	}
	n = str_list(args, "near", near, SL_SCAN_MAX_NEAR, err);
	if (n < 0)
		return -1;
	if (n > 0) {
		for (unsigned j = 0; j < d->n_near; j++)
			free((void *)d->near[j]);
		memcpy(d->near, near, sizeof(near[0]) * (size_t)n);
		d->n_near = (unsigned)n;
	}
	if ((rc = sl_ctl_arg_string(args, "validator", false, &s, err)) < 0)
		return -1;
	if (rc)
		snprintf(d->validator, sizeof(d->validator), "%s", s);
	if ((rc = sl_ctl_arg_string(args, "category", false, &s, err)) < 0)
		return -1;
	if (rc)
		snprintf(d->category, sizeof(d->category), "%s", s);
	if ((rc = sl_ctl_arg_int(args, "severity", false, 1, 3, &v, err)) < 0)
		return -1;
	if (rc)
		d->severity = (uint8_t)v;
	if ((rc = sl_ctl_arg_int(args, "signature_id", false, 1, UINT32_MAX, &v, err)) < 0)
		return -1;
	if (rc)
		d->signature_id = (uint32_t)v;
	if ((rc = sl_ctl_arg_int(args, "min_count", false, 1, 1000000, &v, err)) < 0)
		return -1;
	if (rc)
		d->min_count = (uint32_t)v;
	if ((rc = sl_ctl_arg_int(args, "within", false, 1, 1 << 20, &v, err)) < 0)
		return -1;
	if (rc)
		d->within = (uint32_t)v;
	if ((rc = sl_ctl_arg_bool(args, "caseless", false, &b, err)) < 0)
		return -1;
	if (rc)
		d->caseless = b;
	const char *ctxs[SL_SCAN_CTX_COUNT + 4];
	n = str_list(args, "contexts", ctxs, SL_SCAN_CTX_COUNT, err);
	if (n < 0)
		return -1;
	if (n > 0) {
		uint32_t mask = 0;
		for (int i = 0; i < n; i++) {
			int cx = sl_scan_context_parse(ctxs[i]);
			if (cx < 0)
				rc = sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
						 "unknown context '%s' (raw, url, header, body)",
						 ctxs[i]);
			else
				mask |= 1u << cx;
		}
		for (int i = 0; i < n; i++)
			free((void *)ctxs[i]);
		if (rc < 0)
			return -1;
		d->contexts = mask;
	}
	return 0;
}

static const char *const sensor_keys[] = {
    "name",	 "pattern",  "patterns", "validator", "category", "severity", "signature_id",
    "min_count", "contexts", "near",	 "within",    "caseless", NULL};

/* --- actions --- */

int
sl_action_version(struct sl_control *c, struct sl_ctl_client *cl, json_t *args, json_t **result,
		  struct sl_ctl_error *err)
{
	(void)c, (void)cl, (void)args, (void)err;
	*result = json_pack("{s:s, s:s}", "version", SL_VERSION, "dpdk", rte_version());
	return 0;
}

static double
uptime(const struct sl_control *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - c->t0.tv_sec) + (double)(now.tv_nsec - c->t0.tv_nsec) / 1e9;
}

int
sl_action_status(struct sl_control *c, struct sl_ctl_client *cl, json_t *args, json_t **result,
		 struct sl_ctl_error *err)
{
	const uint16_t *ids;
	const struct sl_conf_port *const *pc;
	struct sl_worker *const *ws;
	unsigned np = sl_run_ports(&ids, &pc), nw = sl_run_workers(&ws);
	json_t *ports = json_array();

	(void)cl, (void)args, (void)err;
	for (unsigned i = 0; i < np; i++)
		json_array_append_new(
		    ports, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "name", pc[i]->name, "role",
				     sl_conf_port_role_name(pc[i]->role), "dev", pc[i]->dev, "peer",
				     pc[i]->peer, "inject", pc[i]->inject, "port_id", ids[i]));
	*result = json_pack(
	    "{s:s, s:f, s:s, s:i, s:o, s:I, s:i, s:s, s:s}", "version", SL_VERSION, "uptime_s",
	    uptime(c), "mode", sl_policy_mode_name(c->conf->policy.mode), "workers", nw, "ports",
	    ports, "ruleset_generation", (json_int_t)c->generation, "sensors", c->conf->n_sensors,
	    "config", c->conf->path, "events", c->conf->events_path);
	return 0;
}

int
sl_action_stats(struct sl_control *c, struct sl_ctl_client *cl, json_t *args, json_t **result,
		struct sl_ctl_error *err)
{
	struct sl_worker *const *ws;
	const uint16_t *ids;
	const struct sl_conf_port *const *pc;
	unsigned nw = sl_run_workers(&ws), np = sl_run_ports(&ids, &pc);
	json_t *workers = json_array(), *ports = json_array(), *sensors = json_array();
	uint64_t hits[SL_SCAN_MAX_SENSORS] = {0}, rejects[SL_SCAN_MAX_SENSORS] = {0};
	const struct sl_ruleset *rs = *c->rs_slot;

	(void)cl, (void)args, (void)err;
	for (unsigned i = 0; i < nw; i++) {
		struct sl_worker_stats w;
		struct sl_flow_stats f;
		struct sl_tcp_stats t;
		struct sl_scan_stats s;
		json_t *o = json_object();

		sl_worker_stats_get(ws[i], &w, &f, &t, &s);
		json_object_set_new(o, "id", json_integer(i));
#define SL_X(fld, name) json_object_set_new(o, name, json_integer((json_int_t)w.fld));
		SL_WORKER_COUNTERS(SL_X)
#undef SL_X
		json_object_set_new(o, "flows_active", json_integer((json_int_t)f.active));
#define SL_X(fld, name) json_object_set_new(o, name, json_integer((json_int_t)f.fld));
		SL_FLOW_COUNTERS(SL_X)
#undef SL_X
#define SL_X(fld, name) json_object_set_new(o, name, json_integer((json_int_t)t.fld));
		SL_TCP_COUNTERS(SL_X)
#undef SL_X
#define SL_X(fld, name) json_object_set_new(o, name, json_integer((json_int_t)w.frag.fld));
		SL_FRAG_COUNTERS(SL_X)
#undef SL_X
		json_object_set_new(o, "reassembly_bytes_held",
				    json_integer((json_int_t)t.bytes_held));
#define SL_X(fld, name) json_object_set_new(o, name, json_integer((json_int_t)s.fld));
		SL_SCAN_COUNTERS(SL_X)
#undef SL_X
		uint64_t drops = w.drop_blocked + w.drop_fail_closed;
		json_object_set_new(o, "drops", json_integer((json_int_t)drops));
		json_object_set_new(o, "ring_full_drops",
				    json_integer((json_int_t)sl_run_ring_drops(i)));
		uint64_t pe = 0;
		for (unsigned e = 0; e < SL_PKT_ERR_COUNT; e++)
			pe += w.pkt_errors[e];
		json_object_set_new(o, "undecodable", json_integer((json_int_t)pe));
		json_t *reasons = json_object();
		for (unsigned e = 1; e < SL_PKT_ERR_COUNT; e++)
			if (w.pkt_errors[e])
				json_object_set_new(reasons, sl_pkt_error_name(e),
						    json_integer((json_int_t)w.pkt_errors[e]));
		json_object_set_new(o, "undecodable_by_reason", reasons);
		uint64_t an[SL_HTTP_AN_COUNT];
		json_t *ha = json_object();
		sl_worker_http_anomalies(ws[i], an);
		for (unsigned e = 0; e < SL_HTTP_AN_COUNT; e++)
			if (an[e])
				json_object_set_new(ha, sl_http_anomaly_name(e),
						    json_integer((json_int_t)an[e]));
		json_object_set_new(o, "http_anomalies", ha);
		json_array_append_new(workers, o);
		for (unsigned k = 0; k < SL_SCAN_MAX_SENSORS; k++) {
			hits[k] += s.sensor_hits[k];
			rejects[k] += s.sensor_rejects[k];
		}
	}
	for (unsigned i = 0; i < np; i++) {
		struct rte_eth_stats es;

		sl_port_stats(ids[i], pc[i], &es);
		json_array_append_new(
		    ports,
		    json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "name", pc[i]->name,
			      "role", sl_conf_port_role_name(pc[i]->role), "rx",
			      (json_int_t)es.ipackets, "tx", (json_int_t)es.opackets, "rx_bytes",
			      (json_int_t)es.ibytes, "tx_bytes", (json_int_t)es.obytes, "missed",
			      (json_int_t)es.imissed, "rx_errors", (json_int_t)es.ierrors,
			      "tx_errors", (json_int_t)es.oerrors));
	}
	for (unsigned k = 0; k < sl_scan_db_sensor_count(rs->db); k++)
		json_array_append_new(sensors, json_pack("{s:s, s:I, s:I}", "name",
							 sl_scan_db_sensor(rs->db, k)->name, "hits",
							 (json_int_t)hits[k], "validator_rejects",
							 (json_int_t)rejects[k]));
	struct sl_event_out_stats es = {0};
	if (c->events)
		sl_event_out_stats(c->events, &es);
	json_t *events = json_pack("{s:I, s:I, s:s?}", "written", (json_int_t)es.written,
				   "write_failed", (json_int_t)es.write_failed, "write_error",
				   es.last_errno ? strerror(es.last_errno) : NULL);
	*result = json_pack("{s:f, s:o, s:o, s:o, s:o, s:o}", "uptime_s", uptime(c), "workers",
			    workers, "ports", ports, "sensors", sensors, "events", events,
			    "control", c->srv ? sl_ctl_server_stats_json(c->srv) : json_object());
	return 0;
}

int
sl_action_sensors_list(struct sl_control *c, struct sl_ctl_client *cl, json_t *args,
		       json_t **result, struct sl_ctl_error *err)
{
	(void)cl, (void)args, (void)err;
	*result = json_array();
	for (unsigned i = 0; i < c->conf->n_sensors; i++)
		json_array_append_new(*result, sensor_json(&c->conf->sensors[i], 0));
	return 0;
}

int
sl_action_sensors_get(struct sl_control *c, struct sl_ctl_client *cl, json_t *args, json_t **result,
		      struct sl_ctl_error *err)
{
	const char *name;
	int i;

	(void)cl;
	i = named_sensor(c, args, &name, err);
	if (i < 0)
		return -1;
	*result = sensor_json(&c->conf->sensors[i], 1);
	return 0;
}

int
sl_action_sensors_add(struct sl_control *c, struct sl_ctl_client *cl, json_t *args, json_t **result,
		      struct sl_ctl_error *err)
{
	struct sl_conf *next;
	struct sl_sensor_def *d;
	const char *name;

	(void)cl;
	if (sl_ctl_args_only(args, sensor_keys, err) < 0 ||
	    sl_ctl_arg_string(args, "name", true, &name, err) < 0)
		return -1;
	if (!json_object_get(args, "pattern") && !json_object_get(args, "patterns"))
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "missing argument 'pattern'");
	if (strlen(name) == 0 || strlen(name) >= SL_SCAN_NAME_LEN)
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "a sensor name has 1 to %d characters",
				   SL_SCAN_NAME_LEN - 1);
	if (sensor_find(c->conf, name) >= 0)
		return sl_ctl_fail(err, SL_CTL_E_EXISTS,
				   "sensor '%s' exists (sensors.update changes "
				   "it)",
				   name);
	if (c->conf->n_sensors == SL_SCAN_MAX_SENSORS)
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "at most %d sensors",
				   SL_SCAN_MAX_SENSORS);
	next = change_begin(c, err);
	if (next == NULL)
		return -1;
	d = &next->sensors[next->n_sensors++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->category, sizeof(d->category), "Personal Data Leak");
	d->severity = 2;
	d->min_count = 1;
	d->signature_id = 9100000 + 100 + (uint32_t)next->n_sensors;
	if (change_sensor(c, next, d, args, err) < 0)
		return -1;
	*result = sensor_json(&c->conf->sensors[c->conf->n_sensors - 1], 1);
	return 0;
}

int
sl_action_sensors_update(struct sl_control *c, struct sl_ctl_client *cl, json_t *args,
			 json_t **result, struct sl_ctl_error *err)
{
	struct sl_conf *next;
	const char *name;
	int i;

	(void)cl;
	if (sl_ctl_args_only(args, sensor_keys, err) < 0)
		return -1;
	i = named_sensor(c, args, &name, err);
	if (i < 0)
		return -1;
	next = change_begin(c, err);
	if (next == NULL)
		return -1;
	if (change_sensor(c, next, &next->sensors[i], args, err) < 0)
		return -1;
	*result = sensor_json(&c->conf->sensors[i], 1);
	return 0;
}

int
sl_action_sensors_delete(struct sl_control *c, struct sl_ctl_client *cl, json_t *args,
			 json_t **result, struct sl_ctl_error *err)
{
	struct sl_conf *next;
	const char *name;
	int i;

	(void)cl;
	i = named_sensor(c, args, &name, err);
	if (i < 0)
		return -1;
	if (c->conf->n_sensors == 1)
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
				   "'%s' is the last sensor: sluice needs at least one", name);
	for (unsigned r = 0; r < c->conf->n_rules; r++)
		for (unsigned k = 0; k < c->conf->rules[r].n_sensors; k++)
			if (!strcmp(c->conf->rules[r].sensors[k], name))
				return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
						   "policy rule %u names '%s': change the rules "
						   "first (policies.set)",
						   r, name);
	next = change_begin(c, err);
	if (next == NULL)
		return -1;
	struct sl_sensor_def gone = next->sensors[i];
	memmove(&next->sensors[i], &next->sensors[i + 1],
		sizeof(next->sensors[0]) * (next->n_sensors - (unsigned)i - 1));
	next->n_sensors--;
	for (unsigned j = 0; j < gone.n_patterns; j++)
		free((void *)gone.patterns[j]);
	for (unsigned j = 0; j < gone.n_near; j++)
		free((void *)gone.near[j]);
	if (apply(c, next, err) < 0)
		return -1;
	*result = json_pack("{s:s}", "deleted", name);
	return 0;
}

static json_t *
net_json(const struct sl_policy_net *n)
{
	char a[INET6_ADDRSTRLEN], buf[64];

	inet_ntop(n->ipver == 6 ? AF_INET6 : AF_INET, n->addr, a, sizeof(a));
	snprintf(buf, sizeof(buf), "%s/%u", a, n->prefix);
	return json_string(buf);
}

int
sl_action_policies_list(struct sl_control *c, struct sl_ctl_client *cl, json_t *args,
			json_t **result, struct sl_ctl_error *err)
{
	const struct sl_conf *cf = c->conf;
	json_t *groups = json_array(), *rules = json_array();

	(void)cl, (void)args, (void)err;
	for (unsigned i = 0; i < cf->policy.n_groups; i++) {
		const struct sl_policy_group *g = &cf->policy.groups[i];
		json_t *nets = json_array(), *vl = json_array(), *po = json_array();

		for (unsigned k = 0; k < g->n_nets; k++)
			json_array_append_new(nets, net_json(&g->nets[k]));
		for (unsigned k = 0; k < g->n_vlans; k++)
			json_array_append_new(vl, json_integer(g->vlans[k]));
		for (unsigned k = 0; k < g->n_ports; k++)
			json_array_append_new(po, json_integer(g->ports[k]));
		json_array_append_new(groups,
				      json_pack("{s:s, s:o, s:o, s:o, s:s}", "name", g->name,
						"cidrs", nets, "vlans", vl, "ports", po, "mode",
						sl_policy_mode_name(g->mode)));
	}
	for (unsigned i = 0; i < cf->n_rules; i++) {
		const struct sl_conf_rule *r = &cf->rules[i];
		json_t *s = json_array();

		for (unsigned k = 0; k < r->n_sensors; k++)
			json_array_append_new(s, json_string(r->sensors[k]));
		json_array_append_new(rules,
				      json_pack("{s:s, s:s, s:o, s:s}", "from", r->from, "to",
						r->to, "sensors", s, "action",
						r->action == SL_POLICY_DENY ? "deny" : "alert"));
	}
	*result = json_pack("{s:s, s:s, s:o, s:o}", "mode", sl_policy_mode_name(cf->policy.mode),
			    "fail", cf->fail_inline == SL_POLICY_FAIL_CLOSED ? "closed" : "open",
			    "groups", groups, "rules", rules);
	return 0;
}

/* Parses groups=[{name, cidrs, vlans?, ports?, mode?}] into p. */
static int
parse_groups(json_t *arr, struct sl_policy *p, struct sl_ctl_error *err)
{
	p->n_groups = 0;
	if (json_array_size(arr) > SL_POLICY_MAX_GROUPS)
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "at most %d groups",
				   SL_POLICY_MAX_GROUPS);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i), *nets, *v;
		struct sl_policy_group *g = &p->groups[p->n_groups];
		const char *name, *mode = "inherit";

		memset(g, 0, sizeof(*g));
		if (!json_is_object(o) || sl_ctl_arg_string(o, "name", true, &name, err) < 0 ||
		    sl_ctl_arg_string(o, "mode", false, &mode, err) < 0 ||
		    sl_ctl_arg_array(o, "cidrs", true, &nets, err) < 0)
			return json_is_object(o) ? -1
						 : sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
							       "group %zu is not an object", i);
		if (strlen(name) >= sizeof(g->name) || !strcmp(name, "any") ||
		    sl_policy_group_find(p, name) >= 0)
			return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
					   "group name '%s' is invalid or "
					   "repeated",
					   name);
		snprintf(g->name, sizeof(g->name), "%s", name);
		int m = sl_policy_parse_mode(mode, 1);
		if (m < 0)
			return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "group '%s': mode '%s'", name,
					   mode);
		g->mode = (enum sl_policy_mode)m;
		if (json_array_size(nets) == 0 || json_array_size(nets) > SL_POLICY_MAX_NETS)
			return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "group '%s': 1 to %d cidrs",
					   name, SL_POLICY_MAX_NETS);
		for (size_t k = 0; k < json_array_size(nets); k++) {
			const char *t = json_string_value(json_array_get(nets, k));
			if (t == NULL || sl_policy_parse_net(t, &g->nets[g->n_nets++]))
				return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
						   "group '%s': '%s' is not a network", name,
						   t ? t : "?");
		}
		for (int kind = 0; kind < 2; kind++) {
			uint16_t *dst = kind ? g->ports : g->vlans;
			unsigned *n = kind ? &g->n_ports : &g->n_vlans;

			v = json_object_get(o, kind ? "ports" : "vlans");
			for (size_t k = 0; v && k < json_array_size(v); k++) {
				json_int_t x = json_integer_value(json_array_get(v, k));
				if (k >= SL_POLICY_MAX_LIST || x <= 0 || x > (kind ? 65535 : 4095))
					return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
							   "group '%s': bad %s", name,
							   kind ? "ports" : "vlans");
				dst[(*n)++] = (uint16_t)x;
			}
		}
		p->n_groups++;
	}
	return 0;
}

/* Parses rules=[{from?, to?, sensors?, action}] against the groups and sensors of cf. */
static int
parse_rules(json_t *arr, struct sl_conf *cf, struct sl_ctl_error *err)
{
	cf->n_rules = 0;
	if (json_array_size(arr) > SL_POLICY_MAX_RULES)
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "at most %d rules", SL_POLICY_MAX_RULES);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i), *sens = NULL;
		struct sl_conf_rule *r = &cf->rules[cf->n_rules];
		const char *from = "any", *to = "any", *action;

		memset(r, 0, sizeof(*r));
		if (!json_is_object(o))
			return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "rule %zu is not an object", i);
		if (sl_ctl_arg_string(o, "from", false, &from, err) < 0 ||
		    sl_ctl_arg_string(o, "to", false, &to, err) < 0 ||
		    sl_ctl_arg_string(o, "action", true, &action, err) < 0 ||
		    sl_ctl_arg_array(o, "sensors", false, &sens, err) < 0)
			return -1;
		for (int k = 0; k < 2; k++) {
			const char *g = k ? to : from;
			if (strcmp(g, "any") && sl_policy_group_find(&cf->policy, g) < 0)
				return sl_ctl_fail(err, SL_CTL_E_NOT_FOUND,
						   "rule %zu: no group '%s'", i, g);
		}
		snprintf(r->from, sizeof(r->from), "%s", from);
		snprintf(r->to, sizeof(r->to), "%s", to);
		if (!strcmp(action, "deny"))
			r->action = SL_POLICY_DENY;
		else if (!strcmp(action, "alert"))
			r->action = SL_POLICY_ALERT;
		else
			return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
					   "rule %zu: action '%s' is not alert or deny", i, action);
		for (size_t k = 0; sens && k < json_array_size(sens); k++) {
			const char *n = json_string_value(json_array_get(sens, k));
			if (n == NULL || sensor_find(cf, n) < 0)
				return sl_ctl_fail(err, SL_CTL_E_NOT_FOUND,
						   "rule %zu: no sensor '%s'", i, n ? n : "?");
			snprintf(r->sensors[r->n_sensors++], SL_SCAN_NAME_LEN, "%s", n);
		}
		cf->n_rules++;
	}
	return 0;
}

int
sl_action_policies_set(struct sl_control *c, struct sl_ctl_client *cl, json_t *args,
		       json_t **result, struct sl_ctl_error *err)
{
	static const char *const keys[] = {"groups", "rules", "mode", "fail", NULL};
	json_t *groups = NULL, *rules = NULL;
	const char *mode = NULL, *fail = NULL;
	struct sl_conf *next;

	if (sl_ctl_args_only(args, keys, err) < 0 ||
	    sl_ctl_arg_array(args, "groups", false, &groups, err) < 0 ||
	    sl_ctl_arg_array(args, "rules", false, &rules, err) < 0 ||
	    sl_ctl_arg_string(args, "mode", false, &mode, err) < 0 ||
	    sl_ctl_arg_string(args, "fail", false, &fail, err) < 0)
		return -1;
	next = change_begin(c, err);
	if (next == NULL)
		return -1;
	if (mode) {
		int m = sl_policy_parse_mode(mode, 0);
		if (m < 0) {
			conf_drop(next);
			return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
					   "mode '%s' is not monitor or protect", mode);
		}
		next->policy.mode = (enum sl_policy_mode)m;
	}
	if (fail) {
		if (strcmp(fail, "open") && strcmp(fail, "closed")) {
			conf_drop(next);
			return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
					   "fail '%s' is not open or closed", fail);
		}
		next->fail_inline =
		    !strcmp(fail, "closed") ? SL_POLICY_FAIL_CLOSED : SL_POLICY_FAIL_OPEN;
		next->policy.fail = next->fail_inline;
	}
	/* Rules refer to groups: new groups invalidate old rules unless rules come too. */
	if ((groups && parse_groups(groups, &next->policy, err) < 0) ||
	    (rules && parse_rules(rules, next, err) < 0) ||
	    (groups && !rules && next->n_rules &&
	     sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "new groups need new rules too") < 0)) {
		conf_drop(next);
		return -1;
	}
	if (apply(c, next, err) < 0)
		return -1;
	return sl_action_policies_list(c, cl, args, result, err);
}

int
sl_action_mode_set(struct sl_control *c, struct sl_ctl_client *cl, json_t *args, json_t **result,
		   struct sl_ctl_error *err)
{
	static const char *const keys[] = {"mode", "group", NULL};
	const char *mode, *group = NULL;
	struct sl_conf *next;
	int m, g = -1;

	if (sl_ctl_args_only(args, keys, err) < 0 ||
	    sl_ctl_arg_string(args, "mode", true, &mode, err) < 0 ||
	    sl_ctl_arg_string(args, "group", false, &group, err) < 0)
		return -1;
	m = sl_policy_parse_mode(mode, group != NULL);
	if (m < 0)
		return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS, "mode '%s' is not monitor or protect%s",
				   mode, group ? " or inherit" : "");
	if (group && (g = sl_policy_group_find(&c->conf->policy, group)) < 0)
		return sl_ctl_fail(err, SL_CTL_E_NOT_FOUND, "no group '%s'", group);
	next = change_begin(c, err);
	if (next == NULL)
		return -1;
	if (g >= 0)
		next->policy.groups[g].mode = (enum sl_policy_mode)m;
	else
		next->policy.mode = (enum sl_policy_mode)m;
	if (apply(c, next, err) < 0)
		return -1;
	return sl_action_policies_list(c, cl, args, result, err);
}

/* Event writer thread: keeps the last TAIL_SIZE lines and hands each to followers. */
static void
event_tap(void *ctx, const char *line, size_t len)
{
	struct sl_control *c = ctx;
	char *copy = strndup(line, len && line[len - 1] == '\n' ? len - 1 : len);

	if (copy == NULL)
		return;
	pthread_mutex_lock(&c->tail_lock);
	free(c->tail[c->tail_next % TAIL_SIZE]);
	c->tail[c->tail_next++ % TAIL_SIZE] = copy;
	pthread_mutex_unlock(&c->tail_lock);
	if (c->srv)
		sl_ctl_publish(c->srv, "events", copy);
}

static int
event_matches(json_t *ev, json_t *args)
{
	static const struct {
		const char *arg, *obj, *key;
	} filters[] = {
	    {"sensor", "dlp", "sensor"},	{"action", "dlp", "action"},
	    {"src_ip", NULL, "src_ip"},		{"dest_ip", NULL, "dest_ip"},
	    {"event_type", NULL, "event_type"},
	};

	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		const char *want = json_string_value(json_object_get(args, filters[i].arg));
		json_t *o = filters[i].obj ? json_object_get(ev, filters[i].obj) : ev;
		const char *have = json_string_value(json_object_get(o, filters[i].key));

		if (want && (have == NULL || strcmp(want, have)))
			return 0;
	}
	return 1;
}

int
sl_action_events_tail(struct sl_control *c, struct sl_ctl_client *cl, json_t *args, json_t **result,
		      struct sl_ctl_error *err)
{
	static const char *const keys[] = {"n",	      "sensor",	    "action", "src_ip",
					   "dest_ip", "event_type", NULL};
	int64_t n = 20;
	json_t *out = json_array();

	(void)cl;
	if (sl_ctl_args_only(args, keys, err) < 0 ||
	    sl_ctl_arg_int(args, "n", false, 1, TAIL_SIZE, &n, err) < 0) {
		json_decref(out);
		return -1;
	}
	pthread_mutex_lock(&c->tail_lock);
	uint64_t first = c->tail_next > TAIL_SIZE ? c->tail_next - TAIL_SIZE : 0;
	for (uint64_t i = c->tail_next; i > first && (int64_t)json_array_size(out) < n; i--) {
		json_t *ev = json_loads(c->tail[(i - 1) % TAIL_SIZE], 0, NULL);

		if (ev && event_matches(ev, args))
			json_array_insert_new(out, 0, ev);
		else
			json_decref(ev);
	}
	pthread_mutex_unlock(&c->tail_lock);
	*result = out;
	return 0;
}

int
sl_action_events_follow(struct sl_control *c, struct sl_ctl_client *cl, json_t *args,
			json_t **result, struct sl_ctl_error *err)
{
	(void)c, (void)args;
	if (cl == NULL || sl_ctl_client_subscribe(cl, "events") < 0)
		return sl_ctl_fail(err, SL_CTL_E_UNSUPPORTED, "cannot follow on this connection");
	*result = json_pack("{s:s}", "following", "events");
	return 0;
}

static json_t *
brief_json(const struct sl_flow_brief *b)
{
	char a[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int cl = b->client, sv = !b->client;
	int af = b->key.ipver == 6 ? AF_INET6 : AF_INET;
	int icmp = sl_pkt_proto_icmp(b->key.proto);
	json_t *o;

	inet_ntop(af, b->key.addr[cl], a, sizeof(a));
	inet_ntop(af, b->key.addr[sv], d, sizeof(d));
	o = json_pack("{s:I, s:s, s:s}", "flow_id", (json_int_t)(b->flow_id & INT64_MAX), "proto",
		      sl_event_proto_name(b->key.proto), "src_ip", a);
	/* As events: an ICMP echo session has no ports; its identifier tells it apart. */
	if (!icmp)
		json_object_set_new(o, "src_port", json_integer(b->key.port[cl]));
	json_object_set_new(o, "dest_ip", json_string(d));
	if (!icmp)
		json_object_set_new(o, "dest_port", json_integer(b->key.port[sv]));
	else
		json_object_set_new(o, "icmp_id", json_integer(b->key.port[0]));
	json_object_update_new(
	    o, json_pack("{s:s, s:I, s:I, s:I, s:I, s:b, s:f}", "app_proto",
			 b->app == SL_EVENT_APP_HTTP   ? "http"
			 : b->app == SL_EVENT_APP_SMTP ? "smtp"
						       : "raw",
			 "bytes_toserver", (json_int_t)b->bytes[cl], "bytes_toclient",
			 (json_int_t)b->bytes[sv], "pkts_toserver", (json_int_t)b->pkts[cl],
			 "pkts_toclient", (json_int_t)b->pkts[sv], "blocked", b->blocked, "age_s",
			 (double)(b->last_ns - b->first_ns) / 1e9));
	return o;
}

int
sl_action_flows_top(struct sl_control *c, struct sl_ctl_client *cl, json_t *args, json_t **result,
		    struct sl_ctl_error *err)
{
	static const char *const keys[] = {"n", "src_ip", "dest_ip", "port", NULL};
	static struct sl_flow_brief all[SL_RULESET_MAX_WORKERS * SL_WORKER_TOP_MAX];
	struct sl_worker *const *ws;
	unsigned nw = sl_run_workers(&ws), total = 0;
	int64_t n = 10, port = 0;
	json_t *out;

	(void)c, (void)cl;
	if (sl_ctl_args_only(args, keys, err) < 0 ||
	    sl_ctl_arg_int(args, "n", false, 1, SL_WORKER_TOP_MAX, &n, err) < 0 ||
	    sl_ctl_arg_int(args, "port", false, 1, 65535, &port, err) < 0)
		return -1;
	for (unsigned i = 0; i < nw; i++) {
		int got = sl_worker_top_flows(ws[i], SL_WORKER_TOP_MAX, all + total, 500);

		if (got > 0)
			total += (unsigned)got;
	}
	out = json_array();
	/* merge: repeatedly take the largest remaining (n and workers are small) */
	while ((int64_t)json_array_size(out) < n) {
		int best = -1;
		for (unsigned i = 0; i < total; i++)
			if (all[i].flow_id &&
			    (best < 0 || all[i].bytes[0] + all[i].bytes[1] >
					     all[best].bytes[0] + all[best].bytes[1]))
				best = (int)i;
		if (best < 0)
			break;
		json_t *f = brief_json(&all[best]);
		const char *sip = json_string_value(json_object_get(f, "src_ip"));
		const char *dip = json_string_value(json_object_get(f, "dest_ip"));
		const char *want_s = json_string_value(json_object_get(args, "src_ip"));
		const char *want_d = json_string_value(json_object_get(args, "dest_ip"));
		int ok = (!want_s || !strcmp(want_s, sip)) && (!want_d || !strcmp(want_d, dip)) &&
			 (!port || all[best].key.port[0] == port || all[best].key.port[1] == port);
		all[best].flow_id = 0;
		if (ok)
			json_array_append_new(out, f);
		else
			json_decref(f);
	}
	*result = out;
	return 0;
}

int
sl_action_config_reload(struct sl_control *c, struct sl_ctl_client *cl, json_t *args,
			json_t **result, struct sl_ctl_error *err)
{
	struct sl_conf *next = malloc(sizeof(*next)), *cur = c->conf;
	char msg[512];
	json_t *restart = json_array();

	(void)cl, (void)args;
	if (next == NULL)
		return sl_ctl_fail(err, SL_CTL_E_INTERNAL, "out of memory");
	if (sl_conf_load(next, cur->path, NULL, 0, msg, sizeof(msg))) {
		free(next);
		json_decref(restart);
		return sl_ctl_fail_code(err, "config_error", "%s", msg);
	}
	/* What the running data path cannot take without a restart keeps its current value. */
	if (next->workers != cur->workers)
		json_array_append_new(restart, json_string("workers"));
	if (next->flow_capacity != cur->flow_capacity)
		json_array_append_new(restart, json_string("flow.capacity"));
	if (next->n_ports != cur->n_ports ||
	    memcmp(next->ports, cur->ports, sizeof(next->ports[0]) * next->n_ports))
		json_array_append_new(restart, json_string("ports"));
	if (strcmp(next->events_path, cur->events_path))
		json_array_append_new(restart, json_string("events.path"));
	next->workers = cur->workers;
	next->flow_capacity = cur->flow_capacity;
	next->http_flows = cur->http_flows;
	memcpy(next->ports, cur->ports, sizeof(next->ports));
	next->n_ports = cur->n_ports;
	if (apply(c, next, err) < 0) {
		json_decref(restart);
		return -1;
	}
	*result = json_pack("{s:I, s:i, s:o}", "ruleset_generation", (json_int_t)c->generation,
			    "sensors", c->conf->n_sensors, "restart_required", restart);
	return 0;
}

int
sl_action_log_level(struct sl_control *c, struct sl_ctl_client *cl, json_t *args, json_t **result,
		    struct sl_ctl_error *err)
{
	static const char *const names[] = {"emerg",   "alert",	 "crit", "error",
					    "warning", "notice", "info", "debug"};
	const char *level;

	(void)c, (void)cl;
	if (sl_ctl_arg_string(args, "level", true, &level, err) < 0)
		return -1;
	for (unsigned i = 0; i < 8; i++)
		if (!strcmp(level, names[i])) {
			rte_log_set_global_level(i + 1);
			*result = json_pack("{s:s}", "level", level);
			return 0;
		}
	return sl_ctl_fail(err, SL_CTL_E_BAD_ARGS,
			   "level '%s' is not one of debug, info, notice, warning, error", level);
}

int
sl_action_shutdown(struct sl_control *c, struct sl_ctl_client *cl, json_t *args, json_t **result,
		   struct sl_ctl_error *err)
{
	(void)c, (void)cl, (void)args, (void)err;
	sl_run_stop();
	*result = json_pack("{s:b}", "stopping", 1);
	return 0;
}

/* --- command table: thin wrappers --- */

#define SL_X(fn, name, usage, help)                                                                \
	static int cmd_##fn(void *ctx, struct sl_ctl_client *cl, json_t *a, json_t **r,            \
			    struct sl_ctl_error *e)                                                \
	{                                                                                          \
		return sl_action_##fn(ctx, cl, a, r, e);                                           \
	}
SL_ACTIONS(SL_X)
#undef SL_X

static const struct sl_ctl_cmd commands[] = {
#define SL_X(fn, name, usage, help) {name, cmd_##fn, help, usage},
    SL_ACTIONS(SL_X)
#undef SL_X
};

/* --- telemetry: the same counters for dpdk-telemetry.py --- */

static int
tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct sl_worker *const *ws;
	unsigned nw = sl_run_workers(&ws);
	struct sl_worker_stats sum = {0};
	struct sl_flow_stats fsum = {0};
	struct sl_scan_stats ssum;

	(void)cmd, (void)params;
	memset(&ssum, 0, sizeof(ssum));
	for (unsigned i = 0; i < nw; i++) {
		struct sl_worker_stats w;
		struct sl_flow_stats f;
		struct sl_scan_stats s;

		sl_worker_stats_get(ws[i], &w, &f, NULL, &s);
#define SL_X(fld, name) sum.fld += w.fld;
		SL_WORKER_COUNTERS(SL_X)
#undef SL_X
#define SL_X(fld, name) fsum.fld += f.fld;
		SL_FLOW_COUNTERS(SL_X)
#undef SL_X
		fsum.active += f.active;
#define SL_X(fld, name) ssum.fld += s.fld;
		SL_SCAN_COUNTERS(SL_X)
#undef SL_X
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "workers", nw);
#define SL_X(fld, name) rte_tel_data_add_dict_u64(d, name, sum.fld);
	SL_WORKER_COUNTERS(SL_X)
#undef SL_X
#define SL_X(fld, name) rte_tel_data_add_dict_u64(d, name, fsum.fld);
	SL_FLOW_COUNTERS(SL_X)
#undef SL_X
	rte_tel_data_add_dict_u64(d, "flows_active", fsum.active);
#define SL_X(fld, name) rte_tel_data_add_dict_u64(d, name, ssum.fld);
	SL_SCAN_COUNTERS(SL_X)
#undef SL_X
	return 0;
}

static int
tel_sensors(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct sl_worker *const *ws;
	unsigned nw = sl_run_workers(&ws);
	const struct sl_ruleset *rs;

	(void)cmd, (void)params;
	if (telemetry_ctl == NULL)
		return -1;
	rs = *telemetry_ctl->rs_slot;
	rte_tel_data_start_dict(d);
	for (unsigned k = 0; k < sl_scan_db_sensor_count(rs->db); k++) {
		uint64_t hits = 0;
		for (unsigned i = 0; i < nw; i++) {
			struct sl_scan_stats s;
			sl_worker_stats_get(ws[i], NULL, NULL, NULL, &s);
			hits += s.sensor_hits[k];
		}
		rte_tel_data_add_dict_u64(d, sl_scan_db_sensor(rs->db, k)->name, hits);
	}
	return 0;
}

/* --- life cycle --- */

struct sl_control *
sl_control_create(const struct sl_conf *conf, struct sl_ruleset **rs_slot,
		  struct sl_event_out *events, char *err, size_t errlen)
{
	struct sl_control *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->conf = conf_clone(conf)) == NULL) {
		free(c);
		snprintf(err, errlen, "control: out of memory");
		return NULL;
	}
	c->rs_slot = rs_slot;
	c->generation = (*rs_slot)->generation;
	c->events = events;
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	pthread_mutex_init(&c->tail_lock, NULL);
	if (events)
		sl_event_out_set_tap(events, event_tap, c);
	return c;
}

static void *
control_main(void *arg)
{
	struct sl_control *c = arg;

	while (sl_ctl_server_run(c->srv, 100) >= 0)
		;
	return NULL;
}

int
sl_control_start(struct sl_control *c, char *err, size_t errlen)
{
	struct sl_ctl_params p = {
	    .path = c->conf->ctl_socket,
	    .group = c->conf->ctl_group[0] ? c->conf->ctl_group : NULL,
	    .cmds = commands,
	    .ncmds = sizeof(commands) / sizeof(commands[0]),
	    .app_ctx = c,
	};

	telemetry_ctl = c;
	rte_telemetry_register_cmd("/sluice/stats", tel_stats,
				   "sluice totals over all workers. No parameters");
	rte_telemetry_register_cmd("/sluice/sensors", tel_sensors,
				   "sluice hits per sensor. No parameters");
	if (!c->conf->ctl_socket[0])
		return 0;
	c->srv = sl_ctl_server_create(&p, err, errlen);
	if (c->srv == NULL)
		return -1;
	if (pthread_create(&c->thread, NULL, control_main, c)) {
		snprintf(err, errlen, "control: cannot start its thread");
		return -1;
	}
	pthread_setname_np(c->thread, "sl-control");
	c->started = 1;
	return 0;
}

void
sl_control_free(struct sl_control *c)
{
	if (c == NULL)
		return;
	if (c->started) {
		sl_ctl_server_stop(c->srv);
		pthread_join(c->thread, NULL);
	}
	if (c->events)
		sl_event_out_set_tap(c->events, NULL, NULL);
	sl_ctl_server_free(c->srv);
	telemetry_ctl = NULL;
	for (unsigned i = 0; i < TAIL_SIZE; i++)
		free(c->tail[i]);
	pthread_mutex_destroy(&c->tail_lock);
	conf_drop(c->conf);
	free(c);
}
