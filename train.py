"""Train an Atari agent: ``python train.py [options]`` is ``coordrl train [options]``.

With no arguments it trains a short CoordConv PPO agent on Breakout and says where its run
directory and TensorBoard curves are. ``python train.py --help`` lists the options.
"""

import sys

from coordrl.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
