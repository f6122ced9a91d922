from kmm.linux.include_.linux.mm_types cimport page
from kmm.linux.include_.linux.mmzone cimport pglist_data
from kmm.linux.include_.linux.sched cimport task_struct

cdef bint pgdat_free_space_enough(pglist_data *pgdat) noexcept nogil
cdef bint should_numa_migrate_memory(task_struct *p, page *pg, int src_nid, int dst_cpu) noexcept nogil
cdef void task_numa_fault(int last_cpupid, int mem_node, int pages, int flags) noexcept nogil
cdef void task_numa_work(task_struct *p) noexcept nogil
cdef bint task_tick_numa(task_struct *curr) noexcept nogil
cdef void init_numa_balancing(unsigned long clone_flags, task_struct *p) noexcept nogil
cdef unsigned int kmm_task_scan_floor() noexcept nogil
cdef unsigned int task_scan_min(task_struct *p) noexcept nogil
cdef unsigned int task_scan_start(task_struct *p) noexcept nogil
cdef unsigned int task_scan_max(task_struct *p) noexcept nogil
cdef unsigned int get_update_sysctl_factor() noexcept nogil
cdef long long sysctl_sched_base_slice() noexcept nogil
cdef long long entity_lag(long long vlag) noexcept nogil
