"""The processes: sign-up, password reset, change of email, accounts, passwords, notices.

A flow takes values (an ``Address``, a typed code, a client tag), returns values
and raises domain errors (``errors``, ``emailcode.CodeRefused``). It knows no
request, no form field and no response: the blueprints map its answers to those.
"""
