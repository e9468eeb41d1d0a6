"""seqkd's version: the one place it is written (pyproject.toml reads it from here; stage
stamps and the logs' versions line record it). A leaf module, so that the modules below the
package's public face import it without importing the package's ``__init__``."""

__version__ = "0.2.0"
