/* sl_capture: what sluice needs to know of a capture file before DPDK's pcap PMD reads it. */
#ifndef SL_CAPTURE_H
#define SL_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

/* Checks that path is a readable capture, counts its frames and gives in out (outlen bytes)
 * the path of an Ethernet capture with the same packets for DPDK's pcap PMD: path itself, or a
 * temporary file that the caller removes when it differs from path (Linux cooked, raw IP and
 * loopback captures are rewritten with Ethernet headers). Returns 0, with *truncated set when
 * the file ends inside a frame (the frames before it are counted), or a negative errno with the
 * reason in err (unreadable, a link type without IP). */
int sl_capture_prepare(const char *path, char *out, size_t outlen, uint64_t *n, int *truncated,
		       char *err, size_t errlen);

#endif /* SL_CAPTURE_H */
