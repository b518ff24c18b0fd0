"""Business logic of the operations flows: pure functions (data in, decision out; no I/O, no clock reads).

The Prefect flows in ``flows/`` fetch data, call these, and write the results; everything worth testing lives here.
"""
