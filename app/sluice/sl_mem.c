/* sl_mem: a heap on transparent huge pages when EAL has no hugepages (see sl_mem.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>

#include "sl_mem.h"

#define SL_MEM_PAGE  (2u << 20) /* the huge page size the kernel uses for anonymous memory */
#define SL_MEM_HEAP  "sl_thp"
#define SL_MEM_SLACK (16u << 20) /* malloc element headers, alignment, fragmentation */

int
sl_mem_heap(size_t bytes)
{
	size_t len = (bytes + SL_MEM_SLACK + SL_MEM_PAGE - 1) & ~(size_t)(SL_MEM_PAGE - 1);
	uint8_t *map, *mem;

	if (rte_eal_has_hugepages())
		return -1;
	/* One page more to align the start: the heap's pages must be aligned to their size. */
	map = mmap(NULL, len + SL_MEM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		   0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "sluice: memory: cannot map %zu MB: %s\n", len >> 20,
			strerror(errno));
		return -1;
	}
	mem = (uint8_t *)(((uintptr_t)map + SL_MEM_PAGE - 1) & ~(uintptr_t)(SL_MEM_PAGE - 1));
	/* With transparent huge pages disabled by the system the heap still works, on 4 KB
	 * pages: say so, since it costs speed. */
	if (madvise(mem, len, MADV_HUGEPAGE))
		fprintf(stderr,
			"sluice: memory: no transparent huge pages (%s): flow state stays on "
			"4 KB pages\n",
			strerror(errno));
	if (rte_malloc_heap_create(SL_MEM_HEAP) ||
	    rte_malloc_heap_memory_add(SL_MEM_HEAP, mem, len, NULL, (unsigned)(len / SL_MEM_PAGE),
				       SL_MEM_PAGE)) {
		fprintf(stderr, "sluice: memory: cannot make a heap of %zu MB: %s\n", len >> 20,
			rte_strerror(rte_errno));
		munmap(map, len + SL_MEM_PAGE);
		return -1;
	}
	return rte_malloc_heap_get_socket(SL_MEM_HEAP);
}
