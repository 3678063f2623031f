"""Train an agent: ``python train.py [options]`` is ``coordrl train [options]``.

With no arguments it trains a short CoordConv PPO agent on Breakout and says where its run
directory and TensorBoard curves are. ``python train.py --help`` lists the options.
coordrl must be installed (``pip install -e .`` or a wheel): the checkout's ``agents/`` and
``envs/`` folders install as ``coordrl.agents`` and ``coordrl.envs``.
"""

import sys
from pathlib import Path

# Python puts this script's folder first on the path, where coordrl/ lacks its agents and
# envs: import the installed coordrl instead (an editable install maps the folders here).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from coordrl.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
