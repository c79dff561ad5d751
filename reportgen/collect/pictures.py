"""The stimuli a collection session shows: ids, conditions, classes and each picture as PNG.

They are read with the run's own loaders (the stimulus table and its image folder, or the
built-in generator), so the people see exactly the stimuli the model is analysed on.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field

from torch import Tensor

from reportgen.config import Config
from reportgen.errors import ReportgenError
from reportgen.inputs.stimuli import StimulusSet, cue_columns, load_images, load_stimuli


@dataclass
class StudyPictures:
    """A study's stimuli for people: what they are and how they look.

    Attributes
    ----------
    ids, conditions, labels : tuple[str, ...]
        Per stimulus, in table order.
    classes : tuple[str, ...]
        The answers offered, in the study's class order.
    """

    stimset: StimulusSet
    images: Tensor | None  # generated pictures, uint8 [n, 3, H, W]; None: files
    ids: tuple[str, ...] = field(init=False)
    conditions: tuple[str, ...] = field(init=False)
    classes: tuple[str, ...] = field(init=False)
    _row: dict[str, int] = field(init=False, repr=False)
    _png: dict[str, bytes] = field(init=False, repr=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        table = self.stimset.table
        self.ids = tuple(str(i) for i in table["id"])
        self.conditions = tuple(str(c) for c in table["condition"])
        self.classes = self.stimset.classes
        self._row = {ident: i for i, ident in enumerate(self.ids)}

    def __contains__(self, stimulus_id: object) -> bool:
        return stimulus_id in self._row

    def png(self, stimulus_id: str) -> bytes:
        """The picture of one stimulus as PNG (decoded and re-encoded, so any format the run
        reads reaches the browser as one it shows); KeyError for an id not in the study."""
        row = self._row[stimulus_id]
        with self._lock:  # encoded once, on first request, then served from memory
            if stimulus_id not in self._png:
                self._png[stimulus_id] = _encode_png(self._picture(row))
            return self._png[stimulus_id]

    def _picture(self, row: int) -> Tensor:
        if self.images is not None:
            return self.images[row]
        return load_images(self.stimset, rows=[row])[0]


def _encode_png(picture: Tensor) -> bytes:
    """uint8 ``[3, H, W]`` as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture.permute(1, 2, 0).contiguous().numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def load_pictures(config: Config) -> StudyPictures:
    """The study's stimuli with every picture checked (it must exist and open), from the
    table and image folder or from the built-in generator; `ReportgenError` naming the file
    and line otherwise."""
    st = config.stimuli
    if st.generator is not None:
        from reportgen.inputs.generated import generated_stimulus_set

        stimset, images = generated_stimulus_set(config)
        return StudyPictures(stimset, images)
    assert st.table is not None  # the config has a table when it has no generator
    stimset = load_stimuli(
        st.table,
        st.images,
        config.factors,
        st.classes,
        require_images=True,  # people need every picture, even in a decision-only study
        categorical=st.categorical,
        continuous=st.continuous,
        cue_columns=cue_columns(config),
    )
    if "image" not in stimset.table.columns:
        raise ReportgenError(f"{st.table}: no 'image' column; people need the pictures")
    return StudyPictures(stimset, None)
