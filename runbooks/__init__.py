"""Built-in runbook templates: data, found with importlib.resources."""
