"""`probe plan`: which workers x threads to run in a memory budget.

grid.py: the user's command with placeholders and the grid's values -> cells (a filled
command, its concurrency); predict.py (pure): a cell's calibration -> the n each budget
takes, and the check that decides it; choose.py (pure): the recommendation and the
rules of thumb it is compared with; occupancy.py: a cell of several at once under
sustained traffic, its n at the risk; confirm.py: the sustained run of the chosen command
and its named thresholds; watched.py: the fresh server under the budget, watched, that
those two run on.
"""
