"""The README's Python snippets run, in order, as one program (they are the tour): in process, and
as a user runs them (pasted into ``python -m asyncio``), twice on one database."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hubwire.connectors.registry import default_registry

README = Path(__file__).resolve().parent.parent / "README.md"


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hubwire
    from hubwire import hub as hub_module

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUBWIRE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HUBWIRE_DATABASE_URL", raising=False)
    monkeypatch.delenv("HUBWIRE_SECRET_KEY", raising=False)
    hubwire.configure()
    blocks = snippets()
    assert len(blocks) >= 4
    namespace: dict[str, object] = {}

    async def run_all() -> None:
        for block in blocks:
            code = compile(block, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, namespace)
            if asyncio.iscoroutine(result):
                await result
            await asyncio.sleep(0)

    try:
        asyncio.run(run_all())
    finally:
        default_registry.unregister("acme")
        default_registry.unregister("acme_crm")  # the OAuth section's provider declared as data
        hub_module._default_settings = None
    assert (tmp_path / "hubwire.db").exists() and (tmp_path / "hubwire.key").exists()


def test_readme_snippets_run_as_a_user_runs_them_twice_on_one_database(tmp_path: Path) -> None:
    """Pasted into Python's asyncio REPL in a fresh directory, with no HUBWIRE_* settings; then again."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    # The REPL reads each line as typed; a final line says how many deals the tour has made so far.
    typed = "\n".join(snippets()) + '\nprint("deals:", await Deal.count())\n'
    for run in (1, 2):
        done = subprocess.run(
            [sys.executable, "-m", "asyncio"],
            input=typed,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        out = done.stdout + done.stderr
        assert "Traceback" not in out and "Error" not in out, out[-3000:]
        assert f"deals: {run}" in out, out[-3000:]
    assert (tmp_path / "hubwire.db").exists() and (tmp_path / "hubwire.key").exists()
