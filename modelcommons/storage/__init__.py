"""Storage: what a repository is made of, and how its bytes are kept and moved.

Content-addressed blobs and their backends (``blobs``; an S3-compatible object store
in ``s3``, ``s3send`` and ``s3parts``; ``backends`` picks one), blobs being written
(``staging``), git-compatible object ids (``gitobjects``), trees (``trees``), refs,
revisions and history (``repos``), the commit engine (``commits``) and its NDJSON
payload (``commit_payload``), streaming uploads (``transfer``) with early disk writeback
(``writeback``), multipart LFS uploads (``multipart``), signed transfer URLs
(``signed_urls``), ``.gitattributes`` rules, what no repository needs any more
(``garbage``), and every stored blob checked (``fsck``).

May import: ``db``, ``validation``, ``errors``, ``settings``, ``clock``, ``sizes`` (and
``hub`` for type hints only). Never ``accounts``, ``audit``, ``governance``, ``search``,
the HTTP layers or ``cli``: storage knows bytes and history, not who may see them.
"""
