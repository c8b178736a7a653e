"""Importing calmdesk's modules never imports torch, transformers or skops: they load lazily,
only where a transformer model is trained or run (a linear model must load in under a second)."""

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
import api, calmdesk, coaching, triage
for package in (api, calmdesk, coaching, triage):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name != "api.migrations.env":  # runs alembic's context at import
            importlib.import_module(module.name)
print(sorted({"torch", "transformers", "skops"} & set(sys.modules)))
"""


def test_no_module_imports_torch_at_import_time():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
