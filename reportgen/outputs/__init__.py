"""What a run leaves behind: `results.json`, `tables/*.csv` and `run.log` (`results`), the
history store of published reports (`history`), and the staged output folder that replaces
`--out` only when complete (`staging`)."""
