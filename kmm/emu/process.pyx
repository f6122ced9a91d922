"""Processes, threads and files: the scenario API of an emulated machine.

A Process is one mm_struct (kernel/fork.c mm_alloc / dup_mm) and its
threads; a Thread is a task pinned to one CPU whose loads and stores go
through that CPU's TLB (kmm/emu/access.pyx); a File is an address_space on
the emulated disk.  Every method checks its arguments, then calls the
mirrored kernel entry it names (do_mmap, do_vmi_munmap, do_mprotect_pkey,
change_prot_numa, dup_mm, mmput, filemap_read, generic_perform_write,
truncate_setsize, task_numa_work, ...) on the right CPU.
"""

from libc.stdlib cimport calloc, free, realloc

from kmm.linux.include_.kmm.trace cimport KMM_SITE_NUMA_SCAN, KMM_SITE_MUNMAP, KMM_SITE_MPROTECT, KMM_SITE_FORK
from kmm.linux.kernel.trace.trace cimport kmm_site_enter, kmm_site_exit
from kmm.emu.machine cimport Machine
from kmm.linux.include_.linux.mm_types cimport (page, mm_struct, vm_area_struct, address_space, file,
                                                MM_ANONPAGES, MM_FILEPAGES)
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.include_.linux.list cimport INIT_LIST_HEAD
from kmm.linux.include_.linux.pgtable cimport walk_pte
from kmm.linux.include_.linux.swapops cimport (is_swap_pte, pte_to_swp_entry, is_migration_entry,
                                               is_writable_migration_entry,
                                               is_readable_exclusive_migration_entry,
                                               swp_offset_pfn, swp_offset, SWP_MIG_YOUNG, SWP_MIG_DIRTY)
from kmm.linux.arch.x86.include_.asm.pgtable cimport (pte_protnone, pte_write, pte_dirty,
                                                      pte_young, pte_pfn, pte_special)
from kmm.linux.include_.uapi.linux.sched cimport CLONE_VM
from kmm.linux.include_.linux.sched.mm cimport mmget
from kmm.linux.kernel.fork cimport alloc_task_struct_node, mm_alloc, mmput, dup_mm
from kmm.linux.kernel.sched.fair cimport init_numa_balancing, task_numa_work, task_tick_numa
from kmm.linux.mm.mmap cimport (do_mmap, do_vmi_munmap, find_vma, PROT_READ, PROT_WRITE,
                                PROT_EXEC, MAP_SHARED, MAP_PRIVATE, FMODE_READ, FMODE_WRITE)
from kmm.linux.mm.mprotect cimport do_mprotect_pkey
from kmm.linux.fs.exec cimport __bprm_mm_init, setup_arg_pages, STACK_TOP_MAX
from kmm.linux.mm.mempolicy cimport change_prot_numa
from kmm.linux.mm.filemap cimport filemap_read, generic_perform_write
from kmm.linux.mm.truncate cimport truncate_setsize
from kmm.emu.access cimport cpu_access_batch
from kmm.emu.debug.oracle cimport oracle_file_new, oracle_pte_version

from kmm.emu.access import access_failure, errno_name
from kmm.emu.debug import interleave as _interleave
from kmm.linux.mm import vmstat as _vmstat
from kmm.emu.config import KmmConfigError, KmmStateError
from kmm.emu.config import check_whole

_PROT = {"": 0, "r": PROT_READ, "w": PROT_WRITE, "rw": PROT_READ | PROT_WRITE,
         "rx": PROT_READ | PROT_EXEC, "rwx": PROT_READ | PROT_WRITE | PROT_EXEC,
         "none": 0, "x": PROT_EXEC}


def parse_prot(prot):
    if not isinstance(prot, str) or prot not in _PROT:
        raise KmmConfigError(f"prot: {prot!r}; accepted: {', '.join(repr(k) for k in _PROT if k)}")
    return _PROT[prot]


cdef Thread _new_thread(Process proc, int cpu, unsigned long clone_flags):
    """copy_process() for one thread of proc on cpu: a task sharing proc's
    mm (clone_flags CLONE_VM takes an mm_users reference, copy_mm()'s
    mmget()), its NUMA-balancing state set up as sched_fork() does."""
    cdef Machine m = proc.machine
    cdef task_struct *tsk = alloc_task_struct_node(m.m.cpus[cpu].node)
    cdef Thread th
    if tsk == NULL:
        raise MemoryError("cannot allocate a task")
    tsk.mm = proc.mm
    tsk.active_mm = proc.mm
    tsk.cpu = cpu
    if proc.pid == 0:
        proc.pid = tsk.pid
    tsk.tgid = proc.pid
    if clone_flags & CLONE_VM:
        mmget(proc.mm)                        # copy_mm()
        if proc.threads:                      # dup_task_struct() copies the cloning task
            tsk.numa_preferred_nid = (<Thread>proc.threads[0]).task.numa_preferred_nid
    th = Thread.__new__(Thread)
    th.task = tsk
    th.process = proc
    th.cpu = cpu
    th.index = len(proc.threads)
    proc.threads = proc.threads + (th,)
    with m.on_cpu(cpu):
        init_numa_balancing(clone_flags, tsk)
    return th


cdef Process _new_process(Machine m, mm_struct *mm, list cpus):
    """A process around mm whose threads run on cpus, switched in at once:
    the first thread owns the new mm, each other one is a clone(CLONE_VM)."""
    cdef Process proc = Process.__new__(Process)
    cdef Thread th
    proc.mm = mm
    proc.machine = m
    proc.alive = True
    proc.threads = ()
    m._processes.append(proc)
    for i, c in enumerate(cpus):
        _new_thread(proc, c, 0 if i == 0 else CLONE_VM)
    for th in proc.threads:
        m._switch_to(th.cpu, th.task)
    return proc


def _check_threads(Machine m, threads):
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= m.m.nr_cpu_ids:
        raise KmmConfigError(f"threads: {threads!r}; accepted: 1..{m.m.nr_cpu_ids} (one per CPU)")


def _check_cpus(Machine m, threads, cpus):
    """`threads` distinct CPUs of m (default: CPUs 0..threads-1), as a list."""
    _check_threads(m, threads)
    if cpus is None:
        cpus = range(threads)
    if not isinstance(cpus, (list, tuple, range)):
        raise KmmConfigError(f"cpus: {cpus!r}; expected a list of {threads} distinct CPUs")
    cpus = list(cpus)
    for c in cpus:
        m._check_cpu(c)
    if len(cpus) != threads or len(set(cpus)) != threads:
        raise KmmConfigError(f"cpus: {cpus!r}; expected {threads} distinct CPUs")
    return cpus


def spawn(Machine m, threads=1, cpus=None):
    """A new process (kernel/fork.c mm_alloc) with `threads` threads; thread
    i runs on cpus[i] (default: CPU i), switched in at once."""
    cdef mm_struct *mm
    cpus = _check_cpus(m, threads, cpus)
    with m.on_cpu(cpus[0]):                 # the new process's first CPU
        mm = mm_alloc()
    if mm == NULL:
        raise KmmStateError("spawn: out of memory for the page-table root")
    proc = _new_process(m, mm, cpus)
    m._after()
    return proc


def create_file(Machine m, npages, writable=True):
    """A regular file of npages pages (its data on the emulated disk)."""
    cdef File f
    cdef char *block
    cdef address_space *mapping
    cdef file *filp
    cdef void **grown
    cdef size_t size
    cdef unsigned long i
    if isinstance(npages, bool) or not isinstance(npages, int) or not 0 < npages <= (1 << 24):
        raise KmmConfigError(f"npages: {npages!r}; accepted: 1..2**24")
    if not isinstance(writable, bool):
        raise KmmConfigError(f"writable: {writable!r}; expected True or False")
    size = sizeof(address_space) + sizeof(file) + <size_t>npages * (sizeof(void *) + sizeof(unsigned int))
    block = <char *>calloc(1, size)
    if block == NULL:
        raise MemoryError("create_file: cannot allocate the page cache")
    if m.m.nr_files == m.m.files_cap:
        grown = <void **>realloc(m.m.files, sizeof(void *) * (m.m.files_cap * 2 + 8))
        if grown == NULL:
            free(block)
            raise MemoryError("create_file")
        m.m.files = grown
        m.m.files_cap = m.m.files_cap * 2 + 8
    m.m.files[m.m.nr_files] = block
    m.m.nr_files += 1
    mapping = <address_space *>block
    filp = <file *>(block + sizeof(address_space))
    mapping.i_pages = <page **>(block + sizeof(address_space) + sizeof(file))
    mapping.i_pages_size = npages
    mapping.i_size_pages = npages
    mapping.host = m.m.nr_files
    INIT_LIST_HEAD(&mapping.i_mmap)
    m._enter()
    oracle_file_new(mapping, <unsigned int *>(block + sizeof(address_space) + sizeof(file)
                                              + <size_t>npages * sizeof(void *)), npages)
    filp.f_mapping = mapping
    filp.f_mode = FMODE_READ | (FMODE_WRITE if writable else 0)
    f = File.__new__(File)
    f.mapping = mapping
    f.filp = filp
    f.machine = m
    f.npages = npages
    f.ino = mapping.host
    return f


def _check_file(Machine m, f):
    if not isinstance(f, File):
        raise KmmConfigError(f"file: {f!r}; expected a File from create_file()")
    (<File>f)._check()
    if (<File>f).machine is not m:
        raise KmmConfigError("file: it belongs to another machine")
    return f


def file_read(Machine m, file_, index, cpu=0):
    """read(2) of one page through the page cache (mm/filemap.c
    filemap_read), run on cpu; returns the data version read, or None past
    the end of the file."""
    cdef unsigned int version = 0
    cdef long rc
    cdef File f = _check_file(m, file_)
    f._check_index(index)
    with m.on_cpu(cpu):
        rc = filemap_read(f.mapping, index, &version)
    m._after()
    if rc < 0:
        raise KmmStateError(f"read of page {index} failed with {errno_name(rc)}")
    return version if rc > 0 else None


def file_write(Machine m, file_, index, cpu=0):
    """write(2) of one whole page through the page cache (mm/filemap.c
    generic_perform_write), run on cpu.  A file created read-only fails as
    vfs_write() does for a file not open for writing (EBADF)."""
    cdef long rc
    cdef File f = _check_file(m, file_)
    f._check_index(index)
    m._check_cpu(cpu)
    if not (f.filp.f_mode & FMODE_WRITE):
        raise KmmStateError(f"write of page {index} failed with EBADF (errno 9): the file was "
                            f"created with writable=False")
    with m.on_cpu(cpu):
        rc = generic_perform_write(f.mapping, index)
    m._after()
    if rc < 0:
        raise KmmStateError(f"write of page {index} failed with {errno_name(rc)}")


def file_truncate(Machine m, file_, npages, cpu=0):
    """truncate(2) of the file to npages pages, run on cpu:
    truncate_setsize() -> truncate_pagecache() (unmap_mapping_range,
    truncate_inode_pages_range, unmap_mapping_range).  The data past the
    new size is gone; growing the file back (up to its room, File.npages)
    gives pages of new (zero) data."""
    cdef File f = _check_file(m, file_)
    if isinstance(npages, bool) or not isinstance(npages, int) or not 0 <= npages <= f.npages:
        raise KmmConfigError(f"npages: {npages!r}; accepted: 0..{f.npages} (the file's room)")
    with m.on_cpu(cpu):
        truncate_setsize(f.mapping, <unsigned long>npages * 4096)
    m._after()


cdef class File:
    """An emulated regular file: an address_space of npages pages."""

    def __repr__(self):
        if self.mapping == NULL:
            return "<kmm.File (not initialised)>"
        return f"<kmm.File ino={self.ino} npages={self.npages} cached={self.mapping.nrpages}>"

    cdef _check(self):
        if self.mapping == NULL:
            raise KmmStateError("File: not initialised; use Machine.create_file()")

    @property
    def nrpages(self):
        """Pages of the file now in the page cache."""
        self._check()
        return self.mapping.nrpages

    @property
    def size(self):
        """The file's size in pages (i_size); npages is its room."""
        self._check()
        return self.mapping.i_size_pages

    def cached_pfn(self, index):
        """pfn of the page cache page at index, or None."""
        self._check_index(index)
        cdef page *f = self.mapping.i_pages[index]
        return None if f == NULL else <long>(f - self.machine.m.mem_map)

    def _check_index(self, index):
        self._check()
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.npages:
            raise KmmConfigError(f"index: {index!r}; file has pages 0..{self.npages - 1}")


cdef class Thread:
    """A user thread, pinned to one CPU."""

    def __repr__(self):
        if self.task == NULL:
            return "<kmm.Thread (not initialised)>"
        return f"<kmm.Thread pid={self.task.pid} of {self.process.pid} cpu={self.cpu}>"

    cdef _check(self):
        """The thread exists and its process has not exited."""
        if self.task == NULL:
            raise KmmStateError("Thread: not initialised; use Machine.spawn() or Process.add_thread()")
        self.process._check_alive()

    @property
    def pid(self):
        if self.task == NULL:
            raise KmmStateError("Thread: not initialised; use Machine.spawn() or Process.add_thread()")
        return self.task.pid

    @property
    def on_cpu(self):
        if self.task == NULL:
            raise KmmStateError("Thread: not initialised; use Machine.spawn() or Process.add_thread()")
        return bool(self.task.on_cpu) and self.process.machine.m.cpus[self.cpu].current_task == self.task

    def load(self, addr):
        """A load by this thread through its CPU's TLB (faults handled)."""
        self._access(addr, False)

    def store(self, addr):
        """A store by this thread through its CPU's TLB (faults handled)."""
        self._access(addr, True)

    cdef _access(self, addr, bint write):
        cdef Machine mach
        cdef unsigned long a
        cdef unsigned char w = write
        cdef int rc
        self._check()
        mach = self.process.machine
        if not self.on_cpu:
            raise KmmStateError(f"thread {self.index} of pid {self.process.pid} is not running "
                                f"on CPU {self.cpu}; call run() first")
        if isinstance(addr, bool) or not isinstance(addr, int) or not 0 <= addr < (1 << 47):
            raise KmmConfigError(f"addr: {addr!r}; expected a user address below 2**47")
        a = addr
        mach._enter()
        cpu_access_batch(self.cpu, &a, &w, 1, &rc)
        mach._after()
        if rc:
            raise access_failure(rc, self.cpu, addr, write, self.process.mm.kmm_mmap_write_locked)

    def task_numa_work(self):
        """Run task_numa_work() in this thread's context on its CPU, as on
        return to user mode after task_tick_numa() queued it.  Returns the
        PTEs it made PROT_NONE (numa_pte_updates)."""
        self._check()
        cdef Machine mach = self.process.machine
        if not self.on_cpu:
            raise KmmStateError(f"thread {self.index} of pid {self.process.pid} is not running "
                                f"on CPU {self.cpu}; call run() first")
        before = mach.vmstat()["numa_pte_updates"]
        with mach.on_cpu(self.cpu):
            site = kmm_site_enter(KMM_SITE_NUMA_SCAN)
            task_numa_work(self.task)
            kmm_site_exit(site)
        mach._after()
        return mach.vmstat()["numa_pte_updates"] - before

    def task_tick_numa(self, ns):
        """Account ns of run time to the thread, then take a scheduler tick:
        returns whether task_tick_numa() queued task_numa_work()."""
        self._check()
        cdef Machine mach = self.process.machine
        check_whole("ns", ns, 0, 2**62)
        self.task.se_sum_exec_runtime += ns
        with mach.on_cpu(self.cpu):
            r = task_tick_numa(self.task)
        return bool(r)

    @property
    def numa_scan_period(self):
        """p->numa_scan_period (ms)."""
        self._check()
        return self.task.numa_scan_period

    @property
    def numa_scan_state(self):
        """The task's NUMA-scan pacing (kernel/sched/fair.c): runtime and
        node_stamp in ns (task_tick_numa queues a scan when the runtime
        passes node_stamp + numa_scan_period), the period and its max in
        ms, the last scan pass seen (numa_scan_seq), the preferred node."""
        self._check()
        t = self.task
        return {"sum_exec_runtime": t.se_sum_exec_runtime, "node_stamp": t.node_stamp,
                "numa_scan_period": t.numa_scan_period,
                "numa_scan_period_max": t.numa_scan_period_max,
                "numa_scan_seq": t.numa_scan_seq, "numa_preferred_nid": t.numa_preferred_nid}

    def run(self):
        """Switch this thread's CPU to it (context switch); refused once
        its process has exited (the task is dead)."""
        self._check()
        self.process.machine._switch_to(self.cpu, self.task)


cdef class Process:
    """A user process: one mm_struct and its threads."""

    def __repr__(self):
        if self.mm == NULL:
            return "<kmm.Process (not initialised)>"
        return f"<kmm.Process pid={self.pid} threads={len(self.threads)} alive={self.alive}>"

    cdef _check_init(self):
        if self.mm == NULL:
            raise KmmStateError("Process: not initialised; use Machine.spawn() or Process.fork()")

    cdef _check_alive(self):
        self._check_init()
        if not self.alive:
            raise KmmStateError(f"process {self.pid} has exited")

    @property
    def mm_id(self):
        self._check_init()
        return self.mm.kmm_id

    @property
    def rss(self):
        """(anon pages, file pages) mapped, as MM_ANONPAGES / MM_FILEPAGES."""
        self._check_alive()
        return (self.mm.rss_stat[MM_ANONPAGES], self.mm.rss_stat[MM_FILEPAGES])

    @property
    def mm_cpumask(self):
        self._check_alive()
        return [c for c in range(self.machine.m.nr_cpu_ids) if (self.mm.cpu_bitmap >> c) & 1]

    def mmap(self, npages, prot="rw", shared=False, file=None, offset=0):
        """mmap(2) of npages pages; returns the address.  Anonymous mappings
        are private; file mappings may be private or shared."""
        cdef unsigned long addr
        cdef unsigned long flags
        cdef File f = None
        self._check_alive()
        p = parse_prot(prot)
        if not isinstance(shared, bool):
            raise KmmConfigError(f"shared: {shared!r}; expected True or False")
        if file is not None:
            f = _check_file(self.machine, file)
        flags = MAP_SHARED if shared else MAP_PRIVATE
        if isinstance(npages, bool) or not isinstance(npages, int) or not 0 < npages <= (1 << 30):
            raise KmmConfigError(f"npages: {npages!r}; expected 1..2**30")
        if shared and f is None:
            raise KmmConfigError("shared=True needs file=: shared anonymous memory (shmem) is not modelled")
        if f is not None:
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0 or offset + npages > f.npages:
                raise KmmConfigError(f"offset: {offset!r}; the file has {f.npages} pages")
        elif offset != 0:
            raise KmmConfigError(f"offset: {offset!r}; an anonymous mapping has none (pass file=)")
        with self.machine.on_cpu(self._syscall_cpu(None)):    # thread 0 calls mmap(2)
            addr = do_mmap(self.mm, f.filp if f is not None else NULL, npages * 4096, p,
                           flags, offset)
        self.machine._after()
        if addr >= <unsigned long>-4095:
            raise KmmStateError(f"mmap failed with {errno_name(<long>addr)}")
        return addr

    def exec_stack(self):
        """The stack exec gives a new program (fs/exec.c __bprm_mm_init,
        setup_arg_pages): a grow-down VMA of 33 pages ending at
        STACK_TOP_MAX, above mmap_base, with no page yet (the caller writes
        the argument strings).  Returns (start, end)."""
        cdef int rc
        cdef vm_area_struct *vma
        self._check_alive()
        with self.machine.on_cpu(self._syscall_cpu(None)):
            rc = __bprm_mm_init(self.mm)
            if rc == 0:
                rc = setup_arg_pages(self.mm, STACK_TOP_MAX)
        self.machine._after()
        if rc:
            raise KmmStateError(f"exec_stack: failed with {errno_name(rc)} (the process has a "
                                f"stack already, or a mapping in its way)")
        vma = find_vma(self.mm, STACK_TOP_MAX - 1)
        return vma.vm_start, vma.vm_end

    def munmap(self, addr, npages, cpu=None):
        """munmap(2), run on cpu (default: thread 0's CPU, the caller)."""
        cdef int rc
        cdef int c
        self._check_alive()
        self._check_range(addr, npages)
        c = self._syscall_cpu(cpu)
        with self.machine.on_cpu(c):
            site = kmm_site_enter(KMM_SITE_MUNMAP)
            rc = do_vmi_munmap(self.mm, addr, npages * 4096)
            kmm_site_exit(site)
        self.machine._after()
        if rc:
            raise KmmStateError(f"munmap({addr:#x}, {npages} pages) failed with {errno_name(rc)}")

    def _check_range(self, addr, npages):
        self._check_init()
        if isinstance(addr, bool) or not isinstance(addr, int) or addr % 4096 or not 0 <= addr < (1 << 47):
            raise KmmConfigError(f"addr: {addr!r}; expected a page-aligned user address")
        if isinstance(npages, bool) or not isinstance(npages, int) or npages <= 0 or addr + npages * 4096 > (1 << 47):
            raise KmmConfigError(f"npages: {npages!r}; expected a positive count inside the user address space")

    def vmas(self):
        """The VMAs as dicts: start, end, flags, pgoff, file, page_prot and
        numab_state (the NUMA scanner's per-VMA state: next_scan,
        next_pid_reset in jiffies, access_pids)."""
        cdef vm_area_struct *vma
        self._check_alive()
        out = []
        vma = self.mm.mmap
        while vma != NULL:
            out.append({"start": vma.vm_start, "end": vma.vm_end, "flags": vma.vm_flags,
                        "pgoff": vma.vm_pgoff, "file": vma.vm_file != NULL,
                        "page_prot": vma.vm_page_prot,
                        "numab_state": {"next_scan": vma.numab_state.next_scan,
                                        "next_pid_reset": vma.numab_state.next_pid_reset,
                                        "access_pids": [vma.numab_state.access_pids[0],
                                                        vma.numab_state.access_pids[1]]}})
            vma = vma.vm_next
        return out

    def pte(self, addr):
        """The PTE mapping addr, decoded (None if no table or pte_none)."""
        cdef unsigned long *ptep
        cdef unsigned long pte, entry
        self._check_alive()
        if isinstance(addr, bool) or not isinstance(addr, int) or not 0 <= addr < (1 << 47):
            raise KmmConfigError(f"addr: {addr!r}; expected a user address below 2**47")
        self.machine._enter()
        ptep = walk_pte(self.mm, addr)
        if ptep == NULL or ptep[0] == 0:
            return None
        pte = ptep[0]
        if is_swap_pte(pte):
            entry = pte_to_swp_entry(pte)
            if not is_migration_entry(entry):
                return {"raw": pte, "present": False, "swap": True}
            kind = ("writable" if is_writable_migration_entry(entry) else
                    "readable-exclusive" if is_readable_exclusive_migration_entry(entry) else "readable")
            return {"raw": pte, "present": False, "migration": kind,
                    "pfn": swp_offset_pfn(entry),
                    "young": bool(swp_offset(entry) & SWP_MIG_YOUNG),
                    "dirty": bool(swp_offset(entry) & SWP_MIG_DIRTY)}
        return {"raw": pte, "present": bool(pte & 1), "protnone": bool(pte_protnone(pte)),
                "write": bool(pte_write(pte)), "dirty": bool(pte_dirty(pte)),
                "young": bool(pte_young(pte)), "user": bool(pte & 4),
                "special": bool(pte_special(pte)), "pfn": pte_pfn(pte),
                "version": oracle_pte_version(ptep)}

    def pfn(self, addr):
        """pfn mapped at addr (present PTE), else None."""
        d = self.pte(addr)
        return d["pfn"] if d is not None and d.get("present") else None

    # == mprotect(2) and NUMA hinting (mm/mprotect.c, mm/mempolicy.c) =======

    def _syscall_cpu(self, cpu):
        """The CPU a system call of this process runs on: cpu if given, else
        thread 0's (the calling thread's) CPU."""
        self._check_alive()
        if cpu is None:
            return (<Thread>self.threads[0]).cpu
        self.machine._check_cpu(cpu)
        return cpu

    def mprotect(self, addr, npages, prot, cpu=None):
        """mprotect(2) of npages pages at addr to prot ('r', 'rw', 'none', ...
        as for mmap), run on cpu (default: thread 0's CPU).  Splits and
        merges VMAs as the kernel does, and flushes each VMA's changed PTEs
        at its end.  Raises KmmStateError with the errno: ENOMEM when part
        of the range is not mapped (VMAs before the hole stay changed),
        EACCES when a mapping may not get that access (e.g. 'w' on a
        read-only shared file mapping, which lacks VM_MAYWRITE)."""
        cdef int rc, c
        cdef unsigned long p
        self._check_alive()
        p = parse_prot(prot)
        self._check_range(addr, npages)
        c = self._syscall_cpu(cpu)
        with self.machine.on_cpu(c):
            site = kmm_site_enter(KMM_SITE_MPROTECT)
            rc = do_mprotect_pkey(self.mm, addr, npages * 4096, p, -1)
            kmm_site_exit(site)
        self.machine._after()
        if rc:
            raise KmmStateError(f"mprotect({addr:#x}, {npages} pages, {prot!r}) failed with "
                                f"{errno_name(rc)}")

    def _change_prot_numa(self, addr, npages, cpu=0):
        """NUMA hinting's PTE update: change_prot_numa() on each VMA part of
        [addr, addr + npages pages), run on cpu, as task_numa_work calls it
        per VMA (its choice of VMAs and its 2 MB chunking are the caller's
        business).  Returns the number of PTEs made PROT_NONE."""
        cdef unsigned long start, end, total = 0
        cdef vm_area_struct *vma
        self._check_alive()
        self._check_range(addr, npages)
        self.machine._check_cpu(cpu)
        start = addr
        end = addr + npages * 4096
        with self.machine.on_cpu(cpu):
            vma = find_vma(self.mm, start)
            while vma != NULL and vma.vm_start < end:
                total += change_prot_numa(vma, max(start, vma.vm_start), min(end, vma.vm_end))
                vma = vma.vm_next
        self.machine._after()
        return total

    @property
    def numa_scan(self):
        """The mm's NUMA-scan state: next_scan (jiffies), offset, seq."""
        self._check_alive()
        return {"next_scan": self.mm.numa_next_scan, "offset": self.mm.numa_scan_offset,
                "seq": self.mm.numa_scan_seq}

    @property
    def mm_users(self):
        """mm->mm_users: one per thread (CLONE_VM)."""
        self._check_alive()
        return self.mm.mm_users

    @property
    def tlb_flush_pending(self):
        """mm->tlb_flush_pending: mmu_gathers in flight (0 between operations)."""
        self._check_alive()
        return self.mm.tlb_flush_pending

    # == end of mprotect(2) and NUMA hinting ===================================

    def add_thread(self, cpu):
        """clone(CLONE_VM) one more thread onto `cpu` (switched in at once);
        returns it.  Its NUMA-balancing state starts as for a new thread."""
        cdef Thread th
        cdef Machine m = self.machine
        self._check_alive()
        m._check_cpu(cpu)
        if any(t.cpu == cpu for t in self.threads):
            raise KmmConfigError(f"cpu: {cpu}; a thread of this process already runs there")
        th = _new_thread(self, cpu, CLONE_VM)
        m._switch_to(cpu, th.task)
        return th

    def fork(self, threads=1, cpus=None, cpu=None):
        """fork(2), run on cpu (default: thread 0's CPU): a child process
        whose mm is a copy of this one (kernel/fork.c dup_mm -> dup_mmap:
        VMAs copied, anon_vma_fork, copy_page_range shares the pages and
        write-protects private ones in both, then flush_tlb_mm() of the
        parent).  The child has `threads` threads on `cpus` (default: the
        lowest CPUs running their idle task), switched in at once."""
        cdef Machine m = self.machine
        cdef mm_struct *mm
        cdef Process child
        cdef int c
        self._check_alive()
        c = self._syscall_cpu(cpu)
        _check_threads(m, threads)
        if cpus is None:
            cpus = [x for x in range(m.m.nr_cpu_ids)
                    if m.m.cpus[x].current_task == m.m.cpus[x].idle][:threads]
            if len(cpus) < threads:
                raise KmmStateError(f"fork: {threads} thread(s) need idle CPUs, {len(cpus)} idle; pass cpus=")
        cpus = _check_cpus(m, threads, cpus)
        with m.on_cpu(c):
            mm = dup_mm(self.mm)
        if mm == NULL:
            m._after()
            raise KmmStateError("fork: out of memory")
        child = _new_process(m, mm, cpus)
        m._after()
        return child

    def exit(self):
        """The process exits: its threads leave their CPUs (which go idle,
        lazily keeping the mm loaded) and its mappings are torn down."""
        cdef Thread t
        self._check_alive()
        m = self.machine
        for t in self.threads:
            if t.on_cpu:
                m._switch_to(t.cpu, m.m.cpus[t.cpu].idle)
        m._enter()
        with m.on_cpu(m.m.cpu):     # in the kernel (exit_mm)
            for t in self.threads:
                mmput(self.mm)      # the last thread's mmput() tears the mm down
        self.alive = False
        m._processes.remove(self)
        m._after()


# ---------------------------------------------------------------------------
# Migration of a process's pages: Machine.migrate()

from kmm.linux.include_.linux.err cimport IS_ERR
from kmm.linux.include_.linux.migrate_mode cimport (MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC,
                                              MR_DEMOTION, MR_NUMA_MISPLACED, MR_SYSCALL)
from kmm.linux.mm.gup cimport follow_page, FOLL_GET, FOLL_DUMP
from kmm.linux.mm.mmap cimport vma_lookup
from kmm.linux.mm.migrate cimport migrate_misplaced_page, do_pages_move
from kmm.linux.mm.vmscan cimport kmm_demote_folios

_MIGRATE_REASONS = {"demotion": MR_DEMOTION, "numa_misplaced": MR_NUMA_MISPLACED,
                    "syscall": MR_SYSCALL}
_MIGRATE_MODES = {"async": MIGRATE_ASYNC, "sync_light": MIGRATE_SYNC_LIGHT, "sync": MIGRATE_SYNC}


def migrate(Machine self, proc, addr, npages, node, reason, cpu, hook, mode):
    """Machine.migrate() (its docstring says what each reason drives)."""
    cdef Process p
    cdef long n, i, nr = 0
    cdef int c_node, rc
    cdef unsigned long a
    cdef page **pages = NULL
    cdef unsigned long *addrs = NULL
    cdef int *nodes = NULL
    cdef int *status = NULL
    cdef vm_area_struct *vma
    cdef page *pg
    if not isinstance(proc, Process) or (<Process>proc).machine is not self:
        raise KmmConfigError(f"proc: {proc!r}; expected a Process of this machine (from spawn())")
    p = <Process>proc
    p._check_alive()
    p._check_range(addr, npages)
    self._check_nid(node)
    self._check_cpu(cpu)
    if not isinstance(reason, str) or reason not in _MIGRATE_REASONS:
        raise KmmConfigError(f"reason: {reason!r}; accepted: {', '.join(repr(r) for r in _MIGRATE_REASONS)}")
    if mode is not None and (not isinstance(mode, str) or mode not in _MIGRATE_MODES):
        raise KmmConfigError(f"mode: {mode!r}; accepted: None, {', '.join(repr(x) for x in _MIGRATE_MODES)}")
    if hook is not None and not callable(hook):
        raise KmmConfigError(f"hook: {hook!r}; expected None or a callable taking the point's name")
    if self._migrating:
        raise KmmStateError("migrate: called again while a migration is running (from its hook)")
    n = npages
    c_node = node
    pages = <page **>calloc(n, sizeof(page *))
    addrs = <unsigned long *>calloc(n, sizeof(unsigned long))
    nodes = <int *>calloc(n, sizeof(int))
    status = <int *>calloc(n, sizeof(int))
    if pages == NULL or addrs == NULL or nodes == NULL or status == NULL:
        free(pages); free(addrs); free(nodes); free(status)
        raise MemoryError("migrate: out of host memory")
    # the hook is two interleaving points under their short names
    ids = {}
    if hook is not None:
        ids = {_interleave.POINT_IDS["migrate_pages_batch:unmapped"]: lambda pt: hook("unmapped"),
               _interleave.POINT_IDS["migrate_pages_batch:flushed"]: lambda pt: hook("flushed")}
        self._register_points(ids)
    self._migrating = True
    try:
        with self.on_cpu(cpu):
            if mode is not None:
                self.m.kmm_debug_migrate_mode = 1 + _MIGRATE_MODES[mode]
            if reason == "syscall":
                for i in range(n):
                    addrs[i] = addr + i * 4096
                    nodes[i] = c_node
                before = sum(_vmstat.vm_events_per_cpu("pgmigrate_success"))
                do_pages_move(p.mm, n, addrs, nodes, status, 0)
                nr = sum(_vmstat.vm_events_per_cpu("pgmigrate_success")) - before
            else:
                # which folio is mapped at each address (with a reference)
                vma = NULL
                for i in range(n):
                    a = addr + i * 4096
                    if vma == NULL or not (vma.vm_start <= a < vma.vm_end):
                        vma = vma_lookup(p.mm, a)
                    pg = NULL if vma == NULL else follow_page(vma, a, FOLL_GET | FOLL_DUMP)
                    if pg != NULL and not IS_ERR(pg):
                        if reason == "demotion":
                            pages[nr] = pg
                            nr += 1
                        else:
                            nr += migrate_misplaced_page(pg, vma, c_node)
                if reason == "demotion":
                    nr = kmm_demote_folios(pages, nr, c_node)
    finally:
        self.m.kmm_debug_migrate_mode = 0
        self._migrating = False
        self._unregister_points(ids)
        free(pages); free(addrs); free(nodes); free(status)
        self._enter()
    self._after()
    return nr
