"""The TLB-coherence oracle as one debug facility: mm code reaches it only
through the named hooks of kmm/emu/debug/oracle.pxd, and its Python view
cannot be misused into a crash."""

import os
import pathlib
import re
import subprocess
import sys

import kmm

PKG = pathlib.Path(kmm.__file__).resolve().parent
HOOKS = PKG / "emu" / "debug" / "oracle.pxd"

# The oracle's storage and its raw accessors.
RAW = re.compile(r"\b(kmm_version|kmm_versions|pte_kmm_ver|kmm_alloc_gen|kmm_ver|"
                 r"kmm_new_version|kmm_next_version)\b")
# A struct field declaration of that storage (mm_types.pxd, pgtable.pxd's
# kmm_pt, kmm/machine.pxd): the only mention allowed outside the hooks.
FIELD = re.compile(r"^\s*unsigned int \*?\w+(\[\d+\])?\s*(#.*)?$")


def raw_uses(path):
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if RAW.search(line) and not FIELD.match(line):
            out.append(f"{path.relative_to(PKG.parent)}:{n}: {line.strip()}")
    return out


def test_raw_version_access_only_in_the_hooks_header():
    files = sorted(p for d in (PKG / "linux", PKG / "emu" / "hw", PKG / "workloads")
                   for ext in ("*.pyx", "*.pxd") for p in d.rglob(ext))
    files += sorted(p for ext in ("*.pyx", "*.pxd") for p in (PKG / "emu").glob(ext))
    assert len(files) > 50                       # the mirror's sources are there
    uses = [u for p in files for u in raw_uses(p)]
    assert uses == [], "use a hook of kmm/emu/debug/oracle.pxd:\n" + "\n".join(uses)
    # the scan does see raw accesses where they belong
    assert any("p.kmm_version = 0" in u for u in raw_uses(HOOKS))


MISUSE = r'''
import kmm
from kmm.emu.debug.oracle import Oracle
o = Oracle()
seen = []
for name in ("violations", "enabled", "checks"):
    try:
        getattr(o, name)
    except kmm.KmmStateError as e:
        seen.append(name)
try:
    o.enabled = False
except kmm.KmmStateError:
    seen.append("enabled=")
try:
    o.clear()
except kmm.KmmStateError:
    seen.append("clear")
v = kmm.Machine(nodes=[{"cpus": 1, "mem": "16M"}]).oracle   # the view outlives the name
assert v.violations == [] and v.enabled and v.checks == 0
print(" ".join(seen))
'''


def test_oracle_made_directly_raises_instead_of_crashing():
    # a subprocess, since the failure mode is a segmentation fault
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PKG.parent), env.get("PYTHONPATH")]))
    r = subprocess.run([sys.executable, "-c", MISUSE], capture_output=True, text=True,
                       timeout=120, env=env, cwd=pathlib.Path(__file__).parent)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.split() == ["violations", "enabled", "checks", "enabled=", "clear"]
