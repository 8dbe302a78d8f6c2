"""What the book adds to each notebook page, without touching the committed notebooks.

* Every code cell gets an anchor, ``#cell-N`` (N counts all cells from 1, as myst-nb's own messages do), and
  a label ``<notebook>-cell-N`` (e.g. ``01_table1_accuracy-cell-7``), so the findings page can link the cell
  that computes a finding, as ``[text](#01_table1_accuracy-cell-7)``; a label of a cell that does not exist
  is a broken reference, which the strict build (``-W``) rejects.
* Links written for a reader of the repository, ``[text](../executed/mini/NN_name.ipynb#cell-7)``, which a
  forge follows to the committed notebook, lead in the book to the chapter (``docs/notebooks`` is a link to
  ``executed/mini``, and MyST resolves the path to its real location, which is no document of the book).
* A note under the title says that the page is the committed run shown as executed, and how to run the
  notebook live; where a notebook has ipywidgets, that their output here is static.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform

WIDGET = "application/vnd.jupyter.widget-view+json"


def has_widgets(notebook: dict) -> bool:
    return any(WIDGET in out.get("data", {}) for cell in notebook["cells"] for out in cell.get("outputs", []))


def live_note(stem: str, widgets: bool) -> nodes.Node:
    """The note under a chapter's title: what the page is, and how to run the notebook live."""
    note = nodes.admonition(classes=["note", "run-live"])
    note += nodes.title(text="Run it live")
    para = nodes.paragraph()
    para += [nodes.Text("This page is the committed run's notebook "), nodes.literal(text=f"executed/mini/{stem}.ipynb"),
             nodes.Text(", shown as it was executed: building the book runs nothing. ")]
    if widgets:
        para += nodes.Text("Its interactive widgets appear here as their static output; they respond only in a "
                           "live kernel. ")
    para += [nodes.Text("To run it yourself, install the package (README, Quick start) and open it in JupyterLab: "),
             nodes.literal(text=f"jupyter lab notebooks/{stem}.ipynb"),
             nodes.Text(". It reads the committed records, so it computes nothing unless its parameters change.")]
    note += para
    return note


def on_doctree_read(app, doctree) -> None:
    docname = app.env.docname
    if not docname.startswith("notebooks/"):
        return
    path = Path(app.env.doc2path(docname))
    std = app.env.domains.standard_domain
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") == "cell_code" and cell.get("cell_index") is not None:
            anchor = f"cell-{cell['cell_index'] + 1}"
            cell["ids"].append(anchor)
            std.anonlabels[f"{path.stem}-{anchor}"] = (docname, anchor)
            std.labels[f"{path.stem}-{anchor}"] = (docname, anchor, f"{path.stem}, cell {cell['cell_index'] + 1}")
    widgets = has_widgets(json.loads(path.read_text()))
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None:
        title = next(iter(section.findall(nodes.title)))
        section.insert(section.index(title) + 1, live_note(path.stem, widgets))


class ChapterLinks(SphinxPostTransform):
    """``../executed/mini/NN_name.ipynb`` in a page's markdown links to the chapter ``notebooks/NN_name``."""

    default_priority = 5  # before MyST's reference resolver (9)

    def run(self, **kwargs) -> None:
        executed = (Path(self.env.srcdir) / "notebooks").resolve()
        for node in self.document.findall(addnodes.pending_xref):
            if node.get("reftype") == "myst" and node.get("refdomain") == "doc":
                target = Path(self.env.srcdir, node["reftarget"]).resolve()
                if target.parent == executed:
                    node["reftarget"] = f"notebooks/{target.name}"


def setup(app):
    app.connect("doctree-read", on_doctree_read)
    app.add_post_transform(ChapterLinks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
