"""What every job's command line shares: one-line usage errors with exit status 2, and secret-free messages."""

from __future__ import annotations

import argparse
import logging
import sys

USAGE_EXIT = 2
FAILURE_EXIT = 1


class UsageError(Exception):
    """A mistake in what the user asked for: reported as one line, exit status 2, nothing written."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (no usage dump) and leaves Beam's flags alone."""

    def error(self, message):
        raise UsageError(message)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' where there is a default to show (not for None or an off switch)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def parser(prog: str, description: str, epilog: str = "") -> OneLineParser:
    return OneLineParser(prog=prog, description=description, epilog=epilog, formatter_class=_HelpFormatter,
                         allow_abbrev=False)


def main_wrapper(prog: str, run, argv=None) -> int:
    """Runs ``run(argv)``; a UsageError becomes one line and exit 2, any other failure one line and exit 1."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(argv) or 0
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return USAGE_EXIT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; no partial file was left at the final paths", file=sys.stderr)
        return 130
    except Exception as e:  # a failure of the run itself, not of the command line
        logging.getLogger(prog).debug("failure", exc_info=True)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"{prog}: failed: {first}", file=sys.stderr)
        return FAILURE_EXIT
