from .support import gateway, stub  # noqa: F401  (fixtures)
