"""Argument types for the command line: each rejects a bad value with a message argparse
prints as one ``error:`` line (exit 2), naming what was expected and what came."""

import argparse
import math
import os


def _number(kind, text):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None


def positive_int(text):
    """An integer ≥ 1."""
    v = _number(int, text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 1, got {v}")
    return v


def nonneg_int(text):
    """An integer ≥ 0."""
    v = _number(int, text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {v}")
    return v


def seed(text):
    """A random seed: an integer in [0, 2**63)."""
    v = _number(int, text)
    if not 0 <= v < 2 ** 63:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**63), got {v}")
    return v


def finite_float(text):
    v = _number(float, text)
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def positive_float(text):
    """A finite number > 0."""
    v = finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return v


def nonneg_float(text):
    """A finite number ≥ 0."""
    v = finite_float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {text}")
    return v


def out_folder(text):
    """A folder to write into: it may not exist yet, but must not be a file."""
    if not text:
        raise argparse.ArgumentTypeError("expected a folder path, got an empty string")
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    return text


def out_file(text):
    """A file to write: its folder must exist and it must not be a folder itself."""
    if not text:
        raise argparse.ArgumentTypeError("expected a file path, got an empty string")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected a file path")
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"the folder {parent} does not exist")
    return text


def in_file(text):
    """A file that exists (not a folder)."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected a file")
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return text


def in_folder(text):
    """A folder that exists."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"no such folder: {text}")
    return text
