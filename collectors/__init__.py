"""Collectors: read-only sources that produce a :class:`kubetriage.bundle.Bundle`."""
