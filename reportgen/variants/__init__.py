"""Controlled variations of a user's own labelled pictures (`reportgen stimuli from-images`):
the source pictures (`source`), their object masks (`masks`), the factorial plan (`design`),
the pure image operations (`ops`), making the pictures (`render`) and writing the study
folder (`folder`)."""
