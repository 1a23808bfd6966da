/* sl_capture: what sluice needs to know of a capture file before DPDK's pcap PMD reads it. */
#ifndef SL_CAPTURE_H
#define SL_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

/* Counts the frames of the capture at path, which also proves it is a readable pcap file.
 * Returns 0, with *truncated set when the file ends inside a frame (the frames before it are
 * counted); -EINVAL with the reason in err when it cannot be read as a capture. */
int sl_capture_count(const char *path, uint64_t *n, int *truncated, char *err, size_t errlen);

#endif /* SL_CAPTURE_H */
