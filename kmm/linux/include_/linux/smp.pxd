# Mirrors include/linux/smp.h: the cross-CPU function-call types.  The
# functions (on_each_cpu_cond_mask, and the header's static inline
# on_each_cpu_mask) are in kmm/linux/kernel/smp.pxd, which cimports these types.

ctypedef void (*smp_call_func_t)(void *info) noexcept nogil
ctypedef bint (*smp_cond_func_t)(int cpu, void *info) noexcept nogil
