"""Misuse property test: a hypothesis state machine drives the public API
(machines, processes, threads, files; alloc/free/get/put; mmap, munmap,
mprotect, migrate, fork, truncate, exit; loads and stores; file reads and
writes; kswapd, NUMA hinting) with bad types and out-of-range values mixed
into every call.  The only outcomes allowed are success or a KmmError, and
after every step check_invariants() must return [].

Each batch of examples runs in its own interpreter, so a segfault or a hang
(timeout) fails the test instead of killing pytest.  CI runs a modest batch;
a long run is set with environment variables:

    KMM_MISUSE_EXAMPLES   examples in all (default 100)
    KMM_MISUSE_STEPS      steps per example (default 30)
    KMM_MISUSE_BATCH      examples per interpreter (default 100: a batch
                          must end within KMM_MISUSE_TIMEOUT)
    KMM_MISUSE_RANDOM=1   random examples (default: derandomized, the same
                          examples every run)
    KMM_MISUSE_TIMEOUT    seconds a batch may take (default 600)
    KMM_MISUSE_SECONDS    start no new batch after this many seconds (default:
                          no limit); each batch prints its counts as it ends

e.g. KMM_MISUSE_EXAMPLES=100000 KMM_MISUSE_BATCH=100 KMM_MISUSE_RANDOM=1 KMM_MISUSE_SECONDS=600
python -m pytest -q tests/test_misuse.py -s (prints examples, operations,
outcomes and crashes)."""

import json
import os
import subprocess
import sys
import time

EXAMPLES = int(os.environ.get("KMM_MISUSE_EXAMPLES", "100"))
STEPS = int(os.environ.get("KMM_MISUSE_STEPS", "30"))
BATCH = int(os.environ.get("KMM_MISUSE_BATCH", "0")) or min(EXAMPLES, 100)
RANDOM = os.environ.get("KMM_MISUSE_RANDOM", "") not in ("", "0")
TIMEOUT = float(os.environ.get("KMM_MISUSE_TIMEOUT", "600"))
SECONDS = float(os.environ.get("KMM_MISUSE_SECONDS", "0"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_misuse_state_machine():
    totals = {"examples": 0, "steps": 0, "calls": 0, "ok": 0, "kmm_errors": 0}
    ops = {}                    # API call -> [succeeded, KmmError]
    crashes = []
    done = 0
    batch_no = 0
    t0 = time.monotonic()
    while done < EXAMPLES and not (SECONDS and time.monotonic() - t0 > SECONDS):
        n = min(BATCH, EXAMPLES - done)
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   KMM_MISUSE_CHILD=json.dumps({"examples": n, "steps": STEPS, "random": RANDOM,
                                                "batch": batch_no}))
        try:
            r = subprocess.run([sys.executable, os.path.abspath(__file__)], capture_output=True,
                               text=True, timeout=TIMEOUT, env=env, cwd=ROOT)
        except subprocess.TimeoutExpired as e:
            crashes.append(f"batch {batch_no}: hang (no answer in {TIMEOUT:g} s)\n"
                           f"{(e.stderr or b'')[-3000:]!s}")
        else:
            lines = [ln for ln in r.stdout.splitlines() if ln.startswith("MISUSE ")]
            if r.returncode != 0 or not lines:
                crashes.append(f"batch {batch_no}: exit {r.returncode}\n{r.stdout[-3000:]}\n"
                               f"{r.stderr[-5000:]}")
            if lines:
                child = json.loads(lines[-1][len("MISUSE "):])
                for k, (a, b) in child.pop("ops").items():
                    ops.setdefault(k, [0, 0])
                    ops[k][0] += a
                    ops[k][1] += b
                for k, v in child.items():
                    totals[k] += v
                print(f"misuse batch {batch_no}: {child} exit {r.returncode} "
                      f"({time.monotonic() - t0:.0f} s)", flush=True)
        done += n
        batch_no += 1
    print(f"\nmisuse: {totals['examples']} examples, {totals['steps']} steps, {totals['calls']} API "
          f"calls ({totals['ok']} succeeded, {totals['kmm_errors']} KmmError), "
          f"{len(crashes)} crashed/failed batch(es)")
    print("misuse: succeeded/refused per call: " + ", ".join(
        f"{k} {v[0]}/{v[1]}" for k, v in sorted(ops.items())))
    assert crashes == [], "\n\n".join(crashes)
    assert totals["examples"] >= (1 if SECONDS else EXAMPLES)   # hypothesis may replay a few more


# ---------------------------------------------------------------------------
# The state machine (run in the child interpreter)

def _child(cfg):
    import hypothesis.strategies as st
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

    import kmm
    from kmm.emu import process as P
    from kmm.workloads.gups import GUPS

    FAILED = object()           # what call() returns for a refused call
    stats = {"examples": 0, "steps": 0, "calls": 0, "ok": 0, "kmm_errors": 0, "ops": {}}
    BAD = ["a", 1.5, None, [0], 2**70, -1, True, {}, float("nan"), b"x", -2**70, ()]
    bad = st.sampled_from(BAD)

    def mixed(good):
        """A good value, one time in twelve a bad one."""
        return st.integers(0, 11).flatmap(lambda k: bad if k == 0 else good)

    class Misuse(RuleBasedStateMachine):

        def call(self, fn, *args, **kwargs):
            """One API call: success (its result) or a KmmError (FAILED);
            anything else fails the test."""
            stats["calls"] += 1
            op = stats["ops"].setdefault(getattr(fn, "__name__", "?"), [0, 0])
            try:
                r = fn(*args, **kwargs)
            except kmm.KmmError as e:
                stats["kmm_errors"] += 1
                op[1] += 1
                if os.environ.get("KMM_MISUSE_VERBOSE"):
                    print(f"{op!r} {getattr(fn, '__name__', '?')}{args!r}: {e}", file=sys.stderr)
                return FAILED
            stats["ok"] += 1
            op[0] += 1
            return r

        @initialize(nodes=st.sampled_from([1, 2]), debug_vm=st.booleans(),
                    kernel=st.sampled_from(["baseline", "migrc", "fixes"]),
                    mem=st.sampled_from(["4M", "8M", "16M"]))
        def boot(self, nodes, debug_vm, kernel, mem):
            stats["examples"] += 1
            spec = [{"cpus": 2, "mem": mem}] + [{"cpus": 0, "mem": "8M"}] * (nodes - 1)
            kc = {"CONFIG_DEBUG_VM": debug_vm, "CONFIG_MIGRC": kernel != "baseline",
                  "CONFIG_MIGRC_FIXES": kernel == "fixes"}
            sysctl = {"kernel.numa_balancing": 2, "vm.demotion_enabled": 1} if nodes == 2 else {}
            self.m = kmm.Machine(nodes=spec, kconfig=kc, sysctl=sysctl)
            self.held = []            # (pfn, order) of blocks alloc_pages() returned
            self.regions = []         # (process, addr, npages)
            self.files = []

        def procs(self):
            return list(self.m.processes)

        def pick_proc(self, data):
            ps = self.procs()
            return data.draw(st.sampled_from(ps)) if ps else None

        def pick_addr(self, data):
            regs = [r for r in self.regions if r[0].alive]
            if regs and data.draw(st.integers(0, 4)):
                p, a, n = data.draw(st.sampled_from(regs))
                return p, a + 4096 * data.draw(st.integers(0, n))
            p = self.pick_proc(data)
            return p, data.draw(mixed(st.one_of(st.integers(0, 2**35 - 1).map(lambda x: x << 12),
                                                st.integers(0, 2**47))))

        def pick_pfn(self, data):
            choices = [st.integers(0, self.m.max_pfn - 1)]
            if self.held:
                choices.append(st.sampled_from([pfn for pfn, _ in self.held]))
            mapped = [r[0].pfn(r[1]) for r in self.regions if r[0].alive]
            mapped = [x for x in mapped if x is not None]
            if mapped:
                choices.append(st.sampled_from(mapped))
            return data.draw(mixed(st.one_of(*choices)))

        # -- pages -------------------------------------------------------------------
        @rule(order=mixed(st.integers(0, 3)), nid=mixed(st.sampled_from([None, 0, 1])),
              gfp=mixed(st.sampled_from(["GFP_HIGHUSER_MOVABLE", "GFP_KERNEL",
                                         "GFP_HIGHUSER_MOVABLE|__GFP_THISNODE", "GFP_NOWAIT"])),
              cpu=mixed(st.integers(0, 2)), n=st.integers(1, 64))
        def alloc(self, order, nid, gfp, cpu, n):
            for _ in range(n):
                pfn = self.call(self.m.alloc_pages, order, nid, gfp, cpu)
                if pfn is None or pfn is FAILED:
                    break
                self.held.append((pfn, order))

        @rule(data=st.data(), order=mixed(st.integers(0, 3)), own=st.integers(0, 3))
        def free(self, data, order, own):
            if self.held and own:
                # a block we hold, mostly with its own order
                i = data.draw(st.integers(0, len(self.held) - 1))
                pfn, o = self.held[i]
                if self.call(self.m.free_pages, pfn, o if own > 1 else order) is not FAILED:
                    del self.held[i]
                return
            self.call(self.m.free_pages, self.pick_pfn(data), order)

        @rule(data=st.data())
        def get_put(self, data):
            pfn = self.pick_pfn(data)
            if data.draw(st.booleans()):
                self.call(self.m.folio_get, pfn)
            if self.call(self.m.folio_put, pfn) is not FAILED:
                # it may have been a held block's last reference
                self.held = [(q, o) for q, o in self.held if self.m.page(q)["refcount"] > 0]

        # -- processes ---------------------------------------------------------------
        @rule(data=st.data(), threads=mixed(st.integers(1, 2)))
        def spawn(self, data, threads):
            cpus = data.draw(mixed(st.sampled_from([None, [1, 0]] if threads == 2 else [None, [0], [1]])))
            self.call(self.m.spawn, threads, cpus)

        @rule(data=st.data(), npages=mixed(st.integers(1, 64)),
              prot=mixed(st.sampled_from(["rw", "r", "none", "rwx"])), use_file=st.booleans(),
              offset=mixed(st.integers(0, 4)))
        def mmap(self, data, npages, prot, use_file, offset):
            p = self.pick_proc(data)
            if p is None:
                return
            f = data.draw(st.sampled_from(self.files)) if use_file and self.files else None
            shared = data.draw(mixed(st.booleans())) if f is not None else data.draw(mixed(st.just(False)))
            a = self.call(p.mmap, npages, prot, shared, f, offset if f is not None else 0)
            if a is not FAILED:
                self.regions.append((p, a, npages))

        @rule(data=st.data(), npages=mixed(st.integers(1, 16)), cpu=mixed(st.sampled_from([None, 0, 1])))
        def munmap(self, data, npages, cpu):
            p, a = self.pick_addr(data)
            if p is not None:
                self.call(p.munmap, a, npages, cpu)

        @rule(data=st.data(), npages=mixed(st.integers(1, 16)),
              prot=mixed(st.sampled_from(["r", "rw", "none", "w"])))
        def mprotect(self, data, npages, prot):
            p, a = self.pick_addr(data)
            if p is not None:
                self.call(p.mprotect, a, npages, prot)

        @rule(data=st.data(), write=st.booleans(), n=st.integers(1, 32))
        def access(self, data, write, n):
            p, a = self.pick_addr(data)
            if p is None or not p.alive:
                return
            t = data.draw(st.sampled_from(p.threads))
            if data.draw(st.integers(0, 3)):
                self.call(t.run)
            for i in range(n):
                addr = a + 4096 * i if isinstance(a, int) and not isinstance(a, bool) else a
                self.call(t.store if write else t.load, addr)

        @rule(data=st.data())
        def run_or_idle(self, data):
            p = self.pick_proc(data)
            if p is not None and data.draw(st.booleans()):
                self.call(data.draw(st.sampled_from(p.threads)).run)
            else:
                self.call(self.m.idle, data.draw(mixed(st.integers(0, 1))))

        @rule(data=st.data(), threads=mixed(st.integers(1, 2)))
        def fork(self, data, threads):
            p = self.pick_proc(data)
            cpus = data.draw(mixed(st.sampled_from([None, [1, 0]] if threads == 2 else [None, [0], [1]])))
            if p is not None:
                self.call(p.fork, threads, cpus)

        @rule(data=st.data())
        def exit(self, data):
            p = self.pick_proc(data)
            if p is not None:
                self.call(p.exit)
                self.call(p.exit)                     # twice: the second is refused

        @rule(data=st.data(), npages=mixed(st.integers(1, 16)), node=mixed(st.integers(0, 1)),
              reason=mixed(st.sampled_from(["demotion", "numa_misplaced", "syscall"])),
              mode=mixed(st.sampled_from(["async", "sync_light", "sync"])),
              meddle=st.sampled_from(["none", "put", "get", "store", "alloc", "munmap"]))
        def migrate(self, data, npages, node, reason, mode, meddle):
            p, a = self.pick_addr(data)
            if p is None:
                return
            pfn = self.pick_pfn(data)

            def hook(point):
                if meddle == "put":
                    self.call(self.m.folio_put, pfn)
                elif meddle == "get":
                    self.call(self.m.folio_get, pfn)
                elif meddle == "store" and p.alive:
                    self.call(p.threads[0].store, a)
                elif meddle == "alloc":
                    q = self.call(self.m.alloc_pages)
                    if q is not None and q is not FAILED:
                        self.held.append((q, 0))
                elif meddle == "munmap" and p.alive:
                    self.call(p.munmap, a, 1)
            self.call(self.m.migrate, p, a, npages, node, reason, 0, hook if meddle != "none" else None,
                      mode)

        @rule(data=st.data(), cpu=mixed(st.integers(0, 1)), filters=st.booleans())
        def numa_hint(self, data, cpu, filters):
            p, a = self.pick_addr(data)
            if p is not None:
                self.call(self.m._prot_numa, p, a, data.draw(mixed(st.integers(1, 8))), cpu, filters)

        @rule(data=st.data(), ns=mixed(st.integers(0, 2 * 10**9)))
        def numa_work(self, data, ns):
            p = self.pick_proc(data)
            if p is None:
                return
            t = data.draw(st.sampled_from(p.threads))
            self.call(t.task_tick_numa, ns)
            self.call(t.task_numa_work)

        # -- files -------------------------------------------------------------------
        @rule(npages=mixed(st.integers(1, 16)), writable=mixed(st.booleans()))
        def create_file(self, npages, writable):
            f = self.call(self.m.create_file, npages, writable)
            if f is not FAILED:
                self.files.append(f)

        @precondition(lambda self: self.files)
        @rule(data=st.data(), index=mixed(st.integers(0, 16)), cpu=mixed(st.integers(0, 1)),
              op=st.sampled_from(["read", "write", "truncate"]))
        def file_op(self, data, index, cpu, op):
            f = data.draw(st.sampled_from(self.files + ["notafile"]))
            fn = {"read": self.m.file_read, "write": self.m.file_write, "truncate": self.m.truncate}[op]
            self.call(fn, f, index, cpu)

        # -- the rest of the machine ---------------------------------------------------------------
        @rule(nid=mixed(st.integers(0, 1)), cpu=mixed(st.sampled_from([None, 0, 1])))
        def kswapd(self, nid, cpu):
            self.call(self.m.run_kswapd, nid, cpu)

        @rule(cpu=mixed(st.integers(0, 1)))
        def migrc_flush(self, cpu):
            self.call(self.m.migrc_flush_free_folios, cpu)

        @rule(seconds=mixed(st.floats(0, 5)))
        def advance(self, seconds):
            self.call(self.m.advance, seconds)

        @rule(key=st.sampled_from(["vm.min_free_kbytes", "vm.watermark_scale_factor", "nope"]),
              value=mixed(st.integers(1, 2000)))
        def sysctl(self, key, value):
            self.call(self.m.set_sysctl, key, value)

        @rule(updates=st.integers(0, 2000), threads=mixed(st.integers(1, 2)), until=mixed(st.floats(0.001, 1)))
        def run_workload(self, updates, threads, until):
            try:
                w = GUPS(table="64K", updates=updates, threads=threads)
            except kmm.KmmError:
                return
            self.call(self.m.run, w, until)

        @rule(data=st.data())
        def junk(self, data):
            """Any public method of any object, with arguments of any kind."""
            objs = [self.m] + self.procs() + [t for p in self.procs() for t in p.threads] + self.files
            objs += [P.Process(), P.Thread(), P.File()]
            obj = data.draw(st.sampled_from(objs))
            names = sorted(n for n in dir(type(obj)) if not n.startswith("_") and n not in ("run", "preset"))
            name = data.draw(st.sampled_from(names))
            attr = getattr(type(obj), name)
            if isinstance(attr, property) or not callable(attr):
                self.call(getattr, obj, name)
                return
            args = data.draw(st.lists(st.one_of(bad, st.integers(-2, 70)), max_size=4))
            stats["calls"] += 1
            try:
                getattr(obj, name)(*args)
                stats["ok"] += 1
            except kmm.KmmError:
                stats["kmm_errors"] += 1
            except TypeError as e:
                # only the argument count may be wrong (Python's own check)
                if "argument" not in str(e):
                    raise

        @invariant()
        def sound(self):
            stats["steps"] += 1
            if hasattr(self, "m"):
                assert self.m.check_invariants() == []

    Misuse.TestCase.settings = settings(
        max_examples=cfg["examples"], stateful_step_count=cfg["steps"], deadline=None,
        derandomize=not cfg["random"], database=None, print_blob=True,
        suppress_health_check=list(HealthCheck))
    import unittest
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(Misuse.TestCase("runTest"))
    print("MISUSE " + json.dumps(stats), flush=True)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__" and os.environ.get("KMM_MISUSE_CHILD"):
    sys.exit(_child(json.loads(os.environ["KMM_MISUSE_CHILD"])))
