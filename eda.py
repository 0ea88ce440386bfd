"""A first look at a labeled-photo folder: `python eda.py data.root=...`.

Writes age_histogram.png, samples.png (random photos titled with their age) and age_summary.csv."""

from age_lightning.cli import eda

if __name__ == "__main__":
    eda()
