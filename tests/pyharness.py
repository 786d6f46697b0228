"""The Python tests' harness, as tests/harness.h is the C tests': check() counts and reports, and
the last line printed is "N passed, N failed" (read by CI) with a non-zero exit code on any failure.

A test in tests/<module>/ finds this file through its parent folder:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from pyharness import check, summary  # noqa: E402

    check(got == want, "logits of token 3", f"max diff {diff:.3g}")
    sys.exit(summary())
"""
import sys

passed = 0
failed = 0


def check(cond, name, detail=None):
    """Record one check named `name`; a failure prints "FAIL: name[: detail]" to stderr (the
    test goes on). Returns bool(cond), so a test can skip what depends on a failed step."""
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {name}" + (f": {detail}" if detail is not None else ""), file=sys.stderr, flush=True)
    return bool(cond)


def summary():
    """Print "N passed, N failed" and return the exit code: 1 if any check failed, else 0."""
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def finish():
    """summary(), then exit with its code."""
    sys.exit(summary())


def skip(reason):
    """End a test that cannot run here (a model or package missing): say why, count nothing, exit 0."""
    print(f"skip: {reason}")
    print("0 passed, 0 failed", flush=True)
    sys.exit(0)
