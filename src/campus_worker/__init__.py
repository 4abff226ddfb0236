"""The mail worker with a gevent pool: ``python -m campus_worker`` (see ``campus.mail.worker``).

A package of its own, outside ``campus``, because gevent has to patch the
standard library before the app's modules are imported.
"""
