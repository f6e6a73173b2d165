"""Error codes shared by every API: the public import path of `vigil.schemas.errors`.

Callers write `from vigil.errors import ErrorCode, VigilError`; the definitions live
at the bottom of the stack (schemas/errors.py) so that every layer can raise them
without importing the top-level package.
"""

from vigil.schemas.errors import ErrorCode, ErrorInfo, VigilError

__all__ = ["ErrorCode", "ErrorInfo", "VigilError"]
