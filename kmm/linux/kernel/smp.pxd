from kmm.linux.include_.linux.cpumask cimport cpumask_t
from kmm.linux.include_.linux.smp cimport smp_call_func_t, smp_cond_func_t

cdef void on_each_cpu_cond_mask(smp_cond_func_t cond_func, smp_call_func_t func,
                                void *info, bint wait, const cpumask_t *mask) noexcept nogil


cdef inline void on_each_cpu_mask(const cpumask_t *mask, smp_call_func_t func,
                                  void *info, bint wait) noexcept nogil:
    """include/linux/smp.h: run func on every CPU of mask (this one too if
    it is in mask)."""
    on_each_cpu_cond_mask(NULL, func, info, wait, mask)
