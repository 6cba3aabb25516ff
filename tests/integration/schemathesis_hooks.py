"""Schemathesis hooks for tests/integration/schemathesis.test.mjs.

Only a workaround, nothing about the API: CPython 3.11 (the machine's Python)
sometimes raises `SystemError: AST constructor recursion depth mismatch` from
`ast.parse` when it is called deep in a recursion; the same run under CPython
3.12 does not. Hypothesis parses a lambda's source file only to describe the
lambda in a strategy's repr, and Schemathesis's generators build such reprs
deep in their recursion, so the run would report a "Runtime Error" for an
operation. Here that description falls back to the form Hypothesis uses for
any lambda it cannot read: what is generated and checked does not change.
"""

import hypothesis.internal.lambda_sources as _sources

_describe = getattr(_sources, "_lambda_description", None)

if _describe is not None:

    def _lambda_description(f, *args, **kwargs):
        try:
            return _describe(f, *args, **kwargs)
        except SystemError:
            return "lambda: <unknown>"

    _sources._lambda_description = _lambda_description
