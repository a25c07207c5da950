"""Hostile input, checked: names and paths (``names``), JSON and integers
(``inputs``), and YAML that users write (``untrusted_yaml``). Each refusal says why.

May import: ``errors`` only, so that every layer can use it.
"""
