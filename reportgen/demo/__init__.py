"""Tooling behind the embedded sample data: the demo network and its training, the simulated
inspector panel, and the converter of the published cue-conflict data. Runs read its output
from `sample_data/`; nothing in a user's run depends on this package except the demo
network's architecture, which the parts demo's config names."""
