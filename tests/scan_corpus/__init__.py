"""A corpus of hostile and benign model files, generated (never downloaded).

``malicious()`` and ``benign()`` return ``{name: bytes}``: the name is what the file is
called in a repository (scanners look at extensions), the bytes are built here with
pickle, torch, numpy, zipfile, tarfile, h5py and keras. Nothing in it is ever loaded:
the malicious payloads call ``os.system("echo pwned")`` and the like, harmless if they
ever ran, but they never do.
"""
