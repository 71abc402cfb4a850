"""The symdiff error hierarchy: every error symdiff raises on bad input is a ``SymdiffError``."""


class SymdiffError(Exception):
    """Base class of every error symdiff raises for bad input."""


class ShapeError(SymdiffError, ValueError):
    """Shapes do not fit an operation (the message names the op and the shapes)."""


class DTypeError(SymdiffError, TypeError):
    """A dtype symdiff does not support, or dtypes that do not fit an operation."""


class ConstantError(SymdiffError, ValueError):
    """A constant that is not numeric, or holds NaN."""


class GradError(SymdiffError, ValueError):
    """``grad`` was asked for something it cannot give (non-scalar target without seed, ...)."""


class DisconnectedError(GradError):
    """The target does not depend on a variable and ``disconnected='raise'`` was asked for."""


class InputError(SymdiffError, ValueError):
    """A value supplied for a variable is missing, unknown, or of the wrong shape or dtype."""
