"""OnPyRunner: run untrusted code in nsjail and judge it against test cases."""

__version__ = "0.1.0"
