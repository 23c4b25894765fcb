"""Write the Part III notebooks (Kurmi et al. 2022) from their cell texts: `python notebooks/generate_kurmi.py`.

Each notebook: an introduction, the papermill `parameters` cell (the chapter's parameter names, all None but
`preset` and `device`), the configuration, the training, the tables and figures, the claims, the narrative.
"""

from pathlib import Path

import nbformat

from reprolib.chapters import get_chapter

HERE = Path(__file__).parent


def write(chapter_id: str, intro: str, body: list[tuple[str, str]]) -> None:
    chapter = get_chapter(chapter_id)
    names = chapter.parameter_names()
    params = "\n".join(
        f'{n} = "course"' if n == "preset" else f'{n} = "cpu"' if n == "device" else f"{n} = None" for n in names
    )
    args = ", ".join(f"{n}={n}" for n in names if n not in ("preset", "device"))
    cells = [
        nbformat.v4.new_markdown_cell(intro.strip()),
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "from reprolib.chapters import get_chapter\n\n"
            f'chapter = get_chapter("{chapter_id}")\n'
            f"config = chapter.configure(preset, device, {args})\nconfig"
        ),
    ]
    for kind, text in body:
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        cells.append(make(text.strip()))
    for i, cell in enumerate(cells):  # stable ids: regenerating an unchanged notebook changes nothing
        cell.id = f"{chapter_id.lower()}-{i:02d}"
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, HERE / chapter.notebook)


if __name__ == "__main__":
    import kurmi_cells

    for chapter_id, (intro, body) in kurmi_cells.NOTEBOOKS.items():
        write(chapter_id, intro, body)
