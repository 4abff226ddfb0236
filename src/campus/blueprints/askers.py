"""The ``Asker`` of this request: its client address's tag, and its device cookie's."""

from __future__ import annotations

from campus.flows.askers import Asker
from campus.support.keyed import keyed
from campus.web.clients import client_tag
from campus.web.devices import known_device


def asker() -> Asker:
    device = known_device()
    if device is None:
        return Asker(client_tag())
    return Asker(
        client_tag(), device=keyed("client|device", device.nonce, length=24), is_owner=device.is_for
    )
