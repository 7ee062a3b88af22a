"""Helpers shared by the report notebooks: reading iosim's CSVs, saving each figure with the CSV
behind it (both written whole, then renamed), and writing the findings a figure's section shows."""
import csv
import os
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DATA = pathlib.Path(os.environ.get("IOSIM_DATA", "Reports/data"))
GPU = pathlib.Path(os.environ.get("IOSIM_GPU", "Reports/gpu"))
OUT = pathlib.Path(os.environ.get("IOSIM_OUT", "Reports"))
FIGURES = OUT / "figures"
FIGURES.mkdir(parents=True, exist_ok=True)
STYLE = {"standard": ("tab:gray", "s"), "fa1": ("tab:blue", "o"), "fa2": ("tab:orange", "^"),
         "fa3": ("tab:green", "v"), "small-m": ("tab:red", "D"), "torch-flash": ("tab:purple", "P"),
         "torch-cudnn": ("tab:brown", "X")}


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _atomic(path, write):
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save(fig, name, header, rows, title, findings):
    """Writes figures/NAME.png, figures/NAME.csv (the plotted data) and figures/NAME.md (a section
    of REPORT.md: the title, the plot and the findings)."""
    fig.tight_layout()
    _atomic(FIGURES / f"{name}.png", lambda p: fig.savefig(p, dpi=130, format="png"))
    plt.close(fig)

    def write_csv(p):
        with open(p, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    _atomic(FIGURES / f"{name}.csv", write_csv)
    text = f"## {title}\n\n![{title}](figures/{name}.png)\n\n{findings}\n\nData: [`figures/{name}.csv`](figures/{name}.csv)\n"
    _atomic(FIGURES / f"{name}.md", lambda p: p.write_text(text))
    return text
