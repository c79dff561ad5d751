"""`reportgen collect`: a forced-choice session in the browser that records people's answers
to a study's stimuli in the trials table ``[humans] responses`` reads.

One job per module: `pictures` (the study's stimuli, as PNG by id), `order` (each observer's
seeded trial order), `store` (the append-only trials file), `session` (where each observer
stands, and checking their answers), `app` (the ASGI app) and `server` (binding and running it).
"""
