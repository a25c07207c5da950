"""The HTTP API the Hugging Face clients call, one module per noun, and its route table
(``routes``).

May import: every domain package (``storage``, ``accounts``, ``audit``, ``governance``,
``search``, ``gitserver``), ``server``, ``validation`` and the foundation modules. Never
``web`` or ``cli``.
"""
