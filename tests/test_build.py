"""The build: every kmm/**/*.pyx is a compiled extension (tests must run
against compiled modules, not against some pure-Python stand-in), and
`kmm info --json` reports the build facts."""

import importlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import kmm
from kmm import cli

PKG = pathlib.Path(kmm.__file__).resolve().parent


def all_pyx():
    return sorted(".".join(("kmm",) + p.relative_to(PKG).with_suffix("").parts)
                  for p in PKG.rglob("*.pyx"))


def test_pyx_modules_found():
    names = all_pyx()
    assert "kmm.emu.machine" in names and "kmm.linux.mm.page_alloc" in names and "kmm.emu.testing" in names
    assert cli.pyx_modules() == names


@pytest.mark.parametrize("name", all_pyx())
def test_module_is_compiled(name):
    mod = importlib.import_module(name)
    assert mod.__file__.endswith((".so", ".pyd")), f"{name} is not compiled: {mod.__file__}"
    # a Cython extension module, not a .py of the same name
    assert type(mod.__loader__).__name__ == "ExtensionFileLoader"


def run_info(cmd):
    # the subprocess must import the same kmm as this process
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PKG.parent), env.get("PYTHONPATH")]))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env,
                       cwd=pathlib.Path(__file__).parent)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def check_facts(facts):
    assert set(facts["modules"]) == set(all_pyx())
    assert all(m["compiled"] for m in facts["modules"].values())
    assert facts["all_compiled"] is True
    assert 0 < facts["sizeof_struct_page"] <= 64
    assert facts["swap_migration_ad_supported"] == {"default_cpu": True, "seed_preset": False}
    # include/linux/swap.h SWAP_CLUSTER_MAX; kmm run's default scale 0.1: round(3.2)
    assert facts["swap_cluster_max"] == {"kernel": 32, "kmm_run_default_scale": 3}
    assert facts["version"] == kmm.__version__
    assert facts["seed_preset"]["nodes"] == [{"cpus": 16, "mem_bytes": 1 << 30},
                                             {"cpus": 0, "mem_bytes": 8 << 30}]


def test_info_json_module():
    check_facts(run_info([sys.executable, "-m", "kmm.cli", "info", "--json"]))


def test_info_json_console_script():
    exe = shutil.which("kmm", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        # CI installs the project, so there the script must exist
        assert not os.environ.get("CI"), "CI: the kmm console script is not installed"
        pytest.skip("the kmm console script is not installed (pip install -e .)")
    check_facts(run_info([exe, "info", "--json"]))


def test_info_text(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "sizeof(struct page)" in out and "NOT COMPILED" not in out


def test_struct_page_size():
    from kmm.emu.machine import SIZEOF_STRUCT_PAGE
    assert SIZEOF_STRUCT_PAGE <= 64         # the kernel's is 64 on x86-64


def test_no_negative_index_in_compiled_modules():
    """setup.py compiles with wraparound=False (and boundscheck=False), so
    x[-1] in a .pyx module reads before the start of a list or tuple
    instead of its last item: a segfault or a silent wrong value.  None may
    appear outside comments and strings' quotes (checked per line)."""
    import re
    bad = []
    pat = re.compile(r"\[\s*-\s*[0-9A-Za-z_(]")
    for p in PKG.rglob("*.pyx"):
        for n, line in enumerate(p.read_text().splitlines(), 1):
            code = re.sub(r"(\"[^\"]*\"|'[^']*')", "", line.split("#", 1)[0])
            if pat.search(code):
                bad.append(f"{p.relative_to(PKG)}:{n}: {line.strip()}")
    assert bad == []
