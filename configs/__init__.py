"""The YAML configs shipped with coordrl (atari/, toy/, sweeps/), installed as package data.

Found by name (``atari/ppo``) through :mod:`coordrl.shipped`; ``coordrl configs`` lists them.
"""
