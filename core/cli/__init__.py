"""The verbs of ``python -m core``: each module holds one group's argument parser and handlers
(``add_*_parser(commands)``); ``core.__main__`` assembles them."""
