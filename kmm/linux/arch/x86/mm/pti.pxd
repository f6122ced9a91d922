# arch/x86/mm/pti.c: the boot-time decision on page-table isolation.

cdef enum pti_mode:
    PTI_AUTO = 0
    PTI_FORCE_OFF = 1
    PTI_FORCE_ON = 2

# What the boot command line said (the face parses it: kmm/emu/config.py
# check_cmdline); an emulator encoding of cmdline_find_option(... "pti" ...).
cdef enum:
    KMM_CMDLINE_PTI_NONE = 0
    KMM_CMDLINE_PTI_OFF = 1
    KMM_CMDLINE_PTI_ON = 2
    KMM_CMDLINE_PTI_AUTO = 3

cdef void pti_check_boottime_disable() noexcept nogil
