"""Everything read from disk or from a model: stimulus tables and generators, people's and
logged models' responses, the model adapter with streaming extraction, and `StudyData`, the
one bundle of tensors (on the study's device) that the analysis stage reads."""
