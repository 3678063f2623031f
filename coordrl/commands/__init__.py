"""One module per ``coordrl`` subcommand, each with ``add_parser(subparsers)``."""
