"""Words and pictures: the locale strings, numbers in words, the narrative and its sections,
the recommendations, the figures, and the rendering to HTML and PDF. Everything here reads
Findings and computes no statistics."""
