"""Training of the ``cnn`` engine's network (``polychrome train``): needs the ``[train]`` extra.

Importing any of its modules without torch raises
:class:`~polychrome.errors.EngineUnavailableError` naming the install command.
"""

from polychrome.engines.base import require_modules

require_modules(("torch",), extra="train", what="polychrome.train")
