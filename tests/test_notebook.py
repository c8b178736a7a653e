"""The triage walkthrough notebook runs from top to bottom on the fixture model and data."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "triage_walkthrough.ipynb"


def test_walkthrough_runs(trained_triage_model, small_complaints_path, monkeypatch, tmp_path):
    # The kernel inherits this environment: the fixture model and data.
    monkeypatch.setenv("CALMDESK_NOTEBOOK_MODEL", str(trained_triage_model))
    monkeypatch.setenv("CALMDESK_NOTEBOOK_DATA", str(small_complaints_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert "traditional" in text  # the traditional-Chinese example kept its script
    assert "cause macro-F1" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the confusion matrices
