"""Mirrors arch/x86/mm/pti.c as of v6.6-rc5: whether the kernel isolates
its page tables from user space (PTI).  Only the boot decision is mirrored;
what PTI changes at run time is in arch/x86/mm/tlb.c (the user PCID and its
deferred flush) and arch/x86/entry/calling.h (the CR3 switches at kernel
entry and exit), and the order-1 PGD in arch/x86/mm/pgtable.c.  The user
page tables' contents (pti_clone_*) are not: the emulated walker reads the
mm's tables, whose user half the user PGD shares."""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine


cdef void pti_check_boottime_disable() noexcept nogil:
    """arch/x86/mm/pti.c: 'pti=off' or 'nopti' turn PTI off, 'pti=on'
    forces it on, 'pti=auto' or nothing leaves it to the CPU: on exactly
    when it has X86_BUG_CPU_MELTDOWN.  Turning it on sets X86_FEATURE_PTI
    (setup_force_cpu_cap).  Needs CONFIG_PAGE_TABLE_ISOLATION (the kernel
    calls it only then).  Not mirrored: Xen PV, and mitigations=off (the
    emulated command line does not accept it)."""
    cdef kmm_machine *m = KMM()
    m.pti_mode = PTI_AUTO
    m.x86_feature_pti = False
    if not m.kconfig.CONFIG_PAGE_TABLE_ISOLATION:
        return
    if m.kmm_cmdline_pti == KMM_CMDLINE_PTI_OFF:
        m.pti_mode = PTI_FORCE_OFF
        return
    if m.kmm_cmdline_pti == KMM_CMDLINE_PTI_ON:
        m.pti_mode = PTI_FORCE_ON
        m.x86_feature_pti = True
        return
    if m.kmm_cmdline_pti != KMM_CMDLINE_PTI_AUTO and m.kmm_cmdline_nopti:
        m.pti_mode = PTI_FORCE_OFF
        return
    if not m.x86_bug_cpu_meltdown:
        return
    m.x86_feature_pti = True
