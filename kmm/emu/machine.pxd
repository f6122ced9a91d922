from kmm.linux.include_.kmm.machine cimport kmm_machine
from kmm.linux.include_.linux.mm_types cimport page, mm_struct
from kmm.linux.include_.linux.sched cimport task_struct

cdef class Machine:
    cdef kmm_machine *m
    cdef readonly object node_specs
    cdef readonly dict kconfig
    cdef readonly dict cpu
    cdef readonly dict cmdline               # the kernel command line (kmm/emu/config.py check_cmdline)
    cdef readonly object seed
    cdef unsigned long long _ablate
    cdef unsigned long _swap_cluster_max     # SWAP_CLUSTER_MAX (check_swap_cluster_max)
    cdef list _processes
    cdef readonly object oracle
    cdef readonly object tlb                 # the TLB configuration (kmm/emu/config.py check_tlb)
    cdef readonly dict fault_inject          # the fault injection configuration (check_fault_inject)
    cdef readonly dict cost                  # the cost model's table (kmm/emu/hw/costs.py check_cost)
    cdef list _tlb_mms                       # addresses of the mms made by testing.tlb_new_mm()
    cdef dict _points                        # interleaving point id -> callback
    cdef object _interleave_exc              # first exception a callback raised, not yet re-raised
    cdef bint _interleave_running            # a callback is running (points do not nest)
    cdef bint _migrating                     # Machine.migrate() is running
    cdef dict _refs                          # pfn -> references the caller holds (alloc_pages, folio_get)
    cdef dict _blocks                        # pfn -> order of a block from alloc_pages() not yet freed
    cdef int _live(self) except -1
    cdef _drop_ref(self, pfn)
    cdef _not_ours(self, what, pfn)
    cdef _switch_to(self, int cpu, task_struct *next)
    cdef _boot(self, specs, dict sysctl_in)
    cdef void _enter(self) noexcept
    cdef on_cpu(self, cpu)
    cdef _after(self)
    cdef page *_page(self, pfn) except NULL
    cdef int _tlb_boot(self) except -1
    cdef void _tlb_free(self) noexcept
    cdef _register_points(self, dict ids)
    cdef _unregister_points(self, dict ids)



cdef class OnCpu:
    cdef Machine machine
    cdef int cpu
    cdef int saved
