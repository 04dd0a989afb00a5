"""Command-line pieces shared by ``build_pretraining_dataset.py`` and ``build_vocab.py``."""

from __future__ import annotations

import argparse


TRUE_WORDS = ("true", "1", "yes", "y", "on")
FALSE_WORDS = ("false", "0", "no", "n", "off")


def parse_bool(text: str) -> bool:
    """A boolean flag value: true/false, 1/0, yes/no, on/off (any case).

    The original declared ``--blanks-separate-docs`` with ``type=bool``, and ``bool("False")`` is
    True: every non-empty value, "False" included, meant True (only an empty string gave False).
    Here "False" means False and anything unrecognised is an error.
    """
    value = text.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_casing_flags(parser: argparse.ArgumentParser) -> None:
    """The original's lower-casing and accent-stripping toggles (both on by default)."""
    parser.add_argument("--do-lower-case", dest="do_lower_case", action="store_true",
                        help="Lower-case the input text (default).")
    parser.add_argument("--no-lower-case", dest="do_lower_case", action="store_false",
                        help="Don't lower-case the input text (accents are then never stripped, as the original).")
    parser.add_argument("--do-strip-accents", "--strip-accents", dest="strip_accents", action="store_true",
                        help="Strip accents when lower-casing (default).")
    parser.add_argument("--no-strip-accents", dest="strip_accents", action="store_false",
                        help="Don't strip accents.")
    parser.set_defaults(do_lower_case=True, strip_accents=True)
