"""Small studies for the collection tests: a stimulus table with pictures drawn here (PIL),
a logged model's decisions (so the config is a valid decision-only study) and a `[collect]`
table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("bolt", "nut", "pin")
#: One colour per class, so a test (and a person) can tell the classes apart.
COLOURS = {"bolt": (200, 40, 40), "nut": (40, 160, 40), "pin": (40, 40, 200)}


def write_study(
    folder: Path,
    *,
    per_class: int = 2,
    collect: str = "practice = 1\nbreak_every = 100\n",
    humans: bool = False,
    extra: str = "",
) -> Path:
    """A study of `per_class` stimuli per class in two conditions, 32 x 32 pictures; returns
    the config. The trials go to ``panel.csv`` beside it."""
    (folder / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["id,image,label,condition,size"]
    for c in CLASSES:
        for i in range(per_class):
            ident = f"{c}-{i:02d}"
            pixels = np.zeros((32, 32, 3), np.uint8) + np.array(COLOURS[c], np.uint8)
            pixels[8:24, 8 + i % 8 : 16 + i % 8] = 255  # a white bar: pictures differ
            Image.fromarray(pixels).save(folder / "img" / f"{ident}.png")
            condition = "standard" if i % 2 == 0 else "cue-conflict"
            rows.append(f"{ident},{ident}.png,{c},{condition},{rng.normal():.4f}")
    (folder / "stimuli.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    model = ["observer,stimulus_id,response"] + [
        f"vendor,{r.split(',')[0]},{r.split(',')[2]}" for r in rows[1:]
    ]
    (folder / "model.csv").write_text("\n".join(model) + "\n", encoding="utf-8")
    classes = ", ".join(f'"{c}"' for c in CLASSES)
    people = '[humans]\nresponses = "panel.csv"\n' if humans else ""
    trials = "" if "trials =" in collect else 'trials = "panel.csv"\n'
    (folder / "study.toml").write_text(
        f"""[report]
title = "collect test"
[decisions]
models = ["model.csv"]
[stimuli]
table = "stimuli.csv"
images = "img"
classes = [{classes}]
[factors]
size = ["size"]
{people}[collect]
{trials}{collect}{extra}""",
        encoding="utf-8",
    )
    return folder / "study.toml"
