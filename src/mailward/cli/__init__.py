"""The ``mailward`` command."""
