"""Test-data builders shared by the tests, the benchmark and the example generator; never shipped."""
