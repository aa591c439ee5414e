"""Benchmarks, run as ``python -m bench SUBCOMMAND [options]``.

Every module of this package whose name does not start with ``_`` is a subcommand; it is imported only when it is
invoked and must define ``main(argv: list[str]) -> int`` (parsing its own options with argparse). Importing this
package does nothing else, so the benchmarks' heavier dependencies stay out of the service.
"""
