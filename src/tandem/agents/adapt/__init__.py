"""Adaptations to what real model servers do, one module per quirk, applied by `AdaptedModel` (`model.py`).

Each quirk module names the servers it was seen on and how it is recognised; `ServerQuirks` (`quirks.py`)
remembers what was learned about one model server, so only the first request pays for finding out.
"""
