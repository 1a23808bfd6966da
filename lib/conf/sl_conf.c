/* sl_conf: libconfig file + command-line overrides -> struct sl_conf (see sl_conf.h).
 *
 * Every setting has a default here, so an empty file is a valid configuration (with no sensors
 * and no ports; the application adds the port of --pcap). Unknown settings, at any level, are
 * refused rather than ignored: a misspelt option silently doing nothing is the worst failure of a
 * security appliance's configuration. */
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_conf.h"

/* The settings each group may hold; anything else is refused by known_members. */
static const char *const known_top[] = {"workers",    "events",	    "mbufs", "flow",  "defrag",
					"reassembly", "inspection", "http",  "ports", "sensors",
					"policy",     "control",    NULL};
static const char *const known_events[] = {"path", "ring_size", "key_file", NULL};
static const char *const known_control[] = {"socket", "group", NULL};
static const char *const known_flow[] = {"capacity", "tcp_idle_timeout", "udp_idle_timeout", NULL};
static const char *const known_defrag[] = {"max_datagrams", "timeout", NULL};
static const char *const known_reassembly[] = {"max_bytes_per_flow", "max_bytes_per_worker",
					       "segments", "on_cap", NULL};
static const char *const known_inspection[] = {"depth", "udp", "icmp", NULL};
static const char *const known_http[] = {
    "max_flows",   "inflate_states", "zstd_states", "brotli_states",	"mime_states", "max_line",
    "max_headers", "max_body",	     "max_ratio",   "on_uninspectable", NULL};
static const char *const known_port[] = {"name", "dev", "role", "peer", "inject", NULL};
static const char *const known_sensor[] = {"name",	"category", "severity", "signature_id",
					   "validator", "patterns", "contexts", "caseless",
					   "min_count", "near",	    "within",	NULL};
static const char *const known_policy[] = {"mode", "fail", "groups", "rules", NULL};
static const char *const known_group[] = {"name", "mode", "cidrs", "vlans", "ports", NULL};
static const char *const known_rule[] = {"from", "to", "action", "sensors", NULL};

static int
fail(char *err, size_t errlen, const config_setting_t *s, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s && config_setting_source_file(s))
		snprintf(err, errlen, "%s:%u: %s", config_setting_source_file(s),
			 config_setting_source_line(s), msg);
	else
		snprintf(err, errlen, "%s", msg);
	return -EINVAL;
}

/* Refuses a member of group g (`where` names it in messages: "http", "sensor 'fr_ssn'") that
 * is not in known, listing those that are. g may be NULL (not configured). Returns 0 or
 * -EINVAL with err. */
static int
known_members(const config_setting_t *g, const char *where, const char *const *known, char *err,
	      size_t errlen)
{
	if (g == NULL)
		return 0;
	if (!config_setting_is_group(g))
		return fail(err, errlen, g, "%s must be a group { ... }", where);
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		const char *const *k = known;
		char list[256] = "";
		size_t len = 0;

		while (*k && strcmp(*k, name))
			k++;
		if (*k)
			continue;
		for (k = known; *k; k++)
			len += (size_t)snprintf(list + len,
						len < sizeof(list) ? sizeof(list) - len : 0, "%s%s",
						k == known ? "" : ", ", *k);
		return fail(err, errlen, m, "%s: unknown setting '%s' (known: %s)", where, name,
			    list);
	}
	return 0;
}

/* Reads an integer setting `name` of group g into *out when present, checking [lo, hi]. */
static int
get_u64(const config_setting_t *g, const char *name, uint64_t lo, uint64_t hi, uint64_t *out,
	char *err, size_t errlen)
{
	config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;
	long long v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail(err, errlen, s, "'%s' must be an integer", name);
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < lo || (uint64_t)v > hi)
		return fail(err, errlen, s, "'%s' = %lld is out of range [%llu, %llu]", name, v,
			    (unsigned long long)lo, (unsigned long long)hi);
	*out = (uint64_t)v;
	return 0;
}

static int
get_u32(const config_setting_t *g, const char *name, uint32_t lo, uint32_t hi, uint32_t *out,
	char *err, size_t errlen)
{
	uint64_t v = *out;
	int rc = get_u64(g, name, lo, hi, &v, err, errlen);

	*out = (uint32_t)v;
	return rc;
}

/* Reads a boolean setting `name` of group g into *out when present (true or false, nothing
 * else: libconfig's own lookup ignores a setting of another type without a word). */
static int
get_bool(const config_setting_t *g, const char *name, uint8_t *out, char *err, size_t errlen)
{
	config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(err, errlen, s, "'%s' must be true or false", name);
	*out = (uint8_t)config_setting_get_bool(s);
	return 0;
}

/* Copies string setting `name` of g into out (size outlen) when present. */
static int
get_str(const config_setting_t *g, const char *name, char *out, size_t outlen, char *err,
	size_t errlen)
{
	config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;
	const char *v;

	if (s == NULL)
		return 0;
	v = config_setting_get_string(s);
	if (v == NULL)
		return fail(err, errlen, s, "'%s' must be a string", name);
	if (strlen(v) >= outlen)
		return fail(err, errlen, s, "'%s' is longer than %zu characters", name, outlen - 1);
	strcpy(out, v);
	return 0;
}

/* Applies one "path=value" override. The value's type follows the existing setting; a new
 * setting takes the type the text looks like (integer, float, true/false, else string). */
static int
apply_set(config_t *cfg, const char *set, char *err, size_t errlen)
{
	char path[256];
	const char *eq = strchr(set, '=');
	const char *val;
	config_setting_t *s;
	char *end;

	if (eq == NULL || eq == set || (size_t)(eq - set) >= sizeof(path))
		return fail(err, errlen, NULL, "--set '%s': expected path=value", set);
	memcpy(path, set, (size_t)(eq - set));
	path[eq - set] = '\0';
	val = eq + 1;

	s = config_lookup(cfg, path);
	if (s == NULL) {
		/* Create it under its parent group (which must exist, or be the root). */
		char *dot = strrchr(path, '.');
		config_setting_t *parent = config_root_setting(cfg);
		const char *leaf = path;
		int type = CONFIG_TYPE_STRING;

		if (dot) {
			*dot = '\0';
			parent = config_lookup(cfg, path);
			leaf = dot + 1;
			if (parent == NULL) {
				/* create missing intermediate groups one level deep */
				parent = config_setting_add(config_root_setting(cfg), path,
							    CONFIG_TYPE_GROUP);
				if (parent == NULL)
					return fail(err, errlen, NULL,
						    "--set '%s': no such group '%s'", set, path);
			}
		}
		if (!strcmp(val, "true") || !strcmp(val, "false"))
			type = CONFIG_TYPE_BOOL;
		else if (*val && (strtoll(val, &end, 0), *end == '\0'))
			type = CONFIG_TYPE_INT64;
		else if (*val && (strtod(val, &end), *end == '\0'))
			type = CONFIG_TYPE_FLOAT;
		if (config_setting_type(parent) != CONFIG_TYPE_GROUP)
			return fail(err, errlen, NULL, "--set '%s': parent is not a group", set);
		s = config_setting_add(parent, leaf, type);
		if (s == NULL)
			return fail(err, errlen, NULL, "--set '%s': cannot create '%s'", set, leaf);
	}
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: {
		long long v = strtoll(val, &end, 0);
		if (*val == '\0' || *end != '\0')
			return fail(err, errlen, NULL, "--set '%s': '%s' is not an integer", set,
				    val);
		config_setting_set_int64(s, v);
		break;
	}
	case CONFIG_TYPE_FLOAT: {
		double v = strtod(val, &end);
		if (*val == '\0' || *end != '\0')
			return fail(err, errlen, NULL, "--set '%s': '%s' is not a number", set,
				    val);
		config_setting_set_float(s, v);
		break;
	}
	case CONFIG_TYPE_BOOL:
		if (strcmp(val, "true") && strcmp(val, "false"))
			return fail(err, errlen, NULL, "--set '%s': expected true or false", set);
		config_setting_set_bool(s, !strcmp(val, "true"));
		break;
	case CONFIG_TYPE_STRING:
		if (strlen(val) >= 2 && val[0] == '"' && val[strlen(val) - 1] == '"') {
			char tmp[1024];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)strlen(val) - 2, val + 1);
			config_setting_set_string(s, tmp);
		} else {
			config_setting_set_string(s, val);
		}
		break;
	default:
		return fail(err, errlen, NULL, "--set '%s': '%s' is a group or list", set, path);
	}
	return 0;
}

static const char *const role_names[] = {
    [SL_PORT_MIRROR] = "mirror", [SL_PORT_INLINE] = "inline", [SL_PORT_INJECT] = "inject"};

const char *
sl_conf_port_role_name(enum sl_conf_port_role role)
{
	return (unsigned)role < sizeof(role_names) / sizeof(role_names[0]) ? role_names[role]
									   : "unknown";
}

int
sl_conf_port_index(const struct sl_conf *c, const char *name, unsigned self)
{
	for (unsigned j = 0; j < c->n_ports; j++)
		if (j != self && !strcmp(c->ports[j].name, name))
			return (int)j;
	return -1;
}

/* The port named `name` other than ports[self], or NULL. */
static const struct sl_conf_port *
port_named(const struct sl_conf *c, const char *name, unsigned self)
{
	int j = sl_conf_port_index(c, name, self);

	return j < 0 ? NULL : &c->ports[j];
}

static int
load_ports(struct sl_conf *c, config_t *cfg, char *err, size_t errlen)
{
	config_setting_t *list = config_lookup(cfg, "ports");
	int n = list ? config_setting_length(list) : 0;

	if (list && !config_setting_is_list(list))
		return fail(err, errlen, list, "'ports' must be a list ( {...}, ... )");
	if (n > SL_CONF_MAX_PORTS)
		return fail(err, errlen, list, "at most %d ports", SL_CONF_MAX_PORTS);
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct sl_conf_port *p = &c->ports[i];
		char role[16] = "mirror", where[32];
		int rc = 0;

		snprintf(where, sizeof(where), "port %d", i);
		if (known_members(g, where, known_port, err, errlen))
			return -EINVAL;
		rc |= get_str(g, "name", p->name, sizeof(p->name), err, errlen);
		rc |= get_str(g, "dev", p->dev, sizeof(p->dev), err, errlen);
		rc |= get_str(g, "role", role, sizeof(role), err, errlen);
		rc |= get_str(g, "peer", p->peer, sizeof(p->peer), err, errlen);
		rc |= get_str(g, "inject", p->inject, sizeof(p->inject), err, errlen);
		if (rc)
			return -EINVAL;
		if (!p->name[0] || !p->dev[0])
			return fail(err, errlen, g, "port %d: 'name' and 'dev' are required", i);
		if (!strcmp(role, "mirror"))
			p->role = SL_PORT_MIRROR;
		else if (!strcmp(role, "inline"))
			p->role = SL_PORT_INLINE;
		else if (!strcmp(role, "inject"))
			p->role = SL_PORT_INJECT;
		else
			return fail(err, errlen, g,
				    "port '%s': role '%s' is not mirror, inline or inject", p->name,
				    role);
		if (p->peer[0] && p->role != SL_PORT_INLINE)
			return fail(err, errlen, g, "port '%s': only inline ports have a 'peer'",
				    p->name);
		if (p->inject[0] && p->role != SL_PORT_MIRROR)
			return fail(err, errlen, g, "port '%s': only mirror ports have 'inject'",
				    p->name);
		for (int j = 0; j < i; j++)
			if (!strcmp(c->ports[j].name, p->name))
				return fail(err, errlen, g, "port '%s' defined twice", p->name);
	}
	c->n_ports = (unsigned)n;
	for (unsigned i = 0; i < c->n_ports; i++) {
		struct sl_conf_port *p = &c->ports[i];
		const struct sl_conf_port *to = NULL;

		if (p->role == SL_PORT_INLINE) {
			to = port_named(c, p->peer, i);
			if (to == NULL || to->role != SL_PORT_INLINE)
				return fail(
				    err, errlen, config_setting_get_elem(list, i),
				    "inline port '%s': peer '%s' is not another inline port",
				    p->name, p->peer);
		}
		if (p->inject[0]) {
			to = port_named(c, p->inject, i);
			if (to == NULL || to->role != SL_PORT_INJECT)
				return fail(err, errlen, config_setting_get_elem(list, i),
					    "mirror port '%s': inject '%s' is not a port with role "
					    "\"inject\"",
					    p->name, p->inject);
		}
	}
	return 0;
}

/* Reads a sensor's keywords: `near` (array of 1 to SL_SCAN_MAX_NEAR strings of 1 to
 * SL_SCAN_NEAR_LEN bytes, matched caseless) and `within` (bytes between a value and a keyword,
 * 1 to SL_SCAN_NEAR_MAX_WITHIN, default SL_SCAN_NEAR_WITHIN; only with `near`). Returns 0,
 * -ENOMEM, or -EINVAL with err. */
static int
load_near(struct sl_sensor_def *d, config_setting_t *g, char *err, size_t errlen)
{
	config_setting_t *near = config_setting_get_member(g, "near");
	uint32_t within = SL_SCAN_NEAR_WITHIN;

	if (get_u32(g, "within", 1, SL_SCAN_NEAR_MAX_WITHIN, &within, err, errlen))
		return -EINVAL;
	if (near == NULL) {
		if (config_setting_get_member(g, "within"))
			return fail(err, errlen, g, "sensor '%s': 'within' needs 'near' keywords",
				    d->name);
		return 0;
	}
	if (!config_setting_is_array(near) || config_setting_length(near) == 0 ||
	    config_setting_length(near) > SL_SCAN_MAX_NEAR)
		return fail(err, errlen, near,
			    "sensor '%s': 'near' must be an array of 1 to %d "
			    "strings",
			    d->name, SL_SCAN_MAX_NEAR);
	for (int i = 0; i < config_setting_length(near); i++) {
		const char *k = config_setting_get_string_elem(near, i);

		if (k == NULL || k[0] == '\0' || strlen(k) > SL_SCAN_NEAR_LEN)
			return fail(err, errlen, near,
				    "sensor '%s': keyword %d must be a string of 1 "
				    "to %d bytes",
				    d->name, i + 1, SL_SCAN_NEAR_LEN);
		d->near[d->n_near] = strdup(k);
		if (d->near[d->n_near] == NULL)
			return -ENOMEM;
		d->n_near++;
	}
	d->within = within;
	return 0;
}

static int
load_sensor(struct sl_sensor_def *d, config_setting_t *g, char *err, size_t errlen)
{
	config_setting_t *pats = config_setting_get_member(g, "patterns");
	config_setting_t *ctxs = config_setting_get_member(g, "contexts");
	uint32_t sev = 2, min_count = 1, sid = 0;
	int rc;

	if (get_str(g, "name", d->name, sizeof(d->name), err, errlen) ||
	    get_str(g, "category", d->category, sizeof(d->category), err, errlen) ||
	    get_str(g, "validator", d->validator, sizeof(d->validator), err, errlen) ||
	    get_u32(g, "severity", 1, 3, &sev, err, errlen) ||
	    get_u32(g, "min_count", 1, 1000000, &min_count, err, errlen) ||
	    get_u32(g, "signature_id", 0, UINT32_MAX, &sid, err, errlen))
		return -EINVAL;
	if (!d->name[0])
		return fail(err, errlen, g, "sensor without a 'name'");
	char where[64];
	snprintf(where, sizeof(where), "sensor '%s'", d->name);
	if (known_members(g, where, known_sensor, err, errlen))
		return -EINVAL;
	if (!d->category[0])
		strcpy(d->category, "Personal Data Leak");
	d->severity = (uint8_t)sev;
	d->min_count = min_count;
	d->signature_id = sid;
	if (get_bool(g, "caseless", &d->caseless, err, errlen))
		return -EINVAL;
	if (pats == NULL || !config_setting_is_array(pats) || config_setting_length(pats) == 0)
		return fail(err, errlen, g, "sensor '%s': 'patterns' must be a non-empty array",
			    d->name);
	if (config_setting_length(pats) > SL_SCAN_MAX_PATTERNS)
		return fail(err, errlen, pats, "sensor '%s': at most %d patterns", d->name,
			    SL_SCAN_MAX_PATTERNS);
	for (int i = 0; i < config_setting_length(pats); i++) {
		const char *p = config_setting_get_string_elem(pats, i);

		if (p == NULL)
			return fail(err, errlen, pats, "sensor '%s': patterns must be strings",
				    d->name);
		d->patterns[d->n_patterns] = strdup(p);
		if (d->patterns[d->n_patterns] == NULL)
			return -ENOMEM;
		d->n_patterns++;
	}
	if (ctxs) {
		if (!config_setting_is_array(ctxs))
			return fail(err, errlen, ctxs, "sensor '%s': 'contexts' must be an array",
				    d->name);
		for (int i = 0; i < config_setting_length(ctxs); i++) {
			const char *n = config_setting_get_string_elem(ctxs, i);
			int cx = n ? sl_scan_context_parse(n) : -1;

			if (cx < 0)
				return fail(err, errlen, ctxs,
					    "sensor '%s': unknown context '%s' (raw, url, header, "
					    "body)",
					    d->name, n ? n : "?");
			d->contexts |= 1u << cx;
		}
	}
	rc = load_near(d, g, err, errlen);
	return rc == -ENOMEM ? fail(err, errlen, g, "sensor '%s': out of memory", d->name) : rc;
}

static int
load_sensors(struct sl_conf *c, config_t *cfg, char *err, size_t errlen)
{
	config_setting_t *list = config_lookup(cfg, "sensors");
	int n = list ? config_setting_length(list) : 0;

	if (list && !config_setting_is_list(list))
		return fail(err, errlen, list, "'sensors' must be a list ( {...}, ... )");
	if (n > SL_SCAN_MAX_SENSORS)
		return fail(err, errlen, list, "at most %d sensors", SL_SCAN_MAX_SENSORS);
	for (int i = 0; i < n; i++) {
		struct sl_sensor_def *d = &c->sensors[i];

		c->n_sensors = (unsigned)i + 1; /* so sl_conf_free frees partial work */
		if (load_sensor(d, config_setting_get_elem(list, (unsigned)i), err, errlen))
			return -EINVAL;
		if (d->signature_id == 0)
			d->signature_id = 9100001 + (uint32_t)i;
		for (int j = 0; j < i; j++)
			if (!strcmp(c->sensors[j].name, d->name))
				return fail(err, errlen, config_setting_get_elem(list, (unsigned)i),
					    "sensor '%s' defined twice", d->name);
	}
	return 0;
}

/* Reads a string array setting into fixed slots; returns the count or -EINVAL. */
static int
get_str_array(config_setting_t *a, const char *what, char (*out)[32], unsigned max, char *err,
	      size_t errlen)
{
	int n = a ? config_setting_length(a) : 0;

	if (a && !config_setting_is_array(a))
		return fail(err, errlen, a, "'%s' must be an array of strings", what);
	if (n > (int)max)
		return fail(err, errlen, a, "'%s': at most %u entries", what, max);
	for (int i = 0; i < n; i++) {
		const char *v = config_setting_get_string_elem(a, i);

		if (v == NULL || strlen(v) >= 32)
			return fail(err, errlen, a,
				    "'%s' entry %d must be a string shorter than 32", what, i);
		strcpy(out[i], v);
	}
	return n;
}

static int
load_group(struct sl_policy_group *g, config_setting_t *gs, char *err, size_t errlen)
{
	config_setting_t *nets = config_setting_get_member(gs, "cidrs");
	config_setting_t *vl = config_setting_get_member(gs, "vlans");
	config_setting_t *po = config_setting_get_member(gs, "ports");
	char mode[16] = "inherit";
	int m;

	if (get_str(gs, "name", g->name, sizeof(g->name), err, errlen) ||
	    get_str(gs, "mode", mode, sizeof(mode), err, errlen))
		return -EINVAL;
	if (!g->name[0] || !strcmp(g->name, "any"))
		return fail(err, errlen, gs, "a group needs a name other than 'any'");
	char where[64];
	snprintf(where, sizeof(where), "group '%s'", g->name);
	if (known_members(gs, where, known_group, err, errlen))
		return -EINVAL;
	m = sl_policy_parse_mode(mode, 1);
	if (m < 0)
		return fail(err, errlen, gs,
			    "group '%s': mode '%s' is not monitor, protect or "
			    "inherit",
			    g->name, mode);
	g->mode = (enum sl_policy_mode)m;
	if (nets == NULL || !config_setting_is_array(nets) || config_setting_length(nets) == 0 ||
	    config_setting_length(nets) > SL_POLICY_MAX_NETS)
		return fail(err, errlen, gs,
			    "group '%s': 'cidrs' must be an array of 1 to %d "
			    "networks",
			    g->name, SL_POLICY_MAX_NETS);
	for (int i = 0; i < config_setting_length(nets); i++) {
		const char *t = config_setting_get_string_elem(nets, i);

		if (t == NULL || sl_policy_parse_net(t, &g->nets[g->n_nets]))
			return fail(err, errlen, nets,
				    "group '%s': '%s' is not a network "
				    "(198.18.0.0/15, 2001:db8::/32)",
				    g->name, t ? t : "?");
		g->n_nets++;
	}
	for (int k = 0; k < 2; k++) {
		config_setting_t *a = k ? po : vl;
		uint16_t *dst = k ? g->ports : g->vlans;
		unsigned *n = k ? &g->n_ports : &g->n_vlans;

		if (a == NULL)
			continue;
		if (!config_setting_is_array(a) || config_setting_length(a) > SL_POLICY_MAX_LIST)
			return fail(err, errlen, a,
				    "group '%s': '%s' must be an array of at most %d "
				    "integers",
				    g->name, k ? "ports" : "vlans", SL_POLICY_MAX_LIST);
		for (int i = 0; i < config_setting_length(a); i++) {
			int v = config_setting_get_int_elem(a, i);
			if (v <= 0 || v > (k ? 65535 : 4095))
				return fail(err, errlen, a, "group '%s': %d is not a valid %s",
					    g->name, v, k ? "port" : "VLAN ID");
			dst[(*n)++] = (uint16_t)v;
		}
	}
	return 0;
}

static int
load_policy(struct sl_conf *c, config_t *cfg, char *err, size_t errlen)
{
	config_setting_t *p = config_lookup(cfg, "policy");
	config_setting_t *groups = p ? config_setting_get_member(p, "groups") : NULL;
	config_setting_t *rules = p ? config_setting_get_member(p, "rules") : NULL;
	char mode[16] = "monitor", fl[16] = "open";
	int m;

	if (known_members(p, "policy", known_policy, err, errlen) ||
	    get_str(p, "mode", mode, sizeof(mode), err, errlen) ||
	    get_str(p, "fail", fl, sizeof(fl), err, errlen))
		return -EINVAL;
	m = sl_policy_parse_mode(mode, 0);
	if (m < 0)
		return fail(err, errlen, p, "policy.mode '%s' is not monitor or protect", mode);
	c->policy.mode = (enum sl_policy_mode)m;
	if (!strcmp(fl, "open"))
		c->fail_inline = SL_POLICY_FAIL_OPEN;
	else if (!strcmp(fl, "closed"))
		c->fail_inline = SL_POLICY_FAIL_CLOSED;
	else
		return fail(err, errlen, p, "policy.fail '%s' is not open or closed", fl);
	c->policy.fail = c->fail_inline;
	if (groups && (!config_setting_is_list(groups) ||
		       config_setting_length(groups) > SL_POLICY_MAX_GROUPS))
		return fail(err, errlen, groups,
			    "policy.groups must be a list of at most %d groups",
			    SL_POLICY_MAX_GROUPS);
	for (int i = 0; groups && i < config_setting_length(groups); i++) {
		struct sl_policy_group *g = &c->policy.groups[i];

		if (load_group(g, config_setting_get_elem(groups, (unsigned)i), err, errlen))
			return -EINVAL;
		if (sl_policy_group_find(&c->policy, g->name) >= 0)
			return fail(err, errlen, config_setting_get_elem(groups, (unsigned)i),
				    "group '%s' defined twice", g->name);
		c->policy.n_groups++;
	}
	if (rules &&
	    (!config_setting_is_list(rules) || config_setting_length(rules) > SL_POLICY_MAX_RULES))
		return fail(err, errlen, rules, "policy.rules must be a list of at most %d rules",
			    SL_POLICY_MAX_RULES);
	for (int i = 0; rules && i < config_setting_length(rules); i++) {
		config_setting_t *rs = config_setting_get_elem(rules, (unsigned)i);
		struct sl_conf_rule *r = &c->rules[i];
		char action[16] = "alert", where[32];
		int n;

		snprintf(where, sizeof(where), "rule %d", i);
		strcpy(r->from, "any");
		strcpy(r->to, "any");
		if (known_members(rs, where, known_rule, err, errlen) ||
		    get_str(rs, "from", r->from, sizeof(r->from), err, errlen) ||
		    get_str(rs, "to", r->to, sizeof(r->to), err, errlen) ||
		    get_str(rs, "action", action, sizeof(action), err, errlen))
			return -EINVAL;
		for (int k = 0; k < 2; k++) {
			const char *gname = k ? r->to : r->from;
			if (strcmp(gname, "any") && sl_policy_group_find(&c->policy, gname) < 0)
				return fail(err, errlen, rs, "rule %d: no group '%s'", i, gname);
		}
		if (!strcmp(action, "alert"))
			r->action = SL_POLICY_ALERT;
		else if (!strcmp(action, "deny"))
			r->action = SL_POLICY_DENY;
		else
			return fail(err, errlen, rs, "rule %d: action '%s' is not alert or deny", i,
				    action);
		n = get_str_array(config_setting_get_member(rs, "sensors"), "sensors", r->sensors,
				  SL_SCAN_MAX_SENSORS, err, errlen);
		if (n < 0)
			return -EINVAL;
		r->n_sensors = (unsigned)n;
		c->n_rules++;
	}
	return 0;
}

static void
set_defaults(struct sl_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->workers = 1;
	strcpy(c->events_path, "sluice-events.json");
	c->event_ring_size = 4096;
	strcpy(c->key_path, "/var/lib/sluice/evidence.key");
	strcpy(c->ctl_socket, "/run/sluice/sluice.sock");
	c->mbufs = 16383;
	c->flow_capacity = 65536;
	c->tcp_idle_timeout_s = 300;
	c->udp_idle_timeout_s = 60;
	c->defrag_datagrams = 256;
	c->defrag_timeout_s = 30;
	c->reasm_bytes_per_flow = 1 << 20;
	c->reasm_bytes_per_worker = 64 << 20;
	c->reasm_segments = 8192;
	c->reasm_on_cap = SL_CONF_CAP_INSPECT;
	c->policy.mode = SL_POLICY_MODE_MONITOR;
	c->http_flows = 8192;
	c->http_inflate = 64;
	c->http_zstd = 4;
	c->http_br = 2;
	c->http_mime = 256;
	c->http_max_line = 8192;
	c->http_max_headers = 128;
	c->http_max_body = 64 << 20;
	c->http_max_ratio = 200;
	c->on_uninspectable = SL_CONF_UNINSPECTABLE_ALERT;
	c->inspect_udp = 1;
	c->inspect_icmp = 1;
}

int
sl_conf_load(struct sl_conf *c, const char *path, char *const *sets, unsigned n_sets, char *err,
	     size_t errlen)
{
	config_t cfg;
	config_setting_t *root, *g;
	uint32_t workers = 1;
	char on_cap[16] = "inspect";
	int rc = -EINVAL;

	set_defaults(c);
	snprintf(c->path, sizeof(c->path), "%s", path);
	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO) {
			snprintf(err, errlen, "%s: cannot read configuration file", path);
			rc = -ENOENT;
		} else {
			snprintf(err, errlen, "%s:%d: %s", config_error_file(&cfg) ?: path,
				 config_error_line(&cfg), config_error_text(&cfg));
		}
		goto out;
	}
	for (unsigned i = 0; i < n_sets; i++)
		if (apply_set(&cfg, sets[i], err, errlen))
			goto out;

	root = config_root_setting(&cfg);
	if (known_members(root, "configuration", known_top, err, errlen))
		goto out;
	static const struct {
		const char *name;
		const char *const *known;
	} groups[] = {{"events", known_events},
		      {"control", known_control},
		      {"flow", known_flow},
		      {"defrag", known_defrag},
		      {"reassembly", known_reassembly},
		      {"inspection", known_inspection},
		      {"http", known_http}};
	for (unsigned i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (known_members(config_lookup(&cfg, groups[i].name), groups[i].name,
				  groups[i].known, err, errlen))
			goto out;
	if (get_u32(root, "workers", 1, 64, &workers, err, errlen) ||
	    get_u32(root, "mbufs", 1023, 1 << 24, &c->mbufs, err, errlen))
		goto out;
	c->workers = workers;
	g = config_lookup(&cfg, "events");
	if (get_str(g, "path", c->events_path, sizeof(c->events_path), err, errlen) ||
	    get_u32(g, "ring_size", 64, 1 << 20, &c->event_ring_size, err, errlen) ||
	    get_str(g, "key_file", c->key_path, sizeof(c->key_path), err, errlen))
		goto out;
	g = config_lookup(&cfg, "control");
	if (get_str(g, "socket", c->ctl_socket, sizeof(c->ctl_socket), err, errlen) ||
	    get_str(g, "group", c->ctl_group, sizeof(c->ctl_group), err, errlen))
		goto out;
	g = config_lookup(&cfg, "flow");
	if (get_u32(g, "capacity", 16, 1 << 26, &c->flow_capacity, err, errlen) ||
	    get_u32(g, "tcp_idle_timeout", 1, 86400, &c->tcp_idle_timeout_s, err, errlen) ||
	    get_u32(g, "udp_idle_timeout", 1, 86400, &c->udp_idle_timeout_s, err, errlen))
		goto out;
	g = config_lookup(&cfg, "defrag");
	if (get_u32(g, "max_datagrams", 0, 1 << 16, &c->defrag_datagrams, err, errlen) ||
	    get_u32(g, "timeout", 1, 3600, &c->defrag_timeout_s, err, errlen))
		goto out;
	g = config_lookup(&cfg, "reassembly");
	if (get_u64(g, "max_bytes_per_flow", 0, 1ull << 32, &c->reasm_bytes_per_flow, err,
		    errlen) ||
	    get_u64(g, "max_bytes_per_worker", 0, 1ull << 40, &c->reasm_bytes_per_worker, err,
		    errlen) ||
	    get_u32(g, "segments", 16, 1 << 24, &c->reasm_segments, err, errlen) ||
	    get_str(g, "on_cap", on_cap, sizeof(on_cap), err, errlen))
		goto out;
	if (!strcmp(on_cap, "inspect"))
		c->reasm_on_cap = SL_CONF_CAP_INSPECT;
	else if (!strcmp(on_cap, "bypass"))
		c->reasm_on_cap = SL_CONF_CAP_BYPASS;
	else {
		fail(err, errlen, config_setting_get_member(g, "on_cap"),
		     "reassembly.on_cap '%s' is not inspect or bypass", on_cap);
		goto out;
	}
	g = config_lookup(&cfg, "inspection");
	if (get_u64(g, "depth", 0, UINT64_MAX >> 1, &c->inspect_depth, err, errlen) ||
	    get_bool(g, "udp", &c->inspect_udp, err, errlen) ||
	    get_bool(g, "icmp", &c->inspect_icmp, err, errlen))
		goto out;
	g = config_lookup(&cfg, "http");
	char unin[16] = "alert";
	if (get_u32(g, "max_flows", 0, 1 << 24, &c->http_flows, err, errlen) ||
	    get_u32(g, "inflate_states", 0, 1 << 16, &c->http_inflate, err, errlen) ||
	    get_u32(g, "zstd_states", 0, 1024, &c->http_zstd, err, errlen) ||
	    get_u32(g, "brotli_states", 0, 1024, &c->http_br, err, errlen) ||
	    get_u32(g, "mime_states", 0, 65535, &c->http_mime, err, errlen) ||
	    get_u32(g, "max_line", 64, 1 << 20, &c->http_max_line, err, errlen) ||
	    get_u32(g, "max_headers", 1, 1 << 16, &c->http_max_headers, err, errlen) ||
	    get_u64(g, "max_body", 0, 1ull << 40, &c->http_max_body, err, errlen) ||
	    get_u32(g, "max_ratio", 0, 1 << 20, &c->http_max_ratio, err, errlen) ||
	    get_str(g, "on_uninspectable", unin, sizeof(unin), err, errlen))
		goto out;
	if (!strcmp(unin, "pass"))
		c->on_uninspectable = SL_CONF_UNINSPECTABLE_PASS;
	else if (!strcmp(unin, "alert"))
		c->on_uninspectable = SL_CONF_UNINSPECTABLE_ALERT;
	else if (!strcmp(unin, "deny"))
		c->on_uninspectable = SL_CONF_UNINSPECTABLE_DENY;
	else {
		fail(err, errlen, config_setting_get_member(g, "on_uninspectable"),
		     "http.on_uninspectable '%s' is not alert, deny or pass", unin);
		goto out;
	}
	if (load_ports(c, &cfg, err, errlen) || load_policy(c, &cfg, err, errlen))
		goto out;
	if (load_sensors(c, &cfg, err, errlen)) {
		sl_conf_free(c);
		goto out;
	}
	for (unsigned i = 0; i < c->n_rules; i++)
		for (unsigned j = 0; j < c->rules[i].n_sensors; j++) {
			int found = 0;
			for (unsigned k = 0; k < c->n_sensors; k++)
				found |= !strcmp(c->sensors[k].name, c->rules[i].sensors[j]);
			if (!found) {
				fail(err, errlen, config_lookup(&cfg, "policy.rules"),
				     "rule %u names sensor '%s', which is not defined", i,
				     c->rules[i].sensors[j]);
				sl_conf_free(c);
				goto out;
			}
		}
	rc = 0;
out:
	config_destroy(&cfg);
	return rc;
}

void
sl_conf_free(struct sl_conf *c)
{
	for (unsigned i = 0; i < c->n_sensors; i++) {
		for (unsigned j = 0; j < c->sensors[i].n_patterns; j++)
			free((void *)c->sensors[i].patterns[j]);
		c->sensors[i].n_patterns = 0;
		for (unsigned j = 0; j < c->sensors[i].n_near; j++)
			free((void *)c->sensors[i].near[j]);
		c->sensors[i].n_near = 0;
	}
	c->n_sensors = 0;
}
