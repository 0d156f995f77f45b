"""Built-in rules and signatures: data, found with importlib.resources."""
