/* sl_control: the management plane of a running sluice: the command table served on the control
 * socket (lib/ctl), the action functions behind each command, the in-memory event tail, and the
 * DPDK telemetry commands. Runs in its own thread, never on a worker lcore.
 *
 * Sensor and policy changes are made on a private copy of the configuration, compiled into a new
 * ruleset off the data path and published with sl_run_swap_ruleset; a change that does not
 * compile changes nothing. Every command is a thin wrapper around an sl_action_* function that
 * the unit tests call directly. */
#ifndef SL_CONTROL_H
#define SL_CONTROL_H

#include <jansson.h>

#include "sl_conf.h"
#include "sl_ctl.h"
#include "sl_event.h"
#include "sl_ruleset.h"

struct sl_control;

/* conf is copied; rs_slot is the ruleset slot the workers read (may be swapped by actions);
 * events may be NULL (no tail). Returns NULL with a message in err. */
struct sl_control *sl_control_create(const struct sl_conf *conf, struct sl_ruleset **rs_slot,
				     struct sl_event_out *events, char *err, size_t errlen);

/* Opens the socket (conf's control.socket) and starts the control thread; registers the
 * telemetry commands. Returns 0 or -1 with a message in err. */
int sl_control_start(struct sl_control *c, char *err, size_t errlen);

/* Stops the thread, closes the socket, frees. NULL is accepted. */
void sl_control_free(struct sl_control *c);

/* Action functions: args is a JSON object; on success *result is set (new reference) and 0 is
 * returned; on failure err is filled and -1 returned. */
#define SL_ACTIONS(X)                                                                              \
	X(version, "version", "", "sluice version")                                                \
	X(status, "status", "", "uptime, mode, ports and their roles, workers")                    \
	X(stats, "stats", "", "counters per port, worker and sensor")                              \
	X(sensors_list, "sensors.list", "", "sensors in force")                                    \
	X(sensors_get, "sensors.get", "name=NAME", "one sensor, with its patterns")                \
	X(sensors_add, "sensors.add",                                                              \
	  "name=NAME pattern=RE... [validator=V] [category=C] [severity=1-3] [contexts=...] "      \
	  "[min_count=N] [near=WORD... within=N]",                                                 \
	  "add a sensor (compiled off the data path)")                                             \
	X(sensors_update, "sensors.update", "name=NAME [field=value...]",                          \
	  "change fields of a sensor")                                                             \
	X(sensors_delete, "sensors.delete", "name=NAME", "remove a sensor")                        \
	X(policies_list, "policies.list", "", "mode, groups and rules")                            \
	X(policies_set, "policies.set", "[groups=[...]] [rules=[...]] [mode=M] [fail=F]",          \
	  "replace groups and/or rules")                                                           \
	X(mode_set, "mode.set", "mode=monitor|protect [group=NAME]",                               \
	  "set the mode globally or for a group")                                                  \
	X(events_tail, "events.tail", "[n=N] [sensor=S] [src_ip=A] [dest_ip=A] [action=A]",        \
	  "last events, newest last")                                                              \
	X(events_follow, "events.follow", "", "stream events on this connection")                  \
	X(flows_top, "flows.top", "[n=N] [src_ip=A] [dest_ip=A] [port=P]",                         \
	  "flows with the most bytes")                                                             \
	X(config_reload, "config.reload", "", "re-read the configuration file")                    \
	X(log_level, "log.level", "level=debug|info|notice|warning|error", "set the log level")    \
	X(shutdown, "shutdown", "", "stop sluice")

#define SL_X(fn, name, usage, help)                                                                \
	int sl_action_##fn(struct sl_control *c, struct sl_ctl_client *cl, json_t *args,           \
			   json_t **result, struct sl_ctl_error *err);
SL_ACTIONS(SL_X)
#undef SL_X

#endif /* SL_CONTROL_H */
