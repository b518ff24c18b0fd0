"""Calibration from data (issue 15): the declared search space, the objective, the walk-forward split and the
guarded-adoption decision, as pure functions. The `calibrate` flow (flows/calibrate.py) runs the trials (the
live engine's backtest, engine/backtest/trial.py) and does the I/O around these."""
