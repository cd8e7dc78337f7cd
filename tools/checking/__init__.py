"""`make check`'s parts (tools/check.py is the command): clients, the checks, the table."""
