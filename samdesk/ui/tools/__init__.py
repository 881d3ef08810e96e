"""Canvas tools; see ``base.py``. Each tool is one module, found by ``discover_tools``."""
