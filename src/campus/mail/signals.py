"""What the mail layer tells the rest of the app, without importing it.

``delivery_failed`` is sent (with ``request=``, the MailRequest) when a message
was given up for good: nothing arrived, so whatever it carried must not stay
valid. The code binding listens and withdraws the code; mail knows no codes.
"""

from __future__ import annotations

from blinker import Namespace

signals = Namespace()

delivery_failed = signals.signal("delivery-failed")
