/* sl_mem: where per-worker state is allocated.
 *
 * With hugepages, DPDK's own heap. Without them (sluice's default EAL arguments include
 * --no-huge), DPDK's heap is made of 4 KB pages, and every packet a worker inspects touches
 * its flow entry, reassembly, HTTP and scan state at random places of a table that spans
 * hundreds of megabytes, so the worker waits on page walks. sl_mem_heap then makes one malloc
 * heap of anonymous memory that the kernel backs with 2 MB transparent huge pages (madvise),
 * what hugepages give a production appliance: the mixed benchmark ran 1.26x faster with worker
 * state there (packet buffers there gained nothing measurable, so they stay on DPDK's heap). */
#ifndef SL_MEM_H
#define SL_MEM_H

#include <stddef.h>

/* Makes the heap, `bytes` large plus room for the allocator's own headers (committed at once:
 * DPDK touches all of it), and returns its socket id for rte_*_socket calls; -1 when EAL has
 * hugepages (use them), or when the heap cannot be made, which it then explains on stderr.
 * Call once, after rte_eal_init. */
int sl_mem_heap(size_t bytes);

#endif /* SL_MEM_H */
