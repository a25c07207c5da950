"""The Xet protocol's content store: chunk hashes, xorbs, shards and files
reconstructed from them (specification: ``huggingface/xet-core``, ``spec/``).

``hashing`` computes the keyed BLAKE3 hashes; ``xorbs`` and ``shards`` read and
verify the two wire formats as streams; ``store`` registers verified xorbs and
files and reconstructs files from stored xorbs; ``tokens`` signs the short-lived
CAS tokens. The HTTP side is :mod:`modelcommons.api.xet`.

May import: ``storage``, ``accounts``, ``governance``, ``db``, ``validation`` and
the foundation modules.
"""
