"""SciPy's namespaces over symdiff graphs: ``import symdiff.scipy.special as special`` gives
``scipy.special``'s names (as ``jax.scipy.special`` does for JAX), so code written against
``scipy.special`` or ``jax.scipy.special`` runs on symbolic nodes by changing the import line."""
from . import linalg, special  # noqa: F401
